/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Nested protobuf messages in one pass.
 *
 * A nested message is length-prefixed, and its length is only known once
 * it is written. pb_begin reserves PB_NEST_RESERVE bytes for the length;
 * pb_end computes the length, and moves the body down so that the length
 * takes exactly the bytes its minimal varint needs. The body moves at most
 * three bytes, and since messages close innermost first, a parent's body
 * already holds its children's final bytes when the parent is closed.
 * (Perfetto's protozero keeps the padded 4-byte varint instead, which
 * protobuf allows; moving the body keeps our files as small as protoc's.)
 * Bodies are short (one TracePacket: tens to hundreds of bytes), so the
 * memmove is cheaper than a second encoding pass.
 */
#include "export/protobuf.h"

uint8_t *tsm__pb_end(uint8_t *mark, uint8_t *p)
{
	size_t len = (size_t)(p - mark) - PB_NEST_RESERVE;
	uint8_t tmp[PB_MAX_VARINT];
	size_t n = (size_t)(pb_varint(tmp, len) - tmp);

	memmove(mark + n, mark + PB_NEST_RESERVE, len);
	memcpy(mark, tmp, n);
	return mark + n + len;
}
