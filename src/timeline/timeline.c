/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Timeline builder: collect, then sort once.
 *
 * Adding. Events arrive in file order: each SBT block is sorted by start
 * but blocks overlap in time, so nothing is assumed about order. GPU ops
 * (40 bytes) and API calls (32 bytes) are appended in file order to one
 * array per type, with each record's lane id (2 bytes) beside it and a
 * count per lane; in-stream sync records, copy sizes, host synchronisations
 * and NVTX ranges go to small side tables. A lane is found through a
 * 64-entry direct-mapped cache keyed by (device, stream, pid) or (pid,
 * tid), in front of a small open-addressing table. tsm_timeline_add only
 * counts and dispatches (tail calls to the record builders), so events that
 * are only counted cost a few instructions. No allocation happens per event
 * beyond amortised array growth (mremap for large blocks: nothing is
 * copied), and there are no pointers in the records.
 *
 * Finishing.
 *  1. Lanes are numbered in display order (GPU lanes by device, stream,
 *     pid; host lanes by pid, tid); the counts give each lane its place.
 *  2. The records of each type are scattered by lane (stable) into the final
 *     array and each lane is sorted by (start, end, correlation) in place:
 *     already sorted lanes cost one check, the others go through an LSD
 *     radix sort of packed (start, index) keys and a gather into scratch
 *     (DEFINE_LANE_GATHER in timeline-internal.h explains why that beats
 *     merging the runs). Fresh pages are what costs here (the kernel zeroes
 *     each one on first touch: a third of the time before), so memory is
 *     recycled: the dead file-order op array is the scratch for the op lanes
 *     and then, resized in place, the final API-call array; the dead
 *     file-order call array is the scratch for the host lanes.
 *  3. graph.c joins ops to their API calls and derives the graph's edges.
 *  4. states.c sweeps each device (utilisation, concurrency, overlap) and
 *     each stream (state machine).
 * Peak memory is the file-order records and the final op array, then the
 * final op and call arrays and the file-order calls, plus the correlation
 * tables of graph.c (docs/design/timeline.md has the sums).
 */
#include <stdlib.h>

#include "timeline-internal.h"

static const char *const state_names[TSM_SS__COUNT] = {"running", "waiting", "launching",
						       "synchronizing", "idle"};
static const char *const class_names[TSM_OPC__COUNT] = {"compute", "communication", "memcpy",
							"memset", "sync"};
static const char *const edge_names[TSM_EDGE__COUNT] = {"?",	  "stream", "thread",
							"launch", "event",  "sync"};

const char *tsm_stream_state_name(unsigned s)
{
	return s < TSM_SS__COUNT ? state_names[s] : "?";
}

const char *tsm_op_class_name(unsigned c)
{
	return c < TSM_OPC__COUNT ? class_names[c] : "?";
}

const char *tsm_edge_type_name(unsigned t)
{
	return t < TSM_EDGE__COUNT ? edge_names[t] : "?";
}

int tsm_timeline_create(tsm_name_fn names, void *user, tsm_timeline **out)
{
	tsm_timeline *tl;

	*out = NULL;
	tl = tsm__calloc(1, sizeof(*tl));
	if (!tl)
		return TSM_FAIL(TSM_NOMEM, "timeline");
	tl->names = names;
	tl->user = user;
	tl->sum.first_ns = UINT64_MAX;
	for (int h = 0; h < 2; h++)
		for (int i = 0; i < TL_LANE_CACHE; i++)
			tl->lane_cache[h][i].id = TL_NONE;
	*out = tl;
	return 0;
}

void tsm_timeline_destroy(tsm_timeline *tl)
{
	if (!tl)
		return;
	tsm__free(tl->op_lane);
	tsm__free(tl->api_lane);
	tsm__free(tl->spare);
	tsm__free(tl->gcount);
	tsm__free(tl->hcount);
	tsm__free(tl->ops);
	tsm__free(tl->apis);
	tsm__free(tl->syncs);
	tsm__free(tl->hsyncs);
	tsm__free(tl->xfers);
	tsm__free(tl->ranges);
	tsm__free(tl->gkeys);
	tsm__free(tl->hkeys);
	tsm__free(tl->lane_hash);
	tsm__free(tl->lanes);
	tsm__free(tl->lane_firsts);
	tsm__free(tl->devices);
	tsm__free(tl->lane_corr_sorted);
	tsm__free(tl->sedges);
	tsm__free(tl->name_class);
	if (tl->cp)
		tsm__free(tl->cp->steps);
	tsm__free(tl->cp);
	tsm__free(tl);
}

