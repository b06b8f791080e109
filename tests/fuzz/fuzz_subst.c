/* fuzz_subst.c - libFuzzer target: ${name} template substitution (subst.h).
 *
 * The input is a template (of context raw: ${name|sh} and ${name|json} are
 * the only escaping). subst_scan and subst_expand run on it and are
 * compared with a reference expander written from the grammar in subst.h:
 * same result, same output bytes, same references in the same order, the
 * same line in error messages; a bounded output buffer fails with K_ETOOBIG
 * holding a prefix of the full expansion. The first input byte picks the
 * variable values (some contain "${", "$${" or NUL-free binary bytes, to
 * check that expansion is not recursive) and whether some names are unknown.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "subst.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_IN  (64 * 1024)
#define FUZZ_MAX_OUT (1024 * 1024)

/* ---- the reference: the grammar of subst.h, byte by byte ---- */

static int ref_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > SUBST_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || c == '_' || (i > 0 && c >= '0' && c <= '9')))
			return 0;
	}
	return 1;
}

struct vars {
	unsigned mode;
	unsigned lookups;
	char names[256][SUBST_NAME_MAX + 1]; /* names seen, in order (first 256) */
	unsigned nnames;
};

/* The value of a variable; NULL for "unknown" names in some modes. */
static const char *value_of(const struct vars *v, const char *name)
{
	static const char *const values[] = {
	        "",         "x",        "${a}",
	        "$${b}",    "$",        "${",
	        "}\n${zz}", "\xff\xfe", "long value with spaces and $ signs $$ $${ ${",
	};
	size_t n = strlen(name);
	if ((v->mode & 0x10) && (n % 3 == 0))
		return NULL; /* unknown */
	return values[(n + (v->mode & 7)) % (sizeof(values) / sizeof(values[0]))];
}

static const char *lookup(void *ctx, const char *name)
{
	struct vars *v = ctx;
	if (v->nnames < 256)
		snprintf(v->names[v->nnames++], SUBST_NAME_MAX + 1, "%s", name);
	v->lookups++;
	return value_of(v, name);
}

struct scan_rec {
	unsigned n;
	char names[256][SUBST_NAME_MAX + 1];
	unsigned lines[256];
	unsigned stop_at; /* return K_ETOOBIG at this reference (0: never) */
};

static enum kerr on_ref(void *ctx, const struct subst_ref *ref)
{
	struct scan_rec *s = ctx;
	if (!ref_name_ok(ref->name, strlen(ref->name)) || ref->where != SUBST_WHERE_TEXT)
		abort(); /* subst_scan handed out an invalid name */
	if (s->n < 256) {
		snprintf(s->names[s->n], SUBST_NAME_MAX + 1, "%s", ref->name);
		s->lines[s->n] = ref->line;
	}
	s->n++;
	if (s->stop_at && s->n == s->stop_at)
		return K_ETOOBIG;
	return K_OK;
}

/* The filter named t[0..n): 0 none (n == 0), 1 raw, 2 sh, 3 json, -1 unknown. */
static int ref_filter(const char *t, size_t n)
{
	static const char *const names[] = {"raw", "sh", "json"};
	for (int i = 0; i < 3; i++)
		if (strlen(names[i]) == n && memcmp(t, names[i], n) == 0)
			return i + 1;
	return -1;
}

/* The value written as filter f says (subst.h): sh quotes unless every byte is
 * [A-Za-z0-9_@%+=:,./-]; json is a quoted JSON string. */
static void ref_escape(struct buf *out, const char *v, int f)
{
	size_t n = strlen(v);
	int safe = n > 0;
	if (f == 2) {
		for (size_t i = 0; i < n; i++)
			if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			            "_@%+=:,./-",
			            v[i]))
				safe = 0;
		if (safe) {
			buf_addstr(out, v);
			return;
		}
		buf_add(out, "'", 1);
		for (size_t i = 0; i < n; i++)
			buf_addstr(out, v[i] == '\'' ? "'\\''" : (char[]){v[i], 0});
		buf_add(out, "'", 1);
		return;
	}
	if (f == 3) {
		buf_add(out, "\"", 1);
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)v[i];
			if (c == '"' || c == '\\')
				buf_addf(out, "\\%c", c);
			else if (c == '\n')
				buf_addstr(out, "\\n");
			else if (c == '\t')
				buf_addstr(out, "\\t");
			else if (c == '\r')
				buf_addstr(out, "\\r");
			else if (c < 0x20 || c == 0x7f)
				buf_addf(out, "\\u%04x", c);
			else
				buf_add(out, &v[i], 1);
		}
		buf_add(out, "\"", 1);
		return;
	}
	buf_addstr(out, v);
}

