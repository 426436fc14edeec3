/* JSON Schema subset: the check of a schema against the subset, and the
 * validation of an instance with model-readable error messages. */
#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"
#include "xmalloc.h"

#define SCHEMA_MSG_MAX 1024	/* one message, path included */
#define SCHEMA_PATH_MAX 400	/* rendered path, before "..." */
#define SCHEMA_KEY_SHOWN 64	/* bytes of one key shown in a path */
#define SCHEMA_VALUE_SHOWN 80	/* bytes of one value shown in a message */
#define SCHEMA_LIST_SHOWN 300	/* bytes of a list (enum, properties) */
#define SCHEMA_PATTERN_WORK 2000	/* estimated regcomp tree nodes */
#define SCHEMA_ANYOF_ERRORS 8

/* A path is a chain of segments on the stack, rendered only on error. */
struct path {
	const struct path *up;
	const char *key;	/* NULL: an array index */
	size_t index;
};

struct ctx {
	struct schema_errors *errs;	/* may be NULL: only count */
	size_t count;			/* errors found */
	uint64_t *steps;		/* shared with anyOf branches */
	bool gave_up;			/* over the step budget */
};

/* ---- error list ---- */

void schema_errors_init(struct schema_errors *e, size_t max)
{
	e->msgs = NULL;
	e->n = 0;
	e->max = max;
	e->truncated = false;
}

void schema_errors_clear(struct schema_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->msgs[i]);
	e->msgs = mfree(e->msgs);
	e->n = 0;
	e->truncated = false;
}

void schema_errors_free(struct schema_errors *e)
{
	if (e)
		schema_errors_clear(e);
}

int schema_errors_format(const struct schema_errors *e, struct buf *out)
{
	int r = 0;

	for (size_t i = 0; i < e->n && r == 0; i++)
		r = buf_printf(out, "%s\n", e->msgs[i]);
	if (r == 0 && e->truncated)
		r = buf_puts(out, "(more errors not shown)\n");
	return r;
}

static void errors_add(struct schema_errors *e, char *msg)
{
	if (e->n >= e->max) {
		e->truncated = true;
		free(msg);
		return;
	}
	e->msgs = xreallocarray(e->msgs, e->n + 1, sizeof(char *));
	e->msgs[e->n++] = msg;
}

void schema_errors_add(struct schema_errors *e, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	errors_add(e, msg);
}

/* Stop walking once the caller has all the errors it wants. */
static bool ctx_full(const struct ctx *c)
{
	if (c->gave_up)
		return true;
	if (c->errs == NULL)
		return c->count > 0;
	return c->errs->truncated;
}

static bool ctx_step(struct ctx *c)
{
	if (++*c->steps > SCHEMA_MAX_STEPS)
		c->gave_up = true;
	return !c->gave_up;
}

/* ---- rendering ---- */

/* Append at most max bytes of s, cut at a UTF-8 boundary, with "..." when cut. */
static void put_cut(struct buf *b, const char *s, size_t len, size_t max)
{
	bool cut = len > max;

	if (cut) {
		len = max;
		while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		/* The text goes into a prompt and maybe a log: no control bytes. */
		if (ch < 0x20 || ch == 0x7f)
			(void)buf_printf(b, "\\x%02x", ch);
		else
			(void)buf_putc(b, (char)ch);
	}
	if (cut)
		(void)buf_puts(b, "...");
}