/* Grow `*p` (elements of `size`) so that one more fits. */
static int grow(void **p, size_t *cap, size_t n, size_t size)
{
	size_t ncap;
	void *np;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap + *cap / 2 : 1024;
	np = tsm__realloc(*p, ncap * size);
	if (!np)
		return TSM_FAIL(TSM_NOMEM, "timeline: %zu items", ncap);
	*p = np;
	*cap = ncap;
	return 0;
}

/*
 * Grow a file-order record array and its lane ids together (the same
 * capacity). Large blocks are mappings that realloc moves with mremap, so
 * growing copies nothing and each page is touched once.
 */
static int grow_records(void **recs, uint16_t **lanes, size_t *cap, size_t size)
{
	size_t ncap = *cap ? *cap + *cap / 2 : 4096;
	void *np = tsm__realloc(*recs, ncap * size);

	if (!np)
		return TSM_FAIL(TSM_NOMEM, "timeline: %zu records", ncap);
	*recs = np;
	np = tsm__realloc(*lanes, ncap * sizeof(**lanes));
	if (!np)
		return TSM_FAIL(TSM_NOMEM, "timeline: %zu records", ncap);
	*lanes = np;
	*cap = ncap;
	return 0;
}

/* ---- lanes -------------------------------------------------------------- */

static uint64_t key_hash(const tl_lane_key *k)
{
	return tsm__mix64(k->a * 0x9e3779b97f4a7c15ULL ^ k->b ^ ((uint64_t)k->type << 62));
}

static int key_eq(const tl_lane_key *x, const tl_lane_key *y)
{
	return x->a == y->a && x->b == y->b && x->type == y->type;
}

static int rehash(tsm_timeline *tl)
{
	size_t ncap = tl->hash_cap ? tl->hash_cap * 2 : 64, i;
	uint32_t *h = tsm__calloc(ncap, sizeof(*h));

	if (!h)
		return TSM_FAIL(TSM_NOMEM, "timeline: lane table");
	for (i = 0; i < tl->ngpu + tl->nhost; i++) {
		int host = i >= tl->ngpu;
		uint32_t idx = host ? (uint32_t)(i - tl->ngpu) : (uint32_t)i;
		const tl_lane_key *k = host ? &tl->hkeys[idx] : &tl->gkeys[idx];
		size_t j = key_hash(k) & (ncap - 1);

		while (h[j])
			j = (j + 1) & (ncap - 1);
		h[j] = (idx + 1) | (host ? 0x80000000u : 0);
	}
	tsm__free(tl->lane_hash);
	tl->lane_hash = h;
	tl->hash_cap = ncap;
	return 0;
}

/* Lane id (per type) of a key from the table, created on first sight. */
static __attribute__((noinline)) int lane_lookup(tsm_timeline *tl, const tl_lane_key *k,
						 uint32_t *id)
{
	int host = k->type == TSM_LANE_HOST;
	size_t j;
	int rc;

	if ((tl->ngpu + tl->nhost + 1) * 2 > tl->hash_cap) {
		rc = rehash(tl);
		if (rc < 0)
			return rc;
	}
	j = key_hash(k) & (tl->hash_cap - 1);
	for (;; j = (j + 1) & (tl->hash_cap - 1)) {
		uint32_t v = tl->lane_hash[j], idx;
		const tl_lane_key *o;

		if (!v)
			break;
		if (!!(v & 0x80000000u) != host)
			continue;
		idx = (v & 0x7fffffffu) - 1;
		o = host ? &tl->hkeys[idx] : &tl->gkeys[idx];
		if (key_eq(o, k)) {
			*id = idx;
			goto found;
		}
	}
	if (host) {
		if (tl->nhost >= 0xffff)
			return TSM_FAIL(TSM_TOO_LARGE, "timeline: more than 65535 host threads");
		size_t cap = tl->hcap;

		rc = grow((void **)&tl->hkeys, &tl->hcap, tl->nhost, sizeof(*tl->hkeys));
		if (rc < 0)
			return rc;
		rc = grow((void **)&tl->hcount, &cap, tl->nhost, sizeof(*tl->hcount));
		if (rc < 0)
			return rc;
		tl->hkeys[tl->nhost] = *k;
		tl->hcount[tl->nhost] = 0;
		*id = (uint32_t)tl->nhost++;
	} else {
		if (tl->ngpu >= 0xffff)
			return TSM_FAIL(TSM_TOO_LARGE, "timeline: more than 65535 streams");
		size_t cap = tl->gcap;

		rc = grow((void **)&tl->gkeys, &tl->gcap, tl->ngpu, sizeof(*tl->gkeys));
		if (rc < 0)
			return rc;
		rc = grow((void **)&tl->gcount, &cap, tl->ngpu, sizeof(*tl->gcount));
		if (rc < 0)
			return rc;
		tl->gkeys[tl->ngpu] = *k;
		tl->gcount[tl->ngpu] = 0;
		*id = (uint32_t)tl->ngpu++;
	}
	tl->lane_hash[j] = (*id + 1) | (host ? 0x80000000u : 0);
found:
	return 0;
}

