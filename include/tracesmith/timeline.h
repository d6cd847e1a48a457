/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tracesmith/timeline.h - lanes, busy time, concurrency, the stream
 * dependency graph, its critical path and the per-stream state machine.
 *
 * A tsm_timeline is built in one pass over a trace's events (in any
 * order: blocks of an SBT file overlap in time) and then finished once:
 * finishing sorts each lane by start, joins GPU work to the host API call
 * that launched it (same pid and correlation id), matches event records
 * to stream waits and host synchronisations to the GPU work they waited
 * for, and sweeps every device for utilisation and concurrency. All of it
 * comes from the records, never from timing guesses; docs/design/timeline.md
 * explains the data structures and the rules.
 *
 * Lanes. A GPU lane is one (device, stream) pair and holds kernels,
 * copies, sets and the two in-stream sync records (event record, stream
 * wait event). A host lane is one (pid, tid) thread and holds runtime and
 * driver API calls. NVTX ranges are kept per process. Other kinds (CPU
 * ops, counters, markers, memory records) are only counted.
 *
 * Node ids. Every GPU op and every API call is a node of the dependency
 * graph with a dense id: GPU ops first (lane by lane, in lane order),
 * then API calls (lane by lane). Ids are valid once finished.
 *
 * Ownership and threads: the timeline owns everything it returns; borrowed
 * pointers stay valid until tsm_timeline_destroy. One thread at a time may
 * add and finish; a finished timeline may be read from many threads.
 */
#ifndef TRACESMITH_TIMELINE_H
#define TRACESMITH_TIMELINE_H

#include <stdint.h>

#include "event.h"
#include "format.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tsm_timeline tsm_timeline;

/* Class of a GPU op (tsm_tl_op.cls). */
enum tsm_op_class {
	TSM_OPC_COMPUTE = 0, /* kernel that is not communication */
	TSM_OPC_COMM = 1,    /* NCCL-like kernel: name (demangled) starts with "nccl" */
	TSM_OPC_COPY = 2,    /* memcpy */
	TSM_OPC_SET = 3,     /* memset */
	TSM_OPC_SYNC = 4,    /* event record or stream wait on the stream (not busy time) */
	TSM_OPC__COUNT
};

/* One GPU op in a lane: 40 bytes, no pointers. */
typedef struct tsm_tl_op {
	uint64_t start_ns, end_ns;
	uint64_t correlation;
	uint32_t name; /* string id */
	uint32_t api;  /* node id of the launching API call, UINT32_MAX: none found */
	uint32_t aux;  /* COPY/SET: index into tsm_timeline_xfer; SYNC: index into sync table */
	uint8_t kind;  /* enum tsm_event_kind */
	uint8_t cls;   /* enum tsm_op_class */
	uint8_t sub;   /* memcpy: enum tsm_copy_kind; sync: enum tsm_sync_type */
	uint8_t flags; /* tsm_event.flags */
} tsm_tl_op;

#define TSM_TL_API_SYNC 1u /* the call waited for GPU work (host synchronisation) */

/* One host API call in a lane: 32 bytes. */
typedef struct tsm_tl_api {
	uint64_t start_ns, end_ns;
	uint64_t correlation;
	uint32_t name; /* string id */
	uint16_t cbid; /* CUPTI callback id (cut to 16 bits) */
	uint8_t kind;  /* TSM_EV_RUNTIME or TSM_EV_DRIVER */
	uint8_t flags; /* TSM_TL_API_* */
} tsm_tl_api;

/* An NVTX range of a process. */
typedef struct tsm_tl_range {
	uint64_t start_ns, end_ns;
	uint64_t tid;
	uint32_t pid;
	uint32_t name;	 /* string id */
	uint32_t depth;	 /* 0: outermost among the process's ranges */
	uint32_t parent; /* index of the enclosing range, UINT32_MAX: none */
} tsm_tl_range;

enum tsm_lane_type { TSM_LANE_GPU = 1, TSM_LANE_HOST = 2 };

/* Per-stream state (tsm_tl_lane.state_ns), exclusive, in this priority order. */
enum tsm_stream_state {
	TSM_SS_RUNNING = 0,   /* a kernel, copy or set executes */
	TSM_SS_WAITING = 1,   /* held by a stream-wait-event record */
	TSM_SS_LAUNCHING = 2, /* work was launched by the host but has not started */
	TSM_SS_SYNCING = 3,   /* the host waits in a stream/device synchronisation */
	TSM_SS_IDLE = 4,      /* none of the above, within the trace's span */
	TSM_SS__COUNT
};

