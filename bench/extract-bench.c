/* bench/extract: runs extract/ over the pages of the article
 * extraction benchmark in-process, timing only extraction, and writes the
 * predictions as JSON {key: {"articleBody": text}} for the scorer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <zlib.h>

#include "extract.h"

#define MAX_PAGE (64u * 1024 * 1024)

struct page {
	const char *key;
	const char *url;
	char *html;
	size_t len;
};

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int read_gz(const char *path, char **ret, size_t *ret_len)
{
	gzFile f = gzopen(path, "rb");
	size_t cap = 1 << 20, len = 0;
	char *data;
	int n;

	if (f == NULL)
		return -errno;
	data = malloc(cap);
	if (data == NULL)
		abort();
	while ((n = gzread(f, data + len, (unsigned)(cap - len))) > 0) {
		len += (size_t)n;
		if (len == cap) {
			if (cap >= MAX_PAGE) {
				gzclose(f);
				free(data);
				return -EFBIG;
			}
			cap *= 2;
			data = realloc(data, cap);
			if (data == NULL)
				abort();
		}
	}
	gzclose(f);
	if (n < 0) {
		free(data);
		return -EIO;
	}
	*ret = data;
	*ret_len = len;
	return 0;
}

int main(int argc, char **argv)
{
	const char *dir, *out_path;
	int repeat = 1;
	char path[4096];
	json_t *gt, *preds, *v;
	json_error_t jerr;
	const char *key;
	struct page *pages;
	size_t n = 0, total_bytes = 0, failed = 0;
	double best = 0, best_cpu = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: %s DATA_DIR OUT.json [REPEAT]\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	out_path = argv[2];
	if (argc > 3)
		repeat = atoi(argv[3]) > 0 ? atoi(argv[3]) : 1;
	snprintf(path, sizeof(path), "%s/ground-truth.json", dir);
	gt = json_load_file(path, 0, &jerr);
	if (gt == NULL) {
		fprintf(stderr, "%s: %s\n", path, jerr.text);
		return 1;
	}
	pages = calloc(json_object_size(gt), sizeof(*pages));
	json_object_foreach(gt, key, v) {
		struct page *p = &pages[n];
		int r;

		snprintf(path, sizeof(path), "%s/html/%s.html.gz", dir, key);
		r = read_gz(path, &p->html, &p->len);
		if (r < 0) {
			fprintf(stderr, "%s: %s\n", path, strerror(-r));
			return 1;
		}
		p->key = key;
		p->url = json_string_value(json_object_get(v, "url"));
		total_bytes += p->len;
		n++;
	}
	preds = json_object();
	for (int k = 0; k < repeat; k++) {
		double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), t, cpu;

		for (size_t i = 0; i < n; i++) {
			struct extract_options opt = {
				.content_type = "text/html",
				.base_url = pages[i].url,
			};
			struct extract_result *res = NULL;
			int r = extract_html(pages[i].html, pages[i].len, &opt, &res);

			if (k == repeat - 1) {
				json_t *o = json_object();

				if (r < 0)
					failed++;
				json_object_set_new(o, "articleBody", json_string(r < 0 ? "" : res->text));
				if (r == 0) {
					json_object_set_new(o, "title", res->title ? json_string(res->title) : json_null());
					json_object_set_new(o, "author", res->author ? json_string(res->author) : json_null());
					json_object_set_new(o, "published", res->published ? json_string(res->published) : json_null());
					json_object_set_new(o, "canonical", res->canonical_url ? json_string(res->canonical_url) : json_null());
					json_object_set_new(o, "lang", res->lang ? json_string(res->lang) : json_null());
					json_object_set_new(o, "links", json_integer((json_int_t)res->n_links));
				}
				json_object_set_new(preds, pages[i].key, o);
			}
			extract_result_free(res);
		}
		t = clock_s(CLOCK_MONOTONIC) - t0;
		cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
		if (k == 0 || t < best)
			best = t;
		if (k == 0 || cpu < best_cpu)
			best_cpu = cpu;
	}
	if (json_dump_file(preds, out_path, JSON_INDENT(1) | JSON_ENSURE_ASCII) < 0) {
		fprintf(stderr, "%s: cannot write\n", out_path);
		return 1;
	}
	printf("pages %zu bytes %zu failed %zu seconds %.4f ms_per_page %.3f pages_per_s %.1f cpu_ms_per_page %.3f\n",
	       n, total_bytes, failed, best, best * 1000 / (double)n, (double)n / best,
	       best_cpu * 1000 / (double)n);
	for (size_t i = 0; i < n; i++)
		free(pages[i].html);
	free(pages);
	json_decref(preds);
	json_decref(gt);
	return 0;
}
