/* How `research watch` shows a research job's progress: the figures of the
 * runner's "progress" events and the job's usage, a bar, an honest estimate
 * of the time left, and the line that says it all. Pure: no I/O, no clock. */
#ifndef RESEARCHD_CLI_PROGRESS_H
#define RESEARCHD_CLI_PROGRESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

struct cli_progress {
	bool have;		/* a progress event was seen */
	char phase[24];
	int64_t round, questions_open, questions_done, sources;
	int64_t findings_kept, findings_rejected, tokens, max_tokens, model_calls;
	/* From the job: its budgets and its usage (0 when unknown). */
	int64_t max_depth, max_time;
	int64_t completion_tokens, llm_ms;
	bool ended;		/* the job has ended: nothing is left to estimate */
};

/* Take a "progress" event's data; -EINVAL (p untouched) when it is not one. */
int cli_progress_update(struct cli_progress *p, const json_t *data);
/* Take the budgets (options) and usage of a job object from a reply. */
void cli_progress_job(struct cli_progress *p, const json_t *job);
/* How far the job is, 0..1, from its phase and round against max_depth,
 * and from the share of its token and time budgets spent. */
double cli_progress_fraction(const struct cli_progress *p, int64_t elapsed_s);
/* Seconds left, rounded up and on the long side; -1 when too early to say. */
int64_t cli_progress_left(const struct cli_progress *p, int64_t elapsed_s);
/* Model tokens per second over the job's model calls; < 0 when unknown. */
double cli_progress_speed(const struct cli_progress *p);
/* "1m05s", "2h03m", "12s". */
void cli_progress_duration(int64_t s, char out[static 32]);
/* "[#####-----] 50%" in width columns (at least 8). */
int cli_progress_bar(double fraction, int width, struct buf *out);
/* The figures in words for a plain line, or compact for the live line;
 * elapsed_s < 0 when the start is unknown. */
int cli_progress_format(const struct cli_progress *p, int64_t elapsed_s, bool compact,
    struct buf *out);

#endif