typedef struct tsm_tl_lane {
	uint8_t type;	  /* enum tsm_lane_type */
	uint16_t device;  /* GPU lanes */
	uint32_t stream;  /* GPU lanes */
	uint32_t pid;	  /* host lanes (GPU lanes: pid of the first op) */
	uint64_t tid;	  /* host lanes */
	uint32_t first;	  /* node id of the lane's first item */
	uint32_t count;	  /* items in the lane */
	uint64_t busy_ns; /* GPU: union of kernel/copy/set time; host: sum of call time */
	uint64_t state_ns[TSM_SS__COUNT]; /* GPU lanes only */
} tsm_tl_lane;

#define TSM_TL_MAX_CONCURRENCY 16 /* histogram levels 0..15; level 15 holds 15 and more */

typedef struct tsm_tl_device {
	uint16_t device;
	uint64_t first_ns, last_ns; /* span of the device's busy time */
	uint64_t busy_ns;	    /* union of kernel/copy/set time */
	uint64_t class_ns[4];	    /* union per class: compute, comm, copy, set */
	uint64_t compute_copy_ns;   /* compute overlapping a copy or a set */
	uint64_t compute_comm_ns;   /* compute overlapping communication */
	uint64_t comm_copy_ns;	    /* communication overlapping a copy or a set */
	uint32_t max_concurrency;   /* most ops running at one time */
	uint64_t concurrency_ns[TSM_TL_MAX_CONCURRENCY]; /* time with k ops running, k = index */
	uint32_t lanes;					 /* GPU lanes (streams) of the device */
} tsm_tl_device;

/* Bytes of a copy or set (tsm_tl_op.aux). */
typedef struct tsm_tl_xfer {
	uint64_t bytes;
	uint16_t src_device, dst_device;
} tsm_tl_xfer;

/* Counts of what was seen. */
typedef struct tsm_tl_summary {
	uint64_t events; /* events added */
	uint64_t per_kind[TSM_EV__COUNT];
	uint64_t first_ns, last_ns; /* span of all events (0, 0 when empty) */
	uint32_t gpu_lanes, host_lanes, devices, ranges;
	uint64_t ops, apis;	  /* nodes */
	uint64_t launched;	  /* GPU ops joined to their API call */
	uint64_t unmatched_ops;	  /* kernels/copies/sets without an API call */
	uint64_t wait_edges;	  /* record -> stream wait edges */
	uint64_t unmatched_waits; /* stream waits whose record is missing */
	uint64_t sync_edges;	  /* GPU op -> host synchronisation edges */
} tsm_tl_summary;

/* Resolve a string id to a name (borrowed). Used to classify kernels. */
typedef const char *(*tsm_name_fn)(void *user, uint32_t id);

/*
 * Create an empty timeline. `names` (may be NULL: then no kernel is
 * communication) resolves string ids during tsm_timeline_add; `user` is
 * passed to it. Returns 0 or TSM_NOMEM.
 */
TSM_API int tsm_timeline_create(tsm_name_fn names, void *user, tsm_timeline **out);

/* NULL is accepted. */
TSM_API void tsm_timeline_destroy(tsm_timeline *tl);

/*
 * Add one event (copied; any order). Returns 0, TSM_NOMEM, TSM_INVAL
 * (end before start) or TSM_STATE (already finished). No allocation per
 * event except amortised array growth.
 */
TSM_API int tsm_timeline_add(tsm_timeline *tl, const tsm_event *ev);

/* Sort, join and sweep (see the top of this file). Returns 0, TSM_NOMEM or TSM_STATE. */
TSM_API int tsm_timeline_finish(tsm_timeline *tl);

/*
 * Read every event of `r` (from where it is) into a new timeline and
 * finish it. Names are resolved through `r`, which must outlive the
 * timeline only if the caller resolves names later. Returns 0 or the
 * reader's error (with its detail and offset), TSM_NOMEM, TSM_INVAL.
 */
TSM_API int tsm_timeline_build(tsm_reader *r, tsm_timeline **out);

/* ---- finished timeline: borrowed views (NULL / 0 before finish) ---- */

