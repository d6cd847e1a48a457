/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tracesmith report FILE -o OUT.html: one self-contained HTML file.
 *
 * Everything is inline: CSS, the script, and the data as JSON in
 * <script type="application/json"> blocks, so the file opens offline in
 * any browser and makes no request. The statistics are the analysis's
 * own JSON writer output (the same as `stats --format json`, critical
 * path included); the page's script turns each section into a table.
 *
 * The timeline is drawn on a canvas with zoom (wheel) and pan (drag).
 * Small traces carry every op (start, duration, class, name); above
 * EXACT_MAX ops each lane is decimated into BINS columns, each holding the
 * dominant class and the busy share, which keeps a 10M-event report near
 * a megabyte. Times in the page are ns relative to the trace's first event
 * (absolute CUPTI times do not fit a double exactly). After the first draw
 * the script sets the title to "... rendered" (used by the headless test);
 * any script error replaces it with "ERROR: ...".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "tl-load.h"
#include "util.h"

#define EXACT_MAX 200000u
#define BINS	  4096u
#define UTIL_BINS 600u

enum { O_OUTPUT = 1, O_STRICT, O_EXACT };

static const struct cli_opt opts[] = {
    {O_OUTPUT, 'o', "output", CLI_REQARG, "FILE",
     "write the report to FILE (required; '-': stdout)"},
    {O_EXACT, 0, "exact-max", CLI_REQARG, "N",
     "draw every op when the trace has at most N GPU ops\n(default 200000); above, lanes are "
     "decimated"},
    {O_STRICT, 0, "strict", CLI_NOARG, NULL, "fail on a file that was not closed cleanly"},
    {0},
};

static const struct cli_spec spec = {
    .name = "report",
    .synopsis = "FILE -o OUT.html [--exact-max N]",
    .description =
	"Write a self-contained HTML report (no network, no external scripts or fonts):\n"
	"summary, utilisation over time per device, a zoomable and pannable timeline of\n"
	"every stream and the critical path, and the statistics tables of `tracesmith\n"
	"stats` (kernels, copies, API calls, launch latency, idle gaps, NVTX ranges,\n"
	"ProfilerStep#N iterations, critical path shares).",
    .opts = opts,
    .notes = "Mouse: wheel zooms around the pointer, drag pans, double-click resets.",
    .min_pos = 1,
    .max_pos = 1,
};

static const char page_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>TraceSmith report</title>\n<style>\n"
    "body{font:13px/1.4 system-ui,-apple-system,'Segoe "
    "UI',sans-serif;margin:0;background:#f6f7f9;color:#1d2330}\n"
    "header{background:#1d2330;color:#fff;padding:10px 18px}header h1{font-size:17px;margin:0}\n"
    "header .sub{color:#aab3c5;font-size:12px}\n"
    "section{background:#fff;margin:12px 18px;padding:10px 14px;border-radius:6px;box-shadow:0 1px "
    "2px #0002}\n"
    "h2{font-size:14px;margin:2px 0 8px}\n"
    "table{border-collapse:collapse;font:12px/1.3 ui-monospace,Menlo,Consolas,monospace}\n"
    "td,th{padding:2px 8px;border-bottom:1px solid #e4e7ec;text-align:right;white-space:nowrap}\n"
    "th{background:#eef1f5;position:sticky;top:0}td.l,th.l{text-align:left}\n"
    ".scroll{max-height:340px;overflow:auto}\n"
    "#tl{width:100%;height:360px;display:block;cursor:grab;border:1px solid #d5dae2}\n"
    ".legend span{display:inline-block;margin-right:14px}.legend "
    "i{display:inline-block;width:12px;height:10px;margin-right:4px;vertical-align:middle}\n"
    "#tip{position:fixed;pointer-events:none;background:#1d2330;color:#fff;padding:4px "
    "7px;border-radius:4px;font-size:12px;display:none;max-width:600px}\n"
    ".kv{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:2px 16px}.kv "
    "div b{font-weight:600}\n"
    "canvas.util{width:100%;height:70px;display:block;border:1px solid #e4e7ec;margin-bottom:6px}\n"
    "</style></head><body>\n";

