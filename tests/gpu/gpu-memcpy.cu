// SPDX-License-Identifier: Apache-2.0
// Every copy direction once: HtoD and DtoH from pageable and from pinned memory, DtoD, and a
// peer copy when there are two GPUs. Prints "p2p=0|1" so the checker knows what to expect.
#include <cstring>
#include "gpu-common.h"

int main()
{
	const size_t bytes = 1 << 20;
	int ndev = gpu_count_or_skip(), p2p = 0;
	char *h = (char *)malloc(bytes), *hp;
	void *d1, *d2;
	cudaStream_t s;

	memset(h, 1, bytes);
	CK(cudaMallocHost(&hp, bytes));
	memset(hp, 2, bytes);
	CK(cudaMalloc(&d1, bytes));
	CK(cudaMalloc(&d2, bytes));
	CK(cudaStreamCreate(&s));
	CK(cudaMemcpy(d1, h, bytes, cudaMemcpyHostToDevice));
	CK(cudaMemcpyAsync(d2, hp, bytes, cudaMemcpyHostToDevice, s));
	CK(cudaStreamSynchronize(s));
	CK(cudaMemcpy(h, d1, bytes, cudaMemcpyDeviceToHost));
	CK(cudaMemcpyAsync(hp, d2, bytes, cudaMemcpyDeviceToHost, s));
	CK(cudaStreamSynchronize(s));
	CK(cudaMemcpy(d2, d1, bytes, cudaMemcpyDeviceToDevice));
	if (ndev > 1) {
		void *p;

		CK(cudaSetDevice(1));
		CK(cudaMalloc(&p, bytes));
		CK(cudaSetDevice(0));
		CK(cudaMemcpyPeer(p, 1, d1, 0, bytes));
		p2p = 1;
	}
	CK(cudaDeviceSynchronize());
	CK(cudaFree(d1));
	CK(cudaFree(d2));
	CK(cudaFreeHost(hp));
	CK(cudaStreamDestroy(s));
	free(h);
	printf("p2p=%d\n", p2p);
	return 0;
}
