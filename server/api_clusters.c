/* api_clusters.c - /clusters: create, list, read, change and delete clusters. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "fields.h"
#include "service.h"
#include "view.h"

#define NAME_MAX_LEN 63
#define LIST_DEFAULT 100
#define LIST_MAX     1000

/* Resumed once the service reported: 201 with the cluster, or the error. */
static void create_done(struct req *r)
{
	struct api_call *call = req_data(r);
	if (call->rep.err != K_OK) {
		api_reply_service_error(r, &call->rep);
		return;
	}
	char location[128];
	snprintf(location, sizeof(location), "/clusters/%s", call->rep.c.name);
	reply_header(r, "Location", location);
	reply_json(r, 201, view_cluster_json(req_app(r), &call->rep.c, true));
}

void api_clusters_create(struct req *r)
{
	json_t *body = api_body_object(r);
	struct api_call *call = body ? api_call_start(r, create_done) : NULL;
	if (call)
		service_create(req_app(r), body, &call->rep, api_call_done, call);
	json_decref(body);
}

void api_cluster_get(struct req *r)
{
	const struct app *a = req_app(r);
	const char *name = req_param(r, "name");
	struct cluster c;
	enum kerr e = view_cluster_get(a, name, &c);
	if (e != K_OK) {
		api_reply_store_error(r, e, name);
		return;
	}
	reply_json(r, 200, view_cluster_json(a, &c, true));
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
	json_array_append_new(lc->items, view_cluster_json(lc->a, c, false));
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
			field_error(errors, "sort", "must be name, -name, created or -created");
		else
			q->sort = sorts[i].sort;
	}
	long long limit = LIST_DEFAULT;
	s = req_query(r, "limit");
	if (s && !parse_int(s, 1, LIST_MAX, &limit))
		field_error(errors, "limit", "must be a whole number from 1 to %d", LIST_MAX);
	q->limit = (int)limit;
	q->q = req_query(r, "q");
	if (q->q && strlen(q->q) > NAME_MAX_LEN)
		field_error(errors, "q", "must be at most %d characters", NAME_MAX_LEN);
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
		if (!name || !name_valid(name, strlen(name)))
			field_error(errors, "cursor",
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
	json_t *errors = json_array();
	parse_list_query(r, &q, errors);
	if (json_array_size(errors)) {
		reply_invalid(r, errors);
		return;
	}
	json_decref(errors);
	struct list_ctx lc = {.a = a, .items = json_array(), .sort = q.sort};
	bool more = false;
	int64_t total = 0;
	enum kerr e = view_cluster_list(a, &q, list_one, &lc, &more, &total);
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

static void patch_done(struct req *r)
{
	struct api_call *call = req_data(r);
	if (call->rep.err != K_OK)
		api_reply_service_error(r, &call->rep);
	else
		reply_json(r, 200, view_cluster_json(req_app(r), &call->rep.c, true));
}

/*
 * PATCH /clusters/NAME makes a new generation, of one of:
 *   {"vars": {...}}                         a merge patch of vars
 *   {"adopt_profiles": true[, "vars": ...]} the template folders' profiles
 *   {"rollback_to": N}                      generation N's inputs again
 */
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
		if (!strcmp(key, "vars") || !strcmp(key, "adopt_profiles") ||
		    !strcmp(key, "rollback_to"))
			continue;
		if (!strcmp(key, "size"))
			field_error(errors, key,
			            "cannot be changed: the discovery size is "
			            "fixed when the cluster is created");
		else if (!strcmp(key, "name") || !strcmp(key, "profiles") ||
		         !strcmp(key, "ignition_version") || !strcmp(key, "discovery") ||
		         !strcmp(key, "discovery_protocol") || !strcmp(key, "id"))
			field_error(errors, key,
			            "cannot be changed; only vars can (or adopt_profiles, "
			            "rollback_to)");
		else
			field_error(
			        errors, key,
			        "unknown field; a change is vars, adopt_profiles or rollback_to");
	}
	json_t *patch = json_object_get(body, "vars");
	json_t *adopt = json_object_get(body, "adopt_profiles");
	json_t *rollback = json_object_get(body, "rollback_to");
	if (!patch && !adopt && !rollback)
		field_error(
		        errors, "vars",
		        "is required (an object; null removes a variable), unless the change is "
		        "adopt_profiles or rollback_to");
	else if (patch && !json_is_object(patch))
		field_error(errors, "vars", "must be an object of strings (null removes one)");
	if (adopt && !json_is_true(adopt))
		field_error(
		        errors, "adopt_profiles",
		        "must be true (adopts the profile files the template folders hold now)");
	if (rollback && (!json_is_integer(rollback) || json_integer_value(rollback) < 1))
		field_error(errors, "rollback_to", "must be a generation number (1 or more)");
	else if (rollback && (patch || adopt))
		field_error(
		        errors, "rollback_to",
		        "cannot be combined with vars or adopt_profiles: a rollback brings back "
		        "all of a generation's inputs");
	if (json_array_size(errors)) {
		reply_invalid(r, errors);
		errors = NULL;
		goto out;
	}
	struct api_call *call = api_call_start(r, patch_done);
	if (call && rollback)
		service_rollback(req_app(r), name, json_integer_value(rollback), &call->rep,
		                 api_call_done, call);
	else if (call && adopt)
		service_adopt_profiles(req_app(r), name, patch, &call->rep, api_call_done, call);
	else if (call)
		service_set_vars(req_app(r), name, patch, &call->rep, api_call_done, call);
out:
	json_decref(body);
	json_decref(errors);
}

static void delete_done(struct req *r)
{
	struct api_call *call = req_data(r);
	if (call->rep.err != K_OK)
		api_reply_service_error(r, &call->rep);
	else
		reply_static(r, 204, NULL, "", 0);
}

void api_cluster_delete(struct req *r)
{
	const char *name = req_param(r, "name");
	struct api_call *call = api_call_start(r, delete_done);
	if (call)
		service_delete(req_app(r), name, &call->rep, api_call_done, call);
}
