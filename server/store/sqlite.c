/* sqlite.c - the SQLite backend of the store (the default); the only file that includes sqlite3.h.
 */
#include "backend.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include "../log.h"
#include "migrations.h"

/* How long a write waits for a lock held by another process; then K_EUNAVAIL. */
#define BUSY_TIMEOUT_MS   10000
#define BUSY_TIMEOUT_TEXT "10000"
/* After a "disk full", /healthz is not ok until this much is free again. */
#define DISK_ROOM_MIN (1024 * 1024)

/* Every statement kindling runs, prepared once per connection on first use. */
enum q {
	Q_BEGIN,
	Q_COMMIT,
	Q_ROLLBACK,
	Q_SAVEPOINT,
	Q_ROLLBACK_TO,
	Q_RELEASE,
	Q_PING,
	Q_COUNT_CLUSTERS,
	Q_CLUSTER_INSERT,
	Q_TOKEN_INSERT,
	Q_CLUSTER_GET,
	Q_LIST_NAME,
	Q_LIST_NAME_DESC,
	Q_LIST_CREATED,
	Q_LIST_CREATED_DESC,
	Q_LIST_TOTAL,
	Q_SET_VARS,
	Q_ROTATE,
	Q_PREV_EXPIRE,
	Q_PREV_COUNT,
	Q_PREV_ADD,
	Q_PROBE,
	Q_TOKEN_OF,
	Q_DELETE,
	Q_FETCH_INSERT,
	Q_FETCH_COUNT,
	Q_FETCH_TRIM,
	Q_FETCH_LIST,
	Q_DIR_CREATE,
	Q_DIR_GET,
	Q_DIR_MEMBERS,
	Q_MEMBER_EXISTS,
	Q_MEMBER_COUNT,
	Q_MEMBER_INSERT,
	Q_DIR_BUMP,
	Q_REPORT_PUT,
	Q_REPORT_TRIM,
	Q_REPORT_LIST,
	Q_REPORT_COUNT,
	Q_REPL_CLUSTER,
	Q_STATE_GET,
	Q_STATE_JOIN,
	Q_STATE_REMOVE,
	Q_STATES,
	Q_GEN_INSERT,
	Q_GEN_TRIM,
	Q_GEN_FETCHES,
	Q_GEN_LIST,
	Q_GEN_GET,
	Q_PV_PUT,
	Q_PV_GET,
	Q_UNSNAPSHOTTED,
	Q_COUNT
};

#define CLUSTER_COLS                                                                               \
	"c.id, c.name, c.size, c.profiles, c.vars, c.secrets, c.ignition_version, "                \
	"c.discovery_mode, c.discovery_url, coalesce(t.token, ''), c.fetch_token, "                \
	"(SELECT json_group_array(json_array(p.token, p.valid_until)) FROM fetch_tokens_prev p "   \
	"WHERE p.cluster_id = c.id), c.generation, c.fetch_count, "                                \
	" coalesce(c.last_fetch_at, 0), c.created_at, c.updated_at, "                              \
	"(SELECT count(*) FROM discovery_members m WHERE m.token = t.token), "                     \
	"c.discovery_protocol, c.profile_versions "
#define CLUSTER_FROM " FROM clusters c LEFT JOIN discovery_tokens t ON t.cluster_id = c.id "
#define LIST_FILTER  " WHERE (?1 IS NULL OR instr(c.name, ?1) > 0) AND "

static const char *const sql[Q_COUNT] = {
        [Q_BEGIN] = "BEGIN IMMEDIATE",
        [Q_COMMIT] = "COMMIT",
        [Q_ROLLBACK] = "ROLLBACK",
        [Q_SAVEPOINT] = "SAVEPOINT one",
        [Q_ROLLBACK_TO] = "ROLLBACK TO one",
        [Q_RELEASE] = "RELEASE one",
        [Q_PING] = "SELECT count(*) FROM sqlite_schema",
        [Q_COUNT_CLUSTERS] = "SELECT n FROM cluster_count",
        [Q_CLUSTER_INSERT] =
                "INSERT INTO clusters (id, name, size, profiles, vars, secrets, ignition_version, "
                "discovery_mode, discovery_url, fetch_token, generation, created_at, updated_at, "
                "discovery_protocol, profile_versions) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 1, ?11, ?11, ?12, ?13)",
        [Q_TOKEN_INSERT] = "INSERT INTO discovery_tokens (token, size, cluster_id, last_index, "
                           "created_at) VALUES (?1, ?2, ?3, 1, ?4)",
        [Q_CLUSTER_GET] = "SELECT " CLUSTER_COLS CLUSTER_FROM "WHERE c.name = ?1",
        [Q_LIST_NAME] = "SELECT " CLUSTER_COLS CLUSTER_FROM LIST_FILTER
                        "c.name > ?3 ORDER BY c.name LIMIT ?4",
        [Q_LIST_NAME_DESC] = "SELECT " CLUSTER_COLS CLUSTER_FROM LIST_FILTER
                             "c.name < ?3 ORDER BY c.name DESC LIMIT ?4",
        [Q_LIST_CREATED] =
                "SELECT " CLUSTER_COLS CLUSTER_FROM LIST_FILTER
                "(c.created_at, c.name) > (?2, ?3) ORDER BY c.created_at, c.name LIMIT ?4",
        [Q_LIST_CREATED_DESC] =
                "SELECT " CLUSTER_COLS CLUSTER_FROM LIST_FILTER "(c.created_at, c.name) < (?2, ?3) "
                "ORDER BY c.created_at DESC, c.name DESC LIMIT ?4",
        [Q_LIST_TOTAL] =
                "SELECT count(*) FROM clusters c WHERE (?1 IS NULL OR instr(c.name, ?1) > 0)",
        [Q_SET_VARS] = "UPDATE clusters SET vars = ?2, secrets = ?4, profiles = ?5, "
                       "profile_versions = ?6, ignition_version = ?7, "
                       "generation = generation + 1, updated_at = ?3 WHERE name = ?1",
        [Q_ROTATE] = "UPDATE clusters SET fetch_token = ?2, updated_at = ?3 WHERE name = ?1",
        [Q_PREV_EXPIRE] = "DELETE FROM fetch_tokens_prev WHERE valid_until <= ?2 AND cluster_id = "
                          "(SELECT id FROM clusters WHERE name = ?1)",
        [Q_PREV_COUNT] = "SELECT count(*) FROM fetch_tokens_prev WHERE cluster_id = "
                         "(SELECT id FROM clusters WHERE name = ?1)",
        [Q_PREV_ADD] = "INSERT INTO fetch_tokens_prev (cluster_id, token, valid_until) "
                       "SELECT id, fetch_token, ?2 FROM clusters WHERE name = ?1",
        [Q_PROBE] = "UPDATE cluster_count SET n = n",
        [Q_TOKEN_OF] = "SELECT coalesce(t.token, '') FROM clusters c LEFT JOIN discovery_tokens t "
                       "ON t.cluster_id = c.id WHERE c.name = ?1",
        [Q_DELETE] = "DELETE FROM clusters WHERE name = ?1",
        [Q_FETCH_INSERT] = "INSERT INTO fetches (cluster_id, at, client, user_agent, version, "
                           "status, generation) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS "
                           "(SELECT 1 FROM clusters WHERE id = ?1)",
        [Q_FETCH_COUNT] = "UPDATE clusters SET fetch_count = fetch_count + ?3, last_fetch_at = ?2 "
                          "WHERE id = ?1",
        [Q_FETCH_TRIM] = "DELETE FROM fetches WHERE cluster_id = ?1 AND id <= "
                         "(SELECT id FROM fetches WHERE cluster_id = ?1 ORDER BY id DESC "
                         "LIMIT 1 OFFSET ?2)",
        [Q_FETCH_LIST] = "SELECT at, client, user_agent, version, status, generation FROM fetches "
                         "WHERE cluster_id = ?1 ORDER BY id DESC LIMIT ?2",
        [Q_DIR_CREATE] = "INSERT INTO discovery_tokens (token, size, cluster_id, last_index, "
                         "created_at) VALUES (?1, ?2, NULL, 1, ?3)",
        [Q_DIR_GET] = "SELECT size, last_index, coalesce(cluster_id, '') FROM discovery_tokens "
                      "WHERE token = ?1",
        [Q_DIR_MEMBERS] = "SELECT member_id, value, created_index, created_at FROM "
                          "discovery_members WHERE token = ?1 ORDER BY created_index",
        [Q_MEMBER_EXISTS] = "SELECT 1 FROM discovery_members WHERE token = ?1 AND member_id = ?2",
        [Q_MEMBER_COUNT] = "SELECT count(*) FROM discovery_members WHERE token = ?1",
        [Q_MEMBER_INSERT] =
                "INSERT INTO discovery_members (token, member_id, value, created_index, "
                "created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        [Q_DIR_BUMP] = "UPDATE discovery_tokens SET last_index = ?2 WHERE token = ?1",
        [Q_REPORT_PUT] =
                "INSERT INTO node_reports (cluster_id, node, boot_id, at, failed, body) "
                "SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM clusters WHERE id = ?1) "
                "ON CONFLICT (cluster_id, node) DO UPDATE SET boot_id = excluded.boot_id, "
                "at = excluded.at, failed = excluded.failed, body = excluded.body",
        [Q_REPORT_TRIM] = "DELETE FROM node_reports WHERE cluster_id = ?1 AND node NOT IN "
                          "(SELECT node FROM node_reports WHERE cluster_id = ?1 "
                          "ORDER BY at DESC, node LIMIT ?2)",
        [Q_REPORT_LIST] = "SELECT node, boot_id, at, failed, body FROM node_reports "
                          "WHERE cluster_id = ?1 ORDER BY at DESC, node",
        [Q_REPORT_COUNT] = "SELECT count(*), coalesce(sum(failed > 0), 0) FROM node_reports",
        [Q_REPL_CLUSTER] = "SELECT c.id, c.name FROM discovery_tokens t JOIN clusters c "
                           "ON c.id = t.cluster_id WHERE t.token = ?1",
        [Q_STATE_GET] = "SELECT coalesce(replaces, ''), coalesce(removed_by, '') FROM "
                        "cluster_members WHERE cluster_id = ?1 AND member_id = ?2",
        [Q_STATE_JOIN] = "INSERT INTO cluster_members (cluster_id, member_id, replaces, "
                         "replaced_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (cluster_id, "
                         "member_id) DO UPDATE SET replaces = excluded.replaces, "
                         "replaced_at = excluded.replaced_at",
        [Q_STATE_REMOVE] = "INSERT INTO cluster_members (cluster_id, member_id, removed_by, "
                           "removed_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (cluster_id, "
                           "member_id) DO UPDATE SET removed_by = excluded.removed_by, "
                           "removed_at = excluded.removed_at",
        [Q_STATES] = "SELECT member_id, coalesce(replaces, ''), coalesce(replaced_at, 0), "
                     "coalesce(removed_by, ''), coalesce(removed_at, 0) FROM cluster_members "
                     "WHERE cluster_id = ?1",
        [Q_GEN_INSERT] = "INSERT INTO cluster_generations (cluster_id, generation, created_at, "
                         "change, inputs) VALUES (?1, ?2, ?3, ?4, ?5)",
        [Q_GEN_TRIM] = "DELETE FROM cluster_generations WHERE cluster_id = ?1 AND generation <= ?2",
        [Q_GEN_FETCHES] = "UPDATE cluster_generations SET fetches = fetches + ?3 "
                          "WHERE cluster_id = ?1 AND generation = ?2",
        [Q_GEN_LIST] = "SELECT generation, created_at, fetches, change, inputs FROM "
                       "cluster_generations WHERE cluster_id = ?1 ORDER BY generation DESC",
        [Q_GEN_GET] = "SELECT generation, created_at, fetches, change, inputs FROM "
                      "cluster_generations WHERE cluster_id = ?1 AND generation = ?2",
        [Q_PV_PUT] = "INSERT INTO profile_versions (digest, name, files, created_at) "
                     "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (digest) DO NOTHING",
        [Q_PV_GET] = "SELECT name, files FROM profile_versions WHERE digest = ?1",
        [Q_UNSNAPSHOTTED] = "SELECT name FROM clusters WHERE profile_versions IS NULL",
};

