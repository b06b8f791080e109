/* fields.h - what every layer says about input: field errors, cluster names. */
#ifndef KINDLING_FIELDS_H
#define KINDLING_FIELDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Appends {"field", "message"} to errors (a JSON array). */
void field_error(json_t *errors, const char *field, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* True for a cluster name: a DNS label [a-z0-9]([a-z0-9-]{0,61}[a-z0-9])? of n bytes. */
bool name_valid(const char *s, size_t n);

#endif
