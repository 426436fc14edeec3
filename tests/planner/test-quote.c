/* Unit tests: quote normalisation and matching (common/quote.c). Every
 * expected string and offset below is worked out by hand from the spec. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "quote.h"

/* 9 words, 43 characters. */
#define SENT "The quick brown fox jumps over the lazy dog"

/* Normalise s and compare with want and the expected map (nmap entries:
 * one per output byte and the original length). */
static void expect_norm(const char *s, const char *want, const size_t *map, size_t nmap)
{
	char *out = NULL;
	size_t len = 0, *m = NULL;

	assert_int_equal(quote_normalize(s, strlen(s), &out, &len, &m), 0);
	assert_string_equal(out, want);
	assert_int_equal(len, strlen(want));
	assert_int_equal(nmap, len + 1);
	for (size_t i = 0; i < nmap; i++)
		if (m[i] != map[i])
			fail_msg("%s: map[%zu] is %zu, wanted %zu", want, i, m[i], map[i]);
	free(out);
	free(m);
}

static void expect_found(const char *text, const char *quote, size_t start, size_t end)
{
	size_t s = 999999, e = 999999;
	int r = quote_find(text, strlen(text), quote, strlen(quote), &s, &e);

	if (r != 0)
		fail_msg("\"%s\" in \"%s\": %s", quote, text, strerror(-r));
	if (s != start || e != end)
		fail_msg("\"%s\": found [%zu,%zu), wanted [%zu,%zu)", quote, s, e, start, end);
}

/* A failure leaves the outputs untouched. */
static void expect_error(const char *text, size_t len, const char *quote, size_t qlen, int err)
{
	size_t s = 4242, e = 4343;
	int r = quote_find(text, len, quote, qlen, &s, &e);

	if (r != err)
		fail_msg("\"%.60s\": got %d (%s), wanted %d", quote, r, strerror(-r), err);
	assert_int_equal(s, 4242);
	assert_int_equal(e, 4343);
}

static void expect_missing(const char *text, const char *quote)
{
	expect_error(text, strlen(text), quote, strlen(quote), -ENOENT);
}

static void test_normalize_nfkc(void **state)
{
	/* NBSP is a space under NFKC; the run of two becomes one. */
	expect_norm("a\xc2\xa0\xc2\xa0" "b", "a b", (size_t[]){ 0, 1, 5, 6 }, 4);
	/* U+FB01 LATIN SMALL LIGATURE FI: both letters come from byte 0. */
	expect_norm("\xef\xac\x81x", "fix", (size_t[]){ 0, 0, 3, 4 }, 4);
	/* Full-width A and B (U+FF21, U+FF22). */
	expect_norm("\xef\xbc\xa1\xef\xbc\xa2", "AB", (size_t[]){ 0, 3, 6 }, 3);
	/* e + COMBINING ACUTE composes to U+00E9. */
	expect_norm("cafe\xcc\x81!", "caf\xc3\xa9!", (size_t[]){ 0, 1, 2, 3, 3, 6, 7 }, 7);
	/* Superscript two, Roman numeral twelve (U+216B). */
	expect_norm("x\xc2\xb2 \xe2\x85\xab", "x2 XII", (size_t[]){ 0, 1, 3, 4, 4, 4, 7 }, 7);
	/* HANGUL CHOSEONG KIYEOK + HANGUL LETTER A (a compatibility jamo):
	 * NFKC makes the letter a medial vowel that composes with the initial
	 * into U+AC00, across what are two grapheme clusters. */
	expect_norm("\xe1\x84\x80\xe3\x85\x8f", "\xea\xb0\x80", (size_t[]){ 0, 0, 0, 6 }, 4);
	/* No other edits: case and punctuation stay. */
	expect_norm("ABC, def. (G)!", "ABC, def. (G)!",
		    (size_t[]){ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14 }, 15);
	expect_norm("", "", (size_t[]){ 0 }, 1);
}

static void test_normalize_space(void **state)
{
	/* a, space, tab, LF, LF, space, b, CR LF, c */
	expect_norm("a \t\n\n b\r\nc", "a b c", (size_t[]){ 0, 1, 6, 7, 9, 10 }, 6);
	/* Leading and trailing runs are kept as one space each. */
	expect_norm("\n\n x \t", " x ", (size_t[]){ 0, 3, 4, 6 }, 4);
	/* U+3000 IDEOGRAPHIC SPACE and U+2029 PARAGRAPH SEPARATOR are spaces. */
	expect_norm("p\xe3\x80\x80q\xe2\x80\xa9r", "p q r", (size_t[]){ 0, 1, 4, 5, 8, 9 }, 6);
}

