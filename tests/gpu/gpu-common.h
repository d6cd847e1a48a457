// SPDX-License-Identifier: Apache-2.0
// Shared by the GPU test programs: error checks and the "no GPU: skip" rule (exit 77).
#pragma once
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>

#define CK(call)                                                                      \
	do {                                                                          \
		cudaError_t e_ = (call);                                              \
		if (e_ != cudaSuccess) {                                              \
			fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, \
				cudaGetErrorString(e_));                              \
			exit(1);                                                      \
		}                                                                     \
	} while (0)

#define CKL() CK(cudaGetLastError())

static inline int gpu_count_or_skip(void)
{
	int n = 0;

	if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
		fprintf(stderr, "no CUDA device: skipping\n");
		exit(77);
	}
	return n;
}
