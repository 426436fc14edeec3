/* Unit tests: URL canonical form and resolution (tools/url.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "url.h"

static void canon_is(const char *in, const char *want)
{
	char *out = NULL;
	int r = url_canonical(in, &out);

	if (r != 0)
		fail_msg("url_canonical(%s) = %d", in, r);
	if (strcmp(out, want) != 0)
		fail_msg("url_canonical(%s) = %s, want %s", in, out, want);
	free(out);
}

static void canon_fails(const char *in, int want)
{
	char *out = NULL;

	assert_int_equal(url_canonical(in, &out), want);
	assert_null(out);
}

static void test_canonical(void **state)
{
	canon_is("HTTP://Example.COM:80/a/./b/../c?x=1#frag", "http://example.com/a/c?x=1");
	canon_is("https://example.com:443", "https://example.com/");
	canon_is("https://example.com:8443/", "https://example.com:8443/");
	canon_is("http://example.com:443/", "http://example.com:443/");
	canon_is("http://example.com/p?utm_source=x&id=7&UTM_Medium=y&fbclid=z&gclid=q",
	    "http://example.com/p?id=7");
	canon_is("http://example.com/p?utm_source=x&mc_cid=1&mc_eid=2", "http://example.com/p");
	canon_is("http://example.com/%7euser/%41b%2fc%zz", "http://example.com/~user/Ab%2Fc%25zz");
	canon_is("http://example.com/a b/\xc3\xa9", "http://example.com/a%20b/%C3%A9");
	canon_is("http://example.com/a/%2e%2E/b", "http://example.com/b");
	canon_is("http://example.com/a/%2e", "http://example.com/a/");
	canon_is("http://example.com/%2e%2e/%2E./x/.%2e", "http://example.com/");
	canon_is("http://example.com/a/%2e%2ex", "http://example.com/a/..x");
	canon_is("  http://example.com/x \n", "http://example.com/x");
	canon_is("http://example.com/?q=a+b&&r=%3d", "http://example.com/?q=a+b&r=%3D");
	canon_is("http://[::1]:8080/x", "http://[::1]:8080/x");
	canon_is("http://example.com/../../x", "http://example.com/x");
	canon_is("http://example.com/path?", "http://example.com/path");
	canon_is("http://example.com/path?ref=1", "http://example.com/path?ref=1");
}

static void test_refused(void **state)
{
	char big[URL_MAX + 64];

	canon_fails("ftp://example.com/x", -EPROTONOSUPPORT);
	canon_fails("file:///etc/passwd", -EPROTONOSUPPORT);
	canon_fails("gopher://example.com/", -EPROTONOSUPPORT);
	canon_fails("http://user:pw@example.com/", -EACCES);
	canon_fails("http://user@example.com/", -EACCES);
	canon_fails("not a url", -EINVAL);
	canon_fails("", -EINVAL);
	canon_fails("http://", -EINVAL);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "http://e.com/", 13);
	canon_fails(big, -ENAMETOOLONG);
}

static void resolve_is(const char *base, const char *ref, const char *want)
{
	char *out = NULL;
	int r = url_resolve(base, ref, &out);

	if (r != 0)
		fail_msg("url_resolve(%s, %s) = %d", base, ref, r);
	if (strcmp(out, want) != 0)
		fail_msg("url_resolve(%s, %s) = %s, want %s", base, ref, out, want);
	free(out);
}

static void test_resolve(void **state)
{
	const char *b = "http://a.example/b/c/d;p?q";

	/* RFC 3986 section 5.4.1 */
	resolve_is(b, "g", "http://a.example/b/c/g");
	resolve_is(b, "./g", "http://a.example/b/c/g");
	resolve_is(b, "g/", "http://a.example/b/c/g/");
	resolve_is(b, "/g", "http://a.example/g");
	resolve_is(b, "//g.example", "http://g.example/");
	resolve_is(b, "?y", "http://a.example/b/c/d;p?y");
	resolve_is(b, "g?y", "http://a.example/b/c/g?y");
	resolve_is(b, "#s", "http://a.example/b/c/d;p?q");
	resolve_is(b, "", "http://a.example/b/c/d;p?q");
	resolve_is(b, "..", "http://a.example/b/");
	resolve_is(b, "../g", "http://a.example/b/g");
	resolve_is(b, "../../../g", "http://a.example/g");
	resolve_is(b, "HTTPS://Other.Example/x?utm_campaign=1", "https://other.example/x");
	char *out = NULL;
	assert_int_equal(url_resolve(b, "javascript:alert(1)", &out), -EPROTONOSUPPORT);
	assert_int_equal(url_resolve(b, "mailto:x@y", &out), -EPROTONOSUPPORT);
	assert_int_equal(url_resolve("ftp://x/", "g", &out), -EPROTONOSUPPORT);
	assert_null(out);
}

static void test_parse(void **state)
{
	struct url_parts p = {0};

	assert_int_equal(url_parse("https://Example.com/a?b=1#f", &p), 0);
	assert_string_equal(p.scheme, "https");
	assert_string_equal(p.host, "example.com");
	assert_int_equal(p.port, 443);
	assert_string_equal(p.path, "/a?b=1");
	url_parts_clear(&p);
	assert_int_equal(url_parse("http://[::1]:81", &p), 0);
	assert_string_equal(p.host, "::1");
	assert_int_equal(p.port, 81);
	assert_string_equal(p.path, "/");
	url_parts_clear(&p);
	assert_true(url_is_tracking_param("utm_x", 5));
	assert_false(url_is_tracking_param("utm_", 4));
	assert_false(url_is_tracking_param("id", 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canonical),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