static void test_normalize_quotes_dashes(void **state)
{
	/* “x” ‘y’ ″ «z» a—b–c−d‑e; byte offsets of the original:
	 * “0 x3 ”4 _7 ‘8 y11 ’12 _15 ″16 _19 «20 z22 »23 _25 a26 —27 b30
	 * –31 c34 −35 d38 ‑39 e42, length 43. The double prime folds to one
	 * ASCII double quote, not to two primes as NFKC alone would give. */
	static const size_t map[] = { 0, 3, 4, 7, 8, 11, 12, 15, 16, 19, 20, 22, 23, 25,
				      26, 27, 30, 31, 34, 35, 38, 39, 42, 43 };

	expect_norm("\xe2\x80\x9cx\xe2\x80\x9d \xe2\x80\x98y\xe2\x80\x99 \xe2\x80\xb3 "
		    "\xc2\xabz\xc2\xbb a\xe2\x80\x94" "b\xe2\x80\x93" "c\xe2\x88\x92" "d\xe2\x80\x91" "e",
		    "\"x\" 'y' \" \"z\" a-b-c-d-e", map, sizeof(map) / sizeof(map[0]));
	/* The rest of the lists: ‚ ‛ ′ and „ ‟, and ‐ ‒ ―. */
	expect_norm("\xe2\x80\x9a\xe2\x80\x9b\xe2\x80\xb2\xe2\x80\x9e\xe2\x80\x9f"
		    "\xe2\x80\x90\xe2\x80\x92\xe2\x80\x95",
		    "'''\"\"---", (size_t[]){ 0, 3, 6, 9, 12, 15, 18, 21, 24 }, 9);
}

static void test_normalize_invalid(void **state)
{
	static const char *bad[] = {
		"\xff", "ok\xc0\xaf", "\xed\xa0\x80", "trunc\xe2\x80", "\xf4\x90\x80\x80", "\x80",
	};
	char *out = (char *)"untouched";
	size_t len = 7, *map = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(quote_normalize(bad[i], strlen(bad[i]), &out, &len, &map), -EINVAL);
		assert_string_equal(out, "untouched");
		assert_int_equal(len, 7);
		assert_null(map);
	}
}

static void test_find_exact_offsets(void **state)
{
	/* "Intro. " is 7 bytes; the sentence 43. */
	expect_found("Intro. " SENT ". Outro.", SENT, 7, 50);
	/* Multibyte text before the match: "Ça va — " is 2+5+3+1 = 11 bytes. */
	expect_found("\xc3\x87" "a va \xe2\x80\x94 " SENT, SENT, 11, 54);
	/* The whole text. */
	expect_found(SENT, SENT, 0, 43);
}

static void test_find_nfkc(void **state)
{
	/* "Note: " 0-5, "the " 6-9, ﬁ 10-12, "nal" 13-15, " report " 16-23,
	 * ＡＢＣ 24-32, " was" 33-36, NBSP 37-38, "filed on time by the
	 * team" 39-63, "." 64. */
	static const char text[] = "Note: the \xef\xac\x81nal report \xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3 "
				   "was\xc2\xa0" "filed on time by the team.";

	expect_found(text, "the final report ABC was filed on time by the team", 6, 64);
	/* The other way round: the quote has the ligature, full-width
	 * letters and NBSP, the text plain ASCII. */
	expect_found("Note: the final report ABC was filed on time by the team.",
		     "the \xef\xac\x81nal report \xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3 was\xc2\xa0"
		     "filed on time by the team", 6, 56);
	/* Composed quote, decomposed text: "Le " 0-2, "cafe" 3-6, U+0301
	 * 7-8, " " 9, "était" 10-15, " " 16, "fermé" 17-22, " ce " 23-26,
	 * "matin-là" 27-35, ", " 36-37, "dit-il en riant" 38-52, "." 53. */
	expect_found("Le cafe\xcc\x81 \xc3\xa9tait ferm\xc3\xa9 ce matin-l\xc3\xa0, dit-il en riant.",
		     "Le caf\xc3\xa9 \xc3\xa9tait ferm\xc3\xa9 ce matin-l\xc3\xa0, dit-il en riant", 0, 53);
}

static void test_find_whitespace(void **state)
{
	/* "One " 0-3, two 4-6, TAB 7, three 8-12, LF LF 13-14, four 15-18,
	 * three spaces 19-21, five 22-25, CR LF 26-27, "six seven eight nine"
	 * 28-47, "." 48. */
	static const char text[] = "One two\tthree\n\nfour   five\r\nsix seven eight nine.";

	expect_found(text, "two three four five six seven eight nine", 4, 48);
	/* Whitespace around and inside the quote is not part of it. */
	expect_found(text, "  two \n three\tfour five six   seven eight nine \n", 4, 48);
}

