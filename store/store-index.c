/* The full-text index: documents (web sources and the user's own files),
 * their passages, and passages_fts, an FTS5 index over them whose content
 * is read back from those tables (external content, see migration 3). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "store-internal.h"
#include "str.h"
#include "xmalloc.h"

void store_index_doc_hash(const char *title, const char *text, size_t text_len,
    uint8_t out[HASH_BYTES])
{
	struct hash_state *h = hash_new();

	hash_part(h, "index-doc-v1", 12);
	hash_part(h, title, strlen(title));
	hash_part(h, text, text_len);
	hash_final(h, out);
}

/* English function words, sorted: dropped from a query that has other
 * terms. OR-ed, each would match nearly every passage, costing time while
 * BM25 gives them almost no weight. */
static const char *const index_stopwords[] = {
	"a", "about", "above", "after", "again", "against", "all", "am",
	"an", "and", "any", "are", "as", "at", "be", "because",
	"been", "before", "being", "below", "between", "both", "but", "by",
	"can", "could", "did", "do", "does", "doing", "down", "during",
	"each", "few", "for", "from", "further", "had", "has", "have",
	"having", "he", "her", "here", "hers", "herself", "him", "himself",
	"his", "how", "i", "if", "in", "into", "is", "it",
	"its", "itself", "just", "me", "more", "most", "my", "myself",
	"no", "nor", "not", "now", "of", "off", "on", "once",
	"only", "or", "other", "our", "ours", "ourselves", "out", "over",
	"own", "same", "she", "should", "so", "some", "such", "than",
	"that", "the", "their", "theirs", "them", "themselves", "then", "there",
	"these", "they", "this", "those", "through", "to", "too", "under",
	"until", "up", "very", "was", "we", "were", "what", "when",
	"where", "which", "while", "who", "whom", "why", "will", "with",
	"would", "you", "your", "yours", "yourself", "yourselves",
};

static int index_stopword_cmp(const void *key, const void *elem)
{
	return strcmp(key, *(const char *const *)elem);
}

static bool index_stopword(const char *s, size_t len)
{
	char w[16];

	if (len >= sizeof(w))
		return false;
	for (size_t i = 0; i < len; i++)
		w[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
	w[len] = '\0';
	return bsearch(w, index_stopwords, sizeof(index_stopwords) / sizeof(index_stopwords[0]),
	    sizeof(index_stopwords[0]), index_stopword_cmp) != NULL;
}

static bool index_word_byte(unsigned char c)
{
	return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z');
}

/* One distinct term of a query. */
struct index_term {
	size_t start, len;	/* of its first occurrence */
	size_t tf;		/* occurrences in the query */
	bool stop;
	double score;
};

static int index_term_cmp_text(const void *pa, const void *pb, void *arg)
{
	const struct index_term *a = pa, *b = pb;
	const char *q = arg;
	size_t n = a->len < b->len ? a->len : b->len;

	for (size_t k = 0; k < n; k++) {
		unsigned char x = (unsigned char)q[a->start + k], y = (unsigned char)q[b->start + k];

		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y - 'A' + 'a');
		if (x != y)
			return x < y ? -1 : 1;
	}
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return a->start < b->start ? -1 : a->start > b->start;
}

static int index_term_cmp_pos(const void *pa, const void *pb)
{
	const struct index_term *a = pa, *b = pb;

	return a->start < b->start ? -1 : a->start > b->start;
}

/* Most informative first; ties by position, so the choice is a function
 * of the query alone. */
static int index_term_cmp_score(const void *pa, const void *pb)
{
	const struct index_term *a = pa, *b = pb;

	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	return index_term_cmp_pos(pa, pb);
}

/* Without collection statistics a term's length, digits and capitals
 * stand for its rarity (long words, numbers and names are rarer than
 * short common words), and its repetition for its weight in the text. */
static double index_term_score(const char *q, const struct index_term *t)
{
	unsigned score = (unsigned)(t->len < 12 ? t->len : 12) * 4;
	bool digit = false, upper = false;

	for (size_t k = 0; k < t->len; k++) {
		char c = q[t->start + k];

		digit = digit || (c >= '0' && c <= '9');
		upper = upper || (c >= 'A' && c <= 'Z');
	}
	score += digit ? 12 : 0;
	score += upper ? 6 : 0;
	score += (unsigned)(t->tf < 4 ? t->tf - 1 : 3) * 8;
	return (double)score;
}