/*
 * Lane id of a key: consecutive events alternate between a few streams and
 * threads, so a small direct-mapped cache (a multiply-shift of the key)
 * answers almost every event with one compare.
 */
static inline int lane_id(tsm_timeline *tl, const tl_lane_key *k, uint32_t *id)
{
	int host = k->type == TSM_LANE_HOST;
	unsigned slot =
	    (unsigned)(((k->a * 0x9e3779b97f4a7c15ULL) ^ (k->b * 0xc2b2ae3d27d4eb4fULL)) >> 58);
	tl_lane_slot *c = &tl->lane_cache[host][slot];
	int rc;

	if (TSM__LIKELY(c->id != TL_NONE && c->a == k->a && c->b == k->b)) {
		*id = c->id;
		return 0;
	}
	rc = lane_lookup(tl, k, id);
	if (rc < 0)
		return rc;
	c->a = k->a;
	c->b = k->b;
	c->id = *id;
	return 0;
}

/* ---- adding ------------------------------------------------------------- */

/* Communication kernels are recognised by name; the answer is cached per string id. */
static uint8_t name_class(tsm_timeline *tl, uint32_t name)
{
	const char *s;
	char buf[256];
	uint8_t c;

	if (!tl->names || !name)
		return TSM_OPC_COMPUTE;
	if (name >= tl->name_class_cap) {
		size_t ncap = tl->name_class_cap ? tl->name_class_cap : 256;
		uint8_t *n;

		while (ncap <= name)
			ncap *= 2;
		n = tsm__realloc(tl->name_class, ncap);
		if (!n)
			return TSM_OPC_COMPUTE; /* classification only; a failed cache is not fatal
						 */
		memset(n + tl->name_class_cap, 0, ncap - tl->name_class_cap);
		tl->name_class = n;
		tl->name_class_cap = ncap;
	}
	if (tl->name_class[name])
		return (uint8_t)(tl->name_class[name] - 1);
	s = tl->names(tl->user, name);
	c = TSM_OPC_COMPUTE;
	if (s) {
		const char *d = tsm_demangle(s, buf, sizeof(buf));

		/* "ncclDevKernel_AllReduce...", "ncclKernel_...", "void ncclKernel<...>" */
		if (!strncmp(d, "void ", 5))
			d += 5;
		if (!strncmp(d, "nccl", 4) || !strncmp(s, "nccl", 4))
			c = TSM_OPC_COMM;
	}
	tl->name_class[name] = (uint8_t)(c + 1);
	return c;
}

