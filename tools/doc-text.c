/* The "doc.text" effect: snapshot -> text (HTML through extract, PDFs
 * through the sandbox, plain text and Markdown as they are), stored under
 * the text's hash and indexed as a "text" document of the job. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "chunk.h"
#include "doc-text.h"
#include "effect.h"
#include "extract.h"
#include "json.h"
#include "pdf.h"
#include "str.h"
#include "xmalloc.h"

/* One execution. Work on the thread pool cannot be stopped: a cancel
 * marks it and the completion frees. */
struct doc_text_run {
	struct effect_exec *x;
	const struct doc_text_config *c;
	uv_work_t work;
	bool in_work, cancelled;
	struct pdf_job *pdf;
	/* input: a snapshot to extract, or text already (local, PDF) */
	char *body;
	size_t len;
	char *content_type, *url;
	/* output */
	char *text;
	size_t text_len;
	char *title;
	struct chunk *chunks;
	size_t n;
	char *error;		/* a permanent failure, stored as the result */
	int r;			/* a transient failure */
	uint8_t hash[HASH_BYTES];
};

static void doc_text_run_free(struct doc_text_run *d)
{
	if (d == NULL)
		return;
	free(d->body);
	free(d->content_type);
	free(d->url);
	free(d->text);
	free(d->title);
	free(d->chunks);
	free(d->error);
	free(d);
}

