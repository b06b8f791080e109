/* backend.h - what a storage backend implements behind store.h; included by server/store/ only. */
#ifndef KINDLING_STORE_BACKEND_H
#define KINDLING_STORE_BACKEND_H

#include "../store.h"

/*
 * A backend is this table plus the opaque pointer its open returned (the
 * shape of SQLite's sqlite3_vfs): chosen once by store_open from --db,
 * nothing above store.h knows which one runs. Every entry has the contract
 * of the store.h function of the same name, with the backend's pointer in
 * place of the struct store. All are thread-safe.
 *
 * Change events: listen / unlisten / feed_stamp are NULL for a backend
 * whose writes are all this process's own (SQLite); then store.c answers
 * K_OK / nothing / 1. Events of this process's own writes are published
 * above the store (writer.c, discovery.c) after commit, on both.
 */
/*
 * One table of the data model, as kindling migrate copies it (tables.c:
 * every table of db/sqlite/ and db/postgres/, in an order that satisfies
 * the foreign keys). Column names are the same in both schemas.
 */
struct store_table {
	const char *name;
	const char *const *cols; /* NULL-terminated */
	bool derived;            /* not copied: the target rebuilds it (its triggers) */
	bool needs_empty;        /* its rows in the target make the target "not empty" */
};
extern const struct store_table store_tables[];
extern const int store_ntables;

/* One row of a table being copied: vals[i] is column i as text (integers in
 * decimal), NULL for SQL NULL; valid during the call only. K_OK to go on. */
typedef enum kerr (*store_row_fn)(void *arg, const char *const *vals);

/* Calls fn for every row of table t of the source src; says why in errmsg
 * when it fails (fn's error returned as is). */
typedef enum kerr (*store_export_fn)(void *src, const struct store_table *t, store_row_fn fn,
                                     void *arg, struct buf *errmsg);

struct store_backend {
	const char *name; /* "sqlite", "postgres": for messages */
	enum kerr (*open)(const char *target, int pool_size, void **out, struct buf *errmsg);
	void (*close)(void *b);
	enum kerr (*health)(void *b, struct buf *why);
	void (*last_fault)(void *b, char *out, size_t n);
	void (*clusters_create)(void *b, const struct cluster *const *cls, size_t n,
	                        int max_clusters, enum kerr *results);
	enum kerr (*cluster_get)(void *b, const char *name, struct cluster *out);
	enum kerr (*cluster_list)(void *b, const struct store_list_query *q,
	                          void (*fn)(const struct cluster *c, void *arg), void *arg,
	                          bool *out_more, int64_t *out_total);
	enum kerr (*cluster_update)(void *b, const char *name, store_mutate_fn fn, void *arg,
	                            int keep_generations, struct cluster *out);
	enum kerr (*cluster_rotate_token)(void *b, const char *name, const char *token,
	                                  int64_t grace_until, struct cluster *out);
	enum kerr (*cluster_delete)(void *b, const char *name, char out_token[33]);
	enum kerr (*fetches_record)(void *b, const struct store_fetch_group *groups, size_t n,
	                            int keep);
	enum kerr (*fetches_list)(void *b, const char *cluster_id, int limit,
	                          void (*fn)(const struct store_fetch *f, void *arg), void *arg);
	enum kerr (*dir_create)(void *b, const char *token, int size);
	enum kerr (*dir_get)(void *b, const char *token, struct store_dir *out);
	enum kerr (*put_members)(void *b, struct store_put *puts, size_t n);
	enum kerr (*cluster_count)(void *b, int64_t *out);
	/* kindling migrate (store_open_snapshot, store_copy); NULL where the
	 * backend cannot be that end of a copy */
	enum kerr (*open_snapshot)(const char *target, void **out, struct buf *errmsg);
	enum kerr (*export_table)(void *b, const struct store_table *t, store_row_fn fn, void *arg,
	                          struct buf *errmsg);
	enum kerr (*import)(void *b, store_export_fn from, void *src, struct store_copy_stats *out,
	                    struct buf *errmsg);
	enum kerr (*report_put)(void *b, const char *cluster_id, const struct store_report *r,
	                        int keep);
	enum kerr (*reports_list)(void *b, const char *cluster_id,
	                          void (*fn)(const struct store_report *r, void *arg), void *arg);
	enum kerr (*reports_count)(void *b, int64_t *out_nodes, int64_t *out_failed);
	/* the change feed (store_listen); NULL: every write is this process's own */
	enum kerr (*listen)(void *b, store_change_fn fn, void *arg);
	void (*unlisten)(void *b);
	uint64_t (*feed_stamp)(void *b);
	enum kerr (*member_replace)(void *b, struct store_replace *r);
	enum kerr (*member_states)(void *b, const char *cluster_id,
	                           void (*fn)(const struct store_member_state *m, void *arg),
	                           void *arg);
	enum kerr (*generations_list)(void *b, const char *cluster_id,
	                              void (*fn)(const struct store_generation *g, void *arg),
	                              void *arg);
	enum kerr (*generation_get)(void *b, const char *cluster_id, int64_t generation,
	                            struct store_generation *out);
	enum kerr (*clusters_unsnapshotted)(void *b, void (*fn)(const char *name, void *arg),
	                                    void *arg);
	enum kerr (*profile_versions_put)(void *b, const struct store_profile_version *v, size_t n);
	enum kerr (*profile_version_get)(void *b, const char *digest, char out_name[64],
	                                 json_t **out_files);
};

extern const struct store_backend store_backend_sqlite;
extern const struct store_backend store_backend_postgres;

/*
 * The rules of a replacement report, for both backends: given what is
 * recorded now about r->member (its replaces and removed_by, "" for none)
 * and about r->replaces (its removed_by), K_OK with r->changed (write
 * both rows) or not (the same report again), or K_EEXIST with r->why and
 * r->other.
 */
enum kerr store_replace_decide(struct store_replace *r, const char *member_replaces,
                               const char *member_removed_by, const char *replaces_removed_by);

/* Whether --db names a PostgreSQL database (postgresql:// or postgres://). */
bool store_target_is_postgres(const char *target);

#endif
