/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CUPTI activity records -> tsm_event, and the --kinds groups.
 *
 * Each record kind the agent enables has one converter below; the switch in
 * tsm__cupti_convert picks it by CUpti_Activity.kind. Converters copy the
 * fields the event model has (see event.h) and ask the caller, through
 * struct tsm__cupti_conv, for what needs state: interned names, the
 * external id of a correlation id (filled from EXTERNAL_CORRELATION records
 * and the agent's NVTX range stack), the call-stack id of an API call, and
 * the device of a context (synchronisation records name only the context).
 *
 * Timestamps are copied unchanged: the file's clock is CUPTI's. A record
 * whose end precedes its start (CUPTI leaves end 0 for work still running
 * at a forced flush) gets end = start, so the writer accepts it; the
 * record is kept rather than lost.
 *
 * Kernels come only from CONCURRENT_KERNEL: the serialising KERNEL kind is
 * never enabled (it would change the application's concurrency).
 */
#include <string.h>

#include "capture/cupti/cupti-glue.h"

static const char *const kind_names[TSM__CUPTI_KB__COUNT] = {
#define TSM__CUPTI_KNAME(name, text) text,
    TSM__CUPTI_KIND_LIST(TSM__CUPTI_KNAME)
#undef TSM__CUPTI_KNAME
};

unsigned tsm__cupti_kinds_parse(const char *list, const char **bad, size_t *badlen)
{
	unsigned mask = 0;
	const char *p = list;

	*bad = list;
	*badlen = 0;
	if (!list || !*list)
		return 0;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		unsigned bit = 0;

		if (n == 3 && !memcmp(p, "all", 3))
			bit = TSM__CUPTI_KINDS_ALL;
		for (unsigned k = 0; !bit && k < TSM__CUPTI_KB__COUNT; k++)
			if (strlen(kind_names[k]) == n && !memcmp(p, kind_names[k], n))
				bit = 1u << k;
		if (!bit) {
			*bad = p;
			*badlen = n;
			return 0;
		}
		mask |= bit;
		if (!e)
			break;
		p = e + 1;
	}
	return mask;
}

size_t tsm__cupti_activity_kinds(unsigned mask, CUpti_ActivityKind *out, size_t cap)
{
	CUpti_ActivityKind k[16];
	size_t n = 0;

	if (mask & (1u << TSM__CUPTI_KB_KERNEL))
		k[n++] = CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL;
	if (mask & (1u << TSM__CUPTI_KB_MEMCPY)) {
		k[n++] = CUPTI_ACTIVITY_KIND_MEMCPY;
		k[n++] = CUPTI_ACTIVITY_KIND_MEMCPY2;
	}
	if (mask & (1u << TSM__CUPTI_KB_MEMSET))
		k[n++] = CUPTI_ACTIVITY_KIND_MEMSET;
	if (mask & (1u << TSM__CUPTI_KB_SYNC)) {
		k[n++] = CUPTI_ACTIVITY_KIND_SYNCHRONIZATION;
		k[n++] = CUPTI_ACTIVITY_KIND_CUDA_EVENT;
	}
	if (mask & (1u << TSM__CUPTI_KB_MEMORY))
		k[n++] = CUPTI_ACTIVITY_KIND_MEMORY2;
	if (mask & (1u << TSM__CUPTI_KB_RUNTIME))
		k[n++] = CUPTI_ACTIVITY_KIND_RUNTIME;
	if (mask & (1u << TSM__CUPTI_KB_DRIVER))
		k[n++] = CUPTI_ACTIVITY_KIND_DRIVER;
	k[n++] = CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION;
	k[n++] = CUPTI_ACTIVITY_KIND_OVERHEAD;
	if (n > cap)
		n = cap;
	memcpy(out, k, n * sizeof(k[0]));
	return n;
}

unsigned tsm__cupti_copy_kind(unsigned c)
{
	switch (c) {
	case CUPTI_ACTIVITY_MEMCPY_KIND_HTOD:
	case CUPTI_ACTIVITY_MEMCPY_KIND_HTOA:
		return TSM_COPY_H2D;
	case CUPTI_ACTIVITY_MEMCPY_KIND_DTOH:
	case CUPTI_ACTIVITY_MEMCPY_KIND_ATOH:
		return TSM_COPY_D2H;
	case CUPTI_ACTIVITY_MEMCPY_KIND_DTOD:
	case CUPTI_ACTIVITY_MEMCPY_KIND_ATOA:
	case CUPTI_ACTIVITY_MEMCPY_KIND_ATOD:
	case CUPTI_ACTIVITY_MEMCPY_KIND_DTOA:
		return TSM_COPY_D2D;
	case CUPTI_ACTIVITY_MEMCPY_KIND_HTOH:
		return TSM_COPY_H2H;
	case CUPTI_ACTIVITY_MEMCPY_KIND_PTOP:
		return TSM_COPY_P2P;
	default:
		return TSM_COPY_UNKNOWN;
	}
}

unsigned tsm__cupti_mem_kind(unsigned m)
{
	/* CUpti_ActivityMemoryKind 0..7 and enum tsm_mem_kind share their values. */
	return m < TSM_MEM__COUNT ? m : TSM_MEM_UNKNOWN;
}

unsigned tsm__cupti_sync_type(unsigned t)
{
	switch (t) {
	case CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_EVENT_SYNCHRONIZE:
		return TSM_SYNC_EVENT;
	case CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_STREAM_WAIT_EVENT:
		return TSM_SYNC_STREAM_WAIT_EVENT;
	case CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_STREAM_SYNCHRONIZE:
		return TSM_SYNC_STREAM;
	case CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_CONTEXT_SYNCHRONIZE:
		return TSM_SYNC_CONTEXT;
	default:
		return TSM_SYNC_UNKNOWN;
	}
}

unsigned tsm__cupti_overhead_kind(unsigned o)
{
	switch (o) {
	case CUPTI_ACTIVITY_OVERHEAD_CUPTI_BUFFER_FLUSH:
		return TSM_OVERHEAD_BUFFER_FLUSH;
	case CUPTI_ACTIVITY_OVERHEAD_CUPTI_INSTRUMENTATION:
		return TSM_OVERHEAD_INSTRUMENTATION;
	case CUPTI_ACTIVITY_OVERHEAD_CUPTI_RESOURCE:
		return TSM_OVERHEAD_RESOURCE;
	default:
		return TSM_OVERHEAD_UNKNOWN;
	}
}

static const char *overhead_text(unsigned o)
{
	switch (o) {
	case CUPTI_ACTIVITY_OVERHEAD_DRIVER_COMPILER:
		return "driver_compiler";
	case CUPTI_ACTIVITY_OVERHEAD_CUPTI_BUFFER_FLUSH:
		return "cupti_buffer_flush";
	case CUPTI_ACTIVITY_OVERHEAD_CUPTI_INSTRUMENTATION:
		return "cupti_instrumentation";
	case CUPTI_ACTIVITY_OVERHEAD_CUPTI_RESOURCE:
		return "cupti_resource";
	case CUPTI_ACTIVITY_OVERHEAD_RUNTIME_TRIGGERED_MODULE_LOADING:
		return "runtime_module_loading";
	case CUPTI_ACTIVITY_OVERHEAD_LAZY_FUNCTION_LOADING:
		return "lazy_function_loading";
	case CUPTI_ACTIVITY_OVERHEAD_COMMAND_BUFFER_FULL:
		return "command_buffer_full";
	case CUPTI_ACTIVITY_OVERHEAD_ACTIVITY_BUFFER_REQUEST:
		return "activity_buffer_request";
	case CUPTI_ACTIVITY_OVERHEAD_UVM_ACTIVITY_INIT:
		return "uvm_activity_init";
	default:
		return "cupti_overhead";
	}
}

static void times(tsm_event *ev, uint64_t start, uint64_t end)
{
	ev->start_ns = start;
	ev->end_ns = end < start ? start : end;
}

static uint64_t ext_of(const struct tsm__cupti_conv *cv, uint32_t corr)
{
	return cv->external_of && corr ? cv->external_of(cv->user, corr) : 0;
}

static uint8_t u8_clamp(uint32_t v)
{
	return v > 255 ? 255 : (uint8_t)v;
}

static uint16_t u16_clamp(int32_t v)
{
	return v < 0 ? 0 : v > 65535 ? 65535 : (uint16_t)v;
}

static uint32_t u32_pos(int32_t v)
{
	return v < 0 ? 0 : (uint32_t)v;
}

static void note(const struct tsm__cupti_conv *cv, uint32_t ctx, uint32_t dev)
{
	if (cv->note_context)
		cv->note_context(cv->user, ctx, dev);
}

static void kernel(const struct tsm__cupti_conv *cv, const CUpti_ActivityKernel10 *k, tsm_event *ev)
{
	tsm_kernel_info *ki = &ev->u.kernel;

	ev->kind = TSM_EV_KERNEL;
	ev->device = (uint16_t)k->deviceId;
	ev->context = k->contextId;
	ev->stream = k->streamId;
	times(ev, k->start, k->end);
	ev->correlation = k->correlationId;
	ev->external = ext_of(cv, k->correlationId);
	ev->name = k->name ? cv->intern(cv->user, k->name) : 0;
	ki->grid[0] = u32_pos(k->gridX);
	ki->grid[1] = u32_pos(k->gridY);
	ki->grid[2] = u32_pos(k->gridZ);
	ki->block[0] = u16_clamp(k->blockX);
	ki->block[1] = u16_clamp(k->blockY);
	ki->block[2] = u16_clamp(k->blockZ);
	ki->cluster[0] = u8_clamp(k->clusterX);
	ki->cluster[1] = u8_clamp(k->clusterY);
	ki->cluster[2] = u8_clamp(k->clusterZ);
	ki->regs_per_thread = k->registersPerThread;
	ki->static_smem_bytes = u32_pos(k->staticSharedMemory);
	ki->dynamic_smem_bytes = u32_pos(k->dynamicSharedMemory);
	ki->graph_id = k->graphId;
	ki->graph_node_id = k->graphNodeId;
	if (k->graphId)
		ev->flags |= TSM_EVF_GRAPH;
	if (k->launchType == CUPTI_ACTIVITY_LAUNCH_TYPE_COOPERATIVE_SINGLE_DEVICE ||
	    k->launchType == CUPTI_ACTIVITY_LAUNCH_TYPE_COOPERATIVE_MULTI_DEVICE)
		ev->flags |= TSM_EVF_COOPERATIVE;
	note(cv, k->contextId, k->deviceId);
}

static void memcpy1(const struct tsm__cupti_conv *cv, const CUpti_ActivityMemcpy6 *m, tsm_event *ev)
{
	tsm_memcpy_info *mi = &ev->u.memcpy;

	ev->kind = TSM_EV_MEMCPY;
	ev->device = (uint16_t)m->deviceId;
	ev->context = m->contextId;
	ev->stream = m->streamId;
	times(ev, m->start, m->end);
	ev->correlation = m->correlationId;
	ev->external = ext_of(cv, m->correlationId);
	mi->bytes = m->bytes;
	mi->copy_kind = (uint8_t)tsm__cupti_copy_kind(m->copyKind);
	mi->src_kind = (uint8_t)tsm__cupti_mem_kind(m->srcKind);
	mi->dst_kind = (uint8_t)tsm__cupti_mem_kind(m->dstKind);
	mi->src_device = mi->dst_device = (uint16_t)m->deviceId;
	mi->graph_id = m->graphId;
	mi->graph_node_id = m->graphNodeId;
	if (m->flags & CUPTI_ACTIVITY_FLAG_MEMCPY_ASYNC)
		ev->flags |= TSM_EVF_ASYNC;
	if (m->graphId)
		ev->flags |= TSM_EVF_GRAPH;
	note(cv, m->contextId, m->deviceId);
}

static void memcpy2(const struct tsm__cupti_conv *cv, const CUpti_ActivityMemcpyPtoP4 *m,
		    tsm_event *ev)
{
	tsm_memcpy_info *mi = &ev->u.memcpy;

	ev->kind = TSM_EV_MEMCPY;
	ev->device = (uint16_t)m->deviceId;
	ev->context = m->contextId;
	ev->stream = m->streamId;
	times(ev, m->start, m->end);
	ev->correlation = m->correlationId;
	ev->external = ext_of(cv, m->correlationId);
	mi->bytes = m->bytes;
	mi->copy_kind = m->srcDeviceId != m->dstDeviceId
			    ? TSM_COPY_P2P
			    : (uint8_t)tsm__cupti_copy_kind(m->copyKind);
	mi->src_kind = (uint8_t)tsm__cupti_mem_kind(m->srcKind);
	mi->dst_kind = (uint8_t)tsm__cupti_mem_kind(m->dstKind);
	mi->src_device = (uint16_t)m->srcDeviceId;
	mi->dst_device = (uint16_t)m->dstDeviceId;
	mi->graph_id = m->graphId;
	mi->graph_node_id = m->graphNodeId;
	if (m->flags & CUPTI_ACTIVITY_FLAG_MEMCPY_ASYNC)
		ev->flags |= TSM_EVF_ASYNC;
	if (m->graphId)
		ev->flags |= TSM_EVF_GRAPH;
	note(cv, m->contextId, m->deviceId);
}

static void memset1(const struct tsm__cupti_conv *cv, const CUpti_ActivityMemset4 *m, tsm_event *ev)
{
	ev->kind = TSM_EV_MEMSET;
	ev->device = (uint16_t)m->deviceId;
	ev->context = m->contextId;
	ev->stream = m->streamId;
	times(ev, m->start, m->end);
	ev->correlation = m->correlationId;
	ev->external = ext_of(cv, m->correlationId);
	ev->u.memset.bytes = m->bytes;
	ev->u.memset.value = m->value;
	ev->u.memset.mem_kind = (uint8_t)tsm__cupti_mem_kind(m->memoryKind);
	ev->u.memset.graph_id = m->graphId;
	ev->u.memset.graph_node_id = m->graphNodeId;
	if (m->flags & CUPTI_ACTIVITY_FLAG_MEMSET_ASYNC)
		ev->flags |= TSM_EVF_ASYNC;
	if (m->graphId)
		ev->flags |= TSM_EVF_GRAPH;
	note(cv, m->contextId, m->deviceId);
}

static void memory(const struct tsm__cupti_conv *cv, const CUpti_ActivityMemory4 *m, tsm_event *ev)
{
	ev->kind = m->memoryOperationType == CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_RELEASE
		       ? TSM_EV_FREE
		       : TSM_EV_ALLOC;
	ev->device = (uint16_t)m->deviceId;
	ev->context = m->contextId;
	/* Synchronous allocations have no stream: CUPTI says 0xFFFFFFFF. */
	ev->stream = m->streamId == 0xFFFFFFFFu ? 0 : m->streamId;
	times(ev, m->timestamp, m->timestamp);
	ev->correlation = m->correlationId;
	ev->external = ext_of(cv, m->correlationId);
	if (m->processId)
		ev->pid = m->processId;
	ev->name = m->name && m->name[0] ? cv->intern(cv->user, m->name) : 0;
	ev->u.memory.address = m->address;
	ev->u.memory.bytes = m->bytes;
	ev->u.memory.mem_kind = (uint8_t)tsm__cupti_mem_kind(m->memoryKind);
	if (m->isAsync)
		ev->flags |= TSM_EVF_ASYNC;
}

static void api(const struct tsm__cupti_conv *cv, const CUpti_ActivityAPI *a, tsm_event *ev)
{
	int rt = a->kind == CUPTI_ACTIVITY_KIND_RUNTIME;

	ev->kind = rt ? TSM_EV_RUNTIME : TSM_EV_DRIVER;
	ev->device = TSM_DEVICE_NONE;
	times(ev, a->start, a->end);
	if (a->processId)
		ev->pid = a->processId;
	ev->tid = a->threadId;
	ev->correlation = a->correlationId;
	ev->external = ext_of(cv, a->correlationId);
	ev->name = cv->api_name(
	    cv->user, rt ? CUPTI_CB_DOMAIN_RUNTIME_API : CUPTI_CB_DOMAIN_DRIVER_API, a->cbid);
	ev->stack = cv->stack_of && a->correlationId ? cv->stack_of(cv->user, a->correlationId) : 0;
	ev->u.api.cbid = a->cbid;
	ev->u.api.status = (int32_t)a->returnValue;
}

static void sync1(const struct tsm__cupti_conv *cv, const CUpti_ActivitySynchronization2 *s,
		  tsm_event *ev)
{
	unsigned t = tsm__cupti_sync_type(s->type);

	ev->kind = TSM_EV_SYNC;
	times(ev, s->start, s->end);
	ev->context = s->contextId == CUPTI_SYNCHRONIZATION_INVALID_VALUE ? 0 : s->contextId;
	ev->stream = s->streamId == CUPTI_SYNCHRONIZATION_INVALID_VALUE ? 0 : s->streamId;
	ev->device =
	    cv->device_of_context ? cv->device_of_context(cv->user, ev->context) : TSM_DEVICE_NONE;
	ev->correlation = s->correlationId;
	ev->external = ext_of(cv, s->correlationId);
	ev->name = cv->intern(cv->user, tsm_sync_type_name(t));
	ev->u.sync.sync_type = (uint8_t)t;
	ev->u.sync.event_id =
	    s->cudaEventId == CUPTI_SYNCHRONIZATION_INVALID_VALUE ? 0 : s->cudaEventId;
}

static int cuda_event(const struct tsm__cupti_conv *cv, const CUpti_ActivityCudaEvent2 *e,
		      tsm_event *ev)
{
	/* Without a device timestamp the record has no place on the timeline. */
	if (!e->deviceTimestamp)
		return TSM__CUPTI_SKIP;
	ev->kind = TSM_EV_SYNC;
	times(ev, e->deviceTimestamp, e->deviceTimestamp);
	ev->device = (uint16_t)e->deviceId;
	ev->context = e->contextId;
	ev->stream = e->streamId;
	ev->correlation = e->correlationId;
	ev->external = ext_of(cv, e->correlationId);
	ev->name = cv->intern(cv->user, tsm_sync_type_name(TSM_SYNC_EVENT_RECORD));
	ev->u.sync.sync_type = TSM_SYNC_EVENT_RECORD;
	ev->u.sync.event_id = e->eventId;
	note(cv, e->contextId, e->deviceId);
	return TSM__CUPTI_EVENT;
}

static void overhead(const struct tsm__cupti_conv *cv, const CUpti_ActivityOverhead3 *o,
		     tsm_event *ev)
{
	ev->kind = TSM_EV_OVERHEAD;
	ev->device = TSM_DEVICE_NONE;
	times(ev, o->start, o->end);
	ev->correlation = o->correlationId;
	switch (o->objectKind) {
	case CUPTI_ACTIVITY_OBJECT_PROCESS:
		ev->pid = o->objectId.pt.processId ? o->objectId.pt.processId : ev->pid;
		break;
	case CUPTI_ACTIVITY_OBJECT_THREAD:
		ev->pid = o->objectId.pt.processId ? o->objectId.pt.processId : ev->pid;
		ev->tid = o->objectId.pt.threadId;
		break;
	case CUPTI_ACTIVITY_OBJECT_DEVICE:
	case CUPTI_ACTIVITY_OBJECT_CONTEXT:
	case CUPTI_ACTIVITY_OBJECT_STREAM:
		ev->device = (uint16_t)o->objectId.dcs.deviceId;
		ev->context = o->objectId.dcs.contextId;
		ev->stream = o->objectId.dcs.streamId;
		break;
	default:
		break;
	}
	ev->name = cv->intern(cv->user, overhead_text(o->overheadKind));
	ev->u.overhead.overhead_kind = (uint8_t)tsm__cupti_overhead_kind(o->overheadKind);
}

int tsm__cupti_convert(const struct tsm__cupti_conv *cv, const CUpti_Activity *rec, tsm_event *ev,
		       uint32_t *ext_corr, uint64_t *ext_id)
{
	memset(ev, 0, sizeof(*ev));
	ev->pid = cv->pid;
	*ext_corr = 0;
	*ext_id = 0;
	switch (rec->kind) {
	case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL:
	case CUPTI_ACTIVITY_KIND_KERNEL:
		kernel(cv, (const CUpti_ActivityKernel10 *)(const void *)rec, ev);
		return TSM__CUPTI_EVENT;
	case CUPTI_ACTIVITY_KIND_MEMCPY:
		memcpy1(cv, (const CUpti_ActivityMemcpy6 *)(const void *)rec, ev);
		return TSM__CUPTI_EVENT;
	case CUPTI_ACTIVITY_KIND_MEMCPY2:
		memcpy2(cv, (const CUpti_ActivityMemcpyPtoP4 *)(const void *)rec, ev);
		return TSM__CUPTI_EVENT;
	case CUPTI_ACTIVITY_KIND_MEMSET:
		memset1(cv, (const CUpti_ActivityMemset4 *)(const void *)rec, ev);
		return TSM__CUPTI_EVENT;
	case CUPTI_ACTIVITY_KIND_MEMORY2:
		memory(cv, (const CUpti_ActivityMemory4 *)(const void *)rec, ev);
		return TSM__CUPTI_EVENT;
	case CUPTI_ACTIVITY_KIND_RUNTIME:
	case CUPTI_ACTIVITY_KIND_DRIVER:
		api(cv, (const CUpti_ActivityAPI *)(const void *)rec, ev);
		return TSM__CUPTI_EVENT;
	case CUPTI_ACTIVITY_KIND_SYNCHRONIZATION:
		sync1(cv, (const CUpti_ActivitySynchronization2 *)(const void *)rec, ev);
		return TSM__CUPTI_EVENT;
	case CUPTI_ACTIVITY_KIND_CUDA_EVENT:
		return cuda_event(cv, (const CUpti_ActivityCudaEvent2 *)(const void *)rec, ev);
	case CUPTI_ACTIVITY_KIND_OVERHEAD:
		overhead(cv, (const CUpti_ActivityOverhead3 *)(const void *)rec, ev);
		return TSM__CUPTI_EVENT;
	case CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION: {
		const CUpti_ActivityExternalCorrelation *x = (const void *)rec;

		*ext_corr = x->correlationId;
		*ext_id = x->externalId;
		return TSM__CUPTI_SKIP;
	}
	default:
		return TSM__CUPTI_SKIP;
	}
}
