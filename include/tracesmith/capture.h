/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tracesmith/capture.h - capture backends and the capture session.
 *
 * A backend produces events into collector rings (ring.h); the collector
 * writes them into one SBT writer (format.h). The simulation backend is a
 * seeded synthetic GPU that drives exactly this pipeline; the CUPTI
 * backend lives in the agent (agent/) and uses the same rings and writer.
 */
#ifndef TRACESMITH_CAPTURE_H
#define TRACESMITH_CAPTURE_H

#include <stdint.h>

#include "format.h"
#include "ring.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Simulation workload description. */
typedef struct tsm_sim_opts {
	const char *preset;    /* NULL or "train": see tsm_sim_preset_names() */
	uint64_t seed;	       /* 0: the preset's default seed */
	uint64_t max_events;   /* stop after exactly this many events; 0: preset default */
	uint64_t duration_ns;  /* stop when simulated time passes this; 0: no limit */
	uint32_t devices;      /* 0: preset default */
	uint32_t host_threads; /* producer threads (one ring each); 0: preset default */
	int drop_when_full;    /* 1: drop and count like the agent; 0: wait for room */
} tsm_sim_opts;

/* NULL-terminated list of preset names; the first is the default. */
TSM_API const char *const *tsm_sim_preset_names(void);
/* One-line description of a preset; NULL if unknown. */
TSM_API const char *tsm_sim_preset_summary(const char *preset);

typedef struct tsm_capture_stats {
	uint64_t events;      /* events produced */
	uint64_t dropped;     /* events dropped in rings */
	uint64_t waits;	      /* times a producer found its ring full and waited */
	uint64_t sim_span_ns; /* simulated time covered */
} tsm_capture_stats;

/*
 * Run the simulation: devices, processes and metadata are added to `w`,
 * events flow through a collector into `w`. Deterministic for a given
 * seed and options: the same events (as a set; block boundaries may
 * differ). Does not close `w`. Returns 0, TSM_INVAL (unknown preset),
 * or the writer's error.
 */
TSM_API int tsm_sim_run(tsm_writer *w, const tsm_sim_opts *opts, tsm_capture_stats *stats);

/*
 * Generate the simulation's events without the pipeline: `emit` is called
 * for every event in generation order (process by process, each process's
 * threads in model order; no rings). Used by tests and benchmarks. Strings
 * are interned into the writer's tables as for tsm_sim_run.
 */
typedef int (*tsm_sim_emit_fn)(const tsm_event *ev, void *user);
TSM_API int tsm_sim_generate(tsm_writer *w, const tsm_sim_opts *opts, tsm_sim_emit_fn emit,
			     void *user);

/*
 * Add the simulated machine to `w`: devices (H100 SXM properties),
 * processes (pid, rank, command line) and trace metadata ("backend" =
 * "sim", "preset", "seed", versions, "simulated"). tsm_sim_run does this
 * itself; call it before writing events obtained from tsm_sim_generate.
 * Notes: tsm_sim_generate accepts w == NULL (private intern tables,
 * destroyed on return: ids are then valid only inside emit); an emit that
 * returns a negative status stops the generation and is returned. Returns
 * 0, TSM_INVAL (unknown preset, too many devices) or the writer's error.
 */
TSM_API int tsm_sim_describe(tsm_writer *w, const tsm_sim_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
