/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Perfetto native protobuf export (.pftrace), written with the small
 * encoder of protobuf.c: no Perfetto SDK, no libprotobuf.
 *
 * The file is a perfetto.protos.Trace: a stream of `packet` fields (1) on
 * several packet sequences (trusted_packet_sequence_id), as a traced
 * process's writers produce them:
 *
 *  - sequence 1 holds the track descriptors (a process per GPU — per rank
 *    and GPU when the trace has ranks —, a child track per stream, host
 *    processes and threads, counter tracks for GPU memory in use and for
 *    counter events, child lanes "stream 7 #2" for slices that overlap
 *    without nesting) and the counter values;
 *  - every lane of a track (a stream, a host thread, or an overlap lane)
 *    has a sequence of its own for its slices and instants. Its first
 *    packet has SEQ_INCREMENTAL_STATE_CLEARED, interns the debug-annotation
 *    names, sets trace_packet_defaults.track_event_defaults.track_uuid to
 *    the lane, so the events carry no track_uuid, and makes the sequence's
 *    timestamps deltas from its previous packet (an incremental clock tied
 *    to BOOTTIME by a clock snapshot: seq_new). Slices on a lane nest, so
 *    a lane's open slices are a stack: a slice's END packet is written when
 *    the planner, choosing a lane for a later event of the track, pops it
 *    (or at the end of the export), and the sequence stays in timestamp
 *    order without a global heap of open slices;
 *  - event names are interned per sequence on first use (iid = the SBT
 *    string id, or a synthetic iid above 2^32 for kinds whose events have no
 *    name), and so are metadata keys (debug_annotation_names, iid 1000 +
 *    string id) and mangled kernel names (debug_annotation_string_values,
 *    iid = string id); packets that use interned ids carry
 *    SEQ_NEEDS_INCREMENTAL_STATE;
 *  - packets go to the output as they are written, the sequences'
 *    interleaved (a packet names its sequence); a track's descriptor is
 *    written before the first packet that uses it, and trace_processor
 *    sorts the packets by time when it loads the file;
 *  - every kernel/copy/set/sync/API argument is a debug annotation;
 *    metadata lists follow as annotations under their own keys;
 *  - an event's host call stack is its callstack_iid (= the SBT stack id),
 *    interned on the sequence with its frames (function name, mapping =
 *    the shared object, source file and line; bottom frame first);
 *  - flows: a host API call starts flow (pid, correlation) in flow_ids, the
 *    GPU work with that correlation terminates it (terminating_flow_ids);
 *    explicit flows (event record -> stream wait) likewise by flow id.
 * Names longer than 64 KiB are cut (protobuf allows more; viewers do not
 * need it); at most 64 metadata annotations per event.
 */
#include <stdio.h>

#include "export/export-internal.h"
#include "export/protobuf.h"
#include "format/reader.h"

#define SEQ_MAIN       1 /* descriptors and counters */
#define NAME_MAX_BYTES (64u << 10)
#define META_MAX       64
#define META_STR_MAX   (16u << 10)
#define SYNTH_IID      (1ULL << 32)
#define META_IID_BASE  1000u
#define STACK_FRAMES   128	    /* frames of a call stack exported, innermost first */
#define MAP_UNKNOWN    (1ULL << 40) /* mapping (and its path) of frames without a module */
#define PC_NAME	       (1ULL << 62) /* | frame iid: "0x..." names frames without a function */

