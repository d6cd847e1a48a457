/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sweeps over a finished timeline's lanes.
 *
 * Device sweep (utilisation, concurrency, overlap): the device's lanes are
 * each sorted by start, so a k-way merge of the lane heads (k = streams
 * of the device, a handful; a linear scan of the heads beats a heap)
 * yields all busy ops by start. A binary min-heap holds the end times of
 * the ops running at the sweep point (its size is the concurrency). Between
 * two consecutive points the elapsed time goes to the concurrency level,
 * to busy time when anything runs, to each class that runs and to the
 * overlap pairs (compute with copy/set, compute with communication,
 * communication with copy/set). O(n log c), no per-op memory.
 *
 * Stream state machine: per GPU lane four interval sets are built as
 * sorted, disjoint unions: R running (the lane's kernels/copies/sets),
 * W waiting (stream-wait-event records), L launching ([API start, op
 * start] of each launched op; these are sorted by their end, so the union
 * is taken walking backwards) and S synchronising (stream syncs on this
 * stream, device syncs of its device). With |X| the measure of a union,
 * the exclusive times are running |R|, waiting |RW| - |R|, launching
 * |RWL| - |RW|, synchronising |RWLS| - |RWL| and idle span - |RWLS|,
 * within the trace's span.
 */
#include <stdlib.h>

#include "timeline-internal.h"

typedef struct ivl {
	uint64_t s, e;
} ivl;

typedef struct ivec {
	ivl *v;
	size_t n, cap;
	int lent; /* v is a piece of the timeline's spare block: grow by copying, never free */
} ivec;

static int ivec_push(ivec *x, uint64_t s, uint64_t e)
{
	if (x->n >= x->cap) {
		size_t ncap = x->cap ? x->cap * 2 : 256;
		ivl *n = x->lent ? tsm__malloc(ncap * sizeof(*n))
				 : tsm__realloc(x->v, ncap * sizeof(*n));

		if (!n)
			return TSM_FAIL(TSM_NOMEM, "timeline: %zu intervals", ncap);
		if (x->lent && x->n)
			memcpy(n, x->v, x->n * sizeof(*n));
		x->lent = 0;
		x->v = n;
		x->cap = ncap;
	}
	x->v[x->n].s = s;
	x->v[x->n++].e = e;
	return 0;
}

/* Append [s, e) to a union built in increasing start order. */
static int union_add(ivec *x, uint64_t s, uint64_t e)
{
	if (x->n && s <= x->v[x->n - 1].e) {
		if (e > x->v[x->n - 1].e)
			x->v[x->n - 1].e = e;
		return 0;
	}
	return ivec_push(x, s, e);
}

/*
 * m[j] = measure of the union of lists[0..j] (four sorted, disjoint lists),
 * all in one merge by start: an interval of list i extends the running
 * unions j >= i. Empty lists take no part in the merge.
 */
static void union_measures(const ivec *const *lists, uint64_t *m)
{
	const ivl *v[4], *end[4];
	uint64_t cs[4] = {0}, ce[4] = {0};
	int open[4] = {0}, id[4], k = 0;

	for (int i = 0; i < 4; i++) {
		m[i] = 0;
		if (lists[i]->n) {
			v[k] = lists[i]->v;
			end[k] = lists[i]->v + lists[i]->n;
			id[k++] = i;
		}
	}
	while (k) {
		int bi = 0;
		const ivl *x;

		for (int i = 1; i < k; i++)
			if (v[i]->s < v[bi]->s)
				bi = i;
		x = v[bi]++;
		for (int j = id[bi]; j < 4; j++) {
			if (open[j] && x->s <= ce[j]) {
				ce[j] = tl_max(ce[j], x->e);
			} else {
				if (open[j])
					m[j] += ce[j] - cs[j];
				cs[j] = x->s;
				ce[j] = x->e;
				open[j] = 1;
			}
		}
		if (v[bi] == end[bi]) {
			for (int i = bi; i + 1 < k; i++) {
				v[i] = v[i + 1];
				end[i] = end[i + 1];
				id[i] = id[i + 1];
			}
			k--;
		}
	}
	for (int j = 0; j < 4; j++)
		if (open[j])
			m[j] += ce[j] - cs[j];
}

/* ---- device sweep --------------------------------------------------- */

typedef struct hent {
	uint64_t end;
	uint8_t cls;
} hent;

struct sweep {
	hent *heap;
	size_t n, cap;
	uint64_t cur;
	uint32_t cnt[4];
	tsm_tl_device *d;
};

static void advance(struct sweep *w, uint64_t t)
{
	tsm_tl_device *d = w->d;
	uint64_t dt;
	int comp, copy, comm;

	if (t <= w->cur)
		return;
	dt = t - w->cur;
	w->cur = t;
	d->concurrency_ns[w->n < TSM_TL_MAX_CONCURRENCY ? w->n : TSM_TL_MAX_CONCURRENCY - 1] += dt;
	if (!w->n)
		return;
	d->busy_ns += dt;
	for (int c = 0; c < 4; c++)
		if (w->cnt[c])
			d->class_ns[c] += dt;
	comp = w->cnt[TSM_OPC_COMPUTE] > 0;
	comm = w->cnt[TSM_OPC_COMM] > 0;
	copy = w->cnt[TSM_OPC_COPY] + w->cnt[TSM_OPC_SET] > 0;
	if (comp && copy)
		d->compute_copy_ns += dt;
	if (comp && comm)
		d->compute_comm_ns += dt;
	if (comm && copy)
		d->comm_copy_ns += dt;
}

static void heap_pop(struct sweep *w)
{
	size_t i = 0;
	hent last = w->heap[--w->n];

	w->cnt[w->heap[0].cls]--;
	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= w->n)
			break;
		if (c + 1 < w->n && w->heap[c + 1].end < w->heap[c].end)
			c++;
		if (last.end <= w->heap[c].end)
			break;
		w->heap[i] = w->heap[c];
		i = c;
	}
	w->heap[i] = last;
}

