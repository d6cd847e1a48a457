/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tracesmith view FILE: a filtered event listing.
 *
 * Times on the command line and in the text listing are relative to the
 * trace origin, the earliest event start in the file, so a first pass
 * over the file finds it (it also counts events for the recovery warning
 * and catches decoding errors before any output is produced, so a bad
 * file never yields silently partial JSON). "@NS" gives an absolute time.
 * Reading standard input allows one pass only: the origin is then the
 * first event's start.
 *
 * The second pass asks the reader to skip blocks outside [--from, --to]
 * (tsm_reader_seek_ns; whole blocks only) and checks every event against
 * every filter. An event is in the window when it overlaps it.
 *
 * Order: blocks are sorted by start, but the file is not globally sorted
 * (a block holds what the writer had at hand), so the listing is in file
 * order unless --sort is given. --sort collects the selected events and
 * sorts them by start (ties: file order); with --limit N it keeps only
 * the N earliest in a max-heap, so memory stays at N events.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builtin.h"
#include "util.h"

enum {
	O_KIND = 1,
	O_NAME,
	O_DEVICE,
	O_STREAM,
	O_FROM,
	O_TO,
	O_LIMIT,
	O_FORMAT,
	O_DEMANGLE,
	O_NO_DEMANGLE,
	O_SORT,
	O_STRICT,
};

static const struct cli_opt opts[] = {
    {O_KIND, 'k', "kind", CLI_REQARG, "K[,K...]",
     "only these kinds: kernel, memcpy, memset, sync, alloc, free,\n"
     "runtime, driver, range, marker, counter, overhead, dropped,\n"
     "cpu_op"},
    {O_NAME, 0, "name", CLI_REQARG, "SUBSTR",
     "only events whose name (mangled or demangled) contains SUBSTR"},
    {O_DEVICE, 'd', "device", CLI_REQARG, "N", "only events on GPU N"},
    {O_STREAM, 's', "stream", CLI_REQARG, "N", "only events on stream N"},
    {O_FROM, 0, "from", CLI_REQARG, "TIME", "only events that end at or after TIME"},
    {O_TO, 0, "to", CLI_REQARG, "TIME", "only events that start at or before TIME"},
    {O_LIMIT, 'n', "limit", CLI_REQARG, "N", "print at most N events"},
    {O_FORMAT, 'f', "format", CLI_REQARG, "FMT", "output format: text (default), json or csv"},
    {O_DEMANGLE, 0, "demangle", CLI_NOARG, NULL, "show C++ kernel names demangled (default)"},
    {O_NO_DEMANGLE, 0, "no-demangle", CLI_NOARG, NULL, "show names as recorded"},
    {O_SORT, 0, "sort", CLI_NOARG, NULL,
     "sort the selected events by start time (default: file order)"},
    {O_STRICT, 0, "strict", CLI_NOARG, NULL,
     "fail on a file that was not closed cleanly instead of\n"
     "reading what it holds"},
    {0},
};

static const struct cli_spec spec = {
    .name = "view",
    .synopsis = "FILE [--kind K[,K...]] [--name SUBSTR] [--device N] [--stream N]\n"
		"[--from TIME] [--to TIME] [--limit N] [--format text|json|csv]\n"
		"[--demangle|--no-demangle] [--sort] [--strict]",
    .description =
	"List the events of an SBT trace, filtered. All filters must match. Text\n"
	"columns: START (ms since the trace origin), DUR (us), KIND, DEV (GPU, '-' for\n"
	"host events), STREAM (or T:tid for host events), CORR (correlation id), DETAILS\n"
	"(kernel grid/block/registers/shared memory, copy bytes/direction/bandwidth,\n"
	"memset bytes, sync type and event id, allocation address and bytes, API\n"
	"callback id and return code, counter value, dropped count) and NAME, cut to\n"
	"the terminal's width when standard output is a terminal.\n"
	"\n"
	"--format json prints a JSON array with one object per event holding every field\n"
	"(names resolved); --format csv prints a header and one row per event (RFC 4180).\n"
	"\n"
	"Events are listed in file order: each block of the file is sorted by start time,\n"
	"but blocks may overlap in time. --sort sorts by start time (with --limit N: the\n"
	"N earliest events).",
    .opts = opts,
    .notes = "TIME is a number with a unit (ns, us, ms or s, e.g. 12.5ms) relative to the\n"
	     "trace origin, the earliest event start in the file (with FILE '-', standard\n"
	     "input, the first event's start); '@NS' is an absolute time in nanoseconds in\n"
	     "the trace's clock. An event is in [--from, --to] when it overlaps it.",
    .min_pos = 1,
    .max_pos = 1,
};

