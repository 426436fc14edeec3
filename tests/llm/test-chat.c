/* Unit tests of chat-completions parsing and request building, with chunks
 * written after the documented stream formats of llama-server, Ollama's
 * OpenAI-compatible /v1 and native /api/chat (NDJSON), and vLLM. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "chat.h"
#include "json.h"
#include "ndjson.h"
#include "sse.h"

/* llama-server with --reasoning-format deepseek: reasoning in its own field,
 * usage and timings on the last choice chunk. */
static const char llama_stream[] =
	"data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null}}],"
	"\"created\":1763800000,\"id\":\"chatcmpl-7Kq2\",\"model\":\"qwen3-8b\",\"system_fingerprint\":\"b6100-0ab1c2d3\","
	"\"object\":\"chat.completion.chunk\"}\n\n"
	"data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"reasoning_content\":\"The user wants \"}}],"
	"\"created\":1763800000,\"id\":\"chatcmpl-7Kq2\",\"model\":\"qwen3-8b\",\"object\":\"chat.completion.chunk\"}\n\n"
	"data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"reasoning_content\":\"JSON.\"}}],"
	"\"created\":1763800000,\"id\":\"chatcmpl-7Kq2\",\"model\":\"qwen3-8b\",\"object\":\"chat.completion.chunk\"}\n\n"
	"data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"content\":\"{\\\"score\\\":\"}}],"
	"\"created\":1763800000,\"id\":\"chatcmpl-7Kq2\",\"model\":\"qwen3-8b\",\"object\":\"chat.completion.chunk\"}\n\n"
	"data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"content\":\" 0.5}\"}}],"
	"\"created\":1763800000,\"id\":\"chatcmpl-7Kq2\",\"model\":\"qwen3-8b\",\"object\":\"chat.completion.chunk\"}\n\n"
	"data: {\"choices\":[{\"finish_reason\":\"stop\",\"index\":0,\"delta\":{}}],\"created\":1763800001,"
	"\"id\":\"chatcmpl-7Kq2\",\"model\":\"qwen3-8b\",\"system_fingerprint\":\"b6100-0ab1c2d3\","
	"\"object\":\"chat.completion.chunk\",\"usage\":{\"completion_tokens\":12,\"prompt_tokens\":30,"
	"\"total_tokens\":42},\"timings\":{\"cache_n\":16,\"prompt_n\":14,\"prompt_ms\":20.5,"
	"\"prompt_per_token_ms\":1.46,\"prompt_per_second\":682.9,\"predicted_n\":12,\"predicted_ms\":110.25,"
	"\"predicted_per_token_ms\":9.18,\"predicted_per_second\":108.9}}\n\n"
	"data: [DONE]\n\n";

/* Ollama /v1 with a thinking model: "reasoning" field, usage in a separate
 * chunk with no choices. */
static const char *const ollama_chunks[] = {
	"{\"id\":\"chatcmpl-512\",\"object\":\"chat.completion.chunk\",\"created\":1763800000,\"model\":\"qwen3:8b\","
	"\"system_fingerprint\":\"fp_ollama\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\","
	"\"reasoning\":\"Okay, \"},\"finish_reason\":null}]}",
	"{\"id\":\"chatcmpl-512\",\"object\":\"chat.completion.chunk\",\"created\":1763800000,\"model\":\"qwen3:8b\","
	"\"system_fingerprint\":\"fp_ollama\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\","
	"\"reasoning\":\"short.\"},\"finish_reason\":null}]}",
	"{\"id\":\"chatcmpl-512\",\"object\":\"chat.completion.chunk\",\"created\":1763800000,\"model\":\"qwen3:8b\","
	"\"system_fingerprint\":\"fp_ollama\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},"
	"\"finish_reason\":null}]}",
	"{\"id\":\"chatcmpl-512\",\"object\":\"chat.completion.chunk\",\"created\":1763800001,\"model\":\"qwen3:8b\","
	"\"system_fingerprint\":\"fp_ollama\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
	"\"finish_reason\":\"stop\"}]}",
	"{\"id\":\"chatcmpl-512\",\"object\":\"chat.completion.chunk\",\"created\":1763800001,\"model\":\"qwen3:8b\","
	"\"system_fingerprint\":\"fp_ollama\",\"choices\":[],\"usage\":{\"prompt_tokens\":25,\"completion_tokens\":40,"
	"\"total_tokens\":65}}",
	"[DONE]",
};

