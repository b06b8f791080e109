/* form.c - percent-decoding of form bodies, shared by discovery and the pages. */
#include "form.h"

#include <string.h>

int form_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes [v, stop) into out; see form_get. */
static bool decode(const char *v, const char *stop, char *out, size_t outlen)
{
	size_t o = 0;
	for (; v < stop; v++) {
		int c = (unsigned char)*v;
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi = stop - v > 2 ? form_hexval(v[1]) : -1;
			int lo = hi >= 0 ? form_hexval(v[2]) : -1;
			if (lo < 0)
				return false;
			c = hi * 16 + lo;
			v += 2;
		}
		if (c < 0x20 || c == 0x7f || o + 1 >= outlen)
			return false;
		out[o++] = (char)c;
	}
	if (outlen == 0)
		return false;
	out[o] = '\0';
	return true;
}

bool form_get(const char *body, size_t len, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key);
	const char *p = body, *end = body + len;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		if ((size_t)(stop - p) > klen && !memcmp(p, key, klen) && p[klen] == '=')
			return decode(p + klen + 1, stop, out, outlen);
		p = stop + 1;
	}
	return false;
}