struct view {
	const char *file;
	tsm_reader *r;
	struct name_cache names;
	uint8_t *name_match; /* by string id: 0 unknown, 1 no, 2 yes */
	size_t name_match_cap;
	/* filters */
	uint32_t kinds; /* bit per kind; 0: all */
	const char *name;
	int device;		 /* -1: any */
	int64_t stream;		 /* -1: any */
	uint64_t from_ns, to_ns; /* absolute, resolved after the first pass */
	uint64_t from_rel, to_rel;
	int from_abs, to_abs, have_from, have_to;
	uint64_t limit; /* 0: none */
	int format, sort, demangle;
	unsigned flags;
	/* state */
	uint64_t origin;
	int have_origin;
	int name_cols; /* 0: no truncation */
	uint64_t printed;
};

/* ---- filters --------------------------------------------------------------- */

static int parse_kinds(struct view *v, const char *arg)
{
	char buf[256];
	char *save = NULL, *tok;

	if (strlen(arg) >= sizeof(buf))
		return cli_usage_error(spec.name, "--kind list too long");
	strcpy(buf, arg);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned k = tsm_event_kind_from_name(tok);

		if (k == TSM_EV_NONE)
			return cli_usage_error(spec.name, "unknown event kind '%s' for --kind",
					       tok);
		v->kinds |= 1u << k;
	}
	if (!v->kinds)
		return cli_usage_error(spec.name, "empty --kind list");
	return 0;
}

static int parse_when(const char *arg, const char *opt, uint64_t *ns, int *abs)
{
	if (arg[0] == '@') {
		*abs = 1;
		if (cli_parse_uint(arg + 1, UINT64_MAX, ns) < 0)
			return cli_usage_error(
			    spec.name, "bad time '%s' for --%s (@ takes nanoseconds)", arg, opt);
		return 0;
	}
	*abs = 0;
	if (cli_parse_time(arg, ns) < 0)
		return cli_usage_error(
		    spec.name,
		    "bad time '%s' for --%s (a number with a unit: ns, us, ms, s; "
		    "or @NS)",
		    arg, opt);
	return 0;
}

static int name_matches(struct view *v, uint32_t id)
{
	const char *raw;
	int m;

	if (id >= v->name_match_cap) {
		size_t ncap = v->name_match_cap ? v->name_match_cap : 1024;
		uint8_t *n;

		while (ncap <= id)
			ncap *= 2;
		n = realloc(v->name_match, ncap);
		if (!n)
			return 0;
		memset(n + v->name_match_cap, 0, ncap - v->name_match_cap);
		v->name_match = n;
		v->name_match_cap = ncap;
	}
	if (v->name_match[id])
		return v->name_match[id] == 2;
	raw = id ? tsm_reader_string(v->r, id) : NULL;
	m = raw && (strstr(raw, v->name) || strstr(name_cache_get(&v->names, id), v->name));
	v->name_match[id] = m ? 2 : 1;
	return m;
}

static int selected(struct view *v, const tsm_event *ev)
{
	if (v->kinds && (ev->kind >= 32 || !(v->kinds & (1u << ev->kind))))
		return 0;
	if (v->device >= 0 && ev->device != (unsigned)v->device)
		return 0;
	if (v->stream >= 0 && ev->stream != (uint64_t)v->stream)
		return 0;
	if (v->have_from && ev->end_ns < v->from_ns)
		return 0;
	if (v->have_to && ev->start_ns > v->to_ns)
		return 0;
	if (v->name && !name_matches(v, ev->name))
		return 0;
	return 1;
}

/* ---- text ------------------------------------------------------------------- */

#define DETAIL_COLS 46

