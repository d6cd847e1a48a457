/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent-control.h - in-process start/stop of libtracesmith-agent.so
 * (see agent-control.c for the entry points the agent must export).
 * Not thread safe: the extension calls these with the GIL held.
 */
#ifndef TSM_PY_AGENT_CONTROL_H
#define TSM_PY_AGENT_CONTROL_H

#include <stddef.h>

/*
 * Load the agent at `agent` (once per process) and start capturing into
 * `path`. Returns 0 or a negative tsm_status; `err` (of `cap` bytes) then
 * holds a one-line reason.
 */
int tsm_py_agent_start(const char *agent, const char *path, char *err, size_t cap);

/* Finalise the file of the running capture. Returns 0 or a negative tsm_status. */
int tsm_py_agent_stop(char *err, size_t cap);

/* Path of the loaded agent, NULL if none. */
const char *tsm_py_agent_loaded(void);

#endif
