/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tracesmith/format.h - the SBT trace file: writer, reader, dump.
 *
 * docs/format/sbt.md is the normative description of the bytes. In short:
 * a 32-byte header, then self-framed chunks (type, flags, size, CRC-32C),
 * definitions (strings, stacks, metadata lists, devices, processes) before
 * their first use, events in columnar blocks, and at the end an index
 * chunk and a footer for seeking by time. A file whose writer died is
 * readable up to its last complete chunk.
 */
#ifndef TRACESMITH_FORMAT_H
#define TRACESMITH_FORMAT_H

#include <stdio.h>

#include "event.h"
#include "intern.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TSM_SBT_MAJOR 1
#define TSM_SBT_MINOR 0

/* Clock domains of tsm_trace_info.clock. */
enum tsm_clock {
	TSM_CLOCK_UNKNOWN = 0,
	TSM_CLOCK_MONOTONIC_RAW = 1, /* Linux CLOCK_MONOTONIC_RAW, ns */
	TSM_CLOCK_MONOTONIC = 2,     /* Linux CLOCK_MONOTONIC, ns */
	TSM_CLOCK_REALTIME = 3,	     /* ns since the Unix epoch */
	TSM_CLOCK_CUPTI = 4,	     /* cuptiGetTimestamp(), ns */
	TSM_CLOCK_SIMULATED = 5,     /* the simulation backend's virtual clock, ns */
	TSM_CLOCK_IMPORTED = 6,	     /* times taken from an imported trace, ns */
};

TSM_API const char *tsm_clock_name(unsigned clock);

/* Trace-wide facts, from the INFO chunk and what the reader learned. */
typedef struct tsm_trace_info {
	uint16_t major, minor;	      /* format version of the file */
	uint32_t required_features;   /* TSM_SBT_REQ_* */
	uint32_t clock;		      /* enum tsm_clock */
	int64_t realtime_offset_ns;   /* CLOCK_REALTIME = ts + offset; 0: unknown */
	uint64_t created_realtime_ns; /* when the writer opened the file */
	const char *producer;	      /* "tracesmith 0.1.0 sim:train", borrowed */
	/* Reader-side facts: */
	int has_index;		  /* footer and index were found and valid */
	int recovered;		  /* the tail was torn: see discarded_bytes */
	uint64_t discarded_bytes; /* bytes after the last complete chunk */
	uint64_t file_bytes;	  /* bytes consumed so far (whole file at end) */
	uint64_t chunk_count;	  /* chunks read so far */
	uint64_t block_count;	  /* event blocks read so far */
	uint64_t indexed_events;  /* events the footer announces, 0 without index */
} tsm_trace_info;

#define TSM_SBT_REQ_ZSTD (1u << 0) /* some chunks are zstd-compressed */

/* ---- writer ---------------------------------------------------------- */

typedef struct tsm_writer tsm_writer;

typedef struct tsm_writer_opts {
	uint32_t block_events; /* events per block; 0: TSM_WRITER_DEFAULT_BLOCK */
	int zstd_level; /* 0: no compression; 1..19: zstd level (TSM_UNSUPPORTED without zstd) */
	uint32_t clock; /* enum tsm_clock */
	int64_t realtime_offset_ns;   /* see tsm_trace_info */
	const char *producer;	      /* copied; NULL: "tracesmith VERSION" */
	uint64_t created_realtime_ns; /* 0: now (set it for byte-reproducible files) */
} tsm_writer_opts;

#define TSM_WRITER_DEFAULT_BLOCK 16384u
#define TSM_WRITER_MAX_BLOCK	 (1u << 20)

/*
 * Create `path` (truncating it) and write the header and INFO chunk.
 * `opts` may be NULL for defaults. Returns 0, TSM_IO (detail names the
 * path and errno), TSM_INVAL, TSM_UNSUPPORTED or TSM_NOMEM.
 */
TSM_API int tsm_writer_open(const char *path, const tsm_writer_opts *opts, tsm_writer **out);

/* Like tsm_writer_open on an open descriptor (a pipe works: the writer
 * never seeks). The writer does not close fd. `name` is used in errors. */
TSM_API int tsm_writer_open_fd(int fd, const char *name, const tsm_writer_opts *opts,
			       tsm_writer **out);

/*
 * The writer's intern tables. Producers intern names (tsm_intern_str),
 * stacks (arrays of tsm_frame) and metadata lists (arrays of tsm_kv, with
 * reserved bytes zeroed) into them from any thread and put the ids in
 * events. Borrowed: valid until tsm_writer_close.
 */
TSM_API tsm_intern *tsm_writer_strings(tsm_writer *w);
TSM_API tsm_intern *tsm_writer_stacks(tsm_writer *w);
TSM_API tsm_intern *tsm_writer_kvlists(tsm_writer *w);

/*
 * Queue one event. Events may arrive in any order; each block is sorted
 * by start time before encoding. Ids in the event must already be
 * interned in the writer's tables (TSM_UNDEFINED otherwise). Returns 0,
 * TSM_INVAL (end before start, unknown kind), TSM_UNDEFINED, or an I/O
 * error from a block that filled up. Not thread safe: one writer thread.
 */
TSM_API int tsm_writer_write(tsm_writer *w, const tsm_event *ev);
TSM_API int tsm_writer_write_batch(tsm_writer *w, const tsm_event *evs, size_t n);