static void put_path(struct buf *b, const struct path *p)
{
	const struct path *segs[SCHEMA_MAX_DEPTH * 3 + 8];
	size_t n = 0;

	for (; p != NULL && n < sizeof(segs) / sizeof(segs[0]); p = p->up)
		segs[n++] = p;
	if (n == 0) {
		(void)buf_puts(b, "(root)");
		return;
	}
	for (size_t i = n; i-- > 0;) {
		const struct path *s = segs[i];

		if (b->len > SCHEMA_PATH_MAX) {
			(void)buf_puts(b, "/...");
			return;
		}
		if (s->key == NULL) {
			(void)buf_printf(b, "/%zu", s->index);
			continue;
		}
		(void)buf_putc(b, '/');
		/* JSON pointer escapes, then the shared cut-and-escape. */
		struct buf k;
		buf_init(&k, 4 * SCHEMA_KEY_SHOWN);
		for (const char *q = s->key; *q && k.len < 2 * SCHEMA_KEY_SHOWN; q++) {
			if (*q == '~')
				(void)buf_puts(&k, "~0");
			else if (*q == '/')
				(void)buf_puts(&k, "~1");
			else
				(void)buf_putc(&k, *q);
		}
		put_cut(b, k.data ? k.data : "", k.len, SCHEMA_KEY_SHOWN);
		buf_free(&k);
	}
}

static void put_value(struct buf *b, const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));

	if (s == NULL) {
		(void)buf_puts(b, "?");
		return;
	}
	put_cut(b, s, strlen(s), SCHEMA_VALUE_SHOWN);
	free(s);
}

static void err(struct ctx *c, const struct path *p, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void err(struct ctx *c, const struct path *p, const char *fmt, ...)
{
	struct buf b;
	va_list ap;

	c->count++;
	if (c->errs == NULL)
		return;
	if (c->errs->n >= c->errs->max) {
		c->errs->truncated = true;
		return;
	}
	/* Overlong parts are cut with "..." before this cap is reached. */
	buf_init(&b, SCHEMA_MSG_MAX * 4);
	put_path(&b, p);
	(void)buf_puts(&b, ": ");
	va_start(ap, fmt);
	(void)buf_vprintf(&b, fmt, ap);
	va_end(ap);
	errors_add(c->errs, buf_steal(&b));
}

/* Like err() with a value or a list of values rendered into the message. */
static void err_value(struct ctx *c, const struct path *p, const char *pre,
		      const json_t *v, const char *post)
{
	struct buf b;

	buf_init(&b, SCHEMA_MSG_MAX);
	put_value(&b, v);
	err(c, p, "%s%s%s", pre, b.data ? b.data : "", post);
	buf_free(&b);
}

static const char *type_of(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER: return "integer";
	case JSON_REAL: return "number";
	case JSON_TRUE:
	case JSON_FALSE: return "boolean";
	case JSON_NULL: return "null";
	}
	return "unknown";
}

static bool type_matches(const char *name, const json_t *v)
{
	if (strcmp(name, "number") == 0)
		return json_is_number(v);
	return strcmp(name, type_of(v)) == 0;
}

static const char *const type_names[] = {
	"null", "boolean", "object", "array", "number", "integer", "string",
};

static bool type_known(const char *name)
{
	for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (strcmp(name, type_names[i]) == 0)
			return true;
	return false;
}

/* ---- values ---- */

/* -1, 0, 1 as a < b, a == b, a > b; exact for integers. */
static int num_cmp(const json_t *a, const json_t *b)
{
	if (json_is_integer(a) && json_is_integer(b)) {
		json_int_t x = json_integer_value(a), y = json_integer_value(b);
		return (x > y) - (x < y);
	}
	long double x = json_is_integer(a) ? (long double)json_integer_value(a) : json_real_value(a);
	long double y = json_is_integer(b) ? (long double)json_integer_value(b) : json_real_value(b);
	return (x > y) - (x < y);
}

