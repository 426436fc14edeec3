/* Unit tests of extract/: Markdown structure, boilerplate removal,
 * metadata, charsets, pass-through bodies and hostile pages. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "extract.h"
#include "str.h"
#include "xmalloc.h"

#ifndef TEST_DATA
#define TEST_DATA "tests/tools/data"
#endif

static char *read_file(const char *name, size_t *len)
{
	char path[1024];
	FILE *f;
	char *data;
	long n;

	snprintf(path, sizeof(path), "%s/%s", TEST_DATA, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	data = xmalloc((size_t)n + 1);
	assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
	data[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return data;
}

static struct extract_result *extract_ok(const char *body, size_t len, const char *ct,
					 const char *base)
{
	struct extract_options opt = { .content_type = ct, .base_url = base };
	struct extract_result *r = NULL;

	assert_int_equal(extract_html(body, len, &opt, &r), 0);
	assert_non_null(r);
	assert_non_null(r->text);
	assert_int_equal(strlen(r->text), r->text_len);
	assert_true(utf8_valid(r->text, r->text_len));
	return r;
}

static struct extract_result *extract_str(const char *html)
{
	return extract_ok(html, strlen(html), "text/html; charset=utf-8", "https://example.com/dir/page");
}

#define assert_contains(hay, needle) do { \
	if (strstr((hay), (needle)) == NULL) \
		fail_msg("expected \"%s\" in:\n%s", (needle), (hay)); \
} while (0)
#define assert_lacks(hay, needle) do { \
	if (strstr((hay), (needle)) != NULL) \
		fail_msg("did not expect \"%s\" in:\n%s", (needle), (hay)); \
} while (0)

/* A paragraph long enough to count as content. */
#define PARA "<p>The committee met on Tuesday to discuss the plan, which would change how the city pays for its roads, bridges and tunnels over the next decade, and the members agreed to publish a report.</p>\n"

static void test_article_page(void **state)
{
	size_t len;
	char *html = read_file("article.html", &len);
	struct extract_result *r = extract_ok(html, len, "text/html", "https://gazette.example/news/today");

	/* Content with its structure. */
	assert_contains(r->text, "The turbines off the northern coast");
	assert_contains(r->text, "\n\n## How the turbines work\n\n");
	assert_contains(r->text, "- Rated power: 2 megawatts each\n- Depth: 40 metres at low tide");
	assert_contains(r->text, "1. Install the foundations\n2. Lower the nacelles");
	assert_contains(r->text, "| Site | Capacity | Year |\n| --- | --- | --- |\n| North Sound | 8 MW | 2024 |");
	assert_contains(r->text, "```\ndef tide_yield(height, area):\n    return 0.5 * 1025 * area * height ** 2\n```");
	assert_contains(r->text, "a consortium of local partners, has four");
	assert_contains(r->text, "supporters answer that costs fell");
	/* Boilerplate gone. */
	assert_lacks(r->text, "cookies");
	assert_lacks(r->text, "Home");
	assert_lacks(r->text, "Share on");
	assert_lacks(r->text, "Related stories");
	assert_lacks(r->text, "Wind farms expand");
	assert_lacks(r->text, "Great article");
	assert_lacks(r->text, "Copyright");
	assert_lacks(r->text, "hidden and must not");
	assert_lacks(r->text, "tracking");
	assert_lacks(r->text, "display: none");
	/* The title is metadata, not body text. */
	assert_lacks(r->text, "# Tidal energy");
	/* Metadata: meta tags win over JSON-LD. */
	assert_string_equal(r->title, "Tidal energy comes of age");
	assert_string_equal(r->author, "Morwenna Pascoe");
	assert_string_equal(r->published, "2024-03-05T08:30:00Z");
	assert_string_equal(r->lang, "en-GB");
	assert_string_equal(r->canonical_url, "https://gazette.example/science/tidal-energy?ref=rss");
	assert_string_equal(r->charset, "utf-8");
	/* Links of the content, absolute. */
	assert_int_equal(r->n_links, 1);
	assert_string_equal(r->links[0].url, "https://energy.example/partners");
	assert_string_equal(r->links[0].text, "local partners");
	assert_false(r->links_truncated);
	assert_null(extract_result_free(r));
	free(html);
}

