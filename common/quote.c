/* Quote normalisation and matching: the normalised text with its map back
 * to original byte offsets, and the word-boundary search in it. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "quote.h"
#include "str.h"
#include "xmalloc.h"

_Static_assert(QUOTE_TEXT_MAX < UINT32_MAX, "map entries are 32-bit");
_Static_assert(QUOTE_NORM_MAX < UINT32_MAX, "normalised offsets fit 32 bits");

#define QUOTE_NFKC (UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT)

struct quote_text {
	char *norm;		/* normalised text, NUL-terminated */
	uint32_t *map;		/* norm_len + 1 original offsets */
	size_t norm_len;
	size_t len;		/* original length */
};

/* The normalised bytes and, per byte, the original offset it came from. */
struct norm {
	char *s;
	uint32_t *map;
	size_t len, cap, max;
};

/* A growable array of code points. */
struct cps {
	int32_t *v;
	size_t len, cap;
};

/* Text is normalised one segment at a time so each output byte can point
 * back to where it came from. A segment is a grapheme cluster, merged with
 * the next one when NFKC of the two together would differ from the two
 * apart (the next starts with a non-starter or composes with the last). */
struct normalizer {
	struct norm out;
	struct cps pend, cur;
	size_t pend_start;
	bool have_pend;
	bool in_space;
};

/* The folds the spec asks for. Applied before NFKC too, because NFKC
 * turns the double prime into two primes, which would fold to ''. */
static int32_t quote_fold(int32_t c)
{
	switch (c) {
	case 0x2018: case 0x2019: case 0x201A: case 0x201B: case 0x2032:
		return '\'';
	case 0x201C: case 0x201D: case 0x201E: case 0x201F: case 0x2033:
	case 0x00AB: case 0x00BB:
		return '"';
	case 0x2010: case 0x2011: case 0x2012: case 0x2013: case 0x2014:
	case 0x2015: case 0x2212:
		return '-';
	default:
		return c;
	}
}

static utf8proc_int32_t quote_fold_custom(utf8proc_int32_t c, void *data)
{
	return quote_fold(c);
}

static bool quote_is_space(int32_t c)
{
	utf8proc_category_t cat;

	if (c < 0x80)
		return c == ' ' || (c >= '\t' && c <= '\r');
	if (c == 0x85)
		return true;
	cat = utf8proc_category(c);
	return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
	       cat == UTF8PROC_CATEGORY_ZP;
}

static bool quote_is_mark(int32_t c)
{
	utf8proc_category_t cat = utf8proc_category(c);

	return cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC ||
	       cat == UTF8PROC_CATEGORY_ME;
}

/* Letters, marks, numbers and connectors make words. */
static bool quote_is_word(int32_t c)
{
	utf8proc_category_t cat = utf8proc_category(c);

	return cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_PC;
}