static void details(struct view *v, const tsm_event *ev, char *buf, size_t cap)
{
	char a[32];
	uint64_t dur = ev->end_ns - ev->start_ns;

	buf[0] = 0;
	switch (ev->kind) {
	case TSM_EV_KERNEL: {
		const tsm_kernel_info *k = &ev->u.kernel;

		snprintf(buf, cap, "grid %ux%ux%u block %ux%ux%u regs %u smem %u+%u", k->grid[0],
			 k->grid[1], k->grid[2], k->block[0], k->block[1], k->block[2],
			 k->regs_per_thread, k->static_smem_bytes, k->dynamic_smem_bytes);
		break;
	}
	case TSM_EV_MEMCPY: {
		const tsm_memcpy_info *m = &ev->u.memcpy;
		int n = snprintf(buf, cap, "%s %s", tsm_copy_kind_name(m->copy_kind),
				 fmt_size(a, sizeof(a), m->bytes));

		if (m->copy_kind == TSM_COPY_P2P && n > 0 && (size_t)n < cap)
			n += snprintf(buf + n, cap - (size_t)n, " dev %u->%u", m->src_device,
				      m->dst_device);
		if (dur && n > 0 && (size_t)n < cap)
			snprintf(buf + n, cap - (size_t)n,
				 gbps(m->bytes, dur) >= 1 ? " %.2f GB/s" : " %.3g GB/s",
				 gbps(m->bytes, dur));
		break;
	}
	case TSM_EV_MEMSET:
		snprintf(buf, cap, "%s value %u %s", fmt_size(a, sizeof(a), ev->u.memset.bytes),
			 ev->u.memset.value, tsm_mem_kind_name(ev->u.memset.mem_kind));
		break;
	case TSM_EV_SYNC:
		if (ev->u.sync.event_id)
			snprintf(buf, cap, "%s event %llu",
				 tsm_sync_type_name(ev->u.sync.sync_type),
				 (unsigned long long)ev->u.sync.event_id);
		else
			snprintf(buf, cap, "%s", tsm_sync_type_name(ev->u.sync.sync_type));
		break;
	case TSM_EV_ALLOC:
	case TSM_EV_FREE:
		snprintf(buf, cap, "0x%llx %s %s", (unsigned long long)ev->u.memory.address,
			 fmt_size(a, sizeof(a), ev->u.memory.bytes),
			 tsm_mem_kind_name(ev->u.memory.mem_kind));
		break;
	case TSM_EV_RUNTIME:
	case TSM_EV_DRIVER:
		snprintf(buf, cap, "cbid %u ret %d", ev->u.api.cbid, (int)ev->u.api.status);
		break;
	case TSM_EV_NVTX_RANGE:
	case TSM_EV_NVTX_MARK:
		if (ev->u.nvtx.domain)
			snprintf(buf, cap, "domain %s",
				 name_cache_get(&v->names, ev->u.nvtx.domain));
		break;
	case TSM_EV_COUNTER:
		snprintf(buf, cap, "value %.10g", ev->u.counter.value);
		break;
	case TSM_EV_DROPPED:
		snprintf(buf, cap, "%llu events lost (%s)", (unsigned long long)ev->u.dropped.count,
			 tsm_drop_source_name(ev->u.dropped.source));
		break;
	case TSM_EV_OVERHEAD:
		snprintf(buf, cap, "overhead kind %u", ev->u.overhead.overhead_kind);
		break;
	case TSM_EV_CPU_OP:
		if (ev->external)
			snprintf(buf, cap, "external %llu", (unsigned long long)ev->external);
		break;
	}
}

static void text_header(struct view *v)
{
	int cols = cli_term_cols(STDOUT_FILENO);
	int prefix = 14 + 1 + 12 + 1 + 8 + 1 + 3 + 1 + 9 + 1 + 8 + 2 + DETAIL_COLS + 1;

	if (cols > 0)
		v->name_cols = cols - prefix > 24 ? cols - prefix : 24;
	printf("%14s %12s %-8s %3s %9s %8s  %-*s %s\n", "START ms", "DUR us", "KIND", "DEV",
	       "STREAM", "CORR", DETAIL_COLS, "DETAILS", "NAME");
}