static const char page_script[] =
    "<script>\n"
    "'use strict';\n"
    "window.onerror=function(m){document.title='ERROR: '+m;var e=document.getElementById('err');"
    "if(e){e.textContent='script error: '+m;e.style.display='block';}};\n"
    "(function(){\n"
    "var S=JSON.parse(document.getElementById('stats').textContent);\n"
    "var T=JSON.parse(document.getElementById('tl-data').textContent);\n"
    "var COL=['#3a9a4a','#a24bc9','#2b8fc7','#d69a1c','#9aa3b0','#c4473a'];\n"
    "var CLS=['compute','communication','memcpy','memset','event wait','host API'];\n"
    "function el(t,a,x){var "
    "e=document.createElement(t);if(a)e.className=a;if(x!=null)e.textContent=x;return e;}\n"
    "function dur(ns){ns=+ns;if(ns<1e3)return ns+' ns';if(ns<1e6)return (ns/1e3).toFixed(3)+' us';"
    "if(ns<1e9)return (ns/1e6).toFixed(3)+' ms';return (ns/1e9).toFixed(3)+' s';}\n"
    "function fmt(k,v){if(typeof v==='number'&&/_ns$/.test(k))return dur(v);"
    "if(k==='share'||k==='utilization')return (v*100).toFixed(2)+'%';"
    "if(Array.isArray(v))return v.join(' ');return String(v);}\n"
    "document.getElementById('sub').textContent=T.file+' \\u2014 '+dur(T.span)+', "
    "'+S.summary.events+' events, '"
    "+S.summary.devices+' GPU(s), '+S.summary.streams+' stream(s)'+(T.decimated?' (timeline "
    "decimated: '+dur(T.bin)+' per column)':'');\n"
    "var kv=document.getElementById('summary');Object.keys(S.summary).forEach(function(k){var "
    "d=el('div');"
    "d.appendChild(el('b',null,k.replace(/_/g,' ')+': "
    "'));d.appendChild(document.createTextNode(fmt(k,S.summary[k])));kv.appendChild(d);});\n"
    "function table(key,title,max){var rows=S[key];if(!rows||!rows.length)return;var "
    "sec=el('section');"
    "sec.appendChild(el('h2',null,title+' ('+rows.length+')'));var "
    "w=el('div','scroll'),t=el('table'),h=el('tr');"
    "var "
    "cols=Object.keys(rows[0]);cols.forEach(function(c){h.appendChild(el('th',c==='name'||c==='"
    "what'?'l':null,c));});t.appendChild(h);"
    "rows.slice(0,max||2000).forEach(function(r){var tr=el('tr');cols.forEach(function(c){"
    "tr.appendChild(el('td',c==='name'||c==='what'?'l':null,fmt(c,r[c])));});t.appendChild(tr);});"
    "w.appendChild(t);sec.appendChild(w);document.getElementById('tables').appendChild(sec);}\n"
    "table('critical','Critical path');table('devices','Devices');table('streams','Streams "
    "(exclusive states)');"
    "table('kernels','Kernels by total time');table('copies','Copies and sets');table('apis','API "
    "calls');"
    "table('gaps','Idle gaps per stream by cause');table('longest_gaps','Longest idle "
    "gaps');table('top','Longest GPU ops');"
    "table('ranges','NVTX ranges');table('steps','ProfilerStep iterations');\n"
    "(function(){var "
    "L=S.latency,sec=document.getElementById('lat');if(!L||!L.launches&&!L.count){sec.style."
    "display='none';return;}"
    "sec.appendChild(el('div',null,'launches '+L.count+', mean '+dur(L.mean_ns)+', p50 "
    "'+dur(L.p50_ns)+', p95 '+dur(L.p95_ns)+', p99 '+dur(L.p99_ns)+', max '+dur(L.max_ns)));})();\n"
    /* utilisation plots */
    "var "
    "U=document.getElementById('util');T.util.forEach(function(u){U.appendChild(el('div',null,'GPU "
    "'+u.device+': busy share per '+dur(T.span/u.bins.length)));"
    "var c=el('canvas','util');U.appendChild(c);var "
    "r=c.getBoundingClientRect(),W=c.width=Math.max(200,r.width|0),H=c.height=70,g=c.getContext('"
    "2d');"
    "g.fillStyle='#eef6ef';g.fillRect(0,0,W,H);g.strokeStyle='#3a9a4a';g.beginPath();u.bins."
    "forEach(function(v,i){var x=i*W/u.bins.length,y=H-2-(H-4)*v/1000;"
    "if(i)g.lineTo(x,y);else g.moveTo(x,y);});g.stroke();});\n"
    /* timeline */
    "var "
    "cv=document.getElementById('tl'),g=cv.getContext('2d'),tip=document.getElementById('tip');\n"
    "var lg=document.getElementById('legend');CLS.forEach(function(n,i){var "
    "s=el('span'),b=el('i');b.style.background=COL[i];s.appendChild(b);s.appendChild(document."
    "createTextNode(n));lg.appendChild(s);});\n"
    "var v0=0,v1=T.span||1,LH=22,LW=150,AX=22;\n"
    "function draw(){var r=cv.getBoundingClientRect();var W=cv.width=Math.max(300,r.width|0);var "
    "H=cv.height=AX+LH*T.lanes.length+4;cv.style.height=H+'px';"
    "g.fillStyle='#fff';g.fillRect(0,0,W,H);var PW=W-LW,k=PW/(v1-v0);g.font='11px "
    "sans-serif';g.fillStyle='#555';g.strokeStyle='#e4e7ec';"
    "for(var i=0;i<=8;i++){var "
    "x=LW+i*PW/"
    "8;g.beginPath();g.moveTo(x,AX-4);g.lineTo(x,H);g.stroke();g.fillText(dur(Math.round(v0+(v1-v0)"
    "*i/8)),Math.min(x+2,W-60),12);}\n"
    "T.lanes.forEach(function(l,li){var "
    "y=AX+li*LH;g.fillStyle='#1d2330';g.fillText(l.label,4,y+14);"
    "if(l.ops){var o=l.ops;for(var j=0;j<o.length;j+=4){var "
    "s=o[j],e=s+o[j+1];if(e<v0||s>v1)continue;var x0=LW+(s-v0)*k,w=Math.max(1,(e-s)*k);"
    "g.fillStyle=COL[o[j+2]];g.fillRect(x0,y+3,w,LH-6);}}\n"
    "else{var b=l.bins,n=b.length/2,bw=T.span/n;var "
    "j0=Math.max(0,Math.floor(v0/bw)),j1=Math.min(n-1,Math.ceil(v1/bw));for(var "
    "j=j0;j<=j1;j++){var c=b.charCodeAt(2*j)-97;"
    "if(c<0||c>5)continue;var d=b.charCodeAt(2*j+1)-48,h=(LH-6)*Math.max(0.12,d/9);var "
    "x0=LW+(j*bw-v0)*k,w=Math.max(1,bw*k);g.fillStyle=COL[c];"
    "g.fillRect(x0,y+LH-3-h,w,h);}}});}\n"
    "function hit(ev){var r=cv.getBoundingClientRect(),x=ev.clientX-r.left,y=ev.clientY-r.top;var "
    "li=Math.floor((y-AX)/LH);var l=T.lanes[li];"
    "if(!l||x<LW||!l.ops)return null;var "
    "t=v0+(x-LW)*(v1-v0)/(cv.width-LW),tol=3*(v1-v0)/(cv.width-LW),o=l.ops;"
    "for(var j=0;j<o.length;j+=4){if(o[j]-tol<=t&&t<=o[j]+o[j+1]+tol)return {l:l,j:j};}return "
    "null;}\n"
    "var "
    "drag=null;cv.addEventListener('mousedown',function(e){drag={x:e.clientX,v0:v0,v1:v1};cv.style."
    "cursor='grabbing';});\n"
    "window.addEventListener('mouseup',function(){drag=null;cv.style.cursor='grab';});\n"
    "cv.addEventListener('mousemove',function(e){if(drag){var "
    "d=(e.clientX-drag.x)*(drag.v1-drag.v0)/(cv.width-LW);v0=drag.v0-d;v1=drag.v1-d;draw();return;}"
    "var h=hit(e);if(!h){tip.style.display='none';return;}var "
    "o=h.l.ops;tip.textContent=(T.names[o[h.j+3]]||CLS[o[h.j+2]])+' \\u2014 '+dur(o[h.j+1])+' at "
    "'+dur(o[h.j]);"
    "tip.style.left=(e.clientX+12)+'px';tip.style.top=(e.clientY+12)+'px';tip.style.display='block'"
    ";});\n"
    "cv.addEventListener('mouseleave',function(){tip.style.display='none';});\n"
    "cv.addEventListener('wheel',function(e){e.preventDefault();var "
    "r=cv.getBoundingClientRect(),x=Math.max(0,e.clientX-r.left-LW);"
    "var t=v0+x*(v1-v0)/(cv.width-LW),z=e.deltaY>0?1.25:0.8;var "
    "nv0=t-(t-v0)*z,nv1=t+(v1-t)*z;if(nv1-nv0<10)return;v0=nv0;v1=nv1;draw();},{passive:false});\n"
    "cv.addEventListener('dblclick',function(){v0=0;v1=T.span||1;draw();});window.addEventListener("
    "'resize',draw);\n"
    "draw();document.body.setAttribute('data-rendered','1');document.title='TraceSmith report - "
    "rendered';\n"
    "})();\n</script>\n</body></html>\n";

