/* api.h - the route handlers and what they share. */
#ifndef KINDLING_API_H
#define KINDLING_API_H

#include <jansson.h>
#include <stddef.h>

#include "config.h"
#include "http.h"
#include "profile.h"
#include "render.h"
#include "store.h"
#include "writer.h"

/* What every handler reaches through req_app(). Set up by main, read-only
 * while serving (the modules it points to are thread-safe). */
struct app {
	const struct config *cfg;
	struct store *store;
	struct profile_set *profiles;
	char public_url[512]; /* no trailing slash; set before the server serves */
	/* the etcd v3 gRPC endpoint members are given (discovery_endpoints); "" when
	 * kindling has no --grpc-listen */
	char grpc_endpoint[512];
	const char *ca_pem; /* --tls-ca contents for pointer configs, or NULL */
	struct confcache *cache;
	struct fetchlog *fetchlog;
	struct discovery *discovery;
	struct writer *writer;
};

/* The one route table. */
extern const struct route api_routes[];
extern const size_t api_nroutes;

/* api_clusters.c */
void api_clusters_list(struct req *r);
void api_clusters_create(struct req *r);
void api_cluster_get(struct req *r);
void api_cluster_patch(struct req *r);
void api_cluster_delete(struct req *r);
/* Cuts upstream allocations short (they answer 503) and waits up to
 * timeout_ms for their threads to end: before the writer stops. */
void api_upstream_stop(int timeout_ms);

/* api_ignition.c */
void api_cluster_ignition(struct req *r);
void api_cluster_userdata(struct req *r);
void api_cluster_token(struct req *r);

/* The rendered-config cache of api_ignition.c. One owner: main. */
struct confcache;
enum kerr confcache_new(struct confcache **out);
void confcache_free(struct confcache **cc);
/* Drops a cluster's cached configs. Called by api_on_change only. */
void api_invalidate(const struct app *a, const char *name);

/* The writer's change hook (arg: the app): drops what memory holds of a
 * committed change (cached configs, a deleted cluster's discovery). */
void api_on_change(void *arg, const struct write_change *ch);

/*
 * A cluster write on behalf of a request: the writer commits it while the
 * request is parked, then on_done runs on an HTTP worker and replies (the
 * outcome in job.result / job.out). The request's data, freed with it.
 */
struct api_write {
	struct write_job job;
	struct req *r;
	handler_fn on_done;
	char name[64];
	char token[65];   /* ROTATE: the new token */
	struct cluster c; /* CREATE: the cluster to insert */
	json_t *patch;    /* UPDATE: the vars merge patch */
	json_t *errors;   /* UPDATE: why the merged vars were refused */
	char why[1024];   /* CREATE: the upstream's failure */
};

/* A new write of kind on name for r, the request's data from now on; NULL
 * (ENOMEM replied) on failure. */
struct api_write *api_write_new(struct req *r, enum write_kind kind, const char *name,
                                handler_fn on_done);
/* Parks the request and hands the write to the writer. */
void api_write_submit(struct api_write *w);

/* Replies with the error a cluster write or read returned (404 naming the
 * cluster, 409, 503 busy, 500 storage failure). */
void api_reply_store_error(struct req *r, enum kerr e, const char *name);
/* The cluster's pointer config as JSON (new reference; null on failure). */
json_t *api_pointer_json(const struct app *a, const struct cluster *c);
/* The JSON form of a cluster (new reference); detail adds the pointer config. */
json_t *api_cluster_json(const struct app *a, const struct cluster *c, bool detail);

/* api_discovery.c */
void api_discovery_dir(struct req *r);
void api_discovery_key(struct req *r);
void api_discovery_put(struct req *r);
void api_discovery_new(struct req *r);

/* api_pages.c: the browser pages (HTML). */
/* Adds Vary: Accept; true when the client prefers text/html over JSON. */
bool api_wants_html(struct req *r);
void api_page_list(struct req *r);
void api_page_cluster(struct req *r);
void api_page_delete(struct req *r);
void api_static(struct req *r);

/* api_ops.c */
void api_healthz(struct req *r);
void api_metrics(struct req *r);
void api_profiles(struct req *r);

/*
 * Parses the request body as a JSON object. On failure replies (400 with
 * jansson's byte offset, or for a non-object) and returns NULL; otherwise a
 * new reference.
 */
json_t *api_body_object(struct req *r);

/* Appends {"field", "message"} to errors. */
void api_field_error(json_t *errors, const char *field, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* True for a cluster name: a DNS label [a-z0-9]([a-z0-9-]{0,61}[a-z0-9])? of n bytes. */
bool api_valid_name(const char *s, size_t n);

/* What rendering needs to know about c (all borrowed from c and a). */
struct render_cluster api_render_input(const struct app *a, const struct cluster *c);

/* Formats ms since the epoch as RFC 3339 UTC with milliseconds (25 bytes). */
void api_time(int64_t ms, char out[32]);

#endif
