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

const char *tsm__names_get(tsm__names *c, uint32_t id, const char *raw, size_t max, uint32_t *len)
{
	if (id >= c->cap) {
		size_t cap = c->cap ? c->cap : 1024;
		char **ns;
		uint32_t *nl;

		while (cap <= id)
			cap *= 2;
		ns = tsm__realloc(c->s, cap * sizeof(*ns));
		if (!ns)
			goto raw;
		c->s = ns;
		nl = tsm__realloc(c->len, cap * sizeof(*nl));
		if (!nl)
			goto raw;
		c->len = nl;
		memset(c->s + c->cap, 0, (cap - c->cap) * sizeof(*ns));
		memset(c->len + c->cap, 0, (cap - c->cap) * sizeof(*nl));
		c->cap = cap;
	}
	if (!c->s[id]) {
		char buf[4096];
		const char *d = tsm_demangle(raw, buf, max < sizeof(buf) ? max : sizeof(buf));

		c->s[id] = tsm__strdup(d);
		if (!c->s[id])
			goto raw;
		c->len[id] = (uint32_t)strlen(d);
	}
	*len = c->len[id];
	return c->s[id];
raw:
	*len = (uint32_t)strlen(raw);
	return raw;
}

void tsm__names_fini(tsm__names *c)
{
	for (size_t i = 0; i < c->cap; i++)
		tsm__free(c->s[i]);
	tsm__free(c->s);
	tsm__free(c->len);
	memset(c, 0, sizeof(*c));
}
