/* api_clusters.c - /clusters: create, list, read, change and delete clusters. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "fetchlog.h"
#include "rand.h"
#include "render.h"
#include "upstream.h"

#define NAME_MAX_LEN 63
#define LIST_DEFAULT 100
#define LIST_MAX     1000

/* Builds an absolute URL under the public URL for one cluster. */
static json_t *cluster_url(const struct app *a, const char *name, const char *suffix)
{
	return json_sprintf("%s/clusters/%s%s", a->public_url, name, suffix);
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
		api_time(m->created_at, t);
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
	return list;
}

/* Generated secrets are listed by name only. */
json_t *api_cluster_json(const struct app *a, const struct cluster *c, bool detail)
{
	char created[32], updated[32], fetched[32];
	api_time(c->created_at, created);
	api_time(c->updated_at, updated);
	json_t *secret_names = json_array();
	const char *k;
	json_t *v;
	json_object_foreach (c->secrets, k, v) {
		json_array_append_new(secret_names, json_string(k));
	}
	json_t *fetches = json_pack("{s:I}", "count", (json_int_t)c->fetch_count);
	if (c->last_fetch_at) {
		api_time(c->last_fetch_at, fetched);
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
		json_object_set_new(j, "pointer", api_pointer_json(a, c));
		json_object_set_new(json_object_get(j, "members"), "list", members_json(a, c));
	}
	return j;
}

/* Checks the fields of a create body; fills c's scalar fields. */
static void check_create(const struct app *a, json_t *body, struct cluster *c, json_t *errors)
{
	static const char *const known[] = {"name",
	                                    "size",
	                                    "profiles",
	                                    "vars",
	                                    "ignition_version",
	                                    "discovery",
	                                    "discovery_protocol"};
	const char *key;
	json_t *v;
	json_object_foreach (body, key, v) {
		bool ok = false;
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			ok = ok || !strcmp(key, known[i]);
		if (!ok)
			api_field_error(errors, key,
			                "unknown field; known fields are name, size, "
			                "profiles, vars, ignition_version, discovery, "
			                "discovery_protocol");
	}

	v = json_object_get(body, "name");
	if (!v)
		api_field_error(errors, "name", "is required");
	else if (!json_is_string(v))
		api_field_error(errors, "name", "must be a string");
	else if (!api_valid_name(json_string_value(v), json_string_length(v)))
		api_field_error(errors, "name",
		                "must be a DNS label: 1 to 63 characters of a-z, 0-9 and '-', "
		                "starting and ending with a letter or digit");
	else
		str_copy(c->name, sizeof(c->name), json_string_value(v));

	v = json_object_get(body, "size");
	if (!v)
		api_field_error(errors, "size", "is required");
	else if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 99)
		api_field_error(errors, "size", "must be a whole number from 1 to 99");
	else
		c->size = (int)json_integer_value(v);

	v = json_object_get(body, "ignition_version");
	const char *version = a->cfg->ignition_version;
	if (v && (!json_is_string(v) || !render_version_known(json_string_value(v)))) {
		struct buf list;
		buf_init(&list, 256);
		for (const char *const *p = render_versions; *p; p++)
			buf_addf(&list, "%s%s", p == render_versions ? "" : ", ", *p);
		api_field_error(errors, "ignition_version", "must be one of %s", buf_str(&list));
		buf_free(&list);
	} else if (v) {
		version = json_string_value(v);
	}
	str_copy(c->ignition_version, sizeof(c->ignition_version), version);

	v = json_object_get(body, "discovery");
	const char *mode = a->cfg->discovery_upstream ? "upstream" : "builtin";
	if (v && (!json_is_string(v) || (strcmp(json_string_value(v), "builtin") != 0 &&
	                                 strcmp(json_string_value(v), "upstream") != 0)))
		api_field_error(errors, "discovery", "must be \"builtin\" or \"upstream\"");
	else if (v)
		mode = json_string_value(v);
	if (!strcmp(mode, "upstream") && !a->cfg->discovery_upstream)
		api_field_error(errors, "discovery",
		                "\"upstream\" needs kindling started with --discovery-upstream");
	str_copy(c->discovery_mode, sizeof(c->discovery_mode), mode);

	/* v2: --discovery=<url> (etcd <= 3.5); v3: --discovery-token and
	 * --discovery-endpoints on kindling's gRPC listener (etcd >= 3.6) */
	v = json_object_get(body, "discovery_protocol");
	const char *proto = "v2";
	if (v && (!json_is_string(v) || (strcmp(json_string_value(v), "v2") != 0 &&
	                                 strcmp(json_string_value(v), "v3") != 0)))
		api_field_error(errors, "discovery_protocol", "must be \"v2\" or \"v3\"");
	else if (v)
		proto = json_string_value(v);
	if (!strcmp(proto, "v3") && strcmp(mode, "builtin") != 0)
		api_field_error(
		        errors, "discovery_protocol",
		        "\"v3\" is served by kindling itself: it needs discovery \"builtin\"");
	else if (!strcmp(proto, "v3") && !a->grpc_endpoint[0])
		api_field_error(errors, "discovery_protocol",
		                "\"v3\" needs kindling started with --grpc-listen");
	str_copy(c->discovery_protocol, sizeof(c->discovery_protocol), proto);
}

