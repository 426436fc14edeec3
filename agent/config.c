/* The daemon's configuration file: INI-style, one table of keys, parsed into
 * a fresh struct so that a bad reload leaves the running config alone. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "paths.h"
#include "ssrf.h"
#include "str.h"
#include "xmalloc.h"

enum config_type {
	CT_STRING,	/* any non-empty string */
	CT_PATH,	/* an absolute path */
	CT_INT,		/* integer in [min, max] */
	CT_SECONDS,	/* duration in [min, max] seconds */
	CT_BYTES,	/* size in [min, max] bytes */
	CT_BOOL,
	CT_LOG_LEVEL,
	CT_URLS,	/* list of http(s) URLs */
	CT_BACKENDS,	/* list of known search backends */
	CT_HOSTS,	/* list of host names or CIDRs */
	CT_URL,		/* one http(s) URL */
	CT_COMMAND,	/* a command line */
	CT_PROBES,	/* list of loopback HOST:PORT */
};

struct config_key {
	const char *section;
	const char *name;
	enum config_type type;
	size_t offset;
	int64_t min, max;
};

#define K(sec, name, type, field, min, max) \
	{ sec, name, type, offsetof(struct config, field), min, max }

static const struct config_key config_keys[] = {
	K("server", "socket", CT_PATH, socket, 0, 0),
	K("server", "socket_group", CT_STRING, socket_group, 0, 0),
	K("server", "state_dir", CT_PATH, state_dir, 0, 0),
	K("server", "max_jobs", CT_INT, max_jobs, 1, 64),
	K("server", "max_queued", CT_INT, max_queued, 1, 100000),
	K("server", "max_clients", CT_INT, max_clients, 1, 4096),
	K("server", "max_clients_per_user", CT_INT, max_clients_per_user, 1, 4096),
	K("server", "client_timeout", CT_SECONDS, client_timeout, 1, 86400),
	K("server", "log_level", CT_LOG_LEVEL, log_level, 0, 0),
	K("server", "selftest", CT_BOOL, selftest, 0, 0),

	K("llm", "url", CT_URLS, llm_url, 0, 0),
	K("llm", "verifier_url", CT_URLS, llm_verifier_url, 0, 0),
	K("llm", "model", CT_STRING, llm_model, 0, 0),
	K("llm", "api_key_file", CT_PATH, llm_api_key_file, 0, 0),
	K("llm", "spawn", CT_COMMAND, llm_spawn, 0, 0),
	K("llm", "timeout", CT_SECONDS, llm_timeout, 1, 86400),
	K("llm", "context", CT_INT, llm_context, 0, 10000000),
	K("llm", "probe", CT_PROBES, llm_probe, 0, 0),
	K("llm", "serve", CT_STRING, llm_serve, 0, 0),
	K("llm", "serve_engine", CT_PATH, llm_serve_engine, 0, 0),
	K("llm", "serve_threads", CT_INT, llm_serve_threads, 0, 256),
	K("llm", "serve_context", CT_INT, llm_serve_context, 0, 10000000),
	K("llm", "serve_slots", CT_INT, llm_serve_slots, 0, 64),

	K("search", "backends", CT_BACKENDS, search_backends, 0, 0),
	K("search", "searxng_url", CT_URL, searxng_url, 0, 0),
	K("search", "brave_key_file", CT_PATH, brave_key_file, 0, 0),
	K("search", "max_results", CT_INT, search_max_results, 1, 100),
	K("search", "rate", CT_INT, search_rate, 1, 1000),

	K("fetch", "user_agent", CT_STRING, user_agent, 0, 0),
	K("fetch", "allow_hosts", CT_HOSTS, allow_hosts, 0, 0),
	K("fetch", "robots", CT_BOOL, robots, 0, 0),
	K("fetch", "max_body", CT_BYTES, fetch_max_body, 1024, 1024LL * 1024 * 1024),
	K("fetch", "timeout", CT_SECONDS, fetch_timeout, 1, 3600),
	K("fetch", "cache_ttl", CT_SECONDS, cache_ttl, 0, 365LL * 86400),
	K("fetch", "host_delay", CT_SECONDS, host_delay, 0, 3600),

	K("budget", "max_time", CT_SECONDS, budget_max_time, 1, 30LL * 86400),
	K("budget", "max_tokens", CT_INT, budget_max_tokens, 1, 1000000000000LL),
	K("budget", "max_fetches", CT_INT, budget_max_fetches, 0, 1000000),
	K("budget", "max_depth", CT_INT, budget_max_depth, 1, 10),
	K("budget", "max_breadth", CT_INT, budget_max_breadth, 1, 50),

	K("sandbox", "helper", CT_PATH, sandbox_helper, 0, 0),
	K("sandbox", "cpu_time", CT_SECONDS, sandbox_cpu_time, 1, 3600),
	K("sandbox", "memory", CT_BYTES, sandbox_memory, 16LL * 1024 * 1024, 64LL * 1024 * 1024 * 1024),
	K("sandbox", "max_procs", CT_INT, sandbox_max_procs, 1, 4096),
	K("sandbox", "max_output", CT_BYTES, sandbox_max_output, 1024, 1024LL * 1024 * 1024),
	K("sandbox", "timeout", CT_SECONDS, sandbox_timeout, 1, 86400),
};

