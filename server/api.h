/* api.h - the route handlers and what they share. */
#ifndef KINDLING_API_H
#define KINDLING_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "http.h"
#include "service.h"

/* The one route table. */
extern const struct route api_routes[];
extern const size_t api_nroutes;

/* api_clusters.c */
void api_clusters_list(struct req *r);
void api_clusters_create(struct req *r);
void api_cluster_get(struct req *r);
void api_cluster_patch(struct req *r);
void api_cluster_delete(struct req *r);

/* api_generations.c: a cluster's generations (JSON). */
void api_cluster_generations(struct req *r);
void api_cluster_generation(struct req *r);
void api_cluster_diff(struct req *r);

/* api_ignition.c */
void api_cluster_ignition(struct req *r);
void api_cluster_userdata(struct req *r);
void api_cluster_token(struct req *r);

/* api_events.c */
void api_cluster_events(struct req *r);

/* The rendered-config cache of api_ignition.c. One owner: main. */
struct confcache;
enum kerr confcache_new(struct confcache **out);
void confcache_free(struct confcache **cc);
/* An events subscriber (arg: the confcache): a changed, rotated or deleted
 * cluster's cached configs are dropped, and all of them on a resync. */
void confcache_on_event(void *arg, const struct event *ev);

/*
 * A service call on behalf of a request (service.h): api_call_start parks
 * the request, the service fills rep and calls api_call_done(call), and
 * then on_done runs on an HTTP worker and replies from call->rep. The
 * call is the request's data, freed with it.
 */
struct api_call {
	struct req *r;
	struct service_reply rep;
};

/* A new call for r, parked; NULL (ENOMEM replied) on failure. */
struct api_call *api_call_start(struct req *r, handler_fn on_done);
/* The service's done: resumes the request. */
void api_call_done(void *arg);

/* Replies with a service's error: 422 with its field errors, its why, or
 * api_reply_store_error's words. */
void api_reply_service_error(struct req *r, const struct service_reply *rep);
/* Replies with the error a cluster read or write returned (404 naming the
 * cluster, 409, 503 busy, 500 storage failure). */
void api_reply_store_error(struct req *r, enum kerr e, const char *name);

/* api_reports.c: POST /clusters/{name}/reports (a node's boot report). */
void api_cluster_report(struct req *r);

/* The fetch token a node presented (borrowed): Authorization: Bearer, or
 * ?token=; NULL for none. */
const char *api_fetch_token(struct req *r);
/* K_OK when token opens cluster c (its fetch token, or a rotated one still
 * in its grace period; compared in constant time), K_EAUTH for none,
 * K_EFORBIDDEN for another. */
enum kerr api_fetch_token_check(const struct cluster *c, const char *token);

/* api_discovery.c */
void api_discovery_dir(struct req *r);
void api_discovery_key(struct req *r);
void api_discovery_put(struct req *r);
void api_discovery_new(struct req *r);
void api_discovery_replacement(struct req *r);

/* api_pages.c: the browser pages (HTML). */
void api_page_list(struct req *r);
void api_page_cluster(struct req *r);
void api_page_delete(struct req *r);
struct html;
/* api_common.c, what the page files share: the pages' Content-Security-
 * Policy, a finished page sent (its memory taken), an error page (title and
 * message escaped, back a trusted path), a <time> for people. */
extern const char api_page_csp[];
/* ?from= and ?to= of a diff (defaults: the previous and the current
 * generation; "profiles" is GENERATIONS_PENDING); false when it replied 422. */
/* A generation number (1 or more), or "profiles" where allow_pending. */
bool api_parse_generation(const char *s, bool allow_pending, int64_t *out);
bool api_diff_args(struct req *r, const struct cluster *c, int64_t *from, int64_t *to);
void api_page_send(struct req *r, int status, struct html *h);
void api_page_error(struct req *r, int status, const char *title, const char *message,
                    const char *back);
void api_page_time(struct html *h, int64_t ms);
void api_page_time_str(struct html *h, const char *rfc3339);

/* api_page_generations.c: the diff page, the adopt and rollback forms. */
void api_page_diff(struct req *r);
void api_page_adopt(struct req *r);
void api_page_rollback(struct req *r);
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

#endif
