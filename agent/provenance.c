/* Provenance in the daemon: the signing key's file, the manifest written
 * when a report is published, and the ops that let a client check a report
 * (pubkey, source_text, verify_events). */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdatomic.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "json.h"
#include "log.h"
#include "manifest.h"
#include "ops.h"
#include "provenance.h"
#include "server.h"
#include "sign.h"
#include "spawn.h"
#include "store.h"
#include "xmalloc.h"

/* A source text sent whole in one reply line: the planner reads at most
 * 4 MiB of a source, and escaping must stay under the write queue's cap. */
#define PROVENANCE_MAX_TEXT (4 * 1024 * 1024)

int provenance_key_open(const char *state_dir, struct sign_key **ret, int *ret_created)
{
	char *path = xasprintf("%s/%s", state_dir, PROVENANCE_KEY_FILE);
	int r;

	r = sign_key_open(path, ret, ret_created);
	free(path);
	return r;
}

/* ---- the served model file ----------------------------------------- */

#define PROVENANCE_HASH_CHUNK (1024 * 1024)

struct provenance_hash {
	uv_work_t w;
	struct daemon *d;
	char *path;
	uint8_t hash[HASH_BYTES];
	int64_t bytes;
	int r;
};

static atomic_bool provenance_model_stopping;

/* The argument after -m or --model (or --model=PATH) of the command. */
static char *provenance_model_path(const char *cmd)
{
	char **argv = NULL, *path = NULL;

	if (spawn_split(cmd, &argv) < 0)
		return NULL;
	for (size_t i = 1; argv[i] && path == NULL; i++) {
		if ((strcmp(argv[i], "-m") == 0 || strcmp(argv[i], "--model") == 0) && argv[i + 1])
			path = xstrdup(argv[i + 1]);
		else if (strncmp(argv[i], "--model=", 8) == 0)
			path = xstrdup(argv[i] + 8);
	}
	spawn_argv_free(argv);
	return path;
}

/* On the thread pool: a model file is gigabytes, never read on the loop. */
static void provenance_hash_work(uv_work_t *w)
{
	struct provenance_hash *h = w->data;
	crypto_generichash_state st;
	uint8_t *chunk = xmalloc(PROVENANCE_HASH_CHUNK);
	int fd;

	fd = open(h->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		h->r = -errno;
		free(chunk);
		return;
	}
	crypto_generichash_init(&st, NULL, 0, HASH_BYTES);
	for (;;) {
		ssize_t n = read(fd, chunk, PROVENANCE_HASH_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			h->r = -errno;
			break;
		}
		if (n == 0)
			break;
		if (atomic_load(&provenance_model_stopping)) {
			h->r = -ECANCELED;
			break;
		}
		crypto_generichash_update(&st, chunk, (size_t)n);
		h->bytes += n;
	}
	close(fd);
	free(chunk);
	if (h->r == 0)
		crypto_generichash_final(&st, h->hash, HASH_BYTES);
}

static void provenance_hash_done(uv_work_t *w, int status)
{
	struct provenance_hash *h = w->data;
	char hex[HASH_HEX_LEN + 1];

	if (status == 0 && h->r == 0) {
		hash_hex(h->hash, hex);
		json_decref(h->d->served_model);
		h->d->served_model = json_pack("{s:s, s:s, s:I}", "path", h->path, "blake2b", hex,
		    "bytes", (json_int_t)h->bytes);
		log_info("served model %s: BLAKE2b %s (%lld bytes)", h->path, hex, (long long)h->bytes);
	} else if (h->r != -ECANCELED)
		log_warn_errno(h->r ? h->r : status, "hashing the served model %s; manifests will "
		    "not name it", h->path);
	free(h->path);
	free(h);
}

void provenance_model_start(struct daemon *d)
{
	struct provenance_hash *h;
	char *path;

	if (d->config->llm_spawn == NULL)
		return;
	path = provenance_model_path(d->config->llm_spawn);
	if (path == NULL) {
		log_info("[llm] spawn names no model file (-m or --model): manifests will not name one");
		return;
	}
	h = xcalloc(1, sizeof(*h));
	h->d = d;
	h->path = path;
	h->w.data = h;
	atomic_store(&provenance_model_stopping, false);
	if (uv_queue_work(d->loop, &h->w, provenance_hash_work, provenance_hash_done) < 0) {
		free(h->path);
		free(h);
	}
}

void provenance_model_stop(void)
{
	atomic_store(&provenance_model_stopping, true);
}

/* ---- the manifest ---------------------------------------------------- */

int provenance_publish(struct daemon *d, const struct store_job *job, const char *md,
    const char *sidecar, const json_t *data, int64_t now_ms)
{
	struct manifest_job mj = { .id = job->id, .question = job->question, .options = job->options,
		.served_model = d->served_model };
	json_t *m = NULL;
	char *text;
	int r;

	if (d->key == NULL)
		return 0;
	r = manifest_build(&mj, data, md, strlen(md), sidecar, strlen(sidecar), now_ms, &m);
	if (r < 0)
		return r;
	manifest_sign(m, d->key);
	text = json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(m);
	if (text == NULL)
		return -ENOMEM;
	r = store_report_put(d->store, job->id, "manifest", text, now_ms);
	free(text);
	return r;
}

