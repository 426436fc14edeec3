/* Unit tests: the daemon serves every op of the protocol (agent/ops.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ops.h"
#include "protocol.h"

static void test_every_op_handled(void **state)
{
	for (int i = 0; i < _OP_MAX; i++) {
		const struct protocol_op *op = protocol_op_get((enum protocol_op_id)i);

		assert_non_null(op);
		if (!ops_handled(op->id))
			fail_msg("op \"%s\" has no handler in agent/ops.c", op->name);
	}
	assert_false(ops_handled(_OP_MAX));
	assert_false(ops_handled((enum protocol_op_id)-1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_op_handled),
	};
	return cmocka_run_group_tests_name("ops", tests, NULL, NULL);
}
