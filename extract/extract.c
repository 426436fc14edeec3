/* extract/: body + content type → text and metadata. Decides the kind
 * of body, decodes it to valid UTF-8, runs the HTML pipeline (extract-dom.c,
 * extract-content.c) or passes text through, and resolves metadata. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <libxml/uri.h>
#include <libxml/xmlmemory.h>

#include "charset.h"
#include "extract-internal.h"
#include "str.h"
#include "xmalloc.h"

char *extract_resolve_url(const char *base, const char *href)
{
	char clean[EXTRACT_MAX_URL + 1];
	size_t n = 0;
	xmlChar *abs;
	char *r = NULL;

	if (href == NULL)
		return NULL;
	/* Browsers drop surrounding spaces and any tab or newline inside. */
	while (*href == ' ' || *href == '\t' || *href == '\n' || *href == '\r' || *href == '\f')
		href++;
	for (; *href && n < EXTRACT_MAX_URL - 3; href++)
		if (*href != '\t' && *href != '\n' && *href != '\r')
			clean[n++] = *href;
	if (*href)
		return NULL;
	while (n > 0 && (clean[n - 1] == ' ' || clean[n - 1] == '\f'))
		n--;
	clean[n] = '\0';
	/* Inner spaces are percent-encoded, as browsers do. */
	for (size_t i = 0; i < n; i++) {
		if (clean[i] != ' ')
			continue;
		if (n + 2 >= EXTRACT_MAX_URL)
			return NULL;
		memmove(clean + i + 3, clean + i + 1, n - i);
		memcpy(clean + i, "%20", 3);
		n += 2;
	}
	if (n == 0)
		return NULL;
	if (base != NULL && base[0] != '\0')
		abs = xmlBuildURI((const xmlChar *)clean, (const xmlChar *)base);
	else
		abs = xmlStrdup((const xmlChar *)clean);
	if (abs == NULL)
		return NULL;
	if ((strncasecmp((const char *)abs, "http://", 7) == 0 ||
	     strncasecmp((const char *)abs, "https://", 8) == 0) &&
	    strlen((const char *)abs) <= EXTRACT_MAX_URL && utf8_valid((const char *)abs, strlen((const char *)abs)))
		r = xstrdup((const char *)abs);
	xmlFree(abs);
	return r;
}

/* Media type of a Content-Type value, lowercased, without parameters. */
static void media_type(const char *ct, char out[static 64])
{
	size_t n = 0;

	out[0] = '\0';
	if (ct == NULL)
		return;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	for (; *ct && *ct != ';' && *ct != ' ' && n < 63; ct++)
		out[n++] = (char)(*ct >= 'A' && *ct <= 'Z' ? *ct - 'A' + 'a' : *ct);
	out[n] = '\0';
}

static int kind_of(const char *ct, const char *body, size_t len, enum extract_kind *ret)
{
	char mt[64];
	size_t mlen;

	media_type(ct, mt);
	mlen = strlen(mt);
	if (mt[0] == '\0' || strcmp(mt, "application/octet-stream") == 0) {
		size_t i = 0;

		/* Sniff: markup starts with '<' after spaces or a BOM. */
		while (i < len && i < 1024 && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' ||
					       body[i] == '\r' || (unsigned char)body[i] >= 0xef))
			i++;
		*ret = i < len && body[i] == '<' ? EXTRACT_HTML : EXTRACT_TEXT;
		return 0;
	}
	if (strcmp(mt, "text/html") == 0 || strcmp(mt, "application/xhtml+xml") == 0)
		*ret = EXTRACT_HTML;
	else if (strcmp(mt, "text/markdown") == 0 || strcmp(mt, "text/x-markdown") == 0)
		*ret = EXTRACT_MARKDOWN;
	else if (strcmp(mt, "application/json") == 0 || strcmp(mt, "text/json") == 0 ||
		 (mlen > 5 && strcmp(mt + mlen - 5, "+json") == 0))
		*ret = EXTRACT_JSON;
	else if (strncmp(mt, "text/", 5) == 0)
		*ret = EXTRACT_TEXT;
	else
		return -EMEDIUMTYPE;
	return 0;
}

/* Binary junk: NUL bytes or many control characters early on in a body
 * that is not UTF-16. */
static bool looks_binary(const char *s, size_t len, const char *charset)
{
	size_t nul = 0, ctrl = 0, n = len < 1024 ? len : 1024;

	if (strncmp(charset, "utf-16", 6) == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == 0)
			nul++;
		else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != 0x1b)
			ctrl++;
	}
	return (nul >= 2 && nul * 100 > n) || (nul + ctrl) * 10 > n;
}

/* Text bodies: valid UTF-8 already; drop control characters but tabs and
 * line ends, normalise CRLF. */
static int passthrough(const char *s, size_t len, struct buf *out)
{
	size_t run = 0;
	int r = 0;

	for (size_t i = 0; i < len && r == 0; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 || c == '\t' || c == '\n')
			continue;
		r = buf_append(out, s + run, i - run);
		run = i + 1;
	}
	if (r == 0)
		r = buf_append(out, s + run, len - run);
	return r == -ENOBUFS ? -EFBIG : r;
}

