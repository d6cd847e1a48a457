// SPDX-License-Identifier: Apache-2.0
// Two streams with an event record on one and a wait on the other; memsets; a kernel with
// static and dynamic shared memory. Expected (checked by gpu_test.py): 8 x step<1> on stream A,
// 6 x step<2> + 1 x smem_kernel on stream B, 3 memsets, B waits for the event recorded on A.
#include "gpu-common.h"

template <int K> __global__ void step(float *x, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		x[i] = x[i] * 1.0001f + (float)K;
}

__global__ void smem_kernel(float *x, int n)
{
	__shared__ float fixed[256];
	extern __shared__ float dyn[];
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	fixed[threadIdx.x] = i < n ? x[i] : 0.f;
	dyn[threadIdx.x] = fixed[threadIdx.x] * 2.f;
	__syncthreads();
	if (i < n)
		x[i] = dyn[threadIdx.x] + fixed[(threadIdx.x + 1) % blockDim.x];
}

int main()
{
	const int n = 1 << 20;
	float *a, *b;
	cudaStream_t sa, sb;
	cudaEvent_t ev;

	gpu_count_or_skip();
	CK(cudaMalloc(&a, n * sizeof(float)));
	CK(cudaMalloc(&b, n * sizeof(float)));
	CK(cudaStreamCreateWithFlags(&sa, cudaStreamNonBlocking));
	CK(cudaStreamCreateWithFlags(&sb, cudaStreamNonBlocking));
	CK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
	CK(cudaMemsetAsync(a, 0, n * sizeof(float), sa));
	CK(cudaMemsetAsync(a, 0, n / 2 * sizeof(float), sa));
	CK(cudaMemsetAsync(b, 0, n * sizeof(float), sb));
	for (int i = 0; i < 8; i++) {
		step<1><<<n / 256, 256, 0, sa>>>(a, n);
		CKL();
	}
	CK(cudaEventRecord(ev, sa));
	CK(cudaStreamWaitEvent(sb, ev, 0));
	for (int i = 0; i < 6; i++) {
		step<2><<<n / 512, 128, 0, sb>>>(b, n);
		CKL();
	}
	smem_kernel<<<64, 256, 256 * sizeof(float), sb>>>(b, n);
	CKL();
	CK(cudaDeviceSynchronize());
	CK(cudaEventDestroy(ev));
	CK(cudaStreamDestroy(sa));
	CK(cudaStreamDestroy(sb));
	CK(cudaFree(a));
	CK(cudaFree(b));
	printf("gpu-streams ok\n");
	return 0;
}