/* Copy JSON into a <script> block: "</" must not appear there. */
static void put_json_block(FILE *out, const char *id, const char *buf, size_t n)
{
	fprintf(out, "<script type=\"application/json\" id=\"%s\">", id);
	for (size_t i = 0; i < n; i++) {
		if (buf[i] == '<' && i + 1 < n && buf[i + 1] == '/') {
			fputs("<\\/", out);
			i++;
			continue;
		}
		fputc(buf[i], out);
	}
	fputs("</script>\n", out);
}

struct ctx {
	const tsm_timeline *tl;
	uint64_t origin, span;
	uint32_t *name_idx; /* string id -> index in the names list + 1 */
	size_t name_cap;
	uint32_t *names;
	size_t nnames;
};

static int name_index(struct ctx *c, uint32_t id, uint32_t *out)
{
	if (id >= c->name_cap) {
		size_t n = c->name_cap ? c->name_cap : 1024;
		uint32_t *p;

		while (n <= id)
			n *= 2;
		p = realloc(c->name_idx, n * sizeof(*p));
		if (!p)
			return -1;
		memset(p + c->name_cap, 0, (n - c->name_cap) * sizeof(*p));
		c->name_idx = p;
		c->name_cap = n;
	}
	if (!c->name_idx[id]) {
		uint32_t *p = realloc(c->names, (c->nnames + 1) * sizeof(*p));

		if (!p)
			return -1;
		c->names = p;
		c->names[c->nnames++] = id;
		c->name_idx[id] = (uint32_t)c->nnames;
	}
	*out = c->name_idx[id] - 1;
	return 0;
}

