/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Statistics over a finished timeline.
 *
 * Per kernel name: one pass over the GPU ops fills a table indexed by
 * string id (ids are dense) with count / total / min / max; a counting
 * sort by name then groups all kernel durations into one u64 array and
 * p50 / p95 come from quickselect on each name's segment (O(n), no full
 * sort). Launch latencies go into one array and get the same treatment.
 *
 * Idle gaps: walking each GPU lane in order, a gap is the time between
 * the end of the work so far and the start of the next kernel/copy/set.
 * Its cause comes from records: a stream-wait-event record ending inside
 * the gap means the stream waited for another stream; otherwise the next
 * op's launching call says whether the host was late (the call started at
 * or after the gap began: HOST, or SYNC when the call before it on the
 * same thread was a synchronisation that ended inside the gap) or the op
 * was already queued (LAUNCH overhead).
 *
 * NVTX ranges: a GPU op belongs to the innermost range of its process
 * that contains the start of its launching call, and to that range's
 * ancestors (ranges are nested by containment in timeline.c). The
 * innermost range is found by bisection over the process's ranges sorted
 * by start, then by following parents.
 */
#include <stdlib.h>

#include "timeline/timeline-internal.h"
#include "tracesmith/analysis.h"

static const char *const cause_names[TSM_GAP__COUNT] = {"host", "sync", "stream", "launch",
							"unknown"};

const char *tsm_gap_cause_name(unsigned c)
{
	return c < TSM_GAP__COUNT ? cause_names[c] : "?";
}

