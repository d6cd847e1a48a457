/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-ring: throughput of the SPSC ring, producer and consumer on
 * different cores, 64-byte records, against what the machine allows.
 *
 *   bench-ring [RECORDS [CAPACITY [quick]]]   (default 50M records, capacity 16384;
 *                                             quick: the main row and baseline only)
 *
 * Measured in one run:
 *   ring       producer pushes RECORDS records (sequence number + payload),
 *              retrying when full; consumer peeks/releases in batches and
 *              reads every record (checks the sequence). Time from start to
 *              the last record received, per record. With batch 32 (the
 *              default) and batch 1 (head published on every push).
 *   memcpy     baseline: one thread copies the same records, 64 bytes at a
 *              time, into a buffer sized like the ring's array (so it stays
 *              in cache): the copy the producer does, with no second core.
 *   bulk       one thread memcpy()s the ring-sized buffer as a whole, the
 *              same total bytes: the cache's copy bandwidth.
 *   ping-pong  two threads bounce one cache line: the one-way latency of a
 *              cross-core cache line transfer.
 *
 * What the hardware allows: every record is one cache line that must move
 * from the producer's core to the consumer's. Moved one at a time that
 * costs the ping-pong latency per record; the consumer's loads of
 * consecutive lines overlap (hardware prefetch, several misses in flight),
 * so the floor is about latency / lines-in-flight, and never below the
 * single-core copy (memcpy row). The report prints both.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tracesmith/ring.h"

#define REC 64

struct rec {
	uint64_t seq;
	uint64_t payload[7];
};

/*
 * Where the producer's records come from. A record written just before it
 * is pushed costs a store-forwarding stall in the copy (the 8-byte seq
 * store cannot forward into the copy's 16/32-byte loads) on top of the
 * transfer; "prepared" records are written SRC_AHEAD pushes early, so only
 * the transfer is measured. Both are reported.
 */
#define SRC	  256
#define SRC_AHEAD 128
static _Alignas(64) struct rec src_recs[SRC];

static int ncpu;
static int pin_ok = 1;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static void pin(int cpu)
{
	cpu_set_t set;

	if (ncpu < 2)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu % ncpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
		pin_ok = 0;
}

struct run {
	tsm_ring *ring;
	uint64_t n;
	size_t cap, min_batch;
	int fresh; /* build each record just before pushing it */
	_Atomic int ready;
	uint64_t t_start, t_end;
	uint64_t full_spins, empty_spins, bad;
};

static void *producer(void *arg)
{
	struct run *r = arg;
	struct rec rec;

	pin(0);
	memset(&rec, 0xab, sizeof(rec));
	atomic_fetch_add_explicit(&r->ready, 1, memory_order_acq_rel);
	while (atomic_load_explicit(&r->ready, memory_order_acquire) < 2)
		cpu_relax();
	r->t_start = tsm_now_ns();
	for (uint64_t i = 0; i < r->n; i++) {
		const struct rec *p = &rec;

		if (r->fresh) {
			rec.seq = i;
		} else {
			src_recs[(i + SRC_AHEAD) % SRC].seq = i + SRC_AHEAD;
			p = &src_recs[i % SRC];
		}
		while (tsm_ring_try_push(r->ring, p) != 0) {
			r->full_spins++;
			if (ncpu < 2)
				sched_yield();
			else
				cpu_relax();
		}
	}
	tsm_ring_publish(r->ring);
	return NULL;
}

static void *consumer(void *arg)
{
	struct run *r = arg;
	uint64_t next = 0, bad = 0;

	pin(1);
	atomic_fetch_add_explicit(&r->ready, 1, memory_order_acq_rel);
	while (atomic_load_explicit(&r->ready, memory_order_acquire) < 2)
		cpu_relax();
	while (next < r->n) {
		const void *p;
		size_t k = tsm_ring_peek(r->ring, &p, 1024);
		size_t contig = r->cap - (size_t)(next & (r->cap - 1));

		/* A consumer right behind the producer pulls every line while it
		 * is still being written; like the collector (which sleeps when
		 * idle), wait until a batch has accumulated. */
		if (k < r->min_batch && k < contig && next + k < r->n) {
			r->empty_spins++;
			for (int s = 0; s < 16; s++)
				cpu_relax();
			continue;
		}
		if (!k) {
			r->empty_spins++;
			if (ncpu < 2)
				sched_yield();
			else
				cpu_relax();
			continue;
		}
		for (size_t i = 0; i < k; i++, next++)
			bad += ((const struct rec *)p)[i].seq != next;
		tsm_ring_release(r->ring, k);
	}
	r->t_end = tsm_now_ns();
	r->bad = bad;
	return NULL;
}

