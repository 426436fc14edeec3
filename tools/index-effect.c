/* The "index.query" effect: the best passages among one job's own texts
 * (those its doc.text effects indexed), recorded so a replay reads the
 * same answer whatever was indexed since. */
#include <errno.h>
#include <string.h>

#include "effect.h"
#include "index.h"
#include "json.h"

static int index_effect_hit(const struct store_index_hit *h, void *ud)
{
	json_t *hits = ud;

	json_array_append_new(hits, json_pack("{s:s, s:s, s:I, s:I, s:f}", "url", h->key,
	    "text_hash", h->text_hash ? h->text_hash : "", "start", (json_int_t)h->start,
	    "end", (json_int_t)h->end, "score", h->score));
	return 0;
}

static int index_effect_start(struct effect_exec *x, const json_t *request, void *userdata)
{
	struct store *s = userdata;
	json_t *set = json_object_get(request, "set"), *hits, *result;
	const char *q = NULL;
	int64_t job = 0, limit = 10;
	int r;

	if (json_get_int(request, "job", &job) < 0 || json_get_string(request, "q", &q) < 0)
		return -EINVAL;
	r = json_get_int(request, "limit", &limit);
	if ((r < 0 && r != -ENOENT) || limit < 1 || limit > INDEX_QUERY_MAX_LIMIT)
		return -EINVAL;
	if (set && !json_is_string(set))
		return -EINVAL;
	/* A job reads only its own texts. */
	if (job != effect_exec_job_id(x))
		return -EPERM;
	hits = json_array();
	r = store_index_query_job(s, job, q, 0, (size_t)limit, index_effect_hit, hits);
	if (r < 0) {
		json_decref(hits);
		return r;
	}
	result = json_pack("{s:o}", "hits", hits);
	effect_exec_done(x, result ? 0 : -ENOMEM, result, NULL);
	return 0;
}

static void index_effect_cancel(struct effect_exec *x, void *userdata)
{
	/* It completes within start(): nothing is ever left to cancel. */
}

int index_register(struct effects *e, struct store *s)
{
	const struct effect_kind kind = {
		.name = INDEX_QUERY_EFFECT_KIND,
		.start = index_effect_start,
		.cancel = index_effect_cancel,
		.userdata = s,
	};

	if (s == NULL)
		return -EINVAL;
	return effects_register(e, &kind);
}