static int heap_push(struct sweep *w, uint64_t end, uint8_t cls)
{
	size_t i;

	if (w->n >= w->cap) {
		hent *n = tsm__grow(w->heap, &w->cap, 64, sizeof(*n));

		if (!n)
			return TSM_FAIL(TSM_NOMEM, "timeline: sweep");
		w->heap = n;
	}
	for (i = w->n++; i > 0 && w->heap[(i - 1) / 2].end > end; i = (i - 1) / 2)
		w->heap[i] = w->heap[(i - 1) / 2];
	w->heap[i].end = end;
	w->heap[i].cls = cls;
	w->cnt[cls]++;
	return 0;
}

/*
 * k-way merge of a device's lanes by start, skipping sync records: each
 * lane's head position, end and head start are kept side by side, so one
 * step is a scan of k starts (k = the device's streams, a handful).
 */
struct heads {
	uint32_t *pos, *end;
	uint64_t *start;
	size_t k;
};

static inline void head_fix(const tsm_timeline *tl, struct heads *h, size_t i)
{
	uint32_t p = h->pos[i], e = h->end[i];

	while (p < e && tl->ops[p].cls == TSM_OPC_SYNC)
		p++;
	h->pos[i] = p;
	h->start[i] = p < e ? tl->ops[p].start_ns : UINT64_MAX;
}

static int heads_init(struct heads *h, const tsm_timeline *tl, size_t l0, size_t l1)
{
	h->k = l1 - l0;
	h->pos = tsm__malloc((h->k + 1) * 2 * sizeof(*h->pos));
	h->start = tsm__malloc((h->k + 1) * sizeof(*h->start));
	if (!h->pos || !h->start) {
		tsm__free(h->pos);
		tsm__free(h->start);
		return TSM_FAIL(TSM_NOMEM, "timeline: sweep");
	}
	h->end = h->pos + h->k + 1;
	for (size_t i = 0; i < h->k; i++) {
		h->pos[i] = tl->lanes[l0 + i].first;
		h->end[i] = tl->lanes[l0 + i].first + tl->lanes[l0 + i].count;
		head_fix(tl, h, i);
	}
	return 0;
}

static void heads_free(struct heads *h)
{
	tsm__free(h->pos);
	tsm__free(h->start);
}

/* Next busy op by start (ties: the first lane); TL_NONE when done. */
static inline uint32_t next_op(const tsm_timeline *tl, struct heads *h)
{
	size_t b = 0;
	uint32_t o;

	for (size_t i = 1; i < h->k; i++)
		if (h->start[i] < h->start[b])
			b = i;
	if (TSM__UNLIKELY(h->pos[b] >= h->end[b])) {
		/* lane b is done: the rest are done too, or start at UINT64_MAX */
		for (b = 0; b < h->k && h->pos[b] >= h->end[b]; b++)
			;
		if (b == h->k)
			return TL_NONE;
	}
	o = h->pos[b]++;
	head_fix(tl, h, b);
	return o;
}