static void text_event(struct view *v, const tsm_event *ev)
{
	char start[40], dur[32], dev[16], stream[24], corr[24], det[160], fallback[64];
	const char *name = name_cache_get(&v->names, ev->name);
	uint64_t d = ev->end_ns - ev->start_ns;
	int neg = ev->start_ns < v->origin;
	uint64_t rel = neg ? v->origin - ev->start_ns : ev->start_ns - v->origin;

	snprintf(start, sizeof(start), "%s%llu.%06llu", neg ? "-" : "",
		 (unsigned long long)(rel / 1000000u), (unsigned long long)(rel % 1000000u));
	snprintf(dur, sizeof(dur), "%llu.%03llu", (unsigned long long)(d / 1000u),
		 (unsigned long long)(d % 1000u));
	if (ev->device == TSM_DEVICE_NONE)
		snprintf(dev, sizeof(dev), "-");
	else
		snprintf(dev, sizeof(dev), "%u", ev->device);
	if (ev->device == TSM_DEVICE_NONE && !tsm_event_is_gpu_work(ev))
		snprintf(stream, sizeof(stream), "T:%llu", (unsigned long long)ev->tid);
	else
		snprintf(stream, sizeof(stream), "%u", ev->stream);
	if (ev->correlation)
		snprintf(corr, sizeof(corr), "%llu", (unsigned long long)ev->correlation);
	else
		snprintf(corr, sizeof(corr), "-");
	details(v, ev, det, sizeof(det));
	if (!name[0]) {
		/* Unnamed GPU work gets the label nsys users know, so the column is never blank. */
		if (ev->kind == TSM_EV_MEMCPY)
			snprintf(fallback, sizeof(fallback), "[CUDA memcpy %s]",
				 tsm_copy_kind_name(ev->u.memcpy.copy_kind));
		else if (ev->kind == TSM_EV_MEMSET)
			snprintf(fallback, sizeof(fallback), "[CUDA memset]");
		else if (ev->kind == TSM_EV_SYNC)
			snprintf(fallback, sizeof(fallback), "[CUDA %s]",
				 tsm_sync_type_name(ev->u.sync.sync_type));
		else if (ev->kind == TSM_EV_ALLOC || ev->kind == TSM_EV_FREE)
			snprintf(fallback, sizeof(fallback), "[CUDA %s]",
				 tsm_event_kind_name(ev->kind));
		else
			fallback[0] = 0;
		name = fallback;
	}
	printf("%14s %12s %-8s %3s %9s %8s  %-*s ", start, dur, tsm_event_kind_name(ev->kind), dev,
	       stream, corr, DETAIL_COLS, det);
	if (v->name_cols > 0 && strlen(name) > (size_t)v->name_cols)
		printf("%.*s...\n", v->name_cols - 3, name);
	else
		printf("%s\n", name);
}

/* ---- JSON ------------------------------------------------------------------- */

#define U64(x) ((unsigned long long)(x))

