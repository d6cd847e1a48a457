/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A minimal protobuf wire-format encoder (no schema, no runtime library):
 * varints, zigzag, fixed64, doubles, length-delimited bytes, and nested
 * messages whose length is back-filled. See protobuf.c for the nesting
 * scheme. Encoders write at a cursor `uint8_t *p` and get the advanced
 * cursor back; the caller guarantees room (the sink's tsm__sink_room).
 */
#ifndef TSM_EXPORT_PROTOBUF_H
#define TSM_EXPORT_PROTOBUF_H

#include <stdint.h>
#include <string.h>

enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

/* Longest encoding of a tag or a 64-bit varint. */
#define PB_MAX_VARINT 10
/* A nested message reserves 1 byte for its length (debug annotations: short bodies) or 2
 * (packets, track events: bodies under 16 KiB); pb_end moves the body when the varint needs
 * another size. The caller's room must include PB_NEST_SLACK bytes per open message. */
#define PB_NEST_SLACK 4

static inline uint8_t *pb_varint(uint8_t *p, uint64_t v)
{
	/* Most values (tags, iids, uuids, small args) take one or two bytes. */
	if (v < 0x80) {
		*p = (uint8_t)v;
		return p + 1;
	}
	if (v < 0x4000) {
		p[0] = (uint8_t)(v | 0x80);
		p[1] = (uint8_t)(v >> 7);
		return p + 2;
	}
	/* correlation ids, sizes: three or four bytes */
	if (v < 0x200000) {
		p[0] = (uint8_t)(v | 0x80);
		p[1] = (uint8_t)(v >> 7 | 0x80);
		p[2] = (uint8_t)(v >> 14);
		return p + 3;
	}
	if (v < 0x10000000) {
		p[0] = (uint8_t)(v | 0x80);
		p[1] = (uint8_t)(v >> 7 | 0x80);
		p[2] = (uint8_t)(v >> 14 | 0x80);
		p[3] = (uint8_t)(v >> 21);
		return p + 4;
	}
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* Bytes of the varint encoding of v (1..10), by its bit length. */
static inline unsigned pb_varint_len(uint64_t v)
{
	static const uint8_t len_by_clz[64] = {
	    10, 9, 9, 9, 9, 9, 9, 9, 8, 8, 8, 8, 8, 8, 8, 7, 7, 7, 7, 7, 7, 7,
	    6,	6, 6, 6, 6, 6, 6, 5, 5, 5, 5, 5, 5, 5, 4, 4, 4, 4, 4, 4, 4, 3,
	    3,	3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1,
	};

	return len_by_clz[__builtin_clzll(v | 1)];
}

static inline uint8_t *pb_tag(uint8_t *p, uint32_t field, unsigned wire)
{
	return pb_varint(p, ((uint64_t)field << 3) | wire);
}

static inline uint8_t *pb_uint(uint8_t *p, uint32_t field, uint64_t v)
{
	return pb_varint(pb_tag(p, field, PB_VARINT), v);
}

/* int32/int64 fields: negative values take ten bytes, as protobuf says. */
static inline uint8_t *pb_int(uint8_t *p, uint32_t field, int64_t v)
{
	return pb_varint(pb_tag(p, field, PB_VARINT), (uint64_t)v);
}

static inline uint8_t *pb_fixed64(uint8_t *p, uint32_t field, uint64_t v)
{
	p = pb_tag(p, field, PB_I64);
	for (int i = 0; i < 8; i++)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

static inline uint8_t *pb_double(uint8_t *p, uint32_t field, double d)
{
	uint64_t v;

	memcpy(&v, &d, sizeof(v));
	return pb_fixed64(p, field, v);
}

static inline uint8_t *pb_bytes(uint8_t *p, uint32_t field, const void *data, size_t n)
{
	p = pb_varint(pb_tag(p, field, PB_LEN), n);
	memcpy(p, data, n);
	return p + n;
}

/* Start a nested message: write the tag, reserve `reserve` (1 or 2) length bytes, return the
 * cursor; keep `mark` for pb_end. The reserve is stored in the first reserved byte. */
static inline uint8_t *pb_begin_n(uint8_t *p, uint32_t field, uint8_t **mark, unsigned reserve)
{
	p = pb_tag(p, field, PB_LEN);
	*mark = p;
	*p = (uint8_t)reserve;
	return p + reserve;
}
#define pb_begin(p, field, mark)  pb_begin_n((p), (field), (mark), 2)
#define pb_begin1(p, field, mark) pb_begin_n((p), (field), (mark), 1)

uint8_t *tsm__pb_end_slow(uint8_t *mark, uint8_t *p, size_t len, unsigned reserve);

/* Close a nested message opened at `mark`; returns the new cursor. */
static inline uint8_t *pb_end(uint8_t *mark, uint8_t *p)
{
	unsigned reserve = mark[0];
	size_t len = (size_t)(p - mark) - reserve;

	if (reserve == 1 && len < 0x80) {
		mark[0] = (uint8_t)len;
		return p;
	}
	if (reserve == 2 && len >= 0x80 && len < 0x4000) {
		mark[0] = (uint8_t)(len | 0x80);
		mark[1] = (uint8_t)(len >> 7);
		return p;
	}
	return tsm__pb_end_slow(mark, p, len, reserve);
}

#endif