/* The shipped etcd profiles render one protocol's flags each: etcd the v2
 * --discovery drop-in, etcd-v3 --discovery-token/--discovery-endpoints. */
static void check_protocol_profiles(const json_t *profiles, bool v3, json_t *errors)
{
	size_t i;
	json_t *p;
	json_array_foreach (profiles, i, p) {
		const char *name = json_string_value(p);
		if (!name)
			continue;
		if (v3 && !strcmp(name, "etcd"))
			api_field_error(errors, "profiles",
			                "profile etcd renders v2 discovery (--discovery); a "
			                "discovery_protocol v3 cluster uses etcd-v3");
		else if (!v3 && !strcmp(name, "etcd-v3"))
			api_field_error(errors, "profiles",
			                "profile etcd-v3 renders v3 discovery; give "
			                "\"discovery_protocol\": \"v3\" (needs --grpc-listen)");
	}
}

/* Checks profiles and vars (present or defaulted) with the profile set. */
static void check_profiles(const struct app *a, json_t *profiles, json_t *vars, json_t *errors)
{
	if (!json_is_array(profiles)) {
		api_field_error(errors, "profiles", "must be an array of profile names");
		return;
	}
	if (!json_is_object(vars)) {
		api_field_error(errors, "vars", "must be an object of strings");
		return;
	}
	if ((int)json_array_size(profiles) > a->cfg->max_profiles) {
		api_field_error(errors, "profiles", "at most %d profiles (--max-profiles)",
		                a->cfg->max_profiles);
		return;
	}
	if ((int)json_object_size(vars) > a->cfg->max_vars) {
		api_field_error(errors, "vars", "at most %d variables (--max-vars)",
		                a->cfg->max_vars);
		return;
	}
	profile_check(a->profiles, profiles, vars, errors);
}

/* Resumed after the commit: replies 201 with the stored cluster, or the error. */
static void create_stored(struct req *r)
{
	const struct app *a = req_app(r);
	struct api_write *w = req_data(r);
	struct cluster stored;
	enum kerr e = w->job.result;
	if (e == K_OK)
		e = store_cluster_get(a->store, w->c.name, &stored);
	if (e != K_OK) {
		api_reply_store_error(r, e, w->c.name);
		return;
	}
	char location[128];
	snprintf(location, sizeof(location), "/clusters/%s", w->c.name);
	reply_header(r, "Location", location);
	reply_json(r, 201, api_cluster_json(a, &stored, true));
	cluster_clear(&stored);
}

/* Hands the validated cluster (its discovery URL set) to the writer. */
static void submit_create(struct api_write *w)
{
	w->c.created_at = w->c.updated_at = store_now_ms();
	w->job.create = &w->c;
	w->on_done = create_stored;
	api_write_submit(w);
}

/* Upstream allocations under way, and the flag that cuts them short at stop. */
static atomic_int upstream_running;
static atomic_bool upstream_cancel;

static void *upstream_run(void *arg)
{
	struct api_write *w = arg;
	const struct app *a = req_app(w->r);
	const struct upstream_options o = {.base_url = a->cfg->discovery_upstream,
	                                   .timeout_ms = a->cfg->upstream_timeout_ms,
	                                   .retries = a->cfg->upstream_retries,
	                                   .cancel = &upstream_cancel};
	struct buf why;
	buf_init(&why, sizeof(w->why) - 1);
	w->job.result = upstream_new(&o, w->c.size, &w->c.discovery_url, &why);
	str_copy(w->why, sizeof(w->why), buf_str(&why));
	buf_free(&why);
	req_resume(w->r);
	atomic_fetch_sub(&upstream_running, 1);
	return NULL;
}