/* JSON Schema equality: 1 and 1.0 are equal, key order does not matter. */
static bool value_equal(struct ctx *c, const json_t *a, const json_t *b)
{
	if (!ctx_step(c))
		return false;
	if (json_is_number(a) && json_is_number(b))
		return num_cmp(a, b) == 0;
	if (json_typeof(a) != json_typeof(b))
		return false;
	switch (json_typeof(a)) {
	case JSON_STRING:
		return json_string_length(a) == json_string_length(b) &&
		       memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
	case JSON_ARRAY:
		if (json_array_size(a) != json_array_size(b))
			return false;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!value_equal(c, json_array_get(a, i), json_array_get(b, i)))
				return false;
		return true;
	case JSON_OBJECT: {
		const char *k;
		json_t *v;

		if (json_object_size(a) != json_object_size(b))
			return false;
		json_object_foreach((json_t *)a, k, v) {
			json_t *w = json_object_get(b, k);
			if (w == NULL || !value_equal(c, v, w))
				return false;
		}
		return true;
	}
	default:
		return true;	/* true, false, null: same type is same value */
	}
}

static size_t utf8_chars(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

/* ---- patterns ---- */

/* Parse a bound {m}, {m,} or {m,n} at s[*i] == '{'; the factor by which
 * glibc's regcomp copies the repeated element, or 0 when it is no bound. */
static unsigned long pattern_bound(const char *s, size_t len, size_t *i)
{
	unsigned long m = 0, n;
	size_t j = *i + 1;

	if (j >= len || s[j] < '0' || s[j] > '9')
		return 0;
	while (j < len && s[j] >= '0' && s[j] <= '9' && m <= SCHEMA_PATTERN_WORK)
		m = m * 10 + (unsigned long)(s[j++] - '0');
	n = m;
	if (j < len && s[j] == ',') {
		j++;
		n = m + 1;	/* {m,}: m copies and a star */
		if (j < len && s[j] >= '0' && s[j] <= '9') {
			n = 0;
			while (j < len && s[j] >= '0' && s[j] <= '9' && n <= SCHEMA_PATTERN_WORK)
				n = n * 10 + (unsigned long)(s[j++] - '0');
		}
	}
	while (j < len && s[j] != '}')
		j++;
	*i = j;
	return (m > n ? m : n) + 1;
}

/* Skip a bracket expression starting at s[*i] == '['. */
static void pattern_bracket(const char *s, size_t len, size_t *i)
{
	size_t j = *i + 1;

	if (j < len && s[j] == '^')
		j++;
	if (j < len && s[j] == ']')
		j++;
	while (j < len && s[j] != ']') {
		if (s[j] == '[' && j + 1 < len && (s[j + 1] == ':' || s[j + 1] == '.' || s[j + 1] == '=')) {
			char close = s[j + 1];
			j += 2;
			while (j + 1 < len && !(s[j] == close && s[j + 1] == ']'))
				j++;
			j += 2;
			continue;
		}
		j++;
	}
	*i = j;
}

/* Refuse what could make regcomp or regexec slow or huge; see schema.h.
 * glibc copies the element under + and {m,n} into its parse tree, so
 * stacked or nested repetitions multiply: estimate the tree's size. */
static const char *pattern_unsafe(const char *s, size_t len)
{
	struct {
		unsigned long total;	/* size of the items so far in this group */
		unsigned long last;	/* size of the last item, for a repetition */
	} st[SCHEMA_MAX_DEPTH + 1] = { { 0, 0 } };
	unsigned depth = 0;

	if (len > SCHEMA_PATTERN_MAX)
		return "pattern longer than 256 bytes";
	if (memchr(s, '\0', len))
		return "pattern contains a NUL byte";
	for (size_t i = 0; i < len; i++) {
		unsigned long factor = 0, item = 1;

		switch (s[i]) {
		case '\\':
			if (i + 1 < len && s[i + 1] >= '0' && s[i + 1] <= '9')
				return "back-references are not supported";
			i++;
			break;
		case '[':
			pattern_bracket(s, len, &i);
			break;
		case '(':
			if (depth == SCHEMA_MAX_DEPTH)
				return "pattern nests groups too deeply";
			depth++;
			st[depth].total = st[depth].last = 0;
			continue;
		case ')':
			if (depth == 0)
				break;	/* regcomp will say what is wrong */
			item = st[depth].total + 1;
			depth--;
			break;
		case '|':
			st[depth].last = 0;
			continue;
		case '+':
			factor = 2;
			break;
		case '*':
		case '?':
			factor = 1;
			break;
		case '{':
			factor = pattern_bound(s, len, &i);
			break;
		default:
			break;
		}
		if (factor > 0) {
			/* The last item is repeated: it grows factor times. */
			unsigned long last = st[depth].last ? st[depth].last : 1;
			st[depth].total += last * (factor - 1) + 1;
			st[depth].last = last * factor;
		} else {
			st[depth].total += item;
			st[depth].last = item;
		}
		if (st[depth].total > SCHEMA_PATTERN_WORK || st[depth].last > SCHEMA_PATTERN_WORK)
			return "pattern too complex (repetitions of repetitions)";
	}
	return NULL;
}

static int pattern_compile(const char *s, size_t len, regex_t *re, char *why, size_t whylen)
{
	const char *unsafe = pattern_unsafe(s, len);
	int rc;

	if (unsafe) {
		snprintf(why, whylen, "%s", unsafe);
		return -EINVAL;
	}
	rc = regcomp(re, s, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		regerror(rc, re, why, whylen);
		regfree(re);
		return -EINVAL;
	}
	return 0;
}

/* ---- schema check ---- */

static bool is_count(const json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) >= 0;
}

