/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Collector tests: producer threads push events through their rings, the
 * collector writes an SBT file, and the file is read back with tsm_reader.
 *
 *  lossless   several producers retry when their ring is full: every event
 *             (unique correlation id) must arrive exactly once, and the
 *             DROPPED counts in the file must equal the failed pushes.
 *  overload   tiny rings, producers never retry: received + dropped ==
 *             sent, DROPPED counts == tsm_ring_dropped totals, and each
 *             DROPPED record names the ring owner's pid/tid.
 *  flush      request_flush wakes a collector that sleeps 2 s and the
 *             events become readable while the writer is still open; stop
 *             also returns promptly.
 *  rejected   an invalid event is skipped and reported as a WRITER drop;
 *             the other events still arrive; stop returns the error.
 *  dead       the writer fails for good (broken pipe): the collector keeps
 *             draining so producers never see a full ring forever, and
 *             sent == stats.events + stats.dropped.
 *
 * Event count per producer: argv[1] or $TSM_COLLECTOR_N (default 100000).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "tracesmith/format.h"
#include "tracesmith/ring.h"

#define MAXP 8

static uint64_t per_producer = 100000;
static int file_seq;

static void tmp_path(char *buf, size_t len, const char *what)
{
	const char *dir = getenv("TMPDIR");

	if (!dir || !*dir)
		dir = "/tmp";
	snprintf(buf, len, "%s/tsm-test-collector-%d-%d-%s.sbt", dir, (int)getpid(), file_seq++,
		 what);
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
			      .tv_nsec = (long)(ns % 1000000000u)};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void make_event(tsm_event *ev, uint32_t name, unsigned p, uint64_t i)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = TSM_EV_RUNTIME;
	ev->device = TSM_DEVICE_NONE;
	ev->name = name;
	ev->start_ns = 1000 + i * 100 + p;
	ev->end_ns = ev->start_ns + 40;
	ev->pid = 4242;
	ev->tid = 100 + p;
	ev->correlation = ((uint64_t)(p + 1) << 32) | i;
	ev->u.api.cbid = 211;
}

struct producer {
	pthread_t thread;
	tsm_collector *c;
	tsm_ring *ring;
	unsigned id;
	uint32_t name;
	uint64_t n;
	int retry;
	uint64_t sent, failed; /* read after join */
	uint64_t ring_dropped, ring_pushed;
	int add_rc;
	pthread_barrier_t *go;
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	tsm_event ev;

	p->add_rc = tsm_collector_add_ring(p->c, &p->ring);
	if (p->add_rc == 0)
		tsm_collector_set_ring_owner(p->c, p->ring, 777, 9000 + p->id);
	pthread_barrier_wait(p->go);
	if (p->add_rc)
		return NULL;
	for (uint64_t i = 0; i < p->n; i++) {
		make_event(&ev, p->name, p->id, i);
		while (tsm_collector_push(p->ring, &ev) != 0) {
			p->failed++;
			if (!p->retry)
				break;
			sched_yield();
		}
		p->sent++;
	}
	tsm_ring_publish(p->ring);
	p->ring_dropped = tsm_ring_dropped(p->ring);
	p->ring_pushed = tsm_ring_pushed(p->ring);
	return NULL;
}

struct readback {
	uint64_t events, dropped_ring, dropped_writer, drop_records, bad_owner, dup, foreign;
	uint8_t *seen[MAXP];
	int rc;
};

