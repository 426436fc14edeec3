/* research model pull|list|rm: GGUF models in the user's models directory,
 * fetched by the CLI itself with the invoking user's rights (no daemon),
 * and the built-in table of recommended models. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "download.h"
#include "gguf.h"
#include "models.h"
#include "research.h"
#include "str.h"
#include "xmalloc.h"

#define MODEL_DEFAULT_STALL_S 60
#define MODEL_MAX_URL 2048
#define MODEL_DEFAULT_ENDPOINT "https://huggingface.co"

/* Recommended models. Sizes and memory needs are approximate: they were
 * written from the publishers' model cards, not measured here. */
struct model_pick {
	const char *name;
	const char *hf;		/* OWNER/REPO/FILE */
	double size_gb;		/* the file, about */
	int memory_gb;		/* the machine's memory it is meant for, about */
	const char *what;
};

static const struct model_pick model_picks[] = {
	{ "qwen3-1.7b", "Qwen/Qwen3-1.7B-GGUF/Qwen3-1.7B-Q8_0.gguf", 1.8, 4,
	    "smallest that follows the research loop's schemas; for 4 GB machines" },
	{ "qwen3-4b", "Qwen/Qwen3-4B-GGUF/Qwen3-4B-Q4_K_M.gguf", 2.5, 8,
	    "the default: a 4B instruct/reasoning model for 8 GB laptops" },
	{ "qwen3-8b", "Qwen/Qwen3-8B-GGUF/Qwen3-8B-Q4_K_M.gguf", 5.0, 16,
	    "better reading and writing for 16 GB machines" },
	{ "qwen3-14b", "Qwen/Qwen3-14B-GGUF/Qwen3-14B-Q4_K_M.gguf", 9.0, 24,
	    "for 24 GB machines" },
	{ "qwen3-30b-a3b", "Qwen/Qwen3-30B-A3B-GGUF/Qwen3-30B-A3B-Q4_K_M.gguf", 18.6, 32,
	    "mixture of experts (3B active): fast for its size, for 32 GB machines" },
	{ "qwen2.5-7b", "bartowski/Qwen2.5-7B-Instruct-GGUF/Qwen2.5-7B-Instruct-Q4_K_M.gguf",
	    4.7, 16, "Qwen2.5 7B Instruct, no reasoning phase" },
};

static const struct model_pick *model_pick_find(const char *name)
{
	for (size_t i = 0; i < sizeof(model_picks) / sizeof(model_picks[0]); i++)
		if (strcmp(model_picks[i].name, name) == 0)
			return &model_picks[i];
	return NULL;
}

