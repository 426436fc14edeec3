/* Incremental Server-Sent Events parser (WHATWG HTML "event stream"
 * interpretation): bytes in, one callback per complete event.
 * One extension: llama-server reports a failure inside a stream as an
 * "error: {...}" line, a field the spec would ignore; it is read as an
 * event of type "error" with that value as its data. */
#ifndef RESEARCHD_LLM_SSE_H
#define RESEARCHD_LLM_SSE_H

#include <stddef.h>
#include <stdint.h>

struct sse_event {
	const char *type;	/* "message" when the event had no event: field */
	const char *data;	/* data lines joined with '\n', NUL-terminated */
	size_t data_len;	/* data may hold NUL bytes; this is its length */
	const char *id;		/* last event id seen on the stream, "" if none */
};

/* Called per dispatched event; the strings live until the callback returns.
 * A negative return stops the parser and is returned by sse_parser_feed(). */
typedef int (*sse_event_fn)(const struct sse_event *ev, void *userdata);

struct sse_parser;

/* max_event caps every line and every event's data, in bytes (> 0). */
int sse_parser_new(size_t max_event, sse_event_fn fn, void *userdata, struct sse_parser **ret);
struct sse_parser *sse_parser_free(struct sse_parser *p);
/* Feed any chunk of the stream. -EMSGSIZE when a line or an event's data
 * exceeds max_event; errors are sticky: later calls return the same one. */
int sse_parser_feed(struct sse_parser *p, const void *data, size_t len);
/* End of stream. An unterminated event is discarded (as the spec says) and
 * reported: -EPIPE when bytes of an unfinished line or event were pending. */
int sse_parser_finish(struct sse_parser *p);
/* Last valid retry: value in milliseconds, or -1 if none was sent. */
int64_t sse_parser_retry_ms(const struct sse_parser *p);
/* Number of events dispatched so far. */
uint64_t sse_parser_events(const struct sse_parser *p);

#endif