static void check_schema(struct ctx *c, const json_t *s, const struct path *p, unsigned depth);

static void check_count_pair(struct ctx *c, const json_t *s, const struct path *p,
			     const char *lo, const char *hi)
{
	json_t *a = json_object_get(s, lo), *b = json_object_get(s, hi);

	if (a && !is_count(a))
		err(c, p, "%s must be a non-negative integer", lo);
	if (b && !is_count(b))
		err(c, p, "%s must be a non-negative integer", hi);
	if (a && b && is_count(a) && is_count(b) && json_integer_value(a) > json_integer_value(b))
		err(c, p, "%s is greater than %s", lo, hi);
}

static void check_subschemas(struct ctx *c, const json_t *arr, const struct path *p,
			     const char *kw, unsigned depth)
{
	struct path pk = { p, kw, 0 };

	if (!json_is_array(arr) || json_array_size(arr) == 0) {
		err(c, p, "%s must be a non-empty array of schemas", kw);
		return;
	}
	for (size_t i = 0; i < json_array_size(arr) && !ctx_full(c); i++) {
		struct path pi = { &pk, NULL, i };
		check_schema(c, json_array_get(arr, i), &pi, depth + 1);
	}
}

static void check_type(struct ctx *c, const json_t *t, const struct path *p)
{
	if (json_is_string(t)) {
		if (!type_known(json_string_value(t)))
			err_value(c, p, "unknown type ", t, "");
		return;
	}
	if (!json_is_array(t) || json_array_size(t) == 0) {
		err(c, p, "type must be a type name or a non-empty array of them");
		return;
	}
	for (size_t i = 0; i < json_array_size(t); i++) {
		json_t *e = json_array_get(t, i);

		if (!json_is_string(e) || !type_known(json_string_value(e))) {
			err_value(c, p, "unknown type ", e, "");
			continue;
		}
		for (size_t j = 0; j < i; j++)
			if (json_equal(e, json_array_get(t, j)))
				err_value(c, p, "type ", e, " listed twice");
	}
}

