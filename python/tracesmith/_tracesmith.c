/* SPDX-License-Identifier: Apache-2.0 */
/*
 * _tracesmith.c - the CPython extension over libtracesmith.
 *
 * One Python type per C object:
 *   Trace      a tsm_reader on an SBT file (metadata, devices, strings)
 *   EventIter  a private tsm_reader that yields Event objects lazily,
 *              with kind/device/stream/time filters applied in C
 *   Event      one tsm_event copied out of a reader (names resolved
 *              through the reader it came from) or built from Python
 *   Columns    a private tsm_reader read to the end once into
 *              struct-of-arrays columns; each column is exported through
 *              the buffer protocol (ColumnBuffer), so memoryview() and
 *              numpy.asarray() see the C arrays without a copy
 *   Writer     a tsm_writer (SBTWriter): events from any reader are
 *              re-interned into the writer's string/stack/metadata tables
 *   Timeline   a finished tsm_timeline plus the reader that resolves names
 *   Analysis   a tsm_analysis over a Timeline, as Python dicts and reports
 *
 * Every reader-using object opens its own tsm_reader on the file: readers
 * are cheap (the file is mapped) and independent positions mean that any
 * number of iterators and views can be alive at once.
 *
 * The GIL is released around everything that reads a file, builds a
 * timeline, analyses, exports, imports, simulates or writes blocks. An
 * object whose C state is in use by such a call is marked busy; a second
 * thread that tries to use it meanwhile gets tracesmith.StateError instead
 * of a data race.
 *
 * Errors: a library status becomes an exception of the class mapped from
 * the status (FormatError for decoder statuses, TraceIOError for TSM_IO,
 * ...), all subclasses of tracesmith.Error, whose attributes are status
 * (the status name, "CHECKSUM"), code (the negative value), detail
 * (tsm_last_error()), offset (the input offset or None) and path.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tracesmith/tracesmith.h"

#include "agent-control.h"

/* ---- errors ------------------------------------------------------------ */

static PyObject *Error, *InvalidArgumentError, *TraceIOError, *FormatError, *UnsupportedError,
    *StateError, *UnavailableError, *NotFoundError, *OutOfMemoryError;

static PyObject *exc_for(int rc)
{
	switch (rc) {
	case TSM_NOMEM:
		return OutOfMemoryError;
	case TSM_INVAL:
		return InvalidArgumentError;
	case TSM_IO:
		return TraceIOError;
	case TSM_EMPTY:
	case TSM_BAD_MAGIC:
	case TSM_VERSION:
	case TSM_TRUNCATED:
	case TSM_CHECKSUM:
	case TSM_CORRUPT:
	case TSM_UNDEFINED:
	case TSM_OVERFLOW:
	case TSM_TOO_LARGE:
		return FormatError;
	case TSM_UNSUPPORTED:
		return UnsupportedError;
	case TSM_STATE:
		return StateError;
	case TSM_UNAVAILABLE:
		return UnavailableError;
	case TSM_NOT_FOUND:
		return NotFoundError;
	default:
		return Error;
	}
}

static PyObject *raise_full(int rc, const char *path, const char *detail, int64_t offset)
{
	PyObject *cls = exc_for(rc), *inst, *v;
	char msg[1400];
	int n;

	n = snprintf(msg, sizeof(msg), "%s%s%s", path ? path : "", path ? ": " : "",
		     tsm_strerror(rc));
	if (detail && detail[0] && n < (int)sizeof(msg))
		n += snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", detail);
	if (offset >= 0 && n < (int)sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, " (offset %lld)", (long long)offset);
	inst = PyObject_CallFunction(cls, "s", msg);
	if (!inst)
		return NULL;
	PyObject_SetAttrString(inst, "status", v = PyUnicode_FromString(tsm_status_name(rc)));
	Py_XDECREF(v);
	PyObject_SetAttrString(inst, "code", v = PyLong_FromLong(rc));
	Py_XDECREF(v);
	PyObject_SetAttrString(inst, "detail", v = PyUnicode_FromString(detail ? detail : ""));
	Py_XDECREF(v);
	if (offset >= 0) {
		PyObject_SetAttrString(inst, "offset", v = PyLong_FromLongLong(offset));
		Py_XDECREF(v);
	} else {
		PyObject_SetAttrString(inst, "offset", Py_None);
	}
	if (path) {
		PyObject_SetAttrString(inst, "path", v = PyUnicode_DecodeFSDefault(path));
		Py_XDECREF(v);
	} else {
		PyObject_SetAttrString(inst, "path", Py_None);
	}
	PyErr_Clear(); /* a failed attribute set leaves the message intact */
	PyErr_SetObject(cls, inst);
	Py_DECREF(inst);
	return NULL;
}

/* A library failure: detail and offset from the thread's last error. */
static PyObject *raise_status(int rc, const char *path)
{
	const char *detail = tsm_last_error_status() ? tsm_last_error() : "";

	return raise_full(rc, path, detail, tsm_last_error_status() ? tsm_last_error_offset() : -1);
}

/* A failure found by the binding itself. */
static PyObject *raise_msg(int rc, const char *path, const char *fmt, ...)
{
	char detail[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return raise_full(rc, path, detail, -1);
}

#define BUSY_CHECK(o, ret)                                                             \
	do {                                                                           \
		if ((o)->busy) {                                                       \
			raise_msg(TSM_STATE, NULL, "object in use by another thread"); \
			return ret;                                                    \
		}                                                                      \
	} while (0)

/* ---- argument helpers ----------------------------------------------------- */

/* str / bytes / os.PathLike -> malloc'd file-system path. */
static char *path_arg(PyObject *o)
{
	PyObject *b = NULL;
	char *s;

	if (!PyUnicode_FSConverter(o, &b))
		return NULL;
	s = strdup(PyBytes_AS_STRING(b));
	Py_DECREF(b);
	if (!s)
		PyErr_NoMemory();
	return s;
}

static int kind_from_obj(PyObject *o, unsigned *kind)
{
	if (PyUnicode_Check(o)) {
		const char *s = PyUnicode_AsUTF8(o);

		if (!s)
			return -1;
		*kind = tsm_event_kind_from_name(s);
		if (*kind == TSM_EV_NONE) {
			PyErr_Format(
			    PyExc_ValueError,
			    "unknown event kind '%s' (kinds: kernel, memcpy, memset, sync, "
			    "alloc, free, runtime, driver, range, marker, counter, overhead, "
			    "dropped, cpu_op)",
			    s);
			return -1;
		}
		return 0;
	}
	if (PyLong_Check(o)) {
		long v = PyLong_AsLong(o);

		if (v <= TSM_EV_NONE || v >= TSM_EV__COUNT) {
			if (!PyErr_Occurred())
				PyErr_Format(PyExc_ValueError, "event kind %ld out of range 1..%d",
					     v, TSM_EV__COUNT - 1);
			return -1;
		}
		*kind = (unsigned)v;
		return 0;
	}
	PyErr_Format(PyExc_TypeError, "event kind must be a str or an int, not %.100s",
		     Py_TYPE(o)->tp_name);
	return -1;
}

/* None: all kinds (mask 0); a kind; or an iterable of kinds. */
static int kinds_arg(PyObject *o, uint32_t *mask)
{
	PyObject *it, *item;
	unsigned k;

	*mask = 0;
	if (!o || o == Py_None)
		return 0;
	if (PyUnicode_Check(o) || PyLong_Check(o)) {
		if (kind_from_obj(o, &k) < 0)
			return -1;
		*mask = 1u << k;
		return 0;
	}
	it = PyObject_GetIter(o);
	if (!it) {
		PyErr_Format(PyExc_TypeError,
			     "kind must be a str, an int or an iterable of them, not %.100s",
			     Py_TYPE(o)->tp_name);
		return -1;
	}
	while ((item = PyIter_Next(it))) {
		int rc = kind_from_obj(item, &k);

		Py_DECREF(item);
		if (rc < 0) {
			Py_DECREF(it);
			return -1;
		}
		*mask |= 1u << k;
	}
	Py_DECREF(it);
	if (PyErr_Occurred())
		return -1;
	if (!*mask) {
		PyErr_SetString(PyExc_ValueError, "kind: empty list of kinds");
		return -1;
	}
	return 0;
}

/* Optional unsigned integer in [0, max]; None keeps *out. */
static int uint_arg(PyObject *o, const char *what, uint64_t max, uint64_t *out)
{
	unsigned long long v;

	if (!o || o == Py_None)
		return 0;
	if (!PyLong_Check(o)) {
		PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", what,
			     Py_TYPE(o)->tp_name);
		return -1;
	}
	if (_PyLong_Sign(o) < 0) {
		PyErr_Format(PyExc_ValueError, "%s must not be negative", what);
		return -1;
	}
	v = PyLong_AsUnsignedLongLong(o);
	if (PyErr_Occurred() || v > max) {
		PyErr_Clear();
		PyErr_Format(PyExc_ValueError, "%s out of range (0..%llu)", what,
			     (unsigned long long)max);
		return -1;
	}
	*out = v;
	return 0;
}

/* ---- event filters ------------------------------------------------------- */

struct filt {
	uint32_t kinds; /* 0: all */
	int32_t device; /* -1: all */
	int64_t stream; /* -1: all */
	int window;
	uint64_t from_ns, to_ns;
};

static inline int filt_pass(const struct filt *f, const tsm_event *e)
{
	if (f->kinds && !(f->kinds & (1u << e->kind)))
		return 0;
	if (f->device >= 0 && e->device != (uint16_t)f->device)
		return 0;
	if (f->stream >= 0 && e->stream != (uint32_t)f->stream)
		return 0;
	if (f->window && (e->end_ns < f->from_ns || e->start_ns > f->to_ns))
		return 0;
	return 1;
}

static int filt_parse(struct filt *f, PyObject *kind, PyObject *device, PyObject *stream,
		      PyObject *start, PyObject *end)
{
	uint64_t v;

	memset(f, 0, sizeof(*f));
	f->device = -1;
	f->stream = -1;
	f->to_ns = UINT64_MAX;
	if (kinds_arg(kind, &f->kinds) < 0)
		return -1;
	v = UINT64_MAX;
	if (uint_arg(device, "device", 0xfffe, &v) < 0)
		return -1;
	if (v != UINT64_MAX)
		f->device = (int32_t)v;
	v = UINT64_MAX;
	if (uint_arg(stream, "stream", UINT32_MAX, &v) < 0)
		return -1;
	if (v != UINT64_MAX)
		f->stream = (int64_t)v;
	if (uint_arg(start, "start_ns", UINT64_MAX, &f->from_ns) < 0 ||
	    uint_arg(end, "end_ns", UINT64_MAX, &f->to_ns) < 0)
		return -1;
	if ((start && start != Py_None) || (end && end != Py_None)) {
		if (f->to_ns < f->from_ns) {
			PyErr_SetString(PyExc_ValueError, "end_ns is before start_ns");
			return -1;
		}
		f->window = 1;
	}
	return 0;
}

/* Open a private reader on `path`, positioned at the filter's window. GIL released. */
static int open_reader(const char *path, unsigned flags, const struct filt *f, tsm_reader **out)
{
	int rc;

	Py_BEGIN_ALLOW_THREADS;
	tsm_clear_error();
	rc = tsm_reader_open(path, flags, out);
	if (rc == 0 && f && f->window) {
		rc = tsm_reader_seek_ns(*out, f->from_ns, f->to_ns);
		if (rc < 0) {
			tsm_reader_close(*out);
			*out = NULL;
		}
	}
	Py_END_ALLOW_THREADS;
	if (rc < 0) {
		raise_status(rc, path);
		return -1;
	}
	return 0;
}

/* ---- forward declarations of the types ------------------------------------ */

static PyTypeObject TraceType, EventIterType, EventType, ColumnsType, ColumnBufferType, WriterType,
    TimelineType, AnalysisType;

typedef struct {
	PyObject_HEAD tsm_reader *r; /* NULL once closed */
	char *path;
	unsigned flags;
	int scanned;	  /* r read to the end: every definition is known */
	uint64_t nevents; /* counted by the scan */
	int delete_on_close;
	int busy;
} TraceObject;

typedef struct {
	PyObject_HEAD tsm_reader *r;
	char *path;
	struct filt f;
	int done;
	int busy;
} EventIterObject;

typedef struct {
	PyObject_HEAD tsm_event ev;
	PyObject *src;	/* object whose reader resolves the ids, or NULL */
	PyObject *name; /* str: events built in Python */
	PyObject *args; /* dict: events built in Python */
} EventObject;

/* Resolve ids of an event source. NULL when the source is closed. */
static const tsm_reader *src_reader(PyObject *src);

/* ---- names ---------------------------------------------------------------- */

static PyObject *str_or_none(const char *s)
{
	if (!s)
		Py_RETURN_NONE;
	return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
}

static PyObject *demangled(const char *s)
{
	char buf[4096];

	if (!s)
		Py_RETURN_NONE;
	return str_or_none(tsm_demangle(s, buf, sizeof(buf)));
}

static PyObject *kv_value(const tsm_reader *r, const tsm_kv *kv)
{
	switch (kv->type) {
	case TSM_KV_INT:
		return PyLong_FromLongLong(kv->v.i);
	case TSM_KV_DOUBLE:
		return PyFloat_FromDouble(kv->v.d);
	case TSM_KV_STR:
		return str_or_none(tsm_reader_string(r, (uint32_t)kv->v.str));
	default:
		Py_RETURN_NONE;
	}
}

static PyObject *kvlist_dict(const tsm_reader *r, const tsm_kv *kv, size_t n)
{
	PyObject *d = PyDict_New();

	for (size_t i = 0; d && i < n; i++) {
		const char *k = tsm_reader_string(r, kv[i].key);
		PyObject *v = kv_value(r, &kv[i]);

		if (!v || PyDict_SetItemString(d, k ? k : "?", v) < 0) {
			Py_XDECREF(v);
			Py_CLEAR(d);
			break;
		}
		Py_DECREF(v);
	}
	return d;
}

/* ---- Event -------------------------------------------------------------- */

static PyObject *event_new_from(const tsm_event *e, PyObject *src)
{
	EventObject *o = PyObject_New(EventObject, &EventType);

	if (!o)
		return NULL;
	o->ev = *e;
	Py_XINCREF(src);
	o->src = src;
	o->name = NULL;
	o->args = NULL;
	return (PyObject *)o;
}

static void event_dealloc(EventObject *o)
{
	Py_XDECREF(o->src);
	Py_XDECREF(o->name);
	Py_XDECREF(o->args);
	Py_TYPE(o)->tp_free((PyObject *)o);
}

static const tsm_reader *event_reader(EventObject *o)
{
	const tsm_reader *r;

	if (!o->src)
		return NULL;
	r = src_reader(o->src);
	if (!r)
		raise_msg(TSM_STATE, NULL, "the trace this event came from is closed");
	return r;
}

/* Name as a C string; *err set when the source is gone. */
static const char *event_cname(EventObject *o, int *err)
{
	const tsm_reader *r;

	*err = 0;
	if (o->name)
		return PyUnicode_AsUTF8(o->name);
	if (!o->ev.name || !o->src)
		return NULL;
	r = event_reader(o);
	if (!r) {
		*err = 1;
		return NULL;
	}
	return tsm_reader_string(r, o->ev.name);
}

enum {
	EF_KIND,
	EF_NAME,
	EF_DEMANGLED,
	EF_DUR,
	EF_DEVICE,
	EF_ARGS,
	EF_STACK,
	EF_GRID,
	EF_BLOCK,
	EF_CLUSTER,
	EF_REGS,
	EF_SSMEM,
	EF_DSMEM,
	EF_GRAPH_ID,
	EF_GRAPH_NODE,
	EF_BYTES,
	EF_COPY_KIND,
	EF_SRC_KIND,
	EF_DST_KIND,
	EF_SRC_DEV,
	EF_DST_DEV,
	EF_VALUE,
	EF_MEM_KIND,
	EF_SYNC_TYPE,
	EF_EVENT_ID,
	EF_ADDRESS,
	EF_CBID,
	EF_STATUS,
	EF_DOMAIN,
	EF_COLOR,
	EF_COUNT,
	EF_SOURCE,
	EF_OVERHEAD,
	EF__N
};

static PyObject *tuple3(unsigned a, unsigned b, unsigned c)
{
	return Py_BuildValue("(III)", a, b, c);
}

static PyObject *event_get(EventObject *o, void *closure)
{
	const tsm_event *e = &o->ev;
	unsigned k = e->kind;
	int id = (int)(intptr_t)closure, err;
	const char *s;

	switch (id) {
	case EF_KIND:
		return PyUnicode_FromString(tsm_event_kind_name(k));
	case EF_NAME:
		s = event_cname(o, &err);
		if (err)
			return NULL;
		return str_or_none(s);
	case EF_DEMANGLED:
		s = event_cname(o, &err);
		if (err)
			return NULL;
		return demangled(s);
	case EF_DUR:
		return PyLong_FromUnsignedLongLong(e->end_ns - e->start_ns);
	case EF_DEVICE:
		if (e->device == TSM_DEVICE_NONE)
			Py_RETURN_NONE;
		return PyLong_FromLong(e->device);
	case EF_ARGS: {
		const tsm_reader *r;
		const tsm_kv *kv;
		size_t n = 0;

		if (o->args) {
			Py_INCREF(o->args);
			return o->args;
		}
		if (!e->meta || !o->src)
			return PyDict_New();
		r = event_reader(o);
		if (!r)
			return NULL;
		kv = tsm_reader_kvlist(r, e->meta, &n);
		return kvlist_dict(r, kv, kv ? n : 0);
	}
	case EF_STACK: {
		const tsm_reader *r;
		const tsm_frame *fr;
		PyObject *l;
		size_t n = 0;

		if (!e->stack || !o->src)
			Py_RETURN_NONE;
		r = event_reader(o);
		if (!r)
			return NULL;
		fr = tsm_reader_stack(r, e->stack, &n);
		l = PyList_New(0);
		for (size_t i = 0; l && fr && i < n; i++) {
			PyObject *d = Py_BuildValue(
			    "{s:K,s:N,s:N,s:N,s:I}", "pc", (unsigned long long)fr[i].pc, "function",
			    str_or_none(tsm_reader_string(r, fr[i].function)), "module",
			    str_or_none(tsm_reader_string(r, fr[i].module)), "file",
			    str_or_none(tsm_reader_string(r, fr[i].file)), "line", fr[i].line);

			if (!d || PyList_Append(l, d) < 0) {
				Py_XDECREF(d);
				Py_CLEAR(l);
				break;
			}
			Py_DECREF(d);
		}
		return l;
	}
	default:
		break;
	}
	switch (k) {
	case TSM_EV_KERNEL:
		switch (id) {
		case EF_GRID:
			return tuple3(e->u.kernel.grid[0], e->u.kernel.grid[1],
				      e->u.kernel.grid[2]);
		case EF_BLOCK:
			return tuple3(e->u.kernel.block[0], e->u.kernel.block[1],
				      e->u.kernel.block[2]);
		case EF_CLUSTER:
			return tuple3(e->u.kernel.cluster[0], e->u.kernel.cluster[1],
				      e->u.kernel.cluster[2]);
		case EF_REGS:
			return PyLong_FromLong(e->u.kernel.regs_per_thread);
		case EF_SSMEM:
			return PyLong_FromUnsignedLong(e->u.kernel.static_smem_bytes);
		case EF_DSMEM:
			return PyLong_FromUnsignedLong(e->u.kernel.dynamic_smem_bytes);
		case EF_GRAPH_ID:
			return PyLong_FromUnsignedLong(e->u.kernel.graph_id);
		case EF_GRAPH_NODE:
			return PyLong_FromUnsignedLongLong(e->u.kernel.graph_node_id);
		}
		break;
	case TSM_EV_MEMCPY:
		switch (id) {
		case EF_BYTES:
			return PyLong_FromUnsignedLongLong(e->u.memcpy.bytes);
		case EF_COPY_KIND:
			return PyUnicode_FromString(tsm_copy_kind_name(e->u.memcpy.copy_kind));
		case EF_SRC_KIND:
			return PyUnicode_FromString(tsm_mem_kind_name(e->u.memcpy.src_kind));
		case EF_DST_KIND:
			return PyUnicode_FromString(tsm_mem_kind_name(e->u.memcpy.dst_kind));
		case EF_SRC_DEV:
			return PyLong_FromLong(e->u.memcpy.src_device);
		case EF_DST_DEV:
			return PyLong_FromLong(e->u.memcpy.dst_device);
		case EF_GRAPH_ID:
			return PyLong_FromUnsignedLong(e->u.memcpy.graph_id);
		case EF_GRAPH_NODE:
			return PyLong_FromUnsignedLongLong(e->u.memcpy.graph_node_id);
		}
		break;
	case TSM_EV_MEMSET:
		switch (id) {
		case EF_BYTES:
			return PyLong_FromUnsignedLongLong(e->u.memset.bytes);
		case EF_VALUE:
			return PyLong_FromUnsignedLong(e->u.memset.value);
		case EF_MEM_KIND:
			return PyUnicode_FromString(tsm_mem_kind_name(e->u.memset.mem_kind));
		case EF_GRAPH_ID:
			return PyLong_FromUnsignedLong(e->u.memset.graph_id);
		case EF_GRAPH_NODE:
			return PyLong_FromUnsignedLongLong(e->u.memset.graph_node_id);
		}
		break;
	case TSM_EV_SYNC:
		switch (id) {
		case EF_SYNC_TYPE:
			return PyUnicode_FromString(tsm_sync_type_name(e->u.sync.sync_type));
		case EF_EVENT_ID:
			return PyLong_FromUnsignedLongLong(e->u.sync.event_id);
		}
		break;
	case TSM_EV_ALLOC:
	case TSM_EV_FREE:
		switch (id) {
		case EF_ADDRESS:
			return PyLong_FromUnsignedLongLong(e->u.memory.address);
		case EF_BYTES:
			return PyLong_FromUnsignedLongLong(e->u.memory.bytes);
		case EF_MEM_KIND:
			return PyUnicode_FromString(tsm_mem_kind_name(e->u.memory.mem_kind));
		}
		break;
	case TSM_EV_RUNTIME:
	case TSM_EV_DRIVER:
		switch (id) {
		case EF_CBID:
			return PyLong_FromUnsignedLong(e->u.api.cbid);
		case EF_STATUS:
			return PyLong_FromLong(e->u.api.status);
		}
		break;
	case TSM_EV_NVTX_RANGE:
	case TSM_EV_NVTX_MARK:
		switch (id) {
		case EF_DOMAIN: {
			const tsm_reader *r;

			if (!e->u.nvtx.domain || !o->src)
				Py_RETURN_NONE;
			r = event_reader(o);
			if (!r)
				return NULL;
			return str_or_none(tsm_reader_string(r, e->u.nvtx.domain));
		}
		case EF_COLOR:
			return PyLong_FromUnsignedLong(e->u.nvtx.color);
		}
		break;
	case TSM_EV_COUNTER:
		if (id == EF_VALUE)
			return PyFloat_FromDouble(e->u.counter.value);
		break;
	case TSM_EV_DROPPED:
		switch (id) {
		case EF_COUNT:
			return PyLong_FromUnsignedLongLong(e->u.dropped.count);
		case EF_SOURCE:
			return PyUnicode_FromString(tsm_drop_source_name(e->u.dropped.source));
		}
		break;
	case TSM_EV_OVERHEAD:
		if (id == EF_OVERHEAD)
			return PyLong_FromLong(e->u.overhead.overhead_kind);
		break;
	}
	Py_RETURN_NONE;
}

