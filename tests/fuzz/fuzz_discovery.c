/* fuzz_discovery.c - libFuzzer target: a request's path, query, headers and body
 * through kindling's HTTP layer into the discovery handlers.
 *
 * The input is a small HTTP request:
 *
 *     byte 0: the method (GET PUT POST HEAD DELETE PATCH, by value % 6;
 *             bit 7 configures an admin token)
 *     TARGET LF                      (TARGET = path[?query])
 *     Name: value LF ...             (headers, up to an empty line)
 *     LF body
 *
 * It runs through the real code of server/http.c (route matching, the %XX
 * unescape callback, the body limits, dispatch, replies, the request log)
 * and server/api_discovery.c (token and member id checks, ?wait,
 * ?waitIndex, ?recursive, ?prevExist, the value= form parser, GET /new's
 * ?size), with libmicrohttpd replaced by a fake connection in this file
 * and the discovery module and store replaced by fakes that check what the
 * handlers hand them (-Wl,--wrap, see the Makefile). Both .c files are
 * included because the parsers are static; see tests/fuzz/README.md for the
 * functions to expose instead.
 *
 * The body also goes to form_get (form.h) with a few keys and buffer sizes,
 * compared with a reference decoder.
 *
 * Checks, beyond ASan/UBSan:
 *  - exactly one reply per request; no header name or value holds CR, LF
 *    or NUL;
 *  - a problem+json reply is a JSON object whose status is the HTTP status;
 *  - [known] never the 503 fallback that http.c sends when the problem
 *    JSON cannot be built (invalid UTF-8 in the detail);
 *  - [known] never an empty 200 unless the discovery module said so
 *    (DISC_EMPTY);
 *  - the discovery module gets only a 32-hex token, a 1-16 hex member id
 *    (1-32 or _config/size for reads), a non-negative waitIndex and a
 *    non-empty value of at most 1024 bytes without control characters,
 *    valid UTF-8 (discovery.c cannot JSON-encode anything else);
 *  - /new allocates only sizes 1..99;
 *  - the request log never holds a discovery token, [known] nor a control
 *    character (a %0a in a path forges log lines).
 * KINDLING_FUZZ_SKIP_KNOWN=1 turns the [known] checks off (tests/fuzz/README.md).
 */
#include "fuzz_util.h"
#include "../../server/http.c"

#include "../../server/api_discovery.c"

#include <stdint.h>

#include "form.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static bool skip_known;

#define BUG(...)                                                                                   \
	do {                                                                                       \
		if (!skip_known) {                                                                 \
			fprintf(stderr, "fuzz_discovery: " __VA_ARGS__);                           \
			fprintf(stderr, "\n");                                                     \
			abort();                                                                   \
		}                                                                                  \
	} while (0)
#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_discovery: " __VA_ARGS__);                           \
			fprintf(stderr, "\n");                                                     \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* ---- a fake libmicrohttpd connection ---- */

#define FAKE_MAX_KV 64

struct kv {
	char *k, *v;
};

struct MHD_Response {
	int refs;
	char *body;
	size_t len;
	bool owned;
	struct kv hdr[32];
	int nhdr;
};

struct MHD_Connection {
	struct kv args[FAKE_MAX_KV], hdrs[FAKE_MAX_KV];
	int nargs, nhdrs;
	int queued; /* replies queued */
	unsigned status;
	struct MHD_Response *resp;
	bool suspended, resumed;
};

static struct MHD_Connection *cur;

const char *MHD_lookup_connection_value(struct MHD_Connection *c, enum MHD_ValueKind kind,
                                        const char *key)
{
	if (kind == MHD_GET_ARGUMENT_KIND) {
		for (int i = 0; i < c->nargs; i++)
			if (!strcmp(c->args[i].k, key))
				return c->args[i].v;
	} else if (kind == MHD_HEADER_KIND) {
		for (int i = 0; i < c->nhdrs; i++)
			if (!strcasecmp(c->hdrs[i].k, key))
				return c->hdrs[i].v;
	}
	return NULL;
}

