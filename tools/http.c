/* HTTP client over one libcurl multi handle driven by a libuv loop: curl
 * tells us which sockets to watch (socket callback → one uv_poll_t each) and
 * when to wake it (timer callback → one uv_timer_t); both feed
 * curl_multi_socket_action. A capped queue holds what does not run yet. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <curl/curl.h>
#include <uv.h>

#include "http.h"
#include "redirect.h"
#include "ssrf.h"
#include "str.h"
#include "url.h"
#include "xmalloc.h"

enum http_state { HTTP_QUEUED, HTTP_RUNNING, HTTP_DONE };

struct http_sock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct http *h;
	struct http_sock *prev, *next;
};

struct http_request {
	struct http *h;
	struct http_request *prev, *next;	/* in h->queued or h->running */
	enum http_state state;
	bool cancelled;
	CURL *easy;
	struct curl_slist *headers;
	char *url, *method, *user_agent;
	void *body;
	size_t body_len;
	http_done_fn done;
	void *ud;
	http_data_fn on_data;
	void *data_ud;
	const struct ssrf_policy *guard;
	char *hop_url, *hop_host;	/* the URL of the current redirect hop */
	long max_redirects;		/* < 0: redirects are the caller's */
	long hops;			/* redirects followed */
	long timeout_ms;		/* of the whole request, over every hop */
	bool redirecting;		/* this hop's answer is a redirect we follow */
	size_t max_body;
	int64_t queued_ms, started_ms;

	struct buf body_buf;
	int64_t bytes;
	bool too_big, headers_too_big, denied, bad_location;
	int cb_error, redirect_error;
	long hdr_status;
	size_t hdr_bytes;
	char *content_type, *etag, *last_modified, *retry_after, *location;
	int64_t content_length;
	char errbuf[CURL_ERROR_SIZE];
	char why[HTTP_ERROR_MAX];
};

struct http {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;
	struct http_limits lim;
	struct http_request *queued_head, *queued_tail, *running;
	unsigned n_running, n_queued;
	struct http_sock *socks;
	int in_curl;		/* inside curl_multi_socket_action: no removals */
	bool reap;		/* cancelled requests wait for removal */
	bool closing;
	struct http_stats stats;
};

static void http_pump(struct http *h);

/* ---- lists ---- */

static void http_unlink(struct http_request **head, struct http_request **tail,
    struct http_request *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		*head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else if (tail)
		*tail = r->prev;
	r->prev = r->next = NULL;
}

static void http_push_running(struct http *h, struct http_request *r)
{
	r->prev = NULL;
	r->next = h->running;
	if (h->running)
		h->running->prev = r;
	h->running = r;
	h->n_running++;
}

/* ---- request memory ---- */

static void http_clear_headers(struct http_request *r)
{
	r->content_type = mfree(r->content_type);
	r->etag = mfree(r->etag);
	r->last_modified = mfree(r->last_modified);
	r->retry_after = mfree(r->retry_after);
	r->location = mfree(r->location);
	r->content_length = -1;
	r->hdr_bytes = 0;
}

static void http_request_free(struct http_request *r)
{
	if (r->easy)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	free(r->url);
	free(r->method);
	free(r->user_agent);
	free(r->body);
	free(r->hop_url);
	free(r->hop_host);
	http_clear_headers(r);
	buf_free(&r->body_buf);
	free(r);
}

/* ---- curl callbacks (run inside curl_multi_socket_action) ---- */

static size_t http_on_write(char *p, size_t size, size_t n, void *ud)
{
	struct http_request *r = ud;
	size_t len = size * n;
	int e;

	if (r->cancelled)
		return 0;
	/* The body of a redirect we follow is nobody's business. */
	if (r->redirecting)
		return len;
	/* Counted after decoding: a small compressed body that inflates past the
	 * cap is stopped here. */
	if ((uint64_t)r->bytes + len > r->max_body) {
		r->too_big = true;
		return 0;
	}
	r->bytes += (int64_t)len;
	if (r->on_data) {
		e = r->on_data(r, p, len, r->data_ud);
		if (e < 0) {
			r->cb_error = e;
			return 0;
		}
		return len;
	}
	if (buf_append(&r->body_buf, p, len) < 0) {
		r->too_big = true;
		return 0;
	}
	return len;
}

static void http_set_header(char **field, const char *v, size_t n)
{
	free(*field);
	*field = n <= HTTP_MAX_HEADER_VALUE ? xstrndup(v, n) : NULL;
}