#define EGET(nm, id, doc)                                                \
	{                                                                \
		nm, (getter)event_get, NULL, doc, (void *)(intptr_t)(id) \
	}
static PyGetSetDef event_getset[] = {
    EGET("kind", EF_KIND, "Event kind name: 'kernel', 'memcpy', 'runtime', ..."),
    EGET("name", EF_NAME, "Name (kernels: the mangled name as captured), or None."),
    EGET("demangled_name", EF_DEMANGLED, "Name with C++ symbols demangled."),
    EGET("dur_ns", EF_DUR, "end_ns - start_ns."),
    EGET("device", EF_DEVICE, "GPU ordinal, None for host-side events."),
    EGET("args", EF_ARGS, "Metadata key/value pairs (Kineto's args) as a dict."),
    EGET("stack", EF_STACK, "Host call stack as a list of frame dicts (innermost first), or None."),
    EGET("grid", EF_GRID, "Kernel grid (x, y, z); None for other kinds."),
    EGET("block", EF_BLOCK, "Kernel block (x, y, z)."),
    EGET("cluster", EF_CLUSTER, "Kernel cluster (x, y, z)."),
    EGET("regs_per_thread", EF_REGS, "Kernel registers per thread."),
    EGET("static_smem_bytes", EF_SSMEM, "Kernel static shared memory."),
    EGET("dynamic_smem_bytes", EF_DSMEM, "Kernel dynamic shared memory."),
    EGET("graph_id", EF_GRAPH_ID, "CUDA graph id (kernel, memcpy, memset)."),
    EGET("graph_node_id", EF_GRAPH_NODE, "CUDA graph node id."),
    EGET("bytes", EF_BYTES, "Bytes of a memcpy, memset, alloc or free."),
    EGET("copy_kind", EF_COPY_KIND, "Memcpy direction: 'HtoD', 'DtoH', ..."),
    EGET("src_kind", EF_SRC_KIND, "Memcpy source memory kind."),
    EGET("dst_kind", EF_DST_KIND, "Memcpy destination memory kind."),
    EGET("src_device", EF_SRC_DEV, "Memcpy source device."),
    EGET("dst_device", EF_DST_DEV, "Memcpy destination device."),
    EGET("value", EF_VALUE, "Memset byte value or counter value."),
    EGET("mem_kind", EF_MEM_KIND, "Memory kind of a memset, alloc or free."),
    EGET("sync_type", EF_SYNC_TYPE, "Synchronisation type of a sync record."),
    EGET("event_id", EF_EVENT_ID, "CUDA event id of a sync record."),
    EGET("address", EF_ADDRESS, "Address of an alloc or free."),
    EGET("cbid", EF_CBID, "CUPTI callback id of a runtime/driver call."),
    EGET("status", EF_STATUS, "Return code of a runtime/driver call."),
    EGET("domain", EF_DOMAIN, "NVTX domain name (None: the default domain)."),
    EGET("color", EF_COLOR, "NVTX ARGB colour."),
    EGET("count", EF_COUNT, "Dropped-event count of a 'dropped' record."),
    EGET("source", EF_SOURCE, "Where a 'dropped' record's events were lost."),
    EGET("overhead_kind", EF_OVERHEAD, "Overhead record kind."),
    {NULL}};
#undef EGET

#define EMEM(nm, type, field, doc)                                       \
	{                                                                \
		nm, type, offsetof(EventObject, ev.field), READONLY, doc \
	}
static PyMemberDef event_members[] = {
    EMEM("kind_id", T_UBYTE, kind, "Numeric event kind (SBT value)."),
    EMEM("flags", T_UBYTE, flags, "TSM_EVF_* bits (1 async, 2 graph, 4 cooperative, 8 imported)."),
    EMEM("name_id", T_UINT, name, "String id of the name (0: none)."),
    EMEM("start_ns", T_ULONGLONG, start_ns, "Start time in ns (the file's clock)."),
    EMEM("end_ns", T_ULONGLONG, end_ns, "End time in ns."),
    EMEM("context", T_UINT, context, "CUDA context id."),
    EMEM("stream", T_UINT, stream, "CUDA stream id."),
    EMEM("pid", T_UINT, pid, "Process id."),
    EMEM("tid", T_ULONGLONG, tid, "Host thread id (0 for GPU work)."),
    EMEM("correlation", T_ULONGLONG, correlation, "Correlation id (API call <-> GPU work)."),
    EMEM("external", T_ULONGLONG, external, "External id (framework op / NVTX range)."),
    EMEM("stack_id", T_UINT, stack, "Call-stack id (0: none)."),
    EMEM("meta_id", T_UINT, meta, "Metadata list id (0: none)."),
    EMEM("flow_id", T_ULONGLONG, flow_id, "Flow arrow id."),
    EMEM("flow_type", T_UBYTE, flow_type, "0 none, 1 start, 2 end, 3 step."),
    {NULL}};
#undef EMEM

/* Fields of to_dict(), per kind (besides the common ones). */
static const struct {
	const char *name;
	int id;
	unsigned kinds;
} dict_fields[] = {
    {"grid", EF_GRID, 1u << TSM_EV_KERNEL},
    {"block", EF_BLOCK, 1u << TSM_EV_KERNEL},
    {"cluster", EF_CLUSTER, 1u << TSM_EV_KERNEL},
    {"regs_per_thread", EF_REGS, 1u << TSM_EV_KERNEL},
    {"static_smem_bytes", EF_SSMEM, 1u << TSM_EV_KERNEL},
    {"dynamic_smem_bytes", EF_DSMEM, 1u << TSM_EV_KERNEL},
    {"graph_id", EF_GRAPH_ID,
     (1u << TSM_EV_KERNEL) | (1u << TSM_EV_MEMCPY) | (1u << TSM_EV_MEMSET)},
    {"graph_node_id", EF_GRAPH_NODE,
     (1u << TSM_EV_KERNEL) | (1u << TSM_EV_MEMCPY) | (1u << TSM_EV_MEMSET)},
    {"bytes", EF_BYTES,
     (1u << TSM_EV_MEMCPY) | (1u << TSM_EV_MEMSET) | (1u << TSM_EV_ALLOC) | (1u << TSM_EV_FREE)},
    {"copy_kind", EF_COPY_KIND, 1u << TSM_EV_MEMCPY},
    {"src_kind", EF_SRC_KIND, 1u << TSM_EV_MEMCPY},
    {"dst_kind", EF_DST_KIND, 1u << TSM_EV_MEMCPY},
    {"src_device", EF_SRC_DEV, 1u << TSM_EV_MEMCPY},
    {"dst_device", EF_DST_DEV, 1u << TSM_EV_MEMCPY},
    {"value", EF_VALUE, (1u << TSM_EV_MEMSET) | (1u << TSM_EV_COUNTER)},
    {"mem_kind", EF_MEM_KIND, (1u << TSM_EV_MEMSET) | (1u << TSM_EV_ALLOC) | (1u << TSM_EV_FREE)},
    {"sync_type", EF_SYNC_TYPE, 1u << TSM_EV_SYNC},
    {"event_id", EF_EVENT_ID, 1u << TSM_EV_SYNC},
    {"address", EF_ADDRESS, (1u << TSM_EV_ALLOC) | (1u << TSM_EV_FREE)},
    {"cbid", EF_CBID, (1u << TSM_EV_RUNTIME) | (1u << TSM_EV_DRIVER)},
    {"status", EF_STATUS, (1u << TSM_EV_RUNTIME) | (1u << TSM_EV_DRIVER)},
    {"domain", EF_DOMAIN, (1u << TSM_EV_NVTX_RANGE) | (1u << TSM_EV_NVTX_MARK)},
    {"color", EF_COLOR, (1u << TSM_EV_NVTX_RANGE) | (1u << TSM_EV_NVTX_MARK)},
    {"count", EF_COUNT, 1u << TSM_EV_DROPPED},
    {"source", EF_SOURCE, 1u << TSM_EV_DROPPED},
    {"overhead_kind", EF_OVERHEAD, 1u << TSM_EV_OVERHEAD},
};

static int dset(PyObject *d, const char *k, PyObject *v)
{
	int rc;

	if (!v)
		return -1;
	rc = PyDict_SetItemString(d, k, v);
	Py_DECREF(v);
	return rc;
}

static PyObject *event_to_dict(EventObject *o, PyObject *unused)
{
	const tsm_event *e = &o->ev;
	PyObject *d = PyDict_New();

	if (!d)
		return NULL;
	if (dset(d, "kind", event_get(o, (void *)EF_KIND)) < 0 ||
	    dset(d, "name", event_get(o, (void *)EF_NAME)) < 0 ||
	    dset(d, "start_ns", PyLong_FromUnsignedLongLong(e->start_ns)) < 0 ||
	    dset(d, "end_ns", PyLong_FromUnsignedLongLong(e->end_ns)) < 0 ||
	    dset(d, "dur_ns", PyLong_FromUnsignedLongLong(e->end_ns - e->start_ns)) < 0 ||
	    dset(d, "device", event_get(o, (void *)EF_DEVICE)) < 0 ||
	    dset(d, "context", PyLong_FromUnsignedLong(e->context)) < 0 ||
	    dset(d, "stream", PyLong_FromUnsignedLong(e->stream)) < 0 ||
	    dset(d, "pid", PyLong_FromUnsignedLong(e->pid)) < 0 ||
	    dset(d, "tid", PyLong_FromUnsignedLongLong(e->tid)) < 0 ||
	    dset(d, "correlation", PyLong_FromUnsignedLongLong(e->correlation)) < 0 ||
	    dset(d, "external", PyLong_FromUnsignedLongLong(e->external)) < 0 ||
	    dset(d, "flags", PyLong_FromLong(e->flags)) < 0 ||
	    dset(d, "args", event_get(o, (void *)EF_ARGS)) < 0)
		goto fail;
	for (size_t i = 0; i < sizeof(dict_fields) / sizeof(dict_fields[0]); i++)
		if ((dict_fields[i].kinds & (1u << e->kind)) &&
		    dset(d, dict_fields[i].name,
			 event_get(o, (void *)(intptr_t)dict_fields[i].id)) < 0)
			goto fail;
	return d;
fail:
	Py_DECREF(d);
	return NULL;
}

static PyObject *event_repr(EventObject *o)
{
	PyObject *name = event_get(o, (void *)EF_NAME), *r;

	if (!name) {
		PyErr_Clear();
		name = PyUnicode_FromString("<closed>");
	}
	if (o->ev.device == TSM_DEVICE_NONE)
		r = PyUnicode_FromFormat("<tracesmith.Event %s %R start_ns=%llu dur_ns=%llu pid=%u "
					 "tid=%llu>",
					 tsm_event_kind_name(o->ev.kind), name,
					 (unsigned long long)o->ev.start_ns,
					 (unsigned long long)(o->ev.end_ns - o->ev.start_ns),
					 o->ev.pid, (unsigned long long)o->ev.tid);
	else
		r = PyUnicode_FromFormat("<tracesmith.Event %s %R start_ns=%llu dur_ns=%llu "
					 "device=%u stream=%u>",
					 tsm_event_kind_name(o->ev.kind), name,
					 (unsigned long long)o->ev.start_ns,
					 (unsigned long long)(o->ev.end_ns - o->ev.start_ns),
					 (unsigned)o->ev.device, o->ev.stream);
	Py_XDECREF(name);
	return r;
}

static int set_u64(PyObject *v, const char *what, uint64_t max, uint64_t *out)
{
	if (v == Py_None) {
		PyErr_Format(PyExc_TypeError, "%s must be an int, not None", what);
		return -1;
	}
	return uint_arg(v, what, max, out);
}

static int triple(PyObject *v, const char *what, uint64_t max, uint64_t out[3])
{
	PyObject *seq = PySequence_Fast(v, "");

	if (!seq || PySequence_Fast_GET_SIZE(seq) != 3) {
		Py_XDECREF(seq);
		PyErr_Format(PyExc_TypeError, "%s must be a sequence of 3 ints", what);
		return -1;
	}
	for (int i = 0; i < 3; i++)
		if (set_u64(PySequence_Fast_GET_ITEM(seq, i), what, max, &out[i]) < 0) {
			Py_DECREF(seq);
			return -1;
		}
	Py_DECREF(seq);
	return 0;
}

static int enum_by_name(PyObject *v, const char *what, const char *(*namefn)(unsigned),
			unsigned count, uint8_t *out)
{
	const char *s;

	if (PyLong_Check(v)) {
		uint64_t x;

		if (uint_arg(v, what, count - 1, &x) < 0)
			return -1;
		*out = (uint8_t)x;
		return 0;
	}
	s = PyUnicode_Check(v) ? PyUnicode_AsUTF8(v) : NULL;
	if (!s) {
		PyErr_Format(PyExc_TypeError, "%s must be a str or an int", what);
		return -1;
	}
	for (unsigned i = 0; i < count; i++)
		if (!strcasecmp(namefn(i), s)) {
			*out = (uint8_t)i;
			return 0;
		}
	PyErr_Format(PyExc_ValueError, "unknown %s '%s'", what, s);
	return -1;
}

/* Event(kind, name=None, start_ns=0, end_ns=None, dur_ns=None, **fields) */
static int event_set_field(EventObject *o, const char *k, PyObject *v)
{
	tsm_event *e = &o->ev;
	unsigned kind = e->kind;
	uint64_t x = 0, t[3];

#define U(field, max)                           \
	do {                                    \
		if (set_u64(v, k, max, &x) < 0) \
			return -1;              \
		field = x;                      \
		return 0;                       \
	} while (0)
	if (!strcmp(k, "context"))
		U(e->context, UINT32_MAX);
	if (!strcmp(k, "stream"))
		U(e->stream, UINT32_MAX);
	if (!strcmp(k, "pid"))
		U(e->pid, UINT32_MAX);
	if (!strcmp(k, "tid"))
		U(e->tid, UINT64_MAX);
	if (!strcmp(k, "correlation"))
		U(e->correlation, UINT64_MAX);
	if (!strcmp(k, "external"))
		U(e->external, UINT64_MAX);
	if (!strcmp(k, "flags"))
		U(e->flags, 255);
	if (!strcmp(k, "flow_id"))
		U(e->flow_id, UINT64_MAX);
	if (!strcmp(k, "flow_type"))
		U(e->flow_type, 3);
	if (!strcmp(k, "device")) {
		if (v == Py_None) {
			e->device = TSM_DEVICE_NONE;
			return 0;
		}
		U(e->device, 0xfffe);
	}
	if (kind == TSM_EV_KERNEL) {
		if (!strcmp(k, "grid") || !strcmp(k, "block") || !strcmp(k, "cluster")) {
			int g = k[0] == 'g', b = k[0] == 'b';

			if (triple(v, k, g ? UINT32_MAX : b ? 0xffff : 0xff, t) < 0)
				return -1;
			for (int i = 0; i < 3; i++) {
				if (g)
					e->u.kernel.grid[i] = (uint32_t)t[i];
				else if (b)
					e->u.kernel.block[i] = (uint16_t)t[i];
				else
					e->u.kernel.cluster[i] = (uint8_t)t[i];
			}
			return 0;
		}
		if (!strcmp(k, "regs_per_thread"))
			U(e->u.kernel.regs_per_thread, 0xffff);
		if (!strcmp(k, "static_smem_bytes"))
			U(e->u.kernel.static_smem_bytes, UINT32_MAX);
		if (!strcmp(k, "dynamic_smem_bytes"))
			U(e->u.kernel.dynamic_smem_bytes, UINT32_MAX);
		if (!strcmp(k, "graph_id"))
			U(e->u.kernel.graph_id, UINT32_MAX);
		if (!strcmp(k, "graph_node_id"))
			U(e->u.kernel.graph_node_id, UINT64_MAX);
	}
	if (kind == TSM_EV_MEMCPY) {
		if (!strcmp(k, "bytes"))
			U(e->u.memcpy.bytes, UINT64_MAX);
		if (!strcmp(k, "copy_kind"))
			return enum_by_name(v, k, tsm_copy_kind_name, TSM_COPY__COUNT,
					    &e->u.memcpy.copy_kind);
		if (!strcmp(k, "src_kind"))
			return enum_by_name(v, k, tsm_mem_kind_name, TSM_MEM__COUNT,
					    &e->u.memcpy.src_kind);
		if (!strcmp(k, "dst_kind"))
			return enum_by_name(v, k, tsm_mem_kind_name, TSM_MEM__COUNT,
					    &e->u.memcpy.dst_kind);
		if (!strcmp(k, "src_device"))
			U(e->u.memcpy.src_device, 0xffff);
		if (!strcmp(k, "dst_device"))
			U(e->u.memcpy.dst_device, 0xffff);
	}
	if (kind == TSM_EV_MEMSET) {
		if (!strcmp(k, "bytes"))
			U(e->u.memset.bytes, UINT64_MAX);
		if (!strcmp(k, "value"))
			U(e->u.memset.value, UINT32_MAX);
		if (!strcmp(k, "mem_kind"))
			return enum_by_name(v, k, tsm_mem_kind_name, TSM_MEM__COUNT,
					    &e->u.memset.mem_kind);
	}
	if (kind == TSM_EV_ALLOC || kind == TSM_EV_FREE) {
		if (!strcmp(k, "bytes"))
			U(e->u.memory.bytes, UINT64_MAX);
		if (!strcmp(k, "address"))
			U(e->u.memory.address, UINT64_MAX);
		if (!strcmp(k, "mem_kind"))
			return enum_by_name(v, k, tsm_mem_kind_name, TSM_MEM__COUNT,
					    &e->u.memory.mem_kind);
	}
	if (kind == TSM_EV_SYNC) {
		if (!strcmp(k, "sync_type"))
			return enum_by_name(v, k, tsm_sync_type_name, TSM_SYNC__COUNT,
					    &e->u.sync.sync_type);
		if (!strcmp(k, "event_id"))
			U(e->u.sync.event_id, UINT64_MAX);
	}
	if (kind == TSM_EV_RUNTIME || kind == TSM_EV_DRIVER) {
		if (!strcmp(k, "cbid"))
			U(e->u.api.cbid, UINT32_MAX);
		if (!strcmp(k, "status")) {
			long s = PyLong_Check(v) ? PyLong_AsLong(v) : 0;

			if (!PyLong_Check(v) || PyErr_Occurred() || s < INT32_MIN ||
			    s > INT32_MAX) {
				PyErr_Clear();
				PyErr_SetString(PyExc_ValueError, "status must be a 32-bit int");
				return -1;
			}
			e->u.api.status = (int32_t)s;
			return 0;
		}
	}
	if ((kind == TSM_EV_NVTX_RANGE || kind == TSM_EV_NVTX_MARK) && !strcmp(k, "color"))
		U(e->u.nvtx.color, UINT32_MAX);
	if (kind == TSM_EV_COUNTER && !strcmp(k, "value")) {
		double d = PyFloat_AsDouble(v);

		if (d == -1.0 && PyErr_Occurred())
			return -1;
		e->u.counter.value = d;
		return 0;
	}
	if (kind == TSM_EV_DROPPED && !strcmp(k, "count"))
		U(e->u.dropped.count, UINT64_MAX);
#undef U
	PyErr_Format(PyExc_TypeError, "Event(): unknown field '%s' for a %s event", k,
		     tsm_event_kind_name(kind));
	return -1;
}

static int event_init_obj(EventObject *o, PyObject *args, PyObject *kw)
{
	PyObject *kind = NULL, *key, *val;
	uint64_t start = 0, end = 0, dur = 0;
	int have_end = 0, have_dur = 0;
	unsigned k;
	Py_ssize_t pos = 0;

	if (!PyArg_ParseTuple(args, "O:Event", &kind))
		return -1;
	if (kind_from_obj(kind, &k) < 0)
		return -1;
	memset(&o->ev, 0, sizeof(o->ev));
	o->ev.kind = (uint8_t)k;
	o->ev.device =
	    (k == TSM_EV_KERNEL || k == TSM_EV_MEMCPY || k == TSM_EV_MEMSET || k == TSM_EV_SYNC)
		? 0
		: TSM_DEVICE_NONE;
	if (k == TSM_EV_MEMCPY)
		o->ev.u.memcpy.src_device = o->ev.u.memcpy.dst_device = 0;
	Py_CLEAR(o->src);
	Py_CLEAR(o->name);
	Py_CLEAR(o->args);
	while (kw && PyDict_Next(kw, &pos, &key, &val)) {
		const char *ks = PyUnicode_AsUTF8(key);

		if (!ks)
			return -1;
		if (!strcmp(ks, "name")) {
			if (val != Py_None && !PyUnicode_Check(val)) {
				PyErr_SetString(PyExc_TypeError, "name must be a str or None");
				return -1;
			}
			if (val != Py_None) {
				Py_INCREF(val);
				o->name = val;
			}
		} else if (!strcmp(ks, "args")) {
			if (val != Py_None && !PyDict_Check(val)) {
				PyErr_SetString(PyExc_TypeError, "args must be a dict or None");
				return -1;
			}
			if (val != Py_None) {
				o->args = PyDict_Copy(val);
				if (!o->args)
					return -1;
			}
		} else if (!strcmp(ks, "start_ns")) {
			if (set_u64(val, ks, UINT64_MAX, &start) < 0)
				return -1;
		} else if (!strcmp(ks, "end_ns")) {
			if (set_u64(val, ks, UINT64_MAX, &end) < 0)
				return -1;
			have_end = 1;
		} else if (!strcmp(ks, "dur_ns")) {
			if (set_u64(val, ks, UINT64_MAX, &dur) < 0)
				return -1;
			have_dur = 1;
		} else if (!strcmp(ks, "kind")) {
			PyErr_SetString(PyExc_TypeError, "Event(): kind given twice");
			return -1;
		} else if (event_set_field(o, ks, val) < 0) {
			return -1;
		}
	}
	if (have_end && have_dur && end - start != dur) {
		PyErr_SetString(PyExc_ValueError, "Event(): end_ns - start_ns != dur_ns");
		return -1;
	}
	if (have_dur && UINT64_MAX - start < dur) {
		PyErr_SetString(PyExc_ValueError, "Event(): start_ns + dur_ns overflows");
		return -1;
	}
	o->ev.start_ns = start;
	o->ev.end_ns = have_end ? end : start + dur;
	if (o->ev.end_ns < o->ev.start_ns) {
		PyErr_SetString(PyExc_ValueError, "Event(): end_ns is before start_ns");
		return -1;
	}
	return 0;
}

