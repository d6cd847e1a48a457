/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Host call stacks of runtime/driver API calls (--stacks).
 *
 * At API entry (a CUPTI callback on the calling thread) the stack is
 * unwound (libunwind's unw_backtrace when built with it, else glibc's
 * backtrace()). Leading frames inside the agent, CUPTI and the driver are
 * cut so the innermost frame is the application's call site (or the CUDA
 * runtime's, which is linked into the application).
 *
 * Dedup: the frames are hashed; a per-thread direct-mapped cache maps the
 * hash to a stack id. On a miss the frames are symbolised once (dladdr:
 * shared object and nearest dynamic symbol; file/line are left to readers
 * with debug info) and interned in the writer's stack table, which
 * deduplicates across threads. Two different stacks with the same 64-bit
 * hash would share an id; we accept that risk.
 *
 * Driver calls made from inside a runtime call (cudaLaunchKernel ->
 * cuLaunchKernel) are not unwound again: their stack is the runtime
 * call's plus frames in the runtime, and unwinding twice would double the
 * cost. Driver calls the application makes itself get their own stack.
 *
 * The API event itself is built later from CUPTI's activity record, on
 * another thread. The stack id travels by correlation id through a table
 * of STACK_SLOTS 64-bit words (correlation << 32 | stack id), written with
 * a relaxed store here and read in activity.c. When more than STACK_SLOTS
 * calls happen between a call and the conversion of its record, the slot
 * has been reused: that record gets no stack.
 *
 * The per-thread cache holds ids of the current writer's stack table; it
 * is cleared when a new capture session begins (in-process restarts).
 * Stale correlation entries never match: correlation ids are not reused.
 */
#include <dlfcn.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>

#ifdef TSM_HAVE_LIBUNWIND
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#else
#include <execinfo.h>
#endif

#include "agent.h"
#include "common/internal.h"

#define MAX_FRAMES	64
#define STACK_SLOTS	(1u << 20)
#define CACHE_SLOTS	1024u
#define MAX_SKIP_RANGES 16

static _Atomic uint64_t *stack_map;

struct range {
	uintptr_t lo, hi;
};

static struct range skip[MAX_SKIP_RANGES];
static int nskip;

struct cslot {
	uint64_t h;
	uint32_t id;
};

static __thread struct cslot tl_cache[CACHE_SLOTS];
static __thread unsigned tl_cache_session;

static int collect(struct dl_phdr_info *info, size_t size, void *arg)
{
	const char *n = info->dlpi_name ? info->dlpi_name : "";
	const char *base = strrchr(n, '/');

	base = base ? base + 1 : n;
	if (strncmp(base, "libtracesmith-agent", 19) && strncmp(base, "libcupti", 8) &&
	    strncmp(base, "libcuda.so", 10))
		return 0;
	for (int i = 0; i < info->dlpi_phnum && nskip < MAX_SKIP_RANGES; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
			skip[nskip].lo = info->dlpi_addr + ph->p_vaddr;
			skip[nskip].hi = skip[nskip].lo + ph->p_memsz;
			nskip++;
		}
	}
	return 0;
}

int agent_stacks_init(void)
{
	if (stack_map)
		return 0; /* an earlier session's table and skip ranges serve again */
	stack_map = calloc(STACK_SLOTS, sizeof(*stack_map));
	if (!stack_map)
		return TSM_NOMEM;
	dl_iterate_phdr(collect, NULL);
	return 0;
}

static int skipped(uintptr_t pc)
{
	for (int i = 0; i < nskip; i++)
		if (pc >= skip[i].lo && pc < skip[i].hi)
			return 1;
	return 0;
}

static uint32_t intern_stack(void *const *pcs, int n)
{
	tsm_frame fr[MAX_FRAMES];
	uint32_t id = 0;

	memset(fr, 0, sizeof(fr));
	for (int i = 0; i < n; i++) {
		Dl_info di;

		fr[i].pc = (uint64_t)(uintptr_t)pcs[i];
		if (dladdr(pcs[i], &di)) {
			fr[i].module = di.dli_fname ? agent_intern(di.dli_fname) : 0;
			fr[i].function = di.dli_sname ? agent_intern(di.dli_sname) : 0;
		}
	}
	if (tsm_intern_add(tsm_writer_stacks(agent_g.w), fr, (size_t)n * sizeof(fr[0]), &id) < 0)
		return 0;
	return id;
}

void agent_stacks_capture(uint32_t corr)
{
	void *pcs[MAX_FRAMES];
	int n, s = 0;
	uint64_t h;
	struct cslot *c;

	if (!stack_map || !corr || !agent_g.w)
		return;
#ifdef TSM_HAVE_LIBUNWIND
	n = unw_backtrace(pcs, MAX_FRAMES);
#else
	n = backtrace(pcs, MAX_FRAMES);
#endif
	while (s < n && skipped((uintptr_t)pcs[s]))
		s++;
	if (s >= n)
		return;
	if (tl_cache_session != agent_g.session) {
		memset(tl_cache, 0, sizeof(tl_cache));
		tl_cache_session = agent_g.session;
	}
	h = tsm__hash64(pcs + s, (size_t)(n - s) * sizeof(void *), 0x5354);
	c = &tl_cache[h & (CACHE_SLOTS - 1)];
	if (c->h != h || !c->id) {
		c->id = intern_stack(pcs + s, n - s);
		c->h = c->id ? h : 0;
	}
	if (c->id)
		atomic_store_explicit(&stack_map[corr & (STACK_SLOTS - 1)],
				      ((uint64_t)corr << 32) | c->id, memory_order_relaxed);
}

uint32_t agent_stacks_lookup(uint32_t corr)
{
	uint64_t v;

	if (!stack_map)
		return 0;
	v = atomic_load_explicit(&stack_map[corr & (STACK_SLOTS - 1)], memory_order_relaxed);
	return (uint32_t)(v >> 32) == corr ? (uint32_t)v : 0;
}
