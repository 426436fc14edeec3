/* The code tool through its effect executor, as the research loop will use
 * it: a Python computation over a table given as input (a CSV made here;
 * the table extracted from a page served by nginx comes with the web
 * tools), and the result holding the code, the inputs' hashes and the
 * output together. effect_exec_* are a test double of effect/effect.c. */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>
#include <cmocka.h>

#include "effect.h"
#include "code.h"
#include "harness.h"
#include "hash.h"
#include "json.h"
#include "xmalloc.h"

struct effect_exec {
	uv_loop_t *loop;
	void *data;
	int calls;
	int r;
	json_t *result;
};

void effect_exec_set_data(struct effect_exec *x, void *data)
{
	x->data = data;
}

void *effect_exec_get_data(struct effect_exec *x)
{
	return x->data;
}

struct uv_loop_s *effect_exec_loop(struct effect_exec *x)
{
	return x->loop;
}

void effect_exec_done(struct effect_exec *x, int r, json_t *result, json_t *cost)
{
	x->calls++;
	x->r = r;
	x->result = result;
	json_decref(cost);
}

static const char csv[] =
	"country,population_m,area_km2\n"
	"Iceland,0.39,103000\n"
	"Norway,5.55,385207\n"
	"Denmark,5.95,42933\n"
	"Finland,5.60,338455\n"
	"Sweden,10.55,450295\n";

static const char code[] =
	"import csv, json\n"
	"rows = list(csv.DictReader(open('nordic.csv')))\n"
	"pop = sum(float(r['population_m']) for r in rows)\n"
	"area = sum(int(r['area_km2']) for r in rows)\n"
	"density = pop * 1e6 / area\n"
	"print(f'total population {pop:.2f} million')\n"
	"print(f'density {density:.2f} per km2')\n"
	"json.dump({'population_m': round(pop, 2), 'density': round(density, 2)},\n"
	"          open('out/summary.json', 'w'), sort_keys=True)\n";

static struct code_config config(void)
{
	struct code_config cfg = { .helper = harness_helper() };
	cfg.limits.wall_ms = 20000;
	cfg.limits.memory = 512LL << 20;
	return cfg;
}

static void run_exec(struct effect_exec *x, json_t *request, struct code_config *cfg)
{
	uv_loop_t *loop = x->loop;
	int r = code_exec_start(x, request, cfg);
	assert_int_equal(r, 0);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(x->calls, 1);
}

