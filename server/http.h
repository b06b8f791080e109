/* http.h - libmicrohttpd glue: routes, the request context, replies, the error -> status mapping.
 */
#ifndef KINDLING_HTTP_H
#define KINDLING_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

/* One request in flight; owned by http.c, valid until its reply is sent. */
struct req;
/* A running server. */
struct http_server;

typedef void (*handler_fn)(struct req *r);

enum route_auth {
	AUTH_NONE,     /* open, or the handler checks a capability itself */
	AUTH_OPERATOR, /* the admin token, when one is configured */
};

enum route_flags {
	ROUTE_JSON_BODY = 1u << 0,   /* a body must be application/json (415 otherwise) */
	ROUTE_SECRET_PATH = 1u << 1, /* the path holds a secret: log the pattern instead */
	ROUTE_BROWSER = 1u << 2,     /* may answer HTML: challenge browsers with Basic auth */
	/* changes state: refused (403) when a browser says another site sent it
	 * (Sec-Fetch-Site, Origin, Referer) or when it carries a body type a
	 * cross-site form can send; every operator route but GET must have it */
	ROUTE_STATE_CHANGE = 1u << 3,
	ROUTE_FORM = 1u << 4, /* with ROUTE_STATE_CHANGE: takes a form from kindling's own pages */
};

/* A row of the route table. Patterns are literal segments and {name}
 * captures of one non-empty segment; a final {name*} captures the rest. */
struct route {
	const char *method;
	const char *pattern;
	handler_fn fn;
	enum route_auth auth;
	unsigned flags;
	size_t body_max; /* 0: the server default */
};

struct http_options {
	const char *listen;     /* host:port */
	const char *public_url; /* read by http_serve; may be filled in after http_bind */
	/* names the Host header may carry besides IP literals, localhost and the
	 * hosts of listen and public_url ("*": any) */
	const char *const *allow_hosts;
	size_t nallow_hosts;
	int threads;
	int conn_timeout_s;
	int max_conns;
	int max_conns_per_ip;
	size_t body_max;
	size_t header_max;
	size_t bodies_max;       /* bytes of bodies held at once, all requests */
	const char *admin_token; /* NULL: operator routes are open; copied by http_bind */
	/* PEMs, read (checked and copied) by http_bind; NULL: plain HTTP */
	const char *tls_cert_pem, *tls_key_pem;
	const char *tls_priorities; /* GnuTLS priority string; NULL: libmicrohttpd's "NORMAL" */
	void (*drain)(void *app);   /* called once on stop, before waiting for requests */
	/* called once on stop after that wait: ends the background work parked
	 * requests wait on (they get their answers), which are then awaited
	 * for up to 2 s more */
	void (*stop_work)(void *app);
};

/*
 * Binds the listen address for routes[0..nroutes-1] (the table must outlive
 * the server) with app passed to handlers, but neither listens nor serves:
 * nothing can connect until http_serve. o is copied; its strings must
 * outlive the server. Returns K_OK and *out, or K_EIO with a message in
 * errmsg (K_EINVAL for a route table that breaks the rules in route_flags).
 */
enum kerr http_bind(const struct http_options *o, const struct route *routes, size_t nroutes,
                    void *app, struct http_server **out, struct buf *errmsg);

/* Listens and starts the worker threads; o->public_url is read now. K_OK, or
 * K_EIO / K_ENOMEM with a message in errmsg (the server stays bound). */
enum kerr http_serve(struct http_server *h, struct buf *errmsg);

/*
 * Replaces the certificate and key (PEMs, copied) that new TLS connections
 * get; connections open now, and requests parked on them, keep theirs. On
 * an error (K_EINVAL with the reason in errmsg: not PEM, a key that is not
 * the certificate's, an expired certificate; K_ENOMEM) the old pair stays.
 * Safe from any thread while the server runs.
 */
enum kerr http_tls_reload(struct http_server *h, const char *cert_pem, const char *key_pem,
                          struct buf *errmsg);
/* Appends what http_tls_reload last installed (or http_bind): key type,
 * subject, expiry, SHA-256 fingerprint. Nothing without TLS. */
void http_tls_describe(struct http_server *h, struct buf *out);
/* The TLS state the server was bound with (borrowed: it lives until
 * http_stop; other listeners may start sessions with it), or NULL. */
struct tls *http_tls(struct http_server *h);
/* Replaces the admin token (copied); requests after the call need the new
 * one. K_EINVAL when the server was bound without a token (open operator
 * routes stay open), K_ENOMEM. Safe from any thread. */
enum kerr http_set_admin_token(struct http_server *h, const char *token);

/* The bound port (useful with port 0), known after http_bind. */
int http_port(const struct http_server *h);

/* True when the listen address is loopback only. */
bool http_is_loopback(const struct http_server *h);

/*
 * Stops accepting, calls o.drain, lets requests in flight finish (up to
 * drain_timeout_s), then answers every request still parked with
 * req_suspend 503 problem+json (Retry-After), stops the server and NULLs
 * *h. A parked request's handler may still call req_resume afterwards (and
 * only that, with req_set_data just before it): its data is freed then. Accepts NULL and a server
 * that never served.
 */
