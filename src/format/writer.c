/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SBT writer.
 *
 * Each event written is split at once, while it is in the cache, into its
 * template and its per-event values:
 *
 *  1. Templates: each event minus its per-event values (start, end,
 *     correlation, external id, flow id, the kind's volatile field) is a
 *     template; equal templates are stored once per block. A training
 *     loop repeats the same few hundred (kernel, stream, launch config)
 *     and (API call, thread, call stack) combinations, so an event costs
 *     a template index plus its timing. The event's values and template
 *     index go to the block (block_events records of 56 bytes, 896 KiB at
 *     the default 16384: the 128-byte events are not kept).
 *
 * When the block is full, or on flush, it is encoded:
 *
 *  2. Order: the block is sorted by start time (a stable LSD radix sort
 *     on start - min_start, skipped when already sorted), so start deltas
 *     are small and non-negative and readers get time-ordered blocks.
 *     Templates are numbered in the order their first event starts.
 *  3. Timing: start is a delta against the previous event of the same
 *     class (host or GPU) and duration a delta against the previous
 *     duration of the same template. GPU timers tick in 32 ns steps: the
 *     common power-of-two factor of a class's deltas is divided out
 *     (lossless), saving 5 bits per GPU timestamp.
 *  4. Columns: each per-event field goes to its own column, so values of
 *     one kind sit together (zstd finds them; varints stay short).
 *
 * Definitions (strings, stacks, metadata lists, devices, processes) are
 * written before the block that may use them, so the file reads as a
 * stream. Every chunk goes to the kernel on flush: a killed process
 * leaves a file readable up to the last flush. close() appends the index
 * (every chunk's offset; blocks with their time range) and the footer.
 *
 * Memory is bounded: one block of event values, its encoding, its
 * templates, and 24 bytes of index per chunk.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "sbt.h"

#define OUT_HIGH_WATER	 (1u << 20)
#define SLOTS_START	 1024u
#define RECENT_BITS	 8
#define DEFS_CHUNK_BYTES (1u << 20)

typedef struct tpl_entry {
	uint64_t hash;
	int64_t prev_dur;
	uint32_t lane; /* GPU templates: index of their (device, stream) lane */
	uint32_t slot; /* its hash slot, cleared after the block */
	uint32_t info; /* REC_* bits */
	uint32_t id;   /* index in the block's template table; NO_ID until its first event */
} tpl_entry;

#define NO_ID UINT32_MAX

/* What the columns need of a template. */
enum {
	REC_GPU = 1u << 0,  /* class GPU (a device is set) */
	REC_FLOW = 1u << 1, /* has a flow type: the event's flow id goes to COL_FLOW */
	REC_VOL_SHIFT = 2,  /* the kind's volatile field: 0 none, else 1 + its coding */
};

/* One event of the block: its per-event values and template. */
typedef struct ev_rec {
	uint64_t start, dur, corr, ext, flow, vol;
	uint32_t tpl; /* index in tpls */
} ev_rec;

struct tsm_writer {
	int fd;
	int own_fd;
	char *name;
	char *producer;
	tsm_writer_opts opts;
	int err; /* first error; sticky */

	tsm_intern *strings, *stacks, *kvlists;
	uint32_t str_done, stk_done, kv_done;	 /* ids already in the file */
	uint32_t str_known, stk_known, kv_known; /* cached counts for validation */

	tsm_device_info *devs;
	size_t ndevs, devs_done, devs_cap;
	tsm_process_info *procs;
	size_t nprocs, procs_done, procs_cap;
	tsm_kv *meta;
	size_t nmeta, meta_done, meta_cap;

	/* the block being filled */
	ev_rec *blk;
	uint32_t nblk, cap;
	uint64_t blk_min_start, blk_max_start, blk_max_end, blk_last_start;
	uint64_t blk_class_first[2], blk_class_bits[2]; /* per class: see write_one */
	uint32_t blk_class_n[2];
	int blk_unsorted;

	/* encoding scratch, sized for cap */
	uint32_t *order, *order_tmp;
	uint64_t *keys, *keys_tmp;
	tsm_event *tpls; /* the block's templates, in the order they were found */
	tpl_entry *tpl_meta;
	uint32_t *tpl_order; /* table index -> template */
	uint32_t ntpl;
	uint32_t *slots; /* template index + 1; 0 empty; the first tslots in use */
	uint32_t nslots, tslots;
	uint32_t recent[1u << RECENT_BITS]; /* template index + 1, see recent_slot; 0 none */
	/* GPU lanes (device, stream) of the block: key, end of the lane's last event */
	uint64_t *lane_key, *lane_end;
	uint32_t *lane_slot;  /* per lane: its hash slot, cleared after the block */
	uint32_t *lane_slots; /* lane index + 1; nslots of them */
	uint32_t nlanes;
	tsm__buf cols[COL__COUNT];
	tsm__buf tplbuf, payload;	/* scratch of definitions, INFO and INDX chunks */
	tsm__buf blk_tpls, blk_payload; /* scratch of event blocks */
	tsm__buf zbuf, out;
	void *zctx;

	/* index */
	tsm__buf idx;
	uint64_t nidx;
	uint64_t idx_prev_off;
	uint64_t idx_prev_min;

	uint64_t file_off; /* bytes produced (written + buffered in out) */
	tsm_writer_stats st;
};

/*
 * Per kind, a mask over the event's 16 words keeping exactly the fields a
 * template holds: start, end, correlation, external and flow_id words are
 * cleared, reserved bytes and union bytes the kind does not store too.
 * Templates are hashed and compared through it, with no copy per event.
 */
static _Alignas(16) uint64_t tpl_mask[TSM_EV__COUNT][16];
static pthread_once_t mask_once = PTHREAD_ONCE_INIT;

#define W_START (offsetof(tsm_event, start_ns) / 8)
#define W_END	(offsetof(tsm_event, end_ns) / 8)
#define W_CORR	(offsetof(tsm_event, correlation) / 8)
#define W_EXT	(offsetof(tsm_event, external) / 8)
#define W_FLOW	(offsetof(tsm_event, flow_id) / 8)
#define W_UNION (offsetof(tsm_event, u) / 8)

static void make_masks(void)
{
	for (unsigned k = 1; k < TSM_EV__COUNT; k++) {
		const kind_spec *ks = &tsm__kind_specs[k];
		tsm_event m;

		memset(&m, 0xff, sizeof(m));
		m.start_ns = m.end_ns = m.correlation = m.external = m.flow_id = 0;
		memset(m.reserved0, 0, sizeof(m.reserved0));
		memset(&m.u, 0, sizeof(m.u));
		for (unsigned i = 0; i < ks->nstatic; i++) {
			const field_spec *f = &ks->statics[i];

			memset((uint8_t *)&m + f->offset, 0xff, f->width);
		}
		memcpy(tpl_mask[k], &m, sizeof(m));
	}
}

static int io_fail(tsm_writer *w, const char *what)
{
	return TSM_FAIL(TSM_IO, "%s: %s: %s", w->name, what, strerror(errno));
}

static int write_out(tsm_writer *w)
{
	size_t off = 0;

	while (off < w->out.len) {
		ssize_t n = write(w->fd, w->out.data + off, w->out.len - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return io_fail(w, "write");
		}
		off += (size_t)n;
	}
	w->st.bytes += w->out.len;
	tsm__buf_reset(&w->out);
	return 0;
}

/*
 * Finish the chunk whose payload follows SBT_CHUNK_HEADER bytes at hdr_off in
 * the output: its header and CRC, its index entry, the accounting.
 */
static int close_chunk(tsm_writer *w, size_t hdr_off, uint32_t type, uint16_t flags,
		       uint32_t nevents, uint64_t min_start, uint64_t max_end)
{
	uint8_t *hdr = w->out.data + hdr_off;
	size_t len = w->out.len - hdr_off - SBT_CHUNK_HEADER;
	uint32_t crc;
	int rc;

	if (len > SBT_MAX_CHUNK) {
		w->out.len = hdr_off;
		return TSM_FAIL(TSM_TOO_LARGE, "%s: chunk of %zu bytes", w->name, len);
	}
	tsm__put_le32(hdr, type);
	tsm__put_le32(hdr + 4, (uint32_t)len);
	tsm__put_le16(hdr + 8, flags);
	tsm__put_le16(hdr + 10, 0);
	crc = tsm__crc32c(0, hdr, 12);
	crc = tsm__crc32c(crc, hdr + SBT_CHUNK_HEADER, len);
	tsm__put_le32(hdr + 12, crc);

	/* Index entry: type, offset delta; blocks also: events, min_start delta, span. */
	if (type != SBT_INDX) {
		uint8_t t[4];

		tsm__put_le32(t, type);
		rc = tsm__buf_append(&w->idx, t, 4);
		if (rc == 0)
			rc = buf_varint(&w->idx, w->file_off - w->idx_prev_off);
		if (rc == 0 && type == SBT_EVTB) {
			rc = buf_varint(&w->idx, nevents);
			if (rc == 0)
				rc = buf_varint(&w->idx,
						zigzag((int64_t)(min_start - w->idx_prev_min)));
			if (rc == 0)
				rc = buf_varint(&w->idx, max_end - min_start);
			w->idx_prev_min = min_start;
		}
		if (rc < 0)
			return rc;
		w->idx_prev_off = w->file_off;
		w->nidx++;
	}
	w->file_off += SBT_CHUNK_HEADER + len;
	if (type == SBT_EVTB)
		w->st.blocks++;
	if (w->out.len >= OUT_HIGH_WATER)
		return write_out(w);
	return 0;
}

/* Room for a chunk header at the end of the output; its offset as *hdr_off. */
static int open_chunk(tsm_writer *w, size_t *hdr_off)
{
	int rc = tsm__buf_reserve(&w->out, SBT_CHUNK_HEADER);

	if (rc < 0)
		return rc;
	*hdr_off = w->out.len;
	w->out.len += SBT_CHUNK_HEADER;
	return 0;
}

/* Append a chunk to the output; compress when asked and it pays. */
static int emit_chunk(tsm_writer *w, uint32_t type, const uint8_t *payload, size_t len,
		      int compress, uint32_t nevents, uint64_t min_start, uint64_t max_end)
{
	uint16_t flags = 0;
	size_t hdr_off;
	int rc;

	if (compress && w->opts.zstd_level > 0 && len > 64) {
		uint8_t pre[10];
		size_t np = varint_put(pre, len);

		tsm__buf_reset(&w->zbuf);
		rc = tsm__buf_append(&w->zbuf, pre, np);
		if (rc == 0)
			rc = tsm__zstd_compress(&w->zctx, w->opts.zstd_level, payload, len,
						&w->zbuf);
		if (rc < 0)
			return rc;
		if (w->zbuf.len < len) {
			payload = w->zbuf.data;
			len = w->zbuf.len;
			flags |= SBT_CHUNK_ZSTD;
		}
	}
	rc = open_chunk(w, &hdr_off);
	if (rc < 0)
		return rc;
	rc = tsm__buf_append(&w->out, payload, len);
	if (rc < 0) {
		w->out.len = hdr_off; /* nothing of the chunk stays */
		return rc;
	}
	return close_chunk(w, hdr_off, type, flags, nevents, min_start, max_end);
}

static int put_kv(tsm__buf *b, const tsm_kv *kv)
{
	int rc = buf_varint(b, kv->key);
	uint8_t d[8];

	if (rc == 0)
		rc = tsm__buf_append(b, &kv->type, 1);
	if (rc < 0)
		return rc;
	switch (kv->type) {
	case TSM_KV_INT:
		return buf_varint(b, zigzag(kv->v.i));
	case TSM_KV_DOUBLE:
		memcpy(d, &kv->v.d, 8);
		/* store little-endian regardless of host order */
		{
			uint64_t x;

			memcpy(&x, d, 8);
			tsm__put_le64(d, x);
		}
		return tsm__buf_append(b, d, 8);
	case TSM_KV_STR:
		return buf_varint(b, kv->v.str);
	}
	return TSM_FAIL(TSM_INVAL, "metadata value of unknown type %u", kv->type);
}

static int check_sid(tsm_writer *w, uint64_t sid, uint32_t nstr, const char *what)
{
	if (sid > nstr)
		return TSM_FAIL(TSM_UNDEFINED, "%s: %s refers to string id %llu, not interned",
				w->name, what, (unsigned long long)sid);
	return 0;
}

/* Encoders of one interned entry of each table, as docs/format/sbt.md §5.1-5.3 lay them out. */
typedef int (*entry_fn)(tsm_writer *w, tsm__buf *out, uint32_t id, const void *data, size_t len,
			uint32_t nstr);

static int put_string(tsm_writer *w, tsm__buf *out, uint32_t id, const void *data, size_t len,
		      uint32_t nstr)
{
	int rc = buf_varint(out, len);

	return rc < 0 ? rc : tsm__buf_append(out, data, len);
}

static int put_stack(tsm_writer *w, tsm__buf *out, uint32_t id, const void *data, size_t len,
		     uint32_t nstr)
{
	const tsm_frame *f = data;
	size_t n = len / sizeof(tsm_frame);
	uint64_t prev = 0;
	int rc;

	if (len % sizeof(tsm_frame))
		return TSM_FAIL(TSM_INVAL, "%s: stack %u is %zu bytes, not frames", w->name, id,
				len);
	rc = buf_varint(out, n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = check_sid(w, f[i].function, nstr, "stack frame function");
		if (rc == 0)
			rc = check_sid(w, f[i].module, nstr, "stack frame module");
		if (rc == 0)
			rc = check_sid(w, f[i].file, nstr, "stack frame file");
		if (rc == 0)
			rc = buf_varint(out, zigzag((int64_t)(f[i].pc - prev)));
		if (rc == 0)
			rc = buf_varint(out, f[i].function);
		if (rc == 0)
			rc = buf_varint(out, f[i].module);
		if (rc == 0)
			rc = buf_varint(out, f[i].file);
		if (rc == 0)
			rc = buf_varint(out, f[i].line);
		prev = f[i].pc;
	}
	return rc;
}

static int put_kvlist(tsm_writer *w, tsm__buf *out, uint32_t id, const void *data, size_t len,
		      uint32_t nstr)
{
	const tsm_kv *kv = data;
	size_t n = len / sizeof(tsm_kv);
	int rc;

	if (len % sizeof(tsm_kv))
		return TSM_FAIL(TSM_INVAL, "%s: metadata list %u is %zu bytes, not pairs", w->name,
				id, len);
	rc = buf_varint(out, n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = check_sid(w, kv[i].key, nstr, "metadata key");
		if (rc == 0 && kv[i].type == TSM_KV_STR)
			rc = check_sid(w, kv[i].v.str, nstr, "metadata value");
		if (rc == 0)
			rc = put_kv(out, &kv[i]);
	}
	return rc;
}

/* Write entries done+1..upto of an intern table as chunks of about DEFS_CHUNK_BYTES. */
static int emit_table(tsm_writer *w, uint32_t type, tsm_intern *t, uint32_t *done, uint32_t upto,
		      uint32_t nstr, entry_fn put)
{
	while (*done < upto) {
		uint32_t first = *done + 1, id;
		int rc = 0;

		tsm__buf_reset(&w->tplbuf);
		for (id = first; id <= upto && w->tplbuf.len < DEFS_CHUNK_BYTES && rc == 0; id++) {
			size_t len;
			const void *p = tsm_intern_borrow(t, id, &len);

			rc = put(w, &w->tplbuf, id, p, len, nstr);
		}
		tsm__buf_reset(&w->payload);
		if (rc == 0)
			rc = buf_varint(&w->payload, first);
		if (rc == 0)
			rc = buf_varint(&w->payload, id - first);
		if (rc == 0)
			rc = tsm__buf_append(&w->payload, w->tplbuf.data, w->tplbuf.len);
		if (rc == 0)
			rc = emit_chunk(w, type, w->payload.data, w->payload.len, 1, 0, 0, 0);
		if (rc < 0)
			return rc;
		*done = id - 1;
	}
	return 0;
}

/* Write every definition created since the last call: strings first, as the rest refer to them. */
static int emit_defs(tsm_writer *w)
{
	uint32_t nstk = tsm_intern_count(w->stacks), nkv = tsm_intern_count(w->kvlists);
	uint32_t nstr = tsm_intern_count(w->strings); /* after stacks/kv: covers their strings */
	tsm__buf *b = &w->payload;
	int rc;

	rc = emit_table(w, SBT_STRS, w->strings, &w->str_done, nstr, nstr, put_string);
	if (rc == 0)
		rc = emit_table(w, SBT_STKS, w->stacks, &w->stk_done, nstk, nstr, put_stack);
	if (rc == 0)
		rc = emit_table(w, SBT_KVLS, w->kvlists, &w->kv_done, nkv, nstr, put_kvlist);
	if (rc < 0)
		return rc;
	if (w->devs_done < w->ndevs) {
		tsm__buf_reset(b);
		rc = buf_varint(b, w->ndevs - w->devs_done);
		for (size_t i = w->devs_done; rc == 0 && i < w->ndevs; i++) {
			const tsm_device_info *d = &w->devs[i];
			uint64_t f[] = {d->id,
					d->name,
					d->uuid,
					d->cc_major,
					d->cc_minor,
					d->sm_count,
					d->core_clock_khz,
					d->mem_clock_khz,
					d->mem_bus_width_bits,
					d->l2_bytes,
					d->max_threads_per_block,
					d->max_threads_per_sm,
					d->regs_per_block,
					d->regs_per_sm,
					d->smem_per_block_bytes,
					d->smem_per_block_optin_bytes,
					d->smem_per_sm_bytes,
					d->warp_size,
					d->max_blocks_per_sm,
					d->global_mem_bytes};

			rc = check_sid(w, d->name, nstr, "device name");
			if (rc == 0)
				rc = check_sid(w, d->uuid, nstr, "device uuid");
			if (rc == 0)
				rc = buf_varint(b, TSM__ARRAY_SIZE(f));
			for (size_t k = 0; rc == 0 && k < TSM__ARRAY_SIZE(f); k++)
				rc = buf_varint(b, f[k]);
		}
		if (rc == 0)
			rc = emit_chunk(w, SBT_DEVS, b->data, b->len, 0, 0, 0, 0);
		if (rc < 0)
			return rc;
		w->devs_done = w->ndevs;
	}
	if (w->procs_done < w->nprocs) {
		tsm__buf_reset(b);
		rc = buf_varint(b, w->nprocs - w->procs_done);
		for (size_t i = w->procs_done; rc == 0 && i < w->nprocs; i++) {
			const tsm_process_info *p = &w->procs[i];

			rc = check_sid(w, p->name, nstr, "process name");
			if (rc == 0)
				rc = check_sid(w, p->cmdline, nstr, "process command line");
			if (rc == 0)
				rc = check_sid(w, p->host, nstr, "process host");
			if (rc == 0)
				rc = buf_varint(b, 5);
			if (rc == 0)
				rc = buf_varint(b, p->pid);
			if (rc == 0)
				rc = buf_varint(b, zigzag(p->rank));
			if (rc == 0)
				rc = buf_varint(b, p->name);
			if (rc == 0)
				rc = buf_varint(b, p->cmdline);
			if (rc == 0)
				rc = buf_varint(b, p->host);
		}
		if (rc == 0)
			rc = emit_chunk(w, SBT_PROC, b->data, b->len, 0, 0, 0, 0);
		if (rc < 0)
			return rc;
		w->procs_done = w->nprocs;
	}
	if (w->meta_done < w->nmeta) {
		tsm__buf_reset(b);
		rc = buf_varint(b, w->nmeta - w->meta_done);
		for (size_t i = w->meta_done; rc == 0 && i < w->nmeta; i++)
			rc = put_kv(b, &w->meta[i]);
		if (rc == 0)
			rc = emit_chunk(w, SBT_META, b->data, b->len, 0, 0, 0, 0);
		if (rc < 0)
			return rc;
		w->meta_done = w->nmeta;
	}
	return 0;
}

static int write_header_and_info(tsm_writer *w)
{
	uint8_t h[SBT_HEADER_SIZE] = {0};
	uint32_t req = w->opts.zstd_level > 0 ? TSM_SBT_REQ_ZSTD : 0;
	struct timespec ts;
	tsm__buf *b = &w->payload;
	size_t plen = strlen(w->producer);
	int rc;

	memcpy(h, SBT_MAGIC, 8);
	tsm__put_le16(h + 8, SBT_HEADER_SIZE);
	tsm__put_le16(h + 10, TSM_SBT_MAJOR);
	tsm__put_le16(h + 12, TSM_SBT_MINOR);
	tsm__put_le32(h + 16, req);
	tsm__put_le32(h + 28, tsm__crc32c(0, h, 28));
	rc = tsm__buf_append(&w->out, h, sizeof(h));
	if (rc < 0)
		return rc;
	w->file_off = SBT_HEADER_SIZE;

	clock_gettime(CLOCK_REALTIME, &ts);
	tsm__buf_reset(b);
	rc = buf_varint(b, w->opts.clock);
	if (rc == 0)
		rc = buf_varint(b, zigzag(w->opts.realtime_offset_ns));
	if (rc == 0)
		rc = buf_varint(b, w->opts.created_realtime_ns
				       ? w->opts.created_realtime_ns
				       : (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
	if (rc == 0)
		rc = buf_varint(b, plen);
	if (rc == 0)
		rc = tsm__buf_append(b, w->producer, plen);
	if (rc == 0)
		rc = emit_chunk(w, SBT_INFO, b->data, b->len, 0, 0, 0, 0);
	if (rc == 0)
		rc = write_out(w);
	return rc;
}

static void writer_free(tsm_writer *w)
{
	if (!w)
		return;
	if (w->own_fd && w->fd >= 0)
		close(w->fd);
	tsm_intern_destroy(w->strings);
	tsm_intern_destroy(w->stacks);
	tsm_intern_destroy(w->kvlists);
	tsm__free(w->devs);
	tsm__free(w->procs);
	tsm__free(w->meta);
	tsm__free(w->blk);
	tsm__free(w->lane_key);
	tsm__free(w->lane_end);
	tsm__free(w->lane_slots);
	tsm__free(w->lane_slot);
	tsm__free(w->order);
	tsm__free(w->order_tmp);
	tsm__free(w->keys);
	tsm__free(w->keys_tmp);
	tsm__free(w->tpl_order);
	tsm__free(w->tpls);
	tsm__free(w->tpl_meta);
	tsm__free(w->slots);
	for (int i = 0; i < COL__COUNT; i++)
		tsm__buf_fini(&w->cols[i]);
	tsm__buf_fini(&w->tplbuf);
	tsm__buf_fini(&w->payload);
	tsm__buf_fini(&w->blk_tpls);
	tsm__buf_fini(&w->blk_payload);
	tsm__buf_fini(&w->zbuf);
	tsm__buf_fini(&w->out);
	tsm__buf_fini(&w->idx);
	tsm__zstd_free(w->zctx, NULL);
	tsm__free(w->name);
	tsm__free(w->producer);
	tsm__free(w);
}

int tsm_writer_open_fd(int fd, const char *name, const tsm_writer_opts *opts, tsm_writer **out)
{
	tsm_writer *w;
	uint32_t cap;
	int rc;

	*out = NULL;
	pthread_once(&mask_once, make_masks);
	w = tsm__calloc(1, sizeof(*w));
	if (!w)
		return TSM_FAIL(TSM_NOMEM, "writer for %s", name);
	w->fd = fd;
	if (opts)
		w->opts = *opts;
	cap = w->opts.block_events ? w->opts.block_events : TSM_WRITER_DEFAULT_BLOCK;
	if (cap > TSM_WRITER_MAX_BLOCK) {
		rc = TSM_FAIL(TSM_INVAL, "%s: block of %u events (max %u)", name, cap,
			      TSM_WRITER_MAX_BLOCK);
		goto out;
	}
	if (w->opts.zstd_level < 0 || w->opts.zstd_level > 22) {
		rc = TSM_FAIL(TSM_INVAL, "%s: zstd level %d (1..22)", name, w->opts.zstd_level);
		goto out;
	}
	if (w->opts.zstd_level > 0 && !(tsm_build_features() & TSM_FEATURE_ZSTD)) {
		rc = TSM_FAIL(TSM_UNSUPPORTED,
			      "%s: zstd compression asked for, but this build has "
			      "no zstd",
			      name);
		goto out;
	}
	w->cap = cap;
	for (w->nslots = 64; w->nslots < 2 * cap; w->nslots *= 2)
		;
	w->tslots = w->nslots < SLOTS_START ? w->nslots : SLOTS_START;
	w->blk_min_start = UINT64_MAX;
	w->name = tsm__strdup(name);
	w->producer =
	    tsm__strdup(w->opts.producer ? w->opts.producer : "tracesmith " TSM_VERSION_STRING);
	w->blk = tsm__malloc(sizeof(*w->blk) * cap);
	w->lane_key = tsm__malloc(sizeof(uint64_t) * cap);
	w->lane_end = tsm__malloc(sizeof(uint64_t) * cap);
	w->lane_slots = tsm__calloc(w->nslots, sizeof(uint32_t));
	w->lane_slot = tsm__malloc(sizeof(uint32_t) * cap);
	w->order = tsm__malloc(sizeof(uint32_t) * cap);
	w->order_tmp = tsm__malloc(sizeof(uint32_t) * cap);
	w->keys = tsm__malloc(sizeof(uint64_t) * cap);
	w->keys_tmp = tsm__malloc(sizeof(uint64_t) * cap);
	w->tpl_order = tsm__malloc(sizeof(uint32_t) * cap);
	w->tpls = tsm__malloc(sizeof(tsm_event) * cap);
	w->tpl_meta = tsm__malloc(sizeof(tpl_entry) * cap);
	w->slots = tsm__calloc(w->nslots, sizeof(uint32_t));
	if (!w->name || !w->producer || !w->blk || !w->lane_key || !w->lane_end || !w->lane_slots ||
	    !w->lane_slot || !w->order || !w->order_tmp || !w->keys || !w->keys_tmp ||
	    !w->tpl_order || !w->tpls || !w->tpl_meta || !w->slots) {
		rc = TSM_FAIL(TSM_NOMEM, "writer buffers for %s (%u events per block)", name, cap);
		goto out;
	}
	w->producer[strcspn(w->producer, "")] = 0;
	rc = tsm_intern_create(&w->strings);
	if (rc == 0)
		rc = tsm_intern_create(&w->stacks);
	if (rc == 0)
		rc = tsm_intern_create(&w->kvlists);
	if (rc == 0)
		rc = write_header_and_info(w);
	if (rc < 0)
		goto out;
	*out = w;
	w = NULL;
out:
	if (w)
		w->fd = -1; /* the caller still owns fd */
	writer_free(w);
	return rc;
}

int tsm_writer_open(const char *path, const tsm_writer_opts *opts, tsm_writer **out)
{
	int fd, rc;

	*out = NULL;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return TSM_FAIL(TSM_IO, "%s: cannot create: %s", path, strerror(errno));
	rc = tsm_writer_open_fd(fd, path, opts, out);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	(*out)->own_fd = 1;
	return 0;
}

tsm_intern *tsm_writer_strings(tsm_writer *w)
{
	return w->strings;
}

tsm_intern *tsm_writer_stacks(tsm_writer *w)
{
	return w->stacks;
}

tsm_intern *tsm_writer_kvlists(tsm_writer *w)
{
	return w->kvlists;
}

/* ---- block encoding ---------------------------------------------------- */

/*
 * Stable LSD radix sort of the block by start time. Each key packs
 * (start - min_start) above the event's index, so one 8-byte value moves
 * per element and pass and the order falls out of the low bits; the index
 * bits need no pass (the input is in index order and LSD is stable).
 * Digits are 11 bits (a full block's 27-bit span: three passes, whose
 * 2048 counters and scatter streams stay in L1; two passes of 14 bits
 * measured 3-4 % slower), fewer in a small block; the histograms of every
 * digit come from one read pass. A block whose time range does not fit
 * beside the index (it spans hours) is sorted by sort_wide instead, on
 * separate key and index arrays.
 */
#define RADIX_BITS 11
#define RADIX_SIZE (1u << RADIX_BITS)
/* Counters of every pass: ceil((56 - d) / d) passes of 2^d, the most at d = 11. */
#define RADIX_COUNTS (5 * RADIX_SIZE)

/* The general case: 64-bit keys and a separate order array, 16 bits per pass. */
static void sort_wide(tsm_writer *w, uint64_t min_start)
{
	uint32_t n = w->nblk, *o = w->order, *ot = w->order_tmp;
	uint64_t *k = w->keys, *kt = w->keys_tmp;

	for (uint32_t i = 0; i < n; i++) {
		k[i] = w->blk[i].start - min_start;
		o[i] = i;
	}
	for (unsigned sh = 0; sh < 64; sh += 16) {
		static _Thread_local uint32_t count[65536];
		uint32_t sum = 0;
		uint64_t *tk;
		uint32_t *to;

		memset(count, 0, sizeof(count));
		for (uint32_t i = 0; i < n; i++)
			count[(k[i] >> sh) & 0xffff]++;
		for (unsigned b = 0; b < 65536; b++) {
			uint32_t c = count[b];

			count[b] = sum;
			sum += c;
		}
		for (uint32_t i = 0; i < n; i++) {
			uint32_t d = count[(k[i] >> sh) & 0xffff]++;

			kt[d] = k[i];
			ot[d] = o[i];
		}
		tk = k;
		k = kt;
		kt = tk;
		to = o;
		o = ot;
		ot = to;
	}
	/* four passes: the result is back in w->keys / w->order */
}

/* The LSD passes on digits of d bits; inlined twice, d a constant in the full blocks' copy. */
static inline void sort_lsd(tsm_writer *w, uint64_t min_start, unsigned ibits, unsigned rbits,
			    unsigned d)
{
	static _Thread_local uint32_t counts[RADIX_COUNTS];
	uint32_t n = w->nblk, nb = 1u << d;
	uint64_t *k = w->keys, *kt = w->keys_tmp;
	unsigned npass = (rbits + d - 1) / d; /* rbits <= 56 - ibits: npass * nb <= RADIX_COUNTS */

	memset(counts, 0, sizeof(uint32_t) * nb * npass);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t key = ((w->blk[i].start - min_start) << ibits) | i;

		k[i] = key;
		key >>= ibits;
		counts[key & (nb - 1)]++;
		if (npass > 1)
			counts[nb + ((key >> d) & (nb - 1))]++;
		if (npass > 2)
			counts[2 * nb + ((key >> (2 * d)) & (nb - 1))]++;
		for (unsigned p = 3; p < npass; p++)
			counts[p * nb + ((key >> (p * d)) & (nb - 1))]++;
	}
	for (unsigned p = 0; p < npass; p++) {
		uint32_t sum = 0, *c = counts + p * nb;
		unsigned sh = ibits + p * d;
		uint64_t *t;

		if (c[(k[0] >> sh) & (nb - 1)] == n)
			continue; /* every key has the same digit */
		for (unsigned b = 0; b < nb; b++) {
			uint32_t x = c[b];

			c[b] = sum;
			sum += x;
		}
		for (uint32_t i = 0; i < n; i++)
			kt[c[(k[i] >> sh) & (nb - 1)]++] = k[i];
		t = k;
		k = kt;
		kt = t;
	}
	for (uint32_t i = 0; i < n; i++)
		w->order[i] = (uint32_t)(k[i] & ((1u << ibits) - 1));
}

static void sort_block(tsm_writer *w, uint64_t min_start, uint64_t max_start)
{
	uint64_t range = max_start - min_start;
	unsigned ibits = 1, rbits = range ? 64 - (unsigned)__builtin_clzll(range) : 0;

	while ((1u << ibits) < w->nblk)
		ibits++;
	if (rbits + ibits > 56)
		sort_wide(w, min_start);
	else if (ibits >= RADIX_BITS)
		sort_lsd(w, min_start, ibits, rbits, RADIX_BITS);
	else /* a small block (a flush): digits of about log2(n) bits */
		sort_lsd(w, min_start, ibits, rbits, ibits < 8 ? 8 : ibits);
}

static inline uint64_t word(const tsm_event *e, unsigned i)
{
	uint64_t x;

	memcpy(&x, (const uint8_t *)e + 8 * i, 8);
	return x;
}

/*
 * An event's template words, as 16-byte vectors (SSE2 or NEON registers; GCC
 * and Clang lower them to scalar code elsewhere): each word under its kind's
 * mask. Vector 3 (correlation, external id) is never part of a template.
 * Masking once and comparing two words per instruction halves the lookup's
 * work against word-at-a-time code, which also spilled the masked words.
 */
typedef uint64_t tpl_vec __attribute__((vector_size(16)));
typedef struct tpl_vals {
	tpl_vec v[8];
} tpl_vals;
#define TPL_VECS(X) X(0) X(1) X(2) X(4) X(5) X(6) X(7)

static inline void tpl_load(tpl_vals *x, const tsm_event *e, const uint64_t *m)
{
	tpl_vec a, b;

#define LOAD_VEC(i)                                    \
	memcpy(&a, (const uint8_t *)e + 16 * (i), 16); \
	memcpy(&b, m + 2 * (i), 16);                   \
	x->v[i] = a & b;
	TPL_VECS(LOAD_VEC)
#undef LOAD_VEC
	x->v[3] = (tpl_vec){0, 0};
}

static inline int tpl_same(const tpl_vals *x, const tsm_event *t)
{
	tpl_vec a, d = {0, 0};

#define CMP_VEC(i)                                     \
	memcpy(&a, (const uint8_t *)t + 16 * (i), 16); \
	d |= x->v[i] ^ a;
	TPL_VECS(CMP_VEC)
#undef CMP_VEC
	return (d[0] | d[1]) == 0;
}

/*
 * The hash reads every template word, in two multiply chains that run side
 * by side. Reading only the words that usually tell templates apart (kind,
 * name, stream, thread, the first payload words) cost the `infer` preset a
 * third of its speed: its kernels differ further into the payload, and
 * equal hashes made every lookup compare whole templates along one long
 * probe run.
 */
static inline uint64_t template_hash(const tpl_vals *x)
{
	const uint64_t k1 = 0x9e3779b97f4a7c15ULL, k2 = 0xc2b2ae3d27d4eb4fULL;
	uint64_t a = x->v[0][0], b = x->v[1][1];

	a = (a ^ x->v[2][0]) * k1;
	b = (b ^ x->v[2][1]) * k2;
	a = (a ^ x->v[4][0]) * k1;
	b = (b ^ x->v[5][0]) * k2;
	a = (a ^ x->v[5][1]) * k1;
	b = (b ^ x->v[6][0]) * k2;
	a = (a ^ x->v[6][1]) * k1;
	b = (b ^ x->v[7][0]) * k2;
	a ^= x->v[7][1];
	return tsm__mix64(a ^ (b >> 29) ^ (b << 35));
}

/* The lane of a GPU template: its (device, stream), shared by all templates on that stream. */
static uint32_t find_lane(tsm_writer *w, const tsm_event *t)
{
	uint64_t key = sbt_lane_key(t);
	uint32_t mask = w->nslots - 1, i;

	for (i = (uint32_t)tsm__mix64(key) & mask; w->lane_slots[i]; i = (i + 1) & mask)
		if (w->lane_key[w->lane_slots[i] - 1] == key)
			return w->lane_slots[i] - 1;
	w->lane_key[w->nlanes] = key;
	w->lane_slot[w->nlanes] = i;
	w->lane_slots[i] = ++w->nlanes;
	return w->nlanes - 1;
}

/*
 * The template table's hash slots start at SLOTS_START (4 KiB, in L1 beside
 * the templates a training loop repeats) and double, kept at most half
 * full, up to nslots; they do not shrink between blocks.
 */
static void grow_slots(tsm_writer *w)
{
	uint32_t mask = 2 * w->tslots - 1;

	memset(w->slots, 0, sizeof(uint32_t) * w->tslots);
	w->tslots *= 2;
	for (uint32_t t = 0; t < w->ntpl; t++) {
		uint32_t i = (uint32_t)w->tpl_meta[t].hash & mask;

		while (w->slots[i])
			i = (i + 1) & mask;
		w->slots[i] = t + 1;
		w->tpl_meta[t].slot = i;
	}
}

static int check_id(tsm_writer *w, uint32_t id, uint32_t *known, tsm_intern *t, const char *what)
{
	if (TSM__LIKELY(id <= *known))
		return 0;
	*known = tsm_intern_count(t);
	if (id <= *known)
		return 0;
	return TSM_FAIL(TSM_UNDEFINED, "%s: event refers to %s id %u, not interned (%u defined)",
			w->name, what, id, *known);
}

/* What each event is checked for: its kind is known, it does not end before it starts. */
static inline int event_ok(const tsm_event *e)
{
	return ((unsigned)e->kind - 1u < TSM_EV__COUNT - 1u) & (e->end_ns >= e->start_ns) &
	       (e->end_ns - e->start_ns <= (UINT64_MAX >> 2));
}

/* Says what event_ok found wrong. */
static int event_error(tsm_writer *w, const tsm_event *e)
{
	if (e->kind == TSM_EV_NONE || e->kind >= TSM_EV__COUNT)
		return TSM_FAIL(TSM_INVAL, "%s: event of unknown kind %u", w->name, e->kind);
	if (e->end_ns < e->start_ns)
		return TSM_FAIL(TSM_INVAL, "%s: %s event ends (%llu) before it starts (%llu)",
				w->name, tsm_event_kind_name(e->kind),
				(unsigned long long)e->end_ns, (unsigned long long)e->start_ns);
	return TSM_FAIL(TSM_INVAL, "%s: event duration %llu ns out of range", w->name,
			(unsigned long long)(e->end_ns - e->start_ns));
}

/*
 * What each template is checked for: its flow type is known and every id it holds is
 * defined. An event equal to a template of the block holds the same ids, and ids stay
 * defined, so only the events that make a new template are checked.
 */
static int template_ok(tsm_writer *w, const tsm_event *e)
{
	int rc;

	if (TSM__UNLIKELY(e->flow_type > TSM_FLOW_STEP))
		return TSM_FAIL(TSM_INVAL, "%s: flow type %u", w->name, e->flow_type);
	rc = check_id(w, e->name, &w->str_known, w->strings, "string");
	if (rc == 0 && e->stack)
		rc = check_id(w, e->stack, &w->stk_known, w->stacks, "stack");
	if (rc == 0 && e->meta)
		rc = check_id(w, e->meta, &w->kv_known, w->kvlists, "metadata list");
	if (rc == 0 && (e->kind == TSM_EV_NVTX_RANGE || e->kind == TSM_EV_NVTX_MARK))
		rc = check_id(w, e->u.nvtx.domain, &w->str_known, w->strings, "string");
	return rc;
}

/*
 * The recent-template cache: a slot per (name, kind, device, stream, thread) hash,
 * holding the template last found for it. A training loop repeats its (kernel,
 * stream) and (call, thread) pairs with the same launch configuration and stack, so
 * nine events in ten match their slot's template and skip the full hash.
 */
static inline uint32_t *recent_slot(tsm_writer *w, const tsm_event *e)
{
	uint64_t k = (word(e, 0) ^ (word(e, 5) * 0x9e3779b97f4a7c15ULL)) * 0xc2b2ae3d27d4eb4fULL;

	return &w->recent[((k ^ word(e, 3)) * 0x9e3779b97f4a7c15ULL) >> (64 - RECENT_BITS)];
}

/* The block's template equal to e (created if none is), as *out; checks a new one first. */
static inline int find_template(tsm_writer *w, const tsm_event *e, uint32_t *out)
{
	const kind_spec *ks;
	uint32_t i, mask = w->tslots - 1, *recent = recent_slot(w, e);
	uint64_t h;
	tpl_entry *te;
	tpl_vals x;
	int rc;

	tpl_load(&x, e, tpl_mask[e->kind]);
	if (TSM__LIKELY(*recent && tpl_same(&x, &w->tpls[*recent - 1]))) {
		*out = *recent - 1;
		return 0;
	}
	h = template_hash(&x);
	for (i = (uint32_t)h & mask;; i = (i + 1) & mask) {
		uint32_t s = w->slots[i];

		if (!s)
			break;
		if (w->tpl_meta[s - 1].hash == h && tpl_same(&x, &w->tpls[s - 1])) {
			*recent = s;
			*out = s - 1;
			return 0;
		}
	}
	rc = template_ok(w, e);
	if (rc < 0)
		return rc;
	if (TSM__UNLIKELY(2 * (w->ntpl + 1) > w->tslots && w->tslots < w->nslots)) {
		grow_slots(w);
		for (i = (uint32_t)h & (w->tslots - 1); w->slots[i]; i = (i + 1) & (w->tslots - 1))
			;
	}
	memcpy(&w->tpls[w->ntpl], x.v, sizeof(tsm_event));
	ks = &tsm__kind_specs[e->kind];
	te = &w->tpl_meta[w->ntpl];
	te->hash = h;
	te->prev_dur = 0;
	te->slot = i;
	te->id = NO_ID;
	te->info = (event_class(e) ? REC_GPU : 0) | (e->flow_type ? REC_FLOW : 0) |
		   (ks->has_vol ? (1u + ks->vol.coding) << REC_VOL_SHIFT : 0);
	te->lane = event_class(e) ? find_lane(w, &w->tpls[w->ntpl]) : 0;
	w->slots[i] = ++w->ntpl;
	*recent = w->ntpl;
	*out = w->ntpl - 1;
	return 0;
}

static int encode_template(tsm__buf *b, const tsm_event *t)
{
	const kind_spec *ks = &tsm__kind_specs[t->kind];
	uint32_t mask = 0;
	int rc;

	mask |= t->flags ? TPL_FLAGS : 0;
	mask |= t->device != TSM_DEVICE_NONE ? TPL_DEVICE : 0;
	mask |= t->context ? TPL_CONTEXT : 0;
	mask |= t->stream ? TPL_STREAM : 0;
	mask |= t->pid ? TPL_PID : 0;
	mask |= t->tid ? TPL_TID : 0;
	mask |= t->name ? TPL_NAME : 0;
	mask |= t->stack ? TPL_STACK : 0;
	mask |= t->meta ? TPL_META : 0;
	mask |= t->flow_type ? TPL_FLOW : 0;
	rc = tsm__buf_reserve(b, 1 + 10 * (11 + SBT_MAX_FIELDS));
	if (rc < 0)
		return rc;
	b->data[b->len++] = t->kind;
	b->len += varint_put(b->data + b->len, mask);
#define PUT(bit, v)       \
	if (mask & (bit)) \
		b->len += varint_put(b->data + b->len, (v));
	PUT(TPL_FLAGS, t->flags);
	PUT(TPL_DEVICE, t->device);
	PUT(TPL_CONTEXT, t->context);
	PUT(TPL_STREAM, t->stream);
	PUT(TPL_PID, t->pid);
	PUT(TPL_TID, t->tid);
	PUT(TPL_NAME, t->name);
	PUT(TPL_STACK, t->stack);
	PUT(TPL_META, t->meta);
	PUT(TPL_FLOW, t->flow_type);
#undef PUT
	for (unsigned i = 0; i < ks->nstatic; i++) {
		const field_spec *f = &ks->statics[i];
		uint64_t v = field_get(t, f);

		b->len +=
		    varint_put(b->data + b->len, f->coding == F_SINT ? zigzag((int64_t)v) : v);
	}
	return 0;
}

/* Without branches: host and GPU events, each with its own mode, alternate in a block. */
static inline uint8_t id_mode(uint64_t v, uint64_t prev)
{
	unsigned m = MODE_EXPLICIT - (v == prev + 1) + (v == prev);

	_Static_assert(MODE_EXPLICIT - 1 == MODE_NEXT && MODE_EXPLICIT + 1 == MODE_SAME &&
			   MODE_ZERO == 0,
		       "id modes");
	return (uint8_t)(m & -(unsigned)(v != 0));
}

/* v if it is not 0, else prev; without a branch, as id_mode. */
static inline uint64_t id_last(uint64_t v, uint64_t prev)
{
	uint64_t keep = -(uint64_t)(v == 0);

	return v | (prev & keep);
}

/* Empty the template and lane tables for the next block, clearing only the slots in use. */
static void block_reset(tsm_writer *w)
{
	for (uint32_t i = 0; i < w->ntpl; i++)
		w->slots[w->tpl_meta[i].slot] = 0;
	for (uint32_t i = 0; i < w->nlanes; i++)
		w->lane_slots[w->lane_slot[i]] = 0;
	w->ntpl = 0;
	w->nlanes = 0;
	w->nblk = 0;
	memset(w->recent, 0, sizeof(w->recent));
	w->blk_min_start = UINT64_MAX;
	w->blk_max_start = w->blk_max_end = w->blk_last_start = 0;
	w->blk_class_bits[0] = w->blk_class_bits[1] = 0;
	w->blk_class_n[0] = w->blk_class_n[1] = 0;
	w->blk_unsorted = 0;
}

static int encode_block(tsm_writer *w)
{
	uint32_t n = w->nblk, ntbl = 0;
	uint64_t min_start = w->blk_min_start, max_end = w->blk_max_end;
	uint64_t prev_start = min_start, prev_corr[2] = {0, 0}, prev_ext[2] = {0, 0};
	uint64_t prev_flow = 0, prev_vol = 0;
	const uint32_t *order = NULL;
	unsigned shift[2];
	int rc;
	uint8_t *c[COL__COUNT];
	tsm__buf *p = &w->blk_payload;
	size_t hdr_off = 0, start_len;

	if (!n)
		return 0;
	if (w->blk_unsorted) {
		sort_block(w, min_start, w->blk_max_start);
		order = w->order;
	}

	/*
	 * The common power-of-two factor of a class's start and duration deltas. The
	 * deltas (host: since the previous host start, the first since min_start; GPU:
	 * since the lane's previous end, the first since min_start; durations: since
	 * the template's previous one) are sums and differences of the class's starts
	 * less min_start and of its durations, and those are sums and differences of
	 * the deltas: both sets have the same lowest set bit. write_one kept the
	 * starts less the class's first and the durations; the first less min_start
	 * completes them.
	 */
	for (int i = 0; i < 2; i++) {
		uint64_t bits = w->blk_class_n[i]
				    ? w->blk_class_bits[i] | (w->blk_class_first[i] - min_start)
				    : 0;

		shift[i] = bits ? (unsigned)__builtin_ctzll(bits) : 0;
	}
	for (uint32_t i = 0; i < w->nlanes; i++)
		w->lane_end[i] = min_start;

	/* One pass in start order: table order of the templates, time deltas, columns. Each
	 * column gets worst-case room up front. */
	for (int i = 0; i < COL__COUNT; i++) {
		tsm__buf_reset(&w->cols[i]);
		rc = tsm__buf_reserve(&w->cols[i], (size_t)n * 10);
		if (rc < 0)
			return rc;
		c[i] = w->cols[i].data;
	}
	for (uint32_t k = 0; k < n; k++) {
		const ev_rec *e = &w->blk[order ? order[k] : k];

		/* Records come out of place: fetch ahead, before this one's loads (4 fewer
		 * instructions an event than after them, as gcc 12 compiles it). */
		if (order && k + 16 < n)
			__builtin_prefetch(&w->blk[order[k + 16]]);
		tpl_entry *te = &w->tpl_meta[e->tpl];
		int64_t dd = (int64_t)e->dur - te->prev_dur;
		int cls = te->info & REC_GPU;
		unsigned vol = te->info >> REC_VOL_SHIFT;
		uint8_t cm = id_mode(e->corr, prev_corr[cls]);
		uint8_t em = id_mode(e->ext, prev_ext[cls]);

		if (te->id == NO_ID) {
			te->id = ntbl;
			w->tpl_order[ntbl++] = e->tpl;
		}
		te->prev_dur = (int64_t)e->dur;
		c[COL_TPL] += varint_put(c[COL_TPL], te->id);
		*c[COL_FLG]++ = (uint8_t)(cm | (em << 2));
		if (cls == CLASS_GPU) {
			/* GPU: the gap since the previous op on this stream ended (may be < 0). */
			uint64_t *end = &w->lane_end[te->lane];

			c[COL_START] += varint_put(
			    c[COL_START], zigzag((int64_t)(e->start - *end) >> shift[cls]));
			*end = e->start + e->dur;
		} else {
			/* Host: the delta since the previous host event started (>= 0, sorted). */
			c[COL_START] +=
			    varint_put(c[COL_START], (e->start - prev_start) >> shift[cls]);
			prev_start = e->start;
		}
		c[COL_DUR] += varint_put(c[COL_DUR], zigzag(dd >> shift[cls]));
		if (cm == MODE_EXPLICIT)
			c[COL_CORR] +=
			    varint_put(c[COL_CORR], zigzag((int64_t)(e->corr - prev_corr[cls])));
		prev_corr[cls] = id_last(e->corr, prev_corr[cls]);
		if (em == MODE_EXPLICIT)
			c[COL_EXT] +=
			    varint_put(c[COL_EXT], zigzag((int64_t)(e->ext - prev_ext[cls])));
		prev_ext[cls] = id_last(e->ext, prev_ext[cls]);
		if (te->info & REC_FLOW) {
			c[COL_FLOW] +=
			    varint_put(c[COL_FLOW], zigzag((int64_t)(e->flow - prev_flow)));
			prev_flow = e->flow;
		}
		if (vol) {
			switch (vol - 1) {
			case F_DELTA:
				c[COL_VOL] +=
				    varint_put(c[COL_VOL], zigzag((int64_t)(e->vol - prev_vol)));
				prev_vol = e->vol;
				break;
			case F_DOUBLE:
				tsm__put_le64(c[COL_VOL], e->vol);
				c[COL_VOL] += 8;
				break;
			default:
				c[COL_VOL] += varint_put(c[COL_VOL], e->vol);
			}
		}
	}
	for (int i = 0; i < COL__COUNT; i++)
		w->cols[i].len = (size_t)(c[i] - w->cols[i].data);

	/* The definitions the block may use go first. Then the block: its header, the
	 * templates, the columns; built in the output itself unless it is compressed. */
	tsm__buf_reset(&w->blk_tpls);
	for (uint32_t i = 0; i < ntbl; i++) {
		rc = encode_template(&w->blk_tpls, &w->tpls[w->tpl_order[i]]);
		if (rc < 0)
			return rc;
	}
	rc = emit_defs(w);
	if (rc < 0)
		return rc;
	if (w->opts.zstd_level > 0) {
		tsm__buf_reset(p);
	} else {
		rc = open_chunk(w, &hdr_off);
		if (rc < 0)
			return rc;
		p = &w->out;
	}
	start_len = p->len;
	rc = tsm__buf_reserve(p, 64 + 10 * COL__COUNT);
	if (rc == 0) {
		p->len += varint_put(p->data + p->len, n);
		p->len += varint_put(p->data + p->len, min_start);
		p->len += varint_put(p->data + p->len, max_end - min_start);
		p->data[p->len++] = (uint8_t)shift[CLASS_HOST];
		p->data[p->len++] = (uint8_t)shift[CLASS_GPU];
		p->len += varint_put(p->data + p->len, ntbl);
		rc = tsm__buf_append(p, w->blk_tpls.data, w->blk_tpls.len);
	}
	for (int i = 0; rc == 0 && i < COL__COUNT; i++)
		rc = buf_varint(p, w->cols[i].len);
	for (int i = 0; rc == 0 && i < COL__COUNT; i++)
		rc = tsm__buf_append(p, w->cols[i].data, w->cols[i].len);
	if (rc < 0) {
		if (p == &w->out)
			w->out.len = hdr_off; /* nothing of the chunk stays */
		return rc;
	}
	w->st.raw_block_bytes += p->len - start_len;
	if (p == &w->out)
		rc = close_chunk(w, hdr_off, SBT_EVTB, 0, n, min_start, max_end);
	else
		rc = emit_chunk(w, SBT_EVTB, p->data, p->len, 1, n, min_start, max_end);
	if (rc < 0)
		return rc;
	block_reset(w);
	return 0;
}

/* ---- public write path ------------------------------------------------- */

static inline int write_one(tsm_writer *w, const tsm_event *ev)
{
	uint64_t start = ev->start_ns, end = ev->end_ns;
	uint32_t ti, cls;
	ev_rec *r;
	int rc;

	if (TSM__UNLIKELY(w->err))
		return w->err;
	if (TSM__UNLIKELY(!event_ok(ev)))
		return event_error(w, ev);
	rc = find_template(w, ev, &ti);
	if (TSM__UNLIKELY(rc < 0))
		return rc;
	r = &w->blk[w->nblk++];
	r->start = start;
	r->dur = end - start;
	r->corr = ev->correlation;
	r->ext = ev->external;
	r->flow = ev->flow_id;
	r->vol = w->tpl_meta[ti].info >> REC_VOL_SHIFT
		     ? field_get(ev, &tsm__kind_specs[ev->kind].vol)
		     : 0;
	r->tpl = ti;

	/* What encode_block needs before its one pass: the order, the time range, and per
	 * class the low bits of the starts (against the class's first) and durations. */
	cls = w->tpl_meta[ti].info & REC_GPU;
	if (TSM__UNLIKELY(!w->blk_class_n[cls]))
		w->blk_class_first[cls] = start;
	w->blk_class_n[cls]++;
	w->blk_class_bits[cls] |= (start - w->blk_class_first[cls]) | (end - start);
	w->blk_unsorted |= start < w->blk_last_start;
	w->blk_last_start = start;
	w->blk_min_start = start < w->blk_min_start ? start : w->blk_min_start;
	w->blk_max_start = start > w->blk_max_start ? start : w->blk_max_start;
	w->blk_max_end = end > w->blk_max_end ? end : w->blk_max_end;

	w->st.events++;
	w->st.per_kind[ev->kind]++;
	if (ev->kind == TSM_EV_DROPPED)
		w->st.dropped += ev->u.dropped.count;
	if (w->nblk == w->cap) {
		rc = encode_block(w);
		if (rc < 0)
			w->err = rc;
	}
	return rc;
}

int tsm_writer_write(tsm_writer *w, const tsm_event *ev)
{
	return write_one(w, ev);
}

/* Reads ahead of the events: the batch of a ring drain or of an array is beyond L1. */
int tsm_writer_write_batch(tsm_writer *w, const tsm_event *evs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int rc;

		if (i + 8 < n) {
			__builtin_prefetch(&evs[i + 8]);
			__builtin_prefetch((const uint8_t *)&evs[i + 8] + 64);
		}
		rc = write_one(w, &evs[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Room for one more definition in arr (n of cap in use), or return TSM_NOMEM. */
#define GROW(arr, n, cap)                                                         \
	do {                                                                      \
		if ((n) == (cap)) {                                               \
			void *p_ = tsm__grow((arr), &(cap), 8, sizeof(*(arr)));   \
			if (!p_)                                                  \
				return TSM_FAIL(TSM_NOMEM, "writer definitions"); \
			(arr) = p_;                                               \
		}                                                                 \
	} while (0)

int tsm_writer_add_device(tsm_writer *w, const tsm_device_info *dev)
{
	GROW(w->devs, w->ndevs, w->devs_cap);
	w->devs[w->ndevs++] = *dev;
	return 0;
}

int tsm_writer_add_process(tsm_writer *w, const tsm_process_info *proc)
{
	GROW(w->procs, w->nprocs, w->procs_cap);
	w->procs[w->nprocs++] = *proc;
	return 0;
}

static int add_meta(tsm_writer *w, const char *key, tsm_kv *kv)
{
	int rc = tsm_intern_str(w->strings, key, &kv->key);

	if (rc < 0)
		return rc;
	GROW(w->meta, w->nmeta, w->meta_cap);
	w->meta[w->nmeta++] = *kv;
	return 0;
}

int tsm_writer_add_meta_str(tsm_writer *w, const char *key, const char *value)
{
	tsm_kv kv = {.type = TSM_KV_STR};
	uint32_t sid;
	int rc = tsm_intern_str(w->strings, value, &sid);

	if (rc < 0)
		return rc;
	kv.v.str = sid;
	return add_meta(w, key, &kv);
}

int tsm_writer_add_meta_int(tsm_writer *w, const char *key, int64_t value)
{
	tsm_kv kv = {.type = TSM_KV_INT, .v.i = value};

	return add_meta(w, key, &kv);
}

int tsm_writer_flush(tsm_writer *w)
{
	int rc;

	if (w->err)
		return w->err;
	rc = encode_block(w);
	if (rc == 0)
		rc = emit_defs(w);
	if (rc == 0)
		rc = write_out(w);
	if (rc < 0)
		w->err = rc;
	return rc;
}

void tsm_writer_get_stats(const tsm_writer *w, tsm_writer_stats *st)
{
	*st = w->st;
}

int tsm_writer_close(tsm_writer *w)
{
	uint8_t foot[SBT_FOOTER_SIZE] = {0};
	uint64_t idx_off;
	int rc;

	if (!w)
		return 0;
	rc = w->err;
	if (rc == 0)
		rc = encode_block(w);
	if (rc == 0)
		rc = emit_defs(w);
	if (rc == 0) {
		/* INDX: entry count, then the entries built as chunks were emitted. */
		tsm__buf *p = &w->payload;

		idx_off = w->file_off;
		tsm__buf_reset(p);
		rc = buf_varint(p, w->nidx);
		if (rc == 0)
			rc = tsm__buf_append(p, w->idx.data, w->idx.len);
		if (rc == 0)
			rc = emit_chunk(w, SBT_INDX, p->data, p->len, 0, 0, 0, 0);
		if (rc == 0) {
			memcpy(foot, SBT_FOOTER_MAGIC, 8);
			tsm__put_le64(foot + 8, idx_off);
			tsm__put_le64(foot + 16, w->st.events);
			tsm__put_le32(foot + 28, tsm__crc32c(0, foot, 28));
			rc = tsm__buf_append(&w->out, foot, sizeof(foot));
		}
		if (rc == 0)
			rc = write_out(w);
	}
	if (w->own_fd && close(w->fd) < 0 && rc == 0)
		rc = io_fail(w, "close");
	w->fd = -1;
	writer_free(w);
	return rc;
}
