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

/* A direct-mapped cache entry of lane ids (the lane table is behind it). */
#define TL_LANE_CACHE 64
typedef struct tl_lane_slot {
	uint64_t a, b;
	uint32_t id; /* TL_NONE: empty */
} tl_lane_slot;

/*
 * A parallel build's partial timeline notes where each SBT block's records
 * begin in its file-order arrays, so that finishing can take the partials'
 * records in file order (timeline.c).
 */
typedef struct tl_mark {
	uint64_t seq; /* block ordinal (tsm__reader_block_seq) */
	uint32_t ops, apis, xfers, syncs, hsyncs, ranges;
} tl_mark;

struct tsm_timeline {
	tsm_name_fn names;
	void *user;
	int finished;
	tsm_tl_summary sum;

	/* GPU ops and API calls: while adding, appended in file order to `ops` / `apis` with
	 * each record's lane (per type, indexed like gkeys / hkeys) in `op_lane` / `api_lane`
	 * and per-lane counts in `gcount` / `hcount`; finishing scatters them by lane into the
	 * final arrays and sorts each lane (timeline.c explains the memory reuse) */
	tsm_tl_op *ops;
	size_t nops, ops_cap;
	tsm_tl_api *apis;
	size_t napis, apis_cap;
	uint16_t *op_lane, *api_lane; /* adding only */
	uint32_t *gcount, *hcount;    /* adding only */
	/* finishing only: the dead file-order call array, whose pages are already faulted in,
	 * lent as scratch to graph.c and states.c (a stack: tl_spare_take, then restore
	 * spare_used) */
	char *spare;
	size_t spare_bytes, spare_used;

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
	tl_lane_slot lane_cache[2]
			       [TL_LANE_CACHE]; /* [host]: direct-mapped, in front of the table */

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

	/* parallel build only: the other parts' partial timelines (this one is part 0), merged
	 * when finishing; each part's block marks */
	tsm_timeline **parts;
	size_t nparts;
	tl_mark *marks;
	size_t nmarks, marks_cap;
};

/* graph.c */
int tsm__tl_join(tsm_timeline *tl);
/* states.c */
int tsm__tl_sweep(tsm_timeline *tl);
/* States of GPU lanes [l0, l1), four interval lists in `scratch` (may be NULL: allocated). */
int tsm__tl_states(tsm_timeline *tl, size_t l0, size_t l1, void *scratch, size_t bytes);