int tsm__tl_sweep(tsm_timeline *tl)
{
	struct sweep w = {0};
	size_t l0 = 0;
	int rc = 0;

	tl->devices = tsm__calloc(tl->ngpu + 1, sizeof(*tl->devices));
	if (!tl->devices) {
		rc = TSM_FAIL(TSM_NOMEM, "timeline: devices");
		goto out;
	}
	while (l0 < tl->ngpu) {
		size_t l1 = l0 + 1;
		tsm_tl_device *d = &tl->devices[tl->ndevices++];
		struct heads h;
		uint32_t o;
		int first = 1;

		while (l1 < tl->ngpu && tl->lanes[l1].device == tl->lanes[l0].device)
			l1++;
		d->device = tl->lanes[l0].device;
		d->lanes = (uint32_t)(l1 - l0);
		rc = heads_init(&h, tl, l0, l1);
		if (rc < 0)
			goto out;
		w.n = 0; /* the heap's storage is kept from device to device */
		memset(w.cnt, 0, sizeof(w.cnt));
		w.d = d;
		while ((o = next_op(tl, &h)) != TL_NONE) {
			const tsm_tl_op *op = &tl->ops[o];

			if (first) {
				w.cur = d->first_ns = op->start_ns;
				first = 0;
			}
			while (w.n && w.heap[0].end <= op->start_ns) {
				advance(&w, w.heap[0].end);
				heap_pop(&w);
			}
			advance(&w, op->start_ns);
			rc = heap_push(&w, op->end_ns, op->cls);
			if (rc < 0) {
				heads_free(&h);
				goto out;
			}
			if (w.n > d->max_concurrency)
				d->max_concurrency = (uint32_t)w.n;
			d->last_ns = tl_max(d->last_ns, op->end_ns);
		}
		while (w.n) {
			advance(&w, w.heap[0].end);
			heap_pop(&w);
		}
		heads_free(&h);
		l0 = l1;
	}
out:
	tsm__free(w.heap);
	return rc;
}

/* ---- per-stream states ------------------------------------------------ */

static int cmp_ivl(const void *a, const void *b)
{
	const ivl *x = a, *y = b;

	if (x->s != y->s)
		return x->s < y->s ? -1 : 1;
	return x->e < y->e ? -1 : x->e > y->e;
}

static int lane_states(tsm_timeline *tl, size_t li, ivec *r, ivec *wv, ivec *lv, ivec *sv)
{
	tsm_tl_lane *l = &tl->lanes[li];
	uint64_t span = tl->sum.last_ns - tl->sum.first_ns, m[4];
	const ivec *lists[4] = {r, wv, lv, sv};
	int rc;

	r->n = wv->n = lv->n = sv->n = 0;
	for (uint32_t i = 0; i < l->count; i++) {
		const tsm_tl_op *op = &tl->ops[l->first + i];

		if (op->cls != TSM_OPC_SYNC)
			rc = union_add(r, op->start_ns, op->end_ns);
		else if (op->sub == TSM_SYNC_STREAM_WAIT_EVENT)
			rc = union_add(wv, op->start_ns, op->end_ns);
		else
			rc = 0;
		if (rc < 0)
			return rc;
	}
	/* launch intervals end at op starts (sorted): build the union backwards */
	for (uint32_t i = l->count; i-- > 0;) {
		const tsm_tl_op *op = &tl->ops[l->first + i];
		uint64_t a;

		if (op->api == TL_NONE)
			continue;
		a = tl->apis[op->api - tl->nops].start_ns;
		if (a >= op->start_ns)
			continue;
		if (lv->n && op->start_ns >= lv->v[lv->n - 1].s) {
			if (a < lv->v[lv->n - 1].s)
				lv->v[lv->n - 1].s = a;
		} else {
			rc = ivec_push(lv, a, op->start_ns);
			if (rc < 0)
				return rc;
		}
	}
	for (size_t i = 0; i < lv->n / 2; i++) {
		ivl t = lv->v[i];

		lv->v[i] = lv->v[lv->n - 1 - i];
		lv->v[lv->n - 1 - i] = t;
	}
	for (size_t i = 0; i < tl->nhsyncs; i++) {
		const tl_hsync *h = &tl->hsyncs[i];

		if (h->pid != l->pid || (h->device != TSM_DEVICE_NONE && h->device != l->device))
			continue;
		if (h->type == TSM_SYNC_STREAM ? h->stream != l->stream
					       : h->type != TSM_SYNC_CONTEXT)
			continue;
		rc = ivec_push(sv, h->start_ns, h->end_ns);
		if (rc < 0)
			return rc;
	}
	if (sv->n > 1) {
		size_t k = 0;

		qsort(sv->v, sv->n, sizeof(*sv->v), cmp_ivl);
		for (size_t i = 1; i < sv->n; i++) {
			if (sv->v[i].s <= sv->v[k].e)
				sv->v[k].e = tl_max(sv->v[k].e, sv->v[i].e);
			else
				sv->v[++k] = sv->v[i];
		}
		sv->n = k + 1;
	}
	union_measures(lists, m);
	l->busy_ns = m[0];
	l->state_ns[TSM_SS_RUNNING] = m[0];
	l->state_ns[TSM_SS_WAITING] = m[1] - m[0];
	l->state_ns[TSM_SS_LAUNCHING] = m[2] - m[1];
	l->state_ns[TSM_SS_SYNCING] = m[3] - m[2];
	l->state_ns[TSM_SS_IDLE] = span > m[3] ? span - m[3] : 0;
	return 0;
}

