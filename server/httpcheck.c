/* httpcheck.c - pure checks of a request's framing and origin (see httpcheck.h). */
#include "httpcheck.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* Parses an optional ":digits" port from s[0..n); -1 when there is none. */
static bool parse_port(const char *s, size_t n, int *out)
{
	*out = -1;
	if (n == 0)
		return true;
	if (s[0] != ':' || n > 6)
		return false;
	if (n == 1) /* "host:" - an empty port is allowed by RFC 3986 */
		return true;
	int v = 0;
	for (size_t i = 1; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v > 65535)
		return false;
	*out = v;
	return true;
}

bool http_authority_parse(const char *s, size_t n, struct http_authority *out)
{
	memset(out, 0, sizeof(*out));
	out->port = -1;
	if (n == 0)
		return false;
	size_t hl;
	const char *rest;
	if (s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close)
			return false;
		hl = (size_t)(close - s - 1);
		if (hl == 0 || hl >= sizeof(out->host))
			return false;
		memcpy(out->host, s + 1, hl);
		out->host[hl] = '\0';
		struct in6_addr a6;
		if (inet_pton(AF_INET6, out->host, &a6) != 1)
			return false;
		out->ip = true;
		rest = close + 1;
	} else {
		const char *colon = memchr(s, ':', n);
		hl = colon ? (size_t)(colon - s) : n;
		if (hl == 0 || hl >= sizeof(out->host))
			return false;
		for (size_t i = 0; i < hl; i++) {
			if (!is_name_char(s[i]))
				return false;
			out->host[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
		}
		out->host[hl] = '\0';
		rest = s + hl;
		struct in_addr a4;
		out->ip = inet_pton(AF_INET, out->host, &a4) == 1;
		size_t len = strlen(out->host);
		if (!out->ip && len > 1 && out->host[len - 1] == '.')
			out->host[len - 1] = '\0'; /* "localhost." is "localhost" */
		if (out->host[0] == '.' || strstr(out->host, ".."))
			return false;
	}
	return parse_port(rest, (size_t)(s + n - rest), &out->port);
}

bool http_host_allowed(const struct http_authority *host, const char *const *names, size_t n)
{
	if (host->ip)
		return true;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(names[i], "*") || !strcasecmp(names[i], host->host))
			return true;
	return false;
}

bool http_origin_parse(const char *url, struct http_origin *out)
{
	memset(out, 0, sizeof(*out));
	size_t skip;
	if (!url)
		return false;
	if (!strncasecmp(url, "http://", 7)) {
		skip = 7;
	} else if (!strncasecmp(url, "https://", 8)) {
		out->https = true;
		skip = 8;
	} else {
		return false;
	}
	const char *a = url + skip;
	size_t n = strcspn(a, "/?#");
	if (!http_authority_parse(a, n, &out->a))
		return false;
	if (out->a.port < 0)
		out->a.port = out->https ? 443 : 80;
	return true;
}

bool http_origin_equal(const struct http_origin *a, const struct http_origin *b)
{
	return a->https == b->https && a->a.port == b->a.port && !strcmp(a->a.host, b->a.host);
}

bool http_fetch_site_ok(const char *value)
{
	return !value || !strcasecmp(value, "same-origin") || !strcasecmp(value, "none");
}

bool http_simple_content_type(const char *ct)
{
	static const char *const simple[] = {"application/x-www-form-urlencoded",
	                                     "multipart/form-data", "text/plain"};
	if (!ct)
		return false;
	ct += strspn(ct, " \t");
	size_t n = strcspn(ct, "; \t");
	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
		if (n == strlen(simple[i]) && !strncasecmp(ct, simple[i], n))
			return true;
	return false;
}

static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

enum http_te http_transfer_coding(const char *const *values, size_t n)
{
	if (n == 0)
		return HTTP_TE_NONE;
	size_t codings = 0, chunked = 0;
	bool bad = false;
	for (size_t i = 0; i < n; i++) {
		const char *p = values[i] ? values[i] : "";
		while (*p) {
			size_t len = strcspn(p, ",");
			const char *e = p + len;
			const char *t = p;
			while (t < e && (*t == ' ' || *t == '\t'))
				t++;
			size_t tl = 0;
			while (t + tl < e && is_tchar(t[tl]))
				tl++;
			const char *after = t + tl;
			while (after < e && (*after == ' ' || *after == '\t'))
				after++;
			if (tl > 0) {
				codings++;
				bool is_chunked = tl == 7 && !strncasecmp(t, "chunked", 7);
				if (!is_chunked)
					return HTTP_TE_UNKNOWN;
				chunked++;
				if (after != e) /* parameters, or junk after the name */
					bad = true;
			} else if (after != e) {
				bad = true; /* not a token */
			}
			p = *e ? e + 1 : e;
		}
	}
	/* every coding is chunked here (any other returned UNKNOWN) */
	if (bad || codings == 0 || chunked != 1)
		return HTTP_TE_BAD;
	/* what libmicrohttpd decodes as chunked: one field, exactly the word */
	if (n != 1 || strcasecmp(values[0], "chunked") != 0)
		return HTTP_TE_BAD;
	return HTTP_TE_CHUNKED;
}
