/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The per-kind field tables of SBT event templates (docs/format/sbt.md,
 * "Kind payloads"). The order of the entries is the order on disk.
 */
#include <stddef.h>
#include <stdio.h>

#include "sbt.h"

#define U(kind, field, name)                                                                     \
	{                                                                                        \
		name, offsetof(tsm_event, u.kind.field), sizeof(((tsm_event *)0)->u.kind.field), \
		    F_UINT                                                                       \
	}
#define S(kind, field, name)                                                                     \
	{                                                                                        \
		name, offsetof(tsm_event, u.kind.field), sizeof(((tsm_event *)0)->u.kind.field), \
		    F_SINT                                                                       \
	}
#define SID(kind, field, name)                                                                   \
	{                                                                                        \
		name, offsetof(tsm_event, u.kind.field), sizeof(((tsm_event *)0)->u.kind.field), \
		    F_STRID                                                                      \
	}
#define V(kind, field, name, coding)                                                             \
	{                                                                                        \
		name, offsetof(tsm_event, u.kind.field), sizeof(((tsm_event *)0)->u.kind.field), \
		    coding                                                                       \
	}

const kind_spec tsm__kind_specs[TSM_EV__COUNT] = {
    [TSM_EV_KERNEL] = {.nstatic = 14,
		       .statics = {U(kernel, grid[0], "grid.x"), U(kernel, grid[1], "grid.y"),
				   U(kernel, grid[2], "grid.z"), U(kernel, block[0], "block.x"),
				   U(kernel, block[1], "block.y"), U(kernel, block[2], "block.z"),
				   U(kernel, cluster[0], "cluster.x"),
				   U(kernel, cluster[1], "cluster.y"),
				   U(kernel, cluster[2], "cluster.z"),
				   U(kernel, regs_per_thread, "regs_per_thread"),
				   U(kernel, static_smem_bytes, "static_smem_bytes"),
				   U(kernel, dynamic_smem_bytes, "dynamic_smem_bytes"),
				   U(kernel, graph_id, "graph_id"),
				   U(kernel, graph_node_id, "graph_node_id")}},
    [TSM_EV_MEMCPY] = {.nstatic = 8,
		       .statics = {U(memcpy, bytes, "bytes"), U(memcpy, copy_kind, "copy_kind"),
				   U(memcpy, src_kind, "src_kind"), U(memcpy, dst_kind, "dst_kind"),
				   U(memcpy, src_device, "src_device"),
				   U(memcpy, dst_device, "dst_device"),
				   U(memcpy, graph_id, "graph_id"),
				   U(memcpy, graph_node_id, "graph_node_id")}},
    [TSM_EV_MEMSET] = {.nstatic = 5,
		       .statics = {U(memset, bytes, "bytes"), U(memset, value, "value"),
				   U(memset, mem_kind, "mem_kind"), U(memset, graph_id, "graph_id"),
				   U(memset, graph_node_id, "graph_node_id")}},
    [TSM_EV_SYNC] = {.nstatic = 2,
		     .statics = {U(sync, sync_type, "sync_type"), U(sync, event_id, "event_id")}},
    [TSM_EV_ALLOC] = {.nstatic = 2,
		      .statics = {U(memory, bytes, "bytes"), U(memory, mem_kind, "mem_kind")},
		      .has_vol = 1,
		      .vol = V(memory, address, "address", F_DELTA)},
    [TSM_EV_FREE] = {.nstatic = 2,
		     .statics = {U(memory, bytes, "bytes"), U(memory, mem_kind, "mem_kind")},
		     .has_vol = 1,
		     .vol = V(memory, address, "address", F_DELTA)},
    [TSM_EV_RUNTIME] = {.nstatic = 2, .statics = {U(api, cbid, "cbid"), S(api, status, "status")}},
    [TSM_EV_DRIVER] = {.nstatic = 2, .statics = {U(api, cbid, "cbid"), S(api, status, "status")}},
    [TSM_EV_NVTX_RANGE] = {.nstatic = 3,
			   .statics = {SID(nvtx, domain, "domain"), U(nvtx, color, "color"),
				       U(nvtx, category, "category")}},
    [TSM_EV_NVTX_MARK] = {.nstatic = 3,
			  .statics = {SID(nvtx, domain, "domain"), U(nvtx, color, "color"),
				      U(nvtx, category, "category")}},
    [TSM_EV_COUNTER] = {.has_vol = 1, .vol = V(counter, value, "value", F_DOUBLE)},
    [TSM_EV_OVERHEAD] = {.nstatic = 1, .statics = {U(overhead, overhead_kind, "overhead_kind")}},
    [TSM_EV_DROPPED] = {.nstatic = 1,
			.statics = {U(dropped, source, "source")},
			.has_vol = 1,
			.vol = V(dropped, count, "count", F_UINT)},
    [TSM_EV_CPU_OP] = {.nstatic = 0},
};

void tsm__fourcc_str(uint32_t type, char out[12])
{
	int printable = 1;

	for (int i = 0; i < 4; i++) {
		uint8_t c = (uint8_t)(type >> (8 * i));

		if (c < 0x20 || c > 0x7e)
			printable = 0;
		out[i] = (char)c;
	}
	if (printable)
		out[4] = 0;
	else
		snprintf(out, 12, "0x%08x", type);
}

const char *tsm_clock_name(unsigned clock)
{
	static const char *const n[] = {"unknown", "monotonic_raw", "monotonic", "realtime",
					"cupti",   "simulated",	    "imported"};

	return clock < TSM__ARRAY_SIZE(n) ? n[clock] : "?";
}
