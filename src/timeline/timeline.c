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
 * With threads (tsm_timeline_build), each thread adds every n-th block into
 * a partial timeline and finishing merges the parts in file order, then
 * places, joins, sweeps and computes states on several threads ("building
 * from a reader, in parallel" below; docs/design/timeline.md, "Threads").
 * Peak memory is the file-order records and the final op array, then the
 * final op and call arrays and the file-order calls, plus the correlation
 * tables of graph.c (docs/design/timeline.md has the sums).
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "format/reader.h"
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
	for (size_t i = 1; i < tl->nparts; i++)
		tsm_timeline_destroy(tl->parts[i]);
	tsm__free(tl->parts);
	tsm__free(tl->marks);
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
static int grow_records(void **recs, uint16_t **lanes, size_t *cap, size_t size, size_t want)
{
	size_t ncap = want ? want : *cap ? *cap + *cap / 2 : 4096;
	void *np = tsm__realloc(*recs, ncap * size);

	if (!np)
		return TSM_FAIL(TSM_NOMEM, "timeline: %zu records", ncap);
	tsm__advise_huge(np, ncap * size);
	*recs = np;
	np = tsm__realloc(*lanes, ncap * sizeof(**lanes));
	if (!np)
		return TSM_FAIL(TSM_NOMEM, "timeline: %zu records", ncap);
	*lanes = np;
	*cap = ncap;
	return 0;
}

/*
 * Room for `n` records of each type: address space only (large blocks are
 * mappings whose pages are faulted in as they are written), so growing
 * never remaps while records are added, which would stall the other
 * threads' page faults in a parallel build. Best effort: where address
 * space is short, the arrays grow as records come.
 */
static void reserve(tsm_timeline *tl, size_t n)
{
	int rc = 0;

	n += n / 8 + 4096;
	if (n > tl->ops_cap)
		rc = grow_records((void **)&tl->ops, &tl->op_lane, &tl->ops_cap, sizeof(*tl->ops),
				  n);
	if (rc == 0 && n > tl->apis_cap)
		rc = grow_records((void **)&tl->apis, &tl->api_lane, &tl->apis_cap,
				  sizeof(*tl->apis), n);
	if (rc < 0)
		tsm_clear_error();
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
		rc = grow_records((void **)&tl->ops, &tl->op_lane, &tl->ops_cap, sizeof(*tl->ops),
				  0);
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
				  sizeof(*tl->apis), 0);
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

/* ---- finishing: merging a parallel build's parts ----------------------- */

/*
 * A run of records that one SBT block added to one part, with what it takes
 * to move them into this timeline: the part's lane ids mapped to this
 * timeline's (pre-sort) ids, and the offsets that move the part's
 * transfer / sync indices (tsm_tl_op.aux) to their place in the merged side
 * tables. A serial build is one segment covering everything.
 */
typedef struct tl_seg {
	const tsm_timeline *src;
	const tsm_tl_op *ops; /* src's file-order records, as they were when merging */
	const tsm_tl_api *apis;
	const uint16_t *op_lane, *api_lane;
	const uint32_t *gmap, *hmap;
	uint64_t seq;
	size_t op0, op1, api0, api1, x0, x1, s0, s1, h0, h1, r0, r1;
	uint32_t dx, ds; /* added (mod 2^32) to transfer / sync indices */
} tl_seg;

static int cmp_seg(const void *a, const void *b)
{
	const tl_seg *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Part p's lane ids -> this timeline's ids (lanes only p saw are added); counts summed. */
static int map_lanes(tsm_timeline *tl, const tsm_timeline *p, uint32_t *gmap, uint32_t *hmap)
{
	int rc;

	for (size_t i = 0; i < p->ngpu; i++) {
		rc = lane_lookup(tl, &p->gkeys[i], &gmap[i]);
		if (rc < 0)
			return rc;
		tl->gcount[gmap[i]] += p->gcount[i];
	}
	for (size_t i = 0; i < p->nhost; i++) {
		rc = lane_lookup(tl, &p->hkeys[i], &hmap[i]);
		if (rc < 0)
			return rc;
		tl->hcount[hmap[i]] += p->hcount[i];
	}
	return 0;
}

#define APPEND_SIDE(FIELD, N, LO, HI)                               \
	do {                                                        \
		if (sg->HI > sg->LO)                                \
			memcpy(FIELD + N, sg->src->FIELD + sg->LO,  \
			       (sg->HI - sg->LO) * sizeof(*FIELD)); \
		N += sg->HI - sg->LO;                               \
	} while (0)

/*
 * The segments of every part in file (block) order, with the side tables
 * (transfers, in-stream syncs, host syncs, ranges) concatenated in that
 * order and the summaries added up: the result is what a serial build of
 * the same file holds, record for record. `maps` holds the lane maps.
 */
static int merge_parts(tsm_timeline *tl, tl_seg **segs_out, size_t *nsegs_out, uint32_t **maps_out)
{
	tsm_timeline *self[1] = {tl}, **parts = tl->nparts ? tl->parts : self;
	size_t np = tl->nparts ? tl->nparts : 1, nmaps = 0, nsegs = 0, k = 0;
	size_t nx = 0, ns = 0, nh = 0, nr = 0, nops = 0, napis = 0;
	tsm_tl_xfer *xfers = NULL;
	tl_sync *syncs = NULL;
	tl_hsync *hsyncs = NULL;
	tsm_tl_range *ranges = NULL;
	uint32_t *maps, *m;
	tl_seg *segs;
	int rc = 0;

	*segs_out = NULL;
	*maps_out = NULL;
	for (size_t p = 0; p < np; p++) {
		nmaps += parts[p]->ngpu + parts[p]->nhost;
		nsegs += np == 1 ? 1 : parts[p]->nmarks;
	}
	maps = tsm__malloc((nmaps + 1) * sizeof(*maps));
	segs = tsm__malloc((nsegs + 1) * sizeof(*segs));
	if (!maps || !segs) {
		rc = TSM_FAIL(TSM_NOMEM, "timeline: merging parts");
		goto fail;
	}
	m = maps;
	for (size_t p = 0; p < np; p++) {
		const tsm_timeline *pt = parts[p];
		uint32_t *gmap = m, *hmap = m + pt->ngpu;

		m += pt->ngpu + pt->nhost;
		if (p == 0) {
			for (size_t i = 0; i < pt->ngpu; i++)
				gmap[i] = (uint32_t)i;
			for (size_t i = 0; i < pt->nhost; i++)
				hmap[i] = (uint32_t)i;
		} else {
			rc = map_lanes(tl, pt, gmap, hmap);
			if (rc < 0)
				goto fail;
		}
		if (np == 1) {
			segs[k++] = (tl_seg){.src = pt,
					     .ops = pt->ops,
					     .apis = pt->apis,
					     .op_lane = pt->op_lane,
					     .api_lane = pt->api_lane,
					     .gmap = gmap,
					     .hmap = hmap,
					     .op1 = pt->nops,
					     .api1 = pt->napis};
			break;
		}
		for (size_t j = 0; j < pt->nmarks; j++) {
			const tl_mark *a = &pt->marks[j], *b = j + 1 < pt->nmarks ? a + 1 : NULL;
			tl_seg *sg = &segs[k++];

			sg->src = pt;
			sg->ops = pt->ops;
			sg->apis = pt->apis;
			sg->op_lane = pt->op_lane;
			sg->api_lane = pt->api_lane;
			sg->gmap = gmap;
			sg->hmap = hmap;
			sg->seq = a->seq;
			sg->op0 = a->ops;
			sg->op1 = b ? b->ops : pt->nops;
			sg->api0 = a->apis;
			sg->api1 = b ? b->apis : pt->napis;
			sg->x0 = a->xfers;
			sg->x1 = b ? b->xfers : pt->nxfers;
			sg->s0 = a->syncs;
			sg->s1 = b ? b->syncs : pt->nsyncs;
			sg->h0 = a->hsyncs;
			sg->h1 = b ? b->hsyncs : pt->nhsyncs;
			sg->r0 = a->ranges;
			sg->r1 = b ? b->ranges : pt->nranges;
		}
	}
	nsegs = k;
	if (np > 1) {
		qsort(segs, nsegs, sizeof(*segs), cmp_seg);
		for (size_t p = 0; p < np; p++) {
			nx += parts[p]->nxfers;
			ns += parts[p]->nsyncs;
			nh += parts[p]->nhsyncs;
			nr += parts[p]->nranges;
		}
		xfers = tsm__malloc((nx + 1) * sizeof(*xfers));
		syncs = tsm__malloc((ns + 1) * sizeof(*syncs));
		hsyncs = tsm__malloc((nh + 1) * sizeof(*hsyncs));
		ranges = tsm__malloc((nr + 1) * sizeof(*ranges));
		if (!xfers || !syncs || !hsyncs || !ranges) {
			rc = TSM_FAIL(TSM_NOMEM, "timeline: merging parts");
			goto fail;
		}
		nx = ns = nh = nr = 0;
		for (size_t i = 0; i < nsegs; i++) {
			tl_seg *sg = &segs[i];

			sg->dx = (uint32_t)(nx - sg->x0);
			sg->ds = (uint32_t)(ns - sg->s0);
			nops += sg->op1 - sg->op0;
			napis += sg->api1 - sg->api0;
			APPEND_SIDE(xfers, nx, x0, x1);
			APPEND_SIDE(syncs, ns, s0, s1);
			APPEND_SIDE(hsyncs, nh, h0, h1);
			APPEND_SIDE(ranges, nr, r0, r1);
		}
		tsm__free(tl->xfers);
		tsm__free(tl->syncs);
		tsm__free(tl->hsyncs);
		tsm__free(tl->ranges);
		tl->xfers = xfers;
		tl->syncs = syncs;
		tl->hsyncs = hsyncs;
		tl->ranges = ranges;
		tl->nxfers = tl->xfers_cap = nx;
		tl->nsyncs = tl->syncs_cap = ns;
		tl->nhsyncs = tl->hsyncs_cap = nh;
		tl->nranges = tl->ranges_cap = nr;
		/* the ops and calls stay in their parts until build_lanes places them */
		tl->nops = nops;
		tl->napis = napis;
		for (size_t p = 1; p < np; p++) {
			const tsm_tl_summary *ps = &parts[p]->sum;

			tl->sum.events += ps->events;
			for (size_t i = 0; i < TSM_EV__COUNT; i++)
				tl->sum.per_kind[i] += ps->per_kind[i];
			tl->sum.first_ns = tl_min(tl->sum.first_ns, ps->first_ns);
			tl->sum.last_ns = tl_max(tl->sum.last_ns, ps->last_ns);
		}
	}
	*segs_out = segs;
	*nsegs_out = nsegs;
	*maps_out = maps;
	return 0;
fail:
	tsm__free(maps);
	tsm__free(segs);
	tsm__free(xfers);
	tsm__free(syncs);
	tsm__free(hsyncs);
	tsm__free(ranges);
	return rc;
}

/*
 * Scatter the segments' records, in file order, by lane: a few sequential
 * write streams, one per lane, each left in file order, exactly what the
 * lane gather expects. `wp[lane]` (this timeline's pre-sort lane ids) is
 * where the lane's next record goes; a lane another thread places points
 * at a sink with `inc` 0, so the loop has no branch on ownership.
 */
static void scatter_ops(const tl_seg *segs, size_t nsegs, tsm_tl_op **wp, const uint8_t *inc)
{
	for (size_t s = 0; s < nsegs; s++) {
		const tl_seg *sg = &segs[s];
		const tsm_tl_op *src = sg->ops;
		const uint16_t *lane = sg->op_lane;

		for (size_t i = sg->op0; i < sg->op1; i++) {
			tsm_tl_op o = src[i];
			uint32_t l = sg->gmap[lane[i]];

			if (o.aux != TL_NONE)
				o.aux += o.cls == TSM_OPC_SYNC ? sg->ds : sg->dx;
			*wp[l] = o;
			wp[l] += inc[l];
		}
	}
}

static void scatter_apis(const tl_seg *segs, size_t nsegs, tsm_tl_api **wp, const uint8_t *inc)
{
	for (size_t s = 0; s < nsegs; s++) {
		const tl_seg *sg = &segs[s];
		const tsm_tl_api *src = sg->apis;
		const uint16_t *lane = sg->api_lane;

		for (size_t i = sg->api0; i < sg->api1; i++) {
			uint32_t l = sg->hmap[lane[i]];

			*wp[l] = src[i];
			wp[l] += inc[l];
		}
	}
}

/*
 * Sort each lane of `a` (lanes in order, `lanes[l].count` records each) in
 * place. An unsorted lane is gathered into `scratch` (`scratch_bytes`: a
 * dead file-order array, whose pages are already faulted in) and copied
 * back; its radix keys go after the gathered records when they fit, else
 * into a buffer of their own.
 */
#define DEFINE_LANE_SORT_EACH(NAME, T, GATHER, MSORT)                                           \
	static int NAME(T *a, const tsm_tl_lane *lanes, size_t nlanes, void *scratch,           \
			size_t scratch_bytes)                                                   \
	{                                                                                       \
		for (size_t l = 0; l < nlanes; a += lanes[l++].count) {                         \
			size_t i, c = lanes[l].count, need = c * sizeof(T);                     \
			uint64_t *keys, *own = NULL;                                            \
			int rc;                                                                 \
                                                                                                \
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

DEFINE_LANE_SORT_EACH(sort_op_lanes, tsm_tl_op, gather_ops, sort_ops)
DEFINE_LANE_SORT_EACH(sort_api_lanes, tsm_tl_api, gather_apis, sort_apis)

/*
 * Placing one record type on several threads: each owns a contiguous group
 * of lanes (about the same number of records each), scatters the records
 * of its lanes (reading all of them) and, after every thread has scattered
 * (the parts' file-order arrays are dead then), sorts its lanes with a dead
 * array of its own as scratch.
 */
typedef struct tl_place {
	tsm_timeline *tl;
	const tl_seg *segs;
	size_t nsegs;
	int host;		/* API calls, else GPU ops */
	const uint32_t *sorted; /* pre-sort lane id -> sorted id within the type */
	size_t lane0, lane1;	/* owned lanes: sorted ids within the type */
	void *scratch;
	size_t scratch_bytes;
	int sorting; /* the phase: scatter, then sort */
} tl_place;

static int place_run(void *arg)
{
	tl_place *j = arg;
	tsm_timeline *tl = j->tl;
	size_t nl = j->host ? tl->nhost : tl->ngpu;
	const tsm_tl_lane *lanes = tl->lanes + (j->host ? tl->ngpu : 0);
	void **wp;
	uint8_t *inc;
	union {
		tsm_tl_op op;
		tsm_tl_api api;
	} sink;

	if (j->lane0 == j->lane1)
		return 0;
	if (j->sorting) {
		size_t first = lanes[j->lane0].first - (j->host ? tl->nops : 0);

		if (j->host)
			return sort_api_lanes(tl->apis + first, lanes + j->lane0,
					      j->lane1 - j->lane0, j->scratch, j->scratch_bytes);
		return sort_op_lanes(tl->ops + first, lanes + j->lane0, j->lane1 - j->lane0,
				     j->scratch, j->scratch_bytes);
	}
	wp = tsm__malloc((nl + 1) * sizeof(*wp));
	inc = tsm__malloc(nl + 1);
	if (!wp || !inc) {
		tsm__free(wp);
		tsm__free(inc);
		return TSM_FAIL(TSM_NOMEM, "timeline: placing records");
	}
	for (size_t old = 0; old < nl; old++) {
		size_t l = j->sorted[old], at = lanes[l].first - (j->host ? tl->nops : 0);

		inc[old] = l >= j->lane0 && l < j->lane1;
		wp[old] = !inc[old] ? (void *)&sink
			  : j->host ? (void *)(tl->apis + at)
				    : (void *)(tl->ops + at);
	}
	if (j->host)
		scatter_apis(j->segs, j->nsegs, (tsm_tl_api **)wp, inc);
	else
		scatter_ops(j->segs, j->nsegs, (tsm_tl_op **)wp, inc);
	tsm__free(wp);
	tsm__free(inc);
	return 0;
}

/*
 * Place GPU ops (host = 0) or API calls: jobs[t] gets lanes and scratch;
 * scratch[t] / bytes[t] are the dead arrays the threads sort in.
 */
static int place(tsm_timeline *tl, int host, const tl_seg *segs, size_t nsegs,
		 const uint32_t *sorted, void *const *scratch, const size_t *bytes, size_t n)
{
	tl_place jobs[8];
	void *args[8];
	size_t nl = host ? tl->nhost : tl->ngpu, total = host ? tl->napis : tl->nops, l = 0,
	       acc = 0;
	const tsm_tl_lane *lanes = tl->lanes + (host ? tl->ngpu : 0);
	int rc;

	for (size_t t = 0; t < n; t++) {
		size_t lane0 = l;

		/* lanes until this group holds its share of the records */
		while (l < nl && (t + 1 == n || acc + lanes[l].count / 2 < total * (t + 1) / n))
			acc += lanes[l++].count;
		jobs[t] =
		    (tl_place){tl, segs, nsegs, host, sorted, lane0, l, scratch[t], bytes[t], 0};
		args[t] = &jobs[t];
	}
	rc = tsm__parallel(place_run, args, n);
	for (size_t t = 0; t < n; t++)
		jobs[t].sorting = 1;
	if (rc == 0)
		rc = tsm__parallel(place_run, args, n);
	return rc;
}

static int build_lanes(tsm_timeline *tl)
{
	uint32_t *gmap = NULL, *hmap = NULL, *maps = NULL;
	size_t pos, nsegs = 0, nt, bytes[8];
	void *scratch[8];
	tl_seg *segs = NULL;
	void *fo = NULL, *fa = NULL;
	int rc;

	rc = merge_parts(tl, &segs, &nsegs, &maps);
	if (rc < 0)
		return rc;
	tl->nlanes = tl->ngpu + tl->nhost;
	tl->lanes = tsm__calloc(tl->nlanes + 1, sizeof(*tl->lanes));
	tl->lane_firsts = tsm__calloc(tl->nlanes + 1, sizeof(*tl->lane_firsts));
	if (!tl->lanes || !tl->lane_firsts) {
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
	 * array (part 0's, in a parallel build) then serves as the sort scratch
	 * and, grown or shrunk in place (realloc, mremap for large blocks),
	 * becomes the final API-call array, so its pages are written again
	 * instead of new ones being faulted in.
	 */
	fo = tl->ops;
	tl->ops = tsm__malloc((tl->nops + 1) * sizeof(*tl->ops));
	if (tl->ops)
		tsm__advise_huge(tl->ops, (tl->nops + 1) * sizeof(*tl->ops));
	if (!tl->ops) {
		tl->ops = fo;
		fo = NULL;
		rc = TSM_FAIL(TSM_NOMEM, "timeline: %zu GPU ops", tl->nops);
		goto out;
	}
	/* each thread sorts in a dead file-order array: part 0's ops array, then the parts' */
	nt = tl->nparts ? tl->nparts : 1;
	for (size_t t = 0; t < nt; t++) {
		const tsm_timeline *pt = t ? tl->parts[t] : tl;

		scratch[t] = t ? pt->ops : fo;
		bytes[t] = pt->ops_cap * sizeof(*pt->ops);
	}
	rc = place(tl, 0, segs, nsegs, gmap, scratch, bytes, nt);
	if (rc < 0)
		goto out;
	for (size_t p = 1; p < tl->nparts; p++) {
		tsm__free(tl->parts[p]->ops);
		tsm__free(tl->parts[p]->op_lane);
		tl->parts[p]->ops = NULL;
		tl->parts[p]->op_lane = NULL;
	}

	fa = tl->apis;
	tl->apis = tsm__realloc(fo, (tl->napis + 1) * sizeof(*tl->apis));
	if (!tl->apis) {
		tl->apis = fa;
		fa = NULL;
		rc = TSM_FAIL(TSM_NOMEM, "timeline: %zu API calls", tl->napis);
		goto out;
	}
	fo = NULL;
	for (size_t t = 0; t < nt; t++) {
		const tsm_timeline *pt = t ? tl->parts[t] : tl;

		scratch[t] = t ? pt->apis : fa;
		bytes[t] = pt->apis_cap * sizeof(*pt->apis);
	}
	rc = place(tl, 1, segs, nsegs, hmap, scratch, bytes, nt);
	if (rc < 0)
		goto out;
	for (size_t p = 1; p < tl->nparts; p++) {
		tsm__free(tl->parts[p]->apis);
		tsm__free(tl->parts[p]->api_lane);
		tl->parts[p]->apis = NULL;
		tl->parts[p]->api_lane = NULL;
	}
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
	for (size_t p = 1; p < tl->nparts; p++)
		tsm_timeline_destroy(tl->parts[p]);
	tsm__free(tl->parts);
	tl->parts = NULL;
	tl->nparts = 0;
	tsm__free(tl->marks);
	tl->marks = NULL;
	tsm__free(segs);
	tsm__free(maps);
	tsm__free(gmap);
	tsm__free(hmap);
	return rc;
}

/*
 * Finishing after the lanes: the graph join and the device sweep are
 * independent, then the stream states (which need the join's launch edges)
 * split by lanes, each part in its own piece of the spare block.
 */
typedef struct tl_finish_job {
	tsm_timeline *tl;
	int what; /* 0: join, 1: sweep, 2: states */
	size_t l0, l1;
	void *scratch;
	size_t bytes;
} tl_finish_job;

static int finish_run(void *arg)
{
	tl_finish_job *j = arg;

	if (j->what == 0)
		return tsm__tl_join(j->tl);
	if (j->what == 1)
		return tsm__tl_sweep(j->tl);
	return tsm__tl_states(j->tl, j->l0, j->l1, j->scratch, j->bytes);
}

static int finish_graph(tsm_timeline *tl)
{
	tl_finish_job jobs[2] = {{tl, 0, 0, 0, NULL, 0}, {tl, 1, 0, 0, NULL, 0}};
	void *args[2] = {&jobs[0], &jobs[1]};
	size_t half = tl->spare_bytes / 2 & ~(size_t)63, split = 0, acc = 0;
	unsigned n = tsm__threads() > 1 ? 2 : 1;
	int rc;

	if (n > 1) {
		rc = tsm__parallel(finish_run, args, 2);
	} else {
		rc = finish_run(args[0]);
		if (rc == 0)
			rc = finish_run(args[1]);
	}
	if (rc < 0)
		return rc;
	/* the join has given its spare back: split it and the GPU lanes by op count */
	while (n > 1 && split < tl->ngpu && acc + tl->lanes[split].count / 2 < tl->nops / 2)
		acc += tl->lanes[split++].count;
	jobs[0] = (tl_finish_job){
	    tl, 2, 0, n > 1 ? split : tl->ngpu, tl->spare, n > 1 ? half : tl->spare_bytes};
	jobs[1] =
	    (tl_finish_job){tl, 2, split, tl->ngpu, tl->spare ? tl->spare + half : NULL, half};
	return n > 1 ? tsm__parallel(finish_run, args, 2) : finish_run(args[0]);
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
	rc = finish_graph(tl);
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

/* ---- building from a reader, in parallel -------------------------------- */

typedef struct tl_part_job {
	tsm_timeline *tl;
	tsm_reader *r;
	_Atomic uint64_t *stop; /* offset of the earliest failing block so far */
} tl_part_job;

static int mark_block(tsm_timeline *tl, uint64_t seq)
{
	int rc = grow((void **)&tl->marks, &tl->marks_cap, tl->nmarks, sizeof(*tl->marks));

	if (rc < 0)
		return rc;
	tl->marks[tl->nmarks++] = (tl_mark){seq,
					    (uint32_t)tl->nops,
					    (uint32_t)tl->napis,
					    (uint32_t)tl->nxfers,
					    (uint32_t)tl->nsyncs,
					    (uint32_t)tl->nhsyncs,
					    (uint32_t)tl->nranges};
	return 0;
}

/*
 * One part of a parallel build: add the events of this reader's blocks,
 * marking where each block begins. A failure ends the other parts at their
 * next block past it (earlier blocks still run: one of them may hold the
 * error a serial build would have reported first).
 */
static int add_part(void *arg)
{
	tl_part_job *j = arg;
	uint64_t seq = UINT64_MAX, off = 0;
	const tsm_event *ev;
	int rc;

	while ((rc = tsm_reader_next(j->r, &ev)) == 0) {
		if (tsm__reader_block_seq(j->r) != seq) {
			seq = tsm__reader_block_seq(j->r);
			off = tsm__reader_block_off(j->r);
			if (off > atomic_load_explicit(j->stop, memory_order_relaxed))
				return 0;
			rc = mark_block(j->tl, seq);
			if (rc < 0)
				break;
		}
		rc = tsm_timeline_add(j->tl, ev);
		if (rc < 0)
			break;
	}
	if (rc == TSM_END)
		return 0;
	if (tsm_last_error_offset() >= 0)
		off = (uint64_t)tsm_last_error_offset();
	for (uint64_t cur = atomic_load(j->stop); off < cur;)
		if (atomic_compare_exchange_weak(j->stop, &cur, off))
			break;
	return rc;
}

/*
 * Readers for a parallel build: `r` and clones of it, each decoding every
 * n-th block. Returns how many (1: build serially).
 */
static unsigned open_parts(tsm_reader *r, tsm_reader **rs, unsigned want)
{
	unsigned n = 1;

	rs[0] = r;
	if (want < 2 || tsm__reader_indexed_blocks(r) < 2)
		return 1;
	while (n < want && tsm__reader_clone(r, &rs[n]) == 0)
		n++;
	tsm_clear_error(); /* a clone that failed just means fewer parts */
	for (unsigned k = 0; n > 1 && k < n; k++)
		tsm__reader_partition(rs[k], k, n);
	return n;
}

/*
 * Read and add every event, then finish. With several threads, each part
 * reads its share of the blocks into a partial timeline of its own (the
 * reading and adding, two thirds of the work, scale with the threads) and
 * finishing takes the parts' records in file order, so the timeline is the
 * one a serial build makes, record for record.
 */
int tsm_timeline_build(tsm_reader *r, tsm_timeline **out)
{
	tsm_reader *rs[8];
	tsm_timeline *tls[8] = {NULL};
	tl_part_job jobs[8];
	void *args[8];
	_Atomic uint64_t stop = UINT64_MAX;
	unsigned n = open_parts(r, rs, tsm__threads() < 8 ? tsm__threads() : 8);
	int rc = 0;

	*out = NULL;
	for (unsigned k = 0; k < n && rc == 0; k++) {
		rc = tsm_timeline_create(reader_name, rs[k], &tls[k]);
		if (rc == 0)
			reserve(tls[k], tsm_reader_info(r)->indexed_events / n);
	}
	if (rc == 0 && n > 1) {
		tls[0]->parts = tsm__calloc(n, sizeof(*tls[0]->parts));
		if (!tls[0]->parts)
			rc = TSM_FAIL(TSM_NOMEM, "timeline");
	}
	if (rc == 0 && n > 1) {
		for (unsigned k = 0; k < n; k++) {
			tls[0]->parts[k] = tls[k];
			jobs[k] = (tl_part_job){tls[k], rs[k], &stop};
			args[k] = &jobs[k];
		}
		tls[0]->nparts = n;
		for (unsigned k = 1; k < n; k++)
			tls[k] = NULL; /* owned by part 0 now */
		rc = tsm__parallel(add_part, args, n);
	} else if (rc == 0) {
		const tsm_event *ev;

		while ((rc = tsm_reader_next(r, &ev)) == 0) {
			rc = tsm_timeline_add(tls[0], ev);
			if (rc < 0)
				break;
		}
		if (rc == TSM_END)
			rc = 0;
	}
	for (unsigned k = 1; k < n; k++)
		tsm_reader_close(rs[k]);
	tsm__reader_partition(r, 0, 0); /* r reads whole blocks again (after a seek) */
	if (rc == 0)
		rc = tsm_timeline_finish(tls[0]);
	for (unsigned k = 1; k < n; k++)
		tsm_timeline_destroy(tls[k]);
	if (rc < 0) {
		tsm_timeline_destroy(tls[0]);
		return rc;
	}
	*out = tls[0];
	return 0;
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
