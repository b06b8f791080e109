/* replicas.c - the store's change feed turned into remote events. */
#include "replicas.h"

#include <jansson.h>

/* One change of another replica, as an event (unknown kinds are skipped:
 * a newer replica may send more). */
static void on_change(void *arg, const struct store_change *c)
{
	struct events *ev = arg;
	enum event_kind k;
	if (!event_kind_parse(c->kind, &k))
		return;
	json_t *data = NULL;
	if (k == EV_MEMBER_REGISTERED)
		data = json_pack("{s:s, s:I}", "id", c->member, "index", (json_int_t)c->index);
	else if (k == EV_NODE_REPORTED)
		data = json_pack("{s:s}", "node", c->member ? c->member : "");
	else if (k == EV_MEMBER_REPLACED)
		data = json_pack("{s:s}", "member", c->member ? c->member : "");
	else if (c->generation)
		data = json_pack("{s:I}", "generation", (json_int_t)c->generation);
	struct event e = {.kind = k,
	                  .cluster = c->cluster,
	                  .cluster_id = c->cluster_id,
	                  .token = c->token,
	                  .index = c->index,
	                  .at = c->at,
	                  .data = data,
	                  .remote = true};
	events_publish(ev, &e);
	json_decref(data);
}

enum kerr replicas_start(struct store *s, struct events *ev)
{
	return store_listen(s, on_change, ev);
}

void replicas_stop(struct store *s)
{
	store_unlisten(s);
}
