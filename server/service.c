/* service.c - cluster writes, checked and completed before the writer commits them.
 *
 * Each write is an op, allocated here and freed once its outcome is
 * reported: the writer (or the upstream thread) holds it meanwhile.
 */
#include "service.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fields.h"
#include "rand.h"
#include "render.h"
#include "snapshots.h"
#include "upstream.h"

struct op {
	struct write_job job; /* first: the writer reports the job */
	const struct app *a;
	struct service_reply *out;
	service_done_fn done;
	void *arg;
	char name[64];
	char token[65];   /* a rotation's new token */
	struct cluster c; /* a create's cluster */
	json_t *patch;    /* a vars change, or NULL */
	bool adopt;       /* a change that adopts the folders' profile files */
	int64_t rollback; /* a rollback: the generation whose inputs come back; 0 */
};

void service_reply_clear(struct service_reply *r)
{
	if (!r)
		return;
	cluster_clear(&r->c);
	json_decref(r->errors);
	r->errors = NULL;
}

static struct op *op_new(const struct app *a, enum write_kind kind, const char *name,
                         struct service_reply *out, service_done_fn done, void *arg)
{
	memset(out, 0, sizeof(*out));
	struct op *o = calloc(1, sizeof(*o));
	if (!o) {
		out->err = K_ENOMEM;
		done(arg);
		return NULL;
	}
	o->a = a;
	o->out = out;
	o->done = done;
	o->arg = arg;
	o->job.kind = kind;
	str_copy(o->name, sizeof(o->name), name);
	str_copy(out->name, sizeof(out->name), name);
	o->job.name = o->name;
	return o;
}

/* Reports the outcome and frees the op. */
static void finish(struct op *o, enum kerr e)
{
	service_done_fn done = o->done;
	void *arg = o->arg;
	o->out->err = e;
	cluster_clear(&o->c);
	json_decref(o->patch);
	explicit_bzero(o->token, sizeof(o->token));
	free(o);
	done(arg);
}

static void etcd_forget_later(const struct app *a, const char *token);

/* The writer's report, on its thread: the committed row goes to the reply. */
static void written(struct write_job *job)
{
	struct op *o = (struct op *)(void *)job;
	struct service_reply *out = o->out;
	if (job->result == K_OK && job->kind == WRITE_CREATE) {
		out->c = o->c; /* what was inserted is the row */
		memset(&o->c, 0, sizeof(o->c));
	} else if (job->result == K_OK && job->kind != WRITE_DELETE) {
		out->c = job->out;
		memset(&job->out, 0, sizeof(job->out));
	}
	cluster_clear(&job->out);
	if (job->result == K_OK && job->kind == WRITE_DELETE && o->token[0])
		etcd_forget_later(o->a, o->token);
	if (job->result == K_OK && job->kind == WRITE_ROTATE)
		out->grace_until = job->grace_until;
	if (job->result == K_ELIMIT && job->kind == WRITE_ROTATE)
		snprintf(
		        out->why, sizeof(out->why),
		        "%d rotated fetch tokens of cluster \"%s\" are still in their grace period "
		        "(--token-grace %d s): each stays valid for all of it, so no more "
		        "rotations until the oldest expires",
		        STORE_PREV_TOKENS, o->name, o->a->cfg->token_grace_s);
	finish(o, job->result);
}

