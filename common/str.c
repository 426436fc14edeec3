/* String, number and UTF-8 helpers. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "str.h"

char *str_trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

bool str_startswith(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_endswith(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

int str_to_int64(const char *s, int64_t min, int64_t max, int64_t *ret)
{
	char *end;
	long long v;

	if (*s == '\0' || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end != '\0')
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

static int str_to_scaled(const char *s, int64_t max, int64_t *ret,
    const char *units, const int64_t *scale)
{
	char num[32];
	size_t n = strlen(s);
	int64_t v, mult = 1;
	const char *u;
	int r;

	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, n + 1);
	if ((u = strchr(units, num[n - 1])) != NULL && num[n - 1] != '\0') {
		mult = scale[u - units];
		num[--n] = '\0';
	}
	r = str_to_int64(num, 0, INT64_MAX, &v);
	if (r < 0)
		return r;
	if (v > max / mult)
		return -ERANGE;
	*ret = v * mult;
	return 0;
}

int str_to_seconds(const char *s, int64_t max, int64_t *ret)
{
	static const int64_t scale[] = { 1, 60, 3600, 86400 };
	return str_to_scaled(s, max, ret, "smhd", scale);
}

int str_to_bytes(const char *s, int64_t max, int64_t *ret)
{
	static const int64_t scale[] = { 1024, 1024 * 1024, 1024 * 1024 * 1024 };
	return str_to_scaled(s, max, ret, "KMG", scale);
}

size_t utf8_seq_len(const unsigned char *s, size_t len)
{
	uint32_t cp;
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	if (cp >= 0xd800 && cp <= 0xdfff)
		return 0;
	return n;
}

bool utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;

	while (i < len) {
		n = utf8_seq_len(p + i, len - i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

/* The code point of the valid 2- or 3-byte UTF-8 sequence at p. */
static unsigned str_code_point(const unsigned char *p, size_t n)
{
	if (n == 2)
		return (unsigned)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
	return (unsigned)(p[0] & 0x0f) << 12 | (unsigned)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
}

/* U+061C, U+200E-U+200F, U+202A-U+202E, U+2066-U+2069. */
static bool str_is_bidi_control(const unsigned char *p, size_t n)
{
	unsigned cp;

	if (n == 2 && p[0] == 0xd8 && p[1] == 0x9c)
		return true;
	if (n != 3 || p[0] != 0xe2)
		return false;
	cp = str_code_point(p, n);
	return cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069);
}

int str_escape(struct buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;
	int r = 0;

	while (i < len && r == 0) {
		if (p[i] < 0x20 || p[i] == 0x7f || p[i] == '\\') {
			if (p[i] == '\n')
				r = buf_puts(b, "\\n");
			else if (p[i] == '\t')
				r = buf_puts(b, "\\t");
			else if (p[i] == '\\')
				r = buf_puts(b, "\\\\");
			else
				r = buf_printf(b, "\\x%02x", p[i]);
			i++;
			continue;
		}
		n = utf8_seq_len(p + i, len - i);
		if (n == 0) {
			r = buf_printf(b, "\\x%02x", p[i]);
			i++;
			continue;
		}
		/* C1 controls (U+0080-U+009F): some terminals act on them. */
		if (n == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0) {
			r = buf_printf(b, "\\u%04x", p[i + 1]);
			i += 2;
			continue;
		}
		/* Bidirectional overrides, isolates and marks reorder what a
		 * terminal shows, so a question or a title could pass for
		 * another line: shown as their code points instead. */
		if (str_is_bidi_control(p + i, n)) {
			r = buf_printf(b, "\\u%04x", str_code_point(p + i, n));
			i += n;
			continue;
		}
		r = buf_append(b, p + i, n);
		i += n;
	}
	return r;
}

int64_t time_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int time_parse(const char *s, int64_t *ret)
{
	struct tm tm = { 0 };
	const char *end;
	time_t t;

	if (s == NULL)
		return -EINVAL;
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end == NULL || *end != '\0')
		return -EINVAL;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -ERANGE;
	*ret = (int64_t)t * 1000;
	return 0;
}

void time_format(int64_t epoch_ms, char out[static 32])
{
	time_t t = (time_t)(epoch_ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
