/* GGUF header reader (see gguf.h): a bounds-checked walk over the metadata
 * key/values and tensor infos of GGUF v2/v3, little-endian. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf.h"
#include "xmalloc.h"

#define GGUF_MAGIC "GGUF"
#define GGUF_MAX_KV (1u << 20)
#define GGUF_MAX_TENSORS (1u << 20)
#define GGUF_MAX_DIMS 4
#define GGUF_MAX_NEST 4		/* arrays of arrays, deeper is refused */
#define GGUF_N_TYPES 64		/* ggml types we count elements of */
#define GGUF_MAX_CTX_KEYS 32	/* ARCH.* keys kept until ARCH is known */

enum {
	GGUF_U8, GGUF_I8, GGUF_U16, GGUF_I16, GGUF_U32, GGUF_I32, GGUF_F32, GGUF_BOOL,
	GGUF_STRING, GGUF_ARRAY, GGUF_U64, GGUF_I64, GGUF_F64,
};

struct gguf_reader {
	const unsigned char *p;
	size_t len, off;
};

/* Names of llama.cpp's llama_ftype values (general.file_type); gaps are
 * types llama.cpp removed. */
static const char *const gguf_ftypes[] = {
	[0] = "F32", [1] = "F16", [2] = "Q4_0", [3] = "Q4_1", [7] = "Q8_0", [8] = "Q5_0",
	[9] = "Q5_1", [10] = "Q2_K", [11] = "Q3_K_S", [12] = "Q3_K_M", [13] = "Q3_K_L",
	[14] = "Q4_K_S", [15] = "Q4_K_M", [16] = "Q5_K_S", [17] = "Q5_K_M", [18] = "Q6_K",
	[19] = "IQ2_XXS", [20] = "IQ2_XS", [21] = "Q2_K_S", [22] = "IQ3_XS", [23] = "IQ3_XXS",
	[24] = "IQ1_S", [25] = "IQ4_NL", [26] = "IQ3_S", [27] = "IQ3_M", [28] = "IQ2_S",
	[29] = "IQ2_M", [30] = "IQ4_XS", [31] = "IQ1_M", [32] = "BF16", [36] = "TQ1_0",
	[37] = "TQ2_0",
};

/* Names of ggml's tensor types, for files without general.file_type. */
static const char *const gguf_ttypes[] = {
	[0] = "F32", [1] = "F16", [2] = "Q4_0", [3] = "Q4_1", [6] = "Q5_0", [7] = "Q5_1",
	[8] = "Q8_0", [9] = "Q8_1", [10] = "Q2_K", [11] = "Q3_K", [12] = "Q4_K", [13] = "Q5_K",
	[14] = "Q6_K", [15] = "Q8_K", [16] = "IQ2_XXS", [17] = "IQ2_XS", [18] = "IQ3_XXS",
	[19] = "IQ1_S", [20] = "IQ4_NL", [21] = "IQ3_S", [22] = "IQ2_S", [23] = "IQ4_XS",
	[24] = "I8", [25] = "I16", [26] = "I32", [27] = "I64", [28] = "F64", [29] = "IQ1_M",
	[30] = "BF16", [34] = "TQ1_0", [35] = "TQ2_0",
};

static int gguf_take(struct gguf_reader *rd, size_t n, const unsigned char **ret)
{
	if (n > rd->len - rd->off)
		return -ENODATA;
	*ret = rd->p + rd->off;
	rd->off += n;
	return 0;
}

static int gguf_u32(struct gguf_reader *rd, uint32_t *ret)
{
	const unsigned char *b;
	int r = gguf_take(rd, 4, &b);

	if (r < 0)
		return r;
	*ret = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
	return 0;
}

static int gguf_u64(struct gguf_reader *rd, uint64_t *ret)
{
	uint32_t lo, hi;
	int r;

	r = gguf_u32(rd, &lo);
	if (r == 0)
		r = gguf_u32(rd, &hi);
	if (r < 0)
		return r;
	*ret = (uint64_t)hi << 32 | lo;
	return 0;
}

/* A string: u64 length, then its bytes (not NUL-terminated). */
static int gguf_string(struct gguf_reader *rd, const unsigned char **ret, size_t *ret_len)
{
	uint64_t n;
	int r;

	r = gguf_u64(rd, &n);
	if (r < 0)
		return r;
	if (n > GGUF_MAX_HEADER)
		return -E2BIG;
	r = gguf_take(rd, (size_t)n, ret);
	if (r < 0)
		return r;
	*ret_len = (size_t)n;
	return 0;
}

static size_t gguf_scalar_size(uint32_t type)
{
	switch (type) {
	case GGUF_U8: case GGUF_I8: case GGUF_BOOL: return 1;
	case GGUF_U16: case GGUF_I16: return 2;
	case GGUF_U32: case GGUF_I32: case GGUF_F32: return 4;
	case GGUF_U64: case GGUF_I64: case GGUF_F64: return 8;
	default: return 0;
	}
}