static void submit(struct op *o)
{
	o->job.done = written;
	writer_submit(o->a->writer, &o->job);
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
			field_error(errors, key,
			            "unknown field; known fields are name, size, "
			            "profiles, vars, ignition_version, discovery, "
			            "discovery_protocol");
	}

	v = json_object_get(body, "name");
	if (!v)
		field_error(errors, "name", "is required");
	else if (!json_is_string(v))
		field_error(errors, "name", "must be a string");
	else if (!name_valid(json_string_value(v), json_string_length(v)))
		field_error(errors, "name",
		            "must be a DNS label: 1 to 63 characters of a-z, 0-9 and '-', "
		            "starting and ending with a letter or digit");
	else
		str_copy(c->name, sizeof(c->name), json_string_value(v));

	v = json_object_get(body, "size");
	if (!v)
		field_error(errors, "size", "is required");
	else if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 99)
		field_error(errors, "size", "must be a whole number from 1 to 99");
	else
		c->size = (int)json_integer_value(v);

	v = json_object_get(body, "ignition_version");
	const char *version = a->cfg->ignition_version;
	if (v && (!json_is_string(v) || !render_version_known(json_string_value(v)))) {
		struct buf list;
		buf_init(&list, 256);
		render_versions_list(&list);
		field_error(errors, "ignition_version", "must be one of %s", buf_str(&list));
		buf_free(&list);
	} else if (v) {
		version = json_string_value(v);
	}
	str_copy(c->ignition_version, sizeof(c->ignition_version), version);

	/* v2: --discovery=<url> (etcd <= 3.5); v3: --discovery-token and
	 * --discovery-endpoints on kindling's gRPC listener (etcd >= 3.6), or,
	 * upstream, on the etcd of --discovery-etcd */
	v = json_object_get(body, "discovery_protocol");
	const char *proto = "v2";
	if (v && (!json_is_string(v) || (strcmp(json_string_value(v), "v2") != 0 &&
	                                 strcmp(json_string_value(v), "v3") != 0)))
		field_error(errors, "discovery_protocol", "must be \"v2\" or \"v3\"");
	else if (v)
		proto = json_string_value(v);
	bool v3 = !strcmp(proto, "v3");
	const char *upstream = v3 ? a->cfg->discovery_etcd : a->cfg->discovery_upstream;

	v = json_object_get(body, "discovery");
	const char *mode = upstream ? "upstream" : "builtin";
	if (v && (!json_is_string(v) || (strcmp(json_string_value(v), "builtin") != 0 &&
	                                 strcmp(json_string_value(v), "upstream") != 0)))
		field_error(errors, "discovery", "must be \"builtin\" or \"upstream\"");
	else if (v)
		mode = json_string_value(v);
	if (!strcmp(mode, "upstream") && !upstream)
		field_error(errors, "discovery",
		            v3 ? "\"upstream\" with discovery_protocol v3 needs kindling started "
		                 "with --discovery-etcd"
		               : "\"upstream\" needs kindling started with --discovery-upstream");
	str_copy(c->discovery_mode, sizeof(c->discovery_mode), mode);
	if (v3 && !strcmp(mode, "builtin") && !a->grpc_endpoint[0])
		field_error(errors, "discovery_protocol",
		            "\"v3\" needs kindling started with --grpc-listen (or --discovery-etcd "
		            "and \"discovery\": \"upstream\")");
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
			field_error(errors, "profiles",
			            "profile etcd renders v2 discovery (--discovery); a "
			            "discovery_protocol v3 cluster uses etcd-v3");
		else if (!v3 && !strcmp(name, "etcd-v3"))
			field_error(errors, "profiles",
			            "profile etcd-v3 renders v3 discovery; give "
			            "\"discovery_protocol\": \"v3\" (needs --grpc-listen)");
	}
}

/* Checks profiles and vars (present or defaulted) with the profile set ps. */
static void check_profiles(const struct app *a, const struct profile_set *ps, json_t *profiles,
                           json_t *vars, json_t *errors)
{
	if (!json_is_array(profiles)) {
		field_error(errors, "profiles", "must be an array of profile names");
		return;
	}
	if (!json_is_object(vars)) {
		field_error(errors, "vars", "must be an object of strings");
		return;
	}
	if ((int)json_array_size(profiles) > a->cfg->max_profiles) {
		field_error(errors, "profiles", "at most %d profiles (--max-profiles)",
		            a->cfg->max_profiles);
		return;
	}
	if ((int)json_object_size(vars) > a->cfg->max_vars) {
		field_error(errors, "vars", "at most %d variables (--max-vars)", a->cfg->max_vars);
		return;
	}
	profile_check(ps, profiles, vars, errors);
}

