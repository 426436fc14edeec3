/* The socket ops: one table of {name, handler}. Arguments were checked
 * against common/protocol.c's table before a handler runs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buildconf.h"
#include "config.h"
#include "daemon.h"
#include "effect.h"
#include "job.h"
#include "json.h"
#include "log.h"
#include "ops.h"
#include "protocol.h"
#include "research.h"
#include "server.h"
#include "spawn.h"
#include "store.h"
#include "str.h"
#include "xmalloc.h"

#define WATCH_BATCH 512

typedef void (*op_fn)(struct client *c, struct protocol_request *req);

json_t *ops_time(int64_t ms)
{
	char s[32];

	if (ms <= 0)
		return json_null();
	time_format(ms, s);
	return json_string(s);
}

/* A job as the protocol shows it. A queued job whose kind cannot start now
 * says why in "waiting". */
static json_t *ops_job_json(struct daemon *d, const struct store_job *j)
{
	const char *waiting = j->state == JOB_QUEUED ? jobs_waiting_for(d->jobs, j->kind) : NULL;
	json_t *o = json_object();

	json_object_set_new(o, "id", json_integer(j->id));
	json_object_set_new(o, "kind", json_string(j->kind));
	json_object_set_new(o, "state", json_string(job_state_to_string(j->state)));
	json_object_set_new(o, "question", json_string(j->question));
	json_object_set_new(o, "owner", json_integer(j->owner));
	json_object_set_new(o, "created", ops_time(j->created));
	json_object_set_new(o, "updated", ops_time(j->updated));
	json_object_set_new(o, "started", ops_time(j->started));
	json_object_set_new(o, "finished", ops_time(j->finished));
	json_object_set_new(o, "message", j->message ? json_string(j->message) : json_null());
	json_object_set(o, "options", j->options);
	json_object_set(o, "usage", j->usage);
	json_object_set_new(o, "events", json_integer(j->events));
	if (waiting != NULL)
		json_object_set_new(o, "waiting", json_string(waiting));
	if (j->state == JOB_WAITING) {
		const char *what = jobs_job_waiting_for(d->jobs, j->id);

		json_object_set_new(o, "waiting_for", what ? json_string(what) : json_null());
	}
	return o;
}

static bool ops_may_see(struct client *c, const struct store_job *j)
{
	return client_uid(c) == 0 || client_uid(c) == j->owner;
}

/* The job named by "job", if it exists and the client may see it; else the
 * reply is sent. Another user's job is "not found", like a missing one. */
struct store_job *ops_job_get(struct client *c, struct protocol_request *req)
{
	struct daemon *d = client_daemon(c);
	struct store_job *j = NULL;
	int64_t id = 0;
	int r;

	json_get_int(req->root, "job", &id);
	r = store_job_get(d->store, id, &j);
	if (r == 0 && !ops_may_see(c, j)) {
		j = store_job_free(j);
		r = -ENOENT;
	}
	if (r == -ENOENT)
		client_send_error(c, req->id, PROTO_E_NOT_FOUND, "no job %lld", (long long)id);
	else if (r < 0) {
		log_error_errno(r, "reading job %lld: %s", (long long)id, store_errmsg(d->store));
		client_send_error(c, req->id, PROTO_E_INTERNAL, "reading job %lld failed", (long long)id);
	}
	return j;
}

/* {"job": ...} for the request; frees j. */
static void ops_send_job(struct client *c, struct protocol_request *req, struct store_job *j)
{
	json_t *m = protocol_reply_new(req->id);

	json_object_set_new(m, "job", ops_job_json(client_daemon(c), j));
	client_send(c, m);
	json_decref(m);
	store_job_free(j);
}

static void ops_reply_job(struct client *c, struct protocol_request *req, int64_t id)
{
	struct daemon *d = client_daemon(c);
	struct store_job *j = NULL;

	if (store_job_get(d->store, id, &j) < 0) {
		client_send_error(c, req->id, PROTO_E_INTERNAL, "reading job %lld failed", (long long)id);
		return;
	}
	ops_send_job(c, req, j);
}

static void op_ping(struct client *c, struct protocol_request *req)
{
	json_t *m = protocol_reply_new(req->id);

	json_object_set_new(m, "version", json_string(RESEARCHD_VERSION));
	json_object_set_new(m, "protocol", json_integer(PROTOCOL_VERSION));
	json_object_set_new(m, "pid", json_integer(getpid()));
	client_send(c, m);
	json_decref(m);
}