static void test_table(void **state)
{
	struct code_config cfg = config();
	uv_loop_t loop;
	struct effect_exec x = { .loop = &loop };
	uint8_t h[HASH_BYTES];
	char hex[HASH_HEX_LEN + 1];
	json_t *req, *res, *in, *f;

	uv_loop_init(&loop);
	req = json_pack("{s:s, s:[{s:s, s:s}]}", "code", code, "inputs", "name", "nordic.csv",
	    "text", csv);
	run_exec(&x, req, &cfg);
	assert_int_equal(x.r, 0);
	res = x.result;
	assert_non_null(res);
	/* The code, the inputs (by hash) and the outcome, in one stored result. */
	assert_string_equal(json_string_value(json_object_get(res, "code")), code);
	in = json_array_get(json_object_get(res, "inputs"), 0);
	assert_string_equal(json_string_value(json_object_get(in, "name")), "nordic.csv");
	hash_bytes(csv, strlen(csv), h);
	hash_hex(h, hex);
	assert_string_equal(json_string_value(json_object_get(in, "blake2b")), hex);
	assert_int_equal(json_integer_value(json_object_get(in, "bytes")), strlen(csv));
	assert_string_equal(json_string_value(json_object_get(res, "status")), "exited");
	assert_int_equal(json_integer_value(json_object_get(res, "exit_code")), 0);
	assert_true(json_is_null(json_object_get(res, "limit")));
	/* 28.04 million people on 1319890 km2. */
	assert_string_equal(json_string_value(json_object_get(res, "stdout")),
	    "total population 28.04 million\ndensity 21.24 per km2\n");
	assert_string_equal(json_string_value(json_object_get(res, "stderr")), "");
	f = json_array_get(json_object_get(res, "files"), 0);
	assert_string_equal(json_string_value(json_object_get(f, "name")), "out/summary.json");
	assert_string_equal(json_string_value(json_object_get(f, "text")),
	    "{\"density\": 21.24, \"population_m\": 28.04}");
	assert_true(json_integer_value(json_object_get(res, "wall_ms")) > 0);
	assert_true(json_is_integer(json_object_get(res, "cpu_ms")));
	/* It can be stored: canonical JSON exists for it. */
	char *canon = json_canonical(res);
	assert_non_null(canon);
	free(canon);
	json_decref(res);
	json_decref(req);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_refused(void **state)
{
	struct code_config cfg = config();
	uv_loop_t loop;
	struct effect_exec x = { .loop = &loop };
	json_t *req;

	uv_loop_init(&loop);
	req = json_pack("{s:s, s:[{s:s, s:s}]}", "code", "print(1)", "inputs", "name", "../etc",
	    "text", "x");
	/* A request the tool refuses is answered at once, and stored. */
	assert_int_equal(code_exec_start(&x, req, &cfg), 0);
	assert_int_equal(x.calls, 1);
	assert_int_equal(x.r, 0);
	assert_string_equal(json_string_value(json_object_get(x.result, "code")), "print(1)");
	assert_non_null(strstr(json_string_value(json_object_get(x.result, "error")), "name"));
	json_decref(x.result);
	json_decref(req);

	x.calls = 0;
	req = json_pack("{s:s, s:{s:i}}", "code", "print(1)", "limits", "nproc", 1000);
	assert_int_equal(code_exec_start(&x, req, &cfg), 0);
	assert_int_equal(x.calls, 1);
	assert_non_null(json_object_get(x.result, "error"));
	json_decref(x.result);
	json_decref(req);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_limits(void **state)
{
	struct code_config cfg = config();
	uv_loop_t loop;
	struct effect_exec x = { .loop = &loop };
	json_t *req;

	uv_loop_init(&loop);
	/* The request may lower the configured limits, and it is killed there. */
	req = json_pack("{s:s, s:{s:i}}", "code", "while True:\n    pass\n", "limits", "wall_ms", 800);
	run_exec(&x, req, &cfg);
	assert_int_equal(x.r, 0);
	assert_string_equal(json_string_value(json_object_get(x.result, "status")), "killed");
	assert_string_equal(json_string_value(json_object_get(x.result, "limit")), "timeout");
	json_decref(x.result);
	json_decref(req);

	/* A raised one is held at the configured ceiling. */
	x.calls = 0;
	req = json_pack("{s:s, s:{s:I}}", "code",
	    "import resource\nprint(resource.getrlimit(resource.RLIMIT_AS)[0])\n", "limits",
	    "memory", (json_int_t)(4LL << 30));
	run_exec(&x, req, &cfg);
	assert_string_equal(json_string_value(json_object_get(x.result, "stdout")), "536870912\n");
	json_decref(x.result);
	json_decref(req);

	/* Errors in the code are results like any other. */
	x.calls = 0;
	req = json_pack("{s:s}", "code", "print(undefined_name)\n");
	run_exec(&x, req, &cfg);
	assert_int_equal(json_integer_value(json_object_get(x.result, "exit_code")), 1);
	assert_non_null(strstr(json_string_value(json_object_get(x.result, "stderr")), "NameError"));
	json_decref(x.result);
	json_decref(req);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void cancel_cb(uv_timer_t *t)
{
	struct effect_exec *x = t->data;
	code_exec_cancel(x, NULL);
	uv_close((uv_handle_t *)t, NULL);
}

static void test_cancel(void **state)
{
	struct code_config cfg = config();
	uv_loop_t loop;
	uv_timer_t t;
	struct effect_exec x = { .loop = &loop };
	char marker[64], *src;
	json_t *req;

	harness_marker(marker, sizeof(marker), "codecancel");
	src = xasprintf("import os\nos.execv('/bin/sleep', ['%s', '600'])\n", marker);
	uv_loop_init(&loop);
	req = json_pack("{s:s}", "code", src);
	assert_int_equal(code_exec_start(&x, req, &cfg), 0);
	uv_timer_init(&loop, &t);
	t.data = &x;
	uv_timer_start(&t, cancel_cb, 500, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(x.calls, 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	for (int i = 0; i < 50 && harness_count_procs(marker) > 0; i++)
		usleep(20000);
	assert_int_equal(harness_count_procs(marker), 0);
	json_decref(req);
	free(src);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_cancel),
	};
	hash_init();
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("code", tests, NULL, NULL);
}
