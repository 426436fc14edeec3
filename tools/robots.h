/* robots.txt (RFC 9309): groups by user-agent, Allow/Disallow rules with
 * '*' and '$', the longest match wins and Allow wins a tie. */
#ifndef RESEARCHD_ROBOTS_H
#define RESEARCHD_ROBOTS_H

#include <stdbool.h>
#include <stddef.h>

#define ROBOTS_MAX_BYTES (512 * 1024)	/* parsed at most; the rest is ignored (RFC 9309 2.5) */
#define ROBOTS_MAX_RULES 8192
#define ROBOTS_MAX_PATTERN 1024

struct robots;

/* Parse text for the crawler whose product token is agent ("researchd"):
 * only the rules of the group(s) that name it, or else of "*", are kept.
 * Never fails on content: a file of garbage allows everything. */
struct robots *robots_parse(const char *text, size_t len, const char *agent);
/* Allow everything (a 4xx robots.txt) or nothing. */
struct robots *robots_new_all(bool allow);
struct robots *robots_free(struct robots *r);
/* path: the path and query of a URL, as in the request line. */
bool robots_allowed(const struct robots *r, const char *path);
/* Crawl-delay of the chosen group in milliseconds, or -1. */
long robots_crawl_delay_ms(const struct robots *r);
size_t robots_rule_count(const struct robots *r);

#endif
