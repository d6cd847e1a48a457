/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reader internals shared with dump.c: the chunk-stepping core and the
 * block decoder. tsm_reader_next is built on tsm__reader_step; dump walks
 * the same steps and prints what each one decoded.
 */
#ifndef TSM_FORMAT_READER_H
#define TSM_FORMAT_READER_H

#include "sbt.h"

typedef struct sbt_index_entry {
	uint32_t type;
	uint32_t nevents;
	uint64_t off;
	uint64_t min_start, max_end;
} sbt_index_entry;

/* Definitions with stable addresses: entries live in an arena, never moved. */
typedef struct deftab {
	const void **ptr;
	uint32_t *len;
	uint32_t n, cap;
} deftab;

/* Events decoded per batch: each column is decoded for a whole batch in one tight loop. */
#define SBT_BATCH 256

typedef struct sbt_block {
	uint32_t n, i; /* events in the block; events decoded so far */
	uint64_t min_start, span, max_end;
	uint8_t shift[2];
	uint32_t ntpl;
	tsm_event *tpls;
	int64_t *prev_dur;
	uint32_t tpl_cap;
	cursor col[COL__COUNT];
	size_t col_len[COL__COUNT];
	uint64_t prev_start, prev_corr[2], prev_ext[2], prev_flow, prev_vol;
	uint64_t chunk_off;
	/* GPU lanes: per template its lane; per lane the end of its last event */
	uint32_t *tpl_lane;
	uint64_t *lane_key, *lane_end;
	uint32_t *lane_slots, nlane_slots, nlanes;
	/* the current batch */
	uint32_t bn, bi;
	uint32_t btpl[SBT_BATCH];
	tsm_event batch[SBT_BATCH];
	tsm__buf own; /* a taken block's payload (tsm__reader_take_block) */
} sbt_block;

/* What one step read: the chunk and, for definition chunks, the id range it added. */
typedef struct sbt_step {
	uint64_t off;
	uint32_t type;
	uint32_t size; /* stored payload bytes */
	uint16_t flags;
	uint32_t crc;
	uint32_t raw_size;	  /* payload bytes after decompression */
	uint32_t first_id, count; /* STRS/STKS/KVLS/DEVS/PROC/META: what it defined */
	int skipped;		  /* already processed, filtered out, or unknown type */
	int is_footer;		  /* this step read the footer (type 0) */
} sbt_step;

struct tsm_reader {
	int fd, own_fd, seekable;
	char *name;
	unsigned flags;
	uint64_t file_size; /* seekable files only */
	uint64_t pos;	    /* offset of the next chunk */
	uint64_t first_chunk_off;
	uint64_t data_end;  /* with an index: where INDX starts; else UINT64_MAX */
	uint64_t defs_upto; /* definition chunks before this offset are loaded */
	int ended;
	int returned_events;
	uint16_t header_size, header_flags;
	uint32_t header_crc, optional_features;

	tsm_trace_info info;
	char *producer;
	deftab strings, stacks, kvlists;
	tsm__arena arena;
	tsm_device_info *devs;
	size_t ndevs, devs_cap;
	tsm_process_info *procs;
	size_t nprocs, procs_cap;
	tsm_kv *meta;
	size_t nmeta, meta_cap;

	sbt_index_entry *index;
	size_t nindex;
	uint64_t footer_events, footer_index_off;

	uint64_t from_ns, to_ns;
	int filtering;

	/* block partition (tsm__reader_partition): EVTB chunks seen since reading began, and
	 * the ordinal of the block being decoded */
	unsigned part_k, part_n;
	uint64_t evtb_seen, blk_seq;

	tsm__buf cbuf, rbuf;
	const uint8_t *payload; /* current chunk's raw payload */
	size_t payload_len;
	void *zdctx;
	int in_block;
	sbt_block *blk; /* the block being decoded (tsm__reader_take_block swaps it) */
};

/* Internal open flag: read sequentially, ignoring the footer's index (dump). */
#define TSM__READ_NOINDEX (1u << 31)

/* Read and process the next chunk. Returns 0 (see *st), TSM_END, or an error. */
int tsm__reader_step(tsm_reader *r, sbt_step *st);

