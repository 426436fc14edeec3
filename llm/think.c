/* Think/answer splitter: a small tag matcher over content deltas. */
#include <errno.h>
#include <string.h>

#include "think.h"

static const char think_open[] = "<think>";
static const char think_close[] = "</think>";
#define THINK_OPEN_LEN (sizeof(think_open) - 1)
#define THINK_CLOSE_LEN (sizeof(think_close) - 1)

void think_init(struct think *t, size_t max_reasoning, size_t max_answer)
{
	memset(t, 0, sizeof(*t));
	buf_init(&t->reasoning, max_reasoning);
	buf_init(&t->answer, max_answer);
}

void think_done(struct think *t)
{
	if (t == NULL)
		return;
	buf_free(&t->reasoning);
	buf_free(&t->answer);
}

bool think_in_block(const struct think *t)
{
	return t->in_think;
}

static int think_text(struct think *t, const char *s, size_t n)
{
	if (n == 0)
		return 0;
	return buf_append(t->in_think ? &t->reasoning : &t->answer, s, n);
}

static bool think_prefix_of(const char *held, size_t n, const char *tag, size_t taglen)
{
	return n <= taglen && memcmp(held, tag, n) == 0;
}

/* The held bytes form a whole tag: act on it. */
static int think_tag(struct think *t, bool open)
{
	int r;

	if (open) {
		t->in_think = true;
		return 0;
	}
	if (t->in_think) {
		t->in_think = false;
		t->answer_mark = t->answer.len;
		return 0;
	}
	/* Stray close: the answer text since the last block was thinking. */
	if (t->answer.len == t->answer_mark)
		return 0;
	r = buf_append(&t->reasoning, t->answer.data + t->answer_mark,
		       t->answer.len - t->answer_mark);
	if (r < 0)
		return r;
	t->answer.len = t->answer_mark;
	if (t->answer.data)
		t->answer.data[t->answer.len] = '\0';
	return 0;
}

/* One byte while a tag prefix is held (or c starts one). */
static int think_held_byte(struct think *t, char c)
{
	bool can_open, can_close;
	int r;

	t->held[t->nheld++] = c;
	can_open = !t->in_think && think_prefix_of(t->held, t->nheld, think_open, THINK_OPEN_LEN);
	can_close = think_prefix_of(t->held, t->nheld, think_close, THINK_CLOSE_LEN);
	if (can_open && t->nheld == THINK_OPEN_LEN) {
		t->nheld = 0;
		return think_tag(t, true);
	}
	if (can_close && t->nheld == THINK_CLOSE_LEN) {
		t->nheld = 0;
		return think_tag(t, false);
	}
	if (can_open || can_close)
		return 0;
	/* Not a tag. Only the first byte and possibly c itself can be '<'. */
	if (c == '<') {
		r = think_text(t, t->held, t->nheld - 1);
		t->held[0] = '<';
		t->nheld = 1;
	} else {
		r = think_text(t, t->held, t->nheld);
		t->nheld = 0;
	}
	return r;
}

int think_feed(struct think *t, const char *s, size_t len)
{
	size_t i = 0;
	int r;

	if (t->error)
		return t->error;
	if (t->finished)
		return -EINVAL;
	while (i < len) {
		if (t->nheld > 0 || s[i] == '<') {
			r = think_held_byte(t, s[i]);
			if (r < 0)
				return t->error = r;
			i++;
			continue;
		}
		const char *lt = memchr(s + i, '<', len - i);
		size_t n = lt ? (size_t)(lt - (s + i)) : len - i;

		r = think_text(t, s + i, n);
		if (r < 0)
			return t->error = r;
		i += n;
	}
	return 0;
}

int think_feed_reasoning(struct think *t, const char *s, size_t len)
{
	int r;

	if (t->error)
		return t->error;
	if (t->finished)
		return -EINVAL;
	r = buf_append(&t->reasoning, s, len);
	if (r < 0)
		return t->error = r;
	return 0;
}

static bool think_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

int think_finish(struct think *t)
{
	size_t a, b;
	int r;

	if (t->error)
		return t->error;
	if (t->finished)
		return 0;
	/* A held prefix that never became a tag is text. */
	r = think_text(t, t->held, t->nheld);
	if (r < 0)
		return t->error = r;
	t->nheld = 0;
	t->finished = true;

	a = 0;
	b = t->answer.len;
	while (a < b && think_space(t->answer.data[a]))
		a++;
	while (b > a && think_space(t->answer.data[b - 1]))
		b--;
	if (t->answer.data) {
		memmove(t->answer.data, t->answer.data + a, b - a);
		t->answer.len = b - a;
		t->answer.data[t->answer.len] = '\0';
	}
	return 0;
}
