/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fork-join helper for the data-parallel parts of the analyses. Failures
 * are recorded per thread (the error detail is thread-local), so each run
 * keeps its own and the caller re-raises the one that comes first in the
 * input: with block-partitioned reading that is the error a serial reader
 * would have reported.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

#define MAX_THREADS 8

static unsigned threads_set;

/*
 * The CPUs other processes keep busy now: runnable tasks (/proc/loadavg's
 * fourth field, "runnable/total", this thread among them) less this one,
 * the least of three looks 100 us apart (a task that runs for a moment is
 * not a busy CPU), kept for a second (an export asks more than once); -1
 * where unreadable. A thread more than the CPUs left free shares one with
 * another task, and two threads of a pipeline on one CPU are slower than
 * one thread: with a busy process on the other vCPU of a 2-vCPU machine,
 * the two-thread Perfetto export took 0.90-1.02 s and the serial one
 * 0.74-0.79 s (docs/design/export.md, Limits). In a container the count is
 * the host's, which may hold back threads a cpuset had free: the speed
 * changes, never the results.
 */
static long busy_cpus(void)
{
	static _Atomic long kept = -2; /* -2: none yet */
	static _Atomic uint64_t kept_at;
	uint64_t now = tsm_now_ns();
	long least = -1;

	if (kept != -2 && now - kept_at < 1000000000u)
		return kept;

	for (int k = 0; k < 3; k++) {
		FILE *f = fopen("/proc/loadavg", "r");
		long running = -1;

		if (f) {
			if (fscanf(f, "%*s %*s %*s %ld/", &running) != 1)
				running = -1;
			fclose(f);
		}
		if (running < 1) {
			least = -1;
			break;
		}
		if (least < 0 || running - 1 < least)
			least = running - 1;
		if (k < 2)
			usleep(100);
	}
	kept_at = now;
	kept = least;
	return least;
}

void tsm_set_threads(unsigned n)
{
	threads_set = n;
}

unsigned tsm__threads(void)
{
	const char *env;
	long n;

	if (threads_set)
		return threads_set < MAX_THREADS ? threads_set : MAX_THREADS;
	env = getenv("TSM_THREADS");
	if (env && *env) {
		n = strtol(env, NULL, 10);
	} else {
		/* the CPUs this process may run on (a cpuset or taskset), not all the machine's,
		 * and of those no more than other processes leave free */
		cpu_set_t set;
		long online = sysconf(_SC_NPROCESSORS_ONLN), busy;

		n = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : online;
		if (n > 1 && (busy = busy_cpus()) >= 0 && online - busy < n)
			n = online - busy;
	}
	if (n < 1)
		n = 1;
	return n < MAX_THREADS ? (unsigned)n : MAX_THREADS;
}

typedef struct run {
	int (*fn)(void *);
	void *arg;
	tsm__err err;
} run;

static void *run_main(void *p)
{
	run *r = p;
	int rc = r->fn(r->arg);

	if (rc < 0)
		tsm__err_keep(&r->err, rc);
	return NULL;
}

int tsm__parallel(int (*fn)(void *), void *const *args, size_t n)
{
	run runs[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	int started[MAX_THREADS] = {0};
	const tsm__err *first = NULL;

	if (n > MAX_THREADS)
		return TSM_FAIL(TSM_INVAL, "parallel: %zu runs (max %d)", n, MAX_THREADS);
	for (size_t i = 0; i < n; i++)
		runs[i] = (run){fn, args[i], {0, -1, ""}};
	for (size_t i = 1; i < n; i++)
		started[i] = pthread_create(&th[i], NULL, run_main, &runs[i]) == 0;
	if (n)
		run_main(&runs[0]);
	for (size_t i = 1; i < n; i++) {
		if (started[i])
			pthread_join(th[i], NULL);
		else
			run_main(&runs[i]);
	}
	for (size_t i = 0; i < n; i++) {
		const tsm__err *e = &runs[i].err;

		if (!e->status)
			continue;
		if (!first || (e->offset >= 0 && (first->offset < 0 || e->offset < first->offset)))
			first = e;
	}
	return first ? tsm__err_raise(first) : 0;
}
