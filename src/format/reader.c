/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SBT reader.
 *
 * The reader walks chunks in file order (tsm__reader_step): it checks each
 * chunk's CRC, decompresses it if needed, loads definitions into tables
 * whose entries never move (so borrowed strings stay valid), and turns an
 * event block into decoder state. tsm_reader_next decodes one event at a
 * time from the block's columns into a single tsm_event it owns: no
 * allocation per event.
 *
 * Untrusted input: every length is checked against what remains, every
 * id against what is defined, every varint against 64 bits, every
 * timestamp against its block's range; errors carry the file offset of
 * the chunk (and what was wrong inside it).
 *
 * Recovery: a file whose writer died ends without footer, possibly in the
 * middle of a chunk. Unless TSM_READ_STRICT is set, reaching the end of
 * the data inside a chunk header or payload ends iteration normally, with
 * info.recovered set and info.discarded_bytes counting the torn tail. A
 * checksum mismatch is never "recovered": it is corruption, not a tear.
 *
 * Seeking uses the index (from the footer) to jump to the first block
 * overlapping the window, loading only the definition chunks before it.
 * Definition chunks are processed once: `defs_upto` remembers how far
 * they have been loaded, so re-reading after a seek skips them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reader.h"

static const char *const col_names[COL__COUNT] = {"tpl",  "flg", "start", "dur",
						  "corr", "ext", "flow",  "vol"};

/* ---- small helpers ----------------------------------------------------- */

static int deftab_add(tsm_reader *r, deftab *t, const void *data, size_t len)
{
	void *p;

	if (t->n == t->cap) {
		uint32_t cap = t->cap ? t->cap * 2 : 256;
		const void **np = tsm__realloc(t->ptr, cap * sizeof(*np));
		uint32_t *nl;

		if (!np)
			return TSM_FAIL(TSM_NOMEM, "definition table");
		t->ptr = np;
		nl = tsm__realloc(t->len, cap * sizeof(*nl));
		if (!nl)
			return TSM_FAIL(TSM_NOMEM, "definition table");
		t->len = nl;
		t->cap = cap;
	}
	p = tsm__arena_alloc(&r->arena, len + 1);
	if (!p)
		return TSM_FAIL(TSM_NOMEM, "definition of %zu bytes", len);
	if (len)
		memcpy(p, data, len);
	((uint8_t *)p)[len] = 0;
	t->ptr[t->n] = p;
	t->len[t->n] = (uint32_t)len;
	t->n++;
	return 0;
}

static const char *chunk_name(uint32_t type, char buf[12])
{
	tsm__fourcc_str(type, buf);
	return buf;
}

/* Exact read at the current file position; returns bytes read (short at EOF) or <0. */
static int64_t read_full(tsm_reader *r, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = read(r->fd, (uint8_t *)buf + got, n - got);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return TSM_FAIL(TSM_IO, "%s: read: %s", r->name, strerror(errno));
		}
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (int64_t)got;
}

static int seek_to(tsm_reader *r, uint64_t off)
{
	if (lseek(r->fd, (off_t)off, SEEK_SET) < 0)
		return TSM_FAIL(TSM_IO, "%s: seek to %llu: %s", r->name, (unsigned long long)off,
				strerror(errno));
	r->pos = off;
	return 0;
}

/* Skip n bytes forward (lseek when possible, else read and discard). Returns bytes skipped. */
static int64_t skip_bytes(tsm_reader *r, uint64_t n)
{
	uint8_t tmp[65536];
	uint64_t done = 0;

	if (r->seekable) {
		uint64_t avail = r->file_size > r->pos ? r->file_size - r->pos : 0;
		uint64_t k = n < avail ? n : avail;
		int rc = seek_to(r, r->pos + k);

		r->pos -= k; /* caller advances pos */
		return rc < 0 ? rc : (int64_t)k;
	}
	while (done < n) {
		size_t want = n - done < sizeof(tmp) ? (size_t)(n - done) : sizeof(tmp);
		int64_t k = read_full(r, tmp, want);

		if (k < 0)
			return k;
		done += (uint64_t)k;
		if ((size_t)k < want)
			break;
	}
	return (int64_t)done;
}

/* End of data inside a chunk: recover (torn tail) or fail in strict mode. */
static int torn_tail(tsm_reader *r, uint64_t off, uint64_t have, const char *what)
{
	if (r->flags & TSM_READ_STRICT)
		return TSM_FAIL_AT(TSM_TRUNCATED, off, "%s: file ends inside %s (%llu bytes there)",
				   r->name, what, (unsigned long long)have);
	r->info.recovered = 1;
	r->info.discarded_bytes = have;
	r->ended = 1;
	return TSM_END;
}

/* ---- definitions ------------------------------------------------------- */

static int corrupt(tsm_reader *r, uint64_t off, uint32_t type, const cursor *c, const char *what)
{
	char t[12];
	int st = c && c->err == TSM_OVERFLOW ? TSM_OVERFLOW : TSM_CORRUPT;

	return TSM_FAIL_AT(st, off, "%s: chunk %s: %s%s", r->name, chunk_name(type, t), what,
			   c && c->err == TSM_OVERFLOW ? " (varint longer than 64 bits)" : "");
}

static int undefined(tsm_reader *r, uint64_t off, uint32_t type, const char *what, uint64_t id)
{
	char t[12];

	return TSM_FAIL_AT(TSM_UNDEFINED, off, "%s: chunk %s: %s %llu undefined", r->name,
			   chunk_name(type, t), what, (unsigned long long)id);
}

#define CHECK_SID(id, what)                                         \
	do {                                                        \
		if ((id) > r->strings.n)                            \
			return undefined(r, off, type, what, (id)); \
	} while (0)

static int read_kv(tsm_reader *r, cursor *c, tsm_kv *kv, uint64_t off, uint32_t type)
{
	uint64_t key = cur_varint(c);
	const uint8_t *d;

	memset(kv, 0, sizeof(*kv));
	CHECK_SID(key, "metadata key string");
	kv->key = (uint32_t)key;
	kv->type = cur_u8(c);
	switch (kv->type) {
	case TSM_KV_INT:
		kv->v.i = unzigzag(cur_varint(c));
		break;
	case TSM_KV_DOUBLE:
		d = cur_bytes(c, 8);
		if (d) {
			uint64_t x = tsm__get_le64(d);

			memcpy(&kv->v.d, &x, 8);
		}
		break;
	case TSM_KV_STR:
		kv->v.str = cur_varint(c);
		CHECK_SID(kv->v.str, "metadata value string");
		break;
	default:
		if (!c->err)
			return corrupt(r, off, type, NULL, "metadata value of unknown type");
	}
	if (c->err)
		return corrupt(r, off, type, c, "metadata entry runs past the chunk");
	return 0;
}

/* Room for one more record in a definition table: *arr (n of *cap in use), or NULL (failed). */
static void *grow(void *arr, size_t n, size_t *cap, size_t elem)
{
	void *p = n < *cap ? arr : tsm__grow(arr, cap, 8, elem);

	if (!p)
		TSM_FAIL(TSM_NOMEM, "definition table");
	return p;
}

/*
 * A device or process record: a field count, then that many varints, of
 * which the first `want` are known (later format versions may add fields;
 * they are skipped).
 */
static int read_fields(tsm_reader *r, cursor *c, uint64_t *f, unsigned want, size_t len,
		       uint64_t off, uint32_t type, const char *what)
{
	uint64_t nf = cur_varint(c);
	char msg[64];

	if (c->err || nf < want || nf > len) {
		snprintf(msg, sizeof(msg), "%s has too few fields", what);
		return corrupt(r, off, type, c, msg);
	}
	for (uint64_t k = 0; k < nf; k++) {
		uint64_t v = cur_varint(c);

		if (k < want)
			f[k] = v;
	}
	if (c->err) {
		snprintf(msg, sizeof(msg), "%s runs past the chunk", what);
		return corrupt(r, off, type, c, msg);
	}
	return 0;
}

