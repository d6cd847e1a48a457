/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The stream dependency graph, from the records only.
 *
 * Nodes are GPU ops and host API calls (dense ids, see timeline.h). Edges
 * are never stored as a list; each is derived when asked:
 *   stream  the previous op of the same lane (device, stream, pid): a
 *           stream executes its work in order;
 *   thread  the previous API call of the same host thread;
 *   launch  the API call with the op's correlation id in the same process
 *           (tsm_tl_op.api, found at finish);
 *   event   a stream-wait-event record <- the event record of the same
 *           (pid, CUDA event id) with the largest correlation id below the
 *           wait's: CUDA waits for the most recent record *issued* before
 *           the wait call, and correlation ids are issued in call order;
 *   sync    a host synchronisation record (stream / device / event sync)
 *           carries the correlation id of the API call that waited; that
 *           call depends on the last op issued (largest correlation below
 *           the call's) on the synchronised stream, on every stream of the
 *           device (device sync) or on the event's record (event sync).
 *           A synchronous memcpy record (no TSM_EVF_ASYNC flag) makes its own
 *           call wait for it the same way. These few edges are kept in a table
 *           sorted by the waiting call.
 * No edge ever comes from comparing times.
 *
 * Correlation lookup: per process, a direct table indexed by
 * (correlation - smallest) when the ids are dense (CUPTI issues them
 * sequentially), else a sorted (correlation, index) array searched by
 * bisection. Both are exact.
 *
 * Critical path: walk backwards over "points" (the start or the end of a
 * node) from the end of the node that ends last. At an end point the
 * candidates are the node's own start and, for a stream wait, the event
 * record's end or, for a synchronising call, the ends of the ops it
 * waited for; at a start point they are the lane predecessor's end and,
 * for a GPU op, the launching call's start. The candidate satisfied last
 * (largest time not after the current point) is the one that gated the
 * node; its time to the current point is a step of the path. The steps
 * tile [path start, path end] exactly.
 */
#include <stdlib.h>

#include "timeline-internal.h"

typedef struct cpair {
	uint64_t corr;
	uint32_t idx;
} cpair;

typedef struct pidtab {
	uint32_t pid;
	uint64_t min, max;
	size_t count;
	uint32_t *direct; /* idx + 1, 0: none */
	cpair *pairs;
} pidtab;

typedef struct rec {
	uint32_t pid;
	uint64_t event_id, corr;
	uint32_t node;
} rec;

struct join {
	pidtab *pids;
	size_t npids;
	rec *recs;
	size_t nrecs;
};

static int cmp_pair(const void *a, const void *b)
{
	const cpair *x = a, *y = b;

	return x->corr < y->corr ? -1 : x->corr > y->corr;
}

static int cmp_rec(const void *a, const void *b)
{
	const rec *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->event_id != y->event_id)
		return x->event_id < y->event_id ? -1 : 1;
	return x->corr < y->corr ? -1 : x->corr > y->corr;
}

static int cmp_sedge(const void *a, const void *b)
{
	const tl_sedge *x = a, *y = b;

	if (x->api != y->api)
		return x->api < y->api ? -1 : 1;
	return x->op < y->op ? -1 : x->op > y->op;
}

