/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared machinery of the exporters: the export context, the time-order
 * merge of the reader's blocks (source), track and lane bookkeeping for
 * overlapping slices, the bounded flow table, display names.
 */
#ifndef TSM_EXPORT_INTERNAL_H
#define TSM_EXPORT_INTERNAL_H

#include "tracesmith/export.h"

#include "export/json-writer.h"
#include "export/sink.h"

/*
 * One block's events, sorted by start, consumed from i: with the index, a
 * window of up to SBT_BATCH events decoded from the block (taken from the
 * reader) when the previous window is used up, so the merge's working set
 * stays in the cache; reading in file order, the whole block.
 */
struct xrun {
	tsm_event *ev;
	size_t n, i, cap;
	struct sbt_block *blk;		 /* the taken block (kept for reuse when done) */
	const struct sbt_index_entry *e; /* its index entry */
	int decoding;			 /* blk has events left to decode */
	uint64_t off;			 /* the block's chunk offset */
	uint64_t watermark;		 /* smallest start of any later block (UINT64_MAX: none) */
	int last;			 /* the input ended with it */
	struct xrun *next;		 /* in a free list */
};

/*
 * Where runs come from: a reader, and either the order to read the indexed
 * blocks in (by first start) or, reading in file order, the first event of
 * the block after the last run.
 */
struct xfeed {
	const struct tsm__xctx *x;
	tsm_reader *r;
	size_t next; /* next entry of x->order */
	tsm_event pending;
	int have_pending;
	uint64_t read; /* events read from the file (filtered ones too) */
};

/* A run in the merge's heap, keyed by the start of its next event (one load per comparison). */
struct xhent {
	uint64_t key;
	struct xrun *run;
};

/* The time-order merge: a min-heap of runs by the start of their next event. */
struct xmerge {
	struct xhent *heap;
	size_t nruns, cap;
	uint64_t watermark; /* runs may release events that start before it */
	int done;	    /* the input has ended: release everything */
	uint64_t buffered, max_buffered;
	struct xfeed *feed; /* decodes the next window of a run */
	struct xrun *free;  /* runs to reuse */
	int err;	    /* a window failed to decode: the next call's status */
	struct xrun *taken; /* the run whose event the last call returned (advanced next call) */
};

/*
 * One lane of a track: a stack of open slices' end times (innermost on
 * top). The top is kept in the lane itself, ends[] holds the ones below it:
 * a stream whose slices do not nest never touches ends[].
 */
struct xlane {
	uint64_t top;	/* the innermost open slice's end (when n > 0) */
	uint64_t *ends; /* ends[0 .. n-2]: the ones below it */
	uint32_t n, cap;
	uint64_t id;  /* Perfetto track uuid / JSON tid of this lane */
	uint32_t seq; /* Perfetto: its packet sequence (index; 0: none yet) */
};

/* A track: a GPU stream (per kind class for Chrome), a host thread, a counter. */
struct xtrack {
	uint64_t k1, k2; /* key */
	uint64_t id;	 /* Perfetto uuid of lane 0 / JSON tid */
	uint32_t nlanes;
	struct xlane *lanes;
	uint32_t used;
	uint32_t aux; /* exporter's own use */
	double value; /* memory-in-use counters */
};

/* A flow start remembered until its end shows up (direct-mapped, bounded). */
struct xflow {
	uint64_t key; /* 0: empty */
	uint64_t ts;
	uint64_t tid;
	uint32_t pid;
};

#define XFLOW_SLOTS (1u << 16)

/*
 * An exporter may plan each event before writing it: work that must see the
 * events in time order but writes no event output (tracks, lanes, flows,
 * interning: Perfetto). With a read-ahead thread the plan is made there,
 * right after the merge, and carried with the event: XPLAN_BYTES of plan,
 * plus side bytes of any length. The hook gets the reader whose blocks are
 * being merged (for names and processes: not the export's own reader, which
 * the exporting thread uses meanwhile), and plans ev[0 .. n) in one call:
 * plan[i], and side bytes appended to `side` from side_off[i] on. On a
 * failure *done says how many it planned.
 */
#define XPLAN_BYTES  24
#define XSPAN_SERIAL 64 /* events planned in one call when serial (tsm__xsrc_span) */
typedef int (*tsm__xplan_fn)(void *state, const tsm_reader *r, const tsm_event *ev, size_t n,
			     uint64_t (*plan)[XPLAN_BYTES / 8], uint32_t *side_off, tsm__buf *side,
			     size_t *done);

