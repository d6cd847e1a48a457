/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Perfetto native protobuf export (.pftrace), written with the small
 * encoder of protobuf.c: no Perfetto SDK, no libprotobuf.
 *
 * The file is a perfetto.protos.Trace: a stream of `packet` fields (1),
 * all on one packet sequence (trusted_packet_sequence_id 1), so that one
 * clock domain and one interning state cover the whole trace:
 *
 *  - the first packet has SEQ_INCREMENTAL_STATE_CLEARED and interns the
 *    debug-annotation names (fixed list below); later packets that use
 *    interned ids carry SEQ_NEEDS_INCREMENTAL_STATE;
 *  - event names are interned on first use (InternedData.event_names in
 *    the packet that first needs them; iid = the SBT string id, or a
 *    synthetic iid above 2^32 for kinds whose events have no name), and so
 *    are metadata keys (debug_annotation_names, iid 1000 + string id);
 *  - TrackDescriptors are emitted before a track's first event: a process
 *    per GPU (per rank and GPU when the trace has ranks), a child track per
 *    stream, host processes and threads, counter tracks for GPU memory in
 *    use (from alloc/free) and for counter events, and child lanes
 *    ("stream 7 #2") for slices that overlap without nesting;
 *  - slices are TYPE_SLICE_BEGIN / TYPE_SLICE_END pairs; ends wait in a
 *    min-heap and are written when the merge passes their time, so the
 *    sequence is in timestamp order; instants for markers, alloc/free,
 *    zero-length syncs, dropped-event records; TYPE_COUNTER for counters;
 *  - every kernel/copy/set/sync/API argument is a debug annotation;
 *    metadata lists follow as annotations under their own keys;
 *  - flows: a host API call starts flow (pid, correlation) in flow_ids, the
 *    GPU work with that correlation terminates it (terminating_flow_ids);
 *    explicit flows (event record -> stream wait) likewise by flow id.
 * Names longer than 64 KiB are cut (protobuf allows more; viewers do not
 * need it); at most 64 metadata annotations per event.
 */
#include <stdio.h>

#include "export/export-internal.h"
#include "export/protobuf.h"

#define SEQ_ID	       1
#define NAME_MAX_BYTES (64u << 10)
#define META_MAX       64
#define META_STR_MAX   (16u << 10)
#define SYNTH_IID      (1ULL << 32)
#define META_IID_BASE  1000u

/* TracePacket / TrackEvent / descriptors field numbers (perfetto_trace.proto). */
enum {
	F_TRACE_PACKET = 1,
	F_PKT_TIMESTAMP = 8,
	F_PKT_SEQ_ID = 10,
	F_PKT_TRACK_EVENT = 11,
	F_PKT_INTERNED = 12,
	F_PKT_SEQ_FLAGS = 13,
	F_PKT_TRACK_DESC = 60,
	F_TE_ANNOT = 4,
	F_TE_TYPE = 9,
	F_TE_NAME_IID = 10,
	F_TE_TRACK_UUID = 11,
	F_TE_COUNTER_INT = 30,
	F_TE_COUNTER_DOUBLE = 44,
	F_TE_FLOW_IDS = 47,
	F_TE_TERM_FLOW_IDS = 48,
	F_TE_CORRELATION = 52,
	F_ID_EVENT_NAMES = 2,
	F_ID_ANNOT_NAMES = 3,
	F_DA_NAME_IID = 1,
	F_DA_BOOL = 2,
	F_DA_UINT = 3,
	F_DA_INT = 4,
	F_DA_DOUBLE = 5,
	F_DA_STRING = 6,
	F_TD_UUID = 1,
	F_TD_NAME = 2,
	F_TD_PROCESS = 3,
	F_TD_THREAD = 4,
	F_TD_PARENT = 5,
	F_TD_COUNTER = 8,
	F_PD_PID = 1,
	F_PD_NAME = 6,
	F_PD_LABELS = 8,
	F_THD_PID = 1,
	F_THD_TID = 2,
	F_THD_NAME = 5,
	F_CD_UNIT = 3,
};

enum { T_BEGIN = 1, T_END = 2, T_INSTANT = 3, T_COUNTER = 4 };
enum { SEQ_CLEARED = 1, SEQ_NEEDS = 2 };

/* Fixed debug-annotation names, interned in the first packet (iid = index + 1). */
enum {
	A_CORRELATION = 1,
	A_EXTERNAL,
	A_DEVICE,
	A_CONTEXT,
	A_STREAM,
	A_GRID,
	A_BLOCK,
	A_CLUSTER,
	A_SMEM,
	A_DSMEM,
	A_REGS,
	A_GRAPH,
	A_GRAPH_NODE,
	A_BYTES,
	A_BANDWIDTH,
	A_COPY_KIND,
	A_SRC_KIND,
	A_DST_KIND,
	A_SRC_DEV,
	A_DST_DEV,
	A_VALUE,
	A_MEM_KIND,
	A_SYNC_TYPE,
	A_EVENT_ID,
	A_CBID,
	A_STATUS,
	A_DOMAIN,
	A_COLOR,
	A_CATEGORY,
	A_ADDRESS,
	A_COUNT,
	A_SOURCE,
	A_OVERHEAD,
	A_MANGLED,
	A_FLOW_ID,
	A_PID,
	A_TID,
	A_FLAGS,
	A_ASYNC,
	A__COUNT
};
static const char *const annot_names[A__COUNT] = {
    NULL,
    "correlation",
    "external id",
    "device",
    "context",
    "stream",
    "grid",
    "block",
    "cluster",
    "static shared memory",
    "dynamic shared memory",
    "registers per thread",
    "graph id",
    "graph node id",
    "bytes",
    "memory bandwidth (GB/s)",
    "copy kind",
    "src kind",
    "dst kind",
    "src device",
    "dst device",
    "value",
    "memory kind",
    "sync type",
    "event id",
    "cbid",
    "status",
    "domain",
    "color",
    "category",
    "address",
    "count",
    "source",
    "overhead kind",
    "mangled name",
    "flow id",
    "pid",
    "tid",
    "flags",
    "async",
};

