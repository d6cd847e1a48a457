/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tracesmith export FILE -o OUT: write an SBT trace as Perfetto protobuf,
 * Chrome JSON or Kineto JSON (tsm_export_file does the work; see
 * include/tracesmith/export.h). This file maps options to
 * tsm_export_opts, resolves relative --from/--to against the trace origin
 * (one extra pass over the file, only when such a time is given), draws
 * the progress bar and prints a one-line summary on stderr.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "builtin.h"
#include "util.h"

enum {
	O_OUTPUT = 1,
	O_FORMAT,
	O_GZIP,
	O_KIND,
	O_DEVICE,
	O_STREAM,
	O_RANK,
	O_FROM,
	O_TO,
	O_DEMANGLE,
	O_NO_DEMANGLE,
	O_STRICT,
	O_QUIET
};

static const struct cli_opt opts[] = {
    {O_OUTPUT, 'o', "output", CLI_REQARG, "OUT", "write to OUT ('-': standard output)"},
    {O_FORMAT, 'f', "format", CLI_REQARG, "FMT",
     "perfetto, chrome or kineto (default: from OUT's extension:\n"
     ".pftrace perfetto, .pt.trace.json kineto, other .json chrome)"},
    {O_GZIP, 'z', "gzip", CLI_NOARG, NULL, "gzip the output (implied by a name ending in .gz)"},
    {O_KIND, 'k', "kind", CLI_REQARG, "K[,K...]",
     "only these kinds: kernel, memcpy, memset, sync, alloc, free,\n"
     "runtime, driver, range, marker, counter, overhead, dropped, cpu_op"},
    {O_DEVICE, 'd', "device", CLI_REQARG, "N", "only events on GPU N (host events are left out)"},
    {O_STREAM, 's', "stream", CLI_REQARG, "N", "only events on stream N"},
    {O_RANK, 0, "rank", CLI_REQARG, "N",
     "only events of rank N's processes (a Kineto file per rank,\n"
     "as torch.profiler writes them)"},
    {O_FROM, 0, "from", CLI_REQARG, "TIME", "only events that end at or after TIME"},
    {O_TO, 0, "to", CLI_REQARG, "TIME", "only events that start at or before TIME"},
    {O_DEMANGLE, 0, "demangle", CLI_NOARG, NULL,
     "demangle kernel names (default for perfetto and chrome)"},
    {O_NO_DEMANGLE, 0, "no-demangle", CLI_NOARG, NULL,
     "keep names as captured (default for kineto, so that an\n"
     "import gives the same names back)"},
    {O_STRICT, 0, "strict", CLI_NOARG, NULL, "fail on a file that was not closed cleanly"},
    {O_QUIET, 'q', "quiet", CLI_NOARG, NULL, "no summary line"},
    {0},
};

static const struct cli_spec spec = {
    .name = "export",
    .synopsis = "FILE -o OUT [--format perfetto|chrome|kineto] [--gzip]\n"
		"[--kind K[,K...]] [--device N] [--stream N] [--rank N] [--from TIME] [--to TIME]",
    .description =
	"Write an SBT trace in a format other tools read: Perfetto's protobuf trace\n"
	"(.pftrace: ui.perfetto.dev, trace_processor), Chrome trace JSON (.json:\n"
	"chrome://tracing, Perfetto UI) or Kineto JSON (.pt.trace.json: torch.profiler's\n"
	"schema, for HTA, TensorBoard and scripts written for torch.profiler traces).\n"
	"The format follows OUT's extension unless --format says otherwise; a name\n"
	"ending in .gz is gzip-compressed. Export streams: memory stays bounded\n"
	"whatever the trace size. A progress bar is drawn on a terminal and a summary\n"
	"line (events, flows, bytes) goes to stderr. A file whose writer died (no\n"
	"footer) is exported in time order all the same, with a warning.",
    .opts = opts,
    .notes = "TIME is relative to the trace origin (the earliest event start), a number\n"
	     "with a unit (ns, us, ms, s), or @NS for an absolute time in the trace's clock.",
    .min_pos = 1,
    .max_pos = 1,
};

