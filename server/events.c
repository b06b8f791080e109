/* events.c - the subscriber list and the kind names.
 *
 * The list is written only while the server is set up, before any thread
 * publishes, and read-only afterwards: publishing takes no lock. */
#include "events.h"

#include <stdlib.h>
#include <string.h>

#define SUBSCRIBERS_MAX 16

struct events {
	struct {
		event_fn fn;
		void *arg;
	} subs[SUBSCRIBERS_MAX];
	size_t n;
};

static const char *const kind_names[EV_NKINDS] = {
        [EV_CLUSTER_CREATED] = "cluster-created",     [EV_CLUSTER_CHANGED] = "cluster-changed",
        [EV_TOKEN_ROTATED] = "token-rotated",         [EV_CLUSTER_DELETED] = "cluster-deleted",
        [EV_MEMBER_REGISTERED] = "member-registered", [EV_DIRECTORY_DELETED] = "directory-deleted",
        [EV_CONFIG_FETCHED] = "config-fetched",       [EV_RESYNC] = "resync",
        [EV_NODE_REPORTED] = "node-reported",         [EV_MEMBER_REPLACED] = "member-replaced",
};

enum kerr events_new(struct events **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? K_OK : K_ENOMEM;
}

enum kerr events_subscribe(struct events *e, event_fn fn, void *arg)
{
	if (e->n == SUBSCRIBERS_MAX)
		return K_ENOMEM;
	e->subs[e->n].fn = fn;
	e->subs[e->n].arg = arg;
	e->n++;
	return K_OK;
}

void events_publish(struct events *e, const struct event *ev)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n; i++)
		e->subs[i].fn(e->subs[i].arg, ev);
}

void events_free(struct events **e)
{
	if (!e)
		return;
	free(*e);
	*e = NULL;
}

const char *event_kind_name(enum event_kind k)
{
	return (unsigned)k < EV_NKINDS ? kind_names[k] : "unknown";
}

bool event_kind_parse(const char *s, enum event_kind *out)
{
	for (int k = 0; k < EV_NKINDS; k++)
		if (!strcmp(s, kind_names[k])) {
			*out = (enum event_kind)k;
			return true;
		}
	return false;
}