/* vLLM: reasoning_content, cut at max_tokens, usage with details. */
static const char *const vllm_chunks[] = {
	"{\"id\":\"chatcmpl-9f1e\",\"object\":\"chat.completion.chunk\",\"created\":1763800000,\"model\":\"Qwen/Qwen3-8B\","
	"\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}",
	"{\"id\":\"chatcmpl-9f1e\",\"object\":\"chat.completion.chunk\",\"created\":1763800000,\"model\":\"Qwen/Qwen3-8B\","
	"\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"Hmm\"},\"logprobs\":null,\"finish_reason\":null}]}",
	"{\"id\":\"chatcmpl-9f1e\",\"object\":\"chat.completion.chunk\",\"created\":1763800000,\"model\":\"Qwen/Qwen3-8B\","
	"\"choices\":[{\"index\":0,\"delta\":{\"content\":\"{\\\"a\\\": [1,\"},\"logprobs\":null,\"finish_reason\":\"length\","
	"\"stop_reason\":null}]}",
	"{\"id\":\"chatcmpl-9f1e\",\"object\":\"chat.completion.chunk\",\"created\":1763800000,\"model\":\"Qwen/Qwen3-8B\","
	"\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"total_tokens\":30,\"completion_tokens\":20,"
	"\"prompt_tokens_details\":{\"cached_tokens\":8},\"completion_tokens_details\":{\"reasoning_tokens\":3}}}",
	"[DONE]",
};

static int on_event(const struct sse_event *ev, void *userdata)
{
	return chat_reply_feed_sse(userdata, ev->type, ev->data, ev->data_len);
}

static void check_llama_reply(struct chat_reply *r)
{
	assert_int_equal(chat_reply_finish(r), 0);
	assert_string_equal(r->think.answer.data, "{\"score\": 0.5}");
	assert_string_equal(r->think.reasoning.data, "The user wants JSON.");
	assert_string_equal(r->finish_reason, "stop");
	assert_string_equal(r->model, "qwen3-8b");
	assert_true(r->done);
	assert_true(r->has_usage);
	assert_int_equal(r->usage.prompt_tokens, 30);
	assert_int_equal(r->usage.completion_tokens, 12);
	assert_int_equal(r->usage.cached_tokens, 16);	/* from timings.cache_n */
	assert_int_equal(r->usage.reasoning_tokens, -1);
	assert_int_equal(r->usage.timings_prompt_n, 14);
	assert_int_equal(r->usage.timings_predicted_n, 12);
	assert_true(r->usage.timings_prompt_ms == 20.5);
	assert_true(r->usage.timings_predicted_ms == 110.25);
}

static void test_llama_stream_every_split(void **state)
{
	size_t len = sizeof(llama_stream) - 1;

	for (size_t cut = 0; cut <= len; cut++) {
		struct chat_reply r;
		struct sse_parser *p;

		chat_reply_init(&r, 4096, 4096);
		assert_int_equal(sse_parser_new(8192, on_event, &r, &p), 0);
		assert_int_equal(sse_parser_feed(p, llama_stream, cut), 0);
		assert_int_equal(sse_parser_feed(p, llama_stream + cut, len - cut), 0);
		assert_int_equal(sse_parser_finish(p), 0);
		check_llama_reply(&r);
		sse_parser_free(p);
		chat_reply_done(&r);
	}
}

static int feed(struct chat_reply *r, const char *s)
{
	return chat_reply_feed_event(r, s, strlen(s));
}

static void feed_all(struct chat_reply *r, const char *const *chunks, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(chat_reply_feed_event(r, chunks[i], strlen(chunks[i])), 0);
}

static void test_ollama(void **state)
{
	struct chat_reply r;

	chat_reply_init(&r, 4096, 4096);
	feed_all(&r, ollama_chunks, sizeof(ollama_chunks) / sizeof(ollama_chunks[0]));
	assert_int_equal(chat_reply_finish(&r), 0);
	assert_string_equal(r.think.answer.data, "Hi");
	assert_string_equal(r.think.reasoning.data, "Okay, short.");
	assert_int_equal(r.usage.prompt_tokens, 25);
	assert_int_equal(r.usage.completion_tokens, 40);
	assert_int_equal(r.usage.cached_tokens, -1);
	assert_int_equal(r.usage.timings_prompt_n, -1);
	assert_int_equal(r.chunks, 5);
	chat_reply_done(&r);
}

