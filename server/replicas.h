/* replicas.h - other replicas' committed changes (the store's change feed)
 * published on the event bus as remote events. */
#ifndef KINDLING_REPLICAS_H
#define KINDLING_REPLICAS_H

#include "err.h"
#include "events.h"
#include "store.h"

/*
 * Publishes every change another process commits to s's database on ev,
 * with remote set, on the store's listener thread; "resync" (the feed was
 * broken and is back) as EV_RESYNC. Subscribe everything to ev first.
 * SQLite: nothing to publish. K_OK, K_ENOMEM, K_EIO (no thread).
 */
enum kerr replicas_start(struct store *s, struct events *ev);

/* Stops publishing (before the subscribers go). Accepts NULL. */
void replicas_stop(struct store *s);

#endif
