/* Secrets (API keys) read from files into sodium_malloc'd memory, wiped
 * when freed, and never logged. */
#ifndef RESEARCHD_SECRET_H
#define RESEARCHD_SECRET_H

#include <stddef.h>

/* The first line of path, trailing whitespace dropped, at most max bytes of
 * file read. -EFBIG past max; -EINVAL when empty or when it holds control
 * characters (it will go into an HTTP header line). */
int secret_read_file(const char *path, size_t max, char **ret);
/* A new secret "prefix" + secret, e.g. "Authorization: Bearer " + key. */
int secret_header(const char *prefix, const char *secret, char **ret);
/* Wipe and free; accepts NULL, returns NULL. */
char *secret_free(char *s);

#endif