static void op_submit(struct client *c, struct protocol_request *req)
{
	struct daemon *d = client_daemon(c);
	const char *question = NULL, *kind = "research";
	json_t *options = NULL;
	char err[512] = "";
	int64_t id;
	int r;

	json_get_string(req->root, "question", &question);
	json_get_string(req->root, "kind", &kind);
	json_get_object(req->root, "options", &options);
	if (question[strspn(question, " \t\r\n")] == '\0') {
		client_send_error(c, req->id, PROTO_E_BAD_REQUEST, "the question is empty");
		return;
	}
	/* A follow-up: the parent must be a done job this user may see. */
	if (strcmp(kind, "research") == 0 && json_is_integer(json_object_get(options, "parent")) &&
	    json_integer_value(json_object_get(options, "parent")) > 0) {
		r = research_parent_check(d, client_uid(c),
		    json_integer_value(json_object_get(options, "parent")), err, sizeof(err));
		if (r < 0) {
			client_send_error(c, req->id, r == -ENOENT ? PROTO_E_NOT_FOUND :
			    r == -EINVAL ? PROTO_E_BAD_REQUEST : PROTO_E_INTERNAL, "%s", err);
			return;
		}
	}
	r = jobs_submit(d->jobs, client_uid(c), kind, question, options, &id, err, sizeof(err));
	if (r == -EINVAL) {
		client_send_error(c, req->id, PROTO_E_BAD_REQUEST, "%s", err);
		return;
	}
	if (r == -EBUSY) {
		client_send_error(c, req->id, PROTO_E_BUSY, "%s", err);
		return;
	}
	if (r < 0) {
		log_error_errno(r, "submitting a job: %s", store_errmsg(d->store));
		client_send_error(c, req->id, PROTO_E_INTERNAL, "storing the job failed");
		return;
	}
	log_info("job %lld submitted by uid %u", (long long)id, (unsigned)client_uid(c));
	ops_reply_job(c, req, id);
}

struct ops_list {
	struct client *c;
	json_t *id;
	int64_t count;
};

static int ops_list_one(const struct store_job *j, void *userdata)
{
	struct ops_list *l = userdata;
	json_t *m = protocol_reply_new(l->id);
	bool ok;

	json_object_set_new(m, "job", ops_job_json(client_daemon(l->c), j));
	ok = client_send(l->c, m);
	json_decref(m);
	l->count++;
	return ok ? 0 : -EPIPE;
}

static void op_list(struct client *c, struct protocol_request *req)
{
	struct daemon *d = client_daemon(c);
	struct ops_list l = { .c = c, .id = req->id };
	const char *state_name = NULL;
	enum job_state state;
	int64_t limit = 1000;
	bool all = false;
	uid_t owner = client_uid(c);
	int r;

	json_get_int(req->root, "limit", &limit);
	json_get_bool(req->root, "all", &all);
	if (json_get_string(req->root, "state", &state_name) == 0 &&
	    job_state_from_string(state_name, &state) < 0) {
		client_send_error(c, req->id, PROTO_E_BAD_REQUEST, "unknown state \"%s\" (queued, "
		    "running, paused, done, failed, cancelled)", state_name);
		return;
	}
	if (all && owner == 0)
		owner = (uid_t)-1;
	r = store_job_list(d->store, owner, state_name ? (int)state : -1, limit, ops_list_one, &l);
	if (r == -EPIPE)
		return;
	if (r < 0) {
		log_error_errno(r, "listing jobs: %s", store_errmsg(d->store));
		client_send_error(c, req->id, PROTO_E_INTERNAL, "listing jobs failed");
		return;
	}
	ops_send_end(c, req->id, l.count);
}

void ops_send_end(struct client *c, json_t *id, int64_t count)
{
	json_t *m = protocol_reply_new(id);

	json_object_set_new(m, "end", json_true());
	json_object_set_new(m, "count", json_integer(count));
	client_send(c, m);
	json_decref(m);
}

static void op_status(struct client *c, struct protocol_request *req)
{
	struct store_job *j = ops_job_get(c, req);

	if (j == NULL)
		return;
	ops_send_job(c, req, j);
}

