/* store.c - the store.h dispatcher: picks the backend from --db, forwards every call;
 * and the rules both backends share. */
#include "../store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"

struct store {
	const struct store_backend *be;
	void *b;
	int keep_generations;
};

bool store_target_is_postgres(const char *target)
{
	return strncmp(target, "postgresql://", 13) == 0 || strncmp(target, "postgres://", 11) == 0;
}

int64_t store_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cluster_clear(struct cluster *c)
{
	if (!c)
		return;
	json_decref(c->profiles);
	json_decref(c->vars);
	json_decref(c->secrets);
	json_decref(c->profile_versions);
	json_decref(c->change);
	free(c->discovery_url);
	memset(c, 0, sizeof(*c));
}

int cluster_grace_tokens(const struct cluster *c, int64_t now, int64_t *out_until)
{
	int n = 0;
	int64_t until = 0;
	for (int i = 0; i < c->nprev; i++) {
		if (c->prev[i].until > now) {
			n++;
			until = c->prev[i].until > until ? c->prev[i].until : until;
		}
	}
	if (out_until)
		*out_until = until;
	return n;
}

void store_dir_clear(struct store_dir *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->members[i].value);
	free(d->members);
	memset(d, 0, sizeof(*d));
}

enum kerr store_open(const char *path, int pool_size, struct store **out, struct buf *errmsg)
{
	struct store *s = calloc(1, sizeof(*s));
	if (!s)
		return K_ENOMEM;
	s->be = store_target_is_postgres(path) ? &store_backend_postgres : &store_backend_sqlite;
	s->keep_generations = STORE_KEEP_GENERATIONS_DEFAULT;
	enum kerr e = s->be->open(path, pool_size, &s->b, errmsg);
	if (e != K_OK) {
		free(s);
		return e;
	}
	*out = s;
	return K_OK;
}

void store_close(struct store **sp)
{
	if (!sp || !*sp)
		return;
	struct store *s = *sp;
	s->be->close(s->b);
	free(s);
	*sp = NULL;
}

enum kerr store_health(struct store *s, struct buf *why)
{
	return s->be->health(s->b, why);
}

void store_last_fault(struct store *s, char *out, size_t n)
{
	s->be->last_fault(s->b, out, n);
}

void store_clusters_create(struct store *s, const struct cluster *const *cls, size_t n,
                           int max_clusters, enum kerr *results)
{
	s->be->clusters_create(s->b, cls, n, max_clusters, results);
}

enum kerr store_cluster_get(struct store *s, const char *name, struct cluster *out)
{
	return s->be->cluster_get(s->b, name, out);
}

enum kerr store_cluster_list(struct store *s, const struct store_list_query *q,
                             void (*fn)(const struct cluster *c, void *arg), void *arg,
                             bool *out_more, int64_t *out_total)
{
	return s->be->cluster_list(s->b, q, fn, arg, out_more, out_total);
}

enum kerr store_cluster_update(struct store *s, const char *name, store_mutate_fn fn, void *arg,
                               struct cluster *out)
{
	return s->be->cluster_update(s->b, name, fn, arg, s->keep_generations, out);
}

enum kerr store_cluster_rotate_token(struct store *s, const char *name, const char *token,
                                     int64_t grace_until, struct cluster *out)
{
	return s->be->cluster_rotate_token(s->b, name, token, grace_until, out);
}

enum kerr store_cluster_delete(struct store *s, const char *name, char out_token[33])
{
	return s->be->cluster_delete(s->b, name, out_token);
}

enum kerr store_fetches_record(struct store *s, const struct store_fetch_group *groups, size_t n,
                               int keep)
{
	return s->be->fetches_record(s->b, groups, n, keep);
}

enum kerr store_fetches_list(struct store *s, const char *cluster_id, int limit,
                             void (*fn)(const struct store_fetch *f, void *arg), void *arg)
{
	return s->be->fetches_list(s->b, cluster_id, limit, fn, arg);
}

enum kerr store_dir_create(struct store *s, const char *token, int size)
{
	return s->be->dir_create(s->b, token, size);
}

enum kerr store_dir_get(struct store *s, const char *token, struct store_dir *out)
{
	return s->be->dir_get(s->b, token, out);
}

enum kerr store_put_members(struct store *s, struct store_put *puts, size_t n)
{
	return s->be->put_members(s->b, puts, n);
}

enum kerr store_cluster_count(struct store *s, int64_t *out)
{
	return s->be->cluster_count(s->b, out);
}

enum kerr store_open_snapshot(const char *path, struct store **out, struct buf *errmsg)
{
	if (store_target_is_postgres(path)) {
		buf_addf(errmsg, "a PostgreSQL database cannot be the source of a copy (only an "
		                 "SQLite file)");
		return K_EINVAL;
	}
	struct store *s = calloc(1, sizeof(*s));
	if (!s)
		return K_ENOMEM;
	s->be = &store_backend_sqlite;
	enum kerr e = s->be->open_snapshot(path, &s->b, errmsg);
	if (e != K_OK) {
		free(s);
		return e;
	}
	*out = s;
	return K_OK;
}