/* Document frequencies are counted up to this: the cost of a lookup stays
 * bounded in a large index, and terms commoner than that are all alike
 * poor choices, for a long query as for feedback. */
#define INDEX_DF_CAP	2000

/* The terms of a long query looked up in the index, the best by the
 * heuristic: all of a 10 KiB query. A term no passage holds costs
 * next to nothing to look up. */
#define INDEX_MAX_LOOKUPS	4096

/* Passages that hold term (an FTS5 string), counted up to cap. */
static int index_df(struct store *s, const char *term, int64_t cap, int64_t *ret)
{
	sqlite3_stmt *st = store_stmt(s, STMT_INDEX_DF);
	int rc, r;

	r = st ? store_bind_text(st, ":match", term) : -EIO;
	if (r == 0)
		r = store_bind_int(st, ":cap", cap);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : store_errno(rc);
}

/* BM25's idf. */
static double index_idf(int64_t n, int64_t df)
{
	return log(((double)n - (double)df + 0.5) / ((double)df + 0.5) + 1.0);
}

/* Rescore the candidates by the index itself: a term no passage holds
 * cannot match and goes first; the others weigh their idf, more for
 * repetition in the query. */
static int index_terms_rescore(struct store *s, const char *q, struct index_term *t, size_t n)
{
	int64_t docs = 0, passages = 0;
	char term[STORE_INDEX_MAX_TERM_BYTES + 3];
	int r = store_index_count(s, &docs, &passages);

	for (size_t k = 0; k < n && r == 0; k++) {
		int64_t df = 0;

		if (t[k].len > STORE_INDEX_MAX_TERM_BYTES)
			continue;	/* keeps its heuristic score */
		snprintf(term, sizeof(term), "\"%.*s\"", (int)t[k].len, q + t[k].start);
		r = index_df(s, term, INDEX_DF_CAP, &df);
		if (r == 0)
			t[k].score = df == 0 ? -1.0 :
			    index_idf(passages, df) * (1.0 + log((double)t[k].tf));
	}
	return r;
}

/* Every run of letters and digits is a term; repeats (ignoring ASCII case)
 * are counted into their first occurrence, so *ret is in query order. */
static int index_terms(const char *q, size_t len, struct index_term **ret, size_t *ret_n)
{
	struct index_term *t = NULL;
	size_t n = 0, alloc = 0, i = 0, k = 0;

	while (i < len) {
		size_t s;

		while (i < len && !index_word_byte((unsigned char)q[i]))
			i++;
		s = i;
		while (i < len && index_word_byte((unsigned char)q[i]))
			i++;
		if (i == s)
			continue;
		if (n == alloc) {
			alloc = alloc ? 2 * alloc : 32;
			t = xreallocarray(t, alloc, sizeof(*t));
		}
		t[n++] = (struct index_term){ .start = s, .len = i - s, .tf = 1 };
	}
	if (n > 1) {
		qsort_r(t, n, sizeof(*t), index_term_cmp_text, (void *)q);
		for (size_t j = 1; j < n; j++) {
			struct index_term *a = &t[k], *b = &t[j];

			if (a->len == b->len && strncasecmp(q + a->start, q + b->start, a->len) == 0)
				a->tf++;	/* b comes later: a keeps the first position */
			else
				t[++k] = *b;
		}
		n = k + 1;
		qsort(t, n, sizeof(*t), index_term_cmp_pos);
	}
	*ret = t;
	*ret_n = n;
	return 0;
}

/* Every run of letters and digits becomes one quoted FTS5 string and the
 * strings are OR-ed: BM25 ranks documents with more of the terms first,
 * and no operator, column filter, NEAR or prefix of the user's reaches
 * MATCH. Stopwords are dropped unless they are all there is or flags has
 * STORE_INDEX_ALL_TERMS. A quoted string the tokenizer splits ("e-mail" is already two
 * terms here) or finds empty is harmless: a phrase, or nothing. A query of
 * more than STORE_INDEX_MAX_TERMS distinct terms (a claim, a paragraph)
 * keeps the most informative of them, in query order. */
