// SPDX-License-Identifier: Apache-2.0
// A captured CUDA graph (3 kernels and a memset) launched 4 times: 12 kernels and 4 memsets
// that carry a graph id and node ids.
#include "gpu-common.h"

__global__ void g_a(float *x) { x[threadIdx.x] += 1.f; }
__global__ void g_b(float *x) { x[threadIdx.x] *= 2.f; }
__global__ void g_c(float *x) { x[threadIdx.x] -= 3.f; }

int main()
{
	cudaStream_t s;
	cudaGraph_t g;
	cudaGraphExec_t ge;
	float *x;

	gpu_count_or_skip();
	CK(cudaMalloc(&x, 256 * sizeof(float)));
	CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
	CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
	CK(cudaMemsetAsync(x, 0, 256 * sizeof(float), s));
	g_a<<<1, 256, 0, s>>>(x);
	g_b<<<1, 256, 0, s>>>(x);
	g_c<<<1, 256, 0, s>>>(x);
	CK(cudaStreamEndCapture(s, &g));
	CK(cudaGraphInstantiate(&ge, g, 0));
	for (int i = 0; i < 4; i++)
		CK(cudaGraphLaunch(ge, s));
	CK(cudaStreamSynchronize(s));
	CK(cudaGraphExecDestroy(ge));
	CK(cudaGraphDestroy(g));
	CK(cudaFree(x));
	printf("graph ok\n");
	return 0;
}
