/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the common module: statuses, error detail, intern table, CRC-32C, buffers. */
#include <string.h>

#include "check.h"
#include "common/internal.h"
#include "tracesmith/tracesmith.h"

static void test_status(void)
{
	CHECK(!strcmp(tsm_status_name(TSM_CHECKSUM), "CHECKSUM"));
	CHECK(!strcmp(tsm_strerror(TSM_CHECKSUM), "checksum mismatch"));
	CHECK(!strcmp(tsm_status_name(12345), "UNKNOWN"));
	CHECK(!strcmp(tsm_status_name(TSM_END), "END"));
	tsm_clear_error();
	CHECK(tsm_last_error_offset() == -1);
	CHECK(TSM_FAIL_AT(TSM_CORRUPT, 0x4f20, "chunk %d: bad", 12) == TSM_CORRUPT);
	CHECK(tsm_last_error_status() == TSM_CORRUPT);
	CHECK(tsm_last_error_offset() == 0x4f20);
	CHECK(!strcmp(tsm_last_error(), "chunk 12: bad"));
	tsm__error_prefix("file %s", "x.sbt");
	CHECK(!strcmp(tsm_last_error(), "file x.sbt: chunk 12: bad"));
	tsm_clear_error();
	CHECK(tsm_last_error()[0] == 0);
}

static void test_crc(void)
{
	/* Standard CRC-32C check value. */
	CHECK(tsm__crc32c(0, "123456789", 9) == 0xe3069283u);
	/* Incremental == one shot. */
	CHECK(tsm__crc32c(tsm__crc32c(0, "1234", 4), "56789", 5) == 0xe3069283u);
	CHECK(tsm__crc32c(0, "", 0) == 0);
}

static void test_intern(void)
{
	tsm_intern *t;
	uint32_t a, b, c, id;
	size_t len;
	const char *s;

	CHECK_OK(tsm_intern_create(&t));
	CHECK(tsm_intern_count(t) == 0);
	CHECK_OK(tsm_intern_str(t, "cudaLaunchKernel", &a));
	CHECK_OK(tsm_intern_str(t, "cudaMemcpyAsync", &b));
	CHECK_OK(tsm_intern_str(t, "cudaLaunchKernel", &c));
	CHECK(a == 1 && b == 2 && c == 1);
	CHECK_OK(tsm_intern_add(t, "", 0, &id));
	CHECK(id == 3);
	s = tsm_intern_borrow(t, b, &len);
	CHECK(s && len == 15 && !strcmp(s, "cudaMemcpyAsync"));
	CHECK(tsm_intern_borrow(t, 0, NULL) == NULL);
	CHECK(tsm_intern_borrow(t, 99, NULL) == NULL);
	/* Many entries cross directory segments; ids stay dense and lookups exact. */
	for (int i = 0; i < 100000; i++) {
		char buf[32];

		snprintf(buf, sizeof(buf), "name-%d", i);
		CHECK_OK(tsm_intern_str(t, buf, &id));
		if (id != (uint32_t)i + 4) {
			CHECK(id == (uint32_t)i + 4);
			break;
		}
	}
	CHECK(!strcmp(tsm_intern_borrow(t, 4 + 77777, NULL), "name-77777"));
	/* Blobs are 8-byte aligned (stacks and kv lists are typed arrays). */
	{
		tsm_frame f[2] = {{.pc = 0x401000, .function = a}, {.pc = 0x402000}};
		const tsm_frame *g;

		CHECK_OK(tsm_intern_add(t, f, sizeof(f), &id));
		g = tsm_intern_borrow(t, id, &len);
		CHECK(((uintptr_t)g & 7) == 0 && len == sizeof(f) && g[1].pc == 0x402000);
	}
	tsm_intern_destroy(t);
	tsm_intern_destroy(NULL);
}

static void test_buf(void)
{
	tsm__buf b = {0};

	for (int i = 0; i < 1000; i++)
		CHECK_OK(tsm__buf_append(&b, "abcd", 4));
	CHECK(b.len == 4000 && !memcmp(b.data + 3996, "abcd", 4));
	tsm__buf_fini(&b);
	CHECK(b.data == NULL && b.len == 0);
}

static void test_grow(void)
{
	uint32_t *a = NULL, *n;
	size_t cap = 0, huge = SIZE_MAX / 4 + 1;

	for (uint32_t i = 0; i < 100; i++) {
		if (i == cap) {
			n = tsm__grow(a, &cap, 8, sizeof(*a));
			CHECK(n != NULL);
			a = n;
		}
		a[i] = i;
	}
	CHECK(cap == 128 && a[99] == 99);
	/* doubling past SIZE_MAX, or an element count times size past it: NULL, unchanged */
	CHECK(tsm__grow(a, &huge, 8, 4) == NULL && huge == SIZE_MAX / 4 + 1);
	huge = SIZE_MAX / 2 + 1;
	CHECK(tsm__grow(a, &huge, 8, 1) == NULL && huge == SIZE_MAX / 2 + 1);
	CHECK(a[99] == 99);
	tsm__free(a);
}

static void test_names(void)
{
	CHECK(!strcmp(tsm_event_kind_name(TSM_EV_KERNEL), "kernel"));
	CHECK(tsm_event_kind_from_name("memcpy") == TSM_EV_MEMCPY);
	CHECK(tsm_event_kind_from_name("nvtx") == TSM_EV_NVTX_RANGE);
	CHECK(tsm_event_kind_from_name("bogus") == TSM_EV_NONE);
	CHECK(!strcmp(tsm_event_kind_name(200), "?"));
	CHECK(!strcmp(tsm_copy_kind_name(TSM_COPY_H2D), "HtoD"));
}

int main(void)
{
	test_status();
	test_crc();
	test_intern();
	test_buf();
	test_grow();
	test_names();
	return check_done("test-common");
}
