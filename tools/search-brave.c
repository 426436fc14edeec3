/* The Brave Search backend: GET .../res/v1/web/search?q=...&count=N with
 * the X-Subscription-Token header (the key file is read once, into
 * sodium_malloc'd memory, by search_new); results from
 * web.results[].url/title/description/page_age (or age). */
#include <errno.h>
#include <string.h>

#include "json.h"
#include "search.h"
#include "url.h"
#include "xmalloc.h"

#define BRAVE_MAX_COUNT 20	/* the API's limit per request */

static int brave_start(const struct search *s, const struct search_query *q,
    const struct search_parse_args *a, struct search_http_req *ret)
{
	static const struct { const char *range, *fresh; } fresh[] = {
		{ "day", "pd" }, { "week", "pw" }, { "month", "pm" }, { "year", "py" },
	};
	const char *key = search_brave_header(s);
	unsigned count = a->max_results ? a->max_results : 10;
	struct buf b;
	int r;

	if (key == NULL)
		return -ENOKEY;
	if (count > BRAVE_MAX_COUNT)
		count = BRAVE_MAX_COUNT;
	buf_init(&b, URL_MAX);
	r = buf_printf(&b, "%s?q=", search_config_url(s, "brave"));
	if (r == 0)
		r = search_url_escape(&b, q->q);
	if (r == 0)
		r = buf_printf(&b, "&count=%u", count);
	if (r == 0 && a->lang) {
		char lang[16];
		size_t n = strcspn(a->lang, "-");

		if (n >= sizeof(lang))
			n = sizeof(lang) - 1;
		for (size_t i = 0; i < n; i++)
			lang[i] = (char)(a->lang[i] >= 'A' && a->lang[i] <= 'Z' ?
			    a->lang[i] - 'A' + 'a' : a->lang[i]);
		lang[n] = '\0';
		r = buf_puts(&b, "&search_lang=");
		if (r == 0)
			r = search_url_escape(&b, lang);
	}
	for (size_t i = 0; r == 0 && q->time_range && i < sizeof(fresh) / sizeof(fresh[0]); i++)
		if (!strcmp(q->time_range, fresh[i].range))
			r = buf_printf(&b, "&freshness=%s", fresh[i].fresh);
	if (r < 0) {
		buf_free(&b);
		return r;
	}
	ret->url = buf_steal(&b);
	ret->headers[0] = "Accept: application/json";
	ret->headers[1] = key;
	return 0;
}

static void brave_cancel(const struct search *s)
{
}

int search_brave_parse(const char *data, size_t len, const struct search_parse_args *a,
    struct search_hits *out)
{
	json_t *root, *web, *results, *item, *type;
	json_error_t err;
	size_t i;
	int r = 0;

	if (len > SEARCH_MAX_BODY)
		return -EFBIG;
	root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &err);
	if (root == NULL)
		return -EBADMSG;
	if (!json_is_object(root)) {
		json_decref(root);
		return -EBADMSG;
	}
	type = json_object_get(root, "type");
	if (json_object_get(root, "error") ||
	    (json_is_string(type) && strcmp(json_string_value(type), "search"))) {
		json_decref(root);
		return -EPROTO;
	}
	/* No "web" section: no web results for this query. */
	web = json_object_get(root, "web");
	if (web == NULL) {
		json_decref(root);
		return 0;
	}
	results = json_object_get(web, "results");
	if (!json_is_array(results)) {
		json_decref(root);
		return -EBADMSG;
	}
	json_array_foreach(results, i, item) {
		const char *url = NULL, *date = NULL;
		json_t *t, *d;

		if (!json_is_object(item) || json_get_string(item, "url", &url) < 0)
			continue;
		t = json_object_get(item, "title");
		d = json_object_get(item, "description");
		if (json_get_string(item, "page_age", &date) < 0)
			(void)json_get_string(item, "age", &date);
		/* Titles and descriptions carry <strong> around the query's words. */
		r = search_hits_add(out, url,
		    json_is_string(t) ? json_string_value(t) : NULL,
		    json_is_string(t) ? json_string_length(t) : 0,
		    json_is_string(d) ? json_string_value(d) : NULL,
		    json_is_string(d) ? json_string_length(d) : 0, true, date);
		if (r == -ENOSPC) {
			r = 0;
			break;
		}
		r = 0;
	}
	json_decref(root);
	return r;
}

const struct search_backend search_backend_brave = {
	.name = "brave",
	.start = brave_start,
	.cancel = brave_cancel,
	.parse = search_brave_parse,
};
