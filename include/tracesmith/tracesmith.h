/* SPDX-License-Identifier: Apache-2.0 */
/* tracesmith/tracesmith.h - the umbrella header: the whole public API. */
#ifndef TRACESMITH_TRACESMITH_H
#define TRACESMITH_TRACESMITH_H

#include "common.h"
#include "event.h"
#include "intern.h"
#include "format.h"
#include "ring.h"
#include "capture.h"
#include "export.h"
#include "import.h"
#include "timeline.h"
#include "analysis.h"

#endif