static size_t http_on_header(char *p, size_t size, size_t n, void *ud)
{
	struct http_request *r = ud;
	size_t len = size * n, nl, vl;
	const char *v;

	if (r->cancelled)
		return 0;
	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		const char *sp = memchr(p, ' ', len);

		http_clear_headers(r);
		r->hdr_status = sp && sp + 4 <= p + len ? strtol(sp + 1, NULL, 10) : 0;
	}
	r->hdr_bytes += len;
	if (r->hdr_bytes > HTTP_MAX_HEADERS_BYTES) {
		r->headers_too_big = true;
		return 0;
	}
	if (len <= 2 && (p[0] == '\r' || p[0] == '\n')) {
		r->redirecting = r->max_redirects >= 0 && redirect_is_followed(r->hdr_status);
		return len;
	}
	v = memchr(p, ':', len);
	if (v == NULL)
		return len;
	nl = (size_t)(v - p);
	v++;
	while (v < p + len && (*v == ' ' || *v == '\t'))
		v++;
	vl = (size_t)(p + len - v);
	while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ' ||
	    v[vl - 1] == '\t'))
		vl--;
#define H(name, field) \
	if (nl == sizeof(name) - 1 && strncasecmp(p, name, nl) == 0) { \
		http_set_header(&r->field, v, vl); \
		return len; \
	}
	H("content-type", content_type);
	H("etag", etag);
	H("last-modified", last_modified);
	H("retry-after", retry_after);
#undef H
	/* A Location is a URL, with the cap of one; past it the answer cannot
	 * be checked, so it ends the transfer instead of being dropped. */
	if (nl == 8 && strncasecmp(p, "location", 8) == 0) {
		if (vl >= URL_MAX && r->hdr_status >= 300 && r->hdr_status <= 399) {
			r->bad_location = true;
			return 0;
		}
		if (vl >= URL_MAX)
			return len;
		free(r->location);
		r->location = xstrndup(v, vl);
		return len;
	}
	if (nl == 14 && strncasecmp(p, "content-length", 14) == 0) {
		char tmp[32];
		int64_t cl;

		if (vl < sizeof(tmp)) {
			memcpy(tmp, v, vl);
			tmp[vl] = '\0';
			if (str_to_int64(tmp, 0, INT64_MAX, &cl) == 0)
				r->content_length = cl;
		}
	}
	return len;
}

static curl_socket_t http_on_opensocket(void *ud, curlsocktype purpose,
    struct curl_sockaddr *addr)
{
	struct http_request *r = ud;
	curl_socket_t fd;

	/* The guard sees the exact address curl is about to connect to. */
	if (r->guard && ssrf_check(r->guard, r->hop_host, &addr->addr, r->why,
	    sizeof(r->why)) < 0) {
		r->denied = true;
		return CURL_SOCKET_BAD;
	}
	fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
	return fd < 0 ? CURL_SOCKET_BAD : fd;
}

/* Before every request, on a new or a reused connection: a connection
 * opened for another user of the multi handle is checked too. */
static int http_on_prereq(void *ud, char *ip, char *local_ip, int port, int local_port)
{
	struct http_request *r = ud;

	if (r->guard && ssrf_check_ip(r->guard, r->hop_host, ip, r->why, sizeof(r->why)) < 0) {
		r->denied = true;
		return CURL_PREREQFUNC_ABORT;
	}
	return CURL_PREREQFUNC_OK;
}

/* ---- completion ---- */

