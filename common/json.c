/* JSON helpers over jansson. */
#include <errno.h>
#include <stdlib.h>

#include "json.h"
#include "xmalloc.h"

int json_get_string(const json_t *obj, const char *key, const char **ret)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return -ENOENT;
	if (!json_is_string(v))
		return -EINVAL;
	*ret = json_string_value(v);
	return 0;
}

int json_get_int(const json_t *obj, const char *key, int64_t *ret)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return -ENOENT;
	if (!json_is_integer(v))
		return -EINVAL;
	*ret = json_integer_value(v);
	return 0;
}

int json_get_bool(const json_t *obj, const char *key, bool *ret)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return -ENOENT;
	if (!json_is_boolean(v))
		return -EINVAL;
	*ret = json_is_true(v);
	return 0;
}

int json_get_object(const json_t *obj, const char *key, json_t **ret)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return -ENOENT;
	if (!json_is_object(v))
		return -EINVAL;
	*ret = v;
	return 0;
}

static char *json_dump_checked(const json_t *v, size_t flags)
{
	char *s = json_dumps(v, flags);

	if (s == NULL) /* only on allocation failure or invalid input */
		s = xstrdup("null");
	return s;
}

char *json_canonical(const json_t *v)
{
	return json_dump_checked(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII |
	    JSON_REAL_PRECISION(17) | JSON_ENCODE_ANY);
}

char *json_compact(const json_t *v)
{
	return json_dump_checked(v, JSON_COMPACT | JSON_ENCODE_ANY);
}