static void test_vllm_length(void **state)
{
	struct chat_reply r;

	chat_reply_init(&r, 4096, 4096);
	feed_all(&r, vllm_chunks, sizeof(vllm_chunks) / sizeof(vllm_chunks[0]));
	/* Cut at max_tokens: never a success, even though text came. */
	assert_int_equal(chat_reply_finish(&r), -ENOSPC);
	assert_string_equal(r.think.answer.data, "{\"a\": [1,");
	assert_string_equal(r.think.reasoning.data, "Hmm");
	assert_string_equal(r.finish_reason, "length");
	assert_int_equal(r.usage.cached_tokens, 8);
	assert_int_equal(r.usage.reasoning_tokens, 3);
	chat_reply_done(&r);
}

static void test_think_in_content(void **state)
{
	/* Older Ollama and llama-server without a reasoning format: the tags
	 * come in content, split anywhere. */
	static const char *const chunks[] = {
		"{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"<thi\"}}]}",
		"{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"nk>\\nplan\\n</th\"}}]}",
		"{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ink>\\n\\n{}\"}}]}",
		"{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}",
	};
	struct chat_reply r;

	chat_reply_init(&r, 4096, 4096);
	feed_all(&r, chunks, 4);
	assert_int_equal(chat_reply_finish(&r), 0);
	assert_string_equal(r.think.answer.data, "{}");
	assert_string_equal(r.think.reasoning.data, "\nplan\n");
	assert_false(r.done);
	chat_reply_done(&r);
}

static void test_both_reasoning_names(void **state)
{
	struct chat_delta d;
	json_t *c = json_loads("{\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"a\",\"reasoning\":\"a\"}}]}", 0, NULL);

	assert_int_equal(chat_chunk_parse(c, &d), 0);
	assert_int_equal(d.reasoning_len, 1);
	assert_null(d.content);
	json_decref(c);
}

static void test_continuous_usage(void **state)
{
	/* vLLM with continuous_usage_stats: every chunk carries the running
	 * totals; the last ones win. */
	static const char *const chunks[] = {
		"{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":1}}",
		"{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"},\"finish_reason\":\"stop\"}],"
		"\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2}}",
		"{\"choices\":[],\"usage\":null}",
	};
	struct chat_reply r;

	chat_reply_init(&r, 4096, 4096);
	feed_all(&r, chunks, 3);
	assert_int_equal(chat_reply_finish(&r), 0);
	assert_int_equal(r.usage.completion_tokens, 2);
	assert_string_equal(r.think.answer.data, "ab");
	chat_reply_done(&r);
}

