/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tracesmith record: trace a command on a real NVIDIA GPU (`record -- CMD
 * ARGS`), or run the simulation backend (`record --simulate[=PRESET]`).
 *
 * Real capture. The CUPTI agent (libtracesmith-agent.so, found next to this
 * binary, or at $TRACESMITH_AGENT) does the tracing inside the command's
 * processes; record only sets it up and reports:
 *   1. check the output's directory by creating and removing a probe file,
 *      so an unwritable path fails before CMD starts;
 *   2. make a status directory; fork; in the child set
 *      CUDA_INJECTION64_PATH and NVTX_INJECTION64_PATH to the agent and
 *      TRACESMITH_* to the options (docs/design/agent.md lists them), then
 *      exec CMD (an exec failure comes back through a close-on-exec pipe);
 *   3. wait for CMD, ignoring SIGINT/SIGQUIT meanwhile (the terminal sends
 *      them to CMD too) and forwarding SIGTERM/SIGHUP to it;
 *   4. read every agent's status file (one per process that initialised
 *      CUDA): output file, state, error; when the -o name had no %p/%r and
 *      exactly one process traced, rename its NAME.<pid>.sbt to NAME;
 *   5. read each file and print the summary to stderr; exit with CMD's
 *      status (128 + N when a signal N ended it).
 *
 * Simulation. The simulation drives the same collector rings and writer
 * that the CUPTI agent uses, so this is also the way to exercise the whole
 * capture pipeline on a machine without a GPU.
 *
 * The progress line (stderr, terminals only) is drawn by a second thread
 * that watches the output file's size with stat(2): the writer is not
 * thread safe, so its statistics are only read once the simulation is done.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
	O_KINDS,
	O_STACKS,
	O_DELAY,
	O_BUFFER,
	O_FLUSH,
};

/* The names the agent accepts in TRACESMITH_KINDS (src/capture/cupti/cupti-glue.h). */
static const char *const capture_kinds[] = {"kernel",  "memcpy", "memset", "sync", "memory",
					    "runtime", "driver", "nvtx",   "all",  NULL};

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
    {O_KINDS, 'k', "kinds", CLI_REQARG, "LIST",
     "what to capture, comma-separated: kernel, memcpy, memset,\n"
     "sync, memory, runtime, driver, nvtx, or all (default: all)"},
    {O_STACKS, 0, "stacks", CLI_NOARG, NULL,
     "record the host call stack of every runtime/driver API call"},
    {O_DELAY, 0, "delay", CLI_REQARG, "TIME", "start capturing TIME after CUDA starts"},
    {O_DURATION, 'd', "duration", CLI_REQARG, "TIME",
     "capture for TIME, then stop capturing (the command runs on);\n"
     "with --simulate: stop when simulated time passes TIME"},
    {O_BUFFER, 0, "buffer-size", CLI_REQARG, "SIZE",
     "CUPTI activity buffer size (default 4M; suffixes K, M: x1024)"},
    {O_FLUSH, 0, "flush-interval", CLI_REQARG, "TIME",
     "write what was captured to the file at least this often\n"
     "(default 1s)"},
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
    .synopsis = "[-o FILE] [--kinds LIST] [--stacks] [--delay TIME] [--duration TIME]\n"
		"[--buffer-size SIZE] [--flush-interval TIME] [--zstd[=LEVEL]] -- CMD [ARGS...]\n"
		"--simulate[=PRESET] [-o FILE] [--events N] [--duration TIME] [--seed N]\n"
		"[--zstd[=LEVEL]] [--block-events N] [--drop]",
    .description =
	"Record a trace into an SBT file.\n"
	"\n"
	"With '-- CMD ARGS', run CMD with the CUPTI agent (libtracesmith-agent.so, next to\n"
	"this program or at $TRACESMITH_AGENT) injected into every process of it that uses\n"
	"CUDA: no rebuild, no code change. Kernels, copies, sets, synchronisation, memory\n"
	"allocations, runtime and driver API calls and NVTX ranges are captured, with device\n"
	"properties and process metadata. Each process writes its own file: -o NAME.sbt\n"
	"becomes NAME.<pid>.sbt when more than one process traced; %p (pid) and %r (rank\n"
	"from RANK or LOCAL_RANK, else the pid) in FILE name files explicitly. CMD's exit\n"
	"status is passed through (128+N when signal N ended it). If CUPTI cannot be used\n"
	"(no GPU, another profiler holds it) CMD still runs and the summary says why.\n"
	"\n"
	"With --simulate, a deterministic synthetic GPU (several devices and streams\n"
	"running a training loop: copies, GEMM, elementwise and NCCL-like kernels, event\n"
	"record/wait, syncs, allocations, runtime API calls and NVTX ranges) produces the\n"
	"events through the same rings and writer as real capture. The same seed and\n"
	"options give the same events.\n"
	"\n"
	"A summary (events per kind, dropped events, files, size, capture overhead) goes to\n"
	"stderr; with --simulate a progress line too when stderr is a terminal.",
    .opts = opts,
    .notes = "TIME is a number with a unit: ns, us, ms or s (e.g. 1.5s).\n"
	     "--kinds, --stacks, --delay, --buffer-size and --flush-interval apply to CMD;\n"
	     "--events, --seed, --devices, --threads and --drop to --simulate.",
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

