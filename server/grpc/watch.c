/* watch.c - /etcdserverpb.Watch/Watch: many watches per stream, on discovery subscriptions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "etcd.pb-c.h"
#include "keys.h"

/*
 * A watch is a discovery subscription of the token its key names, filtered
 * by its range. Events reach the loop through grpc_post in index order; the
 * created response is queued before the subscription's first event can run.
 * A key naming no existing token is watched like any key nobody writes: it is
 * created and never fires.
 */

struct watch {
	struct watch *next;
	int64_t id;
	uint64_t seq; /* unique in the stream: posts find their watch by it */
	struct grpc_server *g;
	uint64_t serial; /* the call's */
	char token[33];
	uint8_t *key, *end;
	size_t klen, elen;
	bool noput;
	struct disc_sub *sub;
};

struct wstream {
	struct watch *list;
	size_t n;
	int64_t next_id;
	uint64_t next_seq;
};

/* An event (or the end of a subscription) on its way to the loop. */
struct wevent {
	struct grpc_post post;
	uint64_t seq;
	enum disc_status why; /* DISC_OK: an event; otherwise the subscription ended */
	char *kv;             /* key NUL value NUL */
	size_t klen, vlen;
	int64_t rev;
};

static void header(Etcdserverpb__ResponseHeader *h, int64_t rev)
{
	etcdserverpb__response_header__init(h);
	h->cluster_id = GRPC_CLUSTER_ID;
	h->member_id = GRPC_MEMBER_ID;
	h->revision = rev;
	h->raft_term = 2;
}

/* Sends one WatchResponse without events. */
static void send_status(struct call *c, int64_t id, int64_t rev, bool created, bool canceled,
                        const char *reason)
{
	Etcdserverpb__ResponseHeader h;
	header(&h, rev);
	Etcdserverpb__WatchResponse rs = ETCDSERVERPB__WATCH_RESPONSE__INIT;
	rs.header = &h;
	rs.watch_id = id;
	rs.created = created;
	rs.canceled = canceled;
	rs.cancel_reason = (char *)(reason ? reason : "");
	call_send(c, &rs.base);
}

static void send_event(struct call *c, int64_t id, const char *key, size_t klen, const char *value,
                       size_t vlen, int64_t rev)
{
	Etcdserverpb__ResponseHeader h;
	header(&h, rev);
	Etcdserverpb__KeyValue kv = ETCDSERVERPB__KEY_VALUE__INIT;
	kv.key.data = (uint8_t *)key;
	kv.key.len = klen;
	kv.value.data = (uint8_t *)value;
	kv.value.len = vlen;
	kv.create_revision = kv.mod_revision = rev;
	kv.version = 1;
	Etcdserverpb__Event ev = ETCDSERVERPB__EVENT__INIT;
	ev.type = ETCDSERVERPB__EVENT__EVENT_TYPE__PUT;
	ev.kv = &kv;
	Etcdserverpb__Event *evs[] = {&ev};
	Etcdserverpb__WatchResponse rs = ETCDSERVERPB__WATCH_RESPONSE__INIT;
	rs.header = &h;
	rs.watch_id = id;
	rs.n_events = 1;
	rs.events = evs;
	call_send(c, &rs.base);
}

static void watch_free(struct call *c, struct watch *w)
{
	discovery_unsubscribe(call_discovery(c), &w->sub);
	free(w->key);
	free(w->end);
	free(w);
}

/* Unlinks the watch with id (or seq when by_seq) and returns it, or NULL. */
static struct watch *unlink_watch(struct wstream *ws, int64_t id, uint64_t seq, bool by_seq)
{
	for (struct watch **p = &ws->list; *p; p = &(*p)->next) {
		if (by_seq ? (*p)->seq == seq : (*p)->id == id) {
			struct watch *w = *p;
			*p = w->next;
			ws->n--;
			return w;
		}
	}
	return NULL;
}

static struct watch *find_watch(struct wstream *ws, uint64_t seq)
{
	for (struct watch *w = ws->list; w; w = w->next)
		if (w->seq == seq)
			return w;
	return NULL;
}

static void wevent_release(struct grpc_post *p)
{
	struct wevent *e = (struct wevent *)p;
	free(e->kv);
	free(e);
}

