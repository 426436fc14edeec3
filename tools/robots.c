/* robots.txt parser and matcher (RFC 9309). Only the rules that apply to
 * our product token are kept: those of the groups naming it, else those of
 * the "*" groups. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "robots.h"
#include "xmalloc.h"

struct robots_rule {
	char *pattern;
	size_t len;
	bool allow;
};

struct robots_set {
	struct robots_rule *rules;
	size_t n, cap;
	long delay_ms;
	bool seen;	/* a group applied, even an empty one */
};

struct robots {
	struct robots_set set;
	int all;	/* 1: allow all, 0: disallow all, -1: use the rules */
};

static void robots_set_clear(struct robots_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->rules[i].pattern);
	free(s->rules);
	memset(s, 0, sizeof(*s));
	s->delay_ms = -1;
}

static int robots_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (unsigned char)tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The same percent-encoding normalisation as canonical URLs, so that
 * patterns and paths compare byte for byte. */
static char *robots_normalise(const char *v, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf b;
	int r = 0;

	buf_init(&b, ROBOTS_MAX_PATTERN * 3 + 2);
	if (n > 0 && v[0] != '/' && v[0] != '*')
		r = buf_putc(&b, '/');
	for (size_t i = 0; i < n && r == 0; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c == '%' && i + 2 < n && robots_hexval((unsigned char)v[i + 1]) >= 0 &&
		    robots_hexval((unsigned char)v[i + 2]) >= 0) {
			unsigned char d = (unsigned char)(robots_hexval((unsigned char)v[i + 1]) * 16 +
			    robots_hexval((unsigned char)v[i + 2]));

			if (isalnum(d) || d == '-' || d == '.' || d == '_' || d == '~')
				r = buf_putc(&b, (char)d);
			else
				r = buf_printf(&b, "%%%c%c", hex[d >> 4], hex[d & 15]);
			i += 2;
		} else if (c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>' ||
		    c == '\\' || c == '^' || c == '`' || c == '{' || c == '|' || c == '}')
			r = buf_printf(&b, "%%%c%c", hex[c >> 4], hex[c & 15]);
		else
			r = buf_putc(&b, (char)c);
	}
	if (r < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}

static void robots_add(struct robots_set *s, const char *v, size_t n, bool allow)
{
	char *pat;

	if (n == 0 || n > ROBOTS_MAX_PATTERN || s->n >= ROBOTS_MAX_RULES)
		return;
	pat = robots_normalise(v, n);
	if (pat == NULL)
		return;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->rules = xreallocarray(s->rules, s->cap, sizeof(*s->rules));
	}
	s->rules[s->n++] = (struct robots_rule){ pat, strlen(pat), allow };
}

static long robots_parse_delay(const char *v, size_t n)
{
	char tmp[32];
	char *end;
	double d;

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, v, n);
	tmp[n] = '\0';
	d = strtod(tmp, &end);
	if (end == tmp || d < 0 || d > 86400)
		return -1;
	return (long)(d * 1000);
}

/* Does a user-agent line's value name our product token? The token ends at
 * the first character that cannot be in one ("researchd/1.0" names
 * "researchd"). */
static bool robots_agent_matches(const char *v, size_t n, const char *agent)
{
	size_t t = 0;

	while (t < n && (isalnum((unsigned char)v[t]) || v[t] == '-' || v[t] == '_'))
		t++;
	return t > 0 && t == strlen(agent) && strncasecmp(v, agent, t) == 0;
}

struct robots *robots_parse(const char *text, size_t len, const char *agent)
{
	struct robots *r = xcalloc(1, sizeof(*r));
	struct robots_set star = { .delay_ms = -1 };
	bool in_agents = false, mine = false, any = false;
	const char *p = text, *end = text + (len > ROBOTS_MAX_BYTES ? ROBOTS_MAX_BYTES : len);

