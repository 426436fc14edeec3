/* Unit tests: packing ranked evidence into a token budget (llm/pack.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "pack.h"

/* One token per word, for exact budgets in the tests. */
static int64_t words(const char *text, size_t len, void *ud)
{
	int64_t n = 0;
	bool in = false;

	(*(int *)ud)++;
	for (size_t i = 0; i < len; i++) {
		bool sp = text[i] == ' ' || text[i] == '\n';

		if (!sp && !in)
			n++;
		in = !sp;
	}
	return n;
}

#define ITEM(id, s) { id, s, sizeof(s) - 1 }

static void test_rank_order_and_skip(void **state)
{
	/* frames: "[Sx] " + "\n\n" = 7 bytes = 3 estimated tokens each */
	const struct pack_item items[] = {
		ITEM("S1", "one two three"),			/* 3 + 3 */
		ITEM("S2", "a b c d e f g h i j k l"),		/* 12 + 3: too big once S1 is in */
		ITEM("S3", "four five"),			/* 2 + 3 */
		ITEM("S4", "six"),				/* 1 + 3: no room left */
	};
	size_t chosen[4];
	struct pack_result res;
	int calls = 0;

	assert_int_equal(pack_evidence(items, 4, 12, words, &calls, chosen, &res), 0);
	assert_int_equal(res.n_chosen, 2);
	assert_int_equal(chosen[0], 0);
	assert_int_equal(chosen[1], 2);
	assert_int_equal(res.n_skipped, 2);
	assert_int_equal(res.used, 11);
	assert_int_equal(calls, 4);
	assert_true(res.used <= 12);

	/* a budget for everything takes everything, in rank order */
	assert_int_equal(pack_evidence(items, 4, 1000, words, &calls, chosen, &res), 0);
	assert_int_equal(res.n_chosen, 4);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(chosen[i], i);
	assert_int_equal(res.n_skipped, 0);

	/* nothing fits a zero budget; a negative one is an error */
	assert_int_equal(pack_evidence(items, 4, 0, words, &calls, chosen, &res), 0);
	assert_int_equal(res.n_chosen, 0);
	assert_int_equal(res.n_skipped, 4);
	assert_int_equal(pack_evidence(items, 4, -1, words, &calls, chosen, &res), -EINVAL);
}

static void test_render_never_cuts(void **state)
{
	const struct pack_item items[] = {
		ITEM("S1", "Tides rise twice a day."),
		ITEM("S2", "The Moon pulls the sea."),
	};
	size_t chosen[2] = { 1, 0 };
	struct buf out, small;

	buf_init(&out, 1024);
	assert_int_equal(pack_render(items, chosen, 2, &out), 0);
	assert_string_equal(out.data, "[S2] The Moon pulls the sea.\n\n[S1] Tides rise twice a day.\n\n");
	buf_free(&out);
	/* a buffer too small is an error, not a cut item */
	buf_init(&small, 40);
	assert_int_equal(pack_render(items, chosen, 2, &small), -ENOBUFS);
	buf_free(&small);
}

static void test_estimate_is_conservative(void **state)
{
	size_t chosen[1];
	struct pack_result res;
	const struct pack_item one[] = { ITEM("S1", "123456789") };

	assert_int_equal(pack_estimate("abc", 3, NULL), 1);
	assert_int_equal(pack_estimate("abcd", 4, NULL), 2);
	/* default counter: 9 bytes -> 3 tokens, frame 7 bytes -> 3 */
	assert_int_equal(pack_evidence(one, 1, 6, NULL, NULL, chosen, &res), 0);
	assert_int_equal(res.n_chosen, 1);
	assert_int_equal(pack_evidence(one, 1, 5, NULL, NULL, chosen, &res), 0);
	assert_int_equal(res.n_chosen, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rank_order_and_skip),
		cmocka_unit_test(test_render_never_cuts),
		cmocka_unit_test(test_estimate_is_conservative),
	};
	return cmocka_run_group_tests_name("pack", tests, NULL, NULL);
}
