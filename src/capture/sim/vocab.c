/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Vocabulary of the simulation: runtime API calls, kernels with their launch
 * configurations, CPU op names, synthetic call stacks and metadata lists.
 *
 * Kernel names are what CUPTI reports: Itanium-mangled for the C++ kernels
 * of PyTorch, flash-attention and NCCL (each was produced by g++ from a
 * declaration with the real template signature and checked with c++filt),
 * plain for cuBLAS (sm90_xmma_*, nvjet_*) and Triton kernels. Launch
 * configurations follow what Nsight Systems / torch.profiler show for these
 * kernels on an H100 at the reference shapes (GPT-2 small, batch 8 x 1024
 * tokens, bf16 autocast; Llama-7B-like decode at batch 16): persistent
 * cuBLAS kernels use one CTA per SM (132) and 2x1x1 clusters, elementwise
 * kernels 128-thread blocks with 4-wide vectors, flash attention one CTA
 * per (query tile, batch, head).
 *
 * Mean durations are at those shapes (bandwidth 3.35 TB/s, bf16 dense
 * ~600 TFLOP/s achievable); the preset scales GEMMs for other shapes.
 */
#include "sim-internal.h"

const sim_api_def tsm__sim_apis[A__COUNT] = {
#define SIM__API_DEF(id, name, cbid, mean_ns) [A_##id] = {name, cbid, mean_ns},
    SIM_API_LIST(SIM__API_DEF)
#undef SIM__API_DEF
};

#define G(x, y, z)      \
	{               \
		x, y, z \
	}
#define B(x, y, z)      \
	{               \
		x, y, z \
	}
#define C1              \
	{               \
		1, 1, 1 \
	}
#define C2              \
	{               \
		2, 1, 1 \
	}

