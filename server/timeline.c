/* timeline.c - the boot timeline as inline SVG (no script, no chart library):
 * a label column, one lane per node, marks placed on a shared time axis. */
#include "timeline.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define LABEL_W    180 /* the names' column */
#define PLOT_W     560
#define LANE_H     28
#define TOP        8
#define AXIS_H     30
#define NAME_SHOWN 28 /* characters of a name drawn (all of it in the <title>) */

/* HH:MM:SS UTC of ms. */
static void clock_text(int64_t ms, char out[16])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 16, "%H:%M:%S", &tm);
}

static void range(const struct timeline_lane *lanes, size_t n, int64_t *lo, int64_t *hi)
{
	*lo = 0;
	*hi = 0;
	for (size_t i = 0; i < n; i++) {
		const int64_t t[3] = {lanes[i].fetched, lanes[i].registered, lanes[i].reported};
		for (int k = 0; k < 3; k++) {
			if (!t[k])
				continue;
			if (!*lo || t[k] < *lo)
				*lo = t[k];
			if (t[k] > *hi)
				*hi = t[k];
		}
	}
}

/* x of time t on the axis [lo, lo+span]. */
static long x_of(int64_t t, int64_t lo, int64_t span)
{
	return LABEL_W + 10 + (long)((t - lo) * (PLOT_W - 20) / span);
}

/* One mark with its title ("NAME: WHAT at HH:MM:SS (+Ns)"). */
static void mark(struct html *h, const char *shape, long x, long y, const char *cls,
                 const char *name, const char *what, int64_t t, int64_t lo)
{
	char when[16];
	clock_text(t, when);
	long rel = (long)((t - lo) / 1000);
	if (!strcmp(shape, "circle"))
		html_addf(h, "<circle class=\"%s\" cx=\"%ld\" cy=\"%ld\" r=\"6\">", cls, x, y);
	else if (!strcmp(shape, "rect"))
		html_addf(h, "<rect class=\"%s\" x=\"%ld\" y=\"%ld\" width=\"11\" height=\"11\">",
		          cls, x - 5, y - 5);
	else
		html_addf(h, "<path class=\"%s\" d=\"M%ld %ldl7 12h-14z\">", cls, x, y - 7);
	html_addf(h, "<title>%s: %s at %s UTC (+%ld s)</title></%s>", name, what, when, rel, shape);
}

bool timeline_svg(struct html *h, const struct timeline_lane *lanes, size_t n)
{
	int64_t lo, hi;
	range(lanes, n, &lo, &hi);
	if (!lo)
		return false;
	int64_t span = hi - lo < 1000 ? 1000 : hi - lo;
	long height = TOP + (long)n * LANE_H + AXIS_H;
	long width = LABEL_W + PLOT_W;
	char from[16], to[16];
	clock_text(lo, from);
	clock_text(lo + span, to);
	html_addf(h,
	          "<svg class=\"timeline\" id=\"timeline-svg\" role=\"img\" "
	          "aria-labelledby=\"timeline-title timeline-desc\" viewBox=\"0 0 %ld %ld\" "
	          "width=\"%ld\" height=\"%ld\" xmlns=\"http://www.w3.org/2000/svg\">"
	          "<title id=\"timeline-title\">Boot timeline</title>"
	          "<desc id=\"timeline-desc\">%zu node(s) from %s to %s UTC: a circle marks "
	          "the config fetch, a square the discovery registration, a triangle the "
	          "boot report (red: with failed units).</desc>\n",
	          width, height, width, height, n, from, to);
	for (size_t i = 0; i < n; i++) {
		const struct timeline_lane *l = &lanes[i];
		long y = TOP + (long)i * LANE_H + LANE_H / 2;
		char shown[NAME_SHOWN * 4 + 4];
		size_t len = strlen(l->name);
		/* cut on a character boundary (names are UTF-8) */
		size_t cut = len;
		if (len > NAME_SHOWN) {
			cut = NAME_SHOWN;
			while (cut > 0 && ((unsigned char)l->name[cut] & 0xc0) == 0x80)
				cut--;
		}
		snprintf(shown, sizeof(shown), "%.*s%s", (int)cut, l->name, cut < len ? "…" : "");
		html_addf(h,
		          "<g class=\"lane\"><line class=\"lane-line\" x1=\"%d\" y1=\"%ld\" "
		          "x2=\"%ld\" y2=\"%ld\"/><text class=\"lane-name\" x=\"4\" y=\"%ld\">"
		          "<title>%s</title>%s</text>",
		          LABEL_W, y, width - 4, y, y + 4, l->name, shown);
		if (l->fetched)
			mark(h, "circle", x_of(l->fetched, lo, span), y, "mark-fetch", l->name,
			     "config fetched", l->fetched, lo);
		if (l->registered)
			mark(h, "rect", x_of(l->registered, lo, span), y, "mark-register", l->name,
			     "registered in discovery", l->registered, lo);
		if (l->reported)
			mark(h, "path", x_of(l->reported, lo, span), y,
			     l->failed ? "mark-failed" : "mark-healthy", l->name,
			     l->failed ? "reported failed units" : "reported healthy", l->reported,
			     lo);
		html_raw(h, "</g>\n");
	}
	long ay = TOP + (long)n * LANE_H + 6;
	html_addf(h,
	          "<line class=\"axis\" x1=\"%d\" y1=\"%ld\" x2=\"%ld\" y2=\"%ld\"/>"
	          "<text class=\"axis-label\" x=\"%d\" y=\"%ld\">%s</text>"
	          "<text class=\"axis-label\" x=\"%ld\" y=\"%ld\" text-anchor=\"end\">%s "
	          "(+%ld s)</text></svg>\n",
	          LABEL_W, ay, width - 4, ay, LABEL_W, ay + 16, from, width - 4, ay + 16, to,
	          (long)(span / 1000));
	return true;
}
