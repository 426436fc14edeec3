/* research's commands on pages and the index: extract (offline), fetch,
 * search, sources, and index (a local directory walked here). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "extract.h"
#include "research.h"
#include "str.h"
#include "walk.h"
#include "xmalloc.h"

static json_t *cli_json_str(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* Offline: no daemon is involved, so a page can be checked by hand. */
int cli_cmd_extract(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "base-url", required_argument, NULL, 'b' },
		{ "content-type", required_argument, NULL, 't' },
		{ 0 },
	};
	static const char *const kinds[] = { "html", "text", "markdown", "json" };
	struct extract_options opt = { .content_type = NULL };
	struct extract_result *res = NULL;
	_cleanup_free_ char *body = NULL;
	size_t len = 0;
	int c, r;

	while ((c = cli_getopt(cli, argc, argv, "-:", longopts)) != -1) {
		switch (c) {
		case 'b':
			opt.base_url = optarg;
			break;
		case 't':
			opt.content_type = optarg;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (cli->n_operands != 1)
		return cli_usage_error(cli, "extract takes one FILE (or - for standard input)");
	r = cli_read_input(cli->operands[0], EXTRACT_DEFAULT_MAX_INPUT, &body, &len);
	if (r < 0) {
		fprintf(stderr, "research: %s: %s\n", cli_esc(cli, cli->operands[0]),
		    r == -EFBIG ? "larger than the extractor accepts (16 MiB)" : strerror(-r));
		return EXIT_DAEMON_ERROR;
	}
	if (opt.content_type == NULL && (str_endswith(cli->operands[0], ".md") ||
	    str_endswith(cli->operands[0], ".markdown")))
		opt.content_type = "text/markdown";
	else if (opt.content_type == NULL && str_endswith(cli->operands[0], ".txt"))
		opt.content_type = "text/plain";
	r = extract_html(body, len, &opt, &res);
	if (r < 0) {
		fprintf(stderr, "research: %s: %s\n", cli_esc(cli, cli->operands[0]),
		    r == -EFBIG ? "the page or its text is over the extractor's caps" :
		    r == -EMEDIUMTYPE ? "not HTML, text, Markdown or JSON" :
		    r == -EINVAL ? "not text (binary data, or markup the extractor refuses)" :
		    strerror(-r));
		return EXIT_DAEMON_ERROR;
	}
	if (cli->json) {
		json_t *o = json_object(), *links = json_array();

		json_object_set_new(o, "kind", json_string(kinds[res->kind]));
		json_object_set_new(o, "title", cli_json_str(res->title));
		json_object_set_new(o, "canonical_url", cli_json_str(res->canonical_url));
		json_object_set_new(o, "author", cli_json_str(res->author));
		json_object_set_new(o, "published", cli_json_str(res->published));
		json_object_set_new(o, "lang", cli_json_str(res->lang));
		json_object_set_new(o, "charset", cli_json_str(res->charset));
		for (size_t i = 0; i < res->n_links; i++)
			json_array_append_new(links, json_pack("{s:s, s:s}", "url", res->links[i].url,
			    "text", res->links[i].text ? res->links[i].text : ""));
		json_object_set_new(o, "links", links);
		json_object_set_new(o, "links_truncated", json_boolean(res->links_truncated));
		json_object_set_new(o, "text", json_stringn(res->text, res->text_len));
		cli_print_json(cli, o);
		json_decref(o);
	} else {
		if (cli->tty)
			cli_put_terminal(cli, res->text, res->text_len);
		else
			fwrite(res->text, 1, res->text_len, stdout);
		if (res->text_len > 0 && res->text[res->text_len - 1] != '\n')
			putchar('\n');
	}
	extract_result_free(res);
	return EXIT_OK;
}

/* A fetch waits on politeness delays, robots.txt and the page itself. */
#define CLI_FETCH_TIMEOUT_MS (180 * 1000)

int cli_cmd_fetch(struct cli *cli, int argc, char **argv)
{
	_cleanup_json_ json_t *req = NULL, *reply = NULL;
	json_t *src, *page;
	const char *text = NULL;
	int r;

	r = cli_args_plain(cli, argc, argv);
	if (r != EXIT_OK)
		return r;
	if (cli->n_operands != 1)
		return cli_usage_error(cli, "fetch takes one URL");
	req = json_pack("{s:s, s:s}", "op", "fetch", "url", cli->operands[0]);
	r = cli_call_show(cli, req, CLI_FETCH_TIMEOUT_MS, &reply);
	if (r != EXIT_OK || reply == NULL)
		return r;
	if (json_get_object(reply, "source", &src) < 0)
		return cli_malformed(cli);
	page = json_object_get(reply, "page");
	printf("url: %s\n", cli_esc(cli, json_string_value(json_object_get(src, "url"))));
	if (json_is_string(json_object_get(src, "final_url")))
		printf("final_url: %s\n", cli_esc(cli, json_string_value(json_object_get(src, "final_url"))));
	printf("status: %lld\n", (long long)json_integer_value(json_object_get(src, "status")));
	if (json_is_string(json_object_get(src, "content_type")))
		printf("content_type: %s\n", cli_esc(cli, json_string_value(json_object_get(src, "content_type"))));
	printf("from_cache: %s\n", json_is_true(json_object_get(src, "from_cache")) ? "yes" : "no");
	if (json_is_string(json_object_get(src, "error"))) {
		printf("error: %s\n", cli_esc(cli, json_string_value(json_object_get(src, "error"))));
		return EXIT_DAEMON_ERROR;
	}
	if (json_is_object(page)) {
		static const char *const keys[] = { "title", "author", "published", "lang", "canonical_url" };

		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (json_is_string(json_object_get(page, keys[i])))
				printf("%s: %s\n", keys[i], cli_esc(cli, json_string_value(json_object_get(page, keys[i]))));
		json_get_string(page, "text", &text);
	} else if (json_is_string(json_object_get(reply, "page_error")))
		printf("page_error: %s\n", cli_esc(cli, json_string_value(json_object_get(reply, "page_error"))));
	putchar('\n');
	if (text != NULL) {
		size_t len = strlen(text);

		cli_put_terminal(cli, text, len);
		if (len > 0 && text[len - 1] != '\n')
			putchar('\n');
	}
	return EXIT_OK;
}

int cli_cmd_sources(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "limit", required_argument, NULL, 'n' },
		{ 0 },
	};
	_cleanup_json_ json_t *req = json_pack("{s:s}", "op", "sources"), *list = json_array();
	int64_t n;
	int c, r;

	while ((c = cli_getopt(cli, argc, argv, "-:", longopts)) != -1) {
		switch (c) {
		case 'a':
			json_object_set_new(req, "all", json_true());
			break;
		case 'n':
			r = cli_parse_int(cli, "limit", optarg, 1, PROTOCOL_MAX_LIST, &n);
			if (r != EXIT_OK)
				return r;
			json_object_set_new(req, "limit", json_integer(n));
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (cli->n_operands > 1)
		return cli_usage_error(cli, "sources takes at most one job ID");
	if (cli->n_operands == 1) {
		r = cli_parse_id(cli, cli->operands[0], &n);
		if (r != EXIT_OK)
			return r;
		json_object_set_new(req, "job", json_integer(n));
	}
	r = cli_collect(cli, req, "source", list);
	if (r != EXIT_OK)
		return r;
	if (cli->json) {
		_cleanup_json_ json_t *doc = json_pack("{s:O}", "sources", list);
		cli_print_json(cli, doc);
		return EXIT_OK;
	}
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t *s = json_array_get(list, i);

		/* cli_esc's buffer holds one text at a time: one per printf. */
		printf("%-4lld %3lld  %s", (long long)json_integer_value(json_object_get(s, "job")),
		    (long long)json_integer_value(json_object_get(s, "status")),
		    cli_esc(cli, json_string_value(json_object_get(s, "url"))));
		if (json_is_string(json_object_get(s, "error")))
			printf("  error: %s", cli_esc(cli, json_string_value(json_object_get(s, "error"))));
		putchar('\n');
	}
	return EXIT_OK;
}

