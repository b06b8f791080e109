/* discovery.c - etcd v2 discovery semantics on top of the store.
 *
 * Directories are cached with their parked watches (v2) and subscriptions
 * (v3). Registrations through this process are applied to the cache after
 * commit; those of other replicas (remote member-registered events) make
 * the cached directory be read again, and the members it did not have are
 * applied the same way, in index order, waking what waits for them. After
 * EV_RESYNC (the change feed was broken) every cached directory is read
 * again, and while the feed is down (store_feed_stamp 0) a cached
 * directory is read again before each use, so nothing is answered from a
 * copy that may have missed a change (the database away: 503).
 */
#include "discovery.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define BUCKETS   1024
#define DIRS_MAX  8192 /* cached directories; those without watches are dropped past it */
#define BATCH_MAX 256  /* registrations per group commit */
#define REGISTRY  "/_etcd/registry/"

/* One parked watch: there may be tens of thousands, so the member id is
 * sized to what it is ("" for a recursive watch), not to the longest. */
struct waiter {
	struct waiter *next;
	int64_t wait_index;
	int64_t x_index; /* X-Etcd-Index when the watch began */
	int64_t deadline;
	disc_done_fn done;
	void *arg;
	bool recursive;
	char key[]; /* at most 32 characters */
};

struct disc_sub {
	struct disc_sub *next, *prev;
	struct dir *x; /* NULL once ended (directory gone, cache lost) */
	int64_t from;
	disc_event_fn fn;
	void *arg;
};

struct dir {
	struct dir *next;
	char token[33];
	struct store_dir d;
	struct waiter *waiters;
	struct disc_sub *subs; /* a directory with subscriptions stays cached */
	char *listing;         /* the directory's GET body, built on first ask, dropped on change */
	size_t listing_len;
};

struct pending {
	struct pending *next;
	char token[33];
	char id[33];
	char *value;
	disc_done_fn done;
	void *arg;
};

/* A reply to deliver after the lock is released. */
struct delivery {
	struct delivery *next;
	disc_done_fn done;
	void *arg;
	struct disc_reply reply;
};

struct discovery {
	struct store *store;
	struct discovery_options o;
	pthread_mutex_t mu; /* everything below */
	struct dir *b[BUCKETS];
	size_t ndirs;
	size_t nwaiters;
	size_t nsubs;
	struct pending *head, **tail;
	pthread_cond_t work; /* writer: pending registrations or stop */
	pthread_cond_t tick; /* reaper: stop */
	bool stopping;
	bool draining;
	bool joined; /* discovery_stop joined the threads */
	pthread_t writer, reaper;
	struct delivery *late; /* replies queued under mu by get_dir: unlock() delivers them */
};

