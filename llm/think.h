/* Think/answer splitter: separates a reasoning model's thinking from its
 * answer, incrementally, so that reasoning never reaches the answer.
 *
 * Rules (content deltas fed with think_feed()):
 *  - "<think>" ... "</think>" is reasoning, wherever it appears: at the
 *    start, after whitespace, or after answer text. Answers are JSON or
 *    prose for a report; a literal "<think>" in one is worth less than the
 *    guarantee that no thinking leaks.
 *  - Everything after an unclosed "<think>" is reasoning.
 *  - Inside a block, "<think>" is plain reasoning text (no nesting count).
 *  - A "</think>" with no open block (chat templates that put "<think>" in
 *    the prompt, or a nested-looking "<think>a<think>b</think>c</think>")
 *    makes the answer text since the previous block (or the start) reasoning.
 *    So the answer is only final after think_finish().
 *  - Tags are exact and lower-case and may be split across deltas at any
 *    byte; a possible tag prefix is held back until it is decided.
 *  - reasoning_content / reasoning fields go to think_feed_reasoning().
 *  - think_finish() trims ASCII whitespace around the answer.
 */
#ifndef RESEARCHD_LLM_THINK_H
#define RESEARCHD_LLM_THINK_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct think {
	struct buf reasoning;
	struct buf answer;
	size_t answer_mark;	/* answer length at the end of the last block */
	char held[8];		/* possible tag prefix held back */
	size_t nheld;
	bool in_think;
	bool finished;
	int error;		/* sticky */
};

/* Both buffers are capped; exceeding either is -ENOBUFS, never truncation. */
void think_init(struct think *t, size_t max_reasoning, size_t max_answer);
void think_done(struct think *t);
/* Feed a content delta. */
int think_feed(struct think *t, const char *s, size_t len);
/* Feed reasoning given apart from content (reasoning_content, reasoning). */
int think_feed_reasoning(struct think *t, const char *s, size_t len);
/* End of the reply: flushes a held tag prefix, trims the answer. Feeding
 * after it is -EINVAL; calling it again is a no-op. */
int think_finish(struct think *t);
/* True while inside an unclosed think block. */
bool think_in_block(const struct think *t);

#endif
