/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the simulation backend, shared by its four files:
 *   vocab.c     names, kernel launch templates, call stacks, metadata lists
 *   presets.c   the preset table and its public lookup functions
 *   workload.c  the per-process workload model (the event generator)
 *   sim.c       tsm_sim_generate / tsm_sim_run: shares, threads, rings
 *
 * Determinism: a "world" (sim_world) is built once per run, single-threaded,
 * and interns every name, stack and metadata list in a fixed order, so ids
 * depend only on the options. The only strings interned later are the
 * per-iteration range names ("ProfilerStep#N"), which are interned in
 * chunks of consecutive N under a mutex (sim_step_name), so their ids do
 * not depend on which thread asks first either.
 */
#ifndef TSM_SIM_INTERNAL_H
#define TSM_SIM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "common/internal.h"
#include "tracesmith/capture.h"

#define SIM_MAX_THREADS 4  /* simulated host threads per process */
#define SIM_MAX_DEVICES 64 /* processes (one per GPU) */
#define SIM_BASE_NS                                                                  \
	1000000000000000ull /* first timestamp: ~11.6 days of uptime, multiple of 32 \
			     */
#define SIM_GPU_TICK 32u    /* H100/H200 CUPTI GPU timestamps are multiples of 32 ns */

/* ---- PRNG: xoshiro256** seeded through splitmix64 ------------------- */

typedef struct sim_rng {
	uint64_t s[4];
} sim_rng;

static inline uint64_t sim_splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline void sim_rng_seed(sim_rng *r, uint64_t seed)
{
	uint64_t x = seed;

	for (int i = 0; i < 4; i++)
		r->s[i] = sim_splitmix64(&x);
}

static inline uint64_t sim_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t sim_rng_next(sim_rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = sim_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = sim_rotl(s[3], 45);
	return out;
}

/* Uniform in [0, n) (n > 0), Lemire's multiply-shift; the tiny bias is irrelevant here. */
static inline uint64_t sim_rng_below(sim_rng *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)sim_rng_next(r) * n) >> 64);
}

/* ---- runtime / driver API calls ------------------------------------- */

/* Callback ids from CUDA 13 cupti_runtime_cbid.h / cupti_driver_cbid.h. */
#define SIM_API_LIST(X)                                            \
	X(LAUNCH, "cudaLaunchKernel", 211, 4600)                   \
	X(LAUNCH_EXC, "cudaLaunchKernelExC", 430, 5200)            \
	X(FUNC_ATTR, "cudaFuncGetAttributes", 15, 2400)            \
	X(MEMCPY, "cudaMemcpy", 31, 9000)                          \
	X(MEMCPY_ASYNC, "cudaMemcpyAsync", 41, 5600)               \
	X(MEMCPY_PEER_ASYNC, "cudaMemcpyPeerAsync", 161, 6800)     \
	X(MEMSET_ASYNC, "cudaMemsetAsync", 51, 3900)               \
	X(EVENT_RECORD, "cudaEventRecord", 135, 2100)              \
	X(STREAM_WAIT, "cudaStreamWaitEvent", 147, 1900)           \
	X(STREAM_SYNC, "cudaStreamSynchronize", 131, 3000)         \
	X(DEVICE_SYNC, "cudaDeviceSynchronize", 165, 8000)         \
	X(MALLOC, "cudaMalloc", 20, 180000)                        \
	X(FREE, "cudaFree", 22, 95000)                             \
	X(HOST_ALLOC, "cudaHostAlloc", 27, 420000)                 \
	X(GRAPH_LAUNCH, "cudaGraphLaunch", 311, 9500)              \
	X(BEGIN_CAPTURE, "cudaStreamBeginCapture", 315, 6000)      \
	X(END_CAPTURE, "cudaStreamEndCapture", 319, 45000)         \
	X(GRAPH_INSTANTIATE, "cudaGraphInstantiate", 443, 2400000) \
	X(CU_LAUNCH, "cuLaunchKernel", 307, 3900)