static PyObject *event_copy(EventObject *o, PyObject *unused)
{
	EventObject *c = (EventObject *)event_new_from(&o->ev, o->src);

	if (c) {
		Py_XINCREF(o->name);
		c->name = o->name;
		c->args = o->args ? PyDict_Copy(o->args) : NULL;
	}
	return (PyObject *)c;
}

static PyMethodDef event_methods[] = {
    {"to_dict", (PyCFunction)event_to_dict, METH_NOARGS,
     "to_dict() -> dict\n\nThe event as a plain dict (names resolved, kind-specific fields "
     "included)."},
    {"copy", (PyCFunction)event_copy, METH_NOARGS, "copy() -> Event"},
    {NULL}};

static PyTypeObject EventType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tracesmith.Event",
    .tp_basicsize = sizeof(EventObject),
    .tp_dealloc = (destructor)event_dealloc,
    .tp_repr = (reprfunc)event_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Event(kind, *, name=None, start_ns=0, end_ns=None, dur_ns=None, **fields)\n\n"
	      "One trace event. Events read from a trace resolve their names through the\n"
	      "reader they came from; events built in Python carry their own name and args\n"
	      "and can be written with SBTWriter.write(). Fields: see the attributes.",
    .tp_methods = event_methods,
    .tp_members = event_members,
    .tp_getset = event_getset,
    .tp_init = (initproc)event_init_obj,
    .tp_new = PyType_GenericNew,
};

/* ---- EventIter ------------------------------------------------------------- */

static void eiter_dealloc(EventIterObject *o)
{
	tsm_reader_close(o->r);
	free(o->path);
	Py_TYPE(o)->tp_free((PyObject *)o);
}

static PyObject *eiter_next(EventIterObject *o)
{
	const tsm_event *e;
	int rc;

	BUSY_CHECK(o, NULL);
	if (o->done || !o->r)
		return NULL;
	tsm_clear_error();
	while ((rc = tsm_reader_next(o->r, &e)) == 0)
		if (filt_pass(&o->f, e))
			return event_new_from(e, (PyObject *)o);
	o->done = 1;
	if (rc < 0)
		return raise_status(rc, o->path);
	return NULL;
}

static PyObject *eiter_repr(EventIterObject *o)
{
	return PyUnicode_FromFormat("<tracesmith.EventIter %s%s>", o->path,
				    o->done ? " (exhausted)" : "");
}

static PyTypeObject EventIterType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tracesmith.EventIter",
    .tp_basicsize = sizeof(EventIterObject),
    .tp_dealloc = (destructor)eiter_dealloc,
    .tp_repr = (reprfunc)eiter_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Lazy iterator over the events of a trace (Trace.events()); filters run in C.",
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)eiter_next,
};

/* ---- Columns ------------------------------------------------------------- */

/* Column ids. Common columns first, then kind-specific ones. */
enum {
	C_KIND,
	C_FLAGS,
	C_DEVICE,
	C_NAME,
	C_START,
	C_END,
	C_DUR,
	C_CONTEXT,
	C_STREAM,
	C_PID,
	C_TID,
	C_CORR,
	C_EXT,
	C_STACK,
	C_META,
	C_FLOW_ID,
	C_FLOW_TYPE,
	C__COMMON,
	/* kernel */
	C_GRID = C__COMMON,
	C_BLOCK,
	C_CLUSTER,
	C_REGS,
	C_SSMEM,
	C_DSMEM,
	C_KGRAPH,
	C_KGRAPH_NODE,
	/* memcpy */
	C_CBYTES,
	C_COPY_KIND,
	C_SRC_KIND,
	C_DST_KIND,
	C_SRC_DEV,
	C_DST_DEV,
	/* memset */
	C_SBYTES,
	C_SVALUE,
	C_SMEM_KIND,
	/* sync */
	C_SYNC_TYPE,
	C_EVENT_ID,
	/* alloc/free */
	C_ADDRESS,
	C_MBYTES,
	C_MMEM_KIND,
	/* runtime/driver */
	C_CBID,
	C_STATUS,
	/* nvtx */
	C_DOMAIN,
	C_COLOR,
	/* counter */
	C_CVALUE,
	/* dropped */
	C_DCOUNT,
	C_DSOURCE,
	C__N
};

#define KM(k) (1u << TSM_EV_##k)
static const struct coldef {
	const char *name;
	char fmt[3];
	uint8_t size, ncomp;
	uint32_t kinds; /* 0: every kind */
	const char *doc;
} coldefs[C__N] = {
    [C_KIND] = {"kind", "B", 1, 1, 0, "event kind (numeric)"},
    [C_FLAGS] = {"flags", "B", 1, 1, 0, "TSM_EVF_* bits"},
    [C_DEVICE] = {"device", "H", 2, 1, 0, "GPU ordinal, 65535 for host events"},
    [C_NAME] = {"name", "I", 4, 1, 0, "string id of the name (see names / string())"},
    [C_START] = {"start_ns", "Q", 8, 1, 0, "start, ns"},
    [C_END] = {"end_ns", "Q", 8, 1, 0, "end, ns"},
    [C_DUR] = {"dur_ns", "Q", 8, 1, 0, "duration, ns"},
    [C_CONTEXT] = {"context", "I", 4, 1, 0, "CUDA context id"},
    [C_STREAM] = {"stream", "I", 4, 1, 0, "CUDA stream id"},
    [C_PID] = {"pid", "I", 4, 1, 0, "process id"},
    [C_TID] = {"tid", "Q", 8, 1, 0, "host thread id"},
    [C_CORR] = {"correlation", "Q", 8, 1, 0, "correlation id"},
    [C_EXT] = {"external", "Q", 8, 1, 0, "external id"},
    [C_STACK] = {"stack", "I", 4, 1, 0, "call-stack id"},
    [C_META] = {"meta", "I", 4, 1, 0, "metadata list id"},
    [C_FLOW_ID] = {"flow_id", "Q", 8, 1, 0, "flow id"},
    [C_FLOW_TYPE] = {"flow_type", "B", 1, 1, 0, "flow type"},
    [C_GRID] = {"grid", "I", 4, 3, KM(KERNEL), "grid (n, 3); grid_x/grid_y/grid_z as 1-D views"},
    [C_BLOCK] = {"block", "H", 2, 3, KM(KERNEL), "block (n, 3)"},
    [C_CLUSTER] = {"cluster", "B", 1, 3, KM(KERNEL), "cluster (n, 3)"},
    [C_REGS] = {"regs_per_thread", "H", 2, 1, KM(KERNEL), "registers per thread"},
    [C_SSMEM] = {"static_smem_bytes", "I", 4, 1, KM(KERNEL), "static shared memory"},
    [C_DSMEM] = {"dynamic_smem_bytes", "I", 4, 1, KM(KERNEL), "dynamic shared memory"},
    [C_KGRAPH] = {"graph_id", "I", 4, 1, KM(KERNEL), "CUDA graph id"},
    [C_KGRAPH_NODE] = {"graph_node_id", "Q", 8, 1, KM(KERNEL), "CUDA graph node id"},
    [C_CBYTES] = {"bytes", "Q", 8, 1, KM(MEMCPY), "bytes copied"},
    [C_COPY_KIND] = {"copy_kind", "B", 1, 1, KM(MEMCPY), "direction (1 HtoD, 2 DtoH, ...)"},
    [C_SRC_KIND] = {"src_kind", "B", 1, 1, KM(MEMCPY), "source memory kind"},
    [C_DST_KIND] = {"dst_kind", "B", 1, 1, KM(MEMCPY), "destination memory kind"},
    [C_SRC_DEV] = {"src_device", "H", 2, 1, KM(MEMCPY), "source device"},
    [C_DST_DEV] = {"dst_device", "H", 2, 1, KM(MEMCPY), "destination device"},
    [C_SBYTES] = {"bytes", "Q", 8, 1, KM(MEMSET), "bytes set"},
    [C_SVALUE] = {"value", "I", 4, 1, KM(MEMSET), "byte value"},
    [C_SMEM_KIND] = {"mem_kind", "B", 1, 1, KM(MEMSET), "memory kind"},
    [C_SYNC_TYPE] = {"sync_type", "B", 1, 1, KM(SYNC), "sync type"},
    [C_EVENT_ID] = {"event_id", "Q", 8, 1, KM(SYNC), "CUDA event id"},
    [C_ADDRESS] = {"address", "Q", 8, 1, KM(ALLOC) | KM(FREE), "address"},
    [C_MBYTES] = {"bytes", "Q", 8, 1, KM(ALLOC) | KM(FREE), "bytes"},
    [C_MMEM_KIND] = {"mem_kind", "B", 1, 1, KM(ALLOC) | KM(FREE), "memory kind"},
    [C_CBID] = {"cbid", "I", 4, 1, KM(RUNTIME) | KM(DRIVER), "CUPTI callback id"},
    [C_STATUS] = {"status", "i", 4, 1, KM(RUNTIME) | KM(DRIVER), "return code"},
    [C_DOMAIN] = {"domain", "I", 4, 1, KM(NVTX_RANGE) | KM(NVTX_MARK), "domain string id"},
    [C_COLOR] = {"color", "I", 4, 1, KM(NVTX_RANGE) | KM(NVTX_MARK), "ARGB colour"},
    [C_CVALUE] = {"value", "d", 8, 1, KM(COUNTER), "counter value"},
    [C_DCOUNT] = {"count", "Q", 8, 1, KM(DROPPED), "events lost"},
    [C_DSOURCE] = {"source", "B", 1, 1, KM(DROPPED), "drop source"},
};
#undef KM

typedef struct {
	PyObject_HEAD tsm_reader *r; /* read to the end: resolves every id */
	char *path;
	struct filt f;
	uint64_t mask; /* columns present */
	size_t n, cap;
	void *data[C__N];
	int busy;
} ColumnsObject;

typedef struct {
	PyObject_HEAD ColumnsObject *owner;
	int col, comp; /* comp: -1 whole column (2-D for grid/block/cluster), else one component */
	Py_ssize_t shape[2], strides[2];
} ColumnBufferObject;

/*
 * Column arrays are anonymous mappings asking for transparent huge pages:
 * filling 10M rows of 17 columns touches ~700 MB of fresh memory, and with
 * 4 KiB pages the page faults alone cost more than decoding the events.
 * Growth uses mremap (no copy). Sizes are rounded to whole huge pages.
 */
#define COL_HUGE (2u << 20)

static size_t col_bytes(int col, size_t cap)
{
	size_t b = cap * coldefs[col].size * coldefs[col].ncomp;

	return (b + COL_HUGE - 1) / COL_HUGE * COL_HUGE;
}

static void *col_map(void *old, size_t old_bytes, size_t bytes)
{
	void *p;

	if (old)
		p = mremap(old, old_bytes, bytes, MREMAP_MAYMOVE);
	else
		p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	madvise(p, bytes, MADV_HUGEPAGE);
	return p;
}

static int cols_grow(ColumnsObject *c, size_t want)
{
	size_t cap = c->cap ? c->cap : 4096;

	while (cap < want)
		cap *= 2;
	for (int i = 0; i < C__N; i++) {
		size_t ob, nb;
		void *p;

		if (!(c->mask & (1ull << i)))
			continue;
		ob = c->data[i] ? col_bytes(i, c->cap) : 0;
		nb = col_bytes(i, cap);
		if (nb == ob)
			continue;
		p = col_map(c->data[i], ob, nb);
		if (!p)
			return TSM_NOMEM;
		c->data[i] = p;
	}
	c->cap = cap;
	return 0;
}

#define PUT(col, T, val)                                   \
	do {                                               \
		if (m & (1ull << (col)))                   \
			((T *)c->data[col])[i] = (T)(val); \
	} while (0)
#define PUT3(col, T, a)                                    \
	do {                                               \
		if (m & (1ull << (col))) {                 \
			T *p_ = (T *)c->data[col] + 3 * i; \
			p_[0] = (T)(a)[0];                 \
			p_[1] = (T)(a)[1];                 \
			p_[2] = (T)(a)[2];                 \
		}                                          \
	} while (0)

/* One pass over the reader into the columns. Runs without the GIL. */
static int cols_fill(ColumnsObject *c)
{
	const uint64_t m = c->mask;
	const tsm_event *e;
	int rc;

	while ((rc = tsm_reader_next(c->r, &e)) == 0) {
		size_t i = c->n;

		if (!filt_pass(&c->f, e))
			continue;
		if (i == c->cap && (rc = cols_grow(c, i + 1)) < 0)
			return rc;
		PUT(C_KIND, uint8_t, e->kind);
		PUT(C_FLAGS, uint8_t, e->flags);
		PUT(C_DEVICE, uint16_t, e->device);
		PUT(C_NAME, uint32_t, e->name);
		PUT(C_START, uint64_t, e->start_ns);
		PUT(C_END, uint64_t, e->end_ns);
		PUT(C_DUR, uint64_t, e->end_ns - e->start_ns);
		PUT(C_CONTEXT, uint32_t, e->context);
		PUT(C_STREAM, uint32_t, e->stream);
		PUT(C_PID, uint32_t, e->pid);
		PUT(C_TID, uint64_t, e->tid);
		PUT(C_CORR, uint64_t, e->correlation);
		PUT(C_EXT, uint64_t, e->external);
		PUT(C_STACK, uint32_t, e->stack);
		PUT(C_META, uint32_t, e->meta);
		PUT(C_FLOW_ID, uint64_t, e->flow_id);
		PUT(C_FLOW_TYPE, uint8_t, e->flow_type);
		if (m >> C__COMMON) {
			switch (e->kind) {
			case TSM_EV_KERNEL:
				PUT3(C_GRID, uint32_t, e->u.kernel.grid);
				PUT3(C_BLOCK, uint16_t, e->u.kernel.block);
				PUT3(C_CLUSTER, uint8_t, e->u.kernel.cluster);
				PUT(C_REGS, uint16_t, e->u.kernel.regs_per_thread);
				PUT(C_SSMEM, uint32_t, e->u.kernel.static_smem_bytes);
				PUT(C_DSMEM, uint32_t, e->u.kernel.dynamic_smem_bytes);
				PUT(C_KGRAPH, uint32_t, e->u.kernel.graph_id);
				PUT(C_KGRAPH_NODE, uint64_t, e->u.kernel.graph_node_id);
				break;
			case TSM_EV_MEMCPY:
				PUT(C_CBYTES, uint64_t, e->u.memcpy.bytes);
				PUT(C_COPY_KIND, uint8_t, e->u.memcpy.copy_kind);
				PUT(C_SRC_KIND, uint8_t, e->u.memcpy.src_kind);
				PUT(C_DST_KIND, uint8_t, e->u.memcpy.dst_kind);
				PUT(C_SRC_DEV, uint16_t, e->u.memcpy.src_device);
				PUT(C_DST_DEV, uint16_t, e->u.memcpy.dst_device);
				break;
			case TSM_EV_MEMSET:
				PUT(C_SBYTES, uint64_t, e->u.memset.bytes);
				PUT(C_SVALUE, uint32_t, e->u.memset.value);
				PUT(C_SMEM_KIND, uint8_t, e->u.memset.mem_kind);
				break;
			case TSM_EV_SYNC:
				PUT(C_SYNC_TYPE, uint8_t, e->u.sync.sync_type);
				PUT(C_EVENT_ID, uint64_t, e->u.sync.event_id);
				break;
			case TSM_EV_ALLOC:
			case TSM_EV_FREE:
				PUT(C_ADDRESS, uint64_t, e->u.memory.address);
				PUT(C_MBYTES, uint64_t, e->u.memory.bytes);
				PUT(C_MMEM_KIND, uint8_t, e->u.memory.mem_kind);
				break;
			case TSM_EV_RUNTIME:
			case TSM_EV_DRIVER:
				PUT(C_CBID, uint32_t, e->u.api.cbid);
				PUT(C_STATUS, int32_t, e->u.api.status);
				break;
			case TSM_EV_NVTX_RANGE:
			case TSM_EV_NVTX_MARK:
				PUT(C_DOMAIN, uint32_t, e->u.nvtx.domain);
				PUT(C_COLOR, uint32_t, e->u.nvtx.color);
				break;
			case TSM_EV_COUNTER:
				PUT(C_CVALUE, double, e->u.counter.value);
				break;
			case TSM_EV_DROPPED:
				PUT(C_DCOUNT, uint64_t, e->u.dropped.count);
				PUT(C_DSOURCE, uint8_t, e->u.dropped.source);
				break;
			default:
				break;
			}
		}
		c->n = i + 1;
	}
	return rc < 0 ? rc : 0;
}
#undef PUT
#undef PUT3

/* Column id for `name` in these columns, -1 if absent. */
static int cols_find(const ColumnsObject *c, const char *name, int *comp)
{
	size_t len = strlen(name);

	*comp = -1;
	for (int i = 0; i < C__N; i++) {
		size_t l = strlen(coldefs[i].name);

		if (!(c->mask & (1ull << i)))
			continue;
		if (!strcmp(coldefs[i].name, name))
			return i;
		/* grid_x / block_y / cluster_z: one component of a 3-wide column */
		if (coldefs[i].ncomp == 3 && len == l + 2 && !strncmp(name, coldefs[i].name, l) &&
		    name[l] == '_' && name[l + 1] >= 'x' && name[l + 1] <= 'z') {
			*comp = name[l + 1] - 'x';
			return i;
		}
	}
	return -1;
}

static PyObject *cols_view(ColumnsObject *c, int col, int comp)
{
	ColumnBufferObject *b = PyObject_New(ColumnBufferObject, &ColumnBufferType);
	const struct coldef *d = &coldefs[col];
	PyObject *mv;

	if (!b)
		return NULL;
	Py_INCREF(c);
	b->owner = c;
	b->col = col;
	b->comp = comp;
	b->shape[0] = (Py_ssize_t)c->n;
	b->shape[1] = d->ncomp;
	b->strides[0] = (Py_ssize_t)d->size * d->ncomp;
	b->strides[1] = d->size;
	mv = PyMemoryView_FromObject((PyObject *)b);
	Py_DECREF(b);
	return mv;
}

static PyObject *cols_getattro(ColumnsObject *c, PyObject *name)
{
	const char *s = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
	int comp, col;

	if (s && s[0] != '_' && (col = cols_find(c, s, &comp)) >= 0)
		return cols_view(c, col, comp);
	return PyObject_GenericGetAttr((PyObject *)c, name);
}

static void cols_dealloc(ColumnsObject *c)
{
	for (int i = 0; i < C__N; i++)
		if (c->data[i])
			munmap(c->data[i], col_bytes(i, c->cap));
	tsm_reader_close(c->r);
	free(c->path);
	Py_TYPE(c)->tp_free((PyObject *)c);
}

static Py_ssize_t cols_len(ColumnsObject *c)
{
	return (Py_ssize_t)c->n;
}

static PyObject *cols_fields(ColumnsObject *c, void *unused)
{
	PyObject *t = PyList_New(0), *r;

	for (int i = 0; t && i < C__N; i++) {
		PyObject *s;

		if (!(c->mask & (1ull << i)))
			continue;
		s = PyUnicode_FromString(coldefs[i].name);
		if (!s || PyList_Append(t, s) < 0) {
			Py_XDECREF(s);
			Py_CLEAR(t);
		}
		Py_XDECREF(s);
	}
	if (!t)
		return NULL;
	r = PyList_AsTuple(t);
	Py_DECREF(t);
	return r;
}

static PyObject *cols_kind(ColumnsObject *c, void *unused)
{
	uint32_t k = c->f.kinds;

	if (!k || (k & (k - 1)))
		Py_RETURN_NONE;
	return PyUnicode_FromString(tsm_event_kind_name((unsigned)__builtin_ctz(k)));
}

static PyObject *cols_string(ColumnsObject *c, PyObject *arg)
{
	uint64_t id = 0;

	if (set_u64(arg, "id", UINT32_MAX, &id) < 0)
		return NULL;
	return str_or_none(tsm_reader_string(c->r, (uint32_t)id));
}

/* Names per row: one str object per distinct id (shared), in a list. */
static PyObject *cols_names(ColumnsObject *c, void *unused)
{
	PyObject *l, *cache;
	const uint32_t *ids = c->data[C_NAME];

	if (!(c->mask & (1ull << C_NAME))) {
		PyErr_SetString(PyExc_AttributeError, "names: the 'name' column was not loaded");
		return NULL;
	}
	l = PyList_New((Py_ssize_t)c->n);
	cache = PyDict_New();
	if (!l || !cache)
		goto fail;
	for (size_t i = 0; i < c->n; i++) {
		PyObject *key = PyLong_FromUnsignedLong(ids[i]), *s;

		if (!key)
			goto fail;
		s = PyDict_GetItemWithError(cache, key);
		if (s) {
			Py_INCREF(s);
		} else {
			if (PyErr_Occurred()) {
				Py_DECREF(key);
				goto fail;
			}
			s = str_or_none(tsm_reader_string(c->r, ids[i]));
			if (!s || PyDict_SetItem(cache, key, s) < 0) {
				Py_XDECREF(s);
				Py_DECREF(key);
				goto fail;
			}
		}
		Py_DECREF(key);
		PyList_SET_ITEM(l, (Py_ssize_t)i, s);
	}
	Py_DECREF(cache);
	return l;
fail:
	Py_XDECREF(l);
	Py_XDECREF(cache);
	return NULL;
}

