/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the JSON importer through tsm_import_mem: exact us -> ns
 * conversion (no floating point), the mapping of a Kineto kernel and its
 * args, metadata lists for unmapped args, the DROPPED record for unmapped
 * records, the ids of Chrome flow records (numbers, numeric strings, hashed
 * strings), and errors with byte offsets for malformed input (truncated,
 * bad literal, deep nesting, huge numbers, chunk-crossing strings).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tracesmith/tracesmith.h>

#include "check.h"

static char path[] = "/tmp/tsm-test-import-XXXXXX";

static int import_str(const char *json, tsm_import_stats *st)
{
	tsm_writer *w = NULL;
	int rc, rc2;

	rc = tsm_writer_open(path, NULL, &w);
	if (rc < 0)
		return rc;
	rc = tsm_import_mem(json, strlen(json), "test.json", w, st);
	rc2 = tsm_writer_close(w);
	return rc < 0 ? rc : rc2;
}

/* Read back the events of `path` into evs (at most n); returns the count. */
static size_t read_back(tsm_reader **rp, const tsm_event **out, tsm_event *evs, size_t n)
{
	const tsm_event *ev;
	size_t k = 0;

	*rp = NULL;
	if (tsm_reader_open(path, 0, rp) < 0)
		return 0;
	while (k < n && tsm_reader_next(*rp, &ev) == 0)
		evs[k++] = *ev;
	*out = evs;
	return k;
}

static void test_kernel(void)
{
	static const char json[] =
	    "{\"schemaVersion\": 1, \"traceEvents\": [\n"
	    "{\"ph\": \"X\", \"cat\": \"kernel\", \"name\": \"k\", \"pid\": 0, \"tid\": 7,\n"
	    " \"ts\": 4456849826063.839, \"dur\": 2685.2515,\n"
	    " \"args\": {\"External id\": 2, \"queued\": 0, \"device\": 0, \"context\": 1,\n"
	    " \"stream\": 7, \"correlation\": 12, \"registers per thread\": 254,\n"
	    " \"shared memory\": 67584, \"blocks per SM\": 3.878788, \"grid\": [16, 32, 1],\n"
	    " \"block\": [256, 1, 1], \"note\": \"x\\u00e9\", \"nested\": {\"a\": [1, 2]}}},\n"
	    "{\"ph\": \"E\", \"pid\": 1, \"tid\": 1, \"ts\": 5}\n]}"; /* an E without a B */
	tsm_import_stats st;
	tsm_reader *r;
	const tsm_event *evs;
	tsm_event buf[4];
	size_t n, nkv;
	const tsm_kv *kv;

	CHECK_OK(import_str(json, &st));
	CHECK_EQ_U64(st.events, 1);
	CHECK_EQ_U64(st.dropped, 1);
	n = read_back(&r, &evs, buf, 4);
	CHECK_EQ_U64(n, 2);
	for (size_t i = 0; i < n; i++) {
		const tsm_event *e = &evs[i];

		if (e->kind == TSM_EV_KERNEL) {
			CHECK_EQ_U64(e->start_ns, 4456849826063839ULL);
			CHECK_EQ_U64(e->end_ns - e->start_ns, 2685252); /* .2515 rounds up */
			CHECK_EQ_U64(e->correlation, 12);
			CHECK_EQ_U64(e->external, 2);
			CHECK_EQ_U64(e->stream, 7);
			CHECK_EQ_U64(e->u.kernel.grid[1], 32);
			CHECK_EQ_U64(e->u.kernel.block[0], 256);
			CHECK_EQ_U64(e->u.kernel.regs_per_thread, 254);
			CHECK_EQ_U64(e->u.kernel.static_smem_bytes, 67584);
			CHECK(e->flags & TSM_EVF_IMPORTED);
			kv = tsm_reader_kvlist(r, e->meta, &nkv);
			CHECK(kv && nkv == 4);
			if (kv && nkv == 4) {
				CHECK(!strcmp(tsm_reader_string(r, kv[0].key), "queued"));
				CHECK(kv[1].type == TSM_KV_DOUBLE && kv[1].v.d == 3.878788);
				CHECK(!strcmp(tsm_reader_string(r, (uint32_t)kv[2].v.str),
					      "x\xc3\xa9"));
				CHECK(!strcmp(tsm_reader_string(r, (uint32_t)kv[3].v.str),
					      "{\"a\": [1, 2]}"));
			}
		} else {
			CHECK(e->kind == TSM_EV_DROPPED);
			CHECK_EQ_U64(e->u.dropped.count, 1);
			CHECK(e->u.dropped.source == TSM_DROP_IMPORT);
		}
	}
	tsm_reader_close(r);
}