static void upstream_done(struct req *r)
{
	struct api_write *w = req_data(r);
	if (w->job.result == K_EUNAVAIL)
		reply_error(r, K_EUNAVAIL, "kindling is stopping; nothing was stored, retry");
	else if (w->job.result != K_OK)
		reply_error(r, w->job.result == K_ENOMEM ? K_ENOMEM : K_EUPSTREAM,
		            "the discovery upstream failed, nothing was stored: %s", w->why);
	else if (!profile_builtin_valid("discovery_url", w->c.discovery_url))
		reply_error(r, K_EUPSTREAM,
		            "the discovery upstream answered a URL that cannot go into a unit "
		            "(only plain http(s) URL characters); nothing was stored");
	else
		submit_create(w);
}

void api_upstream_stop(int timeout_ms)
{
	atomic_store(&upstream_cancel, true);
	for (int waited = 0; atomic_load(&upstream_running) > 0 && waited < timeout_ms;
	     waited += 10) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

/*
 * Allocates the discovery URL from --discovery-upstream on a thread of its
 * own (a slow upstream must not hold an HTTP worker), then stores it.
 * Checks the name first, so a duplicate does not spend an upstream token.
 */
static void create_upstream(struct api_write *w)
{
	struct req *r = w->r;
	const struct app *a = req_app(r);
	struct cluster existing;
	if (store_cluster_get(a->store, w->c.name, &existing) == K_OK) {
		cluster_clear(&existing);
		api_reply_store_error(r, K_EEXIST, w->c.name);
		return;
	}
	if (atomic_load(&upstream_cancel)) {
		reply_error(r, K_EUNAVAIL, "kindling is stopping; nothing was stored, retry");
		return;
	}
	req_suspend(r, upstream_done);
	atomic_fetch_add(&upstream_running, 1);
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, upstream_run, w) != 0) {
		atomic_fetch_sub(&upstream_running, 1);
		w->job.result = K_ENOMEM;
		snprintf(w->why, sizeof(w->why), "cannot start a thread");
		req_resume(r);
	}
	pthread_attr_destroy(&attr);
}

void api_clusters_create(struct req *r)
{
	const struct app *a = req_app(r);
	json_t *errors = json_array();
	json_t *body = api_body_object(r);
	struct api_write *w = body ? api_write_new(r, WRITE_CREATE, "", create_stored) : NULL;
	if (!w)
		goto out;
	struct cluster *c = &w->c;
	check_create(a, body, c, errors);
	str_copy(w->name, sizeof(w->name), c->name);
	json_t *profiles = json_object_get(body, "profiles");
	json_t *vars = json_object_get(body, "vars");
	bool v3 = !strcmp(c->discovery_protocol, "v3");
	c->profiles = profiles ? json_incref(profiles) : json_pack("[s]", v3 ? "etcd-v3" : "etcd");
	check_protocol_profiles(c->profiles, v3, errors);
	c->vars = vars ? json_incref(vars) : json_object();
	check_profiles(a, c->profiles, c->vars, errors);
	if (json_array_size(errors)) {
		reply_invalid(r, errors);
		errors = NULL;
		goto out;
	}
	enum kerr e = profile_generate_secrets(a->profiles, c->profiles, c->vars, &c->secrets);
	if (e == K_OK)
		e = rand_uuid(c->id);
	if (e == K_OK)
		e = rand_hex(c->fetch_token, 32);
	if (e == K_OK && !strcmp(c->discovery_mode, "builtin"))
		e = rand_hex(c->discovery_token, 16);
	if (e == K_OK && c->discovery_token[0] &&
	    asprintf(&c->discovery_url, "%s/discovery/%s", a->public_url, c->discovery_token) < 0) {
		c->discovery_url = NULL;
		e = K_ENOMEM;
	}
	if (e != K_OK) {
		reply_error(r, e, "cannot generate secrets: %s", kerr_str(e));
		goto out;
	}
	if (c->discovery_token[0])
		submit_create(w);
	else
		create_upstream(w);
out:
	json_decref(body);
	json_decref(errors);
}

