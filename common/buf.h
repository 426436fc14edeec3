/* Growable byte buffers with a hard cap set at creation: exceeding it is an
 * error (-ENOBUFS), never a silent truncation. Always NUL-terminated. */
#ifndef RESEARCHD_BUF_H
#define RESEARCHD_BUF_H

#include <stddef.h>
#include <stdarg.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;	/* hard cap on len */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Drop the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Hand the data to the caller (NUL-terminated, never NULL) and reset. */
char *buf_steal(struct buf *b);

#endif
