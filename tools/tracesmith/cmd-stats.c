/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tracesmith stats FILE: where did the GPU time go. Builds the timeline
 * (tsm_timeline_build semantics, with a progress bar), runs the analysis
 * and prints the report sections asked for in text, JSON or CSV. The
 * critical path costs a walk over the dependency graph and its steps, so
 * it is only computed with --critical-path (the HTML report always has it).
 */
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "tl-load.h"
#include "util.h"

enum { O_FORMAT = 1, O_ONLY, O_LIMIT, O_TOP, O_SHORT, O_CP, O_NO_DEMANGLE, O_STRICT };

static const struct cli_opt opts[] = {
    {O_FORMAT, 'f', "format", CLI_REQARG, "FMT", "output format: text (default), json or csv"},
    {O_ONLY, 0, "only", CLI_REQARG, "S[,S...]",
     "only these sections: summary, devices, streams, kernels,\n"
     "copies, apis, latency, gaps, top, ranges, steps, critical"},
    {O_LIMIT, 'n', "limit", CLI_REQARG, "N", "text: at most N rows per table (default 25)"},
    {O_TOP, 0, "top", CLI_REQARG, "N", "length of the top-N lists (default 10)"},
    {O_SHORT, 0, "short-kernel", CLI_REQARG, "TIME",
     "kernels shorter than TIME are short (default 10us)"},
    {O_CP, 0, "critical-path", CLI_NOARG, NULL,
     "also compute the critical path (section 'critical')"},
    {O_NO_DEMANGLE, 0, "no-demangle", CLI_NOARG, NULL, "show kernel names as recorded"},
    {O_STRICT, 0, "strict", CLI_NOARG, NULL, "fail on a file that was not closed cleanly"},
    {0},
};

static const struct cli_spec spec = {
    .name = "stats",
    .synopsis = "FILE [--format text|json|csv] [--only SECTIONS] [--critical-path]",
    .description = "Statistics of a trace: GPU utilisation per device and stream, concurrency,\n"
		   "overlap of compute with copies and communication, per-stream states, kernels\n"
		   "by name (count, total, mean, min, max, p50, p95, share), copies by direction\n"
		   "with bandwidth, API calls, launch latency, idle gaps per stream with their\n"
		   "cause, the longest ops, NVTX range and ProfilerStep#N breakdowns, and with\n"
		   "--critical-path the critical path of the stream dependency graph.\n"
		   "FILE '-' reads standard input.",
    .opts = opts,
    .notes = "JSON is one object with a key per section; CSV prints each section as a\n"
	     "table preceded by a '# SECTION' line. Times in JSON/CSV are integer ns.",
    .min_pos = 1,
    .max_pos = 1,
};

int cli_parse_sections(const char *cmd, const char *arg, unsigned *mask);

int cli_parse_sections(const char *cmd, const char *arg, unsigned *mask)
{
	char *s = strdup(arg), *tok, *save = NULL;
	int rc = 0;

	if (!s)
		return cli_error(cmd, "out of memory");
	*mask = 0;
	for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned b = tsm_report_section(tok);

		if (!b) {
			rc = cli_usage_error(cmd, "unknown section '%s'", tok);
			break;
		}
		*mask |= b;
	}
	if (!rc && !*mask)
		rc = cli_usage_error(cmd, "no section named in '%s'", arg);
	free(s);
	return rc;
}

int cmd_stats(int argc, char **argv)
{
	struct cli_parser p;
	struct tl_load l = {0};
	tsm_analysis_opts ao = {0};
	tsm_report_opts ro = {TSM_REPORT_TEXT, 0, 1, 0};
	tsm_analysis *a = NULL;
	unsigned flags = 0;
	uint64_t v;
	int rc, fmt;

	cli_parser_init(&p, &spec, argc, argv);
	while ((rc = cli_next(&p)) > 0) {
		switch (rc) {
		case O_FORMAT:
			fmt = cli_parse_format(p.arg, FMT_TEXT | FMT_JSON | FMT_CSV);
			if (fmt < 0) {
				rc = cli_usage_error(spec.name,
						     "bad format '%s' (text, json or csv)", p.arg);
				goto out;
			}
			ro.format = fmt == FMT_JSON  ? TSM_REPORT_JSON
				    : fmt == FMT_CSV ? TSM_REPORT_CSV
						     : TSM_REPORT_TEXT;
			break;
		case O_ONLY:
			rc = cli_parse_sections(spec.name, p.arg, &ro.sections);
			if (rc)
				goto out;
			break;
		case O_LIMIT:
		case O_TOP:
			if (cli_parse_uint(p.arg, 1000000000, &v) < 0 || !v) {
				rc = cli_usage_error(spec.name, "bad count '%s'", p.arg);
				goto out;
			}
			if (rc == O_LIMIT)
				ro.limit = (uint32_t)v;
			else
				ao.top_n = (uint32_t)v;
			break;
		case O_SHORT:
			if (cli_parse_time(p.arg, &ao.short_kernel_ns) < 0 || !ao.short_kernel_ns) {
				rc = cli_usage_error(spec.name, "bad time '%s' (e.g. 10us)", p.arg);
				goto out;
			}
			break;
		case O_CP:
			ao.critical_path = 1;
			break;
		case O_NO_DEMANGLE:
			ro.demangle = 0;
			break;
		case O_STRICT:
			flags |= TSM_READ_STRICT;
			break;
		}
	}
	rc = cli_parse_end(&spec, rc);
	if (rc >= 0)
		goto out;
	if ((ro.sections & TSM_REP_CRITICAL) && ro.sections != TSM_REP_ALL)
		ao.critical_path = 1;
	rc = tl_load(&l, p.pos[0], flags);
	if (rc)
		goto out;
	rc = tsm_analysis_create(l.tl, &ao, &a);
	if (rc < 0) {
		rc = cli_lib_error(p.pos[0], rc);
		goto out;
	}
	rc = tsm_analysis_write(a, stdout, &ro, tl_reader_name, l.r);
	if (rc < 0 && cli_out_ok())
		rc = cli_lib_error("stdout", rc);
	else
		rc = cli_out_finish();
out:
	tsm_analysis_destroy(a);
	tl_unload(&l);
	cli_parser_fini(&p);
	return rc;
}
