/* The compact document tree of extract/, built in one pass from
 * libxml2's HTML SAX events: elements that matter for the text, text with
 * whitespace collapsed, class/id hints, hidden flags and metadata. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>

#include "extract-internal.h"
#include "xmalloc.h"

#define B TF_BLOCK
#define S TF_SKIP
#define H (TF_BLOCK | TF_HEADING)
#define L (TF_BLOCK | TF_LIST)
#define E (TF_SKIP | TF_EMBED)

const uint8_t extract_tag_flags[T_MAX] = {
	[T_ADDRESS] = B, [T_ARTICLE] = B, [T_ASIDE] = B, [T_AUDIO] = S, [T_BLOCKQUOTE] = B,
	[T_BODY] = B, [T_BUTTON] = S, [T_CANVAS] = S, [T_CAPTION] = B, [T_CENTER] = B,
	[T_DD] = B, [T_DETAILS] = B, [T_DIALOG] = B, [T_DIV] = B, [T_DL] = L, [T_DT] = B,
	[T_EMBED] = E, [T_FIELDSET] = B, [T_FIGCAPTION] = B, [T_FIGURE] = B, [T_FOOTER] = B,
	[T_FORM] = B, [T_H1] = H, [T_H2] = H, [T_H3] = H, [T_H4] = H, [T_H5] = H, [T_H6] = H,
	[T_HEAD] = B, [T_HEADER] = B, [T_HR] = B, [T_HTML] = B, [T_IFRAME] = E, [T_LI] = B,
	[T_MAIN] = B, [T_MATH] = S, [T_MENU] = L, [T_NAV] = B, [T_NOSCRIPT] = S,
	[T_OBJECT] = E, [T_OL] = L, [T_OPTION] = S, [T_P] = B, [T_PRE] = B, [T_SCRIPT] = S,
	[T_SECTION] = B, [T_SELECT] = S, [T_STYLE] = S, [T_SUMMARY] = B, [T_SVG] = S,
	[T_TABLE] = B, [T_TBODY] = B, [T_TD] = B, [T_TEMPLATE] = S, [T_TEXTAREA] = S,
	[T_TFOOT] = B, [T_TH] = B, [T_THEAD] = B, [T_TITLE] = S, [T_TR] = B, [T_UL] = L,
	[T_VIDEO] = S, [T_HGROUP] = B, [T_ROOT] = B,
};

#undef B
#undef S
#undef H
#undef L
#undef E

/* Sorted by name for bsearch. */
static const struct tag_name {
	const char *name;
	uint8_t tag;
} tag_names[] = {
	{ "a", T_A }, { "address", T_ADDRESS }, { "article", T_ARTICLE }, { "aside", T_ASIDE },
	{ "audio", T_AUDIO }, { "b", T_B }, { "base", T_BASE }, { "blockquote", T_BLOCKQUOTE },
	{ "body", T_BODY }, { "br", T_BR }, { "button", T_BUTTON }, { "canvas", T_CANVAS },
	{ "caption", T_CAPTION }, { "center", T_CENTER }, { "code", T_CODE }, { "dd", T_DD },
	{ "details", T_DETAILS }, { "dialog", T_DIALOG }, { "div", T_DIV }, { "dl", T_DL },
	{ "dt", T_DT }, { "em", T_EM }, { "embed", T_EMBED }, { "fieldset", T_FIELDSET },
	{ "figcaption", T_FIGCAPTION }, { "figure", T_FIGURE }, { "font", T_FONT },
	{ "footer", T_FOOTER }, { "form", T_FORM }, { "h1", T_H1 }, { "h2", T_H2 },
	{ "h3", T_H3 }, { "h4", T_H4 }, { "h5", T_H5 }, { "h6", T_H6 }, { "head", T_HEAD },
	{ "header", T_HEADER }, { "hgroup", T_HGROUP }, { "hr", T_HR }, { "html", T_HTML },
	{ "i", T_I }, { "iframe", T_IFRAME }, { "img", T_IMG }, { "input", T_INPUT },
	{ "kbd", T_KBD }, { "label", T_LABEL }, { "li", T_LI }, { "link", T_LINK },
	{ "main", T_MAIN }, { "math", T_MATH }, { "menu", T_MENU }, { "meta", T_META },
	{ "nav", T_NAV }, { "noscript", T_NOSCRIPT }, { "object", T_OBJECT }, { "ol", T_OL },
	{ "option", T_OPTION }, { "p", T_P }, { "picture", T_PICTURE }, { "pre", T_PRE },
	{ "samp", T_SAMP }, { "script", T_SCRIPT }, { "section", T_SECTION },
	{ "select", T_SELECT }, { "span", T_SPAN }, { "strong", T_STRONG }, { "style", T_STYLE },
	{ "sub", T_SUB }, { "summary", T_SUMMARY }, { "sup", T_SUP }, { "svg", T_SVG },
	{ "table", T_TABLE }, { "tbody", T_TBODY }, { "td", T_TD }, { "template", T_TEMPLATE },
	{ "textarea", T_TEXTAREA }, { "tfoot", T_TFOOT }, { "th", T_TH }, { "thead", T_THEAD },
	{ "time", T_TIME }, { "title", T_TITLE }, { "tr", T_TR }, { "tt", T_TT }, { "ul", T_UL },
	{ "video", T_VIDEO },
};

