/* html.c - HTML output: the one escaping function, a page builder, Accept preference. */
#include "html.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#ifndef KINDLING_VERSION
#define KINDLING_VERSION "dev"
#endif

enum kerr html_escape(struct buf *out, const char *s, size_t n)
{
	size_t start_len = out->len;
	size_t run = 0; /* start of the bytes not yet copied */
	enum kerr e = K_OK;
	for (size_t i = 0; i < n && e == K_OK; i++) {
		const char *ref;
		switch (s[i]) {
		case '&':
			ref = "&amp;";
			break;
		case '<':
			ref = "&lt;";
			break;
		case '>':
			ref = "&gt;";
			break;
		case '"':
			ref = "&quot;";
			break;
		case '\'':
			ref = "&#39;";
			break;
		case '\0':
			ref = "\xef\xbf\xbd"; /* U+FFFD */
			break;
		default:
			continue;
		}
		e = buf_add(out, s + run, i - run);
		if (e == K_OK)
			e = buf_addstr(out, ref);
		run = i + 1;
	}
	if (e == K_OK)
		e = buf_add(out, s + run, n - run);
	if (e != K_OK && out->len > start_len) { /* keep the contract: unchanged */
		out->len = start_len;
		out->data[start_len] = '\0';
	}
	return e;
}

void html_init(struct html *h, size_t max)
{
	buf_init(&h->buf, max);
	h->err = K_OK;
}

void html_free(struct html *h)
{
	if (!h)
		return;
	buf_free(&h->buf);
}

void html_raw(struct html *h, const char *markup)
{
	if (h->err == K_OK)
		h->err = buf_addstr(&h->buf, markup);
}

void html_text(struct html *h, const char *s)
{
	if (h->err == K_OK && s)
		h->err = html_escape(&h->buf, s, strlen(s));
}

/* Formats one integer conversion: spec is "%" [l|ll|z] conv, taken from ap. */
static enum kerr add_int(struct buf *b, const char *mod, char conv, va_list *ap)
{
	char spec[8];
	snprintf(spec, sizeof(spec), "%%%s%c", mod, conv);
	bool is_signed = conv == 'd' || conv == 'i';
	/* Each branch passes the type the compiler checked against the format. */
	if (!strcmp(mod, "ll")) {
		if (is_signed)
			return buf_addf(b, spec, va_arg(*ap, long long));
		return buf_addf(b, spec, va_arg(*ap, unsigned long long));
	}
	if (!strcmp(mod, "l")) {
		if (is_signed)
			return buf_addf(b, spec, va_arg(*ap, long));
		return buf_addf(b, spec, va_arg(*ap, unsigned long));
	}
	if (!strcmp(mod, "z"))
		return buf_addf(b, spec, va_arg(*ap, size_t));
	if (is_signed)
		return buf_addf(b, spec, va_arg(*ap, int));
	return buf_addf(b, spec, va_arg(*ap, unsigned));
}

void html_addf(struct html *h, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	const char *p = fmt;
	while (h->err == K_OK && *p) {
		size_t lit = strcspn(p, "%");
		if (lit) {
			h->err = buf_add(&h->buf, p, lit);
			p += lit;
			continue;
		}
		p++; /* the '%' */
		char mod[3] = "";
		if (p[0] == 'l' && p[1] == 'l') {
			memcpy(mod, "ll", 3);
			p += 2;
		} else if (*p == 'l' || *p == 'z') {
			mod[0] = *p++;
		}
		char conv = *p ? *p++ : '\0';
		if (conv == '%' && !mod[0]) {
			h->err = buf_add(&h->buf, "%", 1);
		} else if (conv == 's' && !mod[0]) {
			const char *s = va_arg(ap, const char *);
			if (s)
				h->err = html_escape(&h->buf, s, strlen(s));
		} else if (conv == 'd' || conv == 'i' || conv == 'u' || conv == 'x') {
			h->err = add_int(&h->buf, mod, conv, &ap);
		} else {
			h->err = K_EINVAL; /* a conversion this formatter does not know */
		}
	}
	va_end(ap);
}

enum kerr html_query(struct buf *out, const char *const *kv)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t start_len = out->len;
	bool first = true;
	enum kerr e = K_OK;
	for (size_t i = 0; e == K_OK && kv[i]; i += 2) {
		if (!kv[i + 1] || !kv[i + 1][0])
			continue;
		e = buf_addf(out, "%c%s=", first ? '?' : '&', kv[i]);
		first = false;
		for (const unsigned char *v = (const unsigned char *)kv[i + 1]; e == K_OK && *v;
		     v++) {
			if ((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') ||
			    (*v >= '0' && *v <= '9') || *v == '-' || *v == '.' || *v == '_' ||
			    *v == '~') {
				e = buf_add(out, v, 1);
			} else {
				char pct[3] = {'%', hex[*v >> 4], hex[*v & 15]};
				e = buf_add(out, pct, 3);
			}
		}
	}
	if (e != K_OK && out->len > start_len) {
		out->len = start_len;
		out->data[start_len] = '\0';
	}
	return e;
}

const struct html_static *html_static_find(const char *name)
{
	for (size_t i = 0; i < html_static_count; i++)
		if (!strcmp(html_static_files[i].name, name))
			return &html_static_files[i];
	return NULL;
}

/* The cache-busting version of a static file ("" when it is missing). */
static const char *static_version(const char *name)
{
	const struct html_static *s = html_static_find(name);
	return s ? s->version : "";
}

