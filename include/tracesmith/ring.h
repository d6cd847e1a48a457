/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tracesmith/ring.h - lock-free SPSC ring of fixed-size records, and the
 * collector: one writer thread that drains many rings into one SBT writer.
 *
 * The ring has exactly one producer thread and one consumer thread. The
 * producer never blocks: tsm_ring_try_push returns TSM_AGAIN when the
 * ring is full and counts the record as dropped. The memory-ordering
 * protocol is described at the top of src/ring/ring.c and in
 * docs/design/ring.md.
 */
#ifndef TRACESMITH_RING_H
#define TRACESMITH_RING_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "format.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tsm_ring tsm_ring;

/*
 * Create a ring of `capacity` records (a power of two >= 2) of
 * `record_size` bytes (a multiple of 8, <= 4096). The producer publishes
 * its head every `batch` pushes (1: every push; 0: default 32) or when it
 * calls tsm_ring_publish. Returns 0, TSM_INVAL or TSM_NOMEM.
 */
TSM_API int tsm_ring_create(size_t record_size, size_t capacity, unsigned batch, tsm_ring **out);
TSM_API void tsm_ring_destroy(tsm_ring *r);

/* Producer side. */

/* Copy one record in. Returns 0, or TSM_AGAIN when full (the record is
 * counted as dropped). Never blocks. */
TSM_API int tsm_ring_try_push(tsm_ring *r, const void *record);

/* Make every pushed record visible to the consumer now. */
TSM_API void tsm_ring_publish(tsm_ring *r);

/* Consumer side. */

/*
 * Borrow up to `max` records that are contiguous in memory; the count is
 * returned (0: empty) and *recs points at the first. The records stay
 * valid until tsm_ring_release.
 */
TSM_API size_t tsm_ring_peek(tsm_ring *r, const void **recs, size_t max);

/* Give back the first `n` records borrowed by tsm_ring_peek. */
TSM_API void tsm_ring_release(tsm_ring *r, size_t n);

/* Any thread; monotonic; exact once the producer has stopped. */
TSM_API uint64_t tsm_ring_dropped(const tsm_ring *r);
TSM_API uint64_t tsm_ring_pushed(const tsm_ring *r);
TSM_API size_t tsm_ring_capacity(const tsm_ring *r);
TSM_API size_t tsm_ring_record_size(const tsm_ring *r);

/* ---- collector ------------------------------------------------------- */

typedef struct tsm_collector tsm_collector;

typedef struct tsm_collector_opts {
	size_t ring_capacity;	    /* events per producer ring; 0: 65536 */
	unsigned publish_batch;	    /* see tsm_ring_create; 0: default */
	uint64_t flush_interval_ns; /* flush the writer at least this often; 0: 1 s */
	uint64_t idle_sleep_ns;	    /* consumer sleep when all rings are empty; 0: 200 us */
} tsm_collector_opts;

/*
 * Start a writer thread that drains every ring registered with the
 * collector into `w`. The collector borrows `w` until tsm_collector_stop;
 * nobody else may call tsm_writer_write meanwhile. Returns 0, TSM_NOMEM
 * or TSM_IO (thread creation).
 */
TSM_API int tsm_collector_start(tsm_writer *w, const tsm_collector_opts *opts, tsm_collector **out);

/*
 * A new producer ring of tsm_event records owned by the collector. The
 * calling thread becomes its only producer. Returns 0 or TSM_NOMEM.
 */
TSM_API int tsm_collector_add_ring(tsm_collector *c, tsm_ring **ring);

/*
 * Push one event into a producer ring; tsm_ring_try_push for events.
 * Dropped events are counted per ring; the collector writes a DROPPED
 * event (source TSM_DROP_RING, tid of the ring's producer if set with
 * tsm_collector_set_ring_tid) whenever a ring's drop count grows.
 */
static inline int tsm_collector_push(tsm_ring *ring, const tsm_event *ev)
{
	return tsm_ring_try_push(ring, ev);
}

/* Who produces into `ring` (pid, tid), for its DROPPED records. */
TSM_API void tsm_collector_set_ring_owner(tsm_collector *c, tsm_ring *ring, uint32_t pid,
					  uint64_t tid);

typedef struct tsm_collector_stats {
	uint64_t events; /* events handed to the writer */
	uint64_t
	    dropped; /* events lost: dropped in full rings, or drained but refused by the writer */
	uint64_t rings;
	uint64_t flushes;
	int writer_error; /* first error returned by the writer, 0 if none */
} tsm_collector_stats;

TSM_API void tsm_collector_get_stats(const tsm_collector *c, tsm_collector_stats *st);

/*
 * Ask the writer thread to flush soon (non-blocking; safe from any thread).
 */
TSM_API void tsm_collector_request_flush(tsm_collector *c);

/*
 * Drain every ring one last time (producers must have stopped pushing and
 * called tsm_ring_publish), write drop records, flush the writer, join the
 * thread and free the collector and its rings. The writer stays open.
 * Returns the first writer error, if any. NULL is accepted.
 */
TSM_API int tsm_collector_stop(tsm_collector *c);

#ifdef __cplusplus
}
#endif
#endif
