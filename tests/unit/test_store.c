/* test_store.c - the store interface (store.h) on both backends: SQLite (a
 * temporary file) and PostgreSQL (a fresh database per run on the server
 * KINDLING_TEST_PG_URL names: tests/run.sh starts one with tests/pg.sh;
 * without it the PostgreSQL tests SKIP, or FAIL under CI=true).
 * timeout: 300 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "test.h"

static struct store *st;       /* the store under test */
static const char *backend;    /* "sqlite" or "pg" */
static char target[1024];      /* its --db */
static char pg_admin[1024];    /* KINDLING_TEST_PG_URL */
static int serial;             /* makes ids and names unique */
static char sqlite_file[1024]; /* the SQLite suite's database: t_copy's source */

/* A cluster to create; clear it with cluster_clear. */
static void mk(struct cluster *c, const char *name, bool with_dir)
{
	memset(c, 0, sizeof(*c));
	serial++;
	snprintf(c->id, sizeof(c->id), "00000000-0000-4000-8000-%012d", serial);
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->size = 3;
	c->profiles = json_pack("[s]", "etcd");
	c->vars = json_pack("{s:s}", "k", "v");
	c->secrets = json_pack("{s:s}", "cookie", "s3cret");
	snprintf(c->ignition_version, sizeof(c->ignition_version), "3.3.0");
	snprintf(c->discovery_mode, sizeof(c->discovery_mode), "builtin");
	c->discovery_url = strdup("http://127.0.0.1/discovery/x");
	if (with_dir)
		snprintf(c->discovery_token, sizeof(c->discovery_token), "%032x", serial);
	snprintf(c->fetch_token, sizeof(c->fetch_token), "fetch-%d", serial);
	c->created_at = c->updated_at = 1700000000000LL + serial;
}

/* Creates one cluster; its result. */
static enum kerr create1(const char *name, bool with_dir, int max, struct cluster *out)
{
	struct cluster c;
	mk(&c, name, with_dir);
	const struct cluster *cls[] = {&c};
	enum kerr r = K_EIO;
	store_clusters_create(st, cls, 1, max, &r);
	if (out)
		*out = c;
	else
		cluster_clear(&c);
	return r;
}

/* Runs sh; its exit status. */
static int sh(const char *cmd)
{
	int rc = system(cmd);
	return rc == -1 ? -1 : WEXITSTATUS(rc);
}

/* SQL on the admin connection of the PostgreSQL server (psql). */
static int psql(const char *url, const char *q)
{
	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "psql '%s' -Atq -v ON_ERROR_STOP=1 -c \"%s\" >/dev/null", url,
	         q);
	return sh(cmd);
}

/* A fresh PostgreSQL database: its URL in out. */
static int pg_newdb(const char *tag, char *out, size_t n)
{
	char q[256], name[128];
	snprintf(name, sizeof(name), "ts_%d_%s", (int)getpid(), tag);
	snprintf(q, sizeof(q), "CREATE DATABASE %s", name);
	if (psql(pg_admin, q) != 0)
		return -1;
	const char *slash = strrchr(pg_admin, '/');
	snprintf(out, n, "%.*s/%s", (int)(slash - pg_admin), pg_admin, name);
	return 0;
}

static void t_create_get_list_count(void)
{
	struct cluster a, b, c;
	mk(&a, "bravo", true);
	mk(&b, "alpha", true);
	mk(&c, "charlie-1", false);
	const struct cluster *cls[] = {&a, &b, &c};
	enum kerr r[3];
	store_clusters_create(st, cls, 3, 1000, r);
	CHECK_INT(r[0], K_OK);
	CHECK_INT(r[1], K_OK);
	CHECK_INT(r[2], K_OK);
	struct cluster g;
	CHECK_INT(store_cluster_get(st, "bravo", &g), K_OK);
	CHECK_STR(g.id, a.id);
	CHECK_INT(g.size, 3);
	CHECK_INT(g.generation, 1);
	CHECK_STR(g.discovery_token, a.discovery_token);
	CHECK_STR(g.fetch_token, a.fetch_token);
	CHECK_STR(json_string_value(json_object_get(g.vars, "k")), "v");
	CHECK_STR(json_string_value(json_object_get(g.secrets, "cookie")), "s3cret");
	CHECK_STR(json_string_value(json_array_get(g.profiles, 0)), "etcd");
	CHECK_INT(g.created_at, a.created_at);
	CHECK_INT(g.nprev, 0);
	CHECK_INT(g.members, 0);
	cluster_clear(&g);
	CHECK_INT(store_cluster_get(st, "nope", &g), K_ENOTFOUND);
	int64_t n = -1;
	CHECK_INT(store_cluster_count(st, &n), K_OK);
	CHECK_INT(n, 3);
	cluster_clear(&a);
	cluster_clear(&b);
	cluster_clear(&c);
}

struct names {
	char s[512];
};
static void add_name(const struct cluster *c, void *arg)
{
	struct names *n = arg;
	size_t len = strlen(n->s);
	snprintf(n->s + len, sizeof(n->s) - len, "%s%s", len ? "," : "", c->name);
}

static void t_list(void)
{
	struct names n = {""};
	bool more = true;
	int64_t total = 0;
	struct store_list_query q = {.sort = SORT_NAME, .limit = 2};
	CHECK_INT(store_cluster_list(st, &q, add_name, &n, &more, &total), K_OK);
	CHECK_STR(n.s, "alpha,bravo");
	CHECK(more);
	CHECK_INT(total, 3);
	n.s[0] = '\0';
	q = (struct store_list_query){
	        .sort = SORT_NAME, .has_cursor = true, .cursor_name = "bravo", .limit = 2};
	CHECK_INT(store_cluster_list(st, &q, add_name, &n, &more, &total), K_OK);
	CHECK_STR(n.s, "charlie-1");
	CHECK(!more);
	n.s[0] = '\0';
	q = (struct store_list_query){.sort = SORT_NAME_DESC, .limit = 10};
	CHECK_INT(store_cluster_list(st, &q, add_name, &n, &more, &total), K_OK);
	CHECK_STR(n.s, "charlie-1,bravo,alpha");
	n.s[0] = '\0';
	q = (struct store_list_query){.sort = SORT_CREATED, .limit = 10};
	CHECK_INT(store_cluster_list(st, &q, add_name, &n, &more, &total), K_OK);
	CHECK_STR(n.s, "bravo,alpha,charlie-1");
	n.s[0] = '\0';
	q = (struct store_list_query){.sort = SORT_CREATED_DESC, .limit = 1};
	CHECK_INT(store_cluster_list(st, &q, add_name, &n, &more, &total), K_OK);
	CHECK_STR(n.s, "charlie-1");
	CHECK(more);
	n.s[0] = '\0';
	q = (struct store_list_query){.q = "a", .sort = SORT_NAME, .limit = 10};
	CHECK_INT(store_cluster_list(st, &q, add_name, &n, &more, &total), K_OK);
	CHECK_STR(n.s, "alpha,bravo,charlie-1");
	CHECK_INT(total, 3);
	n.s[0] = '\0';
	q = (struct store_list_query){.q = "-", .sort = SORT_NAME, .limit = 10};
	CHECK_INT(store_cluster_list(st, &q, add_name, &n, &more, &total), K_OK);
	CHECK_STR(n.s, "charlie-1");
	CHECK_INT(total, 1);
}