int MHD_get_connection_values(struct MHD_Connection *c, enum MHD_ValueKind kind,
                              MHD_KeyValueIterator it, void *cls)
{
	int n = 0;
	if (kind == MHD_HEADER_KIND)
		for (int i = 0; i < c->nhdrs; i++, n++)
			if (it && it(cls, kind, c->hdrs[i].k, c->hdrs[i].v) != MHD_YES)
				break;
	return n;
}

const union MHD_ConnectionInfo *MHD_get_connection_info(struct MHD_Connection *c,
                                                        enum MHD_ConnectionInfoType t, ...)
{
	(void)c;
	(void)t;
	return NULL;
}

struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer,
                                                     enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = calloc(1, sizeof(*r));
	CHECK(r, "oom");
	r->refs = 1;
	r->len = size;
	if (mode == MHD_RESPMEM_MUST_COPY) {
		r->body = malloc(size + 1);
		memcpy(r->body, buffer, size);
		r->owned = true;
	} else {
		r->body = buffer;
		r->owned = mode == MHD_RESPMEM_MUST_FREE;
	}
	return r;
}

enum MHD_Result MHD_add_response_header(struct MHD_Response *r, const char *h, const char *v)
{
	CHECK(!strpbrk(h, "\r\n") && !strpbrk(v, "\r\n"),
	      "a response header holds CR or LF: %s: %s", h, v);
	CHECK(*h, "an empty header name");
	if (r->nhdr < 32) {
		r->hdr[r->nhdr].k = strdup(h);
		r->hdr[r->nhdr++].v = strdup(v);
	}
	return MHD_YES;
}

void MHD_destroy_response(struct MHD_Response *r)
{
	if (!r || --r->refs > 0)
		return;
	for (int i = 0; i < r->nhdr; i++) {
		free(r->hdr[i].k);
		free(r->hdr[i].v);
	}
	if (r->owned)
		free(r->body);
	free(r);
}

enum MHD_Result MHD_queue_response(struct MHD_Connection *c, unsigned int status,
                                   struct MHD_Response *r)
{
	c->queued++;
	CHECK(c->queued == 1, "a second reply for one request");
	c->status = status;
	r->refs++;
	c->resp = r;
	return MHD_YES;
}

void MHD_suspend_connection(struct MHD_Connection *c)
{
	c->suspended = true;
}

void MHD_resume_connection(struct MHD_Connection *c)
{
	CHECK(c->suspended && !c->resumed, "resume without suspend");
	c->resumed = true;
}

char *MHD_basic_auth_get_username_password(struct MHD_Connection *c, char **password)
{
	(void)c;
	*password = NULL;
	return NULL;
}

/* ---- fakes of the discovery module and the store (-Wl,--wrap) ---- */

static bool disc_said_empty;
static const char *last_token; /* a valid token the request carried, for the log check */

static void fake_reply(struct disc_reply *out, enum disc_status st, const char *token)
{
	memset(out, 0, sizeof(*out));
	out->status = st;
	out->index = 7;
	if (st == DISC_EMPTY)
		return;
	json_t *j = json_pack("{s:s, s:s}", "action", "get", "token", token);
	out->body = json_dumps(j, JSON_COMPACT);
	out->len = strlen(out->body);
	json_decref(j);
}

/* The token's last digit picks the outcome, so the fuzzer reaches them all. */
static enum disc_status outcome(const char *token, bool put)
{
	static const enum disc_status get_st[] = {DISC_OK, DISC_EMPTY, DISC_NOT_FOUND, DISC_BUSY,
	                                          DISC_OK, DISC_OK,    DISC_NOT_FOUND, DISC_OK};
	static const enum disc_status put_st[] = {DISC_CREATED,   DISC_EXISTS, DISC_FULL,
	                                          DISC_NOT_FOUND, DISC_BUSY,   DISC_CREATED,
	                                          DISC_CREATED,   DISC_CREATED};
	unsigned d = (unsigned)token[31] & 7;
	return put ? put_st[d] : get_st[d];
}