static void test_headings_lists_code(void **state)
{
	struct extract_result *r = extract_str(
		"<html><body><article><h2>Part one</h2>" PARA PARA
		"<h3>Details <em>matter</em></h3><ul><li>alpha<ul><li>nested</li></ul></li><li>beta</li></ul>"
		"<ol><li>first</li><li>second</li><li>third</li></ol>"
		"<p>Use <code>make -j2 </code>to build, then<br>run it.</p>"
		"<blockquote><p>Quoted words stay quoted.</p></blockquote>"
		"<div>Line one of the poem<br><br>line two of the poem</div>"
		"<pre>line one\n  line two</pre>" PARA "</article></body></html>");

	assert_contains(r->text, "## Part one\n\nThe committee");
	assert_contains(r->text, "### Details matter\n");
	assert_contains(r->text, "- alpha\n  - nested\n- beta");
	assert_contains(r->text, "1. first\n2. second\n3. third");
	assert_contains(r->text, "Use `make -j2` to build, then\nrun it.");
	assert_contains(r->text, "> Quoted words stay quoted.");
	assert_contains(r->text, "run it.\n\n> Quoted words stay quoted.\n\nLine one of the poem\n\nline two of the poem");
	assert_contains(r->text, "```\nline one\n  line two\n```");
	extract_result_free(r);
}

static void test_table_markdown(void **state)
{
	struct extract_result *r = extract_str(
		"<html><body><div class=content>" PARA
		"<table><tr><th>Name</th><th>Score</th></tr>"
		"<tr><td>Ann</td><td>9 | 10</td></tr><tr><td>Bob</td></tr>"
		"<tr><td><meta itemprop=position content=3><link rel=x href=y>Cy</td><td>7</td></tr></table>" PARA
		"</div></body></html>");

	assert_contains(r->text, "| Name | Score |\n| --- | --- |\n| Ann | 9 \\| 10 |\n| Bob |  |\n| Cy | 7 |\n\nThe committee");
	extract_result_free(r);
}

/* Cells holding years or large figures are data, not datelines to drop. */
static void test_table_figures(void **state)
{
	struct extract_result *r = extract_str(
		"<html><body><div class=content>" PARA
		"<table><tr><th>City</th><th>Population</th><th>Year</th></tr>"
		"<tr><td>Oslo</td><td>709037</td><td>2023</td></tr></table>" PARA
		"</div></body></html>");

	assert_contains(r->text, "| Oslo | 709037 | 2023 |");
	extract_result_free(r);
}

static void test_boilerplate_links(void **state)
{
	struct extract_result *r = extract_str(
		"<html><body>"
		"<div class=menu><a href=/1>One</a> <a href=/2>Two</a> <a href=/3>Three</a></div>"
		"<div id=main>" PARA PARA PARA
		"<h3>More from us</h3><div><a href=/m1>Another story here</a> <a href=/m2>And one more story</a></div></div>"
		"<div class=sidebar><p>Most read: a short list of other things entirely unrelated to this.</p></div>"
		"<div><a href=/x>Link farm one</a> <a href=/y>Link farm two</a> <a href=/z>Link farm three</a></div>"
		"</body></html>");

	assert_contains(r->text, "The committee met");
	assert_lacks(r->text, "One");
	assert_lacks(r->text, "Most read");
	assert_lacks(r->text, "Link farm");
	assert_lacks(r->text, "More from us");
	assert_lacks(r->text, "Another story");
	extract_result_free(r);
}

