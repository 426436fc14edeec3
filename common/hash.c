/* BLAKE2b identifiers (libsodium's crypto_generichash). */
#include <errno.h>
#include <stdlib.h>
#include <sodium.h>

#include "hash.h"
#include "xmalloc.h"

struct hash_state {
	crypto_generichash_state st;
};

int hash_init(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

struct hash_state *hash_new(void)
{
	struct hash_state *h = xmalloc(sizeof(*h));

	crypto_generichash_init(&h->st, NULL, 0, HASH_BYTES);
	return h;
}

void hash_part(struct hash_state *h, const void *p, size_t n)
{
	uint8_t len[8];

	for (int i = 0; i < 8; i++)
		len[i] = (uint8_t)((uint64_t)n >> (8 * i));
	crypto_generichash_update(&h->st, len, sizeof(len));
	crypto_generichash_update(&h->st, p, n);
}

void hash_final(struct hash_state *h, uint8_t out[HASH_BYTES])
{
	crypto_generichash_final(&h->st, out, HASH_BYTES);
	sodium_memzero(h, sizeof(*h));
	free(h);
}

void hash_bytes(const void *p, size_t n, uint8_t out[HASH_BYTES])
{
	crypto_generichash(out, HASH_BYTES, p, n, NULL, 0);
}

void hash_hex(const uint8_t in[HASH_BYTES], char out[HASH_HEX_LEN + 1])
{
	sodium_bin2hex(out, HASH_HEX_LEN + 1, in, HASH_BYTES);
}
