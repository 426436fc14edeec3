/* Unit tests of the rule for one redirect hop (tools/redirect.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "redirect.h"

static int next(long status, const char *loc, const char *url, bool trusted,
    const char *method, struct redirect_hop *hop, char *why)
{
	struct redirect_from f = { .status = status, .location = loc, .url = url,
	    .first_url = "http://api.example:8080/v1/x", .trusted = trusted, .hops = 0,
	    .max_hops = 5, .method = method, .has_body = method && strcmp(method, "POST") == 0 };

	memset(hop, 0, sizeof(*hop));
	return redirect_next(&f, hop, why, 256);
}

static void test_statuses(void **state)
{
	for (long st = 300; st <= 399; st++)
		assert_int_equal(redirect_is_followed(st), st == 301 || st == 302 || st == 303 ||
		    st == 307 || st == 308);
	assert_false(redirect_is_followed(200));
}

static void test_untrusted(void **state)
{
	struct redirect_hop h;
	char why[256];

	assert_int_equal(next(302, "/a/../b?q=1#frag", "http://site.example/x/y", false, NULL,
	    &h, why), 0);
	assert_string_equal(h.url, "http://site.example/b?q=1");
	assert_string_equal(h.host, "site.example");
	assert_false(h.other_host);
	assert_false(h.to_get);
	redirect_hop_clear(&h);

	assert_int_equal(next(301, "//Other.Example:81/", "https://site.example/", false, NULL,
	    &h, why), 0);
	assert_string_equal(h.url, "https://other.example:81/");
	assert_string_equal(h.host, "other.example");
	assert_true(h.other_host);
	redirect_hop_clear(&h);

	assert_int_equal(next(302, "http://u:p@127.0.0.1/", "http://site.example/", false, NULL,
	    &h, why), -EACCES);
	assert_non_null(strstr(why, "user name or password"));
	assert_null(h.url);
	assert_int_equal(next(307, "ftp://site.example/", "http://site.example/", false, NULL,
	    &h, why), -EINVAL);
	assert_non_null(strstr(why, "not http or https"));
	assert_int_equal(next(308, NULL, "http://site.example/", false, NULL, &h, why), -EBADMSG);
	assert_non_null(strstr(why, "HTTP 308 redirect without a Location"));
}

static void test_trusted(void **state)
{
	struct redirect_hop h;
	char why[256];

	/* The same endpoint: followed. */
	assert_int_equal(next(308, "/v1/y", "http://api.example:8080/v1/x", true, NULL, &h, why), 0);
	assert_string_equal(h.url, "http://api.example:8080/v1/y");
	redirect_hop_clear(&h);
	/* Another port or host: refused. */
	assert_int_equal(next(302, "http://api.example:8081/", "http://api.example:8080/v1/x", true,
	    NULL, &h, why), -EACCES);
	assert_non_null(strstr(why, "another host (api.example:8081)"));
	assert_int_equal(next(302, "http://127.0.0.1:8080/", "http://api.example:8080/v1/x", true,
	    NULL, &h, why), -EACCES);
	/* From a later hop, the rule is still the first URL's. */
	assert_int_equal(next(302, "http://elsewhere.example:8080/", "http://api.example:8080/z",
	    true, NULL, &h, why), -EACCES);
	/* http://host:80 to https://host:443 is the same endpoint upgraded. */
	struct redirect_from f = { .status = 301, .location = "https://api.example/v1",
	    .url = "http://api.example/v1", .first_url = "http://api.example/v1", .trusted = true,
	    .max_hops = 5 };
	assert_int_equal(redirect_next(&f, &h, why, sizeof(why)), 0);
	assert_string_equal(h.url, "https://api.example/v1");
	redirect_hop_clear(&h);
	f.location = "https://api.example:8443/v1";
	assert_int_equal(redirect_next(&f, &h, why, sizeof(why)), -EACCES);
	f.location = "/again";
	f.hops = 5;
	assert_int_equal(redirect_next(&f, &h, why, sizeof(why)), -ELOOP);
	assert_string_equal(why, "too many redirects (more than 5)");
}

static void test_methods(void **state)
{
	static const struct { long status; const char *method; bool get; } cases[] = {
		{ 301, "POST", true }, { 302, "POST", true }, { 303, "POST", true },
		{ 307, "POST", false }, { 308, "POST", false }, { 303, "HEAD", false },
		{ 303, "PUT", true }, { 301, "PUT", false }, { 302, NULL, false },
	};
	struct redirect_hop h;
	char why[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(next(cases[i].status, "/n", "http://site.example/", false,
		    cases[i].method, &h, why), 0);
		if (h.to_get != cases[i].get)
			fail_msg("HTTP %ld after %s", cases[i].status, cases[i].method);
		redirect_hop_clear(&h);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_statuses),
		cmocka_unit_test(test_untrusted),
		cmocka_unit_test(test_trusted),
		cmocka_unit_test(test_methods),
	};

	return cmocka_run_group_tests_name("redirect", tests, NULL, NULL);
}
