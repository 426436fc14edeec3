/* URL canonical form and resolution over libcurl's URL API (CURLU). curl
 * parses, resolves references and removes dot-segments; this file adds the
 * policy (http/https only, no credentials), lowercasing, the percent-encoding
 * normalisation and the removal of tracking parameters. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "buf.h"
#include "url.h"
#include "xmalloc.h"

static const char *const url_tracking_exact[] = {
	"fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid",
	"mc_cid", "mc_eid", "igshid", "twclid", "ttclid", "li_fat_id", "mkt_tok",
	"_ga", "_gl", "_hsenc", "_hsmi", "__hssc", "__hstc", "__hsfp", "hsctatracking",
	"oly_anon_id", "oly_enc_id", "vero_id", "vero_conv", "wickedid", "rb_clickid",
	"s_cid", "ncid", "sr_share", "spm", "scid", "_openstat", "cvid", "oicd",
};

bool url_is_tracking_param(const char *name, size_t len)
{
	if (len > 4 && strncasecmp(name, "utm_", 4) == 0)
		return true;
	for (size_t i = 0; i < sizeof(url_tracking_exact) / sizeof(url_tracking_exact[0]); i++) {
		if (strlen(url_tracking_exact[i]) == len &&
		    strncasecmp(name, url_tracking_exact[i], len) == 0)
			return true;
	}
	return false;
}

static bool url_unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Characters that may stand unencoded in a path or query (RFC 3986
 * sub-delims, ':', '@', '/', and '?' in the query). */
static bool url_allowed(unsigned char c, bool query)
{
	if (url_unreserved(c))
		return true;
	if (strchr("!$&'()*+,;=:@/", c) != NULL && c != '\0')
		return true;
	return query && c == '?';
}

static int url_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (unsigned char)tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int url_put_encoded(struct buf *b, unsigned char c)
{
	static const char hex[] = "0123456789ABCDEF";
	char e[3] = { '%', hex[c >> 4], hex[c & 15] };

	return buf_append(b, e, 3);
}

/* Normalise percent-encoding of s[0..len) onto b. */
static int url_normalise(struct buf *b, const char *s, size_t len, bool query)
{
	int r = 0;

	for (size_t i = 0; i < len && r == 0; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%' && i + 2 < len && url_hexval((unsigned char)s[i + 1]) >= 0 &&
		    url_hexval((unsigned char)s[i + 2]) >= 0) {
			unsigned char v = (unsigned char)(url_hexval((unsigned char)s[i + 1]) * 16 +
			    url_hexval((unsigned char)s[i + 2]));

			r = url_unreserved(v) ? buf_putc(b, (char)v) : url_put_encoded(b, v);
			i += 2;
		} else if (c != '%' && url_allowed(c, query))
			r = buf_putc(b, (char)c);
		else
			r = url_put_encoded(b, c);
	}
	return r;
}

/* RFC 3986 5.2.4 on a normalised path: an encoded dot ("%2E") decodes
 * to a dot segment that curl did not see. Works in place. */
static void url_remove_dots(char *path)
{
	char *in = path, *out = path;

	while (*in) {
		if (strncmp(in, "/./", 3) == 0)
			in += 2;
		else if (strcmp(in, "/.") == 0)
			in[1] = '\0';
		else if (strncmp(in, "/../", 4) == 0 || strcmp(in, "/..") == 0) {
			if (in[3] == '\0')
				in[2] = '/', in += 2;
			else
				in += 3;
			while (out > path && *--out != '/')
				;
		} else {
			do
				*out++ = *in++;
			while (*in && *in != '/');
		}
	}
	*out = '\0';
	if (path[0] == '\0')
		path[0] = '/', path[1] = '\0';
}

static int url_curl_error(CURLUcode rc)
{
	switch (rc) {
	case CURLUE_OK: return 0;
	case CURLUE_UNSUPPORTED_SCHEME: return -EPROTONOSUPPORT;
	case CURLUE_OUT_OF_MEMORY: return -ENOMEM;
	default: return -EINVAL;
	}
}

