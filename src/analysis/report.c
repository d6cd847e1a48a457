/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Report writers: one description of each table, three renderings.
 *
 * Every section is produced as a table (a list of columns, then rows of
 * cells) through a tiny writer interface, so text, JSON and CSV can never
 * disagree on content. Text puts the name column last so long kernel
 * names need no truncation; JSON gives each section a key holding an
 * array of objects (the summary is one object); CSV writes "# section",
 * a header row and the rows, with a blank line between sections. Times
 * are integers in ns in JSON/CSV and human units in text.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "timeline/timeline-internal.h"
#include "tracesmith/analysis.h"

enum cell { C_STR, C_U64, C_DUR, C_PCT, C_F, C_BYTES, C_LIST };

struct col {
	const char *key;  /* JSON key and CSV header */
	const char *head; /* text header */
	int width;	  /* text width; negative: left aligned */
	enum cell type;
};

struct w {
	FILE *f;
	unsigned format;
	uint32_t limit;
	int first_section;
	const struct col *cols;
	int ncols, col, row, single;
	uint64_t rows_total;
	tsm_name_fn names;
	void *user;
	int demangle;
	tsm__idstrs cache; /* demangled names */
	int nomem;	   /* a name could not be demangled for want of memory */
};

static const char *const section_names[] = {"summary", "devices", "streams", "kernels",
					    "copies",  "apis",	  "latency", "gaps",
					    "top",     "ranges",  "steps",   "critical"};

unsigned tsm_report_section(const char *name)
{
	for (unsigned i = 0; i < TSM__ARRAY_SIZE(section_names); i++)
		if (!strcmp(name, section_names[i]))
			return 1u << i;
	return 0;
}

const char *tsm_report_section_name(unsigned bit)
{
	for (unsigned i = 0; i < TSM__ARRAY_SIZE(section_names); i++)
		if (bit == 1u << i)
			return section_names[i];
	return "?";
}

/* ---- formatting helpers --------------------------------------------------- */

static void fmt_dur(char *b, size_t cap, uint64_t ns)
{
	if (ns < 1000)
		snprintf(b, cap, "%" PRIu64 " ns", ns);
	else if (ns < 1000000)
		snprintf(b, cap, "%.3f us", (double)ns / 1e3);
	else if (ns < 1000000000)
		snprintf(b, cap, "%.3f ms", (double)ns / 1e6);
	else
		snprintf(b, cap, "%.3f s", (double)ns / 1e9);
}