static int index_match_build(struct store *s, const char *query, unsigned flags, char **ret)
{
	struct index_term *t = NULL;
	size_t len, n = 0, content = 0, keep = 0;
	struct buf b;
	int r = 0;

	if (query == NULL || ret == NULL)
		return -EINVAL;
	len = strlen(query);
	if (len > STORE_INDEX_MAX_QUERY)
		return -E2BIG;
	if (!utf8_valid(query, len))
		return -EINVAL;
	index_terms(query, len, &t, &n);
	if (n == 0) {
		free(t);
		return -ENODATA;
	}
	for (size_t k = 0; k < n; k++) {
		t[k].stop = index_stopword(query + t[k].start, t[k].len);
		content += !t[k].stop;
	}
	/* The terms that go: stopwords (unless they are all there is), then
	 * the least informative past the cap. */
	for (size_t k = 0; k < n; k++) {
		if (content > 0 && t[k].stop && !(flags & STORE_INDEX_ALL_TERMS))
			continue;
		t[keep] = t[k];
		t[keep].score = index_term_score(query, &t[keep]);
		keep++;
	}
	if (keep > STORE_INDEX_MAX_TERMS) {
		qsort(t, keep, sizeof(*t), index_term_cmp_score);
		/* With the index at hand, the best candidates by the heuristic
		 * are rescored by their rarity in it. */
		if (s) {
			size_t cand = keep < INDEX_MAX_LOOKUPS ? keep : INDEX_MAX_LOOKUPS;

			r = index_terms_rescore(s, query, t, cand);
			if (r < 0) {
				free(t);
				return r;
			}
			qsort(t, cand, sizeof(*t), index_term_cmp_score);
		}
		keep = STORE_INDEX_MAX_TERMS;
		qsort(t, keep, sizeof(*t), index_term_cmp_pos);
	}
	buf_init(&b, len + 6 * keep + 16);
	for (size_t k = 0; k < keep && r == 0; k++) {
		if (b.len > 0)
			r = buf_puts(&b, " OR ");
		if (r == 0)
			r = buf_putc(&b, '"');
		/* Terms hold no '"' (it splits them), so nothing to double. */
		if (r == 0)
			r = buf_append(&b, query + t[k].start, t[k].len);
		if (r == 0)
			r = buf_putc(&b, '"');
	}
	free(t);
	if (r < 0) {
		buf_free(&b);
		return r;
	}
	*ret = buf_steal(&b);
	return 0;
}

int store_index_match(const char *query, unsigned flags, char **ret)
{
	return index_match_build(NULL, query, flags, ret);
}

/* Removes the document's rows from passages_fts (with the values they
 * were indexed with, read back from the same tables), then its passages. */
static int index_doc_clear(struct store *s, int64_t doc_id)
{
	sqlite3_stmt *st = store_stmt(s, STMT_INDEX_FTS_DELETE);
	int r;

	if (st == NULL)
		return -EIO;
	r = store_bind_int(st, ":doc", doc_id);
	if (r == 0)
		r = store_step_done(st);
	if (r < 0)
		return r;
	st = store_stmt(s, STMT_INDEX_PASSAGE_DELETE);
	if (st == NULL)
		return -EIO;
	r = store_bind_int(st, ":doc", doc_id);
	return r < 0 ? r : store_step_done(st);
}

/* -ENOENT when absent. */
static int index_doc_find(struct store *s, uid_t owner, const char *key, int64_t *ret_id,
    uint8_t ret_hash[HASH_BYTES], bool *ret_text)
{
	sqlite3_stmt *st = store_stmt(s, STMT_INDEX_DOC_GET);
	int rc, r;

	if (st == NULL)
		return -EIO;
	r = store_bind_text(st, ":key", key);
	if (r == 0)
		r = store_bind_int(st, ":owner", (int64_t)owner);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const void *h = sqlite3_column_blob(st, 1);
		const char *kind = (const char *)sqlite3_column_text(st, 2);

		*ret_id = sqlite3_column_int64(st, 0);
		*ret_text = kind && strcmp(kind, "text") == 0;
		if (h && sqlite3_column_bytes(st, 1) == HASH_BYTES)
			memcpy(ret_hash, h, HASH_BYTES);
		else
			memset(ret_hash, 0, HASH_BYTES);
		r = 0;
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : store_errno(rc);
	}
	sqlite3_reset(st);
	return r;
}