/* Hands the checked cluster (its discovery URL set) to the writer. */
static void submit_create(struct op *o)
{
	o->c.created_at = o->c.updated_at = store_now_ms();
	o->c.generation = 1; /* the store starts every cluster at 1 */
	o->job.create = &o->c;
	submit(o);
}

/* Upstream allocations under way, and the flag that cuts them short at stop. */
static atomic_int upstream_running;
static atomic_bool upstream_cancel;

static void stopping(struct op *o)
{
	snprintf(o->out->why, sizeof(o->out->why),
	         "kindling is stopping; nothing was stored, retry");
	finish(o, K_EUNAVAIL);
}

/* v3 through --discovery-etcd: a fresh token whose size key is written into
 * that etcd (its v3 JSON gateway); c->discovery_url becomes
 * "<first etcd URL>/_etcd/registry/<token>" (where the keys live; view.c
 * reads the token from its last segment). Errors as upstream_etcd. */
static enum kerr etcd_allocate(const struct config *cfg, struct cluster *c, struct buf *why)
{
	const struct upstream_options uo = {.base_url = cfg->discovery_etcd,
	                                    .timeout_ms = cfg->upstream_timeout_ms,
	                                    .retries = cfg->upstream_retries,
	                                    .cancel = &upstream_cancel};
	char token[33], key[128], size[16];
	enum kerr e = rand_hex(token, 16);
	if (e != K_OK)
		return e;
	snprintf(key, sizeof(key), "/_etcd/registry/%s/_config/size", token);
	snprintf(size, sizeof(size), "%d", c->size);
	e = upstream_etcd_put(&uo, key, size, why);
	if (e != K_OK)
		return e;
	size_t first = strcspn(cfg->discovery_etcd, ",");
	while (first > 0 && cfg->discovery_etcd[first - 1] == '/')
		first--;
	if (asprintf(&c->discovery_url, "%.*s/_etcd/registry/%s", (int)first, cfg->discovery_etcd,
	             token) < 0) {
		c->discovery_url = NULL;
		return K_ENOMEM;
	}
	return K_OK;
}

/* On a thread of its own: a slow upstream holds no HTTP worker. */
static void *upstream_run(void *arg)
{
	struct op *o = arg;
	const struct config *cfg = o->a->cfg;
	const struct upstream_options uo = {.base_url = cfg->discovery_upstream,
	                                    .timeout_ms = cfg->upstream_timeout_ms,
	                                    .retries = cfg->upstream_retries,
	                                    .cancel = &upstream_cancel};
	struct buf why;
	buf_init(&why, sizeof(o->out->why) - 200);
	enum kerr e = !strcmp(o->c.discovery_protocol, "v3")
	                      ? etcd_allocate(cfg, &o->c, &why)
	                      : upstream_new(&uo, o->c.size, &o->c.discovery_url, &why);
	if (e == K_EUNAVAIL) {
		stopping(o);
	} else if (e != K_OK) {
		snprintf(o->out->why, sizeof(o->out->why),
		         "the discovery upstream failed, nothing was stored: %s", buf_str(&why));
		finish(o, e == K_ENOMEM ? K_ENOMEM : K_EUPSTREAM);
	} else if (!profile_builtin_valid("discovery_url", o->c.discovery_url)) {
		snprintf(o->out->why, sizeof(o->out->why),
		         "the discovery upstream answered a URL that cannot go into a unit "
		         "(only plain http(s) URL characters); nothing was stored");
		finish(o, K_EUPSTREAM);
	} else {
		submit_create(o);
	}
	buf_free(&why);
	atomic_fetch_sub(&upstream_running, 1);
	return NULL;
}

