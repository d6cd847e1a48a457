/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Export driver and the machinery the three exporters share.
 *
 * Time order. The SBT reader returns events block by block; each block is
 * sorted by start time but blocks may overlap (a producer thread that
 * lagged). Perfetto wants every sequence in timestamp order (slice begin
 * and end packets interleave), and lane assignment for overlapping slices
 * needs start order too, so the source merges blocks: each block is copied
 * into a run, and the smallest head among the runs is released only while
 * it starts before the watermark, the smallest start of any block not yet
 * read. With the file's index, blocks are read in the order of their first
 * start (seeking), so the watermark is exact and only blocks whose time
 * ranges overlap are held at once, however far back a lagging producer's
 * block reaches. Without an index (a torn file, a pipe) blocks are read in
 * file order and the next block's first start is the watermark, which is
 * exact unless a later block reaches further back; such an event is still
 * exported, merely out of order, and memory then grows with the lag.
 * stats.max_buffered tells how many events the merge held at most.
 *
 * Lanes. Slices on one track must nest for Perfetto (and for a readable
 * Chrome view). An event goes to the first lane of its track where it
 * nests or follows; otherwise a new lane (a child track "stream 7 #2") is
 * made, so overlapping kernels are all kept, never dropped.
 *
 * Flows. A host API call and its GPU work share a correlation id; an
 * event record and the stream waiting on it share a flow id. The flow
 * table has XFLOW_SLOTS entries in 4-way buckets: a start is remembered
 * until its end takes it; a newer start landing in a full bucket evicts
 * the oldest, and the evicted flow's end then counts as unmatched. Memory stays
 * constant whatever the trace size.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "export/export-internal.h"
#include "format/reader.h"

void tsm_export_opts_init(tsm_export_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->gzip = -1;
	o->device = -1;
	o->stream = -1;
	o->demangle = -1;
	o->rank = -1;
}

static const char *const format_names[] = {"auto", "perfetto", "chrome", "kineto"};

const char *tsm_export_format_name(unsigned format)
{
	return format < TSM__ARRAY_SIZE(format_names) && format ? format_names[format] : "?";
}

unsigned tsm_export_format_from_name(const char *name)
{
	if (!name)
		return TSM_EXPORT_AUTO;
	for (unsigned i = 1; i < TSM__ARRAY_SIZE(format_names); i++)
		if (!strcmp(name, format_names[i]))
			return i;
	if (!strcmp(name, "pftrace") || !strcmp(name, "protobuf"))
		return TSM_EXPORT_PERFETTO;
	if (!strcmp(name, "json"))
		return TSM_EXPORT_CHROME;
	return TSM_EXPORT_AUTO;
}

static int ends_with(const char *s, size_t n, const char *suffix)
{
	size_t m = strlen(suffix);

	return n >= m && !strncmp(s + n - m, suffix, m);
}

int tsm_export_format_from_path(const char *path, unsigned *format, int *gzip)
{
	size_t n = path ? strlen(path) : 0;
	unsigned f = TSM_EXPORT_AUTO;
	int gz = 0;

	if (ends_with(path, n, ".gz")) {
		gz = 1;
		n -= 3;
	}
	if (ends_with(path, n, ".pt.trace.json") || ends_with(path, n, ".kineto.json"))
		f = TSM_EXPORT_KINETO;
	else if (ends_with(path, n, ".json"))
		f = TSM_EXPORT_CHROME;
	else if (ends_with(path, n, ".pftrace") || ends_with(path, n, ".perfetto-trace") ||
		 ends_with(path, n, ".pb"))
		f = TSM_EXPORT_PERFETTO;
	if (format)
		*format = f;
	if (gzip)
		*gzip = gz;
	return f ? 0 : TSM_NOT_FOUND;
}

/* ---- names ---------------------------------------------------------------- */

const char *tsm__rstr(const tsm_reader *r, uint32_t id, size_t *len)
{
	/* the reader keeps each string's length: no strlen per event (kernel names are long) */
	if (!id || id > r->strings.n) {
		if (len)
			*len = 0;
		return "";
	}
	if (len)
		*len = r->strings.len[id - 1];
	return r->strings.ptr[id - 1];
}

const char *tsm__xstr(tsm__xctx *x, uint32_t id, size_t *len)
{
	return tsm__rstr(x->r, id, len);
}

const char *tsm__xname(tsm__xctx *x, uint32_t id, uint32_t *len)
{
	size_t n;
	const char *raw = tsm__xstr(x, id, &n);

	if (!id || !x->demangle) {
		*len = (uint32_t)n;
		return raw;
	}
	return tsm__demangled(&x->names, id, raw, 4096, len);
}

int tsm__xput_esc_slow(tsm__xctx *x, uint32_t id, int display)
{
	uint32_t len;
	size_t n;
	const char *str, *e;

	if (display) {
		str = tsm__xname(x, id, &len);
		if (!str)
			return TSM_NOMEM;
		n = len;
	} else {
		str = tsm__xstr(x, id, &n);
	}
	e = tsm__jw_cache_get(display ? &x->esc_name : &x->esc_raw, id, str, n, &len);
	if (!e)
		return TSM_FAIL(TSM_NOMEM, "export: escaped string cache");
	return tsm__xput(&x->out, e, len);
}

int tsm__xrank(const tsm_reader *r, uint32_t pid)
{
	size_t n;
	const tsm_process_info *p = tsm_reader_processes(r, &n);

	for (size_t i = 0; i < n; i++)
		if (p[i].pid == pid)
			return p[i].rank;
	return -1;
}

const tsm_device_info *tsm__xdevice(const tsm_reader *r, uint32_t id)
{
	size_t n;
	const tsm_device_info *d = tsm_reader_devices(r, &n);

	for (size_t i = 0; i < n; i++)
		if (d[i].id == id)
			return &d[i];
	return NULL;
}

/* ---- kind classes ----------------------------------------------------------- */

static const char *const class_names[XC__COUNT] = {
    "compute",	"copy H2D", "copy D2H",	  "copy D2D",	     "copy P2P",
    "copy H2H", "copy",	    "memory ops", "synchronisation",
};

unsigned tsm__xclass(const tsm_event *ev)
{
	switch (ev->kind) {
	case TSM_EV_KERNEL:
		return XC_COMPUTE;
	case TSM_EV_MEMCPY:
		switch (ev->u.memcpy.copy_kind) {
		case TSM_COPY_H2D:
			return XC_COPY_H2D;
		case TSM_COPY_D2H:
			return XC_COPY_D2H;
		case TSM_COPY_D2D:
			return XC_COPY_D2D;
		case TSM_COPY_P2P:
			return XC_COPY_P2P;
		case TSM_COPY_H2H:
			return XC_COPY_H2H;
		default:
			return XC_COPY_OTHER;
		}
	case TSM_EV_MEMSET:
	case TSM_EV_ALLOC:
	case TSM_EV_FREE:
		return XC_MEMORY;
	default:
		return XC_SYNC;
	}
}

const char *tsm__xclass_name(unsigned c)
{
	return c < XC__COUNT ? class_names[c] : "?";
}

/* ---- tracks and lanes -------------------------------------------------------- */

static uint32_t track_slot(const tsm__xctx *x, uint64_t k1, uint64_t k2)
{
	return (uint32_t)(tsm__mix64(k1 * 0x9E3779B97F4A7C15ULL ^ k2) & (x->track_hash_cap - 1));
}

