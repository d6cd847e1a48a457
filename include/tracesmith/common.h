/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tracesmith/common.h - status codes, error detail, allocation hooks.
 *
 * Every fallible function of the library returns an int: 0 on success, a
 * negative tsm_status on error, or a positive tsm_status for a non-error
 * outcome (TSM_END, TSM_AGAIN). Outputs go through trailing pointers.
 *
 * When a function fails it also records a thread-local detail that names
 * what went wrong ("chunk 12 'EVTB': string id 907 undefined") and, for
 * decoders, the byte offset in the input. The library never prints.
 */
#ifndef TRACESMITH_COMMON_H
#define TRACESMITH_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TSM_API		 __attribute__((visibility("default")))
#define TSM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TSM_API
#define TSM_PRINTF(a, b)
#endif

#define TSM_VERSION_MAJOR  0
#define TSM_VERSION_MINOR  1
#define TSM_VERSION_PATCH  0
#define TSM_VERSION_STRING "0.1.0"

/*
 * The one list of statuses. X(NAME, value, message). Negative values are
 * errors, 0 is success, positive values are outcomes that are not errors.
 */
#define TSM_STATUS_LIST(X)                                 \
	X(OK, 0, "success")                                \
	X(END, 1, "end of data")                           \
	X(AGAIN, 2, "try again")                           \
	X(NOMEM, -1, "out of memory")                      \
	X(INVAL, -2, "invalid argument")                   \
	X(IO, -3, "input/output error")                    \
	X(EMPTY, -4, "empty file")                         \
	X(BAD_MAGIC, -5, "not an SBT file")                \
	X(VERSION, -6, "unsupported format version")       \
	X(TRUNCATED, -7, "truncated data")                 \
	X(CHECKSUM, -8, "checksum mismatch")               \
	X(CORRUPT, -9, "corrupt data")                     \
	X(UNDEFINED, -10, "reference to an undefined id")  \
	X(OVERFLOW, -11, "integer overflow in varint")     \
	X(TOO_LARGE, -12, "size out of range")             \
	X(UNSUPPORTED, -13, "unsupported feature")         \
	X(STATE, -14, "operation not valid in this state") \
	X(UNAVAILABLE, -15, "backend unavailable")         \
	X(NOT_FOUND, -16, "not found")

enum tsm_status {
#define TSM__STATUS_ENUM(name, value, msg) TSM_##name = value,
	TSM_STATUS_LIST(TSM__STATUS_ENUM)
#undef TSM__STATUS_ENUM
};

/* "CHECKSUM" for TSM_CHECKSUM; "UNKNOWN" for a value not in the list. */
TSM_API const char *tsm_status_name(int status);

/* "checksum mismatch" for TSM_CHECKSUM; a generic text for unknown values. */
TSM_API const char *tsm_strerror(int status);

/*
 * Detail of the last failure on the calling thread, e.g.
 * "chunk 3 'EVTB': string id 907 undefined". Empty string when none.
 * Valid until the next failing library call on this thread.
 */
TSM_API const char *tsm_last_error(void);

/* Status of the last failure on this thread (0 when none). */
TSM_API int tsm_last_error_status(void);

/* Byte offset in the input that the last failure refers to, or -1. */
TSM_API int64_t tsm_last_error_offset(void);

/* Forget the last failure on this thread. */
TSM_API void tsm_clear_error(void);

/*
 * Allocation hooks. Must be set before any other library call; NULL
 * restores the C library's allocator. Not thread safe. Every allocation
 * the library makes goes through them, zlib's and zstd's too, except the
 * C library's own (stdio, threads).
 */
typedef struct tsm_allocator {
	void *(*malloc_fn)(size_t size, void *user);
	void *(*realloc_fn)(void *ptr, size_t size, void *user);
	void (*free_fn)(void *ptr, void *user);
	void *user;
} tsm_allocator;

TSM_API void tsm_set_allocator(const tsm_allocator *a);

/*
 * Threads the analyses and exports may use (timeline building,
 * statistics, reading ahead): 0 (the default) means the TSM_THREADS
 * environment variable when set, else the CPUs this process may run on, less
 * those other processes keep busy (runnable tasks, /proc/loadavg), at most 8;
 * 1 runs everything on the calling thread. Results are identical
 * whatever the count. Not thread safe: set it up front.
 */
TSM_API void tsm_set_threads(unsigned n);

/* Library version string, e.g. "0.1.0 (zstd, libunwind)". */
TSM_API const char *tsm_version(void);

/* Build features, TSM_FEATURE_* bits. */
#define TSM_FEATURE_ZSTD      (1u << 0)
#define TSM_FEATURE_LIBUNWIND (1u << 1)
#define TSM_FEATURE_CUPTI     (1u << 2)
TSM_API unsigned tsm_build_features(void);

/* Monotonic clock in ns (CLOCK_MONOTONIC_RAW where available). */
TSM_API uint64_t tsm_now_ns(void);

/*
 * Demangle a C++ symbol name (Itanium ABI, as CUPTI reports kernel names)
 * for display. Only names starting with "_Z" are demangled. Returns `buf`
 * holding the NUL-terminated demangled name (cut to `cap` - 1 bytes), or
 * `name` itself when it is not a mangled C++ name, cannot be demangled,
 * `buf` is NULL / `cap` is 0, or the library was built without a
 * demangler (libstdc++'s __cxa_demangle). `name` must not be NULL. Never
 * fails; thread safe.
 */
TSM_API const char *tsm_demangle(const char *name, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
