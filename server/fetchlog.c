/* fetchlog.c - a bounded queue of node fetches, written to the store in batches. */
#include "fetchlog.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define QUEUE_MAX    8192
#define QUEUE_HIGH   (QUEUE_MAX / 2) /* write at once from here on */
#define FLUSH_MS     200
#define FLUSH_WAIT_S 1 /* fetchlog_flush waits at most this long */
#define TABLE_SIZE   (QUEUE_MAX * 2)

struct entry {
	char cluster_id[37];
	int64_t at;
	char client[64];
	char user_agent[128];
	char version[24];
	int status;
	int64_t generation;
};

struct fetchlog {
	struct store *store;
	struct events *events;
	int keep;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t wake, flushed;
	struct entry *q;     /* QUEUE_MAX entries, q[0..n) pending */
	struct entry *batch; /* QUEUE_MAX entries: the one being written, swapped with q */
	struct grouping *g;  /* the writer's work space */
	size_t n;
	unsigned long long flush_wanted, flush_done;
	bool stopping;
	atomic_ullong dropped;
};

/*
 * A batch grouped by cluster and generation served in one pass, newest entry first: every 200
 * counts, but only the newest keep entries of a cluster become rows. A storm
 * of fetches of one cluster thus costs a few row inserts, not one each.
 */
struct grouping {
	int table[TABLE_SIZE];   /* open addressing: group index + 1, 0 = empty */
	int group_of[QUEUE_MAX]; /* per entry: its group, or -1 when not kept */
	struct store_fetch_group groups[QUEUE_MAX];
	size_t fill[QUEUE_MAX];
	struct store_fetch rows[QUEUE_MAX];
};

/* Groups batch[0..n) into g->groups (returned count), rows oldest first. */
static size_t group_batch(struct grouping *g, const struct entry *batch, size_t n, int keep)
{
	size_t ngroups = 0;
	memset(g->table, 0, sizeof(g->table));
	for (size_t i = n; i-- > 0;) {
		const struct entry *e = &batch[i];
		size_t h = str_hash(e->cluster_id) % TABLE_SIZE;
		while (g->table[h] &&
		       (strcmp(g->groups[g->table[h] - 1].cluster_id, e->cluster_id) != 0 ||
		        g->groups[g->table[h] - 1].generation != e->generation))
			h = (h + 1) % TABLE_SIZE;
		if (!g->table[h]) {
			g->groups[ngroups] = (struct store_fetch_group){
			        .cluster_id = e->cluster_id, .generation = e->generation};
			g->table[h] = (int)++ngroups;
		}
		int gi = g->table[h] - 1;
		struct store_fetch_group *gr = &g->groups[gi];
		if (e->status == 200) {
			gr->last_ok = gr->ok ? gr->last_ok : e->at; /* the newest comes first */
			gr->ok++;
		}
		g->group_of[i] = gr->nrows < (size_t)keep ? gi : -1;
		if (g->group_of[i] >= 0)
			gr->nrows++;
	}
	size_t at = 0;
	for (size_t k = 0; k < ngroups; k++) {
		g->groups[k].rows = &g->rows[at];
		g->fill[k] = at;
		at += g->groups[k].nrows;
	}
	for (size_t i = 0; i < n; i++) {
		if (g->group_of[i] < 0)
			continue;
		const struct entry *e = &batch[i];
		g->rows[g->fill[g->group_of[i]]++] =
		        (struct store_fetch){e->cluster_id, e->at,     e->client,    e->user_agent,
		                             e->version,    e->status, e->generation};
	}
	return ngroups;
}

/* Tells the subscribers of a served fetch (no lock held). */
static void publish_fetch(struct fetchlog *f, const struct entry *e)
{
	json_t *data = json_pack("{s:s, s:s, s:s, s:i, s:I}", "client", e->client, "user_agent",
	                         e->user_agent, "version", e->version, "status", e->status,
	                         "generation", (json_int_t)e->generation);
	struct event ev = {.kind = EV_CONFIG_FETCHED,
	                   .cluster = "",
	                   .cluster_id = e->cluster_id,
	                   .token = "",
	                   .at = e->at,
	                   .data = data};
	events_publish(f->events, &ev);
	json_decref(data);
}

/* Takes the pending entries and writes them; called with mu held, returns
 * with it held. */
