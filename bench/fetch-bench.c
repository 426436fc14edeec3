/* bench/fetch: pages per second fetched + extracted + stored through the
 * real fetch path (tools/fetch over tools/http, the SSRF guard, the source
 * cache with zlib snapshots), with extraction on the libuv thread pool and
 * the text indexed, against a local nginx. Politeness is off for the bench.
 * Prints figures; never a pass/fail test.
 *
 *   fetch-bench URL_PREFIX COUNT DB_PATH
 * fetches URL_PREFIX0.html ... URL_PREFIX(COUNT-1).html */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <uv.h>

#include "extract.h"
#include "fetch.h"
#include "hash.h"
#include "http.h"
#include "index.h"
#include "store.h"
#include "str.h"

#define BENCH_IN_FLIGHT 64

struct page {
	struct bench *b;
	int n;
	uv_work_t work;
	char *body;
	size_t len;
	char *url;
	struct extract_result *ex;
	int ex_r;
};

struct bench {
	uv_loop_t *loop;
	struct fetch *f;
	struct store *store;
	const char *prefix;
	int count, next, done, failed, extracted, passages;
};

static void bench_next(struct bench *b);

static void extract_work(uv_work_t *w)
{
	struct page *p = w->data;
	struct extract_options o = { .content_type = "text/html", .base_url = p->url };

	p->ex_r = extract_html(p->body, p->len, &o, &p->ex);
}

static void extract_done(uv_work_t *w, int status)
{
	struct page *p = w->data;
	struct bench *b = p->b;
	size_t n = 0;

	if (p->ex_r == 0) {
		b->extracted++;
		if (index_add(b->store, p->url, "web", p->ex->title ? p->ex->title : "", p->ex->text,
		    p->ex->text_len, time_now_ms(), &n, NULL) == 0)
			b->passages += (int)n;
	} else
		b->failed++;
	extract_result_free(p->ex);
	free(p->body);
	free(p->url);
	free(p);
	b->done++;
	bench_next(b);
}

static void fetched(struct fetch_req *req, int r, const struct fetch_result *res, const char *msg,
    void *ud)
{
	struct page *p = ud;
	struct bench *b = p->b;

	if (r < 0 || res->error || !res->has_body ||
	    store_snapshot_get(b->store, res->hash, 16 << 20, &p->body, &p->len) < 0) {
		if (b->failed++ < 3)
			fprintf(stderr, "page %d: %s\n", p->n, r < 0 ? msg : res->error ? res->error : "no body");
		free(p->url);
		free(p);
		b->done++;
		bench_next(b);
		return;
	}
	p->work.data = p;
	uv_queue_work(b->loop, &p->work, extract_work, extract_done);
}

static void bench_next(struct bench *b)
{
	while (b->next < b->count && b->next - b->done < BENCH_IN_FLIGHT) {
		struct page *p = calloc(1, sizeof(*p));
		char url[512];
		struct fetch_req *req;

		p->b = b;
		p->n = b->next++;
		snprintf(url, sizeof(url), "%s%d.html", b->prefix, p->n);
		p->url = strdup(url);
		if (fetch_start(b->f, url, fetched, p, &req) < 0) {
			b->failed++;
			b->done++;
			free(p->url);
			free(p);
		}
	}
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv)
{
	static const char *const allow[] = { "127.0.0.1/32" };
	struct bench b = { 0 };
	struct http_limits hl = { .max_transfers = 32 };
	struct fetch_config c;
	struct http *http = NULL;
	struct rusage ru;
	uv_loop_t loop;
	int64_t t0, t1;
	double c0, c1;

	if (argc != 4) {
		fprintf(stderr, "usage: fetch-bench URL_PREFIX COUNT DB_PATH\n");
		return 2;
	}
	hash_init();
	uv_loop_init(&loop);
	b.loop = &loop;
	b.prefix = argv[1];
	b.count = atoi(argv[2]);
	if (store_open(argv[3], &b.store) < 0 || http_new(&loop, &hl, &http) < 0)
		return 1;
	fetch_config_init(&c);
	c.allow_hosts = allow;
	c.n_allow_hosts = 1;
	c.robots = false;
	c.host_delay_ms = 0;
	c.host_max_active = 32;
	if (fetch_new(&loop, http, b.store, &c, &b.f) < 0)
		return 1;
	t0 = time_mono_ms();
	c0 = cpu_s();
	bench_next(&b);
	while (b.done < b.count)
		uv_run(&loop, UV_RUN_ONCE);
	t1 = time_mono_ms();
	c1 = cpu_s();
	getrusage(RUSAGE_SELF, &ru);
	printf("pages: %d fetched + extracted + stored + indexed (%d failed), %d passages\n",
	    b.extracted, b.failed, b.passages);
	printf("wall: %.2f s = %.0f pages/s\n", (t1 - t0) / 1000.0, b.count * 1000.0 / (double)(t1 - t0));
	printf("CPU of this process: %.3f ms per page (fetch client, snapshots, extraction, index)\n",
	    (c1 - c0) * 1000.0 / b.count);
	printf("peak RSS: %ld KiB\n", ru.ru_maxrss);
	fetch_free(b.f);
	http_free(http);
	uv_run(&loop, UV_RUN_DEFAULT);
	store_close(b.store);
	return b.failed ? 1 : 0;
}
