/* Unit tests of cli/progress.c: a research job's "progress" event read,
 * the estimate of how far it is and what is left, and the lines shown. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "progress.h"

static json_t *event(const char *phase, int round)
{
	return json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}",
	    "phase", phase, "round", round, "questions_open", 3, "questions_done", 2,
	    "sources", 14, "findings_kept", 22, "findings_rejected", 3, "tokens", 45100,
	    "max_tokens", 2000000, "model_calls", 17);
}

static json_t *job(int depth, int max_time, int completion, int llm_ms)
{
	return json_pack("{s:{s:i, s:i, s:i}, s:{s:i, s:i}}",
	    "options", "max_depth", depth, "max_time", max_time, "max_tokens", 2000000,
	    "usage", "completion_tokens", completion, "llm_ms", llm_ms);
}

static void test_update(void **state)
{
	struct cli_progress p = { 0 };
	json_t *ev = event("read", 2), *bad;

	assert_int_equal(cli_progress_update(&p, ev), 0);
	assert_true(p.have);
	assert_string_equal(p.phase, "read");
	assert_int_equal(p.round, 2);
	assert_int_equal(p.sources, 14);
	assert_int_equal(p.findings_rejected, 3);
	assert_int_equal(p.tokens, 45100);
	assert_int_equal(p.model_calls, 17);
	/* Not a progress event, or one with text that is not a phase name:
	 * refused, and what was known stays. */
	bad = json_pack("{s:s}", "phase", "read");
	assert_int_equal(cli_progress_update(&p, bad), -EINVAL);
	json_decref(bad);
	bad = json_pack("{s:s, s:i}", "phase", "\x1b[2Jx", "round", 1);
	assert_int_equal(cli_progress_update(&p, bad), -EINVAL);
	json_decref(bad);
	json_object_set_new(ev, "sources", json_integer(-1));
	assert_int_equal(cli_progress_update(&p, ev), -EINVAL);
	assert_int_equal(p.sources, 14);
	assert_string_equal(p.phase, "read");
	json_decref(ev);
}

static void test_fraction(void **state)
{
	struct cli_progress p = { 0 };
	json_t *ev, *j = job(3, 3600, 500, 20000);

	cli_progress_job(&p, j);
	json_decref(j);
	assert_int_equal(p.max_depth, 3);
	assert_int_equal(p.max_time, 3600);
	/* Nothing seen yet: nothing known. */
	assert_true(cli_progress_fraction(&p, 100) == 0);
	assert_int_equal(cli_progress_left(&p, 100), -1);

	/* Reading in round 2 of 3: 0.08 + 0.67 * (1 + 0.55) / 3. */
	ev = event("read", 2);
	cli_progress_update(&p, ev);
	json_decref(ev);
	assert_float_equal(cli_progress_fraction(&p, 120), 0.08 + 0.67 * 1.55 / 3, 1e-9);
	/* Round 1 searching is the start of research, with the share of the
	 * token budget spent (45100 of 2M) as a floor... */
	ev = event("search", 1);
	cli_progress_update(&p, ev);
	json_decref(ev);
	assert_float_equal(cli_progress_fraction(&p, 0), 0.08 + 0.67 * 45100.0 / 2000000, 1e-9);
	/* ...unless half the time budget is gone: research stops when it runs
	 * out, so the share spent is a floor. */
	assert_float_equal(cli_progress_fraction(&p, 1800), 0.08 + 0.67 * 0.5, 1e-9);
	/* A round past max_depth does not go past the end of research. */
	ev = event("reflect", 9);
	cli_progress_update(&p, ev);
	json_decref(ev);
	assert_float_equal(cli_progress_fraction(&p, 10), 0.75, 1e-9);
	/* Writing and publishing are fixed points; done is the end. */
	ev = event("write", 3);
	cli_progress_update(&p, ev);
	json_decref(ev);
	assert_float_equal(cli_progress_fraction(&p, 10), 0.82, 1e-9);
	ev = event("done", 3);
	cli_progress_update(&p, ev);
	json_decref(ev);
	assert_float_equal(cli_progress_fraction(&p, 10), 1.0, 1e-9);
	assert_int_equal(cli_progress_left(&p, 10), 0);
}

