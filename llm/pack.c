/* Packing ranked evidence into a prompt's token budget (see pack.h). */
#include <errno.h>
#include <string.h>

#include "pack.h"
#include "pool.h"

/* The framing of one item: "[", id, "] " and "\n\n", as bytes. */
static size_t pack_frame_bytes(const struct pack_item *it)
{
	return strlen(it->id) + 5;
}

int64_t pack_estimate(const char *text, size_t len, void *userdata)
{
	return llm_estimate_tokens(len);
}

int pack_evidence(const struct pack_item *items, size_t n, int64_t budget, pack_count_fn count,
    void *userdata, size_t *chosen, struct pack_result *ret)
{
	struct pack_result res = { 0 };
	int64_t left = budget;

	if (budget < 0)
		return -EINVAL;
	if (count == NULL)
		count = pack_estimate;
	for (size_t i = 0; i < n; i++) {
		int64_t t = count(items[i].text, items[i].len, userdata);
		int64_t f = llm_estimate_tokens(pack_frame_bytes(&items[i]));

		if (t < 0)
			return -EINVAL;
		if (t + f > left) {
			res.n_skipped++;
			continue;
		}
		left -= t + f;
		res.used += t + f;
		chosen[res.n_chosen++] = i;
	}
	*ret = res;
	return 0;
}

int pack_render(const struct pack_item *items, const size_t *chosen, size_t n_chosen,
    struct buf *out)
{
	for (size_t k = 0; k < n_chosen; k++) {
		const struct pack_item *it = &items[chosen[k]];
		int r;

		r = buf_printf(out, "[%s] ", it->id);
		if (r == 0)
			r = buf_append(out, it->text, it->len);
		if (r == 0)
			r = buf_puts(out, "\n\n");
		if (r < 0)
			return r;
	}
	return 0;
}
