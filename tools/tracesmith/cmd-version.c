/* SPDX-License-Identifier: Apache-2.0 */
/* tracesmith version: the program and library versions and what this build can do. */
#include <string.h>

#include "builtin.h"
#include "util.h"

static const struct cli_opt opts[] = {{0}};

static const struct cli_spec spec = {
    .name = "version",
    .synopsis = "",
    .description = "Print the version of tracesmith and of its library, the SBT format version\n"
		   "it writes, and the optional features this build has (zstd block\n"
		   "compression, libunwind call stacks, the CUPTI agent, C++ demangling).",
    .opts = opts,
    .min_pos = 0,
    .max_pos = 0,
};

int cmd_version(int argc, char **argv)
{
	struct cli_parser p;
	unsigned f = tsm_build_features();
	char buf[32];
	int rc, demangle;

	cli_parser_init(&p, &spec, argc, argv);
	while ((rc = cli_next(&p)) > 0)
		;
	cli_parser_fini(&p);
	rc = cli_parse_end(&spec, rc);
	if (rc >= 0)
		return rc;
	/* The demangler is not a TSM_FEATURE bit: ask it. */
	demangle = strcmp(tsm_demangle("_Z1fv", buf, sizeof(buf)), "_Z1fv") != 0;
	printf("tracesmith %s\n", TSM_VERSION_STRING);
	printf("library:  %s\n", tsm_version());
	printf("format:   SBT %d.%d\n", TSM_SBT_MAJOR, TSM_SBT_MINOR);
	printf("features: zstd=%s libunwind=%s cupti=%s demangle=%s\n",
	       f & TSM_FEATURE_ZSTD ? "yes" : "no", f & TSM_FEATURE_LIBUNWIND ? "yes" : "no",
	       f & TSM_FEATURE_CUPTI ? "yes" : "no", demangle ? "yes" : "no");
	return EXIT_OK;
}
