/* SPDX-License-Identifier: Apache-2.0 */
/* tracesmith help [COMMAND]: the command list, or one command's usage (== COMMAND --help). */
#include "builtin.h"
#include "util.h"

static const struct cli_opt opts[] = {{0}};

static const struct cli_spec spec = {
    .name = "help",
    .synopsis = "[COMMAND]",
    .description = "Without COMMAND, list the commands. With COMMAND, print its usage: the same\n"
		   "text as 'tracesmith COMMAND --help'.",
    .opts = opts,
    .min_pos = 0,
    .max_pos = 1,
};

int cmd_help(int argc, char **argv)
{
	struct cli_parser p;
	int rc;

	cli_parser_init(&p, &spec, argc, argv);
	while ((rc = cli_next(&p)) > 0)
		;
	if (rc == CLI_HELP) {
		cli_usage(&spec, stdout);
		rc = EXIT_OK;
	} else if (rc == CLI_ERROR) {
		rc = EXIT_USAGE;
	} else if (p.npos == 1) {
		rc = help_for(p.pos[0]);
	} else {
		main_usage(stdout);
		rc = EXIT_OK;
	}
	cli_parser_fini(&p);
	return rc;
}
