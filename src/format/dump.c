/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tsm_sbt_dump: print an SBT file chunk by chunk, field by field, with
 * offsets and the names used in docs/format/sbt.md. It walks the reader's
 * own steps (tsm__reader_step, tsm__block_next), so what it prints is
 * exactly what the reader decoded: there is one decoder, not two.
 */
#include <inttypes.h>
#include <unistd.h>

#include "reader.h"

static void put_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\x%02x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

static void put_sid(FILE *out, const tsm_reader *r, uint64_t id)
{
	fprintf(out, "%" PRIu64, id);
	if (id) {
		fputc(' ', out);
		put_str(out, tsm_reader_string(r, (uint32_t)id));
	}
}

static void put_kv(FILE *out, const tsm_reader *r, const tsm_kv *kv)
{
	fprintf(out, "key ");
	put_sid(out, r, kv->key);
	switch (kv->type) {
	case TSM_KV_INT:
		fprintf(out, " int %" PRId64, kv->v.i);
		break;
	case TSM_KV_DOUBLE:
		fprintf(out, " double %.17g", kv->v.d);
		break;
	case TSM_KV_STR:
		fprintf(out, " str ");
		put_sid(out, r, kv->v.str);
		break;
	}
}

static void put_fields(FILE *out, const tsm_reader *r, const tsm_event *e, int with_vol)
{
	const kind_spec *ks = &tsm__kind_specs[e->kind];

	fprintf(out, " kind %u (%s)", e->kind, tsm_event_kind_name(e->kind));
	if (e->flags)
		fprintf(out, " flags 0x%02x", e->flags);
	if (e->device != TSM_DEVICE_NONE)
		fprintf(out, " device %u", e->device);
	if (e->context)
		fprintf(out, " context %u", e->context);
	if (e->stream)
		fprintf(out, " stream %u", e->stream);
	if (e->pid)
		fprintf(out, " pid %u", e->pid);
	if (e->tid)
		fprintf(out, " tid %" PRIu64, e->tid);
	if (e->name) {
		fprintf(out, " name ");
		put_sid(out, r, e->name);
	}
	if (e->stack)
		fprintf(out, " stack %u", e->stack);
	if (e->meta)
		fprintf(out, " meta %u", e->meta);
	if (e->flow_type)
		fprintf(out, " flow_type %u", e->flow_type);
	for (unsigned i = 0; i < ks->nstatic; i++) {
		const field_spec *f = &ks->statics[i];
		uint64_t v = field_get(e, f);

		if (f->coding == F_SINT)
			fprintf(out, " %s %" PRId64, f->name, (int64_t)v);
		else if (f->coding == F_STRID && v) {
			fprintf(out, " %s ", f->name);
			put_sid(out, r, v);
		} else
			fprintf(out, " %s %" PRIu64, f->name, v);
	}
	if (with_vol && ks->has_vol) {
		uint64_t v = field_get(e, &ks->vol);

		if (ks->vol.coding == F_DOUBLE) {
			double d;

			memcpy(&d, &v, 8);
			fprintf(out, " %s %.17g", ks->vol.name, d);
		} else if (ks->vol.coding == F_DELTA) {
			fprintf(out, " %s 0x%" PRIx64, ks->vol.name, v);
		} else {
			fprintf(out, " %s %" PRIu64, ks->vol.name, v);
		}
	}
}