static __attribute__((noinline)) int add_op(tsm_timeline *tl, const tsm_event *ev)
{
	tl_lane_key k = {((uint64_t)ev->device << 32) | ev->stream, ev->pid, TSM_LANE_GPU};
	tsm_tl_op *op;
	uint32_t lane;
	int rc;

	rc = lane_id(tl, &k, &lane);
	if (rc < 0)
		return rc;
	if (TSM__UNLIKELY(tl->nops >= tl->ops_cap)) {
		rc = grow_records((void **)&tl->ops, &tl->op_lane, &tl->ops_cap, sizeof(*tl->ops));
		if (rc < 0)
			return rc;
	}
	if (tl->nops >= UINT32_MAX / 2)
		return TSM_FAIL(TSM_TOO_LARGE, "timeline: too many GPU ops");
	tl->op_lane[tl->nops] = (uint16_t)lane;
	tl->gcount[lane]++;
	op = &tl->ops[tl->nops];
	op->start_ns = ev->start_ns;
	op->end_ns = ev->end_ns;
	op->correlation = ev->correlation;
	op->name = ev->name;
	op->api = TL_NONE;
	op->aux = TL_NONE;
	op->kind = ev->kind;
	op->flags = ev->flags;
	op->sub = 0;
	switch (ev->kind) {
	case TSM_EV_KERNEL:
		if (TSM__LIKELY(ev->name < tl->name_class_cap && tl->name_class[ev->name]))
			op->cls = (uint8_t)(tl->name_class[ev->name] - 1);
		else
			op->cls = name_class(tl, ev->name);
		break;
	case TSM_EV_MEMCPY:
	case TSM_EV_MEMSET:
		rc = grow((void **)&tl->xfers, &tl->xfers_cap, tl->nxfers, sizeof(*tl->xfers));
		if (rc < 0)
			return rc;
		op->aux = (uint32_t)tl->nxfers;
		if (ev->kind == TSM_EV_MEMCPY) {
			op->cls = TSM_OPC_COPY;
			op->sub = ev->u.memcpy.copy_kind < TSM_COPY__COUNT ? ev->u.memcpy.copy_kind
									   : TSM_COPY_UNKNOWN;
			tl->xfers[tl->nxfers].bytes = ev->u.memcpy.bytes;
			tl->xfers[tl->nxfers].src_device = ev->u.memcpy.src_device;
			tl->xfers[tl->nxfers].dst_device = ev->u.memcpy.dst_device;
		} else {
			op->cls = TSM_OPC_SET;
			tl->xfers[tl->nxfers].bytes = ev->u.memset.bytes;
			tl->xfers[tl->nxfers].src_device = ev->device;
			tl->xfers[tl->nxfers].dst_device = ev->device;
		}
		tl->nxfers++;
		break;
	default: /* in-stream sync record */
		rc = grow((void **)&tl->syncs, &tl->syncs_cap, tl->nsyncs, sizeof(*tl->syncs));
		if (rc < 0)
			return rc;
		op->cls = TSM_OPC_SYNC;
		op->sub = ev->u.sync.sync_type;
		op->aux = (uint32_t)tl->nsyncs;
		tl->syncs[tl->nsyncs].event_id = ev->u.sync.event_id;
		tl->syncs[tl->nsyncs].peer = TL_NONE;
		tl->nsyncs++;
	}
	tl->nops++;
	return 0;
}

static __attribute__((noinline)) int add_api(tsm_timeline *tl, const tsm_event *ev)
{
	tl_lane_key k = {ev->pid, ev->tid, TSM_LANE_HOST};
	tsm_tl_api *a;
	uint32_t lane;
	int rc;

	rc = lane_id(tl, &k, &lane);
	if (rc < 0)
		return rc;
	if (TSM__UNLIKELY(tl->napis >= tl->apis_cap)) {
		rc = grow_records((void **)&tl->apis, &tl->api_lane, &tl->apis_cap,
				  sizeof(*tl->apis));
		if (rc < 0)
			return rc;
	}
	if (tl->napis >= UINT32_MAX / 2)
		return TSM_FAIL(TSM_TOO_LARGE, "timeline: too many API calls");
	tl->api_lane[tl->napis] = (uint16_t)lane;
	tl->hcount[lane]++;
	a = &tl->apis[tl->napis];
	a->start_ns = ev->start_ns;
	a->end_ns = ev->end_ns;
	a->correlation = ev->correlation;
	a->name = ev->name;
	a->cbid = (uint16_t)ev->u.api.cbid;
	a->kind = ev->kind;
	a->flags = 0;
	/* Synchronising calls by callback id; graph.c also marks calls that own a sync record. */
	if (ev->kind == TSM_EV_RUNTIME) {
		switch (ev->u.api.cbid) {
		case 126: /* cudaThreadSynchronize */
		case 131: /* cudaStreamSynchronize */
		case 137: /* cudaEventSynchronize */
		case 165: /* cudaDeviceSynchronize */
			a->flags |= TSM_TL_API_SYNC;
		}
	} else {
		switch (ev->u.api.cbid) {
		case 17:  /* cuCtxSynchronize */
		case 121: /* cuEventSynchronize */
		case 126: /* cuStreamSynchronize */
		case 440: /* cuStreamSynchronize_ptsz */
			a->flags |= TSM_TL_API_SYNC;
		}
	}
	tl->napis++;
	return 0;
}