struct xtrack *tsm__xtrack_get(tsm__xctx *x, uint64_t k1, uint64_t k2, int *created)
{
	/* Exporters look tracks up once or twice per event among a few: a 64-entry cache
	 * (a multiply and a compare) answers most lookups before the mixed hash and probe. */
	uint32_t c = (uint32_t)((k1 * 0x9E3779B97F4A7C15ULL ^ k2 * 0xC2B2AE3D27D4EB4FULL) >> 58);
	uint32_t s, ci = x->track_cache[c];

	*created = 0;
	if (ci && x->tracks[ci - 1].k1 == k1 && x->tracks[ci - 1].k2 == k2)
		return &x->tracks[ci - 1];
	if (x->track_hash_cap) {
		for (s = track_slot(x, k1, k2);; s = (s + 1) & (uint32_t)(x->track_hash_cap - 1)) {
			uint32_t i = x->track_hash[s];

			if (!i)
				break;
			if (x->tracks[i - 1].k1 == k1 && x->tracks[i - 1].k2 == k2) {
				x->track_cache[c] = i;
				return &x->tracks[i - 1];
			}
		}
	}
	if (x->ntracks == x->tracks_cap) {
		struct xtrack *nt = tsm__grow(x->tracks, &x->tracks_cap, 64, sizeof(*nt));

		if (!nt)
			return NULL;
		x->tracks = nt;
	}
	if (2 * (x->ntracks + 1) > x->track_hash_cap) {
		size_t cap = x->track_hash_cap ? 2 * x->track_hash_cap : 256;
		uint32_t *nh = tsm__calloc(cap, sizeof(*nh));

		if (!nh)
			return NULL;
		tsm__free(x->track_hash);
		x->track_hash = nh;
		x->track_hash_cap = cap;
		for (size_t i = 0; i < x->ntracks; i++) {
			uint32_t t = track_slot(x, x->tracks[i].k1, x->tracks[i].k2);

			while (x->track_hash[t])
				t = (t + 1) & (uint32_t)(cap - 1);
			x->track_hash[t] = (uint32_t)(i + 1);
		}
	}
	for (s = track_slot(x, k1, k2); x->track_hash[s];
	     s = (s + 1) & (uint32_t)(x->track_hash_cap - 1))
		;
	memset(&x->tracks[x->ntracks], 0, sizeof(x->tracks[0]));
	x->tracks[x->ntracks].k1 = k1;
	x->tracks[x->ntracks].k2 = k2;
	x->track_hash[s] = (uint32_t)(++x->ntracks);
	x->track_cache[c] = (uint32_t)x->ntracks;
	*created = 1;
	return &x->tracks[x->ntracks - 1];
}

int tsm__xends_grow(uint64_t **ends, uint32_t *cap)
{
	size_t c = *cap;
	uint64_t *ne = c < UINT32_MAX / 2 ? tsm__grow(*ends, &c, 8, sizeof(*ne)) : NULL;

	if (!ne)
		return TSM_FAIL(TSM_NOMEM, "slice stack");
	*ends = ne;
	*cap = (uint32_t)c;
	return 0;
}

/* tsm__xlane_assign found no lane: a new one holding the slice; its index or TSM_NOMEM. */
int tsm__xlane_new(struct xtrack *t, uint64_t end)
{
	struct xlane *nl = tsm__realloc(t->lanes, (t->nlanes + 1) * sizeof(*nl));
	int rc;

	if (!nl)
		return TSM_FAIL(TSM_NOMEM, "track lanes");
	t->lanes = nl;
	memset(&t->lanes[t->nlanes], 0, sizeof(*nl));
	rc = tsm__xlane_push(&t->lanes[t->nlanes], end);
	if (rc < 0)
		return rc;
	return (int)t->nlanes++;
}

/* ---- the time-order merge ---------------------------------------------------- */

/* Does the export leave any event out? */
static int filtering(const tsm__xctx *x)
{
	const tsm_export_opts *o = &x->o;

	return o->kind_mask || o->from_ns || o->to_ns || o->device >= 0 || o->stream >= 0 ||
	       o->rank >= 0;
}

/* Does `ev` pass the filters? r: the reader it came from (its processes' ranks). */
static int keep(const tsm__xctx *x, const tsm_reader *r, const tsm_event *ev)
{
	const tsm_export_opts *o = &x->o;

	if (o->kind_mask && !(o->kind_mask & (1u << ev->kind)))
		return 0;
	if (ev->end_ns < o->from_ns)
		return 0;
	if (o->to_ns && ev->start_ns > o->to_ns)
		return 0;
	if (o->device >= 0 && ev->device != (uint32_t)o->device)
		return 0;
	if (o->stream >= 0 && ev->stream != (uint64_t)o->stream)
		return 0;
	if (o->rank >= 0 && tsm__xrank(r, ev->pid) != o->rank)
		return 0;
	return 1;
}

/* Index entries by first start, then offset. */
static int order_cmp(const void *a, const void *b)
{
	const sbt_index_entry *x = *(const sbt_index_entry *const *)a;
	const sbt_index_entry *y = *(const sbt_index_entry *const *)b;

	if (x->min_start != y->min_start)
		return x->min_start < y->min_start ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

/*
 * With the index of a seekable file, read the event blocks in the order of
 * their first start (those the time window keeps). The watermark of a run is
 * then the next block's first start, exact, and the merge holds only the
 * blocks whose time ranges overlap: a block that reaches far back (a
 * producer that lagged) is read when its time comes instead of holding
 * every block read before it in memory.
 */
static int build_order(tsm__xctx *x)
{
	tsm_reader *r = x->r;
	size_t n = 0;
	int rc = tsm__reader_build_index(r); /* a torn file: from a pass over its chunks */

	/* every definition first: processes and devices may come after the events (imports) */
	if (rc >= 0)
		rc = tsm__reader_defs_all(r);
	if (rc < 0)
		return rc;
	if (!r->index || !r->seekable)
		return 0;
	x->order = tsm__malloc((r->nindex ? r->nindex : 1) * sizeof(*x->order));
	if (!x->order)
		return TSM_FAIL(TSM_NOMEM, "export: index of %zu blocks", r->nindex);
	for (size_t i = 0; i < r->nindex; i++) {
		const sbt_index_entry *e = &r->index[i];

		if (e->type == SBT_EVTB && e->max_end >= r->from_ns && e->min_start <= r->to_ns)
			x->order[n++] = e;
	}
	qsort(x->order, n, sizeof(*x->order), order_cmp);
	x->norder = n;
	return 0;
}

static int run_append(struct xrun *run, const tsm_event *ev)
{
	if (run->n == run->cap) {
		tsm_event *ne = tsm__grow(run->ev, &run->cap, 4096, sizeof(*ne));

		if (!ne)
			return TSM_FAIL(TSM_NOMEM, "export: merge buffer of %zu events",
					run->n + 1);
		run->ev = ne;
	}
	run->ev[run->n++] = *ev;
	return 0;
}

void tsm__xprogress(tsm__xctx *x)
{
	if (x->o.progress)
		x->o.progress(tsm_reader_info(x->r)->file_bytes, x->in_total, x->o.progress_user);
}

/*
 * Sift heap entry i down (equal keys: the order is the heap's, the same on every run). It,
 * merge_advance and merge_next run for every event: inlined into their callers' loops (the
 * calls were ~20 instructions per event of the read-ahead's ~440, callgrind).
 */
static inline __attribute__((always_inline)) void heap_down(struct xmerge *m, size_t i)
{
	struct xhent *h = m->heap, e = h[i];
	size_t n = m->nruns;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && h[c + 1].key < h[c].key)
			c++;
		if (!(h[c].key < e.key))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = e;
}

