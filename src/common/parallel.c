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
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

#define MAX_THREADS 8

static unsigned threads_set;

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
		/* the CPUs this process may run on (a cpuset or taskset), not all the machine's */
		cpu_set_t set;

		n = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set)
								 : sysconf(_SC_NPROCESSORS_ONLN);
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