const sim_kdef tsm__sim_kernels[K__COUNT] = {
    [K_EMBED_FWD] = {"_ZN2at6native12_GLOBAL__N_"
		     "121indexSelectLargeIndexIN3c108BFloat16EjlLi2ELi2ELin2ELb1EEEvNS_"
		     "4cuda6detail10TensorInfoIT_T0_EENS7_IKS8_S9_EENS7_IKT1_S9_EEiiS9_S9_l",
		     G(6144, 1, 1), B(128, 1, 1), C1, 30, 0, 0, 17400, 30, A_LAUNCH, 0},
    [K_LN_FWD] = {"_ZN2at6native12_GLOBAL__N_128vectorized_layer_norm_"
		  "kernelIN3c108BFloat16EfEEviT0_PKT_S8_S8_PS5_S9_PS6_",
		  G(8192, 1, 1), B(128, 1, 1), C1, 30, 0, 0, 13900, 35, A_LAUNCH, 0},
    [K_GEMM_QKV] = {"nvjet_hsh_256x128_64x4_1x2_h_bz_coopB_NTT", G(132, 1, 1), B(384, 1, 1), C2,
		    168, 0, 213152, 61800, 12, A_LAUNCH_EXC, 1},
    [K_FLASH_FWD] = {"_ZN13pytorch_flash16flash_fwd_kernelI23Flash_fwd_kernel_"
		     "traitsILi64ELi128ELi128ELi4ELb0ELb0EN7cutlass10bfloat16_tE19Flash_kernel_"
		     "traitsILi64ELi128ELi128ELi4ES3_EELb0ELb1ELb0ELb0ELb1ELb1ELb0ELb0EEEvNS_"
		     "16Flash_fwd_paramsE",
		     G(8, 8, 12), B(128, 1, 1), C1, 255, 0, 49152, 41600, 20, A_LAUNCH, 0},
    [K_GEMM_PROJ] = {"sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64_"
		     "warpgroupsize1x1x1_execute_segment_k_off_kernel__5x_cublas",
		     G(6, 64, 1), B(128, 1, 1), C1, 168, 0, 164864, 24300, 12, A_LAUNCH_EXC, 1},
    [K_ADD_BF16] = {"_ZN2at6native29vectorized_elementwise_kernelILi4ENS0_21CUDAFunctorOnSelf_"
		    "addIN3c108BFloat16EEESt5arrayIPcLm2EEEEviT0_T1_",
		    G(12288, 1, 1), B(128, 1, 1), C1, 32, 0, 0, 11300, 33, A_LAUNCH, 0},
    [K_GEMM_FC1] = {"nvjet_hsh_256x128_64x4_2x1_v_bz_coopA_NTT", G(132, 1, 1), B(384, 1, 1), C2,
		    168, 0, 213152, 77400, 12, A_LAUNCH_EXC, 1},
    [K_GELU_FWD] = {"_ZN2at6native29vectorized_elementwise_kernelILi4EZZZNS0_"
		    "18GeluCUDAKernelImplERNS_18TensorIteratorBaseENS0_8GeluTypeEENKUlvE0_"
		    "clEvENKUlvE2_clEvEUlN3c108BFloat16EE_St5arrayIPcLm2EEEEviT0_T1_",
		    G(49152, 1, 1), B(128, 1, 1), C1, 28, 0, 0, 30900, 30, A_LAUNCH, 0},
    [K_GEMM_FC2] = {"sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x256x64_"
		    "warpgroupsize2x1x1_execute_segment_k_off_kernel__5x_cublas",
		    G(3, 64, 1), B(384, 1, 1), C1, 168, 0, 213000, 81900, 12, A_LAUNCH_EXC, 1},
    [K_GEMM_LMHEAD] = {"nvjet_hsh_256x128_64x4_1x2_h_bz_coopB_NTT", G(132, 1, 1), B(384, 1, 1), C2,
		       168, 0, 213152, 1052000, 6, A_LAUNCH_EXC, 1},
    [K_LOGSOFTMAX_FWD] =
	{"_ZN2at6native12_GLOBAL__N_119cunn_SoftMaxForwardILi4EN3c108BFloat16EffNS1_"
	 "25LogSoftMaxForwardEpilogueEEEvPT2_PKT0_i",
	 G(8192, 1, 1), B(1024, 1, 1), C1, 40, 0, 32, 512000, 15, A_LAUNCH, 0},
    [K_NLL_FWD] = {"_ZN2at6native12_GLOBAL__N_138nll_loss_forward_reduce_cuda_kernel_2dIflEEvPT_S4_"
		   "PKS3_PKT0_S6_bllll",
		   G(1, 1, 1), B(1024, 1, 1), C1, 24, 8192, 0, 9300, 40, A_LAUNCH, 0},
    [K_FILL_F32] = {"_ZN2at6native29vectorized_elementwise_kernelILi4ENS0_"
		    "11FillFunctorIfEESt5arrayIPcLm1EEEEviT0_T1_",
		    G(804864, 1, 1), B(128, 1, 1), C1, 16, 0, 0, 528000, 10, A_LAUNCH, 0},
    [K_NLL_BWD] = {"_ZN2at6native12_GLOBAL__N_139nll_loss_backward_reduce_cuda_kernel_2dIflEEvPT_"
		   "PKS3_PKT0_S6_S6_biill",
		   G(1, 1, 1), B(1024, 1, 1), C1, 22, 0, 0, 7200, 40, A_LAUNCH, 0},
    [K_LOGSOFTMAX_BWD] =
	{"_ZN2at6native12_GLOBAL__N_120cunn_SoftMaxBackwardILi4EN3c108BFloat16EffNS1_"
	 "26LogSoftMaxBackwardEpilogueEEEvPT0_PKT2_SA_l",
	 G(8192, 1, 1), B(1024, 1, 1), C1, 38, 0, 32, 796000, 15, A_LAUNCH, 0},
    [K_GEMM_DGRAD] = {"nvjet_hsh_256x128_64x4_1x2_h_bz_coopB_NNT", G(132, 1, 1), B(384, 1, 1), C2,
		      168, 0, 213152, 78800, 12, A_LAUNCH_EXC, 1},
    [K_GEMM_WGRAD] = {"sm90_xmma_gemm_bf16bf16_bf16f32_f32_nt_n_tilesize128x128x64_"
		      "warpgroupsize1x1x1_execute_segment_k_off_kernel__5x_cublas",
		      G(6, 24, 1), B(128, 1, 1), C1, 168, 0, 164864, 84200, 12, A_LAUNCH_EXC, 1},
    [K_GEMM_DGRAD_BIG] = {"nvjet_hsh_256x128_64x4_1x2_h_bz_coopB_NNT", G(132, 1, 1), B(384, 1, 1),
			  C2, 168, 0, 213152, 1071000, 6, A_LAUNCH_EXC, 1},
    [K_GEMM_WGRAD_BIG] = {"nvjet_hsh_128x256_64x4_2x1_v_bz_coopA_TNT", G(132, 1, 1), B(384, 1, 1),
			  C2, 168, 0, 213152, 1104000, 6, A_LAUNCH_EXC, 1},
    [K_LN_BWD_INPUT] = {"_ZN2at6native12_GLOBAL__N_139layer_norm_grad_input_kernel_"
			"vectorizedIN3c108BFloat16EfEEvPKT_S7_PKT0_SA_S7_PS5_i",
			G(8192, 1, 1), B(128, 1, 1), C1, 40, 0, 0, 21700, 30, A_LAUNCH, 0},
    [K_LN_BWD_GAMMA] =
	{"_ZN2at6native12_GLOBAL__N_"
	 "135GammaBetaBackwardCUDAKernelTemplateIN3c108BFloat16EfEEvllPKT_S7_PKT0_SA_PS5_SB_",
	 G(24, 1, 1), B(32, 32, 1), C1, 64, 8448, 0, 19800, 30, A_LAUNCH, 0},
    [K_GELU_BWD] = {"_ZN2at6native29vectorized_elementwise_kernelILi4EZZZNS0_"
		    "26GeluBackwardCUDAKernelImplERNS_18TensorIteratorBaseENS0_8GeluTypeEENKUlvE0_"
		    "clEvENKUlvE2_clEvEUlN3c108BFloat16ES8_E_St5arrayIPcLm3EEEEviT0_T1_",
		    G(49152, 1, 1), B(128, 1, 1), C1, 32, 0, 0, 45600, 30, A_LAUNCH, 0},
    [K_FLASH_BWD_DOT] =
	{"_ZN13pytorch_flash25flash_bwd_dot_do_o_kernelI23Flash_bwd_kernel_"
	 "traitsILi64ELi128ELi128ELi8ELi2ELi4ELi2ELb0ELb0EN7cutlass10bfloat16_tE19Flash_kernel_"
	 "traitsILi64ELi128ELi128ELi8ES3_EELb1EEEvNS_16Flash_bwd_paramsE",
	 G(8, 8, 12), B(256, 1, 1), C1, 40, 0, 0, 9800, 30, A_LAUNCH, 0},
    [K_FLASH_BWD] =
	{"_ZN13pytorch_flash44flash_bwd_dq_dk_dv_loop_seqk_parallel_kernelI23Flash_bwd_kernel_"
	 "traitsILi64ELi128ELi128ELi8ELi2ELi4ELi2ELb0ELb0EN7cutlass10bfloat16_tE19Flash_kernel_"
	 "traitsILi64ELi128ELi128ELi8ES3_EELb0ELb1ELb0ELb1ELb1ELb0EEEvNS_16Flash_bwd_paramsE",
	 G(8, 8, 12), B(256, 1, 1), C1, 255, 0, 114688, 118000, 15, A_LAUNCH, 0},
    [K_FLASH_BWD_CONVERT] =
	{"_ZN13pytorch_flash27flash_bwd_convert_dq_kernelI23Flash_bwd_kernel_"
	 "traitsILi64ELi128ELi128ELi8ELi2ELi4ELi2ELb0ELb0EN7cutlass10bfloat16_tE19Flash_kernel_"
	 "traitsILi64ELi128ELi128ELi8ES3_EEEEvNS_16Flash_bwd_paramsEi",
	 G(8, 8, 12), B(256, 1, 1), C1, 32, 0, 16384, 8100, 30, A_LAUNCH, 0},
    [K_EMBED_BWD] = {"_ZN2at6native12_GLOBAL__N_133embedding_backward_feature_"
		     "kernelIN3c108BFloat16EflEEvPKT1_PKT_PS8_ili",
		     G(24, 1, 1), B(32, 32, 1), C1, 48, 8192, 0, 244000, 20, A_LAUNCH, 0},
    [K_ADD_GRAD_F32] = {"_ZN2at6native29vectorized_elementwise_kernelILi4ENS0_21CUDAFunctorOnSelf_"
			"addIfEESt5arrayIPcLm2EEEEviT0_T1_",
			G(12288, 1, 1), B(128, 1, 1), C1, 32, 0, 0, 16600, 33, A_LAUNCH, 0},
    [K_MUL_BF16] =
	{"_ZN2at6native29vectorized_elementwise_kernelILi4ENS0_13BinaryFunctorIN3c108BFloat16ES4_"
	 "S4_NS0_15binary_internal10MulFunctorIfEEEESt5arrayIPcLm3EEEEviT0_T1_",
	 G(12288, 1, 1), B(128, 1, 1), C1, 32, 0, 0, 12100, 33, A_LAUNCH, 0},
    [K_FOREACH_MUL] = {"_ZN2at6native12_GLOBAL__N_125multi_tensor_apply_kernelINS1_"
		       "18TensorListMetadataILi2EEENS1_"
		       "21BinaryOpScalarFunctorIfLi2ELi1ELi1EEEJSt10multipliesIfEfEEEvT_T0_DpT1_",
		       G(1440, 1, 1), B(512, 1, 1), C1, 30, 3136, 0, 96000, 15, A_LAUNCH, 0},
    [K_FOREACH_ADD] = {"_ZN2at6native12_GLOBAL__N_125multi_tensor_apply_kernelINS1_"
		       "18TensorListMetadataILi2EEENS1_"
		       "24BinaryOpListAlphaFunctorIfLi2ELi2ELi0EEEJSt4plusIfEfEEEvT_T0_DpT1_",
		       G(1440, 1, 1), B(512, 1, 1), C1, 30, 3136, 0, 141000, 15, A_LAUNCH, 0},
    [K_FOREACH_ADDCMUL] =
	{"_ZN2at6native12_GLOBAL__N_125multi_tensor_apply_kernelINS1_"
	 "18TensorListMetadataILi3EEENS1_"
	 "28PointwiseOpScalarListFunctorIfLi3ELi3ELi0EEEJSt10multipliesIfEEEEvT_T0_DpT1_",
	 G(1440, 1, 1), B(512, 1, 1), C1, 34, 3520, 0, 187000, 15, A_LAUNCH, 0},
    [K_FUSED_ADAMW] = {"_ZN2at6native12_GLOBAL__N_125multi_tensor_apply_kernelINS1_"
		       "18TensorListMetadataILi4EEENS1_20FusedAdamMathFunctorIfLi4ELNS0_9ADAM_"
		       "MODEE1ELb0EEEJPfffffffbEEEvT_T0_DpT1_",
		       G(1440, 1, 1), B(512, 1, 1), C1, 64, 3904, 0, 402000, 10, A_LAUNCH, 0},
    [K_NCCL_AR_F32] =
	{"_Z39ncclDevKernel_AllReduce_Sum_f32_RING_LL24ncclDevKernelArgsStorageILm4096EE",
	 G(2, 1, 1), B(512, 1, 1), C1, 96, 0, 14592, 312000, 25, A_LAUNCH_EXC, 0},
    [K_NCCL_AR_BF16] =
	{"_Z40ncclDevKernel_AllReduce_Sum_bf16_RING_LL24ncclDevKernelArgsStorageILm4096EE",
	 G(8, 1, 1), B(512, 1, 1), C1, 96, 0, 14592, 38000, 25, A_LAUNCH_EXC, 0},
    [K_MLP_GEMM] = {"sm90_xmma_gemm_f16f16_f16f32_f32_tn_n_tilesize128x256x64_warpgroupsize2x1x1_"
		    "execute_segment_k_off_kernel__5x_cublas",
		    G(8, 16, 1), B(384, 1, 1), C1, 168, 0, 213000, 18700, 10, A_LAUNCH_EXC, 1},
    [K_RELU] = {"_ZN2at6native29vectorized_elementwise_kernelILi4EZZZNS0_12_GLOBAL__N_119launch_"
		"clamp_scalarERNS_18TensorIteratorBaseEN3c106ScalarES6_NS0_"
		"6detail11ClampLimitsEENKUlvE_clEvENKUlvE5_clEvEUlfE_St5arrayIPcLm2EEEEviT0_T1_",
		G(4096, 1, 1), B(128, 1, 1), C1, 32, 0, 0, 5100, 30, A_LAUNCH, 0},
    [K_MEAN_REDUCE] =
	{"_ZN2at6native13reduce_kernelILi512ELi1ENS0_8ReduceOpIfNS0_7MeanOpsIfEEjfEEEEvT1_",
	 G(132, 1, 1), B(512, 1, 1), C1, 40, 0, 16, 6300, 30, A_LAUNCH, 0},
    [K_INF_RMSNORM] = {"triton_red_fused__to_copy_add_mean_mul_pow_rsqrt_0", G(16, 1, 1),
		       B(256, 1, 1), C1, 26, 0, 0, 2900, 40, A_CU_LAUNCH, 0},
    [K_INF_GEMM_QKV] = {"nvjet_hsh_64x16_64x8_4x1_v_bz_splitK_TNT", G(132, 1, 1), B(128, 1, 1), C2,
			128, 0, 197632, 29800, 8, A_LAUNCH_EXC, 1},
    [K_INF_ROTARY] = {"triton_poi_fused_cat_mul_1", G(96, 1, 1), B(128, 1, 1), C1, 22, 0, 0, 2300,
		      40, A_CU_LAUNCH, 0},
    [K_INF_FLASH_DECODE] = {"_ZN13pytorch_flash24flash_fwd_splitkv_kernelI23Flash_fwd_kernel_"
			    "traitsILi128ELi64ELi128ELi4ELb0ELb0EN7cutlass10bfloat16_tE19Flash_"
			    "kernel_traitsILi128ELi64ELi128ELi4ES3_"
			    "EELb0ELb0ELb0ELb0ELb1ELb0ELb1ELb0EEEvNS_16Flash_fwd_paramsE",
			    G(1, 16, 32), B(128, 1, 1), C1, 255, 0, 49152, 8200, 25, A_LAUNCH, 0},
    [K_INF_FLASH_COMBINE] =
	{"_ZN13pytorch_flash32flash_fwd_splitkv_combine_kernelI23Flash_fwd_kernel_"
	 "traitsILi128ELi64ELi128ELi4ELb0ELb0EN7cutlass10bfloat16_tE19Flash_kernel_"
	 "traitsILi128ELi64ELi128ELi4ES3_EELi16ELi4ELb1EEEvNS_16Flash_fwd_paramsE",
	 G(16, 32, 1), B(128, 1, 1), C1, 32, 0, 8192, 2600, 30, A_LAUNCH, 0},
    [K_INF_GEMM_O] = {"nvjet_hsh_64x16_64x8_4x1_v_bz_splitK_TNT", G(132, 1, 1), B(128, 1, 1), C2,
		      128, 0, 197632, 10400, 8, A_LAUNCH_EXC, 1},
    [K_INF_ADD_RMSNORM] = {"triton_red_fused_add_mean_mul_pow_rsqrt_2", G(16, 1, 1), B(256, 1, 1),
			   C1, 28, 0, 0, 3100, 40, A_CU_LAUNCH, 0},
    [K_INF_GEMM_GATEUP] = {"nvjet_hsh_64x16_64x8_2x1_v_bz_splitK_TNT", G(132, 1, 1), B(128, 1, 1),
			   C2, 128, 0, 197632, 54800, 8, A_LAUNCH_EXC, 1},
    [K_INF_SILU_MUL] = {"triton_poi_fused_mul_silu_3", G(344, 1, 1), B(128, 1, 1), C1, 24, 0, 0,
			2500, 40, A_CU_LAUNCH, 0},
    [K_INF_GEMM_DOWN] = {"nvjet_hsh_64x16_64x8_4x1_v_bz_splitK_TNT", G(132, 1, 1), B(128, 1, 1), C2,
			 128, 0, 197632, 27400, 8, A_LAUNCH_EXC, 1},
    [K_INF_GEMM_LMHEAD] = {"nvjet_hsh_128x16_64x8_2x1_v_bz_TNT", G(132, 1, 1), B(128, 1, 1), C2,
			   128, 0, 197632, 78600, 6, A_LAUNCH_EXC, 1},
    [K_INF_ARGMAX] = {"_ZN2at6native13reduce_kernelILi512ELi1ENS0_8ReduceOpIN3c108BFloat16ENS0_"
		      "9ArgMaxOpsIS4_lEEjlEEEEvT1_",
		      G(16, 1, 1), B(32, 16, 1), C1, 40, 0, 16, 4400, 30, A_LAUNCH, 0},
    [K_INF_FLASH_PREFILL] = {"_ZN13pytorch_flash16flash_fwd_kernelI23Flash_fwd_kernel_"
			     "traitsILi64ELi128ELi128ELi4ELb0ELb0EN7cutlass10bfloat16_tE19Flash_"
			     "kernel_traitsILi64ELi128ELi128ELi4ES3_"
			     "EELb0ELb1ELb0ELb0ELb1ELb1ELb0ELb0EEEvNS_16Flash_fwd_paramsE",
			     G(4, 16, 32), B(128, 1, 1), C1, 255, 0, 49152, 61000, 15, A_LAUNCH, 0},
};

