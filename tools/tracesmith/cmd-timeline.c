/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tracesmith timeline FILE: per-stream lanes drawn in the terminal.
 *
 * The window [--from, --to] (relative to the trace's first event; "@NS"
 * absolute) is cut into as many cells as the chart is wide. For each GPU
 * lane, the ops overlapping the window are found by bisection on start
 * (lanes are sorted; a few steps back catch ops that started earlier)
 * and their time is spread over the cells they cover, per class. A cell
 * shows its dominant class when the lane was busy at least half of it,
 * '.' when less, ' ' when idle. Colour (ANSI) only when stdout is a
 * terminal, or with --color=always.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builtin.h"
#include "tl-load.h"
#include "util.h"

enum { O_WIDTH = 1, O_FROM, O_TO, O_DEVICE, O_COLOR, O_STRICT };

static const struct cli_opt opts[] = {
    {O_WIDTH, 'w', "width", CLI_REQARG, "N",
     "total width in columns (default: the terminal's, or 120)"},
    {O_FROM, 0, "from", CLI_REQARG, "TIME", "window start, relative to the trace start (or @NS)"},
    {O_TO, 0, "to", CLI_REQARG, "TIME", "window end, relative to the trace start (or @NS)"},
    {O_DEVICE, 'd', "device", CLI_REQARG, "N", "only the streams of GPU N"},
    {O_COLOR, 0, "color", CLI_REQARG, "WHEN", "auto (default: on a terminal), always or never"},
    {O_STRICT, 0, "strict", CLI_NOARG, NULL, "fail on a file that was not closed cleanly"},
    {0},
};

static const struct cli_spec spec = {
    .name = "timeline",
    .synopsis = "FILE [--width N] [--from TIME] [--to TIME] [--device N] [--color WHEN]",
    .description = "Draw one lane per GPU stream, scaled to the width, with a time axis and a\n"
		   "legend: what ran in each column of time (compute kernel, communication,\n"
		   "copy, set, event wait) and each lane's busy share of the window.\n"
		   "FILE '-' reads standard input.",
    .opts = opts,
    .notes = "TIME is a number with a unit (ns, us, ms, s) from the trace's first event,\n"
	     "or @NS for an absolute time in the trace's clock.",
    .min_pos = 1,
    .max_pos = 1,
};

/* Cell glyphs per class (compute, comm, copy, set, sync wait) and their colours. */
static const char glyph[5] = {'#', '=', '>', '~', '|'};
static const char *const colour[5] = {"\033[32m", "\033[35m", "\033[36m", "\033[33m", "\033[90m"};

static int parse_when(const char *arg, const char *opt, uint64_t *ns, int *abs)
{
	if (arg[0] == '@') {
		*abs = 1;
		if (cli_parse_uint(arg + 1, UINT64_MAX, ns) < 0)
			return cli_usage_error(spec.name, "bad time '%s' for --%s", arg, opt);
		return 0;
	}
	*abs = 0;
	if (cli_parse_time(arg, ns) < 0)
		return cli_usage_error(
		    spec.name,
		    "bad time '%s' for --%s (a number with a unit: ns, us, ms, s; or @NS)", arg,
		    opt);
	return 0;
}

/*
 * Tick label: the unit suits the offset from the trace start (`end`), the
 * decimals the window's length (`span`), so that neighbouring ticks differ.
 */
static void tick_label(char *b, size_t cap, uint64_t ns, uint64_t end, uint64_t span)
{
	static const struct {
		const char *name;
		double ns;
	} units[] = {{"s", 1e9}, {"ms", 1e6}, {"us", 1e3}, {"ns", 1}};
	double step = (double)span / 8;
	int u = 0, d = 0;

	while (u < 3 && (double)end < 10 * units[u].ns)
		u++;
	for (double q = units[u].ns; d < 6 && q > step && units[u].ns > 1; q /= 10)
		d++;
	snprintf(b, cap, "%.*f%s", d, (double)ns / units[u].ns, units[u].name);
}

