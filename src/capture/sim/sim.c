/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The simulation backend's driver: world setup, event shares, and the two
 * ways of running the model.
 *
 * Shares. With max_events = N the trace must hold exactly N events, and
 * which events must not depend on thread timing. Every simulated host
 * thread (rank r, thread t) gets a fixed quota: N split in proportion to
 * the thread's events in the first two iterations of rank 0 (a dry run),
 * floor of each share, remainder handed out one by one in (rank, thread)
 * order. Each thread emits its first quota events in model order and the
 * model keeps running until every quota is used, so the set of events is
 * a function of the options alone and sums to N.
 *
 * tsm_sim_generate runs the model once per process with every thread's
 * quota, calling emit in model order. tsm_sim_run starts a collector on
 * the writer and one OS thread per simulated host thread (one ring each,
 * owner pid/tid set). Each OS thread runs its process's model with only
 * its own thread unmasked: the model is deterministic, so every thread
 * sees the same process timeline and emits exactly its own events (the
 * price is that a process with k host threads is simulated k times).
 *
 * Full rings. With drop_when_full the event is dropped and the ring counts
 * it (the collector writes a DROPPED record). Otherwise producers must
 * wait without ever calling tsm_ring_try_push on a full ring, because a
 * failed push counts as a drop. Flow control: producers reserve room in
 * chunks from one shared counter of reserved slots; a reservation is
 * granted only while (reserved + chunk - events the collector has written)
 * <= ring capacity. Records in any one ring are at most pushed - consumed
 * over all rings <= reserved - written, so no ring can be full when a
 * producer pushes. The collector counts an event as written after it
 * released it from the ring, so its count never runs ahead of the rings.
 * Unused reservations are returned when a producer finishes. A producer
 * denied a reservation yields a few times, then sleeps 100 us (on a small
 * machine spinning producers would steal the writer thread's core), and
 * counts a wait.
 */
#include <sched.h>
#include <stdio.h>
#include <time.h>

#include "sim-internal.h"

#define STEP_CHUNK   1024u
#define DEFAULT_RING 65536u

static uint32_t gcd32(uint32_t a, uint32_t b)
{
	while (b) {
		uint32_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

int tsm__sim_world_init(sim_world *w, tsm_intern *strings, tsm_intern *stacks, tsm_intern *kvlists,
			const tsm_sim_opts *opts)
{
	const sim_preset *p;
	int rc;

	memset(w, 0, sizeof(*w));
	if (!opts)
		return TSM_FAIL(TSM_INVAL, "sim: no options");
	p = tsm__sim_preset_find(opts->preset);
	if (!p)
		return TSM_FAIL(TSM_INVAL, "sim: unknown preset '%s'", opts->preset);
	w->p = p;
	w->seed = opts->seed ? opts->seed : p->seed;
	w->ranks = opts->devices ? opts->devices : p->devices;
	w->threads = opts->host_threads ? opts->host_threads : p->host_threads;
	if (w->ranks > SIM_MAX_DEVICES)
		return TSM_FAIL(TSM_INVAL, "sim: %u devices (at most %u)", w->ranks,
				SIM_MAX_DEVICES);
	if (w->threads > SIM_MAX_THREADS)
		return TSM_FAIL(TSM_INVAL, "sim: %u host threads per process (at most %u)",
				w->threads, SIM_MAX_THREADS);
	w->tp = gcd32(p->tp ? p->tp : 1, w->ranks);
	w->max_events = opts->max_events;
	w->end_ns = opts->duration_ns ? SIM_BASE_NS + opts->duration_ns : UINT64_MAX;
	if (opts->duration_ns > UINT64_MAX - SIM_BASE_NS)
		w->end_ns = UINT64_MAX;
	rc = tsm__sim_vocab_init(&w->v, w, strings, stacks, kvlists);
	if (rc < 0)
		return rc;
	for (unsigned k = 0; k < K__COUNT; k++) {
		const sim_kdef *d = &tsm__sim_kernels[k];
		tsm_event *e = &w->ktmpl[k];

		w->kmean[k] = d->gemm ? (uint32_t)((uint64_t)d->mean_ns * p->gemm_scale_pct / 100)
				      : d->mean_ns;
		memset(e, 0, sizeof(*e));
		e->kind = TSM_EV_KERNEL;
		e->name = w->v.kname[k];
		for (int i = 0; i < 3; i++) {
			e->u.kernel.grid[i] = d->grid[i];
			e->u.kernel.block[i] = d->block[i];
			e->u.kernel.cluster[i] = d->cluster[i];
		}
		e->u.kernel.regs_per_thread = d->regs;
		e->u.kernel.static_smem_bytes = d->static_smem;
		e->u.kernel.dynamic_smem_bytes = d->dynamic_smem;
	}
	pthread_mutex_init(&w->steps.lock, NULL);
	w->steps.strings = strings;
	atomic_init(&w->steps.count, 0);
	atomic_init(&w->steps.ids, NULL);
	return 0;
}

void tsm__sim_world_fini(sim_world *w)
{
	if (!w || !w->p)
		return;
	for (size_t i = 0; i < w->steps.nold; i++)
		tsm__free(w->steps.old[i]);
	tsm__free(w->steps.old);
	tsm__free(atomic_load_explicit(&w->steps.ids, memory_order_relaxed));
	pthread_mutex_destroy(&w->steps.lock);
	w->p = NULL;
}

/*
 * Readers load count (acquire) and then the array (acquire); a grower
 * publishes the new array before the new count, and old arrays stay
 * allocated until the world is freed, so a reader never sees a count its
 * array does not cover.
 */
int tsm__sim_step_name(sim_world *w, uint64_t n, uint32_t *id)
{
	sim_steps *st = &w->steps;
	int rc = 0;

	if (n < atomic_load_explicit(&st->count, memory_order_acquire)) {
		*id = atomic_load_explicit(&st->ids, memory_order_acquire)[n];
		return 0;
	}
	if (n >= UINT32_MAX - STEP_CHUNK)
		return TSM_FAIL(TSM_TOO_LARGE, "sim: iteration %llu", (unsigned long long)n);
	pthread_mutex_lock(&st->lock);
	while (n >= atomic_load_explicit(&st->count, memory_order_relaxed)) {
		uint32_t have = atomic_load_explicit(&st->count, memory_order_relaxed);
		uint32_t cap = have + STEP_CHUNK;
		uint32_t *old = atomic_load_explicit(&st->ids, memory_order_relaxed);
		uint32_t *ids = tsm__malloc(cap * sizeof(*ids));
		uint32_t **olds;
		char buf[48];

		if (!ids) {
			rc = TSM_FAIL(TSM_NOMEM, "sim: %u step names", cap);
			goto out;
		}
		if (old) {
			olds = tsm__realloc(st->old, (st->nold + 1) * sizeof(*olds));
			if (!olds) {
				tsm__free(ids);
				rc = TSM_FAIL(TSM_NOMEM, "sim: step name arrays");
				goto out;
			}
			st->old = olds;
			st->old[st->nold++] = old;
			memcpy(ids, old, have * sizeof(*ids));
		}
		for (uint32_t i = have; i < cap; i++) {
			snprintf(buf, sizeof(buf), "%s%u", tsm__sim_names[N_PROFILER_STEP_PREFIX],
				 i);
			rc = tsm_intern_str(st->strings, buf, &ids[i]);
			if (rc < 0) {
				tsm__free(ids);
				goto out;
			}
		}
		atomic_store_explicit(&st->ids, ids, memory_order_release);
		atomic_store_explicit(&st->count, cap, memory_order_release);
	}
	*id = atomic_load_explicit(&st->ids, memory_order_relaxed)[n];
out:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

static int count_only(const tsm_event *ev, void *user)
{
	(void)ev;
	(void)user;
	return 0;
}

/* quota[r][t] for every rank and host thread: see "Shares" above. */
static int compute_quotas(sim_world *w, uint64_t (*quota)[SIM_MAX_THREADS])
{
	uint64_t weight[SIM_MAX_THREADS] = {0}, total = 0, given = 0, all[SIM_MAX_THREADS];
	sim_run_result res;
	int rc;

	for (uint32_t r = 0; r < w->ranks; r++)
		for (unsigned t = 0; t < SIM_MAX_THREADS; t++)
			quota[r][t] = t < w->threads ? UINT64_MAX : 0;
	if (!w->max_events)
		return 0;
	for (unsigned t = 0; t < SIM_MAX_THREADS; t++)
		all[t] = t < w->threads ? UINT64_MAX : 0;
	rc = tsm__sim_process_run(w, 0, all, 2, count_only, NULL, &res);
	if (rc < 0)
		return rc;
	for (unsigned t = 0; t < w->threads; t++) {
		weight[t] = res.emitted[t];
		total += weight[t] * w->ranks;
	}
	if (!total)
		return TSM_FAIL(TSM_STATE, "sim: preset '%s' produces no events", w->p->name);
	for (uint32_t r = 0; r < w->ranks; r++)
		for (unsigned t = 0; t < SIM_MAX_THREADS; t++) {
			quota[r][t] =
			    t < w->threads
				? (uint64_t)((unsigned __int128)w->max_events * weight[t] / total)
				: 0;
			given += quota[r][t];
		}
	while (given < w->max_events)
		for (uint32_t r = 0; r < w->ranks && given < w->max_events; r++)
			for (unsigned t = 0; t < w->threads && given < w->max_events; t++)
				if (weight[t]) {
					quota[r][t]++;
					given++;
				}
	return 0;
}

typedef struct tables {
	tsm_intern *strings, *stacks, *kvlists;
	int own;
} tables;

static int tables_get(tables *tb, tsm_writer *w)
{
	int rc;

	memset(tb, 0, sizeof(*tb));
	if (w) {
		tb->strings = tsm_writer_strings(w);
		tb->stacks = tsm_writer_stacks(w);
		tb->kvlists = tsm_writer_kvlists(w);
		return 0;
	}
	tb->own = 1;
	rc = tsm_intern_create(&tb->strings);
	if (rc == 0)
		rc = tsm_intern_create(&tb->stacks);
	if (rc == 0)
		rc = tsm_intern_create(&tb->kvlists);
	return rc;
}

static void tables_put(tables *tb)
{
	if (!tb->own)
		return;
	tsm_intern_destroy(tb->strings);
	tsm_intern_destroy(tb->stacks);
	tsm_intern_destroy(tb->kvlists);
}

int tsm_sim_generate(tsm_writer *w, const tsm_sim_opts *opts, tsm_sim_emit_fn emit, void *user)
{
	uint64_t(*quota)[SIM_MAX_THREADS] = NULL;
	sim_world *world = NULL;
	tables tb;
	int rc;

	if (!emit)
		return TSM_FAIL(TSM_INVAL, "sim: no emit function");
	rc = tables_get(&tb, w);
	if (rc < 0)
		goto out;
	world = tsm__calloc(1, sizeof(*world));
	quota = tsm__calloc(SIM_MAX_DEVICES, sizeof(*quota));
	if (!world || !quota) {
		rc = TSM_FAIL(TSM_NOMEM, "sim: world");
		goto out;
	}
	rc = tsm__sim_world_init(world, tb.strings, tb.stacks, tb.kvlists, opts);
	if (rc < 0)
		goto out;
	rc = compute_quotas(world, quota);
	for (uint32_t r = 0; rc == 0 && r < world->ranks; r++) {
		sim_run_result res;

		rc = tsm__sim_process_run(world, r, quota[r], 0, emit, user, &res);
	}
out:
	tsm__sim_world_fini(world);
	tsm__free(world);
	tsm__free(quota);
	tables_put(&tb);
	return rc;
}

/* ---- description of the simulated machine ---------------------------------- */

int tsm_sim_describe(tsm_writer *w, const tsm_sim_opts *opts)
{
	const sim_preset *p;
	uint32_t ranks, host, name;
	char buf[64];
	int rc;

	if (!w || !opts)
		return TSM_FAIL(TSM_INVAL, "sim: describe needs a writer and options");
	p = tsm__sim_preset_find(opts->preset);
	if (!p)
		return TSM_FAIL(TSM_INVAL, "sim: unknown preset '%s'", opts->preset);
	ranks = opts->devices ? opts->devices : p->devices;
	if (ranks > SIM_MAX_DEVICES)
		return TSM_FAIL(TSM_INVAL, "sim: %u devices (at most %u)", ranks, SIM_MAX_DEVICES);
	rc = tsm_intern_str(tsm_writer_strings(w), "NVIDIA H100 80GB HBM3", &name);
	if (rc == 0)
		rc = tsm_intern_str(tsm_writer_strings(w), "sim-dgx-h100-01", &host);
	for (uint32_t d = 0; rc == 0 && d < ranks; d++) {
		/* cudaGetDeviceProperties of an H100 SXM5 80GB (driver 570). */
		tsm_device_info dev = {
		    .id = d,
		    .name = name,
		    .cc_major = 9,
		    .cc_minor = 0,
		    .sm_count = 132,
		    .core_clock_khz = 1980000,
		    .mem_clock_khz = 2619000,
		    .mem_bus_width_bits = 5120,
		    .l2_bytes = 52428800,
		    .max_threads_per_block = 1024,
		    .max_threads_per_sm = 2048,
		    .regs_per_block = 65536,
		    .regs_per_sm = 65536,
		    .smem_per_block_bytes = 49152,
		    .smem_per_block_optin_bytes = 232448,
		    .smem_per_sm_bytes = 233472,
		    .warp_size = 32,
		    .max_blocks_per_sm = 32,
		    .global_mem_bytes = 84987740160ull,
		};

		snprintf(buf, sizeof(buf), "GPU-5a1e%04x-0c1d-4b5e-9f00-sim%08x", d,
			 (unsigned)(tsm__mix64(d + 1) & 0xffffffff));
		rc = tsm_intern_str(tsm_writer_strings(w), buf, &dev.uuid);
		if (rc == 0)
			rc = tsm_writer_add_device(w, &dev);
	}
	for (uint32_t r = 0; rc == 0 && r < ranks; r++) {
		sim_world tmp = {.p = p, .seed = opts->seed ? opts->seed : p->seed};
		tsm_process_info proc = {
		    .pid = tsm__sim_pid(&tmp, r),
		    .rank = (int32_t)r,
		    .host = host,
		};

		rc = tsm_intern_str(tsm_writer_strings(w), "python3", &proc.name);
		if (rc == 0)
			rc = tsm_intern_str(tsm_writer_strings(w), p->cmdline, &proc.cmdline);
		if (rc == 0)
			rc = tsm_writer_add_process(w, &proc);
	}
	if (rc == 0)
		rc = tsm_writer_add_meta_str(w, "backend", "sim");
	if (rc == 0)
		rc = tsm_writer_add_meta_str(w, "preset", p->name);
	if (rc == 0)
		rc = tsm_writer_add_meta_int(w, "seed",
					     (int64_t)(opts->seed ? opts->seed : p->seed));
	if (rc == 0)
		rc = tsm_writer_add_meta_str(w, "simulated",
					     "yes: synthetic workload, not a measurement");
	if (rc == 0)
		rc = tsm_writer_add_meta_int(w, "cuda_driver_version", 12080);
	if (rc == 0)
		rc = tsm_writer_add_meta_int(w, "cuda_runtime_version", 12080);
	if (rc == 0)
		rc = tsm_writer_add_meta_int(w, "cupti_version", 26);
	if (rc == 0)
		rc = tsm_writer_add_meta_str(w, "gpu_timer_resolution_ns", "32");
	return rc;
}

/* ---- the pipeline ------------------------------------------------------------ */

typedef struct shared_flow {
	_Atomic uint64_t reserved;
	tsm_collector *c;
	uint64_t capacity;
	uint64_t chunk;
} shared_flow;

typedef struct producer {
	sim_world *world;
	shared_flow *flow;
	tsm_ring *ring;
	uint32_t rank;
	unsigned thread;
	uint64_t quota[SIM_MAX_THREADS];
	int drop_when_full;
	uint64_t credit;
	uint64_t waits, dropped;
	sim_run_result res;
	tsm__err err; /* its failure (err.status set) */
	pthread_t pt;
	int started;
} producer;

static void backoff(unsigned spins)
{
	if (spins < 4) {
		sched_yield();
	} else {
		struct timespec ts = {0, 100000};

		nanosleep(&ts, NULL);
	}
}

static void reserve(producer *pr)
{
	shared_flow *f = pr->flow;
	unsigned spins = 0;

	for (;;) {
		tsm_collector_stats st;
		uint64_t res = atomic_load_explicit(&f->reserved, memory_order_relaxed);

		tsm_collector_get_stats(f->c, &st);
		if (res + f->chunk - st.events <= f->capacity &&
		    atomic_compare_exchange_weak_explicit(&f->reserved, &res, res + f->chunk,
							  memory_order_relaxed,
							  memory_order_relaxed)) {
			pr->credit = f->chunk;
			return;
		}
		if (res + f->chunk - st.events > f->capacity) {
			pr->waits++;
			tsm_ring_publish(pr->ring); /* let the collector see what we have */
			backoff(spins++);
		}
	}
}

static int push_emit(const tsm_event *ev, void *user)
{
	producer *pr = user;

	if (pr->drop_when_full) {
		if (tsm_collector_push(pr->ring, ev) != 0)
			pr->dropped++;
		return 0;
	}
	if (TSM__UNLIKELY(!pr->credit))
		reserve(pr);
	pr->credit--;
	/* Cannot fail: the reservation guarantees room (see "Full rings"). */
	return tsm_collector_push(pr->ring, ev) == 0 ? 0
						     : TSM_FAIL(TSM_STATE, "sim: ring full "
									   "despite reservation");
}

static void *producer_main(void *arg)
{
	producer *pr = arg;
	int rc = tsm__sim_process_run(pr->world, pr->rank, pr->quota, 0, push_emit, pr, &pr->res);

	if (rc < 0)
		tsm__err_keep(&pr->err, rc);
	tsm_ring_publish(pr->ring);
	if (pr->credit)
		atomic_fetch_sub_explicit(&pr->flow->reserved, pr->credit, memory_order_relaxed);
	pr->credit = 0;
	return NULL;
}

int tsm_sim_run(tsm_writer *w, const tsm_sim_opts *opts, tsm_capture_stats *stats)
{
	uint64_t(*quota)[SIM_MAX_THREADS] = NULL;
	sim_world *world = NULL;
	producer *prs = NULL;
	tsm_collector *c = NULL;
	tsm_collector_opts copts = {.ring_capacity = DEFAULT_RING};
	shared_flow flow;
	size_t nprod = 0;
	uint64_t gmin = UINT64_MAX, gmax = 0;
	tables tb;
	int rc, rc2;

	if (stats)
		memset(stats, 0, sizeof(*stats));
	if (!w)
		return TSM_FAIL(TSM_INVAL, "sim: no writer");
	rc = tables_get(&tb, w);
	if (rc < 0)
		return rc;
	world = tsm__calloc(1, sizeof(*world));
	quota = tsm__calloc(SIM_MAX_DEVICES, sizeof(*quota));
	prs = tsm__calloc((size_t)SIM_MAX_DEVICES * SIM_MAX_THREADS, sizeof(*prs));
	if (!world || !quota || !prs) {
		rc = TSM_FAIL(TSM_NOMEM, "sim: world");
		goto out;
	}
	/* Describe first: tsm_sim_describe + tsm_sim_generate on a fresh writer then
	 * intern the same strings in the same order, so the ids match this run's. */
	rc = tsm_sim_describe(w, opts);
	if (rc < 0)
		goto out;
	rc = tsm__sim_world_init(world, tb.strings, tb.stacks, tb.kvlists, opts);
	if (rc < 0)
		goto out;
	rc = compute_quotas(world, quota);
	if (rc < 0)
		goto out;
	rc = tsm_collector_start(w, &copts, &c);
	if (rc < 0)
		goto out;
	for (uint32_t r = 0; r < world->ranks; r++)
		for (unsigned t = 0; t < world->threads; t++)
			if (quota[r][t])
				nprod++;
	atomic_init(&flow.reserved, 0);
	flow.c = c;
	flow.capacity = DEFAULT_RING;
	flow.chunk = DEFAULT_RING / (2 * (nprod ? nprod : 1));
	if (flow.chunk > 256)
		flow.chunk = 256;
	if (!flow.chunk)
		flow.chunk = 1;
	nprod = 0;
	for (uint32_t r = 0; r < world->ranks && rc == 0; r++) {
		for (unsigned t = 0; t < world->threads && rc == 0; t++) {
			producer *pr = &prs[nprod];

			if (!quota[r][t])
				continue;
			pr->world = world;
			pr->flow = &flow;
			pr->rank = r;
			pr->thread = t;
			pr->quota[t] = quota[r][t];
			pr->drop_when_full = opts->drop_when_full;
			rc = tsm_collector_add_ring(c, &pr->ring);
			if (rc < 0)
				break;
			tsm_collector_set_ring_owner(c, pr->ring, tsm__sim_pid(world, r),
						     tsm__sim_tid(world, r, t));
			nprod++;
			if (pthread_create(&pr->pt, NULL, producer_main, pr) != 0) {
				rc = TSM_FAIL(TSM_IO, "sim: cannot start producer thread %zu",
					      nprod);
				break;
			}
			pr->started = 1;
		}
	}
	for (size_t i = 0; i < nprod; i++) {
		producer *pr = &prs[i];

		if (!pr->started)
			continue;
		pthread_join(pr->pt, NULL);
		if (pr->err.status && rc == 0)
			rc = tsm__err_raise(&pr->err);
		if (stats) {
			stats->events += pr->res.emitted[pr->thread] - pr->dropped;
			stats->dropped += pr->dropped;
			stats->waits += pr->waits;
			if (pr->res.min_ns < gmin)
				gmin = pr->res.min_ns;
			if (pr->res.max_ns > gmax)
				gmax = pr->res.max_ns;
		}
	}
	if (stats && gmax > gmin)
		stats->sim_span_ns = gmax - gmin;
	rc2 = tsm_collector_stop(c);
	c = NULL;
	if (rc == 0)
		rc = rc2;
out:
	tsm_collector_stop(c);
	tsm__sim_world_fini(world);
	tsm__free(world);
	tsm__free(quota);
	tsm__free(prs);
	tables_put(&tb);
	return rc;
}
