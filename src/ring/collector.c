/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The collector: one writer thread that drains every producer ring into one
 * SBT writer.
 *
 * Registration. Rings are added from any thread at any time while the
 * writer thread iterates over them without a lock. They live in an
 * append-only array of segments that never move: segment s holds
 * SEG0 << s entries and is allocated when first needed, so entry i has a
 * fixed address for the collector's life. add_ring fills the entry under
 * `lock`, then publishes the new count with store_release(nrings); the
 * writer thread's load_acquire(nrings) makes every entry below the count
 * (and the segment pointers leading to it) visible. The mutex only orders
 * adders among themselves; the writer thread never takes it.
 *
 * The loop (writer thread):
 *
 *   while not stopped:
 *       for each ring: peek / write / release, at most one ring's capacity
 *           per pass so one busy producer cannot starve the others;
 *           then, if the ring's drop count grew, write a DROPPED event
 *       if a flush was requested, or flush_interval_ns passed since the
 *           last flush, and something was written since: tsm_writer_flush
 *       if nothing was drained: sleep up to idle_sleep_ns
 *
 * Sleeping and waking. The thread sleeps in ppoll() on an eventfd with the
 * idle timeout. tsm_collector_request_flush and tsm_collector_stop set an
 * atomic flag and then write the eventfd; the loop checks the flags
 * before it sleeps, and a write that lands after the check makes ppoll
 * return at once, so no wake-up is lost and none waits for the timeout.
 * write(2) on an eventfd never blocks here and is async-signal-safe, so a
 * SIGINT/SIGTERM handler may request a flush.
 *
 * DROPPED events. A ring's tsm_ring_dropped() is compared with what was
 * already reported after each drain of that ring; the increase becomes
 * one TSM_EV_DROPPED event (source TSM_DROP_RING) with the ring owner's
 * pid/tid. Its time (start = end) is the latest end_ns drained from that
 * ring so far, else the latest end_ns from any ring, else 0: the events
 * were lost after that point, and taking the time from the data keeps the
 * record in the trace's own clock domain (the simulation backend's clock
 * is virtual, so tsm_now_ns() would put it anywhere).
 *
 * Writer errors. The writer rejects a single bad event with TSM_INVAL or
 * TSM_UNDEFINED (see format.h) and stays usable: the collector finds which
 * event of the batch it was (the writer's event count says how many were
 * accepted; nobody else writes meanwhile), skips it, keeps writing, and
 * reports the skipped events as a DROPPED event with source
 * TSM_DROP_WRITER. Any other error (I/O) is sticky: the collector stops
 * writing but keeps draining the rings, so producers never see a ring
 * that stays full, and counts the discarded events in stats.dropped. The
 * first error of either kind is kept and returned by tsm_collector_stop.
 *
 * Stop. tsm_collector_stop sets the stop flag, wakes and joins the thread,
 * then drains every ring one last time from the calling thread (the
 * producers have finished), writes the drop records and flushes. Records a
 * producer pushed but never published (it skipped tsm_ring_publish) cannot
 * be read safely; they are counted as ring drops so nothing is lost
 * silently.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/internal.h"
#include "tracesmith/ring.h"

#define SEG0	  16u
#define NSEG	  40   /* 16 * (2^40 - 1) rings: more than memory allows */
#define DRAIN_MAX 1024 /* events per peek / write_batch call */

struct cring {
	tsm_ring *ring;
	_Atomic uint32_t pid; /* owner, for DROPPED records (set from any thread) */
	_Atomic uint64_t tid;
	/* Writer-thread private (then the stopping thread's, after the join). */
	uint64_t consumed;   /* records taken out of the ring */
	uint64_t drops_seen; /* ring drops already written as DROPPED */
	uint64_t rejected;   /* events the writer refused */
	uint64_t rejected_seen;
	uint64_t last_end_ns; /* latest end_ns drained from this ring */
};

struct tsm_collector {
	tsm_writer *w;
	size_t ring_capacity;
	unsigned batch;
	uint64_t flush_interval_ns;
	uint64_t idle_sleep_ns;

	pthread_t thread;
	int efd;

	pthread_mutex_t lock; /* serialises add_ring and set_ring_owner */
	struct cring *seg[NSEG];
	_Atomic size_t nrings;

	_Atomic int stop;
	_Atomic int flush_req;

	/* Writer-thread state. */
	uint64_t writer_base; /* writer's event count when the collector started */
	uint64_t written;     /* events this collector got accepted, drop records included */
	uint64_t last_end_ns; /* latest end_ns drained from any ring */
	int dead;	      /* the writer failed for good */
	int dirty;	      /* written since the last flush */
	tsm__err err;	      /* the first error, with its detail (st_error's) */

