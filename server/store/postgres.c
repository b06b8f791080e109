/* postgres.c - the PostgreSQL backend of the store; the only file that includes libpq-fe.h. */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../log.h"
#include "../rand.h"
#include "backend.h"
#include "migrations.h"

/*
 * Threads and locks: any thread calls in; a call takes one connection of
 * the pool (pg.mu guards only the pool's busy flags, never held across a
 * query) and uses it alone until it gives it back. fault_mu guards the
 * fault text. Inside PostgreSQL, transactions take row locks in this order
 * (so two replicas never deadlock): discovery_index, then discovery_tokens
 * rows; cluster_count, then new rows; one clusters row, then what cascades
 * from it; several clusters rows (a fetch batch) in id order.
 *
 * Nothing waits without a bound: taking a connection POOL_WAIT_MS, a
 * connect connect_timeout (CONNECT_TIMEOUT_S unless --db says otherwise),
 * a statement statement_timeout (STATEMENT_TIMEOUT_MS, server side) and
 * QUERY_WAIT_MS on the client side (a server or network that went silent):
 * then the call fails with K_EUNAVAIL, the connection is closed, and the
 * next use of its slot connects again. After a failed connect, calls that
 * need a new connection fail at once for RECONNECT_PAUSE_MS.
 *
 * The change feed: every write transaction sends pg_notify(CHANNEL, payload)
 * before its COMMIT (PostgreSQL delivers it at commit, in commit order, never
 * for a rollback); the payload is compact JSON naming this process (its
 * replica id, random per start) and the change. One more connection, outside
 * the pool, only LISTENs, on the listener thread (pg.lst): it polls the
 * socket and a wake pipe, hands other replicas' changes to the store_listen
 * callback, and after a break reconnects with a backoff (LISTEN_BACKOFF_MS,
 * doubling to LISTEN_BACKOFF_MAX_MS) and delivers "resync". lst.stamp is 0
 * while it is not listening, else the number of the current connection.
 * TCP keepalives on that connection notice a silent network within
 * about LISTEN_KEEPALIVE seconds.
 */
#define POOL_WAIT_MS          10000
#define CONNECT_TIMEOUT_S     "5"
#define STATEMENT_TIMEOUT_MS  10000
#define QUERY_WAIT_MS         (STATEMENT_TIMEOUT_MS + 5000)
#define MIGRATION_LOCK_KEY    "7234612901" /* pg_advisory_xact_lock key: kindling's migrations */
#define MAX_PARAMS            16
#define PROBE_LOCK_MS         250
#define RECONNECT_PAUSE_MS    250 /* after a failed connect, new ones fail at once this long */
#define CHANNEL               "kindling"
#define PAYLOAD_MAX           7900 /* NOTIFY refuses 8000 bytes and more */
#define LISTEN_BACKOFF_MS     100
#define LISTEN_BACKOFF_MAX_MS 1000
#define LISTEN_KEEPALIVE      "3" /* idle s, then probes 1 s apart, 3 of them */
#define STR_(x)               #x
#define STRINGIFY(x)          STR_(x)

enum q {
	Q_COUNT_CLUSTERS,
	Q_COUNT_LOCK,
	Q_CLUSTER_INSERT,
	Q_TOKEN_INSERT,
	Q_CLUSTER_GET,
	Q_CLUSTER_LOCK,
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
	Q_TOKEN_OF,
	Q_DELETE,
	Q_FETCH_LOCK,
	Q_FETCH_INSERT,
	Q_FETCH_COUNT,
	Q_FETCH_TRIM,
	Q_FETCH_LIST,
	Q_DIR_CREATE,
	Q_DIR_GET,
	Q_DIR_MEMBERS,
	Q_DIR_LOCK,
	Q_INDEX_LOCK,
	Q_INDEX_SET,
	Q_MEMBER_EXISTS,
	Q_MEMBER_COUNT,
	Q_MEMBER_INSERT,
	Q_DIR_BUMP,
	Q_REPORT_PUT,
	Q_REPORT_TRIM,
	Q_REPORT_LIST,
	Q_REPORT_COUNT,
	Q_NOTIFY,
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
	"(SELECT coalesce(json_agg(json_build_array(p.token, p.valid_until)), '[]') "              \
	"FROM fetch_tokens_prev p WHERE p.cluster_id = c.id), c.generation, c.fetch_count, "       \
	"coalesce(c.last_fetch_at, 0), c.created_at, c.updated_at, "                               \
	"(SELECT count(*) FROM discovery_members m WHERE m.token = t.token), "                     \
	"c.discovery_protocol, c.profile_versions "
#define CLUSTER_FROM " FROM clusters c LEFT JOIN discovery_tokens t ON t.cluster_id = c.id "
#define LIST_FILTER  " WHERE ($1::text IS NULL OR strpos(c.name, $1::text) > 0) AND "

/* Every statement, prepared once per connection on first use ("k<q>"). */
static const char *const sql[Q_COUNT] = {
        [Q_COUNT_CLUSTERS] = "SELECT n FROM cluster_count",
        [Q_COUNT_LOCK] = "SELECT n FROM cluster_count FOR UPDATE",
        [Q_CLUSTER_INSERT] =
                "INSERT INTO clusters (id, name, size, profiles, vars, secrets, ignition_version, "
                "discovery_mode, discovery_url, fetch_token, generation, created_at, updated_at, "
                "discovery_protocol, profile_versions) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $11, $12, $13)",
        [Q_TOKEN_INSERT] = "INSERT INTO discovery_tokens (token, size, cluster_id, last_index, "
                           "created_at) VALUES ($1, $2, $3, 1, $4)",
        [Q_CLUSTER_GET] = "SELECT " CLUSTER_COLS CLUSTER_FROM "WHERE c.name = $1",
        [Q_CLUSTER_LOCK] = "SELECT id FROM clusters WHERE name = $1 FOR UPDATE",
        [Q_LIST_NAME] = "SELECT " CLUSTER_COLS CLUSTER_FROM LIST_FILTER
                        "c.name > $2 ORDER BY c.name LIMIT $3",
        [Q_LIST_NAME_DESC] = "SELECT " CLUSTER_COLS CLUSTER_FROM LIST_FILTER
                             "c.name < $2 ORDER BY c.name DESC LIMIT $3",
        [Q_LIST_CREATED] = "SELECT " CLUSTER_COLS CLUSTER_FROM LIST_FILTER
                           "(c.created_at, c.name) > ($2::bigint, $3::text) "
                           "ORDER BY c.created_at, c.name LIMIT $4",
        [Q_LIST_CREATED_DESC] = "SELECT " CLUSTER_COLS CLUSTER_FROM LIST_FILTER
                                "(c.created_at, c.name) < ($2::bigint, $3::text) "
                                "ORDER BY c.created_at DESC, c.name DESC LIMIT $4",
        [Q_LIST_TOTAL] = "SELECT count(*) FROM clusters c "
                         "WHERE ($1::text IS NULL OR strpos(c.name, $1::text) > 0)",
        [Q_SET_VARS] = "UPDATE clusters SET vars = $2, secrets = $4, profiles = $5, "
                       "profile_versions = $6, ignition_version = $7, "
                       "generation = generation + 1, updated_at = $3 WHERE name = $1",
        [Q_ROTATE] = "UPDATE clusters SET fetch_token = $2, updated_at = $3 WHERE name = $1",
        [Q_PREV_EXPIRE] = "DELETE FROM fetch_tokens_prev WHERE valid_until <= $2 AND cluster_id = "
                          "(SELECT id FROM clusters WHERE name = $1)",
        [Q_PREV_COUNT] = "SELECT count(*) FROM fetch_tokens_prev WHERE cluster_id = "
                         "(SELECT id FROM clusters WHERE name = $1)",
        [Q_PREV_ADD] = "INSERT INTO fetch_tokens_prev (cluster_id, token, valid_until) "
                       "SELECT id, fetch_token, $2::bigint FROM clusters WHERE name = $1 "
                       "ON CONFLICT (cluster_id, token) DO UPDATE SET valid_until = "
                       "greatest(fetch_tokens_prev.valid_until, excluded.valid_until)",
        [Q_TOKEN_OF] = "SELECT coalesce(t.token, '') FROM clusters c LEFT JOIN discovery_tokens t "
                       "ON t.cluster_id = c.id WHERE c.name = $1 FOR UPDATE OF c",
        [Q_DELETE] = "DELETE FROM clusters WHERE name = $1",
        [Q_FETCH_LOCK] = "SELECT id FROM clusters WHERE id = ANY ($1::text[]) ORDER BY id "
                         "FOR NO KEY UPDATE",
        [Q_FETCH_INSERT] = "INSERT INTO fetches (cluster_id, at, client, user_agent, version, "
                           "status, generation) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [Q_FETCH_COUNT] = "UPDATE clusters SET fetch_count = fetch_count + $3, "
                          "last_fetch_at = greatest(coalesce(last_fetch_at, 0), $2) WHERE id = $1",
        [Q_FETCH_TRIM] = "DELETE FROM fetches WHERE cluster_id = $1 AND id <= "
                         "(SELECT id FROM fetches WHERE cluster_id = $1 ORDER BY id DESC "
                         "LIMIT 1 OFFSET $2)",
        [Q_FETCH_LIST] = "SELECT at, client, user_agent, version, status, generation FROM fetches "
                         "WHERE cluster_id = $1 ORDER BY id DESC LIMIT $2",
        [Q_DIR_CREATE] = "INSERT INTO discovery_tokens (token, size, cluster_id, last_index, "
                         "created_at) VALUES ($1, $2, NULL, 1, $3)",
        [Q_DIR_GET] = "SELECT size, last_index, coalesce(cluster_id, '') FROM discovery_tokens "
                      "WHERE token = $1",
        [Q_DIR_MEMBERS] = "SELECT member_id, value, created_index, created_at FROM "
                          "discovery_members WHERE token = $1 ORDER BY created_index",
        [Q_DIR_LOCK] = "SELECT last_index FROM discovery_tokens WHERE token = $1 FOR UPDATE",
        [Q_INDEX_LOCK] = "SELECT n FROM discovery_index FOR UPDATE",
        [Q_INDEX_SET] = "UPDATE discovery_index SET n = $1",
        [Q_MEMBER_EXISTS] = "SELECT 1 FROM discovery_members WHERE token = $1 AND member_id = $2",
        [Q_MEMBER_COUNT] = "SELECT count(*) FROM discovery_members WHERE token = $1",
        [Q_MEMBER_INSERT] =
                "INSERT INTO discovery_members (token, member_id, value, created_index, "
                "created_at) VALUES ($1, $2, $3, $4, $5)",
        [Q_DIR_BUMP] = "UPDATE discovery_tokens SET last_index = $2 WHERE token = $1",
        [Q_REPORT_PUT] =
                "INSERT INTO node_reports (cluster_id, node, boot_id, at, failed, body) "
                "SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM clusters WHERE id = $1) "
                "ON CONFLICT (cluster_id, node) DO UPDATE SET boot_id = excluded.boot_id, "
                "at = excluded.at, failed = excluded.failed, body = excluded.body",
        [Q_REPORT_TRIM] = "DELETE FROM node_reports WHERE cluster_id = $1 AND node NOT IN "
                          "(SELECT node FROM node_reports WHERE cluster_id = $1 "
                          "ORDER BY at DESC, node LIMIT $2)",
        [Q_REPORT_LIST] = "SELECT node, boot_id, at, failed, body FROM node_reports "
                          "WHERE cluster_id = $1 ORDER BY at DESC, node",
        [Q_REPORT_COUNT] = "SELECT count(*), count(*) FILTER (WHERE failed > 0) FROM node_reports",
        [Q_NOTIFY] = "SELECT pg_notify('" CHANNEL "', $1)",
        /* the directory's row lock: reports about one cluster take turns */
        [Q_REPL_CLUSTER] = "SELECT c.id, c.name FROM discovery_tokens t JOIN clusters c "
                           "ON c.id = t.cluster_id WHERE t.token = $1 FOR UPDATE OF t",
        [Q_STATE_GET] = "SELECT coalesce(replaces, ''), coalesce(removed_by, '') FROM "
                        "cluster_members WHERE cluster_id = $1 AND member_id = $2",
        [Q_STATE_JOIN] = "INSERT INTO cluster_members (cluster_id, member_id, replaces, "
                         "replaced_at) VALUES ($1, $2, $3, $4) ON CONFLICT (cluster_id, "
                         "member_id) DO UPDATE SET replaces = excluded.replaces, "
                         "replaced_at = excluded.replaced_at",
        [Q_STATE_REMOVE] = "INSERT INTO cluster_members (cluster_id, member_id, removed_by, "
                           "removed_at) VALUES ($1, $2, $3, $4) ON CONFLICT (cluster_id, "
                           "member_id) DO UPDATE SET removed_by = excluded.removed_by, "
                           "removed_at = excluded.removed_at",
        [Q_STATES] = "SELECT member_id, coalesce(replaces, ''), coalesce(replaced_at, 0), "
                     "coalesce(removed_by, ''), coalesce(removed_at, 0) FROM cluster_members "
                     "WHERE cluster_id = $1",
        [Q_GEN_INSERT] = "INSERT INTO cluster_generations (cluster_id, generation, created_at, "
                         "change, inputs) VALUES ($1, $2, $3, $4, $5)",
        [Q_GEN_TRIM] = "DELETE FROM cluster_generations WHERE cluster_id = $1 AND generation <= $2",
        [Q_GEN_FETCHES] = "UPDATE cluster_generations SET fetches = fetches + $3 "
                          "WHERE cluster_id = $1 AND generation = $2",
        [Q_GEN_LIST] = "SELECT generation, created_at, fetches, change, inputs FROM "
                       "cluster_generations WHERE cluster_id = $1 ORDER BY generation DESC",
        [Q_GEN_GET] = "SELECT generation, created_at, fetches, change, inputs FROM "
                      "cluster_generations WHERE cluster_id = $1 AND generation = $2",
        [Q_PV_PUT] = "INSERT INTO profile_versions (digest, name, files, created_at) "
                     "VALUES ($1, $2, $3, $4) ON CONFLICT (digest) DO NOTHING",
        [Q_PV_GET] = "SELECT name, files FROM profile_versions WHERE digest = $1",
        [Q_UNSNAPSHOTTED] = "SELECT name FROM clusters WHERE profile_versions IS NULL",
};

struct pconn {
	PGconn *pg;    /* NULL: not connected (yet, or since a failure) */
	bool listener; /* the LISTEN connection: TCP keepalives, never pooled */
	bool busy;
	bool fresh; /* taken from the pool, nothing run yet: a lost connection is retried */
	bool prepared[Q_COUNT];
};

/* The listener thread and its connection (see the top). */
struct listener {
	pthread_t thread;
	bool started;
	atomic_bool stop;
	int wake[2]; /* a byte on wake[1] ends a poll of the thread */
	store_change_fn fn;
	void *arg;
	atomic_ullong stamp; /* 0: not listening; else the current connection's number */
	uint64_t connects;
};

struct pg {
	char *conninfo;
	char replica[17]; /* this process, in its notifications */
	struct listener lst;
	char where[256]; /* host:port/db for messages: never the password */
	int n;
	struct pconn *conns;
	pthread_mutex_t mu; /* busy flags */
	pthread_cond_t freed;
	pthread_mutex_t fault_mu;
	bool faulty;              /* the last call failed: a recovery is logged */
	atomic_bool write_failed; /* the last write failed: /healthz probes a write */
	atomic_llong down_until;  /* monotonic ms: no new connect tried before it */
	char fault[512];
};

/* Query parameters in text form; integers formatted in place. */
struct params {
	const char *v[MAX_PARAMS];
	char num[MAX_PARAMS][24];
	int n;
};

static void p_text(struct params *p, const char *s)
{
	p->v[p->n++] = s;
}

static void p_int(struct params *p, int64_t x)
{
	snprintf(p->num[p->n], sizeof(p->num[0]), "%" PRId64, x);
	p->v[p->n] = p->num[p->n];
	p->n++;
}

/* The SQLSTATE of the last failed statement on this thread ("" for a
 * connection failure or a timeout). */
static _Thread_local char last_state[6];

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Notes a failure (logged once until a success) or, with text NULL, a success. */
static void note(struct pg *s, const char *text)
{
	pthread_mutex_lock(&s->fault_mu);
	if (text) {
		if (!s->faulty || strcmp(s->fault, text) != 0)
			log_warnx("database %s: %s", s->where, text);
		s->faulty = true;
		snprintf(s->fault, sizeof(s->fault), "%s", text);
	} else if (s->faulty) {
		s->faulty = false;
		s->fault[0] = '\0';
		log_info("database %s: works again", s->where);
	}
	pthread_mutex_unlock(&s->fault_mu);
}

/* libpq's message, on one line. */
static void one_line(char *out, size_t n, const char *msg)
{
	snprintf(out, n, "%s", msg && msg[0] ? msg : "connection lost");
	char *w = out;
	for (const char *p = out; *p; p++) /* blanks squeezed: one line, one space */
		if (!(*p == '\n' || *p == '\r' || *p == '\t' || *p == ' ') ||
		    (w > out && w[-1] != ' '))
			*w++ = *p == '\n' || *p == '\r' || *p == '\t' ? ' ' : *p;
	*w = '\0';
	size_t len = strlen(out);
	while (len && out[len - 1] == ' ')
		out[--len] = '\0';
}

/* The error a failed statement maps to: K_EUNAVAIL for what a retry may
 * cure (connection, timeout, serialization, deadlock, shutdown), else K_EIO. */
static enum kerr classify(const char *state)
{
	if (!state[0] || !strncmp(state, "08", 2) || !strcmp(state, "40001") ||
	    !strcmp(state, "40P01") || !strncmp(state, "57P0", 4) || !strcmp(state, "57014") ||
	    !strcmp(state, "55P03") || !strncmp(state, "53", 2))
		return K_EUNAVAIL;
	return K_EIO;
}

static void drop_conn(struct pconn *c)
{
	PQfinish(c->pg);
	c->pg = NULL;
	memset(c->prepared, 0, sizeof(c->prepared));
}

/* Set by await: its NULL was the deadline, not a lost connection. */
static _Thread_local bool timed_out;

/* Waits (until deadline, monotonic ms) for the result of what was sent on
 * pg; returns the first result (the caller PQclear()s it) or NULL on a
 * timeout (timed_out set) or lost connection. */
static PGresult *await(PGconn *pg, int64_t deadline)
{
	timed_out = false;
	int fd = PQsocket(pg);
	int f;
	while ((f = PQflush(pg)) == 1) {
		struct pollfd p = {.fd = fd, .events = POLLOUT | POLLIN};
		int left = (int)(deadline - mono_ms());
		int r = left > 0 ? poll(&p, 1, left) : 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			timed_out = r == 0;
			return NULL;
		}
		if ((p.revents & POLLIN) && !PQconsumeInput(pg))
			return NULL;
	}
	if (f < 0)
		return NULL;
	PGresult *first = NULL;
	for (;;) {
		while (PQisBusy(pg)) {
			struct pollfd p = {.fd = fd, .events = POLLIN};
			int left = (int)(deadline - mono_ms());
			int r = left > 0 ? poll(&p, 1, left) : 0;
			if (r < 0 && errno == EINTR)
				continue;
			timed_out = r == 0;
			if (r <= 0 || !PQconsumeInput(pg)) {
				PQclear(first);
				return NULL;
			}
		}
		PGresult *r = PQgetResult(pg);
		if (!r)
			return first;
		/* several statements (the simple protocol): the first error wins */
		bool failed = PQresultStatus(r) != PGRES_COMMAND_OK &&
		              PQresultStatus(r) != PGRES_TUPLES_OK;
		bool first_failed = first && PQresultStatus(first) != PGRES_COMMAND_OK &&
		                    PQresultStatus(first) != PGRES_TUPLES_OK;
		if (!first || (failed && !first_failed)) {
			PQclear(first);
			first = r;
		} else {
			PQclear(r);
		}
	}
}

