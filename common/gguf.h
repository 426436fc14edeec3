/* Reading what a GGUF model file says about itself: architecture, name,
 * quantisation, trained context, parameter count. Pure parsing of a buffer
 * (the file's first bytes), for `research model list` and the daemon. */
#ifndef RESEARCHD_GGUF_H
#define RESEARCHD_GGUF_H

#include <stddef.h>
#include <stdint.h>

#define GGUF_MAX_HEADER (64u << 20)	/* metadata + tensor infos we read at most */
#define GGUF_MAX_TEXT 128		/* arch and name, with the NUL */

struct gguf_info {
	uint32_t version;
	uint64_t n_tensors;
	char arch[GGUF_MAX_TEXT];	/* general.architecture, "" if absent; longer is -E2BIG */
	char name[GGUF_MAX_TEXT];	/* general.name, "" if absent or too long to show */
	int64_t file_type;		/* general.file_type (llama_ftype), -1 if absent */
	uint64_t context_length;	/* ARCH.context_length, 0 if absent */
	/* ARCH.block_count, .embedding_length, .attention.head_count(_kv):
	 * what sizes a KV cache; 0 if absent */
	uint64_t block_count, embedding_length, head_count, head_count_kv;
	uint64_t n_params;		/* elements of all tensors */
	int dominant_type;		/* the ggml type holding most elements, -1 if none */
	size_t header_len;		/* bytes up to the end of the tensor infos */
};

/* Parse the header at the start of data. -ENODATA: data ends before the
 * tensor infos do (read more of the file and call again); -EBADMSG: not a
 * GGUF file, or a malformed one; -EPROTONOSUPPORT: GGUF version 1;
 * -E2BIG: a count or length beyond what any real model has. */
int gguf_parse(const void *data, size_t len, struct gguf_info *ret);

/* The header of the model file at path, reading more of it while it is
 * cut short (up to GGUF_MAX_HEADER); gguf_parse's errors, or open's. */
int gguf_read_file(const char *path, struct gguf_info *ret);

/* "Q4_K_M", "F16", ...: general.file_type's name when it has one, else the
 * dominant tensor type's; "?" when neither is known. Static string. */
const char *gguf_quant_name(const struct gguf_info *info);

#endif