/* ---- real capture: record -- CMD ARGS -------------------------------- */

struct cmd_opts {
	const char *kinds;
	int stacks;
	uint64_t delay_ns, duration_ns, flush_ns, buffer_bytes;
	int zstd_level;
	uint32_t block_events;
};

/* Events of one trace file, for the summary. */
struct file_sum {
	char path[PATH_MAX];
	int pid;
	char state[32];
	char error[1024];
	char warning[1024];
	int have_file;
};

static int check_kinds(const char *list)
{
	const char *p = list;

	if (!*p)
		return -1;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		int ok = 0;

		for (int i = 0; capture_kinds[i] && !ok; i++)
			ok = strlen(capture_kinds[i]) == n && !memcmp(p, capture_kinds[i], n);
		if (!ok)
			return -1;
		if (!e)
			break;
		p = e + 1;
		if (!*p)
			return -1;
	}
	return 0;
}

/* "4M", "512K", "1048576": bytes, suffixes x1024. */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	else if (*end == 'G' || *end == 'g')
		v <<= 30, end++;
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end)
		return -1;
	*out = v;
	return 0;
}

/* The agent: $TRACESMITH_AGENT, else next to this program, else ../lib. */
static int find_agent(char *out, size_t cap)
{
	const char *env = getenv("TRACESMITH_AGENT");
	char self[PATH_MAX];
	ssize_t n;
	char *slash;

	if (env && *env) {
		if (!realpath(env, out) || access(out, R_OK) < 0)
			return cli_error(env, "cannot use the agent ($TRACESMITH_AGENT): %s",
					 strerror(errno));
		return 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return cli_error("/proc/self/exe", "%s", strerror(errno));
	self[n] = 0;
	slash = strrchr(self, '/');
	if (slash)
		*slash = 0;
	snprintf(out, cap, "%.4000s/libtracesmith-agent.so", self);
	if (access(out, R_OK) == 0)
		return 0;
	snprintf(out, cap, "%.4000s/../lib/libtracesmith-agent.so", self);
	if (access(out, R_OK) == 0)
		return 0;
	return cli_error("libtracesmith-agent.so",
			 "not found next to %s (this build has no CUPTI agent: build with "
			 "CUDA/CUPTI, or set TRACESMITH_AGENT)",
			 self);
}

/* Absolute output pattern; fails (exit 1) when its directory is not writable. */
static int check_output(const char *out, char *abs, size_t cap)
{
	char dir[PATH_MAX], probe[PATH_MAX + 64];
	const char *base = strrchr(out, '/');
	struct stat st;
	int fd;

	if (base) {
		size_t n = (size_t)(base - out);

		if (n >= sizeof(dir))
			return cli_error(out, "path too long");
		memcpy(dir, out, n);
		dir[n] = 0;
		if (!n)
			strcpy(dir, "/");
		base++;
	} else {
		strcpy(dir, ".");
		base = out;
	}
	if (!*base)
		return cli_error(out, "names a directory, not a file");
	if (!realpath(dir, abs))
		return cli_error(out, "cannot create: %s", strerror(errno));
	if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
		return cli_error(out, "is a directory");
	snprintf(probe, sizeof(probe), "%.4000s/.tracesmith-probe-%d", abs, (int)getpid());
	fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return cli_error(out, "cannot create: %s", strerror(errno));
	close(fd);
	unlink(probe);
	if (strlen(abs) + strlen(base) + 2 > cap)
		return cli_error(out, "path too long");
	strcat(abs, strcmp(abs, "/") ? "/" : "");
	strcat(abs, base);
	return 0;
}

static void set_env_u64(const char *name, uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	setenv(name, buf, 1);
}

static volatile sig_atomic_t child_pid;

static void forward_signal(int sig)
{
	if (child_pid > 0)
		kill(child_pid, sig);
}

/* Read one agent status file (key=value lines). */
static void read_status(const char *path, struct file_sum *fs)
{
	FILE *f = fopen(path, "r");
	char line[PATH_MAX + 64];

	memset(fs, 0, sizeof(*fs));
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '='), *nl = strchr(line, '\n');

		if (nl)
			*nl = 0;
		if (!eq)
			continue;
		*eq++ = 0;
		if (!strcmp(line, "pid"))
			fs->pid = atoi(eq);
		else if (!strcmp(line, "state"))
			snprintf(fs->state, sizeof(fs->state), "%s", eq);
		else if (!strcmp(line, "output"))
			snprintf(fs->path, sizeof(fs->path), "%s", eq);
		else if (!strcmp(line, "error"))
			snprintf(fs->error, sizeof(fs->error), "%s", eq);
		else if (!strcmp(line, "warning"))
			snprintf(fs->warning, sizeof(fs->warning), "%s", eq);
	}
	fclose(f);
}