static int tag_cmp(const void *k, const void *e)
{
	return strcmp(k, ((const struct tag_name *)e)->name);
}

/* Class/id words. */
#define W_POS		0x01	/* readability's positive words: +25 */
#define W_NEG		0x02	/* negative words: -25 */
#define W_UNL		0x04	/* unlikely to be content: dropped before scoring */
#define W_OK		0x08	/* maybe a candidate: cancels W_UNL */
#define W_SHARE		0x10
#define W_BYLINE	0x20
#define W_CAPTION	0x40
#define W_HIDDEN	0x80

static const struct hint_word {
	const char *word;
	uint8_t bits;
} hint_words[] = {
	{ "ad", W_UNL | W_NEG }, { "ads", W_UNL | W_NEG }, { "adv", W_UNL | W_NEG },
	{ "advert", W_UNL | W_NEG }, { "adverts", W_UNL | W_NEG },
	{ "advertisement", W_UNL | W_NEG }, { "advertising", W_UNL | W_NEG },
	{ "adsense", W_UNL | W_NEG }, { "adslot", W_UNL | W_NEG }, { "adunit", W_UNL | W_NEG },
	{ "dfp", W_UNL | W_NEG }, { "ai2html", W_UNL }, { "banner", W_UNL | W_NEG },
	{ "banners", W_UNL | W_NEG }, { "breadcrumb", W_UNL | W_NEG },
	{ "breadcrumbs", W_UNL | W_NEG }, { "combx", W_UNL | W_NEG },
	{ "comment", W_UNL | W_NEG }, { "comments", W_UNL | W_NEG },
	{ "commentlist", W_UNL | W_NEG }, { "disqus", W_UNL | W_NEG },
	{ "replies", W_UNL | W_NEG }, { "respond", W_UNL | W_NEG }, { "community", W_UNL },
	{ "extra", W_UNL }, { "footer", W_UNL | W_NEG }, { "foot", W_NEG },
	{ "footnote", W_NEG }, { "colophon", W_UNL | W_NEG }, { "gdpr", W_UNL | W_NEG },
	{ "cookie", W_UNL | W_NEG }, { "cookies", W_UNL | W_NEG }, { "consent", W_UNL | W_NEG },
	{ "header", W_UNL }, { "masthead", W_UNL | W_NEG }, { "legends", W_UNL },
	{ "menu", W_UNL | W_NEG }, { "nav", W_UNL | W_NEG }, { "navbar", W_UNL | W_NEG },
	{ "navigation", W_UNL | W_NEG }, { "related", W_UNL | W_NEG },
	{ "recirc", W_UNL | W_NEG }, { "recirculation", W_UNL | W_NEG },
	{ "recommended", W_UNL | W_NEG }, { "recommendations", W_UNL | W_NEG },
	{ "trending", W_UNL | W_NEG }, { "popular", W_UNL | W_NEG },
	{ "outbrain", W_UNL | W_NEG }, { "taboola", W_UNL | W_NEG }, { "remark", W_UNL },
	{ "rss", W_UNL }, { "shoutbox", W_UNL | W_NEG }, { "sidebar", W_UNL | W_NEG },
	{ "skyscraper", W_UNL | W_NEG }, { "social", W_UNL | W_NEG | W_SHARE },
	{ "sponsor", W_UNL | W_NEG }, { "sponsored", W_UNL | W_NEG },
	{ "supplemental", W_UNL }, { "pagination", W_UNL | W_POS }, { "pager", W_UNL },
	{ "popup", W_UNL }, { "modal", W_UNL }, { "newsletter", W_UNL | W_NEG },
	{ "subscribe", W_UNL | W_NEG }, { "subscription", W_UNL | W_NEG },
	{ "signup", W_UNL | W_NEG }, { "agegate", W_UNL }, { "promo", W_UNL | W_NEG },
	{ "promos", W_UNL | W_NEG }, { "widget", W_UNL | W_NEG }, { "widgets", W_UNL | W_NEG },
	{ "share", W_NEG | W_SHARE }, { "shares", W_NEG | W_SHARE },
	{ "sharing", W_NEG | W_SHARE }, { "sharebar", W_UNL | W_NEG | W_SHARE },
	{ "addthis", W_UNL | W_NEG | W_SHARE }, { "hidden", W_NEG }, { "hid", W_NEG },
	{ "contact", W_NEG }, { "media", W_NEG }, { "meta", W_NEG }, { "scroll", W_NEG },
	{ "shopping", W_NEG }, { "tags", W_NEG }, { "tool", W_NEG }, { "tools", W_NEG },
	{ "toolbar", W_UNL | W_NEG },
	{ "article", W_POS | W_OK }, { "articles", W_POS | W_OK }, { "body", W_POS | W_OK },
	{ "content", W_POS | W_OK }, { "contents", W_POS | W_OK }, { "entry", W_POS },
	{ "hentry", W_POS }, { "main", W_POS | W_OK }, { "page", W_POS }, { "post", W_POS },
	{ "text", W_POS }, { "blog", W_POS }, { "story", W_POS }, { "prose", W_POS },
	{ "column", W_OK }, { "shadow", W_OK },
	{ "byline", W_BYLINE }, { "author", W_BYLINE }, { "authors", W_BYLINE },
	{ "dateline", W_BYLINE }, { "timestamp", W_BYLINE },
	{ "caption", W_CAPTION }, { "credit", W_CAPTION }, { "credits", W_CAPTION },
};

