/* digest.h - SHA-512 and base64 (nettle): config hashes, ETags, base64 user data. */
#ifndef KINDLING_DIGEST_H
#define KINDLING_DIGEST_H

#include <stddef.h>

#define DIGEST_SHA512_HEX 129 /* 128 hex digits and a NUL */

/* Writes the lowercase hex SHA-512 of data. Cannot fail. */
void digest_sha512_hex(const void *data, size_t len, char out[DIGEST_SHA512_HEX]);

/* Returns malloc'd standard base64 (with padding, NUL-terminated) of data,
 * length in *out_len; NULL on ENOMEM. */
char *digest_base64(const void *data, size_t len, size_t *out_len);

/* Returns the malloc'd bytes (NUL-terminated) of standard base64 text, their
 * length in *out_len; NULL when the text is not base64, or on ENOMEM. */
char *digest_unbase64(const char *text, size_t *out_len);

#endif