/* Decimated lane: per bin, dominant class letter and busy tenths digit. */
static void put_bins(FILE *out, const uint64_t *acc, uint64_t binw)
{
	fputs("\"bins\":\"", out);
	for (uint32_t b = 0; b < BINS; b++) {
		uint64_t tot = 0, best = 0;
		int bc = 0, tenth;

		for (int k = 0; k < 6; k++) {
			tot += acc[b * 6 + k];
			if (acc[b * 6 + k] > best) {
				best = acc[b * 6 + k];
				bc = k;
			}
		}
		if (!tot) {
			fputs("  ", out);
			continue;
		}
		tenth = (int)(tot * 10 / (binw ? binw : 1));
		if (tenth > 9)
			tenth = 9;
		fprintf(out, "%c%c", 'a' + bc, '0' + tenth);
	}
	fputc('"', out);
}

static void bin_add(uint64_t *acc, uint64_t s, uint64_t e, uint64_t span, int cls)
{
	while (s < e) {
		uint64_t b = (uint64_t)((unsigned __int128)s * BINS / span);
		uint64_t bend = (uint64_t)(((unsigned __int128)(b + 1) * span + BINS - 1) / BINS);
		uint64_t x = e < bend ? e : bend;

		if (x <= s)
			x = s + 1;
		acc[(b < BINS ? b : BINS - 1) * 6 + (unsigned)cls] += x - s;
		s = x;
	}
}

