/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SBT format tests: round-trip properties (random events of every kind ->
 * write -> read -> identical), block sorting, definitions, devices and
 * processes, zstd, seek through the index and without it, streaming
 * through a pipe, recovery of a file cut at every offset, a zstd frame
 * that does not decode, and the writer's validation of bad events.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "common/internal.h"
#include "format/sbt.h"
#include "tracesmith/tracesmith.h"

static char tmpdir[512];

static const char *tmp_path(const char *name)
{
	static char buf[4][640];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", tmpdir, name);
	return buf[k];
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A value that is often small, sometimes large: exercises every varint length. */
static uint64_t rnd_val(void)
{
	switch (rnd() % 4) {
	case 0:
		return 0;
	case 1:
		return rnd() % 100;
	case 2:
		return rnd() % 100000;
	}
	return rnd();
}

typedef struct ids {
	uint32_t str[64], nstr;
	uint32_t stk[4], kv[4];
} ids;

static void make_ids(tsm_writer *w, ids *d)
{
	tsm_intern *s = tsm_writer_strings(w);

	for (int i = 0; i < 64; i++) {
		char buf[64];

		snprintf(buf, sizeof(buf), "_Z6kernelILi%dEEvPf \"quoted\" \xce\xbb %d", i, i);
		CHECK_OK(tsm_intern_str(s, buf, &d->str[i]));
	}
	d->nstr = 64;
	for (int i = 0; i < 4; i++) {
		tsm_frame f[3] = {{0x400000 + i, d->str[1], d->str[2], d->str[3], 10 + i},
				  {0x7fff0000ULL + i * 8, d->str[4], 0, 0, 0},
				  {0xffffffffffffff00ULL, 0, d->str[5], 0, 0}};
		tsm_kv kv[2];

		memset(kv, 0, sizeof(kv));
		kv[0].key = d->str[6];
		kv[0].type = TSM_KV_INT;
		kv[0].v.i = -12345 - i;
		kv[1].key = d->str[7];
		kv[1].type = i & 1 ? TSM_KV_DOUBLE : TSM_KV_STR;
		if (i & 1)
			kv[1].v.d = 3.25 * i;
		else
			kv[1].v.str = d->str[8 + i];
		CHECK_OK(tsm_intern_add(tsm_writer_stacks(w), f, sizeof(f) - (i % 2) * sizeof(f[0]),
					&d->stk[i]));
		CHECK_OK(tsm_intern_add(tsm_writer_kvlists(w), kv, sizeof(kv), &d->kv[i]));
	}
}

/* A random event valid for its kind: only fields the format stores are set. */
static void random_event(tsm_event *e, const ids *d, uint64_t *clock)
{
	unsigned kind = 1 + (unsigned)(rnd() % (TSM_EV__COUNT - 1));

	memset(e, 0, sizeof(*e));
	e->kind = (uint8_t)kind;
	e->device = rnd() % 3 ? (uint16_t)(rnd() % 8) : TSM_DEVICE_NONE;
	*clock += rnd() % 5000;
	e->start_ns = *clock + (e->device != TSM_DEVICE_NONE ? (rnd() % 64) * 32 : 0);
	e->end_ns = e->start_ns + (kind == TSM_EV_NVTX_MARK ? 0 : rnd() % 200000);
	e->flags = (uint8_t)(rnd() % 4);
	e->context = (uint32_t)(rnd() % 3);
	e->stream = (uint32_t)(rnd() % 4) * 7;
	e->pid = 1000 + (uint32_t)(rnd() % 2);
	e->tid = rnd() % 2 ? e->pid : rnd_val();
	e->name = d->str[rnd() % d->nstr];
	e->stack = rnd() % 3 == 0 ? d->stk[rnd() % 4] : 0;
	e->meta = rnd() % 5 == 0 ? d->kv[rnd() % 4] : 0;
	e->correlation = rnd() % 4 ? rnd_val() : 0;
	e->external = rnd() % 3 ? rnd_val() : 0;
	if (rnd() % 6 == 0) {
		e->flow_type = (uint8_t)(1 + rnd() % 3);
		e->flow_id = rnd_val();
	}
	switch (kind) {
	case TSM_EV_KERNEL:
		for (int i = 0; i < 3; i++) {
			e->u.kernel.grid[i] = (uint32_t)rnd_val();
			e->u.kernel.block[i] = (uint16_t)rnd_val();
			e->u.kernel.cluster[i] = (uint8_t)rnd();
		}
		e->u.kernel.regs_per_thread = (uint16_t)(rnd() % 256);
		e->u.kernel.static_smem_bytes = (uint32_t)rnd_val();
		e->u.kernel.dynamic_smem_bytes = (uint32_t)rnd_val();
		e->u.kernel.graph_id = (uint32_t)rnd_val();
		e->u.kernel.graph_node_id = rnd_val();
		break;
	case TSM_EV_MEMCPY:
		e->u.memcpy.bytes = rnd_val();
		e->u.memcpy.copy_kind = (uint8_t)(rnd() % TSM_COPY__COUNT);
		e->u.memcpy.src_kind = (uint8_t)(rnd() % TSM_MEM__COUNT);
		e->u.memcpy.dst_kind = (uint8_t)(rnd() % TSM_MEM__COUNT);
		e->u.memcpy.src_device = (uint16_t)(rnd() % 8);
		e->u.memcpy.dst_device = (uint16_t)(rnd() % 8);
		e->u.memcpy.graph_id = (uint32_t)rnd_val();
		e->u.memcpy.graph_node_id = rnd_val();
		break;
	case TSM_EV_MEMSET:
		e->u.memset.bytes = rnd_val();
		e->u.memset.value = (uint32_t)rnd();
		e->u.memset.mem_kind = (uint8_t)(rnd() % TSM_MEM__COUNT);
		e->u.memset.graph_id = (uint32_t)rnd_val();
		e->u.memset.graph_node_id = rnd_val();
		break;
	case TSM_EV_SYNC:
		e->u.sync.sync_type = (uint8_t)(rnd() % TSM_SYNC__COUNT);
		e->u.sync.event_id = rnd_val();
		break;
	case TSM_EV_ALLOC:
	case TSM_EV_FREE:
		e->u.memory.address = rnd() % 2 ? 0x7f0000000000ULL + (rnd() % 1000) * 4096 : rnd();
		e->u.memory.bytes = rnd_val();
		e->u.memory.mem_kind = (uint8_t)(rnd() % TSM_MEM__COUNT);
		break;
	case TSM_EV_RUNTIME:
	case TSM_EV_DRIVER:
		e->u.api.cbid = (uint32_t)(rnd() % 600);
		e->u.api.status = (int32_t)(rnd() % 3) - 1;
		break;
	case TSM_EV_NVTX_RANGE:
	case TSM_EV_NVTX_MARK:
		e->u.nvtx.domain = rnd() % 2 ? d->str[rnd() % d->nstr] : 0;
		e->u.nvtx.color = (uint32_t)rnd();
		e->u.nvtx.category = (uint32_t)(rnd() % 4);
		break;
	case TSM_EV_COUNTER:
		e->u.counter.value = (double)(int64_t)rnd_val() / 7.0;
		break;
	case TSM_EV_OVERHEAD:
		e->u.overhead.overhead_kind = (uint8_t)(rnd() % 5);
		break;
	case TSM_EV_DROPPED:
		e->u.dropped.count = rnd_val();
		e->u.dropped.source = (uint8_t)(1 + rnd() % 4);
		break;
	}
}

static int cmp_start(const void *a, const void *b)
{
	const tsm_event *x = a, *y = b;

	if (x->start_ns != y->start_ns)
		return x->start_ns < y->start_ns ? -1 : 1;
	return memcmp(x, y, sizeof(*x));
}

/* Write n random events with the given options, read back, compare as multisets. */
static void roundtrip(uint32_t n, uint32_t block, int zstd, int shuffle)
{
	const char *path = tmp_path("roundtrip.sbt");
	tsm_writer_opts o = {
	    .block_events = block, .zstd_level = zstd, .clock = TSM_CLOCK_SIMULATED};
	tsm_event *in = calloc(n ? n : 1, sizeof(*in)), *outv = calloc(n ? n : 1, sizeof(*outv));
	tsm_writer *w;
	tsm_reader *r;
	const tsm_event *e;
	uint64_t clock = 1000000000000ULL;
	uint32_t got = 0;
	ids d;
	int rc;

	CHECK_OK(tsm_writer_open(path, &o, &w));
	if (!w)
		return;
	make_ids(w, &d);
	for (uint32_t i = 0; i < n; i++)
		random_event(&in[i], &d, &clock);
	if (shuffle)
		for (uint32_t i = n; i > 1; i--) {
			uint32_t j = (uint32_t)(rnd() % i);
			tsm_event t = in[i - 1];

			in[i - 1] = in[j];
			in[j] = t;
		}
	for (uint32_t i = 0; i < n; i++)
		CHECK_OK(tsm_writer_write(w, &in[i]));
	CHECK_OK(tsm_writer_close(w));

	CHECK_OK(tsm_reader_open(path, TSM_READ_STRICT, &r));
	if (!r)
		return;
	while ((rc = tsm_reader_next(r, &e)) == 0) {
		if (got < n)
			outv[got] = *e;
		got++;
	}
	CHECK_RC(rc, TSM_END);
	CHECK_EQ_U64(got, n);
	CHECK(tsm_reader_info(r)->has_index);
	CHECK(!tsm_reader_info(r)->recovered);
	CHECK_EQ_U64(tsm_reader_info(r)->indexed_events, n);
	{
		struct stat sb;

		CHECK(stat(path, &sb) == 0 &&
		      tsm_reader_info(r)->file_bytes == (uint64_t)sb.st_size);
	}
	/* definitions came back */
	CHECK(!strcmp(tsm_reader_string(r, d.str[5]), "_Z6kernelILi5EEvPf \"quoted\" \xce\xbb 5"));
	{
		size_t nf, nkv;
		const tsm_frame *f = tsm_reader_stack(r, d.stk[0], &nf);
		const tsm_kv *kv = tsm_reader_kvlist(r, d.kv[1], &nkv);

		CHECK(f && nf == 3 && f[2].pc == 0xffffffffffffff00ULL && f[0].line == 10);
		CHECK(kv && nkv == 2 && kv[0].v.i == -12346 && kv[1].v.d == 3.25);
	}
	tsm_reader_close(r);
	if (got == n) {
		qsort(in, n, sizeof(*in), cmp_start);
		qsort(outv, n, sizeof(*outv), cmp_start);
		for (uint32_t i = 0; i < n; i++)
			if (memcmp(&in[i], &outv[i], sizeof(tsm_event))) {
				fprintf(stderr, "event %u differs after round trip (kind %u)\n", i,
					in[i].kind);
				CHECK(!"round trip identical");
				break;
			}
	}
	free(in);
	free(outv);
}

/*
 * Within a block, events come back in start order, equal starts in the order they
 * were written, whichever way the writer sorts the block: already in order (no
 * sort), near order and clustered (the LSD passes on a full block's digits), a
 * small block (smaller digits), or a span too wide to pack beside the index
 * (separate keys). The correlation id carries each event's write index.
 */
static const uint64_t *order_starts;

static int cmp_written(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	if (order_starts[x] != order_starts[y])
		return order_starts[x] < order_starts[y] ? -1 : 1;
	return x < y ? -1 : x > y;
}

static void block_order(const char *what, uint32_t n, uint64_t (*start)(uint32_t i))
{
	const char *path = tmp_path("order.sbt");
	tsm_writer_opts o = {.block_events = n};
	uint64_t *starts = malloc(sizeof(uint64_t) * n);
	uint32_t *want = malloc(sizeof(uint32_t) * n), got = 0, name;
	tsm_writer *w;
	tsm_reader *r;
	const tsm_event *e;
	int same = 1, rc;

	CHECK_OK(tsm_writer_open(path, &o, &w));
	CHECK_OK(tsm_intern_str(tsm_writer_strings(w), "k", &name));
	for (uint32_t i = 0; i < n; i++) {
		tsm_event ev = {.kind = i % 3 ? TSM_EV_KERNEL : TSM_EV_RUNTIME,
				.device = i % 3 ? 0 : TSM_DEVICE_NONE,
				.stream = i % 5,
				.name = name,
				.correlation = i + 1};

		ev.start_ns = starts[i] = start(i);
		ev.end_ns = ev.start_ns + 32 * (i % 7);
		want[i] = i;
		CHECK_OK(tsm_writer_write(w, &ev));
	}
	CHECK_OK(tsm_writer_close(w));
	order_starts = starts;
	qsort(want, n, sizeof(*want), cmp_written);
	CHECK_OK(tsm_reader_open(path, TSM_READ_STRICT, &r));
	while ((rc = tsm_reader_next(r, &e)) == 0) {
		if (got < n && e->correlation != want[got] + 1ULL)
			same = 0;
		got++;
	}
	CHECK_RC(rc, TSM_END);
	CHECK_EQ_U64(got, n);
	if (!same)
		fprintf(stderr, "block order: %s: events not in start order\n", what);
	CHECK(same);
	tsm_reader_close(r);
	free(starts);
	free(want);
}

static uint64_t start_sorted(uint32_t i)
{
	return 1000000 + (uint64_t)i / 3 * 100;
}

static uint64_t start_near(uint32_t i)
{
	/* an enclosing op after the three it encloses, ties among them */
	return 1000000 + (uint64_t)(i / 4) * 1000 + (i % 4 == 3 ? 0 : 100 * (i % 4 / 2 + 1));
}

static uint64_t start_clustered(uint32_t i)
{
	/* most within 4 us, one a second out: digits that are mostly the same */
	return i == 17 ? 1000000 + (1ULL << 30) : 1000000 + (uint64_t)((i * 7919) % 4096);
}

static uint64_t start_wide(uint32_t i)
{
	return 1000 + (uint64_t)((i * 7919) % 5000) * (1ULL << 40) + i % 3;
}

static void test_block_order(void)
{
	block_order("sorted", 5000, start_sorted);
	block_order("near", 5000, start_near);
	block_order("near, small block", 37, start_near);
	block_order("clustered", 5000, start_clustered);
	block_order("wide", 5000, start_wide);
}

static void test_devices_meta(void)
{
	const char *path = tmp_path("devices.sbt");
	tsm_writer_opts o = {
	    .clock = TSM_CLOCK_CUPTI, .realtime_offset_ns = -42, .producer = "unit test"};
	tsm_writer *w;
	tsm_reader *r;
	tsm_device_info dev = {.id = 3,
			       .cc_major = 9,
			       .sm_count = 132,
			       .global_mem_bytes = 150109880320ULL,
			       .warp_size = 32};
	tsm_process_info p = {.pid = 4242, .rank = -1};
	const tsm_device_info *dv;
	const tsm_process_info *pv;
	const tsm_kv *meta;
	const tsm_event *e;
	size_t n;

	CHECK_OK(tsm_writer_open(path, &o, &w));
	CHECK_OK(tsm_intern_str(tsm_writer_strings(w), "NVIDIA H200", &dev.name));
	CHECK_OK(tsm_intern_str(tsm_writer_strings(w), "host-a", &p.host));
	CHECK_OK(tsm_writer_add_device(w, &dev));
	CHECK_OK(tsm_writer_add_process(w, &p));
	CHECK_OK(tsm_writer_add_meta_str(w, "cmdline", "python3 train.py"));
	CHECK_OK(tsm_writer_add_meta_int(w, "rank", -1));
	CHECK_OK(tsm_writer_close(w)); /* no events at all */

	CHECK_OK(tsm_reader_open(path, TSM_READ_STRICT, &r));
	CHECK_RC(tsm_reader_next(r, &e), TSM_END);
	dv = tsm_reader_devices(r, &n);
	CHECK(n == 1 && dv[0].id == 3 && dv[0].sm_count == 132 &&
	      dv[0].global_mem_bytes == 150109880320ULL &&
	      !strcmp(tsm_reader_string(r, dv[0].name), "NVIDIA H200"));
	pv = tsm_reader_processes(r, &n);
	CHECK(n == 1 && pv[0].pid == 4242 && pv[0].rank == -1 &&
	      !strcmp(tsm_reader_string(r, pv[0].host), "host-a"));
	meta = tsm_reader_meta(r, &n);
	CHECK(n == 2 && !strcmp(tsm_reader_string(r, meta[0].key), "cmdline") &&
	      !strcmp(tsm_reader_string(r, (uint32_t)meta[0].v.str), "python3 train.py") &&
	      meta[1].v.i == -1);
	CHECK(tsm_reader_info(r)->clock == TSM_CLOCK_CUPTI);
	CHECK(tsm_reader_info(r)->realtime_offset_ns == -42);
	CHECK(!strcmp(tsm_reader_info(r)->producer, "unit test"));
	tsm_reader_close(r);
}

static void write_events(const char *path, uint32_t n, uint32_t block, int close_it)
{
	tsm_writer_opts o = {.block_events = block};
	tsm_writer *w;
	uint32_t name;

	if (tsm_writer_open(path, &o, &w) < 0 ||
	    tsm_intern_str(tsm_writer_strings(w), "cudaLaunchKernel", &name) < 0)
		_exit(3);
	for (uint32_t i = 0; i < n; i++) {
		tsm_event ev = {.kind = TSM_EV_RUNTIME,
				.device = TSM_DEVICE_NONE,
				.name = name,
				.pid = 1,
				.tid = 1,
				.correlation = i + 1};

		ev.start_ns = 1000000 + (uint64_t)i * 1000;
		ev.end_ns = ev.start_ns + 500;
		ev.u.api.cbid = 211;
		if (tsm_writer_write(w, &ev) < 0)
			_exit(3);
		if (!close_it && i % block == block - 1 && tsm_writer_flush(w) < 0)
			_exit(3);
	}
	if (close_it) {
		CHECK_OK(tsm_writer_close(w));
		return;
	}
	if (tsm_writer_flush(w) < 0)
		_exit(3);
	/* Die without closing, as a killed process would: no index, no footer. */
	_exit(0);
}

/*
 * Write a file of n events in blocks of `block` with times i*1000 .. i*1000+500. Without
 * close_it the writing happens in a child process that exits after its last flush without
 * closing the writer: the file a crashed capture leaves behind.
 */
static void write_linear(const char *path, uint32_t n, uint32_t block, int close_it)
{
	pid_t pid;
	int status = -1;

	if (close_it) {
		write_events(path, n, block, 1);
		return;
	}
	pid = fork();
	if (pid == 0)
		write_events(path, n, block, 0);
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0);
}