/* The source side of store_copy: the rows of one table of src. */
static enum kerr export_from(void *src_, const struct store_table *t, store_row_fn fn, void *arg,
                             struct buf *errmsg)
{
	struct store *src = src_;
	return src->be->export_table(src->b, t, fn, arg, errmsg);
}

enum kerr store_copy(struct store *src, struct store *dst, struct store_copy_stats *out,
                     struct buf *errmsg)
{
	memset(out, 0, sizeof(*out));
	if (!src->be->export_table) {
		buf_addf(errmsg, "the source must be an SQLite database, not %s", src->be->name);
		return K_EINVAL;
	}
	if (!dst->be->import) {
		buf_addf(errmsg,
		         "the target must be a PostgreSQL database (postgresql://...), not %s",
		         dst->be->name);
		return K_EINVAL;
	}
	return dst->be->import(dst->b, export_from, src, out, errmsg);
}

enum kerr store_report_put(struct store *s, const char *cluster_id, const struct store_report *r,
                           int keep)
{
	return s->be->report_put(s->b, cluster_id, r, keep);
}

enum kerr store_reports_list(struct store *s, const char *cluster_id,
                             void (*fn)(const struct store_report *r, void *arg), void *arg)
{
	return s->be->reports_list(s->b, cluster_id, fn, arg);
}

enum kerr store_reports_count(struct store *s, int64_t *out_nodes, int64_t *out_failed)
{
	return s->be->reports_count(s->b, out_nodes, out_failed);
}

enum kerr store_listen(struct store *s, store_change_fn fn, void *arg)
{
	return s->be->listen ? s->be->listen(s->b, fn, arg) : K_OK;
}

void store_unlisten(struct store *s)
{
	if (s && s->be->unlisten)
		s->be->unlisten(s->b);
}

uint64_t store_feed_stamp(struct store *s)
{
	return s->be->feed_stamp ? s->be->feed_stamp(s->b) : 1;
}

bool store_shared(struct store *s)
{
	return s->be->listen != NULL;
}

enum kerr store_member_replace(struct store *s, struct store_replace *r)
{
	return s->be->member_replace(s->b, r);
}

enum kerr store_member_states(struct store *s, const char *cluster_id,
                              void (*fn)(const struct store_member_state *m, void *arg), void *arg)
{
	return s->be->member_states(s->b, cluster_id, fn, arg);
}

enum kerr store_replace_decide(struct store_replace *r, const char *member_replaces,
                               const char *member_removed_by, const char *replaces_removed_by)
{
	const char *other = "";
	r->changed = false;
	r->why = REPL_OK;
	if (member_removed_by[0]) {
		r->why = REPL_MEMBER_REMOVED;
		other = member_removed_by;
	} else if (!strcmp(member_replaces, r->replaces) &&
	           !strcmp(replaces_removed_by, r->member)) {
		return K_OK; /* reported before: nothing to write */
	} else if (member_replaces[0]) {
		r->why = REPL_MEMBER_REPLACED;
		other = member_replaces;
	} else if (replaces_removed_by[0]) {
		r->why = REPL_ALREADY_REPLACED;
		other = replaces_removed_by;
	} else {
		r->changed = true;
		return K_OK;
	}
	snprintf(r->other, sizeof(r->other), "%s", other);
	return K_EEXIST;
}

void store_keep_generations(struct store *s, int keep)
{
	s->keep_generations = keep > 0 ? keep : 1;
}

void store_generation_clear(struct store_generation *g)
{
	if (!g)
		return;
	json_decref(g->change);
	json_decref(g->inputs);
	memset(g, 0, sizeof(*g));
}

json_t *store_generation_inputs(const struct cluster *c)
{
	return json_pack("{s:O, s:O, s:O, s:O, s:s}", "profiles", c->profiles, "profile_versions",
	                 c->profile_versions ? c->profile_versions : json_null(), "vars", c->vars,
	                 "secrets", c->secrets, "ignition_version", c->ignition_version);
}

enum kerr store_generations_list(struct store *s, const char *cluster_id,
                                 void (*fn)(const struct store_generation *g, void *arg), void *arg)
{
	return s->be->generations_list(s->b, cluster_id, fn, arg);
}

enum kerr store_generation_get(struct store *s, const char *cluster_id, int64_t generation,
                               struct store_generation *out)
{
	return s->be->generation_get(s->b, cluster_id, generation, out);
}

enum kerr store_clusters_unsnapshotted(struct store *s, void (*fn)(const char *name, void *arg),
                                       void *arg)
{
	return s->be->clusters_unsnapshotted(s->b, fn, arg);
}

enum kerr store_profile_versions_put(struct store *s, const struct store_profile_version *v,
                                     size_t n)
{
	return s->be->profile_versions_put(s->b, v, n);
}

enum kerr store_profile_version_get(struct store *s, const char *digest, char out_name[64],
                                    json_t **out_files)
{
	return s->be->profile_version_get(s->b, digest, out_name, out_files);
}