static const char *const config_sections[] = {
	"server", "llm", "search", "fetch", "budget", "sandbox",
};

static const char *const config_backends[] = {
	"wikipedia", "arxiv", "local", "searxng", "brave",
};

static int config_set_list(struct config_list *l, enum config_type type, char *value,
    char *err, size_t errlen);

static void config_list_clear(struct config_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	l->n = 0;
}

static void config_list_add(struct config_list *l, const char *s)
{
	l->items[l->n++] = xstrdup(s);
}

struct config *config_new(void)
{
	struct config *c = xcalloc(1, sizeof(*c));

	c->socket = paths_user_socket();
	c->state_dir = paths_state_dir();
	c->max_jobs = 2;
	c->max_queued = 1000;
	c->max_clients = 64;
	c->max_clients_per_user = 16;
	c->client_timeout = 60;
	c->log_level = xstrdup("info");
	c->selftest = false;

	/* No url: the daemon runs [llm] serve, or looks for a server on
	 * loopback (CONFIG_DEFAULT_PROBE). */
	{
		char probe[] = CONFIG_DEFAULT_PROBE, err[128];

		if (config_set_list(&c->llm_probe, CT_PROBES, probe, err, sizeof(err)) < 0)
			abort();
	}
	c->llm_timeout = 600;

	config_list_add(&c->search_backends, "wikipedia");
	config_list_add(&c->search_backends, "arxiv");
	config_list_add(&c->search_backends, "local");
	c->search_max_results = 10;
	c->search_rate = 1;

	c->user_agent = xstrdup("researchd/" RESEARCHD_VERSION);
	c->robots = true;
	c->fetch_max_body = 10LL * 1024 * 1024;
	c->fetch_timeout = 30;
	c->cache_ttl = 86400;
	c->host_delay = 1;

	c->budget_max_time = 3600;
	c->budget_max_tokens = 2000000;
	c->budget_max_fetches = 200;
	c->budget_max_depth = 3;
	c->budget_max_breadth = 5;

	c->sandbox_helper = paths_sandbox_helper();
	c->sandbox_cpu_time = 10;
	c->sandbox_memory = 512LL * 1024 * 1024;
	c->sandbox_max_procs = 32;
	c->sandbox_max_output = 1024 * 1024;
	c->sandbox_timeout = 30;
	return c;
}

struct config *config_free(struct config *c)
{
	if (c == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(config_keys) / sizeof(config_keys[0]); i++) {
		void *field = (char *)c + config_keys[i].offset;

		switch (config_keys[i].type) {
		case CT_STRING: case CT_PATH: case CT_LOG_LEVEL: case CT_URL: case CT_COMMAND:
			free(*(char **)field);
			break;
		case CT_URLS: case CT_BACKENDS: case CT_HOSTS: case CT_PROBES:
			config_list_clear(field);
			break;
		default:
			break;
		}
	}
	free(c);
	return NULL;
}

