/* SPDX-License-Identifier: Apache-2.0 */
/* Names of event kinds and enum values, for display and command-line parsing. */
#include "internal.h"
#include "tracesmith/event.h"

_Static_assert(sizeof(tsm_event) == 128, "tsm_event is a 128-byte record");
_Static_assert(sizeof(tsm_kv) == 16, "tsm_kv has no padding");
_Static_assert(sizeof(tsm_frame) == 24, "tsm_frame has no padding");

static const char *const kind_names[TSM_EV__COUNT] = {[TSM_EV_NONE] = "none",
#define X(name, value, text) [value] = text,
						      TSM_EVENT_KIND_LIST(X)
#undef X
};

const char *tsm_event_kind_name(unsigned kind)
{
	return kind < TSM_EV__COUNT && kind_names[kind] ? kind_names[kind] : "?";
}

unsigned tsm_event_kind_from_name(const char *name)
{
	for (unsigned k = 1; k < TSM_EV__COUNT; k++)
		if (kind_names[k] && strcmp(kind_names[k], name) == 0)
			return k;
	/* Accepted aliases. */
	if (!strcmp(name, "nvtx") || !strcmp(name, "nvtx_range"))
		return TSM_EV_NVTX_RANGE;
	if (!strcmp(name, "mark") || !strcmp(name, "nvtx_mark"))
		return TSM_EV_NVTX_MARK;
	if (!strcmp(name, "api_runtime") || !strcmp(name, "cuda_runtime"))
		return TSM_EV_RUNTIME;
	if (!strcmp(name, "api_driver") || !strcmp(name, "cuda_driver"))
		return TSM_EV_DRIVER;
	if (!strcmp(name, "memory_alloc") || !strcmp(name, "malloc"))
		return TSM_EV_ALLOC;
	return TSM_EV_NONE;
}

const char *tsm_copy_kind_name(unsigned k)
{
	static const char *const n[TSM_COPY__COUNT] = {"?", "HtoD", "DtoH", "DtoD", "HtoH", "PtoP"};

	return k < TSM_COPY__COUNT ? n[k] : "?";
}

const char *tsm_mem_kind_name(unsigned k)
{
	static const char *const n[TSM_MEM__COUNT] = {"unknown",       "pageable",	"pinned",
						      "device",	       "array",		"managed",
						      "device_static", "managed_static"};

	return k < TSM_MEM__COUNT ? n[k] : "?";
}

const char *tsm_sync_type_name(unsigned k)
{
	static const char *const n[TSM_SYNC__COUNT] = {"unknown",	    "event_sync",
						       "stream_wait_event", "stream_sync",
						       "context_sync",	    "event_record"};

	return k < TSM_SYNC__COUNT ? n[k] : "?";
}

const char *tsm_flow_type_name(unsigned k)
{
	switch (k) {
	case TSM_FLOW_START:
		return "start";
	case TSM_FLOW_END:
		return "end";
	case TSM_FLOW_STEP:
		return "step";
	}
	return "?";
}

const char *tsm_drop_source_name(unsigned k)
{
	switch (k) {
	case TSM_DROP_RING:
		return "ring_full";
	case TSM_DROP_CUPTI:
		return "cupti";
	case TSM_DROP_WRITER:
		return "writer";
	case TSM_DROP_IMPORT:
		return "import";
	}
	return "?";
}

int tsm_event_is_gpu_work(const tsm_event *ev)
{
	switch (ev->kind) {
	case TSM_EV_KERNEL:
	case TSM_EV_MEMCPY:
	case TSM_EV_MEMSET:
		return 1;
	case TSM_EV_SYNC:
		return ev->u.sync.sync_type == TSM_SYNC_EVENT_RECORD ||
		       ev->u.sync.sync_type == TSM_SYNC_STREAM_WAIT_EVENT;
	}
	return 0;
}
