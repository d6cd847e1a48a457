/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tracesmith dump FILE: the chunk-by-chunk listing. The library's
 * tsm_sbt_dump does the work so that the listing follows
 * docs/format/sbt.md exactly; this file maps flags and reports errors.
 */
#include "builtin.h"
#include "util.h"

enum { O_EVENTS = 1, O_COLUMNS };

static const struct cli_opt opts[] = {
    {O_EVENTS, 'e', "events", CLI_NOARG, NULL, "also decode and print every event of every block"},
    {O_COLUMNS, 'c', "columns", CLI_NOARG, NULL,
     "also print each block's column sizes and templates"},
    {0},
};

static const struct cli_spec spec = {
    .name = "dump",
    .synopsis = "FILE [--events] [--columns]",
    .description = "Print every chunk of an SBT file in file order, with its offset, type, flags,\n"
		   "size, checksum and every field, named as in docs/format/sbt.md. Use it to\n"
		   "inspect a file byte by byte or to see where a damaged file goes wrong.\n"
		   "The listing stops at the first invalid chunk; the error names its offset.",
    .opts = opts,
    .min_pos = 1,
    .max_pos = 1,
};

int cmd_dump(int argc, char **argv)
{
	struct cli_parser p;
	unsigned flags = 0;
	const char *file;
	int rc;

	cli_parser_init(&p, &spec, argc, argv);
	while ((rc = cli_next(&p)) > 0) {
		if (rc == O_EVENTS)
			flags |= TSM_DUMP_EVENTS;
		else if (rc == O_COLUMNS)
			flags |= TSM_DUMP_COLUMNS;
	}
	file = p.npos ? p.pos[0] : NULL;
	cli_parser_fini(&p);
	rc = cli_parse_end(&spec, rc);
	if (rc >= 0)
		return rc;
	tsm_clear_error();
	rc = tsm_sbt_dump(file, stdout, flags);
	if (rc < 0) {
		/* What was valid is printed; flush it before the error line. */
		if (cli_out_finish() != EXIT_OK)
			return EXIT_FAIL;
		return cli_lib_error(file, rc);
	}
	return cli_out_finish();
}
