/* Checked allocation: out-of-memory aborts with a message. */
#ifndef RESEARCHD_XMALLOC_H
#define RESEARCHD_XMALLOC_H

#include <stddef.h>
#include <stdarg.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* free() that returns NULL, for p = mfree(p). */
static inline void *mfree(void *p)
{
	extern void free(void *);
	free(p);
	return NULL;
}

static inline void freep(void *p)
{
	extern void free(void *);
	free(*(void **)p);
}
#define _cleanup_free_ __attribute__((cleanup(freep)))

#endif