static __attribute__((noinline)) int add_hsync(tsm_timeline *tl, const tsm_event *ev)
{
	tl_hsync *h;
	int rc = grow((void **)&tl->hsyncs, &tl->hsyncs_cap, tl->nhsyncs, sizeof(*tl->hsyncs));

	if (rc < 0)
		return rc;
	h = &tl->hsyncs[tl->nhsyncs++];
	h->start_ns = ev->start_ns;
	h->end_ns = ev->end_ns;
	h->correlation = ev->correlation;
	h->event_id = ev->u.sync.event_id;
	h->pid = ev->pid;
	h->stream = ev->stream;
	h->device = ev->device;
	h->type = ev->u.sync.sync_type;
	h->api = TL_NONE;
	return 0;
}

static __attribute__((noinline)) int add_range(tsm_timeline *tl, const tsm_event *ev)
{
	tsm_tl_range *r;
	int rc = grow((void **)&tl->ranges, &tl->ranges_cap, tl->nranges, sizeof(*tl->ranges));

	if (rc < 0)
		return rc;
	r = &tl->ranges[tl->nranges++];
	r->start_ns = ev->start_ns;
	r->end_ns = ev->end_ns;
	r->tid = ev->tid;
	r->pid = ev->pid;
	r->name = ev->name;
	r->depth = 0;
	r->parent = TL_NONE;
	return 0;
}

static __attribute__((noinline)) int add_refused(const tsm_timeline *tl, const tsm_event *ev)
{
	if (tl->finished)
		return TSM_FAIL(TSM_STATE, "timeline: add after finish");
	return TSM_FAIL(TSM_INVAL, "timeline: event ends before it starts (%llu < %llu)",
			(unsigned long long)ev->end_ns, (unsigned long long)ev->start_ns);
}

/*
 * The per-event entry point stays small (no callee-saved registers to push
 * for the 40% of events that are only counted); the record builders are
 * separate functions reached by tail calls.
 */
int tsm_timeline_add(tsm_timeline *tl, const tsm_event *ev)
{
	tsm_tl_summary *s = &tl->sum;
	uint64_t st = ev->start_ns, en = ev->end_ns;

	if (TSM__UNLIKELY(tl->finished | (en < st)))
		return add_refused(tl, ev);
	/* first_ns starts at UINT64_MAX (create) and is set to 0 at finish when empty */
	s->first_ns = st < s->first_ns ? st : s->first_ns;
	s->last_ns = en > s->last_ns ? en : s->last_ns;
	s->events++;
	s->per_kind[ev->kind < TSM_EV__COUNT ? ev->kind : 0]++;
	switch (ev->kind) {
	case TSM_EV_KERNEL:
	case TSM_EV_MEMCPY:
	case TSM_EV_MEMSET:
		if (ev->device == TSM_DEVICE_NONE)
			return 0;
		return add_op(tl, ev);
	case TSM_EV_SYNC:
		if (ev->device != TSM_DEVICE_NONE &&
		    (ev->u.sync.sync_type == TSM_SYNC_EVENT_RECORD ||
		     ev->u.sync.sync_type == TSM_SYNC_STREAM_WAIT_EVENT))
			return add_op(tl, ev);
		return add_hsync(tl, ev);
	case TSM_EV_RUNTIME:
	case TSM_EV_DRIVER:
		return add_api(tl, ev);
	case TSM_EV_NVTX_RANGE:
		return add_range(tl, ev);
	default:
		return 0;
	}
}

/* ---- finishing: lane order ---------------------------------------------- */

static int cmp_gkey(const void *a, const void *b)
{
	const tl_lane_key *x = a, *y = b;

	if (x->a != y->a)
		return x->a < y->a ? -1 : 1;
	return x->b < y->b ? -1 : x->b > y->b;
}

/* New ids in sorted key order: order[new] = old, remap[old] = new. */
static int sort_lanes(const tl_lane_key *keys, size_t n, uint32_t **remap_out)
{
	uint32_t *remap;
	tl_lane_key *tmp;
	size_t i;

	*remap_out = NULL;
	remap = tsm__malloc((n + 1) * sizeof(*remap));
	tmp = tsm__malloc((n + 1) * sizeof(*tmp));
	if (!remap || !tmp) {
		tsm__free(remap);
		tsm__free(tmp);
		return TSM_FAIL(TSM_NOMEM, "timeline: lane order");
	}
	/* keys are unique: carry the old id in the (unused) type byte's neighbour via a copy */
	for (i = 0; i < n; i++)
		tmp[i] = keys[i];
	/* tiny n (streams, threads): insertion sort keeps it simple and stable */
	for (i = 0; i < n; i++)
		remap[i] = (uint32_t)i;
	for (i = 1; i < n; i++) {
		uint32_t v = remap[i];
		size_t j = i;

		while (j > 0 && cmp_gkey(&tmp[remap[j - 1]], &tmp[v]) > 0) {
			remap[j] = remap[j - 1];
			j--;
		}
		remap[j] = v;
	}
	/* remap now holds order[new] = old; invert it */
	for (i = 0; i < n; i++)
		tmp[i].a = remap[i];
	for (i = 0; i < n; i++)
		remap[tmp[i].a] = (uint32_t)i;
	tsm__free(tmp);
	*remap_out = remap;
	return 0;
}