/* Decode the next event of the current block: 0, TSM_END (block done, fully checked), or an error.
 */
int tsm__block_next(tsm_reader *r, const tsm_event **ev);

/*
 * Decode the current block's next events (up to SBT_BATCH) straight into
 * dst, saving tsm__block_next's copy: 0 with *n set, TSM_END when the block
 * is done (fully checked), or an error. Not to be mixed with tsm__block_next
 * within a block.
 */
int tsm__block_decode(tsm_reader *r, tsm_event *dst, uint32_t *n);

/*
 * Parallel decoding. A reader partitioned k of n decodes only the event
 * blocks whose ordinal (counted from where its reading began: the first
 * chunk, or the seek target) is k modulo n and skips the others unread, so
 * n readers over one file, each with its own k, decode every block exactly
 * once between them; each loads every definition. n = 0 undoes the
 * partition; k >= n decodes no block:
 * a reader kept for the definitions while another decodes the events (see
 * tsm__reader_defs_upto). Call before any event has been returned.
 */
void tsm__reader_partition(tsm_reader *r, unsigned k, unsigned n);

/* Step over chunks before offset `off` (UINT64_MAX: to the end), loading definitions. */
int tsm__reader_defs_upto(tsm_reader *r, uint64_t off);

/*
 * Seek to the event block of index entry `e`, loading the definitions before
 * it first, and begin decoding it: tsm__block_next then returns its events
 * (in_block is 0 when the time window excludes it). Needs the index and a
 * seekable file; the block must agree with its entry (else TSM_CORRUPT).
 */
int tsm__reader_read_block(tsm_reader *r, const sbt_index_entry *e);

/*
 * With the index (a seekable file): load every definition chunk of the file
 * now, by seeking to each. Definitions only add, so an export can name
 * processes, ranks and devices that a file defines after its first events
 * (an import writes its processes last). 0 or an error; no-op otherwise.
 */
int tsm__reader_defs_all(tsm_reader *r);

/*
 * A seekable file without an index (its writer died before the footer):
 * step through every chunk once, checking it and loading the definitions,
 * and keep an index of the definition and event chunks in memory, so that
 * blocks can be read by offset (tsm__reader_read_block) as with the file's
 * own. A torn tail is left out (and reported in the info, as reading
 * does). No-op with an index, a stream, or once events were returned;
 * errors are those of reading the file in order.
 */
int tsm__reader_build_index(tsm_reader *r);

/*
 * Take the block tsm__reader_read_block just began (in_block set): its
 * decoder state and its payload move to the caller, so that several blocks
 * can be decoded in turns (tsm__block_decode_taken) while the reader reads
 * others. The reader goes on with `spare` (a block given back earlier,
 * whose memory is reused) or a new one; NULL on NOMEM. Free a block with
 * tsm__block_free.
 */
sbt_block *tsm__reader_take_block(tsm_reader *r, sbt_block *spare);

/* tsm__block_decode on a taken block (r: its reader, for names and error offsets). */
int tsm__block_decode_taken(tsm_reader *r, sbt_block *b, tsm_event *dst, uint32_t *n);

void tsm__block_free(sbt_block *b);

/*
 * Open another reader over r's file, with r's flags and time window,
 * positioned where r's reading began (for partitioned decoding). Fails with
 * TSM_UNSUPPORTED when r reads a stream or has returned events.
 */
int tsm__reader_clone(const tsm_reader *r, tsm_reader **out);

/* Ordinal (as counted for partitions) of the block the last event came from. */
static inline uint64_t tsm__reader_block_seq(const tsm_reader *r)
{
	return r->blk_seq;
}

/* Event blocks the file's index lists (UINT64_MAX: no index). */
static inline uint64_t tsm__reader_indexed_blocks(const tsm_reader *r)
{
	uint64_t n = 0;

	if (!r->index)
		return UINT64_MAX;
	for (size_t i = 0; i < r->nindex; i++)
		n += r->index[i].type == SBT_EVTB;
	return n;
}

/* File offset of the block the last event came from. */
static inline uint64_t tsm__reader_block_off(const tsm_reader *r)
{
	return r->blk->chunk_off;
}

#endif
