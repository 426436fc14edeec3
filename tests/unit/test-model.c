/* Unit tests: [llm] serve's pieces (agent/model.c): the GGUF header reader
 * on files written here byte by byte, the plan of threads, slots and
 * context, and the resolution of a pulled model's name. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "cmocka-skip.h"
#include "config.h"
#include "model.h"
#include "xmalloc.h"

static char tmpdir[] = "/tmp/test-model-XXXXXX";

/* ---- a GGUF writer, from the format's description ---- */

static void put_u(FILE *f, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		fputc((int)(v >> (8 * i)) & 0xff, f);
}

static void put_str(FILE *f, const char *s)
{
	put_u(f, strlen(s), 8);
	fwrite(s, 1, strlen(s), f);
}

enum { T_U32 = 4, T_F32 = 6, T_STRING = 8, T_ARRAY = 9, T_U64 = 10 };

/* A llama-like header: 7 pairs, among them a string array (a vocabulary)
 * and a float; cut after `cut` bytes when cut > 0. */
static char *write_gguf(const char *name, long cut, uint32_t version)
{
	char *path = xasprintf("%s/%s", tmpdir, name);
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	fwrite("GGUF", 1, 4, f);
	put_u(f, version, 4);
	put_u(f, 0, 8);		/* tensors */
	put_u(f, 8, 8);		/* metadata pairs */
	put_str(f, "general.architecture");
	put_u(f, T_STRING, 4);
	put_str(f, "llama");
	put_str(f, "general.context_length");	/* not ARCH.*: ignored */
	put_u(f, T_U32, 4);
	put_u(f, 99, 4);
	put_str(f, "tokenizer.ggml.tokens");
	put_u(f, T_ARRAY, 4);
	put_u(f, T_STRING, 4);
	put_u(f, 3, 8);
	put_str(f, "<s>");
	put_str(f, "</s>");
	put_str(f, "hello");
	put_str(f, "llama.rope.freq_base");
	put_u(f, T_F32, 4);
	put_u(f, 0x461c4000, 4);	/* 10000.0f */
	put_str(f, "llama.context_length");
	put_u(f, T_U32, 4);
	put_u(f, 4096, 4);
	put_str(f, "llama.block_count");
	put_u(f, T_U64, 4);
	put_u(f, 32, 8);
	put_str(f, "llama.embedding_length");
	put_u(f, T_U32, 4);
	put_u(f, 4096, 4);
	put_str(f, "llama.attention.head_count_kv");
	put_u(f, T_U32, 4);
	put_u(f, 8, 4);
	/* head_count is missing on purpose: 8 pairs announced, 8 written */
	fclose(f);
	if (cut > 0)
		assert_int_equal(truncate(path, cut), 0);
	return path;
}

static void test_gguf_read(void **state)
{
	struct model_gguf g = { .context_length = -5 };
	char *path = write_gguf("a.gguf", 0, 3);

	assert_int_equal(model_gguf_read(path, &g), 0);
	assert_int_equal(g.context_length, 4096);
	assert_int_equal(g.block_count, 32);
	assert_int_equal(g.embedding_length, 4096);
	assert_int_equal(g.head_count_kv, 8);
	assert_int_equal(g.head_count, 0);
	free(path);
}

static void test_gguf_bad(void **state)
{
	struct model_gguf g = { .context_length = -5 };
	char *path;

	/* cut inside the second key, and inside the last pair (the file is 380 bytes) */
	path = write_gguf("cut1.gguf", 80, 3);
	assert_int_equal(model_gguf_read(path, &g), -EINVAL);
	free(path);
	path = write_gguf("cut2.gguf", 300, 3);
	assert_int_equal(model_gguf_read(path, &g), -EINVAL);
	free(path);
	path = write_gguf("v1.gguf", 0, 1);
	assert_int_equal(model_gguf_read(path, &g), -EINVAL);
	free(path);
	/* untouched on failure */
	assert_int_equal(g.context_length, -5);
	path = xasprintf("%s/notgguf", tmpdir);
	{
		FILE *f = fopen(path, "w");
		fputs("<html>not a model</html>", f);
		fclose(f);
	}
	assert_int_equal(model_gguf_read(path, &g), -EINVAL);
	free(path);
	assert_int_equal(model_gguf_read("/nonexistent/x.gguf", &g), -ENOENT);
}

