/* PDF to text in the sandbox: real PDFs made here with groff (groff-base)
 * and ps2pdf (ghostscript) -- several pages, two columns, non-ASCII text --
 * must come back with the right page markers; a corrupt PDF and a PDF bomb
 * must end in a clear error, and the next PDF must still convert. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>
#include <zlib.h>
#include <cmocka.h>
#include "../cmocka-skip.h"

#include "buf.h"
#include "harness.h"
#include "pdf.h"
#include "xmalloc.h"

static char tmpdir[] = "/tmp/researchd-pdf-XXXXXX";

struct conv {
	bool done;
	int r;
	char *text;
	size_t len;
	unsigned pages;
	char *error;
};

static void on_pdf(struct pdf_job *job, int r, char *text, size_t len, unsigned pages,
    const char *error, void *userdata)
{
	struct conv *c = userdata;
	c->done = true;
	c->r = r;
	c->text = text;
	c->len = len;
	c->pages = pages;
	c->error = error ? xstrdup(error) : NULL;
}

static void convert(uv_loop_t *loop, const void *pdf, size_t len, const struct pdf_limits *lim,
    struct conv *c)
{
	struct pdf_job *job;
	memset(c, 0, sizeof(*c));
	int r = pdf_to_text(loop, harness_helper(), pdf, len, lim, on_pdf, c, &job);
	assert_int_equal(r, 0);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_true(c->done);
}

static void conv_free(struct conv *c)
{
	free(c->text);
	free(c->error);
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	char *d;
	assert_non_null(f);
	assert_int_equal(fstat(fileno(f), &st), 0);
	d = xmalloc((size_t)st.st_size + 1);
	assert_int_equal(fread(d, 1, (size_t)st.st_size, f), (size_t)st.st_size);
	fclose(f);
	*len = (size_t)st.st_size;
	return d;
}

/* groff source for three pages of two columns each. Column tops are set
 * with .mk/.rt and the page offset, so no macro package is needed. */
static char *make_source(void)
{
	struct buf b;
	buf_init(&b, 1 << 20);
	buf_puts(&b, ".pl 11i\n.ll 3i\n.nh\n");
	for (int p = 1; p <= 3; p++) {
		buf_printf(&b, ".mk\nLEFT%d begins the left column of page %d. "
		    "Zürich, naïve café, façade, Ørsted and São Paulo stay as they are. ", p, p);
		for (int i = 0; i < 12; i++)
			buf_printf(&b, "Filler words for the left column number %d. ", i);
		buf_printf(&b, "\n.br\n.rt\n.po +3.5i\nRIGHT%d begins the right column of page %d. "
		    "Ætna and Œuvre \\[Eu]12 and \\[*a]\\[*b]\\[*g] are here too. ", p, p);
		for (int i = 0; i < 12; i++)
			buf_printf(&b, "Filler words for the right column number %d. ", i);
		buf_puts(&b, "\n.br\n.po -3.5i\n");
		if (p < 3)
			buf_puts(&b, ".bp\n");
	}
	return buf_steal(&b);
}

static char *make_pdf(size_t *len)
{
	char *src = make_source(), *srcpath, *pdfpath, *cmd, *pdf;
	FILE *f;

	srcpath = xasprintf("%s/doc.tr", tmpdir);
	pdfpath = xasprintf("%s/doc.pdf", tmpdir);
	f = fopen(srcpath, "w");
	assert_non_null(f);
	fputs(src, f);
	fclose(f);
	cmd = xasprintf("groff -Kutf8 -Tps '%s' | ps2pdf - '%s'", srcpath, pdfpath);
	assert_int_equal(system(cmd), 0);
	pdf = read_all(pdfpath, len);
	free(src);
	free(srcpath);
	free(pdfpath);
	free(cmd);
	return pdf;
}

/* The text of page n: from its marker to the next one. */
static char *page_text(const char *text, unsigned n)
{
	char mark[32], next[32];
	const char *start, *end;
	snprintf(mark, sizeof(mark), n == 1 ? "[page %u]\n" : "\n\n[page %u]\n", n);
	snprintf(next, sizeof(next), "\n\n[page %u]\n", n + 1);
	start = strstr(text, mark);
	if (!start || (n == 1 && start != text))
		fail_msg("no marker for page %u in:\n%s", n, text);
	start += strlen(mark);
	end = strstr(start, next);
	return xstrndup(start, end ? (size_t)(end - start) : strlen(start));
}