static void t_duplicates(void)
{
	struct cluster a, b, c;
	mk(&a, "alpha", false); /* exists already */
	mk(&b, "dup", false);
	mk(&c, "dup", false); /* taken by the one before it */
	const struct cluster *cls[] = {&a, &b, &c};
	enum kerr r[3];
	store_clusters_create(st, cls, 3, 1000, r);
	CHECK_INT(r[0], K_EEXIST);
	CHECK_INT(r[1], K_OK);
	CHECK_INT(r[2], K_EEXIST);
	struct cluster g;
	CHECK_INT(store_cluster_get(st, "dup", &g), K_OK);
	CHECK_STR(g.id, b.id);
	cluster_clear(&g);
	int64_t n = -1;
	CHECK_INT(store_cluster_count(st, &n), K_OK);
	CHECK_INT(n, 4);
	cluster_clear(&a);
	cluster_clear(&b);
	cluster_clear(&c);
}

static void t_max_clusters(void)
{
	int64_t n = -1;
	CHECK_INT(store_cluster_count(st, &n), K_OK);
	CHECK_INT(create1("max-1", false, (int)n + 1, NULL), K_OK);
	CHECK_INT(create1("max-2", false, (int)n + 1, NULL), K_ELIMIT);
	CHECK_INT(store_cluster_get(st, "max-2", &(struct cluster){0}), K_ENOTFOUND);
	CHECK_INT(store_cluster_count(st, &n), K_OK);
	CHECK_INT(n, 5);
}

static enum kerr set_var(void *arg, struct cluster *c)
{
	json_object_set_new(c->vars, "k", json_string(arg));
	return K_OK;
}
static enum kerr refuse(void *arg, struct cluster *c)
{
	(void)arg;
	(void)c;
	return K_EINVAL;
}

static void t_update(void)
{
	struct cluster out;
	CHECK_INT(store_cluster_update(st, "alpha", set_var, "w", &out), K_OK);
	CHECK_INT(out.generation, 2);
	CHECK_STR(json_string_value(json_object_get(out.vars, "k")), "w");
	cluster_clear(&out);
	CHECK_INT(store_cluster_update(st, "alpha", refuse, NULL, &out), K_EINVAL);
	CHECK_INT(store_cluster_update(st, "nope", set_var, "w", &out), K_ENOTFOUND);
	struct cluster g;
	CHECK_INT(store_cluster_get(st, "alpha", &g), K_OK);
	CHECK_INT(g.generation, 2);
	CHECK_STR(json_string_value(json_object_get(g.vars, "k")), "w");
	cluster_clear(&g);
}

static void t_tokens(void)
{
	struct cluster out, g;
	CHECK_INT(store_cluster_get(st, "bravo", &g), K_OK);
	char first[65];
	snprintf(first, sizeof(first), "%s", g.fetch_token);
	cluster_clear(&g);
	int64_t now = store_now_ms();
	CHECK_INT(store_cluster_rotate_token(st, "bravo", "tok-2", now + 60000, &out), K_OK);
	CHECK_STR(out.fetch_token, "tok-2");
	CHECK_INT(out.nprev, 1);
	CHECK_STR(out.prev[0].token, first);
	CHECK_INT(out.prev[0].until, now + 60000);
	CHECK_INT(cluster_grace_tokens(&out, now, NULL), 1);
	cluster_clear(&out);
	/* a rotation whose grace is over already: the token past it goes at the next one */
	CHECK_INT(store_cluster_rotate_token(st, "bravo", "tok-3", now - 1, &out), K_OK);
	CHECK_INT(out.nprev, 2);
	CHECK_INT(cluster_grace_tokens(&out, now, NULL), 1);
	cluster_clear(&out);
	CHECK_INT(store_cluster_rotate_token(st, "bravo", "tok-4", now + 60000, &out), K_OK);
	CHECK_INT(out.nprev, 2); /* tok-2 (expired) dropped, tok-3 added */
	cluster_clear(&out);
	CHECK_INT(store_cluster_get(st, "bravo", &g), K_OK);
	CHECK_STR(g.fetch_token, "tok-4");
	bool has1 = false, has3 = false;
	for (int i = 0; i < g.nprev; i++) {
		has1 |= !strcmp(g.prev[i].token, first);
		has3 |= !strcmp(g.prev[i].token, "tok-3");
	}
	CHECK(has1 && has3);
	cluster_clear(&g);
	/* at most STORE_PREV_TOKENS in their grace */
	enum kerr e = K_OK;
	int i;
	for (i = 0; i < STORE_PREV_TOKENS + 2 && e == K_OK; i++) {
		char t[32];
		snprintf(t, sizeof(t), "many-%d", i);
		e = store_cluster_rotate_token(st, "bravo", t, now + 60000, &out);
		cluster_clear(&out);
	}
	CHECK_INT(e, K_ELIMIT);
	CHECK_INT(i, STORE_PREV_TOKENS - 1);
	CHECK_INT(store_cluster_rotate_token(st, "nope", "x", now, &out), K_ENOTFOUND);
}

