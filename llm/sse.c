/* Incremental Server-Sent Events parser. Owns line splitting (CR, LF, CRLF,
 * also split across chunks), the BOM, fields, and the per-event size cap. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sse.h"
#include "xmalloc.h"

#define SSE_RETRY_MAX 86400000LL	/* a day: anything bigger is nonsense */

static const unsigned char sse_bom[3] = { 0xef, 0xbb, 0xbf };

struct sse_parser {
	sse_event_fn fn;
	void *userdata;
	size_t max_event;
	struct buf line;	/* the line being accumulated */
	struct buf data;	/* data buffer of the event being built */
	struct buf type;	/* event type buffer */
	struct buf id;		/* last event id */
	bool has_data;		/* at least one data: field in this event */
	bool pending;		/* a field was seen since the last dispatch */
	bool last_cr;		/* previous byte was CR: a following LF is eaten */
	bool comment;		/* skipping a comment line without buffering it */
	unsigned bom_seen;	/* bytes of a leading BOM matched; 3 = done */
	int error;		/* sticky */
	int64_t retry_ms;
	uint64_t events;
};

int sse_parser_new(size_t max_event, sse_event_fn fn, void *userdata, struct sse_parser **ret)
{
	struct sse_parser *p;

	if (max_event == 0 || fn == NULL || ret == NULL)
		return -EINVAL;
	p = xcalloc(1, sizeof(*p));
	p->fn = fn;
	p->userdata = userdata;
	p->max_event = max_event;
	buf_init(&p->line, max_event);
	buf_init(&p->data, max_event);
	buf_init(&p->type, max_event);
	buf_init(&p->id, max_event);
	p->retry_ms = -1;
	*ret = p;
	return 0;
}

struct sse_parser *sse_parser_free(struct sse_parser *p)
{
	if (p == NULL)
		return NULL;
	buf_free(&p->line);
	buf_free(&p->data);
	buf_free(&p->type);
	buf_free(&p->id);
	free(p);
	return NULL;
}

static int sse_dispatch(struct sse_parser *p)
{
	struct sse_event ev;
	int r = 0;

	/* The spec drops an event that had no data: field. */
	if (p->has_data) {
		ev.type = p->type.len > 0 ? p->type.data : "message";
		ev.data = p->data.data ? p->data.data : "";
		ev.data_len = p->data.len;
		ev.id = p->id.data ? p->id.data : "";
		p->events++;
		r = p->fn(&ev, p->userdata);
	}
	buf_reset(&p->data);
	buf_reset(&p->type);
	p->has_data = false;
	p->pending = false;
	return r < 0 ? r : 0;
}

static int sse_set(struct buf *b, const char *v, size_t n)
{
	buf_reset(b);
	return buf_append(b, v, n);
}

static void sse_retry(struct sse_parser *p, const char *v, size_t n)
{
	int64_t ms = 0;

	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return;
		ms = ms * 10 + (v[i] - '0');
		if (ms > SSE_RETRY_MAX)
			return;
	}
	p->retry_ms = ms;
}

static int sse_field(struct sse_parser *p, const char *line, size_t len)
{
	const char *colon = memchr(line, ':', len);
	const char *v;
	size_t nlen, vlen;
	int r = 0;

	if (colon) {
		nlen = (size_t)(colon - line);
		v = colon + 1;
		vlen = len - nlen - 1;
		if (vlen > 0 && v[0] == ' ') {
			v++;
			vlen--;
		}
	} else {
		nlen = len;
		v = "";
		vlen = 0;
	}

	p->pending = true;
	if (nlen == 5 && memcmp(line, "event", 5) == 0)
		r = sse_set(&p->type, v, vlen);
	else if (nlen == 4 && memcmp(line, "data", 4) == 0) {
		if (p->has_data)
			r = buf_putc(&p->data, '\n');
		if (r == 0)
			r = buf_append(&p->data, v, vlen);
		p->has_data = true;
	} else if (nlen == 2 && memcmp(line, "id", 2) == 0) {
		if (memchr(v, '\0', vlen) == NULL)
			r = sse_set(&p->id, v, vlen);
	} else if (nlen == 5 && memcmp(line, "retry", 5) == 0)
		sse_retry(p, v, vlen);
	else if (nlen == 5 && memcmp(line, "error", 5) == 0) {
		/* llama-server's "error: {...}" line: an event of type "error". */
		r = sse_set(&p->type, "error", 5);
		if (r == 0 && p->has_data)
			r = buf_putc(&p->data, '\n');
		if (r == 0)
			r = buf_append(&p->data, v, vlen);
		p->has_data = true;
	}
	/* Unknown fields are ignored, as the spec says. */
	return r == -ENOBUFS ? -EMSGSIZE : r;
}

static int sse_line_end(struct sse_parser *p)
{
	int r;

	if (p->comment) {
		p->comment = false;
		return 0;
	}
	if (p->line.len == 0)
		return sse_dispatch(p);
	r = sse_field(p, p->line.data, p->line.len);
	buf_reset(&p->line);
	return r;
}

/* Bytes after BOM handling: split into lines. */
static int sse_bytes(struct sse_parser *p, const char *s, size_t len)
{
	size_t i = 0;
	int r;

	while (i < len) {
		char c = s[i];

		if (p->last_cr) {
			p->last_cr = false;
			if (c == '\n') {
				i++;
				continue;
			}
		}
		if (c == '\r' || c == '\n') {
			p->last_cr = c == '\r';
			r = sse_line_end(p);
			if (r < 0)
				return r;
			i++;
			continue;
		}
		if (p->line.len == 0 && !p->comment && c == ':') {
			/* Comments (keep-alives) may be long; never buffer them. */
			p->comment = true;
			i++;
			continue;
		}

		size_t j = i;
		while (j < len && s[j] != '\r' && s[j] != '\n')
			j++;
		if (!p->comment) {
			r = buf_append(&p->line, s + i, j - i);
			if (r < 0)
				return r == -ENOBUFS ? -EMSGSIZE : r;
		}
		i = j;
	}
	return 0;
}

int sse_parser_feed(struct sse_parser *p, const void *data, size_t len)
{
	const unsigned char *s = data;
	int r;

	if (p->error)
		return p->error;
	/* A BOM is stripped once, at the very start; it may be split. */
	while (p->bom_seen < 3 && len > 0) {
		if (s[0] != sse_bom[p->bom_seen]) {
			unsigned n = p->bom_seen;

			p->bom_seen = 3;
			r = sse_bytes(p, (const char *)sse_bom, n);
			if (r < 0)
				return p->error = r;
			break;
		}
		p->bom_seen++;
		s++;
		len--;
	}
	r = sse_bytes(p, (const char *)s, len);
	if (r < 0)
		return p->error = r;
	return 0;
}

int sse_parser_finish(struct sse_parser *p)
{
	bool partial;

	if (p->error)
		return p->error;
	partial = p->line.len > 0 || p->pending ||
		  (p->bom_seen > 0 && p->bom_seen < 3);
	buf_reset(&p->line);
	buf_reset(&p->data);
	buf_reset(&p->type);
	p->has_data = p->pending = p->comment = false;
	return partial ? -EPIPE : 0;
}

int64_t sse_parser_retry_ms(const struct sse_parser *p)
{
	return p->retry_ms;
}

uint64_t sse_parser_events(const struct sse_parser *p)
{
	return p->events;
}