static int load_defs(tsm_reader *r, uint32_t type, const uint8_t *p, size_t len, uint64_t off,
		     sbt_step *st)
{
	cursor c;
	uint64_t first, count;
	deftab *t;
	int rc;

	cursor_init(&c, p, len);
	switch (type) {
	case SBT_STRS:
	case SBT_STKS:
	case SBT_KVLS:
		t = type == SBT_STRS ? &r->strings : type == SBT_STKS ? &r->stacks : &r->kvlists;
		first = cur_varint(&c);
		count = cur_varint(&c);
		if (c.err)
			return corrupt(r, off, type, &c, "bad definition header");
		if (first != (uint64_t)t->n + 1)
			return corrupt(r, off, type, NULL,
				       "definitions out of order (first id is not "
				       "the next id)");
		if (count > len)
			return corrupt(r, off, type, NULL, "definition count exceeds the chunk");
		st->first_id = (uint32_t)first;
		st->count = (uint32_t)count;
		for (uint64_t i = 0; i < count; i++) {
			if (type == SBT_STRS) {
				uint64_t n = cur_varint(&c);
				const uint8_t *s =
				    c.err || n > len ? NULL : cur_bytes(&c, (size_t)n);

				if (!s)
					return corrupt(r, off, type, &c,
						       "string runs past the chunk");
				rc = deftab_add(r, t, s, (size_t)n);
			} else if (type == SBT_STKS) {
				uint64_t n = cur_varint(&c), pc = 0;
				tsm_frame *f;

				if (c.err || n > len)
					return corrupt(r, off, type, &c,
						       "stack runs past the chunk");
				f = tsm__calloc(n ? n : 1, sizeof(*f));
				if (!f)
					return TSM_FAIL(TSM_NOMEM, "stack of %llu frames",
							(unsigned long long)n);
				for (uint64_t k = 0; k < n && !c.err; k++) {
					uint64_t fn, mod, file, line;

					pc += (uint64_t)unzigzag(cur_varint(&c));
					fn = cur_varint(&c);
					mod = cur_varint(&c);
					file = cur_varint(&c);
					line = cur_varint(&c);
					if (fn > r->strings.n || mod > r->strings.n ||
					    file > r->strings.n) {
						tsm__free(f);
						return undefined(r, off, type, "stack frame string",
								 fn > r->strings.n    ? fn
								 : mod > r->strings.n ? mod
										      : file);
					}
					f[k] = (tsm_frame){pc, (uint32_t)fn, (uint32_t)mod,
							   (uint32_t)file, (uint32_t)line};
				}
				if (c.err) {
					tsm__free(f);
					return corrupt(r, off, type, &c,
						       "stack runs past the chunk");
				}
				rc = deftab_add(r, t, f, (size_t)n * sizeof(*f));
				tsm__free(f);
			} else {
				uint64_t n = cur_varint(&c);
				tsm_kv *kv;

				if (c.err || n > len)
					return corrupt(r, off, type, &c,
						       "list runs past the chunk");
				kv = tsm__calloc(n ? n : 1, sizeof(*kv));
				if (!kv)
					return TSM_FAIL(TSM_NOMEM, "metadata list");
				for (uint64_t k = 0; k < n; k++) {
					rc = read_kv(r, &c, &kv[k], off, type);
					if (rc < 0) {
						tsm__free(kv);
						return rc;
					}
				}
				rc = deftab_add(r, t, kv, (size_t)n * sizeof(*kv));
				tsm__free(kv);
			}
			if (rc < 0)
				return rc;
		}
		break;
	case SBT_DEVS:
		count = cur_varint(&c);
		if (c.err || count > len)
			return corrupt(r, off, type, &c, "bad device count");
		st->first_id = (uint32_t)r->ndevs;
		st->count = (uint32_t)count;
		for (uint64_t i = 0; i < count; i++) {
			uint64_t f[20];
			tsm_device_info *d;

			rc = read_fields(r, &c, f, 20, len, off, type, "device record");
			if (rc < 0)
				return rc;
			CHECK_SID(f[1], "device name string");
			CHECK_SID(f[2], "device uuid string");
			d = grow(r->devs, r->ndevs, &r->devs_cap, sizeof(*d));
			if (!d)
				return TSM_NOMEM;
			r->devs = d;
			d = &r->devs[r->ndevs++];
			*d = (tsm_device_info){
			    .id = (uint32_t)f[0],
			    .name = (uint32_t)f[1],
			    .uuid = (uint32_t)f[2],
			    .cc_major = (uint16_t)f[3],
			    .cc_minor = (uint16_t)f[4],
			    .sm_count = (uint32_t)f[5],
			    .core_clock_khz = (uint32_t)f[6],
			    .mem_clock_khz = (uint32_t)f[7],
			    .mem_bus_width_bits = (uint32_t)f[8],
			    .l2_bytes = (uint32_t)f[9],
			    .max_threads_per_block = (uint32_t)f[10],
			    .max_threads_per_sm = (uint32_t)f[11],
			    .regs_per_block = (uint32_t)f[12],
			    .regs_per_sm = (uint32_t)f[13],
			    .smem_per_block_bytes = (uint32_t)f[14],
			    .smem_per_block_optin_bytes = (uint32_t)f[15],
			    .smem_per_sm_bytes = (uint32_t)f[16],
			    .warp_size = (uint32_t)f[17],
			    .max_blocks_per_sm = (uint32_t)f[18],
			    .global_mem_bytes = f[19],
			};
		}
		break;
	case SBT_PROC:
		count = cur_varint(&c);
		if (c.err || count > len)
			return corrupt(r, off, type, &c, "bad process count");
		st->first_id = (uint32_t)r->nprocs;
		st->count = (uint32_t)count;
		for (uint64_t i = 0; i < count; i++) {
			uint64_t f[5];

			rc = read_fields(r, &c, f, 5, len, off, type, "process record");
			if (rc < 0)
				return rc;
			CHECK_SID(f[2], "process name string");
			CHECK_SID(f[3], "process command line string");
			CHECK_SID(f[4], "process host string");
			tsm_process_info *pr =
			    grow(r->procs, r->nprocs, &r->procs_cap, sizeof(*pr));

			if (!pr)
				return TSM_NOMEM;
			r->procs = pr;
			r->procs[r->nprocs++] = (tsm_process_info){
			    .pid = (uint32_t)f[0],
			    .rank = (int32_t)unzigzag(f[1]),
			    .name = (uint32_t)f[2],
			    .cmdline = (uint32_t)f[3],
			    .host = (uint32_t)f[4],
			};
		}
		break;
	case SBT_META:
		count = cur_varint(&c);
		if (c.err || count > len)
			return corrupt(r, off, type, &c, "bad metadata count");
		st->first_id = (uint32_t)r->nmeta;
		st->count = (uint32_t)count;
		for (uint64_t i = 0; i < count; i++) {
			tsm_kv *kv = grow(r->meta, r->nmeta, &r->meta_cap, sizeof(*kv));

			if (!kv)
				return TSM_NOMEM;
			r->meta = kv;
			rc = read_kv(r, &c, &r->meta[r->nmeta], off, type);
			if (rc < 0)
				return rc;
			r->nmeta++;
		}
		break;
	default:
		return 0;
	}
	if (c.p != c.end)
		return corrupt(r, off, type, NULL, "trailing bytes after the definitions");
	return 0;
}

/* ---- event blocks ------------------------------------------------------ */

static int block_fail(tsm_reader *r, const char *fmt, const char *what, int col, int st)
{
	return TSM_FAIL_AT(st, r->blk->chunk_off, "%s: chunk EVTB: %s%s%s", r->name, fmt,
			   col >= 0 ? " in column " : "", col >= 0 ? col_names[col] : "");
}

/* Lane of a GPU template (same (device, stream) -> same lane), as the writer numbers them. */
static uint32_t find_lane(sbt_block *b, const tsm_event *t)
{
	uint64_t key = sbt_lane_key(t);
	uint32_t mask = b->nlane_slots - 1, i;

	for (i = (uint32_t)tsm__mix64(key) & mask; b->lane_slots[i]; i = (i + 1) & mask)
		if (b->lane_key[b->lane_slots[i] - 1] == key)
			return b->lane_slots[i] - 1;
	b->lane_key[b->nlanes] = key;
	b->lane_end[b->nlanes] = b->min_start;
	b->lane_slots[i] = ++b->nlanes;
	return b->nlanes - 1;
}

