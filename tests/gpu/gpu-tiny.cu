// SPDX-License-Identifier: Apache-2.0
// Many tiny kernels on two streams (argv[1] launches in all, default 20000): every one must be
// captured and linked to its launch call.
#include "gpu-common.h"

__global__ void tiny(int *x)
{
	if (threadIdx.x == 0)
		x[blockIdx.x] += 1;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 20000;
	cudaStream_t s[2];
	int *x;

	gpu_count_or_skip();
	CK(cudaMalloc(&x, 64 * sizeof(int)));
	CK(cudaMemset(x, 0, 64 * sizeof(int)));
	CK(cudaStreamCreateWithFlags(&s[0], cudaStreamNonBlocking));
	CK(cudaStreamCreateWithFlags(&s[1], cudaStreamNonBlocking));
	for (int i = 0; i < n; i++) {
		tiny<<<1, 32, 0, s[i & 1]>>>(x);
		CKL();
	}
	CK(cudaDeviceSynchronize());
	CK(cudaFree(x));
	printf("launched %d\n", n);
	return 0;
}
