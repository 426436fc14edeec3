/* A follow-up job's parent: its report data, the passages of its stored
 * texts, and which of its pages are still fresh (decided once). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "config.h"
#include "daemon.h"
#include "json.h"
#include "research.h"
#include "store.h"
#include "str.h"

#include "research-internal.h"

/* Is job parent one that uid may follow up (exists, is a research job of
 * theirs or uid is root, and is done)? -ENOENT for a job uid cannot see,
 * like a missing one; -EINVAL with a sentence in err otherwise. */
int research_parent_check(struct daemon *d, uid_t uid, int64_t parent, char *err, size_t errlen)
{
	struct store_job *j = NULL;
	int r;

	r = store_job_get(d->store, parent, &j);
	if (r == 0 && uid != 0 && j->owner != uid)
		r = -ENOENT;
	if (r < 0) {
		if (r == -ENOENT)
			snprintf(err, errlen, "no job %lld to follow up", (long long)parent);
		else
			snprintf(err, errlen, "reading job %lld failed", (long long)parent);
		store_job_free(j);
		return r;
	}
	if (strcmp(j->kind, "research") != 0)
		snprintf(err, errlen, "job %lld is a %s job: only a research job can be followed up",
		    (long long)parent, j->kind);
	else if (j->state != JOB_DONE)
		snprintf(err, errlen, "job %lld is %s: only a job that is done can be followed up "
		    "(wait for it, or research finish %lld)", (long long)parent,
		    job_state_to_string(j->state), (long long)parent);
	r = strcmp(j->kind, "research") != 0 || j->state != JOB_DONE ? -EINVAL : 0;
	store_job_free(j);
	return r;
}

/* Passages of one parent source's text, as doc.text cut them (chunk_text
 * is pure, so the same text gives the same passages). */
static int research_parent_passages(struct research *rs, json_t *so)
{
	const char *th;
	struct chunk *c = NULL;
	json_t *pass;
	char *text = NULL;
	size_t len = 0, n = 0;
	int r;

	if (json_get_string(so, "text_hash", &th) < 0)
		return 0;
	r = research_text_get(rs, th, &text, &len);
	if (r == -ENOENT)
		return 0;	/* gone from the store: the planner leaves it out */
	if (r == 0)
		r = chunk_text(text, len, NULL, &c, &n);
	free(text);
	if (r < 0)
		return r;
	pass = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(pass, json_pack("[I, I]", (json_int_t)c[i].start,
		    (json_int_t)c[i].end));
	free(c);
	json_object_set_new(so, "passages", pass);
	return 0;
}

/* The parent's web sources the source cache no longer holds fresh
 * ([fetch] cache_ttl): decided once, at the job's first start, so a
 * restart later takes the same ones. */
static int research_parent_stale(struct research *rs, const json_t *data, json_t **ret)
{
	int64_t now = time_now_ms(), ttl = rs->d->config->cache_ttl * 1000;
	json_t *proposed = json_array(), *so;
	size_t i;
	int r;

	json_array_foreach(json_object_get(data, "sources"), i, so) {
		const char *url;
		int64_t fetched = 0;

		if (json_get_string(so, "url", &url) < 0 || str_startswith(url, "file:") ||
		    json_get_int(so, "fetched", &fetched) < 0 || fetched <= 0)
			continue;
		if (now - fetched >= ttl)
			json_array_append_new(proposed, json_string(url));
	}
	r = research_decide(rs, "parent-stale", proposed, ret);
	json_decref(proposed);
	if (r == 0 && !json_is_array(*ret)) {
		json_decref(*ret);
		return -EBADMSG;
	}
	return r;
}

static bool research_url_in(const json_t *list, const char *url)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), url) == 0)
			return true;
	return false;
}

/* The parent job's report data, immutable once it is done, with the
 * passages of its sources' texts; a stale source loses its text, so the
 * follow-up fetches it again when it finds it. */
int research_parent_load(struct research *rs, int64_t parent, json_t **ret)
{
	json_t *data = NULL, *so, *stale = NULL;
	char *body = NULL;
	size_t i;
	int r;

	r = store_report_get(rs->d->store, parent, "json", &body);
	if (r < 0)
		return r;
	if (strlen(body) > RESEARCH_MAX_REPORT_DATA) {
		free(body);
		return -EFBIG;
	}
	data = json_loads(body, 0, NULL);
	free(body);
	if (!json_is_object(data)) {
		json_decref(data);
		return -EBADMSG;
	}
	r = research_parent_stale(rs, data, &stale);
	if (r < 0) {
		json_decref(data);
		return r;
	}
	json_array_foreach(json_object_get(data, "sources"), i, so) {
		const char *url;

		if (json_get_string(so, "url", &url) == 0 && research_url_in(stale, url)) {
			json_object_del(so, "text_hash");
			continue;
		}
		r = research_parent_passages(rs, so);
		if (r < 0) {
			json_decref(stale);
			json_decref(data);
			return r;
		}
	}
	json_decref(stale);
	*ret = data;
	return 0;
}

/* ---- running one batch --------------------------------------------- */
