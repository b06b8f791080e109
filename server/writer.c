/* writer.c - cluster writes committed by one writer thread, published after commit.
 *
 * Threads: HTTP workers call writer_submit (takes mu briefly); the writer
 * thread takes jobs off the queue under mu and runs them with mu released.
 * done and the event subscribers run on the writer thread with mu released. Lock order:
 * mu, then the store's connection locks (never the other way).
 */
#include "writer.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_MAX 256 /* creates per transaction */

struct writer {
	struct store *store;
	int max_clusters;
	struct events *events;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t work;
	struct write_job *head, **tail;
	bool stopping;
};

/* Takes the first job off the queue, and with a create the creates right
 * behind it (up to BATCH_MAX); mu held. Returns how many. */
static size_t take(struct writer *w, struct write_job **out)
{
	struct write_job *first = w->head, *last = first;
	size_t n = 1;
	while (first->kind == WRITE_CREATE && n < BATCH_MAX && last->next &&
	       last->next->kind == WRITE_CREATE) {
		last = last->next;
		n++;
	}
	w->head = last->next;
	if (!w->head)
		w->tail = &w->head;
	last->next = NULL;
	*out = first;
	return n;
}

/* gen: the committed generation (0: not known); the event's data carries it. */
static void publish(struct writer *w, enum write_kind kind, const char *name, const char *token,
                    int64_t gen)
{
	static const enum event_kind kinds[] = {
	        [WRITE_CREATE] = EV_CLUSTER_CREATED,
	        [WRITE_UPDATE] = EV_CLUSTER_CHANGED,
	        [WRITE_ROTATE] = EV_TOKEN_ROTATED,
	        [WRITE_DELETE] = EV_CLUSTER_DELETED,
	};
	json_t *data = gen ? json_pack("{s:I}", "generation", (json_int_t)gen) : NULL;
	struct event ev = {.kind = kinds[kind],
	                   .cluster = name,
	                   .cluster_id = "",
	                   .token = token,
	                   .data = data};
	events_publish(w->events, &ev);
	json_decref(data);
}

/* Runs one job that is not a create, publishes it when committed. */
static void run_one(struct writer *w, struct write_job *j)
{
	char token[33] = "";
	switch (j->kind) {
	case WRITE_UPDATE:
		j->result =
		        store_cluster_update(w->store, j->name, j->mutate, j->mutate_arg, &j->out);
		break;
	case WRITE_ROTATE:
		j->result = store_cluster_rotate_token(w->store, j->name, j->token, j->grace_until,
		                                       &j->out);
		break;
	case WRITE_DELETE:
		j->result = store_cluster_delete(w->store, j->name, token);
		break;
	case WRITE_CREATE:
		break; /* batched by run_creates */
	}
	if (j->result == K_OK)
		publish(w, j->kind, j->name,
		        j->kind == WRITE_DELETE ? token : j->out.discovery_token,
		        j->kind == WRITE_DELETE ? 0 : j->out.generation);
}

/* Commits a batch of creates in one transaction, publishes each stored one. */
static void run_creates(struct writer *w, struct write_job *batch, size_t n)
{
	const struct cluster *cls[BATCH_MAX] = {0};
	enum kerr results[BATCH_MAX];
	size_t i = 0;
	for (struct write_job *j = batch; j; j = j->next)
		cls[i++] = j->create;
	store_clusters_create(w->store, cls, n, w->max_clusters, results);
	i = 0;
	for (struct write_job *j = batch; j; j = j->next, i++) {
		j->result = results[i];
		if (j->result == K_OK)
			publish(w, WRITE_CREATE, j->create->name, j->create->discovery_token, 1);
	}
}

/* Calls done for each job of a list; done may free the job. */
static void report(struct write_job *list)
{
	while (list) {
		struct write_job *j = list;
		list = j->next;
		j->next = NULL;
		j->done(j);
	}
}

/* Fails every queued job with e; mu held on entry, released meanwhile. */
static void fail_queued(struct writer *w, enum kerr e)
{
	struct write_job *list = w->head;
	w->head = NULL;
	w->tail = &w->head;
	pthread_mutex_unlock(&w->mu);
	for (struct write_job *j = list; j; j = j->next)
		j->result = e;
	report(list);
	pthread_mutex_lock(&w->mu);
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->head && !w->stopping)
			pthread_cond_wait(&w->work, &w->mu);
		if (!w->head)
			break; /* stopping, nothing left */
		struct write_job *batch;
		size_t n = take(w, &batch);
		pthread_mutex_unlock(&w->mu);
		if (batch->kind == WRITE_CREATE)
			run_creates(w, batch, n);
		else
			run_one(w, batch);
		bool busy = batch->result == K_EUNAVAIL;
		report(batch);
		pthread_mutex_lock(&w->mu);
		/* The database stayed locked for a whole busy timeout: what queued
		 * up meanwhile would wait as long again, each. Answer it now (503:
		 * retry) rather than after minutes. */
		if (busy)
			fail_queued(w, K_EUNAVAIL);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

enum kerr writer_start(struct store *s, int max_clusters, struct events *ev, struct writer **out)
{
	struct writer *w = calloc(1, sizeof(*w));
	if (!w)
		return K_ENOMEM;
	w->store = s;
	w->max_clusters = max_clusters;
	w->events = ev;
	w->tail = &w->head;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work, NULL);
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		pthread_cond_destroy(&w->work);
		pthread_mutex_destroy(&w->mu);
		free(w);
		return K_EIO;
	}
	w->started = true;
	*out = w;
	return K_OK;
}

void writer_submit(struct writer *w, struct write_job *job)
{
	job->next = NULL;
	memset(&job->out, 0, sizeof(job->out));
	pthread_mutex_lock(&w->mu);
	if (w->stopping) {
		pthread_mutex_unlock(&w->mu);
		job->result = K_EUNAVAIL;
		job->done(job);
		return;
	}
	*w->tail = job;
	w->tail = &job->next;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
}

void writer_stop(struct writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
	if (w->started)
		pthread_join(w->thread, NULL);
	w->started = false;
}

void writer_free(struct writer **wp)
{
	if (!wp || !*wp)
		return;
	struct writer *w = *wp;
	writer_stop(w);
	pthread_cond_destroy(&w->work);
	pthread_mutex_destroy(&w->mu);
	free(w);
	*wp = NULL;
}
