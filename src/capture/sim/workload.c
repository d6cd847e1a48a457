/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The workload model: one simulated process (one rank, one GPU) with up to
 * four host threads, replaying a training or serving loop op by op.
 *
 * Model. Each host thread has a clock (ns, 1 ns resolution). A CPU op
 * advances it by a dispatcher overhead, its children, and an epilogue; a
 * runtime call advances it by the call's duration (median per API, ~18%
 * spread, a heavy tail: 1 call in 128 takes 2-6x longer, as in real
 * traces). Each stream has a "ready" time: GPU work starts at
 *   max(API start + launch latency (~3-8 us), stream ready + ~1-1.6 us gap)
 * rounded up to 32 ns (the GPU timer tick of H100/H200 CUPTI records) and
 * lasts the kernel's mean duration jittered a few percent (right-skewed),
 * also a multiple of 32 ns. So streams serialise, the host runs ahead of a
 * busy GPU, and host syncs (loss.item(), cudaStreamSynchronize) wait for
 * the stream to drain. Cross-stream dependencies use cudaEventRecord (an
 * instant SYNC record on the recording stream, flow START) and
 * cudaStreamWaitEvent (a SYNC record on the waiting stream lasting until
 * the record time, flow END), both carrying the CUDA event id.
 *
 * Randomness. Host-side jitter comes from a per-process xoshiro256**
 * stream (seed, rank). GPU durations come from a stream reseeded at every
 * iteration from (seed, iteration) only, so data-parallel ranks run the
 * same kernels for the same time and stay in lockstep like a real job
 * whose collectives synchronise them. Nothing depends on the emission:
 * quotas only decide which events are passed on, so a thread's events are
 * the same whether the process is generated once for all its threads
 * (tsm_sim_generate) or once per host thread on separate OS threads
 * (tsm_sim_run).
 *
 * Cost. Kernel events are copies of per-kernel templates (sim_world.ktmpl)
 * with times and ids patched in; other events are built in place. Events
 * of masked threads are never built.
 */
#include "sim-internal.h"

enum { ST_COMPUTE, ST_COPY, ST_COMM_DP, ST_COMM_TP, ST__COUNT };
/* Stream ids as CUPTI reports them for a PyTorch process: 7 is the default (legacy) stream,
 * side streams from the pool start at 13, NCCL's internal streams come later. */
static const uint32_t stream_ids[ST__COUNT] = {7, 13, 24, 28};

enum { T_MAIN, T_BWD, T_PIN0, T_PIN1 };

#define US	1000ull
#define MS	1000000ull
#define TWO_MIB (2ull << 20)

typedef struct sim_thread {
	uint64_t now;
	uint64_t quota;
	uint64_t tid;
	uint64_t ext; /* external id of the innermost open op */
} sim_thread;

typedef struct proc {
	sim_world *w;
	const sim_preset *p;
	const sim_vocab *v;
	uint32_t rank, pid, ctx;
	uint16_t dev;
	unsigned nth;
	sim_thread th[SIM_MAX_THREADS];
	uint64_t ready[ST__COUNT];
	uint64_t corr, ext, cuda_event, flow;
	sim_rng rh, rg;
	uint64_t end_ns;
	uint64_t iter;
	unsigned live;
	int stop, rc;
	tsm_sim_emit_fn emit;
	void *user;
	sim_run_result *res;
	uint64_t addr_next, allocated, reserved, last_reserved;
} proc;

typedef struct opf {
	uint64_t start, ext, parent, post;
	uint32_t name, meta;
} opf;

static inline uint64_t q32(uint64_t t)
{
	return (t + SIM_GPU_TICK - 1) & ~(uint64_t)(SIM_GPU_TICK - 1);
}

static inline uint64_t max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/*
 * mean * (1 + spread * z) from the 48 low bits of x: z is the sum of three
 * 16-bit uniforms minus their mean (Irwin-Hall, close to normal, standard
 * deviation exactly 2^15), stretched by 1.5 above the mean for the right
 * skew of real duration distributions. spread is in 1/1024 units, so the
 * scaling is one multiply and one shift (2^10 * 2^15). Never below mean/2.
 */
static inline uint64_t jit_bits(uint64_t x, uint64_t mean, unsigned spread)
{
	int64_t z = (int64_t)(x & 0xffff) + (int64_t)((x >> 16) & 0xffff) +
		    (int64_t)((x >> 32) & 0xffff) - 98302;
	int64_t d;

	if (z > 0)
		z += z >> 1;
	d = (int64_t)mean + ((int64_t)mean * (int64_t)spread * z) / (1 << 25);
	return d < (int64_t)(mean / 2) ? mean / 2 : (uint64_t)d;
}

static inline uint64_t jit(sim_rng *r, uint64_t mean, unsigned spread)
{
	return jit_bits(sim_rng_next(r), mean, spread);
}

/* Host durations: jittered, plus a tail (preemption, page faults, GIL): 1 in 128 is 3-6x. */
static inline uint64_t host_dur(proc *s, uint64_t mean)
{
	uint64_t x = sim_rng_next(&s->rh);
	uint64_t d = jit_bits(x, mean, 184);

	if (((x >> 48) & 127) == 0)
		d += mean * (2 + ((x >> 56) & 3));
	return d;
}

static inline uint64_t launch_latency(proc *s)
{
	return 2800 + sim_rng_below(&s->rh, 5200);
}

static inline uint64_t gpu_gap(proc *s)
{
	return 900 + sim_rng_below(&s->rg, 700);
}

/* ---- emission ---------------------------------------------------------- */

#define SIM_INLINE static inline __attribute__((always_inline))

SIM_INLINE void put(proc *s, unsigned t, const tsm_event *ev)
{
	sim_thread *th = &s->th[t];
	int rc;

	if (!th->quota || ev->start_ns >= s->end_ns)
		return;
	rc = s->emit(ev, s->user);
	if (TSM__UNLIKELY(rc < 0)) {
		s->rc = rc;
		s->stop = 1;
		for (unsigned i = 0; i < s->nth; i++)
			s->th[i].quota = 0;
		return;
	}
	s->res->emitted[t]++;
	if (ev->start_ns < s->res->min_ns)
		s->res->min_ns = ev->start_ns;
	if (ev->end_ns > s->res->max_ns)
		s->res->max_ns = ev->end_ns;
	if (th->quota != UINT64_MAX && --th->quota == 0 && --s->live == 0)
		s->stop = 1;
}

static inline void host_event(proc *s, tsm_event *e, unsigned t, unsigned kind, uint32_t name,
			      uint64_t start, uint64_t end)
{
	memset(e, 0, sizeof(*e));
	e->kind = (uint8_t)kind;
	e->device = TSM_DEVICE_NONE;
	e->name = name;
	e->start_ns = start;
	e->end_ns = end;
	e->pid = s->pid;
	e->tid = s->th[t].tid;
	e->external = s->th[t].ext;
}

