/* test_writer.c - the cluster writer (writer.c) and the store writes under it, on a real store. */
#include "../../server/writer.h"
#include "test.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <unistd.h>

static struct store *st;
static struct events *evs; /* on_change subscribed */
static char dir_tpl[] = "/tmp/kindling-unit-writer.XXXXXX";
static char db_path[256];

static void fill(struct cluster *c, const char *name, int i)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "00000000-0000-4000-8000-%012d", i);
	str_copy(c->name, sizeof(c->name), name);
	c->size = 3;
	c->profiles = json_pack("[s]", "etcd");
	c->vars = json_object();
	c->secrets = json_object();
	str_copy(c->ignition_version, sizeof(c->ignition_version), "3.3.0");
	str_copy(c->discovery_mode, sizeof(c->discovery_mode), "builtin");
	c->discovery_url = strdup("http://x/discovery/t");
	snprintf(c->discovery_token, sizeof(c->discovery_token), "%032d", i);
	str_copy(c->fetch_token, sizeof(c->fetch_token), "token");
	c->created_at = c->updated_at = store_now_ms();
}

/* Clusters in the store, as the kept count says. */
static int64_t count(void)
{
	int64_t n = -1;
	store_cluster_count(st, &n);
	return n;
}

/* One batch: a name taken earlier, a name twice in the batch, and one past
 * the limit each fail alone; the others are stored, counted once. */
static void batch_results_one_by_one(void)
{
	struct cluster c[6];
	fill(&c[0], "old", 1);
	const struct cluster *first[] = {&c[0]};
	enum kerr r0[1];
	store_clusters_create(st, first, 1, 5, r0);
	CHECK_INT(r0[0], K_OK);

	fill(&c[1], "a", 2);
	fill(&c[2], "old", 3); /* taken by an earlier batch */
	fill(&c[3], "b", 4);
	fill(&c[4], "b", 5); /* taken earlier in this batch */
	fill(&c[5], "c", 6);
	const struct cluster *batch[] = {&c[1], &c[2], &c[3], &c[4], &c[5]};
	enum kerr r[5];
	store_clusters_create(st, batch, 5, 4, r); /* room for 3 more */
	CHECK_INT(r[0], K_OK);
	CHECK_INT(r[1], K_EEXIST);
	CHECK_INT(r[2], K_OK);
	CHECK_INT(r[3], K_EEXIST);
	/* the failed ones gave their places back at once: "c" is the 4th */
	CHECK_INT(r[4], K_OK);
	CHECK_INT(count(), 4);
	struct cluster got;
	CHECK_INT(store_cluster_get(st, "b", &got), K_OK);
	CHECK_STR(got.id, c[3].id); /* the first "b" won */
	cluster_clear(&got);
	for (int i = 0; i < 6; i++)
		cluster_clear(&c[i]);

	/* at the limit: refused, nothing stored */
	struct cluster d;
	fill(&d, "d", 7);
	const struct cluster *again[] = {&d};
	store_clusters_create(st, again, 1, 4, r0);
	CHECK_INT(r0[0], K_ELIMIT);
	CHECK_INT(count(), 4);
	CHECK_INT(store_cluster_get(st, "d", &got), K_ENOTFOUND);
	cluster_clear(&d);
}

struct done {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int n, ok, exist, unavail;
	int changes, deletes;
};

static struct done d = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void on_done(struct write_job *job)
{
	pthread_mutex_lock(&d.mu);
	d.n++;
	d.ok += job->result == K_OK;
	d.exist += job->result == K_EEXIST;
	d.unavail += job->result == K_EUNAVAIL;
	pthread_cond_signal(&d.cv);
	pthread_mutex_unlock(&d.mu);
}

static void on_change(void *arg, const struct event *ev)
{
	(void)arg;
	pthread_mutex_lock(&d.mu);
	d.changes++;
	d.deletes += ev->kind == EV_CLUSTER_DELETED && ev->token[0];
	pthread_mutex_unlock(&d.mu);
}

