/* test_creates.c - batched cluster creates (creates.c, store_clusters_create) on a real store. */
#include "../../server/creates.h"
#include "test.h"

#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static struct store *st;
static char dir_tpl[] = "/tmp/kindling-unit-creates.XXXXXX";

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
	int n, ok, exist;
};

static void on_done(void *arg, enum kerr e)
{
	struct done *d = arg;
	pthread_mutex_lock(&d->mu);
	d->n++;
	d->ok += e == K_OK;
	d->exist += e == K_EEXIST;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

/* 200 creates submitted at once, 20 of them a second time: every one is
 * reported exactly once, and stopping waits for what is queued. */
static void writer_reports_every_create(void)
{
	enum { N = 220 };
	static struct cluster c[N];
	struct creates *w = NULL;
	CHECK_INT(creates_start(st, 1000, &w), K_OK);
	struct done d = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	int64_t before = count();
	for (int i = 0; i < N; i++) {
		char name[32];
		snprintf(name, sizeof(name), "w%d", i < 200 ? i : i - 200);
		fill(&c[i], name, 100 + i);
		creates_submit(w, &c[i], on_done, &d);
	}
	creates_stop(&w);
	CHECK(w == NULL);
	CHECK_INT(d.n, N);
	CHECK_INT(d.ok, 200);
	CHECK_INT(d.exist, 20);
	CHECK_INT(count(), before + 200);
	for (int i = 0; i < N; i++)
		cluster_clear(&c[i]);
}

int main(void)
{
	char *dir = mkdtemp(dir_tpl);
	if (!dir)
		return 1;
	char path[256];
	snprintf(path, sizeof(path), "%s/k.db", dir);
	struct buf err;
	buf_init(&err, 1024);
	if (store_open(path, 2, &st, &err) != K_OK) {
		fprintf(stderr, "store_open: %s\n", buf_str(&err));
		return 1;
	}
	buf_free(&err);
	RUN(batch_results_one_by_one);
	RUN(writer_reports_every_create);
	store_close(&st);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	return TEST_EXIT();
}