static inline void gpu_event(proc *s, tsm_event *e, unsigned kind, unsigned stream, uint64_t corr,
			     uint64_t ext, uint64_t start, uint64_t end)
{
	memset(e, 0, sizeof(*e));
	e->kind = (uint8_t)kind;
	e->device = s->dev;
	e->context = s->ctx;
	e->stream = stream_ids[stream];
	e->pid = s->pid;
	e->correlation = corr;
	e->external = ext;
	e->start_ns = start;
	e->end_ns = end;
}

SIM_INLINE void emit_api(proc *s, unsigned t, enum sim_api a, enum sim_stack st, uint64_t corr,
			 uint64_t start, uint64_t end)
{
	tsm_event e;

	if (!s->th[t].quota)
		return;
	host_event(s, &e, t, a == A_CU_LAUNCH ? TSM_EV_DRIVER : TSM_EV_RUNTIME, s->v->api[a], start,
		   end);
	e.correlation = corr;
	e.stack = s->v->stack[st];
	e.u.api.cbid = tsm__sim_apis[a].cbid;
	put(s, t, &e);
}

/* A runtime call with no GPU work (cudaFuncGetAttributes, capture, instantiate). */
static uint64_t host_api(proc *s, unsigned t, enum sim_api a, enum sim_stack st)
{
	sim_thread *th = &s->th[t];
	uint64_t c = ++s->corr, a0 = th->now;

	th->now += host_dur(s, tsm__sim_apis[a].mean_ns);
	emit_api(s, t, a, st, c, a0, th->now);
	return c;
}

static void host_work(proc *s, unsigned t, uint64_t mean)
{
	s->th[t].now += host_dur(s, mean);
}

/* ---- CPU ops ----------------------------------------------------------- */

/*
 * One draw serves both halves of an op: 2.6 us of dispatcher work before
 * its children (bits 0..47, jittered like every host duration) and an
 * epilogue of 0.6-1.4 us after them (bits 48..57), kept in the frame.
 */
SIM_INLINE void op_begin(proc *s, unsigned t, enum sim_name n, opf *f)
{
	sim_thread *th = &s->th[t];
	uint64_t x = sim_rng_next(&s->rh);

	f->start = th->now;
	f->ext = ++s->ext;
	f->parent = th->ext;
	f->name = s->v->name[n];
	f->meta = 0;
	f->post = 600 + ((x >> 48) & 1023) * 800 / 1024;
	th->ext = f->ext;
	th->now += jit_bits(x, 2600, 184);
}

SIM_INLINE void op_end(proc *s, unsigned t, opf *f)
{
	sim_thread *th = &s->th[t];
	tsm_event e;

	th->now += f->post;
	th->ext = f->parent;
	if (!th->quota)
		return;
	host_event(s, &e, t, TSM_EV_CPU_OP, f->name, f->start, th->now);
	e.external = f->ext;
	e.meta = f->meta;
	put(s, t, &e);
}

/* ---- GPU work ---------------------------------------------------------- */

static void launch_dur(proc *s, unsigned t, enum sim_kernel k, unsigned stream, uint64_t mean)
{
	const sim_kdef *kd = &tsm__sim_kernels[k];
	sim_thread *th = &s->th[t];
	enum sim_stack st;
	uint64_t a0, c, g0, g1;

	if (kd->gemm) /* cuBLAS queries the kernel's attributes before every launch */
		host_api(s, t, A_FUNC_ATTR, t == T_BWD ? S_GEMM_BWD : S_LAUNCH_GEMM);
	a0 = th->now;
	c = ++s->corr;
	g0 = q32(max64(a0 + launch_latency(s), s->ready[stream] + gpu_gap(s)));
	g1 = g0 + q32(jit(&s->rg, mean, kd->jitter_pm));
	s->ready[stream] = g1;
	th->now += host_dur(s, tsm__sim_apis[kd->api].mean_ns);
	if (!th->quota)
		return;
	if (kd->api == A_CU_LAUNCH)
		st = S_TRITON;
	else if (k == K_NCCL_AR_F32 || k == K_NCCL_AR_BF16)
		st = S_NCCL;
	else if (kd->gemm)
		st = t == T_BWD ? S_GEMM_BWD : S_LAUNCH_GEMM;
	else if (k == K_FLASH_FWD || k == K_INF_FLASH_PREFILL)
		st = S_LAUNCH_FLASH;
	else if (k >= K_FOREACH_MUL && k <= K_FUSED_ADAMW)
		st = S_OPTIMIZER;
	else
		st = t == T_BWD ? S_LAUNCH_BWD : S_LAUNCH_ELEMENTWISE;
	emit_api(s, t, kd->api, st, c, a0, th->now);
	if (th->quota) {
		tsm_event e = s->w->ktmpl[k];

		e.device = s->dev;
		e.context = s->ctx;
		e.stream = stream_ids[stream];
		e.pid = s->pid;
		e.correlation = c;
		e.external = th->ext;
		e.start_ns = g0;
		e.end_ns = g1;
		put(s, t, &e);
	}
}

static void launch(proc *s, unsigned t, enum sim_kernel k, unsigned stream)
{
	launch_dur(s, t, k, stream, s->w->kmean[k]);
}

/* Bandwidths in bytes per microsecond (= MB/s). */
#define BW_H2D_PINNED	48000ull  /* PCIe Gen5 x16, pinned */
#define BW_D2H_PAGEABLE 9000ull	  /* staged through a pinned bounce buffer */
#define BW_P2P		160000ull /* NVLink 4 copy engine, one direction */
#define BW_MEMSET	2400000ull

static void copy(proc *s, unsigned t, enum sim_api a, enum sim_stack st, unsigned stream,
		 unsigned copy_kind, unsigned src_kind, unsigned dst_kind, uint64_t bytes,
		 uint16_t dst_dev)
{
	sim_thread *th = &s->th[t];
	uint64_t bw = copy_kind == TSM_COPY_H2D	  ? BW_H2D_PINNED
		      : copy_kind == TSM_COPY_P2P ? BW_P2P
						  : BW_D2H_PAGEABLE;
	int async = src_kind != TSM_MEM_PAGEABLE && dst_kind != TSM_MEM_PAGEABLE;
	uint64_t a0 = th->now, c = ++s->corr, g0, g1;

	g0 = q32(max64(a0 + launch_latency(s), s->ready[stream] + gpu_gap(s)));
	g1 = g0 + q32(jit(&s->rg, 1300 + bytes * 1000 / bw, 40));
	s->ready[stream] = g1;
	th->now += host_dur(s, tsm__sim_apis[a].mean_ns);
	if (!async) /* pageable: the call returns once the copy is done */
		th->now = max64(th->now, g1 + host_dur(s, 2200));
	emit_api(s, t, a, st, c, a0, th->now);
	if (th->quota) {
		tsm_event e;

		gpu_event(s, &e, TSM_EV_MEMCPY, stream, c, th->ext, g0, g1);
		e.flags = async ? TSM_EVF_ASYNC : 0;
		e.u.memcpy.bytes = bytes;
		e.u.memcpy.copy_kind = (uint8_t)copy_kind;
		e.u.memcpy.src_kind = (uint8_t)src_kind;
		e.u.memcpy.dst_kind = (uint8_t)dst_kind;
		e.u.memcpy.src_device = s->dev;
		e.u.memcpy.dst_device = dst_dev;
		put(s, t, &e);
	}
}

