/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Minimal unit-test helpers. A test program runs its checks, prints one
 * line per failure (file:line: expression) and exits 1 if any failed.
 */
#ifndef TSM_TEST_CHECK_H
#define TSM_TEST_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static int check_failures;

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
			check_failures++;                                                        \
		}                                                                                \
	} while (0)

#define CHECK_EQ_U64(a, b)                                                                      \
	do {                                                                                    \
		uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                                \
		if (a_ != b_) {                                                                 \
			fprintf(stderr,                                                         \
				"%s:%d: CHECK failed: %s == %s (%" PRIu64 " != %" PRIu64 ")\n", \
				__FILE__, __LINE__, #a, #b, a_, b_);                            \
			check_failures++;                                                       \
		}                                                                               \
	} while (0)

/* Check a library call returned `want` (a tsm_status); print the detail if not. */
#define CHECK_RC(call, want)                                                                       \
	do {                                                                                       \
		int rc_ = (call);                                                                  \
		if (rc_ != (want)) {                                                               \
			fprintf(stderr, "%s:%d: %s returned %s (%d), want %s: %s\n", __FILE__,     \
				__LINE__, #call, tsm_status_name(rc_), rc_, tsm_status_name(want), \
				tsm_last_error());                                                 \
			check_failures++;                                                          \
		}                                                                                  \
	} while (0)

#define CHECK_OK(call) CHECK_RC(call, 0)

/* The whole file, malloc'ed (NULL if it cannot be read), its size in *len. */
static inline char *check_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	*len = 0;
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n)
		*len = (size_t)n;
	fclose(f);
	return buf;
}

static inline int check_done(const char *name)
{
	if (check_failures) {
		fprintf(stderr, "%s: %d check(s) failed\n", name, check_failures);
		return 1;
	}
	printf("%s: ok\n", name);
	return 0;
}

#endif
