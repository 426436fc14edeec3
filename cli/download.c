/* research model pull's transfer (see download.h): libcurl's easy interface,
 * one hop at a time so that every redirect passes our own checks and the
 * hub's X-Linked-* headers on the redirect itself are seen. */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "buildconf.h"
#include "download.h"
#include "str.h"
#include "xmalloc.h"

#define DOWNLOAD_MAX_HEADER 8192	/* one header line */
#define DOWNLOAD_RESERVE (1u << 20)	/* free space left over after the file */
#define DOWNLOAD_CHUNK 65536
/* The digest a partial was fetched for, so that a file changed upstream is
 * started afresh rather than resumed (best effort: where the file system
 * has no user xattrs, a changed file fails its digest check instead). */
#define DOWNLOAD_XATTR "user.researchd.sha256"

/* The state of one run, across hops and a restart. */
struct dl {
	const struct download *d;
	char *part;
	int fd;			/* the partial, locked */
	uint64_t offset;	/* bytes in the partial when this hop began */
	uint64_t have;		/* bytes in the partial now */
	uint64_t total;		/* expected size, 0 while unknown */
	uint64_t linked_size;	/* X-Linked-Size of any hop */
	char linked_sha[DOWNLOAD_SHA256_HEX + 1];
	crypto_hash_sha256_state sha;
	/* The response being read. */
	long status;
	uint64_t content_length;
	bool has_length;
	bool has_range;
	uint64_t range_start, range_total;
	bool body;		/* this response's body goes into the file */
	bool restarted;
	bool again;		/* a 416 to our Range: ask again from byte 0 */
	int err;		/* why a callback stopped the transfer */
	char *why;
	size_t whylen;
	int64_t drawn_ms;
	int64_t started_ms;
	int64_t heard_ms;	/* when the server last sent something */
};

static int dl_fail(struct dl *s, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int dl_fail(struct dl *s, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->why, s->whylen, fmt, ap);
	va_end(ap);
	s->err = err;
	return err;
}

