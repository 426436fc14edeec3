/* What the search backends build requests with and hand back: result text
 * cleaned of markup and entities, capped UTF-8, the per-backend hit lists,
 * and the URL pieces (escaping, {lang} templates, base URLs). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search.h"
#include "str.h"
#include "url.h"
#include "xmalloc.h"

/* ---- text ---- */

/* Length of the valid UTF-8 sequence at p, or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	size_t l;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		l = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		l = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		l = 4;
	else
		return 0;
	if (l > n)
		return 0;
	return utf8_valid((const char *)p, l) ? l : 0;
}

static size_t utf8_put(char out[4], uint32_t c)
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xc0 | (c >> 6));
		out[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xe0 | (c >> 12));
		out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		out[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (c >> 18));
	out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	out[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/* Decode the entity at s[0] == '&'; returns bytes consumed (0: not one)
 * and the code point. */
static size_t entity_decode(const char *s, size_t n, uint32_t *cp)
{
	static const struct { const char *name; uint32_t cp; } named[] = {
		{ "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' },
		{ "apos", '\'' }, { "nbsp", ' ' }, { "ndash", 0x2013 }, { "mdash", 0x2014 },
		{ "hellip", 0x2026 },
	};
	size_t end;

	for (end = 1; end < n && end < 12 && s[end] != ';'; end++)
		;
	if (end >= n || s[end] != ';' || end < 2)
		return 0;
	if (s[1] == '#') {
		uint32_t v = 0;
		size_t i = 2;
		bool hex = i < end && (s[i] == 'x' || s[i] == 'X');

		if (hex)
			i++;
		if (i == end)
			return 0;
		for (; i < end; i++) {
			int d;

			if (s[i] >= '0' && s[i] <= '9')
				d = s[i] - '0';
			else if (hex && s[i] >= 'a' && s[i] <= 'f')
				d = s[i] - 'a' + 10;
			else if (hex && s[i] >= 'A' && s[i] <= 'F')
				d = s[i] - 'A' + 10;
			else
				return 0;
			v = v * (hex ? 16 : 10) + (uint32_t)d;
			if (v > 0x10ffff)
				v = 0x110000;
		}
		if (v == 0 || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
			v = 0xfffd;
		*cp = v;
		return end + 1;
	}
	for (size_t k = 0; k < sizeof(named) / sizeof(named[0]); k++)
		if (strlen(named[k].name) == end - 1 && !memcmp(s + 1, named[k].name, end - 1)) {
			*cp = named[k].cp;
			return end + 1;
		}
	return 0;
}

/* Tags that separate words when stripped. */
static bool tag_breaks(const char *s, size_t n)
{
	static const char *const names[] = { "br", "p", "div", "li", "tr", "td", "h1", "h2", "h3" };
	size_t i = 1, l;

	if (i < n && s[i] == '/')
		i++;
	for (l = 0; i + l < n && ((s[i + l] >= 'a' && s[i + l] <= 'z') ||
	    (s[i + l] >= 'A' && s[i + l] <= 'Z') || (s[i + l] >= '0' && s[i + l] <= '9')); l++)
		;
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
		if (strlen(names[k]) == l && !strncasecmp(s + i, names[k], l))
			return true;
	return false;
}

char *search_text_clean(const char *s, size_t len, bool html, size_t max)
{
	char *out = xmalloc(max + 1), tmp[4];
	size_t o = 0, i = 0;
	bool space = false;

	while (i < len) {
		const unsigned char c = (unsigned char)s[i];
		const char *emit;
		size_t n;

		if (html && c == '<') {
			const char *gt = memchr(s + i, '>', len - i);

			if (tag_breaks(s + i, len - i))
				space = true;
			i = gt ? (size_t)(gt - s) + 1 : len;
			continue;
		}
		if (c < 0x20 || c == 0x7f || c == ' ') {
			space = true;
			i++;
			continue;
		}
		if (html && c == '&') {
			uint32_t cp;
			size_t used = entity_decode(s + i, len - i, &cp);

			if (used) {
				i += used;
				if (cp < 0x20 || cp == ' ' || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
					space = true;
					continue;
				}
				n = utf8_put(tmp, cp);
				emit = tmp;
				goto put;
			}
		}
		n = utf8_seq((const unsigned char *)s + i, len - i);
		if (n == 0) {
			emit = "\xef\xbf\xbd";
			n = 3;
			i++;
		} else {
			emit = s + i;
			i += n;
		}
put:
		if (space && o > 0) {
			if (o + 1 + n > max)
				break;
			out[o++] = ' ';
		} else if (o + n > max)
			break;
		space = false;
		memcpy(out + o, emit, n);
		o += n;
	}
	out[o] = '\0';
	return out;
}

/* ---- hits ---- */

void search_hits_init(struct search_hits *h, size_t max)
{
	*h = (struct search_hits){ .max = max ? max : SEARCH_MAX_RESULTS };
}

void search_hits_clear(struct search_hits *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->v[i].url);
		free(h->v[i].title);
		free(h->v[i].snippet);
		free(h->v[i].date);
	}
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}

int search_hits_add(struct search_hits *h, const char *url, const char *title,
    size_t title_len, const char *snippet, size_t snippet_len, bool html, const char *date)
{
	struct search_hit *hit;
	size_t ulen;

	if (h->n >= h->max)
		return -ENOSPC;
	if (url == NULL)
		return -EINVAL;
	ulen = strlen(url);
	if (ulen == 0)
		return -EINVAL;
	if (ulen > URL_MAX)
		return -ENAMETOOLONG;
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 16;
		h->v = xreallocarray(h->v, h->cap, sizeof(*h->v));
	}
	hit = &h->v[h->n++];
	hit->url = xstrdup(url);
	hit->title = search_text_clean(title ? title : "", title ? title_len : 0, html,
	    SEARCH_MAX_TITLE);
	hit->snippet = search_text_clean(snippet ? snippet : "", snippet ? snippet_len : 0, html,
	    SEARCH_MAX_SNIPPET);
	hit->date = date && *date ? search_text_clean(date, strlen(date), false, SEARCH_MAX_DATE) : NULL;
	if (hit->date && !*hit->date)
		hit->date = mfree(hit->date);
	return 0;
}

/* ---- URLs ---- */

int search_url_escape(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	int r = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p && r == 0; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~')
			r = buf_putc(b, (char)*p);
		else {
			char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };

			r = buf_append(b, e, 3);
		}
	}
	return r;
}

int search_url_join(struct buf *b, const char *base, const char *path)
{
	size_t n = strlen(base);
	int r;

	while (n > 0 && base[n - 1] == '/')
		n--;
	r = buf_append(b, base, n);
	if (r < 0)
		return r;
	return buf_puts(b, path);
}

char *search_url_lang(const char *tmpl, const char *lang)
{
	struct buf b;
	const char *p = tmpl, *m;

	buf_init(&b, URL_MAX);
	while ((m = strstr(p, "{lang}")) != NULL) {
		buf_append(&b, p, (size_t)(m - p));
		buf_puts(&b, lang);
		p = m + 6;
	}
	if (buf_puts(&b, p) < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}
