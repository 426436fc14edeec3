/* Text helpers of the planner: capped copies, the normal form of a search
 * query, and the term-overlap score that ranks passages and findings. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "planner-internal.h"
#include "xmalloc.h"

char *pl_strdup_capped(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max) {
		/* Back off to a UTF-8 boundary. */
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	return xstrndup(s, n);
}

int pl_language_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || n > 12)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalpha((unsigned char)s[i]) && s[i] != '-')
			return 0;
	return 1;
}

char *planner_query_norm(const char *q)
{
	struct buf b;
	bool space = false;

	buf_init(&b, strlen(q) + 1);
	for (const unsigned char *c = (const unsigned char *)q; *c; c++) {
		if (isalnum(*c) || *c >= 0x80) {
			if (space && b.len > 0)
				buf_putc(&b, ' ');
			space = false;
			buf_putc(&b, (char)tolower(*c));
		} else
			space = true;
	}
	return b.data ? buf_steal(&b) : xstrdup("");
}

/* Words of at least three letters or digits, lower-cased ASCII. */
static size_t words(const char *s, size_t len, char (*out)[32], size_t max)
{
	size_t n = 0, i = 0;

	while (i < len && n < max) {
		size_t k = 0;

		while (i < len && !isalnum((unsigned char)s[i]))
			i++;
		while (i < len && isalnum((unsigned char)s[i])) {
			if (k < 31)
				out[n][k++] = (char)tolower((unsigned char)s[i]);
			i++;
		}
		out[n][k] = '\0';
		if (k >= 3)
			n++;
	}
	return n;
}

double planner_overlap(const char *query, const char *text, size_t len)
{
	char (*qw)[32] = xcalloc(64, sizeof(*qw));
	char (*tw)[32] = xcalloc(4096, sizeof(*tw));
	size_t nq = words(query, strlen(query), qw, 64);
	size_t nt = words(text, len, tw, 4096);
	double score = 0;

	for (size_t i = 0; i < nq; i++) {
		size_t tf = 0;
		bool dup = false;

		for (size_t j = 0; j < i && !dup; j++)
			dup = strcmp(qw[i], qw[j]) == 0;
		if (dup)
			continue;
		for (size_t j = 0; j < nt; j++)
			tf += strcmp(qw[i], tw[j]) == 0;
		/* BM25's saturation with k1 = 1.2 and length normalisation
		 * against a 120-word passage. */
		if (tf > 0)
			score += (double)tf * 2.2 / ((double)tf + 1.2 * (0.25 + 0.75 * (double)nt / 120.0));
	}
	free(qw);
	free(tw);
	return score;
}