/* Compound words ("articlebody", "sharetools"): prefix stems. */
static const struct hint_word hint_stems[] = {
	{ "article", W_POS | W_OK }, { "content", W_POS | W_OK }, { "story", W_POS },
	{ "entry", W_POS }, { "comment", W_UNL | W_NEG }, { "related", W_UNL | W_NEG },
	{ "share", W_NEG | W_SHARE }, { "social", W_UNL | W_NEG | W_SHARE },
	{ "sidebar", W_UNL | W_NEG }, { "footer", W_UNL | W_NEG }, { "sponsor", W_UNL | W_NEG },
	{ "promo", W_UNL | W_NEG }, { "newsletter", W_UNL | W_NEG }, { "advert", W_UNL | W_NEG },
	{ "breadcrumb", W_UNL | W_NEG }, { "cookie", W_UNL | W_NEG },
	{ "subscri", W_UNL | W_NEG }, { "recommend", W_UNL | W_NEG }, { "navbar", W_UNL | W_NEG },
	{ "navigation", W_UNL | W_NEG }, { "byline", W_BYLINE }, { "caption", W_CAPTION },
};

#define HINT_SLOTS 512

static struct {
	const char *word;
	uint8_t len, bits;
} hint_table[HINT_SLOTS];
static pthread_once_t hint_once = PTHREAD_ONCE_INIT;

