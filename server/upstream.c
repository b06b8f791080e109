/* upstream.c - GET base/new?size=N from a discovery.etcd.io-style service with libcurl. */
#include "upstream.h"

#include <assert.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <nettle/base64.h>

#ifndef KINDLING_VERSION
#define KINDLING_VERSION "dev"
#endif

#define FIRST_BACKOFF_MS 100
#define SNIPPET_MAX      80 /* bytes of an error answer quoted in errmsg */

/*
 * libcurl is loaded when an upstream is configured, not linked: builtin
 * discovery (the default) then never maps libcurl and the ~25 libraries it
 * pulls in (OpenSSL's libcrypto, Kerberos, LDAP, SSH ...), about 2.5 MB of
 * resident memory and some start-up time. The soname is the one Debian's
 * libcurl3-gnutls package installs, the library the headers come from.
 */
#define LIBCURL_SONAME "libcurl-gnutls.so.4"

static struct {
	void *so;
	CURLcode (*global_init)(long flags);
	void (*global_cleanup)(void);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
	CURLcode (*easy_perform)(CURL *h);
	CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
	const char *(*easy_strerror)(CURLcode rc);
	void (*easy_cleanup)(CURL *h);
	struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
	void (*slist_free_all)(struct curl_slist *l);
} lc;

/* Set once by upstream_global_init, before threads: why libcurl is unusable
 * ("" when it is usable). */
static char global_err[256];
static int global_done;

/* Loads libcurl and its entry points; fills global_err on failure. */
static void load_libcurl(void)
{
	const struct {
		const char *name;
		void **slot;
	} syms[] = {
	        {"curl_global_init", (void **)&lc.global_init},
	        {"curl_global_cleanup", (void **)&lc.global_cleanup},
	        {"curl_easy_init", (void **)&lc.easy_init},
	        {"curl_easy_setopt", (void **)&lc.easy_setopt},
	        {"curl_easy_perform", (void **)&lc.easy_perform},
	        {"curl_easy_getinfo", (void **)&lc.easy_getinfo},
	        {"curl_easy_strerror", (void **)&lc.easy_strerror},
	        {"curl_easy_cleanup", (void **)&lc.easy_cleanup},
	        {"curl_slist_append", (void **)&lc.slist_append},
	        {"curl_slist_free_all", (void **)&lc.slist_free_all},
	};
	lc.so = dlopen(LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!lc.so) {
		const char *why = dlerror();
		snprintf(global_err, sizeof(global_err),
		         "cannot load %s (install libcurl3-gnutls): %s", LIBCURL_SONAME,
		         why ? why : "unknown error");
		return;
	}
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		*syms[i].slot = dlsym(lc.so, syms[i].name);
		if (!*syms[i].slot) {
			snprintf(global_err, sizeof(global_err), "%s has no %s", LIBCURL_SONAME,
			         syms[i].name);
			dlclose(lc.so);
			memset(&lc, 0, sizeof(lc));
			return;
		}
	}
	CURLcode rc = lc.global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK) {
		snprintf(global_err, sizeof(global_err), "curl_global_init failed: %s",
		         lc.easy_strerror(rc));
		dlclose(lc.so);
		memset(&lc, 0, sizeof(lc));
	}
}

const char *upstream_global_init(void)
{
	if (!global_done) {
		global_err[0] = '\0';
		load_libcurl();
		global_done = 1;
	}
	return global_err[0] ? global_err : NULL;
}

