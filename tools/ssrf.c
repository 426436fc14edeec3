/* The SSRF guard: address classes and the allow-list of [fetch] allow_hosts. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ssrf.h"
#include "xmalloc.h"

struct ssrf_cidr {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned bits;
};

struct ssrf_policy {
	size_t n_names, n_cidrs;
	char *names[SSRF_MAX_ALLOW];
	struct ssrf_cidr cidrs[SSRF_MAX_ALLOW];
};

static bool ssrf_prefix_match(const uint8_t *a, const uint8_t *net, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(a, net, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[full] & mask) == (net[full] & mask);
}

static int ssrf_parse_cidr(const char *s, struct ssrf_cidr *c)
{
	char tmp[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	unsigned max;

	if (n == 0 || n >= INET6_ADDRSTRLEN)
		return -EINVAL;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (inet_pton(AF_INET, tmp, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, tmp, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else
		return -EINVAL;
	c->bits = max;
	if (slash) {
		char *end;
		long b;

		if (!isdigit((unsigned char)slash[1]))
			return -EINVAL;
		b = strtol(slash + 1, &end, 10);
		if (*end != '\0' || b < 0 || (unsigned long)b > max)
			return -EINVAL;
		c->bits = (unsigned)b;
	}
	return 0;
}

static bool ssrf_valid_name(const char *s)
{
	if (*s == '\0' || strlen(s) > 253)
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
			return false;
	return true;
}

/* Whether the CIDRs of family fam, together, hold every address under the
 * prefix net/bits: walks down the prefix tree only where some CIDR lies. */
static bool ssrf_covers(const struct ssrf_cidr *c, size_t n, int fam, uint8_t net[16],
    unsigned bits, unsigned max)
{
	bool inside = false;
	unsigned byte = bits / 8;
	uint8_t bit;
	bool r;

	for (size_t i = 0; i < n; i++) {
		if (c[i].family != fam)
			continue;
		if (c[i].bits <= bits && ssrf_prefix_match(net, c[i].addr, c[i].bits))
			return true;
		if (c[i].bits > bits && ssrf_prefix_match(c[i].addr, net, bits))
			inside = true;
	}
	if (!inside || bits == max)
		return false;
	bit = (uint8_t)(0x80 >> (bits % 8));
	net[byte] &= (uint8_t)~bit;
	r = ssrf_covers(c, n, fam, net, bits + 1, max);
	if (r) {
		net[byte] |= bit;
		r = ssrf_covers(c, n, fam, net, bits + 1, max);
		net[byte] &= (uint8_t)~bit;
	}
	return r;
}

int ssrf_allow_check(const char *const *allow, size_t n, char *why, size_t whylen)
{
	struct ssrf_cidr c[SSRF_MAX_ALLOW];
	uint8_t net[16] = {0};
	size_t k = 0;

	for (size_t i = 0; i < n && k < SSRF_MAX_ALLOW; i++)
		if (ssrf_parse_cidr(allow[i], &c[k]) == 0)
			k++;
	if (ssrf_covers(c, k, AF_INET, net, 0, 32)) {
		snprintf(why, whylen, "allow_hosts covers every IPv4 address (as 0.0.0.0/0 does),"
		    " which switches the SSRF guard off: name the hosts or networks to allow");
		return -EINVAL;
	}
	if (ssrf_covers(c, k, AF_INET6, net, 0, 128)) {
		snprintf(why, whylen, "allow_hosts covers every IPv6 address (as ::/0 does),"
		    " which switches the SSRF guard off: name the hosts or networks to allow");
		return -EINVAL;
	}
	return 0;
}

int ssrf_policy_new(const char *const *allow, size_t n, struct ssrf_policy **ret,
    size_t *ret_bad)
{
	struct ssrf_policy *p = xcalloc(1, sizeof(*p));

	for (size_t i = 0; i < n; i++) {
		struct ssrf_cidr c;

		if (ssrf_parse_cidr(allow[i], &c) == 0 && p->n_cidrs < SSRF_MAX_ALLOW)
			p->cidrs[p->n_cidrs++] = c;
		else if (strchr(allow[i], '/') == NULL && strchr(allow[i], ':') == NULL &&
		    ssrf_valid_name(allow[i]) && p->n_names < SSRF_MAX_ALLOW)
			p->names[p->n_names++] = xstrdup(allow[i]);
		else {
			if (ret_bad)
				*ret_bad = i;
			ssrf_policy_free(p);
			return -EINVAL;
		}
	}
	if (ssrf_allow_check(allow, n, NULL, 0) < 0) {
		if (ret_bad)
			*ret_bad = n;
		ssrf_policy_free(p);
		return -EDOM;
	}
	*ret = p;
	return 0;
}

struct ssrf_policy *ssrf_policy_free(struct ssrf_policy *p)
{
	if (p == NULL)
		return NULL;
	for (size_t i = 0; i < p->n_names; i++)
		free(p->names[i]);
	free(p);
	return NULL;
}

struct ssrf_range {
	const char *net;
	unsigned bits;
	const char *what;
};

/* Everything that is not public unicast. */
static const struct ssrf_range ssrf_v4[] = {
	{ "0.0.0.0", 8, "unspecified (\"this network\")" },
	{ "10.0.0.0", 8, "private (RFC 1918)" },
	{ "100.64.0.0", 10, "shared (CGNAT)" },
	{ "127.0.0.0", 8, "loopback" },
	{ "169.254.0.0", 16, "link-local" },
	{ "172.16.0.0", 12, "private (RFC 1918)" },
	{ "192.0.0.0", 24, "IETF protocol assignments" },
	{ "192.0.2.0", 24, "documentation" },
	{ "192.88.99.0", 24, "6to4 relay anycast" },
	{ "192.168.0.0", 16, "private (RFC 1918)" },
	{ "198.18.0.0", 15, "benchmarking" },
	{ "198.51.100.0", 24, "documentation" },
	{ "203.0.113.0", 24, "documentation" },
	{ "224.0.0.0", 4, "multicast" },
	{ "240.0.0.0", 4, "reserved" },
	{ "255.255.255.255", 32, "broadcast" },
};

