/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Streaming JSON writer (see json-writer.h).
 *
 * Escaping walks the string once: runs of plain ASCII are copied as they
 * are; '"', '\\' and bytes below 0x20 get their JSON escapes; multi-byte
 * UTF-8 sequences are validated (no overlongs, no surrogates, nothing
 * past U+10FFFF) and copied, and any invalid byte is replaced by U+FFFD
 * (3 bytes), so the worst case grows a string 6x (\u00XX per byte).
 * Integers are formatted inline (json-writer.h), two digits at a time; doubles use
 * "%.17g" (round-trip exact) with ".0" appended when printf produced an
 * integer-looking text.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "export/json-writer.h"

const char tsm__jw_digits2[201] = "00010203040506070809101112131415161718192021222324"
				  "25262728293031323334353637383940414243444546474849"
				  "50515253545556575859606162636465666768697071727374"
				  "75767778798081828384858687888990919293949596979899";

char *tsm__jw_double(char *p, double d)
{
	int n;

	if (!isfinite(d)) {
		memcpy(p, "null", 4);
		return p + 4;
	}
	n = snprintf(p, 32, "%.17g", d);
	if (n <= 0 || n >= 32) {
		memcpy(p, "null", 4);
		return p + 4;
	}
	/* Shortest text that reads back the same: try 15 and 16 digits first. */
	for (int prec = 15; prec <= 16; prec++) {
		char tmp[32];
		int m = snprintf(tmp, sizeof(tmp), "%.*g", prec, d);

		if (m > 0 && m < n && strtod(tmp, NULL) == d) {
			memcpy(p, tmp, (size_t)m);
			n = m;
			break;
		}
	}
	if (!memchr(p, '.', (size_t)n) && !memchr(p, 'e', (size_t)n) &&
	    !memchr(p, 'n', (size_t)n)) {
		p[n++] = '.';
		p[n++] = '0';
	}
	return p + n;
}

char *tsm__jw_double_c(char *p, double d, tsm__jw_dcache *c)
{
	uint64_t b;
	unsigned i;
	char tmp[48];
	size_t n;

	memcpy(&b, &d, sizeof(b));
	i = (unsigned)((b * 0x9E3779B97F4A7C15ULL) >> 58) & (TSM__JW_DCACHE - 1);
	if (c->len[i] && c->bits[i] == b) {
		memcpy(p, c->txt[i], c->len[i]);
		return p + c->len[i];
	}
	n = (size_t)(tsm__jw_double(tmp, d) - tmp); /* at most 33 bytes */
	memcpy(c->txt[i], tmp, n);
	c->bits[i] = b;
	c->len[i] = (uint8_t)n;
	memcpy(p, tmp, n);
	return p + n;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];

	if (c >= 0xC2 && c <= 0xDF)
		return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
			return 0;
		if (c == 0xE0 && s[1] < 0xA0)
			return 0; /* overlong */
		if (c == 0xED && s[1] >= 0xA0)
			return 0; /* surrogate */
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
		    (s[3] & 0xC0) != 0x80)
			return 0;
		if (c == 0xF0 && s[1] < 0x90)
			return 0;
		if (c == 0xF4 && s[1] >= 0x90)
			return 0;
		return 4;
	}
	return 0;
}

static const char hexd[] = "0123456789abcdef";

size_t tsm__jw_escaped_len(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t out = 2;

	for (size_t i = 0; i < n;) {
		unsigned c = s[i];

		if (c >= 0x20 && c < 0x80) {
			out += (c == '"' || c == '\\') ? 2 : 1;
			i++;
		} else if (c < 0x20) {
			out +=
			    (c == '\n' || c == '\t' || c == '\r' || c == '\b' || c == '\f') ? 2 : 6;
			i++;
		} else {
			size_t l = utf8_len(s + i, n - i);

			out += l ? l : 3;
			i += l ? l : 1;
		}
	}
	return out;
}

char *tsm__jw_escape(char *p, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;

	*p++ = '"';
	for (size_t i = 0; i < n;) {
		unsigned c = s[i];

		if (TSM__LIKELY(c >= 0x20 && c < 0x80 && c != '"' && c != '\\')) {
			*p++ = (char)c;
			i++;
			continue;
		}
		if (c == '"' || c == '\\') {
			*p++ = '\\';
			*p++ = (char)c;
			i++;
		} else if (c < 0x20) {
			*p++ = '\\';
			switch (c) {
			case '\n':
				*p++ = 'n';
				break;
			case '\t':
				*p++ = 't';
				break;
			case '\r':
				*p++ = 'r';
				break;
			case '\b':
				*p++ = 'b';
				break;
			case '\f':
				*p++ = 'f';
				break;
			default:
				memcpy(p, "u00", 3);
				p[3] = hexd[c >> 4];
				p[4] = hexd[c & 15];
				p += 5;
			}
			i++;
		} else {
			size_t l = utf8_len(s + i, n - i);

			if (l) {
				memcpy(p, s + i, l);
				p += l;
				i += l;
			} else {
				memcpy(p, "\xEF\xBF\xBD", 3);
				p += 3;
				i++;
			}
		}
	}
	*p++ = '"';
	return p;
}

int tsm__jw_str(tsm__sink *s, const char *str, size_t n)
{
	size_t need = tsm__jw_escaped_len(str, n);
	char *tmp, *e;
	int rc;

	if (need + 16 <= TSM__SINK_BUF / 2) {
		rc = tsm__sink_room(s, need);
		if (rc < 0)
			return rc;
		jw_set(s, tsm__jw_escape(jw_cur(s), str, n));
		return 0;
	}
	/* A string longer than half the buffer: escape it aside, then copy in pieces. */
	tmp = tsm__malloc(need);
	if (!tmp)
		return TSM_FAIL(TSM_NOMEM, "escaping a %zu-byte string", n);
	e = tsm__jw_escape(tmp, str, n);
	rc = tsm__sink_put(s, tmp, (size_t)(e - tmp));
	tsm__free(tmp);
	return rc;
}

const char *tsm__jw_cache_get(tsm__idstrs *c, uint32_t id, const char *str, size_t n, uint32_t *len)
{
	if (tsm__idstrs_room(c, id) < 0)
		return NULL;
	if (!c->s[id]) {
		size_t need = tsm__jw_escaped_len(str, n);
		char *e;

		c->s[id] = tsm__malloc(need + 1);
		if (!c->s[id])
			return NULL;
		e = tsm__jw_escape(c->s[id], str, n);
		*e = 0;
		c->len[id] = (uint32_t)(e - c->s[id]);
	}
	*len = c->len[id];
	return c->s[id];
}
