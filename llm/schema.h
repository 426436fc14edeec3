/* JSON Schema validator for the subset researchd's own schemas use, with
 * error messages meant to be read by a model in a repair prompt.
 *
 * Keywords: type (a name or an array of names; "integer" accepts only JSON
 * integers, never 1.0, because callers read them with json_integer_value),
 * properties, required, additionalProperties (boolean or schema), enum,
 * const, minLength/maxLength (in Unicode code points), pattern,
 * minimum/maximum/exclusiveMinimum/exclusiveMaximum (numbers, 2019-09
 * style), items (one schema), minItems/maxItems, uniqueItems, anyOf.
 * Annotations accepted and ignored: title, description, default, examples,
 * $comment, $schema, $id. Boolean schemas (true/false) are allowed. Any other
 * keyword ($ref, format, oneOf, ...) is an error of the schema.
 *
 * pattern dialect: POSIX extended regular expressions as glibc's
 * regcomp(REG_EXTENDED) reads them, searched anywhere in the string
 * (anchor with ^ and $), matched over bytes: use [0-9] and [[:alpha:]]
 * rather than \d and \w, and "." matches one byte, not one code point.
 * Back-references are refused, as are patterns over 256 bytes and
 * repetitions of repetitions that would blow up regcomp's tree ("(a+)+"
 * nested deep, "a{1,100}{1,100}"), so a schema cannot make matching slow.
 */
#ifndef RESEARCHD_LLM_SCHEMA_H
#define RESEARCHD_LLM_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define SCHEMA_MAX_DEPTH 32		/* schema and instance nesting */
#define SCHEMA_PATTERN_MAX 256

#define SCHEMA_MAX_STEPS 1000000	/* work budget of one validation */

/* A capped list of messages "PATH: what is wrong", PATH a JSON pointer
 * into the instance (or the schema, for schema_check), "(root)" for the
 * top. Past max, checking stops and truncated is set. */
struct schema_errors {
	char **msgs;
	size_t n;
	size_t max;
	bool truncated;
};

void schema_errors_init(struct schema_errors *e, size_t max);
void schema_errors_clear(struct schema_errors *e);
void schema_errors_free(struct schema_errors *e);
/* Add a message of the caller's own ("(root): not valid JSON: ..."). */
void schema_errors_add(struct schema_errors *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* All messages, one per line, and a line for omitted ones. */
int schema_errors_format(const struct schema_errors *e, struct buf *out);

/* Check a schema against the subset: 0, or -EINVAL with errors. */
int schema_check(const json_t *schema, struct schema_errors *errors);
/* Validate an instance: 0 when valid, -EBADMSG with errors when not,
 * -EINVAL when the schema itself is outside the subset (schema_check says
 * why), -E2BIG when checking would take more than SCHEMA_MAX_STEPS steps
 * (anyOf inside anyOf, uniqueItems over big arrays). errors may be NULL. */
int schema_validate(const json_t *schema, const json_t *instance, struct schema_errors *errors);

#endif
