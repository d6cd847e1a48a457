/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tsm_demangle: display names for mangled C++ kernel names.
 *
 * CUPTI reports kernel names as the compiler emitted them (Itanium ABI,
 * "_Z..."), and the trace keeps them that way; only the display layers
 * demangle. Rather than carrying a hand-written demangler we call
 * libstdc++'s __cxa_demangle, the one the toolchain itself uses. It is a
 * C-ABI function, so C can declare and call it directly; cmake links
 * libstdc++ when the probe in cmake/Dependencies.cmake finds it
 * (TSM_HAVE_CXA_DEMANGLE). Without it names pass through unchanged.
 *
 * __cxa_demangle returns a malloc'ed string (it may realloc a buffer we
 * pass, so we never pass ours): we copy it into the caller's buffer and
 * release it with the C library's free(), not through tsm__free, because
 * the C++ runtime allocated it with malloc.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#ifdef TSM_HAVE_CXA_DEMANGLE
char *__cxa_demangle(const char *mangled, char *out, size_t *len, int *status);
#endif

const char *tsm_demangle(const char *name, char *buf, size_t cap)
{
#ifdef TSM_HAVE_CXA_DEMANGLE
	char *d;
	size_t n;
	int st = 0;

	if (!buf || !cap || name[0] != '_' || name[1] != 'Z')
		return name;
	d = __cxa_demangle(name, NULL, NULL, &st);
	if (!d || st != 0) {
		free(d);
		return name;
	}
	n = strlen(d);
	if (n >= cap)
		n = cap - 1;
	memcpy(buf, d, n);
	buf[n] = 0;
	free(d);
	return buf;
#else
	(void)buf;
	(void)cap;
	return name;
#endif
}

int tsm__idstrs_room(tsm__idstrs *t, uint32_t id)
{
	size_t cap = t->cap ? t->cap : 1024;
	char **ns;
	uint32_t *nl;

	if (id < t->cap)
		return 0;
	while (cap <= id)
		cap *= 2;
	ns = tsm__realloc(t->s, cap * sizeof(*ns));
	if (!ns)
		return TSM_FAIL(TSM_NOMEM, "string table of %zu", cap);
	t->s = ns;
	nl = tsm__realloc(t->len, cap * sizeof(*nl));
	if (!nl)
		return TSM_FAIL(TSM_NOMEM, "string table of %zu", cap);
	t->len = nl;
	memset(t->s + t->cap, 0, (cap - t->cap) * sizeof(*ns));
	memset(t->len + t->cap, 0, (cap - t->cap) * sizeof(*nl));
	t->cap = cap;
	return 0;
}

void tsm__idstrs_fini(tsm__idstrs *t)
{
	for (size_t i = 0; i < t->cap; i++)
		tsm__free(t->s[i]);
	tsm__free(t->s);
	tsm__free(t->len);
	memset(t, 0, sizeof(*t));
}

const char *tsm__demangled(tsm__idstrs *t, uint32_t id, const char *raw, size_t max, uint32_t *len)
{
	if (tsm__idstrs_room(t, id) < 0)
		return NULL;
	if (!t->s[id]) {
		char buf[4096];
		const char *d = tsm_demangle(raw, buf, max < sizeof(buf) ? max : sizeof(buf));

		t->s[id] = tsm__strdup(d);
		if (!t->s[id]) {
			TSM_FAIL(TSM_NOMEM, "demangled name of %zu bytes", strlen(d) + 1);
			return NULL;
		}
		t->len[id] = (uint32_t)strlen(d);
	}
	*len = t->len[id];
	return t->s[id];
}
