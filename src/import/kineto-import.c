/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kineto / Chrome trace JSON -> SBT (see include/tracesmith/import.h for
 * the contract and docs/design/export.md for the mapping table).
 *
 * Recursive descent over the pull tokenizer of json-reader.c, one level
 * per JSON container that matters (top object, traceEvents array, one
 * event object, its args object); everything else is skipped with the
 * iterative, depth-bounded skipper. Each event object is assembled into
 * `struct rec` (strings in one reusable arena), mapped to a tsm_event and
 * handed to the SBT writer, then forgotten: the only state that outlives
 * an event is small and bounded (the correlation -> host pid table, the
 * processes seen, the drop reasons, the Chrome "B" records still waiting
 * for their "E", the last HOLD_EVENTS events, held so that a flow record
 * that follows its slice can still set the slice's flow; the
 * "stackFrames" entries, metadata bounded by MAX_SNODES), so multi-GB
 * inputs import in a few MiB of memory. A "stackFrames" after the events
 * makes a file import run twice (tsm_import_file).
 *
 * GPU events in Kineto carry pid = device and tid = stream; their host
 * process is not in the record. It is inferred as the pid of the runtime
 * call with the same correlation when that call came earlier in the file
 * (a direct-mapped table of 2^16 correlations), else the last host pid
 * seen; the Kineto exporter mirrors this rule and writes a "process" arg
 * only where the inference would be wrong, so round trips are exact.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "import/json-reader.h"
#include "tracesmith/import.h"

#define MAX_ARGS    256
#define CORR_SLOTS  (1u << 16)
#define MAX_REASONS 32
#define HOLD_EVENTS (1u << 12) /* events held for flow records that follow their slice */
#define BIND_SCAN   64	       /* held events of a thread searched for a flow's slice */
#define MAX_THREADS (1u << 16) /* threads whose held events are linked for flows */
#define ARG_FLOWS   (1u << 16) /* flows read from "flow id" args, remembered (direct-mapped) */
#define MAX_SNODES  (1u << 22) /* "stackFrames" entries kept */
#define MAX_STEXT   (1u << 30) /* bytes of their ids, names and categories */
#define STACK_MAX   1024       /* frames of an event's stack kept, innermost first */

enum { A_INT = 1, A_DBL, A_STR, A_DIM, A_RAW, A_BOOL };

/* String equality with the length known (strings from the tokenizer hold no NUL). */
#define EQ(s, n, lit) ((n) == sizeof(lit) - 1 && !memcmp((s), (lit), sizeof(lit) - 1))

/* The arg keys the mapping looks up, classified once when the arg is read so that each
 * lookup is an id compare (and absent keys a bit test) instead of a strcmp per arg. */
enum key_id {
	K_OTHER = 0,
	K_EXTERNAL_ID,
	K_CORRELATION,
	K_BYTES_SIGNED,
	K_DEVICE_ID,
	K_KIND,
	K_ADDR,
	K_MEMORY_KIND,
	K_TOTAL_RESERVED,
	K_TOTAL_ALLOCATED,
	K_DEVICE_TYPE,
	K_DEVICE,
	K_CONTEXT,
	K_STREAM,
	K_PROCESS,
	K_THREAD,
	K_GRID,
	K_BLOCK,
	K_CLUSTER,
	K_REGISTERS_PER_THREAD,
	K_SHARED_MEMORY,
	K_DYNAMIC_SHARED_MEMORY,
	K_GRAPH_ID,
	K_GRAPH_NODE_ID,
	K_COPY_KIND,
	K_BYTES,
	K_SRC_KIND,
	K_DST_KIND,
	K_SRC_DEVICE,
	K_DST_DEVICE,
	K_MEMORY_BANDWIDTH_GB_S,
	K_VALUE,
	K_SYNC_TYPE,
	K_EVENT_ID,
	K_CBID,
	K_STATUS,
	K_COLOR,
	K_CATEGORY,
	K_DOMAIN,
	K_OVERHEAD_KIND,
	K_COUNT,
	K_SOURCE,
	K_FLOW_ID,
	K_FLOW_TYPE,
	K_FLAGS,
	K_NO_NAME,
	K_NAME,
	K_ID,
	K_TOTAL_GLOBAL_MEM,
	K_COMPUTE_MAJOR,
	K_COMPUTE_MINOR,
	K_MAX_THREADS_PER_BLOCK,
	K_MAX_THREADS_PER_MULTIPROCESSOR,
	K_REGS_PER_BLOCK,
	K_WARP_SIZE,
	K_SHARED_MEM_PER_BLOCK,
	K_NUM_SMS,
	K_REGS_PER_MULTIPROCESSOR,
	K_SHARED_MEM_PER_BLOCK_OPTIN,
	K_SHARED_MEM_PER_MULTIPROCESSOR,
	K_CLOCK_RATE_KHZ,
	K_MEMORY_CLOCK_RATE_KHZ,
	K_MEMORY_BUS_WIDTH,
	K_L2_CACHE_SIZE,
	K_MAX_BLOCKS_PER_MULTIPROCESSOR,
	K_UUID,
	K_RANK,
	K_WORLD_SIZE,
	K_BACKEND,
	K__COUNT
};
_Static_assert(K__COUNT <= 128, "key ids must fit rec.present");

/* Arg key -> id: switch on the length, then memcmp (constant sizes, inlined). */
static unsigned key_id(const char *s, size_t n)
{
	switch (n) {
	case 2:
		if (!memcmp(s, "id", 2))
			return K_ID;
		break;
	case 4:
		if (!memcmp(s, "Addr", 4))
			return K_ADDR;
		if (!memcmp(s, "cbid", 4))
			return K_CBID;
		if (!memcmp(s, "grid", 4))
			return K_GRID;
		if (!memcmp(s, "kind", 4))
			return K_KIND;
		if (!memcmp(s, "name", 4))
			return K_NAME;
		if (!memcmp(s, "rank", 4))
			return K_RANK;
		if (!memcmp(s, "uuid", 4))
			return K_UUID;
		break;
	case 5:
		if (!memcmp(s, "Bytes", 5))
			return K_BYTES_SIGNED;
		if (!memcmp(s, "block", 5))
			return K_BLOCK;
		if (!memcmp(s, "bytes", 5))
			return K_BYTES;
		if (!memcmp(s, "color", 5))
			return K_COLOR;
		if (!memcmp(s, "count", 5))
			return K_COUNT;
		if (!memcmp(s, "flags", 5))
			return K_FLAGS;
		if (!memcmp(s, "value", 5))
			return K_VALUE;
		break;
	case 6:
		if (!memcmp(s, "device", 6))
			return K_DEVICE;
		if (!memcmp(s, "domain", 6))
			return K_DOMAIN;
		if (!memcmp(s, "numSms", 6))
			return K_NUM_SMS;
		if (!memcmp(s, "source", 6))
			return K_SOURCE;
		if (!memcmp(s, "status", 6))
			return K_STATUS;
		if (!memcmp(s, "stream", 6))
			return K_STREAM;
		if (!memcmp(s, "thread", 6))
			return K_THREAD;
		break;
	case 7:
		if (!memcmp(s, "backend", 7))
			return K_BACKEND;
		if (!memcmp(s, "cluster", 7))
			return K_CLUSTER;
		if (!memcmp(s, "context", 7))
			return K_CONTEXT;
		if (!memcmp(s, "flow id", 7))
			return K_FLOW_ID;
		if (!memcmp(s, "no name", 7))
			return K_NO_NAME;
		if (!memcmp(s, "process", 7))
			return K_PROCESS;
		break;
	case 8:
		if (!memcmp(s, "category", 8))
			return K_CATEGORY;
		if (!memcmp(s, "dst kind", 8))
			return K_DST_KIND;
		if (!memcmp(s, "event id", 8))
			return K_EVENT_ID;
		if (!memcmp(s, "graph id", 8))
			return K_GRAPH_ID;
		if (!memcmp(s, "src kind", 8))
			return K_SRC_KIND;
		if (!memcmp(s, "warpSize", 8))
			return K_WARP_SIZE;
		break;
	case 9:
		if (!memcmp(s, "Device Id", 9))
			return K_DEVICE_ID;
		if (!memcmp(s, "copy kind", 9))
			return K_COPY_KIND;
		if (!memcmp(s, "flow type", 9))
			return K_FLOW_TYPE;
		if (!memcmp(s, "sync type", 9))
			return K_SYNC_TYPE;
		break;
	case 10:
		if (!memcmp(s, "dst device", 10))
			return K_DST_DEVICE;
		if (!memcmp(s, "src device", 10))
			return K_SRC_DEVICE;
		if (!memcmp(s, "world_size", 10))
			return K_WORLD_SIZE;
		break;
	case 11:
		if (!memcmp(s, "Device Type", 11))
			return K_DEVICE_TYPE;
		if (!memcmp(s, "External id", 11))
			return K_EXTERNAL_ID;
		if (!memcmp(s, "correlation", 11))
			return K_CORRELATION;
		if (!memcmp(s, "l2CacheSize", 11))
			return K_L2_CACHE_SIZE;
		if (!memcmp(s, "memory kind", 11))
			return K_MEMORY_KIND;
		break;
	case 12:
		if (!memcmp(s, "clockRateKHz", 12))
			return K_CLOCK_RATE_KHZ;
		if (!memcmp(s, "computeMajor", 12))
			return K_COMPUTE_MAJOR;
		if (!memcmp(s, "computeMinor", 12))
			return K_COMPUTE_MINOR;
		if (!memcmp(s, "regsPerBlock", 12))
			return K_REGS_PER_BLOCK;
		break;
	case 13:
		if (!memcmp(s, "graph node id", 13))
			return K_GRAPH_NODE_ID;
		if (!memcmp(s, "overhead kind", 13))
			return K_OVERHEAD_KIND;
		if (!memcmp(s, "shared memory", 13))
			return K_SHARED_MEMORY;
		break;
	case 14:
		if (!memcmp(s, "Total Reserved", 14))
			return K_TOTAL_RESERVED;
		if (!memcmp(s, "memoryBusWidth", 14))
			return K_MEMORY_BUS_WIDTH;
		if (!memcmp(s, "totalGlobalMem", 14))
			return K_TOTAL_GLOBAL_MEM;
		break;
	case 15:
		if (!memcmp(s, "Total Allocated", 15))
			return K_TOTAL_ALLOCATED;
		break;
	case 17:
		if (!memcmp(s, "sharedMemPerBlock", 17))
			return K_SHARED_MEM_PER_BLOCK;
		break;
	case 18:
		if (!memcmp(s, "maxThreadsPerBlock", 18))
			return K_MAX_THREADS_PER_BLOCK;
		if (!memcmp(s, "memoryClockRateKHz", 18))
			return K_MEMORY_CLOCK_RATE_KHZ;
		break;
	case 20:
		if (!memcmp(s, "registers per thread", 20))
			return K_REGISTERS_PER_THREAD;
		break;
	case 21:
		if (!memcmp(s, "dynamic shared memory", 21))
			return K_DYNAMIC_SHARED_MEMORY;
		if (!memcmp(s, "regsPerMultiprocessor", 21))
			return K_REGS_PER_MULTIPROCESSOR;
		break;
	case 22:
		if (!memcmp(s, "sharedMemPerBlockOptin", 22))
			return K_SHARED_MEM_PER_BLOCK_OPTIN;
		break;
	case 23:
		if (!memcmp(s, "memory bandwidth (GB/s)", 23))
			return K_MEMORY_BANDWIDTH_GB_S;
		break;
	case 26:
		if (!memcmp(s, "maxBlocksPerMultiprocessor", 26))
			return K_MAX_BLOCKS_PER_MULTIPROCESSOR;
		if (!memcmp(s, "sharedMemPerMultiprocessor", 26))
			return K_SHARED_MEM_PER_MULTIPROCESSOR;
		break;
	case 27:
		if (!memcmp(s, "maxThreadsPerMultiprocessor", 27))
			return K_MAX_THREADS_PER_MULTIPROCESSOR;
		break;
	default:
		break;
	}
	return K_OTHER;
}

struct arg {
	uint32_t key, key_len; /* offsets into rec.text */
	int type;
	int64_t i;
	double d;
	uint32_t s, s_len;
	uint64_t dim[3];
	int ndim;
	uint8_t used;
	uint8_t kid; /* enum key_id */
};

/* The flow members of a record: "id" (or "id2"'s "local"/"global"), "bind_id", "bp" and
 * "flow_in"/"flow_out" (Chrome's flow records and the flows bound to a slice itself). */
struct rflow {
	uint32_t id, bind; /* offsets of the value's text; UINT32_MAX: absent */
	uint32_t id_len, bind_len;
	uint8_t id_str, bind_str; /* the value was a string (else a number) */
	uint8_t bp_e;		  /* "bp": "e" */
	uint8_t io;		  /* bit 0: "flow_in": true, bit 1: "flow_out": true */
	uint8_t set_type;	  /* B record: the flow a flow record gave it while open */
	uint64_t set_id;
};

struct rec {
	tsm__buf text;
	uint32_t ph, cat, name; /* offsets; UINT32_MAX: absent */
	uint32_t ph_len, cat_len, name_len;
	struct rflow fl;
	uint32_t sf, sf_len; /* offset of the "sf" text (string or number); UINT32_MAX: absent */
	int has_pid, pid_num, has_tid, tid_num, has_ts, has_dur;
	int64_t pid;
	uint64_t tid;
	uint64_t ts_ns, dur_ns;
	struct arg args[MAX_ARGS];
	int nargs;
	uint64_t present[2]; /* bit per key id of the args read */
};

struct reason {
	char what[64];
	uint64_t count;
};

/* A Chrome "B" record waiting for its "E": the record's fields, args and text (one block). */
struct bopen {
	void *mem; /* nargs args, then the text */
	uint32_t text_len;
	int nargs;
	uint32_t ph, cat, name, ph_len, cat_len, name_len;
	uint32_t sf, sf_len;
	struct rflow fl;
	int has_tid, tid_num;
	int64_t pid;
	uint64_t tid, ts_ns;
	uint64_t present[2];
};

/* A thread (the records' pid, tid): its open B records, innermost last, and its events in
 * the hold ring. */