static inline uint64_t tl_min(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static inline uint64_t tl_max(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* `bytes` of the spare block (64-byte aligned), or NULL when it has no room. */
static inline void *tl_spare_take(tsm_timeline *tl, size_t bytes)
{
	size_t b = (bytes + 63) & ~(size_t)63;
	void *p;

	if (!tl->spare || b > tl->spare_bytes - tl->spare_used)
		return NULL;
	p = tl->spare + tl->spare_used;
	tl->spare_used += b;
	return p;
}

static inline int tl_spare_owns(const tsm_timeline *tl, const void *p)
{
	uintptr_t a = (uintptr_t)p, s = (uintptr_t)tl->spare;

	return tl->spare && a >= s && a < s + tl->spare_bytes;
}

/* Free a buffer that came from tl_spare_take or the allocator. */
static inline void tl_spare_free(const tsm_timeline *tl, void *p)
{
	if (!tl_spare_owns(tl, p))
		tsm__free(p);
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
#define DEFINE_LANE_SORT(NAME, T)                                                                \
	static inline int NAME##_less(const T *x, const T *y)                                    \
	{                                                                                        \
		if (x->start_ns != y->start_ns)                                                  \
			return x->start_ns < y->start_ns;                                        \
		if (x->end_ns != y->end_ns)                                                      \
			return x->end_ns < y->end_ns;                                            \
		return x->correlation < y->correlation;                                          \
	}                                                                                        \
	static int NAME(T *a, size_t n)                                                          \
	{                                                                                        \
		T *buf = NULL, *src = a, *dst;                                                   \
		size_t i, runs = 1;                                                              \
                                                                                                 \
		for (i = 1; i < n; i++)                                                          \
			if (NAME##_less(&a[i], &a[i - 1]))                                       \
				runs++;                                                          \
		if (runs == 1)                                                                   \
			return 0;                                                                \
		buf = tsm__malloc(n * sizeof(T));                                                \
		if (!buf)                                                                        \
			return TSM_FAIL(TSM_NOMEM, "timeline: sorting a lane of %zu", n);        \
		dst = buf;                                                                       \
		while (runs > 1) {                                                               \
			size_t lo = 0, out = 0;                                                  \
			runs = 0;                                                                \
			while (lo < n) {                                                         \
				size_t mid = lo + 1, hi, x, y;                                   \
				while (mid < n && !NAME##_less(&src[mid], &src[mid - 1]))        \
					mid++;                                                   \
				hi = mid;                                                        \
				if (hi < n) {                                                    \
					hi++;                                                    \
					while (hi < n && !NAME##_less(&src[hi], &src[hi - 1]))   \
						hi++;                                            \
				}                                                                \
				for (x = lo, y = mid; x < mid && y < hi;)                        \
					dst[out++] =                                             \
					    NAME##_less(&src[y], &src[x]) ? src[y++] : src[x++]; \
				while (x < mid)                                                  \
					dst[out++] = src[x++];                                   \
				while (y < hi)                                                   \
					dst[out++] = src[y++];                                   \
				runs++;                                                          \
				lo = hi;                                                         \
			}                                                                        \
			T *t = src;                                                              \
			src = dst;                                                               \
			dst = t;                                                                 \
		}                                                                                \
		if (src != a)                                                                    \
			memcpy(a, src, n * sizeof(T));                                           \
		tsm__free(buf);                                                                  \
		return 0;                                                                        \
	}

/*
 * Gather a lane's records `src` (file order: a concatenation of sorted runs,
 * one per SBT block) into `dst`, sorted by (start, end, correlation) with
 * ties in file order, exactly as the merge sort above orders them.
 * Already sorted (most lanes): one check and a copy. Otherwise an LSD radix
 * sort of 8-byte keys ((start - lane min) << ibits | index) over the start
 * bits only, 11-bit digits (an 8 KiB histogram per pass; all histograms are
 * filled while the keys are built, and a pass whose digit is the same for
 * every key is skipped). LSD is stable, so equal starts stay in file order;
 * one gather by the keys' low bits moves each record once, and a stable
 * insertion sort by (end, correlation) fixes runs of equal starts (rare and
 * short). Sorting 8-byte keys instead of 32/40-byte records, in a few
 * branch-free passes, beats both the bottom-up merge (log2(runs) copies of
 * the records) and a heap merge of the run heads (the runs overlap almost
 * entirely). `keys` has room for TL_SORT_WORDS(n) words. A lane whose start
 * range and index need more than 64 bits falls back to the merge sort.
 */
#define TL_RADIX_BITS	 11
#define TL_RADIX_SIZE	 (1u << TL_RADIX_BITS)
#define TL_RADIX_MAXPASS 6 /* 6 x 11 >= 64 */
#define TL_SORT_WORDS(n) (2 * (size_t)(n) + TL_RADIX_MAXPASS * TL_RADIX_SIZE / 2)

#define DEFINE_LANE_GATHER(NAME, T, MSORT)                                                   \
	static int NAME(T *dst, T *src, size_t n, uint64_t *keys)                            \
	{                                                                                    \
		uint64_t lo, hi, *k = keys, *kt = keys + n, mask;                            \
		uint32_t *count = (uint32_t *)(keys + 2 * n);                                \
		unsigned ibits = 1, rbits, npass, p;                                         \
		size_t i, runs = 1, ties = 0;                                                \
                                                                                             \
		for (i = 1; i < n; i++)                                                      \
			runs += MSORT##_less(&src[i], &src[i - 1]);                          \
		if (runs == 1) {                                                             \
			if (n)                                                               \
				memcpy(dst, src, n * sizeof(T));                             \
			return 0;                                                            \
		}                                                                            \
		lo = hi = src[0].start_ns;                                                   \
		for (i = 1; i < n; i++) {                                                    \
			lo = tl_min(lo, src[i].start_ns);                                    \
			hi = tl_max(hi, src[i].start_ns);                                    \
		}                                                                            \
		while (((size_t)1 << ibits) < n)                                             \
			ibits++;                                                             \
		rbits = hi > lo ? 64u - (unsigned)__builtin_clzll(hi - lo) : 0;              \
		if (rbits + ibits > 64) {                                                    \
			int rc = MSORT(src, n);                                              \
                                                                                             \
			if (rc < 0)                                                          \
				return rc;                                                   \
			memcpy(dst, src, n * sizeof(T));                                     \
			return 0;                                                            \
		}                                                                            \
		npass = (rbits + TL_RADIX_BITS - 1) / TL_RADIX_BITS;                         \
		memset(count, 0, (size_t)npass *TL_RADIX_SIZE * sizeof(*count));             \
		for (i = 0; i < n; i++) {                                                    \
			uint64_t d = src[i].start_ns - lo;                                   \
                                                                                             \
			k[i] = d << ibits | i;                                               \
			for (p = 0; p < npass; p++)                                          \
				count[p * TL_RADIX_SIZE +                                    \
				      ((d >> (p * TL_RADIX_BITS)) & (TL_RADIX_SIZE - 1))]++; \
		}                                                                            \
		for (p = 0; p < npass; p++) {                                                \
			uint32_t *c = count + p * TL_RADIX_SIZE, sum = 0;                    \
			unsigned sh = ibits + p * TL_RADIX_BITS;                             \
			uint64_t *t;                                                         \
                                                                                             \
			if (c[(k[0] >> sh) & (TL_RADIX_SIZE - 1)] == n)                      \
				continue; /* the same digit everywhere */                    \
			for (unsigned b = 0; b < TL_RADIX_SIZE; b++) {                       \
				uint32_t x = c[b];                                           \
                                                                                             \
				c[b] = sum;                                                  \
				sum += x;                                                    \
			}                                                                    \
			for (i = 0; i < n; i++)                                              \
				kt[c[(k[i] >> sh) & (TL_RADIX_SIZE - 1)]++] = k[i];          \
			t = k;                                                               \
			k = kt;                                                              \
			kt = t;                                                              \
		}                                                                            \
		mask = ((uint64_t)1 << ibits) - 1;                                           \
		dst[0] = src[k[0] & mask];                                                   \
		for (i = 1; i < n; i++) {                                                    \
			dst[i] = src[k[i] & mask];                                           \
			ties += (k[i] >> ibits) == (k[i - 1] >> ibits);                      \
		}                                                                            \
		for (i = 1; ties && i < n; i++) {                                            \
			T x = dst[i];                                                        \
			size_t j = i;                                                        \
                                                                                             \
			if (x.start_ns != dst[i - 1].start_ns)                               \
				continue;                                                    \
			ties--;                                                              \
			while (j > 0 && MSORT##_less(&x, &dst[j - 1])) {                     \
				dst[j] = dst[j - 1];                                         \
				j--;                                                         \
			}                                                                    \
			dst[j] = x;                                                          \
		}                                                                            \
		return 0;                                                                    \
	}

#endif