/* Device properties and processes; written before the next block. */
TSM_API int tsm_writer_add_device(tsm_writer *w, const tsm_device_info *dev);
TSM_API int tsm_writer_add_process(tsm_writer *w, const tsm_process_info *proc);

/* A trace-wide key/value (command line, versions, ...); strings are interned for you. */
TSM_API int tsm_writer_add_meta_str(tsm_writer *w, const char *key, const char *value);
TSM_API int tsm_writer_add_meta_int(tsm_writer *w, const char *key, int64_t value);

/*
 * Encode the pending events as a block and hand every complete chunk to
 * the kernel (write(2)): after this returns, a killed process leaves a
 * file readable up to here. Returns 0 or TSM_IO.
 */
TSM_API int tsm_writer_flush(tsm_writer *w);

typedef struct tsm_writer_stats {
	uint64_t events;	  /* events written (accepted by tsm_writer_write) */
	uint64_t blocks;	  /* event blocks written */
	uint64_t bytes;		  /* bytes handed to the kernel so far */
	uint64_t raw_block_bytes; /* event block payload bytes before compression */
	uint64_t dropped;	  /* sum of DROPPED event counts seen */
	uint64_t per_kind[TSM_EV__COUNT];
} tsm_writer_stats;

TSM_API void tsm_writer_get_stats(const tsm_writer *w, tsm_writer_stats *st);

/*
 * Flush, write the index and footer, close the file and free the writer.
 * Returns the first error the writer met, if any. NULL is accepted.
 */
TSM_API int tsm_writer_close(tsm_writer *w);

/* ---- reader ---------------------------------------------------------- */

typedef struct tsm_reader tsm_reader;

/* Reader flags. */
#define TSM_READ_STRICT (1u << 0) /* a torn tail is an error (TSM_TRUNCATED), not recovered */

/*
 * Open an SBT file ("-" reads standard input as a stream) and read its
 * header and the definitions that precede the first block. A file with a
 * footer also gets its index loaded (seek by time without scanning).
 * Returns 0, TSM_IO, TSM_EMPTY, TSM_BAD_MAGIC, TSM_VERSION, TSM_TRUNCATED,
 * TSM_CHECKSUM, TSM_UNSUPPORTED, TSM_NOMEM; tsm_last_error_offset() tells
 * where.
 */
TSM_API int tsm_reader_open(const char *path, unsigned flags, tsm_reader **out);
TSM_API int tsm_reader_open_fd(int fd, const char *name, unsigned flags, tsm_reader **out);

/*
 * Next event in file order (blocks in file order, each sorted by start).
 * *ev is borrowed until the next call. Returns 0, TSM_END at the end of
 * the data (after recovery of a torn tail: see tsm_trace_info), or an
 * error (corrupt data) with the offset in tsm_last_error_offset(). No
 * allocation happens per event.
 */
TSM_API int tsm_reader_next(tsm_reader *r, const tsm_event **ev);

/*
 * Limit iteration to blocks that can hold events overlapping
 * [from_ns, to_ns] (to_ns UINT64_MAX: no upper limit) and rewind to the
 * first such block. Uses the index when present (jumping straight to the
 * block, reading only the definitions before it); otherwise scans block
 * headers. Whole blocks are skipped, events are not filtered: callers
 * that need an exact window check each event. Not for stdin streams once
 * reading has begun (TSM_STATE).
 */
TSM_API int tsm_reader_seek_ns(tsm_reader *r, uint64_t from_ns, uint64_t to_ns);

/* Strings, stacks, metadata lists defined so far; NULL for 0 or undefined ids.
 * Borrowed until tsm_reader_close. */
TSM_API const char *tsm_reader_string(const tsm_reader *r, uint32_t id);
TSM_API const tsm_frame *tsm_reader_stack(const tsm_reader *r, uint32_t id, size_t *nframes);
TSM_API const tsm_kv *tsm_reader_kvlist(const tsm_reader *r, uint32_t id, size_t *n);

/* Devices, processes and trace metadata defined so far (all of them once
 * tsm_reader_next has returned TSM_END). Borrowed until the next call. */
TSM_API const tsm_device_info *tsm_reader_devices(const tsm_reader *r, size_t *n);
TSM_API const tsm_process_info *tsm_reader_processes(const tsm_reader *r, size_t *n);
TSM_API const tsm_kv *tsm_reader_meta(const tsm_reader *r, size_t *n);
TSM_API const tsm_trace_info *tsm_reader_info(const tsm_reader *r);

/* NULL is accepted. */
TSM_API void tsm_reader_close(tsm_reader *r);

/* ---- dump ------------------------------------------------------------ */

#define TSM_DUMP_EVENTS	 (1u << 0) /* decode every event of every block */
#define TSM_DUMP_COLUMNS (1u << 1) /* print block column sizes and templates */

/*
 * Print every chunk and field of an SBT file to `out`, with offsets, in
 * the order and names of docs/format/sbt.md. Stops at the first error and
 * returns it (after printing what was valid). Returns 0 or an error.
 */
TSM_API int tsm_sbt_dump(const char *path, FILE *out, unsigned flags);

#ifdef __cplusplus
}
#endif
#endif
