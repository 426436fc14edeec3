/* The command's seccomp filter: an allowlist of the system calls a Python
 * interpreter, its common scientific packages, pdftotext and a shell need;
 * every other call fails with EPERM. Used by the helper only (jail.c). */
#ifndef RESEARCHD_SANDBOX_FILTER_H
#define RESEARCHD_SANDBOX_FILTER_H

#include <stdbool.h>
#include <stdio.h>

/* Load the filter into the calling process (no_new_privs must be set).
 * memory_counted: a cgroup counts every byte the run holds, so memfds and
 * SysV shared memory may be allowed; without one they are denied, since
 * RLIMIT_AS does not see them. 0 or a negative errno. */
int filter_install(bool memory_counted);

/* The table, group by group with what each is for, the argument rules and
 * the number of calls allowed on this architecture. */
void filter_print(FILE *f);

#endif