static void test_errors(void **state)
{
	struct chat_reply r;
	static const char llama_err[] =
		"{\"error\":{\"code\":400,\"message\":\"the request exceeds the available context size\","
		"\"type\":\"exceed_context_size_error\",\"n_prompt_tokens\":9000,\"n_ctx\":8192}}";
	static const char vllm_err[] =
		"{\"object\":\"error\",\"message\":\"This model's maximum context length is 8192 tokens.\","
		"\"type\":\"BadRequestError\",\"param\":null,\"code\":400}";

	chat_reply_init(&r, 4096, 4096);
	assert_int_equal(feed(&r, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}"), 0);
	assert_int_equal(chat_reply_feed_event(&r, llama_err, sizeof(llama_err) - 1), -EREMOTEIO);
	assert_string_equal(r.error, "the request exceeds the available context size");
	assert_int_equal(chat_reply_finish(&r), -EREMOTEIO);
	chat_reply_done(&r);

	chat_reply_init(&r, 4096, 4096);
	assert_int_equal(chat_reply_feed_body(&r, vllm_err, sizeof(vllm_err) - 1), -EREMOTEIO);
	assert_string_equal(r.error, "This model's maximum context length is 8192 tokens.");
	chat_reply_done(&r);

	/* Invalid JSON, wrong shapes, anything after [DONE]. */
	chat_reply_init(&r, 4096, 4096);
	assert_int_equal(feed(&r, "{\"choices\":"), -EBADMSG);
	assert_int_equal(feed(&r, "[1]"), -EBADMSG);
	assert_int_equal(feed(&r, "{\"choices\":{}}"), -EBADMSG);
	assert_int_equal(feed(&r, "{\"choices\":[{\"delta\":{\"content\":5}}]}"), -EBADMSG);
	assert_int_equal(feed(&r, "{\"choices\":[{\"delta\":[]}]}"), -EBADMSG);
	assert_int_equal(feed(&r, "{\"choices\":[{\"finish_reason\":1}]}"), -EBADMSG);
	assert_int_equal(feed(&r, "[DONE]"), 0);
	assert_int_equal(feed(&r, "{}"), -EBADMSG);
	/* No finish_reason: the stream was cut. */
	assert_int_equal(chat_reply_finish(&r), -EPIPE);
	chat_reply_done(&r);

	/* Other finish reasons are not a success either. */
	chat_reply_init(&r, 4096, 4096);
	assert_int_equal(feed(&r, "{\"choices\":[{\"index\":0,\"finish_reason\":\"tool_calls\"}]}"), 0);
	assert_int_equal(chat_reply_finish(&r), -EPROTO);
	chat_reply_done(&r);

	/* Over the answer cap. */
	chat_reply_init(&r, 4096, 2);
	assert_int_equal(feed(&r, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"abc\"}}]}"), -ENOBUFS);
	chat_reply_done(&r);
}

static void test_llama_error_line(void **state)
{
	/* llama-server reports a failure mid-stream with an "error:" line. */
	static const char stream[] =
		"data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\n"
		"error: {\"code\":500,\"message\":\"slot unavailable\",\"type\":\"server_error\"}\n\n";
	struct chat_reply r;
	struct sse_parser *p;

	chat_reply_init(&r, 4096, 4096);
	assert_int_equal(sse_parser_new(8192, on_event, &r, &p), 0);
	assert_int_equal(sse_parser_feed(p, stream, sizeof(stream) - 1), -EREMOTEIO);
	assert_string_equal(r.error, "slot unavailable");
	assert_int_equal(chat_reply_finish(&r), -EREMOTEIO);
	sse_parser_free(p);
	chat_reply_done(&r);

	/* Other event types are not ours; a non-JSON error still fails. */
	chat_reply_init(&r, 4096, 4096);
	assert_int_equal(chat_reply_feed_sse(&r, "ping", "{}", 2), 0);
	assert_int_equal(chat_reply_feed_sse(&r, "error", "oops", 4), -EREMOTEIO);
	assert_string_equal(r.error, "the server reported an error in the stream");
	chat_reply_done(&r);
}

static void answer_is(struct chat_reply *r, const char *answer)
{
	chat_reply_init(r, 4096, 4096);
	assert_int_equal(think_feed(&r->think, answer, strlen(answer)), 0);
	assert_int_equal(think_finish(&r->think), 0);
}

static void test_reply_json(void **state)
{
	json_t *schema = json_loads("{\"type\":\"object\",\"properties\":{\"score\":{\"type\":\"number\","
				    "\"minimum\":0,\"maximum\":1}},\"required\":[\"score\"],"
				    "\"additionalProperties\":false}", 0, NULL);
	struct schema_errors errs;
	struct chat_reply r;
	struct buf out;
	json_t *v = NULL;

	schema_errors_init(&errs, 8);
	answer_is(&r, "<think>easy</think>{\"score\": 0.25}");
	assert_int_equal(chat_reply_json(&r, schema, &errs, &v), 0);
	assert_true(json_real_value(json_object_get(v, "score")) == 0.25);
	json_decref(v);
	chat_reply_done(&r);

	answer_is(&r, "```json\n{\"score\": 1}\n```\n");
	v = NULL;
	assert_int_equal(chat_reply_json(&r, schema, &errs, &v), 0);
	json_decref(v);
	chat_reply_done(&r);

	/* A range violation that a grammar-constrained server lets through. */
	answer_is(&r, "{\"score\": 7}");
	v = (void *)1;
	assert_int_equal(chat_reply_json(&r, schema, &errs, &v), -EBADMSG);
	assert_ptr_equal(v, (void *)1);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.msgs[0], "/score: must be <= 1, got 7");
	buf_init(&out, 4096);
	assert_int_equal(chat_repair_prompt(&errs, &out), 0);
	assert_string_equal(out.data, "Your previous reply was rejected:\n"
				      "- /score: must be <= 1, got 7\n"
				      "Reply again with only the corrected JSON, valid against the schema.");
	buf_free(&out);
	schema_errors_clear(&errs);
	chat_reply_done(&r);

	answer_is(&r, "{\"score\": 0.5, \"score\": 0.6}");
	assert_int_equal(chat_reply_json(&r, schema, &errs, &v), -EBADMSG);
	assert_non_null(strstr(errs.msgs[0], "(root): not valid JSON: duplicate object key"));
	schema_errors_clear(&errs);
	chat_reply_done(&r);

	answer_is(&r, "{\"score\": 0.5");
	assert_int_equal(chat_reply_json(&r, schema, &errs, &v), -EBADMSG);
	assert_non_null(strstr(errs.msgs[0], "(root): not valid JSON: "));
	schema_errors_clear(&errs);
	chat_reply_done(&r);

	answer_is(&r, "  <think>only thinking</think> ");
	assert_int_equal(chat_reply_json(&r, schema, &errs, &v), -EBADMSG);
	assert_string_equal(errs.msgs[0], "(root): the reply is empty; a JSON value is required");
	assert_string_equal(chat_reply_answer(&r), "");
	assert_string_equal(chat_reply_reasoning(&r), "only thinking");
	schema_errors_free(&errs);
	chat_reply_done(&r);

	/* Any JSON when there is no schema. */
	answer_is(&r, "[1, 2]");
	assert_int_equal(chat_reply_json(&r, NULL, NULL, &v), 0);
	json_decref(v);
	chat_reply_done(&r);
	json_decref(schema);
}

