/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fake-agent.c - a stand-in for libtracesmith-agent.so with the in-process
 * entry points that tracesmith.profile() calls (see
 * python/tracesmith/agent-control.c), for machines without a GPU. It writes
 * what a real capture would: an SBT file, complete when tsm_agent_stop()
 * returns, with one device and three kernels whose names the Python test
 * checks. A path containing "fail-start" makes tsm_agent_start() fail like
 * the agent on a machine without CUPTI.
 */
#include <stdio.h>
#include <string.h>

#include "tracesmith/tracesmith.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT int tsm_agent_start(const char *path);
EXPORT int tsm_agent_stop(void);
EXPORT const char *tsm_agent_error(void);

static tsm_writer *w;
static char err[512];

const char *tsm_agent_error(void)
{
	return err;
}

int tsm_agent_start(const char *path)
{
	tsm_writer_opts o = {0};
	int rc;

	err[0] = 0;
	if (w) {
		snprintf(err, sizeof(err), "fake agent: already capturing");
		return TSM_STATE;
	}
	if (strstr(path, "fail-start")) {
		snprintf(err, sizeof(err), "fake agent: no CUDA device (CUPTI_ERROR_NO_DEVICE)");
		return TSM_UNAVAILABLE;
	}
	o.clock = TSM_CLOCK_CUPTI;
	o.producer = "tracesmith fake agent";
	rc = tsm_writer_open(path, &o, &w);
	if (rc < 0)
		snprintf(err, sizeof(err), "fake agent: %s", tsm_last_error());
	return rc;
}

int tsm_agent_stop(void)
{
	static const char *const names[] = {"fake_gemm", "fake_relu", "fake_gemm"};
	tsm_device_info d = {0};
	int rc = 0;

	if (!w) {
		snprintf(err, sizeof(err), "fake agent: not capturing");
		return TSM_STATE;
	}
	d.id = 0;
	rc = tsm_intern_str(tsm_writer_strings(w), "Fake GPU", &d.name);
	if (rc == 0)
		rc = tsm_writer_add_device(w, &d);
	for (int i = 0; i < 3 && rc == 0; i++) {
		tsm_event e;

		memset(&e, 0, sizeof(e));
		e.kind = TSM_EV_KERNEL;
		e.device = 0;
		e.stream = 7;
		e.start_ns = 1000u + 100u * (unsigned)i;
		e.end_ns = e.start_ns + 50;
		e.correlation = (uint64_t)i + 1;
		e.u.kernel.grid[0] = e.u.kernel.grid[1] = e.u.kernel.grid[2] = 1;
		e.u.kernel.block[0] = 128;
		e.u.kernel.block[1] = e.u.kernel.block[2] = 1;
		rc = tsm_intern_str(tsm_writer_strings(w), names[i], &e.name);
		if (rc == 0)
			rc = tsm_writer_write(w, &e);
	}
	if (rc < 0) {
		tsm_writer_close(w);
	} else {
		rc = tsm_writer_close(w);
	}
	w = NULL;
	if (rc < 0)
		snprintf(err, sizeof(err), "fake agent: %s", tsm_last_error());
	return rc;
}