/*
 * Runs the prepared statement name, or else text (with params p: one
 * statement; without: the simple protocol, several statements of the
 * binary's own), on c, waiting wait_ms at most. K_OK with *out (PQclear it)
 * holding the rows, or an error with last_state set: a failure that leaves
 * the connection unusable closes it (the slot reconnects on its next use).
 */
static enum kerr run_for(struct pg *s, struct pconn *c, const char *name, const char *text,
                         const struct params *p, PGresult **out, int wait_ms)
{
	int64_t deadline = mono_ms() + wait_ms;
	PGresult *r = NULL;
	last_state[0] = '\0';
	if (out)
		*out = NULL;
	int ok = name ? PQsendQueryPrepared(c->pg, name, p ? p->n : 0, p ? p->v : NULL, NULL, NULL,
	                                    0)
	         : p  ? PQsendQueryParams(c->pg, text, p->n, NULL, p->v, NULL, NULL, 0)
	              : PQsendQuery(c->pg, text);
	if (ok)
		r = await(c->pg, deadline);
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		if (out)
			*out = r;
		else
			PQclear(r);
		return K_OK;
	}
	char msg[400];
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	snprintf(last_state, sizeof(last_state), "%s", state ? state : "");
	one_line(msg, sizeof(msg), r ? PQresultErrorMessage(r) : PQerrorMessage(c->pg));
	if (!r && ok && timed_out)
		snprintf(msg, sizeof(msg), "no answer within %d ms: connection closed", wait_ms);
	PQclear(r);
	enum kerr e = classify(last_state);
	if (!r || PQstatus(c->pg) != CONNECTION_OK)
		drop_conn(c);
	/* a taken name is the caller's answer (K_EEXIST), not a fault */
	if (strcmp(last_state, "23505") != 0)
		note(s, msg);
	return e;
}

static enum kerr run(struct pg *s, struct pconn *c, const char *name, const char *text,
                     const struct params *p, PGresult **out)
{
	return run_for(s, c, name, text, p, out, QUERY_WAIT_MS);
}

static enum kerr connect_one(struct pg *s, struct pconn *c, struct buf *errmsg);

/* Whether a statement only reads: run again on a new connection when the
 * pooled one turned out to be dead (the server restarted meanwhile). */
static bool is_read(enum q q)
{
	return q == Q_COUNT_CLUSTERS || q == Q_CLUSTER_GET || q == Q_FETCH_LIST || q == Q_DIR_GET ||
	       q == Q_REPORT_LIST || q == Q_REPORT_COUNT || q == Q_STATES || q == Q_GEN_LIST ||
	       q == Q_GEN_GET || q == Q_PV_GET || q == Q_UNSNAPSHOTTED;
}

/* Whether the first use of a pooled connection failed because the
 * connection was dead, and a new one is up: then the caller runs its
 * statement (a read or a BEGIN) again, once. */
static bool reconnected(struct pg *s, struct pconn *c, bool first, enum kerr e)
{
	return first && e == K_EUNAVAIL && !c->pg && connect_one(s, c, NULL) == K_OK;
}

static enum kerr qx_once(struct pg *s, struct pconn *c, enum q q, const struct params *p,
                         PGresult **out);

/* Whether s is valid UTF-8 (PostgreSQL refuses anything else in a text
 * parameter, with an error that would abort the transaction). */
