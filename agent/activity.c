/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CUPTI activity buffers: hand buffers to CUPTI, convert what comes back.
 *
 * CUPTI asks for an empty buffer (buffer_requested) whenever it needs one
 * and returns it filled (buffer_completed) from its own worker thread, or
 * from the thread that calls cuptiActivityFlushAll. Buffers come from a
 * small free list so steady-state capture allocates nothing.
 *
 * A completed buffer is read twice. Pass 1 collects EXTERNAL_CORRELATION
 * records (correlation id -> external id: an NVTX range the agent pushed,
 * or a framework's op id) into a direct-mapped table, so that pass 2 can
 * attach the external id to the API call and GPU work of the same buffer
 * even when the external record comes after them. Pass 2 converts each
 * record (capture/cupti/cupti-glue.c) and pushes the event into this
 * thread's ring. After each buffer the thread also pushes a DROPPED event
 * if CUPTI reports records it had to drop, and an OVERHEAD event (kind
 * TRACER) spanning the conversion, so the trace shows its own cost.
 *
 * The correlation table (EXT_SLOTS slots of one 64-bit word: correlation
 * id in the high half, external id in the low half) is best effort: when
 * more than EXT_SLOTS API calls lie between an external record and the GPU
 * record that needs it, the slot has been reused and the GPU record keeps
 * external = 0; the API record itself is in the same buffer and always
 * gets it.
 *
 * Records are filtered, not converted, when they are outside the
 * --delay/--duration window or are the agent's own driver calls (device
 * queries made inside a context-creation callback, identified by thread
 * and time window).
 *
 * Sessions (in-process capture may start several times): the API name
 * tables hold ids of the current writer's string table and are cleared by
 * every agent_activity_start; the context -> device table and the
 * correlation table stay (context and correlation ids are unique for the
 * life of the process). The conversion runs between agent_enter and
 * agent_leave, so a stop cannot close the writer under it.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"

#define EXT_SLOTS  (1u << 16)
#define NAME_SLOTS 1024u
#define CTX_SLOTS  4096u
#define POOL_MAX   16

static _Atomic uint64_t ext_map[EXT_SLOTS];
static _Atomic uint32_t rt_names[NAME_SLOTS], drv_names[NAME_SLOTS];
static _Atomic uint16_t ctx_dev[CTX_SLOTS];

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *pool[POOL_MAX];
static int npool;

static CUpti_ActivityKind kinds[16];
static size_t nkinds;

/* Window of CUPTI timestamps to keep: [win_lo, win_hi]. */
static _Atomic uint64_t win_lo, win_hi = UINT64_MAX;

void agent_activity_note_external(uint32_t corr, uint64_t ext)
{
	if (!corr)
		return;
	atomic_store_explicit(&ext_map[corr & (EXT_SLOTS - 1)],
			      ((uint64_t)corr << 32) | (ext & 0xFFFFFFFFu), memory_order_relaxed);
}

static uint64_t external_of(void *user, uint32_t corr)
{
	uint64_t v = atomic_load_explicit(&ext_map[corr & (EXT_SLOTS - 1)], memory_order_relaxed);

	return (uint32_t)(v >> 32) == corr ? (v & 0xFFFFFFFFu) : 0;
}

static uint32_t intern_cb(void *user, const char *s)
{
	return agent_intern_stable(s);
}

/*
 * CUPTI names runtime functions with their version suffix
 * ("cudaLaunchKernel_v7000"); users, nsys and torch.profiler say
 * "cudaLaunchKernel". The callback id keeps the exact entry point.
 */
static const char *api_display_name(const char *name, char *buf, size_t cap)
{
	const char *v = strstr(name, "_v");
	size_t n;

	if (!v || v == name || !v[2])
		return name;
	for (const char *p = v + 2; *p; p++)
		if (*p < '0' || *p > '9')
			return name;
	n = (size_t)(v - name);
	if (n >= cap)
		return name;
	memcpy(buf, name, n);
	buf[n] = 0;
	return buf;
}