static void draw_lane(const tsm_timeline *tl, const tsm_tl_lane *l, uint64_t from, uint64_t to,
		      int cols, uint64_t *acc, char *line, int color, uint64_t *busy_out)
{
	size_t nops;
	const tsm_tl_op *ops = tsm_timeline_ops(tl, &nops) + l->first;
	uint64_t span = to - from, busy = 0, cur_end = 0;
	size_t lo = 0, hi = l->count;
	const char *cur = NULL;

	(void)nops;
	memset(acc, 0, (size_t)cols * 5 * sizeof(*acc));
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (ops[mid].start_ns < from)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* ops that started before the window may reach into it */
	for (size_t back = 0; lo > 0 && back < 64 && ops[lo - 1].end_ns > from; back++)
		lo--;
	for (size_t i = lo; i < l->count && ops[i].start_ns < to; i++) {
		const tsm_tl_op *op = &ops[i];
		uint64_t s = op->start_ns > from ? op->start_ns : from;
		uint64_t e = op->end_ns < to ? op->end_ns : to;
		unsigned cls = op->cls < 5 ? op->cls : 4;

		if (op->cls == TSM_OPC_SYNC && op->sub != TSM_SYNC_STREAM_WAIT_EVENT)
			continue;
		if (e <= s)
			continue;
		if (op->cls != TSM_OPC_SYNC) {
			/* busy as a union: ops of a stream may overlap in imported traces */
			uint64_t bs = s > cur_end ? s : cur_end;

			if (e > bs)
				busy += e - bs;
			if (e > cur_end)
				cur_end = e;
		}
		while (s < e) {
			uint64_t c =
			    (uint64_t)((unsigned __int128)(s - from) * (uint64_t)cols / span);
			uint64_t cend =
			    from +
			    (uint64_t)(((unsigned __int128)(c + 1) * span + (uint64_t)cols - 1) /
				       (uint64_t)cols);
			uint64_t x = e < cend ? e : cend;

			if (x <= s)
				x = s + 1;
			acc[(c < (uint64_t)cols ? c : (uint64_t)cols - 1) * 5 + cls] += x - s;
			s = x;
		}
	}
	for (int c = 0; c < cols; c++) {
		uint64_t cs = from + (uint64_t)((unsigned __int128)c * span / (uint64_t)cols);
		uint64_t ce = from + (uint64_t)((unsigned __int128)(c + 1) * span / (uint64_t)cols);
		uint64_t tot = 0, best = 0;
		int bc = 0;

		for (int k = 0; k < 5; k++) {
			tot += acc[c * 5 + k];
			if (acc[c * 5 + k] > best) {
				best = acc[c * 5 + k];
				bc = k;
			}
		}
		if (!tot) {
			line[c] = ' ';
			continue;
		}
		line[c] = 2 * tot >= (ce > cs ? ce - cs : 1) ? glyph[bc] : '.';
		if (color) {
			const char *want = line[c] == '.' ? "\033[2m" : colour[bc];

			if (cur != want) {
				fputs(want, stdout);
				cur = want;
			}
			putchar(line[c]);
		}
	}
	if (color) {
		fputs("\033[0m", stdout);
	} else {
		line[cols] = 0;
		fputs(line, stdout);
	}
	*busy_out = busy;
}

