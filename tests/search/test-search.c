/* Unit tests of tools/search: each backend's response parser on responses
 * in the API's real format (tests/search/data), text cleaning, the
 * reciprocal-rank fusion with dedupe and host diversity, the JSON of a
 * response, the token bucket and the breaker. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "json.h"
#include "search.h"
#include "str.h"
#include "xmalloc.h"

static const char *datadir;

static char *load(const char *name, size_t *len)
{
	char path[1024];
	struct stat st;
	char *b;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", datadir, name);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	b = xmalloc((size_t)st.st_size + 1);
	assert_int_equal(read(fd, b, (size_t)st.st_size), st.st_size);
	b[st.st_size] = '\0';
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

typedef int (*parse_fn)(const char *, size_t, const struct search_parse_args *, struct search_hits *);

static int parse_file(parse_fn fn, const char *name, unsigned max, struct search_hits *h)
{
	struct search_parse_args a = { .lang = "en",
	    .article_base = "https://en.wikipedia.org/wiki/", .max_results = max };
	size_t len;
	char *data = load(name, &len);
	int r;

	search_hits_init(h, max);
	r = fn(data, len, &a, h);
	free(data);
	return r;
}

/* ---- parsers ---- */

static void test_searxng(void **state)
{
	struct search_hits h;

	assert_int_equal(parse_file(search_searxng_parse, "searxng.json", 10, &h), 0);
	assert_int_equal(h.n, 4);	/* the item without a URL is skipped */
	assert_string_equal(h.v[0].url,
	    "https://en.wikipedia.org/wiki/Transformer_(deep_learning_architecture)");
	assert_string_equal(h.v[0].title, "Transformer (deep learning architecture) - Wikipedia");
	assert_null(h.v[0].date);
	assert_string_equal(h.v[1].date, "2017-06-12T00:00:00");
	assert_null(h.v[2].date);	/* publishedDate: null */
	assert_string_equal(h.v[2].snippet, "In this post, we will look at The Transformer \xe2\x80\x93 "
	    "a model that uses attention to boost the speed with which these models can be trained.");
	assert_string_equal(h.v[3].url, "https://peterbloem.nl/blog/transformers");
	search_hits_clear(&h);

	/* max_results caps what is kept */
	assert_int_equal(parse_file(search_searxng_parse, "searxng.json", 2, &h), 0);
	assert_int_equal(h.n, 2);
	search_hits_clear(&h);

	assert_int_equal(parse_file(search_searxng_parse, "garbage.html", 10, &h), -EBADMSG);
	assert_int_equal(parse_file(search_searxng_parse, "brave-error.json", 10, &h), -EBADMSG);
	search_hits_clear(&h);
}

static void test_wikipedia(void **state)
{
	struct search_hits h;

	assert_int_equal(parse_file(search_wikipedia_parse, "wikipedia.json", 10, &h), 0);
	assert_int_equal(h.n, 4);
	assert_string_equal(h.v[0].url,
	    "https://en.wikipedia.org/wiki/Transformer_(deep_learning_architecture)");
	assert_string_equal(h.v[0].title, "Transformer (deep learning architecture)");
	/* <span class="searchmatch"> stripped without adding spaces */
	assert_string_equal(h.v[0].snippet, "A transformer is a deep learning architecture that was "
	    "developed by researchers at Google and is based on the multi-head attention mechanism");
	assert_string_equal(h.v[0].date, "2026-11-02T14:21:07Z");
	/* entities decoded */
	assert_non_null(strstr(h.v[1].snippet, "\"soft\" weights & more"));
	assert_string_equal(h.v[2].url, "https://en.wikipedia.org/wiki/Attention_Is_All_You_Need");
	/* as MediaWiki writes it: ' and non-ASCII percent-encoded */
	assert_string_equal(h.v[3].url,
	    "https://en.wikipedia.org/wiki/Vaswani%27s_caf%C3%A9_%C3%BCber-model");
	assert_string_equal(h.v[3].title, "Vaswani's caf\xc3\xa9 \xc3\xbc" "ber-model");
	search_hits_clear(&h);

	assert_int_equal(parse_file(search_wikipedia_parse, "wikipedia-error.json", 10, &h), -EPROTO);
	assert_int_equal(parse_file(search_wikipedia_parse, "searxng.json", 10, &h), -EBADMSG);
	assert_int_equal(parse_file(search_wikipedia_parse, "garbage.html", 10, &h), -EBADMSG);
	search_hits_clear(&h);
}

