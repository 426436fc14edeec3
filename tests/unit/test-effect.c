/* Unit tests: the effects layer (effect/effect.c) with a counting test
 * executor, a real store and a real loop. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include <cmocka.h>

#include "effect.h"
#include "json.h"
#include "store.h"

static int executions, cancellations;
static int64_t last_job;
static json_t *last_hints;	/* what the executor was handed */

struct texec {
	struct effect_exec *x;
	uv_timer_t timer;
	bool fail;
	json_t *result;
};

static void texec_closed(uv_handle_t *h)
{
	struct texec *t = h->data;

	if (t->result)
		json_decref(t->result);
	free(t);
}

static void texec_fire(uv_timer_t *timer)
{
	struct texec *t = timer->data;
	json_t *res = t->result;

	t->result = NULL;
	if (t->fail) {
		json_decref(res);
		effect_exec_done(t->x, -EIO, NULL, NULL);
	}
	else
		effect_exec_done(t->x, 0, res, json_pack("{s:i}", "tokens", 10));
	uv_close((uv_handle_t *)&t->timer, texec_closed);
}

static int texec_start(struct effect_exec *x, const json_t *request, void *userdata)
{
	struct texec *t = calloc(1, sizeof(*t));
	int64_t ms = 10, big;
	bool fail = false;

	executions++;
	last_job = effect_exec_job_id(x);
	if (last_hints)
		json_decref(last_hints);
	last_hints = effect_exec_hints(x) ? json_deep_copy(effect_exec_hints(x)) : NULL;
	json_get_int(request, "ms", &ms);
	json_get_bool(request, "fail", &fail);
	t->x = x;
	t->fail = fail;
	t->result = json_pack("{s:O, s:i}", "echo", json_object_get(request, "v"), "run", executions);
	if (json_get_int(request, "big", &big) == 0) {
		/* a result of about big bytes */
		char *s = malloc((size_t)big + 1);

		memset(s, 'a', (size_t)big);
		s[big] = '\0';
		json_object_set_new(t->result, "echo", json_string(s));
		free(s);
	}
	uv_timer_init(effect_exec_loop(x), &t->timer);
	t->timer.data = t;
	uv_timer_start(&t->timer, texec_fire, (uint64_t)ms, 0);
	effect_exec_set_data(x, t);
	return 0;
}

static void texec_cancel(struct effect_exec *x, void *userdata)
{
	struct texec *t = effect_exec_get_data(x);

	cancellations++;
	uv_timer_stop(&t->timer);
	uv_close((uv_handle_t *)&t->timer, texec_closed);
}

static const struct effect_kind test_kind = {
	.name = "test.count", .start = texec_start, .cancel = texec_cancel,
};

struct fixture {
	char dir[64], path[128];
	uv_loop_t loop;
	struct store *s;
	struct effects *e;
	int64_t job_a, job_b;
};

struct outcome {
	int calls;
	int r;
	bool replayed;
	json_t *result;
};

static void on_done(struct effect_call *c, int r, const json_t *result, bool replayed, void *ud)
{
	struct outcome *o = ud;

	o->calls++;
	o->r = r;
	o->replayed = replayed;
	if (o->result)
		json_decref(o->result);
	o->result = result ? json_deep_copy(result) : NULL;
}

static void outcome_clear(struct outcome *o)
{
	if (o->result)
		json_decref(o->result);
	memset(o, 0, sizeof(*o));
}