/* ---- finishing: sorting lanes ------------------------------------------- */

DEFINE_LANE_SORT(sort_ops, tsm_tl_op)
DEFINE_LANE_SORT(sort_apis, tsm_tl_api)
DEFINE_LANE_GATHER(gather_ops, tsm_tl_op, sort_ops)
DEFINE_LANE_GATHER(gather_apis, tsm_tl_api, sort_apis)

static int cmp_range(const void *a, const void *b)
{
	const tsm_tl_range *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->start_ns != y->start_ns)
		return x->start_ns < y->start_ns ? -1 : 1;
	if (x->end_ns != y->end_ns)
		return x->end_ns > y->end_ns ? -1 : 1; /* the enclosing range first */
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return x->name < y->name ? -1 : x->name > y->name;
}

/* Depth and parent by containment within a process: a stack of open ranges. */
static int nest_ranges(tsm_timeline *tl)
{
	uint32_t *stack;
	size_t depth = 0;

	if (!tl->nranges)
		return 0;
	qsort(tl->ranges, tl->nranges, sizeof(*tl->ranges), cmp_range);
	stack = tsm__malloc(tl->nranges * sizeof(*stack));
	if (!stack)
		return TSM_FAIL(TSM_NOMEM, "timeline: range nesting");
	for (size_t i = 0; i < tl->nranges; i++) {
		tsm_tl_range *r = &tl->ranges[i];

		while (depth) {
			const tsm_tl_range *p = &tl->ranges[stack[depth - 1]];

			if (p->pid == r->pid && p->start_ns <= r->start_ns &&
			    r->end_ns <= p->end_ns)
				break;
			depth--;
		}
		r->depth = (uint32_t)depth;
		r->parent = depth ? stack[depth - 1] : TL_NONE;
		stack[depth++] = (uint32_t)i;
	}
	tsm__free(stack);
	return 0;
}

/*
 * Place one record type: scatter the file-order records `src` (lane ids
 * `lane`, old numbering) by lane into `dst`, stable (`next[old lane]` is
 * the lane's first index in `dst`), then sort each lane in place. The
 * scatter writes a few sequential streams (one per lane) and leaves each
 * lane in file order, exactly what the gather expects. An unsorted lane is
 * gathered into `scratch` (`scratch_bytes`: the dead file-order array, whose
 * pages are already faulted in) and copied back; its radix keys go after
 * the gathered records when they fit, else into a buffer of their own.
 */
