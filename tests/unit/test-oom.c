/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Running out of memory: every allocation the library makes goes through
 * tsm_set_allocator's hooks, so a hook that refuses the k-th allocation (or
 * every allocation from the k-th on) reaches each failure path in turn.
 * For writing and reading (with zstd too), recording (the simulator's
 * threads, rings and collector), building a timeline and its analysis,
 * each export format on one and on two threads (the read-ahead; gzipped
 * too; Perfetto with the planning handed over to the exporting thread) and the Kineto import (of a
 * .gz file too), whatever k: the call fails cleanly with TSM_NOMEM and a message, or succeeds with
 * exactly the output of a run without failures (an optional helper, such as the read-ahead thread,
 * may give up and leave the work to the calling thread). Under the ASan suite, nothing leaks and no
 * freed or uninitialised memory is used on the way out.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "export/export-internal.h"
#include "export/sink.h"
#include "tracesmith/tracesmith.h"

static char dir[] = "/tmp/tsm-oom-XXXXXX";
static char sbt[256], sbt_zstd[256], json[256], json_gz[256];

/* ---- the failing allocator ------------------------------------------------------ */

static atomic_ulong nalloc;   /* allocations so far */
static unsigned long fail_at; /* refuse the allocation with this number (0: none) */
static int fail_after;	      /* and every one after it */
static atomic_int refused;    /* whether one was refused */

static int refuse(void)
{
	unsigned long k = atomic_fetch_add(&nalloc, 1) + 1;

	if (!fail_at || k < fail_at || (k > fail_at && !fail_after))
		return 0;
	atomic_store(&refused, 1);
	return 1;
}

static void *oom_malloc(size_t size, void *user)
{
	(void)user;
	return refuse() ? NULL : malloc(size);
}

static void *oom_realloc(void *p, size_t size, void *user)
{
	(void)user;
	return refuse() ? NULL : realloc(p, size);
}

static void oom_free(void *p, void *user)
{
	(void)user;
	free(p);
}

static const tsm_allocator hooks = {oom_malloc, oom_realloc, oom_free, NULL};

/* ---- the operations ------------------------------------------------------------- */

static int emit(const tsm_event *ev, void *user)
{
	return tsm_writer_write(user, ev);
}

/* The simulator's events written straight to `out` (zstd level `zstd`, 0: none). */
static int write_sbt(const char *out, int zstd)
{
	tsm_writer_opts wo = {0};
	tsm_sim_opts so = {0};
	tsm_writer *w;
	int rc, crc;

	wo.block_events = 256; /* several blocks */
	wo.zstd_level = zstd;
	wo.created_realtime_ns = 1; /* byte-reproducible */
	so.max_events = 3000;
	rc = tsm_writer_open(out, &wo, &w);
	if (rc < 0)
		return rc;
	rc = tsm_sim_generate(w, &so, emit, w);
	crc = tsm_writer_close(w);
	return rc < 0 ? rc : crc;
}

static int op_write(const char *out)
{
	return write_sbt(out, 0);
}

static int op_write_zstd(const char *out)
{
	return write_sbt(out, 3);
}

/* Read every event of `in`; the output is their count and sum of durations, as text. */
static int summarise(const char *in, const char *out)
{
	tsm_reader *r;
	const tsm_event *ev;
	uint64_t sum = 0, n = 0;
	FILE *f;
	int rc = tsm_reader_open(in, 0, &r);

	if (rc < 0)
		return rc;
	while ((rc = tsm_reader_next(r, &ev)) == 0) {
		sum += ev->end_ns - ev->start_ns;
		n++;
	}
	tsm_reader_close(r);
	if (rc != TSM_END)
		return rc;
	f = fopen(out, "w");
	CHECK(f != NULL);
	if (f) {
		fprintf(f, "%" PRIu64 " %" PRIu64 "\n", n, sum);
		fclose(f);
	}
	return 0;
}

static int op_read(const char *out)
{
	return summarise(sbt, out);
}