static char *meta_clean(const char *s);

/* The first line of a Markdown body when it is a "# " heading. */
static char *markdown_title(const char *s)
{
	const char *end;

	while (*s == '\n' || *s == ' ')
		s++;
	if (s[0] != '#' || s[1] != ' ')
		return NULL;
	s += 2;
	end = strchr(s, '\n');
	if (end == NULL)
		end = s + strlen(s);
	if ((size_t)(end - s) >= EXTRACT_MAX_META)
		return NULL;
	{
		char *t = xstrndup(s, (size_t)(end - s));
		char *r = meta_clean(t);

		free(t);
		return r;
	}
}

struct ld_meta {
	const char *headline, *published, *author, *lang;
};

static const char *ld_author(json_t *a, int depth)
{
	if (depth > 3 || a == NULL)
		return NULL;
	if (json_is_string(a))
		return json_string_value(a);
	if (json_is_object(a)) {
		json_t *name = json_object_get(a, "name");

		return json_is_string(name) ? json_string_value(name) : NULL;
	}
	if (json_is_array(a) && json_array_size(a) > 0)
		return ld_author(json_array_get(a, 0), depth + 1);
	return NULL;
}

static bool ld_is_article(json_t *type)
{
	static const char *const types[] = {
		"Article", "NewsArticle", "BlogPosting", "ReportageNewsArticle", "AnalysisNewsArticle",
		"OpinionNewsArticle", "ReviewNewsArticle", "BackgroundNewsArticle", "TechArticle",
		"ScholarlyArticle", "Report", "LiveBlogPosting", "SocialMediaPosting", "WebPage",
		"Blog", "Review", "Recipe", "HowTo", "Question",
	};

	if (json_is_array(type)) {
		size_t i;
		json_t *t;

		json_array_foreach(type, i, t)
			if (ld_is_article(t))
				return true;
		return false;
	}
	if (!json_is_string(type))
		return false;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(json_string_value(type), types[i]) == 0)
			return true;
	return false;
}

static void ld_visit(json_t *v, struct ld_meta *m, int depth)
{
	if (depth > 4 || v == NULL)
		return;
	if (json_is_array(v)) {
		size_t i;
		json_t *e;

		json_array_foreach(v, i, e) {
			if (i >= 64)
				break;
			ld_visit(e, m, depth + 1);
		}
		return;
	}
	if (!json_is_object(v))
		return;
	ld_visit(json_object_get(v, "@graph"), m, depth + 1);
	if (!ld_is_article(json_object_get(v, "@type")))
		return;
	if (m->headline == NULL && json_is_string(json_object_get(v, "headline")))
		m->headline = json_string_value(json_object_get(v, "headline"));
	if (m->published == NULL && json_is_string(json_object_get(v, "datePublished")))
		m->published = json_string_value(json_object_get(v, "datePublished"));
	if (m->author == NULL)
		m->author = ld_author(json_object_get(v, "author"), 0);
	if (m->lang == NULL && json_is_string(json_object_get(v, "inLanguage")))
		m->lang = json_string_value(json_object_get(v, "inLanguage"));
}

/* A metadata string with whitespace collapsed, or NULL. */
static char *meta_clean(const char *s)
{
	struct buf b;
	bool space = false;

	if (s == NULL)
		return NULL;
	buf_init(&b, EXTRACT_MAX_META);
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= ' ') {
			space = b.len > 0;
			continue;
		}
		if ((space && buf_putc(&b, ' ') < 0) || buf_putc(&b, (char)c) < 0)
			break;
		space = false;
	}
	if (b.len == 0 || !utf8_valid(b.data, b.len)) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}

static const char *first_of(const char *a, const char *b, const char *c)
{
	return a ? a : b ? b : c;
}

static void html_metadata(struct dom *d, const char *base_url, struct extract_result *res)
{
	struct ld_meta ld = { 0 };
	json_t *docs[EXTRACT_MAX_JSONLD_SCRIPTS] = { 0 };
	char *base = NULL;

	for (unsigned i = 0; i < d->n_jsonld; i++) {
		docs[i] = json_loadb(d->jsonld[i].data, d->jsonld[i].len, JSON_DECODE_ANY, NULL);
		ld_visit(docs[i], &ld, 0);
	}
	res->title = meta_clean(first_of(d->meta[M_OG_TITLE], ld.headline,
					 first_of(d->meta[M_TITLE_TAG], d->meta[M_H1], NULL)));
	res->author = meta_clean(first_of(d->meta[M_AUTHOR], ld.author, NULL));
	if (res->author != NULL && strncasecmp(res->author, "by ", 3) == 0 && res->author[3] != '\0')
		memmove(res->author, res->author + 3, strlen(res->author + 3) + 1);
	res->published = meta_clean(first_of(d->meta[M_PUBLISHED], ld.published, d->meta[M_TIME]));
	res->lang = meta_clean(first_of(d->meta[M_LANG], d->meta[M_LANG_META], ld.lang));
	if (res->lang != NULL)
		for (char *p = res->lang; *p; p++)
			if (*p == '_')
				*p = '-';
	if (d->meta[M_BASE] != NULL)
		base = extract_resolve_url(base_url, d->meta[M_BASE]);
	res->canonical_url = extract_resolve_url(base ? base : base_url,
						 first_of(d->meta[M_CANONICAL], d->meta[M_OG_URL], NULL));
	free(base);
	for (unsigned i = 0; i < d->n_jsonld; i++)
		json_decref(docs[i]);
}