/*
 * Add the next block's run to the merge (its watermark and end-of-input
 * mark with it). Returns 1 when the merge keeps it, 0 when it is empty (the
 * caller reuses it), or TSM_NOMEM.
 */
static int merge_add(struct xmerge *m, struct xrun *run)
{
	uint64_t key;
	size_t i;

	m->watermark = run->watermark;
	m->done = run->last;
	if (!run->n)
		return 0;
	if (m->nruns == m->cap) {
		struct xhent *nh = tsm__grow(m->heap, &m->cap, 8, sizeof(*nh));

		if (!nh)
			return TSM_FAIL(TSM_NOMEM, "export: merge runs");
		m->heap = nh;
	}
	key = run->ev[run->i].start_ns;
	for (i = m->nruns++; i > 0 && key < m->heap[(i - 1) / 2].key; i = (i - 1) / 2)
		m->heap[i] = m->heap[(i - 1) / 2];
	m->heap[i].key = key;
	m->heap[i].run = run;
	m->buffered += run->n;
	if (m->buffered > m->max_buffered)
		m->max_buffered = m->buffered;
	return 1;
}

static int refill(struct xfeed *f, struct xrun *run);

/*
 * Step past the event the last merge_next returned: its run's next window
 * is decoded when it is used up (which overwrites the event), and the run
 * goes back into the heap by its next start, or to the free list when empty.
 */
static inline __attribute__((always_inline)) void merge_advance(struct xmerge *m)
{
	struct xrun *top = m->taken;
	int rc;

	m->taken = NULL;
	m->buffered--;
	if (top->i == top->n && top->decoding) {
		rc = refill(m->feed, top);
		if (rc < 0)
			m->err = rc;
		m->buffered += top->n;
		if (m->buffered > m->max_buffered)
			m->max_buffered = m->buffered;
	}
	if (top->i == top->n) {
		/* its events are all out: reuse it */
		m->heap[0] = m->heap[--m->nruns];
		top->next = m->free;
		m->free = top;
	} else {
		m->heap[0].key = top->ev[top->i].start_ns;
	}
	if (m->nruns)
		heap_down(m, 0);
}

/*
 * The next event in time order (*out: in its run's window, valid until the
 * next call): 0, TSM_AGAIN when the next block must be added first, TSM_END
 * at the end, or the failure to decode a run's next window (met while
 * stepping past the event before).
 */
static inline __attribute__((always_inline)) int merge_next(struct xmerge *m, const tsm_event **out)
{
	struct xrun *top;
	int rc;

	if (m->taken)
		merge_advance(m);
	if (TSM__UNLIKELY(m->err)) {
		rc = m->err;
		m->err = 0;
		return rc;
	}
	if (!m->nruns)
		return m->done ? TSM_END : TSM_AGAIN;
	if (!m->done && m->heap[0].key >= m->watermark)
		return TSM_AGAIN;
	top = m->heap[0].run;
	*out = &top->ev[top->i++];
	m->taken = top;
	return 0;
}

/*
 * After merge_next returned an event of run r (on top of the heap): the
 * largest start up to which r's next events come out before any other
 * run's, as merge_next would hand them out one by one (heap_down leaves r
 * on top while no child's key is smaller; the watermark holds them back
 * unless the input has ended).
 */
static inline uint64_t merge_limit(const struct xmerge *m)
{
	uint64_t lim = UINT64_MAX;

	if (m->nruns > 1)
		lim = m->heap[1].key;
	if (m->nruns > 2 && m->heap[2].key < lim)
		lim = m->heap[2].key;
	if (!m->done && m->watermark - 1 < lim)
		lim = m->watermark - 1; /* starts before it (above the start just released) */
	return lim;
}

/*
 * After merge_next (or merge_take) returned an event: the next event of the
 * same run when it comes out before any other run's (its start <= `lim`,
 * merge_limit's), taken as merge_next would take it; NULL when not. The
 * events taken so follow each other in the run's window.
 */
static inline const tsm_event *merge_take(struct xmerge *m, uint64_t lim)
{
	struct xrun *top = m->taken;

	if (top->i == top->n || top->ev[top->i].start_ns > lim)
		return NULL;
	m->buffered--; /* merge_advance's share for the event before */
	return &top->ev[top->i++];
}

static void run_free(struct xrun *run)
{
	if (run) {
		tsm__block_free(run->blk);
		tsm__free(run->ev);
		tsm__free(run);
	}
}

static void merge_fini(struct xmerge *m)
{
	for (size_t i = 0; i < m->nruns; i++)
		run_free(m->heap[i].run);
	tsm__free(m->heap);
	while (m->free) {
		struct xrun *run = m->free;

		m->free = run->next;
		run_free(run);
	}
}

/* Decode block `e` to its end, keeping nothing: 0 or the error. */
static int check_block(tsm_reader *r, const sbt_index_entry *e)
{
	const tsm_event *ev;
	int rc = tsm__reader_read_block(r, e);

	while (rc >= 0 && r->in_block)
		rc = tsm__block_next(r, &ev);
	return rc == TSM_END ? 0 : rc;
}

/*
 * Reading in time order met an error in block `bad`. Report what reading
 * in file order would have met first, as every other command does: the
 * first failing block (or definition) at a lower offset, if any.
 */
static int first_failure(struct xfeed *f, const sbt_index_entry *bad, int rc)
{
	const tsm__xctx *x = f->x;
	int64_t off = tsm_last_error_offset();
	char msg[512];

	snprintf(msg, sizeof(msg), "%s", tsm_last_error());
	for (size_t i = 0; i < x->norder; i++) {
		const sbt_index_entry *e = x->order[i];
		int rc2;

		/* x->order holds the window's blocks; blocks at lower offsets come first */
		if (e->off >= bad->off)
			continue;
		rc2 = check_block(f->r, e);
		if (rc2 < 0 && (tsm_last_error_offset() < off || off < 0)) {
			rc = rc2;
			off = tsm_last_error_offset();
			snprintf(msg, sizeof(msg), "%s", tsm_last_error());
		}
	}
	return tsm__fail(rc, off, "%s", msg);
}

/* The run's next window: up to SBT_BATCH events of its block that pass the filters. */
static int refill(struct xfeed *f, struct xrun *run)
{
	const tsm__xctx *x = f->x;

	run->n = run->i = 0;
	while (!run->n && run->decoding) {
		uint32_t n, kept = 0;
		int rc = tsm__block_decode_taken(f->r, run->blk, run->ev, &n);

		if (rc == TSM_END) {
			run->decoding = 0;
			break;
		}
		if (rc < 0) {
			run->decoding = 0;
			return rc != TSM_NOMEM ? first_failure(f, run->e, rc) : rc;
		}
		f->read += n;
		if (filtering(x)) {
			for (uint32_t i = 0; i < n; i++)
				if (keep(x, f->r, &run->ev[i]))
					run->ev[kept++] = run->ev[i];
		} else {
			kept = n;
		}
		run->n = kept;
	}
	return 0;
}

