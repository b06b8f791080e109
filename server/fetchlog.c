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

#define QUEUE_MAX 4096
#define FLUSH_MS  200

struct entry {
	char cluster_id[37];
	int64_t at;
	char client[64];
	char user_agent[128];
	char version[24];
	int status;
};

struct fetchlog {
	struct store *store;
	int keep;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t wake, flushed;
	struct entry *q; /* QUEUE_MAX entries, q[0..n) pending */
	size_t n;
	unsigned long long flush_wanted, flush_done;
	bool stopping;
	atomic_ullong dropped;
};

/* Takes the pending entries and writes them; called with mu held, returns
 * with it held. */
static void drain(struct fetchlog *f, struct entry *batch)
{
	size_t n = f->n;
	unsigned long long wanted = f->flush_wanted;
	memcpy(batch, f->q, n * sizeof(*batch));
	f->n = 0;
	pthread_mutex_unlock(&f->mu);
	if (n) {
		struct store_fetch rows[QUEUE_MAX];
		for (size_t i = 0; i < n; i++)
			rows[i] = (struct store_fetch){batch[i].cluster_id, batch[i].at,
			                               batch[i].client,     batch[i].user_agent,
			                               batch[i].version,    batch[i].status};
		if (store_fetches_record(f->store, rows, n, f->keep) != K_OK)
			log_warnx("fetch log: could not record %zu fetches", n);
	}
	pthread_mutex_lock(&f->mu);
	f->flush_done = wanted;
	pthread_cond_broadcast(&f->flushed);
}

static void *writer(void *arg)
{
	struct fetchlog *f = arg;
	struct entry *batch = malloc(QUEUE_MAX * sizeof(*batch));
	if (!batch)
		return NULL;
	pthread_mutex_lock(&f->mu);
	while (!f->stopping || f->n) {
		if (f->n == 0 && f->flush_wanted == f->flush_done && !f->stopping) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += FLUSH_MS * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&f->wake, &f->mu, &until);
		}
		drain(f, batch);
	}
	pthread_mutex_unlock(&f->mu);
	free(batch);
	return NULL;
}

enum kerr fetchlog_start(struct store *s, int keep, struct fetchlog **out)
{
	struct fetchlog *f = calloc(1, sizeof(*f));
	if (!f)
		return K_ENOMEM;
	f->q = malloc(QUEUE_MAX * sizeof(*f->q));
	if (!f->q) {
		free(f);
		return K_ENOMEM;
	}
	f->store = s;
	f->keep = keep;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->wake, NULL);
	pthread_cond_init(&f->flushed, NULL);
	if (pthread_create(&f->thread, NULL, writer, f) != 0) {
		free(f->q);
		free(f);
		return K_EIO;
	}
	*out = f;
	return K_OK;
}

void fetchlog_add(struct fetchlog *f, const char *cluster_id, const char *client,
                  const char *user_agent, const char *version, int status)
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
	snprintf(e->cluster_id, sizeof(e->cluster_id), "%s", cluster_id);
	e->at = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	snprintf(e->client, sizeof(e->client), "%s", client ? client : "");
	snprintf(e->user_agent, sizeof(e->user_agent), "%s", user_agent ? user_agent : "");
	snprintf(e->version, sizeof(e->version), "%s", version ? version : "");
	e->status = status;
	pthread_mutex_unlock(&f->mu);
}

void fetchlog_flush(struct fetchlog *f)
{
	pthread_mutex_lock(&f->mu);
	unsigned long long ticket = ++f->flush_wanted;
	pthread_cond_signal(&f->wake);
	while (f->flush_done < ticket)
		pthread_cond_wait(&f->flushed, &f->mu);
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
	free(f->q);
	free(f);
	*fp = NULL;
}
