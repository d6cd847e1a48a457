/* SPDX-License-Identifier: Apache-2.0 */
/* The loader shared by stats, timeline and report (see tl-load.h). */
#include <string.h>
#include <sys/stat.h>

#include "tl-load.h"

const char *tl_reader_name(void *user, uint32_t id)
{
	return tsm_reader_string(user, id);
}

int tl_load(struct tl_load *l, const char *file, unsigned flags)
{
	struct cli_progress pr;
	const tsm_trace_info *ti;
	const tsm_event *ev;
	struct stat st;
	uint64_t n = 0;
	int rc;

	memset(l, 0, sizeof(*l));
	tsm_clear_error();
	rc = tsm_reader_open(file, flags, &l->r);
	if (rc < 0)
		return cli_lib_error(file, rc);
	rc = tsm_timeline_create(tl_reader_name, l->r, &l->tl);
	if (rc < 0)
		return cli_lib_error(file, rc);
	ti = tsm_reader_info(l->r);
	progress_init(&pr, "reading",
		      strcmp(file, "-") && stat(file, &st) == 0 ? (uint64_t)st.st_size : 0);
	while ((rc = tsm_reader_next(l->r, &ev)) == 0) {
		rc = tsm_timeline_add(l->tl, ev);
		if (rc < 0) {
			progress_done(&pr);
			return cli_lib_error(file, rc);
		}
		if (pr.enabled && !(++n & 0xffff))
			progress_update(&pr, ti->file_bytes, NULL);
	}
	progress_done(&pr);
	if (rc < 0)
		return cli_lib_error(file, rc);
	if (ti->recovered)
		cli_warn(file, "file was not closed cleanly; discarded %llu bytes at the end",
			 (unsigned long long)ti->discarded_bytes);
	rc = tsm_timeline_finish(l->tl);
	if (rc < 0)
		return cli_lib_error(file, rc);
	return EXIT_OK;
}

void tl_unload(struct tl_load *l)
{
	tsm_timeline_destroy(l->tl);
	tsm_reader_close(l->r);
	memset(l, 0, sizeof(*l));
}
