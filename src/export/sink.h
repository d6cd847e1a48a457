/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Buffered output sink shared by the exporters: a file or descriptor,
 * optionally gzip-compressed through zlib. Encoders write straight into
 * the buffer (tsm__sink_room gives a pointer with at least N free bytes),
 * so the hot paths never call a function per field.
 */
#ifndef TSM_EXPORT_SINK_H
#define TSM_EXPORT_SINK_H

#include <stdint.h>

#include "common/internal.h"

#define TSM__SINK_BUF (1u << 20)

typedef struct tsm__sink {
	int fd, own_fd;
	char *name;
	void *gz;     /* z_stream * when compressing */
	uint8_t *buf; /* TSM__SINK_BUF + slack bytes */
	size_t len;
	uint8_t *zbuf;	    /* compressed output staging */
	uint64_t in_bytes;  /* bytes produced by the encoder */
	uint64_t out_bytes; /* bytes written to the file */
	int err;	    /* first error (sticky) */
	void *pipe;	    /* the writer thread (sink.c), or NULL */
} tsm__sink;

/* Open `path` ("-": standard output) for writing. gzip_level 0: plain, 1..9: gzip.
 * Returns 0, TSM_IO, TSM_NOMEM or TSM_UNSUPPORTED (gzip without zlib). */
int tsm__sink_open(tsm__sink *s, const char *path, int gzip_level);
/* Write everything out; returns the sink's first error. */
int tsm__sink_drain(tsm__sink *s);
/* Finish the gzip stream, flush, close; returns the first error. Safe on a zeroed sink. */
int tsm__sink_close(tsm__sink *s);

/* Make sure `n` (<= TSM__SINK_BUF) bytes are free at s->buf + s->len. */
static inline int tsm__sink_room(tsm__sink *s, size_t n)
{
	if (TSM__LIKELY(s->len + n <= TSM__SINK_BUF))
		return 0;
	return tsm__sink_drain(s);
}

static inline int tsm__sink_put(tsm__sink *s, const void *p, size_t n)
{
	const uint8_t *src = p;

	while (n > 0) {
		size_t chunk = n < TSM__SINK_BUF / 2 ? n : TSM__SINK_BUF / 2;
		int rc = tsm__sink_room(s, chunk);

		if (rc < 0)
			return rc;
		memcpy(s->buf + s->len, src, chunk);
		s->len += chunk;
		src += chunk;
		n -= chunk;
	}
	return 0;
}

/* Is gzip support compiled in? */
int tsm__have_zlib(void);

#endif
