/* Unit tests of common/str.c's escaping of untrusted text for terminals and
 * logs. */
#include <setjmp.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "str.h"

static void expect_escaped(const char *in, const char *want)
{
	size_t len = strlen(in);
	struct buf b;

	buf_init(&b, 4096);
	assert_int_equal(str_escape(&b, in, len), 0);
	assert_int_equal(buf_putc(&b, '\0'), 0);
	if (strcmp(b.data, want) != 0)
		fail_msg("escaped \"%s\", wanted \"%s\"", b.data, want);
	buf_free(&b);
}

static void test_controls(void **state)
{
	expect_escaped("a\nb\tc\\d", "a\\nb\\tc\\\\d");
	expect_escaped("\x1b[31mred", "\\x1b[31mred");
	expect_escaped("x\x7fy", "x\\x7fy");
	expect_escaped("\xc2\x9b" "1m", "\\u009b1m");
	expect_escaped("bad\xff", "bad\\xff");
	/* Ordinary non-ASCII text is kept as it is. */
	expect_escaped("caf\xc3\xa9 \xe2\x80\x94 \xd8\xb9", "caf\xc3\xa9 \xe2\x80\x94 \xd8\xb9");
}

/* Every bidirectional control, spelled as its code point; their
 * neighbours in the same blocks are left alone. */
static void test_bidi(void **state)
{
	static const struct { const char *in, *want; } cases[] = {
		{ "\xe2\x80\xaa", "\\u202a" },	/* LRE */
		{ "\xe2\x80\xab", "\\u202b" },	/* RLE */
		{ "\xe2\x80\xac", "\\u202c" },	/* PDF */
		{ "\xe2\x80\xad", "\\u202d" },	/* LRO */
		{ "\xe2\x80\xae", "\\u202e" },	/* RLO */
		{ "\xe2\x81\xa6", "\\u2066" },	/* LRI */
		{ "\xe2\x81\xa7", "\\u2067" },	/* RLI */
		{ "\xe2\x81\xa8", "\\u2068" },	/* FSI */
		{ "\xe2\x81\xa9", "\\u2069" },	/* PDI */
		{ "\xe2\x80\x8e", "\\u200e" },	/* LRM */
		{ "\xe2\x80\x8f", "\\u200f" },	/* RLM */
		{ "\xd8\x9c", "\\u061c" },	/* ALM */
		{ "\xe2\x80\xa9", "\xe2\x80\xa9" },	/* U+2029, not a bidi control */
		{ "\xe2\x80\xaf", "\xe2\x80\xaf" },	/* U+202F */
		{ "\xe2\x81\xa5", "\xe2\x81\xa5" },	/* U+2065 */
		{ "\xe2\x81\xaa", "\xe2\x81\xaa" },	/* U+206A */
		{ "\xe2\x80\x8d", "\xe2\x80\x8d" },	/* U+200D */
		{ "\xd8\x9b", "\xd8\x9b" },	/* U+061B */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_escaped(cases[i].in, cases[i].want);
	/* A title that would read "report.txt" reversed at the end. */
	expect_escaped("invoice \xe2\x80\xaetxt.exe", "invoice \\u202etxt.exe");
}

/* time_parse reads what time_format writes, and nothing else. */
static void test_time_parse(void **state)
{
	int64_t ms = -1;
	char out[32];

	/* 2024-02-29 12:00:00 UTC: 19782 days after the epoch, plus 12 h. */
	assert_int_equal(time_parse("2024-02-29T12:00:00Z", &ms), 0);
	assert_int_equal(ms, (19782LL * 86400 + 12 * 3600) * 1000);
	assert_int_equal(time_parse("1970-01-01T00:00:00Z", &ms), 0);
	assert_int_equal(ms, 0);
	time_format(1709208000000LL, out);
	assert_string_equal(out, "2024-02-29T12:00:00Z");
	ms = -1;
	assert_int_equal(time_parse("2024-02-29 12:00:00", &ms), -EINVAL);
	assert_int_equal(time_parse("2024-02-29T12:00:00Zx", &ms), -EINVAL);
	assert_int_equal(time_parse("yesterday", &ms), -EINVAL);
	assert_int_equal(time_parse(NULL, &ms), -EINVAL);
	assert_int_equal(ms, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_controls),
		cmocka_unit_test(test_bidi),
		cmocka_unit_test(test_time_parse),
	};

	return cmocka_run_group_tests_name("str", tests, NULL, NULL);
}
