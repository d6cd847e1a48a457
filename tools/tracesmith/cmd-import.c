/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tracesmith import FILE -o OUT.sbt: convert a Kineto (torch.profiler) or
 * Chrome trace JSON file, optionally gzip-compressed, into SBT. The work
 * is tsm_import_file (include/tracesmith/import.h); this file maps the
 * options, draws the progress bar and prints the summary.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "builtin.h"
#include "util.h"

enum { O_OUTPUT = 1, O_ZSTD, O_QUIET };

static const struct cli_opt opts[] = {
    {O_OUTPUT, 'o', "output", CLI_REQARG, "OUT",
     "write the SBT trace to OUT (default: FILE with\n"
     "its .json/.json.gz replaced by .sbt)"},
    {O_ZSTD, 'z', "zstd", CLI_OPTARG, "LEVEL", "compress event blocks with zstd (default level 3)"},
    {O_QUIET, 'q', "quiet", CLI_NOARG, NULL, "no summary line"},
    {0},
};

static const struct cli_spec spec = {
    .name = "import",
    .synopsis = "FILE [-o OUT.sbt] [--zstd[=LEVEL]]",
    .description =
	"Convert a Kineto JSON trace (torch.profiler's export_chrome_trace, *.pt.trace.json)\n"
	"or a Chrome trace JSON file (an object with \"traceEvents\" or a bare array) into\n"
	"an SBT trace. Gzip-compressed input is recognised by its contents. Kernels,\n"
	"copies, sets, runtime/driver calls, cpu ops, annotations, counters and device\n"
	"properties are mapped to TraceSmith events with correlation and external ids\n"
	"kept; other args become each event's metadata. Flow records other than ac2g\n"
	"(torch.profiler's fwdbwd, Chrome's s/t/f, bind_id) set the flow of the slice\n"
	"they bind to. Records that map to nothing are counted in one 'dropped' event\n"
	"(source import) and in the summary. The input is streamed: memory stays bounded\n"
	"whatever its size. Times (microseconds in the JSON) are converted to nanoseconds\n"
	"exactly.",
    .opts = opts,
    .min_pos = 1,
    .max_pos = 1,
};

static void on_progress(uint64_t done, uint64_t total, void *user)
{
	struct cli_progress *p = user;

	(void)total;
	progress_update(p, done, "");
}

static char *default_out(const char *in)
{
	static const char *const sfx[] = {".pt.trace.json.gz", ".pt.trace.json", ".json.gz",
					  ".json"};
	size_t n = strlen(in);
	char *out = malloc(n + 8);

	if (!out)
		return NULL;
	strcpy(out, in);
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		size_t m = strlen(sfx[i]);

		if (n > m && !strcmp(in + n - m, sfx[i])) {
			out[n - m] = 0;
			break;
		}
	}
	strcat(out, ".sbt");
	return out;
}

int cmd_import(int argc, char **argv)
{
	struct cli_parser p;
	tsm_import_opts o;
	tsm_import_stats st;
	struct cli_progress prog;
	const char *file, *out = NULL;
	char *out_alloc = NULL;
	uint64_t n;
	int rc, quiet = 0;
	struct stat sb;
	char b1[32], b2[32], b3[32], b4[32];

	memset(&o, 0, sizeof(o));
	cli_parser_init(&p, &spec, argc, argv);
	while ((rc = cli_next(&p)) > 0) {
		switch (rc) {
		case O_OUTPUT:
			out = p.arg;
			break;
		case O_ZSTD:
			o.zstd_level = 3;
			if (p.arg) {
				if (cli_parse_uint(p.arg, 19, &n) < 0 || !n) {
					cli_usage_error(spec.name, "bad zstd level '%s' (1..19)",
							p.arg);
					cli_parser_fini(&p);
					return EXIT_USAGE;
				}
				o.zstd_level = (int)n;
			}
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
	if (!out) {
		if (!strcmp(file, "-"))
			return cli_usage_error(spec.name, "reading standard input needs -o OUT");
		out = out_alloc = default_out(file);
		if (!out)
			return cli_error(file, "out of memory");
	}
	progress_init(&prog, "import", stat(file, &sb) == 0 ? (uint64_t)sb.st_size : 0);
	o.progress = on_progress;
	o.progress_user = &prog;
	tsm_clear_error();
	rc = tsm_import_file(file, out, &o, &st);
	progress_done(&prog);
	if (rc < 0) {
		rc = cli_lib_error(
		    tsm_last_error_offset() >= 0 || !strstr(tsm_last_error(), out) ? file : out,
		    rc);
		free(out_alloc);
		return rc;
	}
	if (!quiet)
		fprintf(stderr,
			"%s: imported %s events from %s records of %s (%s JSON) into %s; %s ac2g "
			"flows, %s other flows bound, %s metadata records, %s devices, %s records "
			"not mapped%s\n",
			CLI_PROG, fmt_count(b1, sizeof(b1), st.events),
			fmt_count(b2, sizeof(b2), st.records), file,
			fmt_size(b3, sizeof(b3), st.json_bytes), out,
			fmt_count(b4, sizeof(b4), st.flows),
			fmt_count((char[32]){0}, 32, st.flows_bound),
			fmt_count((char[32]){0}, 32, st.metadata),
			fmt_count((char[32]){0}, 32, st.devices),
			fmt_count((char[32]){0}, 32, st.dropped),
			st.dropped ? " (counted in a 'dropped' event)" : "");
	free(out_alloc);
	return EXIT_OK;
}
