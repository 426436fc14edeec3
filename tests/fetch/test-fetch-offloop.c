/* Live test: storing a big fetched page (hashing and compressing its body)
 * runs off the event loop. A python3 http.server on 127.0.0.1 (started
 * here, on a port it picks, stopped by PID) serves a page just under the
 * 10 MiB body cap; a 2 ms timer on the loop records the longest stretch the
 * loop went without turning while the page is fetched and stored, and that
 * must stay well under what hashing and compressing that body takes on this
 * machine (measured here first). Also: cancelling or freeing the fetcher
 * at any moment of a big fetch is safe (run it under ASan). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>
#include <cmocka.h>
#include "../cmocka-skip.h"

#include "fetch.h"
#include "hash.h"
#include "http.h"
#include "store.h"

#define BIG (10 * 1024 * 1024 - 4096)
#define MID (1024 * 1024)	/* for the cancel test: stored within its wait */

static struct {
	char dir[64];
	pid_t server;
	int port;
	uv_loop_t loop;
	struct http *http;
	struct store *store;
	char *body;
} T;

/* Text that compresses like prose: pseudo-random words of a small vocabulary. */
static char *make_body(size_t n)
{
	static const char *const words[] = { "tide", "moon", "harbour", "gauge", "surge", "basin",
		"estuary", "current", "datum", "ebb", "flood", "spring", "neap", "chart", "sounding",
		"meridian" };
	char *b = malloc(n + 1);
	uint64_t x = 88172645463325252ULL;
	size_t i = 0;

	while (i < n) {
		const char *w;
		size_t k;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		w = words[x % 16];
		for (k = 0; w[k] && i < n; k++)
			b[i++] = w[k];
		if (i < n)
			b[i++] = (x >> 8) % 11 == 0 ? '\n' : ' ';
	}
	b[n] = '\0';
	return b;
}