/* Only local documents have owners. */
static bool index_kind_valid(const char *kind, uid_t owner)
{
	if (kind && strcmp(kind, "local") == 0)
		return owner != (uid_t)-1;
	return kind && (strcmp(kind, "web") == 0 || strcmp(kind, "text") == 0) && owner == 0;
}

static bool index_passages_valid(size_t len, const struct store_passage *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i].start >= p[i].end || p[i].end > len ||
		    p[i].heading_start > p[i].heading_end || p[i].heading_end > len ||
		    (i > 0 && p[i].start < p[i - 1].end))
			return false;
	return true;
}

static int index_put_passages(struct store *s, int64_t doc_id, const char *text, size_t len,
    const struct store_passage *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *st = store_stmt(s, STMT_INDEX_PASSAGE_PUT);
		int r;

		if (st == NULL)
			return -EIO;
		r = store_bind_int(st, ":doc", doc_id);
		if (r == 0) r = store_bind_int(st, ":seq", (int64_t)i);
		if (r == 0) r = store_bind_int(st, ":start", (int64_t)p[i].start);
		if (r == 0) r = store_bind_int(st, ":end", (int64_t)p[i].end);
		if (r == 0) {
			int k = sqlite3_bind_parameter_index(st, ":heading");

			r = store_errno(sqlite3_bind_text64(st, k, text + p[i].heading_start,
			    p[i].heading_end - p[i].heading_start, SQLITE_STATIC, SQLITE_UTF8));
		}
		if (r == 0) {
			int k = sqlite3_bind_parameter_index(st, ":text");

			r = store_errno(sqlite3_bind_text64(st, k, text + p[i].start,
			    p[i].end - p[i].start, SQLITE_STATIC, SQLITE_UTF8));
		}
		if (r == 0)
			r = store_step_done(st);
		if (r < 0)
			return r;
	}
	return 0;
}

int store_index_put(struct store *s, const struct store_index_doc *doc,
    const struct store_passage *p, size_t n, int64_t now_ms, int64_t *ret_id,
    bool *ret_unchanged)
{
	uint8_t hash[HASH_BYTES], old_hash[HASH_BYTES];
	int64_t id = 0;
	sqlite3_stmt *st;
	bool exists, text = false;
	int r;

	if (doc == NULL || doc->key == NULL || doc->key[0] == '\0' || doc->title == NULL ||
	    (doc->text == NULL && doc->text_len > 0) || (p == NULL && n > 0) ||
	    !index_kind_valid(doc->kind, doc->owner))
		return -EINVAL;
	if (strlen(doc->key) > STORE_INDEX_MAX_KEY)
		return -E2BIG;
	if (n > STORE_INDEX_MAX_PASSAGES)
		return -E2BIG;
	/* Checked before the transaction: a bad call must not roll back an
	 * enclosing one. */
	if (!index_passages_valid(doc->text_len, p, n))
		return -EINVAL;
	store_index_doc_hash(doc->title, doc->text ? doc->text : "", doc->text_len, hash);

	r = store_begin(s);
	if (r < 0)
		return r;
	r = index_doc_find(s, doc->owner, doc->key, &id, old_hash, &text);
	if (r < 0 && r != -ENOENT)
		goto fail;
	exists = r == 0;
	/* A job's text is read by other jobs: its passages never change. */
	if (exists && (text || memcmp(hash, old_hash, HASH_BYTES) == 0)) {
		r = store_commit(s);
		if (r < 0)
			return r;
		if (ret_id)
			*ret_id = id;
		if (ret_unchanged)
			*ret_unchanged = true;
		return 0;
	}
	/* Before the title changes: the delete needs the indexed values. */
	if (exists) {
		r = index_doc_clear(s, id);
		if (r < 0)
			goto fail;
	}
	st = store_stmt(s, STMT_INDEX_DOC_PUT);
	if (st == NULL) {
		r = -EIO;
		goto fail;
	}
	r = store_bind_text(st, ":key", doc->key);
	if (r == 0) r = store_bind_int(st, ":owner", (int64_t)doc->owner);
	if (r == 0) r = store_bind_text(st, ":kind", doc->kind);
	if (r == 0) r = store_bind_text(st, ":title", doc->title);
	if (r == 0) r = store_bind_blob(st, ":hash", hash, HASH_BYTES);
	if (r == 0) r = store_bind_int(st, ":bytes", (int64_t)doc->text_len);
	if (r == 0) r = store_bind_int(st, ":passages", (int64_t)n);
	if (r == 0) r = store_bind_int(st, ":now", now_ms);
	if (r < 0)
		goto fail;
	r = store_step_returning(st, &id);
	if (r < 0)
		goto fail;
	r = index_put_passages(s, id, doc->text, doc->text_len, p, n);
	if (r < 0)
		goto fail;
	st = store_stmt(s, STMT_INDEX_FTS_INSERT);
	if (st == NULL) {
		r = -EIO;
		goto fail;
	}
	r = store_bind_int(st, ":doc", id);
	if (r == 0)
		r = store_step_done(st);
	if (r < 0)
		goto fail;
	r = store_commit(s);
	if (r < 0)
		return r;
	if (ret_id)
		*ret_id = id;
	if (ret_unchanged)
		*ret_unchanged = false;
	return 0;
fail:
	store_rollback(s);
	return r;
}

