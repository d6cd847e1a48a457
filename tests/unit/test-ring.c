/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ring tests: single-thread behaviour (capacity, drops, wrap-around, peek
 * contiguity, publish batching, argument checks) and a two-thread stress
 * test. The stress test pushes sequence-numbered 64-byte records with a
 * checksum; the producer marks in a bitmap every sequence number it had to
 * drop, the consumer marks every one it received and checks that they
 * arrive strictly increasing and intact. After both threads are joined,
 * every sequence number must be in exactly one of the two bitmaps and
 * attempts == received + dropped == tsm_ring_pushed + tsm_ring_dropped.
 *
 * Record count: argv[1] or $TSM_RING_STRESS_N; else 1M when TSM_TEST_SCALE=small
 * (the sanitizer suites); else 8M (2M under ThreadSanitizer, ~10x slower).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "check.h"
#include "common/internal.h"
#include "tracesmith/ring.h"

#if defined(__SANITIZE_THREAD__)
#define STRESS_DEFAULT (2u << 20)
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define STRESS_DEFAULT (2u << 20)
#endif
#endif
#ifndef STRESS_DEFAULT
#define STRESS_DEFAULT (8u << 20)
#endif

struct rec {
	uint64_t seq;
	uint64_t payload[6];
	uint64_t sum;
};
_Static_assert(sizeof(struct rec) == 64, "64-byte record");

static uint64_t rec_sum(const struct rec *r)
{
	uint64_t h = r->seq;

	for (int i = 0; i < 6; i++)
		h = tsm__mix64(h ^ r->payload[i]);
	return h;
}

static void rec_fill(struct rec *r, uint64_t seq)
{
	r->seq = seq;
	for (int i = 0; i < 6; i++)
		r->payload[i] = seq * 0x9e3779b97f4a7c15ULL + (uint64_t)i;
	r->sum = rec_sum(r);
}

static void test_invalid_args(void)
{
	tsm_ring *r = (tsm_ring *)&r;

	CHECK_RC(tsm_ring_create(0, 16, 1, &r), TSM_INVAL);
	CHECK(r == NULL);
	CHECK_RC(tsm_ring_create(12, 16, 1, &r), TSM_INVAL);
	CHECK_RC(tsm_ring_create(4104, 16, 1, &r), TSM_INVAL);
	CHECK_RC(tsm_ring_create(64, 0, 1, &r), TSM_INVAL);
	CHECK_RC(tsm_ring_create(64, 1, 1, &r), TSM_INVAL);
	CHECK_RC(tsm_ring_create(64, 24, 1, &r), TSM_INVAL);
	CHECK_RC(tsm_ring_create(64, (size_t)1 << 62, 1, &r), TSM_INVAL);
	CHECK_RC(tsm_ring_create(64, 16, 1, NULL), TSM_INVAL);
	CHECK(strlen(tsm_last_error()) > 0);
	tsm_ring_destroy(NULL);

	CHECK_OK(tsm_ring_create(8, 2, 1, &r));
	CHECK(r && tsm_ring_capacity(r) == 2 && tsm_ring_record_size(r) == 8);
	tsm_ring_destroy(r);
	CHECK_OK(tsm_ring_create(4096, 4, 0, &r));
	CHECK(r && tsm_ring_record_size(r) == 4096);
	tsm_ring_destroy(r);
}

/* Fill to capacity, count drops, drain in order, check contents. */
static void test_fill_and_drop(size_t rs)
{
	uint64_t buf[512], seen = 0;
	const void *p;
	tsm_ring *r;
	size_t n;

	CHECK_OK(tsm_ring_create(rs, 8, 1, &r));
	if (!r)
		return;
	CHECK((uintptr_t)r % 64 == 0);
	for (uint64_t i = 0; i < 8; i++) {
		memset(buf, (int)i + 1, rs);
		buf[0] = i;
		CHECK_OK(tsm_ring_try_push(r, buf));
	}
	CHECK_RC(tsm_ring_try_push(r, buf), TSM_AGAIN);
	CHECK_RC(tsm_ring_try_push(r, buf), TSM_AGAIN);
	CHECK_EQ_U64(tsm_ring_dropped(r), 2);
	CHECK_EQ_U64(tsm_ring_pushed(r), 8);

	n = tsm_ring_peek(r, &p, 100);
	CHECK_EQ_U64(n, 8);
	CHECK((uintptr_t)p % 64 == 0);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *q = (const uint8_t *)p + i * rs;
		uint64_t v;

		memcpy(&v, q, 8);
		CHECK_EQ_U64(v, seen);
		if (rs > 8)
			CHECK(q[rs - 1] == (uint8_t)(seen + 1));
		seen++;
	}
	/* Still full until released. */
	CHECK_RC(tsm_ring_try_push(r, buf), TSM_AGAIN);
	tsm_ring_release(r, n);
	CHECK_EQ_U64(tsm_ring_peek(r, &p, 100), 0);
	CHECK(p == NULL);
	CHECK_OK(tsm_ring_try_push(r, buf));
	CHECK_EQ_U64(tsm_ring_dropped(r), 3);
	CHECK_EQ_U64(tsm_ring_pushed(r), 9);
	tsm_ring_destroy(r);
}