/*
 * The next block in start order: read and taken from the reader, its first
 * window decoded; the rest is decoded as the merge uses it up (a window of
 * every block overlapping in time, instead of all their events at once,
 * which left the cache: the events were written to memory and read back).
 */
static int feed_ordered(struct xfeed *f, struct xrun *run)
{
	const tsm__xctx *x = f->x;
	const sbt_index_entry *e;
	sbt_block *b;
	int rc;

	run->last = f->next + 1 >= x->norder;
	if (f->next >= x->norder) {
		run->watermark = UINT64_MAX;
		return 0;
	}
	e = x->order[f->next++];
	run->off = e->off;
	run->e = e;
	run->watermark = run->last ? UINT64_MAX : x->order[f->next]->min_start;
	rc = tsm__reader_read_block(f->r, e);
	if (rc < 0)
		return rc != TSM_NOMEM ? first_failure(f, e, rc) : rc;
	if (!f->r->in_block)
		return 0; /* outside the time window */
	if (run->cap < SBT_BATCH) {
		tsm_event *ne = tsm__realloc(run->ev, SBT_BATCH * sizeof(*ne));

		if (!ne)
			return TSM_FAIL(TSM_NOMEM, "export: merge window");
		run->ev = ne;
		run->cap = SBT_BATCH;
	}
	b = tsm__reader_take_block(f->r, run->blk);
	if (!b)
		return TSM_NOMEM;
	run->blk = b;
	run->decoding = 1;
	return refill(f, run);
}

static int feed_block(struct xfeed *f, struct xrun *run)
{
	const tsm__xctx *x = f->x;
	const tsm_event *ev;
	uint64_t block;
	int rc = 0;

	run->n = run->i = 0;
	run->decoding = 0;
	run->last = 0;
	run->watermark = 0;
	if (x->order)
		return feed_ordered(f, run);
	if (!f->have_pending) {
		rc = tsm_reader_next(f->r, &ev);
		if (rc == TSM_END) {
			run->last = 1;
			run->watermark = UINT64_MAX;
			return 0;
		}
		if (rc < 0)
			return rc;
		f->read++;
		f->pending = *ev;
		f->have_pending = 1;
	}
	run->off = tsm__reader_block_off(f->r);
	block = tsm_reader_info(f->r)->block_count;
	rc = keep(x, f->r, &f->pending) ? run_append(run, &f->pending) : 0;
	f->have_pending = 0;
	while (rc >= 0) {
		rc = tsm_reader_next(f->r, &ev);
		if (rc == TSM_END) {
			rc = 0;
			run->last = 1;
			run->watermark = UINT64_MAX;
			break;
		}
		if (rc < 0)
			break;
		f->read++;
		if (tsm_reader_info(f->r)->block_count != block) {
			f->pending = *ev;
			f->have_pending = 1;
			run->watermark = ev->start_ns;
			break;
		}
		if (keep(x, f->r, ev))
			rc = run_append(run, ev);
	}
	return rc;
}

/*
 * The merge asked for the next block (TSM_AGAIN): feed it a run (a free one
 * or a new one), which goes back to the free list when empty. defs_off (may
 * be NULL): raised past the block, whose definitions the events may use.
 * 0 or an error.
 */
static int merge_feed(struct xmerge *m, struct xfeed *f, uint64_t *defs_off)
{
	struct xrun *run = m->free;
	int rc;

	if (run)
		m->free = run->next;
	else if (!(run = tsm__calloc(1, sizeof(*run))))
		return TSM_FAIL(TSM_NOMEM, "export: merge run");
	rc = feed_block(f, run);
	if (rc >= 0) {
		if (defs_off && run->last)
			*defs_off = UINT64_MAX;
		else if (defs_off && run->off + 1 > *defs_off)
			*defs_off = run->off + 1;
		rc = merge_add(m, run);
	}
	if (rc <= 0) {
		run->next = m->free;
		m->free = run;
	}
	return rc < 0 ? rc : 0;
}

/* ---- read-ahead ---------------------------------------------------------------- */

/* export-internal.h */
int tsm__xslow_test[2];

static uint64_t thread_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* tsm__xslow_test: having worked since `from` (thread CPU time, less `unwork`), spin pct% of it. */
static void slow_pay(uint64_t from, uint64_t unwork, int pct)
{
	uint64_t now = thread_ns(), until = now + (now - from - unwork) * (uint64_t)pct / 100;

	while (thread_ns() < until)
		;
}

/*
 * With more than one thread, a helper thread reads and decodes the blocks
 * (through a clone of the reader) and merges them into time order, handing
 * the exporting thread batches of the events (copies, read in order: the
 * runs' windows are reused as soon as they are merged). The export's own
 * reader then only loads definitions (strings, devices, metadata), up to
 * the blocks a batch's events come from, so names are only ever looked up
 * on the exporting thread.
 */
#define BATCH_EVENTS  4096
#define AHEAD_BATCHES 8
/* Heads (tsm__xpre_fn) are written HEAD_CHUNK events at a time, into a batch's buffer of
 * HEAD_BYTES (Perfetto's take ~30 bytes an event on average; a batch whose buffer runs out
 * leaves the rest to the writer). */
#define HEAD_CHUNK 64
#define HEAD_BYTES (BATCH_EVENTS * 64 + XHEAD_ROOM)
/* The helper plans PLAN_CHUNK events or so at a time, while PLAN_QUEUE batches or more
 * are waiting (ahead_plan); the exporter takes a batch SPAN_AHEAD events at a time
 * (tsm__xsrc_span), and looks between for batches handed over to plan
 * (exporter_plan_queued). */
#define PLAN_CHUNK 64
#define PLAN_QUEUE 2
#define SPAN_AHEAD 512

struct xbatch {
	tsm_event ev[BATCH_EVENTS];
	uint64_t plans[BATCH_EVENTS][XPLAN_BYTES / 8];
	uint32_t side_off[BATCH_EVENTS]; /* where each event's side bytes begin */
	tsm__buf side;
	size_t n, planned; /* events [0, planned) have their plans */
	uint64_t seq;	   /* the helper's count of batches, from 1 */
	uint64_t read;	   /* events read from the file (filtered ones too) since the last batch */
	uint64_t defs_off; /* the events come from blocks before this offset */
	int last;	   /* the end of the input */
	struct xbatch *next;
	/* the heads the helper wrote while the queue was full (ahead_heads): events [0,
	 * nhead) have theirs in head[head_off[i]] up to head[head_off[i + 1]] */
	atomic_size_t nhead; /* written by the helper only, with release */
	int head_full;	     /* the helper's: no room left in head */
	uint8_t *head;	     /* HEAD_BYTES, made on first use */
	uint32_t head_off[BATCH_EVENTS + 1];
};