struct kind_counts {
	uint64_t events, per_kind[TSM_EV__COUNT], drop_by_src[8], overhead_ns;
	int recovered, indexed, ndevices;
	uint64_t discarded;
	char device[128];
};

static int count_file(const char *path, struct kind_counts *kc)
{
	tsm_reader *r = NULL;
	const tsm_event *ev;
	const tsm_trace_info *ti;
	const tsm_device_info *devs;
	size_t ndev;
	int rc;

	memset(kc, 0, sizeof(*kc));
	rc = tsm_reader_open(path, 0, &r);
	if (rc < 0)
		return cli_lib_error(path, rc);
	while ((rc = tsm_reader_next(r, &ev)) == 0) {
		kc->events++;
		kc->per_kind[ev->kind < TSM_EV__COUNT ? ev->kind : 0]++;
		if (ev->kind == TSM_EV_DROPPED)
			kc->drop_by_src[ev->u.dropped.source < 8 ? ev->u.dropped.source : 0] +=
			    ev->u.dropped.count;
		if (ev->kind == TSM_EV_OVERHEAD)
			kc->overhead_ns += ev->end_ns - ev->start_ns;
	}
	if (rc < 0) {
		rc = cli_lib_error(path, rc);
		tsm_reader_close(r);
		return rc;
	}
	ti = tsm_reader_info(r);
	kc->recovered = ti->recovered;
	kc->indexed = ti->has_index;
	kc->discarded = ti->discarded_bytes;
	devs = tsm_reader_devices(r, &ndev);
	kc->ndevices = (int)ndev;
	if (ndev) {
		const char *n = tsm_reader_string(r, devs[0].name);

		snprintf(kc->device, sizeof(kc->device), "%s", n ? n : "?");
	}
	tsm_reader_close(r);
	return 0;
}

static void print_counts(const struct kind_counts *kc)
{
	char a[32];
	int col = 0;

	for (unsigned k = 1; k < TSM_EV__COUNT; k++) {
		if (!kc->per_kind[k])
			continue;
		fprintf(stderr, "%s%-9s %12s", col ? "   " : "  ", tsm_event_kind_name(k),
			fmt_count(a, sizeof(a), kc->per_kind[k]));
		if (++col == 3) {
			fputc('\n', stderr);
			col = 0;
		}
	}
	if (col)
		fputc('\n', stderr);
}