void disc_reply_clear(struct disc_reply *r)
{
	if (!r)
		return;
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

static size_t bucket(const char *token)
{
	return str_hash(token) % BUCKETS;
}

/* Serializes j (stolen) into r. */
static void set_body(struct disc_reply *r, enum disc_status st, int64_t index, json_t *j)
{
	r->status = st;
	r->index = index;
	r->body = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	r->len = r->body ? strlen(r->body) : 0;
	json_decref(j);
	if (!r->body && st != DISC_EMPTY) {
		r->status = DISC_BUSY;
		r->len = 0;
	}
}

/* An etcd error body: {"errorCode", "message", "cause", "index"}. */
static void set_error(struct disc_reply *r, enum disc_status st, const char *token, const char *key,
                      int64_t index)
{
	int code = st == DISC_EXISTS ? 105 : st == DISC_FULL ? 403 : 100;
	const char *msg = st == DISC_EXISTS ? "Key already exists"
	                  : st == DISC_FULL ? "Too many registrations in this discovery directory"
	                                    : "Key not found";
	json_t *cause = key ? json_sprintf(REGISTRY "%s/%s", token, key)
	                    : json_sprintf(REGISTRY "%s", token);
	set_body(r, st, index,
	         json_pack("{s:i, s:s, s:o, s:I}", "errorCode", code, "message", msg, "cause",
	                   cause, "index", (json_int_t)index));
}

static json_t *member_node(const char *token, const struct store_member *m)
{
	return json_pack("{s:o, s:s, s:I, s:I}", "key",
	                 json_sprintf(REGISTRY "%s/%s", token, m->id), "value", m->value,
	                 "modifiedIndex", (json_int_t)m->created_index, "createdIndex",
	                 (json_int_t)m->created_index);
}

/* The create event of member m. */
static void set_event(struct disc_reply *r, const char *token, const struct store_member *m,
                      int64_t x_index)
{
	set_body(r, DISC_OK, x_index,
	         json_pack("{s:s, s:o}", "action", "create", "node", member_node(token, m)));
}

static struct dir *find_dir(struct discovery *d, const char *token)
{
	for (struct dir *x = d->b[bucket(token)]; x; x = x->next)
		if (!strcmp(x->token, token))
			return x;
	return NULL;
}

static void dir_free(struct dir *x)
{
	store_dir_clear(&x->d);
	free(x->listing);
	free(x);
}

/* Drops the cached directories of a bucket that nobody watches; mu held. */
static void shed(struct discovery *d, size_t b)
{
	for (struct dir **p = &d->b[b]; *p;) {
		if (!(*p)->waiters && !(*p)->subs) {
			struct dir *x = *p;
			*p = x->next;
			dir_free(x);
			d->ndirs--;
		} else {
			p = &(*p)->next;
		}
	}
}

static enum kerr sync_dir(struct discovery *d, struct dir *x, struct delivery **out);
static void drop_dir(struct discovery *d, const char *token, enum disc_status st,
                     struct delivery **out);

/*
 * The cached directory of token, loaded from the store when missing (and
 * read again while the change feed is down); mu held
 * throughout (a load is one indexed read), so a registration committed
 * meanwhile is either in the loaded copy or applied after it. NULL with
 * *out_err = K_ENOTFOUND / K_EIO / K_ENOMEM.
 */
static struct dir *get_dir(struct discovery *d, const char *token, enum kerr *out_err)
{
	struct dir *x = find_dir(d, token);
	*out_err = K_OK;
	if (x && !store_feed_stamp(d->store)) {
		*out_err = sync_dir(d, x, &d->late);
		if (*out_err == K_ENOTFOUND)
			drop_dir(d, token, DISC_NOT_FOUND, &d->late);
		return *out_err == K_OK ? x : NULL;
	}
	if (x)
		return x;
	x = calloc(1, sizeof(*x));
	if (!x) {
		*out_err = K_ENOMEM;
		return NULL;
	}
	*out_err = store_dir_get(d->store, token, &x->d);
	if (*out_err != K_OK) {
		free(x);
		return NULL;
	}
	str_copy(x->token, sizeof(x->token), token);
	size_t b = bucket(token);
	if (d->ndirs >= DIRS_MAX)
		shed(d, b);
	x->next = d->b[b];
	d->b[b] = x;
	d->ndirs++;
	return x;
}

static const struct store_member *find_member(const struct dir *x, const char *id)
{
	for (size_t i = 0; i < x->d.n; i++)
		if (!strcmp(x->d.members[i].id, id))
			return &x->d.members[i];
	return NULL;
}

/* The first event a watch is owed from history, or NULL. */
static const struct store_member *owed(const struct dir *x, bool recursive, const char *key,
                                       int64_t wait_index)
{
	for (size_t i = 0; i < x->d.n; i++) {
		const struct store_member *m = &x->d.members[i];
		if (m->created_index >= wait_index && (recursive || !strcmp(m->id, key)))
			return m;
	}
	return NULL;
}

/* Queues a reply for delivery once mu is released. */
static void deliver_later(struct delivery **list, disc_done_fn done, void *arg,
                          struct disc_reply *r)
{
	struct delivery *dv = malloc(sizeof(*dv));
	if (!dv) {
		/* cannot queue: deliver an empty reply now rather than lose the request */
		disc_reply_clear(r);
		struct disc_reply empty = {DISC_BUSY, r->index, NULL, 0};
		done(arg, &empty);
		return;
	}
	dv->done = done;
	dv->arg = arg;
	dv->reply = *r;
	dv->next = *list;
	*list = dv;
}

static void deliver(struct delivery *list)
{
	while (list) {
		struct delivery *dv = list;
		list = dv->next;
		dv->done(dv->arg, &dv->reply);
		free(dv);
	}
}

/* Releases mu, then delivers the replies get_dir queued meanwhile. */
static void unlock(struct discovery *d)
{
	struct delivery *late = d->late;
	d->late = NULL;
	pthread_mutex_unlock(&d->mu);
	deliver(late);
}

/* Ends every watch of x with status st; mu held. */
static void end_watches(struct discovery *d, struct dir *x, enum disc_status st,
                        struct delivery **out)
{
	while (x->waiters) {
		struct waiter *w = x->waiters;
		x->waiters = w->next;
		struct disc_reply r = {0};
		if (st == DISC_NOT_FOUND)
			set_error(&r, st, x->token, NULL, w->x_index);
		else
			r = (struct disc_reply){st, w->x_index, NULL, 0};
		deliver_later(out, w->done, w->arg, &r);
		free(w);
		d->nwaiters--;
	}
}

/* Tells x's subscribers that they ended (why) and detaches them; mu held. */
static void end_subs(struct dir *x, enum disc_status why)
{
	while (x->subs) {
		struct disc_sub *sub = x->subs;
		x->subs = sub->next;
		sub->next = sub->prev = NULL;
		sub->x = NULL;
		struct disc_event ev = {x->token, NULL, why};
		sub->fn(sub->arg, &ev);
	}
}

/* Locks mu and returns token's directory, or unlocks and fills *r with the
 * reply for a missing one (404/100) or a failed load (busy). */
static struct dir *lock_dir(struct discovery *d, const char *token, struct disc_reply *r)
{
	pthread_mutex_lock(&d->mu);
	enum kerr err;
	struct dir *x = get_dir(d, token, &err);
	if (x)
		return x;
	unlock(d);
	if (err == K_ENOTFOUND)
		set_error(r, DISC_NOT_FOUND, token, NULL, 0);
	else
		r->status = DISC_BUSY;
	return NULL;
}

/* Builds the directory's GET body (x->listing stays NULL without memory); mu held. */
static void build_listing(struct dir *x)
{
	json_t *node =
	        json_pack("{s:o, s:b}", "key", json_sprintf(REGISTRY "%s", x->token), "dir", 1);
	if (x->d.n) {
		json_t *nodes = json_array();
		for (size_t i = 0; i < x->d.n; i++)
			json_array_append_new(nodes, member_node(x->token, &x->d.members[i]));
		json_object_set_new(node, "nodes", nodes);
	}
	json_object_set_new(node, "modifiedIndex", json_integer(1));
	json_object_set_new(node, "createdIndex", json_integer(1));
	struct disc_reply r = {0};
	set_body(&r, DISC_OK, 0, json_pack("{s:s, s:o}", "action", "get", "node", node));
	x->listing = r.body;
	x->listing_len = r.len;
}

void discovery_get(struct discovery *d, const char *token, const char *key, struct disc_reply *out)
{
	memset(out, 0, sizeof(*out));
	struct dir *x = lock_dir(d, token, out);
	if (!x)
		return;
	int64_t index = x->d.last_index;
	if (!key) {
		if (!x->listing)
			build_listing(x);
		out->status = DISC_BUSY;
		out->index = index;
		out->body = x->listing ? malloc(x->listing_len + 1) : NULL;
		if (out->body) {
			memcpy(out->body, x->listing, x->listing_len + 1);
			out->len = x->listing_len;
			out->status = DISC_OK;
		}
	} else if (!strcmp(key, "_config/size")) {
		set_body(out, DISC_OK, index,
		         json_pack("{s:s, s:{s:o, s:o, s:i, s:i}}", "action", "get", "node", "key",
		                   json_sprintf(REGISTRY "%s/_config/size", token), "value",
		                   json_sprintf("%d", x->d.size), "modifiedIndex", 1,
		                   "createdIndex", 1));
	} else {
		const struct store_member *m = find_member(x, key);
		if (m)
			set_body(out, DISC_OK, index,
			         json_pack("{s:s, s:o}", "action", "get", "node",
			                   member_node(token, m)));
		else
			set_error(out, DISC_NOT_FOUND, token, key, index);
	}
	unlock(d);
}

void discovery_watch(struct discovery *d, const char *token, const char *key, int64_t wait_index,
                     disc_done_fn done, void *arg)
{
	struct disc_reply r = {0};
	struct dir *x = lock_dir(d, token, &r);
	if (!x) {
		done(arg, &r);
		return;
	}
	int64_t index = x->d.last_index;
	if (wait_index <= 0)
		wait_index = index + 1; /* "from now", never from the start of history */
	const struct store_member *m = owed(x, key == NULL, key, wait_index);
	if (m) {
		set_event(&r, token, m, index);
		unlock(d);
		done(arg, &r);
		return;
	}
	if (d->draining || d->nwaiters >= (size_t)d->o.max_waiters) {
		r.status = d->draining ? DISC_EMPTY : DISC_BUSY;
		r.index = index;
		unlock(d);
		done(arg, &r);
		return;
	}
	size_t keylen = key ? strnlen(key, 32) : 0;
	struct waiter *w = calloc(1, sizeof(*w) + keylen + 1);
	if (!w) {
		unlock(d);
		r.status = DISC_BUSY;
		done(arg, &r);
		return;
	}
	w->recursive = key == NULL;
	str_copy(w->key, keylen + 1, key ? key : "");
	w->wait_index = wait_index;
	w->x_index = index;
	w->deadline = store_now_ms() + (int64_t)d->o.long_poll_timeout_s * 1000;
	w->done = done;
	w->arg = arg;
	w->next = x->waiters;
	x->waiters = w;
	d->nwaiters++;
	unlock(d);
}

void discovery_put(struct discovery *d, const char *token, const char *id, const char *value,
                   disc_done_fn done, void *arg)
{
	struct disc_reply r = {0};
	struct pending *p = calloc(1, sizeof(*p));
	if (p)
		p->value = strdup(value);
	if (!p || !p->value) {
		if (p)
			free(p);
		r.status = DISC_BUSY;
		done(arg, &r);
		return;
	}
	str_copy(p->token, sizeof(p->token), token);
	str_copy(p->id, sizeof(p->id), id);
	p->done = done;
	p->arg = arg;
	pthread_mutex_lock(&d->mu);
	if (d->stopping) { /* the writer is gone or going: members retry a 503 */
		unlock(d);
		free(p->value);
		free(p);
		r.status = DISC_BUSY;
		done(arg, &r);
		return;
	}
	*d->tail = p;
	d->tail = &p->next;
	pthread_cond_signal(&d->work);
	unlock(d);
}

/* Applies a committed registration to the cache and wakes its watches; mu held. */
static void apply(struct discovery *d, const struct store_put *put, struct delivery **out)
{
	struct dir *x = find_dir(d, put->token);
	if (!x || find_member(x, put->id))
		return; /* not cached (nobody watches), or the load already saw it */
	struct store_member *ms = realloc(x->d.members, (x->d.n + 1) * sizeof(*ms));
	char *value = strdup(put->value);
	if (!ms || !value) {
		free(value);
		if (ms)
			x->d.members = ms;
		/* cannot keep it: forget the cached copy, watches end empty and re-ask */
		end_watches(d, x, DISC_EMPTY, out);
		end_subs(x, DISC_BUSY);
		return;
	}
	x->d.members = ms;
	free(x->listing);
	x->listing = NULL;
	struct store_member *m = &ms[x->d.n++];
	str_copy(m->id, sizeof(m->id), put->id);
	m->value = value;
	m->created_index = put->index;
	m->created_at = put->at;
	if (put->index > x->d.last_index)
		x->d.last_index = put->index;
	for (struct disc_sub *sub = x->subs; sub; sub = sub->next) {
		if (put->index >= sub->from) {
			struct disc_event ev = {x->token, m, DISC_OK};
			sub->fn(sub->arg, &ev);
		}
	}
	for (struct waiter **wp = &x->waiters; *wp;) {
		struct waiter *w = *wp;
		if (put->index >= w->wait_index && (w->recursive || !strcmp(w->key, put->id))) {
			struct disc_reply r = {0};
			set_event(&r, x->token, m, w->x_index);
			deliver_later(out, w->done, w->arg, &r);
			*wp = w->next;
			free(w);
			d->nwaiters--;
		} else {
			wp = &w->next;
		}
	}
}

/*
 * Reads x again and applies the members the copy lacks, in index order (so
 * watches and subscriptions see them in that order); mu held. K_OK, or the
 * store's error (K_ENOTFOUND: the directory is gone) with x unchanged.
 */
static enum kerr sync_dir(struct discovery *d, struct dir *x, struct delivery **out)
{
	struct store_dir fresh;
	enum kerr err = store_dir_get(d->store, x->token, &fresh);
	if (err != K_OK)
		return err;
	for (size_t i = 0; i < fresh.n; i++) {
		const struct store_member *m = &fresh.members[i];
		if (find_member(x, m->id))
			continue;
		struct store_put put = {.token = x->token,
		                        .id = m->id,
		                        .value = m->value,
		                        .result = K_OK,
		                        .index = m->created_index,
		                        .at = m->created_at};
		apply(d, &put, out);
	}
	store_dir_clear(&fresh);
	return K_OK;
}

/* Tells the subscribers of a committed registration (no lock held). */
static void publish_registration(struct discovery *d, const struct store_put *put)
{
	if (!d->o.events)
		return;
	const char *eq = strchr(put->value, '=');
	json_t *data = json_pack("{s:s, s:s%, s:I}", "id", put->id, "name", put->value,
	                         eq ? (size_t)(eq - put->value) : strlen(put->value), "index",
	                         (json_int_t)put->index);
	struct event ev = {.kind = EV_MEMBER_REGISTERED,
	                   .cluster = "",
	                   .cluster_id = "",
	                   .token = put->token,
	                   .index = put->index,
	                   .at = put->at,
	                   .data = data};
	events_publish(d->o.events, &ev);
	json_decref(data);
}

enum kerr discovery_replaced(struct discovery *d, struct store_replace *r)
{
	enum kerr e = store_member_replace(d->store, r);
	if (e != K_OK || !r->changed || !d->o.events)
		return e;
	json_t *data = json_pack("{s:s, s:s}", "member", r->member, "replaces", r->replaces);
	struct event ev = {.kind = EV_MEMBER_REPLACED,
	                   .cluster = r->cluster,
	                   .cluster_id = r->cluster_id,
	                   .token = r->token,
	                   .at = r->at,
	                   .data = data};
	events_publish(d->o.events, &ev);
	json_decref(data);
	return e;
}

/* The writer: takes every pending registration, commits them together, then
 * answers them and wakes the watches in index order. */
static void *writer(void *arg)
{
	struct discovery *d = arg;
	struct store_put puts[BATCH_MAX];
	struct pending *batch[BATCH_MAX];
	pthread_mutex_lock(&d->mu);
	for (;;) {
		while (!d->head && !d->stopping)
			pthread_cond_wait(&d->work, &d->mu);
		if (!d->head && d->stopping)
			break;
		size_t n = 0;
		int64_t at = store_now_ms();
		while (d->head && n < BATCH_MAX) {
			struct pending *p = d->head;
			d->head = p->next;
			batch[n] = p;
			enum kerr err;
			struct dir *x = get_dir(d, p->token, &err);
			int size = x ? x->d.size : 1;
			puts[n] = (struct store_put){.token = p->token,
			                             .id = p->id,
			                             .value = p->value,
			                             .max_members = d->o.max_registrations
			                                                    ? d->o.max_registrations
			                                                    : 3 * size + 10,
			                             .result = K_EIO,
			                             .at = at};
			n++;
		}
		if (!d->head)
			d->tail = &d->head;
		unlock(d);
		enum kerr err = store_put_members(d->store, puts, n);
		if (err != K_OK)
			log_warnx("discovery: cannot commit %zu registrations: %s", n,
			          kerr_str(err));
		struct delivery *out = NULL;
		pthread_mutex_lock(&d->mu);
		for (size_t i = 0; i < n; i++) {
			struct pending *p = batch[i];
			struct disc_reply r = {0};
			enum kerr res = err == K_OK ? puts[i].result : K_EIO;
			if (res == K_OK) {
				/* other replicas may have committed lower indexes to this
				 * directory that the copy has not seen yet: read it again,
				 * so they are applied first. Also with no watch parked:
				 * the next listing's X-Etcd-Index (this index) must not
				 * come without them, or a member that reads the directory
				 * after its PUT and watches from that index never sees
				 * them */
				struct dir *x = find_dir(d, p->token);
				if (x && store_shared(d->store) && !find_member(x, p->id))
					(void)sync_dir(d, x, &out); /* else applied alone below */
				apply(d, &puts[i], &out);
				struct store_member m = {.value = p->value,
				                         .created_index = puts[i].index};
				str_copy(m.id, sizeof(m.id), p->id);
				set_event(&r, p->token, &m, puts[i].index);
				r.status = r.status == DISC_OK ? DISC_CREATED : r.status;
			} else if (res == K_EEXIST) {
				set_error(&r, DISC_EXISTS, p->token, p->id, puts[i].index);
			} else if (res == K_ENOTFOUND) {
				set_error(&r, DISC_NOT_FOUND, p->token, NULL, 0);
			} else if (res == K_ELIMIT) {
				set_error(&r, DISC_FULL, p->token, p->id, puts[i].index);
			} else {
				r.status = DISC_BUSY;
			}
			deliver_later(&out, p->done, p->arg, &r);
		}
		unlock(d);
		deliver(out);
		for (size_t i = 0; i < n; i++) {
			if (err == K_OK && puts[i].result == K_OK)
				publish_registration(d, &puts[i]);
			free(batch[i]->value);
			free(batch[i]);
		}
		pthread_mutex_lock(&d->mu);
	}
	unlock(d);
	return NULL;
}

/* The reaper: ends watches past their deadline with an empty 200. */
static void *reaper(void *arg)
{
	struct discovery *d = arg;
	pthread_mutex_lock(&d->mu);
	while (!d->stopping) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 250 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&d->tick, &d->mu, &until);
		if (!d->nwaiters)
			continue;
		int64_t now = store_now_ms();
		struct delivery *out = NULL;
		for (size_t b = 0; b < BUCKETS; b++) {
			for (struct dir *x = d->b[b]; x; x = x->next) {
				for (struct waiter **wp = &x->waiters; *wp;) {
					struct waiter *w = *wp;
					if (w->deadline > now) {
						wp = &w->next;
						continue;
					}
					struct disc_reply r = {DISC_EMPTY, w->x_index, NULL, 0};
					deliver_later(&out, w->done, w->arg, &r);
					*wp = w->next;
					free(w);
					d->nwaiters--;
				}
			}
		}
		unlock(d);
		deliver(out);
		pthread_mutex_lock(&d->mu);
	}
	unlock(d);
	return NULL;
}

