/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tracesmith/event.h - the event model shared by every stage.
 *
 * One tsm_event is 128 bytes with no implicit padding, so it can travel
 * through rings as a fixed-size record, be hashed and compared as bytes,
 * and be decoded in place by the reader. Strings (names, NVTX domains),
 * call stacks and metadata lists are referred to by interned ids (see
 * intern.h); id 0 always means "none".
 *
 * Times are nanoseconds in the file's clock domain (tsm_trace_info.clock).
 * Instant events (markers, counters, drop records) have end_ns == start_ns.
 *
 * Fields that apply to all kinds:
 *   device      GPU ordinal, TSM_DEVICE_NONE for host-side events
 *   context     CUDA context id (0 when unknown)
 *   stream      CUDA stream id (0 when none)
 *   pid, tid    process and thread (Kineto's pid/thread_id); tid is the host
 *               thread that ran the event or, for GPU work, 0
 *   correlation host API call <-> GPU work link (CUPTI correlation id)
 *   external    framework op / NVTX range id (Kineto "External id")
 *   name        string id (kernel: mangled name as captured)
 *   stack       call-stack id (0: none)
 *   meta        key/value list id (0: none)
 *   flow_id/flow_type  an explicit flow arrow (record -> wait, user flows)
 */
#ifndef TRACESMITH_EVENT_H
#define TRACESMITH_EVENT_H

#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TSM_DEVICE_NONE 0xFFFFu

/* Event kinds. Values are part of the SBT format: never renumber. */
#define TSM_EVENT_KIND_LIST(X)      \
	X(KERNEL, 1, "kernel")      \
	X(MEMCPY, 2, "memcpy")      \
	X(MEMSET, 3, "memset")      \
	X(SYNC, 4, "sync")          \
	X(ALLOC, 5, "alloc")        \
	X(FREE, 6, "free")          \
	X(RUNTIME, 7, "runtime")    \
	X(DRIVER, 8, "driver")      \
	X(NVTX_RANGE, 9, "range")   \
	X(NVTX_MARK, 10, "marker")  \
	X(COUNTER, 11, "counter")   \
	X(OVERHEAD, 12, "overhead") \
	X(DROPPED, 13, "dropped")   \
	X(CPU_OP, 14, "cpu_op")

enum tsm_event_kind {
	TSM_EV_NONE = 0,
#define TSM__KIND_ENUM(name, value, text) TSM_EV_##name = value,
	TSM_EVENT_KIND_LIST(TSM__KIND_ENUM)
#undef TSM__KIND_ENUM
	    TSM_EV__COUNT
};

/* Memcpy direction. */
enum tsm_copy_kind {
	TSM_COPY_UNKNOWN = 0,
	TSM_COPY_H2D = 1,
	TSM_COPY_D2H = 2,
	TSM_COPY_D2D = 3,
	TSM_COPY_H2H = 4,
	TSM_COPY_P2P = 5,
	TSM_COPY__COUNT
};

/* Memory kind of a copy source/destination, a set or an allocation. */
enum tsm_mem_kind {
	TSM_MEM_UNKNOWN = 0,
	TSM_MEM_PAGEABLE = 1,
	TSM_MEM_PINNED = 2,
	TSM_MEM_DEVICE = 3,
	TSM_MEM_ARRAY = 4,
	TSM_MEM_MANAGED = 5,
	TSM_MEM_DEVICE_STATIC = 6,
	TSM_MEM_MANAGED_STATIC = 7,
	TSM_MEM__COUNT
};

/* Synchronisation record type. */
enum tsm_sync_type {
	TSM_SYNC_UNKNOWN = 0,
	TSM_SYNC_EVENT = 1,		/* cudaEventSynchronize */
	TSM_SYNC_STREAM_WAIT_EVENT = 2, /* cudaStreamWaitEvent: stream waits for event_id */
	TSM_SYNC_STREAM = 3,		/* cudaStreamSynchronize */
	TSM_SYNC_CONTEXT = 4,		/* cudaDeviceSynchronize / cuCtxSynchronize */
	TSM_SYNC_EVENT_RECORD = 5,	/* cudaEventRecord reached on the GPU */
	TSM_SYNC__COUNT
};

enum tsm_flow_type {
	TSM_FLOW_NONE = 0,
	TSM_FLOW_START = 1, /* arrow leaves this event */
	TSM_FLOW_END = 2,   /* arrow arrives at this event */
	TSM_FLOW_STEP = 3,  /* arrow passes through */
};

/* tsm_event.flags */
#define TSM_EVF_ASYNC	    (1u << 0) /* memcpy/memset/alloc is asynchronous */
#define TSM_EVF_GRAPH	    (1u << 1) /* launched as part of a CUDA graph */
#define TSM_EVF_COOPERATIVE (1u << 2)
#define TSM_EVF_IMPORTED    (1u << 3) /* converted from another trace format */

typedef struct tsm_kernel_info {
	uint32_t grid[3];
	uint16_t block[3];
	uint8_t cluster[3];
	uint8_t reserved0;
	uint16_t regs_per_thread;
	uint32_t static_smem_bytes;
	uint32_t dynamic_smem_bytes;
	uint32_t graph_id;
	uint32_t reserved1;
	uint64_t graph_node_id;
} tsm_kernel_info;

typedef struct tsm_memcpy_info {
	uint64_t bytes;
	uint8_t copy_kind; /* enum tsm_copy_kind */
	uint8_t src_kind;  /* enum tsm_mem_kind */
	uint8_t dst_kind;  /* enum tsm_mem_kind */
	uint8_t reserved0;
	uint16_t src_device; /* P2P: source device; else == event device */
	uint16_t dst_device; /* P2P: destination device */
	uint32_t graph_id;
	uint32_t reserved1;
	uint64_t graph_node_id;
} tsm_memcpy_info;

typedef struct tsm_memset_info {
	uint64_t bytes;
	uint32_t value;
	uint8_t mem_kind; /* enum tsm_mem_kind */
	uint8_t reserved0[3];
	uint32_t graph_id;
	uint32_t reserved1;
	uint64_t graph_node_id;
} tsm_memset_info;

typedef struct tsm_sync_info {
	uint8_t sync_type; /* enum tsm_sync_type */
	uint8_t reserved0[3];
	uint32_t reserved1;
	uint64_t event_id; /* CUDA event id for EVENT, STREAM_WAIT_EVENT, EVENT_RECORD */
} tsm_sync_info;

/* ALLOC and FREE. */
typedef struct tsm_memory_info {
	uint64_t address;
	uint64_t bytes;
	uint8_t mem_kind; /* enum tsm_mem_kind */
	uint8_t reserved0[7];
} tsm_memory_info;

/* RUNTIME and DRIVER API calls. */
typedef struct tsm_api_info {
	uint32_t cbid;	/* CUPTI callback id */
	int32_t status; /* return code (cudaError_t / CUresult) */
} tsm_api_info;

/* NVTX_RANGE and NVTX_MARK. */
typedef struct tsm_nvtx_info {
	uint32_t domain; /* string id of the NVTX domain, 0: default domain */
	uint32_t color;	 /* ARGB, 0: none */
	uint32_t category;
	uint32_t reserved0;
} tsm_nvtx_info;

typedef struct tsm_counter_info {
	double value;
} tsm_counter_info;

typedef struct tsm_overhead_info {
	uint8_t overhead_kind; /* enum tsm_overhead_kind */
	uint8_t reserved0[7];
} tsm_overhead_info;

enum tsm_overhead_kind {
	TSM_OVERHEAD_UNKNOWN = 0,
	TSM_OVERHEAD_BUFFER_FLUSH = 1,
	TSM_OVERHEAD_INSTRUMENTATION = 2,
	TSM_OVERHEAD_RESOURCE = 3,
	TSM_OVERHEAD_TRACER = 4, /* TraceSmith's own work on the traced process */
};

/* DROPPED: a count of events that never reached the trace. */
typedef struct tsm_dropped_info {
	uint64_t count;
	uint8_t source; /* enum tsm_drop_source */
	uint8_t reserved0[7];
} tsm_dropped_info;

enum tsm_drop_source {
	TSM_DROP_RING = 1,   /* a producer's ring was full */
	TSM_DROP_CUPTI = 2,  /* CUPTI reported dropped activity records */
	TSM_DROP_WRITER = 3, /* the writer could not keep up or failed */
	TSM_DROP_IMPORT = 4, /* an importer skipped records it could not map */
};

typedef struct tsm_event {
	uint8_t kind;  /* enum tsm_event_kind */
	uint8_t flags; /* TSM_EVF_* */
	uint16_t device;
	uint32_t name;
	uint64_t start_ns;
	uint64_t end_ns;
	uint32_t context;
	uint32_t stream;
	uint32_t pid;
	uint32_t stack;
	uint64_t tid;
	uint64_t correlation;
	uint64_t external;
	uint32_t meta;
	uint8_t flow_type; /* enum tsm_flow_type */
	uint8_t reserved0[3];
	uint64_t flow_id;
	union {
		tsm_kernel_info kernel;
		tsm_memcpy_info memcpy;
		tsm_memset_info memset;
		tsm_sync_info sync;
		tsm_memory_info memory;
		tsm_api_info api;
		tsm_nvtx_info nvtx;
		tsm_counter_info counter;
		tsm_overhead_info overhead;
		tsm_dropped_info dropped;
		uint64_t raw[6];
	} u;
} tsm_event;

/* Interned key/value pair of a metadata list. */
enum tsm_kv_type {
	TSM_KV_INT = 1,
	TSM_KV_DOUBLE = 2,
	TSM_KV_STR = 3, /* value is a string id */
};

typedef struct tsm_kv {
	uint32_t key; /* string id */
	uint8_t type; /* enum tsm_kv_type */
	uint8_t reserved0[3];
	union {
		int64_t i;
		double d;
		uint64_t str; /* string id */
	} v;
} tsm_kv;

/* One frame of a host call stack. Stacks are arrays of frames, innermost first. */
typedef struct tsm_frame {
	uint64_t pc;
	uint32_t function; /* string id, 0: unknown */
	uint32_t module;   /* string id of the shared object, 0: unknown */
	uint32_t file;	   /* string id, 0: unknown */
	uint32_t line;	   /* 0: unknown */
} tsm_frame;

/* Device properties (one per GPU of the trace). */
typedef struct tsm_device_info {
	uint32_t id;   /* the value of tsm_event.device */
	uint32_t name; /* string id: "NVIDIA H200" */
	uint32_t uuid; /* string id, 0: unknown */
	uint16_t cc_major, cc_minor;
	uint32_t sm_count;
	uint32_t core_clock_khz;
	uint32_t mem_clock_khz;
	uint32_t mem_bus_width_bits;
	uint32_t l2_bytes;
	uint32_t max_threads_per_block;
	uint32_t max_threads_per_sm;
	uint32_t regs_per_block;
	uint32_t regs_per_sm;
	uint32_t smem_per_block_bytes;
	uint32_t smem_per_block_optin_bytes;
	uint32_t smem_per_sm_bytes;
	uint32_t warp_size;
	uint32_t max_blocks_per_sm;
	uint64_t global_mem_bytes;
} tsm_device_info;

/* A traced process. */
typedef struct tsm_process_info {
	uint32_t pid;
	int32_t rank;	  /* -1: none */
	uint32_t name;	  /* string id */
	uint32_t cmdline; /* string id */
	uint32_t host;	  /* string id */
	uint32_t reserved0;
} tsm_process_info;

/* Human-readable names; "?" for an unknown value. */
TSM_API const char *tsm_event_kind_name(unsigned kind);
/* Kind from its name ("kernel", "memcpy", ...); TSM_EV_NONE if unknown. */
TSM_API unsigned tsm_event_kind_from_name(const char *name);
TSM_API const char *tsm_copy_kind_name(unsigned copy_kind); /* "HtoD", ... */
TSM_API const char *tsm_mem_kind_name(unsigned mem_kind);   /* "device", ... */
TSM_API const char *tsm_sync_type_name(unsigned sync_type); /* "stream_wait_event", ... */
TSM_API const char *tsm_drop_source_name(unsigned source);
TSM_API const char *tsm_flow_type_name(unsigned flow_type); /* "start", "end", "step" */

/* True for kinds that execute on a GPU (kernel, memcpy, memset, GPU-side sync). */
TSM_API int tsm_event_is_gpu_work(const tsm_event *ev);

#ifdef __cplusplus
}
#endif
#endif