static void read_back(const char *path, unsigned np, uint64_t n, struct readback *rb)
{
	const tsm_event *ev;
	tsm_reader *r = NULL;
	int rc;

	memset(rb, 0, sizeof(*rb));
	for (unsigned p = 0; p < np; p++)
		rb->seen[p] = calloc(n + 1, 1);
	rb->rc = tsm_reader_open(path, 0, &r);
	if (rb->rc < 0) {
		fprintf(stderr, "reader_open %s: %s: %s\n", path, tsm_status_name(rb->rc),
			tsm_last_error());
		return;
	}
	while ((rc = tsm_reader_next(r, &ev)) == 0) {
		if (ev->kind == TSM_EV_DROPPED) {
			rb->drop_records++;
			if (ev->u.dropped.source == TSM_DROP_RING)
				rb->dropped_ring += ev->u.dropped.count;
			else if (ev->u.dropped.source == TSM_DROP_WRITER)
				rb->dropped_writer += ev->u.dropped.count;
			if (ev->pid != 777 || ev->tid < 9000 || ev->tid >= 9000 + np)
				rb->bad_owner++;
			continue;
		}
		uint64_t p = (ev->correlation >> 32) - 1, i = ev->correlation & 0xffffffffu;

		if (p >= np || i >= n || ev->tid != 100 + p || ev->start_ns != 1000 + i * 100 + p) {
			rb->foreign++;
			continue;
		}
		if (rb->seen[p][i]++)
			rb->dup++;
		rb->events++;
	}
	rb->rc = rc == TSM_END ? 0 : rc;
	if (rc != TSM_END)
		fprintf(stderr, "reader_next %s: %s: %s\n", path, tsm_status_name(rc),
			tsm_last_error());
	tsm_reader_close(r);
}

static void free_readback(struct readback *rb)
{
	for (unsigned p = 0; p < MAXP; p++)
		free(rb->seen[p]);
}

/* Run `np` producers through one collector into `path`. */
static int run_producers(const char *path, const tsm_collector_opts *opts, unsigned np, uint64_t n,
			 int retry, struct producer *prod, tsm_collector_stats *st)
{
	pthread_barrier_t go;
	tsm_collector *c = NULL;
	tsm_writer *w = NULL;
	uint32_t name = 0;
	int rc, stop_rc;

	rc = tsm_writer_open(path, NULL, &w);
	CHECK_OK(rc);
	if (rc)
		return rc;
	CHECK_OK(tsm_intern_str(tsm_writer_strings(w), "cudaLaunchKernel", &name));
	CHECK_OK(tsm_collector_start(w, opts, &c));
	if (!c) {
		tsm_writer_close(w);
		return -1;
	}
	pthread_barrier_init(&go, NULL, np + 1);
	for (unsigned p = 0; p < np; p++) {
		prod[p] = (struct producer){
		    .c = c, .id = p, .name = name, .n = n, .retry = retry, .go = &go};
		CHECK(pthread_create(&prod[p].thread, NULL, produce, &prod[p]) == 0);
	}
	pthread_barrier_wait(&go);
	for (unsigned p = 0; p < np; p++) {
		pthread_join(prod[p].thread, NULL);
		CHECK_OK(prod[p].add_rc);
	}
	pthread_barrier_destroy(&go);
	tsm_collector_get_stats(c, st);
	CHECK_EQ_U64(st->rings, np);
	stop_rc = tsm_collector_stop(c);
	CHECK_OK(stop_rc);
	CHECK_OK(tsm_writer_close(w));
	return stop_rc;
}

static void test_lossless(void)
{
	tsm_collector_opts opts = {.ring_capacity = 1024, .flush_interval_ns = 2000000};
	struct producer prod[4];
	tsm_collector_stats st;
	struct readback rb;
	uint64_t failed = 0, sent = 0;
	char path[512];

	tmp_path(path, sizeof(path), "lossless");
	if (run_producers(path, &opts, 4, per_producer, 1, prod, &st))
		goto out;
	for (int p = 0; p < 4; p++) {
		sent += prod[p].sent;
		failed += prod[p].failed;
		CHECK_EQ_U64(prod[p].ring_dropped, prod[p].failed);
		CHECK_EQ_U64(prod[p].ring_pushed, per_producer);
	}
	read_back(path, 4, per_producer, &rb);
	CHECK_OK(rb.rc);
	printf("lossless: %" PRIu64 " events, %" PRIu64 " failed pushes (retried), %" PRIu64
	       " drop records\n",
	       rb.events, failed, rb.drop_records);
	CHECK_EQ_U64(sent, 4 * per_producer);
	CHECK_EQ_U64(rb.events, sent);
	CHECK_EQ_U64(rb.dup, 0);
	CHECK_EQ_U64(rb.foreign, 0);
	CHECK_EQ_U64(rb.dropped_ring, failed);
	CHECK_EQ_U64(rb.dropped_writer, 0);
	CHECK_EQ_U64(rb.bad_owner, 0);
	for (int p = 0; p < 4 && rb.seen[p]; p++)
		for (uint64_t i = 0; i < per_producer; i++)
			if (rb.seen[p][i] != 1) {
				CHECK(!"every event exactly once");
				p = 4;
				break;
			}
	free_readback(&rb);
out:
	unlink(path);
}

