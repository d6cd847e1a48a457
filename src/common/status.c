/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Status names and messages (generated from TSM_STATUS_LIST) and the
 * thread-local error detail. The detail is a fixed buffer per thread so
 * that recording an error can never fail or allocate.
 */
#include <stdio.h>
#include <time.h>

#include "internal.h"

#define DETAIL_MAX 512

static _Thread_local struct {
	int status;
	int64_t offset;
	char detail[DETAIL_MAX];
} last;

const char *tsm_status_name(int status)
{
	switch (status) {
#define X(name, value, msg) \
	case value:         \
		return #name;
		TSM_STATUS_LIST(X)
#undef X
	}
	return "UNKNOWN";
}

const char *tsm_strerror(int status)
{
	switch (status) {
#define X(name, value, msg) \
	case value:         \
		return msg;
		TSM_STATUS_LIST(X)
#undef X
	}
	return "unknown status";
}

int tsm__fail(int status, int64_t offset, const char *fmt, ...)
{
	va_list ap;

	last.status = status;
	last.offset = offset;
	va_start(ap, fmt);
	vsnprintf(last.detail, sizeof(last.detail), fmt, ap);
	va_end(ap);
	return status;
}

void tsm__error_prefix(const char *fmt, ...)
{
	char old[DETAIL_MAX];
	size_t n;
	va_list ap;

	memcpy(old, last.detail, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(last.detail, sizeof(last.detail), fmt, ap);
	va_end(ap);
	if (!old[0])
		return;
	n = strlen(last.detail);
	/* "prefix: old", cut to the buffer. */
	for (const char *p = ": "; *p && n < DETAIL_MAX - 1; p++)
		last.detail[n++] = *p;
	for (const char *p = old; *p && n < DETAIL_MAX - 1; p++)
		last.detail[n++] = *p;
	last.detail[n] = 0;
}

void tsm__err_keep(tsm__err *e, int status)
{
	e->status = status;
	e->offset = tsm_last_error_offset();
	snprintf(e->detail, sizeof(e->detail), "%s", last.detail);
}

int tsm__err_raise(const tsm__err *e)
{
	return tsm__fail(e->status, e->offset, "%s", e->detail);
}

int tsm__error_at(int status, int64_t offset)
{
	last.status = status;
	last.offset = offset;
	return status;
}

const char *tsm_last_error(void)
{
	return last.detail;
}

int tsm_last_error_status(void)
{
	return last.status;
}

int64_t tsm_last_error_offset(void)
{
	return last.status ? last.offset : -1;
}

void tsm_clear_error(void)
{
	last.status = 0;
	last.offset = -1;
	last.detail[0] = '\0';
}

const char *tsm_version(void)
{
	return TSM_VERSION_STRING
#ifdef TSM_HAVE_ZSTD
	    " +zstd"
#endif
#ifdef TSM_HAVE_LIBUNWIND
	    " +libunwind"
#endif
#ifdef TSM_HAVE_CUPTI
	    " +cupti"
#endif
	    ;
}

unsigned tsm_build_features(void)
{
	unsigned f = 0;
#ifdef TSM_HAVE_ZSTD
	f |= TSM_FEATURE_ZSTD;
#endif
#ifdef TSM_HAVE_LIBUNWIND
	f |= TSM_FEATURE_LIBUNWIND;
#endif
#ifdef TSM_HAVE_CUPTI
	f |= TSM_FEATURE_CUPTI;
#endif
	return f;
}

uint64_t tsm_now_ns(void)
{
	struct timespec ts;

#ifdef CLOCK_MONOTONIC_RAW
	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
#else
	clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
