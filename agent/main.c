/* researchd: the daemon's entry point, signals, reload and shutdown. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "buildconf.h"
#include "config.h"
#include "daemon.h"
#include "effect.h"
#include "hash.h"
#include "job.h"
#include "log.h"
#include "notify.h"
#include "provenance.h"
#include "research.h"
#include "selftest.h"
#include "spawn.h"
#include "server.h"
#include "sign.h"
#include "store.h"
#include "str.h"
#include "tools.h"
#include "xmalloc.h"

#define SHUTDOWN_GRACE_MS 10000	/* effects in flight get this long to finish */

static struct daemon daemon_state;
static char *opt_socket, *opt_state_dir;
static bool opt_config_given, opt_verbose, opt_pubkey;
static uv_signal_t sig_hup, sig_term, sig_int;
static uv_timer_t shutdown_timer;
static int64_t shutdown_deadline;

static _Noreturn void usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: researchd [-dnv] [-c FILE] [--socket PATH] [--state-dir DIR] [--pubkey]\n"
	    "  -c FILE            configuration file (default %s)\n"
	    "  -d                 stay in the foreground, log to stderr\n"
	    "  -n                 check the configuration and exit\n"
	    "  -v                 log debug messages\n"
	    "  --socket PATH      control socket (overrides [server] socket)\n"
	    "  --state-dir DIR    state directory (overrides [server] state_dir)\n"
	    "  --pubkey           print the public key that signs reports (created if\n"
	    "                     there is none yet) and exit\n"
	    "  -h, --help         this help\n"
	    "  --version          print the version\n", CONFIG_DEFAULT_PATH);
	exit(status);
}

