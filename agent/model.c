/* Where the daemon's model comes from (see model.h): the pool made from
 * [llm] url, probe or serve; serve's file, plan and engine; the watch that
 * logs what probing found and probes again while nothing answers. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "gguf.h"
#include "models.h"
#include "model.h"
#include "pool.h"
#include "spawn.h"
#include "str.h"
#include "xmalloc.h"

#define MODEL_OVERHEAD (256LL << 20)	/* engine, buffers, compute graph */
#define MODEL_MIN_SLOT_CTX 2048		/* below this a research prompt does not fit */
#define MODEL_SLOT_CTX 8192		/* what a slot gets when memory allows */
#define MODEL_RECHECK_TICKS 5		/* watches between checks on a found server */

enum model_mode { MODEL_URL, MODEL_PROBE, MODEL_SERVE };
static const char *const model_mode_names[] = { "url", "probe", "serve" };

struct model {
	struct daemon *d;
	enum model_mode mode;
	uv_timer_t watch;
	bool *found;		/* per endpoint, as last logged */
	unsigned n, ticks;
	/* What the pool was made from: a reload does not remake it. */
	json_t *probe;		/* the places looked at */
	char *serve;		/* [llm] serve as written */
	/* serve */
	char *file, *engine, *error;
	int port;
	struct model_plan plan;
};

/* ---- the GGUF header ---- */

int model_gguf_read(const char *path, struct model_gguf *ret)
{
	struct gguf_info info;
	int r = gguf_read_file(path, &info);

	if (r == -EBADMSG || r == -EPROTONOSUPPORT || r == -ENODATA)
		return -EINVAL;
	if (r < 0)
		return r;
	*ret = (struct model_gguf){
		.context_length = (int64_t)info.context_length,
		.block_count = (int64_t)info.block_count,
		.embedding_length = (int64_t)info.embedding_length,
		.head_count = (int64_t)info.head_count,
		.head_count_kv = (int64_t)info.head_count_kv,
	};
	return 0;
}

/* ---- serve: the file and the plan ---- */

char *model_dir(const struct config *c)
{
	/* Root's daemon keeps them in its state dir; anyone else's are where
	 * `research model pull` puts them (common/models.c). */
	if (geteuid() == 0 && getenv("RESEARCHD_MODELS_DIR") == NULL)
		return xasprintf("%s/models", c->state_dir);
	return models_dir();
}

static bool model_is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int model_resolve(const struct config *c, char **ret_path, char *err, size_t errlen)
{
	const char *name = c->llm_serve;
	char *dir, *path;

	if (name[0] == '/') {
		if (!model_is_file(name)) {
			snprintf(err, errlen, "[llm] serve: %s: %s", name,
			    access(name, F_OK) == 0 ? "not a regular file" : strerror(errno));
			return -ENOENT;
		}
		*ret_path = xstrdup(name);
		return 0;
	}
	if (strlen(name) > MODEL_MAX_NAME || name[0] == '.' || strchr(name, '/')) {
		snprintf(err, errlen, "[llm] serve: \"%.80s\" is not a model name", name);
		return -EINVAL;
	}
	dir = model_dir(c);
	path = xasprintf("%s/%s", dir, name);
	if (!model_is_file(path)) {
		free(path);
		path = xasprintf("%s/%s.gguf", dir, name);
	}
	if (!model_is_file(path)) {
		snprintf(err, errlen, "[llm] serve: no model \"%s\" in %s: fetch it with "
		    "`research model pull %s` (as the daemon's user), or give the file's absolute path",
		    name, dir, name);
		free(path);
		free(dir);
		return -ENOENT;
	}
	free(dir);
	*ret_path = path;
	return 0;
}

