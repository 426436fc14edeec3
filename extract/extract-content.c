/* Main-content detection over the compact tree (readability-style scoring
 * of text blocks by length, commas, link density and class/id hints, then
 * conditional cleaning of what was kept) and the Markdown writer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extract-internal.h"
#include "str.h"
#include "xmalloc.h"

/* Attempts, from strict to lenient, as readability does. */
#define MODE_STRIP_UNLIKELY	0x1
#define MODE_WEIGHT_CLASSES	0x2
#define MODE_CLEAN		0x4

#define MIN_CONTENT_CHARS	400	/* below this the next attempt is tried */
#define N_TOP			5
#define MAX_SELECTED		1024	/* sibling roots kept */

struct content {
	struct dom *d;
	struct xnode *N;
	uint8_t *gone;		/* out of this attempt: hidden, unlikely, dropped */
	uint8_t *cut;		/* removed by cleaning */
	int mode;
	uint32_t *sel;		/* selected roots, in document order */
	size_t n_sel;
	const char *title;
};

static inline bool is_block(const struct xnode *n)
{
	return extract_tag_flags[n->tag] & TF_BLOCK;
}

static inline bool is_heading(uint16_t tag)
{
	return tag >= T_H1 && tag <= T_H6;
}

static float link_density(const struct xnode *n)
{
	return n->chars ? (float)n->link_chars / (float)n->chars : 0.0f;
}

static bool scorable(uint16_t tag);

/* Gone flags for this attempt and subtree aggregates of what is left. */
static void aggregate(struct content *c)
{
	struct dom *d = c->d;
	struct xnode *N = c->N;

	c->gone[0] = 0;
	for (uint32_t i = 1; i < d->n; i++) {
		struct xnode *n = &N[i];
		uint8_t g = c->gone[n->parent];

		if (!g && (n->flags & (NF_HIDDEN | NF_DROP)))
			g = 1;
		if (!g && (c->mode & MODE_STRIP_UNLIKELY) && (n->flags & NF_UNLIKELY) &&
		    !(n->flags & NF_OK) && n->tag != T_BODY && n->tag != T_A)
			g = 1;
		c->gone[i] = g;
		c->cut[i] = 0;
		if ((N[n->parent].flags & NF_INLI) || N[n->parent].tag == T_LI)
			n->flags |= NF_INLI;
		n->flags &= (uint16_t)~(NF_SCORED | NF_BLOCKKIDS);
		if (n->tag != T_TEXT) {
			n->chars = n->link_chars = n->commas = 0;
			n->own_chars = n->own_commas = n->own_link = n->good_chars = 0;
			n->n_p = n->n_img = n->n_li = n->n_input = 0;
			n->heading_chars = n->list_chars = 0;
			n->n_embed = n->embeds;
			n->score = 0;
		}
	}
	N[0].chars = N[0].link_chars = N[0].commas = 0;
	N[0].own_chars = N[0].own_commas = N[0].own_link = N[0].good_chars = 0;
	N[0].n_p = N[0].n_img = N[0].n_li = N[0].n_input = N[0].n_embed = 0;
	N[0].heading_chars = N[0].list_chars = 0;
	N[0].flags &= (uint16_t)~NF_SCORED;
	c->cut[0] = 0;
	for (uint32_t i = d->n - 1; i >= 1; i--) {
		struct xnode *n = &N[i], *p;

		if (c->gone[i])
			continue;
		p = &N[n->parent];
		if (is_block(n))
			p->flags |= NF_BLOCKKIDS;
		if (n->tag == T_TEXT) {
			struct xnode *o = p;

			while (!is_block(o) && o->parent != 0)
				o = &N[o->parent];
			o->own_chars += n->chars;
			o->own_commas += n->commas;
			o->own_link += n->link_chars;
		} else if (n->tag == T_P) {
			n->n_p++;
		} else if (n->tag == T_IMG) {
			n->n_img++;
		} else if (n->tag == T_LI) {
			n->n_li++;
		} else if (n->tag == T_INPUT) {
			n->n_input++;
		} else if (is_heading(n->tag)) {
			n->heading_chars = n->chars;
		} else if (n->tag == T_UL || n->tag == T_OL) {
			n->list_chars = n->chars;
		}
		if (n->own_chars >= 80 && n->own_link * 4 < n->own_chars && scorable(n->tag) &&
		    !(n->flags & NF_INLI))
			n->good_chars += n->own_chars;
		p->good_chars += n->good_chars;
		p->chars += n->chars;
		p->link_chars += n->tag == T_A ? n->chars : n->link_chars;
		p->commas += n->commas;
		p->n_p += n->n_p;
		p->n_img += n->n_img;
		p->n_li += n->n_li;
		p->n_input += n->n_input;
		p->n_embed += n->n_embed;
		p->heading_chars += n->heading_chars;
		p->list_chars += n->list_chars;
	}
}