struct bthread {
	int64_t pid;
	uint64_t tid;
	struct bopen *open;
	uint32_t n, cap;
	uint64_t lost; /* B records not kept (too many open): their E records are dropped */
	uint64_t last; /* hold sequence + 1 of its latest event (0: none yet) */
	uint64_t last_start;
	int unordered;	  /* an event came that starts before the one before it */
	uint64_t fend_id; /* an "f" record without "bp": "e" waiting for the next slice (0: none) */
	uint64_t fend_ts;
};

/* A "stackFrames" entry: offsets of its id, name and category in imp.stext (UINT32_MAX:
 * absent), its parent and the stack interned for an "sf" naming it (0: not yet). */
struct snode {
	uint32_t key, key_len, name, name_len, cat, cat_len;
	uint32_t parent_off, parent_len; /* the parent's id text (UINT32_MAX: none) */
	uint32_t parent;		 /* its index + 1 once resolved (0: none) */
	uint32_t depth;			 /* frames from it to the bottom, once resolved */
	uint32_t stack;
};

/* An event held before it is written, linked to the previous held event of its thread (the
 * fields a search reads first, in the event's cache line). */
struct held {
	uint64_t prev; /* hold sequence + 1 of that event (0: none) */
	int slice;     /* an "X" record, or a B/E pair: flow records bind to it */
	tsm_event ev;
};

struct imp {
	jreader j;
	const char *in_name;
	const char *out_path;
	const tsm_import_opts *opts;
	tsm_writer *w;
	int own_writer;
	tsm_import_stats st;
	struct rec rec;
	tsm__buf scratch;
	/* deferred header facts (writer opened lazily to take baseTimeNanoseconds) */
	int64_t base_ns;
	int have_base;
	int rank;
	char *backend;
	int64_t world_size;
	/* processes seen (host pids) with names */
	struct proc {
		uint32_t pid;
		uint32_t name; /* string id */
		int host;      /* seen as the pid of a host event (GPU "processes" are not) */
	} * procs;
	size_t nprocs, procs_cap;
	uint64_t *corr_key;
	uint32_t *corr_pid;
	uint32_t last_host_pid;
	struct reason reasons[MAX_REASONS];
	int nreasons;
	uint64_t last_ts;
	/* Chrome duration events: threads with open B records, found through a hash of (pid,
	 * tid) -> index + 1 */
	struct bthread *bth;
	size_t nbth, bth_cap;
	uint32_t *bmap;
	size_t bmap_cap;
	uint64_t nopen;	   /* B records open in all */
	struct arg *eargs; /* an E record's args while its B is loaded */
	size_t blast;	   /* index of the thread found last (events come in runs per thread) */
	/* the last HOLD_EVENTS events, in input order: sequence numbers [hold_head, hold_tail)
	 * are held, sequence s in slot s % HOLD_EVENTS */
	struct held *hold;
	uint64_t hold_head, hold_tail;
	uint64_t *arg_flows; /* ARG_FLOWS keys of flows events carried in args (arg_flow_key) */
	/* "stackFrames": entries found through a hash of their id -> index + 1 */
	struct {
		struct snode *sn;
		size_t nsn, sn_cap;
		uint32_t *smap;
		size_t smap_cap;
		tsm__buf stext;
	} fr;
	tsm_frame *sframes; /* STACK_MAX frames: the stack being interned */
	int events_seen;    /* "traceEvents" began: a later "stackFrames" comes too late */
	uint64_t sf_missed; /* events whose "sf" named no entry */
	/* "stackFrames" after the events: with a file in and a file out, the import runs a
	 * second time with them known from the start (tsm_import_file) */
	int can_repeat;	  /* input and output are regular files */
	int late_frames;  /* the first run read such stackFrames, for a second */
	int frames_given; /* the second run: its stackFrames are the first run's */
	tsm_device_info *devs;
	char **dev_names; /* name, uuid per device (before the writer opens) */
	size_t ndevs;
	struct pending_meta {
		char *key;
		int type;
		int64_t i;
		double d;
		char *s;
	} * pmeta;
	size_t npmeta;
};

static const char *rtext(const struct rec *r, uint32_t off)
{
	return (const char *)r->text.data + off;
}

static int rstore(struct imp *im, const char *s, size_t n, uint32_t *off)
{
	struct rec *r = &im->rec;

	/* one reserve, copy and NUL: called for every key and string of every event */
	*off = (uint32_t)r->text.len;
	if (n + 1 > r->text.cap - r->text.len && tsm__buf_reserve(&r->text, n + 1) < 0)
		return TSM_FAIL(TSM_NOMEM, "%s: event text", im->in_name);
	memcpy(r->text.data + r->text.len, s, n);
	r->text.data[r->text.len + n] = 0;
	r->text.len += n + 1;
	return 0;
}

static void drop(struct imp *im, const char *what)
{
	int i;

	im->st.dropped++;
	for (i = 0; i < im->nreasons; i++)
		if (!strcmp(im->reasons[i].what, what))
			break;
	if (i == im->nreasons) {
		if (im->nreasons == MAX_REASONS)
			i = MAX_REASONS - 1; /* "other" bucket: the last one */
		else
			snprintf(im->reasons[im->nreasons++].what, sizeof(im->reasons[0].what),
				 "%s", what);
	}
	im->reasons[i].count++;
}

/* ---- numbers ----------------------------------------------------------------------- */

/* Decimal microseconds text -> ns exactly (digits past the 3rd decimal rounded). */
static int us_to_ns(struct imp *im, const char *s, uint64_t *ns)
{
	uint64_t ip = 0, frac = 0;
	int nfrac = 0, round_up = 0;
	const char *p = s;

	if (*p == '-')
		return JR_FAIL(&im->j, TSM_CORRUPT, "%s: negative time %s", im->in_name, s);
	/* An exponent can only follow the digits (the tokenizer checked the grammar): the
	 * plain decimal is parsed first and the exponent form, rare, redone through a double. */
	for (; *p >= '0' && *p <= '9'; p++) {
		if (ip > (UINT64_MAX / 1000 - 9) / 10)
			goto big;
		ip = ip * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (nfrac < 3) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				nfrac++;
			} else if (nfrac == 3) {
				round_up = *p >= '5';
				nfrac++;
			}
		}
	}
	if (*p == 'e' || *p == 'E')
		goto exp;
	while (nfrac < 3) {
		frac *= 10;
		nfrac++;
	}
	*ns = ip * 1000 + frac + (uint64_t)round_up;
	return 0;
big:
	if (!strpbrk(p, "eE"))
		return JR_FAIL(&im->j, TSM_TOO_LARGE, "%s: time %s out of range", im->in_name, s);
exp : {
	double d = strtod(s, NULL) * 1000.0;

	if (!(d >= 0 && d < 1.8e19))
		return JR_FAIL(&im->j, TSM_TOO_LARGE, "%s: time %s out of range", im->in_name, s);
	*ns = (uint64_t)(d + 0.5);
	return 0;
}
}

/* JSON number text -> int64 (1 ok, 0 not an integer that fits: a fraction, an exponent or
 * out of range), as strtoll would take it but without its locale and errno work: the
 * tokenizer has checked the grammar, so the text is -?digits[.digits][e[+-]digits]. */
static int num_int(const char *s, int64_t *v)
{
	const char *p = s + (*s == '-');
	uint64_t x = 0, lim = *s == '-' ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;

	if (*p < '0' || *p > '9')
		return 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (x > (lim - d) / 10)
			return 0;
		x = x * 10 + d;
	}
	if (*p)
		return 0;
	*v = *s == '-' ? (int64_t)(0 - x) : (int64_t)x;
	return 1;
}

/* ---- event object --------------------------------------------------------------------- */

/* After an object's or array's opening token: its first member's first token in *tok (1), or
 * the closing token (0: empty). */
static int first_member(struct imp *im, int close, int *tok)
{
	*tok = tsm__jr_next(&im->j);
	if (*tok < 0)
		return *tok;
	return *tok != close;
}

/* After a member: ',' and the next member's first token in *tok (1), or the closing token
 * (0). */
static int next_member(struct imp *im, int close, const char *where, int *tok)
{
	int t = tsm__jr_next(&im->j);

	if (t == J_COMMA) {
		*tok = tsm__jr_next(&im->j);
		return *tok < 0 ? *tok : 1;
	}
	if (t < 0)
		return t;
	if (t == close)
		return 0;
	if (t == J_EOF)
		return TSM_FAIL_AT(TSM_TRUNCATED, im->j.tok_off, "%s: input ends inside %s",
				   im->in_name, where);
	return JR_FAIL(&im->j, TSM_CORRUPT, "%s: not JSON: ',' or '%c' expected in %s", im->in_name,
		       close == J_OBJ_END ? '}' : ']', where);
}

/* After a member's key: its ':' and the value's first token (or the error). */
static int member_value(struct imp *im)
{
	int tok = tsm__jr_next(&im->j);

	if (tok == J_COLON)
		return tsm__jr_next(&im->j);
	if (tok < 0)
		return tok;
	if (tok == J_EOF)
		return TSM_FAIL_AT(TSM_TRUNCATED, im->j.tok_off,
				   "%s: input ends where ':' was expected", im->in_name);
	return JR_FAIL(&im->j, TSM_CORRUPT, "%s: not JSON: ':' expected", im->in_name);
}

/* The token that should be a member's key in object `where`: 0 when it is, else the error
 * (the input ends there, or it is not a key). */
static int member_key(struct imp *im, int tok, const char *where)
{
	if (TSM__LIKELY(tok == J_STR))
		return 0;
	return tok == J_EOF ? TSM_FAIL_AT(TSM_TRUNCATED, im->j.tok_off, "%s: input ends inside %s",
					  im->in_name, where)
			    : JR_FAIL(&im->j, TSM_CORRUPT, "%s: not JSON: a key was expected in %s",
				      im->in_name, where);
}

static int parse_args(struct imp *im)
{
	struct rec *r = &im->rec;
	int tok, more, rc;

	rc = first_member(im, J_OBJ_END, &tok);
	if (rc <= 0)
		return rc;
	for (;;) {
		struct arg *a;
		uint32_t koff;

		rc = member_key(im, tok, "args");
		if (rc < 0)
			return rc;
		rc = rstore(im, im->j.str, im->j.str_len, &koff);
		if (rc < 0)
			return rc;
		a = r->nargs < MAX_ARGS ? &r->args[r->nargs] : NULL;
		if (a) {
			unsigned kid = key_id(im->j.str, im->j.str_len);

			memset(a, 0, sizeof(*a));
			a->key = koff;
			a->key_len = (uint32_t)im->j.str_len;
			a->kid = (uint8_t)kid;
			r->present[kid >> 6] |= (uint64_t)1 << (kid & 63);
		}
		tok = member_value(im);
		if (tok < 0)
			return tok;
		if (!a) {
			rc = tsm__jr_skip(&im->j, tok);
			if (rc < 0)
				return rc;
		} else if (tok == J_STR) {
			a->type = A_STR;
			rc = rstore(im, im->j.str, im->j.str_len, &a->s);
			a->s_len = (uint32_t)im->j.str_len;
		} else if (tok == J_NUM) {
			if (num_int(im->j.str, &a->i)) {
				a->type = A_INT;
			} else {
				a->type = A_DBL;
				a->d = strtod(im->j.str, NULL);
			}
		} else if (tok == J_TRUE || tok == J_FALSE) {
			a->type = A_BOOL;
			a->i = tok == J_TRUE;
		} else if (tok == J_NULL) {
			a->type = 0;
		} else {
			/* Arrays of up to three integers are dims (grid, block); other
			 * containers are kept as their JSON text. */
			tsm__buf_reset(&im->scratch);
			rc = tsm__jr_capture(&im->j, tok, &im->scratch);
			if (rc < 0)
				return rc;
			if (tok == J_ARR) {
				const char *p = (const char *)im->scratch.data + 1;
				const char *e =
				    (const char *)im->scratch.data + im->scratch.len - 1;
				int ok = 1;

				a->ndim = 0;
				while (p < e && ok) {
					const char *q = p;
					uint64_t x = 0;

					if (a->ndim == 3 || *p < '0' || *p > '9') {
						ok = 0;
						break;
					}
					/* digits, as strtoull takes them (an overflow fails) */
					for (; q < e && *q >= '0' && *q <= '9'; q++) {
						if (x > (UINT64_MAX - (uint64_t)(*q - '0')) / 10)
							ok = 0;
						x = x * 10 + (uint64_t)(*q - '0');
					}
					a->dim[a->ndim++] = x;
					if (q < e && *q != ',')
						ok = 0;
					p = q < e ? q + 2 : q;
				}
				if (ok && a->ndim) {
					a->type = A_DIM;
					goto next;
				}
			}
			a->type = A_RAW;
			rc = rstore(im, (const char *)im->scratch.data, im->scratch.len, &a->s);
			a->s_len = (uint32_t)im->scratch.len;
		}
		if (rc < 0)
			return rc;
	next:
		if (a)
			r->nargs++;
		more = next_member(im, J_OBJ_END, "args", &tok);
		if (more <= 0)
			return more;
	}
}

/* Event member keys the mapping reads; switch on the length, then compare. */
enum {
	EK_OTHER,
	EK_ARGS,
	EK_PH,
	EK_CAT,
	EK_NAME,
	EK_PID,
	EK_TID,
	EK_TS,
	EK_DUR,
	EK_ID,
	EK_ID2,
	EK_BIND_ID,
	EK_BP,
	EK_FLOW_IN,
	EK_FLOW_OUT,
	EK_SF
};

static int event_key(const char *s, size_t n)
{
	switch (n) {
	case 2:
		if (s[0] == 'p' && s[1] == 'h')
			return EK_PH;
		if (s[0] == 't' && s[1] == 's')
			return EK_TS;
		if (s[0] == 'i' && s[1] == 'd')
			return EK_ID;
		if (s[0] == 'b' && s[1] == 'p')
			return EK_BP;
		if (s[0] == 's' && s[1] == 'f')
			return EK_SF;
		break;
	case 3:
		if (!memcmp(s, "pid", 3))
			return EK_PID;
		if (!memcmp(s, "tid", 3))
			return EK_TID;
		if (!memcmp(s, "cat", 3))
			return EK_CAT;
		if (!memcmp(s, "dur", 3))
			return EK_DUR;
		if (!memcmp(s, "id2", 3))
			return EK_ID2;
		break;
	case 4:
		if (!memcmp(s, "name", 4))
			return EK_NAME;
		if (!memcmp(s, "args", 4))
			return EK_ARGS;
		break;
	case 7:
		if (!memcmp(s, "bind_id", 7))
			return EK_BIND_ID;
		if (!memcmp(s, "flow_in", 7))
			return EK_FLOW_IN;
		break;
	case 8:
		if (!memcmp(s, "flow_out", 8))
			return EK_FLOW_OUT;
		break;
	default:
		break;
	}
	return EK_OTHER;
}

