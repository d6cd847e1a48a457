/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent.h - internal state of libtracesmith-agent.so, shared by its files.
 *
 * Files, one per concern (and per CUPTI domain, so that module images,
 * launch parameters or copy payloads can be captured later by adding a
 * file rather than rewriting one):
 *   agent.c      InitializeInjection, configuration (TRACESMITH_* variables),
 *                output naming, status file, start/stop, signals, the
 *                control thread (periodic CUPTI flush, --delay/--duration)
 *   emit.c       per-thread rings and the per-thread name cache
 *   activity.c   CUPTI activity buffers: request, completion, conversion
 *   callbacks.c  the CUPTI subscriber: resource, runtime/driver, NVTX domains
 *   nvtx.c       NVTX ranges and markers (push/pop, start/end, domains)
 *   stacks.c     host call stacks of API calls (libunwind), dedup, symbols
 *   device.c     device properties (driver API) and process metadata
 *
 * Everything here is internal to the agent (hidden visibility); the .so
 * exports only InitializeInjection and InitializeInjectionNvtx2 (injection
 * by the driver) and tsm_agent_start / tsm_agent_stop / tsm_agent_error
 * (in-process capture, for the Python package's profile()).
 */
#ifndef TSM_AGENT_H
#define TSM_AGENT_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include <cupti.h>

#include "capture/cupti/cupti-glue.h"
#include "tracesmith/tracesmith.h"

/* Agent states (agent.state). */
enum {
	AG_IDLE = 0,	 /* not initialised */
	AG_READY = 1,	 /* CUPTI subscribed, writer open, collector not started yet */
	AG_RUNNING = 2,	 /* collector running: producers may push */
	AG_STOPPING = 3, /* finalising: producers stay out */
	AG_DONE = 4,	 /* file closed (in-process: a new session may start) */
	AG_FAILED = 5,	 /* could not start; the application runs untraced */
};

struct agent_cfg {
	char out_pattern[PATH_MAX]; /* TRACESMITH_OUTPUT */
	char status_dir[PATH_MAX];  /* TRACESMITH_STATUS_DIR, "" if none */
	unsigned kinds;		    /* TSM__CUPTI_KB_* mask */
	int stacks;
	uint64_t flush_ns;
	uint64_t delay_ns, duration_ns; /* 0: none */
	size_t buffer_bytes;
	size_t ring_events;
	int zstd_level;
	uint32_t block_events;
};

struct agent {
	struct agent_cfg cfg;
	pid_t pid;
	int rank; /* -1: none */
	char out_path[PATH_MAX];
	char status_path[PATH_MAX];

	_Atomic int state;
	_Atomic int inflight; /* producers between their state check and their push */
	/* Session number, 1 for the first capture; bumped by every start, so
	 * that thread-local rings and caches of an earlier session (whose
	 * collector and writer are gone) are never reused. */
	_Atomic unsigned session;
	int inproc; /* the session was started by tsm_agent_start, not by the driver */

	tsm_writer *w;
	tsm_collector *col;
	pthread_mutex_t start_lock;   /* agent_ensure_started */
	pthread_mutex_t session_lock; /* session start / stop */
	CUpti_SubscriberHandle sub;
	int subscribed;

	/* Control thread. */
	pthread_t ctl;
	int have_ctl;
	int ctl_efd;	     /* wakes the control thread */
	int done_fd[2];	     /* control thread -> signal handler: finalised */
	_Atomic int sig_req; /* signal number a handler asked to finalise for */

	/* Driver calls the agent itself makes (device queries) are not the
	 * application's: their activity records are filtered out by thread
	 * and time window. */
	_Atomic uint32_t self_tid;
	_Atomic uint64_t self_t0, self_t1;

	/* Counters (any thread, relaxed). */
	_Atomic uint64_t drop_not_running; /* events produced while the collector was not running */
	_Atomic uint64_t drop_no_ring;	   /* a thread could not get a ring */
	_Atomic uint64_t cupti_dropped;	   /* CUPTI's own dropped-record count */
	_Atomic uint64_t buffers;
	_Atomic uint64_t records;
	_Atomic uint64_t nvtx_unmatched; /* pops / ends without a start */

	char warning[512]; /* first non-fatal problem, for the status file */
};

extern struct agent agent_g;

/* agent.c */
void agent_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Start the collector (once): query devices, add them to the writer, start
 * the writer thread. Safe from any thread; 0 or a negative status. */
int agent_ensure_started(void);
uint64_t agent_now(void); /* CUPTI timestamp, ns */
uint64_t agent_gettid(void);

/* emit.c */
/* Push one event into the calling thread's ring. Never blocks: drops and
 * counts when not running or full. Returns 0 or TSM_AGAIN (dropped). */
int agent_emit(const tsm_event *ev);
/* Publish what the calling thread pushed (after a batch). */
void agent_publish(void);
/* Intern a string with a per-thread cache in front of the writer's table;
 * 0 on failure. */
uint32_t agent_intern(const char *s);
/* Like agent_intern for strings whose address is stable (CUPTI names):
 * the cache is keyed by address and checked by content. */
uint32_t agent_intern_stable(const char *s);
/* Forget the calling thread's ring (the collector is gone). */
void agent_emit_reset(void);
/* Bracket work that uses the writer's tables outside agent_emit (interning
 * in a callback): agent_enter returns 1 if the writer is open (READY or
 * RUNNING), and it then stays open until agent_leave; 0: stay out, and
 * do not call agent_leave. */
int agent_enter(void);
void agent_leave(void);

/* activity.c */
/* Register the buffer callbacks, reset per-session tables, enable the
 * kinds (unless --delay); again for every session. */
int agent_activity_start(void);
/* Context `ctx` (CUPTI's id) runs on device `dev`: synchronisation records get their device. */
void agent_note_context(uint32_t ctx, uint32_t dev);
void agent_activity_flush(int forced); /* cuptiActivityFlushAll */
void agent_activity_set_enabled(int on);
void agent_activity_note_external(uint32_t corr, uint64_t ext);

/* callbacks.c */
int agent_callbacks_start(void); /* cuptiSubscribe + domains */
void agent_callbacks_stop(void);

/* nvtx.c */
/* One NVTX callback; `on`: inside agent_enter (names may be interned).
 * Without it only domain and string handles are learned. */
void agent_nvtx_callback(CUpti_CallbackId cbid, const CUpti_NvtxData *d, int on);

/* stacks.c */
int agent_stacks_init(void);
void agent_stacks_capture(uint32_t correlation);
uint32_t agent_stacks_lookup(uint32_t correlation);

/* device.c */
/* Load the driver and cuInit (in-process start, where the agent was not
 * loaded by the driver): 0, or TSM_UNAVAILABLE with the reason in why. */
int agent_cuda_init(char *why, size_t cap);
int agent_describe_devices(tsm_writer *w);
int agent_describe_process(tsm_writer *w);

#endif