static float tag_base_score(uint16_t tag)
{
	switch (tag) {
	case T_DIV: case T_ARTICLE: case T_MAIN:
		return 5;
	case T_PRE: case T_TD: case T_BLOCKQUOTE:
		return 3;
	case T_ADDRESS: case T_OL: case T_UL: case T_DL: case T_DD: case T_DT: case T_LI:
	case T_FORM:
		return -3;
	case T_H1: case T_H2: case T_H3: case T_H4: case T_H5: case T_H6: case T_TH:
		return -5;
	default:
		return 0;
	}
}

static int16_t weight(const struct content *c, const struct xnode *n)
{
	int w = 0;

	if (c->mode & MODE_WEIGHT_CLASSES) {
		w = n->weight;
		if (n->flags & NF_ARTICLEBODY)
			w += 50;
	}
	return (int16_t)w;
}

static void candidate_init(struct content *c, struct xnode *n)
{
	n->flags |= NF_SCORED;
	n->score = tag_base_score(n->tag) + weight(c, n);
}

static bool scorable(uint16_t tag)
{
	switch (tag) {
	case T_LI: case T_DT: case T_DD: case T_TH: case T_H1: case T_CAPTION:
	case T_FIGCAPTION: case T_ADDRESS: case T_FORM: case T_HEAD: case T_ROOT:
	case T_HTML: case T_BODY: case T_UL: case T_OL: case T_DL: case T_MENU:
	case T_NAV: case T_ASIDE: case T_FOOTER: case T_HEADER:
		return false;
	default:
		return true;
	}
}

static uint32_t element_children(const struct content *c, uint32_t i)
{
	uint32_t k = 0;

	for (uint32_t j = c->N[i].first; j; j = c->N[j].next)
		if (!c->gone[j] && c->N[j].tag != T_TEXT)
			k++;
	return k;
}

static bool is_body(const struct xnode *n)
{
	return n->tag == T_BODY || n->tag == T_HTML || n->tag == T_ROOT;
}

static bool is_ancestor(const struct content *c, uint32_t anc, uint32_t i)
{
	for (i = c->N[i].parent; i; i = c->N[i].parent)
		if (i == anc)
			return true;
	return anc == 0;
}

static uint32_t find_top(struct content *c)
{
	struct xnode *N = c->N;
	uint32_t top[N_TOP] = { 0 };
	size_t n_top = 0;
	uint32_t best, parent;
	float last, threshold;

	/* Score every block of text into its ancestors. */
	for (uint32_t i = 1; i < c->d->n; i++) {
		struct xnode *n = &N[i];
		float s;
		uint32_t a = n->parent;

		if (c->gone[i] || n->tag == T_TEXT || n->own_chars < 25 || !scorable(n->tag))
			continue;
		s = 1.0f + (float)n->own_commas + (float)(n->own_chars / 100 < 3 ? n->own_chars / 100 : 3);
		/* Text beside blocks is a paragraph of its own inside this
		 * node, as readability wraps it in a <p>. */
		if ((n->flags & NF_BLOCKKIDS) && n->tag != T_P)
			a = i;
		for (int level = 0; level < 5 && a != 0; level++, a = N[a].parent) {
			struct xnode *an = &N[a];

			if (an->tag == T_HTML)
				break;
			if (!(an->flags & NF_SCORED))
				candidate_init(c, an);
			an->score += s / (level == 0 ? 1.0f : level == 1 ? 2.0f : (float)level * 3.0f);
		}
	}
	for (uint32_t i = 1; i < c->d->n; i++) {
		struct xnode *n = &N[i];
		size_t k;

		if (c->gone[i] || !(n->flags & NF_SCORED))
			continue;
		n->score *= 1.0f - link_density(n);
		for (k = n_top; k > 0 && N[top[k - 1]].score < n->score; k--)
			;
		if (k < N_TOP) {
			size_t last_k = n_top < N_TOP ? n_top : N_TOP - 1;

			memmove(&top[k + 1], &top[k], (last_k - k) * sizeof(top[0]));
			top[k] = i;
			if (n_top < N_TOP)
				n_top++;
		}
	}
	if (n_top == 0 || is_body(&N[top[0]])) {
		for (uint32_t i = 1; i < c->d->n; i++)
			if (N[i].tag == T_BODY && !c->gone[i])
				return i;
		return 0;
	}
	best = top[0];
	/* Several near-best candidates under one ancestor: take the ancestor. */
	{
		uint32_t alt[N_TOP];
		size_t n_alt = 0;

		for (size_t k = 1; k < n_top; k++)
			if (N[top[k]].score / N[best].score >= 0.75f)
				alt[n_alt++] = top[k];
		if (n_alt >= 3) {
			for (parent = N[best].parent; parent && !is_body(&N[parent]); parent = N[parent].parent) {
				size_t hits = 0;

				for (size_t k = 0; k < n_alt; k++)
					if (is_ancestor(c, parent, alt[k]))
						hits++;
				if (hits >= 3) {
					best = parent;
					break;
				}
			}
		}
	}
	if (!(N[best].flags & NF_SCORED))
		candidate_init(c, &N[best]);
	/* Climb while the parent scores better: the content is spread out. */
	last = N[best].score;
	threshold = last / 3;
	for (parent = N[best].parent; parent && !is_body(&N[parent]); parent = N[parent].parent) {
		if (!(N[parent].flags & NF_SCORED))
			continue;
		if (N[parent].score < threshold)
			break;
		if (N[parent].score > last) {
			best = parent;
			break;
		}
		last = N[parent].score;
	}
	for (parent = N[best].parent; parent && !is_body(&N[parent]) && element_children(c, parent) == 1;
	     parent = N[parent].parent)
		best = parent;
	if (!(N[best].flags & NF_SCORED))
		candidate_init(c, &N[best]);
	return best;
}

