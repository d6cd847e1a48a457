/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libtracesmith-agent.so: the CUPTI injection library.
 *
 * Life of the agent in a traced process:
 *
 *   cuInit -> InitializeInjection (driver, once per process)
 *       read TRACESMITH_* (set by `tracesmith record`), name the output
 *       file, open the SBT writer (clock: CUPTI timestamps, with the
 *       offset to CLOCK_REALTIME), add process metadata, subscribe to
 *       CUPTI, enable the activity kinds, start the control thread,
 *       register atexit and SIGINT/SIGTERM handlers; state READY.
 *   first context created (resource callback), or first buffer, or exit
 *       describe the devices (the driver answers only after cuInit) and
 *       start the collector's writer thread; state RUNNING.
 *   steady state
 *       CUPTI's thread converts buffers into events (activity.c), NVTX
 *       callbacks push ranges (nvtx.c); each thread into its own ring
 *       (emit.c); the collector writes and flushes the file at least every
 *       flush interval; the control thread asks CUPTI for its completed
 *       buffers just as often (cuptiActivityFlushAll), so the file on disk
 *       is never more than about two intervals behind.
 *   exit (atexit), or SIGINT/SIGTERM with the default action
 *       forced CUPTI flush, DROPPED records for what the agent lost,
 *       state STOPPING, wait for producers to leave, stop the collector,
 *       close the writer (index + footer), status file "done".
 *
 * Failure never reaches the application: every error leaves it running
 * untraced and is written to the status file that `record` reads
 * (TRACESMITH_STATUS_DIR/<pid>.status) and, when the file exists, into
 * its metadata. The agent never writes to stdout or stderr.
 *
 * Signals. A handler is installed for SIGINT and SIGTERM. If the
 * application had its own handler, ours calls it and returns (the
 * application decides; a normal exit runs atexit). If the action was the
 * default (terminate), the handler wakes the control thread, which
 * finalises the file, waits for it at most FINALISE_WAIT_MS (the
 * interrupted thread may hold a lock the finaliser needs: the file is
 * then readable up to the last periodic flush), restores the default
 * action and re-raises the signal, so the exit status is the signal's.
 * SIGKILL cannot be caught: the file is then readable up to the last
 * flush, without index.
 *
 * fork. A forked child inherits the agent's memory but not its threads;
 * it must not touch the parent's file, so finalisation does nothing when
 * getpid() differs from the pid that initialised the agent. A child that
 * execs a CUDA program loads its own agent and writes its own file.
 *
 * In-process capture (tsm_agent_start / tsm_agent_stop, for the Python
 * package's profile(); contract in python/tracesmith/agent-control.c).
 * The agent is dlopen'ed into a running process, usually after PyTorch
 * initialised CUDA. A capture is a *session*, set up and torn down by the
 * same code as the injected one:
 *
 *   session_reset + read_config   counters, warning, TRACESMITH_* options
 *   session_open                  writer, process metadata, subscribe,
 *                                 activity kinds, control thread: READY
 *   agent_ensure_started          devices, collector: RUNNING
 *   finalise                      flush, stop, close (index + footer)
 *
 * InitializeInjection runs the first three and leaves the third to the
 * first context; tsm_agent_start runs all three at once (the driver
 * answers device queries, and no context-creation callback will come for
 * contexts that exist already). tsm_agent_stop finalises with `detach`:
 * it first disables the activity kinds, so the forced flush hands over
 * everything recorded so far and nothing new arrives, and after the file
 * is closed it unsubscribes from CUPTI, so that another tool (such as
 * torch.profiler) may subscribe afterwards and the next tsm_agent_start
 * can subscribe again, registering its buffer callbacks anew. cuptiFinalize
 * is not used: it is only safe from an API-exit callback, and a later
 * start would have to re-attach CUPTI from scratch. In-process sessions
 * install no signal handlers (the application owns them; Python turns
 * SIGINT into KeyboardInterrupt, whose unwinding stops the capture) and
 * write no status file: errors are returned, with tsm_agent_error().
 * Each session bumps agent.session, which retires per-thread rings and
 * name caches of the previous one (emit.c).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define EXPORT		     __attribute__((visibility("default")))
#define FINALISE_WAIT_MS     5000
#define DEFAULT_FLUSH_NS     1000000000ull
#define DEFAULT_BUFFER_BYTES (4u << 20)
#define DEFAULT_RING_EVENTS  65536u

struct agent agent_g = {
    .start_lock = PTHREAD_MUTEX_INITIALIZER,
    .session_lock = PTHREAD_MUTEX_INITIALIZER,
    .ctl_efd = -1,
    .done_fd = {-1, -1},
};

static pthread_mutex_t warn_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int finalised;
static _Atomic int ctl_stop;
static _Atomic int injected; /* InitializeInjection was called */
static int signals_installed, atexit_registered;
static struct sigaction old_int, old_term;
static char last_error[768]; /* tsm_agent_error(); written under session_lock */

EXPORT int InitializeInjection(void);
EXPORT int InitializeInjectionNvtx2(const void *get_export_table);
EXPORT int tsm_agent_start(const char *path);
EXPORT int tsm_agent_stop(void);
EXPORT const char *tsm_agent_error(void);

uint64_t agent_now(void)
{
	uint64_t t = 0;

	cuptiGetTimestamp(&t);
	return t;
}

void agent_warn(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&warn_lock);
	if (!agent_g.warning[0]) {
		va_start(ap, fmt);
		vsnprintf(agent_g.warning, sizeof(agent_g.warning), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&warn_lock);
}

/* ---- configuration --------------------------------------------------- */

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *s = getenv(name);
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return def;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end) {
		agent_warn("%s=%s is not a number; using %llu", name, s, (unsigned long long)def);
		return def;
	}
	return v;
}