static int compare_sum(const void *a, const void *b)
{
	return ((const struct file_sum *)a)->pid - ((const struct file_sum *)b)->pid;
}

/* After CMD: collect the status files, rename a single output, summarise. */
static int report(const char *status_dir, const char *out_abs, int rename_single, int status,
		  uint64_t wall_ns)
{
	DIR *d = opendir(status_dir);
	struct dirent *de;
	struct file_sum *fs = NULL;
	size_t n = 0, cap = 0, traced = 0;
	int failed = 0;
	char a[32], b[32];
	struct kind_counts tot;

	memset(&tot, 0, sizeof(tot));
	while (d && (de = readdir(d))) {
		char path[PATH_MAX + 256];
		size_t l = strlen(de->d_name);

		if (l < 8 || strcmp(de->d_name + l - 7, ".status"))
			continue;
		if (n == cap) {
			struct file_sum *g;

			cap = cap ? cap * 2 : 8;
			g = realloc(fs, cap * sizeof(*fs));
			if (!g)
				break;
			fs = g;
		}
		snprintf(path, sizeof(path), "%s/%s", status_dir, de->d_name);
		read_status(path, &fs[n]);
		unlink(path);
		if (fs[n].pid)
			n++;
	}
	if (d)
		closedir(d);
	if (fs && n > 1)
		qsort(fs, n, sizeof(*fs), compare_sum);
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		fs[i].have_file = fs[i].path[0] && stat(fs[i].path, &st) == 0;
		traced += fs[i].have_file;
	}
	if (rename_single && traced == 1) {
		for (size_t i = 0; i < n; i++)
			if (fs[i].have_file && rename(fs[i].path, out_abs) == 0)
				snprintf(fs[i].path, sizeof(fs[i].path), "%s", out_abs);
	}

	fprintf(stderr, "%s: %s exited ", CLI_PROG, "command");
	if (status >= 128)
		fprintf(stderr, "by signal %d (status %d)", status - 128, status);
	else
		fprintf(stderr, "with status %d", status);
	fprintf(stderr, " after %s; %zu process%s traced\n", fmt_dur(a, sizeof(a), wall_ns), traced,
		traced == 1 ? "" : "es");
	if (!n)
		fprintf(stderr,
			"  no process of the command initialised CUDA: nothing was traced\n");
	for (size_t i = 0; i < n; i++) {
		struct kind_counts kc;
		struct stat st;

		if (fs[i].error[0])
			fprintf(stderr, "  pid %d: not traced: %s\n", fs[i].pid, fs[i].error);
		if (fs[i].warning[0])
			fprintf(stderr, "  pid %d: warning: %s\n", fs[i].pid, fs[i].warning);
		if (!fs[i].have_file)
			continue;
		if (count_file(fs[i].path, &kc) != 0) {
			failed = 1;
			continue;
		}
		stat(fs[i].path, &st);
		fprintf(stderr, "  pid %d: %s events", fs[i].pid,
			fmt_count(a, sizeof(a), kc.events));
		if (kc.ndevices)
			fprintf(stderr, " on %d GPU%s (%s)", kc.ndevices,
				kc.ndevices == 1 ? "" : "s", kc.device);
		fprintf(stderr, " -> %s, %s", fs[i].path,
			fmt_size(b, sizeof(b), (uint64_t)st.st_size));
		if (strcmp(fs[i].state, "done"))
			fprintf(stderr, " [%s: %s]",
				!strcmp(fs[i].state, "running") ? "not finalised (killed?)"
								: fs[i].state,
				kc.recovered ? "readable up to the last flush" : "no index");
		fputc('\n', stderr);
		print_counts(&kc);
		fprintf(stderr,
			"  dropped: %s (rings %s, CUPTI %s, writer %s); capture overhead "
			"records: %s, %s\n",
			fmt_count(a, sizeof(a),
				  kc.drop_by_src[TSM_DROP_RING] + kc.drop_by_src[TSM_DROP_CUPTI] +
				      kc.drop_by_src[TSM_DROP_WRITER]),
			fmt_count(b, sizeof(b), kc.drop_by_src[TSM_DROP_RING]),
			fmt_count((char[32]){0}, 32, kc.drop_by_src[TSM_DROP_CUPTI]),
			fmt_count((char[32]){0}, 32, kc.drop_by_src[TSM_DROP_WRITER]),
			fmt_count((char[32]){0}, 32, kc.per_kind[TSM_EV_OVERHEAD]),
			fmt_dur((char[32]){0}, 32, kc.overhead_ns));
	}
	free(fs);
	return failed;
}