/* A block's per-template and per-lane tables (sized for its template count). */
static void block_tables_free(sbt_block *b)
{
	tsm__free(b->tpls);
	tsm__free(b->prev_dur);
	tsm__free(b->tpl_lane);
	tsm__free(b->lane_key);
	tsm__free(b->lane_end);
	tsm__free(b->lane_slots);
}

static int begin_block(tsm_reader *r, const uint8_t *p, size_t len, uint64_t off)
{
	sbt_block *b = r->blk;
	uint64_t n, ntpl, total = 0;
	cursor c;
	uint32_t type = SBT_EVTB;

	b->chunk_off = off;
	cursor_init(&c, p, len);
	n = cur_varint(&c);
	b->min_start = cur_varint(&c);
	b->span = cur_varint(&c);
	b->shift[0] = cur_u8(&c);
	b->shift[1] = cur_u8(&c);
	ntpl = cur_varint(&c);
	if (c.err)
		return corrupt(r, off, type, &c, "block header runs past the chunk");
	if (n == 0 || n > SBT_MAX_BLOCK_EVENTS)
		return TSM_FAIL_AT(TSM_TOO_LARGE, off,
				   "%s: chunk EVTB: %llu events in a block "
				   "(1..%u)",
				   r->name, (unsigned long long)n, SBT_MAX_BLOCK_EVENTS);
	if (ntpl == 0 || ntpl > n)
		return corrupt(r, off, type, NULL, "template count not in 1..events");
	if (b->shift[0] > 62 || b->shift[1] > 62)
		return corrupt(r, off, type, NULL, "time shift over 62");
	if (b->span > UINT64_MAX - b->min_start)
		return corrupt(r, off, type, NULL, "block time range overflows");
	b->max_end = b->min_start + b->span;
	if (ntpl > b->tpl_cap) {
		uint32_t cap = b->tpl_cap ? b->tpl_cap : 64;

		while (cap < ntpl)
			cap *= 2;
		block_tables_free(b);
		b->tpls = tsm__malloc(cap * sizeof(*b->tpls));
		b->prev_dur = tsm__malloc(cap * sizeof(*b->prev_dur));
		b->tpl_lane = tsm__malloc(cap * sizeof(*b->tpl_lane));
		b->lane_key = tsm__malloc(cap * sizeof(*b->lane_key));
		b->lane_end = tsm__malloc(cap * sizeof(*b->lane_end));
		b->lane_slots = tsm__malloc(2 * cap * sizeof(*b->lane_slots));
		b->nlane_slots = 2 * cap;
		b->tpl_cap = b->tpls && b->prev_dur && b->tpl_lane && b->lane_key && b->lane_end &&
				     b->lane_slots
				 ? cap
				 : 0;
		if (!b->tpl_cap)
			return TSM_FAIL(TSM_NOMEM, "%llu templates", (unsigned long long)ntpl);
	}
	b->ntpl = (uint32_t)ntpl;
	b->nlanes = 0;
	memset(b->lane_slots, 0, b->nlane_slots * sizeof(*b->lane_slots));
	for (uint32_t i = 0; i < b->ntpl; i++) {
		tsm_event *t = &b->tpls[i];
		unsigned kind = cur_u8(&c);
		uint64_t mask = cur_varint(&c), v;
		const kind_spec *ks;

		memset(t, 0, sizeof(*t));
		t->device = TSM_DEVICE_NONE;
		b->prev_dur[i] = 0;
		if (c.err)
			return corrupt(r, off, type, &c, "template runs past the chunk");
		if (kind == TSM_EV_NONE || kind >= TSM_EV__COUNT)
			return corrupt(r, off, type, NULL, "template of unknown event kind");
		if (mask & ~(uint64_t)TPL__ALL)
			return corrupt(r, off, type, NULL, "template field mask has unknown bits");
		t->kind = (uint8_t)kind;
#define GET(bit, field, max)                                                      \
	if (mask & (bit)) {                                                       \
		v = cur_varint(&c);                                               \
		if (v > (max))                                                    \
			return corrupt(r, off, type, &c,                          \
				       "template field " #field " out of range"); \
		t->field = v;                                                     \
	}
		GET(TPL_FLAGS, flags, 0xff);
		GET(TPL_DEVICE, device, 0xfffe);
		GET(TPL_CONTEXT, context, 0xffffffffu);
		GET(TPL_STREAM, stream, 0xffffffffu);
		GET(TPL_PID, pid, 0xffffffffu);
		GET(TPL_TID, tid, UINT64_MAX);
		GET(TPL_NAME, name, 0xffffffffu);
		GET(TPL_STACK, stack, 0xffffffffu);
		GET(TPL_META, meta, 0xffffffffu);
		GET(TPL_FLOW, flow_type, TSM_FLOW_STEP);
#undef GET
		if (t->name > r->strings.n)
			return undefined(r, off, type, "event name string", t->name);
		if (t->stack > r->stacks.n)
			return undefined(r, off, type, "stack", t->stack);
		if (t->meta > r->kvlists.n)
			return undefined(r, off, type, "metadata list", t->meta);
		ks = &tsm__kind_specs[kind];
		for (unsigned k = 0; k < ks->nstatic; k++) {
			const field_spec *f = &ks->statics[k];

			v = cur_varint(&c);
			if (f->coding == F_SINT)
				v = (uint64_t)unzigzag(v);
			if (f->coding == F_STRID && v > r->strings.n)
				return undefined(r, off, type, f->name, v);
			if (field_set(t, f, v) < 0)
				return corrupt(r, off, type, NULL,
					       "template payload field out of range");
		}
		if (c.err)
			return corrupt(r, off, type, &c, "template runs past the chunk");
		b->tpl_lane[i] = t->device != TSM_DEVICE_NONE ? find_lane(b, t) : 0;
	}
	for (int i = 0; i < COL__COUNT; i++) {
		b->col_len[i] = (size_t)cur_varint(&c);
		if (b->col_len[i] > len)
			return corrupt(r, off, type, NULL, "column length exceeds the chunk");
		total += b->col_len[i];
	}
	if (c.err)
		return corrupt(r, off, type, &c, "column lengths run past the chunk");
	if (total != (uint64_t)(c.end - c.p))
		return corrupt(r, off, type, NULL, "column lengths do not add up to the chunk");
	for (int i = 0; i < COL__COUNT; i++) {
		cursor_init(&b->col[i], c.p, b->col_len[i]);
		c.p += b->col_len[i];
	}
	b->n = (uint32_t)n;
	b->i = 0;
	b->bn = b->bi = 0;
	b->prev_start = b->min_start;
	b->prev_corr[0] = b->prev_corr[1] = 0;
	b->prev_ext[0] = b->prev_ext[1] = 0;
	b->prev_flow = b->prev_vol = 0;
	r->in_block = 1;
	return 0;
}

static inline uint64_t id_decode(cursor *c, unsigned mode, uint64_t *prev)
{
	uint64_t v;

	switch (mode) {
	case MODE_ZERO:
		return 0;
	case MODE_NEXT:
		v = *prev + 1;
		break;
	case MODE_SAME:
		v = *prev;
		break;
	default:
		v = *prev + (uint64_t)unzigzag(cur_varint(c));
	}
	if (v)
		*prev = v;
	return v;
}

static int column_error(tsm_reader *r)
{
	sbt_block *b = r->blk;

	for (int i = 0; i < COL__COUNT; i++)
		if (b->col[i].err)
			return block_fail(
			    r,
			    b->col[i].err == TSM_OVERFLOW
				? "varint longer than 64 bits"
				: "column ends before the block's last event",
			    NULL, i, b->col[i].err == TSM_OVERFLOW ? TSM_OVERFLOW : TSM_CORRUPT);
	return 0;
}

/*
 * Decode the next batch of events, column by column: each loop below runs
 * over up to SBT_BATCH events with its decoder state in registers. The
 * order of the loops follows the data dependencies of docs/format/sbt.md
 * §6.3 (times need the template; ids need the flags).
 */
/* Decode the block's next batch of events into ev (SBT_BATCH slots); b->bn says how many. */
static int decode_batch(tsm_reader *r, tsm_event *ev)
{
	sbt_block *b = r->blk;
	uint32_t m = b->n - b->i < SBT_BATCH ? b->n - b->i : SBT_BATCH, j;
	cursor *c;
	int rc;

	c = &b->col[COL_TPL];
	for (j = 0; j < m; j++) {
		uint64_t ti = cur_varint(c);

		if (TSM__UNLIKELY(ti >= b->ntpl)) {
			rc = column_error(r);
			return rc ? rc
				  : block_fail(r, "template index out of range", NULL, COL_TPL,
					       TSM_CORRUPT);
		}
		b->btpl[j] = (uint32_t)ti;
		memcpy(&ev[j], &b->tpls[ti], sizeof(*ev));
	}

	c = &b->col[COL_FLG];
	if (TSM__UNLIKELY((size_t)(c->end - c->p) < m))
		return block_fail(r, "column ends before the block's last event", NULL, COL_FLG,
				  TSM_CORRUPT);
	for (j = 0; j < m; j++)
		if (TSM__UNLIKELY(c->p[j] & 0xf0))
			return block_fail(r, "reserved flag bits set", NULL, COL_FLG, TSM_CORRUPT);

	{
		cursor *cs = &b->col[COL_START], *cd = &b->col[COL_DUR];
		uint64_t prev_start = b->prev_start, max_end = b->max_end, min_start = b->min_start;

		for (j = 0; j < m; j++) {
			tsm_event *e = &ev[j];
			uint32_t ti = b->btpl[j];
			unsigned sh;
			uint64_t v = cur_varint(cs), start, dur;

			if (e->device != TSM_DEVICE_NONE) {
				uint64_t *lane_end = &b->lane_end[b->tpl_lane[ti]];

				sh = b->shift[CLASS_GPU];
				start = *lane_end + ((uint64_t)unzigzag(v) << sh);
				if (TSM__UNLIKELY(start - min_start > max_end - min_start))
					goto bad_start;
				dur = (uint64_t)b->prev_dur[ti] +
				      ((uint64_t)unzigzag(cur_varint(cd)) << sh);
				if (TSM__UNLIKELY(dur > max_end - start))
					goto bad_end;
				*lane_end = start + dur;
			} else {
				sh = b->shift[CLASS_HOST];
				if (TSM__UNLIKELY(v > (max_end - prev_start) >> sh))
					goto bad_start;
				start = prev_start + (v << sh);
				prev_start = start;
				dur = (uint64_t)b->prev_dur[ti] +
				      ((uint64_t)unzigzag(cur_varint(cd)) << sh);
				if (TSM__UNLIKELY(dur > max_end - start))
					goto bad_end;
			}
			b->prev_dur[ti] = (int64_t)dur;
			e->start_ns = start;
			e->end_ns = start + dur;
		}
		b->prev_start = prev_start;
	}

	{
		cursor *cc = &b->col[COL_CORR], *ce = &b->col[COL_EXT];
		const uint8_t *flg = b->col[COL_FLG].p;

		for (j = 0; j < m; j++) {
			tsm_event *e = &ev[j];
			int cls = e->device != TSM_DEVICE_NONE;

			e->correlation = id_decode(cc, flg[j] & 3, &b->prev_corr[cls]);
			e->external = id_decode(ce, (flg[j] >> 2) & 3, &b->prev_ext[cls]);
		}
		b->col[COL_FLG].p += m;
	}

	for (j = 0; j < m; j++) {
		tsm_event *e = &ev[j];
		const kind_spec *ks;

		if (e->flow_type) {
			b->prev_flow += (uint64_t)unzigzag(cur_varint(&b->col[COL_FLOW]));
			e->flow_id = b->prev_flow;
		}
		ks = &tsm__kind_specs[e->kind];
		if (ks->has_vol) {
			uint64_t v;
			const uint8_t *d;

			switch (ks->vol.coding) {
			case F_DELTA:
				b->prev_vol += (uint64_t)unzigzag(cur_varint(&b->col[COL_VOL]));
				v = b->prev_vol;
				break;
			case F_DOUBLE:
				d = cur_bytes(&b->col[COL_VOL], 8);
				v = d ? tsm__get_le64(d) : 0;
				break;
			default:
				v = cur_varint(&b->col[COL_VOL]);
			}
			field_set(e, &ks->vol, v);
		}
	}
	rc = column_error(r);
	if (rc)
		return rc;
	b->i += m;
	b->bn = m;
	b->bi = 0;
	return 0;
bad_start:
	rc = column_error(r);
	return rc ? rc
		  : block_fail(r, "start time outside the block's range", NULL, COL_START,
			       TSM_CORRUPT);
bad_end:
	rc = column_error(r);
	return rc ? rc
		  : block_fail(r, "end time outside the block's range", NULL, COL_DUR, TSM_CORRUPT);
}

/* The block is decoded: every column must be used up. */
static int block_end(tsm_reader *r)
{
	sbt_block *b = r->blk;

	for (int i = 0; i < COL__COUNT; i++)
		if (b->col[i].p != b->col[i].end)
			return block_fail(r, "trailing bytes", NULL, i, TSM_CORRUPT);
	r->in_block = 0;
	return TSM_END;
}

int tsm__block_next(tsm_reader *r, const tsm_event **out)
{
	sbt_block *b = r->blk;
	int rc;

	if (TSM__LIKELY(b->bi < b->bn)) {
		*out = &b->batch[b->bi++];
		return 0;
	}
	if (b->i == b->n)
		return block_end(r);
	rc = decode_batch(r, b->batch);
	if (rc < 0) {
		r->in_block = 0;
		return rc;
	}
	*out = &b->batch[b->bi++];
	return 0;
}

int tsm__block_decode(tsm_reader *r, tsm_event *dst, uint32_t *n)
{
	sbt_block *b = r->blk;
	int rc;

	*n = 0;
	if (b->bi < b->bn) /* events tsm__block_next decoded but has not returned */
		return TSM_FAIL(TSM_STATE, "%s: block decoding mixed with event reading", r->name);
	if (b->i == b->n)
		return block_end(r);
	rc = decode_batch(r, dst);
	if (rc < 0) {
		r->in_block = 0;
		return rc;
	}
	*n = b->bn;
	b->bn = b->bi = 0;
	return 0;
}

/* ---- chunk stepping ---------------------------------------------------- */

static int parse_index(tsm_reader *r, const uint8_t *p, size_t len, uint64_t idx_off);

static const sbt_index_entry *index_find(const tsm_reader *r, uint64_t off)
{
	size_t lo = 0, hi = r->nindex;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (r->index[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < r->nindex && r->index[lo].off == off ? &r->index[lo] : NULL;
}

static int range_overlaps(const tsm_reader *r, uint64_t min_start, uint64_t max_end)
{
	return max_end >= r->from_ns && min_start <= r->to_ns;
}

static int is_def(uint32_t type)
{
	return type == SBT_STRS || type == SBT_STKS || type == SBT_KVLS || type == SBT_DEVS ||
	       type == SBT_PROC || type == SBT_META;
}

/* Read (and check) the payload of the chunk at hand into r->payload. */
static int read_payload(tsm_reader *r, sbt_step *st, const uint8_t *hdr)
{
	int64_t got;
	uint32_t crc;
	char t[12];
	int rc;

	tsm__buf_reset(&r->cbuf);
	rc = tsm__buf_reserve(&r->cbuf, st->size);
	if (rc < 0)
		return rc;
	got = read_full(r, r->cbuf.data, st->size);
	if (got < 0)
		return (int)got;
	if ((uint64_t)got < st->size)
		return torn_tail(r, st->off, SBT_CHUNK_HEADER + (uint64_t)got, "a chunk payload");
	r->pos += st->size;
	crc = tsm__crc32c(0, hdr, 12);
	crc = tsm__crc32c(crc, r->cbuf.data, st->size);
	if (crc != st->crc)
		return TSM_FAIL_AT(
		    TSM_CHECKSUM, st->off,
		    "%s: chunk %s of %u bytes: CRC-32C is 0x%08x, header says 0x%08x", r->name,
		    chunk_name(st->type, t), st->size, crc, st->crc);
	r->payload = r->cbuf.data;
	r->payload_len = st->size;
	st->raw_size = st->size;
	if (st->flags & SBT_CHUNK_ZSTD) {
		cursor c;
		uint64_t raw;

		cursor_init(&c, r->cbuf.data, st->size);
		raw = cur_varint(&c);
		if (c.err)
			return corrupt(r, st->off, st->type, &c, "bad uncompressed size");
		if (raw > SBT_MAX_CHUNK)
			return TSM_FAIL_AT(TSM_TOO_LARGE, st->off,
					   "%s: chunk %s: uncompressed size %llu over %u", r->name,
					   chunk_name(st->type, t), (unsigned long long)raw,
					   SBT_MAX_CHUNK);
		tsm__buf_reset(&r->rbuf);
		rc = tsm__zstd_decompress(&r->zdctx, c.p, (size_t)(c.end - c.p), (size_t)raw,
					  &r->rbuf);
		if (rc < 0) {
			tsm__error_prefix("%s: chunk %s", r->name, chunk_name(st->type, t));
			return tsm__error_at(rc, st->off); /* the detail, prefixed, stays */
		}
		r->payload = r->rbuf.data;
		r->payload_len = (size_t)raw;
		st->raw_size = (uint32_t)raw;
	}
	return 0;
}

static int read_footer_bytes(tsm_reader *r, const uint8_t *f, uint64_t off)
{
	if (tsm__get_le32(f + 28) != tsm__crc32c(0, f, 28))
		return TSM_FAIL_AT(TSM_CHECKSUM, off, "%s: footer CRC-32C mismatch", r->name);
	r->footer_index_off = tsm__get_le64(f + 8);
	r->footer_events = tsm__get_le64(f + 16);
	return 0;
}

/*
 * A chunk whose payload can be skipped unread: definitions already loaded, INFO (read at open),
 * the index when it was loaded from the footer, and blocks the index places outside the seek
 * window.
 */
static int skip_payload(const tsm_reader *r, const sbt_step *st)
{
	const sbt_index_entry *e;

	if (is_def(st->type))
		return st->off < r->defs_upto;
	if (st->type == SBT_INFO)
		return 1;
	if (st->type == SBT_INDX)
		return r->index != NULL;
	if (st->type != SBT_EVTB)
		return 0;
	if (r->part_n && (r->evtb_seen - 1) % r->part_n != r->part_k)
		return 1; /* another reader's part */
	if (!r->filtering || !r->index || !r->seekable)
		return 0;
	e = index_find(r, st->off);
	return !e || !range_overlaps(r, e->min_start, e->max_end);
}

int tsm__reader_step(tsm_reader *r, sbt_step *st)
{
	uint8_t hdr[SBT_FOOTER_SIZE];
	int64_t got;
	char t[12];
	int rc;

	memset(st, 0, sizeof(*st));
	if (r->ended)
		return TSM_END;
	st->off = r->pos;
	if (r->pos >= r->data_end) {
		r->ended = 1;
		return TSM_END;
	}
	got = read_full(r, hdr, SBT_CHUNK_HEADER);
	if (got < 0)
		return (int)got;
	if (got == 0) {
		/* Clean end between chunks, but no footer: the writer never closed. */
		if (r->flags & TSM_READ_STRICT)
			return TSM_FAIL_AT(TSM_TRUNCATED, r->pos,
					   "%s: no footer: the writer did not finish the file",
					   r->name);
		r->info.recovered = 1;
		r->ended = 1;
		return TSM_END;
	}
	if (got >= 8 && !memcmp(hdr, SBT_FOOTER_MAGIC, 8)) {
		/* Reading sequentially (a pipe, or a file whose index we skipped). */
		got += read_full(r, hdr + SBT_CHUNK_HEADER, SBT_FOOTER_SIZE - SBT_CHUNK_HEADER);
		if (got < (int64_t)SBT_FOOTER_SIZE)
			return torn_tail(r, st->off, (uint64_t)got, "the footer");
		rc = read_footer_bytes(r, hdr, st->off);
		if (rc < 0)
			return rc;
		r->pos += SBT_FOOTER_SIZE;
		st->is_footer = 1;
		r->info.indexed_events = r->footer_events;
		r->ended = 1;
		return 0;
	}
	if (got < (int64_t)SBT_CHUNK_HEADER)
		return torn_tail(r, st->off, (uint64_t)got, "a chunk header");
	r->pos += SBT_CHUNK_HEADER;
	st->type = tsm__get_le32(hdr);
	st->size = tsm__get_le32(hdr + 4);
	st->flags = tsm__get_le16(hdr + 8);
	st->crc = tsm__get_le32(hdr + 12);
	r->info.chunk_count++;
	if (st->size > SBT_MAX_CHUNK)
		return TSM_FAIL_AT(TSM_TOO_LARGE, st->off, "%s: chunk %s claims %u bytes (max %u)",
				   r->name, chunk_name(st->type, t), st->size, SBT_MAX_CHUNK);
	if ((st->flags & ~SBT_CHUNK_ZSTD) || tsm__get_le16(hdr + 10))
		return TSM_FAIL_AT(TSM_CORRUPT, st->off, "%s: chunk %s has unknown flag bits 0x%x",
				   r->name, chunk_name(st->type, t),
				   (st->flags & ~SBT_CHUNK_ZSTD) | tsm__get_le16(hdr + 10));
	if (r->seekable && st->off + SBT_CHUNK_HEADER + st->size > r->file_size) {
		r->pos = st->off;
		return torn_tail(r, st->off, r->file_size - st->off, "a chunk payload");
	}

	/* Decide whether the payload is needed. */
	if (st->type == SBT_EVTB)
		r->evtb_seen++;
	if (skip_payload(r, st)) {
		got = skip_bytes(r, st->size);
		if (got < 0)
			return (int)got;
		if ((uint64_t)got < st->size)
			return torn_tail(r, st->off, SBT_CHUNK_HEADER + (uint64_t)got,
					 "a chunk payload");
		r->pos += st->size;
		st->skipped = 1;
		return 0;
	}
	rc = read_payload(r, st, hdr);
	if (rc)
		return rc;
	if (is_def(st->type)) {
		rc = load_defs(r, st->type, r->payload, r->payload_len, st->off, st);
		if (rc < 0)
			return rc;
		r->defs_upto = r->pos;
		return 0;
	}
	if (st->type == SBT_EVTB) {
		r->info.block_count++;
		r->blk_seq = r->evtb_seen - 1;
		rc = begin_block(r, r->payload, r->payload_len, st->off);
		if (rc < 0)
			return rc;
		if (r->filtering && !range_overlaps(r, r->blk->min_start, r->blk->max_end)) {
			r->in_block = 0;
			st->skipped = 1;
		}
		return 0;
	}
	if (st->type == SBT_INDX)
		return parse_index(r, r->payload, r->payload_len, st->off);
	st->skipped = 1; /* unknown chunk types are skipped */
	return 0;
}

/* ---- open -------------------------------------------------------------- */

static int read_header(tsm_reader *r)
{
	uint8_t h[SBT_HEADER_SIZE];
	int64_t got = read_full(r, h, sizeof(h));
	uint16_t major;
	uint32_t req;

	if (got < 0)
		return (int)got;
	if (got == 0)
		return TSM_FAIL_AT(TSM_EMPTY, 0, "%s: empty file", r->name);
	if (memcmp(h, SBT_MAGIC, got < 8 ? (size_t)got : 8))
		return TSM_FAIL_AT(TSM_BAD_MAGIC, 0, "%s: no SBT magic at the start", r->name);
	if (got < 12)
		return TSM_FAIL_AT(TSM_TRUNCATED, got,
				   "%s: file ends inside the header (%lld of %u "
				   "bytes)",
				   r->name, (long long)got, SBT_HEADER_SIZE);
	major = tsm__get_le16(h + 10);
	r->info.major = major;
	r->info.minor = tsm__get_le16(h + 12);
	if (major != TSM_SBT_MAJOR)
		return TSM_FAIL_AT(TSM_VERSION, 10,
				   "%s: format version %u.%u; this reader supports %u.x", r->name,
				   major, r->info.minor, TSM_SBT_MAJOR);
	if (got < (int64_t)SBT_HEADER_SIZE)
		return TSM_FAIL_AT(TSM_TRUNCATED, got,
				   "%s: file ends inside the header (%lld of %u "
				   "bytes)",
				   r->name, (long long)got, SBT_HEADER_SIZE);
	r->header_size = tsm__get_le16(h + 8);
	r->header_flags = tsm__get_le16(h + 14);
	r->header_crc = tsm__get_le32(h + 28);
	if (r->header_crc != tsm__crc32c(0, h, 28))
		return TSM_FAIL_AT(TSM_CHECKSUM, 28, "%s: header CRC-32C mismatch", r->name);
	if (r->header_size < SBT_HEADER_SIZE || r->header_size > SBT_HEADER_MAX)
		return TSM_FAIL_AT(TSM_CORRUPT, 8, "%s: header size %u (%u..%u)", r->name,
				   r->header_size, SBT_HEADER_SIZE, SBT_HEADER_MAX);
	req = tsm__get_le32(h + 16);
	r->info.required_features = req;
	r->optional_features = tsm__get_le32(h + 20);
	if (req & ~SBT_KNOWN_REQ)
		return TSM_FAIL_AT(TSM_UNSUPPORTED, 16, "%s: file needs unknown features 0x%x",
				   r->name, req & ~SBT_KNOWN_REQ);
	if ((req & TSM_SBT_REQ_ZSTD) && !(tsm_build_features() & TSM_FEATURE_ZSTD))
		return TSM_FAIL_AT(TSM_UNSUPPORTED, 16,
				   "%s: file is zstd-compressed, but this build has no zstd",
				   r->name);
	r->pos = SBT_HEADER_SIZE;
	if (r->header_size > SBT_HEADER_SIZE) {
		got = skip_bytes(r, r->header_size - SBT_HEADER_SIZE);
		if (got < 0)
			return (int)got;
		if (got < r->header_size - (int64_t)SBT_HEADER_SIZE)
			return TSM_FAIL_AT(TSM_TRUNCATED, SBT_HEADER_SIZE + got,
					   "%s: file ends inside the header", r->name);
		r->pos = r->header_size;
	}
	return 0;
}

static int read_info(tsm_reader *r)
{
	sbt_step st;
	uint8_t hdr[SBT_CHUNK_HEADER];
	int64_t got;
	cursor c;
	uint64_t plen;
	const uint8_t *p;
	unsigned saved;
	int rc;

	memset(&st, 0, sizeof(st));
	st.off = r->pos;
	got = read_full(r, hdr, sizeof(hdr));
	if (got < 0)
		return (int)got;
	if (got < (int64_t)sizeof(hdr))
		return TSM_FAIL_AT(TSM_TRUNCATED, r->pos, "%s: file ends before the INFO chunk",
				   r->name);
	r->pos += sizeof(hdr);
	st.type = tsm__get_le32(hdr);
	st.size = tsm__get_le32(hdr + 4);
	st.flags = tsm__get_le16(hdr + 8);
	st.crc = tsm__get_le32(hdr + 12);
	if (st.type != SBT_INFO) {
		char t[12];

		return TSM_FAIL_AT(TSM_CORRUPT, st.off, "%s: first chunk is %s, not INFO", r->name,
				   chunk_name(st.type, t));
	}
	if (st.size > 65536 || st.flags || tsm__get_le16(hdr + 10))
		return TSM_FAIL_AT(TSM_CORRUPT, st.off, "%s: INFO chunk of %u bytes, flags 0x%x",
				   r->name, st.size, st.flags);
	saved = r->flags;
	r->flags |= TSM_READ_STRICT; /* a torn INFO chunk leaves nothing to recover */
	rc = read_payload(r, &st, hdr);
	r->flags = saved;
	if (rc < 0)
		return rc;
	r->info.chunk_count++;
	cursor_init(&c, r->payload, r->payload_len);
	r->info.clock = (uint32_t)cur_varint(&c);
	r->info.realtime_offset_ns = unzigzag(cur_varint(&c));
	r->info.created_realtime_ns = cur_varint(&c);
	plen = cur_varint(&c);
	p = c.err || plen > r->payload_len ? NULL : cur_bytes(&c, (size_t)plen);
	if (!p)
		return corrupt(r, st.off, SBT_INFO, &c, "INFO runs past the chunk");
	r->producer = tsm__malloc((size_t)plen + 1);
	if (!r->producer)
		return TSM_FAIL(TSM_NOMEM, "producer string");
	memcpy(r->producer, p, (size_t)plen);
	r->producer[plen] = 0;
	r->info.producer = r->producer;
	r->defs_upto = r->pos;
	r->first_chunk_off = r->pos;
	return 0;
}

/* Decode an INDX payload into r->index (also used by dump on sequential reads). */
static int parse_index(tsm_reader *r, const uint8_t *p, size_t len, uint64_t idx_off)
{
	uint64_t n, prev_off = 0, prev_min = 0;
	cursor c;

	cursor_init(&c, p, len);
	n = cur_varint(&c);
	if (c.err || n > len)
		return corrupt(r, idx_off, SBT_INDX, &c, "bad entry count");
	tsm__free(r->index);
	r->nindex = 0;
	r->index = tsm__calloc(n ? n : 1, sizeof(*r->index));
	if (!r->index)
		return TSM_FAIL(TSM_NOMEM, "index of %llu entries", (unsigned long long)n);
	for (uint64_t i = 0; i < n; i++) {
		sbt_index_entry *e = &r->index[i];
		const uint8_t *t = cur_bytes(&c, 4);

		e->type = t ? tsm__get_le32(t) : 0;
		e->off = prev_off + cur_varint(&c);
		if (e->type == SBT_EVTB) {
			e->nevents = (uint32_t)cur_varint(&c);
			e->min_start = prev_min + (uint64_t)unzigzag(cur_varint(&c));
			e->max_end = e->min_start + cur_varint(&c);
			prev_min = e->min_start;
		}
		if (c.err || e->off < prev_off || e->off >= idx_off || (i && e->off == prev_off))
			return corrupt(r, idx_off, SBT_INDX, &c,
				       "entry offsets out of order or range");
		prev_off = e->off;
	}
	if (c.p != c.end)
		return corrupt(r, idx_off, SBT_INDX, NULL, "trailing bytes");
	r->nindex = (size_t)n;
	return 0;
}

/* With a footer, load the index so seeks jump straight to a block. */
static int read_index(tsm_reader *r)
{
	uint8_t f[SBT_FOOTER_SIZE], hdr[SBT_CHUNK_HEADER];
	uint64_t idx_off;
	unsigned saved;
	sbt_step st;
	int rc;

	if (!r->seekable || r->file_size < r->pos + SBT_FOOTER_SIZE)
		return 0;
	if (pread(r->fd, f, sizeof(f), (off_t)(r->file_size - SBT_FOOTER_SIZE)) != sizeof(f))
		return TSM_FAIL(TSM_IO, "%s: read footer: %s", r->name, strerror(errno));
	if (memcmp(f, SBT_FOOTER_MAGIC, 8))
		return 0; /* no footer: the writer died; read sequentially and recover */
	rc = read_footer_bytes(r, f, r->file_size - SBT_FOOTER_SIZE);
	if (rc < 0)
		return rc;
	idx_off = r->footer_index_off;
	if (idx_off < r->pos || idx_off > r->file_size - SBT_FOOTER_SIZE - SBT_CHUNK_HEADER)
		return TSM_FAIL_AT(TSM_CORRUPT, r->file_size - SBT_FOOTER_SIZE + 8,
				   "%s: footer points at index offset %llu outside the file",
				   r->name, (unsigned long long)idx_off);
	rc = seek_to(r, idx_off);
	if (rc < 0)
		return rc;
	if (read_full(r, hdr, sizeof(hdr)) != (int64_t)sizeof(hdr))
		return TSM_FAIL_AT(TSM_TRUNCATED, idx_off, "%s: index chunk header", r->name);
	r->pos += sizeof(hdr);
	memset(&st, 0, sizeof(st));
	st.off = idx_off;
	st.type = tsm__get_le32(hdr);
	st.size = tsm__get_le32(hdr + 4);
	st.flags = tsm__get_le16(hdr + 8);
	st.crc = tsm__get_le32(hdr + 12);
	if (st.type != SBT_INDX || st.flags ||
	    idx_off + SBT_CHUNK_HEADER + st.size != r->file_size - SBT_FOOTER_SIZE)
		return TSM_FAIL_AT(
		    TSM_CORRUPT, idx_off,
		    "%s: footer does not point at an INDX chunk ending at the footer", r->name);
	saved = r->flags;
	r->flags |= TSM_READ_STRICT;
	rc = read_payload(r, &st, hdr);
	r->flags = saved;
	if (rc == 0)
		rc = parse_index(r, r->payload, r->payload_len, idx_off);
	if (rc < 0)
		return rc;
	r->data_end = idx_off;
	r->info.has_index = 1;
	r->info.indexed_events = r->footer_events;
	return 0;
}

/* Load definitions up to the first block, leaving that block ready to decode. */
static int prime(tsm_reader *r)
{
	sbt_step st;
	int rc;

	while (!r->in_block) {
		rc = tsm__reader_step(r, &st);
		if (rc == TSM_END)
			return 0;
		if (rc < 0)
			return rc;
	}
	return 0;
}

int tsm_reader_open_fd(int fd, const char *name, unsigned flags, tsm_reader **out)
{
	tsm_reader *r;
	struct stat sb;
	int rc;

	*out = NULL;
	r = tsm__calloc(1, sizeof(*r));
	if (r && !(r->blk = tsm__calloc(1, sizeof(*r->blk)))) {
		tsm__free(r);
		r = NULL;
	}
	if (!r)
		return TSM_FAIL(TSM_NOMEM, "reader for %s", name);
	r->fd = fd;
	r->flags = flags;
	r->data_end = UINT64_MAX;
	r->to_ns = UINT64_MAX;
	r->name = tsm__strdup(name);
	if (!r->name) {
		rc = TSM_FAIL(TSM_NOMEM, "reader for %s", name);
		goto out;
	}
	if (fstat(fd, &sb) < 0) {
		rc = TSM_FAIL(TSM_IO, "%s: stat: %s", name, strerror(errno));
		goto out;
	}
	if (S_ISDIR(sb.st_mode)) {
		rc = TSM_FAIL(TSM_IO, "%s: is a directory", name);
		goto out;
	}
	r->seekable = S_ISREG(sb.st_mode) && lseek(fd, 0, SEEK_CUR) == 0;
	r->file_size = r->seekable ? (uint64_t)sb.st_size : 0;
	rc = read_header(r);
	if (rc == 0)
		rc = read_info(r);
	if (rc == 0 && !(flags & TSM__READ_NOINDEX))
		rc = read_index(r);
	if (rc == 0 && r->info.has_index)
		rc = seek_to(r, r->first_chunk_off);
	if (rc == 0)
		rc = prime(r);
	if (rc < 0)
		goto out;
	*out = r;
	r = NULL;
out:
	if (r)
		r->fd = -1;
	tsm_reader_close(r);
	return rc;
}

int tsm_reader_open(const char *path, unsigned flags, tsm_reader **out)
{
	int fd, rc;

	*out = NULL;
	if (!strcmp(path, "-"))
		return tsm_reader_open_fd(0, "<stdin>", flags, out);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return TSM_FAIL(TSM_IO, "%s: %s", path, strerror(errno));
	rc = tsm_reader_open_fd(fd, path, flags, out);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	(*out)->own_fd = 1;
	return 0;
}

void tsm__block_free(sbt_block *b)
{
	if (!b)
		return;
	block_tables_free(b);
	tsm__buf_fini(&b->own);
	tsm__free(b);
}

sbt_block *tsm__reader_take_block(tsm_reader *r, sbt_block *spare)
{
	sbt_block *b = r->blk;
	tsm__buf *held = r->payload == r->rbuf.data ? &r->rbuf : &r->cbuf, t;

	if (!spare && !(spare = tsm__calloc(1, sizeof(*spare)))) {
		TSM_FAIL(TSM_NOMEM, "%s: block decoder", r->name);
		return NULL;
	}
	/* the payload's buffer goes with the block; the reader keeps the block's old one */
	t = *held;
	*held = b->own;
	b->own = t;
	r->blk = spare;
	r->payload = NULL;
	r->payload_len = 0;
	r->in_block = 0;
	return b;
}

int tsm__block_decode_taken(tsm_reader *r, sbt_block *b, tsm_event *dst, uint32_t *n)
{
	sbt_block *cur = r->blk;
	int in = r->in_block, rc;

	r->blk = b;
	r->in_block = 1;
	rc = tsm__block_decode(r, dst, n);
	r->blk = cur;
	r->in_block = in;
	return rc;
}

void tsm_reader_close(tsm_reader *r)
{
	if (!r)
		return;
	if (r->own_fd && r->fd >= 0)
		close(r->fd);
	tsm__arena_fini(&r->arena);
	tsm__free(r->strings.ptr);
	tsm__free(r->strings.len);
	tsm__free(r->stacks.ptr);
	tsm__free(r->stacks.len);
	tsm__free(r->kvlists.ptr);
	tsm__free(r->kvlists.len);
	tsm__free(r->devs);
	tsm__free(r->procs);
	tsm__free(r->meta);
	tsm__free(r->index);
	tsm__block_free(r->blk);
	tsm__buf_fini(&r->cbuf);
	tsm__buf_fini(&r->rbuf);
	tsm__zstd_free(NULL, r->zdctx);
	tsm__free(r->producer);
	tsm__free(r->name);
	tsm__free(r);
}

/* ---- iteration --------------------------------------------------------- */

int tsm_reader_next(tsm_reader *r, const tsm_event **ev)
{
	sbt_step st;
	int rc;

	if (TSM__LIKELY(r->in_block && r->blk->bi < r->blk->bn)) {
		*ev = &r->blk->batch[r->blk->bi++];
		return 0;
	}
	for (;;) {
		if (r->in_block) {
			rc = tsm__block_next(r, ev);
			if (rc == 0) {
				r->returned_events = 1;
				return 0;
			}
			if (rc < 0)
				return rc;
		}
		rc = tsm__reader_step(r, &st);
		if (rc == TSM_END) {
			return TSM_END;
		}
		if (rc < 0)
			return rc;
	}
}

/* With the index: load every definition chunk before `target` not loaded yet. */
static int defs_before(tsm_reader *r, uint64_t target)
{
	size_t lo = 0, hi = r->nindex;

	if (target <= r->defs_upto)
		return 0;
	while (lo < hi) { /* the first entry at or after defs_upto */
		size_t mid = (lo + hi) / 2;

		if (r->index[mid].off < r->defs_upto)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < r->nindex && r->index[i].off < target; i++) {
		sbt_step st;
		int rc;

		if (!is_def(r->index[i].type))
			continue;
		rc = seek_to(r, r->index[i].off);
		if (rc == 0)
			rc = tsm__reader_step(r, &st);
		if (rc < 0)
			return rc;
	}
	r->defs_upto = target;
	return 0;
}

int tsm__reader_defs_all(tsm_reader *r)
{
	if (!r->index || !r->seekable)
		return 0;
	return defs_before(r, r->data_end);
}

int tsm_reader_seek_ns(tsm_reader *r, uint64_t from_ns, uint64_t to_ns)
{
	int rc;

	if (!r->seekable) {
		if (r->returned_events)
			return TSM_FAIL(TSM_STATE,
					"%s: cannot seek in a stream after reading from it",
					r->name);
		r->from_ns = from_ns;
		r->to_ns = to_ns;
		r->filtering = 1;
		if (r->in_block && !range_overlaps(r, r->blk->min_start, r->blk->max_end))
			r->in_block = 0;
		return 0;
	}
	r->from_ns = from_ns;
	r->to_ns = to_ns;
	r->filtering = 1;
	r->in_block = 0;
	r->ended = 0;
	if (r->index) {
		uint64_t target = r->data_end;

		for (size_t i = 0; i < r->nindex; i++) {
			const sbt_index_entry *e = &r->index[i];

			if (e->type == SBT_EVTB && range_overlaps(r, e->min_start, e->max_end)) {
				target = e->off;
				break;
			}
		}
		rc = defs_before(r, target);
		if (rc == 0)
			rc = seek_to(r, target);
	} else {
		rc = seek_to(r, r->first_chunk_off);
	}
	r->evtb_seen = 0; /* block ordinals count from where reading begins */
	if (rc == 0)
		rc = prime(r);
	return rc;
}

void tsm__reader_partition(tsm_reader *r, unsigned k, unsigned n)
{
	r->part_k = k;
	r->part_n = n;
	if (n && r->in_block && r->blk_seq % n != k)
		r->in_block = 0; /* the block opening primed is another part's */
}

int tsm__reader_defs_upto(tsm_reader *r, uint64_t off)
{
	sbt_step st;
	int rc;

	while (r->pos < off) {
		rc = tsm__reader_step(r, &st);
		if (rc == TSM_END)
			return 0;
		if (rc < 0)
			return rc;
	}
	return 0;
}

int tsm__reader_read_block(tsm_reader *r, const sbt_index_entry *e)
{
	sbt_step st;
	char t[12];
	int rc;

	if (!r->index || !r->seekable)
		return TSM_FAIL(TSM_STATE, "%s: blocks are read by offset only with the index",
				r->name);
	r->in_block = 0;
	r->ended = 0;
	rc = defs_before(r, e->off);
	if (rc == 0)
		rc = seek_to(r, e->off);
	if (rc == 0)
		rc = tsm__reader_step(r, &st);
	if (rc == TSM_END || (rc == 0 && st.type != SBT_EVTB))
		return TSM_FAIL_AT(
		    TSM_CORRUPT, e->off,
		    "%s: the index lists an event block at offset %llu, the file has %s", r->name,
		    (unsigned long long)e->off, rc == TSM_END ? "none" : chunk_name(st.type, t));
	if (rc < 0)
		return rc;
	if (r->in_block && (r->blk->min_start != e->min_start || r->blk->n != e->nevents))
		return TSM_FAIL_AT(TSM_CORRUPT, e->off,
				   "%s: chunk EVTB: %u events from %llu ns, the index says %u from "
				   "%llu ns",
				   r->name, r->blk->n, (unsigned long long)r->blk->min_start,
				   e->nevents, (unsigned long long)e->min_start);
	return 0;
}

int tsm__reader_build_index(tsm_reader *r)
{
	sbt_index_entry *idx = NULL;
	size_t n = 0, cap = 0;
	sbt_step st;
	int rc;

	if (r->index || !r->seekable || r->returned_events)
		return 0;
	rc = seek_to(r, r->first_chunk_off);
	r->in_block = 0;
	r->ended = 0;
	while (rc >= 0 && (rc = tsm__reader_step(r, &st)) == 0) {
		sbt_index_entry *e;

		if (st.is_footer || (st.type != SBT_EVTB && !is_def(st.type)))
			continue;
		if (n == cap) {
			sbt_index_entry *ni = tsm__grow(idx, &cap, 256, sizeof(*ni));

			if (!ni) {
				rc = TSM_FAIL(TSM_NOMEM, "%s: index of %zu chunks", r->name, n + 1);
				break;
			}
			idx = ni;
		}
		e = &idx[n++];
		memset(e, 0, sizeof(*e));
		e->type = st.type;
		e->off = st.off;
		if (st.type == SBT_EVTB) {
			/* begin_block ran (nothing is skipped without an index) */
			e->nevents = r->blk->n;
			e->min_start = r->blk->min_start;
			e->max_end = r->blk->max_end;
		}
	}
	if (rc != TSM_END) {
		tsm__free(idx);
		return rc;
	}
	tsm__free(r->index); /* an INDX chunk the pass met (a file torn after it) */
	r->index = idx;
	r->nindex = n;
	r->data_end = r->pos; /* a torn tail is left out */
	r->in_block = 0;
	r->ended = 0;
	r->evtb_seen = 0;
	rc = seek_to(r, r->first_chunk_off);
	if (rc == 0 && r->filtering)
		rc = tsm_reader_seek_ns(r, r->from_ns, r->to_ns);
	return rc;
}

/* Give `to` (just opened, at its first block) a copy of the index `from` built. */
static int copy_index(tsm_reader *to, const tsm_reader *from)
{
	to->index = tsm__malloc((from->nindex ? from->nindex : 1) * sizeof(*to->index));
	if (!to->index)
		return TSM_FAIL(TSM_NOMEM, "%s: index of %zu chunks", to->name, from->nindex);
	memcpy(to->index, from->index, from->nindex * sizeof(*to->index));
	to->nindex = from->nindex;
	to->data_end = from->data_end;
	return 0;
}

int tsm__reader_clone(const tsm_reader *r, tsm_reader **out)
{
	char path[64];
	int rc;

	*out = NULL;
	if (!r->seekable || r->returned_events)
		return TSM_FAIL(TSM_UNSUPPORTED, "%s: not a file read from its start", r->name);
	/* a new open file description: its own offset, whatever path r was opened by */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", r->fd);
	rc = tsm_reader_open(path, r->flags, out);
	if (rc < 0)
		return rc;
	tsm__free((*out)->name);
	(*out)->name = tsm__strdup(r->name);
	if (!(*out)->name)
		rc = TSM_FAIL(TSM_NOMEM, "reader for %s", r->name);
	else if (r->index && !(*out)->index)
		rc = copy_index(*out, r); /* r built one (a file without its own) */
	if (rc >= 0 && r->filtering)
		rc = tsm_reader_seek_ns(*out, r->from_ns, r->to_ns);
	if (rc < 0) {
		tsm_reader_close(*out);
		*out = NULL;
	}
	return rc;
}

/* ---- accessors --------------------------------------------------------- */

const char *tsm_reader_string(const tsm_reader *r, uint32_t id)
{
	if (id == 0)
		return "";
	return id <= r->strings.n ? r->strings.ptr[id - 1] : NULL;
}

const tsm_frame *tsm_reader_stack(const tsm_reader *r, uint32_t id, size_t *n)
{
	*n = 0;
	if (id == 0 || id > r->stacks.n)
		return NULL;
	*n = r->stacks.len[id - 1] / sizeof(tsm_frame);
	return r->stacks.ptr[id - 1];
}

const tsm_kv *tsm_reader_kvlist(const tsm_reader *r, uint32_t id, size_t *n)
{
	*n = 0;
	if (id == 0 || id > r->kvlists.n)
		return NULL;
	*n = r->kvlists.len[id - 1] / sizeof(tsm_kv);
	return r->kvlists.ptr[id - 1];
}

const tsm_device_info *tsm_reader_devices(const tsm_reader *r, size_t *n)
{
	*n = r->ndevs;
	return r->devs;
}

const tsm_process_info *tsm_reader_processes(const tsm_reader *r, size_t *n)
{
	*n = r->nprocs;
	return r->procs;
}

const tsm_kv *tsm_reader_meta(const tsm_reader *r, size_t *n)
{
	*n = r->nmeta;
	return r->meta;
}

const tsm_trace_info *tsm_reader_info(const tsm_reader *r)
{
	/* At the end the whole file was consumed, index and footer included. */
	((tsm_reader *)r)->info.file_bytes = r->ended && r->seekable ? r->file_size : r->pos;
	return &r->info;
}
