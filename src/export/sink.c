/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Output sink of the exporters (see sink.h).
 *
 * One 1 MiB buffer that encoders fill in place; when it is full it goes to
 * write(2) directly, or through zlib's deflate (gzip framing, windowBits
 * 15 + 16) into a second staging buffer first. Errors are sticky: the
 * first failure is remembered and returned by every later drain and by
 * close, so encoders can check once per event rather than once per byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#ifdef TSM_HAVE_ZLIB
#include <zlib.h>
#endif

#include "export/sink.h"

#define ZBUF_SIZE (256u << 10)

int tsm__have_zlib(void)
{
#ifdef TSM_HAVE_ZLIB
	return 1;
#else
	return 0;
#endif
}

static int write_all(tsm__sink *s, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(s->fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return s->err = TSM_FAIL(TSM_IO, "%s: write: %s", s->name, strerror(errno));
		}
		p += w;
		n -= (size_t)w;
		s->out_bytes += (uint64_t)w;
	}
	return 0;
}

int tsm__sink_open(tsm__sink *s, const char *path, int gzip_level)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	if (gzip_level > 0 && !tsm__have_zlib())
		return TSM_FAIL(TSM_UNSUPPORTED,
				"%s: gzip output needs zlib, and this build has none "
				"(rebuild with zlib1g-dev installed)",
				path);
	s->name = tsm__strdup(path);
	s->buf = tsm__malloc(TSM__SINK_BUF + 64);
	if (!s->name || !s->buf)
		return TSM_FAIL(TSM_NOMEM, "output buffer for %s", path);
	if (!strcmp(path, "-")) {
		s->fd = STDOUT_FILENO;
	} else {
		s->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (s->fd < 0)
			return TSM_FAIL(TSM_IO, "%s: %s", path, strerror(errno));
		s->own_fd = 1;
	}
#ifdef TSM_HAVE_ZLIB
	if (gzip_level > 0) {
		z_stream *z = tsm__calloc(1, sizeof(*z));

		s->zbuf = tsm__malloc(ZBUF_SIZE);
		if (!z || !s->zbuf) {
			tsm__free(z);
			return TSM_FAIL(TSM_NOMEM, "gzip state for %s", path);
		}
		if (deflateInit2(z, gzip_level > 9 ? 9 : gzip_level, Z_DEFLATED, 15 + 16, 8,
				 Z_DEFAULT_STRATEGY) != Z_OK) {
			tsm__free(z);
			return TSM_FAIL(TSM_NOMEM, "deflateInit2 for %s", path);
		}
		s->gz = z;
	}
#endif
	return 0;
}

#ifdef TSM_HAVE_ZLIB
static int deflate_out(tsm__sink *s, const uint8_t *p, size_t n, int flush)
{
	z_stream *z = s->gz;
	int zr;

	z->next_in = (Bytef *)p;
	z->avail_in = (uInt)n;
	do {
		z->next_out = s->zbuf;
		z->avail_out = ZBUF_SIZE;
		zr = deflate(z, flush);
		if (zr == Z_STREAM_ERROR)
			return s->err = TSM_FAIL(TSM_IO, "%s: deflate failed", s->name);
		if (write_all(s, s->zbuf, ZBUF_SIZE - z->avail_out) < 0)
			return s->err;
	} while (z->avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
	return 0;
}
#endif

int tsm__sink_drain(tsm__sink *s)
{
	int rc = 0;

	if (s->err)
		return s->err;
	if (!s->len)
		return 0;
	s->in_bytes += s->len;
#ifdef TSM_HAVE_ZLIB
	if (s->gz)
		rc = deflate_out(s, s->buf, s->len, Z_NO_FLUSH);
	else
#endif
		rc = write_all(s, s->buf, s->len);
	s->len = 0;
	return rc;
}

int tsm__sink_close(tsm__sink *s)
{
	int rc = s->err;

	if (s->buf && !rc)
		rc = tsm__sink_drain(s);
#ifdef TSM_HAVE_ZLIB
	if (s->gz) {
		if (!rc)
			rc = deflate_out(s, NULL, 0, Z_FINISH);
		deflateEnd(s->gz);
		tsm__free(s->gz);
	}
#endif
	if (s->own_fd && s->fd >= 0 && close(s->fd) < 0 && !rc)
		rc = TSM_FAIL(TSM_IO, "%s: close: %s", s->name, strerror(errno));
	tsm__free(s->zbuf);
	tsm__free(s->buf);
	tsm__free(s->name);
	{
		uint64_t in = s->in_bytes, out = s->out_bytes;

		memset(s, 0, sizeof(*s));
		s->in_bytes = in; /* counters stay readable after close */
		s->out_bytes = out;
	}
	s->fd = -1;
	return rc;
}
