/* The control socket: a SOCK_STREAM Unix socket speaking JSON lines, driven
 * by the loop. Every client is bounded: line size, queued output, idle time,
 * number of clients, clients per uid, and the work done for it in one turn
 * of the loop. A bad client is answered once and dropped. */
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "buildconf.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "ops.h"
#include "protocol.h"
#include "server.h"
#include "str.h"
#include "xmalloc.h"

#if HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#define CLIENT_READ_CHUNK 65536
/* Room for one maximal line, its newline, and a read chunk beyond it. */
#define CLIENT_MAX_INPUT (PROTOCOL_MAX_LINE + 1 + CLIENT_READ_CHUNK)
/* One client's share of a loop turn: this many requests or this much time,
 * whichever comes first; then the loop serves everyone else before the
 * next batch. A few ms keeps every other client's ping prompt and the
 * systemd watchdog fed however much one client pipelines. */
#define CLIENT_TURN_REQUESTS 64
#define CLIENT_TURN_NS (2 * 1000 * 1000)
/* Backpressure: with this many complete request bytes waiting, or this many
 * reply bytes unread, the daemon stops reading from (and answering) the
 * client until it catches up; the kernel's socket buffer then slows the
 * sender. Output resumes below the low mark. */
#define CLIENT_INPUT_BACKLOG (64 * 1024)
#define CLIENT_OUTPUT_HIGH (1024 * 1024)
#define CLIENT_OUTPUT_LOW (256 * 1024)

struct server {
	struct daemon *d;
	uv_pipe_t listener;
	bool listening;
	bool activated;
	char *path;		/* NULL when socket-activated */
	struct client *clients;
	unsigned nclients;
	uint64_t accepted;
};

struct client {
	struct server *s;
	uv_pipe_t pipe;
	uv_timer_t idle;
	/* Answers waiting lines in the next turn of the loop (after an op
	 * ends, or when a batch used up this turn's share). An idle handle,
	 * not a 0 ms timer: libuv (before 1.45) runs a timer that re-arms
	 * itself with 0 ms again in the same pass, so a batch would never
	 * yield; an idle callback runs once per turn and the poll between
	 * turns does not block. */
	uv_idle_t kick;
	uid_t uid;
	pid_t pid;
	struct buf in;
	size_t pending_write;
	unsigned open_handles;
	bool busy, eof, closing;
	bool reading;		/* uv_read_start in effect */
	bool output_blocked;	/* answering waits for pending_write < CLIENT_OUTPUT_LOW */
	bool op_ends_at_eof;	/* the busy op is a watch: a half-close ends it */
	void *op_data;
	void (*op_cleanup)(void *data);
	struct client *next;
};

struct client_write {
	uv_write_t req;
	struct client *c;
	size_t len;
	char *data;
};

static void client_process(struct client *c);
static void client_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b);
static void client_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b);

struct daemon *client_daemon(struct client *c)
{
	return c->s->d;
}

uid_t client_uid(const struct client *c)
{
	return c->uid;
}

unsigned server_clients(const struct server *s)
{
	return s->nclients;
}

bool server_socket_activated(const struct server *s)
{
	return s->activated;
}

static void client_handle_closed(uv_handle_t *h)
{
	struct client *c = h->data;

	if (--c->open_handles > 0)
		return;
	buf_free(&c->in);
	free(c);
}

static void client_unlink(struct client *c)
{
	struct server *s = c->s;

	for (struct client **p = &s->clients; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			s->nclients--;
			return;
		}
	}
}

/* Close the handles once queued output is written. */
static void client_finish_close(struct client *c)
{
	if (c->pending_write > 0 || c->open_handles == 0 || uv_is_closing((uv_handle_t *)&c->pipe))
		return;
	uv_close((uv_handle_t *)&c->pipe, client_handle_closed);
	uv_close((uv_handle_t *)&c->idle, client_handle_closed);
	uv_close((uv_handle_t *)&c->kick, client_handle_closed);
}

