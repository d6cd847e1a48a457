/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tracesmith/intern.h - append-only interning of byte strings and blobs.
 *
 * A tsm_intern maps distinct byte sequences to dense ids 1, 2, 3, ... in
 * the order they were first added. Id 0 means "none". Entries are never
 * removed or moved, so a borrowed pointer stays valid until the table is
 * destroyed. The SBT writer keeps three tables (strings, call stacks as
 * tsm_frame arrays, metadata lists as tsm_kv arrays) and writes each new
 * entry into the file before the first block that can use it.
 *
 * Thread safety: tsm_intern_add may be called from any number of threads
 * (it takes a mutex; producers are expected to cache ids of hot strings).
 * tsm_intern_borrow and tsm_intern_count never block and may run
 * concurrently with adds: an id returned by add is visible to any thread
 * that learned it through a release/acquire pair (a ring, a mutex).
 */
#ifndef TRACESMITH_INTERN_H
#define TRACESMITH_INTERN_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tsm_intern tsm_intern;

/* Largest entry in bytes; larger adds fail with TSM_TOO_LARGE. */
#define TSM_INTERN_MAX_BYTES (16u << 20)
/* Most entries in one table; further adds fail with TSM_TOO_LARGE. */
#define TSM_INTERN_MAX_ENTRIES (1u << 28)

/* Returns 0 or TSM_NOMEM. */
TSM_API int tsm_intern_create(tsm_intern **out);
TSM_API void tsm_intern_destroy(tsm_intern *t);

/*
 * Intern `len` bytes at `data` and store the id (>= 1) in *id. Adding
 * the same bytes again returns the same id. The bytes are copied; a NUL
 * is stored after them so string entries can be borrowed as C strings.
 * Returns 0, TSM_NOMEM or TSM_TOO_LARGE.
 */
TSM_API int tsm_intern_add(tsm_intern *t, const void *data, size_t len, uint32_t *id);

/* tsm_intern_add for a NUL-terminated string. */
TSM_API int tsm_intern_str(tsm_intern *t, const char *s, uint32_t *id);

/*
 * Bytes of entry `id`, NUL-terminated, length in *len (may be NULL).
 * NULL when id is 0 or not defined yet. Valid for the table's lifetime.
 */
TSM_API const void *tsm_intern_borrow(const tsm_intern *t, uint32_t id, size_t *len);

/* Number of entries (the largest id handed out). */
TSM_API uint32_t tsm_intern_count(const tsm_intern *t);

#ifdef __cplusplus
}
#endif
#endif
