/* fuzz_http.c - libFuzzer target: raw bytes through the real HTTP layer
 * (libmicrohttpd + server/http.c + server/http_errors.c), and the pure
 * checks of server/httpcheck.c.
 *
 * LLVMFuzzerInitialize starts the real server once on a loopback port with a
 * small route table of its own (a GET, a JSON POST, a state change, a form
 * route, a secret path, a request that parks and resumes). Each input is
 * written as it is to a fresh connection, the write side is shut, and the
 * answer is read until the server closes. Checks, beyond ASan/UBSan:
 *  - the server closes within 5 s (no stall on any framing);
 *  - the answer is nothing, or a sequence of complete HTTP/1.1 responses,
 *    each one status line, headers and a body framed by its Content-Length
 *    (no second status line inside a body, nothing after the last one);
 *  - every response of status 400 or more is application/problem+json whose
 *    "status" is the HTTP status: kindling's own errors and libmicrohttpd's
 *    (431, a bad chunk, a bad Content-Length) alike;
 *  - no more responses than request lines could have asked for.
 * The same bytes also go to the httpcheck.h functions (as a Host, an Origin,
 * Transfer-Encoding fields, a Content-Type), checking what each promises:
 * parsed hosts are lowercase and reparse to themselves, IP literals are
 * always allowed, origins equal themselves, a transfer coding is CHUNKED
 * exactly when libmicrohttpd would decode it.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "http.h"
#include "httpcheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		fprintf(stderr, "fuzz_http: " __VA_ARGS__);                                        \
		fprintf(stderr, "\n");                                                             \
		abort();                                                                           \
	} while (0)

/* ---- the server's routes ---- */

static void h_ok(struct req *r)
{
	reply_static(r, 200, "text/plain", "ok\n", 3);
}

static void h_echo(struct req *r)
{
	size_t n;
	req_body(r, &n);
	reply_json(r, 200, json_pack("{s:I}", "bytes", (json_int_t)n));
}

static void h_secret(struct req *r)
{
	reply_error(r, K_ENOTFOUND, "no such secret");
}

static void h_resumed(struct req *r)
{
	reply_static(r, 204, NULL, "", 0);
}

static void h_park(struct req *r)
{
	req_suspend(r, h_resumed);
	req_resume(r);
}

static const struct route routes[] = {
        {"GET", "/ok", h_ok, AUTH_NONE, 0, 0},
        {"POST", "/echo", h_echo, AUTH_NONE, ROUTE_JSON_BODY, 0},
        {"POST", "/write", h_echo, AUTH_OPERATOR, ROUTE_STATE_CHANGE, 0},
        {"POST", "/form", h_echo, AUTH_OPERATOR, ROUTE_STATE_CHANGE | ROUTE_FORM, 0},
        {"GET", "/s/{token}", h_secret, AUTH_NONE, ROUTE_SECRET_PATH, 0},
        {"PUT", "/s/{token}/{key*}", h_secret, AUTH_NONE, ROUTE_SECRET_PATH, 64},
        {"GET", "/park", h_park, AUTH_NONE, 0, 0},
};

static int port;
static char public_url[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	static const char *const hosts[] = {"kindling.test"};
	struct http_options o = {
	        .listen = "127.0.0.1:0",
	        .public_url = public_url,
	        .allow_hosts = hosts,
	        .nallow_hosts = 1,
	        .threads = 2,
	        .conn_timeout_s = 10,
	        .max_conns = 64,
	        .body_max = 4096,
	        .header_max = 4096,
	        .bodies_max = 64 * 1024,
	};
	struct http_server *h = NULL;
	struct buf err;
	buf_init(&err, 1024);
	if (http_bind(&o, routes, sizeof(routes) / sizeof(routes[0]), NULL, &h, &err) != K_OK)
		FAIL("bind: %s", buf_str(&err));
	port = http_port(h);
	snprintf(public_url, sizeof(public_url), "http://127.0.0.1:%d", port);
	if (http_serve(h, &err) != K_OK)
		FAIL("serve: %s", buf_str(&err));
	buf_free(&err);
	return 0; /* the server runs until the process ends */
}

/* ---- the pure checks ---- */