static void memset_async(proc *s, unsigned t, unsigned stream, uint64_t bytes)
{
	sim_thread *th = &s->th[t];
	uint64_t a0 = th->now, c = ++s->corr, g0, g1;

	g0 = q32(max64(a0 + launch_latency(s), s->ready[stream] + gpu_gap(s)));
	g1 = g0 + q32(jit(&s->rg, 1500 + bytes * 1000 / BW_MEMSET, 40));
	s->ready[stream] = g1;
	th->now += host_dur(s, tsm__sim_apis[A_MEMSET_ASYNC].mean_ns);
	emit_api(s, t, A_MEMSET_ASYNC, S_MEMSET, c, a0, th->now);
	if (th->quota) {
		tsm_event e;

		gpu_event(s, &e, TSM_EV_MEMSET, stream, c, th->ext, g0, g1);
		e.flags = TSM_EVF_ASYNC;
		e.u.memset.bytes = bytes;
		e.u.memset.value = 0;
		e.u.memset.mem_kind = TSM_MEM_DEVICE;
		put(s, t, &e);
	}
}

typedef struct cuda_event {
	uint64_t id, at, flow;
} cuda_event;

/* cudaEventRecord: the record is reached when the stream gets there. */
static cuda_event record(proc *s, unsigned t, unsigned stream)
{
	sim_thread *th = &s->th[t];
	uint64_t a0 = th->now, c = ++s->corr;
	cuda_event ev;

	ev.id = ++s->cuda_event;
	ev.flow = ((uint64_t)(s->rank + 1) << 40) | ++s->flow;
	ev.at = q32(max64(a0 + launch_latency(s), s->ready[stream]));
	s->ready[stream] = ev.at;
	th->now += host_dur(s, tsm__sim_apis[A_EVENT_RECORD].mean_ns);
	emit_api(s, t, A_EVENT_RECORD, S_EVENT, c, a0, th->now);
	if (th->quota) {
		tsm_event e;

		gpu_event(s, &e, TSM_EV_SYNC, stream, c, th->ext, ev.at, ev.at);
		e.u.sync.sync_type = TSM_SYNC_EVENT_RECORD;
		e.u.sync.event_id = ev.id;
		e.flow_id = ev.flow;
		e.flow_type = TSM_FLOW_START;
		put(s, t, &e);
	}
	return ev;
}

/* cudaStreamWaitEvent: the stream stalls until the record time. */
static void wait_event(proc *s, unsigned t, unsigned stream, const cuda_event *ev)
{
	sim_thread *th = &s->th[t];
	uint64_t a0 = th->now, c = ++s->corr, w0, w1;

	w0 = q32(max64(a0 + launch_latency(s), s->ready[stream]));
	w1 = max64(w0, ev->at);
	s->ready[stream] = w1;
	th->now += host_dur(s, tsm__sim_apis[A_STREAM_WAIT].mean_ns);
	emit_api(s, t, A_STREAM_WAIT, S_EVENT, c, a0, th->now);
	if (th->quota) {
		tsm_event e;

		gpu_event(s, &e, TSM_EV_SYNC, stream, c, th->ext, w0, w1);
		e.u.sync.sync_type = TSM_SYNC_STREAM_WAIT_EVENT;
		e.u.sync.event_id = ev->id;
		e.flow_id = ev->flow;
		e.flow_type = TSM_FLOW_END;
		put(s, t, &e);
	}
}

static void cross_stream(proc *s, unsigned t, unsigned from, unsigned to)
{
	cuda_event ev = record(s, t, from);

	wait_event(s, t, to, &ev);
}

/* cudaStreamSynchronize (one stream) or cudaDeviceSynchronize (all). */
static void host_sync(proc *s, unsigned t, int all, unsigned stream)
{
	sim_thread *th = &s->th[t];
	uint64_t a0 = th->now, c = ++s->corr, s0, s1;
	enum sim_api a = all ? A_DEVICE_SYNC : A_STREAM_SYNC;

	s0 = q32(a0 + 600 + sim_rng_below(&s->rh, 600));
	s1 = s0;
	for (unsigned i = 0; i < ST__COUNT; i++)
		if (all || i == stream)
			s1 = max64(s1, s->ready[i]);
	th->now = max64(a0 + host_dur(s, tsm__sim_apis[a].mean_ns), s1 + host_dur(s, 1800));
	emit_api(s, t, a, S_SYNC, c, a0, th->now);
	if (th->quota) {
		tsm_event e;

		gpu_event(s, &e, TSM_EV_SYNC, all ? 0 : stream, c, th->ext, s0, s1);
		if (all)
			e.stream = 0;
		e.u.sync.sync_type = (uint8_t)(all ? TSM_SYNC_CONTEXT : TSM_SYNC_STREAM);
		put(s, t, &e);
	}
}

/* ---- memory ------------------------------------------------------------ */

static void memory_event(proc *s, unsigned t, unsigned kind, uint64_t corr, uint64_t at,
			 uint64_t addr, uint64_t bytes, unsigned mem_kind)
{
	tsm_event e;

	if (!s->th[t].quota)
		return;
	host_event(s, &e, t, kind, 0, at, at);
	e.device = mem_kind == TSM_MEM_PINNED ? TSM_DEVICE_NONE : s->dev;
	e.context = s->ctx;
	e.correlation = corr;
	e.u.memory.address = addr;
	e.u.memory.bytes = bytes;
	e.u.memory.mem_kind = (uint8_t)mem_kind;
	put(s, t, &e);
}