struct pend {
	uint64_t end, seq;
	uint32_t track, lane;
};

#define TCACHE 256

struct tcache {
	uint64_t a, b;
	uint32_t ti, host, used;
};

/* Launch configurations (kernel_conf): the key, and the annotation bytes it encodes to. */
#define KCACHE 256
struct kconf {
	uint32_t context, stream;
	uint16_t device;
	uint8_t where, pad;
	uint8_t k[32]; /* tsm_kernel_info up to the graph ids */
};
struct kslot {
	struct kconf key;
	uint8_t len; /* 0: empty */
	uint8_t bytes[200];
};

struct pf {
	tsm__xctx *x;
	tsm__sink *s;
	uint64_t next_uuid;
	uint64_t seq;
	uint8_t *name_def; /* bitmap by string id: event name interned */
	uint8_t *key_def;  /* bitmap by string id: metadata key interned */
	size_t def_cap;	   /* bytes of both bitmaps */
	uint8_t synth_def[TSM_EV__COUNT * 8];
	struct pend *heap;
	size_t nheap, heap_cap;
	uint64_t gpu_pid_next;
	uint64_t last_ts;
	unsigned pl_guess, tl_guess; /* length-varint sizes of the last event packet */
	struct tcache tc[TCACHE];
	struct kslot *kc; /* KCACHE slots */
};

/* ---- small helpers ----------------------------------------------------------- */

static int bit_ensure(struct pf *f, uint32_t id)
{
	size_t need = (size_t)id / 8 + 1;

	if (need > f->def_cap) {
		size_t cap = f->def_cap ? f->def_cap : 1024;
		uint8_t *a, *b;

		while (cap < need)
			cap *= 2;
		a = tsm__realloc(f->name_def, cap);
		if (!a)
			return TSM_FAIL(TSM_NOMEM, "perfetto: intern bitmap");
		f->name_def = a;
		b = tsm__realloc(f->key_def, cap);
		if (!b)
			return TSM_FAIL(TSM_NOMEM, "perfetto: intern bitmap");
		f->key_def = b;
		memset(a + f->def_cap, 0, cap - f->def_cap);
		memset(b + f->def_cap, 0, cap - f->def_cap);
		f->def_cap = cap;
	}
	return 0;
}

static uint8_t *pb_str(uint8_t *p, uint32_t field, const char *s, size_t n, size_t max)
{
	return pb_bytes(p, field, s, n < max ? n : max);
}

static uint8_t *pkt_begin(uint8_t *p, uint8_t **mark, uint64_t ts, int with_ts, unsigned flags)
{
	p = pb_begin(p, F_TRACE_PACKET, mark);
	if (with_ts)
		p = pb_uint(p, F_PKT_TIMESTAMP, ts);
	p = pb_uint(p, F_PKT_SEQ_ID, SEQ_ID);
	if (flags)
		p = pb_uint(p, F_PKT_SEQ_FLAGS, flags);
	return p;
}

static int room(struct pf *f, size_t n)
{
	return tsm__sink_room(f->s, n);
}

static uint8_t *cur(struct pf *f)
{
	return f->s->buf + f->s->len;
}

static void set_cur(struct pf *f, uint8_t *p)
{
	f->s->len = (size_t)(p - f->s->buf);
}

/* ---- first packet: incremental state cleared, annotation names ------------------ */

static int write_first(struct pf *f)
{
	uint8_t *p, *m, *mi, *mn;
	int rc = room(f, 4096);

	if (rc < 0)
		return rc;
	p = pkt_begin(cur(f), &m, 0, 0, SEQ_CLEARED);
	p = pb_begin(p, F_PKT_INTERNED, &mi);
	for (unsigned i = 1; i < A__COUNT; i++) {
		p = pb_begin(p, F_ID_ANNOT_NAMES, &mn);
		p = pb_uint(p, 1, i);
		p = pb_str(p, 2, annot_names[i], strlen(annot_names[i]), 256);
		p = pb_end(mn, p);
	}
	p = pb_end(mi, p);
	set_cur(f, pb_end(m, p));
	return 0;
}

/* ---- track descriptors ----------------------------------------------------------- */

static int desc_process(struct pf *f, uint64_t uuid, uint64_t pid, const char *name,
			const char *label, uint64_t ts)
{
	uint8_t *p, *m, *md, *mp;
	int rc = room(f, 1024 + strlen(name));

	if (rc < 0)
		return rc;
	p = pkt_begin(cur(f), &m, ts, 1, 0);
	p = pb_begin(p, F_PKT_TRACK_DESC, &md);
	p = pb_uint(p, F_TD_UUID, uuid);
	p = pb_begin(p, F_TD_PROCESS, &mp);
	p = pb_int(p, F_PD_PID, (int32_t)pid);
	p = pb_str(p, F_PD_NAME, name, strlen(name), NAME_MAX_BYTES);
	if (label && *label)
		p = pb_str(p, F_PD_LABELS, label, strlen(label), 256);
	p = pb_end(mp, p);
	p = pb_end(md, p);
	set_cur(f, pb_end(m, p));
	f->x->st.tracks++;
	return 0;
}

