/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NVTX ranges and markers, from CUPTI's NVTX callback domain.
 *
 * The NVTX library forwards every call to the injection named by
 * NVTX_INJECTION64_PATH (record points it at this agent, which hands it to
 * CUPTI: see InitializeInjectionNvtx2 in agent.c); CUPTI then calls our
 * subscriber on the calling thread.
 *
 * Push/pop ranges nest per thread: a thread-local stack holds the open
 * ranges; pop closes the innermost one and emits a RANGE event. Each
 * push gets a process-unique range id, which becomes the event's
 * `external` and is pushed as a CUPTI external correlation id (kind
 * CUSTOM0) for the duration of the range, so CUPTI links every API call
 * made inside it (and through correlation, the GPU work it launched) to
 * the range: activity.c fills `external` from those records.
 *
 * Start/end ranges may end on another thread: they live in a small global
 * table keyed by the nvtxRangeId_t that nvtxRangeStart returned (CUPTI
 * passes it as functionReturnValue). A pop or end without a matching
 * start is counted (nvtx_unmatched), never guessed.
 *
 * Domains and registered strings are handles: their names are learned
 * from the nvtxDomainCreate / nvtxDomainRegisterString callbacks (again
 * through functionReturnValue) and kept, as text, in a small handle table.
 *
 * Sessions (in-process capture may start and stop several times): names
 * are interned only while the agent is RUNNING (agent_enter), and open
 * ranges remember the session they began in. A range that began in an
 * earlier session holds ids of a closed writer's tables: it is counted
 * as unmatched, never written. Handles keep text for the same reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <generated_nvtx_meta.h>
#include <nvtx3/nvToolsExt.h>

#include "agent.h"

#define DEPTH	     128
#define OPEN_SLOTS   1024
#define HANDLE_SLOTS 1024

struct open_range {
	uint64_t start;
	uint32_t name, domain, color, category;
	uint64_t ext;
	unsigned session;
};

static __thread struct open_range tl_stack[DEPTH];
static __thread unsigned tl_depth; /* may exceed DEPTH: deeper ranges are counted, not kept */

struct started {
	uint64_t key; /* nvtxRangeId_t, 0: free */
	uint64_t start, tid;
	uint32_t name, domain, color, category;
	unsigned session;
};