void service_stop(int timeout_ms)
{
	atomic_store(&upstream_cancel, true);
	for (int waited = 0; atomic_load(&upstream_running) > 0 && waited < timeout_ms;
	     waited += 10) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

/* Allocates the discovery URL from --discovery-upstream, then stores it.
 * Checks the name first, so a duplicate does not spend an upstream token. */
static void create_upstream(struct op *o)
{
	struct cluster existing;
	if (store_cluster_get(o->a->store, o->c.name, &existing) == K_OK) {
		cluster_clear(&existing);
		finish(o, K_EEXIST);
		return;
	}
	if (atomic_load(&upstream_cancel)) {
		stopping(o);
		return;
	}
	atomic_fetch_add(&upstream_running, 1);
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, upstream_run, o) != 0) {
		atomic_fetch_sub(&upstream_running, 1);
		snprintf(o->out->why, sizeof(o->out->why), "cannot start a thread");
		finish(o, K_ENOMEM);
	}
	pthread_attr_destroy(&attr);
}

void service_create(const struct app *a, json_t *request, struct service_reply *out,
                    service_done_fn done, void *arg)
{
	struct op *o = op_new(a, WRITE_CREATE, "", out, done, arg);
	if (!o)
		return;
	struct cluster *c = &o->c;
	json_t *errors = json_array();
	check_create(a, request, c, errors);
	str_copy(o->name, sizeof(o->name), c->name);
	str_copy(out->name, sizeof(out->name), c->name);
	json_t *profiles = json_object_get(request, "profiles");
	json_t *vars = json_object_get(request, "vars");
	bool v3 = !strcmp(c->discovery_protocol, "v3");
	c->profiles = profiles ? json_incref(profiles) : json_pack("[s]", v3 ? "etcd-v3" : "etcd");
	check_protocol_profiles(c->profiles, v3, errors);
	c->vars = vars ? json_incref(vars) : json_object();
	check_profiles(a, a->profiles, c->profiles, c->vars, errors);
	if (!json_array_size(errors)) /* the default spec must express the profiles */
		render_check(a->profiles, c->profiles, c->ignition_version, "ignition_version",
		             errors);
	if (json_array_size(errors)) {
		out->errors = errors;
		finish(o, K_EINVAL);
		return;
	}
	json_decref(errors);
	enum kerr e = profile_generate_secrets(a->profiles, c->profiles, c->vars, &c->secrets);
	if (e == K_OK) /* generation 1: the folders' profiles as they are now */
		e = snapshots_current(a->snapshots, c->profiles, &c->profile_versions);
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
		snprintf(out->why, sizeof(out->why), "cannot generate secrets: %s", kerr_str(e));
		finish(o, e);
		return;
	}
	if (c->discovery_token[0])
		submit_create(o);
	else
		create_upstream(o);
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

/* The names of the keys whose values differ between two objects (new array). */
static json_t *changed_keys(const json_t *old, const json_t *new)
{
	json_t *keys = json_array();
	const char *k;
	json_t *v;
	json_object_foreach ((json_t *)old, k, v) {
		if (!json_equal(v, json_object_get(new, k)))
			json_array_append_new(keys, json_string(k));
	}
	json_object_foreach ((json_t *)new, k, v) {
		if (!json_object_get(old, k))
			json_array_append_new(keys, json_string(k));
	}
	return keys;
}

/* A rollback, inside the transaction: generation o->rollback's inputs
 * become the cluster's again. */
