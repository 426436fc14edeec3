/* Reciprocal-rank fusion of the backends' hit lists: dedupe by canonical
 * URL, host diversity, and the merged response as JSON. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "search.h"
#include "str.h"
#include "url.h"
#include "xmalloc.h"

struct agg {
	char *url;		/* canonical */
	char *host;
	const struct search_hit *best;
	const char *date;
	double score;
	uint32_t backends;
	unsigned n_backends, best_rank;
	size_t best_list;
};

/* The dedupe key: the canonical URL without its scheme, so that the http
 * and https forms of a page are one result (the https form is kept). */
static const char *url_key(const char *canon)
{
	const char *p = strstr(canon, "://");

	return p ? p + 3 : canon;
}

static int agg_cmp(const void *a_, const void *b_)
{
	const struct agg *a = a_, *b = b_;

	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	if (a->n_backends != b->n_backends)
		return a->n_backends > b->n_backends ? -1 : 1;
	if (a->best_rank != b->best_rank)
		return a->best_rank < b->best_rank ? -1 : 1;
	if (a->best_list != b->best_list)
		return a->best_list < b->best_list ? -1 : 1;
	return strcmp(a->url, b->url);
}

void search_results_free(struct search_result *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].url);
		free(v[i].title);
		free(v[i].snippet);
		free(v[i].date);
	}
	free(v);
}

int search_merge(const struct search_hits *const *lists, size_t n, size_t max,
    struct search_result **ret, size_t *ret_n)
{
	struct agg *a = NULL, **order = NULL;
	size_t na = 0, total = 0, no = 0;
	struct search_result *out;

	if (n > SEARCH_MAX_BACKENDS || n > 32)
		return -EINVAL;
	for (size_t l = 0; l < n; l++)
		total += lists[l] ? lists[l]->n : 0;
	a = xcalloc(total ? total : 1, sizeof(*a));
	for (size_t l = 0; l < n; l++) {
		if (lists[l] == NULL)
			continue;
		for (size_t i = 0; i < lists[l]->n; i++) {
			const struct search_hit *h = &lists[l]->v[i];
			unsigned rank = (unsigned)i + 1;
			struct url_parts parts = {0};
			char *canon = NULL;
			struct agg *g = NULL;

			/* Only http(s) URLs we can key, and the local index's
			 * file:// documents; the rest are dropped. */
			if (str_startswith(h->url, "file:///"))
				canon = xstrdup(h->url);
			else if (url_canonical(h->url, &canon) < 0)
				continue;
			for (size_t k = 0; k < na; k++)
				if (!strcmp(url_key(a[k].url), url_key(canon))) {
					g = &a[k];
					break;
				}
			if (g == NULL) {
				char *host;

				if (str_startswith(canon, "file:"))
					host = xstrdup("");
				else if (url_parse(canon, &parts) < 0) {
					free(canon);
					continue;
				} else {
					host = parts.host;
					parts.host = NULL;
					url_parts_clear(&parts);
				}
				g = &a[na++];
				g->url = canon;
				g->host = host;
				g->best = h;
				g->best_rank = rank;
				g->best_list = l;
			} else {
				if (str_startswith(canon, "https:") && !str_startswith(g->url, "https:")) {
					free(g->url);
					g->url = canon;
				} else
					free(canon);
				if (rank < g->best_rank) {
					g->best = h;
					g->best_rank = rank;
					g->best_list = l;
				}
			}
			/* The same URL twice in one list counts once, at its best rank. */
			if (!(g->backends & (UINT32_C(1) << l))) {
				g->score += 1.0 / (SEARCH_RRF_K + rank);
				g->backends |= UINT32_C(1) << l;
				g->n_backends++;
			}
			if (g->date == NULL && h->date)
				g->date = h->date;
		}
	}
	qsort(a, na, sizeof(*a), agg_cmp);

	/* Host diversity: at most SEARCH_HOST_CAP per host, the rest after. */
	order = xcalloc(na ? na : 1, sizeof(*order));
	bool *taken = xcalloc(na ? na : 1, sizeof(*taken));
	for (size_t i = 0; i < na; i++) {
		unsigned same = 0;

		for (size_t k = 0; k < no; k++)
			if (!strcmp(order[k]->host, a[i].host))
				same++;
		if (same < SEARCH_HOST_CAP) {
			order[no++] = &a[i];
			taken[i] = true;
		}
	}
	for (size_t i = 0; i < na; i++)
		if (!taken[i])
			order[no++] = &a[i];
	free(taken);

	if (max == 0 || max > SEARCH_MAX_RESULTS)
		max = SEARCH_MAX_RESULTS;
	if (no > max)
		no = max;
	out = xcalloc(no ? no : 1, sizeof(*out));
	for (size_t i = 0; i < no; i++) {
		struct agg *g = order[i];

		out[i].url = g->url;
		g->url = NULL;
		out[i].title = xstrdup(g->best->title);
		out[i].snippet = xstrdup(g->best->snippet);
		out[i].date = g->date ? xstrdup(g->date) : NULL;
		out[i].score = g->score;
		out[i].rank = (unsigned)i + 1;
		out[i].backends = g->backends;
		out[i].best_rank = g->best_rank;
	}
	for (size_t i = 0; i < na; i++) {
		free(a[i].url);
		free(a[i].host);
	}
	free(a);
	free(order);
	*ret = out;
	*ret_n = no;
	return 0;
}

void search_response_clear(struct search_response *r)
{
	search_results_free(r->results, r->n);
	*r = (struct search_response){0};
}

json_t *search_response_json(const struct search_response *r)
{
	json_t *o = json_object(), *results = json_array(), *answered = json_array(),
	    *failed = json_array();

	for (size_t i = 0; i < r->n; i++) {
		const struct search_result *x = &r->results[i];
		json_t *names = json_array();

		for (size_t l = 0; l < r->n_lists; l++)
			if (x->backends & (UINT32_C(1) << l))
				json_array_append_new(names, json_string(r->lists[l]));
		json_array_append_new(results, json_pack("{s:s, s:s, s:s, s:o, s:o, s:I}",
		    "url", x->url,
		    "title", x->title,
		    "snippet", x->snippet,
		    "date", x->date ? json_string(x->date) : json_null(),
		    "backends", names,
		    "rank", (json_int_t)x->rank));
	}
	for (size_t i = 0; i < r->n_answered; i++)
		json_array_append_new(answered, json_string(r->answered[i]));
	for (size_t i = 0; i < r->n_failed; i++)
		json_array_append_new(failed, json_pack("{s:s, s:s}",
		    "backend", r->failed[i].backend, "error", r->failed[i].error));
	json_object_set_new(o, "results", results);
	json_object_set_new(o, "answered", answered);
	json_object_set_new(o, "failed", failed);
	return o;
}
