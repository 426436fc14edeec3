/* BLAKE2b identifiers (libsodium's crypto_generichash). */
#ifndef RESEARCHD_HASH_H
#define RESEARCHD_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_BYTES 32
#define HASH_HEX_LEN (HASH_BYTES * 2)

struct hash_state;

/* Incremental hashing; parts are length-prefixed so ("ab","c") != ("a","bc"). */
struct hash_state *hash_new(void);
void hash_part(struct hash_state *h, const void *p, size_t n);
void hash_final(struct hash_state *h, uint8_t out[HASH_BYTES]);

void hash_bytes(const void *p, size_t n, uint8_t out[HASH_BYTES]);
void hash_hex(const uint8_t in[HASH_BYTES], char out[HASH_HEX_LEN + 1]);
int hash_init(void);

#endif
