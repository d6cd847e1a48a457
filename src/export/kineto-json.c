/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kineto JSON export: torch.profiler's trace schema, so that tools written
 * for torch.profiler traces (HTA, TensorBoard's plugin, scripts) read ours.
 *
 * Layout follows what PyTorch 2.x writes (the fixture in
 * ../shared/fixtures/kineto/): top-level keys in the order schemaVersion,
 * deviceProperties, trace metadata, distributedInfo (when the trace has
 * ranks, `"rank": N` with a space), displayTimeUnit, baseTimeNanoseconds,
 * traceEvents, traceName; one event per "{ ... }" block with keys in
 * Kineto's order ("ph", "cat", "name", "pid", "tid", "ts", "dur", "args");
 * ts and dur in microseconds with exactly three decimals (our ns exactly);
 * GPU events with pid = device and tid = stream; host events with the
 * process and thread ids; categories kernel, gpu_memcpy, gpu_memset,
 * cuda_runtime, cuda_driver, cpu_op, user_annotation (host NVTX ranges,
 * ProfilerStep#N), gpu_user_annotation (ranges on a device), cuda_sync,
 * overhead, "[memory]" instants for alloc/free, "C" counters; ac2g flows
 * ("s" at the API call, "f" with "bp": "e" at the GPU work, id =
 * correlation); process/thread metadata ("M") at the end as Kineto does.
 *
 * Lossless round trip (SBT -> Kineto -> import gives the same events):
 * fields Kineto has no place for are extra args that Kineto tools ignore
 * ("dynamic shared memory", "copy kind", "flow id", "thread", "process",
 * ...), written only when they differ from what the importer infers.
 * Metadata lists become args under their own keys, in order; the Kineto
 * kernel args that an import keeps as metadata ("queued", "blocks per SM",
 * ...) go back to their original positions.
 */
#include <stdio.h>

#include "export/export-internal.h"

struct kj {
	tsm__xctx *x;
	tsm__sink *s;
	int first;
	uint64_t first_ts;
	uint64_t last_host_pid;
	uint32_t *corr_pid; /* direct-mapped: correlation -> host pid (mirrors the importer) */
	uint64_t *corr_key;
	double *mem_total; /* per device: bytes allocated */
	uint64_t last_key; /* thread / stream of the previous event (note_tracks) */
	int have_last;
	size_t mem_cap;
	tsm__jw_tscache tsc;
	tsm__jw_dcache dc;
};

#define CORR_SLOTS (1u << 16)

static int put_name(struct kj *k, const tsm_event *ev, const char *fallback)
{
	tsm__sink *s = k->s;
	int rc;

	if (!ev->name) {
		rc = tsm__sink_room(s, 64);
		if (rc < 0)
			return rc;
		jw_set(s, tsm__jw_escape(jw_cur(s), fallback, strlen(fallback)));
		return 0;
	}
	return tsm__xput_name(k->x, ev->name); /* escaped once per name */
}

static const char *kv_key(struct kj *k, const tsm_kv *kv, size_t *n)
{
	return tsm__xstr(k->x, kv->key, n);
}

static int put_kv_value(struct kj *k, const tsm_kv *kv)
{
	tsm__sink *s = k->s;
	int rc = tsm__sink_room(s, JW_SLACK);

	if (rc < 0)
		return rc;
	switch (kv->type) {
	case TSM_KV_INT:
		jw_set(s, tsm__jw_i64(jw_cur(s), kv->v.i));
		return 0;
	case TSM_KV_DOUBLE:
		jw_set(s, tsm__jw_double(jw_cur(s), kv->v.d));
		return 0;
	default:
		return tsm__xput_esc(k->x, (uint32_t)kv->v.str);
	}
}

/* ", \"key\": value" for one metadata entry. */
static int put_kv(struct kj *k, const tsm_kv *kv, int *first)
{
	int rc = tsm__xput(k->s, *first ? "" : ", ", *first ? 0 : 2);

	*first = 0;
	if (rc >= 0)
		rc = tsm__xput_esc(k->x, kv->key);
	if (rc >= 0)
		rc = tsm__xput(k->s, ": ", 2);
	if (rc >= 0)
		rc = put_kv_value(k, kv);
	return rc;
}

/* Index of the metadata entry named `key`, or -1. */
static int kv_find(struct kj *k, const tsm_kv *kv, size_t n, const char *key, uint8_t *used)
{
	for (size_t i = 0; i < n; i++) {
		size_t len;
		const char *s;

		if (used[i])
			continue;
		s = kv_key(k, &kv[i], &len);
		if (!strcmp(s, key))
			return (int)i;
	}
	return -1;
}

/* Text helpers writing at a cursor (room reserved by the caller). */
#define LIT(lit) JW_LIT(p, lit)

/* `, "key": ` (no comma before the first argument): the start of every argument. */
static inline __attribute__((always_inline)) char *arg_key(char *p, int *first,
							   const char *quoted_key, size_t klen)
{
	if (!*first) {
		*p++ = ',';
		*p++ = ' ';
	}
	*first = 0;
	memcpy(p, quoted_key, klen);
	return p + klen;
}

static inline __attribute__((always_inline)) char *
arg_u64(char *p, int *first, const char *quoted_key, size_t klen, uint64_t v)
{
	return tsm__jw_u64(arg_key(p, first, quoted_key, klen), v);
}
#define ARG_U(key, v) (p = arg_u64(p, &first, "\"" key "\": ", sizeof("\"" key "\": ") - 1, (v)))

static inline __attribute__((always_inline)) char *
arg_i64(char *p, int *first, const char *quoted_key, size_t klen, int64_t v)
{
	return tsm__jw_i64(arg_key(p, first, quoted_key, klen), v);
}
#define ARG_I(key, v) (p = arg_i64(p, &first, "\"" key "\": ", sizeof("\"" key "\": ") - 1, (v)))

static inline __attribute__((always_inline)) char *
arg_str(char *p, int *first, const char *quoted_key, size_t klen, const char *v)
{
	/* short, known strings only */
	return tsm__jw_escape(arg_key(p, first, quoted_key, klen), v, strlen(v));
}
#define ARG_S(key, v) (p = arg_str(p, &first, "\"" key "\": ", sizeof("\"" key "\": ") - 1, (v)))

static inline __attribute__((always_inline)) char *arg_dim3(char *p, int *first,
							    const char *quoted_key, size_t klen,
							    uint64_t a, uint64_t b, uint64_t c)
{
	p = arg_key(p, first, quoted_key, klen);
	*p++ = '[';
	p = tsm__jw_u64(p, a);
	LIT(", ");
	p = tsm__jw_u64(p, b);
	LIT(", ");
	p = tsm__jw_u64(p, c);
	*p++ = ']';
	return p;
}
#define ARG_DIM3(key, a, b, c) \
	(p = arg_dim3(p, &first, "\"" key "\": ", sizeof("\"" key "\": ") - 1, (a), (b), (c)))

static uint32_t corr_slot(uint64_t corr)
{
	return (uint32_t)(tsm__mix64(corr) & (CORR_SLOTS - 1));
}

/* The host pid the importer will infer for GPU work with this correlation. */
static uint64_t inferred_pid(struct kj *k, uint64_t corr)
{
	uint32_t s = corr_slot(corr);

	if (corr && k->corr_key[s] == corr)
		return k->corr_pid[s];
	return k->last_host_pid;
}

static int write_event(struct kj *k, const tsm_event *ev)
{
	tsm__xctx *x = k->x;
	tsm__sink *s = k->s;
	int host = tsm__xis_host(ev), slice = tsm__xis_slice(ev), first = 1, rc;
	int memory = ev->kind == TSM_EV_ALLOC || ev->kind == TSM_EV_FREE;
	int counter = ev->kind == TSM_EV_COUNTER;
	const tsm_kv *kv = NULL;
	size_t nkv = 0;
	uint8_t used[256];
	char *p;
	struct xflow *fl = NULL;

	if (ev->meta)
		kv = tsm_reader_kvlist(x->r, ev->meta, &nkv);
	if (nkv > sizeof(used))
		nkv = sizeof(used);
	memset(used, 0, nkv);

	rc = tsm__sink_room(s, 1024);
	if (rc < 0)
		return rc;
	p = jw_cur(s);
	if (k->first) {
		LIT("\n  {\n    \"ph\": \"");
		k->first = 0;
	} else {
		LIT(",\n  {\n    \"ph\": \"");
	}
	*p++ = counter ? 'C' : slice ? 'X' : 'i';
	LIT("\", \"cat\": \"");
	{
		size_t n;
		const char *c = tsm__xcategory(ev, host || memory, 1, &n);

		memcpy(p, c, n);
		p += n;
	}
	LIT("\", \"name\": ");
	jw_set(s, p);
	{
		/* Unnamed events get Kineto's style of name ("Memcpy HtoD (Pinned -> Device)");
		 * the "no name" arg tells the importer to leave the name empty again. */
		char fb[96];

		if (ev->name && !memory)
			fb[0] = 0; /* not used: the event has a name */
		else if (memory)
			snprintf(fb, sizeof(fb), "[memory]");
		else if (ev->kind == TSM_EV_MEMCPY)
			snprintf(fb, sizeof(fb), "Memcpy %s (%s -> %s)",
				 tsm_copy_kind_name(ev->u.memcpy.copy_kind),
				 tsm_mem_kind_name(ev->u.memcpy.src_kind),
				 tsm_mem_kind_name(ev->u.memcpy.dst_kind));
		else if (ev->kind == TSM_EV_MEMSET)
			snprintf(fb, sizeof(fb), "Memset (%s)",
				 tsm_mem_kind_name(ev->u.memset.mem_kind));
		else if (ev->kind == TSM_EV_SYNC)
			snprintf(fb, sizeof(fb), "%s", tsm_sync_type_name(ev->u.sync.sync_type));
		else
			snprintf(fb, sizeof(fb), "%s", tsm_event_kind_name(ev->kind));
		rc = put_name(k, ev, fb);
	}
	if (rc < 0)
		return rc;
	rc = tsm__sink_room(s, 1024);
	if (rc < 0)
		return rc;
	p = jw_cur(s);
	LIT(", \"pid\": ");
	if (host || memory || counter) {
		p = tsm__jw_i64(p, (int32_t)ev->pid);
		LIT(", \"tid\": ");
		p = tsm__jw_u64(p, ev->tid);
	} else {
		p = tsm__jw_u64(p, ev->device);
		LIT(", \"tid\": ");
		p = tsm__jw_u64(p, ev->stream);
	}
	LIT(",\n    \"ts\": ");
	p = tsm__jw_us3c(p, ev->start_ns, &k->tsc);
	if (slice && !counter) {
		LIT(", \"dur\": ");
		p = tsm__jw_us3(p, ev->end_ns - ev->start_ns);
	} else if (!counter) {
		LIT(", \"s\": \"t\"");
	}
	LIT(",\n    \"args\": {\n      ");

	/* Kind-specific args, Kineto's names and order first. */
	if (!host && !memory && !counter) {
		if (ev->external || ev->kind == TSM_EV_KERNEL)
			ARG_U("External id", ev->external);
		if (ev->kind == TSM_EV_KERNEL) {
			int i = kv_find(k, kv, nkv, "queued", used);

			if (i >= 0) {
				jw_set(s, p);
				used[i] = 1;
				rc = put_kv(k, &kv[i], &first);
				if (rc < 0)
					return rc;
				p = jw_cur(s);
			}
		}
		ARG_U("device", ev->device);
		ARG_U("context", ev->context);
		ARG_U("stream", ev->stream);
		ARG_U("correlation", ev->correlation);
	} else if (memory) {
		int dev = ev->device == TSM_DEVICE_NONE ? -1 : (int)ev->device;
		double *tot = NULL;

		if (dev >= 0) {
			if ((size_t)dev >= k->mem_cap) {
				size_t cap = (size_t)dev + 16;
				double *nt = tsm__realloc(k->mem_total, cap * sizeof(*nt));

				if (!nt)
					return TSM_FAIL(TSM_NOMEM, "kineto: memory totals");
				memset(nt + k->mem_cap, 0, (cap - k->mem_cap) * sizeof(*nt));
				k->mem_total = nt;
				k->mem_cap = cap;
			}
			tot = &k->mem_total[dev];
			*tot += ev->kind == TSM_EV_ALLOC ? (double)ev->u.memory.bytes
							 : -(double)ev->u.memory.bytes;
		}
		ARG_I("Total Reserved", tot ? (int64_t)*tot : 0);
		ARG_I("Total Allocated", tot ? (int64_t)*tot : 0);
		ARG_I("Bytes", ev->kind == TSM_EV_ALLOC ? (int64_t)ev->u.memory.bytes
							: -(int64_t)ev->u.memory.bytes);
		ARG_U("Addr", ev->u.memory.address);
		ARG_I("Device Id", dev);
		ARG_I("Device Type", dev >= 0 ? 1 : 0);
		ARG_S("memory kind", tsm_mem_kind_name(ev->u.memory.mem_kind));
		if (ev->kind == TSM_EV_FREE)
			ARG_S("kind", "free");
	} else if (counter) {
		if (!first)
			LIT(", ");
		first = 0;
		LIT("\"value\": ");
		p = tsm__jw_double_c(p, ev->u.counter.value, &k->dc);
	} else if (ev->external) {
		ARG_U("External id", ev->external);
	}

	switch (ev->kind) {
	case TSM_EV_KERNEL: {
		const tsm_kernel_info *kn = &ev->u.kernel;
		static const char *const mid[] = {"blocks per SM", "warps per SM"};

		ARG_U("registers per thread", kn->regs_per_thread);
		ARG_U("shared memory", (uint64_t)kn->static_smem_bytes + kn->dynamic_smem_bytes);
		for (unsigned j = 0; j < 2; j++) {
			int i = kv_find(k, kv, nkv, mid[j], used);

			if (i >= 0) {
				jw_set(s, p);
				used[i] = 1;
				rc = put_kv(k, &kv[i], &first);
				if (rc < 0)
					return rc;
				p = jw_cur(s);
			}
		}
		ARG_DIM3("grid", kn->grid[0], kn->grid[1], kn->grid[2]);
		ARG_DIM3("block", kn->block[0], kn->block[1], kn->block[2]);
		{
			int i = kv_find(k, kv, nkv, "est. achieved occupancy %", used);

			if (i >= 0) {
				jw_set(s, p);
				used[i] = 1;
				rc = put_kv(k, &kv[i], &first);
				if (rc < 0)
					return rc;
				p = jw_cur(s);
			}
		}
		if (kn->dynamic_smem_bytes)
			ARG_U("dynamic shared memory", kn->dynamic_smem_bytes);
		if (kn->cluster[0] || kn->cluster[1] || kn->cluster[2])
			ARG_DIM3("cluster", kn->cluster[0], kn->cluster[1], kn->cluster[2]);
		if (kn->graph_id || kn->graph_node_id) {
			ARG_U("graph id", kn->graph_id);
			ARG_U("graph node id", kn->graph_node_id);
		}
		break;
	}
	case TSM_EV_MEMCPY: {
		const tsm_memcpy_info *c = &ev->u.memcpy;
		uint64_t d = ev->end_ns - ev->start_ns;

		ARG_U("bytes", c->bytes);
		if (!first)
			LIT(", ");
		LIT("\"memory bandwidth (GB/s)\": ");
		p = tsm__jw_double_c(p, d ? (double)c->bytes / (double)d : 0.0, &k->dc);
		ARG_S("copy kind", tsm_copy_kind_name(c->copy_kind));
		ARG_S("src kind", tsm_mem_kind_name(c->src_kind));
		ARG_S("dst kind", tsm_mem_kind_name(c->dst_kind));
		if (c->src_device != ev->device || c->dst_device != ev->device) {
			ARG_U("src device", c->src_device);
			ARG_U("dst device", c->dst_device);
		}
		if (c->graph_id || c->graph_node_id) {
			ARG_U("graph id", c->graph_id);
			ARG_U("graph node id", c->graph_node_id);
		}
		break;
	}
	case TSM_EV_MEMSET: {
		uint64_t d = ev->end_ns - ev->start_ns;

		ARG_U("bytes", ev->u.memset.bytes);
		if (!first)
			LIT(", ");
		LIT("\"memory bandwidth (GB/s)\": ");
		p = tsm__jw_double_c(p, d ? (double)ev->u.memset.bytes / (double)d : 0.0, &k->dc);
		ARG_U("value", ev->u.memset.value);
		ARG_S("memory kind", tsm_mem_kind_name(ev->u.memset.mem_kind));
		if (ev->u.memset.graph_id || ev->u.memset.graph_node_id) {
			ARG_U("graph id", ev->u.memset.graph_id);
			ARG_U("graph node id", ev->u.memset.graph_node_id);
		}
		break;
	}
	case TSM_EV_SYNC:
		ARG_S("sync type", tsm_sync_type_name(ev->u.sync.sync_type));
		ARG_U("event id", ev->u.sync.event_id);
		break;
	case TSM_EV_RUNTIME:
	case TSM_EV_DRIVER:
		ARG_U("cbid", ev->u.api.cbid);
		ARG_U("correlation", ev->correlation);
		if (ev->u.api.status)
			ARG_I("status", ev->u.api.status);
		break;
	case TSM_EV_NVTX_RANGE:
	case TSM_EV_NVTX_MARK:
		if (ev->u.nvtx.color)
			ARG_U("color", ev->u.nvtx.color);
		if (ev->u.nvtx.category)
			ARG_U("category", ev->u.nvtx.category);
		if (ev->u.nvtx.domain) {
			jw_set(s, p);
			rc = tsm__xput(s,
				       first ? "\"domain\": " : ", \"domain\": ", first ? 10 : 12);
			first = 0;
			if (rc >= 0) {
				size_t n;
				const char *d = tsm__xstr(x, ev->u.nvtx.domain, &n);

				rc = tsm__jw_str(s, d, n);
			}
			if (rc < 0 || (rc = tsm__sink_room(s, 1024)) < 0)
				return rc;
			p = jw_cur(s);
		}
		break;
	case TSM_EV_OVERHEAD:
		if (ev->u.overhead.overhead_kind)
			ARG_U("overhead kind", ev->u.overhead.overhead_kind);
		break;
	case TSM_EV_DROPPED:
		ARG_U("count", ev->u.dropped.count);
		ARG_S("source", tsm_drop_source_name(ev->u.dropped.source));
		break;
	default:
		break;
	}

	/* Fields Kineto has no place for, only when the importer cannot infer them. */
	if ((memory || counter) && ev->external)
		ARG_U("External id", ev->external);
	if (host || memory || counter) {
		if (ev->kind != TSM_EV_RUNTIME && ev->kind != TSM_EV_DRIVER && ev->correlation)
			ARG_U("correlation", ev->correlation);
		if (!memory && ev->device != TSM_DEVICE_NONE)
			ARG_U("device", ev->device);
		if (memory && ev->device == TSM_DEVICE_NONE && 0)
			ARG_U("device", ev->device);
		if (ev->context)
			ARG_U("context", ev->context);
		if (ev->stream)
			ARG_U("stream", ev->stream);
	} else {
		if (ev->pid != inferred_pid(k, ev->correlation))
			ARG_I("process", (int32_t)ev->pid);
		if (ev->tid)
			ARG_U("thread", ev->tid);
	}
	if (ev->flow_type) {
		ARG_U("flow id", ev->flow_id);
		ARG_S("flow type", tsm_flow_type_name(ev->flow_type));
	}
	if (ev->flags & ~TSM_EVF_IMPORTED)
		ARG_U("flags", ev->flags & ~TSM_EVF_IMPORTED);
	if (!ev->name && !memory)
		ARG_U("no name", 1);
	jw_set(s, p);
	for (size_t i = 0; i < nkv; i++) {
		if (used[i])
			continue;
		rc = put_kv(k, &kv[i], &first);
		if (rc < 0)
			return rc;
	}
	rc = tsm__sink_room(s, 1024);
	if (rc < 0)
		return rc;
	p = jw_cur(s);
	LIT("\n    }\n  }");

	/* Flows and the importer's inference state. */
	if (host) {
		k->last_host_pid = ev->pid;
		if (ev->correlation && (ev->kind == TSM_EV_RUNTIME || ev->kind == TSM_EV_DRIVER)) {
			uint32_t sl = corr_slot(ev->correlation);

			k->corr_key[sl] = ev->correlation;
			k->corr_pid[sl] = ev->pid;
			tsm__xflow_start(x, tsm__xflow_key_corr(ev->pid, ev->correlation),
					 ev->start_ns, ev->pid, ev->tid);
		}
	} else if (ev->correlation && !memory && !counter) {
		fl = tsm__xflow_take(x, tsm__xflow_key_corr(ev->pid, ev->correlation));
		if (fl) {
			LIT(",\n  {\n    \"ph\": \"f\", \"id\": ");
			p = tsm__jw_u64(p, ev->correlation);
			LIT(", \"pid\": ");
			p = tsm__jw_u64(p, ev->device);
			LIT(", \"tid\": ");
			p = tsm__jw_u64(p, ev->stream);
			LIT(", \"ts\": ");
			p = tsm__jw_us3c(p, ev->start_ns, &k->tsc);
			LIT(",\n    \"cat\": \"ac2g\", \"name\": \"ac2g\", \"bp\": \"e\"\n  },\n  "
			    "{\n"
			    "    \"ph\": \"s\", \"id\": ");
			p = tsm__jw_u64(p, ev->correlation);
			LIT(", \"pid\": ");
			p = tsm__jw_i64(p, (int32_t)fl->pid);
			LIT(", \"tid\": ");
			p = tsm__jw_u64(p, fl->tid);
			LIT(", \"ts\": ");
			p = tsm__jw_us3c(p, fl->ts, &k->tsc);
			LIT(",\n    \"cat\": \"ac2g\", \"name\": \"ac2g\"\n  }");
			x->st.flows++;
		} else {
			x->st.flows_unmatched++;
		}
	}
	jw_set(s, p);
	return 0;
}

/* Header: everything before traceEvents. */
static int write_header(struct kj *k)
{
	tsm__xctx *x = k->x;
	tsm__sink *s = k->s;
	size_t ndev, nproc, nmeta;
	const tsm_device_info *d = tsm_reader_devices(x->r, &ndev);
	const tsm_process_info *pr = tsm_reader_processes(x->r, &nproc);
	const tsm_kv *meta = tsm_reader_meta(x->r, &nmeta);
	const tsm_trace_info *ti = tsm_reader_info(x->r);
	char *p;
	int rc, rank = -1;

	rc = tsm__sink_room(s, 256);
	if (rc < 0)
		return rc;
	p = jw_cur(s);
	LIT("{\n  \"schemaVersion\": 1,\n  \"deviceProperties\": [");
	jw_set(s, p);
	for (size_t i = 0; i < ndev; i++) {
		size_t n;
		const char *name = tsm__xstr(x, d[i].name, &n);

		{
			static const char first[] = "\n    {\n      \"id\": ";
			static const char more[] = ",\n    {\n      \"id\": ";

			rc = i ? tsm__xput(s, more, sizeof(more) - 1)
			       : tsm__xput(s, first, sizeof(first) - 1);
		}
		if (rc < 0)
			return rc;
		rc = tsm__sink_room(s, 1024);
		if (rc < 0)
			return rc;
		p = jw_cur(s);
		p = tsm__jw_u64(p, d[i].id);
		LIT(", \"name\": ");
		jw_set(s, p);
		rc = tsm__jw_str(s, name, n);
		if (rc < 0 || (rc = tsm__sink_room(s, 1024)) < 0)
			return rc;
		p = jw_cur(s);
		LIT(", \"totalGlobalMem\": ");
		p = tsm__jw_u64(p, d[i].global_mem_bytes);
		LIT(",\n      \"computeMajor\": ");
		p = tsm__jw_u64(p, d[i].cc_major);
		LIT(", \"computeMinor\": ");
		p = tsm__jw_u64(p, d[i].cc_minor);
		LIT(",\n      \"maxThreadsPerBlock\": ");
		p = tsm__jw_u64(p, d[i].max_threads_per_block);
		LIT(", \"maxThreadsPerMultiprocessor\": ");
		p = tsm__jw_u64(p, d[i].max_threads_per_sm);
		LIT(",\n      \"regsPerBlock\": ");
		p = tsm__jw_u64(p, d[i].regs_per_block);
		LIT(", \"warpSize\": ");
		p = tsm__jw_u64(p, d[i].warp_size);
		LIT(",\n      \"sharedMemPerBlock\": ");
		p = tsm__jw_u64(p, d[i].smem_per_block_bytes);
		LIT(", \"numSms\": ");
		p = tsm__jw_u64(p, d[i].sm_count);
		LIT("\n    , \"regsPerMultiprocessor\": ");
		p = tsm__jw_u64(p, d[i].regs_per_sm);
		LIT(", \"sharedMemPerBlockOptin\": ");
		p = tsm__jw_u64(p, d[i].smem_per_block_optin_bytes);
		LIT(", \"sharedMemPerMultiprocessor\": ");
		p = tsm__jw_u64(p, d[i].smem_per_sm_bytes);
		/* Ours, beyond Kineto's list (readers ignore unknown keys). */
		LIT(", \"clockRateKHz\": ");
		p = tsm__jw_u64(p, d[i].core_clock_khz);
		LIT(", \"memoryClockRateKHz\": ");
		p = tsm__jw_u64(p, d[i].mem_clock_khz);
		LIT(", \"memoryBusWidth\": ");
		p = tsm__jw_u64(p, d[i].mem_bus_width_bits);
		LIT(", \"l2CacheSize\": ");
		p = tsm__jw_u64(p, d[i].l2_bytes);
		LIT(", \"maxBlocksPerMultiprocessor\": ");
		p = tsm__jw_u64(p, d[i].max_blocks_per_sm);
		jw_set(s, p);
		if (d[i].uuid) {
			rc = tsm__xput(s, ", \"uuid\": ", 10);
			if (rc >= 0) {
				const char *u = tsm__xstr(x, d[i].uuid, &n);

				rc = tsm__jw_str(s, u, n);
			}
			if (rc < 0)
				return rc;
		}
		rc = tsm__xput(s, "\n    }", 6);
		if (rc < 0)
			return rc;
	}
	rc = tsm__xput(s, "\n  ],\n", 6);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < nmeta; i++) {
		size_t n;
		const char *key = tsm__xstr(x, meta[i].key, &n);
		int first = 1;

		if (!strcmp(key, "schemaVersion") || !strcmp(key, "deviceProperties") ||
		    !strcmp(key, "distributedInfo") || !strcmp(key, "displayTimeUnit") ||
		    !strcmp(key, "baseTimeNanoseconds") || !strcmp(key, "traceEvents") ||
		    !strcmp(key, "traceName") || !strcmp(key, "world_size") ||
		    !strcmp(key, "distributed backend"))
			continue;
		rc = tsm__xput(s, "  ", 2);
		if (rc >= 0)
			rc = put_kv(k, &meta[i], &first);
		if (rc >= 0)
			rc = tsm__xput(s, ",\n", 2);
		if (rc < 0)
			return rc;
	}
	/* the rank asked for (--rank), else the first: Kineto writes a file per rank */
	rank = x->o.rank;
	for (size_t i = 0; i < nproc && rank < 0; i++)
		if (pr[i].rank >= 0)
			rank = pr[i].rank;
	rc = tsm__sink_room(s, 1024);
	if (rc < 0)
		return rc;
	p = jw_cur(s);
	if (rank >= 0) {
		int64_t world = 0;
		const char *backend = "nccl";

		for (size_t i = 0; i < nmeta; i++) {
			const char *key = tsm__xstr(x, meta[i].key, NULL);

			if (!strcmp(key, "world_size") && meta[i].type == TSM_KV_INT)
				world = meta[i].v.i;
			if (!strcmp(key, "distributed backend") && meta[i].type == TSM_KV_STR)
				backend = tsm__xstr(x, (uint32_t)meta[i].v.str, NULL);
		}
		if (!world)
			for (size_t i = 0; i < nproc; i++)
				if (pr[i].rank >= 0 && pr[i].rank + 1 > world)
					world = pr[i].rank + 1;
		LIT("  \"distributedInfo\": {\"backend\": ");
		jw_set(s, p);
		rc = tsm__jw_str(s, backend, strlen(backend));
		if (rc < 0 || (rc = tsm__sink_room(s, 1024)) < 0)
			return rc;
		p = jw_cur(s);
		LIT(", \"rank\": ");
		p = tsm__jw_i64(p, rank);
		LIT(", \"world_size\": ");
		p = tsm__jw_i64(p, world);
		LIT("},\n");
	}
	LIT("  \"displayTimeUnit\": \"ms\",\n  \"baseTimeNanoseconds\": ");
	p = tsm__jw_i64(p, ti->realtime_offset_ns);
	LIT(",\n  \"traceEvents\": [");
	jw_set(s, p);
	k->first = 1;
	return 0;
}

/* The head of one metadata record, up to its args; META_END closes it. */
#define META_END "\n    }\n  }"
static char *meta_open(char *p, const char *name, uint64_t ts, int64_t pid, uint64_t tid)
{
	size_t n = strlen(name);

	LIT(",\n  {\n    \"name\": \"");
	memcpy(p, name, n);
	p += n;
	LIT("\", \"ph\": \"M\", \"ts\": ");
	p = tsm__jw_us3(p, ts);
	LIT(", \"pid\": ");
	p = tsm__jw_i64(p, pid);
	LIT(", \"tid\": ");
	p = tsm__jw_u64(p, tid);
	LIT(",\n    \"args\": {\n      ");
	return p;
}

/* Process and thread metadata, at the end as Kineto writes it. */
static int write_metadata(struct kj *k)
{
	tsm__xctx *x = k->x;
	tsm__sink *s = k->s;
	int rc;

	for (size_t i = 0; i < x->ntracks; i++) {
		struct xtrack *t = &x->tracks[i];
		char *p;
		const char *pname = "python3";

		rc = tsm__sink_room(s, 4096);
		if (rc < 0)
			return rc;
		p = jw_cur(s);
		if (t->k1 == 1) { /* host process */
			size_t n;
			const tsm_process_info *pi = tsm_reader_processes(x->r, &n);

			for (size_t j = 0; j < n; j++)
				if (pi[j].pid == t->k2 && pi[j].name)
					pname = tsm__xstr(x, pi[j].name, NULL);
			p = meta_open(p, "process_name", k->first_ts, (int32_t)t->k2, 0);
			LIT("\"name\": ");
			p = tsm__jw_escape(p, pname, strnlen(pname, 1024));
			LIT(META_END);
			p = meta_open(p, "process_labels", k->first_ts, (int32_t)t->k2, 0);
			LIT("\"labels\": \"CPU\"");
			LIT(META_END);
			p = meta_open(p, "process_sort_index", k->first_ts, (int32_t)t->k2, 0);
			LIT("\"sort_index\": ");
			p = tsm__jw_i64(p, (int32_t)t->k2);
			LIT(META_END);
		} else if (t->k1 == 2) { /* GPU device */
			p = meta_open(p, "process_name", k->first_ts, (int64_t)t->k2, 0);
			LIT("\"name\": ");
			p = tsm__jw_escape(p, pname, strlen(pname));
			LIT(META_END);
			p = meta_open(p, "process_labels", k->first_ts, (int64_t)t->k2, 0);
			LIT("\"labels\": \"GPU ");
			p = tsm__jw_u64(p, t->k2);
			*p++ = '"';
			LIT(META_END);
			p = meta_open(p, "process_sort_index", k->first_ts, (int64_t)t->k2, 0);
			LIT("\"sort_index\": ");
			p = tsm__jw_u64(p, 5000000 + t->k2);
			LIT(META_END);
		} else if (t->k1 == 3 || t->k1 == 4) { /* stream / host thread */
			int64_t pid = t->k1 == 3 ? (int64_t)(t->k2 >> 32) : (int32_t)t->aux;
			uint64_t tid = t->k1 == 3 ? (t->k2 & 0xFFFFFFFFu) : t->id;

			p = meta_open(p, "thread_name", k->first_ts, pid, tid);
			if (t->k1 == 3)
				LIT("\"name\": \"stream ");
			else
				LIT("\"name\": \"thread ");
			p = tsm__jw_u64(p, tid);
			if (t->k1 == 3)
				LIT(" \"");
			else
				LIT("\"");
			LIT(META_END);
			p = meta_open(p, "thread_sort_index", k->first_ts, pid, tid);
			LIT("\"sort_index\": ");
			p = tsm__jw_u64(p, tid);
			LIT(META_END);
		}
		jw_set(s, p);
	}
	return 0;
}

/* Remember which processes, devices, streams and threads appeared. */
static int note_tracks(struct kj *k, const tsm_event *ev)
{
	tsm__xctx *x = k->x;
	struct xtrack *t;
	int created;
	int host = tsm__xis_host(ev) || ev->kind == TSM_EV_ALLOC || ev->kind == TSM_EV_FREE;
	uint64_t key = host ? ((uint64_t)ev->pid << 32 ^ ev->tid)
			    : (1ULL << 63 | (uint64_t)ev->device << 32 | ev->stream);

	/* Consecutive events mostly share their thread or stream: skip the lookups. */
	if (k->have_last && key == k->last_key)
		return 0;
	k->have_last = 1;
	k->last_key = key;

	if (host) {
		if (!tsm__xtrack_get(x, 1, ev->pid, &created))
			return TSM_FAIL(TSM_NOMEM, "kineto: tracks");
		t = tsm__xtrack_get(x, 4, ((uint64_t)ev->pid << 32) ^ ev->tid, &created);
		if (!t)
			return TSM_FAIL(TSM_NOMEM, "kineto: tracks");
		if (created) {
			t->id = ev->tid;
			t->aux = ev->pid;
		}
	} else {
		if (!tsm__xtrack_get(x, 2, ev->device, &created) ||
		    !tsm__xtrack_get(x, 3, ((uint64_t)ev->device << 32) | ev->stream, &created))
			return TSM_FAIL(TSM_NOMEM, "kineto: tracks");
	}
	return 0;
}

int tsm__export_kineto(tsm__xctx *x)
{
	struct kj k;
	const tsm_event *ev;
	int rc, got;
	char *p;

	memset(&k, 0, sizeof(k));
	k.x = x;
	k.s = &x->out;
	k.corr_key = tsm__calloc(CORR_SLOTS, sizeof(*k.corr_key));
	k.corr_pid = tsm__calloc(CORR_SLOTS, sizeof(*k.corr_pid));
	if (!k.corr_key || !k.corr_pid) {
		rc = TSM_FAIL(TSM_NOMEM, "kineto: correlation table");
		goto out;
	}
	/* Read the first event before the header: definitions before it are loaded. */
	rc = tsm__xsrc_next(x, &ev);
	if (rc < 0)
		goto out;
	got = rc == 0;
	k.first_ts = got ? ev->start_ns : 0;
	rc = write_header(&k);
	while (rc >= 0 && got) {
		rc = note_tracks(&k, ev);
		if (rc >= 0)
			rc = write_event(&k, ev);
		if (rc < 0)
			break;
		rc = tsm__xsrc_next(x, &ev);
		if (rc == TSM_END) {
			rc = 0;
			break;
		}
	}
	if (rc < 0)
		goto out;
	rc = write_metadata(&k);
	if (rc < 0)
		goto out;
	rc = tsm__sink_room(k.s, 256);
	if (rc < 0)
		goto out;
	p = jw_cur(k.s);
	JW_LIT(p, "\n  ],\n  \"traceName\": \"tracesmith\"\n}\n");
	jw_set(k.s, p);
out:
	tsm__free(k.corr_key);
	tsm__free(k.corr_pid);
	tsm__free(k.mem_total);
	return rc;
}
