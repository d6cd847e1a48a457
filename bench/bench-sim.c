/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-sim: speed of the simulation backend.
 *
 *   generate  tsm_sim_generate of N events per preset with an emit callback
 *             that only counts (the generator alone, single thread); best of
 *             3 runs, wall time and process CPU time
 *   pipeline  tsm_sim_run of N "train" events into an SBT file: rings,
 *             producer threads, collector and writer together
 *
 * Usage: bench-sim [EVENTS] (default 10000000). The target is >= 50M
 * events/s for generate, so that a 10M-event trace costs 0.2 s to produce.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "tracesmith/capture.h"

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int count(const tsm_event *ev, void *user)
{
	(void)ev;
	++*(uint64_t *)user;
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
	const char *const *presets = tsm_sim_preset_names();
	char path[] = "/tmp/bench-sim-XXXXXX";
	tsm_writer_opts wo = {.clock = TSM_CLOCK_SIMULATED};
	tsm_sim_opts o = {.preset = "train", .max_events = n};
	tsm_capture_stats st;
	tsm_writer *w = NULL;
	uint64_t t0;
	double c0;
	int fd, rc;

	if (!n)
		n = 10000000;
	printf("bench-sim: %llu events per run\n", (unsigned long long)n);
	for (size_t i = 0; presets[i]; i++) {
		double best = 1e30, best_cpu = 0;

		for (int rep = 0; rep < 3; rep++) {
			tsm_sim_opts g = {.preset = presets[i], .max_events = n};
			uint64_t got = 0;
			double wall;

			t0 = tsm_now_ns();
			c0 = cpu_s();
			rc = tsm_sim_generate(NULL, &g, count, &got);
			wall = (tsm_now_ns() - t0) * 1e-9;
			if (rc < 0 || got != n) {
				fprintf(stderr, "bench-sim: %s: %s (%s), %llu events\n", presets[i],
					tsm_strerror(rc), tsm_last_error(),
					(unsigned long long)got);
				return 1;
			}
			if (wall < best) {
				best = wall;
				best_cpu = cpu_s() - c0;
			}
		}
		printf("  generate %-9s %7.1f M events/s wall  %7.1f M events/s cpu  (%.1f "
		       "ns/event)\n",
		       presets[i], n / best / 1e6, n / best_cpu / 1e6, best * 1e9 / n);
	}

	fd = mkstemp(path);
	if (fd < 0) {
		perror("bench-sim: mkstemp");
		return 1;
	}
	close(fd);
	rc = tsm_writer_open(path, &wo, &w);
	if (rc < 0) {
		fprintf(stderr, "bench-sim: %s: %s\n", path, tsm_last_error());
		return 1;
	}
	t0 = tsm_now_ns();
	c0 = cpu_s();
	rc = tsm_sim_run(w, &o, &st);
	if (rc == 0)
		rc = tsm_writer_close(w);
	else
		tsm_writer_close(w);
	if (rc < 0) {
		fprintf(stderr, "bench-sim: pipeline: %s (%s)\n", tsm_strerror(rc),
			tsm_last_error());
		unlink(path);
		return 1;
	}
	{
		double wall = (tsm_now_ns() - t0) * 1e-9, cpu = cpu_s() - c0;

		printf("  pipeline train     %7.1f M events/s wall  (%.2f s, %.2f s cpu on all "
		       "threads; "
		       "%llu waits for ring room, %llu dropped)\n",
		       st.events / wall / 1e6, wall, cpu, (unsigned long long)st.waits,
		       (unsigned long long)st.dropped);
	}
	unlink(path);
	return 0;
}
