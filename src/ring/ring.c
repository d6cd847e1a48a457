/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Lock-free single-producer / single-consumer ring of fixed-size records.
 *
 * Layout. Five 64-byte cache lines, then the record array:
 *
 *   line 0  read-only after create: recs, record_size, mask, capacity, batch
 *   line 1  producer writes, consumer reads: head (the published index)
 *   line 2  producer-private: wpos, dropped, tail_cache, staged
 *   line 3  consumer writes, producer reads: tail (the published index)
 *   line 4  consumer-private: head_cache
 *   recs    capacity * record_size bytes, 64-byte aligned
 *
 * The producer writes lines 1-2 and the slots it fills; the consumer writes
 * lines 3-4. Each side reads the other's published index only when its
 * cached copy says it cannot make progress (producer: the ring looks full;
 * consumer: the ring looks empty or shorter than asked), so in steady state
 * an index line crosses cores once per batch, not once per record. The
 * published index is kept apart from the per-push private state because a
 * consumer that polls `head` pulls head's line into its cache: if wpos and
 * staged lived there, every push would have to take the line back.
 *
 * Indices are free-running 64-bit counters: slot = counter & mask. The
 * number of records in the ring is simply head - tail (unsigned, so it is
 * right across any wrap of the array), full is head - tail == capacity and
 * empty is head == tail, with no "one slot wasted" rule and no ambiguity
 * between full and empty. At 10^10 records per second a 64-bit counter
 * wraps after 58 years, so wrap-around of the counters is not a concern.
 *
 * Who writes what, and the memory orders:
 *
 *   wpos      producer only; records pushed so far (including staged ones).
 *             Producer stores relaxed; any thread may load it relaxed (it
 *             is tsm_ring_pushed). It carries no ordering: records below
 *             wpos but above head are NOT visible to the consumer.
 *   head      producer only. store_release(head, wpos) after the record
 *             bytes were copied: every `batch` pushes, on tsm_ring_publish,
 *             and when the ring looks full (see below). It pairs with the
 *             consumer's load_acquire(head) in tsm_ring_peek, which makes
 *             the record bytes below head visible to the consumer.
 *   tail      consumer only. store_release(tail, tail + n) in
 *             tsm_ring_release after the consumer has finished reading the
 *             records. It pairs with the producer's load_acquire(tail) in
 *             tsm_ring_try_push, so the producer never overwrites a slot the
 *             consumer is still reading.
 *   dropped   producer only; relaxed load + relaxed store (no read-modify-
 *             write needed with one writer); any thread loads it relaxed.
 *   tail_cache, staged (producer) and head_cache (consumer) are private.
 *
 * Full ring: try_push refreshes tail_cache with load_acquire(tail); if the
 * ring is still full it publishes the staged records (so a consumer that
 * has drained everything published can see them and make room, even when
 * batch >= capacity), counts the record in `dropped` and returns TSM_AGAIN.
 * The producer never waits. Drop accounting is exact: every call of
 * tsm_ring_try_push either advances wpos or increments dropped.
 *
 * Peek returns only records that are contiguous in memory: it stops at the
 * end of the array, and the next peek (after release) continues at slot 0.
 */
#include <stdalign.h>
#include <stdatomic.h>

#include "common/internal.h"
#include "tracesmith/ring.h"

#define RING_MAX_RECORD 4096u

/*
 * gcc expands constant-size memcpy inline *after* ThreadSanitizer's
 * instrumentation pass, so the record copy would be invisible to TSan and
 * a missing release/acquire pair on the record bytes would go unreported.
 * Under TSan every copy goes through the intercepted libc memcpy.
 */
#if defined(__SANITIZE_THREAD__)
#define RING_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RING_TSAN 1
#endif
#endif
#ifndef RING_TSAN
#define RING_TSAN 0
#endif

struct tsm_ring {
	/* Line 0: constant after create, read by both sides. */
	alignas(TSM__CACHELINE) uint8_t *recs;
	size_t record_size;
	uint64_t mask;
	uint64_t capacity;
	unsigned batch;
	void *raw; /* what tsm__malloc returned (recs and the ring share it) */

	/* Line 1: the producer's published index, read by the consumer. */
	alignas(TSM__CACHELINE) _Atomic uint64_t head;

	/* Line 2: producer-private state, written on every push. */
	alignas(TSM__CACHELINE) _Atomic uint64_t wpos;
	_Atomic uint64_t dropped;
	uint64_t tail_cache;
	unsigned staged;

	/* Line 3: the consumer's published index, read by the producer. */
	alignas(TSM__CACHELINE) _Atomic uint64_t tail;

	/* Line 4: consumer-private state. */
	alignas(TSM__CACHELINE) uint64_t head_cache;
};

_Static_assert(sizeof(struct tsm_ring) % TSM__CACHELINE == 0, "ring lines");
_Static_assert(offsetof(struct tsm_ring, head) == 1 * TSM__CACHELINE, "head line");
_Static_assert(offsetof(struct tsm_ring, wpos) == 2 * TSM__CACHELINE, "producer line");
_Static_assert(offsetof(struct tsm_ring, tail) == 3 * TSM__CACHELINE, "tail line");
_Static_assert(offsetof(struct tsm_ring, head_cache) == 4 * TSM__CACHELINE, "consumer line");

