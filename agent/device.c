/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Device properties (driver API) and process metadata for the trace.
 *
 * The driver entry points are looked up in the already loaded libcuda
 * (dlopen with RTLD_NOLOAD) rather than linked: the agent is only ever
 * loaded by the driver, and not linking libcuda keeps the .so loadable on
 * machines without one (the CLI tests load it there to check the failure
 * path). Devices are described when the first context is created, because
 * InitializeInjection runs inside cuInit, before the driver answers
 * queries. In-process capture (tsm_agent_start) is the one case where the
 * agent loads the driver itself (agent_cuda_init) and calls cuInit, which
 * does nothing when the application initialised CUDA already; the devices
 * are then described at once.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cuda.h>

#include "agent.h"

typedef CUresult (*get_count_fn)(int *);
typedef CUresult (*get_fn)(CUdevice *, int);
typedef CUresult (*get_name_fn)(char *, int, CUdevice);
typedef CUresult (*get_attr_fn)(int *, CUdevice_attribute, CUdevice);
typedef CUresult (*total_mem_fn)(size_t *, CUdevice);
typedef CUresult (*uuid_fn)(CUuuid *, CUdevice);
typedef CUresult (*version_fn)(int *);
typedef CUresult (*init_fn)(unsigned);
typedef CUresult (*err_name_fn)(CUresult, const char **);
typedef CUresult (*pctx_state_fn)(CUdevice, unsigned *, int *);
typedef CUresult (*pctx_retain_fn)(CUcontext *, CUdevice);
typedef CUresult (*pctx_release_fn)(CUdevice);

static void *cuda_sym(const char *name)
{
	static void *h;

	if (!h)
		h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_NOLOAD);
	return h ? dlsym(h, name) : NULL;
}

int agent_cuda_init(char *why, size_t cap)
{
	static void *drv;
	init_fn init;
	get_count_fn count;
	err_name_fn ename;
	const char *e = NULL;
	CUresult r;
	int n = 0;

	if (!drv) {
		drv = dlopen("libcuda.so.1", RTLD_LAZY);
		if (!drv) {
			e = dlerror();
			snprintf(why, cap, "no NVIDIA driver in this process (%s)",
				 e ? e : "not found");
			return TSM_UNAVAILABLE;
		}
	}
	init = (init_fn)dlsym(drv, "cuInit");
	count = (get_count_fn)dlsym(drv, "cuDeviceGetCount");
	ename = (err_name_fn)dlsym(drv, "cuGetErrorName");
	if (!init || !count) {
		snprintf(why, cap, "libcuda.so.1 lacks cuInit/cuDeviceGetCount");
		return TSM_UNAVAILABLE;
	}
	r = init(0);
	if (r == CUDA_SUCCESS)
		r = count(&n);
	if (r != CUDA_SUCCESS) {
		if (!ename || ename(r, &e) != CUDA_SUCCESS || !e)
			e = "unknown CUDA error";
		snprintf(why, cap, "CUDA cannot be initialised: %s (CUresult %d)", e, (int)r);
		return TSM_UNAVAILABLE;
	}
	if (n <= 0) {
		snprintf(why, cap, "no CUDA device");
		return TSM_UNAVAILABLE;
	}
	return 0;
}

/*
 * A device's primary context that is already active (in-process capture
 * started after the application initialised CUDA: no context-created
 * callback will come for it): note its device, so that its
 * synchronisation records get one. In-process capture only. Retaining an active primary context
 * only counts a reference; an inactive one is left alone (retaining it
 * would create it).
 */
static void note_primary_context(CUdevice dev)
{
	pctx_state_fn state = (pctx_state_fn)cuda_sym("cuDevicePrimaryCtxGetState");
	pctx_retain_fn retain = (pctx_retain_fn)cuda_sym("cuDevicePrimaryCtxRetain");
	pctx_release_fn release = (pctx_release_fn)cuda_sym("cuDevicePrimaryCtxRelease_v2");
	unsigned flags;
	int active = 0;
	CUcontext ctx;
	uint32_t id, d;

	if (!state || !retain || !release || state(dev, &flags, &active) != CUDA_SUCCESS ||
	    !active || retain(&ctx, dev) != CUDA_SUCCESS)
		return;
	if (cuptiGetContextId(ctx, &id) == CUPTI_SUCCESS &&
	    cuptiGetDeviceId(ctx, &d) == CUPTI_SUCCESS)
		agent_note_context(id, d);
	release(dev);
}

