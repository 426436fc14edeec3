/* Corpus replayer: the plain-program form of a libFuzzer harness. Feeds each
 * file named on the command line (directories are walked one level) to
 * LLVMFuzzerTestOneInput, so the corpus runs in the normal test suite. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int main(int argc, char **argv);

#define REPLAY_MAX_INPUT (8 * 1024 * 1024)

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data;
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	data = malloc(REPLAY_MAX_INPUT);
	if (data == NULL)
		abort();
	n = fread(data, 1, REPLAY_MAX_INPUT, f);
	fclose(f);
	/* Copy to an exact-size buffer so ASan sees reads past the end. */
	uint8_t *exact = malloc(n ? n : 1);
	if (exact == NULL)
		abort();
	memcpy(exact, data, n);
	free(data);
	LLVMFuzzerTestOneInput(exact, n);
	free(exact);
	return 0;
}

int main(int argc, char **argv)
{
	int count = 0, failed = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode)) {
			struct dirent **list;
			int n = scandir(argv[i], &list, NULL, alphasort);

			if (n < 0) {
				fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
				return 1;
			}
			for (int j = 0; j < n; j++) {
				char path[4096];

				if (list[j]->d_name[0] != '.') {
					snprintf(path, sizeof(path), "%s/%s", argv[i], list[j]->d_name);
					if (replay_file(path) < 0)
						failed++;
					else
						count++;
				}
				free(list[j]);
			}
			free(list);
		} else {
			if (replay_file(argv[i]) < 0)
				failed++;
			else
				count++;
		}
	}
	printf("replayed %d inputs\n", count);
	if (count == 0) {
		fprintf(stderr, "replay: no inputs: the corpus is missing\n");
		return 1;
	}
	return failed ? 1 : 0;
}