void upstream_global_cleanup(void)
{
	if (!global_done)
		return;
	if (lc.so) {
		lc.global_cleanup();
		dlclose(lc.so);
	}
	memset(&lc, 0, sizeof(lc));
	global_done = 0;
	global_err[0] = '\0';
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
	                      .tv_nsec = (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The answer of one try, bounded to UPSTREAM_MAX_ANSWER bytes. */
struct answer {
	struct buf body;
	int too_big;
	const atomic_bool *cancel;
};

/* libcurl's progress hook (at least once a second): non-zero aborts. */
static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	const struct answer *a = userdata;
	return a->cancel && atomic_load(a->cancel);
}

static bool cancelled(const struct answer *a)
{
	return a->cancel && atomic_load(a->cancel);
}

static size_t on_data(char *p, size_t size, size_t n, void *userdata)
{
	struct answer *a = userdata;
	size_t len = size * n;
	if (buf_add(&a->body, p, len) != K_OK) {
		a->too_big = 1;
		return 0; /* ends the transfer with CURLE_WRITE_ERROR */
	}
	return len;
}

/* What one try came to. */
enum outcome {
	TRY_OK,    /* a 2xx answer is in the body */
	TRY_RETRY, /* 5xx or a connection error: worth another try */
	TRY_FAIL,  /* anything else: give up at once */
};

/* Appends ": <first line of s, printable ASCII only, shortened>" to m, or
 * nothing when s holds nothing printable. */
static void add_snippet(struct buf *m, const char *s)
{
	char out[SNIPPET_MAX + 4] = {0};
	size_t n = 0;
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	for (; *s && *s != '\n' && *s != '\r' && n < SNIPPET_MAX; s++)
		out[n++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	while (n > 0 && out[n - 1] == ' ')
		n--;
	if (n == 0)
		return;
	if (*s && *s != '\n' && *s != '\r') {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	buf_addf(m, ": %s", out);
}

/* Runs one GET with at most budget_ms. Appends the reason of a failure to why (without the
 * request URL or the count of tries; nothing when the budget ran out) and
 * what an error answer said to detail. */
static enum outcome try_once(CURL *h, struct answer *a, int64_t budget_ms, struct buf *why,
                             struct buf *detail)
{
	char cerr[CURL_ERROR_SIZE];
	cerr[0] = '\0';
	buf_reset(&a->body);
	a->too_big = 0;
	long status = 0;
	if (budget_ms < 1)
		budget_ms = 1;
	lc.easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)budget_ms);
	lc.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)budget_ms);
	lc.easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);

	CURLcode rc = lc.easy_perform(h);
	lc.easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	if (rc == CURLE_OK) {
		lc.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (status >= 200 && status <= 299)
			return TRY_OK;
		buf_addf(why, "HTTP %ld", status);
		if (status >= 300 && status <= 399) {
			buf_addstr(why, ": redirects are not followed");
			return TRY_FAIL;
		}
		add_snippet(detail, buf_str(&a->body));
		return status >= 500 && status <= 599 ? TRY_RETRY : TRY_FAIL;
	}
	if (rc == CURLE_WRITE_ERROR && a->too_big) {
		buf_addf(why, "the answer is longer than %d bytes", UPSTREAM_MAX_ANSWER);
		return TRY_FAIL;
	}
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return TRY_FAIL; /* the caller names the budget */
	case CURLE_COULDNT_CONNECT: {
		long os_errno = 0;
		lc.easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
		if (os_errno == ECONNREFUSED)
			buf_addstr(why, "connection refused");
		else
			buf_addf(why, "could not connect (%s)",
			         cerr[0] ? cerr : lc.easy_strerror(rc));
		return TRY_RETRY;
	}
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		buf_addf(why, "could not resolve (%s)", cerr[0] ? cerr : lc.easy_strerror(rc));
		return TRY_RETRY;
	case CURLE_GOT_NOTHING:
		buf_addstr(why, "the server closed the connection without an answer");
		return TRY_RETRY;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
		buf_addf(why, "connection broken (%s)", cerr[0] ? cerr : lc.easy_strerror(rc));
		return TRY_RETRY;
	default:
		buf_addstr(why, cerr[0] ? cerr : lc.easy_strerror(rc));
		return TRY_FAIL;
	}
}

/* Trims the answer in place; returns its length when it is one printable
 * http(s) URL of at most UPSTREAM_MAX_URL bytes, -1 when it is no URL and
 * -2 when it is too long. */
