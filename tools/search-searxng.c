/* The SearXNG backend: GET {searxng_url}/search?q=...&format=json, results
 * from results[].url/title/content/publishedDate. */
#include <errno.h>
#include <string.h>

#include "json.h"
#include "search.h"
#include "url.h"
#include "xmalloc.h"

static int searxng_start(const struct search *s, const struct search_query *q,
    const struct search_parse_args *a, struct search_http_req *ret)
{
	const char *base = search_config_url(s, "searxng");
	struct buf b;
	int r;

	if (base == NULL)
		return -EINVAL;
	buf_init(&b, URL_MAX);
	r = search_url_join(&b, base, "/search?format=json&pageno=1&q=");
	if (r == 0)
		r = search_url_escape(&b, q->q);
	if (r == 0 && a->lang) {
		r = buf_puts(&b, "&language=");
		if (r == 0)
			r = search_url_escape(&b, a->lang);
	}
	if (r == 0 && q->time_range)
		r = buf_printf(&b, "&time_range=%s", q->time_range);
	if (r < 0) {
		buf_free(&b);
		return r;
	}
	ret->url = buf_steal(&b);
	ret->headers[0] = "Accept: application/json";
	return 0;
}

static void searxng_cancel(const struct search *s)
{
}

int search_searxng_parse(const char *data, size_t len, const struct search_parse_args *a,
    struct search_hits *out)
{
	json_t *root, *results, *item;
	json_error_t err;
	size_t i;
	int r = 0;

	if (len > SEARCH_MAX_BODY)
		return -EFBIG;
	root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &err);
	if (root == NULL)
		return -EBADMSG;
	results = json_object_get(root, "results");
	if (!json_is_array(results)) {
		json_decref(root);
		return -EBADMSG;
	}
	json_array_foreach(results, i, item) {
		const char *url = NULL, *title = NULL, *content = NULL, *date = NULL;
		json_t *t, *c;

		if (!json_is_object(item) || json_get_string(item, "url", &url) < 0)
			continue;
		t = json_object_get(item, "title");
		c = json_object_get(item, "content");
		if (json_is_string(t))
			title = json_string_value(t);
		if (json_is_string(c))
			content = json_string_value(c);
		(void)json_get_string(item, "publishedDate", &date);
		r = search_hits_add(out, url, title, title ? json_string_length(t) : 0,
		    content, content ? json_string_length(c) : 0, false, date);
		if (r == -ENOSPC) {
			r = 0;
			break;
		}
		r = 0;	/* a bad item is skipped */
	}
	json_decref(root);
	return r;
}

const struct search_backend search_backend_searxng = {
	.name = "searxng",
	.start = searxng_start,
	.cancel = searxng_cancel,
	.parse = search_searxng_parse,
};
