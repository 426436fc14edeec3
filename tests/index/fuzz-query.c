/* libFuzzer harness for the query side of the index: any bytes as a
 * user's query against a small in-memory index. The query must never
 * reach FTS5 as syntax: the only errors are the documented ones, and the
 * expression is quoted terms joined by OR. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "index.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_hit(const struct store_index_hit *h, void *userdata)
{
	if (h->text == NULL || h->key == NULL || h->snippet == NULL || !(h->score > -1e300))
		abort();
	return 0;
}

/* "t1" OR "t2" ...: no quote inside a term, nothing outside the quotes
 * but the joins. */
static void fuzz_check_match(const char *m)
{
	const char *p = m;

	for (;;) {
		const char *q;

		if (*p != '"')
			abort();
		q = strchr(p + 1, '"');
		if (q == NULL || q == p + 1)
			abort();
		p = q + 1;
		if (*p == '\0')
			return;
		if (strncmp(p, " OR ", 4) != 0)
			abort();
		p += 4;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct store *s;
	char *q, *m = NULL;
	int r;

	if (s == NULL) {
		static const char text[] = "# Near\n\nA near miss: the runner runs in Zürich.\n\n"
		    "Title and heading and text OR AND NOT.";

		hash_init();
		if (store_open(":memory:", &s) < 0 ||
		    index_add(s, "https://fuzz.example/", "web", "Fuzz title", text,
		    sizeof(text) - 1, 1, NULL, NULL) < 0)
			abort();
	}
	q = malloc(size + 1);
	if (q == NULL)
		abort();
	memcpy(q, data, size);
	q[size] = '\0';
	for (unsigned flags = 0; flags <= STORE_INDEX_ALL_TERMS; flags += STORE_INDEX_ALL_TERMS) {
		r = store_index_match(q, flags, &m);
		if (r == 0) {
			fuzz_check_match(m);
			free(m);
		} else if (r != -ENODATA && r != -EINVAL && r != -E2BIG) {
			abort();
		}
		r = store_index_query(s, q, flags | STORE_INDEX_SNIPPET | STORE_INDEX_PER_DOC, 5,
		    fuzz_hit, NULL);
		if (r != 0 && r != -EINVAL && r != -E2BIG)
			abort();
	}
	free(q);
	return 0;
}