enum kerr discovery_new(struct store *s, const struct discovery_options *o, struct discovery **out)
{
	struct discovery *d = calloc(1, sizeof(*d));
	if (!d)
		return K_ENOMEM;
	d->store = s;
	d->o = *o;
	d->tail = &d->head;
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->work, NULL);
	pthread_cond_init(&d->tick, NULL);
	if (pthread_create(&d->writer, NULL, writer, d) != 0) {
		free(d);
		return K_EIO;
	}
	if (pthread_create(&d->reaper, NULL, reaper, d) != 0) {
		pthread_mutex_lock(&d->mu);
		d->stopping = true;
		pthread_cond_signal(&d->work);
		unlock(d);
		pthread_join(d->writer, NULL);
		free(d);
		return K_EIO;
	}
	*out = d;
	return K_OK;
}

void discovery_release_all(struct discovery *d)
{
	struct delivery *out = NULL;
	pthread_mutex_lock(&d->mu);
	d->draining = true;
	for (size_t b = 0; b < BUCKETS; b++)
		for (struct dir *x = d->b[b]; x; x = x->next)
			end_watches(d, x, DISC_EMPTY, &out);
	unlock(d);
	deliver(out);
}

/* Drops token's cached copy: its watches end with st (DISC_NOT_FOUND: a
 * 404; else empty, members re-ask), its subscriptions with st; mu held. */
