// SPDX-License-Identifier: Apache-2.0
// Ends by a signal after 200 kernels: "term" raises SIGTERM (the agent must finalise the file),
// "kill" sleeps past a few flush intervals and raises SIGKILL (the file must stay readable up
// to the last flush).
#include <csignal>
#include <cstring>
#include <unistd.h>
#include "gpu-common.h"

__global__ void before_signal(float *x) { x[threadIdx.x] += 1.f; }

int main(int argc, char **argv)
{
	const char *how = argc > 1 ? argv[1] : "term";
	float *x;

	gpu_count_or_skip();
	CK(cudaMalloc(&x, 256 * sizeof(float)));
	for (int i = 0; i < 200; i++)
		before_signal<<<1, 256>>>(x);
	CK(cudaDeviceSynchronize());
	printf("200 kernels done; ending by SIG%s\n", strcmp(how, "kill") ? "TERM" : "KILL");
	fflush(stdout);
	if (!strcmp(how, "kill")) {
		usleep(1500 * 1000);
		raise(SIGKILL);
	}
	raise(SIGTERM);
	return 0;
}