/* TracePacket / TrackEvent / descriptors field numbers (perfetto_trace.proto). */
enum {
	F_TRACE_PACKET = 1,
	F_PKT_CLOCK_SNAPSHOT = 6,
	F_PKT_TIMESTAMP = 8,
	F_PKT_SEQ_ID = 10,
	F_PKT_TRACK_EVENT = 11,
	F_PKT_INTERNED = 12,
	F_PKT_SEQ_FLAGS = 13,
	F_PKT_DEFAULTS = 59,
	F_PKT_TRACK_DESC = 60,
	F_TPD_TRACK_EVENT = 11,
	F_TPD_CLOCK_ID = 58,
	F_CS_CLOCKS = 1,
	F_CLK_ID = 1,
	F_CLK_TIMESTAMP = 2,
	F_CLK_INCREMENTAL = 3,
	F_TED_TRACK_UUID = 11,
	F_TE_ANNOT = 4,
	F_TE_TYPE = 9,
	F_TE_NAME_IID = 10,
	F_TE_TRACK_UUID = 11,
	F_TE_COUNTER_INT = 30,
	F_TE_COUNTER_DOUBLE = 44,
	F_TE_FLOW_IDS = 47,
	F_TE_TERM_FLOW_IDS = 48,
	F_TE_CORRELATION = 52,
	F_TE_CALLSTACK_IID = 56,
	F_ID_EVENT_NAMES = 2,
	F_ID_ANNOT_NAMES = 3,
	F_ID_ANNOT_STRINGS = 29,
	F_ID_FUNCTION_NAMES = 5,
	F_ID_FRAMES = 6,
	F_ID_CALLSTACKS = 7,
	F_ID_MAPPING_PATHS = 17,
	F_ID_SOURCE_PATHS = 18,
	F_ID_MAPPINGS = 19,
	F_FRAME_FUNCTION = 2,
	F_FRAME_MAPPING = 3,
	F_FRAME_SOURCE = 5,
	F_FRAME_LINE = 6,
	F_MAPPING_PATH_IDS = 7,
	F_CALLSTACK_FRAMES = 2,
	F_DA_NAME_IID = 1,
	F_DA_BOOL = 2,
	F_DA_UINT = 3,
	F_DA_INT = 4,
	F_DA_DOUBLE = 5,
	F_DA_STRING = 6,
	F_DA_STRING_IID = 17,
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
/* BOOTTIME, the clock of TracePacket timestamps without a clock id, and the first of the
 * sequence-scoped clock ids: each lane's sequence uses it, delta-encoded (seq_new). */
enum { CLOCK_BOOTTIME = 6, CLOCK_LANE = 64 };

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

#define TCACHE 256

/* (thread or stream) -> track; a = TC_EMPTY: an empty slot (no key has all its bits set:
 * a's bit 63 marks a host thread, whose pid has 32 bits) */
struct tcache {
	uint64_t a, b;
	uint32_t ti;
};
#define TC_EMPTY UINT64_MAX

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

/*
 * The export is done in two parts. The planner sees every event in time
 * order and decides, without writing the event's own packet, its track and
 * lane (and so its sequence) and its timestamp on that sequence; it writes
 * sequence 1's packets (track descriptors, counter values) and the END
 * packets of the slices it pops while choosing lanes. The writer then
 * copies those bytes out, matches the event's flows and writes the event
 * on its sequence, with what it interns there. With a
 * second thread the planner runs on the read-ahead thread (export.c), next
 * to the merge, and the exporting thread writes; where the line is drawn
 * was measured both ways (docs/design/export.md, "Planning and writing").
 * The output is the same either way.
 */

/* What the planner decided for one event (export.c carries XPLAN_BYTES per event). */
struct pplan {
	/* P_NEW_SEQ: the lane the new sequence is the default track of (the event's timestamp
	 * is then its clock snapshot's: delta 0); else the event's timestamp, a delta */
	uint64_t v;
	uint32_t seq;	   /* the event's sequence (index) */
	uint32_t main_len; /* side bytes: sequence 1's packets and END packets */
	uint32_t flags;
};
enum { P_EVENT = 1, P_NEW_SEQ = 2 };
_Static_assert(sizeof(struct pplan) <= XPLAN_BYTES, "plan too large");

/* Interned ids of a sequence: an open-addressing set of keys (kind << 32 | id; 0: empty). */
struct iset {
	uint64_t *k;
	uint32_t cap, n;
};
enum { IK_NAME = 1, IK_SYNTH, IK_KEY, IK_STR, IK_PLAIN, IK_STACK, IK_FUNC, IK_MAP, IK_SRC };

/* A lane's sequence on the planner's side, which writes its END packets. */
struct plseq {
	uint64_t last_ts; /* its previous packet's time: its timestamps are deltas from it */
	uint8_t endtail[15], endtail_len; /* an END packet after its timestamp: sequence id,
					     track_event {type} */
};

struct planner {
	tsm__xctx *x;
	const tsm_reader *r; /* the reader whose blocks are being merged (names, processes) */
	tsm__buf *side;	     /* the event's side bytes: sequence 1's packets, END packets */
	uint64_t next_uuid, gpu_pid_next;
	uint32_t nseqs;	  /* sequences given out ([0]: sequence 1) */
	struct plseq *sq; /* [nseqs] */
	size_t sq_cap;
	struct tcache tc[TCACHE];
	struct kslot *kc; /* pre_encode's launch configurations (KCACHE; made on first use) */
};

#define NREC 64

/* A packet sequence on the writer's side. */
struct pseq {
	uint32_t id;
	uint8_t idv[6], idlen; /* "sequence id" field, encoded */
	struct iset interned;
	uint64_t recent[32]; /* keys found lately (direct-mapped, before the set) */
	/* names interned here, with whether a kernel's annotations carry the mangled form
	 * (interned too) and the length-varint sizes of the last packet of that name (events
	 * of a name are alike in size): the common event needs this one look (direct-mapped by
	 * name) */
	uint64_t nrec[NREC];
	uint8_t nrec_info[NREC]; /* NI_MANGLED | track event's length size << 1 | packet's << 3 */
};
enum { NI_MANGLED = 1 };

struct pf {
	tsm__xctx *x;
	tsm__sink *s;
	struct pseq *seqs; /* [0]: sequence 1; lanes' sequences after it */
	size_t nseqs, seqs_cap;
	uint8_t *big; /* a packet too large for the output's buffer is written here */
	size_t big_cap;
	int in_big;			/* the packet at hand is */
	struct kslot *kc;		/* KCACHE slots */
	int mangled;			/* the event at hand carries its mangled name */
	uint32_t stack;			/* ... its callstack_iid (0: none) */
	uint64_t flow_start, flow_term; /* ... the flows it starts and ends (0: none) */
};

/* ---- small helpers ----------------------------------------------------------- */

/* Add `key` to the set: 1 when new, 0 when there, or TSM_NOMEM. */
static int iset_add(struct iset *s, uint64_t key)
{
	uint32_t i;

	if (TSM__UNLIKELY(2 * (s->n + 1) > s->cap)) {
		uint32_t cap = s->cap ? 2 * s->cap : 64;
		uint64_t *nk = tsm__calloc(cap, sizeof(*nk));

		if (!nk)
			return TSM_FAIL(TSM_NOMEM, "perfetto: interned ids");
		for (uint32_t j = 0; j < s->cap; j++) {
			if (!s->k[j])
				continue;
			for (i = (uint32_t)(tsm__mix64(s->k[j]) & (cap - 1)); nk[i];
			     i = (i + 1) & (cap - 1))
				;
			nk[i] = s->k[j];
		}
		tsm__free(s->k);
		s->k = nk;
		s->cap = cap;
	}
	for (i = (uint32_t)(tsm__mix64(key) & (s->cap - 1)); s->k[i]; i = (i + 1) & (s->cap - 1))
		if (s->k[i] == key)
			return 0;
	s->k[i] = key;
	s->n++;
	return 1;
}

static inline uint64_t *recent_slot(struct pseq *q, uint64_t key)
{
	return &q->recent[(key * 0x9E3779B97F4A7C15ULL) >> 59];
}

/* Intern `key` on sequence q: 1 when it is new there (the writer writes it), 0 when known. */
static inline int intern(struct pseq *q, uint64_t key)
{
	uint64_t *slot = recent_slot(q, key);
	int rc;

	if (TSM__LIKELY(*slot == key))
		return 0;
	rc = iset_add(&q->interned, key);
	if (rc >= 0)
		*slot = key;
	return rc;
}

static uint8_t *pb_str(uint8_t *p, uint32_t field, const char *s, size_t n, size_t max)
{
	return pb_bytes(p, field, s, n < max ? n : max);
}

static uint8_t *pkt_begin(uint8_t *p, uint8_t **mark, uint32_t seq, uint64_t ts, int with_ts,
			  unsigned flags)
{
	p = pb_begin(p, F_TRACE_PACKET, mark);
	if (with_ts)
		p = pb_uint(p, F_PKT_TIMESTAMP, ts);
	p = pb_uint(p, F_PKT_SEQ_ID, seq);
	if (flags)
		p = pb_uint(p, F_PKT_SEQ_FLAGS, flags);
	return p;
}

/* ---- the planner: sequence 1's packets ------------------------------------------ */

/*
 * Room for n more side bytes; the write position. SIDE_SLACK bytes more
 * stay allocated after them: the writer copies short side bytes in one
 * fixed-size move (write_planned).
 */
#define SIDE_SLACK 32
static inline uint8_t *side_room(struct planner *P, size_t n)
{
	tsm__buf *b = P->side;

	if (TSM__UNLIKELY(b->cap - b->len < n + SIDE_SLACK) &&
	    tsm__buf_reserve(b, n + SIDE_SLACK) < 0)
		return NULL;
	return b->data + b->len;
}

static void side_set(struct planner *P, uint8_t *p)
{
	P->side->len = (size_t)(p - P->side->data);
}

/* A packet holding the TrackDescriptor of `uuid`, opened: the write position, or NULL (NOMEM). */
static uint8_t *desc_open(struct planner *P, size_t need, uint64_t uuid, uint64_t ts, uint8_t **m,
			  uint8_t **md)
{
	uint8_t *p = side_room(P, need);

	if (!p)
		return NULL;
	p = pkt_begin(p, m, SEQ_MAIN, ts, 1, 0);
	p = pb_begin(p, F_PKT_TRACK_DESC, md);
	return pb_uint(p, F_TD_UUID, uuid);
}

static int desc_close(struct planner *P, uint8_t *p, uint8_t *m, uint8_t *md)
{
	p = pb_end(md, p);
	side_set(P, pb_end(m, p));
	return 0;
}

static int desc_process(struct planner *P, uint64_t uuid, uint64_t pid, const char *name,
			const char *label, uint64_t ts)
{
	uint8_t *m, *md, *mp, *p = desc_open(P, 1024 + strlen(name), uuid, ts, &m, &md);

	if (!p)
		return TSM_FAIL(TSM_NOMEM, "perfetto: track descriptors");
	p = pb_begin(p, F_TD_PROCESS, &mp);
	p = pb_int(p, F_PD_PID, (int32_t)pid);
	p = pb_str(p, F_PD_NAME, name, strlen(name), NAME_MAX_BYTES);
	if (label && *label)
		p = pb_str(p, F_PD_LABELS, label, strlen(label), 256);
	P->x->st.tracks++;
	return desc_close(P, pb_end(mp, p), m, md);
}

static int desc_thread(struct planner *P, uint64_t uuid, uint64_t parent, uint32_t pid,
		       uint64_t tid, const char *name, uint64_t ts)
{
	uint8_t *m, *md, *mt, *p = desc_open(P, 1024 + strlen(name), uuid, ts, &m, &md);

	if (!p)
		return TSM_FAIL(TSM_NOMEM, "perfetto: track descriptors");
	p = pb_uint(p, F_TD_PARENT, parent);
	p = pb_begin(p, F_TD_THREAD, &mt);
	p = pb_int(p, F_THD_PID, (int32_t)pid);
	p = pb_int(p, F_THD_TID, (int64_t)tid);
	p = pb_str(p, F_THD_NAME, name, strlen(name), NAME_MAX_BYTES);
	return desc_close(P, pb_end(mt, p), m, md);
}

/* A named track under `parent`; a counter track when unit >= 0. */
static int desc_track(struct planner *P, uint64_t uuid, uint64_t parent, const char *name,
		      size_t len, int counter_unit, uint64_t ts)
{
	uint8_t *m, *md, *mc,
	    *p = desc_open(P, 1024 + (len < NAME_MAX_BYTES ? len : NAME_MAX_BYTES), uuid, ts, &m,
			   &md);

	if (!p)
		return TSM_FAIL(TSM_NOMEM, "perfetto: track descriptors");
	if (parent)
		p = pb_uint(p, F_TD_PARENT, parent);
	p = pb_str(p, F_TD_NAME, name, len, NAME_MAX_BYTES);
	if (counter_unit >= 0) {
		p = pb_begin(p, F_TD_COUNTER, &mc);
		if (counter_unit)
			p = pb_uint(p, F_CD_UNIT, (uint64_t)counter_unit);
		p = pb_end(mc, p);
	}
	P->x->st.tracks++;
	return desc_close(P, p, m, md);
}

/* A counter value (counter events, GPU memory in use). */
static int counter_packet(struct planner *P, uint64_t ts, uint64_t uuid, const double *dv,
			  int64_t iv)
{
	uint8_t *p = side_room(P, 128), *m, *mt;

	if (!p)
		return TSM_FAIL(TSM_NOMEM, "perfetto: counters");
	p = pkt_begin(p, &m, SEQ_MAIN, ts, 1, 0);
	p = pb_begin(p, F_PKT_TRACK_EVENT, &mt);
	p = pb_uint(p, F_TE_TYPE, T_COUNTER);
	p = pb_uint(p, F_TE_TRACK_UUID, uuid);
	p = dv ? pb_double(p, F_TE_COUNTER_DOUBLE, *dv) : pb_int(p, F_TE_COUNTER_INT, iv);
	p = pb_end(mt, p);
	side_set(P, pb_end(m, p));
	return 0;
}

/* ---- the planner: tracks, lanes, sequences ------------------------------------------ */

/* Host process track (key 1, pid). */
static int host_process(struct planner *P, uint32_t pid, uint64_t ts, uint64_t *uuid)
{
	tsm__xctx *x = P->x;
	struct xtrack *t;
	int created, rc = 0;

	t = tsm__xtrack_get(x, 1, pid, &created);
	if (!t)
		return TSM_FAIL(TSM_NOMEM, "perfetto: tracks");
	if (created) {
		size_t n;
		const tsm_process_info *pi = tsm_reader_processes(P->r, &n);
		const char *name = "process";
		char label[32] = "";

		t->id = P->next_uuid++;
		for (size_t i = 0; i < n; i++) {
			if (pi[i].pid != pid)
				continue;
			if (pi[i].name)
				name = tsm__rstr(P->r, pi[i].name, NULL);
			if (pi[i].rank >= 0)
				snprintf(label, sizeof(label), "rank %d", pi[i].rank);
		}
		rc = desc_process(P, t->id, pid, name, label, ts);
		/* desc_process counted it; the generic counter below must not. */
		x->st.tracks--;
	}
	*uuid = t->id;
	return rc;
}

/* GPU process track: per (rank or pid, device). */
static int gpu_process(struct planner *P, const tsm_event *ev, uint64_t *uuid)
{
	tsm__xctx *x = P->x;
	int rank = tsm__xrank(P->r, ev->pid);
	uint64_t owner = rank >= 0 ? (1ULL << 40) | (uint64_t)rank : ev->pid;
	struct xtrack *t;
	int created, rc = 0;

	t = tsm__xtrack_get(x, 3, (owner << 16) | ev->device, &created);
	if (!t)
		return TSM_FAIL(TSM_NOMEM, "perfetto: tracks");
	if (created) {
		const tsm_device_info *d = tsm__xdevice(P->r, ev->device);
		const char *dn = d && d->name ? tsm__rstr(P->r, d->name, NULL) : "";
		char name[512];

		t->id = P->next_uuid++;
		if (rank >= 0)
			snprintf(name, sizeof(name), "rank %d GPU %u%s%s", rank, ev->device,
				 *dn ? ": " : "", dn);
		else
			snprintf(name, sizeof(name), "GPU %u%s%s", ev->device, *dn ? ": " : "", dn);
		/* Synthetic pids keep GPU processes apart from host processes. */
		rc = desc_process(P, t->id, 0x40000000u + P->gpu_pid_next++, name, "GPU",
				  ev->start_ns);
	}
	*uuid = t->id;
	return rc;
}

/* ---- the planner: END packets --------------------------------------------------------- */

/* An END packet {timestamp, sequence id, track_event {type}} at p, `dt` after the sequence's
 * previous packet: at most 29 bytes (16 of them copied whatever the tail's length). */
#define END_ROOM 32
static inline uint8_t *end_packet(uint8_t *p, const struct plseq *sq, uint64_t dt)
{
	uint8_t *q;

	p[0] = (F_TRACE_PACKET << 3) | PB_LEN;
	p[2] = (F_PKT_TIMESTAMP << 3) | PB_VARINT;
	q = pb_varint(p + 3, dt);
	memcpy(q, sq->endtail, 16); /* endtail and its length */
	q += sq->endtail_len;
	p[1] = (uint8_t)(q - p - 2); /* under 128 bytes */
	return q;
}

/*
 * Lane l's slices that ended at or before t, popped innermost first, each
 * as an END packet {timestamp, sequence id, track_event {type}} on the
 * lane's sequence (the lane's tsm__xlane_assign pop hook). The planner
 * pops the lanes to choose one anyway, and a lane's packets are then in
 * time order: its next packet starts at or after t.
 */
static __attribute__((noinline)) int lane_ends_all(struct planner *P, struct xlane *l, uint64_t t)
{
	struct plseq *sq = &P->sq[l->seq];
	uint64_t last = sq->last_ts, end = l->top;
	uint32_t n = l->n;
	uint8_t *p = side_room(P, END_ROOM * (size_t)n);

	if (!p)
		return TSM_FAIL(TSM_NOMEM, "perfetto: END packets");
	for (;;) {
		p = end_packet(p, sq, end - last);
		last = end;
		if (!--n || (end = l->ends[n - 1]) > t)
			break;
	}
	side_set(P, p);
	sq->last_ts = last;
	l->n = n;
	if (n)
		l->top = end;
	return 0;
}

/* The same, inline for the usual case: one slice ended, room in the side bytes. */
static inline int lane_ends(void *arg, struct xlane *l, uint64_t t)
{
	struct planner *P = arg;
	tsm__buf *b = P->side;
	struct plseq *sq;

	if (TSM__UNLIKELY((l->n > 1 && l->ends[l->n - 2] <= t) ||
			  b->cap - b->len < END_ROOM + SIDE_SLACK))
		return lane_ends_all(P, l, t);
	sq = &P->sq[l->seq];
	b->len = (size_t)(end_packet(b->data + b->len, sq, l->top - sq->last_ts) - b->data);
	sq->last_ts = l->top;
	if (--l->n)
		l->top = l->ends[l->n - 1];
	return 0;
}

/* Lane l's sequence, new: its first packet (the writer's) is at t0. */
static __attribute__((noinline)) int plseq_new(struct planner *P, struct xlane *l, uint64_t t0)
{
	struct plseq *sq;
	uint8_t *p;

	if (P->nseqs >= P->sq_cap) {
		struct plseq *n = tsm__grow(P->sq, &P->sq_cap, 16, sizeof(*n));

		if (!n)
			return TSM_FAIL(TSM_NOMEM, "perfetto: sequences");
		P->sq = n;
	}
	sq = &P->sq[P->nseqs];
	memset(sq, 0, sizeof(*sq));
	p = pb_uint(sq->endtail, F_PKT_SEQ_ID, P->nseqs + 1); /* the writer's q->id */
	p[0] = (F_PKT_TRACK_EVENT << 3) | PB_LEN;
	p[1] = 2;
	p[2] = (F_TE_TYPE << 3) | PB_VARINT;
	p[3] = T_END;
	sq->endtail_len = (uint8_t)(p + 4 - sq->endtail);
	sq->last_ts = t0;
	l->seq = P->nseqs++;
	return 0;
}

/* The end: every open slice's END. */
static int planner_finish(struct planner *P, tsm__buf *out)
{
	tsm__xctx *x = P->x;
	int rc = 0;

	P->side = out;
	for (size_t i = 0; i < x->ntracks && rc >= 0; i++)
		for (uint32_t j = 0; j < x->tracks[i].nlanes && rc >= 0; j++)
			if (x->tracks[i].lanes[j].n)
				rc = lane_ends_all(P, &x->tracks[i].lanes[j], UINT64_MAX);
	return rc;
}

/* (thread or stream) of an event: its slot in the track cache, and the key (ca, cb). */
static inline struct tcache *tc_slot(struct planner *P, const tsm_event *ev, int host, uint64_t *ca,
				     uint64_t *cb)
{
	*ca = host ? (1ULL << 63) | ev->pid : ((uint64_t)ev->device << 32) | ev->pid;
	*cb = host						    ? ev->tid
	      : ev->kind == TSM_EV_ALLOC || ev->kind == TSM_EV_FREE ? UINT64_MAX
								    : ev->stream;
	return &P->tc[(*ca * 0x9E3779B97F4A7C15ULL ^ *cb * 0xC2B2AE3D27D4EB4FULL) >> 56 &
		      (TCACHE - 1)];
}

/* The track of an event the track cache missed: looked up or made (described), and
 * cached in tc. */
static __attribute__((noinline)) int track_of(struct planner *P, const tsm_event *ev, int host,
					      struct tcache *tc, uint64_t ca, uint64_t cb,
					      struct xtrack **out)
{
	tsm__xctx *x = P->x;
	struct xtrack *t;
	uint64_t parent, k1, k2;
	int created, rc;

