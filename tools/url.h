/* URLs of the web: parsing, canonical form (the source cache key) and
 * resolution of relative references, over libcurl's URL API. */
#ifndef RESEARCHD_URL_H
#define RESEARCHD_URL_H

#include <stdbool.h>

#define URL_MAX 8192	/* bytes of a URL we accept or produce */

/* Errors shared by the functions below:
 *   -EINVAL           not a URL (or an empty host)
 *   -EPROTONOSUPPORT  a scheme other than http or https
 *   -EACCES           user name or password in the URL
 *   -ENAMETOOLONG     longer than URL_MAX */

/* Canonical form: scheme and host lowercased (IDN hosts in punycode), the
 * default port dropped, the fragment dropped, tracking parameters (utm_*,
 * fbclid, gclid, ...) removed, dot-segments resolved, percent-encoding
 * normalised (unreserved characters decoded, hex upper case, unsafe bytes
 * encoded), an empty path made "/". */
int url_canonical(const char *url, char **ret);
/* Resolve ref (absolute or relative) against the absolute base, then
 * canonicalise. */
int url_resolve(const char *base, const char *ref, char **ret);

struct url_parts {
	char *scheme;	/* "http" or "https" */
	char *host;	/* lowercase; an IPv6 literal without brackets */
	int port;	/* explicit or the scheme's default */
	char *path;	/* path and query, as sent in a request line */
};

/* Split an absolute http(s) URL; free with url_parts_clear. */
int url_parse(const char *url, struct url_parts *ret);
void url_parts_clear(struct url_parts *p);
/* True for query parameter names that only track the reader. */
bool url_is_tracking_param(const char *name, size_t len);

#endif
