/* The "web.fetch" effect: a page fetch recorded in a job's effects. The
 * result names the body by hash; the body itself is in the source cache,
 * shared by all jobs. */
#include <errno.h>
#include <stdlib.h>

#include "effect.h"
#include "fetch.h"
#include "json.h"
#include "str.h"
#include "url.h"

int fetch_effect_request(const char *url, json_t **ret)
{
	char *canon = NULL;
	int r = url_canonical(url, &canon);

	if (r < 0)
		return r;
	*ret = json_pack("{s:s}", "url", canon);
	free(canon);
	return *ret ? 0 : -ENOMEM;
}

static json_t *fetch_effect_result(const struct fetch_result *res)
{
	char when[32], hex[HASH_HEX_LEN + 1];
	json_t *o;

	time_format(res->fetched, when);
	o = json_pack("{s:s, s:s?, s:I, s:s?, s:I, s:s}",
	    "url", res->url,
	    "final_url", res->final_url,
	    "status", (json_int_t)res->status,
	    "content_type", res->content_type,
	    "bytes", (json_int_t)res->bytes,
	    "fetched", when);
	if (o == NULL)
		return NULL;
	if (res->has_body) {
		hash_hex(res->hash, hex);
		json_object_set_new(o, "hash", json_string(hex));
	} else
		json_object_set_new(o, "hash", json_null());
	if (res->error)
		json_object_set_new(o, "error", json_string(res->error));
	return o;
}

static void fetch_effect_done(struct fetch_req *req, int r, const struct fetch_result *res,
    const char *msg, void *ud)
{
	struct effect_exec *x = ud;
	json_t *result;

	if (r < 0) {
		effect_exec_done(x, r, NULL, NULL);
		return;
	}
	result = fetch_effect_result(res);
	if (result == NULL) {
		effect_exec_done(x, -ENOMEM, NULL, NULL);
		return;
	}
	effect_exec_done(x, 0, result, json_pack("{s:i}", "fetches", 1));
}

static int fetch_effect_start(struct effect_exec *x, const json_t *request, void *userdata)
{
	struct fetch *f = userdata;
	struct fetch_req *req = NULL;
	const char *url;
	int r;

	r = json_get_string(request, "url", &url);
	if (r < 0)
		return r;
	r = fetch_start(f, url, fetch_effect_done, x, &req);
	if (r < 0)
		return r;
	effect_exec_set_data(x, req);
	return 0;
}

static void fetch_effect_cancel(struct effect_exec *x, void *userdata)
{
	fetch_cancel(effect_exec_get_data(x));
}

int fetch_register(struct effects *e, struct fetch *f)
{
	const struct effect_kind kind = {
		.name = "web.fetch",
		.start = fetch_effect_start,
		.cancel = fetch_effect_cancel,
		.userdata = f,
	};

	return effects_register(e, &kind);
}