static bool dl_is_hex64(const char *s, size_t n)
{
	if (n != DOWNLOAD_SHA256_HEX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

static int dl_parse_u64(const char *s, size_t n, uint64_t *ret)
{
	char tmp[32];
	int64_t v;

	if (n == 0 || n >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (str_to_int64(tmp, 0, INT64_MAX, &v) < 0)
		return -EINVAL;
	*ret = (uint64_t)v;
	return 0;
}

/* "bytes START-END/TOTAL" */
static int dl_parse_range(const char *s, uint64_t *ret_start, uint64_t *ret_total)
{
	unsigned long long a, b, t;
	int n = 0;

	if (sscanf(s, "bytes %llu-%llu/%llu%n", &a, &b, &t, &n) != 3 || s[n] != '\0' || b < a ||
	    b >= t)
		return -EINVAL;
	*ret_start = a;
	*ret_total = t;
	return 0;
}

/* Forget the partial and start from byte 0: a server that answers a Range
 * request with 200 sends the whole file. */
static int dl_restart(struct dl *s)
{
	if (ftruncate(s->fd, 0) < 0 || lseek(s->fd, 0, SEEK_SET) < 0)
		return dl_fail(s, -errno, "cannot truncate %s: %s", s->part, strerror(errno));
	s->offset = s->have = 0;
	crypto_hash_sha256_init(&s->sha);
	s->restarted = true;
	return 0;
}

/* The digest the file is expected to have, once anyone has said. */
static const char *dl_want(const struct dl *s)
{
	if (s->d->sha256 != NULL)
		return s->d->sha256;
	return s->linked_sha[0] ? s->linked_sha : NULL;
}

/* Before asking for the rest of a partial: was it fetched for this digest? */
static int dl_check_partial(struct dl *s)
{
	char had[DOWNLOAD_SHA256_HEX + 1];
	const char *want = dl_want(s);
	ssize_t n;

	if (s->have == 0 || want == NULL)
		return 0;
	n = fgetxattr(s->fd, DOWNLOAD_XATTR, had, sizeof(had) - 1);
	if (n != DOWNLOAD_SHA256_HEX)
		return 0;
	had[n] = '\0';
	if (strcasecmp(had, want) == 0)
		return 0;
	return dl_restart(s);
}

/* At the end of a final (non-redirect) response's headers: is its body the
 * file (or the rest of it), and is there room for it? */
static int dl_headers_done(struct dl *s)
{
	struct statvfs vfs;
	uint64_t need, avail;
	int r;

	if (s->status == 416 && s->offset > 0) {
		/* The partial is whole or longer than the file: start afresh. */
		s->again = true;
		return 0;
	}
	if (s->status == 200 && s->offset > 0) {
		r = dl_restart(s);
		if (r < 0)
			return r;
	} else if (s->status == 206) {
		if (!s->has_range || s->range_start != s->offset)
			return dl_fail(s, -EIO, "the server answered the request for bytes %" PRIu64
			    "- with another range", s->offset);
	} else if (s->status != 200) {
		return dl_fail(s, -EIO, "HTTP %ld", s->status);
	}
	s->body = true;
	if (dl_want(s) != NULL)
		(void)fsetxattr(s->fd, DOWNLOAD_XATTR, dl_want(s), DOWNLOAD_SHA256_HEX, 0);
	/* The size: the hub's, else what this response says. */
	if (s->linked_size > 0)
		s->total = s->linked_size;
	else if (s->status == 206)
		s->total = s->range_total;
	else if (s->has_length)
		s->total = s->content_length;
	if (s->status == 206 && s->range_total != s->total)
		return dl_fail(s, -EBADMSG, "the server says the file has %" PRIu64
		    " bytes, the hub said %" PRIu64, s->range_total, s->total);
	if (s->status == 200 && s->has_length && s->total != s->content_length)
		return dl_fail(s, -EBADMSG, "the server sends %" PRIu64
		    " bytes, the hub said the file has %" PRIu64, s->content_length, s->total);
	if (s->total == 0)
		return 0;	/* unknown: ENOSPC while writing is then the check */
	if (s->total < s->offset)
		return dl_fail(s, -EBADMSG, "the partial has more bytes than the file");
	if (fstatvfs(s->fd, &vfs) < 0)
		return dl_fail(s, -errno, "cannot see the free space of %s: %s", s->d->dir,
		    strerror(errno));
	need = s->total - s->offset;
	avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	if (avail < need + need / 100 + DOWNLOAD_RESERVE)
		return dl_fail(s, -ENOSPC, "not enough free space in %s: the download needs %"
		    PRIu64 " MiB more and %" PRIu64 " MiB are free", s->d->dir,
		    (need + need / 100 + DOWNLOAD_RESERVE + (1u << 20) - 1) >> 20, avail >> 20);
	return 0;
}

static size_t dl_on_header(char *data, size_t size, size_t n, void *userdata)
{
	struct dl *s = userdata;
	size_t len = size * n, vlen;
	char line[DOWNLOAD_MAX_HEADER], *colon, *v;

	s->heard_ms = time_mono_ms();
	if (len >= sizeof(line)) {
		dl_fail(s, -EIO, "a response header is longer than %d bytes", DOWNLOAD_MAX_HEADER);
		return 0;
	}
	memcpy(line, data, len);
	line[len] = '\0';
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		line[--len] = '\0';
	if (strncmp(line, "HTTP/", 5) == 0) {
		/* A new response (after a 100 Continue, say): forget the last. */
		s->status = 0;
		s->has_length = s->has_range = s->body = false;
		if (sscanf(line, "HTTP/%*s %ld", &s->status) != 1)
			s->status = 0;
		return size * n;
	}
	if (len == 0) {
		if (s->status >= 300 && s->status < 400)
			return size * n;
		if (s->status == 100)
			return size * n;
		return dl_headers_done(s) < 0 ? 0 : size * n;
	}
	colon = strchr(line, ':');
	if (colon == NULL)
		return size * n;
	*colon = '\0';
	v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	vlen = strlen(v);
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		v[--vlen] = '\0';
	if (strcasecmp(line, "content-length") == 0) {
		s->has_length = dl_parse_u64(v, vlen, &s->content_length) == 0;
	} else if (strcasecmp(line, "content-range") == 0) {
		s->has_range = dl_parse_range(v, &s->range_start, &s->range_total) == 0;
	} else if (strcasecmp(line, "x-linked-size") == 0) {
		if (dl_parse_u64(v, vlen, &s->linked_size) < 0)
			s->linked_size = 0;
	} else if (strcasecmp(line, "x-linked-etag") == 0) {
		/* "HEX" or W/"HEX": the hub's ETag of a stored file is its SHA-256. */
		if (strncmp(v, "W/", 2) == 0)
			v += 2, vlen -= 2;
		if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"')
			v++, vlen -= 2;
		if (dl_is_hex64(v, vlen)) {
			for (size_t i = 0; i < vlen; i++)
				s->linked_sha[i] = (char)tolower((unsigned char)v[i]);
			s->linked_sha[vlen] = '\0';
		}
	}
	return size * n;
}

static size_t dl_on_body(char *data, size_t size, size_t n, void *userdata)
{
	struct dl *s = userdata;
	size_t len = size * n, done = 0;
	ssize_t w;

	s->heard_ms = time_mono_ms();
	if (!s->body)
		return len;	/* a redirect's or an error's body */
	if (s->total > 0 && len > s->total - s->have) {
		dl_fail(s, -EBADMSG, "the server sends more than the %" PRIu64 " bytes announced",
		    s->total);
		return 0;
	}
	while (done < len) {
		w = write(s->fd, data + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			dl_fail(s, -errno, "writing %s: %s", s->part, strerror(errno));
			return 0;
		}
		done += (size_t)w;
	}
	crypto_hash_sha256_update(&s->sha, (const unsigned char *)data, len);
	s->have += len;
	return len;
}

static void dl_draw(struct dl *s, bool last)
{
	int64_t now = time_mono_ms();
	double mib = (double)s->have / (1 << 20), secs = (double)(now - s->started_ms) / 1000;
	double rate = secs > 0.5 ? (double)(s->have - s->offset) / (1 << 20) / secs : 0;
	char bar[31];
	int fill = 0;

	if (!last && now - s->drawn_ms < 200)
		return;
	s->drawn_ms = now;
	if (s->total > 0)
		fill = (int)(30 * (double)s->have / (double)s->total);
	for (int i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[30] = '\0';
	if (s->total > 0)
		fprintf(stderr, "\r%s [%s] %3d%% %.1f/%.1f MiB %.1f MiB/s ", s->d->name, bar,
		    (int)(100 * (double)s->have / (double)s->total), mib,
		    (double)s->total / (1 << 20), rate);
	else
		fprintf(stderr, "\r%s %.1f MiB %.1f MiB/s ", s->d->name, mib, rate);
	if (last)
		fputc('\n', stderr);
	fflush(stderr);
}

static int dl_on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct dl *s = userdata;

	/* Our own stall check: curl's low-speed limit averages over seconds
	 * of history, so a server that sent a little and stopped is given
	 * several seconds more than asked for. */
	if (time_mono_ms() - s->heard_ms > (int64_t)s->d->stall_s * 1000) {
		dl_fail(s, -ETIMEDOUT, "the server sent nothing for %ld s; gave up", s->d->stall_s);
		return 1;
	}
	if (s->d->progress && s->body)
		dl_draw(s, false);
	return 0;
}

/* The daemon's rule for a hop (tools/redirect.c): http or https only, no
 * user name or password in the URL. */
static int dl_check_location(struct dl *s, const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *user = NULL, *pass = NULL;
	int r = 0;

	if (u == NULL)
		abort();
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
		r = dl_fail(s, -EACCES, "a redirect to something that is not a URL");
		goto out;
	}
	if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
		r = dl_fail(s, -EACCES, "a redirect to a %s URL (only http and https are followed)",
		    scheme);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK)
		r = dl_fail(s, -EACCES, "a redirect to a URL with a user name or password");
out:
	curl_free(scheme);
	curl_free(user);
	curl_free(pass);
	curl_url_cleanup(u);
	return r;
}

/* One request to url; *ret_next gets the Location of a redirect. */
static int dl_hop(struct dl *s, CURL *c, const char *url, char **ret_next)
{
	char errbuf[CURL_ERROR_SIZE] = "", range[48], *next = NULL;
	CURLcode cc;
	int r;

	curl_easy_reset(c);
	s->status = 0;
	s->body = false;
	s->err = 0;
	r = dl_check_partial(s);
	if (r < 0)
		return r;
	s->offset = s->have;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "research/" RESEARCHD_VERSION);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, s->d->stall_s);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, dl_on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, s);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, dl_on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, dl_on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	s->heard_ms = time_mono_ms();
	if (s->offset > 0) {
		snprintf(range, sizeof(range), "%" PRIu64 "-", s->offset);
		curl_easy_setopt(c, CURLOPT_RANGE, range);
	}
	cc = curl_easy_perform(c);
	if (s->err < 0)
		return s->err;
	if (cc == CURLE_OPERATION_TIMEDOUT)
		return dl_fail(s, -ETIMEDOUT, "no connection within %ld s (%s)", s->d->stall_s,
		    errbuf[0] ? errbuf : curl_easy_strerror(cc));
	if (cc != CURLE_OK)
		return dl_fail(s, -EIO, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
	if (s->again) {
		s->again = false;
		r = dl_restart(s);
		if (r < 0)
			return r;
		*ret_next = xstrdup(s->d->url);
		return 0;
	}
	if (s->status >= 300 && s->status < 400) {
		if (s->status != 301 && s->status != 302 && s->status != 303 &&
		    s->status != 307 && s->status != 308)
			return dl_fail(s, -EIO, "HTTP %ld", s->status);
		if (curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &next) != CURLE_OK || next == NULL)
			return dl_fail(s, -EIO, "HTTP %ld redirect without a Location", s->status);
		r = dl_check_location(s, next);
		if (r < 0)
			return r;
		*ret_next = xstrdup(next);
		return 0;
	}
	if (!s->body)
		return dl_fail(s, -EIO, "HTTP %ld without a body", s->status);
	*ret_next = NULL;
	return 0;
}