static int desc_thread(struct pf *f, uint64_t uuid, uint64_t parent, uint32_t pid, uint64_t tid,
		       const char *name, uint64_t ts)
{
	uint8_t *p, *m, *md, *mt;
	int rc = room(f, 1024 + strlen(name));

	if (rc < 0)
		return rc;
	p = pkt_begin(cur(f), &m, ts, 1, 0);
	p = pb_begin(p, F_PKT_TRACK_DESC, &md);
	p = pb_uint(p, F_TD_UUID, uuid);
	p = pb_uint(p, F_TD_PARENT, parent);
	p = pb_begin(p, F_TD_THREAD, &mt);
	p = pb_int(p, F_THD_PID, (int32_t)pid);
	p = pb_int(p, F_THD_TID, (int64_t)tid);
	p = pb_str(p, F_THD_NAME, name, strlen(name), NAME_MAX_BYTES);
	p = pb_end(mt, p);
	p = pb_end(md, p);
	set_cur(f, pb_end(m, p));
	return 0;
}

/* A named track under `parent`; a counter track when unit >= 0. */
static int desc_track(struct pf *f, uint64_t uuid, uint64_t parent, const char *name, size_t len,
		      int counter_unit, uint64_t ts)
{
	uint8_t *p, *m, *md, *mc;
	int rc = room(f, 1024 + (len < NAME_MAX_BYTES ? len : NAME_MAX_BYTES));

	if (rc < 0)
		return rc;
	p = pkt_begin(cur(f), &m, ts, 1, 0);
	p = pb_begin(p, F_PKT_TRACK_DESC, &md);
	p = pb_uint(p, F_TD_UUID, uuid);
	if (parent)
		p = pb_uint(p, F_TD_PARENT, parent);
	p = pb_str(p, F_TD_NAME, name, len, NAME_MAX_BYTES);
	if (counter_unit >= 0) {
		p = pb_begin(p, F_TD_COUNTER, &mc);
		if (counter_unit)
			p = pb_uint(p, F_CD_UNIT, (uint64_t)counter_unit);
		p = pb_end(mc, p);
	}
	p = pb_end(md, p);
	set_cur(f, pb_end(m, p));
	f->x->st.tracks++;
	return 0;
}

/* Host process track (key 1, pid). */
static int host_process(struct pf *f, uint32_t pid, uint64_t ts, uint64_t *uuid)
{
	tsm__xctx *x = f->x;
	struct xtrack *t;
	int created, rc = 0;

	t = tsm__xtrack_get(x, 1, pid, &created);
	if (!t)
		return TSM_FAIL(TSM_NOMEM, "perfetto: tracks");
	if (created) {
		size_t n;
		const tsm_process_info *pi = tsm_reader_processes(x->r, &n);
		const char *name = "process";
		char label[32] = "";

		t->id = f->next_uuid++;
		for (size_t i = 0; i < n; i++) {
			if (pi[i].pid != pid)
				continue;
			if (pi[i].name)
				name = tsm__xstr(x, pi[i].name, NULL);
			if (pi[i].rank >= 0)
				snprintf(label, sizeof(label), "rank %d", pi[i].rank);
		}
		rc = desc_process(f, t->id, pid, name, label, ts);
		/* desc_process counted it; the generic counter below must not. */
		x->st.tracks--;
	}
	*uuid = t->id;
	return rc;
}

/* GPU process track: per (rank or pid, device). */
static int gpu_process(struct pf *f, const tsm_event *ev, uint64_t *uuid)
{
	tsm__xctx *x = f->x;
	int rank = tsm__xrank(x, ev->pid);
	uint64_t owner = rank >= 0 ? (1ULL << 40) | (uint64_t)rank : ev->pid;
	struct xtrack *t;
	int created, rc = 0;

	t = tsm__xtrack_get(x, 3, (owner << 16) | ev->device, &created);
	if (!t)
		return TSM_FAIL(TSM_NOMEM, "perfetto: tracks");
	if (created) {
		const tsm_device_info *d = tsm__xdevice(x, ev->device);
		char name[512];

		t->id = f->next_uuid++;
		if (rank >= 0)
			snprintf(name, sizeof(name), "rank %d GPU %u%s%s", rank, ev->device,
				 d && d->name ? ": " : "",
				 d && d->name ? tsm__xstr(x, d->name, NULL) : "");
		else
			snprintf(name, sizeof(name), "GPU %u%s%s", ev->device,
				 d && d->name ? ": " : "",
				 d && d->name ? tsm__xstr(x, d->name, NULL) : "");
		/* Synthetic pids keep GPU processes apart from host processes. */
		rc = desc_process(f, t->id, 0x40000000u + f->gpu_pid_next++, name, "GPU",
				  ev->start_ns);
	}
	*uuid = t->id;
	return rc;
}