static void t_discovery(void)
{
	struct store_dir d;
	CHECK_INT(store_dir_create(st, "feedfeedfeedfeedfeedfeedfeedfeed", 3), K_OK);
	CHECK_INT(store_dir_create(st, "feedfeedfeedfeedfeedfeedfeedfeed", 3), K_EEXIST);
	CHECK_INT(store_dir_get(st, "feedfeedfeedfeedfeedfeedfeedfeed", &d), K_OK);
	CHECK_INT(d.size, 3);
	CHECK_INT(d.n, 0);
	CHECK_STR(d.cluster_id, "");
	int64_t start = d.last_index;
	store_dir_clear(&d);
	CHECK_INT(store_dir_get(st, "0123", &d), K_ENOTFOUND);
	struct cluster g;
	CHECK_INT(store_cluster_get(st, "alpha", &g), K_OK);
	const char *tok = "feedfeedfeedfeedfeedfeedfeedfeed";
	struct store_put p[5] = {
	        {.token = tok,
	         .id = "a1",
	         .value = "m1=http://10.0.0.1:2380",
	         .max_members = 2,
	         .at = 5},
	        {.token = tok,
	         .id = "a2",
	         .value = "m2=http://10.0.0.2:2380",
	         .max_members = 2,
	         .at = 6},
	        {.token = tok, .id = "a1", .value = "again", .max_members = 2, .at = 7},
	        {.token = tok, .id = "a3", .value = "m3", .max_members = 2, .at = 8},
	        {.token = "00000000000000000000000000000000",
	         .id = "a1",
	         .value = "x",
	         .max_members = 2},
	};
	CHECK_INT(store_put_members(st, p, 5), K_OK);
	CHECK_INT(p[0].result, K_OK);
	CHECK_INT(p[1].result, K_OK);
	CHECK_INT(p[2].result, K_EEXIST);
	CHECK_INT(p[3].result, K_ELIMIT);
	CHECK_INT(p[4].result, K_ENOTFOUND);
	CHECK(p[0].index > start);
	CHECK(p[1].index > p[0].index);
	CHECK_INT(p[2].index, p[1].index);
	/* a cluster's directory, in another batch: its indexes go on increasing */
	struct store_put q = {
	        .token = g.discovery_token, .id = "b1", .value = "n1", .max_members = 9};
	CHECK_INT(store_put_members(st, &q, 1), K_OK);
	CHECK_INT(q.result, K_OK);
	CHECK(q.index > 1);
	CHECK_INT(store_dir_get(st, tok, &d), K_OK);
	CHECK_INT(d.n, 2);
	if (d.n == 2) {
		CHECK_STR(d.members[0].id, "a1");
		CHECK_STR(d.members[0].value, "m1=http://10.0.0.1:2380");
		CHECK_INT(d.members[0].created_index, p[0].index);
		CHECK_INT(d.members[0].created_at, 5);
		CHECK_STR(d.members[1].id, "a2");
	}
	CHECK_INT(d.last_index, p[1].index);
	store_dir_clear(&d);
	CHECK_INT(store_dir_get(st, g.discovery_token, &d), K_OK);
	CHECK_STR(d.cluster_id, g.id);
	CHECK_INT(d.last_index, q.index);
	store_dir_clear(&d);
	cluster_clear(&g);
	CHECK_INT(store_cluster_get(st, "alpha", &g), K_OK);
	CHECK_INT(g.members, 1);
	cluster_clear(&g);
}

struct fetches {
	int n;
	int64_t at[16];
	int status[16];
};
static void add_fetch(const struct store_fetch *f, void *arg)
{
	struct fetches *x = arg;
	if (x->n < 16) {
		x->at[x->n] = f->at;
		x->status[x->n++] = f->status;
	}
}

static void t_fetch_log(void)
{
	struct cluster g;
	CHECK_INT(store_cluster_get(st, "charlie-1", &g), K_OK);
	struct store_fetch rows[4];
	for (int i = 0; i < 4; i++)
		rows[i] = (struct store_fetch){.cluster_id = g.id,
		                               .at = 100 + i,
		                               .client = "10.0.0.9",
		                               .user_agent = "Ignition/2.14.0",
		                               .version = "3.3.0",
		                               .status = i == 1 ? 403 : 200};
	struct store_fetch_group grp[2] = {
	        {.cluster_id = g.id, .rows = rows, .nrows = 4, .ok = 3, .last_ok = 103},
	        {.cluster_id = "deleted-meanwhile",
	         .rows = rows,
	         .nrows = 1,
	         .ok = 1,
	         .last_ok = 1},
	};
	CHECK_INT(store_fetches_record(st, grp, 2, 3), K_OK);
	struct fetches x = {0};
	CHECK_INT(store_fetches_list(st, g.id, 10, add_fetch, &x), K_OK);
	CHECK_INT(x.n, 3); /* trimmed to the newest 3 */
	CHECK_INT(x.at[0], 103);
	CHECK_INT(x.at[2], 101);
	CHECK_INT(x.status[2], 403);
	struct cluster h;
	CHECK_INT(store_cluster_get(st, "charlie-1", &h), K_OK);
	CHECK_INT(h.fetch_count, 3);
	CHECK_INT(h.last_fetch_at, 103);
	cluster_clear(&h);
	/* counts only, no rows */
	struct store_fetch_group more = {.cluster_id = g.id, .ok = 2, .last_ok = 200};
	CHECK_INT(store_fetches_record(st, &more, 1, 3), K_OK);
	CHECK_INT(store_cluster_get(st, "charlie-1", &h), K_OK);
	CHECK_INT(h.fetch_count, 5);
	CHECK_INT(h.last_fetch_at, 200);
	cluster_clear(&h);
	cluster_clear(&g);
}

static void t_delete(void)
{
	struct cluster g;
	CHECK_INT(store_cluster_get(st, "alpha", &g), K_OK);
	char tok[33] = "x";
	CHECK_INT(store_cluster_delete(st, "alpha", tok), K_OK);
	CHECK_STR(tok, g.discovery_token);
	CHECK_INT(store_cluster_get(st, "alpha", &(struct cluster){0}), K_ENOTFOUND);
	struct store_dir d;
	CHECK_INT(store_dir_get(st, g.discovery_token, &d), K_ENOTFOUND);
	CHECK_INT(store_cluster_delete(st, "alpha", tok), K_ENOTFOUND);
	CHECK_INT(store_cluster_delete(st, "charlie-1", tok), K_OK);
	CHECK_STR(tok, "");
	int64_t n = -1;
	CHECK_INT(store_cluster_count(st, &n), K_OK);
	CHECK_INT(n, 3);
	/* the name is free again */
	CHECK_INT(create1("alpha", true, 1000, NULL), K_OK);
	cluster_clear(&g);
}