int model_plan_make(const struct config *c, const struct model_gguf *g, int64_t file_bytes,
    int64_t ncpu, int64_t mem_avail, struct model_plan *ret, char *err, size_t errlen)
{
	struct model_plan p = { .trained_ctx = g->context_length, .file_bytes = file_bytes };
	int64_t per_token = 0, slot_ctx, budget;
	bool fixed_ctx = c->llm_serve_context > 0, fixed_slots = c->llm_serve_slots > 0;

	/* K and V, per layer, for the KV heads' share of the embedding, in f16. */
	if (g->block_count > 0 && g->embedding_length > 0) {
		int64_t kv_dim = g->embedding_length;

		if (g->head_count > 0 && g->head_count_kv > 0 && g->head_count_kv < g->head_count)
			kv_dim = kv_dim * g->head_count_kv / g->head_count;
		per_token = 2 * g->block_count * kv_dim * 2;
	}
	budget = mem_avail - file_bytes - MODEL_OVERHEAD;
	if (budget <= 0) {
		snprintf(err, errlen, "the model needs about %lld MiB and only %lld MiB of memory are "
		    "available: choose a smaller model", (long long)((file_bytes + MODEL_OVERHEAD) >> 20),
		    (long long)(mem_avail >> 20));
		return -ENOMEM;
	}
	/* Half the cores: generation is bound by memory bandwidth, and the
	 * daemon, the sandbox and extraction want the rest. */
	p.threads = c->llm_serve_threads > 0 ? c->llm_serve_threads : ncpu > 2 ? ncpu / 2 : 1;
	if (p.threads > 64 && c->llm_serve_threads == 0)
		p.threads = 64;
	p.slots = fixed_slots ? c->llm_serve_slots : ncpu >= 16 ? 4 : ncpu >= 8 ? 2 : 1;
	slot_ctx = g->context_length > 0 && g->context_length < MODEL_SLOT_CTX ?
	    g->context_length : MODEL_SLOT_CTX;
	p.context = fixed_ctx ? c->llm_serve_context : p.slots * slot_ctx;
	/* Fewer slots first (each keeps a useful context), then less context. */
	while (per_token * p.context > budget && !fixed_ctx) {
		if (p.slots > 1 && !fixed_slots)
			p.slots--;
		else if (slot_ctx > MODEL_MIN_SLOT_CTX)
			slot_ctx /= 2;
		else
			break;
		p.context = p.slots * slot_ctx;
	}
	p.kv_bytes = per_token * p.context;
	if (p.kv_bytes > budget) {
		snprintf(err, errlen, "the model (%lld MiB) with a context of %lld tokens needs about "
		    "%lld MiB and only %lld MiB of memory are available: %s",
		    (long long)(file_bytes >> 20), (long long)p.context,
		    (long long)((file_bytes + MODEL_OVERHEAD + p.kv_bytes) >> 20), (long long)(mem_avail >> 20),
		    fixed_ctx || fixed_slots ? "lower [llm] serve_context or serve_slots" :
		    "choose a smaller model");
		return -ENOMEM;
	}
	*ret = p;
	return 0;
}

static int64_t model_mem_available(void)
{
	char line[256];
	long long kb;
	FILE *f = fopen("/proc/meminfo", "re");
	int64_t v = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1)
			v = kb * 1024;
	fclose(f);
	return v;
}

bool model_wx_allowed(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return false;
	munmap(p, 4096);
	return true;
}

/* llama-server where the distribution ships it (no Node needed), else the
 * node-llama-cpp engine installed with researchd. */
static char *model_engine(const struct config *c)
{
	const char *path = getenv("PATH");
	char *copy, *save = NULL, *dir, *found = NULL;

	if (c->llm_serve_engine)
		return xstrdup(c->llm_serve_engine);
	copy = xstrdup(path ? path : "/usr/bin:/bin");
	for (dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
		char *p = xasprintf("%s/llama-server", dir);

		if (dir[0] == '/' && access(p, X_OK) == 0 && model_is_file(p))
			found = p;
		else
			free(p);
	}
	free(copy);
	return found ? found : xstrdup(RESEARCHD_LIBEXECDIR "/researchd-llm");
}

/* A free loopback port for the engine; it keeps it across restarts. */
static int model_free_port(int *ret)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd, r = 0;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		r = -errno;
	else
		*ret = ntohs(a.sin_port);
	close(fd);
	return r;
}