static uint32_t attr(get_attr_fn f, CUdevice d, CUdevice_attribute a)
{
	int v = 0;

	return f(&v, a, d) == CUDA_SUCCESS && v > 0 ? (uint32_t)v : 0;
}

int agent_describe_devices(tsm_writer *w)
{
	get_count_fn count = (get_count_fn)cuda_sym("cuDeviceGetCount");
	get_fn get = (get_fn)cuda_sym("cuDeviceGet");
	get_name_fn get_name = (get_name_fn)cuda_sym("cuDeviceGetName");
	get_attr_fn ga = (get_attr_fn)cuda_sym("cuDeviceGetAttribute");
	total_mem_fn total = (total_mem_fn)cuda_sym("cuDeviceTotalMem_v2");
	uuid_fn uuid = (uuid_fn)cuda_sym("cuDeviceGetUuid_v2");
	int n = 0, rc;

	if (!count || !get || !get_name || !ga || !total)
		return TSM_UNAVAILABLE;
	rc = count(&n);
	if (rc != CUDA_SUCCESS) {
		agent_warn("cuDeviceGetCount failed (CUresult %d): no device properties", rc);
		return TSM_UNAVAILABLE;
	}
	for (int i = 0; i < n; i++) {
		tsm_device_info d;
		CUdevice dev;
		char name[256] = "";
		size_t mem = 0;
		CUuuid u;

		if (get(&dev, i) != CUDA_SUCCESS)
			continue;
		memset(&d, 0, sizeof(d));
		d.id = (uint32_t)i;
		get_name(name, (int)sizeof(name), dev);
		tsm_intern_str(tsm_writer_strings(w), name, &d.name);
		if (uuid && uuid(&u, dev) == CUDA_SUCCESS) {
			const unsigned char *b = (const unsigned char *)u.bytes;
			char s[64];

			snprintf(s, sizeof(s),
				 "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
				 "%02x%02x%02x%02x%02x%02x",
				 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
				 b[11], b[12], b[13], b[14], b[15]);
			tsm_intern_str(tsm_writer_strings(w), s, &d.uuid);
		}
		d.cc_major = (uint16_t)attr(ga, dev, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
		d.cc_minor = (uint16_t)attr(ga, dev, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
		d.sm_count = attr(ga, dev, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
		d.core_clock_khz = attr(ga, dev, CU_DEVICE_ATTRIBUTE_CLOCK_RATE);
		d.mem_clock_khz = attr(ga, dev, CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE);
		d.mem_bus_width_bits = attr(ga, dev, CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH);
		d.l2_bytes = attr(ga, dev, CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE);
		d.max_threads_per_block = attr(ga, dev, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK);
		d.max_threads_per_sm =
		    attr(ga, dev, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR);
		d.regs_per_block = attr(ga, dev, CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK);
		d.regs_per_sm = attr(ga, dev, CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR);
		d.smem_per_block_bytes =
		    attr(ga, dev, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK);
		d.smem_per_block_optin_bytes =
		    attr(ga, dev, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
		d.smem_per_sm_bytes =
		    attr(ga, dev, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR);
		d.warp_size = attr(ga, dev, CU_DEVICE_ATTRIBUTE_WARP_SIZE);
		d.max_blocks_per_sm =
		    attr(ga, dev, CU_DEVICE_ATTRIBUTE_MAX_BLOCKS_PER_MULTIPROCESSOR);
		if (total(&mem, dev) == CUDA_SUCCESS)
			d.global_mem_bytes = mem;
		/* only when capture starts inside a running process: otherwise this runs in the
		 * callback for the context being created, where the driver must not be re-entered
		 * for it (seen: a crash), and that callback notes the context itself */
		if (agent_g.inproc)
			note_primary_context(dev);
		rc = tsm_writer_add_device(w, &d);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The command line with NULs turned into spaces. */
static void read_cmdline(char *buf, size_t cap, char *comm, size_t comm_cap)
{
	FILE *f = fopen("/proc/self/cmdline", "rb");
	size_t n = 0;

	buf[0] = comm[0] = 0;
	if (f) {
		n = fread(buf, 1, cap - 1, f);
		fclose(f);
	}
	buf[n] = 0;
	if (n) {
		const char *base = strrchr(buf, '/');

		snprintf(comm, comm_cap, "%s", base ? base + 1 : buf);
	}
	for (size_t i = 0; i + 1 < n; i++)
		if (!buf[i])
			buf[i] = ' ';
}

static void meta_env(tsm_writer *w, const char *key, const char *var)
{
	const char *v = getenv(var);

	if (v && *v)
		tsm_writer_add_meta_str(w, key, v);
}

int agent_describe_process(tsm_writer *w)
{
	struct agent *g = &agent_g;
	tsm_process_info p;
	char cmd[4096], comm[256], host[256] = "";
	version_fn drv = (version_fn)cuda_sym("cuDriverGetVersion");
	version_fn rt = (version_fn)dlsym(RTLD_DEFAULT, "cudaRuntimeGetVersion");
	tsm_intern *s = tsm_writer_strings(w);
	uint32_t cupti = 0;
	int v = 0, rc;

	read_cmdline(cmd, sizeof(cmd), comm, sizeof(comm));
	gethostname(host, sizeof(host) - 1);
	memset(&p, 0, sizeof(p));
	p.pid = (uint32_t)g->pid;
	p.rank = g->rank;
	if ((rc = tsm_intern_str(s, comm, &p.name)) < 0 ||
	    (rc = tsm_intern_str(s, cmd, &p.cmdline)) < 0 ||
	    (rc = tsm_intern_str(s, host, &p.host)) < 0 || (rc = tsm_writer_add_process(w, &p)) < 0)
		return rc;

	tsm_writer_add_meta_str(w, "backend", "cupti");
	tsm_writer_add_meta_str(w, "agent.mode", g->inproc ? "in-process" : "injection");
	tsm_writer_add_meta_str(w, "cmdline", cmd);
	tsm_writer_add_meta_str(w, "host", host);
	tsm_writer_add_meta_int(w, "pid", g->pid);
	if (g->rank >= 0)
		tsm_writer_add_meta_int(w, "rank", g->rank);
	meta_env(w, "local_rank", "LOCAL_RANK");
	meta_env(w, "world_size", "WORLD_SIZE");
	if (drv && drv(&v) == CUDA_SUCCESS)
		tsm_writer_add_meta_int(w, "cuda.driver_version", v);
	/* Only a dynamically linked runtime can be asked; nvcc links it statically by default. */
	if (rt && rt(&v) == 0)
		tsm_writer_add_meta_int(w, "cuda.runtime_version", v);
	if (cuptiGetVersion(&cupti) == CUPTI_SUCCESS)
		tsm_writer_add_meta_int(w, "cupti.api_version", cupti);
	tsm_writer_add_meta_int(w, "agent.built_with_cuda", CUDA_VERSION);
	tsm_writer_add_meta_int(w, "agent.stacks", g->cfg.stacks);
	tsm_writer_add_meta_int(w, "agent.flush_interval_ns", (int64_t)g->cfg.flush_ns);
	tsm_writer_add_meta_int(w, "agent.buffer_bytes", (int64_t)g->cfg.buffer_bytes);
	tsm_writer_add_meta_int(w, "agent.ring_events", (int64_t)g->cfg.ring_events);
	if (g->cfg.delay_ns)
		tsm_writer_add_meta_int(w, "agent.delay_ns", (int64_t)g->cfg.delay_ns);
	if (g->cfg.duration_ns)
		tsm_writer_add_meta_int(w, "agent.duration_ns", (int64_t)g->cfg.duration_ns);
	return 0;
}
