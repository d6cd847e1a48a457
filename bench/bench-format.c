/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-format: SBT size and speed on a simulated training trace.
 *
 *   bench-format [--events N] [--preset NAME] [--dir DIR] [--zstd LEVEL]
 *
 * Generates N events (default 10M) with the simulation backend into
 * memory, then, single-threaded, measures in one run:
 *   - write: tsm_writer_write of every event + close, to a file in DIR; and
 *            the same through tsm_writer_write_batch (how the capture
 *            pipeline's collector hands a ring's batch over);
 *   - read:  tsm_reader_next over the file, summing durations;
 *   - size:  bytes per event without and with zstd, for the events in the
 *            generator's order (one process after the other) and for the file
 *            the capture pipeline writes (tsm_sim_run: rings + collector, the
 *            ranks interleaved as `tracesmith record --simulate` writes them);
 *   - the same events as minimal Chrome trace JSON (size only);
 * and, as baselines in the same run, what the hardware does with the same
 * data: memcpy of the events' 128-byte records (the bytes a writer must at
 * least read) and a sum over the in-memory array (what a reader must at
 * least produce). Every time is the best of 3 runs (the machines are
 * noisy). Results go to stdout as a table and a JSON line.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tracesmith/tracesmith.h"

typedef struct sink {
	tsm_event *ev;
	size_t n, cap;
} sink;

static int collect(const tsm_event *ev, void *user)
{
	sink *s = user;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1 << 20;
		tsm_event *p = realloc(s->ev, cap * sizeof(*p));

		if (!p)
			return TSM_NOMEM;
		s->ev = p;
		s->cap = cap;
	}
	s->ev[s->n++] = *ev;
	return 0;
}

static double now_s(void)
{
	return (double)tsm_now_ns() / 1e9;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench-format: %s: %s: %s\n", what, tsm_strerror(rc), tsm_last_error());
	exit(1);
}

/* Write all events; returns seconds; *size gets the file size. */
static double write_file(const char *path, const sink *s, tsm_writer *proto, int zstd, int batch,
			 uint64_t *size, double *raw_per_event)
{
	tsm_writer_opts o = {.zstd_level = zstd, .clock = TSM_CLOCK_SIMULATED};
	tsm_writer *w;
	tsm_writer_stats st;
	struct stat sb;
	double t0, t1;
	int rc;

	rc = tsm_writer_open(path, &o, &w);
	if (rc < 0)
		die(path, rc);
	/* Same string ids as the generator's writer: copy its tables in id order. */
	for (uint32_t id = 1; id <= tsm_intern_count(tsm_writer_strings(proto)); id++) {
		size_t len;
		const void *p = tsm_intern_borrow(tsm_writer_strings(proto), id, &len);
		uint32_t got;

		tsm_intern_add(tsm_writer_strings(w), p, len, &got);
	}
	for (uint32_t id = 1; id <= tsm_intern_count(tsm_writer_stacks(proto)); id++) {
		size_t len;
		const void *p = tsm_intern_borrow(tsm_writer_stacks(proto), id, &len);
		uint32_t got;

		tsm_intern_add(tsm_writer_stacks(w), p, len, &got);
	}
	for (uint32_t id = 1; id <= tsm_intern_count(tsm_writer_kvlists(proto)); id++) {
		size_t len;
		const void *p = tsm_intern_borrow(tsm_writer_kvlists(proto), id, &len);
		uint32_t got;

		tsm_intern_add(tsm_writer_kvlists(w), p, len, &got);
	}
	t0 = now_s();
	if (batch) {
		rc = tsm_writer_write_batch(w, s->ev, s->n);
		if (rc < 0)
			die("write", rc);
	}
	for (size_t i = 0; !batch && i < s->n; i++) {
		rc = tsm_writer_write(w, &s->ev[i]);
		if (rc < 0)
			die("write", rc);
	}
	tsm_writer_get_stats(w, &st);
	rc = tsm_writer_close(w);
	t1 = now_s();
	if (rc < 0)
		die("close", rc);
	stat(path, &sb);
	*size = (uint64_t)sb.st_size;
	*raw_per_event = (double)st.raw_block_bytes / (double)s->n;
	return t1 - t0;
}