static void test_overload(void)
{
	tsm_collector_opts opts = {.ring_capacity = 8, .publish_batch = 1};
	struct producer prod[3];
	tsm_collector_stats st;
	struct readback rb;
	uint64_t sent = 0, dropped = 0;
	char path[512];

	tmp_path(path, sizeof(path), "overload");
	if (run_producers(path, &opts, 3, per_producer, 0, prod, &st))
		goto out;
	for (int p = 0; p < 3; p++) {
		sent += prod[p].sent;
		dropped += prod[p].ring_dropped;
		CHECK_EQ_U64(prod[p].ring_dropped, prod[p].failed);
		CHECK_EQ_U64(prod[p].ring_pushed + prod[p].ring_dropped, per_producer);
	}
	read_back(path, 3, per_producer, &rb);
	CHECK_OK(rb.rc);
	printf("overload: sent %" PRIu64 ", received %" PRIu64 ", dropped %" PRIu64 " in %" PRIu64
	       " drop records\n",
	       sent, rb.events, rb.dropped_ring, rb.drop_records);
	/* Rings of 8 against producers that never wait must overflow. */
	CHECK(dropped > 0);
	CHECK(rb.drop_records > 0);
	CHECK_EQ_U64(rb.events + rb.dropped_ring, sent);
	CHECK_EQ_U64(rb.dropped_ring, dropped);
	CHECK_EQ_U64(rb.dup, 0);
	CHECK_EQ_U64(rb.foreign, 0);
	CHECK_EQ_U64(rb.bad_owner, 0);
	free_readback(&rb);
out:
	unlink(path);
}

/* Events readable in the file so far (the writer is still open). */
static uint64_t events_in_file(const char *path)
{
	const tsm_event *ev;
	tsm_reader *r;
	uint64_t n = 0;

	if (tsm_reader_open(path, 0, &r) < 0)
		return 0;
	while (tsm_reader_next(r, &ev) == 0)
		n += ev->kind != TSM_EV_DROPPED;
	tsm_reader_close(r);
	return n;
}

static void test_flush_and_wakeup(void)
{
	tsm_collector_opts opts = {.ring_capacity = 1024,
				   .flush_interval_ns = 60ull * 1000000000u,
				   .idle_sleep_ns = 2000000000u};
	tsm_collector_stats st;
	tsm_collector *c = NULL;
	tsm_writer *w = NULL;
	tsm_ring *ring = NULL;
	uint64_t t0, waited;
	uint32_t name;
	tsm_event ev;
	char path[512];

	tmp_path(path, sizeof(path), "flush");
	CHECK_OK(tsm_writer_open(path, NULL, &w));
	if (!w)
		return;
	CHECK_OK(tsm_intern_str(tsm_writer_strings(w), "cudaMemcpyAsync", &name));
	CHECK_OK(tsm_collector_start(w, &opts, &c));
	CHECK_OK(tsm_collector_add_ring(c, &ring));
	if (!c || !ring)
		goto out;
	/* Let the thread fall asleep on its 2 s idle timeout. */
	sleep_ns(50000000);
	for (uint64_t i = 0; i < 100; i++) {
		make_event(&ev, name, 0, i);
		CHECK_OK(tsm_collector_push(ring, &ev));
	}
	tsm_ring_publish(ring);
	t0 = tsm_now_ns();
	tsm_collector_request_flush(c);
	do {
		sleep_ns(1000000);
		tsm_collector_get_stats(c, &st);
	} while (st.flushes == 0 && tsm_now_ns() - t0 < 1500000000u);
	waited = tsm_now_ns() - t0;
	printf("flush: request served after %.3f ms\n", (double)waited / 1e6);
	CHECK_EQ_U64(st.flushes, 1);
	CHECK(waited < 1000000000u);
	CHECK_EQ_U64(st.events, 100);
	CHECK_EQ_U64(events_in_file(path), 100);

	/* No flush without a request (the interval is a minute away). */
	for (uint64_t i = 100; i < 150; i++) {
		make_event(&ev, name, 0, i);
		CHECK_OK(tsm_collector_push(ring, &ev));
	}
	tsm_ring_publish(ring);
	sleep_ns(20000000);
	tsm_collector_get_stats(c, &st);
	CHECK_EQ_U64(st.flushes, 1);

	/* Stop wakes the sleeping thread at once and drains what is left; a
	 * record pushed but never published is reported as dropped, not lost. */
	sleep_ns(50000000);
	make_event(&ev, name, 0, 150);
	CHECK_OK(tsm_collector_push(ring, &ev));
	t0 = tsm_now_ns();
	CHECK_OK(tsm_collector_stop(c));
	c = NULL;
	waited = tsm_now_ns() - t0;
	printf("flush: stop took %.3f ms\n", (double)waited / 1e6);
	CHECK(waited < 1000000000u);
	CHECK_EQ_U64(events_in_file(path), 150);
out:
	tsm_collector_stop(c);
	CHECK_OK(tsm_writer_close(w));
	{
		struct readback rb;

		read_back(path, 1, 200, &rb);
		CHECK_OK(rb.rc);
		CHECK_EQ_U64(rb.events, 150);
		CHECK_EQ_U64(rb.dropped_ring, 1);
		free_readback(&rb);
	}
	unlink(path);
}