int store_index_delete(struct store *s, uid_t owner, const char *key)
{
	uint8_t hash[HASH_BYTES];
	sqlite3_stmt *st;
	bool text;
	int64_t id;
	int r;

	if (key == NULL)
		return -EINVAL;
	r = store_begin(s);
	if (r < 0)
		return r;
	r = index_doc_find(s, owner, key, &id, hash, &text);
	if (r == -ENOENT) {
		/* Not an error of the transaction: an enclosing one goes on. */
		r = store_commit(s);
		return r < 0 ? r : -ENOENT;
	}
	if (r == 0)
		r = index_doc_clear(s, id);
	if (r == 0) {
		st = store_stmt(s, STMT_INDEX_DOC_DELETE);
		r = st ? store_bind_int(st, ":doc", id) : -EIO;
		if (r == 0)
			r = store_step_done(st);
	}
	if (r < 0) {
		store_rollback(s);
		return r;
	}
	return store_commit(s);
}

int store_index_count(struct store *s, int64_t *ret_docs, int64_t *ret_passages)
{
	int64_t v[2];
	int r;

	r = store_step_ints(store_stmt(s, STMT_INDEX_COUNT), v, 2);
	if (r < 0)
		return r;
	*ret_docs = v[0];
	*ret_passages = v[1];
	return 0;
}

int store_index_check(struct store *s)
{
	int r = store_step_done(store_stmt(s, STMT_INDEX_CHECK));

	return r == -EIO ? -EBADMSG : r;
}

/* The documents already given, for STORE_INDEX_PER_DOC: open addressing
 * over at least twice as many slots as results, so lookups stay O(1)
 * however many passages are scanned. */
struct index_seen {
	int64_t *slot;		/* 0: empty (rowids start at 1) */
	size_t mask;
};

static void index_seen_init(struct index_seen *h, size_t limit)
{
	size_t n = 16;

	while (n < 2 * limit)
		n *= 2;
	h->slot = xcalloc(n, sizeof(*h->slot));
	h->mask = n - 1;
}

/* True when id was there already; adds it otherwise. */
static bool index_seen_add(struct index_seen *h, int64_t id)
{
	size_t i = (size_t)(((uint64_t)id * 0x9e3779b97f4a7c15u) >> 20) & h->mask;

	while (h->slot[i] != 0) {
		if (h->slot[i] == id)
			return true;
		i = (i + 1) & h->mask;
	}
	h->slot[i] = id;
	return false;
}