static void json_event(struct view *v, const tsm_event *ev)
{
	const char *raw = ev->name ? tsm_reader_string(v->r, ev->name) : NULL;
	const char *name = name_cache_get(&v->names, ev->name);
	FILE *f = stdout;

	printf("%s  {\"kind\": \"%s\", \"start_ns\": %llu, \"end_ns\": %llu, \"dur_ns\": %llu, ",
	       v->printed ? ",\n" : "", tsm_event_kind_name(ev->kind), U64(ev->start_ns),
	       U64(ev->end_ns), U64(ev->end_ns - ev->start_ns));
	if (ev->device == TSM_DEVICE_NONE)
		printf("\"device\": null, ");
	else
		printf("\"device\": %u, ", ev->device);
	printf(
	    "\"context\": %u, \"stream\": %u, \"pid\": %u, \"tid\": %llu, \"correlation\": %llu, "
	    "\"external\": %llu, \"flags\": %u, \"name\": ",
	    ev->context, ev->stream, ev->pid, U64(ev->tid), U64(ev->correlation), U64(ev->external),
	    ev->flags);
	json_str(f, name);
	if (raw && strcmp(raw, name)) {
		printf(", \"raw_name\": ");
		json_str(f, raw);
	}
	if (ev->flow_type)
		printf(", \"flow_type\": %u, \"flow_id\": %llu", ev->flow_type, U64(ev->flow_id));
	printf(", \"args\": {");
	switch (ev->kind) {
	case TSM_EV_KERNEL: {
		const tsm_kernel_info *k = &ev->u.kernel;

		printf(
		    "\"grid\": [%u, %u, %u], \"block\": [%u, %u, %u], \"cluster\": [%u, %u, %u], "
		    "\"regs_per_thread\": %u, \"static_smem_bytes\": %u, "
		    "\"dynamic_smem_bytes\": %u, \"graph_id\": %u, \"graph_node_id\": %llu",
		    k->grid[0], k->grid[1], k->grid[2], k->block[0], k->block[1], k->block[2],
		    k->cluster[0], k->cluster[1], k->cluster[2], k->regs_per_thread,
		    k->static_smem_bytes, k->dynamic_smem_bytes, k->graph_id,
		    U64(k->graph_node_id));
		break;
	}
	case TSM_EV_MEMCPY: {
		const tsm_memcpy_info *m = &ev->u.memcpy;

		printf("\"bytes\": %llu, \"copy_kind\": \"%s\", \"src_kind\": \"%s\", "
		       "\"dst_kind\": \"%s\", \"src_device\": %u, \"dst_device\": %u, "
		       "\"graph_id\": %u, \"graph_node_id\": %llu, \"gbps\": ",
		       U64(m->bytes), tsm_copy_kind_name(m->copy_kind),
		       tsm_mem_kind_name(m->src_kind), tsm_mem_kind_name(m->dst_kind),
		       m->src_device, m->dst_device, m->graph_id, U64(m->graph_node_id));
		json_double(f, gbps(m->bytes, ev->end_ns - ev->start_ns));
		break;
	}
	case TSM_EV_MEMSET:
		printf("\"bytes\": %llu, \"value\": %u, \"mem_kind\": \"%s\", \"graph_id\": %u, "
		       "\"graph_node_id\": %llu",
		       U64(ev->u.memset.bytes), ev->u.memset.value,
		       tsm_mem_kind_name(ev->u.memset.mem_kind), ev->u.memset.graph_id,
		       U64(ev->u.memset.graph_node_id));
		break;
	case TSM_EV_SYNC:
		printf("\"sync_type\": \"%s\", \"event_id\": %llu",
		       tsm_sync_type_name(ev->u.sync.sync_type), U64(ev->u.sync.event_id));
		break;
	case TSM_EV_ALLOC:
	case TSM_EV_FREE:
		printf("\"address\": %llu, \"bytes\": %llu, \"mem_kind\": \"%s\"",
		       U64(ev->u.memory.address), U64(ev->u.memory.bytes),
		       tsm_mem_kind_name(ev->u.memory.mem_kind));
		break;
	case TSM_EV_RUNTIME:
	case TSM_EV_DRIVER:
		printf("\"cbid\": %u, \"status\": %d", ev->u.api.cbid, (int)ev->u.api.status);
		break;
	case TSM_EV_NVTX_RANGE:
	case TSM_EV_NVTX_MARK:
		printf("\"domain\": ");
		json_str(f, name_cache_get(&v->names, ev->u.nvtx.domain));
		printf(", \"color\": %u, \"category\": %u", ev->u.nvtx.color, ev->u.nvtx.category);
		break;
	case TSM_EV_COUNTER:
		printf("\"value\": ");
		json_double(f, ev->u.counter.value);
		break;
	case TSM_EV_OVERHEAD:
		printf("\"overhead_kind\": %u", ev->u.overhead.overhead_kind);
		break;
	case TSM_EV_DROPPED:
		printf("\"count\": %llu, \"source\": \"%s\"", U64(ev->u.dropped.count),
		       tsm_drop_source_name(ev->u.dropped.source));
		break;
	}
	printf("}");
	if (ev->stack) {
		size_t n = 0;
		const tsm_frame *fr = tsm_reader_stack(v->r, ev->stack, &n);

		printf(", \"stack\": [");
		for (size_t i = 0; fr && i < n; i++) {
			printf("%s{\"pc\": %llu, \"function\": ", i ? ", " : "", U64(fr[i].pc));
			json_str(f, name_cache_get(&v->names, fr[i].function));
			printf(", \"module\": ");
			json_str(f, name_cache_get(&v->names, fr[i].module));
			printf(", \"file\": ");
			json_str(f, name_cache_get(&v->names, fr[i].file));
			printf(", \"line\": %u}", fr[i].line);
		}
		printf("]");
	}
	if (ev->meta) {
		size_t n = 0;
		const tsm_kv *kv = tsm_reader_kvlist(v->r, ev->meta, &n);

		printf(", \"meta\": {");
		for (size_t i = 0; kv && i < n; i++) {
			const char *key = tsm_reader_string(v->r, kv[i].key);

			printf("%s", i ? ", " : "");
			json_str(f, key ? key : "");
			printf(": ");
			if (kv[i].type == TSM_KV_INT)
				printf("%lld", (long long)kv[i].v.i);
			else if (kv[i].type == TSM_KV_DOUBLE)
				json_double(f, kv[i].v.d);
			else if (kv[i].type == TSM_KV_STR)
				json_str(f, name_cache_get(&v->names, (uint32_t)kv[i].v.str));
			else
				printf("null");
		}
		printf("}");
	}
	printf("}");
}

/* ---- CSV ---------------------------------------------------------------------- */

static const char csv_header[] =
    "kind,start_ns,end_ns,dur_ns,device,context,stream,pid,tid,correlation,external,flags,"
    "flow_type,flow_id,name,raw_name,grid_x,grid_y,grid_z,block_x,block_y,block_z,"
    "regs_per_thread,static_smem_bytes,dynamic_smem_bytes,bytes,copy_kind,src_kind,dst_kind,"
    "gbps,value,mem_kind,sync_type,event_id,address,cbid,status,domain,count,source\n";

