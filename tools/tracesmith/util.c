/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared helpers of the tracesmith CLI (see util.h).
 *
 * Option parsing is table driven and deliberately small: long options
 * (--name, --name=VALUE, --name VALUE), short options (-o FILE, -oFILE,
 * -h), "--" to end options, and positionals anywhere (so
 * `tracesmith view FILE --limit 20` works). An option with an optional
 * value takes it only as --name=VALUE, so `--simulate FILE` can never eat
 * a positional. The usage text is generated from the same table, which is
 * how `CMD --help`, `help CMD` and the option list stay identical.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util.h"

/* ---- option parsing ------------------------------------------------------ */

void cli_parser_init(struct cli_parser *p, const struct cli_spec *spec, int argc, char **argv)
{
	memset(p, 0, sizeof(*p));
	p->spec = spec;
	p->argc = argc;
	p->argv = argv;
	p->i = 1;
	p->pos = calloc((size_t)argc + 1, sizeof(*p->pos));
	if (!p->pos) {
		fprintf(stderr, "%s: out of memory\n", CLI_PROG);
		exit(EXIT_FAIL);
	}
}

void cli_parser_fini(struct cli_parser *p)
{
	free(p->pos);
	p->pos = NULL;
}

static const struct cli_opt *find_long(const struct cli_spec *s, const char *name, size_t len)
{
	for (const struct cli_opt *o = s->opts; o && o->id; o++)
		if (o->long_name && strlen(o->long_name) == len &&
		    !strncmp(o->long_name, name, len))
			return o;
	return NULL;
}

static const struct cli_opt *find_short(const struct cli_spec *s, char c)
{
	for (const struct cli_opt *o = s->opts; o && o->id; o++)
		if (o->short_name == c)
			return o;
	return NULL;
}

static int check_positionals(struct cli_parser *p)
{
	const struct cli_spec *s = p->spec;

	if (p->npos < s->min_pos) {
		cli_usage_error(s->name, "missing argument %s", s->min_pos == 1 ? "FILE" : "");
		return CLI_ERROR;
	}
	if (s->max_pos >= 0 && p->npos > s->max_pos) {
		cli_usage_error(s->name, "unexpected argument '%s'", p->pos[s->max_pos]);
		return CLI_ERROR;
	}
	return CLI_DONE;
}

int cli_next(struct cli_parser *p)
{
	const struct cli_spec *s = p->spec;

	p->arg = NULL;
	while (p->i < p->argc) {
		char *a = p->argv[p->i++];
		const struct cli_opt *o;

		if (p->only_pos || a[0] != '-' || !strcmp(a, "-")) {
			p->pos[p->npos++] = a;
			continue;
		}
		if (!strcmp(a, "--")) {
			p->only_pos = 1;
			continue;
		}
		if (a[1] == '-') {
			const char *name = a + 2, *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);

			if (len == 4 && !strncmp(name, "help", 4) && !eq)
				return CLI_HELP;
			o = find_long(s, name, len);
			if (!o) {
				cli_usage_error(s->name, "unknown option '--%.*s'", (int)len, name);
				return CLI_ERROR;
			}
			if (o->arg == CLI_NOARG && eq) {
				cli_usage_error(s->name, "option '--%s' takes no value",
						o->long_name);
				return CLI_ERROR;
			}
			if (eq) {
				p->arg = eq + 1;
			} else if (o->arg == CLI_REQARG) {
				if (p->i >= p->argc) {
					cli_usage_error(s->name, "option '--%s' needs a value (%s)",
							o->long_name, o->arg_name);
					return CLI_ERROR;
				}
				p->arg = p->argv[p->i++];
			}
			return o->id;
		}
		/* Short option, possibly with its value glued on: -oFILE. */
		if (a[1] == 'h' && !a[2])
			return CLI_HELP;
		o = find_short(s, a[1]);
		if (!o) {
			cli_usage_error(s->name, "unknown option '-%c'", a[1]);
			return CLI_ERROR;
		}
		if (o->arg == CLI_NOARG) {
			if (a[2]) {
				cli_usage_error(s->name, "option '-%c' takes no value", a[1]);
				return CLI_ERROR;
			}
		} else if (a[2]) {
			p->arg = a + 2;
		} else if (o->arg == CLI_REQARG) {
			if (p->i >= p->argc) {
				cli_usage_error(s->name, "option '-%c' needs a value (%s)", a[1],
						o->arg_name);
				return CLI_ERROR;
			}
			p->arg = p->argv[p->i++];
		}
		return o->id;
	}
	return check_positionals(p);
}

static void print_indented(FILE *out, const char *text, int indent)
{
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		fprintf(out, "%*s%.*s\n", n ? indent : 0, "", (int)n, p);
		p += n + (nl ? 1 : 0);
	}
}

