/* discovery.h - etcd v2 discovery semantics: directories, registrations, watches. */
#ifndef KINDLING_DISCOVERY_H
#define KINDLING_DISCOVERY_H

#include <stdint.h>
#include <stddef.h>

#include "err.h"
#include "events.h"
#include "store.h"

/* Directories cached in memory, a writer thread that group-commits
 * registrations, and watches parked without a thread. Thread-safe. */
struct discovery;

struct discovery_options {
	int long_poll_timeout_s; /* a watch with no event ends with an empty 200 */
	int max_waiters;         /* watches held at once; past it DISC_BUSY */
	int max_registrations;   /* per directory; 0: 3 x size + 10 */
	struct events *events;   /* every committed registration is published here (or NULL) */
};

/* The etcd-level outcome of a request; api_discovery.c maps it to HTTP. */
enum disc_status {
	DISC_OK,        /* 200, body */
	DISC_CREATED,   /* 201, body */
	DISC_EMPTY,     /* 200 with no body: a watch ended without an event; members re-ask */
	DISC_NOT_FOUND, /* 404, errorCode 100 */
	DISC_EXISTS,    /* 412, errorCode 105 */
	DISC_FULL,      /* 403, registrations over the bound of this directory */
	DISC_BUSY,      /* 503: too many watches or storage failure; members retry */
};

/* A reply. body is malloc'd JSON (NULL for DISC_EMPTY); index is X-Etcd-Index. */
struct disc_reply {
	enum disc_status status;
	int64_t index;
	char *body;
	size_t len;
};

/* Frees the body. Accepts NULL. */
void disc_reply_clear(struct disc_reply *r);

/* Receives a reply exactly once; the reply's body passes to the callee. May
 * run on the caller's thread (answered at once) or on another thread. */
typedef void (*disc_done_fn)(void *arg, struct disc_reply *reply);

/* Starts the writer and timeout threads. K_OK, K_ENOMEM, K_EIO. */
enum kerr discovery_new(struct store *s, const struct discovery_options *o, struct discovery **out);

/* Ends every watch with DISC_EMPTY and answers new ones that way at once
 * (for a drain before shutdown). Registrations still complete. */
void discovery_release_all(struct discovery *d);

/* A directory was deleted: its watches end with DISC_NOT_FOUND and its
 * cached copy is dropped. */
void discovery_forget(struct discovery *d, const char *token);

/* An events subscriber (arg: the discovery): a deleted cluster's or
 * directory's watches end and its copy is dropped; another replica's
 * registration (remote) reads a cached directory again and wakes what waits
 * for the members it gains; EV_RESYNC does that for every cached directory
 * (those nobody waits on are dropped). The remote ones read the store (one
 * indexed read per directory) on the publishing thread, the database
 * listener's. */
void discovery_on_event(void *arg, const struct event *ev);

/* Ends every watch, completes the pending registrations and stops the
 * threads; registrations after it are answered DISC_BUSY at once. Accepts
 * NULL; a second call does nothing. */
void discovery_stop(struct discovery *d);

/* Stops (if not yet), frees and NULLs *d. Call after the HTTP server
 * stopped. Accepts NULL. */
void discovery_free(struct discovery **d);

/* GET without wait: key NULL is the directory, "_config/size" the size, or a
 * member id. Fills *out. */
void discovery_get(struct discovery *d, const char *token, const char *key, struct disc_reply *out);

/* PUT <token>/<id>?prevExist=false with value: done gets DISC_CREATED once
 * the registration is on disk, or DISC_EXISTS / DISC_NOT_FOUND / DISC_FULL /
 * DISC_BUSY. */
void discovery_put(struct discovery *d, const char *token, const char *id, const char *value,
                   disc_done_fn done, void *arg);

/* A watch: key NULL watches the directory recursively, else one member id.
 * wait_index 0 means from now. done gets the first matching event with
 * index >= wait_index (from history at once when it already happened),
 * DISC_EMPTY on timeout, DISC_NOT_FOUND, or DISC_BUSY. */
void discovery_watch(struct discovery *d, const char *token, const char *key, int64_t wait_index,
                     disc_done_fn done, void *arg);

/*
 * A node's report that r->member replaced r->replaces in the cluster of
 * r->token (store_member_replace, on the caller's thread: one short
 * transaction); when it changed anything, published as EV_MEMBER_REPLACED
 * with the cluster and both members. Returns and fills r as
 * store_member_replace does.
 */
enum kerr discovery_replaced(struct discovery *d, struct store_replace *r);

/* Watches held now. */
size_t discovery_waiters(struct discovery *d);

/*
 * Subscriptions: the v3 (gRPC) front end's watches. Not tied to a request
 * and not one-shot: a subscriber sees every registration of a directory
 * from a revision on, until it unsubscribes.
 */
struct disc_sub;

/* What a subscriber is told, borrowed for the call. m is a registration, in
 * index order; or m is NULL and the subscription ended: why is
 * DISC_NOT_FOUND (the directory was deleted) or DISC_BUSY (the cache lost
 * an event; re-subscribe from the last index seen). */
struct disc_event {
	const char *token;
	const struct store_member *m;
	enum disc_status why;
};

/* Runs with discovery's lock held, on the subscribing thread (history) or
 * the writer's (live): it copies what it keeps, returns soon, and calls no
 * discovery function. */
typedef void (*disc_event_fn)(void *arg, const struct disc_event *ev);

/*
 * Subscribes to token's registrations with index >= from (from <= 0: from
 * now): those already made are passed to fn before this returns, later ones
 * as they commit. *out_rev gets the directory's index at subscription.
 * K_OK with *out set; K_ENOTFOUND, K_ELIMIT (max_waiters subscriptions
 * held), K_ENOMEM, K_EIO. After an end event fn is not called again, but
 * the subscription is still the caller's to unsubscribe.
 */
enum kerr discovery_subscribe(struct discovery *d, const char *token, int64_t from,
                              disc_event_fn fn, void *arg, struct disc_sub **out, int64_t *out_rev);

/* Ends a subscription: fn is not called any more once this returns. Frees
 * and NULLs *sub. Accepts NULL. Every subscription ends before
 * discovery_free. */
void discovery_unsubscribe(struct discovery *d, struct disc_sub **sub);

/* Calls fn once with token's directory (borrowed; the lock is held: copy,
 * return soon, call no discovery function). K_OK, K_ENOTFOUND, K_ENOMEM,
 * K_EIO (fn not called). */
enum kerr discovery_read(struct discovery *d, const char *token,
                         void (*fn)(void *arg, const struct store_dir *dir), void *arg);

/* Subscriptions held now. */
size_t discovery_subscriptions(struct discovery *d);

#endif
