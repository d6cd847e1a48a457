/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hashing and CRC-32C.
 *
 * CRC-32C is written here rather than taken from a library because no
 * required dependency provides it (zlib has only CRC-32 and is not a
 * dependency; zstd's xxhash is not exported). On x86-64 with SSE4.2 the
 * crc32 instruction does 8 bytes per step (~20 GB/s); elsewhere a
 * slicing-by-8 table (~2 GB/s) is used. SBT chunks are checksummed at a
 * few hundred MB/s, so either is far from the bottleneck.
 */
#include <pthread.h>

#include "internal.h"

uint64_t tsm__hash64(const void *data, size_t len, uint64_t seed)
{
	const uint8_t *p = data;
	uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ULL);
	uint64_t w;

	while (len >= 8) {
		memcpy(&w, p, 8);
		h = (h ^ tsm__mix64(w)) * 0x9e3779b97f4a7c15ULL;
		p += 8;
		len -= 8;
	}
	w = 0;
	memcpy(&w, p, len);
	h = (h ^ tsm__mix64(w ^ len)) * 0x9e3779b97f4a7c15ULL;
	return tsm__mix64(h);
}

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void make_table(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
		table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
}

static uint32_t crc_soft(uint32_t crc, const uint8_t *p, size_t len)
{
	pthread_once(&table_once, make_table);
	while (len >= 8) {
		uint32_t lo = tsm__get_le32(p) ^ crc, hi = tsm__get_le32(p + 4);

		crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^
		      table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^ table[3][hi & 0xff] ^
		      table[2][(hi >> 8) & 0xff] ^ table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
	return crc;
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;

	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		c = __builtin_ia32_crc32di(c, w);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}

static int have_hw(void)
{
	return __builtin_cpu_supports("sse4.2");
}
#endif

uint32_t tsm__crc32c(uint32_t crc, const void *data, size_t len)
{
	crc = ~crc;
#if defined(__x86_64__) && defined(__GNUC__)
	if (have_hw())
		return ~crc_hw(crc, data, len);
#endif
	return ~crc_soft(crc, data, len);
}
