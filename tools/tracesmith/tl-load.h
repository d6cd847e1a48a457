/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading a trace into a timeline for stats / timeline / report: open the
 * reader, optionally restrict reading to a time window, build and finish
 * the timeline with a progress bar, and warn about a recovered file.
 */
#ifndef TSM_CLI_TL_LOAD_H
#define TSM_CLI_TL_LOAD_H

#include "util.h"

struct tl_load {
	tsm_reader *r;
	tsm_timeline *tl;
};

/*
 * Load FILE. `flags` are reader flags. On failure the message has been
 * printed and EXIT_FAIL is returned; tl_unload must still be called.
 */
int tl_load(struct tl_load *l, const char *file, unsigned flags);
void tl_unload(struct tl_load *l);

/* tsm_name_fn over the reader (for the report writers). */
const char *tl_reader_name(void *user, uint32_t id);

#endif
