/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The floor of the capture-overhead benchmark: a minimal CUPTI injection that enables the same
 * activity kinds and callback domains as libtracesmith-agent.so (kinds from
 * tsm__cupti_activity_kinds, the resource domain's context-created callback, the NVTX domain)
 * and discards every record. Whatever the agent costs on top of this is TraceSmith's own cost.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "capture/cupti/cupti-glue.h"

__attribute__((visibility("default"))) int InitializeInjection(void);

static CUpti_SubscriberHandle sub;
static _Atomic unsigned long long nrec, nbuf;
static int enabled;

static void CUPTIAPI nop(void *u, CUpti_CallbackDomain d, CUpti_CallbackId c, const void *p)
{
	(void)u, (void)d, (void)c, (void)p;
}

static void CUPTIAPI requested(uint8_t **buf, size_t *size, size_t *max)
{
	*size = 4u << 20;
	*buf = aligned_alloc(8, *size);
	*max = 0;
}

static void CUPTIAPI completed(CUcontext c, uint32_t s, uint8_t *buf, size_t size, size_t valid)
{
	CUpti_Activity *rec = NULL;

	(void)c, (void)s, (void)size;
	/* Walk the records as any consumer must, then drop them. */
	while (cuptiActivityGetNextRecord(buf, valid, &rec) == CUPTI_SUCCESS)
		atomic_fetch_add_explicit(&nrec, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&nbuf, 1, memory_order_relaxed);
	free(buf);
}

static void at_exit(void)
{
	cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
	/* The benchmark checks this line: a floor that recorded nothing measured nothing. */
	fprintf(stderr, "floor: %d activity kinds enabled, %llu records in %llu buffers\n", enabled,
		(unsigned long long)atomic_load(&nrec), (unsigned long long)atomic_load(&nbuf));
}

int InitializeInjection(void)
{
	CUpti_ActivityKind k[16];
	size_t n = tsm__cupti_activity_kinds(TSM__CUPTI_KINDS_ALL, k, 16);
	CUptiResult r = cuptiSubscribe(&sub, nop, NULL);

	if (r != CUPTI_SUCCESS) {
		fprintf(stderr, "floor: cuptiSubscribe failed (%d)\n", (int)r);
		return 1;
	}
	cuptiEnableCallback(1, sub, CUPTI_CB_DOMAIN_RESOURCE, CUPTI_CBID_RESOURCE_CONTEXT_CREATED);
	cuptiEnableDomain(1, sub, CUPTI_CB_DOMAIN_NVTX);
	cuptiActivityRegisterCallbacks(requested, completed);
	cuptiSetThreadIdType(CUPTI_ACTIVITY_THREAD_ID_TYPE_SYSTEM);
	for (size_t i = 0; i < n; i++)
		enabled += cuptiActivityEnable(k[i]) == CUPTI_SUCCESS;
	atexit(at_exit);
	return 1;
}
