/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tracesmith record --simulate[=PRESET]: run the simulation backend into
 * an SBT file. The simulation drives the same collector rings and writer
 * that the CUPTI agent uses, so this is also the way to exercise the whole
 * capture pipeline on a machine without a GPU. Tracing a real command
 * (`record -- CMD ARGS`) needs the agent and is not part of this build.
 *
 * The progress line (stderr, terminals only) is drawn by a second thread
 * that watches the output file's size with stat(2): the writer is not
 * thread safe, so its statistics are only read once the simulation is done.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "builtin.h"
#include "util.h"

enum {
	O_SIMULATE = 1,
	O_OUTPUT,
	O_EVENTS,
	O_DURATION,
	O_SEED,
	O_ZSTD,
	O_BLOCK,
	O_DROP,
	O_DEVICES,
	O_THREADS,
};

#define DEFAULT_OUTPUT	   "trace.sbt"
#define DEFAULT_ZSTD_LEVEL 3

static const struct cli_opt opts[] = {
    {O_SIMULATE, 0, "simulate", CLI_OPTARG, "PRESET",
     "run the synthetic GPU with workload PRESET (default: the\n"
     "first preset, 'train'); --simulate=list lists the presets"},
    {O_OUTPUT, 'o', "output", CLI_REQARG, "FILE",
     "write the trace to FILE (default: " DEFAULT_OUTPUT "); '-' is stdout"},
    {O_EVENTS, 'n', "events", CLI_REQARG, "N",
     "stop after exactly N events (suffixes k, M, G: x1000);\n"
     "default: the preset's size"},
    {O_DURATION, 'd', "duration", CLI_REQARG, "TIME",
     "stop when simulated time passes TIME (e.g. 500ms, 2s)"},
    {O_SEED, 0, "seed", CLI_REQARG, "N", "random seed (default: the preset's seed)"},
    {O_DEVICES, 0, "devices", CLI_REQARG, "N", "simulated GPUs (default: the preset's)"},
    {O_THREADS, 0, "threads", CLI_REQARG, "N",
     "host producer threads, one ring each (default: the preset's)"},
    {O_ZSTD, 'z', "zstd", CLI_OPTARG, "LEVEL",
     "compress event blocks with zstd at LEVEL 1..19 (default 3)"},
    {O_BLOCK, 0, "block-events", CLI_REQARG, "N",
     "events per block (default 16384, at most 1048576)"},
    {O_DROP, 0, "drop", CLI_NOARG, NULL,
     "drop and count events when a ring is full, as the agent\n"
     "does (default: producers wait for room)"},
    {0},
};

static const struct cli_spec spec = {
    .name = "record",
    .synopsis = "--simulate[=PRESET] [-o FILE] [--events N] [--duration TIME] [--seed N]\n"
		"[--zstd[=LEVEL]] [--block-events N] [--drop]",
    .description =
	"Record a trace into an SBT file. With --simulate, a deterministic synthetic GPU\n"
	"(several devices and streams running a training loop: copies, GEMM, elementwise\n"
	"and NCCL-like kernels, event record/wait, syncs, allocations, runtime API calls\n"
	"and NVTX ranges) produces the events through the same rings and writer as real\n"
	"capture. The same seed and options give the same events.\n"
	"\n"
	"Tracing a real command ('record -- CMD ARGS') needs the CUPTI agent, which\n"
	"comes separately; this build records simulations only.\n"
	"\n"
	"A summary (events per kind, dropped events, file size, bytes per event, time)\n"
	"goes to stderr; a progress line too when stderr is a terminal.",
    .opts = opts,
    .notes = "TIME is a number with a unit: ns, us, ms or s (e.g. 1.5s).",
    .min_pos = 0,
    .max_pos = -1,
};

struct watch {
	const char *path;
	const char *label;
	atomic_int stop;
};

static void *watch_file(void *arg)
{
	struct watch *wt = arg;
	struct cli_progress pr;
	struct timespec ts = {0, 50 * 1000 * 1000};
	char text[96], size[32], dur[32];

	progress_init(&pr, wt->label, 0);
	while (!atomic_load_explicit(&wt->stop, memory_order_acquire)) {
		struct stat st;

		nanosleep(&ts, NULL);
		if (stat(wt->path, &st) < 0)
			continue;
		snprintf(text, sizeof(text), "%s written, %s",
			 fmt_size(size, sizeof(size), (uint64_t)st.st_size),
			 fmt_dur(dur, sizeof(dur), tsm_now_ns() - pr.start_ns));
		progress_update(&pr, 0, text);
	}
	progress_done(&pr);
	return NULL;
}