/* A blog page: the post, then teasers of other posts as <article>s. */
static void test_article_listing(void **state)
{
	struct extract_result *r = extract_str(
		"<html><body><div class=posts>"
		"<article><h1>The post itself</h1>" PARA PARA "</article>"
		"<article><h2>An older post</h2><p>Older posts have text too, and plenty of it, with commas, "
		"clauses and everything a paragraph needs to score, so they look like content.</p></article>"
		"<article><h2>Another older post</h2><p>Yet another post with a long paragraph of text, commas, "
		"clauses and everything a paragraph needs to score, so it looks like content.</p></article>"
		"</div></body></html>");

	assert_contains(r->text, "The committee met");
	assert_lacks(r->text, "older post");
	assert_lacks(r->text, "Older posts");
	extract_result_free(r);
}

static void test_metadata_jsonld_time(void **state)
{
	struct extract_result *r = extract_str(
		"<html><head><title>  Plain   title  </title>"
		"<script type=\"application/ld+json\">{\"@context\":\"https://schema.org\",\"@graph\":["
		"{\"@type\":\"WebSite\",\"name\":\"Site\"},"
		"{\"@type\":[\"NewsArticle\"],\"headline\":\"LD headline\",\"datePublished\":\"2023-01-02T03:04:05Z\","
		"\"author\":[{\"@type\":\"Person\",\"name\":\"Ada Lovelace\"}],\"inLanguage\":\"fr\"}]}</script>"
		"<meta http-equiv=\"Content-Language\" content=\"de\">"
		"</head><body><article>" PARA PARA "</article></body></html>");

	assert_string_equal(r->title, "LD headline");
	assert_string_equal(r->author, "Ada Lovelace");
	assert_string_equal(r->published, "2023-01-02T03:04:05Z");
	assert_string_equal(r->lang, "de");
	assert_null(r->canonical_url);
	extract_result_free(r);

	r = extract_str("<html><head><title>Only a title</title><link rel=canonical href=\"https://other.example/a#frag\">"
			"<meta property=og:locale content=pt_BR></head><body><article>"
			"<time datetime=\"2022-12-24\">Christmas Eve</time>" PARA PARA "</article></body></html>");
	assert_string_equal(r->title, "Only a title");
	assert_null(r->author);
	assert_string_equal(r->published, "2022-12-24");
	assert_string_equal(r->lang, "pt-BR");
	assert_string_equal(r->canonical_url, "https://other.example/a#frag");
	extract_result_free(r);
}

