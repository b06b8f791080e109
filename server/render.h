/* render.h - profiles + a cluster -> Ignition JSON (spec 3.x and 2.x), and pointer configs. */
#ifndef KINDLING_RENDER_H
#define KINDLING_RENDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "profile.h"

/* The supported spec versions, highest first, NULL-terminated. */
extern const char *const render_versions[];

/* True when v is one of render_versions. */
bool render_version_known(const char *v);

/*
 * Chooses the spec version to serve: query (?version=) wins when non-NULL;
 * then the Accept header's "application/vnd.coreos.ignition+json;version=X"
 * (the highest supported version not above X with the same major); then dflt.
 * Returns K_OK with a static string in *out_version, or K_ENOTACCEPT when the
 * query names an unsupported version or Accept lists only unsupported
 * Ignition versions (and no wildcard that allows the default).
 */
enum kerr render_negotiate(const char *query, const char *accept, const char *dflt,
                           const char **out_version);

/* What rendering needs to know about a cluster. All borrowed. */
struct render_cluster {
	const char *name;
	const char *id;
	int size;
	const char *discovery_url;
	const char *discovery_token;     /* "" for an upstream URL */
	const char *discovery_endpoints; /* kindling's v3 gRPC URL, "" without one */
	const char *public_url;
	const json_t *profiles; /* array of profile names */
	const json_t *vars;     /* operator-set string values */
	const json_t *secrets;  /* generated string values */
	/* kindling's CA (--tls-ca, PEM) or NULL: written to RENDER_CA_PATH on the
	 * node, for the node's own clients of kindling (etcd, the join helper) */
	const char *ca_pem;
};

/* Where a config puts kindling's CA: Go programs (etcd) read every file of
 * /etc/ssl/certs, which Container Linux's etcd-wrapper also mounts into
 * etcd's container; curl is given it with --cacert. */
#define RENDER_CA_PATH "/etc/ssl/certs/kindling-ca.pem"

/*
 * Renders the cluster's config for version (one of render_versions). On K_OK
 * *out is malloc'd compact JSON text (stable key order) of *out_len bytes.
 * Returns K_EINVAL for an unknown version or profile, or a required or
 * generated variable without a value (profile_check and
 * profile_generate_secrets prevent that); K_ETOOBIG when the expanded
 * templates exceed PROFILE_RENDER_MAX; K_ENOMEM.
 */
enum kerr render_config(const struct profile_set *ps, const struct render_cluster *c,
                        const char *version, char **out, size_t *out_len);

/* What a pointer config says. All borrowed; hash, ca_pem may be NULL. */
struct render_pointer {
	const char *version;    /* spec version of the pointer itself */
	const char *source_url; /* the ignition URL, without token */
	const char *token;      /* fetch token: httpHeaders (>= 3.1) or ?token= (older) */
	const char *hash;       /* "sha512-<hex>" of the served bytes, or NULL */
	const char *ca_pem;     /* PEM CA bundle for security.tls, or NULL */
	int http_total_s;       /* timeouts.httpTotal */
};

/* Renders a pointer config: *out malloc'd compact JSON. K_OK, K_EINVAL, K_ENOMEM. */
enum kerr render_pointer(const struct render_pointer *p, char **out, size_t *out_len);

#endif
