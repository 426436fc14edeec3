/* Charset detection and conversion to valid UTF-8 for fetched bodies.
 * UTF-8 and windows-1252 (what every Latin label means on the web) are
 * decoded here; other charsets go through iconv with a handle per call. */
#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "charset.h"
#include "str.h"

static const uint16_t cp1252_high[32] = {
	0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008d, 0x017d, 0x008f,
	0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
};

static const char replacement[3] = { (char)0xef, (char)0xbf, (char)0xbd };


/* Counts valid multi-byte sequences and invalid bytes (stops early once the
 * answer is clear); NUL bytes count as invalid. */
static void utf8_census(const unsigned char *p, size_t len, size_t *multi, size_t *bad)
{
	size_t i = 0, m = 0, b = 0;

	while (i < len) {
		/* ASCII fast path, 8 bytes at a time. */
		while (i + 8 <= len) {
			uint64_t w;
			memcpy(&w, p + i, 8);
			if (w & 0x8080808080808080ull)
				break;
			/* Zero-byte test: any byte == 0 within w. */
			if ((w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull)
				break;
			i += 8;
		}
		if (i >= len)
			break;
		if (p[i] == 0) {
			b++;
			i++;
			continue;
		}
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		size_t n = utf8_seq_len(p + i, len - i);
		if (n == 0) {
			b++;
			i++;
		} else {
			m++;
			i += n;
		}
		if (b > 64 && m > 64)
			break;
	}
	*multi = m;
	*bad = b;
}

static void lower_copy(char out[static CHARSET_NAME_MAX], const char *s, size_t n)
{
	size_t j = 0;

	for (size_t i = 0; i < n && j < CHARSET_NAME_MAX - 1; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == ':')
			out[j++] = c;
		else
			break;
	}
	out[j] = '\0';
}

/* Name after "charset" at p (p points just past the word): [ ]*=[ ]*["']?name */
static bool charset_value(const char *p, const char *end, char out[static CHARSET_NAME_MAX])
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p >= end || *p != '=')
		return false;
	p++;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '"' || *p == '\''))
		p++;
	lower_copy(out, p, (size_t)(end - p));
	return out[0] != '\0';
}

bool charset_from_content_type(const char *content_type, char out[static CHARSET_NAME_MAX])
{
	const char *p, *end;

	if (content_type == NULL)
		return false;
	end = content_type + strlen(content_type);
	for (p = content_type; (p = strcasestr(p, "charset")) != NULL; p += 7)
		if (charset_value(p + 7, end, out))
			return true;
	return false;
}

bool charset_from_meta(const char *body, size_t len, char out[static CHARSET_NAME_MAX])
{
	const char *end = body + (len < 8192 ? len : 8192);
	const char *p = body;

	while (p < end) {
		const char *tag = memchr(p, '<', (size_t)(end - p));
		const char *close;

		if (tag == NULL || end - tag < 6)
			return false;
		p = tag + 1;
		if (strncasecmp(p, "meta", 4) != 0)
			continue;
		close = memchr(p, '>', (size_t)(end - p));
		if (close == NULL)
			close = end;
		for (const char *q = p; q + 7 <= close; q++) {
			if ((q[0] | 0x20) == 'c' && strncasecmp(q, "charset", 7) == 0 &&
			    charset_value(q + 7, close, out))
				return true;
		}
		p = close;
	}
	return false;
}

/* Map a label to the name we decode with. */
static void canonical_name(const char *label, char out[static CHARSET_NAME_MAX])
{
	static const struct {
		const char *label, *name;
	} aliases[] = {
		{ "utf-8", "utf-8" }, { "utf8", "utf-8" }, { "unicode-1-1-utf-8", "utf-8" },
		{ "x-unicode20utf8", "utf-8" }, { "utf-7", "utf-8" }, { "unicode", "utf-8" },
		{ "iso-8859-1", "windows-1252" }, { "iso8859-1", "windows-1252" },
		{ "iso_8859-1", "windows-1252" }, { "latin1", "windows-1252" },
		{ "latin-1", "windows-1252" }, { "l1", "windows-1252" },
		{ "ascii", "windows-1252" }, { "us-ascii", "windows-1252" },
		{ "windows-1252", "windows-1252" }, { "cp1252", "windows-1252" },
		{ "x-cp1252", "windows-1252" }, { "cp819", "windows-1252" },
		{ "ibm819", "windows-1252" }, { "iso-ir-100", "windows-1252" },
		{ "ansi_x3.4-1968", "windows-1252" },
		{ "utf-16", "utf-16le" }, { "utf-16le", "utf-16le" }, { "utf-16be", "utf-16be" },
		{ "shift_jis", "cp932" }, { "shift-jis", "cp932" }, { "sjis", "cp932" },
		{ "x-sjis", "cp932" }, { "ms_kanji", "cp932" }, { "windows-31j", "cp932" },
		{ "gb2312", "gb18030" }, { "gbk", "gb18030" }, { "x-gbk", "gb18030" },
		{ "gb_2312-80", "gb18030" }, { "csgb2312", "gb18030" }, { "chinese", "gb18030" },
		{ "euc-kr", "cp949" }, { "ks_c_5601-1987", "cp949" }, { "korean", "cp949" },
	};

	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (strcmp(label, aliases[i].label) == 0) {
			strcpy(out, aliases[i].name);
			return;
		}
	strcpy(out, label);
}

