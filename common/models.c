/* The models directory and model names (see models.h). */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models.h"
#include "paths.h"
#include "str.h"
#include "xmalloc.h"

static const char *models_env(const char *name)
{
	const char *v = secure_getenv(name);

	/* Only absolute paths: a relative one would depend on the cwd. */
	return (v != NULL && v[0] == '/') ? v : NULL;
}

char *models_dir(void)
{
	const char *v;
	struct passwd *pw;
	char *state, *d;

	v = models_env("RESEARCHD_MODELS_DIR");
	if (v != NULL)
		return xstrdup(v);
	if (geteuid() == 0) {
		state = paths_state_dir();
		d = xasprintf("%s/models", state);
		free(state);
		return d;
	}
	v = models_env("XDG_DATA_HOME");
	if (v != NULL)
		return xasprintf("%s/researchd/models", v);
	v = models_env("HOME");
	if (v == NULL && (pw = getpwuid(geteuid())) != NULL)
		v = pw->pw_dir;
	if (v == NULL)
		v = "/tmp";
	return xasprintf("%s/.local/share/researchd/models", v);
}

bool models_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n <= strlen(".gguf") || n > MODELS_MAX_NAME || name[0] == '.' ||
	    !str_endswith(name, ".gguf"))
		return false;
	for (size_t i = 0; i < n; i++)
		if (name[i] <= ' ' || name[i] > '~' || name[i] == '/' || name[i] == '\\')
			return false;
	return true;
}

int models_path(const char *dir, const char *name, char **ret)
{
	char *file;

	file = str_endswith(name, ".gguf") ? xstrdup(name) : xasprintf("%s.gguf", name);
	if (!models_name_valid(file)) {
		free(file);
		return -EINVAL;
	}
	*ret = xasprintf("%s/%s", dir, file);
	free(file);
	return 0;
}