static PyObject *cols_cell(ColumnsObject *c, int col, size_t i)
{
	const struct coldef *d = &coldefs[col];
	const char *p = (const char *)c->data[col] + (size_t)d->size * d->ncomp * i;

	if (d->ncomp == 3) {
		unsigned v[3];

		for (int k = 0; k < 3; k++) {
			const char *q = p + k * d->size;

			v[k] = d->size == 4   ? *(const uint32_t *)q
			       : d->size == 2 ? *(const uint16_t *)q
					      : *(const uint8_t *)q;
		}
		return tuple3(v[0], v[1], v[2]);
	}
	switch (d->fmt[0]) {
	case 'B':
		return PyLong_FromLong(*(const uint8_t *)p);
	case 'H':
		return PyLong_FromLong(*(const uint16_t *)p);
	case 'I':
		return PyLong_FromUnsignedLong(*(const uint32_t *)p);
	case 'i':
		return PyLong_FromLong(*(const int32_t *)p);
	case 'd':
		return PyFloat_FromDouble(*(const double *)p);
	default:
		return PyLong_FromUnsignedLongLong(*(const uint64_t *)p);
	}
}

static PyObject *cols_row(ColumnsObject *c, Py_ssize_t i)
{
	PyObject *d;

	if (i < 0)
		i += (Py_ssize_t)c->n;
	if (i < 0 || (size_t)i >= c->n) {
		PyErr_SetString(PyExc_IndexError, "row index out of range");
		return NULL;
	}
	d = PyDict_New();
	for (int col = 0; d && col < C__N; col++) {
		if (!(c->mask & (1ull << col)))
			continue;
		if (col == C_KIND) {
			if (dset(d, "kind",
				 PyUnicode_FromString(
				     tsm_event_kind_name(((const uint8_t *)c->data[col])[i]))) < 0)
				Py_CLEAR(d);
			continue;
		}
		if (col == C_NAME) {
			if (dset(d, "name",
				 str_or_none(tsm_reader_string(
				     c->r, ((const uint32_t *)c->data[col])[i]))) < 0)
				Py_CLEAR(d);
			continue;
		}
		if (dset(d, coldefs[col].name, cols_cell(c, col, (size_t)i)) < 0)
			Py_CLEAR(d);
	}
	return d;
}

static PyObject *cols_to_records(ColumnsObject *c, PyObject *unused)
{
	PyObject *l = PyList_New((Py_ssize_t)c->n);

	for (size_t i = 0; l && i < c->n; i++) {
		PyObject *d = cols_row(c, (Py_ssize_t)i);

		if (!d) {
			Py_CLEAR(l);
			break;
		}
		PyList_SET_ITEM(l, (Py_ssize_t)i, d);
	}
	return l;
}

static PyObject *cols_repr(ColumnsObject *c)
{
	PyObject *kind = cols_kind(c, NULL), *r;

	r = PyUnicode_FromFormat("<tracesmith.Columns %s: %zu rows, %d fields>",
				 kind == Py_None ? "all kinds" : PyUnicode_AsUTF8(kind), c->n,
				 __builtin_popcountll(c->mask));
	Py_XDECREF(kind);
	return r;
}

static PyObject *cols_column(ColumnsObject *c, PyObject *arg)
{
	const char *s = PyUnicode_Check(arg) ? PyUnicode_AsUTF8(arg) : NULL;
	int comp, col;

	if (!s) {
		PyErr_SetString(PyExc_TypeError, "column name must be a str");
		return NULL;
	}
	col = cols_find(c, s, &comp);
	if (col < 0) {
		PyErr_Format(PyExc_KeyError, "no column '%s' in these columns", s);
		return NULL;
	}
	return cols_view(c, col, comp);
}

static PySequenceMethods cols_seq = {
    .sq_length = (lenfunc)cols_len,
    .sq_item = (ssizeargfunc)cols_row,
};

static PyMethodDef cols_methods[] = {
    {"string", (PyCFunction)cols_string, METH_O,
     "string(id) -> str | None\n\nThe string with this id (names, NVTX domains)."},
    {"to_records", (PyCFunction)cols_to_records, METH_NOARGS,
     "to_records() -> list[dict]\n\nEvery row as a plain dict (names resolved)."},
    {"column", (PyCFunction)cols_column, METH_O,
     "column(name) -> memoryview\n\nOne column (also available as an attribute)."},
    {NULL}};

static PyGetSetDef cols_getset[] = {
    {"fields", (getter)cols_fields, NULL, "Names of the loaded columns.", NULL},
    {"event_kind", (getter)cols_kind, NULL,
     "The one event kind of these columns, or None (the column 'kind' holds each row's).", NULL},
    {"names", (getter)cols_names, NULL, "Name of every row as a list of str (not zero-copy).",
     NULL},
    {NULL}};

static PyTypeObject ColumnsType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tracesmith.Columns",
    .tp_basicsize = sizeof(ColumnsObject),
    .tp_dealloc = (destructor)cols_dealloc,
    .tp_repr = (reprfunc)cols_repr,
    .tp_as_sequence = &cols_seq,
    .tp_getattro = (getattrofunc)cols_getattro,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Columnar view of a trace's events (Trace.columns(), Trace.kernels()).\n\n"
	      "Each column (start_ns, dur_ns, name, device, stream, correlation, grid, ...)\n"
	      "is a read-only typed memoryview over C arrays: numpy.asarray(col) shares the\n"
	      "memory. len() is the row count; c[i] is row i as a dict.",
    .tp_methods = cols_methods,
    .tp_getset = cols_getset,
};

/* Buffer exporter of one column. */
static int cbuf_getbuffer(ColumnBufferObject *b, Py_buffer *v, int flags)
{
	static uint64_t empty;
	const ColumnsObject *c = b->owner;
	const struct coldef *d = &coldefs[b->col];
	int two_d = b->comp < 0 && d->ncomp > 1, strided = b->comp >= 0 && d->ncomp > 1;

	if (flags & PyBUF_WRITABLE) {
		PyErr_SetString(PyExc_BufferError, "tracesmith columns are read-only");
		return -1;
	}
	if ((two_d || strided) && (flags & PyBUF_STRIDES) != PyBUF_STRIDES &&
	    !(two_d && (flags & PyBUF_ND) == PyBUF_ND)) {
		PyErr_SetString(PyExc_BufferError, "this column needs a strided buffer");
		return -1;
	}
	if (strided && (flags & PyBUF_STRIDES) != PyBUF_STRIDES) {
		PyErr_SetString(PyExc_BufferError, "this column is not contiguous");
		return -1;
	}
	v->buf =
	    c->n ? (char *)c->data[b->col] + (b->comp > 0 ? b->comp * d->size : 0) : (void *)&empty;
	v->obj = (PyObject *)b;
	Py_INCREF(b);
	v->len = (Py_ssize_t)c->n * d->size * (two_d ? d->ncomp : 1);
	v->readonly = 1;
	v->itemsize = d->size;
	v->format = (flags & PyBUF_FORMAT) ? (char *)d->fmt : NULL;
	v->ndim = two_d ? 2 : 1;
	v->shape = (flags & PyBUF_ND) == PyBUF_ND ? b->shape : NULL;
	v->strides = (flags & PyBUF_STRIDES) == PyBUF_STRIDES ? (two_d	   ? b->strides
								 : strided ? &b->strides[0]
									   : &b->strides[1])
							      : NULL;
	v->suboffsets = NULL;
	v->internal = NULL;
	return 0;
}

static void cbuf_dealloc(ColumnBufferObject *b)
{
	Py_XDECREF(b->owner);
	Py_TYPE(b)->tp_free((PyObject *)b);
}

static PyBufferProcs cbuf_as_buffer = {.bf_getbuffer = (getbufferproc)cbuf_getbuffer};

static PyTypeObject ColumnBufferType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tracesmith.ColumnBuffer",
    .tp_basicsize = sizeof(ColumnBufferObject),
    .tp_dealloc = (destructor)cbuf_dealloc,
    .tp_as_buffer = &cbuf_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Buffer exporter of one Columns column (keeps the Columns alive).",
};

/* Build columns from `path` with filter `f` and the requested fields. */
static PyObject *columns_build(const char *path, unsigned flags, const struct filt *f,
			       PyObject *fields)
{
	ColumnsObject *c;
	uint32_t k = f->kinds;
	int single = k && !(k & (k - 1)), rc;

	c = PyObject_New(ColumnsObject, &ColumnsType);
	if (!c)
		return NULL;
	c->r = NULL;
	c->f = *f;
	c->n = c->cap = 0;
	c->busy = 0;
	memset(c->data, 0, sizeof(c->data));
	c->path = strdup(path);
	if (!c->path) {
		Py_DECREF(c);
		return PyErr_NoMemory();
	}
	c->mask = 0;
	if (!fields || fields == Py_None) {
		for (int i = 0; i < C__N; i++)
			if (!coldefs[i].kinds || (single && (coldefs[i].kinds & k)))
				c->mask |= 1ull << i;
	} else {
		PyObject *it = PyObject_GetIter(fields), *item;

		if (!it || PyUnicode_Check(fields)) {
			Py_XDECREF(it);
			PyErr_Clear();
			PyErr_SetString(PyExc_TypeError, "fields must be a list of column names");
			Py_DECREF(c);
			return NULL;
		}
		while ((item = PyIter_Next(it))) {
			const char *s = PyUnicode_Check(item) ? PyUnicode_AsUTF8(item) : NULL;
			int found = -1;

			for (int i = 0; s && i < C__N; i++)
				if (!strcmp(coldefs[i].name, s) &&
				    (!coldefs[i].kinds || (single && (coldefs[i].kinds & k))))
					found = i;
			if (found < 0) {
				PyErr_Format(
				    PyExc_ValueError, "fields: no column %R for %s events", item,
				    single ? tsm_event_kind_name((unsigned)__builtin_ctz(k))
					   : "mixed");
				Py_DECREF(item);
				Py_DECREF(it);
				Py_DECREF(c);
				return NULL;
			}
			c->mask |= 1ull << found;
			Py_DECREF(item);
		}
		Py_DECREF(it);
		if (PyErr_Occurred()) {
			Py_DECREF(c);
			return NULL;
		}
	}
	if (open_reader(path, flags, f, &c->r) < 0) {
		Py_DECREF(c);
		return NULL;
	}
	Py_BEGIN_ALLOW_THREADS;
	{
		const tsm_trace_info *ti = tsm_reader_info(c->r);

		/* With an index the event count is known: one allocation, no regrowth. */
		rc = cols_grow(c, !f->kinds && !f->window && f->device < 0 && f->stream < 0 &&
					  ti->indexed_events
				      ? (size_t)ti->indexed_events
				      : 4096);
		if (rc == 0)
			rc = cols_fill(c);
	}
	Py_END_ALLOW_THREADS;
	if (rc < 0) {
		if (rc == TSM_NOMEM)
			PyErr_NoMemory();
		else
			raise_status(rc, path);
		Py_DECREF(c);
		return NULL;
	}
	return (PyObject *)c;
}

/* ---- Trace ------------------------------------------------------------------ */

static const tsm_reader *src_reader(PyObject *src)
{
	if (Py_IS_TYPE(src, &EventIterType))
		return ((EventIterObject *)src)->r;
	if (Py_IS_TYPE(src, &ColumnsType))
		return ((ColumnsObject *)src)->r;
	if (PyObject_TypeCheck(src, &TraceType))
		return ((TraceObject *)src)->r;
	return NULL;
}

static int trace_init(TraceObject *t, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"path", "strict", "_delete_on_close", NULL};
	PyObject *p;
	int strict = 0, del = 0;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|$pp:Trace", kwlist, &p, &strict, &del))
		return -1;
	if (t->r || t->path) {
		PyErr_SetString(PyExc_TypeError, "Trace is already initialised");
		return -1;
	}
	t->path = path_arg(p);
	if (!t->path)
		return -1;
	t->flags = strict ? TSM_READ_STRICT : 0;
	if (open_reader(t->path, t->flags, NULL, &t->r) < 0)
		return -1;
	t->delete_on_close = del;
	return 0;
}

static void trace_close_c(TraceObject *t)
{
	if (t->r) {
		tsm_reader_close(t->r);
		t->r = NULL;
		if (t->delete_on_close && t->path)
			unlink(t->path);
	}
}

static void trace_dealloc(TraceObject *t)
{
	trace_close_c(t);
	free(t->path);
	Py_TYPE(t)->tp_free((PyObject *)t);
}

static int trace_check(TraceObject *t)
{
	if (!t->path) {
		PyErr_SetString(PyExc_TypeError, "Trace was not initialised");
		return -1;
	}
	if (!t->r) {
		raise_msg(TSM_STATE, t->path, "the trace is closed");
		return -1;
	}
	if (t->busy) {
		raise_msg(TSM_STATE, t->path, "trace in use by another thread");
		return -1;
	}
	return 0;
}

/* Read the trace's own reader to the end once: every definition is then known. */
static int trace_scan(TraceObject *t)
{
	const tsm_event *e;
	uint64_t n = 0;
	int rc;

	if (trace_check(t) < 0)
		return -1;
	if (t->scanned)
		return 0;
	t->busy = 1;
	Py_BEGIN_ALLOW_THREADS;
	tsm_clear_error();
	while ((rc = tsm_reader_next(t->r, &e)) == 0)
		n++;
	Py_END_ALLOW_THREADS;
	t->busy = 0;
	if (rc < 0) {
		raise_status(rc, t->path);
		return -1;
	}
	t->scanned = 1;
	t->nevents = n;
	return 0;
}

static PyObject *trace_close(TraceObject *t, PyObject *unused)
{
	if (t->busy)
		return raise_msg(TSM_STATE, t->path, "trace in use by another thread");
	trace_close_c(t);
	Py_RETURN_NONE;
}

static PyObject *trace_enter(TraceObject *t, PyObject *unused)
{
	if (trace_check(t) < 0)
		return NULL;
	Py_INCREF(t);
	return (PyObject *)t;
}

static PyObject *trace_exit(TraceObject *t, PyObject *args)
{
	return trace_close(t, NULL);
}

static PyObject *trace_path(TraceObject *t, void *unused)
{
	if (!t->path)
		Py_RETURN_NONE;
	return PyUnicode_DecodeFSDefault(t->path);
}

static PyObject *trace_closed(TraceObject *t, void *unused)
{
	return PyBool_FromLong(t->r == NULL);
}

static PyObject *trace_info(TraceObject *t, void *unused)
{
	const tsm_trace_info *i;

	if (trace_check(t) < 0)
		return NULL;
	i = tsm_reader_info(t->r);
	return Py_BuildValue(
	    "{s:(HH),s:s,s:L,s:K,s:N,s:O,s:O,s:K,s:K,s:K,s:O,s:N}", "version", i->major, i->minor,
	    "clock", tsm_clock_name(i->clock), "realtime_offset_ns",
	    (long long)i->realtime_offset_ns, "created_realtime_ns",
	    (unsigned long long)i->created_realtime_ns, "producer", str_or_none(i->producer),
	    "has_index", i->has_index ? Py_True : Py_False, "recovered",
	    i->recovered ? Py_True : Py_False, "discarded_bytes",
	    (unsigned long long)i->discarded_bytes, "file_bytes", (unsigned long long)i->file_bytes,
	    "indexed_events", (unsigned long long)i->indexed_events, "compressed",
	    (i->required_features & TSM_SBT_REQ_ZSTD) ? Py_True : Py_False, "events",
	    t->scanned ? PyLong_FromUnsignedLongLong(t->nevents) : (Py_INCREF(Py_None), Py_None));
}

static PyObject *device_dict(const tsm_reader *r, const tsm_device_info *d)
{
	return Py_BuildValue(
	    "{s:I,s:N,s:N,s:(HH),s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:K}",
	    "id", d->id, "name", str_or_none(tsm_reader_string(r, d->name)), "uuid",
	    str_or_none(tsm_reader_string(r, d->uuid)), "compute_capability", d->cc_major,
	    d->cc_minor, "sm_count", d->sm_count, "core_clock_khz", d->core_clock_khz,
	    "mem_clock_khz", d->mem_clock_khz, "mem_bus_width_bits", d->mem_bus_width_bits,
	    "l2_bytes", d->l2_bytes, "max_threads_per_block", d->max_threads_per_block,
	    "max_threads_per_sm", d->max_threads_per_sm, "regs_per_block", d->regs_per_block,
	    "regs_per_sm", d->regs_per_sm, "smem_per_block_bytes", d->smem_per_block_bytes,
	    "smem_per_block_optin_bytes", d->smem_per_block_optin_bytes, "smem_per_sm_bytes",
	    d->smem_per_sm_bytes, "warp_size", d->warp_size, "max_blocks_per_sm",
	    d->max_blocks_per_sm, "global_mem_bytes", (unsigned long long)d->global_mem_bytes);
}

static PyObject *trace_devices(TraceObject *t, void *unused)
{
	const tsm_device_info *d;
	PyObject *l;
	size_t n = 0;

	if (trace_scan(t) < 0)
		return NULL;
	d = tsm_reader_devices(t->r, &n);
	l = PyList_New(0);
	for (size_t i = 0; l && d && i < n; i++) {
		PyObject *x = device_dict(t->r, &d[i]);

		if (!x || PyList_Append(l, x) < 0)
			Py_CLEAR(l);
		Py_XDECREF(x);
	}
	return l;
}

static PyObject *trace_processes(TraceObject *t, void *unused)
{
	const tsm_process_info *p;
	PyObject *l;
	size_t n = 0;

	if (trace_scan(t) < 0)
		return NULL;
	p = tsm_reader_processes(t->r, &n);
	l = PyList_New(0);
	for (size_t i = 0; l && p && i < n; i++) {
		PyObject *x =
		    Py_BuildValue("{s:I,s:N,s:N,s:N,s:N}", "pid", p[i].pid, "rank",
				  p[i].rank < 0 ? Py_NewRef(Py_None) : PyLong_FromLong(p[i].rank),
				  "name", str_or_none(tsm_reader_string(t->r, p[i].name)),
				  "cmdline", str_or_none(tsm_reader_string(t->r, p[i].cmdline)),
				  "host", str_or_none(tsm_reader_string(t->r, p[i].host)));

		if (!x || PyList_Append(l, x) < 0)
			Py_CLEAR(l);
		Py_XDECREF(x);
	}
	return l;
}

static PyObject *trace_metadata(TraceObject *t, void *unused)
{
	const tsm_kv *kv;
	size_t n = 0;

	if (trace_scan(t) < 0)
		return NULL;
	kv = tsm_reader_meta(t->r, &n);
	return kvlist_dict(t->r, kv, kv ? n : 0);
}

static PyObject *trace_string(TraceObject *t, PyObject *arg)
{
	uint64_t id = 0;
	const char *s;

	if (set_u64(arg, "id", UINT32_MAX, &id) < 0 || trace_check(t) < 0)
		return NULL;
	s = tsm_reader_string(t->r, (uint32_t)id);
	if (!s && id) {
		if (trace_scan(t) < 0)
			return NULL;
		s = tsm_reader_string(t->r, (uint32_t)id);
	}
	return str_or_none(s);
}

static Py_ssize_t trace_len(TraceObject *t)
{
	const tsm_trace_info *i;

	if (trace_check(t) < 0)
		return -1;
	i = tsm_reader_info(t->r);
	if (i->has_index && !t->scanned)
		return (Py_ssize_t)i->indexed_events;
	if (trace_scan(t) < 0)
		return -1;
	return (Py_ssize_t)t->nevents;
}

static char *filter_kw[] = {"kind", "device", "stream", "start_ns", "end_ns", NULL};

static PyObject *trace_events(TraceObject *t, PyObject *args, PyObject *kw)
{
	PyObject *kind = NULL, *dev = NULL, *stream = NULL, *start = NULL, *end = NULL;
	EventIterObject *it;
	struct filt f;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|OOOOO:events", filter_kw, &kind, &dev, &stream,
					 &start, &end))
		return NULL;
	if (trace_check(t) < 0 || filt_parse(&f, kind, dev, stream, start, end) < 0)
		return NULL;
	it = PyObject_New(EventIterObject, &EventIterType);
	if (!it)
		return NULL;
	it->r = NULL;
	it->f = f;
	it->done = 0;
	it->busy = 0;
	it->path = strdup(t->path);
	if (!it->path) {
		Py_DECREF(it);
		return PyErr_NoMemory();
	}
	if (open_reader(t->path, t->flags, &f, &it->r) < 0) {
		Py_DECREF(it);
		return NULL;
	}
	return (PyObject *)it;
}

static PyObject *trace_iter(TraceObject *t)
{
	PyObject *a = PyTuple_New(0), *r;

	if (!a)
		return NULL;
	r = trace_events(t, a, NULL);
	Py_DECREF(a);
	return r;
}

static PyObject *trace_columns_kind(TraceObject *t, PyObject *args, PyObject *kw,
				    const char *fixed_kind)
{
	static char *kwlist[] = {"kind", "fields", "device", "stream", "start_ns", "end_ns", NULL};
	static char *kwlist_fixed[] = {"fields", "device", "stream", "start_ns", "end_ns", NULL};
	PyObject *kind = NULL, *fields = NULL, *dev = NULL, *stream = NULL, *start = NULL,
		 *end = NULL, *kobj = NULL, *r;
	struct filt f;
	int ok;

	if (fixed_kind)
		ok = PyArg_ParseTupleAndKeywords(args, kw, "|OOOOO", kwlist_fixed, &fields, &dev,
						 &stream, &start, &end);
	else
		ok = PyArg_ParseTupleAndKeywords(args, kw, "|OOOOOO:columns", kwlist, &kind,
						 &fields, &dev, &stream, &start, &end);
	if (!ok || trace_check(t) < 0)
		return NULL;
	if (fixed_kind) {
		kobj = PyUnicode_FromString(fixed_kind);
		if (!kobj)
			return NULL;
		kind = kobj;
	}
	ok = filt_parse(&f, kind, dev, stream, start, end);
	Py_XDECREF(kobj);
	if (ok < 0)
		return NULL;
	/* The columns read through their own reader: the trace stays usable meanwhile. */
	r = columns_build(t->path, t->flags, &f, fields);
	return r;
}