static void reset(void)
{
	pthread_mutex_lock(&d.mu);
	d.n = d.ok = d.exist = d.unavail = d.changes = d.deletes = 0;
	pthread_mutex_unlock(&d.mu);
}

/* Waits until n jobs were reported. */
static void wait_for(int n)
{
	pthread_mutex_lock(&d.mu);
	while (d.n < n)
		pthread_cond_wait(&d.cv, &d.mu);
	pthread_mutex_unlock(&d.mu);
}

/* 200 creates submitted at once, 20 of them a second time: every one is
 * reported exactly once, each stored one published, and stopping waits for
 * what is queued; a submit after the stop is refused at once. */
static void writer_reports_every_create(void)
{
	enum { N = 220 };
	static struct cluster c[N];
	static struct write_job jobs[N];
	struct writer *w = NULL;
	reset();
	CHECK_INT(writer_start(st, 1000, evs, &w), K_OK);
	int64_t before = count();
	for (int i = 0; i < N; i++) {
		char name[32];
		snprintf(name, sizeof(name), "w%d", i < 200 ? i : i - 200);
		fill(&c[i], name, 100 + i);
		jobs[i] =
		        (struct write_job){.kind = WRITE_CREATE, .create = &c[i], .done = on_done};
		writer_submit(w, &jobs[i]);
	}
	writer_stop(w);
	CHECK_INT(d.n, N);
	CHECK_INT(d.ok, 200);
	CHECK_INT(d.exist, 20);
	CHECK_INT(d.changes, 200);
	CHECK_INT(count(), before + 200);
	struct write_job late = {.kind = WRITE_DELETE, .name = "w1", .done = on_done};
	writer_submit(w, &late);
	CHECK_INT(late.result, K_EUNAVAIL);
	CHECK_INT(count(), before + 200);
	writer_free(&w);
	CHECK(w == NULL);
	for (int i = 0; i < N; i++)
		cluster_clear(&c[i]);
}

/* The mutation sees the row inside the transaction; its error changes nothing. */
static enum kerr add_var(void *arg, struct cluster *c)
{
	if (!arg)
		return K_EINVAL;
	json_object_set_new(c->vars, (const char *)arg, json_string("v"));
	return K_OK;
}

