/* The doctor op: what a research job needs, checked from inside the daemon
 * (its user, its unit's restrictions): the model endpoints and the served
 * engine, the search backends, the sandbox, the state directory's space.
 * One reply with a list of checks, each ok or with a concrete fix. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "daemon.h"
#include "http.h"
#include "model.h"
#include "ops.h"
#include "pool.h"
#include "protocol.h"
#include "search.h"
#include "server.h"
#include "xmalloc.h"

#define DOCTOR_HTTP_TIMEOUT_MS 5000
#define DOCTOR_SANDBOX_TIMEOUT_MS 20000
#define DOCTOR_MIN_FREE (1LL << 30)	/* a job's sources and snapshots */
#define DOCTOR_MAX_BACKENDS 16

struct doctor;

struct doctor_probe {
	struct doctor *o;
	struct http_request *req;
	char *backend, *url;
	size_t slot;		/* its line in checks */
};

struct doctor {
	struct client *c;	/* NULL once the client went away */
	json_t *id, *checks;
	unsigned pending;
	struct doctor_probe probes[DOCTOR_MAX_BACKENDS];
	unsigned nprobes;
	uv_process_t proc;
	uv_timer_t timer;
	bool proc_open, timer_open;
	size_t sandbox_slot;
};

static void doctor_add(json_t *checks, const char *name, bool ok, const char *detail,
    const char *fix)
{
	json_array_append_new(checks, json_pack("{s:s, s:b, s:s, s:s?}", "name", name, "ok", ok,
	    "detail", detail ? detail : "", "fix", ok ? NULL : fix));
}

static void doctor_set(struct doctor *o, size_t slot, bool ok, const char *detail, const char *fix)
{
	json_t *line = json_array_get(o->checks, slot);

	json_object_set_new(line, "ok", json_boolean(ok));
	json_object_set_new(line, "detail", json_string(detail));
	if (!ok && fix)
		json_object_set_new(line, "fix", json_string(fix));
}

static void doctor_free(struct doctor *o)
{
	for (unsigned i = 0; i < o->nprobes; i++) {
		free(o->probes[i].backend);
		free(o->probes[i].url);
	}
	json_decref(o->id);
	json_decref(o->checks);
	free(o);
}

static void doctor_handle_closed(uv_handle_t *h)
{
	struct doctor *o = h->data;

	if (h == (uv_handle_t *)&o->proc)
		o->proc_open = false;
	else
		o->timer_open = false;
	if (!o->proc_open && !o->timer_open && o->pending == 0)
		doctor_free(o);
}

/* One check came back: the reply goes once all have. */
static void doctor_done_one(struct doctor *o)
{
	json_t *m;

	if (--o->pending > 0)
		return;
	if (o->c) {
		client_set_op(o->c, NULL, NULL);
		m = protocol_reply_new(o->id);
		json_object_set(m, "checks", o->checks);
		client_send(o->c, m);
		json_decref(m);
		client_set_busy(o->c, false);
		o->c = NULL;
	}
	if (!o->proc_open && !o->timer_open)
		doctor_free(o);
}

/* The client went away: stop what can be stopped; the sandbox check is
 * left to end (it is short and bounded by the timer). */
static void doctor_cleanup(void *data)
{
	struct doctor *o = data;

	o->c = NULL;
	for (unsigned i = 0; i < o->nprobes; i++)
		if (o->probes[i].req) {
			http_request_cancel(o->probes[i].req);
			o->probes[i].req = NULL;
			o->pending--;
		}
	if (o->pending == 0 && !o->proc_open && !o->timer_open)
		doctor_free(o);
}

static void doctor_http_done(struct http_request *req, struct http_response *resp, void *ud)
{
	struct doctor_probe *p = ud;
	char detail[512], fix[512];

	p->req = NULL;
	if (resp->error == 0 && resp->status > 0) {
		snprintf(detail, sizeof(detail), "%s answers (HTTP %ld at %s)", p->backend,
		    (long)resp->status, p->url);
		doctor_set(p->o, p->slot, true, detail, NULL);
	} else {
		snprintf(detail, sizeof(detail), "%s: %s does not answer (%s)", p->backend, p->url,
		    strerror(resp->error < 0 ? -resp->error : EIO));
		snprintf(fix, sizeof(fix), "check the network and proxy from this machine, or take %s "
		    "out of [search] backends", p->backend);
		doctor_set(p->o, p->slot, false, detail, fix);
	}
	doctor_done_one(p->o);
}

