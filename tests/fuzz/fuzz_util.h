/* fuzz_util.h - checks shared by the fuzz targets: an independent UTF-8
 * validator (a reference, deliberately not server/buf.c's code). */
#ifndef KINDLING_FUZZ_UTIL_H
#define KINDLING_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>

/* True when s is well-formed UTF-8: shortest forms, no surrogates, <= U+10FFFF. */
static bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		size_t k;
		unsigned cp;
		if (*p < 0x80) {
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf) {
			k = 1;
			cp = *p & 0x1f;
		} else if (*p >= 0xe0 && *p <= 0xef) {
			k = 2;
			cp = *p & 0x0f;
		} else if (*p >= 0xf0 && *p <= 0xf4) {
			k = 3;
			cp = *p & 0x07;
		} else {
			return false;
		}
		for (size_t j = 1; j <= k; j++) {
			if ((p[j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += k + 1;
	}
	return true;
}

#endif
