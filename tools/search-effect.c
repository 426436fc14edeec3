/* The "web.search" effect: a request as JSON in, search_start, the merged
 * response as the stored result. */
#include <errno.h>

#include "effect.h"
#include "json.h"
#include "search.h"
#include "store.h"

static void search_effect_done(struct search_call *c, const struct search_response *r, void *ud)
{
	struct effect_exec *x = ud;
	json_t *result;

	effect_exec_set_data(x, NULL);
	/* Nothing answered: a transient failure, so nothing is stored. */
	if (r->n_answered == 0) {
		effect_exec_done(x, -EHOSTUNREACH, NULL, NULL);
		return;
	}
	result = search_response_json(r);
	effect_exec_done(x, 0, result, json_pack("{s:i}", "searches", 1));
}

/* The owner a web.search request names must be its job's. */
static int search_effect_owner_check(struct search *s, struct effect_exec *x, int64_t owner)
{
	struct store *st = search_store(s);
	struct store_job *j = NULL;
	int r;

	if (owner < 0 || owner >= (int64_t)(uid_t)-1)
		return -EINVAL;
	if (owner == 0)
		return 0;	/* the shared documents are everyone's */
	if (st == NULL)
		return 0;	/* no local index: nothing to see */
	r = store_job_get(st, effect_exec_job_id(x), &j);
	if (r < 0)
		return r;
	r = (int64_t)j->owner == owner ? 0 : -EPERM;
	store_job_free(j);
	return r;
}

static int search_effect_start(struct effect_exec *x, const json_t *request, void *userdata)
{
	struct search *s = userdata;
	struct search_query q = {0};
	struct search_call *c = NULL;
	const char *only[SEARCH_MAX_BACKENDS];
	size_t n_only = 0;
	json_t *list, *v;
	int64_t max;
	size_t i;
	int r;

	if (!json_is_object(request))
		return -EINVAL;
	r = json_get_string(request, "q", &q.q);
	if (r < 0)
		return r;
	r = json_get_int(request, "max_results", &max);
	if (r == 0) {
		if (max < 1 || max > SEARCH_MAX_RESULTS)
			return -EINVAL;
		q.max_results = (unsigned)max;
	} else if (r != -ENOENT)
		return r;
	r = json_get_string(request, "lang", &q.lang);
	if (r < 0 && r != -ENOENT)
		return r;
	r = json_get_string(request, "time_range", &q.time_range);
	if (r < 0 && r != -ENOENT)
		return r;
	/* Whose local documents: the job's owner, named in the request so that
	 * jobs of two users never share one search in flight; checked. */
	r = json_get_int(request, "owner", &max);
	if (r == 0) {
		r = search_effect_owner_check(s, x, max);
		if (r < 0)
			return r;
		q.owner = (uid_t)max;
	} else if (r != -ENOENT)
		return r;
	list = json_object_get(request, "backends");
	if (list && !json_is_null(list)) {
		if (!json_is_array(list) || json_array_size(list) > SEARCH_MAX_BACKENDS)
			return -EINVAL;
		json_array_foreach(list, i, v) {
			if (!json_is_string(v))
				return -EINVAL;
			only[n_only++] = json_string_value(v);
		}
	}
	r = search_start(s, &q, only, n_only, search_effect_done, x, &c);
	if (r < 0)
		return r;
	effect_exec_set_data(x, c);
	return 0;
}

static void search_effect_cancel(struct effect_exec *x, void *userdata)
{
	search_cancel(effect_exec_get_data(x));
}

int search_register(struct effects *e, struct search *s)
{
	const struct effect_kind kind = {
		.name = "web.search",
		.start = search_effect_start,
		.cancel = search_effect_cancel,
		.userdata = s,
	};

	return effects_register(e, &kind);
}