/* ns per record for one producer/consumer transfer of n records. */
static void init_src(void)
{
	memset(src_recs, 0xab, sizeof(src_recs));
	for (uint64_t i = 0; i < SRC; i++)
		src_recs[i].seq = i;
}

static double run_ring(uint64_t n, size_t cap, unsigned batch, size_t min_batch, int fresh,
		       struct run *out)
{
	struct run r = {.n = n, .cap = cap, .min_batch = min_batch ? min_batch : 1, .fresh = fresh};

	init_src();
	pthread_t pt, ct;

	atomic_init(&r.ready, 0);
	if (tsm_ring_create(REC, cap, batch, &r.ring) != 0) {
		fprintf(stderr, "bench-ring: ring: %s\n", tsm_last_error());
		exit(1);
	}
	if (pthread_create(&ct, NULL, consumer, &r) || pthread_create(&pt, NULL, producer, &r)) {
		fprintf(stderr, "bench-ring: pthread_create failed\n");
		exit(1);
	}
	pthread_join(pt, NULL);
	pthread_join(ct, NULL);
	if (r.bad) {
		fprintf(stderr, "bench-ring: %llu records out of order\n",
			(unsigned long long)r.bad);
		exit(1);
	}
	tsm_ring_destroy(r.ring);
	r.ring = NULL;
	if (out)
		*out = r;
	return (double)(r.t_end - r.t_start) / (double)n;
}

/* Baseline: the producer's copies alone, into a ring-sized buffer. */
static double run_memcpy(uint64_t n, size_t cap, int fresh, uint64_t *sink)
{
	uint8_t *buf = aligned_alloc(64, cap * REC);
	struct rec rec;
	uint64_t t0, t1, s = 0;

	memset(buf, 0, cap * REC);
	memset(&rec, 0xab, sizeof(rec));
	init_src();
	t0 = tsm_now_ns();
	for (uint64_t i = 0; i < n; i++) {
		const struct rec *p = &rec;

		if (fresh) {
			rec.seq = i;
		} else {
			src_recs[(i + SRC_AHEAD) % SRC].seq = i + SRC_AHEAD;
			p = &src_recs[i % SRC];
		}
		memcpy(buf + (i & (cap - 1)) * REC, p, REC);
		/* Keep the compiler from dropping or merging the copies. */
		__asm__ __volatile__("" : : "r"(buf) : "memory");
	}
	t1 = tsm_now_ns();
	for (size_t i = 0; i < cap; i++)
		s += ((struct rec *)buf)[i].seq;
	*sink += s;
	free(buf);
	return (double)(t1 - t0) / (double)n;
}

/* The cache's copy bandwidth: the same bytes, in ring-sized memcpy calls. */
static double run_bulk(uint64_t n, size_t cap, uint64_t *sink)
{
	size_t bytes = cap * REC;
	uint8_t *a = aligned_alloc(64, bytes), *b = aligned_alloc(64, bytes);
	uint64_t rounds = n / cap, t0, t1;

	memset(a, 1, bytes);
	memset(b, 2, bytes);
	t0 = tsm_now_ns();
	for (uint64_t i = 0; i < rounds; i++) {
		memcpy((i & 1) ? a : b, (i & 1) ? b : a, bytes);
		__asm__ __volatile__("" : : "r"(a), "r"(b) : "memory");
	}
	t1 = tsm_now_ns();
	*sink += a[bytes - 1] + b[0];
	free(a);
	free(b);
	return (double)(t1 - t0) / (double)(rounds * cap);
}

/* One-way latency of a cache line between the two cores. */
static struct {
	_Alignas(64) _Atomic uint64_t v;
} line;
static uint64_t pp_rounds = 1000000;

static void *pong(void *unused)
{
	(void)unused;
	pin(1);
	for (uint64_t i = 1; i <= pp_rounds; i++) {
		while (atomic_load_explicit(&line.v, memory_order_acquire) != 2 * i - 1)
			cpu_relax();
		atomic_store_explicit(&line.v, 2 * i, memory_order_release);
	}
	return NULL;
}

static double run_pingpong(void)
{
	pthread_t t;
	uint64_t t0, t1;

	if (ncpu < 2)
		return 0;
	atomic_store(&line.v, 0);
	pin(0);
	pthread_create(&t, NULL, pong, NULL);
	t0 = tsm_now_ns();
	for (uint64_t i = 1; i <= pp_rounds; i++) {
		atomic_store_explicit(&line.v, 2 * i - 1, memory_order_release);
		while (atomic_load_explicit(&line.v, memory_order_acquire) != 2 * i)
			cpu_relax();
	}
	t1 = tsm_now_ns();
	pthread_join(t, NULL);
	return (double)(t1 - t0) / (double)(2 * pp_rounds);
}