static void check_object_keywords(struct ctx *c, const json_t *s, const struct path *p,
				  unsigned depth)
{
	json_t *props = json_object_get(s, "properties");
	json_t *req = json_object_get(s, "required");
	json_t *add = json_object_get(s, "additionalProperties");

	if (props) {
		struct path pp = { p, "properties", 0 };
		const char *k;
		json_t *v;

		if (!json_is_object(props))
			err(c, p, "properties must be an object");
		else
			json_object_foreach(props, k, v) {
				struct path pk = { &pp, k, 0 };
				if (ctx_full(c))
					break;
				check_schema(c, v, &pk, depth + 1);
			}
	}
	if (add) {
		struct path pa = { p, "additionalProperties", 0 };
		if (!json_is_boolean(add) && !json_is_object(add))
			err(c, p, "additionalProperties must be a boolean or a schema");
		else
			check_schema(c, add, &pa, depth + 1);
	}
	if (req) {
		if (!json_is_array(req)) {
			err(c, p, "required must be an array of property names");
			return;
		}
		for (size_t i = 0; i < json_array_size(req); i++) {
			json_t *e = json_array_get(req, i);

			if (!json_is_string(e)) {
				err(c, p, "required must be an array of property names");
				continue;
			}
			for (size_t j = 0; j < i; j++)
				if (json_equal(e, json_array_get(req, j)))
					err_value(c, p, "required lists ", e, " twice");
			/* A typo in a required name would make every reply invalid. */
			if (json_is_false(add) && json_is_object(props) &&
			    json_object_get(props, json_string_value(e)) == NULL)
				err_value(c, p, "required property ", e,
					  " is not in properties and additionalProperties is false");
		}
	}
}

static void check_schema(struct ctx *c, const json_t *s, const struct path *p, unsigned depth)
{
	const char *k;
	json_t *v;

	if (ctx_full(c))
		return;
	if (depth > SCHEMA_MAX_DEPTH) {
		err(c, p, "schema nested deeper than %d levels", SCHEMA_MAX_DEPTH);
		return;
	}
	if (json_is_boolean(s))
		return;
	if (!json_is_object(s)) {
		err(c, p, "a schema must be an object or a boolean");
		return;
	}

	json_object_foreach((json_t *)s, k, v) {
		if (ctx_full(c))
			return;
		if (strcmp(k, "type") == 0)
			check_type(c, v, p);
		else if (strcmp(k, "properties") == 0 || strcmp(k, "required") == 0 ||
			 strcmp(k, "additionalProperties") == 0)
			;	/* below, together */
		else if (strcmp(k, "enum") == 0) {
			if (!json_is_array(v) || json_array_size(v) == 0)
				err(c, p, "enum must be a non-empty array");
		} else if (strcmp(k, "const") == 0)
			;
		else if (strcmp(k, "minLength") == 0 || strcmp(k, "maxLength") == 0 ||
			 strcmp(k, "minItems") == 0 || strcmp(k, "maxItems") == 0)
			;	/* below, in pairs */
		else if (strcmp(k, "pattern") == 0) {
			char why[256];
			regex_t re;

			if (!json_is_string(v))
				err(c, p, "pattern must be a string");
			else if (pattern_compile(json_string_value(v), json_string_length(v),
						 &re, why, sizeof(why)) < 0)
			{
				struct buf b;
				buf_init(&b, SCHEMA_MSG_MAX);
				put_value(&b, v);
				err(c, p, "invalid pattern %s: %s", b.data, why);
				buf_free(&b);
			}
			else
				regfree(&re);
		} else if (strcmp(k, "minimum") == 0 || strcmp(k, "maximum") == 0 ||
			   strcmp(k, "exclusiveMinimum") == 0 || strcmp(k, "exclusiveMaximum") == 0) {
			if (!json_is_number(v))
				err(c, p, "%s must be a number%s", k,
				    json_is_boolean(v) ? " (the draft-04 boolean form is not supported)" : "");
		} else if (strcmp(k, "items") == 0) {
			struct path pi = { p, "items", 0 };
			if (json_is_array(v))
				err(c, p, "items must be one schema (the tuple form is not supported)");
			else
				check_schema(c, v, &pi, depth + 1);
		} else if (strcmp(k, "uniqueItems") == 0) {
			if (!json_is_boolean(v))
				err(c, p, "uniqueItems must be a boolean");
		} else if (strcmp(k, "anyOf") == 0)
			check_subschemas(c, v, p, "anyOf", depth);
		else if (strcmp(k, "title") == 0 || strcmp(k, "description") == 0 ||
			 strcmp(k, "$comment") == 0 || strcmp(k, "$schema") == 0 ||
			 strcmp(k, "$id") == 0) {
			if (!json_is_string(v))
				err(c, p, "%s must be a string", k);
		} else if (strcmp(k, "default") == 0 || strcmp(k, "examples") == 0)
			;
		else {
			struct buf b;
			buf_init(&b, 256);
			put_cut(&b, k, strlen(k), SCHEMA_KEY_SHOWN);
			err(c, p, "unknown keyword \"%s\" (not in the supported subset)",
			    b.data ? b.data : "");
			buf_free(&b);
		}
	}
	check_object_keywords(c, s, p, depth);
	check_count_pair(c, s, p, "minLength", "maxLength");
	check_count_pair(c, s, p, "minItems", "maxItems");
}

