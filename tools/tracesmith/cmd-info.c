/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tracesmith info FILE: one pass over every event (tsm_reader_next)
 * gathering what a GPU engineer asks first: how long, which GPUs and
 * streams, how many kernels / copies / syncs, how many bytes moved at what
 * bandwidth, what was dropped, and how well the file is packed.
 *
 * Streams are counted in a small open-addressing table keyed by
 * (device, stream); distinct kernel names in a bitmap indexed by string id
 * (ids are dense, so this is smaller and faster than hashing names).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "builtin.h"
#include "util.h"

enum { O_FORMAT = 1, O_STRICT };

static const struct cli_opt opts[] = {
    {O_FORMAT, 'f', "format", CLI_REQARG, "FMT", "output format: text (default) or json"},
    {O_STRICT, 0, "strict", CLI_NOARG, NULL,
     "fail on a file that was not closed cleanly instead of\n"
     "reading what it holds"},
    {0},
};

static const struct cli_spec spec = {
    .name = "info",
    .synopsis = "FILE [--format text|json] [--strict]",
    .description =
	"Summarise an SBT trace: format version, producer, clock, whether the file is\n"
	"indexed or was recovered, time span, processes, devices, streams per device,\n"
	"events per kind, bytes copied per direction with average bandwidth, kernel time\n"
	"and distinct kernel names, dropped events, file size, bytes per event and the\n"
	"trace metadata. Reads the whole file. FILE '-' reads standard input.\n"
	"\n"
	"A file whose writer died (no footer, torn tail) is read up to its last complete\n"
	"chunk; a warning on stderr says how many bytes were discarded, and the exit\n"
	"status is 0 unless --strict is given.",
    .opts = opts,
    .min_pos = 1,
    .max_pos = 1,
};

struct stream_stat {
	uint64_t key; /* device << 32 | stream; 0 marks an empty slot, so keys are stored + 1 */
	uint64_t events, kernels, copies, sets, syncs, kernel_ns;
};

struct stats {
	uint64_t events, per_kind[TSM_EV__COUNT], kind_ns[TSM_EV__COUNT];
	uint64_t first_ns, last_ns;
	uint64_t copy_n[TSM_COPY__COUNT], copy_bytes[TSM_COPY__COUNT], copy_ns[TSM_COPY__COUNT];
	uint64_t set_bytes, alloc_bytes, free_bytes, api_errors;
	uint64_t kernel_ns, kernel_names;
	uint64_t dropped, drop_by_src[8];
	uint64_t file_bytes;
	uint8_t *name_seen;
	size_t name_cap;
	struct stream_stat *streams;
	size_t nstreams, stream_cap;
};

static struct stream_stat *stream_slot(struct stats *s, uint16_t dev, uint32_t stream)
{
	uint64_t key = (((uint64_t)dev << 32) | stream) + 1;
	size_t mask, i;

	if (s->nstreams * 2 >= s->stream_cap) {
		size_t ncap = s->stream_cap ? s->stream_cap * 2 : 64;
		struct stream_stat *n = calloc(ncap, sizeof(*n));

		if (!n)
			return NULL;
		for (size_t j = 0; j < s->stream_cap; j++) {
			if (!s->streams[j].key)
				continue;
			i = (size_t)(s->streams[j].key * 0x9e3779b97f4a7c15ULL >> 20) & (ncap - 1);
			while (n[i].key)
				i = (i + 1) & (ncap - 1);
			n[i] = s->streams[j];
		}
		free(s->streams);
		s->streams = n;
		s->stream_cap = ncap;
	}
	mask = s->stream_cap - 1;
	i = (size_t)(key * 0x9e3779b97f4a7c15ULL >> 20) & mask;
	while (s->streams[i].key && s->streams[i].key != key)
		i = (i + 1) & mask;
	if (!s->streams[i].key) {
		s->streams[i].key = key;
		s->nstreams++;
	}
	return &s->streams[i];
}