/* Expands like subst_expand should; returns 0 ok, 1 syntax error, 2 unknown
 * name; *err_line is the line of the error. Counts references in *nrefs. */
static int ref_expand(const char *t, size_t n, const struct vars *v, struct buf *out,
                      unsigned *err_line, unsigned *nrefs, unsigned lines[256],
                      char names[256][SUBST_NAME_MAX + 1])
{
	unsigned line = 1;
	size_t i = 0;
	*nrefs = 0;
	while (i < n) {
		if (t[i] == '$' && i + 2 < n && t[i + 1] == '$' && t[i + 2] == '{') {
			buf_add(out, "${", 2);
			i += 3;
			continue;
		}
		if (t[i] == '$' && i + 1 < n && t[i + 1] == '{') {
			size_t j = i + 2;
			while (j < n && t[j] != '}' && t[j] != '\n')
				j++;
			const char *bar = j < n ? memchr(t + i + 2, '|', j - i - 2) : NULL;
			size_t name_len = bar ? (size_t)(bar - (t + i + 2)) : j - i - 2;
			int f = bar ? ref_filter(bar + 1, (size_t)(t + j - bar - 1)) : 0;
			if (j >= n || t[j] != '}' || !ref_name_ok(t + i + 2, name_len) || f < 0) {
				*err_line = line;
				return 1;
			}
			char name[SUBST_NAME_MAX + 1];
			memcpy(name, t + i + 2, name_len);
			name[name_len] = '\0';
			if (*nrefs < 256) {
				lines[*nrefs] = line;
				memcpy(names[*nrefs], name, sizeof(name));
			}
			(*nrefs)++;
			const char *val = value_of(v, name);
			if (!val) {
				*err_line = line;
				return 2;
			}
			ref_escape(out, val, f);
			i = j + 1;
			continue;
		}
		if (t[i] == '\n')
			line++;
		buf_add(out, &t[i], 1);
		i++;
	}
	return 0;
}