static uint32_t api_name(void *user, CUpti_CallbackDomain dom, uint32_t cbid)
{
	_Atomic uint32_t *tab = dom == CUPTI_CB_DOMAIN_RUNTIME_API ? rt_names : drv_names;
	const char *name = NULL;
	char buf[256];
	uint32_t id;

	if (cbid < NAME_SLOTS) {
		id = atomic_load_explicit(&tab[cbid], memory_order_relaxed);
		if (id)
			return id;
	}
	if (cuptiGetCallbackName(dom, cbid, &name) != CUPTI_SUCCESS || !name)
		name = dom == CUPTI_CB_DOMAIN_RUNTIME_API ? "cuda_runtime_api" : "cuda_driver_api";
	id = agent_intern(api_display_name(name, buf, sizeof(buf)));
	if (cbid < NAME_SLOTS)
		atomic_store_explicit(&tab[cbid], id, memory_order_relaxed);
	return id;
}

static uint32_t stack_of(void *user, uint32_t corr)
{
	return agent_g.cfg.stacks ? agent_stacks_lookup(corr) : 0;
}

static uint16_t device_of_context(void *user, uint32_t ctx)
{
	return ctx < CTX_SLOTS ? atomic_load_explicit(&ctx_dev[ctx], memory_order_relaxed)
			       : TSM_DEVICE_NONE;
}

void agent_note_context(uint32_t ctx, uint32_t dev)
{
	if (ctx < CTX_SLOTS)
		atomic_store_explicit(&ctx_dev[ctx], (uint16_t)dev, memory_order_relaxed);
}

static void note_context(void *user, uint32_t ctx, uint32_t dev)
{
	(void)user;
	agent_note_context(ctx, dev);
}

static void CUPTIAPI buffer_requested(uint8_t **buf, size_t *size, size_t *max_records)
{
	uint8_t *b = NULL;

	pthread_mutex_lock(&pool_lock);
	if (npool)
		b = pool[--npool];
	pthread_mutex_unlock(&pool_lock);
	if (!b)
		b = aligned_alloc(8, agent_g.cfg.buffer_bytes);
	*buf = b;
	*size = b ? agent_g.cfg.buffer_bytes : 0;
	*max_records = 0;
}

static void release(uint8_t *b)
{
	pthread_mutex_lock(&pool_lock);
	if (npool < POOL_MAX) {
		pool[npool++] = b;
		b = NULL;
	}
	pthread_mutex_unlock(&pool_lock);
	free(b);
}

static int is_self(const tsm_event *ev)
{
	uint32_t tid = atomic_load_explicit(&agent_g.self_tid, memory_order_acquire);

	return tid && ev->kind == TSM_EV_DRIVER && ev->tid == tid &&
	       ev->start_ns >= atomic_load_explicit(&agent_g.self_t0, memory_order_relaxed) &&
	       ev->end_ns <= atomic_load_explicit(&agent_g.self_t1, memory_order_relaxed);
}