static const char *index_col(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	return t ? t : "";
}

/* Prepare one of the query statements for match. */
static int index_stmt(struct store *s, enum store_stmt_id id, const char *match, int64_t owner,
    int64_t job_id, int64_t limit, sqlite3_stmt **ret)
{
	sqlite3_stmt *st = store_stmt(s, id);
	int r;

	if (st == NULL)
		return -EIO;
	r = store_bind_text(st, ":match", match);
	if (r == 0)
		r = job_id > 0 ? store_bind_int(st, ":job", job_id) : store_bind_int(st, ":owner", owner);
	if (r == 0)
		r = store_bind_int(st, ":limit", limit);
	if (r < 0) {
		sqlite3_reset(st);
		return r;
	}
	*ret = st;
	return 0;
}

/* Candidate expansion terms of pseudo-relevance feedback. */
struct index_fb_term {
	char *term;		/* lowercased */
	double w;
};

static int index_fb_cmp(const void *pa, const void *pb)
{
	const struct index_fb_term *a = pa, *b = pb;

	if (a->w != b->w)
		return a->w > b->w ? -1 : 1;
	return strcmp(a->term, b->term);
}

static int index_fb_cmp_term(const void *pa, const void *pb)
{
	const struct index_fb_term *a = pa, *b = pb;

	return strcmp(a->term, b->term);
}

/* Passages in the feedback set, the expansion terms kept, and how many
 * times the query's own terms count against one expansion term: chosen on
 * Cranfield's odd-numbered queries (bench/rank; feedback sets of 3, 5, 7
 * and 10 passages, 10 to 30 terms, the query counted 1 to 3 times), and
 * they hold on the even ones. Candidates: the most frequent terms of the
 * feedback set, whose rarity is looked up. */
#define INDEX_FB_DOCS		5
#define INDEX_FB_TERMS		15
#define INDEX_FB_ORIG		2
#define INDEX_FB_CANDIDATES	64

/* Pseudo-relevance feedback (a relevance model, RM3-like): the terms of
 * the best passages for match, weighted by the passage's share of the
 * score and by their rarity in the index, join the query, which keeps
 * the larger weight by counting its own terms INDEX_FB_ORIG times.
 * *ret is match itself when nothing is found to add. */
