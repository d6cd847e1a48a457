/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Chrome trace JSON export (chrome://tracing, Perfetto UI's JSON importer).
 *
 * {"displayTimeUnit": "ns", "otherData": {...}, "stackFrames": {...},
 * "traceEvents": [ ... ]},
 * one event per line. Processes: one per host process (its pid) and one
 * per GPU (pid 1000000 + n, named "GPU 0: NVIDIA H100" or "rank 1 GPU 0").
 * GPU threads are named by stream and kind class ("stream 7: compute",
 * "stream 13: copy H2D", "memory ops", "synchronisation"), so copies and
 * kernels of one stream sit on separate rows; slices that overlap without
 * nesting go to extra rows ("stream 7: compute #2") instead of being
 * mangled by the viewer. process_name / thread_name / sort-index metadata
 * ("M") are written the first time a process or thread appears. Complete
 * events ("X") carry every field of the event in "args" (kernel grid,
 * block, shared memory, registers; copy bytes, direction, bandwidth;
 * correlation, external id, ...). Flows are "s" / "f" pairs with
 * "bp": "e": host API call -> GPU work (cat "ac2g", id = correlation)
 * and event record -> stream wait (cat "sync", id = flow id); both ends
 * are written when the end is reached, so every "f" has its "s".
 * An event with a host call stack names its innermost frame in "sf"; the
 * frames are in "stackFrames" (node stack * 256 + depth from the bottom,
 * parent the frame below; name "function (file:line)", category the
 * shared object). It comes before "traceEvents", with every stack the
 * file defines (the definitions are all read up front from a seekable
 * file), so that a streaming reader (our import) has the frames before
 * the events; from a pipe the definitions are not known up front, and
 * the frames of the stacks used follow the events instead.
 * Times are microseconds with three decimals (exact ns).
 */
#include <stdio.h>

#include "export/export-internal.h"
#include "format/reader.h"

#define GPU_PID_BASE 1000000u
#define STACK_FRAMES 128 /* frames of a call stack written, innermost first */

struct cj {
	tsm__xctx *x;
	tsm__sink *s;
	uint32_t ngpu;
	tsm__jw_tscache tsc;
	tsm__jw_dcache dc;
	/* kind names and their lengths, looked up once per kind instead of per event */
	const char *kname[256];
	uint8_t klen[256];
	int stacks_first;    /* every stack written before "traceEvents" */
	uint8_t *stack_used; /* by stack id: the events refer to it (else) */
	size_t stack_cap;
};

/* Frames (bottom first) of stack `id`, capped: its node ids are id * 256 + 1 .. + n. */
static const tsm_frame *stack_frames(tsm__xctx *x, uint32_t id, size_t *n)
{
	const tsm_frame *fr = tsm_reader_stack(x->r, id, n);

	if (*n > STACK_FRAMES)
		*n = STACK_FRAMES;
	return fr;
}

/* Note that an event refers to stack `id` (written in "stackFrames" at the end: a pipe). */
static int stack_use(struct cj *c, uint32_t id)
{
	if (id >= c->stack_cap) {
		size_t cap = c->stack_cap ? c->stack_cap : 64;
		uint8_t *nu;

		while (cap <= id)
			cap *= 2;
		nu = tsm__realloc(c->stack_used, cap);
		if (!nu)
			return TSM_FAIL(TSM_NOMEM, "chrome: stack table");
		memset(nu + c->stack_cap, 0, cap - c->stack_cap);
		c->stack_used = nu;
		c->stack_cap = cap;
	}
	c->stack_used[id] = 1;
	return 0;
}

/* "stackFrames": every frame of stacks 1 .. nstacks - 1 (those the events used when
 * stack_used is set). */
static int write_stack_frames(struct cj *c, uint32_t nstacks, const uint8_t *stack_used)
{
	tsm__xctx *x = c->x;
	tsm__sink *s = c->s;
	int rc = tsm__xput(s, "\"stackFrames\": {", 16), first = 1;

	for (uint32_t id = 1; id < nstacks && rc >= 0; id++) {
		const tsm_frame *fr;
		size_t n;

		if ((stack_used && !stack_used[id]) || !(fr = stack_frames(x, id, &n)))
			continue;
		for (size_t d = 0; d < n && rc >= 0; d++) {
			const tsm_frame *fm = &fr[n - 1 - d]; /* bottom first */
			char num[96], *p = num;

			if (!first)
				*p++ = ',';
			first = 0;
			JW_LIT(p, "\n\"");
			p = tsm__jw_u64(p, (uint64_t)id * 256 + d + 1);
			JW_LIT(p, "\": {");
			if (d) {
				JW_LIT(p, "\"parent\": \"");
				p = tsm__jw_u64(p, (uint64_t)id * 256 + d);
				JW_LIT(p, "\", ");
			}
			JW_LIT(p, "\"category\": ");
			rc = tsm__xput(s, num, (size_t)(p - num));
			if (rc >= 0)
				rc = fm->module ? tsm__xput_esc(x, fm->module)
						: tsm__xput(s, "\"[unknown]\"", 11);
			if (rc >= 0)
				rc = tsm__xput(s, ", \"name\": ", 10);
			if (rc >= 0) {
				/* "function (file:line)", or the pc: one string, escaped */
				uint32_t fl = 0;
				size_t sl = 0;
				const char *fn =
				    fm->function ? tsm__xname(x, fm->function, &fl) : NULL;
				const char *file = fm->file ? tsm__xstr(x, fm->file, &sl) : NULL;
				char *name;

				if (fm->function && !fn)
					return TSM_NOMEM; /* its demangled form */
				name = tsm__malloc((size_t)fl + sl + 64);
				if (!name)
					return TSM_FAIL(TSM_NOMEM, "chrome: stack frame name");
				if (fn)
					memcpy(name, fn, fl);
				else
					fl = (uint32_t)snprintf(name, 32, "0x%llx",
								(unsigned long long)fm->pc);
				p = name + fl;
				if (file) {
					JW_LIT(p, " (");
					memcpy(p, file, sl);
					p += sl;
					if (fm->line) {
						*p++ = ':';
						p = tsm__jw_u64(p, fm->line);
					}
					*p++ = ')';
				}
				rc = tsm__jw_str(s, name, (size_t)(p - name));
				tsm__free(name);
			}
			if (rc >= 0)
				rc = tsm__xput(s, "}", 1);
		}
	}
	return rc < 0 ? rc : tsm__xput(s, "}", 1);
}

static int meta_line(struct cj *c, const char *what, uint64_t pid, uint64_t tid, const char *key,
		     const char *sval, int64_t ival)
{
	tsm__sink *s = c->s;
	char *p;
	int rc = tsm__sink_room(s, 1024);

	if (rc < 0)
		return rc;
	p = jw_cur(s);
	JW_LIT(p, ",\n{\"ph\": \"M\", \"name\": \"");
	memcpy(p, what, strlen(what));
	p += strlen(what);
	JW_LIT(p, "\", \"pid\": ");
	p = tsm__jw_u64(p, pid);
	JW_LIT(p, ", \"tid\": ");
	p = tsm__jw_u64(p, tid);
	JW_LIT(p, ", \"args\": {\"");
	memcpy(p, key, strlen(key));
	p += strlen(key);
	JW_LIT(p, "\": ");
	jw_set(s, p);
	if (sval) {
		rc = tsm__jw_str(s, sval, strlen(sval));
		if (rc < 0)
			return rc;
		p = jw_cur(s);
	} else {
		p = tsm__jw_i64(p, ival);
	}
	JW_LIT(p, "}}");
	jw_set(s, p);
	return 0;
}

/* pid/tid of an event (creating process and thread metadata on first use). */
static int place(struct cj *c, const tsm_event *ev, int slice, uint64_t *pid, uint64_t *tid)
{
	tsm__xctx *x = c->x;
	struct xtrack *t;
	int created, rc, host = tsm__xis_host(ev);
	char name[640];

	if (host) {
		*pid = ev->pid;
		t = tsm__xtrack_get(x, 1, ev->pid, &created);
		if (!t)
			return TSM_FAIL(TSM_NOMEM, "chrome: tracks");
		if (created) {
			size_t n;
			const tsm_process_info *pi = tsm_reader_processes(x->r, &n);
			const char *pname = "process";
			int rank = -1;

			for (size_t i = 0; i < n; i++)
				if (pi[i].pid == ev->pid) {
					if (pi[i].name)
						pname = tsm__xstr(x, pi[i].name, NULL);
					rank = pi[i].rank;
				}
			if (rank >= 0)
				snprintf(name, sizeof(name), "%.500s (rank %d)", pname, rank);
			else
				snprintf(name, sizeof(name), "%.500s", pname);
			rc = meta_line(c, "process_name", *pid, 0, "name", name, 0);
			if (rc < 0)
				return rc;
		}
		t = tsm__xtrack_get(x, 2 | ((uint64_t)ev->pid << 8), ev->tid, &created);
		if (!t)
			return TSM_FAIL(TSM_NOMEM, "chrome: tracks");
		if (created)
			t->id = ev->tid;
	} else {
		int rank = tsm__xrank(x->r, ev->pid);
		uint64_t owner = rank >= 0 ? (1ULL << 40) | (uint64_t)rank : ev->pid;
		unsigned cls = tsm__xclass(ev);
		struct xtrack *g = tsm__xtrack_get(x, 3, (owner << 16) | ev->device, &created);

		if (!g)
			return TSM_FAIL(TSM_NOMEM, "chrome: tracks");
		if (created) {
			const tsm_device_info *d = tsm__xdevice(x->r, ev->device);
			const char *dn = d && d->name ? tsm__xstr(x, d->name, NULL) : "";

			g->id = GPU_PID_BASE + c->ngpu++;
			if (rank >= 0)
				snprintf(name, sizeof(name), "rank %d GPU %u%s%.500s", rank,
					 ev->device, *dn ? ": " : "", dn);
			else
				snprintf(name, sizeof(name), "GPU %u%s%.500s", ev->device,
					 *dn ? ": " : "", dn);
			rc = meta_line(c, "process_name", g->id, 0, "name", name, 0);
			if (rc >= 0)
				rc = meta_line(c, "process_sort_index", g->id, 0, "sort_index",
					       NULL, (int64_t)g->id);
			if (rc < 0)
				return rc;
		}
		*pid = g->id;
		if (cls == XC_MEMORY && ev->kind != TSM_EV_MEMSET)
			t = tsm__xtrack_get(x, 4 | (g->id << 8), 0xFFFFFFFFull << 8 | cls,
					    &created);
		else
			t = tsm__xtrack_get(x, 4 | (g->id << 8), (uint64_t)ev->stream << 8 | cls,
					    &created);
		if (!t)
			return TSM_FAIL(TSM_NOMEM, "chrome: tracks");
		if (created) {
			t->aux = cls;
			t->id = ((uint64_t)ev->stream << 4 | cls) * 64;
			if (cls == XC_MEMORY && ev->kind != TSM_EV_MEMSET)
				t->id = (0xFFFFFFull << 4 | cls) * 64;
		}
	}
	if (slice) {
		rc = tsm__xlane_assign(t, ev->start_ns, ev->end_ns, &created);
		if (rc < 0)
			return rc;
		if (rc >= 64)
			rc = 63; /* beyond 64 rows per track, share the last one */
		if (created && rc > 0)
			x->st.overlap_lanes++;
		*tid = t->id + (uint64_t)rc;
		if (created && (!host || rc > 0)) {
			if (host)
				snprintf(name, sizeof(name), "thread %llu #%d",
					 (unsigned long long)ev->tid, rc + 1);
			else if (t->aux == XC_MEMORY && ev->kind != TSM_EV_MEMSET)
				snprintf(name, sizeof(name), "memory ops%s", rc ? " #2+" : "");
			else if (rc)
				snprintf(name, sizeof(name), "stream %u: %s #%d", ev->stream,
					 tsm__xclass_name(t->aux), rc + 1);
			else
				snprintf(name, sizeof(name), "stream %u: %s", ev->stream,
					 tsm__xclass_name(t->aux));
			rc = meta_line(c, "thread_name", *pid, *tid, "name", name, 0);
			if (rc < 0)
				return rc;
		}
	} else {
		*tid = t->id;
		if (!t->used && !host) {
			snprintf(name, sizeof(name),
				 t->aux == XC_MEMORY && ev->kind != TSM_EV_MEMSET ? "memory ops"
										  : "stream %u: %s",
				 ev->stream, tsm__xclass_name(t->aux));
			rc = meta_line(c, "thread_name", *pid, *tid, "name", name, 0);
			if (rc < 0)
				return rc;
		}
	}
	t->used = 1;
	return 0;
}

#define ARGU(key, v)                          \
	do {                                  \
		JW_LIT(p, ", \"" key "\": "); \
		p = tsm__jw_u64(p, (v));      \
	} while (0)
#define ARGS(key, v)                                   \
	do {                                           \
		JW_LIT(p, ", \"" key "\": ");          \
		p = tsm__jw_escape(p, (v), strlen(v)); \
	} while (0)

/* Inlined at its two call sites so that strlen(cat) of the literal is a constant. */
static inline __attribute__((always_inline)) int write_flow(struct cj *c, const char *cat,
							    uint64_t id, const struct xflow *from,
							    uint64_t to_pid, uint64_t to_tid,
							    uint64_t to_ts)
{
	tsm__sink *s = c->s;
	char *p;
	int rc = tsm__sink_room(s, 512);

	if (rc < 0)
		return rc;
	p = jw_cur(s);
	JW_LIT(p, ",\n{\"ph\": \"s\", \"cat\": \"");
	memcpy(p, cat, strlen(cat));
	p += strlen(cat);
	JW_LIT(p, "\", \"name\": \"");
	memcpy(p, cat, strlen(cat));
	p += strlen(cat);
	JW_LIT(p, "\", \"id\": ");
	p = tsm__jw_u64(p, id);
	JW_LIT(p, ", \"pid\": ");
	p = tsm__jw_u64(p, from->pid);
	JW_LIT(p, ", \"tid\": ");
	p = tsm__jw_u64(p, from->tid);
	JW_LIT(p, ", \"ts\": ");
	p = tsm__jw_us3c(p, from->ts, &c->tsc);
	JW_LIT(p, "},\n{\"ph\": \"f\", \"bp\": \"e\", \"cat\": \"");
	memcpy(p, cat, strlen(cat));
	p += strlen(cat);
	JW_LIT(p, "\", \"name\": \"");
	memcpy(p, cat, strlen(cat));
	p += strlen(cat);
	JW_LIT(p, "\", \"id\": ");
	p = tsm__jw_u64(p, id);
	JW_LIT(p, ", \"pid\": ");
	p = tsm__jw_u64(p, to_pid);
	JW_LIT(p, ", \"tid\": ");
	p = tsm__jw_u64(p, to_tid);
	JW_LIT(p, ", \"ts\": ");
	p = tsm__jw_us3c(p, to_ts, &c->tsc);
	JW_LIT(p, "}");
	jw_set(s, p);
	c->x->st.flows++;
	return 0;
}

static int write_event(struct cj *c, const tsm_event *ev)
{
	tsm__xctx *x = c->x;
	tsm__sink *s = c->s;
	int slice = tsm__xis_slice(ev), counter = ev->kind == TSM_EV_COUNTER, rc;
	uint64_t pid = 0, tid = 0;
	char *p;
	const tsm_kv *kv = NULL;
	size_t nkv = 0;
	struct xflow *fl;

	rc = place(c, ev, slice && !counter, &pid, &tid);
	if (rc < 0)
		return rc;
	rc = tsm__sink_room(s, 256);
	if (rc < 0)
		return rc;
	p = jw_cur(s);
	JW_LIT(p, ",\n{\"ph\": \"");
	*p++ = counter ? 'C' : slice ? 'X' : 'i';
	JW_LIT(p, "\", \"cat\": \"");
	{
		size_t n;
		const char *ct = tsm__xcategory(ev, tsm__xis_host(ev), 0, &n);

		memcpy(p, ct, n);
		p += n;
	}
	JW_LIT(p, "\", \"name\": ");
	jw_set(s, p);
	if (ev->name) {
		rc = tsm__xput_name(x, ev->name);
	} else {
		const char *k = ev->kind == TSM_EV_SYNC ? tsm_sync_type_name(ev->u.sync.sync_type)
							: tsm_event_kind_name(ev->kind);

		rc = tsm__jw_str(s, k, strlen(k));
	}
	if (rc < 0 || (rc = tsm__sink_room(s, 2048)) < 0)
		return rc;
	p = jw_cur(s);
	JW_LIT(p, ", \"pid\": ");
	p = tsm__jw_u64(p, pid);
	JW_LIT(p, ", \"tid\": ");
	p = tsm__jw_u64(p, tid);
	JW_LIT(p, ", \"ts\": ");
	p = tsm__jw_us3c(p, ev->start_ns, &c->tsc);
	if (slice && !counter) {
		JW_LIT(p, ", \"dur\": ");
		p = tsm__jw_us3(p, ev->end_ns - ev->start_ns);
	} else if (!counter) {
		JW_LIT(p, ", \"s\": \"t\"");
	}
	if (ev->stack) {
		size_t n;

		if (stack_frames(x, ev->stack, &n) && n) {
			rc = c->stacks_first ? 0 : stack_use(c, ev->stack);
			if (rc < 0)
				return rc;
			JW_LIT(p, ", \"sf\": \"");
			p = tsm__jw_u64(p, (uint64_t)ev->stack * 256 + n);
			*p++ = '"';
		}
	}
	JW_LIT(p, ", \"args\": {");
	if (counter) {
		JW_LIT(p, "\"value\": ");
		p = tsm__jw_double_c(p, ev->u.counter.value, &c->dc);
	} else {
		JW_LIT(p, "\"kind\": \"");
		if (!c->kname[ev->kind]) {
			c->kname[ev->kind] = tsm_event_kind_name(ev->kind);
			c->klen[ev->kind] = (uint8_t)strlen(c->kname[ev->kind]);
		}
		memcpy(p, c->kname[ev->kind], c->klen[ev->kind]);
		p += c->klen[ev->kind];
		*p++ = '"';
		if (ev->correlation)
			ARGU("correlation", ev->correlation);
		if (ev->external)
			ARGU("External id", ev->external);
		if (ev->device != TSM_DEVICE_NONE) {
			ARGU("device", ev->device);
			ARGU("context", ev->context);
			ARGU("stream", ev->stream);
		}
		if (!tsm__xis_host(ev))
			ARGU("process", ev->pid);
	}
	switch (ev->kind) {
	case TSM_EV_KERNEL: {
		const tsm_kernel_info *k = &ev->u.kernel;

		JW_LIT(p, ", \"grid\": [");
		p = tsm__jw_u64(p, k->grid[0]);
		JW_LIT(p, ", ");
		p = tsm__jw_u64(p, k->grid[1]);
		JW_LIT(p, ", ");
		p = tsm__jw_u64(p, k->grid[2]);
		JW_LIT(p, "], \"block\": [");
		p = tsm__jw_u64(p, k->block[0]);
		JW_LIT(p, ", ");
		p = tsm__jw_u64(p, k->block[1]);
		JW_LIT(p, ", ");
		p = tsm__jw_u64(p, k->block[2]);
		*p++ = ']';
		ARGU("registers per thread", k->regs_per_thread);
		ARGU("shared memory", (uint64_t)k->static_smem_bytes + k->dynamic_smem_bytes);
		ARGU("static shared memory", k->static_smem_bytes);
		ARGU("dynamic shared memory", k->dynamic_smem_bytes);
		if (k->graph_id) {
			ARGU("graph id", k->graph_id);
			ARGU("graph node id", k->graph_node_id);
		}
		break;
	}
	case TSM_EV_MEMCPY: {
		uint64_t d = ev->end_ns - ev->start_ns;

		ARGU("bytes", ev->u.memcpy.bytes);
		JW_LIT(p, ", \"memory bandwidth (GB/s)\": ");
		p = tsm__jw_double_c(p, d ? (double)ev->u.memcpy.bytes / (double)d : 0.0, &c->dc);
		ARGS("copy kind", tsm_copy_kind_name(ev->u.memcpy.copy_kind));
		ARGS("src kind", tsm_mem_kind_name(ev->u.memcpy.src_kind));
		ARGS("dst kind", tsm_mem_kind_name(ev->u.memcpy.dst_kind));
		if (ev->u.memcpy.copy_kind == TSM_COPY_P2P) {
			ARGU("src device", ev->u.memcpy.src_device);
			ARGU("dst device", ev->u.memcpy.dst_device);
		}
		break;
	}
	case TSM_EV_MEMSET: {
		uint64_t d = ev->end_ns - ev->start_ns;

		ARGU("bytes", ev->u.memset.bytes);
		JW_LIT(p, ", \"memory bandwidth (GB/s)\": ");
		p = tsm__jw_double_c(p, d ? (double)ev->u.memset.bytes / (double)d : 0.0, &c->dc);
		ARGU("value", ev->u.memset.value);
		ARGS("memory kind", tsm_mem_kind_name(ev->u.memset.mem_kind));
		break;
	}
	case TSM_EV_SYNC:
		ARGS("sync type", tsm_sync_type_name(ev->u.sync.sync_type));
		ARGU("event id", ev->u.sync.event_id);
		break;
	case TSM_EV_ALLOC:
	case TSM_EV_FREE:
		ARGU("address", ev->u.memory.address);
		ARGU("bytes", ev->u.memory.bytes);
		ARGS("memory kind", tsm_mem_kind_name(ev->u.memory.mem_kind));
		break;
	case TSM_EV_RUNTIME:
	case TSM_EV_DRIVER:
		ARGU("cbid", ev->u.api.cbid);
		JW_LIT(p, ", \"status\": ");
		p = tsm__jw_i64(p, ev->u.api.status);
		break;
	case TSM_EV_OVERHEAD:
		ARGU("overhead kind", ev->u.overhead.overhead_kind);
		break;
	case TSM_EV_DROPPED:
		ARGU("count", ev->u.dropped.count);
		ARGS("source", tsm_drop_source_name(ev->u.dropped.source));
		break;
	default:
		break;
	}
	if (ev->flow_type) {
		/* the flow whole in the args too (the s/f records are written once it ends) */
		ARGU("flow id", ev->flow_id);
		ARGS("flow type", tsm_flow_type_name(ev->flow_type));
	}
	jw_set(s, p);
	if (ev->kind == TSM_EV_NVTX_RANGE || ev->kind == TSM_EV_NVTX_MARK) {
		if (ev->u.nvtx.domain) {
			rc = tsm__xput(s, ", \"domain\": ", 12);
			if (rc >= 0)
				rc = tsm__xput_esc(x, ev->u.nvtx.domain);
			if (rc < 0)
				return rc;
		}
	}
	if (ev->meta)
		kv = tsm_reader_kvlist(x->r, ev->meta, &nkv);
	for (size_t i = 0; i < nkv; i++) {
		rc = tsm__xput(s, ", ", 2);
		if (rc >= 0)
			rc = tsm__xput_esc(x, kv[i].key);
		if (rc >= 0)
			rc = tsm__xput(s, ": ", 2);
		if (rc >= 0 && (rc = tsm__sink_room(s, 64)) >= 0) {
			p = jw_cur(s);
			if (kv[i].type == TSM_KV_INT) {
				jw_set(s, tsm__jw_i64(p, kv[i].v.i));
			} else if (kv[i].type == TSM_KV_DOUBLE) {
				jw_set(s, tsm__jw_double(p, kv[i].v.d));
			} else {
				rc = tsm__xput_esc(x, (uint32_t)kv[i].v.str);
			}
		}
		if (rc < 0)
			return rc;
	}
	rc = tsm__xput(s, "}}", 2);
	if (rc < 0)
		return rc;

	/* Flows: both ends written when the end is reached. */
	if (ev->correlation) {
		uint64_t key = tsm__xflow_key_corr(ev->pid, ev->correlation);

		if (ev->kind == TSM_EV_RUNTIME || ev->kind == TSM_EV_DRIVER) {
			tsm__xflow_start(x, key, ev->start_ns, (uint32_t)pid, tid);
		} else if (!tsm__xis_host(ev) && ev->kind != TSM_EV_ALLOC &&
			   ev->kind != TSM_EV_FREE) {
			fl = tsm__xflow_take(x, key);
			if (fl)
				rc = write_flow(c, "ac2g", ev->correlation, fl, pid, tid,
						ev->start_ns);
			else
				x->st.flows_unmatched++;
		}
	}
	if (rc >= 0 && ev->flow_type && ev->flow_id) {
		uint64_t key = tsm__xflow_key_id(ev->pid, ev->flow_id);

		if (ev->flow_type == TSM_FLOW_START) {
			tsm__xflow_start(x, key, ev->start_ns, (uint32_t)pid, tid);
		} else {
			fl = tsm__xflow_take(x, key);
			if (fl) {
				struct xflow from = *fl;

				rc = write_flow(c, "sync", ev->flow_id, &from, pid, tid,
						ev->start_ns);
				if (ev->flow_type == TSM_FLOW_STEP)
					tsm__xflow_start(x, key, ev->start_ns, (uint32_t)pid, tid);
			} else {
				x->st.flows_unmatched++;
			}
		}
	}
	return rc;
}

int tsm__export_chrome(tsm__xctx *x)
{
	struct cj c;
	const tsm_event *ev;
	const tsm_trace_info *ti = tsm_reader_info(x->r);
	char *p;
	int rc;

	memset(&c, 0, sizeof(c));
	c.x = x;
	c.s = &x->out;
	rc = tsm__sink_room(c.s, 1024);
	if (rc < 0)
		return rc;
	p = jw_cur(c.s);
	JW_LIT(p, "{\"displayTimeUnit\": \"ns\", \"otherData\": {\"producer\": ");
	jw_set(c.s, p);
	rc = tsm__jw_str(c.s, ti->producer ? ti->producer : "",
			 ti->producer ? strlen(ti->producer) : 0);
	if (rc >= 0)
		rc = tsm__xput(c.s, ", \"clock\": ", 11);
	if (rc >= 0)
		rc = tsm__jw_str(c.s, tsm_clock_name(ti->clock), strlen(tsm_clock_name(ti->clock)));
	if (rc >= 0) {
		static const char tail[] =
		    ", \"exporter\": \"tracesmith " TSM_VERSION_STRING "\"},\n";

		rc = tsm__xput(c.s, tail, sizeof(tail) - 1);
	}
	/* every definition was loaded up front: the blocks are read in time order (build_order) */
	c.stacks_first = x->order != NULL;
	if (rc >= 0 && c.stacks_first && x->r->stacks.n) {
		rc = write_stack_frames(&c, x->r->stacks.n + 1, NULL);
		if (rc >= 0)
			rc = tsm__xput(c.s, ",\n", 2);
	}
	if (rc >= 0) {
		static const char head[] =
		    "\"traceEvents\": [\n{\"ph\": \"M\", \"name\": \"process_name\", "
		    "\"pid\": 0, \"tid\": 0, \"args\": {\"name\": \"tracesmith\"}}";

		rc = tsm__xput(c.s, head, sizeof(head) - 1);
	}
	while (rc >= 0 && (rc = tsm__xsrc_next(x, &ev)) == 0)
		rc = write_event(&c, ev);
	if (rc == TSM_END)
		rc = tsm__xput(c.s, "\n]", 2);
	if (rc >= 0 && c.stack_used) {
		rc = tsm__xput(c.s, ",\n", 2);
		if (rc >= 0)
			rc = write_stack_frames(&c, (uint32_t)c.stack_cap, c.stack_used);
	}
	if (rc >= 0)
		rc = tsm__xput(c.s, "}\n", 2);
	tsm__free(c.stack_used);
	return rc;
}