int cli_parse_end(const struct cli_spec *spec, int rc)
{
	if (rc == CLI_HELP) {
		cli_usage(spec, stdout);
		return EXIT_OK;
	}
	return rc == CLI_ERROR ? EXIT_USAGE : -1;
}

void cli_usage(const struct cli_spec *s, FILE *out)
{
	int first = 1;

	if (!s->synopsis[0])
		fprintf(out, "usage: %s %s\n", CLI_PROG, s->name);
	for (const char *p = s->synopsis; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		/* Continuation lines line up under the first argument. */
		if (first)
			fprintf(out, "usage: %s %s %.*s\n", CLI_PROG, s->name, (int)n, p);
		else
			fprintf(out, "%*s%.*s\n", (int)(strlen(CLI_PROG) + strlen(s->name) + 9), "",
				(int)n, p);
		first = 0;
		p += n + (nl ? 1 : 0);
	}
	if (s->description) {
		fputc('\n', out);
		print_indented(out, s->description, 0);
	}
	fputs("\noptions:\n", out);
	for (const struct cli_opt *o = s->opts; o && o->id; o++) {
		char left[64];
		int n;

		if (o->short_name)
			n = snprintf(left, sizeof(left), "-%c, --%s", o->short_name, o->long_name);
		else
			n = snprintf(left, sizeof(left), "    --%s", o->long_name);
		if (o->arg == CLI_REQARG)
			snprintf(left + n, sizeof(left) - (size_t)n, " %s", o->arg_name);
		else if (o->arg == CLI_OPTARG)
			snprintf(left + n, sizeof(left) - (size_t)n, "[=%s]", o->arg_name);
		if (strlen(left) > 26)
			fprintf(out, "  %s\n%30s", left, "");
		else
			fprintf(out, "  %-28s", left);
		for (const char *p = o->help; *p;) {
			const char *nl = strchr(p, '\n');
			size_t len = nl ? (size_t)(nl - p) : strlen(p);

			fprintf(out, "%.*s\n", (int)len, p);
			p += len + (nl ? 1 : 0);
			if (*p)
				fprintf(out, "%30s", "");
		}
	}
	fprintf(out, "  %-28s%s\n", "-h, --help", "show this help and exit");
	if (s->notes) {
		fputc('\n', out);
		print_indented(out, s->notes, 0);
	}
}

/* ---- messages ------------------------------------------------------------ */

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s%s%s: ", CLI_PROG, cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (cmd)
		fprintf(stderr, "\nTry '%s help %s'.\n", CLI_PROG, cmd);
	else
		fprintf(stderr, "\nTry '%s help'.\n", CLI_PROG);
	return EXIT_USAGE;
}

int cli_error(const char *what, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: %s: ", CLI_PROG, what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_FAIL;
}

int cli_lib_error(const char *what, int rc)
{
	const char *detail = tsm_last_error();
	int64_t off = tsm_last_error_offset();

	size_t wl = strlen(what);

	if (tsm_last_error_status() != rc)
		detail = ""; /* the detail belongs to an older failure */
	/* The library often names the file itself; say it once. */
	if (!strncmp(detail, what, wl) && detail[wl] == ':' && detail[wl + 1] == ' ')
		detail += wl + 2;
	if (!strcmp(detail, tsm_strerror(rc)))
		detail = "";
	fflush(stdout);
	fprintf(stderr, "%s: %s: %s", CLI_PROG, what, tsm_strerror(rc));
	if (detail[0]) {
		/* Keep the message on one line whatever the detail holds. */
		fputs(": ", stderr);
		for (const char *p = detail; *p; p++)
			fputc(*p == '\n' || *p == '\r' ? ' ' : *p, stderr);
	}
	if (off >= 0 && tsm_last_error_status() == rc)
		fprintf(stderr, " (offset %lld)", (long long)off);
	fputc('\n', stderr);
	return EXIT_FAIL;
}

void cli_warn(const char *what, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: %s: warning: ", CLI_PROG, what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- values -------------------------------------------------------------- */

static int parse_digits(const char **sp, uint64_t *out)
{
	const char *s = *sp;
	uint64_t v = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*sp = s;
	*out = v;
	return 0;
}

int cli_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v;

	if (parse_digits(&s, &v) < 0 || *s || v > max)
		return -1;
	*out = v;
	return 0;
}