static void test_gguf_huge_string(void **state)
{
	char *path = xasprintf("%s/huge.gguf", tmpdir);
	struct model_gguf g;
	FILE *f = fopen(path, "wb");

	fwrite("GGUF", 1, 4, f);
	put_u(f, 3, 4);
	put_u(f, 0, 8);
	put_u(f, 1, 8);
	put_u(f, 1ULL << 40, 8);	/* a key of a terabyte */
	fclose(f);
	assert_int_equal(model_gguf_read(path, &g), -E2BIG);
	free(path);
}

static const int64_t MiB = 1 << 20, GiB = 1LL << 30;

static void test_plan(void **state)
{
	struct config *c = config_new();
	/* 32 layers, 4096 wide, 8 of 32 heads for KV: 2*32*1024*2 = 128 KiB a token */
	struct model_gguf g = { .context_length = 32768, .block_count = 32, .embedding_length = 4096,
	    .head_count = 32, .head_count_kv = 8 };
	struct model_plan p = { .threads = -1 };
	char err[512] = "";

	/* 16 cores, 64 GiB: 4 slots of 8192, half the cores */
	assert_int_equal(model_plan_make(c, &g, 4 * GiB, 16, 64 * GiB, &p, err, sizeof(err)), 0);
	assert_int_equal(p.threads, 8);
	assert_int_equal(p.slots, 4);
	assert_int_equal(p.context, 4 * 8192);
	assert_int_equal(p.kv_bytes, 4LL * 8192 * 128 * 1024);
	assert_int_equal(p.trained_ctx, 32768);

	/* 16 cores but 6 GiB free: 4 GiB model + 256 MiB leaves ~1.75 GiB for
	 * the KV cache (1 GiB per 8192-token slot): one slot of 8192 */
	assert_int_equal(model_plan_make(c, &g, 4 * GiB, 16, 6 * GiB, &p, err, sizeof(err)), 0);
	assert_int_equal(p.slots, 1);
	assert_int_equal(p.context, 8192);

	/* 4.5 GiB free: one slot of 2048 (256 MiB) fits, 4096 (512 MiB) does not */
	assert_int_equal(model_plan_make(c, &g, 4 * GiB, 16, 4 * GiB + 512 * MiB, &p, err, sizeof(err)), 0);
	assert_int_equal(p.slots, 1);
	assert_int_equal(p.context, 2048);

	/* a small model's trained context caps the slot; 2 cores: 1 thread */
	g.context_length = 2048;
	assert_int_equal(model_plan_make(c, &g, 1 * MiB, 2, 8 * GiB, &p, err, sizeof(err)), 0);
	assert_int_equal(p.threads, 1);
	assert_int_equal(p.slots, 1);
	assert_int_equal(p.context, 2048);
	config_free(c);
}