static PyObject *trace_columns(TraceObject *t, PyObject *args, PyObject *kw)
{
	return trace_columns_kind(t, args, kw, NULL);
}

static PyObject *trace_kernels(TraceObject *t, PyObject *args, PyObject *kw)
{
	return trace_columns_kind(t, args, kw, "kernel");
}

static PyObject *trace_memcpys(TraceObject *t, PyObject *args, PyObject *kw)
{
	return trace_columns_kind(t, args, kw, "memcpy");
}

static PyObject *trace_to_records(TraceObject *t, PyObject *args, PyObject *kw)
{
	PyObject *it = trace_events(t, args, kw), *l, *e;

	if (!it)
		return NULL;
	l = PyList_New(0);
	while (l && (e = PyIter_Next(it))) {
		PyObject *d = event_to_dict((EventObject *)e, NULL);

		Py_DECREF(e);
		if (!d || PyList_Append(l, d) < 0)
			Py_CLEAR(l);
		Py_XDECREF(d);
	}
	Py_DECREF(it);
	if (PyErr_Occurred())
		Py_CLEAR(l);
	return l;
}

static PyObject *trace_repr(TraceObject *t)
{
	const tsm_trace_info *i;

	if (!t->path)
		return PyUnicode_FromString("<tracesmith.Trace (uninitialised)>");
	if (!t->r)
		return PyUnicode_FromFormat("<tracesmith.Trace '%s' (closed)>", t->path);
	i = tsm_reader_info(t->r);
	if (t->scanned || i->has_index)
		return PyUnicode_FromFormat(
		    "<tracesmith.Trace '%s': %llu events, clock %s>", t->path,
		    (unsigned long long)(t->scanned ? t->nevents : i->indexed_events),
		    tsm_clock_name(i->clock));
	return PyUnicode_FromFormat("<tracesmith.Trace '%s': clock %s, no index>", t->path,
				    tsm_clock_name(i->clock));
}

#define FILTER_DOC                                                                          \
	"Filters (all optional): kind (a kind name such as 'kernel', or a list of them),\n" \
	"device (GPU ordinal), stream (stream id), start_ns / end_ns (keep events that\n"   \
	"overlap [start_ns, end_ns]; blocks outside the window are skipped by the index).\n"

static PyMethodDef trace_methods[] = {
    {"close", (PyCFunction)trace_close, METH_NOARGS,
     "close() -> None\n\nRelease the file. Events and columns made from this trace stay valid."},
    {"__enter__", (PyCFunction)trace_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)trace_exit, METH_VARARGS, NULL},
    {"string", (PyCFunction)trace_string, METH_O,
     "string(id) -> str | None\n\nThe string with this id."},
    {"events", (PyCFunction)(void (*)(void))trace_events, METH_VARARGS | METH_KEYWORDS,
     "events(kind=None, device=None, stream=None, start_ns=None, end_ns=None) -> EventIter\n\n"
     "Iterate lazily over the events in file order (each block sorted by start).\n" FILTER_DOC},
    {"columns", (PyCFunction)(void (*)(void))trace_columns, METH_VARARGS | METH_KEYWORDS,
     "columns(kind=None, fields=None, device=None, stream=None, start_ns=None, end_ns=None)\n"
     "  -> Columns\n\nRead the matching events once into zero-copy columns. With one kind,\n"
     "the kind's own fields (grid, block, bytes, ...) are columns too. `fields` limits\n"
     "the columns loaded (less memory, faster).\n" FILTER_DOC},
    {"kernels", (PyCFunction)(void (*)(void))trace_kernels, METH_VARARGS | METH_KEYWORDS,
     "kernels(fields=None, device=None, stream=None, start_ns=None, end_ns=None) -> Columns\n\n"
     "columns(kind='kernel', ...)."},
    {"memcpys", (PyCFunction)(void (*)(void))trace_memcpys, METH_VARARGS | METH_KEYWORDS,
     "memcpys(fields=None, ...) -> Columns\n\ncolumns(kind='memcpy', ...)."},
    {"to_records", (PyCFunction)(void (*)(void))trace_to_records, METH_VARARGS | METH_KEYWORDS,
     "to_records(kind=None, device=None, stream=None, start_ns=None, end_ns=None)\n"
     "  -> list[dict]\n\nThe matching events as plain dicts."},
    {NULL}};

static PyGetSetDef trace_getset[] = {
    {"path", (getter)trace_path, NULL, "Path of the SBT file.", NULL},
    {"closed", (getter)trace_closed, NULL, "True after close().", NULL},
    {"info", (getter)trace_info, NULL,
     "Header and reader facts: version, clock, producer, has_index, recovered, ...", NULL},
    {"devices", (getter)trace_devices, NULL, "GPU properties, a list of dicts.", NULL},
    {"processes", (getter)trace_processes, NULL, "Traced processes, a list of dicts.", NULL},
    {"metadata", (getter)trace_metadata, NULL, "Trace-wide key/value metadata.", NULL},
    {NULL}};

static PySequenceMethods trace_seq = {.sq_length = (lenfunc)trace_len};

static PyTypeObject TraceType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tracesmith.Trace",
    .tp_basicsize = sizeof(TraceObject),
    .tp_dealloc = (destructor)trace_dealloc,
    .tp_repr = (reprfunc)trace_repr,
    .tp_as_sequence = &trace_seq,
    .tp_iter = (getiterfunc)trace_iter,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Trace(path, *, strict=False)\n\nAn SBT trace file opened for reading "
	      "(tracesmith.open()).\n\nstrict=True makes a torn tail (a writer that died) an "
	      "error instead of\nrecovering the complete chunks. Iterating a Trace yields Event "
	      "objects;\nlen() is the number of events. A context manager: closes on exit.",
    .tp_methods = trace_methods,
    .tp_getset = trace_getset,
    .tp_init = (initproc)trace_init,
    .tp_new = PyType_GenericNew,
};

/* ---- Writer ----------------------------------------------------------------- */

/* Ids of one source reader re-interned in the writer's tables. */
struct remap {
	const tsm_reader *src;
	uint32_t *str, *stk, *kv;
	size_t nstr, nstk, nkv;
};

static void remap_reset(struct remap *m, const tsm_reader *src)
{
	free(m->str);
	free(m->stk);
	free(m->kv);
	memset(m, 0, sizeof(*m));
	m->src = src;
}

static int map_slot(uint32_t **arr, size_t *n, uint32_t id, uint32_t **slot)
{
	if (id >= *n) {
		size_t nn = *n ? *n : 256;
		uint32_t *p;

		while (nn <= id)
			nn *= 2;
		p = realloc(*arr, nn * sizeof(**arr));
		if (!p)
			return TSM_NOMEM;
		memset(p + *n, 0, (nn - *n) * sizeof(*p));
		*arr = p;
		*n = nn;
	}
	*slot = &(*arr)[id];
	return 0;
}

static int map_str(tsm_writer *w, struct remap *m, uint32_t id, uint32_t *out)
{
	uint32_t *slot;
	const char *s;
	int rc;

	*out = 0;
	if (!id)
		return 0;
	rc = map_slot(&m->str, &m->nstr, id, &slot);
	if (rc < 0)
		return rc;
	if (!*slot) {
		s = tsm_reader_string(m->src, id);
		if (!s)
			return TSM_UNDEFINED;
		rc = tsm_intern_str(tsm_writer_strings(w), s, slot);
		if (rc < 0)
			return rc;
	}
	*out = *slot;
	return 0;
}

static int map_stack(tsm_writer *w, struct remap *m, uint32_t id, uint32_t *out)
{
	const tsm_frame *fr;
	tsm_frame *cp;
	uint32_t *slot;
	size_t n = 0;
	int rc;

	*out = 0;
	if (!id)
		return 0;
	rc = map_slot(&m->stk, &m->nstk, id, &slot);
	if (rc < 0)
		return rc;
	if (*slot) {
		*out = *slot;
		return 0;
	}
	fr = tsm_reader_stack(m->src, id, &n);
	if (!fr)
		return TSM_UNDEFINED;
	cp = malloc((n ? n : 1) * sizeof(*cp));
	if (!cp)
		return TSM_NOMEM;
	for (size_t i = 0; i < n && rc == 0; i++) {
		cp[i] = fr[i];
		rc = map_str(w, m, fr[i].function, &cp[i].function);
		if (rc == 0)
			rc = map_str(w, m, fr[i].module, &cp[i].module);
		if (rc == 0)
			rc = map_str(w, m, fr[i].file, &cp[i].file);
	}
	if (rc == 0)
		rc = tsm_intern_add(tsm_writer_stacks(w), cp, n * sizeof(*cp), slot);
	free(cp);
	if (rc == 0)
		*out = *slot;
	return rc;
}

static int intern_kvs(tsm_writer *w, tsm_kv *kv, size_t n, uint32_t *id)
{
	for (size_t i = 0; i < n; i++)
		memset(kv[i].reserved0, 0, sizeof(kv[i].reserved0));
	return tsm_intern_add(tsm_writer_kvlists(w), kv, n * sizeof(*kv), id);
}

static int map_kv(tsm_writer *w, struct remap *m, uint32_t id, uint32_t *out)
{
	const tsm_kv *kv;
	tsm_kv *cp;
	uint32_t *slot, s;
	size_t n = 0;
	int rc;

	*out = 0;
	if (!id)
		return 0;
	rc = map_slot(&m->kv, &m->nkv, id, &slot);
	if (rc < 0)
		return rc;
	if (*slot) {
		*out = *slot;
		return 0;
	}
	kv = tsm_reader_kvlist(m->src, id, &n);
	if (!kv)
		return TSM_UNDEFINED;
	cp = calloc(n ? n : 1, sizeof(*cp));
	if (!cp)
		return TSM_NOMEM;
	for (size_t i = 0; i < n && rc == 0; i++) {
		cp[i] = kv[i];
		rc = map_str(w, m, kv[i].key, &cp[i].key);
		if (rc == 0 && kv[i].type == TSM_KV_STR) {
			rc = map_str(w, m, (uint32_t)kv[i].v.str, &s);
			cp[i].v.str = s;
		}
	}
	if (rc == 0)
		rc = intern_kvs(w, cp, n, slot);
	free(cp);
	if (rc == 0)
		*out = *slot;
	return rc;
}

/* Copy `e` with its ids re-interned and write it. */
static int write_mapped(tsm_writer *w, struct remap *m, const tsm_event *e)
{
	tsm_event c = *e;
	int rc;

	rc = map_str(w, m, e->name, &c.name);
	if (rc == 0)
		rc = map_stack(w, m, e->stack, &c.stack);
	if (rc == 0)
		rc = map_kv(w, m, e->meta, &c.meta);
	if (rc == 0 && (e->kind == TSM_EV_NVTX_RANGE || e->kind == TSM_EV_NVTX_MARK))
		rc = map_str(w, m, e->u.nvtx.domain, &c.u.nvtx.domain);
	if (rc < 0)
		return rc;
	return tsm_writer_write(w, &c);
}

typedef struct {
	PyObject_HEAD tsm_writer *w;
	char *path;
	struct remap rm;
	PyObject *rm_src; /* Python object whose reader rm maps from (kept alive) */
	uint32_t *dev_ids;
	size_t ndevs;
	uint32_t *pids;
	size_t npids;
	int meta_copied;
	int busy;
	PyObject *last_stats;
} WriterObject;

static int writer_init(WriterObject *o, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"path", "zstd_level", "block_events", "clock", "producer", NULL};
	PyObject *p, *clock = NULL;
	const char *producer = NULL;
	tsm_writer_opts wo = {0};
	int zl = 0, rc;
	unsigned be = 0;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|$iIOz:SBTWriter", kwlist, &p, &zl, &be,
					 &clock, &producer))
		return -1;
	if (o->w || o->path) {
		PyErr_SetString(PyExc_TypeError, "SBTWriter is already initialised");
		return -1;
	}
	if (zl < 0 || zl > 19) {
		PyErr_SetString(PyExc_ValueError, "zstd_level must be 0 (off) .. 19");
		return -1;
	}
	if (be > TSM_WRITER_MAX_BLOCK) {
		PyErr_Format(PyExc_ValueError, "block_events must be <= %u", TSM_WRITER_MAX_BLOCK);
		return -1;
	}
	wo.zstd_level = zl;
	wo.block_events = be;
	wo.producer = producer;
	if (clock && clock != Py_None) {
		const char *cs = PyUnicode_Check(clock) ? PyUnicode_AsUTF8(clock) : NULL;
		unsigned c;

		if (!cs) {
			PyErr_SetString(PyExc_TypeError,
					"clock must be a clock name such as 'cupti'");
			return -1;
		}
		for (c = 0; c <= TSM_CLOCK_IMPORTED; c++)
			if (!strcmp(tsm_clock_name(c), cs))
				break;
		if (c > TSM_CLOCK_IMPORTED) {
			PyErr_Format(PyExc_ValueError, "unknown clock '%s'", cs);
			return -1;
		}
		wo.clock = c;
	}
	o->path = path_arg(p);
	if (!o->path)
		return -1;
	Py_BEGIN_ALLOW_THREADS;
	tsm_clear_error();
	rc = tsm_writer_open(o->path, &wo, &o->w);
	Py_END_ALLOW_THREADS;
	if (rc < 0) {
		raise_status(rc, o->path);
		return -1;
	}
	return 0;
}

static void writer_free_state(WriterObject *o)
{
	remap_reset(&o->rm, NULL);
	Py_CLEAR(o->rm_src);
	free(o->dev_ids);
	o->dev_ids = NULL;
	o->ndevs = 0;
	free(o->pids);
	o->pids = NULL;
	o->npids = 0;
}

static void writer_dealloc(WriterObject *o)
{
	/* An abandoned writer still leaves a complete file behind. */
	tsm_writer_close(o->w);
	writer_free_state(o);
	free(o->path);
	Py_XDECREF(o->last_stats);
	Py_TYPE(o)->tp_free((PyObject *)o);
}

static int writer_check(WriterObject *o)
{
	if (!o->path) {
		PyErr_SetString(PyExc_TypeError, "SBTWriter was not initialised");
		return -1;
	}
	if (!o->w) {
		raise_msg(TSM_STATE, o->path, "the writer is finalized");
		return -1;
	}
	if (o->busy) {
		raise_msg(TSM_STATE, o->path, "writer in use by another thread");
		return -1;
	}
	return 0;
}

static PyObject *writer_stats_obj(const tsm_writer_stats *st)
{
	PyObject *kinds = PyDict_New(), *d;

	for (unsigned k = 1; kinds && k < TSM_EV__COUNT; k++)
		if (st->per_kind[k] && dset(kinds, tsm_event_kind_name(k),
					    PyLong_FromUnsignedLongLong(st->per_kind[k])) < 0)
			Py_CLEAR(kinds);
	if (!kinds)
		return NULL;
	d = Py_BuildValue("{s:K,s:K,s:K,s:K,s:K,s:N}", "events", (unsigned long long)st->events,
			  "blocks", (unsigned long long)st->blocks, "bytes",
			  (unsigned long long)st->bytes, "raw_block_bytes",
			  (unsigned long long)st->raw_block_bytes, "dropped",
			  (unsigned long long)st->dropped, "per_kind", kinds);
	return d;
}

static int has_u32(const uint32_t *a, size_t n, uint32_t v)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] == v)
			return 1;
	return 0;
}

static int push_u32(uint32_t **a, size_t *n, uint32_t v)
{
	uint32_t *p = realloc(*a, (*n + 1) * sizeof(**a));

	if (!p)
		return TSM_NOMEM;
	p[(*n)++] = v;
	*a = p;
	return 0;
}

/* Devices, processes (each id once) and, from the first source, the trace metadata. */
static int copy_defs(WriterObject *o, struct remap *m)
{
	const tsm_device_info *d;
	const tsm_process_info *p;
	const tsm_kv *kv;
	size_t n = 0;
	int rc = 0;

	d = tsm_reader_devices(m->src, &n);
	for (size_t i = 0; d && i < n && rc == 0; i++) {
		tsm_device_info c = d[i];

		if (has_u32(o->dev_ids, o->ndevs, c.id))
			continue;
		rc = map_str(o->w, m, d[i].name, &c.name);
		if (rc == 0)
			rc = map_str(o->w, m, d[i].uuid, &c.uuid);
		if (rc == 0)
			rc = tsm_writer_add_device(o->w, &c);
		if (rc == 0)
			rc = push_u32(&o->dev_ids, &o->ndevs, c.id);
	}
	p = tsm_reader_processes(m->src, &n);
	for (size_t i = 0; p && i < n && rc == 0; i++) {
		tsm_process_info c = p[i];

		if (has_u32(o->pids, o->npids, c.pid))
			continue;
		rc = map_str(o->w, m, p[i].name, &c.name);
		if (rc == 0)
			rc = map_str(o->w, m, p[i].cmdline, &c.cmdline);
		if (rc == 0)
			rc = map_str(o->w, m, p[i].host, &c.host);
		if (rc == 0)
			rc = tsm_writer_add_process(o->w, &c);
		if (rc == 0)
			rc = push_u32(&o->pids, &o->npids, c.pid);
	}
	if (o->meta_copied)
		return rc;
	kv = tsm_reader_meta(m->src, &n);
	for (size_t i = 0; kv && i < n && rc == 0; i++) {
		const char *k = tsm_reader_string(m->src, kv[i].key);
		char buf[64];

		if (!k)
			continue;
		if (kv[i].type == TSM_KV_INT) {
			rc = tsm_writer_add_meta_int(o->w, k, kv[i].v.i);
		} else if (kv[i].type == TSM_KV_DOUBLE) {
			snprintf(buf, sizeof(buf), "%.17g", kv[i].v.d);
			rc = tsm_writer_add_meta_str(o->w, k, buf);
		} else {
			const char *v = tsm_reader_string(m->src, (uint32_t)kv[i].v.str);

			rc = tsm_writer_add_meta_str(o->w, k, v ? v : "");
		}
	}
	o->meta_copied = 1;
	return rc;
}

/* Every event of the SBT file `path` into the writer (GIL released). */
static PyObject *writer_copy_file(WriterObject *o, const char *path, unsigned flags)
{
	struct remap m = {0};
	tsm_reader *r = NULL;
	const tsm_event *e;
	uint64_t n = 0;
	int rc, where = 0;

	if (open_reader(path, flags, NULL, &r) < 0)
		return NULL;
	o->busy = 1;
	Py_BEGIN_ALLOW_THREADS;
	remap_reset(&m, r);
	while ((rc = tsm_reader_next(r, &e)) == 0) {
		rc = write_mapped(o->w, &m, e);
		if (rc < 0) {
			where = 1;
			break;
		}
		n++;
	}
	if (rc == TSM_END)
		rc = copy_defs(o, &m);
	if (rc < 0 && !where)
		where = rc == TSM_NOMEM ? 1 : 0;
	remap_reset(&m, NULL);
	Py_END_ALLOW_THREADS;
	o->busy = 0;
	tsm_reader_close(r);
	if (rc < 0)
		return raise_status(rc, where ? o->path : path);
	return PyLong_FromUnsignedLongLong(n);
}

/* One Python Event (or dict of Event fields). */
static int writer_put(WriterObject *o, PyObject *item)
{
	EventObject *ev;
	PyObject *tmp = NULL;
	int rc = 0;

	if (PyDict_Check(item)) {
		PyObject *kind = PyDict_GetItemString(item, "kind"), *kw, *a;

		if (!kind) {
			PyErr_SetString(PyExc_ValueError, "event dict without 'kind'");
			return -1;
		}
		kw = PyDict_Copy(item);
		if (!kw)
			return -1;
		PyDict_DelItemString(kw, "kind");
		/* Read-back fields of to_dict() that Event() does not take. */
		PyDict_DelItemString(kw, "dur_ns") == 0 || (PyErr_Clear(), 0);
		a = Py_BuildValue("(O)", kind);
		tmp = a ? PyObject_Call((PyObject *)&EventType, a, kw) : NULL;
		Py_XDECREF(a);
		Py_DECREF(kw);
		if (!tmp)
			return -1;
		item = tmp;
	}
	if (!PyObject_TypeCheck(item, &EventType)) {
		PyErr_Format(PyExc_TypeError, "expected a tracesmith.Event or a dict, not %.100s",
			     Py_TYPE(item)->tp_name);
		Py_XDECREF(tmp);
		return -1;
	}
	ev = (EventObject *)item;
	tsm_clear_error();
	if (ev->src) {
		const tsm_reader *r = src_reader(ev->src);

		if (!r) {
			raise_msg(TSM_STATE, o->path, "the trace this event came from is closed");
			Py_XDECREF(tmp);
			return -1;
		}
		if (o->rm_src != ev->src || o->rm.src != r) {
			remap_reset(&o->rm, r);
			Py_INCREF(ev->src);
			Py_XSETREF(o->rm_src, ev->src);
		}
		rc = write_mapped(o->w, &o->rm, &ev->ev);
	} else {
		tsm_event c = ev->ev;

		if (ev->name) {
			const char *s = PyUnicode_AsUTF8(ev->name);

			if (!s) {
				Py_XDECREF(tmp);
				return -1;
			}
			rc = tsm_intern_str(tsm_writer_strings(o->w), s, &c.name);
		} else {
			c.name = 0;
		}
		c.stack = 0;
		c.meta = 0;
		if (c.kind == TSM_EV_NVTX_RANGE || c.kind == TSM_EV_NVTX_MARK)
			c.u.nvtx.domain = 0;
		if (rc == 0 && ev->args && PyDict_GET_SIZE(ev->args)) {
			Py_ssize_t pos = 0, n = PyDict_GET_SIZE(ev->args), i = 0;
			tsm_kv *kv = calloc((size_t)n, sizeof(*kv));
			PyObject *k, *v;

			if (!kv) {
				PyErr_NoMemory();
				Py_XDECREF(tmp);
				return -1;
			}
			while (rc == 0 && PyDict_Next(ev->args, &pos, &k, &v)) {
				const char *ks = PyUnicode_Check(k) ? PyUnicode_AsUTF8(k) : NULL;
				uint32_t sid = 0;

				if (!ks) {
					PyErr_SetString(PyExc_TypeError, "args keys must be str");
					rc = 1;
					break;
				}
				rc = tsm_intern_str(tsm_writer_strings(o->w), ks, &kv[i].key);
				if (rc < 0)
					break;
				if (PyBool_Check(v) || PyLong_Check(v)) {
					kv[i].type = TSM_KV_INT;
					kv[i].v.i = PyLong_AsLongLong(v);
					if (PyErr_Occurred()) {
						rc = 1;
						break;
					}
				} else if (PyFloat_Check(v)) {
					kv[i].type = TSM_KV_DOUBLE;
					kv[i].v.d = PyFloat_AsDouble(v);
				} else {
					PyObject *sv = PyObject_Str(v);
					const char *s = sv ? PyUnicode_AsUTF8(sv) : NULL;

					if (!s) {
						Py_XDECREF(sv);
						rc = 1;
						break;
					}
					rc = tsm_intern_str(tsm_writer_strings(o->w), s, &sid);
					Py_DECREF(sv);
					kv[i].type = TSM_KV_STR;
					kv[i].v.str = sid;
				}
				i++;
			}
			if (rc == 0)
				rc = intern_kvs(o->w, kv, (size_t)i, &c.meta);
			free(kv);
			if (rc > 0) {
				Py_XDECREF(tmp);
				return -1;
			}
		}
		if (rc == 0)
			rc = tsm_writer_write(o->w, &c);
	}
	Py_XDECREF(tmp);
	if (rc < 0) {
		raise_status(rc, o->path);
		return -1;
	}
	return 0;
}

