/* SPDX-License-Identifier: Apache-2.0 */
/* tsm_demangle: mangled kernel names become readable; everything else passes through. */
#include <string.h>

#include "check.h"
#include "tracesmith/tracesmith.h"

static void test_passthrough(void)
{
	char buf[256];
	const char *plain = "volta_sgemm_128x64_nn";
	const char *bad = "_Z!!not-a-mangled-name";

	/* Not "_Z": the very same pointer comes back, the buffer is untouched. */
	buf[0] = 'x';
	CHECK(tsm_demangle(plain, buf, sizeof(buf)) == plain);
	CHECK(buf[0] == 'x');
	CHECK(tsm_demangle("", buf, sizeof(buf))[0] == 0);
	CHECK(tsm_demangle("_", buf, sizeof(buf))[0] == '_');
	/* Starts with _Z but is not valid: unchanged. */
	CHECK(tsm_demangle(bad, buf, sizeof(buf)) == bad);
	/* No buffer: unchanged. */
	CHECK(tsm_demangle("_Z1fv", NULL, 0) != NULL);
	CHECK(!strcmp(tsm_demangle("_Z1fv", buf, 0), "_Z1fv"));
}

static void test_demangle(void)
{
#ifdef TSM_HAVE_CXA_DEMANGLE
	char buf[256];
	const char *gemm = "_Z12gemm_kernel2ILi128ELi64EEvPKfS1_Pfiii";
	const char *ew = "_ZN2at6native29vectorized_elementwise_kernelILi4ENS0_11FillFunctorIfEENS_"
			 "6detail5ArrayIPcLi1EEEEEviT0_T1_";

	CHECK(!strcmp(tsm_demangle("_Z1fv", buf, sizeof(buf)), "f()"));
	CHECK(tsm_demangle("_Z1fv", buf, sizeof(buf)) == buf);
	CHECK(!strcmp(
	    tsm_demangle(gemm, buf, sizeof(buf)),
	    "void gemm_kernel2<128, 64>(float const*, float const*, float*, int, int, int)"));
	CHECK(!strcmp(
	    tsm_demangle(ew, buf, sizeof(buf)),
	    "void at::native::vectorized_elementwise_kernel<4, at::native::FillFunctor<float>, "
	    "at::detail::Array<char*, 1> >(int, at::native::FillFunctor<float>, "
	    "at::detail::Array<char*, 1>)"));
	/* A small buffer gets a cut, NUL-terminated prefix. */
	CHECK(!strcmp(tsm_demangle(gemm, buf, 12), "void gemm_k"));
	CHECK(!strcmp(tsm_demangle("_Z1fv", buf, 1), ""));
	printf("demangle: libstdc++ __cxa_demangle in use\n");
#else
	char buf[64];

	CHECK(!strcmp(tsm_demangle("_Z1fv", buf, sizeof(buf)), "_Z1fv"));
	printf("demangle: built without a demangler, names pass through\n");
#endif
}

int main(void)
{
	test_passthrough();
	test_demangle();
	return check_done("demangle");
}