/* The caching allocator asks the driver for a new segment (2 MiB granularity). */
static uint64_t cuda_malloc(proc *s, unsigned t, uint64_t bytes)
{
	sim_thread *th = &s->th[t];
	uint64_t a0 = th->now, c = ++s->corr, addr = s->addr_next;

	bytes = (bytes + TWO_MIB - 1) & ~(TWO_MIB - 1);
	s->addr_next += bytes;
	s->reserved += bytes;
	th->now += host_dur(s, tsm__sim_apis[A_MALLOC].mean_ns + bytes / 40960);
	emit_api(s, t, A_MALLOC, S_MALLOC, c, a0, th->now);
	memory_event(s, t, TSM_EV_ALLOC, c, th->now - 700, addr, bytes, TSM_MEM_DEVICE);
	return addr;
}

static void cuda_free(proc *s, unsigned t, uint64_t addr, uint64_t bytes)
{
	sim_thread *th = &s->th[t];
	uint64_t a0 = th->now, c = ++s->corr;

	s->reserved -= bytes;
	th->now += host_dur(s, tsm__sim_apis[A_FREE].mean_ns);
	emit_api(s, t, A_FREE, S_MALLOC, c, a0, th->now);
	memory_event(s, t, TSM_EV_FREE, c, a0 + 900, addr, bytes, TSM_MEM_DEVICE);
}

/* Occasional: the allocator frees a cached segment and maps a larger one (fragmentation). */
static void maybe_realloc(proc *s, unsigned t)
{
	uint64_t bytes;

	if (s->iter == 0 || sim_rng_below(&s->rh, 96) != 0)
		return;
	bytes = (1 + sim_rng_below(&s->rh, 10)) * TWO_MIB * 10;
	cuda_free(s, t, s->addr_next - bytes, bytes);
	s->addr_next -= bytes;
	cuda_malloc(s, t, bytes + 20 * TWO_MIB);
}

static void counter(proc *s, unsigned t, enum sim_name n, double value)
{
	tsm_event e;

	if (!s->th[t].quota)
		return;
	host_event(s, &e, t, TSM_EV_COUNTER, s->v->name[n], s->th[t].now, s->th[t].now);
	e.device = s->dev;
	e.external = 0;
	e.u.counter.value = value;
	put(s, t, &e);
}

static void iteration_tail(proc *s, uint64_t step_start, uint64_t step_ext, uint32_t step_name)
{
	sim_thread *m = &s->th[T_MAIN];
	tsm_event e;

	maybe_realloc(s, T_MAIN);
	/* Activations and temporaries come and go; parameters and optimizer state stay. */
	counter(s, T_MAIN, N_COUNTER_ALLOCATED,
		(double)(s->allocated + sim_rng_below(&s->rh, 64) * 512 * 1024));
	if (s->reserved != s->last_reserved) {
		counter(s, T_MAIN, N_COUNTER_RESERVED, (double)s->reserved);
		s->last_reserved = s->reserved;
	}
	if (s->iter % 32 == 31) {
		/* CUPTI handing over a full activity buffer: rare tracer overhead. The
		 * draw is made whether or not the event is wanted: masks never change
		 * the random streams. */
		uint64_t d = host_dur(s, 160 * US);

		if (m->quota) {
			host_event(s, &e, T_MAIN, TSM_EV_OVERHEAD, s->v->name[N_OVERHEAD_FLUSH],
				   m->now - d, m->now);
			e.external = 0;
			e.u.overhead.overhead_kind = TSM_OVERHEAD_BUFFER_FLUSH;
			put(s, T_MAIN, &e);
		}
	}
	m->now += host_dur(s, 1500);
	if (m->quota) {
		host_event(s, &e, T_MAIN, TSM_EV_NVTX_RANGE, step_name, step_start, m->now);
		e.external = step_ext;
		put(s, T_MAIN, &e);
	}
	m->now += host_dur(s, 4 * US);
}

/* ---- training (GPT and MLP) ------------------------------------------------ */

static void linear(proc *s, unsigned t, enum sim_kernel k, int first_iter, uint64_t act_bytes)
{
	opf a, b;

	op_begin(s, t, N_ATEN_LINEAR, &a);
	op_begin(s, t, N_ATEN_ADDMM, &b);
	if (first_iter) {
		cuda_malloc(s, t, act_bytes);
		s->allocated += act_bytes;
	}
	launch(s, t, k, ST_COMPUTE);
	op_end(s, t, &b);
	op_end(s, t, &a);
}

static void simple_op(proc *s, unsigned t, enum sim_name n, enum sim_kernel k)
{
	opf a;

	op_begin(s, t, n, &a);
	launch(s, t, k, ST_COMPUTE);
	op_end(s, t, &a);
}

static void nested_op(proc *s, unsigned t, enum sim_name outer, enum sim_name inner,
		      enum sim_kernel k)
{
	opf a, b;

	op_begin(s, t, outer, &a);
	op_begin(s, t, inner, &b);
	launch(s, t, k, ST_COMPUTE);
	op_end(s, t, &b);
	op_end(s, t, &a);
}

static void matmul_backward(proc *s, unsigned t, enum sim_name n, enum sim_kernel dgrad,
			    enum sim_kernel wgrad)
{
	opf a, b;

	op_begin(s, t, n, &a);
	op_begin(s, t, N_ATEN_MM, &b);
	launch(s, t, dgrad, ST_COMPUTE);
	op_end(s, t, &b);
	op_begin(s, t, N_ATEN_MM, &b);
	launch(s, t, wgrad, ST_COMPUTE);
	op_end(s, t, &b);
	op_end(s, t, &a);
	op_begin(s, t, N_BWD_ACCUMULATE, &a);
	op_end(s, t, &a);
}

static void layer_norm_backward(proc *s, unsigned t)
{
	opf a, b;

	op_begin(s, t, N_BWD_LAYER_NORM, &a);
	op_begin(s, t, N_ATEN_LN_BWD, &b);
	launch(s, t, K_LN_BWD_INPUT, ST_COMPUTE);
	launch(s, t, K_LN_BWD_GAMMA, ST_COMPUTE);
	op_end(s, t, &b);
	op_end(s, t, &a);
}

/* A collective on a NCCL stream, ordered after the compute stream by an event. */
static void collective(proc *s, unsigned t, unsigned stream, enum sim_kernel k, uint64_t mean,
		       enum sim_meta meta, int join_back)
{
	opf a, b;

	cross_stream(s, t, ST_COMPUTE, stream);
	op_begin(s, t, N_RECORD_PARAM_COMMS, &a);
	a.meta = s->v->meta[meta];
	op_begin(s, t, N_NCCL_ALLREDUCE, &b);
	launch_dur(s, t, k, stream, mean);
	op_end(s, t, &b);
	op_end(s, t, &a);
	if (join_back)
		cross_stream(s, t, stream, ST_COMPUTE);
}