static void doctor_search(struct doctor *o, struct daemon *d)
{
	const struct config *c = d->config;

	for (size_t i = 0; i < c->search_backends.n; i++) {
		const char *b = c->search_backends.items[i];
		const char *tmpl = d->search ? search_config_url(d->search, b) : NULL;
		struct doctor_probe *p;
		char name[64];
		struct http_options ho = {
			.timeout_ms = DOCTOR_HTTP_TIMEOUT_MS,
			.connect_timeout_ms = DOCTOR_HTTP_TIMEOUT_MS,
			.max_redirects = -1,
			.max_body = 64 * 1024,
		};

		snprintf(name, sizeof(name), "search %s", b);
		if (tmpl == NULL || o->nprobes == DOCTOR_MAX_BACKENDS) {
			/* local: the index is in the store, nothing to reach. */
			doctor_add(o->checks, name, true, !strcmp(b, "local") ?
			    "local index (in the state directory)" : "configured", NULL);
			continue;
		}
		p = &o->probes[o->nprobes++];
		p->o = o;
		p->backend = xstrdup(b);
		p->url = search_url_lang(tmpl, "en");
		p->slot = json_array_size(o->checks);
		doctor_add(o->checks, name, false, "checking", NULL);
		ho.url = p->url;
		o->pending++;
		if (http_request_start(d->http, &ho, doctor_http_done, p, &p->req) < 0) {
			p->req = NULL;
			doctor_set(o, p->slot, false, "the request could not start", "see the daemon's log");
			o->pending--;
		}
	}
}

static void doctor_sandbox_exit(uv_process_t *proc, int64_t status, int term_signal)
{
	struct doctor *o = proc->data;
	char detail[256];

	uv_timer_stop(&o->timer);
	uv_close((uv_handle_t *)&o->timer, doctor_handle_closed);
	if (status == 0 && term_signal == 0)
		doctor_set(o, o->sandbox_slot, true, "researchd-sandbox --check: every way out is blocked", NULL);
	else {
		snprintf(detail, sizeof(detail), "researchd-sandbox --check %s %d", term_signal ?
		    "was killed by signal" : "exited with", term_signal ? term_signal : (int)status);
		doctor_set(o, o->sandbox_slot, false, detail, "run `research sandbox --check` as the "
		    "daemon's user for the details; user namespaces must be allowed (researchd(8))");
	}
	uv_close((uv_handle_t *)proc, doctor_handle_closed);
	doctor_done_one(o);
}

static void doctor_sandbox_timeout(uv_timer_t *t)
{
	struct doctor *o = t->data;

	if (o->proc_open)
		uv_process_kill(&o->proc, SIGKILL);
}

static void doctor_sandbox(struct doctor *o, struct daemon *d)
{
	const char *helper = d->config->sandbox_helper;
	char *args[] = { (char *)helper, "--check", NULL };
	uv_stdio_container_t stdio[3] = {
		{ .flags = UV_IGNORE }, { .flags = UV_IGNORE }, { .flags = UV_IGNORE },
	};
	uv_process_options_t po = {
		.file = helper, .args = args, .exit_cb = doctor_sandbox_exit,
		.stdio = stdio, .stdio_count = 3,
	};
	char detail[512];
	int r;

	o->sandbox_slot = json_array_size(o->checks);
	if (access(helper, X_OK) < 0) {
		snprintf(detail, sizeof(detail), "%s: %s", helper, strerror(errno));
		doctor_add(o->checks, "sandbox", false, detail, "install researchd-sandbox, or set "
		    "[sandbox] helper to its path");
		return;
	}
	doctor_add(o->checks, "sandbox", false, "checking", NULL);
	o->proc.data = o;
	r = uv_spawn(d->loop, &o->proc, &po);
	o->proc_open = true;
	if (r < 0) {
		snprintf(detail, sizeof(detail), "starting %s: %s", helper, uv_strerror(r));
		doctor_set(o, o->sandbox_slot, false, detail, "see the daemon's log");
		uv_close((uv_handle_t *)&o->proc, doctor_handle_closed);
		return;
	}
	o->pending++;
	uv_timer_init(d->loop, &o->timer);
	o->timer.data = o;
	o->timer_open = true;
	uv_timer_start(&o->timer, doctor_sandbox_timeout, DOCTOR_SANDBOX_TIMEOUT_MS, 0);
}