static bool utf8_valid(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	while (*u) {
		int n = *u < 0x80             ? 0
		        : (*u & 0xe0) == 0xc0 ? 1
		        : (*u & 0xf0) == 0xe0 ? 2
		        : (*u & 0xf8) == 0xf0 ? 3
		                              : -1;
		if (n < 0 || (n == 1 && *u < 0xc2) || (n == 3 && *u > 0xf4))
			return false;
		uint32_t cp = n ? *u & (0x3f >> n) : *u;
		for (int i = 1; i <= n; i++) {
			if ((u[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (u[i] & 0x3f);
		}
		if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		u += n + 1;
	}
	return true;
}

/* Whether every text parameter of p is valid UTF-8. */
static bool params_valid(const struct params *p)
{
	for (int i = 0; p && i < p->n; i++)
		if (p->v[i] && !utf8_valid(p->v[i]))
			return false;
	return true;
}

/* Runs the prepared statement q (preparing it on first use on c). */
static enum kerr qx(struct pg *s, struct pconn *c, enum q q, const struct params *p, PGresult **out)
{
	/* a key that is not UTF-8 (from a URL) names no row: no query, no
	 * aborted transaction */
	if (!params_valid(p)) {
		if (out)
			*out = NULL;
		snprintf(last_state, sizeof(last_state), "22021");
		return K_ENOTFOUND;
	}
	bool first = c->fresh && is_read(q);
	c->fresh = false;
	enum kerr e = qx_once(s, c, q, p, out);
	return reconnected(s, c, first, e) ? qx_once(s, c, q, p, out) : e;
}

static enum kerr qx_once(struct pg *s, struct pconn *c, enum q q, const struct params *p,
                         PGresult **out)
{
	char name[16];
	snprintf(name, sizeof(name), "k%d", (int)q);
	if (!c->prepared[q]) {
		PGresult *r = NULL;
		int64_t deadline = mono_ms() + QUERY_WAIT_MS;
		if (PQsendPrepare(c->pg, name, sql[q], 0, NULL))
			r = await(c->pg, deadline);
		if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
			char msg[400];
			const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
			snprintf(last_state, sizeof(last_state), "%s", state ? state : "");
			one_line(msg, sizeof(msg),
			         r ? PQresultErrorMessage(r) : PQerrorMessage(c->pg));
			PQclear(r);
			if (!r || PQstatus(c->pg) != CONNECTION_OK)
				drop_conn(c);
			note(s, msg);
			return classify(last_state);
		}
		PQclear(r);
		c->prepared[q] = true;
	}
	return run(s, c, name, NULL, p, out);
}

/* Runs a command without parameters (BEGIN, COMMIT, SAVEPOINT ...). */
static enum kerr cmd(struct pg *s, struct pconn *c, const char *text)
{
	return run(s, c, NULL, text, NULL, NULL);
}

/* NOTICEs (CREATE TABLE IF NOT EXISTS ...) are not kindling's to print. */
static void ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Opens c's connection with kindling's session settings. K_OK, or
 * K_EUNAVAIL (the database cannot be reached) with the reason noted. */
static enum kerr connect_one(struct pg *s, struct pconn *c, struct buf *errmsg)
{
	/* keywords in order: what the --db URL says wins over the defaults
	 * before it (libpq keeps the last value of a repeated keyword) */
	const char *const keys[] = {"connect_timeout", "fallback_application_name", "dbname", NULL};
	const char *const vals[] = {CONNECT_TIMEOUT_S, "kindling", s->conninfo, NULL};
	const char *const lkeys[] = {
	        "connect_timeout",     "fallback_application_name", "keepalives", "keepalives_idle",
	        "keepalives_interval", "keepalives_count",          "dbname",     NULL};
	const char *const lvals[] = {CONNECT_TIMEOUT_S, "kindling", "1", LISTEN_KEEPALIVE, "1", "3",
	                             s->conninfo,       NULL};
	drop_conn(c);
	c->pg = c->listener ? PQconnectdbParams(lkeys, lvals, 1) : PQconnectdbParams(keys, vals, 1);
	char msg[400];
	if (!c->pg) {
		snprintf(msg, sizeof(msg), "out of memory");
		goto fail;
	}
	if (PQstatus(c->pg) != CONNECTION_OK) {
		one_line(msg, sizeof(msg), PQerrorMessage(c->pg));
		goto fail;
	}
	PQsetNoticeProcessor(c->pg, ignore_notice, NULL);
	if (PQsetnonblocking(c->pg, 1) != 0) {
		one_line(msg, sizeof(msg), PQerrorMessage(c->pg));
		goto fail;
	}
	enum kerr e = cmd(
	        s, c,
	        "SET statement_timeout = " STRINGIFY(
	                STATEMENT_TIMEOUT_MS) "; "
	                                      "SET idle_in_transaction_session_timeout = 60000; "
	                                      "SET synchronous_commit = on");
	if (e != K_OK) {
		pthread_mutex_lock(&s->fault_mu);
		snprintf(msg, sizeof(msg), "%.*s", (int)sizeof(msg) - 1, s->fault);
		pthread_mutex_unlock(&s->fault_mu);
		goto fail;
	}
	return K_OK;
fail:
	drop_conn(c);
	atomic_store(&s->down_until, mono_ms() + RECONNECT_PAUSE_MS);
	last_state[0] = '\0';
	note(s, msg);
	if (errmsg)
		buf_addf(errmsg, "%s: %s", s->where, msg);
	return K_EUNAVAIL;
}

/*
 * Takes a free slot of the pool (waiting POOL_WAIT_MS at most) and makes
 * sure it is connected. NULL with *e = K_EUNAVAIL when none came free or the
 * database cannot be reached.
 */
static struct pconn *acquire(struct pg *s, enum kerr *e)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += POOL_WAIT_MS / 1000;
	struct pconn *c = NULL;
	pthread_mutex_lock(&s->mu);
	while (!c) {
		/* a connected free slot first, then any free one */
		for (int pass = 0; pass < 2 && !c; pass++)
			for (int i = 0; i < s->n && !c; i++)
				if (!s->conns[i].busy && (pass || s->conns[i].pg))
					c = &s->conns[i];
		if (!c && pthread_cond_timedwait(&s->freed, &s->mu, &until) != 0)
			break;
	}
	if (c)
		c->busy = true;
	pthread_mutex_unlock(&s->mu);
	if (!c) {
		last_state[0] = '\0';
		note(s,
		     "every connection of the pool stayed busy for " STRINGIFY(POOL_WAIT_MS) " ms");
		*e = K_EUNAVAIL;
		return NULL;
	}
	/* a connection the server closed while idle (a restart, a shutdown,
	 * idle_session_timeout) shows as EOF here: reconnect before use */
	if (c->pg && (!PQconsumeInput(c->pg) || PQstatus(c->pg) != CONNECTION_OK))
		drop_conn(c);
	c->fresh = true;
	if (!c->pg && mono_ms() < atomic_load(&s->down_until)) {
		/* a connect failed a moment ago: fail fast rather than have every
		 * request wait its own connect_timeout for an unreachable server */
		*e = K_EUNAVAIL;
		last_state[0] = '\0';
	} else {
		*e = c->pg ? K_OK : connect_one(s, c, NULL);
	}
	if (*e != K_OK) {
		pthread_mutex_lock(&s->mu);
		c->busy = false;
		pthread_cond_signal(&s->freed);
		pthread_mutex_unlock(&s->mu);
		return NULL;
	}
	return c;
}

/* Gives c back (NULL: nothing taken) and returns e; a success ends a fault. */
static enum kerr release(struct pg *s, struct pconn *c, enum kerr e)
{
	if (!c)
		return e;
	/* a connection left inside a transaction (a bug) is not reused as is */
	if (c->pg && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		drop_conn(c);
	pthread_mutex_lock(&s->mu);
	c->busy = false;
	pthread_cond_signal(&s->freed);
	pthread_mutex_unlock(&s->mu);
	if (e == K_OK || e == K_ENOTFOUND || e == K_EEXIST || e == K_ELIMIT)
		note(s, NULL);
	return e;
}

/* release after a write: a failure makes /healthz probe writes until one works. */
static enum kerr release_write(struct pg *s, struct pconn *c, enum kerr e)
{
	if (e == K_EUNAVAIL || e == K_EIO)
		atomic_store(&s->write_failed, true);
	else if (e == K_OK)
		atomic_store(&s->write_failed, false);
	return release(s, c, e);
}

/* Starts a transaction with text (BEGIN ...), unless e says the call failed already. */
static enum kerr begin_with(struct pg *s, struct pconn *c, enum kerr e, const char *text)
{
	if (e != K_OK)
		return e;
	bool first = c->fresh;
	c->fresh = false;
	e = cmd(s, c, text);
	return reconnected(s, c, first, e) ? cmd(s, c, text) : e;
}

static enum kerr begin(struct pg *s, struct pconn *c, enum kerr e)
{
	return begin_with(s, c, e, "BEGIN");
}

/* Commits when e is K_OK, else rolls back; returns the final result. */
static enum kerr finish(struct pg *s, struct pconn *c, enum kerr e)
{
	if (!c || !c->pg)
		return e == K_OK ? K_EUNAVAIL : e;
	if (e == K_OK) {
		PGresult *r = NULL;
		e = run(s, c, NULL, "COMMIT", NULL, &r);
		/* COMMIT of a failed transaction answers ROLLBACK */
		if (e == K_OK && (!r || strcmp(PQcmdStatus(r), "COMMIT") != 0))
			e = K_EIO;
		PQclear(r);
		if (e == K_OK)
			return K_OK;
	}
	if (c->pg && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
		enum kerr rb = cmd(s, c, "ROLLBACK");
		(void)rb; /* a failed ROLLBACK closed the connection: nothing stays */
	}
	return e;
}

static int64_t get_int(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static void get_copy(const PGresult *r, int row, int col, char *out, size_t n)
{
	snprintf(out, n, "%s", PQgetvalue(r, row, col));
}

static json_t *get_json(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : json_loads(PQgetvalue(r, row, col), 0, NULL);
}

/* Reads a row selected with CLUSTER_COLS into *c. */
static enum kerr read_cluster(const PGresult *r, int row, struct cluster *c)
{
	memset(c, 0, sizeof(*c));
	get_copy(r, row, 0, c->id, sizeof(c->id));
	get_copy(r, row, 1, c->name, sizeof(c->name));
	c->size = (int)get_int(r, row, 2);
	c->profiles = get_json(r, row, 3);
	c->vars = get_json(r, row, 4);
	c->secrets = get_json(r, row, 5);
	get_copy(r, row, 6, c->ignition_version, sizeof(c->ignition_version));
	get_copy(r, row, 7, c->discovery_mode, sizeof(c->discovery_mode));
	c->discovery_url = strdup(PQgetvalue(r, row, 8));
	get_copy(r, row, 9, c->discovery_token, sizeof(c->discovery_token));
	get_copy(r, row, 10, c->fetch_token, sizeof(c->fetch_token));
	json_t *prev = get_json(r, row, 11);
	size_t i;
	json_t *p;
	json_array_foreach (prev, i, p) {
		const char *t = json_string_value(json_array_get(p, 0));
		if (!t || c->nprev == STORE_PREV_TOKENS)
			break;
		str_copy(c->prev[c->nprev].token, sizeof(c->prev[0].token), t);
		c->prev[c->nprev++].until = json_integer_value(json_array_get(p, 1));
	}
	c->generation = get_int(r, row, 12);
	c->fetch_count = get_int(r, row, 13);
	c->last_fetch_at = get_int(r, row, 14);
	c->created_at = get_int(r, row, 15);
	c->updated_at = get_int(r, row, 16);
	c->members = (int)get_int(r, row, 17);
	get_copy(r, row, 18, c->discovery_protocol, sizeof(c->discovery_protocol));
	c->profile_versions = get_json(r, row, 19); /* NULL: made before generations */
	enum kerr e =
	        prev && c->profiles && c->vars && c->secrets && c->discovery_url ? K_OK : K_EIO;
	json_decref(prev);
	if (e != K_OK)
		cluster_clear(c);
	return e;
}

/* Compact JSON text of j into *out (free it). */
static enum kerr dump_json(const json_t *j, char **out)
{
	*out = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	return *out ? K_OK : K_ENOMEM;
}

/*
 * Sends the change ch (its kind, and what it names: NULL or "" for nothing)
 * to the other replicas, inside the open transaction: delivered at its
 * commit, never for a rollback. K_OK or the statement's error (which fails
 * the transaction: a change the others would miss is not committed).
 */
static enum kerr notify(struct pg *s, struct pconn *c, const struct store_change *ch)
{
	json_t *j = json_pack("{s:s, s:s}", "r", s->replica, "k", ch->kind);
	if (!j)
		return K_ENOMEM;
	const char *const keys[] = {"n", "i", "t", "m"};
	const char *const vals[] = {ch->cluster, ch->cluster_id, ch->token, ch->member};
	for (size_t i = 0; i < 4; i++)
		if (vals[i] && vals[i][0])
			json_object_set_new(j, keys[i], json_string(vals[i]));
	if (ch->index)
		json_object_set_new(j, "x", json_integer(ch->index));
	if (ch->generation)
		json_object_set_new(j, "g", json_integer(ch->generation));
	json_object_set_new(j, "a", json_integer(ch->at ? ch->at : store_now_ms()));
	char *text = NULL;
	enum kerr e = dump_json(j, &text);
	json_decref(j);
	if (e == K_OK && strlen(text) > PAYLOAD_MAX)
		e = K_EIO; /* cannot happen: names, ids and tokens are short */
	if (e == K_OK) {
		struct params p = {0};
		p_text(&p, text);
		e = qx(s, c, Q_NOTIFY, &p, NULL);
	}
	free(text);
	return e;
}

/* notify for a change of the committed row cl. */
static enum kerr notify_cluster(struct pg *s, struct pconn *c, const char *kind,
                                const struct cluster *cl)
{
	struct store_change ch = {.kind = kind,
	                          .cluster = cl->name,
	                          .cluster_id = cl->id,
	                          .token = cl->discovery_token,
	                          .generation = cl->generation,
	                          .at = cl->updated_at};
	return notify(s, c, &ch);
}

/* Applies the migrations past schema_version in one transaction, under an
 * advisory lock (replicas starting together migrate one after the other).
 * Refuses a database newer than this binary. */
static enum kerr migrate(struct pg *s, struct pconn *c, struct buf *errmsg)
{
	PGresult *r = NULL;
	enum kerr e = cmd(s, c, "BEGIN");
	if (e == K_OK)
		e = cmd(s, c, "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK_KEY ")");
	if (e == K_OK)
		e = cmd(s, c,
		        "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL); "
		        "INSERT INTO schema_version (version) SELECT 0 "
		        "WHERE NOT EXISTS (SELECT 1 FROM schema_version)");
	if (e == K_OK)
		e = run(s, c, NULL, "SELECT max(version), count(*) FROM schema_version", NULL, &r);
	if (e != K_OK)
		goto fail;
	int version = (int)get_int(r, 0, 0);
	int64_t rows = get_int(r, 0, 1);
	PQclear(r);
	r = NULL;
	if (rows != 1 || version < 0) {
		buf_addf(errmsg,
		         "%s: the schema_version table holds %" PRId64 " rows (version %d), "
		         "not one that kindling writes: this is not a kindling database, or it "
		         "was changed by hand",
		         s->where, rows, version);
		finish(s, c, K_EIO);
		return K_EIO;
	}
	if (version > migrations_postgres_count) {
		buf_addf(errmsg,
		         "%s: schema version %d is newer than this kindling knows (%d): a newer "
		         "kindling migrated it; run that version (or newer)",
		         s->where, version, migrations_postgres_count);
		finish(s, c, K_EIO);
		return K_EIO;
	}
	/* a migration may rewrite big tables: no statement timeout for it */
	if (version < migrations_postgres_count)
		e = cmd(s, c, "SET LOCAL statement_timeout = 0");
	for (int i = version; i < migrations_postgres_count && e == K_OK; i++) {
		e = run_for(s, c, NULL, migrations_postgres[i].sql, NULL, NULL, 3600 * 1000);
		if (e != K_OK) {
			pthread_mutex_lock(&s->fault_mu);
			buf_addf(errmsg, "%s: migration %s: %s", s->where,
			         migrations_postgres[i].name, s->fault);
			pthread_mutex_unlock(&s->fault_mu);
			finish(s, c, e);
			return K_EIO;
		}
	}
	if (e != K_OK)
		goto fail;
	struct params p = {0};
	p_int(&p, migrations_postgres_count);
	e = run(s, c, NULL, "UPDATE schema_version SET version = $1", &p, NULL);
	e = finish(s, c, e);
	if (e == K_OK)
		return K_OK;
fail:
	PQclear(r);
	finish(s, c, e);
	pthread_mutex_lock(&s->fault_mu);
	buf_addf(errmsg, "%s: cannot apply migrations: %s", s->where,
	         s->fault[0] ? s->fault : kerr_str(e));
	pthread_mutex_unlock(&s->fault_mu);
	return e;
}

/* "user@host:port/db" of the connection, for messages (never the password). */
static void describe(struct pg *s, PGconn *pg)
{
	snprintf(s->where, sizeof(s->where), "postgresql://%s@%s:%s/%s", PQuser(pg),
	         PQhost(pg) ? PQhost(pg) : "", PQport(pg) ? PQport(pg) : "", PQdb(pg));
}

static void pg_unlisten(void *b);

static void pg_close(void *b)
{
	struct pg *s = b;
	if (!s)
		return;
	pg_unlisten(s);
	for (int i = s->n - 1; s->conns && i >= 0; i--)
		drop_conn(&s->conns[i]);
	pthread_cond_destroy(&s->freed);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->fault_mu);
	free(s->conns);
	free(s->conninfo);
	free(s);
}

static enum kerr pg_open(const char *target, int pool_size, void **out, struct buf *errmsg)
{
	struct pg *s = calloc(1, sizeof(*s));
	if (!s)
		return K_ENOMEM;
	s->n = pool_size < 1 ? 1 : pool_size;
	s->conns = calloc((size_t)s->n, sizeof(*s->conns));
	s->conninfo = strdup(target);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->freed, NULL);
	pthread_mutex_init(&s->fault_mu, NULL);
	s->lst.wake[0] = s->lst.wake[1] = -1;
	if (!s->conns || !s->conninfo || rand_hex(s->replica, 8) != K_OK) {
		pg_close(s);
		return K_ENOMEM;
	}
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(target, &err);
	if (!opts) {
		char msg[400];
		one_line(msg, sizeof(msg), err ? err : "out of memory");
		buf_addf(errmsg, "--db: not a PostgreSQL connection URL: %s", msg);
		PQfreemem(err);
		pg_close(s);
		return K_EIO;
	}
	/* the URL may hold a password: messages name the server only */
	const char *host = "", *port = "", *db = "", *user = "";
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		const char *v = o->val ? o->val : "";
		if (!strcmp(o->keyword, "host"))
			host = v;
		else if (!strcmp(o->keyword, "port"))
			port = v;
		else if (!strcmp(o->keyword, "dbname"))
			db = v;
		else if (!strcmp(o->keyword, "user"))
			user = v;
	}
	snprintf(s->where, sizeof(s->where), "postgresql://%s%s%s%s%s/%s", user, user[0] ? "@" : "",
	         host, port[0] ? ":" : "", port, db);
	PQconninfoFree(opts);
	struct pconn *c = &s->conns[0];
	c->busy = true;
	enum kerr e = connect_one(s, c, errmsg);
	if (e == K_OK) {
		describe(s, c->pg);
		e = migrate(s, c, errmsg);
	}
	if (e == K_OK && PQstatus(c->pg) != CONNECTION_OK)
		e = K_EUNAVAIL;
	c->busy = false;
	if (e != K_OK) {
		pg_close(s);
		return e == K_EUNAVAIL ? K_EIO : e;
	}
	note(s, NULL);
	*out = s;
	return K_OK;
}

