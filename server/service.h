/* service.h - cluster writes: create, change vars, rotate the fetch token,
 * delete. Checks a request against the profiles and the limits, makes the
 * ids, tokens and secrets, allocates discovery (built in, or from the
 * upstream on a thread of its own) and has the writer commit it; the
 * outcome comes back through a callback. The only writer of clusters, for
 * every route and page. Knows nothing of HTTP. */
#ifndef KINDLING_SERVICE_H
#define KINDLING_SERVICE_H

#include <jansson.h>

#include "app.h"

/*
 * The outcome of a write, filled in by the service. err is K_OK; K_EINVAL
 * with errors ([{field, message}]) for a request the checks refuse;
 * K_EEXIST, K_ENOTFOUND; K_ELIMIT (--max-clusters, or for a rotation the
 * tokens still in their grace); K_EUNAVAIL (the database is busy, or
 * kindling is stopping); K_EUPSTREAM (with why); K_ENOMEM, K_EIO.
 */
struct service_reply {
	enum kerr err;
	char name[64];       /* the cluster's, as asked ("" for a create without one) */
	struct cluster c;    /* K_OK: the cluster as committed (a delete: empty) */
	json_t *errors;      /* K_EINVAL */
	char why[1024];      /* more about err, or "" */
	int64_t grace_until; /* a rotation: the previous token is valid until (ms) */
};

/* Releases what a reply owns. Accepts NULL. */
void service_reply_clear(struct service_reply *r);

/* Told once out is filled in: on the caller's thread (refused at once) or on
 * a writer or upstream thread. The service does not touch out afterwards. */
typedef void (*service_done_fn)(void *arg);

/* Creates a cluster from a create request ({name, size, profiles?, vars?,
 * ignition_version?, discovery?}; borrowed for the call). */
void service_create(const struct app *a, json_t *request, struct service_reply *out,
                    service_done_fn done, void *arg);

/* Applies an RFC 7396 merge patch to the cluster's vars (null removes one)
 * and checks the result with its profiles, in one transaction: a new
 * generation. patch is borrowed for the call. */
void service_set_vars(const struct app *a, const char *name, json_t *patch,
                      struct service_reply *out, service_done_fn done, void *arg);

/* Adopts the profile files the template folders hold now as a new
 * generation, with the vars patch (may be NULL) applied too; K_EINVAL
 * (field adopt_profiles) when they are the generation's already. */
void service_adopt_profiles(const struct app *a, const char *name, json_t *patch,
                            struct service_reply *out, service_done_fn done, void *arg);

/* A new generation with the inputs of generation (never rewrites history);
 * K_EINVAL (field rollback_to) for the current one or one not kept. */
void service_rollback(const struct app *a, const char *name, int64_t generation,
                      struct service_reply *out, service_done_fn done, void *arg);

/* At start, before serving: every cluster stored before generations existed
 * gets the folders' profiles as its snapshot (a new generation, the same
 * bytes). *out_n counts them. K_OK or a store error. */
enum kerr service_snapshot_legacy(const struct app *a, int *out_n);

/* A new fetch token; the previous one stays valid for --token-grace. */
void service_rotate(const struct app *a, const char *name, struct service_reply *out,
                    service_done_fn done, void *arg);

/* Deletes the cluster and its discovery directory. */
void service_delete(const struct app *a, const char *name, struct service_reply *out,
                    service_done_fn done, void *arg);

/* Cuts upstream allocations short (they end K_EUNAVAIL) and waits up to
 * timeout_ms for their threads to end: before the writer stops. */
void service_stop(int timeout_ms);

#endif