/* Hash what an earlier run left in the partial, to go on from there. */
static int dl_hash_partial(struct dl *s)
{
	unsigned char chunk[DOWNLOAD_CHUNK];
	ssize_t n;

	if (lseek(s->fd, 0, SEEK_SET) < 0)
		return dl_fail(s, -errno, "cannot read %s: %s", s->part, strerror(errno));
	s->have = 0;
	while ((n = read(s->fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return dl_fail(s, -errno, "cannot read %s: %s", s->part, strerror(errno));
		crypto_hash_sha256_update(&s->sha, chunk, (size_t)n);
		s->have += (uint64_t)n;
	}
	return 0;
}

static int dl_mkdirs(const char *dir)
{
	_cleanup_free_ char *p = xstrdup(dir);

	for (char *q = p + 1; *q; q++) {
		if (*q != '/')
			continue;
		*q = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -errno;
		*q = '/';
	}
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int download_run(const struct download *d, struct download_result *ret, char *why,
    size_t whylen)
{
	struct dl s = { .d = d, .fd = -1, .why = why, .whylen = whylen };
	struct download_result res = { 0 };
	unsigned char digest[crypto_hash_sha256_BYTES];
	_cleanup_free_ char *dest = NULL, *url = xstrdup(d->url);
	const char *want;
	CURL *c = NULL;
	bool keep = true;
	int r, dfd;

	why[0] = '\0';
	if (sodium_init() < 0)
		return dl_fail(&s, -EIO, "libsodium cannot start");
	s.part = xasprintf("%s/.%s.part", d->dir, d->name);
	dest = xasprintf("%s/%s", d->dir, d->name);
	r = dl_mkdirs(d->dir);
	if (r < 0) {
		dl_fail(&s, r, "cannot create %s: %s", d->dir, strerror(-r));
		goto out;
	}
	s.fd = open(s.part, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (s.fd < 0) {
		r = dl_fail(&s, -errno, "cannot open %s: %s", s.part, strerror(errno));
		goto out;
	}
	if (flock(s.fd, LOCK_EX | LOCK_NB) < 0) {
		r = dl_fail(&s, -EBUSY, "another pull of %s is running", d->name);
		s.fd = (close(s.fd), -1);
		goto out;
	}
	crypto_hash_sha256_init(&s.sha);
	r = dl_hash_partial(&s);
	if (r < 0)
		goto out;
	res.resumed_from = s.have;

	c = curl_easy_init();
	if (c == NULL) {
		r = dl_fail(&s, -EIO, "libcurl cannot start");
		goto out;
	}
	s.started_ms = time_mono_ms();
	for (int hop = 0;; hop++) {
		char *next = NULL;

		if (hop > DOWNLOAD_MAX_HOPS) {
			r = dl_fail(&s, -ELOOP, "too many redirects (more than %d)", DOWNLOAD_MAX_HOPS);
			goto out;
		}
		r = dl_hop(&s, c, url, &next);
		if (r < 0)
			goto out;
		if (next == NULL)
			break;
		free(url);
		url = next;
	}
	if (s.restarted)
		res.resumed_from = 0;
	if (d->progress)
		dl_draw(&s, true);
	if (s.total > 0 && s.have != s.total) {
		keep = s.have < s.total;
		r = dl_fail(&s, keep ? -EIO : -EBADMSG, "the transfer ended after %" PRIu64
		    " of %" PRIu64 " bytes", s.have, s.total);
		goto out;
	}
	crypto_hash_sha256_final(&s.sha, digest);
	sodium_bin2hex(res.sha256, sizeof(res.sha256), digest, sizeof(digest));
	want = dl_want(&s);
	if (want != NULL && strcasecmp(want, res.sha256) != 0) {
		keep = false;
		r = dl_fail(&s, -EBADMSG, "SHA-256 mismatch: the file's is %s, %s %s; removed it",
		    res.sha256, d->sha256 != NULL ? "--sha256 says" : "the hub says", want);
		goto out;
	}
	res.verified = want != NULL;
	res.size = s.have;
	if (fsync(s.fd) < 0 || rename(s.part, dest) < 0) {
		r = dl_fail(&s, -errno, "cannot finish %s: %s", dest, strerror(errno));
		goto out;
	}
	/* The rename itself must survive a crash too. */
	dfd = open(d->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	*ret = res;
	r = 0;
out:
	if (r < 0 && d->progress && s.drawn_ms != 0)
		fputc('\n', stderr);	/* the error goes below the bar */
	if (c != NULL)
		curl_easy_cleanup(c);
	if (s.fd >= 0) {
		struct stat st;

		/* Nothing worth resuming is never left behind, nor a partial
		 * that filled the disk or does not fit what the server says. */
		if (r < 0 && (!keep || r == -ENOSPC || r == -EBADMSG || (fstat(s.fd, &st) == 0 && st.st_size == 0)))
			(void)unlink(s.part);
		close(s.fd);
	}
	free(s.part);
	return r;
}
