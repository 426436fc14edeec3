/* bench/effect-replay: replay of a job's stored effects, as a job resuming
 * after a restart does. Stores N effects (default 10,000) for one job, then
 * replays them all from a fresh effects layer, synchronously (effect_run)
 * and deferred (EFFECT_RUN_DEFERRED, each done running the next), and
 * prints time per replay and, for the deferred run, the longest stretch the
 * loop went without turning (what other clients would wait).
 * Figures only: it never fails on a figure.
 *
 *   effect-replay-bench [N] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "effect.h"
#include "hash.h"
#include "store.h"

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* An executor that answers at once with a result of a few hundred bytes,
 * the size of a small search or fetch summary. */
static int quick_start(struct effect_exec *x, const json_t *request, void *userdata)
{
	effect_exec_done(x, 0, json_pack("{s:O, s:s}", "echo", json_object_get(request, "n"),
	    "text", "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod "
	    "tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis "
	    "nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat."), NULL);
	return 0;
}

static void quick_cancel(struct effect_exec *x, void *userdata)
{
}

static const struct effect_kind quick = { .name = "bench.quick", .start = quick_start,
	.cancel = quick_cancel };

struct run {
	struct effects *e;
	int64_t job;
	int n, next, done, replayed, errors;
	bool deferred;
	int64_t last_turn_ns, max_gap_ns, turns;
};

static void run_next(struct run *r);

static void on_done(struct effect_call *c, int rc, const json_t *result, bool replayed, void *ud)
{
	struct run *r = ud;

	r->done++;
	if (rc < 0)
		r->errors++;
	if (replayed)
		r->replayed++;
	if (r->deferred && r->next < r->n)
		run_next(r);
}

static void run_next(struct run *r)
{
	struct effect_opts opts = { .flags = EFFECT_RUN_DEFERRED };
	struct effect_call *c;
	json_t *req = json_pack("{s:i, s:s}", "n", r->next++, "q", "benchmark query");

	if (effect_run_opts(r->e, r->job, "bench.quick", req, r->deferred ? &opts : NULL, on_done,
	    r, &c) < 0)
		r->errors++;
	json_decref(req);
}

static void on_turn(uv_prepare_t *p)
{
	struct run *r = p->data;
	int64_t t = now_ns();

	if (r->last_turn_ns && t - r->last_turn_ns > r->max_gap_ns)
		r->max_gap_ns = t - r->last_turn_ns;
	r->last_turn_ns = t;
	r->turns++;
}

static int layer_new(uv_loop_t *loop, struct store *s, struct effects **ret)
{
	int r = effects_new(loop, s, ret);

	if (r == 0)
		r = effects_register(*ret, &quick);
	return r;
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/effect-replay-bench-XXXXXX", path[64], cmd[96];
	struct store_job sj = { .owner = 1, .kind = "bench", .question = "q", .state = JOB_RUNNING,
		.created = 1 };
	int n = argc > 1 ? atoi(argv[1]) : 10000;
	struct run r = { 0 };
	struct store *s = NULL;
	uv_loop_t loop;
	uv_prepare_t prep;
	int64_t t0, t1;

	if (n <= 0 || mkdtemp(dir) == NULL)
		return 2;
	hash_init();
	snprintf(path, sizeof(path), "%s/r.db", dir);
	uv_loop_init(&loop);
	if (store_open(path, &s) < 0 || store_job_insert(s, &sj, &r.job) < 0 ||
	    layer_new(&loop, s, &r.e) < 0)
		return 2;

	/* store n effects: each runs once (the executor answers at once) */
	r.n = n;
	t0 = now_ns();
	while (r.next < n)
		run_next(&r);
	t1 = now_ns();
	printf("effects stored:            %d in %.1f ms (%.1f us each, one transaction each)\n",
	    n, (t1 - t0) / 1e6, (t1 - t0) / 1e3 / n);

	/* as after a restart: a new layer, everything replays synchronously */
	r.e = effects_free(r.e);
	layer_new(&loop, s, &r.e);
	r.next = r.done = r.replayed = 0;
	t0 = now_ns();
	while (r.next < n)
		run_next(&r);
	t1 = now_ns();
	printf("synchronous replay:        %d of %d replayed, %.2f us per replay, %.1f ms in all"
	    " (the loop is blocked throughout)\n", r.replayed, n, (t1 - t0) / 1e3 / n, (t1 - t0) / 1e6);

	/* deferred: a chain, each done running the next, from the loop */
	r.e = effects_free(r.e);
	layer_new(&loop, s, &r.e);
	r.next = r.done = r.replayed = 0;
	r.deferred = true;
	uv_prepare_init(&loop, &prep);
	prep.data = &r;
	uv_prepare_start(&prep, on_turn);
	t0 = now_ns();
	run_next(&r);
	while (r.done < n && uv_run(&loop, UV_RUN_ONCE))
		;
	t1 = now_ns();
	printf("deferred replay:           %d of %d replayed, %.2f us per replay, %.1f ms in all\n",
	    r.replayed, n, (t1 - t0) / 1e3 / n, (t1 - t0) / 1e6);
	printf("  loop turns:              %lld (batch of %d), longest stretch without a turn %.2f ms\n",
	    (long long)r.turns, EFFECT_REPLAY_BATCH, r.max_gap_ns / 1e6);
	if (r.errors)
		printf("errors:                    %d\n", r.errors);

	uv_close((uv_handle_t *)&prep, NULL);
	effects_free(r.e);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	store_close(s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