static int write_lanes(FILE *out, struct ctx *c, const tsm_critical_path *cp, int exact,
		       const char *file)
{
	const tsm_timeline *tl = c->tl;
	size_t nl, nops, nd;
	const tsm_tl_lane *lanes = tsm_timeline_lanes(tl, &nl);
	const tsm_tl_op *ops = tsm_timeline_ops(tl, &nops);
	const tsm_tl_device *devs = tsm_timeline_devices(tl, &nd);
	uint64_t *acc = calloc((size_t)BINS * 6, sizeof(*acc)), *ubins = NULL;
	uint64_t binw = (c->span + BINS - 1) / BINS;
	int first = 1;

	ubins = calloc(UTIL_BINS, sizeof(*ubins));
	if (!acc || !ubins) {
		free(acc);
		free(ubins);
		return -1;
	}
	fputs("{\"file\":", out);
	json_str(out, file);
	fprintf(out, ",\"span\":%" PRIu64 ",\"decimated\":%s,\"bin\":%" PRIu64 ",\"lanes\":[",
		c->span, exact ? "false" : "true", binw);
	for (size_t i = 0; i < nl; i++) {
		const tsm_tl_lane *l = &lanes[i];

		if (l->type != TSM_LANE_GPU)
			continue;
		fprintf(out, "%s\n{\"label\":\"gpu%u stream %u\",", first ? "" : ",", l->device,
			l->stream);
		first = 0;
		if (exact) {
			int f = 1;

			fputs("\"ops\":[", out);
			for (uint32_t j = 0; j < l->count; j++) {
				const tsm_tl_op *op = &ops[l->first + j];
				uint32_t ni;

				if (op->cls == TSM_OPC_SYNC &&
				    op->sub != TSM_SYNC_STREAM_WAIT_EVENT)
					continue;
				if (name_index(c, op->name, &ni) < 0)
					goto nomem;
				fprintf(out, "%s%" PRIu64 ",%" PRIu64 ",%u,%u", f ? "" : ",",
					op->start_ns - c->origin, op->end_ns - op->start_ns,
					op->cls, ni);
				f = 0;
			}
			fputc(']', out);
		} else {
			memset(acc, 0, (size_t)BINS * 6 * sizeof(*acc));
			for (uint32_t j = 0; j < l->count; j++) {
				const tsm_tl_op *op = &ops[l->first + j];

				if (op->cls == TSM_OPC_SYNC &&
				    op->sub != TSM_SYNC_STREAM_WAIT_EVENT)
					continue;
				bin_add(acc, op->start_ns - c->origin, op->end_ns - c->origin,
					c->span, op->cls);
			}
			put_bins(out, acc, binw);
		}
		fputc('}', out);
	}
	if (cp && cp->nsteps) {
		/* the critical path as a lane: own execution steps, coloured by class */
		fprintf(out, "%s\n{\"label\":\"critical path\",", first ? "" : ",");
		first = 0;
		if (exact && cp->nsteps <= 2 * EXACT_MAX) {
			int f = 1;

			fputs("\"ops\":[", out);
			for (size_t k = 0; k < cp->nsteps; k++) {
				const tsm_cp_step *s = &cp->steps[k];
				int cls = s->node < nops ? ops[s->node].cls : 5;
				uint32_t ni = 0;

				if (s->edge)
					continue;
				if (s->node < nops && name_index(c, ops[s->node].name, &ni) < 0)
					goto nomem;
				fprintf(out, "%s%" PRIu64 ",%" PRIu64 ",%d,%u", f ? "" : ",",
					s->start_ns - c->origin, s->end_ns - s->start_ns, cls,
					s->node < nops ? ni : 0);
				f = 0;
			}
			fputc(']', out);
		} else {
			memset(acc, 0, (size_t)BINS * 6 * sizeof(*acc));
			for (size_t k = 0; k < cp->nsteps; k++) {
				const tsm_cp_step *s = &cp->steps[k];

				if (!s->edge)
					bin_add(acc, s->start_ns - c->origin, s->end_ns - c->origin,
						c->span, s->node < nops ? ops[s->node].cls : 5);
			}
			put_bins(out, acc, binw);
		}
		fputc('}', out);
	}
	fputs("],\"util\":[", out);
	for (size_t d = 0; d < nd; d++) {
		uint64_t w = (c->span + UTIL_BINS - 1) / UTIL_BINS;

		if (tsm_timeline_busy_bins(tl, devs[d].device, c->origin, c->origin + c->span,
					   UTIL_BINS, ubins) < 0)
			goto nomem;
		fprintf(out, "%s{\"device\":%u,\"bins\":[", d ? "," : "", devs[d].device);
		for (uint32_t b = 0; b < UTIL_BINS; b++)
			fprintf(out, "%s%" PRIu64, b ? "," : "", w ? ubins[b] * 1000 / w : 0);
		fputs("]}", out);
	}
	fputs("],\"names\":[", out);
	free(acc);
	free(ubins);
	return 0;
nomem:
	free(acc);
	free(ubins);
	return -1;
}

