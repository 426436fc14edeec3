/* The directory walk behind `research index DIR`: the user's documents
 * under a directory, extracted and handed one by one to a sink. */
#ifndef RESEARCHD_WALK_H
#define RESEARCHD_WALK_H

#include <stdbool.h>
#include <stddef.h>

/* Defaults for walk_dir's caps when an option is 0. */
#define WALK_DEFAULT_MAX_DEPTH		16u
#define WALK_DEFAULT_MAX_FILES		10000u
#define WALK_DEFAULT_MAX_FILE_SIZE	(16u * 1024 * 1024)
/* Directory entries looked at in one walk, whatever their kind. */
#define WALK_MAX_ENTRIES		1000000u

enum walk_status {
	WALK_FILE_ADDED,
	WALK_FILE_UNCHANGED,	/* indexed before with the same title and text */
	WALK_FILE_TOO_BIG,	/* over max_file_size */
	WALK_FILE_BINARY,	/* not text after all */
	WALK_FILE_FAILED,	/* could not be read or stored: see error */
};

/* Called for each file of a known type (.html .htm .md .markdown .txt)
 * with its path relative to the directory. */
typedef void (*walk_report_fn)(const char *relpath, enum walk_status status, int error,
    size_t passages, void *userdata);

/* Where each document goes, keyed by its file:// URL, with its title (the
 * file name when it has none) and extracted text; says how many passages
 * it made and whether it was indexed before as it is. A negative errno
 * fails the file; -EBUSY, -ENOSPC, -EIO, -ENOMEM, -EACCES, -EPIPE and
 * -ECONNRESET end the walk. */
typedef int (*walk_sink_fn)(const char *key, const char *title, const char *text, size_t len,
    size_t *ret_passages, bool *ret_unchanged, void *userdata);

struct walk_options {
	unsigned max_depth;	/* directories below the top; 0: default */
	size_t max_files;	/* files of a known type handled; 0: default */
	size_t max_file_size;	/* bytes; 0: default */
	walk_report_fn fn;	/* may be NULL */
	void *userdata;
	walk_sink_fn sink;	/* required */
	void *sink_userdata;
};

struct walk_stats {
	size_t added, unchanged, too_big, binary, failed;
	size_t skipped;		/* other types, symlinks, special files, dot files */
	size_t passages;	/* of the files added */
	bool truncated;		/* max_files, max_depth or WALK_MAX_ENTRIES was hit */
};

/* Hand the .html/.htm (through extract_html), .md/.markdown and .txt files
 * under path to opt->sink, in name order. path itself may be a symlink to
 * a directory; nothing under it is followed: symlinks, dot files and dot
 * directories, and anything but regular files and directories are skipped.
 * A failed file is counted, reported to fn, and the walk goes on. Returns 0
 * with *ret_stats (may be NULL) once the walk is done; -EINVAL without a
 * sink; -ENOTDIR, -ENOENT, -EACCES ... when path cannot be opened as a
 * directory, or the sink's error that ended the walk. */
int walk_dir(const char *path, const struct walk_options *opt, struct walk_stats *ret_stats);

#endif
