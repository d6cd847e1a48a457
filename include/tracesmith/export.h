/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tracesmith/export.h - write an SBT trace in the formats the ecosystem
 * reads: Perfetto's native protobuf (.pftrace, for ui.perfetto.dev and
 * trace_processor), Chrome trace JSON (chrome://tracing, Perfetto UI) and
 * Kineto JSON (torch.profiler's schema, for HTA / TensorBoard and other
 * tools written for torch.profiler traces). docs/design/export.md
 * describes the mappings.
 *
 * Every exporter streams: events are read block by block and merged into
 * start-time order with memory bounded by the blocks that overlap in time
 * (not by the trace size); outputs ending in ".gz" are gzip-compressed
 * (needs zlib: TSM_UNSUPPORTED otherwise).
 *
 * Thread safety: an export is a sequential job on the calling thread; any
 * number of exports may run at once on different files.
 */
#ifndef TRACESMITH_EXPORT_H
#define TRACESMITH_EXPORT_H

#include "format.h"

#ifdef __cplusplus
extern "C" {
#endif

enum tsm_export_format {
	TSM_EXPORT_AUTO = 0,	 /* from the output file name (tsm_export_format_from_path) */
	TSM_EXPORT_PERFETTO = 1, /* .pftrace, .perfetto-trace, .pb */
	TSM_EXPORT_CHROME = 2,	 /* .json */
	TSM_EXPORT_KINETO = 3,	 /* .pt.trace.json, .kineto.json */
};

/* "perfetto", "chrome", "kineto"; "?" for others. */
TSM_API const char *tsm_export_format_name(unsigned format);
/* Format from its name; TSM_EXPORT_AUTO (0) if unknown. */
TSM_API unsigned tsm_export_format_from_name(const char *name);

/*
 * Format and compression implied by an output path: a trailing ".gz" sets
 * *gzip and is ignored for the rest; ".pt.trace.json" and ".kineto.json"
 * are Kineto, other ".json" Chrome, ".pftrace" / ".perfetto-trace" / ".pb"
 * Perfetto. Returns 0, or TSM_NOT_FOUND when the extension says nothing
 * (*format is then TSM_EXPORT_AUTO). Either output pointer may be NULL.
 */
TSM_API int tsm_export_format_from_path(const char *path, unsigned *format, int *gzip);

/* Progress callback: bytes of the SBT input consumed so far, of `total` (0: unknown). */
typedef void (*tsm_progress_fn)(uint64_t done, uint64_t total, void *user);

typedef struct tsm_export_opts {
	unsigned format;	  /* enum tsm_export_format; AUTO: from the output path */
	int gzip;		  /* -1: from the output path; 0: plain; 1: gzip */
	int gzip_level;		  /* 1..9, 0: 6 */
	uint64_t from_ns;	  /* keep events that end at or after this (0: no limit) */
	uint64_t to_ns;		  /* keep events that start at or before this (0: no limit) */
	int32_t device;		  /* keep events of this GPU only; -1: all (host events are dropped
				     when set) */
	int64_t stream;		  /* keep events of this stream only; -1: all */
	uint32_t kind_mask;	  /* bit (1 << kind) per kept kind; 0: all kinds */
	int demangle;		  /* -1: the format's default (Perfetto, Chrome: yes; Kineto: no,
				     so that names survive a round trip); 0: no; 1: yes */
	tsm_progress_fn progress; /* may be NULL; called at most once per block */
	void *progress_user;
	int32_t rank; /* keep the events of this rank's processes only (tsm_process_info.rank;
			 Kineto's distributedInfo then names it); -1: all */
} tsm_export_opts;

/* Defaults: AUTO format, gzip from the path, no filters. */
TSM_API void tsm_export_opts_init(tsm_export_opts *o);

typedef struct tsm_export_stats {
	uint64_t events_read;	     /* events the reader returned */
	uint64_t events_written;     /* events that passed the filters and were written */
	uint64_t flows;		     /* flow arrows written (host API -> GPU, record -> wait) */
	uint64_t flows_unmatched;    /* flow ends whose start was not found (filtered out or
					evicted from the bounded flow table) */
	uint64_t tracks;	     /* Perfetto tracks / JSON threads described */
	uint64_t overlap_lanes;	     /* extra lanes created for overlapping slices on one track */
	uint64_t bytes_uncompressed; /* bytes of text / protobuf produced */
	uint64_t bytes_written;	     /* bytes written to the output (after gzip) */
	uint64_t max_buffered;	     /* most events held at once by the time-order merge */
} tsm_export_stats;

/*
 * Export the SBT file `in_path` ("-": standard input) to `out_path` ("-":
 * standard output). `opts` may be NULL (defaults). `stats` may be NULL.
 * Returns 0 or an error: the reader's (TSM_IO, TSM_CORRUPT, ... with the
 * input offset), TSM_INVAL (no format known, bad options), TSM_UNSUPPORTED
 * (gzip without zlib), TSM_IO on the output, TSM_NOMEM. On error the
 * output is incomplete (the caller decides whether to remove it).
 */
TSM_API int tsm_export_file(const char *in_path, const char *out_path, const tsm_export_opts *opts,
			    tsm_export_stats *stats);

/* Like tsm_export_file on an open reader, which must be positioned at the
 * start (just opened). The reader is not closed. */
TSM_API int tsm_export_reader(tsm_reader *r, const char *out_path, const tsm_export_opts *opts,
			      tsm_export_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
