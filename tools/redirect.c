/* Redirects: the rule for one hop (see redirect.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "redirect.h"
#include "url.h"
#include "xmalloc.h"

bool redirect_is_followed(long status)
{
	return status == 301 || status == 302 || status == 303 || status == 307 ||
	    status == 308;
}

static const char *redirect_url_error(int e)
{
	switch (e) {
	case -EACCES: return "it carries a user name or password";
	case -EPROTONOSUPPORT: return "its scheme is not http or https";
	case -ENAMETOOLONG: return "it is too long";
	default: return "it is not a URL";
	}
}

/* A configured endpoint is trusted for its own host and port, and for the
 * same host upgraded from http to https; no further. */
static bool redirect_same_endpoint(const struct url_parts *first, const struct url_parts *p)
{
	if (strcasecmp(p->host, first->host) != 0)
		return false;
	if (p->port == first->port && strcmp(p->scheme, first->scheme) == 0)
		return true;
	return strcmp(first->scheme, "http") == 0 && first->port == 80 &&
	    strcmp(p->scheme, "https") == 0 && p->port == 443;
}

int redirect_next(const struct redirect_from *f, struct redirect_hop *ret, char *why,
    size_t whylen)
{
	struct url_parts first = {0}, cur = {0}, next = {0};
	char *url = NULL;
	int r;

	if (f->location == NULL) {
		snprintf(why, whylen, "HTTP %ld redirect without a Location", f->status);
		return -EBADMSG;
	}
	if (f->hops >= f->max_hops) {
		snprintf(why, whylen, "too many redirects (more than %ld)", f->max_hops);
		return -ELOOP;
	}
	r = url_resolve(f->url, f->location, &url);
	if (r == 0)
		r = url_parse(url, &next);
	if (r < 0) {
		snprintf(why, whylen, "HTTP %ld redirect to a URL that is not followed: %s",
		    f->status, redirect_url_error(r));
		r = r == -EACCES ? -EACCES : -EINVAL;
		goto out;
	}
	r = url_parse(f->url, &cur);
	if (r == 0 && f->trusted)
		r = url_parse(f->first_url, &first);
	if (r < 0) {
		snprintf(why, whylen, "the URL being redirected from cannot be parsed");
		goto out;
	}
	if (f->trusted && !redirect_same_endpoint(&first, &next)) {
		snprintf(why, whylen, "refused to follow a redirect from %s to another host"
		    " (%s:%d): the configured endpoint is trusted, not where it redirects to",
		    first.host, next.host, next.port);
		r = -EACCES;
		goto out;
	}
	ret->other_host = strcasecmp(next.host, cur.host) != 0 || next.port != cur.port;
	/* What browsers and curl do: 303 turns anything but HEAD into GET,
	 * 301 and 302 turn POST into GET; 307 and 308 repeat the request. */
	ret->to_get = (f->status == 303 && !(f->method && strcmp(f->method, "HEAD") == 0)) ||
	    ((f->status == 301 || f->status == 302) && (f->method ?
	    strcmp(f->method, "POST") == 0 : f->has_body));
	ret->url = url;
	url = NULL;
	ret->host = next.host;
	next.host = NULL;
out:
	url_parts_clear(&first);
	url_parts_clear(&cur);
	url_parts_clear(&next);
	free(url);
	return r;
}

void redirect_hop_clear(struct redirect_hop *h)
{
	free(h->url);
	free(h->host);
	memset(h, 0, sizeof(*h));
}