static void h2d_batch(proc *s, unsigned t, uint64_t bytes)
{
	opf a, b, c;

	for (int i = 0; i < 2; i++) { /* input ids, then labels */
		op_begin(s, t, N_ATEN_TO, &a);
		op_begin(s, t, N_ATEN_TO_COPY, &b);
		op_begin(s, t, N_ATEN_COPY, &c);
		copy(s, t, A_MEMCPY_ASYNC, S_MEMCPY_H2D, ST_COPY, TSM_COPY_H2D, TSM_MEM_PINNED,
		     TSM_MEM_DEVICE, bytes, s->dev);
		op_end(s, t, &c);
		op_end(s, t, &b);
		op_end(s, t, &a);
	}
	cross_stream(s, t, ST_COPY, ST_COMPUTE);
}

static void loss_item(proc *s, unsigned t)
{
	opf a, b;

	op_begin(s, t, N_ATEN_ITEM, &a);
	op_begin(s, t, N_ATEN_LOCAL_SCALAR_DENSE, &b);
	copy(s, t, A_MEMCPY_ASYNC, S_MEMCPY_D2H, ST_COMPUTE, TSM_COPY_D2H, TSM_MEM_DEVICE,
	     TSM_MEM_PAGEABLE, 4, s->dev);
	host_sync(s, t, 0, ST_COMPUTE);
	op_end(s, t, &b);
	op_end(s, t, &a);
}

static void pin_memory(proc *s, unsigned t, uint64_t at)
{
	sim_thread *th = &s->th[t];
	opf a, b;

	th->now = max64(th->now, at + host_dur(s, 30 * US));
	op_begin(s, t, N_ATEN_PIN_MEMORY, &a);
	op_begin(s, t, N_ATEN__PIN_MEMORY, &b);
	if (s->iter < 2) { /* the caching host allocator warms up */
		uint64_t a0 = th->now, c = ++s->corr;

		th->now += host_dur(s, tsm__sim_apis[A_HOST_ALLOC].mean_ns);
		emit_api(s, t, A_HOST_ALLOC, S_MALLOC, c, a0, th->now);
		memory_event(s, t, TSM_EV_ALLOC, c, th->now - 900,
			     0x7f3a40000000ull + ((uint64_t)t << 28) + s->iter * TWO_MIB, TWO_MIB,
			     TSM_MEM_PINNED);
	}
	host_work(s, t, 45 * US);
	op_end(s, t, &b);
	op_end(s, t, &a);
}

static void zero_grad(proc *s, unsigned t, unsigned buckets, uint64_t bucket_bytes)
{
	opf a, b;

	op_begin(s, t, N_OPT_ZERO_GRAD, &a);
	for (unsigned i = 0; i < buckets; i++) {
		op_begin(s, t, N_ATEN_ZERO_, &b);
		memset_async(s, t, ST_COMPUTE, bucket_bytes);
		op_end(s, t, &b);
	}
	op_end(s, t, &a);
}

static void optimizer_step(proc *s, unsigned t, unsigned launches)
{
	static const enum sim_name ops[] = {N_FOREACH_MUL_, N_FOREACH_ADDCMUL_, N_FOREACH_ADD_};
	static const enum sim_kernel ks[] = {K_FOREACH_MUL, K_FOREACH_ADDCMUL, K_FOREACH_ADD};
	opf a, b;

	op_begin(s, t, N_OPT_STEP, &a);
	for (unsigned i = 0; i < TSM__ARRAY_SIZE(ops); i++) {
		op_begin(s, t, ops[i], &b);
		for (unsigned j = 0; j < launches; j++)
			launch(s, t, ks[i], ST_COMPUTE);
		op_end(s, t, &b);
	}
	op_begin(s, t, N_FUSED_ADAMW, &b);
	for (unsigned j = 0; j < launches; j++)
		launch(s, t, K_FUSED_ADAMW, ST_COMPUTE);
	op_end(s, t, &b);
	op_end(s, t, &a);
}