static bool quote_is_letter_or_number(int32_t c)
{
	utf8proc_category_t cat = utf8proc_category(c);

	return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
	       (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}

/* Would a boundary between a and b cut a word? Wide characters (CJK) are
 * words of their own, since those scripts do not separate words by space;
 * a boundary before a combining mark always cuts. */
static bool quote_cuts_word(int32_t a, int32_t b)
{
	if (quote_is_mark(b))
		return true;
	return quote_is_word(a) && quote_is_word(b) &&
	       utf8proc_charwidth(a) != 2 && utf8proc_charwidth(b) != 2;
}

static int norm_reserve(struct norm *n, size_t extra)
{
	size_t cap;

	if (extra > n->max || n->len > n->max - extra)
		return -EFBIG;
	if (n->len + extra + 1 <= n->cap)
		return 0;
	/* Start at the input's size (the output of most text is no longer)
	 * and grow by half: the map costs four bytes per byte. */
	cap = n->cap ? n->cap + n->cap / 2 : 4096;
	if (cap < n->len + extra + 1)
		cap = n->len + extra + 1;
	if (cap > n->max + 1)
		cap = n->max + 1;
	n->s = xrealloc(n->s, cap);
	n->map = xreallocarray(n->map, cap, sizeof(*n->map));
	n->cap = cap;
	return 0;
}

static int norm_push(struct norm *n, const char *p, size_t k, size_t from)
{
	int r;

	r = norm_reserve(n, k);
	if (r < 0)
		return r;
	memcpy(n->s + n->len, p, k);
	for (size_t i = 0; i < k; i++)
		n->map[n->len + i] = (uint32_t)from;
	n->len += k;
	return 0;
}

static void cps_reserve(struct cps *c, size_t n)
{
	if (n <= c->cap)
		return;
	c->v = xreallocarray(c->v, n, sizeof(*c->v));
	c->cap = n;
}

/* NFKC of s[0..len) with the folds, into c. */
static int quote_nfkc(const uint8_t *s, size_t len, struct cps *c)
{
	utf8proc_ssize_t n;

	cps_reserve(c, 16);
	for (;;) {
		n = utf8proc_decompose_custom(s, (utf8proc_ssize_t)len, c->v,
					      (utf8proc_ssize_t)c->cap, QUOTE_NFKC,
					      quote_fold_custom, NULL);
		if (n < 0)
			return -EINVAL;
		if ((size_t)n <= c->cap)
			break;
		if ((size_t)n > QUOTE_NORM_MAX)
			return -EFBIG;
		cps_reserve(c, (size_t)n);
	}
	n = utf8proc_normalize_utf32(c->v, n, QUOTE_NFKC);
	if (n < 0)
		return -EINVAL;
	for (utf8proc_ssize_t i = 0; i < n; i++)
		c->v[i] = quote_fold(c->v[i]);
	c->len = (size_t)n;
	return 0;
}

/* True when NFC would join l and f (f a starter right after l). */
static bool quote_composes(int32_t l, int32_t f)
{
	int32_t b[2] = { l, f };
	utf8proc_ssize_t n;

	n = utf8proc_normalize_utf32(b, 2, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
	return n != 2 || b[0] != l || b[1] != f;
}

static int normalizer_emit(struct normalizer *z, const int32_t *v, size_t k, size_t from)
{
	uint8_t u[4];
	utf8proc_ssize_t n;
	int r;

	for (size_t i = 0; i < k; i++) {
		if (quote_is_space(v[i])) {
			if (z->in_space)
				continue;
			r = norm_push(&z->out, " ", 1, from);
			z->in_space = true;
		} else {
			n = utf8proc_encode_char(v[i], u);
			if (n <= 0)
				return -EINVAL;
			r = norm_push(&z->out, (const char *)u, (size_t)n, from);
			z->in_space = false;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int normalizer_flush(struct normalizer *z)
{
	if (!z->have_pend)
		return 0;
	z->have_pend = false;
	return normalizer_emit(z, z->pend.v, z->pend.len, z->pend_start);
}

/* One grapheme cluster s[i..j): merge it into the pending segment or make
 * it the new pending segment. */
static int normalizer_cluster(struct normalizer *z, const uint8_t *s, size_t i, size_t j)
{
	struct cps t;
	int r;

	r = quote_nfkc(s + i, j - i, &z->cur);
	if (r < 0)
		return r;
	if (z->have_pend && z->cur.len > 0 && z->pend.len > 0) {
		int32_t f = z->cur.v[0], l = z->pend.v[z->pend.len - 1];

		if (utf8proc_get_property(f)->combining_class != 0 || quote_composes(l, f))
			return quote_nfkc(s + z->pend_start, j - z->pend_start, &z->pend);
	}
	r = normalizer_flush(z);
	if (r < 0)
		return r;
	t = z->pend;
	z->pend = z->cur;
	z->cur = t;
	z->pend_start = i;
	z->have_pend = true;
	return 0;
}

static int normalizer_run(struct normalizer *z, const uint8_t *s, size_t len)
{
	utf8proc_int32_t state = 0, prev, c;
	utf8proc_ssize_t n;
	size_t i = 0, j;
	int r;

	while (i < len) {
		/* Fast path: an ASCII character followed by ASCII is a cluster
		 * of its own (CR is not: CR LF is one) and its own NFKC. */
		if (s[i] < 0x80 && s[i] != '\r' && (i + 1 == len || s[i + 1] < 0x80) &&
		    !(z->have_pend && z->pend.len > 0 &&
		      quote_composes(z->pend.v[z->pend.len - 1], s[i]))) {
			int32_t a = s[i];

			r = normalizer_flush(z);
			if (r < 0)
				return r;
			r = normalizer_emit(z, &a, 1, i);
			if (r < 0)
				return r;
			state = 0;
			i++;
			continue;
		}
		n = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &prev);
		if (n <= 0)
			return -EINVAL;
		j = i + (size_t)n;
		while (j < len) {
			n = utf8proc_iterate(s + j, (utf8proc_ssize_t)(len - j), &c);
			if (n <= 0)
				return -EINVAL;
			if (utf8proc_grapheme_break_stateful(prev, c, &state))
				break;
			prev = c;
			j += (size_t)n;
		}
		r = normalizer_cluster(z, s, i, j);
		if (r < 0)
			return r;
		i = j;
	}
	r = normalizer_flush(z);
	if (r < 0)
		return r;
	r = norm_reserve(&z->out, 0);
	if (r < 0)
		return r;
	z->out.s[z->out.len] = '\0';
	z->out.map[z->out.len] = (uint32_t)len;
	return 0;
}

/* Normalise s into *ret (s, map, len); the caller frees ret->s and ret->map. */
static int quote_norm(const char *s, size_t len, size_t max_in, struct norm *ret)
{
	struct normalizer z = { .out = { .max = QUOTE_NORM_MAX } };
	int r;

	if (len > max_in) {
		r = -EFBIG;
		goto finish;
	}
	if (!utf8_valid(s, len)) {
		r = -EINVAL;
		goto finish;
	}
	r = norm_reserve(&z.out, len);
	if (r < 0)
		goto finish;
	r = normalizer_run(&z, (const uint8_t *)s, len);
	if (r < 0)
		goto finish;
	*ret = z.out;
	z.out = (struct norm){ 0 };
finish:
	free(z.out.s);
	free(z.out.map);
	free(z.pend.v);
	free(z.cur.v);
	return r;
}

int quote_normalize(const char *s, size_t len, char **ret, size_t *ret_len, size_t **ret_map)
{
	struct norm n;
	size_t *map;
	int r;

	r = quote_norm(s, len, QUOTE_TEXT_MAX, &n);
	if (r < 0)
		return r;
	map = xreallocarray(NULL, n.len + 1, sizeof(*map));
	for (size_t i = 0; i <= n.len; i++)
		map[i] = n.map[i];
	free(n.map);
	*ret = n.s;
	*ret_len = n.len;
	*ret_map = map;
	return 0;
}

int quote_text_new(const char *text, size_t len, struct quote_text **ret)
{
	struct quote_text *t;
	struct norm n;
	int r;

	r = quote_norm(text, len, QUOTE_TEXT_MAX, &n);
	if (r < 0)
		return r;
	t = xmalloc(sizeof(*t));
	t->norm = n.s;
	t->map = n.map;
	t->norm_len = n.len;
	t->len = len;
	*ret = t;
	return 0;
}

struct quote_text *quote_text_free(struct quote_text *t)
{
	if (t == NULL)
		return NULL;
	free(t->norm);
	free(t->map);
	free(t);
	return NULL;
}

/* Normalise and trim the quote and check it is long enough; *ret_off and
 * *ret_len give the trimmed part of ret->s. */
static int quote_prepare(const char *quote, size_t qlen, struct norm *ret,
			 size_t *ret_off, size_t *ret_len)
{
	size_t off = 0, end, words = 0, chars = 0, i;
	bool counted = false;
	struct norm n;
	int32_t c;
	utf8proc_ssize_t k;
	int r;

	r = quote_norm(quote, qlen, QUOTE_QUOTE_MAX, &n);
	if (r < 0)
		return r;
	end = n.len;
	if (off < end && n.s[off] == ' ')
		off++;
	if (end > off && n.s[end - 1] == ' ')
		end--;
	if (off == end) {
		r = -EINVAL;
		goto finish;
	}
	for (i = off; i < end; i += (size_t)k) {
		k = utf8proc_iterate((const uint8_t *)n.s + i, (utf8proc_ssize_t)(end - i), &c);
		if (k <= 0) {
			r = -EINVAL;
			goto finish;
		}
		chars++;
		if (c == ' ') {
			counted = false;
		} else if (!counted && quote_is_letter_or_number(c)) {
			counted = true;
			words++;
		}
	}
	if (words < QUOTE_MIN_WORDS && chars < QUOTE_MIN_CHARS) {
		r = -EMSGSIZE;
		goto finish;
	}
	*ret = n;
	n = (struct norm){ 0 };
	*ret_off = off;
	*ret_len = end - off;
finish:
	free(n.s);
	free(n.map);
	return r;
}

static int32_t quote_cp_at(const char *s, size_t len, size_t i)
{
	int32_t c = -1;

	utf8proc_iterate((const uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
	return c;
}

static int32_t quote_cp_before(const char *s, size_t len, size_t i)
{
	do
		i--;
	while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80);
	return quote_cp_at(s, len, i);
}

/* A match [s, e) of the normalised text counts when it starts and ends on
 * segment boundaries (never inside what one original character became)
 * and does not cut a word at either end. */
static bool quote_text_accept(const struct quote_text *t, size_t s, size_t e)
{
	const char *h = t->norm;
	size_t n = t->norm_len;

	if (s > 0 && t->map[s - 1] == t->map[s])
		return false;
	if (e < n && t->map[e - 1] == t->map[e])
		return false;
	if (s > 0 && quote_cuts_word(quote_cp_before(h, n, s), quote_cp_at(h, n, s)))
		return false;
	if (e < n && quote_cuts_word(quote_cp_before(h, n, e), quote_cp_at(h, n, e)))
		return false;
	return true;
}

int quote_text_find(const struct quote_text *t, const char *quote, size_t qlen,
		    size_t *ret_start, size_t *ret_end)
{
	struct norm q = { 0 };
	size_t *fail = NULL, off, m, k = 0;
	const char *p;
	int r;

	r = quote_prepare(quote, qlen, &q, &off, &m);
	if (r < 0)
		return r;
	p = q.s + off;
	/* Knuth-Morris-Pratt: every occurrence in one linear pass, so a text
	 * full of near-misses (matches that cut words) stays linear. */
	fail = xreallocarray(NULL, m, sizeof(*fail));
	fail[0] = 0;
	for (size_t i = 1; i < m; i++) {
		while (k > 0 && p[k] != p[i])
			k = fail[k - 1];
		if (p[k] == p[i])
			k++;
		fail[i] = k;
	}
	r = -ENOENT;
	k = 0;
	for (size_t i = 0; i < t->norm_len; i++) {
		while (k > 0 && p[k] != t->norm[i])
			k = fail[k - 1];
		if (p[k] == t->norm[i])
			k++;
		if (k < m)
			continue;
		if (quote_text_accept(t, i + 1 - m, i + 1)) {
			*ret_start = t->map[i + 1 - m];
			*ret_end = t->map[i + 1];
			r = 0;
			break;
		}
		k = fail[k - 1];
	}
	free(fail);
	free(q.s);
	free(q.map);
	return r;
}

int quote_find(const char *text, size_t len, const char *quote, size_t qlen,
	       size_t *ret_start, size_t *ret_end)
{
	struct quote_text *t = NULL;
	struct norm q;
	size_t off, m;
	int r;

	/* The quote first: a bad quote is the caller's error whatever the text. */
	r = quote_prepare(quote, qlen, &q, &off, &m);
	if (r < 0)
		return r;
	free(q.s);
	free(q.map);
	r = quote_text_new(text, len, &t);
	if (r < 0)
		return r;
	r = quote_text_find(t, quote, qlen, ret_start, ret_end);
	quote_text_free(t);
	return r;
}
