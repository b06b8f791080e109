/* form.h - percent-decoding: form bodies (application/x-www-form-urlencoded) and URL paths. */
#ifndef KINDLING_FORM_H
#define KINDLING_FORM_H

#include <stdbool.h>
#include <stddef.h>

/* The value of one hex digit, or -1. */
int form_hexval(char c);

/*
 * Finds key in a form body and writes its decoded value ('+' is a space,
 * %XX a byte) with a NUL into out. Returns false, with out undefined, when
 * the key is absent, a %-escape is malformed or %00, the value holds a
 * control character, or it does not fit in outlen - 1 bytes. A pure
 * function of its input (a fuzz target).
 */
bool form_get(const char *body, size_t len, const char *key, char *out, size_t outlen);

#endif