const char *const tsm__sim_names[N__COUNT] = {
    [N_PROFILER_STEP_PREFIX] = "ProfilerStep#",
    [N_DATALOADER] = "enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__",
    [N_ATEN_TO] = "aten::to",
    [N_ATEN_TO_COPY] = "aten::_to_copy",
    [N_ATEN_COPY] = "aten::copy_",
    [N_ATEN_EMPTY] = "aten::empty_strided",
    [N_ATEN_EMBEDDING] = "aten::embedding",
    [N_ATEN_INDEX_SELECT] = "aten::index_select",
    [N_ATEN_LAYER_NORM] = "aten::layer_norm",
    [N_ATEN_NATIVE_LAYER_NORM] = "aten::native_layer_norm",
    [N_ATEN_LINEAR] = "aten::linear",
    [N_ATEN_ADDMM] = "aten::addmm",
    [N_ATEN_MM] = "aten::mm",
    [N_ATEN_SDPA] = "aten::scaled_dot_product_attention",
    [N_ATEN_SDPA_FLASH] = "aten::_scaled_dot_product_flash_attention",
    [N_ATEN_FLASH_FWD] = "aten::_flash_attention_forward",
    [N_ATEN_ADD] = "aten::add",
    [N_ATEN_ADD_] = "aten::add_",
    [N_ATEN_GELU] = "aten::gelu",
    [N_ATEN_RELU] = "aten::relu",
    [N_ATEN_MUL] = "aten::mul",
    [N_ATEN_CROSS_ENTROPY] = "aten::cross_entropy_loss",
    [N_ATEN_LOG_SOFTMAX] = "aten::_log_softmax",
    [N_ATEN_NLL_LOSS] = "aten::nll_loss_nd",
    [N_ATEN_MSE_LOSS] = "aten::mse_loss",
    [N_ATEN_MEAN] = "aten::mean",
    [N_ATEN_ZERO_] = "aten::zero_",
    [N_ATEN_FILL_] = "aten::fill_",
    [N_ATEN_ITEM] = "aten::item",
    [N_ATEN_LOCAL_SCALAR_DENSE] = "aten::_local_scalar_dense",
    [N_ATEN_PIN_MEMORY] = "aten::pin_memory",
    [N_ATEN__PIN_MEMORY] = "aten::_pin_memory",
    [N_ATEN_ARGMAX] = "aten::argmax",
    [N_BWD_NLL] = "autograd::engine::evaluate_function: NllLossBackward0",
    [N_BWD_LOG_SOFTMAX] = "autograd::engine::evaluate_function: LogSoftmaxBackward0",
    [N_BWD_MM] = "autograd::engine::evaluate_function: MmBackward0",
    [N_BWD_ADDMM] = "autograd::engine::evaluate_function: AddmmBackward0",
    [N_BWD_LAYER_NORM] = "autograd::engine::evaluate_function: NativeLayerNormBackward0",
    [N_BWD_GELU] = "autograd::engine::evaluate_function: GeluBackward0",
    [N_BWD_RELU] = "autograd::engine::evaluate_function: ReluBackward0",
    [N_BWD_ADD] = "autograd::engine::evaluate_function: AddBackward0",
    [N_BWD_FLASH] = "autograd::engine::evaluate_function: ScaledDotProductFlashAttentionBackward0",
    [N_BWD_EMBEDDING] = "autograd::engine::evaluate_function: EmbeddingBackward0",
    [N_BWD_MSE] = "autograd::engine::evaluate_function: MseLossBackward0",
    [N_BWD_ACCUMULATE] = "autograd::engine::evaluate_function: torch::autograd::AccumulateGrad",
    [N_ATEN_MM_BWD_DGRAD] = "aten::mm",
    [N_ATEN_EMBED_DENSE_BWD] = "aten::embedding_dense_backward",
    [N_ATEN_FLASH_BWD] = "aten::_flash_attention_backward",
    [N_ATEN_GELU_BWD] = "aten::gelu_backward",
    [N_ATEN_LN_BWD] = "aten::native_layer_norm_backward",
    [N_NCCL_ALLREDUCE] = "nccl:all_reduce",
    [N_RECORD_PARAM_COMMS] = "record_param_comms",
    [N_DDP_FORWARD] = "DistributedDataParallel.forward",
    [N_DDP_FINALIZE] = "Reducer::finalize_backward",
    [N_OPT_ZERO_GRAD] = "Optimizer.zero_grad#AdamW.zero_grad",
    [N_OPT_STEP] = "Optimizer.step#AdamW.step",
    [N_FOREACH_MUL_] = "aten::_foreach_mul_",
    [N_FOREACH_ADD_] = "aten::_foreach_add_",
    [N_FOREACH_ADDCMUL_] = "aten::_foreach_addcmul_",
    [N_FUSED_ADAMW] = "aten::_fused_adamw_",
    [N_COMPILED_REGION] = "Torch-Compiled Region: 0/0",
    [N_GRAPH_REPLAY] = "CUDAGraphRunner.replay",
    [N_GRAPH_CAPTURE] = "CUDAGraphRunner.capture",
    [N_SAMPLER] = "Sampler.forward",
    [N_DETOKENIZE] = "Detokenizer.decode_incrementally",
    [N_MARK_REQUEST_DONE] = "request_done",
    [N_COUNTER_ALLOCATED] = "gpu_memory_allocated_bytes",
    [N_COUNTER_RESERVED] = "gpu_memory_reserved_bytes",
    [N_OVERHEAD_FLUSH] = "Activity Buffer Request",
    [N_NVTX_DOMAIN] = "tracesmith.sim",
};

