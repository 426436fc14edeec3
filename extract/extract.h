/* HTML → main-content Markdown-flavoured text plus page metadata; plain
 * text, Markdown and JSON bodies pass through. Thread-safe, no logging. */
#ifndef RESEARCHD_EXTRACT_H
#define RESEARCHD_EXTRACT_H

#include <stdbool.h>
#include <stddef.h>

/* Defaults for the caps when an option is 0. */
#define EXTRACT_DEFAULT_MAX_INPUT	(16u * 1024 * 1024)
#define EXTRACT_DEFAULT_MAX_OUTPUT	(4u * 1024 * 1024)
#define EXTRACT_DEFAULT_MAX_LINKS	256u
/* Elements nested deeper than this are flattened into their ancestor.
 * Fixed limits besides (extract-internal.h): 512 Ki nodes per page, a
 * budget for markup errors against libxml2's quadratic stray-end-tag
 * scan, 512 KiB of JSON-LD, 2 KiB per metadata string, 4 KiB per URL. */
#define EXTRACT_MAX_DEPTH		256u

enum extract_kind {
	EXTRACT_HTML,
	EXTRACT_TEXT,		/* text/plain and other text/ types */
	EXTRACT_MARKDOWN,
	EXTRACT_JSON,
};

struct extract_options {
	const char *content_type;	/* HTTP Content-Type value or NULL (sniffed) */
	const char *base_url;		/* absolute URL of the page, or NULL */
	size_t max_input;		/* bytes of body accepted; 0: default */
	size_t max_output;		/* bytes of text produced; 0: default */
	size_t max_links;		/* outbound links kept; 0: default */
};

struct extract_link {
	char *url;			/* absolute http(s) URL */
	char *text;			/* anchor text, may be "" */
};

struct extract_result {
	enum extract_kind kind;
	char *text;			/* valid UTF-8, NUL-terminated */
	size_t text_len;
	/* Each NULL when the page does not say. */
	char *title;
	char *canonical_url;		/* absolute, resolved against base_url */
	char *author;
	char *published;		/* as the page gives it, usually ISO 8601 */
	char *lang;
	char *charset;			/* the charset the body was decoded from */
	struct extract_link *links;	/* outbound links of the main content */
	size_t n_links;
	bool links_truncated;		/* more than max_links were found */
};

/* Extract body[0..len) (any bytes). 0 and *ret on success; -EINVAL for a
 * NULL argument or a body that is not text (binary), -EMEDIUMTYPE for a
 * content type that is neither HTML nor text, -EFBIG when the body is over
 * max_input or the text would be over max_output. */
int extract_html(const char *body, size_t len, const struct extract_options *opt,
		 struct extract_result **ret);
/* Frees a result; accepts NULL and returns NULL. */
struct extract_result *extract_result_free(struct extract_result *r);

#endif
