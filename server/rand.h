/* rand.h - secrets and identifiers from the kernel's random source. */
#ifndef KINDLING_RAND_H
#define KINDLING_RAND_H

#include <stddef.h>

#include "err.h"

/* Fills out with nbytes random bytes written as 2*nbytes lowercase hex digits
 * plus a NUL (out must hold 2*nbytes+1). Returns K_OK or K_EIO (out = ""). */
enum kerr rand_hex(char *out, size_t nbytes);

/* Writes a random RFC 4122 version-4 UUID (37 bytes with the NUL). */
enum kerr rand_uuid(char out[37]);

/* Fills out with n random characters from [A-Za-z0-9] plus a NUL: a secret
 * that is safe to paste into any config file format. */
enum kerr rand_alnum(char *out, size_t n);

#endif