/* `research index DIR`: the walk runs here, with the user's permissions;
 * each document goes to the daemon as one index_add request. */
struct cli_index {
	struct cli *cli;
	int failed;
};

/* A document's JSON must fit in one request line, with room for the rest. */
#define CLI_INDEX_MAX_TEXT (PROTOCOL_MAX_LINE - 64 * 1024)

static int cli_index_sink(const char *key, const char *title, const char *text, size_t len,
    size_t *ret_passages, bool *ret_unchanged, void *userdata)
{
	struct cli_index *ix = userdata;
	_cleanup_json_ json_t *req = NULL, *reply = NULL;
	int r;

	if (len > CLI_INDEX_MAX_TEXT)
		return -E2BIG;
	req = json_pack("{s:s, s:s, s:s, s:s%}", "op", "index_add", "key", key, "title", title,
	    "text", text, len);
	if (req == NULL)
		return -EINVAL;
	{
		/* Escaping can grow the text past the line limit: measure. */
		_cleanup_free_ char *line = json_dumps(req, JSON_COMPACT);

		if (line == NULL || strlen(line) > PROTOCOL_MAX_LINE)
			return -E2BIG;
	}
	r = cli_call(ix->cli, req, &reply);
	if (r == EXIT_UNREACHABLE)
		return -ECONNRESET;
	if (r != EXIT_OK)
		return -EINVAL;
	*ret_passages = (size_t)json_integer_value(json_object_get(reply, "passages"));
	*ret_unchanged = json_is_true(json_object_get(reply, "unchanged"));
	return 0;
}