/* Each slice i is followed by an "s" record with the id form under test. */
static void test_flow_ids(void)
{
	static const char *const ids[] = {
	    "5",
	    "\"0X1A\"",
	    "\"18446744073709551615\"",
	    "18446744073709551615",
	    "-1",
	    "1.5",
	    "\"99999999999999999999\"",
	    "\"0x\"",
	    "\"abc\"",
	    "\"abc\"",
	    "\"0x0\"", /* 0 is no flow: dropped */
	};
	enum { N = sizeof(ids) / sizeof(ids[0]) };
	uint64_t got[N] = {0};
	char json[4096];
	int n = 0;
	tsm_import_stats st;
	tsm_reader *r;
	const tsm_event *evs;
	tsm_event buf[N + 1];
	size_t k;

	n += snprintf(json + n, sizeof(json) - (size_t)n, "[");
	for (int i = 0; i < N; i++)
		n += snprintf(json + n, sizeof(json) - (size_t)n,
			      "%s{\"ph\": \"X\", \"name\": \"e%d\", \"pid\": 1, \"tid\": 1, "
			      "\"ts\": %d, \"dur\": 1},\n{\"ph\": \"s\", \"id\": %s, \"pid\": 1, "
			      "\"tid\": 1, \"ts\": %d}",
			      i ? ",\n" : "", i, 10 * i, ids[i], 10 * i);
	snprintf(json + n, sizeof(json) - (size_t)n, "]");
	CHECK_OK(import_str(json, &st));
	CHECK_EQ_U64(st.events, N);
	CHECK_EQ_U64(st.flows_bound, N - 1);
	CHECK_EQ_U64(st.dropped, 1);
	k = read_back(&r, &evs, buf, N + 1);
	CHECK_EQ_U64(k, N + 1); /* and the DROPPED record */
	for (size_t i = 0; i < k; i++) {
		const char *name = tsm_reader_string(r, evs[i].name);
		int e = name[0] == 'e' ? atoi(name + 1) : -1;

		if (e < 0 || e >= N)
			continue;
		CHECK(evs[i].flow_type == (e < N - 1 ? TSM_FLOW_START : TSM_FLOW_NONE));
		got[e] = evs[i].flow_id;
	}
	tsm_reader_close(r);
	CHECK_EQ_U64(got[0], 5);
	CHECK_EQ_U64(got[1], 26);
	CHECK_EQ_U64(got[2], UINT64_MAX);
	CHECK_EQ_U64(got[3], UINT64_MAX);
	CHECK_EQ_U64(got[4], UINT64_MAX); /* two's complement */
	/* a fraction, a number past 64 bits, a non-number: hashed, bit 63 set, all different */
	for (int i = 5; i <= 8; i++) {
		CHECK(got[i] >> 63);
		for (int j = 5; j < i; j++)
			CHECK(got[i] != got[j]);
	}
	CHECK_EQ_U64(got[9], got[8]); /* the same string, the same id */
	CHECK_EQ_U64(got[10], 0);
}

static void expect_error(const char *json, int status, int64_t min_off, int64_t max_off)
{
	tsm_import_stats st;
	int rc;

	tsm_clear_error();
	rc = import_str(json, &st);
	CHECK_RC(rc, status);
	if (tsm_last_error_offset() < min_off || tsm_last_error_offset() > max_off) {
		fprintf(stderr, "offset %lld not in [%lld, %lld] for %.40s: %s\n",
			(long long)tsm_last_error_offset(), (long long)min_off, (long long)max_off,
			json, tsm_last_error());
		check_failures++;
	}
}

static void test_errors(void)
{
	char *deep;
	size_t n = 5000;

	expect_error("{\"traceEvents\": [{\"ts\": 1", TSM_TRUNCATED, 20, 30);
	expect_error("{\"traceEvents\": [tru]}", TSM_CORRUPT, 17, 21);
	expect_error("[{\"ph\": \"X\", \"pid\": 1, \"ts\": 1e999999}]", TSM_TOO_LARGE, 0, 40);
	expect_error("[{\"ph\": \"X\", \"pid\": 99999999999999999999999, \"ts\": 1}]",
		     TSM_TOO_LARGE, 0, 60);
	expect_error("[{\"ph\": \"X\", \"pid\": 1, \"ts\": -5}]", TSM_CORRUPT, 0, 40);
	expect_error("[{\"ts\": 01}]", TSM_CORRUPT, 0, 12);
	expect_error("{\"traceEvents\": 5}", TSM_CORRUPT, 16, 17);
	expect_error("[] x", TSM_CORRUPT, 3, 3);
	deep = malloc(2 * n + 64);
	if (deep) {
		strcpy(deep, "[{\"args\": {\"a\": ");
		memset(deep + strlen(deep), '[', n);
		deep[17 + n] = 0;
		strcat(deep, "]");
		expect_error(deep, TSM_CORRUPT, 17, 17 + 300);
		free(deep);
	}
}

int main(void)
{
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	test_kernel();
	test_flow_ids();
	test_errors();
	unlink(path);
	return check_done("test-import");
}
