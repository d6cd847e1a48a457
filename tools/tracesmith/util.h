/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the tracesmith subcommands: option parsing from a
 * per-command table, usage text generated from the same table, error
 * messages and exit codes, parsing of numbers / times / formats,
 * human-readable formatting, a progress bar, JSON / CSV writers, and
 * output error handling. Only the public library API is used here.
 */
#ifndef TSM_CLI_UTIL_H
#define TSM_CLI_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <tracesmith/tracesmith.h>

#define CLI_PROG "tracesmith"

/* Exit codes (see docs/man/tracesmith.1.md). */
#define EXIT_OK	   0
#define EXIT_FAIL  1
#define EXIT_USAGE 2

/* ---- option tables -------------------------------------------------- */

enum cli_arg { CLI_NOARG, CLI_REQARG, CLI_OPTARG };

struct cli_opt {
	int id;		       /* returned by cli_next; > 0 */
	char short_name;       /* 0: none */
	const char *long_name; /* without "--" */
	enum cli_arg arg;      /* CLI_OPTARG takes its value only as --name=VALUE */
	const char *arg_name;  /* "FILE", "N", ... (NULL for CLI_NOARG) */
	const char *help;      /* may hold '\n' for continuation lines */
};

/* Everything `tracesmith CMD --help` prints comes from here. */
struct cli_spec {
	const char *name;	    /* "view" */
	const char *synopsis;	    /* "FILE [OPTIONS]"; lines separated by '\n' */
	const char *description;    /* paragraph(s) after the synopsis */
	const struct cli_opt *opts; /* terminated by an entry with id 0 */
	const char *notes;	    /* printed after the options, may be NULL */
	int min_pos, max_pos;	    /* positional argument count limits; max -1: any */
};

struct cli_parser {
	const struct cli_spec *spec;
	int argc;
	char **argv;
	int i;		 /* next argv index */
	int only_pos;	 /* seen "--" */
	const char *arg; /* argument of the option just returned, NULL if none */
	char **pos;	 /* positional arguments collected so far */
	int npos;
};

#define CLI_DONE  0  /* all arguments consumed; positionals checked */
#define CLI_HELP  -1 /* -h / --help: the caller prints usage and exits 0 */
#define CLI_ERROR -2 /* a usage error was printed: exit EXIT_USAGE */

/* argv[0] is the subcommand name. */
void cli_parser_init(struct cli_parser *p, const struct cli_spec *spec, int argc, char **argv);
void cli_parser_fini(struct cli_parser *p);
/* Next option id, or CLI_DONE / CLI_HELP / CLI_ERROR. */
int cli_next(struct cli_parser *p);

/* Print the usage text of a subcommand (stdout for --help). */
void cli_usage(const struct cli_spec *spec, FILE *out);

/*
 * After the option loop: -1 when parsing ended normally (go on), else the
 * exit status: EXIT_OK after printing the usage for --help, EXIT_USAGE
 * after a usage error (already printed).
 */
int cli_parse_end(const struct cli_spec *spec, int rc);

/* "tracesmith CMD: <msg>" + "Try 'tracesmith help CMD'."; returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) TSM_PRINTF(2, 3);

/* "tracesmith: WHAT: <msg>"; returns EXIT_FAIL. */
int cli_error(const char *what, const char *fmt, ...) TSM_PRINTF(2, 3);

/* "tracesmith: WHAT: <strerror(rc)>: <detail> (offset N)"; returns EXIT_FAIL. */
int cli_lib_error(const char *what, int rc);

/* "tracesmith: WHAT: warning: <msg>" */
void cli_warn(const char *what, const char *fmt, ...) TSM_PRINTF(2, 3);

/* ---- parsing of values (0 ok, -1 bad: the caller reports a usage error) */

/* Decimal integer with an optional k/M/G suffix (x1000). */
int cli_parse_u64(const char *s, uint64_t *out);
/* Like cli_parse_u64, no suffixes, and at most `max`. */
int cli_parse_uint(const char *s, uint64_t max, uint64_t *out);
/* "1.5ms", "250us", "2s", "100ns": a unit is required. */
int cli_parse_time(const char *s, uint64_t *ns);

enum cli_format { FMT_TEXT = 1, FMT_JSON = 2, FMT_CSV = 4 };
/* Parse "text"/"json"/"csv" limited to the `allowed` mask; -1 if not. */
int cli_parse_format(const char *s, unsigned allowed);

/* ---- formatting (into caller buffers, always NUL-terminated) ---------- */

/* "512 B", "1.50 KiB", "12.3 MiB", "4.00 GiB" */
const char *fmt_size(char *buf, size_t cap, uint64_t bytes);
/* "850 ns", "12.288 us", "1.235 ms", "2.500 s" */
const char *fmt_dur(char *buf, size_t cap, uint64_t ns);
/* "1,234,567" */
const char *fmt_count(char *buf, size_t cap, uint64_t n);
/* ns as "S.NNNNNNNNN" (exact). */
const char *fmt_sec(char *buf, size_t cap, uint64_t ns);
/* bytes over ns as GB/s (1e9 bytes per second); 0 when ns is 0. */
double gbps(uint64_t bytes, uint64_t ns);

/* ---- progress bar (stderr, only when it is a terminal) ---------------- */

struct cli_progress {
	int enabled;
	const char *label;
	uint64_t total; /* 0: unknown (no bar, just the counter text) */
	uint64_t start_ns, last_ns;
	int drawn;
};

void progress_init(struct cli_progress *p, const char *label, uint64_t total);
/* Redraw at most ten times a second. `text` is printed after the bar. */
void progress_update(struct cli_progress *p, uint64_t done, const char *text);
/* Erase the bar. */
void progress_done(struct cli_progress *p);

/* ---- output ------------------------------------------------------------ */

/* Write `s` as a JSON string literal (quotes, escapes, invalid UTF-8 -> U+FFFD). */
void json_str(FILE *f, const char *s);
/* Write `s` as one CSV field (RFC 4180: quoted when it holds , " CR or LF). */
void csv_str(FILE *f, const char *s);
/* Write a double as JSON (null for NaN and infinities). */
void json_double(FILE *f, double v);

/*
 * Output errors. SIGPIPE is ignored by main(); when stdout's reader goes
 * away (`tracesmith view x | head`) writes fail with EPIPE and the
 * command exits 0 without a word, because nothing is wrong with the
 * trace. Any other write error is reported and exits 1.
 * cli_out_ok: 1 while stdout is healthy; on EPIPE exits(0) on the spot.
 * cli_out_finish: flush stdout; returns EXIT_OK or EXIT_FAIL (message printed).
 */
int cli_out_ok(void);
int cli_out_finish(void);

/* Columns of the terminal on `fd`, or 0 when it is not a terminal. */
int cli_term_cols(int fd);
int cli_isatty(int fd);

/* ---- display names -------------------------------------------------- */

/*
 * Cache of display names by string id: the demangled name when `demangle`
 * is set (computed once per id, events repeat names), else the raw name.
 * Names are borrowed from the reader; "" for id 0.
 */
struct name_cache {
	const tsm_reader *r;
	int demangle;
	char **names; /* by id; NULL: not computed */
	size_t cap;
};

void name_cache_init(struct name_cache *c, const tsm_reader *r, int demangle);
const char *name_cache_get(struct name_cache *c, uint32_t id);
void name_cache_fini(struct name_cache *c);

#endif