static int setup(void **state)
{
	if (!harness_have("groff") || !harness_have("ps2pdf")) {
		if (geteuid() == 0) {
			fprintf(stderr, "groff (groff-base) and ps2pdf (ghostscript) are needed to "
			    "make the test PDFs\n");
			return -1;
		}
	}
	if (!mkdtemp(tmpdir))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	int r = system(cmd);
	free(cmd);
	return r == 0 ? 0 : -1;
}

static void test_real_pdf(void **state)
{
	uv_loop_t loop;
	struct conv c;
	size_t len;
	char *pdf;

	if (!harness_have("groff") || !harness_have("ps2pdf")) {
		test_skip("groff and ps2pdf (packages groff-base, ghostscript) are not installed, "
		    "so no PDF can be made");
	}
	pdf = make_pdf(&len);
	assert_true(pdf_is_pdf(pdf, len));
	uv_loop_init(&loop);
	convert(&loop, pdf, len, NULL, &c);
	if (c.r != 0)
		fail_msg("conversion failed: %s", c.error);
	assert_int_equal(c.pages, 3);
	assert_int_equal(strncmp(c.text, "[page 1]\n", 9), 0);
	assert_null(strstr(c.text, "[page 4]"));
	assert_null(strchr(c.text, '\f'));
	for (unsigned p = 1; p <= 3; p++) {
		char *t = page_text(c.text, p), left[16], right[16];
		snprintf(left, sizeof(left), "LEFT%u", p);
		snprintf(right, sizeof(right), "RIGHT%u", p);
		if (!strstr(t, left) || !strstr(t, right))
			fail_msg("page %u lacks %s or %s:\n%s", p, left, right, t);
		/* -layout keeps the columns side by side: both starts on one line. */
		const char *l = strstr(t, left);
		const char *nl = strchr(l, '\n');
		const char *r = strstr(t, right);
		if (!(r > l && (!nl || r < nl)))
			fail_msg("page %u: the columns are not side by side:\n%s", p, t);
		for (unsigned q = 1; q <= 3; q++) {
			char other[16];
			snprintf(other, sizeof(other), "LEFT%u ", q);
			if (q != p && strstr(t, other))
				fail_msg("page %u holds page %u's text", p, q);
		}
		assert_non_null(strstr(t, "Zürich"));
		assert_non_null(strstr(t, "naïve café, façade"));
		assert_non_null(strstr(t, "Ørsted"));
		assert_non_null(strstr(t, "São Paulo"));
		assert_non_null(strstr(t, "Ætna"));
		assert_non_null(strstr(t, "€12"));
		assert_non_null(strstr(t, "αβγ"));
		free(t);
	}
	conv_free(&c);
	free(pdf);
	uv_loop_close(&loop);
}

static void test_corrupt(void **state)
{
	struct buf b;
	uv_loop_t loop;
	struct conv c;

	buf_init(&b, 1 << 20);
	buf_puts(&b, "%PDF-1.7\n");
	for (int i = 0; i < 2000; i++)
		buf_printf(&b, "%d 0 obj << /Garbage [%d ( >> stream\n", i, i * 7919);
	buf_puts(&b, "%%EOF\n");
	uv_loop_init(&loop);
	convert(&loop, b.data, b.len, NULL, &c);
	assert_int_equal(c.r, -EBADMSG);
	assert_null(c.text);
	assert_non_null(c.error);
	if (!strstr(c.error, "corrupt"))
		fail_msg("unclear error: %s", c.error);
	print_message("corrupt PDF: %s\n", c.error);
	conv_free(&c);

	/* Not a PDF at all: refused before any sandbox. */
	struct pdf_job *job;
	assert_int_equal(pdf_to_text(&loop, harness_helper(), "<html>", 6, NULL, on_pdf, &c, &job),
	    -EINVAL);
	struct pdf_limits small = { .max_input = 8 };
	assert_int_equal(pdf_to_text(&loop, harness_helper(), b.data, b.len, &small, on_pdf, &c, &job),
	    -E2BIG);
	buf_free(&b);
	uv_loop_close(&loop);
}

/* A small file that expands into about a gigabyte of text: many pages,
 * each drawing one shared, deflated content stream. */