int tsm_ring_create(size_t record_size, size_t capacity, unsigned batch, tsm_ring **out)
{
	tsm_ring *r;
	size_t bytes;
	uintptr_t base;
	void *raw;

	if (out)
		*out = NULL;
	if (!out)
		return TSM_FAIL(TSM_INVAL, "ring: no output pointer");
	if (record_size == 0 || record_size % 8 || record_size > RING_MAX_RECORD)
		return TSM_FAIL(TSM_INVAL, "ring: record size %zu (want a multiple of 8, 8..%u)",
				record_size, RING_MAX_RECORD);
	if (capacity < 2 || (capacity & (capacity - 1)))
		return TSM_FAIL(TSM_INVAL, "ring: capacity %zu is not a power of two >= 2",
				capacity);
	if (capacity > (SIZE_MAX - sizeof(*r) - TSM__CACHELINE) / record_size)
		return TSM_FAIL(TSM_INVAL, "ring: %zu records of %zu bytes overflow", capacity,
				record_size);
	bytes = sizeof(*r) + capacity * record_size + TSM__CACHELINE - 1;
	raw = tsm__malloc(bytes);
	if (!raw)
		return TSM_FAIL(TSM_NOMEM, "ring: %zu bytes", bytes);
	/* The allocation hooks promise no alignment beyond malloc's: align by hand. */
	base = ((uintptr_t)raw + TSM__CACHELINE - 1) & ~(uintptr_t)(TSM__CACHELINE - 1);
	r = (tsm_ring *)base;
	memset(r, 0, sizeof(*r));
	r->raw = raw;
	r->recs = (uint8_t *)(base + sizeof(*r));
	r->record_size = record_size;
	r->capacity = capacity;
	r->mask = capacity - 1;
	if (batch == 0)
		batch = 32;
	r->batch = batch > capacity ? (unsigned)capacity : batch;
	atomic_init(&r->head, 0);
	atomic_init(&r->wpos, 0);
	atomic_init(&r->dropped, 0);
	atomic_init(&r->tail, 0);
	*out = r;
	return 0;
}

void tsm_ring_destroy(tsm_ring *r)
{
	if (r)
		tsm__free(r->raw);
}

/* Cold half of try_push: the ring looked full through the cached tail. */
static __attribute__((noinline)) int push_slow(tsm_ring *r, uint64_t w)
{
	r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
	if (w - r->tail_cache < r->capacity)
		return 0;
	/* Really full. Make the staged records visible so the consumer can
	 * drain them and make room; then count the drop. */
	if (r->staged) {
		r->staged = 0;
		atomic_store_explicit(&r->head, w, memory_order_release);
	}
	atomic_store_explicit(&r->dropped,
			      atomic_load_explicit(&r->dropped, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	return TSM_AGAIN;
}

int tsm_ring_try_push(tsm_ring *r, const void *record)
{
	uint64_t w = atomic_load_explicit(&r->wpos, memory_order_relaxed);
	uint8_t *slot;

	if (TSM__UNLIKELY(w - r->tail_cache >= r->capacity) && push_slow(r, w))
		return TSM_AGAIN;
	slot = r->recs + (size_t)(w & r->mask) * r->record_size;
	/* Constant-size copies compile to a few vector moves; tsm_event is 128. */
	if (RING_TSAN)
		memcpy(slot, record, *(volatile size_t *)&r->record_size);
	else if (TSM__LIKELY(r->record_size == 128))
		memcpy(slot, record, 128);
	else if (r->record_size == 64)
		memcpy(slot, record, 64);
	else
		memcpy(slot, record, r->record_size);
	atomic_store_explicit(&r->wpos, w + 1, memory_order_relaxed);
	if (++r->staged >= r->batch) {
		r->staged = 0;
		atomic_store_explicit(&r->head, w + 1, memory_order_release);
	}
	return 0;
}

void tsm_ring_publish(tsm_ring *r)
{
	r->staged = 0;
	atomic_store_explicit(&r->head, atomic_load_explicit(&r->wpos, memory_order_relaxed),
			      memory_order_release);
}

size_t tsm_ring_peek(tsm_ring *r, const void **recs, size_t max)
{
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t idx = t & r->mask;
	uint64_t contig = r->capacity - idx;
	uint64_t want = max < contig ? max : contig;
	uint64_t avail = r->head_cache - t;

	/* Look at the producer's line only when the cached head cannot serve
	 * the whole request. */
	if (avail < want) {
		r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
		avail = r->head_cache - t;
	}
	if (avail > want)
		avail = want;
	*recs = avail ? r->recs + (size_t)idx * r->record_size : NULL;
	return (size_t)avail;
}

void tsm_ring_release(tsm_ring *r, size_t n)
{
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);

	/* Never give back more than was published: that would let the
	 * consumer run past the producer. */
	if (n > r->head_cache - t)
		n = (size_t)(r->head_cache - t);
	atomic_store_explicit(&r->tail, t + n, memory_order_release);
}

uint64_t tsm_ring_dropped(const tsm_ring *r)
{
	return atomic_load_explicit(&r->dropped, memory_order_relaxed);
}

uint64_t tsm_ring_pushed(const tsm_ring *r)
{
	return atomic_load_explicit(&r->wpos, memory_order_relaxed);
}

size_t tsm_ring_capacity(const tsm_ring *r)
{
	return (size_t)r->capacity;
}

size_t tsm_ring_record_size(const tsm_ring *r)
{
	return r->record_size;
}