/* Peek stops at the end of the array; wrap-around keeps order. */
static void test_wrap_and_contiguity(void)
{
	const void *p, *base;
	uint64_t v, next = 0, want = 0;
	tsm_ring *r;
	size_t n;

	CHECK_OK(tsm_ring_create(16, 8, 1, &r));
	if (!r)
		return;
	for (int i = 0; i < 8; i++, next++)
		CHECK_OK(tsm_ring_try_push(r, (uint64_t[2]){next, ~next}));
	n = tsm_ring_peek(r, &base, 3);
	CHECK_EQ_U64(n, 3);
	tsm_ring_release(r, 3);
	want = 3;
	for (int i = 0; i < 3; i++, next++)
		CHECK_OK(tsm_ring_try_push(r, (uint64_t[2]){next, ~next}));
	/* Slots 3..7 are contiguous; the wrapped records 8..10 sit at slot 0. */
	n = tsm_ring_peek(r, &p, 100);
	CHECK_EQ_U64(n, 5);
	CHECK((const uint8_t *)p == (const uint8_t *)base + 3 * 16);
	for (size_t i = 0; i < n; i++, want++) {
		memcpy(&v, (const uint8_t *)p + i * 16, 8);
		CHECK_EQ_U64(v, want);
	}
	tsm_ring_release(r, n);
	n = tsm_ring_peek(r, &p, 100);
	CHECK_EQ_U64(n, 3);
	CHECK(p == base);
	for (size_t i = 0; i < n; i++, want++) {
		memcpy(&v, (const uint8_t *)p + i * 16, 8);
		CHECK_EQ_U64(v, want);
		memcpy(&v, (const uint8_t *)p + i * 16 + 8, 8);
		CHECK_EQ_U64(v, ~want);
	}
	/* Partial release: the rest is peeked again. */
	tsm_ring_release(r, 1);
	n = tsm_ring_peek(r, &p, 100);
	CHECK_EQ_U64(n, 2);
	CHECK((const uint8_t *)p == (const uint8_t *)base + 16);
	/* Releasing more than was published is clamped. */
	tsm_ring_release(r, 1000);
	CHECK_EQ_U64(tsm_ring_peek(r, &p, 100), 0);
	for (int i = 0; i < 8; i++, next++)
		CHECK_OK(tsm_ring_try_push(r, (uint64_t[2]){next, ~next}));
	CHECK_RC(tsm_ring_try_push(r, (uint64_t[2]){0, 0}), TSM_AGAIN);
	CHECK_EQ_U64(tsm_ring_dropped(r), 1);

	/* Many laps through a small ring keep order. */
	tsm_ring_release(r, tsm_ring_peek(r, &p, 100));
	tsm_ring_release(r, tsm_ring_peek(r, &p, 100));
	want = next;
	for (int lap = 0; lap < 1000; lap++) {
		for (int i = 0; i < 5; i++, next++)
			CHECK_OK(tsm_ring_try_push(r, (uint64_t[2]){next, ~next}));
		while ((n = tsm_ring_peek(r, &p, 2)) > 0) {
			for (size_t i = 0; i < n; i++, want++) {
				memcpy(&v, (const uint8_t *)p + i * 16, 8);
				if (v != want) {
					CHECK_EQ_U64(v, want);
					lap = 1000;
				}
			}
			tsm_ring_release(r, n);
		}
	}
	CHECK_EQ_U64(want, next);
	tsm_ring_destroy(r);
}

