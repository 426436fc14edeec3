/* Unit tests of the SSE parser. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "sse.h"

/* Events rendered as "type|id|data\n" (data escaped) for easy comparison. */
struct rec {
	struct buf out;
	int fail_at;	/* make the nth callback fail; 0: never */
	int n;
};

static int on_event(const struct sse_event *ev, void *userdata)
{
	struct rec *r = userdata;

	assert_int_equal(ev->data[ev->data_len], '\0');
	assert_int_equal(buf_printf(&r->out, "%s|%s|", ev->type, ev->id), 0);
	for (size_t i = 0; i < ev->data_len; i++) {
		char c = ev->data[i];
		if (c == '\n')
			assert_int_equal(buf_puts(&r->out, "\\n"), 0);
		else if (c == '\0')
			assert_int_equal(buf_puts(&r->out, "\\0"), 0);
		else
			assert_int_equal(buf_putc(&r->out, c), 0);
	}
	assert_int_equal(buf_putc(&r->out, '\n'), 0);
	if (++r->n == r->fail_at)
		return -ECANCELED;
	return 0;
}

/* Parse s in the given chunks (sizes summing to len; NULL: whole). */
static int parse(const char *s, size_t len, const size_t *cuts, size_t ncuts, size_t max,
		 struct rec *rec, int *ret_finish)
{
	struct sse_parser *p;
	size_t at = 0;
	int r = 0;

	buf_init(&rec->out, 1 << 20);
	rec->n = 0;
	assert_int_equal(sse_parser_new(max, on_event, rec, &p), 0);
	for (size_t i = 0; i <= ncuts && r == 0; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		r = sse_parser_feed(p, s + at, end - at);
		at = end;
	}
	*ret_finish = r == 0 ? sse_parser_finish(p) : r;
	sse_parser_free(p);
	return r;
}

static char *events_of(const char *s, size_t len, size_t max, int *ret_r, int *ret_fin)
{
	struct rec rec = { 0 };

	*ret_r = parse(s, len, NULL, 0, max, &rec, ret_fin);
	return buf_steal(&rec.out);
}

/* A stream as llama-server sends it, with a keep-alive comment, a BOM, an
 * id, a retry, mixed line endings and a multi-line event. */
static const char recorded[] =
	"\xef\xbb\xbf: keep-alive\n"
	"retry: 3000\n"
	"\n"
	"data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null}}]}\n\n"
	"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\r\n\r\n"
	"id: 7\r"
	"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}\r\r"
	": ping\n"
	"event: note\n"
	"data: line one\n"
	"data:line two\n"
	"data:  spaced\n"
	"data\n"
	"\n"
	"data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
	"\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\n"
	"data: [DONE]\n\n";

static const char recorded_events[] =
	"message||{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null}}]}\n"
	"message||{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n"
	"message|7|{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}\n"
	"note|7|line one\\nline two\\n spaced\\n\n"
	"message|7|{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
	"\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n"
	"message|7|[DONE]\n";

static void test_recorded_whole(void **state)
{
	int r, fin;
	char *ev = events_of(recorded, sizeof(recorded) - 1, 4096, &r, &fin);

	assert_int_equal(r, 0);
	assert_int_equal(fin, 0);
	assert_string_equal(ev, recorded_events);
	free(ev);
}

static void test_recorded_every_split(void **state)
{
	size_t len = sizeof(recorded) - 1;

	/* Every split into two chunks, then every split into three. */
	for (size_t i = 0; i <= len; i++) {
		struct rec rec = { 0 };
		size_t cuts[1] = { i };
		int fin;

		assert_int_equal(parse(recorded, len, cuts, 1, 4096, &rec, &fin), 0);
		assert_int_equal(fin, 0);
		assert_string_equal(rec.out.data, recorded_events);
		buf_free(&rec.out);
	}
	for (size_t i = 0; i <= len; i += 3)
		for (size_t j = i; j <= len; j++) {
			struct rec rec = { 0 };
			size_t cuts[2] = { i, j };
			int fin;

			assert_int_equal(parse(recorded, len, cuts, 2, 4096, &rec, &fin), 0);
			assert_string_equal(rec.out.data, recorded_events);
			buf_free(&rec.out);
		}
}

