/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-yajl: our JSON tokenizer (src/import/json-reader.c) against Debian's
 * yajl (libyajl2) on the same bytes, to justify the importer's parser choice.
 *
 *   bench-yajl [--events N] [--dir DIR] [FILE.json]
 *
 * Without FILE, exports N simulated events (default 2M, preset train) as
 * Kineto JSON into DIR (default /tmp) and uses that. Each pass reads the file
 * in 1 MiB chunks and only tokenises (yajl: callbacks that count tokens, with
 * numbers delivered as raw text, as the importer needs them; ours: the pull
 * loop). Best of 3, MB/s, plus the ratio.
 *
 * yajl is loaded at run time with dlopen("libyajl.so.2") so that neither the
 * library nor this program needs yajl to build: when it is absent the yajl
 * row says so and only our tokenizer is measured.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tracesmith/tracesmith.h"

#include "import/json-reader.h"

/* The parts of yajl 2's API used here (yajl/yajl_parse.h), declared locally so that the
 * header is not needed either. */
typedef struct {
	int (*yajl_null)(void *ctx);
	int (*yajl_boolean)(void *ctx, int v);
	int (*yajl_integer)(void *ctx, long long v);
	int (*yajl_double)(void *ctx, double v);
	int (*yajl_number)(void *ctx, const char *s, size_t n);
	int (*yajl_string)(void *ctx, const unsigned char *s, size_t n);
	int (*yajl_start_map)(void *ctx);
	int (*yajl_map_key)(void *ctx, const unsigned char *key, size_t n);
	int (*yajl_end_map)(void *ctx);
	int (*yajl_start_array)(void *ctx);
	int (*yajl_end_array)(void *ctx);
} yajl_callbacks;
typedef void *yajl_handle;
enum { YAJL_OK = 0 };

static yajl_handle (*y_alloc)(const yajl_callbacks *, void *, void *);
static int (*y_parse)(yajl_handle, const unsigned char *, size_t);
static int (*y_complete)(yajl_handle);
static void (*y_free)(yajl_handle);

static uint64_t ntok;

static int cb0(void *c)
{
	(void)c;
	ntok++;
	return 1;
}
static int cb_bool(void *c, int v)
{
	(void)c;
	(void)v;
	ntok++;
	return 1;
}
static int cb_num(void *c, const char *s, size_t n)
{
	(void)c;
	(void)s;
	(void)n;
	ntok++;
	return 1;
}
static int cb_str(void *c, const unsigned char *s, size_t n)
{
	(void)c;
	(void)s;
	(void)n;
	ntok++;
	return 1;
}

static double now_s(void)
{
	return (double)tsm_now_ns() / 1e9;
}

static double yajl_pass(const char *path, uint64_t *bytes)
{
	static const yajl_callbacks cb = {
	    cb0, cb_bool, NULL, NULL, cb_num, cb_str, cb0, cb_str, cb0, cb0, cb0,
	};
	unsigned char *buf = malloc(1u << 20);
	int fd = open(path, O_RDONLY);
	yajl_handle h;
	ssize_t n;
	double t0 = now_s();

	if (!buf || fd < 0) {
		fprintf(stderr, "bench-yajl: %s: cannot read\n", path);
		exit(1);
	}
	h = y_alloc(&cb, NULL, NULL);
	*bytes = 0;
	while ((n = read(fd, buf, 1u << 20)) > 0) {
		*bytes += (uint64_t)n;
		if (y_parse(h, buf, (size_t)n) != YAJL_OK) {
			fprintf(stderr, "bench-yajl: yajl: parse error\n");
			exit(1);
		}
	}
	if (y_complete(h) != YAJL_OK) {
		fprintf(stderr, "bench-yajl: yajl: parse error at the end\n");
		exit(1);
	}
	y_free(h);
	close(fd);
	free(buf);
	return now_s() - t0;
}