static uint32_t hash_word(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

static void hint_init(void)
{
	for (size_t i = 0; i < sizeof(hint_words) / sizeof(hint_words[0]); i++) {
		size_t n = strlen(hint_words[i].word);
		uint32_t h = hash_word(hint_words[i].word, n) & (HINT_SLOTS - 1);

		while (hint_table[h].word != NULL)
			h = (h + 1) & (HINT_SLOTS - 1);
		hint_table[h].word = hint_words[i].word;
		hint_table[h].len = (uint8_t)n;
		hint_table[h].bits = hint_words[i].bits;
	}
	xmlInitParser();
}

static uint8_t hint_token(const char *t, size_t n)
{
	uint32_t h;

	if (n == 0 || n > 40)
		return 0;
	h = hash_word(t, n) & (HINT_SLOTS - 1);
	while (hint_table[h].word != NULL) {
		if (hint_table[h].len == n && memcmp(hint_table[h].word, t, n) == 0)
			return hint_table[h].bits;
		h = (h + 1) & (HINT_SLOTS - 1);
	}
	if (n < 6)
		return 0;
	for (size_t i = 0; i < sizeof(hint_stems) / sizeof(hint_stems[0]); i++) {
		const char *s = hint_stems[i].word;
		size_t k = strlen(s);

		if (s[0] == t[0] && k <= n && memcmp(s, t, k) == 0)
			return hint_stems[i].bits;
	}
	return 0;
}

/* Words of a class or id value: split at non-alphanumerics and at
 * lower-to-upper case changes, lowercased. */
static uint8_t hint_value(const char *v)
{
	char tok[41];
	size_t n = 0;
	uint8_t bits = 0;
	char prev = 0;

	for (const char *p = v;; p++) {
		char c = *p;
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		bool camel = c >= 'A' && c <= 'Z' && prev >= 'a' && prev <= 'z';

		if (!alnum || camel) {
			if (n > 0 && n <= 40)
				bits |= hint_token(tok, n);
			n = 0;
		}
		if (c == '\0')
			break;
		if (alnum) {
			if (n < 40)
				tok[n] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
			n++;
		}
		prev = c;
	}
	return bits;
}

void dom_init(struct dom *d, size_t input_len)
{
	pthread_once(&hint_once, hint_init);
	memset(d, 0, sizeof(*d));
	/* A node needs at least one byte of markup; text cannot grow past
	 * the input except through character references. */
	d->max_nodes = input_len + 16 < EXTRACT_MAX_NODES ? (uint32_t)input_len + 16 : EXTRACT_MAX_NODES;
	d->max_error_cost = EXTRACT_ERROR_COST + (uint64_t)EXTRACT_ERROR_COST_PER_BYTE * input_len;
	d->cap = 256;
	d->nodes = xcalloc(d->cap, sizeof(*d->nodes));
	d->n = 1;
	d->nodes[0].tag = T_ROOT;
	buf_init(&d->text, 2 * input_len + 1024);
	buf_init(&d->attrs, input_len + 1024);
	buf_init(&d->title_buf, EXTRACT_MAX_META);
	buf_init(&d->h1_buf, EXTRACT_MAX_META);
	for (unsigned i = 0; i < EXTRACT_MAX_JSONLD_SCRIPTS; i++)
		buf_init(&d->jsonld[i], EXTRACT_MAX_JSONLD);
}

void dom_free(struct dom *d)
{
	free(d->nodes);
	buf_free(&d->text);
	buf_free(&d->attrs);
	buf_free(&d->title_buf);
	buf_free(&d->h1_buf);
	for (unsigned i = 0; i < EXTRACT_MAX_JSONLD_SCRIPTS; i++)
		buf_free(&d->jsonld[i]);
	for (unsigned i = 0; i < M_MAX; i++)
		free(d->meta[i]);
	memset(d, 0, sizeof(*d));
}

static void dom_fail(struct dom *d, int err)
{
	if (d->err == 0)
		d->err = err;
	if (d->ctxt != NULL)
		xmlStopParser(d->ctxt);
}

static uint32_t node_new(struct dom *d, uint16_t tag)
{
	struct xnode *n, *p;
	uint32_t i;

	if (d->n >= d->max_nodes) {
		dom_fail(d, -EFBIG);
		return 0;
	}
	if (d->n == d->cap) {
		d->cap *= 2;
		d->nodes = xreallocarray(d->nodes, d->cap, sizeof(*d->nodes));
	}
	i = d->n++;
	n = &d->nodes[i];
	memset(n, 0, sizeof(*n));
	n->tag = tag;
	n->parent = d->cur;
	p = &d->nodes[d->cur];
	n->depth = (uint16_t)(p->depth + 1);
	if (p->last)
		d->nodes[p->last].next = i;
	else
		p->first = i;
	p->last = i;
	return i;
}

static void meta_set(struct dom *d, enum meta_slot slot, const char *v)
{
	size_t n;

	if (d->meta[slot] != NULL || v == NULL)
		return;
	while (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r')
		v++;
	n = strnlen(v, EXTRACT_MAX_META);
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\n' || v[n - 1] == '\r'))
		n--;
	if (n > 0)
		d->meta[slot] = xstrndup(v, n);
}

static const char *attr_get(const xmlChar **atts, const char *name)
{
	if (atts == NULL)
		return NULL;
	for (size_t i = 0; atts[i] != NULL; i += 2)
		if (strcmp((const char *)atts[i], name) == 0)
			return atts[i + 1] ? (const char *)atts[i + 1] : "";
	return NULL;
}

static void meta_tag(struct dom *d, const xmlChar **atts)
{
	const char *key = attr_get(atts, "property");
	const char *content = attr_get(atts, "content");

	if (key == NULL)
		key = attr_get(atts, "name");
	if (key == NULL)
		key = attr_get(atts, "itemprop");
	if (key == NULL) {
		key = attr_get(atts, "http-equiv");
		if (key != NULL && strcasecmp(key, "content-language") == 0)
			meta_set(d, M_LANG_META, content);
		return;
	}
	if (content == NULL)
		return;
	if (strcasecmp(key, "og:title") == 0 || strcasecmp(key, "twitter:title") == 0)
		meta_set(d, M_OG_TITLE, content);
	else if (strcasecmp(key, "og:url") == 0)
		meta_set(d, M_OG_URL, content);
	else if (strcasecmp(key, "author") == 0 || strcasecmp(key, "article:author") == 0 ||
		 strcasecmp(key, "parsely-author") == 0 || strcasecmp(key, "sailthru.author") == 0 ||
		 strcasecmp(key, "dc.creator") == 0 || strcasecmp(key, "byl") == 0) {
		/* article:author is often a profile URL: not a name. */
		if (strncasecmp(content, "http", 4) != 0)
			meta_set(d, M_AUTHOR, content);
	} else if (strcasecmp(key, "article:published_time") == 0 ||
		   strcasecmp(key, "datepublished") == 0 || strcasecmp(key, "pubdate") == 0 ||
		   strcasecmp(key, "publishdate") == 0 || strcasecmp(key, "publish-date") == 0 ||
		   strcasecmp(key, "date") == 0 || strcasecmp(key, "dc.date") == 0 ||
		   strcasecmp(key, "dc.date.issued") == 0 || strcasecmp(key, "parsely-pub-date") == 0 ||
		   strcasecmp(key, "sailthru.date") == 0 || strcasecmp(key, "og:published_time") == 0 ||
		   strcasecmp(key, "article.published") == 0)
		meta_set(d, M_PUBLISHED, content);
	else if (strcasecmp(key, "og:locale") == 0)
		meta_set(d, M_LANG_META, content);
}

/* Hints from class, id, role, itemprop, style and hidden. */
static void node_hints(struct xnode *n, const xmlChar **atts)
{
	uint8_t cls = 0, id = 0;

	for (size_t i = 0; atts[i] != NULL; i += 2) {
		const char *k = (const char *)atts[i], *v = (const char *)atts[i + 1];

		if (v == NULL)
			v = "";
		switch (k[0]) {
		case 'c':
			if (strcmp(k, "class") == 0) {
				cls |= hint_value(v);
				if (v[0] != '\0')
					n->class_hash = hash_word(v, strlen(v)) | 1;
			}
			break;
		case 'i':
			if (strcmp(k, "id") == 0)
				id |= hint_value(v);
			else if (strcmp(k, "itemprop") == 0 && strcasestr(v, "articlebody") != NULL)
				n->flags |= NF_ARTICLEBODY | NF_OK;
			break;
		case 'r':
			if (strcmp(k, "role") == 0) {
				if (strcmp(v, "navigation") == 0 || strcmp(v, "menu") == 0 ||
				    strcmp(v, "menubar") == 0 || strcmp(v, "complementary") == 0 ||
				    strcmp(v, "alert") == 0 || strcmp(v, "alertdialog") == 0 ||
				    strcmp(v, "dialog") == 0 || strcmp(v, "banner") == 0 ||
				    strcmp(v, "contentinfo") == 0)
					n->flags |= NF_UNLIKELY;
			} else if (strcmp(k, "rel") == 0 && strcmp(v, "author") == 0)
				n->flags |= NF_BYLINE;
			break;
		case 's':
			if (strcmp(k, "style") == 0 && (strcasestr(v, "none") || strcasestr(v, "hidden"))) {
				const char *p = strcasestr(v, "display");
				const char *q = strcasestr(v, "visibility");

				if (p && (p = strchr(p, ':')) != NULL) {
					p++;
					while (*p == ' ')
						p++;
					if (strncasecmp(p, "none", 4) == 0)
						n->flags |= NF_HIDDEN;
				}
				if (q && (q = strchr(q, ':')) != NULL) {
					q++;
					while (*q == ' ')
						q++;
					if (strncasecmp(q, "hidden", 6) == 0)
						n->flags |= NF_HIDDEN;
				}
			}
			break;
		case 'h':
			if (strcmp(k, "hidden") == 0)
				n->flags |= NF_HIDDEN;
			break;
		case 'a':
			if (strcmp(k, "aria-hidden") == 0 && strcmp(v, "true") == 0 &&
			    n->tag != T_A && n->tag != T_SPAN && n->tag != T_I)
				n->flags |= NF_HIDDEN;
			break;
		}
	}
	if (cls & W_POS)
		n->weight += 25;
	if (cls & W_NEG)
		n->weight -= 25;
	if (id & W_POS)
		n->weight += 25;
	if (id & W_NEG)
		n->weight -= 25;
	cls |= id;
	if (cls & W_UNL)
		n->flags |= NF_UNLIKELY;
	if (cls & W_OK)
		n->flags |= NF_OK;
	if (cls & W_SHARE)
		n->flags |= NF_SHARE;
	if (cls & W_BYLINE)
		n->flags |= NF_BYLINE;
	if (cls & W_CAPTION)
		n->flags |= NF_CAPTION;
}

static uint16_t tag_lookup(const char *name)
{
	const struct tag_name *t = bsearch(name, tag_names, sizeof(tag_names) / sizeof(tag_names[0]),
					   sizeof(tag_names[0]), tag_cmp);
	return t ? t->tag : T_OTHER;
}

static void sax_start(void *ctx, const xmlChar *xname, const xmlChar **atts)
{
	struct dom *d = ctx;
	const char *name = (const char *)xname;
	uint16_t tag;
	uint32_t i;

	if (d->err)
		return;
	d->depth++;
	if (d->skip) {
		d->skip++;
		return;
	}
	{
		size_t slot = ((uintptr_t)xname >> 3) & 127;

		if (d->tag_key[slot] == xname) {
			tag = d->tag_val[slot];
		} else {
			tag = tag_lookup(name);
			d->tag_key[slot] = xname;
			d->tag_val[slot] = (uint8_t)tag;
		}
	}
	switch (tag) {
	case T_HTML:
		meta_set(d, M_LANG, attr_get(atts, "lang"));
		break;
	/* Void elements that carry only metadata: no node; skip = 1 pairs
	 * them with their end event. */
	case T_META:
		meta_tag(d, atts);
		d->skip = 1;
		return;
	case T_LINK: {
		const char *rel = attr_get(atts, "rel");

		if (rel && strcasecmp(rel, "canonical") == 0)
			meta_set(d, M_CANONICAL, attr_get(atts, "href"));
		d->skip = 1;
		return;
	}
	case T_BASE:
		meta_set(d, M_BASE, attr_get(atts, "href"));
		d->skip = 1;
		return;
	case T_TIME: {
		const char *dt = attr_get(atts, "datetime");
		const char *ip = attr_get(atts, "itemprop");

		if (ip && strcasecmp(ip, "datePublished") == 0)
			meta_set(d, M_PUBLISHED, dt);
		meta_set(d, M_TIME, dt);
		break;
	}
	case T_TITLE:
		if (d->title_buf.len == 0 && d->meta[M_TITLE_TAG] == NULL)
			d->in_title = 1;
		break;
	case T_SCRIPT: {
		const char *type = attr_get(atts, "type");

		if (type && strcasecmp(type, "application/ld+json") == 0 &&
		    d->n_jsonld < EXTRACT_MAX_JSONLD_SCRIPTS)
			d->in_jsonld = 1;
		break;
	}
	default:
		break;
	}
	if (extract_tag_flags[tag] & TF_SKIP) {
		d->skip = 1;
		if (tag == T_OBJECT || tag == T_EMBED || tag == T_IFRAME)
			d->nodes[d->cur].embeds++;
		return;
	}
	if (d->depth > EXTRACT_MAX_DEPTH)
		return;
	i = node_new(d, tag);
	if (i == 0)
		return;	/* the parser is stopped */
	switch (tag) {
	case T_A: {
		const char *href = attr_get(atts, "href");

		d->in_a++;
		if (href && href[0] && href[0] != '#' && strncasecmp(href, "javascript:", 11) != 0) {
			size_t off = d->attrs.len;
			size_t n = strnlen(href, EXTRACT_MAX_URL + 1);

			/* Longer URLs are not kept: a cut one would be wrong. */
			if (n <= EXTRACT_MAX_URL && buf_append(&d->attrs, href, n) == 0 &&
			    buf_putc(&d->attrs, '\0') == 0) {
				d->nodes[i].text_off = (uint32_t)off;
				d->nodes[i].text_len = (uint32_t)n + 1;
			}
		}
		break;
	}
	case T_PRE:
		d->in_pre++;
		break;
	case T_CODE:
		d->in_code++;
		break;
	case T_H1:
		d->in_h1++;
		break;
	case T_NAV: case T_ASIDE: case T_FOOTER:
		d->nodes[i].flags |= NF_UNLIKELY;
		break;
	case T_HEAD:
		d->nodes[i].flags |= NF_DROP;
		break;
	default:
		break;
	}
	if (atts != NULL)
		node_hints(&d->nodes[i], atts);
	d->cur = i;
}

static void sax_end(void *ctx, const xmlChar *name)
{
	struct dom *d = ctx;
	uint32_t depth = d->depth;
	struct xnode *n;

	if (d->err || depth == 0)
		return;
	d->depth--;
	if (d->skip) {
		if (--d->skip == 0) {
			if (d->in_jsonld) {
				d->in_jsonld = 0;
				if (d->jsonld[d->n_jsonld].len > 0)
					d->n_jsonld++;
			}
			if (d->in_title) {
				d->in_title = 0;
				if (d->title_buf.len > 0)
					meta_set(d, M_TITLE_TAG, d->title_buf.data);
			}
		}
		return;
	}
	if (depth > EXTRACT_MAX_DEPTH || d->cur == 0)
		return;
	n = &d->nodes[d->cur];
	switch (n->tag) {
	case T_A:
		d->in_a--;
		break;
	case T_PRE:
		d->in_pre--;
		break;
	case T_CODE:
		d->in_code--;
		break;
	case T_H1:
		if (--d->in_h1 == 0 && d->h1_buf.len > 0)
			meta_set(d, M_H1, d->h1_buf.data);
		break;
	default:
		break;
	}
	d->cur = n->parent;
	(void)name;
}

/* Title, first <h1> and JSON-LD text: metadata hints, so past their cap
 * the rest is dropped (-ENOBUFS ignored) rather than failing the page. */
static void capture(struct buf *b, const char *s, size_t len)
{
	(void)buf_append(b, s, len);
}

static void sax_text(void *ctx, const xmlChar *xs, int ilen)
{
	struct dom *d = ctx;
	const unsigned char *s = xs;
	size_t len = ilen > 0 ? (size_t)ilen : 0;
	struct xnode *p, *t;
	uint32_t ti;
	bool pre;
	char *out;
	size_t o;
	uint32_t chars = 0, commas = 0;
	uint16_t want;

	if (d->err || len == 0)
		return;
	if (d->skip) {
		if (d->in_jsonld)
			capture(&d->jsonld[d->n_jsonld], (const char *)s, len);
		else if (d->in_title)
			capture(&d->title_buf, (const char *)s, len);
		return;
	}
	if (d->in_h1 && d->meta[M_H1] == NULL)
		capture(&d->h1_buf, (const char *)s, len);
	pre = d->in_pre > 0;
	want = (uint16_t)((pre ? NF_PRE : 0) | (d->in_a ? NF_INLINK : 0) |
			  (d->in_code && !pre ? NF_CODE : 0));
	p = &d->nodes[d->cur];
	ti = p->last;
	t = ti ? &d->nodes[ti] : NULL;
	/* Reserve room for the worst case, then write in place. */
	if (d->text.max - d->text.len < len + 1 || buf_append(&d->text, s, len) < 0) {
		dom_fail(d, -EFBIG);
		return;
	}
	d->text.len -= len;
	out = d->text.data + d->text.len;
	o = 0;
	if (pre) {
		for (size_t i = 0; i < len; i++) {
			unsigned char c = s[i];

			if (c == '\r')
				continue;
			if (c < 0x20 && c != '\n' && c != '\t')
				c = ' ';
			out[o++] = (char)c;
			if (c > ' ' && (c & 0xc0) != 0x80)
				chars++;
		}
	} else {
		bool space = t != NULL && t->tag == T_TEXT && t->text_off + t->text_len == d->text.len &&
			     t->text_len > 0 && d->text.data[d->text.len - 1] == ' ';

		for (size_t i = 0; i < len; i++) {
			unsigned char c = s[i];

			if (c <= ' ' || (c == 0xc2 && i + 1 < len && s[i + 1] == 0xa0)) {
				if (c == 0xc2)
					i++;
				if (!space)
					out[o++] = ' ';
				space = true;
				continue;
			}
			space = false;
			out[o++] = (char)c;
			if ((c & 0xc0) != 0x80)
				chars++;
			if (c == ',')
				commas++;
		}
	}
	if (o == 0)
		return;
	if (t != NULL && t->tag == T_TEXT && t->text_off + t->text_len == d->text.len &&
	    (t->flags & (NF_PRE | NF_INLINK | NF_CODE)) == want) {
		t->text_len += (uint32_t)o;
	} else {
		ti = node_new(d, T_TEXT);
		if (ti == 0)
			return;
		t = &d->nodes[ti];
		t->text_off = (uint32_t)d->text.len;
		t->text_len = (uint32_t)o;
		t->flags = want;
	}
	t->chars += chars;
	t->commas += commas;
	if (want & NF_INLINK)
		t->link_chars += chars;
	d->text.len += o;
	d->text.data[d->text.len] = '\0';
}

static void sax_error(void *ctx, xmlErrorPtr err)
{
	struct dom *d = ctx;

	d->error_cost += err && err->code == XML_ERR_TAG_NAME_MISMATCH ? d->depth + 1 : 1;
	if (d->error_cost > d->max_error_cost)
		dom_fail(d, -EINVAL);
}

int dom_parse(struct dom *d, const char *html, size_t len)
{
	htmlSAXHandler sax;
	htmlParserCtxtPtr ctxt;

	if (len > INT32_MAX)
		return -EFBIG;
	memset(&sax, 0, sizeof(sax));
	sax.startElement = sax_start;
	sax.endElement = sax_end;
	sax.characters = sax_text;
	sax.ignorableWhitespace = sax_text;
	sax.cdataBlock = sax_text;
	/* The magic makes libxml2 report errors to serror, which keeps the
	 * error budget; nothing is logged. */
	sax.serror = sax_error;
	sax.initialized = XML_SAX2_MAGIC;
	ctxt = htmlCreateMemoryParserCtxt(html, (int)len);
	if (ctxt == NULL)
		return -ENOMEM;
	memcpy(ctxt->sax, &sax, sizeof(sax));
	ctxt->userData = d;
	d->ctxt = ctxt;
	htmlCtxtUseOptions(ctxt, HTML_PARSE_NONET | HTML_PARSE_RECOVER | HTML_PARSE_NOERROR |
			   HTML_PARSE_NOWARNING | HTML_PARSE_IGNORE_ENC);
	/* The body is already valid UTF-8: no conversion, no sniffing. */
	xmlSwitchEncoding(ctxt, XML_CHAR_ENCODING_UTF8);
	htmlParseDocument(ctxt);
	d->ctxt = NULL;
	htmlFreeParserCtxt(ctxt);
	return d->err;
}