/* k-th smallest (0-based) of v[0..n), reordering v. */
static uint64_t select_k(uint64_t *v, size_t n, size_t k)
{
	size_t lo = 0, hi = n - 1;

	while (lo < hi) {
		uint64_t a = v[lo], b = v[(lo + hi) / 2], c = v[hi], p, t;
		size_t i = lo, j = hi;

		p = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
		while (i <= j) {
			while (v[i] < p)
				i++;
			while (v[j] > p)
				j--;
			if (i <= j) {
				t = v[i];
				v[i] = v[j];
				v[j] = t;
				i++;
				if (j == 0)
					break;
				j--;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			return v[k];
	}
	return v[k];
}

/* Nearest-rank percentile index: ceil(p/100 * n) - 1. */
static size_t pct_index(size_t n, unsigned p)
{
	size_t k = (size_t)(((unsigned __int128)n * p + 99) / 100);

	return k ? k - 1 : 0;
}

/*
 * Percentiles `ps` (increasing) of v[0..n) into out[]. select_k leaves v
 * partitioned around the k-th element (nothing larger before it, nothing
 * smaller after it), so each further percentile is selected only in the
 * part at and above the previous one.
 */
static void pcts(uint64_t *v, size_t n, const unsigned *ps, int np, uint64_t *out)
{
	size_t lo = 0;

	for (int i = 0; i < np; i++) {
		size_t k;

		if (!n) {
			out[i] = 0;
			continue;
		}
		k = pct_index(n, ps[i]);
		if (k < lo) /* cannot happen for increasing ps; stay exact anyway */
			lo = 0;
		out[i] = select_k(v + lo, n - lo, k - lo);
		lo = k;
	}
}

static unsigned log2_bucket(uint64_t x)
{
	unsigned b = x ? 63u - (unsigned)__builtin_clzll(x) : 0;

	return b < TSM_DIST_BUCKETS ? b : TSM_DIST_BUCKETS - 1;
}

static int cmp_kernel(const void *a, const void *b)
{
	const tsm_kernel_stat *x = a, *y = b;

	if (x->total_ns != y->total_ns)
		return x->total_ns > y->total_ns ? -1 : 1;
	return x->name < y->name ? -1 : x->name > y->name;
}

static int cmp_api(const void *a, const void *b)
{
	const tsm_api_stat *x = a, *y = b;

	if (x->total_ns != y->total_ns)
		return x->total_ns > y->total_ns ? -1 : 1;
	if (x->name != y->name)
		return x->name < y->name ? -1 : 1;
	return x->kind - y->kind;
}

static int cmp_share(const void *a, const void *b)
{
	const tsm_cp_share *x = a, *y = b;

	if (x->ns != y->ns)
		return x->ns > y->ns ? -1 : 1;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->cls - y->cls;
}

static int cmp_rname(const void *a, const void *b)
{
	const tsm_range_name_stat *x = a, *y = b;

	if (x->total_ns != y->total_ns)
		return x->total_ns > y->total_ns ? -1 : 1;
	return x->name < y->name ? -1 : x->name > y->name;
}

static uint32_t max_name(const tsm_timeline *tl)
{
	uint32_t m = 0;

	for (size_t i = 0; i < tl->nops; i++)
		if (tl->ops[i].name > m)
			m = tl->ops[i].name;
	for (size_t i = 0; i < tl->napis; i++)
		if (tl->apis[i].name > m)
			m = tl->apis[i].name;
	for (size_t i = 0; i < tl->nranges; i++)
		if (tl->ranges[i].name > m)
			m = tl->ranges[i].name;
	return m;
}

/* `durs`: room for one u64 per GPU op */
static int kernels(tsm_analysis *a, const tsm_timeline *tl, uint32_t nnames, uint64_t *durs)
{
	tsm_kernel_stat *by = tsm__calloc(nnames + 1, sizeof(*by));
	uint64_t *off = tsm__calloc(nnames + 2, sizeof(*off));
	size_t n = 0;
	int rc = 0;

	if (!by || !off) {
		rc = TSM_FAIL(TSM_NOMEM, "analysis: kernel table");
		goto out;
	}
	for (size_t i = 0; i < tl->nops; i++) {
		const tsm_tl_op *op = &tl->ops[i];
		tsm_kernel_stat *k;
		uint64_t d;

		if (op->kind != TSM_EV_KERNEL)
			continue;
		d = op->end_ns - op->start_ns;
		k = &by[op->name];
		if (!k->count || d < k->min_ns)
			k->min_ns = d;
		if (d > k->max_ns)
			k->max_ns = d;
		k->count++;
		k->total_ns += d;
		k->cls = op->cls;
		if (d < a->short_kernel_ns) {
			k->short_count++;
			a->short_count++;
			a->short_ns += d;
		}
		a->kernel_ns += d;
		a->kernel_count++;
	}
	for (uint32_t i = 0; i <= nnames; i++) {
		off[i + 1] = off[i] + by[i].count;
		if (by[i].count)
			n++;
	}
	{
		uint64_t *pos = off + 0; /* reuse: fill pointers advance, recomputed below */

		for (size_t i = 0; i < tl->nops; i++) {
			const tsm_tl_op *op = &tl->ops[i];

			if (op->kind == TSM_EV_KERNEL)
				durs[pos[op->name]++] = op->end_ns - op->start_ns;
		}
	}
	a->kernels = tsm__calloc(n + 1, sizeof(*a->kernels));
	if (!a->kernels) {
		rc = TSM_FAIL(TSM_NOMEM, "analysis: kernels");
		goto out;
	}
	/* off[i] now holds the end of name i's segment; its start is end - count */
	for (uint32_t i = 0; i <= nnames; i++) {
		tsm_kernel_stat *k = &by[i];
		uint64_t *seg;

		if (!k->count)
			continue;
		seg = durs + off[i] - k->count;
		k->name = i;
		k->mean_ns = (double)k->total_ns / (double)k->count;
		k->share = a->kernel_ns ? (double)k->total_ns / (double)a->kernel_ns : 0;
		{
			static const unsigned ps[2] = {50, 95};
			uint64_t out[2];

			pcts(seg, k->count, ps, 2, out);
			k->p50_ns = out[0];
			k->p95_ns = out[1];
		}
		a->kernels[a->nkernels++] = *k;
	}
	qsort(a->kernels, a->nkernels, sizeof(*a->kernels), cmp_kernel);
out:
	tsm__free(by);
	tsm__free(off);
	return rc;
}

static int copies(tsm_analysis *a, const tsm_timeline *tl)
{
	tsm_copy_stat c[TSM_COPY__COUNT + 1] = {{0}};

	for (size_t i = 0; i < tl->nops; i++) {
		const tsm_tl_op *op = &tl->ops[i];
		tsm_copy_stat *s;

		if (op->cls != TSM_OPC_COPY && op->cls != TSM_OPC_SET)
			continue;
		s = op->cls == TSM_OPC_SET ? &c[TSM_COPY__COUNT] : &c[op->sub];
		s->count++;
		s->bytes += tl->xfers[op->aux].bytes;
		s->total_ns += op->end_ns - op->start_ns;
	}
	a->copies = tsm__calloc(TSM_COPY__COUNT + 1, sizeof(*a->copies));
	if (!a->copies)
		return TSM_FAIL(TSM_NOMEM, "analysis: copies");
	for (unsigned k = 0; k <= TSM_COPY__COUNT; k++) {
		if (!c[k].count)
			continue;
		c[k].kind = k == TSM_COPY__COUNT ? TSM_EV_MEMSET : TSM_EV_MEMCPY;
		c[k].copy_kind = k == TSM_COPY__COUNT ? 0 : (uint8_t)k;
		c[k].gbps = c[k].total_ns ? (double)c[k].bytes / (double)c[k].total_ns : 0;
		a->copies[a->ncopies++] = c[k];
	}
	return 0;
}

static int apis(tsm_analysis *a, const tsm_timeline *tl, uint32_t nnames)
{
	tsm_api_stat *by = tsm__calloc(2 * ((size_t)nnames + 1), sizeof(*by));
	size_t n = 0;

	if (!by)
		return TSM_FAIL(TSM_NOMEM, "analysis: API table");
	for (size_t i = 0; i < tl->napis; i++) {
		const tsm_tl_api *x = &tl->apis[i];
		tsm_api_stat *s = &by[2 * (size_t)x->name + (x->kind == TSM_EV_DRIVER)];
		uint64_t d = x->end_ns - x->start_ns;

		if (!s->count || d < s->min_ns)
			s->min_ns = d;
		if (d > s->max_ns)
			s->max_ns = d;
		s->count++;
		s->total_ns += d;
	}
	for (size_t i = 0; i < 2 * ((size_t)nnames + 1); i++)
		if (by[i].count) {
			by[i].name = (uint32_t)(i / 2);
			by[i].kind = i % 2 ? TSM_EV_DRIVER : TSM_EV_RUNTIME;
			by[i].mean_ns = (double)by[i].total_ns / (double)by[i].count;
			by[n++] = by[i];
		}
	qsort(by, n, sizeof(*by), cmp_api);
	a->apis = by;
	a->napis = n;
	return 0;
}

/* `v`: room for one u64 per GPU op */
static int latency(tsm_analysis *a, const tsm_timeline *tl, uint64_t *v)
{
	tsm_dist *d = &a->launch_latency;
	uint64_t sum = 0;
	size_t n = 0;

	for (size_t i = 0; i < tl->nops; i++) {
		const tsm_tl_op *op = &tl->ops[i];
		uint64_t s, l;

		if (op->cls == TSM_OPC_SYNC || op->api == TL_NONE)
			continue;
		s = tl->apis[op->api - tl->nops].start_ns;
		l = op->start_ns > s ? op->start_ns - s : 0;
		v[n++] = l;
		sum += l;
		if (n == 1 || l < d->min_ns)
			d->min_ns = l;
		if (l > d->max_ns)
			d->max_ns = l;
		d->log2_hist[log2_bucket(l)]++;
	}
	d->count = n;
	if (n) {
		d->mean_ns = (double)sum / (double)n;
		static const unsigned ps[4] = {50, 90, 95, 99};
		uint64_t out[4];

		pcts(v, n, ps, 4, out);
		d->p50_ns = out[0];
		d->p90_ns = out[1];
		d->p95_ns = out[2];
		d->p99_ns = out[3];
	}
	return 0;
}

/* Keep the `cap` largest gaps, longest first (cap is small: insertion). */
static void top_gap(tsm_analysis *a, const tsm_gap *g)
{
	uint64_t len = g->end_ns - g->start_ns;
	size_t i;

	if (!a->top_n)
		return;
	if (a->ntop_gaps == a->top_n) {
		const tsm_gap *last = &a->top_gaps[a->ntop_gaps - 1];

		if (last->end_ns - last->start_ns >= len)
			return;
		a->ntop_gaps--;
	}
	i = a->ntop_gaps++;
	while (i > 0 && a->top_gaps[i - 1].end_ns - a->top_gaps[i - 1].start_ns < len) {
		a->top_gaps[i] = a->top_gaps[i - 1];
		i--;
	}
	a->top_gaps[i] = *g;
}

static void top_op(tsm_analysis *a, const tsm_timeline *tl, uint32_t node)
{
	uint64_t len = tl->ops[node].end_ns - tl->ops[node].start_ns;
	size_t i;

	if (!a->top_n)
		return;
	if (a->ntop_ops == a->top_n) {
		const tsm_tl_op *last = &tl->ops[a->top_ops[a->ntop_ops - 1]];

		if (last->end_ns - last->start_ns >= len)
			return;
		a->ntop_ops--;
	}
	i = a->ntop_ops++;
	while (i > 0) {
		const tsm_tl_op *p = &tl->ops[a->top_ops[i - 1]];

		if (p->end_ns - p->start_ns >= len)
			break;
		a->top_ops[i] = a->top_ops[i - 1];
		i--;
	}
	a->top_ops[i] = node;
}

static uint8_t gap_cause(const tsm_timeline *tl, const tsm_tl_lane *l, const tsm_tl_op *next,
			 uint64_t gap_start, uint64_t wait_end)
{
	const tsm_tl_api *call;
	int li;

	if (wait_end > gap_start)
		return TSM_GAP_STREAM;
	if (next->api == TL_NONE)
		return TSM_GAP_UNKNOWN;
	call = &tl->apis[next->api - tl->nops];
	if (call->start_ns < gap_start)
		return TSM_GAP_LAUNCH;
	li = tsm_timeline_lane_of(tl, next->api);
	if (li >= 0 && next->api > tl->lanes[li].first) {
		const tsm_tl_api *prev = call - 1;

		if ((prev->flags & TSM_TL_API_SYNC) && prev->end_ns > gap_start)
			return TSM_GAP_SYNC;
	}
	(void)l;
	return TSM_GAP_HOST;
}

static int gaps_and_tops(tsm_analysis *a, const tsm_timeline *tl)
{
	a->gaps = tsm__calloc(tl->ngpu + 1, sizeof(*a->gaps));
	a->top_gaps = tsm__calloc(a->top_n + 1, sizeof(*a->top_gaps));
	a->top_ops = tsm__calloc(a->top_n + 1, sizeof(*a->top_ops));
	if (!a->gaps || !a->top_gaps || !a->top_ops)
		return TSM_FAIL(TSM_NOMEM, "analysis: gaps");
	for (size_t li = 0; li < tl->ngpu; li++) {
		const tsm_tl_lane *l = &tl->lanes[li];
		tsm_gap_stat *gs = &a->gaps[a->ngaps++];
		uint64_t end = 0, wait_end = 0;
		uint32_t prev = TL_NONE;

		gs->lane = (uint32_t)li;
		for (uint32_t i = 0; i < l->count; i++) {
			uint32_t node = l->first + i;
			const tsm_tl_op *op = &tl->ops[node];

			if (op->cls == TSM_OPC_SYNC) {
				if (op->sub == TSM_SYNC_STREAM_WAIT_EVENT && prev != TL_NONE)
					wait_end = tl_max(wait_end, op->end_ns);
				continue;
			}
			top_op(a, tl, node);
			if (prev != TL_NONE && op->start_ns > end) {
				tsm_gap g = {(uint32_t)li, 0, prev, node, end, op->start_ns};
				uint64_t len = op->start_ns - end;

				g.cause = gap_cause(tl, l, op, end, wait_end);
				gs->count++;
				gs->total_ns += len;
				gs->max_ns = tl_max(gs->max_ns, len);
				gs->cause_count[g.cause]++;
				gs->cause_ns[g.cause] += len;
				top_gap(a, &g);
			}
			if (prev == TL_NONE || op->end_ns > end)
				end = op->end_ns;
			prev = node;
			wait_end = 0;
		}
	}
	return 0;
}

/* Innermost range of `pid` containing t; TL_NONE if none. ranges[lo, hi) is the pid's run. */
static uint32_t innermost(const tsm_timeline *tl, size_t lo, size_t hi, uint64_t t)
{
	uint32_t r;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (tl->ranges[mid].start_ns <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return TL_NONE;
	r = (uint32_t)(lo - 1);
	while (r != TL_NONE && !(tl->ranges[r].start_ns <= t && t <= tl->ranges[r].end_ns))
		r = tl->ranges[r].parent;
	return r;
}

static int64_t step_number(const char *s)
{
	int64_t n = 0;

	if (!s || strncmp(s, "ProfilerStep#", 13))
		return -1;
	s += 13;
	if (*s < '0' || *s > '9')
		return -1;
	while (*s >= '0' && *s <= '9' && n < INT64_MAX / 10)
		n = n * 10 + (*s++ - '0');
	return *s ? -1 : n;
}

static int ranges(tsm_analysis *a, const tsm_timeline *tl, uint32_t nnames)
{
	uint32_t *name_slot = NULL;
	int rc = 0;

	if (!tl->nranges)
		return 0;
	a->ranges = tsm__calloc(tl->nranges, sizeof(*a->ranges));
	a->range_names = tsm__calloc(tl->nranges, sizeof(*a->range_names));
	name_slot = tsm__calloc((size_t)nnames + 1, sizeof(*name_slot));
	if (!a->ranges || !a->range_names || !name_slot) {
		rc = TSM_FAIL(TSM_NOMEM, "analysis: ranges");
		goto out;
	}
	a->nranges = tl->nranges;
	for (size_t i = 0; i < tl->nranges; i++) {
		a->ranges[i].range = (uint32_t)i;
		a->ranges[i].step =
		    step_number(tl->names ? tl->names(tl->user, tl->ranges[i].name) : NULL);
		if (a->ranges[i].step >= 0)
			a->nsteps++;
	}
	for (size_t li = 0; li < tl->ngpu; li++) {
		const tsm_tl_lane *l = &tl->lanes[li];
		size_t lo = 0, hi;
		uint32_t last = TL_NONE;

		/* the pid's run of ranges */
		while (lo < tl->nranges && tl->ranges[lo].pid < l->pid)
			lo++;
		for (hi = lo; hi < tl->nranges && tl->ranges[hi].pid == l->pid; hi++)
			;
		if (lo == hi)
			continue;
		for (uint32_t i = 0; i < l->count; i++) {
			const tsm_tl_op *op = &tl->ops[l->first + i];
			const tsm_tl_api *call;
			uint64_t d;
			uint32_t r;

			if (op->cls == TSM_OPC_SYNC || op->api == TL_NONE)
				continue;
			call = &tl->apis[op->api - tl->nops];
			/* consecutive ops mostly fall in the same innermost range */
			if (last != TL_NONE && tl->ranges[last].start_ns <= call->start_ns &&
			    call->start_ns <= tl->ranges[last].end_ns &&
			    (last + 1 >= hi || tl->ranges[last + 1].start_ns > call->start_ns))
				r = last;
			else
				r = innermost(tl, lo, hi, call->start_ns);
			last = r;
			d = op->end_ns - op->start_ns;
			for (; r != TL_NONE; r = tl->ranges[r].parent) {
				tsm_range_stat *s = &a->ranges[r];

				s->ops++;
				s->api_ns += call->end_ns - call->start_ns;
				if (op->cls == TSM_OPC_COMPUTE)
					s->kernel_ns += d;
				else if (op->cls == TSM_OPC_COMM)
					s->comm_ns += d;
				else
					s->copy_ns += d;
			}
		}
	}
	for (size_t i = 0; i < tl->nranges; i++) {
		const tsm_tl_range *r = &tl->ranges[i];
		const tsm_range_stat *s = &a->ranges[i];
		tsm_range_name_stat *n;

		if (!name_slot[r->name]) {
			name_slot[r->name] = (uint32_t)++a->nrange_names;
			a->range_names[a->nrange_names - 1].name = r->name;
		}
		n = &a->range_names[name_slot[r->name] - 1];
		n->count++;
		n->total_ns += r->end_ns - r->start_ns;
		n->ops += s->ops;
		n->kernel_ns += s->kernel_ns;
		n->comm_ns += s->comm_ns;
		n->copy_ns += s->copy_ns;
	}
	qsort(a->range_names, a->nrange_names, sizeof(*a->range_names), cmp_rname);
out:
	tsm__free(name_slot);
	return rc;
}

static int critical(tsm_analysis *a, tsm_timeline *tl, uint32_t nnames)
{
	const tsm_critical_path *cp = tsm_timeline_critical_path(tl);
	tsm_cp_share *names = NULL;
	size_t nn = 0, slots = ((size_t)nnames + 1) * (TSM_OPC__COUNT + 1);

	if (!cp)
		return tsm_last_error_status() == TSM_NOMEM ? TSM_NOMEM : 0;
	a->cp = cp;
	a->have_cp = 1;
	a->cp_lanes = tsm__calloc(tl->nlanes + 1, sizeof(*a->cp_lanes));
	names = tsm__calloc(slots, sizeof(*names));
	if (!a->cp_lanes || !names) {
		tsm__free(names);
		return TSM_FAIL(TSM_NOMEM, "analysis: critical path shares");
	}
	for (size_t i = 0; i < tl->nlanes; i++)
		a->cp_lanes[i].key = (uint32_t)i;
	for (size_t i = 0; i < cp->nsteps; i++) {
		const tsm_cp_step *s = &cp->steps[i];
		int li = tsm_timeline_lane_of(tl, s->node);
		uint64_t len = s->end_ns - s->start_ns;
		uint32_t name;
		uint8_t cls;

		if (s->edge || li < 0)
			continue;
		a->cp_lanes[li].ns += len;
		if (tl_is_op(tl, s->node)) {
			name = tl->ops[s->node].name;
			cls = tl->ops[s->node].cls;
		} else {
			name = tl->apis[s->node - tl->nops].name;
			cls = TSM_OPC__COUNT;
		}
		names[(size_t)name * (TSM_OPC__COUNT + 1) + cls].ns += len;
	}
	a->ncp_lanes = tl->nlanes;
	qsort(a->cp_lanes, a->ncp_lanes, sizeof(*a->cp_lanes), cmp_share);
	while (a->ncp_lanes && !a->cp_lanes[a->ncp_lanes - 1].ns)
		a->ncp_lanes--;
	for (size_t i = 0; i < slots; i++)
		if (names[i].ns) {
			names[nn].key = (uint32_t)(i / (TSM_OPC__COUNT + 1));
			names[nn].cls = (uint8_t)(i % (TSM_OPC__COUNT + 1));
			names[nn++].ns = names[i].ns;
		}
	qsort(names, nn, sizeof(*names), cmp_share);
	a->cp_names = names;
	a->ncp_names = nn < a->top_n ? nn : a->top_n;
	return 0;
}

/*
 * The statistics fall in two independent halves of about the same cost
 * (kernels, copies and NVTX ranges; calls, launch latency and gaps), each
 * writing its own fields of the analysis, so with threads they run side by
 * side. Each half has its own per-op value buffer.
 */
typedef struct an_half {
	tsm_analysis *a;
	const tsm_timeline *tl;
	uint32_t nnames;
	int second;
} an_half;

static int half_run(void *arg)
{
	an_half *h = arg;
	uint64_t *vals = NULL;
	int rc;

	vals = tsm__malloc((h->tl->nops + 1) * sizeof(*vals));
	if (!vals)
		return TSM_FAIL(TSM_NOMEM, "analysis: %zu GPU ops", h->tl->nops);
	if (!h->second) {
		rc = kernels(h->a, h->tl, h->nnames, vals);
		if (rc >= 0)
			rc = copies(h->a, h->tl);
		if (rc >= 0)
			rc = ranges(h->a, h->tl, h->nnames);
	} else {
		rc = apis(h->a, h->tl, h->nnames);
		if (rc >= 0)
			rc = latency(h->a, h->tl, vals);
		if (rc >= 0)
			rc = gaps_and_tops(h->a, h->tl);
	}
	tsm__free(vals);
	return rc;
}

int tsm_analysis_create(tsm_timeline *tl, const tsm_analysis_opts *opts, tsm_analysis **out)
{
	tsm_analysis *a;
	an_half halves[2];
	void *args[2] = {&halves[0], &halves[1]};
	uint32_t nnames;
	int rc;

	*out = NULL;
	if (!tl->finished)
		return TSM_FAIL(TSM_STATE, "analysis: timeline not finished");
	a = tsm__calloc(1, sizeof(*a));
	if (!a)
		return TSM_FAIL(TSM_NOMEM, "analysis");
	a->tl = tl;
	a->short_kernel_ns = opts && opts->short_kernel_ns ? opts->short_kernel_ns : 10000;
	a->top_n = opts && opts->top_n ? opts->top_n : 10;
	nnames = max_name(tl);
	halves[0] = (an_half){a, tl, nnames, 0};
	halves[1] = (an_half){a, tl, nnames, 1};
	if (tsm__threads() > 1) {
		rc = tsm__parallel(half_run, args, 2);
	} else {
		rc = half_run(args[0]);
		if (rc >= 0)
			rc = half_run(args[1]);
	}
	if (rc >= 0 && opts && opts->critical_path)
		rc = critical(a, tl, nnames);
	if (rc < 0) {
		tsm_analysis_destroy(a);
		return rc;
	}
	*out = a;
	return 0;
}

void tsm_analysis_destroy(tsm_analysis *a)
{
	if (!a)
		return;
	tsm__free(a->kernels);
	tsm__free(a->copies);
	tsm__free(a->apis);
	tsm__free(a->gaps);
	tsm__free(a->top_gaps);
	tsm__free(a->top_ops);
	tsm__free(a->ranges);
	tsm__free(a->range_names);
	tsm__free(a->cp_lanes);
	tsm__free(a->cp_names);
	tsm__free(a);
}
