/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Timeline: utilisation, concurrency, overlap, graph edges, critical path,
 * stream states and utilisation bins on the hand-built trace of
 * tl-fixture.h (answers derived there and below), plus a cross-device
 * event wait, empty and one-event traces, and bad input.
 */
#include "check.h"
#include "tl-fixture.h"

/* Node ids: lane (0,1): K1 0, REC 1, M 2; lane (0,2): K2 3, WAIT 4, K3 5; APIs a1..a7: 6..12. */
enum { K1, REC, M, K2, WAIT, K3, A1, A2, A3, A4, A5, A6, A7 };

static int has_edge(tsm_timeline *tl, uint32_t to, uint32_t from, unsigned type)
{
	tsm_tl_edge e[8];
	size_t n;

	if (tsm_timeline_in_edges(tl, to, e, 8, &n) < 0)
		return 0;
	for (size_t i = 0; i < n && i < 8; i++)
		if (e[i].from == from && e[i].type == type)
			return 1;
	return 0;
}

static size_t nedges(tsm_timeline *tl, uint32_t to)
{
	tsm_tl_edge e[8];
	size_t n = 99;

	tsm_timeline_in_edges(tl, to, e, 8, &n);
	return n;
}

static void test_fixture(void)
{
	tsm_timeline *tl = NULL;
	const tsm_tl_summary *s;
	const tsm_tl_device *d;
	const tsm_tl_lane *l;
	const tsm_tl_op *ops;
	const tsm_critical_path *cp;
	size_t n, nl, nops;
	uint64_t bins[11];

	CHECK_OK(fx_build(&tl));
	if (!tl)
		return;
	s = tsm_timeline_summary(tl);
	CHECK_EQ_U64(s->events, 17);
	CHECK_EQ_U64(s->first_ns, 0);
	CHECK_EQ_U64(s->last_ns, 260);
	CHECK_EQ_U64(s->ops, 6);
	CHECK_EQ_U64(s->apis, 7);
	CHECK_EQ_U64(s->launched, 6);
	CHECK_EQ_U64(s->unmatched_ops, 0);
	CHECK_EQ_U64(s->wait_edges, 1);
	CHECK_EQ_U64(s->unmatched_waits, 0);
	CHECK_EQ_U64(s->sync_edges, 1);
	CHECK_EQ_U64(s->ranges, 2);

	/* lanes sorted: GPU (0,1), (0,2), then host (100,1) */
	l = tsm_timeline_lanes(tl, &nl);
	CHECK_EQ_U64(nl, 3);
	CHECK(l[0].type == TSM_LANE_GPU && l[0].device == 0 && l[0].stream == 1);
	CHECK(l[1].type == TSM_LANE_GPU && l[1].stream == 2);
	CHECK(l[2].type == TSM_LANE_HOST && l[2].pid == 100 && l[2].tid == 1);
	CHECK_EQ_U64(l[0].count, 3);
	CHECK_EQ_U64(l[1].count, 3);
	CHECK_EQ_U64(l[2].count, 7);
	ops = tsm_timeline_ops(tl, &nops);
	CHECK_EQ_U64(ops[K1].start_ns, 100);
	CHECK(ops[REC].cls == TSM_OPC_SYNC && ops[REC].sub == TSM_SYNC_EVENT_RECORD);
	CHECK(ops[M].cls == TSM_OPC_COPY);
	CHECK(ops[K2].cls == TSM_OPC_COMM);
	CHECK(ops[K3].cls == TSM_OPC_COMPUTE);
	CHECK_EQ_U64(ops[K3].api, A5);
	CHECK_EQ_U64(tsm_timeline_lane_of(tl, A7), 2);
	CHECK_EQ_U64(tsm_timeline_lane_of(tl, K3), 1);

	/* device: busy [100,130] u [140,210] = 100 of span 110 */
	d = tsm_timeline_devices(tl, &n);
	CHECK_EQ_U64(n, 1);
	CHECK_EQ_U64(d->first_ns, 100);
	CHECK_EQ_U64(d->last_ns, 210);
	CHECK_EQ_U64(d->busy_ns, 100);
	CHECK_EQ_U64(d->class_ns[TSM_OPC_COMPUTE], 90);
	CHECK_EQ_U64(d->class_ns[TSM_OPC_COMM], 10);
	CHECK_EQ_U64(d->class_ns[TSM_OPC_COPY], 60);
	CHECK_EQ_U64(d->class_ns[TSM_OPC_SET], 0);
	CHECK_EQ_U64(d->compute_comm_ns, 10);
	CHECK_EQ_U64(d->compute_copy_ns, 50);
	CHECK_EQ_U64(d->comm_copy_ns, 0);
	CHECK_EQ_U64(d->max_concurrency, 2);
	CHECK_EQ_U64(d->concurrency_ns[0], 10);
	CHECK_EQ_U64(d->concurrency_ns[1], 40);
	CHECK_EQ_U64(d->concurrency_ns[2], 60);

	/* graph edges, all from records */
	CHECK(has_edge(tl, K1, A1, TSM_EDGE_LAUNCH));
	CHECK_EQ_U64(nedges(tl, K1), 1);
	CHECK(has_edge(tl, REC, K1, TSM_EDGE_STREAM));
	CHECK(has_edge(tl, REC, A3, TSM_EDGE_LAUNCH));
	CHECK(has_edge(tl, M, REC, TSM_EDGE_STREAM));
	CHECK(has_edge(tl, M, A6, TSM_EDGE_LAUNCH));
	CHECK(has_edge(tl, WAIT, K2, TSM_EDGE_STREAM));
	CHECK(has_edge(tl, WAIT, A4, TSM_EDGE_LAUNCH));
	CHECK(has_edge(tl, WAIT, REC, TSM_EDGE_EVENT));
	CHECK_EQ_U64(nedges(tl, WAIT), 3);
	CHECK(has_edge(tl, K3, WAIT, TSM_EDGE_STREAM));
	CHECK(has_edge(tl, A7, K3, TSM_EDGE_SYNC));
	CHECK(has_edge(tl, A7, A6, TSM_EDGE_THREAD));
	CHECK_EQ_U64(nedges(tl, A7), 2);
	CHECK_EQ_U64(nedges(tl, A1), 0);
	CHECK_RC(tsm_timeline_in_edges(tl, 13, NULL, 0, &n), TSM_INVAL);

	/* critical path: a1 -launch-> K1 -> REC -> (event) WAIT -> K3 -sync-> a7 */
	cp = tsm_timeline_critical_path(tl);
	CHECK(cp != NULL);
	if (cp) {
		CHECK_EQ_U64(cp->start_ns, 0);
		CHECK_EQ_U64(cp->end_ns, 260);
		CHECK_EQ_U64(cp->nsteps, 6);
		CHECK_EQ_U64(cp->class_ns[TSM_OPC_COMPUTE], 90);
		CHECK_EQ_U64(cp->edge_ns[TSM_EDGE_LAUNCH], 100);
		CHECK_EQ_U64(cp->edge_ns[TSM_EDGE_STREAM], 10);
		CHECK_EQ_U64(cp->edge_ns[TSM_EDGE_SYNC], 60);
		CHECK_EQ_U64(cp->api_ns, 0);
		if (cp->nsteps == 6) {
			CHECK(cp->steps[0].node == K1 && cp->steps[0].edge == TSM_EDGE_LAUNCH);
			CHECK(cp->steps[1].node == K1 && cp->steps[1].edge == 0);
			CHECK(cp->steps[2].node == REC && cp->steps[2].edge == 0);
			CHECK(cp->steps[3].node == K3 && cp->steps[3].edge == TSM_EDGE_STREAM);
			CHECK(cp->steps[4].node == K3 && cp->steps[4].edge == 0);
			CHECK(cp->steps[5].node == A7 && cp->steps[5].edge == TSM_EDGE_SYNC);
			for (size_t i = 1; i < cp->nsteps; i++)
				CHECK_EQ_U64(cp->steps[i].start_ns, cp->steps[i - 1].end_ns);
		}
		CHECK(tsm_timeline_critical_path(tl) == cp); /* cached */
	}

	/* stream states over the trace span 260 */
	CHECK_EQ_U64(l[0].state_ns[TSM_SS_RUNNING], 90);
	CHECK_EQ_U64(l[0].state_ns[TSM_SS_WAITING], 0);
	CHECK_EQ_U64(l[0].state_ns[TSM_SS_LAUNCHING], 120);
	CHECK_EQ_U64(l[0].state_ns[TSM_SS_SYNCING], 0);
	CHECK_EQ_U64(l[0].state_ns[TSM_SS_IDLE], 50);
	CHECK_EQ_U64(l[1].state_ns[TSM_SS_RUNNING], 70);
	CHECK_EQ_U64(l[1].state_ns[TSM_SS_WAITING], 10);
	CHECK_EQ_U64(l[1].state_ns[TSM_SS_LAUNCHING], 110);
	CHECK_EQ_U64(l[1].state_ns[TSM_SS_SYNCING], 0);
	CHECK_EQ_U64(l[1].state_ns[TSM_SS_IDLE], 70);
	CHECK_EQ_U64(l[0].busy_ns, 90);
	CHECK_EQ_U64(l[2].busy_ns, 10 + 10 + 5 + 5 + 10 + 4 + 216);

	/* utilisation bins of 10 ns over [100, 210) */
	CHECK_OK(tsm_timeline_busy_bins(tl, 0, 100, 210, 11, bins));
	{
		static const uint64_t want[11] = {10, 10, 10, 0, 10, 10, 10, 10, 10, 10, 10};

		for (int i = 0; i < 11; i++)
			CHECK_EQ_U64(bins[i], want[i]);
	}
	CHECK_RC(tsm_timeline_busy_bins(tl, 0, 5, 5, 1, bins), TSM_INVAL);
	CHECK_OK(tsm_timeline_busy_bins(tl, 9, 0, 100, 1, bins));
	CHECK_EQ_U64(bins[0], 0);

	/* ranges: step then nested fwd */
	{
		const tsm_tl_range *r = tsm_timeline_ranges(tl, &n);

		CHECK_EQ_U64(n, 2);
		CHECK(r[0].name == N_STEP && r[0].depth == 0 && r[0].parent == UINT32_MAX);
		CHECK(r[1].name == N_FWD && r[1].depth == 1 && r[1].parent == 0);
	}
	CHECK_RC(tsm_timeline_finish(tl), TSM_STATE);
	{
		tsm_event e = fx_api(N_LAUNCH, 9, 1, 2, 211);

		CHECK_RC(tsm_timeline_add(tl, &e), TSM_STATE);
	}
	tsm_timeline_destroy(tl);
}