static bool text_has_sentence(const struct content *c, uint32_t i)
{
	const struct xnode *N = c->N;
	uint32_t end = i;

	while (N[end].last)
		end = N[end].last;
	for (uint32_t j = i + 1; j <= end; j++) {
		if (N[j].tag != T_TEXT || c->gone[j])
			continue;
		const char *s = c->d->text.data + N[j].text_off;

		if (memmem(s, N[j].text_len, ". ", 2) != NULL ||
		    (N[j].text_len > 0 && s[N[j].text_len - 1] == '.'))
			return true;
	}
	return false;
}

static void select_siblings(struct content *c, uint32_t top)
{
	struct xnode *N = c->N;
	uint32_t parent = N[top].parent;
	float threshold = N[top].score * 0.2f;

	c->n_sel = 0;
	if (threshold < 10)
		threshold = 10;
	if (top == 0 || is_body(&N[top]) || parent == 0) {
		c->sel[c->n_sel++] = top;
		return;
	}
	for (uint32_t s = N[parent].first; s; s = N[s].next) {
		bool keep = false;

		if (c->gone[s] || N[s].tag == T_TEXT)
			continue;
		float bonus = N[s].class_hash && N[s].class_hash == N[top].class_hash ? N[top].score * 0.2f : 0;

		if (s == top) {
			keep = true;
		} else if ((N[s].flags & NF_SCORED) && N[s].score + bonus >= threshold) {
			keep = true;
		} else if (N[s].tag == T_P) {
			float ld = link_density(&N[s]);

			if (N[s].chars > 80 && ld < 0.25f)
				keep = true;
			else if (N[s].chars > 0 && N[s].chars <= 80 && ld == 0 && text_has_sentence(c, s))
				keep = true;
		}
		if (keep && c->n_sel < MAX_SELECTED)
			c->sel[c->n_sel++] = s;
	}
}

static uint32_t last_descendant(const struct xnode *N, uint32_t i)
{
	while (N[i].last)
		i = N[i].last;
	return i;
}

/* Articles split into several containers (text, figure, text): climb to
 * the ancestor when what it adds is mostly paragraphs of text. */
static void extend_up(struct content *c)
{
	struct xnode *N = c->N;
	uint32_t sel_chars = 0, sel_good = 0, a;

	if (c->n_sel == 0)
		return;
	for (size_t k = 0; k < c->n_sel; k++) {
		sel_chars += N[c->sel[k]].chars;
		sel_good += N[c->sel[k]].good_chars;
	}
	a = N[c->sel[0]].parent;
	for (int level = 0; level < 6 && a != 0 && !is_body(&N[a]); level++, a = N[a].parent) {
		uint32_t extra = N[a].chars - sel_chars;
		uint32_t extra_good = N[a].good_chars - sel_good;

		if (extra == 0)
			continue;
		if (extra_good * 10 < extra * 6 || link_density(&N[a]) > 0.25f)
			break;
		/* Whole paragraphs of it, not a bio or a disclaimer. */
		if (extra_good < 1000 || extra_good * 4 < sel_good)
			continue;
		c->sel[0] = a;
		c->n_sel = 1;
		sel_chars = N[a].chars;
		sel_good = N[a].good_chars;
	}
}

static void cut_node(struct content *c, uint32_t i)
{
	struct xnode *N = c->N, *n = &N[i];

	c->cut[i] = 1;
	for (uint32_t a = n->parent;; a = N[a].parent) {
		struct xnode *p = &N[a];

		p->chars -= n->chars;
		p->link_chars -= n->tag == T_A ? n->chars : n->link_chars;
		p->commas -= n->commas;
		p->n_p -= n->n_p;
		p->n_img -= n->n_img;
		p->n_li -= n->n_li;
		p->n_input -= n->n_input;
		p->n_embed -= n->n_embed;
		p->heading_chars -= n->heading_chars;
		p->list_chars -= n->list_chars;
		if (a == 0)
			break;
	}
}

static bool cut_or_gone(const struct content *c, uint32_t i, uint32_t stop)
{
	for (; i && i != stop; i = c->N[i].parent)
		if (c->cut[i] || c->gone[i])
			return true;
	return c->cut[i] || c->gone[i];
}

