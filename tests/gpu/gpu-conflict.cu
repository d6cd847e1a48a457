// SPDX-License-Identifier: Apache-2.0
// Takes the process's one CUPTI subscriber before CUDA starts, as another profiler would: the
// agent must leave the program alone (it still runs and exits 0) and record must say why.
#include <cupti.h>
#include "gpu-common.h"

static void CUPTIAPI nop(void *, CUpti_CallbackDomain, CUpti_CallbackId, const void *) {}

__global__ void still_runs(float *x) { x[threadIdx.x] = 1.f; }

int main()
{
	CUpti_SubscriberHandle sub;
	float *x;

	if (cuptiSubscribe(&sub, nop, nullptr) != CUPTI_SUCCESS) {
		fprintf(stderr, "cuptiSubscribe failed: no CUPTI here: skipping\n");
		return 77;
	}
	gpu_count_or_skip();
	CK(cudaMalloc(&x, 256 * sizeof(float)));
	still_runs<<<1, 256>>>(x);
	CK(cudaDeviceSynchronize());
	CK(cudaFree(x));
	cuptiUnsubscribe(sub);
	printf("app ran\n");
	return 0;
}