static void test_arxiv(void **state)
{
	struct search_hits h;

	assert_int_equal(parse_file(search_arxiv_parse, "arxiv.atom", 10, &h), 0);
	assert_int_equal(h.n, 3);
	assert_string_equal(h.v[0].url, "https://arxiv.org/abs/1706.03762v7");	/* https */
	assert_string_equal(h.v[0].title, "Attention Is All You Need");
	assert_string_equal(h.v[0].date, "2017-06-12T17:57:34Z");
	/* whitespace of the feed's wrapped lines collapsed */
	assert_true(str_startswith(h.v[0].snippet, "The dominant sequence transduction models are "
	    "based on complex recurrent or convolutional neural networks in an encoder-decoder"));
	assert_non_null(strstr(h.v[1].snippet, "\"X-former\" models & more."));
	assert_string_equal(h.v[2].title,
	    "Neural Machine Translation by Jointly Learning to Align and Translate");
	search_hits_clear(&h);

	assert_int_equal(parse_file(search_arxiv_parse, "arxiv.atom", 1, &h), 0);
	assert_int_equal(h.n, 1);
	search_hits_clear(&h);

	/* the API's error entry, a DTD with entities, not XML, not Atom */
	assert_int_equal(parse_file(search_arxiv_parse, "arxiv-error.atom", 10, &h), -EPROTO);
	search_hits_clear(&h);
	assert_int_equal(parse_file(search_arxiv_parse, "arxiv-entities.atom", 10, &h), -EBADMSG);
	assert_int_equal(h.n, 0);
	assert_int_equal(parse_file(search_arxiv_parse, "garbage.html", 10, &h), -EBADMSG);
	assert_int_equal(parse_file(search_arxiv_parse, "searxng.json", 10, &h), -EBADMSG);
	search_hits_clear(&h);
	{
		static const char rss[] = "<?xml version=\"1.0\"?><rss><channel/></rss>";
		struct search_parse_args a = { .max_results = 10 };

		search_hits_init(&h, 10);
		assert_int_equal(search_arxiv_parse(rss, sizeof(rss) - 1, &a, &h), -EBADMSG);
		search_hits_clear(&h);
	}
}

static void test_brave(void **state)
{
	struct search_hits h;

	assert_int_equal(parse_file(search_brave_parse, "brave.json", 10, &h), 0);
	assert_int_equal(h.n, 3);
	assert_string_equal(h.v[0].url, "https://arxiv.org/abs/1706.03762v7");
	assert_string_equal(h.v[0].date, "2017-06-12T00:00:00");	/* page_age first */
	assert_string_equal(h.v[0].snippet, "The dominant sequence transduction models are based on "
	    "complex recurrent or convolutional neural networks. We propose a new simple network "
	    "architecture, the Transformer, based solely on attention mechanisms.");
	assert_string_equal(h.v[1].title, "The Illustrated Transformer \xe2\x80\x93 Jay Alammar");
	assert_string_equal(h.v[1].date, "June 27, 2018");	/* age without page_age */
	assert_non_null(strstr(h.v[1].snippet, "The Transformer \xe2\x80\x93 a model"));
	search_hits_clear(&h);

	assert_int_equal(parse_file(search_brave_parse, "brave-error.json", 10, &h), -EPROTO);
	assert_int_equal(parse_file(search_brave_parse, "garbage.html", 10, &h), -EBADMSG);
	search_hits_clear(&h);
	{
		static const char none[] = "{\"type\":\"search\",\"query\":{\"original\":\"x\"}}";
		struct search_parse_args a = { .max_results = 10 };

		search_hits_init(&h, 10);
		assert_int_equal(search_brave_parse(none, sizeof(none) - 1, &a, &h), 0);
		assert_int_equal(h.n, 0);
		search_hits_clear(&h);
	}
}

