/* Internals of extract/: a compact document tree built from libxml2's
 * SAX events (extract-dom.c), main-content scoring and Markdown output
 * (extract-content.c). Not for use outside extract/extract*.c. */
#ifndef RESEARCHD_EXTRACT_INTERNAL_H
#define RESEARCHD_EXTRACT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "extract.h"

enum tag {
	T_TEXT = 0, T_ROOT, T_OTHER,
	T_A, T_ADDRESS, T_ARTICLE, T_ASIDE, T_AUDIO, T_B, T_BASE, T_BLOCKQUOTE, T_BODY,
	T_BR, T_BUTTON, T_CANVAS, T_CAPTION, T_CENTER, T_CODE, T_DD, T_DETAILS, T_DIALOG,
	T_DIV, T_DL, T_DT, T_EM, T_EMBED, T_FIELDSET, T_FIGCAPTION, T_FIGURE, T_FOOTER,
	T_FORM, T_H1, T_H2, T_H3, T_H4, T_H5, T_H6, T_HEAD, T_HEADER, T_HR, T_HTML, T_I,
	T_IFRAME, T_IMG, T_INPUT, T_KBD, T_LABEL, T_LI, T_LINK, T_MAIN, T_MATH, T_MENU,
	T_META, T_NAV, T_NOSCRIPT, T_OBJECT, T_OL, T_OPTION, T_P, T_PICTURE, T_PRE,
	T_SAMP, T_SCRIPT, T_SECTION, T_SELECT, T_SPAN, T_STRONG, T_STYLE, T_SUMMARY,
	T_SVG, T_TABLE, T_TBODY, T_TD, T_TEMPLATE, T_TEXTAREA, T_TFOOT, T_TH, T_THEAD,
	T_TIME, T_TITLE, T_TR, T_TT, T_UL, T_VIDEO, T_HGROUP, T_FONT, T_SUB, T_SUP,
	T_MAX
};

/* Tag properties. */
#define TF_BLOCK	0x01	/* starts a new block of text */
#define TF_SKIP		0x02	/* content is never page text */
#define TF_HEADING	0x04
#define TF_LIST		0x08	/* ul, ol, menu, dl */
#define TF_EMBED	0x10	/* object, embed, iframe */

extern const uint8_t extract_tag_flags[T_MAX];

/* Node flags. */
#define NF_HIDDEN	0x0001	/* display:none, hidden, aria-hidden */
#define NF_UNLIKELY	0x0002	/* class/id/role/tag says boilerplate */
#define NF_OK		0x0004	/* class/id says content: overrides NF_UNLIKELY */
#define NF_INLINK	0x0008	/* text node inside <a> */
#define NF_PRE		0x0010	/* text node inside <pre>: whitespace kept */
#define NF_DROP		0x0020	/* removed from the output */
#define NF_SCORED	0x0040	/* a scoring candidate */
#define NF_CODE		0x0080	/* text node inside <code> (not <pre>) */
#define NF_SHARE	0x0100	/* class/id mentions share/social */
#define NF_ARTICLEBODY	0x0200	/* itemprop=articleBody or similar strong hint */
#define NF_BYLINE	0x0400	/* class/id/rel says author/byline/date line */
#define NF_CAPTION	0x0800	/* class/id says caption/credit */
#define NF_BLOCKKIDS	0x1000	/* has block children (this attempt) */
#define NF_INLI		0x2000	/* inside a list item */

struct xnode {
	uint32_t parent, first, last, next;	/* 0 = none; node 0 is the root */
	uint32_t text_off, text_len;		/* text: bytes in dom->text; a: href in dom->attrs */
	uint32_t chars;		/* non-space characters in the subtree */
	uint32_t link_chars;	/* of which inside <a> */
	uint32_t own_chars;	/* inline text whose nearest block is this node */
	uint32_t commas;
	uint32_t own_commas;
	uint32_t own_link;	/* of own_chars, inside <a> */
	uint32_t good_chars;	/* text of paragraph-like blocks in the subtree */
	uint32_t n_p, n_img, n_li, n_input, n_embed, heading_chars, list_chars;
	float score;
	uint32_t class_hash;	/* of the class attribute, 0 without one */
	uint16_t embeds;	/* iframes, objects, embeds directly inside */
	uint16_t tag;
	uint16_t flags;
	int16_t weight;		/* class/id weight, readability-style +-25 units */
	uint16_t depth;
};

/* Metadata candidates seen while parsing, first one wins in each slot. */
enum meta_slot {
	M_TITLE_TAG, M_OG_TITLE, M_CANONICAL, M_OG_URL, M_AUTHOR, M_PUBLISHED,
	M_TIME, M_LANG, M_LANG_META, M_BASE, M_H1, M_MAX
};

#define EXTRACT_MAX_NODES	(1u << 19)	/* elements and text runs of one page */
/* libxml2 scans its open-element stack for every stray end tag: the cost
 * of markup errors is counted (stack depth per stray end tag) and parsing
 * stops with -EINVAL past this budget plus EXTRACT_ERROR_COST_PER_BYTE
 * per input byte, so that a hostile page cannot take quadratic time. */
#define EXTRACT_ERROR_COST	(32u * 1024 * 1024)
#define EXTRACT_ERROR_COST_PER_BYTE 8u
#define EXTRACT_MAX_META	2048
#define EXTRACT_MAX_URL		4096	/* bytes of a URL, before and after resolving */	/* bytes kept per metadata string */
#define EXTRACT_MAX_JSONLD	(512u * 1024)	/* bytes of JSON-LD kept in all */
#define EXTRACT_MAX_JSONLD_SCRIPTS 8

struct dom {
	struct xnode *nodes;
	uint32_t n, cap, max_nodes;
	struct buf text;	/* text of all text nodes */
	struct buf attrs;	/* hrefs of links, NUL-separated */
	uint32_t cur;		/* innermost open node */
	uint32_t depth;		/* open elements, including flattened ones */
	uint32_t skip;		/* open elements inside a TF_SKIP element */
	uint32_t in_a, in_pre, in_code, in_title, in_jsonld, in_h1;
	int err;		/* first error; parsing stops at it */
	void *ctxt;		/* the libxml2 parser, to stop it */
	uint64_t error_cost, max_error_cost;
	/* Tag names come from the parser's dictionary: one pointer per name
	 * for the whole parse, so a small cache skips the lookup. */
	const void *tag_key[128];
	uint8_t tag_val[128];
	char *meta[M_MAX];
	struct buf title_buf, h1_buf;
	struct buf jsonld[EXTRACT_MAX_JSONLD_SCRIPTS];
	unsigned n_jsonld;
	size_t jsonld_total;
};

void dom_init(struct dom *d, size_t input_len);
void dom_free(struct dom *d);
/* Parse valid UTF-8 HTML into d. */
int dom_parse(struct dom *d, const char *html, size_t len);

/* Main content of d as Markdown into out; collects links when links != NULL. */
struct link_sink {
	struct extract_link *links;
	size_t n, max;
	bool truncated;
	const char *base;	/* base URL or NULL */
};
int content_extract(struct dom *d, const char *title, struct buf *out, struct link_sink *links);

/* Resolve href against base into a malloc'd absolute http(s) URL, or NULL. */
char *extract_resolve_url(const char *base, const char *href);

#endif