static void cli_index_report(const char *relpath, enum walk_status status, int error,
    size_t passages, void *userdata)
{
	struct cli_index *ix = userdata;
	struct cli *cli = ix->cli;
	json_t *o;

	if (status == WALK_FILE_FAILED)
		ix->failed++;
	if (cli->json) {
		static const char *const names[] = { "added", "unchanged", "too_big", "binary", "failed" };

		o = json_pack("{s:s, s:s, s:I}", "file", relpath, "status", names[status],
		    "passages", (json_int_t)passages);
		if (error < 0)
			json_object_set_new(o, "error", json_string(error == -E2BIG ?
			    "too large for one request" : strerror(-error)));
		cli->json_lines = true;
		cli_print_json(cli, o);
		json_decref(o);
		return;
	}
	switch (status) {
	case WALK_FILE_ADDED:
		printf("added      %s (%zu passages)\n", cli_esc(cli, relpath), passages);
		break;
	case WALK_FILE_UNCHANGED:
		printf("unchanged  %s\n", cli_esc(cli, relpath));
		break;
	case WALK_FILE_TOO_BIG:
		printf("too big    %s\n", cli_esc(cli, relpath));
		break;
	case WALK_FILE_BINARY:
		printf("binary     %s\n", cli_esc(cli, relpath));
		break;
	case WALK_FILE_FAILED:
		printf("failed     %s: %s\n", cli_esc(cli, relpath),
		    error == -E2BIG ? "too large for one request" : strerror(-error));
		break;
	}
}