static void drop_dir(struct discovery *d, const char *token, enum disc_status st,
                     struct delivery **out)
{
	for (struct dir **p = &d->b[bucket(token)]; *p; p = &(*p)->next) {
		if (!strcmp((*p)->token, token)) {
			struct dir *x = *p;
			end_watches(d, x, st == DISC_NOT_FOUND ? st : DISC_EMPTY, out);
			end_subs(x, st);
			*p = x->next;
			dir_free(x);
			d->ndirs--;
			return;
		}
	}
}

void discovery_forget(struct discovery *d, const char *token)
{
	pthread_mutex_lock(&d->mu);
	drop_dir(d, token, DISC_NOT_FOUND, &d->late);
	unlock(d);
}

/* Another replica registered member id (NULL: not known) in token's
 * directory: a cached copy without it is read again. */
static void refresh(struct discovery *d, const char *token, const char *id)
{
	pthread_mutex_lock(&d->mu);
	struct dir *x = find_dir(d, token);
	if (x && (!id || !find_member(x, id))) {
		enum kerr err = sync_dir(d, x, &d->late);
		if (err != K_OK) /* gone (404), or unreadable: watches re-ask */
			drop_dir(d, token, err == K_ENOTFOUND ? DISC_NOT_FOUND : DISC_BUSY,
			         &d->late);
	}
	unlock(d);
}

