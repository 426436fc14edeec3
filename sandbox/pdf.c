/* PDF to text through pdftotext in the sandbox (see pdf.h). The PDF is an
 * untrusted input for a large C++ parser: pdftotext runs with no network,
 * no view of the host, and caps on time, memory and output, so a corrupt
 * file or a decompression bomb ends in an error and nothing else. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pdf.h"
#include "sandbox.h"
#include "str.h"
#include "xmalloc.h"

struct pdf_job {
	struct sandbox_run *run;
	pdf_done_fn cb;
	void *userdata;
	struct pdf_limits lim;
};

bool pdf_is_pdf(const void *data, size_t len)
{
	return len >= 5 && memcmp(data, "%PDF-", 5) == 0;
}

char *pdf_mark_pages(const char *in, size_t len, size_t *ret_len, unsigned *ret_pages)
{
	struct buf b;
	unsigned page = 1;
	size_t start = 0;
	char *clean, *out;
	size_t clean_len;

	/* Every byte may become "\n[page N]\n" at worst; no cap can bite. */
	buf_init(&b, len * 16 + 64);
	buf_puts(&b, "[page 1]\n");
	for (size_t i = 0; i <= len; i++) {
		if (i < len && in[i] != '\f')
			continue;
		buf_append(&b, in + start, i - start);
		if (i - start > 0 && in[i - 1] != '\n')
			buf_putc(&b, '\n');
		start = i + 1;
		if (i + 1 >= len)
			break;	/* the form feed after the last page */
		page++;
		buf_printf(&b, "\n[page %u]\n", page);
	}
	clean = sandbox_text_clean(b.data, b.len, &clean_len);
	buf_free(&b);
	/* The cleaner keeps form feeds; pdftotext's are gone by now, any other
	 * would be a stray: drop them. */
	out = xmalloc(clean_len + 1);
	size_t o = 0;
	for (size_t i = 0; i < clean_len; i++)
		if (clean[i] != '\f')
			out[o++] = clean[i];
	out[o] = '\0';
	free(clean);
	if (ret_len)
		*ret_len = o;
	if (ret_pages)
		*ret_pages = page;
	return out;
}

static char *first_line(const char *s, size_t len)
{
	struct buf b;
	const char *nl = memchr(s, '\n', len);
	size_t n = nl ? (size_t)(nl - s) : len;
	if (n > 200)
		n = 200;
	buf_init(&b, 1024);
	str_escape(&b, s, n);
	return buf_steal(&b);
}

static void on_done(struct sandbox_run *run, int r, struct sandbox_result *res, void *userdata)
{
	struct pdf_job *job = userdata;
	char *text = NULL, *msg = NULL;
	size_t len = 0;
	unsigned pages = 0;

	if (r < 0) {
		msg = xasprintf("PDF conversion could not run: %s", res->error ? res->error : "");
	} else if (res->limit == SANDBOX_LIMIT_OUTPUT && !res->out_truncated) {
		char *line = first_line(res->err ? res->err : "", res->err_len);
		r = -EBADMSG;
		msg = xasprintf("the PDF is corrupt: pdftotext reported too many errors (%s)", line);
		free(line);
	} else if (res->limit == SANDBOX_LIMIT_OUTPUT) {
		r = -EFBIG;
		msg = xasprintf("the PDF's text is over %lld bytes (a PDF bomb?); conversion stopped",
		    (long long)job->lim.max_output);
	} else if (res->limit == SANDBOX_LIMIT_TIMEOUT || res->limit == SANDBOX_LIMIT_CPU) {
		r = -ETIMEDOUT;
		msg = xasprintf("converting the PDF took over %s (a PDF bomb?); conversion stopped",
		    res->limit == SANDBOX_LIMIT_TIMEOUT ? "its time limit" : "its CPU limit");
	} else if (res->status == SANDBOX_SIGNALED) {
		r = -EBADMSG;
		msg = xasprintf("pdftotext crashed on the PDF (signal %d; memory limit %lld MiB)",
		    res->signal, (long long)(job->lim.memory >> 20));
	} else if (res->status != SANDBOX_EXITED || res->exit_code != 0) {
		char *line = first_line(res->err ? res->err : "", res->err_len);
		r = -EBADMSG;
		msg = xasprintf("the PDF is corrupt or unreadable (pdftotext exit %d%s%s)",
		    res->exit_code, *line ? ": " : "", line);
		free(line);
	} else {
		text = pdf_mark_pages(res->out, res->out_len, &len, &pages);
		r = 0;
	}
	sandbox_result_free(res);
	job->cb(job, r, text, len, pages, msg, job->userdata);
	free(msg);
	free(job);
}

int pdf_to_text(struct uv_loop_s *loop, const char *helper, const void *pdf, size_t len,
    const struct pdf_limits *limits, pdf_done_fn cb, void *userdata, struct pdf_job **ret)
{
	static const char *const argv[] = { "pdftotext", "-layout", "-enc", "UTF-8", "-eol",
		"unix", "doc.pdf", "-", NULL };
	struct pdf_job *job;
	struct sandbox_file f = { .path = "doc.pdf", .data = pdf, .len = len };
	struct sandbox_request req;
	int r;

	job = xcalloc(1, sizeof(*job));
	if (limits)
		job->lim = *limits;
	if (job->lim.max_input <= 0)
		job->lim.max_input = PDF_MAX_INPUT_DEFAULT;
	if (job->lim.max_output <= 0)
		job->lim.max_output = PDF_MAX_OUTPUT_DEFAULT;
	if (job->lim.wall_ms <= 0)
		job->lim.wall_ms = PDF_WALL_MS_DEFAULT;
	if (job->lim.cpu_s <= 0)
		job->lim.cpu_s = PDF_CPU_S_DEFAULT;
	if (job->lim.memory <= 0)
		job->lim.memory = PDF_MEMORY_DEFAULT;
	if (!pdf_is_pdf(pdf, len)) {
		free(job);
		return -EINVAL;
	}
	if ((int64_t)len > job->lim.max_input) {
		free(job);
		return -E2BIG;
	}
	job->cb = cb;
	job->userdata = userdata;
	memset(&req, 0, sizeof(req));
	req.helper = helper;
	req.argv = argv;
	req.files = &f;
	req.n_files = 1;
	req.limits.wall_ms = job->lim.wall_ms;
	req.limits.cpu_s = job->lim.cpu_s;
	req.limits.memory = job->lim.memory;
	req.limits.stdout_max = job->lim.max_output;
	req.limits.stderr_max = 256 * 1024;
	req.limits.nproc = 4;
	req.limits.fsize = 1 << 20;	/* it writes nothing but stdout */
	req.limits.disk = (int64_t)len + (16 << 20);
	r = sandbox_run(loop, &req, on_done, job, &job->run);
	if (r < 0) {
		free(job);
		return r;
	}
	*ret = job;
	return 0;
}

void pdf_job_cancel(struct pdf_job *job)
{
	if (!job)
		return;
	sandbox_run_cancel(job->run);
	free(job);
}