static void csv_event(struct view *v, const tsm_event *ev)
{
	const char *raw = ev->name ? tsm_reader_string(v->r, ev->name) : NULL;
	/* The kind-specific columns, empty where they do not apply. */
	char grid[64] = ",,", block[64] = ",,", regs[64] = ",,", bytes[32] = "", cpy[64] = ",,",
	     bw[32] = "", value[48] = "", memk[24] = "", sync[48] = ",", addr[32] = "",
	     api[32] = ",", domain_col[8] = "", drop[48] = ",";
	const char *domain = NULL;
	uint64_t dur = ev->end_ns - ev->start_ns;

	switch (ev->kind) {
	case TSM_EV_KERNEL: {
		const tsm_kernel_info *k = &ev->u.kernel;

		snprintf(grid, sizeof(grid), "%u,%u,%u", k->grid[0], k->grid[1], k->grid[2]);
		snprintf(block, sizeof(block), "%u,%u,%u", k->block[0], k->block[1], k->block[2]);
		snprintf(regs, sizeof(regs), "%u,%u,%u", k->regs_per_thread, k->static_smem_bytes,
			 k->dynamic_smem_bytes);
		break;
	}
	case TSM_EV_MEMCPY:
		snprintf(bytes, sizeof(bytes), "%llu", U64(ev->u.memcpy.bytes));
		snprintf(cpy, sizeof(cpy), "%s,%s,%s", tsm_copy_kind_name(ev->u.memcpy.copy_kind),
			 tsm_mem_kind_name(ev->u.memcpy.src_kind),
			 tsm_mem_kind_name(ev->u.memcpy.dst_kind));
		snprintf(bw, sizeof(bw), "%.6f", gbps(ev->u.memcpy.bytes, dur));
		break;
	case TSM_EV_MEMSET:
		snprintf(bytes, sizeof(bytes), "%llu", U64(ev->u.memset.bytes));
		snprintf(value, sizeof(value), "%u", ev->u.memset.value);
		snprintf(memk, sizeof(memk), "%s", tsm_mem_kind_name(ev->u.memset.mem_kind));
		break;
	case TSM_EV_SYNC:
		snprintf(sync, sizeof(sync), "%s,%llu", tsm_sync_type_name(ev->u.sync.sync_type),
			 U64(ev->u.sync.event_id));
		break;
	case TSM_EV_ALLOC:
	case TSM_EV_FREE:
		snprintf(bytes, sizeof(bytes), "%llu", U64(ev->u.memory.bytes));
		snprintf(memk, sizeof(memk), "%s", tsm_mem_kind_name(ev->u.memory.mem_kind));
		snprintf(addr, sizeof(addr), "0x%llx", U64(ev->u.memory.address));
		break;
	case TSM_EV_RUNTIME:
	case TSM_EV_DRIVER:
		snprintf(api, sizeof(api), "%u,%d", ev->u.api.cbid, (int)ev->u.api.status);
		break;
	case TSM_EV_NVTX_RANGE:
	case TSM_EV_NVTX_MARK:
		domain = name_cache_get(&v->names, ev->u.nvtx.domain);
		break;
	case TSM_EV_COUNTER:
		snprintf(value, sizeof(value), "%.17g", ev->u.counter.value);
		break;
	case TSM_EV_DROPPED:
		snprintf(drop, sizeof(drop), "%llu,%s", U64(ev->u.dropped.count),
			 tsm_drop_source_name(ev->u.dropped.source));
		break;
	}
	printf("%s,%llu,%llu,%llu,", tsm_event_kind_name(ev->kind), U64(ev->start_ns),
	       U64(ev->end_ns), U64(dur));
	if (ev->device != TSM_DEVICE_NONE)
		printf("%u", ev->device);
	printf(",%u,%u,%u,%llu,%llu,%llu,%u,%u,%llu,", ev->context, ev->stream, ev->pid,
	       U64(ev->tid), U64(ev->correlation), U64(ev->external), ev->flags, ev->flow_type,
	       U64(ev->flow_id));
	csv_str(stdout, name_cache_get(&v->names, ev->name));
	putchar(',');
	csv_str(stdout, raw ? raw : "");
	printf(",%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,", grid, block, regs, bytes, cpy, bw, value, memk,
	       sync, addr, api);
	if (domain)
		csv_str(stdout, domain);
	else
		fputs(domain_col, stdout);
	printf(",%s\n", drop);
}

