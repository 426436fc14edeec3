/* Passages of extracted text: blank-line-separated blocks (and headings)
 * packed greedily up to a target size; a block longer than the maximum is
 * split at the sentence, else the word, nearest the target, else cut at a
 * UTF-8 boundary. One pass over the text, no copies. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "chunk.h"
#include "xmalloc.h"

/* Headings kept as context are clipped to this. */
#define CHUNK_MAX_HEADING 256u

static bool chunk_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool chunk_cont(char c)
{
	return ((unsigned char)c & 0xc0) == 0x80;
}

/* Back i up to the start of the UTF-8 sequence it is in, at most 3 bytes
 * and never below lo: invalid input is cut where it has to be. */
static size_t chunk_utf8_floor(const char *t, size_t i, size_t lo)
{
	for (int k = 0; k < 3 && i > lo && chunk_cont(t[i]); k++)
		i--;
	return i;
}

struct chunker {
	const char *t;
	size_t len, target, max;
	struct chunk *out;
	size_t n, alloc;
	/* The passage being built; cs == ce when empty. */
	size_t cs, ce;
	bool only_headings;
	size_t ph_start, ph_end;	/* its heading */
	size_t h_start, h_end;		/* the last heading seen */
};

static void chunker_flush(struct chunker *c)
{
	if (c->cs == c->ce)
		return;
	if (c->n == c->alloc) {
		c->alloc = c->alloc ? 2 * c->alloc : 16;
		c->out = xreallocarray(c->out, c->alloc, sizeof(*c->out));
	}
	c->out[c->n++] = (struct chunk){
		.start = c->cs, .end = c->ce,
		.heading_start = c->ph_start, .heading_end = c->ph_end,
	};
	c->cs = c->ce = 0;
	c->only_headings = false;
}

static void chunker_open(struct chunker *c, size_t s, size_t e, bool heading)
{
	c->cs = s;
	c->ce = e;
	c->only_headings = heading;
	c->ph_start = c->h_start;
	c->ph_end = c->h_end;
}

/* A paragraph piece of at most max bytes. */
static void chunker_piece(struct chunker *c, size_t s, size_t e)
{
	size_t cur, add, combined;

	if (c->cs == c->ce) {
		chunker_open(c, s, e, false);
		return;
	}
	cur = c->ce - c->cs;
	add = e - s;
	combined = e - c->cs;
	/* A heading stays with what follows it; a short passage may grow past
	 * the target, and so may one within it by a short piece (once: not
	 * a chain of them), never past the maximum. */
	if (combined <= c->target ||
	    (combined <= c->max && (c->only_headings || cur < c->target / 2 ||
	    (cur <= c->target && add < c->target / 4)))) {
		c->ce = e;
		c->only_headings = false;
		return;
	}
	chunker_flush(c);
	chunker_open(c, s, e, false);
}

/* The end of the next piece of [p, be) (be - p > max): the sentence end,
 * else word end, nearest the target and at least half of it in. */
static size_t chunker_cut(const struct chunker *c, size_t p, size_t be)
{
	const char *t = c->t;
	size_t lim = p + c->max, lo = p + c->target / 2;
	size_t best_s = 0, best_w = 0, want = p + c->target;

	if (lo <= p)
		lo = p + 1;
	for (size_t e = lo; e <= lim && e < be; e++) {
		size_t k;

		if (!chunk_ws(t[e]) || chunk_ws(t[e - 1]))
			continue;
		/* A word ends at e; a sentence when .!? comes before any
		 * closing quotes and brackets. */
		k = e;
		while (k > p + 1 && (t[k - 1] == '"' || t[k - 1] == '\'' || t[k - 1] == ')' ||
		    t[k - 1] == ']'))
			k--;
		if (t[k - 1] == '.' || t[k - 1] == '!' || t[k - 1] == '?' || t[e] == '\n') {
			if (best_s == 0 || (e > want ? e - want : want - e) <
			    (best_s > want ? best_s - want : want - best_s))
				best_s = e;
		}
		if (best_w == 0 || (e > want ? e - want : want - e) <
		    (best_w > want ? best_w - want : want - best_w))
			best_w = e;
		if (best_s && e > want && e - want >= (best_s > want ? best_s - want : want - best_s))
			break;	/* nothing later is nearer */
	}
	if (best_s)
		return best_s;
	if (best_w)
		return best_w;
	return chunk_utf8_floor(t, lim, p + 1);
}