static void ops_change(struct client *c, struct protocol_request *req,
    int (*change)(struct jobs *, int64_t), const char *verb)
{
	struct daemon *d = client_daemon(c);
	struct store_job *j = ops_job_get(c, req);
	int64_t id;
	int r;

	if (j == NULL)
		return;
	id = j->id;
	r = change(d->jobs, id);
	if (r == -EBUSY && j->state == JOB_WAITING) {
		const char *what = jobs_job_waiting_for(d->jobs, id);

		/* Not paused: it goes on when its input comes. */
		client_send_error(c, req->id, PROTO_E_BAD_STATE, "job %lld is waiting for %s; it "
		    "cannot be %s: %s, or cancel or finish it", (long long)id,
		    what && strcmp(what, "approval") == 0 ? "its plan to be approved" : "an answer",
		    verb, what && strcmp(what, "approval") == 0 ?
		    "approve it (research approve ID [--plan FILE])" :
		    "answer it (research answer ID TEXT... or --skip)");
	} else if (r == -EBUSY)
		client_send_error(c, req->id, PROTO_E_BAD_STATE, "job %lld is %s; it cannot be %s",
		    (long long)id, job_state_to_string(j->state), verb);
	else if (r < 0) {
		log_error_errno(r, "job %lld: %s: %s", (long long)id, verb, store_errmsg(d->store));
		client_send_error(c, req->id, PROTO_E_INTERNAL, "job %lld could not be %s",
		    (long long)id, verb);
	} else {
		log_info("job %lld %s by uid %u", (long long)id, verb, (unsigned)client_uid(c));
		ops_reply_job(c, req, id);
	}
	store_job_free(j);
}

static int ops_cancel_job(struct jobs *j, int64_t id)
{
	return jobs_cancel(j, id, "cancelled by its owner");
}

static void op_cancel(struct client *c, struct protocol_request *req)
{
	ops_change(c, req, ops_cancel_job, "cancelled");
}

static void op_pause(struct client *c, struct protocol_request *req)
{
	ops_change(c, req, jobs_pause, "paused");
}

static void op_resume(struct client *c, struct protocol_request *req)
{
	ops_change(c, req, jobs_resume, "resumed");
}

/* Unlike cancel, the job keeps what it has: it stops researching and
 * writes its report. Kinds without a write-up cannot be finished. */
static void op_finish(struct client *c, struct protocol_request *req)
{
	struct daemon *d = client_daemon(c);
	struct store_job *j = ops_job_get(c, req);
	int r;

	if (j == NULL)
		return;
	r = jobs_finish(d->jobs, j->id);
	if (r == -EBUSY)
		client_send_error(c, req->id, PROTO_E_BAD_STATE, "job %lld is %s; only a queued, "
		    "running, paused or waiting job can be finished", (long long)j->id,
		    job_state_to_string(j->state));
	else if (r == -ENOTSUP)
		client_send_error(c, req->id, PROTO_E_BAD_REQUEST, "job %lld is a %s job, which has "
		    "no report to write early; cancel it instead", (long long)j->id, j->kind);
	else if (r == -ENOENT)
		client_send_error(c, req->id, PROTO_E_NOT_FOUND, "no job %lld", (long long)j->id);
	else if (r < 0) {
		log_error_errno(r, "job %lld: finish: %s", (long long)j->id, store_errmsg(d->store));
		client_send_error(c, req->id, PROTO_E_INTERNAL, "job %lld could not be finished",
		    (long long)j->id);
	} else {
		log_info("job %lld asked to finish by uid %u", (long long)j->id,
		    (unsigned)client_uid(c));
		ops_reply_job(c, req, j->id);
	}
	store_job_free(j);
}

/* A person's input to a waiting job (answer, approve) or a look at its
 * plan: handed to the job's runner, which records it as the job's input. */
static void op_input(struct client *c, struct protocol_request *req)
{
	struct daemon *d = client_daemon(c);
	struct store_job *j = ops_job_get(c, req);
	json_t *data = NULL, *m;
	char err[256] = "";
	int r;

	if (j == NULL)
		return;
	r = jobs_input(d->jobs, j->id, req->op->name, req->root, &data, err, sizeof(err));
	if (r == -EINVAL)
		client_send_error(c, req->id, PROTO_E_BAD_REQUEST, "%s", err);
	else if (r == -EBUSY)
		client_send_error(c, req->id, PROTO_E_BAD_STATE, "job %lld is %s: %s", (long long)j->id,
		    job_state_to_string(j->state), err[0] ? err : "it takes no input now");
	else if (r == -ENOTSUP)
		client_send_error(c, req->id, PROTO_E_BAD_REQUEST, "job %lld is a %s job, which "
		    "takes no input", (long long)j->id, j->kind);
	else if (r < 0) {
		log_error_errno(r, "job %lld: %s: %s", (long long)j->id, req->op->name,
		    store_errmsg(d->store));
		client_send_error(c, req->id, PROTO_E_INTERNAL, "job %lld: %s failed", (long long)j->id,
		    req->op->name);
	} else if (data) {
		m = protocol_reply_new(req->id);
		json_object_update(m, data);
		client_send(c, m);
		json_decref(m);
	} else {
		log_info("job %lld: %s by uid %u", (long long)j->id, req->op->name,
		    (unsigned)client_uid(c));
		ops_reply_job(c, req, j->id);
	}
	json_decref(data);
	store_job_free(j);
}

