/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-export: export and import speed, and the size table.
 *
 *   bench-export [--events N] [--dir DIR] [--fixture PATH] [--size-events N]
 *                [--rounds N]
 *
 * Records N simulated events (default 10M, preset train, as `tracesmith
 * record --simulate --events N` does: rings + collector) into DIR (default
 * /tmp), then, in one run:
 *   - baseline: tsm_reader_next over the file (what every exporter must at
 *     least do: read and decode the events);
 *   - the same read on two threads at once, each reading the whole file:
 *     the rate of one of them, i.e. what a core does while the other core
 *     is busy too (the Perfetto export keeps two busy). On this 2-vCPU VM
 *     it falls below the one-thread read in phases when the two vCPUs slow
 *     each other down; the ratio tells such a phase from a slower export;
 *   - perfetto / chrome / kineto: tsm_export_file to /dev/null, events/s
 *     and the ratio to the baseline read rate;
 *   - perfetto with its read-ahead thread slowed as on a vCPU at 1/1.6 of
 *     the other's speed (the slow phase of this VM, reproduced at will:
 *     the thread spins 60% of the CPU time it worked), with the planning
 *     handed over to the exporting thread as the queue has it (what the
 *     export does), and kept on the read-ahead (as before the hand-over);
 *   - import: tsm_import_file of the Kineto JSON just exported (written to
 *     a file first), MB/s of JSON; and the tokenizer alone over the same
 *     bytes (the parser's ceiling), MB/s;
 *   - sizes for the same events (a second, smaller trace of --size-events,
 *     default 1M, so that gzip at level 6 stays quick): SBT, SBT+zstd,
 *     .pftrace, .pftrace.gz, Chrome JSON, JSON.gz, Kineto JSON; and for the
 *     torch.profiler fixture (--fixture, default ../shared/fixtures/kineto/
 *     next to the source tree; skipped with a message when absent): its
 *     JSON size vs our SBT after import.
 * Rates are the best of 3 runs (the reads and the exports: --rounds N, for
 * more on a machine whose speed drifts), taken in rounds (read, read two at
 * once, perfetto, chrome, kineto; again) so that the baselines and the
 * exports sample the same stretch of time. For that run the table also gives the CPU
 * time the process used per second of wall time ("cores": about 2 for the
 * two-thread Perfetto export) and the share of the machine's CPU time that
 * the hypervisor took for other guests meanwhile ("steal", from /proc/stat;
 * "-" where unreadable): a two-thread export slows down when one of its two
 * vCPUs is stolen, while a one-thread read barely notices. Output: a table
 * and a JSON line.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tracesmith/tracesmith.h"

#include "common/internal.h"
#include "export/export-internal.h"
#include "import/json-reader.h"

static double now_s(void)
{
	return (double)tsm_now_ns() / 1e9;
}

/* What a timed run used besides wall time: process CPU time, and steal from /proc/stat. */
struct usage {
	double wall, cpu;      /* seconds */
	uint64_t steal, total; /* /proc/stat ticks over all CPUs; total 0: unreadable */
};

struct cost {
	double cores; /* process CPU seconds per wall second */
	double steal; /* percent of all CPUs' time; < 0: unknown */
};

static void stat_ticks(uint64_t *steal, uint64_t *total)
{
	FILE *f = fopen("/proc/stat", "r");
	uint64_t v[8] = {0};

	*steal = *total = 0;
	if (!f)
		return;
	if (fscanf(f,
		   "cpu %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
		   " %" SCNu64 " %" SCNu64,
		   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
		for (int i = 0; i < 8; i++)
			*total += v[i];
		*steal = v[7];
	}
	fclose(f);
}

static void usage_now(struct usage *u)
{
	struct timespec ts;

	u->wall = now_s();
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	u->cpu = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	stat_ticks(&u->steal, &u->total);
}

/* Keep a run's wall time and cost if it is the fastest so far. */
static void usage_keep(const struct usage *t0, double *best, struct cost *c)
{
	struct usage t1;
	double wall;

	usage_now(&t1);
	wall = t1.wall - t0->wall;
	if (wall < *best) {
		*best = wall;
		c->cores = (t1.cpu - t0->cpu) / wall;
		c->steal =
		    t0->total && t1.total > t0->total
			? 100.0 * (double)(t1.steal - t0->steal) / (double)(t1.total - t0->total)
			: -1;
	}
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench-export: %s: %s: %s\n", what, tsm_strerror(rc), tsm_last_error());
	exit(1);
}

static uint64_t fsize(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static void record(const char *path, uint64_t n, int zstd)
{
	tsm_writer *w = NULL;
	tsm_writer_opts wo = {.zstd_level = zstd, .clock = TSM_CLOCK_SIMULATED};
	tsm_sim_opts so = {.max_events = n};
	int rc = tsm_writer_open(path, &wo, &w);

	if (rc < 0)
		die(path, rc);
	rc = tsm_sim_run(w, &so, NULL);
	if (rc < 0)
		die("simulate", rc);
	rc = tsm_writer_close(w);
	if (rc < 0)
		die(path, rc);
}

/* A timed operation: its fastest run so far, and how many events that run did. */
struct timed {
	double best; /* seconds */
	uint64_t n;
	struct cost c;
};

static double rate_of(const struct timed *t)
{
	return (double)t->n / t->best;
}

/* Read every event of the file: how many. */
static uint64_t read_all(const char *path)
{
	tsm_reader *r = NULL;
	const tsm_event *ev;
	uint64_t cnt = 0, sum = 0;
	int rc = tsm_reader_open(path, 0, &r);

	if (rc < 0)
		die(path, rc);
	while ((rc = tsm_reader_next(r, &ev)) == 0) {
		cnt++;
		sum += ev->end_ns - ev->start_ns;
	}
	tsm_reader_close(r);
	if (rc < 0)
		die(path, rc);
	return cnt + (sum & 0); /* keep the loop */
}

static void read_once(const char *path, struct timed *t)
{
	struct usage t0;

	usage_now(&t0);
	t->n = read_all(path);
	usage_keep(&t0, &t->best, &t->c);
}

struct reading {
	const char *path;
	uint64_t n;
};

static void *read_thread(void *arg)
{
	struct reading *rd = arg;

	rd->n = read_all(rd->path);
	return NULL;
}

/* The read on two threads at once: t->n events each in t->best seconds. */
static void read_pair(const char *path, struct timed *t)
{
	struct reading rd[2] = {{path, 0}, {path, 0}};
	pthread_t th;
	struct usage t0;

	usage_now(&t0);
	if (pthread_create(&th, NULL, read_thread, &rd[1]) != 0) {
		fprintf(stderr, "bench-export: cannot start a thread\n");
		exit(1);
	}
	read_thread(&rd[0]);
	pthread_join(th, NULL);
	usage_keep(&t0, &t->best, &t->c);
	t->n = rd[0].n;
}

static void export_once(const char *in, const char *out, unsigned fmt, struct timed *t)
{
	tsm_export_opts o;
	tsm_export_stats st;
	struct usage t0;
	int rc;

	tsm_export_opts_init(&o);
	o.format = fmt;
	o.gzip = 0;
	usage_now(&t0);
	rc = tsm_export_file(in, out, &o, &st);
	if (rc < 0)
		die(out, rc);
	usage_keep(&t0, &t->best, &t->c);
	t->n = st.events_written;
}

/*
 * The Perfetto export, its read-ahead thread slowed SLOW_PCT% (tsm__xslow_test),
 * the planning handed over as the queue has it (plan 0) or kept on the
 * read-ahead (plan 3: tsm__xplan_test).
 */
#define SLOW_PCT 60
static void export_slowed(const char *in, int plan, struct timed *t)
{
	tsm__xslow_test[0] = SLOW_PCT;
	tsm__xplan_test = plan;
	export_once(in, "/dev/null", TSM_EXPORT_PERFETTO, t);
	tsm__xslow_test[0] = 0;
	tsm__xplan_test = 0;
}

static double import_rate(const char *in, const char *out, uint64_t *bytes)
{
	double best = 1e30;
	tsm_import_stats st;

	for (int k = 0; k < 3; k++) {
		double t0 = now_s();
		int rc = tsm_import_file(in, out, NULL, &st);

		if (rc < 0)
			die(in, rc);
		if (now_s() - t0 < best)
			best = now_s() - t0;
		*bytes = st.json_bytes;
	}
	return (double)*bytes / best;
}

static double tokenize_rate(const char *in, uint64_t *bytes)
{
	double best = 1e30;

	for (int k = 0; k < 3; k++) {
		jreader j;
		double t0 = now_s();
		int rc = tsm__jr_open_file(&j, in), tok;
		uint64_t ntok = 0;

		if (rc < 0)
			die(in, rc);
		while ((tok = tsm__jr_next(&j)) > 0)
			ntok++;
		if (tok < 0)
			die(in, tok);
		*bytes = j.base + j.pos;
		tsm__jr_close(&j);
		if (now_s() - t0 < best)
			best = now_s() - t0;
		(void)ntok;
	}
	return (double)*bytes / best;
}

static void rate_row(const char *what, double rate, double base, const struct cost *c)
{
	printf("%-38s %11.2f M/s %9.2fx %6.2f ", what, rate / 1e6, rate / base, c->cores);
	if (c->steal >= 0)
		printf("%5.1f%%\n", c->steal);
	else
		printf("%6s\n", "-");
}

static uint64_t export_size(const char *in, const char *out)
{
	tsm_export_stats st;
	int rc = tsm_export_file(in, out, NULL, &st);

	if (rc < 0)
		die(out, rc);
	return st.bytes_written;
}

int main(int argc, char **argv)
{
	uint64_t nevents = 10000000, size_events = 1000000, n, bytes;
	int rounds = 3;
	const char *dir = "/tmp", *fixture = NULL;
	char big[512], small[512], smallz[512], out[600];
	double base, r2, rp, rc_, rk, ri, rt, rsh = 0, rsk = 0;
	struct timed tr = {.best = 1e30}, t2 = tr, tp = tr, tc = tr, tk = tr, tsh = tr, tsk = tr;
	int slowed = tsm__threads() > 1; /* a read-ahead thread to slow */
	uint64_t s_sbt, s_sbtz, s_pf, s_pfgz, s_cj, s_cjgz, s_kj, f_json = 0, f_sbt = 0, f_sbtz = 0;
	char fixdef[512];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--events") && i + 1 < argc)
			nevents = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--size-events") && i + 1 < argc)
			size_events = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			dir = argv[++i];
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc &&
			 (rounds = atoi(argv[i + 1])) > 0 && rounds <= 1000)
			i++;
		else if (!strcmp(argv[i], "--fixture") && i + 1 < argc)
			fixture = argv[++i];
		else {
			fprintf(stderr,
				"usage: bench-export [--events N] [--size-events N] [--dir DIR] "
				"[--fixture PATH] [--rounds N]\n");
			return 2;
		}
	}
	if (getenv("TSM_TEST_SCALE") && !strcmp(getenv("TSM_TEST_SCALE"), "small")) {
		nevents = 200000;
		size_events = 100000;
	}
	snprintf(big, sizeof(big), "%s/bench-export-%" PRIu64 ".sbt", dir, nevents);
	snprintf(small, sizeof(small), "%s/bench-export-size.sbt", dir);
	snprintf(smallz, sizeof(smallz), "%s/bench-export-size-zstd.sbt", dir);
	if (fsize(big) == 0)
		record(big, nevents, 0);
	printf("bench-export: %" PRIu64 " simulated events (preset train), %s\n", nevents, big);

	/* in rounds, so that each operation's best run and the baseline's are taken across the
	 * same stretch of time (the VM's speed drifts over tens of seconds) */
	for (int k = 0; k < rounds; k++) {
		read_once(big, &tr);
		read_pair(big, &t2);
		export_once(big, "/dev/null", TSM_EXPORT_PERFETTO, &tp);
		export_once(big, "/dev/null", TSM_EXPORT_CHROME, &tc);
		export_once(big, "/dev/null", TSM_EXPORT_KINETO, &tk);
		if (slowed) {
			export_slowed(big, 0, &tsh);
			export_slowed(big, 3, &tsk);
		}
	}
	base = rate_of(&tr);
	r2 = rate_of(&t2);
	rp = rate_of(&tp);
	rc_ = rate_of(&tc);
	rk = rate_of(&tk);
	if (slowed) {
		rsh = rate_of(&tsh);
		rsk = rate_of(&tsk);
	}
	snprintf(out, sizeof(out), "%s/bench-export.pt.trace.json", dir);
	{
		tsm_export_opts o;

		tsm_export_opts_init(&o);
		o.gzip = 0;
		if ((n = (uint64_t)tsm_export_file(big, out, &o, NULL)) != 0)
			die(out, (int)n);
	}
	snprintf(small, sizeof(small), "%s/bench-export-import.sbt", dir);
	ri = import_rate(out, small, &bytes);
	rt = tokenize_rate(out, &bytes);
	unlink(out);
	unlink(small);

	printf("\n%-38s %14s %10s %6s %6s\n", "operation", "rate", "vs read", "cores", "steal");
	rate_row("SBT read (baseline), events", base, base, &tr.c);
	rate_row("SBT read, 2 at once, each", r2, base, &t2.c);
	rate_row("export perfetto (.pftrace), events", rp, base, &tp.c);
	rate_row("export chrome JSON, events", rc_, base, &tc.c);
	rate_row("export kineto JSON, events", rk, base, &tk.c);
	if (slowed) {
		rate_row("perfetto, read-ahead at 1/1.6, handing", rsh, base, &tsh.c);
		rate_row("perfetto, read-ahead at 1/1.6, keeping", rsk, base, &tsk.c);
	} else {
		printf("one thread (TSM_THREADS): the slowed read-ahead rows skipped\n");
	}
	printf("%-38s %10.1f MB/s\n", "import kineto JSON -> SBT", ri / 1e6);
	printf("%-38s %10.1f MB/s\n", "JSON tokenizer alone", rt / 1e6);

	/* Size table. */
	snprintf(small, sizeof(small), "%s/bench-export-size.sbt", dir);
	record(small, size_events, 0);
	record(smallz, size_events, 3);
	s_sbt = fsize(small);
	s_sbtz = fsize(smallz);
#define SZ(var, ext)                                                 \
	snprintf(out, sizeof(out), "%s/bench-export-size" ext, dir); \
	var = export_size(small, out);                               \
	unlink(out);
	SZ(s_pf, ".pftrace")
	SZ(s_pfgz, ".pftrace.gz")
	SZ(s_cj, ".json")
	SZ(s_cjgz, ".json.gz")
	SZ(s_kj, ".pt.trace.json")
	unlink(small);
	unlink(smallz);
	if (!fixture) {
		/* ../shared next to the source tree: this file is <repo>/bench/bench-export.c. */
		const char *src = __FILE__, *slash = strrchr(src, '/');
		int dirlen = slash ? (int)(slash - src) : 0;

		snprintf(fixdef, sizeof(fixdef),
			 "%.*s%s../../shared/fixtures/kineto/"
			 "h200-matmul-relu.json.gz",
			 dirlen, src, dirlen ? "/" : "");
		fixture = fixdef;
	}
	if (!fsize(fixture))
		printf("fixture %s not found: fixture size row skipped (pass --fixture PATH)\n",
		       fixture);
	if (fsize(fixture)) {
		tsm_import_stats st;
		tsm_import_opts io = {.zstd_level = 3};

		snprintf(out, sizeof(out), "%s/bench-export-fixture.sbt", dir);
		if (tsm_import_file(fixture, out, NULL, &st) == 0) {
			f_json = st.json_bytes;
			f_sbt = fsize(out);
		}
		if (tsm_import_file(fixture, out, &io, &st) == 0)
			f_sbtz = fsize(out);
		unlink(out);
	}
	printf("\nsizes for %" PRIu64 " simulated events        bytes   bytes/event\n",
	       size_events);
#define ROW(name, v) \
	printf("%-30s %14" PRIu64 " %12.2f\n", name, v, (double)(v) / (double)size_events)
	ROW("SBT", s_sbt);
	ROW("SBT + zstd -3", s_sbtz);
	ROW(".pftrace", s_pf);
	ROW(".pftrace.gz", s_pfgz);
	ROW("Chrome JSON", s_cj);
	ROW("Chrome JSON.gz", s_cjgz);
	ROW("Kineto JSON", s_kj);
	if (f_json)
		printf("fixture (torch.profiler, H200): Kineto JSON %" PRIu64
		       " bytes, SBT after import "
		       "%" PRIu64 " bytes (%.1fx smaller), SBT+zstd %" PRIu64 " (%.1fx)\n",
		       f_json, f_sbt, (double)f_json / (double)f_sbt, f_sbtz,
		       (double)f_json / (double)f_sbtz);
	printf("{\"bench\": \"export\", \"events\": %" PRIu64 ", \"read_meps\": %.2f, "
	       "\"read_pair_meps\": %.2f, "
	       "\"perfetto_meps\": %.2f, \"perfetto_cores\": %.2f, \"perfetto_steal_pct\": %.1f, "
	       "\"chrome_meps\": %.2f, \"kineto_meps\": %.2f, "
	       "\"perfetto_slowed_handing_meps\": %.2f, \"perfetto_slowed_keeping_meps\": %.2f, "
	       "\"import_mbps\": %.1f, \"tokenizer_mbps\": %.1f, \"size_events\": %" PRIu64
	       ", \"sbt\": %" PRIu64 ", \"sbt_zstd\": %" PRIu64 ", \"pftrace\": %" PRIu64
	       ", \"pftrace_gz\": %" PRIu64 ", \"chrome_json\": %" PRIu64
	       ", \"chrome_json_gz\": %" PRIu64 ", \"kineto_json\": %" PRIu64
	       ", \"fixture_json\": %" PRIu64 ", \"fixture_sbt\": %" PRIu64
	       ", \"fixture_sbt_zstd\": %" PRIu64 "}\n",
	       nevents, base / 1e6, r2 / 1e6, rp / 1e6, tp.c.cores, tp.c.steal, rc_ / 1e6, rk / 1e6,
	       rsh / 1e6, rsk / 1e6, ri / 1e6, rt / 1e6, size_events, s_sbt, s_sbtz, s_pf, s_pfgz,
	       s_cj, s_cjgz, s_kj, f_json, f_sbt, f_sbtz);
	return 0;
}
