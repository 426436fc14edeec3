/* Unit tests: address classes and the allow-list (tools/ssrf.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "ssrf.h"

static int check(const struct ssrf_policy *p, const char *host, const char *ip)
{
	char why[256];

	return ssrf_check_ip(p, host, ip, why, sizeof(why));
}

static void test_denied(void **state)
{
	static const char *const denied[] = {
		"127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1", "172.31.255.255",
		"192.168.1.1", "169.254.169.254", "100.64.0.1", "100.127.255.255", "0.0.0.0",
		"224.0.0.1", "239.255.255.250", "255.255.255.255", "192.0.2.7", "198.51.100.1",
		"203.0.113.9", "198.18.0.1", "240.0.0.1",
		"::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "fec0::1", "ff02::1",
		"2001:db8::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
		"::127.0.0.1", "64:ff9b::10.0.0.1", "2002:7f00:1::",
		/* Mapped and SIIT-translated: never a public host's address. */
		"::ffff:8.8.8.8", "::ffff:0:127.0.0.1", "::ffff:0:8.8.8.8",
	};
	static const char *const allowed[] = {
		"93.184.216.34", "8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "11.0.0.1",
		"2606:4700::1111", "64:ff9b::8.8.8.8",
	};

	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++)
		if (check(NULL, "example.com", denied[i]) != -EACCES)
			fail_msg("%s was allowed", denied[i]);
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (check(NULL, "example.com", allowed[i]) != 0)
			fail_msg("%s was denied", allowed[i]);
}

static void test_allow_list(void **state)
{
	const char *const allow[] = { "127.0.0.1/32", "10.0.0.0/8", "intranet.local", "fd00::/8" };
	struct ssrf_policy *p = NULL;
	size_t bad = 99;
	char why[256];

	assert_int_equal(ssrf_policy_new(allow, 4, &p, &bad), 0);
	assert_int_equal(check(p, NULL, "127.0.0.1"), 0);
	assert_int_equal(check(p, NULL, "127.0.0.2"), -EACCES);
	assert_int_equal(check(p, NULL, "::1"), -EACCES);
	assert_int_equal(check(p, NULL, "10.200.0.1"), 0);
	assert_int_equal(check(p, NULL, "fd00::5"), 0);
	assert_int_equal(check(p, NULL, "192.168.0.1"), -EACCES);
	assert_int_equal(check(p, "Intranet.Local", "192.168.0.1"), 0);
	assert_int_equal(check(p, "other.local", "192.168.0.1"), -EACCES);
	assert_int_equal(ssrf_check_ip(p, "x.example", "::1", why, sizeof(why)), -EACCES);
	assert_non_null(strstr(why, "loopback"));
	assert_non_null(strstr(why, "::1"));
	ssrf_policy_free(p);

	const char *const bads[] = { "127.0.0.1", "10.0.0.0/33" };
	p = NULL;
	assert_int_equal(ssrf_policy_new(bads, 2, &p, &bad), -EINVAL);
	assert_int_equal(bad, 1);
	assert_null(p);
	const char *const bads2[] = { "a b" };
	assert_int_equal(ssrf_policy_new(bads2, 1, &p, &bad), -EINVAL);
}

/* An allow-list that covers a whole address family is no guard at all. */
static void test_allow_everything(void **state)
{
	static const char *const open[][4] = {
		{ "0.0.0.0/0" }, { "::/0" }, { "example.org", "::/0" },
		{ "0.0.0.0/1", "128.0.0.0/1" },
		{ "128.0.0.0/1", "0.0.0.0/2", "64.0.0.0/2" },
		{ "::/1", "8000::/1" },
		{ "1.2.3.4/0" },
	};
	static const char *const closed[][4] = {
		{ "0.0.0.0/1" }, { "0.0.0.0/1", "128.0.0.0/2" }, { "::/1" },
		{ "0.0.0.0/1", "::/1", "128.0.0.0/2", "8000::/2" },
		{ "127.0.0.0/8", "localhost" },
	};
	struct ssrf_policy *p = NULL;
	char why[256];
	size_t bad;

	for (size_t i = 0; i < sizeof(open) / sizeof(open[0]); i++) {
		size_t n = 0;

		while (n < 4 && open[i][n])
			n++;
		if (ssrf_allow_check(open[i], n, why, sizeof(why)) != -EINVAL)
			fail_msg("list %zu (%s ...) was accepted", i, open[i][0]);
		assert_non_null(strstr(why, "switches the SSRF guard off"));
		assert_int_equal(ssrf_policy_new(open[i], n, &p, &bad), -EDOM);
		assert_null(p);
	}
	for (size_t i = 0; i < sizeof(closed) / sizeof(closed[0]); i++) {
		size_t n = 0;

		while (n < 4 && closed[i][n])
			n++;
		if (ssrf_allow_check(closed[i], n, why, sizeof(why)) != 0)
			fail_msg("list %zu (%s ...) was refused", i, closed[i][0]);
		assert_int_equal(ssrf_policy_new(closed[i], n, &p, &bad), 0);
		p = ssrf_policy_free(p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allow_everything),
		cmocka_unit_test(test_denied),
		cmocka_unit_test(test_allow_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