static void gpt_iteration(proc *s, uint64_t step_start, uint64_t step_ext, uint32_t step_name)
{
	const sim_preset *p = s->p;
	unsigned tb = s->nth > 1 ? T_BWD : T_MAIN;
	unsigned tp = s->w->tp, dp = s->w->ranks / tp;
	int first = s->iter == 0;
	uint64_t act = (uint64_t)p->hidden * 8192 * 2;
	uint16_t peer = (uint16_t)((s->rank / tp) * tp + (s->rank % tp + 1) % tp);
	unsigned buckets = (p->layers + p->bucket_layers - 1) / p->bucket_layers + 1;
	opf a, b, c;

	op_begin(s, T_MAIN, N_DATALOADER, &a);
	host_work(s, T_MAIN, 210 * US);
	op_end(s, T_MAIN, &a);
	h2d_batch(s, T_MAIN, p->batch_bytes);

	op_begin(s, T_MAIN, N_DDP_FORWARD, &a);
	op_begin(s, T_MAIN, N_ATEN_EMBEDDING, &b);
	op_begin(s, T_MAIN, N_ATEN_INDEX_SELECT, &c);
	if (first) {
		cuda_malloc(s, T_MAIN, act);
		s->allocated += act;
	}
	launch(s, T_MAIN, K_EMBED_FWD, ST_COMPUTE);
	op_end(s, T_MAIN, &c);
	op_end(s, T_MAIN, &b);
	for (unsigned l = 0; l < p->layers && !s->stop; l++) {
		nested_op(s, T_MAIN, N_ATEN_LAYER_NORM, N_ATEN_NATIVE_LAYER_NORM, K_LN_FWD);
		linear(s, T_MAIN, K_GEMM_QKV, first, act * 3 / tp);
		op_begin(s, T_MAIN, N_ATEN_SDPA, &b);
		op_begin(s, T_MAIN, N_ATEN_SDPA_FLASH, &c);
		nested_op(s, T_MAIN, N_ATEN_FLASH_FWD, N_ATEN_EMPTY, K_FLASH_FWD);
		op_end(s, T_MAIN, &c);
		op_end(s, T_MAIN, &b);
		linear(s, T_MAIN, K_GEMM_PROJ, 0, 0);
		if (tp > 1)
			collective(s, T_MAIN, ST_COMM_TP, K_NCCL_AR_BF16,
				   s->w->kmean[K_NCCL_AR_BF16], M_TP_ALLREDUCE, 1);
		simple_op(s, T_MAIN, N_ATEN_ADD, K_ADD_BF16);
		nested_op(s, T_MAIN, N_ATEN_LAYER_NORM, N_ATEN_NATIVE_LAYER_NORM, K_LN_FWD);
		linear(s, T_MAIN, K_GEMM_FC1, first, act * 4 / tp);
		simple_op(s, T_MAIN, N_ATEN_GELU, K_GELU_FWD);
		linear(s, T_MAIN, K_GEMM_FC2, 0, 0);
		if (tp > 1)
			collective(s, T_MAIN, ST_COMM_TP, K_NCCL_AR_BF16,
				   s->w->kmean[K_NCCL_AR_BF16], M_TP_ALLREDUCE, 1);
		simple_op(s, T_MAIN, N_ATEN_ADD, K_ADD_BF16);
		if (p->p2p && tp > 1) {
			/* Hand this layer's activation shard to the TP neighbour over NVLink. */
			cross_stream(s, T_MAIN, ST_COMPUTE, ST_COPY);
			op_begin(s, T_MAIN, N_ATEN_COPY, &b);
			copy(s, T_MAIN, A_MEMCPY_PEER_ASYNC, S_MEMCPY_H2D, ST_COPY, TSM_COPY_P2P,
			     TSM_MEM_DEVICE, TSM_MEM_DEVICE, act / tp, peer);
			op_end(s, T_MAIN, &b);
		}
	}
	nested_op(s, T_MAIN, N_ATEN_LAYER_NORM, N_ATEN_NATIVE_LAYER_NORM, K_LN_FWD);
	linear(s, T_MAIN, K_GEMM_LMHEAD, first, act * 32);
	op_end(s, T_MAIN, &a);
	op_begin(s, T_MAIN, N_ATEN_CROSS_ENTROPY, &a);
	simple_op(s, T_MAIN, N_ATEN_LOG_SOFTMAX, K_LOGSOFTMAX_FWD);
	simple_op(s, T_MAIN, N_ATEN_NLL_LOSS, K_NLL_FWD);
	op_end(s, T_MAIN, &a);
	if (s->stop)
		return;

	/* loss.backward(): the autograd engine's device thread takes over. */
	s->th[tb].now = max64(s->th[tb].now, s->th[T_MAIN].now + host_dur(s, 14 * US));
	op_begin(s, tb, N_BWD_NLL, &a);
	nested_op(s, tb, N_ATEN_ZERO_, N_ATEN_FILL_, K_FILL_F32);
	launch(s, tb, K_NLL_BWD, ST_COMPUTE);
	op_end(s, tb, &a);
	simple_op(s, tb, N_BWD_LOG_SOFTMAX, K_LOGSOFTMAX_BWD);
	matmul_backward(s, tb, N_BWD_MM, K_GEMM_DGRAD_BIG, K_GEMM_WGRAD_BIG);
	layer_norm_backward(s, tb);
	for (unsigned l = p->layers; l-- > 0 && !s->stop;) {
		op_begin(s, tb, N_BWD_ADD, &a);
		op_end(s, tb, &a);
		matmul_backward(s, tb, N_BWD_ADDMM, K_GEMM_DGRAD, K_GEMM_WGRAD);
		nested_op(s, tb, N_BWD_GELU, N_ATEN_GELU_BWD, K_GELU_BWD);
		matmul_backward(s, tb, N_BWD_ADDMM, K_GEMM_DGRAD, K_GEMM_WGRAD);
		if (tp > 1)
			collective(s, tb, ST_COMM_TP, K_NCCL_AR_BF16, s->w->kmean[K_NCCL_AR_BF16],
				   M_TP_ALLREDUCE, 1);
		layer_norm_backward(s, tb);
		simple_op(s, tb, N_BWD_ADD, K_ADD_GRAD_F32);
		matmul_backward(s, tb, N_BWD_ADDMM, K_GEMM_DGRAD, K_GEMM_WGRAD);
		op_begin(s, tb, N_BWD_FLASH, &a);
		op_begin(s, tb, N_ATEN_FLASH_BWD, &b);
		launch(s, tb, K_FLASH_BWD_DOT, ST_COMPUTE);
		launch(s, tb, K_FLASH_BWD, ST_COMPUTE);
		launch(s, tb, K_FLASH_BWD_CONVERT, ST_COMPUTE);
		op_end(s, tb, &b);
		op_end(s, tb, &a);
		matmul_backward(s, tb, N_BWD_ADDMM, K_GEMM_DGRAD, K_GEMM_WGRAD);
		if (tp > 1)
			collective(s, tb, ST_COMM_TP, K_NCCL_AR_BF16, s->w->kmean[K_NCCL_AR_BF16],
				   M_TP_ALLREDUCE, 1);
		layer_norm_backward(s, tb);
		simple_op(s, tb, N_BWD_ADD, K_ADD_GRAD_F32);
		/* DDP: a bucket's gradients are ready; all-reduce it while backward goes on. */
		if (dp > 1 && l % p->bucket_layers == 0)
			collective(s, tb, ST_COMM_DP, K_NCCL_AR_F32, s->w->kmean[K_NCCL_AR_F32],
				   M_DDP_BUCKET, 0);
	}
	if (s->stop)
		return;
	op_begin(s, tb, N_BWD_EMBEDDING, &a);
	op_begin(s, tb, N_ATEN_EMBED_DENSE_BWD, &b);
	memset_async(s, tb, ST_COMPUTE, 50304ull * p->hidden * 4 / tp);
	launch(s, tb, K_EMBED_BWD, ST_COMPUTE);
	op_end(s, tb, &b);
	op_end(s, tb, &a);
	if (dp > 1) {
		collective(s, tb, ST_COMM_DP, K_NCCL_AR_F32, s->w->kmean[K_NCCL_AR_F32] * 5 / 2,
			   M_DDP_BUCKET_FIRST, 0);
		op_begin(s, tb, N_DDP_FINALIZE, &a);
		cross_stream(s, tb, ST_COMM_DP, ST_COMPUTE);
		op_end(s, tb, &a);
	}
	s->th[T_MAIN].now = max64(s->th[T_MAIN].now, s->th[tb].now + host_dur(s, 9 * US));

	optimizer_step(s, T_MAIN, 2);
	/* loss.backward(); optimizer.step(); optimizer.zero_grad(): DDP's gradient buckets are
	 * zeroed after the step, ready for the next backward pass. */
	zero_grad(s, T_MAIN, buckets, (uint64_t)p->hidden * p->hidden * 12 * 4 / tp);
	if (first)
		s->allocated += (uint64_t)p->hidden * p->hidden * 12 * p->layers * 8 / tp;
	loss_item(s, T_MAIN);
	iteration_tail(s, step_start, step_ext, step_name);
}