int schema_check(const json_t *schema, struct schema_errors *errors)
{
	uint64_t steps = 0;
	struct ctx c = { .errs = errors, .steps = &steps };

	if (schema == NULL)
		return -EINVAL;
	check_schema(&c, schema, NULL, 0);
	return c.count > 0 ? -EINVAL : 0;
}

/* ---- validation ---- */

static void validate(struct ctx *c, const json_t *s, const json_t *v, const struct path *p,
		     unsigned depth);

static bool type_ok(const json_t *t, const json_t *v)
{
	if (json_is_string(t))
		return type_matches(json_string_value(t), v);
	for (size_t i = 0; i < json_array_size(t); i++)
		if (type_matches(json_string_value(json_array_get(t, i)), v))
			return true;
	return false;
}

static void type_list(struct buf *b, const json_t *t)
{
	if (json_is_string(t)) {
		(void)buf_puts(b, json_string_value(t));
		return;
	}
	for (size_t i = 0; i < json_array_size(t); i++)
		(void)buf_printf(b, "%s%s", i == 0 ? "" : (i + 1 == json_array_size(t) ? " or " : ", "),
				 json_string_value(json_array_get(t, i)));
}

static void validate_enum(struct ctx *c, const json_t *e, const json_t *v, const struct path *p)
{
	struct buf b;

	for (size_t i = 0; i < json_array_size(e); i++)
		if (value_equal(c, json_array_get(e, i), v))
			return;
	buf_init(&b, SCHEMA_MSG_MAX);
	for (size_t i = 0; i < json_array_size(e); i++) {
		if (b.len > SCHEMA_LIST_SHOWN) {
			(void)buf_puts(&b, ", ...");
			break;
		}
		if (i > 0)
			(void)buf_puts(&b, ", ");
		put_value(&b, json_array_get(e, i));
	}
	err(c, p, "must be one of: %s", b.data ? b.data : "");
	buf_free(&b);
}

static void validate_string(struct ctx *c, const json_t *s, const json_t *v, const struct path *p)
{
	const char *str = json_string_value(v);
	size_t len = json_string_length(v);
	json_t *kw;

	if ((kw = json_object_get(s, "minLength")) || (kw = json_object_get(s, "maxLength"))) {
		size_t n = utf8_chars(str, len);
		json_t *lo = json_object_get(s, "minLength"), *hi = json_object_get(s, "maxLength");

		if (lo && (json_int_t)n < json_integer_value(lo))
			err(c, p, "string shorter than %" JSON_INTEGER_FORMAT " characters (it has %zu)",
			    json_integer_value(lo), n);
		if (hi && (json_int_t)n > json_integer_value(hi))
			err(c, p, "string longer than %" JSON_INTEGER_FORMAT " characters (it has %zu)",
			    json_integer_value(hi), n);
	}
	if ((kw = json_object_get(s, "pattern"))) {
		char why[256];
		regex_t re;
		regmatch_t m[1];

		if (pattern_compile(json_string_value(kw), json_string_length(kw), &re, why, sizeof(why)) < 0) {
			c->gave_up = true;	/* cannot happen after schema_check */
			return;
		}
		/* REG_STARTEND: the string may hold NUL bytes. */
		m[0].rm_so = 0;
		m[0].rm_eo = (regoff_t)len;
		if (regexec(&re, str, 1, m, REG_STARTEND) != 0)
			err_value(c, p, "string does not match the pattern ", kw, "");
		regfree(&re);
	}
}