static void pg_last_fault(void *b, char *out, size_t n)
{
	struct pg *s = b;
	pthread_mutex_lock(&s->fault_mu);
	snprintf(out, n, "%s", s->faulty ? s->fault : "");
	pthread_mutex_unlock(&s->fault_mu);
}

static enum kerr pg_cluster_count(void *b, int64_t *out)
{
	struct pg *s = b;
	enum kerr e;
	struct pconn *c = acquire(s, &e);
	PGresult *r = NULL;
	if (e == K_OK)
		e = qx(s, c, Q_COUNT_CLUSTERS, NULL, &r);
	if (e == K_OK && PQntuples(r) == 1)
		*out = get_int(r, 0, 0);
	else if (e == K_OK)
		e = K_EIO;
	PQclear(r);
	return release(s, c, e);
}

/* A write that changes nothing and waits PROBE_LOCK_MS at most for its
 * lock: can writes succeed now? */
static enum kerr probe_write(struct pg *s, bool *out_locked)
{
	enum kerr e;
	*out_locked = false;
	struct pconn *c = acquire(s, &e);
	e = begin(s, c, e);
	if (e == K_OK)
		e = cmd(s, c, "SET LOCAL lock_timeout = " STRINGIFY(PROBE_LOCK_MS));
	if (e == K_OK) {
		e = cmd(s, c, "UPDATE cluster_count SET n = n");
		*out_locked = e != K_OK && !strcmp(last_state, "55P03");
	}
	return release_write(s, c, finish(s, c, e));
}

static enum kerr pg_health(void *b, struct buf *why)
{
	struct pg *s = b;
	int64_t n;
	bool locked = false;
	enum kerr e = pg_cluster_count(s, &n);
	if (e == K_OK && atomic_load(&s->write_failed))
		e = probe_write(s, &locked);
	if (e == K_OK && s->lst.started && !atomic_load(&s->lst.stamp)) {
		buf_addf(why,
		         "%s: not listening for other replicas' changes (the LISTEN connection is "
		         "down; reconnecting)",
		         s->where);
		return K_EUNAVAIL;
	}
	if (e != K_OK && locked) {
		buf_addf(why,
		         "%s: the database is locked: a write waited %d ms for locks another "
		         "session holds",
		         s->where, PROBE_LOCK_MS);
	} else if (e != K_OK) {
		pthread_mutex_lock(&s->fault_mu);
		buf_addf(why, "%s: %s", s->where, s->fault[0] ? s->fault : kerr_str(e));
		pthread_mutex_unlock(&s->fault_mu);
	}
	return e;
}

/* Records generation gen of cluster id (inputs and change from cl). */
static enum kerr insert_generation(struct pg *s, struct pconn *c, const char *id, int64_t gen,
                                   int64_t at, const struct cluster *cl)
{
	json_t *inputs = store_generation_inputs(cl);
	json_t *change =
	        cl->change ? json_incref(cl->change) : json_pack("{s:s}", "kind", "created");
	char *in = NULL, *ch = NULL;
	enum kerr e = inputs && change ? K_OK : K_ENOMEM;
	if (e == K_OK && (e = dump_json(inputs, &in)) == K_OK &&
	    (e = dump_json(change, &ch)) == K_OK) {
		struct params p = {0};
		p_text(&p, id);
		p_int(&p, gen);
		p_int(&p, at);
		p_text(&p, ch);
		p_text(&p, in);
		e = qx(s, c, Q_GEN_INSERT, &p, NULL);
	}
	free(in);
	free(ch);
	json_decref(inputs);
	json_decref(change);
	return e;
}

/* Inserts one cluster and its directory inside a transaction. K_OK,
 * K_EEXIST (name taken), K_ENOMEM, K_EUNAVAIL, K_EIO. */
static enum kerr insert_cluster(struct pg *s, struct pconn *c, const struct cluster *cl)
{
	char *profiles = NULL, *vars = NULL, *secrets = NULL, *versions = NULL;
	struct params p = {0};
	enum kerr e;
	if ((e = dump_json(cl->profiles, &profiles)) != K_OK ||
	    (e = dump_json(cl->vars, &vars)) != K_OK ||
	    (e = dump_json(cl->secrets, &secrets)) != K_OK ||
	    (cl->profile_versions && (e = dump_json(cl->profile_versions, &versions)) != K_OK))
		goto out;
	p_text(&p, cl->id);
	p_text(&p, cl->name);
	p_int(&p, cl->size);
	p_text(&p, profiles);
	p_text(&p, vars);
	p_text(&p, secrets);
	p_text(&p, cl->ignition_version);
	p_text(&p, cl->discovery_mode);
	p_text(&p, cl->discovery_url);
	p_text(&p, cl->fetch_token);
	p_int(&p, cl->created_at);
	p_text(&p, cl->discovery_protocol[0] ? cl->discovery_protocol : "v2");
	p_text(&p, versions);
	e = qx(s, c, Q_CLUSTER_INSERT, &p, NULL);
	if (e != K_OK && !strcmp(last_state, "23505"))
		e = K_EEXIST;
	if (e == K_OK)
		e = insert_generation(s, c, cl->id, 1, cl->created_at, cl);
	if (e != K_OK || !cl->discovery_token[0])
		goto out;
	p.n = 0;
	p_text(&p, cl->discovery_token);
	p_int(&p, cl->size);
	p_text(&p, cl->id);
	p_int(&p, cl->created_at);
	e = qx(s, c, Q_TOKEN_INSERT, &p, NULL);
out:
	free(profiles);
	free(vars);
	free(secrets);
	free(versions);
	return e;
}

static void pg_clusters_create(void *b, const struct cluster *const *cls, size_t n,
                               int max_clusters, enum kerr *results)
{
	struct pg *s = b;
	enum kerr e;
	PGresult *r = NULL;
	int64_t count = 0;
	struct pconn *c = acquire(s, &e);
	e = begin(s, c, e);
	/* the counter row's lock: creates of all replicas one at a time, so
	 * the count checked is the count committed */
	if (e == K_OK)
		e = qx(s, c, Q_COUNT_LOCK, NULL, &r);
	if (e == K_OK && PQntuples(r) == 1)
		count = get_int(r, 0, 0);
	else if (e == K_OK)
		e = K_EIO;
	PQclear(r);
	for (size_t i = 0; i < n; i++) {
		if (e != K_OK) {
			results[i] = e;
			continue;
		}
		if (count >= max_clusters) {
			results[i] = K_ELIMIT;
			continue;
		}
		/* a savepoint each: a taken name undoes that create only */
		e = cmd(s, c, "SAVEPOINT one");
		if (e != K_OK) {
			results[i] = e;
			continue;
		}
		results[i] = insert_cluster(s, c, cls[i]);
		if (results[i] == K_OK) {
			struct store_change ch = {.kind = "cluster-created",
			                          .cluster = cls[i]->name,
			                          .cluster_id = cls[i]->id,
			                          .token = cls[i]->discovery_token,
			                          .generation = 1,
			                          .at = cls[i]->created_at};
			results[i] = notify(s, c, &ch);
		}
		if (results[i] == K_OK)
			count++;
		else if (!c->pg) /* the connection is gone, and the transaction */
			e = results[i];
		else
			e = cmd(s, c, "ROLLBACK TO SAVEPOINT one");
		if (e == K_OK)
			e = cmd(s, c, "RELEASE SAVEPOINT one");
	}
	e = finish(s, c, e);
	for (size_t i = 0; i < n && e != K_OK; i++) /* no commit: nothing of it is stored */
		if (results[i] == K_OK || results[i] == K_EIO || results[i] == K_EUNAVAIL)
			results[i] = e;
	/* a create that failed (a statement timeout, say) is a failed write,
	 * though the others of its batch committed */
	enum kerr worst = e;
	for (size_t i = 0; i < n && worst == K_OK; i++)
		if (results[i] == K_EIO || results[i] == K_EUNAVAIL)
			worst = results[i];
	release_write(s, c, worst);
}

