/* research's provenance commands: a report written out as a directory
 * (report -o DIR) and `research verify` of such a directory or of a job's
 * event log. */
#ifndef RESEARCHD_CLI_VERIFY_H
#define RESEARCHD_CLI_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cli;

#define CLI_MAX_SOURCE_TEXT (16 * 1024 * 1024)	/* bytes of one source text */
#define CLI_MAX_REPORT (64 * 1024 * 1024)	/* bytes of report.md or report.json */

/* Write job id's report.md, report.json and manifest.json into the
 * existing directory dir; with_sources adds sources/TEXT_HASH.txt for every
 * source the report cites or a verified finding quotes. EXIT_* code. */
int cli_report_export(struct cli *cli, int64_t id, const char *dir, bool with_sources);
/* Through a temporary file and a rename (cmd-job.c). */
int cli_write_atomic(const char *path, const char *data, size_t len);
int cli_cmd_verify(struct cli *cli, int argc, char **argv);

#endif