/* Scheme (http/https only) and no credentials. */
static int url_check_policy(CURLU *h, char **ret_scheme)
{
	char *scheme = NULL, *user = NULL, *pass = NULL;
	int r;

	r = url_curl_error(curl_url_get(h, CURLUPART_SCHEME, &scheme, 0));
	if (r < 0)
		return r;
	for (char *p = scheme; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		curl_free(scheme);
		return -EPROTONOSUPPORT;
	}
	if (curl_url_get(h, CURLUPART_USER, &user, 0) == CURLUE_OK ||
	    curl_url_get(h, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK) {
		curl_free(user);
		curl_free(pass);
		curl_free(scheme);
		return -EACCES;
	}
	*ret_scheme = scheme;
	return 0;
}

static int url_get_host(CURLU *h, char **ret)
{
	char *host = NULL;
	CURLUcode rc = CURLUE_UNKNOWN_PART;

#ifdef CURLU_PUNYCODE
	rc = curl_url_get(h, CURLUPART_HOST, &host, CURLU_PUNYCODE);
#endif
	if (rc != CURLUE_OK) {
		/* libcurl 7.88 may fail the conversion yet hand back a string. */
		curl_free(host);
		host = NULL;
		rc = curl_url_get(h, CURLUPART_HOST, &host, 0);
	}
	if (rc != CURLUE_OK)
		return rc == CURLUE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
	if (host[0] == '\0') {
		curl_free(host);
		return -EINVAL;
	}
	for (char *p = host; *p; p++) {
		unsigned char c = (unsigned char)*p;

		/* curl decodes %XX in a host name: what is left must be a name
		 * (non-ASCII bytes when IDN conversion is unavailable) or an
		 * IPv6 literal, so that the canonical form is a fixed point. */
		if (!(isalnum(c) || c == '-' || c == '.' || c == '_' || c >= 0x80 ||
		    (host[0] == '[' && (c == '[' || c == ']' || c == ':')))) {
			curl_free(host);
			return -EINVAL;
		}
		*p = (char)tolower(c);
	}
	*ret = host;
	return 0;
}

static int url_canonical_from(CURLU *h, char **ret)
{
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL;
	struct buf b;
	int r;

	buf_init(&b, URL_MAX);
	r = url_check_policy(h, &scheme);
	if (r < 0)
		goto out;
	r = url_get_host(h, &host);
	if (r < 0)
		goto out;
	if (curl_url_get(h, CURLUPART_PORT, &port, 0) != CURLUE_OK)
		port = NULL;
	if (curl_url_get(h, CURLUPART_PATH, &path, 0) != CURLUE_OK)
		path = NULL;
	if (curl_url_get(h, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
		query = NULL;

	r = buf_printf(&b, "%s://%s", scheme, host);
	if (r == 0 && port && !(strcmp(scheme, "http") == 0 && strcmp(port, "80") == 0) &&
	    !(strcmp(scheme, "https") == 0 && strcmp(port, "443") == 0))
		r = buf_printf(&b, ":%s", port);
	if (r == 0) {
		struct buf pb;

		buf_init(&pb, URL_MAX);
		if (path == NULL || path[0] != '/')
			r = buf_putc(&pb, '/');
		if (r == 0 && path)
			r = url_normalise(&pb, path, strlen(path), false);
		if (r == 0 && strstr(pb.data, "/.") != NULL) {
			/* One more byte for the "/.." → "/" rewrite's room. */
			r = buf_putc(&pb, '\0');
			if (r == 0)
				url_remove_dots(pb.data);
		}
		if (r == 0)
			r = buf_puts(&b, pb.data);
		buf_free(&pb);
	}
	if (r == 0 && query) {
		bool first = true;
		const char *p = query;

		while (r == 0) {
			size_t n = strcspn(p, "&");
			size_t nl = strcspn(p, "=");

			if (nl > n)
				nl = n;
			if (n > 0 && !url_is_tracking_param(p, nl)) {
				r = buf_putc(&b, first ? '?' : '&');
				if (r == 0)
					r = url_normalise(&b, p, n, true);
				first = false;
			}
			if (p[n] == '\0')
				break;
			p += n + 1;
		}
	}
	if (r == -ENOBUFS)
		r = -ENAMETOOLONG;
	if (r == 0)
		*ret = buf_steal(&b);
out:
	buf_free(&b);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(query);
	return r;
}

/* Skip leading and drop trailing ASCII whitespace, as browsers do for
 * links; NUL-free copies only. */
static char *url_trimmed(const char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' ||
	    s[n - 1] == '\r' || s[n - 1] == '\f'))
		n--;
	return xstrndup(s, n);
}

static int url_set(CURLU *h, const char *url)
{
	char *t;
	int r;

	if (strlen(url) > URL_MAX)
		return -ENAMETOOLONG;
	t = url_trimmed(url);
	r = url_curl_error(curl_url_set(h, CURLUPART_URL, t, CURLU_ALLOW_SPACE));
	free(t);
	return r;
}

int url_canonical(const char *url, char **ret)
{
	CURLU *h = curl_url();
	int r;

	if (h == NULL)
		return -ENOMEM;
	r = url_set(h, url);
	if (r == 0)
		r = url_canonical_from(h, ret);
	curl_url_cleanup(h);
	return r;
}

int url_resolve(const char *base, const char *ref, char **ret)
{
	CURLU *h = curl_url();
	char *scheme = NULL;
	int r;

	if (h == NULL)
		return -ENOMEM;
	r = url_set(h, base);
	if (r == 0)
		r = url_check_policy(h, &scheme);
	curl_free(scheme);
	/* A reference that is empty or only a fragment is the base itself
	 * (libcurl before 8.x loses the base's last segment on "#frag"). */
	if (r == 0) {
		const char *t = ref;

		while (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r' || *t == '\f')
			t++;
		if (*t != '\0' && *t != '#')
			r = url_set(h, ref);
	}
	if (r == 0)
		r = url_canonical_from(h, ret);
	curl_url_cleanup(h);
	return r;
}

int url_parse(const char *url, struct url_parts *ret)
{
	CURLU *h = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL;
	int r;

	if (h == NULL)
		return -ENOMEM;
	r = url_set(h, url);
	if (r == 0)
		r = url_check_policy(h, &scheme);
	if (r == 0)
		r = url_get_host(h, &host);
	if (r == 0)
		r = url_curl_error(curl_url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT));
	if (r == 0) {
		size_t hl = strlen(host);
		const char *hp = host;

		if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
			hp = host + 1;
			hl -= 2;
		}
		if (curl_url_get(h, CURLUPART_PATH, &path, 0) != CURLUE_OK)
			path = NULL;
		if (curl_url_get(h, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
			query = NULL;
		ret->scheme = xstrdup(scheme);
		ret->host = xstrndup(hp, hl);
		ret->port = atoi(port);
		ret->path = xasprintf("%s%s%s", path && path[0] ? path : "/", query ? "?" : "",
		    query ? query : "");
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(h);
	return r;
}

void url_parts_clear(struct url_parts *p)
{
	p->scheme = mfree(p->scheme);
	p->host = mfree(p->host);
	p->path = mfree(p->path);
	p->port = 0;
}