static void test_seek(int indexed)
{
	const char *path = tmp_path(indexed ? "seek.sbt" : "seek-noindex.sbt");
	tsm_reader *r;
	const tsm_event *e;
	uint64_t first = 0, count = 0, found_target = 0;
	int rc;

	write_linear(path, 10000, 256, indexed);
	CHECK_OK(tsm_reader_open(path, 0, &r));
	if (!r)
		return;
	CHECK(tsm_reader_info(r)->has_index == indexed);
	/* Events overlapping [t, t+10us] must all come back, and whole early blocks are skipped. */
	CHECK_OK(tsm_reader_seek_ns(r, 1000000 + 5000ULL * 1000, 1000000 + 5010ULL * 1000));
	while ((rc = tsm_reader_next(r, &e)) == 0) {
		if (!count)
			first = e->correlation;
		if (e->correlation == 5001)
			found_target = 1;
		count++;
	}
	CHECK_RC(rc, TSM_END);
	CHECK(found_target);
	CHECK(first > 4000 && first <= 5001);
	CHECK(count <= 512);
	/* Seek back to the start: everything again, definitions intact. */
	CHECK_OK(tsm_reader_seek_ns(r, 0, UINT64_MAX));
	count = 0;
	while ((rc = tsm_reader_next(r, &e)) == 0)
		count++;
	CHECK_RC(rc, TSM_END);
	CHECK_EQ_U64(count, 10000);
	CHECK(!strcmp(tsm_reader_string(r, 1), "cudaLaunchKernel"));
	/* A window after the end: nothing. */
	CHECK_OK(tsm_reader_seek_ns(r, UINT64_MAX - 1, UINT64_MAX));
	CHECK_RC(tsm_reader_next(r, &e), TSM_END);
	tsm_reader_close(r);
}

