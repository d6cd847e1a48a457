/* SPDX-License-Identifier: Apache-2.0 */
/*
 * standalone.c - run a libFuzzer target over saved inputs without libFuzzer.
 *
 * Linked with one fuzz target (its LLVMFuzzerTestOneInput), this turns the
 * target's corpus into a regression test that every build runs, gcc ones
 * included. Usage:
 *
 *   fuzz-X-standalone [--suffix=.EXT] PATH...
 *
 * Each PATH is a file (always run) or a directory, walked recursively in
 * name order; inside directories only regular files whose name ends with
 * the current --suffix are run (no --suffix: all files; `--suffix=` resets
 * it). A crash or abort in the target fails the test the usual way; the
 * driver also fails when it found no input at all, so an emptied or moved
 * corpus cannot pass silently. The input is handed over in a buffer of
 * exactly its size, so ASan catches reads one past the end.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long inputs;

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && !strcmp(s + n - k, suffix);
}

static int run_file(const char *path)
{
	struct stat st;
	uint8_t *buf;
	size_t got;
	FILE *f;

	f = fopen(path, "rb");
	if (!f || fstat(fileno(f), &st) < 0) {
		fprintf(stderr, "standalone: %s: %s\n", path, strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	/* malloc(0) may return NULL: keep one byte but pass size 0. */
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		fclose(f);
		fprintf(stderr, "standalone: %s: out of memory\n", path);
		return -1;
	}
	got = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	if (got != (size_t)st.st_size) {
		fprintf(stderr, "standalone: %s: short read\n", path);
		free(buf);
		return -1;
	}
	fprintf(stderr, "standalone: %s (%zu bytes)\n", path, got);
	LLVMFuzzerTestOneInput(buf, got);
	free(buf);
	inputs++;
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int run_dir(const char *dir, const char *suffix);

/* One directory entry: recurse into directories, run regular files with the suffix. */
static int visit(const char *dir, const char *name, const char *suffix)
{
	struct stat st;
	char *path;
	int rc = 0;

	if (name[0] == '.')
		return 0;
	path = malloc(strlen(dir) + strlen(name) + 2);
	if (!path)
		return -1;
	sprintf(path, "%s/%s", dir, name);
	if (stat(path, &st) < 0) {
		fprintf(stderr, "standalone: %s: %s\n", path, strerror(errno));
		rc = -1;
	} else if (S_ISDIR(st.st_mode)) {
		rc = run_dir(path, suffix);
	} else if (S_ISREG(st.st_mode) && ends_with(name, suffix)) {
		rc = run_file(path);
	}
	free(path);
	return rc;
}

static int run_dir(const char *dir, const char *suffix)
{
	struct dirent **names;
	int n, i, rc = 0;

	n = scandir(dir, &names, NULL, by_name);
	if (n < 0) {
		fprintf(stderr, "standalone: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (rc == 0)
			rc = visit(dir, names[i]->d_name, suffix);
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	const char *suffix = "";
	struct stat st;
	int i, rc = 0;

	for (i = 1; i < argc && rc == 0; i++) {
		if (!strncmp(argv[i], "--suffix=", 9)) {
			suffix = argv[i] + 9;
			continue;
		}
		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "standalone: %s: %s\n", argv[i], strerror(errno));
			rc = -1;
		} else if (S_ISDIR(st.st_mode)) {
			rc = run_dir(argv[i], suffix);
		} else {
			rc = run_file(argv[i]);
		}
	}
	if (rc < 0)
		return 1;
	if (!inputs) {
		fprintf(stderr, "standalone: no inputs found\n");
		return 1;
	}
	printf("standalone: %lu inputs ran without a crash\n", inputs);
	return 0;
}
