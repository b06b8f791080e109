/* digest.c - SHA-512 and base64 through nettle, so no hand-written crypto. */
#include "digest.h"

#include <nettle/base64.h>
#include <nettle/sha2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void digest_sha512_hex(const void *data, size_t len, char out[DIGEST_SHA512_HEX])
{
	static const char hex[] = "0123456789abcdef";
	struct sha512_ctx ctx;
	uint8_t d[SHA512_DIGEST_SIZE];
	sha512_init(&ctx);
	sha512_update(&ctx, len, data);
	sha512_digest(&ctx, sizeof(d), d);
	for (size_t i = 0; i < sizeof(d); i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[2 * sizeof(d)] = '\0';
}

char *digest_base64(const void *data, size_t len, size_t *out_len)
{
	size_t n = BASE64_ENCODE_RAW_LENGTH(len);
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	base64_encode_raw(out, len, data);
	out[n] = '\0';
	*out_len = n;
	return out;
}

char *digest_unbase64(const char *text, size_t *out_len)
{
	struct base64_decode_ctx ctx;
	size_t n = strlen(text);
	size_t cap = BASE64_DECODE_LENGTH(n);
	uint8_t *out = malloc(cap + 1);
	if (!out)
		return NULL;
	base64_decode_init(&ctx);
	size_t len = cap;
	if (!base64_decode_update(&ctx, &len, out, n, text) || !base64_decode_final(&ctx)) {
		free(out);
		return NULL;
	}
	out[len] = '\0';
	*out_len = len;
	return (char *)out;
}