static int index_feedback(struct store *s, enum store_stmt_id id, const char *match,
    int64_t owner, int64_t job_id, char **ret)
{
	struct index_fb_term *t = NULL;
	size_t n = 0, alloc = 0, k = 0;
	double total = 0;
	int64_t n_pass = 0, n_docs = 0, rows = 0;
	sqlite3_stmt *st;
	struct buf b;
	int rc, r;

	r = index_stmt(s, id, match, owner, job_id, INDEX_FB_DOCS, &st);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *parts[2] = { index_col(st, 9), index_col(st, 6) };
		double score = sqlite3_column_double(st, 10);
		size_t first = n, words = 0;

		for (int pi = 0; pi < 2; pi++) {
			const char *x = parts[pi];
			size_t i = 0, len = strlen(x);

			while (i < len) {
				size_t a;

				while (i < len && !index_word_byte((unsigned char)x[i]))
					i++;
				a = i;
				while (i < len && index_word_byte((unsigned char)x[i]))
					i++;
				if (i == a)
					continue;
				words++;
				if (i - a < 3 || i - a > 32 || index_stopword(x + a, i - a) ||
				    (x[a] >= '0' && x[a] <= '9'))
					continue;
				if (n == alloc) {
					alloc = alloc ? 2 * alloc : 256;
					t = xreallocarray(t, alloc, sizeof(*t));
				}
				t[n].term = xstrndup(x + a, i - a);
				for (char *c = t[n].term; *c; c++)
					if (*c >= 'A' && *c <= 'Z')
						*c = (char)(*c - 'A' + 'a');
				t[n++].w = score;
			}
		}
		/* Each occurrence weighs score / length: a term's weight is its
		 * frequency in the passage times the passage's weight. */
		for (size_t j = first; j < n; j++)
			t[j].w /= (double)(words ? words : 1);
		total += score;
		rows++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		r = store_errno(rc);
		goto out;
	}
	/* Fewer passages than the feedback set is too little evidence: in a
	 * handful of documents the "expansion" is whatever surrounds the hits. */
	if (n == 0 || total <= 0 || rows < INDEX_FB_DOCS) {
		*ret = xstrdup(match);
		goto out;
	}
	/* Merge repeats. */
	qsort(t, n, sizeof(*t), index_fb_cmp_term);
	for (size_t j = 1; j < n; j++) {
		if (strcmp(t[k].term, t[j].term) == 0) {
			t[k].w += t[j].w;
			free(t[j].term);
		} else
			t[++k] = t[j];
	}
	n = k + 1;
	qsort(t, n, sizeof(*t), index_fb_cmp);
	r = store_index_count(s, &n_docs, &n_pass);
	if (r < 0)
		goto out;
	/* Rarity: the most frequent candidates get their idf from the index. */
	for (size_t j = 0; j < n && j < INDEX_FB_CANDIDATES; j++) {
		char q[40];
		int64_t df = 0;

		snprintf(q, sizeof(q), "\"%s\"", t[j].term);
		r = index_df(s, q, INDEX_DF_CAP, &df);
		if (r < 0)
			goto out;
		t[j].w *= index_idf(n_pass, df);
	}
	qsort(t, n < INDEX_FB_CANDIDATES ? n : INDEX_FB_CANDIDATES, sizeof(*t), index_fb_cmp);
	buf_init(&b, 4 * STORE_INDEX_MAX_QUERY);
	/* FTS5's bm25 sums over the phrases of the query: a phrase given
	 * twice counts twice. */
	for (int w = 0; w < INDEX_FB_ORIG && r == 0; w++)
		r = buf_printf(&b, "%s%s", w ? " OR " : "", match);
	for (size_t j = 0, added = 0; j < n && j < INDEX_FB_CANDIDATES &&
	    added < (size_t)INDEX_FB_TERMS && r == 0; j++) {
		char q[40];

		snprintf(q, sizeof(q), "\"%s\"", t[j].term);
		if (strcasestr(match, q))
			continue;	/* a term of the query already */
		r = buf_printf(&b, " OR %s", q);
		added++;
	}
	if (r < 0) {
		buf_free(&b);
		goto out;
	}
	*ret = buf_steal(&b);
out:
	for (size_t j = 0; j < n; j++)
		free(t[j].term);
	free(t);
	return r;
}

/* One query: owner >= 0 for the user-facing statements, job_id > 0 for
 * a job's texts. */
static int index_query_run(struct store *s, int64_t owner, int64_t job_id, const char *query,
    unsigned flags, size_t limit, store_index_fn fn, void *userdata)
{
	bool per_doc = flags & STORE_INDEX_PER_DOC;
	bool snippet = job_id <= 0 && (flags & STORE_INDEX_SNIPPET);
	enum store_stmt_id id = job_id > 0 ? STMT_INDEX_QUERY_JOB :
	    snippet ? STMT_INDEX_QUERY_SNIPPET : STMT_INDEX_QUERY;
	struct index_seen seen = { NULL, 0 };
	sqlite3_stmt *st = NULL;
	size_t n = 0;
	char *match = NULL;
	int rc = SQLITE_DONE, r;

	if (s == NULL || fn == NULL)
		return -EINVAL;
	if (limit == 0)
		return 0;
	if (limit > STORE_INDEX_MAX_LIMIT)
		return -E2BIG;
	r = index_match_build(s, query, flags, &match);
	if (r == -ENODATA)
		return 0;	/* nothing to look for finds nothing */
	if (r < 0)
		return r;
	if (!(flags & STORE_INDEX_NO_FEEDBACK)) {
		char *x = NULL;

		r = index_feedback(s, job_id > 0 ? STMT_INDEX_QUERY_JOB : STMT_INDEX_QUERY, match,
		    owner, job_id, &x);
		if (r < 0) {
			free(match);
			return r;
		}
		free(match);
		match = x;
	}
	/* Per document, rows of documents already given are skipped: the
	 * scan goes on past limit, up to a bound. */
	r = index_stmt(s, id, match, owner, job_id,
	    per_doc ? STORE_INDEX_MAX_SCAN : (int64_t)limit, &st);
	if (r < 0) {
		free(match);
		return r;
	}
	if (per_doc)
		index_seen_init(&seen, limit);
	while (n < limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_index_hit h = {
			.passage_id = sqlite3_column_int64(st, 0),
			.doc_id = sqlite3_column_int64(st, 1),
			.seq = sqlite3_column_int64(st, 2),
			.start = sqlite3_column_int64(st, 3),
			.end = sqlite3_column_int64(st, 4),
			.heading = index_col(st, 5),
			.text = index_col(st, 6),
			.key = index_col(st, 7),
			.kind = index_col(st, 8),
			.title = index_col(st, 9),
			.score = sqlite3_column_double(st, 10),
			.snippet = snippet ? index_col(st, 11) : NULL,
			.text_hash = job_id > 0 ? index_col(st, 11) : NULL,
		};

		if (per_doc && index_seen_add(&seen, h.doc_id))
			continue;
		n++;
		r = fn(&h, userdata);
		if (r != 0)
			goto out;
	}
	if (n < limit && rc != SQLITE_DONE)
		r = store_errno(rc);
out:
	sqlite3_reset(st);
	free(seen.slot);
	free(match);
	return r < 0 ? r : 0;
}