int cmd_report(int argc, char **argv)
{
	struct cli_parser p;
	struct tl_load l = {0};
	tsm_analysis_opts ao = {0};
	tsm_report_opts ro = {TSM_REPORT_JSON, 0, 1, 0};
	tsm_analysis *a = NULL;
	struct ctx c = {0};
	const char *outpath = NULL, *file;
	unsigned flags = 0;
	uint64_t exact_max = EXACT_MAX, v;
	char *sbuf = NULL, *tbuf = NULL;
	size_t slen = 0, tlen = 0, nops;
	FILE *ms = NULL, *out = NULL;
	int rc;

	cli_parser_init(&p, &spec, argc, argv);
	while ((rc = cli_next(&p)) > 0) {
		if (rc == O_OUTPUT) {
			outpath = p.arg;
		} else if (rc == O_STRICT) {
			flags |= TSM_READ_STRICT;
		} else if (rc == O_EXACT) {
			if (cli_parse_uint(p.arg, 100000000, &v) < 0) {
				rc = cli_usage_error(spec.name, "bad count '%s'", p.arg);
				goto out;
			}
			exact_max = v;
		}
	}
	rc = cli_parse_end(&spec, rc);
	if (rc >= 0)
		goto out;
	if (!outpath) {
		rc = cli_usage_error(spec.name, "missing -o FILE");
		goto out;
	}
	file = p.pos[0];
	rc = tl_load(&l, file, flags);
	if (rc)
		goto out;
	ao.critical_path = 1;
	rc = tsm_analysis_create(l.tl, &ao, &a);
	if (rc < 0) {
		rc = cli_lib_error(file, rc);
		goto out;
	}
	c.tl = l.tl;
	c.origin = tsm_timeline_summary(l.tl)->first_ns;
	c.span = tsm_timeline_summary(l.tl)->last_ns - c.origin;
	if (!c.span)
		c.span = 1;
	tsm_timeline_ops(l.tl, &nops);
	/* statistics JSON */
	ms = open_memstream(&sbuf, &slen);
	if (!ms) {
		rc = cli_error(file, "out of memory");
		goto out;
	}
	rc = tsm_analysis_write(a, ms, &ro, tl_reader_name, l.r);
	fclose(ms);
	ms = NULL;
	if (rc < 0) {
		rc = cli_lib_error(file, rc);
		goto out;
	}
	/* timeline JSON */
	ms = open_memstream(&tbuf, &tlen);
	if (!ms || write_lanes(ms, &c, a->cp, nops <= exact_max, file) < 0) {
		rc = cli_error(file, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < c.nnames; i++) {
		const char *s = tsm_reader_string(l.r, c.names[i]);
		char buf[512];

		if (i)
			fputc(',', ms);
		json_str(ms, s ? tsm_demangle(s, buf, sizeof(buf)) : "");
	}
	fputs("]}", ms);
	fclose(ms);
	ms = NULL;
	out = strcmp(outpath, "-") ? fopen(outpath, "w") : stdout;
	if (!out) {
		rc = cli_error(outpath, "cannot create: %s", strerror(errno));
		goto out;
	}
	fputs(page_head, out);
	fputs(
	    "<header><h1>TraceSmith report</h1><div class=\"sub\" id=\"sub\"></div></header>\n"
	    "<div id=\"err\" style=\"display:none;color:#b00;margin:12px 18px\"></div>\n"
	    "<section><h2>Summary</h2><div class=\"kv\" id=\"summary\"></div></section>\n"
	    "<section><h2>GPU utilisation over time</h2><div id=\"util\"></div></section>\n"
	    "<section><h2>Timeline</h2><div class=\"legend\" id=\"legend\"></div>"
	    "<canvas id=\"tl\"></canvas><div class=\"sub\">wheel: zoom, drag: pan, "
	    "double-click: reset</div></section>\n"
	    "<section id=\"lat\"><h2>Launch latency (API call start to GPU start)</h2></section>\n"
	    "<div id=\"tables\"></div><div id=\"tip\"></div>\n",
	    out);
	put_json_block(out, "stats", sbuf, slen);
	put_json_block(out, "tl-data", tbuf, tlen);
	fputs(page_script, out);
	if (out == stdout) {
		rc = cli_out_finish();
	} else {
		/* a write that failed while the page was written left the stream's error flag,
		 * which fclose does not report when nothing was left to flush */
		int bad = fflush(out) != 0 || ferror(out), err = errno;

		if (fclose(out) != 0 && !bad) {
			bad = 1;
			err = errno;
		}
		rc = bad ? cli_error(outpath, "write failed: %s", strerror(err)) : EXIT_OK;
	}
	out = NULL;
out:
	if (ms)
		fclose(ms);
	if (out && out != stdout)
		fclose(out);
	free(sbuf);
	free(tbuf);
	free(c.name_idx);
	free(c.names);
	tsm_analysis_destroy(a);
	tl_unload(&l);
	cli_parser_fini(&p);
	return rc;
}