/* A frame written as {function, module, file, line}; pcs come from the module bases below. */
typedef struct frame_def {
	const char *function;
	const char *module;
	const char *file;
	uint32_t line;
} frame_def;

#define STACK_MAX 9

static const frame_def stack_defs[S__COUNT][STACK_MAX] = {
    [S_LAUNCH_ELEMENTWISE] =
	{
	    {"cudaLaunchKernel", "libcudart.so.12", NULL, 0},
	    {"at::native::gpu_kernel_impl_nocast", "libtorch_cuda.so", "Loops.cuh", 90},
	    {"at::native::add_kernel", "libtorch_cuda.so", "BinaryOpsKernel.cu", 45},
	    {"at::_ops::add_Tensor::call", "libtorch_cpu.so", "Operators_2.cpp", 1103},
	    {"torch::autograd::THPVariable_add", "libtorch_python.so",
	     "python_variable_methods.cpp", 2812},
	    {"_PyEval_EvalFrameDefault", "python3.12", "ceval.c", 4751},
	    {"Block.forward", "python3.12", "model.py", 112},
	    {"GPT.forward", "python3.12", "model.py", 187},
	    {"train_step", "python3.12", "train.py", 264},
	},
    [S_LAUNCH_GEMM] =
	{
	    {"cudaLaunchKernelExC", "libcudart.so.12", NULL, 0},
	    {"cublasLtMatmul", "libcublasLt.so.12", NULL, 0},
	    {"at::cuda::blas::gemm_and_bias<c10::BFloat16>", "libtorch_cuda.so", "CUDABlas.cpp",
	     1392},
	    {"at::native::addmm_out_cuda_impl", "libtorch_cuda.so", "Blas.cpp", 372},
	    {"at::_ops::addmm::call", "libtorch_cpu.so", "Operators_0.cpp", 7140},
	    {"at::native::linear", "libtorch_cpu.so", "Linear.cpp", 103},
	    {"torch::autograd::THPVariable_linear", "libtorch_python.so", "python_nn_functions.cpp",
	     1320},
	    {"CausalSelfAttention.forward", "python3.12", "model.py", 58},
	    {"train_step", "python3.12", "train.py", 264},
	},
    [S_LAUNCH_FLASH] =
	{
	    {"cudaLaunchKernel", "libcudart.so.12", NULL, 0},
	    {"pytorch_flash::run_mha_fwd", "libtorch_cuda.so", "flash_api.cpp", 344},
	    {"at::native::_flash_attention_forward", "libtorch_cuda.so", "attention.cu", 859},
	    {"at::native::_scaled_dot_product_flash_attention_cuda", "libtorch_cuda.so",
	     "attention.cu", 704},
	    {"at::_ops::scaled_dot_product_attention::call", "libtorch_cpu.so", "Operators_4.cpp",
	     2211},
	    {"torch::autograd::THPVariable_scaled_dot_product_attention", "libtorch_python.so",
	     "python_nn_functions.cpp", 2655},
	    {"CausalSelfAttention.forward", "python3.12", "model.py", 71},
	    {"train_step", "python3.12", "train.py", 264},
	},
    [S_LAUNCH_BWD] =
	{
	    {"cudaLaunchKernel", "libcudart.so.12", NULL, 0},
	    {"at::native::gpu_kernel_impl_nocast", "libtorch_cuda.so", "Loops.cuh", 90},
	    {"torch::autograd::generated::GeluBackward0::apply", "libtorch_cpu.so", "Functions.cpp",
	     4410},
	    {"torch::autograd::Engine::evaluate_function", "libtorch_cpu.so", "engine.cpp", 1085},
	    {"torch::autograd::Engine::thread_main", "libtorch_cpu.so", "engine.cpp", 534},
	    {"torch::autograd::Engine::thread_init", "libtorch_cpu.so", "engine.cpp", 372},
	    {"start_thread", "libc.so.6", NULL, 0},
	},
    [S_GEMM_BWD] =
	{
	    {"cudaLaunchKernelExC", "libcudart.so.12", NULL, 0},
	    {"cublasLtMatmul", "libcublasLt.so.12", NULL, 0},
	    {"at::native::addmm_out_cuda_impl", "libtorch_cuda.so", "Blas.cpp", 372},
	    {"torch::autograd::generated::AddmmBackward0::apply", "libtorch_cpu.so",
	     "Functions.cpp", 1876},
	    {"torch::autograd::Engine::evaluate_function", "libtorch_cpu.so", "engine.cpp", 1085},
	    {"torch::autograd::Engine::thread_main", "libtorch_cpu.so", "engine.cpp", 534},
	    {"start_thread", "libc.so.6", NULL, 0},
	},
    [S_MEMCPY_H2D] =
	{
	    {"cudaMemcpyAsync", "libcudart.so.12", NULL, 0},
	    {"at::native::copy_kernel_cuda", "libtorch_cuda.so", "Copy.cu", 295},
	    {"at::native::copy_", "libtorch_cpu.so", "Copy.cpp", 342},
	    {"at::native::_to_copy", "libtorch_cpu.so", "TensorConversions.cpp", 404},
	    {"torch::autograd::THPVariable_to", "libtorch_python.so", "python_variable_methods.cpp",
	     1014},
	    {"train_step", "python3.12", "train.py", 251},
	},
    [S_MEMCPY_D2H] =
	{
	    {"cudaMemcpyAsync", "libcudart.so.12", NULL, 0},
	    {"at::native::_local_scalar_dense_cuda", "libtorch_cuda.so", "Scalar.cpp", 37},
	    {"at::native::item", "libtorch_cpu.so", "Scalar.cpp", 32},
	    {"torch::autograd::THPVariable_item", "libtorch_python.so",
	     "python_variable_methods.cpp", 654},
	    {"train_step", "python3.12", "train.py", 279},
	},
    [S_MEMSET] =
	{
	    {"cudaMemsetAsync", "libcudart.so.12", NULL, 0},
	    {"at::native::zero_", "libtorch_cpu.so", "TensorFactories.cpp", 1702},
	    {"torch::optim::Optimizer::zero_grad", "libtorch_python.so", "optimizer.py", 973},
	    {"train_step", "python3.12", "train.py", 247},
	},
    [S_EVENT] =
	{
	    {"cudaEventRecord", "libcudart.so.12", NULL, 0},
	    {"at::cuda::CUDAEvent::record", "libtorch_cuda.so", "CUDAEvent.h", 119},
	    {"c10d::ProcessGroupNCCL::syncStream", "libtorch_cuda.so", "ProcessGroupNCCL.cpp", 581},
	    {"c10d::ProcessGroupNCCL::collective", "libtorch_cuda.so", "ProcessGroupNCCL.cpp",
	     2612},
	    {"c10d::Reducer::autograd_hook", "libtorch_cpu.so", "reducer.cpp", 716},
	    {"torch::autograd::Engine::thread_main", "libtorch_cpu.so", "engine.cpp", 534},
	},
    [S_SYNC] =
	{
	    {"cudaStreamSynchronize", "libcudart.so.12", NULL, 0},
	    {"c10::cuda::stream_synchronize", "libc10_cuda.so", "CUDAFunctions.h", 116},
	    {"at::native::_local_scalar_dense_cuda", "libtorch_cuda.so", "Scalar.cpp", 41},
	    {"torch::autograd::THPVariable_item", "libtorch_python.so",
	     "python_variable_methods.cpp", 654},
	    {"train_step", "python3.12", "train.py", 279},
	},
    [S_MALLOC] =
	{
	    {"cudaMalloc", "libcudart.so.12", NULL, 0},
	    {"c10::cuda::CUDACachingAllocator::Native::DeviceCachingAllocator::alloc_block",
	     "libc10_cuda.so", "CUDACachingAllocator.cpp", 2730},
	    {"c10::cuda::CUDACachingAllocator::Native::DeviceCachingAllocator::malloc",
	     "libc10_cuda.so", "CUDACachingAllocator.cpp", 1168},
	    {"at::native::empty_cuda", "libtorch_cuda.so", "TensorFactories.cu", 52},
	    {"at::_ops::empty_strided::call", "libtorch_cpu.so", "Operators_3.cpp", 5011},
	    {"train_step", "python3.12", "train.py", 258},
	},
    [S_NCCL] =
	{
	    {"cudaLaunchKernelExC", "libcudart.so.12", NULL, 0},
	    {"ncclLaunchKernel", "libnccl.so.2", "enqueue.cc", 1410},
	    {"ncclGroupEnd", "libnccl.so.2", "group.cc", 110},
	    {"c10d::ProcessGroupNCCL::collective", "libtorch_cuda.so", "ProcessGroupNCCL.cpp",
	     2655},
	    {"c10d::ProcessGroupNCCL::allreduce", "libtorch_cuda.so", "ProcessGroupNCCL.cpp", 3024},
	    {"c10d::Reducer::run_comm_hook", "libtorch_cpu.so", "reducer.cpp", 948},
	    {"torch::autograd::Engine::thread_main", "libtorch_cpu.so", "engine.cpp", 534},
	},
    [S_OPTIMIZER] =
	{
	    {"cudaLaunchKernel", "libcudart.so.12", NULL, 0},
	    {"at::native::multi_tensor_apply", "libtorch_cuda.so", "MultiTensorApply.cuh", 209},
	    {"at::native::foreach_tensor_mul_scalar_kernel_cuda_", "libtorch_cuda.so",
	     "ForeachBinaryOpScalar.cu", 87},
	    {"torch::autograd::THPVariable__foreach_mul_", "libtorch_python.so",
	     "python_torch_functions.cpp", 8120},
	    {"_multi_tensor_adamw", "python3.12", "adamw.py", 518},
	    {"AdamW.step", "python3.12", "adamw.py", 227},
	    {"train_step", "python3.12", "train.py", 272},
	},
    [S_GRAPH] =
	{
	    {"cudaGraphLaunch", "libcudart.so.12", NULL, 0},
	    {"at::cuda::CUDAGraph::replay", "libtorch_cuda.so", "CUDAGraph.cpp", 223},
	    {"torch::cuda::THCPGraph_replay", "libtorch_python.so", "Graph.cpp", 57},
	    {"CUDAGraphRunner.forward", "python3.12", "cuda_graph.py", 141},
	    {"ModelRunner.execute_model", "python3.12", "model_runner.py", 1480},
	    {"serve_loop", "python3.12", "serve.py", 88},
	},
    [S_TRITON] =
	{
	    {"cuLaunchKernel", "libcuda.so.1", NULL, 0},
	    {"launcher", "triton_launcher.so", NULL, 0},
	    {"CompiledKernel.run", "python3.12", "compiler.py", 399},
	    {"call", "python3.12", "ctzx4uyrdylhkxm2.py", 612},
	    {"CompiledFxGraph.__call__", "python3.12", "output_code.py", 466},
	    {"ModelRunner.execute_model", "python3.12", "model_runner.py", 1480},
	    {"serve_loop", "python3.12", "serve.py", 88},
	},
};