static void validate_number(struct ctx *c, const json_t *s, const json_t *v, const struct path *p)
{
	static const struct {
		const char *kw;
		int bad;	/* num_cmp(v, bound) result that fails */
		bool or_equal;
		const char *what;
	} rules[] = {
		{ "minimum", -1, false, ">=" },
		{ "maximum", 1, false, "<=" },
		{ "exclusiveMinimum", -1, true, ">" },
		{ "exclusiveMaximum", 1, true, "<" },
	};

	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		json_t *bound = json_object_get(s, rules[i].kw);
		int cmp;

		if (bound == NULL)
			continue;
		cmp = num_cmp(v, bound);
		if (cmp == rules[i].bad || (rules[i].or_equal && cmp == 0)) {
			struct buf b;
			buf_init(&b, SCHEMA_MSG_MAX);
			put_value(&b, bound);
			(void)buf_puts(&b, ", got ");
			put_value(&b, v);
			err(c, p, "must be %s %s", rules[i].what, b.data);
			buf_free(&b);
		}
	}
}

static void validate_object(struct ctx *c, const json_t *s, const json_t *v, const struct path *p,
			    unsigned depth)
{
	json_t *props = json_object_get(s, "properties");
	json_t *req = json_object_get(s, "required");
	json_t *add = json_object_get(s, "additionalProperties");
	const char *k;
	json_t *e;

	for (size_t i = 0; i < json_array_size(req) && !ctx_full(c); i++) {
		json_t *name = json_array_get(req, i);
		if (json_object_get(v, json_string_value(name)) == NULL)
			err_value(c, p, "missing required property ", name, "");
	}
	json_object_foreach((json_t *)v, k, e) {
		struct path pk = { p, k, 0 };
		json_t *sub = props ? json_object_get(props, k) : NULL;

		if (ctx_full(c) || !ctx_step(c))
			return;
		if (sub)
			validate(c, sub, e, &pk, depth + 1);
		else if (json_is_false(add)) {
			struct buf b;
			const char *pk2;
			json_t *unused;
			size_t i = 0;

			buf_init(&b, SCHEMA_MSG_MAX);
			json_object_foreach(props, pk2, unused) {
				if (b.len > SCHEMA_LIST_SHOWN) {
					(void)buf_puts(&b, ", ...");
					break;
				}
				(void)buf_puts(&b, i++ ? ", " : "");
				put_cut(&b, pk2, strlen(pk2), SCHEMA_KEY_SHOWN);
			}
			if (i == 0)
				err(c, &pk, "property not allowed (this object takes no properties)");
			else
				err(c, &pk, "property not allowed (allowed: %s)", b.data);
			buf_free(&b);
		} else if (add)
			validate(c, add, e, &pk, depth + 1);
	}
}

static void validate_array(struct ctx *c, const json_t *s, const json_t *v, const struct path *p,
			   unsigned depth)
{
	json_t *items = json_object_get(s, "items");
	json_t *lo = json_object_get(s, "minItems"), *hi = json_object_get(s, "maxItems");
	size_t n = json_array_size(v);

	if (lo && (json_int_t)n < json_integer_value(lo))
		err(c, p, "array has %zu items, fewer than the minimum %" JSON_INTEGER_FORMAT,
		    n, json_integer_value(lo));
	if (hi && (json_int_t)n > json_integer_value(hi))
		err(c, p, "array has %zu items, more than the maximum %" JSON_INTEGER_FORMAT,
		    n, json_integer_value(hi));
	if (items)
		for (size_t i = 0; i < n && !ctx_full(c); i++) {
			struct path pi = { p, NULL, i };
			validate(c, items, json_array_get(v, i), &pi, depth + 1);
		}
	if (json_is_true(json_object_get(s, "uniqueItems")))
		for (size_t i = 1; i < n && !ctx_full(c); i++)
			for (size_t j = 0; j < i && !ctx_full(c); j++)
				if (value_equal(c, json_array_get(v, j), json_array_get(v, i))) {
					err(c, p, "items %zu and %zu are equal; items must be unique", j, i);
					return;
				}
}