/* Resolve, plan and start; on failure m->error says why and what to do. */
static int model_serve_start(struct model *m)
{
	const struct config *c = m->d->config;
	struct model_gguf g = {0};
	struct stat st;
	char err[1024], perr[512], num[5][32], health[64];
	char *argv[16];
	int64_t mem;
	int r;

	r = model_resolve(c, &m->file, err, sizeof(err));
	if (r < 0)
		goto fail;
	if (stat(m->file, &st) < 0) {
		r = -errno;
		snprintf(err, sizeof(err), "[llm] serve: %s: %s", m->file, strerror(-r));
		goto fail;
	}
	r = model_gguf_read(m->file, &g);
	if (r < 0) {
		snprintf(err, sizeof(err), "[llm] serve: %s is not a GGUF model file%s", m->file,
		    r == -E2BIG ? " (its header is past our limits)" : "");
		goto fail;
	}
	mem = model_mem_available();
	r = model_plan_make(c, &g, st.st_size, (int64_t)uv_available_parallelism(),
	    mem > 0 ? mem : INT64_MAX / 4, &m->plan, perr, sizeof(perr));
	if (r < 0) {
		snprintf(err, sizeof(err), "[llm] serve: %.300s: %s", m->file, perr);
		goto fail;
	}
	r = model_free_port(&m->port);
	if (r < 0) {
		snprintf(err, sizeof(err), "[llm] serve: no free loopback port: %s", strerror(-r));
		goto fail;
	}
	m->engine = model_engine(c);
	if (!model_wx_allowed())
		log_warnx("[llm] serve: this process may not map writable and executable memory "
		    "(MemoryDenyWriteExecute=); the engine's JIT will fail: install the drop-in "
		    "researchd.service.d/serve.conf (research doctor)");
	snprintf(num[0], sizeof(num[0]), "%d", m->port);
	snprintf(num[1], sizeof(num[1]), "%lld", (long long)m->plan.threads);
	snprintf(num[2], sizeof(num[2]), "%lld", (long long)m->plan.context);
	snprintf(num[3], sizeof(num[3]), "%lld", (long long)m->plan.slots);
	/* The same flags mean the same to llama-server and researchd-llm. */
	argv[0] = m->engine;
	argv[1] = "-m"; argv[2] = m->file;
	argv[3] = "--host"; argv[4] = "127.0.0.1";
	argv[5] = "--port"; argv[6] = num[0];
	argv[7] = "-t"; argv[8] = num[1];
	argv[9] = "-c"; argv[10] = num[2];
	argv[11] = "-np"; argv[12] = num[3];
	argv[13] = NULL;
	snprintf(health, sizeof(health), "http://127.0.0.1:%d/health", m->port);
	/* researchd-llm leaves when its parent is no longer this process (a
	 * daemon killed with SIGKILL cannot stop it). */
	snprintf(num[4], sizeof(num[4]), "%d", (int)getpid());
	setenv("RESEARCHD_PARENT_PID", num[4], 1);
	log_info("[llm] serve: %s with %s: %lld threads, %lld slots, context %lld "
	    "(trained %lld), KV cache about %lld MiB, at 127.0.0.1:%d", m->file, m->engine,
	    (long long)m->plan.threads, (long long)m->plan.slots, (long long)m->plan.context,
	    (long long)m->plan.trained_ctx, (long long)(m->plan.kv_bytes >> 20), m->port);
	r = spawn_new_argv(m->d, argv, health, &m->d->spawn);
	if (r < 0) {
		snprintf(err, sizeof(err), "[llm] serve: starting %s: %s", m->engine, strerror(-r));
		goto fail;
	}
	return 0;
fail:
	m->error = xstrdup(err);
	log_errorx("%s", err);
	return r;
}

/* ---- probing ---- */

static void model_watch_cb(uv_timer_t *t)
{
	struct model *m = t->data;
	struct llm_endpoint_info info;
	bool any = false;

	/* The engine answered 503 while it loaded: ask it again what it is
	 * (slots, context) once it is ready. */
	if (m->mode == MODEL_SERVE) {
		json_t *st = m->d->spawn ? spawn_status(m->d->spawn) : NULL;

		if (json_is_true(json_object_get(st, "ready")) &&
		    llm_pool_endpoint(m->d->llm, 0, &info) == 0 && !info.discovered)
			llm_pool_probe(m->d->llm);
		json_decref(st);
		return;
	}

	for (unsigned i = 0; i < m->n && llm_pool_endpoint(m->d->llm, i, &info) == 0; i++) {
		if (info.discovered && !m->found[i])
			log_info("found a model server at %s (%s%s%s); to pin it, set [llm] url = %s",
			    info.url, info.kind, info.model ? ", model " : "", info.model ? info.model : "",
			    info.url);
		else if (!info.discovered && m->found[i])
			log_warnx("the model server at %s went away; looking for one again", info.url);
		m->found[i] = info.discovered;
		any = any || info.discovered;
	}
	/* While one answers, check on it less often. */
	if (!any || ++m->ticks % MODEL_RECHECK_TICKS == 0)
		llm_pool_probe(m->d->llm);
}

static char *model_probe_urls(const struct config *c)
{
	struct buf b;
	char *s;

	buf_init(&b, CONFIG_MAX_LIST * 64);
	for (size_t i = 0; i < c->llm_probe.n; i++)
		if (buf_printf(&b, "%shttp://%s/v1", i ? "," : "", c->llm_probe.items[i]) < 0)
			abort();	/* probe entries are short; the cap holds them all */
	s = xstrdup(b.data ? b.data : "");
	buf_free(&b);
	return s;
}

