/* `research verify`: check a report directory (report -o DIR) against its
 * signed manifest, offline when it has its sources, or a job's event log
 * against its hash chain (through researchd). What holds and what does not
 * is printed one line each; exit 0 only when everything holds. */
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "manifest.h"
#include "research.h"
#include "sign.h"
#include "verify.h"
#include "xmalloc.h"

struct verify {
	struct cli *cli;
	const char *dir;
	bool offline;		/* never ask researchd */
	bool reachable;		/* researchd answered */
	int64_t job;
	size_t problems, unchecked;
};

static void verify_ok(struct verify *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void verify_fail(struct verify *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void verify_ok(struct verify *v, const char *fmt, ...)
{
	va_list ap;

	fputs("ok      ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void verify_fail(struct verify *v, const char *fmt, ...)
{
	va_list ap;

	v->problems++;
	fputs("FAILED  ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* Connect without complaint: an unreachable daemon only means offline. */
static bool verify_connect(struct verify *v)
{
	if (v->offline)
		return false;
	if (v->cli->client == NULL &&
	    client_connect(v->cli->socket_path, CLI_TIMEOUT_MS, &v->cli->client) < 0)
		return false;
	v->reachable = true;
	return true;
}

/* The key to check against: --pubkey (64 hex digits, or a file holding
 * them), else the reachable daemon's. Never one the manifest carries. */
static int verify_key(struct verify *v, const char *given, uint8_t pk[SIGN_PUBLIC_BYTES],
    const char **ret_from)
{
	_cleanup_json_ json_t *req = NULL, *reply = NULL;
	_cleanup_free_ char *text = NULL;
	json_t *o = NULL;
	const char *hex = NULL;
	size_t len;
	int r;

	if (given) {
		if (sign_public_parse(given, pk) == 0) {
			*ret_from = "--pubkey";
			return 0;
		}
		r = cli_read_input(given, 4096, &text, &len);
		if (r < 0 || strlen(text) != len || sign_public_parse(text, pk) < 0)
			return -EINVAL;
		*ret_from = "--pubkey file";
		return 0;
	}
	if (!verify_connect(v))
		return -ENOENT;
	req = json_pack("{s:s}", "op", "pubkey");
	if (cli_call(v->cli, req, &reply) != EXIT_OK)
		return -EIO;
	if (json_get_object(reply, "pubkey", &o) < 0 || json_get_string(o, "key", &hex) < 0 ||
	    sign_public_parse(hex, pk) < 0)
		return -EBADMSG;
	*ret_from = "researchd";
	return 0;
}

static int verify_read(const char *dir, const char *name, size_t max, char **ret, size_t *ret_len)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);

	return cli_read_input(path, max, ret, ret_len);
}

static void verify_signature(struct verify *v, const json_t *m, const char *pubkey)
{
	uint8_t pk[SIGN_PUBLIC_BYTES];
	char id[SIGN_KEY_ID_LEN + 1];
	const char *from = NULL, *mid = "?";
	int r;

	json_get_string(m, "key_id", &mid);
	r = verify_key(v, pubkey, pk, &from);
	if (r == -ENOENT) {
		verify_fail(v, "signature: signer unverified: no --pubkey given and researchd is not "
		    "reachable (the manifest names key %s; a key it carries is never trusted)",
		    cli_esc(v->cli, mid));
		return;
	}
	if (r < 0) {
		verify_fail(v, "signature: signer unverified: %s",
		    pubkey ? "--pubkey is not 64 hex digits nor a file holding them" :
		    "researchd did not give its public key");
		return;
	}
	sign_key_id(pk, id);
	r = manifest_check_signature(m, pk);
	if (r == 0)
		verify_ok(v, "signature: manifest.json is signed by key %s (from %s)", id, from);
	else if (r == -EINVAL)
		verify_fail(v, "signature: manifest.json has no well-formed signature");
	else if (strcmp(mid, id) != 0)
		verify_fail(v, "signature: forged: manifest.json is not signed by key %s (from %s); "
		    "it names key %s", id, from, cli_esc(v->cli, mid));
	else
		verify_fail(v, "signature: forged: manifest.json does not match its signature by "
		    "key %s (from %s): it was altered after signing", id, from);
}

static void verify_part(struct verify *v, const json_t *m, const char *name, const char *field,
    const char *data, size_t len, int read_r)
{
	const char *want = "?";

	json_get_string(m, field, &want);
	if (read_r < 0) {
		verify_fail(v, "%s: cannot be read: %s", name, strerror(-read_r));
		return;
	}
	if (manifest_check_hash(m, field, data, len) == 0)
		verify_ok(v, "%s: matches the manifest (BLAKE2b %.16s...)", name, want);
	else
		verify_fail(v, "%s: modified: its BLAKE2b is not the manifest's %s", name,
		    cli_esc(v->cli, want));
}

/* A source's text: sources/HASH.txt, else researchd's store. */
static int verify_text(struct verify *v, const char *th, char **ret, size_t *ret_len,
    const char **ret_where)
{
	_cleanup_json_ json_t *req = NULL, *reply = NULL;
	_cleanup_free_ char *name = xasprintf("sources/%s.txt", th);
	json_t *t = NULL, *body;
	int r;

	r = verify_read(v->dir, name, CLI_MAX_SOURCE_TEXT, ret, ret_len);
	if (r != -ENOENT) {
		*ret_where = "sources/";
		return r;
	}
	if (v->job <= 0 || !verify_connect(v))
		return -ENOENT;
	req = cli_job_request("source_text", v->job);
	json_object_set_new(req, "text_hash", json_string(th));
	if (cli_call(v->cli, req, &reply) != EXIT_OK)
		return -EIO;
	if (json_get_object(reply, "text", &t) < 0 || !json_is_string(body = json_object_get(t, "body")))
		return -EBADMSG;
	*ret = xstrndup(json_string_value(body), json_string_length(body));
	*ret_len = json_string_length(body);
	*ret_where = "researchd";
	return 0;
}

/* Each source a verified finding quotes: its text is the one hashed, and
 * every such quote stands at its offsets. */
static void verify_quotes(struct verify *v, const json_t *data)
{
	json_t *sources = json_object_get(data, "sources"), *findings = json_object_get(data, "findings");
	json_t *s, *f;
	size_t i, k, quotes = 0, quotes_ok = 0, texts = 0;

	if (!json_is_array(sources) || !json_is_array(findings)) {
		verify_fail(v, "report.json: has no sources or findings");
		return;
	}
	json_array_foreach(sources, i, s) {
		_cleanup_free_ char *text = NULL;
		const char *th = NULL, *url = "?", *where = "";
		char hex[HASH_HEX_LEN + 1];
		size_t len = 0, n = 0;
		int r;

		json_array_foreach(findings, k, f)
			n += json_is_true(json_object_get(f, "verified")) &&
			    json_integer_value(json_object_get(f, "source")) == (json_int_t)i + 1;
		if (n == 0)
			continue;
		json_get_string(s, "url", &url);
		url = cli_esc(v->cli, url);
		quotes += n;
		if (json_get_string(s, "text_hash", &th) < 0 || strlen(th) != HASH_HEX_LEN ||
		    strspn(th, "0123456789abcdef") != HASH_HEX_LEN) {
			verify_fail(v, "source %zu <%s>: report.json gives no text hash", i + 1, url);
			continue;
		}
		r = verify_text(v, th, &text, &len, &where);
		if (r == -ENOENT) {
			v->unchecked += n;
			continue;
		}
		if (r < 0) {
			verify_fail(v, "source %zu <%s>: its text cannot be read: %s", i + 1, url, strerror(-r));
			continue;
		}
		texts++;
		manifest_hash_hex(text, len, hex);
		if (strcmp(hex, th) != 0) {
			verify_fail(v, "source %zu <%s>: text changed: the text from %s%s%s is not the "
			    "one the report was written from (BLAKE2b %.16s..., expected %.16s...)", i + 1,
			    url, where, strcmp(where, "sources/") == 0 ? th : "",
			    strcmp(where, "sources/") == 0 ? ".txt" : "", hex, th);
			continue;
		}
		json_array_foreach(findings, k, f) {
			const char *quote = "";
			int64_t id = json_integer_value(json_object_get(f, "id"));

			if (!json_is_true(json_object_get(f, "verified")) ||
			    json_integer_value(json_object_get(f, "source")) != (json_int_t)i + 1)
				continue;
			json_get_string(f, "quote", &quote);
			r = manifest_quote_check(text, len, json_integer_value(json_object_get(f, "start")),
			    json_integer_value(json_object_get(f, "end")), quote);
			if (r == 0)
				quotes_ok++;
			else
				verify_fail(v, "finding F%lld: its quote is not in source %zu <%s> at bytes "
				    "%lld-%lld", (long long)id, i + 1, url,
				    (long long)json_integer_value(json_object_get(f, "start")),
				    (long long)json_integer_value(json_object_get(f, "end")));
		}
	}
	/* A verified finding outside every source would go unchecked. */
	json_array_foreach(findings, k, f) {
		json_int_t src = json_integer_value(json_object_get(f, "source"));

		if (json_is_true(json_object_get(f, "verified")) &&
		    (src < 1 || (size_t)src > json_array_size(sources)))
			verify_fail(v, "finding F%lld: names no source of report.json",
			    (long long)json_integer_value(json_object_get(f, "id")));
	}
	if (texts > 0 && quotes_ok > 0)
		verify_ok(v, "quotes: %zu of %zu verified findings' quotes stand in their sources' "
		    "texts at their offsets", quotes_ok, quotes);
	if (v->unchecked > 0)
		verify_fail(v, "quotes: %zu not checked: their source texts are not in sources/ "
		    "(research report ID -o DIR --with-sources) and researchd %s", v->unchecked,
		    v->offline ? "was not asked (--offline)" : "is not reachable");
}

static int verify_dir_path(struct cli *cli, const char *path, char **ret)
{
	struct stat st;
	char *copy;

	if (stat(path, &st) < 0)
		return cli_usage_error(cli, "%s: %s", cli_arg(cli, path), strerror(errno));
	if (S_ISDIR(st.st_mode)) {
		*ret = xstrdup(path);
		return EXIT_OK;
	}
	/* report.md or report.json: the directory holding it. */
	copy = xstrdup(path);
	*ret = xstrdup(dirname(copy));
	free(copy);
	return EXIT_OK;
}

static int verify_report(struct cli *cli, const char *path, const char *pubkey, bool offline)
{
	struct verify v = { .cli = cli, .offline = offline };
	_cleanup_free_ char *dir = NULL, *mtext = NULL, *md = NULL, *js = NULL;
	_cleanup_json_ json_t *m = NULL, *data = NULL;
	size_t mlen = 0, mdlen = 0, jslen = 0;
	json_error_t jerr;
	int r, rmd, rjs;

	r = verify_dir_path(cli, path, &dir);
	if (r != EXIT_OK)
		return r;
	v.dir = dir;
	r = verify_read(dir, "manifest.json", MANIFEST_MAX_BYTES, &mtext, &mlen);
	if (r < 0) {
		printf("FAILED  manifest.json: cannot be read in %s: %s\n", cli_esc(cli, dir), strerror(-r));
		return EXIT_DAEMON_ERROR;
	}
	m = json_loadb(mtext, mlen, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(m) || json_integer_value(json_object_get(m, "version")) != MANIFEST_VERSION) {
		printf("FAILED  manifest.json: %s\n", m == NULL ? "not JSON" :
		    "not a version 1 manifest");
		return EXIT_DAEMON_ERROR;
	}
	v.job = json_integer_value(json_object_get(json_object_get(m, "job"), "id"));
	verify_signature(&v, m, pubkey);
	rmd = verify_read(dir, "report.md", CLI_MAX_REPORT, &md, &mdlen);
	verify_part(&v, m, "report.md", "report_md", md, mdlen, rmd);
	rjs = verify_read(dir, "report.json", CLI_MAX_REPORT, &js, &jslen);
	verify_part(&v, m, "report.json", "report_json", js, jslen, rjs);
	if (rjs == 0) {
		data = json_loadb(js, jslen, 0, NULL);
		if (json_is_object(data))
			verify_quotes(&v, data);
		else
			verify_fail(&v, "report.json: not a JSON object");
	}
	if (v.problems == 0) {
		printf("verified: everything holds\n");
		return EXIT_OK;
	}
	printf("NOT VERIFIED: %zu problem%s\n", v.problems, v.problems == 1 ? "" : "s");
	return EXIT_DAEMON_ERROR;
}

static int verify_events(struct cli *cli, int64_t id)
{
	_cleanup_json_ json_t *req = cli_job_request("verify_events", id), *reply = NULL;
	json_t *chain = NULL, *bad = NULL;
	int r;

	r = cli_call(cli, req, &reply);
	if (r != EXIT_OK)
		return r;
	if (json_get_object(reply, "chain", &chain) < 0)
		return cli_malformed(cli);
	if (cli->json) {
		cli_print_json(cli, reply);
		return json_is_true(json_object_get(chain, "intact")) ? EXIT_OK : EXIT_DAEMON_ERROR;
	}
	if (json_is_true(json_object_get(chain, "intact"))) {
		printf("ok      job %lld: the event log's hash chain holds (%lld events)\n",
		    (long long)id, (long long)cli_job_int(chain, "events"));
		return EXIT_OK;
	}
	json_get_object(chain, "first_bad", &bad);
	printf("FAILED  job %lld: event %lld (%s, %s) is forged or altered: it breaks the hash "
	    "chain; it and every event after it cannot be trusted\n", (long long)id,
	    (long long)cli_job_int(bad, "seq"), cli_esc(cli, cli_job_str(bad, "type")),
	    cli_job_str(bad, "time") ? cli_job_str(bad, "time") : "?");
	return EXIT_DAEMON_ERROR;
}

int cli_cmd_verify(struct cli *cli, int argc, char **argv)
{
	enum { OPT_PUBKEY = 256, OPT_EVENTS, OPT_OFFLINE };
	static const struct option longopts[] = {
		{ "pubkey", required_argument, NULL, OPT_PUBKEY },
		{ "events", no_argument, NULL, OPT_EVENTS },
		{ "offline", no_argument, NULL, OPT_OFFLINE },
		{ 0 },
	};
	const char *pubkey = NULL;
	bool events = false, offline = false;
	int64_t id;
	int c, r;

	while ((c = cli_getopt(cli, argc, argv, "-:", longopts)) != -1) {
		switch (c) {
		case OPT_PUBKEY: pubkey = optarg; break;
		case OPT_EVENTS: events = true; break;
		case OPT_OFFLINE: offline = true; break;
		default: return EXIT_USAGE;
		}
	}
	if (events) {
		if (pubkey || offline)
			return cli_usage_error(cli, "--events takes neither --pubkey nor --offline");
		r = cli_want_id(cli, &id);
		if (r != EXIT_OK)
			return r;
		return verify_events(cli, id);
	}
	if (cli->n_operands != 1)
		return cli_usage_error(cli, "verify takes one PATH: a report directory, its report.md "
		    "or its report.json");
	return verify_report(cli, cli->operands[0], pubkey, offline);
}