int store_index_query(struct store *s, const char *query, unsigned flags, size_t limit,
    store_index_fn fn, void *userdata)
{
	return index_query_run(s, 0, 0, query, flags, limit, fn, userdata);
}

int store_index_query_owner(struct store *s, uid_t owner, const char *query, unsigned flags,
    size_t limit, store_index_fn fn, void *userdata)
{
	if (owner == (uid_t)-1)
		return -EINVAL;
	return index_query_run(s, (int64_t)owner, 0, query, flags, limit, fn, userdata);
}

int store_index_query_job(struct store *s, int64_t job_id, const char *query, unsigned flags,
    size_t limit, store_index_fn fn, void *userdata)
{
	if (job_id <= 0)
		return -EINVAL;
	return index_query_run(s, 0, job_id, query, flags, limit, fn, userdata);
}

int store_index_local_text(struct store *s, uid_t owner, const char *key, size_t max,
    char **ret_title, char **ret_text, size_t *ret_len)
{
	sqlite3_stmt *st;
	char *title = NULL, *text = NULL;
	int64_t doc = 0, bytes = 0;
	int rc, r;

	if (s == NULL || key == NULL || ret_title == NULL || ret_text == NULL || ret_len == NULL)
		return -EINVAL;
	st = store_stmt(s, STMT_INDEX_LOCAL_GET);
	if (st == NULL)
		return -EIO;
	r = store_bind_text(st, ":key", key);
	if (r == 0)
		r = store_bind_int(st, ":owner", (int64_t)owner);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		doc = sqlite3_column_int64(st, 0);
		title = xstrdup(index_col(st, 1));
		bytes = sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? -ENOENT : store_errno(rc);
	if (bytes < 0 || (uint64_t)bytes > max) {
		free(title);
		return bytes < 0 ? -EBADMSG : -EFBIG;
	}
	text = xmalloc((size_t)bytes + 1);
	memset(text, '\n', (size_t)bytes);
	text[bytes] = '\0';
	st = store_stmt(s, STMT_INDEX_PASSAGES);
	r = st ? store_bind_int(st, ":doc", doc) : -EIO;
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t a = sqlite3_column_int64(st, 0), b = sqlite3_column_int64(st, 1);
		const void *t = sqlite3_column_text(st, 2);

		/* The offsets were checked when stored; a row that disagrees is corrupt. */
		if (a < 0 || b <= a || b > bytes || sqlite3_column_bytes(st, 2) != b - a || t == NULL)
			r = -EBADMSG;
		else
			memcpy(text + a, t, (size_t)(b - a));
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = store_errno(rc);
	if (st)
		sqlite3_reset(st);
	if (r < 0) {
		free(title);
		free(text);
		return r;
	}
	*ret_title = title;
	*ret_text = text;
	*ret_len = (size_t)bytes;
	return 0;
}
