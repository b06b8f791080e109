/* store.h - kindling's durable state (SQLite or PostgreSQL: server/store/). */
#ifndef KINDLING_STORE_H
#define KINDLING_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

/* An open database; thread-safe (an internal pool of connections). */
struct store;

/* Rotated fetch tokens still in their grace period, at most, per cluster: a
 * rotation past it is refused (K_ELIMIT) rather than revoking one early. */
#define STORE_PREV_TOKENS 16

/* A rotated fetch token and the end of its grace period. */
struct prev_token {
	char token[65];
	int64_t until; /* ms */
};

/* One cluster row. Owned json_t and strings are released by cluster_clear. */
struct cluster {
	char id[37];
	char name[64];
	int size;
	json_t *profiles; /* array of strings */
	json_t *vars;     /* object of strings */
	json_t *secrets;  /* object of strings */
	char ignition_version[24];
	char discovery_mode[12]; /* "builtin" or "upstream" */
	char *discovery_url;
	char discovery_token[33];   /* built-in mode; "" otherwise */
	char discovery_protocol[4]; /* "v2" or "v3" (v3: built-in mode only; "" = v2 on insert) */
	char fetch_token[65];
	struct prev_token prev[STORE_PREV_TOKENS]; /* rotated tokens, in no order */
	int nprev;                                 /* some may have expired since read */
	int64_t generation;
	int64_t fetch_count;
	int64_t last_fetch_at; /* ms, 0 = never */
	int64_t created_at, updated_at;
	int members; /* registered in built-in discovery */
	/* the current generation's profile digests, parallel to profiles (a
	 * JSON array of strings); NULL for a row made before generations, until
	 * kindling snapshots it at start */
	json_t *profile_versions;
	/* written, not read back: what made the generation being written
	 * ({"kind": ...}); a create without one records {"kind": "created"} */
	json_t *change;
};

/* Releases what a cluster owns and zeroes it. Accepts NULL. */
void cluster_clear(struct cluster *c);

/* How many rotated tokens of c are still valid at now (ms); *out_until, when
 * not NULL, gets the latest end of their grace. */
int cluster_grace_tokens(const struct cluster *c, int64_t now, int64_t *out_until);

/* Milliseconds since the epoch. */
int64_t store_now_ms(void);

/*
 * Opens the database path names: a postgresql:// or postgres:// URL is a
 * PostgreSQL database (libpq: PG* variables, sslmode; a pool of up to
 * pool_size connections opened on demand; its migrations applied past
 * schema_version in one transaction under an advisory lock); anything else
 * an SQLite file, opened (creating it and its folder, 0700) with WAL,
 * synchronous=FULL, foreign keys and a busy timeout, its migrations
 * applied past PRAGMA user_version in one transaction, refusing to create a
 * new database where one was (path missing, its -wal or -shm present).
 * Both refuse a database newer than the binary. On error returns K_EIO (or
 * K_ENOMEM) with a message in errmsg and *out untouched.
 *
 * Errors of every call below: K_EUNAVAIL when the database stayed locked by
 * another writer for the whole busy or statement timeout, or cannot be
 * reached (retry); K_EIO for a failure of the database or the disk, whose
 * cause the store logs once per kind.
 */
enum kerr store_open(const char *path, int pool_size, struct store **out, struct buf *errmsg);

/* Closes every connection and NULLs *s. Accepts NULL. */
void store_close(struct store **s);

/*
 * Whether the database can be read and written: the file is still the one
 * opened (not deleted, renamed or replaced), a read works, and after a
 * failed write a probe write works. K_OK, or K_EIO / K_EUNAVAIL with the
 * reason in why.
 */
enum kerr store_health(struct store *s, struct buf *why);

/* The cause of the last failure of the database (SQLite's message, errno),
 * "" after a success; for error answers. */
void store_last_fault(struct store *s, char *out, size_t n);