/* Track (and lane uuid) for a slice or instant of `ev`. */
static int event_track(struct pf *f, const tsm_event *ev, int slice, uint64_t *uuid, uint32_t *ti,
		       uint32_t *lane)
{
	tsm__xctx *x = f->x;
	struct xtrack *t;
	uint64_t parent, k1, k2;
	int created, host = tsm__xis_host(ev), rc;
	uint64_t ca = host ? (1ULL << 63) | ev->pid : ((uint64_t)ev->device << 32) | ev->pid;
	uint64_t cb = host						    ? ev->tid
		      : ev->kind == TSM_EV_ALLOC || ev->kind == TSM_EV_FREE ? UINT64_MAX
									    : ev->stream;
	struct tcache *tc = &f->tc[tsm__mix64(ca * 0x9E3779B97F4A7C15ULL ^ cb) & (TCACHE - 1)];

	/* Tracks are looked up per event: a small direct-mapped cache of (thread or stream) ->
	 * track skips the process and track hash lookups (the track exists, described). */
	if (tc->used && tc->a == ca && tc->b == cb && tc->host == (uint32_t)host) {
		t = &x->tracks[tc->ti];
		goto found;
	}
	if (host) {
		rc = host_process(f, ev->pid, ev->start_ns, &parent);
		if (rc < 0)
			return rc;
		k1 = 2 | ((uint64_t)ev->pid << 8);
		k2 = ev->tid;
	} else {
		rc = gpu_process(f, ev, &parent);
		if (rc < 0)
			return rc;
		k1 = 4 | (parent << 8);
		k2 = ev->kind == TSM_EV_ALLOC || ev->kind == TSM_EV_FREE ? UINT64_MAX : ev->stream;
	}
	t = tsm__xtrack_get(x, k1, k2, &created);
	if (!t)
		return TSM_FAIL(TSM_NOMEM, "perfetto: tracks");
	if (created) {
		char name[96];

		t->id = f->next_uuid++;
		if (host) {
			snprintf(name, sizeof(name), "thread %llu", (unsigned long long)ev->tid);
			rc = desc_thread(f, t->id, parent, ev->pid, ev->tid, name, ev->start_ns);
			x->st.tracks++;
		} else {
			if (k2 == UINT64_MAX)
				snprintf(name, sizeof(name), "memory");
			else
				snprintf(name, sizeof(name), "stream %u", ev->stream);
			rc = desc_track(f, t->id, parent, name, strlen(name), -1, ev->start_ns);
		}
		if (rc < 0)
			return rc;
	}
	tc->a = ca;
	tc->b = cb;
	tc->host = (uint32_t)host;
	tc->used = 1;
	tc->ti = (uint32_t)(t - x->tracks);
found:
	*ti = (uint32_t)(t - x->tracks);
	if (!slice) {
		*lane = 0;
		*uuid = t->id;
		return 0;
	}
	rc = tsm__xlane_assign(t, ev->start_ns, ev->end_ns, 0, &created);
	if (rc < 0)
		return rc;
	*lane = (uint32_t)rc;
	if (created) {
		if (rc == 0) {
			t->lanes[0].id = t->id;
		} else {
			char name[96];

			t->lanes[rc].id = f->next_uuid++;
			if (host)
				snprintf(name, sizeof(name), "thread %llu #%d",
					 (unsigned long long)ev->tid, rc + 1);
			else
				snprintf(name, sizeof(name), "stream %u #%d", ev->stream, rc + 1);
			x->st.overlap_lanes++;
			rc = desc_track(f, t->lanes[*lane].id, t->id, name, strlen(name), -1,
					ev->start_ns);
			if (rc < 0)
				return rc;
		}
	}
	*uuid = t->lanes[*lane].id;
	return 0;
}

/* ---- end heap ---------------------------------------------------------------------- */

static int pend_less(const struct pend *a, const struct pend *b)
{
	/* Equal ends: the slice begun later is inner and must end first. */
	return a->end < b->end || (a->end == b->end && a->seq > b->seq);
}

static int heap_push(struct pf *f, struct pend e)
{
	size_t i;

	if (f->nheap == f->heap_cap) {
		size_t cap = f->heap_cap ? 2 * f->heap_cap : 1024;
		struct pend *nh = tsm__realloc(f->heap, cap * sizeof(*nh));

		if (!nh)
			return TSM_FAIL(TSM_NOMEM, "perfetto: open slices");
		f->heap = nh;
		f->heap_cap = cap;
	}
	i = f->nheap++;
	while (i > 0) {
		size_t up = (i - 1) / 2;

		if (!pend_less(&e, &f->heap[up]))
			break;
		f->heap[i] = f->heap[up];
		i = up;
	}
	f->heap[i] = e;
	return 0;
}

static struct pend heap_pop(struct pf *f)
{
	struct pend top = f->heap[0], last = f->heap[--f->nheap];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= f->nheap)
			break;
		if (c + 1 < f->nheap && pend_less(&f->heap[c + 1], &f->heap[c]))
			c++;
		if (!pend_less(&f->heap[c], &last))
			break;
		f->heap[i] = f->heap[c];
		i = c;
	}
	if (f->nheap)
		f->heap[i] = last;
	return top;
}

/* Write the END packets of every open slice that ends at or before `upto`. */
static int flush_ends(struct pf *f, uint64_t upto)
{
	while (f->nheap && f->heap[0].end <= upto) {
		struct pend e = heap_pop(f);
		struct xtrack *t = &f->x->tracks[e.track];
		struct xlane *l = &t->lanes[e.lane];
		uint8_t *p;
		unsigned te_len;
		int rc = room(f, 64);

		if (rc < 0)
			return rc;
		if (l->n)
			l->n--;
		/* Sizes known up front: packet {timestamp, sequence id, track_event {type,
		 * track_uuid}}, both bodies under 128 bytes. */
		te_len = 3 + pb_varint_len(l->id);
		p = cur(f);
		p[0] = (F_TRACE_PACKET << 3) | PB_LEN;
		p[1] = (uint8_t)(1 + pb_varint_len(e.end) + 2 + 2 + te_len);
		p[2] = (F_PKT_TIMESTAMP << 3) | PB_VARINT;
		p = pb_varint_wide(p + 3, e.end);
		p[0] = (F_PKT_SEQ_ID << 3) | PB_VARINT;
		p[1] = SEQ_ID;
		p[2] = (F_PKT_TRACK_EVENT << 3) | PB_LEN;
		p[3] = (uint8_t)te_len;
		p[4] = (F_TE_TYPE << 3) | PB_VARINT;
		p[5] = T_END;
		p[6] = (F_TE_TRACK_UUID << 3) | PB_VARINT;
		set_cur(f, pb_varint(p + 7, l->id));
	}
	return 0;
}

/* ---- annotations --------------------------------------------------------------------- */

/*
 * Debug annotations are written in one pass with no back-filled length:
 * every field's size is known before the body (varint lengths are computed),
 * so the length byte(s) go first. Bodies of integer/double annotations are
 * under 128 bytes, hence one length byte.
 */
#define TAG_ANNOT   ((F_TE_ANNOT << 3) | PB_LEN)
#define TAG_DA_NAME ((F_DA_NAME_IID << 3) | PB_VARINT)

