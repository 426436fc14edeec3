/* String, number and UTF-8 helpers. */
#ifndef RESEARCHD_STR_H
#define RESEARCHD_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Trim ASCII whitespace in place; returns s advanced past leading space. */
char *str_trim(char *s);
bool str_startswith(const char *s, const char *prefix);
bool str_endswith(const char *s, const char *suffix);
/* Strict decimal parse of the whole string into [min, max]. */
int str_to_int64(const char *s, int64_t min, int64_t max, int64_t *ret);
/* The length of the valid UTF-8 sequence at s (len > 0 bytes left), or 0
 * for an invalid one (overlong, surrogate, past U+10FFFF, truncated). */
size_t utf8_seq_len(const unsigned char *s, size_t len);
/* True when s[0..len) is valid UTF-8 with no overlongs or surrogates. */
bool utf8_valid(const char *s, size_t len);
/* Append s to b with control characters (C0, DEL, C1), bidirectional
 * controls (U+061C, U+200E-F, U+202A-E, U+2066-9) and non-UTF-8 bytes
 * escaped, so untrusted text is safe in logs and terminals. */
int str_escape(struct buf *b, const char *s, size_t len);
/* Parse a duration "30", "30s", "5m", "2h", "1d" into seconds. */
int str_to_seconds(const char *s, int64_t max, int64_t *ret);
/* Parse a size "512", "64K", "10M", "1G" into bytes. */
int str_to_bytes(const char *s, int64_t max, int64_t *ret);

/* Wall-clock time in milliseconds since the epoch, and monotonic. */
int64_t time_now_ms(void);
int64_t time_mono_ms(void);
/* RFC 3339 UTC with seconds: "2026-11-22T09:40:00Z" (out >= 21 bytes). */
void time_format(int64_t epoch_ms, char out[static 32]);
/* The inverse of time_format ("2026-12-03T14:05:26Z" to ms since the
 * epoch); -EINVAL for anything else. */
int time_parse(const char *s, int64_t *ret);

#endif