struct conn {
	pthread_mutex_t mu;
	struct sq *s;
	sqlite3 *db;
	sqlite3_stmt *st[Q_COUNT];
};

struct sq {
	int n;
	struct conn *conns;
	atomic_uint next;
	atomic_llong clusters; /* rows in clusters plus creates under way: for max_clusters */
	char path[4096];
	/* The failure last logged (0: none since the last success), so that a
	 * cause is logged once per kind, not once per request. */
	pthread_mutex_t fault_mu;
	int fault_rc;
	char fault[512];
	atomic_bool write_failed; /* the last write failed: health probes a write */
	atomic_bool moved;        /* the file was deleted or replaced under us: for good */
};

/* The last failure of an SQLite call on this thread (a connection is used by
 * one thread at a time, under its lock), read when the call's store
 * function returns: a ROLLBACK after it would reset sqlite3_errcode. */
static _Thread_local struct {
	int rc;  /* extended result code */
	int sys; /* errno of the failed system call, or 0 */
	char msg[256];
} last_failure;

/* Notes rc (a step's result) when it is a failure. */
static int noted(sqlite3 *db, int rc)
{
	if (rc != SQLITE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) {
		last_failure.rc = rc;
		last_failure.sys = sqlite3_system_errno(db);
		snprintf(last_failure.msg, sizeof(last_failure.msg), "%s", sqlite3_errmsg(db));
	}
	return rc;
}

/* sqlite3_step, noting a failure. */
static int step(sqlite3_stmt *st)
{
	return noted(sqlite3_db_handle(st), sqlite3_step(st));
}

