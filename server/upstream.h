/* upstream.h - allocating discovery URLs from a discovery.etcd.io-style service. */
#ifndef KINDLING_UPSTREAM_H
#define KINDLING_UPSTREAM_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "buf.h"
#include "err.h"

/* Longest discovery URL upstream_new accepts from a service, in bytes. */
#define UPSTREAM_MAX_URL 512
/* Largest answer upstream_new reads; a longer one is an error. */
#define UPSTREAM_MAX_ANSWER 4096

/*
 * Where and how patiently to ask. base_url is the service's root
 * ("https://discovery.etcd.io"; a trailing '/' is ignored), http or https
 * only. timeout_ms bounds the whole call, every try and every pause between
 * tries included. retries is how many more tries follow a 5xx answer or a
 * connection error (refused, reset, closed without an answer); the pauses
 * between tries double from 100 ms and never outlast the budget. A 4xx, a
 * redirect, a malformed answer or a timeout ends the call at once.
 * libcurl's proxy variables (https_proxy, no_proxy ...) apply.
 */
struct upstream_options {
	const char *base_url;
	int timeout_ms;            /* total, all tries */
	int retries;               /* after 5xx or connection errors */
	const atomic_bool *cancel; /* when it becomes true: stop now, K_EUNAVAIL; may be NULL */
};

/*
 * Allocates a discovery URL for a cluster of size members: GET
 * base_url/new?size=N, redirects not followed. On K_OK *out_url is the
 * answer with surrounding white space trimmed, malloc'd (the caller frees
 * it); it is one line of printable ASCII starting with http:// or https://,
 * at most UPSTREAM_MAX_URL bytes. On failure returns K_EUPSTREAM (K_ENOMEM
 * when memory ran out, K_EINVAL when size < 1) with a one-line reason
 * appended to errmsg that names the request URL but never the answer (which
 * would be a secret), e.g. "http://x/new?size=3: HTTP 500 after 3 tries",
 * "...: connection refused", "...: timed out after 5000 ms", "...: the
 * answer is not an http(s) URL"; *out_url is untouched. o, out_url and
 * errmsg must not be NULL. Thread-safe once upstream_global_init has run;
 * blocks the calling thread for at most about timeout_ms.
 */
enum kerr upstream_new(const struct upstream_options *o, int size, char **out_url,
                       struct buf *errmsg);

/* Largest answer upstream_etcd reads (a members range), bytes. */
#define UPSTREAM_MAX_ETCD_ANSWER (1 << 20)

/*
 * POSTs the JSON body to path (e.g. "/v3/kv/put") on an etcd's v3 JSON
 * gateway. o->base_url is a comma-separated list of http(s) client URLs;
 * each try goes to the next one, and a 5xx or a connection error moves on
 * (one round over the list at least, then o->retries as upstream_new, all
 * within o->timeout_ms). On K_OK *out_answer is the 2xx answer, malloc'd.
 * Else K_EUPSTREAM (K_EUNAVAIL when cancelled, K_ENOMEM) with a one-line
 * reason in errmsg naming the URL (without credentials). Thread-safe after
 * upstream_global_init.
 */
enum kerr upstream_etcd(const struct upstream_options *o, const char *path, const char *body,
                        char **out_answer, struct buf *errmsg);

/* Writes key = value (both text) through the gateway (/v3/kv/put): a plain
 * put, as etcdctl put. Errors as upstream_etcd. */
enum kerr upstream_etcd_put(const struct upstream_options *o, const char *key, const char *value,
                            struct buf *errmsg);

/* Reads the keys under prefix (/v3/kv/range, WithPrefix): on K_OK *out_kvs
 * is a new array of {key, value, create_revision} in the gateway's order
 * (by key), decoded. Errors as upstream_etcd; K_EUPSTREAM when the answer
 * is not JSON. */
enum kerr upstream_etcd_range(const struct upstream_options *o, const char *prefix,
                              json_t **out_kvs, struct buf *errmsg);

/* Deletes the keys under prefix (/v3/kv/deleterange, WithPrefix). Errors
 * as upstream_etcd. */
enum kerr upstream_etcd_delete_prefix(const struct upstream_options *o, const char *prefix,
                                      struct buf *errmsg);

/* Loads and sets up libcurl (libcurl-gnutls.so.4, opened at run time so
 * that builtin discovery never maps it); call once at start-up, before any
 * thread calls upstream_new. NULL on success, else why libcurl is unusable
 * (then every upstream_new fails with K_EUPSTREAM saying so). */
const char *upstream_global_init(void);

/* Releases what upstream_global_init set up; call once at exit, after the
 * last upstream_new has returned. */
void upstream_global_cleanup(void);

#endif