/* Size per event of what `tracesmith record --simulate` writes: the whole capture pipeline. */
static double pipeline_size(const char *path, const char *preset, uint64_t n, int zstd)
{
	tsm_writer_opts o = {.zstd_level = zstd, .clock = TSM_CLOCK_SIMULATED};
	tsm_sim_opts so = {.preset = preset, .max_events = n};
	tsm_writer *w;
	struct stat sb;
	int rc = tsm_writer_open(path, &o, &w);

	if (rc < 0)
		die(path, rc);
	rc = tsm_sim_run(w, &so, NULL);
	if (rc < 0)
		die("tsm_sim_run", rc);
	rc = tsm_writer_close(w);
	if (rc < 0)
		die("close", rc);
	stat(path, &sb);
	unlink(path);
	return (double)sb.st_size / (double)n;
}

static double read_file(const char *path, uint64_t *n, uint64_t *sum)
{
	tsm_reader *r;
	const tsm_event *e;
	double t0 = now_s();
	int rc = tsm_reader_open(path, 0, &r);

	if (rc < 0)
		die(path, rc);
	*n = 0;
	*sum = 0;
	while ((rc = tsm_reader_next(r, &e)) == 0) {
		*sum += e->end_ns - e->start_ns;
		(*n)++;
	}
	if (rc < 0)
		die("read", rc);
	tsm_reader_close(r);
	return now_s() - t0;
}

/* Minimal Chrome trace JSON of one event, as a viewer needs it: the same information. */
static size_t chrome_json(char *buf, size_t cap, const tsm_event *e, tsm_writer *w)
{
	const char *name = tsm_intern_borrow(tsm_writer_strings(w), e->name, NULL);
	unsigned long long tid = e->device != TSM_DEVICE_NONE ? e->stream : e->tid;
	int n = snprintf(buf, cap,
			 "{\"ph\":\"X\",\"cat\":\"%s\",\"name\":\"%s\",\"pid\":%u,\"tid\":%llu,"
			 "\"ts\":%llu.%03llu,\"dur\":%llu.%03llu,\"args\":{\"correlation\":%llu,"
			 "\"External id\":%llu",
			 tsm_event_kind_name(e->kind), name ? name : "",
			 e->device != TSM_DEVICE_NONE ? e->device : e->pid, tid,
			 (unsigned long long)(e->start_ns / 1000),
			 (unsigned long long)(e->start_ns % 1000),
			 (unsigned long long)((e->end_ns - e->start_ns) / 1000),
			 (unsigned long long)((e->end_ns - e->start_ns) % 1000),
			 (unsigned long long)e->correlation, (unsigned long long)e->external);

	if (e->kind == TSM_EV_KERNEL)
		n += snprintf(
		    buf + n, cap - (size_t)n,
		    ",\"grid\":[%u,%u,%u],\"block\":[%u,%u,%u],\"registers per thread\":%u,"
		    "\"shared memory\":%u",
		    e->u.kernel.grid[0], e->u.kernel.grid[1], e->u.kernel.grid[2],
		    e->u.kernel.block[0], e->u.kernel.block[1], e->u.kernel.block[2],
		    e->u.kernel.regs_per_thread,
		    e->u.kernel.static_smem_bytes + e->u.kernel.dynamic_smem_bytes);
	else if (e->kind == TSM_EV_MEMCPY || e->kind == TSM_EV_MEMSET)
		n += snprintf(buf + n, cap - (size_t)n, ",\"bytes\":%llu",
			      (unsigned long long)e->u.memcpy.bytes);
	else if (e->kind == TSM_EV_RUNTIME || e->kind == TSM_EV_DRIVER)
		n += snprintf(buf + n, cap - (size_t)n, ",\"cbid\":%u", e->u.api.cbid);
	n += snprintf(buf + n, cap - (size_t)n, "}},\n");
	return (size_t)n;
}

