/* SPDX-License-Identifier: Apache-2.0 */
/* Internal state of a tsm_timeline, shared by timeline.c, graph.c and states.c. */
#ifndef TSM_TIMELINE_INTERNAL_H
#define TSM_TIMELINE_INTERNAL_H

#include "common/internal.h"
#include "tracesmith/timeline.h"

#define TL_NONE UINT32_MAX

/* An in-stream sync record's extra facts (tsm_tl_op.aux for class SYNC). */
typedef struct tl_sync {
	uint64_t event_id;
	uint32_t peer; /* wait: node id of the matched event record; TL_NONE: none */
} tl_sync;

/* A host-side synchronisation record (stream / device / event synchronise). */
typedef struct tl_hsync {
	uint64_t start_ns, end_ns, correlation, event_id;
	uint32_t pid, stream;
	uint16_t device;
	uint8_t type; /* enum tsm_sync_type */
	uint32_t api; /* node id of the API call that waited; TL_NONE: not found */
} tl_hsync;

/* op -> host call that waited for it, sorted by `api`. */
typedef struct tl_sedge {
	uint32_t api, op;
} tl_sedge;

typedef struct tl_lane_key {
	uint64_t a, b; /* GPU: device << 32 | stream, pid; host: pid, tid */
	uint8_t type;
} tl_lane_key;

struct tsm_timeline {
	tsm_name_fn names;
	void *user;
	int finished;
	tsm_tl_summary sum;

	/* GPU ops and API calls; during adding, lane ids in the parallel arrays */
	tsm_tl_op *ops;
	uint16_t *op_lane;
	size_t nops, ops_cap;
	tsm_tl_api *apis;
	uint16_t *api_lane;
	size_t napis, apis_cap;

	tl_sync *syncs;
	size_t nsyncs, syncs_cap;
	tl_hsync *hsyncs;
	size_t nhsyncs, hsyncs_cap;
	tsm_tl_xfer *xfers;
	size_t nxfers, xfers_cap;
	tsm_tl_range *ranges;
	size_t nranges, ranges_cap;

	/* lanes: GPU and host tables while adding, one sorted array once finished */
	tl_lane_key *gkeys, *hkeys;
	size_t ngpu, nhost, gcap, hcap;
	uint32_t *lane_hash; /* open addressing: (index + 1) | host bit 31; 0 empty */
	size_t hash_cap;
	uint32_t last_lane[2];
	tl_lane_key last_key[2];

	tsm_tl_lane *lanes;
	size_t nlanes;
	uint32_t *lane_firsts; /* node id of each lane's first item, for lane_of */
	tsm_tl_device *devices;
	size_t ndevices;
	uint8_t *lane_corr_sorted; /* GPU lanes: correlations increase along the lane */

	tl_sedge *sedges;
	size_t nsedges;

	uint8_t *name_class; /* per string id: 0 unknown, 1 compute, 2 comm */
	size_t name_class_cap;

	tsm_critical_path *cp;
};

/* graph.c */
int tsm__tl_join(tsm_timeline *tl);
/* states.c */
int tsm__tl_sweep(tsm_timeline *tl);
int tsm__tl_states(tsm_timeline *tl);

static inline uint64_t tl_min(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static inline uint64_t tl_max(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* Node accessors (node < nops: op; else API call). */
static inline int tl_is_op(const tsm_timeline *tl, uint32_t node)
{
	return node < tl->nops;
}

static inline uint64_t tl_node_start(const tsm_timeline *tl, uint32_t node)
{
	return node < tl->nops ? tl->ops[node].start_ns : tl->apis[node - tl->nops].start_ns;
}

static inline uint64_t tl_node_end(const tsm_timeline *tl, uint32_t node)
{
	return node < tl->nops ? tl->ops[node].end_ns : tl->apis[node - tl->nops].end_ns;
}

/*
 * Natural merge sort by (start_ns, end_ns, correlation) of any record type
 * with those fields: one linear check when the input is already sorted,
 * else bottom-up merging of the sorted runs (one per SBT block) through a
 * buffer of the same size; log2(runs) passes. Runs overlap a lot (the
 * collector interleaves host threads at different simulated times), so
 * merging into the sorted prefix at the run's start point was tried and is
 * quadratic here.
 */
#define DEFINE_LANE_SORT(NAME, T)                                                                  \
	static inline int NAME##_less(const T *x, const T *y)                                      \
	{                                                                                          \
		if (x->start_ns != y->start_ns)                                                    \
			return x->start_ns < y->start_ns;                                          \
		if (x->end_ns != y->end_ns)                                                        \
			return x->end_ns < y->end_ns;                                              \
		return x->correlation < y->correlation;                                            \
	}                                                                                          \
	static int NAME(T *a, size_t n)                                                            \
	{                                                                                          \
		T *buf = NULL, *src = a, *dst;                                                     \
		size_t i, runs = 1;                                                                \
                                                                                                   \
		for (i = 1; i < n; i++)                                                            \
			if (NAME##_less(&a[i], &a[i - 1]))                                         \
				runs++;                                                            \
		if (runs == 1)                                                                     \
			return 0;                                                                  \
		buf = tsm__malloc(n * sizeof(T));                                                  \
		if (!buf)                                                                          \
			return TSM_FAIL(TSM_NOMEM, "timeline: sorting a lane of %zu", n);          \
		dst = buf;                                                                         \
		while (runs > 1) {                                                                 \
			size_t lo = 0, out = 0;                                                    \
			runs = 0;                                                                  \
			while (lo < n) {                                                           \
				size_t mid = lo + 1, hi, x, y;                                     \
				while (mid < n && !NAME##_less(&src[mid], &src[mid - 1]))          \
					mid++;                                                     \
				hi = mid;                                                          \
				if (hi < n) {                                                      \
					hi++;                                                      \
					while (hi < n && !NAME##_less(&src[hi], &src[hi - 1]))     \
						hi++;                                              \
				}                                                                  \
				for (x = lo, y = mid; x < mid && y < hi;)                          \
					dst[out++] = NAME##_less(&src[y], &src[x]) ? src[y++]      \
										   : src[x++];     \
				while (x < mid)                                                    \
					dst[out++] = src[x++];                                     \
				while (y < hi)                                                     \
					dst[out++] = src[y++];                                     \
				runs++;                                                            \
				lo = hi;                                                           \
			}                                                                          \
			T *t = src;                                                                \
			src = dst;                                                                 \
			dst = t;                                                                   \
		}                                                                                  \
		if (src != a)                                                                      \
			memcpy(a, src, n * sizeof(T));                                             \
		tsm__free(buf);                                                                    \
		return 0;                                                                          \
	}

#endif