static bool config_url_valid(const char *s)
{
	const char *host;

	if (str_startswith(s, "http://"))
		host = s + 7;
	else if (str_startswith(s, "https://"))
		host = s + 8;
	else
		return false;
	if (*host == '\0' || *host == '/' || *host == ':')
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

/* HOST:PORT on loopback (127.0.0.0/8, [::1] or localhost): probing never
 * sends anything off the machine. */
static bool config_probe_valid(const char *s)
{
	const char *colon = strrchr(s, ':');
	char host[INET6_ADDRSTRLEN + 3];
	unsigned char bin[16];
	int64_t port;
	size_t n;

	if (colon == NULL || str_to_int64(colon + 1, 1, 65535, &port) < 0)
		return false;
	n = (size_t)(colon - s);
	if (n == 0 || n >= sizeof(host))
		return false;
	memcpy(host, s, n);
	host[n] = '\0';
	if (!strcmp(host, "localhost") || !strcmp(host, "[::1]"))
		return true;
	return inet_pton(AF_INET, host, bin) == 1 && bin[0] == 127;
}

/* A host name (letters, digits, '-', '.') or an IPv4/IPv6 address or CIDR. */
static bool config_host_valid(const char *s)
{
	char addr[INET6_ADDRSTRLEN + 1];
	unsigned char bin[16];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	int family = 0;

	if (n == 0 || n >= sizeof(addr))
		return false;
	memcpy(addr, s, n);
	addr[n] = '\0';
	if (inet_pton(AF_INET, addr, bin) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, addr, bin) == 1)
		family = AF_INET6;
	if (slash) {
		int64_t prefix;

		if (family == 0)
			return false;
		if (str_to_int64(slash + 1, 0, family == AF_INET ? 32 : 128, &prefix) < 0)
			return false;
		return true;
	}
	if (family)
		return true;
	if (n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)addr[i];
		if (!isalnum(ch) && ch != '-' && ch != '.')
			return false;
	}
	return true;
}