static void test_text_clean(void **state)
{
	char *s;

	s = search_text_clean("  a\tb\n\n c  ", 11, false, 100);
	assert_string_equal(s, "a b c");
	free(s);
	/* invalid UTF-8 replaced, controls are spaces */
	s = search_text_clean("x\xff" "y\x01z", 5, false, 100);
	assert_string_equal(s, "x\xef\xbf\xbdy z");
	free(s);
	/* tags: inline ones join, block ones separate; entities only in HTML */
	s = search_text_clean("<b>bo</b>ld<br/>next &amp; &#x41;&#66; &bogus; &#0;", 51, true, 100);
	assert_string_equal(s, "bold next & AB &bogus; \xef\xbf\xbd");
	free(s);
	s = search_text_clean("&amp;", 5, false, 100);
	assert_string_equal(s, "&amp;");
	free(s);
	/* the cap cuts on a character boundary */
	s = search_text_clean("ab\xc3\xa9", 4, false, 3);
	assert_string_equal(s, "ab");
	free(s);
	/* an unterminated tag swallows the rest */
	s = search_text_clean("ok <span class=", 15, true, 100);
	assert_string_equal(s, "ok");
	free(s);
}

/* ---- merging ---- */

static void add(struct search_hits *h, const char *url, const char *title)
{
	assert_int_equal(search_hits_add(h, url, title, strlen(title), "", 0, false, NULL), 0);
}

static void test_merge_rrf(void **state)
{
	struct search_hits a, b, c;
	const struct search_hits *lists[3] = { &a, &b, &c };
	struct search_result *r;
	size_t n;

	search_hits_init(&a, 10);
	search_hits_init(&b, 10);
	search_hits_init(&c, 10);
	add(&a, "https://one.example/x", "A1");
	add(&a, "https://two.example/y", "A2");
	add(&a, "ftp://three.example/", "not http: dropped");
	add(&a, "https://four.example/", "A4");
	/* the same pages, written differently */
	add(&b, "HTTPS://TWO.example:443/y#frag", "B1");
	add(&b, "http://one.example/x?utm_source=feed", "B2");
	add(&c, "https://five.example/", "C1");

	assert_int_equal(search_merge(lists, 3, 10, &r, &n), 0);
	assert_int_equal(n, 4);
	/* two.example: 1/62 + 1/61 > one.example: 1/61 + 1/62? equal: ties go
	 * to the best single rank (both 1), then to the earlier list (a) */
	assert_true(fabs(r[0].score - (1.0 / 61 + 1.0 / 62)) < 1e-12);
	assert_true(fabs(r[1].score - (1.0 / 61 + 1.0 / 62)) < 1e-12);
	assert_string_equal(r[0].url, "https://one.example/x");
	assert_string_equal(r[0].title, "A1");	/* the best-ranked hit's text */
	assert_int_equal(r[0].backends, 3);
	assert_string_equal(r[1].url, "https://two.example/y");
	assert_string_equal(r[1].title, "B1");	/* rank 2 in a, rank 1 in b: b's */
	assert_int_equal(r[1].backends, 3);
	/* five (rank 1 in c) beats four (rank 4 in a: the ftp hit kept its rank) */
	assert_string_equal(r[2].url, "https://five.example/");
	assert_true(fabs(r[2].score - 1.0 / 61) < 1e-12);
	assert_string_equal(r[3].url, "https://four.example/");
	assert_true(fabs(r[3].score - 1.0 / 64) < 1e-12);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(r[i].rank, i + 1);
	search_results_free(r, n);

	/* the cap */
	assert_int_equal(search_merge(lists, 3, 2, &r, &n), 0);
	assert_int_equal(n, 2);
	search_results_free(r, n);

	/* no lists */
	assert_int_equal(search_merge(lists, 0, 10, &r, &n), 0);
	assert_int_equal(n, 0);
	search_results_free(r, n);
	search_hits_clear(&a);
	search_hits_clear(&b);
	search_hits_clear(&c);
}

