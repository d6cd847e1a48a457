/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal definitions shared by the SBT writer, reader and dump: byte
 * layout constants, varints, the per-kind field tables. The normative
 * description of every byte is docs/format/sbt.md; keep both in step.
 */
#ifndef TSM_FORMAT_SBT_H
#define TSM_FORMAT_SBT_H

#include "common/internal.h"
#include "tracesmith/format.h"

#define SBT_MAGIC	     "\x89SBT\r\n\x1a\n"
#define SBT_FOOTER_MAGIC     "\x89SBTEND\n"
#define SBT_HEADER_SIZE	     32u
#define SBT_HEADER_MAX	     4096u
#define SBT_CHUNK_HEADER     16u
#define SBT_FOOTER_SIZE	     32u
#define SBT_MAX_CHUNK	     (256u << 20) /* stored or raw payload */
#define SBT_MAX_BLOCK_EVENTS TSM_WRITER_MAX_BLOCK
#define SBT_CHUNK_ZSTD	     0x0001u
#define SBT_KNOWN_REQ	     TSM_SBT_REQ_ZSTD

#define SBT_FOURCC(a, b, c, d) \
	((uint32_t)(a) | ((uint32_t)(b) << 8) | ((uint32_t)(c) << 16) | ((uint32_t)(d) << 24))
#define SBT_INFO SBT_FOURCC('I', 'N', 'F', 'O')
#define SBT_STRS SBT_FOURCC('S', 'T', 'R', 'S')
#define SBT_STKS SBT_FOURCC('S', 'T', 'K', 'S')
#define SBT_KVLS SBT_FOURCC('K', 'V', 'L', 'S')
#define SBT_DEVS SBT_FOURCC('D', 'E', 'V', 'S')
#define SBT_PROC SBT_FOURCC('P', 'R', 'O', 'C')
#define SBT_META SBT_FOURCC('M', 'E', 'T', 'A')
#define SBT_EVTB SBT_FOURCC('E', 'V', 'T', 'B')
#define SBT_INDX SBT_FOURCC('I', 'N', 'D', 'X')

/* Event block columns, in the order they are stored. */
enum sbt_column {
	COL_TPL,   /* varint template index */
	COL_FLG,   /* one byte: correlation and external-id modes */
	COL_START, /* host: varint (start - previous host start) >> shift;
		    * GPU: zigzag (start - end of the lane's previous event) >> shift */
	COL_DUR,   /* zigzag ((dur - previous dur of the template) >> shift) */
	COL_CORR,  /* zigzag (corr - previous corr of the class), mode EXPLICIT only */
	COL_EXT,   /* zigzag (ext - previous ext of the class), mode EXPLICIT only */
	COL_FLOW,  /* zigzag (flow_id - previous flow_id), templates with a flow type */
	COL_VOL,   /* per-kind volatile fields (address, counter value, drop count) */
	COL__COUNT
};

/* COL_FLG modes (2 bits each: correlation in bits 0-1, external id in bits 2-3). */
enum sbt_id_mode {
	MODE_ZERO = 0,	   /* the id is 0 */
	MODE_NEXT = 1,	   /* previous + 1 */
	MODE_EXPLICIT = 2, /* zigzag delta in the column */
	MODE_SAME = 3,	   /* same as previous */
};

/* Timing classes: host-side events and GPU events have their own time bases. */
#define CLASS_HOST 0
#define CLASS_GPU  1
static inline int event_class(const tsm_event *ev)
{
	return ev->device != TSM_DEVICE_NONE;
}

/* GPU lanes: one per (device, stream). Start times of GPU events are coded as the gap since
 * the previous event of their lane ended. */
static inline uint64_t sbt_lane_key(const tsm_event *t)
{
	return ((uint64_t)t->device << 32) | t->stream;
}

/* Template mask bits: which common fields are present (non-default). */
enum {
	TPL_FLAGS = 1u << 0,
	TPL_DEVICE = 1u << 1,
	TPL_CONTEXT = 1u << 2,
	TPL_STREAM = 1u << 3,
	TPL_PID = 1u << 4,
	TPL_TID = 1u << 5,
	TPL_NAME = 1u << 6,
	TPL_STACK = 1u << 7,
	TPL_META = 1u << 8,
	TPL_FLOW = 1u << 9,
	TPL__ALL = (1u << 10) - 1,
};

/*
 * Per-kind payload fields. Each kind stores a fixed list of "static"
 * fields in its template (as varints, in table order) and at most one
 * "volatile" field per event in COL_VOL. A field is described by its
 * byte offset in tsm_event, its width, and its coding.
 */
enum field_coding {
	F_UINT,	  /* varint */
	F_SINT,	  /* zigzag varint */
	F_STRID,  /* varint string id, must be defined */
	F_DOUBLE, /* 8 bytes little-endian IEEE-754 (volatile only) */
	F_DELTA,  /* zigzag varint delta against the previous value in the block (volatile only) */
};

typedef struct field_spec {
	const char *name; /* as printed by dump and the spec */
	uint16_t offset;  /* offsetof(tsm_event, ...) */
	uint8_t width;	  /* 1, 2, 4 or 8 */
	uint8_t coding;	  /* enum field_coding */
} field_spec;

#define SBT_MAX_FIELDS 14
typedef struct kind_spec {
	uint8_t nstatic;
	field_spec statics[SBT_MAX_FIELDS];
	uint8_t has_vol;
	field_spec vol;
} kind_spec;