int cli_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v, mul = 1;

	if (parse_digits(&s, &v) < 0)
		return -1;
	if (*s) {
		if (s[1])
			return -1;
		switch (*s) {
		case 'k':
		case 'K':
			mul = 1000;
			break;
		case 'M':
			mul = 1000000;
			break;
		case 'G':
			mul = 1000000000;
			break;
		default:
			return -1;
		}
	}
	if (v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

int cli_parse_time(const char *s, uint64_t *ns)
{
	static const struct {
		const char *name;
		uint64_t ns;
	} units[] = {{"ns", 1}, {"us", 1000}, {"ms", 1000000}, {"s", 1000000000}};
	uint64_t whole, frac = 0, frac_div = 1, mul = 0;

	if (parse_digits(&s, &whole) < 0)
		return -1;
	if (*s == '.') {
		s++;
		if (!isdigit((unsigned char)*s))
			return -1;
		/* Digits past the ninth cannot matter for any unit we accept. */
		for (; isdigit((unsigned char)*s); s++) {
			if (frac_div < 1000000000ULL) {
				frac = frac * 10 + (uint64_t)(*s - '0');
				frac_div *= 10;
			}
		}
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcmp(s, units[i].name))
			mul = units[i].ns;
	if (!mul)
		return -1;
	if (whole > UINT64_MAX / mul)
		return -1;
	/* frac < frac_div <= 1e9 and mul <= 1e9: the product fits in 64 bits. */
	if (UINT64_MAX - whole * mul < frac * mul / frac_div)
		return -1;
	*ns = whole * mul + frac * mul / frac_div;
	return 0;
}

int cli_parse_format(const char *s, unsigned allowed)
{
	int f = !strcmp(s, "text")   ? FMT_TEXT
		: !strcmp(s, "json") ? FMT_JSON
		: !strcmp(s, "csv")  ? FMT_CSV
				     : 0;

	return f && ((unsigned)f & allowed) ? f : -1;
}

/* ---- formatting ------------------------------------------------------------ */

const char *fmt_size(char *buf, size_t cap, uint64_t bytes)
{
	static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double v = (double)bytes;
	int u = -1;

	if (bytes < 1024) {
		snprintf(buf, cap, "%llu B", (unsigned long long)bytes);
		return buf;
	}
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(buf, cap, v < 10 ? "%.2f %s" : v < 100 ? "%.1f %s" : "%.0f %s", v, unit[u]);
	return buf;
}

const char *fmt_dur(char *buf, size_t cap, uint64_t ns)
{
	if (ns < 1000)
		snprintf(buf, cap, "%llu ns", (unsigned long long)ns);
	else if (ns < 1000000)
		snprintf(buf, cap, "%.3f us", (double)ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, cap, "%.3f ms", (double)ns / 1e6);
	else
		snprintf(buf, cap, "%.3f s", (double)ns / 1e9);
	return buf;
}

const char *fmt_count(char *buf, size_t cap, uint64_t n)
{
	char tmp[32];
	int len = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)n);
	size_t o = 0;

	for (int i = 0; i < len && o + 1 < cap; i++) {
		if (i && (len - i) % 3 == 0 && o + 2 < cap)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o < cap ? o : cap - 1] = 0;
	return buf;
}

const char *fmt_sec(char *buf, size_t cap, uint64_t ns)
{
	snprintf(buf, cap, "%llu.%09llu", (unsigned long long)(ns / 1000000000u),
		 (unsigned long long)(ns % 1000000000u));
	return buf;
}

double gbps(uint64_t bytes, uint64_t ns)
{
	return ns ? (double)bytes / (double)ns : 0.0;
}

/* ---- progress -------------------------------------------------------------- */

void progress_init(struct cli_progress *p, const char *label, uint64_t total)
{
	memset(p, 0, sizeof(*p));
	p->enabled = cli_isatty(STDERR_FILENO);
	p->label = label;
	p->total = total;
	p->start_ns = tsm_now_ns();
}

void progress_update(struct cli_progress *p, uint64_t done, const char *text)
{
	uint64_t now;
	int cols, width;

	if (!p->enabled)
		return;
	now = tsm_now_ns();
	/* Nothing for the first half second: short jobs should not flicker. */
	if (now - p->start_ns < 500000000u || now - p->last_ns < 100000000u)
		return;
	p->last_ns = now;
	cols = cli_term_cols(STDERR_FILENO);
	if (cols <= 0)
		cols = 80;
	fprintf(stderr, "\r%s", p->label);
	if (p->total) {
		uint64_t d = done > p->total ? p->total : done;
		int filled;

		width = cols - (int)strlen(p->label) - 10 - (text ? (int)strlen(text) + 1 : 0);
		if (width > 50)
			width = 50;
		if (width >= 10) {
			filled = (int)((double)d / (double)p->total * width);
			fputs(" [", stderr);
			for (int i = 0; i < width; i++)
				fputc(i < filled ? '#' : '.', stderr);
			fputc(']', stderr);
		}
		fprintf(stderr, " %3d%%", (int)((double)d * 100 / (double)p->total));
	}
	if (text)
		fprintf(stderr, " %s", text);
	fputs("\033[K", stderr);
	fflush(stderr);
	p->drawn = 1;
}