/* Keep the id (number or string token at hand) as flow id text: "id" (`bind` 0) or
 * "bind_id" (1). */
static int store_id(struct imp *im, int tok, int bind)
{
	struct rflow *f = &im->rec.fl;
	uint32_t off;
	int rc = rstore(im, im->j.str, im->j.str_len, &off);

	if (rc < 0)
		return rc;
	if (bind) {
		f->bind = off;
		f->bind_len = (uint32_t)im->j.str_len;
		f->bind_str = tok == J_STR;
	} else {
		f->id = off;
		f->id_len = (uint32_t)im->j.str_len;
		f->id_str = tok == J_STR;
	}
	return 0;
}

/* "id2": {"local": ID} or {"global": ID}, taken as "id" where the record has none (ids are
 * scoped per process here whatever their scope: see flow_record). */
static int parse_id2(struct imp *im)
{
	int tok, more, rc;

	rc = first_member(im, J_OBJ_END, &tok);
	if (rc <= 0)
		return rc;
	for (;;) {
		int scope;

		rc = member_key(im, tok, "id2");
		if (rc < 0)
			return rc;
		scope =
		    EQ(im->j.str, im->j.str_len, "local") || EQ(im->j.str, im->j.str_len, "global");
		tok = member_value(im);
		if (tok < 0)
			return tok;
		if (scope && (tok == J_STR || tok == J_NUM) && im->rec.fl.id == UINT32_MAX)
			rc = store_id(im, tok, 0);
		else
			rc = tsm__jr_skip(&im->j, tok);
		if (rc < 0)
			return rc;
		more = next_member(im, J_OBJ_END, "id2", &tok);
		if (more <= 0)
			return more;
	}
}

static int parse_event(struct imp *im)
{
	struct rec *r = &im->rec;
	int tok, more, rc;

	tsm__buf_reset(&r->text);
	r->ph = r->cat = r->name = UINT32_MAX;
	r->fl.id = r->fl.bind = UINT32_MAX;
	r->sf = UINT32_MAX;
	r->fl.bp_e = r->fl.io = r->fl.set_type = 0;
	r->has_pid = r->has_tid = r->has_ts = r->has_dur = 0;
	r->pid_num = r->tid_num = 0;
	r->nargs = 0;
	r->present[0] = r->present[1] = 0;
	rc = first_member(im, J_OBJ_END, &tok);
	if (rc <= 0)
		return rc;
	for (;;) {
		int key;

		rc = member_key(im, tok, "an event");
		if (rc < 0)
			return rc;
		key = event_key(im->j.str, im->j.str_len);
		tok = member_value(im);
		if (tok < 0)
			return tok;
		if (key == EK_ARGS && tok == J_OBJ) {
			im->j.depth += 3;
			rc = parse_args(im);
			im->j.depth -= 3;
		} else if ((key == EK_PH || key == EK_CAT || key == EK_NAME) && tok == J_STR) {
			uint32_t off;

			rc = rstore(im, im->j.str, im->j.str_len, &off);
			if (key == EK_PH) {
				r->ph = off;
				r->ph_len = (uint32_t)im->j.str_len;
			} else if (key == EK_CAT) {
				r->cat = off;
				r->cat_len = (uint32_t)im->j.str_len;
			} else {
				r->name = off;
				r->name_len = (uint32_t)im->j.str_len;
			}
		} else if (key == EK_PID || key == EK_TID) {
			int is_pid = key == EK_PID;
			int64_t v = 0;
			int num = tok == J_NUM;

			if (num && !num_int(im->j.str, &v))
				return JR_FAIL(&im->j, TSM_TOO_LARGE,
					       "%s: %s %s is not an integer "
					       "that fits",
					       im->in_name, is_pid ? "pid" : "tid", im->j.str);
			if (num && is_pid && (v < INT32_MIN || v > UINT32_MAX))
				return JR_FAIL(&im->j, TSM_TOO_LARGE, "%s: pid %s out of range",
					       im->in_name, im->j.str);
			if (tok == J_STR) {
				/* Kineto writes some ids as strings ("Spans", or "490"). */
				char *end;

				errno = 0;
				v = strtoll(im->j.str, &end, 10);
				num = im->j.str_len && !*end && !errno && v >= INT32_MIN &&
				      v <= UINT32_MAX;
			} else if (tok != J_NUM) {
				rc = tsm__jr_skip(&im->j, tok);
				if (rc < 0)
					return rc;
			}
			if (is_pid) {
				r->has_pid = 1;
				r->pid_num = num;
				r->pid = v;
			} else {
				r->has_tid = 1;
				r->tid_num = num;
				r->tid = (uint64_t)v;
			}
		} else if ((key == EK_TS || key == EK_DUR) && tok == J_NUM) {
			uint64_t ns = 0;

			rc = us_to_ns(im, im->j.str, &ns);
			if (rc < 0)
				return rc;
			if (key == EK_TS) {
				r->has_ts = 1;
				r->ts_ns = ns;
			} else {
				r->has_dur = 1;
				r->dur_ns = ns;
			}
		} else if (key == EK_TS || key == EK_DUR) {
			return JR_FAIL(&im->j, TSM_CORRUPT, "%s: \"%s\" must be a number",
				       im->in_name, key == EK_TS ? "ts" : "dur");
		} else if ((key == EK_ID || key == EK_BIND_ID) && (tok == J_STR || tok == J_NUM)) {
			rc = store_id(im, tok, key == EK_BIND_ID);
		} else if (key == EK_ID2 && tok == J_OBJ) {
			im->j.depth += 3;
			rc = parse_id2(im);
			im->j.depth -= 3;
		} else if (key == EK_SF && (tok == J_STR || tok == J_NUM)) {
			rc = rstore(im, im->j.str, im->j.str_len, &r->sf);
			r->sf_len = (uint32_t)im->j.str_len;
		} else if (key == EK_BP && tok == J_STR) {
			r->fl.bp_e = EQ(im->j.str, im->j.str_len, "e");
		} else if ((key == EK_FLOW_IN || key == EK_FLOW_OUT) && tok == J_TRUE) {
			r->fl.io |= key == EK_FLOW_IN ? 1 : 2;
		} else {
			rc = tsm__jr_skip(&im->j, tok);
		}
		if (rc < 0)
			return rc;
		more = next_member(im, J_OBJ_END, "an event", &tok);
		if (more <= 0)
			return more;
	}
}

/* ---- writer -------------------------------------------------------------------------- */

static int intern(struct imp *im, const char *s, size_t n, uint32_t *id);

