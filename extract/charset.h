/* Character sets of fetched bodies: detection (BOM, HTTP header, <meta>)
 * and conversion to valid UTF-8 with invalid bytes replaced by U+FFFD. */
#ifndef RESEARCHD_CHARSET_H
#define RESEARCHD_CHARSET_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define CHARSET_NAME_MAX 40

/* The charset parameter of a Content-Type value, lowercased, into out;
 * false when there is none. */
bool charset_from_content_type(const char *content_type, char out[static CHARSET_NAME_MAX]);
/* The charset a <meta> in the first bytes of an HTML body declares. */
bool charset_from_meta(const char *body, size_t len, char out[static CHARSET_NAME_MAX]);
/* Decide the charset of body: BOM, then header (may be NULL), then <meta>
 * when html; a Latin label on a body that is valid multi-byte UTF-8 is taken
 * as UTF-8. Writes the canonical name ("utf-8", "windows-1252", an iconv
 * name) into out, the length of a BOM to skip into *bom_len, and whether
 * the rest is UTF-8 that needs no repair (no invalid or NUL byte) into
 * *clean_utf8. */
void charset_detect(const char *body, size_t len, const char *content_type, bool html,
		    char out[static CHARSET_NAME_MAX], size_t *bom_len, bool *clean_utf8);
/* Append body, decoded from charset, to b as valid UTF-8 without NUL bytes.
 * -ENOBUFS when b's cap is reached. */
int charset_to_utf8(struct buf *b, const char *body, size_t len, const char *charset);

#endif
