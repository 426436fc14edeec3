/* bench/rank: ranking quality and speed of the local full-text index on
 * Cranfield (1,400 abstracts, 225 queries, graded judgments) or any
 * collection in its file layout. Indexes the documents through tools/index
 * (title = .T, text = .W) and, in the same run, into the strong plain
 * baseline: one FTS5 row per document, porter over unicode61, title and
 * body columns, bm25 with default weights, the query's stopwords dropped.
 * Prints nDCG@10 and MAP of both for the odd-numbered queries (what the
 * ranking was tuned on) and the even ones (held out) apart, then indexing
 * speed and query latency. Figures only: it never fails. */
#include <errno.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "hash.h"
#include "index.h"
#include "store.h"
#include "xmalloc.h"

#define MAX_DOCS	2000
#define MAX_QUERIES	400
#define DEPTH		1000	/* documents ranked per query for MAP */
#define NDCG_K		10

struct doc {
	int id;
	struct buf title, text;
};

struct query {
	struct buf text;
	/* gain of each document for this query: 0 = not relevant / unjudged */
	unsigned char gain[MAX_DOCS + 1];
	int n_rel;
};

static struct doc docs[MAX_DOCS];
static int n_docs;
static struct query queries[MAX_QUERIES];
static int n_queries;

/* The files have CRLF line ends. */
static char *next_line(char *s)
{
	char *line = strtok(s, "\n");

	if (line && line[0] && line[strlen(line) - 1] == '\r')
		line[strlen(line) - 1] = '\0';
	return line;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *read_all(const char *dir, const char *name)
{
	char path[4096];
	struct buf b;
	char chunk[65536];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	buf_init(&b, 64u << 20);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_append(&b, chunk, n) < 0) {
			fclose(f);
			buf_free(&b);
			return NULL;
		}
	fclose(f);
	return buf_steal(&b);
}

/* The SMART format: ".X" lines start fields; .W may come twice (doc 576
 * holds two records), its parts are joined. */
static void parse_docs(char *s)
{
	char field = 0;
	struct doc *d = NULL;

	for (char *line = next_line(s); line; line = next_line(NULL)) {
		if (line[0] == '.' && line[1] && (line[2] == '\0' || line[2] == ' ')) {
			field = line[1];
			if (field == 'I') {
				if (n_docs == MAX_DOCS)
					break;
				d = &docs[n_docs++];
				d->id = atoi(line + 3);
				buf_init(&d->title, 1 << 16);
				buf_init(&d->text, 1 << 20);
			}
			continue;
		}
		if (d == NULL)
			continue;
		if (field == 'T' && d->text.len == 0) {
			if (d->title.len)
				buf_putc(&d->title, ' ');
			buf_puts(&d->title, line);
		} else if (field == 'W') {
			if (d->text.len)
				buf_putc(&d->text, '\n');
			buf_puts(&d->text, line);
		}
	}
}

/* Queries are numbered 1..225 by position in cranqrel, whatever their .I. */
static void parse_queries(char *s)
{
	struct query *q = NULL;
	char field = 0;

	for (char *line = next_line(s); line; line = next_line(NULL)) {
		if (line[0] == '.' && line[1] && (line[2] == '\0' || line[2] == ' ')) {
			field = line[1];
			if (field == 'I') {
				if (n_queries == MAX_QUERIES)
					break;
				q = &queries[n_queries++];
				buf_init(&q->text, 1 << 16);
			}
			continue;
		}
		if (q && field == 'W') {
			if (q->text.len)
				buf_putc(&q->text, ' ');
			buf_puts(&q->text, line);
		}
	}
}

/* Cleverdon's codes: 1 complete answer, 2 high relevance, 3 useful, 4
 * minimum interest, 5 no interest; -1 also means not relevant. Gains:
 * 1 -> 4, 2 -> 3, 3 -> 2, 4 -> 1, 5 and -1 -> 0. */
static int grade_gain(int code)
{
	return code >= 1 && code <= 4 ? 5 - code : 0;
}

static int parse_qrels(char *s)
{
	int judged = 0;

	for (char *line = next_line(s); line; line = next_line(NULL)) {
		int q, d, code;

		if (sscanf(line, "%d %d %d", &q, &d, &code) != 3)
			continue;
		if (q < 1 || q > n_queries || d < 1 || d > MAX_DOCS)
			continue;
		queries[q - 1].gain[d] = (unsigned char)grade_gain(code);
		judged++;
	}
	for (int i = 0; i < n_queries; i++)
		for (int d = 1; d <= MAX_DOCS; d++)
			queries[i].n_rel += queries[i].gain[d] > 0;
	return judged;
}