void http_stop(struct http_server **h, int drain_timeout_s);

/* How many requests http_stop answered whose handlers have not called
 * req_resume yet: threads that may still run and use what they were given. */
int http_requests_held(void);

/* Appends the Prometheus text of the request counters and latencies. */
void http_write_metrics(const struct http_server *h, struct buf *out);

/* The status the one mapping gives an error. */
int http_status(enum kerr e);

/* Request accessors. Returned strings are borrowed, valid during the request. */
void *req_app(const struct req *r);
struct http_server *req_server(const struct req *r);
const char *req_method(const struct req *r);
const char *req_path(const struct req *r);
const char *req_param(const struct req *r, const char *name);  /* "" when absent */
const char *req_query(const struct req *r, const char *key);   /* NULL when absent */
const char *req_header(const struct req *r, const char *name); /* NULL when absent */
const char *req_body(const struct req *r, size_t *out_len);
const char *req_client(struct req *r); /* the peer's address as text */
bool req_is_head(const struct req *r);

/*
 * Replies. A handler sends exactly one. Headers added with reply_header go
 * out with it. reply_bytes takes ownership of a malloc'd body; reply_json
 * steals the reference.
 */
enum kerr reply_header(struct req *r, const char *name, const char *value);
void reply_bytes(struct req *r, int status, const char *content_type, char *body, size_t len);
void reply_static(struct req *r, int status, const char *content_type, const char *body,
                  size_t len);
void reply_json(struct req *r, int status, json_t *body);
/* problem+json with the mapped status; detail is printf-formatted. */
void reply_error(struct req *r, enum kerr e, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* 422 problem+json with errors ([{field, message}], stolen). */
void reply_invalid(struct req *r, json_t *errors);
/* The same with e's status (406 for a version that cannot express a config). */
void reply_error_fields(struct req *r, enum kerr e, json_t *errors);

/*
 * The problem+json body every error reply has: {type, title, status,
 * detail} with type "urn:kindling:problem:" slug. A new malloc'd string
 * (its length in *out_len), or NULL on ENOMEM. For http_errors.c, which
 * dresses libmicrohttpd's own error replies in it.
 */
char *http_problem_body(int status, const char *slug, const char *detail, size_t *out_len);
/* http_errors.c wrote a reply of this status itself, on this thread, for the
 * request libmicrohttpd is about to end: the request log shows it. */
void http_note_direct_reply(int status);

/*
 * A reply built once and sent many times, from any thread: for hot paths.
 * http_shared_new takes the malloc'd body; headers are given up front
 * (extra[] is NULL-terminated name, value pairs, may be NULL). Returns NULL
 * on ENOMEM (body freed). http_shared_free drops the creator's reference;
 * replies in flight keep theirs. Accepts NULL.
 */
struct http_shared;
struct http_shared *http_shared_new(const char *content_type, char *body, size_t len,
                                    const char *const *extra);
void http_shared_free(struct http_shared **s);
/* Sends a shared reply; headers added with reply_header are ignored. */
void reply_shared(struct req *r, int status, struct http_shared *s);

/*
 * Long polls. req_suspend parks the request without a thread; another thread
 * later calls req_resume, and then on_resume runs on a worker thread and
 * must reply. req_resume is safe from any thread, once per suspend. When the
 * server stops first, http.c answers the request 503 itself and on_resume
 * never runs (see http_stop).
 */
void req_suspend(struct req *r, handler_fn on_resume);
/*
 * A reply whose body is written as it comes (Server-Sent Events), held
 * without a thread. fill(arg, buf, max) runs on a worker whenever the
 * socket has room: it copies at most max bytes and returns how many, 0 when
 * it has nothing now (the connection is parked until http_stream_wake), or
 * -1 to end the reply. done(arg) runs exactly once, when the connection is
 * over (the client left, fill ended, or http_stop ended it); the stream is
 * invalid from then on. NULL (and done not called, nothing queued) on
 * ENOMEM. Headers added with reply_header are sent.
 */
struct http_stream;
typedef long (*stream_fill_fn)(void *arg, char *buf, size_t max);
struct http_stream *reply_stream(struct req *r, int status, const char *content_type,
                                 stream_fill_fn fill, void (*done)(void *arg), void *arg);
/* fill has something new: it runs again soon. Any thread, any time before
 * done has run (the caller serializes the two, e.g. under its own lock). */
void http_stream_wake(struct http_stream *s);
/* Streams open now. */
int http_streams_open(const struct http_server *h);

/* Handler state that lives until the request ends (freed with free_fn). While
 * the request is parked, only the thread that is about to call req_resume may
 * set it (the answer a long poll was waiting for), just before that call. */
void req_set_data(struct req *r, void *data, void (*free_fn)(void *));
void *req_data(const struct req *r);
void req_resume(struct req *r);

#endif