static void test_byte_at_a_time(void **state)
{
	size_t len = sizeof(recorded) - 1;
	size_t *cuts = calloc(len, sizeof(size_t));
	struct rec rec = { 0 };
	int fin;

	for (size_t i = 0; i < len; i++)
		cuts[i] = i;
	assert_int_equal(parse(recorded, len, cuts, len, 4096, &rec, &fin), 0);
	assert_int_equal(fin, 0);
	assert_string_equal(rec.out.data, recorded_events);
	buf_free(&rec.out);
	free(cuts);
}

static void check(const char *in, const char *want, int want_r, int want_fin)
{
	int r, fin;
	char *ev = events_of(in, strlen(in), 64, &r, &fin);

	assert_int_equal(r, want_r);
	assert_int_equal(fin, want_fin);
	assert_string_equal(ev, want);
	free(ev);
}

static void test_line_endings(void **state)
{
	check("data: a\r\n\r\ndata: b\r\rdata: c\n\n", "message||a\nmessage||b\nmessage||c\n", 0, 0);
	/* CR then LF in the next event is one line end, not two. */
	check("data: a\r\ndata: b\r\n\r\n", "message||a\\nb\n", 0, 0);
	/* LF CR is two line ends. */
	check("data: a\n\rdata: b\n\n", "message||a\nmessage||b\n", 0, 0);
}

static void test_comments(void **state)
{
	check(":\n: hello\n:data: x\n\ndata: y\n\n", "message||y\n", 0, 0);
	/* A comment longer than the cap is skipped, never buffered. */
	char big[300];
	memset(big, 'x', sizeof(big));
	big[0] = ':';
	memcpy(big + sizeof(big) - 12, "\ndata: z\n\n", 11);
	check(big, "message||z\n", 0, 0);
}

static void test_fields(void **state)
{
	/* No colon: the whole line is the field name, the value is empty. */
	check("data\n\n", "message||\n", 0, 0);
	check("data\ndata\n\n", "message||\\n\n", 0, 0);
	/* One leading space is stripped, not two; none needed. */
	check("data:x\n\ndata:  y\n\n", "message||x\nmessage|| y\n", 0, 0);
	/* Unknown fields and a bare "event" are ignored; no data, no event. */
	check("foo: bar\nevent: e\n\n", "", 0, 0);
	check("event: a\ndata: 1\n\ndata: 2\n\n", "a||1\nmessage||2\n", 0, 0);
	/* id persists across events; an empty id resets it. */
	check("id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n",
	      "message|1|a\nmessage|1|b\nmessage||c\n", 0, 0);
	/* llama-server's error line is an "error" event. */
	check("data: a\n\nerror: {\"message\":\"m\"}\n\n", "message||a\nerror||{\"message\":\"m\"}\n", 0, 0);
	/* Field names are case-sensitive. */
	check("Data: a\n\n", "", 0, 0);
}

static void test_nul_in_data(void **state)
{
	static const char in[] = "data: a\0b\n\n";
	int r, fin;
	char *ev = events_of(in, sizeof(in) - 1, 64, &r, &fin);

	assert_int_equal(r, 0);
	assert_memory_equal(ev, "message||a\\0b\n", 15);
	free(ev);
}

static void test_retry(void **state)
{
	struct sse_parser *p;
	struct rec rec = { 0 };

	buf_init(&rec.out, 4096);
	assert_int_equal(sse_parser_new(64, on_event, &rec, &p), 0);
	assert_int_equal(sse_parser_retry_ms(p), -1);
	assert_int_equal(sse_parser_feed(p, "retry: 1500\n", 12), 0);
	assert_int_equal(sse_parser_retry_ms(p), 1500);
	assert_int_equal(sse_parser_feed(p, "retry: 15x\nretry:\nretry: 99999999999999\n", 40), 0);
	assert_int_equal(sse_parser_retry_ms(p), 1500);
	assert_int_equal(sse_parser_finish(p), -EPIPE);	/* fields but no blank line */
	sse_parser_free(p);
	buf_free(&rec.out);
}