static void emit(struct view *v, const tsm_event *ev)
{
	if (v->format == FMT_JSON)
		json_event(v, ev);
	else if (v->format == FMT_CSV)
		csv_event(v, ev);
	else
		text_event(v, ev);
	v->printed++;
}

/* ---- sorting ---------------------------------------------------------------------- */

struct item {
	tsm_event ev;
	uint64_t seq; /* file order, for stable ties */
};

static int item_less(const struct item *a, const struct item *b)
{
	return a->ev.start_ns < b->ev.start_ns ||
	       (a->ev.start_ns == b->ev.start_ns && a->seq < b->seq);
}

static int cmp_item(const void *x, const void *y)
{
	const struct item *a = x, *b = y;

	return item_less(a, b) ? -1 : item_less(b, a) ? 1 : 0;
}

/* Max-heap on (start, seq): the root is the latest of the N kept. */
static void heap_down(struct item *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct item t;

		if (l < n && item_less(&h[m], &h[l]))
			m = l;
		if (r < n && item_less(&h[m], &h[r]))
			m = r;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static void heap_up(struct item *h, size_t i)
{
	while (i) {
		size_t p = (i - 1) / 2;
		struct item t;

		if (!item_less(&h[p], &h[i]))
			return;
		t = h[i];
		h[i] = h[p];
		h[p] = t;
		i = p;
	}
}

struct sorter {
	struct item *items;
	size_t n, cap;
	uint64_t seq;
};

static int sorter_add(struct view *v, struct sorter *s, const tsm_event *ev)
{
	struct item it = {*ev, s->seq++};

	if (v->limit && s->n == v->limit) {
		if (item_less(&it, &s->items[0])) {
			s->items[0] = it;
			heap_down(s->items, s->n, 0);
		}
		return 0;
	}
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 1024;
		struct item *n;

		if (v->limit && ncap > v->limit)
			ncap = (size_t)v->limit;
		n = realloc(s->items, ncap * sizeof(*n));
		if (!n)
			return -1;
		s->items = n;
		s->cap = ncap;
	}
	s->items[s->n] = it;
	if (v->limit)
		heap_up(s->items, s->n);
	s->n++;
	return 0;
}

/* ---- passes ----------------------------------------------------------------------- */

/* First pass: the origin, the event count, and any decoding error before output. */
static int first_pass(struct view *v, uint64_t *count)
{
	const tsm_event *ev;
	int rc;

	*count = 0;
	while ((rc = tsm_reader_next(v->r, &ev)) == 0) {
		if (!v->have_origin || ev->start_ns < v->origin)
			v->origin = ev->start_ns;
		v->have_origin = 1;
		(*count)++;
	}
	return rc < 0 ? rc : 0;
}

static void resolve_window(struct view *v)
{
	if (v->have_from)
		v->from_ns = v->from_abs			    ? v->from_rel
			     : UINT64_MAX - v->origin < v->from_rel ? UINT64_MAX
								    : v->origin + v->from_rel;
	if (v->have_to)
		v->to_ns = v->to_abs				? v->to_rel
			   : UINT64_MAX - v->origin < v->to_rel ? UINT64_MAX
								: v->origin + v->to_rel;
}

static void begin_output(struct view *v)
{
	if (v->format == FMT_JSON)
		printf("[\n");
	else if (v->format == FMT_CSV)
		fputs(csv_header, stdout);
	else
		text_header(v);
}

static void end_output(struct view *v)
{
	if (v->format == FMT_JSON)
		printf("%s]\n", v->printed ? "\n" : "");
}

