/* Logging with levels to stderr: timestamps in the foreground, syslog-style
 * "<N>" priority prefixes for the journal when run under systemd.
 * Library code (store/, llm/, tools/, planner/) logs at most at debug. */
#ifndef RESEARCHD_LOG_H
#define RESEARCHD_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERROR = 3,
	LOG_LEVEL_WARN = 4,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

enum log_target {
	LOG_TARGET_STDERR,	/* human: "2026-11-22 09:40:01 warn: ..." */
	LOG_TARGET_JOURNAL,	/* "<4>..." for journald's stream parser */
	LOG_TARGET_SYSLOG,	/* syslog(3), when detached */
};

void log_init(enum log_level level, enum log_target target);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parse "error", "warn", "info", "debug"; -EINVAL otherwise. */
int log_level_from_string(const char *s, enum log_level *ret);
const char *log_level_to_string(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warnx(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_errorx(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
/* With a negative errno appended as ": strerror". Returns r, for
 * "return log_error_errno(r, ...)". */
int log_warn_errno(int r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int log_error_errno(int r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
_Noreturn void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatal_errno(int r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