/* Record on device 0, wait on device 1 (same process): an event edge across devices. A second
 * record of the same event issued after the wait must not be matched. */
static void test_cross_device(void)
{
	tsm_timeline *tl;
	tsm_event ev[8];
	const tsm_tl_device *d;
	size_t n;

	ev[0] = fx_gpu(TSM_EV_KERNEL, 0, 3, N_GEMM, 10, 0, 50);
	ev[1] = fx_gpu(TSM_EV_SYNC, 0, 3, 0, 11, 50, 50);
	ev[1].u.sync.sync_type = TSM_SYNC_EVENT_RECORD;
	ev[1].u.sync.event_id = 42;
	ev[2] = fx_gpu(TSM_EV_SYNC, 1, 5, 0, 12, 20, 50);
	ev[2].u.sync.sync_type = TSM_SYNC_STREAM_WAIT_EVENT;
	ev[2].u.sync.event_id = 42;
	ev[3] = fx_gpu(TSM_EV_KERNEL, 1, 5, N_GEMM, 13, 60, 80);
	ev[4] = fx_gpu(TSM_EV_SYNC, 0, 3, 0, 14, 90, 90);
	ev[4].u.sync.sync_type = TSM_SYNC_EVENT_RECORD;
	ev[4].u.sync.event_id = 42;
	CHECK_OK(tsm_timeline_create(fx_name, NULL, &tl));
	for (int i = 0; i < 5; i++)
		CHECK_OK(tsm_timeline_add(tl, &ev[i]));
	CHECK_OK(tsm_timeline_finish(tl));
	/* nodes: dev0/s3: K 0, REC 1, REC' 2; dev1/s5: WAIT 3, K 4 */
	CHECK(has_edge(tl, 3, 1, TSM_EDGE_EVENT));
	CHECK(!has_edge(tl, 3, 2, TSM_EDGE_EVENT));
	CHECK_EQ_U64(tsm_timeline_summary(tl)->wait_edges, 1);
	CHECK_EQ_U64(tsm_timeline_summary(tl)->unmatched_ops, 2); /* no API calls in this trace */
	d = tsm_timeline_devices(tl, &n);
	CHECK_EQ_U64(n, 2);
	CHECK_EQ_U64(d[0].busy_ns, 50);
	CHECK_EQ_U64(d[1].busy_ns, 20);
	{
		const tsm_critical_path *cp = tsm_timeline_critical_path(tl);

		/* ends at the last REC' (90, instant, gated by K at 50); K dev1 ends 80 */
		CHECK(cp != NULL);
		if (cp)
			CHECK_EQ_U64(cp->end_ns, 90);
	}
	tsm_timeline_destroy(tl);
}

