/* api_generations.c - /clusters/NAME/generations and /diff: a cluster's
 * history, one generation's inputs and config, the diff of two. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "fields.h"
#include "generations.h"
#include "view.h"

#define IGNITION_TYPE "application/vnd.coreos.ignition+json"

static bool revealed(struct req *r)
{
	const char *v = req_query(r, "reveal");
	return v && (!strcmp(v, "1") || !strcmp(v, "true"));
}

/* Reads the cluster or replies. */
static bool cluster_or_reply(struct req *r, struct cluster *c)
{
	const char *name = req_param(r, "name");
	enum kerr e = view_cluster_get(req_app(r), name, c);
	if (e != K_OK)
		api_reply_store_error(r, e, name);
	return e == K_OK;
}

static void reply_render_error(struct req *r, enum kerr e, const struct cluster *c, int64_t gen)
{
	const struct app *a = req_app(r);
	if (e == K_ENOTFOUND)
		reply_error(r, e,
		            "cluster \"%s\" has no generation %lld: it has generations up to %lld, "
		            "of which the newest %d are kept (--keep-generations)",
		            c->name, (long long)gen, (long long)c->generation,
		            a->cfg->keep_generations);
	else if (e == K_ENOTACCEPT)
		reply_error(r, e, "that spec version cannot express generation %lld's config",
		            (long long)gen);
	else
		reply_error(r, e == K_EINVAL ? K_EIO : e, "cannot render generation %lld: %s",
		            (long long)gen, kerr_str(e));
}

void api_cluster_generations(struct req *r)
{
	struct cluster c;
	if (!cluster_or_reply(r, &c))
		return;
	enum kerr e;
	json_t *j = generations_list_json(req_app(r), &c, &e);
	if (j)
		reply_json(r, 200, j);
	else
		api_reply_store_error(r, e, c.name);
	cluster_clear(&c);
}

/* The version asked with ?version= (resolved like a node's), or NULL for
 * the generation's default; false (replied) for one that is none. */
static bool version_arg(struct req *r, const char **out)
{
	const char *qv = req_query(r, "version");
	*out = NULL;
	if (qv && render_negotiate(qv, NULL, NULL, out) != K_OK) {
		json_t *errors = json_array();
		field_error(errors, "version", "is not a supported Ignition spec version");
		reply_invalid(r, errors);
		return false;
	}
	return true;
}

void api_cluster_generation(struct req *r)
{
	int64_t gen = 0;
	const char *version = NULL;
	if (!api_parse_generation(req_param(r, "n"), false, &gen)) {
		json_t *errors = json_array();
		field_error(errors, "n", "must be a generation number (1 or more)");
		reply_invalid(r, errors);
		return;
	}
	if (!version_arg(r, &version))
		return;
	struct cluster c;
	if (!cluster_or_reply(r, &c))
		return;
	const struct app *a = req_app(r);
	char *body = NULL;
	size_t len = 0;
	json_t *inputs = NULL;
	bool want_config = !strcmp(req_query(r, "format") ? req_query(r, "format") : "", "config");
	struct store_generation g = {0};
	enum kerr e =
	        generations_render(a, &c, gen, version, revealed(r), &body, &len, &inputs, &g);
	if (e != K_OK) {
		reply_render_error(r, e, &c, gen);
	} else if (want_config) { /* the bytes a node was served (with ?reveal=1) */
		reply_bytes(r, 200, IGNITION_TYPE, body, len);
		body = NULL;
	} else {
		reply_json(r, 200,
		           json_pack("{s:s, s:I, s:I, s:I, s:O, s:O, s:o, s:b}", "cluster", c.name,
		                     "generation", (json_int_t)gen, "created_at",
		                     (json_int_t)g.created_at, "fetches", (json_int_t)g.fetches,
		                     "change", g.change, "inputs", inputs, "config",
		                     json_loadb(body, len, 0, NULL), "secrets_revealed",
		                     revealed(r)));
	}
	store_generation_clear(&g);
	free(body);
	json_decref(inputs);
	cluster_clear(&c);
}

void api_cluster_diff(struct req *r)
{
	struct cluster c;
	if (!cluster_or_reply(r, &c))
		return;
	int64_t from, to, bad = 0;
	json_t *d = NULL;
	if (api_diff_args(r, &c, &from, &to)) {
		enum kerr e = generations_compare(req_app(r), &c, from, to, revealed(r), &d, &bad);
		if (e == K_OK)
			reply_json(r, 200, d);
		else
			reply_render_error(r, e, &c, bad);
	}
	cluster_clear(&c);
}