static void CUPTIAPI buffer_completed(CUcontext ctx, uint32_t stream, uint8_t *buf, size_t size,
				      size_t valid)
{
	struct agent *g = &agent_g;
	struct tsm__cupti_conv cv = {
	    .pid = (uint32_t)g->pid,
	    .intern = intern_cb,
	    .api_name = api_name,
	    .external_of = external_of,
	    .stack_of = stack_of,
	    .device_of_context = device_of_context,
	    .note_context = note_context,
	};
	uint64_t t0 = agent_now(), lo, hi, n = 0, ext;
	CUpti_Activity *rec = NULL;
	size_t dropped = 0;
	uint32_t corr;
	tsm_event ev;

	if (!buf)
		return;
	if (atomic_load_explicit(&g->state, memory_order_acquire) == AG_READY)
		agent_ensure_started();
	if (!valid || !agent_enter())
		goto out;
	atomic_fetch_add_explicit(&g->buffers, 1, memory_order_relaxed);

	while (cuptiActivityGetNextRecord(buf, valid, &rec) == CUPTI_SUCCESS)
		if (rec->kind == CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION) {
			tsm__cupti_convert(&cv, rec, &ev, &corr, &ext);
			agent_activity_note_external(corr, ext);
		}

	lo = atomic_load_explicit(&win_lo, memory_order_relaxed);
	hi = atomic_load_explicit(&win_hi, memory_order_relaxed);
	rec = NULL;
	while (cuptiActivityGetNextRecord(buf, valid, &rec) == CUPTI_SUCCESS) {
		n++;
		if (tsm__cupti_convert(&cv, rec, &ev, &corr, &ext) != TSM__CUPTI_EVENT)
			continue;
		if (ev.start_ns < lo || ev.start_ns > hi || is_self(&ev))
			continue;
		agent_emit(&ev);
	}
	atomic_fetch_add_explicit(&g->records, n, memory_order_relaxed);

	if (cuptiActivityGetNumDroppedRecords(ctx, stream, &dropped) == CUPTI_SUCCESS && dropped) {
		memset(&ev, 0, sizeof(ev));
		ev.kind = TSM_EV_DROPPED;
		ev.device = TSM_DEVICE_NONE;
		ev.pid = (uint32_t)g->pid;
		ev.start_ns = ev.end_ns = t0;
		ev.u.dropped.count = dropped;
		ev.u.dropped.source = TSM_DROP_CUPTI;
		atomic_fetch_add_explicit(&g->cupti_dropped, dropped, memory_order_relaxed);
		agent_emit(&ev);
	}

	memset(&ev, 0, sizeof(ev));
	ev.kind = TSM_EV_OVERHEAD;
	ev.device = TSM_DEVICE_NONE;
	ev.pid = (uint32_t)g->pid;
	ev.tid = agent_gettid();
	ev.start_ns = t0;
	ev.end_ns = agent_now();
	ev.name = agent_intern("tracesmith_buffer_convert");
	ev.u.overhead.overhead_kind = TSM_OVERHEAD_TRACER;
	if (ev.end_ns >= ev.start_ns)
		agent_emit(&ev);
	agent_publish();
	agent_leave();
out:
	release(buf);
}

void agent_activity_set_enabled(int on)
{
	for (size_t i = 0; i < nkinds; i++) {
		CUptiResult r = on ? cuptiActivityEnable(kinds[i]) : cuptiActivityDisable(kinds[i]);

		if (r != CUPTI_SUCCESS && on) {
			const char *s = NULL;

			cuptiGetResultString(r, &s);
			agent_warn("cuptiActivityEnable(kind %d): %s", (int)kinds[i], s ? s : "?");
		}
	}
	if (on)
		atomic_store_explicit(&win_lo, agent_now(), memory_order_relaxed);
	else
		atomic_store_explicit(&win_hi, agent_now(), memory_order_relaxed);
}

int agent_activity_start(void)
{
	static int ctx_init;
	CUptiResult r;

	if (!ctx_init) {
		for (size_t i = 0; i < CTX_SLOTS; i++)
			atomic_store_explicit(&ctx_dev[i], TSM_DEVICE_NONE, memory_order_relaxed);
		ctx_init = 1;
	}
	for (size_t i = 0; i < NAME_SLOTS; i++) {
		atomic_store_explicit(&rt_names[i], 0, memory_order_relaxed);
		atomic_store_explicit(&drv_names[i], 0, memory_order_relaxed);
	}
	atomic_store_explicit(&win_hi, UINT64_MAX, memory_order_relaxed);
	nkinds = tsm__cupti_activity_kinds(agent_g.cfg.kinds, kinds, 16);
	r = cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed);
	if (r != CUPTI_SUCCESS)
		return r;
	/* Thread ids as the system knows them (gettid), like the NVTX callbacks'. */
	cuptiSetThreadIdType(CUPTI_ACTIVITY_THREAD_ID_TYPE_SYSTEM);
	/* Event records carry a GPU timestamp only when asked for. */
	if (agent_g.cfg.kinds & (1u << TSM__CUPTI_KB_SYNC))
		cuptiActivityEnableCudaEventDeviceTimestamps(1);
	if (agent_g.cfg.delay_ns)
		return CUPTI_SUCCESS; /* the control thread enables the kinds later */
	atomic_store_explicit(&win_lo, 0, memory_order_relaxed);
	for (size_t i = 0; i < nkinds; i++) {
		r = cuptiActivityEnable(kinds[i]);
		if (r != CUPTI_SUCCESS)
			return r;
	}
	return CUPTI_SUCCESS;
}

void agent_activity_flush(int forced)
{
	cuptiActivityFlushAll(forced ? CUPTI_ACTIVITY_FLAG_FLUSH_FORCED : 0);
}