static void test_merge_https_and_date(void **state)
{
	struct search_hits a, b;
	const struct search_hits *lists[2] = { &a, &b };
	struct search_result *r;
	size_t n;

	search_hits_init(&a, 10);
	search_hits_init(&b, 10);
	assert_int_equal(search_hits_add(&a, "http://arxiv.org/abs/1", "t", 1, "s", 1, false, NULL), 0);
	assert_int_equal(search_hits_add(&b, "https://arxiv.org/abs/1", "u", 1, "v", 1, false,
	    "2017-06-12"), 0);
	assert_int_equal(search_merge(lists, 2, 10, &r, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(r[0].url, "https://arxiv.org/abs/1");	/* https kept */
	assert_string_equal(r[0].title, "t");
	assert_string_equal(r[0].date, "2017-06-12");	/* from whichever had one */
	search_results_free(r, n);
	search_hits_clear(&a);
	search_hits_clear(&b);
}

static void test_merge_diversity(void **state)
{
	struct search_hits a, b;
	const struct search_hits *lists[2] = { &a, &b };
	struct search_result *r;
	size_t n;
	char url[64];

	search_hits_init(&a, 20);
	search_hits_init(&b, 20);
	for (int i = 0; i < 6; i++) {
		snprintf(url, sizeof(url), "https://big.example/%d", i);
		add(&a, url, "big");
	}
	add(&b, "https://small.example/", "small");
	/* the same URL twice in one list counts once */
	add(&b, "https://small.example/", "small again");
	add(&b, "https://tiny.example/", "tiny");
	add(&b, "https://other.example/", "other");

	assert_int_equal(search_merge(lists, 2, 20, &r, &n), 0);
	assert_int_equal(n, 9);
	/* fused: big/0 small big/1 big/2 tiny big/3 other big/4 big/5 (ties go
	 * to the earlier list); big.example's 4th and later come after every
	 * other host */
	assert_string_equal(r[0].url, "https://big.example/0");
	assert_string_equal(r[1].url, "https://small.example/");
	assert_true(fabs(r[1].score - 1.0 / 61) < 1e-12);
	assert_string_equal(r[2].url, "https://big.example/1");
	assert_string_equal(r[3].url, "https://big.example/2");
	assert_string_equal(r[4].url, "https://tiny.example/");
	assert_string_equal(r[5].url, "https://other.example/");
	assert_true(fabs(r[5].score - 1.0 / 64) < 1e-12);
	assert_string_equal(r[6].url, "https://big.example/3");
	assert_true(fabs(r[6].score - 1.0 / 64) < 1e-12);
	assert_string_equal(r[8].url, "https://big.example/5");
	search_results_free(r, n);

	/* with a cap of 5 the demoted ones are what is cut */
	search_hits_clear(&b);
	search_hits_init(&b, 20);
	for (int i = 0; i < 4; i++) {
		snprintf(url, sizeof(url), "https://h%d.example/", i);
		add(&b, url, "h");
	}
	assert_int_equal(search_merge(lists, 2, 7, &r, &n), 0);
	assert_int_equal(n, 7);
	{
		int big = 0;

		for (size_t i = 0; i < n; i++)
			big += strstr(r[i].url, "big.example") != NULL;
		assert_int_equal(big, SEARCH_HOST_CAP);
	}
	search_results_free(r, n);
	search_hits_clear(&a);
	search_hits_clear(&b);
}

static void test_response_json(void **state)
{
	struct search_hits a, b;
	const struct search_hits *lists[2] = { &a, &b };
	struct search_response resp = {0};
	json_t *j, *res;
	char *s;

	search_hits_init(&a, 10);
	search_hits_init(&b, 10);
	add(&a, "https://x.example/", "X");
	add(&b, "https://x.example/", "X2");
	assert_int_equal(search_merge(lists, 2, 10, &resp.results, &resp.n), 0);
	resp.lists[0] = "wikipedia";
	resp.lists[1] = "arxiv";
	resp.n_lists = 2;
	resp.answered[0] = "wikipedia";
	resp.answered[1] = "arxiv";
	resp.n_answered = 2;
	resp.failed[0].backend = "brave";
	snprintf(resp.failed[0].error, sizeof(resp.failed[0].error), "HTTP status 500");
	resp.n_failed = 1;
	j = search_response_json(&resp);
	s = json_compact(j);
	assert_string_equal(s, "{\"results\":[{\"url\":\"https://x.example/\",\"title\":\"X\","
	    "\"snippet\":\"\",\"date\":null,\"backends\":[\"wikipedia\",\"arxiv\"],\"rank\":1}],"
	    "\"answered\":[\"wikipedia\",\"arxiv\"],"
	    "\"failed\":[{\"backend\":\"brave\",\"error\":\"HTTP status 500\"}]}");
	res = json_object_get(j, "results");
	assert_int_equal(json_array_size(res), 1);
	free(s);
	json_decref(j);
	search_response_clear(&resp);
	search_hits_clear(&a);
	search_hits_clear(&b);
}

/* ---- rate limit and breaker ---- */

static void test_bucket(void **state)
{
	struct search_bucket b;

	/* burst 2, one token a second, 100 ms apart at least */
	search_bucket_init(&b, 2, 1, 100);
	assert_int_equal(search_bucket_take(&b, 1000), 0);
	assert_int_equal(search_bucket_take(&b, 1000), 100);	/* min interval */
	assert_int_equal(search_bucket_take(&b, 1100), 0);	/* second token of the burst */
	/* empty: tokens at 1000 + 100*1/1000... 0.1 refilled, 0.9 to go */
	assert_int_equal(search_bucket_take(&b, 1200), 800);
	assert_int_equal(search_bucket_take(&b, 2000), 0);
	/* a long idle time refills to the burst, not beyond */
	assert_int_equal(search_bucket_take(&b, 100000), 0);
	assert_int_equal(search_bucket_take(&b, 100100), 0);
	assert_true(search_bucket_take(&b, 100200) > 0);

	/* no minimum interval */
	search_bucket_init(&b, 3, 10, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(search_bucket_take(&b, 50), 0);
	assert_int_equal(search_bucket_take(&b, 50), 100);
}

static void test_breaker(void **state)
{
	struct search_breaker br;

	search_breaker_init(&br, 3, 1000);
	assert_true(search_breaker_allow(&br, 0));
	search_breaker_record(&br, false, 0);
	search_breaker_record(&br, false, 10);
	assert_true(search_breaker_allow(&br, 20));	/* 2 < 3 */
	search_breaker_record(&br, true, 20);		/* success resets */
	for (int i = 0; i < 3; i++)
		search_breaker_record(&br, false, 30);
	assert_false(search_breaker_allow(&br, 31));	/* open */
	assert_false(search_breaker_allow(&br, 1029));
	assert_true(search_breaker_allow(&br, 1030));	/* one trial after the cool-down */
	assert_false(search_breaker_allow(&br, 1031));	/* only one */
	search_breaker_record(&br, false, 1040);	/* the trial failed: open again */
	assert_false(search_breaker_allow(&br, 2000));
	assert_true(search_breaker_allow(&br, 2040));
	search_breaker_record(&br, true, 2050);		/* the trial worked: closed */
	assert_true(search_breaker_allow(&br, 2051));
	assert_true(search_breaker_allow(&br, 2052));
}

/* A configured base URL may end in slashes or not; the path joins it once. */
static void test_url_join(void **state)
{
	static const char *const bases[] = { "http://127.0.0.1:8888", "http://127.0.0.1:8888/",
		"http://127.0.0.1:8888///" };
	struct buf b;

	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		buf_init(&b, 64);
		assert_int_equal(search_url_join(&b, bases[i], "/search?q="), 0);
		assert_string_equal(b.data, "http://127.0.0.1:8888/search?q=");
		buf_free(&b);
	}
	buf_init(&b, 16);	/* over the buffer's cap: an error, not a cut URL */
	assert_int_equal(search_url_join(&b, "http://127.0.0.1:8888", "/search"), -ENOBUFS);
	buf_free(&b);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_searxng),
		cmocka_unit_test(test_wikipedia),
		cmocka_unit_test(test_arxiv),
		cmocka_unit_test(test_brave),
		cmocka_unit_test(test_text_clean),
		cmocka_unit_test(test_merge_rrf),
		cmocka_unit_test(test_merge_https_and_date),
		cmocka_unit_test(test_merge_diversity),
		cmocka_unit_test(test_response_json),
		cmocka_unit_test(test_bucket),
		cmocka_unit_test(test_breaker),
		cmocka_unit_test(test_url_join),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s DATADIR\n", argv[0]);
		return 2;
	}
	datadir = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
