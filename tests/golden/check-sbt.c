/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check-sbt: the golden tests' reader-side checks.
 *
 *   check-sbt --manifest bad/MANIFEST      each file must end with its named status
 *   check-sbt --same A.sbt B.sbt           both files hold the same events and definitions
 *
 * A manifest line is "FILE STATUS MODE [EVENTS]": MODE strict opens with
 * TSM_READ_STRICT, recover without; the file is read to the end; the
 * first error (or OK) must be STATUS, and with OK the number of events
 * must be EVENTS. Errors must name the file; decoding errors an offset.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tracesmith/tracesmith.h"

static int read_all(const char *path, unsigned flags, uint64_t *n)
{
	tsm_reader *r;
	const tsm_event *e;
	int rc = tsm_reader_open(path, flags, &r);

	*n = 0;
	if (rc < 0)
		return rc;
	while ((rc = tsm_reader_next(r, &e)) == 0)
		(*n)++;
	tsm_reader_close(r);
	return rc == TSM_END ? 0 : rc;
}

static int manifest(const char *mpath)
{
	char line[1024], dir[1024], path[2048], file[512], status[64], mode[32];
	FILE *f = fopen(mpath, "r");
	int failures = 0, cases = 0;
	const char *slash;

	if (!f) {
		perror(mpath);
		return 1;
	}
	slash = strrchr(mpath, '/');
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - mpath) : 1, slash ? mpath : ".");
	while (fgets(line, sizeof(line), f)) {
		long long want_events = -1;
		uint64_t n;
		int got, k;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		k = sscanf(line, "%511s %63s %31s %lld", file, status, mode, &want_events);
		if (k < 3) {
			fprintf(stderr, "%s: bad line: %s", mpath, line);
			failures++;
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, file);
		tsm_clear_error();
		got = read_all(path, strcmp(mode, "strict") ? 0 : TSM_READ_STRICT, &n);
		cases++;
		if (strcmp(tsm_status_name(got), status)) {
			fprintf(stderr, "FAIL %s (%s): got %s (%s), want %s\n", file, mode,
				tsm_status_name(got), tsm_last_error(), status);
			failures++;
		} else if (got == 0 && want_events >= 0 && (long long)n != want_events) {
			fprintf(stderr, "FAIL %s (%s): %llu events, want %lld\n", file, mode,
				(unsigned long long)n, want_events);
			failures++;
		} else if (got < 0 && !strstr(tsm_last_error(), file)) {
			fprintf(stderr, "FAIL %s: error detail does not name the file: %s\n", file,
				tsm_last_error());
			failures++;
		} else if (got < 0 && got != TSM_EMPTY && tsm_last_error_offset() < 0) {
			fprintf(stderr, "FAIL %s: error carries no offset: %s\n", file,
				tsm_last_error());
			failures++;
		} else {
			printf("ok   %-30s %-8s %s%s%s\n", file, mode, status, got ? ": " : "",
			       got ? tsm_last_error() : "");
		}
	}
	fclose(f);
	printf("%d cases, %d failed\n", cases, failures);
	return failures || !cases;
}

static int same(const char *a, const char *b)
{
	tsm_reader *ra, *rb;
	const tsm_event *ea, *eb;
	uint64_t n = 0;
	int rca, rcb;

	if (tsm_reader_open(a, TSM_READ_STRICT, &ra) < 0 ||
	    tsm_reader_open(b, TSM_READ_STRICT, &rb) < 0) {
		fprintf(stderr, "check-sbt: %s\n", tsm_last_error());
		return 1;
	}
	for (;;) {
		rca = tsm_reader_next(ra, &ea);
		rcb = tsm_reader_next(rb, &eb);
		if (rca != rcb) {
			fprintf(stderr, "check-sbt: event %llu: %s vs %s (%s)\n",
				(unsigned long long)n, tsm_status_name(rca), tsm_status_name(rcb),
				tsm_last_error());
			return 1;
		}
		if (rca)
			break;
		if (memcmp(ea, eb, sizeof(*ea)) ||
		    strcmp(tsm_reader_string(ra, ea->name), tsm_reader_string(rb, eb->name))) {
			fprintf(stderr, "check-sbt: event %llu differs\n", (unsigned long long)n);
			return 1;
		}
		n++;
	}
	if (rca != TSM_END) {
		fprintf(stderr, "check-sbt: %s\n", tsm_last_error());
		return 1;
	}
	printf("same: %llu events\n", (unsigned long long)n);
	tsm_reader_close(ra);
	tsm_reader_close(rb);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--manifest"))
		return manifest(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "--same"))
		return same(argv[2], argv[3]);
	fprintf(stderr, "usage: check-sbt --manifest FILE | --same A B\n");
	return 2;
}