void __wrap_discovery_get(struct discovery *d, const char *token, const char *key,
                          struct disc_reply *out);
void __wrap_discovery_get(struct discovery *d, const char *token, const char *key,
                          struct disc_reply *out)
{
	(void)d;
	CHECK(is_hex(token, 32, 32), "discovery_get with token \"%s\"", token);
	CHECK(!key || !strcmp(key, "_config/size") || is_hex(key, 1, 32),
	      "discovery_get with key \"%s\"", key);
	last_token = token;
	enum disc_status st = outcome(token, false);
	if (st == DISC_EMPTY)
		st = DISC_OK; /* a plain read is never empty */
	fake_reply(out, st, token);
}

void __wrap_discovery_put(struct discovery *d, const char *token, const char *id, const char *value,
                          disc_done_fn done, void *arg);
void __wrap_discovery_put(struct discovery *d, const char *token, const char *id, const char *value,
                          disc_done_fn done, void *arg)
{
	(void)d;
	CHECK(is_hex(token, 32, 32), "discovery_put with token \"%s\"", token);
	CHECK(is_hex(id, 1, 16), "discovery_put with member id \"%s\"", id);
	size_t n = strlen(value);
	CHECK(n >= 1 && n <= 1024, "discovery_put with a value of %zu bytes", n);
	for (size_t i = 0; i < n; i++)
		CHECK((unsigned char)value[i] >= 0x20 && value[i] != 0x7f,
		      "discovery_put with a control character in the value");
	CHECK(utf8_valid(value), "discovery_put with a value that is not UTF-8: discovery.c "
	                         "cannot JSON-encode it (the member would be invisible)");
	last_token = token;
	struct disc_reply rep;
	enum disc_status st = outcome(token, true);
	disc_said_empty = st == DISC_EMPTY;
	fake_reply(&rep, st, token);
	done(arg, &rep);
}

void __wrap_discovery_watch(struct discovery *d, const char *token, const char *key,
                            int64_t wait_index, disc_done_fn done, void *arg);
void __wrap_discovery_watch(struct discovery *d, const char *token, const char *key,
                            int64_t wait_index, disc_done_fn done, void *arg)
{
	(void)d;
	CHECK(is_hex(token, 32, 32), "discovery_watch with token \"%s\"", token);
	CHECK(!key || !strcmp(key, "_config/size") || is_hex(key, 1, 32),
	      "discovery_watch with key \"%s\"", key);
	CHECK(wait_index >= 0, "discovery_watch with waitIndex %lld", (long long)wait_index);
	last_token = token;
	struct disc_reply rep;
	enum disc_status st = outcome(token, false);
	disc_said_empty = st == DISC_EMPTY;
	fake_reply(&rep, st, token);
	done(arg, &rep);
}

/* A replacement report: the token's last digit picks the store's answer. */
enum kerr __wrap_discovery_replaced(struct discovery *d, struct store_replace *r);
enum kerr __wrap_discovery_replaced(struct discovery *d, struct store_replace *r)
{
	static const struct {
		enum kerr e;
		enum store_replace_why why;
	} res[] = {
	        {K_OK, REPL_OK},
	        {K_ENOTFOUND, REPL_NO_CLUSTER},
	        {K_ENOTFOUND, REPL_NO_MEMBER},
	        {K_ENOTFOUND, REPL_NO_REPLACES},
	        {K_EEXIST, REPL_MEMBER_REMOVED},
	        {K_EEXIST, REPL_MEMBER_REPLACED},
	        {K_EEXIST, REPL_ALREADY_REPLACED},
	        {K_EUNAVAIL, REPL_OK},
	};
	(void)d;
	CHECK(is_hex(r->token, 32, 32), "discovery_replaced with token \"%s\"", r->token);
	CHECK(is_hex(r->member, 1, 16) && is_hex(r->replaces, 1, 16) &&
	              strcmp(r->member, r->replaces) != 0,
	      "discovery_replaced with members \"%s\", \"%s\"", r->member, r->replaces);
	last_token = r->token;
	unsigned i = (unsigned)r->token[31] & 7;
	snprintf(r->cluster, sizeof(r->cluster), "fuzz");
	snprintf(r->other, sizeof(r->other), "abc");
	r->changed = i == 0;
	r->why = res[i].why;
	return res[i].e;
}

