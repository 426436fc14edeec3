/* The research CLI's end of the control socket: connecting, writing request
 * lines in full, and splitting what the daemon sends into capped lines. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "buf.h"
#include "client.h"
#include "json.h"
#include "protocol.h"
#include "str.h"
#include "xmalloc.h"

#define CLIENT_READ_CHUNK (64 * 1024)

struct client {
	int fd;
	int64_t next_id;
	struct buf in;		/* received bytes; lines before start are used up */
	size_t start;		/* first byte of the line being assembled */
	size_t scanned;		/* bytes from start known to hold no newline */
};

int client_connect(const char *path, int timeout_ms, struct client **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	struct client *c;
	size_t n = strlen(path);
	int fd, r, flags;

	if (n == 0)
		return -EINVAL;
	if (n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, n + 1);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A blocking AF_UNIX connect() waits for room in the listener's backlog;
	 * the send timeout is what bounds that wait. */
	if (timeout_ms > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		r = -errno;
		goto fail;
	}
	do
		r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		r = errno == EAGAIN ? -ETIMEDOUT : -errno;
		goto fail;
	}
	/* From here on every wait goes through poll() with its own deadline. */
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		r = -errno;
		goto fail;
	}

	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->next_id = 1;
	/* Room for a whole line, its newline, and the start of the next one
	 * that arrived in the same read. */
	buf_init(&c->in, CLIENT_MAX_LINE + 1 + CLIENT_READ_CHUNK);
	*ret = c;
	return 0;
fail:
	close(fd);
	return r;
}

struct client *client_free(struct client *c)
{
	if (c == NULL)
		return NULL;
	if (c->fd >= 0)
		close(c->fd);
	buf_free(&c->in);
	free(c);
	return NULL;
}

static int64_t client_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : time_mono_ms() + timeout_ms;
}

/* Wait for events on the socket until deadline (-1: no deadline). */
static int client_wait(struct client *c, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = c->fd, .events = events };
	int64_t left;
	int r;

	for (;;) {
		left = -1;
		if (deadline >= 0) {
			left = deadline - time_mono_ms();
			if (left <= 0)
				return -ETIMEDOUT;
			if (left > INT32_MAX)
				left = INT32_MAX;
		}
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		if (pfd.revents & POLLNVAL)
			return -EBADF;
		/* POLLHUP and POLLERR are left for read() or send() to report. */
		return 0;
	}
}

static int client_write_all(struct client *c, const char *p, size_t len, int64_t deadline)
{
	ssize_t n;
	int r;

	while (len > 0) {
		n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE)
				return -ECONNRESET;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			r = client_wait(c, POLLOUT, deadline);
			if (r < 0)
				return r;
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int client_send(struct client *c, const json_t *req, int timeout_ms, int64_t *ret_id)
{
	_cleanup_json_ json_t *msg = NULL;
	_cleanup_free_ char *line = NULL;
	int64_t id = c->next_id;
	size_t len;
	int r;

	msg = json_pack("{s:i, s:I}", "v", PROTOCOL_VERSION, "id", (json_int_t)id);
	if (msg == NULL || json_object_update(msg, (json_t *)req) < 0)
		return -ENOMEM;
	line = protocol_encode(msg, &len);
	r = client_write_all(c, line, len, client_deadline(timeout_ms));
	if (r < 0)
		return r;
	c->next_id++;
	*ret_id = id;
	return 0;
}

/* Take the line that ends at nl out of the buffer and parse it. */
static int client_take_line(struct client *c, const char *nl, json_t **ret)
{
	const char *line = c->in.data + c->start;
	size_t len = (size_t)(nl - line);
	json_error_t jerr;
	json_t *msg;

	c->start += len + 1;
	c->scanned = 0;
	if (len > CLIENT_MAX_LINE)
		return -EMSGSIZE;
	msg = json_loadb(line, len, 0, &jerr);
	if (msg == NULL)
		return -EBADMSG;
	if (!json_is_object(msg) || !json_is_boolean(json_object_get(msg, "ok"))) {
		json_decref(msg);
		return -EBADMSG;
	}
	*ret = msg;
	return 0;
}

int client_read(struct client *c, int timeout_ms, json_t **ret)
{
	int64_t deadline = client_deadline(timeout_ms);
	char chunk[CLIENT_READ_CHUNK];
	const char *nl;
	ssize_t n;
	int r;

	for (;;) {
		if (c->in.len > c->start + c->scanned) {
			nl = memchr(c->in.data + c->start + c->scanned, '\n',
			    c->in.len - c->start - c->scanned);
			if (nl != NULL)
				return client_take_line(c, nl, ret);
		}
		c->scanned = c->in.len - c->start;
		if (c->scanned > CLIENT_MAX_LINE)
			return -EMSGSIZE;
		/* Move the partial line to the front once per read, not once per
		 * line, so a burst of small events costs one copy. */
		if (c->start > 0) {
			buf_consume(&c->in, c->start);
			c->start = 0;
		}

		r = client_wait(c, POLLIN, deadline);
		if (r < 0)
			return r;
		n = read(c->fd, chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		r = buf_append(&c->in, chunk, (size_t)n);
		if (r < 0)
			return -EMSGSIZE;
	}
}

int client_read_reply(struct client *c, int64_t id, int timeout_ms, json_t **ret)
{
	json_t *msg = NULL, *jid;
	int r;

	r = client_read(c, timeout_ms, &msg);
	if (r < 0)
		return r;
	jid = json_object_get(msg, "id");
	if (json_is_integer(jid) && json_integer_value(jid) == id) {
		*ret = msg;
		return 0;
	}
	if ((jid == NULL || json_is_null(jid)) && json_is_false(json_object_get(msg, "ok"))) {
		*ret = msg;
		return 0;
	}
	json_decref(msg);
	return -EPROTO;
}