/* nDCG@10 with linear gains (trec_eval's convention) and log2(rank + 1)
 * discounts; the ideal ranking is all judged documents by gain. AP over
 * the ranked list, divided by all relevant documents (gain > 0). */
static void score_run(const struct query *q, const int *ranked, int n, double *ndcg, double *ap)
{
	int gains[5] = { 0 }, k = 0, hits = 0;
	double dcg = 0, idcg = 0, sum = 0;

	for (int i = 0; i < n; i++) {
		int g = q->gain[ranked[i]];

		if (i < NDCG_K)
			dcg += g / log2(i + 2.0);
		if (g > 0) {
			hits++;
			sum += (double)hits / (i + 1);
		}
	}
	for (int d = 1; d <= MAX_DOCS; d++)
		gains[q->gain[d]]++;
	for (int g = 4; g > 0 && k < NDCG_K; g--)
		for (int c = 0; c < gains[g] && k < NDCG_K; c++, k++)
			idcg += g / log2(k + 2.0);
	*ndcg = idcg > 0 ? dcg / idcg : 0;
	*ap = q->n_rel > 0 ? sum / q->n_rel : 0;
}

struct ranked {
	int ids[DEPTH];
	int n;
};

static int collect(const struct store_index_hit *h, void *userdata)
{
	struct ranked *r = userdata;

	if (r->n < DEPTH && strncmp(h->key, "cranfield:", 10) == 0)
		r->ids[r->n++] = atoi(h->key + 10);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void latency(const char *name, double *ms, int n)
{
	double sum = 0;

	qsort(ms, (size_t)n, sizeof(*ms), cmp_double);
	for (int i = 0; i < n; i++)
		sum += ms[i];
	printf("  %-44s mean %.3f ms, p50 %.3f ms, p95 %.3f ms, max %.3f ms\n", name, sum / n,
	    ms[n / 2], ms[(n * 95) / 100], ms[n - 1]);
}

static int baseline_open(const char *path, sqlite3 **ret)
{
	sqlite3 *db;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		return -EIO;
	/* The same durability settings as the store. */
	if (sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
	    " CREATE VIRTUAL TABLE base USING fts5(title, text, tokenize = 'porter unicode61');"
	    " CREATE VIRTUAL TABLE weak USING fts5(text)", NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "baseline: %s\n", sqlite3_errmsg(db));
		sqlite3_close(db);
		return -EIO;
	}
	*ret = db;
	return 0;
}

static void baseline_query(sqlite3_stmt *sel, const char *text, unsigned flags,
    struct ranked *out)
{
	char *match = NULL;

