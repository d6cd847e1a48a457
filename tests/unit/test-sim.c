/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Simulation backend: determinism, exact event counts, the invariants a GPU
 * engineer relies on (API before GPU work with the same correlation id,
 * streams that serialise, 32 ns GPU timestamps, waits after their records,
 * defined ids), every preset, and tsm_sim_run through rings, collector,
 * writer and reader producing exactly the events of tsm_sim_generate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture/sim/sim-internal.h"
#include "check.h"
#include "tracesmith/capture.h"

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

typedef struct evbuf {
	tsm_event *ev;
	size_t n, cap;
} evbuf;

static int collect(const tsm_event *ev, void *user)
{
	evbuf *b = user;

	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 4096;
		tsm_event *p = realloc(b->ev, cap * sizeof(*p));

		if (!p)
			return TSM_NOMEM;
		b->ev = p;
		b->cap = cap;
	}
	b->ev[b->n++] = *ev;
	return 0;
}

static void evbuf_free(evbuf *b)
{
	free(b->ev);
	memset(b, 0, sizeof(*b));
}

static char tmpdir[256];

static void tmp_path(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", tmpdir, name);
}

/* Generate into `b` through a real writer (whose tables stay usable until close). */
static int generate(const tsm_sim_opts *o, evbuf *b, tsm_writer **wout, const char *name)
{
	char path[512];
	tsm_writer_opts wo = {.clock = TSM_CLOCK_SIMULATED};
	tsm_writer *w = NULL;
	int rc;

	tmp_path(path, sizeof(path), name);
	rc = tsm_writer_open(path, &wo, &w);
	if (rc < 0)
		return rc;
	rc = tsm_sim_describe(w, o);
	if (rc == 0)
		rc = tsm_sim_generate(w, o, collect, b);
	if (wout && rc == 0)
		*wout = w;
	else
		tsm_writer_close(w);
	return rc;
}