int doc_text_parse_hash(const char *hex, uint8_t out[HASH_BYTES])
{
	uint8_t h[HASH_BYTES];

	if (hex == NULL || strlen(hex) != HASH_HEX_LEN)
		return -EINVAL;
	for (size_t i = 0; i < HASH_HEX_LEN; i++) {
		char c = hex[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
		    c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

		if (v < 0)
			return -EINVAL;
		if (i % 2 == 0)
			h[i / 2] = (uint8_t)(v << 4);
		else
			h[i / 2] |= (uint8_t)v;
	}
	memcpy(out, h, HASH_BYTES);
	return 0;
}

int doc_text_get(struct store *s, const char *text_hash_hex, size_t max, char **ret,
    size_t *ret_len)
{
	uint8_t h[HASH_BYTES];
	int r;

	if (s == NULL || ret == NULL || ret_len == NULL)
		return -EINVAL;
	r = doc_text_parse_hash(text_hash_hex, h);
	if (r < 0)
		return r;
	if (max > DOC_TEXT_MAX_TEXT)
		max = DOC_TEXT_MAX_TEXT;
	return store_snapshot_get(s, h, max, ret, ret_len);
}

static bool doc_text_blank(const char *t, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (t[i] != ' ' && t[i] != '\t' && t[i] != '\n' && t[i] != '\r' && t[i] != '\f' &&
		    t[i] != '\v')
			return false;
	return true;
}

/* On the thread pool: extract (unless the text is there), hash, chunk.
 * Pure functions only: no store, no loop. */
static void doc_text_work(uv_work_t *w)
{
	struct doc_text_run *d = w->data;
	int r;

	if (d->text == NULL) {
		struct extract_options o = {
			.content_type = d->content_type,
			.base_url = d->url,
			.max_input = d->c->max_input ? d->c->max_input : DOC_TEXT_DEFAULT_MAX_INPUT,
		};
		struct extract_result *ex = NULL;

		r = extract_html(d->body, d->len, &o, &ex);
		if (r < 0) {
			d->error = xstrdup(r == -EMEDIUMTYPE ? "not HTML, text, Markdown, JSON or PDF" :
			    r == -EFBIG ? "the document or its text is over the extractor's caps" :
			    "not text, or markup the extractor refuses");
			return;
		}
		d->text = ex->text;
		d->text_len = ex->text_len;
		ex->text = NULL;
		d->title = ex->title ? ex->title : xstrdup("");
		ex->title = NULL;
		extract_result_free(ex);
	}
	if (doc_text_blank(d->text, d->text_len)) {
		d->error = xstrdup("the document has no text");
		return;
	}
	if (!utf8_valid(d->text, d->text_len)) {
		d->error = xstrdup("the document's text is not valid UTF-8");
		return;
	}
	hash_bytes(d->text, d->text_len, d->hash);
	r = chunk_text(d->text, d->text_len, NULL, &d->chunks, &d->n);
	if (r < 0)
		d->error = xasprintf("the text cannot be split into passages: %s", strerror(-r));
}

/* On the loop: the text and its passages go in one transaction. */
static int doc_text_store(struct doc_text_run *d, char hex[HASH_HEX_LEN + 1])
{
	struct store *s = d->c->store;
	struct store_passage *p = xreallocarray(NULL, d->n ? d->n : 1, sizeof(*p));
	char key[8 + HASH_HEX_LEN];
	int64_t now = time_now_ms();
	int r;

	for (size_t i = 0; i < d->n; i++)
		p[i] = (struct store_passage){
			.start = d->chunks[i].start, .end = d->chunks[i].end,
			.heading_start = d->chunks[i].heading_start,
			.heading_end = d->chunks[i].heading_end,
		};
	hash_hex(d->hash, hex);
	snprintf(key, sizeof(key), "text:%s", hex);
	struct store_index_doc doc = {
		.owner = 0, .key = key, .kind = "text", .title = d->title,
		.text = d->text, .text_len = d->text_len,
	};

	r = store_begin(s);
	if (r == 0)
		r = store_snapshot_put(s, d->hash, d->text, d->text_len, now);
	if (r == 0)
		r = store_index_put(s, &doc, p, d->n, now, NULL, NULL);
	if (r == 0)
		r = store_commit(s);
	else
		store_rollback(s);
	free(p);
	return r;
}

static void doc_text_finish(struct doc_text_run *d)
{
	struct effect_exec *x = d->x;
	char hex[HASH_HEX_LEN + 1];
	json_t *result, *passages;
	int r;

	effect_exec_set_data(x, NULL);
	if (d->error) {
		result = json_pack("{s:s}", "error", d->error);
		doc_text_run_free(d);
		effect_exec_done(x, result ? 0 : -ENOMEM, result, NULL);
		return;
	}
	r = doc_text_store(d, hex);
	if (r < 0) {
		doc_text_run_free(d);
		effect_exec_done(x, r, NULL, NULL);
		return;
	}
	passages = json_array();
	for (size_t i = 0; i < d->n; i++)
		json_array_append_new(passages, json_pack("[I, I]", (json_int_t)d->chunks[i].start,
		    (json_int_t)d->chunks[i].end));
	result = json_pack("{s:s, s:s, s:I, s:o}", "text_hash", hex, "title", d->title,
	    "bytes", (json_int_t)d->text_len, "passages", passages);
	doc_text_run_free(d);
	effect_exec_done(x, result ? 0 : -ENOMEM, result, NULL);
}

static void doc_text_work_done(uv_work_t *w, int status)
{
	struct doc_text_run *d = w->data;

	d->in_work = false;
	if (d->cancelled) {
		doc_text_run_free(d);
		return;
	}
	doc_text_finish(d);
}

static int doc_text_queue(struct doc_text_run *d)
{
	int r;

	d->work.data = d;
	d->in_work = true;
	r = uv_queue_work(effect_exec_loop(d->x), &d->work, doc_text_work, doc_text_work_done);
	if (r < 0)
		d->in_work = false;
	return r;
}

static void doc_text_pdf_done(struct pdf_job *job, int r, char *text, size_t len, unsigned pages,
    const char *error, void *ud)
{
	struct doc_text_run *d = ud;

	d->pdf = NULL;
	/* Only a sandbox that could not run is worth another try; what
	 * pdftotext says of the file stays true. */
	if (r < 0 && r != -EBADMSG && r != -EFBIG && r != -ETIMEDOUT) {
		effect_exec_set_data(d->x, NULL);
		effect_exec_done(d->x, r, NULL, NULL);
		doc_text_run_free(d);
		return;
	}
	if (r < 0) {
		d->error = xstrdup(error ? error : "the PDF could not be converted");
		doc_text_finish(d);
		return;
	}
	d->text = text;
	d->text_len = len;
	d->title = xstrdup("");
	free(d->body);
	d->body = NULL;
	r = doc_text_queue(d);
	if (r < 0) {
		effect_exec_set_data(d->x, NULL);
		effect_exec_done(d->x, r, NULL, NULL);
		doc_text_run_free(d);
	}
}

/* The job's owner, whose local documents (and the shared ones) it reads. */
static int doc_text_owner(struct doc_text_run *d, uid_t *ret)
{
	struct store_job *j = NULL;
	int r = store_job_get(d->c->store, effect_exec_job_id(d->x), &j);

	if (r < 0)
		return r;
	*ret = j->owner;
	store_job_free(j);
	return 0;
}

static int doc_text_start_local(struct doc_text_run *d, const char *key)
{
	uid_t owner;
	int r;

	if (!str_startswith(key, "file://"))
		return -EINVAL;
	r = doc_text_owner(d, &owner);
	if (r < 0)
		return r;
	r = store_index_local_text(d->c->store, owner, key, EXTRACT_DEFAULT_MAX_OUTPUT, &d->title,
	    &d->text, &d->text_len);
	if (r == -ENOENT) {
		d->error = xstrdup("no such document in the local index");
		return 1;
	}
	return r;
}

static int doc_text_start_snapshot(struct doc_text_run *d, const json_t *request)
{
	size_t max = d->c->max_input ? d->c->max_input : DOC_TEXT_DEFAULT_MAX_INPUT;
	const char *hex = NULL, *url = NULL, *ctype = NULL;
	json_t *ct = json_object_get(request, "content_type");
	uint8_t h[HASH_BYTES];
	int r;

	r = json_get_string(request, "hash", &hex);
	if (r == 0)
		r = json_get_string(request, "url", &url);
	if (r < 0)
		return -EINVAL;
	if (ct && !json_is_null(ct)) {
		if (!json_is_string(ct))
			return -EINVAL;
		ctype = json_string_value(ct);
	}
	r = doc_text_parse_hash(hex, h);
	if (r < 0)
		return r;
	r = store_snapshot_get(d->c->store, h, max, &d->body, &d->len);
	if (r == -EFBIG) {
		d->error = xasprintf("the document is over %zu bytes", max);
		return 1;
	}
	if (r < 0)
		return r;
	d->url = xstrdup(url);
	d->content_type = ctype ? xstrdup(ctype) : NULL;
	/* A PDF is known by its bytes, whatever the URL and type say, and
	 * pdftotext runs only in the sandbox. */
	if (pdf_is_pdf(d->body, d->len)) {
		struct pdf_limits lim = { .max_input = (int64_t)max };

		r = pdf_to_text(effect_exec_loop(d->x), d->c->sandbox_helper, d->body, d->len, &lim,
		    doc_text_pdf_done, d, &d->pdf);
		if (r < 0) {
			d->pdf = NULL;
			return r;
		}
		return 2;
	}
	return 0;
}

static int doc_text_start(struct effect_exec *x, const json_t *request, void *userdata)
{
	struct doc_text_run *d = xcalloc(1, sizeof(*d));
	const char *local = NULL;
	int r;

	d->x = x;
	d->c = userdata;
	if (json_get_string(request, "local", &local) == 0)
		r = doc_text_start_local(d, local);
	else
		r = doc_text_start_snapshot(d, request);
	if (r < 0) {
		doc_text_run_free(d);
		return r;
	}
	effect_exec_set_data(x, d);
	if (r == 1) {
		doc_text_finish(d);
		return 0;
	}
	if (r == 2)
		return 0;	/* the sandbox converts the PDF */
	r = doc_text_queue(d);
	if (r < 0) {
		effect_exec_set_data(x, NULL);
		doc_text_run_free(d);
	}
	return r;
}

static void doc_text_cancel(struct effect_exec *x, void *userdata)
{
	struct doc_text_run *d = effect_exec_get_data(x);

	if (d == NULL)
		return;
	effect_exec_set_data(x, NULL);
	if (d->pdf) {
		pdf_job_cancel(d->pdf);
		d->pdf = NULL;
	}
	if (d->in_work) {
		d->cancelled = true;
		return;
	}
	doc_text_run_free(d);
}

int doc_text_register(struct effects *e, const struct doc_text_config *c)
{
	const struct effect_kind kind = {
		.name = DOC_TEXT_EFFECT_KIND,
		.start = doc_text_start,
		.cancel = doc_text_cancel,
		.userdata = (void *)c,
	};

	if (c == NULL || c->store == NULL)
		return -EINVAL;
	return effects_register(e, &kind);
}