static void fmt_bytes(char *b, size_t cap, uint64_t n)
{
	static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)n;
	int i = 0;

	if (n < 1024) {
		snprintf(b, cap, "%" PRIu64 " B", n);
		return;
	}
	while (v >= 1024 && i < 5) {
		v /= 1024;
		i++;
	}
	snprintf(b, cap, "%.2f %s", v, u[i]);
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void csv_string(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static const char *name_of(struct w *w, uint32_t id)
{
	const char *s;
	uint32_t len;

	if (!id)
		return "";
	s = w->names ? w->names(w->user, id) : NULL;
	if (!s)
		return "?";
	if (w->demangle) {
		const char *d = tsm__demangled(&w->cache, id, s, 1024, &len);

		if (d)
			return d;
		w->nomem = 1; /* the report fails once written to its end */
	}
	return s;
}

/* ---- the table writer ------------------------------------------------------ */

static void table_begin(struct w *w, const char *section, const char *title, const struct col *cols,
			int ncols, int single)
{
	w->cols = cols;
	w->ncols = ncols;
	w->row = 0;
	w->single = single;
	w->rows_total = 0;
	switch (w->format) {
	case TSM_REPORT_TEXT:
		fprintf(w->f, "%s%s\n", w->first_section ? "" : "\n", title);
		if (!single) {
			for (int i = 0; i < ncols; i++)
				fprintf(w->f, i ? "  %*s" : "  %*s", cols[i].width, cols[i].head);
			fputc('\n', w->f);
		}
		break;
	case TSM_REPORT_JSON:
		fprintf(w->f, "%s\n  ", w->first_section ? "" : ",");
		json_string(w->f, section);
		fputs(single ? ": " : ": [", w->f);
		break;
	default:
		fprintf(w->f, "%s# %s\n", w->first_section ? "" : "\n", section);
		for (int i = 0; i < ncols; i++)
			fprintf(w->f, "%s%s", i ? "," : "", cols[i].key);
		fputc('\n', w->f);
	}
	w->first_section = 0;
}

/* Whether the row should be written (text stops at the limit). */
static int row_begin(struct w *w)
{
	w->rows_total++;
	if (w->format == TSM_REPORT_TEXT && !w->single && w->row >= (int)w->limit)
		return 0;
	w->col = 0;
	if (w->format == TSM_REPORT_JSON)
		fputs(w->single ? "{" : (w->row ? ",\n    {" : "\n    {"), w->f);
	w->row++;
	return 1;
}

static void cell_pre(struct w *w)
{
	const struct col *c = &w->cols[w->col];

	if (w->format == TSM_REPORT_JSON) {
		if (w->col)
			fputs(", ", w->f);
		json_string(w->f, c->key);
		fputs(": ", w->f);
	} else if (w->format == TSM_REPORT_CSV) {
		if (w->col)
			fputc(',', w->f);
	} else if (w->single) {
		fprintf(w->f, "  %-22s ", c->head);
	}
}

static void cell_text(struct w *w, const char *s)
{
	const struct col *c = &w->cols[w->col];

	if (w->single)
		fprintf(w->f, "%s\n", s);
	else if (w->col == w->ncols - 1 && c->width < 0)
		fprintf(w->f, "  %s", s);
	else
		fprintf(w->f, "  %*s", c->width, s);
}

static void cell_str(struct w *w, const char *s)
{
	cell_pre(w);
	if (w->format == TSM_REPORT_JSON)
		json_string(w->f, s);
	else if (w->format == TSM_REPORT_CSV)
		csv_string(w->f, s);
	else
		cell_text(w, s);
	w->col++;
}

static void cell_u64(struct w *w, uint64_t v)
{
	char b[64];

	cell_pre(w);
	if (w->format != TSM_REPORT_TEXT) {
		fprintf(w->f, "%" PRIu64, v);
	} else {
		switch (w->cols[w->col].type) {
		case C_DUR:
			fmt_dur(b, sizeof(b), v);
			break;
		case C_BYTES:
			fmt_bytes(b, sizeof(b), v);
			break;
		default:
			snprintf(b, sizeof(b), "%" PRIu64, v);
		}
		cell_text(w, b);
	}
	w->col++;
}

static void cell_i64(struct w *w, int64_t v)
{
	char b[32];

	cell_pre(w);
	snprintf(b, sizeof(b), "%" PRId64, v);
	if (w->format != TSM_REPORT_TEXT)
		fputs(b, w->f);
	else
		cell_text(w, b);
	w->col++;
}

/* C_PCT cells take a fraction 0..1; text shows a percentage. */
static void cell_f(struct w *w, double v)
{
	char b[64];

	cell_pre(w);
	if (v != v)
		v = 0;
	if (w->format == TSM_REPORT_TEXT) {
		if (w->cols[w->col].type == C_PCT)
			snprintf(b, sizeof(b), "%.2f%%", v * 100);
		else
			snprintf(b, sizeof(b), "%.2f", v);
		cell_text(w, b);
	} else {
		fprintf(w->f, "%.6g", v);
	}
	w->col++;
}

static void cell_list(struct w *w, const uint64_t *v, size_t n)
{
	cell_pre(w);
	if (w->format == TSM_REPORT_JSON) {
		fputc('[', w->f);
		for (size_t i = 0; i < n; i++)
			fprintf(w->f, "%s%" PRIu64, i ? ", " : "", v[i]);
		fputc(']', w->f);
	} else {
		char b[1024];
		size_t k = 0;

		b[0] = 0;
		for (size_t i = 0; i < n && k < sizeof(b) - 24; i++)
			k += (size_t)snprintf(b + k, sizeof(b) - k, "%s%" PRIu64, i ? ";" : "",
					      v[i]);
		if (w->format == TSM_REPORT_CSV)
			fputs(b, w->f);
		else
			cell_text(w, b);
	}
	w->col++;
}

static void row_end(struct w *w)
{
	if (w->format == TSM_REPORT_JSON)
		fputc('}', w->f);
	else if (!w->single)
		fputc('\n', w->f);
}

static void table_end(struct w *w)
{
	if (w->format == TSM_REPORT_JSON) {
		if (!w->single)
			fputs(w->row ? "\n  ]" : "]", w->f);
	} else if (w->format == TSM_REPORT_TEXT && !w->single && w->rows_total > w->limit) {
		fprintf(w->f,
			"  ... %" PRIu64 " more rows (--limit, or --format json/csv for all)\n",
			w->rows_total - w->limit);
	}
}

/* ---- sections -------------------------------------------------------------- */

static double frac(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0;
}

static void s_summary(struct w *w, const tsm_analysis *a)
{
	const tsm_timeline *tl = a->tl;
	const tsm_tl_summary *s = &tl->sum;
	static const struct col cols[] = {
	    {"events", "events", 0, C_U64},
	    {"span_ns", "time span", 0, C_DUR},
	    {"devices", "devices", 0, C_U64},
	    {"streams", "streams", 0, C_U64},
	    {"host_threads", "host threads", 0, C_U64},
	    {"gpu_ops", "GPU ops", 0, C_U64},
	    {"api_calls", "API calls", 0, C_U64},
	    {"launched_ops", "ops with their launch", 0, C_U64},
	    {"unmatched_ops", "ops without a launch", 0, C_U64},
	    {"kernels", "kernels", 0, C_U64},
	    {"kernel_ns", "kernel time", 0, C_DUR},
	    {"short_kernels", "short kernels", 0, C_U64},
	    {"short_kernel_ns", "short kernel time", 0, C_DUR},
	    {"short_threshold_ns", "short threshold", 0, C_DUR},
	    {"event_edges", "event edges", 0, C_U64},
	    {"unmatched_waits", "waits w/o record", 0, C_U64},
	    {"sync_edges", "sync edges", 0, C_U64},
	    {"nvtx_ranges", "NVTX ranges", 0, C_U64},
	    {"profiler_steps", "profiler steps", 0, C_U64},
	};

	table_begin(w, "summary", "summary", cols, TSM__ARRAY_SIZE(cols), 1);
	row_begin(w);
	cell_u64(w, s->events);
	cell_u64(w, s->last_ns - s->first_ns);
	cell_u64(w, tl->ndevices);
	cell_u64(w, tl->ngpu);
	cell_u64(w, tl->nhost);
	cell_u64(w, tl->nops);
	cell_u64(w, tl->napis);
	cell_u64(w, s->launched);
	cell_u64(w, s->unmatched_ops);
	cell_u64(w, a->kernel_count);
	cell_u64(w, a->kernel_ns);
	cell_u64(w, a->short_count);
	cell_u64(w, a->short_ns);
	cell_u64(w, a->short_kernel_ns);
	cell_u64(w, s->wait_edges);
	cell_u64(w, s->unmatched_waits);
	cell_u64(w, s->sync_edges);
	cell_u64(w, tl->nranges);
	cell_u64(w, a->nsteps);
	row_end(w);
	table_end(w);
}

static void s_devices(struct w *w, const tsm_analysis *a)
{
	static const struct col cols[] = {
	    {"device", "DEVICE", 6, C_U64},
	    {"streams", "STREAMS", 7, C_U64},
	    {"span_ns", "SPAN", 12, C_DUR},
	    {"busy_ns", "BUSY", 12, C_DUR},
	    {"utilization", "UTIL", 8, C_PCT},
	    {"compute_ns", "COMPUTE", 12, C_DUR},
	    {"comm_ns", "COMM", 12, C_DUR},
	    {"memcpy_ns", "MEMCPY", 12, C_DUR},
	    {"memset_ns", "MEMSET", 12, C_DUR},
	    {"compute_copy_overlap_ns", "COMP||COPY", 12, C_DUR},
	    {"compute_comm_overlap_ns", "COMP||COMM", 12, C_DUR},
	    {"comm_copy_overlap_ns", "COMM||COPY", 12, C_DUR},
	    {"max_concurrency", "MAXCONC", 7, C_U64},
	    {"concurrency_ns", "TIME AT 0;1;2;... OPS RUNNING (ns)", -1, C_LIST},
	};
	const tsm_timeline *tl = a->tl;

	table_begin(w, "devices", "devices (utilisation = busy / device span)", cols,
		    TSM__ARRAY_SIZE(cols), 0);
	for (size_t i = 0; i < tl->ndevices; i++) {
		const tsm_tl_device *d = &tl->devices[i];
		size_t n = TSM_TL_MAX_CONCURRENCY;

		if (!row_begin(w))
			continue;
		while (n > 1 && !d->concurrency_ns[n - 1])
			n--;
		cell_u64(w, d->device);
		cell_u64(w, d->lanes);
		cell_u64(w, d->last_ns - d->first_ns);
		cell_u64(w, d->busy_ns);
		cell_f(w, frac(d->busy_ns, d->last_ns - d->first_ns));
		for (int c = 0; c < 4; c++)
			cell_u64(w, d->class_ns[c]);
		cell_u64(w, d->compute_copy_ns);
		cell_u64(w, d->compute_comm_ns);
		cell_u64(w, d->comm_copy_ns);
		cell_u64(w, d->max_concurrency);
		cell_list(w, d->concurrency_ns, n);
		row_end(w);
	}
	table_end(w);
}

static void s_streams(struct w *w, const tsm_analysis *a)
{
	static const struct col cols[] = {
	    {"device", "DEVICE", 6, C_U64},
	    {"stream", "STREAM", 7, C_U64},
	    {"pid", "PID", 7, C_U64},
	    {"ops", "OPS", 10, C_U64},
	    {"busy_ns", "BUSY", 12, C_DUR},
	    {"utilization", "UTIL", 8, C_PCT},
	    {"running_ns", "RUNNING", 12, C_DUR},
	    {"waiting_ns", "WAITING", 12, C_DUR},
	    {"launching_ns", "LAUNCHING", 12, C_DUR},
	    {"synchronizing_ns", "SYNCING", 12, C_DUR},
	    {"idle_ns", "IDLE", 12, C_DUR},
	};
	const tsm_timeline *tl = a->tl;
	uint64_t span = tl->sum.last_ns - tl->sum.first_ns;

	table_begin(w, "streams", "streams (utilisation = busy / trace span; states are exclusive)",
		    cols, TSM__ARRAY_SIZE(cols), 0);
	for (size_t i = 0; i < tl->ngpu; i++) {
		const tsm_tl_lane *l = &tl->lanes[i];

		if (!row_begin(w))
			continue;
		cell_u64(w, l->device);
		cell_u64(w, l->stream);
		cell_u64(w, l->pid);
		cell_u64(w, l->count);
		cell_u64(w, l->busy_ns);
		cell_f(w, frac(l->busy_ns, span));
		for (int s = 0; s < TSM_SS__COUNT; s++)
			cell_u64(w, l->state_ns[s]);
		row_end(w);
	}
	table_end(w);
}

static void s_kernels(struct w *w, const tsm_analysis *a)
{
	static const struct col cols[] = {
	    {"count", "COUNT", 9, C_U64}, {"total_ns", "TOTAL", 12, C_DUR},
	    {"share", "SHARE", 7, C_PCT}, {"mean_ns", "MEAN", 11, C_DUR},
	    {"min_ns", "MIN", 11, C_DUR}, {"max_ns", "MAX", 11, C_DUR},
	    {"p50_ns", "P50", 11, C_DUR}, {"p95_ns", "P95", 11, C_DUR},
	    {"short", "SHORT", 8, C_U64}, {"class", "CLASS", 7, C_STR},
	    {"name", "NAME", -1, C_STR},
	};

	table_begin(w, "kernels", "kernels by total time", cols, TSM__ARRAY_SIZE(cols), 0);
	for (size_t i = 0; i < a->nkernels; i++) {
		const tsm_kernel_stat *k = &a->kernels[i];

		if (!row_begin(w))
			continue;
		cell_u64(w, k->count);
		cell_u64(w, k->total_ns);
		cell_f(w, k->share);
		cell_u64(w, (uint64_t)(k->mean_ns + 0.5));
		cell_u64(w, k->min_ns);
		cell_u64(w, k->max_ns);
		cell_u64(w, k->p50_ns);
		cell_u64(w, k->p95_ns);
		cell_u64(w, k->short_count);
		cell_str(w, k->cls == TSM_OPC_COMM ? "comm" : "compute");
		cell_str(w, name_of(w, k->name));
		row_end(w);
	}
	table_end(w);
}

static void s_copies(struct w *w, const tsm_analysis *a)
{
	static const struct col cols[] = {
	    {"kind", "KIND", 7, C_STR},	     {"direction", "DIRECTION", 9, C_STR},
	    {"count", "COUNT", 9, C_U64},    {"bytes", "BYTES", 12, C_BYTES},
	    {"total_ns", "TIME", 12, C_DUR}, {"gbps", "GB/s", 9, C_F},
	};

	table_begin(w, "copies", "memory copies and sets (GB/s = bytes / busy time)", cols,
		    TSM__ARRAY_SIZE(cols), 0);
	for (size_t i = 0; i < a->ncopies; i++) {
		const tsm_copy_stat *c = &a->copies[i];

		if (!row_begin(w))
			continue;
		cell_str(w, c->kind == TSM_EV_MEMSET ? "memset" : "memcpy");
		cell_str(w, c->kind == TSM_EV_MEMSET ? "-" : tsm_copy_kind_name(c->copy_kind));
		cell_u64(w, c->count);
		cell_u64(w, c->bytes);
		cell_u64(w, c->total_ns);
		cell_f(w, c->gbps);
		row_end(w);
	}
	table_end(w);
}

static void s_apis(struct w *w, const tsm_analysis *a)
{
	static const struct col cols[] = {
	    {"count", "COUNT", 9, C_U64},   {"total_ns", "TOTAL", 12, C_DUR},
	    {"mean_ns", "MEAN", 11, C_DUR}, {"min_ns", "MIN", 11, C_DUR},
	    {"max_ns", "MAX", 11, C_DUR},   {"kind", "KIND", 7, C_STR},
	    {"name", "NAME", -1, C_STR},
	};

	table_begin(w, "apis", "API calls by total time", cols, TSM__ARRAY_SIZE(cols), 0);
	for (size_t i = 0; i < a->napis; i++) {
		const tsm_api_stat *s = &a->apis[i];

		if (!row_begin(w))
			continue;
		cell_u64(w, s->count);
		cell_u64(w, s->total_ns);
		cell_u64(w, (uint64_t)(s->mean_ns + 0.5));
		cell_u64(w, s->min_ns);
		cell_u64(w, s->max_ns);
		cell_str(w, tsm_event_kind_name(s->kind));
		cell_str(w, name_of(w, s->name));
		row_end(w);
	}
	table_end(w);
}

static void s_latency(struct w *w, const tsm_analysis *a)
{
	static const struct col cols[] = {
	    {"count", "launches", 0, C_U64},
	    {"mean_ns", "mean", 0, C_DUR},
	    {"min_ns", "min", 0, C_DUR},
	    {"p50_ns", "p50", 0, C_DUR},
	    {"p90_ns", "p90", 0, C_DUR},
	    {"p95_ns", "p95", 0, C_DUR},
	    {"p99_ns", "p99", 0, C_DUR},
	    {"max_ns", "max", 0, C_DUR},
	    {"log2_histogram", "log2 histogram", 0, C_LIST},
	};
	const tsm_dist *d = &a->launch_latency;
	size_t n = TSM_DIST_BUCKETS;

	while (n > 1 && !d->log2_hist[n - 1])
		n--;
	table_begin(w, "latency", "launch latency (API call start -> GPU start)", cols,
		    TSM__ARRAY_SIZE(cols), 1);
	row_begin(w);
	cell_u64(w, d->count);
	cell_u64(w, (uint64_t)(d->mean_ns + 0.5));
	cell_u64(w, d->min_ns);
	cell_u64(w, d->p50_ns);
	cell_u64(w, d->p90_ns);
	cell_u64(w, d->p95_ns);
	cell_u64(w, d->p99_ns);
	cell_u64(w, d->max_ns);
	cell_list(w, d->log2_hist, n);
	row_end(w);
	table_end(w);
}

static void s_gaps(struct w *w, const tsm_analysis *a)
{
	static const struct col cols[] = {
	    {"device", "DEVICE", 6, C_U64},
	    {"stream", "STREAM", 7, C_U64},
	    {"pid", "PID", 7, C_U64},
	    {"gaps", "GAPS", 9, C_U64},
	    {"idle_ns", "IDLE", 12, C_DUR},
	    {"max_ns", "LONGEST", 12, C_DUR},
	    {"host_ns", "HOST", 12, C_DUR},
	    {"sync_ns", "SYNC", 12, C_DUR},
	    {"stream_ns", "STREAM", 12, C_DUR},
	    {"launch_ns", "LAUNCH", 12, C_DUR},
	    {"unknown_ns", "UNKNOWN", 12, C_DUR},
	};
	static const struct col tcols[] = {
	    {"device", "DEVICE", 6, C_U64},   {"stream", "STREAM", 7, C_U64},
	    {"start_ns", "START", 20, C_U64}, {"length_ns", "LENGTH", 12, C_DUR},
	    {"cause", "CAUSE", 8, C_STR},     {"next", "NEXT OP", -1, C_STR},
	};
	const tsm_timeline *tl = a->tl;

	table_begin(w, "gaps", "idle gaps between ops per stream, by cause", cols,
		    TSM__ARRAY_SIZE(cols), 0);
	for (size_t i = 0; i < a->ngaps; i++) {
		const tsm_gap_stat *g = &a->gaps[i];
		const tsm_tl_lane *l = &tl->lanes[g->lane];

		if (!row_begin(w))
			continue;
		cell_u64(w, l->device);
		cell_u64(w, l->stream);
		cell_u64(w, l->pid);
		cell_u64(w, g->count);
		cell_u64(w, g->total_ns);
		cell_u64(w, g->max_ns);
		for (int c = 0; c < TSM_GAP__COUNT; c++)
			cell_u64(w, g->cause_ns[c]);
		row_end(w);
	}
	table_end(w);
	table_begin(w, "longest_gaps", "longest idle gaps", tcols, TSM__ARRAY_SIZE(tcols), 0);
	for (size_t i = 0; i < a->ntop_gaps; i++) {
		const tsm_gap *g = &a->top_gaps[i];
		const tsm_tl_lane *l = &tl->lanes[g->lane];

		if (!row_begin(w))
			continue;
		cell_u64(w, l->device);
		cell_u64(w, l->stream);
		cell_u64(w, g->start_ns);
		cell_u64(w, g->end_ns - g->start_ns);
		cell_str(w, tsm_gap_cause_name(g->cause));
		cell_str(w, tl->ops[g->after].name ? name_of(w, tl->ops[g->after].name)
						   : tsm_event_kind_name(tl->ops[g->after].kind));
		row_end(w);
	}
	table_end(w);
}

static void s_top(struct w *w, const tsm_analysis *a)
{
	static const struct col cols[] = {
	    {"device", "DEVICE", 6, C_U64},   {"stream", "STREAM", 7, C_U64},
	    {"start_ns", "START", 20, C_U64}, {"duration_ns", "DURATION", 12, C_DUR},
	    {"kind", "KIND", 7, C_STR},	      {"name", "NAME", -1, C_STR},
	};
	const tsm_timeline *tl = a->tl;

	table_begin(w, "top", "longest GPU ops", cols, TSM__ARRAY_SIZE(cols), 0);
	for (size_t i = 0; i < a->ntop_ops; i++) {
		const tsm_tl_op *op = &tl->ops[a->top_ops[i]];
		int li = tsm_timeline_lane_of(tl, a->top_ops[i]);

		if (!row_begin(w))
			continue;
		cell_u64(w, tl->lanes[li].device);
		cell_u64(w, tl->lanes[li].stream);
		cell_u64(w, op->start_ns);
		cell_u64(w, op->end_ns - op->start_ns);
		cell_str(w, tsm_event_kind_name(op->kind));
		cell_str(w, name_of(w, op->name));
		row_end(w);
	}
	table_end(w);
}

static void s_ranges(struct w *w, const tsm_analysis *a)
{
	static const struct col cols[] = {
	    {"count", "COUNT", 8, C_U64},     {"total_ns", "TOTAL", 12, C_DUR},
	    {"gpu_ops", "GPU OPS", 9, C_U64}, {"kernel_ns", "KERNEL", 12, C_DUR},
	    {"comm_ns", "COMM", 12, C_DUR},   {"copy_ns", "COPY/SET", 12, C_DUR},
	    {"name", "NAME", -1, C_STR},
	};

	table_begin(w, "ranges",
		    "NVTX ranges by name (GPU work launched inside, nested ranges included)", cols,
		    TSM__ARRAY_SIZE(cols), 0);
	for (size_t i = 0; i < a->nrange_names; i++) {
		const tsm_range_name_stat *r = &a->range_names[i];

		if (!row_begin(w))
			continue;
		cell_u64(w, r->count);
		cell_u64(w, r->total_ns);
		cell_u64(w, r->ops);
		cell_u64(w, r->kernel_ns);
		cell_u64(w, r->comm_ns);
		cell_u64(w, r->copy_ns);
		cell_str(w, name_of(w, r->name));
		row_end(w);
	}
	table_end(w);
}

static void s_steps(struct w *w, const tsm_analysis *a)
{
	static const struct col cols[] = {
	    {"step", "STEP", 8, C_U64},
	    {"pid", "PID", 7, C_U64},
	    {"start_ns", "START", 20, C_U64},
	    {"duration_ns", "DURATION", 12, C_DUR},
	    {"gpu_ops", "GPU OPS", 8, C_U64},
	    {"kernel_ns", "KERNEL", 12, C_DUR},
	    {"comm_ns", "COMM", 12, C_DUR},
	    {"copy_ns", "COPY/SET", 12, C_DUR},
	    {"launch_api_ns", "LAUNCH API", 12, C_DUR},
	};
	const tsm_timeline *tl = a->tl;

	table_begin(w, "steps", "ProfilerStep#N iterations", cols, TSM__ARRAY_SIZE(cols), 0);
	for (size_t i = 0; i < a->nranges; i++) {
		const tsm_range_stat *s = &a->ranges[i];
		const tsm_tl_range *r = &tl->ranges[s->range];

		if (s->step < 0 || !row_begin(w))
			continue;
		cell_i64(w, s->step);
		cell_u64(w, r->pid);
		cell_u64(w, r->start_ns);
		cell_u64(w, r->end_ns - r->start_ns);
		cell_u64(w, s->ops);
		cell_u64(w, s->kernel_ns);
		cell_u64(w, s->comm_ns);
		cell_u64(w, s->copy_ns);
		cell_u64(w, s->api_ns);
		row_end(w);
	}
	table_end(w);
}

static void s_critical(struct w *w, const tsm_analysis *a)
{
	static const struct col cols[] = {
	    {"what", "WHAT", -28, C_STR},
	    {"time_ns", "TIME", 12, C_DUR},
	    {"share", "SHARE", 8, C_PCT},
	    {"name", "DETAIL", -1, C_STR},
	};
	const tsm_critical_path *cp = a->cp;
	const tsm_timeline *tl = a->tl;
	uint64_t span;
	char b[128];

	table_begin(w, "critical", "critical path (time on the path by what it was spent on)", cols,
		    TSM__ARRAY_SIZE(cols), 0);
	if (!a->have_cp || !cp) {
		table_end(w);
		return;
	}
	span = cp->end_ns - cp->start_ns;
#define ROW(what, ns, detail)                      \
	do {                                       \
		if (row_begin(w)) {                \
			cell_str(w, what);         \
			cell_u64(w, ns);           \
			cell_f(w, frac(ns, span)); \
			cell_str(w, detail);       \
			row_end(w);                \
		}                                  \
	} while (0)
	snprintf(b, sizeof(b), "%zu steps from %" PRIu64 " to %" PRIu64, cp->nsteps, cp->start_ns,
		 cp->end_ns);
	ROW("path", span, b);
	for (int c = 0; c < TSM_OPC__COUNT; c++)
		if (cp->class_ns[c]) {
			snprintf(b, sizeof(b), "class:%s", tsm_op_class_name((unsigned)c));
			ROW(b, cp->class_ns[c], "GPU op execution");
		}
	if (cp->api_ns)
		ROW("class:api", cp->api_ns, "host API call execution");
	for (int e = 1; e < TSM_EDGE__COUNT; e++)
		if (cp->edge_ns[e]) {
			snprintf(b, sizeof(b), "wait:%s", tsm_edge_type_name((unsigned)e));
			ROW(b, cp->edge_ns[e], "gap before a node, gated by this dependency");
		}
	for (size_t i = 0; i < a->ncp_lanes; i++) {
		const tsm_tl_lane *l = &tl->lanes[a->cp_lanes[i].key];
		char d[96];

		if (l->type == TSM_LANE_GPU)
			snprintf(d, sizeof(d), "lane:gpu%u/stream%u", l->device, l->stream);
		else
			snprintf(d, sizeof(d), "lane:pid%u/tid%" PRIu64, l->pid, l->tid);
		ROW(d, a->cp_lanes[i].ns, "");
	}
	for (size_t i = 0; i < a->ncp_names; i++) {
		const tsm_cp_share *s = &a->cp_names[i];

		snprintf(b, sizeof(b), "name:%s",
			 s->cls == TSM_OPC__COUNT ? "api" : tsm_op_class_name(s->cls));
		ROW(b, s->ns, name_of(w, s->key));
	}
#undef ROW
	table_end(w);
}

int tsm_analysis_write(const tsm_analysis *a, FILE *out, const tsm_report_opts *opts,
		       tsm_name_fn names, void *user)
{
	struct w w = {0};
	unsigned sec = opts && opts->sections ? opts->sections : TSM_REP_ALL;

	w.f = out;
	w.format = opts && opts->format ? opts->format : TSM_REPORT_TEXT;
	w.limit = opts && opts->limit ? opts->limit : 25;
	w.demangle = opts ? opts->demangle : 1;
	w.names = names;
	w.user = user;
	w.first_section = 1;
	if (w.format == TSM_REPORT_JSON)
		fputc('{', out);
	if (sec & TSM_REP_SUMMARY)
		s_summary(&w, a);
	if (sec & TSM_REP_DEVICES)
		s_devices(&w, a);
	if (sec & TSM_REP_STREAMS)
		s_streams(&w, a);
	if (sec & TSM_REP_KERNELS)
		s_kernels(&w, a);
	if (sec & TSM_REP_COPIES)
		s_copies(&w, a);
	if (sec & TSM_REP_APIS)
		s_apis(&w, a);
	if (sec & TSM_REP_LATENCY)
		s_latency(&w, a);
	if (sec & TSM_REP_GAPS)
		s_gaps(&w, a);
	if (sec & TSM_REP_TOP)
		s_top(&w, a);
	if (sec & TSM_REP_RANGES)
		s_ranges(&w, a);
	if (sec & TSM_REP_STEPS)
		s_steps(&w, a);
	if ((sec & TSM_REP_CRITICAL) && a->have_cp)
		s_critical(&w, a);
	if (w.format == TSM_REPORT_JSON)
		fputs("\n}\n", out);
	tsm__idstrs_fini(&w.cache);
	if (fflush(out) != 0 || ferror(out))
		return TSM_FAIL(TSM_IO, "report: write failed");
	if (w.nomem)
		return TSM_FAIL(TSM_NOMEM, "report: demangled kernel names");
	return 0;
}
