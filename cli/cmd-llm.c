/* research's model commands: llm (the endpoints, or one prompt) and trace
 * (a job's model calls). */
#include <stdio.h>
#include <string.h>

#include "research.h"
#include "xmalloc.h"

/* A model answer may take minutes on a slow machine. */
#define CLI_LLM_TIMEOUT_MS (15 * 60 * 1000)

int cli_cmd_llm(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "prompt", required_argument, NULL, 'p' },
		{ "schema", required_argument, NULL, 's' },
		{ "max-tokens", required_argument, NULL, 'm' },
		{ "show-reasoning", no_argument, NULL, 'r' },
		{ 0 },
	};
	_cleanup_json_ json_t *req = json_pack("{s:s}", "op", "llm"), *reply = NULL;
	bool show_reasoning = false, prompted = false, probing;
	json_t *eps, *v, *src, *serve, *p;
	const char *s;
	int64_t n;
	size_t i;
	int c, r;

	while ((c = cli_getopt(cli, argc, argv, "-:", longopts)) != -1) {
		switch (c) {
		case 'p':
			json_object_set_new(req, "prompt", json_string(optarg));
			prompted = true;
			break;
		case 's': {
			_cleanup_free_ char *text = NULL;
			json_error_t jerr;
			json_t *schema;
			size_t len;

			r = cli_read_input(optarg, 1024 * 1024, &text, &len);
			if (r < 0) {
				fprintf(stderr, "research: --schema %s: %s\n", cli_esc(cli, optarg), strerror(-r));
				return EXIT_USAGE;
			}
			schema = json_loadb(text, len, 0, &jerr);
			if (!json_is_object(schema)) {
				json_decref(schema);
				return cli_usage_error(cli, "--schema: not a JSON object (line %d: %s)", jerr.line, jerr.text);
			}
			json_object_set_new(req, "schema", schema);
			break;
		}
		case 'm':
			r = cli_parse_int(cli, "max-tokens", optarg, 1, 1000000, &n);
			if (r != EXIT_OK)
				return r;
			json_object_set_new(req, "max_tokens", json_integer(n));
			break;
		case 'r':
			show_reasoning = true;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (cli->n_operands > 0)
		return cli_usage_error(cli, "llm takes no operands (use --prompt TEXT)");
	if (json_object_get(req, "schema") && !prompted)
		return cli_usage_error(cli, "--schema goes with --prompt");
	r = cli_call_show(cli, req, prompted ? CLI_LLM_TIMEOUT_MS : CLI_TIMEOUT_MS, &reply);
	if (r != EXIT_OK || reply == NULL)
		return r;
	if (prompted) {
		/* Only the answer on stdout, so it can be piped; reasoning apart. */
		if (show_reasoning && json_get_string(reply, "reasoning", &s) == 0 && s[0])
			fprintf(stderr, "%s\n", cli_esc(cli, s));
		if (json_is_object(json_object_get(reply, "json")))
			json_dumpf(json_object_get(reply, "json"), stdout, JSON_COMPACT);
		else if (json_get_string(reply, "answer", &s) == 0)
			fputs(s, stdout);
		putchar('\n');
		return EXIT_OK;
	}
	src = json_object_get(reply, "source");
	probing = json_is_string(json_object_get(src, "mode")) &&
	    !strcmp(json_string_value(json_object_get(src, "mode")), "probe");
	if (probing) {
		size_t k;

		printf("[llm] url is not set: looking for a model server on");
		json_array_foreach(json_object_get(src, "probe"), k, p)
			printf(" %s", cli_esc(cli, json_string_value(p) ?: "?"));
		putchar('\n');
		/* One cli_esc per printf: it reuses one buffer. */
		json_array_foreach(json_object_get(src, "found"), k, p) {
			printf("found %s", cli_esc(cli, json_string_value(json_object_get(p, "url")) ?: "?"));
			printf(" (%s)\n", cli_esc(cli, json_string_value(json_object_get(p, "kind")) ?: "?"));
		}
	}
	serve = json_object_get(src, "serve");
	if (json_is_object(serve)) {
		if (json_is_string(json_object_get(serve, "file")))
			printf("[llm] serve: %s", cli_esc(cli, json_string_value(json_object_get(serve, "file"))));
		else
			printf("[llm] serve: %s", cli_esc(cli, json_string_value(json_object_get(serve, "name")) ?: "?"));
		if (json_is_integer(json_object_get(serve, "slots")))
			printf(" with %s: %lld threads, %lld slots, context %lld",
			    cli_esc(cli, json_string_value(json_object_get(serve, "engine")) ?: "?"),
			    (long long)json_integer_value(json_object_get(serve, "threads")),
			    (long long)json_integer_value(json_object_get(serve, "slots")),
			    (long long)json_integer_value(json_object_get(serve, "context")));
		putchar('\n');
	}
	eps = json_object_get(reply, "endpoints");
	json_array_foreach(eps, i, v) {
		/* Places probed where nothing answers are summed up by the hint. */
		if (probing && !json_is_true(json_object_get(v, "reachable")))
			continue;
		printf("%s\n", cli_esc(cli, json_string_value(json_object_get(v, "url"))));
		printf("  reachable: %s\n", json_is_true(json_object_get(v, "reachable")) ? "yes" : "no");
		printf("  kind: %s\n", cli_esc(cli, json_string_value(json_object_get(v, "kind"))));
		if (json_is_string(json_object_get(v, "model")))
			printf("  model: %s\n", cli_esc(cli, json_string_value(json_object_get(v, "model"))));
		if (json_is_integer(json_object_get(v, "n_ctx")))
			printf("  context: %lld tokens per slot\n", (long long)json_integer_value(json_object_get(v, "n_ctx")));
		printf("  slots: %lld (%lld busy)\n", (long long)json_integer_value(json_object_get(v, "slots")),
		    (long long)json_integer_value(json_object_get(v, "busy")));
		printf("  breaker: %s\n", cli_esc(cli, json_string_value(json_object_get(v, "breaker"))));
		if (json_is_number(json_object_get(v, "tokens_per_s")))
			printf("  measured: %.0f tokens/s\n", json_number_value(json_object_get(v, "tokens_per_s")));
		printf("  requests: %lld (%lld failed)\n", (long long)json_integer_value(json_object_get(v, "requests")),
		    (long long)json_integer_value(json_object_get(v, "failures")));
	}
	if (json_is_string(json_object_get(src, "hint")))
		printf("%s\n", cli_esc(cli, json_string_value(json_object_get(src, "hint"))));
	return EXIT_OK;
}

int cli_cmd_trace(struct cli *cli, int argc, char **argv)
{
	_cleanup_json_ json_t *req = NULL, *calls = json_array();
	json_t *call, *v, *msgs, *res;
	const char *s;
	int64_t job;
	size_t i, k;
	int r;

	r = cli_args_job(cli, argc, argv, &job);
	if (r != EXIT_OK)
		return r;
	req = cli_job_request("trace", job);
	r = cli_collect(cli, req, "call", calls);
	if (r != EXIT_OK)
		return r;
	if (cli->json) {
		_cleanup_json_ json_t *doc = json_pack("{s:O}", "calls", calls);
		cli_print_json(cli, doc);
		return EXIT_OK;
	}
	json_array_foreach(calls, i, call) {
		res = json_object_get(call, "result");
		printf("=== call %zu, %s, %lld ms", i + 1,
		    cli_esc(cli, json_string_value(json_object_get(call, "time"))),
		    (long long)json_integer_value(json_object_get(call, "ms")));
		if (json_get_string(res, "model", &s) == 0)
			printf(", model %s", cli_esc(cli, s));
		putchar('\n');
		msgs = json_object_get(json_object_get(call, "request"), "messages");
		json_array_foreach(msgs, k, v) {
			char label[64];

			snprintf(label, sizeof(label), "--- %s",
			    json_is_string(json_object_get(v, "role")) ? json_string_value(json_object_get(v, "role")) : "?");
			for (char *p = label; *p; p++)
				if ((unsigned char)*p < 0x20)
					*p = '?';
			cli_put_text(cli, label, json_string_value(json_object_get(v, "content")));
		}
		cli_put_text(cli, "--- reasoning", json_string_value(json_object_get(res, "reasoning")));
		cli_put_text(cli, "--- answer", json_string_value(json_object_get(res, "answer")));
		if (json_is_object(json_object_get(res, "error")))
			printf("--- error: %s\n", cli_esc(cli, json_string_value(json_object_get(json_object_get(res, "error"), "message"))));
		v = json_object_get(res, "usage");
		if (json_is_object(v))
			printf("--- tokens: %lld prompt (%lld cached), %lld completion\n",
			    (long long)json_integer_value(json_object_get(v, "prompt_tokens")),
			    (long long)json_integer_value(json_object_get(v, "cached_tokens")),
			    (long long)json_integer_value(json_object_get(v, "completion_tokens")));
	}
	return EXIT_OK;
}