static int config_set_list(struct config_list *l, enum config_type type, char *value,
    char *err, size_t errlen)
{
	struct config_list tmp = { 0 };
	char *save = NULL, *tok;

	for (tok = strtok_r(value, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		tok = str_trim(tok);
		if (*tok == '\0')
			continue;
		if (tmp.n == CONFIG_MAX_LIST) {
			snprintf(err, errlen, "more than %d items in the list", CONFIG_MAX_LIST);
			goto fail;
		}
		if (type == CT_URLS && !config_url_valid(tok)) {
			snprintf(err, errlen, "\"%.200s\" is not an http:// or https:// URL", tok);
			goto fail;
		}
		if (type == CT_PROBES && !config_probe_valid(tok)) {
			snprintf(err, errlen, "\"%.200s\" is not a loopback HOST:PORT "
			    "(127.0.0.1:PORT, [::1]:PORT or localhost:PORT)", tok);
			goto fail;
		}
		if (type == CT_HOSTS && !config_host_valid(tok)) {
			snprintf(err, errlen, "\"%.200s\" is not a host name, address or CIDR", tok);
			goto fail;
		}
		if (type == CT_BACKENDS) {
			bool known = false;

			for (size_t i = 0; i < sizeof(config_backends) / sizeof(config_backends[0]); i++)
				known = known || strcmp(tok, config_backends[i]) == 0;
			if (!known) {
				snprintf(err, errlen, "unknown search backend \"%.100s\" "
				    "(known: wikipedia, arxiv, local, searxng, brave)", tok);
				goto fail;
			}
			for (size_t i = 0; i < tmp.n; i++) {
				if (strcmp(tmp.items[i], tok) == 0) {
					snprintf(err, errlen, "search backend \"%s\" listed twice", tok);
					goto fail;
				}
			}
		}
		config_list_add(&tmp, tok);
	}
	/* An allow-list holding every address is a guard switched off, which
	 * is never what an operator means by allowing a few local hosts. */
	if (type == CT_HOSTS && ssrf_allow_check((const char *const *)tmp.items, tmp.n, err,
	    errlen) < 0)
		goto fail;
	if (tmp.n == 0 && type != CT_HOSTS) {
		snprintf(err, errlen, "the list is empty");
		goto fail;
	}
	config_list_clear(l);
	*l = tmp;
	return 0;
fail:
	config_list_clear(&tmp);
	return -EINVAL;
}

static int config_set(struct config *c, const struct config_key *k, char *value,
    char *err, size_t errlen)
{
	void *field = (char *)c + k->offset;
	int64_t v;
	int r;

	switch (k->type) {
	case CT_PATH:
		if (value[0] != '/') {
			snprintf(err, errlen, "%s must be an absolute path", k->name);
			return -EINVAL;
		}
		goto string;
	case CT_URL:
		if (!config_url_valid(value)) {
			snprintf(err, errlen, "%s must be an http:// or https:// URL", k->name);
			return -EINVAL;
		}
		goto string;
	case CT_LOG_LEVEL: {
		enum log_level lvl;

		if (log_level_from_string(value, &lvl) < 0) {
			snprintf(err, errlen, "log_level must be error, warn, info or debug");
			return -EINVAL;
		}
		goto string;
	}
	case CT_STRING:
	case CT_COMMAND:
	string:
		if (value[0] == '\0') {
			snprintf(err, errlen, "%s must not be empty", k->name);
			return -EINVAL;
		}
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		return 0;
	case CT_INT:
		r = str_to_int64(value, k->min, k->max, &v);
		if (r < 0) {
			snprintf(err, errlen, "%s must be an integer from %lld to %lld",
			    k->name, (long long)k->min, (long long)k->max);
			return -EINVAL;
		}
		*(int64_t *)field = v;
		return 0;
	case CT_SECONDS:
		r = str_to_seconds(value, INT64_MAX, &v);
		if (r < 0 || v < k->min || v > k->max) {
			snprintf(err, errlen, "%s must be a duration from %llds to %llds "
			    "(e.g. 30, 30s, 5m, 2h, 1d)", k->name, (long long)k->min, (long long)k->max);
			return -EINVAL;
		}
		*(int64_t *)field = v;
		return 0;
	case CT_BYTES:
		r = str_to_bytes(value, INT64_MAX, &v);
		if (r < 0 || v < k->min || v > k->max) {
			snprintf(err, errlen, "%s must be a size from %lld to %lld bytes "
			    "(e.g. 512K, 10M, 1G)", k->name, (long long)k->min, (long long)k->max);
			return -EINVAL;
		}
		*(int64_t *)field = v;
		return 0;
	case CT_BOOL:
		if (!strcmp(value, "yes") || !strcmp(value, "true") || !strcmp(value, "on") || !strcmp(value, "1"))
			*(bool *)field = true;
		else if (!strcmp(value, "no") || !strcmp(value, "false") || !strcmp(value, "off") || !strcmp(value, "0"))
			*(bool *)field = false;
		else {
			snprintf(err, errlen, "%s must be yes or no", k->name);
			return -EINVAL;
		}
		return 0;
	case CT_URLS:
	case CT_BACKENDS:
	case CT_HOSTS:
	case CT_PROBES:
		return config_set_list(field, k->type, value, err, errlen);
	}
	return -EINVAL;
}

static const struct config_key *config_key_find(const char *section, const char *name)
{
	for (size_t i = 0; i < sizeof(config_keys) / sizeof(config_keys[0]); i++)
		if (!strcmp(config_keys[i].section, section) && !strcmp(config_keys[i].name, name))
			return &config_keys[i];
	return NULL;
}

/* Checks that span keys, reported at the line of the last key involved. */
static int config_check(const struct config *c, char *err, size_t errlen)
{
	/* serve starts a server of its own at a port the daemon picks: a url
	 * or a spawn command beside it would name a second one. */
	if (c->llm_serve && c->llm_url.n > 0) {
		snprintf(err, errlen, "[llm] serve and url cannot both be set (serve runs its own server)");
		return -EINVAL;
	}
	if (c->llm_serve && c->llm_spawn) {
		snprintf(err, errlen, "[llm] serve and spawn cannot both be set (serve runs its own server)");
		return -EINVAL;
	}
	if (c->llm_spawn && c->llm_url.n == 0) {
		snprintf(err, errlen, "[llm] spawn needs the url its server answers at ([llm] url)");
		return -EINVAL;
	}
	if (c->llm_serve && strchr(c->llm_serve, '/') && c->llm_serve[0] != '/') {
		snprintf(err, errlen, "[llm] serve takes an absolute path or the name of a pulled model");
		return -EINVAL;
	}
	for (size_t i = 0; i < c->search_backends.n; i++) {
		if (!strcmp(c->search_backends.items[i], "searxng") && c->searxng_url == NULL) {
			snprintf(err, errlen, "search backend searxng needs [search] searxng_url");
			return -EINVAL;
		}
		if (!strcmp(c->search_backends.items[i], "brave") && c->brave_key_file == NULL) {
			snprintf(err, errlen, "search backend brave needs [search] brave_key_file");
			return -EINVAL;
		}
	}
	return 0;
}

int config_parse(struct config *c, const char *path, const char *text, size_t len,
    char *errmsg, size_t errlen)
{
	char section[32] = "";
	char line[CONFIG_MAX_LINE + 1];
	char err[512];
	bool seen[sizeof(config_keys) / sizeof(config_keys[0])] = { false };
	size_t pos = 0;
	unsigned lineno = 0;
	int r;

	if (len > CONFIG_MAX_FILE) {
		snprintf(errmsg, errlen, "%s: file is larger than %d bytes", path, CONFIG_MAX_FILE);
		return -EFBIG;
	}
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char *s, *eq, *key, *value;
		const struct config_key *k;

		lineno++;
		if (n > CONFIG_MAX_LINE) {
			snprintf(errmsg, errlen, "%s:%u: line is longer than %d bytes", path, lineno, CONFIG_MAX_LINE);
			return -EINVAL;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n + (nl ? 1 : 0);
		if (strlen(line) != n) {
			snprintf(errmsg, errlen, "%s:%u: line contains a NUL byte", path, lineno);
			return -EINVAL;
		}
		if (!utf8_valid(line, n)) {
			snprintf(errmsg, errlen, "%s:%u: line is not valid UTF-8", path, lineno);
			return -EINVAL;
		}
		s = str_trim(line);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *end = strchr(s, ']');
			bool known = false;

			if (end == NULL || *str_trim(end + 1) != '\0') {
				snprintf(errmsg, errlen, "%s:%u: malformed section header", path, lineno);
				return -EINVAL;
			}
			*end = '\0';
			s = str_trim(s + 1);
			for (size_t i = 0; i < sizeof(config_sections) / sizeof(config_sections[0]); i++)
				known = known || !strcmp(s, config_sections[i]);
			if (!known) {
				snprintf(errmsg, errlen, "%s:%u: unknown section [%.40s]", path, lineno, s);
				return -EINVAL;
			}
			snprintf(section, sizeof(section), "%s", s);
			continue;
		}
		eq = strchr(s, '=');
		if (eq == NULL) {
			snprintf(errmsg, errlen, "%s:%u: expected \"key = value\"", path, lineno);
			return -EINVAL;
		}
		*eq = '\0';
		key = str_trim(s);
		value = str_trim(eq + 1);
		if (section[0] == '\0') {
			snprintf(errmsg, errlen, "%s:%u: key \"%.40s\" outside of a [section]", path, lineno, key);
			return -EINVAL;
		}
		k = config_key_find(section, key);
		if (k == NULL) {
			snprintf(errmsg, errlen, "%s:%u: unknown key \"%.40s\" in [%s]", path, lineno, key, section);
			return -EINVAL;
		}
		if (seen[k - config_keys]) {
			snprintf(errmsg, errlen, "%s:%u: key \"%s\" set twice in [%s]", path, lineno, key, section);
			return -EINVAL;
		}
		seen[k - config_keys] = true;
		n = strlen(value);
		if (n >= 2 && value[0] == '"' && value[n - 1] == '"') {
			value[n - 1] = '\0';
			value++;
		}
		r = config_set(c, k, value, err, sizeof(err));
		if (r < 0) {
			snprintf(errmsg, errlen, "%s:%u: %s", path, lineno, err);
			return r;
		}
	}
	r = config_check(c, err, sizeof(err));
	if (r < 0) {
		snprintf(errmsg, errlen, "%s:%u: %s", path, lineno, err);
		return r;
	}
	return 0;
}