/* Load addresses of the synthetic shared objects: realistic x86-64 mmap bases. */
static uint64_t module_base(const char *module)
{
	uint64_t h = tsm__hash64(module, strlen(module), 0x51);

	if (!strcmp(module, "python3.12"))
		return 0x5581c0a00000ull;
	return 0x7f0000000000ull + ((h & 0xfffff) << 21);
}

static int intern_stack(uint32_t *id, enum sim_stack s, tsm_intern *strings, tsm_intern *stacks)
{
	tsm_frame fr[STACK_MAX];
	size_t n = 0;
	int rc;

	memset(fr, 0, sizeof(fr));
	for (; n < STACK_MAX && stack_defs[s][n].function; n++) {
		const frame_def *d = &stack_defs[s][n];
		uint64_t off = tsm__hash64(d->function, strlen(d->function), 0x77) & 0x3ffff0;

		fr[n].pc = module_base(d->module) + 0x10000 + off + 0x1c + 4 * (d->line % 61);
		rc = tsm_intern_str(strings, d->function, &fr[n].function);
		if (rc < 0)
			return rc;
		rc = tsm_intern_str(strings, d->module, &fr[n].module);
		if (rc < 0)
			return rc;
		if (d->file) {
			rc = tsm_intern_str(strings, d->file, &fr[n].file);
			if (rc < 0)
				return rc;
		}
		fr[n].line = d->line;
	}
	return tsm_intern_add(stacks, fr, n * sizeof(fr[0]), id);
}