static int cmp_u64(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

/* Total order on events: start, then correlation, kind, then every byte. */
static int cmp_event(const void *pa, const void *pb)
{
	const tsm_event *a = pa, *b = pb;
	int c = cmp_u64(a->start_ns, b->start_ns);

	if (!c)
		c = cmp_u64(a->correlation, b->correlation);
	if (!c)
		c = cmp_u64(a->kind, b->kind);
	if (!c)
		c = memcmp(a, b, sizeof(*a));
	return c;
}

static int is_gpu_side(const tsm_event *e)
{
	return e->kind == TSM_EV_KERNEL || e->kind == TSM_EV_MEMCPY || e->kind == TSM_EV_MEMSET ||
	       e->kind == TSM_EV_SYNC;
}

static int cmp_stream_start(const void *pa, const void *pb)
{
	const tsm_event *a = *(const tsm_event *const *)pa, *b = *(const tsm_event *const *)pb;
	int c = cmp_u64(a->pid, b->pid);

	if (!c)
		c = cmp_u64(a->stream, b->stream);
	if (!c)
		c = cmp_u64(a->start_ns, b->start_ns);
	if (!c)
		c = cmp_u64(a->end_ns, b->end_ns);
	return c;
}

/* Runtime/driver call with this (pid, correlation): a linear index is enough for tests. */
static const tsm_event *find_api(const evbuf *b, uint32_t pid, uint64_t corr)
{
	for (size_t i = 0; i < b->n; i++) {
		const tsm_event *e = &b->ev[i];

		if ((e->kind == TSM_EV_RUNTIME || e->kind == TSM_EV_DRIVER) && e->pid == pid &&
		    e->correlation == corr)
			return e;
	}
	return NULL;
}

/* Every invariant the viewers and analyses rely on. */
static void check_invariants(const char *what, const evbuf *b, tsm_writer *w)
{
	tsm_intern *strings = tsm_writer_strings(w), *stacks = tsm_writer_stacks(w),
		   *kvlists = tsm_writer_kvlists(w);
	const tsm_event **gpu = malloc((b->n + 1) * sizeof(*gpu));
	size_t ngpu = 0, bad_api = 0, bad_tick = 0, bad_ids = 0, bad_wait = 0, bad_order = 0;
	size_t kernels = 0, apis = 0;
	/* API lookups are linear: check a bounded sample so the test stays fast. */
	size_t api_checks = 0;

	CHECK(gpu != NULL);
	if (!gpu)
		return;
	for (size_t i = 0; i < b->n; i++) {
		const tsm_event *e = &b->ev[i];

		CHECK(e->end_ns >= e->start_ns);
		if (!e->name && e->kind != TSM_EV_ALLOC && e->kind != TSM_EV_FREE &&
		    e->kind != TSM_EV_SYNC && e->kind != TSM_EV_MEMCPY && e->kind != TSM_EV_MEMSET)
			bad_ids++;
		if (e->name && !tsm_intern_borrow(strings, e->name, NULL))
			bad_ids++;
		if (e->stack && !tsm_intern_borrow(stacks, e->stack, NULL))
			bad_ids++;
		if (e->meta && !tsm_intern_borrow(kvlists, e->meta, NULL))
			bad_ids++;
		if (e->kind == TSM_EV_NVTX_MARK && e->u.nvtx.domain &&
		    !tsm_intern_borrow(strings, e->u.nvtx.domain, NULL))
			bad_ids++;
		if (e->kind == TSM_EV_RUNTIME || e->kind == TSM_EV_DRIVER)
			apis++;
		if (e->kind == TSM_EV_KERNEL)
			kernels++;
		if (!is_gpu_side(e))
			continue;
		if (e->start_ns % 32 || e->end_ns % 32)
			bad_tick++;
		if (e->correlation && api_checks < 3000 && (i % 7 == 0 || i < 2000)) {
			const tsm_event *a = find_api(b, e->pid, e->correlation);

			api_checks++;
			if (!a || a->start_ns >= e->start_ns ||
			    (e->kind != TSM_EV_SYNC && a->external != e->external))
				bad_api++;
		}
		if (tsm_event_is_gpu_work(e))
			gpu[ngpu++] = e;
		if (e->kind == TSM_EV_SYNC && e->u.sync.sync_type == TSM_SYNC_STREAM_WAIT_EVENT) {
			size_t j;

			/* The matching record was emitted earlier and was reached before the wait
			 * ended. */
			for (j = i; j-- > 0;) {
				const tsm_event *r = &b->ev[j];

				if (r->kind == TSM_EV_SYNC && r->pid == e->pid &&
				    r->u.sync.sync_type == TSM_SYNC_EVENT_RECORD &&
				    r->u.sync.event_id == e->u.sync.event_id)
					break;
			}
			if (j == (size_t)-1 || b->ev[j].start_ns > e->end_ns ||
			    b->ev[j].flow_id != e->flow_id ||
			    b->ev[j].flow_type != TSM_FLOW_START || e->flow_type != TSM_FLOW_END)
				bad_wait++;
		}
	}
	qsort(gpu, ngpu, sizeof(*gpu), cmp_stream_start);
	for (size_t i = 1; i < ngpu; i++)
		if (gpu[i]->pid == gpu[i - 1]->pid && gpu[i]->stream == gpu[i - 1]->stream &&
		    gpu[i]->start_ns < gpu[i - 1]->end_ns)
			bad_order++;
	if (bad_api || bad_tick || bad_ids || bad_wait || bad_order)
		fprintf(stderr,
			"%s: %zu events: bad api %zu, tick %zu, ids %zu, wait %zu, overlap %zu\n",
			what, b->n, bad_api, bad_tick, bad_ids, bad_wait, bad_order);
	CHECK(bad_api == 0);
	CHECK(bad_tick == 0);
	CHECK(bad_ids == 0);
	CHECK(bad_wait == 0);
	CHECK(bad_order == 0);
	CHECK(kernels > 0);
	CHECK(apis > 0);
	CHECK(api_checks > 0);
	free(gpu);
}

static void test_presets(void)
{
	const char *const *names = tsm_sim_preset_names();
	size_t n = 0;

	CHECK(names && names[0] && !strcmp(names[0], "train"));
	for (; names && names[n]; n++) {
		const char *sum = tsm_sim_preset_summary(names[n]);

		CHECK(sum && strlen(sum) > 10);
	}
	CHECK(n == 4);
	CHECK(tsm_sim_preset_summary("no-such-preset") == NULL);
	{
		tsm_sim_opts o = {.preset = "no-such-preset"};
		evbuf b = {0};

		CHECK_RC(tsm_sim_generate(NULL, &o, collect, &b), TSM_INVAL);
		CHECK(b.n == 0);
	}
}

static void test_every_preset(void)
{
	const char *const *names = tsm_sim_preset_names();

	for (size_t i = 0; names[i]; i++) {
		/* Natural length, then stretched far past it. */
		for (int stretch = 0; stretch < 2; stretch++) {
			tsm_sim_opts o = {.preset = names[i], .max_events = stretch ? 60000 : 0};
			tsm_writer *w = NULL;
			evbuf b = {0};
			char what[64];

			snprintf(what, sizeof(what), "%s%s", names[i], stretch ? " x60000" : "");
			CHECK_OK(generate(&o, &b, &w, "presets.sbt"));
			CHECK(b.n > 50);
			if (stretch)
				CHECK_EQ_U64(b.n, 60000);
			if (w)
				check_invariants(what, &b, w);
			tsm_writer_close(w);
			evbuf_free(&b);
		}
	}
	/* "tiny" is about 100 events. */
	{
		tsm_sim_opts o = {.preset = "tiny"};
		evbuf b = {0};

		CHECK_OK(tsm_sim_generate(NULL, &o, collect, &b));
		CHECK(b.n >= 60 && b.n <= 160);
		evbuf_free(&b);
	}
}

static void test_determinism(void)
{
	const char *presets[] = {"train", "infer", "multigpu", "tiny"};

	for (size_t i = 0; i < COUNT_OF(presets); i++) {
		tsm_sim_opts o = {.preset = presets[i], .max_events = 20000};
		evbuf a = {0}, b = {0}, c = {0};

		CHECK_OK(tsm_sim_generate(NULL, &o, collect, &a));
		CHECK_OK(tsm_sim_generate(NULL, &o, collect, &b));
		o.seed = 12345;
		CHECK_OK(tsm_sim_generate(NULL, &o, collect, &c));
		CHECK(a.n == b.n && a.n == 20000);
		CHECK(a.n == b.n && memcmp(a.ev, b.ev, a.n * sizeof(*a.ev)) == 0);
		CHECK(c.n == a.n && memcmp(a.ev, c.ev, a.n * sizeof(*a.ev)) != 0);
		evbuf_free(&a);
		evbuf_free(&b);
		evbuf_free(&c);
	}
}

static void test_exact_counts(void)
{
	const uint64_t counts[] = {100, 1000, 12345};
	const char *const *names = tsm_sim_preset_names();

	for (size_t p = 0; names[p]; p++)
		for (size_t i = 0; i < COUNT_OF(counts); i++) {
			tsm_sim_opts o = {.preset = names[p], .max_events = counts[i]};
			evbuf b = {0};

			CHECK_OK(tsm_sim_generate(NULL, &o, collect, &b));
			CHECK_EQ_U64(b.n, counts[i]);
			evbuf_free(&b);
		}
	/* Overrides change the shape but not the count. */
	{
		tsm_sim_opts o = {
		    .preset = "train", .max_events = 5000, .devices = 4, .host_threads = 4};
		evbuf b = {0};
		uint32_t pids[8] = {0};
		size_t npids = 0, pin_thread_events = 0;

		CHECK_OK(tsm_sim_generate(NULL, &o, collect, &b));
		CHECK_EQ_U64(b.n, 5000);
		for (size_t i = 0; i < b.n; i++) {
			size_t j;

			for (j = 0; j < npids && pids[j] != b.ev[i].pid; j++)
				;
			if (j == npids && npids < 8)
				pids[npids++] = b.ev[i].pid;
			if (b.ev[i].tid && b.ev[i].tid != b.ev[i].pid &&
			    b.ev[i].kind == TSM_EV_CPU_OP && b.ev[i].tid - b.ev[i].pid > 225)
				pin_thread_events++;
		}
		CHECK(npids == 4);
		CHECK(pin_thread_events > 0);
		evbuf_free(&b);
	}
	/* Limits are refused, not clamped. */
	{
		tsm_sim_opts o = {.devices = 1000};
		evbuf b = {0};

		CHECK_RC(tsm_sim_generate(NULL, &o, collect, &b), TSM_INVAL);
		o.devices = 0;
		o.host_threads = 9;
		CHECK_RC(tsm_sim_generate(NULL, &o, collect, &b), TSM_INVAL);
		CHECK_RC(tsm_sim_generate(NULL, &o, NULL, NULL), TSM_INVAL);
	}
}

/* Every C++ kernel name is a valid Itanium mangling (when a demangler is built in). */
static void test_kernel_names(void)
{
	char buf[4096];
	const char *ref =
	    "_ZN2at6native29vectorized_elementwise_kernelILi4ENS0_11FillFunctorIfEESt5arra"
	    "yIPcLm1EEEEviT0_T1_";
	size_t mangled = 0;

	if (tsm_demangle(ref, buf, sizeof(buf)) == ref) {
		printf("test-sim: no demangler in this build, kernel names not checked\n");
		return;
	}
	for (unsigned k = 0; k < K__COUNT; k++) {
		const char *n = tsm__sim_kernels[k].name;
		const char *d;

		CHECK(n && *n);
		if (!n || strncmp(n, "_Z", 2))
			continue;
		mangled++;
		d = tsm_demangle(n, buf, sizeof(buf));
		if (d == n || !strchr(d, '('))
			fprintf(stderr, "kernel %u: '%s' does not demangle\n", k, n);
		CHECK(d != n && strchr(d, '('));
	}
	CHECK(mangled > 20);
}

static void test_duration(void)
{
	tsm_sim_opts o = {.preset = "train", .duration_ns = 40000000};
	evbuf b = {0};
	uint64_t first = UINT64_MAX, last = 0;

	CHECK_OK(tsm_sim_generate(NULL, &o, collect, &b));
	CHECK(b.n > 1000);
	for (size_t i = 0; i < b.n; i++) {
		if (b.ev[i].start_ns < first)
			first = b.ev[i].start_ns;
		if (b.ev[i].start_ns > last)
			last = b.ev[i].start_ns;
	}
	/* The clock starts at 1e15 ns; nothing starts after the limit. */
	CHECK(first >= 1000000000000000ull);
	CHECK(last < 1000000000000000ull + o.duration_ns);
	CHECK(last > 1000000000000000ull + o.duration_ns / 2);
	evbuf_free(&b);
}

static int count_emit_fail(const tsm_event *ev, void *user)
{
	size_t *n = user;

	(void)ev;
	return ++*n == 500 ? TSM_IO : 0;
}

static void test_emit_error(void)
{
	tsm_sim_opts o = {.preset = "train", .max_events = 100000};
	size_t n = 0;

	CHECK_RC(tsm_sim_generate(NULL, &o, count_emit_fail, &n), TSM_IO);
	CHECK(n == 500);
}

/* tsm_sim_run -> file -> reader: exactly the events of tsm_sim_generate. */
static void pipeline_case(const char *preset, uint64_t max_events, uint32_t host_threads)
{
	tsm_sim_opts o = {.preset = preset, .max_events = max_events, .host_threads = host_threads};
	tsm_writer_opts wo = {.clock = TSM_CLOCK_SIMULATED, .block_events = 4096};
	tsm_capture_stats st;
	tsm_writer *w = NULL;
	tsm_reader *r = NULL;
	evbuf gen = {0}, got = {0};
	const tsm_event *ev;
	char path[512];
	size_t ndev = 0, nproc = 0, nmeta = 0, dropped_records = 0;
	int rc;

	CHECK_OK(generate(&o, &gen, NULL, "gen.sbt"));
	tmp_path(path, sizeof(path), "run.sbt");
	CHECK_OK(tsm_writer_open(path, &wo, &w));
	if (!w)
		goto out;
	CHECK_OK(tsm_sim_run(w, &o, &st));
	CHECK_OK(tsm_writer_close(w));
	CHECK_EQ_U64(st.dropped, 0);
	CHECK_EQ_U64(st.events, gen.n);
	CHECK(st.sim_span_ns > 0);

	CHECK_OK(tsm_reader_open(path, TSM_READ_STRICT, &r));
	if (!r)
		goto out;
	while ((rc = tsm_reader_next(r, &ev)) == 0) {
		if (ev->kind == TSM_EV_DROPPED) {
			dropped_records++;
			continue;
		}
		collect(ev, &got);
	}
	CHECK_RC(rc, TSM_END);
	CHECK(dropped_records == 0);
	CHECK(tsm_reader_devices(r, &ndev) && ndev >= 1);
	CHECK(tsm_reader_processes(r, &nproc) && nproc == ndev);
	CHECK(tsm_reader_meta(r, &nmeta) && nmeta >= 3);
	CHECK(tsm_reader_info(r)->clock == TSM_CLOCK_SIMULATED);
	CHECK_EQ_U64(got.n, gen.n);
	if (got.n == gen.n) {
		size_t diff = 0;

		qsort(gen.ev, gen.n, sizeof(*gen.ev), cmp_event);
		qsort(got.ev, got.n, sizeof(*got.ev), cmp_event);
		for (size_t i = 0; i < gen.n; i++) {
			if (memcmp(&gen.ev[i], &got.ev[i], sizeof(tsm_event)) != 0 && !diff) {
				const uint8_t *x = (const void *)&gen.ev[i],
					      *y = (const void *)&got.ev[i];

				for (size_t k = 0; k < sizeof(tsm_event); k++)
					if (x[k] != y[k])
						fprintf(stderr,
							"  event %zu kind %u byte %zu: %02x %02x\n",
							i, gen.ev[i].kind, k, x[k], y[k]);
			}
			diff += memcmp(&gen.ev[i], &got.ev[i], sizeof(tsm_event)) != 0;
		}
		if (diff)
			fprintf(stderr, "%s: %zu of %zu events differ after the pipeline\n", preset,
				diff, gen.n);
		CHECK(diff == 0);
	}
	/* Names resolve through the file's own string table. */
	if (got.n) {
		const char *name = NULL;

		for (size_t i = 0; i < got.n && !name; i++)
			if (got.ev[i].kind == TSM_EV_KERNEL)
				name = tsm_reader_string(r, got.ev[i].name);
		CHECK(name && strlen(name) > 8);
	}
out:
	tsm_reader_close(r);
	evbuf_free(&gen);
	evbuf_free(&got);
}

static void test_pipeline(void)
{
	pipeline_case("tiny", 0, 0);
	pipeline_case("train", 200000, 0);    /* 2 processes x 2 threads: 4 rings */
	pipeline_case("train", 150000, 4);    /* 8 rings, pin-memory threads */
	pipeline_case("multigpu", 300000, 0); /* 16 rings: more producers than cores */
	pipeline_case("infer", 100, 2);
}

static void test_pipeline_drop_mode(void)
{
	tsm_sim_opts o = {.preset = "train", .max_events = 200000, .drop_when_full = 1};
	tsm_capture_stats st;
	tsm_writer *w = NULL;
	char path[512];

	tmp_path(path, sizeof(path), "drop.sbt");
	CHECK_OK(tsm_writer_open(path, NULL, &w));
	if (!w)
		return;
	CHECK_OK(tsm_sim_run(w, &o, &st));
	CHECK_OK(tsm_writer_close(w));
	/* Whatever the scheduling, nothing is lost silently. */
	CHECK_EQ_U64(st.events + st.dropped, 200000);
	CHECK_EQ_U64(st.waits, 0);
}

int main(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/tsm-test-sim-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_presets();
	test_exact_counts();
	test_determinism();
	test_every_preset();
	test_kernel_names();
	test_duration();
	test_emit_error();
	test_pipeline();
	test_pipeline_drop_mode();
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "warning: could not remove %s\n", tmpdir);
	}
	return check_done("test-sim");
}