static int http_error(struct http_request *r, CURLcode rc, const char **msg)
{
	const char *detail = r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc);

	if (r->denied) {
		*msg = r->why;
		return -EACCES;
	}
	if (r->redirect_error < 0) {
		*msg = r->why;
		return r->redirect_error;
	}
	if (r->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		snprintf(r->why, sizeof(r->why), "the response body exceeds the limit of %zu bytes"
		    " (counted after decompression)", r->max_body);
		*msg = r->why;
		return -EFBIG;
	}
	if (r->bad_location) {
		snprintf(r->why, sizeof(r->why), "the Location header exceeds %d bytes", URL_MAX);
		*msg = r->why;
		return -EBADMSG;
	}
	if (r->headers_too_big) {
		snprintf(r->why, sizeof(r->why), "the response headers exceed %d bytes",
		    HTTP_MAX_HEADERS_BYTES);
		*msg = r->why;
		return -E2BIG;
	}
	if (r->cb_error < 0) {
		snprintf(r->why, sizeof(r->why), "the response was refused by its reader: %s",
		    strerror(-r->cb_error));
		*msg = r->why;
		return r->cb_error;
	}
	int e;
	const char *what;

	switch (rc) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT: e = -ETIMEDOUT; what = "timed out"; break;
	case CURLE_COULDNT_RESOLVE_HOST: e = -EHOSTUNREACH; what = "could not resolve the host"; break;
	case CURLE_COULDNT_CONNECT: e = -ECONNREFUSED; what = "could not connect"; break;
	case CURLE_UNSUPPORTED_PROTOCOL: e = -EPROTONOSUPPORT; what = "only http and https are allowed"; break;
	case CURLE_URL_MALFORMAT: e = -EINVAL; what = "bad URL"; break;
	case CURLE_BAD_CONTENT_ENCODING: e = -EBADMSG; what = "bad content encoding"; break;
	case CURLE_WEIRD_SERVER_REPLY: e = -EBADMSG; what = "bad reply from the server"; break;
	case CURLE_OUT_OF_MEMORY: e = -ENOMEM; what = "out of memory"; break;
	case CURLE_PEER_FAILED_VERIFICATION: case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM: case CURLE_SSL_CIPHER: case CURLE_SSL_CACERT_BADFILE:
		e = -EPROTO; what = "TLS failed"; break;
	case CURLE_GOT_NOTHING: case CURLE_RECV_ERROR: case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE: case CURLE_HTTP2: case CURLE_HTTP2_STREAM:
		e = -ECONNRESET; what = "the connection broke"; break;
	default: e = -EIO; what = "transfer failed"; break;
	}
	snprintf(r->why, sizeof(r->why), "%s: %s", what, detail);
	*msg = r->why;
	return e;
}

static double http_time(CURL *easy, CURLINFO info)
{
	curl_off_t us = 0;

	curl_easy_getinfo(easy, info, &us);
	return (double)us / 1e6;
}

static void http_finish(struct http *h, struct http_request *r, CURLcode rc)
{
	struct http_response resp = { .content_length = -1 };
	char *url = NULL, *ip = NULL;
	curl_off_t wire = 0;

	curl_multi_remove_handle(h->multi, r->easy);
	http_unlink(&h->running, NULL, r);
	h->n_running--;
	r->state = HTTP_DONE;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &resp.status);
	curl_easy_getinfo(r->easy, CURLINFO_EFFECTIVE_URL, &url);
	curl_easy_getinfo(r->easy, CURLINFO_PRIMARY_IP, &ip);
	resp.redirects = r->hops;
	curl_easy_getinfo(r->easy, CURLINFO_SIZE_DOWNLOAD_T, &wire);
	resp.url = url ? url : r->url;
	if (ip)
		snprintf(resp.primary_ip, sizeof(resp.primary_ip), "%s", ip);
	resp.content_type = r->content_type;
	resp.etag = r->etag;
	resp.last_modified = r->last_modified;
	resp.retry_after = r->retry_after;
	resp.location = r->location;
	resp.content_length = r->content_length;
	resp.body = r->body_buf;
	resp.bytes = r->bytes;
	resp.wire_bytes = wire;
	resp.t_queue = (double)(r->started_ms - r->queued_ms) / 1e3;
	resp.t_dns = http_time(r->easy, CURLINFO_NAMELOOKUP_TIME_T);
	resp.t_connect = http_time(r->easy, CURLINFO_CONNECT_TIME_T);
	resp.t_tls = http_time(r->easy, CURLINFO_APPCONNECT_TIME_T);
	resp.t_first_byte = http_time(r->easy, CURLINFO_STARTTRANSFER_TIME_T);
	resp.t_total = http_time(r->easy, CURLINFO_TOTAL_TIME_T);
	resp.error = http_error(r, rc, &resp.error_msg);
	if (resp.error < 0)
		h->stats.failed++;
	h->stats.completed++;
	if (!r->cancelled && r->done)
		r->done(r, &resp, r->ud);
	/* The callback may have stolen the body. */
	r->body_buf = resp.body;
	http_request_free(r);
}

/* Take the next hop of a redirect ourselves: curl never follows one, so
 * each hop's Location is parsed, counted and checked (tools/redirect.c), and
 * the guard sees the host name of the hop it connects for. 0 when the next
 * hop is under way; else the error that ends the request, with r->why. */