#define DEFINE_LANE_PLACE(NAME, T, GATHER, MSORT)                                               \
	static int NAME(T *dst, const T *src, const uint16_t *lane, size_t n, size_t *next,     \
			const tsm_tl_lane *lanes, size_t nlanes, void *scratch,                 \
			size_t scratch_bytes)                                                   \
	{                                                                                       \
		size_t i, off = 0;                                                              \
                                                                                                \
		for (i = 0; i < n; i++)                                                         \
			dst[next[lane[i]]++] = src[i];                                          \
		for (size_t l = 0; l < nlanes; l++) {                                           \
			T *a = dst + off;                                                       \
			size_t c = lanes[l].count, need = c * sizeof(T);                        \
			uint64_t *keys, *own = NULL;                                            \
			int rc;                                                                 \
                                                                                                \
			off += c;                                                               \
			for (i = 1; i < c; i++)                                                 \
				if (MSORT##_less(&a[i], &a[i - 1]))                             \
					break;                                                  \
			if (i >= c)                                                             \
				continue; /* already sorted (most lanes) */                     \
			if (need + TL_SORT_WORDS(c) * sizeof(*keys) <= scratch_bytes) {         \
				keys = (uint64_t *)(void *)((char *)scratch + need);            \
			} else {                                                                \
				own = tsm__malloc(TL_SORT_WORDS(c) * sizeof(*keys));            \
				if (!own)                                                       \
					return TSM_FAIL(TSM_NOMEM, "timeline: sorting %zu", c); \
				keys = own;                                                     \
			}                                                                       \
			rc = GATHER((T *)scratch, a, c, keys);                                  \
			tsm__free(own);                                                         \
			if (rc < 0)                                                             \
				return rc;                                                      \
			memcpy(a, scratch, need);                                               \
		}                                                                               \
		return 0;                                                                       \
	}

DEFINE_LANE_PLACE(place_ops, tsm_tl_op, gather_ops, sort_ops)
DEFINE_LANE_PLACE(place_apis, tsm_tl_api, gather_apis, sort_apis)

static int build_lanes(tsm_timeline *tl)
{
	uint32_t *gmap = NULL, *hmap = NULL;
	size_t *next = NULL, pos;
	void *fo = NULL, *fa = NULL;
	int rc;

	tl->nlanes = tl->ngpu + tl->nhost;
	tl->lanes = tsm__calloc(tl->nlanes + 1, sizeof(*tl->lanes));
	tl->lane_firsts = tsm__calloc(tl->nlanes + 1, sizeof(*tl->lane_firsts));
	next = tsm__malloc((tl->nlanes + 1) * sizeof(*next));
	if (!tl->lanes || !tl->lane_firsts || !next) {
		rc = TSM_FAIL(TSM_NOMEM, "timeline: lanes");
		goto out;
	}
	rc = sort_lanes(tl->gkeys, tl->ngpu, &gmap);
	if (rc < 0)
		goto out;
	rc = sort_lanes(tl->hkeys, tl->nhost, &hmap);
	if (rc < 0)
		goto out;
	for (size_t old = 0; old < tl->ngpu; old++) {
		tsm_tl_lane *l = &tl->lanes[gmap[old]];

		l->type = TSM_LANE_GPU;
		l->device = (uint16_t)(tl->gkeys[old].a >> 32);
		l->stream = (uint32_t)tl->gkeys[old].a;
		l->pid = (uint32_t)tl->gkeys[old].b;
		l->count = tl->gcount[old];
	}
	for (size_t old = 0; old < tl->nhost; old++) {
		tsm_tl_lane *l = &tl->lanes[tl->ngpu + hmap[old]];

		l->type = TSM_LANE_HOST;
		l->device = TSM_DEVICE_NONE;
		l->pid = (uint32_t)tl->hkeys[old].a;
		l->tid = tl->hkeys[old].b;
		l->count = tl->hcount[old];
	}
	pos = 0;
	for (size_t i = 0; i < tl->nlanes; i++) {
		tl->lanes[i].first = (uint32_t)pos;
		tl->lane_firsts[i] = (uint32_t)pos;
		pos += tl->lanes[i].count;
	}

	/*
	 * GPU ops: the final array is the only fresh memory; the file-order
	 * array then serves as the sort scratch and, grown or shrunk in place
	 * (realloc, mremap for large blocks), becomes the final API-call array,
	 * so its pages are written again instead of new ones being faulted in.
	 */
	fo = tl->ops;
	tl->ops = tsm__malloc((tl->nops + 1) * sizeof(*tl->ops));
	if (!tl->ops) {
		tl->ops = fo;
		fo = NULL;
		rc = TSM_FAIL(TSM_NOMEM, "timeline: %zu GPU ops", tl->nops);
		goto out;
	}
	for (size_t old = 0; old < tl->ngpu; old++)
		next[old] = tl->lanes[gmap[old]].first;
	rc = place_ops(tl->ops, fo, tl->op_lane, tl->nops, next, tl->lanes, tl->ngpu, fo,
		       tl->ops_cap * sizeof(*tl->ops));
	if (rc < 0)
		goto out;

	fa = tl->apis;
	tl->apis = tsm__realloc(fo, (tl->napis + 1) * sizeof(*tl->apis));
	if (!tl->apis) {
		tl->apis = fa;
		fa = NULL;
		rc = TSM_FAIL(TSM_NOMEM, "timeline: %zu API calls", tl->napis);
		goto out;
	}
	fo = NULL;
	for (size_t old = 0; old < tl->nhost; old++)
		next[old] = tl->lanes[tl->ngpu + hmap[old]].first - tl->nops;
	rc = place_apis(tl->apis, fa, tl->api_lane, tl->napis, next, tl->lanes + tl->ngpu,
			tl->nhost, fa, tl->apis_cap * sizeof(*tl->apis));
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < tl->nhost; i++) {
		tsm_tl_lane *l = &tl->lanes[tl->ngpu + i];
		const tsm_tl_api *a = tl->apis + (l->first - tl->nops);

		for (size_t j = 0; j < l->count; j++)
			l->busy_ns += a[j].end_ns - a[j].start_ns;
	}
	tl->spare = fa; /* lent to graph.c and states.c, freed at the end of finishing */
	tl->spare_bytes = tl->apis_cap * sizeof(*tl->apis);
	tl->spare_used = 0;
	fa = NULL;
out:
	tsm__free(fo);
	tsm__free(fa);
	tsm__free(tl->op_lane);
	tsm__free(tl->api_lane);
	tl->op_lane = tl->api_lane = NULL;
	tsm__free(gmap);
	tsm__free(hmap);
	tsm__free(next);
	return rc;
}