static char *make_bomb(size_t *ret_len, unsigned npages)
{
	struct buf content, b;
	size_t *offsets = xcalloc(npages + 8, sizeof(size_t));
	unsigned nobj = 4 + npages;
	uLongf zlen;
	unsigned char *z;

	buf_init(&content, 1 << 20);
	buf_puts(&content, "BT /F1 9 Tf 20 820 Td 10 TL\n");
	for (int i = 0; i < 600; i++)
		buf_puts(&content, "(WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW) '\n");
	buf_puts(&content, "ET\n");
	zlen = compressBound(content.len);
	z = xmalloc(zlen);
	assert_int_equal(compress2(z, &zlen, (const Bytef *)content.data, content.len, 9), Z_OK);

	buf_init(&b, 64 << 20);
	buf_puts(&b, "%PDF-1.4\n");
	offsets[1] = b.len;
	buf_puts(&b, "1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n");
	offsets[2] = b.len;
	buf_printf(&b, "2 0 obj << /Type /Pages /Count %u /Kids [", npages);
	for (unsigned i = 0; i < npages; i++)
		buf_printf(&b, "%u 0 R ", 5 + i);
	buf_puts(&b, "] >> endobj\n");
	offsets[3] = b.len;
	buf_puts(&b, "3 0 obj << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> endobj\n");
	offsets[4] = b.len;
	buf_printf(&b, "4 0 obj << /Length %lu /Filter /FlateDecode >> stream\n", (unsigned long)zlen);
	buf_append(&b, z, zlen);
	buf_puts(&b, "\nendstream endobj\n");
	for (unsigned i = 0; i < npages; i++) {
		offsets[5 + i] = b.len;
		buf_printf(&b, "%u 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
		    "/Contents 4 0 R /Resources << /Font << /F1 3 0 R >> >> >> endobj\n", 5 + i);
	}
	size_t xref = b.len;
	buf_printf(&b, "xref\n0 %u\n0000000000 65535 f \n", nobj + 1);
	for (unsigned i = 1; i <= nobj; i++)
		buf_printf(&b, "%010lu 00000 n \n", (unsigned long)offsets[i]);
	buf_printf(&b, "trailer << /Size %u /Root 1 0 R >>\nstartxref\n%lu\n%%%%EOF\n", nobj + 1,
	    (unsigned long)xref);
	free(z);
	free(offsets);
	buf_free(&content);
	*ret_len = b.len;
	return buf_steal(&b);
}

static void test_bomb(void **state)
{
	struct pdf_limits lim = { .max_output = 1 << 20, .wall_ms = 20000 };
	uv_loop_t loop;
	struct conv c;
	size_t len;
	char *bomb = make_bomb(&len, 20000);

	/* 20000 pages of 48 KB of text each, from a file of a few MB. */
	assert_true(len < 4 << 20);
	uv_loop_init(&loop);
	convert(&loop, bomb, len, &lim, &c);
	assert_int_equal(c.r, -EFBIG);
	assert_null(c.text);
	if (!c.error || !strstr(c.error, "over 1048576 bytes"))
		fail_msg("unclear error: %s", c.error ? c.error : "(none)");
	print_message("PDF bomb: %s\n", c.error);
	conv_free(&c);

	/* The same bomb against the clock. */
	lim.max_output = 64 << 20;
	lim.wall_ms = 1500;
	convert(&loop, bomb, len, &lim, &c);
	assert_int_equal(c.r, -ETIMEDOUT);
	assert_non_null(strstr(c.error, "time limit"));
	conv_free(&c);
	free(bomb);

	/* And the next PDF still converts. */
	bomb = make_bomb(&len, 2);
	convert(&loop, bomb, len, NULL, &c);
	assert_int_equal(c.r, 0);
	assert_int_equal(c.pages, 2);
	assert_non_null(strstr(c.text, "\n\n[page 2]\nWWWW"));
	conv_free(&c);
	free(bomb);
	uv_loop_close(&loop);
}

static void test_mark_pages(void **state)
{
	size_t len;
	unsigned pages;
	char *t;

	t = pdf_mark_pages("one\n\ftwo\n\f", 10, &len, &pages);
	assert_string_equal(t, "[page 1]\none\n\n[page 2]\ntwo\n");
	assert_int_equal(pages, 2);
	assert_int_equal(len, strlen(t));
	free(t);
	/* An empty page, a page without a final newline, a stray byte. */
	t = pdf_mark_pages("a\f\fb\xff\x01" "c\f", 8, &len, &pages);
	assert_string_equal(t, "[page 1]\na\n\n[page 2]\n\n[page 3]\nb\xef\xbf\xbd" "c\n");
	assert_int_equal(pages, 3);
	free(t);
	t = pdf_mark_pages("", 0, &len, &pages);
	assert_string_equal(t, "[page 1]\n");
	assert_int_equal(pages, 1);
	free(t);
	assert_true(pdf_is_pdf("%PDF-1.7\n", 9));
	assert_false(pdf_is_pdf("%PDF", 4));
	assert_false(pdf_is_pdf(" %PDF-1.7", 9));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mark_pages),
		cmocka_unit_test(test_real_pdf),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_bomb),
	};
	return test_run_group("pdf", tests, setup, teardown);
}
