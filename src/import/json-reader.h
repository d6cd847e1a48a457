/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Streaming JSON tokenizer over a file, a gzip stream or memory (see
 * json-reader.c for the design and why it is ours and not yajl).
 */
#ifndef TSM_IMPORT_JSON_READER_H
#define TSM_IMPORT_JSON_READER_H

#include <stdint.h>

#include "common/internal.h"

enum jtok {
	J_EOF = 0,
	J_OBJ, /* { */
	J_OBJ_END,
	J_ARR, /* [ */
	J_ARR_END,
	J_COMMA,
	J_COLON,
	J_STR, /* text in jr->str (unescaped, NUL-terminated), jr->str_len; valid until the
		  next call (it may point into the chunk buffer) */
	J_NUM, /* text in jr->str */
	J_TRUE,
	J_FALSE,
	J_NULL,
};

#define JR_MAX_STRING (16u << 20)

typedef struct jreader {
	const char *name;
	int fd, own_fd;
	void *gz; /* z_stream * */
	const uint8_t *mem;
	uint8_t *buf, *zin;
	size_t pos, len;
	uint64_t base;	    /* JSON offset of buf[0] */
	uint64_t raw_bytes; /* bytes read from the file */
	int eof;
	tsm__buf sbuf; /* current string / number text */
	const char *str;
	size_t str_len;
	uint64_t tok_off; /* offset of the current token */
	int depth;
} jreader;

int tsm__jr_open_file(jreader *j, const char *path);
int tsm__jr_open_mem(jreader *j, const void *data, size_t n, const char *name);
void tsm__jr_close(jreader *j);

/* Next token; J_EOF at the end; negative on error (offset recorded). */
int tsm__jr_next(jreader *j);

/* Skip the rest of a value whose first token `tok` was just read (objects and arrays are
 * checked for structure, iteratively: nesting is bounded by TSM_IMPORT_MAX_DEPTH). */
int tsm__jr_skip(jreader *j, int tok);
/* Like tsm__jr_skip, appending the value re-serialised as compact JSON to `out`
 * (", " and ": " separators, as Kineto writes nested args). */
int tsm__jr_capture(jreader *j, int tok, tsm__buf *out);

/* Error at the current token. */
#define JR_FAIL(j, st, ...) TSM_FAIL_AT((st), (j)->tok_off, __VA_ARGS__)

#endif