static void read_config(struct agent_cfg *c)
{
	const char *s = getenv("TRACESMITH_OUTPUT"), *bad;
	size_t badlen;
	uint64_t ring;

	snprintf(c->out_pattern, sizeof(c->out_pattern), "%s", s && *s ? s : "tracesmith-%p.sbt");
	s = getenv("TRACESMITH_STATUS_DIR");
	snprintf(c->status_dir, sizeof(c->status_dir), "%s", s ? s : "");
	s = getenv("TRACESMITH_KINDS");
	c->kinds = TSM__CUPTI_KINDS_ALL;
	if (s && *s) {
		c->kinds = tsm__cupti_kinds_parse(s, &bad, &badlen);
		if (!c->kinds) {
			agent_warn("TRACESMITH_KINDS: unknown kind '%.*s'; capturing all kinds",
				   (int)badlen, bad);
			c->kinds = TSM__CUPTI_KINDS_ALL;
		}
	}
	c->stacks = env_u64("TRACESMITH_STACKS", 0) != 0;
	c->flush_ns = env_u64("TRACESMITH_FLUSH_NS", DEFAULT_FLUSH_NS);
	if (c->flush_ns < 1000000)
		c->flush_ns = 1000000;
	c->delay_ns = env_u64("TRACESMITH_DELAY_NS", 0);
	c->duration_ns = env_u64("TRACESMITH_DURATION_NS", 0);
	c->buffer_bytes = (size_t)env_u64("TRACESMITH_BUFFER_BYTES", DEFAULT_BUFFER_BYTES);
	if (c->buffer_bytes < (64u << 10))
		c->buffer_bytes = 64u << 10;
	c->buffer_bytes &= ~(size_t)7;
	ring = env_u64("TRACESMITH_RING_EVENTS", DEFAULT_RING_EVENTS);
	if (ring < 1024 || (ring & (ring - 1)))
		ring = DEFAULT_RING_EVENTS;
	c->ring_events = (size_t)ring;
	c->zstd_level = (int)env_u64("TRACESMITH_ZSTD", 0);
	c->block_events = (uint32_t)env_u64("TRACESMITH_BLOCK_EVENTS", 0);
}