static PyObject *writer_write(WriterObject *o, PyObject *item)
{
	if (writer_check(o) < 0 || writer_put(o, item) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *writer_write_events(WriterObject *o, PyObject *src)
{
	PyObject *it, *item;
	uint64_t n = 0;

	if (writer_check(o) < 0)
		return NULL;
	if (PyObject_TypeCheck(src, &TraceType)) {
		TraceObject *t = (TraceObject *)src;

		if (trace_check(t) < 0)
			return NULL;
		return writer_copy_file(o, t->path, t->flags);
	}
	if (Py_IS_TYPE(src, &ColumnsType) || Py_IS_TYPE(src, &EventIterType)) {
		PyErr_SetString(PyExc_TypeError,
				"write_events() takes a Trace, an iterable of Event objects or "
				"dicts (write a Columns' events through its Trace)");
		return NULL;
	}
	it = PyObject_GetIter(src);
	if (!it) {
		PyErr_Format(PyExc_TypeError,
			     "write_events() takes a Trace or an iterable of events, not %.100s",
			     Py_TYPE(src)->tp_name);
		return NULL;
	}
	while ((item = PyIter_Next(it))) {
		int rc = writer_put(o, item);

		Py_DECREF(item);
		if (rc < 0) {
			Py_DECREF(it);
			return NULL;
		}
		n++;
	}
	Py_DECREF(it);
	if (PyErr_Occurred())
		return NULL;
	return PyLong_FromUnsignedLongLong(n);
}

static PyObject *writer_add_device(WriterObject *o, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"id",
				 "name",
				 "uuid",
				 "compute_capability",
				 "sm_count",
				 "global_mem_bytes",
				 "core_clock_khz",
				 NULL};
	unsigned id = 0, sm = 0, clk = 0;
	const char *name = NULL, *uuid = NULL;
	unsigned long long mem = 0;
	int ccmaj = 0, ccmin = 0, rc;
	tsm_device_info d;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "I|zz(ii)IKI:add_device", kwlist, &id, &name,
					 &uuid, &ccmaj, &ccmin, &sm, &mem, &clk))
		return NULL;
	if (writer_check(o) < 0)
		return NULL;
	if (id >= TSM_DEVICE_NONE)
		return PyErr_Format(PyExc_ValueError, "device id %u out of range", id);
	memset(&d, 0, sizeof(d));
	d.id = id;
	d.cc_major = (uint16_t)ccmaj;
	d.cc_minor = (uint16_t)ccmin;
	d.sm_count = sm;
	d.global_mem_bytes = mem;
	d.core_clock_khz = clk;
	tsm_clear_error();
	rc = name ? tsm_intern_str(tsm_writer_strings(o->w), name, &d.name) : 0;
	if (rc == 0 && uuid)
		rc = tsm_intern_str(tsm_writer_strings(o->w), uuid, &d.uuid);
	if (rc == 0)
		rc = tsm_writer_add_device(o->w, &d);
	if (rc == 0)
		rc = push_u32(&o->dev_ids, &o->ndevs, id);
	if (rc < 0)
		return raise_status(rc, o->path);
	Py_RETURN_NONE;
}

static PyObject *writer_add_metadata(WriterObject *o, PyObject *args)
{
	const char *k;
	PyObject *v;
	int rc;

	if (!PyArg_ParseTuple(args, "sO:add_metadata", &k, &v) || writer_check(o) < 0)
		return NULL;
	tsm_clear_error();
	if (PyLong_Check(v) && !PyBool_Check(v)) {
		long long x = PyLong_AsLongLong(v);

		if (PyErr_Occurred())
			return NULL;
		rc = tsm_writer_add_meta_int(o->w, k, x);
	} else {
		PyObject *s = PyObject_Str(v);
		const char *cs = s ? PyUnicode_AsUTF8(s) : NULL;

		if (!cs) {
			Py_XDECREF(s);
			return NULL;
		}
		rc = tsm_writer_add_meta_str(o->w, k, cs);
		Py_DECREF(s);
	}
	if (rc < 0)
		return raise_status(rc, o->path);
	Py_RETURN_NONE;
}

static PyObject *writer_flush(WriterObject *o, PyObject *unused)
{
	int rc;

	if (writer_check(o) < 0)
		return NULL;
	o->busy = 1;
	Py_BEGIN_ALLOW_THREADS;
	tsm_clear_error();
	rc = tsm_writer_flush(o->w);
	Py_END_ALLOW_THREADS;
	o->busy = 0;
	if (rc < 0)
		return raise_status(rc, o->path);
	Py_RETURN_NONE;
}

static PyObject *writer_stats(WriterObject *o, void *unused)
{
	tsm_writer_stats st;

	if (!o->w) {
		if (o->last_stats) {
			Py_INCREF(o->last_stats);
			return o->last_stats;
		}
		if (writer_check(o) < 0)
			return NULL;
	}
	tsm_writer_get_stats(o->w, &st);
	return writer_stats_obj(&st);
}

static PyObject *writer_finalize(WriterObject *o, PyObject *unused)
{
	tsm_writer_stats st;
	int rc;

	if (!o->path) {
		PyErr_SetString(PyExc_TypeError, "SBTWriter was not initialised");
		return NULL;
	}
	if (!o->w) {
		if (o->last_stats) {
			Py_INCREF(o->last_stats);
			return o->last_stats;
		}
		Py_RETURN_NONE;
	}
	if (writer_check(o) < 0)
		return NULL;
	o->busy = 1;
	Py_BEGIN_ALLOW_THREADS;
	tsm_clear_error();
	/* Stats after the last block (close only adds the index and footer). */
	rc = tsm_writer_flush(o->w);
	tsm_writer_get_stats(o->w, &st);
	if (rc < 0)
		tsm_writer_close(o->w);
	else
		rc = tsm_writer_close(o->w);
	Py_END_ALLOW_THREADS;
	o->busy = 0;
	o->w = NULL;
	writer_free_state(o);
	if (rc < 0)
		return raise_status(rc, o->path);
	o->last_stats = writer_stats_obj(&st);
	Py_XINCREF(o->last_stats);
	return o->last_stats;
}

static PyObject *writer_enter(WriterObject *o, PyObject *unused)
{
	if (writer_check(o) < 0)
		return NULL;
	Py_INCREF(o);
	return (PyObject *)o;
}

static PyObject *writer_exit(WriterObject *o, PyObject *args)
{
	PyObject *r = writer_finalize(o, NULL);

	if (!r)
		return NULL;
	Py_DECREF(r);
	Py_RETURN_FALSE;
}

static PyObject *writer_repr(WriterObject *o)
{
	return PyUnicode_FromFormat("<tracesmith.SBTWriter '%s'%s>", o->path ? o->path : "?",
				    o->w ? "" : " (finalized)");
}

static PyMethodDef writer_methods[] = {
    {"write", (PyCFunction)writer_write, METH_O,
     "write(event) -> None\n\nWrite one Event (or a dict of Event fields). Ids of events read "
     "from a\ntrace are re-interned into this file's tables."},
    {"write_events", (PyCFunction)writer_write_events, METH_O,
     "write_events(events) -> int\n\nWrite a whole Trace (fast path in C, with its devices, "
     "processes and\nmetadata) or an iterable of Event objects / dicts. Returns the count."},
    {"add_device", (PyCFunction)(void (*)(void))writer_add_device, METH_VARARGS | METH_KEYWORDS,
     "add_device(id, name=None, uuid=None, compute_capability=(0, 0), sm_count=0,\n"
     "           global_mem_bytes=0, core_clock_khz=0) -> None"},
    {"add_metadata", (PyCFunction)writer_add_metadata, METH_VARARGS,
     "add_metadata(key, value) -> None\n\nA trace-wide key/value (int, or str of anything else)."},
    {"flush", (PyCFunction)writer_flush, METH_NOARGS,
     "flush() -> None\n\nEncode pending events; the file is readable up to here."},
    {"finalize", (PyCFunction)writer_finalize, METH_NOARGS,
     "finalize() -> dict\n\nWrite the index and footer and close the file; returns the "
     "stats.\nCalling it again returns the same stats."},
    {"close", (PyCFunction)writer_finalize, METH_NOARGS, "close() -> dict\n\nfinalize()."},
    {"__enter__", (PyCFunction)writer_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)writer_exit, METH_VARARGS, NULL},
    {NULL}};

static PyGetSetDef writer_getset[] = {
    {"stats", (getter)writer_stats, NULL, "Events, blocks and bytes written so far.", NULL},
    {NULL}};

static PyTypeObject WriterType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tracesmith.SBTWriter",
    .tp_basicsize = sizeof(WriterObject),
    .tp_dealloc = (destructor)writer_dealloc,
    .tp_repr = (reprfunc)writer_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "SBTWriter(path, *, zstd_level=0, block_events=0, clock=None, producer=None)\n\n"
	      "Write an SBT file. write_events() / write() add events (any order),\n"
	      "finalize() writes the index and closes. A context manager: finalizes on\n"
	      "exit. A writer dropped without finalize() still finalizes the file.",
    .tp_methods = writer_methods,
    .tp_getset = writer_getset,
    .tp_init = (initproc)writer_init,
    .tp_new = PyType_GenericNew,
};

/* ---- Timeline ---------------------------------------------------------------- */

typedef struct {
	PyObject_HEAD tsm_timeline *tl;
	tsm_reader *r; /* read to the end by the build: resolves every name */
	char *path;
	int busy;
} TimelineObject;

static int timeline_init(TimelineObject *o, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"path", "strict", NULL};
	PyObject *p;
	int strict = 0, rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|$p:Timeline", kwlist, &p, &strict))
		return -1;
	if (o->tl || o->path) {
		PyErr_SetString(PyExc_TypeError, "Timeline is already initialised");
		return -1;
	}
	if (PyObject_TypeCheck(p, &TraceType)) {
		if (trace_check((TraceObject *)p) < 0)
			return -1;
		o->path = strdup(((TraceObject *)p)->path);
		if (!o->path) {
			PyErr_NoMemory();
			return -1;
		}
	} else if (!(o->path = path_arg(p))) {
		return -1;
	}
	if (open_reader(o->path, strict ? TSM_READ_STRICT : 0, NULL, &o->r) < 0)
		return -1;
	Py_BEGIN_ALLOW_THREADS;
	tsm_clear_error();
	rc = tsm_timeline_build(o->r, &o->tl);
	Py_END_ALLOW_THREADS;
	if (rc < 0) {
		raise_status(rc, o->path);
		return -1;
	}
	return 0;
}

static void timeline_dealloc(TimelineObject *o)
{
	tsm_timeline_destroy(o->tl);
	tsm_reader_close(o->r);
	free(o->path);
	Py_TYPE(o)->tp_free((PyObject *)o);
}

static int timeline_check(TimelineObject *o)
{
	if (!o->tl) {
		PyErr_SetString(PyExc_TypeError, "Timeline was not initialised");
		return -1;
	}
	if (o->busy) {
		raise_msg(TSM_STATE, o->path, "timeline in use by another thread");
		return -1;
	}
	return 0;
}

static const char *tl_name(void *user, uint32_t id)
{
	return tsm_reader_string(user, id);
}

static PyObject *timeline_summary(TimelineObject *o, void *unused)
{
	const tsm_tl_summary *s;
	PyObject *kinds;

	if (timeline_check(o) < 0)
		return NULL;
	s = tsm_timeline_summary(o->tl);
	kinds = PyDict_New();
	for (unsigned k = 1; kinds && k < TSM_EV__COUNT; k++)
		if (s->per_kind[k] && dset(kinds, tsm_event_kind_name(k),
					   PyLong_FromUnsignedLongLong(s->per_kind[k])) < 0)
			Py_CLEAR(kinds);
	if (!kinds)
		return NULL;
	return Py_BuildValue(
	    "{s:K,s:N,s:K,s:K,s:I,s:I,s:I,s:I,s:K,s:K,s:K,s:K,s:K,s:K,s:K}", "events",
	    (unsigned long long)s->events, "per_kind", kinds, "first_ns",
	    (unsigned long long)s->first_ns, "last_ns", (unsigned long long)s->last_ns, "gpu_lanes",
	    s->gpu_lanes, "host_lanes", s->host_lanes, "devices", s->devices, "ranges", s->ranges,
	    "ops", (unsigned long long)s->ops, "apis", (unsigned long long)s->apis, "launched",
	    (unsigned long long)s->launched, "unmatched_ops", (unsigned long long)s->unmatched_ops,
	    "wait_edges", (unsigned long long)s->wait_edges, "unmatched_waits",
	    (unsigned long long)s->unmatched_waits, "sync_edges",
	    (unsigned long long)s->sync_edges);
}

static uint64_t tl_span(const tsm_timeline *tl)
{
	const tsm_tl_summary *s = tsm_timeline_summary(tl);

	return s->last_ns > s->first_ns ? s->last_ns - s->first_ns : 0;
}

static PyObject *timeline_devices(TimelineObject *o, void *unused)
{
	const tsm_tl_device *d;
	PyObject *l;
	size_t n = 0;
	uint64_t span;

	if (timeline_check(o) < 0)
		return NULL;
	d = tsm_timeline_devices(o->tl, &n);
	span = tl_span(o->tl);
	l = PyList_New(0);
	for (size_t i = 0; l && i < n; i++) {
		PyObject *hist = PyList_New(TSM_TL_MAX_CONCURRENCY), *x;

		for (int k = 0; hist && k < TSM_TL_MAX_CONCURRENCY; k++) {
			PyObject *v = PyLong_FromUnsignedLongLong(d[i].concurrency_ns[k]);

			if (!v) {
				Py_CLEAR(hist);
				break;
			}
			PyList_SET_ITEM(hist, k, v);
		}
		if (!hist) {
			Py_CLEAR(l);
			break;
		}
		x = Py_BuildValue(
		    "{s:H,s:K,s:K,s:K,s:d,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:I,s:N,s:I}", "device",
		    d[i].device, "first_ns", (unsigned long long)d[i].first_ns, "last_ns",
		    (unsigned long long)d[i].last_ns, "busy_ns", (unsigned long long)d[i].busy_ns,
		    "utilization", span ? (double)d[i].busy_ns / (double)span : 0.0, "compute_ns",
		    (unsigned long long)d[i].class_ns[0], "comm_ns",
		    (unsigned long long)d[i].class_ns[1], "copy_ns",
		    (unsigned long long)d[i].class_ns[2], "set_ns",
		    (unsigned long long)d[i].class_ns[3], "compute_copy_ns",
		    (unsigned long long)d[i].compute_copy_ns, "compute_comm_ns",
		    (unsigned long long)d[i].compute_comm_ns, "comm_copy_ns",
		    (unsigned long long)d[i].comm_copy_ns, "max_concurrency", d[i].max_concurrency,
		    "concurrency_ns", hist, "streams", d[i].lanes);
		if (!x || PyList_Append(l, x) < 0)
			Py_CLEAR(l);
		Py_XDECREF(x);
	}
	return l;
}

static PyObject *timeline_gpu_util(TimelineObject *o, void *unused)
{
	const tsm_tl_device *d;
	size_t n = 0;
	uint64_t span, busy = 0;

	if (timeline_check(o) < 0)
		return NULL;
	d = tsm_timeline_devices(o->tl, &n);
	span = tl_span(o->tl);
	for (size_t i = 0; i < n; i++)
		busy += d[i].busy_ns;
	return PyFloat_FromDouble(n && span ? (double)busy / ((double)span * (double)n) : 0.0);
}

static PyObject *timeline_max_conc(TimelineObject *o, void *unused)
{
	const tsm_tl_device *d;
	size_t n = 0;
	uint32_t m = 0;

	if (timeline_check(o) < 0)
		return NULL;
	d = tsm_timeline_devices(o->tl, &n);
	for (size_t i = 0; i < n; i++)
		if (d[i].max_concurrency > m)
			m = d[i].max_concurrency;
	return PyLong_FromUnsignedLong(m);
}

static PyObject *timeline_span(TimelineObject *o, void *unused)
{
	if (timeline_check(o) < 0)
		return NULL;
	return PyLong_FromUnsignedLongLong(tl_span(o->tl));
}

static PyObject *timeline_lanes(TimelineObject *o, void *unused)
{
	const tsm_tl_lane *ln;
	PyObject *l;
	size_t n = 0;

	if (timeline_check(o) < 0)
		return NULL;
	ln = tsm_timeline_lanes(o->tl, &n);
	l = PyList_New(0);
	for (size_t i = 0; l && i < n; i++) {
		PyObject *x;

		if (ln[i].type == TSM_LANE_GPU) {
			PyObject *st = PyDict_New();

			for (unsigned k = 0; st && k < TSM_SS__COUNT; k++)
				if (dset(st, tsm_stream_state_name(k),
					 PyLong_FromUnsignedLongLong(ln[i].state_ns[k])) < 0)
					Py_CLEAR(st);
			if (!st) {
				Py_CLEAR(l);
				break;
			}
			x = Py_BuildValue("{s:s,s:H,s:I,s:I,s:I,s:I,s:K,s:N}", "type", "gpu",
					  "device", ln[i].device, "stream", ln[i].stream, "pid",
					  ln[i].pid, "first_node", ln[i].first, "count",
					  ln[i].count, "busy_ns", (unsigned long long)ln[i].busy_ns,
					  "state_ns", st);
		} else {
			x = Py_BuildValue("{s:s,s:I,s:K,s:I,s:I,s:K}", "type", "host", "pid",
					  ln[i].pid, "tid", (unsigned long long)ln[i].tid,
					  "first_node", ln[i].first, "count", ln[i].count,
					  "busy_ns", (unsigned long long)ln[i].busy_ns);
		}
		if (!x || PyList_Append(l, x) < 0)
			Py_CLEAR(l);
		Py_XDECREF(x);
	}
	return l;
}

/* A graph node as a dict: GPU op or API call. */
static PyObject *node_dict(TimelineObject *o, uint32_t node)
{
	const tsm_tl_op *ops;
	const tsm_tl_api *apis;
	size_t nops = 0, napis = 0;

	ops = tsm_timeline_ops(o->tl, &nops);
	apis = tsm_timeline_apis(o->tl, &napis);
	if (node < nops) {
		const tsm_tl_op *p = &ops[node];

		return Py_BuildValue(
		    "{s:I,s:s,s:s,s:N,s:K,s:K,s:K,s:i}", "node", node, "kind",
		    tsm_event_kind_name(p->kind), "class", tsm_op_class_name(p->cls), "name",
		    str_or_none(tsm_reader_string(o->r, p->name)), "start_ns",
		    (unsigned long long)p->start_ns, "end_ns", (unsigned long long)p->end_ns,
		    "correlation", (unsigned long long)p->correlation, "lane",
		    tsm_timeline_lane_of(o->tl, node));
	}
	if (node - nops < napis) {
		const tsm_tl_api *a = &apis[node - nops];

		return Py_BuildValue("{s:I,s:s,s:s,s:N,s:K,s:K,s:K,s:i}", "node", node, "kind",
				     tsm_event_kind_name(a->kind), "class", "api", "name",
				     str_or_none(tsm_reader_string(o->r, a->name)), "start_ns",
				     (unsigned long long)a->start_ns, "end_ns",
				     (unsigned long long)a->end_ns, "correlation",
				     (unsigned long long)a->correlation, "lane",
				     tsm_timeline_lane_of(o->tl, node));
	}
	PyErr_Format(PyExc_IndexError, "node %u out of range", node);
	return NULL;
}

static PyObject *timeline_node(TimelineObject *o, PyObject *arg)
{
	uint64_t node = 0;

	if (timeline_check(o) < 0 || set_u64(arg, "node", UINT32_MAX, &node) < 0)
		return NULL;
	return node_dict(o, (uint32_t)node);
}

static PyObject *timeline_in_edges(TimelineObject *o, PyObject *arg)
{
	tsm_tl_edge e[64];
	uint64_t node = 0;
	size_t n = 0;
	PyObject *l;
	int rc;

	if (timeline_check(o) < 0 || set_u64(arg, "node", UINT32_MAX, &node) < 0)
		return NULL;
	tsm_clear_error();
	rc = tsm_timeline_in_edges(o->tl, (uint32_t)node, e, 64, &n);
	if (rc < 0)
		return raise_status(rc, o->path);
	l = PyList_New(0);
	for (size_t i = 0; l && i < n && i < 64; i++) {
		PyObject *x = Py_BuildValue("{s:I,s:I,s:s}", "from", e[i].from, "to", e[i].to,
					    "type", tsm_edge_type_name(e[i].type));

		if (!x || PyList_Append(l, x) < 0)
			Py_CLEAR(l);
		Py_XDECREF(x);
	}
	return l;
}