static bool has_ancestor(const struct content *c, uint32_t i, uint16_t tag)
{
	for (i = c->N[i].parent; i; i = c->N[i].parent)
		if (c->N[i].tag == tag)
			return true;
	return false;
}

/* Counts rows and the widest row; false when a table is nested inside. */
static bool table_shape(const struct content *c, uint32_t t, uint32_t *rows, uint32_t *cols,
			bool *has_th)
{
	const struct xnode *N = c->N;
	uint32_t end = last_descendant(N, t);

	*rows = *cols = 0;
	*has_th = false;
	for (uint32_t j = t + 1; j <= end; j++) {
		if (N[j].tag == T_TABLE)
			return false;
		if (N[j].tag == T_TH || N[j].tag == T_THEAD || N[j].tag == T_CAPTION)
			*has_th = true;
		if (N[j].tag == T_TR) {
			uint32_t k = 0;

			(*rows)++;
			for (uint32_t x = N[j].first; x; x = N[x].next)
				if (N[x].tag == T_TD || N[x].tag == T_TH)
					k++;
			if (k > *cols)
				*cols = k;
		}
	}
	return true;
}

static bool is_data_table(const struct content *c, uint32_t t)
{
	uint32_t rows, cols;
	bool th;

	if (!table_shape(c, t, &rows, &cols, &th))
		return false;
	if (rows <= 1 || cols <= 1)
		return false;
	/* Cells with whole paragraphs in them are layout. */
	if (c->N[t].n_p > rows)
		return false;
	if (th)
		return true;
	return rows >= 10 || cols > 4 || rows * cols > 10;
}

static bool clean_remove(struct content *c, uint32_t i)
{
	struct xnode *n = &c->N[i];
	bool is_list = n->tag == T_UL || n->tag == T_OL;
	int w = weight(c, n);
	float score = (n->flags & NF_SCORED) ? n->score : 0;

	if (n->tag == T_TABLE && is_data_table(c, i))
		return false;
	if (has_ancestor(c, i, T_CODE) || has_ancestor(c, i, T_PRE))
		return false;
	if (!is_list && n->chars > 0 && (float)n->list_chars / (float)n->chars > 0.9f)
		is_list = true;
	if ((float)w + score < 0)
		return true;
	if (n->commas < 10) {
		float p = (float)n->n_p;
		float img = (float)n->n_img;
		float li = (float)n->n_li - 100;
		float input = (float)n->n_input;
		float heading_density = n->chars ? (float)n->heading_chars / (float)n->chars : 0;
		float ld = link_density(n);
		uint32_t len = n->chars;
		bool figure = has_ancestor(c, i, T_FIGURE);

		if ((img > 1 && p / img < 0.5f && !figure) ||
		    (!is_list && li > p) ||
		    (input > (float)(n->n_p / 3)) ||
		    (!is_list && heading_density < 0.9f && len < 25 && (img == 0 || img > 2) && !figure) ||
		    (!is_list && w < 25 && ld > 0.2f) ||
		    (w >= 25 && ld > 0.5f) ||
		    (n->n_embed == 1 && len < 75) || n->n_embed > 1)
			return true;
	}
	return false;
}

static bool similar_to_title(const struct content *c, uint32_t h);

/* A short block of inline text with a year or a clock time in it: the
 * "Published 19 Nov 2019 10:07" line of a news page. */
static bool is_dateline(const struct content *c, uint32_t i)
{
	const struct xnode *N = c->N;
	uint32_t end;
	int run = 0;
	char prev = 0;

	if (!is_block(&N[i]) || (N[i].flags & NF_BLOCKKIDS) || N[i].chars == 0 || N[i].chars > 60 ||
	    is_heading(N[i].tag))
		return false;
	/* A table cell holding a figure is data, not a dateline. */
	if (N[i].tag == T_TD || N[i].tag == T_TH)
		return false;
	end = last_descendant(N, i);
	for (uint32_t j = i + 1; j <= end; j++) {
		const char *s;

		if (N[j].tag != T_TEXT)
			continue;
		s = c->d->text.data + N[j].text_off;
		for (uint32_t k = 0; k < N[j].text_len; k++) {
			if (s[k] >= '0' && s[k] <= '9') {
				if (++run == 4 || (prev == ':' && run == 2))
					return true;
			} else {
				if (run == 0 || s[k] != ':')
					prev = 0;
				else
					prev = ':';
				run = 0;
			}
		}
	}
	return false;
}

/* A heading with no text after it before the next heading or the end of
 * the content introduces something cleaning removed ("Related articles"). */
