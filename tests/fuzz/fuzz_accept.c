/* fuzz_accept.c - libFuzzer target: Ignition version negotiation (render_negotiate).
 *
 * Two modes, picked by the first input byte:
 *  - raw (even): the rest is an Accept header (and, after a NUL, a ?version=
 *    value and a cluster default). Checks: the answer is one of
 *    render_versions; ?version= wins; no Accept means the default; putting
 *    a wildcard range first never yields 406; the call is deterministic.
 *  - model (odd): the rest builds a header from media ranges (type,
 *    version=, q=, odd spacing and case), and the answer is compared with a
 *    model of the documented rule: among application/vnd.coreos.ignition+json
 *    ranges with a version and q > 0, the highest q wins, then the highest
 *    supported version not above the client's with the same major (a
 *    "-pre" version is below its release); none acceptable and some such
 *    range listed -> 406 unless a wildcard, application/json or a
 *    versionless Ignition range (q > 0) allows the cluster default.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "render.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int known(const char *v)
{
	for (const char *const *p = render_versions; *p; p++)
		if (!strcmp(*p, v))
			return 1;
	return 0;
}

static void raw_mode(const uint8_t *data, size_t size)
{
	/* accept \0 query \0 default */
	char *copy = malloc(size + 3);
	memcpy(copy, data, size);
	copy[size] = copy[size + 1] = copy[size + 2] = '\0';
	const char *accept = copy;
	const char *query = accept + strlen(accept) + 1;
	const char *dflt = query + strlen(query) + 1;
	int has_query = (size_t)(query - copy) < size;
	if (!has_query)
		query = NULL;
	if (*dflt == '\0')
		dflt = "3.3.0";

	const char *v = NULL, *v2 = NULL;
	enum kerr e = render_negotiate(query, accept, dflt, &v);
	enum kerr e2 = render_negotiate(query, accept, dflt, &v2);
	if (e != e2 || (e == K_OK && strcmp(v, v2)))
		abort(); /* not deterministic */
	if (e != K_OK && e != K_ENOTACCEPT)
		abort();
	if (e == K_OK && (!v || !known(v)))
		abort(); /* answered a version kindling cannot render */
	if (query) {
		/* ?version= wins: a known version gets itself; another one the
		 * newest known version not above it of the same major, or 406 */
		if (known(query) && (e != K_OK || strcmp(v, query)))
			abort();
		if (!known(query) && e == K_OK && strtol(query, NULL, 10) != strtol(v, NULL, 10))
			abort();
		goto out;
	}
	/* no Accept: the default (or the fallback for an unknown default) */
	e2 = render_negotiate(NULL, NULL, dflt, &v2);
	if (e2 != K_OK || (known(dflt) && strcmp(v2, dflt)) || (!known(dflt) && !known(v2)))
		abort();
	/* a leading wildcard allows the default: never 406 */
	size_t n = strlen(accept);
	char *wild = malloc(n + 8);
	memcpy(wild, "*/*, ", 5);
	memcpy(wild + 5, accept, n + 1);
	e2 = render_negotiate(NULL, wild, dflt, &v2);
	free(wild);
	if (e2 != K_OK)
		abort();
	/* 406 only when the header names the Ignition type at all */
	if (e == K_ENOTACCEPT && !strcasestr(accept, "vnd.coreos.ignition+json"))
		abort();
out:
	free(copy);
}

/* ---- the model ---- */

struct ver {
	int major, minor, patch, pre;
};

static const struct {
	int major, minor;
} supported[] = {{3, 6}, {3, 5}, {3, 4}, {3, 3}, {3, 2}, {3, 1}, {3, 0}, {2, 3}, {2, 2}, {2, 1}};
#define NSUPPORTED (int)(sizeof(supported) / sizeof(supported[0]))

/* index into supported (0 = highest), or -1 */
static int model_best(const struct ver *c)
{
	for (int i = 0; i < NSUPPORTED; i++) {
		if (supported[i].major != c->major)
			continue;
		long s = supported[i].minor * 1000L, v = c->minor * 1000L + c->patch;
		if (s < v || (s == v && !c->pre))
			return i;
	}
	return -1;
}

struct reader {
	const uint8_t *p;
	size_t n;
};

static unsigned next(struct reader *r)
{
	if (!r->n)
		return 0;
	r->n--;
	return *r->p++;
}

