/* view.c - a cluster as the operator sees it: JSON, pointer config, times. */
#include "view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "digest.h"
#include "fetchlog.h"
#include "log.h"
#include "snapshots.h"
#include "upstream.h"

void view_time(int64_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

/* A v3 cluster on --discovery-etcd ("upstream"): its keys live in that etcd. */
static bool on_etcd(const struct app *a, const struct cluster *c)
{
	return a->cfg->discovery_etcd && !strcmp(c->discovery_protocol, "v3") &&
	       !strcmp(c->discovery_mode, "upstream") && c->discovery_url;
}

/* The v3 token: built-in, or the last segment of an etcd cluster's
 * discovery_url ("<etcd>/_etcd/registry/<token>"). */
static const char *v3_token(const struct app *a, const struct cluster *c)
{
	if (!on_etcd(a, c))
		return c->discovery_token;
	const char *slash = strrchr(c->discovery_url, '/');
	return slash ? slash + 1 : "";
}

enum kerr view_profile_set(const struct app *a, const struct cluster *c, struct profile_set **out)
{
	struct buf why;
	buf_init(&why, 256);
	enum kerr e = snapshots_set(a->snapshots, c->profiles, c->profile_versions, out, &why);
	if (e == K_EINVAL)
		log_warnx("cluster %s, generation %lld: %s", c->name, (long long)c->generation,
		          buf_str(&why));
	buf_free(&why);
	return e;
}

struct render_cluster view_render_input(const struct app *a, const struct cluster *c)
{
	return (struct render_cluster){
	        .name = c->name,
	        .id = c->id,
	        .size = c->size,
	        .discovery_url = c->discovery_url,
	        .discovery_token = v3_token(a, c),
	        .discovery_endpoints = on_etcd(a, c) ? a->cfg->discovery_etcd : a->grpc_endpoint,
	        .public_url = a->public_url,
	        .profiles = c->profiles,
	        .vars = c->vars,
	        .secrets = c->secrets,
	        .ca_pem = a->ca_pem,
	};
}

enum kerr view_pointer_config(const struct app *a, const struct cluster *c, const char *version,
                              const char *hash, char **out, size_t *out_len)
{
	char source[1024];
	snprintf(source, sizeof(source), "%s/clusters/%s/ignition%s%s", a->public_url, c->name,
	         hash ? "?version=" : "", hash ? version : "");
	char sha[DIGEST_SHA512_HEX + 8];
	if (hash)
		snprintf(sha, sizeof(sha), "sha512-%s", hash);
	struct render_pointer p = {
	        .version = version,
	        .source_url = source,
	        .token = c->fetch_token,
	        .hash = hash ? sha : NULL,
	        .ca_pem = a->ca_pem,
	        .http_total_s = a->cfg->http_total_s,
	};
	return render_pointer(&p, out, out_len);
}

json_t *view_pointer_json(const struct app *a, const struct cluster *c)
{
	char *s = NULL;
	size_t n;
	if (view_pointer_config(a, c, c->ignition_version, NULL, &s, &n) != K_OK)
		return json_null();
	json_t *j = json_loadb(s, n, 0, NULL);
	free(s);
	return j ? j : json_null();
}

/* Builds an absolute URL under the public URL for one cluster. */
static json_t *cluster_url(const struct app *a, const char *name, const char *suffix)
{
	return json_sprintf("%s/clusters/%s%s", a->public_url, name, suffix);
}

/* Collects what nodes reported (store_member_states) into an object keyed
 * by member id. */
static void state_row(const struct store_member_state *m, void *arg)
{
	json_t *o = json_pack("{s:s, s:s, s:I, s:I}", "replaces", m->replaces, "removed_by",
	                      m->removed_by, "replaced_at", (json_int_t)m->replaced_at,
	                      "removed_at", (json_int_t)m->removed_at);
	json_object_set_new(arg, m->member_id, o ? o : json_null());
}

/* Sets a time field (ISO 8601) or null. */
static void set_time(json_t *o, const char *key, int64_t ms)
{
	char t[32];
	if (ms)
		view_time(ms, t);
	json_object_set_new(o, key, ms ? json_string(t) : json_null());
}

/*
 * Adds each member's state to list (members_json's, in registration order):
 * "removed" (replaced by the member in removed_by), "replacement" (of the
 * member in replaces), else "founding" for the first size registrations
 * and "added" for a later one no replacement was reported for.
 */
static void add_states(const struct app *a, const struct cluster *c, json_t *list)
{
	json_t *states = json_object();
	if (!states || store_member_states(a->store, c->id, state_row, states) != K_OK)
		json_object_clear(states); /* shown as if nothing was reported */
	size_t i;
	json_t *m;
	json_array_foreach (list, i, m) {
		const json_t *st =
		        json_object_get(states, json_string_value(json_object_get(m, "id")));
		const char *replaces = json_string_value(json_object_get(st, "replaces"));
		const char *removed_by = json_string_value(json_object_get(st, "removed_by"));
		const char *state = removed_by && removed_by[0] ? "removed"
		                    : replaces && replaces[0]   ? "replacement"
		                    : (int)i < c->size          ? "founding"
		                                                : "added";
		json_object_set_new(m, "state", json_string(state));
		json_object_set_new(m, "replaces",
		                    replaces && replaces[0] ? json_string(replaces) : json_null());
		set_time(m, "replaced_at", json_integer_value(json_object_get(st, "replaced_at")));
		json_object_set_new(m, "removed_by",
		                    removed_by && removed_by[0] ? json_string(removed_by)
		                                                : json_null());
		set_time(m, "removed_at", json_integer_value(json_object_get(st, "removed_at")));
	}
	json_decref(states);
}

/* Appends the peer URLs of one registration value to urls. v2 (etcd's
 * initial-cluster form): "name=url[,name=url...]", one name per URL; v3
 * (V3.md): "name=url[,url...]", the name once. */
static void member_peer_urls(const char *value, bool v3, json_t *urls)
{
	const char *p = strchr(value, '=');
	while (p) {
		p++; /* the URL starts after '=' (v2, every item) or ',' (v3, later items) */
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		if (n)
			json_array_append_new(urls, json_stringn(p, n));
		if (!comma)
			break;
		p = v3 ? comma : strchr(comma + 1, '=');
	}
}

/* The registered members of a cluster's built-in discovery (new reference):
 * [{id, name, peer_urls, registered_at}] parsed from the registration value
 * (v2 "name=url,name=url", v3 "name=url,url"). */
static json_t *members_json(const struct app *a, const struct cluster *c)
{
	bool v3 = !strcmp(c->discovery_protocol, "v3");
	json_t *list = json_array();
	struct store_dir d;
	if (!c->discovery_token[0] || store_dir_get(a->store, c->discovery_token, &d) != K_OK)
		return list;
	for (size_t i = 0; i < d.n; i++) {
		const struct store_member *m = &d.members[i];
		const char *eq = strchr(m->value, '=');
		json_t *urls = json_array();
		char t[32];
		view_time(m->created_at, t);
		member_peer_urls(m->value, v3, urls);
		json_array_append_new(
		        list,
		        json_pack("{s:s, s:s%, s:o, s:I, s:s}", "id", m->id, "name", m->value,
		                  eq ? (size_t)(eq - m->value) : strlen(m->value), "peer_urls",
		                  urls, "index", (json_int_t)m->created_index, "registered_at", t));
	}
	store_dir_clear(&d);
	add_states(a, c, list);
	return list;
}

/* The members of a v3 cluster on --discovery-etcd, read from that etcd
 * (new reference; an empty list when it cannot be read), in create order. */
static json_t *etcd_members_json(const struct app *a, const struct cluster *c)
{
	json_t *list = json_array(), *kvs = NULL, *kv;
	char prefix[128];
	snprintf(prefix, sizeof(prefix), "/_etcd/registry/%s/members/", v3_token(a, c));
	const struct upstream_options uo = {.base_url = a->cfg->discovery_etcd,
	                                    .timeout_ms = a->cfg->upstream_timeout_ms,
	                                    .retries = 0};
	struct buf why;
	buf_init(&why, 512);
	enum kerr e = upstream_etcd_range(&uo, prefix, &kvs, &why);
	buf_free(&why);
	if (e != K_OK)
		return list;
	size_t i, n = json_array_size(kvs);
	for (size_t done = 0; done < n; done++) { /* selection by create_revision: n is small */
		json_t *best = NULL;
		json_array_foreach (kvs, i, kv) {
			if (json_object_get(kv, "taken"))
				continue;
			if (!best ||
			    json_integer_value(json_object_get(kv, "create_revision")) <
			            json_integer_value(json_object_get(best, "create_revision")))
				best = kv;
		}
		json_object_set_new(best, "taken", json_true());
		const char *key = json_string_value(json_object_get(best, "key"));
		const char *value = json_string_value(json_object_get(best, "value"));
		const char *eq = strchr(value, '=');
		json_t *urls = json_array();
		member_peer_urls(value, true, urls);
		json_array_append_new(
		        list,
		        json_pack("{s:s, s:s%, s:o, s:I}", "id", key + strlen(prefix), "name",
		                  value, eq ? (size_t)(eq - value) : strlen(value), "peer_urls",
		                  urls, "index",
		                  json_integer_value(json_object_get(best, "create_revision"))));
	}
	json_decref(kvs);
	return list;
}

json_t *view_cluster_json(const struct app *a, const struct cluster *c, bool detail)
{
	char created[32], updated[32], fetched[32];
	view_time(c->created_at, created);
	view_time(c->updated_at, updated);
	json_t *secret_names = json_array();
	const char *k;
	json_t *v;
	json_object_foreach (c->secrets, k, v) {
		json_array_append_new(secret_names, json_string(k));
	}
	json_t *fetches = json_pack("{s:I}", "count", (json_int_t)c->fetch_count);
	if (c->last_fetch_at) {
		view_time(c->last_fetch_at, fetched);
		json_object_set_new(fetches, "last_at", json_string(fetched));
	} else {
		json_object_set_new(fetches, "last_at", json_null());
	}
	json_t *j =
	        json_pack("{s:s, s:s, s:i, s:O, s:O, s:o, s:s, s:s, s:s, s:o, s:o, s:I, s:s, s:s, "
	                  "s:{s:i, s:i}, s:o}",
	                  "name", c->name, "id", c->id, "size", c->size, "profiles", c->profiles,
	                  "vars", c->vars, "secrets", secret_names, "ignition_version",
	                  c->ignition_version, "discovery", c->discovery_mode, "discovery_url",
	                  c->discovery_url, "ignition_url", cluster_url(a, c->name, "/ignition"),
	                  "userdata_url", cluster_url(a, c->name, "/userdata"), "generation",
	                  (json_int_t)c->generation, "created_at", created, "updated_at", updated,
	                  "members", "registered", c->members, "size", c->size, "fetches", fetches);
	if (j) {
		bool v3 = !strcmp(c->discovery_protocol, "v3");
		json_object_set_new(j, "discovery_protocol", json_string(v3 ? "v3" : "v2"));
		if (v3) {
			json_object_set_new(j, "discovery_token", json_string(v3_token(a, c)));
			json_t *eps = json_array();
			const char *p = on_etcd(a, c) ? a->cfg->discovery_etcd : a->grpc_endpoint;
			while (*p) {
				size_t n = strcspn(p, ",");
				if (n)
					json_array_append_new(eps, json_stringn(p, n));
				p += n + (p[n] == ',');
			}
			json_object_set_new(j, "discovery_endpoints", eps);
		}
	}
	if (j) { /* what the current generation was made of, and what would change */
		json_object_set(j, "profile_versions",
		                c->profile_versions ? c->profile_versions : json_null());
		json_object_set_new(j, "profiles_changed",
		                    snapshots_changes(a->snapshots, c->profiles,
		                                      c->profile_versions, c->generation));
		json_object_set_new(j, "generations_url", cluster_url(a, c->name, "/generations"));
	}
	if (j && detail) {
		json_object_set_new(j, "pointer", view_pointer_json(a, c));
		json_t *m = json_object_get(j, "members");
		if (on_etcd(a, c)) {
			json_t *list = etcd_members_json(a, c);
			json_object_set_new(m, "registered",
			                    json_integer((json_int_t)json_array_size(list)));
			json_object_set_new(m, "list", list);
		} else {
			json_object_set_new(m, "list", members_json(a, c));
		}
		struct view_nodes ns;
		if (view_nodes_get(a, c, &ns) == K_OK) {
			json_object_set_new(j, "nodes", view_nodes_json(&ns));
			json_object_set_new(j, "health",
			                    json_pack("{s:i, s:i}", "healthy", ns.healthy, "failed",
			                              ns.failed));
		}
		view_nodes_clear(&ns);
	}
	return j;
}

enum kerr view_cluster_get(const struct app *a, const char *name, struct cluster *out)
{
	if (a->fetchlog)
		fetchlog_flush(a->fetchlog);
	return store_cluster_get(a->store, name, out);
}

enum kerr view_cluster_list(const struct app *a, const struct store_list_query *q,
                            void (*fn)(const struct cluster *c, void *arg), void *arg,
                            bool *out_more, int64_t *out_total)
{
	if (a->fetchlog)
		fetchlog_flush(a->fetchlog);
	return store_cluster_list(a->store, q, fn, arg, out_more, out_total);
}
