/* Unit tests of the think/answer splitter. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "think.h"

/* Split s with chunks of the given size (0: whole) and check the result. */
static void split(const char *s, size_t step, const char *reasoning, const char *answer)
{
	struct think t;
	size_t len = strlen(s);

	if (step == 0)
		step = len ? len : 1;
	think_init(&t, 4096, 4096);
	for (size_t i = 0; i < len; i += step)
		assert_int_equal(think_feed(&t, s + i, len - i < step ? len - i : step), 0);
	assert_int_equal(think_finish(&t), 0);
	assert_string_equal(t.reasoning.data ? t.reasoning.data : "", reasoning);
	assert_string_equal(t.answer.data ? t.answer.data : "", answer);
	think_done(&t);
}

/* Every chunking: whole, each step size, and every two-chunk split. */
static void check(const char *s, const char *reasoning, const char *answer)
{
	size_t len = strlen(s);

	split(s, 0, reasoning, answer);
	for (size_t step = 1; step <= len; step++)
		split(s, step, reasoning, answer);
	for (size_t cut = 0; cut <= len; cut++) {
		struct think t;

		think_init(&t, 4096, 4096);
		assert_int_equal(think_feed(&t, s, cut), 0);
		assert_int_equal(think_feed(&t, s + cut, len - cut), 0);
		assert_int_equal(think_finish(&t), 0);
		assert_string_equal(t.reasoning.data ? t.reasoning.data : "", reasoning);
		assert_string_equal(t.answer.data ? t.answer.data : "", answer);
		think_done(&t);
	}
}

static void test_plain(void **state)
{
	check("", "", "");
	check("just an answer", "", "just an answer");
	check("  {\"a\": 1}\n", "", "{\"a\": 1}");
	check("a < b and c <= d", "", "a < b and c <= d");
	check("<thin> and </thinking", "", "<thin> and </thinking");
	check("<THINK>upper</THINK>", "", "<THINK>upper</THINK>");
}

static void test_closed(void **state)
{
	check("<think>let me see</think>{\"x\":1}", "let me see", "{\"x\":1}");
	check("<think>\nplan\n</think>\n\nanswer", "\nplan\n", "answer");
	/* At the very start after whitespace. */
	check("\n  <think>r</think> a", "r", "a");
	/* Two blocks. */
	check("<think>1</think>a<think>2</think>b", "12", "ab");
	check("<think></think>x", "", "x");
}

static void test_unclosed(void **state)
{
	check("<think>still thinking", "still thinking", "");
	check("<think>still <thinking> </thi", "still <thinking> </thi", "");
	check("answer<think>more", "more", "answer");
	/* A prefix of a tag at the end of the reply is text. */
	check("answer </thi", "", "answer </thi");
	check("answer <", "", "answer <");
}

static void test_after_text(void **state)
{
	/* Documented choice: a block after answer text is still reasoning. */
	check("The answer is 4.<think>or is it</think> Yes.", "or is it", "The answer is 4. Yes.");
}

static void test_stray_close(void **state)
{
	/* Templates that open <think> in the prompt: the text before the
	 * first </think> is reasoning. */
	check("I should answer briefly.</think>\n\nHello", "I should answer briefly.", "Hello");
	check("x</think>", "x", "");
	/* Nested-looking text: no nesting count, the outer close reclaims. */
	check("<think>a<think>b</think>c</think>d", "a<think>bc", "d");
	check("<think>a</think>b</think>c", "ab", "c");
}

static void test_tricky_prefixes(void **state)
{
	check("<<think>x</think>y", "x", "<y");
	check("<</think>", "<", "");	/* a stray close reclaims the "<" too */
	check("<think><</think>", "<", "");
	check("<think>a</</think>b", "a</", "b");
	check("<think>a<<<</think>b", "a<<<", "b");
	check("<t<think>r</think>", "r", "<t");
}

static void test_reasoning_field(void **state)
{
	struct think t;

	think_init(&t, 4096, 4096);
	assert_int_equal(think_feed_reasoning(&t, "from the field; ", 16), 0);
	assert_int_equal(think_feed(&t, "<think>tag</think>", 18), 0);
	assert_int_equal(think_feed(&t, " {}", 3), 0);
	assert_int_equal(think_finish(&t), 0);
	assert_string_equal(t.reasoning.data, "from the field; tag");
	assert_string_equal(t.answer.data, "{}");
	assert_int_equal(think_feed(&t, "x", 1), -EINVAL);
	think_done(&t);
}

static void test_in_block(void **state)
{
	struct think t;

	think_init(&t, 4096, 4096);
	assert_false(think_in_block(&t));
	assert_int_equal(think_feed(&t, "<thi", 4), 0);
	assert_false(think_in_block(&t));
	assert_int_equal(think_feed(&t, "nk>", 3), 0);
	assert_true(think_in_block(&t));
	assert_int_equal(think_feed(&t, "</think>", 8), 0);
	assert_false(think_in_block(&t));
	think_done(&t);
}

static void test_caps(void **state)
{
	struct think t;

	think_init(&t, 8, 8);
	assert_int_equal(think_feed(&t, "12345678", 8), 0);
	assert_int_equal(think_feed(&t, "9", 1), -ENOBUFS);
	assert_int_equal(think_feed(&t, "", 0), -ENOBUFS);	/* sticky */
	assert_int_equal(think_finish(&t), -ENOBUFS);
	think_done(&t);

	think_init(&t, 8, 8);
	assert_int_equal(think_feed(&t, "<think>123456789</think>", 24), -ENOBUFS);
	assert_int_equal(t.answer.len, 0);
	think_done(&t);

	/* A stray close moving too much into reasoning is an error, too. */
	think_init(&t, 4, 64);
	assert_int_equal(think_feed(&t, "123456</think>", 14), -ENOBUFS);
	think_done(&t);

	think_init(&t, 4, 4);
	assert_int_equal(think_feed_reasoning(&t, "12345", 5), -ENOBUFS);
	think_done(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_closed),
		cmocka_unit_test(test_unclosed),
		cmocka_unit_test(test_after_text),
		cmocka_unit_test(test_stray_close),
		cmocka_unit_test(test_tricky_prefixes),
		cmocka_unit_test(test_reasoning_field),
		cmocka_unit_test(test_in_block),
		cmocka_unit_test(test_caps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