struct handle {
	const void *h;
	char *text;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct started open_tab[OPEN_SLOTS];
static struct handle handles[HANDLE_SLOTS];
static _Atomic uint64_t next_range;

static void handle_put(const void *h, const char *text)
{
	size_t i = ((uintptr_t)h >> 4) % HANDLE_SLOTS;
	char *copy;

	if (!h || !text || !(copy = strdup(text)))
		return;
	pthread_mutex_lock(&lock);
	for (size_t n = 0; n < HANDLE_SLOTS; n++, i = (i + 1) % HANDLE_SLOTS)
		if (!handles[i].h || handles[i].h == h) {
			handles[i].h = h;
			free(handles[i].text);
			handles[i].text = copy;
			copy = NULL;
			break;
		}
	pthread_mutex_unlock(&lock);
	free(copy);
}

static uint32_t handle_get(const void *h)
{
	size_t i = ((uintptr_t)h >> 4) % HANDLE_SLOTS;
	char buf[256] = "";

	if (!h)
		return 0;
	pthread_mutex_lock(&lock);
	for (size_t n = 0; n < HANDLE_SLOTS && handles[i].h; n++, i = (i + 1) % HANDLE_SLOTS)
		if (handles[i].h == h) {
			snprintf(buf, sizeof(buf), "%s", handles[i].text);
			break;
		}
	pthread_mutex_unlock(&lock);
	if (!buf[0])
		snprintf(buf, sizeof(buf), "nvtx-handle-%p", h);
	return agent_intern(buf);
}

static uint32_t wide(const wchar_t *w)
{
	char buf[512];

	if (!w)
		return 0;
	snprintf(buf, sizeof(buf), "%ls", w);
	return agent_intern(buf);
}

/* Name, color and category of an event attribute structure. */
static void attrs(const nvtxEventAttributes_t *a, uint32_t *name, uint32_t *color,
		  uint32_t *category)
{
	*name = *color = *category = 0;
	if (!a)
		return;
	switch (a->messageType) {
	case NVTX_MESSAGE_TYPE_ASCII:
		*name = agent_intern(a->message.ascii);
		break;
	case NVTX_MESSAGE_TYPE_UNICODE:
		*name = wide(a->message.unicode);
		break;
	case NVTX_MESSAGE_TYPE_REGISTERED:
		*name = handle_get(a->message.registered);
		break;
	default:
		break;
	}
	if (a->colorType == NVTX_COLOR_ARGB)
		*color = a->color;
	*category = a->category;
}

static void emit_range(unsigned kind, uint64_t start, uint64_t end, uint64_t tid, uint32_t name,
		       uint32_t domain, uint32_t color, uint32_t category, uint64_t ext)
{
	tsm_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = (uint8_t)kind;
	ev.device = TSM_DEVICE_NONE;
	ev.pid = (uint32_t)agent_g.pid;
	ev.tid = tid;
	ev.start_ns = start;
	ev.end_ns = end < start ? start : end;
	ev.name = name;
	ev.external = ext;
	ev.u.nvtx.domain = domain;
	ev.u.nvtx.color = color;
	ev.u.nvtx.category = category;
	agent_emit(&ev);
	agent_publish();
}

static void push(uint32_t name, uint32_t domain, uint32_t color, uint32_t category)
{
	uint64_t ext = atomic_fetch_add_explicit(&next_range, 1, memory_order_relaxed) + 1;

	if (tl_depth < DEPTH) {
		struct open_range *r = &tl_stack[tl_depth];

		r->start = agent_now();
		r->name = name;
		r->domain = domain;
		r->color = color;
		r->category = category;
		r->ext = ext;
		r->session = agent_g.session;
		cuptiActivityPushExternalCorrelationId(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0,
						       ext);
	}
	tl_depth++;
}

static void pop(void)
{
	uint64_t last = 0;

	if (!tl_depth) {
		atomic_fetch_add_explicit(&agent_g.nvtx_unmatched, 1, memory_order_relaxed);
		return;
	}
	if (--tl_depth < DEPTH) {
		struct open_range *r = &tl_stack[tl_depth];

		cuptiActivityPopExternalCorrelationId(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0,
						      &last);
		if (r->session != agent_g.session) {
			atomic_fetch_add_explicit(&agent_g.nvtx_unmatched, 1, memory_order_relaxed);
			return;
		}
		emit_range(TSM_EV_NVTX_RANGE, r->start, agent_now(), agent_gettid(), r->name,
			   r->domain, r->color, r->category, r->ext);
	}
}

static void start(const void *ret, uint32_t name, uint32_t domain, uint32_t color,
		  uint32_t category)
{
	uint64_t key = ret ? *(const nvtxRangeId_t *)ret : 0;
	size_t i = (size_t)(key % OPEN_SLOTS);
	int stored = 0;

	if (!key) {
		atomic_fetch_add_explicit(&agent_g.nvtx_unmatched, 1, memory_order_relaxed);
		return;
	}
	pthread_mutex_lock(&lock);
	for (size_t n = 0; n < OPEN_SLOTS; n++, i = (i + 1) % OPEN_SLOTS)
		if (!open_tab[i].key) {
			open_tab[i] =
			    (struct started){key,    agent_now(), agent_gettid(), name,
					     domain, color,	  category,	  agent_g.session};
			stored = 1;
			break;
		}
	pthread_mutex_unlock(&lock);
	if (!stored)
		atomic_fetch_add_explicit(&agent_g.nvtx_unmatched, 1, memory_order_relaxed);
}

static void end(uint64_t key)
{
	size_t i = (size_t)(key % OPEN_SLOTS);
	struct started s = {0};

	pthread_mutex_lock(&lock);
	for (size_t n = 0; key && n < OPEN_SLOTS; n++, i = (i + 1) % OPEN_SLOTS)
		if (open_tab[i].key == key) {
			s = open_tab[i];
			open_tab[i].key = 0;
			/* Keep probe chains intact: re-insert the entries after i. */
			for (size_t j = (i + 1) % OPEN_SLOTS; open_tab[j].key;
			     j = (j + 1) % OPEN_SLOTS) {
				struct started e = open_tab[j];
				size_t k = (size_t)(e.key % OPEN_SLOTS);

				open_tab[j].key = 0;
				while (open_tab[k].key)
					k = (k + 1) % OPEN_SLOTS;
				open_tab[k] = e;
			}
			break;
		}
	pthread_mutex_unlock(&lock);
	if (!s.key || s.session != agent_g.session) {
		atomic_fetch_add_explicit(&agent_g.nvtx_unmatched, 1, memory_order_relaxed);
		return;
	}
	emit_range(TSM_EV_NVTX_RANGE, s.start, agent_now(), s.tid, s.name, s.domain, s.color,
		   s.category, 0);
}

static void mark(uint32_t name, uint32_t domain, uint32_t color, uint32_t category)
{
	uint64_t t = agent_now();

	emit_range(TSM_EV_NVTX_MARK, t, t, agent_gettid(), name, domain, color, category, 0);
}

void agent_nvtx_callback(CUpti_CallbackId cbid, const CUpti_NvtxData *d, int on)
{
	const void *p = d->functionParams;
	const void *ret = d->functionReturnValue;
	uint32_t name = 0, color = 0, cat = 0;

	if (!on && cbid != CUPTI_CBID_NVTX_nvtxDomainCreateA &&
	    cbid != CUPTI_CBID_NVTX_nvtxDomainRegisterStringA)
		return;
	switch (cbid) {
	case CUPTI_CBID_NVTX_nvtxRangePushA:
		push(agent_intern(((const nvtxRangePushA_params *)p)->message), 0, 0, 0);
		break;
	case CUPTI_CBID_NVTX_nvtxRangePushW:
		push(wide(((const nvtxRangePushW_params *)p)->message), 0, 0, 0);
		break;
	case CUPTI_CBID_NVTX_nvtxRangePushEx:
		attrs(((const nvtxRangePushEx_params *)p)->eventAttrib, &name, &color, &cat);
		push(name, 0, color, cat);
		break;
	case CUPTI_CBID_NVTX_nvtxDomainRangePushEx: {
		const nvtxDomainRangePushEx_params *q = p;

		attrs(q->core.eventAttrib, &name, &color, &cat);
		push(name, handle_get(q->domain), color, cat);
		break;
	}
	case CUPTI_CBID_NVTX_nvtxRangePop:
	case CUPTI_CBID_NVTX_nvtxDomainRangePop:
		pop();
		break;
	case CUPTI_CBID_NVTX_nvtxRangeStartA:
		start(ret, agent_intern(((const nvtxRangeStartA_params *)p)->message), 0, 0, 0);
		break;
	case CUPTI_CBID_NVTX_nvtxRangeStartW:
		start(ret, wide(((const nvtxRangeStartW_params *)p)->message), 0, 0, 0);
		break;
	case CUPTI_CBID_NVTX_nvtxRangeStartEx:
		attrs(((const nvtxRangeStartEx_params *)p)->eventAttrib, &name, &color, &cat);
		start(ret, name, 0, color, cat);
		break;
	case CUPTI_CBID_NVTX_nvtxDomainRangeStartEx: {
		const nvtxDomainRangeStartEx_params *q = p;

		attrs(q->core.eventAttrib, &name, &color, &cat);
		start(ret, name, handle_get(q->domain), color, cat);
		break;
	}
	case CUPTI_CBID_NVTX_nvtxRangeEnd:
		end(((const nvtxRangeEnd_params *)p)->id);
		break;
	case CUPTI_CBID_NVTX_nvtxDomainRangeEnd:
		end(((const nvtxDomainRangeEnd_params *)p)->core.id);
		break;
	case CUPTI_CBID_NVTX_nvtxMarkA:
		mark(agent_intern(((const nvtxMarkA_params *)p)->message), 0, 0, 0);
		break;
	case CUPTI_CBID_NVTX_nvtxMarkW:
		mark(wide(((const nvtxMarkW_params *)p)->message), 0, 0, 0);
		break;
	case CUPTI_CBID_NVTX_nvtxMarkEx:
		attrs(((const nvtxMarkEx_params *)p)->eventAttrib, &name, &color, &cat);
		mark(name, 0, color, cat);
		break;
	case CUPTI_CBID_NVTX_nvtxDomainMarkEx: {
		const nvtxDomainMarkEx_params *q = p;

		attrs(q->core.eventAttrib, &name, &color, &cat);
		mark(name, handle_get(q->domain), color, cat);
		break;
	}
	case CUPTI_CBID_NVTX_nvtxDomainCreateA:
		if (ret)
			handle_put(*(const void *const *)ret,
				   ((const nvtxDomainCreateA_params *)p)->name);
		break;
	case CUPTI_CBID_NVTX_nvtxDomainRegisterStringA:
		if (ret)
			handle_put(*(const void *const *)ret,
				   ((const nvtxDomainRegisterStringA_params *)p)->string);
		break;
	default:
		break;
	}
}
