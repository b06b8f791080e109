/* subst.h - ${name} template substitution with Terraform's $${X} escape. */
#ifndef KINDLING_SUBST_H
#define KINDLING_SUBST_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

/*
 * Template syntax, on raw bytes (NUL is an ordinary byte):
 *   ${name}  the value of variable name ([a-z_][a-z0-9_]*, at most SUBST_NAME_MAX)
 *   $${X}    a literal ${X} (only "$${" is an escape; "$$" alone stays "$$")
 *   $x       a '$' not followed by '{' stays as is
 * Expansion is not recursive: a value containing ${x} is copied literally.
 * A "${" without a "}" on the same line, or with anything but a variable name
 * inside, is an error.
 */

/* The longest variable name. */
#define SUBST_NAME_MAX 64

/* True when name[0..len) is a valid variable name. */
bool subst_name_valid(const char *name, size_t len);

/* Receives one ${name} reference: name is NUL-terminated, line counts from 1.
 * Any result but K_OK stops the scan and is returned by subst_scan. */
typedef enum kerr (*subst_ref_fn)(void *ctx, const char *name, unsigned line);

/*
 * Calls fn for every ${name} reference in tpl[0..len), in order (escapes are
 * not references). Returns K_OK; fn's first non-K_OK result; or K_EINVAL with
 * "FILE:LINE: ..." appended to errmsg (file is used only for that message)
 * for a malformed reference.
 */
enum kerr subst_scan(const char *tpl, size_t len, const char *file, subst_ref_fn fn, void *ctx,
                     struct buf *errmsg);

/* Looks a variable up: its value (borrowed, NUL-terminated), or NULL when the
 * template may not use that name. */
typedef const char *(*subst_lookup_fn)(void *ctx, const char *name);

/*
 * Appends the expansion of tpl[0..len) to out. Returns K_OK; K_EINVAL with
 * "FILE:LINE: ..." appended to errmsg for a malformed reference or a name
 * lookup does not know; K_ETOOBIG or K_ENOMEM when out cannot grow. On error
 * out holds a partial expansion.
 */
enum kerr subst_expand(const char *tpl, size_t len, const char *file, subst_lookup_fn lookup,
                       void *ctx, struct buf *out, struct buf *errmsg);

#endif
