/* The runner of "research" jobs (the planner driven through the effects
 * layer). */
#ifndef RESEARCHD_RESEARCH_H
#define RESEARCHD_RESEARCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct daemon;
struct job_run;

int research_register(struct daemon *d);
/* Stop the probe timer; before the loop is run to its end. */
void research_unregister(void);
/* May uid follow up job parent (a done research job of theirs, or any when
 * uid is root)? -ENOENT for one they cannot see (as for a missing one),
 * -EINVAL when it is not a done research job; err says which. */
int research_parent_check(struct daemon *d, uid_t uid, int64_t parent, char *err, size_t errlen);

#endif
