/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parallel timeline building and statistics (tsm_set_threads): whatever the
 * thread count, the timeline (every record, lane, device, summary field)
 * and the statistics are the serial ones, byte for byte, on multi-block
 * simulated traces, and so is every export (read ahead on a helper thread,
 * written by another, with the Perfetto track events' heads written by
 * either; a failed write reports the same error);
 * a file with several corrupt blocks reports the error a serial read
 * reports (the first corrupt block's); tsm__parallel re-raises the failure
 * with the lowest input offset. Runs under ThreadSanitizer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "common/internal.h"
#include "export/export-internal.h"
#include "export/sink.h"
#include "format/sbt.h"
#include "tracesmith/tracesmith.h"

static char dir[] = "/tmp/tsm-parallel-XXXXXX";

static int small(void)
{
	const char *s = getenv("TSM_TEST_SCALE");

	return s && !strcmp(s, "small");
}

static void record(const char *path, const char *preset, uint64_t events)
{
	tsm_writer_opts wo = {0};
	tsm_sim_opts so = {0};
	tsm_writer *w;

	wo.block_events = 1024; /* many blocks, so every part gets several */
	so.preset = preset;
	so.max_events = events;
	CHECK_OK(tsm_writer_open(path, &wo, &w));
	CHECK_OK(tsm_sim_run(w, &so, NULL));
	CHECK_OK(tsm_writer_close(w));
}

static const char *names(void *user, uint32_t id)
{
	return tsm_reader_string(user, id);
}

/* Everything a built timeline and its statistics hold, as bytes. */
static char *snapshot(const char *path, unsigned threads, size_t *len)
{
	tsm_analysis_opts ao = {0, 0, 1};
	tsm_report_opts ro = {TSM_REPORT_JSON, 0, 1, 0};
	tsm_reader *r;
	tsm_timeline *tl;
	tsm_analysis *a;
	char *buf = NULL;
	const tsm_tl_xfer *x;
	const void *p;
	FILE *f;
	size_t n;

	tsm_set_threads(threads);
	CHECK_OK(tsm_reader_open(path, 0, &r));
	CHECK_OK(tsm_timeline_build(r, &tl));
	CHECK_OK(tsm_analysis_create(tl, &ao, &a));
	f = open_memstream(&buf, len);
	fwrite(tsm_timeline_summary(tl), sizeof(tsm_tl_summary), 1, f);
	p = tsm_timeline_lanes(tl, &n);
	fwrite(p, sizeof(tsm_tl_lane), n, f);
	p = tsm_timeline_devices(tl, &n);
	fwrite(p, sizeof(tsm_tl_device), n, f);
	p = tsm_timeline_ops(tl, &n);
	fwrite(p, sizeof(tsm_tl_op), n, f);
	p = tsm_timeline_apis(tl, &n);
	fwrite(p, sizeof(tsm_tl_api), n, f);
	p = tsm_timeline_ranges(tl, &n);
	fwrite(p, sizeof(tsm_tl_range), n, f);
	x = tsm_timeline_xfers(tl, &n);
	for (size_t i = 0; i < n; i++) /* field by field: the struct has padding */
		fprintf(f, "%" PRIu64 " %u %u\n", x[i].bytes, x[i].src_device, x[i].dst_device);
	CHECK_OK(tsm_analysis_write(a, f, &ro, names, r));
	fclose(f);
	tsm_analysis_destroy(a);
	tsm_timeline_destroy(tl);
	tsm_reader_close(r);
	tsm_set_threads(0);
	return buf;
}

static void test_same_as_serial(const char *preset)
{
	char path[256];
	size_t n1, n;
	char *one, *many;

	snprintf(path, sizeof(path), "%s/%s.sbt", dir, preset);
	record(path, preset, small() ? 30000 : 200000);
	one = snapshot(path, 1, &n1);
	for (unsigned t = 2; t <= 4; t++) {
		many = snapshot(path, t, &n);
		CHECK_EQ_U64(n, n1);
		if (n == n1 && memcmp(one, many, n))
			fprintf(stderr, "%s: %u threads: results differ from serial\n", preset, t),
			    check_failures++;
		free(many);
	}
	free(one);
}

/*
 * Every export format, serial and read ahead: the same bytes. The
 * read-ahead writes events' heads (tsm__xpre_fn) while the exporter is
 * behind, as timing has it (heads 0), or every head before handing a batch
 * over (1), or right after, racing the exporter (2: under TSan, the
 * hand-over of a batch whose heads are still being written). The planning
 * (tsm__xplan_test) goes to the exporter as timing has it (plan 0), for
 * every event (1), or for parts of batches, back and forth (2: the planner
 * passing between the threads mid-batch, with the exporter planning batches
 * still queued); the events of processes with ranks (multigpu) are planned
 * with the export's own reader then.
 */
static void test_exports(const char *preset, int heads, int plan)
{
	static const char *const ext[] = {"pftrace", "json", "pt.trace.json"};
	char in[256], out[256];

	snprintf(in, sizeof(in), "%s/%s.sbt", dir, preset);
	for (size_t e = 0; e < 3; e++) {
		char *one = NULL;
		size_t n1 = 0;

		/* 3 threads: the sink's writer thread too */
		for (unsigned t = 1; t <= 3; t++) {
			tsm_export_opts o;
			size_t n;
			char *b;

			tsm_export_opts_init(&o);
			if (e == 2)
				o.format = TSM_EXPORT_KINETO;
			snprintf(out, sizeof(out), "%s/%s-%u.%s", dir, preset, t, ext[e]);
			tsm_set_threads(t);
			tsm__xheads_test = heads;
			tsm__xplan_test = plan;
			CHECK_OK(tsm_export_file(in, out, &o, NULL));
			tsm__xheads_test = 0;
			tsm__xplan_test = 0;
			b = check_slurp(out, &n);
			CHECK(b != NULL && n > 0);
			if (t == 1) {
				one = b;
				n1 = n;
				continue;
			}
			CHECK_EQ_U64(n, n1);
			if (b && one && n == n1 && memcmp(b, one, n))
				fprintf(stderr,
					"%s: %s export read ahead (heads %d, plan %d) differs\n",
					preset, ext[e], heads, plan),
				    check_failures++;
			free(b);
		}
		free(one);
	}
	tsm_set_threads(0);
}

/* A write that fails on the writer thread reports what a failure on this thread reports. */
static void test_write_error(void)
{
	char in[256], serial[512] = "";

	if (access("/dev/full", W_OK) != 0) {
		printf("test-parallel: no writable /dev/full, write-error case skipped\n");
		return;
	}
	snprintf(in, sizeof(in), "%s/train.sbt", dir);
	for (unsigned t = 1; t <= 3; t++) {
		tsm_export_opts o;

		tsm_export_opts_init(&o);
		o.format = TSM_EXPORT_CHROME;
		for (int gz = 0; gz <= tsm__have_zlib(); gz++) {
			o.gzip = gz;
			tsm_set_threads(t);
			CHECK_RC(tsm_export_file(in, "/dev/full", &o, NULL), TSM_IO);
			CHECK(strstr(tsm_last_error(), "No space left") != NULL);
			if (t == 1 && !gz)
				snprintf(serial, sizeof(serial), "%s", tsm_last_error());
			else if (!gz)
				CHECK(!strcmp(tsm_last_error(), serial));
		}
	}
	tsm_set_threads(0);
}

/* Flip a payload byte of the event blocks with these ordinals (their CRC no longer matches). */
static void corrupt_blocks(const char *path, const unsigned *which, size_t nwhich, uint64_t *first)
{
	FILE *f = fopen(path, "r+b");
	uint8_t h[SBT_CHUNK_HEADER];
	uint64_t off = SBT_HEADER_SIZE;
	unsigned ord = 0;

	*first = 0;
	CHECK(f != NULL);
	while (f && !fseek(f, (long)off, SEEK_SET) && fread(h, 1, sizeof(h), f) == sizeof(h)) {
		uint32_t type = tsm__get_le32(h), size = tsm__get_le32(h + 4);

		if (!memcmp(h, SBT_FOOTER_MAGIC, 8))
			break;
		if (type == SBT_EVTB) {
			for (size_t i = 0; i < nwhich; i++)
				if (which[i] == ord) {
					int c;

					if (!*first)
						*first = off;
					fseek(f, (long)(off + SBT_CHUNK_HEADER + size / 2),
					      SEEK_SET);
					c = fgetc(f);
					fseek(f, (long)(off + SBT_CHUNK_HEADER + size / 2),
					      SEEK_SET);
					fputc(c ^ 0x55, f);
				}
			ord++;
		}
		off += SBT_CHUNK_HEADER + size;
	}
	if (f)
		fclose(f);
}

static void test_first_error(void)
{
	static const unsigned which[] = {3, 4, 6};
	char path[256], serial[512];
	uint64_t first;
	int64_t serial_off;
	tsm_reader *r;
	tsm_timeline *tl;

	snprintf(path, sizeof(path), "%s/bad.sbt", dir);
	record(path, "train", 20000);
	corrupt_blocks(path, which, 3, &first);
	CHECK(first > 0);
	tsm_set_threads(1);
	CHECK_OK(tsm_reader_open(path, 0, &r));
	CHECK_RC(tsm_timeline_build(r, &tl), TSM_CHECKSUM);
	snprintf(serial, sizeof(serial), "%s", tsm_last_error());
	serial_off = tsm_last_error_offset();
	CHECK_EQ_U64(serial_off, first);
	tsm_reader_close(r);
	for (unsigned t = 2; t <= 5; t++) {
		tsm_set_threads(t);
		CHECK_OK(tsm_reader_open(path, 0, &r));
		CHECK_RC(tsm_timeline_build(r, &tl), TSM_CHECKSUM);
		CHECK_EQ_U64(tsm_last_error_offset(), serial_off);
		CHECK(!strcmp(tsm_last_error(), serial));
		tsm_reader_close(r);
	}
	/* export, read ahead: the same error */
	for (unsigned t = 1; t <= 2; t++) {
		char out[300];

		snprintf(out, sizeof(out), "%s/bad.json", dir);
		tsm_set_threads(t);
		CHECK_RC(tsm_export_file(path, out, NULL, NULL), TSM_CHECKSUM);
		CHECK_EQ_U64(tsm_last_error_offset(), serial_off);
		CHECK(!strcmp(tsm_last_error(), serial));
	}
	tsm_set_threads(0);
}

static int fail_at(void *arg)
{
	int64_t off = *(const int64_t *)arg;

	if (off == -2)
		return 0;
	return TSM_FAIL_AT(TSM_CORRUPT, off, "run failing at %lld", (long long)off);
}

static void test_parallel_errors(void)
{
	int64_t offs[4] = {900, -2, 300, 500};
	void *args[4] = {&offs[0], &offs[1], &offs[2], &offs[3]};

	CHECK_RC(tsm__parallel(fail_at, args, 4), TSM_CORRUPT);
	CHECK_EQ_U64(tsm_last_error_offset(), 300);
	CHECK(!strcmp(tsm_last_error(), "run failing at 300"));
	offs[2] = -2;
	offs[3] = -2;
	CHECK_RC(tsm__parallel(fail_at, args, 4), TSM_CORRUPT);
	CHECK_EQ_U64(tsm_last_error_offset(), 900);
	offs[0] = -2;
	CHECK_OK(tsm__parallel(fail_at, args, 4));
}

int main(void)
{
	char cmd[300];

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_parallel_errors();
	test_same_as_serial("train");
	test_same_as_serial("multigpu");
	test_same_as_serial("infer");
	test_exports("train", 0, 0);
	test_exports("multigpu", 0, 0);
	test_exports("train", 1, 0);
	test_exports("train", 2, 0);
	test_exports("train", 0, 1);
	test_exports("multigpu", 0, 2);
	test_exports("train", 2, 2);
	test_write_error();
	test_first_error();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return check_done("test-parallel");
}