static int list_presets(void)
{
	const char *const *names = tsm_sim_preset_names();

	printf("simulation presets (the first is the default):\n");
	for (size_t i = 0; names && names[i]; i++)
		printf("  %-12s %s\n", names[i], tsm_sim_preset_summary(names[i]));
	return EXIT_OK;
}

static void summary(const char *file, const char *preset, const tsm_writer_stats *ws,
		    const tsm_capture_stats *cs, uint64_t file_bytes, uint64_t wall_ns)
{
	char a[32], b[32], c[32];
	int col = 0;

	fprintf(stderr, "%s: recorded %s events (sim:%s) in %s", CLI_PROG,
		fmt_count(a, sizeof(a), ws->events), preset, fmt_dur(b, sizeof(b), wall_ns));
	if (wall_ns)
		fprintf(stderr, ", %.2fM events/s", (double)ws->events * 1e3 / (double)wall_ns);
	fputc('\n', stderr);
	for (unsigned k = 1; k < TSM_EV__COUNT; k++) {
		if (!ws->per_kind[k])
			continue;
		fprintf(stderr, "%s%-9s %12s", col ? "   " : "  ", tsm_event_kind_name(k),
			fmt_count(a, sizeof(a), ws->per_kind[k]));
		if (++col == 3) {
			fputc('\n', stderr);
			col = 0;
		}
	}
	if (col)
		fputc('\n', stderr);
	fprintf(stderr, "  dropped: %s in rings", fmt_count(a, sizeof(a), cs->dropped));
	if (cs->waits)
		fprintf(stderr, ", producers waited for room %s times",
			fmt_count(b, sizeof(b), cs->waits));
	fprintf(stderr, "; simulated span %s\n", fmt_dur(c, sizeof(c), cs->sim_span_ns));
	fprintf(stderr, "  file: %s, %s", file, fmt_size(a, sizeof(a), file_bytes));
	if (ws->events)
		fprintf(stderr, ", %.2f bytes/event", (double)file_bytes / (double)ws->events);
	fputc('\n', stderr);
}

