/* view.c - a cluster as the operator sees it: JSON, pointer config, times. */
#include "view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "digest.h"
#include "fetchlog.h"

void view_time(int64_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

struct render_cluster view_render_input(const struct app *a, const struct cluster *c)
{
	return (struct render_cluster){
	        .name = c->name,
	        .id = c->id,
	        .size = c->size,
	        .discovery_url = c->discovery_url,
	        .discovery_token = c->discovery_token,
	        .discovery_endpoints = a->grpc_endpoint,
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

/* The registered members of a cluster's built-in discovery (new reference):
 * [{id, name, peer_urls, registered_at}] parsed from "name=url,name=url". */
static json_t *members_json(const struct app *a, const struct cluster *c)
{
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
		/* value: name=url[,name=url...] (one name, one URL per peer address) */
		const char *p = m->value;
		while (p && *p) {
			const char *e = strchr(p, '=');
			const char *comma = strchr(p, ',');
			if (!e || (comma && comma < e))
				break;
			size_t n = comma ? (size_t)(comma - e - 1) : strlen(e + 1);
			json_array_append_new(urls, json_stringn(e + 1, n));
			p = comma ? comma + 1 : NULL;
		}
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
			json_object_set_new(j, "discovery_token", json_string(c->discovery_token));
			json_object_set_new(j, "discovery_endpoints",
			                    a->grpc_endpoint[0] ? json_pack("[s]", a->grpc_endpoint)
			                                        : json_array());
		}
	}
	if (j && detail) {
		json_object_set_new(j, "pointer", view_pointer_json(a, c));
		json_object_set_new(json_object_get(j, "members"), "list", members_json(a, c));
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
