/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz-sbt-reader.c - libFuzzer target for the SBT reader and dump.
 *
 * The input bytes are an untrusted SBT file. Every chunk carries a CRC-32C,
 * so almost every mutation of a valid file dies at the checksum and the
 * decoders behind it would never see fuzzed bytes. Each input is therefore
 * run twice: as it is (the checksum and framing checks), and, when it
 * differs, with the header, chunk and footer CRCs recomputed (fix_crcs),
 * which walks the chunk framing of docs/format/sbt.md and lets mutated
 * payloads reach the decoders.
 *
 * Each run puts the bytes in an anonymous in-memory file (memfd_create),
 * so the reader sees a real descriptor with a size, exactly as it sees a
 * file on disk, and nothing touches the disk. Then, on that one file:
 *   1. tsm_reader_open_fd and iterate every event with tsm_reader_next,
 *      checking what the reader promises about each event it returns
 *      (known kind, end >= start, every id it hands out resolves);
 *   2. tsm_reader_seek_ns to a time taken from the data (the middle of
 *      what was seen, or 0) and iterate again;
 *   3. tsm_sbt_dump the same bytes (through /proc/self/fd) into /dev/null;
 *   4. export them as Perfetto protobuf, Chrome JSON and Kineto JSON into
 *      /dev/null (the exporters trust what the reader returns: an NVTX domain
 *      of 15000 bytes once overflowed the Perfetto packet buffer).
 * A broken promise aborts, so libFuzzer (and the standalone corpus driver)
 * report it like a crash. Statuses outside the documented set abort too.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <tracesmith/tracesmith.h>

#include "format/sbt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the reader promises about every event it returns. */
static void check_event(const tsm_reader *r, const tsm_event *ev)
{
	size_t n;

	if (!ev || ev->kind >= TSM_EV__COUNT || ev->end_ns < ev->start_ns)
		abort();
	if (ev->name && !tsm_reader_string(r, ev->name))
		abort();
	if (ev->stack && !tsm_reader_stack(r, ev->stack, &n))
		abort();
	if (ev->meta && !tsm_reader_kvlist(r, ev->meta, &n))
		abort();
}

/* The end of iteration is TSM_END or an error from the status list, nothing else. */
static void check_end(int rc)
{
	if (rc != TSM_END && (rc >= 0 || !strcmp(tsm_status_name(rc), "UNKNOWN")))
		abort();
}

/* Iterate to the end, widening [*lo, *hi] to the start times seen. */
static void drain(tsm_reader *r, uint64_t *lo, uint64_t *hi)
{
	const tsm_event *ev;
	int rc;

	while ((rc = tsm_reader_next(r, &ev)) == 0) {
		check_event(r, ev);
		if (ev->start_ns < *lo)
			*lo = ev->start_ns;
		if (ev->start_ns > *hi)
			*hi = ev->start_ns;
	}
	check_end(rc);
}

/*
 * Recompute the CRCs of the header (over its first 28 bytes), of every
 * complete chunk (16-byte header: type, size, flags, reserved, CRC over the
 * first 12 header bytes and the payload) and of a footer in the last 32
 * bytes. Returns 1 if any byte changed.
 */
static int fix_crcs(uint8_t *p, size_t n)
{
	uint8_t old[4];
	size_t off;
	int changed = 0;

	if (n < SBT_HEADER_SIZE || memcmp(p, SBT_MAGIC, 8))
		return 0;
	memcpy(old, p + 28, 4);
	tsm__put_le32(p + 28, tsm__crc32c(0, p, 28));
	changed |= memcmp(old, p + 28, 4) != 0;

	off = tsm__get_le16(p + 8);
	if (off < SBT_HEADER_SIZE)
		off = SBT_HEADER_SIZE;
	while (off <= n && n - off >= SBT_CHUNK_HEADER) {
		uint8_t *h = p + off;
		uint32_t len = tsm__get_le32(h + 4), crc;

		if (len > n - off - SBT_CHUNK_HEADER)
			break;
		crc = tsm__crc32c(tsm__crc32c(0, h, 12), h + SBT_CHUNK_HEADER, len);
		changed |= tsm__get_le32(h + 12) != crc;
		tsm__put_le32(h + 12, crc);
		off += SBT_CHUNK_HEADER + (size_t)len;
	}

	if (n >= SBT_HEADER_SIZE + SBT_FOOTER_SIZE) {
		uint8_t *f = p + n - SBT_FOOTER_SIZE;

		if (!memcmp(f, SBT_FOOTER_MAGIC, 8)) {
			memcpy(old, f + 28, 4);
			tsm__put_le32(f + 28, tsm__crc32c(0, f, 28));
			changed |= memcmp(old, f + 28, 4) != 0;
		}
	}
	return changed;
}

static void run_one(const uint8_t *data, size_t size)
{
	uint64_t lo = UINT64_MAX, hi = 0, mid;
	tsm_reader *r = NULL;
	char path[64];
	size_t off = 0;
	FILE *null;
	int fd, rc;

	fd = memfd_create("fuzz.sbt", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	while (off < size) {
		ssize_t k = write(fd, data + off, size - off);
		if (k <= 0)
			abort();
		off += (size_t)k;
	}
	if (lseek(fd, 0, SEEK_SET) != 0)
		abort();

	rc = tsm_reader_open_fd(fd, "fuzz.sbt", 0, &r);
	if (rc < 0)
		check_end(rc);
	else {
		drain(r, &lo, &hi);
		mid = lo <= hi ? lo + (hi - lo) / 2 : 0;
		if (tsm_reader_seek_ns(r, mid, UINT64_MAX) == 0)
			drain(r, &lo, &hi);
		if (!tsm_reader_info(r))
			abort();
		tsm_reader_close(r);
	}

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	null = fopen("/dev/null", "w");
	if (!null)
		abort();
	tsm_sbt_dump(path, null, TSM_DUMP_EVENTS | TSM_DUMP_COLUMNS);
	fclose(null);
	for (unsigned f = TSM_EXPORT_PERFETTO; f <= TSM_EXPORT_KINETO; f++) {
		tsm_export_opts o;

		tsm_export_opts_init(&o);
		o.format = f;
		o.gzip = 0;
		rc = tsm_export_file(path, "/dev/null", &o, NULL);
		if (rc < 0)
			check_end(rc);
	}
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	run_one(data, size);
	copy = malloc(size ? size : 1);
	if (!copy)
		abort();
	memcpy(copy, data, size);
	if (fix_crcs(copy, size))
		run_one(copy, size);
	free(copy);
	return 0;
}
