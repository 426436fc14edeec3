/* What the sandbox's init shares with the code that builds its view
 * (view.c) and starts the command (command.c): its context and the way it
 * reports a failed setup. Internal to the helper. */
#ifndef RESEARCHD_SANDBOX_JAIL_INIT_H
#define RESEARCHD_SANDBOX_JAIL_INIT_H

#include <stdbool.h>
#include <stddef.h>

#include "jail.h"

struct init_ctx {
	const struct jail_spec *spec;
	int sync_rd;		/* supervisor says the id maps are written */
	int report;		/* records to the supervisor */
	int out_wr, err_wr;	/* the command's stdout and stderr */
	bool memory_counted;	/* the run has a cgroup: memfds and SysV shm may be allowed */
};

/* All of p to fd, through EINTR; 0 or a negative errno. */
int jail_write_all(int fd, const void *p, size_t n);

/* The machine cannot build the sandbox: report it, nothing ran, exit. */
_Noreturn void init_fail(struct init_ctx *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The request does not fit (inputs over the disk limit...): nothing ran. */
_Noreturn void init_fail_request(struct init_ctx *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* view.c: build the new root and pivot into it; put the inputs in /work. */
void view_build(struct init_ctx *c);
void view_place_inputs(struct init_ctx *c);

/* command.c: in the forked command's process: drop everything, load the
 * filter, set the limits and execve; setup_fd hears why when a step fails. */
_Noreturn void command_main(struct init_ctx *c, int stdin_fd, int setup_fd);

#endif
