/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz-json-import.c - libFuzzer target for the Kineto / Chrome JSON importer.
 *
 * The input bytes are an untrusted JSON trace. Each run imports them with
 * tsm_import_mem into an SBT writer on /dev/null, then checks what the
 * importer promises: it returns 0 or one of its documented statuses, and
 * on failure tsm_last_error_offset() points inside the input (or at its
 * end for truncation) and the detail is not empty. A broken promise
 * aborts, so libFuzzer and the standalone corpus driver report it.
 *
 * The SBT is written to an anonymous in-memory file (memfd_create); when
 * the import succeeds, that file is exported as Perfetto protobuf, Chrome
 * JSON and Kineto JSON into /dev/null, and each export must succeed: the
 * importer can make any string or value a JSON trace can hold, and the
 * exporters must write them all (an NVTX domain of 15000 bytes once
 * overflowed the Perfetto packet buffer).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <tracesmith/tracesmith.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tsm_writer *w = NULL;
	tsm_import_stats st;
	char path[64];
	int rc, fd = memfd_create("fuzz.sbt", MFD_CLOEXEC);

	if (fd < 0)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (tsm_writer_open(path, NULL, &w) < 0)
		abort();
	tsm_clear_error();
	rc = tsm_import_mem(data, size, "fuzz.json", w, &st);
	if (rc < 0) {
		int64_t off = tsm_last_error_offset();

		if (rc != TSM_CORRUPT && rc != TSM_TRUNCATED && rc != TSM_TOO_LARGE &&
		    rc != TSM_EMPTY && rc != TSM_NOMEM && rc != TSM_INVAL && rc != TSM_UNDEFINED)
			abort();
		if (rc != TSM_NOMEM && rc != TSM_INVAL && (off < 0 || (uint64_t)off > size))
			abort();
		if (!tsm_last_error()[0])
			abort();
	} else if (st.json_bytes > size || st.events > st.records + 1) {
		abort();
	}
	if (tsm_writer_close(w) < 0 && rc >= 0)
		abort();
	for (unsigned f = TSM_EXPORT_PERFETTO; rc >= 0 && f <= TSM_EXPORT_KINETO; f++) {
		tsm_export_opts o;

		tsm_export_opts_init(&o);
		o.format = f;
		o.gzip = 0;
		if (tsm_export_file(path, "/dev/null", &o, NULL) < 0)
			abort();
	}
	close(fd);
	return 0;
}