static int read_rank(void)
{
	const char *s = getenv("RANK");

	if (!s || !*s)
		s = getenv("LOCAL_RANK");
	return s && *s ? atoi(s) : -1;
}

/*
 * Expand %p (pid), %r (rank, or the pid when no rank is set), %h (host)
 * and %%. A pattern without %p or %r gets ".<pid>" before its extension:
 * several processes may trace at once, and `record` renames the file to
 * the plain name when only one did.
 */
static void expand_output(struct agent *g)
{
	const char *p = g->cfg.out_pattern;
	char out[PATH_MAX], host[128] = "";
	size_t n = 0;
	int has_id = strstr(p, "%p") || strstr(p, "%r");

	gethostname(host, sizeof(host) - 1);
	for (; *p && n + 32 < sizeof(out); p++) {
		if (*p != '%' || !p[1]) {
			out[n++] = *p;
			continue;
		}
		p++;
		if (*p == 'p')
			n += (size_t)snprintf(out + n, sizeof(out) - n, "%d", (int)g->pid);
		else if (*p == 'r')
			n += (size_t)snprintf(out + n, sizeof(out) - n, "%d",
					      g->rank >= 0 ? g->rank : (int)g->pid);
		else if (*p == 'h')
			n += (size_t)snprintf(out + n, sizeof(out) - n, "%.60s", host);
		else
			out[n++] = *p;
	}
	out[n] = 0;
	if (!has_id) {
		char *slash = strrchr(out, '/'), *dot = strrchr(out, '.');
		char tail[64];

		if (!dot || (slash && dot < slash) || strlen(dot) >= sizeof(tail))
			dot = out + n;
		snprintf(tail, sizeof(tail), "%s", dot);
		snprintf(dot, sizeof(out) - (size_t)(dot - out), ".%d%.60s", (int)g->pid, tail);
	}
	snprintf(g->out_path, sizeof(g->out_path), "%s", out);
}

/* ---- status file ----------------------------------------------------- */

static void write_status(const char *state, const char *error)
{
	struct agent *g = &agent_g;
	char tmp[PATH_MAX + 8];
	FILE *f;

	if (!g->status_path[0])
		return;
	snprintf(tmp, sizeof(tmp), "%.4000s.tmp", g->status_path);
	f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "pid=%d\nstate=%s\noutput=%s\n", (int)g->pid, state, g->out_path);
	if (error && *error)
		fprintf(f, "error=%s\n", error);
	pthread_mutex_lock(&warn_lock);
	if (g->warning[0])
		fprintf(f, "warning=%s\n", g->warning);
	pthread_mutex_unlock(&warn_lock);
	fprintf(f, "cupti_records=%llu\nbuffers=%llu\ncupti_dropped=%llu\n",
		(unsigned long long)atomic_load(&g->records),
		(unsigned long long)atomic_load(&g->buffers),
		(unsigned long long)atomic_load(&g->cupti_dropped));
	if (fclose(f) == 0)
		rename(tmp, g->status_path);
	else
		unlink(tmp);
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	atomic_store(&agent_g.state, AG_FAILED);
	write_status("failed", msg);
}

/* ---- start / stop ---------------------------------------------------- */

static int64_t realtime_offset(void)
{
	int64_t best = 0;
	uint64_t best_gap = UINT64_MAX;

	for (int i = 0; i < 5; i++) {
		struct timespec a, b;
		uint64_t c, ra, rb;

		clock_gettime(CLOCK_REALTIME, &a);
		c = agent_now();
		clock_gettime(CLOCK_REALTIME, &b);
		ra = (uint64_t)a.tv_sec * 1000000000u + (uint64_t)a.tv_nsec;
		rb = (uint64_t)b.tv_sec * 1000000000u + (uint64_t)b.tv_nsec;
		if (rb - ra < best_gap) {
			best_gap = rb - ra;
			best = (int64_t)(ra + (rb - ra) / 2) - (int64_t)c;
		}
	}
	return best;
}