static void test_find_typographic(void **state)
{
	/* "He said " 0-7, “ 8-10, "it" 11-12, ’ 13-15, "s the end" 16-24,
	 * ” 25-27, " " 28, — 29-31, " and left the room at once." 32-58. */
	static const char text[] = "He said \xe2\x80\x9cit\xe2\x80\x99s the end\xe2\x80\x9d \xe2\x80\x94 "
				   "and left the room at once.";

	assert_int_equal(strlen(text), 59);
	expect_found(text, "He said \"it's the end\" - and left the room at once.", 0, 59);
	/* Typographic quote, ASCII text. */
	expect_found("He said \"it's the end\" - and left the room at once.", text, 0, 51);
}

static void test_find_across_paragraphs(void **state)
{
	/* "First paragraph " 0-15, "ends here with a claim." 16-38, LF LF
	 * 39-40, "Second paragraph starts" 41-63. */
	expect_found("First paragraph ends here with a claim.\n\nSecond paragraph starts with more text.",
		     "ends here with a claim. Second paragraph starts", 16, 64);
}

static void test_find_near_misses(void **state)
{
	/* One word different. */
	expect_missing("Intro. " SENT ". Outro.", "The quick brown fox jumps over the lazy cat");
	/* Would start mid-word. */
	expect_missing("Xthe quick brown fox jumps over the lazy dog.",
		       "the quick brown fox jumps over the lazy dog");
	/* Would end mid-word. */
	expect_missing(SENT "s and cats.", SENT);
	/* Would end before a combining mark that stays separate (g + U+20DD
	 * COMBINING ENCLOSING CIRCLE, which composes with nothing). */
	expect_missing(SENT "\xe2\x83\x9d and cats.", SENT);
	/* Would start with a combining mark (U+20DD after a line break is a
	 * grapheme cluster of its own, but still not a start of a word). */
	expect_missing("Intro:\n\xe2\x83\x9d" SENT ".", "\xe2\x83\x9d" SENT);
	/* Case differs. */
	expect_missing(SENT ".", "the quick brown fox jumps over the lazy dog");
	expect_missing(SENT ".", "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG");
	/* Punctuation is not removed. */
	expect_missing("The quick brown fox, jumps over the lazy dog.", SENT);
	/* A mid-word occurrence first, a good one later: "Xthe ... dog" is
	 * 44 bytes, "; " 44-45, the second sentence 46-88. */
	expect_found("Xthe quick brown fox jumps over the lazy dog; the quick brown fox jumps over the lazy dog.",
		     "the quick brown fox jumps over the lazy dog", 46, 89);
	/* ½ normalises to 1⁄2: a quote may not take half of what one
	 * original character became. "The ticket for the long ride costs "
	 * is 35 bytes, ½ 35-36. */
	expect_missing("The ticket for the long ride costs \xc2\xbd of a dollar.",
		       "The ticket for the long ride costs 1");
	expect_found("The ticket for the long ride costs \xc2\xbd of a dollar.",
		     "The ticket for the long ride costs 1\xe2\x81\x84" "2 of a dollar", 0, 49);
}

static void test_find_wide(void **state)
{
	/* CJK has no spaces between words: each wide character is a word of
	 * its own, so a quote may start and end between two of them. */
	char text[3 * 42 + 1], quote[3 * 40 + 1];

	memcpy(text, "\xe5\x89\x8d", 3);	/* 前 */
	for (int i = 0; i < 40; i++) {
		memcpy(text + 3 + 3 * i, "\xe5\xad\x97", 3);	/* 字 */
		memcpy(quote + 3 * i, "\xe5\xad\x97", 3);
	}
	memcpy(text + 123, "\xe5\x90\x8e", 3);	/* 后 */
	text[126] = '\0';
	quote[120] = '\0';
	expect_found(text, quote, 3, 123);
}

static void test_find_too_short(void **state)
{
	/* 7 words, 35 characters. */
	expect_error("Yes, seven words are not enough for this.", 41,
		     "seven words are not enough for this", 35, -EMSGSIZE);
	/* 8 one-letter words (15 characters) are enough. */
	expect_found("x a b c d e f g h y", "a b c d e f g h", 2, 17);
	/* 8 tokens, but dashes are not words. */
	expect_error("- - - - - - - - -", 17, "- - - - - - - -", 15, -EMSGSIZE);
	/* 40 characters in one word are enough, 39 are not. */
	expect_found("[ abcdefghijabcdefghijabcdefghijabcdefghij ]",
		     "abcdefghijabcdefghijabcdefghijabcdefghij", 2, 42);
	expect_error("[ abcdefghijabcdefghijabcdefghijabcdefghi ]", 43,
		     "abcdefghijabcdefghijabcdefghijabcdefghi", 39, -EMSGSIZE);
	/* Counted after normalisation: 20 ﬁ ligatures are 40 characters. */
	{
		char q[20 * 3 + 1];

		for (int i = 0; i < 20; i++)
			memcpy(q + 3 * i, "\xef\xac\x81", 3);
		q[60] = '\0';
		expect_found("( fifififififififififififififififififififi )", q, 2, 42);
	}
}

