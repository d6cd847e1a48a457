/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent-control.c - in-process control of libtracesmith-agent.so for the
 * Python package's profile().
 *
 * `tracesmith record` injects the agent through CUDA_INJECTION64_PATH, so
 * the driver calls its InitializeInjection() at cuInit and the file is
 * finalised at exit. profile() needs the same agent inside an already
 * running process (PyTorch has usually initialised CUDA already) and needs
 * the file complete when the `with` block ends, so it relies on three
 * extra entry points that the agent exports for in-process use:
 *
 *   int tsm_agent_start(const char *path);
 *       Subscribe to CUPTI in the calling process (CUDA may be
 *       initialised already), open the SBT writer on `path` and start
 *       capturing. Returns 0 or a negative tsm_status (TSM_UNAVAILABLE: no
 *       GPU / CUPTI; TSM_STATE: already capturing; TSM_IO: cannot create
 *       the file).
 *   int tsm_agent_stop(void);
 *       Flush CUPTI's buffers (cuptiActivityFlushAll(1)), stop the writer
 *       thread and finalise the file (index and footer): when it returns
 *       the file is complete. Returns 0 or a negative tsm_status.
 *   const char *tsm_agent_error(void);
 *       A one-line explanation of the last failure (never NULL).
 *
 * This file only finds the library and those symbols with dlopen/dlsym:
 * the package never links CUDA. An agent that lacks the symbols (one built
 * only for CUDA_INJECTION64_PATH) is reported as TSM_UNAVAILABLE with the
 * path and the missing symbol, never called blindly. The handle is kept
 * for the life of the process (the agent is built with -z nodelete).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "tracesmith/common.h"

#include "agent-control.h"

typedef int (*start_fn)(const char *path);
typedef int (*stop_fn)(void);
typedef const char *(*error_fn)(void);

static void *lib;
static char lib_path[4096];
static start_fn a_start;
static stop_fn a_stop;
static error_fn a_error;

static int load(const char *path, char *err, size_t cap)
{
	void *h;

	if (lib) {
		if (strcmp(path, lib_path)) {
			snprintf(err, cap,
				 "%s: another agent (%s) is already loaded in this process", path,
				 lib_path);
			return TSM_STATE;
		}
		return 0;
	}
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *e = dlerror();

		snprintf(err, cap, "cannot load the agent %s: %s", path, e ? e : "unknown error");
		return TSM_UNAVAILABLE;
	}
	a_start = (start_fn)dlsym(h, "tsm_agent_start");
	a_stop = (stop_fn)dlsym(h, "tsm_agent_stop");
	a_error = (error_fn)dlsym(h, "tsm_agent_error");
	if (!a_start || !a_stop) {
		snprintf(err, cap,
			 "the agent %s has no in-process entry point (%s is not exported): it "
			 "supports `tracesmith record -- CMD` only",
			 path, !a_start ? "tsm_agent_start" : "tsm_agent_stop");
		a_start = NULL;
		a_stop = NULL;
		a_error = NULL;
		/* Not closed: a library that was loaded may have run constructors. */
		return TSM_UNAVAILABLE;
	}
	lib = h;
	snprintf(lib_path, sizeof(lib_path), "%s", path);
	return 0;
}

static void explain(int rc, const char *what, char *err, size_t cap)
{
	const char *e = a_error ? a_error() : NULL;

	snprintf(err, cap, "%s: %s", what, e && e[0] ? e : tsm_strerror(rc));
}

int tsm_py_agent_start(const char *agent, const char *path, char *err, size_t cap)
{
	int rc;

	err[0] = 0;
	rc = load(agent, err, cap);
	if (rc < 0)
		return rc;
	rc = a_start(path);
	if (rc < 0) {
		explain(rc, "starting the capture", err, cap);
		return rc;
	}
	return 0;
}

int tsm_py_agent_stop(char *err, size_t cap)
{
	int rc;

	err[0] = 0;
	if (!lib) {
		snprintf(err, cap, "no agent is loaded");
		return TSM_STATE;
	}
	rc = a_stop();
	if (rc < 0) {
		explain(rc, "stopping the capture", err, cap);
		return rc;
	}
	return 0;
}

const char *tsm_py_agent_loaded(void)
{
	return lib ? lib_path : NULL;
}
