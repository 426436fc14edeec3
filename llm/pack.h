/* Packing ranked evidence into a prompt's token budget. What does not fit
 * is left out whole and reported, never cut: a passage is cited by id and
 * its quote must stay intact. */
#ifndef RESEARCHD_PACK_H
#define RESEARCHD_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct pack_item {
	const char *id;		/* how the prompt names it: "S3", "F12" */
	const char *text;
	size_t len;
};

/* Tokens of text; pack_estimate is the conservative default
 * (llm_estimate_tokens: bytes / 3, rounded up). */
typedef int64_t (*pack_count_fn)(const char *text, size_t len, void *userdata);
int64_t pack_estimate(const char *text, size_t len, void *userdata);

struct pack_result {
	size_t n_chosen;	/* indexes in rank order in chosen[0..n_chosen) */
	size_t n_skipped;	/* items that did not fit (rank order kept for the rest) */
	int64_t used;		/* tokens of the chosen items, framing included */
};

/* Choose, in rank order, the items of items[0..n) that fit in budget
 * tokens, each costing count(text) plus the framing of one item ("[id] "
 * and a blank line). An item too large for what is left is skipped and the
 * next ones still tried. chosen must hold n indexes. -EINVAL for a budget
 * below 0 or a count that fails (< 0). */
int pack_evidence(const struct pack_item *items, size_t n, int64_t budget, pack_count_fn count,
    void *userdata, size_t *chosen, struct pack_result *ret);

/* Append the chosen items as "[id] text\n\n" to out. -ENOBUFS past its cap. */
int pack_render(const struct pack_item *items, const size_t *chosen, size_t n_chosen,
    struct buf *out);

#endif