void api_cluster_get(struct req *r)
{
	const struct app *a = req_app(r);
	const char *name = req_param(r, "name");
	struct cluster c;
	if (api_wants_html(r)) {
		api_page_cluster(r);
		return;
	}
	if (a->fetchlog)
		fetchlog_flush(a->fetchlog);
	enum kerr e = store_cluster_get(a->store, name, &c);
	if (e != K_OK) {
		api_reply_store_error(r, e, name);
		return;
	}
	reply_json(r, 200, api_cluster_json(a, &c, true));
	cluster_clear(&c);
}

/* Parses a whole number in [min, max]; false when s is not one. */
static bool parse_int(const char *s, long long min, long long max, long long *out)
{
	if (!s || !*s)
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

struct list_ctx {
	const struct app *a;
	json_t *items;
	enum store_sort sort;
	char last[128]; /* cursor of the last item */
};

static void list_one(const struct cluster *c, void *arg)
{
	struct list_ctx *lc = arg;
	json_array_append_new(lc->items, api_cluster_json(lc->a, c, false));
	if (lc->sort == SORT_CREATED || lc->sort == SORT_CREATED_DESC)
		snprintf(lc->last, sizeof(lc->last), "%" PRId64 ".%s", c->created_at, c->name);
	else
		str_copy(lc->last, sizeof(lc->last), c->name);
}

/* Parses ?sort=, ?limit=, ?cursor= and ?q= into q; appends field errors. */
static void parse_list_query(struct req *r, struct store_list_query *q, json_t *errors)
{
	static const struct {
		const char *name;
		enum store_sort sort;
	} sorts[] = {{"name", SORT_NAME},
	             {"-name", SORT_NAME_DESC},
	             {"created", SORT_CREATED},
	             {"-created", SORT_CREATED_DESC}};
	const char *s = req_query(r, "sort");
	q->sort = SORT_NAME;
	if (s) {
		size_t i = 0;
		while (i < 4 && strcmp(s, sorts[i].name) != 0)
			i++;
		if (i == 4)
			api_field_error(errors, "sort", "must be name, -name, created or -created");
		else
			q->sort = sorts[i].sort;
	}
	long long limit = LIST_DEFAULT;
	s = req_query(r, "limit");
	if (s && !parse_int(s, 1, LIST_MAX, &limit))
		api_field_error(errors, "limit", "must be a whole number from 1 to %d", LIST_MAX);
	q->limit = (int)limit;
	q->q = req_query(r, "q");
	if (q->q && strlen(q->q) > NAME_MAX_LEN)
		api_field_error(errors, "q", "must be at most %d characters", NAME_MAX_LEN);
	s = req_query(r, "cursor");
	if (s) {
		bool by_time = q->sort == SORT_CREATED || q->sort == SORT_CREATED_DESC;
		const char *name = s;
		if (by_time) {
			const char *dot = strchr(s, '.');
			char num[24];
			long long t;
			if (dot && (size_t)(dot - s) < sizeof(num)) {
				memcpy(num, s, (size_t)(dot - s));
				num[dot - s] = '\0';
			}
			if (!dot || (size_t)(dot - s) >= sizeof(num) ||
			    !parse_int(num, 0, INT64_MAX, &t)) {
				name = NULL;
			} else {
				q->cursor_time = t;
				name = dot + 1;
			}
		}
		if (!name || !api_valid_name(name, strlen(name)))
			api_field_error(errors, "cursor",
			                "is not a cursor of this sort order; use next_cursor "
			                "from the previous page with the same sort");
		q->has_cursor = true;
		q->cursor_name = name;
	}
}

void api_clusters_list(struct req *r)
{
	const struct app *a = req_app(r);
	struct store_list_query q = {0};
	if (api_wants_html(r)) {
		api_page_list(r);
		return;
	}
	json_t *errors = json_array();
	parse_list_query(r, &q, errors);
	if (json_array_size(errors)) {
		reply_invalid(r, errors);
		return;
	}
	json_decref(errors);
	struct list_ctx lc = {.a = a, .items = json_array(), .sort = q.sort};
	if (a->fetchlog)
		fetchlog_flush(a->fetchlog);
	bool more = false;
	int64_t total = 0;
	enum kerr e = store_cluster_list(a->store, &q, list_one, &lc, &more, &total);
	if (e != K_OK) {
		json_decref(lc.items);
		api_reply_store_error(r, e, "");
		return;
	}
	json_t *j = json_pack("{s:o, s:I}", "clusters", lc.items, "total", (json_int_t)total);
	if (more) {
		json_object_set_new(j, "next_cursor", json_string(lc.last));
		json_t *link = json_sprintf("</clusters?limit=%d&cursor=%s%s%s>; rel=\"next\"",
		                            q.limit, lc.last, req_query(r, "sort") ? "&sort=" : "",
		                            req_query(r, "sort") ? req_query(r, "sort") : "");
		if (link && !q.q)
			reply_header(r, "Link", json_string_value(link));
		json_decref(link);
	} else {
		json_object_set_new(j, "next_cursor", json_null());
	}
	reply_json(r, 200, j);
}

/* Applies an RFC 7396 merge patch of vars onto a copy of old (new reference). */
static json_t *merge_vars(const json_t *old, json_t *patch)
{
	json_t *vars = json_deep_copy(old);
	const char *k;
	json_t *v;
	json_object_foreach (patch, k, v) {
		if (json_is_null(v))
			json_object_del(vars, k);
		else
			json_object_set(vars, k, v);
	}
	return vars;
}

/* On the writer thread, inside the transaction: merges the patch into the
 * row's vars and checks them with the profiles. */
static enum kerr patch_mutate(void *arg, struct cluster *c)
{
	struct api_write *w = arg;
	const struct app *a = req_app(w->r);
	json_t *vars = merge_vars(c->vars, w->patch);
	if (!vars)
		return K_ENOMEM;
	check_profiles(a, c->profiles, vars, w->errors);
	if (json_array_size(w->errors)) {
		json_decref(vars);
		return K_EINVAL;
	}
	json_decref(c->vars);
	c->vars = vars;
	return K_OK;
}

static void patch_done(struct req *r)
{
	const struct app *a = req_app(r);
	struct api_write *w = req_data(r);
	if (w->job.result == K_EINVAL) {
		reply_invalid(r, w->errors);
		w->errors = NULL;
	} else if (w->job.result != K_OK) {
		api_reply_store_error(r, w->job.result, w->name);
	} else {
		reply_json(r, 200, api_cluster_json(a, &w->job.out, true));
	}
}

void api_cluster_patch(struct req *r)
{
	const char *name = req_param(r, "name");
	json_t *errors = json_array();
	json_t *body = api_body_object(r);
	if (!body)
		goto out;
	const char *key;
	json_t *v;
	json_object_foreach (body, key, v) {
		if (!strcmp(key, "vars"))
			continue;
		if (!strcmp(key, "size"))
			api_field_error(errors, key,
			                "cannot be changed: the discovery size is "
			                "fixed when the cluster is created");
		else if (!strcmp(key, "name") || !strcmp(key, "profiles") ||
		         !strcmp(key, "ignition_version") || !strcmp(key, "discovery") ||
		         !strcmp(key, "discovery_protocol") || !strcmp(key, "id"))
			api_field_error(errors, key, "cannot be changed; only vars can");
		else
			api_field_error(errors, key, "unknown field; only vars can be changed");
	}
	json_t *patch = json_object_get(body, "vars");
	if (!patch)
		api_field_error(errors, "vars", "is required (an object; null removes a variable)");
	else if (!json_is_object(patch))
		api_field_error(errors, "vars", "must be an object of strings (null removes one)");
	if (json_array_size(errors)) {
		reply_invalid(r, errors);
		errors = NULL;
		goto out;
	}
	/* read, merge, check and write in one transaction, on the writer */
	struct api_write *w = api_write_new(r, WRITE_UPDATE, name, patch_done);
	if (!w)
		goto out;
	w->patch = json_incref(patch);
	w->errors = errors;
	errors = NULL;
	w->job.mutate = patch_mutate;
	w->job.mutate_arg = w;
	api_write_submit(w);
out:
	json_decref(body);
	json_decref(errors);
}

static void delete_done(struct req *r)
{
	struct api_write *w = req_data(r);
	if (w->job.result != K_OK)
		api_reply_store_error(r, w->job.result, w->name);
	else
		reply_static(r, 204, NULL, "", 0);
}

void api_cluster_delete(struct req *r)
{
	struct api_write *w = api_write_new(r, WRITE_DELETE, req_param(r, "name"), delete_done);
	if (w)
		api_write_submit(w);
}