/* node boot reports: newest per node, bounded per cluster, gone with the cluster */
struct reports_seen {
	int n;
	char nodes[8][64];
	char bodies[8][128];
	int failed[8];
};

static void report_seen(const struct store_report *r, void *arg)
{
	struct reports_seen *rs = arg;
	if (rs->n < 8) {
		snprintf(rs->nodes[rs->n], sizeof(rs->nodes[0]), "%s", r->node);
		snprintf(rs->bodies[rs->n], sizeof(rs->bodies[0]), "%s", r->body);
		rs->failed[rs->n] = r->failed;
	}
	rs->n++;
}

static void t_reports(void)
{
	struct cluster c;
	CHECK_INT(create1("reports-1", false, 1000, &c), K_OK);
	int64_t nodes0 = -1, failed0 = -1, nodes = -1, failed = -1;
	CHECK_INT(store_reports_count(st, &nodes0, &failed0), K_OK);
	struct store_report r = {"node-a", "boot-1", 1000, 0, "{\"v\":1}", "c"};
	CHECK_INT(store_report_put(st, c.id, &r, 2), K_OK);
	r = (struct store_report){"node-b", "boot-2", 2000, 2, "{\"v\":2}", "c"};
	CHECK_INT(store_report_put(st, c.id, &r, 2), K_OK);
	/* node-a again: replaces its own, newest first */
	r = (struct store_report){"node-a", "boot-3", 3000, 1, "{\"v\":3}", "c"};
	CHECK_INT(store_report_put(st, c.id, &r, 2), K_OK);
	struct reports_seen rs = {0};
	CHECK_INT(store_reports_list(st, c.id, report_seen, &rs), K_OK);
	CHECK_INT(rs.n, 2);
	CHECK_STR(rs.nodes[0], "node-a");
	CHECK_STR(rs.bodies[0], "{\"v\":3}");
	CHECK_INT(rs.failed[0], 1);
	CHECK_STR(rs.nodes[1], "node-b");
	CHECK_INT(store_reports_count(st, &nodes, &failed), K_OK);
	CHECK_INT(nodes, nodes0 + 2);
	CHECK_INT(failed, failed0 + 2);
	/* a third node: the oldest (node-b) goes, keep = 2 */
	r = (struct store_report){"node-c", "boot-4", 4000, 0, "{}", "c"};
	CHECK_INT(store_report_put(st, c.id, &r, 2), K_OK);
	rs = (struct reports_seen){0};
	CHECK_INT(store_reports_list(st, c.id, report_seen, &rs), K_OK);
	CHECK_INT(rs.n, 2);
	CHECK_STR(rs.nodes[0], "node-c");
	CHECK_STR(rs.nodes[1], "node-a");
	/* no such cluster: nothing stored */
	CHECK_INT(store_report_put(st, "00000000-0000-4000-8000-999999999999", &r, 2), K_ENOTFOUND);
	/* deleting the cluster deletes its reports */
	char tok[33];
	CHECK_INT(store_cluster_delete(st, "reports-1", tok), K_OK);
	CHECK_INT(store_reports_count(st, &nodes, &failed), K_OK);
	CHECK_INT(nodes, nodes0);
	CHECK_INT(failed, failed0);
	rs = (struct reports_seen){0};
	CHECK_INT(store_reports_list(st, c.id, report_seen, &rs), K_OK);
	CHECK_INT(rs.n, 0);
	cluster_clear(&c);
}

/* keys from URLs need not be UTF-8: they name nothing, and spoil no batch */
static void t_bad_utf8(void)
{
	struct cluster g;
	struct store_dir d;
	CHECK_INT(store_cluster_get(st, "\xff\xfe", &g), K_ENOTFOUND);
	CHECK_INT(store_cluster_update(st, "a\xc3", set_var, "w", &g), K_ENOTFOUND);
	CHECK_INT(store_dir_get(st, "\xed\xa0\x80", &d), K_ENOTFOUND);
	char tok[33];
	CHECK_INT(store_cluster_delete(st, "\xff", tok), K_ENOTFOUND);
	struct store_put p[2] = {
	        {.token = "\xff\xfe", .id = "c1", .value = "v", .max_members = 9},
	        {.token = "feedfeedfeedfeedfeedfeedfeedfeed",
	         .id = "c2",
	         .value = "v",
	         .max_members = 9},
	};
	CHECK_INT(store_put_members(st, p, 2), K_OK);
	CHECK_INT(p[0].result, K_ENOTFOUND);
	CHECK_INT(p[1].result, K_OK);
}

/* What store_member_states gave, by member id. */
struct states {
	int n;
	struct store_member_state m[8];
};

static void add_state(const struct store_member_state *m, void *arg)
{
	struct states *x = arg;
	if (x->n < 8)
		x->m[x->n++] = *m;
}

static const struct store_member_state *state_of(const struct states *x, const char *id)
{
	for (int i = 0; i < x->n; i++)
		if (!strcmp(x->m[i].member_id, id))
			return &x->m[i];
	return NULL;
}