static void cut_orphan_headings(struct content *c, uint32_t root, uint32_t end)
{
	struct xnode *N = c->N;

	for (uint32_t i = root + 1; i <= end; i++) {
		uint32_t j, h_end;
		bool text = false;

		if (!is_heading(N[i].tag) || cut_or_gone(c, i, root))
			continue;
		h_end = last_descendant(N, i);
		for (j = h_end + 1; j <= end && !text; j++) {
			if (is_heading(N[j].tag) && !cut_or_gone(c, j, root))
				break;
			if (N[j].tag == T_TEXT && N[j].chars > 0 && !cut_or_gone(c, j, root))
				text = true;
		}
		if (!text)
			cut_node(c, i);
		i = h_end;
	}
}

/* Readability's preparation of the article: drop what is rarely content
 * inside the kept subtrees. */
static void clean(struct content *c)
{
	struct xnode *N = c->N;

	for (size_t k = 0; k < c->n_sel; k++) {
		uint32_t root = c->sel[k], end = last_descendant(N, root);
		bool first_heading = true;
		uint32_t text_before = 0;

		for (uint32_t i = root + 1; i <= end; i++) {
			struct xnode *n = &N[i];

			if (c->gone[i] || c->cut[i])
				continue;
			if (n->tag == T_TEXT) {
				text_before += n->chars;
				continue;
			}
			/* A date or byline line above the text is metadata too. */
			if (text_before < 300 && is_dateline(c, i)) {
				cut_node(c, i);
				i = last_descendant(N, i);
				continue;
			}
			/* The page's title heads the article: it is metadata. */
			if (n->tag == T_H1 && text_before < 200) {
				cut_node(c, i);
				i = last_descendant(N, i);
				continue;
			}
			switch (n->tag) {
			case T_FOOTER: case T_ASIDE: case T_NAV: case T_INPUT:
				cut_node(c, i);
				i = last_descendant(N, i);
				continue;
			default:
				break;
			}
			/* Captions and photo credits are not the article's text. */
			if (n->tag == T_FIGCAPTION ||
			    ((n->flags & NF_CAPTION) && n->chars < 500 && n->n_p <= 1)) {
				cut_node(c, i);
				i = last_descendant(N, i);
				continue;
			}
			if ((n->flags & NF_SHARE) && n->chars < 500) {
				cut_node(c, i);
				i = last_descendant(N, i);
				continue;
			}
			if ((n->flags & NF_BYLINE) && n->chars < 100 && n->n_p == 0) {
				cut_node(c, i);
				i = last_descendant(N, i);
				continue;
			}
			if ((n->tag == T_H1 || n->tag == T_H2) && (c->mode & MODE_WEIGHT_CLASSES) &&
			    n->weight < 0) {
				cut_node(c, i);
				i = last_descendant(N, i);
				continue;
			}
			if (is_heading(n->tag) && first_heading) {
				first_heading = false;
				if (similar_to_title(c, i)) {
					cut_node(c, i);
					i = last_descendant(N, i);
					continue;
				}
			}
		}
		if (!(c->mode & MODE_CLEAN))
			continue;
		for (uint32_t i = end; i > root; i--) {
			struct xnode *n = &N[i];

			if (n->tag != T_DIV && n->tag != T_SECTION && n->tag != T_UL && n->tag != T_OL &&
			    n->tag != T_TABLE && n->tag != T_FORM && n->tag != T_FIELDSET)
				continue;
			if (cut_or_gone(c, i, root))
				continue;
			if (clean_remove(c, i))
				cut_node(c, i);
		}
		/* Paragraphs that are mostly a link: "Read more: ...". */
		for (uint32_t i = end; i > root; i--) {
			struct xnode *n = &N[i];

			if (n->tag != T_P || n->chars == 0 || n->chars >= 250 || link_density(n) <= 0.7f)
				continue;
			if (!cut_or_gone(c, i, root))
				cut_node(c, i);
		}
		cut_orphan_headings(c, root, end);
	}
}

/* ---- Markdown writer ---- */

#define MD_SPACE	1
#define MD_LINE		2
#define MD_PARA		3

struct md {
	struct content *c;
	struct buf *out;
	int err;
	int pending;
	bool oneline;		/* table cells: every break is a space */
	char prefix[128];	/* quote markers and list indentation */
	size_t prefix_len;
	size_t blank_len;	/* prefix of the blank line of a pending break */
	unsigned list_depth;
	uint32_t ol_count[32];
	bool ol[32];
	struct link_sink *links;
};

static void md_raw(struct md *m, const char *s, size_t n)
{
	if (m->err == 0 && n > 0)
		m->err = buf_append(m->out, s, n);
}

static void md_break(struct md *m, int kind)
{
	/* The blank line between blocks belongs to the outer block: a quote
	 * opened after the break does not mark it. */
	if (m->pending < MD_LINE && kind >= MD_LINE)
		m->blank_len = m->prefix_len;
	if (m->pending < kind)
		m->pending = kind;
}

