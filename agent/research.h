/* The runner of "research" jobs (the planner driven through the effects
 * layer). */
#ifndef RESEARCHD_RESEARCH_H
#define RESEARCHD_RESEARCH_H

struct daemon;
struct job_run;

int research_register(struct daemon *d);
/* Stop the probe timer; before the loop is run to its end. */
void research_unregister(void);

#endif