static int http_redirect(struct http *h, struct http_request *r)
{
	struct redirect_hop hop = {0};
	struct redirect_from from = {
		.location = r->location,
		.url = r->hop_url,
		.first_url = r->url,
		.trusted = r->guard == NULL,
		.hops = r->hops,
		.max_hops = r->max_redirects,
		.method = r->method,
		.has_body = r->body != NULL,
	};
	CURL *e = r->easy;
	long left;
	int rr;

	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &from.status);
	rr = redirect_next(&from, &hop, r->why, sizeof(r->why));
	if (rr < 0)
		return rr;
	left = r->timeout_ms - (long)(time_mono_ms() - r->started_ms);
	if (left <= 0) {
		snprintf(r->why, sizeof(r->why), "timed out following redirects");
		rr = -ETIMEDOUT;
		goto out;
	}
	curl_multi_remove_handle(h->multi, e);
	if (hop.to_get && (curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) != CURLE_OK))
		rr = -ENOMEM;
	/* Headers may carry a key meant for the first host only. */
	if (hop.other_host && r->headers &&
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL) != CURLE_OK)
		rr = -ENOMEM;
	if (rr == 0 && (curl_easy_setopt(e, CURLOPT_URL, hop.url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, left) != CURLE_OK))
		rr = -ENOMEM;
	if (rr < 0) {
		snprintf(r->why, sizeof(r->why), "out of memory following a redirect");
		goto out;
	}
	free(r->hop_url);
	r->hop_url = hop.url;
	hop.url = NULL;
	free(r->hop_host);
	r->hop_host = hop.host;
	hop.host = NULL;
	r->hops++;
	r->redirecting = false;
	r->hdr_status = 0;
	r->errbuf[0] = '\0';
	http_clear_headers(r);
	buf_reset(&r->body_buf);
	r->bytes = 0;
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
		snprintf(r->why, sizeof(r->why), "out of memory following a redirect");
		rr = -ENOMEM;
	}
out:
	redirect_hop_clear(&hop);
	return rr;
}

static void http_reap(struct http *h)
{
	struct http_request *r, *next;

	if (!h->reap || h->in_curl)
		return;
	h->reap = false;
	for (r = h->running; r; r = next) {
		next = r->next;
		if (r->cancelled) {
			curl_multi_remove_handle(h->multi, r->easy);
			http_unlink(&h->running, NULL, r);
			h->n_running--;
			http_request_free(r);
		}
	}
}

static void http_check_done(struct http *h)
{
	CURLMsg *m;
	int left;

	http_reap(h);
	while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
		struct http_request *r = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (r == NULL)
			continue;
		if (m->data.result == CURLE_OK && r->redirecting && !r->cancelled) {
			r->redirect_error = http_redirect(h, r);
			if (r->redirect_error == 0)
				continue;
		}
		http_finish(h, r, m->data.result);
	}
	http_pump(h);
}

static void http_action(struct http *h, curl_socket_t fd, int flags)
{
	int running;

	h->in_curl++;
	curl_multi_socket_action(h->multi, fd, flags, &running);
	h->in_curl--;
	http_check_done(h);
}

/* ---- the loop side ---- */

static void http_on_poll(uv_poll_t *p, int status, int events)
{
	struct http_sock *s = p->data;
	int flags = 0;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	http_action(s->h, s->fd, flags);
}

static void http_on_timeout(uv_timer_t *t)
{
	http_action(t->data, CURL_SOCKET_TIMEOUT, 0);
}

static void http_sock_closed(uv_handle_t *hd)
{
	free(hd->data);
}

static void http_sock_close(struct http *h, struct http_sock *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		h->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, http_sock_closed);
}

static int http_on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct http *h = userp;
	struct http_sock *s = socketp;
	int events = 0;

	if (what == CURL_POLL_REMOVE) {
		if (s) {
			curl_multi_assign(h->multi, fd, NULL);
			http_sock_close(h, s);
		}
		return 0;
	}
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->fd = fd;
		s->h = h;
		if (uv_poll_init_socket(h->loop, &s->poll, fd) < 0) {
			free(s);
			return -1;
		}
		s->poll.data = s;
		s->next = h->socks;
		if (h->socks)
			h->socks->prev = s;
		h->socks = s;
		curl_multi_assign(h->multi, fd, s);
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		events |= UV_READABLE;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		events |= UV_WRITABLE;
	uv_poll_start(&s->poll, events, http_on_poll);
	return 0;
}