static void dump_defs(FILE *out, const tsm_reader *r, const sbt_step *st)
{
	switch (st->type) {
	case SBT_STRS:
		fprintf(out, "    first_id %u count %u\n", st->first_id, st->count);
		for (uint32_t i = 0; i < st->count; i++) {
			fprintf(out, "    string %u ", st->first_id + i);
			put_str(out, tsm_reader_string(r, st->first_id + i));
			fputc('\n', out);
		}
		break;
	case SBT_STKS:
		fprintf(out, "    first_id %u count %u\n", st->first_id, st->count);
		for (uint32_t i = 0; i < st->count; i++) {
			size_t n;
			const tsm_frame *f = tsm_reader_stack(r, st->first_id + i, &n);

			fprintf(out, "    stack %u frames %zu\n", st->first_id + i, n);
			for (size_t k = 0; k < n; k++) {
				fprintf(out, "      frame %zu pc 0x%" PRIx64 " function ", k,
					f[k].pc);
				put_sid(out, r, f[k].function);
				fprintf(out, " module ");
				put_sid(out, r, f[k].module);
				fprintf(out, " file ");
				put_sid(out, r, f[k].file);
				fprintf(out, " line %u\n", f[k].line);
			}
		}
		break;
	case SBT_KVLS:
		fprintf(out, "    first_id %u count %u\n", st->first_id, st->count);
		for (uint32_t i = 0; i < st->count; i++) {
			size_t n;
			const tsm_kv *kv = tsm_reader_kvlist(r, st->first_id + i, &n);

			fprintf(out, "    list %u pairs %zu\n", st->first_id + i, n);
			for (size_t k = 0; k < n; k++) {
				fprintf(out, "      ");
				put_kv(out, r, &kv[k]);
				fputc('\n', out);
			}
		}
		break;
	case SBT_DEVS:
		fprintf(out, "    count %u\n", st->count);
		for (uint32_t i = 0; i < st->count; i++) {
			const tsm_device_info *d = &r->devs[st->first_id + i];

			fprintf(out, "    device id %u name ", d->id);
			put_sid(out, r, d->name);
			fprintf(out, " uuid ");
			put_sid(out, r, d->uuid);
			fprintf(out,
				" cc %u.%u sm_count %u core_clock_khz %u mem_clock_khz %u "
				"mem_bus_width_bits %u l2_bytes %u max_threads_per_block %u "
				"max_threads_per_sm %u regs_per_block %u regs_per_sm %u "
				"smem_per_block_bytes %u smem_per_block_optin_bytes %u "
				"smem_per_sm_bytes %u warp_size %u max_blocks_per_sm %u "
				"global_mem_bytes %" PRIu64 "\n",
				d->cc_major, d->cc_minor, d->sm_count, d->core_clock_khz,
				d->mem_clock_khz, d->mem_bus_width_bits, d->l2_bytes,
				d->max_threads_per_block, d->max_threads_per_sm, d->regs_per_block,
				d->regs_per_sm, d->smem_per_block_bytes,
				d->smem_per_block_optin_bytes, d->smem_per_sm_bytes, d->warp_size,
				d->max_blocks_per_sm, d->global_mem_bytes);
		}
		break;
	case SBT_PROC:
		fprintf(out, "    count %u\n", st->count);
		for (uint32_t i = 0; i < st->count; i++) {
			const tsm_process_info *p = &r->procs[st->first_id + i];

			fprintf(out, "    process pid %u rank %d name ", p->pid, p->rank);
			put_sid(out, r, p->name);
			fprintf(out, " cmdline ");
			put_sid(out, r, p->cmdline);
			fprintf(out, " host ");
			put_sid(out, r, p->host);
			fputc('\n', out);
		}
		break;
	case SBT_META:
		fprintf(out, "    count %u\n", st->count);
		for (uint32_t i = 0; i < st->count; i++) {
			fprintf(out, "    ");
			put_kv(out, r, &r->meta[st->first_id + i]);
			fputc('\n', out);
		}
		break;
	}
}

static int dump_block(FILE *out, tsm_reader *r, unsigned flags, uint64_t *nevents)
{
	static const char *const cols[COL__COUNT] = {"tpl",  "flg", "start", "dur",
						     "corr", "ext", "flow",  "vol"};
	const sbt_block *b = r->blk;
	const tsm_event *e;
	uint64_t i = 0;
	int rc;

	fprintf(out,
		"    events %u min_start_ns %" PRIu64 " span_ns %" PRIu64
		" shift_host %u shift_gpu %u templates %u\n",
		b->n, b->min_start, b->span, b->shift[0], b->shift[1], b->ntpl);
	fprintf(out, "    columns");
	for (int c = 0; c < COL__COUNT; c++)
		fprintf(out, " %s %zu", cols[c], b->col_len[c]);
	fputc('\n', out);
	if (flags & TSM_DUMP_COLUMNS)
		for (uint32_t t = 0; t < b->ntpl; t++) {
			fprintf(out, "    template %u", t);
			put_fields(out, r, &b->tpls[t], 0);
			fputc('\n', out);
		}
	while ((rc = tsm__block_next(r, &e)) == 0) {
		if (flags & TSM_DUMP_EVENTS) {
			fprintf(out, "    event %" PRIu64 " start_ns %" PRIu64 " dur_ns %" PRIu64,
				i, e->start_ns, e->end_ns - e->start_ns);
			if (e->correlation)
				fprintf(out, " correlation %" PRIu64, e->correlation);
			if (e->external)
				fprintf(out, " external %" PRIu64, e->external);
			if (e->flow_type)
				fprintf(out, " flow_id %" PRIu64, e->flow_id);
			put_fields(out, r, e, 1);
			fputc('\n', out);
		}
		i++;
	}
	*nevents += i;
	return rc == TSM_END ? 0 : rc;
}

