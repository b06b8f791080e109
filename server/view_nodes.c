/* view_nodes.c - a cluster's nodes as the operator follows them booting:
 * fetched (the fetch log) -> registered (discovery) -> reported healthy or
 * with failed units (boot reports), joined by the node's addresses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"

/* The lane that has address addr (or name: the node's name), or NULL. */
static struct view_node *find(struct view_nodes *ns, const char *addr, const char *name)
{
	for (size_t i = 0; i < ns->n; i++) {
		struct view_node *v = &ns->v[i];
		size_t k;
		const json_t *a;
		json_array_foreach (json_object_get(v->json, "addresses"), k, a) {
			if (addr && !strcmp(json_string_value(a), addr))
				return v;
		}
		if (name && !strcmp(v->name, name))
			return v;
	}
	return NULL;
}

/* A new lane named name with address addr (when not NULL), or NULL when
 * VIEW_NODES_MAX are shown or out of memory. */
static struct view_node *add(struct view_nodes *ns, const char *name, const char *addr)
{
	if (ns->n == VIEW_NODES_MAX)
		return NULL;
	struct view_node *v = &ns->v[ns->n];
	memset(v, 0, sizeof(*v));
	str_copy(v->name, sizeof(v->name), name);
	v->json = json_pack("{s:s, s:[], s:s, s:n, s:n, s:n, s:n, s:n}", "name", name, "addresses",
	                    "state", "fetched", "fetched_at", "registered_at", "reported_at",
	                    "member", "report");
	if (!v->json)
		return NULL;
	if (addr)
		json_array_append_new(json_object_get(v->json, "addresses"), json_string(addr));
	ns->n++;
	return v;
}

static void set_time(struct view_node *v, const char *key, int64_t ms)
{
	char t[32];
	view_time(ms, t);
	json_object_set_new(v->json, key, json_string(t));
}

static void on_report(const struct store_report *r, void *arg)
{
	struct view_nodes *ns = arg;
	json_t *body = json_loads(r->body, 0, NULL);
	struct view_node *v = body ? add(ns, r->node, NULL) : NULL;
	if (!v) {
		json_decref(body);
		return;
	}
	json_t *addrs = json_object_get(v->json, "addresses");
	json_array_extend(addrs, json_object_get(body, "addresses"));
	const char *client = json_string_value(json_object_get(body, "client"));
	if (client && client[0] && !find(ns, client, NULL))
		json_array_append_new(addrs, json_string(client));
	v->reported_at = r->at;
	v->failed = r->failed > 0;
	set_time(v, "reported_at", r->at);
	json_object_set_new(v->json, "state", json_string(v->failed ? "failed" : "healthy"));
	json_object_set_new(v->json, "report", body);
}

static void on_fetch(const struct store_fetch *f, void *arg)
{
	struct view_nodes *ns = arg;
	if (f->status != 200 && f->status != 304)
		return;
	struct view_node *v = find(ns, f->client, NULL);
	if (!v)
		v = add(ns, f->client, f->client);
	if (v && !v->fetched_at) { /* newest first: the newest fetch of the node */
		v->fetched_at = f->at;
		set_time(v, "fetched_at", f->at);
	}
}

/* The host of the first peer URL in a member's value ("name=http://h:p,..."). */
static void peer_host(const char *value, char *out, size_t n)
{
	out[0] = '\0';
	const char *p = strstr(value, "://");
	if (!p)
		return;
	p += 3;
	size_t len;
	if (*p == '[') {
		p++;
		len = strcspn(p, "]");
	} else {
		len = strcspn(p, ":/,");
	}
	snprintf(out, n, "%.*s", (int)len, p);
}

static void on_member(struct view_nodes *ns, const struct store_member *m)
{
	char name[64], host[64];
	size_t nl = strcspn(m->value, "=");
	snprintf(name, sizeof(name), "%.*s", (int)nl, m->value);
	peer_host(m->value, host, sizeof(host));
	struct view_node *v = find(ns, host[0] ? host : NULL, name);
	if (!v)
		v = add(ns, name, host[0] ? host : NULL);
	if (!v || v->registered_at)
		return;
	v->registered_at = m->created_at;
	set_time(v, "registered_at", m->created_at);
	json_object_set_new(v->json, "member", json_string(name));
	if (!v->reported_at)
		json_object_set_new(v->json, "state", json_string("registered"));
}

enum kerr view_nodes_get(const struct app *a, const struct cluster *c, struct view_nodes *out)
{
	memset(out, 0, sizeof(*out));
	out->v = calloc(VIEW_NODES_MAX, sizeof(*out->v));
	if (!out->v)
		return K_ENOMEM;
	enum kerr e = store_reports_list(a->store, c->id, on_report, out);
	if (e == K_OK)
		e = store_fetches_list(a->store, c->id, a->cfg->fetch_log_size, on_fetch, out);
	struct store_dir d;
	if (e == K_OK && c->discovery_token[0] &&
	    store_dir_get(a->store, c->discovery_token, &d) == K_OK) {
		for (size_t i = 0; i < d.n; i++)
			on_member(out, &d.members[i]);
		store_dir_clear(&d);
	}
	for (size_t i = 0; i < out->n; i++) {
		const char *s = out->v[i].failed        ? "failed"
		                : out->v[i].reported_at ? "healthy"
		                                        : NULL;
		if (s && !strcmp(s, "failed"))
			out->failed++;
		else if (s)
			out->healthy++;
	}
	return e;
}

void view_nodes_clear(struct view_nodes *ns)
{
	if (!ns)
		return;
	for (size_t i = 0; ns->v && i < ns->n; i++)
		json_decref(ns->v[i].json);
	free(ns->v);
	memset(ns, 0, sizeof(*ns));
}

json_t *view_nodes_json(const struct view_nodes *ns)
{
	json_t *list = json_array();
	for (size_t i = 0; i < ns->n; i++)
		json_array_append(list, ns->v[i].json);
	return list;
}

static void count_report(const struct store_report *r, void *arg)
{
	int *counts = arg;
	counts[r->failed > 0]++;
}

enum kerr view_health(const struct app *a, const char *cluster_id, int *out_healthy,
                      int *out_failed)
{
	int counts[2] = {0, 0};
	enum kerr e = store_reports_list(a->store, cluster_id, count_report, counts);
	*out_healthy = counts[0];
	*out_failed = counts[1];
	return e;
}