	if (host) {
		rc = host_process(P, ev->pid, ev->start_ns, &parent);
		if (rc < 0)
			return rc;
		k1 = 2 | ((uint64_t)ev->pid << 8);
		k2 = ev->tid;
	} else {
		rc = gpu_process(P, ev, &parent);
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

		t->id = P->next_uuid++;
		if (host) {
			snprintf(name, sizeof(name), "thread %llu", (unsigned long long)ev->tid);
			rc = desc_thread(P, t->id, parent, ev->pid, ev->tid, name, ev->start_ns);
			x->st.tracks++;
		} else {
			if (k2 == UINT64_MAX)
				snprintf(name, sizeof(name), "memory");
			else
				snprintf(name, sizeof(name), "stream %u", ev->stream);
			rc = desc_track(P, t->id, parent, name, strlen(name), -1, ev->start_ns);
		}
		if (rc < 0)
			return rc;
	}
	tc->a = ca;
	tc->b = cb;
	tc->ti = (uint32_t)(t - x->tracks);
	*out = t;
	return 0;
}

/* Lane `lane` of t, just made for a slice of ev: lane 0 is the track, others are described
 * as child tracks ("stream 7 #2"). */
static __attribute__((noinline)) int lane_made(struct planner *P, struct xtrack *t, uint32_t lane,
					       const tsm_event *ev, int host)
{
	char name[96];

	if (lane == 0) {
		t->lanes[0].id = t->id;
		return 0;
	}
	t->lanes[lane].id = P->next_uuid++;
	if (host)
		snprintf(name, sizeof(name), "thread %llu #%u", (unsigned long long)ev->tid,
			 lane + 1);
	else
		snprintf(name, sizeof(name), "stream %u #%u", ev->stream, lane + 1);
	P->x->st.overlap_lanes++;
	return desc_track(P, t->lanes[lane].id, t->id, name, strlen(name), -1, ev->start_ns);
}

/* The event goes on lane l's sequence (made): its timestamp there, a delta. */
static inline void seq_time(struct planner *P, const struct xlane *l, uint64_t ts, struct pplan *pl)
{
	struct plseq *sq = &P->sq[l->seq];

	pl->v = ts - sq->last_ts;
	sq->last_ts = ts;
	pl->seq = l->seq;
}

/*
 * The sequence a slice or instant of `ev` goes on: its track's lane (a new
 * overlap lane when the slice neither nests in nor follows what is open on
 * the existing ones; instants go on lane 0), and the event's timestamp on
 * it. A lane's sequence is made on first use. Runs for every event: what is
 * rare (a track, lane or sequence to make) is out of line.
 */
static inline int event_seq(struct planner *P, const tsm_event *ev, int slice, struct pplan *pl)
{
	int created, host = tsm__xis_host(ev), rc;
	uint64_t ca, cb;
	struct tcache *tc = tc_slot(P, ev, host, &ca, &cb);
	struct xtrack *t;
	struct xlane *l;
	uint32_t lane = 0;

	/* Tracks are looked up per event: a small direct-mapped cache of (thread or stream) ->
	 * track skips the process and track hash lookups (the track exists, described). */
	if (TSM__LIKELY(tc->a == ca && tc->b == cb))
		t = &P->x->tracks[tc->ti];
	else if ((rc = track_of(P, ev, host, tc, ca, cb, &t)) < 0)
		return rc;
	if (!slice) {
		/* instants go on lane 0 */
		if (TSM__UNLIKELY(!t->nlanes)) {
			t->lanes = tsm__calloc(1, sizeof(*t->lanes));
			if (!t->lanes)
				return TSM_FAIL(TSM_NOMEM, "track lanes");
			t->lanes[0].id = t->id;
			t->nlanes = 1;
		}
		if (t->lanes[0].n && t->lanes[0].top <= ev->start_ns) {
			rc = lane_ends(P, &t->lanes[0], ev->start_ns);
			if (rc < 0)
				return rc;
		}
	} else {
		rc = tsm__xlane_assign_with(t, ev->start_ns, ev->end_ns, &created, lane_ends, P);
		if (rc < 0)
			return rc;
		lane = (uint32_t)rc;
		if (TSM__UNLIKELY(created) && (rc = lane_made(P, t, lane, ev, host)) < 0)
			return rc;
	}
	l = &t->lanes[lane];
	if (TSM__UNLIKELY(!l->seq)) {
		/* a new sequence; the writer writes its first packet (its clock snapshot is at
		 * the event: delta 0) */
		rc = plseq_new(P, l, ev->start_ns);
		if (rc < 0)
			return rc;
		pl->flags |= P_NEW_SEQ;
		pl->v = l->id;
		pl->seq = l->seq;
	} else {
		seq_time(P, l, ev->start_ns, pl);
	}
	return 0;
}

/* ---- the planner: one event ------------------------------------------------------------ */

/* A counter event: on a counter track named after the counter. */
static __attribute__((noinline)) int plan_counter(struct planner *P, const tsm_event *ev)
{
	tsm__xctx *x = P->x;
	struct xtrack *t;
	uint64_t parent;
	size_t nlen;
	const char *name = tsm__rstr(P->r, ev->name, &nlen);
	int created, rc;

	if (ev->device != TSM_DEVICE_NONE)
		rc = gpu_process(P, ev, &parent);
	else
		rc = host_process(P, ev->pid, ev->start_ns, &parent);
	if (rc < 0)
		return rc;
	t = tsm__xtrack_get(x, 7 | (parent << 8), ev->name, &created);
	if (!t)
		return TSM_FAIL(TSM_NOMEM, "perfetto: tracks");
	if (created) {
		t->id = P->next_uuid++;
		rc = desc_track(P, t->id, parent, nlen ? name : "counter", nlen ? nlen : 7, 0,
				ev->start_ns);
		if (rc < 0)
			return rc;
	}
	return counter_packet(P, ev->start_ns, t->id, &ev->u.counter.value, 0);
}

/* Memory in use per GPU, from allocations and frees. */
static __attribute__((noinline)) int plan_memory(struct planner *P, const tsm_event *ev)
{
	struct xtrack *t;
	uint64_t parent;
	int created, rc = gpu_process(P, ev, &parent);

	if (rc < 0)
		return rc;
	t = tsm__xtrack_get(P->x, 5 | (parent << 8), 0, &created);
	if (!t)
		return TSM_FAIL(TSM_NOMEM, "perfetto: tracks");
	if (created) {
		t->id = P->next_uuid++;
		rc = desc_track(P, t->id, parent, "memory in use", 13, 3, ev->start_ns);
		if (rc < 0)
			return rc;
	}
	t->value +=
	    ev->kind == TSM_EV_ALLOC ? (double)ev->u.memory.bytes : -(double)ev->u.memory.bytes;
	return counter_packet(P, ev->start_ns, t->id, NULL, (int64_t)t->value);
}

/* Flows this event starts and terminates (0: none), from the flow table. */
static void event_flows(tsm__xctx *x, const tsm_event *ev, uint64_t *start, uint64_t *term)
{
	uint64_t flow_start = 0, flow_term = 0;

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
	*start = flow_start;
	*term = flow_term;
}

/* Any event: its plan through event_seq, or a counter's or an allocation's packets. */
static __attribute__((noinline)) int plan_event(struct planner *P, const tsm_event *ev,
						struct pplan *pl)
{
	int rc;