static PyObject *timeline_busy_bins(TimelineObject *o, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"device", "bins", "start_ns", "end_ns", NULL};
	PyObject *start = NULL, *end = NULL, *l;
	unsigned device = 0, bins = 100;
	uint64_t from, to, *busy;
	const tsm_tl_summary *s;
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|IIOO:busy_bins", kwlist, &device, &bins,
					 &start, &end) ||
	    timeline_check(o) < 0)
		return NULL;
	if (!bins || bins > 1000000)
		return PyErr_Format(PyExc_ValueError, "bins must be 1..1000000");
	s = tsm_timeline_summary(o->tl);
	from = s->first_ns;
	to = s->last_ns;
	if (uint_arg(start, "start_ns", UINT64_MAX, &from) < 0 ||
	    uint_arg(end, "end_ns", UINT64_MAX, &to) < 0)
		return NULL;
	if (to <= from)
		return PyErr_Format(PyExc_ValueError, "empty window (end_ns <= start_ns)");
	busy = calloc(bins, sizeof(*busy));
	if (!busy)
		return PyErr_NoMemory();
	tsm_clear_error();
	rc = tsm_timeline_busy_bins(o->tl, (uint16_t)device, from, to, bins, busy);
	if (rc < 0) {
		free(busy);
		return raise_status(rc, o->path);
	}
	l = PyList_New(bins);
	for (unsigned i = 0; l && i < bins; i++) {
		PyObject *v = PyLong_FromUnsignedLongLong(busy[i]);

		if (!v) {
			Py_CLEAR(l);
			break;
		}
		PyList_SET_ITEM(l, i, v);
	}
	free(busy);
	return l;
}

static PyObject *timeline_critical_path(TimelineObject *o, void *unused)
{
	const tsm_critical_path *cp;
	PyObject *steps, *cls, *edges;

	if (timeline_check(o) < 0)
		return NULL;
	o->busy = 1;
	Py_BEGIN_ALLOW_THREADS;
	cp = tsm_timeline_critical_path(o->tl);
	Py_END_ALLOW_THREADS;
	o->busy = 0;
	if (!cp)
		Py_RETURN_NONE;
	steps = PyList_New(0);
	for (size_t i = 0; steps && i < cp->nsteps; i++) {
		const tsm_cp_step *s = &cp->steps[i];
		PyObject *x = Py_BuildValue("{s:I,s:s,s:K,s:K}", "node", s->node, "edge",
					    s->edge ? tsm_edge_type_name(s->edge) : "exec",
					    "start_ns", (unsigned long long)s->start_ns, "end_ns",
					    (unsigned long long)s->end_ns);

		if (!x || PyList_Append(steps, x) < 0)
			Py_CLEAR(steps);
		Py_XDECREF(x);
	}
	cls = PyDict_New();
	for (unsigned k = 0; cls && k < TSM_OPC__COUNT; k++)
		if (dset(cls, tsm_op_class_name(k), PyLong_FromUnsignedLongLong(cp->class_ns[k])) <
		    0)
			Py_CLEAR(cls);
	edges = PyDict_New();
	for (unsigned k = 1; edges && k < TSM_EDGE__COUNT; k++)
		if (dset(edges, tsm_edge_type_name(k),
			 PyLong_FromUnsignedLongLong(cp->edge_ns[k])) < 0)
			Py_CLEAR(edges);
	if (!steps || !cls || !edges) {
		Py_XDECREF(steps);
		Py_XDECREF(cls);
		Py_XDECREF(edges);
		return NULL;
	}
	return Py_BuildValue("{s:K,s:K,s:N,s:K,s:N,s:N}", "start_ns",
			     (unsigned long long)cp->start_ns, "end_ns",
			     (unsigned long long)cp->end_ns, "class_ns", cls, "api_ns",
			     (unsigned long long)cp->api_ns, "edge_ns", edges, "steps", steps);
}

static PyObject *timeline_string(TimelineObject *o, PyObject *arg)
{
	uint64_t id = 0;

	if (timeline_check(o) < 0 || set_u64(arg, "id", UINT32_MAX, &id) < 0)
		return NULL;
	return str_or_none(tsm_reader_string(o->r, (uint32_t)id));
}

static PyObject *timeline_analyze(TimelineObject *o, PyObject *args, PyObject *kw);

static PyObject *timeline_repr(TimelineObject *o)
{
	const tsm_tl_summary *s;

	if (!o->tl)
		return PyUnicode_FromString("<tracesmith.Timeline (uninitialised)>");
	s = tsm_timeline_summary(o->tl);
	return PyUnicode_FromFormat("<tracesmith.Timeline '%s': %llu events, %u devices, %u GPU "
				    "lanes, %u host lanes>",
				    o->path, (unsigned long long)s->events, s->devices,
				    s->gpu_lanes, s->host_lanes);
}

static PyMethodDef timeline_methods[] = {
    {"analyze", (PyCFunction)(void (*)(void))timeline_analyze, METH_VARARGS | METH_KEYWORDS,
     "analyze(short_kernel_ns=0, top_n=0, critical_path=True) -> Analysis\n\n"
     "Kernel/copy/API statistics, launch latency, idle gaps, ranges and critical-path\n"
     "shares (0 means the library default: 10 us, top 10)."},
    {"busy_bins", (PyCFunction)(void (*)(void))timeline_busy_bins, METH_VARARGS | METH_KEYWORDS,
     "busy_bins(device=0, bins=100, start_ns=None, end_ns=None) -> list[int]\n\n"
     "Busy ns of one device per time bin (utilisation over time)."},
    {"node", (PyCFunction)timeline_node, METH_O,
     "node(id) -> dict\n\nA dependency-graph node: a GPU op or an API call."},
    {"in_edges", (PyCFunction)timeline_in_edges, METH_O,
     "in_edges(node) -> list[dict]\n\nIncoming dependency edges (from, to, type) of a node."},
    {"string", (PyCFunction)timeline_string, METH_O, "string(id) -> str | None"},
    {NULL}};

static PyGetSetDef timeline_getset[] = {
    {"summary", (getter)timeline_summary, NULL, "Counts: events, lanes, ops, edges, ...", NULL},
    {"devices", (getter)timeline_devices, NULL,
     "Per device: busy time, utilization, overlaps, concurrency histogram.", NULL},
    {"lanes", (getter)timeline_lanes, NULL, "GPU (device, stream) and host (pid, tid) lanes.",
     NULL},
    {"gpu_utilization", (getter)timeline_gpu_util, NULL,
     "Busy time of all devices / (devices x trace span), 0..1.", NULL},
    {"max_concurrent_ops", (getter)timeline_max_conc, NULL,
     "Most GPU ops running at once on one device.", NULL},
    {"span_ns", (getter)timeline_span, NULL, "Time from the first to the last event.", NULL},
    {"critical_path", (getter)timeline_critical_path, NULL,
     "The critical path (dict with steps and time per class / edge type), or None.", NULL},
    {NULL}};

static PyTypeObject TimelineType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tracesmith.Timeline",
    .tp_basicsize = sizeof(TimelineObject),
    .tp_dealloc = (destructor)timeline_dealloc,
    .tp_repr = (reprfunc)timeline_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Timeline(trace_or_path, *, strict=False)\n\nLanes, busy time, concurrency, the "
	      "stream dependency graph and its\ncritical path of a trace "
	      "(tracesmith.build_timeline()).",
    .tp_methods = timeline_methods,
    .tp_getset = timeline_getset,
    .tp_init = (initproc)timeline_init,
    .tp_new = PyType_GenericNew,
};

/* ---- Analysis ---------------------------------------------------------------- */

typedef struct {
	PyObject_HEAD tsm_analysis *a;
	TimelineObject *tl;
	int busy;
} AnalysisObject;

static PyObject *timeline_analyze(TimelineObject *o, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"short_kernel_ns", "top_n", "critical_path", NULL};
	unsigned long long short_ns = 0;
	tsm_analysis_opts ao = {0};
	unsigned top = 0;
	int cp = 1, rc;
	AnalysisObject *a;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|KIp:analyze", kwlist, &short_ns, &top, &cp) ||
	    timeline_check(o) < 0)
		return NULL;
	ao.short_kernel_ns = short_ns;
	ao.top_n = top;
	ao.critical_path = cp;
	a = PyObject_New(AnalysisObject, &AnalysisType);
	if (!a)
		return NULL;
	a->a = NULL;
	a->busy = 0;
	Py_INCREF(o);
	a->tl = o;
	o->busy = 1;
	Py_BEGIN_ALLOW_THREADS;
	tsm_clear_error();
	rc = tsm_analysis_create(o->tl, &ao, &a->a);
	Py_END_ALLOW_THREADS;
	o->busy = 0;
	if (rc < 0) {
		Py_DECREF(a);
		return raise_status(rc, o->path);
	}
	return (PyObject *)a;
}

static void analysis_dealloc(AnalysisObject *a)
{
	tsm_analysis_destroy(a->a);
	Py_XDECREF(a->tl);
	Py_TYPE(a)->tp_free((PyObject *)a);
}

static const char *an_name(AnalysisObject *a, uint32_t id)
{
	return tsm_reader_string(a->tl->r, id);
}

typedef PyObject *(*row_fn)(AnalysisObject *a, size_t i);

static PyObject *rows(AnalysisObject *a, size_t n, row_fn f)
{
	PyObject *l = PyList_New(0);

	for (size_t i = 0; l && i < n; i++) {
		PyObject *x = f(a, i);

		if (!x || PyList_Append(l, x) < 0)
			Py_CLEAR(l);
		Py_XDECREF(x);
	}
	return l;
}

static PyObject *kernel_row(AnalysisObject *a, size_t i)
{
	const tsm_kernel_stat *k = &a->a->kernels[i];
	const char *nm = an_name(a, k->name);

	return Py_BuildValue("{s:N,s:N,s:s,s:K,s:K,s:d,s:K,s:K,s:K,s:K,s:K,s:d}", "name",
			     str_or_none(nm), "demangled", demangled(nm), "class",
			     tsm_op_class_name(k->cls), "count", (unsigned long long)k->count,
			     "total_ns", (unsigned long long)k->total_ns, "mean_ns", k->mean_ns,
			     "min_ns", (unsigned long long)k->min_ns, "max_ns",
			     (unsigned long long)k->max_ns, "p50_ns", (unsigned long long)k->p50_ns,
			     "p95_ns", (unsigned long long)k->p95_ns, "short_count",
			     (unsigned long long)k->short_count, "share", k->share);
}

static PyObject *copy_row(AnalysisObject *a, size_t i)
{
	const tsm_copy_stat *c = &a->a->copies[i];

	return Py_BuildValue(
	    "{s:s,s:s,s:K,s:K,s:K,s:d}", "kind", tsm_event_kind_name(c->kind), "direction",
	    c->kind == TSM_EV_MEMCPY ? tsm_copy_kind_name(c->copy_kind) : "set", "count",
	    (unsigned long long)c->count, "bytes", (unsigned long long)c->bytes, "total_ns",
	    (unsigned long long)c->total_ns, "gbps", c->gbps);
}

static PyObject *api_row(AnalysisObject *a, size_t i)
{
	const tsm_api_stat *s = &a->a->apis[i];

	return Py_BuildValue(
	    "{s:N,s:s,s:K,s:K,s:d,s:K,s:K}", "name", str_or_none(an_name(a, s->name)), "kind",
	    tsm_event_kind_name(s->kind), "count", (unsigned long long)s->count, "total_ns",
	    (unsigned long long)s->total_ns, "mean_ns", s->mean_ns, "min_ns",
	    (unsigned long long)s->min_ns, "max_ns", (unsigned long long)s->max_ns);
}

static PyObject *causes(const uint64_t *count, const uint64_t *ns)
{
	PyObject *d = PyDict_New();

	for (unsigned k = 0; d && k < TSM_GAP__COUNT; k++) {
		PyObject *x = Py_BuildValue("{s:K,s:K}", "count", (unsigned long long)count[k],
					    "total_ns", (unsigned long long)ns[k]);

		if (dset(d, tsm_gap_cause_name(k), x) < 0)
			Py_CLEAR(d);
	}
	return d;
}

static PyObject *lane_key(AnalysisObject *a, uint32_t lane)
{
	const tsm_tl_lane *ln;
	size_t n = 0;

	ln = tsm_timeline_lanes(a->tl->tl, &n);
	if (lane >= n)
		Py_RETURN_NONE;
	if (ln[lane].type == TSM_LANE_GPU)
		return Py_BuildValue("{s:s,s:H,s:I}", "type", "gpu", "device", ln[lane].device,
				     "stream", ln[lane].stream);
	return Py_BuildValue("{s:s,s:I,s:K}", "type", "host", "pid", ln[lane].pid, "tid",
			     (unsigned long long)ln[lane].tid);
}

static PyObject *gap_row(AnalysisObject *a, size_t i)
{
	const tsm_gap_stat *g = &a->a->gaps[i];

	return Py_BuildValue(
	    "{s:N,s:K,s:K,s:K,s:N}", "lane", lane_key(a, g->lane), "count",
	    (unsigned long long)g->count, "total_ns", (unsigned long long)g->total_ns, "max_ns",
	    (unsigned long long)g->max_ns, "causes", causes(g->cause_count, g->cause_ns));
}

static PyObject *top_gap_row(AnalysisObject *a, size_t i)
{
	const tsm_gap *g = &a->a->top_gaps[i];

	return Py_BuildValue("{s:N,s:s,s:I,s:I,s:K,s:K,s:K}", "lane", lane_key(a, g->lane), "cause",
			     tsm_gap_cause_name(g->cause), "before", g->before, "after", g->after,
			     "start_ns", (unsigned long long)g->start_ns, "end_ns",
			     (unsigned long long)g->end_ns, "dur_ns",
			     (unsigned long long)(g->end_ns - g->start_ns));
}

static PyObject *top_op_row(AnalysisObject *a, size_t i)
{
	return node_dict(a->tl, a->a->top_ops[i]);
}

static PyObject *range_row(AnalysisObject *a, size_t i)
{
	const tsm_range_stat *r = &a->a->ranges[i];
	const tsm_tl_range *rg;
	size_t n = 0;

	rg = tsm_timeline_ranges(a->tl->tl, &n);
	if (r->range >= n)
		return PyErr_Format(PyExc_IndexError, "range %u out of range", r->range);
	rg += r->range;
	return Py_BuildValue(
	    "{s:N,s:I,s:K,s:K,s:K,s:I,s:L,s:K,s:K,s:K,s:K,s:K}", "name",
	    str_or_none(an_name(a, rg->name)), "pid", rg->pid, "tid", (unsigned long long)rg->tid,
	    "start_ns", (unsigned long long)rg->start_ns, "end_ns", (unsigned long long)rg->end_ns,
	    "depth", rg->depth, "step", (long long)r->step, "ops", (unsigned long long)r->ops,
	    "kernel_ns", (unsigned long long)r->kernel_ns, "comm_ns",
	    (unsigned long long)r->comm_ns, "copy_ns", (unsigned long long)r->copy_ns, "api_ns",
	    (unsigned long long)r->api_ns);
}

static PyObject *range_name_row(AnalysisObject *a, size_t i)
{
	const tsm_range_name_stat *r = &a->a->range_names[i];

	return Py_BuildValue(
	    "{s:N,s:K,s:K,s:K,s:K,s:K,s:K}", "name", str_or_none(an_name(a, r->name)), "count",
	    (unsigned long long)r->count, "total_ns", (unsigned long long)r->total_ns, "ops",
	    (unsigned long long)r->ops, "kernel_ns", (unsigned long long)r->kernel_ns, "comm_ns",
	    (unsigned long long)r->comm_ns, "copy_ns", (unsigned long long)r->copy_ns);
}

static PyObject *cp_lane_row(AnalysisObject *a, size_t i)
{
	const tsm_cp_share *s = &a->a->cp_lanes[i];

	return Py_BuildValue("{s:N,s:K}", "lane", lane_key(a, s->key), "ns",
			     (unsigned long long)s->ns);
}

static PyObject *cp_name_row(AnalysisObject *a, size_t i)
{
	const tsm_cp_share *s = &a->a->cp_names[i];

	return Py_BuildValue("{s:N,s:s,s:K}", "name", str_or_none(an_name(a, s->key)), "class",
			     s->cls < TSM_OPC__COUNT ? tsm_op_class_name(s->cls) : "api", "ns",
			     (unsigned long long)s->ns);
}

enum {
	AN_KERNELS,
	AN_COPIES,
	AN_APIS,
	AN_GAPS,
	AN_TOP_GAPS,
	AN_TOP_OPS,
	AN_RANGES,
	AN_RANGE_NAMES,
	AN_CP_LANES,
	AN_CP_NAMES
};

static PyObject *analysis_get(AnalysisObject *a, void *closure)
{
	const tsm_analysis *x = a->a;

	switch ((int)(intptr_t)closure) {
	case AN_KERNELS:
		return rows(a, x->nkernels, kernel_row);
	case AN_COPIES:
		return rows(a, x->ncopies, copy_row);
	case AN_APIS:
		return rows(a, x->napis, api_row);
	case AN_GAPS:
		return rows(a, x->ngaps, gap_row);
	case AN_TOP_GAPS:
		return rows(a, x->ntop_gaps, top_gap_row);
	case AN_TOP_OPS:
		return rows(a, x->ntop_ops, top_op_row);
	case AN_RANGES:
		return rows(a, x->nranges, range_row);
	case AN_RANGE_NAMES:
		return rows(a, x->nrange_names, range_name_row);
	case AN_CP_LANES:
		return rows(a, x->have_cp ? x->ncp_lanes : 0, cp_lane_row);
	case AN_CP_NAMES:
		return rows(a, x->have_cp ? x->ncp_names : 0, cp_name_row);
	}
	Py_RETURN_NONE;
}

static PyObject *analysis_latency(AnalysisObject *a, void *unused)
{
	const tsm_dist *d = &a->a->launch_latency;
	PyObject *h = PyList_New(TSM_DIST_BUCKETS);

	for (int k = 0; h && k < TSM_DIST_BUCKETS; k++) {
		PyObject *v = PyLong_FromUnsignedLongLong(d->log2_hist[k]);

		if (!v) {
			Py_CLEAR(h);
			break;
		}
		PyList_SET_ITEM(h, k, v);
	}
	if (!h)
		return NULL;
	return Py_BuildValue("{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:d,s:N}", "count",
			     (unsigned long long)d->count, "min_ns", (unsigned long long)d->min_ns,
			     "max_ns", (unsigned long long)d->max_ns, "p50_ns",
			     (unsigned long long)d->p50_ns, "p90_ns", (unsigned long long)d->p90_ns,
			     "p95_ns", (unsigned long long)d->p95_ns, "p99_ns",
			     (unsigned long long)d->p99_ns, "mean_ns", d->mean_ns, "log2_hist", h);
}

static PyObject *analysis_totals(AnalysisObject *a, void *unused)
{
	const tsm_analysis *x = a->a;

	return Py_BuildValue(
	    "{s:K,s:K,s:K,s:K,s:K,s:I,s:n}", "kernel_ns", (unsigned long long)x->kernel_ns,
	    "kernel_count", (unsigned long long)x->kernel_count, "short_kernel_ns",
	    (unsigned long long)x->short_kernel_ns, "short_count",
	    (unsigned long long)x->short_count, "short_ns", (unsigned long long)x->short_ns,
	    "top_n", x->top_n, "steps", (Py_ssize_t)x->nsteps);
}

static int sections_arg(PyObject *o, unsigned *mask)
{
	PyObject *it, *item;

	*mask = 0;
	if (!o || o == Py_None)
		return 0;
	if (PyUnicode_Check(o)) {
		PyObject *parts = PyUnicode_Split(o, NULL, -1), *sep = PyUnicode_FromString(",");
		PyObject *joined = parts && sep ? PyUnicode_Join(sep, parts) : NULL;
		PyObject *list = joined ? PyUnicode_Split(joined, sep, -1) : NULL;
		int rc;

		Py_XDECREF(parts);
		Py_XDECREF(sep);
		Py_XDECREF(joined);
		if (!list)
			return -1;
		rc = sections_arg(list, mask);
		Py_DECREF(list);
		return rc;
	}
	it = PyObject_GetIter(o);
	if (!it)
		return -1;
	while ((item = PyIter_Next(it))) {
		const char *s = PyUnicode_Check(item) ? PyUnicode_AsUTF8(item) : NULL;
		unsigned b = s && s[0] ? tsm_report_section(s) : 0;

		if (s && !s[0]) {
			Py_DECREF(item);
			continue;
		}
		if (!b) {
			PyErr_Format(PyExc_ValueError, "unknown report section %R", item);
			Py_DECREF(item);
			Py_DECREF(it);
			return -1;
		}
		*mask |= b;
		Py_DECREF(item);
	}
	Py_DECREF(it);
	return PyErr_Occurred() ? -1 : 0;
}

static PyObject *analysis_report(AnalysisObject *a, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"format", "sections", "demangle", "limit", NULL};
	const char *fmt = "text";
	PyObject *sections = NULL, *r;
	tsm_report_opts ro = {0};
	int demangle = 1, rc = 0;
	unsigned limit = 0;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|sOpI:report", kwlist, &fmt, &sections,
					 &demangle, &limit))
		return NULL;
	BUSY_CHECK(a, NULL);
	if (!strcmp(fmt, "text"))
		ro.format = TSM_REPORT_TEXT;
	else if (!strcmp(fmt, "json"))
		ro.format = TSM_REPORT_JSON;
	else if (!strcmp(fmt, "csv"))
		ro.format = TSM_REPORT_CSV;
	else
		return PyErr_Format(PyExc_ValueError,
				    "format must be 'text', 'json' or 'csv', not "
				    "'%s'",
				    fmt);
	if (sections_arg(sections, &ro.sections) < 0)
		return NULL;
	ro.demangle = demangle;
	ro.limit = limit;
	f = open_memstream(&buf, &len);
	if (!f)
		return PyErr_NoMemory();
	a->busy = 1;
	Py_BEGIN_ALLOW_THREADS;
	tsm_clear_error();
	rc = tsm_analysis_write(a->a, f, &ro, tl_name, a->tl->r);
	if (fclose(f) != 0 && rc == 0)
		rc = TSM_NOMEM;
	Py_END_ALLOW_THREADS;
	a->busy = 0;
	if (rc < 0) {
		free(buf);
		return raise_status(rc, a->tl->path);
	}
	r = PyUnicode_DecodeUTF8(buf, (Py_ssize_t)len, "replace");
	free(buf);
	return r;
}

