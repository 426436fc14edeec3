/* Newline-delimited JSON framing with a hard cap on line length. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ndjson.h"
#include "xmalloc.h"

struct ndjson {
	struct buf line;	/* the unfinished line */
	size_t max_line;
	ndjson_line_fn fn;
	void *ud;
	int error;		/* sticky */
};

int ndjson_new(size_t max_line, ndjson_line_fn fn, void *userdata, struct ndjson **ret)
{
	struct ndjson *n;

	if (max_line == 0 || fn == NULL || ret == NULL)
		return -EINVAL;
	n = xcalloc(1, sizeof(*n));
	/* One byte over the cap tells a line at the cap from a longer one. */
	buf_init(&n->line, max_line + 1);
	n->max_line = max_line;
	n->fn = fn;
	n->ud = userdata;
	*ret = n;
	return 0;
}

struct ndjson *ndjson_free(struct ndjson *n)
{
	if (n == NULL)
		return NULL;
	buf_free(&n->line);
	free(n);
	return NULL;
}

static bool blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

static int dispatch(struct ndjson *n)
{
	size_t len = n->line.len;
	int r = 0;

	if (len > 0 && n->line.data[len - 1] == '\r')
		len--;
	if (len > 0 && !blank(n->line.data, len)) {
		n->line.data[len] = '\0';
		r = n->fn(n->line.data, len, n->ud);
	}
	buf_reset(&n->line);
	return r;
}

int ndjson_feed(struct ndjson *n, const void *data, size_t len)
{
	const char *p = data, *end = p + len, *nl;
	int r;

	if (n->error < 0)
		return n->error;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		r = buf_append(&n->line, p, (size_t)((nl ? nl : end) - p));
		if (r < 0 || n->line.len > n->max_line) {
			n->error = -EMSGSIZE;
			return n->error;
		}
		if (nl == NULL)
			break;
		r = dispatch(n);
		if (r < 0) {
			n->error = r;
			return r;
		}
		p = nl + 1;
	}
	return 0;
}

int ndjson_finish(struct ndjson *n)
{
	int r;

	if (n->error < 0)
		return n->error;
	r = dispatch(n);
	if (r < 0)
		n->error = r;
	return r;
}
