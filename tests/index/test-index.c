/* Unit tests: the FTS5 index (store/store-index.c, migration 3) through
 * tools/index: stemming, diacritics, title weighting, hostile queries,
 * re-indexing, offsets, and the CLI's directory walk (cli/walk.c) over a
 * temporary tree into it. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "buf.h"
#include "hash.h"
#include "index.h"
#include "store.h"
#include "str.h"
#include "walk.h"

struct fixture {
	char dir[64];
	char path[128];
	struct store *s;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test-index.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/db", f->dir);
	if (store_open(f->path, &f->s) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	store_close(f->s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

#define MAX_HITS 32

struct hits {
	size_t n;
	char *key[MAX_HITS], *title[MAX_HITS], *text[MAX_HITS], *heading[MAX_HITS];
	char *snippet[MAX_HITS];
	int64_t start[MAX_HITS], end[MAX_HITS], doc[MAX_HITS];
	double score[MAX_HITS];
};

static int collect(const struct store_index_hit *h, void *userdata)
{
	struct hits *r = userdata;

	if (r->n == MAX_HITS)
		return -ENOBUFS;
	r->key[r->n] = strdup(h->key);
	r->title[r->n] = strdup(h->title);
	r->text[r->n] = strdup(h->text);
	r->heading[r->n] = strdup(h->heading);
	r->snippet[r->n] = h->snippet ? strdup(h->snippet) : NULL;
	r->start[r->n] = h->start;
	r->end[r->n] = h->end;
	r->doc[r->n] = h->doc_id;
	r->score[r->n] = h->score;
	r->n++;
	return 0;
}

static void hits_free(struct hits *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->key[i]);
		free(r->title[i]);
		free(r->text[i]);
		free(r->heading[i]);
		free(r->snippet[i]);
	}
	memset(r, 0, sizeof(*r));
}

static int query(struct store *s, const char *q, unsigned flags, struct hits *r)
{
	hits_free(r);
	return index_query(s, q, 10, flags, collect, r);
}

static void add(struct store *s, const char *key, const char *title, const char *text)
{
	assert_int_equal(index_add(s, key, "web", title, text, strlen(text), 1000, NULL, NULL), 0);
}

static void test_stemming_diacritics(void **state)
{
	struct fixture *f = *state;
	struct hits r = { 0 };

	add(f->s, "https://a.example/", "Athletics", "The athlete was running along the river.");
	add(f->s, "https://b.example/", "Travel", "We spent a week in Zürich and São Paulo.");
	add(f->s, "https://c.example/", "Plain", "Nothing about that here, only Zurich spelled plainly.");

	assert_int_equal(query(f->s, "runs", 0, &r), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.key[0], "https://a.example/");
	assert_int_equal(query(f->s, "RUNNER's run", 0, &r), 0);
	assert_int_equal(r.n, 1);

	/* Without diacritics finds both spellings, and so does with. */
	assert_int_equal(query(f->s, "Zurich", 0, &r), 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(query(f->s, "zürich", 0, &r), 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(query(f->s, "sao paulo", 0, &r), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.key[0], "https://b.example/");
	assert_true(r.score[0] > 0);
	hits_free(&r);
}

static void test_title_weighting(void **state)
{
	struct fixture *f = *state;
	struct hits r = { 0 };

	/* The body of the second says glacier three times; the first has it
	 * only in its title, which weighs more. */
	add(f->s, "https://cook.example/", "Cooking for a crowd",
	    "A glacier of ice cream, a glacier of cake: the glacier dessert.");
	add(f->s, "https://alps.example/", "Glacier",
	    "Ice fields of the Alps and how they retreat every summer.");
	add(f->s, "https://other.example/", "Unrelated", "Nothing cold here at all.");
	assert_int_equal(query(f->s, "glacier", 0, &r), 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.key[0], "https://alps.example/");
	assert_string_equal(r.title[0], "Glacier");
	assert_true(r.score[0] > r.score[1]);
	hits_free(&r);
}

static void test_hostile_queries(void **state)
{
	struct fixture *f = *state;
	static const char *const hostile[] = {
		"\"a\" OR NEAR(", "NEAR(a b, 2)", "title:secret", "{title heading}: x", "*", "a*",
		"-x", "^y", "a AND", "AND OR NOT", "\"", "\"\"\"", ")(", "a + b", "text : x",
		"col:\"x\" OR (", "'; DROP TABLE passages; --", "\\x00", "…“”—", "",
	};
	struct hits r = { 0 };
	char *m = NULL;
	char big[STORE_INDEX_MAX_QUERY + 2];

	add(f->s, "https://a.example/", "Secret title", "A near miss: x and y, and a table.");
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++)
		assert_int_equal(query(f->s, hostile[i], STORE_INDEX_SNIPPET, &r), 0);
	/* Operators are words like any other, quoted. */
	assert_int_equal(store_index_match("\"a\" OR NEAR(", STORE_INDEX_ALL_TERMS, &m), 0);
	assert_string_equal(m, "\"a\" OR \"OR\" OR \"NEAR\"");
	free(m);
	assert_int_equal(store_index_match("\"a\" OR NEAR(", 0, &m), 0);
	assert_string_equal(m, "\"NEAR\"");
	free(m);
	/* Stopwords go unless they are all there is; repeats go. */
	assert_int_equal(store_index_match("Ünïcode and 日本 a AND a ünïcode", 0, &m), 0);
	assert_string_equal(m, "\"Ünïcode\" OR \"日本\" OR \"ünïcode\"");
	free(m);
	assert_int_equal(store_index_match("The Who", 0, &m), 0);
	assert_string_equal(m, "\"The\" OR \"Who\"");
	free(m);
	assert_int_equal(store_index_match("()*:^", 0, &m), -ENODATA);
	assert_int_equal(store_index_match("bad \xff utf8", 0, &m), -EINVAL);
	assert_int_equal(query(f->s, "bad \xc3 utf8", 0, &r), -EINVAL);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(query(f->s, big, 0, &r), -E2BIG);
	/* The table still works and the words of a hostile query match. */
	assert_int_equal(query(f->s, "title:secret", 0, &r), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(query(f->s, "'; DROP TABLE passages; --", 0, &r), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(store_index_check(f->s), 0);
	hits_free(&r);
}

/* A 10 KiB query of ~400 distinct words (a planner's claim or passage)
 * is not refused: it keeps 128 terms, the informative ones among them. */
static void test_long_query(void **state)
{
	struct fixture *f = *state;
	struct hits r = { 0 };
	unsigned seed = 12345;
	size_t ors = 0;
	struct buf q;
	char *m = NULL, *m2 = NULL;

	add(f->s, "https://hyper.example/", "Reentry", "Hypervelocity impact of the X15 on thin plates.");
	add(f->s, "https://other.example/", "Other", "A short page about cats and tea and small words.");
	buf_init(&q, 16 * 1024);
	buf_puts(&q, "The Hypervelocity question: ");
	while (q.len < 10 * 1024) {
		char w[8];
		int l = 3 + (int)((seed >> 16) % 3);	/* short lowercase words */

		for (int k = 0; k < l; k++) {
			seed = seed * 1103515245u + 12345u;
			w[k] = (char)('a' + (seed >> 16) % 26);
		}
		w[l] = '\0';
		buf_puts(&q, w);
		buf_puts(&q, q.len % 7 == 0 ? ". " : " ");
		if (q.len > 3000 && q.len < 3010)
			buf_puts(&q, "X15 hypervelocity ");
	}
	assert_true(q.len >= 10 * 1024 && q.len < STORE_INDEX_MAX_QUERY);
	assert_int_equal(store_index_match(q.data, 0, &m), 0);
	for (const char *p = m; (p = strstr(p, " OR ")) != NULL; p += 4)
		ors++;
	assert_int_equal(ors + 1, STORE_INDEX_MAX_TERMS);
	assert_non_null(strstr(m, "\"Hypervelocity\""));
	assert_non_null(strstr(m, "\"X15\""));
	assert_null(strstr(m, "\"The\""));
	/* the same query, the same terms */
	assert_int_equal(store_index_match(q.data, 0, &m2), 0);
	assert_string_equal(m, m2);
	assert_int_equal(query(f->s, q.data, 0, &r), 0);
	assert_true(r.n >= 1);
	assert_string_equal(r.key[0], "https://hyper.example/");
	free(m);
	free(m2);
	buf_free(&q);
	hits_free(&r);
}

/* With the index at hand, a long query keeps the terms that can match,
 * rarest first: a short lowercase word the heuristic alone would drop
 * among hundreds of longer ones that no passage holds. */
static void test_long_query_by_idf(void **state)
{
	struct fixture *f = *state;
	struct hits r = { 0 };
	unsigned seed = 777;
	struct buf q;
	char *m = NULL;

	add(f->s, "https://yak.example/", "Wool", "The yak gives wool and milk on the plateau.");
	add(f->s, "https://tea.example/", "Tea", "Butter tea is drunk on the plateau.");
	buf_init(&q, 16 * 1024);
	buf_puts(&q, "yak ");
	while (q.len < 10 * 1024) {
		char w[12];
		int l = 7 + (int)((seed >> 16) % 4);	/* longer than "yak", in no passage */

		for (int k = 0; k < l; k++) {
			seed = seed * 1103515245u + 12345u;
			w[k] = (char)('a' + (seed >> 16) % 26);
		}
		w[l] = '\0';
		buf_puts(&q, w);
		buf_putc(&q, ' ');
	}
	/* the query alone: "yak" is among the least informative */
	assert_int_equal(store_index_match(q.data, 0, &m), 0);
	assert_null(strstr(m, "\"yak\""));
	free(m);
	assert_int_equal(index_query(f->s, q.data, 10, STORE_INDEX_NO_FEEDBACK, collect, &r), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.key[0], "https://yak.example/");
	buf_free(&q);
	hits_free(&r);
}

/* Pseudo-relevance feedback: five passages on glaciers that all speak of
 * moraines bring in a sixth that says moraine but never glacier; without
 * feedback it is not found. Fewer than five hits expand nothing. */
static void test_feedback(void **state)
{
	struct fixture *f = *state;
	struct hits r = { 0 };
	char key[64], text[160];
	bool found = false;

	for (int i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "https://g%d.example/", i);
		snprintf(text, sizeof(text), "Glacier number %d left a terminal moraine of boulders"
		    " when the glacier retreated.", i);
		add(f->s, key, "Ice", text);
	}
	add(f->s, "https://m.example/", "Landforms", "A moraine is a ridge of till and boulders.");
	add(f->s, "https://x.example/", "Cooking", "Bread, flour, water and salt.");
	assert_int_equal(index_query(f->s, "glacier", 10, STORE_INDEX_NO_FEEDBACK, collect, &r), 0);
	assert_int_equal(r.n, 5);
	hits_free(&r);
	assert_int_equal(query(f->s, "glacier", 0, &r), 0);
	for (size_t i = 0; i < r.n; i++) {
		found = found || strcmp(r.key[i], "https://m.example/") == 0;
		assert_string_not_equal(r.key[i], "https://x.example/");
	}
	assert_true(found);
	/* the query's own term still ranks first */
	assert_int_equal(strncmp(r.key[0], "https://g", 9), 0);
	assert_string_equal(r.key[r.n - 1], "https://m.example/");
	hits_free(&r);
}

static void test_reindex(void **state)
{
	struct fixture *f = *state;
	struct hits r = { 0 };
	int64_t docs, passages;
	size_t n;
	bool unchanged;
	const char *t1 = "alpha beta\n\nsecond paragraph alpha";

	assert_int_equal(index_add(f->s, "file:///tmp/x.md", "local", "Old", t1, strlen(t1), 1,
	    &n, &unchanged), 0);
	assert_false(unchanged);
	assert_int_equal(index_add(f->s, "file:///tmp/x.md", "local", "Old", t1, strlen(t1), 2,
	    &n, &unchanged), 0);
	assert_true(unchanged);
	add(f->s, "https://keep.example/", "Keep", "alpha stays here");
	assert_int_equal(query(f->s, "alpha", 0, &r), 0);
	assert_int_equal(r.n, 2);

	/* New title and text replace the old ones entirely. */
	assert_int_equal(index_add(f->s, "file:///tmp/x.md", "local", "New", "gamma delta", 11, 3,
	    &n, &unchanged), 0);
	assert_false(unchanged);
	assert_int_equal(n, 1);
	assert_int_equal(query(f->s, "alpha", 0, &r), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.key[0], "https://keep.example/");
	assert_int_equal(query(f->s, "old", 0, &r), 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(query(f->s, "new gamma", 0, &r), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.title[0], "New");
	assert_int_equal(store_index_count(f->s, &docs, &passages), 0);
	assert_int_equal(docs, 2);
	assert_int_equal(passages, 2);
	assert_int_equal(store_index_check(f->s), 0);

	/* Empty text: a document without passages. Then deleted. */
	assert_int_equal(index_add(f->s, "file:///tmp/x.md", "local", "", "", 0, 4, &n, NULL), 0);
	assert_int_equal(n, 0);
	assert_int_equal(query(f->s, "gamma", 0, &r), 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(store_index_delete(f->s, 0, "file:///tmp/x.md"), 0);
	assert_int_equal(store_index_delete(f->s, 0, "file:///tmp/x.md"), -ENOENT);
	assert_int_equal(store_index_count(f->s, &docs, &passages), 0);
	assert_int_equal(docs, 1);
	assert_int_equal(passages, 1);
	assert_int_equal(store_index_check(f->s), 0);

	/* Bad arguments change nothing, and do not undo the caller's
	 * enclosing transaction. */
	assert_int_equal(store_begin(f->s), 0);
	add(f->s, "https://inner.example/", "Inner", "kept in the outer transaction");
	assert_int_equal(index_add(f->s, "k", "elsewhere", "t", "x", 1, 5, NULL, NULL), -EINVAL);
	assert_int_equal(index_add(f->s, "", "web", "t", "x", 1, 5, NULL, NULL), -EINVAL);
	{
		const struct store_index_doc d = {
			.key = "https://bad.example/", .kind = "web", .title = "", .text = "abcdef",
			.text_len = 6,
		};
		const struct store_passage overlap[2] = { { 0, 4, 0, 0 }, { 3, 6, 0, 0 } };
		const struct store_passage outside[1] = { { 2, 7, 0, 0 } };

		assert_int_equal(store_index_put(f->s, &d, overlap, 2, 5, NULL, NULL), -EINVAL);
		assert_int_equal(store_index_put(f->s, &d, outside, 1, 5, NULL, NULL), -EINVAL);
	}
	assert_int_equal(store_index_delete(f->s, 0, "https://none.example/"), -ENOENT);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(query(f->s, "outer", 0, &r), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(query(f->s, "abcdef", 0, &r), 0);
	assert_int_equal(r.n, 0);
	hits_free(&r);
}

static void test_offsets_snippets_per_doc(void **state)
{
	struct fixture *f = *state;
	struct hits r = { 0 };
	char text[8192];
	size_t len = 0;

	len += (size_t)snprintf(text + len, sizeof(text) - len, "# Turbines\n\n");
	for (int i = 0; i < 20; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len,
		    "Paragraph %d says the compressor blade stalls at high incidence and "
		    "the wake of the rotor grows with it.\n\n", i);
	len += (size_t)snprintf(text + len, sizeof(text) - len,
	    "## Combustors\n\nA flame holder keeps the combustor lit.\n");
	add(f->s, "https://jet.example/", "Jet engines", text);
	add(f->s, "https://other.example/", "Fans", "A fan blade is not a compressor blade.");

	assert_int_equal(query(f->s, "compressor blade", STORE_INDEX_SNIPPET, &r), 0);
	assert_true(r.n >= 3);
	for (size_t i = 0; i < r.n; i++) {
		assert_non_null(r.snippet[i]);
		assert_true(strlen(r.snippet[i]) > 0);
		if (strcmp(r.key[i], "https://jet.example/") != 0)
			continue;
		/* The passage is where its offsets say in the indexed text. */
		assert_true(r.end[i] > r.start[i] && (size_t)r.end[i] <= len);
		assert_int_equal(strlen(r.text[i]), (size_t)(r.end[i] - r.start[i]));
		assert_memory_equal(text + r.start[i], r.text[i], (size_t)(r.end[i] - r.start[i]));
		assert_string_equal(r.heading[i], "Turbines");
	}
	/* One hit per document when asked. */
	assert_int_equal(query(f->s, "compressor blade", STORE_INDEX_PER_DOC, &r), 0);
	assert_int_equal(r.n, 2);
	assert_true(r.doc[0] != r.doc[1]);
	assert_int_equal(query(f->s, "flame holder", 0, &r), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.heading[0], "Combustors");
	assert_memory_equal(text + r.start[0], r.text[0], (size_t)(r.end[0] - r.start[0]));
	hits_free(&r);
}

static void write_file(const char *dir, const char *name, const char *data, size_t len)
{
	char p[512];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

struct seen {
	int added, too_big, binary;
	char names[16][64];
	int n;
};

static void on_file(const char *rel, enum walk_status st, int error, size_t passages,
    void *userdata)
{
	struct seen *s = userdata;

	if (s->n < 16)
		snprintf(s->names[s->n++], 64, "%s", rel);
	s->added += st == WALK_FILE_ADDED;
	s->too_big += st == WALK_FILE_TOO_BIG;
	s->binary += st == WALK_FILE_BINARY;
}

/* The walk's sink straight into the store, as the daemon's index_add op does. */
static int into_store(const char *key, const char *title, const char *text, size_t len,
    size_t *ret_passages, bool *ret_unchanged, void *userdata)
{
	return index_add(userdata, key, "local", title, text, len, time_now_ms(), ret_passages,
	    ret_unchanged);
}

static void test_walk_dir(void **state)
{
	struct fixture *f = *state;
	struct walk_stats st;
	struct seen seen = { 0 };
	struct walk_options opt = {
		.max_depth = 2, .max_file_size = 4096, .fn = on_file, .userdata = &seen,
		.sink = into_store, .sink_userdata = f->s,
	};
	struct walk_options plain = { .sink = into_store, .sink_userdata = f->s };
	struct hits r = { 0 };
	char tree[128], outside[128], p[256], big[8192], bin[64];
	const char *html =
	    "<html><head><title>Heron field guide</title></head><body>"
	    "<nav><a href=\"/\">Home</a></nav><article><h1>Herons</h1>"
	    "<p>The grey heron wades in shallow water, waiting for fish.</p>"
	    "<p>It nests in colonies called heronries, high in the trees.</p>"
	    "</article></body></html>";
	const char *md = "# Kestrel notes\n\nThe kestrel hovers over verges.\n";

	snprintf(tree, sizeof(tree), "%s/tree", f->dir);
	snprintf(outside, sizeof(outside), "%s/outside", f->dir);
	assert_int_equal(mkdir(tree, 0755), 0);
	assert_int_equal(mkdir(outside, 0755), 0);
	write_file(outside, "secret.md", "# Secret\n\nplatypus\n", 19);
	write_file(tree, "a.HTML", html, strlen(html));
	write_file(tree, "b.md", md, strlen(md));
	write_file(tree, "c.txt", "Plain notes on the osprey.\n", 27);
	write_file(tree, "image.png", "\x89PNG\r\n\x1a\n osprey", 15);
	memset(bin, 0, sizeof(bin));
	memcpy(bin, "osprey", 6);
	write_file(tree, "bin.txt", bin, sizeof(bin));
	memset(big, 'w', sizeof(big));
	write_file(tree, "big.txt", big, sizeof(big));
	write_file(tree, ".hidden.md", "osprey", 6);
	snprintf(p, sizeof(p), "%s/b.md", tree);
	assert_int_equal(symlink(p, strcat(strcpy(big, tree), "/link.md")), 0);
	assert_int_equal(symlink(outside, strcat(strcpy(big, tree), "/outlink")), 0);
	assert_int_equal(mkfifo(strcat(strcpy(big, tree), "/fifo.txt"), 0644), 0);
	snprintf(p, sizeof(p), "%s/sub", tree);
	assert_int_equal(mkdir(p, 0755), 0);
	write_file(p, "d.markdown", "Owls hunt at night.", 19);
	snprintf(p, sizeof(p), "%s/sub/deeper", tree);
	assert_int_equal(mkdir(p, 0755), 0);
	write_file(p, "e.md", "Swifts sleep on the wing.", 25);
	snprintf(p, sizeof(p), "%s/sub/deeper/deepest", tree);
	assert_int_equal(mkdir(p, 0755), 0);
	write_file(p, "f.md", "Albatross deep down.", 20);

	assert_int_equal(walk_dir(tree, &opt, &st), 0);
	assert_int_equal(st.added, 5);	/* a.HTML b.md c.txt sub/d.markdown sub/deeper/e.md */
	assert_int_equal(st.too_big, 1);
	assert_int_equal(st.binary, 1);
	assert_int_equal(st.failed, 0);
	assert_true(st.truncated);	/* sub/deeper/deepest is below max_depth */
	assert_true(st.skipped >= 4);	/* image.png, link.md, outlink, fifo.txt */
	assert_int_equal(seen.added, 5);
	assert_int_equal(seen.too_big, 1);
	assert_int_equal(seen.binary, 1);
	assert_string_equal(seen.names[0], "a.HTML");	/* name order */

	assert_int_equal(query(f->s, "heron fish", 0, &r), 0);
	assert_true(r.n >= 1);
	assert_string_equal(r.title[0], "Heron field guide");
	assert_true(str_startswith(r.key[0], "file:///"));
	assert_true(str_endswith(r.key[0], "/tree/a.HTML"));
	assert_null(strstr(r.text[0], "Home"));	/* extracted: no navigation */
	assert_int_equal(query(f->s, "kestrel", 0, &r), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.title[0], "Kestrel notes");
	assert_int_equal(query(f->s, "osprey", 0, &r), 0);
	assert_int_equal(r.n, 1);	/* c.txt only: not the png, bin.txt or the dot file */
	assert_string_equal(r.title[0], "c.txt");
	assert_int_equal(query(f->s, "platypus albatross", 0, &r), 0);
	assert_int_equal(r.n, 0);	/* behind a symlink, below max_depth */
	assert_int_equal(query(f->s, "swifts", 0, &r), 0);
	assert_int_equal(r.n, 1);

	/* Again: nothing changed; then the file count cap. */
	assert_int_equal(walk_dir(tree, &opt, &st), 0);
	assert_int_equal(st.added, 0);
	assert_int_equal(st.unchanged, 5);
	opt.fn = NULL;
	opt.max_files = 2;
	assert_int_equal(walk_dir(tree, &opt, &st), 0);
	assert_int_equal(st.unchanged + st.added + st.too_big + st.binary, 2);
	assert_true(st.truncated);

	snprintf(p, sizeof(p), "%s/c.txt", tree);
	assert_int_equal(walk_dir(p, &plain, &st), -ENOTDIR);
	snprintf(p, sizeof(p), "%s/none", tree);
	assert_int_equal(walk_dir(p, &plain, &st), -ENOENT);
	assert_int_equal(walk_dir(tree, NULL, &st), -EINVAL);	/* no sink */
	assert_int_equal(store_index_check(f->s), 0);
	hits_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stemming_diacritics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_title_weighting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_queries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_query, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_query_by_idf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_feedback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reindex, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offsets_snippets_per_doc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_walk_dir, setup, teardown),
	};

	hash_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
