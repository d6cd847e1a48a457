/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cupti-glue.h - CUPTI knowledge shared by the agent and anything else that
 * reads CUPTI data (internal, never installed; needs the CUDA headers).
 *
 * Three parts:
 *   - the activity-kind groups behind `tracesmith record --kinds` (which
 *     CUpti_ActivityKind values each name enables);
 *   - conversion of one CUPTI activity record into one tsm_event, for every
 *     record kind the agent enables (tsm__cupti_convert);
 *   - enum mappings (copy kind, memory kind, sync type, overhead kind).
 *
 * The conversion is pure: it never calls CUPTI and never allocates. Names,
 * correlation->external ids and correlation->stack ids come from the caller
 * through struct tsm__cupti_conv, so the same code serves the agent (live
 * buffers) and later tools (replay capture, tests over recorded buffers).
 * Record layouts are those of the installed CUDA 13 headers
 * (CUpti_ActivityKernel10, Memcpy6, MemcpyPtoP4, Memset4, Memory4, API,
 * Synchronization2, CudaEvent2, Overhead3, ExternalCorrelation).
 */
#ifndef TSM_CAPTURE_CUPTI_GLUE_H
#define TSM_CAPTURE_CUPTI_GLUE_H

#include <stddef.h>
#include <stdint.h>

#include <cupti.h>

#include "tracesmith/event.h"

/* ---- kind groups ----------------------------------------------------- */

/* Bits of a kind mask: one per name accepted by --kinds. */
#define TSM__CUPTI_KIND_LIST(X) \
	X(KERNEL, "kernel")     \
	X(MEMCPY, "memcpy")     \
	X(MEMSET, "memset")     \
	X(SYNC, "sync")         \
	X(MEMORY, "memory")     \
	X(RUNTIME, "runtime")   \
	X(DRIVER, "driver")     \
	X(NVTX, "nvtx")

enum {
#define TSM__CUPTI_KBIT(name, text) TSM__CUPTI_KB_##name,
	TSM__CUPTI_KIND_LIST(TSM__CUPTI_KBIT)
#undef TSM__CUPTI_KBIT
	    TSM__CUPTI_KB__COUNT
};

#define TSM__CUPTI_KINDS_ALL ((1u << TSM__CUPTI_KB__COUNT) - 1)

/*
 * Parse a comma-separated list of kind names ("kernel,memcpy", "all").
 * Returns the mask, or 0 when a name is unknown or the list is empty;
 * *bad then points at the offending name (not NUL-terminated: *badlen).
 */
unsigned tsm__cupti_kinds_parse(const char *list, const char **bad, size_t *badlen);

/*
 * The CUPTI activity kinds a mask enables, written to `out` (at most
 * `cap`); returns how many. Overhead and external-correlation records are
 * always included: they describe the capture itself.
 */
size_t tsm__cupti_activity_kinds(unsigned mask, CUpti_ActivityKind *out, size_t cap);

/* ---- record conversion --------------------------------------------- */

struct tsm__cupti_conv {
	uint32_t pid;
	void *user;
	/* Intern a NUL-terminated string; returns the id, 0 on failure. */
	uint32_t (*intern)(void *user, const char *s);
	/* Name of a runtime/driver callback id, interned; 0 if unknown. */
	uint32_t (*api_name)(void *user, CUpti_CallbackDomain domain, uint32_t cbid);
	/* External id (NVTX range / framework op) of a correlation id; 0: none. May be NULL. */
	uint64_t (*external_of)(void *user, uint32_t correlation);
	/* Call-stack id recorded for an API call's correlation id; 0: none. May be NULL. */
	uint32_t (*stack_of)(void *user, uint32_t correlation);
	/* Device of a context id (sync records carry only the context); TSM_DEVICE_NONE if unknown.
	 */
	uint16_t (*device_of_context)(void *user, uint32_t context);
	/* Called for every kernel/memcpy/memset record with its (context, device). May be NULL. */
	void (*note_context)(void *user, uint32_t context, uint32_t device);
};

/* tsm__cupti_convert results (besides negative errors: none today). */
#define TSM__CUPTI_EVENT 1 /* *ev holds an event */
#define TSM__CUPTI_SKIP	 0 /* the record is not an event (or a kind we do not map) */

/*
 * Convert one activity record. External-correlation records are not
 * events: they are returned as TSM__CUPTI_SKIP after *ext_corr / *ext_id
 * are set (both 0 for other records), so the caller can fill its map.
 * Never fails; the record must be one CUPTI handed out.
 */
int tsm__cupti_convert(const struct tsm__cupti_conv *cv, const CUpti_Activity *rec, tsm_event *ev,
		       uint32_t *ext_corr, uint64_t *ext_id);

/* ---- enum mappings ------------------------------------------------ */

unsigned tsm__cupti_copy_kind(unsigned cupti_copy_kind);
unsigned tsm__cupti_mem_kind(unsigned cupti_mem_kind);
unsigned tsm__cupti_sync_type(unsigned cupti_sync_type);
unsigned tsm__cupti_overhead_kind(unsigned cupti_overhead_kind);

#endif
