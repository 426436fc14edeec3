/* The directory walk behind `research index DIR`: the user's .html, .md and
 * .txt files, read with the user's permissions, extracted, and handed to a
 * sink (the CLI sends each to researchd). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "extract.h"
#include "str.h"
#include "walk.h"
#include "xmalloc.h"

/* The walk of one walk_dir call. */
struct walk {
	unsigned max_depth;
	size_t max_files, max_size;
	walk_report_fn fn;
	void *userdata;
	walk_sink_fn sink;
	void *sink_userdata;
	struct walk_stats st;
	size_t files, entries;
	char *root;		/* absolute, canonical */
	struct buf rel;		/* path below root of what is being looked at */
	int fatal;		/* a sink error that ends the walk */
};

static const char *walk_content_type(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (dot == NULL || dot == name)
		return NULL;
	if (strcasecmp(dot, ".html") == 0 || strcasecmp(dot, ".htm") == 0)
		return "text/html";
	if (strcasecmp(dot, ".md") == 0 || strcasecmp(dot, ".markdown") == 0)
		return "text/markdown";
	if (strcasecmp(dot, ".txt") == 0)
		return "text/plain";
	return NULL;
}

/* file:// URL of root/rel: bytes outside RFC 3986's unreserved set and
 * '/' are percent-encoded, so any file name makes a valid key. */
static char *walk_file_key(const char *root, const char *rel)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf b;
	const char *parts[2] = { root, rel };

	buf_init(&b, 3 * (strlen(root) + strlen(rel)) + 16);
	buf_puts(&b, "file://");
	for (int k = 0; k < 2; k++) {
		if (k == 1 && strcmp(root, "/") != 0)
			buf_putc(&b, '/');
		for (const unsigned char *c = (const unsigned char *)parts[k]; *c; c++) {
			if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			    (*c >= '0' && *c <= '9') || strchr("-._~/", *c)) {
				buf_putc(&b, (char)*c);
			} else {
				buf_putc(&b, '%');
				buf_putc(&b, hex[*c >> 4]);
				buf_putc(&b, hex[*c & 15]);
			}
		}
	}
	return buf_steal(&b);
}

/* Read the whole regular file at dirfd/name, refusing symlinks (O_NOFOLLOW)
 * and anything that is not a regular file once opened; -EFBIG over max,
 * even when it grew after the size was checked. */
static int walk_read_file(int dirfd, const char *name, size_t max, char **ret, size_t *ret_len)
{
	char chunk[65536];
	struct stat sb;
	struct buf b;
	int fd, r = 0;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0)
		r = -errno;
	else if (!S_ISREG(sb.st_mode))
		r = -EBADF;
	if (r < 0) {
		close(fd);
		return r;
	}
	if ((uint64_t)sb.st_size > max) {
		close(fd);
		return -EFBIG;
	}
	buf_init(&b, max);
	for (;;) {
		ssize_t k = read(fd, chunk, sizeof(chunk));

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			r = k < 0 ? -errno : 0;
			break;
		}
		r = buf_append(&b, chunk, (size_t)k);
		if (r < 0) {
			r = -EFBIG;
			break;
		}
	}
	close(fd);
	if (r < 0) {
		buf_free(&b);
		return r;
	}
	*ret_len = b.len;
	*ret = buf_steal(&b);
	return 0;
}

static bool walk_fatal_error(int r)
{
	return r == -EBUSY || r == -ENOSPC || r == -EIO || r == -ENOMEM || r == -EACCES ||
	    r == -EPIPE || r == -ECONNRESET;	/* a sink whose daemon went away */
}

static void walk_report(struct walk *w, enum walk_status status, int error,
    size_t passages)
{
	switch (status) {
	case WALK_FILE_ADDED:
		w->st.added++;
		w->st.passages += passages;
		break;
	case WALK_FILE_UNCHANGED: w->st.unchanged++; break;
	case WALK_FILE_TOO_BIG: w->st.too_big++; break;
	case WALK_FILE_BINARY: w->st.binary++; break;
	case WALK_FILE_FAILED: w->st.failed++; break;
	}
	if (w->fn)
		w->fn(w->rel.data, status, error, passages, w->userdata);
}