static void test_empty_and_one(void)
{
	tsm_timeline *tl;
	tsm_event e;
	size_t n;

	CHECK_OK(tsm_timeline_create(NULL, NULL, &tl));
	CHECK_OK(tsm_timeline_finish(tl));
	CHECK_EQ_U64(tsm_timeline_summary(tl)->events, 0);
	tsm_timeline_lanes(tl, &n);
	CHECK_EQ_U64(n, 0);
	tsm_timeline_devices(tl, &n);
	CHECK_EQ_U64(n, 0);
	CHECK(tsm_timeline_critical_path(tl) == NULL);
	tsm_timeline_destroy(tl);

	CHECK_OK(tsm_timeline_create(NULL, NULL, &tl));
	e = fx_gpu(TSM_EV_KERNEL, 2, 7, 1, 0, 1000, 1500);
	CHECK_OK(tsm_timeline_add(tl, &e));
	CHECK_OK(tsm_timeline_finish(tl));
	{
		const tsm_tl_device *d = tsm_timeline_devices(tl, &n);
		const tsm_tl_lane *l = tsm_timeline_lanes(tl, &n);
		const tsm_critical_path *cp = tsm_timeline_critical_path(tl);

		CHECK_EQ_U64(n, 1);
		CHECK_EQ_U64(d->device, 2);
		CHECK_EQ_U64(d->busy_ns, 500);
		CHECK_EQ_U64(d->max_concurrency, 1);
		CHECK_EQ_U64(d->concurrency_ns[1], 500);
		CHECK_EQ_U64(l->state_ns[TSM_SS_RUNNING], 500);
		CHECK_EQ_U64(l->state_ns[TSM_SS_IDLE], 0);
		CHECK(cp && cp->nsteps == 1 && cp->class_ns[TSM_OPC_COMPUTE] == 500);
	}
	tsm_timeline_destroy(tl);

	/* bad input */
	CHECK_OK(tsm_timeline_create(NULL, NULL, &tl));
	e = fx_gpu(TSM_EV_KERNEL, 0, 1, 1, 0, 10, 5);
	CHECK_RC(tsm_timeline_add(tl, &e), TSM_INVAL);
	tsm_timeline_destroy(tl);
	tsm_timeline_destroy(NULL);
}

