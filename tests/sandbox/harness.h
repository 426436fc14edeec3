/* Shared by the sandbox tests: run a request to completion on a private
 * loop, find the helper and the probe, scan the host for leftovers. */
#ifndef RESEARCHD_TEST_SANDBOX_HARNESS_H
#define RESEARCHD_TEST_SANDBOX_HARNESS_H

#include <stdbool.h>
#include <stddef.h>

#include "sandbox.h"

/* $SANDBOX_HELPER, set by meson. */
const char *harness_helper(void);
/* The contents of a file of tests/sandbox ($SANDBOX_TEST_DIR); aborts if missing. */
char *harness_read_source(const char *name, size_t *len);
/* Run req on a new loop until its callback; returns the callback's r. */
int harness_run(const struct sandbox_request *req, struct sandbox_result **ret);
/* How many host processes have marker in their command line. */
int harness_count_procs(const char *marker);
/* A marker unique to this test run. */
void harness_marker(char *out, size_t len, const char *what);
/* Whether a program is in PATH. */
bool harness_have(const char *prog);

#endif
