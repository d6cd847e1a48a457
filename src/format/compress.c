/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zstd glue for chunk payloads. Without zstd the functions fail with
 * TSM_UNSUPPORTED, which the writer reports at open time (a zstd level was
 * asked for) and the reader at open time (the header requires zstd).
 *
 * The contexts allocate through tsm_set_allocator's hooks, as the rest of
 * the library does. That takes zstd's custom-allocator calls, which zstd.h
 * declares only under ZSTD_STATIC_LINKING_ONLY (its "experimental" part);
 * they have kept their form since zstd 1.0 and the shared library exports
 * them. A refused allocation, when a context is made or inside a call, is
 * TSM_NOMEM.
 */
#include "sbt.h"

#ifdef TSM_HAVE_ZSTD
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>
#include <zstd_errors.h>

static void *zstd_alloc(void *opaque, size_t size)
{
	return tsm__malloc(size);
}

static void zstd_free(void *opaque, void *p)
{
	tsm__free(p);
}

static const ZSTD_customMem zstd_mem = {zstd_alloc, zstd_free, NULL};

/* A zstd error as a status: running out of memory is TSM_NOMEM, anything else `rc`. */
static int zstd_fail(size_t r, int rc, const char *what)
{
	if (ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
		return TSM_FAIL(TSM_NOMEM, "zstd %s: %s", what, ZSTD_getErrorName(r));
	return TSM_FAIL(rc, "zstd %s: %s", what, ZSTD_getErrorName(r));
}

int tsm__zstd_compress(void **ctx, int level, const uint8_t *src, size_t n, tsm__buf *out)
{
	size_t bound = ZSTD_compressBound(n), r;
	int rc;

	if (!*ctx) {
		*ctx = ZSTD_createCCtx_advanced(zstd_mem);
		if (!*ctx)
			return TSM_FAIL(TSM_NOMEM, "zstd compression context");
	}
	rc = tsm__buf_reserve(out, bound);
	if (rc < 0)
		return rc;
	r = ZSTD_compressCCtx(*ctx, out->data + out->len, bound, src, n, level);
	if (ZSTD_isError(r))
		return zstd_fail(r, TSM_IO, "compression failed");
	out->len += r;
	return 0;
}

int tsm__zstd_decompress(void **ctx, const uint8_t *src, size_t n, size_t raw_size, tsm__buf *out)
{
	size_t r;
	int rc;

	if (!*ctx) {
		*ctx = ZSTD_createDCtx_advanced(zstd_mem);
		if (!*ctx)
			return TSM_FAIL(TSM_NOMEM, "zstd decompression context");
	}
	/* At least one byte: a frame that declares 0 bytes still needs a valid destination. */
	rc = tsm__buf_reserve(out, raw_size ? raw_size : 1);
	if (rc < 0)
		return rc;
	r = ZSTD_decompressDCtx(*ctx, out->data + out->len, raw_size, src, n);
	if (ZSTD_isError(r))
		return zstd_fail(r, TSM_CORRUPT, "frame does not decode");
	if (r != raw_size)
		return TSM_FAIL(TSM_CORRUPT, "zstd frame decodes to %zu bytes, header says %zu", r,
				raw_size);
	out->len += r;
	return 0;
}

void tsm__zstd_free(void *cctx, void *dctx)
{
	ZSTD_freeCCtx(cctx);
	ZSTD_freeDCtx(dctx);
}

#else

int tsm__zstd_compress(void **ctx, int level, const uint8_t *src, size_t n, tsm__buf *out)
{
	return TSM_FAIL(TSM_UNSUPPORTED, "this build has no zstd support");
}

int tsm__zstd_decompress(void **ctx, const uint8_t *src, size_t n, size_t raw_size, tsm__buf *out)
{
	return TSM_FAIL(TSM_UNSUPPORTED,
			"zstd-compressed chunk, but this build has no zstd support");
}

void tsm__zstd_free(void *cctx, void *dctx)
{
}

#endif