int cmd_record(int argc, char **argv)
{
	struct cli_parser p;
	tsm_writer_opts wo = {0};
	tsm_sim_opts so = {0};
	tsm_writer_stats ws;
	tsm_capture_stats cs = {0};
	tsm_writer *w = NULL;
	const char *out = DEFAULT_OUTPUT, *preset = NULL;
	char producer[128];
	struct watch wt = {0};
	pthread_t th;
	int simulate = 0, have_thread = 0, rc, close_rc;
	uint64_t v, t0, wall, file_bytes = 0;
	struct stat st;

	cli_parser_init(&p, &spec, argc, argv);
	while ((rc = cli_next(&p)) > 0) {
		const char *a = p.arg;

		switch (rc) {
		case O_SIMULATE:
			simulate = 1;
			preset = a;
			break;
		case O_OUTPUT:
			out = a;
			break;
		case O_EVENTS:
			if (cli_parse_u64(a, &v) < 0 || !v)
				goto bad_number;
			so.max_events = v;
			break;
		case O_DURATION:
			if (cli_parse_time(a, &v) < 0 || !v) {
				rc = cli_usage_error(spec.name,
						     "bad time '%s' for --duration "
						     "(a number with a unit: ns, us, ms, s)",
						     a);
				goto out;
			}
			so.duration_ns = v;
			break;
		case O_SEED:
			if (cli_parse_uint(a, UINT64_MAX, &v) < 0)
				goto bad_number;
			so.seed = v;
			break;
		case O_DEVICES:
			if (cli_parse_uint(a, 64, &v) < 0 || !v)
				goto bad_number;
			so.devices = (uint32_t)v;
			break;
		case O_THREADS:
			if (cli_parse_uint(a, 256, &v) < 0 || !v)
				goto bad_number;
			so.host_threads = (uint32_t)v;
			break;
		case O_ZSTD:
			wo.zstd_level = DEFAULT_ZSTD_LEVEL;
			if (a && (cli_parse_uint(a, 19, &v) < 0 || !v))
				goto bad_number;
			if (a)
				wo.zstd_level = (int)v;
			break;
		case O_BLOCK:
			if (cli_parse_uint(a, TSM_WRITER_MAX_BLOCK, &v) < 0 || !v)
				goto bad_number;
			wo.block_events = (uint32_t)v;
			break;
		case O_DROP:
			so.drop_when_full = 1;
			break;
		}
		continue;
	bad_number:
		rc = cli_usage_error(spec.name, "bad value '%s' for --%s", a,
				     rc == O_EVENTS    ? "events"
				     : rc == O_SEED    ? "seed"
				     : rc == O_DEVICES ? "devices (1..64)"
				     : rc == O_THREADS ? "threads (1..256)"
				     : rc == O_ZSTD    ? "zstd (a level 1..19)"
						       : "block-events (1..1048576)");
		goto out;
	}
	if (rc == CLI_HELP) {
		cli_usage(&spec, stdout);
		rc = EXIT_OK;
		goto out;
	}
	if (rc == CLI_ERROR) {
		rc = EXIT_USAGE;
		goto out;
	}
	if (!simulate || p.npos) {
		rc = cli_usage_error(
		    spec.name, "tracing a command needs the CUPTI agent, which lands separately; "
			       "use --simulate to record the synthetic GPU");
		goto out;
	}
	if (preset && !strcmp(preset, "list")) {
		rc = list_presets();
		goto out;
	}
	if (!preset || !preset[0])
		preset = tsm_sim_preset_names()[0];
	if (!tsm_sim_preset_summary(preset)) {
		rc =
		    cli_usage_error(spec.name, "unknown preset '%s' (see --simulate=list)", preset);
		goto out;
	}
	so.preset = preset;

	snprintf(producer, sizeof(producer), "tracesmith %s sim:%s", TSM_VERSION_STRING, preset);
	wo.clock = TSM_CLOCK_SIMULATED;
	wo.producer = producer;
	tsm_clear_error();
	if (!strcmp(out, "-")) {
		if (cli_isatty(STDOUT_FILENO)) {
			rc = cli_error("standard output", "is a terminal; not writing a binary "
							  "trace there (use -o FILE or a pipe)");
			goto out;
		}
		rc = tsm_writer_open_fd(STDOUT_FILENO, "standard output", &wo, &w);
	} else {
		rc = tsm_writer_open(out, &wo, &w);
	}
	if (rc < 0) {
		rc = cli_lib_error(strcmp(out, "-") ? out : "standard output", rc);
		goto out;
	}

	if (strcmp(out, "-") && cli_isatty(STDERR_FILENO)) {
		wt.path = out;
		wt.label = "recording";
		atomic_init(&wt.stop, 0);
		have_thread = pthread_create(&th, NULL, watch_file, &wt) == 0;
	}
	t0 = tsm_now_ns();
	rc = tsm_sim_run(w, &so, &cs);
	if (have_thread) {
		atomic_store_explicit(&wt.stop, 1, memory_order_release);
		pthread_join(th, NULL);
	}
	if (rc < 0) {
		rc = cli_lib_error(strcmp(out, "-") ? out : "standard output", rc);
		tsm_writer_close(w);
		goto out;
	}
	tsm_writer_get_stats(w, &ws);
	close_rc = tsm_writer_close(w);
	wall = tsm_now_ns() - t0;
	if (close_rc < 0) {
		rc = cli_lib_error(strcmp(out, "-") ? out : "standard output", close_rc);
		goto out;
	}
	if (strcmp(out, "-") ? stat(out, &st) == 0
			     : fstat(STDOUT_FILENO, &st) == 0 && S_ISREG(st.st_mode))
		file_bytes = (uint64_t)st.st_size;
	else
		file_bytes = ws.bytes; /* a pipe: what was written before the index and footer */
	summary(strcmp(out, "-") ? out : "standard output", preset, &ws, &cs, file_bytes, wall);
	rc = EXIT_OK;
out:
	cli_parser_fini(&p);
	return rc;
}