/*
 * An exporter may also give the read-ahead thread some of the writing to do
 * while it would otherwise wait for room (the exporting thread is behind):
 * the bytes of an event's output that depend on the event alone, written
 * at `out` (room: XHEAD_ROOM bytes), returning how many (0: none, the
 * writer writes them). It runs on the planner's thread with the plan's
 * state, after the event was planned. Perfetto: the track event's head.
 */
#define XHEAD_ROOM 1024
typedef size_t (*tsm__xpre_fn)(void *state, const tsm_event *ev, uint8_t *out);
/* Tests: the read-ahead writes every event's head before handing its batch over (1), or
 * right after, racing the exporter (2). */
extern int tsm__xheads_test;
/* Tests and benchmarks: the read-ahead leaves the planning of every batch to the exporter
 * (1), or of parts of batches, taking it back between (2), or plans every event itself (3). */
extern int tsm__xplan_test;
/* Benchmarks: the read-ahead thread [0] or the exporting thread [1] spins this many percent
 * of the CPU time it worked (per batch), as on a vCPU that runs at 100 / (100 + pct) of the
 * other's speed. */
extern int tsm__xslow_test[2];

typedef struct tsm__xctx {
	tsm_reader *r;
	tsm_export_opts o;
	tsm_export_stats st;
	tsm__sink out;
	unsigned format;
	int demangle;
	uint64_t in_total;

	/* the source: merged here, or by the read-ahead (export.c) into batches */
	struct xmerge m;
	struct xfeed feed;    /* serial reading */
	struct xahead *ahead; /* reading ahead on a helper thread, or NULL */
	struct xbatch *batch; /* the batch being exported, and its next event */
	size_t bi;
	const struct sbt_index_entry **order; /* indexed blocks by first start, or NULL */
	size_t norder;

	/* planning (see tsm__xplan_fn), serial: the plans and side bytes of the span at hand */
	tsm__xplan_fn plan;
	tsm__xpre_fn pre; /* or NULL */
	void *plan_state;
	void (*plan_free)(void *state);
	uint64_t plan_buf[XSPAN_SERIAL][XPLAN_BYTES / 8];
	uint32_t side_off[XSPAN_SERIAL];
	tsm__buf side;

	/* tracks */
	struct xtrack *tracks;
	size_t ntracks, tracks_cap;
	uint32_t *track_hash;
	size_t track_hash_cap;
	uint32_t track_cache[64]; /* direct-mapped (k1, k2) -> track index + 1, before the hash */

	/* flows */
	struct xflow *flows;

	/* escaped JSON forms by string id: raw strings, display names */
	tsm__idstrs esc_raw, esc_name;

	/* demangled display names by string id */
	tsm__idstrs names;
} tsm__xctx;

/* Next event in start-time order that passes the filters; TSM_END at the end. */
int tsm__xsrc_next(tsm__xctx *x, const tsm_event **ev);
/*
 * The next events in start-time order with the exporter's plans (x->plan set
 * before the export starts) and side bytes: the next events of a batch of the
 * read-ahead thread (up to 512), or, serial, the events that follow in one run's window (up to
 * XSPAN_SERIAL), planned here in one call. Valid until the next call.
 */
struct xspan {
	const tsm_event *ev;
	const uint64_t (*plan)[XPLAN_BYTES / 8];
	const uint8_t *side;	  /* side bytes (NULL: none in the span) */
	const uint32_t *side_off; /* where each event's side bytes begin */
	size_t n;
	/* the first nhead events' bytes from the tsm__xpre_fn, event i's in head[head_off[i]]
	 * up to head[head_off[i + 1]] (none when equal) */
	const uint8_t *head;
	const uint32_t *head_off;
	size_t nhead;
};
int tsm__xsrc_span(tsm__xctx *x, struct xspan *sp);

/* The track with key (k1, k2); *created set when new. NULL on NOMEM. */
struct xtrack *tsm__xtrack_get(tsm__xctx *x, uint64_t k1, uint64_t k2, int *created);

/* Helpers of tsm__xlane_assign: a new lane holding a slice; a stack grown. */
int tsm__xlane_new(struct xtrack *t, uint64_t end);
int tsm__xends_grow(uint64_t **ends, uint32_t *cap);

