/* PDF sources to text: pdftotext (poppler-utils) run in the sandbox, with
 * page markers kept so a quote can cite its page.
 *
 * Text format: UTF-8 (invalid bytes become U+FFFD; NUL and control
 * characters other than tab and newline are dropped). It starts with the
 * line "[page 1]"; each later page N starts with an empty line and then the
 * line "[page N]" (pdftotext's form feed between pages is replaced by
 * "\n[page N]\n", after a newline is added to the previous page's text if
 * it did not end in one). Within a page, the text is pdftotext -layout's:
 * columns stay side by side as on the page. */
#ifndef RESEARCHD_PDF_H
#define RESEARCHD_PDF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct uv_loop_s;
struct pdf_job;

#define PDF_MAX_INPUT_DEFAULT (32LL << 20)
#define PDF_MAX_OUTPUT_DEFAULT (8LL << 20)
#define PDF_WALL_MS_DEFAULT 30000
#define PDF_CPU_S_DEFAULT 20
#define PDF_MEMORY_DEFAULT (1LL << 30)

/* 0 means the default above. */
struct pdf_limits {
	int64_t max_input;	/* bytes of PDF accepted */
	int64_t max_output;	/* bytes of text pdftotext may write */
	int64_t wall_ms;
	int64_t cpu_s;
	int64_t memory;		/* address space of pdftotext */
};

/* True when data starts with the PDF magic "%PDF-" (the URL and the
 * Content-Type say nothing). */
bool pdf_is_pdf(const void *data, size_t len);

/* r == 0: text (NUL-terminated, the callee's to free), pages counted.
 * r < 0: error is a sentence for the user (a corrupt PDF, a PDF bomb that
 * hit a limit, no sandbox here); text is NULL. The job is freed after the
 * callback returns. */
typedef void (*pdf_done_fn)(struct pdf_job *job, int r, char *text, size_t len, unsigned pages,
    const char *error, void *userdata);

/* Start converting; the bytes are copied. -EINVAL when they are not a PDF,
 * -E2BIG when over max_input; the callback is not called then. */
int pdf_to_text(struct uv_loop_s *loop, const char *helper, const void *pdf, size_t len,
    const struct pdf_limits *limits, pdf_done_fn cb, void *userdata, struct pdf_job **ret);
/* Stop; the callback is not called. */
void pdf_job_cancel(struct pdf_job *job);

/* Turn pdftotext's output (pages ending in form feeds) into the marked,
 * cleaned text above. */
char *pdf_mark_pages(const char *in, size_t len, size_t *ret_len, unsigned *ret_pages);

#endif