struct when {
	uint64_t ns;
	int abs, set;
};

static int parse_when(const char *arg, const char *opt, struct when *w)
{
	w->set = 1;
	if (arg[0] == '@') {
		w->abs = 1;
		if (cli_parse_uint(arg + 1, UINT64_MAX, &w->ns) < 0)
			return cli_usage_error(
			    spec.name, "bad time '%s' for --%s (@ takes nanoseconds)", arg, opt);
		return 0;
	}
	if (cli_parse_time(arg, &w->ns) < 0)
		return cli_usage_error(
		    spec.name,
		    "bad time '%s' for --%s (a number with a unit: ns, us, ms, s; "
		    "or @NS)",
		    arg, opt);
	return 0;
}

static int parse_kinds(const char *arg, uint32_t *mask)
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
		*mask |= 1u << k;
	}
	if (!*mask)
		return cli_usage_error(spec.name, "empty --kind list");
	return 0;
}

/* The earliest event start: one pass over the file. */
static int trace_origin(const char *file, uint64_t *origin)
{
	tsm_reader *r = NULL;
	const tsm_event *ev;
	int rc, any = 0;

	*origin = 0;
	rc = tsm_reader_open(file, 0, &r);
	while (rc >= 0 && (rc = tsm_reader_next(r, &ev)) == 0) {
		if (!any || ev->start_ns < *origin)
			*origin = ev->start_ns;
		any = 1;
	}
	tsm_reader_close(r);
	return rc == TSM_END ? 0 : rc;
}

static void on_progress(uint64_t done, uint64_t total, void *user)
{
	struct cli_progress *p = user;

	p->total = total;
	progress_update(p, done, "");
}