/* A watch in progress: the client is busy until its end marker. */
struct ops_watch {
	struct client *c;
	json_t *id;
	int64_t job_id;
	int64_t last_seq;
	bool follow;
	struct job_watch *w;
	bool pumping, again, dead;
};

static void ops_watch_cleanup(void *data)
{
	struct ops_watch *w = data;

	/* The client went away while we were sending to it: the pump frees. */
	if (w->pumping) {
		w->dead = true;
		return;
	}
	job_watch_free(w->w);
	if (w->id)
		json_decref(w->id);
	free(w);
}

static int ops_watch_send(const struct store_event *e, void *userdata)
{
	struct ops_watch *w = userdata;
	json_t *m = protocol_reply_new(w->id), *ev, *data;
	char stamp[32];
	bool ok;

	time_format(e->time, stamp);
	data = json_loads(e->data, JSON_DECODE_ANY, NULL);
	ev = json_pack("{s:I, s:s, s:s, s:o}", "seq", (json_int_t)e->seq, "time", stamp,
	    "type", e->type, "data", data ? data : json_object());
	json_object_set_new(m, "event", ev);
	ok = client_send(w->c, m);
	json_decref(m);
	w->last_seq = e->seq;
	return ok ? 0 : -EPIPE;
}

/* Send what is new; end the watch once the job is final. */
static void ops_watch_pump(struct ops_watch *w)
{
	struct daemon *d = client_daemon(w->c);
	struct client *c = w->c;
	struct store_job *j = NULL;
	int64_t before;
	json_t *m;
	int r;

	if (w->pumping) {
		w->again = true;
		return;
	}
	w->pumping = true;
	do {
		w->again = false;
		do {
			before = w->last_seq;
			r = store_event_list(d->store, w->job_id, w->last_seq, WATCH_BATCH, ops_watch_send, w);
		} while (r == 0 && w->last_seq - before == WATCH_BATCH);
	} while (w->again && !w->dead);
	w->pumping = false;
	if (w->dead || r == -EPIPE) {
		/* The client is gone (its cleanup ran, or runs when it closes). */
		if (w->dead)
			ops_watch_cleanup(w);
		return;
	}
	if (r < 0 || store_job_get(d->store, w->job_id, &j) < 0) {
		client_set_op(c, NULL, NULL);
		client_send_error(c, w->id, PROTO_E_INTERNAL, "reading job %lld failed",
		    (long long)w->job_id);
		ops_watch_cleanup(w);
		client_set_busy(c, false);
		return;
	}
	if (job_state_is_final(j->state) || !w->follow) {
		m = protocol_reply_new(w->id);
		json_object_set_new(m, "end", json_true());
		json_object_set_new(m, "job", ops_job_json(d, j));
		client_set_op(c, NULL, NULL);
		client_send(c, m);
		json_decref(m);
		ops_watch_cleanup(w);
		client_set_busy(c, false);
	}
	store_job_free(j);
}

static void ops_watch_cb(struct job_watch *jw, int64_t job_id, void *userdata)
{
	ops_watch_pump(userdata);
}

static void op_watch(struct client *c, struct protocol_request *req)
{
	struct daemon *d = client_daemon(c);
	struct store_job *j = ops_job_get(c, req);
	struct ops_watch *w;
	int64_t since = 0;
	bool follow = true;

	if (j == NULL)
		return;
	json_get_int(req->root, "since", &since);
	json_get_bool(req->root, "follow", &follow);
	w = xcalloc(1, sizeof(*w));
	w->c = c;
	w->id = req->id ? json_incref(req->id) : NULL;
	w->job_id = j->id;
	w->last_seq = since;
	w->follow = follow;
	store_job_free(j);
	if (follow) {
		w->w = jobs_watch(d->jobs, w->job_id, ops_watch_cb, w);
		if (w->w == NULL) {
			client_send_error(c, req->id, PROTO_E_BUSY, "too many watchers; try again later");
			ops_watch_cleanup(w);
			return;
		}
	}
	client_set_busy(c, true);
	client_set_ends_at_eof(c);
	client_set_op(c, w, ops_watch_cleanup);
	ops_watch_pump(w);
}

