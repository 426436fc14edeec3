/* The supervised model server (see spawn.h). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "daemon.h"
#include "http.h"
#include "log.h"
#include "spawn.h"
#include "str.h"
#include "xmalloc.h"

enum spawn_state {
	SPAWN_STARTING,		/* running, /health not yet 200 */
	SPAWN_READY,
	SPAWN_BACKOFF,		/* died; waiting to start again */
	SPAWN_STOPPING,
	SPAWN_STOPPED,
};

static const char *const spawn_state_names[] = {
	"starting", "ready", "backoff", "stopping", "stopped",
};

struct spawn {
	struct daemon *d;
	char **argv;
	char *health_url;
	uv_process_t proc;
	bool proc_open;		/* proc is a handle not yet closed */
	unsigned handles;	/* open handles; s is freed when the last closes */
	uv_timer_t timer;	/* health polls and restart backoff */
	struct http_request *health;
	enum spawn_state state;
	int pid;
	unsigned restarts;
	int64_t backoff_ms;
	int64_t started_ms;
};

void spawn_argv_free(char **argv)
{
	if (argv == NULL)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

int spawn_split(const char *cmd, char ***ret_argv)
{
	char **argv = xcalloc(SPAWN_MAX_ARGS + 1, sizeof(char *));
	struct buf w;
	size_t n = 0;
	const char *p = cmd;
	int r = 0;

	buf_init(&w, 64 * 1024);
	while (*p) {
		bool quoted = false, word = false;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		buf_reset(&w);
		while (*p && (quoted || (*p != ' ' && *p != '\t'))) {
			if (*p == '"') {
				quoted = !quoted;
				word = true;
				p++;
				continue;
			}
			if (quoted && *p == '\\' && p[1]) {
				p++;
			}
			if (buf_putc(&w, *p++) < 0) {
				r = -E2BIG;
				goto fail;
			}
			word = true;
		}
		if (quoted) {
			r = -EINVAL;
			goto fail;
		}
		if (word) {
			if (n == SPAWN_MAX_ARGS) {
				r = -E2BIG;
				goto fail;
			}
			argv[n++] = xstrdup(w.data ? w.data : "");
		}
	}
	if (n == 0) {
		r = -EINVAL;
		goto fail;
	}
	buf_free(&w);
	*ret_argv = argv;
	return 0;
fail:
	buf_free(&w);
	spawn_argv_free(argv);
	return r;
}

static void spawn_start(struct spawn *s);

static void spawn_timer_cb(uv_timer_t *t);

static void spawn_health_done(struct http_request *req, struct http_response *resp, void *ud)
{
	struct spawn *s = ud;

	s->health = NULL;
	if (s->state != SPAWN_STARTING)
		return;
	if (resp->status == 200) {
		s->state = SPAWN_READY;
		log_info("model server (pid %d) is ready after %lld ms", s->pid,
		    (long long)(time_mono_ms() - s->started_ms));
		uv_timer_stop(&s->timer);
		return;
	}
	uv_timer_start(&s->timer, spawn_timer_cb, SPAWN_HEALTH_EVERY_MS, 0);
}

static void spawn_timer_cb(uv_timer_t *t)
{
	struct spawn *s = t->data;
	struct http_options o = {
		.url = s->health_url,
		.timeout_ms = 2000,
		.connect_timeout_ms = 1000,
		.max_redirects = -1,
	};

	if (s->state == SPAWN_BACKOFF) {
		spawn_start(s);
		return;
	}
	if (s->state != SPAWN_STARTING || s->health != NULL)
		return;
	if (http_request_start(s->d->http, &o, spawn_health_done, s, &s->health) < 0) {
		s->health = NULL;
		uv_timer_start(&s->timer, spawn_timer_cb, SPAWN_HEALTH_EVERY_MS, 0);
	}
}

static void spawn_unref(struct spawn *s)
{
	if (--s->handles == 0 && s->state == SPAWN_STOPPED)
		free(s);
}

static void spawn_handle_closed(uv_handle_t *h)
{
	spawn_unref(h->data);
}

static void spawn_proc_close(struct spawn *s)
{
	if (!s->proc_open)
		return;
	s->proc_open = false;
	uv_close((uv_handle_t *)&s->proc, spawn_handle_closed);
}

static void spawn_exit_cb(uv_process_t *p, int64_t status, int term_signal)
{
	struct spawn *s = p->data;
	int64_t ran = time_mono_ms() - s->started_ms;

	if (s->health) {
		http_request_cancel(s->health);
		s->health = NULL;
	}
	spawn_proc_close(s);
	if (s->state == SPAWN_STOPPING || s->state == SPAWN_STOPPED) {
		log_info("model server (pid %d) stopped", s->pid);
		s->pid = 0;
		return;
	}
	/* A server that ran for a good while earns a quick restart again. */
	if (ran > SPAWN_BACKOFF_MAX_MS)
		s->backoff_ms = SPAWN_BACKOFF_MIN_MS;
	log_warnx("model server (pid %d) %s %d after %lld ms; starting it again in %lld ms",
	    s->pid, term_signal ? "was killed by signal" : "exited with status",
	    term_signal ? term_signal : (int)status, (long long)ran, (long long)s->backoff_ms);
	s->pid = 0;
	s->state = SPAWN_BACKOFF;
	uv_timer_start(&s->timer, spawn_timer_cb, (uint64_t)s->backoff_ms, 0);
	s->backoff_ms = s->backoff_ms * 2 > SPAWN_BACKOFF_MAX_MS ? SPAWN_BACKOFF_MAX_MS : s->backoff_ms * 2;
}

static void spawn_start(struct spawn *s)
{
	uv_stdio_container_t stdio[3] = {
		{ .flags = UV_IGNORE },
		{ .flags = UV_INHERIT_FD, .data.fd = 2 },	/* its output joins our log */
		{ .flags = UV_INHERIT_FD, .data.fd = 2 },
	};
	uv_process_options_t o = {
		.file = s->argv[0],
		.args = s->argv,
		.exit_cb = spawn_exit_cb,
		.stdio = stdio,
		.stdio_count = 3,
	};
	int r;

	s->proc.data = s;
	r = uv_spawn(s->d->loop, &s->proc, &o);
	s->started_ms = time_mono_ms();
	/* uv_spawn initialises the handle even when it fails. */
	s->proc_open = true;
	s->handles++;
	if (r < 0) {
		spawn_proc_close(s);
		log_warnx("starting the model server %s: %s; trying again in %lld ms", s->argv[0],
		    uv_strerror(r), (long long)s->backoff_ms);
		s->state = SPAWN_BACKOFF;
		uv_timer_start(&s->timer, spawn_timer_cb, (uint64_t)s->backoff_ms, 0);
		s->backoff_ms = s->backoff_ms * 2 > SPAWN_BACKOFF_MAX_MS ? SPAWN_BACKOFF_MAX_MS : s->backoff_ms * 2;
		return;
	}
	s->pid = s->proc.pid;
	if (s->restarts++ > 0)
		log_info("model server started again (pid %d, restart %u)", s->pid, s->restarts - 1);
	else
		log_info("model server started (pid %d): %s", s->pid, s->argv[0]);
	s->state = SPAWN_STARTING;
	uv_timer_start(&s->timer, spawn_timer_cb, SPAWN_HEALTH_EVERY_MS / 5, 0);
}

static int spawn_take(struct daemon *d, char **argv, const char *health_url, struct spawn **ret)
{
	struct spawn *s;

	s = xcalloc(1, sizeof(*s));
	s->d = d;
	s->argv = argv;
	s->health_url = xstrdup(health_url);
	s->backoff_ms = SPAWN_BACKOFF_MIN_MS;
	uv_timer_init(d->loop, &s->timer);
	s->timer.data = s;
	s->handles = 1;
	spawn_start(s);
	*ret = s;
	return 0;
}

int spawn_new(struct daemon *d, const char *cmd, const char *health_url, struct spawn **ret)
{
	char **argv = NULL;
	int r;

	r = spawn_split(cmd, &argv);
	if (r < 0)
		return r;
	return spawn_take(d, argv, health_url, ret);
}

int spawn_new_argv(struct daemon *d, char *const *argv, const char *health_url, struct spawn **ret)
{
	char **copy;
	size_t n = 0;

	while (argv[n])
		n++;
	if (n == 0 || n > SPAWN_MAX_ARGS)
		return n == 0 ? -EINVAL : -E2BIG;
	copy = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		copy[i] = xstrdup(argv[i]);
	return spawn_take(d, copy, health_url, ret);
}

void spawn_stop(struct spawn *s)
{
	if (s == NULL || s->state == SPAWN_STOPPING || s->state == SPAWN_STOPPED)
		return;
	s->state = SPAWN_STOPPING;
	uv_timer_stop(&s->timer);
	if (s->health) {
		http_request_cancel(s->health);
		s->health = NULL;
	}
	if (s->pid > 0)
		uv_process_kill(&s->proc, SIGTERM);
}

struct spawn *spawn_free(struct spawn *s)
{
	if (s == NULL)
		return NULL;
	spawn_stop(s);
	if (s->pid > 0) {
		log_warnx("model server (pid %d) did not stop; killing it", s->pid);
		uv_process_kill(&s->proc, SIGKILL);
	}
	s->state = SPAWN_STOPPED;
	spawn_argv_free(s->argv);
	s->argv = NULL;
	free(s->health_url);
	s->health_url = NULL;
	/* The daemon is exiting: no need to wait for the exit to be reaped. */
	spawn_proc_close(s);
	uv_close((uv_handle_t *)&s->timer, spawn_handle_closed);
	return NULL;
}

json_t *spawn_status(const struct spawn *s)
{
	return json_pack("{s:i, s:s, s:i, s:b}", "pid", s->pid,
	    "state", spawn_state_names[s->state], "restarts", s->restarts ? (int)s->restarts - 1 : 0,
	    "ready", s->state == SPAWN_READY);
}