enum kerr __wrap_store_dir_create(struct store *s, const char *token, int size);
enum kerr __wrap_store_dir_create(struct store *s, const char *token, int size)
{
	(void)s;
	CHECK(is_hex(token, 32, 32), "store_dir_create with token \"%s\"", token);
	CHECK(size >= 1 && size <= 99, "store_dir_create with size %d", size);
	return K_OK;
}

/* The request log: captured, checked for tokens. */
static char logline[4096];
void __wrap_log_info(const char *fmt, ...);
void __wrap_log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(logline, sizeof(logline), fmt, ap);
	va_end(ap);
}

/* ---- form_get (form.h) against a reference decoder ---- */

/* The first key=value pair of the form, decoded; -1 absent/invalid, else length. */
static long ref_form(const char *b, size_t n, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key), i = 0;
	while (i < n) {
		size_t j = i;
		while (j < n && b[j] != '&')
			j++;
		if (j - i > klen && !memcmp(b + i, key, klen) && b[i + klen] == '=') {
			size_t o = 0;
			for (size_t k = i + klen + 1; k < j; k++) {
				int c = (unsigned char)b[k];
				if (c == '+') {
					c = ' ';
				} else if (c == '%') {
					if (k + 2 >= j || form_hexval(b[k + 1]) < 0 ||
					    form_hexval(b[k + 2]) < 0)
						return -1;
					c = form_hexval(b[k + 1]) * 16 + form_hexval(b[k + 2]);
					k += 2;
				}
				if (c < 0x20 || c == 0x7f || o + 1 >= outlen)
					return -1;
				out[o++] = (char)c;
			}
			out[o] = '\0';
			return (long)o;
		}
		i = j + 1;
	}
	return -1;
}

static void check_form(const char *body, size_t len, unsigned sel)
{
	static const char *const keys[] = {"value", "v", "name", "a"};
	const char *key = keys[sel % 4];
	size_t outlen = (sel >> 2) % 3 == 0 ? 1025 : (sel >> 2) % 3 == 1 ? 4 : 1;
	char out[1025], ref[1025];
	bool ok = form_get(body, len, key, out, outlen);
	long rn = ref_form(body, len, key, ref, outlen);
	CHECK(ok == (rn >= 0), "form_get(%s) says %d, the reference %ld", key, ok, rn);
	if (ok) {
		CHECK(strlen(out) == (size_t)rn && !memcmp(out, ref, (size_t)rn),
		      "form_get(%s) decodes differently", key);
		for (long i = 0; i < rn; i++)
			CHECK((unsigned char)out[i] >= 0x20 && out[i] != 0x7f,
			      "a control byte decoded");
	}
}

/* ---- the harness ---- */