void html_page_begin(struct html *h, const char *title)
{
	html_addf(h,
	          "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	          "<title>%s · kindling</title>\n"
	          "<link rel=\"stylesheet\" href=\"/static/kindling.css?v=%s\">\n"
	          "<link rel=\"icon\" href=\"/static/favicon.svg?v=%s\" type=\"image/svg+xml\">\n"
	          "<script src=\"/static/kindling.js?v=%s\" defer></script>\n"
	          "</head>\n<body>\n"
	          "<a class=\"skip\" href=\"#main\">Skip to content</a>\n"
	          "<header class=\"bar\"><a class=\"brand\" href=\"/\">"
	          "<img src=\"/static/favicon.svg?v=%s\" alt=\"\" width=\"22\" height=\"22\">"
	          "kindling</a>\n"
	          "<nav aria-label=\"Main\"><a href=\"/\">Clusters</a></nav></header>\n"
	          "<main id=\"main\" tabindex=\"-1\">\n",
	          title, static_version("kindling.css"), static_version("favicon.svg"),
	          static_version("kindling.js"), static_version("favicon.svg"));
}

void html_page_end(struct html *h)
{
	html_addf(h,
	          "</main>\n<footer class=\"foot\">kindling %s · the same URLs answer JSON "
	          "to <code>Accept: application/json</code></footer>\n"
	          "</body>\n</html>\n",
	          KINDLING_VERSION);
}

/* ---- Accept ---- */

static bool ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Trims optional whitespace around [*s, *s + *n). */
static void trim(const char **s, size_t *n)
{
	while (*n && ows(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && ows((*s)[*n - 1]))
		(*n)--;
}

/* A qvalue (RFC 9110 12.4.2) in thousandths, or -1 when malformed. */
static int parse_q(const char *s, size_t n)
{
	if (n == 0 || (s[0] != '0' && s[0] != '1'))
		return -1;
	int q = (s[0] - '0') * 1000;
	if (n == 1)
		return q;
	if (s[1] != '.' || n > 5)
		return -1;
	int scale = 100;
	for (size_t i = 2; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		q += (s[i] - '0') * scale;
		scale /= 10;
	}
	return q > 1000 ? -1 : q;
}

static bool range_is(const char *s, size_t n, const char *want)
{
	return strlen(want) == n && !strncasecmp(s, want, n);
}

/* What one Accept element says about a target type. */
struct pref {
	int spec; /* 0: no range matched yet; 1 wildcard, 2 type/ *, 3 exact */
	int q;
};

/* Keeps the most specific range; among equally specific ones, the best q. */
static void consider(struct pref *p, int spec, int q)
{
	if (spec > p->spec || (spec == p->spec && q > p->q)) {
		p->spec = spec;
		p->q = q;
	}
}

bool html_accept_prefers(const char *accept)
{
	struct pref html = {0, 0}, json = {0, 0};
	const char *p = accept;
	if (!p)
		return false;
	while (*p) {
		size_t len = strcspn(p, ",");
		const char *elem = p;
		p += len;
		if (*p == ',')
			p++;
		/* the media range, then ;-separated parameters */
		size_t rlen = 0;
		while (rlen < len && elem[rlen] != ';')
			rlen++;
		const char *range = elem;
		size_t n = rlen;
		trim(&range, &n);
		int q = 1000;
		const char *param = elem + rlen;
		const char *end = elem + len;
		while (param < end) {
			param++; /* the ';' */
			size_t plen = 0;
			while (param + plen < end && param[plen] != ';')
				plen++;
			const char *ps = param;
			size_t pn = plen;
			trim(&ps, &pn);
			if (pn >= 2 && (ps[0] == 'q' || ps[0] == 'Q') && ps[1] == '=') {
				const char *v = ps + 2;
				size_t vn = pn - 2;
				trim(&v, &vn);
				q = parse_q(v, vn);
				if (q < 0)
					q = 0; /* malformed: this range counts for nothing */
			}
			param += plen;
		}
		if (range_is(range, n, "text/html"))
			consider(&html, 3, q);
		else if (range_is(range, n, "text/*"))
			consider(&html, 2, q);
		else if (range_is(range, n, "application/json"))
			consider(&json, 3, q);
		else if (range_is(range, n, "application/*"))
			consider(&json, 2, q);
		else if (range_is(range, n, "*/*")) {
			consider(&html, 1, q);
			consider(&json, 1, q);
		}
	}
	return html.spec > 0 && html.q > json.q;
}

void html_ignition_version(const char *ua, char *out, size_t outlen)
{
	if (outlen == 0)
		return;
	out[0] = '\0';
	if (!ua || strncasecmp(ua, "Ignition/", 9) != 0)
		return;
	const char *p = ua + 9;
	for (size_t i = 0; i < 64 && p[i]; i++) {
		if (p[i] < '0' || p[i] > '9')
			continue;
		size_t n = 0, dots = 0;
		while (i + n < 96 && ((p[i + n] >= '0' && p[i + n] <= '9') || p[i + n] == '.')) {
			dots += p[i + n] == '.';
			n++;
		}
		while (n && p[i + n - 1] == '.') {
			n--;
			dots--;
		}
		if (dots == 0 || n >= outlen)
			return;
		memcpy(out, p + i, n);
		out[n] = '\0';
		return;
	}
}
