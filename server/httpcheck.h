/* httpcheck.h - pure checks of a request's framing and origin: Host names, Origin and
 * Sec-Fetch-Site, transfer codings, header sizes. No libmicrohttpd, no state. */
#ifndef KINDLING_HTTPCHECK_H
#define KINDLING_HTTPCHECK_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_HOST_MAX 255

/* A host and port: a Host header value or the authority of a URL. */
struct http_authority {
	char host[HTTP_HOST_MAX + 1]; /* lowercase; IPv6 without brackets; no final dot */
	int port;                     /* -1 when absent */
	bool ip;                      /* an IPv4 dotted quad or an IPv6 literal */
};

/*
 * Parses "host[:port]" or "[v6][:port]" of n bytes (RFC 9110 7.2; a name
 * is letters, digits and "-._~"). Returns false, *out unspecified, for
 * anything else: empty, too long, a bad port, userinfo, spaces.
 */
bool http_authority_parse(const char *s, size_t n, struct http_authority *out);

/*
 * True when a Host may be answered: an IP literal always (DNS rebinding
 * needs a name), a name when it is one of names[0..n-1] (lowercase, no
 * port; "*" allows every name). Ports are not compared.
 */
bool http_host_allowed(const struct http_authority *host, const char *const *names, size_t n);

/* An origin: scheme and authority with the scheme's default port filled in. */
struct http_origin {
	bool https;
	struct http_authority a;
};

/*
 * Parses the origin of "http[s]://authority[/...]" (an Origin header, a
 * Referer, --public-url). Returns false for other schemes, "null", userinfo
 * or a bad authority.
 */
bool http_origin_parse(const char *url, struct http_origin *out);

/* True when a and b are the same origin: scheme, host and port. */
bool http_origin_equal(const struct http_origin *a, const struct http_origin *b);

/* True for a Sec-Fetch-Site a state change may carry: absent (NULL, as from
 * curl), "same-origin" or "none" (typed by the user). */
bool http_fetch_site_ok(const char *value);

/* True when ct is a type an HTML form or a no-cors fetch on any site can send
 * without a CORS preflight: application/x-www-form-urlencoded,
 * multipart/form-data, text/plain (with any parameters). NULL is false. */
bool http_simple_content_type(const char *ct);

/* What the Transfer-Encoding fields of a request say of its body. */
enum http_te {
	HTTP_TE_NONE,    /* no Transfer-Encoding: Content-Length frames the body */
	HTTP_TE_CHUNKED, /* exactly "chunked", as libmicrohttpd decodes it */
	HTTP_TE_UNKNOWN, /* a coding other than chunked: 501 (RFC 9112 6.1) */
	HTTP_TE_BAD,     /* chunked twice, not last, or spelled so libmicrohttpd would not
	                    decode it: 400 */
};

/*
 * Judges the values of the n Transfer-Encoding fields of a request, in order
 * (each a comma-separated list). libmicrohttpd decodes a chunked body only
 * when the first field is exactly "chunked" and otherwise reads to the end
 * of the connection, so everything else that is not an unknown coding is
 * HTTP_TE_BAD.
 */
enum http_te http_transfer_coding(const char *const *values, size_t n);

#endif
