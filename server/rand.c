/* rand.c - secrets and identifiers from getrandom(2). */
#include "rand.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/random.h>

static enum kerr fill(void *p, size_t n)
{
	uint8_t *b = p;
	while (n > 0) {
		ssize_t r = getrandom(b, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return K_EIO;
		}
		b += r;
		n -= (size_t)r;
	}
	return K_OK;
}

enum kerr rand_hex(char *out, size_t nbytes)
{
	static const char digits[] = "0123456789abcdef";
	uint8_t raw[64];
	out[0] = '\0';
	if (nbytes > sizeof(raw) || fill(raw, nbytes) != K_OK)
		return K_EIO;
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = digits[raw[i] >> 4];
		out[2 * i + 1] = digits[raw[i] & 15];
	}
	out[2 * nbytes] = '\0';
	return K_OK;
}

enum kerr rand_uuid(char out[37])
{
	uint8_t b[16];
	out[0] = '\0';
	if (fill(b, sizeof(b)) != K_OK)
		return K_EIO;
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
	         b[13], b[14], b[15]);
	return K_OK;
}

enum kerr rand_alnum(char *out, size_t n)
{
	static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	out[0] = '\0';
	size_t i = 0;
	while (i < n) {
		uint8_t raw[64];
		if (fill(raw, sizeof(raw)) != K_OK)
			return K_EIO;
		for (size_t j = 0; j < sizeof(raw) && i < n; j++)
			if (raw[j] < 248) /* 248 = 4 * 62: no modulo bias */
				out[i++] = set[raw[j] % 62];
	}
	out[n] = '\0';
	return K_OK;
}