struct row {
	const char *name, *key;
	double ns;
};

int main(int argc, char **argv)
{
	uint64_t n = 50000000, sink = 0;
	size_t cap = 16384, lag = 256;
	struct run st = {0}, best_st = {0};
	double best = 1e30, pp;
	struct row rows[9];
	int nr = 0, quick = 0;

	if (argc > 1)
		n = strtoull(argv[1], NULL, 0);
	if (argc > 2)
		cap = (size_t)strtoull(argv[2], NULL, 0);
	if (argc > 3)
		quick = strcmp(argv[3], "quick") == 0;
	if (n < 100000)
		n = 100000;
	if (cap < 2 || (cap & (cap - 1))) {
		fprintf(stderr, "bench-ring: capacity must be a power of two\n");
		return 2;
	}
	if (lag > cap / 2)
		lag = cap / 2;
	ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);

	pp = run_pingpong();
	/* Warm up (page faults, clock ramp), then the measured runs; the best of
	 * three for the main row, as usual for a throughput number. */
	run_ring(n / 10, cap, 32, lag, 0, NULL);
	for (int i = 0; i < 3; i++) {
		double v = run_ring(n, cap, 32, lag, 0, &st);

		if (v < best) {
			best = v;
			best_st = st;
		}
	}
	rows[nr++] = (struct row){"ring, batch 32 (best of 3)", "ring_ns", best};
	rows[nr++] = (struct row){"memcpy 64 B/record, 1 thread (baseline)", "memcpy_ns",
				  run_memcpy(n, cap, 0, &sink)};
	if (quick)
		goto report;
	rows[nr++] = (struct row){"ring, batch 32, consumer polls tightly", "ring_tight_ns",
				  run_ring(n / 2, cap, 32, 1, 0, NULL)};
	rows[nr++] =
	    (struct row){"ring, batch 1", "ring_batch1_ns", run_ring(n / 2, cap, 1, lag, 0, NULL)};
	rows[nr++] = (struct row){"ring, batch 1, consumer polls tightly", "ring_batch1_tight_ns",
				  run_ring(n / 5, cap, 1, 1, 0, NULL)};
	rows[nr++] = (struct row){"ring, batch 32, record built at push", "ring_fresh_ns",
				  run_ring(n / 2, cap, 32, lag, 1, NULL)};
	rows[nr++] = (struct row){"memcpy, record built at copy", "memcpy_fresh_ns",
				  run_memcpy(n / 2, cap, 1, &sink)};
	rows[nr++] = (struct row){"bulk memcpy of ring-sized blocks", "bulk_memcpy_ns",
				  run_bulk(n, cap, &sink)};
report:
	rows[nr++] = (struct row){"cache line ping-pong, one way", "line_transfer_ns", pp};

	printf("bench-ring: %llu records of %d bytes, ring of %zu (%zu KiB), %d cpus%s\n",
	       (unsigned long long)n, REC, cap, cap * REC / 1024, ncpu,
	       ncpu < 2 ? " (one cpu: threads share it)"
	       : pin_ok ? ", producer on cpu 0, consumer on cpu 1"
			: " (pinning failed: threads float)");
	printf("  consumer takes batches of >= %zu records unless noted (as the collector does)\n",
	       lag);
	printf("  %-42s %8s %8s\n", "case", "ns/rec", "GB/s");
	for (int i = 0; i < nr; i++)
		printf("  %-42s %8.2f %8.2f\n", rows[i].name, rows[i].ns,
		       rows[i].ns > 0 && i < nr - 1 ? REC / rows[i].ns : 0.0);
	printf("  main row: producer found the ring full %llu times, consumer waited %llu times\n",
	       (unsigned long long)best_st.full_spins, (unsigned long long)best_st.empty_spins);
	printf("BENCH {\"bench\":\"ring\",\"records\":%llu,\"record_bytes\":%d,\"capacity\":%zu,"
	       "\"cpus\":%d,\"pinned\":%s",
	       (unsigned long long)n, REC, cap, ncpu, ncpu >= 2 && pin_ok ? "true" : "false");
	for (int i = 0; i < nr; i++)
		printf(",\"%s\":%.3f", rows[i].key, rows[i].ns);
	printf("}\n");
	return (int)(sink & 0);
}