static int model_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int model_error(const char *fmt, ...)
{
	va_list ap;

	fputs("research: model: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_DAEMON_ERROR;
}

/* OWNER/REPO/FILE as it may appear in a hub URL: no "..", no escapes. */
static bool model_hf_path_valid(const char *p)
{
	const char *slash1 = strchr(p, '/'), *slash2 = slash1 ? strchr(slash1 + 1, '/') : NULL;

	if (slash1 == NULL || slash2 == NULL || slash1 == p || slash2 == slash1 + 1 ||
	    strstr(p, "..") != NULL || strstr(p, "//") != NULL || str_endswith(p, "/"))
		return false;
	return strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-/") ==
	    strlen(p);
}

/* NAME (short, hf:OWNER/REPO/FILE or an http(s) URL) -> the URL to ask and
 * the file name it gets here. Returns 0, or prints why and returns -EINVAL. */
static int model_resolve(struct cli *cli, const char *name, char **ret_url, char **ret_file)
{
	const struct model_pick *pick = model_pick_find(name);
	const char *hf = NULL, *endpoint, *base;
	_cleanup_free_ char *path = NULL, *url = NULL;
	size_t n;

	if (pick != NULL)
		hf = pick->hf;
	else if (str_startswith(name, "hf:"))
		hf = name + 3;
	if (hf != NULL) {
		if (!model_hf_path_valid(hf))
			return cli_usage_error(cli, "'%s' is not hf:OWNER/REPO/FILE.gguf",
			    cli_arg(cli, name)), -EINVAL;
		endpoint = secure_getenv("HF_ENDPOINT");
		if (endpoint == NULL || endpoint[0] == '\0')
			endpoint = MODEL_DEFAULT_ENDPOINT;
		if (!str_startswith(endpoint, "http://") && !str_startswith(endpoint, "https://"))
			return model_error("HF_ENDPOINT must be an http or https URL"), -EINVAL;
		n = strlen(endpoint);
		while (n > 0 && endpoint[n - 1] == '/')
			n--;
		/* OWNER/REPO/resolve/main/FILE */
		base = strchr(strchr(hf, '/') + 1, '/');
		url = xasprintf("%.*s/%.*s/resolve/main%s", (int)n, endpoint, (int)(base - hf), hf,
		    base);
		path = xstrdup(strrchr(hf, '/') + 1);
	} else if (str_startswith(name, "http://") || str_startswith(name, "https://")) {
		const char *end = name + strcspn(name, "?#"), *slash;

		url = xstrdup(name);
		slash = end;
		while (slash > name && slash[-1] != '/')
			slash--;
		path = xstrndup(slash, (size_t)(end - slash));
	} else {
		return cli_usage_error(cli, "unknown model '%s': give a name from `research model "
		    "list --recommended`, hf:OWNER/REPO/FILE.gguf or an http(s) URL",
		    cli_arg(cli, name)), -EINVAL;
	}
	if (strlen(url) > MODEL_MAX_URL)
		return cli_usage_error(cli, "the model's URL is longer than %d bytes",
		    MODEL_MAX_URL), -EINVAL;
	if (!models_name_valid(path))
		return cli_usage_error(cli, "'%s' does not name a .gguf file", cli_arg(cli, name)),
		    -EINVAL;
	*ret_url = url;
	*ret_file = path;
	url = path = NULL;
	return 0;
}

static const char *model_header_error(int r)
{
	switch (r) {
	case -EBADMSG: return "not a GGUF file, or a damaged one";
	case -EPROTONOSUPPORT: return "GGUF version 1, which nothing reads any more";
	case -E2BIG: case -ENODATA: return "its header is too large to read";
	default: return strerror(-r);
	}
}

static const struct option model_pull_options[] = {
	{ "sha256", required_argument, NULL, 's' },
	{ "timeout", required_argument, NULL, 't' },
	{ "dir", required_argument, NULL, 'd' },
	{ 0 }
};

static int model_pull(struct cli *cli, int argc, char **argv)
{
	struct download d = { .stall_s = MODEL_DEFAULT_STALL_S };
	struct download_result res;
	struct gguf_info info;
	_cleanup_free_ char *dir = NULL, *url = NULL, *file = NULL, *dest = NULL;
	const char *sha = NULL;
	struct stat st;
	char why[512];
	int64_t v;
	int c, r;

	while ((c = cli_getopt(cli, argc, argv, "-:", model_pull_options)) != -1) {
		switch (c) {
		case 's':
			sha = optarg;
			if (strlen(sha) != DOWNLOAD_SHA256_HEX ||
			    strspn(sha, "0123456789abcdefABCDEF") != DOWNLOAD_SHA256_HEX)
				return cli_usage_error(cli, "--sha256: '%s' is not 64 hex digits",
				    cli_arg(cli, sha));
			break;
		case 't':
			r = cli_parse_int(cli, "timeout", optarg, 1, 3600, &v);
			if (r != EXIT_OK)
				return r;
			d.stall_s = (long)v;
			break;
		case 'd':
			free(dir);
			dir = xstrdup(optarg);
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (cli->n_operands != 2)
		return cli_usage_error(cli, cli->n_operands < 2 ? "pull needs a NAME" :
		    "unexpected argument '%s'", cli_arg(cli, cli->operands[2]));
	if (model_resolve(cli, cli->operands[1], &url, &file) < 0)
		return EXIT_USAGE;
	if (dir == NULL)
		dir = models_dir();
	dest = xasprintf("%s/%s", dir, file);
	if (stat(dest, &st) == 0) {
		if (cli->json) {
			json_t *m = json_pack("{s:s, s:s, s:I, s:b}", "name", file, "path", dest,
			    "size", (json_int_t)st.st_size, "already", 1);

			cli_print_json(cli, m);
			json_decref(m);
		}
		fprintf(stderr, "research: %s is already in %s (research model rm %s to fetch "
		    "it again)\n", file, dir, file);
		return EXIT_OK;
	}
	d.url = url;
	d.dir = dir;
	d.name = file;
	d.sha256 = sha;
	d.progress = !cli->json && isatty(STDERR_FILENO);
	r = download_run(&d, &res, why, sizeof(why));
	if (r < 0) {
		if (r == -ENOSPC || r == -EBADMSG || r == -EBUSY || r == -EACCES)
			return model_error("pull %s: %s", file, why);
		return model_error("pull %s: %s%s", file, why, r == -ETIMEDOUT || r == -EIO ?
		    " (run the same pull again to resume)" : "");
	}
	/* A page that is not a model (an error page served with 200, say)
	 * is no model: it is not left there to be served. */
	r = gguf_read_file(dest, &info);
	if (r == -EBADMSG || r == -EPROTONOSUPPORT) {
		(void)unlink(dest);
		return model_error("pull %s: the file fetched is %s; removed it", file,
		    model_header_error(r));
	}
	if (cli->json) {
		json_t *m = json_pack("{s:s, s:s, s:I, s:s, s:b, s:I}", "name", file, "path", dest,
		    "size", (json_int_t)res.size, "sha256", res.sha256, "verified", res.verified,
		    "resumed_from", (json_int_t)res.resumed_from);

		cli_print_json(cli, m);
		json_decref(m);
	} else {
		printf("%s: %" PRIu64 " bytes in %s\nsha256 %s (%s)\n", file, res.size, dir,
		    res.sha256, res.verified ? "checked" : "not checked: the server gave none");
		if (res.resumed_from > 0)
			printf("resumed from byte %" PRIu64 "\n", res.resumed_from);
		printf("to use it, put in researchd.conf's [llm]: serve = %s\n", file);
	}
	return EXIT_OK;
}

static void model_put_size(char *out, size_t len, uint64_t bytes)
{
	if (bytes >= (uint64_t)1 << 30)
		snprintf(out, len, "%.1f GiB", (double)bytes / (1 << 30));
	else
		snprintf(out, len, "%.1f MiB", (double)bytes / (1 << 20));
}

static void model_put_count(char *out, size_t len, uint64_t n)
{
	if (n >= 1000000000)
		snprintf(out, len, "%.1fB", (double)n / 1e9);
	else if (n >= 1000000)
		snprintf(out, len, "%.1fM", (double)n / 1e6);
	else
		snprintf(out, len, "%.0fK", (double)n / 1e3);
}

static int model_list_recommended(struct cli *cli)
{
	json_t *all = json_array();

	if (!cli->json)
		printf("%-15s %8s %7s  %s\n", "NAME", "SIZE", "MEMORY", "FILE (about; sizes not "
		    "checked here)");
	for (size_t i = 0; i < sizeof(model_picks) / sizeof(model_picks[0]); i++) {
		const struct model_pick *p = &model_picks[i];

		if (cli->json) {
			json_array_append_new(all, json_pack("{s:s, s:s, s:f, s:i, s:s}", "name",
			    p->name, "hf", p->hf, "size_gb", p->size_gb, "memory_gb", p->memory_gb,
			    "about", p->what));
			continue;
		}
		printf("%-15s %5.1f GB %4d GB  hf:%s\n%24s %s\n", p->name, p->size_gb,
		    p->memory_gb, p->hf, "", p->what);
	}
	if (cli->json) {
		json_t *m = json_pack("{s:o}", "recommended", all);

		cli_print_json(cli, m);
		json_decref(m);
	} else {
		json_decref(all);
	}
	return EXIT_OK;
}

static int model_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const struct option model_list_options[] = {
	{ "recommended", no_argument, NULL, 'r' },
	{ "dir", required_argument, NULL, 'd' },
	{ 0 }
};

static int model_list(struct cli *cli, int argc, char **argv)
{
	_cleanup_free_ char *dir = NULL;
	bool recommended = false;
	json_t *all;
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	DIR *dh;
	int c, r = EXIT_OK;

	while ((c = cli_getopt(cli, argc, argv, "-:", model_list_options)) != -1) {
		if (c == 'r')
			recommended = true;
		else if (c == 'd') {
			free(dir);
			dir = xstrdup(optarg);
		} else
			return EXIT_USAGE;
	}
	if (cli->n_operands > 1)
		return cli_usage_error(cli, "unexpected argument '%s'", cli_arg(cli, cli->operands[1]));
	if (recommended)
		return model_list_recommended(cli);
	if (dir == NULL)
		dir = models_dir();
	dh = opendir(dir);
	if (dh == NULL && errno != ENOENT)
		return model_error("cannot read %s: %s", dir, strerror(errno));
	while (dh != NULL && (e = readdir(dh)) != NULL) {
		if (!models_name_valid(e->d_name))
			continue;
		names = xreallocarray(names, n + 1, sizeof(char *));
		names[n++] = xstrdup(e->d_name);
	}
	if (dh != NULL)
		closedir(dh);
	if (n > 0)
		qsort(names, n, sizeof(char *), model_name_cmp);

	all = json_array();
	if (!cli->json && n > 0)
		printf("%-40s %10s %-8s %8s %7s  %s\n", "NAME", "SIZE", "QUANT", "CONTEXT", "PARAMS",
		    "ARCH");
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, names[i]);
		struct gguf_info info;
		struct stat st;
		char size[32], params[32];
		int hr;

		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		hr = gguf_read_file(path, &info);
		model_put_size(size, sizeof(size), (uint64_t)st.st_size);
		if (cli->json) {
			json_t *m = json_pack("{s:s, s:s, s:I}", "name", names[i], "path", path,
			    "size", (json_int_t)st.st_size);

			if (hr == 0)
				json_object_update_new(m, json_pack("{s:s, s:I, s:I, s:s, s:s}",
				    "quantisation", gguf_quant_name(&info), "context",
				    (json_int_t)info.context_length, "params", (json_int_t)info.n_params,
				    "arch", info.arch, "model_name", info.name));
			else
				json_object_set_new(m, "error", json_string(model_header_error(hr)));
			json_array_append_new(all, m);
			continue;
		}
		if (hr < 0) {
			printf("%-40s %10s %s\n", cli_esc(cli, names[i]), size, model_header_error(hr));
			continue;
		}
		model_put_count(params, sizeof(params), info.n_params);
		/* cli_esc's text lasts until its next call: one per printf. */
		printf("%-40s %10s %-8s %8" PRIu64 " %7s  ", cli_esc(cli, names[i]), size,
		    gguf_quant_name(&info), info.context_length, params);
		printf("%s\n", cli_esc(cli, info.arch));
	}
	if (cli->json) {
		json_t *m = json_pack("{s:s, s:O}", "dir", dir, "models", all);

		cli_print_json(cli, m);
		json_decref(m);
	} else if (n == 0) {
		printf("no models in %s; fetch one with research model pull NAME "
		    "(research model list --recommended shows some)\n", dir);
	}
	json_decref(all);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

static const struct option model_rm_options[] = {
	{ "dir", required_argument, NULL, 'd' },
	{ 0 }
};

static int model_rm(struct cli *cli, int argc, char **argv)
{
	_cleanup_free_ char *dir = NULL, *path = NULL, *part = NULL;
	const char *name;
	int c;

	while ((c = cli_getopt(cli, argc, argv, "-:", model_rm_options)) != -1) {
		if (c != 'd')
			return EXIT_USAGE;
		free(dir);
		dir = xstrdup(optarg);
	}
	if (cli->n_operands != 2)
		return cli_usage_error(cli, cli->n_operands < 2 ? "rm needs a NAME" :
		    "unexpected argument '%s'", cli_arg(cli, cli->operands[2]));
	name = cli->operands[1];
	if (dir == NULL)
		dir = models_dir();
	if (models_path(dir, name, &path) < 0)
		return cli_usage_error(cli, "'%s' is not a model's name", cli_arg(cli, name));
	part = xasprintf("%s/.%s.part", dir, strrchr(path, '/') + 1);
	/* An interrupted pull's partial goes too: rm means "not here any more". */
	(void)unlink(part);
	if (unlink(path) < 0) {
		if (errno == ENOENT)
			return model_error("no model %s in %s (research model list shows them)",
			    cli_esc(cli, name), dir);
		return model_error("cannot remove %s: %s", path, strerror(errno));
	}
	if (!cli->json)
		printf("removed %s\n", path);
	return EXIT_OK;
}

int cli_cmd_model(struct cli *cli, int argc, char **argv)
{
	/* The subcommand is the first operand, wherever options are. */
	const char *sub = NULL;

	for (int i = 1; i < argc && sub == NULL; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (argv[i][0] != '-') {
			/* Skip the value of an option that takes one. */
			if (i > 1 && (strcmp(argv[i - 1], "--sha256") == 0 ||
			    strcmp(argv[i - 1], "--timeout") == 0 || strcmp(argv[i - 1], "--dir") == 0))
				continue;
			sub = argv[i];
		}
	}
	if (sub == NULL)
		return cli_usage_error(cli, "which one: pull, list or rm?");
	if (strcmp(sub, "pull") == 0)
		return model_pull(cli, argc, argv);
	if (strcmp(sub, "list") == 0 || strcmp(sub, "ls") == 0)
		return model_list(cli, argc, argv);
	if (strcmp(sub, "rm") == 0)
		return model_rm(cli, argc, argv);
	return cli_usage_error(cli, "unknown model command '%s' (pull, list or rm)",
	    cli_arg(cli, sub));
}