static inline uint8_t *an_varint(uint8_t *p, uint64_t name, unsigned tag, uint64_t v)
{
	p[0] = TAG_ANNOT;
	p[1] = (uint8_t)(2 + pb_varint_len(name) + pb_varint_len(v));
	p[2] = TAG_DA_NAME;
	p = pb_varint(p + 3, name);
	*p++ = (uint8_t)tag;
	return pb_varint(p, v);
}

static inline uint8_t *an_uint(uint8_t *p, uint64_t name, uint64_t v)
{
	return an_varint(p, name, (F_DA_UINT << 3) | PB_VARINT, v);
}

static inline uint8_t *an_int(uint8_t *p, uint64_t name, int64_t v)
{
	return an_varint(p, name, (F_DA_INT << 3) | PB_VARINT, (uint64_t)v);
}

static inline uint8_t *an_double(uint8_t *p, uint64_t name, double v)
{
	p[0] = TAG_ANNOT;
	p[1] = (uint8_t)(2 + pb_varint_len(name) + 8);
	p[2] = TAG_DA_NAME;
	p = pb_varint(p + 3, name);
	return pb_double(p, F_DA_DOUBLE, v);
}

static inline uint8_t *an_str(uint8_t *p, uint64_t name, const char *s, size_t n)
{
	size_t m = n < META_STR_MAX ? n : META_STR_MAX;

	*p++ = TAG_ANNOT;
	p = pb_varint(p, 2 + pb_varint_len(name) + pb_varint_len(m) + m);
	*p++ = TAG_DA_NAME;
	p = pb_varint(p, name);
	*p++ = (F_DA_STRING << 3) | PB_LEN;
	p = pb_varint(p, m);
	memcpy(p, s, m);
	return p + m;
}

/* "[a, b, c]" formatted in place: name iid < 128 and the text < 128 bytes, so the layout is
 * TAG_ANNOT len TAG_DA_NAME name TAG_STRING slen text. */
static uint8_t *an_dim3(uint8_t *p, unsigned name, uint64_t a, uint64_t b, uint64_t c)
{
	char *q = (char *)p + 6, *t = q;

	*q++ = '[';
	q = tsm__jw_u64(q, a);
	*q++ = ',';
	*q++ = ' ';
	q = tsm__jw_u64(q, b);
	*q++ = ',';
	*q++ = ' ';
	q = tsm__jw_u64(q, c);
	*q++ = ']';
	p[0] = TAG_ANNOT;
	p[1] = (uint8_t)(4 + (q - t));
	p[2] = TAG_DA_NAME;
	p[3] = (uint8_t)name;
	p[4] = (F_DA_STRING << 3) | PB_LEN;
	p[5] = (uint8_t)(q - t);
	return (uint8_t *)q;
}

static uint8_t *an_where(uint8_t *p, const tsm_event *ev)
{
	p = an_uint(p, A_DEVICE, ev->device);
	p = an_uint(p, A_CONTEXT, ev->context);
	return an_uint(p, A_STREAM, ev->stream);
}

/*
 * A kernel's annotations from device to registers: a stream runs a few
 * launch configurations over and over, so their bytes are encoded once per
 * configuration and copied after that.
 */
static uint8_t *kernel_conf(struct pf *f, uint8_t *p, const tsm_event *ev, int where)
{
	const tsm_kernel_info *k = &ev->u.kernel;
	struct kconf key;
	struct kslot *sl;
	uint8_t *p0 = p;
	uint64_t h;

	memset(&key, 0, sizeof(key));
	key.where = (uint8_t)where;
	key.device = ev->device;
	key.context = ev->context;
	key.stream = ev->stream;
	memcpy(key.k, k, sizeof(key.k));
	h = tsm__mix64(tsm__get_le64(key.k) ^ tsm__get_le64(key.k + 8) * 31 ^
		       tsm__get_le64(key.k + 16) * 131 ^ tsm__get_le64(key.k + 24) * 257 ^
		       ((uint64_t)key.stream << 24 | (uint64_t)key.device << 8 | key.where) * 8191 ^
		       key.context);
	sl = &f->kc[h & (KCACHE - 1)];
	if (sl->len && !memcmp(&sl->key, &key, sizeof(key))) {
		memcpy(p, sl->bytes, sl->len);
		return p + sl->len;
	}
	if (where)
		p = an_where(p, ev);
	p = an_dim3(p, A_GRID, k->grid[0], k->grid[1], k->grid[2]);
	p = an_dim3(p, A_BLOCK, k->block[0], k->block[1], k->block[2]);
	if (k->cluster[0] || k->cluster[1] || k->cluster[2])
		p = an_dim3(p, A_CLUSTER, k->cluster[0], k->cluster[1], k->cluster[2]);
	p = an_uint(p, A_SMEM, k->static_smem_bytes);
	p = an_uint(p, A_DSMEM, k->dynamic_smem_bytes);
	p = an_uint(p, A_REGS, k->regs_per_thread);
	if ((size_t)(p - p0) <= sizeof(sl->bytes)) {
		sl->key = key;
		sl->len = (uint8_t)(p - p0);
		memcpy(sl->bytes, p0, sl->len);
	}
	return p;
}

