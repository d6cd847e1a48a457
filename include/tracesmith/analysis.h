/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tracesmith/analysis.h - where did the GPU time go: statistics over a
 * finished tsm_timeline, and text / JSON / CSV report writers.
 *
 * tsm_analysis_create computes everything at once: per kernel name
 * (count, total, mean, min, max, p50, p95, share of GPU time), per copy
 * direction and memset (count, bytes, achieved bandwidth), per API call
 * name, the launch latency distribution (API call start -> GPU start),
 * idle gaps per stream with their cause, short kernels, top-N lists, per
 * NVTX range and per ProfilerStep#N breakdowns, and the critical path's
 * shares. Percentiles are nearest-rank: the smallest value with at least
 * p% of the values at or below it.
 *
 * The result is a read-only struct owned by the caller (free it with
 * tsm_analysis_destroy); names are string ids of the timeline's trace.
 * The timeline must outlive the analysis. Not thread safe while created;
 * the result may be read from many threads.
 */
#ifndef TRACESMITH_ANALYSIS_H
#define TRACESMITH_ANALYSIS_H

#include <stdio.h>

#include "timeline.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tsm_analysis_opts {
	uint64_t short_kernel_ns; /* kernels shorter than this are "short"; 0: 10 us */
	uint32_t top_n;		  /* length of top-N lists; 0: 10 */
	int critical_path;	  /* 1: compute the critical path shares (costs a walk) */
} tsm_analysis_opts;

typedef struct tsm_kernel_stat {
	uint32_t name;
	uint8_t cls; /* TSM_OPC_COMPUTE or TSM_OPC_COMM */
	uint64_t count, total_ns, min_ns, max_ns, p50_ns, p95_ns;
	uint64_t short_count; /* launches shorter than the short-kernel threshold */
	double mean_ns;
	double share; /* of all kernel time, 0..1 */
} tsm_kernel_stat;

typedef struct tsm_copy_stat {
	uint8_t kind;	   /* TSM_EV_MEMCPY or TSM_EV_MEMSET */
	uint8_t copy_kind; /* memcpy: enum tsm_copy_kind */
	uint64_t count, bytes, total_ns;
	double gbps; /* bytes / busy time, 1e9 bytes per second */
} tsm_copy_stat;

typedef struct tsm_api_stat {
	uint32_t name;
	uint8_t kind; /* TSM_EV_RUNTIME or TSM_EV_DRIVER */
	uint64_t count, total_ns, min_ns, max_ns;
	double mean_ns;
} tsm_api_stat;

#define TSM_DIST_BUCKETS 40 /* bucket k: [2^k, 2^(k+1)) ns; bucket 0 also holds 0 */

typedef struct tsm_dist {
	uint64_t count, min_ns, max_ns, p50_ns, p90_ns, p95_ns, p99_ns;
	double mean_ns;
	uint64_t log2_hist[TSM_DIST_BUCKETS];
} tsm_dist;

/* Why a stream had nothing to run between two ops. */
enum tsm_gap_cause {
	TSM_GAP_HOST = 0,    /* the launching call started after the stream went idle */
	TSM_GAP_SYNC = 1,    /* ... and its thread was inside a synchronisation until then */
	TSM_GAP_STREAM = 2,  /* the stream waited for an event recorded on another stream */
	TSM_GAP_LAUNCH = 3,  /* the op was launched before the gap: launch / scheduling overhead */
	TSM_GAP_UNKNOWN = 4, /* no launching call in the trace */
	TSM_GAP__COUNT
};

TSM_API const char *tsm_gap_cause_name(unsigned cause);

typedef struct tsm_gap_stat {
	uint32_t lane; /* index into tsm_timeline_lanes */
	uint64_t count, total_ns, max_ns;
	uint64_t cause_count[TSM_GAP__COUNT], cause_ns[TSM_GAP__COUNT];
} tsm_gap_stat;

typedef struct tsm_gap {
	uint32_t lane;
	uint8_t cause;
	uint32_t before, after; /* op node ids around the gap */
	uint64_t start_ns, end_ns;
} tsm_gap;

/* One NVTX range instance; totals include nested ranges' work. */
typedef struct tsm_range_stat {
	uint32_t range; /* index into tsm_timeline_ranges */
	int64_t step;	/* N of "ProfilerStep#N", -1 otherwise */
	uint64_t ops;	/* GPU ops launched by calls inside the range (same process) */
	uint64_t kernel_ns, comm_ns, copy_ns; /* their GPU time (copy includes memset) */
	uint64_t api_ns;		      /* time of the launching calls */
} tsm_range_stat;