static void update_rotate_delete(void)
{
	struct writer *w = NULL;
	reset();
	CHECK_INT(writer_start(st, 1000, evs, &w), K_OK);
	struct cluster c;
	fill(&c, "u", 900);
	struct write_job j = {.kind = WRITE_CREATE, .create = &c, .done = on_done};
	writer_submit(w, &j);
	wait_for(1);
	CHECK_INT(j.result, K_OK);

	struct write_job up = {.kind = WRITE_UPDATE,
	                       .name = "u",
	                       .mutate = add_var,
	                       .mutate_arg = "k1",
	                       .done = on_done};
	writer_submit(w, &up);
	wait_for(2);
	CHECK_INT(up.result, K_OK);
	CHECK_INT(up.out.generation, 2);
	CHECK_STR(json_string_value(json_object_get(up.out.vars, "k1")), "v");
	cluster_clear(&up.out);
	struct write_job bad = {
	        .kind = WRITE_UPDATE, .name = "u", .mutate = add_var, .done = on_done};
	writer_submit(w, &bad);
	wait_for(3);
	CHECK_INT(bad.result, K_EINVAL);
	struct cluster got;
	CHECK_INT(store_cluster_get(st, "u", &got), K_OK);
	CHECK_INT(got.generation, 2);
	cluster_clear(&got);

	/* every rotated token stays valid for its grace, up to the bound */
	int64_t until = store_now_ms() + 3600 * 1000;
	char tokens[STORE_PREV_TOKENS + 2][65];
	for (int i = 0; i < STORE_PREV_TOKENS + 1; i++) {
		snprintf(tokens[i], sizeof(tokens[i]), "%064d", i);
		struct write_job rot = {.kind = WRITE_ROTATE,
		                        .name = "u",
		                        .token = tokens[i],
		                        .grace_until = until,
		                        .done = on_done};
		writer_submit(w, &rot);
		wait_for(4 + i);
		CHECK_INT(rot.result, i < STORE_PREV_TOKENS ? K_OK : K_ELIMIT);
		cluster_clear(&rot.out);
	}
	CHECK_INT(store_cluster_get(st, "u", &got), K_OK);
	CHECK_STR(got.fetch_token, tokens[STORE_PREV_TOKENS - 1]);
	CHECK_INT(got.nprev, STORE_PREV_TOKENS);
	bool first = false; /* the first token, still valid */
	for (int i = 0; i < got.nprev; i++)
		first |= !strcmp(got.prev[i].token, "token");
	CHECK(first);
	CHECK_INT(cluster_grace_tokens(&got, store_now_ms(), NULL), STORE_PREV_TOKENS);
	cluster_clear(&got);
	/* an expired one makes room */
	struct write_job rot = {.kind = WRITE_ROTATE,
	                        .name = "u",
	                        .token = tokens[0],
	                        .grace_until = store_now_ms() - 1,
	                        .done = on_done};
	int n = d.n;
	writer_submit(w, &rot);
	wait_for(n + 1);
	CHECK_INT(rot.result, K_ELIMIT); /* all 16 still valid: still refused */
	cluster_clear(&rot.out);

	int changes = d.changes;
	struct write_job del = {.kind = WRITE_DELETE, .name = "u", .done = on_done};
	writer_submit(w, &del);
	wait_for(n + 2);
	CHECK_INT(del.result, K_OK);
	CHECK_INT(d.changes, changes + 1);
	CHECK_INT(d.deletes, 1);
	CHECK_INT(store_cluster_get(st, "u", &got), K_ENOTFOUND);
	writer_free(&w);
	cluster_clear(&c);
}

/* With the write lock held by another connection for longer than the busy
 * timeout, a write is K_EUNAVAIL (503 with Retry-After), not K_EIO. */
static void busy_is_unavailable(void)
{
	sqlite3 *other = NULL;
	CHECK_INT(sqlite3_open(db_path, &other), SQLITE_OK);
	CHECK_INT(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	struct writer *w = NULL;
	reset();
	CHECK_INT(writer_start(st, 1000, evs, &w), K_OK);
	struct write_job del = {.kind = WRITE_DELETE, .name = "w1", .done = on_done};
	writer_submit(w, &del);
	wait_for(1);
	CHECK_INT(del.result, K_EUNAVAIL);
	struct buf why;
	buf_init(&why, 512);
	CHECK_INT(store_health(st, &why), K_EUNAVAIL);
	CHECK(strstr(buf_str(&why), "locked") != NULL);
	buf_free(&why);
	sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(other);
	buf_init(&why, 512);
	CHECK_INT(store_health(st, &why), K_OK);
	buf_free(&why);
	writer_free(&w);
}

int main(void)
{
	char *dir = mkdtemp(dir_tpl);
	if (!dir)
		return 1;
	snprintf(db_path, sizeof(db_path), "%s/k.db", dir);
	struct buf err;
	buf_init(&err, 1024);
	if (store_open(db_path, 2, &st, &err) != K_OK) {
		fprintf(stderr, "store_open: %s\n", buf_str(&err));
		return 1;
	}
	buf_free(&err);
	if (events_new(&evs) != K_OK || events_subscribe(evs, on_change, NULL) != K_OK)
		return 1;
	RUN(batch_results_one_by_one);
	RUN(writer_reports_every_create);
	RUN(update_rotate_delete);
	RUN(busy_is_unavailable);
	store_close(&st);
	events_free(&evs);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	return TEST_EXIT();
}
