/* test_discovery.c - the index, history and watch logic of discovery.c on a real store. */
#include "../../server/discovery.h"
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

static struct store *st;
static char dir_tpl[] = "/tmp/kindling-unit-discovery.XXXXXX";

/* Collects one reply; waits for it with a bound. */
struct got {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	struct disc_reply r;
};

static void on_done(void *arg, struct disc_reply *r)
{
	struct got *g = arg;
	pthread_mutex_lock(&g->mu);
	g->r = *r;
	g->done = true;
	pthread_cond_signal(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

static void got_init(struct got *g)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
}

/* True when the reply arrived within ms. */
static bool got_wait(struct got *g, int ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&g->mu);
	while (!g->done && pthread_cond_timedwait(&g->cv, &g->mu, &until) == 0)
		;
	bool done = g->done;
	pthread_mutex_unlock(&g->mu);
	return done;
}

static void got_clear(struct got *g)
{
	disc_reply_clear(&g->r);
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
}

static struct discovery *open_disc(int timeout_s)
{
	struct discovery_options o = {.long_poll_timeout_s = timeout_s, .max_waiters = 100};
	struct discovery *d = NULL;
	CHECK_INT(discovery_new(st, &o, &d), K_OK);
	return d;
}

/* Registers id synchronously; returns the status. */
static enum disc_status put(struct discovery *d, const char *token, const char *id,
                            int64_t *out_index)
{
	struct got g;
	got_init(&g);
	discovery_put(d, token, id, "m=http://127.0.0.1:2380", on_done, &g);
	CHECK(got_wait(&g, 5000));
	enum disc_status s = g.r.status;
	if (out_index)
		*out_index = g.r.index;
	got_clear(&g);
	return s;
}

static void indexes_and_history(void)
{
	struct discovery *d = open_disc(60);
	const char *tok = "00000000000000000000000000000001";
	CHECK_INT(store_dir_create(st, tok, 3), K_OK);
	struct disc_reply r;
	discovery_get(d, tok, "_config/size", &r);
	CHECK_INT(r.status, DISC_OK);
	CHECK_INT(r.index, 1);
	CHECK(r.body && strstr(r.body, "\"value\":\"3\""));
	disc_reply_clear(&r);
	discovery_get(d, tok, NULL, &r);
	CHECK(r.body && !strstr(r.body, "nodes")); /* no nodes key while empty */
	disc_reply_clear(&r);

	int64_t i1 = 0, i2 = 0, i3 = 0;
	CHECK_INT(put(d, tok, "aa", &i1), DISC_CREATED);
	CHECK_INT(put(d, tok, "bb", &i2), DISC_CREATED);
	CHECK_INT(i1, 2);
	CHECK_INT(i2, 3);
	CHECK_INT(put(d, tok, "aa", &i3), DISC_EXISTS);
	CHECK_INT(i3, 3); /* 412 carries the current index */

	/* a watch whose event already happened is answered from history */
	struct got g;
	got_init(&g);
	discovery_watch(d, tok, NULL, 3, on_done, &g);
	CHECK(got_wait(&g, 100));
	CHECK(g.r.body && strstr(g.r.body, "/bb\"") && strstr(g.r.body, "\"createdIndex\":3"));
	CHECK_INT(g.r.index, 3);
	got_clear(&g);
	/* a key watch from history */
	got_init(&g);
	discovery_watch(d, tok, "aa", 2, on_done, &g);
	CHECK(got_wait(&g, 100));
	CHECK(g.r.body && strstr(g.r.body, "\"action\":\"create\"") && strstr(g.r.body, "/aa\""));
	got_clear(&g);
	/* waitIndex 1 from history returns the FIRST member, never _config */
	got_init(&g);
	discovery_watch(d, tok, NULL, 1, on_done, &g);
	CHECK(got_wait(&g, 100));
	CHECK(g.r.body && strstr(g.r.body, "/aa\"") && !strstr(g.r.body, "_config"));
	got_clear(&g);
	discovery_free(&d);
}

static void waitindex_zero_means_from_now(void)
{
	struct discovery *d = open_disc(60);
	const char *tok = "00000000000000000000000000000002";
	CHECK_INT(store_dir_create(st, tok, 3), K_OK);
	CHECK_INT(put(d, tok, "aa", NULL), DISC_CREATED);
	struct got g;
	got_init(&g);
	discovery_watch(d, tok, NULL, 0, on_done, &g);
	CHECK(!got_wait(&g, 200)); /* not answered with the existing member */
	CHECK_INT(discovery_waiters(d), 1);
	CHECK_INT(put(d, tok, "bb", NULL), DISC_CREATED);
	CHECK(got_wait(&g, 1000));
	CHECK(g.r.body && strstr(g.r.body, "/bb\""));
	CHECK_INT(discovery_waiters(d), 0);
	got_clear(&g);
	discovery_free(&d);
}

static void waitindex_in_the_future(void)
{
	struct discovery *d = open_disc(60);
	const char *tok = "00000000000000000000000000000003";
	CHECK_INT(store_dir_create(st, tok, 5), K_OK);
	struct got g;
	got_init(&g);
	discovery_watch(d, tok, NULL, 4, on_done, &g); /* index 4 = the 3rd member */
	CHECK_INT(put(d, tok, "a1", NULL), DISC_CREATED);
	CHECK_INT(put(d, tok, "a2", NULL), DISC_CREATED);
	CHECK(!got_wait(&g, 200));
	CHECK_INT(put(d, tok, "a3", NULL), DISC_CREATED);
	CHECK(got_wait(&g, 1000));
	CHECK(g.r.body && strstr(g.r.body, "/a3\"") && strstr(g.r.body, "\"modifiedIndex\":4"));
	got_clear(&g);
	/* a key watch only fires for its own key */
	got_init(&g);
	discovery_watch(d, tok, "b9", 0, on_done, &g);
	CHECK_INT(put(d, tok, "a4", NULL), DISC_CREATED);
	CHECK(!got_wait(&g, 200));
	CHECK_INT(put(d, tok, "b9", NULL), DISC_CREATED);
	CHECK(got_wait(&g, 1000));
	CHECK(g.r.body && strstr(g.r.body, "/b9\""));
	got_clear(&g);
	discovery_free(&d);
}