static PyObject *analysis_repr(AnalysisObject *a)
{
	return PyUnicode_FromFormat("<tracesmith.Analysis '%s': %zu kernel names, %llu kernels>",
				    a->tl->path, a->a->nkernels,
				    (unsigned long long)a->a->kernel_count);
}

#define AGET(nm, id, doc)                                                   \
	{                                                                   \
		nm, (getter)analysis_get, NULL, doc, (void *)(intptr_t)(id) \
	}
static PyGetSetDef analysis_getset[] = {
    AGET("kernels", AN_KERNELS,
	 "Per kernel name, by total time: count, total/mean/min/max/p50/p95, share."),
    AGET("copies", AN_COPIES, "Per copy direction and memset: count, bytes, time, GB/s."),
    AGET("apis", AN_APIS, "Per runtime/driver API name: count and times."),
    AGET("gaps", AN_GAPS, "Idle gaps per GPU lane with their causes."),
    AGET("top_gaps", AN_TOP_GAPS, "The longest idle gaps."),
    AGET("top_ops", AN_TOP_OPS, "The longest GPU ops, as graph nodes."),
    AGET("ranges", AN_RANGES, "Per NVTX range instance: GPU work launched inside."),
    AGET("range_names", AN_RANGE_NAMES, "Per NVTX range name."),
    AGET("critical_path_lanes", AN_CP_LANES, "Critical-path time per lane."),
    AGET("critical_path_names", AN_CP_NAMES, "Critical-path time per name."),
    {"launch_latency", (getter)analysis_latency, NULL,
     "API call start -> GPU start distribution (percentiles, log2 histogram).", NULL},
    {"totals", (getter)analysis_totals, NULL, "Kernel time/count, short kernels, steps.", NULL},
    {NULL}};
#undef AGET

static PyMethodDef analysis_methods[] = {
    {"report", (PyCFunction)(void (*)(void))analysis_report, METH_VARARGS | METH_KEYWORDS,
     "report(format='text', sections=None, demangle=True, limit=0) -> str\n\n"
     "The report of `tracesmith stats`: format 'text', 'json' or 'csv'; sections a\n"
     "list (or comma-separated str) of summary, devices, streams, kernels, copies,\n"
     "apis, latency, gaps, top, ranges, steps, critical (default: all)."},
    {NULL}};

static PyTypeObject AnalysisType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tracesmith.Analysis",
    .tp_basicsize = sizeof(AnalysisObject),
    .tp_dealloc = (destructor)analysis_dealloc,
    .tp_repr = (reprfunc)analysis_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Statistics over a Timeline (Timeline.analyze()); every table is a list of dicts.",
    .tp_methods = analysis_methods,
    .tp_getset = analysis_getset,
};

/* ---- module functions ---------------------------------------------------------- */

static PyObject *m_simulate(PyObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"path",	 "preset",	"seed",
				 "max_events",	 "duration_ns", "devices",
				 "host_threads", "zstd_level",	NULL};
	PyObject *p;
	const char *preset = NULL;
	unsigned long long seed = 0, maxev = 0, dur = 0;
	unsigned devices = 0, threads = 0;
	int zl = 0, rc, crc;
	tsm_sim_opts so = {0};
	tsm_writer_opts wo = {0};
	tsm_capture_stats cs = {0};
	tsm_writer *w = NULL;
	char producer[96], *path;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|$zKKKIIi:simulate", kwlist, &p, &preset,
					 &seed, &maxev, &dur, &devices, &threads, &zl))
		return NULL;
	if (!preset)
		preset = tsm_sim_preset_names()[0];
	if (!tsm_sim_preset_summary(preset))
		return PyErr_Format(PyExc_ValueError, "unknown simulation preset '%s'", preset);
	if (zl < 0 || zl > 19)
		return PyErr_Format(PyExc_ValueError, "zstd_level must be 0 (off) .. 19");
	if (devices > 64)
		return PyErr_Format(PyExc_ValueError, "devices must be <= 64");
	if (threads > 256)
		return PyErr_Format(PyExc_ValueError, "host_threads must be <= 256");
	path = path_arg(p);
	if (!path)
		return NULL;
	so.preset = preset;
	so.seed = seed;
	so.max_events = maxev;
	so.duration_ns = dur;
	so.devices = devices;
	so.host_threads = threads;
	snprintf(producer, sizeof(producer), "tracesmith %s python sim:%s", TSM_VERSION_STRING,
		 preset);
	wo.clock = TSM_CLOCK_SIMULATED;
	wo.producer = producer;
	wo.zstd_level = zl;
	Py_BEGIN_ALLOW_THREADS;
	tsm_clear_error();
	rc = tsm_writer_open(path, &wo, &w);
	if (rc == 0) {
		rc = tsm_sim_run(w, &so, &cs);
		crc = tsm_writer_close(w);
		if (rc == 0)
			rc = crc;
	}
	Py_END_ALLOW_THREADS;
	if (rc < 0) {
		raise_status(rc, path);
		free(path);
		return NULL;
	}
	free(path);
	return Py_BuildValue("{s:K,s:K,s:K,s:K}", "events", (unsigned long long)cs.events,
			     "dropped", (unsigned long long)cs.dropped, "waits",
			     (unsigned long long)cs.waits, "sim_span_ns",
			     (unsigned long long)cs.sim_span_ns);
}

static PyObject *m_export(PyObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"src",	   "dst",    "format", "gzip",	   "start_ns", "end_ns",
				 "device", "stream", "kind",   "demangle", "rank",     NULL};
	PyObject *src, *dst, *fmt = NULL, *gz = NULL, *start = NULL, *end = NULL, *dev = NULL,
			     *stream = NULL, *kind = NULL, *dm = NULL, *rank = NULL;
	tsm_export_opts eo;
	tsm_export_stats st = {0};
	char *in = NULL, *out = NULL;
	struct filt f;
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|$OOOOOOOOO:export", kwlist, &src, &dst, &fmt,
					 &gz, &start, &end, &dev, &stream, &kind, &dm, &rank))
		return NULL;
	tsm_export_opts_init(&eo);
	if (filt_parse(&f, kind, dev, stream, NULL, NULL) < 0)
		return NULL;
	eo.kind_mask = f.kinds;
	eo.device = f.device;
	eo.stream = f.stream;
	if (uint_arg(start, "start_ns", UINT64_MAX, &eo.from_ns) < 0 ||
	    uint_arg(end, "end_ns", UINT64_MAX, &eo.to_ns) < 0)
		return NULL;
	if (rank && rank != Py_None) {
		uint64_t v;

		if (uint_arg(rank, "rank", INT32_MAX, &v) < 0)
			return NULL;
		eo.rank = (int32_t)v;
	}
	if (fmt && fmt != Py_None) {
		const char *s = PyUnicode_Check(fmt) ? PyUnicode_AsUTF8(fmt) : NULL;

		if (!s)
			return PyErr_Format(PyExc_TypeError, "format must be a str");
		eo.format = tsm_export_format_from_name(s);
		if (!eo.format)
			return PyErr_Format(PyExc_ValueError,
					    "unknown export format '%s' (perfetto, chrome, kineto)",
					    s);
	}
	if (gz && gz != Py_None) {
		int b = PyObject_IsTrue(gz);

		if (b < 0)
			return NULL;
		eo.gzip = b;
	}
	if (dm && dm != Py_None) {
		int b = PyObject_IsTrue(dm);

		if (b < 0)
			return NULL;
		eo.demangle = b;
	}
	if (PyObject_TypeCheck(src, &TraceType)) {
		if (trace_check((TraceObject *)src) < 0)
			return NULL;
		in = strdup(((TraceObject *)src)->path);
		if (!in)
			return PyErr_NoMemory();
	} else if (!(in = path_arg(src))) {
		return NULL;
	}
	out = path_arg(dst);
	if (!out) {
		free(in);
		return NULL;
	}
	if (!eo.format && tsm_export_format_from_path(out, NULL, NULL) < 0) {
		PyErr_Format(
		    PyExc_ValueError,
		    "%s: cannot tell the export format from the name (use .pftrace, .json, "
		    ".pt.trace.json, optionally .gz, or format=)",
		    out);
		free(in);
		free(out);
		return NULL;
	}
	Py_BEGIN_ALLOW_THREADS;
	tsm_clear_error();
	rc = tsm_export_file(in, out, &eo, &st);
	Py_END_ALLOW_THREADS;
	if (rc < 0) {
		/* Reader errors name the input; everything else the output. */
		raise_status(rc, tsm_last_error_offset() >= 0 || rc == TSM_IO ? in : out);
		free(in);
		free(out);
		return NULL;
	}
	free(in);
	free(out);
	return Py_BuildValue(
	    "{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K}", "events_read",
	    (unsigned long long)st.events_read, "events_written",
	    (unsigned long long)st.events_written, "flows", (unsigned long long)st.flows,
	    "flows_unmatched", (unsigned long long)st.flows_unmatched, "tracks",
	    (unsigned long long)st.tracks, "overlap_lanes", (unsigned long long)st.overlap_lanes,
	    "bytes_uncompressed", (unsigned long long)st.bytes_uncompressed, "bytes_written",
	    (unsigned long long)st.bytes_written, "max_buffered",
	    (unsigned long long)st.max_buffered);
}

static PyObject *m_import(PyObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"src", "dst", "zstd_level", NULL};
	PyObject *src, *dst;
	tsm_import_opts io = {0};
	tsm_import_stats st = {0};
	char *in, *out;
	int zl = 0, rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|$i:import_trace", kwlist, &src, &dst, &zl))
		return NULL;
	if (zl < 0 || zl > 19)
		return PyErr_Format(PyExc_ValueError, "zstd_level must be 0 (off) .. 19");
	io.zstd_level = zl;
	in = path_arg(src);
	if (!in)
		return NULL;
	out = path_arg(dst);
	if (!out) {
		free(in);
		return NULL;
	}
	Py_BEGIN_ALLOW_THREADS;
	tsm_clear_error();
	rc = tsm_import_file(in, out, &io, &st);
	Py_END_ALLOW_THREADS;
	if (rc < 0) {
		raise_status(rc, in);
		free(in);
		free(out);
		return NULL;
	}
	free(in);
	free(out);
	return Py_BuildValue(
	    "{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K}", "input_bytes",
	    (unsigned long long)st.input_bytes, "json_bytes", (unsigned long long)st.json_bytes,
	    "records", (unsigned long long)st.records, "events", (unsigned long long)st.events,
	    "flows", (unsigned long long)st.flows, "flows_bound",
	    (unsigned long long)st.flows_bound, "metadata", (unsigned long long)st.metadata,
	    "dropped", (unsigned long long)st.dropped, "devices", (unsigned long long)st.devices);
}

/* The C reader baseline of the benchmark: every event, summing kernel durations. */
static PyObject *m_c_scan(PyObject *self, PyObject *arg)
{
	tsm_reader *r = NULL;
	const tsm_event *e;
	uint64_t n = 0, nk = 0, sum = 0;
	char *path = path_arg(arg);
	int rc;

	if (!path)
		return NULL;
	if (open_reader(path, 0, NULL, &r) < 0) {
		free(path);
		return NULL;
	}
	Py_BEGIN_ALLOW_THREADS;
	while ((rc = tsm_reader_next(r, &e)) == 0) {
		n++;
		if (e->kind == TSM_EV_KERNEL) {
			nk++;
			sum += e->end_ns - e->start_ns;
		}
	}
	tsm_reader_close(r);
	Py_END_ALLOW_THREADS;
	if (rc < 0) {
		raise_status(rc, path);
		free(path);
		return NULL;
	}
	free(path);
	return Py_BuildValue("(KKK)", (unsigned long long)n, (unsigned long long)nk,
			     (unsigned long long)sum);
}

static PyObject *m_demangle(PyObject *self, PyObject *arg)
{
	const char *s = PyUnicode_Check(arg) ? PyUnicode_AsUTF8(arg) : NULL;

	if (!s)
		return PyErr_Format(PyExc_TypeError, "demangle() takes a str");
	return demangled(s);
}

static PyObject *m_version(PyObject *self, PyObject *unused)
{
	return PyUnicode_FromString(tsm_version());
}

static PyObject *m_features(PyObject *self, PyObject *unused)
{
	unsigned f = tsm_build_features();
	PyObject *l = PyList_New(0);

	static const struct {
		unsigned bit;
		const char *name;
	} fs[] = {{TSM_FEATURE_ZSTD, "zstd"},
		  {TSM_FEATURE_LIBUNWIND, "libunwind"},
		  {TSM_FEATURE_CUPTI, "cupti"}};

	for (size_t i = 0; l && i < sizeof(fs) / sizeof(fs[0]); i++) {
		PyObject *s;

		if (!(f & fs[i].bit))
			continue;
		s = PyUnicode_FromString(fs[i].name);
		if (!s || PyList_Append(l, s) < 0)
			Py_CLEAR(l);
		Py_XDECREF(s);
	}
	return l;
}

static PyObject *m_presets(PyObject *self, PyObject *unused)
{
	const char *const *p = tsm_sim_preset_names();
	PyObject *d = PyDict_New();

	for (; d && *p; p++)
		if (dset(d, *p, PyUnicode_FromString(tsm_sim_preset_summary(*p))) < 0)
			Py_CLEAR(d);
	return d;
}

static PyObject *m_kinds(PyObject *self, PyObject *unused)
{
	PyObject *l = PyList_New(0);

	for (unsigned k = 1; l && k < TSM_EV__COUNT; k++) {
		PyObject *s = PyUnicode_FromString(tsm_event_kind_name(k));

		if (!s || PyList_Append(l, s) < 0)
			Py_CLEAR(l);
		Py_XDECREF(s);
	}
	return l;
}

static PyObject *m_agent_start(PyObject *self, PyObject *args)
{
	PyObject *lib, *out;
	char *clib, *cout, err[1024];
	int rc;

	if (!PyArg_ParseTuple(args, "OO:_agent_start", &lib, &out))
		return NULL;
	clib = path_arg(lib);
	if (!clib)
		return NULL;
	cout = path_arg(out);
	if (!cout) {
		free(clib);
		return NULL;
	}
	/* CUPTI setup can take a while (and may call back into threads that want the GIL). */
	Py_BEGIN_ALLOW_THREADS;
	rc = tsm_py_agent_start(clib, cout, err, sizeof(err));
	Py_END_ALLOW_THREADS;
	free(clib);
	if (rc < 0) {
		raise_full(rc, cout, err, -1);
		free(cout);
		return NULL;
	}
	free(cout);
	Py_RETURN_NONE;
}

static PyObject *m_agent_stop(PyObject *self, PyObject *unused)
{
	char err[1024];
	int rc;

	Py_BEGIN_ALLOW_THREADS;
	rc = tsm_py_agent_stop(err, sizeof(err));
	Py_END_ALLOW_THREADS;
	if (rc < 0)
		return raise_full(rc, tsm_py_agent_loaded(), err, -1);
	Py_RETURN_NONE;
}

/* Number of CUDA devices through the driver API (dlopen: no link to CUDA), -1 if no driver. */
static PyObject *m_cuda_devices(PyObject *self, PyObject *unused)
{
	typedef int (*init_fn)(unsigned);
	typedef int (*count_fn)(int *);
	void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	init_fn init;
	count_fn count;
	int n = 0, rc;

	if (!h)
		return Py_BuildValue("(is)", -1,
				     "libcuda.so.1 (the NVIDIA driver) is not installed");
	init = (init_fn)dlsym(h, "cuInit");
	count = (count_fn)dlsym(h, "cuDeviceGetCount");
	if (!init || !count)
		return Py_BuildValue("(is)", -1, "libcuda.so.1 lacks cuInit/cuDeviceGetCount");
	Py_BEGIN_ALLOW_THREADS;
	rc = init(0);
	if (rc == 0)
		rc = count(&n);
	Py_END_ALLOW_THREADS;
	if (rc != 0)
		return Py_BuildValue("(is)", 0, "cuInit failed: no usable NVIDIA GPU");
	return Py_BuildValue("(is)", n, n ? "" : "no NVIDIA GPU found");
}

static PyMethodDef module_methods[] = {
    {"simulate", (PyCFunction)(void (*)(void))m_simulate, METH_VARARGS | METH_KEYWORDS,
     "simulate(path, *, preset=None, seed=0, max_events=0, duration_ns=0, devices=0,\n"
     "         host_threads=0, zstd_level=0) -> dict\n\n"
     "Run the simulation backend (rings, collector, writer) into an SBT file."},
    {"export", (PyCFunction)(void (*)(void))m_export, METH_VARARGS | METH_KEYWORDS,
     "export(src, dst, *, format=None, gzip=None, start_ns=None, end_ns=None, device=None,\n"
     "       stream=None, kind=None, demangle=None) -> dict\n\n"
     "Export an SBT trace (path or Trace) to Perfetto / Chrome JSON / Kineto JSON."},
    {"import_trace", (PyCFunction)(void (*)(void))m_import, METH_VARARGS | METH_KEYWORDS,
     "import_trace(src, dst, *, zstd_level=0) -> dict\n\n"
     "Convert Kineto / Chrome trace JSON (optionally .gz) into SBT."},
    {"_c_scan", (PyCFunction)m_c_scan, METH_O,
     "_c_scan(path) -> (events, kernels, kernel_dur_ns)\n\nThe plain C reader loop (benchmark "
     "baseline)."},
    {"demangle", (PyCFunction)m_demangle, METH_O, "demangle(name) -> str"},
    {"version", (PyCFunction)m_version, METH_NOARGS, "version() -> str"},
    {"build_features", (PyCFunction)m_features, METH_NOARGS, "build_features() -> list[str]"},
    {"sim_presets", (PyCFunction)m_presets, METH_NOARGS,
     "sim_presets() -> dict\n\nSimulation presets and their descriptions."},
    {"event_kinds", (PyCFunction)m_kinds, METH_NOARGS, "event_kinds() -> list[str]"},
    {"_agent_start", (PyCFunction)m_agent_start, METH_VARARGS, NULL},
    {"_agent_stop", (PyCFunction)m_agent_stop, METH_NOARGS, NULL},
    {"_cuda_devices", (PyCFunction)m_cuda_devices, METH_NOARGS, NULL},
    {NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "tracesmith._tracesmith",
    "C extension of the tracesmith package (use `import tracesmith`).", -1, module_methods};

static PyObject *new_exc(PyObject *m, const char *name, PyObject *bases, const char *doc)
{
	char full[128];
	PyObject *e;

	snprintf(full, sizeof(full), "tracesmith.%s", name);
	e = PyErr_NewExceptionWithDoc(full, doc, bases, NULL);
	Py_XDECREF(bases);
	if (!e)
		return NULL;
	if (PyModule_AddObjectRef(m, name, e) < 0) {
		Py_DECREF(e);
		return NULL;
	}
	return e;
}

#define BASES2(a, b) PyTuple_Pack(2, a, b)

PyMODINIT_FUNC PyInit__tracesmith(void)
{
	PyTypeObject *types[] = {&TraceType,	    &EventIterType, &EventType,	   &ColumnsType,
				 &ColumnBufferType, &WriterType,    &TimelineType, &AnalysisType};
	const char *names[] = {"Trace",	       "EventIter", "Event",	"Columns",
			       "ColumnBuffer", "SBTWriter", "Timeline", "Analysis"};
	PyObject *m = PyModule_Create(&module_def);

	if (!m)
		return NULL;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (PyType_Ready(types[i]) < 0 ||
		    PyModule_AddObjectRef(m, names[i], (PyObject *)types[i]) < 0)
			goto fail;
	}
	Error =
	    new_exc(m, "Error", PyTuple_Pack(1, PyExc_Exception),
		    "Base class of tracesmith errors. Attributes: status (the status name, e.g. "
		    "'CHECKSUM'),\ncode (its negative value), detail, offset (input offset or "
		    "None), path.");
	if (!Error)
		goto fail;
	if (!(InvalidArgumentError =
		  new_exc(m, "InvalidArgumentError", BASES2(Error, PyExc_ValueError),
			  "The library rejected an argument (TSM_INVAL).")) ||
	    !(TraceIOError = new_exc(m, "TraceIOError", BASES2(Error, PyExc_OSError),
				     "Reading or writing a file failed (TSM_IO).")) ||
	    !(FormatError =
		  new_exc(m, "FormatError", BASES2(Error, PyExc_ValueError),
			  "Bad input data: not SBT, corrupt, truncated, checksum, ...")) ||
	    !(UnsupportedError =
		  new_exc(m, "UnsupportedError", PyTuple_Pack(1, Error),
			  "A feature this build lacks (zstd, zlib) (TSM_UNSUPPORTED).")) ||
	    !(StateError =
		  new_exc(m, "StateError", BASES2(Error, PyExc_RuntimeError),
			  "Operation not valid now: closed, finalized, busy (TSM_STATE).")) ||
	    !(UnavailableError =
		  new_exc(m, "UnavailableError", BASES2(Error, PyExc_RuntimeError),
			  "A capture backend is not available here: no GPU, no CUPTI, "
			  "no agent (TSM_UNAVAILABLE).")) ||
	    !(NotFoundError = new_exc(m, "NotFoundError", BASES2(Error, PyExc_LookupError),
				      "Something looked up does not exist (TSM_NOT_FOUND).")) ||
	    !(OutOfMemoryError = new_exc(m, "OutOfMemoryError", BASES2(Error, PyExc_MemoryError),
					 "The library ran out of memory (TSM_NOMEM).")))
		goto fail;
	if (PyModule_AddStringConstant(m, "__version__", TSM_VERSION_STRING) < 0)
		goto fail;
	return m;
fail:
	Py_DECREF(m);
	return NULL;
}