typedef struct kv_def {
	const char *key;
	int type;
	const char *s;
	int64_t i;
} kv_def;

static const kv_def meta_defs[M__COUNT][8] = {
    [M_DDP_BUCKET] =
	{
	    {"Collective name", TSM_KV_STR, "allreduce", 0},
	    {"dtype", TSM_KV_STR, "Float", 0},
	    {"In msg nelems", TSM_KV_INT, NULL, 14174208},
	    {"Out msg nelems", TSM_KV_INT, NULL, 14174208},
	    {"Group size", TSM_KV_INT, NULL, 0}, /* patched: world size */
	    {"Process Group Name", TSM_KV_STR, "0", 0},
	    {"Process Group Description", TSM_KV_STR, "default_pg", 0},
	},
    [M_DDP_BUCKET_FIRST] =
	{
	    {"Collective name", TSM_KV_STR, "allreduce", 0},
	    {"dtype", TSM_KV_STR, "Float", 0},
	    {"In msg nelems", TSM_KV_INT, NULL, 262144},
	    {"Out msg nelems", TSM_KV_INT, NULL, 262144},
	    {"Group size", TSM_KV_INT, NULL, 0},
	    {"Process Group Name", TSM_KV_STR, "0", 0},
	    {"Process Group Description", TSM_KV_STR, "default_pg", 0},
	},
    [M_TP_ALLREDUCE] =
	{
	    {"Collective name", TSM_KV_STR, "allreduce", 0},
	    {"dtype", TSM_KV_STR, "BFloat16", 0},
	    {"In msg nelems", TSM_KV_INT, NULL, 33554432},
	    {"Out msg nelems", TSM_KV_INT, NULL, 33554432},
	    {"Group size", TSM_KV_INT, NULL, 0},
	    {"Process Group Name", TSM_KV_STR, "1", 0},
	    {"Process Group Description", TSM_KV_STR, "tensor_parallel", 0},
	},
};