void client_close(struct client *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_read_stop((uv_stream_t *)&c->pipe);
	c->reading = false;
	uv_timer_stop(&c->idle);
	uv_idle_stop(&c->kick);
	if (c->op_cleanup) {
		void (*cleanup)(void *) = c->op_cleanup;

		c->op_cleanup = NULL;
		cleanup(c->op_data);
		c->op_data = NULL;
	}
	client_unlink(c);
	client_finish_close(c);
}

/* Drop at once, without waiting for queued output. */
static void client_abort(struct client *c)
{
	client_close(c);
	if (!uv_is_closing((uv_handle_t *)&c->pipe)) {
		uv_close((uv_handle_t *)&c->pipe, client_handle_closed);
		uv_close((uv_handle_t *)&c->idle, client_handle_closed);
		uv_close((uv_handle_t *)&c->kick, client_handle_closed);
	}
}

/* Complete requests waiting beyond the backlog mark? A partial line alone
 * never stops reading: the rest of it is needed (up to PROTOCOL_MAX_LINE). */
static bool client_input_backlogged(const struct client *c)
{
	return c->in.len >= CLIENT_INPUT_BACKLOG && memchr(c->in.data, '\n', c->in.len) != NULL;
}

/* Read while the client is within its bounds; stop while it has a backlog
 * of requests or unread replies, so that the kernel holds back the sender. */
static void client_reading_update(struct client *c)
{
	bool want = !c->closing && !c->eof && c->pending_write < CLIENT_OUTPUT_HIGH &&
	    !client_input_backlogged(c);

	if (want && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->pipe, client_alloc_cb, client_read_cb) == 0)
			c->reading = true;
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->pipe);
		c->reading = false;
	}
}

/* After EOF: did the peer close the connection (nobody to answer), or only
 * shut down its writing side (it waits for replies)? The kernel reports
 * POLLHUP only when both directions are shut. */
static bool client_peer_gone(struct client *c)
{
	struct pollfd p = { .events = POLLIN };
	uv_os_fd_t fd;

	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) < 0)
		return true;
	p.fd = fd;
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)) != 0;
}

static void client_kick_cb(uv_idle_t *t);

/* Answer the waiting lines from the next turn of the loop. */
static void client_kick(struct client *c)
{
	if (!c->closing && !uv_is_active((uv_handle_t *)&c->kick))
		uv_idle_start(&c->kick, client_kick_cb);
}

static void client_write_cb(uv_write_t *req, int status)
{
	struct client_write *w = (struct client_write *)req;
	struct client *c = w->c;

	c->pending_write -= w->len;
	free(w->data);
	free(w);
	if (status < 0) {
		if (!c->closing)
			log_debug("client uid %u: write failed: %s", (unsigned)c->uid, uv_strerror(status));
		client_close(c);
	}
	if (c->closing) {
		client_finish_close(c);
		return;
	}
	if (c->output_blocked && c->pending_write < CLIENT_OUTPUT_LOW) {
		c->output_blocked = false;
		client_kick(c);
	}
	client_reading_update(c);
}

bool client_send(struct client *c, const json_t *msg)
{
	struct client_write *w;
	uv_buf_t b;
	int r;

	if (c->closing)
		return false;
	w = xcalloc(1, sizeof(*w));
	w->c = c;
	w->data = protocol_encode(msg, &w->len);
	if (c->pending_write + w->len > CLIENT_MAX_PENDING_WRITE) {
		log_warnx("client uid %u reads too slowly (%zu bytes queued); dropping it",
		    (unsigned)c->uid, c->pending_write);
		free(w->data);
		free(w);
		client_abort(c);
		return false;
	}
	b = uv_buf_init(w->data, (unsigned)w->len);
	r = uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, client_write_cb);
	if (r < 0) {
		free(w->data);
		free(w);
		client_abort(c);
		return false;
	}
	c->pending_write += w->len;
	return true;
}

void client_send_error(struct client *c, json_t *id, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	json_t *m;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	m = protocol_error_new(id, code, msg);
	client_send(c, m);
	json_decref(m);
}

void client_set_op(struct client *c, void *data, void (*cleanup)(void *data))
{
	c->op_data = data;
	c->op_cleanup = cleanup;
}