static int64_t new_job(struct store *s)
{
	struct store_job j = { .owner = 1, .kind = "t", .question = "q", .state = JOB_RUNNING, .created = 1 };
	int64_t id;

	assert_int_equal(store_job_insert(s, &j, &id), 0);
	return id;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/test-effect-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/r.db", f->dir);
	uv_loop_init(&f->loop);
	if (store_open(f->path, &f->s) < 0 || effects_new(&f->loop, f->s, &f->e) < 0 ||
	    effects_register(f->e, &test_kind) < 0)
		return -1;
	f->job_a = new_job(f->s);
	f->job_b = new_job(f->s);
	executions = cancellations = 0;
	if (last_hints)
		json_decref(last_hints);
	last_hints = NULL;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	effects_free(f->e);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	store_close(f->s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static json_t *req(const char *v)
{
	return json_pack("{s:s}", "v", v);
}

static void test_run_then_replay(void **state)
{
	struct fixture *f = *state;
	struct outcome o = { 0 };
	struct effect_call *c = NULL;
	struct effects_stats st;
	json_t *r = req("x");
	struct store_job *j = NULL;

	assert_int_equal(effect_run(f->e, f->job_a, "test.count", r, on_done, &o, &c), 0);
	assert_non_null(c);
	assert_int_equal(o.calls, 0);		/* still running */
	assert_int_equal(effects_in_flight(f->e), 1);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.r, 0);
	assert_false(o.replayed);
	assert_string_equal(json_string_value(json_object_get(o.result, "echo")), "x");
	assert_int_equal(executions, 1);
	assert_int_equal(last_job, f->job_a);

	/* the same request again: replayed from the store, synchronously */
	outcome_clear(&o);
	assert_int_equal(effect_run(f->e, f->job_a, "test.count", r, on_done, &o, &c), 0);
	assert_null(c);
	assert_int_equal(o.calls, 1);
	assert_true(o.replayed);
	assert_int_equal(json_integer_value(json_object_get(o.result, "run")), 1);
	assert_int_equal(executions, 1);	/* the executor did not run */

	/* the job's progress was stored with the result */
	assert_int_equal(store_job_get(f->s, f->job_a, &j), 0);
	assert_int_equal(json_integer_value(json_object_get(j->usage, "effects")), 1);
	assert_int_equal(json_integer_value(json_object_get(j->usage, "tokens")), 10);
	assert_int_equal(j->events, 1);	/* the run; a replay adds none */
	store_job_free(j);

	effects_get_stats(f->e, &st);
	assert_int_equal(st.run, 1);
	assert_int_equal(st.replayed, 1);
	outcome_clear(&o);
	json_decref(r);
}

static void test_key_is_canonical(void **state)
{
	json_t *a = json_loads("{\"a\":1,\"b\":[1,2,{\"y\":2,\"x\":1}]}", 0, NULL);
	json_t *b = json_loads("{\"b\":[1,2,{\"x\":1,\"y\":2}],\"a\":1}", 0, NULL);
	json_t *c = json_loads("{\"b\":[2,1,{\"x\":1,\"y\":2}],\"a\":1}", 0, NULL);
	uint8_t ka[HASH_BYTES], kb[HASH_BYTES], kc[HASH_BYTES], kd[HASH_BYTES];

	assert_int_equal(effect_key("k", a, ka), 0);
	assert_int_equal(effect_key("k", b, kb), 0);
	assert_int_equal(effect_key("k", c, kc), 0);
	assert_int_equal(effect_key("other", a, kd), 0);
	assert_memory_equal(ka, kb, HASH_BYTES);
	assert_memory_not_equal(ka, kc, HASH_BYTES);
	assert_memory_not_equal(ka, kd, HASH_BYTES);
	json_decref(a);
	json_decref(b);
	json_decref(c);
}

static void test_survives_restart(void **state)
{
	struct fixture *f = *state;
	struct outcome o = { 0 };
	struct effect_call *c;
	json_t *r = req("persist");

	assert_int_equal(effect_run(f->e, f->job_a, "test.count", r, on_done, &o, &c), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(executions, 1);

	/* a new store handle and a new effects layer: the result replays */
	effects_free(f->e);
	store_close(f->s);
	assert_int_equal(store_open(f->path, &f->s), 0);
	assert_int_equal(effects_new(&f->loop, f->s, &f->e), 0);
	assert_int_equal(effects_register(f->e, &test_kind), 0);
	outcome_clear(&o);
	assert_int_equal(effect_run(f->e, f->job_a, "test.count", r, on_done, &o, &c), 0);
	assert_true(o.replayed);
	assert_int_equal(executions, 1);
	/* per job: job b runs it for itself */
	outcome_clear(&o);
	assert_int_equal(effect_run(f->e, f->job_b, "test.count", r, on_done, &o, &c), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_false(o.replayed);
	assert_int_equal(executions, 2);
	outcome_clear(&o);
	json_decref(r);
}

static void test_concurrent_identical_run_once(void **state)
{
	struct fixture *f = *state;
	struct outcome o[4] = { 0 };
	struct effect_call *c;
	struct effects_stats st;
	json_t *r = req("same"), *got = NULL;
	uint8_t key[HASH_BYTES];

	/* twice from job a, twice from job b, all at once */
	for (int i = 0; i < 4; i++)
		assert_int_equal(effect_run(f->e, i < 2 ? f->job_a : f->job_b, "test.count", r,
		    on_done, &o[i], &c), 0);
	assert_int_equal(effects_in_flight(f->e), 1);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(executions, 1);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(o[i].calls, 1);
		assert_int_equal(o[i].r, 0);
		assert_int_equal(json_integer_value(json_object_get(o[i].result, "run")), 1);
		outcome_clear(&o[i]);
	}
	effects_get_stats(f->e, &st);
	assert_int_equal(st.run, 1);
	assert_int_equal(st.shared, 3);
	/* both jobs have it stored */
	assert_int_equal(effect_key("test.count", r, key), 0);
	assert_int_equal(store_effect_get(f->s, f->job_a, key, &got), 0);
	json_decref(got);
	assert_int_equal(store_effect_get(f->s, f->job_b, key, &got), 0);
	json_decref(got);
	json_decref(r);
}

static void test_transient_failure_not_stored(void **state)
{
	struct fixture *f = *state;
	struct outcome o = { 0 };
	struct effect_call *c;
	json_t *r = json_pack("{s:s, s:b}", "v", "f", "fail", 1);
	uint8_t key[HASH_BYTES];
	json_t *got = NULL;

	assert_int_equal(effect_run(f->e, f->job_a, "test.count", r, on_done, &o, &c), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(o.r, -EIO);
	assert_int_equal(effect_key("test.count", r, key), 0);
	assert_int_equal(store_effect_get(f->s, f->job_a, key, &got), -ENOENT);
	/* so it runs again next time */
	assert_int_equal(effect_run(f->e, f->job_a, "test.count", r, on_done, &o, &c), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(executions, 2);
	outcome_clear(&o);
	json_decref(r);
}

static void test_cancel(void **state)
{
	struct fixture *f = *state;
	struct outcome o1 = { 0 }, o2 = { 0 }, o3 = { 0 };
	struct effect_call *c1, *c2, *c3;
	json_t *r = json_pack("{s:s, s:i}", "v", "slow", "ms", 200), *r2 = req("other");

	assert_int_equal(effect_run(f->e, f->job_a, "test.count", r, on_done, &o1, &c1), 0);
	assert_int_equal(effect_run(f->e, f->job_b, "test.count", r, on_done, &o2, &c2), 0);
	/* one waiter leaves: the executor goes on for the other */
	effect_call_cancel(c1);
	assert_int_equal(o1.calls, 1);
	assert_int_equal(o1.r, -ECANCELED);
	assert_int_equal(cancellations, 0);
	/* the last waiter leaves: the executor is cancelled */
	effect_call_cancel(c2);
	assert_int_equal(o2.r, -ECANCELED);
	assert_int_equal(cancellations, 1);
	assert_int_equal(effects_in_flight(f->e), 0);

	/* cancelling a job cancels its calls only */
	assert_int_equal(effect_run(f->e, f->job_a, "test.count", r, on_done, &o1, &c1), 0);
	assert_int_equal(effect_run(f->e, f->job_b, "test.count", r2, on_done, &o3, &c3), 0);
	effects_cancel_job(f->e, f->job_a);
	assert_int_equal(o1.r, -ECANCELED);
	assert_int_equal(o3.calls, 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(o3.calls, 1);
	assert_int_equal(o3.r, 0);
	outcome_clear(&o1);
	outcome_clear(&o2);
	outcome_clear(&o3);
	json_decref(r);
	json_decref(r2);
}

static void test_drain_and_unknown(void **state)
{
	struct fixture *f = *state;
	struct outcome o = { 0 }, o2 = { 0 };
	struct effect_call *c;
	json_t *r = req("inflight"), *r2 = req("late");

	assert_int_equal(effect_run(f->e, f->job_a, "no.such.kind", r, on_done, &o, &c), -EOPNOTSUPP);
	assert_int_equal(effect_run(f->e, f->job_a, "test.count", r, on_done, &o, &c), 0);
	effects_drain(f->e);
	assert_int_equal(effect_run(f->e, f->job_a, "test.count", r2, on_done, &o2, &c), -ESHUTDOWN);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(o.r, 0);	/* in flight when draining began: finished and stored */
	assert_int_equal(o2.calls, 0);
	/* stored results still replay while draining */
	outcome_clear(&o);
	assert_int_equal(effect_run(f->e, f->job_a, "test.count", r, on_done, &o, &c), 0);
	assert_true(o.replayed);
	outcome_clear(&o);
	json_decref(r);
	json_decref(r2);
}

static void test_clock(void **state)
{
	struct fixture *f = *state;
	struct outcome o = { 0 };
	struct effect_call *c;
	json_t *r = json_pack("{s:s}", "for", "deadline-1");
	int64_t first;

	/* completes synchronously, and replays the same reading */
	assert_int_equal(effect_run(f->e, f->job_a, "clock.now", r, on_done, &o, &c), 0);
	assert_null(c);
	assert_int_equal(o.calls, 1);
	assert_false(o.replayed);
	first = json_integer_value(json_object_get(o.result, "ms"));
	assert_true(first > 1700000000000LL);
	outcome_clear(&o);
	assert_int_equal(effect_run(f->e, f->job_a, "clock.now", r, on_done, &o, &c), 0);
	assert_true(o.replayed);
	assert_int_equal(json_integer_value(json_object_get(o.result, "ms")), first);
	outcome_clear(&o);
	json_decref(r);
}

/* Callbacks that cancel or start effects from inside done: every pattern
 * must leave each call with exactly one done and touch no freed memory. */
struct reentry {
	struct fixture *f;
	struct effect_call *c[3];
	struct outcome o[3];
	int mode;
	json_t *next_req;
	struct outcome next;
	struct effect_call *next_c;
};

enum { RE_CANCEL_SIBLING, RE_CANCEL_SELF, RE_CANCEL_JOB, RE_RUN_NEW };

static void reentry_done(struct effect_call *c, int r, const json_t *result, bool replayed, void *ud)
{
	struct reentry *t = ud;
	int i = c == t->c[0] ? 0 : c == t->c[1] ? 1 : 2;
	int other = i == 0 ? 1 : 0;
	bool first = t->o[0].calls + t->o[1].calls + t->o[2].calls == 0;

	on_done(c, r, result, replayed, &t->o[i]);
	if (!first)
		return;
	switch (t->mode) {
	case RE_CANCEL_SIBLING:
		effect_call_cancel(t->c[other]);
		break;
	case RE_CANCEL_SELF:
		effect_call_cancel(c);	/* already done: a no-op */
		break;
	case RE_CANCEL_JOB:
		effects_cancel_job(t->f->e, t->f->job_a);
		break;
	case RE_RUN_NEW:
		assert_int_equal(effect_run(t->f->e, t->f->job_a, "test.count", t->next_req, on_done,
		    &t->next, &t->next_c), 0);
		break;
	}
}

static void test_cancel_sibling_from_done(void **state)
{
	struct fixture *f = *state;
	struct reentry t = { .f = f, .mode = RE_CANCEL_SIBLING };
	json_t *r = req("twice");

	/* a gather step asking for one URL twice */
	assert_int_equal(effect_run(f->e, f->job_a, "test.count", r, reentry_done, &t, &t.c[0]), 0);
	assert_int_equal(effect_run(f->e, f->job_a, "test.count", r, reentry_done, &t, &t.c[1]), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(t.o[0].calls, 1);
	assert_int_equal(t.o[1].calls, 1);
	/* one got the result, the other was cancelled by it */
	assert_true((t.o[0].r == 0 && t.o[1].r == -ECANCELED) ||
	    (t.o[1].r == 0 && t.o[0].r == -ECANCELED));
	assert_int_equal(executions, 1);
	assert_int_equal(cancellations, 0);	/* the executor had finished */
	assert_int_equal(effects_in_flight(f->e), 0);
	outcome_clear(&t.o[0]);
	outcome_clear(&t.o[1]);
	json_decref(r);
}

static void test_cancel_self_from_done(void **state)
{
	struct fixture *f = *state;
	struct reentry t = { .f = f, .mode = RE_CANCEL_SELF };
	json_t *r = req("self");

	assert_int_equal(effect_run(f->e, f->job_a, "test.count", r, reentry_done, &t, &t.c[0]), 0);
	assert_int_equal(effect_run(f->e, f->job_b, "test.count", r, reentry_done, &t, &t.c[1]), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	/* each heard exactly once, with the result */
	assert_int_equal(t.o[0].calls, 1);
	assert_int_equal(t.o[1].calls, 1);
	assert_int_equal(t.o[0].r, 0);
	assert_int_equal(t.o[1].r, 0);
	assert_int_equal(cancellations, 0);
	outcome_clear(&t.o[0]);
	outcome_clear(&t.o[1]);
	json_decref(r);
}

static void test_cancel_job_from_done(void **state)
{
	struct fixture *f = *state;
	struct reentry t = { .f = f, .mode = RE_CANCEL_JOB };
	struct outcome slow = { 0 };
	struct effect_call *cs;
	json_t *r = req("job"), *rs = json_pack("{s:s, s:i}", "v", "slow", "ms", 300);

	/* job a twice and job b once on one execution, and a slower one of job a */
	assert_int_equal(effect_run(f->e, f->job_a, "test.count", r, reentry_done, &t, &t.c[0]), 0);
	assert_int_equal(effect_run(f->e, f->job_a, "test.count", r, reentry_done, &t, &t.c[1]), 0);
	assert_int_equal(effect_run(f->e, f->job_b, "test.count", r, reentry_done, &t, &t.c[2]), 0);
	assert_int_equal(effect_run(f->e, f->job_a, "test.count", rs, on_done, &slow, &cs), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	for (int i = 0; i < 3; i++)
		assert_int_equal(t.o[i].calls, 1);
	/* the first callback cancelled job a: the slow one and whichever job-a
	 * call had not yet heard; job b still got its result */
	assert_int_equal(slow.calls, 1);
	assert_int_equal(slow.r, -ECANCELED);
	assert_int_equal(t.o[2].r, 0);
	/* at most one job-a call (one delivered before the cancel) got the result */
	assert_true(t.o[0].r == -ECANCELED || t.o[1].r == -ECANCELED);
	assert_true(t.o[0].r == 0 || t.o[0].r == -ECANCELED);
	assert_true(t.o[1].r == 0 || t.o[1].r == -ECANCELED);
	assert_int_equal(cancellations, 1);	/* the slow executor */
	assert_int_equal(effects_in_flight(f->e), 0);
	for (int i = 0; i < 3; i++)
		outcome_clear(&t.o[i]);
	outcome_clear(&slow);
	json_decref(r);
	json_decref(rs);
}

static void test_run_from_done(void **state)
{
	struct fixture *f = *state;
	struct reentry t = { .f = f, .mode = RE_RUN_NEW };
	json_t *r = req("first");

	/* the same request again, from its own callback: replays from the store */
	t.next_req = r;
	assert_int_equal(effect_run(f->e, f->job_a, "test.count", r, reentry_done, &t, &t.c[0]), 0);
	assert_int_equal(effect_run(f->e, f->job_a, "test.count", r, reentry_done, &t, &t.c[1]), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(t.o[0].r, 0);
	assert_int_equal(t.o[1].r, 0);
	assert_int_equal(t.next.calls, 1);
	assert_true(t.next.replayed);
	assert_null(t.next_c);
	assert_int_equal(executions, 1);

	/* a new request from the callback: runs */
	outcome_clear(&t.o[0]);
	outcome_clear(&t.o[1]);
	outcome_clear(&t.next);
	t.next_req = req("second");
	json_decref(r);
	r = req("first-b");
	assert_int_equal(effect_run(f->e, f->job_a, "test.count", r, reentry_done, &t, &t.c[0]), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(t.o[0].r, 0);
	assert_int_equal(t.next.calls, 1);
	assert_int_equal(t.next.r, 0);
	assert_false(t.next.replayed);
	assert_int_equal(executions, 3);
	outcome_clear(&t.o[0]);
	outcome_clear(&t.next);
	json_decref(t.next_req);
	json_decref(r);
}

static void test_key_refuses_unencodable(void **state)
{
	struct fixture *f = *state;
	struct outcome o = { 0 };
	struct effect_call *c = NULL;
	uint8_t key[HASH_BYTES];
	/* strings that are not UTF-8 have no canonical JSON */
	json_t *bad1 = json_pack("{s:o}", "v", json_stringn_nocheck("\xff\xfe", 2));
	json_t *bad2 = json_pack("{s:o}", "v", json_stringn_nocheck("\xc3\x28", 2));

	assert_int_equal(effect_key("test.count", bad1, key), -EINVAL);
	assert_int_equal(effect_key("test.count", NULL, key), -EINVAL);
	/* two different bad requests must not share a key: both are refused */
	assert_int_equal(effect_run(f->e, f->job_a, "test.count", bad1, on_done, &o, &c), -EINVAL);
	assert_int_equal(effect_run(f->e, f->job_a, "test.count", bad2, on_done, &o, &c), -EINVAL);
	assert_int_equal(effect_run(f->e, f->job_a, "test.count", NULL, on_done, &o, &c), -EINVAL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(o.calls, 0);
	assert_int_equal(executions, 0);
	json_decref(bad1);
	json_decref(bad2);
}

static void test_result_too_big(void **state)
{
	struct fixture *f = *state;
	struct outcome o = { 0 };
	struct effect_call *c = NULL;
	json_t *r = json_pack("{s:s, s:I}", "v", "big", "big", (json_int_t)EFFECT_MAX_RESULT + 1);
	json_t *ok = json_pack("{s:s, s:I}", "v", "fits", "big", (json_int_t)1000);
	uint8_t key[HASH_BYTES];
	json_t *got = NULL;

	assert_int_equal(effect_run(f->e, f->job_a, "test.count", r, on_done, &o, &c), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	/* the caller hears a stored too_big outcome, not 64 MiB */
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.r, 0);
	assert_string_equal(json_string_value(json_object_get(o.result, "error")), "too_big");
	assert_true(json_integer_value(json_object_get(o.result, "bytes")) > EFFECT_MAX_RESULT);
	assert_int_equal(json_integer_value(json_object_get(o.result, "max")), EFFECT_MAX_RESULT);
	assert_null(json_object_get(o.result, "echo"));
	assert_int_equal(effect_key("test.count", r, key), 0);
	assert_int_equal(store_effect_get(f->s, f->job_a, key, &got), 0);
	assert_string_equal(json_string_value(json_object_get(got, "error")), "too_big");
	json_decref(got);
	/* and replays it: the run is not paid for again */
	outcome_clear(&o);
	assert_int_equal(effect_run(f->e, f->job_a, "test.count", r, on_done, &o, &c), 0);
	assert_true(o.replayed);
	assert_string_equal(json_string_value(json_object_get(o.result, "error")), "too_big");
	assert_int_equal(executions, 1);

	/* a result under the cap is stored as it is */
	outcome_clear(&o);
	assert_int_equal(effect_run(f->e, f->job_a, "test.count", ok, on_done, &o, &c), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(o.r, 0);
	assert_int_equal(strlen(json_string_value(json_object_get(o.result, "echo"))), 1000);
	outcome_clear(&o);
	json_decref(r);
	json_decref(ok);
}

static void test_replay_adds_no_event(void **state)
{
	struct fixture *f = *state;
	struct outcome o = { 0 };
	struct effect_call *c;
	struct store_job *j = NULL;
	json_t *r = req("quiet");

	assert_int_equal(effect_run(f->e, f->job_a, "test.count", r, on_done, &o, &c), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	/* a job resuming replays its effects many times over: the log stays */
	for (int i = 0; i < 5; i++) {
		outcome_clear(&o);
		assert_int_equal(effect_run(f->e, f->job_a, "test.count", r, on_done, &o, &c), 0);
		assert_true(o.replayed);
	}
	assert_int_equal(store_job_get(f->s, f->job_a, &j), 0);
	assert_int_equal(j->events, 1);
	store_job_free(j);
	outcome_clear(&o);
	json_decref(r);
}

static void test_decide(void **state)
{
	struct fixture *f = *state;
	json_t *first = json_pack("{s:s}", "stop", "deadline"), *other = json_pack("{s:s}", "stop", "no");
	json_t *got = NULL, *stored = NULL;
	struct store_job *j = NULL;
	uint8_t key[HASH_BYTES];
	json_t *kreq = json_pack("{s:s}", "name", "round-3");
	char long_name[EFFECT_MAX_DECISION_NAME + 2];

	/* the first proposal is stored and returned */
	assert_int_equal(effect_decide(f->e, f->job_a, "round-3", first, &got), 0);
	assert_true(json_equal(got, first));
	json_decref(got);
	/* a later call gets the stored value, not its own proposal */
	assert_int_equal(effect_decide(f->e, f->job_a, "round-3", other, &got), 0);
	assert_true(json_equal(got, first));
	json_decref(got);
	/* under the key of kind "decision" and {"name": name} */
	assert_int_equal(effect_key(EFFECT_DECISION_KIND, kreq, key), 0);
	assert_int_equal(store_effect_get(f->s, f->job_a, key, &stored), 0);
	assert_true(json_equal(stored, first));
	json_decref(stored);
	/* other names and other jobs decide for themselves */
	assert_int_equal(effect_decide(f->e, f->job_a, "round-4", other, &got), 0);
	assert_true(json_equal(got, other));
	json_decref(got);
	assert_int_equal(effect_decide(f->e, f->job_b, "round-3", other, &got), 0);
	assert_true(json_equal(got, other));
	json_decref(got);
	/* one event for the job's log per decision taken, none for a replay */
	assert_int_equal(store_job_get(f->s, f->job_a, &j), 0);
	assert_int_equal(j->events, 2);
	store_job_free(j);

	/* after a restart the stored value still wins */
	effects_free(f->e);
	store_close(f->s);
	assert_int_equal(store_open(f->path, &f->s), 0);
	assert_int_equal(effects_new(&f->loop, f->s, &f->e), 0);
	assert_int_equal(effects_register(f->e, &test_kind), 0);
	assert_int_equal(effect_decide(f->e, f->job_a, "round-3", other, &got), 0);
	assert_true(json_equal(got, first));
	json_decref(got);

	/* bad names and values are refused, *ret untouched */
	got = NULL;
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(effect_decide(f->e, f->job_a, "", first, &got), -EINVAL);
	assert_int_equal(effect_decide(f->e, f->job_a, NULL, first, &got), -EINVAL);
	assert_int_equal(effect_decide(f->e, f->job_a, long_name, first, &got), -EINVAL);
	assert_int_equal(effect_decide(f->e, f->job_a, "bad\xff", first, &got), -EINVAL);
	assert_int_equal(effect_decide(f->e, f->job_a, "x", NULL, &got), -EINVAL);
	assert_null(got);
	/* "decision" is not a kind anyone can run */
	assert_int_equal(effect_run(f->e, f->job_a, EFFECT_DECISION_KIND, kreq, on_done, NULL, NULL),
	    -EOPNOTSUPP);
	json_decref(first);
	json_decref(other);
	json_decref(kreq);
}

static void test_hints_not_in_key(void **state)
{
	struct fixture *f = *state;
	struct outcome o = { 0 };
	struct effect_call *c;
	json_t *r = req("hinted"), *h1 = json_pack("{s:i, s:i}", "priority", 5, "slot", 2);
	json_t *h2 = json_pack("{s:i}", "priority", -3), *bad = json_integer(1);
	struct effect_opts o1 = { .hints = h1 }, o2 = { .hints = h2 }, ob = { .hints = bad };
	struct effect_opts of = { .flags = 0x80 };

	assert_int_equal(effect_run_opts(f->e, f->job_a, "test.count", r, &o1, on_done, &o, &c), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(o.r, 0);
	assert_false(o.replayed);
	/* the executor saw the hints */
	assert_non_null(last_hints);
	assert_int_equal(json_integer_value(json_object_get(last_hints, "priority")), 5);
	assert_int_equal(json_integer_value(json_object_get(last_hints, "slot")), 2);
	/* another priority, or none: the same key, a replay */
	outcome_clear(&o);
	assert_int_equal(effect_run_opts(f->e, f->job_a, "test.count", r, &o2, on_done, &o, &c), 0);
	assert_true(o.replayed);
	outcome_clear(&o);
	assert_int_equal(effect_run(f->e, f->job_a, "test.count", r, on_done, &o, &c), 0);
	assert_true(o.replayed);
	assert_int_equal(executions, 1);
	/* without hints the executor gets NULL */
	outcome_clear(&o);
	json_decref(r);
	r = req("plain");
	assert_int_equal(effect_run(f->e, f->job_a, "test.count", r, on_done, &o, &c), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_null(last_hints);
	/* hints must be an object; unknown flags are refused */
	assert_int_equal(effect_run_opts(f->e, f->job_a, "test.count", r, &ob, on_done, &o, &c), -EINVAL);
	assert_int_equal(effect_run_opts(f->e, f->job_a, "test.count", r, &of, on_done, &o, &c), -EINVAL);
	outcome_clear(&o);
	json_decref(r);
	json_decref(h1);
	json_decref(h2);
	json_decref(bad);
}

/* A chain of deferred replays: each done runs the next one. */
struct chain {
	struct fixture *f;
	int next, total, replayed, sync_calls;
	bool in_run;
	int64_t iterations_at_end;
};

static int64_t loop_iterations;

static void count_iteration(uv_prepare_t *p)
{
	loop_iterations++;
}

static void chain_run(struct chain *ch);

static void chain_done(struct effect_call *c, int r, const json_t *result, bool replayed, void *ud)
{
	struct chain *ch = ud;

	assert_non_null(c);		/* deferred calls always have a handle */
	assert_int_equal(r, 0);
	if (ch->in_run)
		ch->sync_calls++;
	if (replayed)
		ch->replayed++;
	if (ch->next < ch->total)
		chain_run(ch);
	else
		ch->iterations_at_end = loop_iterations;
}

static void chain_run(struct chain *ch)
{
	struct effect_opts opts = { .flags = EFFECT_RUN_DEFERRED };
	struct effect_call *c = NULL;
	json_t *r = json_pack("{s:s, s:i, s:i}", "v", "chain", "n", ch->next++, "ms", 0);

	ch->in_run = true;
	assert_int_equal(effect_run_opts(ch->f->e, ch->f->job_a, "test.count", r, &opts, chain_done,
	    ch, &c), 0);
	ch->in_run = false;
	assert_non_null(c);
	json_decref(r);
}

static void test_deferred_replay_yields(void **state)
{
	struct fixture *f = *state;
	struct chain ch = { .f = f, .total = 1000 };
	uv_prepare_t prep;

	/* first pass: each effect runs (a miss goes to the executor) */
	chain_run(&ch);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(executions, 1000);
	assert_int_equal(ch.replayed, 0);
	assert_int_equal(ch.sync_calls, 0);

	/* second pass, as after a restart: all replay, never inside
	 * effect_run_opts, and the loop turns between batches */
	uv_prepare_init(&f->loop, &prep);
	uv_prepare_start(&prep, count_iteration);
	loop_iterations = 0;
	ch = (struct chain){ .f = f, .total = 1000 };
	chain_run(&ch);
	assert_int_equal(ch.replayed, 0);	/* nothing before the loop runs */
	while (ch.replayed < 1000 && uv_run(&f->loop, UV_RUN_ONCE))
		;
	assert_int_equal(ch.replayed, 1000);
	assert_int_equal(ch.sync_calls, 0);
	assert_int_equal(executions, 1000);
	assert_true(ch.iterations_at_end >= 1000 / EFFECT_REPLAY_BATCH);
	uv_close((uv_handle_t *)&prep, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
}

static void test_deferred_cancel(void **state)
{
	struct fixture *f = *state;
	struct effect_opts opts = { .flags = EFFECT_RUN_DEFERRED };
	struct outcome o1 = { 0 }, o2 = { 0 }, o3 = { 0 };
	struct effect_call *c1, *c2, *c3;
	json_t *r1 = req("d1"), *r2 = req("d2"), *r3 = req("d3");

	assert_int_equal(effect_run_opts(f->e, f->job_a, "test.count", r1, &opts, on_done, &o1, &c1), 0);
	assert_int_equal(effect_run_opts(f->e, f->job_a, "test.count", r2, &opts, on_done, &o2, &c2), 0);
	assert_int_equal(effect_run_opts(f->e, f->job_b, "test.count", r3, &opts, on_done, &o3, &c3), 0);
	/* cancelled while waiting for the loop: done once, nothing runs */
	effect_call_cancel(c1);
	assert_int_equal(o1.calls, 1);
	assert_int_equal(o1.r, -ECANCELED);
	effects_cancel_job(f->e, f->job_a);
	assert_int_equal(o2.calls, 1);
	assert_int_equal(o2.r, -ECANCELED);
	assert_int_equal(o3.calls, 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(o1.calls, 1);
	assert_int_equal(o2.calls, 1);
	assert_int_equal(o3.calls, 1);
	assert_int_equal(o3.r, 0);
	assert_false(o3.replayed);
	assert_int_equal(executions, 1);
	/* a deferred miss while draining hears -ESHUTDOWN through done */
	effects_drain(f->e);
	assert_int_equal(effect_run_opts(f->e, f->job_a, "test.count", r1, &opts, on_done, &o1, &c1), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(o1.calls, 2);
	assert_int_equal(o1.r, -ESHUTDOWN);
	/* and a pending call is cancelled when the layer is freed */
	outcome_clear(&o2);
	assert_int_equal(effect_run_opts(f->e, f->job_b, "test.count", r3, &opts, on_done, &o2, &c2), 0);
	f->e = effects_free(f->e);
	assert_int_equal(o2.calls, 1);
	assert_int_equal(o2.r, -ECANCELED);
	outcome_clear(&o1);
	outcome_clear(&o2);
	outcome_clear(&o3);
	json_decref(r1);
	json_decref(r2);
	json_decref(r3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_run_then_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_is_canonical, setup, teardown),
		cmocka_unit_test_setup_teardown(test_survives_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_identical_run_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transient_failure_not_stored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drain_and_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_sibling_from_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_self_from_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_job_from_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_from_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_refuses_unencodable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_result_too_big, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_adds_no_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_decide, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hints_not_in_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_replay_yields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_cancel, setup, teardown),
	};
	hash_init();
	return cmocka_run_group_tests_name("effect", tests, NULL, NULL);
}