int config_load(const char *path, struct config **ret, char *errmsg, size_t errlen)
{
	struct config *c = NULL;
	char *text = NULL;
	size_t len = 0;
	struct stat st = {0};
	ssize_t n;
	int fd, r;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer (with -n, or
	 * in the running daemon on SIGHUP); only a regular file is read. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		snprintf(errmsg, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(errmsg, errlen, "%s: not a regular file%s", path,
		    S_ISFIFO(st.st_mode) ? " (a FIFO)" : S_ISDIR(st.st_mode) ? " (a directory)" :
		    S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? " (a device)" :
		    S_ISSOCK(st.st_mode) ? " (a socket)" : "");
		r = -EINVAL;
		goto out;
	}
	if (st.st_size > CONFIG_MAX_FILE) {
		snprintf(errmsg, errlen, "%s: file is larger than %d bytes", path, CONFIG_MAX_FILE);
		r = -EFBIG;
		goto out;
	}
	text = xmalloc((size_t)st.st_size + 1);
	while (len < (size_t)st.st_size) {
		n = read(fd, text + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			snprintf(errmsg, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	c = config_new();
	r = config_parse(c, path, text, len, errmsg, errlen);
	if (r < 0)
		goto out;
	*ret = c;
	c = NULL;
out:
	config_free(c);
	free(text);
	close(fd);
	return r;
}