	/* Statistics: written by the writer thread, read from any thread. */
	_Atomic uint64_t st_events;
	_Atomic uint64_t st_dropped;
	_Atomic uint64_t st_flushes;
	_Atomic int st_error;
};

static struct cring *entry(struct tsm_collector *c, size_t i)
{
	size_t q = i / SEG0 + 1;
	unsigned s = 63u - (unsigned)__builtin_clzll((unsigned long long)q);

	return &c->seg[s][i - SEG0 * (((size_t)1 << s) - 1)];
}

/* Single-writer counters: a relaxed load and store, no read-modify-write. */
static void stat_add(_Atomic uint64_t *v, uint64_t n)
{
	atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static void note_error(tsm_collector *c, int rc)
{
	if (!atomic_load_explicit(&c->st_error, memory_order_relaxed)) {
		tsm__err_keep(&c->err, rc);
		atomic_store_explicit(&c->st_error, rc, memory_order_relaxed);
	}
}

static void wake(tsm_collector *c)
{
	uint64_t one = 1;
	ssize_t n;

	/* The counter cannot overflow in practice (2^64 - 2 wake-ups); on
	 * EAGAIN the thread is already due to wake. */
	do
		n = write(c->efd, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
}

/* Events the writer accepted since the collector started, by its own count. */
static uint64_t writer_accepted(tsm_collector *c)
{
	tsm_writer_stats st;

	tsm_writer_get_stats(c->w, &st);
	return st.events - c->writer_base;
}

/*
 * Hand `n` events to the writer. Returns how many it accepted; *rejected
 * gets how many it refused as invalid. After a sticky error, accepts none.
 */
static size_t write_events(tsm_collector *c, const tsm_event *evs, size_t n, uint64_t *rejected)
{
	size_t done = 0;

	*rejected = 0;
	while (done < n && !c->dead) {
		int rc = tsm_writer_write_batch(c->w, evs + done, n - done);
		uint64_t k;

		if (rc >= 0) {
			c->written += n - done;
			done = n;
			break;
		}
		note_error(c, rc);
		/* The batch stopped at the first event the writer did not take. */
		k = writer_accepted(c) - c->written;
		if (k > n - done)
			k = n - done;
		c->written += k;
		done += (size_t)k;
		if (rc != TSM_INVAL && rc != TSM_UNDEFINED) {
			c->dead = 1;
			break;
		}
		/* One bad event: skip it, keep the rest. */
		(*rejected)++;
		done++;
	}
	if (done)
		c->dirty = 1;
	return done - (size_t)*rejected;
}

static void write_drop_record(tsm_collector *c, struct cring *cr, uint64_t count, uint8_t source)
{
	tsm_event ev;
	uint64_t rej;

	memset(&ev, 0, sizeof(ev));
	ev.kind = TSM_EV_DROPPED;
	ev.device = TSM_DEVICE_NONE;
	ev.start_ns = ev.end_ns = cr->last_end_ns ? cr->last_end_ns : c->last_end_ns;
	ev.pid = atomic_load_explicit(&cr->pid, memory_order_relaxed);
	ev.tid = atomic_load_explicit(&cr->tid, memory_order_relaxed);
	ev.u.dropped.count = count;
	ev.u.dropped.source = source;
	write_events(c, &ev, 1, &rej);
}

/* Drain one ring; at most `limit` events (0: until empty). Returns events drained. */
static uint64_t drain_ring(tsm_collector *c, struct cring *cr, uint64_t limit, int final)
{
	uint64_t total = 0, drops, lost = 0;
	const void *p;
	size_t n;

	while ((n = tsm_ring_peek(cr->ring, &p, DRAIN_MAX)) > 0) {
		const tsm_event *evs = p;
		uint64_t end = cr->last_end_ns, rej = 0, ok;

		for (size_t i = 0; i < n; i++)
			end = evs[i].end_ns > end ? evs[i].end_ns : end;
		cr->last_end_ns = end;
		if (end > c->last_end_ns)
			c->last_end_ns = end;
		ok = write_events(c, evs, n, &rej);
		tsm_ring_release(cr->ring, n);
		cr->consumed += n;
		cr->rejected += rej;
		stat_add(&c->st_events, ok);
		/* Drained but never written: the writer failed or refused them. */
		stat_add(&c->st_dropped, n - ok);
		total += n;
		if (limit && total >= limit)
			break;
	}

	drops = tsm_ring_dropped(cr->ring);
	if (final) {
		/* Pushed but never published: unreadable, so reported as dropped. */
		lost = tsm_ring_pushed(cr->ring) - cr->consumed;
		drops += lost;
	}
	if (drops > cr->drops_seen) {
		stat_add(&c->st_dropped, drops - cr->drops_seen);
		write_drop_record(c, cr, drops - cr->drops_seen, TSM_DROP_RING);
		cr->drops_seen = drops;
	}
	if (cr->rejected > cr->rejected_seen) {
		write_drop_record(c, cr, cr->rejected - cr->rejected_seen, TSM_DROP_WRITER);
		cr->rejected_seen = cr->rejected;
	}
	return total;
}

static uint64_t drain_all(tsm_collector *c, int final)
{
	size_t n = atomic_load_explicit(&c->nrings, memory_order_acquire);
	uint64_t total = 0;

	for (size_t i = 0; i < n; i++) {
		struct cring *cr = entry(c, i);

		total += drain_ring(c, cr, final ? 0 : tsm_ring_capacity(cr->ring), final);
	}
	return total;
}

static void flush(tsm_collector *c)
{
	int rc;

	if (!c->dirty || c->dead)
		return;
	c->dirty = 0;
	rc = tsm_writer_flush(c->w);
	stat_add(&c->st_flushes, 1);
	if (rc < 0) {
		note_error(c, rc);
		c->dead = 1;
	}
}

static void idle_wait(tsm_collector *c)
{
	struct pollfd pfd = {.fd = c->efd, .events = POLLIN};
	struct timespec ts = {
	    .tv_sec = (time_t)(c->idle_sleep_ns / 1000000000u),
	    .tv_nsec = (long)(c->idle_sleep_ns % 1000000000u),
	};
	uint64_t v;

	/* Reset the eventfd counter on wake-up; the flags say what was asked.
	 * A failed read (EAGAIN: someone else reset it) changes nothing. */
	if (ppoll(&pfd, 1, &ts, NULL) > 0 && (pfd.revents & POLLIN) &&
	    read(c->efd, &v, sizeof(v)) < 0)
		return;
}

static void *run(void *arg)
{
	tsm_collector *c = arg;
	uint64_t last_flush = tsm_now_ns();

	while (!atomic_load_explicit(&c->stop, memory_order_acquire)) {
		uint64_t moved = drain_all(c, 0), now = tsm_now_ns();
		int asked = atomic_exchange_explicit(&c->flush_req, 0, memory_order_acq_rel);

		if (asked || now - last_flush >= c->flush_interval_ns) {
			flush(c);
			last_flush = now;
		}
		if (!moved && !atomic_load_explicit(&c->stop, memory_order_acquire) &&
		    !atomic_load_explicit(&c->flush_req, memory_order_acquire))
			idle_wait(c);
	}
	return NULL;
}

static void free_collector(tsm_collector *c)
{
	size_t n = atomic_load_explicit(&c->nrings, memory_order_relaxed);

	for (size_t i = 0; i < n; i++)
		tsm_ring_destroy(entry(c, i)->ring);
	for (size_t s = 0; s < NSEG; s++)
		tsm__free(c->seg[s]);
	if (c->efd >= 0)
		close(c->efd);
	pthread_mutex_destroy(&c->lock);
	tsm__free(c);
}

int tsm_collector_start(tsm_writer *w, const tsm_collector_opts *opts, tsm_collector **out)
{
	tsm_collector_opts o = {0};
	tsm_writer_stats st;
	sigset_t all, old;
	tsm_collector *c;
	int rc;

	if (out)
		*out = NULL;
	if (!w || !out)
		return TSM_FAIL(TSM_INVAL, "collector: no writer or output pointer");
	if (opts)
		o = *opts;
	if (!o.ring_capacity)
		o.ring_capacity = 65536;
	if (o.ring_capacity < 2 || (o.ring_capacity & (o.ring_capacity - 1)))
		return TSM_FAIL(TSM_INVAL,
				"collector: ring capacity %zu is not a power of two >= 2",
				o.ring_capacity);
	c = tsm__calloc(1, sizeof(*c));
	if (!c)
		return TSM_FAIL(TSM_NOMEM, "collector");
	c->w = w;
	c->ring_capacity = o.ring_capacity;
	c->batch = o.publish_batch;
	c->flush_interval_ns = o.flush_interval_ns ? o.flush_interval_ns : 1000000000u;
	c->idle_sleep_ns = o.idle_sleep_ns ? o.idle_sleep_ns : 200000u;
	atomic_init(&c->nrings, 0);
	atomic_init(&c->stop, 0);
	atomic_init(&c->flush_req, 0);
	atomic_init(&c->st_events, 0);
	atomic_init(&c->st_dropped, 0);
	atomic_init(&c->st_flushes, 0);
	atomic_init(&c->st_error, 0);
	tsm_writer_get_stats(w, &st);
	c->writer_base = st.events;
	pthread_mutex_init(&c->lock, NULL);
	c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->efd < 0) {
		rc = TSM_FAIL(TSM_IO, "collector: eventfd: %s", strerror(errno));
		goto fail;
	}
	/* The writer thread takes no signals: they belong to the traced program. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&c->thread, NULL, run, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		rc = TSM_FAIL(TSM_IO, "collector: thread: %s", strerror(rc));
		goto fail;
	}
	pthread_setname_np(c->thread, "tsm-collector");
	*out = c;
	return 0;
fail:
	free_collector(c);
	return rc;
}

int tsm_collector_add_ring(tsm_collector *c, tsm_ring **ring)
{
	struct cring *cr;
	tsm_ring *r = NULL;
	size_t i, q;
	unsigned s;
	int rc;

	if (ring)
		*ring = NULL;
	if (!c || !ring)
		return TSM_FAIL(TSM_INVAL, "collector: add_ring without collector or output");
	rc = tsm_ring_create(sizeof(tsm_event), c->ring_capacity, c->batch, &r);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&c->lock);
	i = atomic_load_explicit(&c->nrings, memory_order_relaxed);
	q = i / SEG0 + 1;
	s = 63u - (unsigned)__builtin_clzll((unsigned long long)q);
	if (s >= NSEG) {
		rc = TSM_FAIL(TSM_TOO_LARGE, "collector: %zu rings", i);
		goto unlock;
	}
	if (!c->seg[s]) {
		c->seg[s] = tsm__calloc((size_t)SEG0 << s, sizeof(struct cring));
		if (!c->seg[s]) {
			rc = TSM_FAIL(TSM_NOMEM, "collector: ring table of %zu", (size_t)SEG0 << s);
			goto unlock;
		}
	}
	cr = entry(c, i);
	memset(cr, 0, sizeof(*cr));
	cr->ring = r;
	atomic_init(&cr->pid, (uint32_t)getpid());
	atomic_init(&cr->tid, (uint64_t)syscall(SYS_gettid));
	atomic_store_explicit(&c->nrings, i + 1, memory_order_release);
	*ring = r;
	r = NULL;
unlock:
	pthread_mutex_unlock(&c->lock);
	tsm_ring_destroy(r);
	return rc;
}

void tsm_collector_set_ring_owner(tsm_collector *c, tsm_ring *ring, uint32_t pid, uint64_t tid)
{
	size_t n;

	if (!c || !ring)
		return;
	pthread_mutex_lock(&c->lock);
	n = atomic_load_explicit(&c->nrings, memory_order_relaxed);
	for (size_t i = 0; i < n; i++) {
		struct cring *cr = entry(c, i);

		if (cr->ring == ring) {
			atomic_store_explicit(&cr->pid, pid, memory_order_relaxed);
			atomic_store_explicit(&cr->tid, tid, memory_order_relaxed);
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
}

void tsm_collector_get_stats(const tsm_collector *c, tsm_collector_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!c)
		return;
	st->events = atomic_load_explicit(&c->st_events, memory_order_relaxed);
	st->dropped = atomic_load_explicit(&c->st_dropped, memory_order_relaxed);
	st->rings = atomic_load_explicit(&c->nrings, memory_order_relaxed);
	st->flushes = atomic_load_explicit(&c->st_flushes, memory_order_relaxed);
	st->writer_error = atomic_load_explicit(&c->st_error, memory_order_relaxed);
}

void tsm_collector_request_flush(tsm_collector *c)
{
	if (!c)
		return;
	atomic_store_explicit(&c->flush_req, 1, memory_order_release);
	wake(c);
}

int tsm_collector_stop(tsm_collector *c)
{
	int rc;

	if (!c)
		return 0;
	atomic_store_explicit(&c->stop, 1, memory_order_release);
	wake(c);
	pthread_join(c->thread, NULL);
	/* The producers are done: take everything that is left. */
	drain_all(c, 1);
	flush(c);
	rc = atomic_load_explicit(&c->st_error, memory_order_relaxed);
	if (rc)
		rc = tsm__err_raise(&c->err); /* perhaps met on the collector's thread */
	free_collector(c);
	return rc;
}
