/* The operator's self-check: escapes tried from inside the sandbox. */
#ifndef RESEARCHD_SELFCHECK_H
#define RESEARCHD_SELFCHECK_H

#include <stdint.h>

/* Run inside the sandbox (researchd-sandbox --probe): try each way out,
 * print one line per attempt; 0 when all were blocked. memory is the
 * address-space limit in force, or 0 when none is. */
int selfcheck_probe(int64_t memory);

#endif