static uint8_t *annotations(struct pf *f, uint8_t *p, const tsm_event *ev)
{
	tsm__xctx *x = f->x;
	int where = !tsm__xis_host(ev) || ev->device != TSM_DEVICE_NONE;
	const char *s;

	if (ev->correlation)
		p = an_uint(p, A_CORRELATION, ev->correlation);
	if (ev->external)
		p = an_uint(p, A_EXTERNAL, ev->external);
	if (ev->kind == TSM_EV_KERNEL)
		p = kernel_conf(f, p, ev, where);
	else if (where)
		p = an_where(p, ev);
	switch (ev->kind) {
	case TSM_EV_KERNEL: {
		const tsm_kernel_info *k = &ev->u.kernel;

		if (k->graph_id) {
			p = an_uint(p, A_GRAPH, k->graph_id);
			p = an_uint(p, A_GRAPH_NODE, k->graph_node_id);
		}
		if (x->demangle && ev->name) {
			size_t n;

			s = tsm__xstr(x, ev->name, &n);
			if (n > 2 && s[0] == '_' && s[1] == 'Z')
				p = an_str(p, A_MANGLED, s, n);
		}
		break;
	}
	case TSM_EV_MEMCPY: {
		const tsm_memcpy_info *c = &ev->u.memcpy;

		p = an_uint(p, A_BYTES, c->bytes);
		if (ev->end_ns > ev->start_ns)
			p = an_double(p, A_BANDWIDTH,
				      (double)c->bytes / (double)(ev->end_ns - ev->start_ns));
		s = tsm_copy_kind_name(c->copy_kind);
		p = an_str(p, A_COPY_KIND, s, strlen(s));
		s = tsm_mem_kind_name(c->src_kind);
		p = an_str(p, A_SRC_KIND, s, strlen(s));
		s = tsm_mem_kind_name(c->dst_kind);
		p = an_str(p, A_DST_KIND, s, strlen(s));
		if (c->copy_kind == TSM_COPY_P2P) {
			p = an_uint(p, A_SRC_DEV, c->src_device);
			p = an_uint(p, A_DST_DEV, c->dst_device);
		}
		break;
	}
	case TSM_EV_MEMSET:
		p = an_uint(p, A_BYTES, ev->u.memset.bytes);
		p = an_uint(p, A_VALUE, ev->u.memset.value);
		s = tsm_mem_kind_name(ev->u.memset.mem_kind);
		p = an_str(p, A_MEM_KIND, s, strlen(s));
		if (ev->end_ns > ev->start_ns)
			p = an_double(p, A_BANDWIDTH,
				      (double)ev->u.memset.bytes /
					  (double)(ev->end_ns - ev->start_ns));
		break;
	case TSM_EV_SYNC:
		s = tsm_sync_type_name(ev->u.sync.sync_type);
		p = an_str(p, A_SYNC_TYPE, s, strlen(s));
		if (ev->u.sync.event_id)
			p = an_uint(p, A_EVENT_ID, ev->u.sync.event_id);
		break;
	case TSM_EV_ALLOC:
	case TSM_EV_FREE:
		p = an_uint(p, A_ADDRESS, ev->u.memory.address);
		p = an_uint(p, A_BYTES, ev->u.memory.bytes);
		s = tsm_mem_kind_name(ev->u.memory.mem_kind);
		p = an_str(p, A_MEM_KIND, s, strlen(s));
		break;
	case TSM_EV_RUNTIME:
	case TSM_EV_DRIVER:
		p = an_uint(p, A_CBID, ev->u.api.cbid);
		p = an_int(p, A_STATUS, ev->u.api.status);
		break;
	case TSM_EV_NVTX_RANGE:
	case TSM_EV_NVTX_MARK:
		if (ev->u.nvtx.domain) {
			size_t n;

			s = tsm__xstr(x, ev->u.nvtx.domain, &n);
			p = an_str(p, A_DOMAIN, s, n);
		}
		if (ev->u.nvtx.color)
			p = an_uint(p, A_COLOR, ev->u.nvtx.color);
		if (ev->u.nvtx.category)
			p = an_uint(p, A_CATEGORY, ev->u.nvtx.category);
		break;
	case TSM_EV_OVERHEAD:
		p = an_uint(p, A_OVERHEAD, ev->u.overhead.overhead_kind);
		break;
	case TSM_EV_DROPPED:
		p = an_uint(p, A_COUNT, ev->u.dropped.count);
		s = tsm_drop_source_name(ev->u.dropped.source);
		p = an_str(p, A_SOURCE, s, strlen(s));
		break;
	default:
		break;
	}
	if (ev->flow_type)
		p = an_uint(p, A_FLOW_ID, ev->flow_id);
	if (ev->flags & TSM_EVF_ASYNC)
		p = an_uint(p, A_ASYNC, 1);
	return p;
}

static uint8_t *meta_annotations(struct pf *f, uint8_t *p, const tsm_kv *kv, size_t n)
{
	tsm__xctx *x = f->x;

	for (size_t i = 0; i < n && i < META_MAX; i++) {
		uint64_t iid = META_IID_BASE + (uint64_t)kv[i].key;

		switch (kv[i].type) {
		case TSM_KV_INT:
			p = an_int(p, iid, kv[i].v.i);
			break;
		case TSM_KV_DOUBLE:
			p = an_double(p, iid, kv[i].v.d);
			break;
		default: {
			size_t len;
			const char *s = tsm__xstr(x, (uint32_t)kv[i].v.str, &len);

			p = an_str(p, iid, s, len);
		}
		}
	}
	return p;
}

/* Synthetic names for events without one. */
static const char *synth_name(const tsm_event *ev, uint64_t *iid)
{
	unsigned sub = 0;
	const char *s = tsm_event_kind_name(ev->kind);

	if (ev->kind == TSM_EV_SYNC) {
		sub = ev->u.sync.sync_type & 7;
		switch (ev->u.sync.sync_type) {
		case TSM_SYNC_EVENT:
			s = "sync: event";
			break;
		case TSM_SYNC_STREAM_WAIT_EVENT:
			s = "sync: stream wait event";
			break;
		case TSM_SYNC_STREAM:
			s = "sync: stream";
			break;
		case TSM_SYNC_CONTEXT:
			s = "sync: context";
			break;
		case TSM_SYNC_EVENT_RECORD:
			s = "sync: event record";
			break;
		default:
			s = "sync";
			break;
		}
	}
	*iid = SYNTH_IID + ev->kind * 8u + sub;
	return s;
}