/* Push `end` on lane l's stack: 0 or TSM_NOMEM. */
static inline int tsm__xlane_push(struct xlane *l, uint64_t end)
{
	if (l->n) {
		if (TSM__UNLIKELY(l->n > l->cap)) {
			int rc = tsm__xends_grow(&l->ends, &l->cap);

			if (rc < 0)
				return rc;
		}
		l->ends[l->n - 1] = l->top;
	}
	l->top = end;
	l->n++;
	return 0;
}

/* Pop lane l's slices that ended at or before t (it has one that did). */
static inline int tsm__xlane_pop(void *arg, struct xlane *l, uint64_t t)
{
	(void)arg;
	while (--l->n && l->ends[l->n - 1] <= t)
		;
	if (l->n)
		l->top = l->ends[l->n - 1];
	return 0;
}

/*
 * tsm__xlane_assign (below) with the popping done by `pop` (the Perfetto
 * planner writes END packets as it pops), whose negative status it returns.
 * Inline: called for every slice of every export.
 */
static inline int tsm__xlane_assign_with(struct xtrack *t, uint64_t start, uint64_t end,
					 int *created,
					 int (*pop)(void *arg, struct xlane *l, uint64_t t),
					 void *arg)
{
	uint32_t i;
	int rc;

	*created = 0;
	for (i = 0; i < t->nlanes; i++) {
		struct xlane *l = &t->lanes[i];

		if (l->n && l->top <= start) {
			rc = pop(arg, l, start);
			if (rc < 0)
				return rc;
		}
		if (!l->n || l->top >= end) {
			rc = tsm__xlane_push(l, end);
			return rc < 0 ? rc : (int)i;
		}
	}
	*created = 1;
	return tsm__xlane_new(t, end);
}

/*
 * Lane of `t` for a slice [start, end]: the first lane whose open slices
 * all end at or before `start` or enclose the new slice; a new lane when
 * none does (*created set). Ends at or before `start` are popped from the
 * lanes looked at. Returns the lane index or a negative status.
 */
static inline int tsm__xlane_assign(struct xtrack *t, uint64_t start, uint64_t end, int *created)
{
	return tsm__xlane_assign_with(t, start, end, created, tsm__xlane_pop, NULL);
}

/* Flow table: remember a start; find-and-remove a start (inline: per event). */
static inline void tsm__xflow_start(tsm__xctx *x, uint64_t key, uint64_t ts, uint32_t pid,
				    uint64_t tid)
{
	/* 4-way buckets: an empty or same-key slot, else evict the oldest start. */
	struct xflow *b = &x->flows[key & (XFLOW_SLOTS - 4)], *f = &b[0];

	for (int i = 0; i < 4; i++) {
		if (!b[i].key || b[i].key == key) {
			f = &b[i];
			break;
		}
		if (b[i].ts < f->ts)
			f = &b[i];
	}
	f->key = key;
	f->ts = ts;
	f->pid = pid;
	f->tid = tid;
}

static inline struct xflow *tsm__xflow_take(tsm__xctx *x, uint64_t key)
{
	struct xflow *b = &x->flows[key & (XFLOW_SLOTS - 4)];

	for (int i = 0; i < 4; i++)
		if (b[i].key == key) {
			b[i].key = 0;
			return &b[i];
		}
	return NULL;
}

/*
 * Flow keys: host API call -> GPU work (by process and correlation), and
 * explicit flows. The high bits are a hash (the key is the flow's identity
 * and its id in the output); bits 2-15, which pick the table bucket, are the
 * correlation or flow id itself, so flows started close together (ids are
 * sequential) sit in neighbouring buckets: the 2 MiB table is then touched
 * like a ring, not at random, which halved the cost of starting a flow.
 */
static inline uint64_t tsm__xflow_key(uint64_t hash, uint64_t id)
{
	uint64_t k = (hash & ~(uint64_t)0xFFFF) | ((id & 0x3FFF) << 2);
	return k ? k : 4;
}
static inline uint64_t tsm__xflow_key_corr(uint32_t pid, uint64_t corr)
{
	return tsm__xflow_key(tsm__mix64(((uint64_t)pid << 40) ^ corr ^ 0x9E3779B97F4A7C15ULL),
			      corr + pid * 0x9E3779B1u);
}
static inline uint64_t tsm__xflow_key_id(uint32_t pid, uint64_t flow_id)
{
	return tsm__xflow_key(tsm__mix64(((uint64_t)pid << 40) ^ flow_id ^ 0xC2B2AE3D27D4EB4FULL),
			      flow_id + pid * 0x9E3779B1u);
}

/* Display name of string id (demangled when the export demangles); "" for 0; NULL (TSM_NOMEM
 * set) when memory runs out. */