static void client_idle_cb(uv_timer_t *t)
{
	struct client *c = t->data;

	if (c->output_blocked)
		log_info("client uid %u left %zu bytes of replies unread for %lld seconds; closing",
		    (unsigned)c->uid, c->pending_write, (long long)c->s->d->config->client_timeout);
	client_send_error(c, NULL, PROTO_E_TIMEOUT, c->output_blocked ?
	    "replies left unread for %lld seconds; closing" :
	    "no complete request for %lld seconds; closing",
	    (long long)c->s->d->config->client_timeout);
	client_close(c);
}

static void client_idle_restart(struct client *c)
{
	/* A client waiting on a watch is not idle. */
	if (c->closing || c->busy)
		return;
	uv_timer_start(&c->idle, client_idle_cb, (uint64_t)c->s->d->config->client_timeout * 1000, 0);
}

static void client_kick_cb(uv_idle_t *t)
{
	struct client *c = t->data;

	uv_idle_stop(t);
	if (!c->closing && !c->busy)
		client_process(c);
}

void client_set_busy(struct client *c, bool busy)
{
	c->busy = busy;
	if (busy) {
		uv_timer_stop(&c->idle);
		return;
	}
	c->op_ends_at_eof = false;
	client_idle_restart(c);
	/* Lines that arrived during the op, and a half-close seen during it,
	 * are handled from the loop, not from inside the callback that ended
	 * the op. */
	if (!c->closing && (c->in.len > 0 || c->eof))
		client_kick(c);
}

void client_set_ends_at_eof(struct client *c)
{
	c->op_ends_at_eof = true;
}

static void client_handle_line(struct client *c, const char *line, size_t len)
{
	struct protocol_request req = { 0 };
	const char *code = NULL;
	char err[512];
	json_t *id = NULL;
	int r;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return;
	r = protocol_request_parse(line, len, &req, &code, err, sizeof(err), &id);
	if (r < 0) {
		client_send_error(c, id, code, "%s", err);
		if (id)
			json_decref(id);
		if (r == -E2BIG)
			client_close(c);
		return;
	}
	if (c->s->d->stopping) {
		client_send_error(c, req.id, PROTO_E_SHUTTING_DOWN, "the daemon is stopping");
		protocol_request_done(&req);
		return;
	}
	ops_dispatch(c, &req);
	protocol_request_done(&req);
}

static void client_process(struct client *c)
{
	uint64_t start = uv_hrtime();
	unsigned answered = 0;

	while (!c->closing && !c->busy && c->in.len > 0) {
		char *nl = memchr(c->in.data, '\n', c->in.len);
		size_t n;

		if (c->pending_write >= CLIENT_OUTPUT_HIGH) {
			/* The write callback kicks us below the low mark. */
			c->output_blocked = true;
			break;
		}
		if (answered == CLIENT_TURN_REQUESTS ||
		    (answered > 0 && uv_hrtime() - start >= CLIENT_TURN_NS)) {
			client_kick(c);
			break;
		}

		if (nl == NULL) {
			if (c->in.len > PROTOCOL_MAX_LINE) {
				client_send_error(c, NULL, PROTO_E_TOO_LARGE,
				    "request line is over %d bytes; closing", PROTOCOL_MAX_LINE);
				client_close(c);
			} else if (c->eof) {
				/* A last line without its newline: answer it anyway. */
				n = c->in.len;
				char *line = xstrndup(c->in.data, n);
				buf_reset(&c->in);
				client_handle_line(c, line, n);
				free(line);
			}
			break;
		}
		n = (size_t)(nl - c->in.data);
		if (n > PROTOCOL_MAX_LINE) {
			client_send_error(c, NULL, PROTO_E_TOO_LARGE,
			    "request line is over %d bytes; closing", PROTOCOL_MAX_LINE);
			client_close(c);
			break;
		}
		/* The handler may send and even close: work on a copy. */
		char *line = xstrndup(c->in.data, n);
		buf_consume(&c->in, n + 1);
		client_handle_line(c, line, n);
		free(line);
		answered++;
		client_idle_restart(c);
	}
	/* After a half-close: every request read is answered, then close. */
	if (c->eof && !c->busy && !c->closing && c->in.len == 0)
		client_close(c);
	if (!c->closing)
		client_reading_update(c);
}