/* Skip one value of a type, or read an integer one into *ret_int. */
static int gguf_value(struct gguf_reader *rd, uint32_t type, int depth, bool *ret_is_int,
    int64_t *ret_int)
{
	const unsigned char *b;
	size_t n, sz;
	uint64_t count;
	uint32_t elem;
	int r;

	*ret_is_int = false;
	if (type == GGUF_STRING)
		return gguf_string(rd, &b, &n);
	if (type == GGUF_ARRAY) {
		if (depth >= GGUF_MAX_NEST)
			return -EBADMSG;
		r = gguf_u32(rd, &elem);
		if (r == 0)
			r = gguf_u64(rd, &count);
		if (r < 0)
			return r;
		sz = gguf_scalar_size(elem);
		if (sz > 0) {
			if (count > (rd->len - rd->off) / sz)
				return count > GGUF_MAX_HEADER ? -E2BIG : -ENODATA;
			rd->off += (size_t)count * sz;
			return 0;
		}
		if (elem != GGUF_STRING && elem != GGUF_ARRAY)
			return -EBADMSG;
		/* Each string or array element takes at least 8 bytes: a count
		 * beyond that is garbage, not a reason to loop for long. */
		if (count > GGUF_MAX_HEADER / 8)
			return -E2BIG;
		for (uint64_t i = 0; i < count; i++) {
			bool is_int;
			int64_t v;

			r = gguf_value(rd, elem, depth + 1, &is_int, &v);
			if (r < 0)
				return r;
		}
		return 0;
	}
	sz = gguf_scalar_size(type);
	if (sz == 0)
		return -EBADMSG;
	r = gguf_take(rd, sz, &b);
	if (r < 0)
		return r;
	switch (type) {
	case GGUF_U8: *ret_int = b[0]; break;
	case GGUF_I8: *ret_int = (int8_t)b[0]; break;
	case GGUF_U16: *ret_int = (uint16_t)(b[0] | b[1] << 8); break;
	case GGUF_I16: *ret_int = (int16_t)(uint16_t)(b[0] | b[1] << 8); break;
	case GGUF_U32: *ret_int = (int64_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 |
	    (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24); break;
	case GGUF_I32: *ret_int = (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 |
	    (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24); break;
	case GGUF_U64: case GGUF_I64: {
		uint64_t v = 0;

		for (int i = 7; i >= 0; i--)
			v = v << 8 | b[i];
		/* A u64 past INT64_MAX is no count we use. */
		if (type == GGUF_U64 && v > INT64_MAX)
			return 0;
		*ret_int = (int64_t)v;
		break;
	}
	default:
		return 0;	/* floats and bools: skipped */
	}
	*ret_is_int = true;
	return 0;
}

static bool gguf_key_is(const unsigned char *k, size_t n, const char *want)
{
	return n == strlen(want) && memcmp(k, want, n) == 0;
}

int gguf_parse(const void *data, size_t len, struct gguf_info *ret)
{
	struct gguf_reader rd = { .p = data, .len = len };
	struct gguf_info info = { .file_type = -1, .dominant_type = -1 };
	/* ARCH.* keys seen before we know ARCH: which, the ARCH part, value. */
	static const char *const arch_keys[] = {
		".context_length", ".block_count", ".embedding_length",
		".attention.head_count", ".attention.head_count_kv",
	};
	uint64_t *arch_vals[] = {
		&info.context_length, &info.block_count, &info.embedding_length,
		&info.head_count, &info.head_count_kv,
	};
	struct { const unsigned char *arch; size_t n; int64_t v; int which; } ctx[GGUF_MAX_CTX_KEYS];
	uint64_t per_type[GGUF_N_TYPES] = { 0 }, n_kv, best = 0;
	const unsigned char *b;
	size_t n_ctx = 0;
	int r;

	r = gguf_take(&rd, 4, &b);
	if (r < 0)
		return r;
	if (memcmp(b, GGUF_MAGIC, 4) != 0)
		return -EBADMSG;
	r = gguf_u32(&rd, &info.version);
	if (r < 0)
		return r;
	if (info.version == 1)
		return -EPROTONOSUPPORT;
	if (info.version < 2 || info.version > 3)
		return -EBADMSG;
	r = gguf_u64(&rd, &info.n_tensors);
	if (r == 0)
		r = gguf_u64(&rd, &n_kv);
	if (r < 0)
		return r;
	if (info.n_tensors > GGUF_MAX_TENSORS || n_kv > GGUF_MAX_KV)
		return -E2BIG;

	for (uint64_t i = 0; i < n_kv; i++) {
		const unsigned char *k;
		size_t kn;
		uint32_t type;
		bool is_int;
		int64_t v = 0;
		size_t voff;

		r = gguf_string(&rd, &k, &kn);
		if (r == 0)
			r = gguf_u32(&rd, &type);
		if (r < 0)
			return r;
		voff = rd.off;
		r = gguf_value(&rd, type, 0, &is_int, &v);
		if (r < 0)
			return r;
		if (type == GGUF_STRING && (gguf_key_is(k, kn, "general.architecture") ||
		    gguf_key_is(k, kn, "general.name"))) {
			bool arch = k[8] == 'a';
			size_t sn = rd.off - voff - 8;
			const unsigned char *s = rd.p + voff + 8;
			char *dst = arch ? info.arch : info.name;

			if (sn >= GGUF_MAX_TEXT || memchr(s, '\0', sn) != NULL) {
				if (arch)
					return sn >= GGUF_MAX_TEXT ? -E2BIG : -EBADMSG;
				continue;
			}
			memcpy(dst, s, sn);
			dst[sn] = '\0';
		} else if (is_int && gguf_key_is(k, kn, "general.file_type")) {
			info.file_type = v;
		} else if (is_int && v >= 0 && n_ctx < GGUF_MAX_CTX_KEYS) {
			for (int w = 0; w < (int)(sizeof(arch_keys) / sizeof(arch_keys[0])); w++) {
				size_t sn = strlen(arch_keys[w]);

				if (kn > sn && memcmp(k + kn - sn, arch_keys[w], sn) == 0) {
					ctx[n_ctx].arch = k;
					ctx[n_ctx].n = kn - sn;
					ctx[n_ctx].v = v;
					ctx[n_ctx].which = w;
					n_ctx++;
					break;
				}
			}
		}
	}
	for (size_t i = 0; i < n_ctx; i++)
		if (ctx[i].n == strlen(info.arch) && memcmp(ctx[i].arch, info.arch, ctx[i].n) == 0)
			*arch_vals[ctx[i].which] = (uint64_t)ctx[i].v;

	for (uint64_t i = 0; i < info.n_tensors; i++) {
		const unsigned char *name;
		size_t nn;
		uint32_t n_dims = 0, type = 0;
		uint64_t elems = 1, d = 0, offset = 0;

		r = gguf_string(&rd, &name, &nn);
		if (r == 0)
			r = gguf_u32(&rd, &n_dims);
		if (r < 0)
			return r;
		if (n_dims == 0 || n_dims > GGUF_MAX_DIMS)
			return -EBADMSG;
		for (uint32_t j = 0; j < n_dims; j++) {
			r = gguf_u64(&rd, &d);
			if (r < 0)
				return r;
			if (d != 0 && elems > UINT64_MAX / d)
				return -EBADMSG;
			elems *= d;
		}
		r = gguf_u32(&rd, &type);
		if (r == 0)
			r = gguf_u64(&rd, &offset);
		if (r < 0)
			return r;
		if (elems > UINT64_MAX - info.n_params)
			return -EBADMSG;
		info.n_params += elems;
		if (type < GGUF_N_TYPES)
			per_type[type] += elems;
	}
	for (int t = 0; t < GGUF_N_TYPES; t++) {
		if (per_type[t] > best) {
			best = per_type[t];
			info.dominant_type = t;
		}
	}
	info.header_len = rd.off;
	*ret = info;
	return 0;
}

const char *gguf_quant_name(const struct gguf_info *info)
{
	const char *s = NULL;
	size_t nf = sizeof(gguf_ftypes) / sizeof(gguf_ftypes[0]);
	size_t nt = sizeof(gguf_ttypes) / sizeof(gguf_ttypes[0]);

	if (info->file_type >= 0 && (size_t)info->file_type < nf)
		s = gguf_ftypes[info->file_type];
	if (s == NULL && info->dominant_type >= 0 && (size_t)info->dominant_type < nt)
		s = gguf_ttypes[info->dominant_type];
	return s != NULL ? s : "?";
}

int gguf_read_file(const char *path, struct gguf_info *ret)
{
	size_t want = 1u << 20, have = 0;
	unsigned char *b = NULL;
	int fd, r = -ENODATA;
	ssize_t n;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		b = xrealloc(b, want);
		while (have < want) {
			n = read(fd, b + have, want - have);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			have += (size_t)n;
		}
		r = gguf_parse(b, have, ret);
		if (r != -ENODATA || have < want || want >= GGUF_MAX_HEADER)
			break;
		want *= 4;
		if (want > GGUF_MAX_HEADER)
			want = GGUF_MAX_HEADER;
	}
	close(fd);
	free(b);
	return r == -ENODATA && have < want ? -EBADMSG : r;
}