static char *absolute(const char *path)
{
	char cwd[4096];

	if (path[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
		return xstrdup(path);
	return xasprintf("%s/%s", cwd, path);
}

/* Load the config named by -c, or the default one if it exists, or the
 * built-in defaults; then apply the command line's overrides. */
static int daemon_load_config(const char *path, struct config **ret, char *err, size_t errlen)
{
	struct config *c = NULL;
	int r;

	r = config_load(path, &c, err, errlen);
	if (r == -ENOENT && !opt_config_given) {
		c = config_new();
		r = 0;
	}
	if (r < 0)
		return r;
	if (opt_socket) {
		free(c->socket);
		c->socket = xstrdup(opt_socket);
	}
	if (opt_state_dir) {
		free(c->state_dir);
		c->state_dir = xstrdup(opt_state_dir);
	}
	*ret = c;
	return 0;
}

static void daemon_apply_log_level(const struct config *c)
{
	enum log_level level = LOG_LEVEL_INFO;

	if (opt_verbose)
		level = LOG_LEVEL_DEBUG;
	else
		log_level_from_string(c->log_level, &level);
	log_set_level(level);
}

static void daemon_reload(struct daemon *d)
{
	struct config *c = NULL, *old = d->config;
	char err[1024];
	int r;

	notify_reloading();
	r = daemon_load_config(d->config_path, &c, err, sizeof(err));
	if (r < 0) {
		log_errorx("reload failed, keeping the running configuration: %s", err);
		notify_ready();
		return;
	}
	/* What is bound at start stays until a restart. */
	if (strcmp(c->socket, old->socket) != 0 || strcmp(c->state_dir, old->state_dir) != 0)
		log_warnx("reload: socket and state_dir changes take effect at the next start");
	if (c->selftest != old->selftest)
		log_warnx("reload: selftest changes take effect at the next start");
	if ((c->llm_spawn == NULL) != (old->llm_spawn == NULL) ||
	    (c->llm_spawn && strcmp(c->llm_spawn, old->llm_spawn) != 0))
		log_warnx("reload: [llm] spawn changes take effect at the next start");
	if ((c->llm_serve == NULL) != (old->llm_serve == NULL) ||
	    (c->llm_serve && strcmp(c->llm_serve, old->llm_serve) != 0))
		log_warnx("reload: [llm] serve changes take effect at the next start");
	free(c->socket);
	c->socket = xstrdup(old->socket);
	free(c->state_dir);
	c->state_dir = xstrdup(old->state_dir);
	c->selftest = old->selftest;
	d->config = c;
	config_free(old);
	daemon_apply_log_level(c);
	tools_reconfigure(d);
	log_info("configuration reloaded from %s", d->config_path);
	jobs_schedule(d->jobs);
	notify_ready();
}

/* llama-server answers /health at its root, beside /v1. */
static char *daemon_health_url(const char *base)
{
	size_t n = strlen(base);

	while (n > 0 && base[n - 1] == '/')
		n--;
	if (n >= 3 && strncmp(base + n - 3, "/v1", 3) == 0)
		n -= 3;
	return xasprintf("%.*s/health", (int)n, base);
}

static void daemon_close_handle(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* After the grace period (or once nothing is in flight): stop runners,
 * requeue their jobs, close every handle so the loop ends. */
static void daemon_finish_stop(struct daemon *d)
{
	uv_timer_stop(&shutdown_timer);
	jobs_shutdown(d->jobs);
	d->spawn = spawn_free(d->spawn);
	tools_unregister(d);
	research_unregister();
	effects_close_handles(d->effects);
	provenance_model_stop();
	notify_watchdog_stop();
	uv_walk(d->loop, daemon_close_handle, NULL);
}

static void shutdown_timer_cb(uv_timer_t *t)
{
	struct daemon *d = t->data;

	if (effects_in_flight(d->effects) == 0 || time_mono_ms() >= shutdown_deadline)
		daemon_finish_stop(d);
}

static void daemon_stop(struct daemon *d, int signum)
{
	if (d->stopping) {
		log_info("second signal: stopping now");
		daemon_finish_stop(d);
		return;
	}
	d->stopping = true;
	log_info("stopping on %s", strsignal(signum));
	notify_stopping();
	server_close(d->server);
	spawn_stop(d->spawn);
	effects_drain(d->effects);
	shutdown_deadline = time_mono_ms() + SHUTDOWN_GRACE_MS;
	shutdown_timer.data = d;
	uv_timer_start(&shutdown_timer, shutdown_timer_cb, 0, 50);
}

static void signal_cb(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;

	if (signum == SIGHUP)
		daemon_reload(d);
	else
		daemon_stop(d, signum);
}

static int mkdir_parents(const char *path, mode_t mode)
{
	char *p = xstrdup(path);
	int r = 0;

	for (char *s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char saved = *s;

			*s = '\0';
			if (mkdir(p, saved ? 0755 : mode) < 0 && errno != EEXIST) {
				r = -errno;
				break;
			}
			*s = saved;
			if (saved == '\0')
				break;
		}
	}
	free(p);
	return r;
}

/* researchd --pubkey: read (or create) the key a running daemon uses too;
 * it is never rewritten, so reading it beside that daemon is safe. */
static int daemon_print_pubkey(const struct config *c)
{
	struct sign_key *k = NULL;
	char hex[SIGN_PUBLIC_HEX_LEN + 1];
	int r;

	r = mkdir_parents(c->state_dir, 0750);
	if (r == 0)
		r = provenance_key_open(c->state_dir, &k, NULL);
	if (r < 0) {
		fprintf(stderr, "researchd: the signing key in %s: %s%s\n", c->state_dir,
		    strerror(-r), r == -EPERM ? " (it must be mode 0600)" :
		    r == -EBADMSG ? " (the key file is damaged)" : "");
		return 1;
	}
	sign_key_public_hex(k, hex);
	printf("%s\n", hex);
	sign_key_free(k);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 'S' },
		{ "state-dir", required_argument, NULL, 'D' },
		{ "pubkey", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon *d = &daemon_state;
	bool foreground = false, check_only = false;
	char err[1024], *dbpath;
	uv_loop_t loop;
	int ch, r, created = 0;

	while ((ch = getopt_long(argc, argv, "c:dnvh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			free(d->config_path);
			d->config_path = absolute(optarg);
			opt_config_given = true;
			break;
		case 'd': foreground = true; break;
		case 'n': check_only = true; break;
		case 'v': opt_verbose = true; break;
		case 'S': free(opt_socket); opt_socket = absolute(optarg); break;
		case 'D': free(opt_state_dir); opt_state_dir = absolute(optarg); break;
		case 'P': opt_pubkey = true; break;
		case 'h': usage(0);
		case 'V': printf("researchd %s\n", RESEARCHD_VERSION); return 0;
		default: usage(2);
		}
	}
	if (optind != argc)
		usage(2);
	if (d->config_path == NULL)
		d->config_path = xstrdup(CONFIG_DEFAULT_PATH);

	r = daemon_load_config(d->config_path, &d->config, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "researchd: %s\n", err);
		return 1;
	}
	if (check_only) {
		printf("configuration OK\n");
		config_free(d->config);
		free(d->config_path);
		return 0;
	}
	if (hash_init() < 0) {
		fprintf(stderr, "researchd: libsodium failed to initialise\n");
		return 1;
	}

	if (opt_pubkey) {
		r = daemon_print_pubkey(d->config);
		config_free(d->config);
		free(d->config_path);
		return r;
	}

	if (foreground || notify_under_systemd())
		log_init(LOG_LEVEL_INFO, getenv("JOURNAL_STREAM") ? LOG_TARGET_JOURNAL : LOG_TARGET_STDERR);
	else {
		if (daemon(0, 0) < 0) {
			fprintf(stderr, "researchd: daemon: %s\n", strerror(errno));
			return 1;
		}
		log_init(LOG_LEVEL_INFO, LOG_TARGET_SYSLOG);
	}
	daemon_apply_log_level(d->config);
	signal(SIGPIPE, SIG_IGN);

	r = mkdir_parents(d->config->state_dir, 0750);
	if (r < 0)
		fatal_errno(r, "creating state directory %s", d->config->state_dir);
	r = provenance_key_open(d->config->state_dir, &d->key, &created);
	if (r < 0)
		fatal_errno(r, "the signing key %s/%s%s", d->config->state_dir, PROVENANCE_KEY_FILE,
		    r == -EPERM ? " may be read by others (it must be mode 0600)" :
		    r == -EBADMSG ? " is damaged" : "");
	if (created)
		log_info("created the signing key %s/%s", d->config->state_dir, PROVENANCE_KEY_FILE);
	dbpath = xasprintf("%s/researchd.db", d->config->state_dir);
	r = store_open(dbpath, &d->store);
	if (r == -EPROTONOSUPPORT)
		fatalx("%s was written by a newer researchd (schema newer than %d); refusing to touch it",
		    dbpath, store_schema_latest());
	if (r < 0)
		fatal_errno(r, "opening %s", dbpath);

	uv_loop_init(&loop);
	d->loop = &loop;
	d->start_ms = time_now_ms();
	r = effects_new(d->loop, d->store, &d->effects);
	if (r < 0)
		fatal_errno(r, "starting the effects layer");
	r = jobs_new(d, &d->jobs);
	if (r < 0)
		fatal_errno(r, "starting the job queue");
	r = tools_register(d);
	if (r < 0)
		fatal_errno(r, "registering the tools");
	if (d->config->llm_spawn) {
		char *health = daemon_health_url(d->config->llm_url.items[0]);

		r = spawn_new(d, d->config->llm_spawn, health, &d->spawn);
		free(health);
		if (r < 0)
			fatal_errno(r, "[llm] spawn: cannot read the command line");
	}
	provenance_model_start(d);
	r = research_register(d);
	if (r < 0)
		fatal_errno(r, "registering the research job kind");
	if (d->config->selftest) {
		r = selftest_register(d);
		if (r < 0)
			fatal_errno(r, "registering the selftest job kind");
		log_warnx("selftest job kind enabled ([server] selftest = yes)");
	}
	r = server_new(d, d->config->socket, d->config->socket_group, &d->server, err, sizeof(err));
	if (r < 0)
		fatalx("control socket: %s", err);

	uv_signal_init(d->loop, &sig_hup);
	uv_signal_init(d->loop, &sig_term);
	uv_signal_init(d->loop, &sig_int);
	sig_hup.data = sig_term.data = sig_int.data = d;
	uv_signal_start(&sig_hup, signal_cb, SIGHUP);
	uv_signal_start(&sig_term, signal_cb, SIGTERM);
	uv_signal_start(&sig_int, signal_cb, SIGINT);
	uv_timer_init(d->loop, &shutdown_timer);
	uv_unref((uv_handle_t *)&shutdown_timer);

	r = jobs_recover(d->jobs);
	if (r < 0)
		fatal_errno(r, "recovering jobs: %s", store_errmsg(d->store));

	log_info("researchd %s ready on %s%s (state in %s)", RESEARCHD_VERSION,
	    server_socket_activated(d->server) ? "a socket from systemd" : d->config->socket,
	    "", d->config->state_dir);
	notify_ready();
	notify_watchdog_start(d->loop);

	uv_run(d->loop, UV_RUN_DEFAULT);

	r = uv_loop_close(d->loop);
	if (r < 0)
		log_warnx("closing the loop: %s", uv_strerror(r));
	server_free(d->server);
	jobs_free(d->jobs);
	effects_free(d->effects);
	store_close(d->store);
	d->key = sign_key_free(d->key);
	json_decref(d->served_model);
	selftest_unregister();
	config_free(d->config);
	free(d->config_path);
	free(dbpath);
	free(opt_socket);
	free(opt_state_dir);
	log_info("stopped");
	return 0;
}