int agent_ensure_started(void)
{
	struct agent *g = &agent_g;
	tsm_collector_opts co = {0};
	int rc = 0;

	if (atomic_load_explicit(&g->state, memory_order_acquire) != AG_READY)
		return 0;
	pthread_mutex_lock(&g->start_lock);
	if (atomic_load_explicit(&g->state, memory_order_acquire) != AG_READY)
		goto out;
	/* The device queries below are the agent's, not the application's:
	 * activity.c drops driver records of this thread in this window. */
	atomic_store_explicit(&g->self_t0, agent_now(), memory_order_relaxed);
	atomic_store_explicit(&g->self_t1, UINT64_MAX, memory_order_relaxed);
	atomic_store_explicit(&g->self_tid, (uint32_t)agent_gettid(), memory_order_release);
	if (agent_describe_devices(g->w) < 0)
		agent_warn("device properties unavailable");
	atomic_store_explicit(&g->self_t1, agent_now(), memory_order_release);

	co.ring_capacity = g->cfg.ring_events;
	co.flush_interval_ns = g->cfg.flush_ns;
	rc = tsm_collector_start(g->w, &co, &g->col);
	if (rc < 0) {
		agent_warn("collector: %s", tsm_last_error());
		atomic_store_explicit(&g->state, AG_FAILED, memory_order_seq_cst);
		goto out;
	}
	atomic_store_explicit(&g->state, AG_RUNNING, memory_order_seq_cst);
out:
	pthread_mutex_unlock(&g->start_lock);
	return rc;
}

static void emit_drop(uint64_t count, unsigned source)
{
	tsm_event ev;

	if (!count)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.kind = TSM_EV_DROPPED;
	ev.device = TSM_DEVICE_NONE;
	ev.pid = (uint32_t)agent_g.pid;
	ev.tid = agent_gettid();
	ev.start_ns = ev.end_ns = agent_now();
	ev.u.dropped.count = count;
	ev.u.dropped.source = (uint8_t)source;
	agent_emit(&ev);
}

/* Wait (at most 2 s) until no producer is between agent_enter and agent_leave. */
static void wait_inflight(void)
{
	for (int i = 0; i < 20000 && atomic_load_explicit(&agent_g.inflight, memory_order_seq_cst);
	     i++) {
		struct timespec ts = {0, 100000};

		nanosleep(&ts, NULL);
	}
}

/*
 * End the session: flush, stop the collector, close the file, status
 * "done". `detach` (in-process stop): disable the activity kinds before the
 * flush and unsubscribe after the close. Returns 0 or a negative status,
 * with the reason in err (of cap bytes).
 */
static int finalise(const char *why, int detach, char *err, size_t cap)
{
	struct agent *g = &agent_g;
	int rc = 0, st;

	err[0] = 0;
	if (getpid() != g->pid || atomic_exchange(&finalised, 1))
		return TSM_STATE;
	st = atomic_load(&g->state);
	if (st != AG_READY && st != AG_RUNNING)
		return TSM_STATE;
	agent_ensure_started();
	if (detach)
		agent_activity_set_enabled(0);
	if (atomic_load(&g->state) == AG_RUNNING) {
		agent_activity_flush(1);
		/* What the agent itself could not deliver, before it stops. */
		emit_drop(atomic_load(&g->drop_not_running) + atomic_load(&g->drop_no_ring),
			  TSM_DROP_RING);
		agent_publish();
	}
	/* No producer, and no callback using the writer's tables, may be inside
	 * (emit.c) when the collector and the writer go away. */
	atomic_store_explicit(&g->state, AG_STOPPING, memory_order_seq_cst);
	wait_inflight();
	if (g->col) {
		rc = tsm_collector_stop(g->col);
		g->col = NULL;
		agent_emit_reset();
		if (rc < 0)
			snprintf(err, cap, "writing %.400s: %s", g->out_path, tsm_strerror(rc));
	}
	tsm_writer_add_meta_str(g->w, "agent.end", why);
	tsm_writer_add_meta_int(g->w, "agent.cupti_records", (int64_t)atomic_load(&g->records));
	tsm_writer_add_meta_int(g->w, "agent.cupti_dropped",
				(int64_t)atomic_load(&g->cupti_dropped));
	tsm_writer_add_meta_int(g->w, "agent.nvtx_unmatched",
				(int64_t)atomic_load(&g->nvtx_unmatched));
	if (g->warning[0])
		tsm_writer_add_meta_str(g->w, "agent.warning", g->warning);
	st = tsm_writer_close(g->w);
	g->w = NULL;
	if (st < 0 && rc >= 0) {
		rc = st;
		snprintf(err, cap, "closing %.400s: %s", g->out_path, tsm_last_error());
	}
	if (detach)
		agent_callbacks_stop();
	atomic_store(&g->state, AG_DONE);
	write_status(err[0] ? "failed" : "done", err);
	return rc;
}

