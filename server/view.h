/* view.h - what an operator is shown of a cluster: its JSON, its pointer
 * config, the times, and reads that include the latest fetches. Knows
 * nothing of HTTP; the JSON routes and the pages both build on it. */
#ifndef KINDLING_VIEW_H
#define KINDLING_VIEW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "app.h"
#include "render.h"

/* Formats ms since the epoch as RFC 3339 UTC with milliseconds (25 bytes). */
void view_time(int64_t ms, char out[32]);

/* The cluster's JSON (new reference; NULL when out of memory). Generated
 * secrets are listed by name only; detail adds the pointer config and the
 * registered members. */
json_t *view_cluster_json(const struct app *a, const struct cluster *c, bool detail);

/* The cluster's pointer config as JSON (new reference; null on failure). */
json_t *view_pointer_json(const struct app *a, const struct cluster *c);

/* The pointer config for spec version (its ?version= and its sha512 when
 * hash is given) into *out (malloc'd, *out_len bytes). K_OK, K_ENOMEM. */
enum kerr view_pointer_config(const struct app *a, const struct cluster *c, const char *version,
                              const char *hash, char **out, size_t *out_len);

/* The profiles c's generation renders with (snapshots.h): *out a new set
 * (profile_set_free). K_OK, K_EINVAL (a version that cannot be loaded: it
 * is logged), store errors. */
enum kerr view_profile_set(const struct app *a, const struct cluster *c, struct profile_set **out);

/* What rendering needs to know about c (all borrowed from c and a). */
struct render_cluster view_render_input(const struct app *a, const struct cluster *c);

/* store_cluster_get and store_cluster_list, with the fetches recorded so far
 * counted (the fetch log is flushed first). Same contracts. */
enum kerr view_cluster_get(const struct app *a, const char *name, struct cluster *out);
enum kerr view_cluster_list(const struct app *a, const struct store_list_query *q,
                            void (*fn)(const struct cluster *c, void *arg), void *arg,
                            bool *out_more, int64_t *out_total);

/* At most this many nodes are shown of a cluster (reports, fetches and
 * registrations together). */
#define VIEW_NODES_MAX 256

/* One node of a cluster: what kindling saw of it, joined by address. */
struct view_node {
	char name[256]; /* the host name it reported, else its member name or address */
	int64_t fetched_at, registered_at, reported_at; /* ms; 0: not seen */
	bool failed;                                    /* its report lists failed units */
	json_t *json; /* {name, addresses, state, fetched_at, registered_at,
	               * reported_at, member, report} (owned) */
};

/* A cluster's nodes, reported ones first (newest report first), then the
 * others in the order of their newest fetch, then registered-only members. */
struct view_nodes {
	struct view_node *v;
	size_t n;
	int healthy, failed; /* reported nodes without / with failed units */
};

/* Fills *out (clear it with view_nodes_clear, also after an error). K_OK,
 * K_ENOMEM, K_EIO, K_EUNAVAIL. Node-supplied text in it is untrusted. */
enum kerr view_nodes_get(const struct app *a, const struct cluster *c, struct view_nodes *out);

/* Releases the nodes and zeroes *ns. Accepts NULL. */
void view_nodes_clear(struct view_nodes *ns);

/* The nodes' JSON array (new reference). */
json_t *view_nodes_json(const struct view_nodes *ns);

/* How many nodes of the cluster with that id reported healthy and with
 * failed units (for the list page). K_OK or a store error (the counts then
 * are what was read). */
enum kerr view_health(const struct app *a, const char *cluster_id, int *out_healthy,
                      int *out_failed);

#endif