static void waiters_released_on_delete_timeout_and_drain(void)
{
	struct discovery *d = open_disc(1);
	const char *tok = "00000000000000000000000000000004";
	CHECK_INT(store_dir_create(st, tok, 3), K_OK);
	struct got a, b;
	got_init(&a);
	got_init(&b);
	discovery_watch(d, tok, NULL, 0, on_done, &a);
	discovery_forget(d, tok); /* the cluster was deleted */
	CHECK(got_wait(&a, 500));
	CHECK_INT(a.r.status, DISC_NOT_FOUND);
	CHECK(a.r.body && strstr(a.r.body, "\"errorCode\":100"));
	/* a watch with no event ends empty after the long-poll timeout */
	discovery_watch(d, tok, NULL, 0, on_done, &b);
	CHECK(!got_wait(&b, 500));
	CHECK(got_wait(&b, 2000));
	CHECK_INT(b.r.status, DISC_EMPTY);
	CHECK(b.r.body == NULL);
	got_clear(&a);
	got_clear(&b);
	/* drain: held watches end empty at once, new ones too */
	got_init(&a);
	discovery_watch(d, tok, NULL, 0, on_done, &a);
	discovery_release_all(d);
	CHECK(got_wait(&a, 200));
	CHECK_INT(a.r.status, DISC_EMPTY);
	got_clear(&a);
	got_init(&a);
	discovery_watch(d, tok, NULL, 0, on_done, &a);
	CHECK(got_wait(&a, 200));
	CHECK_INT(a.r.status, DISC_EMPTY);
	got_clear(&a);
	discovery_free(&d);
}

static void unknown_token_and_bounds(void)
{
	struct discovery *d = open_disc(60);
	struct disc_reply r;
	discovery_get(d, "ffffffffffffffffffffffffffffffff", NULL, &r);
	CHECK_INT(r.status, DISC_NOT_FOUND);
	CHECK(r.body && strstr(r.body, "\"message\":\"Key not found\""));
	disc_reply_clear(&r);
	CHECK_INT(put(d, "ffffffffffffffffffffffffffffffff", "aa", NULL), DISC_NOT_FOUND);
	const char *tok = "00000000000000000000000000000005";
	CHECK_INT(store_dir_create(st, tok, 1), K_OK);
	char id[8];
	int created = 0;
	for (int i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "c%02x", i);
		created += put(d, tok, id, NULL) == DISC_CREATED;
	}
	CHECK_INT(created, 13); /* 3 * size + 10 registrations at most */
	discovery_free(&d);
}

/* Many registrations at once: all get distinct, consecutive indexes and a
 * recursive watcher chain sees every one in order. */
struct racer {
	struct discovery *d;
	const char *tok;
	int i;
	enum disc_status s;
};

static void *race(void *arg)
{
	struct racer *x = arg;
	char id[8];
	snprintf(id, sizeof(id), "d%02x", x->i);
	x->s = put(x->d, x->tok, id, NULL);
	return NULL;
}

static void concurrent_registrations_are_ordered(void)
{
	struct discovery *d = open_disc(60);
	const char *tok = "00000000000000000000000000000006";
	CHECK_INT(store_dir_create(st, tok, 16), K_OK);
	pthread_t t[16];
	struct racer x[16];
	for (int i = 0; i < 16; i++) {
		x[i] = (struct racer){d, tok, i, DISC_BUSY};
		pthread_create(&t[i], NULL, race, &x[i]);
	}
	for (int i = 0; i < 16; i++) {
		pthread_join(t[i], NULL);
		CHECK_INT(x[i].s, DISC_CREATED);
	}
	struct store_dir sd;
	CHECK_INT(store_dir_get(st, tok, &sd), K_OK);
	CHECK_INT(sd.n, 16);
	for (size_t i = 0; i < sd.n; i++)
		CHECK_INT(sd.members[i].created_index, (int64_t)i + 2);
	CHECK_INT(sd.last_index, 17);
	store_dir_clear(&sd);
	for (int64_t w = 2; w <= 17; w++) {
		struct got g;
		got_init(&g);
		discovery_watch(d, tok, NULL, w, on_done, &g);
		CHECK(got_wait(&g, 200));
		char want[48];
		snprintf(want, sizeof(want), "\"createdIndex\":%lld}", (long long)w);
		CHECK(g.r.body && strstr(g.r.body, want));
		got_clear(&g);
	}
	discovery_free(&d);
}

int main(void)
{
	struct buf err;
	buf_init(&err, 1024);
	if (!mkdtemp(dir_tpl))
		return 1;
	char path[128];
	snprintf(path, sizeof(path), "%s/k.db", dir_tpl);
	if (store_open(path, 4, &st, &err) != K_OK) {
		printf("FAIL store_open: %s\n", buf_str(&err));
		return 1;
	}
	RUN(indexes_and_history);
	RUN(waitindex_zero_means_from_now);
	RUN(waitindex_in_the_future);
	RUN(waiters_released_on_delete_timeout_and_drain);
	RUN(unknown_token_and_bounds);
	RUN(concurrent_registrations_are_ordered);
	store_close(&st);
	buf_free(&err);
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir_tpl);
	if (system(cmd) != 0)
		return 1;
	return TEST_EXIT();
}