/* replacement reports: recorded once, refused when they would not be true */
static void t_member_states(void)
{
	struct cluster g, o;
	CHECK_INT(create1("echo", true, 1000, &g), K_OK);
	CHECK_INT(create1("foxtrot", true, 1000, &o), K_OK);
	struct store_put p[] = {
	        {.token = g.discovery_token, .id = "a1", .value = "n1=http://10.0.0.1:2380"},
	        {.token = g.discovery_token, .id = "a2", .value = "n2=http://10.0.0.2:2380"},
	        {.token = g.discovery_token, .id = "a3", .value = "n3=http://10.0.0.3:2380"},
	        {.token = g.discovery_token, .id = "a4", .value = "n4=http://10.0.0.4:2380"},
	        {.token = g.discovery_token, .id = "a5", .value = "n5=http://10.0.0.5:2380"},
	        {.token = o.discovery_token, .id = "b1", .value = "m1=http://10.0.1.1:2380"},
	};
	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++)
		p[i].max_members = 9;
	CHECK_INT(store_put_members(st, p, sizeof(p) / sizeof(p[0])), K_OK);
	struct store_replace r = {
	        .token = g.discovery_token, .member = "a4", .replaces = "a2", .at = 5000};
	CHECK_INT(store_member_replace(st, &r), K_OK);
	CHECK(r.changed);
	CHECK_STR(r.cluster, "echo");
	CHECK_STR(r.cluster_id, g.id);
	/* the same report again: nothing changes */
	r.at = 6000;
	CHECK_INT(store_member_replace(st, &r), K_OK);
	CHECK(!r.changed);
	struct states x = {0};
	CHECK_INT(store_member_states(st, g.id, add_state, &x), K_OK);
	CHECK_INT(x.n, 2);
	const struct store_member_state *m4 = state_of(&x, "a4"), *m2 = state_of(&x, "a2");
	CHECK(m4 && m2);
	if (m4 && m2) {
		CHECK_STR(m4->replaces, "a2");
		CHECK_STR(m4->removed_by, "");
		CHECK_INT(m4->replaced_at, 5000);
		CHECK_STR(m2->removed_by, "a4");
		CHECK_STR(m2->replaces, "");
		CHECK_INT(m2->removed_at, 5000);
	}
	/* a2 was replaced already; a4 replaced a2 already; a2 is removed */
	struct store_replace bad[] = {
	        {.token = g.discovery_token, .member = "a5", .replaces = "a2"},
	        {.token = g.discovery_token, .member = "a4", .replaces = "a3"},
	        {.token = g.discovery_token, .member = "a2", .replaces = "a3"},
	        {.token = g.discovery_token, .member = "a9", .replaces = "a3"}, /* not registered */
	        {.token = g.discovery_token,
	         .member = "a5",
	         .replaces = "b1"}, /* other cluster's */
	        {.token = o.discovery_token,
	         .member = "b1",
	         .replaces = "a3"}, /* other cluster's */
	        {.token = "feedfeedfeedfeedfeedfeedfeedfeed", .member = "c1", .replaces = "c2"},
	        {.token = "\xff\xfe", .member = "a5", .replaces = "a3"},
	};
	const enum kerr want[] = {K_EEXIST,    K_EEXIST,    K_EEXIST,    K_ENOTFOUND,
	                          K_ENOTFOUND, K_ENOTFOUND, K_ENOTFOUND, K_ENOTFOUND};
	const enum store_replace_why why[] = {
	        REPL_ALREADY_REPLACED, REPL_MEMBER_REPLACED, REPL_MEMBER_REMOVED, REPL_NO_MEMBER,
	        REPL_NO_REPLACES,      REPL_NO_REPLACES,     REPL_NO_CLUSTER,     REPL_NO_CLUSTER};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(store_member_replace(st, &bad[i]), want[i]);
		CHECK_INT(bad[i].why, why[i]);
		CHECK(!bad[i].changed);
	}
	CHECK_STR(bad[0].other, "a4");
	CHECK_STR(bad[1].other, "a2");
	CHECK_STR(bad[2].other, "a4");
	/* a replacement replaced in turn: it keeps what it replaced */
	struct store_replace r2 = {
	        .token = g.discovery_token, .member = "a5", .replaces = "a4", .at = 7000};
	CHECK_INT(store_member_replace(st, &r2), K_OK);
	CHECK(r2.changed);
	x.n = 0;
	CHECK_INT(store_member_states(st, g.id, add_state, &x), K_OK);
	CHECK_INT(x.n, 3);
	m4 = state_of(&x, "a4");
	CHECK(m4 && !strcmp(m4->replaces, "a2") && !strcmp(m4->removed_by, "a5"));
	x.n = 0;
	CHECK_INT(store_member_states(st, o.id, add_state, &x), K_OK);
	CHECK_INT(x.n, 0);
	/* the rows go with their cluster */
	char tok[33];
	CHECK_INT(store_cluster_delete(st, "echo", tok), K_OK);
	x.n = 0;
	CHECK_INT(store_member_states(st, g.id, add_state, &x), K_OK);
	CHECK_INT(x.n, 0);
	CHECK_INT(store_cluster_delete(st, "foxtrot", tok), K_OK);
	cluster_clear(&g);
	cluster_clear(&o);
}

static void t_health(void)
{
	struct buf why;
	buf_init(&why, 1024);
	CHECK_INT(store_health(st, &why), K_OK);
	buf_free(&why);
}

/* ---- a database newer than the binary is refused ---- */
static void t_newer_schema(void)
{
	struct buf err;
	buf_init(&err, 4096);
	char db[1100];
	struct store *s2 = NULL;
	if (!strcmp(backend, "sqlite")) {
		snprintf(db, sizeof(db), "%s.newer", target);
		sqlite3 *h = NULL;
		CHECK(sqlite3_open(db, &h) == SQLITE_OK &&
		      sqlite3_exec(h, "PRAGMA user_version = 999", NULL, NULL, NULL) == SQLITE_OK);
		sqlite3_close(h);
	} else {
		CHECK(pg_newdb("newer", db, sizeof(db)) == 0);
		CHECK_INT(store_open(db, 2, &s2, &err), K_OK);
		store_close(&s2);
		CHECK(psql(db, "UPDATE schema_version SET version = 999") == 0);
	}
	CHECK(store_open(db, 2, &s2, &err) != K_OK);
	CHECK(s2 == NULL);
	CHECK(strstr(buf_str(&err), "newer than this kindling knows") != NULL);
	if (!strstr(buf_str(&err), "newer"))
		fprintf(stderr, "  store_open said: %s\n", buf_str(&err));
	store_close(&s2);
	buf_free(&err);
}

/* ---- several processes on one PostgreSQL: two stores stand for two replicas ---- */
struct racer {
	struct store *s;
	int id;
	int max;
	const char *name; /* all create this name, or NULL: a name each */
	enum kerr r;
	int ok;
	int64_t idx[20];
	int nidx;
};

