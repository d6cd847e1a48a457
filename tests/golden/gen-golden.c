/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gen-golden: writes tests/golden/all-kinds.sbt deterministically: every
 * event kind, every definition chunk, two blocks (one written unsorted),
 * GPU times on the 32 ns grid, ids exercising every correlation/external
 * mode. The golden test regenerates it and compares bytes with the
 * committed file: any change to the encoder shows up as a diff, and must
 * come with a format version bump or a spec-preserving explanation.
 *
 *   gen-golden OUT.sbt [--zstd]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tracesmith/tracesmith.h"

static tsm_writer *w;

static uint32_t S(const char *s)
{
	uint32_t id;

	if (tsm_intern_str(tsm_writer_strings(w), s, &id) < 0)
		exit(1);
	return id;
}

static void put(tsm_event *e)
{
	int rc = tsm_writer_write(w, e);

	if (rc < 0) {
		fprintf(stderr, "gen-golden: %s: %s\n", tsm_strerror(rc), tsm_last_error());
		exit(1);
	}
}

int main(int argc, char **argv)
{
	tsm_writer_opts o = {.block_events = 24,
			     .clock = TSM_CLOCK_SIMULATED,
			     .realtime_offset_ns = 1763769600000000000LL - 1000000000000LL,
			     .producer = "tracesmith golden",
			     .created_realtime_ns = 1763769600000000000ULL};
	uint64_t t = 1000000000000ULL; /* 1000 s on the simulated clock */
	tsm_device_info dev = {.id = 0,
			       .cc_major = 9,
			       .cc_minor = 0,
			       .sm_count = 132,
			       .core_clock_khz = 1980000,
			       .mem_clock_khz = 2619000,
			       .mem_bus_width_bits = 5120,
			       .l2_bytes = 52428800,
			       .max_threads_per_block = 1024,
			       .max_threads_per_sm = 2048,
			       .regs_per_block = 65536,
			       .regs_per_sm = 65536,
			       .smem_per_block_bytes = 49152,
			       .smem_per_block_optin_bytes = 232448,
			       .smem_per_sm_bytes = 233472,
			       .warp_size = 32,
			       .max_blocks_per_sm = 32,
			       .global_mem_bytes = 85520809984ULL};
	tsm_process_info proc = {.pid = 4242, .rank = 0};
	tsm_frame frames[3];
	tsm_kv kv[2];
	uint32_t stack, meta, launch, gemm, relu, step, dom;
	tsm_event e;
	int rc;

	if (argc < 2) {
		fprintf(stderr, "usage: gen-golden OUT.sbt [--zstd]\n");
		return 2;
	}
	if (argc > 2 && !strcmp(argv[2], "--zstd"))
		o.zstd_level = 3;
	rc = tsm_writer_open(argv[1], &o, &w);
	if (rc < 0) {
		fprintf(stderr, "gen-golden: %s: %s\n", tsm_strerror(rc), tsm_last_error());
		return 1;
	}
	dev.name = S("NVIDIA H100 80GB HBM3");
	dev.uuid = S("GPU-00000000-1111-2222-3333-444444444444");
	proc.name = S("python3");
	proc.cmdline = S("python3 train.py --steps 1");
	proc.host = S("golden-host");
	tsm_writer_add_device(w, &dev);
	tsm_writer_add_process(w, &proc);
	tsm_writer_add_meta_str(w, "backend", "golden");
	tsm_writer_add_meta_int(w, "seed", 7);

	launch = S("cudaLaunchKernel");
	gemm = S("sm90_xmma_gemm_f16f16_f16f32_f32_tn_n_tilesize128x256x64_warpgroupsize2x1x1_"
		 "execute_segment_k_off_kernel__5x_cublas");
	relu = S("_ZN2at6native29vectorized_elementwise_kernelILi4ENS0_13BinaryFunctorIfffNS0_"
		 "15binary_internal10MulFunctorIfEEEESt5arrayIPcLm3EEEEviT0_T1_");
	step = S("ProfilerStep#0");
	dom = S("torch \"nvtx\" \\ domain");
	memset(frames, 0, sizeof(frames));
	frames[0] = (tsm_frame){0x7f1200001000ULL, launch, S("libcudart.so.13"), 0, 0};
	frames[1] = (tsm_frame){0x7f1200ab0040ULL, S("at::native::gemm"), S("libtorch_cuda.so"),
				S("Blas.cpp"), 311};
	frames[2] = (tsm_frame){0x555500001234ULL, S("train.py:forward"), 0, S("train.py"), 12};
	tsm_intern_add(tsm_writer_stacks(w), frames, sizeof(frames), &stack);
	memset(kv, 0, sizeof(kv));
	kv[0].key = S("Sequence number");
	kv[0].type = TSM_KV_INT;
	kv[0].v.i = 17;
	kv[1].key = S("Input type");
	kv[1].type = TSM_KV_STR;
	kv[1].v.str = S("float");
	tsm_intern_add(tsm_writer_kvlists(w), kv, sizeof(kv), &meta);

	/* One training step: range, op, launches with their kernels, copies, sync, memory. */
	memset(&e, 0, sizeof(e));
	e = (tsm_event){.kind = TSM_EV_NVTX_RANGE,
			.device = TSM_DEVICE_NONE,
			.pid = 4242,
			.tid = 4242,
			.name = step,
			.start_ns = t,
			.end_ns = t + 900000};
	e.u.nvtx.domain = dom;
	e.u.nvtx.color = 0xff76b900u;
	put(&e);
	e = (tsm_event){.kind = TSM_EV_CPU_OP,
			.device = TSM_DEVICE_NONE,
			.pid = 4242,
			.tid = 4242,
			.name = S("aten::mm"),
			.start_ns = t + 1000,
			.end_ns = t + 40000,
			.external = 1,
			.meta = meta};
	put(&e);
	for (int i = 0; i < 6; i++) {
		uint64_t a = t + 2000 + (uint64_t)i * 6000;
		uint64_t g = (t + 20000 + (uint64_t)i * 40000) & ~31ULL;

		e = (tsm_event){.kind = TSM_EV_RUNTIME,
				.device = TSM_DEVICE_NONE,
				.pid = 4242,
				.tid = 4242,
				.name = launch,
				.start_ns = a,
				.end_ns = a + 3100 + i,
				.correlation = 10 + (uint64_t)i,
				.external = i < 3 ? 1 : 2,
				.stack = stack};
		e.u.api.cbid = 211;
		put(&e);
		e = (tsm_event){.kind = TSM_EV_KERNEL,
				.device = 0,
				.context = 1,
				.stream = 7,
				.pid = 4242,
				.name = i % 2 ? relu : gemm,
				.start_ns = g,
				.end_ns = g + (i % 2 ? 4096 : 32768 + 32 * (uint64_t)i),
				.correlation = 10 + (uint64_t)i,
				.external = i < 3 ? 1 : 2};
		e.u.kernel.grid[0] = i % 2 ? 1024 : 132;
		e.u.kernel.grid[1] = e.u.kernel.grid[2] = 1;
		e.u.kernel.block[0] = i % 2 ? 128 : 384;
		e.u.kernel.block[1] = e.u.kernel.block[2] = 1;
		e.u.kernel.cluster[0] = i % 2 ? 0 : 2;
		e.u.kernel.regs_per_thread = i % 2 ? 16 : 168;
		e.u.kernel.dynamic_smem_bytes = i % 2 ? 0 : 213248;
		put(&e);
	}
	t += 300000;
	/* The second block is written newest-first: the writer sorts it. */
	for (int i = 5; i >= 0; i--) {
		uint64_t g = (t + (uint64_t)i * 20000) & ~31ULL;

		switch (i) {
		case 0:
			e = (tsm_event){.kind = TSM_EV_MEMCPY,
					.device = 0,
					.context = 1,
					.stream = 13,
					.pid = 4242,
					.start_ns = g,
					.end_ns = g + 12800,
					.correlation = 100,
					.flags = TSM_EVF_ASYNC};
			e.u.memcpy.bytes = 67108864;
			e.u.memcpy.copy_kind = TSM_COPY_H2D;
			e.u.memcpy.src_kind = TSM_MEM_PINNED;
			e.u.memcpy.dst_kind = TSM_MEM_DEVICE;
			break;
		case 1:
			e = (tsm_event){.kind = TSM_EV_MEMSET,
					.device = 0,
					.context = 1,
					.stream = 7,
					.pid = 4242,
					.start_ns = g,
					.end_ns = g + 1024,
					.correlation = 101};
			e.u.memset.bytes = 4096;
			e.u.memset.mem_kind = TSM_MEM_DEVICE;
			break;
		case 2:
			e = (tsm_event){.kind = TSM_EV_SYNC,
					.device = 0,
					.context = 1,
					.stream = 7,
					.pid = 4242,
					.start_ns = g,
					.end_ns = g,
					.correlation = 102,
					.flow_type = TSM_FLOW_START,
					.flow_id = 5};
			e.u.sync.sync_type = TSM_SYNC_EVENT_RECORD;
			e.u.sync.event_id = 3;
			break;
		case 3:
			e = (tsm_event){.kind = TSM_EV_SYNC,
					.device = 0,
					.context = 1,
					.stream = 21,
					.pid = 4242,
					.start_ns = g,
					.end_ns = g + 64,
					.correlation = 103,
					.flow_type = TSM_FLOW_END,
					.flow_id = 5};
			e.u.sync.sync_type = TSM_SYNC_STREAM_WAIT_EVENT;
			e.u.sync.event_id = 3;
			break;
		case 4:
			e = (tsm_event){.kind = TSM_EV_ALLOC,
					.device = 0,
					.pid = 4242,
					.tid = 4242,
					.start_ns = g + 7,
					.end_ns = g + 2007,
					.correlation = 104};
			e.u.memory.address = 0x7f3a40000000ULL;
			e.u.memory.bytes = 2097152;
			e.u.memory.mem_kind = TSM_MEM_DEVICE;
			break;
		default:
			e = (tsm_event){.kind = TSM_EV_FREE,
					.device = 0,
					.pid = 4242,
					.tid = 4242,
					.start_ns = g + 9,
					.end_ns = g + 1509,
					.correlation = 105};
			e.u.memory.address = 0x7f3a40000000ULL;
			e.u.memory.bytes = 2097152;
			e.u.memory.mem_kind = TSM_MEM_DEVICE;
			break;
		}
		put(&e);
	}
	e = (tsm_event){.kind = TSM_EV_DRIVER,
			.device = TSM_DEVICE_NONE,
			.pid = 4242,
			.tid = 4243,
			.name = S("cuLaunchKernel"),
			.start_ns = t + 3,
			.end_ns = t + 2900,
			.correlation = 106};
	e.u.api.cbid = 307;
	e.u.api.status = 0;
	put(&e);
	e = (tsm_event){.kind = TSM_EV_NVTX_MARK,
			.device = TSM_DEVICE_NONE,
			.pid = 4242,
			.tid = 4242,
			.name = S("checkpoint saved"),
			.start_ns = t + 5,
			.end_ns = t + 5};
	put(&e);
	e = (tsm_event){.kind = TSM_EV_COUNTER,
			.device = 0,
			.pid = 4242,
			.name = S("gpu_memory_allocated_bytes"),
			.start_ns = t + 4000,
			.end_ns = t + 4000};
	e.u.counter.value = 2097152.5;
	put(&e);
	e = (tsm_event){.kind = TSM_EV_OVERHEAD,
			.device = TSM_DEVICE_NONE,
			.pid = 4242,
			.tid = 4242,
			.name = S("CUPTI buffer flush"),
			.start_ns = t + 6000,
			.end_ns = t + 8000};
	e.u.overhead.overhead_kind = TSM_OVERHEAD_BUFFER_FLUSH;
	put(&e);
	e = (tsm_event){.kind = TSM_EV_DROPPED,
			.device = TSM_DEVICE_NONE,
			.pid = 4242,
			.tid = 4243,
			.start_ns = t + 9000,
			.end_ns = t + 9000};
	e.u.dropped.count = 12;
	e.u.dropped.source = TSM_DROP_RING;
	put(&e);
	rc = tsm_writer_close(w);
	if (rc < 0) {
		fprintf(stderr, "gen-golden: %s: %s\n", tsm_strerror(rc), tsm_last_error());
		return 1;
	}
	return 0;
}