extern const kind_spec tsm__kind_specs[TSM_EV__COUNT];

static inline uint64_t field_get(const tsm_event *ev, const field_spec *f)
{
	const uint8_t *p = (const uint8_t *)ev + f->offset;
	uint64_t v = 0;

	switch (f->width) {
	case 1:
		v = *p;
		break;
	case 2: {
		uint16_t x;
		memcpy(&x, p, 2);
		v = x;
		break;
	}
	case 4: {
		uint32_t x;
		memcpy(&x, p, 4);
		v = f->coding == F_SINT ? (uint64_t)(int64_t)(int32_t)x : x;
		break;
	}
	default:
		memcpy(&v, p, 8);
	}
	return v;
}

/* Store v; returns 0, or -1 when v does not fit the field. */
static inline int field_set(tsm_event *ev, const field_spec *f, uint64_t v)
{
	uint8_t *p = (uint8_t *)ev + f->offset;

	switch (f->width) {
	case 1:
		if (v > 0xff)
			return -1;
		*p = (uint8_t)v;
		return 0;
	case 2: {
		uint16_t x = (uint16_t)v;
		if (v > 0xffff)
			return -1;
		memcpy(p, &x, 2);
		return 0;
	}
	case 4: {
		uint32_t x = (uint32_t)v;
		if (f->coding == F_SINT ? ((int64_t)v < INT32_MIN || (int64_t)v > INT32_MAX)
					: v > 0xffffffffu)
			return -1;
		memcpy(p, &x, 4);
		return 0;
	}
	default:
		memcpy(p, &v, 8);
		return 0;
	}
}

/* ---- varints (LEB128, at most 10 bytes) ---- */

static inline uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static inline int64_t unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Write v at p (which must have 10 bytes of room); returns bytes written. */
static inline size_t varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static inline int buf_varint(tsm__buf *b, uint64_t v)
{
	int rc = tsm__buf_reserve(b, 10);

	if (rc < 0)
		return rc;
	b->len += varint_put(b->data + b->len, v);
	return 0;
}

/*
 * A bounded decoding cursor. Errors are sticky: after the first one every
 * read returns 0 and `err` holds the status; callers check once.
 */
typedef struct cursor {
	const uint8_t *p, *end, *base;
	int err;
} cursor;

static inline void cursor_init(cursor *c, const uint8_t *p, size_t n)
{
	c->p = c->base = p;
	c->end = n ? p + n : p; /* an empty payload may have no buffer: no NULL + 0 */
	c->err = 0;
}

/* The careful decoder: any length, bounds and overflow checked byte by byte. */
__attribute__((noinline, unused)) static uint64_t cur_varint_slow(cursor *c)
{
	const uint8_t *p = c->p;
	uint64_t v = 0;

	for (unsigned shift = 0; p < c->end; shift += 7) {
		uint8_t b = *p++;

		if (shift == 63 && b > 1) {
			c->err = TSM_OVERFLOW;
			c->p = c->end;
			return 0;
		}
		v |= (uint64_t)(b & 0x7f) << shift;
		if (b < 0x80) {
			c->p = p;
			return v;
		}
	}
	if (!c->err)
		c->err = TSM_TRUNCATED;
	c->p = c->end;
	return 0;
}

/*
 * Varints of 1 to 4 bytes (nearly all of them) are decoded unrolled when
 * at least 10 bytes remain, so no per-byte bounds check is needed; longer
 * ones and the last bytes of a column take the careful path.
 */
__attribute__((always_inline)) static inline uint64_t cur_varint(cursor *c)
{
	const uint8_t *p = c->p;
	uint64_t v, b;

	if (TSM__UNLIKELY(c->end - p < 10))
		return cur_varint_slow(c);
	v = p[0];
	if (TSM__LIKELY(v < 0x80)) {
		c->p = p + 1;
		return v;
	}
	v &= 0x7f;
	b = p[1];
	v |= (b & 0x7f) << 7;
	if (b < 0x80) {
		c->p = p + 2;
		return v;
	}
	b = p[2];
	v |= (b & 0x7f) << 14;
	if (b < 0x80) {
		c->p = p + 3;
		return v;
	}
	b = p[3];
	v |= (b & 0x7f) << 21;
	if (b < 0x80) {
		c->p = p + 4;
		return v;
	}
	return cur_varint_slow(c);
}

static inline uint8_t cur_u8(cursor *c)
{
	if (TSM__UNLIKELY(c->p >= c->end)) {
		if (!c->err)
			c->err = TSM_TRUNCATED;
		return 0;
	}
	return *c->p++;
}

static inline const uint8_t *cur_bytes(cursor *c, size_t n)
{
	const uint8_t *p = c->p;

	if (TSM__UNLIKELY((size_t)(c->end - c->p) < n)) {
		if (!c->err)
			c->err = TSM_TRUNCATED;
		c->p = c->end;
		return NULL;
	}
	c->p += n;
	return p;
}

static inline size_t cur_off(const cursor *c)
{
	return (size_t)(c->p - c->base);
}

/* Printable chunk type ("EVTB", or hex when not printable). */
void tsm__fourcc_str(uint32_t type, char out[12]);

/* zstd glue (compress.c). */
int tsm__zstd_compress(void **ctx, int level, const uint8_t *src, size_t n, tsm__buf *out);
int tsm__zstd_decompress(void **ctx, const uint8_t *src, size_t n, size_t raw_size, tsm__buf *out);
void tsm__zstd_free(void *cctx, void *dctx);

#endif