static int note_kernel_name(struct stats *s, uint32_t id)
{
	if (id >= s->name_cap * 8) {
		size_t ncap = s->name_cap ? s->name_cap : 1024;
		uint8_t *n;

		while (ncap * 8 <= id)
			ncap *= 2;
		n = realloc(s->name_seen, ncap);
		if (!n)
			return -1;
		memset(n + s->name_cap, 0, ncap - s->name_cap);
		s->name_seen = n;
		s->name_cap = ncap;
	}
	if (!(s->name_seen[id / 8] & (1u << (id % 8)))) {
		s->name_seen[id / 8] |= (uint8_t)(1u << (id % 8));
		s->kernel_names++;
	}
	return 0;
}

static int account(struct stats *s, const tsm_event *ev)
{
	uint64_t dur = ev->end_ns - ev->start_ns;
	unsigned k = ev->kind < TSM_EV__COUNT ? ev->kind : 0;
	struct stream_stat *st = NULL;

	if (!s->events || ev->start_ns < s->first_ns)
		s->first_ns = ev->start_ns;
	if (!s->events || ev->end_ns > s->last_ns)
		s->last_ns = ev->end_ns;
	s->events++;
	s->per_kind[k]++;
	s->kind_ns[k] += dur;
	if (ev->device != TSM_DEVICE_NONE && tsm_event_is_gpu_work(ev)) {
		st = stream_slot(s, ev->device, ev->stream);
		if (!st)
			return -1;
		st->events++;
	}
	switch (ev->kind) {
	case TSM_EV_KERNEL:
		s->kernel_ns += dur;
		if (st) {
			st->kernels++;
			st->kernel_ns += dur;
		}
		if (ev->name && note_kernel_name(s, ev->name) < 0)
			return -1;
		break;
	case TSM_EV_MEMCPY: {
		unsigned c = ev->u.memcpy.copy_kind < TSM_COPY__COUNT ? ev->u.memcpy.copy_kind : 0;

		s->copy_n[c]++;
		s->copy_bytes[c] += ev->u.memcpy.bytes;
		s->copy_ns[c] += dur;
		if (st)
			st->copies++;
		break;
	}
	case TSM_EV_MEMSET:
		s->set_bytes += ev->u.memset.bytes;
		if (st)
			st->sets++;
		break;
	case TSM_EV_SYNC:
		if (st)
			st->syncs++;
		break;
	case TSM_EV_ALLOC:
		s->alloc_bytes += ev->u.memory.bytes;
		break;
	case TSM_EV_FREE:
		s->free_bytes += ev->u.memory.bytes;
		break;
	case TSM_EV_RUNTIME:
	case TSM_EV_DRIVER:
		if (ev->u.api.status != 0)
			s->api_errors++;
		break;
	case TSM_EV_DROPPED:
		s->dropped += ev->u.dropped.count;
		s->drop_by_src[ev->u.dropped.source < 8 ? ev->u.dropped.source : 0] +=
		    ev->u.dropped.count;
		break;
	}
	return 0;
}