int model_new(struct daemon *d, struct model **ret)
{
	const struct config *c = d->config;
	struct model *m = xcalloc(1, sizeof(*m));
	struct llm_pool_options o = {
		.api_key_file = c->llm_api_key_file,
		.model = c->llm_model,
		.timeout_ms = c->llm_timeout * 1000,
		.n_ctx = c->llm_context,
		.slot_affinity = true,
	};
	struct buf urls;
	int r;

	m->d = d;
	m->probe = json_array();
	for (size_t i = 0; i < c->llm_probe.n; i++)
		json_array_append_new(m->probe, json_string(c->llm_probe.items[i]));
	m->serve = c->llm_serve ? xstrdup(c->llm_serve) : NULL;
	buf_init(&urls, CONFIG_MAX_LIST * 4096);
	m->mode = c->llm_url.n > 0 ? MODEL_URL : c->llm_serve ? MODEL_SERVE : MODEL_PROBE;
	if (m->mode == MODEL_URL) {
		for (size_t i = 0; i < c->llm_url.n; i++) {
			r = buf_printf(&urls, "%s%s", i ? "," : "", c->llm_url.items[i]);
			if (r < 0)
				goto out;
		}
	} else if (m->mode == MODEL_SERVE) {
		/* The pool needs a place even when the engine could not start;
		 * the port is the engine's once it runs. */
		if (model_serve_start(m) < 0)
			m->port = 1;
		r = buf_printf(&urls, "http://127.0.0.1:%d/v1", m->port);
		if (r < 0)
			goto out;
	} else {
		char *s = model_probe_urls(c);

		r = buf_printf(&urls, "%s", s);
		free(s);
		if (r < 0)
			goto out;
		o.probe = true;
		log_info("[llm] url is not set: looking for a model server on %s", urls.data);
	}
	o.urls = urls.data;
	r = llm_pool_new(d->loop, d->http, &o, &d->llm);
	if (r < 0)
		goto out;
	uv_timer_init(d->loop, &m->watch);
	m->watch.data = m;
	if (m->mode == MODEL_PROBE || (m->mode == MODEL_SERVE && d->spawn)) {
		m->n = m->mode == MODEL_PROBE ? (unsigned)c->llm_probe.n : 0;
		m->found = xcalloc(m->n + 1, sizeof(bool));
		uv_timer_start(&m->watch, model_watch_cb, 500, m->mode == MODEL_SERVE ? 500 : MODEL_WATCH_MS);
		/* The watch alone must not keep the loop alive. */
		uv_unref((uv_handle_t *)&m->watch);
	}
	*ret = m;
	m = NULL;
out:
	buf_free(&urls);
	if (m) {
		json_decref(m->probe);
		free(m->serve);
		free(m->file);
		free(m->engine);
		free(m->error);
		free(m);
	}
	return r;
}

static void model_closed(uv_handle_t *h)
{
	free(h->data);
}

struct model *model_free(struct model *m)
{
	if (m == NULL)
		return NULL;
	free(m->found);
	json_decref(m->probe);
	free(m->serve);
	free(m->file);
	free(m->engine);
	free(m->error);
	uv_timer_stop(&m->watch);
	uv_close((uv_handle_t *)&m->watch, model_closed);
	return NULL;
}

json_t *model_status(const struct model *m)
{
	struct llm_endpoint_info info;
	json_t *o = json_pack("{s:s}", "mode", model_mode_names[m->mode]), *found, *s;
	bool any = false;

	if (m->mode == MODEL_PROBE) {
		found = json_array();
		for (unsigned i = 0; llm_pool_endpoint(m->d->llm, i, &info) == 0; i++)
			if (info.discovered) {
				json_array_append_new(found, json_pack("{s:s, s:s, s:s?}", "url", info.url,
				    "kind", info.kind, "model", info.model));
				any = true;
			}
		json_object_set(o, "probe", m->probe);
		json_object_set_new(o, "found", found);
		if (any)
			json_object_set_new(o, "hint", json_sprintf("to pin it, set [llm] url = %s in the "
			    "configuration", json_string_value(json_object_get(json_array_get(found, 0), "url"))));
		else
			json_object_set_new(o, "hint", json_string("no model server answers on loopback: "
			    "start one (llama-server, `ollama serve`, LM Studio, vLLM) and set [llm] url if it "
			    "is elsewhere, or run one here with `research model pull NAME` and "
			    "[llm] serve = NAME"));
	} else if (m->mode == MODEL_SERVE) {
		s = json_pack("{s:s, s:s?, s:s?}", "name", m->serve, "file", m->file, "engine", m->engine);
		if (m->error)
			json_object_set_new(s, "error", json_string(m->error));
		else {
			json_object_set_new(s, "port", json_integer(m->port));
			json_object_set_new(s, "threads", json_integer(m->plan.threads));
			json_object_set_new(s, "context", json_integer(m->plan.context));
			json_object_set_new(s, "slots", json_integer(m->plan.slots));
			json_object_set_new(s, "trained_context", json_integer(m->plan.trained_ctx));
			if (m->d->spawn)
				json_object_set_new(s, "server", spawn_status(m->d->spawn));
		}
		json_object_set_new(o, "serve", s);
		if (m->error)
			json_object_set_new(o, "hint", json_string(m->error));
	}
	return o;
}