void op_pubkey(struct client *c, struct protocol_request *req)
{
	struct daemon *d = client_daemon(c);
	uint8_t pk[SIGN_PUBLIC_BYTES];
	char hex[SIGN_PUBLIC_HEX_LEN + 1], id[SIGN_KEY_ID_LEN + 1];
	json_t *m;

	if (d->key == NULL) {
		client_send_error(c, req->id, PROTO_E_INTERNAL, "this daemon has no signing key");
		return;
	}
	sign_key_public(d->key, pk);
	sign_key_public_hex(d->key, hex);
	sign_key_id(pk, id);
	m = protocol_reply_new(req->id);
	json_object_set_new(m, "pubkey", json_pack("{s:s, s:s, s:s}", "algorithm", "ed25519",
	    "key", hex, "key_id", id));
	client_send(c, m);
	json_decref(m);
}

/* Does the job's sidecar name a source with this text? Only then is the
 * text the job's to show. */
static bool provenance_job_has_text(struct store *s, int64_t job_id, const char *text_hash)
{
	json_t *data, *src, *v;
	char *body = NULL;
	bool found = false;
	size_t i;

	if (store_report_get(s, job_id, "json", &body) < 0)
		return false;
	data = json_loads(body, 0, NULL);
	free(body);
	src = json_object_get(data, "sources");
	json_array_foreach(src, i, v) {
		const char *th = NULL;

		if (json_get_string(v, "text_hash", &th) == 0 && strcmp(th, text_hash) == 0)
			found = true;
	}
	json_decref(data);
	return found;
}

void op_source_text(struct client *c, struct protocol_request *req)
{
	struct daemon *d = client_daemon(c);
	struct store_job *j = ops_job_get(c, req);
	const char *th = NULL;
	uint8_t h[HASH_BYTES];
	char *text = NULL;
	size_t n = 0, len = 0;
	json_t *m, *body;
	int r;

	if (j == NULL)
		return;
	json_get_string(req->root, "text_hash", &th);
	if (sodium_hex2bin(h, sizeof(h), th, HASH_HEX_LEN, NULL, &n, NULL) != 0 || n != HASH_BYTES) {
		client_send_error(c, req->id, PROTO_E_BAD_REQUEST, "text_hash must be 64 hex digits");
		goto out;
	}
	if (!provenance_job_has_text(d->store, j->id, th)) {
		client_send_error(c, req->id, PROTO_E_NOT_FOUND, "job %lld has no source text %.64s",
		    (long long)j->id, th);
		goto out;
	}
	r = store_snapshot_get(d->store, h, PROVENANCE_MAX_TEXT, &text, &len);
	if (r == -ENOENT) {
		client_send_error(c, req->id, PROTO_E_NOT_FOUND, "the text %.64s is no longer stored", th);
		goto out;
	}
	if (r == -EFBIG) {
		client_send_error(c, req->id, PROTO_E_FAILED, "the text %.64s is over %d bytes",
		    th, PROVENANCE_MAX_TEXT);
		goto out;
	}
	if (r < 0) {
		log_error_errno(r, "reading text %.64s: %s", th, store_errmsg(d->store));
		client_send_error(c, req->id, PROTO_E_INTERNAL, "reading the text failed");
		goto out;
	}
	/* The text is stored as extracted; one that is not UTF-8 cannot go in
	 * a JSON string and the client is told so. */
	body = json_stringn(text, len);
	if (body == NULL) {
		client_send_error(c, req->id, PROTO_E_INTERNAL, "the text %.64s is not valid UTF-8", th);
		goto out;
	}
	m = protocol_reply_new(req->id);
	json_object_set_new(m, "text", json_pack("{s:I, s:s, s:o}", "job", (json_int_t)j->id,
	    "text_hash", th, "body", body));
	client_send(c, m);
	json_decref(m);
out:
	free(text);
	store_job_free(j);
}

struct provenance_event {
	int64_t seq, time;
	char *type;
};

static int provenance_event_one(const struct store_event *e, void *userdata)
{
	struct provenance_event *pe = userdata;

	pe->seq = e->seq;
	pe->time = e->time;
	pe->type = xstrdup(e->type);
	return 0;
}

void op_verify_events(struct client *c, struct protocol_request *req)
{
	struct daemon *d = client_daemon(c);
	struct store_job *j = ops_job_get(c, req);
	struct provenance_event bad = { 0 };
	int64_t bad_seq = 0;
	json_t *m, *chain;
	int r;

	if (j == NULL)
		return;
	r = store_event_verify(d->store, j->id, &bad_seq);
	if (r < 0 && r != -EBADMSG) {
		log_error_errno(r, "verifying job %lld's events: %s", (long long)j->id,
		    store_errmsg(d->store));
		client_send_error(c, req->id, PROTO_E_INTERNAL, "reading job %lld's events failed",
		    (long long)j->id);
		store_job_free(j);
		return;
	}
	chain = json_pack("{s:I, s:I, s:b}", "job", (json_int_t)j->id, "events",
	    (json_int_t)j->events, "intact", r == 0);
	if (r == -EBADMSG) {
		store_event_list(d->store, j->id, bad_seq - 1, 1, provenance_event_one, &bad);
		json_object_set_new(chain, "first_bad", json_pack("{s:I, s:s?, s:o}", "seq",
		    (json_int_t)bad_seq, "type", bad.type, "time", ops_time(bad.time)));
		free(bad.type);
	}
	m = protocol_reply_new(req->id);
	json_object_set_new(m, "chain", chain);
	client_send(c, m);
	json_decref(m);
	store_job_free(j);
}
