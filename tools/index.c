/* The local full-text index: chunking text into the store's FTS5 index and
 * querying it. */
#include <errno.h>
#include <stdlib.h>

#include "chunk.h"
#include "index.h"
#include "xmalloc.h"

int index_add(struct store *s, const char *key, const char *kind, const char *title,
    const char *text, size_t len, int64_t now_ms, size_t *ret_passages, bool *ret_unchanged)
{
	return index_add_owned(s, 0, key, kind, title, text, len, now_ms, ret_passages,
	    ret_unchanged);
}

int index_add_owned(struct store *s, uid_t owner, const char *key, const char *kind,
    const char *title, const char *text, size_t len, int64_t now_ms, size_t *ret_passages,
    bool *ret_unchanged)
{
	struct store_index_doc doc = {
		.owner = owner, .key = key, .kind = kind, .title = title ? title : "", .text = text, .text_len = len,
	};
	struct store_passage *p = NULL;
	struct chunk *c = NULL;
	size_t n = 0;
	bool unchanged = false;
	int r;

	if (s == NULL || key == NULL || kind == NULL || (text == NULL && len > 0))
		return -EINVAL;
	r = chunk_text(text ? text : "", len, NULL, &c, &n);
	if (r < 0)
		return r;
	if (n > 0) {
		p = xreallocarray(NULL, n, sizeof(*p));
		for (size_t i = 0; i < n; i++)
			p[i] = (struct store_passage){
				.start = c[i].start, .end = c[i].end,
				.heading_start = c[i].heading_start, .heading_end = c[i].heading_end,
			};
	}
	free(c);
	r = store_index_put(s, &doc, p, n, now_ms, NULL, &unchanged);
	free(p);
	if (r < 0)
		return r;
	if (ret_passages)
		*ret_passages = n;
	if (ret_unchanged)
		*ret_unchanged = unchanged;
	return 0;
}

int index_query(struct store *s, const char *query, size_t limit, unsigned flags,
    store_index_fn fn, void *userdata)
{
	return store_index_query(s, query, flags, limit, fn, userdata);
}