static void *race_create(void *arg)
{
	struct racer *x = arg;
	for (int i = 0; i < 10; i++) {
		char name[64];
		snprintf(name, sizeof(name), "%s-%d-%d", x->name ? x->name : "many",
		         x->name ? 0 : x->id, x->name ? 0 : i);
		struct cluster c;
		mk(&c, name, false);
		const struct cluster *cls[] = {&c};
		enum kerr r = K_EIO;
		store_clusters_create(x->s, cls, 1, x->max, &r);
		if (r == K_OK)
			x->ok++;
		else if (r != K_EEXIST && r != K_ELIMIT)
			x->r = r;
		cluster_clear(&c);
	}
	return NULL;
}

static void *race_register(void *arg)
{
	struct racer *x = arg;
	for (int i = 0; i < 10; i++) {
		char id[33];
		snprintf(id, sizeof(id), "r%d-%d", x->id, i);
		struct store_put p = {.token = "racedracedracedracedracedraced00",
		                      .id = id,
		                      .value = "v",
		                      .max_members = 1000};
		if (store_put_members(x->s, &p, 1) != K_OK || p.result != K_OK)
			x->r = K_EIO;
		else
			x->idx[x->nidx++] = p.index;
	}
	return NULL;
}

static void run_racers(struct store *a, struct store *b, void *(*fn)(void *), struct racer *x,
                       int n)
{
	pthread_t t[8];
	for (int i = 0; i < n; i++) {
		x[i].s = i % 2 ? b : a;
		x[i].id = i;
		pthread_create(&t[i], NULL, fn, &x[i]);
	}
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
}

static void t_replicas(void)
{
	struct buf err;
	buf_init(&err, 4096);
	struct store *b = NULL;
	CHECK_INT(store_open(target, 4, &b, &err), K_OK);
	if (!b) {
		fprintf(stderr, "  %s\n", buf_str(&err));
		buf_free(&err);
		return;
	}
	/* one name, 6 threads over two stores, 10 tries each: exactly one create */
	struct racer x[6] = {0};
	for (int i = 0; i < 6; i++)
		x[i].name = "same", x[i].max = 1000000;
	run_racers(st, b, race_create, x, 6);
	int ok = 0;
	for (int i = 0; i < 6; i++) {
		ok += x[i].ok;
		CHECK_INT(x[i].r, K_OK);
	}
	CHECK_INT(ok, 1);
	/* --max-clusters: 60 creates of distinct names, never past the limit */
	int64_t n0 = 0, n1 = 0;
	CHECK_INT(store_cluster_count(st, &n0), K_OK);
	memset(x, 0, sizeof(x));
	for (int i = 0; i < 6; i++)
		x[i].max = (int)n0 + 10;
	run_racers(st, b, race_create, x, 6);
	ok = 0;
	for (int i = 0; i < 6; i++) {
		ok += x[i].ok;
		CHECK_INT(x[i].r, K_OK);
	}
	CHECK_INT(ok, 10);
	CHECK_INT(store_cluster_count(b, &n1), K_OK);
	CHECK_INT(n1, n0 + 10);
	/* registrations over both: every index distinct, the directory in index order */
	CHECK_INT(store_dir_create(st, "racedracedracedracedracedraced00", 3), K_OK);
	memset(x, 0, sizeof(x));
	run_racers(st, b, race_register, x, 6);
	int total = 0;
	int64_t all[120];
	for (int i = 0; i < 6; i++) {
		CHECK_INT(x[i].r, K_OK);
		for (int j = 0; j < x[i].nidx; j++) {
			if (j)
				CHECK(x[i].idx[j] > x[i].idx[j - 1]); /* one thread: increasing */
			all[total++] = x[i].idx[j];
		}
	}
	CHECK_INT(total, 60);
	int dups = 0;
	for (int i = 0; i < total; i++)
		for (int j = i + 1; j < total; j++)
			dups += all[i] == all[j];
	CHECK_INT(dups, 0);
	struct store_dir d;
	CHECK_INT(store_dir_get(b, "racedracedracedracedracedraced00", &d), K_OK);
	CHECK_INT(d.n, 60);
	for (size_t i = 1; i < d.n; i++)
		CHECK(d.members[i].created_index > d.members[i - 1].created_index);
	if (d.n)
		CHECK_INT(d.last_index, d.members[d.n - 1].created_index);
	store_dir_clear(&d);
	/* a rotation through one is seen by the other at once */
	struct cluster out, g;
	int64_t now = store_now_ms();
	CHECK_INT(store_cluster_rotate_token(st, "bravo", "cross-1", now + 60000, &out), K_ELIMIT);
	CHECK_INT(store_cluster_rotate_token(st, "dup", "cross-1", now + 60000, &out), K_OK);
	cluster_clear(&out);
	CHECK_INT(store_cluster_get(b, "dup", &g), K_OK);
	CHECK_STR(g.fetch_token, "cross-1");
	CHECK_INT(cluster_grace_tokens(&g, now, NULL), 1);
	cluster_clear(&g);
	store_close(&b);
	buf_free(&err);
}

/* ---- PostgreSQL away and back ---- */
static void t_unavailable(void)
{
	char q[512];
	const char *db = strrchr(target, '/') + 1;
	struct buf why;
	buf_init(&why, 1024);
	/* every connection cut: the next call reconnects by itself */
	snprintf(
	        q, sizeof(q),
	        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = '%s'",
	        db);
	CHECK(psql(pg_admin, q) == 0);
	int64_t n = -1;
	CHECK_INT(store_cluster_count(st, &n), K_OK);
	/* the database refuses connections: K_EUNAVAIL, health not ok, no hang */
	snprintf(
	        q, sizeof(q),
	        "ALTER DATABASE %s ALLOW_CONNECTIONS false; "
	        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = '%s'",
	        db, db);
	CHECK(psql(pg_admin, q) == 0);
	struct cluster g;
	CHECK_INT(store_cluster_get(st, "bravo", &g), K_EUNAVAIL);
	CHECK_INT(create1("while-away", false, 1000, NULL), K_EUNAVAIL);
	CHECK(store_health(st, &why) != K_OK);
	CHECK(why.len > 0);
	char fault[512];
	store_last_fault(st, fault, sizeof(fault));
	CHECK(fault[0] != '\0');
	/* back: served again without a reopen */
	snprintf(q, sizeof(q), "ALTER DATABASE %s ALLOW_CONNECTIONS true", db);
	CHECK(psql(pg_admin, q) == 0);
	usleep(300 * 1000); /* past the pause after a failed connect (fails fast meanwhile) */
	CHECK_INT(store_cluster_get(st, "bravo", &g), K_OK);
	cluster_clear(&g);
	CHECK_INT(create1("after-away", false, 1000, NULL), K_OK);
	store_last_fault(st, fault, sizeof(fault));
	CHECK_STR(fault, "");
	buf_free(&why);
}