static void test_choice_index(void **state)
{
	struct chat_delta d;
	json_t *c = json_loads("{\"choices\":[{\"index\":1,\"delta\":{\"content\":\"other\"}},"
			       "{\"index\":0,\"delta\":{\"content\":\"ours\"}}]}", 0, NULL);

	assert_int_equal(chat_chunk_parse(c, &d), 0);
	assert_string_equal(d.content, "ours");
	json_decref(c);

	/* Output untouched on failure. */
	c = json_loads("{\"choices\":[{\"index\":0,\"delta\":{\"content\":1}}]}", 0, NULL);
	memset(&d, 0x5a, sizeof(d));
	assert_int_equal(chat_chunk_parse(c, &d), -EBADMSG);
	assert_int_equal(((unsigned char *)&d)[0], 0x5a);
	json_decref(c);
}

static void test_body(void **state)
{
	static const char llama_body[] =
		"{\"choices\":[{\"finish_reason\":\"stop\",\"index\":0,\"message\":{\"role\":\"assistant\","
		"\"content\":\"{\\\"ok\\\":true}\",\"reasoning_content\":\"Simple.\"}}],\"created\":1763800000,"
		"\"model\":\"qwen3-8b\",\"system_fingerprint\":\"b6100-0ab1c2d3\",\"object\":\"chat.completion\","
		"\"usage\":{\"completion_tokens\":5,\"prompt_tokens\":9,\"total_tokens\":14,"
		"\"prompt_tokens_details\":{\"cached_tokens\":4}},\"id\":\"chatcmpl-1\","
		"\"timings\":{\"cache_n\":3,\"prompt_n\":5,\"prompt_ms\":8.0,\"predicted_n\":5,\"predicted_ms\":40.0}}";
	static const char ollama_body[] =
		"{\"id\":\"chatcmpl-88\",\"object\":\"chat.completion\",\"created\":1763800000,\"model\":\"qwen3:8b\","
		"\"system_fingerprint\":\"fp_ollama\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
		"\"content\":\"<think>\\nhm\\n</think>\\n\\nYes.\"},\"finish_reason\":\"stop\"}],"
		"\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":9,\"total_tokens\":21}}";
	struct chat_reply r;

	chat_reply_init(&r, 4096, 4096);
	assert_int_equal(chat_reply_feed_body(&r, llama_body, sizeof(llama_body) - 1), 0);
	assert_int_equal(chat_reply_finish(&r), 0);
	assert_string_equal(r.think.answer.data, "{\"ok\":true}");
	assert_string_equal(r.think.reasoning.data, "Simple.");
	assert_int_equal(r.usage.cached_tokens, 4);	/* usage wins over timings */
	assert_int_equal(r.usage.prompt_tokens, 9);
	assert_true(r.usage.timings_predicted_ms == 40.0);
	chat_reply_done(&r);

	chat_reply_init(&r, 4096, 4096);
	assert_int_equal(chat_reply_feed_body(&r, ollama_body, sizeof(ollama_body) - 1), 0);
	assert_int_equal(chat_reply_finish(&r), 0);
	assert_string_equal(r.think.answer.data, "Yes.");
	assert_string_equal(r.think.reasoning.data, "\nhm\n");
	chat_reply_done(&r);

	chat_reply_init(&r, 4096, 4096);
	assert_int_equal(chat_reply_feed_body(&r, "not json", 8), -EBADMSG);
	chat_reply_done(&r);
}

