/* fetchlog.h - records node config fetches off the hot path, in batches. */
#ifndef KINDLING_FETCHLOG_H
#define KINDLING_FETCHLOG_H

#include "err.h"
#include "events.h"
#include "store.h"

/* A queue and the thread that writes it to the store about every 200 ms. */
struct fetchlog;

/* Starts the writer thread. keep = rows kept per cluster. K_OK, K_ENOMEM, K_EIO. */
enum kerr fetchlog_start(struct store *s, int keep, struct events *ev, struct fetchlog **out);

/* Queues one served fetch of generation (strings copied, truncated to sane lengths): the
 * record of the nodes that booted, so refused fetches do not belong here.
 * Never blocks on the database; when the queue is full the fetch is dropped
 * and counted. */
void fetchlog_add(struct fetchlog *f, const char *cluster_id, const char *client,
                  const char *user_agent, const char *version, int status, int64_t generation);

/* Writes what is queued now and returns when it is on disk, or after at
 * most a second (for pages that want fresh counts). */
void fetchlog_flush(struct fetchlog *f);

/* Fetches dropped because the queue was full. */
unsigned long long fetchlog_dropped(const struct fetchlog *f);

/* Flushes, stops the thread, frees, NULLs *f. Accepts NULL. */
void fetchlog_stop(struct fetchlog **f);

#endif
