/* Default locations: system-wide when run as root, per user otherwise. */
#ifndef RESEARCHD_PATHS_H
#define RESEARCHD_PATHS_H

/* Root: /run/researchd/researchd.sock. Others: $XDG_RUNTIME_DIR/researchd.sock,
 * or /tmp/researchd-UID/researchd.sock without XDG_RUNTIME_DIR. New string. */
char *paths_user_socket(void);
/* Where the CLI connects when neither --socket nor $RESEARCHD_SOCKET says:
 * the per-user socket if it exists (non-root), else the system one. */
char *paths_client_socket(void);
/* Root: /var/lib/researchd. Others: $XDG_STATE_HOME/researchd or
 * ~/.local/state/researchd. New string. */
char *paths_state_dir(void);
/* researchd-sandbox for a program at exe (an absolute path): beside it, then
 * in its sandbox/ subdirectory (the build tree), then the install path,
 * whichever is executable first; the install path when none is. New string. */
char *paths_sandbox_helper_for(const char *exe);
/* The same for the running program (/proc/self/exe). New string. */
char *paths_sandbox_helper(void);

#endif