/*
 * Inserts the clusters cls[0..n) (each with, when its discovery_token is
 * non-empty, its discovery directory of its size) in one durable
 * transaction: one fsync for the batch. results[i] says what became of
 * cls[i]: K_OK (stored), K_EEXIST (the name is taken, by an earlier cluster
 * or one before it in the batch), K_ELIMIT (max_clusters exist already),
 * K_ENOMEM or K_EIO (not stored). A failed create does not undo the others.
 */
void store_clusters_create(struct store *s, const struct cluster *const *cls, size_t n,
                           int max_clusters, enum kerr *results);

/* Fills *out (clear it with cluster_clear). K_OK, K_ENOTFOUND, K_EIO. */
enum kerr store_cluster_get(struct store *s, const char *name, struct cluster *out);

/* How clusters are listed; all borrowed. */
enum store_sort { SORT_NAME, SORT_NAME_DESC, SORT_CREATED, SORT_CREATED_DESC };
struct store_list_query {
	const char *q; /* substring of the name, or NULL */
	enum store_sort sort;
	bool has_cursor;     /* list what comes after (cursor_time, cursor_name) */
	int64_t cursor_time; /* created_at sorts only */
	const char *cursor_name;
	int limit;
};

/*
 * Calls fn for each cluster of the page in order (the cluster is valid only
 * during the call); *out_more tells whether more follow; *out_total counts
 * all clusters matching q. K_OK or K_EIO (fn may have been called).
 */
enum kerr store_cluster_list(struct store *s, const struct store_list_query *q,
                             void (*fn)(const struct cluster *c, void *arg), void *arg,
                             bool *out_more, int64_t *out_total);

/*
 * Changes a cluster inside a write transaction: c is the row as it is now;
 * the function may replace c->vars, c->secrets, c->profiles,
 * c->profile_versions and c->ignition_version (the inputs of a generation,
 * written back), sets c->change, and returns K_OK to write them, or an
 * error to change nothing (returned as is).
 */
typedef enum kerr (*store_mutate_fn)(void *arg, struct cluster *c);

/*
 * Reads the cluster, calls fn, and when it returns K_OK writes its inputs,
 * bumps generation and updated_at, records the new generation (its inputs
 * and c->change) and drops the cluster's generations older than the newest
 * store_keep_generations, all in one transaction; fills *out with the new
 * row. K_OK, K_ENOTFOUND, fn's error, K_EUNAVAIL, K_EIO.
 */
enum kerr store_cluster_update(struct store *s, const char *name, store_mutate_fn fn, void *arg,
                               struct cluster *out);

/*
 * Makes token the fetch token; the current one stays valid until
 * grace_until (ms), as do the ones rotated before while their grace lasts.
 * Refills *out. K_OK, K_ENOTFOUND, K_ELIMIT (STORE_PREV_TOKENS are still in
 * their grace period), K_EUNAVAIL, K_EIO.
 */
enum kerr store_cluster_rotate_token(struct store *s, const char *name, const char *token,
                                     int64_t grace_until, struct cluster *out);

/* Deletes a cluster with its discovery directory and fetch log. K_OK, K_ENOTFOUND, K_EIO.
 * *out_token (33 bytes) receives its discovery token, "" when none. */
enum kerr store_cluster_delete(struct store *s, const char *name, char out_token[33]);

/* One config fetch by a node. Strings borrowed. */
struct store_fetch {
	const char *cluster_id;
	int64_t at; /* ms */
	const char *client;
	const char *user_agent;
	const char *version;
	int status;
	int64_t generation; /* the generation served (0: none, or not known) */
};

/* One cluster's fetches of a batch, of one generation: rows to append
 * (oldest first), and the 200s to count (on the cluster and on that
 * generation), which may be more than the rows kept. */
struct store_fetch_group {
	const char *cluster_id;
	int64_t generation;
	const struct store_fetch *rows;
	size_t nrows;
	int64_t ok;      /* 200s in the batch: added to fetch_count */
	int64_t last_ok; /* time of the newest 200: last_fetch_at (when ok > 0) */
};

/*
 * Records a batch in one transaction: per cluster, appends its rows to its
 * log and trims the log to the newest keep rows, and counts its 200s.
 * Clusters deleted meanwhile are skipped. K_OK or K_EIO (nothing recorded).
 */