static enum kerr rollback_mutate(struct op *o, struct cluster *c)
{
	json_t *errors = o->out->errors;
	struct store_generation g = {0};
	if (o->rollback == c->generation) {
		field_error(errors, "rollback_to", "generation %lld is the current one",
		            (long long)o->rollback);
		return K_EINVAL;
	}
	enum kerr e = o->rollback > c->generation
	                      ? K_ENOTFOUND
	                      : store_generation_get(o->a->store, c->id, o->rollback, &g);
	if (e == K_ENOTFOUND) {
		field_error(errors, "rollback_to",
		            "cluster \"%s\" has no generation %lld: it has generations up to %lld, "
		            "of which the newest %d are kept (--keep-generations)",
		            c->name, (long long)o->rollback, (long long)c->generation,
		            o->a->cfg->keep_generations);
		return K_EINVAL;
	}
	if (e != K_OK)
		return e;
	json_t *in = g.inputs;
	json_t *profiles = json_object_get(in, "profiles"), *vars = json_object_get(in, "vars");
	json_t *secrets = json_object_get(in, "secrets");
	json_t *versions = json_object_get(in, "profile_versions");
	const char *version = json_string_value(json_object_get(in, "ignition_version"));
	struct profile_set *ps = NULL;
	struct buf why;
	buf_init(&why, 256);
	if (!json_is_array(profiles) || !json_is_object(vars) || !json_is_object(secrets) ||
	    !version) {
		e = K_EIO;
	} else if ((e = snapshots_set(o->a->snapshots, profiles,
	                              json_is_array(versions) ? versions : NULL, &ps, &why)) ==
	           K_EINVAL) {
		field_error(errors, "rollback_to", "generation %lld cannot be served again: %s",
		            (long long)o->rollback, buf_str(&why));
	}
	profile_set_free(&ps);
	buf_free(&why);
	if (e == K_OK) {
		json_t *change =
		        json_pack("{s:s, s:I, s:o}", "kind", "rollback", "to",
		                  (json_int_t)o->rollback, "vars", changed_keys(c->vars, vars));
		json_decref(c->change);
		c->change = change;
		json_decref(c->profiles);
		c->profiles = json_incref(profiles);
		json_decref(c->vars);
		c->vars = json_incref(vars);
		json_decref(c->secrets);
		c->secrets = json_incref(secrets);
		json_decref(c->profile_versions);
		c->profile_versions = json_is_array(versions) ? json_incref(versions) : NULL;
		str_copy(c->ignition_version, sizeof(c->ignition_version), version);
	}
	store_generation_clear(&g);
	return e;
}

/* Secrets the profiles of ps generate that c does not hold yet (a profile
 * adopted with a new secret variable) join c's. */
static enum kerr add_new_secrets(const struct profile_set *ps, struct cluster *c, json_t *vars)
{
	json_t *fresh = NULL;
	enum kerr e = profile_generate_secrets(ps, c->profiles, vars, &fresh);
	if (e != K_OK)
		return e;
	json_t *secrets = json_deep_copy(c->secrets);
	const char *k;
	json_t *v;
	json_object_foreach (fresh, k, v) {
		if (!json_object_get(secrets, k))
			json_object_set(secrets, k, v);
	}
	json_decref(fresh);
	json_decref(c->secrets);
	c->secrets = secrets;
	return secrets ? K_OK : K_ENOMEM;
}

/* On the writer thread, inside the transaction: merges the patch into the
 * row's vars, adopts the folders' profiles when asked, and checks the
 * result with the profiles the new generation will render with. */
