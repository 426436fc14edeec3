/* Passages of extracted text: paragraph-aligned, bounded in size, each with
 * its byte offsets in the text and the nearest heading above it. Pure: no
 * I/O, no logging, thread-safe. */
#ifndef RESEARCHD_CHUNK_H
#define RESEARCHD_CHUNK_H

#include <stddef.h>

/* Defaults for the sizes when an option is 0, in bytes. */
#define CHUNK_DEFAULT_TARGET	800u
#define CHUNK_DEFAULT_MAX	1500u
/* The smallest max accepted: room for any UTF-8 sequence and then some. */
#define CHUNK_MIN_MAX		16u
/* Texts longer than this are refused (-EFBIG); extract caps at 4 MiB. */
#define CHUNK_MAX_INPUT		(64u * 1024 * 1024)

struct chunk_options {
	size_t target;		/* passages grow to about this; 0: default */
	size_t max;		/* and never past it; 0: default */
};

/* One passage: text[start, end), with no leading or trailing ASCII
 * whitespace. The gaps between passages hold whitespace only, so the
 * passages cover every other byte of the text, in order. A passage never
 * starts or ends inside a UTF-8 sequence of valid input. heading is
 * text[heading_start, heading_end): the text of the nearest Markdown
 * heading ("# ...") at or above the passage, without its marks; empty
 * (start == end) when there is none. */
struct chunk {
	size_t start, end;
	size_t heading_start, heading_end;
};

/* Split text[0..len) into passages. 0 with *ret (free() it; NULL when
 * *ret_n is 0, e.g. for blank text) and *ret_n on success; -EINVAL for a
 * NULL argument or max below CHUNK_MIN_MAX, -EFBIG over CHUNK_MAX_INPUT. */
int chunk_text(const char *text, size_t len, const struct chunk_options *opt,
    struct chunk **ret, size_t *ret_n);

#endif