/* Cut a complete file at many offsets: every complete block's events come back. */
static void test_recovery(void)
{
	const char *full = tmp_path("full.sbt"), *cut = tmp_path("cut.sbt");
	uint8_t *data;
	struct stat sb;
	int fd;
	uint64_t events_at_prev = 0;
	unsigned checked = 0;
	off_t info_end;

	write_linear(full, 3000, 100, 0); /* flushed every 100 events, no footer */
	CHECK(stat(full, &sb) == 0);
	data = malloc((size_t)sb.st_size);
	fd = open(full, O_RDONLY);
	CHECK(read(fd, data, (size_t)sb.st_size) == sb.st_size);
	close(fd);
	/* The header and the INFO chunk come first; a cut inside them leaves nothing. */
	info_end = 32 + 16 + (data[36] | data[37] << 8);
	for (off_t len = 0; len <= sb.st_size;
	     len = len == sb.st_size
		       ? len + 1
		       : (len + (len < 400 ? 1 : 37) > sb.st_size ? sb.st_size
								  : len + (len < 400 ? 1 : 37))) {
		tsm_reader *r;
		const tsm_event *e;
		uint64_t n = 0, last = 0;
		int rc, ok = 1;

		fd = open(cut, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		CHECK(write(fd, data, (size_t)len) == len);
		close(fd);
		rc = tsm_reader_open(cut, 0, &r);
		if (len < info_end) {
			/* header or INFO incomplete: nothing to recover, a clean error */
			CHECK(rc == (len == 0 ? TSM_EMPTY : TSM_TRUNCATED));
			continue;
		}
		if (rc < 0) {
			fprintf(stderr, "cut at %lld: %s: %s\n", (long long)len,
				tsm_status_name(rc), tsm_last_error());
			CHECK(rc == 0);
			continue;
		}
		while ((rc = tsm_reader_next(r, &e)) == 0) {
			if (e->correlation != last + 1)
				ok = 0;
			last = e->correlation;
			n++;
		}
		CHECK_RC(rc, TSM_END);
		CHECK(ok);
		/* Complete blocks are whole multiples of 100 events; growing with the cut. */
		CHECK(n % 100 == 0 && n >= events_at_prev);
		events_at_prev = n;
		CHECK(tsm_reader_info(r)->recovered);
		tsm_reader_close(r);
		/* Strict mode refuses the same file. */
		CHECK_RC(tsm_reader_open(cut, TSM_READ_STRICT, &r) < 0
			     ? TSM_TRUNCATED
			     : (tsm_reader_next(r, &e), tsm_reader_close(r), TSM_TRUNCATED),
			 TSM_TRUNCATED);
		checked++;
	}
	CHECK_EQ_U64(events_at_prev, 3000);
	CHECK(checked > 100);
	free(data);
}

/* Reading from a pipe: no seeking, footer met in sequence. */
static void test_pipe(void)
{
	const char *path = tmp_path("pipe.sbt");
	int fds[2];
	pid_t pid;
	tsm_reader *r;
	const tsm_event *e;
	uint64_t n = 0;
	int rc;

	write_linear(path, 5000, 1000, 1);
	CHECK(pipe(fds) == 0);
	pid = fork();
	if (pid == 0) {
		int fd = open(path, O_RDONLY);
		char buf[4096];
		ssize_t k;

		close(fds[0]);
		while ((k = read(fd, buf, sizeof(buf))) > 0)
			if (write(fds[1], buf, (size_t)k) != k)
				_exit(1);
		_exit(0);
	}
	close(fds[1]);
	CHECK_OK(tsm_reader_open_fd(fds[0], "<pipe>", TSM_READ_STRICT, &r));
	if (r) {
		while ((rc = tsm_reader_next(r, &e)) == 0)
			n++;
		CHECK_RC(rc, TSM_END);
		CHECK_EQ_U64(n, 5000);
		CHECK(tsm_reader_info(r)->indexed_events == 5000);
		tsm_reader_close(r);
	}
	close(fds[0]);
	waitpid(pid, NULL, 0);
}

static void test_writer_validation(void)
{
	tsm_writer *w;
	tsm_event ev = {.kind = TSM_EV_KERNEL, .start_ns = 10, .end_ns = 5};

	CHECK_OK(tsm_writer_open(tmp_path("bad.sbt"), NULL, &w));
	CHECK_RC(tsm_writer_write(w, &ev), TSM_INVAL);
	ev.end_ns = 20;
	ev.kind = 0;
	CHECK_RC(tsm_writer_write(w, &ev), TSM_INVAL);
	ev.kind = TSM_EV__COUNT;
	CHECK_RC(tsm_writer_write(w, &ev), TSM_INVAL);
	ev.kind = TSM_EV_KERNEL;
	ev.name = 77;
	CHECK_RC(tsm_writer_write(w, &ev), TSM_UNDEFINED);
	ev.name = 0;
	ev.stack = 1;
	CHECK_RC(tsm_writer_write(w, &ev), TSM_UNDEFINED);
	ev.stack = 0;
	CHECK_OK(tsm_writer_write(w, &ev));
	CHECK_OK(tsm_writer_close(w));
	CHECK_RC(tsm_writer_open("/nonexistent-dir/x.sbt", NULL, &w), TSM_IO);
	CHECK(strstr(tsm_last_error(), "/nonexistent-dir/x.sbt") != NULL);
	{
		tsm_writer_opts o = {.block_events = TSM_WRITER_MAX_BLOCK + 1};

		CHECK_RC(tsm_writer_open(tmp_path("bad2.sbt"), &o, &w), TSM_INVAL);
	}
#ifndef TSM_HAVE_ZSTD
	{
		tsm_writer_opts o = {.zstd_level = 3};

		CHECK_RC(tsm_writer_open(tmp_path("bad3.sbt"), &o, &w), TSM_UNSUPPORTED);
	}
#endif
	tsm_writer_close(NULL);
	tsm_reader_close(NULL);
}

#ifdef TSM_HAVE_ZSTD
/*
 * A compressed chunk whose frame does not decode (its CRC made right, so
 * the frame itself is the fault): TSM_CORRUPT at the chunk's offset, the
 * detail naming the file, the chunk and zstd's reason.
 */
static void test_zstd_bad_frame(void)
{
	const char *path = tmp_path("bad-zstd.sbt");
	tsm_writer_opts o = {.zstd_level = 3};
	tsm_writer *w;
	tsm_reader *r;
	ids d;
	uint64_t clock = 1000, off = SBT_HEADER_SIZE, bad = 0;
	uint8_t h[SBT_CHUNK_HEADER];
	FILE *f;
	int rc;

	CHECK_OK(tsm_writer_open(path, &o, &w));
	make_ids(w, &d);
	for (int i = 0; i < 2000; i++) {
		tsm_event e;

		random_event(&e, &d, &clock);
		CHECK_OK(tsm_writer_write(w, &e));
	}
	CHECK_OK(tsm_writer_close(w));
	f = fopen(path, "r+b");
	CHECK(f != NULL);
	while (f && !bad && !fseek(f, (long)off, SEEK_SET) &&
	       fread(h, 1, sizeof(h), f) == sizeof(h) && memcmp(h, SBT_FOOTER_MAGIC, 8)) {
		uint32_t size = tsm__get_le32(h + 4);

		if (tsm__get_le16(h + 8) & SBT_CHUNK_ZSTD) {
			uint8_t *p = malloc(size);
			size_t v = 0;

			CHECK(p && fread(p, 1, size, f) == size);
			while (p && v < size && p[v] & 0x80) /* the uncompressed size */
				v++;
			if (p && v + 5 <= size) {
				p[v + 1] ^= 0xff; /* zstd's frame magic */
				tsm__put_le32(h + 12, tsm__crc32c(tsm__crc32c(0, h, 12), p, size));
				fseek(f, (long)off, SEEK_SET);
				CHECK(fwrite(h, 1, sizeof(h), f) == sizeof(h) &&
				      fwrite(p, 1, size, f) == size);
				bad = off;
			}
			free(p);
		}
		off += SBT_CHUNK_HEADER + size;
	}
	if (f)
		fclose(f);
	CHECK(bad != 0);
	rc = tsm_reader_open(path, 0, &r);
	if (rc == 0) {
		const tsm_event *ev;

		while ((rc = tsm_reader_next(r, &ev)) == 0)
			;
		tsm_reader_close(r);
	}
	CHECK_RC(rc, TSM_CORRUPT);
	CHECK_EQ_U64(tsm_last_error_offset(), bad);
	CHECK(strstr(tsm_last_error(), path) != NULL);
	CHECK(strstr(tsm_last_error(), "zstd frame does not decode") != NULL);
}
#endif

int main(void)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(tmpdir, sizeof(tmpdir), "%s/tsm-test-format-XXXXXX", base);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	roundtrip(0, 0, 0, 0);
	roundtrip(1, 0, 0, 0);
	roundtrip(5000, 0, 0, 1);
	roundtrip(20000, 777, 0, 1);
	roundtrip(3000, 1, 0, 0);
#ifdef TSM_HAVE_ZSTD
	roundtrip(20000, 4096, 3, 1);
	test_zstd_bad_frame();
#endif
	test_block_order();
	test_devices_meta();
	test_seek(1);
	test_seek(0);
	test_recovery();
	test_pipe();
	test_writer_validation();
	{
		char cmd[700];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
	return check_done("test-format");
}