enum sim_api {
#define SIM__API_ENUM(id, name, cbid, mean_ns) A_##id,
	SIM_API_LIST(SIM__API_ENUM)
#undef SIM__API_ENUM
	    A__COUNT
};

typedef struct sim_api_def {
	const char *name;
	uint32_t cbid;
	uint32_t mean_ns; /* median duration of the call on an idle host */
} sim_api_def;

extern const sim_api_def tsm__sim_apis[A__COUNT];

/* ---- kernels --------------------------------------------------------- */

typedef struct sim_kdef {
	const char *name; /* as CUPTI reports it: mangled for C++ kernels */
	uint32_t grid[3];
	uint16_t block[3];
	uint8_t cluster[3];
	uint16_t regs;
	uint32_t static_smem;
	uint32_t dynamic_smem;
	uint32_t mean_ns;   /* mean duration at the preset's reference shape */
	uint16_t jitter_pm; /* relative spread (standard deviation), in 1/1024 units */
	uint8_t api;	    /* enum sim_api used to launch it */
	uint8_t gemm;	    /* cuBLAS: preceded by cudaFuncGetAttributes, scaled by the preset */
} sim_kdef;

#define SIM_KERNEL_LIST(X)   \
	X(EMBED_FWD)         \
	X(LN_FWD)            \
	X(GEMM_QKV)          \
	X(FLASH_FWD)         \
	X(GEMM_PROJ)         \
	X(ADD_BF16)          \
	X(GEMM_FC1)          \
	X(GELU_FWD)          \
	X(GEMM_FC2)          \
	X(GEMM_LMHEAD)       \
	X(LOGSOFTMAX_FWD)    \
	X(NLL_FWD)           \
	X(FILL_F32)          \
	X(NLL_BWD)           \
	X(LOGSOFTMAX_BWD)    \
	X(GEMM_DGRAD)        \
	X(GEMM_WGRAD)        \
	X(GEMM_DGRAD_BIG)    \
	X(GEMM_WGRAD_BIG)    \
	X(LN_BWD_INPUT)      \
	X(LN_BWD_GAMMA)      \
	X(GELU_BWD)          \
	X(FLASH_BWD_DOT)     \
	X(FLASH_BWD)         \
	X(FLASH_BWD_CONVERT) \
	X(EMBED_BWD)         \
	X(ADD_GRAD_F32)      \
	X(MUL_BF16)          \
	X(FOREACH_MUL)       \
	X(FOREACH_ADD)       \
	X(FOREACH_ADDCMUL)   \
	X(FUSED_ADAMW)       \
	X(NCCL_AR_F32)       \
	X(NCCL_AR_BF16)      \
	X(MLP_GEMM)          \
	X(RELU)              \
	X(MEAN_REDUCE)       \
	X(INF_RMSNORM)       \
	X(INF_GEMM_QKV)      \
	X(INF_ROTARY)        \
	X(INF_FLASH_DECODE)  \
	X(INF_FLASH_COMBINE) \
	X(INF_GEMM_O)        \
	X(INF_ADD_RMSNORM)   \
	X(INF_GEMM_GATEUP)   \
	X(INF_SILU_MUL)      \
	X(INF_GEMM_DOWN)     \
	X(INF_GEMM_LMHEAD)   \
	X(INF_ARGMAX)        \
	X(INF_FLASH_PREFILL)

enum sim_kernel {
#define SIM__K_ENUM(id) K_##id,
	SIM_KERNEL_LIST(SIM__K_ENUM)
#undef SIM__K_ENUM
	    K__COUNT
};

extern const sim_kdef tsm__sim_kernels[K__COUNT];

/* ---- CPU ops, other names, stacks, metadata ------------------------- */

