/* One file fetched over http(s) into a directory for `research model pull`:
 * redirects followed by hand under the daemon's rules, resume with Range,
 * size and SHA-256 checked, free space checked first, temp file + rename. */
#ifndef RESEARCHD_DOWNLOAD_H
#define RESEARCHD_DOWNLOAD_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#define DOWNLOAD_MAX_HOPS 10
#define DOWNLOAD_SHA256_HEX 64

struct download {
	const char *url;	/* where to ask first; asked again on every run */
	const char *dir;	/* the directory the file lands in */
	const char *name;	/* its file name there; the partial is .NAME.part */
	const char *sha256;	/* expected hex digest, or NULL to take the server's */
	long stall_s;		/* give up after this many seconds without a byte */
	bool progress;		/* draw a progress bar on stderr */
};

struct download_result {
	uint64_t size;
	uint64_t resumed_from;	/* bytes of an earlier partial kept, 0 if none */
	char sha256[DOWNLOAD_SHA256_HEX + 1];
	bool verified;		/* a digest was known and matched */
};

/* Fetch d->url to d->dir/d->name. On failure why says what went wrong in a
 * sentence; a partial that can be resumed is kept, one that cannot (a wrong
 * size or digest) is removed. -ENOSPC: not enough free space (checked before
 * any byte is written); -ETIMEDOUT: the server stalled; -EBADMSG: wrong size
 * or digest; -EACCES: a redirect that is not followed; -EBUSY: another pull
 * of the same file is running; -EIO: other transfer errors. */
int download_run(const struct download *d, struct download_result *ret, char *why,
    size_t whylen);

#endif