static void expect_body(const struct chat_request *req, const char *want)
{
	json_t *body = (void *)1, *w = json_loads(want, 0, NULL);

	assert_non_null(w);
	assert_int_equal(chat_request_build(req, &body), 0);
	if (!json_equal(body, w)) {
		char *got = json_canonical(body);
		fail_msg("got %s\nwant %s", got, want);
	}
	json_decref(body);
	json_decref(w);
}

static void test_request(void **state)
{
	const struct chat_message msgs[] = {
		{ "system", "You fill JSON slots." },
		{ "user", "Rate this: \xc3\xa9t\xc3\xa9" },
	};
	json_t *schema = json_loads("{\"type\":\"object\",\"properties\":{\"score\":{\"type\":\"number\","
				    "\"minimum\":0,\"maximum\":1}},\"required\":[\"score\"],"
				    "\"additionalProperties\":false}", 0, NULL);
	struct chat_request req = {
		.messages = msgs, .n_messages = 2, .max_tokens = -1, .temperature = -1,
	};

	expect_body(&req, "{\"messages\":[{\"role\":\"system\",\"content\":\"You fill JSON slots.\"},"
			  "{\"role\":\"user\",\"content\":\"Rate this: \\u00e9t\\u00e9\"}],\"stream\":false}");

	req.model = "qwen3-8b";
	req.stream = true;
	req.max_tokens = 1536;
	req.temperature = 0.5;
	req.schema = schema;
	req.strict = true;
	req.cache_prompt = true;
	req.use_slot = true;
	req.id_slot = 1;
	expect_body(&req, "{\"model\":\"qwen3-8b\",\"messages\":[{\"role\":\"system\",\"content\":\"You fill JSON slots.\"},"
			  "{\"role\":\"user\",\"content\":\"Rate this: \\u00e9t\\u00e9\"}],\"stream\":true,"
			  "\"stream_options\":{\"include_usage\":true},\"max_tokens\":1536,\"temperature\":0.5,"
			  "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"reply\","
			  "\"strict\":true,\"schema\":{\"type\":\"object\",\"properties\":{\"score\":{\"type\":\"number\","
			  "\"minimum\":0,\"maximum\":1}},\"required\":[\"score\"],\"additionalProperties\":false}}},"
			  "\"cache_prompt\":true,\"id_slot\":1}");

	req.schema_name = "rate_source-v2";
	req.strict = false;
	req.stream = false;
	req.cache_prompt = false;
	req.id_slot = 0;
	req.temperature = 0;
	expect_body(&req, "{\"model\":\"qwen3-8b\",\"messages\":[{\"role\":\"system\",\"content\":\"You fill JSON slots.\"},"
			  "{\"role\":\"user\",\"content\":\"Rate this: \\u00e9t\\u00e9\"}],\"stream\":false,"
			  "\"max_tokens\":1536,\"temperature\":0.0,"
			  "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"rate_source-v2\","
			  "\"strict\":false,\"schema\":{\"type\":\"object\",\"properties\":{\"score\":{\"type\":\"number\","
			  "\"minimum\":0,\"maximum\":1}},\"required\":[\"score\"],\"additionalProperties\":false}}},"
			  "\"id_slot\":0}");
	json_decref(schema);
}

static void test_request_invalid(void **state)
{
	const struct chat_message good[] = { { "user", "hi" } };
	const struct chat_message bad_role[] = { { "tool", "hi" } };
	const struct chat_message bad_utf8[] = { { "user", "\xff" } };
	const struct chat_message null_content[] = { { "user", NULL } };
	json_t *typo = json_loads("{\"type\":\"object\",\"requird\":[\"a\"]}", 0, NULL);
	json_t *body = (void *)1;
	struct chat_request req = { .messages = good, .n_messages = 0, .temperature = -1 };

	assert_int_equal(chat_request_build(&req, &body), -EINVAL);
	req.n_messages = 1;
	req.messages = bad_role;
	assert_int_equal(chat_request_build(&req, &body), -EINVAL);
	req.messages = bad_utf8;
	assert_int_equal(chat_request_build(&req, &body), -EINVAL);
	req.messages = null_content;
	assert_int_equal(chat_request_build(&req, &body), -EINVAL);
	req.messages = good;
	req.schema = typo;
	assert_int_equal(chat_request_build(&req, &body), -EINVAL);
	req.schema = json_object();
	req.schema_name = "has space";
	assert_int_equal(chat_request_build(&req, &body), -EINVAL);
	req.schema_name = "";
	assert_int_equal(chat_request_build(&req, &body), -EINVAL);
	req.schema_name = NULL;
	req.use_slot = true;
	req.id_slot = -1;
	assert_int_equal(chat_request_build(&req, &body), -EINVAL);
	assert_ptr_equal(body, (void *)1);
	json_decref((json_t *)req.schema);
	json_decref(typo);
}