static int op_read_zstd(const char *out)
{
	return summarise(sbt_zstd, out);
}

/*
 * The record pipeline: producer threads, rings, the collector and the
 * writer (tsm_sim_run). Its blocks depend on timing, so the output compared
 * is the events' count and sum of durations, read with no allocation
 * refused.
 */
static int op_record(const char *out)
{
	tsm_writer_opts wo = {0};
	tsm_sim_opts so = {0};
	char path[300];
	tsm_writer *w;
	unsigned long keep = fail_at;
	int rc, crc;

	snprintf(path, sizeof(path), "%s.sbt", out);
	wo.block_events = 256;
	so.max_events = 3000;
	rc = tsm_writer_open(path, &wo, &w);
	if (rc < 0)
		return rc;
	rc = tsm_sim_run(w, &so, NULL);
	crc = tsm_writer_close(w);
	if (rc < 0 || crc < 0)
		return rc < 0 ? rc : crc;
	fail_at = 0; /* every thread has ended */
	rc = summarise(path, out);
	fail_at = keep;
	return rc;
}

static const char *names(void *user, uint32_t id)
{
	return tsm_reader_string(user, id);
}

/* Timeline, analysis and the JSON report. */
static int op_analyse(const char *out)
{
	tsm_analysis_opts ao = {0, 0, 1};
	tsm_report_opts ro = {TSM_REPORT_JSON, 0, 1, 0};
	tsm_timeline *tl = NULL;
	tsm_analysis *a = NULL;
	tsm_reader *r;
	FILE *f;
	int rc = tsm_reader_open(sbt, 0, &r);

	if (rc < 0)
		return rc;
	rc = tsm_timeline_build(r, &tl);
	if (rc >= 0)
		rc = tsm_analysis_create(tl, &ao, &a);
	if (rc >= 0) {
		f = fopen(out, "w");
		CHECK(f != NULL);
		rc = f ? tsm_analysis_write(a, f, &ro, names, r) : TSM_IO;
		if (f)
			fclose(f);
	}
	tsm_analysis_destroy(a);
	tsm_timeline_destroy(tl);
	tsm_reader_close(r);
	return rc;
}

static int export_as(const char *out, unsigned format, int gzip)
{
	tsm_export_opts o;

	tsm_export_opts_init(&o);
	o.format = format;
	o.gzip = gzip;
	return tsm_export_file(sbt, out, &o, NULL);
}

static int op_perfetto(const char *out)
{
	return export_as(out, TSM_EXPORT_PERFETTO, 0);
}

/* The read-ahead hands all its planning over to the exporting thread (tsm__xplan_test). */
static int op_perfetto_handing(const char *out)
{
	int rc;

	tsm__xplan_test = 1;
	rc = export_as(out, TSM_EXPORT_PERFETTO, 0);
	tsm__xplan_test = 0;
	return rc;
}

static int op_chrome(const char *out)
{
	return export_as(out, TSM_EXPORT_CHROME, 0);
}

static int op_kineto(const char *out)
{
	return export_as(out, TSM_EXPORT_KINETO, 0);
}

static int op_kineto_gz(const char *out)
{
	return export_as(out, TSM_EXPORT_KINETO, 1);
}

static int op_import(const char *out)
{
	return tsm_import_file(json, out, NULL, NULL);
}

static int op_import_gz(const char *out)
{
	return tsm_import_file(json_gz, out, NULL, NULL);
}

/* Trials per operation and mode at most (evenly spread over its allocations). */
static unsigned long max_trials(void)
{
	const char *s = getenv("TSM_TEST_SCALE");

	return s && !strcmp(s, "small") ? 150 : 600;
}

/*
 * Run `op` once without failures (its output is the reference, and its
 * allocation count the range of k), then with the k-th allocation refused,
 * and with every one from the k-th on: each run fails with TSM_NOMEM and a
 * message, or gives the reference output.
 */
