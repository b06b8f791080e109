/* writer.h - cluster writes (create, change, rotate, delete), committed off the
 * HTTP threads by one writer thread, and published once they are committed. */
#ifndef KINDLING_WRITER_H
#define KINDLING_WRITER_H

#include "err.h"
#include "events.h"
#include "store.h"

/* A queue of writes and the thread that commits them: consecutive creates
 * share a transaction (one fsync); while one write waits for the disk or for
 * a lock held elsewhere, no HTTP worker waits with it. */
struct writer;

enum write_kind { WRITE_CREATE, WRITE_UPDATE, WRITE_ROTATE, WRITE_DELETE };

/*
 * One write. The submitter fills the inputs of its kind and done, keeps the
 * job (and what it points to) valid and unchanged until done(job) has run,
 * and then owns the outputs (release out with cluster_clear).
 */
struct write_job {
	enum write_kind kind;
	const struct cluster *create; /* CREATE: the cluster to insert */
	const char *name;             /* UPDATE, ROTATE, DELETE */
	store_mutate_fn mutate;       /* UPDATE: changes the row (see store.h) */
	void *mutate_arg;
	const char *token;   /* ROTATE: the new fetch token */
	int64_t grace_until; /* ROTATE: the current token stays valid until (ms) */

	enum kerr result;   /* K_OK or what the store said; K_EUNAVAIL: busy or stopping */
	struct cluster out; /* UPDATE, ROTATE: the row as committed */
	/* called on the writer thread once the outcome is known */
	void (*done)(struct write_job *job);
	struct write_job *next; /* the writer's */
};

/*
 * Starts the writer thread. Every committed write is published to ev (which
 * may be NULL) on that thread, before that write's done runs. K_OK,
 * K_ENOMEM, K_EIO (no thread).
 */
enum kerr writer_start(struct store *s, int max_clusters, struct events *ev, struct writer **out);

/* Queues job; never blocks on the database. Once writer_stop has begun,
 * done(job) runs at once, on the caller's thread, with K_EUNAVAIL. */
void writer_submit(struct writer *w, struct write_job *job);

/* Commits what is queued (each done is called) and stops the thread; later
 * submits are refused as above. Accepts NULL. */
void writer_stop(struct writer *w);

/* Stops (if not yet), frees and NULLs *w. Accepts NULL. */
void writer_free(struct writer **w);

#endif
