/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Nested protobuf messages in one pass.
 *
 * A nested message is length-prefixed, and its length is only known once
 * it is written. pb_begin reserves the number of length bytes the body will
 * most likely need (1 for debug annotations, 2 for packets and track
 * events); pb_end writes the length in place when the guess was right (the
 * common case, no copy) and otherwise moves the body by the difference so
 * that the length is always the minimal varint, as protoc would write it.
 * (Perfetto's protozero keeps padded 4-byte varints instead, which protobuf
 * allows; minimal lengths keep our files smaller.) Messages close innermost
 * first, so a parent's body already holds its children's final bytes.
 */
#include "export/protobuf.h"

uint8_t *tsm__pb_end_slow(uint8_t *mark, uint8_t *p, size_t len, unsigned reserve)
{
	uint8_t tmp[PB_MAX_VARINT];
	size_t n = (size_t)(pb_varint(tmp, len) - tmp);

	(void)p;
	memmove(mark + n, mark + reserve, len);
	memcpy(mark, tmp, n);
	return mark + n + len;
}
