/* Unit tests: the GGUF header reader (common/gguf.c) on headers written
 * here by hand, and model names and the models dir (common/models.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gguf.h"
#include "models.h"

struct w {
	unsigned char b[4096];
	size_t n;
};

static void w_bytes(struct w *w, const void *p, size_t n)
{
	assert_true(w->n + n <= sizeof(w->b));
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void w_u32(struct w *w, uint32_t v)
{
	unsigned char b[4] = { v, v >> 8, v >> 16, v >> 24 };

	w_bytes(w, b, 4);
}

static void w_u64(struct w *w, uint64_t v)
{
	w_u32(w, (uint32_t)v);
	w_u32(w, (uint32_t)(v >> 32));
}

static void w_str(struct w *w, const char *s)
{
	w_u64(w, strlen(s));
	w_bytes(w, s, strlen(s));
}

static void w_header(struct w *w, uint32_t version, uint64_t tensors, uint64_t kvs)
{
	w_bytes(w, "GGUF", 4);
	w_u32(w, version);
	w_u64(w, tensors);
	w_u64(w, kvs);
}

static void w_kv_str(struct w *w, const char *k, const char *v)
{
	w_str(w, k);
	w_u32(w, 8);
	w_str(w, v);
}

static void w_kv_u32(struct w *w, const char *k, uint32_t v)
{
	w_str(w, k);
	w_u32(w, 4);
	w_u32(w, v);
}

static void w_tensor2(struct w *w, const char *name, uint64_t d0, uint64_t d1, uint32_t type)
{
	w_str(w, name);
	w_u32(w, 2);
	w_u64(w, d0);
	w_u64(w, d1);
	w_u32(w, type);
	w_u64(w, 0);
}

static void test_quantised(void **state)
{
	struct w w = { 0 };
	struct gguf_info info;

	w_header(&w, 3, 2, 5);
	w_kv_str(&w, "general.architecture", "qwen3");
	w_kv_str(&w, "general.name", "Qwen3 4B");
	/* An array of strings (a vocabulary) between the keys we read. */
	w_str(&w, "tokenizer.ggml.tokens");
	w_u32(&w, 9);
	w_u32(&w, 8);
	w_u64(&w, 2);
	w_str(&w, "a");
	w_str(&w, "bc");
	w_kv_u32(&w, "general.file_type", 15);	/* llama.cpp's MOSTLY_Q4_K_M */
	w_kv_u32(&w, "qwen3.context_length", 40960);
	w_tensor2(&w, "token_embd.weight", 2560, 151936, 12);
	w_tensor2(&w, "output_norm.weight", 2560, 1, 0);
	assert_int_equal(gguf_parse(w.b, w.n, &info), 0);
	assert_string_equal(info.arch, "qwen3");
	assert_string_equal(info.name, "Qwen3 4B");
	assert_int_equal(info.context_length, 40960);
	assert_int_equal(info.n_tensors, 2);
	assert_true(info.n_params == 2560ull * 151936 + 2560);
	assert_string_equal(gguf_quant_name(&info), "Q4_K_M");
	assert_int_equal(info.header_len, w.n);
	/* Any shorter read asks for more. */
	for (size_t n = 0; n < w.n; n += 7)
		assert_int_equal(gguf_parse(w.b, n, &info), -ENODATA);
}

static void test_no_file_type(void **state)
{
	struct w w = { 0 };
	struct gguf_info info;

	/* The context key before the architecture; no general.file_type: the
	 * type holding most elements (F16 here) names the quantisation. */
	w_header(&w, 2, 2, 2);
	w_kv_u32(&w, "llama.context_length", 2048);
	w_kv_str(&w, "general.architecture", "llama");
	w_tensor2(&w, "a", 64, 64, 1);
	w_tensor2(&w, "b", 8, 8, 0);
	assert_int_equal(gguf_parse(w.b, w.n, &info), 0);
	assert_int_equal(info.context_length, 2048);
	assert_string_equal(gguf_quant_name(&info), "F16");
	assert_string_equal(info.name, "");
}

static void test_other_arch_context(void **state)
{
	struct w w = { 0 };
	struct gguf_info info;

	/* Another architecture's context_length is not this model's. */
	w_header(&w, 3, 0, 2);
	w_kv_u32(&w, "bert.context_length", 512);
	w_kv_str(&w, "general.architecture", "llama");
	assert_int_equal(gguf_parse(w.b, w.n, &info), 0);
	assert_int_equal(info.context_length, 0);
	assert_string_equal(gguf_quant_name(&info), "?");
}

static void test_refused(void **state)
{
	struct w w = { 0 };
	struct gguf_info info = { .version = 77 };

	w_header(&w, 1, 0, 0);
	assert_int_equal(gguf_parse(w.b, w.n, &info), -EPROTONOSUPPORT);
	assert_int_equal(info.version, 77);	/* untouched on failure */
	w.b[0] = 'X';
	assert_int_equal(gguf_parse(w.b, w.n, &info), -EBADMSG);
	assert_int_equal(gguf_parse("<html>", 6, &info), -EBADMSG);

	memset(&w, 0, sizeof(w));
	w_header(&w, 3, 0, 1);
	w_str(&w, "x");
	w_u32(&w, 9);		/* an array of 2^60 u32 */
	w_u32(&w, 4);
	w_u64(&w, 1ull << 60);
	assert_int_equal(gguf_parse(w.b, w.n, &info), -E2BIG);

	memset(&w, 0, sizeof(w));
	w_header(&w, 3, 1, 0);
	w_str(&w, "t");
	w_u32(&w, 9);		/* nine dimensions */
	assert_int_equal(gguf_parse(w.b, w.n, &info), -EBADMSG);

	memset(&w, 0, sizeof(w));
	w_header(&w, 3, 0, 1);
	w_str(&w, "x");
	w_u32(&w, 13);		/* no such value type */
	assert_int_equal(gguf_parse(w.b, w.n, &info), -EBADMSG);
}

static void test_names(void **state)
{
	char *p = NULL;

	assert_true(models_name_valid("Qwen3-4B-Q4_K_M.gguf"));
	assert_false(models_name_valid(".Qwen3.gguf"));
	assert_false(models_name_valid(".gguf"));
	assert_false(models_name_valid("a/b.gguf"));
	assert_false(models_name_valid("model.bin"));
	assert_false(models_name_valid("a b.gguf"));
	assert_int_equal(models_path("/m", "tiny", &p), 0);
	assert_string_equal(p, "/m/tiny.gguf");
	free(p);
	p = NULL;
	assert_int_equal(models_path("/m", "../x", &p), -EINVAL);
	assert_null(p);
}

static void test_dir(void **state)
{
	char *d;

	setenv("RESEARCHD_MODELS_DIR", "/srv/models", 1);
	d = models_dir();
	assert_string_equal(d, "/srv/models");
	free(d);
	/* A relative path would depend on the cwd: not taken. */
	setenv("RESEARCHD_MODELS_DIR", "models", 1);
	d = models_dir();
	assert_true(d[0] == '/');
	assert_true(strstr(d, "/researchd/models") != NULL || strstr(d, "/models") != NULL);
	free(d);
	unsetenv("RESEARCHD_MODELS_DIR");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quantised),
		cmocka_unit_test(test_no_file_type),
		cmocka_unit_test(test_other_arch_context),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_dir),
	};

	return cmocka_run_group_tests_name("gguf", tests, NULL, NULL);
}
