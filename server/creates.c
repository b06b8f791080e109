/* creates.c - cluster creates, committed in batches by one writer thread. */
#include "creates.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#define BATCH_MAX 256 /* creates per transaction */

struct job {
	struct job *next;
	const struct cluster *c;
	create_done_fn done;
	void *arg;
};

struct creates {
	struct store *store;
	int max_clusters;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work;
	struct job *head, **tail;
	bool stopping;
};

/* Commits up to BATCH_MAX queued creates and reports each; mu held on entry
 * and on return, released meanwhile. */
static void commit_batch(struct creates *w)
{
	struct job *batch = w->head, *last = batch;
	size_t n = 1;
	while (n < BATCH_MAX && last->next) {
		last = last->next;
		n++;
	}
	w->head = last->next;
	if (!w->head)
		w->tail = &w->head;
	last->next = NULL;
	pthread_mutex_unlock(&w->mu);

	const struct cluster *cls[BATCH_MAX];
	enum kerr results[BATCH_MAX];
	size_t i = 0;
	for (struct job *j = batch; j; j = j->next)
		cls[i++] = j->c;
	store_clusters_create(w->store, cls, n, w->max_clusters, results);
	i = 0;
	while (batch) {
		struct job *j = batch;
		batch = j->next;
		j->done(j->arg, results[i++]);
		free(j);
	}
	pthread_mutex_lock(&w->mu);
}

static void *writer(void *arg)
{
	struct creates *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->head && !w->stopping)
			pthread_cond_wait(&w->work, &w->mu);
		if (!w->head)
			break; /* stopping, nothing left */
		commit_batch(w);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

enum kerr creates_start(struct store *s, int max_clusters, struct creates **out)
{
	struct creates *w = calloc(1, sizeof(*w));
	if (!w)
		return K_ENOMEM;
	w->store = s;
	w->max_clusters = max_clusters;
	w->tail = &w->head;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work, NULL);
	if (pthread_create(&w->thread, NULL, writer, w) != 0) {
		pthread_cond_destroy(&w->work);
		pthread_mutex_destroy(&w->mu);
		free(w);
		return K_EIO;
	}
	*out = w;
	return K_OK;
}

void creates_submit(struct creates *w, const struct cluster *c, create_done_fn done, void *arg)
{
	struct job *j = malloc(sizeof(*j));
	if (!j) {
		done(arg, K_ENOMEM);
		return;
	}
	*j = (struct job){NULL, c, done, arg};
	pthread_mutex_lock(&w->mu);
	*w->tail = j;
	w->tail = &j->next;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
}

void creates_stop(struct creates **wp)
{
	if (!wp || !*wp)
		return;
	struct creates *w = *wp;
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->work);
	pthread_mutex_destroy(&w->mu);
	free(w);
	*wp = NULL;
}
