/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Output sink of the exporters (see sink.h).
 *
 * One 1 MiB buffer that encoders fill in place; when it is full it goes to
 * write(2) directly, or through zlib's deflate (gzip framing, windowBits
 * 15 + 16) into a second staging buffer first. Errors are sticky: the
 * first failure is remembered and returned by every later drain and by
 * close, so encoders can check once per event rather than once per byte.
 *
 * With more than one thread, a full buffer is handed to a writer thread
 * (compression and write(2)) and the encoder goes on in a second buffer:
 * the bytes and their order are the same, so is the deflate stream (the
 * same chunks in the same order). A writer's failure is reported by the
 * next drain or by close, with its detail.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef TSM_HAVE_ZLIB
#include <zlib.h>
#endif

#include "export/sink.h"

#define ZBUF_SIZE (256u << 10)

static void writer_start(tsm__sink *s);

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
			return TSM_FAIL(TSM_IO, "%s: write: %s", s->name, strerror(errno));
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
		z->zalloc = tsm__zalloc;
		z->zfree = tsm__zfree;
		if (deflateInit2(z, gzip_level > 9 ? 9 : gzip_level, Z_DEFLATED, 15 + 16, 8,
				 Z_DEFAULT_STRATEGY) != Z_OK) {
			tsm__free(z);
			return TSM_FAIL(TSM_NOMEM, "deflateInit2 for %s", path);
		}
		s->gz = z;
	}
#endif
	writer_start(s);
	return 0;
}

#ifdef TSM_HAVE_ZLIB
static int deflate_out(tsm__sink *s, const uint8_t *p, size_t n, int flush)
{
	z_stream *z = s->gz;
	int zr, wr;

	z->next_in = (Bytef *)p;
	z->avail_in = (uInt)n;
	do {
		z->next_out = s->zbuf;
		z->avail_out = ZBUF_SIZE;
		zr = deflate(z, flush);
		if (zr == Z_STREAM_ERROR)
			return TSM_FAIL(TSM_IO, "%s: deflate failed", s->name);
		wr = write_all(s, s->zbuf, ZBUF_SIZE - z->avail_out);
		if (wr < 0)
			return wr;
	} while (z->avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
	return 0;
}
#endif

/* Compress (when gzip) and write one buffer (on the writer thread when there is one: only the
 * caller records the failure in s->err). */
static int emit(tsm__sink *s, const uint8_t *p, size_t n)
{
#ifdef TSM_HAVE_ZLIB
	if (s->gz)
		return deflate_out(s, p, n, Z_NO_FLUSH);
#endif
	return write_all(s, p, n);
}

struct sinkpipe {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint8_t *full; /* handed to the writer; NULL when it is idle */
	size_t full_len;
	uint8_t *spare; /* the other buffer, free */
	int quit;
	tsm__err err; /* the writer's first failure */
};

static void *writer_main(void *arg)
{
	tsm__sink *s = arg;
	struct sinkpipe *w = s->pipe;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->full && !w->quit)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->full)
			break;
		pthread_mutex_unlock(&w->mu);
		int rc = w->err.status ? 0 : emit(s, w->full, w->full_len);
		pthread_mutex_lock(&w->mu);
		if (rc < 0 && !w->err.status)
			tsm__err_keep(&w->err, rc);
		w->spare = w->full;
		w->full = NULL;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Wait until the writer is idle; its first failure becomes this thread's (sticky). */
static int writer_idle(tsm__sink *s)
{
	struct sinkpipe *w = s->pipe;

	pthread_mutex_lock(&w->mu);
	while (w->full)
		pthread_cond_wait(&w->cv, &w->mu);
	if (w->err.status && !s->err)
		s->err = tsm__err_raise(&w->err);
	pthread_mutex_unlock(&w->mu);
	return s->err;
}

static void writer_start(tsm__sink *s)
{
	struct sinkpipe *w;
	struct stat st;

	if (tsm__threads() < 2)
		return;
	/*
	 * The thread is there to overlap the output's cost (compression, a
	 * write(2) that copies into the page cache or blocks on writeback) with
	 * encoding. A character device such as /dev/null costs nothing to write
	 * to: there the thread only added a wake-up per MiB, preempting the two
	 * busy threads on a two-core machine (3,700 context switches per 10M-event
	 * Perfetto export; 450 without it).
	 */
	if (!s->gz && fstat(s->fd, &st) == 0 && S_ISCHR(st.st_mode))
		return;
	w = tsm__calloc(1, sizeof(*w));
	if (w)
		w->spare = tsm__malloc(TSM__SINK_BUF + 64);
	if (!w || !w->spare) {
		if (w)
			tsm__free(w->spare);
		tsm__free(w);
		return; /* no second buffer: write on this thread */
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	s->pipe = w;
	if (pthread_create(&w->th, NULL, writer_main, s) != 0) {
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv);
		tsm__free(w->spare);
		tsm__free(w);
		s->pipe = NULL;
	}
}

/* Stop the writer after what it holds; back to writing on this thread. */
static int writer_stop(tsm__sink *s)
{
	struct sinkpipe *w = s->pipe;
	int rc;

	if (!w)
		return s->err;
	rc = writer_idle(s);
	pthread_mutex_lock(&w->mu);
	w->quit = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->th, NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	tsm__free(w->spare);
	tsm__free(w);
	s->pipe = NULL;
	return rc;
}

int tsm__sink_drain(tsm__sink *s)
{
	struct sinkpipe *w = s->pipe;
	int rc;

	if (s->err)
		return s->err;
	if (!s->len)
		return 0;
	s->in_bytes += s->len;
	if (!w) {
		rc = emit(s, s->buf, s->len);
		s->len = 0;
		if (rc < 0)
			s->err = rc;
		return rc;
	}
	/* hand the full buffer over and go on in the one the writer finished */
	rc = writer_idle(s);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&w->mu);
	w->full = s->buf;
	w->full_len = s->len;
	s->buf = w->spare;
	w->spare = NULL;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	s->len = 0;
	return 0;
}

int tsm__sink_close(tsm__sink *s)
{
	int rc = s->err;

	if (s->buf && !rc)
		rc = tsm__sink_drain(s);
	if (s->pipe) {
		int rc2 = writer_stop(s);

		if (!rc)
			rc = rc2;
	}
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