/* The line number in "fuzz.tpl:LINE: ..." */
static unsigned msg_line(const struct buf *m)
{
	const char *s = buf_str(m);
	if (strncmp(s, "fuzz.tpl:", 9) != 0)
		abort(); /* the message must name the file */
	return (unsigned)strtoul(s + 9, NULL, 10);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > FUZZ_MAX_IN)
		return 0;
	struct vars *v = calloc(1, sizeof(*v));
	struct scan_rec *sr = calloc(1, sizeof(*sr));
	char(*ref_names)[SUBST_NAME_MAX + 1] = calloc(256, SUBST_NAME_MAX + 1);
	unsigned *ref_lines = calloc(256, sizeof(unsigned));
	v->mode = data[0];
	const char *tpl = (const char *)data + 1;
	size_t n = size - 1;

	struct buf ref, out, err, out_small, err_small;
	buf_init(&ref, FUZZ_MAX_OUT);
	buf_init(&out, FUZZ_MAX_OUT);
	buf_init(&err, 4096);
	unsigned ref_line = 0, ref_nrefs = 0;
	int want = ref_expand(tpl, n, v, &ref, &ref_line, &ref_nrefs, ref_lines, ref_names);

	enum kerr e = subst_expand(tpl, n, "fuzz.tpl", SUBST_CTX_RAW, lookup, v, &out, &err);
	if (want == 0) {
		if (e != K_OK || out.len != ref.len ||
		    memcmp(buf_str(&out), buf_str(&ref), ref.len))
			abort(); /* differs from the reference expansion */
		if (v->lookups != ref_nrefs)
			abort();
		if (err.len)
			abort(); /* a message without an error */
	} else {
		if (e != K_EINVAL)
			abort();
		if (msg_line(&err) != ref_line)
			abort(); /* the message names the wrong line */
		/* On error out holds a partial expansion: a prefix of the reference's. */
		if (out.len > ref.len || memcmp(buf_str(&out), buf_str(&ref), out.len))
			abort();
	}
	for (unsigned i = 0; i < v->nnames && i < ref_nrefs && i < 256; i++)
		if (strcmp(v->names[i], ref_names[i]))
			abort(); /* lookups in another order */
	/* The message is one printable line (values are never quoted in it). */
	for (size_t i = 0; i < err.len; i++)
		if ((unsigned char)buf_str(&err)[i] < 0x20 ||
		    (unsigned char)buf_str(&err)[i] == 0x7f)
			abort();

	/* subst_scan: the references and the syntax verdict of the whole
	 * template (the reference again, with every name known). */
	struct vars *vall = calloc(1, sizeof(*vall));
	vall->mode = v->mode & ~0x10u;
	struct buf refall;
	buf_init(&refall, FUZZ_MAX_OUT);
	unsigned all_line = 0, all_nrefs = 0;
	int want_all =
	        ref_expand(tpl, n, vall, &refall, &all_line, &all_nrefs, ref_lines, ref_names);
	buf_free(&refall);
	free(vall);
	struct buf serr;
	buf_init(&serr, 4096);
	e = subst_scan(tpl, n, "fuzz.tpl", SUBST_CTX_RAW, on_ref, sr, &serr);
	if (want_all == 1) {
		if (e != K_EINVAL || msg_line(&serr) != all_line)
			abort();
	} else {
		if (e != K_OK || sr->n != all_nrefs)
			abort();
		for (unsigned i = 0; i < sr->n && i < 256; i++)
			if (strcmp(sr->names[i], ref_names[i]) || sr->lines[i] != ref_lines[i])
				abort();
	}
	/* A callback error stops the scan and is returned as is. */
	if (all_nrefs > 1 && want_all != 1) {
		memset(sr, 0, sizeof(*sr));
		sr->stop_at = 1 + (data[0] % all_nrefs);
		if (subst_scan(tpl, n, "fuzz.tpl", SUBST_CTX_RAW, on_ref, sr, NULL) != K_ETOOBIG ||
		    sr->n != sr->stop_at)
			abort();
	}
	/* Without an errmsg buffer the verdict is the same. */
	struct vars v2 = {.mode = v->mode};
	struct buf out2;
	buf_init(&out2, FUZZ_MAX_OUT);
	enum kerr e2 = subst_expand(tpl, n, "fuzz.tpl", SUBST_CTX_RAW, lookup, &v2, &out2, NULL);
	if ((e2 == K_OK) != (want == 0))
		abort();

	/* A bounded output: K_ETOOBIG exactly when the expansion does not fit. */
	if (want == 0) {
		size_t max = ref.len ? (size_t)(data[0] * 7u) % (ref.len + 1) : 0;
		struct vars v3 = {.mode = v->mode};
		buf_init(&out_small, max);
		buf_init(&err_small, 4096);
		e = subst_expand(tpl, n, "fuzz.tpl", SUBST_CTX_RAW, lookup, &v3, &out_small,
		                 &err_small);
		/* a buf holds at most max bytes (plus its NUL) */
		if (ref.len <= max) {
			if (e != K_OK || out_small.len != ref.len ||
			    memcmp(buf_str(&out_small), buf_str(&ref), ref.len))
				abort();
		} else {
			if (e != K_ETOOBIG)
				abort();
			if (out_small.len > ref.len ||
			    memcmp(buf_str(&out_small), buf_str(&ref), out_small.len))
				abort();
		}
		buf_free(&out_small);
		buf_free(&err_small);
	}

	buf_free(&out2);
	buf_free(&serr);
	buf_free(&ref);
	buf_free(&out);
	buf_free(&err);
	free(ref_lines);
	free(ref_names);
	free(sr);
	free(v);
	return 0;
}