void progress_done(struct cli_progress *p)
{
	if (p->enabled && p->drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	p->drawn = 0;
}

/* ---- JSON and CSV ------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static int utf8_len(const unsigned char *s)
{
	unsigned c = s[0];
	int n;
	unsigned min;

	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0)
		n = 2, min = 0x80, c &= 0x1f;
	else if ((c & 0xf0) == 0xe0)
		n = 3, min = 0x800, c &= 0x0f;
	else if ((c & 0xf8) == 0xf0)
		n = 4, min = 0x10000, c &= 0x07;
	else
		return 0;
	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return n;
}

void json_str(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	fputc('"', f);
	while (*s) {
		const unsigned char *run = s;
		int n;

		/* Names are mostly printable ASCII: write such runs in one go. */
		while (*s >= 0x20 && *s < 0x80 && *s != '"' && *s != '\\')
			s++;
		if (s != run)
			fwrite(run, 1, (size_t)(s - run), f);
		if (!*s)
			break;
		switch (*s) {
		case '"':
			fputs("\\\"", f);
			s++;
			continue;
		case '\\':
			fputs("\\\\", f);
			s++;
			continue;
		case '\n':
			fputs("\\n", f);
			s++;
			continue;
		case '\r':
			fputs("\\r", f);
			s++;
			continue;
		case '\t':
			fputs("\\t", f);
			s++;
			continue;
		}
		if (*s < 0x20) {
			fprintf(f, "\\u%04x", *s);
			s++;
			continue;
		}
		n = utf8_len(s);
		if (!n) {
			fputs("\\ufffd", f);
			s++;
			continue;
		}
		fwrite(s, 1, (size_t)n, f);
		s += n;
	}
	fputc('"', f);
}

void csv_str(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

void json_double(FILE *f, double v)
{
	if (isnan(v) || isinf(v))
		fputs("null", f);
	else
		fprintf(f, "%.17g", v);
}

/* ---- output errors ----------------------------------------------------------- */

static int out_errno;

int cli_out_ok(void)
{
	if (!ferror(stdout))
		return 1;
	if (!out_errno)
		out_errno = errno;
	if (out_errno == EPIPE)
		exit(EXIT_OK);
	return 0;
}

int cli_out_finish(void)
{
	int rc = fflush(stdout);

	if (rc == 0 && !ferror(stdout))
		return EXIT_OK;
	if (!out_errno)
		out_errno = errno;
	if (out_errno == EPIPE)
		return EXIT_OK;
	return cli_error("standard output", "write error: %s", strerror(out_errno));
}

int cli_isatty(int fd)
{
	return isatty(fd) == 1;
}

int cli_term_cols(int fd)
{
	struct winsize ws;
	const char *env;

	if (!cli_isatty(fd))
		return 0;
	if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	env = getenv("COLUMNS");
	if (env && atoi(env) > 0)
		return atoi(env);
	return 80;
}

/* ---- display names ------------------------------------------------------------- */

/* Marks an id whose "_Z" name did not demangle, so it is not retried. */
static char not_mangled[1];

void name_cache_init(struct name_cache *c, const tsm_reader *r, int demangle)
{
	memset(c, 0, sizeof(*c));
	c->r = r;
	c->demangle = demangle;
}

const char *name_cache_get(struct name_cache *c, uint32_t id)
{
	const char *raw, *d;
	char buf[4096];

	if (!id)
		return "";
	raw = tsm_reader_string(c->r, id);
	if (!raw)
		return "";
	if (!c->demangle || raw[0] != '_' || raw[1] != 'Z')
		return raw;
	if (id >= c->cap) {
		size_t ncap = c->cap ? c->cap : 1024;
		char **n;

		while (ncap <= id)
			ncap *= 2;
		n = realloc(c->names, ncap * sizeof(*n));
		if (!n)
			return raw;
		memset(n + c->cap, 0, (ncap - c->cap) * sizeof(*n));
		c->names = n;
		c->cap = ncap;
	}
	if (c->names[id])
		return c->names[id] == not_mangled ? raw : c->names[id];
	d = tsm_demangle(raw, buf, sizeof(buf));
	c->names[id] = d == raw ? not_mangled : strdup(d);
	if (!c->names[id])
		return raw;
	return c->names[id] == not_mangled ? raw : c->names[id];
}

void name_cache_fini(struct name_cache *c)
{
	for (size_t i = 0; i < c->cap; i++)
		if (c->names[i] != not_mangled)
			free(c->names[i]);
	free(c->names);
	memset(c, 0, sizeof(*c));
}