static void test_left(void **state)
{
	struct cli_progress p = { 0 };
	json_t *ev = event("read", 2), *j = job(3, 3600, 500, 20000);

	cli_progress_job(&p, j);
	cli_progress_update(&p, ev);
	json_decref(ev);
	json_decref(j);
	/* 0.42617 done after 120 s: 120 * 0.57383 / 0.42617 * 1.25 = 202 s,
	 * rounded up to the minute. */
	assert_int_equal(cli_progress_left(&p, 120), 240);
	/* Under a minute: to 10 s. 12 s in: 12 * 1.34648 * 1.25 = 20.2 s. */
	assert_int_equal(cli_progress_left(&p, 12), 30);
	/* Too early to say. */
	assert_int_equal(cli_progress_left(&p, 5), -1);
	ev = event("brief", 1);
	cli_progress_update(&p, ev);
	json_decref(ev);
	assert_int_equal(cli_progress_left(&p, 600), -1);
}

static void test_speed_and_lines(void **state)
{
	struct cli_progress p = { 0 };
	json_t *ev = event("read", 2), *j = job(3, 3600, 500, 20000);
	struct buf b;

	cli_progress_job(&p, j);
	cli_progress_update(&p, ev);
	json_decref(ev);
	json_decref(j);
	/* 500 tokens in 20 s of model time. */
	assert_float_equal(cli_progress_speed(&p), 25.0, 1e-9);

	buf_init(&b, 4096);
	assert_int_equal(cli_progress_format(&p, 120, false, &b), 0);
	assert_string_equal(b.data, "read, round 2 of 3: sub-questions 3 open, 2 done; "
	    "sources 14; findings 22 kept, 3 rejected; tokens 45.1k of 2.00M; "
	    "model 25.0 tokens/s; elapsed 2m00s; ~4m00s left");
	buf_reset(&b);
	assert_int_equal(cli_progress_format(&p, 120, true, &b), 0);
	assert_string_equal(b.data, "read r2/3  q 3 open 2 done  src 14  find 22 ok 3 rej"
	    "  tok 45.1k/2.00M  25.0 tok/s  2m00s  ~4m00s left");
	/* A job that has ended: no estimate. */
	p.ended = true;
	buf_reset(&b);
	assert_int_equal(cli_progress_format(&p, 120, true, &b), 0);
	assert_string_equal(b.data, "read r2/3  q 3 open 2 done  src 14  find 22 ok 3 rej"
	    "  tok 45.1k/2.00M  25.0 tok/s  2m00s");
	p.ended = false;
	/* No start known, no usage: those parts are left out, not made up. */
	p.completion_tokens = p.llm_ms = 0;
	buf_reset(&b);
	assert_int_equal(cli_progress_format(&p, -1, false, &b), 0);
	assert_string_equal(b.data, "read, round 2 of 3: sub-questions 3 open, 2 done; "
	    "sources 14; findings 22 kept, 3 rejected; tokens 45.1k of 2.00M");
	assert_true(cli_progress_speed(&p) < 0);

	buf_reset(&b);
	assert_int_equal(cli_progress_bar(0.5, 20, &b), 0);
	assert_string_equal(b.data, "[######-------]  50%");
	buf_reset(&b);
	assert_int_equal(cli_progress_bar(1.7, 12, &b), 0);
	assert_string_equal(b.data, "[#####] 100%");
	buf_free(&b);
}

static void test_duration(void **state)
{
	char s[32];

	cli_progress_duration(59, s);
	assert_string_equal(s, "59s");
	cli_progress_duration(65, s);
	assert_string_equal(s, "1m05s");
	cli_progress_duration(7380, s);
	assert_string_equal(s, "2h03m");
	cli_progress_duration(-4, s);
	assert_string_equal(s, "0s");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_update),
		cmocka_unit_test(test_fraction),
		cmocka_unit_test(test_left),
		cmocka_unit_test(test_speed_and_lines),
		cmocka_unit_test(test_duration),
	};

	return cmocka_run_group_tests_name("cli-progress", tests, NULL, NULL);
}