static void md_flush(struct md *m)
{
	int p = m->pending;

	m->pending = 0;
	if (m->out->len == 0 || p == 0)
		return;
	if (m->oneline || p == MD_SPACE) {
		char last = m->out->data[m->out->len - 1];

		if (last != ' ' && last != '\n')
			md_raw(m, " ", 1);
		return;
	}
	md_raw(m, "\n", 1);
	if (p == MD_PARA) {
		size_t n = m->blank_len < m->prefix_len ? m->blank_len : m->prefix_len;

		while (n > 0 && m->prefix[n - 1] == ' ')
			n--;
		md_raw(m, m->prefix, n);
		md_raw(m, "\n", 1);
	}
	md_raw(m, m->prefix, m->prefix_len);
}

static void md_text(struct md *m, const struct xnode *n)
{
	const char *s = m->c->d->text.data + n->text_off;
	size_t len = n->text_len;

	if (n->flags & NF_PRE) {
		if (m->pending)
			md_flush(m);
		if (m->oneline) {
			for (size_t i = 0; i < len; i++)
				md_raw(m, s[i] == '\n' ? " " : &s[i], 1);
			return;
		}
		for (size_t i = 0; i < len; i++) {
			md_raw(m, &s[i], 1);
			if (s[i] == '\n')
				md_raw(m, m->prefix, m->prefix_len);
		}
		return;
	}
	if (len > 0 && s[0] == ' ') {
		md_break(m, MD_SPACE);
		s++;
		len--;
	}
	if (len == 0)
		return;
	{
		bool trail = s[len - 1] == ' ';

		if (trail)
			len--;
		if (len > 0) {
			md_flush(m);
			if (m->oneline && memchr(s, '|', len) != NULL) {
				for (size_t i = 0; i < len; i++)
					md_raw(m, s[i] == '|' ? "\\|" : &s[i], s[i] == '|' ? 2 : 1);
			} else {
				md_raw(m, s, len);
			}
		}
		if (trail)
			md_break(m, MD_SPACE);
	}
}

static void prefix_push(struct md *m, const char *s)
{
	size_t n = strlen(s);

	if (m->prefix_len + n < sizeof(m->prefix)) {
		memcpy(m->prefix + m->prefix_len, s, n);
		m->prefix_len += n;
	}
}

static void prefix_pop(struct md *m, const char *s)
{
	size_t n = strlen(s);

	if (m->prefix_len >= n && memcmp(m->prefix + m->prefix_len - n, s, n) == 0)
		m->prefix_len -= n;
}

static bool skip_node(const struct md *m, uint32_t i)
{
	return m->c->gone[i] || m->c->cut[i];
}

static void md_walk(struct md *m, uint32_t root);

static void md_table(struct md *m, uint32_t t)
{
	const struct xnode *N = m->c->N;
	uint32_t end = last_descendant(N, t), rows = 0, cols, r;
	bool th;
	struct buf cell;

	table_shape(m->c, t, &r, &cols, &th);
	md_break(m, MD_PARA);
	buf_init(&cell, m->out->max);
	for (uint32_t j = t + 1; j <= end && m->err == 0; j++) {
		if (N[j].tag != T_TR || cut_or_gone(m->c, j, t))
			continue;
		uint32_t k = 0;

		md_flush(m);
		md_raw(m, "|", 1);
		for (uint32_t x = N[j].first; x && m->err == 0; x = N[x].next) {
			struct md sub;

			if ((N[x].tag != T_TD && N[x].tag != T_TH) || skip_node(m, x))
				continue;
			memset(&sub, 0, sizeof(sub));
			sub.c = m->c;
			sub.out = &cell;
			sub.oneline = true;
			buf_reset(&cell);
			md_walk(&sub, x);
			if (sub.err) {
				m->err = sub.err;
				break;
			}
			md_raw(m, " ", 1);
			md_raw(m, cell.data ? cell.data : "", cell.len);
			md_raw(m, " |", 2);
			k++;
		}
		for (; k < cols; k++)
			md_raw(m, "  |", 3);
		md_break(m, MD_LINE);
		if (rows++ == 0) {
			md_flush(m);
			md_raw(m, "|", 1);
			for (k = 0; k < (cols ? cols : 1); k++)
				md_raw(m, " --- |", 6);
			md_break(m, MD_LINE);
		}
	}
	buf_free(&cell);
	md_break(m, MD_PARA);
}

static void link_add(struct md *m, uint32_t a)
{
	struct link_sink *ls = m->links;
	const struct xnode *N = m->c->N;
	char *url;
	struct buf text;
	uint32_t end;

	if (ls == NULL || N[a].text_len == 0)
		return;
	if (ls->n >= ls->max) {
		/* Full: not resolved, so this one may have been a duplicate. */
		ls->truncated = true;
		return;
	}
	url = extract_resolve_url(ls->base, m->c->d->attrs.data + N[a].text_off);
	if (url == NULL)
		return;
	for (size_t i = 0; i < ls->n; i++)
		if (strcmp(ls->links[i].url, url) == 0) {
			free(url);
			return;
		}
	if (ls->n >= ls->max) {
		ls->truncated = true;
		free(url);
		return;
	}
	buf_init(&text, 512);
	end = last_descendant(N, a);
	for (uint32_t j = a + 1; j <= end; j++) {
		if (N[j].tag != T_TEXT)
			continue;
		if (buf_append(&text, m->c->d->text.data + N[j].text_off, N[j].text_len) < 0)
			break;
	}
	ls->links[ls->n].url = url;
	ls->links[ls->n].text = xstrdup(text.data ? str_trim(text.data) : "");
	ls->n++;
	buf_free(&text);
}