static int start_server(void)
{
	char line[256];
	int out[2];
	FILE *fp;

	if (pipe(out) < 0)
		return -1;
	T.server = fork();
	if (T.server == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		int null = open("/dev/null", O_WRONLY);

		dup2(out[1], 1);
		if (null >= 0)
			dup2(null, 2);	/* its request log */
		close(out[0]);
		close(out[1]);
		execlp("python3", "python3", "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
		    "--directory", T.dir, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	fp = fdopen(out[0], "r");
	/* "Serving HTTP on 127.0.0.1 port N (...)": the port it picked */
	if (fp == NULL || fgets(line, sizeof(line), fp) == NULL ||
	    sscanf(line, "Serving HTTP on 127.0.0.1 port %d", &T.port) != 1) {
		if (fp)
			fclose(fp);
		return -1;
	}
	fclose(fp);	/* its later lines go nowhere: the server does not mind */
	return 0;
}

static void run_for_stop(uv_timer_t *t)
{
	uv_stop(t->loop);
}

/* Run the loop for ms (handles of the HTTP client stay open meanwhile). */
static void run_for(int ms)
{
	uv_timer_t t;

	uv_timer_init(&T.loop, &t);
	uv_timer_start(&t, run_for_stop, (uint64_t)ms, 0);
	uv_run(&T.loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&T.loop, UV_RUN_NOWAIT);
}

static int group_setup(void **state)
{
	char path[128];
	FILE *fp;
	struct http_limits lim = { .max_transfers = 8 };

	strcpy(T.dir, "/tmp/test-fetch-offloop-XXXXXX");
	if (mkdtemp(T.dir) == NULL)
		return -1;
	T.body = make_body(BIG);
	snprintf(path, sizeof(path), "%s/big.txt", T.dir);
	fp = fopen(path, "w");
	if (fp == NULL || fwrite(T.body, 1, BIG, fp) != BIG || fclose(fp) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/mid.txt", T.dir);
	fp = fopen(path, "w");
	if (fp == NULL || fwrite(T.body, 1, MID, fp) != MID || fclose(fp) != 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	if (start_server() < 0) {
		fprintf(stderr, "python3 -m http.server did not start\n");
		return -1;
	}
	hash_init();
	uv_loop_init(&T.loop);
	if (http_new(&T.loop, &lim, &T.http) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/db", T.dir);
	return store_open(path, &T.store) < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
	char cmd[128];

	if (T.server > 0) {
		kill(T.server, SIGTERM);
		waitpid(T.server, NULL, 0);
	}
	T.http = http_free(T.http);
	run_for(500);
	uv_loop_close(&T.loop);
	store_close(T.store);
	free(T.body);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", T.dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct fetch *new_fetch(void)
{
	static const char *const allow_lo[] = { "127.0.0.1/32" };
	struct fetch_config c;
	struct fetch *f = NULL;

	fetch_config_init(&c);
	c.allow_hosts = allow_lo;
	c.n_allow_hosts = 1;
	c.robots = false;
	c.host_delay_ms = 0;
	c.cache_ttl_ms = 0;	/* every fetch goes to the server */
	assert_int_equal(fetch_new(&T.loop, T.http, T.store, &c, &f), 0);
	return f;
}

struct outcome {
	bool done;
	int r;
	struct fetch_result res;
	uint8_t hash[HASH_BYTES];
	char error[256];
};

static void on_fetch(struct fetch_req *req, int r, const struct fetch_result *res, const char *msg,
    void *ud)
{
	struct outcome *o = ud;

	o->done = true;
	o->r = r;
	if (res) {
		o->res = *res;
		memcpy(o->hash, res->hash, HASH_BYTES);
		snprintf(o->error, sizeof(o->error), "%s", res->error ? res->error : "");
	}
	o->res.url = o->res.final_url = o->res.content_type = o->res.error = NULL;
}

/* The loop's longest stretch between two turns of a 2 ms timer. */
struct stall {
	uv_timer_t timer;
	uint64_t last_ns, max_ns, ticks;
};

static void stall_tick(uv_timer_t *t)
{
	struct stall *s = t->data;
	uint64_t now = uv_hrtime();

	if (s->last_ns && now - s->last_ns > s->max_ns)
		s->max_ns = now - s->last_ns;
	s->last_ns = now;
	s->ticks++;
}

static void test_big_page_stored_off_loop(void **state)
{
	struct fetch *f = new_fetch();
	struct outcome o = { 0 };
	struct stall st = { 0 };
	struct store_blob blob;
	uint8_t want[HASH_BYTES];
	char url[128], *got = NULL;
	uint64_t t0, cpu_ns, fetch_ns;
	size_t len;

	/* What storing this body costs in CPU, here and now. */
	t0 = uv_hrtime();
	hash_bytes(T.body, BIG, want);
	assert_int_equal(store_snapshot_encode(T.body, BIG, &blob), 0);
	cpu_ns = uv_hrtime() - t0;
	assert_string_equal(blob.encoding, "zlib");
	store_blob_clear(&blob);

	uv_timer_init(&T.loop, &st.timer);
	st.timer.data = &st;
	uv_timer_start(&st.timer, stall_tick, 2, 2);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/big.txt", T.port);
	t0 = uv_hrtime();
	assert_int_equal(fetch_start(f, url, on_fetch, &o, NULL), 0);
	while (!o.done)
		uv_run(&T.loop, UV_RUN_ONCE);
	fetch_ns = uv_hrtime() - t0;
	run_for(20);	/* a stall just before done shows in the next turns */
	uv_close((uv_handle_t *)&st.timer, NULL);
	fetch_free(f);
	run_for(10);

	assert_int_equal(o.r, 0);
	assert_string_equal(o.error, "");
	assert_int_equal(o.res.status, 200);
	assert_true(o.res.has_body);
	assert_int_equal(o.res.bytes, BIG);
	assert_memory_equal(o.hash, want, HASH_BYTES);
	/* stored, compressed, and it reads back */
	assert_int_equal(store_snapshot_get_encoded(T.store, want, BIG, &blob), 0);
	assert_string_equal(blob.encoding, "zlib");
	assert_true(blob.len < BIG / 2);
	store_blob_clear(&blob);
	assert_int_equal(store_snapshot_get(T.store, want, BIG, &got, &len), 0);
	assert_int_equal(len, BIG);
	assert_memory_equal(got, T.body, BIG);
	free(got);

	print_message("hash + compress of %d bytes: %.1f ms; fetching and storing it: %.1f ms, "
	    "%llu turns of a 2 ms timer, longest loop stall %.1f ms\n", BIG, cpu_ns / 1e6,
	    fetch_ns / 1e6, (unsigned long long)st.ticks, st.max_ns / 1e6);
	/* On the loop, the stall would be at least the hash and compression. */
	assert_true(st.max_ns < cpu_ns / 2);
}

/* Cancel the one waiter, or free the fetcher, after d ms of a 1 MiB fetch:
 * whether the transfer or the storing is under way, nothing leaks, nothing
 * is touched after it is freed, and a cancelled fetch never calls back. */
static void test_cancel_and_free_mid_fetch(void **state)
{
	static const int delays[] = { 0, 5, 15, 30, 60, 100, 150 };
	char url[128];

	for (size_t i = 0; i < sizeof(delays) / sizeof(delays[0]); i++) {
		for (int mode = 0; mode < 2; mode++) {
			struct fetch *f = new_fetch();
			struct outcome o = { 0 };
			struct fetch_req *req = NULL;
			uint64_t until;
			bool done_before;

			/* a new URL each time (the server ignores the query),
			 * so that nothing is served from the cache or a 304 */
			snprintf(url, sizeof(url), "http://127.0.0.1:%d/mid.txt?i=%zu&mode=%d", T.port,
			    i, mode);
			assert_int_equal(fetch_start(f, url, on_fetch, &o, &req), 0);
			until = uv_hrtime() + (uint64_t)delays[i] * 1000000;
			while (!o.done && uv_hrtime() < until)
				uv_run(&T.loop, UV_RUN_NOWAIT);
			done_before = o.done;
			if (!o.done && mode == 0)
				fetch_cancel(req);
			fetch_free(f);
			/* let the thread pool's work and the closes finish */
			run_for(400);
			assert_int_equal(o.done, done_before);	/* no callback after */
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_big_page_stored_off_loop),
		cmocka_unit_test(test_cancel_and_free_mid_fetch),
	};

	return test_run_group("fetch-offloop", tests, group_setup, group_teardown);
}