static void check_authority(const char *s, size_t n)
{
	struct http_authority a, b;
	if (!http_authority_parse(s, n, &a))
		return;
	if (!a.host[0] || a.port < -1 || a.port > 65535)
		FAIL("a parsed host is empty or has port %d", a.port);
	for (const char *c = a.host; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			FAIL("a parsed host is not lowercase: %s", a.host);
	char again[300];
	int len = snprintf(again, sizeof(again), strchr(a.host, ':') ? "[%s]" : "%s", a.host);
	if (a.port >= 0)
		len += snprintf(again + len, sizeof(again) - (size_t)len, ":%d", a.port);
	if (!http_authority_parse(again, (size_t)len, &b) || strcmp(a.host, b.host) ||
	    a.port != b.port || a.ip != b.ip)
		FAIL("\"%.*s\" parses, its printed form \"%s\" differently", (int)n, s, again);
	if (a.ip && !http_host_allowed(&a, NULL, 0))
		FAIL("an IP literal is not allowed: %s", a.host);
	const char *names[] = {a.host};
	if (!http_host_allowed(&a, names, 1))
		FAIL("a host is not allowed by its own name: %s", a.host);
}

static void check_origin(const char *s)
{
	struct http_origin o;
	if (!http_origin_parse(s, &o))
		return;
	if (!http_origin_equal(&o, &o) || o.a.port <= 0)
		FAIL("origin \"%s\" is not equal to itself, or has port %d", s, o.a.port);
}

static void check_te(char *s)
{
	const char *v[8];
	size_t n = 0;
	for (char *save = NULL, *t = strtok_r(s, "\n", &save); t && n < 8;
	     t = strtok_r(NULL, "\n", &save))
		v[n++] = t + strspn(t, " \t"); /* libmicrohttpd drops leading blanks */
	enum http_te got = http_transfer_coding(v, n);
	bool mhd_chunked = n == 1 && !strcasecmp(v[0], "chunked");
	if ((got == HTTP_TE_CHUNKED) != mhd_chunked)
		FAIL("Transfer-Encoding \"%s\": verdict %d, libmicrohttpd would %sdecode it",
		     n ? v[0] : "", got, mhd_chunked ? "" : "not ");
	if ((got == HTTP_TE_NONE) != (n == 0))
		FAIL("no Transfer-Encoding judged %d", got);
}

static void pure_checks(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	size_t line = strcspn(s, "\r\n");
	check_authority(s, line);
	check_authority(s, strlen(s));
	check_origin(s);
	http_simple_content_type(s);
	http_fetch_site_ok(s);
	check_te(s);
	free(s);
}

/* ---- the network ---- */

static bool complete(const char *a, size_t n);
static const char *find(const char *hay, size_t n, const char *needle);

/* True when the input is one whole request head and nothing announces a
 * body: then an answer must come. libmicrohttpd 0.9.75 reads its lines as C
 * strings and skips empty lines before the request line (RFC 9112 2.2), so a
 * line that starts with NUL is empty to it too: a head made only of such
 * lines has no request line yet, and like any incomplete request it is
 * closed at --conn-timeout, not answered. */
static bool expects_answer(const uint8_t *data, size_t size)
{
	const char *d = (const char *)data, *end = find(d, size, "\r\n\r\n");
	if (!end || (size_t)(end + 4 - d) != size)
		return false;
	const char *line = d;
	while (line < end + 2 && (*line == '\0' || *line == '\r' || *line == '\n')) {
		const char *nl = memchr(line, '\n', (size_t)(end + 4 - line));
		line = nl ? nl + 1 : end + 4;
	}
	if (line >= end + 2)
		return false; /* no request line: only empty lines */
	static const char *const body_words[] = {"content-length", "transfer-encoding", "expect"};
	for (size_t i = 0; i + 6 <= size; i++)
		for (size_t w = 0; w < 3; w++) {
			size_t k = strlen(body_words[w]);
			if (i + k <= size && !strncasecmp(d + i, body_words[w], k))
				return false;
		}
	return true;
}

/*
 * Sends the input, shuts the write side and reads until the server closes.
 * libmicrohttpd 0.9.75 (edge-triggered epoll) often misses a half-close
 * that arrives while it is busy and keeps the connection until
 * --conn-timeout, so the answer also ends when it is whole responses and
 * 50 ms pass quietly, or when nothing came for 1 s. A request that must be
 * answered (expects_answer) and is not within 5 s is a stall, and so is a
 * response cut short. The answer in *out.
 */
static size_t exchange(const uint8_t *data, size_t size, bool head, char **out)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		FAIL("cannot connect to the server");
	size_t off = 0;
	while (off < size) {
		ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
		if (w <= 0)
			break; /* the server answered and closed early */
		off += (size_t)w;
	}
	shutdown(fd, SHUT_WR);
	bool must = expects_answer(data, size);
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		clock_gettime(CLOCK_MONOTONIC, &now);
		int ms = (int)((now.tv_sec - start.tv_sec) * 1000 +
		               (now.tv_nsec - start.tv_nsec) / 1000000);
		bool whole = len > 0 && (head || complete(buf, len));
		int wait = whole ? 50 : (len == 0 && !must ? 1000 : 5000) - ms;
		if (wait <= 0) {
			if (len > 0 || must)
				FAIL("no complete answer and no close within 5 s (a stall), %zu "
				     "bytes",
				     len);
			break; /* nothing came: an incomplete request, left waiting */
		}
		if (poll(&p, 1, wait) <= 0) {
			if (whole)
				break;
			continue;
		}
		if (len == cap)
			buf = realloc(buf, cap *= 2);
		ssize_t n = recv(fd, buf + len, cap - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	*out = buf;
	return len;
}

static const char *find(const char *hay, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= n; i++)
		if (!memcmp(hay + i, needle, k))
			return hay + i;
	return NULL;
}

