/* Fuzz the SSE parser and the chat chunk and body parsers behind it: the
 * stream is parsed whole and again in chunks whose sizes the input picks;
 * both must give the same events. The input is also tried as a body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "chat.h"
#include "sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct collect {
	struct buf log;
	struct chat_reply reply;
};

static int on_event(const struct sse_event *ev, void *userdata)
{
	struct collect *c = userdata;

	if (ev->data[ev->data_len] != '\0')
		abort();
	(void)buf_printf(&c->log, "%s|%zu|%s|", ev->type, ev->data_len, ev->id);
	(void)buf_append(&c->log, ev->data, ev->data_len);
	(void)chat_reply_feed_sse(&c->reply, ev->type, ev->data, ev->data_len);
	return 0;
}

static int run(const uint8_t *data, size_t size, size_t step, struct collect *c, int *ret_finish)
{
	struct sse_parser *p;
	int r;

	buf_init(&c->log, 1 << 24);
	chat_reply_init(&c->reply, 4096, 4096);
	if (sse_parser_new(512, on_event, c, &p) < 0)
		abort();
	r = 0;
	for (size_t i = 0; i < size && r == 0; i += step)
		r = sse_parser_feed(p, data + i, size - i < step ? size - i : step);
	*ret_finish = r == 0 ? sse_parser_finish(p) : r;
	(void)chat_reply_finish(&c->reply);
	sse_parser_free(p);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct collect whole, split;
	int fw, fs, rw, rs;
	size_t step;

	if (size < 1)
		return 0;
	step = (size_t)(data[0] % 16) + 1;
	data++;
	size--;
	rw = run(data, size, size ? size : 1, &whole, &fw);
	rs = run(data, size, step, &split, &fs);
	/* Same events up to an error; an error is the same error. */
	if (rw != rs || fw != fs)
		abort();
	if (rw == 0 && (whole.log.len != split.log.len ||
			(whole.log.len && memcmp(whole.log.data, split.log.data, whole.log.len) != 0)))
		abort();
	/* The same bytes as a non-streaming body. */
	chat_reply_done(&whole.reply);
	chat_reply_init(&whole.reply, 4096, 4096);
	if (chat_reply_feed_body(&whole.reply, (const char *)data, size) == 0)
		(void)chat_reply_finish(&whole.reply);
	chat_reply_done(&whole.reply);

	buf_free(&whole.log);
	buf_free(&split.log);
	chat_reply_done(&split.reply);
	return 0;
}
