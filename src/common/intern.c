/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Append-only intern table (see tracesmith/intern.h).
 *
 * Layout: entries live in an arena (tsm__arena: never moved or
 * freed before destroy). The id -> entry directory is a segmented array:
 * segment k holds 1024 << k slots, so 19 segment pointers reach 2^28 ids
 * and no slot ever moves. A hash table (open addressing, hash + id) finds
 * existing entries; it is touched only under the mutex.
 *
 * Concurrency: adders serialise on `lock`. An add stores the entry pointer
 * into its slot, then publishes `count` with a release store. Readers
 * (tsm_intern_borrow) load `count` with acquire, so any id <= count has
 * its slot and segment visible. Readers that learned an id some other way
 * (an event read from a ring) are ordered by that channel's own
 * release/acquire, which happens after the add's release store.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "internal.h"
#include "tracesmith/intern.h"

#define SEG_BASE_SHIFT 10
#define NSEGS	       19

typedef struct entry {
	uint32_t len;
	uint32_t reserved; /* keeps data 8-byte aligned: stacks and kv lists are typed arrays */
	uint8_t data[];	   /* len bytes + NUL */
} entry;

typedef struct slot {
	uint64_t hash;
	uint32_t id;
} slot;

struct tsm_intern {
	pthread_mutex_t lock;
	_Atomic(entry *) *_Atomic segs[NSEGS];
	_Atomic uint32_t count;
	slot *table; /* under lock */
	size_t table_cap;
	tsm__arena arena;
};

static void seg_of(uint32_t idx, unsigned *seg, uint32_t *off)
{
	uint32_t q = (idx >> SEG_BASE_SHIFT) + 1;
	unsigned k = 31u - (unsigned)__builtin_clz(q);

	*seg = k;
	*off = idx - (((1u << k) - 1u) << SEG_BASE_SHIFT);
}

int tsm_intern_create(tsm_intern **out)
{
	tsm_intern *t = tsm__calloc(1, sizeof(*t));

	*out = NULL;
	if (!t)
		return TSM_FAIL(TSM_NOMEM, "intern table");
	pthread_mutex_init(&t->lock, NULL);
	*out = t;
	return 0;
}

void tsm_intern_destroy(tsm_intern *t)
{
	if (!t)
		return;
	for (unsigned k = 0; k < NSEGS; k++)
		tsm__free((void *)atomic_load_explicit(&t->segs[k], memory_order_relaxed));
	tsm__arena_fini(&t->arena);
	tsm__free(t->table);
	pthread_mutex_destroy(&t->lock);
	tsm__free(t);
}

static int grow_table(tsm_intern *t)
{
	size_t cap = t->table_cap ? t->table_cap * 2 : 1024;
	slot *nt = tsm__calloc(cap, sizeof(*nt));

	if (!nt)
		return TSM_FAIL(TSM_NOMEM, "intern hash table of %zu slots", cap);
	for (size_t i = 0; i < t->table_cap; i++) {
		slot s = t->table[i];
		size_t j;

		if (!s.id)
			continue;
		for (j = s.hash & (cap - 1); nt[j].id; j = (j + 1) & (cap - 1))
			;
		nt[j] = s;
	}
	tsm__free(t->table);
	t->table = nt;
	t->table_cap = cap;
	return 0;
}

static const entry *entry_of(const tsm_intern *t, uint32_t id)
{
	unsigned k;
	uint32_t off;
	_Atomic(entry *) *seg;

	seg_of(id - 1, &k, &off);
	seg = atomic_load_explicit(&((tsm_intern *)t)->segs[k], memory_order_acquire);
	return atomic_load_explicit(&seg[off], memory_order_acquire);
}

int tsm_intern_add(tsm_intern *t, const void *data, size_t len, uint32_t *id)
{
	uint64_t h;
	size_t j;
	uint32_t n;
	unsigned k;
	uint32_t off;
	entry *e;
	int rc = 0;

	*id = 0;
	if (len > TSM_INTERN_MAX_BYTES)
		return TSM_FAIL(TSM_TOO_LARGE, "interned entry of %zu bytes (max %u)", len,
				TSM_INTERN_MAX_BYTES);
	h = tsm__hash64(data, len, 0x5b5);
	pthread_mutex_lock(&t->lock);
	n = atomic_load_explicit(&t->count, memory_order_relaxed);
	if ((n + 1) * 2 > t->table_cap) {
		rc = grow_table(t);
		if (rc < 0)
			goto out;
	}
	for (j = h & (t->table_cap - 1); t->table[j].id; j = (j + 1) & (t->table_cap - 1)) {
		const entry *x;

		if (t->table[j].hash != h)
			continue;
		x = entry_of(t, t->table[j].id);
		if (x->len == len && memcmp(x->data, data, len) == 0) {
			*id = t->table[j].id;
			goto out;
		}
	}
	if (n >= TSM_INTERN_MAX_ENTRIES) {
		rc = TSM_FAIL(TSM_TOO_LARGE, "more than %u interned entries",
			      TSM_INTERN_MAX_ENTRIES);
		goto out;
	}
	seg_of(n, &k, &off);
	if (!atomic_load_explicit(&t->segs[k], memory_order_relaxed)) {
		_Atomic(entry *) *seg =
		    tsm__calloc((size_t)1 << (k + SEG_BASE_SHIFT), sizeof(*seg));

		if (!seg) {
			rc = TSM_FAIL(TSM_NOMEM, "intern directory segment %u", k);
			goto out;
		}
		atomic_store_explicit(&t->segs[k], seg, memory_order_release);
	}
	e = tsm__arena_alloc(&t->arena, sizeof(*e) + len + 1);
	if (!e) {
		rc = TSM_FAIL(TSM_NOMEM, "interned entry of %zu bytes", len);
		goto out;
	}
	e->len = (uint32_t)len;
	e->reserved = 0;
	if (len)
		memcpy(e->data, data, len);
	e->data[len] = 0;
	atomic_store_explicit(&atomic_load_explicit(&t->segs[k], memory_order_relaxed)[off], e,
			      memory_order_release);
	t->table[j].hash = h;
	t->table[j].id = n + 1;
	atomic_store_explicit(&t->count, n + 1, memory_order_release);
	*id = n + 1;
out:
	pthread_mutex_unlock(&t->lock);
	return rc;
}

int tsm_intern_str(tsm_intern *t, const char *s, uint32_t *id)
{
	return tsm_intern_add(t, s, strlen(s), id);
}

const void *tsm_intern_borrow(const tsm_intern *t, uint32_t id, size_t *len)
{
	const entry *e;

	if (len)
		*len = 0;
	if (id == 0 || id > atomic_load_explicit(&t->count, memory_order_acquire))
		return NULL;
	e = entry_of(t, id);
	if (len)
		*len = e->len;
	return e->data;
}

uint32_t tsm_intern_count(const tsm_intern *t)
{
	return atomic_load_explicit(&((tsm_intern *)t)->count, memory_order_acquire);
}