struct xahead {
	struct xfeed feed;
	struct xmerge m;
	/* the exporter's planning hook, copied: the export's own context shares cache lines
	 * with what the exporting thread writes for every event */
	tsm__xplan_fn plan;
	tsm__xpre_fn pre;
	void *plan_state;
	pthread_t th;
	pthread_mutex_t mu;
	/* each side is woken only when it can go on: the helper when half the batches are
	 * free again (or to quit), the exporter when a batch is ready (or on a failure); a
	 * wake-up that finds nothing to do costs the woken thread two system calls and, in a
	 * VM, its idle vCPU an interrupt (one condition variable broadcast at every batch
	 * about doubled the sleeps per 10M-event export: medians 164-274 against 97-147) */
	pthread_cond_t room, data;
	int helper_waits, exporter_waits;
	int planner_waits; /* the helper sleeps on `room` for the planner (ahead_wait_planner) */
	/* the helper's own */
	uint64_t defs_off;
	uint64_t read_sent; /* feed.read handed over with the batches so far */
	uint64_t seq;	    /* batches filled so far */
	/* planning's hand-over (ahead_plan): the last batch handed over with events to plan
	 * (0: none; written by the helper once it is queued), and the last one the exporter
	 * planned the rest of (release: the planner is the helper's again once this reaches
	 * handed) */
	atomic_uint_least64_t handed, planned_to;
	/* tsm__xslow_test: the helper's time spent waiting for the planner, the exporter's
	 * thread CPU time when it last took a batch */
	uint64_t slow_unwork, slow_mark;
	/* shared, under mu */
	struct xbatch *ready, *ready_tail; /* batches in order */
	size_t nready;
	atomic_size_t nready_seen; /* nready, read without the lock while spinning */
	struct xbatch *bfree;	   /* batches to reuse */
	atomic_int quit;
	tsm__err err; /* the helper's failure (err.status set) */
};

/*
 * Before sleeping on the condition variable, spin a while (up to ~50 us)
 * for nready to leave `full` (0: wait for a batch; AHEAD_BATCHES: for
 * room): the two threads run at about the same speed, so the wait is
 * usually short, and a thread put to sleep costs the other a wake-up
 * system call, and itself the time to be scheduled again.
 */
#define SPINS 2000

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static void spin_while(struct xahead *a, size_t full)
{
	for (int i = 0; i < SPINS; i++) {
		if (atomic_load_explicit(&a->nready_seen, memory_order_acquire) != full)
			return;
		cpu_relax();
	}
}

static void ahead_fail(struct xahead *a, int rc)
{
	pthread_mutex_lock(&a->mu);
	tsm__err_keep(&a->err, rc);
	pthread_cond_signal(&a->data);
	pthread_mutex_unlock(&a->mu);
}

static void ahead_publish(struct xahead *a, struct xbatch *b)
{
	b->defs_off = a->defs_off;
	b->read = a->feed.read - a->read_sent;
	a->read_sent = a->feed.read;
	b->next = NULL;
	pthread_mutex_lock(&a->mu);
	if (a->ready_tail)
		a->ready_tail->next = b;
	else
		a->ready = b;
	a->ready_tail = b;
	a->nready++;
	atomic_store_explicit(&a->nready_seen, a->nready, memory_order_release);
	if (a->exporter_waits)
		pthread_cond_signal(&a->data);
	pthread_mutex_unlock(&a->mu);
}

/*
 * Planning is handed back and forth. The helper plans as it fills a batch
 * while the exporting thread has PLAN_QUEUE batches or more waiting. With
 * fewer, the helper is the slower thread (its vCPU may run at ~0.6x the
 * other's, docs/design/export.md): it stops planning and hands its batch
 * over with the rest of its events unplanned, and goes on merging, ~40%
 * lighter. The exporter plans them, at the latest when it takes the batch
 * (ahead_batch), else as soon as it sees one waiting (exporter_plan_queued).
 * The planner has one owner at a time: the exporter plans only batches
 * handed over, and the helper plans again only once the exporter has
 * planned every one (planned_to reaches handed), so the plans are made in
 * time order, on whichever thread, and the output is the same.
 */
int tsm__xplan_test;

static int ahead_wants_plan(struct xahead *a, const struct xbatch *b)
{
	if (TSM__UNLIKELY(tsm__xplan_test))
		return tsm__xplan_test == 3 ||
		       (tsm__xplan_test == 2 && (b->seq + b->n / PLAN_CHUNK) % 3 != 0);
	return atomic_load_explicit(&a->nready_seen, memory_order_relaxed) >= PLAN_QUEUE;
}

static int ahead_has_planner(struct xahead *a)
{
	/* the helper's own store: relaxed */
	return atomic_load_explicit(&a->planned_to, memory_order_acquire) >=
	       atomic_load_explicit(&a->handed, memory_order_relaxed);
}

static int ahead_heads(struct xahead *a, int full);

/*
 * The exporter has the planner still, with PLAN_QUEUE batches to go: it
 * gives it back within SPAN_AHEAD events (exporter_plan_queued). Going on
 * without planning would hand over every batch from here on (tried: the
 * exporter then planned all 10M events of an export, which took 0.60-0.65
 * s instead of 0.47-0.53), so wait: writing heads of the queued batches, or
 * spinning, SPINS times, then asleep (the two threads may share one CPU: a
 * busy process on the other, and spinning on would only keep the exporter
 * off it). 0 when told to quit.
 */
static int ahead_wait_planner(struct xahead *a)
{
	uint64_t t = TSM__UNLIKELY(tsm__xslow_test[0]) ? thread_ns() : 0;
	int go = 1;

	for (int i = 0; i < SPINS && !ahead_has_planner(a); i++)
		if (!ahead_heads(a, 0))
			cpu_relax();
	if (!ahead_has_planner(a)) {
		pthread_mutex_lock(&a->mu);
		a->planner_waits = 1;
		while (!a->quit && !ahead_has_planner(a))
			pthread_cond_wait(&a->room, &a->mu);
		a->planner_waits = 0;
		go = !a->quit;
		pthread_mutex_unlock(&a->mu);
	}
	if (t)
		a->slow_unwork += thread_ns() - t;
	return go;
}

/*
 * Plan the batch's events not planned yet with the exporter's hook, if it
 * has one and the helper is to (ahead_wants_plan); on a failure the batch
 * keeps the planned ones only. ahead_fill plans every PLAN_CHUNK events or
 * so, while they are still in the cache, in one call: the planner's state
 * stays in registers from one event to the next (planning each event in its
 * own call cost ~30 more instructions per event, callgrind).
 */
/* Plan b's events not planned yet, [planned, n), looking names up in r: *done planned. */
static int plan_rest(tsm__xplan_fn plan, void *state, const tsm_reader *r, struct xbatch *b,
		     size_t *done)
{
	size_t i = b->planned;

	*done = 0;
	return plan(state, r, b->ev + i, b->n - i, b->plans + i, b->side_off + i, &b->side, done);
}

static int ahead_plan(struct xahead *a, struct xbatch *b)
{
	size_t done;
	int rc;

	if (!a->plan) {
		b->planned = b->n;
		return 0;
	}
	if (b->n == b->planned || !ahead_wants_plan(a, b))
		return 0;
	if (!ahead_has_planner(a) && !ahead_wait_planner(a))
		return 0;
	rc = plan_rest(a->plan, a->plan_state, a->feed.r, b, &done);
	if (rc < 0)
		b->n = b->planned + done;
	b->planned = b->n;
	return rc;
}