/* Events may have been missed: copies nobody waits on go, the others are
 * read again (what they missed wakes their watches). */
static void resync(struct discovery *d)
{
	pthread_mutex_lock(&d->mu);
	for (size_t b = 0; b < BUCKETS; b++) {
		shed(d, b);
		for (struct dir *x = d->b[b], *next; x; x = next) {
			next = x->next;
			enum kerr err = sync_dir(d, x, &d->late);
			if (err != K_OK)
				drop_dir(d, x->token,
				         err == K_ENOTFOUND ? DISC_NOT_FOUND : DISC_BUSY, &d->late);
		}
	}
	unlock(d);
}

void discovery_on_event(void *arg, const struct event *ev)
{
	struct discovery *d = arg;
	if ((ev->kind == EV_CLUSTER_DELETED || ev->kind == EV_DIRECTORY_DELETED) && ev->token &&
	    ev->token[0])
		discovery_forget(d, ev->token);
	else if (ev->kind == EV_MEMBER_REGISTERED && ev->remote && ev->token && ev->token[0])
		refresh(d, ev->token, json_string_value(json_object_get(ev->data, "id")));
	else if (ev->kind == EV_RESYNC)
		resync(d);
}

enum kerr discovery_subscribe(struct discovery *d, const char *token, int64_t from,
                              disc_event_fn fn, void *arg, struct disc_sub **out, int64_t *out_rev)
{
	struct disc_sub *sub = calloc(1, sizeof(*sub));
	if (!sub)
		return K_ENOMEM;
	pthread_mutex_lock(&d->mu);
	enum kerr err = K_ELIMIT;
	struct dir *x = d->nsubs < (size_t)d->o.max_waiters ? get_dir(d, token, &err) : NULL;
	if (!x) {
		unlock(d);
		free(sub);
		return err;
	}
	*out_rev = x->d.last_index;
	sub->from = from > 0 ? from : x->d.last_index + 1;
	sub->fn = fn;
	sub->arg = arg;
	for (size_t i = 0; i < x->d.n; i++) {
		if (x->d.members[i].created_index >= sub->from) {
			struct disc_event ev = {x->token, &x->d.members[i], DISC_OK};
			fn(arg, &ev);
		}
	}
	sub->x = x;
	sub->next = x->subs;
	if (x->subs)
		x->subs->prev = sub;
	x->subs = sub;
	d->nsubs++;
	unlock(d);
	*out = sub;
	return K_OK;
}