static int record_command(char **cmd, const char *out, const struct cmd_opts *co)
{
	char agent[PATH_MAX], out_abs[PATH_MAX], status_dir[PATH_MAX];
	const char *tmp = getenv("TMPDIR");
	int pfd[2], status = 0, err = 0, rc;
	struct sigaction ign, fwd, old_int, old_quit, old_term, old_hup;
	uint64_t t0;
	ssize_t got;
	pid_t pid;

	if ((rc = find_agent(agent, sizeof(agent))) != 0)
		return rc;
	if ((rc = check_output(out, out_abs, sizeof(out_abs))) != 0)
		return rc;
	snprintf(status_dir, sizeof(status_dir), "%.4000s/tracesmith-record-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(status_dir))
		return cli_error(status_dir, "cannot create: %s", strerror(errno));
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return cli_error("pipe", "%s", strerror(errno));

	fflush(NULL);
	t0 = tsm_now_ns();
	pid = fork();
	if (pid < 0) {
		rmdir(status_dir);
		return cli_error("fork", "%s", strerror(errno));
	}
	if (pid == 0) {
		close(pfd[0]);
		/* main() ignores SIGPIPE; exec keeps ignored signals ignored. */
		signal(SIGPIPE, SIG_DFL);
		setenv("CUDA_INJECTION64_PATH", agent, 1);
		setenv("NVTX_INJECTION64_PATH", agent, 1);
		setenv("TRACESMITH_OUTPUT", out_abs, 1);
		setenv("TRACESMITH_STATUS_DIR", status_dir, 1);
		setenv("TRACESMITH_KINDS", co->kinds ? co->kinds : "all", 1);
		set_env_u64("TRACESMITH_STACKS", (uint64_t)co->stacks);
		set_env_u64("TRACESMITH_FLUSH_NS", co->flush_ns);
		set_env_u64("TRACESMITH_DELAY_NS", co->delay_ns);
		set_env_u64("TRACESMITH_DURATION_NS", co->duration_ns);
		set_env_u64("TRACESMITH_BUFFER_BYTES", co->buffer_bytes);
		set_env_u64("TRACESMITH_ZSTD", (uint64_t)co->zstd_level);
		set_env_u64("TRACESMITH_BLOCK_EVENTS", co->block_events);
		execvp(cmd[0], cmd);
		err = errno;
		if (write(pfd[1], &err, sizeof(err)) < 0)
			_exit(127);
		_exit(127);
	}
	close(pfd[1]);
	child_pid = pid;
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	memset(&fwd, 0, sizeof(fwd));
	fwd.sa_handler = forward_signal;
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGQUIT, &ign, &old_quit);
	sigaction(SIGTERM, &fwd, &old_term);
	sigaction(SIGHUP, &fwd, &old_hup);
	do
		got = read(pfd[0], &err, sizeof(err));
	while (got < 0 && errno == EINTR);
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	child_pid = 0;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	if (got == (ssize_t)sizeof(err)) {
		rmdir(status_dir);
		cli_error(cmd[0], "cannot run: %s", strerror(err));
		return err == ENOENT ? 127 : 126;
	}
	status = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
	rc = report(status_dir, out_abs, !strstr(out, "%p") && !strstr(out, "%r"), status,
		    tsm_now_ns() - t0);
	rmdir(status_dir);
	/* CMD's status wins; a summary that could not read a file fails an otherwise clean run. */
	return status ? status : rc ? EXIT_FAIL : EXIT_OK;
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
	struct cmd_opts co = {.flush_ns = 1000000000u, .buffer_bytes = 4u << 20};
	int simulate = 0, have_thread = 0, rc, close_rc, sim_only = 0, cmd_only = 0;
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
			sim_only = O_EVENTS;
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
			co.duration_ns = v;
			break;
		case O_KINDS:
			if (check_kinds(a) < 0) {
				rc = cli_usage_error(
				    spec.name,
				    "bad --kinds '%s' (a comma-separated list of "
				    "kernel, memcpy, memset, sync, memory, runtime, "
				    "driver, nvtx, all)",
				    a);
				goto out;
			}
			co.kinds = a;
			cmd_only = O_KINDS;
			break;
		case O_STACKS:
			co.stacks = 1;
			cmd_only = O_STACKS;
			break;
		case O_DELAY:
		case O_FLUSH:
			if (cli_parse_time(a, &v) < 0 || (rc == O_FLUSH && v < 1000000)) {
				rc =
				    cli_usage_error(spec.name,
						    "bad time '%s' for --%s (a number with a unit: "
						    "ns, us, ms, s%s)",
						    a, rc == O_DELAY ? "delay" : "flush-interval",
						    rc == O_FLUSH ? "; at least 1ms" : "");
				goto out;
			}
			if (rc == O_DELAY)
				co.delay_ns = v;
			else
				co.flush_ns = v;
			cmd_only = rc;
			break;
		case O_BUFFER:
			if (parse_size(a, &v) < 0 || v < (64u << 10) || v > (1u << 30)) {
				rc = cli_usage_error(spec.name,
						     "bad size '%s' for --buffer-size (64K to 1G; "
						     "suffixes K, M, G: x1024)",
						     a);
				goto out;
			}
			co.buffer_bytes = v;
			cmd_only = O_BUFFER;
			break;
		case O_SEED:
			if (cli_parse_uint(a, UINT64_MAX, &v) < 0)
				goto bad_number;
			so.seed = v;
			sim_only = O_SEED;
			break;
		case O_DEVICES:
			if (cli_parse_uint(a, 64, &v) < 0 || !v)
				goto bad_number;
			so.devices = (uint32_t)v;
			sim_only = O_DEVICES;
			break;
		case O_THREADS:
			if (cli_parse_uint(a, 256, &v) < 0 || !v)
				goto bad_number;
			so.host_threads = (uint32_t)v;
			sim_only = O_THREADS;
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
			co.block_events = (uint32_t)v;
			break;
		case O_DROP:
			so.drop_when_full = 1;
			sim_only = O_DROP;
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
	rc = cli_parse_end(&spec, rc);
	if (rc >= 0)
		goto out;
	if (!simulate) {
		if (!p.npos) {
			rc =
			    cli_usage_error(spec.name, "nothing to record: give '-- CMD [ARGS...]' "
						       "or --simulate");
			goto out;
		}
		if (!p.only_pos) {
			rc = cli_usage_error(spec.name,
					     "put '--' before the command: record [OPTIONS] -- %s",
					     p.pos[0]);
			goto out;
		}
		if (sim_only) {
			rc = cli_usage_error(spec.name,
					     "--events, --seed, --devices, --threads and --drop "
					     "apply to --simulate only");
			goto out;
		}
		if (!strcmp(out, "-")) {
			rc = cli_usage_error(spec.name, "-o - is for --simulate; a traced command "
							"writes one file per process");
			goto out;
		}
		co.zstd_level = wo.zstd_level;
		rc = record_command(p.pos, out, &co);
		goto out;
	}
	if (p.npos) {
		rc = cli_usage_error(spec.name, "--simulate records no command (got '%s')",
				     p.pos[0]);
		goto out;
	}
	if (cmd_only) {
		rc = cli_usage_error(spec.name, "--kinds, --stacks, --delay, --buffer-size and "
						"--flush-interval apply to '-- CMD' only");
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
