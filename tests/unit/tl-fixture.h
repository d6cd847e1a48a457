/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A hand-built trace whose every number is known (shared by test-timeline
 * and test-analysis; the expected values are derived in the comments).
 *
 * pid 100, host thread 1, device 0, streams 1 and 2, times in ns:
 *   API a1 [0,10]   corr 1 cudaLaunchKernel     -> K1 gemm    stream 1 [100,130]
 *   API a2 [10,20]  corr 2 cudaLaunchKernel     -> K2 nccl    stream 2 [110,120]
 *   API a3 [20,25]  corr 3 cudaEventRecord      -> REC ev 7   stream 1 [130,130]
 *   API a4 [25,30]  corr 4 cudaStreamWaitEvent  -> WAIT ev 7  stream 2 [120,130]
 *   API a5 [30,40]  corr 5 cudaLaunchKernel     -> K3 gemm    stream 2 [140,200]
 *   API a6 [40,44]  corr 6 cudaMemcpyAsync      -> M H2D 1000 B stream 1 [150,210]
 *   API a7 [44,260] corr 7 cudaStreamSynchronize (cbid 131), SYNC STREAM record on
 *                  stream 2 [44,200]
 *   NVTX "ProfilerStep#0" [0,45], nested "fwd" [5,32], on thread 1.
 * Events are added in reverse order so that the builder must sort.
 */
#ifndef TSM_TEST_TL_FIXTURE_H
#define TSM_TEST_TL_FIXTURE_H

#include <string.h>

#include "tracesmith/tracesmith.h"

enum { N_GEMM = 1, N_NCCL, N_LAUNCH, N_RECORD, N_WAIT, N_MEMCPY, N_SYNC, N_STEP, N_FWD, N__COUNT };

static const char *const fx_names[N__COUNT] = {
    NULL,
    "gemm",
    "ncclDevKernel_AllReduce",
    "cudaLaunchKernel",
    "cudaEventRecord",
    "cudaStreamWaitEvent",
    "cudaMemcpyAsync",
    "cudaStreamSynchronize",
    "ProfilerStep#0",
    "fwd",
};

static inline const char *fx_name(void *user, uint32_t id)
{
	(void)user;
	return id < N__COUNT ? fx_names[id] : NULL;
}

static inline tsm_event fx_api(uint32_t name, uint64_t corr, uint64_t s, uint64_t e, uint32_t cbid)
{
	tsm_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = TSM_EV_RUNTIME;
	ev.device = TSM_DEVICE_NONE;
	ev.pid = 100;
	ev.tid = 1;
	ev.name = name;
	ev.correlation = corr;
	ev.start_ns = s;
	ev.end_ns = e;
	ev.u.api.cbid = cbid;
	return ev;
}

static inline tsm_event fx_gpu(unsigned kind, uint16_t dev, uint32_t stream, uint32_t name,
			       uint64_t corr, uint64_t s, uint64_t e)
{
	tsm_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = (uint8_t)kind;
	ev.device = dev;
	ev.stream = stream;
	ev.pid = 100;
	ev.name = name;
	ev.correlation = corr;
	ev.start_ns = s;
	ev.end_ns = e;
	return ev;
}

static inline size_t fx_events(tsm_event *ev)
{
	size_t n = 0;

	ev[n++] = fx_api(N_LAUNCH, 1, 0, 10, 211);
	ev[n++] = fx_api(N_LAUNCH, 2, 10, 20, 211);
	ev[n++] = fx_api(N_RECORD, 3, 20, 25, 135);
	ev[n++] = fx_api(N_WAIT, 4, 25, 30, 147);
	ev[n++] = fx_api(N_LAUNCH, 5, 30, 40, 211);
	ev[n++] = fx_api(N_MEMCPY, 6, 40, 44, 41);
	ev[n++] = fx_api(N_SYNC, 7, 44, 260, 131);
	ev[n++] = fx_gpu(TSM_EV_KERNEL, 0, 1, N_GEMM, 1, 100, 130);
	ev[n++] = fx_gpu(TSM_EV_KERNEL, 0, 2, N_NCCL, 2, 110, 120);
	ev[n] = fx_gpu(TSM_EV_SYNC, 0, 1, 0, 3, 130, 130);
	ev[n].u.sync.sync_type = TSM_SYNC_EVENT_RECORD;
	ev[n++].u.sync.event_id = 7;
	ev[n] = fx_gpu(TSM_EV_SYNC, 0, 2, 0, 4, 120, 130);
	ev[n].u.sync.sync_type = TSM_SYNC_STREAM_WAIT_EVENT;
	ev[n++].u.sync.event_id = 7;
	ev[n++] = fx_gpu(TSM_EV_KERNEL, 0, 2, N_GEMM, 5, 140, 200);
	ev[n] = fx_gpu(TSM_EV_MEMCPY, 0, 1, 0, 6, 150, 210);
	ev[n].flags = TSM_EVF_ASYNC;
	ev[n].u.memcpy.bytes = 1000;
	ev[n++].u.memcpy.copy_kind = TSM_COPY_H2D;
	ev[n] = fx_gpu(TSM_EV_SYNC, 0, 2, 0, 7, 44, 200);
	ev[n++].u.sync.sync_type = TSM_SYNC_STREAM;
	ev[n] = fx_api(N_STEP, 0, 0, 45, 0);
	ev[n++].kind = TSM_EV_NVTX_RANGE;
	ev[n] = fx_api(N_FWD, 0, 5, 32, 0);
	ev[n++].kind = TSM_EV_NVTX_RANGE;
	/* a CPU op and a counter: counted, not kept */
	ev[n] = fx_api(0, 0, 1, 2, 0);
	ev[n++].kind = TSM_EV_CPU_OP;
	return n;
}

/* Build and finish the fixture timeline, adding events in reverse. */
static inline int fx_build(tsm_timeline **out)
{
	tsm_event ev[32];
	size_t n = fx_events(ev);
	tsm_timeline *tl;
	int rc = tsm_timeline_create(fx_name, NULL, &tl);

	if (rc < 0)
		return rc;
	for (size_t i = n; i-- > 0;) {
		rc = tsm_timeline_add(tl, &ev[i]);
		if (rc < 0)
			goto fail;
	}
	rc = tsm_timeline_finish(tl);
	if (rc < 0)
		goto fail;
	*out = tl;
	return 0;
fail:
	tsm_timeline_destroy(tl);
	return rc;
}

#endif
