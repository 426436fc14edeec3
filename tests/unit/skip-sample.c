/* A cmocka program for test-skips.py: it skips, passes or fails as its
 * argument says, through tests/cmocka-skip.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>
#include "../cmocka-skip.h"

static const char *mode = "";

static void test_first(void **state)
{
	if (strcmp(mode, "all-skip") == 0)
		test_skip("mode all-skip");
	if (strcmp(mode, "fail") == 0)
		fail_msg("mode fail");
}

static void test_second(void **state)
{
	if (strcmp(mode, "essential") == 0 || strcmp(mode, "all-skip") == 0 ||
	    strcmp(mode, "fail") == 0)
		test_skip("this check cannot run here");
	if (strcmp(mode, "optional") == 0)
		test_skip_optional("a variant that cannot run here");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first),
		cmocka_unit_test(test_second),
	};

	if (argc > 1)
		mode = argv[1];
	return test_run_group("skip-sample", tests, NULL, NULL);
}
