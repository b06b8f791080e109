/* timeline.h - the boot timeline picture: one lane per node, a mark for its
 * config fetch, its discovery registration and its boot report, as inline
 * SVG written into a page. */
#ifndef KINDLING_TIMELINE_H
#define KINDLING_TIMELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "html.h"

/* One lane; name borrowed (untrusted text: escaped). Times in ms, 0: none. */
struct timeline_lane {
	const char *name;
	int64_t fetched, registered, reported;
	bool failed; /* the report lists failed units */
};

/*
 * Appends <svg> with the lanes to h: the time axis spans the earliest to
 * the latest mark (at least a second), each mark has a <title> saying what
 * and when, and the picture has a title and a description for screen
 * readers. Writes nothing (returns false) when no lane has a mark.
 */
bool timeline_svg(struct html *h, const struct timeline_lane *lanes, size_t n);

#endif