static pidtab *find_pid(struct join *j, uint32_t pid)
{
	size_t lo = 0, hi = j->npids;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (j->pids[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < j->npids && j->pids[lo].pid == pid ? &j->pids[lo] : NULL;
}

/* API index of corr in a process's table, TL_NONE if there is none. */
static uint32_t find_api_in(const pidtab *p, uint64_t corr)
{
	size_t lo, hi;

	if (!p || !corr || corr < p->min || corr > p->max)
		return TL_NONE;
	if (p->direct)
		return p->direct[corr - p->min] ? p->direct[corr - p->min] - 1 : TL_NONE;
	lo = 0;
	hi = p->count;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (p->pairs[mid].corr < corr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < p->count && p->pairs[lo].corr == corr ? p->pairs[lo].idx : TL_NONE;
}

static uint32_t find_api(struct join *j, uint32_t pid, uint64_t corr)
{
	return corr ? find_api_in(find_pid(j, pid), corr) : TL_NONE;
}

static int build_pids(tsm_timeline *tl, struct join *j)
{
	size_t li;

	/* host lanes are sorted by pid: one table per run of lanes */
	j->pids = tsm__calloc(tl->nhost + 1, sizeof(*j->pids));
	if (!j->pids)
		return TSM_FAIL(TSM_NOMEM, "timeline: correlation tables");
	for (li = tl->ngpu; li < tl->nlanes; li++) {
		const tsm_tl_lane *l = &tl->lanes[li];
		pidtab *p;

		if (!j->npids || j->pids[j->npids - 1].pid != l->pid) {
			p = &j->pids[j->npids++];
			p->pid = l->pid;
			p->min = UINT64_MAX;
		}
		p = &j->pids[j->npids - 1];
		for (uint32_t i = 0; i < l->count; i++) {
			uint64_t c = tl->apis[l->first - tl->nops + i].correlation;

			if (!c)
				continue;
			p->count++;
			p->min = tl_min(p->min, c);
			p->max = tl_max(p->max, c);
		}
	}
	for (size_t pi = 0; pi < j->npids; pi++) {
		pidtab *p = &j->pids[pi];
		size_t n = 0;

		if (!p->count)
			continue;
		/* tables come from the timeline's spare block when it has room (no fresh pages) */
		if (p->max - p->min < 4 * (uint64_t)p->count + 4096) {
			size_t bytes = (size_t)(p->max - p->min + 1) * sizeof(uint32_t);

			p->direct = tl_spare_take(tl, bytes);
			if (p->direct)
				memset(p->direct, 0, bytes);
			else
				p->direct = tsm__calloc(bytes, 1);
			if (!p->direct)
				return TSM_FAIL(TSM_NOMEM, "timeline: correlation table");
		} else {
			p->pairs = tl_spare_take(tl, p->count * sizeof(*p->pairs));
			if (!p->pairs)
				p->pairs = tsm__malloc(p->count * sizeof(*p->pairs));
			if (!p->pairs)
				return TSM_FAIL(TSM_NOMEM, "timeline: correlation table");
		}
		for (li = tl->ngpu; li < tl->nlanes; li++) {
			const tsm_tl_lane *l = &tl->lanes[li];

			if (l->pid != p->pid)
				continue;
			for (uint32_t i = 0; i < l->count; i++) {
				uint32_t idx = l->first - (uint32_t)tl->nops + i;
				uint64_t c = tl->apis[idx].correlation;

				if (!c)
					continue;
				if (p->direct) {
					p->direct[c - p->min] = idx + 1;
				} else {
					p->pairs[n].corr = c;
					p->pairs[n++].idx = idx;
				}
			}
		}
		if (p->pairs)
			qsort(p->pairs, p->count, sizeof(*p->pairs), cmp_pair);
	}
	return 0;
}

/* Event record of (pid, event_id) with the largest correlation below `corr`. */
static uint32_t find_record(struct join *j, uint32_t pid, uint64_t event_id, uint64_t corr)
{
	size_t lo = 0, hi = j->nrecs;
	rec key = {pid, event_id, corr, 0};

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (cmp_rec(&j->recs[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return TL_NONE;
	lo--;
	if (j->recs[lo].pid != pid || j->recs[lo].event_id != event_id)
		return TL_NONE;
	return j->recs[lo].node;
}

/* A lane's ops by correlation (start_ns: correlation, end_ns: node), for lanes whose
 * correlations do not increase along the lane (several threads launching onto it). */
typedef struct cidx {
	uint64_t start_ns, end_ns, correlation;
} cidx;

DEFINE_LANE_SORT(sort_cidx, cidx)

static int build_cidx(tsm_timeline *tl, size_t li, cidx **out, size_t *n)
{
	const tsm_tl_lane *l = &tl->lanes[li];
	cidx *v = tsm__malloc((l->count + 1) * sizeof(*v));
	size_t k = 0;
	int rc;

	*out = NULL;
	if (!v)
		return TSM_FAIL(TSM_NOMEM, "timeline: correlation index of a lane");
	for (uint32_t i = 0; i < l->count; i++) {
		if (!tl->ops[l->first + i].correlation)
			continue;
		v[k].start_ns = tl->ops[l->first + i].correlation;
		v[k].end_ns = l->first + i;
		v[k++].correlation = 0;
	}
	rc = sort_cidx(v, k);
	if (rc < 0) {
		tsm__free(v);
		return rc;
	}
	*out = v;
	*n = k;
	return 0;
}

/* Last op of a GPU lane issued before correlation `corr`; TL_NONE if none. */
static uint32_t last_before(tsm_timeline *tl, size_t li, uint64_t corr, const cidx *ix, size_t nix)
{
	const tsm_tl_lane *l = &tl->lanes[li];
	const tsm_tl_op *ops = tl->ops + l->first;

	if (ix) {
		size_t lo = 0, hi = nix;

		while (lo < hi) {
			size_t mid = (lo + hi) / 2;

			if (ix[mid].start_ns < corr)
				lo = mid + 1;
			else
				hi = mid;
		}
		return lo ? (uint32_t)ix[lo - 1].end_ns : TL_NONE;
	}
	{
		size_t lo = 0, hi = l->count;

		while (lo < hi) {
			size_t mid = (lo + hi) / 2;

			if (ops[mid].correlation < corr)
				lo = mid + 1;
			else
				hi = mid;
		}
		while (lo > 0 && !ops[lo - 1].correlation)
			lo--;
		return lo ? l->first + (uint32_t)lo - 1 : TL_NONE;
	}
}

static int add_sedge(tsm_timeline *tl, size_t *cap, uint32_t api, uint32_t op)
{
	if (tl->nsedges >= *cap) {
		tl_sedge *n = tsm__grow(tl->sedges, cap, 256, sizeof(*n));

		if (!n)
			return TSM_FAIL(TSM_NOMEM, "timeline: sync edges");
		tl->sedges = n;
	}
	tl->sedges[tl->nsedges].api = api;
	tl->sedges[tl->nsedges++].op = op;
	return 0;
}

static int host_syncs(tsm_timeline *tl, struct join *j)
{
	cidx **ix = tsm__calloc(tl->ngpu + 1, sizeof(*ix));
	size_t *nix = tsm__calloc(tl->ngpu + 1, sizeof(*nix));
	size_t cap = 0;
	int rc = 0;

	if (!ix || !nix) {
		rc = TSM_FAIL(TSM_NOMEM, "timeline: sync edges");
		goto out;
	}

	for (size_t i = 0; i < tl->nhsyncs; i++) {
		tl_hsync *h = &tl->hsyncs[i];
		uint32_t a = find_api(j, h->pid, h->correlation), api, op;

		if (a == TL_NONE)
			continue;
		api = (uint32_t)tl->nops + a;
		h->api = api;
		tl->apis[a].flags |= TSM_TL_API_SYNC;
		if (h->type == TSM_SYNC_EVENT) {
			op = find_record(j, h->pid, h->event_id, h->correlation);
			if (op != TL_NONE) {
				rc = add_sedge(tl, &cap, api, op);
				if (rc < 0)
					goto out;
			}
			continue;
		}
		if (h->type != TSM_SYNC_STREAM && h->type != TSM_SYNC_CONTEXT)
			continue;
		for (size_t li = 0; li < tl->ngpu; li++) {
			const tsm_tl_lane *l = &tl->lanes[li];

			if (l->pid != h->pid)
				continue;
			if (h->device != TSM_DEVICE_NONE && l->device != h->device)
				continue;
			if (h->type == TSM_SYNC_STREAM && l->stream != h->stream)
				continue;
			if (!tl->lane_corr_sorted[li] && !ix[li]) {
				rc = build_cidx(tl, li, &ix[li], &nix[li]);
				if (rc < 0)
					goto out;
			}
			op = last_before(tl, li, h->correlation, ix[li], nix[li]);
			if (op == TL_NONE)
				continue;
			rc = add_sedge(tl, &cap, api, op);
			if (rc < 0)
				goto out;
		}
	}
	/* A synchronous copy (no TSM_EVF_ASYNC: pageable memory) returns only once the copy is
	 * done: the call waits for its own op. */
	for (size_t i = 0; i < tl->nops; i++) {
		const tsm_tl_op *op = &tl->ops[i];

		if (op->cls != TSM_OPC_COPY || (op->flags & TSM_EVF_ASYNC) || op->api == TL_NONE)
			continue;
		rc = add_sedge(tl, &cap, op->api, (uint32_t)i);
		if (rc < 0)
			goto out;
	}
	if (tl->nsedges)
		qsort(tl->sedges, tl->nsedges, sizeof(*tl->sedges), cmp_sedge);
	tl->sum.sync_edges = tl->nsedges;
out:
	for (size_t i = 0; ix && i < tl->ngpu; i++)
		tsm__free(ix[i]);
	tsm__free(ix);
	tsm__free(nix);
	return rc;
}

int tsm__tl_join(tsm_timeline *tl)
{
	struct join j = {0};
	size_t nrec = 0, spare_mark = tl->spare_used;
	int rc;

	tl->lane_corr_sorted = tsm__calloc(tl->ngpu + 1, 1);
	if (!tl->lane_corr_sorted)
		return TSM_FAIL(TSM_NOMEM, "timeline: lanes");
	rc = build_pids(tl, &j);
	if (rc < 0)
		goto out;
	for (size_t li = 0; li < tl->ngpu; li++) {
		const tsm_tl_lane *l = &tl->lanes[li];
		const pidtab *pt = find_pid(&j, l->pid);
		uint64_t prev = 0;
		int sorted = 1;

		for (uint32_t i = 0; i < l->count; i++) {
			tsm_tl_op *op = &tl->ops[l->first + i];
			uint32_t a = find_api_in(pt, op->correlation);

			if (op->correlation) {
				if (op->correlation < prev)
					sorted = 0;
				prev = op->correlation;
			}
			if (a != TL_NONE) {
				op->api = (uint32_t)tl->nops + a;
				tl->sum.launched++;
			} else if (op->cls != TSM_OPC_SYNC) {
				tl->sum.unmatched_ops++;
			}
			if (op->cls == TSM_OPC_SYNC && op->sub == TSM_SYNC_EVENT_RECORD)
				nrec++;
		}
		tl->lane_corr_sorted[li] = (uint8_t)sorted;
	}
	j.recs = tl_spare_take(tl, (nrec + 1) * sizeof(*j.recs));
	if (!j.recs)
		j.recs = tsm__malloc((nrec + 1) * sizeof(*j.recs));
	if (!j.recs) {
		rc = TSM_FAIL(TSM_NOMEM, "timeline: event records");
		goto out;
	}
	for (size_t li = 0; li < tl->ngpu; li++) {
		const tsm_tl_lane *l = &tl->lanes[li];

		for (uint32_t i = 0; i < l->count; i++) {
			const tsm_tl_op *op = &tl->ops[l->first + i];

			if (op->cls != TSM_OPC_SYNC || op->sub != TSM_SYNC_EVENT_RECORD)
				continue;
			j.recs[j.nrecs].pid = l->pid;
			j.recs[j.nrecs].event_id = tl->syncs[op->aux].event_id;
			j.recs[j.nrecs].corr = op->correlation;
			j.recs[j.nrecs++].node = l->first + i;
		}
	}
	qsort(j.recs, j.nrecs, sizeof(*j.recs), cmp_rec);
	for (size_t li = 0; li < tl->ngpu; li++) {
		const tsm_tl_lane *l = &tl->lanes[li];

		for (uint32_t i = 0; i < l->count; i++) {
			const tsm_tl_op *op = &tl->ops[l->first + i];
			tl_sync *s;

			if (op->cls != TSM_OPC_SYNC || op->sub != TSM_SYNC_STREAM_WAIT_EVENT)
				continue;
			s = &tl->syncs[op->aux];
			s->peer = find_record(&j, l->pid, s->event_id, op->correlation);
			if (s->peer != TL_NONE)
				tl->sum.wait_edges++;
			else
				tl->sum.unmatched_waits++;
		}
	}
	rc = host_syncs(tl, &j);
out:
	for (size_t i = 0; i < j.npids; i++) {
		tl_spare_free(tl, j.pids[i].direct);
		tl_spare_free(tl, j.pids[i].pairs);
	}
	tsm__free(j.pids);
	tl_spare_free(tl, j.recs);
	tl->spare_used = spare_mark;
	return rc;
}

/* ---- edges -------------------------------------------------------------- */

static size_t sedge_lower(const tsm_timeline *tl, uint32_t api)
{
	size_t lo = 0, hi = tl->nsedges;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (tl->sedges[mid].api < api)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int tsm_timeline_in_edges(const tsm_timeline *tl, uint32_t node, tsm_tl_edge *edges, size_t cap,
			  size_t *n)
{
	int li = tsm_timeline_lane_of(tl, node);
	size_t k = 0;

#define PUT(f, t)                                     \
	do {                                          \
		if (k < cap) {                        \
			edges[k].from = (f);          \
			edges[k].to = node;           \
			edges[k].type = (uint8_t)(t); \
		}                                     \
		k++;                                  \
	} while (0)

	*n = 0;
	if (li < 0)
		return TSM_FAIL(TSM_INVAL, "timeline: no node %u", node);
	if (tl_is_op(tl, node)) {
		const tsm_tl_op *op = &tl->ops[node];

		if (node > tl->lanes[li].first)
			PUT(node - 1, TSM_EDGE_STREAM);
		if (op->api != TL_NONE)
			PUT(op->api, TSM_EDGE_LAUNCH);
		if (op->cls == TSM_OPC_SYNC && op->sub == TSM_SYNC_STREAM_WAIT_EVENT &&
		    tl->syncs[op->aux].peer != TL_NONE)
			PUT(tl->syncs[op->aux].peer, TSM_EDGE_EVENT);
	} else {
		if (node > tl->lanes[li].first)
			PUT(node - 1, TSM_EDGE_THREAD);
		for (size_t i = sedge_lower(tl, node); i < tl->nsedges && tl->sedges[i].api == node;
		     i++)
			PUT(tl->sedges[i].op, TSM_EDGE_SYNC);
	}
#undef PUT
	*n = k;
	return 0;
}

/* ---- critical path ------------------------------------------------------ */

struct cand {
	uint64_t t;
	uint32_t node;
	uint8_t edge;	/* 0: own start */
	uint8_t at_end; /* the point we move to is the candidate's end (else its start) */
};

static void consider(struct cand *best, int *have, uint64_t now, uint64_t t, uint32_t node,
		     uint8_t edge, uint8_t at_end)
{
	if (t > now)
		return; /* inconsistent record: never walk forward in time */
	if (*have && t <= best->t)
		return; /* earlier candidates and ties keep the first (own, then lane) */
	best->t = t;
	best->node = node;
	best->edge = edge;
	best->at_end = at_end;
	*have = 1;
}

static int push_step(tsm_critical_path *cp, size_t *cap, uint32_t node, uint8_t edge, uint64_t s,
		     uint64_t e)
{
	if (cp->nsteps >= *cap) {
		tsm_cp_step *n = tsm__grow(cp->steps, cap, 1024, sizeof(*n));

		if (!n)
			return TSM_FAIL(TSM_NOMEM, "timeline: critical path of %zu steps",
					cp->nsteps + 1);
		cp->steps = n;
	}
	cp->steps[cp->nsteps].node = node;
	cp->steps[cp->nsteps].edge = edge;
	cp->steps[cp->nsteps].start_ns = s;
	cp->steps[cp->nsteps++].end_ns = e;
	return 0;
}

const tsm_critical_path *tsm_timeline_critical_path(tsm_timeline *tl)
{
	size_t nodes = tl->nops + tl->napis, cap = 0, guard;
	tsm_critical_path *cp;
	uint32_t cur = 0;
	uint64_t best = 0, now;
	int at_end = 1;

	if (tl->cp)
		return tl->cp;
	if (!tl->finished || !nodes) {
		TSM_FAIL(TSM_STATE, "timeline: no nodes for a critical path");
		return NULL;
	}
	cp = tsm__calloc(1, sizeof(*cp));
	if (!cp) {
		TSM_FAIL(TSM_NOMEM, "timeline: critical path");
		return NULL;
	}
	for (uint32_t i = 0; i < nodes; i++) {
		uint64_t e = tl_node_end(tl, i);

		if (i == 0 || e > best) {
			best = e;
			cur = i;
		}
	}
	cp->end_ns = now = best;
	for (guard = 3 * nodes + 3; guard; guard--) {
		struct cand c = {0};
		int have = 0, li = tsm_timeline_lane_of(tl, cur);
		uint32_t first = tl->lanes[li].first;

		if (at_end) {
			consider(&c, &have, now, tl_node_start(tl, cur), cur, 0, 0);
			if (tl_is_op(tl, cur)) {
				const tsm_tl_op *op = &tl->ops[cur];

				if (op->cls == TSM_OPC_SYNC &&
				    op->sub == TSM_SYNC_STREAM_WAIT_EVENT &&
				    tl->syncs[op->aux].peer != TL_NONE) {
					uint32_t p = tl->syncs[op->aux].peer;

					consider(&c, &have, now, tl->ops[p].end_ns, p,
						 TSM_EDGE_EVENT, 1);
				}
			} else {
				for (size_t i = sedge_lower(tl, cur);
				     i < tl->nsedges && tl->sedges[i].api == cur; i++) {
					uint32_t p = tl->sedges[i].op;

					consider(&c, &have, now, tl->ops[p].end_ns, p,
						 TSM_EDGE_SYNC, 1);
				}
			}
		} else {
			if (cur > first)
				consider(&c, &have, now, tl_node_end(tl, cur - 1), cur - 1,
					 tl_is_op(tl, cur) ? TSM_EDGE_STREAM : TSM_EDGE_THREAD, 1);
			if (tl_is_op(tl, cur) && tl->ops[cur].api != TL_NONE) {
				uint32_t a = tl->ops[cur].api;

				consider(&c, &have, now, tl_node_start(tl, a), a, TSM_EDGE_LAUNCH,
					 0);
			}
		}
		if (!have)
			break;
		if ((c.edge == 0 || c.t < now) && push_step(cp, &cap, cur, c.edge, c.t, now) < 0)
			goto fail;
		if (c.edge == 0) {
			if (tl_is_op(tl, cur))
				cp->class_ns[tl->ops[cur].cls] += now - c.t;
			else
				cp->api_ns += now - c.t;
		} else {
			cp->edge_ns[c.edge] += now - c.t;
		}
		now = c.t;
		cur = c.node;
		at_end = c.at_end;
	}
	/* the walk ends at the start of a node without predecessors */
	cp->start_ns = now;
	for (size_t i = 0, k = cp->nsteps; i < k / 2; i++) {
		tsm_cp_step t = cp->steps[i];

		cp->steps[i] = cp->steps[k - 1 - i];
		cp->steps[k - 1 - i] = t;
	}
	tl->cp = cp;
	return cp;
fail:
	tsm__free(cp->steps);
	tsm__free(cp);
	return NULL;
}