static bool is_busy(int rc)
{
	return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

/* Logs a failure once per kind, and a recovery once. */
static void note_fault(struct sq *s, int rc, const char *text)
{
	pthread_mutex_lock(&s->fault_mu);
	if (rc != s->fault_rc) {
		if (rc)
			log_warnx("database %s: %s", s->path, text);
		else
			log_info("database %s: writes work again", s->path);
		s->fault_rc = rc;
		snprintf(s->fault, sizeof(s->fault), "%s", text);
	}
	pthread_mutex_unlock(&s->fault_mu);
}

/* Takes a connection, preferring an idle one. Never fails. */
/* A free connection, the lowest-numbered first: the few a quiet server uses
 * keep their page caches warm, and the others never fill theirs (up to 2 MB
 * each). When all are busy, waits for one in turn. */
static struct conn *acquire(struct sq *s)
{
	for (int i = 0; i < s->n; i++) {
		struct conn *c = &s->conns[i];
		if (pthread_mutex_trylock(&c->mu) == 0)
			return c;
	}
	unsigned start = atomic_fetch_add(&s->next, 1);
	struct conn *c = &s->conns[start % (unsigned)s->n];
	pthread_mutex_lock(&c->mu);
	return c;
}

/* Takes a connection for reading. */
static struct conn *acquire_read(struct sq *s)
{
	last_failure.rc = 0;
	return acquire(s);
}

/*
 * Gives the connection back and returns what the store function returns:
 * e, except that a failure of a lock held elsewhere for the whole busy
 * timeout is K_EUNAVAIL. After a write (write true) notes success or the
 * failure, which is logged once per kind.
 */
static enum kerr release(struct conn *c, enum kerr e, bool write)
{
	struct sq *s = c->s;
	pthread_mutex_unlock(&c->mu);
	if (e == K_EIO && is_busy(last_failure.rc))
		e = K_EUNAVAIL;
	if (e == K_EIO || e == K_EUNAVAIL) {
		char text[512];
		if (atomic_load(&s->moved))
			snprintf(text, sizeof(text),
			         "the file was deleted, renamed or replaced while kindling was "
			         "running: nothing can be written to it. Put it back and restart "
			         "kindling");
		else if (last_failure.sys)
			snprintf(text, sizeof(text), "%s (%s)", last_failure.msg,
			         strerror(last_failure.sys));
		else
			snprintf(text, sizeof(text), "%s",
			         last_failure.rc ? last_failure.msg : "unknown failure");
		note_fault(s,
		           atomic_load(&s->moved) ? -1
		           : last_failure.rc      ? last_failure.rc
		                                  : -2,
		           text);
		if (write)
			atomic_store(&s->write_failed, true);
	} else if (write && atomic_load(&s->write_failed)) {
		atomic_store(&s->write_failed, false);
		note_fault(s, 0, "");
	}
	return e;
}

/* Takes a connection for a write transaction: refuses (K_EIO) when the
 * database file is not the one opened any more. */
static struct conn *acquire_write(struct sq *s, enum kerr *e)
{
	struct conn *c = acquire_read(s);
	int moved = 0;
	*e = K_OK;
	if (atomic_load(&s->moved) ||
	    (sqlite3_file_control(c->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK &&
	     moved)) {
		atomic_store(&s->moved, true);
		*e = K_EIO;
	}
	return c;
}

/* The prepared statement for q on c, or NULL (prepare failed: a bug). */
static sqlite3_stmt *stmt(struct conn *c, enum q q)
{
	if (!c->st[q] && sqlite3_prepare_v3(c->db, sql[q], -1, SQLITE_PREPARE_PERSISTENT, &c->st[q],
	                                    NULL) != SQLITE_OK) {
		fprintf(stderr, "store: cannot prepare \"%s\": %s\n", sql[q],
		        sqlite3_errmsg(c->db));
		return NULL;
	}
	return c->st[q];
}

/* Resets a statement after use, on every path. */
static void done(sqlite3_stmt *st)
{
	if (st) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
}

/* Runs a statement that returns no rows. SQLITE_DONE or the error code. */
static int exec_q(struct conn *c, enum q q)
{
	sqlite3_stmt *st = stmt(c, q);
	if (!st)
		return SQLITE_ERROR;
	int rc = step(st);
	done(st);
	return rc;
}

/* BEGIN IMMEDIATE, unless e says the write is refused already. */
static enum kerr begin(struct conn *c, enum kerr e)
{
	if (e != K_OK)
		return e;
	return exec_q(c, Q_BEGIN) == SQLITE_DONE ? K_OK : K_EIO;
}

/* Commits when e is K_OK, else rolls back; returns the final result. */
static enum kerr finish(struct conn *c, enum kerr e)
{
	if (e == K_OK && exec_q(c, Q_COMMIT) == SQLITE_DONE)
		return K_OK;
	if (!sqlite3_get_autocommit(c->db)) /* BEGIN may have failed: nothing to undo */
		exec_q(c, Q_ROLLBACK);
	return e == K_OK ? K_EIO : e;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static enum kerr bind_json(sqlite3_stmt *st, int i, const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!s)
		return K_ENOMEM;
	sqlite3_bind_text(st, i, s, -1, free);
	return K_OK;
}

static void col_copy(sqlite3_stmt *st, int i, char *out, size_t n)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	snprintf(out, n, "%s", t ? (const char *)t : "");
}

static json_t *col_json(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	return t ? json_loads(t, 0, NULL) : NULL;
}

/* Reads a row selected with CLUSTER_COLS into *c. */
static enum kerr read_cluster(sqlite3_stmt *st, struct cluster *c)
{
	memset(c, 0, sizeof(*c));
	col_copy(st, 0, c->id, sizeof(c->id));
	col_copy(st, 1, c->name, sizeof(c->name));
	c->size = sqlite3_column_int(st, 2);
	c->profiles = col_json(st, 3);
	c->vars = col_json(st, 4);
	c->secrets = col_json(st, 5);
	col_copy(st, 6, c->ignition_version, sizeof(c->ignition_version));
	col_copy(st, 7, c->discovery_mode, sizeof(c->discovery_mode));
	const unsigned char *url = sqlite3_column_text(st, 8);
	c->discovery_url = strdup(url ? (const char *)url : "");
	col_copy(st, 9, c->discovery_token, sizeof(c->discovery_token));
	col_copy(st, 10, c->fetch_token, sizeof(c->fetch_token));
	json_t *prev = col_json(st, 11);
	size_t i;
	json_t *p;
	json_array_foreach (prev, i, p) {
		const char *t = json_string_value(json_array_get(p, 0));
		if (!t || c->nprev == STORE_PREV_TOKENS)
			break;
		str_copy(c->prev[c->nprev].token, sizeof(c->prev[0].token), t);
		c->prev[c->nprev++].until = json_integer_value(json_array_get(p, 1));
	}
	c->generation = sqlite3_column_int64(st, 12);
	c->fetch_count = sqlite3_column_int64(st, 13);
	c->last_fetch_at = sqlite3_column_int64(st, 14);
	c->created_at = sqlite3_column_int64(st, 15);
	c->updated_at = sqlite3_column_int64(st, 16);
	c->members = sqlite3_column_int(st, 17);
	col_copy(st, 18, c->discovery_protocol, sizeof(c->discovery_protocol));
	c->profile_versions = col_json(st, 19); /* NULL: made before generations */
	if (!prev || !c->profiles || !c->vars || !c->secrets || !c->discovery_url) {
		json_decref(prev);
		cluster_clear(c);
		return K_EIO;
	}
	json_decref(prev);
	return K_OK;
}

/* Opens one connection with kindling's settings. */
static int open_conn(const char *path, struct conn *c, struct buf *errmsg)
{
	static const char pragmas[] = "PRAGMA journal_mode = WAL;"
	                              "PRAGMA synchronous = FULL;"
	                              "PRAGMA foreign_keys = ON;"
	                              "PRAGMA busy_timeout = " BUSY_TIMEOUT_TEXT ";";
	struct sq *s = c->s;
	memset(c, 0, sizeof(*c));
	c->s = s;
	pthread_mutex_init(&c->mu, NULL);
	int rc = sqlite3_open_v2(path, &c->db,
	                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                         NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(c->db, pragmas, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		buf_addf(errmsg, "%s: %s", path,
		         c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		return -1;
	}
	sqlite3_extended_result_codes(c->db, 1);
	/* The -wal file stays after the last close: a database deleted while
	 * kindling ran is then recognised at the next start (refuse_lost). */
	int persist = 1;
	sqlite3_file_control(c->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
	return 0;
}

static void close_conn(struct conn *c)
{
	for (int q = 0; q < Q_COUNT; q++)
		sqlite3_finalize(c->st[q]);
	sqlite3_close(c->db);
	pthread_mutex_destroy(&c->mu);
}

/* Applies migrations past user_version inside one transaction. */
static int migrate(sqlite3 *db, const char *path, struct buf *errmsg)
{
	char *err = NULL;
	int version = 0;
	bool read = false;
	sqlite3_stmt *st = NULL;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &err) != SQLITE_OK)
		goto fail;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		version = sqlite3_column_int(st, 0);
		read = true;
	}
	sqlite3_finalize(st);
	if (!read)
		goto fail;
	if (version < 0) {
		buf_addf(errmsg,
		         "%s: schema version %d (PRAGMA user_version) is not one kindling "
		         "writes: this is not a kindling database, or it was changed by hand",
		         path, version);
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	if (version > migrations_sqlite_count) {
		buf_addf(errmsg, "%s: schema version %d is newer than this kindling knows (%d)",
		         path, version, migrations_sqlite_count);
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	for (int i = version; i < migrations_sqlite_count; i++) {
		if (sqlite3_exec(db, migrations_sqlite[i].sql, NULL, NULL, &err) != SQLITE_OK) {
			buf_addf(errmsg, "%s: migration %s: %s", path, migrations_sqlite[i].name,
			         err ? err : sqlite3_errmsg(db));
			sqlite3_free(err);
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
	}
	char set[64];
	snprintf(set, sizeof(set), "PRAGMA user_version = %d; COMMIT", migrations_sqlite_count);
	if (sqlite3_exec(db, set, NULL, NULL, &err) != SQLITE_OK)
		goto fail;
	return 0;
fail:
	buf_addf(errmsg, "%s: %s", path, err ? err : sqlite3_errmsg(db));
	sqlite3_free(err);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/*
 * A database that is missing while its write-ahead log or shared-memory file
 * is there was deleted or moved: creating an empty one in its place would
 * hide that (every cluster gone, silently). Sets *created when the database
 * does not exist yet.
 */
static int refuse_lost(const char *path, bool *created, struct buf *errmsg)
{
	struct stat sb;
	char side[4096 + 8];
	*created = false;
	if (stat(path, &sb) == 0)
		return 0;
	if (errno != ENOENT) {
		buf_addf(errmsg, "%s: %s", path, strerror(errno));
		return -1;
	}
	static const char *const suffixes[] = {"-wal", "-shm", "-journal"};
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(side, sizeof(side), "%s%s", path, suffixes[i]);
		if (stat(side, &sb) == 0) {
			buf_addf(errmsg,
			         "%s does not exist but %s does: the database was deleted or "
			         "moved. Put it back; or, to start with an empty database, "
			         "remove %s-wal, %s-shm and %s-journal first",
			         path, side, path, path, path);
			return -1;
		}
	}
	*created = true;
	return 0;
}

/* Creates the folder of path (not its parents) with mode 0700 when missing. */
static int make_folder(const char *path, struct buf *errmsg)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0700) == 0 || errno == EEXIST)
		return 0;
	buf_addf(errmsg, "cannot create folder %s: %s", dir, strerror(errno));
	return -1;
}

static void sq_close(void *b_);
static enum kerr sq_cluster_count(void *b_, int64_t *out);

static enum kerr sq_open(const char *path, int pool_size, void **out, struct buf *errmsg)
{
	if (make_folder(path, errmsg) < 0)
		return K_EIO;
	bool created = false;
	if (refuse_lost(path, &created, errmsg) < 0)
		return K_EIO;
	struct sq *s = calloc(1, sizeof(*s));
	if (!s)
		return K_ENOMEM;
	s->conns = calloc((size_t)pool_size, sizeof(*s->conns));
	if (!s->conns) {
		free(s);
		return K_ENOMEM;
	}
	str_copy(s->path, sizeof(s->path), path);
	pthread_mutex_init(&s->fault_mu, NULL);
	for (int i = 0; i < pool_size; i++) {
		s->conns[i].s = s;
		if (open_conn(path, &s->conns[i], errmsg) < 0) {
			s->n = i + 1;
			sq_close(s);
			return K_EIO;
		}
		s->n = i + 1;
		if (i == 0 && migrate(s->conns[0].db, path, errmsg) < 0) {
			sq_close(s);
			return K_EIO;
		}
	}
	int64_t n = 0;
	if (sq_cluster_count(s, &n) != K_OK) {
		buf_addf(errmsg, "%s: cannot count clusters", path);
		sq_close(s);
		return K_EIO;
	}
	atomic_store(&s->clusters, n);
	if (created)
		log_info("created a new, empty database at %s", path);
	*out = s;
	return K_OK;
}

static void sq_close(void *b_)
{
	struct sq *s = b_;
	if (!s)
		return;
	for (int i = s->n - 1; i >= 0; i--)
		close_conn(&s->conns[i]);
	pthread_mutex_destroy(&s->fault_mu);
	free(s->conns);
	free(s);
}

/* Runs a one-integer query. */
static enum kerr query_int(struct sq *s, enum q q, int64_t *out)
{
	struct conn *c = acquire_read(s);
	sqlite3_stmt *st = stmt(c, q);
	enum kerr e = K_EIO;
	if (st && step(st) == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		e = K_OK;
	}
	done(st);
	return release(c, e, false);
}

/* A write that changes nothing, with a short busy timeout: can writes
 * succeed now? */
static enum kerr probe_write(struct sq *s)
{
	enum kerr e;
	struct conn *c = acquire_write(s, &e);
	sqlite3_busy_timeout(c->db, 250);
	e = begin(c, e);
	if (e == K_OK && exec_q(c, Q_PROBE) != SQLITE_DONE)
		e = K_EIO;
	e = finish(c, e);
	sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
	return release(c, e, true);
}

static void sq_last_fault(void *b_, char *out, size_t n)
{
	struct sq *s = b_;
	pthread_mutex_lock(&s->fault_mu);
	snprintf(out, n, "%s", s->fault_rc ? s->fault : "");
	pthread_mutex_unlock(&s->fault_mu);
}

/* After a "disk full" failure: true (with the reason in why) while the
 * database's folder has less than DISK_ROOM_MIN bytes free. A small probe
 * write may fit into the reused part of the -wal file while real writes
 * still do not. */
static bool disk_full(struct sq *s, struct buf *why)
{
	pthread_mutex_lock(&s->fault_mu);
	bool full = (s->fault_rc & 0xff) == SQLITE_FULL;
	pthread_mutex_unlock(&s->fault_mu);
	char dir[sizeof(s->path)];
	str_copy(dir, sizeof(dir), s->path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	struct statvfs vfs;
	if (!full || statvfs(slash ? dir : ".", &vfs) != 0)
		return false;
	unsigned long long room = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
	if (room >= DISK_ROOM_MIN)
		return false;
	buf_addf(why, "database or disk is full: %llu bytes free where %s is", room, s->path);
	return true;
}

static enum kerr sq_health(void *b_, struct buf *why)
{
	struct sq *s = b_;
	int64_t n;
	enum kerr e = K_OK;
	int moved = 0;
	struct conn *c = acquire_read(s);
	if (sqlite3_file_control(c->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK &&
	    moved)
		atomic_store(&s->moved, true);
	release(c, K_OK, false);
	if (atomic_load(&s->moved)) {
		buf_addf(why,
		         "the database file %s was deleted, renamed or replaced while kindling "
		         "was running: nothing can be written to it. Put it back and restart "
		         "kindling",
		         s->path);
		return K_EIO;
	}
	e = query_int(s, Q_PING, &n);
	if (e == K_OK && atomic_load(&s->write_failed) && disk_full(s, why))
		return K_EIO;
	if (e == K_OK && atomic_load(&s->write_failed))
		e = probe_write(s);
	if (e != K_OK) {
		pthread_mutex_lock(&s->fault_mu);
		buf_addf(why, "%s", s->fault[0] ? s->fault : kerr_str(e));
		pthread_mutex_unlock(&s->fault_mu);
	}
	return e;
}

static enum kerr sq_cluster_count(void *b_, int64_t *out)
{
	struct sq *s = b_;
	return query_int(s, Q_COUNT_CLUSTERS, out);
}

/* Reserves a place for one more cluster. */
static bool reserve_cluster(struct sq *s, int max)
{
	long long n = atomic_load(&s->clusters);
	do {
		if (n >= max)
			return false;
	} while (!atomic_compare_exchange_weak(&s->clusters, &n, n + 1));
	return true;
}

static enum kerr step_done(sqlite3_stmt *st);

/* Records generation gen of cluster id (inputs and change from cl). */
static enum kerr insert_generation(struct conn *c, const char *id, int64_t gen, int64_t at,
                                   const struct cluster *cl)
{
	sqlite3_stmt *st = stmt(c, Q_GEN_INSERT);
	json_t *inputs = store_generation_inputs(cl);
	json_t *change =
	        cl->change ? json_incref(cl->change) : json_pack("{s:s}", "kind", "created");
	enum kerr e = st && inputs && change ? K_OK : st ? K_ENOMEM : K_EIO;
	if (e == K_OK) {
		bind_text(st, 1, id);
		sqlite3_bind_int64(st, 2, gen);
		sqlite3_bind_int64(st, 3, at);
		e = bind_json(st, 4, change);
		if (e == K_OK)
			e = bind_json(st, 5, inputs);
		if (e == K_OK)
			e = step_done(st);
		else
			done(st);
	} else {
		done(st);
	}
	json_decref(inputs);
	json_decref(change);
	return e;
}

/* Inserts one cluster and its directory, inside a transaction. K_OK,
 * K_EEXIST (name taken), K_ENOMEM, K_EIO. */
static enum kerr insert_cluster(struct conn *c, const struct cluster *cl)
{
	sqlite3_stmt *st = stmt(c, Q_CLUSTER_INSERT);
	enum kerr e = st ? K_OK : K_EIO;
	if (e != K_OK)
		return e;
	bind_text(st, 1, cl->id);
	bind_text(st, 2, cl->name);
	sqlite3_bind_int(st, 3, cl->size);
	if ((e = bind_json(st, 4, cl->profiles)) != K_OK ||
	    (e = bind_json(st, 5, cl->vars)) != K_OK ||
	    (e = bind_json(st, 6, cl->secrets)) != K_OK) {
		done(st);
		return e;
	}
	bind_text(st, 7, cl->ignition_version);
	bind_text(st, 8, cl->discovery_mode);
	bind_text(st, 9, cl->discovery_url);
	bind_text(st, 10, cl->fetch_token);
	sqlite3_bind_int64(st, 11, cl->created_at);
	bind_text(st, 12, cl->discovery_protocol[0] ? cl->discovery_protocol : "v2");
	if (cl->profile_versions && (e = bind_json(st, 13, cl->profile_versions)) != K_OK) {
		done(st);
		return e;
	}
	int rc = step(st);
	done(st);
	if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		return K_EEXIST;
	if (rc != SQLITE_DONE)
		return K_EIO;
	e = insert_generation(c, cl->id, 1, cl->created_at, cl);
	if (e != K_OK || !cl->discovery_token[0])
		return e;
	st = stmt(c, Q_TOKEN_INSERT);
	if (!st)
		return K_EIO;
	bind_text(st, 1, cl->discovery_token);
	sqlite3_bind_int(st, 2, cl->size);
	bind_text(st, 3, cl->id);
	sqlite3_bind_int64(st, 4, cl->created_at);
	rc = step(st);
	done(st);
	return rc == SQLITE_DONE ? K_OK : K_EIO;
}

static void sq_clusters_create(void *b_, const struct cluster *const *cls, size_t n,
                               int max_clusters, enum kerr *results)
{
	struct sq *s = b_;
	enum kerr e;
	struct conn *c = acquire_write(s, &e);
	e = begin(c, e);
	for (size_t i = 0; i < n; i++) {
		if (e != K_OK) {
			results[i] = e;
			continue;
		}
		/* in order, as if one by one: a place is taken just before the
		 * insert and given back at once when the insert fails */
		if (!reserve_cluster(s, max_clusters)) {
			results[i] = K_ELIMIT;
			continue;
		}
		/* a savepoint each: a taken name undoes that create only */
		if (exec_q(c, Q_SAVEPOINT) != SQLITE_DONE) {
			results[i] = e = K_EIO;
		} else {
			results[i] = insert_cluster(c, cls[i]);
			if (results[i] != K_OK)
				exec_q(c, Q_ROLLBACK_TO);
			if (exec_q(c, Q_RELEASE) != SQLITE_DONE)
				e = K_EIO;
		}
		if (results[i] != K_OK)
			atomic_fetch_sub(&s->clusters, 1);
	}
	e = release(c, finish(c, e), true);
	for (size_t i = 0; i < n && e != K_OK; i++) { /* no commit: nothing of it is stored */
		if (results[i] == K_OK) {
			results[i] = e;
			atomic_fetch_sub(&s->clusters, 1);
		} else if (results[i] == K_EIO) { /* a failed BEGIN: busy, say, not I/O */
			results[i] = e;
		}
	}
}

/* Runs a statement bound with ?1 = name that selects one CLUSTER_COLS row. */
static enum kerr get_locked(struct conn *c, const char *name, struct cluster *out)
{
	sqlite3_stmt *st = stmt(c, Q_CLUSTER_GET);
	if (!st)
		return K_EIO;
	bind_text(st, 1, name);
	int rc = step(st);
	enum kerr e = rc == SQLITE_ROW    ? read_cluster(st, out)
	              : rc == SQLITE_DONE ? K_ENOTFOUND
	                                  : K_EIO;
	done(st);
	return e;
}

static enum kerr sq_cluster_get(void *b_, const char *name, struct cluster *out)
{
	struct sq *s = b_;
	struct conn *c = acquire_read(s);
	enum kerr e = get_locked(c, name, out);
	return release(c, e, false);
}

static enum kerr sq_cluster_list(void *b_, const struct store_list_query *q,
                                 void (*fn)(const struct cluster *c, void *arg), void *arg,
                                 bool *out_more, int64_t *out_total)
{
	struct sq *s = b_;
	static const enum q by_sort[] = {
	        [SORT_NAME] = Q_LIST_NAME,
	        [SORT_NAME_DESC] = Q_LIST_NAME_DESC,
	        [SORT_CREATED] = Q_LIST_CREATED,
	        [SORT_CREATED_DESC] = Q_LIST_CREATED_DESC,
	};
	bool desc = q->sort == SORT_NAME_DESC || q->sort == SORT_CREATED_DESC;
	/* Without a cursor, start before the first row in the chosen order:
	 * names are [a-z0-9-], all below "~" and above "". */
	const char *after_name = q->has_cursor ? q->cursor_name : desc ? "~" : "";
	int64_t after_time = q->has_cursor ? q->cursor_time : desc ? INT64_MAX : INT64_MIN;
	struct conn *c = acquire_read(s);
	enum kerr e = K_OK;
	sqlite3_stmt *st = stmt(c, by_sort[q->sort]);
	if (!st) {
		e = K_EIO;
		goto out;
	}
	bind_text(st, 1, q->q && q->q[0] ? q->q : NULL);
	sqlite3_bind_int64(st, 2, after_time);
	bind_text(st, 3, after_name);
	sqlite3_bind_int(st, 4, q->limit + 1);
	int n = 0, rc;
	*out_more = false;
	while ((rc = step(st)) == SQLITE_ROW) {
		if (n++ == q->limit) {
			*out_more = true;
			break;
		}
		struct cluster cl;
		if ((e = read_cluster(st, &cl)) != K_OK)
			goto out;
		fn(&cl, arg);
		cluster_clear(&cl);
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		e = K_EIO;
		goto out;
	}
	done(st);
	st = NULL;
	/* unfiltered, the total is the count the triggers keep: no scan */
	bool filtered = q->q && q->q[0];
	st = stmt(c, filtered ? Q_LIST_TOTAL : Q_COUNT_CLUSTERS);
	if (!st) {
		e = K_EIO;
		goto out;
	}
	if (filtered)
		bind_text(st, 1, q->q);
	if (step(st) == SQLITE_ROW)
		*out_total = sqlite3_column_int64(st, 0);
	else
		e = K_EIO;
out:
	done(st);
	return release(c, e, false);
}

/* Runs a statement bound with ?1 = name (and ?2, ?3 as given, when not
 * NULL) that returns no rows; K_ENOTFOUND when it changed none and
 * must_change. */
static enum kerr exec_named(struct conn *c, enum q q, const char *name, const int64_t *p2,
                            const char *p2s, const int64_t *p3, bool must_change)
{
	sqlite3_stmt *st = stmt(c, q);
	if (!st)
		return K_EIO;
	bind_text(st, 1, name);
	if (p2)
		sqlite3_bind_int64(st, 2, *p2);
	if (p2s)
		bind_text(st, 2, p2s);
	if (p3)
		sqlite3_bind_int64(st, 3, *p3);
	int rc = step(st);
	done(st);
	if (rc != SQLITE_DONE)
		return K_EIO;
	return must_change && sqlite3_changes(c->db) == 0 ? K_ENOTFOUND : K_OK;
}

static enum kerr sq_cluster_update(void *b_, const char *name, store_mutate_fn fn, void *arg,
                                   int keep, struct cluster *out)
{
	struct sq *s = b_;
	struct cluster cur = {0};
	enum kerr e;
	int64_t now = store_now_ms();
	memset(out, 0, sizeof(*out));
	struct conn *c = acquire_write(s, &e);
	e = begin(c, e);
	if (e == K_OK)
		e = get_locked(c, name, &cur);
	if (e == K_OK)
		e = fn(arg, &cur);
	sqlite3_stmt *st = e == K_OK ? stmt(c, Q_SET_VARS) : NULL;
	if (e == K_OK && !st)
		e = K_EIO;
	if (e == K_OK) {
		bind_text(st, 1, name);
		sqlite3_bind_int64(st, 3, now);
		bind_text(st, 7, cur.ignition_version);
		if ((e = bind_json(st, 2, cur.vars)) == K_OK &&
		    (e = bind_json(st, 4, cur.secrets)) == K_OK &&
		    (e = bind_json(st, 5, cur.profiles)) == K_OK && cur.profile_versions)
			e = bind_json(st, 6, cur.profile_versions);
		if (e == K_OK && step(st) != SQLITE_DONE)
			e = K_EIO;
		done(st);
	}
	if (e == K_OK)
		e = get_locked(c, name, out);
	if (e == K_OK)
		e = insert_generation(c, out->id, out->generation, now, &cur);
	if (e == K_OK && out->generation > keep) {
		st = stmt(c, Q_GEN_TRIM);
		if (st) {
			bind_text(st, 1, out->id);
			sqlite3_bind_int64(st, 2, out->generation - keep);
		}
		e = step_done(st);
	}
	e = finish(c, e);
	if (e != K_OK)
		cluster_clear(out);
	cluster_clear(&cur);
	return release(c, e, true);
}

static enum kerr sq_cluster_rotate_token(void *b_, const char *name, const char *token,
                                         int64_t grace_until, struct cluster *out)
{
	struct sq *s = b_;
	enum kerr e;
	int64_t now = store_now_ms();
	memset(out, 0, sizeof(*out));
	struct conn *c = acquire_write(s, &e);
	e = begin(c, e);
	/* tokens past their grace go; the current one joins those that remain */
	if (e == K_OK)
		e = exec_named(c, Q_PREV_EXPIRE, name, &now, NULL, NULL, false);
	if (e == K_OK) {
		sqlite3_stmt *st = stmt(c, Q_PREV_COUNT);
		int64_t n = -1;
		if (st) {
			bind_text(st, 1, name);
			if (step(st) == SQLITE_ROW)
				n = sqlite3_column_int64(st, 0);
			done(st);
		}
		e = n < 0 ? K_EIO : n >= STORE_PREV_TOKENS ? K_ELIMIT : K_OK;
	}
	if (e == K_OK)
		e = exec_named(c, Q_PREV_ADD, name, &grace_until, NULL, NULL, false);
	if (e == K_OK)
		e = exec_named(c, Q_ROTATE, name, NULL, token, &now, true);
	if (e == K_OK)
		e = get_locked(c, name, out);
	e = finish(c, e);
	if (e != K_OK)
		cluster_clear(out);
	return release(c, e, true);
}

static enum kerr sq_cluster_delete(void *b_, const char *name, char out_token[33])
{
	struct sq *s = b_;
	enum kerr e;
	struct conn *c = acquire_write(s, &e);
	sqlite3_stmt *st = NULL;
	out_token[0] = '\0';
	e = begin(c, e);
	if (e != K_OK)
		goto out;
	st = stmt(c, Q_TOKEN_OF);
	if (!st) {
		e = K_EIO;
		goto out;
	}
	bind_text(st, 1, name);
	int rc = step(st);
	if (rc != SQLITE_ROW) {
		e = rc == SQLITE_DONE ? K_ENOTFOUND : K_EIO;
		goto out;
	}
	col_copy(st, 0, out_token, 33);
	done(st);
	st = NULL;
	e = exec_named(c, Q_DELETE, name, NULL, NULL, NULL, false);
out:
	done(st);
	e = release(c, finish(c, e), true);
	if (e == K_OK)
		atomic_fetch_sub(&s->clusters, 1);
	return e;
}

/* Runs one statement with bound parameters to completion. */
static enum kerr step_done(sqlite3_stmt *st)
{
	int rc = st ? step(st) : SQLITE_ERROR;
	done(st);
	return rc == SQLITE_DONE ? K_OK : K_EIO;
}

/* Records one cluster's part of a batch: its rows, one count update, one trim. */
static enum kerr record_group(struct conn *c, const struct store_fetch_group *g, int keep)
{
	enum kerr e = K_OK;
	for (size_t i = 0; i < g->nrows && e == K_OK; i++) {
		const struct store_fetch *f = &g->rows[i];
		sqlite3_stmt *st = stmt(c, Q_FETCH_INSERT);
		if (st) {
			bind_text(st, 1, g->cluster_id);
			sqlite3_bind_int64(st, 2, f->at);
			bind_text(st, 3, f->client);
			bind_text(st, 4, f->user_agent);
			bind_text(st, 5, f->version);
			sqlite3_bind_int(st, 6, f->status);
			sqlite3_bind_int64(st, 7, f->generation);
		}
		e = step_done(st);
	}
	if (e == K_OK && g->ok && g->generation) {
		sqlite3_stmt *st = stmt(c, Q_GEN_FETCHES);
		if (st) {
			bind_text(st, 1, g->cluster_id);
			sqlite3_bind_int64(st, 2, g->generation);
			sqlite3_bind_int64(st, 3, g->ok);
		}
		e = step_done(st);
	}
	if (e == K_OK && g->ok) {
		sqlite3_stmt *st = stmt(c, Q_FETCH_COUNT);
		if (st) {
			bind_text(st, 1, g->cluster_id);
			sqlite3_bind_int64(st, 2, g->last_ok);
			sqlite3_bind_int64(st, 3, g->ok);
		}
		e = step_done(st);
	}
	if (e == K_OK && g->nrows) {
		sqlite3_stmt *st = stmt(c, Q_FETCH_TRIM);
		if (st) {
			bind_text(st, 1, g->cluster_id);
			sqlite3_bind_int(st, 2, keep);
		}
		e = step_done(st);
	}
	return e;
}

static enum kerr sq_fetches_record(void *b_, const struct store_fetch_group *groups, size_t n,
                                   int keep)
{
	struct sq *s = b_;
	enum kerr e;
	struct conn *c = acquire_write(s, &e);
	e = begin(c, e);
	for (size_t i = 0; i < n && e == K_OK; i++)
		e = record_group(c, &groups[i], keep);
	return release(c, finish(c, e), true);
}

static enum kerr sq_fetches_list(void *b_, const char *cluster_id, int limit,
                                 void (*fn)(const struct store_fetch *f, void *arg), void *arg)
{
	struct sq *s = b_;
	struct conn *c = acquire_read(s);
	sqlite3_stmt *st = stmt(c, Q_FETCH_LIST);
	enum kerr e = st ? K_OK : K_EIO;
	if (st) {
		bind_text(st, 1, cluster_id);
		sqlite3_bind_int(st, 2, limit);
		int rc;
		while ((rc = step(st)) == SQLITE_ROW) {
			struct store_fetch f = {
			        .cluster_id = cluster_id,
			        .at = sqlite3_column_int64(st, 0),
			        .client = (const char *)sqlite3_column_text(st, 1),
			        .user_agent = (const char *)sqlite3_column_text(st, 2),
			        .version = (const char *)sqlite3_column_text(st, 3),
			        .status = sqlite3_column_int(st, 4),
			        .generation = sqlite3_column_int64(st, 5),
			};
			fn(&f, arg);
		}
		if (rc != SQLITE_DONE)
			e = K_EIO;
	}
	done(st);
	return release(c, e, false);
}

static enum kerr sq_dir_create(void *b_, const char *token, int size)
{
	struct sq *s = b_;
	enum kerr e;
	struct conn *c = acquire_write(s, &e);
	sqlite3_stmt *st = e == K_OK ? stmt(c, Q_DIR_CREATE) : NULL;
	e = e == K_OK ? K_EIO : e;
	if (st) {
		bind_text(st, 1, token);
		sqlite3_bind_int(st, 2, size);
		sqlite3_bind_int64(st, 3, store_now_ms());
		int rc = step(st);
		e = rc == SQLITE_DONE                    ? K_OK
		    : rc == SQLITE_CONSTRAINT_PRIMARYKEY ? K_EEXIST
		                                         : K_EIO;
	}
	done(st);
	return release(c, e, e != K_EEXIST);
}

/* Reads the token's row and members into *d; connection held. */
static enum kerr dir_get_locked(struct conn *c, const char *token, struct store_dir *d)
{
	memset(d, 0, sizeof(*d));
	sqlite3_stmt *st = stmt(c, Q_DIR_GET);
	if (!st)
		return K_EIO;
	bind_text(st, 1, token);
	int rc = step(st);
	if (rc != SQLITE_ROW) {
		done(st);
		return rc == SQLITE_DONE ? K_ENOTFOUND : K_EIO;
	}
	d->size = sqlite3_column_int(st, 0);
	d->last_index = sqlite3_column_int64(st, 1);
	col_copy(st, 2, d->cluster_id, sizeof(d->cluster_id));
	done(st);
	st = stmt(c, Q_DIR_MEMBERS);
	if (!st)
		return K_EIO;
	bind_text(st, 1, token);
	enum kerr e = K_OK;
	size_t cap = 0;
	while (e == K_OK && (rc = step(st)) == SQLITE_ROW) {
		if (d->n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct store_member *m = realloc(d->members, ncap * sizeof(*m));
			if (!m) {
				e = K_ENOMEM;
				break;
			}
			d->members = m;
			cap = ncap;
		}
		struct store_member *m = &d->members[d->n];
		col_copy(st, 0, m->id, sizeof(m->id));
		const unsigned char *v = sqlite3_column_text(st, 1);
		m->value = strdup(v ? (const char *)v : "");
		m->created_index = sqlite3_column_int64(st, 2);
		m->created_at = sqlite3_column_int64(st, 3);
		if (!m->value)
			e = K_ENOMEM;
		else
			d->n++;
	}
	if (e == K_OK && rc != SQLITE_DONE)
		e = K_EIO;
	done(st);
	if (e != K_OK)
		store_dir_clear(d);
	return e;
}

static enum kerr sq_dir_get(void *b_, const char *token, struct store_dir *out)
{
	struct sq *s = b_;
	struct conn *c = acquire_read(s);
	enum kerr e = dir_get_locked(c, token, out);
	return release(c, e, false);
}

/* Runs a one-integer query bound with token (and id when non-NULL); -1 when
 * no row, -2 on error. */
static int64_t int_query(struct conn *c, enum q q, const char *token, const char *id, int col)
{
	sqlite3_stmt *st = stmt(c, q);
	if (!st)
		return -2;
	bind_text(st, 1, token);
	if (id)
		bind_text(st, 2, id);
	int rc = step(st);
	int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(st, col) : rc == SQLITE_DONE ? -1 : -2;
	done(st);
	return v;
}

/* Applies one registration inside the open transaction. */
static enum kerr put_one(struct conn *c, struct store_put *p)
{
	int64_t last = int_query(c, Q_DIR_GET, p->token, NULL, 1);
	if (last < 0) {
		p->result = K_ENOTFOUND;
		return last == -1 ? K_OK : K_EIO;
	}
	p->index = last;
	int64_t exists = int_query(c, Q_MEMBER_EXISTS, p->token, p->id, 0);
	int64_t count = int_query(c, Q_MEMBER_COUNT, p->token, NULL, 0);
	if (exists == -2 || count < 0)
		return K_EIO;
	if (exists == 1 || count >= p->max_members) {
		p->result = exists == 1 ? K_EEXIST : K_ELIMIT;
		return K_OK;
	}
	p->index = last + 1;
	sqlite3_stmt *st = stmt(c, Q_MEMBER_INSERT);
	if (st) {
		bind_text(st, 1, p->token);
		bind_text(st, 2, p->id);
		bind_text(st, 3, p->value);
		sqlite3_bind_int64(st, 4, p->index);
		sqlite3_bind_int64(st, 5, p->at);
	}
	if (step_done(st) != K_OK)
		return K_EIO;
	st = stmt(c, Q_DIR_BUMP);
	if (st) {
		bind_text(st, 1, p->token);
		sqlite3_bind_int64(st, 2, p->index);
	}
	if (step_done(st) != K_OK)
		return K_EIO;
	p->result = K_OK;
	return K_OK;
}

static enum kerr sq_put_members(void *b_, struct store_put *puts, size_t n)
{
	struct sq *s = b_;
	enum kerr e;
	struct conn *c = acquire_write(s, &e);
	e = begin(c, e);
	for (size_t i = 0; i < n && e == K_OK; i++)
		e = put_one(c, &puts[i]);
	return release(c, finish(c, e), true);
}

/* ---- kindling migrate: the source side (store_open_snapshot, export) ---- */

/* Whether the database's tables and their columns are exactly those of
 * store_tables; else errmsg names the first that is not. */
static int check_tables(sqlite3 *db, const char *path, struct buf *errmsg)
{
	sqlite3_stmt *st = NULL;
	int bad = 0;
	if (sqlite3_prepare_v2(db,
	                       "SELECT name FROM sqlite_schema WHERE type = 'table' AND "
	                       "name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
	                       -1, &st, NULL) != SQLITE_OK)
		goto fail;
	int rc = SQLITE_DONE;
	while (!bad && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		bool known = false;
		for (int i = 0; i < store_ntables && !known; i++)
			known = !strcmp(store_tables[i].name, name);
		if (!known) {
			buf_addf(errmsg,
			         "%s: table %s is not one kindling migrate knows how to copy (a "
			         "newer or changed schema): nothing was copied",
			         path, name);
			bad = 1;
		}
	}
	if (!bad && rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	st = NULL;
	for (int i = 0; i < store_ntables && !bad; i++) {
		const struct store_table *t = &store_tables[i];
		int ncols = 0, found = 0;
		for (const char *const *c = t->cols; *c; c++)
			ncols++;
		if (sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info(?1)", -1, &st,
		                       NULL) != SQLITE_OK)
			goto fail;
		sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
		while (!bad && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *col = (const char *)sqlite3_column_text(st, 0);
			bool known = false;
			for (const char *const *c = t->cols; *c && !known; c++)
				known = !strcmp(*c, col);
			if (!known) {
				buf_addf(
				        errmsg,
				        "%s: column %s.%s is not one kindling migrate knows how to "
				        "copy: nothing was copied",
				        path, t->name, col);
				bad = 1;
			}
			found++;
		}
		if (!bad && rc != SQLITE_DONE)
			goto fail;
		if (!bad && found != ncols) {
			buf_addf(errmsg, "%s: table %s has %d of the %d columns kindling knows",
			         path, t->name, found, ncols);
			bad = 1;
		}
		sqlite3_finalize(st);
		st = NULL;
	}
	return bad ? -1 : 0;
fail:
	buf_addf(errmsg, "%s: %s", path, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return -1;
}

static enum kerr sq_open_snapshot(const char *path, void **out, struct buf *errmsg)
{
	struct stat sb;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	struct sq *s = NULL;
	if (stat(path, &sb) != 0) {
		buf_addf(errmsg, "%s: %s", path, strerror(errno));
		return K_EINVAL;
	}
	if (!S_ISREG(sb.st_mode)) {
		buf_addf(errmsg, "%s: not a file", path);
		return K_EINVAL;
	}
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "PRAGMA busy_timeout = " BUSY_TIMEOUT_TEXT "; BEGIN", NULL,
		                  NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st); /* the snapshot starts here, with this read */
	if (rc != SQLITE_ROW) {
		buf_addf(errmsg, "%s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		goto fail;
	}
	int version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (version != migrations_sqlite_count) {
		if (version == 0)
			buf_addf(errmsg, "%s: not a kindling database (schema version 0)", path);
		else if (version < migrations_sqlite_count)
			buf_addf(
			        errmsg,
			        "%s: schema version %d is older than this kindling's (%d): start "
			        "this kindling once with --db %s (it applies the migrations), stop "
			        "it, then migrate",
			        path, version, migrations_sqlite_count, path);
		else
			buf_addf(errmsg,
			         "%s: schema version %d is newer than this kindling knows (%d)",
			         path, version, migrations_sqlite_count);
		goto fail;
	}
	if (check_tables(db, path, errmsg) < 0)
		goto fail;
	s = calloc(1, sizeof(*s));
	if (s)
		s->conns = calloc(1, sizeof(*s->conns));
	if (!s || !s->conns) {
		free(s);
		sqlite3_close(db);
		return K_ENOMEM;
	}
	str_copy(s->path, sizeof(s->path), path);
	pthread_mutex_init(&s->fault_mu, NULL);
	s->conns[0].s = s;
	s->conns[0].db = db;
	pthread_mutex_init(&s->conns[0].mu, NULL);
	s->n = 1;
	*out = s;
	return K_OK;
fail:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return K_EINVAL;
}

static enum kerr sq_export_table(void *b_, const struct store_table *t, store_row_fn fn, void *arg,
                                 struct buf *errmsg)
{
	struct sq *s = b_;
	struct buf q;
	const char *vals[32];
	int n = 0;
	sqlite3_stmt *st = NULL;
	enum kerr e = K_OK;
	buf_init(&q, 4096);
	for (const char *const *c = t->cols; *c && e == K_OK; c++, n++)
		e = buf_addf(&q, "%s%s", n ? ", " : "SELECT ", *c);
	if (e == K_OK)
		e = buf_addf(&q, " FROM %s", t->name);
	if (e != K_OK || n > (int)(sizeof(vals) / sizeof(vals[0]))) {
		buf_free(&q);
		return K_ENOMEM;
	}
	struct conn *c = acquire_read(s);
	if (sqlite3_prepare_v2(c->db, buf_str(&q), -1, &st, NULL) != SQLITE_OK) {
		buf_addf(errmsg, "%s: reading %s: %s", s->path, t->name, sqlite3_errmsg(c->db));
		e = K_EIO;
		goto out;
	}
	int rc = SQLITE_DONE;
	while (e == K_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < n; i++)
			vals[i] = (const char *)sqlite3_column_text(st, i);
		e = fn(arg, vals);
	}
	if (e == K_OK && rc != SQLITE_DONE) {
		buf_addf(errmsg, "%s: reading %s: %s", s->path, t->name, sqlite3_errmsg(c->db));
		e = K_EIO;
	}
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&c->mu);
	buf_free(&q);
	return e;
}

static enum kerr sq_report_put(void *b_, const char *cluster_id, const struct store_report *r,
                               int keep)
{
	struct sq *s = b_;
	enum kerr e;
	struct conn *c = acquire_write(s, &e);
	e = begin(c, e);
	if (e == K_OK) {
		sqlite3_stmt *st = stmt(c, Q_REPORT_PUT);
		if (st) {
			bind_text(st, 1, cluster_id);
			bind_text(st, 2, r->node);
			bind_text(st, 3, r->boot_id);
			sqlite3_bind_int64(st, 4, r->at);
			sqlite3_bind_int(st, 5, r->failed);
			bind_text(st, 6, r->body);
		}
		e = step_done(st);
		if (e == K_OK && sqlite3_changes(c->db) == 0)
			e = K_ENOTFOUND;
	}
	if (e == K_OK) {
		sqlite3_stmt *st = stmt(c, Q_REPORT_TRIM);
		if (st) {
			bind_text(st, 1, cluster_id);
			sqlite3_bind_int(st, 2, keep);
		}
		e = step_done(st);
	}
	return release(c, finish(c, e), true);
}

static enum kerr sq_reports_list(void *b_, const char *cluster_id,
                                 void (*fn)(const struct store_report *r, void *arg), void *arg)
{
	struct sq *s = b_;
	struct conn *c = acquire_read(s);
	sqlite3_stmt *st = stmt(c, Q_REPORT_LIST);
	enum kerr e = st ? K_OK : K_EIO;
	if (st) {
		bind_text(st, 1, cluster_id);
		int rc;
		while ((rc = step(st)) == SQLITE_ROW) {
			struct store_report r = {
			        .node = (const char *)sqlite3_column_text(st, 0),
			        .boot_id = (const char *)sqlite3_column_text(st, 1),
			        .at = sqlite3_column_int64(st, 2),
			        .failed = sqlite3_column_int(st, 3),
			        .body = (const char *)sqlite3_column_text(st, 4),
			};
			fn(&r, arg);
		}
		if (rc != SQLITE_DONE)
			e = K_EIO;
	}
	done(st);
	return release(c, e, false);
}

static enum kerr sq_reports_count(void *b_, int64_t *out_nodes, int64_t *out_failed)
{
	struct sq *s = b_;
	struct conn *c = acquire_read(s);
	sqlite3_stmt *st = stmt(c, Q_REPORT_COUNT);
	enum kerr e = K_EIO;
	if (st && step(st) == SQLITE_ROW) {
		*out_nodes = sqlite3_column_int64(st, 0);
		*out_failed = sqlite3_column_int64(st, 1);
		e = K_OK;
	}
	done(st);
	return release(c, e, false);
}

/* Reads what is recorded about member id of cluster cid ("" each when
 * nothing); connection held. */
static enum kerr state_get(struct conn *c, const char *cid, const char *id, char replaces[33],
                           char removed_by[33])
{
	replaces[0] = removed_by[0] = '\0';
	sqlite3_stmt *st = stmt(c, Q_STATE_GET);
	if (!st)
		return K_EIO;
	bind_text(st, 1, cid);
	bind_text(st, 2, id);
	int rc = step(st);
	if (rc == SQLITE_ROW) {
		col_copy(st, 0, replaces, 33);
		col_copy(st, 1, removed_by, 33);
	}
	done(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? K_OK : K_EIO;
}

/* Writes one cluster_members row (Q_STATE_JOIN or Q_STATE_REMOVE). */
static enum kerr state_put(struct conn *c, enum q q, const char *cid, const char *id,
                           const char *other, int64_t at)
{
	sqlite3_stmt *st = stmt(c, q);
	if (st) {
		bind_text(st, 1, cid);
		bind_text(st, 2, id);
		bind_text(st, 3, other);
		sqlite3_bind_int64(st, 4, at);
	}
	return step_done(st);
}

/* The checks and writes of a replacement report, inside the transaction. */
static enum kerr replace_locked(struct conn *c, struct store_replace *r)
{
	sqlite3_stmt *st = stmt(c, Q_REPL_CLUSTER);
	if (!st)
		return K_EIO;
	bind_text(st, 1, r->token);
	int rc = step(st);
	if (rc == SQLITE_ROW) {
		col_copy(st, 0, r->cluster_id, sizeof(r->cluster_id));
		col_copy(st, 1, r->cluster, sizeof(r->cluster));
	}
	done(st);
	if (rc != SQLITE_ROW) {
		r->why = REPL_NO_CLUSTER;
		return rc == SQLITE_DONE ? K_ENOTFOUND : K_EIO;
	}
	int64_t m = int_query(c, Q_MEMBER_EXISTS, r->token, r->member, 0);
	int64_t x = int_query(c, Q_MEMBER_EXISTS, r->token, r->replaces, 0);
	if (m == -2 || x == -2)
		return K_EIO;
	if (m != 1 || x != 1) {
		r->why = m != 1 ? REPL_NO_MEMBER : REPL_NO_REPLACES;
		return K_ENOTFOUND;
	}
	char m_replaces[33], m_removed_by[33], x_replaces[33], x_removed_by[33];
	enum kerr e = state_get(c, r->cluster_id, r->member, m_replaces, m_removed_by);
	if (e == K_OK)
		e = state_get(c, r->cluster_id, r->replaces, x_replaces, x_removed_by);
	if (e == K_OK)
		e = store_replace_decide(r, m_replaces, m_removed_by, x_removed_by);
	if (e == K_OK && r->changed)
		e = state_put(c, Q_STATE_JOIN, r->cluster_id, r->member, r->replaces, r->at);
	if (e == K_OK && r->changed)
		e = state_put(c, Q_STATE_REMOVE, r->cluster_id, r->replaces, r->member, r->at);
	return e;
}

static enum kerr sq_member_replace(void *b_, struct store_replace *r)
{
	struct sq *s = b_;
	enum kerr e;
	r->cluster_id[0] = r->cluster[0] = r->other[0] = '\0';
	r->changed = false;
	r->why = REPL_OK;
	struct conn *c = acquire_write(s, &e);
	e = begin(c, e);
	if (e == K_OK)
		e = replace_locked(c, r);
	e = finish(c, e);
	return release(c, e, e != K_ENOTFOUND && e != K_EEXIST);
}

static enum kerr sq_member_states(void *b_, const char *cluster_id,
                                  void (*fn)(const struct store_member_state *m, void *arg),
                                  void *arg)
{
	struct sq *s = b_;
	struct conn *c = acquire_read(s);
	sqlite3_stmt *st = stmt(c, Q_STATES);
	enum kerr e = st ? K_OK : K_EIO;
	if (st) {
		bind_text(st, 1, cluster_id);
		int rc;
		while ((rc = step(st)) == SQLITE_ROW) {
			struct store_member_state m;
			col_copy(st, 0, m.member_id, sizeof(m.member_id));
			col_copy(st, 1, m.replaces, sizeof(m.replaces));
			m.replaced_at = sqlite3_column_int64(st, 2);
			col_copy(st, 3, m.removed_by, sizeof(m.removed_by));
			m.removed_at = sqlite3_column_int64(st, 4);
			fn(&m, arg);
		}
		if (rc != SQLITE_DONE)
			e = K_EIO;
	}
	done(st);
	return release(c, e, false);
}

/* Reads a generation row (generation, created_at, fetches, change, inputs). */
static enum kerr read_generation(sqlite3_stmt *st, struct store_generation *g)
{
	g->generation = sqlite3_column_int64(st, 0);
	g->created_at = sqlite3_column_int64(st, 1);
	g->fetches = sqlite3_column_int64(st, 2);
	g->change = col_json(st, 3);
	g->inputs = col_json(st, 4);
	if (!g->change || !g->inputs) {
		store_generation_clear(g);
		return K_EIO;
	}
	return K_OK;
}

static enum kerr sq_generations_list(void *b_, const char *cluster_id,
                                     void (*fn)(const struct store_generation *g, void *arg),
                                     void *arg)
{
	struct sq *s = b_;
	struct conn *c = acquire_read(s);
	sqlite3_stmt *st = stmt(c, Q_GEN_LIST);
	enum kerr e = st ? K_OK : K_EIO;
	if (st) {
		bind_text(st, 1, cluster_id);
		int rc;
		while (e == K_OK && (rc = step(st)) == SQLITE_ROW) {
			struct store_generation g = {0};
			e = read_generation(st, &g);
			if (e == K_OK)
				fn(&g, arg);
			store_generation_clear(&g);
		}
		if (e == K_OK && rc != SQLITE_DONE)
			e = K_EIO;
	}
	done(st);
	return release(c, e, false);
}

static enum kerr sq_generation_get(void *b_, const char *cluster_id, int64_t generation,
                                   struct store_generation *out)
{
	struct sq *s = b_;
	struct conn *c = acquire_read(s);
	sqlite3_stmt *st = stmt(c, Q_GEN_GET);
	enum kerr e = st ? K_OK : K_EIO;
	memset(out, 0, sizeof(*out));
	if (st) {
		bind_text(st, 1, cluster_id);
		sqlite3_bind_int64(st, 2, generation);
		int rc = step(st);
		e = rc == SQLITE_ROW    ? read_generation(st, out)
		    : rc == SQLITE_DONE ? K_ENOTFOUND
		                        : K_EIO;
	}
	done(st);
	return release(c, e, false);
}

static enum kerr sq_clusters_unsnapshotted(void *b_, void (*fn)(const char *name, void *arg),
                                           void *arg)
{
	struct sq *s = b_;
	struct conn *c = acquire_read(s);
	sqlite3_stmt *st = stmt(c, Q_UNSNAPSHOTTED);
	enum kerr e = st ? K_OK : K_EIO;
	if (st) {
		int rc;
		while ((rc = step(st)) == SQLITE_ROW)
			fn((const char *)sqlite3_column_text(st, 0), arg);
		if (rc != SQLITE_DONE)
			e = K_EIO;
	}
	done(st);
	return release(c, e, false);
}

static enum kerr sq_profile_versions_put(void *b_, const struct store_profile_version *v, size_t n)
{
	struct sq *s = b_;
	enum kerr e;
	struct conn *c = acquire_write(s, &e);
	e = begin(c, e);
	for (size_t i = 0; i < n && e == K_OK; i++) {
		sqlite3_stmt *st = stmt(c, Q_PV_PUT);
		if (!st) {
			e = K_EIO;
			break;
		}
		bind_text(st, 1, v[i].digest);
		bind_text(st, 2, v[i].name);
		sqlite3_bind_int64(st, 4, store_now_ms());
		e = bind_json(st, 3, v[i].files);
		if (e == K_OK)
			e = step_done(st);
		else
			done(st);
	}
	return release(c, finish(c, e), true);
}

static enum kerr sq_profile_version_get(void *b_, const char *digest, char out_name[64],
                                        json_t **out_files)
{
	struct sq *s = b_;
	struct conn *c = acquire_read(s);
	sqlite3_stmt *st = stmt(c, Q_PV_GET);
	enum kerr e = st ? K_OK : K_EIO;
	if (st) {
		bind_text(st, 1, digest);
		int rc = step(st);
		e = rc == SQLITE_ROW ? K_OK : rc == SQLITE_DONE ? K_ENOTFOUND : K_EIO;
		if (e == K_OK) {
			col_copy(st, 0, out_name, 64);
			*out_files = col_json(st, 1);
			e = *out_files ? K_OK : K_EIO;
		}
	}
	done(st);
	return release(c, e, false);
}

const struct store_backend store_backend_sqlite = {
        .name = "sqlite",
        .open = sq_open,
        .close = sq_close,
        .health = sq_health,
        .last_fault = sq_last_fault,
        .clusters_create = sq_clusters_create,
        .cluster_get = sq_cluster_get,
        .cluster_list = sq_cluster_list,
        .cluster_update = sq_cluster_update,
        .cluster_rotate_token = sq_cluster_rotate_token,
        .cluster_delete = sq_cluster_delete,
        .fetches_record = sq_fetches_record,
        .fetches_list = sq_fetches_list,
        .dir_create = sq_dir_create,
        .dir_get = sq_dir_get,
        .put_members = sq_put_members,
        .cluster_count = sq_cluster_count,
        .open_snapshot = sq_open_snapshot,
        .export_table = sq_export_table,
        .report_put = sq_report_put,
        .reports_list = sq_reports_list,
        .reports_count = sq_reports_count,
        .member_replace = sq_member_replace,
        .member_states = sq_member_states,
        .generations_list = sq_generations_list,
        .generation_get = sq_generation_get,
        .clusters_unsnapshotted = sq_clusters_unsnapshotted,
        .profile_versions_put = sq_profile_versions_put,
        .profile_version_get = sq_profile_version_get,
};