static void mlp_iteration(proc *s, uint64_t step_start, uint64_t step_ext, uint32_t step_name)
{
	const sim_preset *p = s->p;
	int first = s->iter == 0;
	uint64_t act = (uint64_t)p->hidden * 4096 * 2;
	opf a, b;

	if (first) {
		cuda_malloc(s, T_MAIN, (uint64_t)p->hidden * p->hidden * 2 * p->layers * 4);
		s->allocated += (uint64_t)p->hidden * p->hidden * 2 * p->layers * 4;
	}
	zero_grad(s, T_MAIN, 1, (uint64_t)p->hidden * p->hidden * 2 * p->layers);
	h2d_batch(s, T_MAIN, p->batch_bytes);
	for (unsigned l = 0; l < p->layers && !s->stop; l++) {
		linear(s, T_MAIN, K_MLP_GEMM, first && l == 0, act * p->layers);
		if (l + 1 < p->layers)
			simple_op(s, T_MAIN, N_ATEN_RELU, K_RELU);
	}
	op_begin(s, T_MAIN, N_ATEN_MSE_LOSS, &a);
	launch(s, T_MAIN, K_MUL_BF16, ST_COMPUTE);
	simple_op(s, T_MAIN, N_ATEN_MEAN, K_MEAN_REDUCE);
	op_end(s, T_MAIN, &a);
	simple_op(s, T_MAIN, N_BWD_MSE, K_MUL_BF16);
	for (unsigned l = p->layers; l-- > 0 && !s->stop;) {
		op_begin(s, T_MAIN, N_BWD_ADDMM, &a);
		if (l > 0) {
			op_begin(s, T_MAIN, N_ATEN_MM, &b);
			launch(s, T_MAIN, K_MLP_GEMM, ST_COMPUTE);
			op_end(s, T_MAIN, &b);
		}
		op_begin(s, T_MAIN, N_ATEN_MM, &b);
		launch(s, T_MAIN, K_MLP_GEMM, ST_COMPUTE);
		op_end(s, T_MAIN, &b);
		op_end(s, T_MAIN, &a);
		if (l > 0)
			simple_op(s, T_MAIN, N_BWD_RELU, K_RELU);
	}
	op_begin(s, T_MAIN, N_OPT_STEP, &a);
	simple_op(s, T_MAIN, N_FUSED_ADAMW, K_FUSED_ADAMW);
	op_end(s, T_MAIN, &a);
	loss_item(s, T_MAIN);
	iteration_tail(s, step_start, step_ext, step_name);
}

/* ---- serving: prefill + CUDA-graph decode ---------------------------------- */

static const enum sim_kernel decode_layer[] = {
    K_INF_RMSNORM, K_INF_GEMM_QKV,    K_INF_ROTARY,	 K_INF_FLASH_DECODE, K_INF_FLASH_COMBINE,
    K_INF_GEMM_O,  K_INF_ADD_RMSNORM, K_INF_GEMM_GATEUP, K_INF_SILU_MUL,     K_INF_GEMM_DOWN,
};

static void prefill(proc *s, unsigned t)
{
	const sim_preset *p = s->p;
	opf a, b;

	op_begin(s, t, N_COMPILED_REGION, &a);
	for (unsigned l = 0; l < p->layers && !s->stop; l++) {
		for (unsigned i = 0; i < TSM__ARRAY_SIZE(decode_layer); i++) {
			enum sim_kernel k = decode_layer[i];

			if (k == K_INF_FLASH_DECODE)
				k = K_INF_FLASH_PREFILL;
			if (k == K_INF_FLASH_COMBINE)
				continue;
			if (tsm__sim_kernels[k].gemm) { /* compute-bound at prefill: ~8x decode */
				op_begin(s, t, N_ATEN_MM, &b);
				launch_dur(s, t, k, ST_COMPUTE, s->w->kmean[k] * 8);
				op_end(s, t, &b);
			} else {
				launch(s, t, k, ST_COMPUTE);
			}
		}
	}
	op_end(s, t, &a);
}

/* Stream capture of the decode step: launches are recorded, nothing runs. */
static void capture_graph(proc *s, unsigned t)
{
	const sim_preset *p = s->p;
	opf a;

	op_begin(s, t, N_GRAPH_CAPTURE, &a);
	host_api(s, t, A_BEGIN_CAPTURE, S_GRAPH);
	for (unsigned l = 0; l < p->layers && !s->stop; l++)
		for (unsigned i = 0; i < TSM__ARRAY_SIZE(decode_layer); i++)
			host_api(s, t, tsm__sim_kernels[decode_layer[i]].api,
				 tsm__sim_kernels[decode_layer[i]].api == A_CU_LAUNCH
				     ? S_TRITON
				     : S_LAUNCH_GEMM);
	host_api(s, t, A_END_CAPTURE, S_GRAPH);
	host_api(s, t, A_GRAPH_INSTANTIATE, S_GRAPH);
	op_end(s, t, &a);
}

static void graph_replay(proc *s, unsigned t, uint32_t graph_id)
{
	const sim_preset *p = s->p;
	sim_thread *th = &s->th[t];
	uint64_t a0 = th->now, c = ++s->corr, g;
	uint64_t node = 0;
	opf a;

	op_begin(s, t, N_GRAPH_REPLAY, &a);
	a0 = th->now;
	g = q32(max64(a0 + 2 * launch_latency(s), s->ready[ST_COMPUTE] + gpu_gap(s)));
	th->now += host_dur(s, tsm__sim_apis[A_GRAPH_LAUNCH].mean_ns + (uint64_t)p->layers * 120);
	emit_api(s, t, A_GRAPH_LAUNCH, S_GRAPH, c, a0, th->now);
	for (unsigned l = 0; l < p->layers; l++) {
		for (unsigned i = 0; i < TSM__ARRAY_SIZE(decode_layer); i++) {
			enum sim_kernel k = decode_layer[i];
			uint64_t d =
			    q32(jit(&s->rg, s->w->kmean[k], tsm__sim_kernels[k].jitter_pm));

			node++;
			if (th->quota) {
				tsm_event e = s->w->ktmpl[k];

				e.flags |= TSM_EVF_GRAPH;
				e.device = s->dev;
				e.context = s->ctx;
				e.stream = stream_ids[ST_COMPUTE];
				e.pid = s->pid;
				e.correlation = c;
				e.external = th->ext;
				e.start_ns = g;
				e.end_ns = g + d;
				e.u.kernel.graph_id = graph_id;
				e.u.kernel.graph_node_id = ((uint64_t)graph_id << 32) | node;
				put(s, t, &e);
			}
			/* Graph nodes follow each other with a sub-microsecond gap. */
			g += d + q32(350 + sim_rng_below(&s->rg, 400));
		}
	}
	s->ready[ST_COMPUTE] = g;
	op_end(s, t, &a);
}