static void sweep(const char *name, int (*op)(const char *out), unsigned threads)
{
	char ref[300], out[300];
	unsigned long total, step;
	size_t nref;
	char *want;

	snprintf(ref, sizeof(ref), "%s/%s-%u.ref", dir, name, threads);
	snprintf(out, sizeof(out), "%s/%s-%u.out", dir, name, threads);
	tsm_set_threads(threads);
	fail_at = 0;
	atomic_store(&nalloc, 0);
	CHECK_OK(op(ref));
	total = atomic_load(&nalloc);
	want = check_slurp(ref, &nref);
	CHECK(want != NULL && nref > 0 && total > 0);
	step = total / max_trials() + 1;
	for (fail_after = 0; fail_after <= 1; fail_after++)
		for (unsigned long k = 1; k <= total; k += step) {
			int rc;

			unlink(out);
			fail_at = k;
			atomic_store(&nalloc, 0);
			atomic_store(&refused, 0);
			tsm_clear_error();
			rc = op(out);
			fail_at = 0;
			if (rc == 0) {
				size_t n;
				char *got = check_slurp(out, &n);

				if (!got || n != nref || memcmp(got, want, n))
					fprintf(
					    stderr,
					    "%s, %u threads, allocation %lu%s refused: succeeded "
					    "with different output\n",
					    name, threads, k, fail_after ? " on" : ""),
					    check_failures++;
				free(got);
				continue;
			}
			if (rc != TSM_NOMEM || !atomic_load(&refused) || !*tsm_last_error())
				fprintf(stderr,
					"%s, %u threads, allocation %lu%s refused: %s (%d): %s\n",
					name, threads, k, fail_after ? " on" : "",
					tsm_status_name(rc), rc, tsm_last_error()),
				    check_failures++;
		}
	free(want);
	tsm_set_threads(0);
}

int main(void)
{
	static const struct {
		const char *name;
		int (*op)(const char *out);
		unsigned threads; /* 2: also on two threads */
	} ops[] = {
	    {"write", op_write, 1},	{"record", op_record, 1},     {"read", op_read, 1},
	    {"analyse", op_analyse, 2}, {"perfetto", op_perfetto, 2}, {"chrome", op_chrome, 2},
	    {"kineto", op_kineto, 2},	{"import", op_import, 1},
	};
	int zstd = (tsm_build_features() & TSM_FEATURE_ZSTD) != 0, gz = tsm__have_zlib();

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	tsm_set_allocator(&hooks); /* counting only, until fail_at is set */
	snprintf(sbt, sizeof(sbt), "%s/in.sbt", dir);
	snprintf(json, sizeof(json), "%s/in.pt.trace.json", dir);
	CHECK_OK(op_write(sbt));
	snprintf(sbt_zstd, sizeof(sbt_zstd), "%s/in-zstd.sbt", dir);
	snprintf(json_gz, sizeof(json_gz), "%s/in.pt.trace.json.gz", dir);
	CHECK_OK(op_kineto(json));
	if (zstd)
		CHECK_OK(write_sbt(sbt_zstd, 3));
	else
		printf("test-oom: built without zstd, its cases skipped\n");
	if (gz)
		CHECK_OK(op_kineto_gz(json_gz));
	else
		printf("test-oom: built without zlib, its cases skipped\n");
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		for (unsigned t = 1; t <= ops[i].threads; t++)
			sweep(ops[i].name, ops[i].op, t);
	sweep("perfetto-handing", op_perfetto_handing, 2);
	if (zstd) {
		sweep("write-zstd", op_write_zstd, 1);
		sweep("read-zstd", op_read_zstd, 1);
	}
	if (gz) {
		for (unsigned t = 1; t <= 2; t++)
			sweep("kineto-gz", op_kineto_gz, t);
		sweep("import-gz", op_import_gz, 1);
	}
	tsm_set_allocator(NULL);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "test-oom: could not remove %s\n", dir);
	}
	return check_done("test-oom");
}
