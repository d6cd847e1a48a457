/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The tracesmith subcommands. Each cmd_<name>() gets argv with argv[0]
 * the subcommand name and returns the process exit status (0 ok, 1
 * failure, 2 usage error). Every one accepts -h/--help, which prints the
 * same text as `tracesmith help <name>`.
 */
#ifndef TSM_CLI_BUILTIN_H
#define TSM_CLI_BUILTIN_H

#include <stdio.h>

int cmd_record(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_view(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_timeline(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_help(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);

/* Main usage (the command list) to `out`; used by `help` and `--help`. */
void main_usage(FILE *out);
/* Run `tracesmith NAME --help`; EXIT_USAGE if NAME is not a command. */
int help_for(const char *name);

#endif
