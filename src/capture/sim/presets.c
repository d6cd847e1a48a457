/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Simulation presets. Each one is a workload shape an AI-framework engineer
 * meets every day; docs/design/sim.md describes what each models. The first
 * entry is the default. Natural lengths are kept small (tens of thousands
 * of events) so that `tracesmith record --simulate` is instant; --events
 * stretches any preset to any length.
 */
#include "sim-internal.h"

static const sim_preset presets[] = {
    {
	.name = "train",
	.summary = "DDP training of a GPT-2-small-like model on 2 GPUs: forward, backward "
		   "overlapped with NCCL all-reduce, AdamW, loss.item() sync",
	.cmdline = "python3 train.py --model gpt2 --batch-size 8 --seq-len 1024 "
		   "--precision bf16-mixed --ddp --compile=False",
	.model = SIM_MODEL_GPT,
	.seed = 0x7e57c0de,
	.devices = 2,
	.host_threads = 2,
	.iterations = 10,
	.layers = 12,
	.tp = 1,
	.bucket_layers = 2,
	.gemm_scale_pct = 100,
	.hidden = 768,
	.batch_bytes = 131072,
    },
    {
	.name = "infer",
	.summary = "LLM serving on 1 GPU: torch.compile'd prefill (Triton kernels via "
		   "cuLaunchKernel) then launch-bound decode steps replayed as CUDA graphs",
	.cmdline = "python3 serve.py --model llama-7b --max-batch-size 16 --cuda-graphs "
		   "--compile",
	.model = SIM_MODEL_DECODE,
	.seed = 0x1afe7e,
	.devices = 1,
	.host_threads = 1,
	.iterations = 48,
	.layers = 32,
	.tp = 1,
	.gemm_scale_pct = 100,
	.hidden = 4096,
	.batch_bytes = 128,
    },
    {
	.name = "multigpu",
	.summary = "8 GPUs, tensor parallel 4 x data parallel 2: TP all-reduces on the "
		   "critical path, peer-to-peer activation copies, DP gradient all-reduce",
	.cmdline = "torchrun --nproc-per-node 8 train_tp.py --model gpt-1.3b --tp 4 --dp 2 "
		   "--batch-size 4 --seq-len 2048",
	.model = SIM_MODEL_GPT,
	.seed = 0x8a5c0de,
	.devices = 8,
	.host_threads = 2,
	.iterations = 4,
	.layers = 8,
	.tp = 4,
	.bucket_layers = 2,
	.gemm_scale_pct = 160,
	.hidden = 2048,
	.batch_bytes = 65536,
	.p2p = 1,
    },
    {
	.name = "tiny",
	.summary = "one short training step of a 3-layer MLP on 1 GPU, about 100 events "
		   "(demos, golden files)",
	.cmdline = "python3 tiny.py --steps 1",
	.model = SIM_MODEL_MLP,
	.seed = 0x71e1,
	.devices = 1,
	.host_threads = 1,
	.iterations = 1,
	.layers = 3,
	.tp = 1,
	.gemm_scale_pct = 100,
	.hidden = 1024,
	.batch_bytes = 65536,
    },
};

static const char *const preset_names[] = {"train", "infer", "multigpu", "tiny", NULL};

_Static_assert(TSM__ARRAY_SIZE(preset_names) == TSM__ARRAY_SIZE(presets) + 1,
	       "one name per preset");

const char *const *tsm_sim_preset_names(void)
{
	return preset_names;
}

const sim_preset *tsm__sim_preset_find(const char *name)
{
	if (!name || !*name)
		return &presets[0];
	for (size_t i = 0; i < TSM__ARRAY_SIZE(presets); i++)
		if (!strcmp(presets[i].name, name))
			return &presets[i];
	return NULL;
}

const char *tsm_sim_preset_summary(const char *preset)
{
	const sim_preset *p = preset ? tsm__sim_preset_find(preset) : NULL;

	return p ? p->summary : NULL;
}