static int http_on_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct http *h = userp;

	if (h->closing)
		return 0;
	if (timeout_ms < 0)
		uv_timer_stop(&h->timer);
	else
		uv_timer_start(&h->timer, http_on_timeout, (uint64_t)timeout_ms, 0);
	return 0;
}

/* ---- public ---- */

int http_new(uv_loop_t *loop, const struct http_limits *limits, struct http **ret)
{
	static bool global_done;
	struct http *h;

	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return -EIO;
		global_done = true;
	}
	h = xcalloc(1, sizeof(*h));
	h->loop = loop;
	if (limits)
		h->lim = *limits;
	if (h->lim.max_transfers == 0)
		h->lim.max_transfers = 16;
	if (h->lim.max_queued == 0)
		h->lim.max_queued = 4096;
	h->multi = curl_multi_init();
	if (h->multi == NULL) {
		free(h);
		return -ENOMEM;
	}
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, http_on_socket);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, http_on_timer);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	if (h->lim.max_host_connections)
		curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
		    (long)h->lim.max_host_connections);
	uv_timer_init(loop, &h->timer);
	h->timer.data = h;
	*ret = h;
	return 0;
}

static void http_closed(uv_handle_t *hd)
{
	free(hd->data);
}

struct http *http_free(struct http *h)
{
	struct http_request *r;

	if (h == NULL)
		return NULL;
	h->closing = true;
	while ((r = h->queued_head) != NULL) {
		http_unlink(&h->queued_head, &h->queued_tail, r);
		http_request_free(r);
	}
	while ((r = h->running) != NULL) {
		curl_multi_remove_handle(h->multi, r->easy);
		http_unlink(&h->running, NULL, r);
		http_request_free(r);
	}
	curl_multi_cleanup(h->multi);
	while (h->socks)
		http_sock_close(h, h->socks);
	uv_timer_stop(&h->timer);
	uv_close((uv_handle_t *)&h->timer, http_closed);
	return NULL;
}

static int http_setup(struct http_request *r, const struct http_options *o)
{
	CURL *e = r->easy;
	int r_ok = 0;

#define SET(opt, val) do { if (curl_easy_setopt(e, opt, val) != CURLE_OK) r_ok = -EINVAL; } while (0)
	SET(CURLOPT_URL, r->url);
	SET(CURLOPT_PRIVATE, (char *)r);
	SET(CURLOPT_ERRORBUFFER, r->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	/* Never through a proxy from the environment: the guard checks the
	 * address really connected to. */
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	/* curl never follows a redirect: http_redirect does, hop by hop. */
	SET(CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms ? o->connect_timeout_ms : 10000L);
	SET(CURLOPT_TIMEOUT_MS, r->timeout_ms);
	SET(CURLOPT_LOW_SPEED_LIMIT, o->low_speed_time ? o->low_speed_limit : 1L);
	SET(CURLOPT_LOW_SPEED_TIME, o->low_speed_time ? o->low_speed_time : 30L);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max_body);
	if (!o->no_compression)
		SET(CURLOPT_ACCEPT_ENCODING, "");
	if (r->user_agent)
		SET(CURLOPT_USERAGENT, r->user_agent);
	if (r->headers)
		SET(CURLOPT_HTTPHEADER, r->headers);
	SET(CURLOPT_WRITEFUNCTION, http_on_write);
	SET(CURLOPT_WRITEDATA, r);
	SET(CURLOPT_HEADERFUNCTION, http_on_header);
	SET(CURLOPT_HEADERDATA, r);
	SET(CURLOPT_OPENSOCKETFUNCTION, http_on_opensocket);
	SET(CURLOPT_OPENSOCKETDATA, r);
	SET(CURLOPT_PREREQFUNCTION, http_on_prereq);
	SET(CURLOPT_PREREQDATA, r);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	/* Waiting to multiplex only pays where HTTP/2 can be negotiated (TLS
	 * ALPN): over plain http:// it held every request to a host until the
	 * previous one's response headers came, so a model server's slots were
	 * used one at a time. */
	if (strncasecmp(r->url, "https:", 6) == 0)
		SET(CURLOPT_PIPEWAIT, 1L);
	if (r->body) {
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
		SET(CURLOPT_POSTFIELDS, r->body);
	}
	if (r->method) {
		if (strcmp(r->method, "HEAD") == 0)
			SET(CURLOPT_NOBODY, 1L);
		else if (strcmp(r->method, "GET") == 0)
			SET(CURLOPT_HTTPGET, 1L);
		else
			SET(CURLOPT_CUSTOMREQUEST, r->method);
	}
#undef SET
	return r_ok;
}

