/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the export building blocks: the protobuf encoder (varints,
 * nested messages with back-filled lengths, compared with hand-encoded
 * bytes), the JSON writer (escaping, numbers, microsecond times), format
 * detection from file names, and an end-to-end export of a small trace
 * written here, whose JSON is checked for the events and flows it must
 * hold.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tracesmith/tracesmith.h>

#include "check.h"
#include "export/json-writer.h"
#include "export/protobuf.h"

static void test_varint(void)
{
	uint8_t buf[32], *p;

	p = pb_varint(buf, 0);
	CHECK(p - buf == 1 && buf[0] == 0);
	p = pb_varint(buf, 300);
	CHECK(p - buf == 2 && buf[0] == 0xAC && buf[1] == 0x02);
	p = pb_varint(buf, UINT64_MAX);
	CHECK(p - buf == 10 && buf[9] == 0x01);
	/* int32 -1 takes ten bytes (protobuf sign-extends negative int32/int64). */
	p = pb_int(buf, 1, -1);
	CHECK(p - buf == 11);
	p = pb_fixed64(buf, 47, 0x0102030405060708ULL);
	CHECK(p - buf == 2 + 8 && buf[0] == (uint8_t)((47 << 3 | 1) | 0x80) && buf[1] == 0x02 &&
	      buf[2] == 0x08);
}

static void test_nested(void)
{
	uint8_t buf[1 << 16], *p, *m1, *m2;
	static const uint8_t want[] = {0x0A, 0x06, 0x12, 0x02, 0x08, 0x05, 0x18, 0x07};

	/* message { field 1 { field 2 { field 1: 5 } field 3: 7 } } */
	p = pb_begin(buf, 1, &m1);
	p = pb_begin(p, 2, &m2);
	p = pb_uint(p, 1, 5);
	p = pb_end(m2, p);
	p = pb_uint(p, 3, 7);
	p = pb_end(m1, p);
	CHECK_EQ_U64(p - buf, sizeof(want));
	CHECK(!memcmp(buf, want, sizeof(want)));

	/* A body of 200 bytes needs a two-byte length. */
	p = pb_begin(buf, 1, &m1);
	for (int i = 0; i < 100; i++)
		p = pb_uint(p, 1, 1);
	p = pb_end(m1, p);
	CHECK_EQ_U64(p - buf, 1 + 2 + 200);
	CHECK(buf[1] == (200 | 0x80) && buf[2] == 1 && buf[3] == 0x08);
}

static void test_json(void)
{
	char buf[256], *e;
	static const char weird[] = "a\"b\\c\n\x01\xff\xc3\xa9";

	e = tsm__jw_escape(buf, weird, sizeof(weird) - 1);
	*e = 0;
	CHECK(!strcmp(buf, "\"a\\\"b\\\\c\\n\\u0001\xEF\xBF\xBD\xc3\xa9\""));
	CHECK_EQ_U64(tsm__jw_escaped_len(weird, sizeof(weird) - 1), strlen(buf));
	e = tsm__jw_us3(buf, 4456849826063839ULL);
	*e = 0;
	CHECK(!strcmp(buf, "4456849826063.839"));
	e = tsm__jw_us3(buf, 5);
	*e = 0;
	CHECK(!strcmp(buf, "0.005"));
	e = tsm__jw_u64(buf, UINT64_MAX);
	*e = 0;
	CHECK(!strcmp(buf, "18446744073709551615"));
	e = tsm__jw_i64(buf, INT64_MIN);
	*e = 0;
	CHECK(!strcmp(buf, "-9223372036854775808"));
	e = tsm__jw_double(buf, 3.878788);
	*e = 0;
	CHECK(!strcmp(buf, "3.878788"));
	e = tsm__jw_double(buf, 2.0);
	*e = 0;
	CHECK(!strcmp(buf, "2.0"));
	e = tsm__jw_double(buf, 0.0 / 0.0);
	*e = 0;
	CHECK(!strcmp(buf, "null"));
}