typedef struct tsm_range_name_stat {
	uint32_t name;
	uint64_t count, total_ns, ops, kernel_ns, comm_ns, copy_ns;
} tsm_range_name_stat;

typedef struct tsm_cp_share {
	uint32_t key; /* lane index, or string id for names */
	uint8_t cls;  /* names: op class, or TSM_OPC__COUNT for API calls */
	uint64_t ns;
} tsm_cp_share;

typedef struct tsm_analysis {
	const tsm_timeline *tl;
	uint64_t short_kernel_ns;
	uint32_t top_n;
	uint64_t kernel_ns; /* sum of kernel durations */
	uint64_t kernel_count;

	tsm_kernel_stat *kernels; /* by total time, descending */
	size_t nkernels;
	tsm_copy_stat *copies; /* memcpy directions, then memset */
	size_t ncopies;
	tsm_api_stat *apis; /* by total time, descending */
	size_t napis;
	tsm_dist launch_latency;
	tsm_gap_stat *gaps; /* one per GPU lane, lane order */
	size_t ngaps;
	tsm_gap *top_gaps; /* longest first, at most top_n */
	size_t ntop_gaps;
	uint32_t *top_ops; /* node ids of the longest kernels/copies/sets, longest first */
	size_t ntop_ops;
	uint64_t short_count, short_ns; /* kernels below the threshold */
	tsm_range_stat *ranges;		/* one per range, range order */
	size_t nranges;
	tsm_range_name_stat *range_names; /* by total duration, descending */
	size_t nrange_names;
	size_t nsteps; /* ranges with a ProfilerStep#N name */

	int have_cp;
	const tsm_critical_path *cp;
	tsm_cp_share *cp_lanes; /* own time per lane, descending */
	size_t ncp_lanes;
	tsm_cp_share *cp_names; /* own time per (name, class), descending, at most top_n */
	size_t ncp_names;
} tsm_analysis;

/*
 * Analyse a finished timeline. `opts` may be NULL. Returns 0, TSM_STATE
 * (timeline not finished) or TSM_NOMEM. Takes a non-const timeline only
 * because the critical path is computed and cached there.
 */
TSM_API int tsm_analysis_create(tsm_timeline *tl, const tsm_analysis_opts *opts,
				tsm_analysis **out);
TSM_API void tsm_analysis_destroy(tsm_analysis *a);

/* Report sections (bit mask). */
#define TSM_REP_SUMMARY	 (1u << 0)
#define TSM_REP_DEVICES	 (1u << 1)
#define TSM_REP_STREAMS	 (1u << 2)
#define TSM_REP_KERNELS	 (1u << 3)
#define TSM_REP_COPIES	 (1u << 4)
#define TSM_REP_APIS	 (1u << 5)
#define TSM_REP_LATENCY	 (1u << 6)
#define TSM_REP_GAPS	 (1u << 7)
#define TSM_REP_TOP	 (1u << 8)
#define TSM_REP_RANGES	 (1u << 9)
#define TSM_REP_STEPS	 (1u << 10)
#define TSM_REP_CRITICAL (1u << 11)
#define TSM_REP_ALL	 0xfffu

/* Section bit of a name ("kernels", ...); 0 if unknown. */
TSM_API unsigned tsm_report_section(const char *name);
TSM_API const char *tsm_report_section_name(unsigned bit);

enum tsm_report_format { TSM_REPORT_TEXT = 1, TSM_REPORT_JSON = 2, TSM_REPORT_CSV = 3 };

typedef struct tsm_report_opts {
	unsigned format;   /* enum tsm_report_format */
	unsigned sections; /* TSM_REP_* mask; 0: all */
	int demangle;	   /* show C++ kernel names demangled */
	uint32_t limit;	   /* text: rows per table (0: 25); JSON/CSV: all rows */
} tsm_report_opts;

/*
 * Write the report to `out`. Text is for people (aligned tables), JSON is
 * one object with a key per section, CSV is one table per section, each
 * preceded by a "# section" line and its header row, separated by a blank
 * line. Names are resolved with `names` (the trace's strings). Returns 0,
 * TSM_IO when writing failed, or TSM_NOMEM when a name could not be
 * demangled (the report is then written with that name as captured).
 */
TSM_API int tsm_analysis_write(const tsm_analysis *a, FILE *out, const tsm_report_opts *opts,
			       tsm_name_fn names, void *user);

#ifdef __cplusplus
}
#endif
#endif