enum sim_name {
	N_PROFILER_STEP_PREFIX, /* not interned: see sim_step_name */
	N_DATALOADER,
	N_ATEN_TO,
	N_ATEN_TO_COPY,
	N_ATEN_COPY,
	N_ATEN_EMPTY,
	N_ATEN_EMBEDDING,
	N_ATEN_INDEX_SELECT,
	N_ATEN_LAYER_NORM,
	N_ATEN_NATIVE_LAYER_NORM,
	N_ATEN_LINEAR,
	N_ATEN_ADDMM,
	N_ATEN_MM,
	N_ATEN_SDPA,
	N_ATEN_SDPA_FLASH,
	N_ATEN_FLASH_FWD,
	N_ATEN_ADD,
	N_ATEN_ADD_,
	N_ATEN_GELU,
	N_ATEN_RELU,
	N_ATEN_MUL,
	N_ATEN_CROSS_ENTROPY,
	N_ATEN_LOG_SOFTMAX,
	N_ATEN_NLL_LOSS,
	N_ATEN_MSE_LOSS,
	N_ATEN_MEAN,
	N_ATEN_ZERO_,
	N_ATEN_FILL_,
	N_ATEN_ITEM,
	N_ATEN_LOCAL_SCALAR_DENSE,
	N_ATEN_PIN_MEMORY,
	N_ATEN__PIN_MEMORY,
	N_ATEN_ARGMAX,
	N_BWD_NLL,
	N_BWD_LOG_SOFTMAX,
	N_BWD_MM,
	N_BWD_ADDMM,
	N_BWD_LAYER_NORM,
	N_BWD_GELU,
	N_BWD_RELU,
	N_BWD_ADD,
	N_BWD_FLASH,
	N_BWD_EMBEDDING,
	N_BWD_MSE,
	N_BWD_ACCUMULATE,
	N_ATEN_MM_BWD_DGRAD,
	N_ATEN_EMBED_DENSE_BWD,
	N_ATEN_FLASH_BWD,
	N_ATEN_GELU_BWD,
	N_ATEN_LN_BWD,
	N_NCCL_ALLREDUCE,
	N_RECORD_PARAM_COMMS,
	N_DDP_FORWARD,
	N_DDP_FINALIZE,
	N_OPT_ZERO_GRAD,
	N_OPT_STEP,
	N_FOREACH_MUL_,
	N_FOREACH_ADD_,
	N_FOREACH_ADDCMUL_,
	N_FUSED_ADAMW,
	N_COMPILED_REGION,
	N_GRAPH_REPLAY,
	N_GRAPH_CAPTURE,
	N_SAMPLER,
	N_DETOKENIZE,
	N_MARK_REQUEST_DONE,
	N_COUNTER_ALLOCATED,
	N_COUNTER_RESERVED,
	N_OVERHEAD_FLUSH,
	N_NVTX_DOMAIN,
	N__COUNT
};

extern const char *const tsm__sim_names[N__COUNT];

/* Synthetic host call stacks (interned tsm_frame arrays). */
enum sim_stack {
	S_NONE,
	S_LAUNCH_ELEMENTWISE, /* python -> libtorch_python -> at::native -> cudaLaunchKernel */
	S_LAUNCH_GEMM,	      /* ... -> cublasLt -> cudaLaunchKernelExC */
	S_LAUNCH_FLASH,
	S_LAUNCH_BWD, /* autograd engine thread: no Python frames */
	S_GEMM_BWD,
	S_MEMCPY_H2D,
	S_MEMCPY_D2H,
	S_MEMSET,
	S_EVENT, /* cudaEventRecord / cudaStreamWaitEvent from c10::cuda */
	S_SYNC,
	S_MALLOC, /* CUDACachingAllocator */
	S_NCCL,	  /* ProcessGroupNCCL from the DDP reducer */
	S_OPTIMIZER,
	S_GRAPH,
	S_TRITON,
	S__COUNT
};

/* Metadata lists attached to collective ops (record_param_comms). */
enum sim_meta { M_NONE, M_DDP_BUCKET, M_DDP_BUCKET_FIRST, M_TP_ALLREDUCE, M__COUNT };