static void decode_iteration(proc *s, uint64_t step_start, uint64_t step_ext, uint32_t step_name)
{
	const sim_preset *p = s->p;
	int first = s->iter == 0;
	opf a, b;

	if (first) {
		/* Weights, then the KV cache: the big allocations of a serving process. */
		for (int i = 0; i < 4; i++)
			cuda_malloc(s, T_MAIN, 3400ull << 20);
		cuda_malloc(s, T_MAIN, 40ull << 30);
		s->allocated = s->reserved;
	}
	op_begin(s, T_MAIN, N_ATEN_COPY, &a);
	copy(s, T_MAIN, A_MEMCPY_ASYNC, S_MEMCPY_H2D, ST_COMPUTE, TSM_COPY_H2D, TSM_MEM_PINNED,
	     TSM_MEM_DEVICE, p->batch_bytes, s->dev);
	op_end(s, T_MAIN, &a);
	if (s->iter % 16 == 0) /* a new batch of requests: prefill runs eagerly */
		prefill(s, T_MAIN);
	if (first)
		capture_graph(s, T_MAIN);
	if (s->stop)
		return;
	graph_replay(s, T_MAIN, 1);
	launch_dur(s, T_MAIN, K_INF_GEMM_LMHEAD, ST_COMPUTE, s->w->kmean[K_INF_GEMM_LMHEAD]);
	op_begin(s, T_MAIN, N_SAMPLER, &a);
	simple_op(s, T_MAIN, N_ATEN_ARGMAX, K_INF_ARGMAX);
	op_begin(s, T_MAIN, N_ATEN_ITEM, &b);
	copy(s, T_MAIN, A_MEMCPY_ASYNC, S_MEMCPY_D2H, ST_COMPUTE, TSM_COPY_D2H, TSM_MEM_DEVICE,
	     TSM_MEM_PAGEABLE, 16 * 8, s->dev);
	host_sync(s, T_MAIN, 0, ST_COMPUTE);
	op_end(s, T_MAIN, &b);
	op_end(s, T_MAIN, &a);
	if (s->nth > 1) {
		unsigned t = T_BWD;

		s->th[t].now = max64(s->th[t].now, s->th[T_MAIN].now + host_dur(s, 6 * US));
		op_begin(s, t, N_DETOKENIZE, &a);
		host_work(s, t, 38 * US);
		op_end(s, t, &a);
	}
	if (s->iter % 16 == 15 && s->th[T_MAIN].quota) {
		tsm_event e;

		host_event(s, &e, T_MAIN, TSM_EV_NVTX_MARK, s->v->name[N_MARK_REQUEST_DONE],
			   s->th[T_MAIN].now, s->th[T_MAIN].now);
		e.u.nvtx.domain = s->v->name[N_NVTX_DOMAIN];
		e.u.nvtx.color = 0xff76b900;
		put(s, T_MAIN, &e);
	}
	iteration_tail(s, step_start, step_ext, step_name);
}

/* ---- driver ------------------------------------------------------------ */

uint32_t tsm__sim_pid(const sim_world *w, uint32_t rank)
{
	return 48213 + rank * 97 + (uint32_t)(w->seed % 61);
}

uint64_t tsm__sim_tid(const sim_world *w, uint32_t rank, unsigned thread)
{
	static const unsigned off[SIM_MAX_THREADS] = {0, 219, 231, 232};

	return tsm__sim_pid(w, rank) + off[thread];
}

int tsm__sim_process_run(sim_world *w, uint32_t rank, const uint64_t quota[SIM_MAX_THREADS],
			 uint64_t max_iterations, tsm_sim_emit_fn emit, void *user,
			 sim_run_result *res)
{
	proc *s = tsm__calloc(1, sizeof(*s));
	uint64_t iters, idle = 0, before = 0;
	int rc;

	memset(res, 0, sizeof(*res));
	res->min_ns = UINT64_MAX;
	if (!s)
		return TSM_FAIL(TSM_NOMEM, "sim: process state");
	s->w = w;
	s->p = w->p;
	s->v = &w->v;
	s->rank = rank;
	s->pid = tsm__sim_pid(w, rank);
	s->dev = (uint16_t)rank;
	s->ctx = rank + 1;
	s->nth = w->threads;
	s->emit = emit;
	s->user = user;
	s->res = res;
	s->end_ns = w->end_ns;
	/* CUPTI correlation ids start above the few calls made before profiling began. */
	s->corr = 10;
	s->addr_next = 0x7f4a00000000ull + ((uint64_t)rank << 36);
	sim_rng_seed(&s->rh, w->seed ^ tsm__mix64(0x40570000ull + rank));
	for (unsigned t = 0; t < SIM_MAX_THREADS; t++) {
		s->th[t].now = SIM_BASE_NS + 1500 * US + t * 17 * US + rank * 41 * US;
		s->th[t].tid = tsm__sim_tid(w, rank, t);
		s->th[t].quota = t < s->nth ? quota[t] : 0;
		if (s->th[t].quota)
			s->live++;
	}
	for (unsigned i = 0; i < ST__COUNT; i++)
		s->ready[i] = SIM_BASE_NS;
	if (w->max_events || w->end_ns != UINT64_MAX)
		iters = UINT64_MAX;
	else
		iters = w->p->iterations;
	if (max_iterations && max_iterations < iters)
		iters = max_iterations;
	if (!s->live)
		goto out;
	for (s->iter = 0; s->iter < iters && !s->stop; s->iter++) {
		sim_thread *m = &s->th[T_MAIN];
		uint64_t step_start, step_ext, total = 0;
		uint32_t step_name;

		if (m->now >= s->end_ns)
			break;
		rc = tsm__sim_step_name(w, s->iter, &step_name);
		if (rc < 0) {
			s->rc = rc;
			break;
		}
		sim_rng_seed(&s->rg, w->seed ^ tsm__mix64(0x69700000000ull + s->iter));
		if (s->iter == 0)
			host_sync(s, T_MAIN, 1, 0); /* torch.cuda.synchronize() before the loop */
		step_start = m->now;
		step_ext = ++s->ext;
		for (unsigned t = T_PIN0; t < s->nth; t++)
			pin_memory(s, t, step_start);
		switch (w->p->model) {
		case SIM_MODEL_GPT:
			gpt_iteration(s, step_start, step_ext, step_name);
			break;
		case SIM_MODEL_MLP:
			mlp_iteration(s, step_start, step_ext, step_name);
			break;
		case SIM_MODEL_DECODE:
			decode_iteration(s, step_start, step_ext, step_name);
			break;
		}
		/* A thread with quota left that stopped producing would loop forever. */
		for (unsigned t = 0; t < s->nth; t++)
			total += res->emitted[t];
		idle = total == before ? idle + 1 : 0;
		before = total;
		if (idle >= 64)
			break;
	}
	res->iterations = s->iter;
out:
	rc = s->rc;
	tsm__free(s);
	return rc;
}