static void wevent_run(struct call *c, struct grpc_post *p)
{
	struct wevent *e = (struct wevent *)p;
	struct wstream *ws = c ? call_data(c) : NULL;
	struct watch *w = ws ? find_watch(ws, e->seq) : NULL;
	if (!w || call_finished(c))
		return; /* cancelled or ended meanwhile */
	if (e->why == DISC_OK) {
		send_event(c, w->id, e->kv, e->klen, e->kv + e->klen + 1, e->vlen, e->rev);
		return;
	}
	unlink_watch(ws, 0, e->seq, true);
	send_status(c, w->id, e->rev, false, true,
	            e->why == DISC_NOT_FOUND ? "kindling: the discovery token was deleted"
	                                     : "kindling: discovery lost events; watch again");
	watch_free(c, w);
}

/* discovery's subscription callback: under its lock, on any thread. */
static void on_event(void *arg, const struct disc_event *ev)
{
	struct watch *w = arg;
	char key[sizeof(KEYS_REGISTRY) + 32 + 9 + 33];
	int kl = 0;
	if (ev->m) {
		kl = snprintf(key, sizeof(key), KEYS_REGISTRY "%s/members/%s", ev->token,
		              ev->m->id);
		if (kl < 0 || (size_t)kl >= sizeof(key) || w->noput ||
		    !keys_in_range((const uint8_t *)key, (size_t)kl, w->key, w->klen, w->end,
		                   w->elen))
			return;
	}
	struct wevent *e = calloc(1, sizeof(*e));
	size_t vl = ev->m ? strlen(ev->m->value) : 0;
	if (e && ev->m) {
		e->kv = malloc((size_t)kl + vl + 2);
		if (e->kv) {
			memcpy(e->kv, key, (size_t)kl + 1);
			memcpy(e->kv + kl + 1, ev->m->value, vl + 1);
		}
	}
	if (!e || (ev->m && !e->kv)) {
		/* nothing can be told now; the watch would silently miss the event */
		free(e);
		return;
	}
	e->post.serial = w->serial;
	e->post.run = wevent_run;
	e->post.release = wevent_release;
	e->seq = w->seq;
	e->why = ev->m ? DISC_OK : ev->why;
	e->klen = (size_t)kl;
	e->vlen = vl;
	e->rev = ev->m ? ev->m->created_index : 0;
	grpc_post(w->g, &e->post);
}

static bool id_in_use(const struct wstream *ws, int64_t id)
{
	for (const struct watch *w = ws->list; w; w = w->next)
		if (w->id == id)
			return true;
	return false;
}

static uint8_t *dup_bytes(const ProtobufCBinaryData *b)
{
	uint8_t *p = malloc(b->len ? b->len : 1);
	if (p && b->len)
		memcpy(p, b->data, b->len);
	return p;
}

/* The size key, for a watch from revision 1 whose range holds it. */
struct size_read {
	int size;
};

static void read_size(void *arg, const struct store_dir *dir)
{
	((struct size_read *)arg)->size = dir->size;
}

static void rev_of(void *arg, const struct store_dir *dir)
{
	*(int64_t *)arg = dir->last_index;
}

static int64_t token_revision(struct call *c, const char *token)
{
	int64_t rev = 1;
	if (token[0] && discovery_read(call_discovery(c), token, rev_of, &rev) != K_OK)
		rev = 1;
	return rev;
}