void charset_detect(const char *body, size_t len, const char *content_type, bool html,
		    char out[static CHARSET_NAME_MAX], size_t *bom_len, bool *clean_utf8)
{
	const unsigned char *p = (const unsigned char *)body;
	char label[CHARSET_NAME_MAX] = "";
	size_t multi, bad;

	*bom_len = 0;
	*clean_utf8 = false;
	if (len >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
		*bom_len = 3;
		strcpy(out, "utf-8");
		utf8_census(p + 3, len - 3, &multi, &bad);
		*clean_utf8 = bad == 0;
		return;
	}
	if (len >= 2 && p[0] == 0xff && p[1] == 0xfe) {
		*bom_len = 2;
		strcpy(out, "utf-16le");
		return;
	}
	if (len >= 2 && p[0] == 0xfe && p[1] == 0xff) {
		*bom_len = 2;
		strcpy(out, "utf-16be");
		return;
	}
	if (!charset_from_content_type(content_type, label) && html)
		charset_from_meta(body, len, label);
	canonical_name(label, out);
	if (strcmp(out, "utf-16le") == 0 || strcmp(out, "utf-16be") == 0) {
		/* A <meta> claiming UTF-16 in an ASCII-compatible body is wrong. */
		if (len < 2 || (p[0] != 0 && p[1] != 0))
			out[0] = '\0';
		else
			return;
	}
	if (out[0] != '\0' && strcmp(out, "utf-8") != 0 && strcmp(out, "windows-1252") != 0)
		return;	/* a multi-byte or regional charset: trust the label */
	utf8_census(p, len, &multi, &bad);
	if (out[0] == '\0' || strcmp(out, "utf-8") == 0) {
		/* Unlabelled, or UTF-8 that has invalid bytes and no valid
		 * multi-byte sequence at all: that is windows-1252. */
		strcpy(out, bad > 0 && multi == 0 ? "windows-1252" : "utf-8");
		*clean_utf8 = bad == 0;
		return;
	}
	/* Labelled Latin, but the bytes are UTF-8: Latin text almost never
	 * forms valid multi-byte sequences by chance. */
	if (multi > 0 && bad == 0) {
		strcpy(out, "utf-8");
		*clean_utf8 = true;
	}
}

static int put_cp(struct buf *b, uint32_t cp)
{
	char s[4];
	size_t n;

	if (cp < 0x80) {
		s[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		s[0] = (char)(0xc0 | (cp >> 6));
		s[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else {
		s[0] = (char)(0xe0 | (cp >> 12));
		s[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		s[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	}
	return buf_append(b, s, n);
}

static int from_utf8(struct buf *b, const unsigned char *p, size_t len)
{
	size_t i = 0, run = 0;
	int r;

	while (i < len) {
		size_t n;

		if (p[i] != 0 && p[i] < 0x80) {
			i++;
			continue;
		}
		n = p[i] ? utf8_seq_len(p + i, len - i) : 0;
		if (n > 0) {
			i += n;
			continue;
		}
		r = buf_append(b, p + run, i - run);
		if (r == 0)
			r = buf_append(b, replacement, sizeof(replacement));
		if (r < 0)
			return r;
		i++;
		run = i;
	}
	return buf_append(b, p + run, i - run);
}

static int from_cp1252(struct buf *b, const unsigned char *p, size_t len)
{
	size_t i = 0, run = 0;
	int r;

	for (i = 0; i < len; i++) {
		if (p[i] != 0 && p[i] < 0x80)
			continue;
		r = buf_append(b, p + run, i - run);
		if (r == 0) {
			if (p[i] == 0)
				r = buf_append(b, replacement, sizeof(replacement));
			else
				r = put_cp(b, p[i] < 0xa0 ? cp1252_high[p[i] - 0x80] : p[i]);
		}
		if (r < 0)
			return r;
		run = i + 1;
	}
	return buf_append(b, p + run, i - run);
}

static int from_iconv(struct buf *b, iconv_t cd, const char *body, size_t len)
{
	char out[4096];
	char *in = (char *)body;
	size_t inleft = len;
	int r = 0;

	while (inleft > 0 && r == 0) {
		char *o = out;
		size_t oleft = sizeof(out);
		size_t k = iconv(cd, &in, &inleft, &o, &oleft);
		int e = errno;

		/* iconv output can hold NULs; those and any odd bytes are
		 * repaired by passing the chunk through the UTF-8 check. */
		r = from_utf8(b, (const unsigned char *)out, (size_t)(o - out));
		if (r < 0 || k != (size_t)-1)
			break;
		if (e == E2BIG)
			continue;
		/* EILSEQ or a truncated sequence at the end: one U+FFFD, skip a byte. */
		r = buf_append(b, replacement, sizeof(replacement));
		in++;
		inleft--;
		iconv(cd, NULL, NULL, NULL, NULL);
	}
	return r;
}

int charset_to_utf8(struct buf *b, const char *body, size_t len, const char *charset)
{
	const unsigned char *p = (const unsigned char *)body;
	char name[CHARSET_NAME_MAX + 16];
	iconv_t cd;
	int r;

	if (strcmp(charset, "utf-8") == 0)
		return from_utf8(b, p, len);
	if (strcmp(charset, "windows-1252") == 0)
		return from_cp1252(b, p, len);
	/* Without //IGNORE so that invalid input is reported and replaced. */
	snprintf(name, sizeof(name), "%s", charset);
	cd = iconv_open("UTF-8", name);
	if (cd == (iconv_t)-1) {
		size_t multi, bad;

		utf8_census(p, len, &multi, &bad);
		return bad > 0 && multi == 0 ? from_cp1252(b, p, len) : from_utf8(b, p, len);
	}
	r = from_iconv(b, cd, body, len);
	iconv_close(cd);
	return r;
}
