/* The daemon's Ed25519 signing key (libsodium): created once in a 0600 file,
 * held in sodium_malloc memory; public keys as hex; detached signatures. */
#ifndef RESEARCHD_SIGN_H
#define RESEARCHD_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define SIGN_PUBLIC_BYTES 32
#define SIGN_PUBLIC_HEX_LEN (SIGN_PUBLIC_BYTES * 2)
#define SIGN_BYTES 64
#define SIGN_HEX_LEN (SIGN_BYTES * 2)
#define SIGN_KEY_ID_LEN 16	/* hex digits of the key id */

struct sign_key;

/* The key in path, created (mode 0600, never replacing a file) when there is
 * none; *ret_created says which. A file that others may read or write, a
 * link or a malformed one is refused (-EPERM, -ELOOP, -EBADMSG). Safe
 * against a second process creating it at the same time. */
int sign_key_open(const char *path, struct sign_key **ret, int *ret_created);
/* A new key that is never written anywhere (tests, re-signing tools). */
int sign_key_generate(struct sign_key **ret);
/* Wipe and free; accepts NULL, returns NULL. */
struct sign_key *sign_key_free(struct sign_key *k);

void sign_key_public(const struct sign_key *k, uint8_t out[SIGN_PUBLIC_BYTES]);
void sign_key_public_hex(const struct sign_key *k, char out[SIGN_PUBLIC_HEX_LEN + 1]);
/* The first 16 hex digits of the BLAKE2b of the public key. */
void sign_key_id(const uint8_t pk[SIGN_PUBLIC_BYTES], char out[SIGN_KEY_ID_LEN + 1]);

/* A public key given as 64 hex digits (surrounding whitespace ignored);
 * -EINVAL otherwise. */
int sign_public_parse(const char *s, uint8_t out[SIGN_PUBLIC_BYTES]);

void sign_data(const struct sign_key *k, const void *msg, size_t len, uint8_t sig[SIGN_BYTES]);
/* 0 when sig is pk's signature of msg, -EBADMSG when not. */
int sign_check(const uint8_t pk[SIGN_PUBLIC_BYTES], const void *msg, size_t len,
    const uint8_t sig[SIGN_BYTES]);

#endif