static enum kerr patch_mutate(void *arg, struct cluster *c)
{
	struct op *o = arg;
	const struct app *a = o->a;
	json_t *errors = o->out->errors;
	if (o->rollback)
		return rollback_mutate(o, c);
	json_t *vars = o->patch ? merge_vars(c->vars, o->patch) : json_deep_copy(c->vars);
	json_t *versions = NULL, *profile_changes = NULL;
	struct profile_set *ps = NULL;
	struct buf why;
	buf_init(&why, 256);
	enum kerr e = vars ? K_OK : K_ENOMEM;
	/* a row from before generations is snapshotted from the folders now */
	if (e == K_OK && (o->adopt || !c->profile_versions)) {
		e = snapshots_current(a->snapshots, c->profiles, &versions);
		if (e == K_EINVAL)
			field_error(errors, o->adopt ? "adopt_profiles" : "vars",
			            "a profile of the cluster is in no template folder any more");
	} else if (e == K_OK) {
		versions = json_incref(c->profile_versions);
	}
	if (e == K_OK && o->adopt) {
		profile_changes = snapshots_changes(a->snapshots, c->profiles, c->profile_versions,
		                                    c->generation);
		if (!json_array_size(profile_changes) && c->profile_versions)
			field_error(
			        errors, "adopt_profiles",
			        "the template folders hold the same profile files as generation "
			        "%lld: nothing to adopt",
			        (long long)c->generation);
	}
	if (e == K_OK && !json_array_size(errors)) {
		e = snapshots_set(a->snapshots, c->profiles, versions, &ps, &why);
		if (e == K_EINVAL)
			field_error(errors, "vars", "the cluster's generation cannot be loaded: %s",
			            buf_str(&why));
	}
	if (e == K_OK && !json_array_size(errors)) {
		check_profiles(a, ps, c->profiles, vars, errors);
		if (!json_array_size(errors) && o->adopt)
			render_check(ps, c->profiles, c->ignition_version, "adopt_profiles",
			             errors);
	}
	if (e == K_OK && json_array_size(errors))
		e = K_EINVAL;
	if (e == K_OK && o->adopt)
		e = add_new_secrets(ps, c, vars);
	if (e == K_OK) {
		json_t *change = json_pack("{s:s, s:o}", "kind", o->adopt ? "profiles" : "vars",
		                           "vars", changed_keys(c->vars, vars));
		if (change && profile_changes)
			json_object_set(change, "profiles", profile_changes);
		json_decref(c->change);
		c->change = change;
		json_decref(c->vars);
		c->vars = vars;
		vars = NULL;
		json_decref(c->profile_versions);
		c->profile_versions = versions;
		versions = NULL;
	}
	profile_set_free(&ps);
	buf_free(&why);
	json_decref(profile_changes);
	json_decref(versions);
	json_decref(vars);
	return e;
}

/* A write that makes a new generation: vars patched (patch may be NULL),
 * profiles adopted, or a rollback. */
static void submit_change(const struct app *a, const char *name, json_t *patch, bool adopt,
                          int64_t rollback, struct service_reply *out, service_done_fn done,
                          void *arg)
{
	struct op *o = op_new(a, WRITE_UPDATE, name, out, done, arg);
	if (!o)
		return;
	/* read, merge, check and write in one transaction, on the writer */
	out->errors = json_array();
	o->patch = patch ? json_incref(patch) : NULL;
	o->adopt = adopt;
	o->rollback = rollback;
	o->job.mutate = patch_mutate;
	o->job.mutate_arg = o;
	submit(o);
}

void service_set_vars(const struct app *a, const char *name, json_t *patch,
                      struct service_reply *out, service_done_fn done, void *arg)
{
	submit_change(a, name, patch, false, 0, out, done, arg);
}

void service_adopt_profiles(const struct app *a, const char *name, json_t *patch,
                            struct service_reply *out, service_done_fn done, void *arg)
{
	submit_change(a, name, patch, true, 0, out, done, arg);
}

void service_rollback(const struct app *a, const char *name, int64_t generation,
                      struct service_reply *out, service_done_fn done, void *arg)
{
	submit_change(a, name, NULL, false, generation, out, done, arg);
}

/* A row from before generations gets the folders' profiles as its
 * generation's snapshot (a new generation serving the same bytes). */
static enum kerr legacy_mutate(void *arg, struct cluster *c)
{
	const struct app *a = arg;
	if (c->profile_versions)
		return K_EEXIST; /* another replica did it meanwhile */
	json_decref(c->change);
	c->change = json_pack("{s:s}", "kind", "snapshot");
	return snapshots_current(a->snapshots, c->profiles, &c->profile_versions);
}

/* The names of the rows without a snapshot. */
struct legacy {
	char (*names)[64];
	size_t n, cap;
	bool full; /* out of memory: a later start does the rest */
};