int tsm__tl_states(tsm_timeline *tl, size_t l0, size_t l1, void *scratch, size_t bytes)
{
	ivec v[4] = {{0}};
	size_t room = bytes / 4 & ~(size_t)63;
	int rc = 0;

	/* the four unions start in equal quarters of the scratch block (already faulted in) */
	for (int k = 0; k < 4 && scratch && room >= 256 * sizeof(ivl); k++) {
		v[k].v = (ivl *)(void *)((char *)scratch + k * room);
		v[k].cap = room / sizeof(ivl);
		v[k].lent = 1;
	}
	for (size_t li = l0; li < l1; li++) {
		rc = lane_states(tl, li, &v[0], &v[1], &v[2], &v[3]);
		if (rc < 0)
			break;
	}
	for (int k = 0; k < 4; k++)
		if (!v[k].lent)
			tsm__free(v[k].v);
	return rc;
}

/* ---- utilisation over time ---------------------------------------------- */

static void add_bins(uint64_t s, uint64_t e, uint64_t from, uint64_t to, uint32_t nbins,
		     uint64_t *busy)
{
	uint64_t span = to - from;

	s = tl_max(s, from);
	e = tl_min(e, to);
	while (s < e) {
		uint64_t b = (uint64_t)((unsigned __int128)(s - from) * nbins / span);
		uint64_t bend =
		    from + (uint64_t)(((unsigned __int128)(b + 1) * span + nbins - 1) / nbins);
		uint64_t x = tl_min(e, bend);

		if (x <= s) /* rounding at a bin edge */
			x = s + 1;
		busy[b < nbins ? b : nbins - 1] += x - s;
		s = x;
	}
}

int tsm_timeline_busy_bins(const tsm_timeline *tl, uint16_t device, uint64_t from_ns,
			   uint64_t to_ns, uint32_t nbins, uint64_t *busy)
{
	size_t l0 = 0, l1;
	struct heads h;
	uint64_t us = 0, ue = 0;
	uint32_t o;
	int open = 0, rc;

	if (!tl->finished || !nbins || to_ns <= from_ns)
		return TSM_FAIL(TSM_INVAL, "timeline: bad utilisation window");
	memset(busy, 0, nbins * sizeof(*busy));
	while (l0 < tl->ngpu && tl->lanes[l0].device != device)
		l0++;
	for (l1 = l0; l1 < tl->ngpu && tl->lanes[l1].device == device; l1++)
		;
	if (l0 == l1)
		return 0;
	rc = heads_init(&h, tl, l0, l1);
	if (rc < 0)
		return rc;
	while ((o = next_op(tl, &h)) != TL_NONE) {
		const tsm_tl_op *op = &tl->ops[o];

		if (open && op->start_ns <= ue) {
			ue = tl_max(ue, op->end_ns);
			continue;
		}
		if (open)
			add_bins(us, ue, from_ns, to_ns, nbins, busy);
		us = op->start_ns;
		ue = op->end_ns;
		open = 1;
	}
	if (open)
		add_bins(us, ue, from_ns, to_ns, nbins, busy);
	heads_free(&h);
	return 0;
}
