/* The Ed25519 signing key: its file, its memory, signing and checking. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"
#include "secret.h"
#include "sign.h"
#include "xmalloc.h"

#define SIGN_SEED_HEX_LEN (crypto_sign_SEEDBYTES * 2)

struct sign_key {
	uint8_t *sk;		/* sodium_malloc'd, crypto_sign_SECRETKEYBYTES */
	uint8_t pk[SIGN_PUBLIC_BYTES];
};

_Static_assert(crypto_sign_PUBLICKEYBYTES == SIGN_PUBLIC_BYTES, "Ed25519 public key size");
_Static_assert(crypto_sign_BYTES == SIGN_BYTES, "Ed25519 signature size");

static int sign_key_alloc(struct sign_key **ret)
{
	struct sign_key *k;

	if (sodium_init() < 0)
		return -EIO;
	k = xcalloc(1, sizeof(*k));
	k->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	if (k->sk == NULL) {
		free(k);
		return -ENOMEM;
	}
	*ret = k;
	return 0;
}

struct sign_key *sign_key_free(struct sign_key *k)
{
	if (k == NULL)
		return NULL;
	sodium_free(k->sk);	/* wipes */
	free(k);
	return NULL;
}

int sign_key_generate(struct sign_key **ret)
{
	struct sign_key *k = NULL;
	int r;

	r = sign_key_alloc(&k);
	if (r < 0)
		return r;
	crypto_sign_keypair(k->pk, k->sk);
	*ret = k;
	return 0;
}

/* The file holds the 32-byte seed as one line of hex. */
static int sign_key_read(const char *path, struct sign_key **ret)
{
	struct sign_key *k = NULL;
	char *hex = NULL;
	uint8_t *seed = NULL;
	struct stat st;
	size_t n = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	close(fd);
	if (!S_ISREG(st.st_mode))
		return -EBADMSG;
	/* A key others could read is no longer ours alone. */
	if (st.st_mode & 077)
		return -EPERM;
	r = secret_read_file(path, 256, &hex);
	if (r == -EINVAL || r == -EFBIG)
		return -EBADMSG;
	if (r < 0)
		return r;
	r = sign_key_alloc(&k);
	if (r < 0)
		goto out;
	seed = sodium_malloc(crypto_sign_SEEDBYTES);
	if (seed == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (strlen(hex) != SIGN_SEED_HEX_LEN ||
	    sodium_hex2bin(seed, crypto_sign_SEEDBYTES, hex, SIGN_SEED_HEX_LEN, NULL, &n, NULL) != 0 ||
	    n != crypto_sign_SEEDBYTES) {
		r = -EBADMSG;
		goto out;
	}
	crypto_sign_seed_keypair(k->pk, k->sk, seed);
	*ret = k;
	k = NULL;
	r = 0;
out:
	if (seed)
		sodium_free(seed);
	secret_free(hex);
	sign_key_free(k);
	return r;
}

/* Write a new key to a temporary file and link it in place: link() fails
 * with EEXIST when another process won the race, and then its key is used. */
static int sign_key_create(const char *path)
{
	struct sign_key *k = NULL;
	char *hex = NULL, *tmp = NULL;
	size_t hexlen = SIGN_SEED_HEX_LEN + 2, off = 0;
	int fd = -1, r;

	r = sign_key_generate(&k);
	if (r < 0)
		return r;
	hex = sodium_malloc(hexlen);
	if (hex == NULL) {
		r = -ENOMEM;
		goto out;
	}
	/* libsodium's secret key is the seed followed by the public key. */
	sodium_bin2hex(hex, hexlen, k->sk, crypto_sign_SEEDBYTES);
	hex[SIGN_SEED_HEX_LEN] = '\n';
	tmp = xasprintf("%s.XXXXXX", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (fchmod(fd, 0600) < 0) {
		r = -errno;
		goto out;
	}
	while (off < SIGN_SEED_HEX_LEN + 1) {
		ssize_t w = write(fd, hex + off, SIGN_SEED_HEX_LEN + 1 - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			r = -errno;
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0) {
		r = -errno;
		goto out;
	}
	if (link(tmp, path) < 0 && errno != EEXIST)
		r = -errno;
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	free(tmp);
	if (hex)
		sodium_free(hex);
	sign_key_free(k);
	return r;
}

int sign_key_open(const char *path, struct sign_key **ret, int *ret_created)
{
	int r, created = 0;

	r = sign_key_read(path, ret);
	if (r != -ENOENT)
		goto done;
	r = sign_key_create(path);
	if (r < 0)
		return r;
	r = sign_key_read(path, ret);
	created = 1;
done:
	if (r == 0 && ret_created)
		*ret_created = created;
	return r;
}

void sign_key_public(const struct sign_key *k, uint8_t out[SIGN_PUBLIC_BYTES])
{
	memcpy(out, k->pk, SIGN_PUBLIC_BYTES);
}

void sign_key_public_hex(const struct sign_key *k, char out[SIGN_PUBLIC_HEX_LEN + 1])
{
	sodium_bin2hex(out, SIGN_PUBLIC_HEX_LEN + 1, k->pk, SIGN_PUBLIC_BYTES);
}

void sign_key_id(const uint8_t pk[SIGN_PUBLIC_BYTES], char out[SIGN_KEY_ID_LEN + 1])
{
	uint8_t h[HASH_BYTES];
	char hex[HASH_HEX_LEN + 1];

	hash_bytes(pk, SIGN_PUBLIC_BYTES, h);
	hash_hex(h, hex);
	memcpy(out, hex, SIGN_KEY_ID_LEN);
	out[SIGN_KEY_ID_LEN] = '\0';
}

int sign_public_parse(const char *s, uint8_t out[SIGN_PUBLIC_BYTES])
{
	uint8_t pk[SIGN_PUBLIC_BYTES];
	size_t n = 0, len;

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	len = strcspn(s, " \t\r\n");
	if (s[len + strspn(s + len, " \t\r\n")] != '\0' || len != SIGN_PUBLIC_HEX_LEN)
		return -EINVAL;
	if (sodium_hex2bin(pk, sizeof(pk), s, len, NULL, &n, NULL) != 0 || n != SIGN_PUBLIC_BYTES)
		return -EINVAL;
	memcpy(out, pk, SIGN_PUBLIC_BYTES);
	return 0;
}

void sign_data(const struct sign_key *k, const void *msg, size_t len, uint8_t sig[SIGN_BYTES])
{
	crypto_sign_detached(sig, NULL, msg, len, k->sk);
}

int sign_check(const uint8_t pk[SIGN_PUBLIC_BYTES], const void *msg, size_t len,
    const uint8_t sig[SIGN_BYTES])
{
	if (sodium_init() < 0)
		return -EIO;
	return crypto_sign_verify_detached(sig, msg, len, pk) == 0 ? 0 : -EBADMSG;
}