static void client_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	b->base = xmalloc(CLIENT_READ_CHUNK);
	b->len = CLIENT_READ_CHUNK;
}

static void client_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
	struct client *c = stream->data;

	if (nread < 0) {
		free(b->base);
		if (nread == UV_EOF) {
			c->eof = true;
			client_reading_update(c);
			/* A watch ends when its client shuts its side: nobody is
			 * left to watch. Any other op still gets its reply, and the
			 * lines after it theirs, before the connection closes;
			 * unless the client closed altogether: then the op is
			 * cancelled (a model slot is not kept for nobody). Lines
			 * read while idle are handled either way: a "cancel" sent
			 * just before a close still counts. */
			if (c->busy && (c->op_ends_at_eof || client_peer_gone(c)))
				client_close(c);
			else if (!c->busy && !uv_is_active((uv_handle_t *)&c->kick))
				client_process(c);
		} else
			client_abort(c);
		return;
	}
	if (nread > 0 && buf_append(&c->in, b->base, (size_t)nread) < 0) {
		free(b->base);
		client_send_error(c, NULL, PROTO_E_TOO_LARGE,
		    "request line is over %d bytes; closing", PROTOCOL_MAX_LINE);
		client_close(c);
		return;
	}
	free(b->base);
	/* With a batch already waiting for the next turn (the kick), this
	 * turn's share is spent: only keep the bytes. */
	if (!c->busy && !uv_is_active((uv_handle_t *)&c->kick))
		client_process(c);
	else
		client_reading_update(c);
}

static void server_connection_cb(uv_stream_t *listener, int status)
{
	struct server *s = listener->data;
	struct client *c;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	uv_os_fd_t fd;
	int r;

	if (status < 0) {
		log_warnx("accepting a client: %s", uv_strerror(status));
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->s = s;
	buf_init(&c->in, CLIENT_MAX_INPUT);
	uv_pipe_init(s->d->loop, &c->pipe, 0);
	uv_timer_init(s->d->loop, &c->idle);
	uv_idle_init(s->d->loop, &c->kick);
	c->pipe.data = c;
	c->idle.data = c;
	c->kick.data = c;
	c->open_handles = 3;
	r = uv_accept(listener, (uv_stream_t *)&c->pipe);
	if (r < 0) {
		log_warnx("accepting a client: %s", uv_strerror(r));
		c->closing = true;
		uv_close((uv_handle_t *)&c->pipe, client_handle_closed);
		uv_close((uv_handle_t *)&c->idle, client_handle_closed);
		uv_close((uv_handle_t *)&c->kick, client_handle_closed);
		return;
	}
	c->next = s->clients;
	s->clients = c;
	s->nclients++;
	s->accepted++;
	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		log_warnx("client without peer credentials; dropping it");
		client_abort(c);
		return;
	}
	c->uid = cred.uid;
	c->pid = cred.pid;
	if (s->nclients > (unsigned)s->d->config->max_clients) {
		client_send_error(c, NULL, PROTO_E_BUSY, "too many clients (max_clients = %lld); "
		    "try again later", (long long)s->d->config->max_clients);
		client_close(c);
		return;
	}
	if (c->uid != 0) {
		int64_t cap = s->d->config->max_clients_per_user;
		unsigned same = 0;

		for (struct client *o = s->clients; o; o = o->next)
			same += o->uid == c->uid;
		if (same > (unsigned)cap) {
			client_send_error(c, NULL, PROTO_E_BUSY, "uid %u has %lld connections open already "
			    "(max_clients_per_user = %lld); close one or try again later",
			    (unsigned)c->uid, (long long)cap, (long long)cap);
			client_close(c);
			return;
		}
	}
	log_debug("client pid %d uid %u connected", (int)c->pid, (unsigned)c->uid);
	client_reading_update(c);
	client_idle_restart(c);
}

