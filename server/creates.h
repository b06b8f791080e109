/* creates.h - cluster creates, committed in batches off the HTTP threads. */
#ifndef KINDLING_CREATES_H
#define KINDLING_CREATES_H

#include "err.h"
#include "store.h"

/* A queue of creates and the thread that commits them: while one batch is
 * being fsync'd the next gathers, so concurrent creates share a commit and an
 * HTTP worker never waits for the disk. */
struct creates;

/* Called once per submitted create, on the writer thread, with what
 * store_clusters_create said of it. */
typedef void (*create_done_fn)(void *arg, enum kerr result);

/* Starts the writer thread. K_OK, K_ENOMEM, K_EIO (no thread). */
enum kerr creates_start(struct store *s, int max_clusters, struct creates **out);

/* Queues c, which must stay valid and unchanged until done(arg, result) has
 * been called. Never blocks on the database. */
void creates_submit(struct creates *w, const struct cluster *c, create_done_fn done, void *arg);

/* Commits what is queued, calls every done, stops the thread, frees, NULLs
 * *w. Accepts NULL. */
void creates_stop(struct creates **w);

#endif