/* What a listening store received: the kinds in order, and some fields. */
struct feed {
	pthread_mutex_t mu;
	char kinds[512];
	char last_name[64];
	char last_token[33];
	int64_t last_index;
	int64_t last_generation;
	int n;
};

static void on_feed(void *arg, const struct store_change *c)
{
	struct feed *f = arg;
	pthread_mutex_lock(&f->mu);
	size_t len = strlen(f->kinds);
	snprintf(f->kinds + len, sizeof(f->kinds) - len, "%s%s", len ? " " : "", c->kind);
	snprintf(f->last_name, sizeof(f->last_name), "%s", c->cluster);
	snprintf(f->last_token, sizeof(f->last_token), "%s", c->token);
	f->last_index = c->index;
	f->last_generation = c->generation;
	f->n++;
	pthread_mutex_unlock(&f->mu);
}

/* Waits (5 s at most) until f holds n changes. */
static int feed_wait(struct feed *f, int n)
{
	for (int i = 0; i < 500; i++) {
		pthread_mutex_lock(&f->mu);
		int got = f->n;
		pthread_mutex_unlock(&f->mu);
		if (got >= n)
			return got;
		usleep(10 * 1000);
	}
	return -1;
}

/* The change feed: a second store on the database hears st's writes (and
 * not its own), in commit order, with what they name. */
static void t_feed(void)
{
	struct buf err;
	buf_init(&err, 4096);
	struct store *b = NULL;
	struct feed f = {.mu = PTHREAD_MUTEX_INITIALIZER};
	CHECK_INT(store_open(target, 2, &b, &err), K_OK);
	buf_free(&err);
	if (!b)
		return;
	CHECK(store_feed_stamp(b) == 0); /* not listening yet: no copy is current */
	CHECK_INT(store_listen(b, on_feed, &f), K_OK);
	CHECK(store_feed_stamp(b) != 0);
	CHECK(store_shared(b));
	struct cluster c, out;
	CHECK_INT(create1("feedy", true, 1000, &c), K_OK);
	CHECK_INT(feed_wait(&f, 1), 1);
	CHECK_STR(f.last_name, "feedy");
	CHECK_STR(f.last_token, c.discovery_token);
	CHECK_INT(store_cluster_update(st, "feedy", set_var, "fv", &out), K_OK);
	cluster_clear(&out);
	CHECK_INT(feed_wait(&f, 2), 2);
	CHECK_INT(f.last_generation, 2);
	CHECK_INT(store_cluster_rotate_token(st, "feedy", "tok-feed", store_now_ms() + 1000, &out),
	          K_OK);
	cluster_clear(&out);
	struct store_put put = {
	        .token = c.discovery_token, .id = "f1", .value = "m=http://x", .max_members = 9};
	CHECK_INT(store_put_members(st, &put, 1), K_OK);
	CHECK_INT(put.result, K_OK);
	CHECK_INT(feed_wait(&f, 4), 4);
	CHECK_INT(f.last_index, put.index);
	/* b's own write is not delivered to b; a rolled-back one to nobody */
	CHECK_INT(store_cluster_update(b, "feedy", set_var, "own", &out), K_OK);
	cluster_clear(&out);
	CHECK_INT(store_cluster_update(st, "feedy", refuse, NULL, &out), K_EINVAL);
	char tok[33];
	CHECK_INT(store_cluster_delete(st, "feedy", tok), K_OK);
	CHECK_INT(feed_wait(&f, 5), 5);
	CHECK_STR(f.kinds, "cluster-created cluster-changed token-rotated member-registered "
	                   "cluster-deleted");
	store_unlisten(b);
	CHECK(store_feed_stamp(b) == 0);
	cluster_clear(&c);
	store_close(&b);
}

/* SQLite: one process, every copy current, nothing to listen to. */
static void t_feed_sqlite(void)
{
	struct feed f = {.mu = PTHREAD_MUTEX_INITIALIZER};
	CHECK(store_feed_stamp(st) == 1);
	CHECK(!store_shared(st));
	CHECK_INT(store_listen(st, on_feed, &f), K_OK);
	store_unlisten(st);
}

static void t_unreachable_at_open(void)
{
	struct buf err;
	buf_init(&err, 4096);
	struct store *s2 = NULL;
	/* port 1 on loopback: nothing listens */
	CHECK(store_open("postgresql://kindling@127.0.0.1:1/x?connect_timeout=2", 2, &s2, &err) !=
	      K_OK);
	CHECK(s2 == NULL);
	CHECK(err.len > 0);
	CHECK(strstr(buf_str(&err), "127.0.0.1") != NULL);
	buf_free(&err);
}

/* Counts the clusters of a listing. */
static void count_cluster(const struct cluster *c, void *arg)
{
	(void)c;
	(*(int *)arg)++;
}

