/* The runner of "research" jobs (the planner driven through the effects
 * layer). */
#ifndef RESEARCHD_RESEARCH_H
#define RESEARCHD_RESEARCH_H

struct daemon;
struct job_run;

int research_register(struct daemon *d);
/* Stop the probe timer; before the loop is run to its end. */
void research_unregister(void);
/* Stop researching and write the report with what the job has (research
 * finish); -ENOENT when the run is not a research run. */
int research_finish(struct job_run *run);

#endif
