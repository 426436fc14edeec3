/* A forger for test_provenance.py: re-sign a report manifest with a new
 * Ed25519 key and put that key in it, as someone who altered a report
 * would. Usage: resign IN OUT [REPORT_MD]: with REPORT_MD the manifest's
 * report_md hash is first made that file's. Prints the new public key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "manifest.h"
#include "sign.h"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0)
		exit(1);
	p = malloc((size_t)n + 1);
	if (p == NULL || fread(p, 1, (size_t)n, f) != (size_t)n)
		exit(1);
	p[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return p;
}

int main(int argc, char **argv)
{
	struct sign_key *k = NULL;
	char hex[SIGN_PUBLIC_HEX_LEN + 1], h[HASH_HEX_LEN + 1];
	json_t *m;
	size_t len;
	char *text;
	FILE *out;

	if (argc < 3 || argc > 4 || sign_key_generate(&k) < 0)
		return 2;
	text = slurp(argv[1], &len);
	m = json_loadb(text, len, 0, NULL);
	free(text);
	if (!json_is_object(m))
		return 1;
	if (argc == 4) {
		text = slurp(argv[3], &len);
		manifest_hash_hex(text, len, h);
		free(text);
		json_object_set_new(m, "report_md", json_string(h));
	}
	sign_key_public_hex(k, hex);
	json_object_set_new(m, "public_key", json_string(hex));
	manifest_sign(m, k);
	out = fopen(argv[2], "w");
	if (out == NULL || json_dumpf(m, out, JSON_INDENT(2)) < 0 || fclose(out) != 0)
		return 1;
	printf("%s\n", hex);
	json_decref(m);
	sign_key_free(k);
	return 0;
}