/* kindling migrate's copy: the SQLite suite's database into a fresh one. */
static void t_copy(void)
{
	struct buf err;
	struct store *src = NULL, *dst = NULL, *lite = NULL;
	struct store_copy_stats cs;
	char url[1024];
	buf_init(&err, 4096);
	CHECK_INT(store_open_snapshot("/nonexistent/kindling.db", &src, &err), K_EINVAL);
	CHECK(strstr(buf_str(&err), "No such file") != NULL);
	buf_reset(&err);
	CHECK_INT(store_open_snapshot(target, &src, &err), K_EINVAL); /* a URL: no source */
	buf_reset(&err);
	CHECK_INT(store_open_snapshot(sqlite_file, &src, &err), K_OK);
	CHECK(pg_newdb("copy", url, sizeof(url)) == 0);
	CHECK_INT(store_open(url, 2, &dst, &err), K_OK);
	if (!src || !dst)
		goto out;
	CHECK_INT(store_copy(src, dst, &cs, &err), K_OK);
	CHECK_STR(buf_str(&err), "");
	int64_t a = -1, b = -2;
	CHECK_INT(store_cluster_count(src, &a), K_OK);
	CHECK_INT(store_cluster_count(dst, &b), K_OK);
	CHECK_INT(a, b);
	CHECK(a > 0);
	CHECK_STR(cs.names[0], "clusters");
	CHECK_INT(cs.rows[0], a);
	/* the same clusters, rows and directories, in both */
	struct store_list_query q = {.sort = SORT_NAME, .limit = 1000};
	bool more;
	int64_t total;
	int na = 0, nb = 0;
	CHECK_INT(store_cluster_list(src, &q, count_cluster, &na, &more, &total), K_OK);
	CHECK_INT(store_cluster_list(dst, &q, count_cluster, &nb, &more, &total), K_OK);
	CHECK_INT(na, nb);
	struct cluster ca, cb;
	CHECK_INT(store_cluster_get(src, "alpha", &ca), K_OK);
	CHECK_INT(store_cluster_get(dst, "alpha", &cb), K_OK);
	CHECK_STR(ca.fetch_token, cb.fetch_token);
	CHECK_INT(ca.nprev, cb.nprev);
	CHECK_INT(ca.generation, cb.generation);
	CHECK_INT(ca.fetch_count, cb.fetch_count);
	CHECK_INT(ca.members, cb.members);
	struct store_dir da, db;
	if (ca.discovery_token[0]) {
		CHECK_INT(store_dir_get(src, ca.discovery_token, &da), K_OK);
		CHECK_INT(store_dir_get(dst, ca.discovery_token, &db), K_OK);
		CHECK_INT(da.last_index, db.last_index);
		CHECK_INT(da.n, db.n);
		for (size_t i = 0; i < da.n && i < db.n; i++)
			CHECK_INT(da.members[i].created_index, db.members[i].created_index);
		store_dir_clear(&da);
		store_dir_clear(&db);
	}
	cluster_clear(&ca);
	cluster_clear(&cb);
	/* a second copy: the target is not empty, nothing changes */
	buf_reset(&err);
	CHECK_INT(store_copy(src, dst, &cs, &err), K_EEXIST);
	CHECK(strstr(buf_str(&err), "is not empty") != NULL);
	CHECK_INT(store_cluster_count(dst, &b), K_OK);
	CHECK_INT(a, b);
	/* only into PostgreSQL */
	buf_reset(&err);
	CHECK_INT(store_open_snapshot(sqlite_file, &lite, &err), K_OK);
	if (lite)
		CHECK_INT(store_copy(src, lite, &cs, &err), K_EINVAL);
out:
	store_close(&lite);
	store_close(&dst);
	store_close(&src);
	buf_free(&err);
}

#define RUN_ON(fn)                                                                                 \
	do {                                                                                       \
		test_failed_checks = 0;                                                            \
		fn();                                                                              \
		printf("%s %s: %s: %s\n", test_failed_checks ? "FAIL" : "PASS", __FILE__, backend, \
		       #fn);                                                                       \
		if (test_failed_checks)                                                            \
			test_failed++;                                                             \
		else                                                                               \
			test_passed++;                                                             \
		fflush(stdout);                                                                    \
	} while (0)

/* The tests both backends pass. */
static void suite(void)
{
	struct buf err;
	buf_init(&err, 4096);
	if (store_open(target, 4, &st, &err) != K_OK) {
		printf("FAIL %s: %s: store_open %s: %s\n", __FILE__, backend, target,
		       buf_str(&err));
		test_failed++;
		buf_free(&err);
		return;
	}
	buf_free(&err);
	RUN_ON(t_create_get_list_count);
	RUN_ON(t_list);
	RUN_ON(t_duplicates);
	RUN_ON(t_max_clusters);
	RUN_ON(t_update);
	RUN_ON(t_tokens);
	RUN_ON(t_discovery);
	RUN_ON(t_fetch_log);
	RUN_ON(t_delete);
	RUN_ON(t_reports);
	RUN_ON(t_bad_utf8);
	RUN_ON(t_member_states);
	RUN_ON(t_health);
	RUN_ON(t_newer_schema);
	if (!strcmp(backend, "sqlite"))
		RUN_ON(t_feed_sqlite);
	if (!strcmp(backend, "pg")) {
		RUN_ON(t_replicas);
		RUN_ON(t_feed);
		RUN_ON(t_unavailable);
		RUN_ON(t_unreachable_at_open);
		RUN_ON(t_copy);
	}
	store_close(&st);
}

static bool in_ci(void)
{
	const char *ci = getenv("CI");
	return ci && (!strcmp(ci, "true") || !strcmp(ci, "TRUE") || !strcmp(ci, "True") ||
	              !strcmp(ci, "1") || !strcmp(ci, "yes"));
}

int main(void)
{
	char dir[] = "/tmp/kindling-test-store.XXXXXX";
	if (!mkdtemp(dir)) {
		printf("FAIL %s: mkdtemp\n", __FILE__);
		return 1;
	}
	backend = "sqlite";
	snprintf(target, sizeof(target), "%s/db/kindling.db", dir);
	snprintf(sqlite_file, sizeof(sqlite_file), "%s", target);
	suite();

	const char *pg = getenv("KINDLING_TEST_PG_URL");
	backend = "pg";
	if (!pg || !pg[0]) {
		const char *why =
		        "KINDLING_TEST_PG_URL is not set (tests/run.sh starts a PostgreSQL "
		        "with tests/pg.sh when postgresql is installed: make test-deps)";
		if (in_ci()) {
			printf("FAIL %s: pg: %s, and CI must run every promised check\n", __FILE__,
			       why);
			test_failed++;
		} else {
			SKIP("pg: the PostgreSQL backend (16 tests)", why);
		}
	} else {
		snprintf(pg_admin, sizeof(pg_admin), "%s", pg);
		if (pg_newdb("main", target, sizeof(target)) != 0) {
			printf("FAIL %s: pg: cannot create a database on %s\n", __FILE__, pg);
			test_failed++;
		} else {
			suite();
		}
	}
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	sh(cmd);
	return TEST_EXIT();
}