int cli_cmd_index(struct cli *cli, int argc, char **argv)
{
	struct cli_index ix = { .cli = cli };
	struct walk_options opt = {
		.fn = cli_index_report, .userdata = &ix,
		.sink = cli_index_sink, .sink_userdata = &ix,
	};
	struct walk_stats st = { 0 };
	int r;

	r = cli_args_plain(cli, argc, argv);
	if (r != EXIT_OK)
		return r;
	if (cli->n_operands != 1)
		return cli_usage_error(cli, "index takes one DIR");
	r = cli_connect(cli);
	if (r != EXIT_OK)
		return r;
	r = walk_dir(cli->operands[0], &opt, &st);
	if (r == -ECONNRESET || r == -EPIPE)
		return EXIT_UNREACHABLE;
	if (r < 0) {
		fprintf(stderr, "research: %s: %s\n", cli_esc(cli, cli->operands[0]), strerror(-r));
		return EXIT_DAEMON_ERROR;
	}
	if (cli->json) {
		json_t *o = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "end", 1,
		    "added", (json_int_t)st.added, "unchanged", (json_int_t)st.unchanged,
		    "too_big", (json_int_t)st.too_big, "binary", (json_int_t)st.binary,
		    "failed", (json_int_t)st.failed, "skipped", (json_int_t)st.skipped,
		    "passages", (json_int_t)st.passages, "truncated", st.truncated);

		cli_print_json(cli, o);
		json_decref(o);
	} else
		printf("%zu added (%zu passages), %zu unchanged, %zu too big, %zu binary, %zu failed, "
		    "%zu skipped%s\n", st.added, st.passages, st.unchanged, st.too_big, st.binary,
		    st.failed, st.skipped, st.truncated ? "; stopped at a cap" : "");
	return st.failed ? EXIT_DAEMON_ERROR : EXIT_OK;
}

int cli_cmd_search(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "max", required_argument, NULL, 'n' },
		{ "lang", required_argument, NULL, 'l' },
		{ "time", required_argument, NULL, 't' },
		{ 0 },
	};
	_cleanup_json_ json_t *req = json_pack("{s:s}", "op", "search"), *reply = NULL;
	_cleanup_free_ char *q = NULL;
	json_t *results, *failed, *v;
	size_t i, len = 0;
	int64_t n;
	int c, r;

	while ((c = cli_getopt(cli, argc, argv, "-:", longopts)) != -1) {
		switch (c) {
		case 'n':
			r = cli_parse_int(cli, "max", optarg, 1, 100, &n);
			if (r != EXIT_OK)
				return r;
			json_object_set_new(req, "max_results", json_integer(n));
			break;
		case 'l':
			json_object_set_new(req, "lang", json_string(optarg));
			break;
		case 't':
			json_object_set_new(req, "time_range", json_string(optarg));
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (cli->n_operands == 0)
		return cli_usage_error(cli, "search needs a query");
	for (int k = 0; k < cli->n_operands; k++)
		len += strlen(cli->operands[k]) + 1;
	q = xmalloc(len + 1);
	q[0] = '\0';
	for (int k = 0; k < cli->n_operands; k++) {
		if (k)
			strcat(q, " ");
		strcat(q, cli->operands[k]);
	}
	json_object_set_new(req, "q", json_string(q));
	/* Backends each have their own time limit; this covers them all. */
	r = cli_call_show(cli, req, CLI_FETCH_TIMEOUT_MS, &reply);
	if (r != EXIT_OK || reply == NULL)
		return r;
	results = json_object_get(reply, "results");
	json_array_foreach(results, i, v) {
		printf("%2zu. %s\n", i + 1, cli_esc(cli, json_string_value(json_object_get(v, "title"))));
		printf("    %s\n", cli_esc(cli, json_string_value(json_object_get(v, "url"))));
		if (json_is_string(json_object_get(v, "snippet")) && json_string_length(json_object_get(v, "snippet")))
			printf("    %s\n", cli_esc(cli, json_string_value(json_object_get(v, "snippet"))));
	}
	failed = json_object_get(reply, "failed");
	json_array_foreach(failed, i, v) {
		fprintf(stderr, "research: backend %s", cli_esc(cli, json_string_value(json_object_get(v, "backend"))));
		fprintf(stderr, " failed: %s\n", cli_esc(cli, json_string_value(json_object_get(v, "error"))));
	}
	return json_array_size(results) == 0 && json_array_size(failed) > 0 ? EXIT_DAEMON_ERROR : EXIT_OK;
}