int tsm_sbt_dump(const char *path, FILE *out, unsigned flags)
{
	tsm_reader *r = NULL;
	const tsm_trace_info *info;
	uint64_t nevents = 0, nchunks = 1, nblocks = 0;
	sbt_step st;
	char t[12];
	int rc;

	rc = tsm_reader_open(path, TSM__READ_NOINDEX, &r);
	if (rc < 0)
		return rc;
	info = tsm_reader_info(r);
	fprintf(out, "file %s\n", path);
	fprintf(out,
		"0x%08x header magic 89 53 42 54 0d 0a 1a 0a header_size %u version %u.%u "
		"flags 0x%04x required_features 0x%08x%s optional_features 0x%08x crc 0x%08x\n",
		0, r->header_size, info->major, info->minor, r->header_flags,
		info->required_features,
		info->required_features & TSM_SBT_REQ_ZSTD ? " (zstd)" : "", r->optional_features,
		r->header_crc);
	fprintf(out, "0x%08" PRIx64 " chunk INFO\n", (uint64_t)r->header_size);
	fprintf(out,
		"    clock %u (%s) realtime_offset_ns %" PRId64 " created_realtime_ns %" PRIu64
		" producer ",
		info->clock, tsm_clock_name(info->clock), info->realtime_offset_ns,
		info->created_realtime_ns);
	put_str(out, info->producer);
	fputc('\n', out);

	/* The reader has already stepped to the first block: replay from the first chunk. */
	r->pos = 0;
	if (lseek(r->fd, (off_t)r->first_chunk_off, SEEK_SET) < 0) {
		rc = TSM_FAIL(TSM_IO, "%s: seek", path);
		goto out;
	}
	r->pos = r->first_chunk_off;
	r->in_block = 0;
	r->ended = 0;
	r->defs_upto = r->first_chunk_off;
	/* Definitions are reloaded from scratch so each chunk prints what it defines. */
	r->strings.n = r->stacks.n = r->kvlists.n = 0;
	r->ndevs = r->nprocs = r->nmeta = 0;
	r->info.chunk_count = r->info.block_count = 0;

	while ((rc = tsm__reader_step(r, &st)) == 0) {
		if (st.is_footer) {
			fprintf(out,
				"0x%08" PRIx64 " footer magic 89 53 42 54 45 4e 44 0a index_offset "
				"0x%" PRIx64 " events %" PRIu64 "\n",
				st.off, r->footer_index_off, r->footer_events);
			continue;
		}
		nchunks++;
		fprintf(out, "0x%08" PRIx64 " chunk %s size %u flags 0x%04x", st.off,
			(tsm__fourcc_str(st.type, t), t), st.size, st.flags);
		if (st.flags & SBT_CHUNK_ZSTD)
			fprintf(out, " (zstd, raw %u)", st.raw_size);
		fprintf(out, " crc 0x%08x%s\n", st.crc,
			st.skipped ? " (skipped: unknown type)" : "");
		if (st.type == SBT_EVTB) {
			nblocks++;
			rc = dump_block(out, r, flags, &nevents);
			if (rc < 0)
				goto out;
		} else if (st.type == SBT_INDX) {
			fprintf(out, "    entries %zu\n", r->nindex);
			for (size_t i = 0; i < r->nindex; i++) {
				const sbt_index_entry *e = &r->index[i];

				fprintf(out, "    entry %zu %s offset 0x%" PRIx64, i,
					(tsm__fourcc_str(e->type, t), t), e->off);
				if (e->type == SBT_EVTB)
					fprintf(out,
						" events %u min_start_ns %" PRIu64
						" max_end_ns %" PRIu64,
						e->nevents, e->min_start, e->max_end);
				fputc('\n', out);
			}
		} else {
			dump_defs(out, r, &st);
		}
	}
	if (rc == TSM_END) {
		rc = 0;
		if (info->recovered)
			fprintf(out,
				"end: no footer (writer did not finish); discarded %" PRIu64
				" bytes of a torn tail\n",
				info->discarded_bytes);
		fprintf(out, "total chunks %" PRIu64 " blocks %" PRIu64 " events %" PRIu64 "\n",
			nchunks, nblocks, nevents);
	}
out:
	tsm_reader_close(r);
	return rc;
}