/* Records become visible every `batch` pushes or on publish, not before. */
static void test_publish_batching(void)
{
	uint64_t v[8] = {0};
	const void *p;
	tsm_ring *r;

	CHECK_OK(tsm_ring_create(64, 16, 4, &r));
	if (!r)
		return;
	for (int i = 0; i < 3; i++)
		CHECK_OK(tsm_ring_try_push(r, v));
	CHECK_EQ_U64(tsm_ring_pushed(r), 3);
	CHECK_EQ_U64(tsm_ring_peek(r, &p, 16), 0);
	CHECK_OK(tsm_ring_try_push(r, v));
	CHECK_EQ_U64(tsm_ring_peek(r, &p, 16), 4);
	CHECK_OK(tsm_ring_try_push(r, v));
	CHECK_EQ_U64(tsm_ring_peek(r, &p, 16), 4);
	tsm_ring_publish(r);
	CHECK_EQ_U64(tsm_ring_peek(r, &p, 16), 5);
	tsm_ring_release(r, 5);
	/* Publish with nothing staged is harmless. */
	tsm_ring_publish(r);
	CHECK_EQ_U64(tsm_ring_peek(r, &p, 16), 0);
	tsm_ring_destroy(r);

	/* When the ring is full, staged records are published so the consumer
	 * can make room even though the batch is not complete. */
	CHECK_OK(tsm_ring_create(64, 8, 8, &r));
	if (!r)
		return;
	for (uint64_t i = 0; i < 8; i++) {
		v[0] = i;
		CHECK_OK(tsm_ring_try_push(r, v));
	}
	CHECK_EQ_U64(tsm_ring_peek(r, &p, 3), 3);
	tsm_ring_release(r, 3);
	for (uint64_t i = 8; i < 11; i++) {
		v[0] = i;
		CHECK_OK(tsm_ring_try_push(r, v));
	}
	CHECK_EQ_U64(tsm_ring_peek(r, &p, 16), 5);    /* 3..7; 8..10 staged */
	CHECK_RC(tsm_ring_try_push(r, v), TSM_AGAIN); /* full: publishes 8..10 */
	CHECK_EQ_U64(tsm_ring_dropped(r), 1);
	tsm_ring_release(r, 5);
	CHECK_EQ_U64(tsm_ring_peek(r, &p, 16), 3);
	if (p)
		CHECK_EQ_U64(((const uint64_t *)p)[0], 8);
	tsm_ring_destroy(r);

	/* A batch larger than the ring is clamped to it: never stuck. */
	CHECK_OK(tsm_ring_create(64, 4, 1000, &r));
	if (!r)
		return;
	for (int i = 0; i < 4; i++)
		CHECK_OK(tsm_ring_try_push(r, v));
	CHECK_EQ_U64(tsm_ring_peek(r, &p, 16), 4);
	tsm_ring_destroy(r);
}

/* ---- two-thread stress ------------------------------------------------ */

struct stress {
	tsm_ring *ring;
	uint64_t n;
	uint8_t *dropped_map;  /* producer writes, read after join */
	uint8_t *received_map; /* consumer writes, read after join */
	_Atomic int done;
	uint64_t attempts, drops_seen; /* producer's own counts */
	uint64_t received, bad_order, bad_sum, consumer_stalls;
	int retry; /* producer retries a failed push instead of giving the record up */
};

static void map_set(uint8_t *m, uint64_t i)
{
	m[i >> 3] |= (uint8_t)(1u << (i & 7));
}

static int map_get(const uint8_t *m, uint64_t i)
{
	return (m[i >> 3] >> (i & 7)) & 1;
}

static void *producer(void *arg)
{
	struct stress *s = arg;
	struct rec rec;

	for (uint64_t seq = 0; seq < s->n; seq++) {
		rec_fill(&rec, seq);
		for (;;) {
			s->attempts++;
			if (tsm_ring_try_push(s->ring, &rec) == 0)
				break;
			s->drops_seen++;
			if (!s->retry) {
				map_set(s->dropped_map, seq);
				break;
			}
			sched_yield();
		}
	}
	tsm_ring_publish(s->ring);
	atomic_store_explicit(&s->done, 1, memory_order_release);
	return NULL;
}