int tsm_timeline_finish(tsm_timeline *tl)
{
	int rc;

	if (tl->finished)
		return TSM_FAIL(TSM_STATE, "timeline: finished twice");
	tl->finished = 1;
	if (!tl->sum.events)
		tl->sum.first_ns = 0;
	rc = build_lanes(tl);
	if (rc < 0)
		return rc;
	rc = nest_ranges(tl);
	if (rc < 0)
		return rc;
	rc = tsm__tl_join(tl);
	if (rc < 0)
		return rc;
	rc = tsm__tl_sweep(tl);
	if (rc < 0)
		return rc;
	rc = tsm__tl_states(tl);
	tsm__free(tl->spare);
	tl->spare = NULL;
	if (rc < 0)
		return rc;
	tl->sum.gpu_lanes = (uint32_t)tl->ngpu;
	tl->sum.host_lanes = (uint32_t)tl->nhost;
	tl->sum.devices = (uint32_t)tl->ndevices;
	tl->sum.ranges = (uint32_t)tl->nranges;
	tl->sum.ops = tl->nops;
	tl->sum.apis = tl->napis;
	return 0;
}

static const char *reader_name(void *user, uint32_t id)
{
	return tsm_reader_string(user, id);
}

int tsm_timeline_build(tsm_reader *r, tsm_timeline **out)
{
	tsm_timeline *tl = NULL;
	const tsm_event *ev;
	int rc;

	*out = NULL;
	rc = tsm_timeline_create(reader_name, r, &tl);
	if (rc < 0)
		return rc;
	while ((rc = tsm_reader_next(r, &ev)) == 0) {
		rc = tsm_timeline_add(tl, ev);
		if (rc < 0)
			goto out;
	}
	if (rc != TSM_END)
		goto out;
	rc = tsm_timeline_finish(tl);
	if (rc < 0)
		goto out;
	*out = tl;
	tl = NULL;
out:
	tsm_timeline_destroy(tl);
	return rc;
}

/* ---- views -------------------------------------------------------------- */

const tsm_tl_summary *tsm_timeline_summary(const tsm_timeline *tl)
{
	return &tl->sum;
}

const tsm_tl_lane *tsm_timeline_lanes(const tsm_timeline *tl, size_t *n)
{
	*n = tl->finished ? tl->nlanes : 0;
	return tl->finished ? tl->lanes : NULL;
}

const tsm_tl_device *tsm_timeline_devices(const tsm_timeline *tl, size_t *n)
{
	*n = tl->finished ? tl->ndevices : 0;
	return tl->finished ? tl->devices : NULL;
}

const tsm_tl_op *tsm_timeline_ops(const tsm_timeline *tl, size_t *n)
{
	*n = tl->finished ? tl->nops : 0;
	return tl->finished ? tl->ops : NULL;
}

const tsm_tl_api *tsm_timeline_apis(const tsm_timeline *tl, size_t *n)
{
	*n = tl->finished ? tl->napis : 0;
	return tl->finished ? tl->apis : NULL;
}

const tsm_tl_range *tsm_timeline_ranges(const tsm_timeline *tl, size_t *n)
{
	*n = tl->finished ? tl->nranges : 0;
	return tl->finished ? tl->ranges : NULL;
}

const tsm_tl_xfer *tsm_timeline_xfers(const tsm_timeline *tl, size_t *n)
{
	*n = tl->nxfers;
	return tl->xfers;
}

int tsm_timeline_lane_of(const tsm_timeline *tl, uint32_t node)
{
	size_t lo = 0, hi = tl->nlanes;

	if (!tl->finished || node >= tl->nops + tl->napis)
		return -1;
	/* last lane whose first <= node, skipping empty lanes (there are none) */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (tl->lane_firsts[mid] <= node)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? (int)lo - 1 : -1;
}