	pl->flags = 0; /* the rest is set where P_EVENT is */
	if (ev->kind == TSM_EV_COUNTER)
		return plan_counter(P, ev);
	rc = event_seq(P, ev, tsm__xis_slice(ev), pl);
	pl->flags |= P_EVENT;
	if (rc >= 0 && (ev->kind == TSM_EV_ALLOC || ev->kind == TSM_EV_FREE) &&
	    ev->device != TSM_DEVICE_NONE)
		rc = plan_memory(P, ev);
	return rc;
}

/*
 * The usual event, planned with no call: a slice on a thread or stream the
 * track cache knows, landing on a lane that has its sequence. Returns 1 when
 * planned, 0 when plan_event must plan it. It pops the lanes as event_seq
 * does (tsm__xlane_assign's order, END packets by lane_ends), so when it
 * returns 0 after popping some, plan_event finds nothing more to pop there:
 * the plan and the side bytes are plan_event's. (event_seq with its rare
 * paths out of line still took ~30 more instructions per event.)
 */
static inline int plan_fast(struct planner *P, const tsm_event *ev, struct pplan *pl)
{
	uint64_t start = ev->start_ns, end = ev->end_ns, ca, cb;
	const struct tcache *tc;
	struct xtrack *t;

	if (!tsm__xis_slice(ev)) /* neither a counter nor an allocation */
		return 0;
	tc = tc_slot(P, ev, tsm__xis_host(ev), &ca, &cb);
	if (tc->a != ca || tc->b != cb)
		return 0;
	t = &P->x->tracks[tc->ti];
	for (struct xlane *l = t->lanes, *le = l + t->nlanes; l < le; l++) {
		int rc;

		if (l->n && l->top <= start && (rc = lane_ends(P, l, start)) < 0)
			return rc;
		if (!l->n || l->top >= end) {
			/* the slice goes here */
			if (TSM__UNLIKELY(!l->seq))
				return 0;
			rc = tsm__xlane_push(l, end);
			if (rc < 0)
				return rc;
			seq_time(P, l, start, pl);
			pl->flags = P_EVENT;
			return 1;
		}
	}
	return 0; /* a new lane */
}

/* The planner's hook (export-internal.h). */
static int plan(void *state, const tsm_reader *r, const tsm_event *ev, size_t n,
		uint64_t (*plan_out)[XPLAN_BYTES / 8], uint32_t *side_off, tsm__buf *side,
		size_t *done)
{
	struct planner *P = state;

	P->r = r;
	P->side = side;
	for (size_t i = 0; i < n; i++) {
		struct pplan *pl = (struct pplan *)plan_out[i];
		size_t side0 = side->len;
		int rc = plan_fast(P, &ev[i], pl);

		if (rc == 0)
			rc = plan_event(P, &ev[i], pl);
		if (rc < 0) {
			*done = i;
			return rc;
		}
		side_off[i] = (uint32_t)side0;
		pl->main_len = (uint32_t)(side->len - side0);
	}
	return 0;
}

static size_t pre_encode(void *state, const tsm_event *ev, uint8_t *out);

static void planner_free(void *state)
{
	struct planner *P = state;

	if (!P)
		return;
	tsm__free(P->kc);
	tsm__free(P->sq);
	tsm__free(P);
}

int tsm__perfetto_plan_init(tsm__xctx *x)
{
	struct planner *P = tsm__calloc(1, sizeof(*P));

	if (!P)
		return TSM_FAIL(TSM_NOMEM, "perfetto: planner");
	P->x = x;
	for (size_t i = 0; i < TCACHE; i++)
		P->tc[i].a = TC_EMPTY;
	P->next_uuid = 1;
	P->nseqs = 1; /* sequence 1 */
	x->plan = plan;
	x->pre = pre_encode;
	x->plan_state = P;
	x->plan_free = planner_free;
	return 0;
}

/* ---- annotations --------------------------------------------------------------------- */

/* The iid of the synthetic name of an event without one: per kind (and sync type). */
static inline uint64_t synth_iid(const tsm_event *ev)
{
	return SYNTH_IID + ev->kind * 8u + (ev->kind == TSM_EV_SYNC ? ev->u.sync.sync_type & 7 : 0);
}

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
	uint8_t *q;