static void test_bom(void **state)
{
	check("\xef\xbb\xbf" "data: a\n\n", "message||a\n", 0, 0);
	/* Only one BOM, only at the start. */
	check("\xef\xbb\xbf\xef\xbb\xbf" "data: a\n\n", "", 0, 0);
	check("data: \xef\xbb\xbf\n\n", "message||\xef\xbb\xbf\n", 0, 0);
	/* A partial BOM is data. */
	check("\xef" "data: a\n\n", "", 0, 0);
	check("\xef\xbb", "", 0, -EPIPE);
}

static void test_over_cap(void **state)
{
	char line[200];
	struct sse_parser *p;
	struct rec rec = { 0 };

	/* One line over the cap. */
	memset(line, 'a', sizeof(line));
	memcpy(line, "data: ", 6);
	buf_init(&rec.out, 4096);
	assert_int_equal(sse_parser_new(64, on_event, &rec, &p), 0);
	assert_int_equal(sse_parser_feed(p, "data: ok\n\n", 10), 0);
	assert_int_equal(sse_parser_feed(p, line, sizeof(line)), -EMSGSIZE);
	/* Sticky. */
	assert_int_equal(sse_parser_feed(p, "\n\ndata: x\n\n", 11), -EMSGSIZE);
	assert_int_equal(sse_parser_finish(p), -EMSGSIZE);
	assert_string_equal(rec.out.data, "message||ok\n");
	sse_parser_free(p);
	buf_free(&rec.out);

	/* Short lines whose data adds up past the cap. */
	rec.n = 0;
	buf_init(&rec.out, 4096);
	assert_int_equal(sse_parser_new(64, on_event, &rec, &p), 0);
	int r = 0;
	for (int i = 0; i < 20 && r == 0; i++)
		r = sse_parser_feed(p, "data: 0123456789\n", 17);
	assert_int_equal(r, -EMSGSIZE);
	assert_int_equal(rec.n, 0);
	sse_parser_free(p);
	buf_free(&rec.out);

	/* Exactly at the cap is fine. */
	char exact[64 + 2];
	memset(exact, 'b', 64);
	memcpy(exact, "data:", 5);
	exact[64] = '\n';
	exact[65] = '\n';
	int fin;
	buf_init(&rec.out, 4096);
	assert_int_equal(parse(exact, sizeof(exact), NULL, 0, 64, &rec, &fin), 0);
	assert_int_equal(rec.n, 1);
	buf_free(&rec.out);
}

static void test_cut_stream(void **state)
{
	check("data: a\n\ndata: b", "message||a\n", 0, -EPIPE);
	check("data: a\n\ndata: b\n", "message||a\n", 0, -EPIPE);
	check("data: a\n\n: trailing comment", "message||a\n", 0, 0);
	check("", "", 0, 0);
}

static void test_callback_error(void **state)
{
	struct sse_parser *p;
	struct rec rec = { .fail_at = 2 };

	buf_init(&rec.out, 4096);
	assert_int_equal(sse_parser_new(64, on_event, &rec, &p), 0);
	assert_int_equal(sse_parser_feed(p, "data: 1\n\ndata: 2\n\ndata: 3\n\n", 27), -ECANCELED);
	assert_int_equal(rec.n, 2);
	assert_int_equal(sse_parser_events(p), 2);
	assert_int_equal(sse_parser_feed(p, "data: 4\n\n", 9), -ECANCELED);
	sse_parser_free(p);
	buf_free(&rec.out);
}

static void test_args(void **state)
{
	struct sse_parser *p = (void *)1;

	assert_int_equal(sse_parser_new(0, on_event, NULL, &p), -EINVAL);
	assert_int_equal(sse_parser_new(10, NULL, NULL, &p), -EINVAL);
	assert_ptr_equal(p, (void *)1);
	assert_null(sse_parser_free(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recorded_whole),
		cmocka_unit_test(test_recorded_every_split),
		cmocka_unit_test(test_byte_at_a_time),
		cmocka_unit_test(test_line_endings),
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_nul_in_data),
		cmocka_unit_test(test_retry),
		cmocka_unit_test(test_bom),
		cmocka_unit_test(test_over_cap),
		cmocka_unit_test(test_cut_stream),
		cmocka_unit_test(test_callback_error),
		cmocka_unit_test(test_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