static void drain(struct fetchlog *f)
{
	size_t n = f->n;
	unsigned long long wanted = f->flush_wanted;
	struct entry *batch = f->q;
	f->q = f->batch;
	f->batch = batch;
	f->n = 0;
	pthread_mutex_unlock(&f->mu);
	size_t ngroups = n ? group_batch(f->g, batch, n, f->keep) : 0;
	if (ngroups && store_fetches_record(f->store, f->g->groups, ngroups, f->keep) != K_OK)
		log_warnx("fetch log: could not record %zu fetches", n);
	for (size_t i = 0; i < n && f->events; i++)
		publish_fetch(f, &batch[i]);
	pthread_mutex_lock(&f->mu);
	f->flush_done = wanted;
	pthread_cond_broadcast(&f->flushed);
}

/* True when the batch must be written now rather than at the end of its window. */
static bool urgent(const struct fetchlog *f)
{
	return f->stopping || f->flush_wanted != f->flush_done || f->n >= QUEUE_HIGH;
}

/*
 * Sleeps while nothing is queued; once a fetch arrives, lets the batch fill
 * for FLUSH_MS (or until it is urgent), then writes it in one transaction.
 * So a busy server pays one commit per window, and an idle one no wakeups.
 */
static void *writer(void *arg)
{
	struct fetchlog *f = arg;
	pthread_mutex_lock(&f->mu);
	for (;;) {
		while (f->n == 0 && !urgent(f))
			pthread_cond_wait(&f->wake, &f->mu);
		if (f->stopping && f->n == 0 && f->flush_wanted == f->flush_done)
			break;
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += FLUSH_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!urgent(f) && pthread_cond_timedwait(&f->wake, &f->mu, &until) == 0)
			;
		drain(f);
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

static void free_buffers(struct fetchlog *f)
{
	free(f->q);
	free(f->batch);
	free(f->g);
	free(f);
}

enum kerr fetchlog_start(struct store *s, int keep, struct events *ev, struct fetchlog **out)
{
	struct fetchlog *f = calloc(1, sizeof(*f));
	if (!f)
		return K_ENOMEM;
	f->q = malloc(QUEUE_MAX * sizeof(*f->q));
	f->batch = malloc(QUEUE_MAX * sizeof(*f->batch));
	f->g = malloc(sizeof(*f->g));
	if (!f->q || !f->batch || !f->g) {
		free_buffers(f);
		return K_ENOMEM;
	}
	f->store = s;
	f->events = ev;
	f->keep = keep;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->wake, NULL);
	pthread_cond_init(&f->flushed, NULL);
	if (pthread_create(&f->thread, NULL, writer, f) != 0) {
		free_buffers(f);
		return K_EIO;
	}
	*out = f;
	return K_OK;
}

void fetchlog_add(struct fetchlog *f, const char *cluster_id, const char *client,
                  const char *user_agent, const char *version, int status, int64_t generation)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	pthread_mutex_lock(&f->mu);
	if (f->n == QUEUE_MAX) {
		pthread_mutex_unlock(&f->mu);
		atomic_fetch_add(&f->dropped, 1);
		return;
	}
	struct entry *e = &f->q[f->n++];
	if (f->n == 1 || f->n == QUEUE_HIGH)
		pthread_cond_signal(&f->wake);
	str_copy(e->cluster_id, sizeof(e->cluster_id), cluster_id);
	e->at = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	str_copy(e->client, sizeof(e->client), client ? client : "");
	str_copy(e->user_agent, sizeof(e->user_agent), user_agent ? user_agent : "");
	str_copy(e->version, sizeof(e->version), version ? version : "");
	e->status = status;
	e->generation = generation;
	pthread_mutex_unlock(&f->mu);
}

void fetchlog_flush(struct fetchlog *f)
{
	pthread_mutex_lock(&f->mu);
	unsigned long long ticket = ++f->flush_wanted;
	pthread_cond_signal(&f->wake);
	/* bounded: with the database locked elsewhere a page shows older counts
	 * rather than holding an HTTP worker for the whole busy timeout */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += FLUSH_WAIT_S;
	while (f->flush_done < ticket && pthread_cond_timedwait(&f->flushed, &f->mu, &until) == 0)
		;
	pthread_mutex_unlock(&f->mu);
}

unsigned long long fetchlog_dropped(const struct fetchlog *f)
{
	return atomic_load(&f->dropped);
}

void fetchlog_stop(struct fetchlog **fp)
{
	if (!fp || !*fp)
		return;
	struct fetchlog *f = *fp;
	pthread_mutex_lock(&f->mu);
	f->stopping = true;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->thread, NULL);
	pthread_cond_destroy(&f->flushed);
	pthread_cond_destroy(&f->wake);
	pthread_mutex_destroy(&f->mu);
	free_buffers(f);
	*fp = NULL;
}