enum kerr store_fetches_record(struct store *s, const struct store_fetch_group *groups, size_t n,
                               int keep);

/* Calls fn for the newest fetches of a cluster, newest first (strings valid
 * during the call only). K_OK or K_EIO. */
enum kerr store_fetches_list(struct store *s, const char *cluster_id, int limit,
                             void (*fn)(const struct store_fetch *f, void *arg), void *arg);

/* A registered etcd member of a discovery directory. */
struct store_member {
	char id[33]; /* lowercase hex, the key's basename */
	char *value; /* "name=peer-url,..." (owned) */
	int64_t created_index;
	int64_t created_at; /* ms */
};

/* A discovery directory with its members in created_index order. */
struct store_dir {
	int size;
	int64_t last_index;
	char cluster_id[37]; /* "" for a token from GET /new */
	struct store_member *members;
	size_t n;
};

/* Releases a dir's members and zeroes it. Accepts NULL. */
void store_dir_clear(struct store_dir *d);

/* Creates a discovery directory not tied to a cluster (GET /new). K_OK, K_EEXIST, K_EIO. */
enum kerr store_dir_create(struct store *s, const char *token, int size);

/* Loads a directory. K_OK, K_ENOTFOUND, K_EIO. */
enum kerr store_dir_get(struct store *s, const char *token, struct store_dir *out);

/* One registration of a group commit, and what became of it. */
struct store_put {
	const char *token;
	const char *id;
	const char *value;
	int max_members;
	enum kerr result; /* K_OK, K_ENOTFOUND (no such token), K_EEXIST, K_ELIMIT */
	int64_t index;    /* K_OK: the new created_index; K_EEXIST: the token's last index */
	int64_t at;       /* ms */
};

/*
 * Applies registrations in order in ONE durable transaction (one fsync for
 * all): each gets the token's next index, or its own result when refused.
 * Returns K_OK (see each result) or K_EIO (nothing applied).
 */
enum kerr store_put_members(struct store *s, struct store_put *puts, size_t n);

/* What nodes reported about one etcd member of a cluster (cluster_members). */
struct store_member_state {
	char member_id[33];
	char replaces[33];   /* the member this one replaced; "" when none reported */
	int64_t replaced_at; /* ms; 0 */
	char removed_by[33]; /* the member that replaced this one (it was removed); "" */
	int64_t removed_at;  /* ms; 0 */
};

/* Why a replacement report was refused (with its error). */
enum store_replace_why {
	REPL_OK,
	REPL_NO_CLUSTER,       /* K_ENOTFOUND: the token is no cluster's directory */
	REPL_NO_MEMBER,        /* K_ENOTFOUND: member is not registered in it */
	REPL_NO_REPLACES,      /* K_ENOTFOUND: replaces is not registered in it */
	REPL_MEMBER_REMOVED,   /* K_EEXIST: member itself was recorded as removed */
	REPL_MEMBER_REPLACED,  /* K_EEXIST: member replaced another one already */
	REPL_ALREADY_REPLACED, /* K_EEXIST: replaces was replaced by another member */
};

/* A replacement report: inputs (borrowed), then what the store filled in. */
struct store_replace {
	const char *token;    /* the cluster's discovery token */
	const char *member;   /* the member that joined (registered in the directory) */
	const char *replaces; /* the member it removed (registered there too) */
	int64_t at;           /* ms */
	char cluster_id[37];  /* out: the cluster the token belongs to */
	char cluster[64];     /* out: its name */
	char other[33]; /* out, REPL_MEMBER_REPLACED / REPL_ALREADY_REPLACED: the other member */
	bool changed;   /* out, K_OK: false when exactly this was recorded before */
	enum store_replace_why why;
};

/*
 * Records, in one durable transaction, that r->member replaced r->replaces
 * in the cluster whose discovery directory is r->token: member becomes a
 * replacement of replaces, replaces becomes removed by member. Both must be
 * registered in that directory, so a token only ever reports about its own
 * cluster. The same report again is K_OK with changed false. K_OK,
 * K_ENOTFOUND or K_EEXIST (r->why says which), K_EUNAVAIL, K_EIO.
 */