static int intern_meta(uint32_t *id, enum sim_meta m, int64_t group, tsm_intern *strings,
		       tsm_intern *kvlists)
{
	tsm_kv kv[8];
	size_t n = 0;
	int rc;

	memset(kv, 0, sizeof(kv)); /* reserved bytes must be zero: lists are compared as bytes */
	for (; n < 8 && meta_defs[m][n].key; n++) {
		const kv_def *d = &meta_defs[m][n];

		rc = tsm_intern_str(strings, d->key, &kv[n].key);
		if (rc < 0)
			return rc;
		kv[n].type = (uint8_t)d->type;
		if (d->type == TSM_KV_STR) {
			uint32_t sid;

			rc = tsm_intern_str(strings, d->s, &sid);
			if (rc < 0)
				return rc;
			kv[n].v.str = sid;
		} else {
			kv[n].v.i = strcmp(d->key, "Group size") ? d->i : group;
		}
	}
	return tsm_intern_add(kvlists, kv, n * sizeof(kv[0]), id);
}

int tsm__sim_vocab_init(sim_vocab *v, const sim_world *w, tsm_intern *strings, tsm_intern *stacks,
			tsm_intern *kvlists)
{
	uint32_t tp = w->tp;
	int rc;

	memset(v, 0, sizeof(*v));
	for (unsigned k = 0; k < K__COUNT; k++) {
		rc = tsm_intern_str(strings, tsm__sim_kernels[k].name, &v->kname[k]);
		if (rc < 0)
			return rc;
	}
	for (unsigned a = 0; a < A__COUNT; a++) {
		rc = tsm_intern_str(strings, tsm__sim_apis[a].name, &v->api[a]);
		if (rc < 0)
			return rc;
	}
	for (unsigned n = 1; n < N__COUNT; n++) {
		rc = tsm_intern_str(strings, tsm__sim_names[n], &v->name[n]);
		if (rc < 0)
			return rc;
	}
	for (unsigned s = 1; s < S__COUNT; s++) {
		rc = intern_stack(&v->stack[s], s, strings, stacks);
		if (rc < 0)
			return rc;
	}
	rc = intern_meta(&v->meta[M_DDP_BUCKET], M_DDP_BUCKET, w->ranks / tp, strings, kvlists);
	if (rc == 0)
		rc = intern_meta(&v->meta[M_DDP_BUCKET_FIRST], M_DDP_BUCKET_FIRST, w->ranks / tp,
				 strings, kvlists);
	if (rc == 0)
		rc = intern_meta(&v->meta[M_TP_ALLREDUCE], M_TP_ALLREDUCE, tp, strings, kvlists);
	if (rc == 0)
		rc = tsm_intern_str(strings, "sim-dgx-h100-01", &v->host);
	return rc;
}