int cmd_timeline(int argc, char **argv)
{
	struct cli_parser p;
	struct tl_load l = {0};
	uint64_t width = 0, from_rel = 0, to_rel = 0, dev = 0, from, to, origin;
	int have_from = 0, have_to = 0, from_abs = 0, to_abs = 0, have_dev = 0, color = -1;
	uint64_t *acc = NULL;
	char *line = NULL;
	const char *file;
	int rc;

	cli_parser_init(&p, &spec, argc, argv);
	while ((rc = cli_next(&p)) > 0) {
		switch (rc) {
		case O_WIDTH:
			if (cli_parse_uint(p.arg, 100000, &width) < 0 || width < 40) {
				rc = cli_usage_error(spec.name, "bad width '%s' (40 to 100000)",
						     p.arg);
				goto out;
			}
			break;
		case O_FROM:
			if ((rc = parse_when(p.arg, "from", &from_rel, &from_abs)))
				goto out;
			have_from = 1;
			break;
		case O_TO:
			if ((rc = parse_when(p.arg, "to", &to_rel, &to_abs)))
				goto out;
			have_to = 1;
			break;
		case O_DEVICE:
			if (cli_parse_uint(p.arg, 0xfffe, &dev) < 0) {
				rc = cli_usage_error(spec.name, "bad device '%s'", p.arg);
				goto out;
			}
			have_dev = 1;
			break;
		case O_COLOR:
			if (!strcmp(p.arg, "auto"))
				color = -1;
			else if (!strcmp(p.arg, "always"))
				color = 1;
			else if (!strcmp(p.arg, "never"))
				color = 0;
			else {
				rc = cli_usage_error(
				    spec.name, "bad --color '%s' (auto, always or never)", p.arg);
				goto out;
			}
			break;
		}
	}
	rc = cli_parse_end(&spec, rc);
	if (rc >= 0)
		goto out;
	file = p.pos[0];
	if (!width) {
		int tc = cli_term_cols(STDOUT_FILENO);

		width = tc >= 40 ? (uint64_t)tc : 120;
	}
	if (color < 0)
		color = cli_isatty(STDOUT_FILENO);
	rc = tl_load(&l, file, 0);
	if (rc)
		goto out;
	{
		const tsm_tl_summary *s = tsm_timeline_summary(l.tl);
		size_t nl;
		const tsm_tl_lane *lanes = tsm_timeline_lanes(l.tl, &nl);
		int label = 18, cols = (int)width - label - 8, shown = 0;

		if (cols < 10 || cols > 100000)
			cols = 10;
		char a[64], b[64], c[64];

		origin = s->first_ns;
		from = have_from ? (from_abs ? from_rel : origin + from_rel) : origin;
		to = have_to ? (to_abs ? to_rel : origin + to_rel) : s->last_ns;
		if (have_from && have_to && to <= from) {
			rc = cli_usage_error(spec.name, "--to must be after --from");
			goto out;
		}
		if (to <= from)
			to = from + 1;
		acc = calloc((size_t)cols * 5, sizeof(*acc));
		line = malloc((size_t)cols + 1);
		if (!acc || !line) {
			rc = cli_error(file, "out of memory");
			goto out;
		}
		printf("%s: %s .. %s of the trace (%s), %s per column\n", file,
		       fmt_dur(a, sizeof(a), from - origin), fmt_dur(b, sizeof(b), to - origin),
		       fmt_dur(c, sizeof(c), s->last_ns - origin),
		       fmt_dur(line, (size_t)cols + 1,
			       (to - from + (uint64_t)cols - 1) / (uint64_t)cols));
		/* axis: a tick every ~12 columns */
		{
			char *axis = malloc((size_t)cols + 64);
			int step = cols >= 120 ? 16 : 12;

			if (!axis) {
				rc = cli_error(file, "out of memory");
				goto out;
			}
			memset(axis, ' ', (size_t)cols + 63);
			axis[cols + 63] = 0;
			for (int x = 0; x < cols; x += step) {
				char t[32];
				uint64_t at = from - origin +
					      (uint64_t)((unsigned __int128)(to - from) *
							 (uint64_t)x / (uint64_t)cols);
				size_t n;

				tick_label(t, sizeof(t), at, to - origin, to - from);
				n = strlen(t);
				if ((size_t)x + n > (size_t)cols + 8)
					break;
				memcpy(axis + x, t, n);
			}
			while (axis[0] && axis[strlen(axis) - 1] == ' ')
				axis[strlen(axis) - 1] = 0;
			printf("%-*s %s\n", label, "", axis);
			for (int x = 0; x < cols; x++)
				axis[x] = x % step ? '-' : '+';
			axis[cols] = 0;
			printf("%-*s %s\n", label, "", axis);
			free(axis);
		}
		for (size_t i = 0; i < nl; i++) {
			char lab[64];
			uint64_t busy;

			if (lanes[i].type != TSM_LANE_GPU)
				continue;
			if (have_dev && lanes[i].device != dev)
				continue;
			snprintf(lab, sizeof(lab), "gpu%u stream %u", lanes[i].device,
				 lanes[i].stream);
			printf("%-*.*s ", label, label, lab);
			draw_lane(l.tl, &lanes[i], from, to, cols, acc, line, color, &busy);
			printf(" %5.1f%%\n", 100.0 * (double)busy / (double)(to - from));
			shown++;
			if (!cli_out_ok())
				break;
		}
		if (!shown)
			printf("%-*s (no GPU streams%s)\n", label, "",
			       have_dev ? " on that device" : "");
		printf("\nlegend: ");
		for (int k = 0; k < 5; k++) {
			static const char *const what[5] = {"compute kernel", "communication",
							    "memcpy", "memset", "event wait"};

			if (color)
				printf("%s%c\033[0m %s  ", colour[k], glyph[k], what[k]);
			else
				printf("%c %s  ", glyph[k], what[k]);
		}
		printf(". busy < 50%% of the column   %% = busy share of the window\n");
	}
	rc = cli_out_finish();
out:
	free(acc);
	free(line);
	tl_unload(&l);
	cli_parser_fini(&p);
	return rc;
}