enum kerr store_member_replace(struct store *s, struct store_replace *r);

/* Calls fn for each member of the cluster a node reported about (the state
 * is valid during the call only), in no particular order. K_OK or K_EIO. */
enum kerr store_member_states(struct store *s, const char *cluster_id,
                              void (*fn)(const struct store_member_state *m, void *arg), void *arg);

/* Counts clusters. K_OK or K_EIO. */
enum kerr store_cluster_count(struct store *s, int64_t *out);

/*
 * Generations (issue 15): each one's inputs, as the store records them with
 * every create and store_cluster_update, the newest store_keep_generations
 * of each cluster kept; and the profile files they name by digest.
 */

/* How many generations of a cluster are kept (the newest; the current one
 * always): set once at start, before any write. Default 50. */
void store_keep_generations(struct store *s, int keep);
#define STORE_KEEP_GENERATIONS_DEFAULT 50

/* One generation. change and inputs are owned (store_generation_clear). */
struct store_generation {
	int64_t generation;
	int64_t created_at; /* ms */
	int64_t fetches;    /* 200s served of it */
	json_t *change; /* {"kind": "created" | "vars" | "profiles" | "rollback" | "snapshot", ...}
	                 */
	json_t *inputs; /* store_generation_inputs */
};

void store_generation_clear(struct store_generation *g);

/* A new reference: the inputs of c's generation, {profiles,
 * profile_versions, vars, secrets, ignition_version}; what both backends
 * store. NULL on ENOMEM. */
json_t *store_generation_inputs(const struct cluster *c);

/* Calls fn for each kept generation of the cluster, newest first (valid
 * during the call only). K_OK or K_EIO. */
enum kerr store_generations_list(struct store *s, const char *cluster_id,
                                 void (*fn)(const struct store_generation *g, void *arg),
                                 void *arg);

/* Fills *out with one generation. K_OK, K_ENOTFOUND (never made, or no
 * longer kept), K_EIO. */
enum kerr store_generation_get(struct store *s, const char *cluster_id, int64_t generation,
                               struct store_generation *out);

/* One profile's files as a generation uses them (borrowed). */
struct store_profile_version {
	const char *digest; /* PROFILE_DIGEST_LEN hex digits */
	const char *name;
	const json_t *files;
};

/* Calls fn with the name of every cluster stored before generations (no
 * profile_versions; an index finds them). K_OK or K_EIO. */
enum kerr store_clusters_unsnapshotted(struct store *s, void (*fn)(const char *name, void *arg),
                                       void *arg);

/* Stores the versions not stored yet (kept by digest: the same content is
 * one row, whoever wrote it), in one transaction. K_OK, K_EUNAVAIL, K_EIO. */
enum kerr store_profile_versions_put(struct store *s, const struct store_profile_version *v,
                                     size_t n);

/* Reads one version: *out_files a new reference, out_name its profile's
 * name. K_OK, K_ENOTFOUND, K_EIO. */
enum kerr store_profile_version_get(struct store *s, const char *digest, char out_name[64],
                                    json_t **out_files);

/*
 * Moving a deployment (kindling migrate): an SQLite database copied into an
 * empty PostgreSQL one, every table of the data model (server/store/tables.c
 * lists them), rows and indexes exactly as they are.
 */

/* Rows copied per table, in the order of names; for the operator. */
#define STORE_COPY_TABLES_MAX 16
struct store_copy_stats {
	int ntables;
	const char *names[STORE_COPY_TABLES_MAX]; /* static strings */
	int64_t rows[STORE_COPY_TABLES_MAX];
	int64_t discovery_index; /* the target's discovery counter after the copy */
	char target[256];        /* the target as user@host:port/db: never a password */
};

/*
 * Opens the SQLite database at path read-only, as the source of
 * store_copy: no migrations, nothing created (a missing file is an error),
 * its schema must be the one this binary writes, and every read sees one
 * snapshot, taken here. A postgresql:// URL is refused (K_EINVAL). On
 * error *out is untouched and errmsg says why. Close it with store_close.
 */