/* Refuse a symlink, refuse a live socket, remove a stale one. */
static int server_check_path(const char *path, char *errmsg, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		r = -errno;
		snprintf(errmsg, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	if (S_ISLNK(st.st_mode)) {
		snprintf(errmsg, errlen, "%s is a symbolic link; refusing to use it", path);
		return -ELOOP;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(errmsg, errlen, "%s exists and is not a socket; refusing to replace it", path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(errmsg, errlen, "socket: %s", strerror(errno));
		return r;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (r == 0) {
		snprintf(errmsg, errlen, "another daemon is listening on %s", path);
		return -EADDRINUSE;
	}
	if (errno != ECONNREFUSED) {
		r = -errno;
		snprintf(errmsg, errlen, "%s: cannot tell whether it is in use: %s", path, strerror(errno));
		return r;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		r = -errno;
		snprintf(errmsg, errlen, "removing stale socket %s: %s", path, strerror(errno));
		return r;
	}
	return 0;
}

static int server_bind(const char *path, const char *group, int *ret_fd, char *errmsg, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *dir = NULL, *slash;
	mode_t old;
	int fd = -1, r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(errmsg, errlen, "socket path %s is longer than %zu bytes", path,
		    sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	dir = xstrdup(path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			r = -errno;
			snprintf(errmsg, errlen, "creating %s: %s", dir, strerror(errno));
			goto fail;
		}
	}
	r = server_check_path(path, errmsg, errlen);
	if (r < 0)
		goto fail;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(errmsg, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	/* Created 0660 from the start: no window where others may connect. */
	old = umask(0117);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0) {
		r = -errno;
		snprintf(errmsg, errlen, "binding %s: %s", path, strerror(errno));
		goto fail;
	}
	if (group != NULL) {
		struct group *gr = getgrnam(group);

		if (gr == NULL) {
			snprintf(errmsg, errlen, "socket_group %s: no such group", group);
			r = -ENOENT;
			unlink(path);
			goto fail;
		}
		if (chown(path, (uid_t)-1, gr->gr_gid) < 0) {
			r = -errno;
			snprintf(errmsg, errlen, "chown %s to group %s: %s", path, group, strerror(-r));
			unlink(path);
			goto fail;
		}
	}
	if (chmod(path, 0660) < 0 || listen(fd, SERVER_BACKLOG) < 0) {
		r = -errno;
		snprintf(errmsg, errlen, "listening on %s: %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	free(dir);
	*ret_fd = fd;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	free(dir);
	return r;
}

static int server_activated_fd(void)
{
#if HAVE_SYSTEMD
	int n = sd_listen_fds(1);

	if (n == 1 && sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) > 0)
		return SD_LISTEN_FDS_START;
#endif
	return -1;
}

int server_new(struct daemon *d, const char *path, const char *group, struct server **ret,
    char *errmsg, size_t errlen)
{
	struct server *s = xcalloc(1, sizeof(*s));
	int fd, r;

	s->d = d;
	fd = server_activated_fd();
	if (fd >= 0) {
		s->activated = true;
	} else {
		r = server_bind(path, group, &fd, errmsg, errlen);
		if (r < 0) {
			free(s);
			return r;
		}
		s->path = xstrdup(path);
	}
	uv_pipe_init(d->loop, &s->listener, 0);
	s->listener.data = s;
	r = uv_pipe_open(&s->listener, fd);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&s->listener, SERVER_BACKLOG, server_connection_cb);
	if (r < 0) {
		snprintf(errmsg, errlen, "listening: %s", uv_strerror(r));
		uv_close((uv_handle_t *)&s->listener, NULL);
		if (s->path)
			unlink(s->path);
		free(s->path);
		/* The handle is freed with s after the loop closes it: leak-free
		 * because the caller exits on this error. */
		*ret = NULL;
		return -EIO;
	}
	s->listening = true;
	*ret = s;
	return 0;
}

void server_close(struct server *s)
{
	if (s == NULL)
		return;
	if (s->listening) {
		s->listening = false;
		uv_close((uv_handle_t *)&s->listener, NULL);
		if (s->path)
			unlink(s->path);
	}
	while (s->clients) {
		struct client *c = s->clients;

		if (c->busy)
			client_send_error(c, NULL, PROTO_E_SHUTTING_DOWN, "the daemon is stopping");
		client_close(c);
	}
}

struct server *server_free(struct server *s)
{
	if (s == NULL)
		return NULL;
	free(s->path);
	free(s);
	return NULL;
}
