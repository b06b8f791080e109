/* events.h - committed changes, published once they are durable, to the
 * modules that keep copies (rendered configs, discovery directories, parked
 * watches, event streams). */
#ifndef KINDLING_EVENTS_H
#define KINDLING_EVENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"

enum event_kind {
	EV_CLUSTER_CREATED,
	EV_CLUSTER_CHANGED, /* vars, secrets or profiles: a new generation */
	EV_TOKEN_ROTATED,
	EV_CLUSTER_DELETED,
	EV_MEMBER_REGISTERED, /* a discovery registration, with its index */
	EV_DIRECTORY_DELETED, /* a discovery directory (with or without its cluster) */
	EV_CONFIG_FETCHED,    /* a node was served its config (recorded in the fetch log) */
	EV_NODE_REPORTED,     /* a node's boot report was stored (report.h) */
	EV_MEMBER_REPLACED,   /* a node reported it replaced a member (cluster_members) */
	/* Events may have been missed (a replica's listening connection to the
	 * database dropped and is back): drop every copy, re-check every waiter. */
	EV_RESYNC,
	EV_NKINDS
};

/* One committed change. Everything is borrowed for the call only. A
 * publisher sets what it knows of the cluster: its name, its id, or its
 * discovery token ("" for what it does not know). */
struct event {
	enum event_kind kind;
	const char *cluster;    /* the cluster's name */
	const char *cluster_id; /* its id */
	const char *token;      /* its discovery token */
	int64_t index;          /* MEMBER_REGISTERED: the registration's index; else 0 */
	int64_t at;             /* when, ms since the epoch (0: now) */
	const json_t *data;     /* more about it, for event streams; NULL: nothing */
	bool remote;            /* committed by another replica (through the database) */
};

/* Called on the publishing thread (a writer thread or the database listener):
 * must be quick and must not publish. */
typedef void (*event_fn)(void *arg, const struct event *ev);

/* A fixed list of subscribers, set up before anything publishes. */
struct events;

/* K_OK or K_ENOMEM. */
enum kerr events_new(struct events **out);

/* Adds a subscriber; only before the first events_publish (setup is
 * single-threaded). K_OK, or K_ENOMEM past the fixed capacity. */
enum kerr events_subscribe(struct events *e, event_fn fn, void *arg);

/* Calls every subscriber, in the order they subscribed, on this thread.
 * Accepts e NULL (nothing subscribed). Thread-safe. */
void events_publish(struct events *e, const struct event *ev);

/* Frees and NULLs *e. Accepts NULL. */
void events_free(struct events **e);

/* The kind's name ("cluster-created", ...), and back: false for an unknown
 * name. For logs and for the database's notification payloads. */
const char *event_kind_name(enum event_kind k);
bool event_kind_parse(const char *s, enum event_kind *out);

#endif