/* Ollama's native /api/chat with a thinking model: "thinking" apart,
 * a <think> block in content too, counts on the last line. */
static const char ollama_native[] =
	"{\"model\":\"qwen3:8b\",\"created_at\":\"2026-01-01T00:00:00.1Z\",\"message\":{\"role\":\"assistant\","
	"\"content\":\"\",\"thinking\":\"Numbers \"},\"done\":false}\n"
	"{\"model\":\"qwen3:8b\",\"created_at\":\"2026-01-01T00:00:00.2Z\",\"message\":{\"role\":\"assistant\","
	"\"content\":\"<think>more</think>{\\\"a\\\":\"},\"done\":false}\r\n"
	"\n"
	"{\"model\":\"qwen3:8b\",\"created_at\":\"2026-01-01T00:00:00.3Z\",\"message\":{\"role\":\"assistant\","
	"\"content\":\" 1}\"},\"done\":false}\n"
	"{\"model\":\"qwen3:8b\",\"created_at\":\"2026-01-01T00:00:00.4Z\",\"message\":{\"role\":\"assistant\","
	"\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\",\"total_duration\":4883583458,"
	"\"load_duration\":1334875,\"prompt_eval_count\":26,\"prompt_eval_duration\":342546000,"
	"\"eval_count\":7,\"eval_duration\":4535599000}\n";

static int feed_line(const char *line, size_t len, void *ud)
{
	return chat_reply_feed_ollama(ud, line, len);
}

static void test_ollama_native(void **state)
{
	const size_t n = sizeof(ollama_native) - 1;

	/* Split at every byte: the same reply. */
	for (size_t cut = 0; cut <= n; cut++) {
		struct chat_reply r;
		struct ndjson *nd;

		chat_reply_init(&r, 4096, 4096);
		assert_int_equal(ndjson_new(1024, feed_line, &r, &nd), 0);
		assert_int_equal(ndjson_feed(nd, ollama_native, cut), 0);
		assert_int_equal(ndjson_feed(nd, ollama_native + cut, n - cut), 0);
		assert_int_equal(ndjson_finish(nd), 0);
		assert_int_equal(chat_reply_finish(&r), 0);
		assert_string_equal(chat_reply_answer(&r), "{\"a\": 1}");
		assert_string_equal(chat_reply_reasoning(&r), "Numbers more");
		assert_string_equal(r.model, "qwen3:8b");
		assert_string_equal(r.finish_reason, "stop");
		assert_int_equal(r.usage.prompt_tokens, 26);
		assert_int_equal(r.usage.completion_tokens, 7);
		assert_true(r.done);
		ndjson_free(nd);
		chat_reply_done(&r);
	}
}

