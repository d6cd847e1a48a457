/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Producer side of the agent: per-thread rings and per-thread name caches.
 *
 * Rings. Every thread that produces events (CUPTI's buffer-completion
 * thread, application threads in NVTX callbacks, the agent's own control
 * thread) gets its own SPSC ring from the collector on first use and keeps
 * it in thread-local storage; the collector's writer thread drains them
 * all. A push never blocks: a full ring drops and counts (the collector
 * turns the count into a DROPPED record).
 *
 * Stopping safely. Rings are freed by tsm_collector_stop, so no producer
 * may be inside a push while the agent stops. Producers announce
 * themselves with inflight++ (seq_cst) and then read the state (seq_cst);
 * the finaliser stores state = STOPPING (seq_cst) and then waits until
 * inflight is 0. With sequentially consistent operations on both sides,
 * either the producer sees STOPPING and backs off, or the finaliser sees
 * the producer's increment and waits for it: no push can start after the
 * wait ends. Events refused this way are counted (drop_not_running).
 * Callbacks that use the writer's tables before they push (interning a
 * name) bracket that work with agent_enter/agent_leave, the same
 * protocol, so the writer is never closed under them.
 *
 * Sessions. The in-process API (tsm_agent_start/stop) may capture several
 * times in one process, each time into a new collector and writer that
 * malloc may place at the old addresses. Thread-local rings and name
 * caches are therefore tagged with the session number (agent.session),
 * not compared by pointer: a thread that pushed in an earlier session
 * takes a new ring and forgets its cached ids.
 *
 * Names. tsm_intern_str takes a mutex; kernel and API names repeat
 * millions of times, so a small direct-mapped cache per thread answers
 * most lookups. A cache hit is confirmed by comparing the text with the
 * interned entry (entries never move), so a slot reused for another string
 * is never trusted.
 */
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent.h"
#include "common/internal.h"

#define CACHE_SLOTS 512u

struct slot {
	const char *p; /* address cached (stable names) */
	uint64_t h;    /* content hash (other names) */
	uint32_t id;
};

static __thread tsm_ring *tl_ring;
static __thread unsigned tl_ring_session; /* 0: no ring */
static __thread struct slot tl_by_addr[CACHE_SLOTS];
static __thread struct slot tl_by_text[CACHE_SLOTS];
static __thread unsigned tl_cache_session;

uint64_t agent_gettid(void)
{
	static __thread uint64_t tid;

	if (!tid)
		tid = (uint64_t)syscall(SYS_gettid);
	return tid;
}

int agent_emit(const tsm_event *ev)
{
	struct agent *g = &agent_g;
	int rc = TSM_AGAIN;

	atomic_fetch_add_explicit(&g->inflight, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&g->state, memory_order_seq_cst) != AG_RUNNING) {
		atomic_fetch_add_explicit(&g->drop_not_running, 1, memory_order_relaxed);
		goto out;
	}
	if (tl_ring_session != g->session) {
		tl_ring = NULL;
		if (tsm_collector_add_ring(g->col, &tl_ring) == 0)
			tsm_collector_set_ring_owner(g->col, tl_ring, (uint32_t)g->pid,
						     agent_gettid());
		tl_ring_session = g->session;
	}
	if (!tl_ring) {
		atomic_fetch_add_explicit(&g->drop_no_ring, 1, memory_order_relaxed);
		goto out;
	}
	rc = tsm_collector_push(tl_ring, ev);
out:
	atomic_fetch_sub_explicit(&g->inflight, 1, memory_order_seq_cst);
	return rc;
}

void agent_publish(void)
{
	struct agent *g = &agent_g;

	atomic_fetch_add_explicit(&g->inflight, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&g->state, memory_order_seq_cst) == AG_RUNNING && tl_ring &&
	    tl_ring_session == g->session)
		tsm_ring_publish(tl_ring);
	atomic_fetch_sub_explicit(&g->inflight, 1, memory_order_seq_cst);
}

int agent_enter(void)
{
	struct agent *g = &agent_g;

	int st;

	atomic_fetch_add_explicit(&g->inflight, 1, memory_order_seq_cst);
	st = atomic_load_explicit(&g->state, memory_order_seq_cst);
	if (st == AG_READY || st == AG_RUNNING)
		return 1;
	atomic_fetch_sub_explicit(&g->inflight, 1, memory_order_seq_cst);
	return 0;
}

void agent_leave(void)
{
	atomic_fetch_sub_explicit(&agent_g.inflight, 1, memory_order_seq_cst);
}

void agent_emit_reset(void)
{
	tl_ring = NULL;
	tl_ring_session = 0;
}

static void check_writer(void)
{
	if (tl_cache_session != agent_g.session) {
		memset(tl_by_addr, 0, sizeof(tl_by_addr));
		memset(tl_by_text, 0, sizeof(tl_by_text));
		tl_cache_session = agent_g.session;
	}
}

static uint32_t intern_slow(const char *s)
{
	uint32_t id = 0;

	if (!agent_g.w || tsm_intern_str(tsm_writer_strings(agent_g.w), s, &id) < 0)
		return 0;
	return id;
}

static int same(uint32_t id, const char *s)
{
	const char *have = tsm_intern_borrow(tsm_writer_strings(agent_g.w), id, NULL);

	return have && !strcmp(have, s);
}

uint32_t agent_intern_stable(const char *s)
{
	struct slot *e;

	if (!s)
		return 0;
	check_writer();
	e = &tl_by_addr[tsm__mix64((uint64_t)(uintptr_t)s) & (CACHE_SLOTS - 1)];
	if (e->p == s && e->id && same(e->id, s))
		return e->id;
	e->id = intern_slow(s);
	e->p = e->id ? s : NULL;
	return e->id;
}

uint32_t agent_intern(const char *s)
{
	struct slot *e;
	uint64_t h;

	if (!s)
		return 0;
	check_writer();
	h = tsm__hash64(s, strlen(s), 0x7473);
	e = &tl_by_text[h & (CACHE_SLOTS - 1)];
	if (e->h == h && e->id && same(e->id, s))
		return e->id;
	e->id = intern_slow(s);
	e->h = e->id ? h : 0;
	return e->id;
}