/* Many overlapping sorted runs (as SBT blocks give them): lanes come out sorted. */
static void test_sorting(void)
{
	tsm_timeline *tl;
	const tsm_tl_op *ops;
	size_t n;
	uint64_t busy = 0;

	CHECK_OK(tsm_timeline_create(NULL, NULL, &tl));
	for (int run = 0; run < 50; run++)
		for (int i = 0; i < 100; i++) {
			uint64_t s = (uint64_t)(i * 50 + run) * 10;
			tsm_event e = fx_gpu(TSM_EV_KERNEL, 0, 1, 1, 0, s, s + 5);

			CHECK_OK(tsm_timeline_add(tl, &e));
			busy += 5;
		}
	CHECK_OK(tsm_timeline_finish(tl));
	ops = tsm_timeline_ops(tl, &n);
	CHECK_EQ_U64(n, 5000);
	for (size_t i = 1; i < n; i++)
		if (ops[i].start_ns < ops[i - 1].start_ns) {
			CHECK(!"lane not sorted");
			break;
		}
	CHECK_EQ_U64(tsm_timeline_devices(tl, &n)->busy_ns, busy);
	tsm_timeline_destroy(tl);
}

int main(void)
{
	test_fixture();
	test_cross_device();
	test_empty_and_one();
	test_sorting();
	return check_done("test-timeline");
}