static void md_enter(struct md *m, uint32_t i, bool *descend)
{
	const struct xnode *n = &m->c->N[i];

	*descend = true;
	switch (n->tag) {
	case T_TEXT:
		md_text(m, n);
		return;
	case T_BR:
		/* <br><br> separates paragraphs. */
		md_break(m, m->pending == MD_LINE ? MD_PARA : MD_LINE);
		return;
	case T_HR:
		md_break(m, MD_PARA);
		return;
	case T_IMG: case T_INPUT:
		*descend = false;
		return;
	case T_A:
		link_add(m, i);
		return;
	case T_H1: case T_H2: case T_H3: case T_H4: case T_H5: case T_H6:
		md_break(m, MD_PARA);
		if (!m->oneline && n->chars > 0) {
			md_flush(m);
			md_raw(m, "######", (size_t)(n->tag - T_H1 + 1));
			md_raw(m, " ", 1);
		}
		return;
	case T_PRE:
		md_break(m, MD_PARA);
		if (!m->oneline) {
			md_flush(m);
			md_raw(m, "```", 3);
			md_break(m, MD_LINE);
			md_flush(m);
		}
		return;
	case T_CODE:
		if (!m->oneline && !has_ancestor(m->c, i, T_PRE) && n->chars > 0) {
			if (m->pending)
				md_flush(m);
			md_raw(m, "`", 1);
		}
		return;
	case T_UL: case T_OL: case T_MENU:
		if (m->list_depth == 0)
			md_break(m, MD_PARA);
		else
			md_break(m, MD_LINE);
		if (m->list_depth < 32) {
			m->ol[m->list_depth] = n->tag == T_OL;
			m->ol_count[m->list_depth] = 0;
		}
		if (m->list_depth > 0)
			prefix_push(m, "  ");
		m->list_depth++;
		return;
	case T_LI:
		md_break(m, MD_LINE);
		if (!m->oneline) {
			unsigned k = m->list_depth ? m->list_depth - 1 : 0;

			md_flush(m);
			if (m->list_depth > 0 && k < 32 && m->ol[k]) {
				char num[16];
				int len = snprintf(num, sizeof(num), "%u. ", ++m->ol_count[k]);

				md_raw(m, num, (size_t)len);
			} else {
				md_raw(m, "- ", 2);
			}
		}
		return;
	case T_BLOCKQUOTE:
		md_break(m, MD_PARA);
		if (!m->oneline) {
			prefix_push(m, "> ");
		}
		return;
	case T_TABLE:
		if (!m->oneline && is_data_table(m->c, i)) {
			md_table(m, i);
			*descend = false;
			return;
		}
		md_break(m, MD_PARA);
		return;
	case T_TD: case T_TH:
		md_break(m, MD_PARA);
		return;
	default:
		if (is_block(n))
			md_break(m, m->list_depth && n->tag != T_P ? MD_LINE : MD_PARA);
		return;
	}
}

static void md_leave(struct md *m, uint32_t i)
{
	const struct xnode *n = &m->c->N[i];

	switch (n->tag) {
	case T_PRE:
		if (!m->oneline) {
			/* The code's own last newline ends the block. */
			if (m->out->len > 0 && m->out->data[m->out->len - 1] == '\n' && m->pending < MD_LINE)
				m->pending = 0;
			else
				md_break(m, MD_LINE);
			md_flush(m);
			md_raw(m, "```", 3);
		}
		md_break(m, MD_PARA);
		return;
	case T_CODE:
		if (!m->oneline && !has_ancestor(m->c, i, T_PRE) && n->chars > 0) {
			/* A space or break pending inside the code goes after it. */
			int pending = m->pending;

			m->pending = 0;
			md_raw(m, "`", 1);
			m->pending = pending;
		}
		return;
	case T_UL: case T_OL: case T_MENU:
		if (m->list_depth > 0)
			m->list_depth--;
		if (m->list_depth > 0)
			prefix_pop(m, "  ");
		md_break(m, m->list_depth ? MD_LINE : MD_PARA);
		return;
	case T_BLOCKQUOTE:
		if (!m->oneline)
			prefix_pop(m, "> ");
		md_break(m, MD_PARA);
		return;
	case T_TEXT: case T_A: case T_IMG: case T_BR:
		return;
	default:
		if (is_block(n))
			md_break(m, m->list_depth && n->tag != T_P ? MD_LINE : MD_PARA);
		return;
	}
}

