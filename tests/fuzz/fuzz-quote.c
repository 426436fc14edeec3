/* libFuzzer harness: quote normalisation and matching (common/quote.c).
 * An input is a text, optionally followed by a NUL and a quote. Checks:
 * the result agrees with utf8proc's own validation; the normalised text
 * equals NFKC of the whole text with the folds and collapsed whitespace
 * done here independently (so segment-wise normalisation changes
 * nothing); normalising twice changes nothing; the map is monotonic and
 * lands on character boundaries; a match re-normalises to the quote; the
 * text always contains itself. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "quote.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool valid_utf8(const uint8_t *s, size_t len)
{
	utf8proc_int32_t c;

	for (size_t i = 0; i < len;) {
		utf8proc_ssize_t n = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &c);

		if (n <= 0)
			return false;
		i += (size_t)n;
	}
	return true;
}

/* The folds of the spec, written out again as the oracle. */
static utf8proc_int32_t fold(utf8proc_int32_t c, void *data)
{
	static const utf8proc_int32_t apos[] = { 0x2018, 0x2019, 0x201A, 0x201B, 0x2032 };
	static const utf8proc_int32_t quot[] = { 0x201C, 0x201D, 0x201E, 0x201F, 0x2033, 0xAB, 0xBB };
	static const utf8proc_int32_t dash[] = { 0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2015, 0x2212 };

	for (size_t i = 0; i < sizeof(apos) / sizeof(apos[0]); i++)
		if (c == apos[i])
			return '\'';
	for (size_t i = 0; i < sizeof(quot) / sizeof(quot[0]); i++)
		if (c == quot[i])
			return '"';
	for (size_t i = 0; i < sizeof(dash) / sizeof(dash[0]); i++)
		if (c == dash[i])
			return '-';
	return c;
}

static bool is_space(utf8proc_int32_t c)
{
	utf8proc_category_t cat = utf8proc_category(c);

	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' ||
	       c == 0x85 || cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
	       cat == UTF8PROC_CATEGORY_ZP;
}

/* NFKC of the whole input at once, folded and collapsed. */
static char *oracle(const uint8_t *s, size_t len, size_t *ret_len)
{
	utf8proc_ssize_t n;
	utf8proc_int32_t *v;
	char *out;
	size_t k = 0;
	bool space = false;

	n = utf8proc_decompose_custom(s, (utf8proc_ssize_t)len, NULL, 0,
				      UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT, fold, NULL);
	if (n < 0)
		abort();
	v = malloc(((size_t)n + 1) * sizeof(*v));
	out = malloc((size_t)n * 4 + 1);
	if (v == NULL || out == NULL)
		abort();
	n = utf8proc_decompose_custom(s, (utf8proc_ssize_t)len, v, n,
				      UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT, fold, NULL);
	n = utf8proc_normalize_utf32(v, n, UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
	for (utf8proc_ssize_t i = 0; i < n; i++) {
		utf8proc_int32_t c = fold(v[i], NULL);

		if (is_space(c)) {
			if (!space)
				out[k++] = ' ';
			space = true;
			continue;
		}
		space = false;
		k += (size_t)utf8proc_encode_char(c, (utf8proc_uint8_t *)out + k);
	}
	out[k] = '\0';
	free(v);
	*ret_len = k;
	return out;
}

/* The quote as quote_find compares it: normalised, one space trimmed at each end. */
static char *trimmed(const char *s, size_t len, size_t *ret_len)
{
	size_t n, *map, off = 0;
	char *out;

	if (quote_normalize(s, len, &out, &n, &map) != 0)
		abort();
	free(map);
	if (n > 0 && out[0] == ' ')
		off = 1;
	if (n > off && out[n - 1] == ' ')
		n--;
	memmove(out, out + off, n - off);
	*ret_len = n - off;
	return out;
}

static void check_match(const char *text, size_t len, const char *quote, size_t qlen,
			size_t start, size_t end)
{
	size_t a, b;
	char *x, *y;

	if (start > end || end > len)
		abort();
	/* Both ends on character boundaries of the original. */
	if ((start < len && ((uint8_t)text[start] & 0xC0) == 0x80) ||
	    (end < len && ((uint8_t)text[end] & 0xC0) == 0x80))
		abort();
	x = trimmed(text + start, end - start, &a);
	y = trimmed(quote, qlen, &b);
	if (a != b || memcmp(x, y, a) != 0)
		abort();
	free(x);
	free(y);
}

/* A quote may not start with a combining mark (it would cut a character
 * in two), so a text that starts with one need not contain itself. */
static bool starts_with_mark(const char *text, size_t len)
{
	utf8proc_int32_t c = 0;
	utf8proc_category_t cat;
	size_t n;
	char *t = trimmed(text, len, &n);

	if (n > 0)
		utf8proc_iterate((const uint8_t *)t, (utf8proc_ssize_t)n, &c);
	free(t);
	cat = utf8proc_category(c);
	return cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC || cat == UTF8PROC_CATEGORY_ME;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *quote;
	const uint8_t *nul = memchr(data, 0, size);
	size_t len = nul ? (size_t)(nul - data) : size, qlen;
	size_t n, n2, *map, *map2, on, start, end;
	char *out, *out2, *want;
	int r;

	r = quote_normalize(text, len, &out, &n, &map);
	if (r != (valid_utf8(data, len) ? 0 : -EINVAL))
		abort();
	if (r == 0) {
		want = oracle(data, len, &on);
		if (on != n || memcmp(want, out, n) != 0 || out[n] != '\0')
			abort();
		free(want);
		if (map[n] != len)
			abort();
		for (size_t i = 0; i < n; i++)
			if (map[i] > map[i + 1] || map[i] >= len || ((uint8_t)text[map[i]] & 0xC0) == 0x80)
				abort();
		if (quote_normalize(out, n, &out2, &n2, &map2) != 0 || n2 != n || memcmp(out, out2, n) != 0)
			abort();
		free(out2);
		free(map2);
		free(out);
		free(map);

		/* The text contains itself, unless it is too short to be a quote. */
		r = quote_find(text, len, text, len, &start, &end);
		if (r == 0)
			check_match(text, len, text, len, start, end);
		else if (r == -ENOENT && !starts_with_mark(text, len))
			abort();
		else if (r != -ENOENT && r != -EMSGSIZE && r != -EINVAL && r != -EFBIG)
			abort();
	}
	if (nul == NULL)
		return 0;
	quote = (const char *)nul + 1;
	qlen = size - len - 1;
	r = quote_find(text, len, quote, qlen, &start, &end);
	if (r == 0)
		check_match(text, len, quote, qlen, start, end);
	else if (r != -ENOENT && r != -EMSGSIZE && r != -EINVAL && r != -EFBIG)
		abort();
	return 0;
}