static void *consumer(void *arg)
{
	struct stress *s = arg;
	uint64_t next = 0, rng = 88172645463325252ULL;
	int first = 1;

	for (;;) {
		const void *p;
		size_t max, n;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		max = 1 + (size_t)(rng % 256);
		n = tsm_ring_peek(s->ring, &p, max);
		if (n == 0) {
			if (atomic_load_explicit(&s->done, memory_order_acquire)) {
				n = tsm_ring_peek(s->ring, &p, max);
				if (n == 0)
					break;
			} else {
				s->consumer_stalls++;
				sched_yield();
				continue;
			}
		}
		for (size_t i = 0; i < n; i++) {
			const struct rec *r = (const struct rec *)p + i;

			if (r->sum != rec_sum(r))
				s->bad_sum++;
			if (!first && r->seq <= next)
				s->bad_order++;
			else if (r->seq < s->n)
				map_set(s->received_map, r->seq);
			next = r->seq;
			first = 0;
		}
		s->received += n;
		tsm_ring_release(s->ring, n);
		/* Now and then fall behind, so that the producer meets a full ring. */
		if ((rng & 0xfff) == 0)
			for (volatile int spin = 0; spin < 20000; spin++)
				;
	}
	return NULL;
}

static void run_stress(uint64_t n, size_t capacity, unsigned batch, int retry)
{
	struct stress s = {.n = n, .retry = retry};
	uint64_t missing = 0, both = 0, dropped_bits = 0;
	pthread_t pt, ct;

	atomic_init(&s.done, 0);
	CHECK_OK(tsm_ring_create(sizeof(struct rec), capacity, batch, &s.ring));
	s.dropped_map = calloc(n / 8 + 1, 1);
	s.received_map = calloc(n / 8 + 1, 1);
	if (!s.ring || !s.dropped_map || !s.received_map) {
		CHECK(!"stress setup");
		goto out;
	}
	CHECK(pthread_create(&ct, NULL, consumer, &s) == 0);
	CHECK(pthread_create(&pt, NULL, producer, &s) == 0);
	pthread_join(pt, NULL);
	pthread_join(ct, NULL);

	for (uint64_t i = 0; i < n; i++) {
		int d = map_get(s.dropped_map, i), r = map_get(s.received_map, i);

		dropped_bits += (uint64_t)d;
		missing += (uint64_t)(!d && !r);
		both += (uint64_t)(d && r);
	}
	printf("stress n=%" PRIu64 " cap=%zu batch=%u retry=%d: received %" PRIu64
	       " dropped %" PRIu64 " (consumer idle polls %" PRIu64 ")\n",
	       n, capacity, batch, retry, s.received, tsm_ring_dropped(s.ring), s.consumer_stalls);
	CHECK_EQ_U64(s.bad_sum, 0);
	CHECK_EQ_U64(s.bad_order, 0);
	CHECK_EQ_U64(missing, 0);
	CHECK_EQ_U64(both, 0);
	CHECK_EQ_U64(s.attempts, tsm_ring_pushed(s.ring) + tsm_ring_dropped(s.ring));
	CHECK_EQ_U64(s.drops_seen, tsm_ring_dropped(s.ring));
	CHECK_EQ_U64(s.received, tsm_ring_pushed(s.ring));
	if (retry) {
		CHECK_EQ_U64(s.received, n);
		CHECK_EQ_U64(dropped_bits, 0);
	} else {
		CHECK_EQ_U64(n, s.received + tsm_ring_dropped(s.ring));
		CHECK_EQ_U64(dropped_bits, tsm_ring_dropped(s.ring));
	}
out:
	free(s.dropped_map);
	free(s.received_map);
	tsm_ring_destroy(s.ring);
}

int main(int argc, char **argv)
{
	uint64_t n = STRESS_DEFAULT;
	const char *env = getenv("TSM_RING_STRESS_N");

	if (argc > 1)
		n = strtoull(argv[1], NULL, 0);
	else if (env && *env)
		n = strtoull(env, NULL, 0);
	else if (getenv("TSM_TEST_SCALE") && !strcmp(getenv("TSM_TEST_SCALE"), "small"))
		n = 1u << 20; /* sanitizer suites: still a million records */
	if (n < 1000)
		n = 1000;

	test_invalid_args();
	test_fill_and_drop(8);
	test_fill_and_drop(24);
	test_fill_and_drop(64);
	test_fill_and_drop(128);
	test_fill_and_drop(4096);
	test_wrap_and_contiguity();
	test_publish_batching();

	/* Lossy producer, default batch: the main case. */
	run_stress(n, 4096, 0, 0);
	/* Every push published, tiny ring: maximum index traffic and wrap-around. */
	run_stress(n / 8, 16, 1, 0);
	/* Retrying producer: nothing may be lost, order must hold. */
	run_stress(n / 8, 64, 8, 1);
	return check_done("test-ring");
}
