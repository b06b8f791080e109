/* render.h - profiles + a cluster -> Ignition JSON (spec 3.x and 2.x), and pointer configs. */
#ifndef KINDLING_RENDER_H
#define KINDLING_RENDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "profile.h"

/*
 * What a spec version can express, as far as kindling's output goes. The ONE
 * table of supported versions (render.c) is made of these; negotiation,
 * validation, GET /profiles, --help and the README's table derive from it.
 */
enum render_feature {
	RENDER_HTTP_HEADERS = 1u << 0, /* ignition.config.replace.httpHeaders (3.1.0 on) */
	RENDER_TLS = 1u << 1,          /* ignition.security.tls (2.2.0 on) */
	RENDER_SHA256 = 1u << 2,       /* verification.hash "sha256-" (3.1.0 on) */
	RENDER_LUKS_CEX = 1u << 3,     /* storage.luks[].cex (3.5.0 on); profiles emit no LUKS */
	RENDER_SPECIAL_MODE = 1u << 4, /* setuid/setgid/sticky bits of a file's mode honoured
	                                  (3.6.0 on; older specs ignore them, Ignition warns) */
};

struct render_spec {
	const char *version; /* "3.6.0" */
	int major, minor;
	unsigned features;    /* enum render_feature bits */
	const char *ignition; /* the Ignition release that made it stable */
	const char *asked_by; /* which systems ask for it, for people */
};

/* The supported spec versions, highest first; render_nspecs of them. */
extern const struct render_spec render_specs[];
extern const size_t render_nspecs;

/* The same versions as strings, highest first, NULL-terminated. */
extern const char *const render_versions[];

/* True when v is one of render_versions. */
bool render_version_known(const char *v);

/* The row of version v (borrowed, static), or NULL when v is not supported. */
const struct render_spec *render_spec_find(const char *v);

/* Appends "3.6.0, 3.5.0, ..." (the supported versions) to b. */
void render_versions_list(struct buf *b);

/* Returns a new reference: {"default", "versions": [{version, stable_since,
 * asked_by, features: [...]}], "features": [{name, since, description}]}. */
json_t *render_describe(const char *dflt);

/*
 * Checks that version can express everything the chosen profiles (array of
 * names) put on a node: a file whose mode has setuid/setgid/sticky bits needs
 * RENDER_SPECIAL_MODE. For each problem appends {field, message} to errors
 * (when non-NULL; the message names profile, file and reason, and the
 * versions that can). Returns K_OK, K_ENOTACCEPT when version cannot express
 * them, or K_EINVAL for an unknown version or profile.
 */
enum kerr render_check(const struct profile_set *ps, const json_t *profiles, const char *version,
                       const char *field, json_t *errors);

/* Returns a new reference: the feature names (["special_mode_bits"]) that
 * profile p needs beyond the oldest spec, and "versions": the supported
 * versions that can express it. {"needs": [...], "versions": [...]}. */
json_t *render_profile_needs(const struct profile_set *ps, const char *name);

/*
 * Chooses the spec version to serve: query (?version=) wins when non-NULL;
 * then the Accept header's "application/vnd.coreos.ignition+json;version=X";
 * then dflt. Both X and query resolve by one rule: the highest supported
 * version not above it with the same major (3.7.0 -> 3.6.0, 3.5.0 -> 3.5.0,
 * "3.4.0-experimental" -> 3.3.0), as Ignition itself accepts any older spec
 * of its major. Returns K_OK with a static string in *out_version, or
 * K_ENOTACCEPT when the query is no version or none of its major is
 * supported (4.0.0, 2.0.0), or Accept lists only such Ignition versions (and
 * no wildcard that allows the default).
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
 * Returns K_ENOTACCEPT when version cannot express the profiles (see
 * render_check: never a config with something left out); K_EINVAL for an
 * unknown version or profile, or a required or
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