static void legacy_one(const char *name, void *arg)
{
	struct legacy *l = arg;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		char(*grown)[64] = realloc(l->names, cap * sizeof(*grown));
		if (!grown) {
			l->full = true;
			return;
		}
		l->names = grown;
		l->cap = cap;
	}
	str_copy(l->names[l->n++], 64, name);
}

enum kerr service_snapshot_legacy(const struct app *a, int *out_n)
{
	struct legacy l = {0};
	*out_n = 0;
	enum kerr e = store_clusters_unsnapshotted(a->store, legacy_one, &l);
	for (size_t i = 0; i < l.n && e == K_OK; i++) {
		struct cluster out = {0};
		enum kerr u =
		        store_cluster_update(a->store, l.names[i], legacy_mutate, (void *)a, &out);
		cluster_clear(&out);
		if (u == K_OK)
			(*out_n)++;
		else if (u != K_EEXIST && u != K_ENOTFOUND) /* done by another replica, or gone */
			e = u;
	}
	free(l.names);
	return e == K_OK && l.full ? K_ENOMEM : e;
}

void service_rotate(const struct app *a, const char *name, struct service_reply *out,
                    service_done_fn done, void *arg)
{
	struct op *o = op_new(a, WRITE_ROTATE, name, out, done, arg);
	if (!o)
		return;
	enum kerr e = rand_hex(o->token, 32);
	if (e != K_OK) {
		snprintf(out->why, sizeof(out->why), "cannot make a token: %s", kerr_str(e));
		finish(o, e);
		return;
	}
	o->job.token = o->token;
	o->job.grace_until = store_now_ms() + (int64_t)a->cfg->token_grace_s * 1000;
	submit(o);
}

/* A deleted v3 cluster on --discovery-etcd: its keys in that etcd go too,
 * on a thread of its own once the delete committed (best effort: an etcd
 * that stays away past the upstream budget keeps them). */
struct forget {
	const struct app *a;
	char prefix[96];
};

static void *etcd_forget_run(void *arg)
{
	struct forget *f = arg;
	const struct config *cfg = f->a->cfg;
	const struct upstream_options uo = {.base_url = cfg->discovery_etcd,
	                                    .timeout_ms = cfg->upstream_timeout_ms,
	                                    .retries = cfg->upstream_retries,
	                                    .cancel = &upstream_cancel};
	struct buf why;
	buf_init(&why, 512);
	(void)upstream_etcd_delete_prefix(&uo, f->prefix, &why);
	buf_free(&why);
	free(f);
	atomic_fetch_sub(&upstream_running, 1);
	return NULL;
}

static void etcd_forget_later(const struct app *a, const char *token)
{
	struct forget *f = calloc(1, sizeof(*f));
	if (!f || atomic_load(&upstream_cancel)) {
		free(f);
		return;
	}
	snprintf(f->prefix, sizeof(f->prefix), "/_etcd/registry/%s/", token);
	f->a = a;
	atomic_fetch_add(&upstream_running, 1);
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, etcd_forget_run, f) != 0) {
		atomic_fetch_sub(&upstream_running, 1);
		free(f);
	}
	pthread_attr_destroy(&attr);
}

void service_delete(const struct app *a, const char *name, struct service_reply *out,
                    service_done_fn done, void *arg)
{
	struct op *o = op_new(a, WRITE_DELETE, name, out, done, arg);
	if (!o)
		return;
	struct cluster c;
	if (a->cfg->discovery_etcd && store_cluster_get(a->store, name, &c) == K_OK) {
		const char *slash = c.discovery_url ? strrchr(c.discovery_url, '/') : NULL;
		if (slash && !strcmp(c.discovery_protocol, "v3") &&
		    !strcmp(c.discovery_mode, "upstream"))
			str_copy(o->token, sizeof(o->token), slash + 1);
		cluster_clear(&c);
	}
	submit(o);
}
