/* subst.h - ${name} template substitution with Terraform's $${X} escape, escaping each value
 * for the syntax it lands in. */
#ifndef KINDLING_SUBST_H
#define KINDLING_SUBST_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

/*
 * Template syntax, on raw bytes (NUL is an ordinary byte):
 *   ${name}         the value of variable name ([a-z_][a-z0-9_]*, at most
 *                   SUBST_NAME_MAX), escaped for the file's context
 *   ${name|filter}  the value through a filter (raw, sh, json), then escaped
 *                   for the file's context (raw: no escaping at all)
 *   $${X}           a literal ${X} (only "$${" is an escape; "$$" alone stays "$$")
 *   $x              a '$' not followed by '{' stays as is
 * Expansion is not recursive: a value containing ${x} is copied literally.
 * A "${" without a "}" on the same line, with anything but a variable name
 * inside, or with an unknown filter, is an error.
 */

/* The longest variable name. */
#define SUBST_NAME_MAX 64

/* What a reference asks for (the text after '|'). */
enum subst_filter {
	SUBST_FILTER_NONE, /* ${name}: the context's escaping */
	SUBST_FILTER_RAW,  /* ${name|raw}: the value as is, whatever the context */
	SUBST_FILTER_SH,   /* ${name|sh}: one POSIX shell word */
	SUBST_FILTER_JSON, /* ${name|json}: one JSON string, with its quotes */
};

/* The syntax of the whole file a template becomes: what parses it on the node. */
enum subst_context {
	SUBST_CTX_RAW,     /* a config file: values as they are (their rule protects it) */
	SUBST_CTX_SYSTEMD, /* a unit or drop-in: escaped per line, see subst_where */
	SUBST_CTX_SH,      /* a shell script: every value one shell word */
	SUBST_CTX_JSON,    /* a JSON document: every value one JSON string */
};

/* Where in a systemd file (SUBST_CTX_SYSTEMD) a reference sits. */
enum subst_where {
	SUBST_WHERE_TEXT,        /* not a systemd file */
	SUBST_WHERE_COMMAND,     /* an Exec*= command line */
	SUBST_WHERE_ENVIRONMENT, /* an Environment= line */
	SUBST_WHERE_SETTING,     /* any other line (also comments, section names, keys) */
};

/* One ${...} reference as the scanner found it. name is NUL-terminated;
 * line counts from 1. */
struct subst_ref {
	const char *name;
	enum subst_filter filter;
	enum subst_where where;
	unsigned line;
};

/* True when name[0..len) is a valid variable name. */
bool subst_name_valid(const char *name, size_t len);

/* The context named s ("raw", "systemd", "sh", "json"): true and *out, or false. */
bool subst_context_parse(const char *s, enum subst_context *out);

/* The names, for messages and descriptions. Static strings. */
const char *subst_context_name(enum subst_context cx);
const char *subst_filter_name(enum subst_filter f);

/*
 * Appends v[0..n) to out as it must be written: through filter f, then
 * escaped for context cx at where w (f == SUBST_FILTER_RAW: as is).
 *   sh:      as is when it is non-empty and only [A-Za-z0-9_@%+=:,./-],
 *            else in single quotes with each ' as '\''
 *   json:    a JSON string with its quotes ("\"", "\\", control characters as \u00XX)
 *   systemd, COMMAND: % as %%, $ as $$, \ ' " space ; and control characters as C
 *            escapes (\x5c \' \" \x20 \x3b \t \n \r \xHH): after systemd's
 *            unquoting, specifier and variable expansion the value is the
 *            same bytes, inside the word it was put in, inside or outside quotes
 *   systemd, ENVIRONMENT: the same without the $ rule (Environment= expands no variables)
 *   systemd, SETTING: % as %%; a value with a control character or ending in a
 *            backslash cannot be written there (it would end or continue the line)
 * Returns K_OK; K_EINVAL for a value that cannot be written there (out
 * unchanged); K_ETOOBIG or K_ENOMEM when out cannot grow (out may hold part).
 */
enum kerr subst_escape(const char *v, size_t n, enum subst_filter f, enum subst_context cx,
                       enum subst_where w, struct buf *out);

/* Receives one reference. Any result but K_OK stops the scan and is returned
 * by subst_scan. */
typedef enum kerr (*subst_ref_fn)(void *ctx, const struct subst_ref *ref);

/*
 * Calls fn for every reference in tpl[0..len), in order (escapes are not
 * references); cx decides each reference's where. Returns K_OK; fn's first
 * non-K_OK result; or K_EINVAL with "FILE:LINE: ..." appended to errmsg
 * (file is used only for that message) for a malformed reference.
 */
enum kerr subst_scan(const char *tpl, size_t len, const char *file, enum subst_context cx,
                     subst_ref_fn fn, void *ctx, struct buf *errmsg);

/* Looks a variable up: its value (borrowed, NUL-terminated), or NULL when the
 * template may not use that name. */
typedef const char *(*subst_lookup_fn)(void *ctx, const char *name);

/*
 * Appends the expansion of tpl[0..len), a file of context cx, to out, each
 * value written with subst_escape. Returns K_OK; K_EINVAL with "FILE:LINE:
 * ..." appended to errmsg for a malformed reference, a name lookup does not
 * know, or a value subst_escape cannot write where it is; K_ETOOBIG or
 * K_ENOMEM when out cannot grow. On error out holds a partial expansion.
 */
enum kerr subst_expand(const char *tpl, size_t len, const char *file, enum subst_context cx,
                       subst_lookup_fn lookup, void *ctx, struct buf *out, struct buf *errmsg);

#endif