/* Fill batch b with merged (and planned) events, reading blocks as the merge needs them. */
static int ahead_fill(struct xahead *a, struct xbatch *b)
{
	size_t plan_at = PLAN_CHUNK;
	int rc = 0;

	while (b->n < BATCH_EVENTS) {
		const tsm_event *ev;

		if (b->n >= plan_at) {
			if ((rc = ahead_plan(a, b)) < 0)
				return rc;
			plan_at = b->n + PLAN_CHUNK;
		}
		rc = merge_next(&a->m, &ev);
		if (rc == 0) {
			uint64_t lim = merge_limit(&a->m);

			/* and the run's next events while it would stay on top */
			do
				b->ev[b->n++] = *ev;
			while (b->n < BATCH_EVENTS && (ev = merge_take(&a->m, lim)) != NULL);
			continue;
		}
		if (rc == TSM_END) {
			b->last = 1;
			rc = 0;
			break;
		}
		if (rc < 0 || (rc = merge_feed(&a->m, &a->feed, &a->defs_off)) < 0)
			break; /* the events merged so far are planned and exported first */
	}
	{
		int prc = ahead_plan(a, b);

		return rc < 0 ? rc : prc;
	}
}

/* export-internal.h */
int tsm__xheads_test;

/* Write the heads of b's events from nhead up to `end` (fewer when the buffer runs out). */
static void heads_write(struct xahead *a, struct xbatch *b, size_t end)
{
	size_t i = atomic_load_explicit(&b->nhead, memory_order_relaxed);

	if (!b->head && !(b->head = tsm__malloc(HEAD_BYTES))) {
		b->head_full = 1; /* the exporter writes them all */
		return;
	}
	for (; i < end; i++) {
		uint32_t off = b->head_off[i];

		if (HEAD_BYTES - off < XHEAD_ROOM) {
			b->head_full = 1;
			break;
		}
		b->head_off[i + 1] =
		    off + (uint32_t)a->pre(a->plan_state, &b->ev[i], b->head + off);
	}
	atomic_store_explicit(&b->nhead, i, memory_order_release);
}

/*
 * While the queue is full (or, `full` 0, while the helper waits for the
 * planner: ahead_plan), the exporting thread is behind: take some of its
 * work. The newest ready batch whose events do not all have their heads yet
 * (the exporter reaches it last) gets the next HEAD_CHUNK of them. 1 when
 * some were written (call again), 0 when there is room again or nothing to
 * do. The exporter may take the batch meanwhile: it uses the heads
 * published when it took it (nhead), and the helper writes past those only.
 * The batch is reused only after the helper refills it, so the helper may
 * finish its chunk in a batch the exporter is done with.
 */
static int ahead_heads(struct xahead *a, int full)
{
	struct xbatch *b = NULL;
	size_t i;

	if (!a->pre ||
	    (full && atomic_load_explicit(&a->nready_seen, memory_order_acquire) != AHEAD_BATCHES))
		return 0;
	pthread_mutex_lock(&a->mu);
	for (struct xbatch *c = a->ready; c; c = c->next)
		if (!c->head_full && atomic_load_explicit(&c->nhead, memory_order_relaxed) < c->n)
			b = c;
	pthread_mutex_unlock(&a->mu);
	if (!b)
		return 0;
	i = atomic_load_explicit(&b->nhead, memory_order_relaxed);
	heads_write(a, b, b->n - i > HEAD_CHUNK ? i + HEAD_CHUNK : b->n);
	return 1;
}

static void *ahead_main(void *arg)
{
	struct xahead *a = arg;

	for (;;) {
		int slow = tsm__xslow_test[0];
		uint64_t t = slow ? thread_ns() : 0;
		struct xbatch *b;
		int rc;

		while (ahead_heads(a, 1))
			;
		if (TSM__UNLIKELY(slow))
			slow_pay(t, 0, slow);
		spin_while(a, AHEAD_BATCHES);
		pthread_mutex_lock(&a->mu);
		if (!a->quit && a->nready >= AHEAD_BATCHES) {
			/* full: sleep until half are taken rather than wake for every batch */
			a->helper_waits = 1;
			while (!a->quit && a->nready > AHEAD_BATCHES / 2)
				pthread_cond_wait(&a->room, &a->mu);
			a->helper_waits = 0;
		}
		if (a->quit) {
			pthread_mutex_unlock(&a->mu);
			return NULL;
		}
		b = a->bfree;
		if (b)
			a->bfree = b->next;
		pthread_mutex_unlock(&a->mu);
		if (!b && (b = tsm__malloc(sizeof(*b))) != NULL) {
			memset(&b->side, 0, sizeof(b->side));
			b->head = NULL;
		}
		if (!b) {
			ahead_fail(a, TSM_FAIL(TSM_NOMEM, "export: event batch"));
			return NULL;
		}
		tsm__buf_reset(&b->side);
		b->n = b->planned = 0;
		b->seq = ++a->seq;
		b->last = 0;
		atomic_store_explicit(&b->nhead, 0, memory_order_relaxed);
		b->head_full = 0;
		b->head_off[0] = 0;
		if (TSM__UNLIKELY(slow)) {
			t = thread_ns();
			a->slow_unwork = 0;
		}
		rc = ahead_fill(a, b);
		if (TSM__UNLIKELY(slow))
			slow_pay(t, a->slow_unwork, slow);
		if (TSM__UNLIKELY(tsm__xheads_test == 1) && a->pre)
			heads_write(a, b, b->n);
		/* the events merged before a failure are exported first, as reading serially */
		if (b->n || rc >= 0) {
			/* read before the exporter may plan the rest (it writes planned) */
			int handing = b->planned < b->n;

			ahead_publish(a, b);
			if (handing)
				atomic_store_explicit(&a->handed, b->seq, memory_order_relaxed);
			/* tests: a chunk at a time as the exporter takes the batch and uses it */
			for (size_t i = 0;
			     TSM__UNLIKELY(tsm__xheads_test == 2) && a->pre && i < b->n;
			     i += HEAD_CHUNK)
				heads_write(a, b, b->n - i > HEAD_CHUNK ? i + HEAD_CHUNK : b->n);
		} else {
			tsm__buf_fini(&b->side);
			tsm__free(b->head);
			tsm__free(b);
		}
		if (rc < 0) {
			ahead_fail(a, rc);
			return NULL;
		}
		if (b->last)
			return NULL;
	}
}

static void ahead_stop(tsm__xctx *x)
{
	struct xahead *a = x->ahead;

	if (!a)
		return;
	pthread_mutex_lock(&a->mu);
	a->quit = 1;
	pthread_cond_signal(&a->room);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->th, NULL);
	x->st.max_buffered = a->m.max_buffered;
	merge_fini(&a->m);
	if (x->batch) {
		x->st.events_written += x->bi; /* the events of the batch at hand returned so far */
		x->batch->next = a->ready;
		a->ready = x->batch;
		x->batch = NULL;
	}
	for (struct xbatch *lists[2] = {a->ready, a->bfree}, **l = lists; l < lists + 2; l++)
		while (*l) {
			struct xbatch *b = *l;

			*l = b->next;
			tsm__buf_fini(&b->side);
			tsm__free(b->head);
			tsm__free(b);
		}
	tsm_reader_close(a->feed.r);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->room);
	pthread_cond_destroy(&a->data);
	tsm__free(a);
	x->ahead = NULL;
	tsm__reader_partition(x->r, 0, 0); /* the caller's reader decodes events again */
}