/* A header's value in head[0..n) (the line after the status line), or NULL. */
static const char *header(const char *head, size_t n, const char *name, size_t *vlen)
{
	size_t k = strlen(name);
	for (const char *p = head; p && p < head + n;) {
		const char *eol = find(p, (size_t)(head + n - p), "\r\n");
		if (!eol)
			break;
		if ((size_t)(eol - p) > k && !strncasecmp(p, name, k) && p[k] == ':') {
			const char *v = p + k + 1;
			while (*v == ' ')
				v++;
			*vlen = (size_t)(eol - v);
			return v;
		}
		p = eol + 2;
	}
	return NULL;
}

/* True when a[0..n) is whole responses, walked by their Content-Length (a
 * response that does not parse counts as complete: check_answer fails it). */
static bool complete(const char *a, size_t n)
{
	size_t off = 0;
	while (off < n) {
		const char *r = a + off;
		if (n - off < 13 || memcmp(r, "HTTP/1.1 ", 9) != 0)
			return true;
		const char *end = find(r, n - off, "\r\n\r\n");
		if (!end)
			return false;
		int status = atoi(r + 9);
		size_t vl;
		const char *cl = header(r, (size_t)(end + 2 - r), "Content-Length", &vl);
		size_t blen = cl && status != 204 && status != 304 ? strtoul(cl, NULL, 10) : 0;
		if ((size_t)(a + n - (end + 4)) < blen)
			return false;
		off = (size_t)(end + 4 + blen - a);
	}
	return true;
}

/* Walks the responses in the answer; returns how many, or fails. */
static int check_answer(const char *a, size_t n, bool head_request)
{
	int count = 0;
	size_t off = 0;
	while (off < n) {
		const char *r = a + off;
		size_t left = n - off;
		if (left < 13 || memcmp(r, "HTTP/1.1 ", 9) != 0 || r[12] != ' ')
			FAIL("response %d does not start with \"HTTP/1.1 NNN \": %.40s", count + 1,
			     r);
		int status = atoi(r + 9);
		if (status < 100 || status > 599)
			FAIL("status %d", status);
		const char *end = find(r, left, "\r\n\r\n");
		if (!end)
			FAIL("response %d (%d) has no end of headers", count + 1, status);
		const char *hd = find(r, left, "\r\n") + 2;
		size_t hn = (size_t)(end + 2 - hd);
		const char *body = end + 4;
		count++;
		if (status < 200) { /* 100 Continue: no headers of note, no body */
			off = (size_t)(body - a);
			continue;
		}
		size_t vl = 0;
		const char *cl = header(hd, hn, "Content-Length", &vl);
		bool no_body = head_request || status == 204 || status == 304;
		if (!cl && !no_body)
			FAIL("response %d (%d) has no Content-Length", count, status);
		/* HEAD: the length of what a GET would get, and no body */
		size_t blen = cl && !no_body ? strtoul(cl, NULL, 10) : 0;
		if ((size_t)(a + n - body) < blen)
			FAIL("response %d (%d): body shorter than its Content-Length", count,
			     status);
		if (status >= 400 && !head_request) {
			const char *ct = header(hd, hn, "Content-Type", &vl);
			if (!ct || vl != 24 || strncmp(ct, "application/problem+json", 24))
				FAIL("a %d that is not problem+json: %.*s", status,
				     (int)(body - r + 40), r);
			json_t *j = json_loadb(body, blen, 0, NULL);
			if (!json_is_object(j) ||
			    json_integer_value(json_object_get(j, "status")) != status ||
			    !json_is_string(json_object_get(j, "type")) ||
			    !json_is_string(json_object_get(j, "detail")))
				FAIL("a %d whose problem+json is not {type, status, detail}: %.*s",
				     status, (int)blen, body);
			json_decref(j);
		}
		off = (size_t)(body + blen - a);
	}
	return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 16 * 1024)
		return 0;
	pure_checks(data, size);
	char *answer = NULL;
	bool head = find((const char *)data, size, "HEAD") != NULL;
	size_t n = exchange(data, size, head, &answer);
	if (n > 0 && (n < 9 || memcmp(answer, "HTTP/1.1 ", 9) != 0))
		FAIL("the answer does not start with \"HTTP/1.1 \": %.40s", answer);
	/* after a HEAD a body cannot be told from the next response: unchecked */
	if (!head) {
		int lines = 1;
		for (size_t i = 0; i < size; i++)
			lines += data[i] == '\n';
		int responses = check_answer(answer, n, false);
		if (responses > lines)
			FAIL("%d responses to %d lines", responses, lines);
	}
	free(answer);
	return 0;
}