void discovery_unsubscribe(struct discovery *d, struct disc_sub **subp)
{
	if (!subp || !*subp)
		return;
	struct disc_sub *sub = *subp;
	pthread_mutex_lock(&d->mu);
	if (sub->x) {
		if (sub->prev)
			sub->prev->next = sub->next;
		else
			sub->x->subs = sub->next;
		if (sub->next)
			sub->next->prev = sub->prev;
	}
	d->nsubs--;
	unlock(d);
	free(sub);
	*subp = NULL;
}

enum kerr discovery_read(struct discovery *d, const char *token,
                         void (*fn)(void *arg, const struct store_dir *dir), void *arg)
{
	pthread_mutex_lock(&d->mu);
	enum kerr err;
	struct dir *x = get_dir(d, token, &err);
	if (x)
		fn(arg, &x->d);
	unlock(d);
	return err;
}

size_t discovery_subscriptions(struct discovery *d)
{
	pthread_mutex_lock(&d->mu);
	size_t n = d->nsubs;
	unlock(d);
	return n;
}

size_t discovery_waiters(struct discovery *d)
{
	pthread_mutex_lock(&d->mu);
	size_t n = d->nwaiters;
	unlock(d);
	return n;
}

void discovery_stop(struct discovery *d)
{
	if (!d)
		return;
	discovery_release_all(d);
	pthread_mutex_lock(&d->mu);
	bool joined = d->joined;
	d->stopping = true;
	d->joined = true;
	pthread_cond_signal(&d->work);
	pthread_cond_signal(&d->tick);
	unlock(d);
	if (joined)
		return;
	pthread_join(d->writer, NULL);
	pthread_join(d->reaper, NULL);
}

void discovery_free(struct discovery **dp)
{
	if (!dp || !*dp)
		return;
	struct discovery *d = *dp;
	discovery_stop(d);
	for (size_t b = 0; b < BUCKETS; b++) {
		while (d->b[b]) {
			struct dir *x = d->b[b];
			d->b[b] = x->next;
			dir_free(x);
		}
	}
	pthread_cond_destroy(&d->tick);
	pthread_cond_destroy(&d->work);
	pthread_mutex_destroy(&d->mu);
	free(d);
	*dp = NULL;
}
