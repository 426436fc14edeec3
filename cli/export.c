/* `research report ID -o DIR`: the report, its sidecar, its signed manifest
 * and (with --with-sources) the texts its quotes come from, as files that
 * `research verify` checks offline. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "research.h"
#include "verify.h"
#include "xmalloc.h"

/* The body of job id's report in format, or NULL (a daemon error, already
 * reported unless quiet_missing and the daemon said not_found). */
static int cli_export_get(struct cli *cli, int64_t id, const char *format, bool quiet_missing,
    json_t **ret_reply, const char **ret_body, size_t *ret_len)
{
	_cleanup_json_ json_t *req = cli_job_request("report", id);
	json_t *reply = NULL, *report = NULL, *body;
	int64_t rid;
	int r;

	json_object_set_new(req, "format", json_string(format));
	r = cli_send(cli, req, &rid);
	if (r != EXIT_OK)
		return r;
	r = client_read_reply(cli->client, rid, CLI_TIMEOUT_MS, &reply);
	if (r < 0)
		return cli_transport_error(cli, r);
	if (!json_is_true(json_object_get(reply, "ok"))) {
		json_t *err = json_object_get(reply, "error");
		const char *code = NULL;

		json_get_string(err, "code", &code);
		if (quiet_missing && code && strcmp(code, PROTO_E_NOT_FOUND) == 0) {
			json_decref(reply);
			return -ENOENT;
		}
		r = cli_daemon_error(cli, reply);
		json_decref(reply);
		return r;
	}
	if (json_get_object(reply, "report", &report) < 0 ||
	    !json_is_string(body = json_object_get(report, "body"))) {
		json_decref(reply);
		return cli_malformed(cli);
	}
	*ret_reply = reply;
	*ret_body = json_string_value(body);
	*ret_len = json_string_length(body);
	return EXIT_OK;
}

static int cli_export_write(const char *dir, const char *name, const char *data, size_t len)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	int r;

	r = cli_write_atomic(path, data, len);
	if (r < 0) {
		fprintf(stderr, "research: writing %s: %s\n", path, strerror(-r));
		return EXIT_DAEMON_ERROR;
	}
	return EXIT_OK;
}

static bool cli_is_hash(const char *s)
{
	return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

/* The text hashes a reader needs to check every quote: sources cited, or
 * quoted by a verified finding. */
static json_t *cli_export_needed(const json_t *data)
{
	json_t *sources = json_object_get(data, "sources"), *findings = json_object_get(data, "findings");
	json_t *need = json_object(), *v;
	size_t i;

	json_array_foreach(sources, i, v) {
		const char *th = NULL;
		bool used = json_integer_value(json_object_get(v, "cite")) > 0;
		size_t k;
		json_t *f;

		json_array_foreach(findings, k, f)
			if (json_is_true(json_object_get(f, "verified")) &&
			    json_integer_value(json_object_get(f, "source")) == (json_int_t)i + 1)
				used = true;
		if (used && json_get_string(v, "text_hash", &th) == 0 && cli_is_hash(th))
			json_object_set_new(need, th, json_true());
	}
	return need;
}

static int cli_export_sources(struct cli *cli, int64_t id, const char *dir, const char *sidecar,
    size_t len, size_t *ret_n)
{
	_cleanup_json_ json_t *data = json_loadb(sidecar, len, 0, NULL), *need = NULL;
	_cleanup_free_ char *sdir = xasprintf("%s/sources", dir);
	const char *th;
	json_t *v;
	size_t n = 0;
	int r;

	if (!json_is_object(data)) {
		fprintf(stderr, "research: job %lld's report.json is not a JSON object\n", (long long)id);
		return EXIT_DAEMON_ERROR;
	}
	if (mkdir(sdir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "research: creating %s: %s\n", sdir, strerror(errno));
		return EXIT_DAEMON_ERROR;
	}
	need = cli_export_needed(data);
	json_object_foreach(need, th, v) {
		_cleanup_json_ json_t *req = cli_job_request("source_text", id), *reply = NULL;
		_cleanup_free_ char *name = NULL;
		json_t *text = NULL, *body;

		json_object_set_new(req, "text_hash", json_string(th));
		r = cli_call(cli, req, &reply);
		if (r != EXIT_OK)
			return r;
		if (json_get_object(reply, "text", &text) < 0 ||
		    !json_is_string(body = json_object_get(text, "body")))
			return cli_malformed(cli);
		name = xasprintf("sources/%s.txt", th);
		r = cli_export_write(dir, name, json_string_value(body), json_string_length(body));
		if (r != EXIT_OK)
			return r;
		n++;
	}
	*ret_n = n;
	return EXIT_OK;
}

int cli_report_export(struct cli *cli, int64_t id, const char *dir, bool with_sources)
{
	_cleanup_json_ json_t *md = NULL, *js = NULL, *mf = NULL;
	const char *md_body, *js_body, *mf_body = NULL;
	size_t md_len, js_len, mf_len = 0, nsrc = 0;
	int r;

	r = cli_export_get(cli, id, "markdown", false, &md, &md_body, &md_len);
	if (r == EXIT_OK)
		r = cli_export_get(cli, id, "json", false, &js, &js_body, &js_len);
	if (r != EXIT_OK)
		return r;
	r = cli_export_get(cli, id, "manifest", true, &mf, &mf_body, &mf_len);
	if (r == -ENOENT)
		fprintf(stderr, "research: job %lld's report has no signed manifest; "
		    "writing it without one\n", (long long)id);
	else if (r != EXIT_OK)
		return r;
	r = cli_export_write(dir, "report.md", md_body, md_len);
	if (r == EXIT_OK)
		r = cli_export_write(dir, "report.json", js_body, js_len);
	if (r == EXIT_OK && mf_body)
		r = cli_export_write(dir, "manifest.json", mf_body, mf_len);
	if (r == EXIT_OK && with_sources)
		r = cli_export_sources(cli, id, dir, js_body, js_len, &nsrc);
	if (r != EXIT_OK)
		return r;
	if (!cli->json)
		printf("%s: report.md, report.json%s%s", cli_esc(cli, dir),
		    mf_body ? ", manifest.json" : "", with_sources ? "" : "\n");
	if (!cli->json && with_sources)
		printf(", %zu source text%s in sources/\n", nsrc, nsrc == 1 ? "" : "s");
	return EXIT_OK;
}