static struct http_server fz_server;
static struct config fz_cfg;
static struct app fz_app;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *s = getenv("KINDLING_FUZZ_SKIP_KNOWN");
	skip_known = s && *s && strcmp(s, "0") != 0;
	fz_cfg.ignition_version = (char *)"3.3.0";
	fz_cfg.max_clusters = 1000;
	fz_app.cfg = &fz_cfg;
	fz_app.discovery = (struct discovery *)&fz_cfg; /* never dereferenced: wrapped */
	snprintf(fz_app.public_url, sizeof(fz_app.public_url), "http://127.0.0.1:8080");
	fz_server.routes = api_routes;
	fz_server.nroutes = api_nroutes;
	fz_server.stats = calloc(api_nroutes + 1, sizeof(*fz_server.stats));
	fz_server.app = &fz_app;
	fz_server.o.body_max = 1 << 20;
	return 0;
}

static char *dupn(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/* Splits a query the way libmicrohttpd does: '&', '=', '+' -> ' ', then the
 * unescape callback on key and value. */
static void parse_query(struct MHD_Connection *c, char *q)
{
	for (char *p = q; *p; p++)
		if (*p == '+')
			*p = ' ';
	while (q && *q && c->nargs < FAKE_MAX_KV) {
		char *amp = strchr(q, '&');
		if (amp)
			*amp = '\0';
		char *eq = strchr(q, '=');
		if (eq)
			*eq = '\0';
		unescape(NULL, c, q);
		if (eq)
			unescape(NULL, c, eq + 1);
		c->args[c->nargs].k = strdup(q);
		c->args[c->nargs++].v = eq ? strdup(eq + 1) : NULL;
		q = amp ? amp + 1 : NULL;
	}
}

/* The discovery handlers and the unmatched paths run; other routes are
 * skipped (they need a store). */
static bool runnable(const struct req *r)
{
	if (!r->route)
		return true;
	handler_fn fn = r->route->fn;
	return fn == api_discovery_dir || fn == api_discovery_key || fn == api_discovery_put ||
	       fn == api_discovery_new;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = {"GET", "PUT", "POST", "HEAD", "DELETE", "PATCH"};
	if (size < 2 || size > 64 * 1024)
		return 0;
	char *in = dupn((const char *)data + 1, size - 1);
	size_t inlen = size - 1;
	const char *method = methods[data[0] % 6];
	fz_server.o.admin_token = (data[0] & 0x80) ? "s3cret-admin-token" : NULL;

	struct MHD_Connection conn;
	memset(&conn, 0, sizeof(conn));
	cur = &conn;
	disc_said_empty = false;
	last_token = NULL;
	logline[0] = '\0';

	/* request line, headers, body */
	char *nl = memchr(in, '\n', inlen);
	char *target = dupn(in, nl ? (size_t)(nl - in) : strlen(in));
	const char *body = "";
	size_t body_len = 0;
	if (nl) {
		char *h = nl + 1, *end = in + inlen;
		while (h < end) {
			char *e = memchr(h, '\n', (size_t)(end - h));
			size_t n = e ? (size_t)(e - h) : (size_t)(end - h);
			if (n == 0) {
				body = h + 1 <= end ? h + 1 : end;
				body_len = (size_t)(end - body);
				break;
			}
			char *colon = memchr(h, ':', n);
			if (colon && conn.nhdrs < FAKE_MAX_KV) {
				const char *v = colon + 1;
				while (v < h + n && (*v == ' ' || *v == '\t'))
					v++;
				conn.hdrs[conn.nhdrs].k = dupn(h, (size_t)(colon - h));
				conn.hdrs[conn.nhdrs++].v = dupn(v, (size_t)(h + n - v));
			}
			if (!e)
				break;
			h = e + 1;
		}
	}
	/* browsers and curl send a Host; without one http.c answers 400 before any route */
	if (!MHD_lookup_connection_value(&conn, MHD_HEADER_KIND, "Host") &&
	    conn.nhdrs < FAKE_MAX_KV) {
		conn.hdrs[conn.nhdrs].k = strdup("Host");
		conn.hdrs[conn.nhdrs++].v = strdup("127.0.0.1:8080");
	}
	check_form(body, body_len, data[0]);

	/* libmicrohttpd: path and query apart, each unescaped */
	char *qm = strchr(target, '?');
	if (qm) {
		*qm = '\0';
		parse_query(&conn, qm + 1);
	}
	unescape(NULL, &conn, target);
	if (target[0] != '/')
		goto done; /* libmicrohttpd answers 400 itself */

	void *ctx = NULL;
	size_t up = 0;
	on_access(&fz_server, &conn, target, method, "HTTP/1.1", NULL, &up, &ctx);
	struct req *r = ctx;
	CHECK(r, "no request context");
	if (!runnable(r)) {
		on_completed(&fz_server, &conn, &ctx, MHD_REQUEST_TERMINATED_COMPLETED_OK);
		goto done;
	}
	/* the body in two pieces, as a network would deliver it */
	size_t half = body_len / 2;
	if (half) {
		up = half;
		on_access(&fz_server, &conn, target, method, "HTTP/1.1", body, &up, &ctx);
		CHECK(up == 0, "upload data not consumed");
	}
	if (body_len - half) {
		up = body_len - half;
		on_access(&fz_server, &conn, target, method, "HTTP/1.1", body + half, &up, &ctx);
		CHECK(up == 0, "upload data not consumed");
	}
	up = 0;
	on_access(&fz_server, &conn, target, method, "HTTP/1.1", NULL, &up, &ctx);
	if (conn.suspended) {
		CHECK(conn.resumed, "suspended and never resumed");
		on_access(&fz_server, &conn, target, method, "HTTP/1.1", NULL, &up, &ctx);
	}
	CHECK(conn.queued == 1, "%d replies for %s %s", conn.queued, method, target);

	/* the reply */
	struct MHD_Response *resp = conn.resp;
	const char *ct = NULL;
	for (int i = 0; i < resp->nhdr; i++)
		if (!strcasecmp(resp->hdr[i].k, "Content-Type"))
			ct = resp->hdr[i].v;
	if (conn.status == 503 && resp->len < 64 && resp->body &&
	    !strncmp(resp->body, "{\"title\": \"Service Unavailable\"", 31))
		BUG("%s %s: the 503 fallback (the problem JSON could not be built)", method,
		    target);
	if (ct && !strcmp(ct, "application/problem+json")) {
		json_t *j = json_loadb(resp->body, resp->len, 0, NULL);
		CHECK(j && json_is_object(j), "problem+json that is not a JSON object");
		CHECK(json_integer_value(json_object_get(j, "status")) == (json_int_t)conn.status ||
		              conn.status == 503,
		      "problem status differs from the HTTP status");
		json_decref(j);
	}
	if (conn.status == 200 && resp->len == 0 && !disc_said_empty)
		BUG("%s %s: an empty 200 the discovery module did not ask for", method, target);
	CHECK(conn.status >= 200 && conn.status < 600, "status %u", conn.status);

	on_completed(&fz_server, &conn, &ctx, MHD_REQUEST_TERMINATED_COMPLETED_OK);
	/* the log line: never a token (the path's, or one the route did not match) */
	for (const char *c = logline; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			BUG("a control character in the request log (log injection): %s", logline);
			break;
		}
	if (logline[0]) {
		const char *p = logline;
		for (; *p; p++) {
			size_t k = 0;
			while (k < 32 &&
			       ((p[k] >= '0' && p[k] <= '9') || (p[k] >= 'a' && p[k] <= 'f')))
				k++;
			CHECK(!(k == 32 && !strncmp(target, "/discovery/", 11)),
			      "the request log holds a discovery token: %s", logline);
		}
	}

done:
	MHD_destroy_response(conn.resp);
	for (int i = 0; i < conn.nargs; i++) {
		free(conn.args[i].k);
		free(conn.args[i].v);
	}
	for (int i = 0; i < conn.nhdrs; i++) {
		free(conn.hdrs[i].k);
		free(conn.hdrs[i].v);
	}
	free(target);
	free(in);
	return 0;
}
