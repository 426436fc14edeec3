/* Newline-delimited JSON framing (Ollama's native stream): bytes in, one
 * callback per non-blank line. Framing only; the lines are parsed by the
 * caller. */
#ifndef RESEARCHD_LLM_NDJSON_H
#define RESEARCHD_LLM_NDJSON_H

#include <stddef.h>

/* line is NUL-terminated (len excludes the NUL and a trailing '\r') and
 * lives until the callback returns. A negative return stops the splitter
 * and is returned by ndjson_feed(). */
typedef int (*ndjson_line_fn)(const char *line, size_t len, void *userdata);

struct ndjson;

/* max_line caps every line, in bytes (> 0). */
int ndjson_new(size_t max_line, ndjson_line_fn fn, void *userdata, struct ndjson **ret);
struct ndjson *ndjson_free(struct ndjson *n);
/* Feed any chunk of the stream. -EMSGSIZE when a line exceeds max_line;
 * errors are sticky: later calls return the same one. */
int ndjson_feed(struct ndjson *n, const void *data, size_t len);
/* End of stream: a last line without its newline (a plain JSON body) is
 * dispatched too. Returns the sticky error, or the callback's. */
int ndjson_finish(struct ndjson *n);

#endif
