/* buf.h - a growable byte buffer with a hard maximum size (after curl's dynbuf). */
#ifndef KINDLING_BUF_H
#define KINDLING_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/*
 * A buf always holds a NUL-terminated string once anything was added; the
 * terminator is not counted in len. Growing past max fails with K_ETOOBIG
 * and leaves the buffer as it was. The struct is public so a buf can live on
 * the stack; touch the fields only through these functions.
 */
struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

/* Prepares an empty buffer that may grow to max bytes. Cannot fail. */
void buf_init(struct buf *b, size_t max);

/* Appends n bytes. Returns K_OK, K_ETOOBIG or K_ENOMEM (buffer unchanged). */
enum kerr buf_add(struct buf *b, const void *p, size_t n);

/* Appends a C string. Same contract as buf_add. */
enum kerr buf_addstr(struct buf *b, const char *s);

/* Appends printf-formatted text. Same contract as buf_add. */
enum kerr buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
enum kerr buf_vaddf(struct buf *b, const char *fmt, va_list ap)
        __attribute__((format(printf, 2, 0)));

/* The contents as a C string: "" when empty, never NULL. Borrowed. */
const char *buf_str(const struct buf *b);

/* Empties the buffer but keeps its memory. */
void buf_reset(struct buf *b);

/* Hands the memory to the caller (free() it; "" malloc'd when empty, NULL on
 * ENOMEM) and leaves b empty. */
char *buf_steal(struct buf *b, size_t *out_len);

/* Copies the C string src into dst of size bytes (size > 0), truncating,
 * always NUL-terminated; returns the length copied. src NULL copies "". */
size_t str_copy(char *dst, size_t size, const char *src);

/* A hash of the C string s for the in-memory tables (djb2). */
size_t str_hash(const char *s);

/* True when the presented secret given equals want, comparing in time that
 * depends only on want's length. An empty want matches nothing. */
bool str_equal_secret(const char *given, const char *want);

/* Makes the C string s valid UTF-8 in place, as jansson requires: a byte
 * that does not begin a well-formed, shortest-form, non-surrogate sequence
 * becomes '?'. For texts that quote client input. */
void buf_utf8_repair(char *s);

/* Releases the memory; b is empty and reusable afterwards. Accepts NULL. */
void buf_free(struct buf *b);

#endif
