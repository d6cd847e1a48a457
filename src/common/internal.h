/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal helpers shared by every module (tsm__ prefix): error detail,
 * allocation through the hooks, a growable byte buffer, hashing, CRC-32C.
 * Not installed; never included by public headers.
 */
#ifndef TSM_COMMON_INTERNAL_H
#define TSM_COMMON_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tracesmith/common.h"

#define TSM__ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define TSM__LIKELY(x)	   __builtin_expect(!!(x), 1)
#define TSM__UNLIKELY(x)   __builtin_expect(!!(x), 0)
#define TSM__CACHELINE	   64

/*
 * Record a failure detail for this thread and return `status`, so that
 * `return TSM_FAIL(TSM_NOMEM, "reader for %s", path);` reads naturally.
 * TSM_FAIL_AT also records the byte offset in the input.
 */
int tsm__fail(int status, int64_t offset, const char *fmt, ...) TSM_PRINTF(3, 4);
#define TSM_FAIL(status, ...)		 tsm__fail((status), -1, __VA_ARGS__)
#define TSM_FAIL_AT(status, offset, ...) tsm__fail((status), (int64_t)(offset), __VA_ARGS__)

/* Prefix the current detail with "prefix: " (adds context on the way up). */
void tsm__error_prefix(const char *fmt, ...) TSM_PRINTF(1, 2);
/* The current failure, its detail kept, as `status` at input offset `offset`: status. */
int tsm__error_at(int status, int64_t offset);

/*
 * A failure met on a helper thread, carried to the thread that reports it
 * (the detail is thread-local): kept on the helper with its offset and
 * detail, raised again on the reporting thread, which returns its status.
 */
typedef struct tsm__err {
	int status; /* 0: none */
	int64_t offset;
	char detail[512];
} tsm__err;
void tsm__err_keep(tsm__err *e, int status);
int tsm__err_raise(const tsm__err *e);

void *tsm__malloc(size_t size);
void *tsm__calloc(size_t n, size_t size);
void *tsm__realloc(void *ptr, size_t size);
void tsm__free(void *ptr);
/* zlib's zalloc and zfree through the hooks above (z_stream's voidpf and uInt spelled out). */
void *tsm__zalloc(void *opaque, unsigned items, unsigned size);
void tsm__zfree(void *opaque, void *ptr);
/*
 * The array `arr` of *cap elements of `size` bytes, reallocated to twice as
 * many (`first` when it has none): arrays that grow an element at a time
 * double, so that appending costs O(1) amortised. Returns the new array
 * with *cap updated, or NULL with `arr` and *cap unchanged when memory (or
 * size_t) runs out; the caller's TSM_FAIL says what the array was for.
 */
void *tsm__grow(void *arr, size_t *cap, size_t first, size_t size);
char *tsm__strdup(const char *s);
/* Ask for transparent huge pages over the 2 MiB-aligned inside of a large block (a hint). */
void tsm__advise_huge(void *p, size_t bytes);

/*
 * Strings by string id, each made once and kept: demangled display names,
 * JSON-escaped forms (the exporters and the report look the same kernel
 * name up for every event). Zero-initialise to start.
 */
typedef struct tsm__idstrs {
	char **s; /* NULL: not made yet */
	uint32_t *len;
	size_t cap;
} tsm__idstrs;

/* Room for entry `id` (new entries NULL): 0 or TSM_NOMEM. */
int tsm__idstrs_room(tsm__idstrs *t, uint32_t id);
void tsm__idstrs_fini(tsm__idstrs *t);

/* The demangled form of string `id`, whose text is `raw`, cut to `max` - 1 bytes, and its
 * length, kept in `t`; NULL (TSM_NOMEM set) when memory runs out. */
const char *tsm__demangled(tsm__idstrs *t, uint32_t id, const char *raw, size_t max, uint32_t *len);

/* Threads for data-parallel work (tsm_set_threads, TSM_THREADS, CPUs), >= 1. */
unsigned tsm__threads(void);

/*
 * Run fn(args[0]) on the calling thread and fn(args[i]) on n - 1 new
 * threads, and wait for all. Returns 0, or the failure of the run whose
 * error names the lowest input offset (then the lowest index), with its
 * detail and offset as this thread's last error. A thread that cannot be
 * started runs its share on the calling thread afterwards.
 */
int tsm__parallel(int (*fn)(void *), void *const *args, size_t n);

/* Growable byte buffer; zero-initialise to start. */
typedef struct tsm__buf {
	uint8_t *data;
	size_t len;
	size_t cap;
} tsm__buf;

int tsm__buf_reserve(tsm__buf *b, size_t extra);
int tsm__buf_append(tsm__buf *b, const void *data, size_t len);
void tsm__buf_fini(tsm__buf *b);
static inline void tsm__buf_reset(tsm__buf *b)
{
	b->len = 0;
}

/*
 * Bump allocator for entries that must never move (interned strings,
 * reader definitions): 64 KiB blocks, 8-byte aligned allocations, freed
 * all at once. Zero-initialise to start.
 */
typedef struct tsm__arena {
	struct tsm__arena_block *head;
} tsm__arena;

void *tsm__arena_alloc(tsm__arena *a, size_t size);
void tsm__arena_fini(tsm__arena *a);

/* 64-bit hash of bytes (not cryptographic). */
uint64_t tsm__hash64(const void *data, size_t len, uint64_t seed);

static inline uint64_t tsm__mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* CRC-32C (Castagnoli), as used by SBT chunks. crc starts at 0. */
uint32_t tsm__crc32c(uint32_t crc, const void *data, size_t len);

/* Little-endian fixed-width loads and stores. */
static inline void tsm__put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void tsm__put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void tsm__put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t tsm__get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t tsm__get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}
static inline uint64_t tsm__get_le64(const uint8_t *p)
{
	return (uint64_t)tsm__get_le32(p) | ((uint64_t)tsm__get_le32(p + 4) << 32);
}

#endif
