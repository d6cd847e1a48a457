/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-analysis: timeline + statistics throughput and memory.
 *
 *   bench-analysis [FILE.sbt] [--mode all|read|timeline|stats]
 *
 * Without FILE it records a simulated trace of TSM_BENCH_EVENTS events
 * (default 2M; "make bench" keeps it short) into a temporary file. The
 * default mode runs, in the same process and on the same file:
 *   baseline  reading every event with tsm_reader_next (the floor),
 *   timeline  reading + tsm_timeline_add + tsm_timeline_finish,
 *   stats     timeline + tsm_analysis_create (no critical path),
 *   critical  stats + the critical path,
 * each timed by wall clock (best of TSM_BENCH_REPEAT, default 1), and
 * prints events/s and the ratio to the baseline, on the threads the
 * library uses (TSM_THREADS, else the online CPUs) and on one thread. Peak memory per event
 * must be measured per mode in a fresh process, so the other modes run only
 * that phase: e.g. /usr/bin/time -v bench-analysis t.sbt --mode stats.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/internal.h"
#include "tracesmith/tracesmith.h"

static double now_s(void)
{
	return (double)tsm_now_ns() / 1e9;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench-analysis: %s: %s: %s\n", what, tsm_strerror(rc), tsm_last_error());
	exit(1);
}

static uint64_t read_only(const char *path)
{
	tsm_reader *r;
	const tsm_event *ev;
	uint64_t n = 0, x = 0;
	int rc = tsm_reader_open(path, 0, &r);

	if (rc < 0)
		die(path, rc);
	while ((rc = tsm_reader_next(r, &ev)) == 0) {
		x += ev->start_ns;
		n++;
	}
	if (rc != TSM_END)
		die(path, rc);
	tsm_reader_close(r);
	if (x == 42)
		puts("");
	return n;
}

/* level 1: timeline, 2: + statistics, 3: + critical path */
static uint64_t run(const char *path, int level)
{
	tsm_reader *r;
	tsm_timeline *tl;
	tsm_analysis *a = NULL;
	tsm_analysis_opts o = {0, 0, level >= 3};
	uint64_t n;
	int rc = tsm_reader_open(path, 0, &r);

	if (rc < 0)
		die(path, rc);
	rc = tsm_timeline_build(r, &tl);
	if (rc < 0)
		die(path, rc);
	n = tsm_timeline_summary(tl)->events;
	if (level >= 2) {
		rc = tsm_analysis_create(tl, &o, &a);
		if (rc < 0)
			die("analysis", rc);
	}
	tsm_analysis_destroy(a);
	tsm_timeline_destroy(tl);
	tsm_reader_close(r);
	return n;
}

static long max_rss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

int main(int argc, char **argv)
{
	const char *path = NULL, *mode = "all", *env;
	char tmp[] = "/tmp/bench-analysis-XXXXXX";
	uint64_t events = 2000000, n = 0;
	int repeat = 1, made = 0;
	double base = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--mode") && i + 1 < argc)
			mode = argv[++i];
		else
			path = argv[i];
	}
	if ((env = getenv("TSM_BENCH_EVENTS")))
		events = strtoull(env, NULL, 10);
	if ((env = getenv("TSM_BENCH_REPEAT")))
		repeat = atoi(env) > 0 ? atoi(env) : 1;
	if (!path) {
		tsm_writer *w;
		tsm_sim_opts so = {0};
		int fd = mkstemp(tmp), rc;

		if (fd < 0)
			return perror("mkstemp"), 1;
		close(fd);
		so.max_events = events;
		rc = tsm_writer_open(tmp, NULL, &w);
		if (rc < 0)
			die(tmp, rc);
		rc = tsm_sim_run(w, &so, NULL);
		if (rc < 0)
			die("simulation", rc);
		rc = tsm_writer_close(w);
		if (rc < 0)
			die(tmp, rc);
		path = tmp;
		made = 1;
	}
	if (strcmp(mode, "all")) {
		double t0 = now_s(), t;

		if (!strcmp(mode, "read"))
			n = read_only(path);
		else
			n = run(path, !strcmp(mode, "timeline") ? 1
				      : !strcmp(mode, "stats")	? 2
								: 3);
		t = now_s() - t0;
		printf("%s: %llu events in %.3f s, %.1f M events/s, peak RSS %ld KiB = %.1f "
		       "bytes/event\n",
		       mode, (unsigned long long)n, t, (double)n / t / 1e6, max_rss_kib(),
		       (double)max_rss_kib() * 1024 / (double)(n ? n : 1));
	} else {
		static const char *const names[4] = {"baseline (read only)", "timeline",
						     "timeline + statistics", "+ critical path"};

		unsigned threads = tsm__threads();

		printf("threads: %u (TSM_THREADS, else the CPUs this process may use); the last "
		       "column is the same "
		       "work on 1 thread\n",
		       threads);
		for (int level = 0; level < 4; level++) {
			double best = 1e30, best1 = 1e30;

			for (int k = 0; k < repeat; k++) {
				for (unsigned th = 1; th <= (level ? 2u : 1u); th++) {
					double t0, t;

					tsm_set_threads(th == 1 && level ? 1 : threads);
					t0 = now_s();
					n = level ? run(path, level) : read_only(path);
					t = now_s() - t0;
					if (th == 1 && level)
						best1 = t < best1 ? t : best1;
					else
						best = t < best ? t : best;
				}
			}
			tsm_set_threads(0);
			if (!level)
				base = best;
			printf("%-24s %10llu events %8.3f s %8.1f M events/s  x%.2f of baseline "
			       "time",
			       names[level], (unsigned long long)n, best, (double)n / best / 1e6,
			       best / base);
			if (level)
				printf("   1 thread: %.3f s %.1f M events/s", best1,
				       (double)n / best1 / 1e6);
			printf("\n");
		}
	}
	if (made)
		unlink(tmp);
	return 0;
}