static void validate_anyof(struct ctx *c, const json_t *alts, const json_t *v, const struct path *p,
			   unsigned depth)
{
	struct schema_errors best;
	size_t nbest = SIZE_MAX;

	schema_errors_init(&best, SCHEMA_ANYOF_ERRORS);
	for (size_t i = 0; i < json_array_size(alts); i++) {
		struct schema_errors e;
		struct ctx sub = { .errs = &e, .steps = c->steps };

		schema_errors_init(&e, SCHEMA_ANYOF_ERRORS);
		validate(&sub, json_array_get(alts, i), v, p, depth + 1);
		if (sub.gave_up) {
			c->gave_up = true;
			schema_errors_free(&e);
			break;
		}
		if (sub.count == 0) {
			schema_errors_free(&e);
			schema_errors_free(&best);
			return;
		}
		if (sub.count < nbest) {
			schema_errors_free(&best);
			best = e;
			nbest = sub.count;
		} else
			schema_errors_free(&e);
	}
	if (!c->gave_up) {
		err(c, p, "matches none of the %zu allowed forms; the closest one fails with:",
		    json_array_size(alts));
		/* The closest alternative's complaints are the useful ones. */
		for (size_t i = 0; i < best.n; i++) {
			c->count++;
			if (c->errs)
				errors_add(c->errs, xstrdup(best.msgs[i]));
		}
	}
	schema_errors_free(&best);
}

static void validate(struct ctx *c, const json_t *s, const json_t *v, const struct path *p,
		     unsigned depth)
{
	json_t *kw;

	if (ctx_full(c) || !ctx_step(c))
		return;
	if (depth > SCHEMA_MAX_DEPTH) {
		err(c, p, "nested deeper than %d levels", SCHEMA_MAX_DEPTH);
		return;
	}
	if (json_is_true(s))
		return;
	if (json_is_false(s)) {
		err(c, p, "no value is allowed here");
		return;
	}
	if ((kw = json_object_get(s, "type")) && !type_ok(kw, v)) {
		struct buf b;
		buf_init(&b, SCHEMA_MSG_MAX);
		type_list(&b, kw);
		err(c, p, "expected %s, got %s", b.data, type_of(v));
		buf_free(&b);
		return;	/* the other keywords would only add noise */
	}
	if ((kw = json_object_get(s, "const")) && !value_equal(c, kw, v))
		err_value(c, p, "must be exactly ", kw, "");
	if ((kw = json_object_get(s, "enum")))
		validate_enum(c, kw, v, p);
	if (json_is_string(v))
		validate_string(c, s, v, p);
	else if (json_is_number(v))
		validate_number(c, s, v, p);
	else if (json_is_object(v))
		validate_object(c, s, v, p, depth);
	else if (json_is_array(v))
		validate_array(c, s, v, p, depth);
	if ((kw = json_object_get(s, "anyOf")) && !ctx_full(c))
		validate_anyof(c, kw, v, p, depth);
}

int schema_validate(const json_t *schema, const json_t *instance, struct schema_errors *errors)
{
	uint64_t steps = 0;
	struct ctx c = { .errs = errors, .steps = &steps };
	int r;

	if (schema == NULL || instance == NULL)
		return -EINVAL;
	r = schema_check(schema, NULL);
	if (r < 0)
		return r;
	validate(&c, schema, instance, NULL, 0);
	if (c.gave_up)
		return -E2BIG;
	return c.count > 0 ? -EBADMSG : 0;
}
