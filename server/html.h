/* html.h - HTML output: the one escaping function, a page builder, Accept preference. */
#ifndef KINDLING_HTML_H
#define KINDLING_HTML_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

/*
 * THE escaping function: appends s[0..n-1] to out with & < > " ' written as
 * character references, so the text is safe both between tags and inside a
 * double- or single-quoted attribute value. A NUL byte becomes U+FFFD. Every
 * value that reaches a page goes through here. Returns K_OK, or K_ETOOBIG /
 * K_ENOMEM with out unchanged.
 */
enum kerr html_escape(struct buf *out, const char *s, size_t n);

/*
 * A page being built: a bounded buffer and the first error, after which
 * every further addition is skipped. Check err once at the end.
 */
struct html {
	struct buf buf;
	enum kerr err;
};

/* Prepares an empty page that may grow to max bytes. Cannot fail. */
void html_init(struct html *h, size_t max);

/* Releases the page's memory. Accepts NULL. */
void html_free(struct html *h);

/* Appends trusted markup (a literal of the program, never a value). */
void html_raw(struct html *h, const char *markup);

/* Appends a value as escaped text (NULL appends nothing). */
void html_text(struct html *h, const char *s);

/*
 * Appends printf-style output in which every %s argument is escaped with
 * html_escape (NULL prints nothing); the format itself is trusted markup.
 * Supports %s, the integer conversions d i u x with the l, ll and z length
 * modifiers, and %%; anything else sets err to K_EINVAL.
 */
void html_addf(struct html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Appends "key=value" pairs, percent-encoded for a URL query (not escaped
 * for HTML: pass the result through %s). kv is a NULL-terminated list of
 * key, value pairs; pairs with a NULL or empty value are left out. The first
 * pair written is preceded by '?', the others by '&'. K_OK, K_ETOOBIG, K_ENOMEM.
 */
enum kerr html_query(struct buf *out, const char *const *kv);

/*
 * Starts a page: doctype, head with the stylesheet, script and icon, and
 * the header bar. title is escaped. Ends with <main> open.
 */
void html_page_begin(struct html *h, const char *title);

/* Closes <main>, adds the footer (version) and closes the document. */
void html_page_end(struct html *h);

/*
 * True when the Accept header value gives text/html a higher quality than
 * application/json (RFC 9110 12.5.1: the most specific matching range
 * counts), as browsers do with "text/html,...;q=0.9" and a q=0.8 wildcard;
 * false for NULL, "", a lone wildcard, application/json, Ignition's Accept,
 * or a tie. Pure: reads accept only, allocates nothing, safe on any input.
 */
bool html_accept_prefers(const char *accept);

/*
 * Writes the Ignition version of a User-Agent such as
 * "Ignition/Debian 2.14.0+ds1-1+b6" or "Ignition/v2.14.0" into out ("2.14.0"),
 * or "" when ua is not Ignition's or names no version. Pure.
 */
void html_ignition_version(const char *ua, char *out, size_t outlen);

/* A static file compiled into the binary (see tools/embed-static.sh). */
struct html_static {
	const char *name;    /* "kindling.css" */
	const char *type;    /* Content-Type */
	const char *version; /* short hash of the contents: the ETag and ?v= */
	const unsigned char *data;
	size_t len;
};
extern const struct html_static html_static_files[];
extern const size_t html_static_count;

/* The static file of that name (borrowed), or NULL. */
const struct html_static *html_static_find(const char *name);

#endif