/* ---- control thread -------------------------------------------------- */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *control(void *arg)
{
	struct agent *g = &agent_g;
	uint64_t t0 = mono_ns(), next_flush = t0 + g->cfg.flush_ns;
	uint64_t on_at = g->cfg.delay_ns ? t0 + g->cfg.delay_ns : 0;
	uint64_t off_at = g->cfg.duration_ns ? t0 + g->cfg.delay_ns + g->cfg.duration_ns : 0;
	int enabled = !g->cfg.delay_ns;

	(void)arg;
	while (!atomic_load(&ctl_stop)) {
		uint64_t now = mono_ns(), wake = next_flush, v;
		struct pollfd pfd = {.fd = g->ctl_efd, .events = POLLIN};
		int sig;

		if (on_at && !enabled && on_at < wake)
			wake = on_at;
		if (off_at && off_at < wake)
			wake = off_at;
		if (poll(&pfd, 1, wake > now ? (int)((wake - now) / 1000000u) + 1 : 0) > 0 &&
		    read(g->ctl_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			break;
		sig = atomic_exchange(&g->sig_req, 0);
		if (sig) {
			char why[32];

			char err[512];

			snprintf(why, sizeof(why), "signal %d", sig);
			finalise(why, 0, err, sizeof(err));
			if (write(g->done_fd[1], "x", 1) < 0)
				break;
			break;
		}
		now = mono_ns();
		if (on_at && !enabled && now >= on_at) {
			agent_activity_set_enabled(1);
			enabled = 1;
		}
		if (off_at && now >= off_at) {
			agent_activity_set_enabled(0);
			agent_activity_flush(1);
			off_at = 0;
		}
		if (now >= next_flush) {
			if (atomic_load(&g->state) == AG_RUNNING)
				agent_activity_flush(0);
			next_flush = now + g->cfg.flush_ns;
		}
	}
	return NULL;
}

static void stop_control(void)
{
	uint64_t one = 1;

	if (!agent_g.have_ctl || pthread_equal(pthread_self(), agent_g.ctl))
		return;
	atomic_store(&ctl_stop, 1);
	if (write(agent_g.ctl_efd, &one, sizeof(one)) < 0)
		return;
	pthread_join(agent_g.ctl, NULL);
	agent_g.have_ctl = 0;
	/* A signal handler may still use the descriptors while the process
	 * exits; only sessions without handlers (in-process) give them back. */
	if (!signals_installed) {
		close(agent_g.ctl_efd);
		close(agent_g.done_fd[0]);
		close(agent_g.done_fd[1]);
		agent_g.ctl_efd = agent_g.done_fd[0] = agent_g.done_fd[1] = -1;
	}
}

static void at_exit(void)
{
	char err[512];

	if (getpid() != agent_g.pid)
		return;
	stop_control();
	finalise("exit", agent_g.inproc, err, sizeof(err));
}

static void on_signal(int sig, siginfo_t *info, void *uctx)
{
	struct sigaction *old = sig == SIGINT ? &old_int : &old_term;
	int saved = errno;

	if (old->sa_flags & SA_SIGINFO) {
		if (old->sa_sigaction) {
			old->sa_sigaction(sig, info, uctx);
			goto out;
		}
	} else if (old->sa_handler == SIG_IGN) {
		goto out;
	} else if (old->sa_handler != SIG_DFL) {
		old->sa_handler(sig);
		goto out;
	}
	/* Default action: terminate. Finalise first (on the control thread). */
	if (getpid() == agent_g.pid && agent_g.have_ctl &&
	    !atomic_exchange(&agent_g.sig_req, sig)) {
		struct pollfd pfd = {.fd = agent_g.done_fd[0], .events = POLLIN};
		uint64_t one = 1;

		if (write(agent_g.ctl_efd, &one, sizeof(one)) == sizeof(one))
			poll(&pfd, 1, FINALISE_WAIT_MS);
	}
	signal(sig, SIG_DFL);
	raise(sig);
out:
	errno = saved;
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	signals_installed = 1;
}

static int start_control(void)
{
	sigset_t all, old;
	int rc;

	atomic_store(&ctl_stop, 0);
	agent_g.ctl_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (agent_g.ctl_efd < 0)
		return -errno;
	if (pipe2(agent_g.done_fd, O_CLOEXEC) < 0) {
		close(agent_g.ctl_efd);
		agent_g.ctl_efd = -1;
		return -errno;
	}
	/* The control thread takes no signals: they belong to the application. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&agent_g.ctl, NULL, control, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		close(agent_g.ctl_efd);
		close(agent_g.done_fd[0]);
		close(agent_g.done_fd[1]);
		agent_g.ctl_efd = agent_g.done_fd[0] = agent_g.done_fd[1] = -1;
		return -rc;
	}
	pthread_setname_np(agent_g.ctl, "tsm-agent");
	agent_g.have_ctl = 1;
	return 0;
}

/* ---- entry points ---------------------------------------------------- */

static const char *cupti_error(int r)
{
	const char *s = NULL;

	if (cuptiGetResultString((CUptiResult)r, &s) != CUPTI_SUCCESS || !s)
		s = "unknown CUPTI error";
	return s;
}

/* Counters and the warning of a new session (the previous one, if any, is done). */
static void session_reset(void)
{
	struct agent *g = &agent_g;

	atomic_store(&g->drop_not_running, 0);
	atomic_store(&g->drop_no_ring, 0);
	atomic_store(&g->cupti_dropped, 0);
	atomic_store(&g->buffers, 0);
	atomic_store(&g->records, 0);
	atomic_store(&g->nvtx_unmatched, 0);
	atomic_store(&g->self_tid, 0);
	pthread_mutex_lock(&warn_lock);
	g->warning[0] = 0;
	pthread_mutex_unlock(&warn_lock);
	atomic_store(&finalised, 0);
	g->pid = getpid();
	g->rank = read_rank();
}

/*
 * Open a session on g->out_path with g->cfg: the writer (CUPTI clock and
 * its offset to CLOCK_REALTIME), process metadata, the CUPTI subscriber,
 * the activity kinds and the control thread; state READY. On failure
 * nothing is left behind (no subscriber, no file) and `why` says what
 * failed; returns a negative status: the writer's, or TSM_UNAVAILABLE for
 * CUPTI.
 */
static int session_open(char *why, size_t cap)
{
	struct agent *g = &agent_g;
	tsm_writer_opts wo = {0};
	char producer[96];
	const char *step;
	int rc;

	atomic_fetch_add(&g->session, 1);
	snprintf(producer, sizeof(producer), "tracesmith %s agent (cupti)", TSM_VERSION_STRING);
	wo.clock = TSM_CLOCK_CUPTI;
	/* SBT reads an offset of 0 as "unknown"; CUPTI's clock can be CLOCK_REALTIME
	 * itself, so a measured 0 is stored as 1 ns. */
	wo.realtime_offset_ns = realtime_offset();
	if (!wo.realtime_offset_ns)
		wo.realtime_offset_ns = 1;
	wo.producer = producer;
	wo.zstd_level = g->cfg.zstd_level;
	wo.block_events = g->cfg.block_events;
	rc = tsm_writer_open(g->out_path, &wo, &g->w);
	if (rc < 0) {
		snprintf(why, cap, "cannot create the trace file %.300s: %.400s", g->out_path,
			 tsm_last_error());
		g->w = NULL;
		return rc;
	}
	agent_describe_process(g->w);
	if (g->cfg.stacks && agent_stacks_init() < 0) {
		agent_warn("no memory for the call-stack table: --stacks ignored");
		g->cfg.stacks = 0;
	}

	step = "cuptiSubscribe";
	rc = agent_callbacks_start();
	if (rc == 0) {
		step = "activity API";
		rc = agent_activity_start();
	}
	if (rc != 0) {
		if (rc == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED)
			snprintf(why, cap,
				 "CUPTI is already in use by another profiler in this process "
				 "(only one subscriber is allowed; torch.profiler, Nsight Systems "
				 "and the like hold it); not tracing");
		else
			snprintf(why, cap, "CUPTI could not be initialised (%s: %s); not tracing",
				 step, cupti_error(rc));
		agent_activity_set_enabled(0);
		agent_callbacks_stop();
		tsm_writer_close(g->w);
		g->w = NULL;
		unlink(g->out_path);
		return TSM_UNAVAILABLE;
	}
	atomic_store(&g->state, AG_READY);
	if (start_control() < 0)
		agent_warn("control thread: periodic CUPTI flush and --delay/--duration disabled");
	return 0;
}

int InitializeInjection(void)
{
	struct agent *g = &agent_g;
	char why[768];
	int st;

	/* The driver calls this once per process; be safe if it comes twice. */
	if (atomic_exchange(&injected, 1))
		return 1;
	pthread_mutex_lock(&g->session_lock);
	/* An in-process session (tsm_agent_start) already holds CUPTI. */
	st = atomic_load(&g->state);
	if (st == AG_READY || st == AG_RUNNING)
		goto out;
	session_reset();
	g->inproc = 0;
	read_config(&g->cfg);
	expand_output(g);
	if (g->cfg.status_dir[0])
		snprintf(g->status_path, sizeof(g->status_path), "%.4000s/%d.status",
			 g->cfg.status_dir, (int)g->pid);
	else
		snprintf(g->status_path, sizeof(g->status_path), "%.4000s.status", g->out_path);
	if (session_open(why, sizeof(why)) < 0) {
		fail("%s", why);
		goto out;
	}
	if (!atexit_registered && atexit(at_exit) == 0)
		atexit_registered = 1;
	install_signals();
	write_status("running", NULL);
out:
	pthread_mutex_unlock(&g->session_lock);
	return 1;
}

/* ---- in-process entry points (python/tracesmith/agent-control.c) ----- */

static int set_error(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int set_error(int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return rc;
}

/* Is CUDA_INJECTION64_PATH a TraceSmith agent (a copy other than this one, maybe)? */
static const char *injected_agent(void)
{
	const char *p = getenv("CUDA_INJECTION64_PATH");
	const char *base;

	if (!p || !*p)
		return NULL;
	base = strrchr(p, '/');
	base = base ? base + 1 : p;
	return strstr(base, "tracesmith-agent") ? p : NULL;
}

int tsm_agent_start(const char *path)
{
	struct agent *g = &agent_g;
	char why[768];
	const char *inj;
	int rc, st;

	pthread_mutex_lock(&g->session_lock);
	last_error[0] = 0;
	st = atomic_load(&g->state);
	if (!path || !*path || strlen(path) >= sizeof(g->out_path)) {
		rc =
		    set_error(TSM_INVAL, path && *path ? "output path too long" : "no output path");
		goto out;
	}
	if (atomic_load(&injected) && !g->inproc) {
		rc = set_error(TSM_STATE,
			       "this process is already traced by the injected agent (`tracesmith "
			       "record`, CUDA_INJECTION64_PATH), which writes %.500s until exit",
			       g->out_path[0] ? g->out_path : "its own file");
		goto out;
	}
	inj = injected_agent();
	if (inj) {
		rc = set_error(TSM_STATE,
			       "this process is traced by `tracesmith record` "
			       "(CUDA_INJECTION64_PATH=%.500s); in-process capture cannot run "
			       "beside it",
			       inj);
		goto out;
	}
	if (st == AG_READY || st == AG_RUNNING) {
		rc = set_error(TSM_STATE,
			       "already capturing into %.600s (call tsm_agent_stop first)",
			       g->out_path);
		goto out;
	}
	rc = agent_cuda_init(why, sizeof(why));
	if (rc < 0) {
		rc = set_error(rc, "%s", why);
		goto out;
	}

	session_reset();
	g->inproc = 1;
	read_config(&g->cfg);
	/* The caller's start and stop are the window. */
	g->cfg.delay_ns = g->cfg.duration_ns = 0;
	snprintf(g->out_path, sizeof(g->out_path), "%s", path);
	g->status_path[0] = 0;
	rc = session_open(why, sizeof(why));
	if (rc < 0) {
		atomic_store(&g->state, AG_FAILED);
		rc = set_error(rc, "%s", why);
		goto out;
	}
	/* CUDA is up: describe the devices and start the writer thread now. */
	agent_ensure_started();
	if (atomic_load(&g->state) != AG_RUNNING) {
		/* The collector could not start (state FAILED): undo session_open. */
		rc = set_error(TSM_UNAVAILABLE, "%s",
			       g->warning[0] ? g->warning : "the writer thread could not start");
		stop_control();
		agent_activity_set_enabled(0);
		agent_callbacks_stop();
		wait_inflight();
		tsm_writer_close(g->w);
		g->w = NULL;
		unlink(g->out_path);
		goto out;
	}
	if (!atexit_registered && atexit(at_exit) == 0)
		atexit_registered = 1;
out:
	pthread_mutex_unlock(&g->session_lock);
	return rc;
}

int tsm_agent_stop(void)
{
	struct agent *g = &agent_g;
	char err[512];
	int rc, st;

	pthread_mutex_lock(&g->session_lock);
	last_error[0] = 0;
	st = atomic_load(&g->state);
	if (!g->inproc && atomic_load(&injected)) {
		rc = set_error(TSM_STATE, "the capture was started by `tracesmith record`; it ends "
					  "when the process exits");
		goto out;
	}
	if (st != AG_READY && st != AG_RUNNING) {
		rc = set_error(TSM_STATE, "not capturing (tsm_agent_start was not called, or "
					  "the capture has ended)");
		goto out;
	}
	stop_control();
	rc = finalise("stop", 1, err, sizeof(err));
	if (rc < 0)
		set_error(rc, "%s", err[0] ? err : tsm_strerror(rc));
out:
	pthread_mutex_unlock(&g->session_lock);
	return rc;
}

const char *tsm_agent_error(void)
{
	return last_error;
}

/*
 * NVTX calls InitializeInjectionNvtx2 in the library named by
 * NVTX_INJECTION64_PATH. `record` points it at this agent so that one path
 * serves both injections; CUPTI implements the NVTX side, so hand over to
 * the libcupti this agent is linked with.
 */
int InitializeInjectionNvtx2(const void *get_export_table)
{
	typedef int (*init_fn)(const void *);
	Dl_info di;
	void *h;
	init_fn f;

	if (!dladdr((void *)cuptiSubscribe, &di) || !di.dli_fname)
		return 0;
	h = dlopen(di.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
	if (!h)
		return 0;
	f = (init_fn)dlsym(h, "InitializeInjectionNvtx2");
	return f ? f(get_export_table) : 0;
}
