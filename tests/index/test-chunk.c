/* Unit tests: tools/chunk (passages, offsets, sizes, UTF-8, headings). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "chunk.h"
#include "str.h"

static char *passage(const char *t, const struct chunk *c)
{
	return strndup(t + c->start, c->end - c->start);
}

static char *heading(const char *t, const struct chunk *c)
{
	return strndup(t + c->heading_start, c->heading_end - c->heading_start);
}

/* Whatever the text: in order, trimmed, whitespace between, bounded. */
static void check_cover(const char *t, const struct chunk *c, size_t n, size_t max)
{
	size_t prev = 0, len = strlen(t);

	for (size_t i = 0; i < n; i++) {
		assert_true(c[i].start >= prev);
		assert_true(c[i].start < c[i].end);
		assert_true(c[i].end <= len);
		assert_true(c[i].end - c[i].start <= max);
		assert_true(utf8_valid(t + c[i].start, c[i].end - c[i].start));
		for (size_t k = prev; k < c[i].start; k++)
			assert_non_null(strchr(" \t\n\r\f\v", t[k]));
		prev = c[i].end;
	}
	for (size_t k = prev; k < len; k++)
		assert_non_null(strchr(" \t\n\r\f\v", t[k]));
}

static void test_small_paragraphs(void **state)
{
	const char *t = "\n\n  First paragraph,\n  two lines.  \n\n\nSecond one.\n\n";
	struct chunk *c = NULL;
	size_t n = 0;
	char *p;

	assert_int_equal(chunk_text(t, strlen(t), NULL, &c, &n), 0);
	assert_int_equal(n, 1);
	p = passage(t, &c[0]);
	assert_string_equal(p, "First paragraph,\n  two lines.  \n\n\nSecond one.");
	free(p);
	assert_int_equal(c[0].heading_start, c[0].heading_end);
	check_cover(t, c, n, CHUNK_DEFAULT_MAX);
	free(c);

	assert_int_equal(chunk_text("", 0, NULL, &c, &n), 0);
	assert_int_equal(n, 0);
	assert_null(c);
	assert_int_equal(chunk_text(" \n\t\n", 4, NULL, &c, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(chunk_text(NULL, 3, NULL, &c, &n), -EINVAL);
	assert_int_equal(chunk_text("abc", 3, &(struct chunk_options){ .max = 8 }, &c, &n), -EINVAL);
}

static void test_sizes(void **state)
{
	struct buf b;
	struct chunk *c = NULL;
	size_t n = 0;

	/* 40 paragraphs of 300 bytes: packed two by two (600 + 2 <= 800; a
	 * third would pass the target and the passage is not short). */
	buf_init(&b, 1 << 20);
	for (int i = 0; i < 40; i++) {
		for (int k = 0; k < 30; k++)
			buf_printf(&b, "%s", k == 29 ? "word12345." : "word12345 ");
		buf_puts(&b, "\n\n");
	}
	assert_int_equal(chunk_text(b.data, b.len, NULL, &c, &n), 0);
	assert_int_equal(n, 20);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(c[i].end - c[i].start, 602);
	check_cover(b.data, c, n, CHUNK_DEFAULT_MAX);
	free(c);
	buf_free(&b);
}

static void test_long_paragraph(void **state)
{
	struct buf b;
	struct chunk *c = NULL;
	size_t n = 0;

	/* One paragraph of 100 sentences (~27 bytes each): split at sentence
	 * ends near the target. */
	buf_init(&b, 1 << 20);
	for (int i = 0; i < 100; i++)
		buf_printf(&b, "This is sentence %03d of it. ", i);
	assert_int_equal(chunk_text(b.data, b.len, NULL, &c, &n), 0);
	assert_true(n >= 3 && n <= 5);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(b.data[c[i].end - 1], '.');
		assert_true(c[i].end - c[i].start >= CHUNK_DEFAULT_TARGET / 2 || i == n - 1);
		assert_true(c[i].end - c[i].start <= CHUNK_DEFAULT_MAX);
		assert_memory_equal(b.data + c[i].start, "This is sentence", 16);
	}
	check_cover(b.data, c, n, CHUNK_DEFAULT_MAX);
	free(c);

	/* No sentence ends: at word ends. */
	buf_reset(&b);
	for (int i = 0; i < 500; i++)
		buf_printf(&b, "w%04d ", i);
	assert_int_equal(chunk_text(b.data, b.len, NULL, &c, &n), 0);
	assert_true(n >= 3);
	for (size_t i = 0; i + 1 < n; i++) {
		assert_int_equal(b.data[c[i].end], ' ');
		assert_int_equal(b.data[c[i].start], 'w');
		assert_int_equal(c[i].end - c[i].start, 5 + 6 * ((c[i].end - c[i].start) / 6));
	}
	check_cover(b.data, c, n, CHUNK_DEFAULT_MAX);
	free(c);
	buf_free(&b);
}

static void test_utf8(void **state)
{
	struct buf b;
	struct chunk *c = NULL;
	size_t n = 0;
	const struct chunk_options opt = { .target = 20, .max = 31 };

	/* One "word" of 2-, 3- and 4-byte characters: no boundary to use,
	 * so hard cuts, each before a lead byte. */
	buf_init(&b, 1 << 20);
	for (int i = 0; i < 200; i++)
		buf_puts(&b, i % 3 == 0 ? "ü" : i % 3 == 1 ? "語" : "😀");
	assert_int_equal(chunk_text(b.data, b.len, &opt, &c, &n), 0);
	assert_true(n > 10);
	for (size_t i = 0; i < n; i++) {
		assert_true(utf8_valid(b.data + c[i].start, c[i].end - c[i].start));
		if (i + 1 < n)
			assert_true(c[i].end - c[i].start >= 28);	/* <= 3 bytes given back */
	}
	check_cover(b.data, c, n, opt.max);
	assert_int_equal(c[n - 1].end, b.len);
	free(c);
	buf_free(&b);
}

static void test_headings(void **state)
{
	const char *t =
	    "Preamble before any heading.\n"
	    "# Guide #\n"
	    "## Install\n"
	    "Run the installer.\n"
	    "\n"
	    "```sh\n"
	    "# not a heading\n"
	    "make install\n"
	    "```\n"
	    "\n"
	    "###### Zürich notes\n"
	    "\n"
	    "Text under it.\n"
	    "####### seven is no heading\n"
	    "#nospace neither\n";
	struct chunk *c = NULL;
	size_t n = 0;
	char *p, *h;

	assert_int_equal(chunk_text(t, strlen(t), NULL, &c, &n), 0);
	check_cover(t, c, n, CHUNK_DEFAULT_MAX);
	assert_int_equal(n, 3);
	/* Before any heading: no heading. */
	p = passage(t, &c[0]);
	assert_string_equal(p, "Preamble before any heading.");
	free(p);
	assert_int_equal(c[0].heading_start, c[0].heading_end);
	/* A heading starts a passage; headings in a row give the innermost;
	 * the fenced '#' line is code. */
	p = passage(t, &c[1]);
	h = heading(t, &c[1]);
	assert_true(str_startswith(p, "# Guide #\n## Install\nRun the installer."));
	assert_non_null(strstr(p, "# not a heading\nmake install\n```"));
	assert_string_equal(h, "Install");
	free(p);
	free(h);
	p = passage(t, &c[2]);
	h = heading(t, &c[2]);
	assert_true(str_startswith(p, "###### Zürich notes"));
	assert_true(str_endswith(p, "#nospace neither"));
	assert_string_equal(h, "Zürich notes");
	free(p);
	free(h);
	free(c);
}

static void test_heading_carried(void **state)
{
	struct buf b;
	struct chunk *c = NULL;
	size_t n = 0;

	/* A section longer than a passage: every passage of it keeps the
	 * heading, the next section's passages get theirs. */
	buf_init(&b, 1 << 20);
	buf_puts(&b, "# Alpha\n\n");
	for (int i = 0; i < 12; i++)
		buf_puts(&b, "Some text of a paragraph that goes on for a while about alpha. "
		    "Some more text of the same paragraph about alpha here.\n\n");
	buf_puts(&b, "## Beta\n\nBeta text.\n");
	assert_int_equal(chunk_text(b.data, b.len, NULL, &c, &n), 0);
	check_cover(b.data, c, n, CHUNK_DEFAULT_MAX);
	assert_true(n >= 3);
	for (size_t i = 0; i < n; i++) {
		char *h = heading(b.data, &c[i]);

		assert_string_equal(h, i == n - 1 ? "Beta" : "Alpha");
		free(h);
	}
	assert_true(str_startswith(b.data + c[n - 1].start, "## Beta"));
	free(c);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_paragraphs),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_long_paragraph),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_headings),
		cmocka_unit_test(test_heading_carried),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