static int run(struct view *v)
{
	const tsm_trace_info *ti;
	const tsm_event *ev;
	struct sorter so = {0};
	uint64_t count = 0, seen = 0;
	int streaming = !strcmp(v->file, "-"), rc;

	tsm_clear_error();
	rc = tsm_reader_open(v->file, v->flags, &v->r);
	if (rc < 0)
		return cli_lib_error(v->file, rc);
	ti = tsm_reader_info(v->r);
	name_cache_init(&v->names, v->r, v->demangle);
	if (!streaming) {
		rc = first_pass(v, &count);
		if (rc < 0)
			return cli_lib_error(v->file, rc);
		if (ti->recovered)
			cli_warn(v->file,
				 "file was not closed cleanly; recovered %llu events, "
				 "discarded %llu bytes at the end",
				 U64(count), U64(ti->discarded_bytes));
		resolve_window(v);
		rc = tsm_reader_seek_ns(v->r, v->have_from ? v->from_ns : 0,
					v->have_to ? v->to_ns : UINT64_MAX);
		if (rc < 0)
			return cli_lib_error(v->file, rc);
	}
	begin_output(v);
	while ((rc = tsm_reader_next(v->r, &ev)) == 0) {
		if (streaming && !v->have_origin) {
			v->origin = ev->start_ns;
			v->have_origin = 1;
			resolve_window(v);
		}
		seen++;
		if (!selected(v, ev))
			continue;
		if (v->sort) {
			if (sorter_add(v, &so, ev) < 0) {
				free(so.items);
				return cli_error(v->file, "out of memory sorting events");
			}
			continue;
		}
		emit(v, ev);
		if (!cli_out_ok())
			break;
		if (v->limit && v->printed >= v->limit)
			break;
	}
	if (rc < 0) {
		free(so.items);
		return cli_lib_error(v->file, rc);
	}
	if (streaming && ti->recovered)
		cli_warn(v->file,
			 "file was not closed cleanly; recovered %llu events, discarded "
			 "%llu bytes at the end",
			 U64(seen), U64(ti->discarded_bytes));
	if (v->sort) {
		qsort(so.items, so.n, sizeof(*so.items), cmp_item);
		for (size_t i = 0; i < so.n && cli_out_ok(); i++)
			emit(v, &so.items[i].ev);
		free(so.items);
	}
	end_output(v);
	return cli_out_finish();
}

int cmd_view(int argc, char **argv)
{
	struct cli_parser p;
	struct view v;
	uint64_t n;
	int rc;

	memset(&v, 0, sizeof(v));
	v.device = -1;
	v.stream = -1;
	v.format = FMT_TEXT;
	v.demangle = 1;
	cli_parser_init(&p, &spec, argc, argv);
	while ((rc = cli_next(&p)) > 0) {
		const char *a = p.arg;

		switch (rc) {
		case O_KIND:
			if (parse_kinds(&v, a))
				goto usage;
			break;
		case O_NAME:
			v.name = a;
			break;
		case O_DEVICE:
			if (cli_parse_uint(a, TSM_DEVICE_NONE - 1, &n) < 0) {
				cli_usage_error(spec.name, "bad value '%s' for --device", a);
				goto usage;
			}
			v.device = (int)n;
			break;
		case O_STREAM:
			if (cli_parse_uint(a, UINT32_MAX, &n) < 0) {
				cli_usage_error(spec.name, "bad value '%s' for --stream", a);
				goto usage;
			}
			v.stream = (int64_t)n;
			break;
		case O_FROM:
			if (parse_when(a, "from", &v.from_rel, &v.from_abs))
				goto usage;
			v.have_from = 1;
			break;
		case O_TO:
			if (parse_when(a, "to", &v.to_rel, &v.to_abs))
				goto usage;
			v.have_to = 1;
			break;
		case O_LIMIT:
			if (cli_parse_u64(a, &n) < 0 || !n) {
				cli_usage_error(spec.name, "bad value '%s' for --limit (1 or more)",
						a);
				goto usage;
			}
			v.limit = n;
			break;
		case O_FORMAT:
			v.format = cli_parse_format(a, FMT_TEXT | FMT_JSON | FMT_CSV);
			if (v.format < 0) {
				cli_usage_error(spec.name, "bad format '%s' (text, json or csv)",
						a);
				goto usage;
			}
			break;
		case O_DEMANGLE:
			v.demangle = 1;
			break;
		case O_NO_DEMANGLE:
			v.demangle = 0;
			break;
		case O_SORT:
			v.sort = 1;
			break;
		case O_STRICT:
			v.flags |= TSM_READ_STRICT;
			break;
		}
	}
	if (rc == CLI_HELP) {
		cli_usage(&spec, stdout);
		rc = EXIT_OK;
		goto out;
	}
	if (rc == CLI_ERROR)
		goto usage;
	v.file = p.pos[0];
	if (v.have_from && v.have_to && v.from_abs == v.to_abs && v.from_rel > v.to_rel) {
		rc = cli_usage_error(spec.name, "--from is after --to");
		goto out;
	}
	rc = run(&v);
	goto out;
usage:
	rc = EXIT_USAGE;
out:
	name_cache_fini(&v.names);
	free(v.name_match);
	tsm_reader_close(v.r);
	cli_parser_fini(&p);
	return rc;
}
