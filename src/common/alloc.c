/* SPDX-License-Identifier: Apache-2.0 */
/* Allocation through the user's hooks, the growable byte buffer and the arena. */
#include <stdlib.h>
#include <sys/mman.h>

#include "internal.h"

static tsm_allocator hooks;

void tsm_set_allocator(const tsm_allocator *a)
{
	if (a)
		hooks = *a;
	else
		memset(&hooks, 0, sizeof(hooks));
}

void *tsm__malloc(size_t size)
{
	if (hooks.malloc_fn)
		return hooks.malloc_fn(size ? size : 1, hooks.user);
	return malloc(size ? size : 1);
}

void *tsm__calloc(size_t n, size_t size)
{
	void *p;

	if (size && n > SIZE_MAX / size)
		return NULL;
	if (!hooks.malloc_fn)
		return calloc(n ? n : 1, size ? size : 1);
	p = tsm__malloc(n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

void *tsm__realloc(void *ptr, size_t size)
{
	if (hooks.realloc_fn)
		return hooks.realloc_fn(ptr, size ? size : 1, hooks.user);
	return realloc(ptr, size ? size : 1);
}

void tsm__free(void *ptr)
{
	if (!ptr)
		return;
	if (hooks.free_fn)
		hooks.free_fn(ptr, hooks.user);
	else
		free(ptr);
}

void *tsm__zalloc(void *opaque, unsigned items, unsigned size)
{
	(void)opaque;
	return tsm__calloc(items, size); /* NULL is zlib's Z_NULL */
}

void tsm__zfree(void *opaque, void *ptr)
{
	(void)opaque;
	tsm__free(ptr);
}

void *tsm__grow(void *arr, size_t *cap, size_t first, size_t size)
{
	size_t n = *cap ? 2 * *cap : first; /* wraps to <= *cap past SIZE_MAX */
	void *p;

	if (!size || n <= *cap || n > SIZE_MAX / size)
		return NULL;
	p = tsm__realloc(arr, n * size);
	if (p)
		*cap = n;
	return p;
}

char *tsm__strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = tsm__malloc(n);

	if (p)
		memcpy(p, s, n);
	return p;
}

int tsm__buf_reserve(tsm__buf *b, size_t extra)
{
	size_t cap;
	uint8_t *p;

	if (extra <= b->cap - b->len)
		return 0;
	if (extra > SIZE_MAX / 2 - b->len)
		return TSM_FAIL(TSM_NOMEM, "buffer of %zu bytes", b->len + extra);
	cap = b->cap ? b->cap : 256;
	while (cap - b->len < extra)
		cap *= 2;
	p = tsm__realloc(b->data, cap);
	if (!p)
		return TSM_FAIL(TSM_NOMEM, "buffer of %zu bytes", cap);
	b->data = p;
	b->cap = cap;
	return 0;
}

int tsm__buf_append(tsm__buf *b, const void *data, size_t len)
{
	int rc = tsm__buf_reserve(b, len);

	if (rc < 0)
		return rc;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

void tsm__buf_fini(tsm__buf *b)
{
	tsm__free(b->data);
	memset(b, 0, sizeof(*b));
}

#define ARENA_BLOCK (64u << 10)

struct tsm__arena_block {
	struct tsm__arena_block *next;
	size_t used, cap;
	uint8_t mem[];
};

void *tsm__arena_alloc(tsm__arena *a, size_t size)
{
	struct tsm__arena_block *b = a->head;

	size = (size + 7) & ~(size_t)7;
	if (!b || b->cap - b->used < size) {
		size_t cap = size > ARENA_BLOCK ? size : ARENA_BLOCK;

		b = tsm__malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->used = 0;
		b->cap = cap;
		/* A large private block goes behind the current one, which keeps serving small
		 * allocations. */
		if (a->head && size > ARENA_BLOCK) {
			b->next = a->head->next;
			a->head->next = b;
		} else {
			b->next = a->head;
			a->head = b;
		}
	}
	b->used += size;
	return b->mem + b->used - size;
}

void tsm__arena_fini(tsm__arena *a)
{
	while (a->head) {
		struct tsm__arena_block *next = a->head->next;

		tsm__free(a->head);
		a->head = next;
	}
}

/*
 * The timeline's record arrays are hundreds of MB written once: with 4 KiB
 * pages a fifth of building them was page faults; 2 MiB pages cut that to
 * almost nothing (bench/README.md). Only a hint: memory from the user's
 * allocator hooks that is not anonymous memory makes madvise fail, which
 * changes nothing.
 */
void tsm__advise_huge(void *p, size_t bytes)
{
	uintptr_t lo = ((uintptr_t)p + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1);
	uintptr_t hi = ((uintptr_t)p + bytes) & ~(uintptr_t)((2u << 20) - 1);

	if (hi > lo + (2u << 20))
		madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
}
