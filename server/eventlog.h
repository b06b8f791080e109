/* eventlog.h - the recent events of every cluster, numbered, for event
 * streams: a bounded history to resume from (Last-Event-ID), and watchers
 * woken when a matching event arrives or every keep-alive period. */
#ifndef KINDLING_EVENTLOG_H
#define KINDLING_EVENTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "events.h"

/* Thread-safe; one per process, an events subscriber. */
struct eventlog;

/* Keeps the newest capacity events; wakes every watcher each keepalive_s
 * seconds (a thread). K_OK, K_ENOMEM, K_EIO (no thread). */
enum kerr eventlog_new(size_t capacity, int keepalive_s, struct eventlog **out);

/* Stops the thread, frees and NULLs *l. No watcher may remain. Accepts NULL. */
void eventlog_free(struct eventlog **l);

/* The events subscriber (arg: the eventlog): numbers and keeps ev. */
void eventlog_on_event(void *arg, const struct event *ev);

/* What a stream follows: one cluster, by its name, id and discovery token
 * (an event matches when one of them does). Copied by eventlog_watch. */
struct eventlog_filter {
	char cluster[64];
	char cluster_id[37];
	char token[33];
};

/*
 * The next kept event matching f numbered above after: its SSE text
 * ("id: N\nevent: KIND\ndata: JSON\n\n", malloc'd, *out_len bytes), or
 * NULL when there is none (yet, or out of memory). *out_id gets its number,
 * or with NULL the newest number looked at (the caller's next after).
 * *out_gap becomes true when events above after were already dropped from
 * the history; *out_deleted when the event says the cluster was deleted.
 */
char *eventlog_next(struct eventlog *l, const struct eventlog_filter *f, uint64_t after,
                    size_t *out_len, uint64_t *out_id, bool *out_gap, bool *out_deleted);

/* The newest number given out (0: none yet). */
uint64_t eventlog_last_id(struct eventlog *l);

/*
 * Event ids are "<start>-<n>": start is when this log began (ms, hex), so a
 * restarted kindling's numbers never pass for the old ones. Reads a
 * Last-Event-ID: *out_after gets the number to continue after. Returns
 * false for a malformed id; *out_gap becomes true for an id of another
 * start (the history from then is gone: everything kept is given, after 0).
 */
bool eventlog_parse_id(struct eventlog *l, const char *id, uint64_t *out_after, bool *out_gap);

/* A watcher: wake(arg) runs, under the log's lock, after each matching
 * event and every keep-alive period. wake must be quick and must not call
 * back into the log. NULL on ENOMEM. */
struct eventlog_watch;
struct eventlog_watch *eventlog_watch(struct eventlog *l, const struct eventlog_filter *f,
                                      void (*wake)(void *arg), void *arg);
/* Removes the watcher: once it returns, wake will not run for it again.
 * NULLs *w. Accepts NULL. */
void eventlog_unwatch(struct eventlog *l, struct eventlog_watch **w);

/* Watchers now. */
size_t eventlog_watchers(struct eventlog *l);

#endif
