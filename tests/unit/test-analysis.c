/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Analysis of the hand-built trace of tl-fixture.h: kernel / copy / API
 * statistics, launch latency percentiles, idle gaps and their causes,
 * NVTX range and ProfilerStep breakdowns (nested), critical path shares,
 * and the three report formats. Expected values are derived by hand:
 *   kernels: gemm K1 30 + K3 60 (p50 30, p95 60, share 0.9), nccl K2 10;
 *   latency: K1 100, K2 100, K3 110, M 110 -> p50 100, p95 110, mean 105;
 *   gaps: stream 1 [130,150] launch (M's call started at 40),
 *         stream 2 [120,140] stream (a wait record ends at 130);
 *   step [0,45] holds the calls a1..a6: K1, K2, K3, M; fwd [5,32]: K2, K3.
 */
#include <stdlib.h>

#include "check.h"
#include "tl-fixture.h"

static char *report(tsm_analysis *a, unsigned format, unsigned sections)
{
	tsm_report_opts o = {format, sections, 1, 0};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	CHECK_OK(tsm_analysis_write(a, f, &o, fx_name, NULL));
	fclose(f);
	return buf;
}

int main(void)
{
	tsm_timeline *tl = NULL;
	tsm_analysis *a = NULL;
	tsm_analysis_opts o = {0, 0, 1};
	char *s;

	CHECK_OK(fx_build(&tl));
	if (!tl)
		return check_done("test-analysis");
	CHECK_OK(tsm_analysis_create(tl, &o, &a));
	if (!a) {
		tsm_timeline_destroy(tl);
		return check_done("test-analysis");
	}
	/* kernels */
	CHECK_EQ_U64(a->nkernels, 2);
	CHECK_EQ_U64(a->kernel_ns, 100);
	CHECK_EQ_U64(a->kernel_count, 3);
	CHECK_EQ_U64(a->kernels[0].name, N_GEMM);
	CHECK_EQ_U64(a->kernels[0].count, 2);
	CHECK_EQ_U64(a->kernels[0].total_ns, 90);
	CHECK_EQ_U64(a->kernels[0].min_ns, 30);
	CHECK_EQ_U64(a->kernels[0].max_ns, 60);
	CHECK_EQ_U64(a->kernels[0].p50_ns, 30);
	CHECK_EQ_U64(a->kernels[0].p95_ns, 60);
	CHECK(a->kernels[0].mean_ns == 45.0);
	CHECK(a->kernels[0].share > 0.8999 && a->kernels[0].share < 0.9001);
	CHECK_EQ_U64(a->kernels[1].name, N_NCCL);
	CHECK_EQ_U64(a->kernels[1].cls, TSM_OPC_COMM);
	CHECK_EQ_U64(a->short_count, 3); /* all below the 10 us default */
	/* copies */
	CHECK_EQ_U64(a->ncopies, 1);
	CHECK_EQ_U64(a->copies[0].copy_kind, TSM_COPY_H2D);
	CHECK_EQ_U64(a->copies[0].bytes, 1000);
	CHECK_EQ_U64(a->copies[0].total_ns, 60);
	CHECK(a->copies[0].gbps > 16.66 && a->copies[0].gbps < 16.67);
	/* API calls: the sync call (216 ns) first, launches 3 x 10 */
	CHECK_EQ_U64(a->apis[0].name, N_SYNC);
	CHECK_EQ_U64(a->apis[0].total_ns, 216);
	CHECK_EQ_U64(a->apis[1].name, N_LAUNCH);
	CHECK_EQ_U64(a->apis[1].count, 3);
	CHECK_EQ_U64(a->apis[1].total_ns, 30);
	/* launch latency */
	CHECK_EQ_U64(a->launch_latency.count, 4);
	CHECK_EQ_U64(a->launch_latency.min_ns, 100);
	CHECK_EQ_U64(a->launch_latency.max_ns, 110);
	CHECK_EQ_U64(a->launch_latency.p50_ns, 100);
	CHECK_EQ_U64(a->launch_latency.p95_ns, 110);
	CHECK(a->launch_latency.mean_ns == 105.0);
	CHECK_EQ_U64(a->launch_latency.log2_hist[6], 4); /* 64 <= x < 128 */
	/* gaps */
	CHECK_EQ_U64(a->ngaps, 2);
	CHECK_EQ_U64(a->gaps[0].count, 1);
	CHECK_EQ_U64(a->gaps[0].cause_ns[TSM_GAP_LAUNCH], 20);
	CHECK_EQ_U64(a->gaps[1].count, 1);
	CHECK_EQ_U64(a->gaps[1].cause_ns[TSM_GAP_STREAM], 20);
	CHECK_EQ_U64(a->ntop_gaps, 2);
	/* top ops: M 60 and K3 60 tie, then K1 30 */
	CHECK_EQ_U64(a->ntop_ops, 4);
	/* ranges */
	CHECK_EQ_U64(a->nranges, 2);
	CHECK_EQ_U64(a->nsteps, 1);
	CHECK_EQ_U64(a->ranges[0].step, 0);
	CHECK_EQ_U64(a->ranges[0].ops, 4);
	CHECK_EQ_U64(a->ranges[0].kernel_ns, 90);
	CHECK_EQ_U64(a->ranges[0].comm_ns, 10);
	CHECK_EQ_U64(a->ranges[0].copy_ns, 60);
	CHECK(a->ranges[1].step == -1);
	CHECK_EQ_U64(a->ranges[1].ops, 2);
	CHECK_EQ_U64(a->ranges[1].kernel_ns, 60);
	CHECK_EQ_U64(a->ranges[1].comm_ns, 10);
	CHECK_EQ_U64(a->ranges[1].copy_ns, 0);
	CHECK_EQ_U64(a->nrange_names, 2);
	/* critical path shares: K1 30 on lane 0, K3 60 on lane 1 */
	CHECK(a->have_cp);
	CHECK_EQ_U64(a->ncp_lanes, 2);
	CHECK_EQ_U64(a->cp_lanes[0].key, 1);
	CHECK_EQ_U64(a->cp_lanes[0].ns, 60);
	CHECK_EQ_U64(a->cp_lanes[1].ns, 30);
	CHECK_EQ_U64(a->cp_names[0].key, N_GEMM);
	CHECK_EQ_U64(a->cp_names[0].ns, 90);

	/* reports */
	s = report(a, TSM_REPORT_JSON, 0);
	CHECK(s && s[0] == '{');
	CHECK(s && strstr(s, "\"kernels\": [") && strstr(s, "\"p95_ns\": 60"));
	CHECK(s && strstr(s, "\"critical\": ["));
	CHECK(s && strstr(s, "\"steps\": ["));
	free(s);
	s = report(a, TSM_REPORT_CSV, TSM_REP_KERNELS | TSM_REP_COPIES);
	CHECK(s && !strncmp(s, "# kernels\ncount,total_ns,share,mean_ns,", 38));
	CHECK(s && strstr(s, "\n2,90,0.9,45,30,60,30,60,2,compute,gemm\n"));
	CHECK(s && strstr(s, "\n\n# copies\n"));
	CHECK(s && !strstr(s, "# apis"));
	free(s);
	s = report(a, TSM_REPORT_TEXT, TSM_REP_SUMMARY);
	CHECK(s && strstr(s, "kernel time            100 ns"));
	free(s);
	CHECK(tsm_report_section("gaps") == TSM_REP_GAPS);
	CHECK(tsm_report_section("nope") == 0);
	CHECK(!strcmp(tsm_report_section_name(TSM_REP_STEPS), "steps"));

	tsm_analysis_destroy(a);
	tsm_analysis_destroy(NULL);
	/* an empty timeline analyses to empty tables */
	{
		tsm_timeline *e;

		CHECK_OK(tsm_timeline_create(NULL, NULL, &e));
		CHECK_OK(tsm_timeline_finish(e));
		CHECK_OK(tsm_analysis_create(e, &o, &a));
		if (a) {
			CHECK_EQ_U64(a->nkernels, 0);
			CHECK_EQ_U64(a->launch_latency.count, 0);
			CHECK(!a->have_cp);
			s = report(a, TSM_REPORT_JSON, 0);
			CHECK(s && strstr(s, "\"kernels\": []"));
			free(s);
		}
		tsm_analysis_destroy(a);
		tsm_timeline_destroy(e);
	}
	tsm_timeline_destroy(tl);
	return check_done("test-analysis");
}