static void test_ollama_lines(void **state)
{
	static const char done_len[] = "{\"message\":{\"content\":\"x\"},\"done\":true,"
		"\"done_reason\":\"length\"}";
	static const char done_old[] = "{\"message\":{\"content\":\"x\"},\"done\":true}";
	static const char err[] = "{\"error\":\"model requires more system memory\"}";
	struct chat_reply r;
	struct ndjson *nd;
	char big[40];

	chat_reply_init(&r, 64, 64);
	assert_int_equal(chat_reply_feed_ollama(&r, done_len, strlen(done_len)), 0);
	assert_int_equal(chat_reply_finish(&r), -ENOSPC);
	chat_reply_done(&r);

	/* A server without done_reason: done is the stop; nothing may follow. */
	chat_reply_init(&r, 64, 64);
	assert_int_equal(chat_reply_feed_ollama(&r, done_old, strlen(done_old)), 0);
	assert_int_equal(chat_reply_feed_ollama(&r, done_old, strlen(done_old)), -EBADMSG);
	assert_int_equal(chat_reply_finish(&r), 0);
	chat_reply_done(&r);

	chat_reply_init(&r, 64, 64);
	assert_int_equal(chat_reply_feed_ollama(&r, err, strlen(err)), -EREMOTEIO);
	assert_string_equal(r.error, "model requires more system memory");
	assert_int_equal(chat_reply_finish(&r), -EREMOTEIO);
	chat_reply_done(&r);

	/* Not an object, a bad type, not JSON; no "done": cut. */
	chat_reply_init(&r, 64, 64);
	assert_int_equal(chat_reply_feed_ollama(&r, "[1]", 3), -EBADMSG);
	assert_int_equal(chat_reply_feed_ollama(&r, "{\"done\":1}", 10), -EBADMSG);
	assert_int_equal(chat_reply_feed_ollama(&r, "{\"message\":\"x\"}", 15), -EBADMSG);
	assert_int_equal(chat_reply_feed_ollama(&r, "{\"mess", 6), -EBADMSG);
	assert_int_equal(chat_reply_feed_ollama(&r, "{\"message\":{\"content\":\"y\"}}", 27), 0);
	assert_int_equal(chat_reply_finish(&r), -EPIPE);
	chat_reply_done(&r);

	/* A line over the cap is an error, never cut short; errors stick. */
	chat_reply_init(&r, 64, 64);
	assert_int_equal(ndjson_new(16, feed_line, &r, &nd), 0);
	memset(big, ' ', sizeof(big));
	assert_int_equal(ndjson_feed(nd, "{}\n", 3), 0);
	assert_int_equal(ndjson_feed(nd, big, 16), 0);
	assert_int_equal(ndjson_feed(nd, big, 1), -EMSGSIZE);
	assert_int_equal(ndjson_feed(nd, "\n", 1), -EMSGSIZE);
	assert_int_equal(ndjson_finish(nd), -EMSGSIZE);
	ndjson_free(nd);
	chat_reply_done(&r);
	assert_int_equal(ndjson_new(0, feed_line, &r, &nd), -EINVAL);
}

static void test_ollama_request(void **state)
{
	const struct chat_message msgs[] = { { "system", "Be brief." }, { "user", "hi" } };
	json_t *schema = json_loads("{\"type\":\"object\"}", 0, NULL), *body = NULL, *opts;
	struct chat_request req = { .model = "llama3:8b", .messages = msgs, .n_messages = 2,
		.stream = true, .max_tokens = 100, .temperature = 0.5, .schema = schema,
		.num_ctx = 32768, .cache_prompt = true };

	assert_int_equal(chat_request_build_ollama(&req, &body), 0);
	opts = json_object_get(body, "options");
	assert_string_equal(json_string_value(json_object_get(body, "model")), "llama3:8b");
	assert_true(json_is_true(json_object_get(body, "stream")));
	assert_int_equal(json_array_size(json_object_get(body, "messages")), 2);
	assert_true(json_equal(json_object_get(body, "format"), schema));
	assert_int_equal(json_integer_value(json_object_get(opts, "num_ctx")), 32768);
	assert_int_equal(json_integer_value(json_object_get(opts, "num_predict")), 100);
	assert_true(json_real_value(json_object_get(opts, "temperature")) == 0.5);
	/* Nothing of the OpenAI body, and no "think": the model's default. */
	assert_int_equal(json_object_size(body), 5);
	json_decref(body);

	/* Free text, server defaults. */
	req.schema = NULL;
	req.num_ctx = 0;
	req.max_tokens = 0;
	req.temperature = -1;
	req.stream = false;
	assert_int_equal(chat_request_build_ollama(&req, &body), 0);
	assert_null(json_object_get(body, "format"));
	assert_int_equal(json_object_size(json_object_get(body, "options")), 0);
	assert_true(json_is_false(json_object_get(body, "stream")));
	json_decref(body);

	/* Ollama needs the model; the shared checks apply. */
	body = (void *)1;
	req.model = NULL;
	assert_int_equal(chat_request_build_ollama(&req, &body), -EINVAL);
	req.model = "m";
	req.n_messages = 0;
	assert_int_equal(chat_request_build_ollama(&req, &body), -EINVAL);
	assert_ptr_equal(body, (void *)1);
	json_decref(schema);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_llama_stream_every_split),
		cmocka_unit_test(test_ollama),
		cmocka_unit_test(test_vllm_length),
		cmocka_unit_test(test_think_in_content),
		cmocka_unit_test(test_both_reasoning_names),
		cmocka_unit_test(test_continuous_usage),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_llama_error_line),
		cmocka_unit_test(test_reply_json),
		cmocka_unit_test(test_choice_index),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_request_invalid),
		cmocka_unit_test(test_ollama_native),
		cmocka_unit_test(test_ollama_lines),
		cmocka_unit_test(test_ollama_request),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
