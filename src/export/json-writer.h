/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Streaming JSON writer shared by the Chrome and Kineto exporters: text
 * goes straight into a tsm__sink. Strings are escaped per RFC 8259 (",
 * backslash, control characters as \n \t ... or \u00XX); bytes that are
 * not valid UTF-8 become U+FFFD so that every output parses. Integers are
 * formatted by hand (no printf in the hot path); times in microseconds
 * with exactly three decimals, as Kineto writes them.
 */
#ifndef TSM_EXPORT_JSON_WRITER_H
#define TSM_EXPORT_JSON_WRITER_H

#include <string.h>

#include "export/sink.h"

/* Room a caller may assume after jw_room() for fixed-size fields. */
#define JW_SLACK 256

static inline int jw_room(tsm__sink *s, size_t n)
{
	return tsm__sink_room(s, n);
}

static inline char *jw_cur(tsm__sink *s)
{
	return (char *)s->buf + s->len;
}

static inline void jw_set(tsm__sink *s, char *p)
{
	s->len = (size_t)((uint8_t *)p - s->buf);
}

/* Literal text (a C string constant); needs room. */
#define JW_LIT(p, lit)                               \
	do {                                         \
		memcpy((p), (lit), sizeof(lit) - 1); \
		(p) += sizeof(lit) - 1;              \
	} while (0)

extern const char tsm__jw_digits2[201];

/* Decimal digits of v (1..20): an estimate from the bit length, corrected by one compare. */
static inline unsigned tsm__jw_ndigits(uint64_t v)
{
	static const uint64_t pow10[20] = {
	    1ULL,
	    10ULL,
	    100ULL,
	    1000ULL,
	    10000ULL,
	    100000ULL,
	    1000000ULL,
	    10000000ULL,
	    100000000ULL,
	    1000000000ULL,
	    10000000000ULL,
	    100000000000ULL,
	    1000000000000ULL,
	    10000000000000ULL,
	    100000000000000ULL,
	    1000000000000000ULL,
	    10000000000000000ULL,
	    100000000000000000ULL,
	    1000000000000000000ULL,
	    10000000000000000000ULL,
	};
	unsigned t = ((64u - (unsigned)__builtin_clzll(v | 1)) * 1233u) >> 12;

	return t + 1 - (v < pow10[t]);
}

/*
 * Integers are written straight to their final place, right to left, two
 * digits per step from a table (no printf, no temporary): the hot path of
 * every JSON export formats several numbers per event.
 */
static inline char *tsm__jw_u64(char *p, uint64_t v)
{
	unsigned n;
	char *q;

	if (v < 10) {
		*p = (char)('0' + v);
		return p + 1;
	}
	if (v < 100) {
		memcpy(p, tsm__jw_digits2 + v * 2, 2);
		return p + 2;
	}
	n = tsm__jw_ndigits(v);
	q = p + n;
	/* four digits per 64-bit division, the two pairs split in 32 bits */
	while (v >= 10000) {
		unsigned r = (unsigned)(v % 10000);

		v /= 10000;
		q -= 4;
		memcpy(q, tsm__jw_digits2 + (r / 100) * 2, 2);
		memcpy(q + 2, tsm__jw_digits2 + (r % 100) * 2, 2);
	}
	if (v >= 100) {
		q -= 2;
		memcpy(q, tsm__jw_digits2 + (v % 100) * 2, 2);
		v /= 100;
	}
	if (v >= 10)
		memcpy(q - 2, tsm__jw_digits2 + v * 2, 2);
	else
		q[-1] = (char)('0' + v);
	return p + n;
}

static inline char *tsm__jw_i64(char *p, int64_t v)
{
	if (v < 0) {
		*p++ = '-';
		return tsm__jw_u64(p, (uint64_t)0 - (uint64_t)v);
	}
	return tsm__jw_u64(p, (uint64_t)v);
}

/* ns as microseconds with three decimals: 1234567 -> "1234.567" */
static inline char *tsm__jw_us3(char *p, uint64_t ns)
{
	uint64_t us = ns / 1000;
	unsigned frac = (unsigned)(ns - us * 1000);

	p = tsm__jw_u64(p, us);
	p[0] = '.';
	p[1] = (char)('0' + frac / 100);
	memcpy(p + 2, tsm__jw_digits2 + (frac % 100) * 2, 2);
	return p + 4;
}
/*
 * Timestamps: absolute times share their leading digits from one event to the
 * next, so the microseconds above the last six digits are formatted once and
 * copied while they stay the same; the low six digits are three table pairs.
 * Zero-initialise; one per output stream.
 */
typedef struct tsm__jw_tscache {
	uint64_t hi; /* us / 10^6 of `txt`; 0: nothing cached */
	unsigned len;
	char txt[24];
} tsm__jw_tscache;

/* Same text as tsm__jw_us3(p, ns); needs 16 bytes of room past the text. */
static inline char *tsm__jw_us3c(char *p, uint64_t ns, tsm__jw_tscache *c)
{
	uint64_t us = ns / 1000, hi = us / 1000000;
	unsigned frac = (unsigned)(ns - us * 1000), lo = (unsigned)(us - hi * 1000000);

	if (!hi)
		return tsm__jw_us3(p, ns);
	if (hi != c->hi) {
		c->hi = hi;
		c->len = (unsigned)(tsm__jw_u64(c->txt, hi) - c->txt);
	}
	memcpy(p, c->txt, 16); /* hi < 2^64 / 10^9: at most 11 digits */
	p += c->len;
	memcpy(p, tsm__jw_digits2 + (lo / 10000) * 2, 2);
	memcpy(p + 2, tsm__jw_digits2 + (lo / 100 % 100) * 2, 2);
	memcpy(p + 4, tsm__jw_digits2 + (lo % 100) * 2, 2);
	p[6] = '.';
	p[7] = (char)('0' + frac / 100);
	memcpy(p + 8, tsm__jw_digits2 + (frac % 100) * 2, 2);
	return p + 10;
}

/* A double that reads back as the same double; always has '.', 'e' or is
 * "null" (NaN, infinities) so importers can tell it from an integer. */
char *tsm__jw_double(char *p, double d);

/*
 * The same through a small direct-mapped cache by the double's bits: the shortest
 * round-trip text costs up to three snprintf and two strtod, and the values that
 * go through here (copy bandwidths, counters) repeat. Zero-initialise.
 */
#define TSM__JW_DCACHE 64
typedef struct tsm__jw_dcache {
	uint64_t bits[TSM__JW_DCACHE];
	uint8_t len[TSM__JW_DCACHE]; /* 0: empty */
	char txt[TSM__JW_DCACHE][40];
} tsm__jw_dcache;
char *tsm__jw_double_c(char *p, double d, tsm__jw_dcache *c);

/* Escaped length of `s` (n bytes) including the quotes; used to size caches. */
size_t tsm__jw_escaped_len(const char *s, size_t n);
/* Write `s` quoted and escaped at p (room: tsm__jw_escaped_len bytes). */
char *tsm__jw_escape(char *p, const char *s, size_t n);
/* Write a quoted escaped string of any length through the sink. */
int tsm__jw_str(tsm__sink *s, const char *str, size_t n);

/*
 * The escaped form ("\"...\"") of string `id` (text `str` of `n` bytes),
 * made once and kept in `c`: names repeat millions of times, so each is
 * escaped once and then copied. NULL on NOMEM.
 */
const char *tsm__jw_cache_get(tsm__idstrs *c, uint32_t id, const char *str, size_t n,
			      uint32_t *len);

#endif
