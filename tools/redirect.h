/* Redirects: where one 3xx leads and whether it may be followed, decided
 * apart from any transfer so that tools/http applies the same rule to every
 * hop of every request (pages, robots.txt, search APIs, model servers). */
#ifndef RESEARCHD_REDIRECT_H
#define RESEARCHD_REDIRECT_H

#include <stdbool.h>
#include <stddef.h>

/* The statuses whose Location is followed: 301, 302, 303, 307, 308. Any
 * other 3xx is an answer like any other and leads nowhere. */
bool redirect_is_followed(long status);

struct redirect_from {
	long status;
	const char *location;		/* as sent; NULL when there was none */
	const char *url;		/* of the hop that answered */
	const char *first_url;		/* the request's own URL */
	bool trusted;			/* first_url is an endpoint the operator set */
	long hops, max_hops;		/* followed so far, allowed */
	const char *method;		/* NULL: GET, or POST with a body */
	bool has_body;
};

struct redirect_hop {
	char *url;			/* absolute, canonical */
	char *host;			/* the host the guard checks the next hop for */
	bool other_host;		/* not the host of from->url */
	bool to_get;			/* the next request is a GET without a body */
};

/* The next hop of from into *ret (free with redirect_hop_clear), or an error
 * with a sentence in why: -EBADMSG no Location, -ELOOP past max_hops,
 * -EACCES credentials in the Location or, when trusted, another host or
 * port than first_url's (an http to https upgrade of the same host is
 * allowed), -EINVAL a Location that is not an http(s) URL. */
int redirect_next(const struct redirect_from *from, struct redirect_hop *ret, char *why,
    size_t whylen);
void redirect_hop_clear(struct redirect_hop *h);

#endif