static void test_plan_refused(void **state)
{
	struct config *c = config_new();
	struct model_gguf g = { .context_length = 32768, .block_count = 32, .embedding_length = 4096,
	    .head_count = 32, .head_count_kv = 8 };
	struct model_plan p = { .threads = -1 };
	char err[512] = "";

	/* the weights alone do not fit */
	assert_int_equal(model_plan_make(c, &g, 18 * GiB, 8, 16 * GiB, &p, err, sizeof(err)), -ENOMEM);
	assert_non_null(strstr(err, "choose a smaller model"));
	assert_int_equal(p.threads, -1);
	/* the weights fit, not even 2048 tokens of KV cache */
	assert_int_equal(model_plan_make(c, &g, 4 * GiB, 8, 4 * GiB + 300 * MiB, &p, err, sizeof(err)),
	    -ENOMEM);
	assert_non_null(strstr(err, "choose a smaller model"));
	/* the operator's context does not fit: it is not shrunk behind their back */
	c->llm_serve_context = 65536;
	assert_int_equal(model_plan_make(c, &g, 4 * GiB, 8, 8 * GiB, &p, err, sizeof(err)), -ENOMEM);
	assert_non_null(strstr(err, "lower [llm] serve_context or serve_slots"));
	/* and is kept when it fits */
	c->llm_serve_context = 4096;
	c->llm_serve_slots = 2;
	c->llm_serve_threads = 3;
	assert_int_equal(model_plan_make(c, &g, 4 * GiB, 8, 8 * GiB, &p, err, sizeof(err)), 0);
	assert_int_equal(p.context, 4096);
	assert_int_equal(p.slots, 2);
	assert_int_equal(p.threads, 3);
	config_free(c);
}

static void test_resolve(void **state)
{
	struct config *c = config_new();
	char err[512] = "", *path = NULL, *dir, *want;
	FILE *f;

	free(c->state_dir);
	c->state_dir = xasprintf("%s/state", tmpdir);
	setenv("XDG_DATA_HOME", tmpdir, 1);
	dir = model_dir(c);
	if (geteuid() == 0)
		want = xasprintf("%s/state/models", tmpdir);
	else
		want = xasprintf("%s/researchd/models", tmpdir);
	assert_string_equal(dir, want);
	free(want);
	want = xasprintf("mkdir -p '%s'", dir);
	assert_int_equal(system(want), 0);
	free(want);

	c->llm_serve = xstrdup("tiny");
	assert_int_equal(model_resolve(c, &path, err, sizeof(err)), -ENOENT);
	assert_null(path);
	assert_non_null(strstr(err, "research model pull tiny"));
	want = xasprintf("%s/tiny.gguf", dir);
	f = fopen(want, "w");
	fclose(f);
	assert_int_equal(model_resolve(c, &path, err, sizeof(err)), 0);
	assert_string_equal(path, want);
	free(path);
	free(c->llm_serve);
	c->llm_serve = xstrdup("../tiny");
	assert_int_equal(model_resolve(c, &path, err, sizeof(err)), -EINVAL);
	free(c->llm_serve);
	c->llm_serve = xstrdup(want);	/* an absolute path */
	assert_int_equal(model_resolve(c, &path, err, sizeof(err)), 0);
	assert_string_equal(path, want);
	free(path);
	free(c->llm_serve);
	c->llm_serve = xstrdup(dir);	/* a directory is not a model */
	assert_int_equal(model_resolve(c, &path, err, sizeof(err)), -ENOENT);
	free(want);
	free(dir);
	unsetenv("XDG_DATA_HOME");
	config_free(c);
}

/* A real model: stories260K's header (trained context 2048, 5 layers,
 * embedding 64, 8 heads, 4 KV heads: llama2.c's stories260K, and what
 * node-llama-cpp reports as its trained context). */
static void test_stories(void **state)
{
	const char *path = SHARED_MODELS "/stories260K.gguf";
	struct model_gguf g;

	if (access(path, R_OK) < 0) {
		test_skip_optional("../shared/models/stories260K.gguf is absent");
	}
	assert_int_equal(model_gguf_read(path, &g), 0);
	assert_int_equal(g.context_length, 2048);
	assert_int_equal(g.block_count, 5);
	assert_int_equal(g.embedding_length, 64);
	assert_int_equal(g.head_count, 8);
	assert_int_equal(g.head_count_kv, 4);
}

static int setup(void **state)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	int r = system(cmd);

	free(cmd);
	return r;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gguf_read),
		cmocka_unit_test(test_gguf_bad),
		cmocka_unit_test(test_gguf_huge_string),
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_plan_refused),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_stories),
	};

	return test_run_group("model", tests, setup, teardown);
}