int http_request_start(struct http *h, const struct http_options *o, http_done_fn done,
    void *ud, struct http_request **ret)
{
	struct http_request *r;
	struct url_parts parts = {0};
	int e;

	if (o->url == NULL || h->closing)
		return -EINVAL;
	if (h->n_queued >= h->lim.max_queued)
		return -EAGAIN;
	/* Scheme, credentials and syntax are refused here, before curl. */
	e = url_parse(o->url, &parts);
	if (e < 0)
		return e;
	r = xcalloc(1, sizeof(*r));
	r->h = h;
	r->url = xstrdup(o->url);
	r->hop_url = xstrdup(o->url);
	r->hop_host = parts.host;
	parts.host = NULL;
	url_parts_clear(&parts);
	r->method = o->method ? xstrdup(o->method) : NULL;
	r->user_agent = o->user_agent ? xstrdup(o->user_agent) : NULL;
	if (o->body) {
		r->body = xmalloc(o->body_len ? o->body_len : 1);
		memcpy(r->body, o->body, o->body_len);
		r->body_len = o->body_len;
	}
	for (const char *const *hd = o->headers; hd && *hd; hd++) {
		struct curl_slist *l = curl_slist_append(r->headers, *hd);

		if (l == NULL) {
			http_request_free(r);
			return -ENOMEM;
		}
		r->headers = l;
	}
	r->done = done;
	r->ud = ud;
	r->on_data = o->on_data;
	r->data_ud = o->data_ud;
	r->guard = o->guard;
	r->max_redirects = o->max_redirects == 0 ? 5 : o->max_redirects;
	r->timeout_ms = o->timeout_ms ? o->timeout_ms : 60000L;
	r->max_body = o->max_body ? o->max_body : HTTP_DEFAULT_MAX_BODY;
	r->content_length = -1;
	buf_init(&r->body_buf, r->max_body);
	r->easy = curl_easy_init();
	if (r->easy == NULL) {
		http_request_free(r);
		return -ENOMEM;
	}
	e = http_setup(r, o);
	if (e < 0) {
		http_request_free(r);
		return e;
	}
	r->queued_ms = time_mono_ms();
	r->state = HTTP_QUEUED;
	r->prev = h->queued_tail;
	if (h->queued_tail)
		h->queued_tail->next = r;
	else
		h->queued_head = r;
	h->queued_tail = r;
	h->n_queued++;
	if (ret)
		*ret = r;
	http_pump(h);
	return 0;
}

static void http_pump(struct http *h)
{
	/* Not from inside curl's callbacks; http_check_done pumps after. */
	while (!h->closing && !h->in_curl && h->n_running < h->lim.max_transfers && h->queued_head) {
		struct http_request *r = h->queued_head;

		http_unlink(&h->queued_head, &h->queued_tail, r);
		h->n_queued--;
		r->state = HTTP_RUNNING;
		r->started_ms = time_mono_ms();
		http_push_running(h, r);
		h->stats.started++;
		if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK) {
			/* Reported as any failed transfer would be. */
			http_finish(h, r, CURLE_OUT_OF_MEMORY);
		}
	}
}

void http_request_cancel(struct http_request *r)
{
	struct http *h;

	if (r == NULL || r->state == HTTP_DONE || r->cancelled)
		return;
	h = r->h;
	h->stats.cancelled++;
	if (r->state == HTTP_QUEUED) {
		http_unlink(&h->queued_head, &h->queued_tail, r);
		h->n_queued--;
		http_request_free(r);
		return;
	}
	r->cancelled = true;
	if (h->in_curl) {
		/* curl forbids removing a handle from inside its callbacks. */
		h->reap = true;
		return;
	}
	curl_multi_remove_handle(h->multi, r->easy);
	http_unlink(&h->running, NULL, r);
	h->n_running--;
	http_request_free(r);
	http_pump(h);
}

void http_get_stats(const struct http *h, struct http_stats *ret)
{
	*ret = h->stats;
	ret->running = h->n_running;
	ret->queued = h->n_queued;
}