TSM_API const tsm_tl_summary *tsm_timeline_summary(const tsm_timeline *tl);
/* GPU lanes sorted by (device, stream), then host lanes sorted by (pid, tid). */
TSM_API const tsm_tl_lane *tsm_timeline_lanes(const tsm_timeline *tl, size_t *n);
/* Devices sorted by id. */
TSM_API const tsm_tl_device *tsm_timeline_devices(const tsm_timeline *tl, size_t *n);
/* All GPU ops, ids 0 .. n-1, lane by lane, each lane sorted by (start, end). */
TSM_API const tsm_tl_op *tsm_timeline_ops(const tsm_timeline *tl, size_t *n);
/* All API calls; node id = ops count + index. */
TSM_API const tsm_tl_api *tsm_timeline_apis(const tsm_timeline *tl, size_t *n);
/* NVTX ranges sorted by (pid, start, longer first); depth/parent within the pid. */
TSM_API const tsm_tl_range *tsm_timeline_ranges(const tsm_timeline *tl, size_t *n);
TSM_API const tsm_tl_xfer *tsm_timeline_xfers(const tsm_timeline *tl, size_t *n);
/* Lane index (into tsm_timeline_lanes) of a node id; -1 if out of range. */
TSM_API int tsm_timeline_lane_of(const tsm_timeline *tl, uint32_t node);

/* Utilisation over time: `nbins` bins of busy time (ns) of one device
 * over [from_ns, to_ns), into `busy` (caller's array). Returns 0 or TSM_INVAL. */
TSM_API int tsm_timeline_busy_bins(const tsm_timeline *tl, uint16_t device, uint64_t from_ns,
				   uint64_t to_ns, uint32_t nbins, uint64_t *busy);

/* ---- the stream dependency graph ---------------------------------- */

enum tsm_edge_type {
	TSM_EDGE_STREAM = 1, /* previous op on the same stream -> op */
	TSM_EDGE_THREAD = 2, /* previous call on the same host thread -> call */
	TSM_EDGE_LAUNCH = 3, /* API call -> the GPU op it launched (same correlation) */
	TSM_EDGE_EVENT = 4,  /* event record -> stream wait on the same CUDA event */
	TSM_EDGE_SYNC = 5,   /* GPU op -> host call that waited for it */
	TSM_EDGE__COUNT
};

TSM_API const char *tsm_edge_type_name(unsigned type);

typedef struct tsm_tl_edge {
	uint32_t from, to; /* node ids */
	uint8_t type;	   /* enum tsm_edge_type */
} tsm_tl_edge;

/*
 * Incoming edges of `node` into `edges` (caller's array of `cap`); the
 * number of edges is returned in *n (may exceed cap: then only cap were
 * written). Edges are derived on the fly, the graph costs no memory
 * beyond the lanes and the sync table. Returns 0 or TSM_INVAL.
 */
TSM_API int tsm_timeline_in_edges(const tsm_timeline *tl, uint32_t node, tsm_tl_edge *edges,
				  size_t cap, size_t *n);

/* One step of the critical path: a node's own time or a dependency gap. */
typedef struct tsm_cp_step {
	uint32_t node; /* node whose time (or whose wait before starting) this is */
	uint8_t edge;  /* 0: the node's own execution; else the enum tsm_edge_type crossed */
	uint64_t start_ns, end_ns;
} tsm_cp_step;

typedef struct tsm_critical_path {
	tsm_cp_step *steps; /* in time order; owned by the timeline */
	size_t nsteps;
	uint64_t start_ns, end_ns;	   /* the path's span; sum of step lengths == end - start */
	uint64_t class_ns[TSM_OPC__COUNT]; /* GPU op execution time on the path per class */
	uint64_t api_ns;		   /* host API call time on the path */
	uint64_t edge_ns[TSM_EDGE__COUNT]; /* gap time per dependency type crossed */
} tsm_critical_path;

/*
 * The critical path: start at the node that ends last and walk back,
 * always through the predecessor that was satisfied last (the one that
 * actually gated the node); see docs/design/timeline.md. Computed once,
 * borrowed until destroy. NULL when the timeline has no nodes or was not
 * finished, or allocation failed (tsm_last_error says which).
 */
TSM_API const tsm_critical_path *tsm_timeline_critical_path(tsm_timeline *tl);

TSM_API const char *tsm_stream_state_name(unsigned state);
TSM_API const char *tsm_op_class_name(unsigned cls);

#ifdef __cplusplus
}
#endif
#endif