static void test_canonical_resolution(void **state)
{
	static const struct {
		const char *base, *href, *want;
	} cases[] = {
		{ "https://example.com/dir/page", "other", "https://example.com/dir/other" },
		{ "https://example.com/dir/page", "../up?q=1", "https://example.com/up?q=1" },
		{ "https://example.com/dir/page", "//cdn.example.org/x", "https://cdn.example.org/x" },
		{ "https://example.com/dir/page", "  /abs\n/path ", "https://example.com/abs/path" },
		{ "https://example.com/dir/page", "a b", "https://example.com/dir/a%20b" },
		{ "https://example.com/dir/page", "javascript:alert(1)", NULL },
		{ "https://example.com/dir/page", "mailto:a@b.c", NULL },
		{ NULL, "/relative", NULL },
		{ NULL, "http://absolute.example/", "http://absolute.example/" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char html[512];
		struct extract_options opt = { .content_type = "text/html", .base_url = cases[i].base };
		struct extract_result *r = NULL;

		snprintf(html, sizeof(html), "<html><head><link rel=canonical href=\"%s\"></head><body><p>x</p></body></html>",
			 cases[i].href);
		assert_int_equal(extract_html(html, strlen(html), &opt, &r), 0);
		if (cases[i].want == NULL)
			assert_null(r->canonical_url);
		else
			assert_string_equal(r->canonical_url, cases[i].want);
		extract_result_free(r);
	}

	/* <base href> moves relative links. */
	struct extract_result *r = extract_str("<html><head><base href=\"/root/\"></head><body><article>" PARA
					       "<p>See <a href=\"sub/page\">the page</a> for the rest of the committee report and more.</p>"
					       PARA "</article></body></html>");
	assert_int_equal(r->n_links, 1);
	assert_string_equal(r->links[0].url, "https://example.com/root/sub/page");
	extract_result_free(r);
}

static void test_links_capped(void **state)
{
	struct buf b;
	struct extract_options opt = { .content_type = "text/html", .base_url = "https://e.example/", .max_links = 3 };
	struct extract_result *r = NULL;

	buf_init(&b, 1 << 20);
	assert_int_equal(buf_puts(&b, "<html><body><article>"), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(buf_printf(&b, "<p>Paragraph %d of the report says a lot of things, and this one "
					    "links to <a href=\"/p%d\">page %d</a>, and to it again <a href=\"/p%d\">here</a>.</p>",
					    i, i, i, i), 0);
	assert_int_equal(buf_puts(&b, "</article></body></html>"), 0);
	assert_int_equal(extract_html(b.data, b.len, &opt, &r), 0);
	assert_int_equal(r->n_links, 3);
	assert_true(r->links_truncated);
	assert_string_equal(r->links[0].url, "https://e.example/p0");
	assert_string_equal(r->links[2].url, "https://e.example/p2");
	extract_result_free(r);
	buf_free(&b);
}

static void test_charset_header(void **state)
{
	/* "café déjà" in ISO-8859-1, labelled by the header only. */
	const char html[] = "<html><body><p>caf\xe9 d\xe9j\xe0 vu</p></body></html>";
	struct extract_result *r = extract_ok(html, sizeof(html) - 1, "text/html; charset=ISO-8859-1", NULL);

	assert_contains(r->text, "caf\xc3\xa9 d\xc3\xa9j\xc3\xa0 vu");
	assert_string_equal(r->charset, "windows-1252");
	extract_result_free(r);

	/* windows-1252 quotes in 0x80..0x9f. */
	const char q[] = "<p>\x93quoted\x94 \x80 5</p>";
	r = extract_ok(q, sizeof(q) - 1, "text/html;charset=\"windows-1252\"", NULL);
	assert_contains(r->text, "\xe2\x80\x9cquoted\xe2\x80\x9d \xe2\x82\xac 5");
	extract_result_free(r);
}

static void test_charset_meta(void **state)
{
	/* KOI8-R "привет" declared by <meta>. */
	const char html[] = "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=koi8-r\">"
			    "</head><body><p>\xd0\xd2\xc9\xd7\xc5\xd4 world</p></body></html>";
	struct extract_result *r = extract_ok(html, sizeof(html) - 1, "text/html", NULL);

	assert_contains(r->text, "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 world");
	assert_string_equal(r->charset, "koi8-r");
	extract_result_free(r);

	/* <meta charset> in Shift_JIS: "日本" is 93 fa 96 7b. */
	const char sj[] = "<meta charset=\"Shift_JIS\"><p>\x93\xfa\x96\x7b</p>";
	r = extract_ok(sj, sizeof(sj) - 1, NULL, NULL);
	assert_contains(r->text, "\xe6\x97\xa5\xe6\x9c\xac");
	extract_result_free(r);

	/* The header wins over <meta>. */
	const char both[] = "<meta charset=koi8-r><p>caf\xe9</p>";
	r = extract_ok(both, sizeof(both) - 1, "text/html; charset=latin1", NULL);
	assert_contains(r->text, "caf\xc3\xa9");
	extract_result_free(r);
}

static void test_charset_bom(void **state)
{
	/* A UTF-8 BOM beats a wrong header. */
	const char u8[] = "\xef\xbb\xbf<p>na\xc3\xafve</p>";
	struct extract_result *r = extract_ok(u8, sizeof(u8) - 1, "text/html; charset=koi8-r", NULL);

	assert_string_equal(r->text, "na\xc3\xafve");
	assert_string_equal(r->charset, "utf-8");
	extract_result_free(r);

	/* UTF-16LE with BOM: "<p>hé</p>". */
	const char u16[] = "\xff\xfe<\0p\0>\0h\0\xe9\0<\0/\0p\0>\0";
	r = extract_ok(u16, sizeof(u16) - 1, "text/html", NULL);
	assert_string_equal(r->text, "h\xc3\xa9");
	assert_string_equal(r->charset, "utf-16le");
	extract_result_free(r);
}

static void test_mislabelled_and_invalid(void **state)
{
	/* Labelled Latin-1 but the bytes are UTF-8: read as UTF-8. */
	const char u8[] = "<p>\xc3\xa9t\xc3\xa9 \xe2\x82\xac</p>";
	struct extract_result *r = extract_ok(u8, sizeof(u8) - 1, "text/html; charset=iso-8859-1", NULL);

	assert_string_equal(r->text, "\xc3\xa9t\xc3\xa9 \xe2\x82\xac");
	extract_result_free(r);

	/* Labelled UTF-8, mostly valid, some invalid bytes: each becomes U+FFFD. */
	const char bad[] = "<p>ok \xc3\xa9 \xff\xfe bad \xed\xa0\x80 surrogate \xc0\xaf overlong \xe2\x82</p>";
	r = extract_ok(bad, sizeof(bad) - 1, "text/html; charset=utf-8", NULL);
	assert_contains(r->text, "ok \xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd bad");
	assert_contains(r->text, "overlong");
	extract_result_free(r);

	/* Labelled UTF-8 with no valid multi-byte sequence: windows-1252. */
	const char latin[] = "<p>caf\xe9</p>";
	r = extract_ok(latin, sizeof(latin) - 1, "text/html; charset=utf-8", NULL);
	assert_string_equal(r->text, "caf\xc3\xa9");
	extract_result_free(r);

	/* An unknown charset name falls back without failing. */
	const char unk[] = "<p>plain words</p>";
	r = extract_ok(unk, sizeof(unk) - 1, "text/html; charset=x-no-such-charset", NULL);
	assert_string_equal(r->text, "plain words");
	extract_result_free(r);

	/* NUL bytes and character references to nothing printable. */
	const char nul[] = "<p>a\0b &#0; &#xD800; &#x110000; c</p>";
	r = extract_ok(nul, sizeof(nul) - 1, "text/html", NULL);
	assert_contains(r->text, "a");
	extract_result_free(r);
}

static void test_passthrough(void **state)
{
	const char text[] = "Line one\r\nLine two\x01\twith tab\n";
	struct extract_result *r = extract_ok(text, sizeof(text) - 1, "text/plain; charset=utf-8", NULL);

	assert_int_equal(r->kind, EXTRACT_TEXT);
	assert_string_equal(r->text, "Line one\nLine two\twith tab\n");
	extract_result_free(r);

	const char md[] = "# Title\n\n- <b>not html</b>\n";
	r = extract_ok(md, sizeof(md) - 1, "text/markdown", NULL);
	assert_int_equal(r->kind, EXTRACT_MARKDOWN);
	assert_string_equal(r->text, md);
	assert_string_equal(r->title, "Title");
	extract_result_free(r);

	const char js[] = "{\"a\": [1, 2, \"<p>x</p>\"]}";
	r = extract_ok(js, sizeof(js) - 1, "application/json", NULL);
	assert_int_equal(r->kind, EXTRACT_JSON);
	assert_string_equal(r->text, js);
	extract_result_free(r);

	r = extract_ok(js, sizeof(js) - 1, "application/ld+json", NULL);
	assert_int_equal(r->kind, EXTRACT_JSON);
	extract_result_free(r);

	/* Latin-1 text converted. */
	const char l1[] = "na\xefve";
	r = extract_ok(l1, sizeof(l1) - 1, "text/plain; charset=iso-8859-1", NULL);
	assert_string_equal(r->text, "na\xc3\xafve");
	extract_result_free(r);

	/* No content type: sniffed. */
	r = extract_ok("just words", 10, NULL, NULL);
	assert_int_equal(r->kind, EXTRACT_TEXT);
	extract_result_free(r);
	r = extract_ok("  <p>markup</p>", 15, NULL, NULL);
	assert_int_equal(r->kind, EXTRACT_HTML);
	assert_string_equal(r->text, "markup");
	extract_result_free(r);
}

static void test_errors(void **state)
{
	struct extract_options opt = { .content_type = "image/png" };
	struct extract_result *r = NULL;
	const char junk[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10\x08\x06\0\0\0\x1f\xf3\xff\x61";

	assert_int_equal(extract_html("<p>x</p>", 8, &opt, &r), -EMEDIUMTYPE);
	assert_null(r);
	opt.content_type = "text/html";
	assert_int_equal(extract_html(junk, sizeof(junk) - 1, &opt, &r), -EINVAL);
	assert_null(r);
	assert_int_equal(extract_html(NULL, 5, &opt, &r), -EINVAL);
	assert_int_equal(extract_html("x", 1, NULL, &r), -EINVAL);
	opt.max_input = 4;
	assert_int_equal(extract_html("<p>hello</p>", 12, &opt, &r), -EFBIG);
	assert_null(r);
	/* Empty bodies are fine. */
	opt.max_input = 0;
	assert_int_equal(extract_html("", 0, &opt, &r), 0);
	assert_string_equal(r->text, "");
	extract_result_free(r);
	assert_null(extract_result_free(NULL));
}

static void test_output_cap(void **state)
{
	struct buf b;
	struct extract_options opt = { .content_type = "text/html", .max_output = 1000 };
	struct extract_result *r = NULL;

	buf_init(&b, 1 << 20);
	assert_int_equal(buf_puts(&b, "<html><body><article>"), 0);
	for (int i = 0; i < 50; i++)
		assert_int_equal(buf_puts(&b, PARA), 0);
	assert_int_equal(buf_puts(&b, "</article></body></html>"), 0);
	assert_int_equal(extract_html(b.data, b.len, &opt, &r), -EFBIG);
	assert_null(r);
	/* Text bodies too. */
	assert_int_equal(extract_html(b.data, b.len, &(struct extract_options){ .content_type = "text/plain",
		.max_output = 100 }, &r), -EFBIG);
	opt.max_output = 0;
	assert_int_equal(extract_html(b.data, b.len, &opt, &r), 0);
	assert_true(r->text_len > 1000);
	extract_result_free(r);
	buf_free(&b);
}

static void test_deep_nesting(void **state)
{
	const char *tags[] = { "div", "span", "b", "table", "ul", "a", "p", "blockquote" };

	for (size_t t = 0; t < sizeof(tags) / sizeof(tags[0]); t++) {
		struct buf b;
		struct extract_result *r;

		buf_init(&b, 1 << 22);
		assert_int_equal(buf_puts(&b, "<html><body>"), 0);
		for (int i = 0; i < 10000; i++)
			assert_int_equal(buf_printf(&b, "<%s>", tags[t]), 0);
		assert_int_equal(buf_puts(&b, "deep words at the bottom"), 0);
		for (int i = 0; i < 10000; i++)
			assert_int_equal(buf_printf(&b, "</%s>", tags[t]), 0);
		assert_int_equal(buf_puts(&b, PARA "</body></html>"), 0);
		r = extract_ok(b.data, b.len, "text/html", "https://e.example/");
		extract_result_free(r);
		buf_free(&b);
	}
	/* Unclosed, too. */
	struct buf b;
	buf_init(&b, 1 << 22);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(buf_puts(&b, "<div><li><p>x "), 0);
	struct extract_result *r = extract_ok(b.data, b.len, "text/html", NULL);
	extract_result_free(r);
	buf_free(&b);
}

/* libxml2 scans its element stack for each stray end tag: quadratic time
 * unless the error budget stops it. */
static void test_stray_end_tags(void **state)
{
	struct buf b;
	struct extract_options opt = { .content_type = "text/html" };
	struct extract_result *r = NULL;
	int64_t t0;

	buf_init(&b, 1 << 23);
	for (int i = 0; i < 20000; i++)
		assert_int_equal(buf_puts(&b, "<div>"), 0);
	for (int i = 0; i < 1000000; i++)
		assert_int_equal(buf_puts(&b, "</x>"), 0);
	/* Unchecked this takes a minute; under valgrind the check takes
	 * seconds. */
	t0 = time_mono_ms();
	assert_int_equal(extract_html(b.data, b.len, &opt, &r), -EINVAL);
	assert_null(r);
	assert_true(time_mono_ms() - t0 < 20000);
	buf_free(&b);
}

static void test_too_many_nodes(void **state)
{
	struct buf b;
	struct extract_options opt = { .content_type = "text/html" };
	struct extract_result *r = NULL;

	buf_init(&b, 1 << 24);
	for (int i = 0; i < 600000; i++)
		assert_int_equal(buf_puts(&b, "<i>x</i>"), 0);
	assert_int_equal(extract_html(b.data, b.len, &opt, &r), -EFBIG);
	assert_null(r);
	buf_free(&b);
}

static void test_giant_line(void **state)
{
	size_t n = 4 * 1024 * 1024;
	char *html = xmalloc(n + 20000);
	struct extract_result *r;
	size_t o;

	o = (size_t)sprintf(html, "<html><body><p>");
	for (size_t i = 0; o < n; i++)
		html[o++] = i % 7 == 6 ? ' ' : (char)('a' + i % 26);
	o += (size_t)sprintf(html + o, "</p></body></html>");
	r = extract_ok(html, o, "text/html", NULL);
	assert_true(r->text_len > n / 2);
	extract_result_free(r);

	/* One giant attribute and one giant tag name. */
	struct buf b;

	buf_init(&b, 2 * n);
	assert_int_equal(buf_puts(&b, "<p class=\""), 0);
	for (size_t i = 0; i < n / 64; i++)
		assert_int_equal(buf_puts(&b, "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"), 0);
	assert_int_equal(buf_puts(&b, "\">words</p><"), 0);
	for (size_t i = 0; i < 10000; i++)
		assert_int_equal(buf_putc(&b, 'x'), 0);
	assert_int_equal(buf_puts(&b, ">end"), 0);
	r = extract_ok(b.data, b.len, "text/html", NULL);
	extract_result_free(r);
	buf_free(&b);
	free(html);
}

struct thread_arg {
	const char *html;
	size_t len;
	char *want;
	int ok;
};

static void *thread_main(void *p)
{
	struct thread_arg *a = p;

	a->ok = 1;
	for (int i = 0; i < 20; i++) {
		struct extract_options opt = { .content_type = "text/html", .base_url = "https://e.example/" };
		struct extract_result *r = NULL;

		if (extract_html(a->html, a->len, &opt, &r) < 0 || strcmp(r->text, a->want) != 0)
			a->ok = 0;
		extract_result_free(r);
	}
	return NULL;
}

static void test_threads(void **state)
{
	size_t len;
	char *html = read_file("article.html", &len);
	struct extract_options opt = { .content_type = "text/html", .base_url = "https://e.example/" };
	struct extract_result *r = NULL;
	struct thread_arg args[4];
	pthread_t th[4];

	assert_int_equal(extract_html(html, len, &opt, &r), 0);
	for (int i = 0; i < 4; i++) {
		args[i] = (struct thread_arg){ .html = html, .len = len, .want = r->text };
		assert_int_equal(pthread_create(&th[i], NULL, thread_main, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_true(args[i].ok);
	}
	extract_result_free(r);
	free(html);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_article_page),
		cmocka_unit_test(test_headings_lists_code),
		cmocka_unit_test(test_table_markdown),
		cmocka_unit_test(test_table_figures),
		cmocka_unit_test(test_boilerplate_links),
		cmocka_unit_test(test_article_listing),
		cmocka_unit_test(test_metadata_jsonld_time),
		cmocka_unit_test(test_canonical_resolution),
		cmocka_unit_test(test_links_capped),
		cmocka_unit_test(test_charset_header),
		cmocka_unit_test(test_charset_meta),
		cmocka_unit_test(test_charset_bom),
		cmocka_unit_test(test_mislabelled_and_invalid),
		cmocka_unit_test(test_passthrough),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_output_cap),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_giant_line),
		cmocka_unit_test(test_stray_end_tags),
		cmocka_unit_test(test_too_many_nodes),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
