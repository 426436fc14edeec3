/* Logging with levels to stderr or the journal's stream. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

static enum log_level log_level = LOG_LEVEL_INFO;
static enum log_target log_target = LOG_TARGET_STDERR;

void log_init(enum log_level level, enum log_target target)
{
	log_level = level;
	log_target = target;
	if (target == LOG_TARGET_SYSLOG)
		openlog("researchd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level log_get_level(void)
{
	return log_level;
}

static const struct {
	const char *name;
	enum log_level level;
} log_levels[] = {
	{ "error", LOG_LEVEL_ERROR },
	{ "warn", LOG_LEVEL_WARN },
	{ "info", LOG_LEVEL_INFO },
	{ "debug", LOG_LEVEL_DEBUG },
};

int log_level_from_string(const char *s, enum log_level *ret)
{
	for (size_t i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++) {
		if (strcmp(s, log_levels[i].name) == 0) {
			*ret = log_levels[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

const char *log_level_to_string(enum log_level level)
{
	for (size_t i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++)
		if (log_levels[i].level == level)
			return log_levels[i].name;
	return "?";
}

static void log_write(enum log_level level, const char *suffix, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void log_write(enum log_level level, const char *suffix, const char *fmt, va_list ap)
{
	char msg[4096];
	size_t n;

	if (level > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One record is one line: newlines from untrusted text become spaces. */
	for (n = 0; msg[n] != '\0'; n++)
		if (msg[n] == '\n' || msg[n] == '\r')
			msg[n] = ' ';
	if (log_target == LOG_TARGET_SYSLOG) {
		syslog((int)level, "%s%s%s", msg, suffix ? ": " : "", suffix ? suffix : "");
		return;
	}
	if (log_target == LOG_TARGET_JOURNAL) {
		fprintf(stderr, "<%d>%s%s%s\n", (int)level, msg, suffix ? ": " : "",
		    suffix ? suffix : "");
	} else {
		char stamp[32];
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ldZ %s: %s%s%s\n", stamp, ts.tv_nsec / 1000000L,
		    log_level_to_string(level), msg, suffix ? ": " : "", suffix ? suffix : "");
	}
	fflush(stderr);
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	log_write(level, NULL, fmt, ap);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write(level, NULL, fmt, ap);
	va_end(ap);
}

int log_warn_errno(int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write(LOG_LEVEL_WARN, strerror(r < 0 ? -r : r), fmt, ap);
	va_end(ap);
	return r;
}

int log_error_errno(int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write(LOG_LEVEL_ERROR, strerror(r < 0 ? -r : r), fmt, ap);
	va_end(ap);
	return r;
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write(LOG_LEVEL_ERROR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

void fatal_errno(int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write(LOG_LEVEL_ERROR, strerror(r < 0 ? -r : r), fmt, ap);
	va_end(ap);
	exit(1);
}