static void test_paths(void)
{
	unsigned f;
	int gz;

	CHECK_OK(tsm_export_format_from_path("a.pftrace", &f, &gz));
	CHECK(f == TSM_EXPORT_PERFETTO && !gz);
	CHECK_OK(tsm_export_format_from_path("a.pt.trace.json.gz", &f, &gz));
	CHECK(f == TSM_EXPORT_KINETO && gz);
	CHECK_OK(tsm_export_format_from_path("a.json", &f, &gz));
	CHECK(f == TSM_EXPORT_CHROME && !gz);
	CHECK_RC(tsm_export_format_from_path("a.txt", &f, &gz), TSM_NOT_FOUND);
	CHECK(tsm_export_format_from_name("kineto") == TSM_EXPORT_KINETO);
	CHECK(tsm_export_format_from_name("xml") == TSM_EXPORT_AUTO);
}

/* A trace with one API call launching one kernel, written in reverse block order. */
/* The whole file, NUL-terminated (NULL and a failed check when it cannot be read). */
static char *read_all(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *text = NULL;
	long len;

	CHECK(f != NULL);
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	if (len >= 0 && (text = calloc(1, (size_t)len + 1)) != NULL &&
	    fread(text, 1, (size_t)len, f) != (size_t)len) {
		free(text);
		text = NULL;
	}
	fclose(f);
	CHECK(text != NULL);
	*n = len > 0 ? (size_t)len : 0;
	return text;
}

static void test_end_to_end(void)
{
	char dir[] = "/tmp/tsm-test-export-XXXXXX", sbt[256], js[300], pf[300];
	tsm_writer *w = NULL;
	tsm_writer_opts wo = {.block_events = 2};
	tsm_event ev[4];
	tsm_export_stats st;
	uint32_t kname = 0, aname = 0, stack = 0;
	tsm_frame frames[2];
	char *text;
	size_t n;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(sbt, sizeof(sbt), "%s/t.sbt", dir);
	snprintf(js, sizeof(js), "%s/t.json", dir);
	snprintf(pf, sizeof(pf), "%s/t.pftrace", dir);
	CHECK_OK(tsm_writer_open(sbt, &wo, &w));
	if (!w)
		return;
	CHECK_OK(tsm_intern_str(tsm_writer_strings(w), "my\"kernel", &kname));
	CHECK_OK(tsm_intern_str(tsm_writer_strings(w), "cudaLaunchKernel", &aname));
	/* a call stack whose outer frame has neither a function name nor a shared object */
	memset(frames, 0, sizeof(frames));
	frames[0].pc = 0x7f0000001000ULL;
	frames[0].function = aname;
	frames[1].pc = 0x1234;
	CHECK_OK(tsm_intern_add(tsm_writer_stacks(w), frames, sizeof(frames), &stack));
	memset(ev, 0, sizeof(ev));
	for (int i = 0; i < 4; i++) {
		ev[i].pid = 42;
		ev[i].correlation = 100 + (uint64_t)i / 2;
	}
	/* Blocks: [kernel 2, api 2] then [kernel 1, api 1]: the export must re-order. */
	ev[0].kind = TSM_EV_KERNEL, ev[0].name = kname, ev[0].start_ns = 5000, ev[0].end_ns = 6000;
	ev[0].correlation = 101, ev[0].stream = 7, ev[0].device = 0;
	ev[1].kind = TSM_EV_RUNTIME, ev[1].name = aname, ev[1].start_ns = 3000, ev[1].end_ns = 3500;
	ev[1].correlation = 101, ev[1].tid = 42, ev[1].device = TSM_DEVICE_NONE;
	ev[1].stack = stack;
	ev[2].kind = TSM_EV_KERNEL, ev[2].name = kname, ev[2].start_ns = 2000, ev[2].end_ns = 4500;
	ev[2].correlation = 100, ev[2].stream = 7, ev[2].device = 0;
	ev[3].kind = TSM_EV_RUNTIME, ev[3].name = aname, ev[3].start_ns = 1000, ev[3].end_ns = 1500;
	ev[3].correlation = 100, ev[3].tid = 42, ev[3].device = TSM_DEVICE_NONE;
	CHECK_OK(tsm_writer_write_batch(w, ev, 2));
	CHECK_OK(tsm_writer_flush(w));
	CHECK_OK(tsm_writer_write_batch(w, ev + 2, 2));
	CHECK_OK(tsm_writer_close(w));

	CHECK_OK(tsm_export_file(sbt, js, NULL, &st));
	CHECK_EQ_U64(st.events_written, 4);
	CHECK_EQ_U64(st.flows, 2);
	CHECK_EQ_U64(st.flows_unmatched, 0);
	text = read_all(js, &n);
	if (!text)
		return;
	CHECK(strstr(text, "\"name\": \"my\\\"kernel\"") != NULL);
	CHECK(strstr(text, "\"ts\": 1.000") < strstr(text, "\"ts\": 3.000"));
	CHECK(strstr(text, "\"ph\": \"f\", \"bp\": \"e\", \"cat\": \"ac2g\"") != NULL);
	free(text);

	/* Perfetto: the frame without a function is named by its pc, its mapping "[unknown]" */
	CHECK_OK(tsm_export_file(sbt, pf, NULL, &st));
	text = read_all(pf, &n);
	CHECK(text && memmem(text, n, "0x1234", 6) != NULL);
	CHECK(text && memmem(text, n, "[unknown]", 9) != NULL);
	free(text);
	unlink(sbt);
	unlink(js);
	unlink(pf);
	rmdir(dir);
}

