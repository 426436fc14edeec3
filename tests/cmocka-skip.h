/* Skips that meson can see. cmocka 1.1's skip() marks a test skipped but
 * the program still exits 0, so a suite whose main test could not run
 * reports OK. Use test_skip()/test_skip_optional() instead of skip() and
 * run the group with test_run_group(): it returns 77 (meson's SKIP) when
 * every test skipped, when any test skipped with test_skip() (the default:
 * what it checks did not get checked), or when any test skipped at all and
 * CI=true (CI must not skip). test_skip_optional() is for a case that only
 * repeats what other tests already checked in another setting (an IPv6
 * variant, say): alone it does not turn the suite into a SKIP.
 *
 * Include after <cmocka.h>, in the test program's one C file. */
#ifndef RESEARCHD_CMOCKA_SKIP_H
#define RESEARCHD_CMOCKA_SKIP_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned test_skips, test_skips_essential;

static inline void test_skip_note(const char *func, const char *why, bool essential)
{
	test_skips++;
	if (essential)
		test_skips_essential++;
	fprintf(stderr, "skipped%s: %s: %s\n", essential ? "" : " (optional)", func, why);
}

/* Skip the running test (from the test function or its setup). */
#define test_skip(why) do { test_skip_note(__func__, (why), true); skip(); } while (0)
#define test_skip_optional(why) do { test_skip_note(__func__, (why), false); skip(); } while (0)

static inline bool test_in_ci(void)
{
	const char *ci = getenv("CI");

	return ci != NULL && strcmp(ci, "true") == 0;
}

/* The exit status for a group that ran n tests with `failed` failures. */
static inline int test_group_status(int failed, size_t n)
{
	if (failed != 0)
		return failed;
	if (test_skips == 0)
		return 0;
	if (test_skips >= n || test_skips_essential > 0 || test_in_ci()) {
		fprintf(stderr, "%u of %zu tests skipped%s: exiting 77 (skipped)\n", test_skips, n,
		    test_in_ci() ? " and CI=true" : "");
		return 77;
	}
	fprintf(stderr, "%u of %zu tests skipped (optional ones)\n", test_skips, n);
	return 0;
}

#define test_run_group(name, tests, setup, teardown) \
	test_group_status(cmocka_run_group_tests_name((name), (tests), (setup), (teardown)), \
	    sizeof(tests) / sizeof((tests)[0]))

#endif