/* Reads the cluster named name. K_OK, K_ENOTFOUND, K_EUNAVAIL, K_EIO. */
static enum kerr get_on(struct pg *s, struct pconn *c, const char *name, struct cluster *out)
{
	struct params p = {0};
	PGresult *r = NULL;
	p_text(&p, name);
	enum kerr e = qx(s, c, Q_CLUSTER_GET, &p, &r);
	if (e == K_OK)
		e = PQntuples(r) == 1 ? read_cluster(r, 0, out) : K_ENOTFOUND;
	PQclear(r);
	return e;
}

static enum kerr pg_cluster_get(void *b, const char *name, struct cluster *out)
{
	struct pg *s = b;
	enum kerr e;
	struct pconn *c = acquire(s, &e);
	if (e == K_OK)
		e = get_on(s, c, name, out);
	return release(s, c, e);
}

static enum kerr pg_cluster_list(void *b, const struct store_list_query *q,
                                 void (*fn)(const struct cluster *c, void *arg), void *arg,
                                 bool *out_more, int64_t *out_total)
{
	static const enum q by_sort[] = {
	        [SORT_NAME] = Q_LIST_NAME,
	        [SORT_NAME_DESC] = Q_LIST_NAME_DESC,
	        [SORT_CREATED] = Q_LIST_CREATED,
	        [SORT_CREATED_DESC] = Q_LIST_CREATED_DESC,
	};
	struct pg *s = b;
	bool desc = q->sort == SORT_NAME_DESC || q->sort == SORT_CREATED_DESC;
	/* names are [a-z0-9-] in the "C" collation: all below "~", above "" */
	const char *after_name = q->has_cursor ? q->cursor_name : desc ? "~" : "";
	int64_t after_time = q->has_cursor ? q->cursor_time : desc ? INT64_MAX : INT64_MIN;
	bool filtered = q->q && q->q[0];
	struct params p = {0};
	PGresult *r = NULL;
	enum kerr e;
	*out_more = false;
	struct pconn *c = acquire(s, &e);
	/* the page and the total from one snapshot */
	e = begin_with(s, c, e, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	p_text(&p, filtered ? q->q : NULL);
	if (q->sort == SORT_CREATED || q->sort == SORT_CREATED_DESC)
		p_int(&p, after_time);
	p_text(&p, after_name);
	p_int(&p, q->limit + 1);
	if (e == K_OK)
		e = qx(s, c, by_sort[q->sort], &p, &r);
	for (int i = 0; e == K_OK && i < PQntuples(r); i++) {
		if (i == q->limit) {
			*out_more = true;
			break;
		}
		struct cluster cl;
		e = read_cluster(r, i, &cl);
		if (e == K_OK)
			fn(&cl, arg);
		cluster_clear(&cl);
	}
	PQclear(r);
	r = NULL;
	p.n = 0;
	p_text(&p, q->q);
	if (e == K_OK)
		e = filtered ? qx(s, c, Q_LIST_TOTAL, &p, &r)
		             : qx(s, c, Q_COUNT_CLUSTERS, NULL, &r);
	if (e == K_OK && PQntuples(r) == 1)
		*out_total = get_int(r, 0, 0);
	else if (e == K_OK)
		e = K_EIO;
	PQclear(r);
	return release(s, c, finish(s, c, e));
}

/* Locks the cluster's row for the transaction. K_OK, K_ENOTFOUND, errors. */
static enum kerr lock_cluster(struct pg *s, struct pconn *c, const char *name)
{
	struct params p = {0};
	PGresult *r = NULL;
	p_text(&p, name);
	enum kerr e = qx(s, c, Q_CLUSTER_LOCK, &p, &r);
	if (e == K_OK && PQntuples(r) != 1)
		e = K_ENOTFOUND;
	PQclear(r);
	return e;
}

static enum kerr pg_cluster_update(void *b, const char *name, store_mutate_fn fn, void *arg,
                                   int keep, struct cluster *out)
{
	struct pg *s = b;
	struct cluster cur = {0};
	char *vars = NULL, *secrets = NULL, *profiles = NULL, *versions = NULL;
	int64_t now = store_now_ms();
	enum kerr e;
	memset(out, 0, sizeof(*out));
	struct pconn *c = acquire(s, &e);
	e = begin(s, c, e);
	if (e == K_OK)
		e = lock_cluster(s, c, name);
	if (e == K_OK)
		e = get_on(s, c, name, &cur);
	if (e == K_OK)
		e = fn(arg, &cur);
	if (e == K_OK && (e = dump_json(cur.vars, &vars)) == K_OK &&
	    (e = dump_json(cur.secrets, &secrets)) == K_OK &&
	    (e = dump_json(cur.profiles, &profiles)) == K_OK && cur.profile_versions)
		e = dump_json(cur.profile_versions, &versions);
	if (e == K_OK) {
		struct params p = {0};
		p_text(&p, name);
		p_text(&p, vars);
		p_int(&p, now);
		p_text(&p, secrets);
		p_text(&p, profiles);
		p_text(&p, versions);
		p_text(&p, cur.ignition_version);
		e = qx(s, c, Q_SET_VARS, &p, NULL);
	}
	if (e == K_OK)
		e = get_on(s, c, name, out);
	if (e == K_OK)
		e = insert_generation(s, c, out->id, out->generation, now, &cur);
	if (e == K_OK && out->generation > keep) {
		struct params p = {0};
		p_text(&p, out->id);
		p_int(&p, out->generation - keep);
		e = qx(s, c, Q_GEN_TRIM, &p, NULL);
	}
	if (e == K_OK)
		e = notify_cluster(s, c, "cluster-changed", out);
	e = finish(s, c, e);
	if (e != K_OK)
		cluster_clear(out);
	cluster_clear(&cur);
	free(vars);
	free(secrets);
	free(profiles);
	free(versions);
	return release_write(s, c, e);
}

/* Runs q bound with $1 = name, $2 (and $3) as given. */
static enum kerr exec_named(struct pg *s, struct pconn *c, enum q q, const char *name,
                            const char *p2s, const int64_t *p2, const int64_t *p3)
{
	struct params p = {0};
	p_text(&p, name);
	if (p2s)
		p_text(&p, p2s);
	if (p2)
		p_int(&p, *p2);
	if (p3)
		p_int(&p, *p3);
	return qx(s, c, q, &p, NULL);
}

static enum kerr pg_cluster_rotate_token(void *b, const char *name, const char *token,
                                         int64_t grace_until, struct cluster *out)
{
	struct pg *s = b;
	enum kerr e;
	int64_t now = store_now_ms();
	memset(out, 0, sizeof(*out));
	struct pconn *c = acquire(s, &e);
	e = begin(s, c, e);
	/* one rotation of a cluster at a time, over all replicas */
	if (e == K_OK)
		e = lock_cluster(s, c, name);
	/* tokens past their grace go; the current one joins those that remain */
	if (e == K_OK)
		e = exec_named(s, c, Q_PREV_EXPIRE, name, NULL, &now, NULL);
	if (e == K_OK) {
		struct params p = {0};
		PGresult *r = NULL;
		p_text(&p, name);
		e = qx(s, c, Q_PREV_COUNT, &p, &r);
		if (e == K_OK)
			e = PQntuples(r) != 1                       ? K_EIO
			    : get_int(r, 0, 0) >= STORE_PREV_TOKENS ? K_ELIMIT
			                                            : K_OK;
		PQclear(r);
	}
	if (e == K_OK)
		e = exec_named(s, c, Q_PREV_ADD, name, NULL, &grace_until, NULL);
	if (e == K_OK)
		e = exec_named(s, c, Q_ROTATE, name, token, NULL, &now);
	if (e == K_OK)
		e = get_on(s, c, name, out);
	if (e == K_OK)
		e = notify_cluster(s, c, "token-rotated", out);
	e = finish(s, c, e);
	if (e != K_OK)
		cluster_clear(out);
	return release_write(s, c, e);
}

static enum kerr pg_cluster_delete(void *b, const char *name, char out_token[33])
{
	struct pg *s = b;
	enum kerr e;
	PGresult *r = NULL;
	out_token[0] = '\0';
	struct pconn *c = acquire(s, &e);
	e = begin(s, c, e);
	if (e == K_OK) {
		struct params p = {0};
		p_text(&p, name);
		e = qx(s, c, Q_TOKEN_OF, &p, &r);
	}
	if (e == K_OK && PQntuples(r) != 1)
		e = K_ENOTFOUND;
	if (e == K_OK)
		get_copy(r, 0, 0, out_token, 33);
	PQclear(r);
	if (e == K_OK)
		e = exec_named(s, c, Q_DELETE, name, NULL, NULL, NULL);
	if (e == K_OK) {
		struct store_change ch = {
		        .kind = "cluster-deleted", .cluster = name, .token = out_token};
		e = notify(s, c, &ch);
	}
	e = finish(s, c, e);
	if (e != K_OK)
		out_token[0] = '\0';
	return release_write(s, c, e);
}

/* Records one cluster's part of a batch: its rows, one count update, one trim. */
static enum kerr record_group(struct pg *s, struct pconn *c, const struct store_fetch_group *g,
                              int keep)
{
	enum kerr e = K_OK;
	for (size_t i = 0; i < g->nrows && e == K_OK; i++) {
		const struct store_fetch *f = &g->rows[i];
		struct params p = {0};
		p_text(&p, g->cluster_id);
		p_int(&p, f->at);
		p_text(&p, f->client ? f->client : "");
		p_text(&p, f->user_agent ? f->user_agent : "");
		p_text(&p, f->version ? f->version : "");
		p_int(&p, f->status);
		p_int(&p, f->generation);
		e = qx(s, c, Q_FETCH_INSERT, &p, NULL);
	}
	if (e == K_OK && g->ok && g->generation) {
		struct params p = {0};
		p_text(&p, g->cluster_id);
		p_int(&p, g->generation);
		p_int(&p, g->ok);
		e = qx(s, c, Q_GEN_FETCHES, &p, NULL);
	}
	if (e == K_OK && g->ok) {
		struct params p = {0};
		p_text(&p, g->cluster_id);
		p_int(&p, g->last_ok);
		p_int(&p, g->ok);
		e = qx(s, c, Q_FETCH_COUNT, &p, NULL);
	}
	if (e == K_OK && g->nrows) {
		struct params p = {0};
		p_text(&p, g->cluster_id);
		p_int(&p, keep);
		e = qx(s, c, Q_FETCH_TRIM, &p, NULL);
	}
	return e;
}

/* The ids of groups as a text[] literal: {"id","id",...} (ids are UUIDs). */
static enum kerr id_array(const struct store_fetch_group *groups, size_t n, struct buf *out)
{
	enum kerr e = buf_addf(out, "{");
	for (size_t i = 0; i < n && e == K_OK; i++)
		e = buf_addf(out, "%s\"%s\"", i ? "," : "", groups[i].cluster_id);
	return e == K_OK ? buf_addf(out, "}") : e;
}

static enum kerr pg_fetches_record(void *b, const struct store_fetch_group *groups, size_t n,
                                   int keep)
{
	struct pg *s = b;
	struct buf ids;
	PGresult *r = NULL;
	enum kerr e;
	buf_init(&ids, (n + 1) * 48);
	struct pconn *c = acquire(s, &e);
	e = begin(s, c, e);
	/* the clusters' rows, locked in id order (never a deadlock with
	 * another replica's batch); a cluster deleted meanwhile is skipped */
	if (e == K_OK)
		e = id_array(groups, n, &ids);
	if (e == K_OK) {
		struct params p = {0};
		p_text(&p, buf_str(&ids));
		e = qx(s, c, Q_FETCH_LOCK, &p, &r);
	}
	for (size_t i = 0; i < n && e == K_OK; i++) {
		bool exists = false;
		for (int j = 0; j < PQntuples(r) && !exists; j++)
			exists = !strcmp(PQgetvalue(r, j, 0), groups[i].cluster_id);
		if (exists)
			e = record_group(s, c, &groups[i], keep);
	}
	PQclear(r);
	buf_free(&ids);
	return release_write(s, c, finish(s, c, e));
}

static enum kerr pg_fetches_list(void *b, const char *cluster_id, int limit,
                                 void (*fn)(const struct store_fetch *f, void *arg), void *arg)
{
	struct pg *s = b;
	enum kerr e;
	PGresult *r = NULL;
	struct pconn *c = acquire(s, &e);
	if (e == K_OK) {
		struct params p = {0};
		p_text(&p, cluster_id);
		p_int(&p, limit);
		e = qx(s, c, Q_FETCH_LIST, &p, &r);
	}
	for (int i = 0; e == K_OK && i < PQntuples(r); i++) {
		struct store_fetch f = {
		        .cluster_id = cluster_id,
		        .at = get_int(r, i, 0),
		        .client = PQgetvalue(r, i, 1),
		        .user_agent = PQgetvalue(r, i, 2),
		        .version = PQgetvalue(r, i, 3),
		        .status = (int)get_int(r, i, 4),
		        .generation = get_int(r, i, 5),
		};
		fn(&f, arg);
	}
	PQclear(r);
	return release(s, c, e);
}

static enum kerr pg_dir_create(void *b, const char *token, int size)
{
	struct pg *s = b;
	enum kerr e;
	struct pconn *c = acquire(s, &e);
	if (e == K_OK) {
		struct params p = {0};
		p_text(&p, token);
		p_int(&p, size);
		p_int(&p, store_now_ms());
		e = qx(s, c, Q_DIR_CREATE, &p, NULL);
		if (e != K_OK && !strcmp(last_state, "23505"))
			e = K_EEXIST;
	}
	return release_write(s, c, e);
}

/* Reads the token's row and members into *d. */
static enum kerr dir_get_on(struct pg *s, struct pconn *c, const char *token, struct store_dir *d)
{
	struct params p = {0};
	PGresult *r = NULL;
	memset(d, 0, sizeof(*d));
	p_text(&p, token);
	/* the row and its members from one snapshot */
	enum kerr e = begin_with(s, c, K_OK, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	if (e == K_OK)
		e = qx(s, c, Q_DIR_GET, &p, &r);
	if (e == K_OK && PQntuples(r) != 1)
		e = K_ENOTFOUND;
	if (e == K_OK) {
		d->size = (int)get_int(r, 0, 0);
		d->last_index = get_int(r, 0, 1);
		get_copy(r, 0, 2, d->cluster_id, sizeof(d->cluster_id));
	}
	PQclear(r);
	r = NULL;
	if (e == K_OK)
		e = qx(s, c, Q_DIR_MEMBERS, &p, &r);
	int rows = e == K_OK ? PQntuples(r) : 0;
	if (rows > 0) {
		d->members = calloc((size_t)rows, sizeof(*d->members));
		e = d->members ? K_OK : K_ENOMEM;
	}
	for (int i = 0; e == K_OK && i < rows; i++) {
		struct store_member *m = &d->members[i];
		get_copy(r, i, 0, m->id, sizeof(m->id));
		m->value = strdup(PQgetvalue(r, i, 1));
		m->created_index = get_int(r, i, 2);
		m->created_at = get_int(r, i, 3);
		if (!m->value)
			e = K_ENOMEM;
		else
			d->n++;
	}
	PQclear(r);
	e = finish(s, c, e);
	if (e != K_OK)
		store_dir_clear(d);
	return e;
}

static enum kerr pg_dir_get(void *b, const char *token, struct store_dir *out)
{
	struct pg *s = b;
	enum kerr e;
	struct pconn *c = acquire(s, &e);
	if (e == K_OK)
		e = dir_get_on(s, c, token, out);
	else
		memset(out, 0, sizeof(*out));
	return release(s, c, e);
}

/* Runs a one-integer query bound with token (and id when not NULL): its
 * value, -1 when no row, -2 on error (*e says which). */
static int64_t int_query(struct pg *s, struct pconn *c, enum q q, const char *token, const char *id,
                         enum kerr *e)
{
	struct params p = {0};
	PGresult *r = NULL;
	p_text(&p, token);
	if (id)
		p_text(&p, id);
	*e = qx(s, c, q, &p, &r);
	int64_t v = *e != K_OK ? -2 : PQntuples(r) ? get_int(r, 0, 0) : -1;
	PQclear(r);
	return v;
}

/* Applies one registration inside the open transaction; *index is the
 * global discovery index, advanced when the registration is taken. */
static enum kerr put_one(struct pg *s, struct pconn *c, struct store_put *p, int64_t *index)
{
	enum kerr e;
	if (!utf8_valid(p->token) || !utf8_valid(p->id) || !utf8_valid(p->value)) {
		p->result = K_ENOTFOUND; /* no such token can exist */
		return K_OK;
	}
	/* the directory's row lock: a delete waits for us, or we see it gone */
	int64_t last = int_query(s, c, Q_DIR_LOCK, p->token, NULL, &e);
	if (last < 0) {
		p->result = K_ENOTFOUND;
		return last == -1 ? K_OK : e;
	}
	p->index = last;
	int64_t exists = int_query(s, c, Q_MEMBER_EXISTS, p->token, p->id, &e);
	if (exists == -2)
		return e;
	int64_t count = int_query(s, c, Q_MEMBER_COUNT, p->token, NULL, &e);
	if (count < 0)
		return e;
	if (exists == 1 || count >= p->max_members) {
		p->result = exists == 1 ? K_EEXIST : K_ELIMIT;
		return K_OK;
	}
	*index = (*index > last ? *index : last) + 1;
	p->index = *index;
	struct params q = {0};
	p_text(&q, p->token);
	p_text(&q, p->id);
	p_text(&q, p->value);
	p_int(&q, p->index);
	p_int(&q, p->at);
	e = qx(s, c, Q_MEMBER_INSERT, &q, NULL);
	if (e == K_OK) {
		q.n = 0;
		p_text(&q, p->token);
		p_int(&q, p->index);
		e = qx(s, c, Q_DIR_BUMP, &q, NULL);
	}
	if (e == K_OK) {
		struct store_change ch = {.kind = "member-registered",
		                          .token = p->token,
		                          .member = p->id,
		                          .index = p->index,
		                          .at = p->at};
		e = notify(s, c, &ch);
	}
	if (e == K_OK)
		p->result = K_OK;
	return e;
}

static enum kerr pg_put_members(void *b, struct store_put *puts, size_t n)
{
	struct pg *s = b;
	enum kerr e;
	PGresult *r = NULL;
	int64_t index = 0, first = 0;
	struct pconn *c = acquire(s, &e);
	e = begin(s, c, e);
	/* the one counter row, locked until commit: registrations of all
	 * replicas commit in index order, so no reader sees N+1 before N */
	if (e == K_OK)
		e = qx(s, c, Q_INDEX_LOCK, NULL, &r);
	if (e == K_OK && PQntuples(r) == 1)
		index = first = get_int(r, 0, 0);
	else if (e == K_OK)
		e = K_EIO;
	PQclear(r);
	for (size_t i = 0; i < n && e == K_OK; i++)
		e = put_one(s, c, &puts[i], &index);
	if (e == K_OK && index != first) {
		struct params p = {0};
		p_int(&p, index);
		e = qx(s, c, Q_INDEX_SET, &p, NULL);
	}
	return release_write(s, c, finish(s, c, e));
}

/* ---- kindling migrate: the target side (store_copy) ----
 * Kept apart from the rest: one transaction on one connection, every
 * table of tables.c copied row by row through the unnamed prepared
 * statement (nothing else runs on the connection meanwhile). */

/* Tables of the target that tables.c does not list but this side fills. */
static const char *const import_own_tables[] = {"schema_version", "discovery_index", NULL};

struct import_ctx {
	struct pg *s;
	struct pconn *c;
	const struct store_table *t;
	int ncols;
	int64_t rows;
	int64_t max_index; /* the highest discovery index copied */
	struct buf *errmsg;
};

/* The fault text of the last failure on s, into errmsg after what. */
static void import_fault(struct pg *s, struct buf *errmsg, const char *what)
{
	pthread_mutex_lock(&s->fault_mu);
	buf_addf(errmsg, "%s: %s: %s", s->where, what, s->fault[0] ? s->fault : "failed");
	pthread_mutex_unlock(&s->fault_mu);
}

/* Runs text (no parameters) and returns its one integer in *out. */
static enum kerr import_int(struct pg *s, struct pconn *c, const char *text, int64_t *out)
{
	PGresult *r = NULL;
	enum kerr e = run(s, c, NULL, text, NULL, &r);
	if (e == K_OK && PQntuples(r) == 1 && PQnfields(r) == 1)
		*out = get_int(r, 0, 0);
	else if (e == K_OK)
		e = K_EIO;
	PQclear(r);
	return e;
}

/* Whether the target's tables are those tables.c lists and this side's own. */
static enum kerr import_check_tables(struct pg *s, struct pconn *c, struct buf *errmsg)
{
	PGresult *r = NULL;
	enum kerr e = run(s, c, NULL,
	                  "SELECT table_name FROM information_schema.tables WHERE table_schema = "
	                  "current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
	                  NULL, &r);
	if (e != K_OK) {
		import_fault(s, errmsg, "reading the tables");
		return e;
	}
	for (int i = 0; i < PQntuples(r) && e == K_OK; i++) {
		const char *name = PQgetvalue(r, i, 0);
		bool known = false;
		for (int j = 0; j < store_ntables && !known; j++)
			known = !strcmp(store_tables[j].name, name);
		for (const char *const *o = import_own_tables; *o && !known; o++)
			known = !strcmp(*o, name);
		if (!known) {
			buf_addf(
			        errmsg,
			        "%s: table %s is not one kindling migrate knows how to fill (a "
			        "newer "
			        "schema, or another application's table in this database): nothing "
			        "was changed",
			        s->where, name);
			e = K_EINVAL;
		}
	}
	PQclear(r);
	return e;
}

/* Refuses a target holding rows already (K_EEXIST, with the counts). */
static enum kerr import_check_empty(struct pg *s, struct pconn *c, struct buf *errmsg)
{
	struct buf q, held;
	enum kerr e = K_OK;
	buf_init(&q, 256);
	buf_init(&held, 1024);
	for (int i = 0; i < store_ntables && e == K_OK; i++) {
		const struct store_table *t = &store_tables[i];
		int64_t n = 0;
		if (!t->needs_empty)
			continue;
		buf_reset(&q);
		e = buf_addf(&q, "SELECT count(*) FROM %s", t->name);
		if (e == K_OK)
			e = import_int(s, c, buf_str(&q), &n);
		if (e != K_OK)
			import_fault(s, errmsg, "counting the rows already there");
		else if (n > 0)
			buf_addf(&held, "%s%s: %" PRId64 " row%s", held.len ? ", " : "", t->name, n,
			         n == 1 ? "" : "s");
	}
	if (e == K_OK && held.len) {
		buf_addf(errmsg,
		         "%s is not empty (%s): kindling migrate copies into an empty database "
		         "only; nothing was changed",
		         s->where, buf_str(&held));
		e = K_EEXIST;
	}
	buf_free(&held);
	buf_free(&q);
	return e;
}

/* One row of the table being copied: INSERT through the unnamed statement. */
static enum kerr import_row(void *arg, const char *const *vals)
{
	struct import_ctx *x = arg;
	PGresult *r = NULL;
	for (int i = 0; i < x->ncols; i++)
		if (vals[i] && !utf8_valid(vals[i])) {
			buf_addf(x->errmsg,
			         "table %s, row %" PRId64 " (%s %s): column %s is not valid UTF-8, "
			         "which PostgreSQL refuses: nothing was changed",
			         x->t->name, x->rows + 1, x->t->cols[0], vals[0] ? vals[0] : "NULL",
			         x->t->cols[i]);
			return K_EINVAL;
		}
	if (PQsendQueryPrepared(x->c->pg, "", x->ncols, vals, NULL, NULL, 0))
		r = await(x->c->pg, mono_ms() + QUERY_WAIT_MS);
	if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
		char msg[400];
		one_line(msg, sizeof(msg), r ? PQresultErrorMessage(r) : PQerrorMessage(x->c->pg));
		buf_addf(x->errmsg,
		         "%s: table %s, row %" PRId64 " (%s %s): %s: nothing was changed",
		         x->s->where, x->t->name, x->rows + 1, x->t->cols[0],
		         vals[0] ? vals[0] : "NULL", msg);
		bool lost = !r || PQstatus(x->c->pg) != CONNECTION_OK;
		PQclear(r);
		if (lost)
			drop_conn(x->c);
		return lost ? K_EUNAVAIL : K_EIO;
	}
	PQclear(r);
	x->rows++;
	/* discovery indexes: the target's one counter must pass them all */
	int col = !strcmp(x->t->name, "discovery_tokens")    ? 3
	          : !strcmp(x->t->name, "discovery_members") ? 3
	                                                     : -1;
	if (col >= 0 && vals[col]) {
		int64_t v = strtoll(vals[col], NULL, 10);
		x->max_index = v > x->max_index ? v : x->max_index;
	}
	return K_OK;
}

/* Prepares the unnamed INSERT of table t. */
static enum kerr import_prepare(struct import_ctx *x)
{
	struct buf q;
	PGresult *r = NULL;
	enum kerr e = K_OK;
	buf_init(&q, 4096);
	x->ncols = 0;
	for (const char *const *c = x->t->cols; *c && e == K_OK; c++)
		e = buf_addf(&q, "%s%s", x->ncols++ ? ", " : "", *c);
	/* fetches.id is an identity column: the source's ids (their order) stay */
	if (e == K_OK)
		e = buf_addf(&q, ") OVERRIDING SYSTEM VALUE VALUES (");
	for (int i = 1; i <= x->ncols && e == K_OK; i++)
		e = buf_addf(&q, "%s$%d", i > 1 ? ", " : "", i);
	if (e == K_OK)
		e = buf_addf(&q, ")");
	char head[128];
	snprintf(head, sizeof(head), "INSERT INTO %s (", x->t->name);
	struct buf full;
	buf_init(&full, 8192);
	if (e == K_OK)
		e = buf_addf(&full, "%s%s", head, buf_str(&q));
	if (e == K_OK && PQsendPrepare(x->c->pg, "", buf_str(&full), x->ncols, NULL))
		r = await(x->c->pg, mono_ms() + QUERY_WAIT_MS);
	if (e == K_OK && (!r || PQresultStatus(r) != PGRES_COMMAND_OK)) {
		char msg[400];
		one_line(msg, sizeof(msg), r ? PQresultErrorMessage(r) : PQerrorMessage(x->c->pg));
		buf_addf(x->errmsg, "%s: table %s: %s: nothing was changed", x->s->where,
		         x->t->name, msg);
		e = !r || PQstatus(x->c->pg) != CONNECTION_OK ? K_EUNAVAIL : K_EIO;
		if (e == K_EUNAVAIL)
			drop_conn(x->c);
	}
	PQclear(r);
	buf_free(&full);
	buf_free(&q);
	return e;
}

/* After the commit: the target's rows counted again, against what was copied. */
static enum kerr import_verify(struct pg *s, struct pconn *c, const struct store_copy_stats *st,
                               struct buf *errmsg)
{
	struct buf q;
	enum kerr e = K_OK;
	int64_t n = 0, counted = 0;
	buf_init(&q, 256);
	for (int i = 0; i < st->ntables && e == K_OK; i++) {
		buf_reset(&q);
		e = buf_addf(&q, "SELECT count(*) FROM %s", st->names[i]);
		if (e == K_OK)
			e = import_int(s, c, buf_str(&q), &n);
		if (e != K_OK)
			import_fault(s, errmsg, "verifying after the commit");
		else if (n != st->rows[i]) {
			buf_addf(errmsg,
			         "%s: verifying after the commit: table %s holds %" PRId64
			         " rows, %" PRId64 " were copied",
			         s->where, st->names[i], n, st->rows[i]);
			e = K_EIO;
		}
	}
	if (e == K_OK && st->ntables > 0) {
		e = import_int(s, c, "SELECT n FROM cluster_count", &counted);
		if (e != K_OK)
			import_fault(s, errmsg, "verifying after the commit");
		else if (counted != st->rows[0]) {
			buf_addf(errmsg,
			         "%s: verifying after the commit: cluster_count says %" PRId64
			         ", %" PRId64 " clusters were copied",
			         s->where, counted, st->rows[0]);
			e = K_EIO;
		}
	}
	buf_free(&q);
	return e;
}

static enum kerr pg_import(void *b, store_export_fn from, void *src, struct store_copy_stats *out,
                           struct buf *errmsg)
{
	struct pg *s = b;
	struct buf q;
	enum kerr e;
	struct pconn *c = acquire(s, &e);
	struct import_ctx x = {.s = s, .c = c, .errmsg = errmsg};
	str_copy(out->target, sizeof(out->target), s->where);
	buf_init(&q, 1024);
	if (e != K_OK)
		import_fault(s, errmsg, "cannot connect");
	e = begin(s, c, e);
	if (e == K_OK)
		e = cmd(s, c, "SET LOCAL statement_timeout = 0");
	if (e == K_OK && (e = import_check_tables(s, c, errmsg)) != K_OK)
		goto out;
	/* nobody writes meanwhile (a kindling already running on it, another
	 * migrate): the emptiness checked is the emptiness filled */
	for (int i = 0; i < store_ntables && e == K_OK; i++)
		e = buf_addf(&q, "%s%s", i ? ", " : "LOCK TABLE ", store_tables[i].name);
	if (e == K_OK)
		e = buf_addf(&q, ", discovery_index IN EXCLUSIVE MODE");
	if (e == K_OK && (e = cmd(s, c, buf_str(&q))) != K_OK)
		import_fault(s, errmsg, "locking the tables");
	if (e == K_OK)
		e = import_check_empty(s, c, errmsg);
	for (int i = 0; i < store_ntables && e == K_OK; i++) {
		if (store_tables[i].derived)
			continue;
		x.t = &store_tables[i];
		x.rows = 0;
		e = import_prepare(&x);
		if (e == K_OK)
			e = from(src, x.t, import_row, &x, errmsg);
		if (e == K_OK && out->ntables < STORE_COPY_TABLES_MAX) {
			out->names[out->ntables] = x.t->name;
			out->rows[out->ntables++] = x.rows;
		}
	}
	if (e == K_OK && c->pg)
		e = cmd(s, c,
		        "SELECT setval(pg_get_serial_sequence('fetches', 'id'), "
		        "coalesce((SELECT max(id) FROM fetches), 0) + 1, false)");
	if (e == K_OK) {
		struct params p = {0};
		p_int(&p, x.max_index);
		e = run(s, c, NULL, "UPDATE discovery_index SET n = greatest(n, $1::bigint)", &p,
		        NULL);
	}
	if (e == K_OK)
		e = import_int(s, c, "SELECT n FROM discovery_index", &out->discovery_index);
	if (e != K_OK && !buf_str(errmsg)[0])
		import_fault(s, errmsg, "copying");
out:
	e = finish(s, c, e);
	if (e != K_OK && !buf_str(errmsg)[0])
		import_fault(s, errmsg, "COMMIT");
	if (e == K_OK && c && c->pg)
		e = import_verify(s, c, out, errmsg);
	buf_free(&q);
	return release_write(s, c, e);
}

static enum kerr pg_report_put(void *b, const char *cluster_id, const struct store_report *r,
                               int keep)
{
	struct pg *s = b;
	enum kerr e;
	PGresult *res = NULL;
	struct pconn *c = acquire(s, &e);
	e = begin(s, c, e);
	if (e == K_OK) {
		struct params p = {0};
		p_text(&p, cluster_id);
		p_text(&p, r->node);
		p_text(&p, r->boot_id);
		p_int(&p, r->at);
		p_int(&p, r->failed);
		p_text(&p, r->body);
		e = qx(s, c, Q_REPORT_PUT, &p, &res);
		if (e == K_OK && strcmp(PQcmdTuples(res), "0") == 0)
			e = K_ENOTFOUND;
		PQclear(res);
	}
	if (e == K_OK) {
		struct params p = {0};
		p_text(&p, cluster_id);
		p_int(&p, keep);
		e = qx(s, c, Q_REPORT_TRIM, &p, NULL);
	}
	if (e == K_OK) {
		struct store_change ch = {.kind = "node-reported",
		                          .cluster = r->cluster,
		                          .cluster_id = cluster_id,
		                          .member = r->node,
		                          .at = r->at};
		e = notify(s, c, &ch);
	}
	return release_write(s, c, finish(s, c, e));
}

static enum kerr pg_reports_list(void *b, const char *cluster_id,
                                 void (*fn)(const struct store_report *r, void *arg), void *arg)
{
	struct pg *s = b;
	enum kerr e;
	PGresult *r = NULL;
	struct pconn *c = acquire(s, &e);
	if (e == K_OK) {
		struct params p = {0};
		p_text(&p, cluster_id);
		e = qx(s, c, Q_REPORT_LIST, &p, &r);
	}
	for (int i = 0; e == K_OK && i < PQntuples(r); i++) {
		struct store_report rep = {
		        .node = PQgetvalue(r, i, 0),
		        .boot_id = PQgetvalue(r, i, 1),
		        .at = get_int(r, i, 2),
		        .failed = (int)get_int(r, i, 3),
		        .body = PQgetvalue(r, i, 4),
		};
		fn(&rep, arg);
	}
	PQclear(r);
	return release(s, c, e);
}

static enum kerr pg_reports_count(void *b, int64_t *out_nodes, int64_t *out_failed)
{
	struct pg *s = b;
	enum kerr e;
	struct pconn *c = acquire(s, &e);
	PGresult *r = NULL;
	if (e == K_OK)
		e = qx(s, c, Q_REPORT_COUNT, NULL, &r);
	if (e == K_OK && PQntuples(r) == 1) {
		*out_nodes = get_int(r, 0, 0);
		*out_failed = get_int(r, 0, 1);
	} else if (e == K_OK) {
		e = K_EIO;
	}
	PQclear(r);
	return release(s, c, e);
}

/* Waits ms on the wake pipe (and fd when >= 0, for input). Returns 1 when fd
 * is readable, 0 on the timeout, -1 when woken to stop. */
static int lst_wait(struct pg *s, int fd, int ms)
{
	struct pollfd p[2] = {{.fd = s->lst.wake[0], .events = POLLIN},
	                      {.fd = fd, .events = POLLIN}};
	int r = poll(p, fd >= 0 ? 2 : 1, ms);
	if (atomic_load(&s->lst.stop) || (r > 0 && (p[0].revents & POLLIN)))
		return -1;
	return r > 0 && (p[1].revents & (POLLIN | POLLERR | POLLHUP)) ? 1 : 0;
}

static const char *j_str(const json_t *j, const char *key)
{
	const char *v = json_string_value(json_object_get(j, key));
	return v ? v : "";
}

/* Hands one notification to the callback unless it is this process's own. */
static void lst_deliver(struct pg *s, const PGnotify *n)
{
	json_t *j = json_loads(n->extra, 0, NULL);
	const char *kind = j_str(j, "k");
	if (j && kind[0] && strcmp(j_str(j, "r"), s->replica) != 0) {
		struct store_change ch = {
		        .kind = kind,
		        .cluster = j_str(j, "n"),
		        .cluster_id = j_str(j, "i"),
		        .token = j_str(j, "t"),
		        .member = j_str(j, "m"),
		        .index = json_integer_value(json_object_get(j, "x")),
		        .generation = json_integer_value(json_object_get(j, "g")),
		        .at = json_integer_value(json_object_get(j, "a")),
		};
		s->lst.fn(s->lst.arg, &ch);
	}
	json_decref(j);
}

/* Receives on a listening connection until it breaks or stop. */
static void lst_receive(struct pg *s, struct pconn *c)
{
	for (;;) {
		int r = lst_wait(s, PQsocket(c->pg), 1000);
		if (r < 0)
			return;
		if (r > 0 && !PQconsumeInput(c->pg))
			return;
		if (PQstatus(c->pg) != CONNECTION_OK)
			return;
		PGnotify *n;
		while ((n = PQnotifies(c->pg)) != NULL) {
			lst_deliver(s, n);
			PQfreemem(n);
		}
	}
}

static void *lst_main(void *arg)
{
	struct pg *s = arg;
	struct pconn c = {.listener = true};
	int backoff = LISTEN_BACKOFF_MS;
	bool lost = false;
	while (!atomic_load(&s->lst.stop)) {
		enum kerr e = connect_one(s, &c, NULL);
		if (e == K_OK)
			e = cmd(s, &c, "LISTEN " CHANNEL);
		if (e != K_OK) {
			drop_conn(&c);
			if (lst_wait(s, -1, backoff) < 0)
				break;
			backoff = backoff * 2 > LISTEN_BACKOFF_MAX_MS ? LISTEN_BACKOFF_MAX_MS
			                                              : backoff * 2;
			continue;
		}
		backoff = LISTEN_BACKOFF_MS;
		atomic_store(&s->lst.stamp, ++s->lst.connects);
		if (lost) {
			/* listening again: what was missed meanwhile is re-read by
			 * whoever kept a copy */
			log_info("database %s: listening for other replicas' changes again; "
			         "cached copies dropped",
			         s->where);
			struct store_change ch = {.kind = "resync",
			                          .cluster = "",
			                          .cluster_id = "",
			                          .token = "",
			                          .member = ""};
			s->lst.fn(s->lst.arg, &ch);
		}
		lst_receive(s, &c);
		atomic_store(&s->lst.stamp, 0);
		if (atomic_load(&s->lst.stop))
			break;
		char msg[400];
		one_line(msg, sizeof(msg), PQerrorMessage(c.pg));
		log_warnx("database %s: the connection listening for other replicas' changes "
		          "broke (%s): configs and discovery are read from the database, not "
		          "memory, until it is back",
		          s->where, msg);
		lost = true;
		drop_conn(&c);
	}
	drop_conn(&c);
	return NULL;
}

static enum kerr pg_listen(void *b, store_change_fn fn, void *arg)
{
	struct pg *s = b;
	if (s->lst.started)
		return K_EIO;
	if (pipe(s->lst.wake) != 0)
		return K_EIO;
	s->lst.fn = fn;
	s->lst.arg = arg;
	atomic_store(&s->lst.stop, false);
	if (pthread_create(&s->lst.thread, NULL, lst_main, s) != 0) {
		close(s->lst.wake[0]);
		close(s->lst.wake[1]);
		s->lst.wake[0] = s->lst.wake[1] = -1;
		return K_EIO;
	}
	s->lst.started = true;
	/* the first connection up before anything is served from memory: wait
	 * a moment for it (a cache is only used while it is up anyway) */
	for (int i = 0; i < 100 && !atomic_load(&s->lst.stamp); i++) {
		struct timespec ts = {0, 20 * 1000000L};
		nanosleep(&ts, NULL);
	}
	return K_OK;
}

static void pg_unlisten(void *b)
{
	struct pg *s = b;
	if (!s->lst.started)
		return;
	atomic_store(&s->lst.stop, true);
	ssize_t w = write(s->lst.wake[1], "x", 1);
	(void)w; /* the flag is set: the thread sees it within its poll timeout anyway */
	pthread_join(s->lst.thread, NULL);
	s->lst.started = false;
	atomic_store(&s->lst.stamp, 0);
	close(s->lst.wake[0]);
	close(s->lst.wake[1]);
	s->lst.wake[0] = s->lst.wake[1] = -1;
}

static uint64_t pg_feed_stamp(void *b)
{
	struct pg *s = b;
	return atomic_load(&s->lst.stamp);
}

/* Reads what is recorded about member id of cluster cid ("" each when nothing). */
static enum kerr state_get(struct pg *s, struct pconn *c, const char *cid, const char *id,
                           char replaces[33], char removed_by[33])
{
	struct params p = {0};
	PGresult *r = NULL;
	replaces[0] = removed_by[0] = '\0';
	p_text(&p, cid);
	p_text(&p, id);
	enum kerr e = qx(s, c, Q_STATE_GET, &p, &r);
	if (e == K_OK && PQntuples(r) == 1) {
		get_copy(r, 0, 0, replaces, 33);
		get_copy(r, 0, 1, removed_by, 33);
	}
	PQclear(r);
	return e;
}

/* Writes one cluster_members row (Q_STATE_JOIN or Q_STATE_REMOVE). */
static enum kerr state_put(struct pg *s, struct pconn *c, enum q q, const char *cid, const char *id,
                           const char *other, int64_t at)
{
	struct params p = {0};
	p_text(&p, cid);
	p_text(&p, id);
	p_text(&p, other);
	p_int(&p, at);
	return qx(s, c, q, &p, NULL);
}

/* The checks and writes of a replacement report, inside the transaction. */
static enum kerr replace_on(struct pg *s, struct pconn *c, struct store_replace *r)
{
	struct params p = {0};
	PGresult *res = NULL;
	p_text(&p, r->token);
	enum kerr e = qx(s, c, Q_REPL_CLUSTER, &p, &res);
	if (e == K_OK && PQntuples(res) == 1) {
		get_copy(res, 0, 0, r->cluster_id, sizeof(r->cluster_id));
		get_copy(res, 0, 1, r->cluster, sizeof(r->cluster));
	} else if (e == K_OK) {
		e = K_ENOTFOUND;
	}
	PQclear(res);
	if (e == K_ENOTFOUND)
		r->why = REPL_NO_CLUSTER;
	if (e != K_OK)
		return e;
	int64_t m = int_query(s, c, Q_MEMBER_EXISTS, r->token, r->member, &e);
	if (m == -2)
		return e;
	int64_t x = int_query(s, c, Q_MEMBER_EXISTS, r->token, r->replaces, &e);
	if (x == -2)
		return e;
	if (m != 1 || x != 1) {
		r->why = m != 1 ? REPL_NO_MEMBER : REPL_NO_REPLACES;
		return K_ENOTFOUND;
	}
	char m_replaces[33], m_removed_by[33], x_replaces[33], x_removed_by[33];
	e = state_get(s, c, r->cluster_id, r->member, m_replaces, m_removed_by);
	if (e == K_OK)
		e = state_get(s, c, r->cluster_id, r->replaces, x_replaces, x_removed_by);
	if (e == K_OK)
		e = store_replace_decide(r, m_replaces, m_removed_by, x_removed_by);
	if (e == K_OK && r->changed)
		e = state_put(s, c, Q_STATE_JOIN, r->cluster_id, r->member, r->replaces, r->at);
	if (e == K_OK && r->changed)
		e = state_put(s, c, Q_STATE_REMOVE, r->cluster_id, r->replaces, r->member, r->at);
	return e;
}

static enum kerr pg_member_replace(void *b, struct store_replace *r)
{
	struct pg *s = b;
	enum kerr e;
	r->cluster_id[0] = r->cluster[0] = r->other[0] = '\0';
	r->changed = false;
	r->why = REPL_OK;
	struct pconn *c = acquire(s, &e);
	e = begin(s, c, e);
	if (e == K_OK)
		e = replace_on(s, c, r);
	if (e == K_OK && r->changed) {
		struct store_change ch = {.kind = "member-replaced",
		                          .cluster = r->cluster,
		                          .cluster_id = r->cluster_id,
		                          .token = r->token,
		                          .member = r->member,
		                          .at = r->at};
		e = notify(s, c, &ch);
	}
	e = finish(s, c, e);
	return e == K_ENOTFOUND || e == K_EEXIST ? release(s, c, e) : release_write(s, c, e);
}

static enum kerr pg_member_states(void *b, const char *cluster_id,
                                  void (*fn)(const struct store_member_state *m, void *arg),
                                  void *arg)
{
	struct pg *s = b;
	enum kerr e;
	PGresult *r = NULL;
	struct pconn *c = acquire(s, &e);
	if (e == K_OK) {
		struct params p = {0};
		p_text(&p, cluster_id);
		e = qx(s, c, Q_STATES, &p, &r);
	}
	for (int i = 0; e == K_OK && i < PQntuples(r); i++) {
		struct store_member_state m;
		get_copy(r, i, 0, m.member_id, sizeof(m.member_id));
		get_copy(r, i, 1, m.replaces, sizeof(m.replaces));
		m.replaced_at = get_int(r, i, 2);
		get_copy(r, i, 3, m.removed_by, sizeof(m.removed_by));
		m.removed_at = get_int(r, i, 4);
		fn(&m, arg);
	}
	PQclear(r);
	return release(s, c, e);
}

/* Reads row i of a generation query (generation, created_at, fetches, change, inputs). */
static enum kerr read_generation(const PGresult *r, int i, struct store_generation *g)
{
	g->generation = get_int(r, i, 0);
	g->created_at = get_int(r, i, 1);
	g->fetches = get_int(r, i, 2);
	g->change = get_json(r, i, 3);
	g->inputs = get_json(r, i, 4);
	if (!g->change || !g->inputs) {
		store_generation_clear(g);
		return K_EIO;
	}
	return K_OK;
}

static enum kerr pg_generations_list(void *b, const char *cluster_id,
                                     void (*fn)(const struct store_generation *g, void *arg),
                                     void *arg)
{
	struct pg *s = b;
	enum kerr e;
	PGresult *r = NULL;
	struct pconn *c = acquire(s, &e);
	if (e == K_OK) {
		struct params p = {0};
		p_text(&p, cluster_id);
		e = qx(s, c, Q_GEN_LIST, &p, &r);
	}
	for (int i = 0; e == K_OK && i < PQntuples(r); i++) {
		struct store_generation g = {0};
		e = read_generation(r, i, &g);
		if (e == K_OK)
			fn(&g, arg);
		store_generation_clear(&g);
	}
	PQclear(r);
	return release(s, c, e);
}

static enum kerr pg_generation_get(void *b, const char *cluster_id, int64_t generation,
                                   struct store_generation *out)
{
	struct pg *s = b;
	enum kerr e;
	PGresult *r = NULL;
	memset(out, 0, sizeof(*out));
	struct pconn *c = acquire(s, &e);
	if (e == K_OK) {
		struct params p = {0};
		p_text(&p, cluster_id);
		p_int(&p, generation);
		e = qx(s, c, Q_GEN_GET, &p, &r);
	}
	if (e == K_OK)
		e = PQntuples(r) == 1 ? read_generation(r, 0, out) : K_ENOTFOUND;
	PQclear(r);
	return release(s, c, e);
}

static enum kerr pg_clusters_unsnapshotted(void *b, void (*fn)(const char *name, void *arg),
                                           void *arg)
{
	struct pg *s = b;
	enum kerr e;
	PGresult *r = NULL;
	struct pconn *c = acquire(s, &e);
	if (e == K_OK)
		e = qx(s, c, Q_UNSNAPSHOTTED, NULL, &r);
	for (int i = 0; e == K_OK && i < PQntuples(r); i++)
		fn(PQgetvalue(r, i, 0), arg);
	PQclear(r);
	return release(s, c, e);
}

static enum kerr pg_profile_versions_put(void *b, const struct store_profile_version *v, size_t n)
{
	struct pg *s = b;
	enum kerr e;
	struct pconn *c = acquire(s, &e);
	e = begin(s, c, e);
	for (size_t i = 0; i < n && e == K_OK; i++) {
		char *files = NULL;
		e = dump_json(v[i].files, &files);
		if (e == K_OK) {
			struct params p = {0};
			p_text(&p, v[i].digest);
			p_text(&p, v[i].name);
			p_text(&p, files);
			p_int(&p, store_now_ms());
			e = qx(s, c, Q_PV_PUT, &p, NULL);
		}
		free(files);
	}
	return release_write(s, c, finish(s, c, e));
}

static enum kerr pg_profile_version_get(void *b, const char *digest, char out_name[64],
                                        json_t **out_files)
{
	struct pg *s = b;
	enum kerr e;
	PGresult *r = NULL;
	struct pconn *c = acquire(s, &e);
	if (e == K_OK) {
		struct params p = {0};
		p_text(&p, digest);
		e = qx(s, c, Q_PV_GET, &p, &r);
	}
	if (e == K_OK && PQntuples(r) != 1)
		e = K_ENOTFOUND;
	if (e == K_OK) {
		get_copy(r, 0, 0, out_name, 64);
		*out_files = get_json(r, 0, 1);
		e = *out_files ? K_OK : K_EIO;
	}
	PQclear(r);
	return release(s, c, e);
}

const struct store_backend store_backend_postgres = {
        .name = "postgres",
        .open = pg_open,
        .close = pg_close,
        .health = pg_health,
        .last_fault = pg_last_fault,
        .clusters_create = pg_clusters_create,
        .cluster_get = pg_cluster_get,
        .cluster_list = pg_cluster_list,
        .cluster_update = pg_cluster_update,
        .cluster_rotate_token = pg_cluster_rotate_token,
        .cluster_delete = pg_cluster_delete,
        .fetches_record = pg_fetches_record,
        .fetches_list = pg_fetches_list,
        .dir_create = pg_dir_create,
        .dir_get = pg_dir_get,
        .put_members = pg_put_members,
        .cluster_count = pg_cluster_count,
        .import = pg_import,
        .report_put = pg_report_put,
        .reports_list = pg_reports_list,
        .reports_count = pg_reports_count,
        .listen = pg_listen,
        .unlisten = pg_unlisten,
        .feed_stamp = pg_feed_stamp,
        .member_replace = pg_member_replace,
        .member_states = pg_member_states,
        .generations_list = pg_generations_list,
        .generation_get = pg_generation_get,
        .clusters_unsnapshotted = pg_clusters_unsnapshotted,
        .profile_versions_put = pg_profile_versions_put,
        .profile_version_get = pg_profile_version_get,
};