int cmd_export(int argc, char **argv)
{
	struct cli_parser p;
	tsm_export_opts o;
	tsm_export_stats st;
	tsm_reader *r = NULL;
	unsigned rflags = 0;
	struct cli_progress prog;
	struct when from = {0}, to = {0};
	const char *file, *out = NULL;
	uint64_t n;
	int rc, quiet = 0, gz = 0;
	unsigned fmt = 0;
	char b1[32], b2[32], b3[32];

	tsm_export_opts_init(&o);
	cli_parser_init(&p, &spec, argc, argv);
	while ((rc = cli_next(&p)) > 0) {
		const char *a = p.arg;

		switch (rc) {
		case O_OUTPUT:
			out = a;
			break;
		case O_FORMAT:
			o.format = tsm_export_format_from_name(a);
			if (!o.format) {
				cli_usage_error(spec.name,
						"unknown format '%s' (perfetto, chrome or kineto)",
						a);
				goto usage;
			}
			break;
		case O_GZIP:
			gz = 1;
			break;
		case O_KIND:
			if (parse_kinds(a, &o.kind_mask))
				goto usage;
			break;
		case O_DEVICE:
			if (cli_parse_uint(a, 0xFFFE, &n) < 0) {
				cli_usage_error(spec.name, "bad device '%s'", a);
				goto usage;
			}
			o.device = (int32_t)n;
			break;
		case O_STREAM:
			if (cli_parse_uint(a, UINT32_MAX, &n) < 0) {
				cli_usage_error(spec.name, "bad stream '%s'", a);
				goto usage;
			}
			o.stream = (int64_t)n;
			break;
		case O_RANK:
			if (cli_parse_uint(a, INT32_MAX, &n) < 0) {
				cli_usage_error(spec.name, "bad rank '%s'", a);
				goto usage;
			}
			o.rank = (int32_t)n;
			break;
		case O_FROM:
			if (parse_when(a, "from", &from))
				goto usage;
			break;
		case O_TO:
			if (parse_when(a, "to", &to))
				goto usage;
			break;
		case O_DEMANGLE:
			o.demangle = 1;
			break;
		case O_NO_DEMANGLE:
			o.demangle = 0;
			break;
		case O_STRICT:
			rflags |= TSM_READ_STRICT;
			break;
		case O_QUIET:
			quiet = 1;
			break;
		}
	}
	file = p.npos ? p.pos[0] : NULL;
	cli_parser_fini(&p);
	rc = cli_parse_end(&spec, rc);
	if (rc >= 0)
		return rc;
	if (!out)
		return cli_usage_error(spec.name, "missing -o OUT");
	tsm_export_format_from_path(out, &fmt, &o.gzip);
	if (gz)
		o.gzip = 1;
	if (!o.format && !fmt)
		return cli_usage_error(spec.name,
				       "cannot tell the format from '%s': use --format or an "
				       "extension (.pftrace, .json, .pt.trace.json)",
				       out);
	if ((from.set && !from.abs) || (to.set && !to.abs)) {
		uint64_t origin;

		if (!strcmp(file, "-"))
			return cli_usage_error(spec.name, "relative --from/--to need a file, not "
							  "standard input (use @NS)");
		tsm_clear_error();
		rc = trace_origin(file, &origin);
		if (rc < 0)
			return cli_lib_error(file, rc);
		if (from.set && !from.abs)
			from.ns += origin;
		if (to.set && !to.abs)
			to.ns += origin;
	}
	if (from.set)
		o.from_ns = from.ns;
	if (to.set)
		o.to_ns = to.ns ? to.ns : 1;
	if (from.set && to.set && o.to_ns < o.from_ns)
		return cli_usage_error(spec.name, "--to is before --from");

	progress_init(&prog, "export", 0);
	o.progress = on_progress;
	o.progress_user = &prog;
	tsm_clear_error();
	memset(&st, 0, sizeof(st));
	rc = tsm_reader_open(file, rflags, &r);
	if (rc >= 0)
		rc = tsm_export_reader(r, out, &o, &st);
	progress_done(&prog);
	if (rc < 0) {
		/* The detail names the input or output file itself. */
		const char *what = tsm_last_error_offset() >= 0 || !r ? file : out;

		tsm_reader_close(r);
		return cli_lib_error(what, rc);
	}
	if ((o.format ? o.format : fmt) == TSM_EXPORT_KINETO && o.rank < 0) {
		/* torch.profiler writes a file per rank; distributedInfo holds one */
		size_t np, nranks = 0;
		const tsm_process_info *pi = tsm_reader_processes(r, &np);
		int first = -1;

		for (size_t i = 0; i < np; i++) {
			size_t j = 0;

			while (j < i && pi[j].rank != pi[i].rank)
				j++;
			if (pi[i].rank >= 0 && j == i) /* a rank not seen before */
				nranks++;
			if (pi[i].rank >= 0 && first < 0)
				first = pi[i].rank;
		}
		if (nranks > 1)
			cli_warn(
			    file,
			    "%zu ranks in one Kineto file, whose distributedInfo names rank %d; "
			    "--rank N writes one rank's file",
			    nranks, first);
	}
	if (tsm_reader_info(r)->recovered)
		cli_warn(file,
			 "file was not closed cleanly; recovered %llu events, discarded %llu bytes "
			 "at the end",
			 (unsigned long long)st.events_read,
			 (unsigned long long)tsm_reader_info(r)->discarded_bytes);
	tsm_reader_close(r);
	if (!quiet)
		fprintf(stderr,
			"%s: exported %s of %s events to %s (%s, %s%s), %s flows, %s tracks%s\n",
			CLI_PROG, fmt_count(b1, sizeof(b1), st.events_written),
			fmt_count(b2, sizeof(b2), st.events_read), out,
			tsm_export_format_name(o.format ? o.format : fmt),
			fmt_size(b3, sizeof(b3), st.bytes_written), o.gzip ? " gzip" : "",
			fmt_count((char[32]){0}, 32, st.flows),
			fmt_count((char[32]){0}, 32, st.tracks),
			st.overlap_lanes ? ", overlapping slices on extra lanes" : "");
	return EXIT_OK;
usage:
	cli_parser_fini(&p);
	return EXIT_USAGE;
}
