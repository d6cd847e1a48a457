/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tracesmith: the command-line front end. One table of subcommands,
 * dispatched by name (as perf does with its builtin-*.c files); each
 * subcommand lives in cmd-<name>.c with its own options and usage text.
 *
 * `help CMD` runs `CMD --help`, so the two can never differ. SIGPIPE is
 * ignored so that a closed pipe shows up as EPIPE on write, which the
 * commands treat as a quiet, successful end (see util.h).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "builtin.h"
#include "util.h"

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
    {"record", cmd_record, "record a CUDA command (-- CMD) or the simulated GPU into SBT files"},
    {"info", cmd_info, "summarise a trace: time span, devices, streams, counts, bytes"},
    {"dump", cmd_dump, "print every chunk and field of an SBT file with offsets"},
    {"view", cmd_view, "list events, filtered by kind, name, device, stream, time"},
    {"stats", cmd_stats, "where the GPU time went: utilisation, kernels, copies, gaps, steps"},
    {"timeline", cmd_timeline, "per-stream lanes of GPU work drawn in the terminal"},
    {"report", cmd_report, "write a self-contained HTML report (timeline, statistics)"},
    {"export", cmd_export, "write a trace as Perfetto protobuf, Chrome JSON or Kineto JSON"},
    {"import", cmd_import, "convert a Kineto (torch.profiler) or Chrome trace JSON to SBT"},
    {"help", cmd_help, "show help for tracesmith or one of its commands"},
    {"version", cmd_version, "show the version and the build's features"},
};

static const struct command *find(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

void main_usage(FILE *out)
{
	fprintf(out,
		"usage: %s COMMAND [ARGS]\n"
		"       %s --help | --version\n\n"
		"TraceSmith records what a GPU did into a compact SBT trace file and reads it "
		"back.\n\ncommands:\n",
		CLI_PROG, CLI_PROG);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s%s\n", commands[i].name, commands[i].summary);
	fprintf(out,
		"\nRun '%s help COMMAND' (or '%s COMMAND --help') for a command's options.\n"
		"Exit status: 0 success, 1 failure (bad file, I/O error), 2 usage error.\n",
		CLI_PROG, CLI_PROG);
}

int help_for(const char *name)
{
	const struct command *c = find(name);
	char *argv[3];

	if (!c)
		return cli_usage_error("help", "unknown command '%s'", name);
	argv[0] = (char *)c->name;
	argv[1] = (char *)"--help";
	argv[2] = NULL;
	return c->run(2, argv);
}

int main(int argc, char **argv)
{
	const struct command *c;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		main_usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		main_usage(stdout);
		return cli_out_finish();
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))
		return cmd_version(1, (char *[]){(char *)"version", NULL});
	if (argv[1][0] == '-')
		return cli_usage_error(NULL, "unknown option '%s'", argv[1]);
	c = find(argv[1]);
	if (!c)
		return cli_usage_error(NULL, "unknown command '%s'", argv[1]);
	rc = c->run(argc - 1, argv + 1);
	if (rc == EXIT_OK)
		rc = cli_out_finish();
	return rc;
}