const char *tsm__xname(tsm__xctx *x, uint32_t id, uint32_t *len);
/* Raw string by id ("" for 0 / undefined), of the export's reader or of reader r. */
const char *tsm__xstr(tsm__xctx *x, uint32_t id, size_t *len);
const char *tsm__rstr(const tsm_reader *r, uint32_t id, size_t *len);

/* Rank of a process (-1: none); a device's properties (NULL: unknown). */
int tsm__xrank(const tsm_reader *r, uint32_t pid);
const tsm_device_info *tsm__xdevice(const tsm_reader *r, uint32_t id);

/* Progress report (called from the merge when a block is read). */
void tsm__xprogress(tsm__xctx *x);

/* Kind classes of GPU tracks ("compute", "copy H2D", ...). */
enum xclass {
	XC_COMPUTE,
	XC_COPY_H2D,
	XC_COPY_D2H,
	XC_COPY_D2D,
	XC_COPY_P2P,
	XC_COPY_H2H,
	XC_COPY_OTHER,
	XC_MEMORY,
	XC_SYNC,
	XC__COUNT
};
unsigned tsm__xclass(const tsm_event *ev);
const char *tsm__xclass_name(unsigned c);

/* Is the event a duration slice (vs an instant)? */
static inline int tsm__xis_slice(const tsm_event *ev)
{
	switch (ev->kind) {
	case TSM_EV_NVTX_MARK:
	case TSM_EV_COUNTER:
	case TSM_EV_DROPPED:
	case TSM_EV_ALLOC:
	case TSM_EV_FREE:
		return 0;
	case TSM_EV_SYNC:
		return ev->end_ns > ev->start_ns;
	default:
		return 1;
	}
}

/* Host-side event (runs on a host thread track)? */
/*
 * The trace-event category ("cat") of an event, its length in *n: torch.profiler's names.
 * `host`: NVTX ranges on a host thread are user_annotation, on a GPU stream
 * gpu_user_annotation. `kineto`: allocations and frees are torch.profiler's
 * cpu_instant_event; in Chrome JSON they are alloc and free.
 */
const char *tsm__xcategory(const tsm_event *ev, int host, int kineto, size_t *n);

static inline int tsm__xis_host(const tsm_event *ev)
{
	if (ev->device == TSM_DEVICE_NONE)
		return 1;
	switch (ev->kind) {
	case TSM_EV_RUNTIME:
	case TSM_EV_DRIVER:
	case TSM_EV_NVTX_RANGE:
	case TSM_EV_NVTX_MARK:
	case TSM_EV_CPU_OP:
	case TSM_EV_OVERHEAD:
	case TSM_EV_DROPPED:
		return 1;
	default:
		return 0;
	}
}

int tsm__perfetto_plan_init(tsm__xctx *x); /* sets x->plan */
int tsm__export_perfetto(tsm__xctx *x);
int tsm__export_chrome(tsm__xctx *x);
int tsm__export_kineto(tsm__xctx *x);

/* Copy bytes of any size into the sink (room handled). */
static inline int tsm__xput(tsm__sink *s, const void *p, size_t n)
{
	if (TSM__LIKELY(n <= 4096)) {
		int rc = tsm__sink_room(s, n + JW_SLACK);

		if (rc < 0)
			return rc;
		memcpy(s->buf + s->len, p, n);
		s->len += n;
		return 0;
	}
	return tsm__sink_put(s, p, n);
}

/*
 * The quoted, escaped JSON form of string `id`, raw (tsm__xput_esc) or as
 * displayed (tsm__xput_name, demangled when the export demangles): each
 * string is escaped once per export, then copied.
 */
int tsm__xput_esc_slow(tsm__xctx *x, uint32_t id, int display);

static inline int tsm__xput_esc(tsm__xctx *x, uint32_t id)
{
	tsm__idstrs *c = &x->esc_raw;

	if (TSM__LIKELY(id < c->cap && c->s[id]))
		return tsm__xput(&x->out, c->s[id], c->len[id]);
	return tsm__xput_esc_slow(x, id, 0);
}

static inline int tsm__xput_name(tsm__xctx *x, uint32_t id)
{
	tsm__idstrs *c = &x->esc_name;

	if (TSM__LIKELY(id < c->cap && c->s[id]))
		return tsm__xput(&x->out, c->s[id], c->len[id]);
	return tsm__xput_esc_slow(x, id, 1);
}

#endif