static int extract_dom(const char *html, size_t len, const struct extract_options *opt,
		       size_t max_out, size_t max_links, struct extract_result *res)
{
	struct dom d;
	struct buf out;
	struct link_sink links = { 0 };
	char *base = NULL;
	int r;

	dom_init(&d, len);
	r = len > 0 ? dom_parse(&d, html, len) : 0;
	if (r < 0)
		goto out;
	html_metadata(&d, opt->base_url, res);
	if (d.meta[M_BASE] != NULL)
		base = extract_resolve_url(opt->base_url, d.meta[M_BASE]);
	links.base = base ? base : opt->base_url;
	links.max = max_links;
	links.links = xcalloc(max_links ? max_links : 1, sizeof(*links.links));
	buf_init(&out, max_out);
	r = content_extract(&d, res->title, &out, &links);
	if (r < 0) {
		buf_free(&out);
		for (size_t i = 0; i < links.n; i++) {
			free(links.links[i].url);
			free(links.links[i].text);
		}
		free(links.links);
		goto out;
	}
	/* Trailing blank lines come from the last block break. */
	while (out.len > 0 && (out.data[out.len - 1] == '\n' || out.data[out.len - 1] == ' '))
		out.data[--out.len] = '\0';
	res->text_len = out.len;
	res->text = buf_steal(&out);
	res->links = links.links;
	res->n_links = links.n;
	res->links_truncated = links.truncated;
out:
	free(base);
	dom_free(&d);
	return r;
}

int extract_html(const char *body, size_t len, const struct extract_options *opt,
		 struct extract_result **ret)
{
	size_t max_in, max_out, max_links, bom = 0;
	char charset[CHARSET_NAME_MAX];
	bool clean_utf8;
	enum extract_kind kind;
	struct extract_result *res;
	struct buf utf8;
	const char *text;
	size_t text_len;
	int r;

	if (opt == NULL || ret == NULL || (body == NULL && len > 0))
		return -EINVAL;
	if (body == NULL)
		body = "";
	max_in = opt->max_input ? opt->max_input : EXTRACT_DEFAULT_MAX_INPUT;
	max_out = opt->max_output ? opt->max_output : EXTRACT_DEFAULT_MAX_OUTPUT;
	max_links = opt->max_links ? opt->max_links : EXTRACT_DEFAULT_MAX_LINKS;
	if (len > max_in)
		return -EFBIG;
	r = kind_of(opt->content_type, body, len, &kind);
	if (r < 0)
		return r;
	charset_detect(body, len, opt->content_type, kind == EXTRACT_HTML, charset, &bom, &clean_utf8);
	if (looks_binary(body + bom, len - bom, charset))
		return -EINVAL;
	/* UTF-8 can grow 3x from single-byte charsets (and U+FFFD for one byte). */
	buf_init(&utf8, len < SIZE_MAX / 3 - 16 ? 3 * len + 16 : SIZE_MAX);
	if (clean_utf8) {
		/* The common case: nothing to convert or repair, no copy. */
		text = body + bom;
		text_len = len - bom;
	} else {
		r = charset_to_utf8(&utf8, body + bom, len - bom, charset);
		if (r < 0) {
			buf_free(&utf8);
			return r == -ENOBUFS ? -EFBIG : r;
		}
		text = utf8.data ? utf8.data : "";
		text_len = utf8.len;
	}
	res = xcalloc(1, sizeof(*res));
	res->kind = kind;
	res->charset = xstrdup(charset);
	if (kind == EXTRACT_HTML) {
		r = extract_dom(text, text_len, opt, max_out, max_links, res);
	} else {
		struct buf out;

		buf_init(&out, max_out);
		r = passthrough(text, text_len, &out);
		if (r == 0) {
			if (kind == EXTRACT_MARKDOWN)
				res->title = markdown_title(out.data ? out.data : "");
			res->text_len = out.len;
			res->text = buf_steal(&out);
		} else {
			buf_free(&out);
		}
	}
	buf_free(&utf8);
	if (r < 0) {
		extract_result_free(res);
		return r;
	}
	*ret = res;
	return 0;
}

struct extract_result *extract_result_free(struct extract_result *r)
{
	if (r == NULL)
		return NULL;
	free(r->text);
	free(r->title);
	free(r->canonical_url);
	free(r->author);
	free(r->published);
	free(r->lang);
	free(r->charset);
	for (size_t i = 0; i < r->n_links; i++) {
		free(r->links[i].url);
		free(r->links[i].text);
	}
	free(r->links);
	free(r);
	return NULL;
}
