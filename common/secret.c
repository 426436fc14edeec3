/* Secrets read from files into locked, wiped memory (see secret.h). */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#include "secret.h"

int secret_read_file(const char *path, size_t max, char **ret)
{
	char *key, *nl;
	size_t len = 0;
	int fd, r = 0;

	if (sodium_init() < 0)
		return -EIO;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	key = sodium_malloc(max + 1);
	if (key == NULL) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t n = read(fd, key + len, max + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			r = -EFBIG;
			break;
		}
	}
	close(fd);
	if (r == 0) {
		key[len] = '\0';
		nl = memchr(key, '\n', len);
		if (nl)
			*nl = '\0';
		len = strlen(key);
		while (len > 0 && (key[len - 1] == '\r' || key[len - 1] == ' ' || key[len - 1] == '\t'))
			key[--len] = '\0';
		/* A header line must not be split by what the file holds. */
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f)
				r = -EINVAL;
		if (len == 0)
			r = -EINVAL;
	}
	if (r < 0) {
		sodium_free(key);
		return r;
	}
	*ret = key;
	return 0;
}

int secret_header(const char *prefix, const char *secret, char **ret)
{
	size_t a = strlen(prefix), b = strlen(secret);
	char *s;

	if (sodium_init() < 0)
		return -EIO;
	s = sodium_malloc(a + b + 1);
	if (s == NULL)
		return -ENOMEM;
	memcpy(s, prefix, a);
	memcpy(s + a, secret, b + 1);
	*ret = s;
	return 0;
}

char *secret_free(char *s)
{
	if (s)
		sodium_free(s);
	return NULL;
}
