/* The Wikipedia backend: the MediaWiki search API (list=search), results
 * from query.search[].title/snippet/timestamp; the article URL is made from
 * the title as MediaWiki makes it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "search.h"
#include "url.h"
#include "xmalloc.h"

static int wikipedia_start(const struct search *s, const struct search_query *q,
    const struct search_parse_args *a, struct search_http_req *ret)
{
	char *base = search_url_lang(search_config_url(s, "wikipedia"), a->lang);
	struct buf b;
	int r;

	if (base == NULL)
		return -ENAMETOOLONG;
	buf_init(&b, URL_MAX);
	r = search_url_join(&b, base, "/w/api.php?action=query&list=search&format=json&utf8=1"
	    "&srprop=snippet%7Ctimestamp&srsearch=");
	free(base);
	if (r == 0)
		r = search_url_escape(&b, q->q);
	if (r == 0)
		r = buf_printf(&b, "&srlimit=%u", a->max_results ? a->max_results : 10);
	if (r < 0) {
		buf_free(&b);
		return r;
	}
	ret->url = buf_steal(&b);
	ret->headers[0] = "Accept: application/json";
	return 0;
}

static void wikipedia_cancel(const struct search *s)
{
}

/* The title as MediaWiki puts it in a URL: spaces as underscores, then
 * percent-encoded except for what wfUrlencode() leaves alone. */
static int title_to_url(struct buf *b, const char *title)
{
	static const char hex[] = "0123456789ABCDEF";
	int r = 0;

	for (const unsigned char *p = (const unsigned char *)title; *p && r == 0; p++) {
		if (*p == ' ')
			r = buf_putc(b, '_');
		else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~;@$!*(),/:", *p))
			r = buf_putc(b, (char)*p);
		else {
			char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };

			r = buf_append(b, e, 3);
		}
	}
	return r;
}

int search_wikipedia_parse(const char *data, size_t len, const struct search_parse_args *a,
    struct search_hits *out)
{
	const char *base = a->article_base ? a->article_base : "https://en.wikipedia.org/wiki/";
	json_t *root, *query, *list, *item;
	json_error_t err;
	size_t i;
	int r = 0;

	if (len > SEARCH_MAX_BODY)
		return -EFBIG;
	root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &err);
	if (root == NULL)
		return -EBADMSG;
	/* {"error":{"code":...,"info":...}} is the API's way to fail. */
	if (json_object_get(root, "error")) {
		json_decref(root);
		return -EPROTO;
	}
	query = json_object_get(root, "query");
	list = query ? json_object_get(query, "search") : NULL;
	if (!json_is_array(list)) {
		json_decref(root);
		return -EBADMSG;
	}
	json_array_foreach(list, i, item) {
		const char *title = NULL, *date = NULL;
		json_t *sn;
		struct buf u;

		if (!json_is_object(item) || json_get_string(item, "title", &title) < 0 || !*title)
			continue;
		sn = json_object_get(item, "snippet");
		(void)json_get_string(item, "timestamp", &date);
		buf_init(&u, URL_MAX);
		r = buf_puts(&u, base);
		if (r == 0)
			r = title_to_url(&u, title);
		if (r == 0)
			r = search_hits_add(out, u.data, title, strlen(title),
			    json_is_string(sn) ? json_string_value(sn) : NULL,
			    json_is_string(sn) ? json_string_length(sn) : 0, true, date);
		buf_free(&u);
		if (r == -ENOSPC) {
			r = 0;
			break;
		}
		r = 0;
	}
	json_decref(root);
	return r;
}

const struct search_backend search_backend_wikipedia = {
	.name = "wikipedia",
	.start = wikipedia_start,
	.cancel = wikipedia_cancel,
	.parse = search_wikipedia_parse,
};
