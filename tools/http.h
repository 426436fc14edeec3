/* HTTP client: one libcurl multi handle driven by the daemon's libuv loop,
 * with a capped queue in front of it. Shared by fetch, the search backends
 * and the model client. Every request has a done callback; a cancelled
 * request never calls it. */
#ifndef RESEARCHD_HTTP_H
#define RESEARCHD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct http;
struct http_request;
struct ssrf_policy;
struct uv_loop_s;

#define HTTP_MAX_HEADER_VALUE 2048		/* bytes kept of one captured header */
#define HTTP_MAX_HEADERS_BYTES (64 * 1024)	/* bytes of all headers of one response */
#define HTTP_DEFAULT_MAX_BODY (10 * 1024 * 1024)
#define HTTP_ERROR_MAX 512

struct http_limits {
	unsigned max_transfers;	/* running at once; the rest wait (0 = 16) */
	unsigned max_queued;	/* waiting at most; beyond: -EAGAIN (0 = 4096) */
	unsigned max_host_connections;	/* per host, in curl (0 = no limit) */
};

/* Streaming: called with each chunk of the decoded body; a negative errno
 * aborts the transfer with that error. The body is then not buffered. */
typedef int (*http_data_fn)(struct http_request *req, const char *data, size_t len, void *ud);

struct http_options {
	const char *url;
	const char *method;		/* NULL: GET, or POST when body is set */
	const char *const *headers;	/* NULL-terminated "Name: value" lines */
	const void *body;
	size_t body_len;
	const char *user_agent;
	size_t max_body;		/* decoded bytes; 0 = HTTP_DEFAULT_MAX_BODY */
	long connect_timeout_ms;	/* 0 = 10 s */
	long timeout_ms;		/* whole transfer; 0 = 60 s */
	long low_speed_limit;		/* bytes/s ... */
	long low_speed_time;		/* ... for this many seconds; 0 = 1 byte/s for 30 s */
	/* Redirects (301, 302, 303, 307, 308) are followed by tools/http
	 * itself, never by curl, each hop's Location parsed and checked; any
	 * other 3xx is returned as it is. < 0: none followed, the 3xx is
	 * returned with its location; 0 = 5. A Location that cannot be
	 * parsed, that carries credentials or exceeds URL_MAX ends the request
	 * with an error. */
	long max_redirects;
	bool no_compression;		/* do not send Accept-Encoding */
	/* When set, every address curl is about to connect to is checked
	 * against it (and every reused connection before a request), for the
	 * host of the hop it is for. When NULL the URL is an endpoint the
	 * operator configured: trusted itself, but a redirect from it to
	 * another host or port is refused (-EACCES). */
	const struct ssrf_policy *guard;
	http_data_fn on_data;
	void *data_ud;
};

struct http_response {
	long status;			/* 0 when no response */
	const char *url;		/* the effective URL after redirects */
	const char *content_type, *etag, *last_modified, *retry_after, *location;
	int64_t content_length;		/* -1 when not sent */
	struct buf body;		/* decoded; empty when streaming */
	int64_t bytes;			/* decoded body bytes received */
	int64_t wire_bytes;		/* bytes on the wire (compressed) */
	long redirects;			/* followed */
	char primary_ip[48];
	/* seconds from the start of the transfer */
	double t_queue, t_dns, t_connect, t_tls, t_first_byte, t_total;
	int error;			/* 0 or a negative errno */
	const char *error_msg;		/* a sentence, when error < 0 */
};

/* Called once per request (never after http_request_cancel); the request
 * and resp are freed after it returns. resp->body may be taken with
 * buf_steal. */
typedef void (*http_done_fn)(struct http_request *req, struct http_response *resp, void *ud);

int http_new(struct uv_loop_s *loop, const struct http_limits *limits, struct http **ret);
/* Cancels every request (no callbacks); the memory is released once the
 * loop has run the handles' close callbacks. */
struct http *http_free(struct http *h);
/* Queue a request; copies everything in opts. -EAGAIN when the queue is
 * full, -EINVAL for a bad option. */
int http_request_start(struct http *h, const struct http_options *opts, http_done_fn done,
    void *ud, struct http_request **ret);
/* Stop the request and free it; its done callback is not called. */
void http_request_cancel(struct http_request *req);

struct http_stats {
	unsigned running, queued;
	uint64_t started, completed, failed, cancelled;
};
void http_get_stats(const struct http *h, struct http_stats *ret);

#endif
