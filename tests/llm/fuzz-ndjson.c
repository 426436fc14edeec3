/* Fuzz the NDJSON splitter and Ollama's /api/chat line parser behind it:
 * the stream is split whole and again in chunks whose sizes the input
 * picks; both must give the same lines, the same error and the same reply. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "chat.h"
#include "ndjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct collect {
	struct buf log;
	struct chat_reply reply;
};

static int on_line(const char *line, size_t len, void *userdata)
{
	struct collect *c = userdata;

	if (line[len] != '\0' || len == 0 || len > 512)
		abort();
	(void)buf_printf(&c->log, "%zu|", len);
	(void)buf_append(&c->log, line, len);
	(void)chat_reply_feed_ollama(&c->reply, line, len);
	return 0;
}

static void run(const uint8_t *data, size_t size, size_t step, struct collect *c, int *ret_feed,
    int *ret_finish)
{
	struct ndjson *nd;
	int r = 0;

	buf_init(&c->log, 1 << 24);
	chat_reply_init(&c->reply, 4096, 4096);
	if (ndjson_new(512, on_line, c, &nd) < 0)
		abort();
	for (size_t i = 0; i < size && r == 0; i += step)
		r = ndjson_feed(nd, data + i, size - i < step ? size - i : step);
	*ret_feed = r;
	*ret_finish = ndjson_finish(nd);
	*ret_finish = *ret_finish < 0 ? *ret_finish : chat_reply_finish(&c->reply);
	ndjson_free(nd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct collect whole, split;
	int rw, rs, fw, fs;
	size_t step;

	if (size < 1)
		return 0;
	step = (size_t)(data[0] % 16) + 1;
	data++;
	size--;
	run(data, size, size ? size : 1, &whole, &rw, &fw);
	run(data, size, step, &split, &rs, &fs);
	if (rw != rs || fw != fs)
		abort();
	if (rw == 0 && (whole.log.len != split.log.len ||
			(whole.log.len && memcmp(whole.log.data, split.log.data, whole.log.len) != 0)))
		abort();
	if (rw == 0 && strcmp(chat_reply_answer(&whole.reply), chat_reply_answer(&split.reply)) != 0)
		abort();
	buf_free(&whole.log);
	buf_free(&split.log);
	chat_reply_done(&whole.reply);
	chat_reply_done(&split.reply);
	return 0;
}