	if (store_index_match(text, flags, &match) < 0)
		return;
	sqlite3_bind_text(sel, 1, match, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(sel, 2, DEPTH);
	while (out->n < DEPTH && sqlite3_step(sel) == SQLITE_ROW)
		out->ids[out->n++] = sqlite3_column_int(sel, 0);
	sqlite3_reset(sel);
	free(match);
}

/* Mean nDCG@10 and MAP over the odd-numbered, the even-numbered and all
 * queries with relevant documents. */
struct scores {
	double nd[MAX_QUERIES], ap[MAX_QUERIES];
};

static void report(const char *name, const struct scores *sc)
{
	double sum[3][2] = { { 0 } };
	int n[3] = { 0 };

	for (int i = 0; i < n_queries; i++) {
		int half = (i + 1) % 2 ? 0 : 1;	/* queries are numbered from 1 */

		if (queries[i].n_rel == 0)
			continue;
		sum[half][0] += sc->nd[i];
		sum[half][1] += sc->ap[i];
		sum[2][0] += sc->nd[i];
		sum[2][1] += sc->ap[i];
		n[half]++;
		n[2]++;
	}
	printf("%-50s", name);
	for (int h = 0; h < 3; h++)
		printf(" %7.4f %7.4f", n[h] ? sum[h][0] / n[h] : 0, n[h] ? sum[h][1] / n[h] : 0);
	printf("\n");
}

static int load_baseline(sqlite3 *db, const char *table, bool title)
{
	sqlite3_stmt *ins = NULL;
	char sql[128];

	snprintf(sql, sizeof(sql), title ? "INSERT INTO %s (rowid, title, text) VALUES (?, ?, ?)" :
	    "INSERT INTO %s (rowid, text) VALUES (?, ?)", table);
	if (sqlite3_prepare_v2(db, sql, -1, &ins, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	for (int i = 0; i < n_docs; i++) {
		int k = 1;

		sqlite3_bind_int(ins, k++, docs[i].id);
		if (title)
			sqlite3_bind_text(ins, k++, docs[i].title.data ? docs[i].title.data : "", -1,
			    SQLITE_STATIC);
		sqlite3_bind_text(ins, k, docs[i].text.data ? docs[i].text.data : "", -1, SQLITE_STATIC);
		if (sqlite3_step(ins) != SQLITE_DONE) {
			fprintf(stderr, "baseline insert: %s\n", sqlite3_errmsg(db));
			sqlite3_finalize(ins);
			return -EIO;
		}
		sqlite3_reset(ins);
	}
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	sqlite3_finalize(ins);
	return 0;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "../shared/data/ir-cranfield";
	char tmpl[] = "/tmp/rank-bench.XXXXXX", path[128], cmd[160];
	char *all, *qry, *rel;
	struct store *s = NULL;
	sqlite3 *base = NULL;
	sqlite3_stmt *sel = NULL, *sel_weak = NULL;
	double t0, t_ours, t_base, *lat_ours, *lat_base, *lat_top, lat_long = 0;
	size_t lat_long_bytes = 0;
	static struct scores sc_ours, sc_base, sc_weak;
	size_t passages = 0, bytes = 0;
	int judged, evaluated = 0, r;

	all = read_all(dir, "cran.all.1400");
	qry = read_all(dir, "cran.qry");
	rel = read_all(dir, "cranqrel");
	if (all == NULL || qry == NULL || rel == NULL) {
		printf("bench/rank: no Cranfield data at %s (../shared/data is absent): "
		    "nothing to measure\n", dir);
		return 0;
	}
	parse_docs(all);
	parse_queries(qry);
	judged = parse_qrels(rel);
	hash_init();
	if (mkdtemp(tmpl) == NULL) {
		perror("mkdtemp");
		return 1;
	}

	/* Ours: the real path, one transaction per document as the CLI's walk does. */
	snprintf(path, sizeof(path), "%s/store.db", tmpl);
	r = store_open(path, &s);
	if (r < 0) {
		fprintf(stderr, "store_open: %s\n", strerror(-r));
		return 1;
	}
	t0 = now_s();
	for (int i = 0; i < n_docs; i++) {
		char key[32];
		size_t n = 0;

		snprintf(key, sizeof(key), "cranfield:%d", docs[i].id);
		r = index_add(s, key, "local", docs[i].title.data ? docs[i].title.data : "",
		    docs[i].text.data, docs[i].text.len, 1, &n, NULL);
		if (r < 0) {
			fprintf(stderr, "index_add %s: %s (%s)\n", key, strerror(-r), store_errmsg(s));
			return 1;
		}
		passages += n;
		bytes += docs[i].text.len + docs[i].title.len;
	}
	t_ours = now_s() - t0;

	/* The baselines: one row per document, one transaction. */
	snprintf(path, sizeof(path), "%s/base.db", tmpl);
	if (baseline_open(path, &base) < 0)
		return 1;
	t0 = now_s();
	if (load_baseline(base, "base", true) < 0)
		return 1;
	t_base = now_s() - t0;
	if (load_baseline(base, "weak", false) < 0)
		return 1;
	sqlite3_prepare_v2(base, "SELECT rowid FROM base WHERE base MATCH ? ORDER BY rank LIMIT ?",
	    -1, &sel, NULL);
	sqlite3_prepare_v2(base, "SELECT rowid FROM weak WHERE weak MATCH ? ORDER BY rank LIMIT ?",
	    -1, &sel_weak, NULL);

	lat_ours = xcalloc((size_t)n_queries, sizeof(double));
	lat_base = xcalloc((size_t)n_queries, sizeof(double));
	lat_top = xcalloc((size_t)n_queries, sizeof(double));
	for (int i = 0; i < n_queries; i++) {
		const struct query *q = &queries[i];
		struct ranked ours = { .n = 0 }, theirs = { .n = 0 }, weak = { .n = 0 }, top = { .n = 0 };

		/* The agent's call: ten documents, best passage each, snippets. */
		t0 = now_s();
		r = index_query(s, q->text.data, NDCG_K, STORE_INDEX_PER_DOC | STORE_INDEX_SNIPPET,
		    collect, &top);
		lat_top[i] = (now_s() - t0) * 1e3;
		t0 = now_s();
		if (r == 0)
			r = index_query(s, q->text.data, DEPTH, STORE_INDEX_PER_DOC, collect, &ours);
		lat_ours[i] = (now_s() - t0) * 1e3;
		if (r < 0) {
			fprintf(stderr, "query %d: %s (%s)\n", i + 1, strerror(-r), store_errmsg(s));
			return 1;
		}
		t0 = now_s();
		baseline_query(sel, q->text.data, 0, &theirs);
		lat_base[i] = (now_s() - t0) * 1e3;
		baseline_query(sel_weak, q->text.data, STORE_INDEX_ALL_TERMS, &weak);
		if (q->n_rel == 0)
			continue;	/* nothing relevant: no score */
		evaluated++;
		score_run(q, ours.ids, ours.n, &sc_ours.nd[i], &sc_ours.ap[i]);
		score_run(q, theirs.ids, theirs.n, &sc_base.nd[i], &sc_base.ap[i]);
		score_run(q, weak.ids, weak.n, &sc_weak.nd[i], &sc_weak.ap[i]);
	}

	/* A long query (a planner's paragraph): the queries run together up
	 * to 10 KiB, so its terms are selected by their idf in the index. */
	{
		struct buf lq;
		struct ranked lr = { .n = 0 };
		double lms[5];

		buf_init(&lq, 16 * 1024);
		for (int i = 0; i < n_queries && lq.len < 10 * 1024; i++)
			if (buf_puts(&lq, queries[i].text.data) < 0 || buf_putc(&lq, ' ') < 0)
				break;
		for (int k = 0; k < 5; k++) {
			lr.n = 0;
			t0 = now_s();
			r = index_query(s, lq.data, NDCG_K, STORE_INDEX_PER_DOC | STORE_INDEX_SNIPPET,
			    collect, &lr);
			lms[k] = (now_s() - t0) * 1e3;
			if (r < 0) {
				fprintf(stderr, "long query: %s\n", strerror(-r));
				return 1;
			}
		}
		lat_long_bytes = lq.len;
		qsort(lms, 5, sizeof(lms[0]), cmp_double);
		lat_long = lms[2];
		buf_free(&lq);
	}

	printf("bench/rank: %s, %d documents, %d queries (%d with relevant documents), "
	    "%d judgments\n", dir, n_docs, n_queries, evaluated, judged);
	printf("grades -> gains: 1 (complete answer) 4, 2 (high) 3, 3 (useful) 2, 4 (minimum) 1,"
	    " 5 and -1 0;\n  nDCG@%d with linear gains and log2(rank+1) discounts; MAP over the"
	    " top %d documents, relevant = gain > 0;\n  odd: the queries the ranking was tuned on,"
	    " even: held out\n", NDCG_K, DEPTH);
	printf("%-50s %15s %15s %15s\n", "", "odd (tuned)", "even (held out)", "all");
	printf("%-50s %7s %7s %7s %7s %7s %7s\n", "index", "nDCG@10", "MAP", "nDCG@10", "MAP",
	    "nDCG@10", "MAP");
	report("researchd tools/index", &sc_ours);
	report("baseline: FTS5 bm25, porter, title+body, -stop", &sc_base);
	report("  weak: FTS5 bm25, unicode61, body, all terms", &sc_weak);
	printf("indexing (ours: one transaction per document; baseline: one in all):\n");
	printf("  %-44s %.3f s, %zu passages, %.0f passages/s, %.0f docs/s, %.1f MB/s\n",
	    "researchd tools/index", t_ours, passages, passages / t_ours, n_docs / t_ours,
	    bytes / t_ours / 1e6);
	printf("  %-44s %.3f s, %.0f docs/s\n", "baseline FTS5", t_base, n_docs / t_base);
	printf("query latency (%d queries, warm, in-process):\n", n_queries);
	latency("ours, top 10 per document with snippets", lat_top, n_queries);
	latency("ours, top 1000 documents", lat_ours, n_queries);
	latency("baseline, top 1000 documents", lat_base, n_queries);
	printf("  %-44s median of 5 %.3f ms (%zu bytes)\n", "ours, one long query, top 10 per document",
	    lat_long, lat_long_bytes);

	sqlite3_finalize(sel);
	sqlite3_finalize(sel_weak);
	sqlite3_close(base);
	store_close(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpl);
	for (int i = 0; i < n_docs; i++) {
		buf_free(&docs[i].title);
		buf_free(&docs[i].text);
	}
	for (int i = 0; i < n_queries; i++)
		buf_free(&queries[i].text);
	free(lat_ours);
	free(lat_base);
	free(lat_top);
	free(all);
	free(qry);
	free(rel);
	return 0;
}