static void test_find_invalid(void **state)
{
	char *big;

	expect_error(SENT, 43, "The quick \xff brown fox jumps over the lazy dog", 44, -EINVAL);
	expect_error("The quick \xc0\xaf brown fox", 22, SENT, 43, -EINVAL);
	expect_error(SENT, 43, "", 0, -EINVAL);
	expect_error(SENT, 43, " \n\t\xc2\xa0 ", 6, -EINVAL);
	/* Too short is the quote's fault whatever the text. */
	expect_error("\xff", 1, "too short", 9, -EMSGSIZE);
	/* Past the caps. */
	big = malloc(QUOTE_TEXT_MAX + 1);
	assert_non_null(big);
	memset(big, 'a', QUOTE_TEXT_MAX + 1);
	expect_error(SENT, 43, big, QUOTE_QUOTE_MAX + 1, -EFBIG);
	expect_error(big, QUOTE_TEXT_MAX + 1, SENT, 43, -EFBIG);
	free(big);
}

static void test_text_reuse(void **state)
{
	static const char text[] = "Intro. " SENT ". Then " SENT " again.";
	struct quote_text *t = NULL;
	size_t s = 0, e = 0;

	assert_int_equal(quote_text_new(text, strlen(text), &t), 0);
	assert_int_equal(quote_text_find(t, SENT, 43, &s, &e), 0);
	assert_int_equal(s, 7);
	assert_int_equal(e, 50);
	/* "Intro. " 0-6, SENT 7-49 ("the lazy dog" from 38), ". Then "
	 * 50-56, SENT 57-99 ("The quick brown fox" to 75). */
	assert_int_equal(quote_text_find(t, "the lazy dog. Then The quick brown fox", 38, &s, &e), 0);
	assert_int_equal(s, 38);
	assert_int_equal(e, 76);
	assert_int_equal(quote_text_find(t, "over the lazy dog again. The end of it", 38, &s, &e), -ENOENT);
	assert_int_equal(quote_text_find(t, "the lazy dog again.", 19, &s, &e), -EMSGSIZE);
	assert_int_equal(s, 38);
	assert_null(quote_text_free(t));
	assert_null(quote_text_free(NULL));
	assert_int_equal(quote_text_new("\xff", 1, &t), -EINVAL);
}

static void test_find_16mib(void **state)
{
	size_t n = QUOTE_TEXT_MAX, s = 0, e = 0;
	struct quote_text *t = NULL;
	char *text = malloc(n), q[41];

	assert_non_null(text);
	/* Filler words, the sentence in the last 43 bytes after a space. */
	for (size_t i = 0; i < n; i++)
		text[i] = "lorem ipsum "[i % 12];
	text[n - 44] = ' ';
	memcpy(text + n - 43, SENT, 43);
	assert_int_equal(quote_text_new(text, n, &t), 0);
	assert_int_equal(quote_text_find(t, SENT, 43, &s, &e), 0);
	assert_int_equal(s, n - 43);
	assert_int_equal(e, n);
	assert_int_equal(quote_text_find(t, "lorem ipsum lorem ipsum lorem ipsum lorem dog", 45, &s, &e), -ENOENT);
	t = quote_text_free(t);

	/* The worst case for a search that restarts at each candidate: the
	 * quote's bytes occur at every position, and every one cuts a word. */
	memset(text, 'a', n);
	memset(q, 'a', 40);
	q[40] = '\0';
	expect_error(text, n, q, 40, -ENOENT);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize_nfkc),
		cmocka_unit_test(test_normalize_space),
		cmocka_unit_test(test_normalize_quotes_dashes),
		cmocka_unit_test(test_normalize_invalid),
		cmocka_unit_test(test_find_exact_offsets),
		cmocka_unit_test(test_find_nfkc),
		cmocka_unit_test(test_find_whitespace),
		cmocka_unit_test(test_find_typographic),
		cmocka_unit_test(test_find_across_paragraphs),
		cmocka_unit_test(test_find_near_misses),
		cmocka_unit_test(test_find_wide),
		cmocka_unit_test(test_find_too_short),
		cmocka_unit_test(test_find_invalid),
		cmocka_unit_test(test_text_reuse),
		cmocka_unit_test(test_find_16mib),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