static const struct ssrf_range ssrf_v6[] = {
	{ "::", 128, "unspecified" },
	{ "::1", 128, "loopback" },
	{ "64:ff9b:1::", 48, "local-use NAT64" },
	{ "100::", 64, "discard-only" },
	{ "2001::", 23, "IETF protocol assignments" },
	{ "2001:db8::", 32, "documentation" },
	{ "3fff::", 20, "documentation" },
	{ "fc00::", 7, "unique local (ULA)" },
	{ "fe80::", 10, "link-local" },
	{ "fec0::", 10, "site-local" },
	{ "ff00::", 8, "multicast" },
};

static const char *ssrf_classify_v4(const uint8_t a[4])
{
	for (size_t i = 0; i < sizeof(ssrf_v4) / sizeof(ssrf_v4[0]); i++) {
		uint8_t net[4];

		inet_pton(AF_INET, ssrf_v4[i].net, net);
		if (ssrf_prefix_match(a, net, ssrf_v4[i].bits))
			return ssrf_v4[i].what;
	}
	return NULL;
}

const char *ssrf_classify(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return ssrf_classify_v4((const uint8_t *)&in->sin_addr);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		const uint8_t *a = in6->sin6_addr.s6_addr;
		static const uint8_t zero[12], mapped[12] = { [10] = 0xff, [11] = 0xff };
		static const uint8_t nat64[12] = { 0x00, 0x64, 0xff, 0x9b };

		static const uint8_t translated[12] = { [8] = 0xff, [9] = 0xff };

		/* ::ffff:0:0/96 (mapped) and ::ffff:0:0:0/96 (SIIT translated)
		 * never name a public host: no resolver hands them out for one,
		 * and what they reach depends on the local stack or translator. */
		if (memcmp(a, mapped, 12) == 0)
			return "IPv4-mapped";
		if (memcmp(a, translated, 12) == 0)
			return "IPv4-translated";
		/* ::a.b.c.d (compatible, deprecated), 64:ff9b::a.b.c.d (NAT64):
		 * the IPv4 address is what is reached. */
		if (memcmp(a, nat64, 12) == 0)
			return ssrf_classify_v4(a + 12);
		if (memcmp(a, zero, 12) == 0 && !(a[12] == 0 && a[13] == 0 && a[14] == 0 && a[15] <= 1))
			return ssrf_classify_v4(a + 12) ? ssrf_classify_v4(a + 12) : "IPv4-compatible";
		/* 6to4 (2002::/16) embeds an IPv4 address too. */
		if (a[0] == 0x20 && a[1] == 0x02 && ssrf_classify_v4(a + 2))
			return ssrf_classify_v4(a + 2);
		for (size_t i = 0; i < sizeof(ssrf_v6) / sizeof(ssrf_v6[0]); i++) {
			uint8_t net[16];

			inet_pton(AF_INET6, ssrf_v6[i].net, net);
			if (ssrf_prefix_match(a, net, ssrf_v6[i].bits))
				return ssrf_v6[i].what;
		}
		return NULL;
	}
	return "not an internet address";
}

static bool ssrf_allowed(const struct ssrf_policy *p, const char *host,
    const struct sockaddr *sa)
{
	if (p == NULL)
		return false;
	if (host) {
		for (size_t i = 0; i < p->n_names; i++)
			if (strcasecmp(p->names[i], host) == 0)
				return true;
	}
	for (size_t i = 0; i < p->n_cidrs; i++) {
		const struct ssrf_cidr *c = &p->cidrs[i];

		if (c->family == AF_INET && sa->sa_family == AF_INET &&
		    ssrf_prefix_match((const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr,
		    c->addr, c->bits))
			return true;
		if (c->family == AF_INET6 && sa->sa_family == AF_INET6 &&
		    ssrf_prefix_match(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr,
		    c->addr, c->bits))
			return true;
	}
	return false;
}

int ssrf_check(const struct ssrf_policy *p, const char *host, const struct sockaddr *sa,
    char *why, size_t whylen)
{
	const char *cls = ssrf_classify(sa);
	char ip[INET6_ADDRSTRLEN] = "?";

	if (cls == NULL || ssrf_allowed(p, host, sa))
		return 0;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof(ip));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof(ip));
	if (why)
		snprintf(why, whylen, "refused to connect to %s%s%s: a %s address"
		    " (not in [fetch] allow_hosts)", ip, host ? " for " : "", host ? host : "", cls);
	return -EACCES;
}

int ssrf_check_ip(const struct ssrf_policy *p, const char *host, const char *ip,
    char *why, size_t whylen)
{
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in in = { .sin_family = AF_INET };

	if (inet_pton(AF_INET, ip, &in.sin_addr) == 1)
		return ssrf_check(p, host, (struct sockaddr *)&in, why, whylen);
	if (inet_pton(AF_INET6, ip, &in6.sin6_addr) == 1)
		return ssrf_check(p, host, (struct sockaddr *)&in6, why, whylen);
	if (why)
		snprintf(why, whylen, "refused to connect to an unparsable address");
	return -EACCES;
}
