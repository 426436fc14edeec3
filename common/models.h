/* Where pulled GGUF models live and how a model's name maps to its file,
 * shared by `research model` and the daemon's [llm] serve. */
#ifndef RESEARCHD_MODELS_H
#define RESEARCHD_MODELS_H

#include <stdbool.h>

#define MODELS_MAX_NAME 200	/* bytes in a model's file name */

/* $RESEARCHD_MODELS_DIR if set (absolute); else for root the daemon's state
 * dir's models/ (/var/lib/researchd/models); else $XDG_DATA_HOME/researchd/models
 * or ~/.local/share/researchd/models. New string. */
char *models_dir(void);
/* A model's name is its file name: one path component of printable ASCII,
 * not starting with '.', ending in ".gguf". */
bool models_name_valid(const char *name);
/* dir/NAME, with ".gguf" added when NAME lacks it; -EINVAL for a name that
 * is not valid even then. */
int models_path(const char *dir, const char *name, char **ret);

#endif