static void create_watch(struct call *c, struct wstream *ws,
                         const Etcdserverpb__WatchCreateRequest *rq)
{
	int64_t id = rq->watch_id;
	if (id != 0 && id_in_use(ws, id)) {
		send_status(c, id, 1, true, true, "etcdserver: duplicate watch ID");
		return;
	}
	if (id == 0) {
		while (id_in_use(ws, ws->next_id))
			ws->next_id++;
		id = ws->next_id++;
	}
	if (ws->n >= (size_t)call_options(c)->max_watches) {
		send_status(c, id, 1, true, true, "kindling: too many watches on this stream");
		return;
	}
	struct watch *w = calloc(1, sizeof(*w));
	if (w) {
		w->key = dup_bytes(&rq->key);
		w->end = dup_bytes(&rq->range_end);
	}
	if (!w || !w->key || !w->end) {
		if (w) {
			free(w->key);
			free(w->end);
		}
		free(w);
		send_status(c, id, 1, true, true, "kindling: out of memory");
		return;
	}
	w->klen = rq->key.len;
	w->elen = rq->range_end.len;
	w->id = id;
	w->seq = ++ws->next_seq;
	w->g = call_server(c);
	w->serial = call_serial(c);
	for (size_t i = 0; i < rq->n_filters; i++)
		if (rq->filters[i] == ETCDSERVERPB__WATCH_CREATE_REQUEST__FILTER_TYPE__NOPUT)
			w->noput = true;
	char id_buf[33];
	keys_parse(rq->key.data, rq->key.len, w->token, id_buf);
	int64_t rev = 1;
	if (w->token[0]) {
		enum kerr e = discovery_subscribe(call_discovery(c), w->token, rq->start_revision,
		                                  on_event, w, &w->sub, &rev);
		if (e == K_ENOTFOUND) {
			rev = 1;
		} else if (e != K_OK) {
			send_status(c, id, 1, true, true,
			            e == K_ELIMIT ? "kindling: too many watches held; retry"
			                          : "kindling: discovery is busy; retry");
			watch_free(c, w);
			return;
		}
	}
	w->next = ws->list;
	ws->list = w;
	ws->n++;
	send_status(c, id, rev, true, false, NULL);
	/* the size key was created at revision 1, before any registration */
	if (w->sub && rq->start_revision == 1 && !w->noput) {
		char key[sizeof(KEYS_REGISTRY) + 32 + 14];
		int kl = snprintf(key, sizeof(key), KEYS_REGISTRY "%s/_config/size", w->token);
		struct size_read sr = {0};
		if (kl > 0 &&
		    keys_in_range((const uint8_t *)key, (size_t)kl, w->key, w->klen, w->end,
		                  w->elen) &&
		    discovery_read(call_discovery(c), w->token, read_size, &sr) == K_OK) {
			char v[16];
			int vl = snprintf(v, sizeof(v), "%d", sr.size);
			send_event(c, id, key, (size_t)kl, v, vl > 0 ? (size_t)vl : 0, 1);
		}
	}
}

static void watch_message(struct call *c, const uint8_t *msg, size_t len)
{
	struct wstream *ws = call_data(c);
	if (!ws) {
		ws = calloc(1, sizeof(*ws));
		if (!ws) {
			call_finish(c, GRPC_UNAVAILABLE, "kindling: out of memory; retry");
			return;
		}
		call_set_data(c, ws);
	}
	Etcdserverpb__WatchRequest *rq = etcdserverpb__watch_request__unpack(NULL, len, msg);
	if (!rq) {
		call_finish(c, GRPC_INTERNAL, "grpc: error unmarshalling request");
		return;
	}
	switch (rq->request_union_case) {
	case ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST:
		create_watch(c, ws, rq->create_request);
		break;
	case ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CANCEL_REQUEST: {
		struct watch *w = unlink_watch(ws, rq->cancel_request->watch_id, 0, false);
		if (w) {
			send_status(c, w->id, token_revision(c, w->token), false, true, NULL);
			watch_free(c, w);
		}
		break;
	}
	case ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_PROGRESS_REQUEST:
		/* etcd answers a progress request with watch_id -1 and the revision */
		send_status(c, -1, token_revision(c, ws->list ? ws->list->token : ""), false, false,
		            NULL);
		break;
	default:
		break;
	}
	etcdserverpb__watch_request__free_unpacked(rq, NULL);
}

static void watch_half_close(struct call *c)
{
	call_finish(c, GRPC_OK, NULL);
}

static void watch_close(struct call *c)
{
	struct wstream *ws = call_data(c);
	if (!ws)
		return;
	while (ws->list) {
		struct watch *w = ws->list;
		ws->list = w->next;
		watch_free(c, w);
	}
	free(ws);
	call_set_data(c, NULL);
}

const struct grpc_method grpc_method_watch = {
        .path = "/etcdserverpb.Watch/Watch",
        .client_streaming = true,
        .on_message = watch_message,
        .on_half_close = watch_half_close,
        .on_close = watch_close,
};
