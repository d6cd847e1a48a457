/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's CUPTI subscriber: one callback, dispatched by domain.
 *
 *   RESOURCE   context created: the driver now answers queries, so the
 *              agent describes the devices and starts its writer thread
 *              (agent_ensure_started), and notes the context's device
 *              (synchronisation records carry only the context).
 *   RUNTIME_API / DRIVER_API   only with --stacks: at API entry, unwind
 *              the calling thread's stack and file it under the call's
 *              correlation id (stacks.c). The API events themselves come
 *              from activity records, which cost the application less
 *              than building events in callbacks.
 *   NVTX       ranges and markers (nvtx.c).
 *
 * Work that uses the writer's tables (stacks, NVTX names) runs between
 * agent_enter and agent_leave (emit.c), so a stop never closes the writer
 * under a callback.
 *
 * In-process capture (tsm_agent_stop) unsubscribes, so that another tool
 * can subscribe after it; the next tsm_agent_start subscribes again.
 *
 * CUPTI allows one subscriber per process. When another tool (Nsight
 * Systems, a framework's own profiler) holds it, cuptiSubscribe returns
 * CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED; the agent then stays out
 * of the way and reports why (agent.c).
 */
#include "agent.h"

/* Runtime API calls in progress on this thread (--stacks). */
static __thread unsigned tl_in_runtime;

static void CUPTIAPI on_callback(void *user, CUpti_CallbackDomain dom, CUpti_CallbackId cbid,
				 const void *data)
{
	int on;

	switch (dom) {
	case CUPTI_CB_DOMAIN_RESOURCE:
		if (cbid == CUPTI_CBID_RESOURCE_CONTEXT_CREATED) {
			const CUpti_ResourceData *rd = data;
			uint32_t ctx, dev;

			agent_ensure_started();
			/* Synchronisation records name a context, not a device: learn the
			 * context's device now, before any kernel or copy record of it. */
			if (rd && rd->context &&
			    cuptiGetContextId(rd->context, &ctx) == CUPTI_SUCCESS &&
			    cuptiGetDeviceId(rd->context, &dev) == CUPTI_SUCCESS)
				agent_note_context(ctx, dev);
		}
		break;
	case CUPTI_CB_DOMAIN_RUNTIME_API: {
		const CUpti_CallbackData *cd = data;

		if (cd->callbackSite == CUPTI_API_ENTER) {
			tl_in_runtime++;
			if (agent_enter()) {
				agent_stacks_capture(cd->correlationId);
				agent_leave();
			}
		} else if (tl_in_runtime) {
			tl_in_runtime--;
		}
		break;
	}
	case CUPTI_CB_DOMAIN_DRIVER_API: {
		const CUpti_CallbackData *cd = data;

		/* A driver call made by a runtime call has the same stack, one frame
		 * deeper: unwinding it again would double the cost of --stacks. */
		if (cd->callbackSite == CUPTI_API_ENTER && !tl_in_runtime && agent_enter()) {
			agent_stacks_capture(cd->correlationId);
			agent_leave();
		}
		break;
	}
	case CUPTI_CB_DOMAIN_NVTX:
		on = agent_enter();
		agent_nvtx_callback(cbid, data, on);
		if (on)
			agent_leave();
		break;
	default:
		break;
	}
}

static int check(CUptiResult r, const char *what)
{
	const char *s = NULL;

	if (r == CUPTI_SUCCESS)
		return 0;
	cuptiGetResultString(r, &s);
	agent_warn("%s: %s", what, s ? s : "unknown CUPTI error");
	return (int)r;
}

int agent_callbacks_start(void)
{
	struct agent *g = &agent_g;
	unsigned k = g->cfg.kinds;
	CUptiResult r;

	r = cuptiSubscribe(&g->sub, on_callback, NULL);
	if (r != CUPTI_SUCCESS)
		return (int)r;
	g->subscribed = 1;
	r = cuptiEnableCallback(1, g->sub, CUPTI_CB_DOMAIN_RESOURCE,
				CUPTI_CBID_RESOURCE_CONTEXT_CREATED);
	if (check(r, "resource callbacks"))
		return (int)r;
	/* A failure below is warned about; capture goes on without that part. */
	if (g->cfg.stacks && (k & (1u << TSM__CUPTI_KB_RUNTIME)))
		check(cuptiEnableDomain(1, g->sub, CUPTI_CB_DOMAIN_RUNTIME_API),
		      "runtime callbacks");
	if (g->cfg.stacks && (k & (1u << TSM__CUPTI_KB_DRIVER)))
		check(cuptiEnableDomain(1, g->sub, CUPTI_CB_DOMAIN_DRIVER_API), "driver callbacks");
	if (k & (1u << TSM__CUPTI_KB_NVTX))
		check(cuptiEnableDomain(1, g->sub, CUPTI_CB_DOMAIN_NVTX), "NVTX callbacks");
	return 0;
}

void agent_callbacks_stop(void)
{
	if (agent_g.subscribed) {
		cuptiUnsubscribe(agent_g.sub);
		agent_g.subscribed = 0;
	}
}
