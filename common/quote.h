/* Quote matching for the Read step: normalise a source's stored text and a
 * quote the same way (NFKC, folded quotes and dashes, collapsed whitespace)
 * and find the quote on word boundaries, reporting offsets into the
 * original text. */
#ifndef RESEARCHD_QUOTE_H
#define RESEARCHD_QUOTE_H

#include <stddef.h>

/* Largest text (and quote) accepted, in bytes; larger is -EFBIG. */
#define QUOTE_TEXT_MAX (16u * 1024 * 1024)
/* Largest normalised form of a text; NFKC can expand, past this is -EFBIG. */
#define QUOTE_NORM_MAX (64u * 1024 * 1024)
/* Largest quote, in bytes: a passage, not a document; larger is -EFBIG. */
#define QUOTE_QUOTE_MAX (64u * 1024)
/* A quote is long enough with this many words or this many characters
 * (code points), both counted after normalisation. */
#define QUOTE_MIN_WORDS 8
#define QUOTE_MIN_CHARS 40

struct quote_text;

/* Normalise s[0..len): NFKC, typographic quotes and dashes folded to ASCII,
 * each whitespace run made one space; nothing else (no case folding, no
 * trimming). *ret is NUL-terminated, *ret_len bytes long; *ret_map has
 * *ret_len + 1 entries: the original byte offset each normalised byte came
 * from, and the original length last. -EINVAL for invalid UTF-8, -EFBIG
 * past the caps. */
int quote_normalize(const char *s, size_t len, char **ret, size_t *ret_len, size_t **ret_map);

/* Normalise a source text once, to find many quotes in it. */
int quote_text_new(const char *text, size_t len, struct quote_text **ret);
/* Find quote in t: [*ret_start, *ret_end) are byte offsets into the original
 * text. 0; -ENOENT not found on word boundaries; -EINVAL invalid UTF-8 or
 * empty; -EMSGSIZE too short; -EFBIG too long. */
int quote_text_find(const struct quote_text *t, const char *quote, size_t qlen,
		    size_t *ret_start, size_t *ret_end);
struct quote_text *quote_text_free(struct quote_text *t);

/* quote_text_new + quote_text_find in one call; the quote is checked first. */
int quote_find(const char *text, size_t len, const char *quote, size_t qlen,
	       size_t *ret_start, size_t *ret_end);

#endif