/* Start reading ahead when there are threads to spare and the input is a file; else stay serial. */
static void ahead_start(tsm__xctx *x)
{
	struct xahead *a;

	if (tsm__threads() < 2)
		return;
	a = tsm__calloc(1, sizeof(*a));
	if (!a)
		return;
	if (tsm__reader_clone(x->r, &a->feed.r) < 0 || tsm__reader_defs_all(a->feed.r) < 0) {
		tsm_reader_close(a->feed.r);
		tsm_clear_error(); /* not a file read from its start: serial */
		tsm__free(a);
		return;
	}
	a->feed.x = x;
	a->m.feed = &a->feed;
	a->plan = x->plan;
	a->pre = x->pre;
	a->plan_state = x->plan_state;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->room, NULL);
	pthread_cond_init(&a->data, NULL);
	x->ahead = a;
	if (pthread_create(&a->th, NULL, ahead_main, a) != 0) {
		tsm_reader_close(a->feed.r);
		pthread_mutex_destroy(&a->mu);
		pthread_cond_destroy(&a->room);
		pthread_cond_destroy(&a->data);
		tsm__free(a);
		x->ahead = NULL;
		return;
	}
	/* the export's reader keeps the definitions only */
	tsm__reader_partition(x->r, 1, 1);
}

/*
 * The exporter plans the rest of batch b, handed over (ahead_plan), with its
 * own reader, which has every definition the batch's events draw on once
 * loaded up to defs_off. On a failure the export ends: the batch is not
 * written (its length is the helper's to read meanwhile).
 */
static int exporter_plan(tsm__xctx *x, struct xbatch *b)
{
	size_t done;
	int rc = tsm__reader_defs_upto(x->r, b->defs_off);

	if (rc == 0)
		rc = plan_rest(x->plan, x->plan_state, x->r, b, &done);
	if (rc < 0)
		return rc;
	b->planned = b->n;
	atomic_store_explicit(&x->ahead->planned_to, b->seq, memory_order_release);
	/* under the lock: the helper checks planned_to under it before it sleeps */
	pthread_mutex_lock(&x->ahead->mu);
	if (x->ahead->planner_waits)
		pthread_cond_signal(&x->ahead->room);
	pthread_mutex_unlock(&x->ahead->mu);
	return 0;
}

/*
 * Plan the queued batches handed over: the helper waits for the planner,
 * which would otherwise come back only once this thread reached them (it
 * checks at every span, SPAN_AHEAD events). The batch at hand was planned
 * when it was taken, and the queue is in order.
 */
static int exporter_plan_queued(tsm__xctx *x)
{
	struct xahead *a = x->ahead;
	struct xbatch *queued[AHEAD_BATCHES];
	size_t n = 0;

	pthread_mutex_lock(&a->mu);
	for (struct xbatch *c = a->ready; c && n < AHEAD_BATCHES; c = c->next)
		if (c->planned < c->n)
			queued[n++] = c;
	pthread_mutex_unlock(&a->mu);
	/* only this thread takes batches off the queue: they stay */
	for (size_t i = 0; i < n; i++) {
		int rc = exporter_plan(x, queued[i]);

		if (rc < 0)
			return rc;
	}
	return 0;
}

/*
 * The helper's next batch: the one at hand is given back (all its events
 * returned) and the next waited for. 0, TSM_END after the last batch, or
 * the helper's failure.
 */
static int ahead_batch(tsm__xctx *x)
{
	struct xahead *a = x->ahead;
	struct xbatch *b = x->batch;
	int rc;

	if (b && b->last)
		return TSM_END;
	if (TSM__UNLIKELY(tsm__xslow_test[1]) && b)
		slow_pay(a->slow_mark, 0, tsm__xslow_test[1]);
	spin_while(a, 0);
	pthread_mutex_lock(&a->mu);
	if (b) {
		/* finished (counted per batch: the counters share a cache line with those the
		 * planner updates on the other thread) */
		x->st.events_written += b->n;
		b->next = a->bfree;
		a->bfree = b;
		x->batch = NULL;
	}
	a->exporter_waits = 1;
	while (!a->ready && !a->err.status)
		pthread_cond_wait(&a->data, &a->mu);
	a->exporter_waits = 0;
	b = a->ready;
	if (b) {
		a->ready = b->next;
		if (!a->ready)
			a->ready_tail = NULL;
		a->nready--;
		atomic_store_explicit(&a->nready_seen, a->nready, memory_order_release);
		if (a->helper_waits && a->nready <= AHEAD_BATCHES / 2)
			pthread_cond_signal(&a->room);
	}
	pthread_mutex_unlock(&a->mu);
	if (!b)
		return tsm__err_raise(&a->err);
	x->batch = b;
	x->bi = 0;
	x->st.events_read += b->read;
	tsm__xprogress(x);
	/* handed over (ahead_plan): the rest is planned here, all at once */
	rc = b->planned < b->n ? exporter_plan(x, b) : tsm__reader_defs_upto(x->r, b->defs_off);
	if (TSM__UNLIKELY(tsm__xslow_test[1]))
		a->slow_mark = thread_ns();
	return rc;
}

/* Make sure the batch at hand has events left to return: 0, TSM_END or a failure. */
static int ahead_fresh(tsm__xctx *x)
{
	while (!x->batch || x->bi == x->batch->n) {
		int rc = ahead_batch(x);

		if (rc)
			return rc;
	}
	return 0;
}

/* The next event from the helper's batches. */
static int ahead_next(tsm__xctx *x, const tsm_event **out)
{
	int rc = ahead_fresh(x);

	if (rc)
		return rc;
	*out = &x->batch->ev[x->bi++];
	return 0;
}

/* ---- the source ------------------------------------------------------------------ */

/* The next event of the serial source. */
static int serial_next(tsm__xctx *x, const tsm_event **out)
{
	for (;;) {
		int rc = merge_next(&x->m, out);

		if (rc == 0) {
			x->st.events_written++;
			return 0;
		}
		if (rc != TSM_AGAIN)
			return rc;
		rc = merge_feed(&x->m, &x->feed, NULL);
		if (rc < 0)
			return rc;
		x->st.events_read = x->feed.read;
		tsm__xprogress(x);
	}
}

int tsm__xsrc_next(tsm__xctx *x, const tsm_event **out)
{
	return x->ahead ? ahead_next(x, out) : serial_next(x, out);
}