static int open_writer(struct imp *im)
{
	tsm_writer_opts wo;
	int rc;

	if (im->w)
		return 0;
	memset(&wo, 0, sizeof(wo));
	wo.clock = TSM_CLOCK_IMPORTED;
	wo.realtime_offset_ns = im->have_base ? im->base_ns : 0;
	wo.zstd_level = im->opts ? im->opts->zstd_level : 0;
	wo.block_events = im->opts ? im->opts->block_events : 0;
	wo.producer = "tracesmith import";
	rc = tsm_writer_open(im->out_path, &wo, &im->w);
	if (rc < 0)
		return rc;
	im->own_writer = 1;
	for (size_t i = 0; i < im->ndevs; i++) {
		const char *n = im->dev_names[2 * i], *u = im->dev_names[2 * i + 1];

		if (n && (rc = intern(im, n, strlen(n), &im->devs[i].name)) < 0)
			return rc;
		if (u && (rc = intern(im, u, strlen(u), &im->devs[i].uuid)) < 0)
			return rc;
		rc = tsm_writer_add_device(im->w, &im->devs[i]);
		if (rc < 0)
			return rc;
	}
	for (size_t i = 0; i < im->npmeta; i++) {
		struct pending_meta *m = &im->pmeta[i];

		rc = m->type == A_STR ? tsm_writer_add_meta_str(im->w, m->key, m->s)
				      : tsm_writer_add_meta_int(im->w, m->key, m->i);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int add_meta_str(struct imp *im, const char *key, const char *val)
{
	struct pending_meta *m;

	if (im->w)
		return tsm_writer_add_meta_str(im->w, key, val);
	m = tsm__realloc(im->pmeta, (im->npmeta + 1) * sizeof(*m));
	if (!m)
		return TSM_FAIL(TSM_NOMEM, "import: metadata");
	im->pmeta = m;
	m = &im->pmeta[im->npmeta];
	memset(m, 0, sizeof(*m));
	m->type = A_STR;
	m->key = tsm__strdup(key);
	m->s = tsm__strdup(val);
	im->npmeta++;
	if (!m->key || !m->s)
		return TSM_FAIL(TSM_NOMEM, "import: metadata");
	return 0;
}

static int add_meta_int(struct imp *im, const char *key, int64_t v)
{
	struct pending_meta *m;

	if (im->w)
		return tsm_writer_add_meta_int(im->w, key, v);
	m = tsm__realloc(im->pmeta, (im->npmeta + 1) * sizeof(*m));
	if (!m)
		return TSM_FAIL(TSM_NOMEM, "import: metadata");
	im->pmeta = m;
	m = &im->pmeta[im->npmeta];
	memset(m, 0, sizeof(*m));
	m->type = A_INT;
	m->key = tsm__strdup(key);
	m->i = v;
	im->npmeta++;
	return m->key ? 0 : TSM_FAIL(TSM_NOMEM, "import: metadata");
}

static int intern(struct imp *im, const char *s, size_t n, uint32_t *id)
{
	if (!n) {
		*id = 0;
		return 0;
	}
	return tsm_intern_add(tsm_writer_strings(im->w), s, n, id);
}

/* First arg with key id `kid` not consumed yet. */
static struct arg *find_arg(struct rec *r, unsigned kid)
{
	if (!(r->present[kid >> 6] >> (kid & 63) & 1))
		return NULL;
	for (int i = 0; i < r->nargs; i++)
		if (r->args[i].kid == kid && !r->args[i].used)
			return &r->args[i];
	return NULL;
}

/* Integer arg (consumed); 1 found, 0 absent, negative: wrong type / range. */
static int arg_u64(struct imp *im, unsigned key, uint64_t max, uint64_t *v)
{
	struct arg *a = find_arg(&im->rec, key);

	if (!a)
		return 0;
	if (a->type == A_DBL && a->d >= 0 && a->d <= (double)max &&
	    a->d == (double)(uint64_t)a->d) {
		*v = (uint64_t)a->d;
		a->used = 1;
		return 1;
	}
	if ((a->type != A_INT && a->type != A_BOOL) || a->i < 0 || (uint64_t)a->i > max)
		return 0; /* leave it as metadata rather than failing the whole import */
	*v = (uint64_t)a->i;
	a->used = 1;
	return 1;
}

static int arg_i64(struct imp *im, unsigned key, int64_t *v)
{
	struct arg *a = find_arg(&im->rec, key);

	if (!a || a->type != A_INT)
		return 0;
	*v = a->i;
	a->used = 1;
	return 1;
}

static const char *arg_str(struct imp *im, unsigned key)
{
	struct arg *a = find_arg(&im->rec, key);

	if (!a || a->type != A_STR)
		return NULL;
	a->used = 1;
	return rtext(&im->rec, a->s);
}

static int arg_dim(struct imp *im, unsigned key, uint64_t d[3], uint64_t max)
{
	struct arg *a = find_arg(&im->rec, key);

	if (!a || a->type != A_DIM)
		return 0;
	for (int i = 0; i < 3; i++) {
		d[i] = i < a->ndim ? a->dim[i] : 1;
		if (d[i] > max)
			return 0;
	}
	a->used = 1;
	return 1;
}

static unsigned name_lookup(const char *s, const char *(*fn)(unsigned), unsigned count)
{
	if (!s)
		return 0;
	for (unsigned i = 0; i < count; i++)
		if (!strcmp(fn(i), s))
			return i;
	return 0;
}

/* Remaining args -> interned metadata list. */
static int build_meta(struct imp *im, uint32_t *meta)
{
	struct rec *r = &im->rec;
	tsm_kv kv[MAX_ARGS];
	size_t n = 0;
	int rc;

	*meta = 0;
	for (int i = 0; i < r->nargs; i++) {
		struct arg *a = &r->args[i];
		tsm_kv *k = &kv[n];
		uint32_t id;

		if (a->used || !a->type)
			continue;
		memset(k, 0, sizeof(*k));
		rc = intern(im, rtext(r, a->key), a->key_len, &k->key);
		if (rc < 0)
			return rc;
		switch (a->type) {
		case A_INT:
		case A_BOOL:
			k->type = TSM_KV_INT;
			k->v.i = a->i;
			break;
		case A_DBL:
			k->type = TSM_KV_DOUBLE;
			k->v.d = a->d;
			break;
		case A_DIM: {
			char buf[96];
			int m = 0;

			m += snprintf(buf + m, sizeof(buf) - (size_t)m, "[");
			for (int d = 0; d < a->ndim; d++)
				m += snprintf(buf + m, sizeof(buf) - (size_t)m, "%s%llu",
					      d ? ", " : "", (unsigned long long)a->dim[d]);
			snprintf(buf + m, sizeof(buf) - (size_t)m, "]");
			k->type = TSM_KV_STR;
			rc = intern(im, buf, strlen(buf), &id);
			if (rc < 0)
				return rc;
			k->v.str = id;
			break;
		}
		default:
			k->type = TSM_KV_STR;
			rc = tsm_intern_add(tsm_writer_strings(im->w), rtext(r, a->s), a->s_len,
					    &id);
			if (rc < 0)
				return rc;
			k->v.str = id;
			break;
		}
		n++;
	}
	if (!n)
		return 0;
	return tsm_intern_add(tsm_writer_kvlists(im->w), kv, n * sizeof(tsm_kv), meta);
}

static int note_proc(struct imp *im, uint32_t pid, const char *name)
{
	size_t i;

	for (i = 0; i < im->nprocs; i++)
		if (im->procs[i].pid == pid)
			break;
	if (i == im->nprocs) {
		if (im->nprocs == im->procs_cap) {
			struct proc *np;

			if (im->procs_cap >= 65536)
				return 0; /* enough: names of further processes are not kept */
			np = tsm__grow(im->procs, &im->procs_cap, 8, sizeof(*np));
			if (!np)
				return TSM_FAIL(TSM_NOMEM, "import: processes");
			im->procs = np;
		}
		im->procs[i].pid = pid;
		im->procs[i].name = 0;
		im->procs[i].host = 0;
		im->nprocs++;
	}
	if (!name)
		im->procs[i].host = 1;
	if (name && !im->procs[i].name)
		return intern(im, name, strlen(name), &im->procs[i].name);
	return 0;
}

/* `ph` is one character or none (0); `cat`, `cl` the category and its length. */
static unsigned kind_of(struct rec *r, const char *cat, size_t cl, int ph, int *host)
{
	*host = 1;
	if (ph == 'C')
		return TSM_EV_COUNTER;
	switch (cl) {
	case 6:
		if (EQ(cat, cl, "kernel") || EQ(cat, cl, "Kernel"))
			return *host = 0, TSM_EV_KERNEL;
		if (EQ(cat, cl, "Memcpy"))
			return *host = 0, TSM_EV_MEMCPY;
		if (EQ(cat, cl, "Memset"))
			return *host = 0, TSM_EV_MEMSET;
		if (EQ(cat, cl, "Driver"))
			return TSM_EV_DRIVER;
		break;
	case 10:
		if (EQ(cat, cl, "gpu_memcpy"))
			return *host = 0, TSM_EV_MEMCPY;
		if (EQ(cat, cl, "gpu_memset"))
			return *host = 0, TSM_EV_MEMSET;
		break;
	case 9:
		if (EQ(cat, cl, "cuda_sync"))
			return *host = 0, TSM_EV_SYNC;
		break;
	case 12:
		if (EQ(cat, cl, "cuda_runtime"))
			return TSM_EV_RUNTIME;
		break;
	case 7:
		if (EQ(cat, cl, "Runtime"))
			return TSM_EV_RUNTIME;
		if (EQ(cat, cl, "dropped"))
			return TSM_EV_DROPPED;
		break;
	case 11:
		if (EQ(cat, cl, "cuda_driver"))
			return TSM_EV_DRIVER;
		break;
	case 15:
		if (EQ(cat, cl, "user_annotation"))
			return ph == 'X' ? TSM_EV_NVTX_RANGE : TSM_EV_NVTX_MARK;
		break;
	case 19:
		if (EQ(cat, cl, "gpu_user_annotation"))
			return *host = 0, ph == 'X' ? TSM_EV_NVTX_RANGE : TSM_EV_NVTX_MARK;
		break;
	case 8:
		if (EQ(cat, cl, "overhead"))
			return TSM_EV_OVERHEAD;
		break;
	default:
		break;
	}
	if (r->name != UINT32_MAX && EQ(rtext(r, r->name), r->name_len, "[memory]"))
		return TSM_EV_ALLOC;
	if (ph == 'X')
		return TSM_EV_CPU_OP; /* cpu_op and any other category of complete event */
	if (ph == 'i' || ph == 'I')
		return TSM_EV_NVTX_MARK;
	return TSM_EV_NONE;
}

static int rec_stack(struct imp *im, uint32_t *stack);
static int be_record(struct imp *im, int ph);
static int flow_record(struct imp *im, int ph);
static void own_flow(struct imp *im, tsm_event *ev, int ph);
static void set_flow(struct imp *im, tsm_event *ev, uint64_t id, int type);
static int hold_event(struct imp *im, const tsm_event *ev, int slice);
static int note_arg_flow(struct imp *im, const tsm_event *ev);

static int map_event(struct imp *im)
{
	struct rec *r = &im->rec;
	/* ph: its one character, 0 when absent or longer (no phase has two) */
	int ph = r->ph != UINT32_MAX && r->ph_len == 1 ? rtext(r, r->ph)[0] : 0;
	const char *cat = r->cat != UINT32_MAX ? rtext(r, r->cat) : "";
	size_t cl = r->cat != UINT32_MAX ? r->cat_len : 0;
	tsm_event ev;
	unsigned kind;
	int host, rc;
	uint64_t v, d3[3];
	int64_t iv;
	const char *s;

	if (ph == 'M') {
		const char *name = r->name != UINT32_MAX ? rtext(r, r->name) : "";

		im->st.metadata++;
		if (!strcmp(name, "process_name") && r->pid_num && (s = arg_str(im, K_NAME))) {
			rc = open_writer(im);
			if (rc < 0)
				return rc;
			return note_proc(im, (uint32_t)r->pid, s);
		}
		return 0;
	}
	if (ph == 's' || ph == 'f' || ph == 't') {
		if (EQ(cat, cl, "ac2g")) {
			im->st.flows++;
			return 0;
		}
		return flow_record(im, ph);
	}
	if (!r->has_ts) {
		drop(im, "record without ts");
		return 0;
	}
	if (!r->pid_num) {
		drop(im, "record whose pid is not a number");
		return 0;
	}
	if (ph == 'B' || ph == 'E')
		return be_record(im, ph);
	kind = kind_of(r, cat, cl, ph, &host);
	if (kind == TSM_EV_NONE) {
		drop(im, "unknown phase");
		return 0;
	}
	rc = open_writer(im);
	if (rc < 0)
		return rc;
	memset(&ev, 0, sizeof(ev));
	ev.kind = (uint8_t)kind;
	ev.flags = TSM_EVF_IMPORTED;
	ev.start_ns = r->ts_ns;
	if (r->has_dur && (kind != TSM_EV_NVTX_MARK && kind != TSM_EV_COUNTER)) {
		if (r->dur_ns > UINT64_MAX - r->ts_ns)
			return JR_FAIL(&im->j, TSM_TOO_LARGE, "%s: ts + dur out of range",
				       im->in_name);
		ev.end_ns = r->ts_ns + r->dur_ns;
	} else {
		ev.end_ns = ev.start_ns;
	}
	ev.device = TSM_DEVICE_NONE;
	if (r->name != UINT32_MAX && kind != TSM_EV_ALLOC) {
		rc = intern(im, rtext(r, r->name), r->name_len, &ev.name);
		if (rc < 0)
			return rc;
	}
	if (arg_u64(im, K_EXTERNAL_ID, UINT64_MAX, &v) > 0)
		ev.external = v;
	if (arg_u64(im, K_CORRELATION, UINT64_MAX, &v) > 0)
		ev.correlation = v;
	if (kind == TSM_EV_ALLOC) {
		int64_t bytes = 0, dev = -1;
		const char *mk;

		arg_i64(im, K_BYTES_SIGNED, &bytes);
		if (arg_i64(im, K_DEVICE_ID, &dev) && dev >= 0 && dev < TSM_DEVICE_NONE)
			ev.device = (uint16_t)dev;
		s = arg_str(im, K_KIND);
		if ((s && !strcmp(s, "free")) || bytes < 0)
			ev.kind = TSM_EV_FREE;
		ev.u.memory.bytes = bytes < 0 ? (uint64_t)0 - (uint64_t)bytes : (uint64_t)bytes;
		if (arg_u64(im, K_ADDR, UINT64_MAX, &v) > 0)
			ev.u.memory.address = v;
		mk = arg_str(im, K_MEMORY_KIND);
		ev.u.memory.mem_kind = (uint8_t)name_lookup(
		    mk, (const char *(*)(unsigned))tsm_mem_kind_name, TSM_MEM__COUNT);
		/* Kineto's running totals and device type are derived: not kept. */
		find_arg(r, K_TOTAL_RESERVED) && (find_arg(r, K_TOTAL_RESERVED)->used = 1);
		find_arg(r, K_TOTAL_ALLOCATED) && (find_arg(r, K_TOTAL_ALLOCATED)->used = 1);
		find_arg(r, K_DEVICE_TYPE) && (find_arg(r, K_DEVICE_TYPE)->used = 1);
		if (r->name != UINT32_MAX && strcmp(rtext(r, r->name), "[memory]")) {
			rc = intern(im, rtext(r, r->name), r->name_len, &ev.name);
			if (rc < 0)
				return rc;
		}
		host = 1;
	}
	if (host) {
		ev.pid = (uint32_t)r->pid;
		ev.tid = r->has_tid && r->tid_num ? r->tid : 0;
		if (kind != TSM_EV_ALLOC && arg_u64(im, K_DEVICE, TSM_DEVICE_NONE - 1, &v) > 0)
			ev.device = (uint16_t)v;
		if (arg_u64(im, K_CONTEXT, UINT32_MAX, &v) > 0)
			ev.context = (uint32_t)v;
		if (arg_u64(im, K_STREAM, UINT32_MAX, &v) > 0)
			ev.stream = (uint32_t)v;
		im->last_host_pid = ev.pid;
		if (kind != TSM_EV_ALLOC && kind != TSM_EV_FREE) {
			rc = note_proc(im, ev.pid, NULL);
			if (rc < 0)
				return rc;
		}
	} else {
		uint32_t slot = (uint32_t)(tsm__mix64(ev.correlation) & (CORR_SLOTS - 1));

		ev.device = r->pid >= 0 && r->pid < TSM_DEVICE_NONE ? (uint16_t)r->pid : 0;
		ev.stream = r->has_tid && r->tid_num ? (uint32_t)r->tid : 0;
		if (arg_u64(im, K_DEVICE, TSM_DEVICE_NONE - 1, &v) > 0)
			ev.device = (uint16_t)v;
		if (arg_u64(im, K_CONTEXT, UINT32_MAX, &v) > 0)
			ev.context = (uint32_t)v;
		if (arg_u64(im, K_STREAM, UINT32_MAX, &v) > 0)
			ev.stream = (uint32_t)v;
		ev.pid = ev.correlation && im->corr_key[slot] == ev.correlation ? im->corr_pid[slot]
										: im->last_host_pid;
		if (arg_i64(im, K_PROCESS, &iv))
			ev.pid = (uint32_t)iv;
		if (arg_u64(im, K_THREAD, UINT64_MAX, &v) > 0)
			ev.tid = v;
	}
	if ((kind == TSM_EV_RUNTIME || kind == TSM_EV_DRIVER) && ev.correlation) {
		uint32_t slot = (uint32_t)(tsm__mix64(ev.correlation) & (CORR_SLOTS - 1));

		im->corr_key[slot] = ev.correlation;
		im->corr_pid[slot] = ev.pid;
	}
	switch (ev.kind) {
	case TSM_EV_KERNEL: {
		tsm_kernel_info *k = &ev.u.kernel;
		uint64_t smem = 0, dsmem = 0;

		if (arg_dim(im, K_GRID, d3, UINT32_MAX))
			for (int i = 0; i < 3; i++)
				k->grid[i] = (uint32_t)d3[i];
		if (arg_dim(im, K_BLOCK, d3, UINT16_MAX))
			for (int i = 0; i < 3; i++)
				k->block[i] = (uint16_t)d3[i];
		if (arg_dim(im, K_CLUSTER, d3, UINT8_MAX))
			for (int i = 0; i < 3; i++)
				k->cluster[i] = (uint8_t)d3[i];
		if (arg_u64(im, K_REGISTERS_PER_THREAD, UINT16_MAX, &v) > 0)
			k->regs_per_thread = (uint16_t)v;
		arg_u64(im, K_SHARED_MEMORY, UINT32_MAX, &smem);
		arg_u64(im, K_DYNAMIC_SHARED_MEMORY, UINT32_MAX, &dsmem);
		if (dsmem > smem)
			dsmem = smem;
		k->static_smem_bytes = (uint32_t)(smem - dsmem);
		k->dynamic_smem_bytes = (uint32_t)dsmem;
		if (arg_u64(im, K_GRAPH_ID, UINT32_MAX, &v) > 0)
			k->graph_id = (uint32_t)v;
		if (arg_u64(im, K_GRAPH_NODE_ID, UINT64_MAX, &v) > 0)
			k->graph_node_id = v;
		break;
	}
	case TSM_EV_MEMCPY: {
		tsm_memcpy_info *c = &ev.u.memcpy;
		const char *ck = arg_str(im, K_COPY_KIND);
		const char *name = r->name != UINT32_MAX ? rtext(r, r->name) : "";

		if (arg_u64(im, K_BYTES, UINT64_MAX, &v) > 0)
			c->bytes = v;
		c->copy_kind = (uint8_t)name_lookup(
		    ck, (const char *(*)(unsigned))tsm_copy_kind_name, TSM_COPY__COUNT);
		if (!ck) {
			/* Kineto names copies "Memcpy HtoD (Pageable -> Device)". */
			static const char *const dirs[] = {"",	   "HtoD", "DtoH",
							   "DtoD", "HtoH", "PtoP"};

			for (unsigned i = 1; i < TSM__ARRAY_SIZE(dirs); i++)
				if (strstr(name, dirs[i]))
					c->copy_kind = (uint8_t)i;
		}
		c->src_kind = (uint8_t)name_lookup(arg_str(im, K_SRC_KIND),
						   (const char *(*)(unsigned))tsm_mem_kind_name,
						   TSM_MEM__COUNT);
		c->dst_kind = (uint8_t)name_lookup(arg_str(im, K_DST_KIND),
						   (const char *(*)(unsigned))tsm_mem_kind_name,
						   TSM_MEM__COUNT);
		c->src_device = c->dst_device = ev.device;
		if (arg_u64(im, K_SRC_DEVICE, UINT16_MAX, &v) > 0)
			c->src_device = (uint16_t)v;
		if (arg_u64(im, K_DST_DEVICE, UINT16_MAX, &v) > 0)
			c->dst_device = (uint16_t)v;
		if (arg_u64(im, K_GRAPH_ID, UINT32_MAX, &v) > 0)
			c->graph_id = (uint32_t)v;
		if (arg_u64(im, K_GRAPH_NODE_ID, UINT64_MAX, &v) > 0)
			c->graph_node_id = v;
		find_arg(r, K_MEMORY_BANDWIDTH_GB_S) &&
		    (find_arg(r, K_MEMORY_BANDWIDTH_GB_S)->used = 1);
		break;
	}
	case TSM_EV_MEMSET:
		if (arg_u64(im, K_BYTES, UINT64_MAX, &v) > 0)
			ev.u.memset.bytes = v;
		if (arg_u64(im, K_VALUE, UINT32_MAX, &v) > 0)
			ev.u.memset.value = (uint32_t)v;
		ev.u.memset.mem_kind = (uint8_t)name_lookup(
		    arg_str(im, K_MEMORY_KIND), (const char *(*)(unsigned))tsm_mem_kind_name,
		    TSM_MEM__COUNT);
		if (arg_u64(im, K_GRAPH_ID, UINT32_MAX, &v) > 0)
			ev.u.memset.graph_id = (uint32_t)v;
		if (arg_u64(im, K_GRAPH_NODE_ID, UINT64_MAX, &v) > 0)
			ev.u.memset.graph_node_id = v;
		find_arg(r, K_MEMORY_BANDWIDTH_GB_S) &&
		    (find_arg(r, K_MEMORY_BANDWIDTH_GB_S)->used = 1);
		break;
	case TSM_EV_SYNC:
		ev.u.sync.sync_type = (uint8_t)name_lookup(
		    arg_str(im, K_SYNC_TYPE), (const char *(*)(unsigned))tsm_sync_type_name,
		    TSM_SYNC__COUNT);
		if (arg_u64(im, K_EVENT_ID, UINT64_MAX, &v) > 0)
			ev.u.sync.event_id = v;
		break;
	case TSM_EV_RUNTIME:
	case TSM_EV_DRIVER:
		if (arg_u64(im, K_CBID, UINT32_MAX, &v) > 0)
			ev.u.api.cbid = (uint32_t)v;
		if (arg_i64(im, K_STATUS, &iv) && iv >= INT32_MIN && iv <= INT32_MAX)
			ev.u.api.status = (int32_t)iv;
		break;
	case TSM_EV_NVTX_RANGE:
	case TSM_EV_NVTX_MARK:
		if (arg_u64(im, K_COLOR, UINT32_MAX, &v) > 0)
			ev.u.nvtx.color = (uint32_t)v;
		if (arg_u64(im, K_CATEGORY, UINT32_MAX, &v) > 0)
			ev.u.nvtx.category = (uint32_t)v;
		if ((s = arg_str(im, K_DOMAIN))) {
			rc = intern(im, s, strlen(s), &ev.u.nvtx.domain);
			if (rc < 0)
				return rc;
		}
		break;
	case TSM_EV_OVERHEAD:
		if (arg_u64(im, K_OVERHEAD_KIND, 255, &v) > 0)
			ev.u.overhead.overhead_kind = (uint8_t)v;
		break;
	case TSM_EV_DROPPED:
		if (arg_u64(im, K_COUNT, UINT64_MAX, &v) > 0)
			ev.u.dropped.count = v;
		ev.u.dropped.source = (uint8_t)name_lookup(
		    arg_str(im, K_SOURCE), (const char *(*)(unsigned))tsm_drop_source_name, 8);
		break;
	case TSM_EV_COUNTER: {
		struct arg *a = find_arg(r, K_VALUE);

		if (!a) /* Chrome counters: the first numeric series */
			for (int i = 0; i < r->nargs && !a; i++)
				if (r->args[i].type == A_INT || r->args[i].type == A_DBL)
					a = &r->args[i];
		if (a && (a->type == A_INT || a->type == A_DBL)) {
			ev.u.counter.value = a->type == A_INT ? (double)a->i : a->d;
			a->used = 1;
		}
		if (arg_u64(im, K_DEVICE, TSM_DEVICE_NONE - 1, &v) > 0)
			ev.device = (uint16_t)v;
		break;
	}
	default:
		break;
	}
	if (arg_u64(im, K_FLOW_ID, UINT64_MAX, &v) > 0) {
		s = arg_str(im, K_FLOW_TYPE);
		ev.flow_id = v;
		ev.flow_type = !s		     ? TSM_FLOW_START
			       : !strcmp(s, "start") ? TSM_FLOW_START
			       : !strcmp(s, "end")   ? TSM_FLOW_END
						     : TSM_FLOW_STEP;
		rc = note_arg_flow(im, &ev);
		if (rc < 0)
			return rc;
	}
	if (r->fl.set_type)
		set_flow(im, &ev, r->fl.set_id, r->fl.set_type);
	if (r->fl.io)
		own_flow(im, &ev, ph);
	if (arg_u64(im, K_FLAGS, 0xFF, &v) > 0)
		ev.flags |= (uint8_t)v;
	if (arg_u64(im, K_NO_NAME, 1, &v) > 0 && v)
		ev.name = 0; /* the exporter's stand-in name for an unnamed event */
	if (kind == TSM_EV_CPU_OP && !EQ(cat, cl, "cpu_op") && cl) {
		/* Keep the category of a generic complete event. */
		if (r->nargs < MAX_ARGS) {
			struct arg *a = &r->args[r->nargs++];
			uint32_t off;

			memset(a, 0, sizeof(*a));
			rc = rstore(im, "category", 8, &off);
			if (rc < 0)
				return rc;
			a->key = off;
			a->key_len = 8;
			a->kid = K_CATEGORY;
			r->present[K_CATEGORY >> 6] |= (uint64_t)1 << (K_CATEGORY & 63);
			a->type = A_STR;
			a->s = r->cat;
			a->s_len = r->cat_len;
		}
	}
	rc = build_meta(im, &ev.meta);
	if (rc >= 0 && r->sf != UINT32_MAX)
		rc = rec_stack(im, &ev.stack);
	if (rc < 0)
		return rc;
	if (ev.end_ns > im->last_ts)
		im->last_ts = ev.end_ns;
	return hold_event(im, &ev, ph == 'X');
}

/* ---- Chrome duration events ------------------------------------------------------------ */

/*
 * A "B" record opens a slice on its thread and the next "E" on that thread
 * closes the innermost open one (its args, if any, join the B's). The pair
 * is imported as one complete event when the E arrives, so an open B costs
 * its record's bytes until then (at most MAX_OPEN_B open ones in all; past
 * that, B records and their E records are dropped and counted). A B still
 * open at the end of the input lasts to the latest time seen and carries
 * "unfinished": 1, as chrome://tracing draws it to the end of the trace.
 */
#define MAX_OPEN_B (1u << 20)

static uint64_t bkey(int64_t pid, uint64_t tid)
{
	return tsm__mix64((uint64_t)pid * 0x9E3779B97F4A7C15ULL ^ tid);
}

/* The thread (pid, tid) of the B/E records; made when `create`. NULL: none, or NOMEM (status
 * set). */
static struct bthread *bthread_of(struct imp *im, int64_t pid, uint64_t tid, int create)
{
	size_t i, mask;

	if (im->blast < im->nbth && im->bth[im->blast].pid == pid && im->bth[im->blast].tid == tid)
		return &im->bth[im->blast];
	if (create && 2 * (im->nbth + 1) > im->bmap_cap) {
		size_t cap = im->bmap_cap ? 2 * im->bmap_cap : 64;
		uint32_t *nm = tsm__calloc(cap, sizeof(*nm));

		if (!nm) {
			TSM_FAIL(TSM_NOMEM, "%s: B/E threads", im->in_name);
			return NULL;
		}
		for (size_t t = 0; t < im->nbth; t++) {
			for (i = bkey(im->bth[t].pid, im->bth[t].tid) & (cap - 1); nm[i];
			     i = (i + 1) & (cap - 1))
				;
			nm[i] = (uint32_t)t + 1;
		}
		tsm__free(im->bmap);
		im->bmap = nm;
		im->bmap_cap = cap;
	}
	if (!im->bmap_cap)
		return NULL;
	mask = im->bmap_cap - 1;
	for (i = bkey(pid, tid) & mask; im->bmap[i]; i = (i + 1) & mask) {
		struct bthread *t = &im->bth[im->bmap[i] - 1];

		if (t->pid == pid && t->tid == tid) {
			im->blast = im->bmap[i] - 1;
			return t;
		}
	}
	if (!create)
		return NULL;
	if (im->nbth == im->bth_cap) {
		struct bthread *nb = tsm__grow(im->bth, &im->bth_cap, 16, sizeof(*nb));

		if (!nb) {
			TSM_FAIL(TSM_NOMEM, "%s: B/E threads", im->in_name);
			return NULL;
		}
		im->bth = nb;
	}
	memset(&im->bth[im->nbth], 0, sizeof(im->bth[0]));
	im->bth[im->nbth].pid = pid;
	im->bth[im->nbth].tid = tid;
	im->bmap[i] = (uint32_t)++im->nbth;
	im->blast = im->nbth - 1;
	return &im->bth[im->nbth - 1];
}

static uint64_t rec_tid(const struct rec *r)
{
	return r->has_tid && r->tid_num ? r->tid : 0;
}

/* Keep the B record at hand until its E. */
static int b_open(struct imp *im)
{
	struct rec *r = &im->rec;
	struct bthread *t = bthread_of(im, r->pid, rec_tid(r), 1);
	size_t argb = (size_t)r->nargs * sizeof(struct arg);
	struct bopen *o;

	if (!t)
		return tsm_last_error_status();
	if (r->ts_ns > im->last_ts)
		im->last_ts = r->ts_ns;
	if (t->lost || im->nopen >= MAX_OPEN_B) {
		/* and every B nested in it, so that E records still pair up */
		t->lost++;
		drop(im, "B record past 1048576 open ones");
		return 0;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap; /* under 2 * MAX_OPEN_B */
		struct bopen *no = tsm__grow(t->open, &cap, 8, sizeof(*no));

		if (!no)
			return TSM_FAIL(TSM_NOMEM, "%s: open B records", im->in_name);
		t->open = no;
		t->cap = (uint32_t)cap;
	}
	o = &t->open[t->n];
	o->mem = tsm__malloc(argb + r->text.len + 1);
	if (!o->mem)
		return TSM_FAIL(TSM_NOMEM, "%s: open B records", im->in_name);
	memcpy(o->mem, r->args, argb);
	memcpy((uint8_t *)o->mem + argb, r->text.data, r->text.len);
	o->text_len = (uint32_t)r->text.len;
	o->nargs = r->nargs;
	o->ph = r->ph;
	o->cat = r->cat;
	o->name = r->name;
	o->ph_len = r->ph_len;
	o->cat_len = r->cat_len;
	o->name_len = r->name_len;
	o->sf = r->sf;
	o->sf_len = r->sf_len;
	o->fl = r->fl;
	o->has_tid = r->has_tid;
	o->tid_num = r->tid_num;
	o->pid = r->pid;
	o->tid = r->tid;
	o->ts_ns = r->ts_ns;
	o->present[0] = r->present[0];
	o->present[1] = r->present[1];
	if (t->fend_id && r->ts_ns >= t->fend_ts) {
		/* the next slice to start on the thread: a waiting "f" binds to it */
		o->fl.set_id = t->fend_id;
		o->fl.set_type = TSM_FLOW_END;
		t->fend_id = 0;
	}
	t->n++;
	im->nopen++;
	return 0;
}

/* Append arg `a` (its key and text from `text`) to the record at hand. */
static int arg_append(struct imp *im, const struct arg *a, const uint8_t *text)
{
	struct rec *r = &im->rec;
	struct arg *d = &r->args[r->nargs];
	int rc;

	*d = *a;
	rc = rstore(im, (const char *)text + a->key, a->key_len, &d->key);
	if (rc >= 0 && (a->type == A_STR || a->type == A_RAW))
		rc = rstore(im, (const char *)text + a->s, a->s_len, &d->s);
	if (rc < 0)
		return rc;
	r->present[a->kid >> 6] |= (uint64_t)1 << (a->kid & 63);
	r->nargs++;
	return 0;
}

static int has_arg_named(const struct rec *r, const char *key, uint32_t len)
{
	for (int i = 0; i < r->nargs; i++)
		if (r->args[i].key_len == len && !memcmp(rtext(r, r->args[i].key), key, len))
			return 1;
	return 0;
}

/*
 * Import open record o as a complete event ending at `end`: with the args of
 * the E record at hand (`with_e`) that the B lacks, or marked unfinished.
 */
static int b_emit(struct imp *im, struct bopen *o, uint64_t end, int with_e, int unfinished)
{
	struct rec *r = &im->rec;
	size_t argb = (size_t)o->nargs * sizeof(struct arg);
	int ne = 0, rc = 0;

	if (with_e && r->nargs) {
		if (!im->eargs && !(im->eargs = tsm__malloc(MAX_ARGS * sizeof(*im->eargs))))
			rc = TSM_FAIL(TSM_NOMEM, "%s: E record args", im->in_name);
		tsm__buf_reset(&im->scratch);
		if (rc >= 0 && tsm__buf_reserve(&im->scratch, r->text.len) < 0)
			rc = TSM_FAIL(TSM_NOMEM, "%s: E record args", im->in_name);
		if (rc >= 0) {
			memcpy(im->eargs, r->args, (size_t)r->nargs * sizeof(struct arg));
			memcpy(im->scratch.data, r->text.data, r->text.len);
			ne = r->nargs;
		}
	}
	tsm__buf_reset(&r->text);
	if (rc >= 0 && tsm__buf_reserve(&r->text, o->text_len + 1) < 0)
		rc = TSM_FAIL(TSM_NOMEM, "%s: event text", im->in_name);
	if (rc < 0) {
		tsm__free(o->mem);
		return rc;
	}
	memcpy(r->text.data, (uint8_t *)o->mem + argb, o->text_len);
	r->text.len = o->text_len;
	memcpy(r->args, o->mem, argb);
	tsm__free(o->mem);
	r->nargs = o->nargs;
	r->ph = o->ph;
	r->cat = o->cat;
	r->name = o->name;
	r->ph_len = o->ph_len;
	r->cat_len = o->cat_len;
	r->name_len = o->name_len;
	r->sf = o->sf;
	r->sf_len = o->sf_len;
	r->fl = o->fl;
	r->has_pid = r->pid_num = r->has_ts = r->has_dur = 1;
	r->has_tid = o->has_tid;
	r->tid_num = o->tid_num;
	r->pid = o->pid;
	r->tid = o->tid;
	r->ts_ns = o->ts_ns;
	r->dur_ns = end - o->ts_ns;
	r->present[0] = o->present[0];
	r->present[1] = o->present[1];
	r->text.data[r->ph] = 'X';
	for (int i = 0; i < ne && r->nargs < MAX_ARGS && rc >= 0; i++)
		if (!has_arg_named(r, (const char *)im->scratch.data + im->eargs[i].key,
				   im->eargs[i].key_len))
			rc = arg_append(im, &im->eargs[i], im->scratch.data);
	if (unfinished && r->nargs < MAX_ARGS && rc >= 0) {
		struct arg mark = {.type = A_BOOL, .i = 1, .key_len = 10};

		mark.kid = (uint8_t)key_id("unfinished", 10);
		rc = arg_append(im, &mark, (const uint8_t *)"unfinished");
	}
	return rc < 0 ? rc : map_event(im);
}

/* Close the innermost open B of the E record's thread. */
static int e_close(struct imp *im)
{
	struct rec *r = &im->rec;
	struct bthread *t = bthread_of(im, r->pid, rec_tid(r), 0);
	struct bopen *o;

	if (r->ts_ns > im->last_ts)
		im->last_ts = r->ts_ns;
	if (t && t->lost) {
		t->lost--;
		drop(im, "B record past 1048576 open ones");
		return 0;
	}
	if (!t || !t->n) {
		drop(im, "E record without a B");
		return 0;
	}
	o = &t->open[--t->n];
	im->nopen--;
	if (r->ts_ns < o->ts_ns) {
		tsm__free(o->mem);
		drop(im, "B/E pair ending before it begins");
		drop(im, "B/E pair ending before it begins");
		if (o->fl.set_type)
			drop(im, "flow record on a dropped B/E pair");
		return 0;
	}
	return b_emit(im, o, r->ts_ns, 1, 0);
}

static int be_record(struct imp *im, int ph)
{
	return ph == 'B' ? b_open(im) : e_close(im);
}

/* The end of the input: B records still open last to the latest time seen. */
static int b_flush(struct imp *im)
{
	for (size_t i = 0; i < im->nbth; i++) {
		struct bthread *t = &im->bth[i];

		while (t->n) {
			struct bopen *o = &t->open[--t->n];
			int rc;

			im->nopen--;
			rc = b_emit(im, o, im->last_ts > o->ts_ns ? im->last_ts : o->ts_ns, 0, 1);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static void b_fini(struct imp *im)
{
	for (size_t i = 0; i < im->nbth; i++) {
		for (uint32_t j = 0; j < im->bth[i].n; j++)
			tsm__free(im->bth[i].open[j].mem);
		tsm__free(im->bth[i].open);
	}
	tsm__free(im->bth);
	tsm__free(im->bmap);
	tsm__free(im->eargs);
}

/* ---- Chrome flows ------------------------------------------------------------------------ */

/*
 * A Chrome flow record ("s" start, "t" step, "f" finish; category other than ac2g) binds to a
 * slice of its thread (pid, tid): "s", "t", and "f" with "bp": "e", to the slice that encloses
 * its ts; "f" without "bp", to the next slice that starts at or after its ts. The slice gets
 * the record's id as its flow_id, the phase as its flow_type. As a slice may come before its
 * flow records (torch.profiler writes a fwdbwd "s" or "f" right after its op, Chrome after the
 * slice's children), events are not written at once: the last HOLD_EVENTS events wait in a
 * ring, in input order (so the writer gets them in the order it always did, only later), and
 * each thread keeps a chain through its held events, newest first. An enclosing slice is
 * searched among the thread's last BIND_SCAN held events and its open B records: the
 * innermost, i.e. the one that starts last (then the shortest); an open B keeps its flow until
 * its E makes it an event. An "f" without "bp" waits in its thread (one per thread) for the
 * thread's next slice (X, or B) starting at or after its ts. A flow record that finds no slice
 * (the slice was written already, or never held: more than MAX_THREADS threads), or whose
 * slice has a flow already (an event holds one), is dropped and counted with its reason.
 *
 * Chrome scopes ids by category (and "id2" "local" ids by process); here an id is an id,
 * whatever its category, and the exporters pair a start with the next end of the same id in
 * the same process.
 */

/* "0x" and 1 to 16 hex digits, exactly (n bytes): 1 and the value in *v, else 0. */
static int hex_0x(const char *s, size_t n, uint64_t *v)
{
	uint64_t x = 0;

	if (n <= 2 || n > 18 || s[0] != '0' || (s[1] | 0x20) != 'x')
		return 0;
	for (size_t k = 2; k < n; k++) {
		unsigned c = (unsigned char)s[k], d = c - '0';

		if (d > 9) {
			d = (c | 0x20) - 'a' + 10;
			if (d < 10 || d > 15)
				return 0;
		}
		x = x << 4 | d;
	}
	*v = x;
	return 1;
}

/*
 * A flow id from the text of an "id"/"bind_id" value: integers as they are (a negative one as
 * its two's complement), a string that is a number (decimal, or hexadecimal after "0x" as
 * Chrome writes ids) as that number; any other string or number (a fraction, more than 64
 * bits) is hashed, with bit 63 set so that it cannot meet an id below 2^63 (two different
 * strings share an id with probability 2^-63). 0 (no flow in the event model) stays 0.
 */
static uint64_t flow_id_of(const char *s, size_t n, int str)
{
	const char *p = s, *e = s + n;
	uint64_t x = 0;
	int64_t v;

	if (!str && num_int(s, &v))
		return (uint64_t)v;
	if (str && hex_0x(s, n, &x))
		return x;
	for (; p < e && *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (x > (UINT64_MAX - d) / 10)
			break;
		x = x * 10 + d;
	}
	if (n && p == e)
		return x;
	return tsm__hash64(s, n, 0x666c6f77u) | (uint64_t)1 << 63;
}

/* The flow id of the record at hand ("id", else "bind_id"); 0: none (*has: an id at all). */
static uint64_t rec_flow_id(const struct rec *r, int *has)
{
	const struct rflow *f = &r->fl;

	*has = f->id != UINT32_MAX || f->bind != UINT32_MAX;
	if (f->id != UINT32_MAX)
		return flow_id_of(rtext(r, f->id), f->id_len, f->id_str);
	if (f->bind != UINT32_MAX)
		return flow_id_of(rtext(r, f->bind), f->bind_len, f->bind_str);
	return 0;
}

/*
 * Our own exports carry an event's flow in its args ("flow id", "flow type") besides the flow
 * records, which the Chrome exporter writes once the flow ends, its "s" maybe far after the
 * start slice (and sync flows join instants, which flow records do not bind to). A flow
 * record that repeats a flow an event carried in its args lately (same process, id and type),
 * or its slice's own flow, adds nothing: it is neither bound nor dropped. The flows read from
 * args are remembered in a direct-mapped table.
 */
static uint64_t arg_flow_key(int64_t pid, uint64_t id, int type)
{
	/* the type in the hash too: a flow's start and end take different slots */
	uint64_t h = tsm__mix64(tsm__mix64((uint64_t)pid * 0x9E3779B97F4A7C15ULL ^ id) ^
				(unsigned)type * 0xC2B2AE3D27D4EB4FULL);

	return (h & ~(uint64_t)3) | (unsigned)type;
}

static int note_arg_flow(struct imp *im, const tsm_event *ev)
{
	uint64_t k = arg_flow_key(im->rec.pid, ev->flow_id, ev->flow_type);

	if (!im->arg_flows && !(im->arg_flows = tsm__calloc(ARG_FLOWS, sizeof(uint64_t))))
		return TSM_FAIL(TSM_NOMEM, "%s: flows in args", im->in_name);
	im->arg_flows[(k >> 2) & (ARG_FLOWS - 1)] = k;
	return 0;
}

static int arg_flow_seen(const struct imp *im, int64_t pid, uint64_t id, int type)
{
	uint64_t k = arg_flow_key(pid, id, type);

	return im->arg_flows && im->arg_flows[(k >> 2) & (ARG_FLOWS - 1)] == k;
}

/* Set the flow of event ev, unless it has one. */
static void set_flow(struct imp *im, tsm_event *ev, uint64_t id, int type)
{
	if (ev->flow_id == id && ev->flow_type == type)
		return; /* the same flow, from its args */
	if (ev->flow_type && ev->flow_id) {
		drop(im, "flow record on a slice that has a flow");
		return;
	}
	ev->flow_id = id;
	ev->flow_type = (uint8_t)type;
	im->st.flows_bound++;
}

/* Chrome's flows bound to the slice itself ("bind_id" with "flow_out": true, "flow_in": true or
 * both: a step), as Chrome writes them on "X" and "B" records. */
static void own_flow(struct imp *im, tsm_event *ev, int ph)
{
	uint64_t id;
	int has;

	if (ph != 'X') {
		drop(im, "flow_in/flow_out on a record not a slice");
		return;
	}
	id = rec_flow_id(&im->rec, &has);
	if (!has)
		drop(im, "flow_in/flow_out without bind_id");
	else if (!id)
		drop(im, "flow record with id 0");
	else
		set_flow(im, ev, id,
			 im->rec.fl.io == 3   ? TSM_FLOW_STEP
			 : im->rec.fl.io == 2 ? TSM_FLOW_START
					      : TSM_FLOW_END);
}

/* Write the oldest held event. */
static int hold_write(struct imp *im)
{
	int rc = tsm_writer_write(im->w, &im->hold[im->hold_head & (HOLD_EVENTS - 1)].ev);

	if (rc >= 0)
		im->hold_head++;
	return rc;
}

/* The thread of the record at hand for the flows: made while there are fewer than
 * MAX_THREADS (*t NULL past them). 0 or TSM_NOMEM. */
static int flow_thread(struct imp *im, struct bthread **t)
{
	int create = im->nbth < MAX_THREADS;

	*t = bthread_of(im, im->rec.pid, rec_tid(&im->rec), create);
	return !*t && create ? tsm_last_error_status() : 0;
}

/* Hold event ev of the record at hand (slice: flow records may bind to it), writing the oldest
 * held event when the ring is full; a waiting "f" of its thread binds to it. */
static int hold_event(struct imp *im, const tsm_event *ev, int slice)
{
	struct bthread *t;
	struct held *h;
	int rc;

	if (!im->hold && !(im->hold = tsm__malloc(HOLD_EVENTS * sizeof(*im->hold))))
		return TSM_FAIL(TSM_NOMEM, "%s: held events", im->in_name);
	if (im->hold_tail - im->hold_head == HOLD_EVENTS) {
		rc = hold_write(im);
		if (rc < 0)
			return rc;
	}
	rc = flow_thread(im, &t);
	if (rc < 0)
		return rc;
	h = &im->hold[im->hold_tail++ & (HOLD_EVENTS - 1)];
	h->ev = *ev;
	h->slice = slice;
	h->prev = 0;
	im->st.events++;
	if (t) {
		h->prev = t->last;
		t->last = im->hold_tail;
		if (ev->start_ns < t->last_start)
			t->unordered = 1;
		t->last_start = ev->start_ns;
		if (t->fend_id && slice && ev->start_ns >= t->fend_ts) {
			set_flow(im, &h->ev, t->fend_id, TSM_FLOW_END);
			t->fend_id = 0;
		}
	}
	return 0;
}

/*
 * The innermost held slice of thread t enclosing ts, among its last BIND_SCAN held events. A
 * thread whose events came in start order (X records, as producers write them) needs no look
 * past the first one that starts before the best found: all older ones start before it too.
 */
static struct held *enclosing(struct imp *im, const struct bthread *t, uint64_t ts)
{
	struct held *best = NULL;
	uint64_t s = t->last;

	for (int n = 0; n < BIND_SCAN && s > im->hold_head; n++) {
		struct held *h = &im->hold[(s - 1) & (HOLD_EVENTS - 1)];

		if (best && !t->unordered && h->ev.start_ns < best->ev.start_ns)
			break;
		/* ties keep the newer event: seen first */
		if (h->slice && h->ev.start_ns <= ts && ts <= h->ev.end_ns &&
		    (!best || h->ev.start_ns > best->ev.start_ns ||
		     (h->ev.start_ns == best->ev.start_ns && h->ev.end_ns < best->ev.end_ns)))
			best = h;
		s = h->prev;
	}
	return best;
}

static int flow_record(struct imp *im, int ph)
{
	struct rec *r = &im->rec;
	struct bthread *t;
	struct held *h;
	struct bopen *o = NULL;
	uint64_t id;
	int has, type;

	id = rec_flow_id(r, &has);
	if (!has) {
		drop(im, "flow record without an id");
		return 0;
	}
	if (!id) {
		drop(im, "flow record with id 0");
		return 0;
	}
	if (!r->has_ts) {
		drop(im, "flow record without ts");
		return 0;
	}
	if (!r->pid_num) {
		drop(im, "flow record whose pid is not a number");
		return 0;
	}
	type = ph == 's' ? TSM_FLOW_START : ph == 't' ? TSM_FLOW_STEP : TSM_FLOW_END;
	if (arg_flow_seen(im, r->pid, id, type) || arg_flow_seen(im, r->pid, id, TSM_FLOW_STEP))
		return 0; /* a step's args stand for the "f" of one arrow and the "s" of the next */
	if (ph == 'f' && !r->fl.bp_e) {
		int rc = flow_thread(im, &t);

		if (rc < 0)
			return rc;
		if (!t)
			drop(im, "flow record past 65536 threads");
		else if (t->fend_id)
			drop(im, "flow end (no bp) replaced before its slice");
		if (t) {
			t->fend_id = id;
			t->fend_ts = r->ts_ns;
		}
		return 0;
	}
	t = bthread_of(im, r->pid, rec_tid(r), 0);
	h = t && im->hold ? enclosing(im, t, r->ts_ns) : NULL;
	/* A B record still open encloses ts from its start on; the innermost one that has
	 * started, if inside the held slice (a held slice that starts with it is inside it). */
	for (uint32_t i = t ? t->n : 0; i-- > 0;)
		if (t->open[i].ts_ns <= r->ts_ns) {
			o = &t->open[i];
			break;
		}
	if (o && (!h || o->ts_ns > h->ev.start_ns)) {
		if (o->fl.set_type) {
			drop(im, "flow record on a slice that has a flow");
		} else {
			o->fl.set_id = id;
			o->fl.set_type = (uint8_t)type;
		}
	} else if (h) {
		set_flow(im, &h->ev, id, type);
	} else {
		drop(im, !t && im->nbth >= MAX_THREADS ? "flow record past 65536 threads"
						       : "flow record with no enclosing slice");
	}
	return 0;
}

/* The end of the input: "f" records still waiting are dropped; every held event is written. */
static int hold_flush(struct imp *im)
{
	for (size_t i = 0; i < im->nbth; i++)
		if (im->bth[i].fend_id) {
			im->bth[i].fend_id = 0;
			drop(im, "flow end (no bp) with no later slice");
		}
	while (im->hold_head != im->hold_tail) {
		int rc = hold_write(im);

		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- host call stacks ---------------------------------------------------------------- */

/*
 * "stackFrames" is a dictionary id -> {"name", "category", "parent"}: a tree whose nodes are
 * frames, an event's "sf" naming its innermost one. The entries are kept (metadata: bounded
 * by MAX_SNODES and MAX_STEXT), their parents resolved to indices when the object ends, and
 * a cycle rejected there; the stack of a node is interned the first time an "sf" names it,
 * innermost frame first, at most STACK_MAX frames. Names of the form
 * "function (file:line)" or "function (file)" (what the Chrome export writes) are split;
 * "0x..." is a pc with no function; any other name is the function. The category is the
 * shared object ("[unknown]": none).
 */

static const char *stext(const struct imp *im, uint32_t off)
{
	return (const char *)im->fr.stext.data + off;
}

/* Keep the string or number token at hand in stext. */
static int stext_store(struct imp *im, uint32_t *off, uint32_t *len)
{
	size_t n = im->j.str_len;

	if (im->fr.stext.len + n + 1 > MAX_STEXT)
		return JR_FAIL(&im->j, TSM_TOO_LARGE,
			       "%s: stackFrames: over %u bytes of frame text", im->in_name,
			       MAX_STEXT);
	if (tsm__buf_reserve(&im->fr.stext, n + 1) < 0)
		return TSM_FAIL(TSM_NOMEM, "%s: stackFrames", im->in_name);
	*off = (uint32_t)im->fr.stext.len;
	*len = (uint32_t)n;
	memcpy(im->fr.stext.data + im->fr.stext.len, im->j.str, n);
	im->fr.stext.data[im->fr.stext.len + n] = 0;
	im->fr.stext.len += n + 1;
	return 0;
}

static struct snode *snode_find(const struct imp *im, const char *key, size_t n)
{
	size_t mask = im->fr.smap_cap - 1;

	if (!im->fr.smap_cap)
		return NULL;
	for (size_t h = (size_t)tsm__hash64(key, n, 0) & mask;; h = (h + 1) & mask) {
		uint32_t v = im->fr.smap[h];
		struct snode *nd;

		if (!v)
			return NULL;
		nd = &im->fr.sn[v - 1];
		if (nd->key_len == n && !memcmp(stext(im, nd->key), key, n))
			return nd;
	}
}

/* Put v (an entry's index + 1) in map m of cap slots, probing on from hash h. */
static void smap_put(uint32_t *m, size_t cap, size_t h, uint32_t v)
{
	while (m[h & (cap - 1)])
		h++;
	m[h & (cap - 1)] = v;
}

static size_t snode_hash(const struct imp *im, const struct snode *nd)
{
	return (size_t)tsm__hash64(stext(im, nd->key), nd->key_len, 0);
}

/* Index entry i (not in the map yet), growing the map to twice the entries. */
static int snode_index(struct imp *im, uint32_t i)
{
	if (2 * ((size_t)i + 1) > im->fr.smap_cap) {
		size_t cap = im->fr.smap_cap ? 2 * im->fr.smap_cap : 1024;
		uint32_t *nm = tsm__calloc(cap, sizeof(*nm));

		if (!nm)
			return TSM_FAIL(TSM_NOMEM, "%s: stackFrames", im->in_name);
		tsm__free(im->fr.smap);
		im->fr.smap = nm;
		im->fr.smap_cap = cap;
		for (uint32_t k = 0; k < i; k++)
			smap_put(nm, cap, snode_hash(im, &im->fr.sn[k]), k + 1);
	}
	smap_put(im->fr.smap, im->fr.smap_cap, snode_hash(im, &im->fr.sn[i]), i + 1);
	return 0;
}

/* One entry's members: "name", "category" (strings), "parent" (a string or a number). */
static int parse_stack_frame(struct imp *im, struct snode *nd)
{
	int tok, more, rc;

	rc = first_member(im, J_OBJ_END, &tok);
	if (rc <= 0)
		return rc;
	for (;;) {
		int which;

		rc = member_key(im, tok, "a stackFrames entry");
		if (rc < 0)
			return rc;
		which = EQ(im->j.str, im->j.str_len, "name")	   ? 1
			: EQ(im->j.str, im->j.str_len, "category") ? 2
			: EQ(im->j.str, im->j.str_len, "parent")   ? 3
								   : 0;
		tok = member_value(im);
		if (tok < 0)
			return tok;
		if (which == 3 && tok != J_STR && tok != J_NUM && tok != J_NULL)
			return JR_FAIL(
			    &im->j, TSM_CORRUPT,
			    "%s: stackFrames: \"parent\" of \"%s\" must be a string or a "
			    "number",
			    im->in_name, stext(im, nd->key));
		if (which == 3 && tok != J_NULL)
			rc = stext_store(im, &nd->parent_off, &nd->parent_len);
		else if (which == 1 && tok == J_STR)
			rc = stext_store(im, &nd->name, &nd->name_len);
		else if (which == 2 && tok == J_STR)
			rc = stext_store(im, &nd->cat, &nd->cat_len);
		else if (which == 3)
			nd->parent_off = UINT32_MAX;
		else
			rc = tsm__jr_skip(&im->j, tok);
		if (rc < 0)
			return rc;
		more = next_member(im, J_OBJ_END, "a stackFrames entry", &tok);
		if (more <= 0)
			return more;
	}
}

/* Parents to indices (one naming no entry ends the chain), depths, and no cycle. */
static int snode_resolve(struct imp *im)
{
	uint32_t *path;
	int rc = 0;

	for (size_t i = 0; i < im->fr.nsn; i++) {
		struct snode *nd = &im->fr.sn[i], *p = NULL;

		if (nd->parent_off != UINT32_MAX)
			p = snode_find(im, stext(im, nd->parent_off), nd->parent_len);
		nd->parent = p ? (uint32_t)(p - im->fr.sn) + 1 : 0;
		nd->depth = 0;
	}
	path = tsm__malloc((im->fr.nsn ? im->fr.nsn : 1) * sizeof(*path));
	if (!path)
		return TSM_FAIL(TSM_NOMEM, "%s: stackFrames", im->in_name);
	for (size_t i = 0; i < im->fr.nsn && rc >= 0; i++) {
		size_t np = 0;
		uint32_t k = (uint32_t)i + 1, d = 0;

		/* up to a node whose depth is known, marking the path (UINT32_MAX) */
		while (k && (d = im->fr.sn[k - 1].depth) == 0) {
			im->fr.sn[k - 1].depth = UINT32_MAX;
			path[np++] = k - 1;
			k = im->fr.sn[k - 1].parent;
		}
		if (k && d == UINT32_MAX) {
			rc = JR_FAIL(&im->j, TSM_CORRUPT,
				     "%s: stackFrames: the parents of \"%s\" form a cycle",
				     im->in_name, stext(im, im->fr.sn[k - 1].key));
			break;
		}
		d = k ? d : 0;
		while (np)
			im->fr.sn[path[--np]].depth = ++d;
	}
	tsm__free(path);
	return rc;
}

/*
 * "stackFrames" (a value whose first token `tok` was just read). One after
 * "traceEvents" comes too late for the events, which are written as they
 * are read: it is skipped, unless events named frames that were not there
 * and the import can run again (tsm_import_file), which it then does with
 * these frames known from the start.
 */
static int parse_stack_frames(struct imp *im, int tok)
{
	int more, rc;

	if (im->events_seen) {
		if (im->frames_given || !im->can_repeat || !im->sf_missed || im->fr.nsn)
			return tsm__jr_skip(&im->j, tok);
		im->late_frames = 1;
	}
	if (tok != J_OBJ)
		return JR_FAIL(&im->j, TSM_CORRUPT, "%s: \"stackFrames\" must be an object",
			       im->in_name);
	for (more = first_member(im, J_OBJ_END, &tok); more > 0;
	     more = next_member(im, J_OBJ_END, "stackFrames", &tok)) {
		struct snode *nd;
		uint32_t key, key_len;

		rc = member_key(im, tok, "stackFrames");
		if (rc < 0)
			return rc;
		nd = snode_find(im, im->j.str, im->j.str_len); /* again: the last one counts */
		if (!nd) {
			if (im->fr.nsn == MAX_SNODES)
				return JR_FAIL(&im->j, TSM_TOO_LARGE,
					       "%s: stackFrames: more than %u entries", im->in_name,
					       MAX_SNODES);
			if (im->fr.nsn == im->fr.sn_cap) {
				struct snode *ns =
				    tsm__grow(im->fr.sn, &im->fr.sn_cap, 256, sizeof(*ns));

				if (!ns)
					return TSM_FAIL(TSM_NOMEM, "%s: stackFrames", im->in_name);
				im->fr.sn = ns;
			}
			rc = stext_store(im, &key, &key_len);
			if (rc < 0)
				return rc;
			nd = &im->fr.sn[im->fr.nsn];
			memset(nd, 0, sizeof(*nd));
			nd->key = key;
			nd->key_len = key_len;
			rc = snode_index(im, (uint32_t)im->fr.nsn++);
			if (rc < 0)
				return rc;
		}
		nd->name = nd->cat = nd->parent_off = UINT32_MAX;
		nd->name_len = nd->cat_len = nd->parent_len = 0;
		tok = member_value(im);
		if (tok < 0)
			return tok;
		if (tok != J_OBJ)
			return JR_FAIL(&im->j, TSM_CORRUPT,
				       "%s: stackFrames: entry \"%s\" must be an object",
				       im->in_name, stext(im, nd->key));
		im->j.depth = 3;
		rc = parse_stack_frame(im, nd);
		im->j.depth = 1;
		if (rc < 0)
			return rc;
	}
	return more < 0 ? more : snode_resolve(im);
}

/* The frame of entry nd (see above for how its name is split). */
static int snode_frame(struct imp *im, const struct snode *nd, tsm_frame *f)
{
	const char *name = nd->name != UINT32_MAX ? stext(im, nd->name) : "";
	size_t n = nd->name != UINT32_MAX ? nd->name_len : 0, fn = n, i;
	int rc = 0;

	memset(f, 0, sizeof(*f));
	if (n > 3 && name[n - 1] == ')') {
		/* the last " (": "(file:line)" or "(file)", holding no parenthesis */
		for (i = n - 2; i > 0 && !(name[i] == '(' && name[i - 1] == ' '); i--)
			if (name[i] == '(' || name[i] == ')')
				break;
		if (i > 0 && name[i] == '(' && name[i - 1] == ' ' && i + 2 < n) {
			const char *file = name + i + 1;
			size_t fl = n - i - 2, c = fl;
			uint64_t line = 0;

			while (c > 0 && file[c - 1] >= '0' && file[c - 1] <= '9')
				c--;
			if (c > 1 && c < fl && file[c - 1] == ':' && fl - c <= 10) {
				for (size_t k = c; k < fl; k++)
					line = line * 10 + (uint64_t)(file[k] - '0');
				if (line <= UINT32_MAX) {
					f->line = (uint32_t)line;
					fl = c - 1;
				}
			}
			rc = intern(im, file, fl, &f->file);
			fn = i - 1;
		}
	}
	if (rc >= 0 && hex_0x(name, fn, &f->pc))
		fn = 0; /* a frame named by its pc */
	if (rc >= 0)
		rc = intern(im, name, fn, &f->function);
	if (rc >= 0 && nd->cat != UINT32_MAX && !EQ(stext(im, nd->cat), nd->cat_len, "[unknown]"))
		rc = intern(im, stext(im, nd->cat), nd->cat_len, &f->module);
	return rc;
}

/* The stack of the record's "sf": interned once per entry. An "sf" naming no entry read
 * before the events is dropped with a reason (the event is kept, without a stack). */
static int rec_stack(struct imp *im, uint32_t *stack)
{
	struct rec *r = &im->rec;
	struct snode *nd = snode_find(im, rtext(r, r->sf), r->sf_len);
	size_t n = 0;
	int rc;

	if (!nd) {
		drop(im, "sf names no stackFrames entry seen before the event");
		im->sf_missed++;
		return 0;
	}
	if (!nd->stack) {
		if (!im->sframes && !(im->sframes = tsm__malloc(STACK_MAX * sizeof(tsm_frame))))
			return TSM_FAIL(TSM_NOMEM, "%s: stack frames", im->in_name);
		for (const struct snode *f = nd; f && n < STACK_MAX;
		     f = f->parent ? &im->fr.sn[f->parent - 1] : NULL) {
			rc = snode_frame(im, f, &im->sframes[n++]);
			if (rc < 0)
				return rc;
		}
		rc = tsm_intern_add(tsm_writer_stacks(im->w), im->sframes, n * sizeof(tsm_frame),
				    &nd->stack);
		if (rc < 0)
			return rc;
	}
	*stack = nd->stack;
	return 0;
}

/* ---- top level ----------------------------------------------------------------------- */

static int parse_events(struct imp *im)
{
	int tok, more, rc;

	rc = first_member(im, J_ARR_END, &tok);
	if (rc <= 0)
		return rc;
	for (;;) {
		im->st.records++;
		if (tok == J_OBJ) {
			im->j.depth = 2;
			rc = parse_event(im);
			if (rc < 0)
				return rc;
			rc = map_event(im);
		} else {
			rc = tsm__jr_skip(&im->j, tok);
			if (rc >= 0)
				drop(im, "traceEvents element that is not an object");
		}
		if (rc < 0)
			return rc;
		if ((im->st.records & 0xFFFF) == 0 && im->opts && im->opts->progress)
			im->opts->progress(im->j.raw_bytes, 0, im->opts->progress_user);
		more = next_member(im, J_ARR_END, "traceEvents", &tok);
		if (more <= 0)
			return more;
	}
}

static int parse_device(struct imp *im)
{
	tsm_device_info d;
	uint64_t v;
	int rc;
	const char *name, *uuid;

	memset(&d, 0, sizeof(d));
	tsm__buf_reset(&im->rec.text);
	im->rec.nargs = 0;
	im->rec.present[0] = im->rec.present[1] = 0;
	im->j.depth = 2;
	rc = parse_args(im); /* same shape: an object of scalars */
	if (rc < 0)
		return rc;
#define DEVF(key, field)                          \
	if (arg_u64(im, key, UINT64_MAX, &v) > 0) \
		d.field = (__typeof__(d.field))v;
	DEVF(K_ID, id)
	DEVF(K_TOTAL_GLOBAL_MEM, global_mem_bytes)
	DEVF(K_COMPUTE_MAJOR, cc_major)
	DEVF(K_COMPUTE_MINOR, cc_minor)
	DEVF(K_MAX_THREADS_PER_BLOCK, max_threads_per_block)
	DEVF(K_MAX_THREADS_PER_MULTIPROCESSOR, max_threads_per_sm)
	DEVF(K_REGS_PER_BLOCK, regs_per_block)
	DEVF(K_WARP_SIZE, warp_size)
	DEVF(K_SHARED_MEM_PER_BLOCK, smem_per_block_bytes)
	DEVF(K_NUM_SMS, sm_count)
	DEVF(K_REGS_PER_MULTIPROCESSOR, regs_per_sm)
	DEVF(K_SHARED_MEM_PER_BLOCK_OPTIN, smem_per_block_optin_bytes)
	DEVF(K_SHARED_MEM_PER_MULTIPROCESSOR, smem_per_sm_bytes)
	DEVF(K_CLOCK_RATE_KHZ, core_clock_khz)
	DEVF(K_MEMORY_CLOCK_RATE_KHZ, mem_clock_khz)
	DEVF(K_MEMORY_BUS_WIDTH, mem_bus_width_bits)
	DEVF(K_L2_CACHE_SIZE, l2_bytes)
	DEVF(K_MAX_BLOCKS_PER_MULTIPROCESSOR, max_blocks_per_sm)
#undef DEVF
	/* Names are interned when the writer opens (it opens at "traceEvents", so that a
	 * baseTimeNanoseconds written before it still sets the realtime offset). */
	name = arg_str(im, K_NAME);
	uuid = arg_str(im, K_UUID);
	if (im->w) {
		if (name && (rc = intern(im, name, strlen(name), &d.name)) < 0)
			return rc;
		if (uuid && (rc = intern(im, uuid, strlen(uuid), &d.uuid)) < 0)
			return rc;
		rc = tsm_writer_add_device(im->w, &d);
		if (rc < 0)
			return rc;
	} else {
		tsm_device_info *nd = tsm__realloc(im->devs, (im->ndevs + 1) * sizeof(*nd));
		char **nn = tsm__realloc(im->dev_names, 2 * (im->ndevs + 1) * sizeof(*nn));

		if (nd)
			im->devs = nd;
		if (nn)
			im->dev_names = nn;
		if (!nd || !nn)
			return TSM_FAIL(TSM_NOMEM, "import: devices");
		im->devs[im->ndevs] = d;
		nn[2 * im->ndevs] = name ? tsm__strdup(name) : NULL;
		nn[2 * im->ndevs + 1] = uuid ? tsm__strdup(uuid) : NULL;
		im->ndevs++;
	}
	im->st.devices++;
	return 0;
}

static int parse_devices(struct imp *im, int tok)
{
	int more, rc;

	if (tok != J_ARR)
		return tsm__jr_skip(&im->j, tok);
	rc = first_member(im, J_ARR_END, &tok);
	if (rc <= 0)
		return rc;
	for (;;) {
		if (tok == J_OBJ)
			rc = parse_device(im);
		else
			rc = tsm__jr_skip(&im->j, tok);
		if (rc < 0)
			return rc;
		more = next_member(im, J_ARR_END, "deviceProperties", &tok);
		if (more <= 0)
			return more;
	}
}

static int parse_top_object(struct imp *im)
{
	int tok, more, rc;

	rc = first_member(im, J_OBJ_END, &tok);
	if (rc <= 0)
		return rc;
	for (;;) {
		char *key;

		rc = member_key(im, tok, "the top object");
		if (rc < 0)
			return rc;
		key = tsm__strdup(im->j.str);
		if (!key)
			return TSM_FAIL(TSM_NOMEM, "import: key");
		rc = tok = member_value(im);
		if (rc >= 0) {
			im->j.depth = 1;
			if (!strcmp(key, "traceEvents")) {
				if (tok != J_ARR) {
					rc = JR_FAIL(&im->j, TSM_CORRUPT,
						     "%s: \"traceEvents\" must be an array",
						     im->in_name);
				} else {
					im->events_seen = 1;
					rc = open_writer(im);
					if (rc >= 0)
						rc = parse_events(im);
				}
			} else if (!strcmp(key, "stackFrames")) {
				rc = parse_stack_frames(im, tok);
			} else if (!strcmp(key, "deviceProperties")) {
				rc = parse_devices(im, tok);
			} else if (!strcmp(key, "distributedInfo") && tok == J_OBJ) {
				int64_t v;
				const char *be;

				tsm__buf_reset(&im->rec.text);
				im->rec.nargs = 0;
				im->rec.present[0] = im->rec.present[1] = 0;
				rc = parse_args(im);
				if (rc >= 0 && arg_i64(im, K_RANK, &v) && v >= 0 && v <= INT32_MAX)
					im->rank = (int)v;
				if (rc >= 0 && arg_i64(im, K_WORLD_SIZE, &v))
					rc = add_meta_int(im, "world_size", v);
				if (rc >= 0 && (be = arg_str(im, K_BACKEND)))
					rc = add_meta_str(im, "distributed backend", be);
			} else if (!strcmp(key, "baseTimeNanoseconds") && tok == J_NUM) {
				int64_t v;

				if (!num_int(im->j.str, &v))
					rc = JR_FAIL(&im->j, TSM_TOO_LARGE,
						     "%s: baseTimeNanoseconds %s does not fit",
						     im->in_name, im->j.str);
				else if (im->w)
					rc = add_meta_int(im, "baseTimeNanoseconds", v);
				else {
					im->base_ns = v;
					im->have_base = 1;
				}
			} else if (tok == J_STR) {
				if (strcmp(key, "displayTimeUnit") && strcmp(key, "traceName"))
					rc = add_meta_str(im, key, im->j.str);
			} else if (tok == J_NUM) {
				int64_t v;

				if (strcmp(key, "schemaVersion") && num_int(im->j.str, &v))
					rc = add_meta_int(im, key, v);
				else if (strcmp(key, "schemaVersion"))
					rc = add_meta_str(im, key, im->j.str);
			} else {
				rc = tsm__jr_skip(&im->j, tok);
			}
		}
		tsm__free(key);
		if (rc < 0)
			return rc;
		more = next_member(im, J_OBJ_END, "the top object", &tok);
		if (more <= 0)
			return more;
	}
}

static int finish(struct imp *im)
{
	int rc = open_writer(im);

	if (rc >= 0)
		rc = b_flush(im);
	if (rc >= 0)
		rc = hold_flush(im);
	if (rc < 0)
		return rc;
	for (size_t i = 0, nhost = 0; i < im->nprocs; i++) {
		tsm_process_info p;

		if (!im->procs[i].host)
			continue;
		memset(&p, 0, sizeof(p));
		p.pid = im->procs[i].pid;
		p.rank = nhost++ == 0 ? im->rank : -1;
		p.name = im->procs[i].name;
		rc = tsm_writer_add_process(im->w, &p);
		if (rc < 0)
			return rc;
	}
	if (im->st.dropped) {
		tsm_event ev;
		tsm_kv kv[MAX_REASONS];

		memset(&ev, 0, sizeof(ev));
		memset(kv, 0, sizeof(kv));
		ev.kind = TSM_EV_DROPPED;
		ev.flags = TSM_EVF_IMPORTED;
		ev.device = TSM_DEVICE_NONE;
		ev.start_ns = ev.end_ns = im->last_ts;
		ev.u.dropped.count = im->st.dropped;
		ev.u.dropped.source = TSM_DROP_IMPORT;
		for (int i = 0; i < im->nreasons; i++) {
			kv[i].type = TSM_KV_INT;
			kv[i].v.i = (int64_t)im->reasons[i].count;
			rc = intern(im, im->reasons[i].what, strlen(im->reasons[i].what),
				    &kv[i].key);
			if (rc < 0)
				return rc;
		}
		rc = tsm_intern_add(tsm_writer_kvlists(im->w), kv,
				    (size_t)im->nreasons * sizeof(tsm_kv), &ev.meta);
		if (rc >= 0)
			rc = intern(im, "import: unmapped records", 24, &ev.name);
		if (rc >= 0)
			rc = tsm_writer_write(im->w, &ev);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int run(struct imp *im)
{
	int tok, rc;

	tok = tsm__jr_next(&im->j);
	if (tok < 0)
		return tok;
	if (tok == J_EOF)
		return TSM_FAIL_AT(TSM_EMPTY, 0, "%s: no JSON in the input", im->in_name);
	im->j.depth = 1;
	if (tok == J_OBJ)
		rc = parse_top_object(im);
	else if (tok == J_ARR)
		rc = open_writer(im) < 0 ? tsm_last_error_status() : parse_events(im);
	else
		return JR_FAIL(&im->j, TSM_CORRUPT,
			       "%s: not a trace: the JSON must be an object or an array",
			       im->in_name);
	if (rc < 0)
		return rc;
	tok = tsm__jr_next(&im->j);
	if (tok < 0)
		return tok;
	if (tok != J_EOF)
		return JR_FAIL(&im->j, TSM_CORRUPT, "%s: data after the end of the JSON value",
			       im->in_name);
	return finish(im);
}

static void imp_fini(struct imp *im)
{
	tsm__buf_fini(&im->rec.text);
	tsm__buf_fini(&im->scratch);
	b_fini(im);
	tsm__free(im->hold);
	tsm__free(im->arg_flows);
	tsm__free(im->procs);
	tsm__free(im->corr_key);
	tsm__free(im->corr_pid);
	for (size_t i = 0; i < 2 * im->ndevs && im->dev_names; i++)
		tsm__free(im->dev_names[i]);
	tsm__free(im->dev_names);
	tsm__free(im->devs);
	tsm__free(im->fr.sn);
	tsm__free(im->fr.smap);
	tsm__buf_fini(&im->fr.stext);
	tsm__free(im->sframes);
	for (size_t i = 0; i < im->npmeta; i++) {
		tsm__free(im->pmeta[i].key);
		tsm__free(im->pmeta[i].s);
	}
	tsm__free(im->pmeta);
	tsm__free(im->backend);
}

static int imp_init(struct imp *im, const char *name)
{
	memset(im, 0, sizeof(*im));
	im->in_name = name;
	im->rank = -1;
	im->corr_key = tsm__calloc(CORR_SLOTS, sizeof(*im->corr_key));
	im->corr_pid = tsm__calloc(CORR_SLOTS, sizeof(*im->corr_pid));
	if (!im->corr_key || !im->corr_pid)
		return TSM_FAIL(TSM_NOMEM, "import: correlation table");
	return 0;
}

/* One run of a file import: input opened, parsed, the output written and closed. */
static int import_run(struct imp *im, const char *in_path)
{
	int rc = tsm__jr_open_file(&im->j, in_path), rc2;

	if (rc >= 0)
		rc = run(im);
	if (im->w) {
		rc2 = tsm_writer_close(im->w);
		if (rc >= 0)
			rc = rc2;
		im->w = NULL;
	}
	im->st.input_bytes = im->j.raw_bytes;
	im->st.json_bytes = im->j.base + im->j.pos;
	tsm__jr_close(&im->j);
	return rc;
}

/* The input can be read again and the output rewritten: regular files (the output may be
 * new). */
static int repeatable(const char *in_path, const char *out_path)
{
	struct stat a, b;

	if (!strcmp(in_path, "-") || stat(in_path, &a) != 0 || !S_ISREG(a.st_mode))
		return 0;
	if (stat(out_path, &b) != 0)
		return errno == ENOENT;
	return S_ISREG(b.st_mode);
}

/* The second run gets the first run's "stackFrames" entries (interned by neither yet). */
static void frames_move(struct imp *to, struct imp *from)
{
	to->fr = from->fr;
	memset(&from->fr, 0, sizeof(from->fr));
	for (size_t i = 0; i < to->fr.nsn; i++)
		to->fr.sn[i].stack = 0; /* the first run's writer interned it */
	to->frames_given = 1;
}

static struct imp *imp_new(const char *in_path, const char *out_path, const tsm_import_opts *opts,
			   int *rc)
{
	struct imp *im = tsm__malloc(sizeof(*im));

	if (!im) {
		*rc = TSM_FAIL(TSM_NOMEM, "import state");
		return NULL;
	}
	*rc = imp_init(im, in_path);
	im->out_path = out_path;
	im->opts = opts;
	return im;
}

static void imp_free(struct imp *im)
{
	if (im) {
		imp_fini(im);
		tsm__free(im);
	}
}

int tsm_import_file(const char *in_path, const char *out_path, const tsm_import_opts *opts,
		    tsm_import_stats *stats)
{
	struct imp *im, *again;
	int rc;

	if (stats)
		memset(stats, 0, sizeof(*stats));
	im = imp_new(in_path, out_path, opts, &rc);
	if (!im)
		return rc;
	if (rc >= 0) {
		im->can_repeat = repeatable(in_path, out_path);
		rc = import_run(im, in_path);
	}
	if (rc >= 0 && im->late_frames) {
		/* "stackFrames" came after the events: again, with them from the start */
		again = imp_new(in_path, out_path, opts, &rc);
		if (again && rc >= 0) {
			frames_move(again, im);
			rc = import_run(again, in_path);
		}
		if (again) {
			imp_free(im);
			im = again;
		}
	}
	if (stats)
		*stats = im->st;
	imp_free(im);
	return rc;
}

int tsm_import_mem(const void *data, size_t size, const char *name, tsm_writer *w,
		   tsm_import_stats *stats)
{
	struct imp *im = tsm__malloc(sizeof(*im));
	int rc;

	if (stats)
		memset(stats, 0, sizeof(*stats));
	if (!im)
		return TSM_FAIL(TSM_NOMEM, "import state");
	rc = imp_init(im, name ? name : "memory");
	im->w = w;
	if (rc >= 0)
		rc = tsm__jr_open_mem(&im->j, data, size, im->in_name);
	if (rc >= 0)
		rc = run(im);
	im->st.input_bytes = size;
	im->st.json_bytes = im->j.base + im->j.pos;
	if (stats)
		*stats = im->st;
	tsm__jr_close(&im->j);
	imp_fini(im);
	tsm__free(im);
	return rc;
}