	r->all = -1;
	r->set.delay_ms = -1;
	/* A UTF-8 byte order mark is allowed at the start. */
	if (end - p >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (p < end) {
		const char *eol = p, *k, *colon, *v;
		size_t kl, vl;

		while (eol < end && *eol != '\n' && *eol != '\r')
			eol++;
		k = p;
		p = eol < end ? eol + 1 : end;
		/* Drop the comment, then the surrounding space. */
		const char *hash = memchr(k, '#', (size_t)(eol - k));
		if (hash)
			eol = hash;
		while (k < eol && isspace((unsigned char)*k))
			k++;
		colon = memchr(k, ':', (size_t)(eol - k));
		if (colon == NULL)
			continue;
		kl = (size_t)(colon - k);
		while (kl > 0 && isspace((unsigned char)k[kl - 1]))
			kl--;
		v = colon + 1;
		while (v < eol && isspace((unsigned char)*v))
			v++;
		vl = (size_t)(eol - v);
		while (vl > 0 && isspace((unsigned char)v[vl - 1]))
			vl--;

		if (kl == 10 && strncasecmp(k, "user-agent", 10) == 0) {
			if (!in_agents) {
				/* A new group starts. */
				mine = false;
				any = false;
				in_agents = true;
			}
			if (vl == 1 && v[0] == '*')
				any = true;
			else if (robots_agent_matches(v, vl, agent))
				mine = true;
			if (mine)
				r->set.seen = true;
			if (any)
				star.seen = true;
			continue;
		}
		bool allow = kl == 5 && strncasecmp(k, "allow", 5) == 0;
		bool disallow = kl == 8 && strncasecmp(k, "disallow", 8) == 0;
		bool delay = kl == 11 && strncasecmp(k, "crawl-delay", 11) == 0;

		if (!allow && !disallow && !delay)
			continue;	/* sitemap and unknown keys do not end a group */
		in_agents = false;
		if (delay) {
			long d = robots_parse_delay(v, vl);

			if (mine && d >= 0)
				r->set.delay_ms = d;
			if (any && d >= 0)
				star.delay_ms = d;
			continue;
		}
		if (mine)
			robots_add(&r->set, v, vl, allow);
		if (any)
			robots_add(&star, v, vl, allow);
	}
	if (!r->set.seen) {
		robots_set_clear(&r->set);
		r->set = star;
	} else
		robots_set_clear(&star);
	return r;
}

struct robots *robots_new_all(bool allow)
{
	struct robots *r = xcalloc(1, sizeof(*r));

	r->all = allow ? 1 : 0;
	r->set.delay_ms = -1;
	return r;
}

struct robots *robots_free(struct robots *r)
{
	if (r == NULL)
		return NULL;
	robots_set_clear(&r->set);
	free(r);
	return NULL;
}

/* Pattern match with '*' (any run) and a final '$' (end of path); without
 * '$' a pattern matches any path it is a prefix of. Backtracks only to the
 * last '*', so it is O(len(pattern) * len(path)) at worst. */
static bool robots_match(const char *pat, size_t plen, const char *s, size_t n)
{
	bool anchored = plen > 0 && pat[plen - 1] == '$';
	size_t p = 0, i = 0, star_p = SIZE_MAX, star_i = 0;

	if (anchored)
		plen--;
	for (;;) {
		if (p == plen) {
			if (!anchored || i == n)
				return true;
		} else if (pat[p] == '*') {
			star_p = p++;
			star_i = i;
			continue;
		} else if (i < n && pat[p] == s[i]) {
			p++;
			i++;
			continue;
		}
		if (star_p == SIZE_MAX || star_i >= n)
			return false;
		i = ++star_i;
		p = star_p + 1;
	}
}

bool robots_allowed(const struct robots *r, const char *path)
{
	size_t n = strlen(path), best = 0;
	bool allow = true, found = false;

	if (strcmp(path, "/robots.txt") == 0 || r->all == 1)
		return true;
	if (r->all == 0)
		return false;
	for (size_t i = 0; i < r->set.n; i++) {
		const struct robots_rule *rule = &r->set.rules[i];

		if (found && rule->len < best)
			continue;
		if (!robots_match(rule->pattern, rule->len, path, n))
			continue;
		if (!found || rule->len > best || (rule->len == best && rule->allow)) {
			allow = rule->allow;
			best = rule->len;
			found = true;
		}
	}
	return allow;
}

long robots_crawl_delay_ms(const struct robots *r)
{
	return r->set.delay_ms;
}

size_t robots_rule_count(const struct robots *r)
{
	return r->set.n;
}