enum kerr store_open_snapshot(const char *path, struct store **out, struct buf *errmsg);

/*
 * Copies every table of src (from store_open_snapshot) into dst (a
 * PostgreSQL store), in ONE transaction of dst: all or nothing. Refuses
 * (K_EEXIST, nothing changed) a target that holds clusters or discovery
 * directories already, and (K_EINVAL) a source or target whose tables or
 * columns are not the ones tables.c lists. After the commit counts the rows
 * of dst again and compares them with what was copied (K_EIO when they
 * differ). Fills *out with the counts; errmsg says what went wrong.
 */
enum kerr store_copy(struct store *src, struct store *dst, struct store_copy_stats *out,
                     struct buf *errmsg);

/* A node's newest boot report (the report profile's POST). Strings borrowed. */
struct store_report {
	const char *node;    /* its host name: the key within the cluster */
	const char *boot_id; /* /proc/sys/kernel/random/boot_id */
	int64_t at;          /* received, ms */
	int failed;          /* failed units it lists */
	const char *body;    /* the validated report, compact JSON */
	const char *cluster; /* the cluster's name (for other replicas' events) */
};

/*
 * Stores r as the newest report of node r->node of the cluster (replacing
 * the one it had) and keeps only the cluster's newest keep reports, in one
 * durable transaction. K_OK, K_ENOTFOUND (no such cluster), K_EUNAVAIL, K_EIO.
 */
enum kerr store_report_put(struct store *s, const char *cluster_id, const struct store_report *r,
                           int keep);

/* Calls fn for each kept report of the cluster, newest first (strings valid
 * during the call only). K_OK or K_EIO (fn may have been called). */
enum kerr store_reports_list(struct store *s, const char *cluster_id,
                             void (*fn)(const struct store_report *r, void *arg), void *arg);

/* Counts the kept reports of all clusters: *out_nodes, and of them
 * *out_failed that list failed units. K_OK or K_EIO. */
enum kerr store_reports_count(struct store *s, int64_t *out_nodes, int64_t *out_failed);
/*
 * The change feed: what OTHER processes on the same database committed
 * (PostgreSQL: their NOTIFYs, sent inside each write transaction and
 * delivered at commit, in commit order, to one LISTEN connection of this
 * process). kind is an events.h kind name ("cluster-changed", ...), or
 * "resync" once the listening connection is back after a break: changes of
 * that time were missed (NOTIFY has no replay). Strings are borrowed for
 * the call; "" for what the change does not name.
 */
struct store_change {
	const char *kind;
	const char *cluster;    /* name */
	const char *cluster_id; /* id */
	const char *token;      /* discovery token */
	const char *member;     /* member-registered/-replaced: its id; node-reported: the node */
	int64_t index;          /* member-registered: its index */
	int64_t generation;     /* cluster-created / changed: the committed generation */
	int64_t at;             /* ms */
};

/* Called on the store's listener thread, one change at a time. */
typedef void (*store_change_fn)(void *arg, const struct store_change *c);

/*
 * Starts the listener thread that delivers other processes' changes to fn
 * (reconnecting with a backoff after a break, then delivering "resync").
 * SQLite: one process owns the file, nothing to deliver: K_OK and no
 * thread. K_OK, K_ENOMEM, K_EIO (no thread). Once per store.
 */
enum kerr store_listen(struct store *s, store_change_fn fn, void *arg);

/* Stops the listener: fn is not called once this returns. Accepts NULL and
 * a store that never listened. */
void store_unlisten(struct store *s);

/*
 * Whether a copy read from the store now stays current through the change
 * feed: a non-zero stamp that stays the same while the listening connection
 * stays up, 0 while it is down (or before store_listen). A copy may be
 * served from memory only while the stamp is non-zero and equal to the one
 * taken before it was read. SQLite: always 1 (every change is this
 * process's own).
 */
uint64_t store_feed_stamp(struct store *s);

/* Whether other processes may write the same database (PostgreSQL). */
bool store_shared(struct store *s);

#endif