int main(int argc, char **argv)
{
	uint64_t nevents = 10000000, size_raw, size_z, rn, sum, sum_mem = 0, json_bytes = 0;
	const char *preset = "train", *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	int zlevel = 3;
	char path[512], pathz[512], buf[4096];
	sink s = {0};
	tsm_writer *gen;
	tsm_sim_opts so = {0};
	double t_gen, t_w, t_wb, t_wz, t_r, t_rz, t_copy, t_sum, raw_pe, raw_pez, pipe_raw, pipe_z;
	tsm_event *copy;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--events") && i + 1 < argc)
			nevents = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--preset") && i + 1 < argc)
			preset = argv[++i];
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			dir = argv[++i];
		else if (!strcmp(argv[i], "--zstd") && i + 1 < argc)
			zlevel = atoi(argv[++i]);
		else {
			fprintf(stderr,
				"usage: bench-format [--events N] [--preset NAME] [--dir DIR] "
				"[--zstd LEVEL]\n");
			return 2;
		}
	}
	snprintf(path, sizeof(path), "%s/bench-format-%d.sbt", dir, (int)getpid());
	snprintf(pathz, sizeof(pathz), "%s/bench-format-%d.zst.sbt", dir, (int)getpid());

	/* The generator's writer only holds the interned tables; it writes to /dev/null. */
	rc = tsm_writer_open("/dev/null", NULL, &gen);
	if (rc < 0)
		die("/dev/null", rc);
	so.preset = preset;
	so.max_events = nevents;
	t_gen = now_s();
	rc = tsm_sim_generate(gen, &so, collect, &s);
	t_gen = now_s() - t_gen;
	if (rc < 0)
		die("simulate", rc);

	/* Baselines, best of 3: copy the records into a buffer whose pages are already mapped
	 * (what a writer must at least read), and sum a field over the array (what a reader
	 * must at least hand out). */
	copy = malloc(s.n * sizeof(tsm_event));
	memset(copy, 0, s.n * sizeof(tsm_event));
	t_copy = t_sum = 1e30;
	for (int rep = 0; rep < 3; rep++) {
		double t = now_s();

		memcpy(copy, s.ev, s.n * sizeof(tsm_event));
		t = now_s() - t;
		t_copy = t < t_copy ? t : t_copy;
		sum_mem = 0;
		t = now_s();
		for (size_t i = 0; i < s.n; i++)
			sum_mem += copy[i].end_ns - copy[i].start_ns;
		t = now_s() - t;
		t_sum = t < t_sum ? t : t_sum;
	}
	free(copy);

	t_w = t_wb = t_r = 1e30;
	for (int rep = 0; rep < 3; rep++) {
		double t = write_file(path, &s, gen, 0, 0, &size_raw, &raw_pe);

		t_w = t < t_w ? t : t_w;
		t = write_file(path, &s, gen, 0, 1, &size_raw, &raw_pe);
		t_wb = t < t_wb ? t : t_wb;
		t = read_file(path, &rn, &sum);
		t_r = t < t_r ? t : t_r;
	}
	if (rn != s.n || sum != sum_mem) {
		fprintf(stderr, "bench-format: read back %" PRIu64 " events (want %zu), sums %s\n",
			rn, s.n, sum == sum_mem ? "match" : "differ");
		return 1;
	}
	size_z = 0;
	t_wz = t_rz = 0;
	raw_pez = 0;
	if (tsm_build_features() & TSM_FEATURE_ZSTD) {
		t_wz = t_rz = 1e30;
		for (int rep = 0; rep < 3; rep++) {
			double t = write_file(pathz, &s, gen, zlevel, 0, &size_z, &raw_pez);

			t_wz = t < t_wz ? t : t_wz;
			t = read_file(pathz, &rn, &sum);
			t_rz = t < t_rz ? t : t_rz;
		}
		if (rn != s.n || sum != sum_mem) {
			fprintf(stderr, "bench-format: zstd read back differs\n");
			return 1;
		}
	}
	for (size_t i = 0; i < s.n; i++)
		json_bytes += chrome_json(buf, sizeof(buf), &s.ev[i], gen);
	unlink(path);
	unlink(pathz);
	pipe_raw = pipeline_size(path, preset, s.n, 0);
	pipe_z =
	    tsm_build_features() & TSM_FEATURE_ZSTD ? pipeline_size(pathz, preset, s.n, zlevel) : 0;

	printf("bench-format: %zu events, preset %s, generated in %.2f s (%.1f M events/s)\n", s.n,
	       preset, t_gen, s.n / t_gen / 1e6);
	printf("%-34s %12s %13s\n", "measure", "value", "% of baseline");
	printf("%-34s %9.1f M/s %13s\n", "write (no zstd), events/s", s.n / t_w / 1e6, "");
	printf("%-34s %9.1f M/s %12.1f%%\n", "  baseline: memcpy of 128 B records",
	       s.n / t_copy / 1e6, 100.0 * t_copy / t_w);
	printf("%-34s %9.1f M/s %12.1f%%\n", "write batch (no zstd), events/s", s.n / t_wb / 1e6,
	       100.0 * t_copy / t_wb);
	printf("%-34s %9.1f M/s %13s\n", "read (no zstd), events/s", s.n / t_r / 1e6, "");
	printf("%-34s %9.1f M/s %12.1f%%\n", "  baseline: sum over memory array", s.n / t_sum / 1e6,
	       100.0 * t_sum / t_r);
	printf("%-34s %10.2f B %13s\n", "size, no zstd, bytes/event", (double)size_raw / s.n, "");
	printf("%-34s %10.2f B %13s\n", "  (event blocks only, bytes/event)", raw_pe, "");
	if (size_z) {
		printf("%-34s %10.2f B %13s\n", "size, zstd, bytes/event", (double)size_z / s.n,
		       "");
		printf("%-34s %9.1f M/s %13s\n", "write (zstd), events/s", s.n / t_wz / 1e6, "");
		printf("%-34s %9.1f M/s %13s\n", "read (zstd), events/s", s.n / t_rz / 1e6, "");
	}
	printf("%-34s %10.2f B %13s\n", "record pipeline file, no zstd", pipe_raw, "");
	if (pipe_z)
		printf("%-34s %10.2f B %13s\n", "record pipeline file, zstd", pipe_z, "");
	printf("%-34s %10.2f B %12.1fx\n", "minimal Chrome JSON, bytes/event",
	       (double)json_bytes / s.n, (double)json_bytes / (double)size_raw);
	printf("{\"bench\":\"format\",\"events\":%zu,\"write_meps\":%.2f,"
	       "\"write_batch_meps\":%.2f,\"read_meps\":%.2f,"
	       "\"bytes_per_event\":%.3f,\"zstd_bytes_per_event\":%.3f,\"zstd_write_meps\":%.2f,"
	       "\"zstd_read_meps\":%.2f,\"json_bytes_per_event\":%.1f,\"memcpy_meps\":%.1f,"
	       "\"memsum_meps\":%.1f,\"pipeline_bytes_per_event\":%.3f,"
	       "\"pipeline_zstd_bytes_per_event\":%.3f}\n",
	       s.n, s.n / t_w / 1e6, s.n / t_wb / 1e6, s.n / t_r / 1e6, (double)size_raw / s.n,
	       size_z ? (double)size_z / s.n : 0.0, t_wz ? s.n / t_wz / 1e6 : 0.0,
	       t_rz ? s.n / t_rz / 1e6 : 0.0, (double)json_bytes / s.n, s.n / t_copy / 1e6,
	       s.n / t_sum / 1e6, pipe_raw, pipe_z);
	tsm_writer_close(gen);
	free(s.ev);
	return 0;
}
