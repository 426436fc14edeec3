/* The doc.text and index.query effects through the effects layer on a real
 * loop and store: HTML, plain text, a PDF made here (through the sandbox),
 * corrupt input, the same snapshot twice, a local document, and a job's
 * retrieval scoped to the texts it read.
 *
 * `test-doc-text pdf` runs only the PDF case and exits 77 when no PDF can be
 * converted here (no pdftotext, no user namespaces), unless CI=true. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>
#include <cmocka.h>

#include "buf.h"
#include "doc-text.h"
#include "effect.h"
#include "hash.h"
#include "index.h"
#include "store.h"
#include "str.h"
#include "xmalloc.h"

struct fixture {
	char dir[64];
	uv_loop_t loop;
	struct store *s;
	struct effects *fx;
	struct doc_text_config cfg;
	int64_t job[3];		/* owners 1000, 1000, 1001 */
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char path[128];

	snprintf(f->dir, sizeof(f->dir), "/tmp/test-doc-text.XXXXXX");
	if (mkdtemp(f->dir) == NULL || hash_init() < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/db", f->dir);
	if (store_open(path, &f->s) < 0 || uv_loop_init(&f->loop) < 0 ||
	    effects_new(&f->loop, f->s, &f->fx) < 0)
		return -1;
	f->cfg.store = f->s;
	f->cfg.sandbox_helper = getenv("SANDBOX_HELPER");
	if (doc_text_register(f->fx, &f->cfg) < 0 || index_register(f->fx, f->s) < 0)
		return -1;
	for (int i = 0; i < 3; i++) {
		struct store_job j = {
			.owner = i < 2 ? 1000 : 1001, .kind = "research", .question = "q",
			.options = json_object(), .state = JOB_QUEUED,
		};
		int r = store_job_insert(f->s, &j, &f->job[i]);

		json_decref(j.options);
		if (r < 0)
			return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	effects_free(f->fx);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	uv_loop_close(&f->loop);
	store_close(f->s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

struct outcome {
	bool done, replayed;
	int r;
	json_t *result;
};

static void on_done(struct effect_call *c, int r, const json_t *result, bool replayed, void *ud)
{
	struct outcome *o = ud;

	o->done = true;
	o->r = r;
	o->replayed = replayed;
	o->result = result ? json_incref((json_t *)result) : NULL;
}

/* Run (or replay) one effect to its end; returns its r. */
static int run(struct fixture *f, int64_t job, const char *kind, json_t *req, struct outcome *o)
{
	struct effect_call *call = NULL;
	int r;

	memset(o, 0, sizeof(*o));
	r = effect_run(f->fx, job, kind, req, on_done, o, &call);
	json_decref(req);
	if (r < 0)
		return r;
	while (!o->done)
		uv_run(&f->loop, UV_RUN_ONCE);
	return o->r;
}

/* A snapshot in the source cache; its hash in hex. */
static void put_snapshot(struct fixture *f, const void *body, size_t len, char hex[HASH_HEX_LEN + 1])
{
	uint8_t h[HASH_BYTES];

	hash_bytes(body, len, h);
	assert_int_equal(store_snapshot_put(f->s, h, body, len, 1), 0);
	hash_hex(h, hex);
}

static json_t *snapshot_req(const char *hex, const char *ctype, const char *url)
{
	return json_pack("{s:s, s:s?, s:s}", "hash", hex, "content_type", ctype, "url", url);
}

/* The stored text of a result: its hash must be the BLAKE2b of the bytes
 * read back, and the passages must lie in order inside it, each starting
 * and ending on a non-space byte. */
static char *check_text(struct fixture *f, const json_t *res, size_t *ret_len)
{
	const char *th = json_string_value(json_object_get(res, "text_hash"));
	json_t *ps = json_object_get(res, "passages");
	char hex[HASH_HEX_LEN + 1], *text = NULL;
	uint8_t h[HASH_BYTES];
	size_t len = 0, prev = 0, i;
	json_t *p;

	if (th == NULL)
		fail_msg("no text_hash in %s", json_dumps(res, 0));
	assert_int_equal(doc_text_get(f->s, th, 1 << 20, &text, &len), 0);
	assert_int_equal(json_integer_value(json_object_get(res, "bytes")), (json_int_t)len);
	hash_bytes(text, len, h);
	hash_hex(h, hex);
	assert_string_equal(hex, th);
	assert_true(json_array_size(ps) > 0);
	json_array_foreach(ps, i, p) {
		size_t a = (size_t)json_integer_value(json_array_get(p, 0));
		size_t b = (size_t)json_integer_value(json_array_get(p, 1));

		assert_true(a >= prev && a < b && b <= len);
		assert_false(text[a] == ' ' || text[a] == '\n');
		assert_false(text[b - 1] == ' ' || text[b - 1] == '\n');
		prev = b;
	}
	*ret_len = len;
	return text;
}

static const char html_page[] =
    "<!doctype html><html><head><title>Boundary layers</title></head><body>"
    "<nav><a href=\"/\">Home</a> <a href=\"/about\">About us</a></nav>"
    "<article><h1>Boundary layers</h1>"
    "<p>The laminar boundary layer on a flat plate thickens downstream as the square root"
    " of the distance from the leading edge, as Blasius showed in 1908.</p>"
    "<p>Transition to turbulence follows once the Reynolds number passes a critical value,"
    " after which skin friction rises sharply along the plate.</p>"
    "</article><footer>Copyright nobody</footer></body></html>";

static void test_html(void **state)
{
	struct fixture *f = *state;
	char hex[HASH_HEX_LEN + 1], *text;
	struct outcome o;
	size_t len;

	put_snapshot(f, html_page, strlen(html_page), hex);
	assert_int_equal(run(f, f->job[0], "doc.text",
	    snapshot_req(hex, "text/html; charset=utf-8", "https://a.example/bl"), &o), 0);
	assert_false(o.replayed);
	assert_null(json_object_get(o.result, "error"));
	assert_string_equal(json_string_value(json_object_get(o.result, "title")), "Boundary layers");
	text = check_text(f, o.result, &len);
	assert_non_null(strstr(text, "square root of the distance from the leading edge"));
	assert_non_null(strstr(text, "Reynolds number passes a critical value"));
	assert_null(strstr(text, "About us"));	/* navigation is not main content */
	assert_null(strstr(text, "<p>"));
	free(text);
	json_decref(o.result);

	/* the second run replays, and reads the same */
	assert_int_equal(run(f, f->job[0], "doc.text",
	    snapshot_req(hex, "text/html; charset=utf-8", "https://a.example/bl"), &o), 0);
	assert_true(o.replayed);
	json_decref(o.result);
}

static void test_plain_text(void **state)
{
	struct fixture *f = *state;
	static const char body[] = "First paragraph about shock waves.\n\n"
	    "Second paragraph about supersonic inlets.\n";
	char hex[HASH_HEX_LEN + 1], *text;
	struct outcome o;
	size_t len;

	put_snapshot(f, body, strlen(body), hex);
	assert_int_equal(run(f, f->job[0], "doc.text",
	    snapshot_req(hex, "text/plain", "https://a.example/t.txt"), &o), 0);
	text = check_text(f, o.result, &len);
	/* text/plain passes through: the very bytes, so offsets index them */
	assert_int_equal(len, strlen(body));
	assert_memory_equal(text, body, len);
	/* the passages cover the text but its final newline */
	json_t *ps = json_object_get(o.result, "passages");
	assert_int_equal(json_integer_value(json_array_get(json_array_get(ps, 0), 0)), 0);
	assert_int_equal(json_integer_value(json_array_get(json_array_get(ps,
	    json_array_size(ps) - 1), 1)), (json_int_t)strlen(body) - 1);
	free(text);
	json_decref(o.result);
}

static void test_corrupt(void **state)
{
	struct fixture *f = *state;
	static const unsigned char junk[] = { 0x00, 0xff, 0x13, 0x00, 0x89, 'P', 'N', 'G', 0, 1, 2 };
	static const char blank[] = "  \n\n\t  \n";
	char hex[HASH_HEX_LEN + 1];
	struct outcome o;

	put_snapshot(f, junk, sizeof(junk), hex);
	assert_int_equal(run(f, f->job[0], "doc.text",
	    snapshot_req(hex, "text/html", "https://a.example/bin"), &o), 0);
	assert_non_null(json_string_value(json_object_get(o.result, "error")));
	assert_null(json_object_get(o.result, "text_hash"));
	json_decref(o.result);
	/* a permanent failure is stored: it replays */
	assert_int_equal(run(f, f->job[0], "doc.text",
	    snapshot_req(hex, "text/html", "https://a.example/bin"), &o), 0);
	assert_true(o.replayed);
	assert_non_null(json_string_value(json_object_get(o.result, "error")));
	json_decref(o.result);

	put_snapshot(f, blank, strlen(blank), hex);
	assert_int_equal(run(f, f->job[0], "doc.text",
	    snapshot_req(hex, "text/plain", "https://a.example/blank"), &o), 0);
	assert_string_equal(json_string_value(json_object_get(o.result, "error")),
	    "the document has no text");
	json_decref(o.result);

	/* bad requests: nothing to store */
	assert_int_equal(run(f, f->job[0], "doc.text",
	    snapshot_req("00", "text/plain", "https://a.example/"), &o), -EINVAL);
	assert_int_equal(run(f, f->job[0], "doc.text", snapshot_req(
	    "0000000000000000000000000000000000000000000000000000000000000000", "text/plain",
	    "https://a.example/"), &o), -ENOENT);
	assert_int_equal(run(f, f->job[0], "doc.text", json_pack("{s:i}", "hash", 1), &o), -EINVAL);
	assert_int_equal(run(f, f->job[0], "doc.text", json_pack("{s:s}", "local", "/etc/passwd"), &o),
	    -EINVAL);
}

struct hit_list {
	size_t n;
	char url[16][128], th[16][HASH_HEX_LEN + 1];
	int64_t start[16];
};

static int collect(const struct store_index_hit *h, void *ud)
{
	struct hit_list *l = ud;

	if (l->n == 16)
		return 1;
	snprintf(l->url[l->n], sizeof(l->url[0]), "%s", h->key);
	snprintf(l->th[l->n], sizeof(l->th[0]), "%s", h->text_hash ? h->text_hash : "");
	l->start[l->n++] = h->start;
	return 0;
}

/* Same text twice (another URL, another job), then scoping: each job finds
 * only what it read, and re-indexing elsewhere changes nothing for it. */
static void test_same_twice_and_job_scope(void **state)
{
	struct fixture *f = *state;
	static const char body[] = "Hypersonic flow over a blunt cone produces a detached bow shock.\n";
	static const char other[] = "Hypersonic wind tunnels need heated air to avoid condensation.\n";
	char hex[HASH_HEX_LEN + 1], hex2[HASH_HEX_LEN + 1];
	const char *th1, *th2;
	struct hit_list l = { 0 };
	struct outcome o, o2, q;
	json_t *hits;

	put_snapshot(f, body, strlen(body), hex);
	put_snapshot(f, other, strlen(other), hex2);
	assert_int_equal(run(f, f->job[0], "doc.text",
	    snapshot_req(hex, "text/plain", "https://b.example/cone"), &o), 0);
	assert_int_equal(run(f, f->job[1], "doc.text",
	    snapshot_req(hex, "text/plain", "https://mirror.example/cone"), &o2), 0);
	assert_false(o2.replayed);
	th1 = json_string_value(json_object_get(o.result, "text_hash"));
	th2 = json_string_value(json_object_get(o2.result, "text_hash"));
	assert_non_null(th1);
	assert_string_equal(th1, th2);
	json_decref(o2.result);
	assert_int_equal(run(f, f->job[1], "doc.text",
	    snapshot_req(hex2, "text/plain", "https://c.example/tunnel"), &o2), 0);

	/* job 0 read the cone only; job 1 both, the cone under its own URL */
	assert_int_equal(store_index_query_job(f->s, f->job[0], "hypersonic", 0, 10, collect, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.url[0], "https://b.example/cone");
	assert_string_equal(l.th[0], th1);
	memset(&l, 0, sizeof(l));
	assert_int_equal(store_index_query_job(f->s, f->job[1], "hypersonic", 0, 10, collect, &l), 0);
	assert_int_equal(l.n, 2);
	assert_true(strcmp(l.url[0], "https://mirror.example/cone") == 0 ||
	    strcmp(l.url[1], "https://mirror.example/cone") == 0);
	memset(&l, 0, sizeof(l));
	assert_int_equal(store_index_query_job(f->s, f->job[2], "hypersonic", 0, 10, collect, &l), 0);
	assert_int_equal(l.n, 0);
	/* the global index is another thing: a web document under the same
	 * URL, indexed and replaced, leaves the job's text alone */
	assert_int_equal(index_add(f->s, "https://b.example/cone", "web", "", "nothing hypersonic", 18,
	    1, NULL, NULL), 0);
	assert_int_equal(index_add(f->s, "https://b.example/cone", "web", "", "replaced", 8, 2, NULL,
	    NULL), 0);
	assert_int_equal(store_index_query_job(f->s, f->job[0], "bow shock", 0, 10, collect, &l), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.start[0], 0);

	/* the index.query effect: the same, recorded */
	assert_int_equal(run(f, f->job[1], "index.query", json_pack("{s:I, s:s, s:i, s:s}",
	    "job", (json_int_t)f->job[1], "q", "hypersonic cone", "limit", 5, "set", "s1"), &q), 0);
	hits = json_object_get(q.result, "hits");
	assert_int_equal(json_array_size(hits), 2);
	/* the cone matches both terms: first */
	assert_string_equal(json_string_value(json_object_get(json_array_get(hits, 0), "text_hash")),
	    th1);
	assert_true(json_real_value(json_object_get(json_array_get(hits, 0), "score")) >
	    json_real_value(json_object_get(json_array_get(hits, 1), "score")));
	assert_int_equal(json_integer_value(json_object_get(json_array_get(hits, 0), "end")),
	    (json_int_t)strlen(body) - 1);
	json_decref(q.result);
	/* another job's id is refused */
	assert_int_equal(run(f, f->job[0], "index.query", json_pack("{s:I, s:s}",
	    "job", (json_int_t)f->job[1], "q", "hypersonic"), &q), -EPERM);
	assert_int_equal(run(f, f->job[0], "index.query", json_pack("{s:I, s:s, s:i}",
	    "job", (json_int_t)f->job[0], "q", "x", "limit", 0), &q), -EINVAL);
	json_decref(o.result);
	json_decref(o2.result);
}

static void test_local(void **state)
{
	struct fixture *f = *state;
	static const char md[] = "# Notes\n\nMy private notes on wing flutter.\n\nMore notes.";
	char *text;
	struct outcome o;
	size_t len;

	assert_int_equal(index_add_owned(f->s, 1000, "file:///home/u/notes.md", "local", "Notes", md,
	    strlen(md), 1, NULL, NULL), 0);
	assert_int_equal(run(f, f->job[0], "doc.text",
	    json_pack("{s:s}", "local", "file:///home/u/notes.md"), &o), 0);
	assert_string_equal(json_string_value(json_object_get(o.result, "title")), "Notes");
	text = check_text(f, o.result, &len);
	/* the indexed text, offsets kept (the gaps were whitespace) */
	assert_int_equal(len, strlen(md));
	assert_memory_equal(text + 9, "My private notes on wing flutter.", 33);
	free(text);
	json_decref(o.result);
	/* another user's job does not see it */
	assert_int_equal(run(f, f->job[2], "doc.text",
	    json_pack("{s:s}", "local", "file:///home/u/notes.md"), &o), 0);
	assert_non_null(json_string_value(json_object_get(o.result, "error")));
	json_decref(o.result);
}

/* A one-page PDF with two lines of text, its xref offsets computed. */
static char *make_pdf(size_t *ret_len)
{
	static const char content[] = "BT /F1 18 Tf 72 700 Td (Delta wings at high incidence) Tj"
	    " 0 -30 Td (shed leading edge vortices.) Tj ET";
	const char *objs[5];
	char stream[512];
	size_t off[5];
	struct buf b;

	snprintf(stream, sizeof(stream), "<< /Length %zu >>\nstream\n%s\nendstream", strlen(content),
	    content);
	objs[0] = "<< /Type /Catalog /Pages 2 0 R >>";
	objs[1] = "<< /Type /Pages /Kids [3 0 R] /Count 1 >>";
	objs[2] = "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
	    " /Resources << /Font << /F1 5 0 R >> >> >>";
	objs[3] = stream;
	objs[4] = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>";
	buf_init(&b, 1 << 16);
	buf_puts(&b, "%PDF-1.4\n");
	for (int i = 0; i < 5; i++) {
		off[i] = b.len;
		buf_printf(&b, "%d 0 obj\n%s\nendobj\n", i + 1, objs[i]);
	}
	size_t xref = b.len;
	buf_printf(&b, "xref\n0 6\n0000000000 65535 f \n");
	for (int i = 0; i < 5; i++)
		buf_printf(&b, "%010zu 00000 n \n", off[i]);
	buf_printf(&b, "trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n%zu\n%%%%EOF\n", xref);
	*ret_len = b.len;
	return buf_steal(&b);
}

static int test_pdf_main(void)
{
	bool ci = getenv("CI") && strcmp(getenv("CI"), "true") == 0;
	struct fixture *f = NULL;
	char hex[HASH_HEX_LEN + 1], *pdf, *text = NULL;
	static const char broken[] = "%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage\n%%EOF\n";
	struct outcome o;
	size_t len, tlen = 0;
	const char *th;
	int r;

	if (access("/usr/bin/pdftotext", X_OK) != 0 && !ci) {
		printf("skipped: no pdftotext (poppler-utils)\n");
		return 77;
	}
	if (setup((void **)&f) < 0 || f->cfg.sandbox_helper == NULL) {
		printf("setup failed (SANDBOX_HELPER unset?)\n");
		return 1;
	}
	pdf = make_pdf(&len);
	put_snapshot(f, pdf, len, hex);
	/* the URL and type do not say PDF: the bytes do */
	r = run(f, f->job[0], "doc.text", snapshot_req(hex, "application/octet-stream",
	    "https://d.example/paper"), &o);
	if (r < 0) {
		/* a sandbox that cannot run here (no user namespaces) is transient */
		printf("%s: the PDF could not be converted: %s\n", ci ? "FAIL" : "skipped", strerror(-r));
		return ci ? 1 : 77;
	}
	th = json_string_value(json_object_get(o.result, "text_hash"));
	if (th == NULL || doc_text_get(f->s, th, 1 << 20, &text, &tlen) < 0) {
		printf("FAIL: no text: %s\n", json_dumps(o.result, 0));
		return 1;
	}
	if (strncmp(text, "[page 1]\n", 9) != 0 || !strstr(text, "Delta wings at high incidence") ||
	    !strstr(text, "shed leading edge vortices.")) {
		printf("FAIL: unexpected text:\n%s\n", text);
		return 1;
	}
	json_decref(o.result);
	put_snapshot(f, broken, strlen(broken), hex);
	r = run(f, f->job[0], "doc.text", snapshot_req(hex, "application/pdf", "https://d.example/x"),
	    &o);
	if (r < 0 || json_string_value(json_object_get(o.result, "error")) == NULL) {
		printf("FAIL: a corrupt PDF gave r=%d %s\n", r, o.result ? json_dumps(o.result, 0) : "");
		return 1;
	}
	printf("ok: PDF text %zu bytes; corrupt PDF: %s\n", tlen,
	    json_string_value(json_object_get(o.result, "error")));
	json_decref(o.result);
	free(text);
	free(pdf);
	teardown((void **)&f);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_html, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_twice_and_job_scope, setup, teardown),
		cmocka_unit_test_setup_teardown(test_local, setup, teardown),
	};

	if (argc > 1 && strcmp(argv[1], "pdf") == 0)
		return test_pdf_main();
	return cmocka_run_group_tests_name("doc-text", tests, NULL, NULL);
}