static void walk_file(struct walk *w, int dirfd, const char *name, const char *ctype)
{
	struct extract_options eo = {
		.content_type = ctype, .max_input = w->max_size, .max_output = w->max_size,
	};
	struct extract_result *res = NULL;
	_cleanup_free_ char *data = NULL, *key = NULL;
	const char *title;
	size_t len = 0, n = 0;
	bool unchanged = false;
	int r;

	w->files++;
	r = walk_read_file(dirfd, name, w->max_size, &data, &len);
	if (r == -EFBIG) {
		walk_report(w, WALK_FILE_TOO_BIG, r, 0);
		return;
	}
	if (r < 0) {
		walk_report(w, WALK_FILE_FAILED, r, 0);
		return;
	}
	r = extract_html(data, len, &eo, &res);
	if (r == -EINVAL) {
		walk_report(w, WALK_FILE_BINARY, r, 0);
		return;
	}
	if (r < 0) {
		walk_report(w, r == -EFBIG ? WALK_FILE_TOO_BIG : WALK_FILE_FAILED, r, 0);
		return;
	}
	title = res->title && res->title[0] ? res->title : name;
	key = walk_file_key(w->root, w->rel.data);
	r = w->sink(key, title, res->text, res->text_len, &n, &unchanged, w->sink_userdata);
	extract_result_free(res);
	if (r < 0) {
		if (walk_fatal_error(r))
			w->fatal = r;
		walk_report(w, WALK_FILE_FAILED, r, 0);
		return;
	}
	walk_report(w, unchanged ? WALK_FILE_UNCHANGED : WALK_FILE_ADDED, 0, n);
}

static int walk_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Walk the directory open at fd (which it closes); rel holds its path. */
static void walk_subdir(struct walk *w, int fd, unsigned depth)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, alloc = 0, rel_len = w->rel.len;

	if (d == NULL) {
		close(fd);
		return;
	}
	/* Names first, sorted: the same tree is walked the same way, and the
	 * caps cut it at the same place. */
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;	/* ".", "..", and hidden files (.git) */
		if (++w->entries > WALK_MAX_ENTRIES) {
			w->st.truncated = true;
			break;
		}
		if (n == alloc) {
			alloc = alloc ? 2 * alloc : 64;
			names = xreallocarray(names, alloc, sizeof(*names));
		}
		names[n++] = xstrdup(de->d_name);
	}
	if (n > 0)
		qsort(names, n, sizeof(*names), walk_name_cmp);
	for (size_t i = 0; i < n; i++) {
		struct stat sb;
		const char *ctype;

		if (w->fatal || w->files >= w->max_files) {
			if (!w->fatal)
				w->st.truncated = true;
			break;
		}
		w->rel.len = rel_len;
		w->rel.data[rel_len] = '\0';
		if ((rel_len > 0 && buf_putc(&w->rel, '/') < 0) || buf_puts(&w->rel, names[i]) < 0) {
			w->st.skipped++;	/* a path longer than PATH_MAX */
			continue;
		}
		if (fstatat(dirfd(d), names[i], &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			w->st.skipped++;
			continue;
		}
		if (S_ISDIR(sb.st_mode)) {
			int sub;

			if (depth >= w->max_depth) {
				w->st.truncated = true;
				continue;
			}
			sub = openat(dirfd(d), names[i],
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
			if (sub < 0) {
				w->st.skipped++;
				continue;
			}
			walk_subdir(w, sub, depth + 1);
			continue;
		}
		ctype = S_ISREG(sb.st_mode) ? walk_content_type(names[i]) : NULL;
		if (ctype == NULL) {
			w->st.skipped++;	/* symlinks, devices, other types */
			continue;
		}
		if ((uint64_t)sb.st_size > w->max_size) {
			w->files++;
			walk_report(w, WALK_FILE_TOO_BIG, -EFBIG, 0);
			continue;
		}
		walk_file(w, dirfd(d), names[i], ctype);
	}
	w->rel.len = rel_len;
	if (w->rel.data)
		w->rel.data[rel_len] = '\0';
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
}

int walk_dir(const char *path, const struct walk_options *opt,
    struct walk_stats *ret_stats)
{
	struct walk w = {
		.max_depth = opt && opt->max_depth ? opt->max_depth : WALK_DEFAULT_MAX_DEPTH,
		.max_files = opt && opt->max_files ? opt->max_files : WALK_DEFAULT_MAX_FILES,
		.max_size = opt && opt->max_file_size ? opt->max_file_size : WALK_DEFAULT_MAX_FILE_SIZE,
		.fn = opt ? opt->fn : NULL,
		.userdata = opt ? opt->userdata : NULL,
		.sink = opt ? opt->sink : NULL,
		.sink_userdata = opt ? opt->sink_userdata : NULL,
	};
	int fd;

	if (w.sink == NULL || path == NULL)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	w.root = realpath(path, NULL);
	if (w.root == NULL) {
		int r = -errno;

		close(fd);
		return r;
	}
	buf_init(&w.rel, PATH_MAX);
	buf_puts(&w.rel, "");
	walk_subdir(&w, fd, 0);
	buf_free(&w.rel);
	free(w.root);
	if (w.fatal)
		return w.fatal;
	if (ret_stats)
		*ret_stats = w.st;
	return 0;
}