static double ours_pass(const char *path, uint64_t *bytes)
{
	jreader j;
	double t0 = now_s();
	int rc = tsm__jr_open_file(&j, path), tok;

	if (rc < 0) {
		fprintf(stderr, "bench-yajl: %s: %s\n", path, tsm_last_error());
		exit(1);
	}
	while ((tok = tsm__jr_next(&j)) > 0)
		ntok++;
	if (tok < 0) {
		fprintf(stderr, "bench-yajl: %s: %s\n", path, tsm_last_error());
		exit(1);
	}
	*bytes = j.base + j.pos;
	tsm__jr_close(&j);
	return now_s() - t0;
}

int main(int argc, char **argv)
{
	uint64_t nevents = 2000000, bytes = 0, ny = 0, no = 0;
	const char *dir = "/tmp", *file = NULL;
	char sbt[512], json[512];
	double by = 1e30, bo = 1e30;
	void *lib;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--events") && i + 1 < argc)
			nevents = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			dir = argv[++i];
		else if (argv[i][0] != '-' && !file)
			file = argv[i];
		else {
			fprintf(stderr, "usage: bench-yajl [--events N] [--dir DIR] [FILE.json]\n");
			return 2;
		}
	}
	if (getenv("TSM_TEST_SCALE") && !strcmp(getenv("TSM_TEST_SCALE"), "small"))
		nevents = 100000;
	if (!file) {
		tsm_writer *w = NULL;
		tsm_writer_opts wo = {.clock = TSM_CLOCK_SIMULATED};
		tsm_sim_opts so = {.max_events = nevents};
		tsm_export_opts o;
		int rc;

		snprintf(sbt, sizeof(sbt), "%s/bench-yajl.sbt", dir);
		snprintf(json, sizeof(json), "%s/bench-yajl.pt.trace.json", dir);
		rc = tsm_writer_open(sbt, &wo, &w);
		if (rc >= 0)
			rc = tsm_sim_run(w, &so, NULL);
		if (rc >= 0)
			rc = tsm_writer_close(w);
		tsm_export_opts_init(&o);
		o.gzip = 0;
		if (rc >= 0)
			rc = tsm_export_file(sbt, json, &o, NULL);
		unlink(sbt);
		if (rc < 0) {
			fprintf(stderr, "bench-yajl: %s\n", tsm_last_error());
			return 1;
		}
		file = json;
	}
	lib = dlopen("libyajl.so.2", RTLD_NOW);
	if (lib) {
		*(void **)&y_alloc = dlsym(lib, "yajl_alloc");
		*(void **)&y_parse = dlsym(lib, "yajl_parse");
		*(void **)&y_complete = dlsym(lib, "yajl_complete_parse");
		*(void **)&y_free = dlsym(lib, "yajl_free");
		if (!y_alloc || !y_parse || !y_complete || !y_free)
			lib = NULL;
	}
	for (int k = 0; k < 3; k++) {
		double t;

		ntok = 0;
		t = ours_pass(file, &bytes);
		no = ntok;
		bo = t < bo ? t : bo;
		if (lib) {
			ntok = 0;
			t = yajl_pass(file, &bytes);
			ny = ntok;
			by = t < by ? t : by;
		}
	}
	printf("bench-yajl: %s, %" PRIu64 " bytes\n", file, bytes);
	printf("%-36s %10.1f MB/s  (%" PRIu64 " tokens)\n", "our tokenizer (json-reader.c)",
	       (double)bytes / bo / 1e6, no);
	if (lib)
		printf("%-36s %10.1f MB/s  (%" PRIu64 " values and keys)\n"
		       "ours / yajl: %.2fx\n",
		       "yajl 2 (callbacks, raw numbers)", (double)bytes / by / 1e6, ny, by / bo);
	else
		printf("yajl: libyajl.so.2 not found (apt-get install libyajl2): skipped\n");
	printf("{\"bench\": \"yajl\", \"bytes\": %" PRIu64 ", \"ours_mbps\": %.1f, "
	       "\"yajl_mbps\": %.1f}\n",
	       bytes, (double)bytes / bo / 1e6, lib ? (double)bytes / by / 1e6 : 0.0);
	if (file == json)
		unlink(json);
	return 0;
}