/*
 * A producer that lagged: the last block holds an event that starts before
 * every other. Reading blocks in the order of their first start (the index)
 * keeps the merge to about one block instead of the whole trace, and the
 * output is still in time order.
 */
static void test_lagging_block(void)
{
	char dir[] = "/tmp/tsm-test-export-XXXXXX", sbt[256], js[300];
	tsm_writer *w = NULL;
	tsm_writer_opts wo = {.block_events = 64};
	tsm_event ev;
	tsm_export_stats st;
	uint32_t name = 0;
	FILE *f;
	char line[512];
	double prev = -1;
	int sorted = 1;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(sbt, sizeof(sbt), "%s/lag.sbt", dir);
	snprintf(js, sizeof(js), "%s/lag.json", dir);
	CHECK_OK(tsm_writer_open(sbt, &wo, &w));
	if (!w)
		return;
	CHECK_OK(tsm_intern_str(tsm_writer_strings(w), "k", &name));
	memset(&ev, 0, sizeof(ev));
	ev.kind = TSM_EV_KERNEL;
	ev.name = name;
	ev.pid = 1;
	ev.stream = 7;
	for (int i = 0; i < 64 * 100; i++) {
		ev.start_ns = 1000000 + (uint64_t)i * 1000;
		ev.end_ns = ev.start_ns + 500;
		CHECK_OK(tsm_writer_write(w, &ev));
	}
	CHECK_OK(tsm_writer_flush(w));
	ev.stream = 8; /* the lagging one */
	ev.start_ns = 1000;
	ev.end_ns = 2000;
	CHECK_OK(tsm_writer_write(w, &ev));
	CHECK_OK(tsm_writer_close(w));

	CHECK_OK(tsm_export_file(sbt, js, NULL, &st));
	CHECK_EQ_U64(st.events_written, 64 * 100 + 1);
	CHECK(st.max_buffered <= 2 * 64);
	f = fopen(js, "rb");
	CHECK(f != NULL);
	while (f && fgets(line, sizeof(line), f)) {
		const char *t = strstr(line, "\"ph\": \"X\"");
		const char *ts = t ? strstr(line, "\"ts\": ") : NULL;

		if (!ts)
			continue;
		if (atof(ts + 6) < prev)
			sorted = 0;
		prev = atof(ts + 6);
	}
	CHECK(sorted && prev > 0);
	if (f)
		fclose(f);
	unlink(sbt);
	unlink(js);
	rmdir(dir);
}

int main(void)
{
	test_varint();
	test_nested();
	test_json();
	test_paths();
	test_end_to_end();
	test_lagging_block();
	return check_done("test-export");
}