static int cmp_stream(const void *a, const void *b)
{
	const struct stream_stat *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

static const char *str(const tsm_reader *r, uint32_t id)
{
	const char *s = tsm_reader_string(r, id);

	return s ? s : "";
}

static const char *drop_src_name(unsigned src)
{
	return src ? tsm_drop_source_name(src) : "unknown";
}

static void kv_text(const tsm_reader *r, const tsm_kv *kv)
{
	switch (kv->type) {
	case TSM_KV_INT:
		printf("%lld", (long long)kv->v.i);
		break;
	case TSM_KV_DOUBLE:
		printf("%g", kv->v.d);
		break;
	case TSM_KV_STR:
		printf("%s", str(r, (uint32_t)kv->v.str));
		break;
	default:
		printf("?");
	}
}

static void kv_json(const tsm_reader *r, const tsm_kv *kv)
{
	switch (kv->type) {
	case TSM_KV_INT:
		printf("%lld", (long long)kv->v.i);
		break;
	case TSM_KV_DOUBLE:
		json_double(stdout, kv->v.d);
		break;
	case TSM_KV_STR:
		json_str(stdout, str(r, (uint32_t)kv->v.str));
		break;
	default:
		printf("null");
	}
}

static void print_text(const char *file, const tsm_reader *r, struct stats *s)
{
	const tsm_trace_info *ti = tsm_reader_info(r);
	const tsm_process_info *procs;
	const tsm_device_info *devs;
	const tsm_kv *meta;
	size_t nprocs, ndevs, nmeta;
	char a[48], b[48], c[48], d[48], e[48];
	uint64_t span = s->events ? s->last_ns - s->first_ns : 0;

	procs = tsm_reader_processes(r, &nprocs);
	devs = tsm_reader_devices(r, &ndevs);
	meta = tsm_reader_meta(r, &nmeta);

	printf("%s\n", file);
	printf("  %-12s SBT %u.%u%s\n", "format", ti->major, ti->minor,
	       ti->required_features & TSM_SBT_REQ_ZSTD ? ", zstd-compressed blocks" : "");
	printf("  %-12s %s\n", "producer", ti->producer && ti->producer[0] ? ti->producer : "?");
	printf("  %-12s %s", "clock", tsm_clock_name(ti->clock));
	if (ti->realtime_offset_ns)
		printf(", realtime = clock %+lld ns", (long long)ti->realtime_offset_ns);
	else
		printf(", realtime offset unknown");
	putchar('\n');
	if (ti->created_realtime_ns) {
		time_t t = (time_t)(ti->created_realtime_ns / 1000000000u);
		struct tm tm;

		if (gmtime_r(&t, &tm) && strftime(a, sizeof(a), "%Y-%m-%d %H:%M:%S UTC", &tm))
			printf("  %-12s %s\n", "created", a);
	}
	printf("  %-12s %s\n", "index",
	       ti->has_index ? "yes (footer and index valid; seeking by time is fast)"
			     : "no (seeking by time scans block headers)");
	if (ti->recovered)
		printf("  %-12s yes: not closed cleanly, %s discarded at the end\n", "recovered",
		       fmt_count(a, sizeof(a), ti->discarded_bytes));
	printf("  %-12s %s (%s bytes), %s events", "size", fmt_size(a, sizeof(a), s->file_bytes),
	       fmt_count(b, sizeof(b), s->file_bytes), fmt_count(c, sizeof(c), s->events));
	if (s->events)
		printf(", %.2f bytes/event", (double)s->file_bytes / (double)s->events);
	printf(", %s blocks, %s chunks\n", fmt_count(a, sizeof(a), ti->block_count),
	       fmt_count(b, sizeof(b), ti->chunk_count));
	if (s->events)
		printf("  %-12s %s (first start %llu ns, last end %llu ns)\n", "time span",
		       fmt_dur(a, sizeof(a), span), (unsigned long long)s->first_ns,
		       (unsigned long long)s->last_ns);
	else
		printf("  %-12s (no events)\n", "time span");

	if (nprocs) {
		printf("\nprocesses\n  %-8s %-5s %-16s %-16s %s\n", "PID", "RANK", "NAME", "HOST",
		       "COMMAND");
		for (size_t i = 0; i < nprocs; i++) {
			snprintf(a, sizeof(a), "%d", (int)procs[i].rank);
			printf("  %-8u %-5s %-16s %-16s %s\n", procs[i].pid,
			       procs[i].rank < 0 ? "-" : a, str(r, procs[i].name),
			       str(r, procs[i].host), str(r, procs[i].cmdline));
		}
	}
	if (ndevs) {
		printf("\ndevices\n  %-3s %-24s %-5s %4s %10s %9s %9s %6s %8s\n", "ID", "NAME",
		       "CC", "SMS", "MEMORY", "SM CLOCK", "MEM CLOCK", "BUS", "L2");
		for (size_t i = 0; i < ndevs; i++) {
			const tsm_device_info *dv = &devs[i];

			snprintf(a, sizeof(a), "%u.%u", dv->cc_major, dv->cc_minor);
			snprintf(c, sizeof(c), "%u MHz", dv->core_clock_khz / 1000);
			snprintf(d, sizeof(d), "%u MHz", dv->mem_clock_khz / 1000);
			printf("  %-3u %-24s %-5s %4u %10s %9s %9s %5ub %8s\n", dv->id,
			       str(r, dv->name), a, dv->sm_count,
			       fmt_size(b, sizeof(b), dv->global_mem_bytes), c, d,
			       dv->mem_bus_width_bits, fmt_size(e, sizeof(e), dv->l2_bytes));
		}
	}
	if (s->nstreams) {
		qsort(s->streams, s->stream_cap, sizeof(*s->streams), cmp_stream);
		printf("\nstreams (GPU work per device and stream)\n");
		printf("  %-6s %-8s %12s %12s %10s %8s %8s %12s\n", "DEVICE", "STREAM", "EVENTS",
		       "KERNELS", "COPIES", "SETS", "SYNCS", "KERNEL TIME");
		for (size_t i = 0; i < s->stream_cap; i++) {
			const struct stream_stat *st = &s->streams[i];
			char f[32];

			if (!st->key)
				continue;
			printf("  %-6u %-8u %12s %12s %10s %8s %8s %12s\n",
			       (unsigned)((st->key - 1) >> 32),
			       (unsigned)((st->key - 1) & 0xffffffffu),
			       fmt_count(a, sizeof(a), st->events),
			       fmt_count(b, sizeof(b), st->kernels),
			       fmt_count(c, sizeof(c), st->copies),
			       fmt_count(d, sizeof(d), st->sets),
			       fmt_count(e, sizeof(e), st->syncs),
			       fmt_dur(f, sizeof(f), st->kernel_ns));
		}
	}
	printf("\nevents by kind\n  %-10s %14s %7s %14s\n", "KIND", "COUNT", "%", "TOTAL TIME");
	for (unsigned k = 0; k < TSM_EV__COUNT; k++) {
		if (!s->per_kind[k])
			continue;
		printf("  %-10s %14s %6.2f%% %14s\n", k ? tsm_event_kind_name(k) : "unknown",
		       fmt_count(a, sizeof(a), s->per_kind[k]),
		       100.0 * (double)s->per_kind[k] / (double)s->events,
		       fmt_dur(b, sizeof(b), s->kind_ns[k]));
	}
	printf("  %-10s %14s\n", "total", fmt_count(a, sizeof(a), s->events));

	if (s->per_kind[TSM_EV_MEMCPY]) {
		printf("\nmemory copies\n  %-10s %12s %12s %14s %12s\n", "DIRECTION", "COUNT",
		       "BYTES", "TIME", "AVG BW");
		for (unsigned cpy = 0; cpy < TSM_COPY__COUNT; cpy++) {
			if (!s->copy_n[cpy])
				continue;
			snprintf(d, sizeof(d), "%.2f GB/s",
				 gbps(s->copy_bytes[cpy], s->copy_ns[cpy]));
			printf("  %-10s %12s %12s %14s %12s\n",
			       cpy ? tsm_copy_kind_name(cpy) : "unknown",
			       fmt_count(a, sizeof(a), s->copy_n[cpy]),
			       fmt_size(b, sizeof(b), s->copy_bytes[cpy]),
			       fmt_dur(c, sizeof(c), s->copy_ns[cpy]), d);
		}
	}
	printf("\n  %-10s %s launches, %s distinct names, %s of GPU time\n", "kernels",
	       fmt_count(a, sizeof(a), s->per_kind[TSM_EV_KERNEL]),
	       fmt_count(b, sizeof(b), s->kernel_names), fmt_dur(c, sizeof(c), s->kernel_ns));
	if (s->per_kind[TSM_EV_MEMSET])
		printf("  %-10s %s, %s set\n", "memsets",
		       fmt_count(a, sizeof(a), s->per_kind[TSM_EV_MEMSET]),
		       fmt_size(b, sizeof(b), s->set_bytes));
	if (s->per_kind[TSM_EV_ALLOC] || s->per_kind[TSM_EV_FREE])
		printf("  %-10s %s allocated, %s freed\n", "memory",
		       fmt_size(a, sizeof(a), s->alloc_bytes),
		       fmt_size(b, sizeof(b), s->free_bytes));
	if (s->per_kind[TSM_EV_RUNTIME] || s->per_kind[TSM_EV_DRIVER])
		printf("  %-10s %s calls, %s returned an error\n", "API",
		       fmt_count(a, sizeof(a),
				 s->per_kind[TSM_EV_RUNTIME] + s->per_kind[TSM_EV_DRIVER]),
		       fmt_count(b, sizeof(b), s->api_errors));
	printf("  %-10s %s", "dropped", fmt_count(a, sizeof(a), s->dropped));
	if (s->dropped) {
		const char *sep = " (";

		for (unsigned src = 0; src < 8; src++) {
			if (!s->drop_by_src[src])
				continue;
			printf("%s%s %s", sep, drop_src_name(src),
			       fmt_count(a, sizeof(a), s->drop_by_src[src]));
			sep = ", ";
		}
		printf(")");
	}
	printf(" events\n");
	if (nmeta) {
		printf("\nmetadata\n");
		for (size_t i = 0; i < nmeta; i++) {
			printf("  %s = ", str(r, meta[i].key));
			kv_text(r, &meta[i]);
			putchar('\n');
		}
	}
}

#define U64(x) ((unsigned long long)(x))

static void print_json(const char *file, const tsm_reader *r, struct stats *s)
{
	const tsm_trace_info *ti = tsm_reader_info(r);
	const tsm_process_info *procs;
	const tsm_device_info *devs;
	const tsm_kv *meta;
	size_t nprocs, ndevs, nmeta;
	const char *sep;

	procs = tsm_reader_processes(r, &nprocs);
	devs = tsm_reader_devices(r, &ndevs);
	meta = tsm_reader_meta(r, &nmeta);

	printf("{\n  \"file\": ");
	json_str(stdout, file);
	printf(",\n  \"format\": {\"major\": %u, \"minor\": %u, \"required_features\": %u},\n",
	       ti->major, ti->minor, ti->required_features);
	printf("  \"producer\": ");
	json_str(stdout, ti->producer ? ti->producer : "");
	printf(",\n  \"clock\": ");
	json_str(stdout, tsm_clock_name(ti->clock));
	printf(",\n  \"realtime_offset_ns\": %lld,\n", (long long)ti->realtime_offset_ns);
	printf("  \"created_realtime_ns\": %llu,\n", U64(ti->created_realtime_ns));
	printf("  \"indexed\": %s,\n  \"recovered\": %s,\n  \"discarded_bytes\": %llu,\n",
	       ti->has_index ? "true" : "false", ti->recovered ? "true" : "false",
	       U64(ti->discarded_bytes));
	printf("  \"file_bytes\": %llu,\n  \"chunks\": %llu,\n  \"blocks\": %llu,\n",
	       U64(s->file_bytes), U64(ti->chunk_count), U64(ti->block_count));
	printf("  \"events\": %llu,\n  \"bytes_per_event\": ", U64(s->events));
	json_double(stdout, s->events ? (double)s->file_bytes / (double)s->events : 0.0);
	printf(",\n  \"time\": {\"first_start_ns\": %llu, \"last_end_ns\": %llu, "
	       "\"duration_ns\": %llu},\n",
	       U64(s->first_ns), U64(s->last_ns), U64(s->events ? s->last_ns - s->first_ns : 0));

	printf("  \"processes\": [");
	for (size_t i = 0; i < nprocs; i++) {
		printf("%s\n    {\"pid\": %u, \"rank\": %d, \"name\": ", i ? "," : "", procs[i].pid,
		       (int)procs[i].rank);
		json_str(stdout, str(r, procs[i].name));
		printf(", \"host\": ");
		json_str(stdout, str(r, procs[i].host));
		printf(", \"cmdline\": ");
		json_str(stdout, str(r, procs[i].cmdline));
		printf("}");
	}
	printf("%s],\n  \"devices\": [", nprocs ? "\n  " : "");
	for (size_t i = 0; i < ndevs; i++) {
		const tsm_device_info *dv = &devs[i];

		printf("%s\n    {\"id\": %u, \"name\": ", i ? "," : "", dv->id);
		json_str(stdout, str(r, dv->name));
		printf(", \"uuid\": ");
		json_str(stdout, str(r, dv->uuid));
		printf(", \"cc_major\": %u, \"cc_minor\": %u, \"sm_count\": %u, "
		       "\"global_mem_bytes\": %llu, \"core_clock_khz\": %u, \"mem_clock_khz\": %u, "
		       "\"mem_bus_width_bits\": %u, \"l2_bytes\": %u, \"warp_size\": %u, "
		       "\"max_threads_per_block\": %u, \"max_threads_per_sm\": %u, "
		       "\"regs_per_sm\": %u, \"smem_per_sm_bytes\": %u}",
		       dv->cc_major, dv->cc_minor, dv->sm_count, U64(dv->global_mem_bytes),
		       dv->core_clock_khz, dv->mem_clock_khz, dv->mem_bus_width_bits, dv->l2_bytes,
		       dv->warp_size, dv->max_threads_per_block, dv->max_threads_per_sm,
		       dv->regs_per_sm, dv->smem_per_sm_bytes);
	}
	printf("%s],\n  \"streams\": [", ndevs ? "\n  " : "");
	qsort(s->streams, s->stream_cap, sizeof(*s->streams), cmp_stream);
	sep = "";
	for (size_t i = 0; i < s->stream_cap; i++) {
		const struct stream_stat *st = &s->streams[i];

		if (!st->key)
			continue;
		printf(
		    "%s\n    {\"device\": %u, \"stream\": %u, \"events\": %llu, \"kernels\": %llu, "
		    "\"memcpys\": %llu, \"memsets\": %llu, \"syncs\": %llu, \"kernel_ns\": %llu}",
		    sep, (unsigned)((st->key - 1) >> 32), (unsigned)((st->key - 1) & 0xffffffffu),
		    U64(st->events), U64(st->kernels), U64(st->copies), U64(st->sets),
		    U64(st->syncs), U64(st->kernel_ns));
		sep = ",";
	}
	printf("%s],\n  \"counts\": {", s->nstreams ? "\n  " : "");
	for (unsigned k = 1; k < TSM_EV__COUNT; k++)
		printf("%s\"%s\": %llu", k > 1 ? ", " : "", tsm_event_kind_name(k),
		       U64(s->per_kind[k]));
	printf("},\n  \"durations_ns\": {");
	for (unsigned k = 1; k < TSM_EV__COUNT; k++)
		printf("%s\"%s\": %llu", k > 1 ? ", " : "", tsm_event_kind_name(k),
		       U64(s->kind_ns[k]));
	printf("},\n  \"memcpy\": [");
	sep = "";
	for (unsigned c = 0; c < TSM_COPY__COUNT; c++) {
		if (!s->copy_n[c])
			continue;
		printf("%s\n    {\"direction\": \"%s\", \"count\": %llu, \"bytes\": %llu, "
		       "\"duration_ns\": %llu, \"avg_gbps\": ",
		       sep, c ? tsm_copy_kind_name(c) : "unknown", U64(s->copy_n[c]),
		       U64(s->copy_bytes[c]), U64(s->copy_ns[c]));
		json_double(stdout, gbps(s->copy_bytes[c], s->copy_ns[c]));
		printf("}");
		sep = ",";
	}
	printf("%s],\n", *sep ? "\n  " : "");
	printf("  \"memset\": {\"count\": %llu, \"bytes\": %llu},\n",
	       U64(s->per_kind[TSM_EV_MEMSET]), U64(s->set_bytes));
	printf("  \"memory\": {\"allocs\": %llu, \"alloc_bytes\": %llu, \"frees\": %llu, "
	       "\"free_bytes\": %llu},\n",
	       U64(s->per_kind[TSM_EV_ALLOC]), U64(s->alloc_bytes), U64(s->per_kind[TSM_EV_FREE]),
	       U64(s->free_bytes));
	printf("  \"api\": {\"calls\": %llu, \"errors\": %llu},\n",
	       U64(s->per_kind[TSM_EV_RUNTIME] + s->per_kind[TSM_EV_DRIVER]), U64(s->api_errors));
	printf("  \"kernels\": {\"count\": %llu, \"total_ns\": %llu, \"distinct_names\": %llu},\n",
	       U64(s->per_kind[TSM_EV_KERNEL]), U64(s->kernel_ns), U64(s->kernel_names));
	printf("  \"dropped\": {\"total\": %llu, \"by_source\": {", U64(s->dropped));
	sep = "";
	for (unsigned src = 0; src < 8; src++) {
		if (!s->drop_by_src[src])
			continue;
		printf("%s\"%s\": %llu", sep, drop_src_name(src), U64(s->drop_by_src[src]));
		sep = ", ";
	}
	printf("}},\n  \"metadata\": {");
	for (size_t i = 0; i < nmeta; i++) {
		printf("%s\n    ", i ? "," : "");
		json_str(stdout, str(r, meta[i].key));
		printf(": ");
		kv_json(r, &meta[i]);
	}
	printf("%s}\n}\n", nmeta ? "\n  " : "");
}

int cmd_info(int argc, char **argv)
{
	struct cli_parser p;
	struct stats s;
	struct cli_progress pr;
	tsm_reader *r = NULL;
	const tsm_event *ev;
	const tsm_trace_info *ti;
	const char *file = NULL;
	unsigned flags = 0;
	int format = FMT_TEXT, rc;
	struct stat st;

	memset(&s, 0, sizeof(s));
	cli_parser_init(&p, &spec, argc, argv);
	while ((rc = cli_next(&p)) > 0) {
		if (rc == O_FORMAT) {
			format = cli_parse_format(p.arg, FMT_TEXT | FMT_JSON);
			if (format < 0) {
				rc = cli_usage_error(spec.name, "bad format '%s' (text or json)",
						     p.arg);
				goto out;
			}
		} else if (rc == O_STRICT) {
			flags |= TSM_READ_STRICT;
		}
	}
	rc = cli_parse_end(&spec, rc);
	if (rc >= 0)
		goto out;
	file = p.pos[0];
	tsm_clear_error();
	rc = tsm_reader_open(file, flags, &r);
	if (rc < 0) {
		rc = cli_lib_error(file, rc);
		goto out;
	}
	progress_init(&pr, "reading",
		      strcmp(file, "-") && stat(file, &st) == 0 ? (uint64_t)st.st_size : 0);
	ti = tsm_reader_info(r);
	while ((rc = tsm_reader_next(r, &ev)) == 0) {
		if (account(&s, ev) < 0) {
			progress_done(&pr);
			rc = cli_error(file, "out of memory");
			goto out;
		}
		if (pr.enabled && !(s.events & 0xffff))
			progress_update(&pr, ti->file_bytes, NULL);
	}
	progress_done(&pr);
	if (rc < 0) {
		rc = cli_lib_error(file, rc);
		goto out;
	}
	if (ti->recovered)
		cli_warn(file,
			 "file was not closed cleanly; recovered %llu events, discarded %llu "
			 "bytes at the end",
			 U64(s.events), U64(ti->discarded_bytes));
	/* The reader counts what it consumed; a regular file's size is the authority. */
	s.file_bytes = strcmp(file, "-") && stat(file, &st) == 0 && S_ISREG(st.st_mode)
			   ? (uint64_t)st.st_size
			   : ti->file_bytes;
	if (format == FMT_JSON)
		print_json(file, r, &s);
	else
		print_text(file, r, &s);
	rc = cli_out_finish();
out:
	tsm_reader_close(r);
	free(s.streams);
	free(s.name_seen);
	cli_parser_fini(&p);
	return rc;
}
