/* Unit tests: robots.txt groups and matching (tools/robots.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "robots.h"

static struct robots *parse(const char *s)
{
	return robots_parse(s, strlen(s), "researchd");
}

static void test_groups(void **state)
{
	struct robots *r = parse(
	    "# comment\n"
	    "User-agent: otherbot\n"
	    "Disallow: /\n"
	    "\n"
	    "User-agent: *\n"
	    "Disallow: /private\n"
	    "\n"
	    "User-agent: ResearchD/1.0\n"
	    "User-agent: somebot\n"
	    "Disallow: /mine   # ours\n"
	    "Allow: /mine/ok\n"
	    "Crawl-delay: 2.5\n");

	assert_true(robots_allowed(r, "/private"));	/* our group, not "*" */
	assert_false(robots_allowed(r, "/mine"));
	assert_false(robots_allowed(r, "/mine/x"));
	assert_true(robots_allowed(r, "/mine/ok/y"));
	assert_true(robots_allowed(r, "/"));
	assert_int_equal(robots_crawl_delay_ms(r), 2500);
	robots_free(r);

	r = parse("User-agent: *\nDisallow: /private\nUser-agent: other\nDisallow: /\n");
	assert_false(robots_allowed(r, "/private/x"));
	assert_true(robots_allowed(r, "/public"));
	assert_true(robots_allowed(r, "/robots.txt"));
	robots_free(r);

	/* Groups naming us are merged. */
	r = parse("User-agent: researchd\nDisallow: /a\n\nUser-agent: researchd\nDisallow: /b\n");
	assert_false(robots_allowed(r, "/a"));
	assert_false(robots_allowed(r, "/b"));
	assert_int_equal(robots_rule_count(r), 2);
	robots_free(r);

	/* An empty group for us means everything is allowed. */
	r = parse("User-agent: researchd\nCrawl-delay: 1\n\nUser-agent: *\nDisallow: /\n");
	assert_true(robots_allowed(r, "/x"));
	robots_free(r);
}

static void test_wildcards(void **state)
{
	struct robots *r = parse(
	    "User-agent: *\r\n"
	    "Disallow: /*.pdf$\r\n"
	    "Disallow: /search*q=\r\n"
	    "Allow: /search/about\r\n"
	    "Disallow: /fish\r\n"
	    "Allow: /fish$\r\n"
	    "Disallow: /%7Ea/\r\n"
	    "Disallow:\r\n");

	assert_false(robots_allowed(r, "/x/y.pdf"));
	assert_true(robots_allowed(r, "/x/y.pdf?z"));
	assert_false(robots_allowed(r, "/search?q=1"));
	assert_false(robots_allowed(r, "/search/x?a=1&q=2"));
	assert_true(robots_allowed(r, "/search/about"));
	assert_true(robots_allowed(r, "/fish"));
	assert_false(robots_allowed(r, "/fish.html"));
	assert_false(robots_allowed(r, "/~a/b"));
	robots_free(r);

	/* Longest match wins; on a tie, Allow. */
	r = parse("User-agent: *\nDisallow: /page\nAllow: /page\nDisallow: /p*\nAllow: /pag\n");
	assert_true(robots_allowed(r, "/page"));
	r = robots_free(r);
	r = parse("User-agent: *\nAllow: /p\nDisallow: /\n");
	assert_true(robots_allowed(r, "/page"));
	assert_false(robots_allowed(r, "/other"));
	robots_free(r);
}

static void test_all(void **state)
{
	struct robots *r = robots_new_all(false);

	assert_false(robots_allowed(r, "/x"));
	assert_true(robots_allowed(r, "/robots.txt"));
	robots_free(r);
	r = robots_new_all(true);
	assert_true(robots_allowed(r, "/x"));
	robots_free(r);
	r = parse("\xef\xbb\xbfgarbage\n\0\nUser-agent *\n:::\nDisallow /x\n");
	assert_true(robots_allowed(r, "/x"));
	robots_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_wildcards),
		cmocka_unit_test(test_all),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
