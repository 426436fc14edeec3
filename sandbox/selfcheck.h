/* The operator's self-check: escapes tried from inside the sandbox. */
#ifndef RESEARCHD_SELFCHECK_H
#define RESEARCHD_SELFCHECK_H

#include <stdint.h>

/* Run inside the sandbox (researchd-sandbox --probe): try each way out,
 * print one line per attempt; 0 when all were blocked. memory is the
 * address-space limit in force, or 0 when none is; cgroup_memory the
 * memory limit. Where memfds are allowed (the run has a cgroup), the last
 * attempt holds twice that in one, and the run is expected to be killed
 * for it after SELFCHECK_TRYING_MEMFD was printed. */
int selfcheck_probe(int64_t memory, int64_t cgroup_memory);

#define SELFCHECK_TRYING_MEMFD "trying: memfd memory past the cgroup's memory.max"

#endif