static void chunker_paragraph(struct chunker *c, size_t bs, size_t be)
{
	size_t p = bs;

	while (be - p > c->max) {
		size_t e = chunker_cut(c, p, be), q = e;

		while (e > p + 1 && chunk_ws(c->t[e - 1]))
			e--;
		chunker_piece(c, p, e);
		while (q < be && chunk_ws(c->t[q]))
			q++;
		p = q;
	}
	if (p < be)
		chunker_piece(c, p, be);
}

static void chunker_heading(struct chunker *c, size_t bs, size_t be, size_t hs, size_t he)
{
	if (he - hs > CHUNK_MAX_HEADING)
		he = chunk_utf8_floor(c->t, hs + CHUNK_MAX_HEADING, hs);
	c->h_start = hs;
	c->h_end = he;
	if (be - bs > c->max) {
		chunker_paragraph(c, bs, be);
		return;
	}
	if (c->cs != c->ce && (!c->only_headings || be - c->cs > c->max))
		chunker_flush(c);
	if (c->cs == c->ce) {
		chunker_open(c, bs, be, true);
	} else {
		/* Headings in a row: the passage takes the innermost. */
		c->ce = be;
		c->ph_start = hs;
		c->ph_end = he;
	}
}

/* An ATX heading line [s, e) (trimmed): up to 3 spaces of indent were
 * skipped already, 1 to 6 '#', then a space or nothing. Sets the text. */
static bool chunk_is_heading(const char *t, size_t s, size_t e, size_t *hs, size_t *he)
{
	size_t i = s, a, b;

	while (i < e && t[i] == '#' && i - s < 7)
		i++;
	if (i == s || i - s > 6 || (i < e && t[i] != ' ' && t[i] != '\t'))
		return false;
	a = i;
	b = e;
	while (a < b && chunk_ws(t[a]))
		a++;
	/* An optional closing run of '#' after a space. */
	{
		size_t k = b;

		while (k > a && t[k - 1] == '#')
			k--;
		if (k == a || chunk_ws(t[k - 1]))
			b = k;
	}
	while (b > a && chunk_ws(t[b - 1]))
		b--;
	*hs = a;
	*he = b;
	return true;
}

static bool chunk_is_fence(const char *t, size_t s, size_t e)
{
	return e - s >= 3 && ((t[s] == '`' && t[s + 1] == '`' && t[s + 2] == '`') ||
	    (t[s] == '~' && t[s + 1] == '~' && t[s + 2] == '~'));
}

int chunk_text(const char *text, size_t len, const struct chunk_options *opt,
    struct chunk **ret, size_t *ret_n)
{
	struct chunker c = { .t = text, .len = len };
	size_t bs = 0, be = 0, ls = 0;
	bool in_block = false, in_fence = false;

	if ((text == NULL && len > 0) || ret == NULL || ret_n == NULL)
		return -EINVAL;
	if (len > CHUNK_MAX_INPUT)
		return -EFBIG;
	c.max = opt && opt->max ? opt->max : CHUNK_DEFAULT_MAX;
	c.target = opt && opt->target ? opt->target : CHUNK_DEFAULT_TARGET;
	if (c.max < CHUNK_MIN_MAX)
		return -EINVAL;
	if (c.target > c.max)
		c.target = c.max;

	while (ls < len) {
		size_t le = ls, fs, fe, hs, he;

		while (le < len && text[le] != '\n')
			le++;
		fs = ls;
		while (fs < le && chunk_ws(text[fs]))
			fs++;
		fe = le;
		while (fe > fs && chunk_ws(text[fe - 1]))
			fe--;
		if (fs == fe) {
			/* A blank line ends the block. */
			if (in_block)
				chunker_paragraph(&c, bs, be);
			in_block = false;
		} else if (!in_fence && fs - ls <= 3 && chunk_is_heading(text, fs, fe, &hs, &he)) {
			if (in_block)
				chunker_paragraph(&c, bs, be);
			in_block = false;
			chunker_heading(&c, fs, fe, hs, he);
		} else {
			/* '#' lines inside a code block are comments, not headings. */
			if (chunk_is_fence(text, fs, fe))
				in_fence = !in_fence;
			if (!in_block)
				bs = fs;
			be = fe;
			in_block = true;
		}
		ls = le + 1;
	}
	if (in_block)
		chunker_paragraph(&c, bs, be);
	chunker_flush(&c);
	*ret = c.out;
	*ret_n = c.n;
	return 0;
}