static void model_mode(const uint8_t *data, size_t size)
{
	static const char *const types[] = {"application/vnd.coreos.ignition+json",
	                                    "APPLICATION/VND.COREOS.IGNITION+JSON",
	                                    "*/*",
	                                    "application/*",
	                                    "application/json",
	                                    "text/html",
	                                    "application/xml",
	                                    "application/vnd.coreos.ignition+jsonx",
	                                    "image/*"};
	static const struct {
		const char *text;
		int q; /* thousandths; -1 malformed (the range is ignored) */
	} qs[] = {{NULL, 1000},   {"1", 1000},     {"0", 0},        {"0.5", 500},
	          {"0.001", 1},   {"1.000", 1000}, {"0.999", 999},  {"2", -1},
	          {"0.1234", -1}, {"x", -1},       {"\"0.3\"", 300}};
	struct reader r = {data, size};
	struct buf h;
	buf_init(&h, 1 << 16);
	int nranges = (int)(next(&r) % 12);
	int best = -1, best_q = -1, listed = 0, default_ok = 0;
	const char *dflt = (next(&r) & 1) ? "3.3.0" : "2.2.0";

	for (int i = 0; i < nranges; i++) {
		unsigned t = next(&r) % 9, flags = next(&r), qi = next(&r) % 11;
		struct ver c = {(int)(next(&r) % 5), (int)(next(&r) % 6), (int)(next(&r) % 3),
		                (int)(flags >> 7)};
		int has_ver = (flags & 1) != 0;
		int ver_parts = 1 + (int)((flags >> 1) % 3); /* "3", "3.2", "3.2.1" */
		const char *sp = (flags & 8) ? " " : "";
		if (i)
			buf_addstr(&h, (flags & 16) ? " ,\t" : ",");
		buf_addstr(&h, types[t]);
		/* the order of parameters: version then q, or q then version */
		int q_first = (flags & 32) != 0;
		char vtext[64];
		if (ver_parts == 1) {
			c.minor = 0;
			c.patch = 0;
			snprintf(vtext, sizeof(vtext), "%d", c.major);
		} else if (ver_parts == 2) {
			c.patch = 0;
			snprintf(vtext, sizeof(vtext), "%d.%d", c.major, c.minor);
		} else {
			snprintf(vtext, sizeof(vtext), "%d.%d.%d", c.major, c.minor, c.patch);
		}
		if (c.pre)
			strcat(vtext, "-rc.1");
		for (int k = 0; k < 2; k++) {
			if ((k == 0) == q_first) {
				if (qs[qi].text)
					buf_addf(&h, "%s;%sq=%s", sp, sp, qs[qi].text);
			} else if (has_ver) {
				buf_addf(&h, ";%sversion=%s%s%s", sp, (flags & 64) ? "\"" : "",
				         vtext, (flags & 64) ? "\"" : "");
			}
		}
		int q = qs[qi].q;
		if (q <= 0)
			continue; /* ignored: malformed or q=0 */
		int is_ign = t <= 1;
		int is_wild = t >= 2 && t <= 4;
		if (is_wild || (is_ign && !has_ver)) {
			default_ok = 1;
			continue;
		}
		if (!is_ign)
			continue;
		listed = 1;
		int b = model_best(&c);
		if (b < 0)
			continue;
		if (best < 0 || q > best_q || (q == best_q && b < best)) {
			best = b;
			best_q = q;
		}
	}

	const char *v = NULL;
	enum kerr e = render_negotiate(NULL, buf_str(&h), dflt, &v);
	if (best >= 0) {
		char want[16];
		snprintf(want, sizeof(want), "%d.%d.0", supported[best].major,
		         supported[best].minor);
		if (e != K_OK || strcmp(v, want)) {
			fprintf(stderr, "Accept: %s\nwant %s, got %s\n", buf_str(&h), want,
			        e == K_OK ? v : "406");
			abort();
		}
	} else if (listed && !default_ok) {
		if (e != K_ENOTACCEPT) {
			fprintf(stderr, "Accept: %s\nwant 406, got %s\n", buf_str(&h), v);
			abort();
		}
	} else if (e != K_OK || strcmp(v, dflt)) {
		fprintf(stderr, "Accept: %s\nwant default %s, got %s\n", buf_str(&h), dflt,
		        e == K_OK ? v : "406");
		abort();
	}
	buf_free(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 16384)
		return 0;
	if (data[0] & 1)
		model_mode(data + 1, size - 1);
	else
		raw_mode(data + 1, size - 1);
	return 0;
}
