/* Default locations: system-wide when run as root, per user otherwise. */
#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"
#include "protocol.h"
#include "xmalloc.h"

static const char *paths_env(const char *name)
{
	const char *v = secure_getenv(name);

	/* Only absolute paths: a relative one would depend on the cwd. */
	return (v != NULL && v[0] == '/') ? v : NULL;
}

char *paths_user_socket(void)
{
	const char *rt;

	if (geteuid() == 0)
		return xstrdup(PROTOCOL_DEFAULT_SOCKET);
	rt = paths_env("XDG_RUNTIME_DIR");
	if (rt != NULL)
		return xasprintf("%s/researchd.sock", rt);
	return xasprintf("/tmp/researchd-%u/researchd.sock", (unsigned)geteuid());
}

char *paths_client_socket(void)
{
	struct stat st;
	char *p;

	if (geteuid() == 0)
		return xstrdup(PROTOCOL_DEFAULT_SOCKET);
	p = paths_user_socket();
	if (lstat(p, &st) == 0 && S_ISSOCK(st.st_mode))
		return p;
	free(p);
	return xstrdup(PROTOCOL_DEFAULT_SOCKET);
}

char *paths_state_dir(void)
{
	const char *v;
	struct passwd *pw;

	if (geteuid() == 0)
		return xstrdup("/var/lib/researchd");
	v = paths_env("XDG_STATE_HOME");
	if (v != NULL)
		return xasprintf("%s/researchd", v);
	v = paths_env("HOME");
	if (v == NULL && (pw = getpwuid(geteuid())) != NULL)
		v = pw->pw_dir;
	if (v == NULL)
		v = "/tmp";
	return xasprintf("%s/.local/state/researchd", v);
}