static void test_rejected_event(void)
{
	tsm_collector *c = NULL;
	tsm_writer *w = NULL;
	tsm_ring *ring = NULL;
	struct readback rb;
	uint32_t name;
	tsm_event ev;
	char path[512];

	tmp_path(path, sizeof(path), "rejected");
	CHECK_OK(tsm_writer_open(path, NULL, &w));
	if (!w)
		return;
	CHECK_OK(tsm_intern_str(tsm_writer_strings(w), "cudaStreamSynchronize", &name));
	CHECK_OK(tsm_collector_start(w, NULL, &c));
	CHECK_OK(tsm_collector_add_ring(c, &ring));
	if (!c || !ring)
		goto out;
	tsm_collector_set_ring_owner(c, ring, 777, 9000);
	for (uint64_t i = 0; i < 1000; i++) {
		make_event(&ev, name, 0, i);
		if (i == 10)
			ev.end_ns = ev.start_ns - 1; /* TSM_INVAL */
		if (i == 500)
			ev.name = 1000000; /* TSM_UNDEFINED */
		CHECK_OK(tsm_collector_push(ring, &ev));
	}
	tsm_ring_publish(ring);
	tsm_collector_request_flush(c);
	CHECK_RC(tsm_collector_stop(c), TSM_INVAL);
	c = NULL;
	CHECK_OK(tsm_writer_close(w));
	read_back(path, 1, 1000, &rb);
	CHECK_OK(rb.rc);
	CHECK_EQ_U64(rb.events, 998);
	CHECK_EQ_U64(rb.dropped_writer, 2);
	CHECK_EQ_U64(rb.dropped_ring, 0);
	CHECK_EQ_U64(rb.bad_owner, 0);
	if (rb.seen[0])
		CHECK(!rb.seen[0][10] && !rb.seen[0][500] && rb.seen[0][11] && rb.seen[0][999]);
	free_readback(&rb);
	w = NULL;
out:
	tsm_collector_stop(c);
	tsm_writer_close(w);
	unlink(path);
}

