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
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tracesmith/tracesmith.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tsm_writer *w = NULL;
	tsm_import_stats st;
	int rc;

	if (tsm_writer_open("/dev/null", NULL, &w) < 0)
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
	tsm_writer_close(w);
	return 0;
}
