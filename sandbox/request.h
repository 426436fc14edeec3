/* The helper's request parser: JSON (sandbox-proto.h) into a jail_spec. */
#ifndef RESEARCHD_REQUEST_H
#define RESEARCHD_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "jail.h"

struct limit_def {
	const char *name;
	int64_t def, min, max;
	size_t offset;		/* in struct jail_limits */
};

/* The limits by name, with their defaults and ranges (SANDBOX_LIMITS). */
extern const struct limit_def request_limits[];
extern const size_t request_n_limits;
int64_t *request_limit_field(struct jail_limits *l, const struct limit_def *d);
void request_limits_default(struct jail_limits *l);

/* Parse text into s (free with request_free). -EINVAL with a sentence in
 * err for any request that is not exactly right. */
int request_parse(const char *text, size_t len, struct jail_spec *s, char *err, size_t errlen);
void request_free(struct jail_spec *s);

#endif