/* Iterative pre/post-order walk: nesting depth costs no stack. */
static void md_walk(struct md *m, uint32_t root)
{
	const struct xnode *N = m->c->N;
	uint32_t i = root;
	bool descend;

	if (skip_node(m, root))
		return;
	for (;;) {
		md_enter(m, i, &descend);
		if (m->err)
			return;
		if (descend) {
			uint32_t ch = N[i].first;

			while (ch && skip_node(m, ch))
				ch = N[ch].next;
			if (ch) {
				i = ch;
				continue;
			}
		}
		for (;;) {
			uint32_t nx;

			md_leave(m, i);
			if (i == root)
				return;
			nx = N[i].next;
			while (nx && skip_node(m, nx))
				nx = N[nx].next;
			if (nx) {
				i = nx;
				break;
			}
			i = N[i].parent;
			descend = true;
		}
	}
}

/* Letters and digits of a heading or title, lowercased ASCII, for a loose
 * comparison. */
static size_t squash(const char *s, size_t n, char *out, size_t max)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o < max; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch >= 'A' && ch <= 'Z')
			out[o++] = (char)(ch - 'A' + 'a');
		else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch >= 0x80)
			out[o++] = (char)ch;
	}
	return o;
}

static bool similar_to_title(const struct content *c, uint32_t h)
{
	const struct xnode *N = c->N;
	char a[512], b[512];
	size_t na, nb = 0;
	uint32_t end = last_descendant(N, h);

	if (c->title == NULL || N[h].chars > 400)
		return false;
	na = squash(c->title, strlen(c->title), a, sizeof(a));
	for (uint32_t j = h + 1; j <= end; j++)
		if (N[j].tag == T_TEXT)
			nb += squash(c->d->text.data + N[j].text_off, N[j].text_len, b + nb, sizeof(b) - nb);
	if (na < 8 || nb < 8)
		return false;
	return memmem(a, na, b, nb) != NULL || memmem(b, nb, a, na) != NULL;
}

static size_t selected_chars(const struct content *c)
{
	size_t n = 0;

	for (size_t k = 0; k < c->n_sel; k++)
		n += c->N[c->sel[k]].chars;
	return n;
}

/* A listing of several <article>s (the post and the posts after it): when
 * the page's <h1> is in one of them and it holds real text, that one is
 * the article. */
static void narrow_to_article(struct content *c)
{
	const struct xnode *N = c->N;
	uint32_t articles = 0, with_h1 = 0;

	for (size_t k = 0; k < c->n_sel; k++) {
		uint32_t root = c->sel[k], end = last_descendant(N, root);

		for (uint32_t i = root; i <= end; i++) {
			if (N[i].tag != T_ARTICLE || c->gone[i])
				continue;
			articles++;
			if (with_h1 == 0) {
				uint32_t e = last_descendant(N, i);

				for (uint32_t j = i + 1; j <= e; j++)
					if (N[j].tag == T_H1 && !c->gone[j]) {
						with_h1 = i;
						break;
					}
			}
			i = last_descendant(N, i);
		}
	}
	if (articles < 2 || with_h1 == 0 || N[with_h1].good_chars < 300)
		return;
	c->sel[0] = with_h1;
	c->n_sel = 1;
}

static void attempt(struct content *c, int mode)
{
	uint32_t top;

	c->mode = mode;
	aggregate(c);
	top = find_top(c);
	select_siblings(c, top);
	extend_up(c);
	narrow_to_article(c);
	clean(c);
}

int content_extract(struct dom *d, const char *title, struct buf *out, struct link_sink *links)
{
	static const int modes[] = {
		MODE_STRIP_UNLIKELY | MODE_WEIGHT_CLASSES | MODE_CLEAN,
		MODE_WEIGHT_CLASSES | MODE_CLEAN,
		MODE_CLEAN,
		0,
	};
	struct content c = {
		.d = d,
		.N = d->nodes,
		.title = title,
	};
	struct md m;
	int best_mode = modes[0];
	size_t best = 0;
	bool done = false;

	c.gone = xcalloc(d->n, 1);
	c.cut = xcalloc(d->n, 1);
	c.sel = xcalloc(MAX_SELECTED, sizeof(*c.sel));
	for (size_t k = 0; k < sizeof(modes) / sizeof(modes[0]); k++) {
		size_t n;

		attempt(&c, modes[k]);
		n = selected_chars(&c);
		if (n >= MIN_CONTENT_CHARS) {
			done = true;
			break;
		}
		if (n > best) {
			best = n;
			best_mode = modes[k];
		}
	}
	if (!done)
		attempt(&c, best_mode);
	memset(&m, 0, sizeof(m));
	m.c = &c;
	m.out = out;
	m.links = links;
	for (size_t k = 0; k < c.n_sel && m.err == 0; k++) {
		md_walk(&m, c.sel[k]);
		md_break(&m, MD_PARA);
	}
	free(c.gone);
	free(c.cut);
	free(c.sel);
	return m.err == -ENOBUFS ? -EFBIG : m.err;
}
