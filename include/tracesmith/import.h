/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tracesmith/import.h - convert Kineto (torch.profiler) and Chrome trace
 * JSON into SBT.
 *
 * Input: a JSON object with a "traceEvents" array (Kineto writes this
 * form, with deviceProperties, distributedInfo, baseTimeNanoseconds) or a
 * bare JSON array of events; gzip-compressed input is recognised by its
 * magic bytes (needs zlib: TSM_UNSUPPORTED otherwise). The parser streams:
 * memory is bounded by the largest single event, not by the file.
 *
 * Mapping (docs/design/export.md has the table): categories kernel,
 * gpu_memcpy, gpu_memset, cuda_sync, cuda_runtime, cuda_driver, cpu_op,
 * user_annotation, gpu_user_annotation, overhead, "[memory]" instants,
 * "C" counters become events of the matching kind with
 * TSM_EVF_IMPORTED set; correlation and "External id" are kept; args that
 * map to no field become the event's metadata list (in their order);
 * deviceProperties become devices, distributedInfo's rank the process
 * rank, baseTimeNanoseconds the realtime offset; the clock is
 * TSM_CLOCK_IMPORTED. ac2g flows are implied by the correlation ids and
 * not stored. Chrome B/E records are paired per thread into complete
 * events (a B left open at the end lasts to the latest time seen, with
 * metadata "unfinished": 1). Other flow records ("s", "t", "f": fwdbwd,
 * Chrome's flows; "bind_id" with "flow_in"/"flow_out") set flow_id and
 * flow_type of the slice of their pid and tid they bind to (Chrome's
 * rules, within the last 4096 events: docs/design/export.md, Flows).
 * Records that map to nothing (an E without a B, events whose pid is not
 * a number, unknown phases, flow records that cannot bind) are counted,
 * and the count is written as one DROPPED event with source
 * TSM_DROP_IMPORT whose metadata names the reasons: nothing disappears
 * silently.
 *
 * Timestamps: "ts" and "dur" are microseconds; the decimal text is
 * converted to nanoseconds exactly (no floating point), rounding digits
 * beyond the third decimal to the nearest ns, so Kineto's three-decimal
 * times survive a round trip byte for byte.
 *
 * Errors carry the byte offset of the input (of the decompressed stream
 * for .gz) in tsm_last_error_offset(): TSM_CORRUPT (not JSON, wrong type
 * for a known field, nesting deeper than TSM_IMPORT_MAX_DEPTH), TSM_TRUNCATED
 * (input ends inside a value), TSM_TOO_LARGE (a string over 16 MiB, a
 * number that does not fit its field), TSM_IO, TSM_NOMEM, TSM_UNSUPPORTED.
 *
 * Thread safety: one import is a sequential job on the calling thread.
 */
#ifndef TRACESMITH_IMPORT_H
#define TRACESMITH_IMPORT_H

#include "export.h"
#include "format.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TSM_IMPORT_MAX_DEPTH 256

typedef struct tsm_import_opts {
	int zstd_level;		  /* SBT block compression (0: none) */
	uint32_t block_events;	  /* 0: the writer's default */
	tsm_progress_fn progress; /* input bytes consumed (compressed bytes for .gz) */
	void *progress_user;
} tsm_import_opts;

typedef struct tsm_import_stats {
	uint64_t input_bytes; /* bytes read from the file */
	uint64_t json_bytes;  /* bytes of JSON parsed (after decompression) */
	uint64_t records;     /* elements of traceEvents */
	uint64_t events;      /* events written */
	uint64_t flows;	      /* ac2g flow records (implied by correlation ids) */
	uint64_t metadata;    /* "M" records used for process / thread names */
	uint64_t dropped;     /* records that mapped to nothing (see above) */
	uint64_t devices;     /* deviceProperties entries */
	uint64_t flows_bound; /* other flow records (and bind_id flows) set on an event */
} tsm_import_stats;

/*
 * Import `in_path` ("-": standard input) into a new SBT file `out_path`.
 * `opts` and `stats` may be NULL. Returns 0 or an error (see above); on
 * error the output is left incomplete.
 */
TSM_API int tsm_import_file(const char *in_path, const char *out_path, const tsm_import_opts *opts,
			    tsm_import_stats *stats);

/*
 * Import from memory into an open writer (which the call does not close);
 * `name` is used in error messages. Used by the fuzz target and tests.
 */
TSM_API int tsm_import_mem(const void *data, size_t size, const char *name, tsm_writer *w,
			   tsm_import_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