static void op_report(struct client *c, struct protocol_request *req)
{
	struct daemon *d = client_daemon(c);
	struct store_job *j = ops_job_get(c, req);
	const char *format = "markdown";
	char *body = NULL;
	json_t *m;
	int r;

	if (j == NULL)
		return;
	json_get_string(req->root, "format", &format);
	if (strcmp(format, "markdown") != 0 && strcmp(format, "json") != 0 &&
	    strcmp(format, "manifest") != 0) {
		client_send_error(c, req->id, PROTO_E_BAD_REQUEST,
		    "unknown report format \"%s\" (markdown, json, manifest)", format);
		goto out;
	}
	r = store_report_get(d->store, j->id, format, &body);
	if (r == -ENOENT && strcmp(format, "manifest") == 0 && job_state_is_final(j->state)) {
		client_send_error(c, req->id, PROTO_E_NOT_FOUND, "job %lld's report has no signed "
		    "manifest", (long long)j->id);
		goto out;
	}
	if (r == -ENOENT) {
		client_send_error(c, req->id, PROTO_E_NOT_READY, "job %lld has no report yet (it is %s)",
		    (long long)j->id, job_state_to_string(j->state));
		goto out;
	}
	if (r < 0) {
		client_send_error(c, req->id, PROTO_E_INTERNAL, "reading the report failed");
		goto out;
	}
	m = protocol_reply_new(req->id);
	json_object_set_new(m, "report", json_pack("{s:I, s:s, s:s}", "job", (json_int_t)j->id,
	    "format", format, "body", body));
	client_send(c, m);
	json_decref(m);
out:
	free(body);
	store_job_free(j);
}

static void op_stats(struct client *c, struct protocol_request *req)
{
	struct daemon *d = client_daemon(c);
	struct effects_stats es;
	int64_t counts[_JOB_STATE_MAX];
	json_t *m, *stats, *jobs;

	jobs_counts(d->jobs, counts);
	jobs = json_object();
	for (int i = 0; i < _JOB_STATE_MAX; i++)
		json_object_set_new(jobs, job_state_to_string((enum job_state)i), json_integer(counts[i]));
	effects_get_stats(d->effects, &es);
	stats = json_pack("{s:s, s:i, s:I, s:o, s:i, s:{s:I, s:I, s:I, s:I, s:i}, s:I}",
	    "version", RESEARCHD_VERSION,
	    "pid", (int)getpid(),
	    "uptime_s", (json_int_t)((time_now_ms() - d->start_ms) / 1000),
	    "jobs", jobs,
	    "clients", (int)server_clients(d->server),
	    "effects", "run", (json_int_t)es.run, "replayed", (json_int_t)es.replayed,
	    "shared", (json_int_t)es.shared, "failed", (json_int_t)es.failed,
	    "in_flight", (int)effects_in_flight(d->effects),
	    "db_bytes", (json_int_t)store_db_bytes(d->store));
	if (d->spawn)
		json_object_set_new(stats, "llm_server", spawn_status(d->spawn));
	m = protocol_reply_new(req->id);
	json_object_set_new(m, "stats", stats);
	client_send(c, m);
	json_decref(m);
}

/* Indexed by the protocol's op enum; an op without an entry is answered
 * unknown_op, and the unit tests check that none is missing. */
static const op_fn ops_handlers[_OP_MAX] = {
	[OP_PING] = op_ping,
	[OP_SUBMIT] = op_submit,
	[OP_LIST] = op_list,
	[OP_STATUS] = op_status,
	[OP_CANCEL] = op_cancel,
	[OP_PAUSE] = op_pause,
	[OP_RESUME] = op_resume,
	[OP_FINISH] = op_finish,
	[OP_ANSWER] = op_input,
	[OP_PLAN] = op_input,
	[OP_APPROVE] = op_input,
	[OP_WATCH] = op_watch,
	[OP_REPORT] = op_report,
	[OP_STATS] = op_stats,
	[OP_FETCH] = op_fetch,
	[OP_SOURCES] = op_sources,
	[OP_INDEX_ADD] = op_index_add,
	[OP_SEARCH] = op_search,
	[OP_LLM] = op_llm,
	[OP_TRACE] = op_trace,
	[OP_PUBKEY] = op_pubkey,
	[OP_SOURCE_TEXT] = op_source_text,
	[OP_VERIFY_EVENTS] = op_verify_events,
	[OP_DOCTOR] = op_doctor,
};

bool ops_handled(enum protocol_op_id id)
{
	return (unsigned)id < _OP_MAX && ops_handlers[id] != NULL;
}

void ops_dispatch(struct client *c, struct protocol_request *req)
{
	if (!ops_handled(req->op->id)) {
		client_send_error(c, req->id, PROTO_E_UNKNOWN_OP, "op \"%s\" is not served by this daemon",
		    req->op->name);
		return;
	}
	ops_handlers[req->op->id](c, req);
}