	/* the body is under 128 bytes: its one length byte is filled in after it */
	p[0] = TAG_ANNOT;
	p[2] = TAG_DA_NAME;
	q = pb_varint(p + 3, name);
	*q++ = (uint8_t)tag;
	q = pb_varint(q, v);
	p[1] = (uint8_t)(q - p - 2);
	return q;
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

/* A string annotation whose value is interned (debug_annotation_string_values). */
static inline uint8_t *an_str_iid(uint8_t *p, uint64_t name, uint64_t iid)
{
	p[0] = TAG_ANNOT;
	p[1] = (uint8_t)(1 + pb_varint_len(name) + 2 + pb_varint_len(iid));
	p[2] = TAG_DA_NAME;
	p = pb_varint(p + 3, name);
	p[0] = (uint8_t)(((F_DA_STRING_IID << 3) | PB_VARINT) | 0x80);
	p[1] = (uint8_t)(((F_DA_STRING_IID << 3) | PB_VARINT) >> 7);
	return pb_varint(p + 2, iid);
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
 * n bytes of an event's body from src to p, `readable` bytes being there to
 * read at src; returns p + n. Up to 32 bytes (a runtime call's or CPU op's
 * head) are copied as 32, up to 128 (a kernel's) as 128, when as many can be
 * read: a fixed-size copy is a few moves, where one of n bytes is a call.
 * The bytes past n are overwritten by what follows; an event's room (1024
 * bytes, event_need) holds them.
 */
static inline uint8_t *copy_short(uint8_t *p, const uint8_t *src, size_t n, size_t readable)
{
	if (n <= 32 && readable >= 32)
		memcpy(p, src, 32);
	else if (n <= 128 && readable >= 128)
		memcpy(p, src, 128);
	else
		memcpy(p, src, n);
	return p + n;
}

/*
 * A kernel's annotations from device to registers: a stream runs a few
 * launch configurations over and over, so their bytes are encoded once per
 * configuration and copied after that.
 */
static uint8_t *kernel_conf(struct kslot *kc, uint8_t *p, const tsm_event *ev, int where)
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
	sl = &kc[h & (KCACHE - 1)];
	if (sl->len && !memcmp(&sl->key, &key, sizeof(key)))
		return copy_short(p, sl->bytes, sl->len, sizeof(sl->bytes));
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

/*
 * The annotations that depend on the event alone (the mangled name and the
 * metadata follow them: te_tail). `kc`: the calling thread's launch
 * configurations; `x` only for an NVTX domain's name (never on the
 * read-ahead thread: pre_encode leaves those events to the writer).
 */
static uint8_t *annotations(struct kslot *kc, tsm__xctx *x, uint8_t *p, const tsm_event *ev)
{
	int where = !tsm__xis_host(ev) || ev->device != TSM_DEVICE_NONE;
	const char *s;

	if (ev->correlation)
		p = an_uint(p, A_CORRELATION, ev->correlation);
	if (ev->external)
		p = an_uint(p, A_EXTERNAL, ev->external);
	if (ev->kind == TSM_EV_KERNEL)
		p = kernel_conf(kc, p, ev, where);
	else if (where)
		p = an_where(p, ev);
	switch (ev->kind) {
	case TSM_EV_KERNEL: {
		const tsm_kernel_info *k = &ev->u.kernel;

		if (k->graph_id) {
			p = an_uint(p, A_GRAPH, k->graph_id);
			p = an_uint(p, A_GRAPH_NODE, k->graph_node_id);
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
	const char *s = tsm_event_kind_name(ev->kind);

	if (ev->kind == TSM_EV_SYNC) {
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
	*iid = synth_iid(ev);
	return s;
}

/* ---- the writer: flows and interning ------------------------------------------------------ */

/*
 * Does a kernel's annotation carry its mangled name (the display name is
 * demangled)? 0: no, 1: yes, 2: yes and it is new on sequence q (interned
 * now), or a negative status. The answer is remembered per sequence.
 */
static int mangled(tsm__xctx *x, struct pseq *q, const tsm_event *ev)
{
	uint64_t yes = (uint64_t)IK_STR << 32 | ev->name, no = (uint64_t)IK_PLAIN << 32 | ev->name;
	const char *s;
	size_t n;
	int rc;

	if (!x->demangle || !ev->name || ev->kind != TSM_EV_KERNEL)
		return 0;
	if (TSM__LIKELY(*recent_slot(q, yes) == yes))
		return 1;
	if (*recent_slot(q, no) == no)
		return 0;
	s = tsm__xstr(x, ev->name, &n);
	if (n > 2 && s[0] == '_' && s[1] == 'Z') {
		rc = intern(q, yes);
		return rc < 0 ? rc : rc ? 2 : 1;
	}
	*recent_slot(q, no) = no;
	return 0;
}

/* ---- the writer: sequences ------------------------------------------------------------ */

/*
 * Room for a packet of up to n bytes at *p: in the output's buffer, or for
 * a packet too large for it (long names, many long metadata strings) in a
 * buffer of its own that out_done hands to the output.
 */
#define OUT_DIRECT (TSM__SINK_BUF / 4)

static int out_room(struct pf *f, size_t n, uint8_t **p)
{
	int rc;

	if (TSM__LIKELY(n <= OUT_DIRECT)) {
		rc = tsm__sink_room(f->s, n);
		*p = f->s->buf + f->s->len;
		return rc;
	}
	if (n > f->big_cap) {
		uint8_t *nb = tsm__realloc(f->big, n + 64);

		if (!nb)
			return TSM_FAIL(TSM_NOMEM, "perfetto: a packet of %zu bytes", n);
		f->big = nb;
		f->big_cap = n;
	}
	f->in_big = 1;
	*p = f->big;
	return 0;
}

/* The packet written by out_room's caller ends at p. */
static int out_done(struct pf *f, uint8_t *p)
{
	if (TSM__LIKELY(!f->in_big)) {
		f->s->len = (size_t)(p - f->s->buf);
		return 0;
	}
	f->in_big = 0;
	return tsm__sink_put(f->s, f->big, (size_t)(p - f->big));
}

/*
 * The next sequence: its first packet clears the incremental state, interns
 * the debug-annotation names and, for a lane (uuid), makes the lane the
 * default track and its timestamps deltas: the packet's defaults give them
 * the sequence-scoped clock CLOCK_LANE, and its clock snapshot makes that
 * clock incremental and equal to BOOTTIME at t0, the lane's first event.
 * Each packet's timestamp is then the time since the sequence's previous
 * packet (one to three bytes instead of seven or eight), as the Perfetto
 * SDK writes them. Sequence 1 keeps absolute BOOTTIME timestamps.
 */
static int seq_new(struct pf *f, uint64_t uuid, uint64_t t0)
{
	struct pseq *q;
	uint8_t *p, *m, *mi, *mn, *md, *mt, *mc, *mk;
	int rc;

	if (f->nseqs == f->seqs_cap) {
		struct pseq *ns = tsm__grow(f->seqs, &f->seqs_cap, 16, sizeof(*ns));

		if (!ns)
			return TSM_FAIL(TSM_NOMEM, "perfetto: sequences");
		f->seqs = ns;
	}
	q = &f->seqs[f->nseqs];
	memset(q, 0, sizeof(*q));
	q->id = (uint32_t)f->nseqs + 1;
	q->idlen = (uint8_t)(pb_uint(q->idv, F_PKT_SEQ_ID, q->id) - q->idv);
	memset(q->nrec_info, 1 << 1 | 1 << 3, sizeof(q->nrec_info));
	f->nseqs++;
	rc = out_room(f, 4096, &p);
	if (rc < 0)
		return rc;
	p = pkt_begin(p, &m, q->id, 0, 0, SEQ_CLEARED);
	p = pb_begin(p, F_PKT_INTERNED, &mi);
	for (unsigned i = 1; i < A__COUNT; i++) {
		p = pb_begin(p, F_ID_ANNOT_NAMES, &mn);
		p = pb_uint(p, 1, i);
		p = pb_str(p, 2, annot_names[i], strlen(annot_names[i]), 256);
		p = pb_end(mn, p);
	}
	p = pb_end(mi, p);
	if (uuid) {
		p = pb_begin(p, F_PKT_DEFAULTS, &md);
		p = pb_begin(p, F_TPD_TRACK_EVENT, &mt);
		p = pb_uint(p, F_TED_TRACK_UUID, uuid);
		p = pb_end(mt, p);
		p = pb_uint(p, F_TPD_CLOCK_ID, CLOCK_LANE);
		p = pb_end(md, p);
		p = pb_begin(p, F_PKT_CLOCK_SNAPSHOT, &mc);
		p = pb_begin(p, F_CS_CLOCKS, &mk);
		p = pb_uint(p, F_CLK_ID, CLOCK_BOOTTIME);
		p = pb_uint(p, F_CLK_TIMESTAMP, t0);
		p = pb_end(mk, p);
		p = pb_begin(p, F_CS_CLOCKS, &mk);
		p = pb_uint(p, F_CLK_ID, CLOCK_LANE);
		p = pb_uint(p, F_CLK_TIMESTAMP, t0);
		p = pb_uint(p, F_CLK_INCREMENTAL, 1);
		p = pb_end(mk, p);
		p = pb_end(mc, p);
	}
	return out_done(f, pb_end(m, p));
}

/*
 * The TrackEvent body of a slice's begin or an instant (the track is the
 * sequence's default) in two parts. The head depends on the event alone:
 * its type, name and annotations (annotations()); the read-ahead thread
 * may have written it already (pre_encode). The tail depends on what the
 * writer has seen before: the mangled name, the metadata, the flows, the
 * call stack.
 */
static uint8_t *te_head(struct kslot *kc, tsm__xctx *x, uint8_t *p, const tsm_event *ev)
{
	p[0] = (F_TE_TYPE << 3) | PB_VARINT;
	p[1] = tsm__xis_slice(ev) ? T_BEGIN : T_INSTANT;
	p = pb_uint(p + 2, F_TE_NAME_IID, ev->name ? ev->name : synth_iid(ev));
	return annotations(kc, x, p, ev);
}

/*
 * The read-ahead thread's hook for its idle time (export-internal.h): an
 * event's track event head, written as the writer would write it, or 0 to
 * leave the event to the writer (an NVTX domain's name is looked up on the
 * exporting thread only). It uses the planner's state only for its own
 * launch configurations: it runs on the planner's thread, between plans.
 */
static size_t pre_encode(void *state, const tsm_event *ev, uint8_t *out)
{
	struct planner *P = state;

	if ((ev->kind == TSM_EV_NVTX_RANGE || ev->kind == TSM_EV_NVTX_MARK) && ev->u.nvtx.domain)
		return 0;
	if (TSM__UNLIKELY(!P->kc) && !(P->kc = tsm__calloc(KCACHE, sizeof(*P->kc))))
		return 0; /* the writer does it all then */
	return (size_t)(te_head(P->kc, NULL, out, ev) - out);
}

static inline uint8_t *te_tail(struct pf *f, uint8_t *p, const tsm_event *ev, const tsm_kv *kv,
			       size_t nkv)
{
	if (f->mangled)
		p = an_str_iid(p, A_MANGLED, ev->name);
	if (nkv)
		p = meta_annotations(f, p, kv, nkv);
	if (f->flow_start)
		p = pb_fixed64(p, F_TE_FLOW_IDS, f->flow_start);
	if (f->flow_term)
		p = pb_fixed64(p, F_TE_TERM_FLOW_IDS, f->flow_term);
	if (ev->correlation)
		p = pb_uint(p, F_TE_CORRELATION, ev->correlation);
	if (f->stack)
		p = pb_uint(p, F_TE_CALLSTACK_IID, f->stack);
	return p;
}

/* ---- the writer: call stacks ------------------------------------------------------------ */

/* Add to *out the bytes that interning n frames may take at most: 0, or TSM_NOMEM. */
static int stack_need(tsm__xctx *x, const tsm_frame *fr, size_t n, size_t *out)
{
	size_t need = 64 + 12 * n;

	for (size_t i = 0; i < n; i++) {
		uint32_t fl = 0;
		size_t ml = 0, sl = 0;

		if (fr[i].function && !tsm__xname(x, fr[i].function, &fl))
			return TSM_NOMEM;
		if (fr[i].module)
			tsm__xstr(x, fr[i].module, &ml);
		if (fr[i].file)
			tsm__xstr(x, fr[i].file, &sl);
		need += 160 + (fl < NAME_MAX_BYTES ? fl : NAME_MAX_BYTES) +
			(ml < NAME_MAX_BYTES ? ml : NAME_MAX_BYTES) +
			(sl < NAME_MAX_BYTES ? sl : NAME_MAX_BYTES);
	}
	*out += need;
	return 0;
}

/* An InternedString entry of `field`. */
static uint8_t *interned_str(uint8_t *p, uint32_t field, uint64_t iid, const char *s, size_t n)
{
	uint8_t *m;

	p = pb_begin(p, field, &m);
	p = pb_uint(p, 1, iid);
	p = pb_str(p, 2, s, n, NAME_MAX_BYTES);
	return pb_end(m, p);
}

/*
 * Intern call stack `stack` (n frames, innermost first) on sequence q, in the
 * interned_data message being written at p: the function names, mappings
 * (a shared object and its path) and source paths q does not have yet, a
 * frame per stack entry (iid: stack << 8 | index + 1) and the callstack,
 * bottom frame first. *rc: 0 or TSM_NOMEM.
 */
static uint8_t *intern_stack(struct pf *f, struct pseq *q, uint8_t *p, uint32_t stack,
			     const tsm_frame *fr, size_t n, int *rc)
{
	tsm__xctx *x = f->x;
	uint8_t *m, *mm;

	*rc = 0;
	for (size_t i = 0; i < n && *rc >= 0; i++) {
		const tsm_frame *fm = &fr[i];
		uint64_t fid = (uint64_t)stack << 8 | (i + 1);
		uint64_t fname = fm->function ? fm->function : PC_NAME | fid;
		uint64_t map = fm->module ? fm->module : MAP_UNKNOWN;
		const char *s;
		size_t len;
		uint32_t nl;

		if (!fm->function) {
			char pc[24];

			p = interned_str(
			    p, F_ID_FUNCTION_NAMES, fname, pc,
			    (size_t)snprintf(pc, sizeof(pc), "0x%llx", (unsigned long long)fm->pc));
		} else if ((*rc = intern(q, (uint64_t)IK_FUNC << 32 | fm->function)) > 0) {
			s = tsm__xname(x, fm->function, &nl);
			if (!s) {
				*rc = TSM_NOMEM;
				break;
			}
			p = interned_str(p, F_ID_FUNCTION_NAMES, fname, s, nl);
		}
		if (*rc >= 0 && (*rc = intern(q, (uint64_t)IK_MAP << 32 | fm->module)) > 0) {
			if (fm->module)
				s = tsm__xstr(x, fm->module, &len);
			else
				s = "[unknown]", len = 9;
			p = interned_str(p, F_ID_MAPPING_PATHS, map, s, len);
			p = pb_begin(p, F_ID_MAPPINGS, &mm);
			p = pb_uint(p, 1, map);
			p = pb_uint(p, F_MAPPING_PATH_IDS, map);
			p = pb_end(mm, p);
		}
		if (*rc >= 0 && fm->file &&
		    (*rc = intern(q, (uint64_t)IK_SRC << 32 | fm->file)) > 0) {
			s = tsm__xstr(x, fm->file, &len);
			p = interned_str(p, F_ID_SOURCE_PATHS, fm->file, s, len);
		}
		p = pb_begin(p, F_ID_FRAMES, &m);
		p = pb_uint(p, 1, fid);
		p = pb_uint(p, F_FRAME_FUNCTION, fname);
		p = pb_uint(p, F_FRAME_MAPPING, map);
		if (fm->file)
			p = pb_uint(p, F_FRAME_SOURCE, fm->file);
		if (fm->line)
			p = pb_uint(p, F_FRAME_LINE, fm->line);
		p = pb_end(m, p);
	}
	if (*rc < 0)
		return p;
	p = pb_begin(p, F_ID_CALLSTACKS, &m);
	p = pb_uint(p, 1, stack);
	for (size_t i = n; i-- > 0;)
		p = pb_uint(p, F_CALLSTACK_FRAMES, (uint64_t)stack << 8 | (i + 1));
	return pb_end(m, p);
}

/* What an event brings that its sequence has not interned yet, and the room its packet needs. */
struct pnew {
	uint64_t iid;	   /* the event's name iid */
	uint64_t new_keys; /* bit i: metadata key i is new */
	const char *name;  /* its display name, when new */
	uint32_t nlen;
	const char *str; /* its mangled name, when new as an annotation string */
	size_t slen;
	const tsm_kv *kv; /* its metadata */
	size_t nkv;
	const tsm_frame *fr; /* its call stack's frames, when the stack is new */
	size_t nfr;
	int new_name, new_stack;
	size_t need;
};

/* The packet of an event that interns something on sequence q first (out of line: rare). */
static __attribute__((noinline)) int write_interned(struct pf *f, struct pseq *q,
						    const tsm_event *ev, uint64_t dts,
						    const struct pnew *nw)
{
	tsm__xctx *x = f->x;
	uint8_t *p = NULL, *m, *mt, *mi, *mn;
	int rc = out_room(f, nw->need, &p);

	if (rc < 0)
		return rc;
	p = pkt_begin(p, &m, q->id, dts, 1, SEQ_NEEDS);
	p = pb_begin(p, F_PKT_INTERNED, &mi);
	if (nw->new_name) {
		p = pb_begin(p, F_ID_EVENT_NAMES, &mn);
		p = pb_uint(p, 1, nw->iid);
		p = pb_str(p, 2, nw->name, nw->nlen, NAME_MAX_BYTES);
		p = pb_end(mn, p);
	}
	for (size_t i = 0; i < nw->nkv; i++) {
		size_t kl;
		const char *ks;

		if (!(nw->new_keys & (1ULL << i)))
			continue;
		ks = tsm__xstr(x, nw->kv[i].key, &kl);
		p = pb_begin(p, F_ID_ANNOT_NAMES, &mn);
		p = pb_uint(p, 1, META_IID_BASE + (uint64_t)nw->kv[i].key);
		p = pb_str(p, 2, ks, kl, META_STR_MAX);
		p = pb_end(mn, p);
	}
	if (nw->str) {
		p = pb_begin(p, F_ID_ANNOT_STRINGS, &mn);
		p = pb_uint(p, 1, ev->name);
		p = pb_str(p, 2, nw->str, nw->slen, NAME_MAX_BYTES);
		p = pb_end(mn, p);
	}
	if (nw->new_stack) {
		p = intern_stack(f, q, p, ev->stack, nw->fr, nw->nfr, &rc);
		if (rc < 0)
			return rc;
	}
	p = pb_end(mi, p);
	p = pb_begin(p, F_PKT_TRACK_EVENT, &mt);
	p = te_tail(f, te_head(f->kc, x, p, ev), ev, nw->kv, nw->nkv);
	p = pb_end(mt, p);
	return out_done(f, pb_end(m, p));
}

/* The key of ev's name in a sequence's nrec: its iid (the name id, or a synthetic name's),
 * shifted, and whether it is a kernel's. */
static inline uint64_t nrec_key(const tsm_event *ev)
{
	if (TSM__UNLIKELY(!ev->name))
		return synth_iid(ev) << 1;
	return (uint64_t)ev->name << 1 | (ev->kind == TSM_EV_KERNEL);
}

static inline unsigned nrec_slot(uint64_t key)
{
	return (unsigned)((key * 0x9E3779B97F4A7C15ULL) >> 58) & (NREC - 1);
}

/*
 * Bytes an event packet's fixed fields and annotations (annotations()) may
 * take: 1 KiB, plus an NVTX domain's name, the one string of unbounded
 * length among them (cut at META_STR_MAX).
 */
static inline size_t event_need(const tsm_event *ev)
{
	if (TSM__UNLIKELY((ev->kind == TSM_EV_NVTX_RANGE || ev->kind == TSM_EV_NVTX_MARK) &&
			  ev->u.nvtx.domain))
		return 1024 + META_STR_MAX;
	return 1024;
}

/*
 * The begin or instant packet of `ev` on its sequence, with what it interns
 * there. `head`: the track event's head (te_head) as the read-ahead thread
 * wrote it, `hlen` bytes, with `hroom` bytes readable from it (NULL: none).
 */
static int write_event(struct pf *f, const tsm_event *ev, const struct pplan *pl,
		       const uint8_t *head, size_t hlen, size_t hroom)
{
	tsm__xctx *x = f->x;
	struct pnew nw;
	struct pseq *q;
	uint8_t *p = NULL;
	uint64_t nk = nrec_key(ev), dts = pl->v;
	unsigned ns = nrec_slot(nk);
	int rc;

	if (pl->flags & P_NEW_SEQ) {
		rc = seq_new(f, pl->v, ev->start_ns);
		if (rc < 0)
			return rc;
		dts = 0; /* the new sequence's clock snapshot is at the event */
	}
	if (TSM__UNLIKELY(pl->seq >= f->nseqs)) /* the planner makes them in this order */
		return TSM_FAIL(TSM_STATE, "perfetto: sequence %u not made", pl->seq);
	q = &f->seqs[pl->seq];
	/* flows are matched here, in time order like everything else, not by the planner:
	 * that thread has the heavier share of the work (docs/design/export.md) */
	event_flows(x, ev, &f->flow_start, &f->flow_term);
	if (TSM__LIKELY(q->nrec[ns] == nk && !ev->meta &&
			(!ev->stack || *recent_slot(q, (uint64_t)IK_STACK << 32 | ev->stack) ==
					   ((uint64_t)IK_STACK << 32 | ev->stack)))) {
		/* the common event: its name (and call stack) known here, no metadata */
		f->mangled = q->nrec_info[ns] & NI_MANGLED;
		f->stack = ev->stack;
		nw.kv = NULL;
		nw.nkv = 0;
		nw.need = event_need(ev);
		goto write;
	}
	memset(&nw, 0, sizeof(nw));
	nw.iid = ev->name;
	nw.need = event_need(ev);
	if (ev->name) {
		rc = intern(q, (uint64_t)IK_NAME << 32 | ev->name);
		if (rc > 0 && !(nw.name = tsm__xname(x, ev->name, &nw.nlen)))
			rc = TSM_NOMEM;
	} else {
		nw.name = synth_name(ev, &nw.iid);
		rc = intern(q, (uint64_t)IK_SYNTH << 32 | (nw.iid - SYNTH_IID));
		nw.nlen = (uint32_t)strlen(nw.name);
	}
	if (rc < 0)
		return rc;
	nw.new_name = rc;
	/* the display name only when it is interned here */
	if (nw.new_name)
		nw.need += 2 * (size_t)(nw.nlen < NAME_MAX_BYTES ? nw.nlen : NAME_MAX_BYTES);
	rc = mangled(x, q, ev);
	if (rc < 0)
		return rc;
	f->mangled = rc > 0;
	if (rc == 2) {
		nw.str = tsm__xstr(x, ev->name, &nw.slen);
		if (nw.slen > NAME_MAX_BYTES)
			nw.slen = NAME_MAX_BYTES;
		nw.need += 64 + nw.slen;
	}
	/* interned by this packet or before: the next event of this name takes the common path */
	q->nrec[ns] = nk;
	q->nrec_info[ns] = (uint8_t)((q->nrec_info[ns] & ~NI_MANGLED) | f->mangled);
	if (ev->meta)
		nw.kv = tsm_reader_kvlist(x->r, ev->meta, &nw.nkv);
	if (nw.nkv > META_MAX)
		nw.nkv = META_MAX;
	for (size_t i = 0; i < nw.nkv; i++) {
		size_t kl, vl = 0;

		tsm__xstr(x, nw.kv[i].key, &kl);
		if (nw.kv[i].type == TSM_KV_STR)
			tsm__xstr(x, (uint32_t)nw.kv[i].v.str, &vl);
		nw.need += 64 + (kl < META_STR_MAX ? kl : META_STR_MAX) +
			   (vl < META_STR_MAX ? vl : META_STR_MAX);
		rc = intern(q, (uint64_t)IK_KEY << 32 | nw.kv[i].key);
		if (rc < 0)
			return rc;
		if (rc)
			nw.new_keys |= 1ULL << i;
	}
	f->stack = ev->stack;
	if (ev->stack) {
		/* a stack id the file does not define interns as an empty callstack */
		nw.new_stack = intern(q, (uint64_t)IK_STACK << 32 | ev->stack);
		if (nw.new_stack < 0)
			return nw.new_stack;
		if (nw.new_stack) {
			nw.fr = tsm_reader_stack(x->r, ev->stack, &nw.nfr);
			if (nw.nfr > STACK_FRAMES)
				nw.nfr = STACK_FRAMES;
			rc = stack_need(x, nw.fr, nw.nfr, &nw.need);
			if (rc < 0)
				return rc;
		}
	}
	if (TSM__UNLIKELY(nw.new_name || nw.new_keys || nw.str || nw.new_stack))
		return write_interned(f, q, ev, dts, &nw);
write:
	rc = out_room(f, nw.need, &p);
	if (rc < 0)
		return rc;
	{
		/*
		 * The common packet {timestamp, sequence id, flags, track_event}: the
		 * track event body is written after a header whose size is guessed
		 * (the length-varint sizes of the sequence's previous packet of this
		 * name); the header is then written in front of it, and the body moved
		 * only when the guess was wrong. Lengths stay minimal varints.
		 */
		unsigned inner = 1 + pb_varint_len(dts) + q->idlen + 2, tl, pl_len;
		size_t te_len, pkt_len;
		unsigned info = q->nrec_info[ns], tl_guess = info >> 1 & 3,
			 pl_guess = info >> 3 & 3;
		uint8_t *p0 = p, *body = p0 + 1 + pl_guess + inner + 1 + tl_guess;

		if (head)
			p = copy_short(body, head, hlen, hroom);
		else
			p = te_head(f->kc, x, body, ev);
		p = te_tail(f, p, ev, nw.kv, nw.nkv);
		te_len = (size_t)(p - body);
		tl = pb_varint_len(te_len);
		pkt_len = inner + 1 + tl + te_len;
		pl_len = pb_varint_len(pkt_len);
		if (TSM__UNLIKELY(tl != tl_guess || pl_len != pl_guess)) {
			uint8_t *nb = p0 + 1 + pl_len + inner + 1 + tl;

			memmove(nb, body, te_len);
			p = nb + te_len;
			q->nrec_info[ns] =
			    (uint8_t)((info & NI_MANGLED) | (tl & 3) << 1 | (pl_len & 3) << 3);
		}
		p0[0] = (F_TRACE_PACKET << 3) | PB_LEN;
		p0 = pb_varint(p0 + 1, pkt_len);
		*p0++ = (F_PKT_TIMESTAMP << 3) | PB_VARINT;
		p0 = pb_varint(p0, dts);
		memcpy(p0, q->idv, sizeof(q->idv));
		p0 += q->idlen;
		p0[0] = (F_PKT_SEQ_FLAGS << 3) | PB_VARINT;
		p0[1] = SEQ_NEEDS;
		p0[2] = (F_PKT_TRACK_EVENT << 3) | PB_LEN;
		pb_varint(p0 + 3, te_len);
		return out_done(f, p);
	}
}

/* Write what the planner decided for one event (`head`, `hlen`, `hroom`: as write_event). */
static int write_planned(struct pf *f, const tsm_event *ev, const struct pplan *pl,
			 const uint8_t *side, const uint8_t *head, size_t hlen, size_t hroom)
{
	tsm__sink *s = f->s;
	uint32_t n = pl->main_len;
	int rc;

	if (!n) {
		/* nothing on the side */
	} else if (TSM__LIKELY(n <= SIDE_SLACK && s->len + SIDE_SLACK <= TSM__SINK_BUF)) {
		/* one END packet or two, usually: one fixed-size move (side_room) */
		memcpy(s->buf + s->len, side, SIDE_SLACK);
		s->len += n;
	} else {
		rc = tsm__sink_put(s, side, n);
		if (rc < 0)
			return rc;
	}
	return pl->flags & P_EVENT ? write_event(f, ev, pl, head, hlen, hroom) : 0;
}

/* The end: every open slice's END (the planner is done with its lanes by now). */
static int finish(struct pf *f)
{
	tsm__buf b = {0};
	int rc = planner_finish(f->x->plan_state, &b);

	if (rc >= 0 && b.len)
		rc = tsm__sink_put(f->s, b.data, b.len);
	tsm__buf_fini(&b);
	return rc;
}

int tsm__export_perfetto(tsm__xctx *x)
{
	struct pf f;
	struct xspan sp;
	int rc;

	memset(&f, 0, sizeof(f));
	f.x = x;
	f.s = &x->out;
	f.kc = tsm__calloc(KCACHE, sizeof(*f.kc));
	rc = f.kc ? seq_new(&f, 0, 0) : TSM_FAIL(TSM_NOMEM, "perfetto: launch configurations");
	while (rc >= 0 && (rc = tsm__xsrc_span(x, &sp)) == 0) {
		/* the heads' bytes end here: what follows may be being written */
		uint32_t hend = sp.nhead ? sp.head_off[sp.nhead] : 0;

		for (size_t i = 0; i < sp.n && rc >= 0; i++) {
			/* head_off past nhead may be being written too */
			size_t hlen = i < sp.nhead ? sp.head_off[i + 1] - sp.head_off[i] : 0;

			rc = write_planned(&f, &sp.ev[i], (const struct pplan *)sp.plan[i],
					   sp.side ? sp.side + sp.side_off[i] : NULL,
					   hlen ? sp.head + sp.head_off[i] : NULL, hlen,
					   hlen ? hend - sp.head_off[i] : 0);
		}
	}
	if (rc == TSM_END)
		rc = finish(&f);
	for (size_t i = 0; i < f.nseqs; i++)
		tsm__free(f.seqs[i].interned.k);
	tsm__free(f.seqs);
	tsm__free(f.big);
	tsm__free(f.kc);
	return rc;
}
