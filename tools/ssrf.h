/* The SSRF guard: which addresses a fetch may connect to. Every address is
 * checked at the moment curl is about to connect to it (tools/http.c's
 * open-socket hook), so what is connected is exactly what was checked,
 * after every redirect too. */
#ifndef RESEARCHD_SSRF_H
#define RESEARCHD_SSRF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define SSRF_MAX_ALLOW 64

struct ssrf_policy;

/* allow: host names (matched exactly, case-insensitively, against the host
 * of the URL being fetched) or CIDRs ("10.0.0.0/8", "::1/128", or a bare
 * address). -EINVAL with *ret_bad set to the index of a bad entry; -EDOM
 * (and *ret_bad = n) when the list switches the guard off (see below). */
int ssrf_policy_new(const char *const *allow, size_t n, struct ssrf_policy **ret,
    size_t *ret_bad);
struct ssrf_policy *ssrf_policy_free(struct ssrf_policy *p);
/* -EINVAL, with a sentence in why (may be NULL), when the CIDRs of allow
 * together cover every IPv4 or every IPv6 address (0.0.0.0/0, ::/0,
 * 0.0.0.0/1 with 128.0.0.0/1, ...): that is no guard at all. */
int ssrf_allow_check(const char *const *allow, size_t n, char *why, size_t whylen);

/* The class of a non-public address ("loopback", "private", ...), or NULL
 * for a public unicast address. IPv4-mapped (::ffff:0:0/96) and
 * -translated (::ffff:0:0:0/96) addresses are never public; IPv4-compatible
 * and NAT64 ones are classed by their IPv4 address. */
const char *ssrf_classify(const struct sockaddr *sa);
/* 0 when sa may be connected to for a URL whose host is host (may be NULL),
 * else -EACCES with a sentence in why. */
int ssrf_check(const struct ssrf_policy *p, const char *host, const struct sockaddr *sa,
    char *why, size_t whylen);
/* The same for a numeric address string (as curl reports a connection). */
int ssrf_check_ip(const struct ssrf_policy *p, const char *host, const char *ip,
    char *why, size_t whylen);

#endif