/* The TrackEvent body of an event (begin, instant or counter). */
static uint8_t *te_body(struct pf *f, uint8_t *p, const tsm_event *ev, uint64_t uuid, uint64_t iid,
			const tsm_kv *kv, size_t nkv, uint64_t flow_start, uint64_t flow_term)
{
	int counter = ev->kind == TSM_EV_COUNTER;

	p = pb_uint(p, F_TE_TYPE, counter ? T_COUNTER : tsm__xis_slice(ev) ? T_BEGIN : T_INSTANT);
	p = pb_uint(p, F_TE_TRACK_UUID, uuid);
	if (counter)
		return pb_double(p, F_TE_COUNTER_DOUBLE, ev->u.counter.value);
	p = pb_uint(p, F_TE_NAME_IID, iid);
	p = annotations(f, p, ev);
	p = meta_annotations(f, p, kv, nkv);
	if (flow_start)
		p = pb_fixed64(p, F_TE_FLOW_IDS, flow_start);
	if (flow_term)
		p = pb_fixed64(p, F_TE_TERM_FLOW_IDS, flow_term);
	if (ev->correlation)
		p = pb_uint(p, F_TE_CORRELATION, ev->correlation);
	return p;
}

/* ---- one event ---------------------------------------------------------------------------- */

static int write_event(struct pf *f, const tsm_event *ev)
{
	tsm__xctx *x = f->x;
	const tsm_kv *kv = NULL;
	size_t nkv = 0, need;
	uint64_t uuid = 0, iid, flow_start = 0, flow_term = 0;
	uint32_t ti = 0, lane = 0, nlen = 0;
	const char *name;
	int slice = tsm__xis_slice(ev), rc, new_name = 0, counter = ev->kind == TSM_EV_COUNTER;
	uint8_t *p, *m, *mt, *mi, *mn;
	unsigned new_keys = 0;

	rc = flush_ends(f, ev->start_ns);
	if (rc < 0)
		return rc;
	if (ev->name) {
		name = tsm__xname(x, ev->name, &nlen);
		iid = ev->name;
		rc = bit_ensure(f, ev->name);
		if (rc < 0)
			return rc;
		new_name = !(f->name_def[ev->name / 8] & (1u << (ev->name % 8)));
		f->name_def[ev->name / 8] |= (uint8_t)(1u << (ev->name % 8));
	} else {
		name = synth_name(ev, &iid);
		nlen = (uint32_t)strlen(name);
		new_name = !(f->synth_def[iid - SYNTH_IID]);
		f->synth_def[iid - SYNTH_IID] = 1;
	}
	if (counter) {
		/* Counter events go to a counter track named after the counter. */
		struct xtrack *t;
		uint64_t parent;
		int created;

		if (ev->device != TSM_DEVICE_NONE)
			rc = gpu_process(f, ev, &parent);
		else
			rc = host_process(f, ev->pid, ev->start_ns, &parent);
		if (rc < 0)
			return rc;
		t = tsm__xtrack_get(x, 7 | (parent << 8), ev->name, &created);
		if (!t)
			return TSM_FAIL(TSM_NOMEM, "perfetto: tracks");
		if (created) {
			t->id = f->next_uuid++;
			rc = desc_track(f, t->id, parent, nlen ? name : "counter", nlen ? nlen : 7,
					0, ev->start_ns);
			if (rc < 0)
				return rc;
		}
		uuid = t->id;
	} else {
		rc = event_track(f, ev, slice, &uuid, &ti, &lane);
		if (rc < 0)
			return rc;
	}
	if (ev->meta)
		kv = tsm_reader_kvlist(x->r, ev->meta, &nkv);
	if (nkv > META_MAX)
		nkv = META_MAX;
	need = 1024 + 2 * (size_t)(nlen < NAME_MAX_BYTES ? nlen : NAME_MAX_BYTES);
	for (size_t i = 0; i < nkv; i++) {
		size_t kl, vl = 0;

		tsm__xstr(x, kv[i].key, &kl);
		if (kv[i].type == TSM_KV_STR)
			tsm__xstr(x, (uint32_t)kv[i].v.str, &vl);
		need += 64 + (kl < META_STR_MAX ? kl : META_STR_MAX) +
			(vl < META_STR_MAX ? vl : META_STR_MAX);
		rc = bit_ensure(f, kv[i].key);
		if (rc < 0)
			return rc;
		if (!(f->key_def[kv[i].key / 8] & (1u << (kv[i].key % 8))))
			new_keys++;
	}
	/* Flows. */
	if (ev->correlation) {
		uint64_t key = tsm__xflow_key_corr(ev->pid, ev->correlation);

		if (ev->kind == TSM_EV_RUNTIME || ev->kind == TSM_EV_DRIVER) {
			flow_start = key;
			tsm__xflow_start(x, key, ev->start_ns, ev->pid, ev->tid);
		} else if (!tsm__xis_host(ev) && ev->kind != TSM_EV_ALLOC &&
			   ev->kind != TSM_EV_FREE) {
			if (tsm__xflow_take(x, key)) {
				flow_term = key;
				x->st.flows++;
			} else {
				x->st.flows_unmatched++;
			}
		}
	}
	if (ev->flow_type && ev->flow_id) {
		uint64_t key = tsm__xflow_key_id(ev->pid, ev->flow_id);

		if (ev->flow_type == TSM_FLOW_START) {
			if (!flow_start) {
				flow_start = key;
				tsm__xflow_start(x, key, ev->start_ns, ev->pid, ev->tid);
			}
		} else if (!flow_term) {
			if (tsm__xflow_take(x, key)) {
				x->st.flows++;
				if (ev->flow_type == TSM_FLOW_STEP && !flow_start) {
					flow_start = key; /* passes through: continues */
					tsm__xflow_start(x, key, ev->start_ns, ev->pid, ev->tid);
				} else {
					flow_term = key;
				}
			} else {
				x->st.flows_unmatched++;
			}
		}
	}
	rc = room(f, need);
	if (rc < 0)
		return rc;
	if (TSM__UNLIKELY(new_name || new_keys)) {
		p = pkt_begin(cur(f), &m, ev->start_ns, 1, SEQ_NEEDS);
		p = pb_begin(p, F_PKT_INTERNED, &mi);
		if (new_name) {
			p = pb_begin(p, F_ID_EVENT_NAMES, &mn);
			p = pb_uint(p, 1, iid);
			p = pb_str(p, 2, name, nlen, NAME_MAX_BYTES);
			p = pb_end(mn, p);
		}
		for (size_t i = 0; i < nkv && new_keys; i++) {
			uint32_t k = kv[i].key;
			size_t kl;
			const char *ks;

			if (f->key_def[k / 8] & (1u << (k % 8)))
				continue;
			f->key_def[k / 8] |= (uint8_t)(1u << (k % 8));
			ks = tsm__xstr(x, k, &kl);
			p = pb_begin(p, F_ID_ANNOT_NAMES, &mn);
			p = pb_uint(p, 1, META_IID_BASE + (uint64_t)k);
			p = pb_str(p, 2, ks, kl, META_STR_MAX);
			p = pb_end(mn, p);
		}
		p = pb_end(mi, p);
		p = pb_begin(p, F_PKT_TRACK_EVENT, &mt);
		p = te_body(f, p, ev, uuid, iid, kv, nkv, flow_start, flow_term);
		p = pb_end(mt, p);
		set_cur(f, pb_end(m, p));
	} else {
		/*
		 * The common packet {timestamp, sequence id, flags, track_event}: the
		 * track event body is written after a header whose size is guessed
		 * (the previous packet's length-varint sizes); the header is then
		 * written in front of it, and the body moved only when the guess
		 * was wrong. Lengths stay minimal varints.
		 */
		unsigned inner = 1 + pb_varint_len(ev->start_ns) + 2 + 2, tl, pl;
		size_t te_len, pkt_len;
		uint8_t *p0 = cur(f), *body = p0 + 1 + f->pl_guess + inner + 1 + f->tl_guess;

		p = te_body(f, body, ev, uuid, iid, kv, nkv, flow_start, flow_term);
		te_len = (size_t)(p - body);
		tl = pb_varint_len(te_len);
		pkt_len = inner + 1 + tl + te_len;
		pl = pb_varint_len(pkt_len);
		if (TSM__UNLIKELY(tl != f->tl_guess || pl != f->pl_guess)) {
			uint8_t *nb = p0 + 1 + pl + inner + 1 + tl;

			memmove(nb, body, te_len);
			p = nb + te_len;
			f->tl_guess = tl;
			f->pl_guess = pl;
		}
		p0[0] = (F_TRACE_PACKET << 3) | PB_LEN;
		p0 = pb_varint(p0 + 1, pkt_len);
		*p0++ = (F_PKT_TIMESTAMP << 3) | PB_VARINT;
		p0 = pb_varint_wide(p0, ev->start_ns);
		p0[0] = (F_PKT_SEQ_ID << 3) | PB_VARINT;
		p0[1] = SEQ_ID;
		p0[2] = (F_PKT_SEQ_FLAGS << 3) | PB_VARINT;
		p0[3] = SEQ_NEEDS;
		p0[4] = (F_PKT_TRACK_EVENT << 3) | PB_LEN;
		pb_varint(p0 + 5, te_len);
		set_cur(f, p);
	}

	if (slice && !counter) {
		struct pend e = {ev->end_ns, f->seq++, ti, lane};

		rc = heap_push(f, e);
		if (rc < 0)
			return rc;
	}
	/* Memory in use per GPU, from allocations and frees. */
	if ((ev->kind == TSM_EV_ALLOC || ev->kind == TSM_EV_FREE) &&
	    ev->device != TSM_DEVICE_NONE) {
		struct xtrack *t;
		uint64_t parent;
		int created;

		rc = gpu_process(f, ev, &parent);
		if (rc < 0)
			return rc;
		t = tsm__xtrack_get(x, 5 | (parent << 8), 0, &created);
		if (!t)
			return TSM_FAIL(TSM_NOMEM, "perfetto: tracks");
		if (created) {
			t->id = f->next_uuid++;
			rc = desc_track(f, t->id, parent, "memory in use", 13, 3, ev->start_ns);
			if (rc < 0)
				return rc;
		}
		t->value += ev->kind == TSM_EV_ALLOC ? (double)ev->u.memory.bytes
						     : -(double)ev->u.memory.bytes;
		rc = room(f, 128);
		if (rc < 0)
			return rc;
		p = pkt_begin(cur(f), &m, ev->start_ns, 1, 0);
		p = pb_begin(p, F_PKT_TRACK_EVENT, &mt);
		p = pb_uint(p, F_TE_TYPE, T_COUNTER);
		p = pb_uint(p, F_TE_TRACK_UUID, t->id);
		p = pb_int(p, F_TE_COUNTER_INT, (int64_t)t->value);
		p = pb_end(mt, p);
		set_cur(f, pb_end(m, p));
	}
	return 0;
}

int tsm__export_perfetto(tsm__xctx *x)
{
	struct pf f;
	const tsm_event *ev;
	int rc;

	memset(&f, 0, sizeof(f));
	f.x = x;
	f.s = &x->out;
	f.next_uuid = 1;
	f.pl_guess = f.tl_guess = 1;
	f.kc = tsm__calloc(KCACHE, sizeof(*f.kc));
	rc = f.kc ? write_first(&f) : TSM_FAIL(TSM_NOMEM, "perfetto: launch configurations");
	while (rc >= 0 && (rc = tsm__xsrc_next(x, &ev)) == 0)
		rc = write_event(&f, ev);
	if (rc == TSM_END)
		rc = flush_ends(&f, UINT64_MAX);
	tsm__free(f.heap);
	tsm__free(f.kc);
	tsm__free(f.name_def);
	tsm__free(f.key_def);
	return rc;
}
