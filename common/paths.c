/* Default locations: system-wide when run as root, per user otherwise. */
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buildconf.h"
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

#define PATHS_HELPER "researchd-sandbox"

char *paths_sandbox_helper_for(const char *exe)
{
	const char *slash = exe ? strrchr(exe, '/') : NULL;
	char *p;

	/* Run from a build tree (./build/researchd -d), the helper built with
	 * it is the one that matches; an installed program finds nothing
	 * beside it and falls through to the install path. */
	if (slash != NULL && exe[0] == '/') {
		int dirlen = (int)(slash - exe);

		p = xasprintf("%.*s/" PATHS_HELPER, dirlen, exe);
		if (access(p, X_OK) == 0)
			return p;
		free(p);
		p = xasprintf("%.*s/sandbox/" PATHS_HELPER, dirlen, exe);
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return xstrdup(RESEARCHD_LIBEXECDIR "/" PATHS_HELPER);
}

char *paths_sandbox_helper(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	/* A path that fills the buffer may have been cut: not trusted. */
	if (n <= 0 || n >= (ssize_t)sizeof(exe) - 1)
		return paths_sandbox_helper_for(NULL);
	exe[n] = '\0';
	return paths_sandbox_helper_for(exe);
}
