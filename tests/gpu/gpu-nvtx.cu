// SPDX-License-Identifier: Apache-2.0
// NVTX: nested push/pop ranges with kernels inside, a start/end range, a marker and a range in
// a named domain. The checker links kernels to the innermost range through `external`.
#include <nvtx3/nvToolsExt.h>
#include "gpu-common.h"

__global__ void in_outer(float *x) { x[threadIdx.x] += 1.f; }
__global__ void in_inner(float *x) { x[threadIdx.x] += 2.f; }
__global__ void in_startend(float *x) { x[threadIdx.x] += 3.f; }
__global__ void in_domain(float *x) { x[threadIdx.x] += 4.f; }

int main()
{
	float *x;
	nvtxRangeId_t id;
	nvtxDomainHandle_t dom;
	nvtxEventAttributes_t at = {};

	gpu_count_or_skip();
	CK(cudaMalloc(&x, 256 * sizeof(float)));
	CK(cudaDeviceSynchronize());
	nvtxRangePushA("outer");
	for (int i = 0; i < 2; i++)
		in_outer<<<1, 256>>>(x);
	nvtxRangePushA("inner");
	for (int i = 0; i < 3; i++)
		in_inner<<<1, 256>>>(x);
	CK(cudaDeviceSynchronize());
	nvtxRangePop();
	nvtxRangePop();
	id = nvtxRangeStartA("startend");
	in_startend<<<1, 256>>>(x);
	CK(cudaDeviceSynchronize());
	nvtxRangeEnd(id);
	nvtxMarkA("mark-one");
	dom = nvtxDomainCreateA("my-domain");
	at.version = NVTX_VERSION;
	at.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
	at.messageType = NVTX_MESSAGE_TYPE_ASCII;
	at.message.ascii = "domain-range";
	at.colorType = NVTX_COLOR_ARGB;
	at.color = 0xFF00FF00u;
	nvtxDomainRangePushEx(dom, &at);
	in_domain<<<1, 256>>>(x);
	CK(cudaDeviceSynchronize());
	nvtxDomainRangePop(dom);
	CKL();
	CK(cudaFree(x));
	printf("nvtx ok\n");
	return 0;
}