/* Everything interned once per run; read-only afterwards. */
typedef struct sim_vocab {
	uint32_t kname[K__COUNT];
	uint32_t api[A__COUNT];
	uint32_t name[N__COUNT];
	uint32_t stack[S__COUNT];
	uint32_t meta[M__COUNT];
	uint32_t host;
} sim_vocab;

/* ---- presets --------------------------------------------------------- */

enum sim_model { SIM_MODEL_GPT, SIM_MODEL_MLP, SIM_MODEL_DECODE };

typedef struct sim_preset {
	const char *name;
	const char *summary;
	const char *cmdline;
	enum sim_model model;
	uint64_t seed;
	uint32_t devices;      /* ranks, one process and one GPU each */
	uint32_t host_threads; /* per process */
	uint32_t iterations;   /* natural length when max_events is 0 */
	uint32_t layers;
	uint32_t tp;		 /* tensor-parallel group size (GPT) */
	uint32_t bucket_layers;	 /* DDP: layers per gradient bucket */
	uint32_t gemm_scale_pct; /* GEMM durations relative to the kernel table */
	uint32_t hidden;
	uint64_t batch_bytes; /* H2D input batch */
	int p2p;	      /* exchange activations with the TP neighbour (cudaMemcpyPeerAsync) */
} sim_preset;

const sim_preset *tsm__sim_preset_find(const char *name);

/* ---- the world and the per-process model ----------------------------- */

/* Iteration range names, interned in chunks of consecutive N. */
typedef struct sim_steps {
	pthread_mutex_t lock;
	tsm_intern *strings;
	_Atomic uint32_t count;
	uint32_t cap;
	_Atomic(uint32_t *) ids; /* never freed before the world: old arrays are kept */
	uint32_t **old;
	size_t nold;
} sim_steps;

typedef struct sim_world {
	const sim_preset *p;
	uint64_t seed;
	uint32_t ranks;
	uint32_t threads;    /* host threads per process */
	uint32_t tp;	     /* tensor-parallel group size actually used (divides ranks) */
	uint64_t max_events; /* 0: natural length */
	uint64_t end_ns;     /* absolute; UINT64_MAX: none */
	sim_vocab v;
	uint32_t kmean[K__COUNT]; /* mean duration after the preset's scaling */
	tsm_event ktmpl[K__COUNT];
	sim_steps steps;
} sim_world;

int tsm__sim_world_init(sim_world *w, tsm_intern *strings, tsm_intern *stacks, tsm_intern *kvlists,
			const tsm_sim_opts *opts);
void tsm__sim_world_fini(sim_world *w);
int tsm__sim_vocab_init(sim_vocab *v, const sim_world *w, tsm_intern *strings, tsm_intern *stacks,
			tsm_intern *kvlists);
int tsm__sim_step_name(sim_world *w, uint64_t n, uint32_t *id);

/* Process and thread identities (also used for tsm_writer_add_process). */
uint32_t tsm__sim_pid(const sim_world *w, uint32_t rank);
uint64_t tsm__sim_tid(const sim_world *w, uint32_t rank, unsigned thread);

/*
 * Run the model of process `rank`. quota[t] is how many events thread t may
 * still emit (0: none, thread t is masked; UINT64_MAX: unlimited). Events
 * are passed to emit in generation order. The events of one thread are the
 * same whatever the other quotas are, so one process can be generated by
 * several OS threads, each with only its own thread unmasked.
 * max_iterations: 0 for the natural length (the preset's iterations, or
 * unbounded when max_events or duration_ns is set), else at most that many.
 */
typedef struct sim_run_result {
	uint64_t emitted[SIM_MAX_THREADS];
	uint64_t min_ns, max_ns; /* span of emitted events */
	uint64_t iterations;
} sim_run_result;

int tsm__sim_process_run(sim_world *w, uint32_t rank, const uint64_t quota[SIM_MAX_THREADS],
			 uint64_t max_iterations, tsm_sim_emit_fn emit, void *user,
			 sim_run_result *res);

#endif
