/* The local backend: the store's FTS5 index (tools/index: cached sources
 * keyed by canonical URL, and the users' documents keyed by file:// URL,
 * of which a query sees its owner's and the shared ones), queried
 * in-process; the best passage of each document is its snippet. */
#include <errno.h>
#include <string.h>

#include "index.h"
#include "search.h"

static int local_hit(const struct store_index_hit *h, void *ud)
{
	struct search_hits *out = ud;
	const char *title = h->title && *h->title ? h->title : h->key;
	const char *text = h->snippet ? h->snippet : h->text ? h->text : "";
	int r;

	r = search_hits_add(out, h->key, title, strlen(title), text, strlen(text), false, NULL);
	if (r == -ENOSPC)
		return 1;	/* enough */
	return 0;		/* a key that is no URL is skipped */
}

static int local_query(const struct search *s, const struct search_query *q,
    const struct search_parse_args *a, struct search_hits *out)
{
	struct store *st = search_store(s);

	if (st == NULL)
		return -ENODEV;
	return store_index_query_owner(st, q->owner, q->q, STORE_INDEX_PER_DOC | STORE_INDEX_SNIPPET,
	    a->max_results ? a->max_results : 10, local_hit, out);
}

const struct search_backend search_backend_local = {
	.name = "local",
	.query = local_query,
};