static void test_dead_writer(void)
{
	tsm_collector_opts opts = {.ring_capacity = 64, .flush_interval_ns = 1000000};
	tsm_collector_stats st = {0};
	tsm_collector *c = NULL;
	tsm_writer *w = NULL;
	tsm_ring *ring = NULL;
	uint64_t sent = 0, t0, stuck = 0;
	tsm_event ev;
	int fds[2];

	CHECK(pipe(fds) == 0);
	CHECK_OK(tsm_writer_open_fd(fds[1], "pipe", NULL, &w));
	close(fds[0]); /* every write from now on fails with EPIPE */
	if (!w)
		goto out;
	CHECK_OK(tsm_collector_start(w, &opts, &c));
	CHECK_OK(tsm_collector_add_ring(c, &ring));
	if (!c || !ring)
		goto out;
	for (uint64_t i = 0; i < 1000; i++, sent++) {
		make_event(&ev, 0, 0, i);
		while (tsm_collector_push(ring, &ev) != 0)
			sched_yield();
	}
	tsm_ring_publish(ring);
	tsm_collector_request_flush(c);
	t0 = tsm_now_ns();
	do {
		sleep_ns(1000000);
		tsm_collector_get_stats(c, &st);
	} while (!st.writer_error && tsm_now_ns() - t0 < 2000000000u);
	CHECK_RC(st.writer_error, TSM_IO);

	/* The writer is dead; the rings must keep draining. */
	t0 = tsm_now_ns();
	for (uint64_t i = 1000; i < 100000 && !stuck; i++, sent++) {
		make_event(&ev, 0, 0, i);
		while (tsm_collector_push(ring, &ev) != 0) {
			if (tsm_now_ns() - t0 > 10000000000u) {
				stuck = 1;
				break;
			}
			sched_yield();
		}
	}
	CHECK(!stuck);
	tsm_ring_publish(ring);
	t0 = tsm_now_ns();
	do {
		sleep_ns(1000000);
		tsm_collector_get_stats(c, &st);
	} while (st.events + st.dropped - tsm_ring_dropped(ring) != sent &&
		 tsm_now_ns() - t0 < 2000000000u);
	printf("dead writer: sent %" PRIu64 ", written %" PRIu64 ", discarded %" PRIu64
	       ", ring drops %" PRIu64 ", error %s\n",
	       sent, st.events, st.dropped - tsm_ring_dropped(ring), tsm_ring_dropped(ring),
	       tsm_status_name(st.writer_error));
	/* stats.dropped counts ring drops plus drained-but-discarded events. */
	CHECK_EQ_U64(st.events + st.dropped - tsm_ring_dropped(ring), sent);
	CHECK(st.dropped - tsm_ring_dropped(ring) >= 99000);
	CHECK_RC(tsm_collector_stop(c), TSM_IO);
	c = NULL;
	CHECK_RC(tsm_writer_close(w), TSM_IO);
	w = NULL;
out:
	tsm_collector_stop(c);
	tsm_writer_close(w);
	close(fds[1]);
}

static void test_args(void)
{
	tsm_collector_opts bad = {.ring_capacity = 1000};
	tsm_collector *c = (tsm_collector *)&c;
	tsm_writer *w = NULL;
	tsm_ring *ring;
	char path[512];

	CHECK_RC(tsm_collector_start(NULL, NULL, &c), TSM_INVAL);
	CHECK(c == NULL);
	CHECK_OK(tsm_collector_stop(NULL));
	tsm_collector_request_flush(NULL);
	tmp_path(path, sizeof(path), "args");
	CHECK_OK(tsm_writer_open(path, NULL, &w));
	CHECK_RC(tsm_collector_start(w, &bad, &c), TSM_INVAL);
	CHECK_RC(tsm_collector_start(w, NULL, NULL), TSM_INVAL);
	/* An idle collector with many rings and no events: a clean, empty trace. */
	CHECK_OK(tsm_collector_start(w, NULL, &c));
	for (int i = 0; i < 40 && c; i++)
		CHECK_OK(tsm_collector_add_ring(c, &ring));
	CHECK_RC(tsm_collector_add_ring(c, NULL), TSM_INVAL);
	CHECK_OK(tsm_collector_stop(c));
	CHECK_OK(tsm_writer_close(w));
	CHECK_EQ_U64(events_in_file(path), 0);
	unlink(path);
}

int main(int argc, char **argv)
{
	const char *env = getenv("TSM_COLLECTOR_N");

	if (argc > 1)
		per_producer = strtoull(argv[1], NULL, 0);
	else if (env && *env)
		per_producer = strtoull(env, NULL, 0);
	if (per_producer < 1000)
		per_producer = 1000;
	signal(SIGPIPE, SIG_IGN);

	test_args();
	test_lossless();
	test_overload();
	test_flush_and_wakeup();
	test_rejected_event();
	test_dead_writer();
	return check_done("test-collector");
}