static long check_answer(struct buf *body, const char **out_start)
{
	const char *s = buf_str(body);
	size_t n = body->len;
	while (n > 0 && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
		s++;
		n--;
	}
	while (n > 0 &&
	       (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		n--;
	size_t scheme = 0;
	if (n > 7 && !strncmp(s, "http://", 7))
		scheme = 7;
	else if (n > 8 && !strncmp(s, "https://", 8))
		scheme = 8;
	if (scheme == 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return -1; /* control, space, NUL, a second line or non-ASCII */
	if (s[scheme] == '/')
		return -1; /* no host */
	if (n > UPSTREAM_MAX_URL)
		return -2;
	*out_start = s;
	return (long)n;
}

/* Appends url to shown without its user:password@ part, for messages. */
/* Waits before try tries + 1: no pause when it goes to the next URL of a
 * list (next_url), else FIRST_BACKOFF_MS doubled per try. False, at once,
 * when the time budget (deadline) would run out meanwhile. */
static bool backoff(int tries, bool next_url, int64_t deadline, const struct answer *a)
{
	int shift = tries - 1 < 20 ? tries - 1 : 20;
	int64_t pause = next_url ? 0 : (int64_t)FIRST_BACKOFF_MS << shift;
	if (deadline - now_ms() <= pause)
		return false;
	for (int64_t t = 0; t < pause && !cancelled(a); t += 50)
		sleep_ms(pause - t < 50 ? pause - t : 50);
	return true;
}

/* The error of the last try: "URL: why[ after N tries]detail". */
static void add_failure(struct buf *errmsg, const struct buf *shown, const struct buf *why,
                        int tries, const struct buf *detail)
{
	buf_addf(errmsg, "%s: %s", buf_str(shown), buf_str(why));
	if (tries > 1)
		buf_addf(errmsg, " after %d tries", tries);
	buf_addstr(errmsg, buf_str(detail));
}

static void add_shown_url(struct buf *shown, const char *url)
{
	const char *host = strstr(url, "://");
	host = host ? host + 3 : url;
	size_t hostlen = strcspn(host, "/?#");
	const char *at = memchr(host, '@', hostlen);
	if (!at) {
		buf_addstr(shown, url);
		return;
	}
	buf_add(shown, url, (size_t)(host - url));
	buf_addstr(shown, at + 1);
}

enum kerr upstream_new(const struct upstream_options *o, int size, char **out_url,
                       struct buf *errmsg)
{
	assert(o && out_url && errmsg);
	enum kerr ret = K_EUPSTREAM;
	int64_t deadline = now_ms() + (o->timeout_ms > 0 ? o->timeout_ms : 1);
	struct buf url, shown, why, detail; /* shown: url for messages */
	struct answer a;
	CURL *h = NULL;
	buf_init(&url, 2048);
	buf_init(&shown, 2048);
	buf_init(&why, 512);
	buf_init(&detail, 256);
	buf_init(&a.body, UPSTREAM_MAX_ANSWER);
	a.too_big = 0;
	a.cancel = o->cancel;

	if (size < 1) {
		buf_addf(errmsg, "discovery size %d is not a positive number", size);
		ret = K_EINVAL;
		goto out;
	}
	const char *base = o->base_url ? o->base_url : "";
	size_t blen = strlen(base);
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	if (buf_add(&url, base, blen) != K_OK || buf_addf(&url, "/new?size=%d", size) != K_OK) {
		buf_addstr(errmsg, "the discovery upstream URL is too long");
		goto out;
	}
	add_shown_url(&shown, buf_str(&url));
	if (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0) {
		buf_addf(errmsg, "%s: the discovery upstream must be an http:// or https:// URL",
		         buf_str(&shown));
		goto out;
	}
	if (!global_done || !lc.so) {
		buf_addf(errmsg, "%s: libcurl is not usable: %s", buf_str(&shown),
		         global_done ? global_err : "upstream_global_init was not called");
		goto out;
	}
	h = lc.easy_init();
	if (!h) {
		ret = K_ENOMEM;
		buf_addf(errmsg, "%s: out of memory", buf_str(&shown));
		goto out;
	}
	lc.easy_setopt(h, CURLOPT_URL, buf_str(&url));
	lc.easy_setopt(h, CURLOPT_HTTPGET, 1L);
	lc.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	lc.easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
	lc.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	lc.easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	lc.easy_setopt(h, CURLOPT_USERAGENT, "kindling/" KINDLING_VERSION);
	lc.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	lc.easy_setopt(h, CURLOPT_WRITEDATA, &a);
	lc.easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	lc.easy_setopt(h, CURLOPT_XFERINFODATA, &a);
	lc.easy_setopt(h, CURLOPT_NOPROGRESS, 0L);

	int tries = 0;
	for (;;) {
		tries++;
		buf_reset(&why);
		buf_reset(&detail);
		enum outcome r = try_once(h, &a, deadline - now_ms(), &why, &detail);
		if (cancelled(&a)) {
			buf_addf(errmsg, "%s: cut short: kindling is stopping", buf_str(&shown));
			ret = K_EUNAVAIL;
			goto out;
		}
		if (r == TRY_OK) {
			const char *start = NULL;
			long n = check_answer(&a.body, &start);
			if (n == -2) {
				buf_addf(errmsg, "%s: the answer is a URL longer than %d bytes",
				         buf_str(&shown), UPSTREAM_MAX_URL);
				goto out;
			}
			if (n < 0) {
				buf_addf(errmsg, "%s: the answer is not an http(s) URL",
				         buf_str(&shown));
				goto out;
			}
			char *u = strndup(start, (size_t)n);
			if (!u) {
				ret = K_ENOMEM;
				buf_addf(errmsg, "%s: out of memory", buf_str(&shown));
				goto out;
			}
			*out_url = u;
			ret = K_OK;
			goto out;
		}
		if (why.len == 0) { /* the time budget ran out in this try */
			buf_addf(errmsg, "%s: timed out after %d ms", buf_str(&shown),
			         o->timeout_ms);
			if (tries > 1)
				buf_addf(errmsg, " (%d tries)", tries);
			goto out;
		}
		if (r == TRY_RETRY && tries <= o->retries && backoff(tries, false, deadline, &a))
			continue;
		add_failure(errmsg, &shown, &why, tries, &detail);
		goto out;
	}
out:
	if (h)
		lc.easy_cleanup(h);
	buf_free(&a.body);
	buf_free(&detail);
	buf_free(&why);
	buf_free(&shown);
	buf_free(&url);
	return ret;
}

/* ---- an etcd cluster's v3 JSON gateway (--discovery-etcd) ---- */

/* Appends the n-th (0-based) URL of a comma-separated list without its
 * trailing slashes; false when there are fewer. */
static bool nth_url(const char *list, int n, struct buf *out)
{
	const char *p = list;
	for (int i = 0; i < n && p; i++) {
		p = strchr(p, ',');
		p = p ? p + 1 : NULL;
	}
	if (!p || !*p)
		return false;
	size_t len = strcspn(p, ",");
	while (len > 0 && p[len - 1] == '/')
		len--;
	return buf_add(out, p, len) == K_OK;
}

enum kerr upstream_etcd(const struct upstream_options *o, const char *path, const char *body,
                        char **out_answer, struct buf *errmsg)
{
	assert(o && path && body && out_answer && errmsg);
	enum kerr ret = K_EUPSTREAM;
	int64_t deadline = now_ms() + (o->timeout_ms > 0 ? o->timeout_ms : 1);
	struct buf url, shown, why, detail;
	struct answer a;
	CURL *h = NULL;
	struct curl_slist *hdrs = NULL;
	buf_init(&url, 2048);
	buf_init(&shown, 2048);
	buf_init(&why, 512);
	buf_init(&detail, 256);
	buf_init(&a.body, UPSTREAM_MAX_ETCD_ANSWER);
	a.too_big = 0;
	a.cancel = o->cancel;
	const char *list = o->base_url ? o->base_url : "";
	int nurls = 0;
	bool bad = false;
	struct buf ub;
	buf_init(&ub, 2048);
	while (nurls < 16 && nth_url(list, nurls, &ub)) {
		if (strncmp(buf_str(&ub), "http://", 7) != 0 &&
		    strncmp(buf_str(&ub), "https://", 8) != 0) {
			add_shown_url(&shown, buf_str(&ub));
			buf_addf(errmsg, "%s: the etcd endpoint must be an http:// or https:// URL",
			         buf_str(&shown));
			bad = true;
			break;
		}
		nurls++;
		buf_reset(&ub);
	}
	buf_free(&ub);
	if (bad)
		goto out;
	if (nurls == 0) {
		buf_addstr(errmsg, "no etcd endpoint given");
		goto out;
	}
	if (!global_done || !lc.so) {
		buf_addf(errmsg, "etcd: libcurl is not usable: %s",
		         global_done ? global_err : "upstream_global_init was not called");
		goto out;
	}
	h = lc.easy_init();
	hdrs = h ? lc.slist_append(NULL, "Content-Type: application/json") : NULL;
	if (!h || !hdrs) {
		ret = K_ENOMEM;
		buf_addstr(errmsg, "etcd: out of memory");
		goto out;
	}
	lc.easy_setopt(h, CURLOPT_POSTFIELDS, body);
	lc.easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	lc.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	lc.easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
	lc.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	lc.easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	lc.easy_setopt(h, CURLOPT_USERAGENT, "kindling/" KINDLING_VERSION);
	lc.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	lc.easy_setopt(h, CURLOPT_WRITEDATA, &a);
	lc.easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	lc.easy_setopt(h, CURLOPT_XFERINFODATA, &a);
	lc.easy_setopt(h, CURLOPT_NOPROGRESS, 0L);

	/* each try goes to the next endpoint; retries as upstream_new, one
	 * round over the endpoints at least */
	int tries = 0;
	for (;;) {
		buf_reset(&url);
		buf_reset(&shown);
		nth_url(list, tries % nurls, &url);
		buf_addstr(&url, path);
		add_shown_url(&shown, buf_str(&url));
		lc.easy_setopt(h, CURLOPT_URL, buf_str(&url));
		tries++;
		buf_reset(&why);
		buf_reset(&detail);
		enum outcome r = try_once(h, &a, deadline - now_ms(), &why, &detail);
		if (cancelled(&a)) {
			buf_addf(errmsg, "%s: cut short: kindling is stopping", buf_str(&shown));
			ret = K_EUNAVAIL;
			goto out;
		}
		if (r == TRY_OK) {
			char *s = strndup(buf_str(&a.body), a.body.len);
			if (!s) {
				ret = K_ENOMEM;
				goto out;
			}
			*out_answer = s;
			ret = K_OK;
			goto out;
		}
		if (why.len == 0) {
			buf_addf(errmsg, "%s: timed out after %d ms", buf_str(&shown),
			         o->timeout_ms);
			goto out;
		}
		if (r == TRY_RETRY && (tries < nurls || tries <= o->retries) &&
		    backoff(tries, tries < nurls, deadline, &a))
			continue;
		add_failure(errmsg, &shown, &why, tries, &detail);
		goto out;
	}
out:
	if (hdrs)
		lc.slist_free_all(hdrs);
	if (h)
		lc.easy_cleanup(h);
	buf_free(&a.body);
	buf_free(&detail);
	buf_free(&why);
	buf_free(&shown);
	buf_free(&url);
	return ret;
}

/* base64 of n bytes (the gateway's encoding of bytes fields), new reference. */
static json_t *b64(const char *s, size_t n)
{
	char *out = malloc(BASE64_ENCODE_RAW_LENGTH(n) + 1);
	if (!out)
		return NULL;
	base64_encode_raw(out, n, (const uint8_t *)s);
	json_t *j = json_stringn(out, BASE64_ENCODE_RAW_LENGTH(n));
	free(out);
	return j;
}

/* The decoded base64 string j (NULL: empty), malloc'd and NUL-terminated;
 * NULL when it is not base64. */
static char *unb64(const json_t *j)
{
	const char *s = json_is_string(j) ? json_string_value(j) : "";
	size_t n = strlen(s), len = BASE64_DECODE_LENGTH(n);
	char *out = malloc(len + 1);
	struct base64_decode_ctx ctx;
	base64_decode_init(&ctx);
	if (!out || !base64_decode_update(&ctx, &len, (uint8_t *)out, n, s) ||
	    !base64_decode_final(&ctx)) {
		free(out);
		return NULL;
	}
	out[len] = 0;
	return out;
}

enum kerr upstream_etcd_put(const struct upstream_options *o, const char *key, const char *value,
                            struct buf *errmsg)
{
	json_t *body = json_object();
	json_object_set_new(body, "key", b64(key, strlen(key)));
	json_object_set_new(body, "value", b64(value, strlen(value)));
	char *s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (!s)
		return K_ENOMEM;
	char *answer = NULL;
	enum kerr e = upstream_etcd(o, "/v3/kv/put", s, &answer, errmsg);
	free(s);
	free(answer);
	return e;
}

/* {"key": prefix, "range_end": prefix with its last byte + 1} (WithPrefix),
 * as a malloc'd JSON text; NULL when out of memory or prefix is empty. */
static char *prefix_body(const char *prefix)
{
	size_t n = strlen(prefix);
	char *end = n ? strdup(prefix) : NULL;
	if (!end)
		return NULL;
	end[n - 1]++;
	json_t *body = json_object();
	json_object_set_new(body, "key", b64(prefix, n));
	json_object_set_new(body, "range_end", b64(end, n));
	free(end);
	char *s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	return s;
}

enum kerr upstream_etcd_delete_prefix(const struct upstream_options *o, const char *prefix,
                                      struct buf *errmsg)
{
	char *s = prefix_body(prefix);
	if (!s)
		return K_ENOMEM;
	char *answer = NULL;
	enum kerr e = upstream_etcd(o, "/v3/kv/deleterange", s, &answer, errmsg);
	free(s);
	free(answer);
	return e;
}

enum kerr upstream_etcd_range(const struct upstream_options *o, const char *prefix,
                              json_t **out_kvs, struct buf *errmsg)
{
	char *s = prefix_body(prefix);
	if (!s)
		return K_ENOMEM;
	char *answer = NULL;
	enum kerr e = upstream_etcd(o, "/v3/kv/range", s, &answer, errmsg);
	free(s);
	if (e != K_OK)
		return e;
	json_t *rs = json_loads(answer, 0, NULL);
	free(answer);
	json_t *kvs = json_array(), *kv;
	size_t i;
	json_array_foreach (json_object_get(rs, "kvs"), i, kv) {
		char *k = unb64(json_object_get(kv, "key"));
		char *v = unb64(json_object_get(kv, "value"));
		const json_t *cr = json_object_get(kv, "create_revision"); /* int64 as a string */
		if (k && v)
			json_array_append_new(
			        kvs,
			        json_pack("{s:s, s:s, s:I}", "key", k, "value", v,
			                  "create_revision",
			                  (json_int_t)strtoll(
			                          json_is_string(cr) ? json_string_value(cr) : "0",
			                          NULL, 10)));
		free(k);
		free(v);
	}
	if (!rs) {
		json_decref(kvs);
		buf_addstr(errmsg, "etcd: the range answer is not JSON");
		return K_EUPSTREAM;
	}
	json_decref(rs);
	*out_kvs = kvs;
	return K_OK;
}