/* The model: what serves or answers, its context and slots; else the fix. */
static void doctor_model(struct doctor *o, struct daemon *d)
{
	json_t *st = model_status(d->model);
	const char *mode = json_string_value(json_object_get(st, "mode"));
	const char *hint = json_string_value(json_object_get(st, "hint"));
	json_t *serve = json_object_get(st, "serve");
	struct llm_endpoint_info info;
	char detail[1024];
	bool any = false;

	if (serve) {
		const char *err = json_string_value(json_object_get(serve, "error"));
		const char *file = json_string_value(json_object_get(serve, "file"));

		if (err)
			doctor_add(o->checks, "engine", false, err, err);
		else {
			const char *engine = json_string_value(json_object_get(serve, "engine"));
			const char *base = engine && strrchr(engine, '/') ? strrchr(engine, '/') + 1 : engine;
			/* llama-server compiles nothing at run time. */
			bool jit = base == NULL || strcmp(base, "llama-server") != 0;
			bool wx = !jit || model_wx_allowed();

			snprintf(detail, sizeof(detail), "%s runs %s", json_string_value(json_object_get(serve,
			    "engine")), file);
			doctor_add(o->checks, "engine", true, detail, NULL);
			doctor_add(o->checks, "engine memory", wx, !jit ? "llama-server needs no "
			    "writable+executable memory" : wx ? "writable+executable memory allowed "
			    "(the engine's JIT needs it)" : "the daemon may not map writable and executable "
			    "memory (systemd MemoryDenyWriteExecute=), which the engine's JIT needs",
			    "copy /usr/share/researchd/researchd.service.d/serve.conf (etc/ in the source) "
			    "to /etc/systemd/system/researchd.service.d/, then "
			    "`systemctl daemon-reload && systemctl restart researchd`");
			if (file && access(file, R_OK) < 0) {
				snprintf(detail, sizeof(detail), "%s: %s", file, strerror(errno));
				doctor_add(o->checks, "model file", false, detail, "the daemon cannot read it: "
				    "the system unit hides home directories (ProtectHome=); put the model in "
				    "the state directory's models/ (`sudo research model pull NAME`)");
			}
		}
	}
	for (unsigned i = 0; llm_pool_endpoint(d->llm, i, &info) == 0; i++) {
		bool up = info.discovered && info.breaker != LLM_BREAKER_OPEN;

		if (!strcmp(mode, "probe") && !info.discovered)
			continue;
		if (up && info.n_ctx > 0)
			snprintf(detail, sizeof(detail), "%s (%s%s%s): context %lld tokens per slot, %d "
			    "slot%s", info.url, info.kind, info.model ? ", " : "", info.model ? info.model : "",
			    (long long)info.n_ctx, info.slots, info.slots == 1 ? "" : "s");
		else
			snprintf(detail, sizeof(detail), "%s (%s): %s", info.url, info.kind, up ?
			    "answers; context unknown (set [llm] context)" : "does not answer");
		doctor_add(o->checks, "model", up, detail, !strcmp(mode, "serve") ?
		    "the engine is not ready: see the daemon's log" :
		    "start the server, or correct [llm] url");
		any = any || up;
	}
	if (!strcmp(mode, "probe") && !any) {
		json_t *probe = json_object_get(st, "probe"), *v;
		size_t i;
		char *p = detail;

		p += snprintf(p, sizeof(detail), "no [llm] url, and nothing answers on");
		json_array_foreach(probe, i, v)
			if (p < detail + sizeof(detail) - 64)
				p += snprintf(p, (size_t)(detail + sizeof(detail) - p), " %s", json_string_value(v));
		doctor_add(o->checks, "model", false, detail, hint);
	} else if (!strcmp(mode, "probe"))
		doctor_add(o->checks, "model pin", true, hint, NULL);
	json_decref(st);
}

static void doctor_state_dir(struct doctor *o, struct daemon *d)
{
	struct statvfs sv;
	char detail[512];
	int64_t free_b;

	if (statvfs(d->config->state_dir, &sv) < 0) {
		snprintf(detail, sizeof(detail), "%s: %s", d->config->state_dir, strerror(errno));
		doctor_add(o->checks, "state dir", false, detail, "create it and give it to the daemon's user");
		return;
	}
	free_b = (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
	snprintf(detail, sizeof(detail), "%s: %lld MiB free", d->config->state_dir,
	    (long long)(free_b >> 20));
	doctor_add(o->checks, "state dir", free_b >= DOCTOR_MIN_FREE, detail,
	    "free at least 1 GiB there (sources and snapshots are stored in it)");
}

void op_doctor(struct client *c, struct protocol_request *req)
{
	struct daemon *d = client_daemon(c);
	struct doctor *o = xcalloc(1, sizeof(*o));
	char detail[128];

	o->c = c;
	o->id = req->id ? json_incref(req->id) : NULL;
	o->checks = json_array();
	snprintf(detail, sizeof(detail), "researchd %s, pid %d", RESEARCHD_VERSION, (int)getpid());
	doctor_add(o->checks, "daemon", true, detail, NULL);
	doctor_model(o, d);
	doctor_search(o, d);
	doctor_sandbox(o, d);
	doctor_state_dir(o, d);
	/* One count of our own, so that the reply goes after every check
	 * started, even when all of them ended already. */
	o->pending++;
	client_set_busy(c, true);
	client_set_op(c, o, doctor_cleanup);
	doctor_done_one(o);
}
