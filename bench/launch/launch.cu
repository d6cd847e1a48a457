// SPDX-License-Identifier: Apache-2.0
// Launch-bound program for the capture-overhead benchmark: tiny kernels alternating between two
// streams. Prints the host time per launch (the launch loop plus the final synchronisation,
// divided by the launch count), after a warm-up that keeps module loading out of the number.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>

__global__ void empty_kernel(int *x)
{
	if (threadIdx.x == 1000)
		x[0] = 1;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 50000;
	cudaStream_t s[2];
	int *x, nd = 0;

	if (cudaGetDeviceCount(&nd) != cudaSuccess || !nd)
		return 77;
	cudaMalloc(&x, sizeof(int));
	cudaStreamCreateWithFlags(&s[0], cudaStreamNonBlocking);
	cudaStreamCreateWithFlags(&s[1], cudaStreamNonBlocking);
	for (int i = 0; i < 2000; i++)
		empty_kernel<<<1, 32, 0, s[i & 1]>>>(x);
	cudaDeviceSynchronize();
	auto t0 = std::chrono::steady_clock::now();
	for (int i = 0; i < n; i++)
		empty_kernel<<<1, 32, 0, s[i & 1]>>>(x);
	cudaDeviceSynchronize();
	auto t1 = std::chrono::steady_clock::now();
	if (cudaGetLastError() != cudaSuccess) {
		fprintf(stderr, "launch failed\n");
		return 1;
	}
	printf("per_launch_us %.4f launches %d\n",
	       std::chrono::duration<double, std::micro>(t1 - t0).count() / n, n);
	return 0;
}