int tsm__xsrc_span(tsm__xctx *x, struct xspan *sp)
{
	struct xbatch *b;
	size_t nhead;
	int rc;

	if (!x->ahead) {
		/* the next event and those after it in its run's window that come out before any
		 * other run's (as ahead_fill takes them), planned here in one call: the window
		 * stays until the next merge_next */
		const tsm_event *ev;
		uint64_t lim;
		size_t n = 1, done;

		rc = serial_next(x, &ev);
		if (rc)
			return rc;
		lim = merge_limit(&x->m);
		while (n < XSPAN_SERIAL && merge_take(&x->m, lim))
			n++;
		x->st.events_written += n - 1;
		tsm__buf_reset(&x->side);
		rc = x->plan(x->plan_state, x->r, ev, n, x->plan_buf, x->side_off, &x->side, &done);
		sp->ev = ev;
		sp->plan = (const uint64_t(*)[XPLAN_BYTES / 8]) x->plan_buf;
		sp->side = x->side.data;
		sp->side_off = x->side_off;
		sp->n = n;
		sp->nhead = 0;
		return rc;
	}
	rc = ahead_fresh(x);
	if (rc == 0 && atomic_load_explicit(&x->ahead->handed, memory_order_relaxed) >
			   atomic_load_explicit(&x->ahead->planned_to, memory_order_relaxed))
		rc = exporter_plan_queued(x);
	if (rc)
		return rc;
	b = x->batch;
	sp->ev = b->ev + x->bi;
	sp->plan = (const uint64_t(*)[XPLAN_BYTES / 8]) b->plans[x->bi];
	sp->side = b->side.data; /* no side bytes in the whole batch: no buffer either */
	sp->side_off = b->side_off + x->bi;
	sp->n = b->n - x->bi > SPAN_AHEAD ? SPAN_AHEAD : b->n - x->bi;
	/* the helper makes the head buffer before it publishes the first head: b->head may be
	 * read only after nhead says there is one */
	nhead = atomic_load_explicit(&b->nhead, memory_order_acquire);
	sp->nhead = nhead > x->bi ? nhead - x->bi : 0;
	if (sp->nhead > sp->n)
		sp->nhead = sp->n;
	sp->head = sp->nhead ? b->head : NULL;
	sp->head_off = b->head_off + x->bi;
	x->bi += sp->n;
	return 0;
}

/* ---- driver -------------------------------------------------------------------- */

static void xctx_fini(tsm__xctx *x)
{
	ahead_stop(x);
	if (x->plan_free)
		x->plan_free(x->plan_state);
	tsm__buf_fini(&x->side);
	merge_fini(&x->m);
	for (size_t i = 0; i < x->ntracks; i++) {
		for (uint32_t l = 0; l < x->tracks[i].nlanes; l++)
			tsm__free(x->tracks[i].lanes[l].ends);
		tsm__free(x->tracks[i].lanes);
	}
	tsm__free(x->tracks);
	tsm__free(x->track_hash);
	tsm__free(x->flows);
	tsm__free(x->order);
	tsm__idstrs_fini(&x->names);
	tsm__idstrs_fini(&x->esc_raw);
	tsm__idstrs_fini(&x->esc_name);
}

int tsm_export_reader(tsm_reader *r, const char *out_path, const tsm_export_opts *opts,
		      tsm_export_stats *stats)
{
	tsm__xctx *x;
	unsigned fmt = TSM_EXPORT_AUTO;
	int gz = 0, rc, rc2;

	if (stats)
		memset(stats, 0, sizeof(*stats));
	if (!r || !out_path)
		return TSM_FAIL(TSM_INVAL, "export: no reader or output path");
	x = tsm__calloc(1, sizeof(*x));
	if (!x)
		return TSM_FAIL(TSM_NOMEM, "export context");
	if (opts)
		x->o = *opts;
	else
		tsm_export_opts_init(&x->o);
	x->r = r;
	tsm_export_format_from_path(out_path, &fmt, &gz);
	x->format = x->o.format ? x->o.format : fmt;
	if (x->o.gzip >= 0)
		gz = x->o.gzip;
	if (x->format < TSM_EXPORT_PERFETTO || x->format > TSM_EXPORT_KINETO) {
		rc = TSM_FAIL(TSM_INVAL,
			      "%s: cannot tell the export format from the name (use .pftrace, "
			      ".json, .pt.trace.json, optionally + .gz, or set the format)",
			      out_path);
		goto out;
	}
	x->demangle = x->o.demangle >= 0 ? x->o.demangle : x->format != TSM_EXPORT_KINETO;
	x->in_total = tsm_reader_info(r)->file_bytes;
	if (r->seekable && r->file_size)
		x->in_total = r->file_size;
	x->flows = tsm__calloc(XFLOW_SLOTS, sizeof(*x->flows));
	if (!x->flows) {
		rc = TSM_FAIL(TSM_NOMEM, "export: flow table");
		goto out;
	}
	if (x->o.from_ns || x->o.to_ns) {
		rc = tsm_reader_seek_ns(r, x->o.from_ns, x->o.to_ns ? x->o.to_ns : UINT64_MAX);
		if (rc < 0)
			goto out;
	}
	rc = build_order(x);
	if (rc < 0)
		goto out;
	rc =
	    tsm__sink_open(&x->out, out_path, gz ? (x->o.gzip_level > 0 ? x->o.gzip_level : 6) : 0);
	if (rc < 0)
		goto out;
	x->feed.x = x;
	x->feed.r = r;
	x->m.feed = &x->feed;
	if (x->format == TSM_EXPORT_PERFETTO) {
		rc = tsm__perfetto_plan_init(x);
		if (rc < 0)
			goto out;
	}
	ahead_start(x);
	switch (x->format) {
	case TSM_EXPORT_PERFETTO:
		rc = tsm__export_perfetto(x);
		break;
	case TSM_EXPORT_CHROME:
		rc = tsm__export_chrome(x);
		break;
	default:
		rc = tsm__export_kineto(x);
		break;
	}
	if (x->ahead) {
		ahead_stop(x); /* its merge's figures */
	} else {
		x->st.max_buffered = x->m.max_buffered;
		x->st.events_read = x->feed.read;
	}
	x->st.bytes_uncompressed = x->out.in_bytes + x->out.len;
	rc2 = tsm__sink_close(&x->out);
	if (!rc)
		rc = rc2;
	x->st.bytes_written = x->out.out_bytes;
	x->st.tracks = x->ntracks;
out:
	if (stats)
		*stats = x->st;
	tsm__sink_close(&x->out);
	xctx_fini(x);
	tsm__free(x);
	return rc;
}

int tsm_export_file(const char *in_path, const char *out_path, const tsm_export_opts *opts,
		    tsm_export_stats *stats)
{
	tsm_reader *r = NULL;
	int rc;

	if (stats)
		memset(stats, 0, sizeof(*stats));
	rc = tsm_reader_open(in_path, 0, &r);
	if (rc < 0)
		return rc;
	rc = tsm_export_reader(r, out_path, opts, stats);
	tsm_reader_close(r);
	return rc;
}

#define CAT(lit) (*n = sizeof(lit) - 1, lit)
const char *tsm__xcategory(const tsm_event *ev, int host, int kineto, size_t *n)
{
	switch (ev->kind) {
	case TSM_EV_KERNEL:
		return CAT("kernel");
	case TSM_EV_MEMCPY:
		return CAT("gpu_memcpy");
	case TSM_EV_MEMSET:
		return CAT("gpu_memset");
	case TSM_EV_SYNC:
		return CAT("cuda_sync");
	case TSM_EV_RUNTIME:
		return CAT("cuda_runtime");
	case TSM_EV_DRIVER:
		return CAT("cuda_driver");
	case TSM_EV_CPU_OP:
		return CAT("cpu_op");
	case TSM_EV_NVTX_RANGE:
	case TSM_EV_NVTX_MARK:
		return host ? CAT("user_annotation") : CAT("gpu_user_annotation");
	case TSM_EV_OVERHEAD:
		return CAT("overhead");
	case TSM_EV_ALLOC:
		return kineto ? CAT("cpu_instant_event") : CAT("alloc");
	case TSM_EV_FREE:
		return kineto ? CAT("cpu_instant_event") : CAT("free");
	case TSM_EV_DROPPED:
		return CAT("dropped");
	default:
		return CAT("counter");
	}
}
#undef CAT
