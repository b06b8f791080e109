/* eventlog.c - a ring of the newest events, numbered in arrival order, and
 * the watchers of one cluster each.
 *
 * One mutex guards everything; watchers' wake functions run under it (they
 * only flag a stream), so a watcher removed under it is never woken again.
 */
#include "eventlog.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "log.h"
#include "store.h"

struct kept {
	uint64_t id;
	enum event_kind kind;
	char cluster[64];
	char cluster_id[37];
	char token[33];
	char *text; /* the SSE text */
	size_t len;
};

struct eventlog_watch {
	struct eventlog_watch *next;
	struct eventlog_filter f;
	void (*wake)(void *arg);
	void *arg;
};

struct eventlog {
	pthread_mutex_t mu;
	pthread_cond_t tick; /* the keep-alive thread sleeps on it */
	struct kept *ring;
	size_t cap, n, head; /* ring[head] is the oldest of n */
	uint64_t last_id;
	unsigned long long start; /* ms: the ids' prefix */
	struct eventlog_watch *watchers;
	size_t nwatchers;
	int keepalive_s;
	bool stopping;
	pthread_t thread;
};

static bool matches(const struct eventlog_filter *f, const char *cluster, const char *cluster_id,
                    const char *token)
{
	return (f->cluster[0] && !strcmp(f->cluster, cluster)) ||
	       (f->cluster_id[0] && !strcmp(f->cluster_id, cluster_id)) ||
	       (f->token[0] && !strcmp(f->token, token));
}

static void wake_all(struct eventlog *l)
{
	for (struct eventlog_watch *w = l->watchers; w; w = w->next)
		w->wake(w->arg);
}

static void *keepalive(void *arg)
{
	struct eventlog *l = arg;
	pthread_mutex_lock(&l->mu);
	while (!l->stopping) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += l->keepalive_s;
		while (!l->stopping && pthread_cond_timedwait(&l->tick, &l->mu, &until) == 0)
			;
		if (!l->stopping)
			wake_all(l);
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

enum kerr eventlog_new(size_t capacity, int keepalive_s, struct eventlog **out)
{
	struct eventlog *l = calloc(1, sizeof(*l));
	if (!l)
		return K_ENOMEM;
	l->ring = calloc(capacity ? capacity : 1, sizeof(*l->ring));
	if (!l->ring) {
		free(l);
		return K_ENOMEM;
	}
	l->cap = capacity ? capacity : 1;
	l->start = (unsigned long long)store_now_ms();
	l->keepalive_s = keepalive_s > 0 ? keepalive_s : 15;
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->tick, NULL);
	if (pthread_create(&l->thread, NULL, keepalive, l) != 0) {
		pthread_cond_destroy(&l->tick);
		pthread_mutex_destroy(&l->mu);
		free(l->ring);
		free(l);
		return K_EIO;
	}
	*out = l;
	return K_OK;
}

void eventlog_free(struct eventlog **lp)
{
	if (!lp || !*lp)
		return;
	struct eventlog *l = *lp;
	pthread_mutex_lock(&l->mu);
	l->stopping = true;
	pthread_cond_signal(&l->tick);
	pthread_mutex_unlock(&l->mu);
	pthread_join(l->thread, NULL);
	for (size_t i = 0; i < l->cap; i++)
		free(l->ring[i].text);
	while (l->watchers) { /* a caller's bug; do not leak */
		struct eventlog_watch *w = l->watchers;
		l->watchers = w->next;
		free(w);
	}
	pthread_cond_destroy(&l->tick);
	pthread_mutex_destroy(&l->mu);
	free(l->ring);
	free(l);
	*lp = NULL;
}

/* The event's data as one JSON line: kind, at, and what the publisher gave. */
static char *event_json(const struct event *ev)
{
	json_t *j = ev->data ? json_deep_copy(ev->data) : json_object();
	if (!j)
		return NULL;
	char at[32];
	int64_t ms = ev->at ? ev->at : store_now_ms();
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(at + n, sizeof(at) - n, ".%03dZ", (int)(ms % 1000));
	json_object_set_new(j, "kind", json_string(event_kind_name(ev->kind)));
	json_object_set_new(j, "at", json_string(at));
	if (ev->cluster[0])
		json_object_set_new(j, "cluster", json_string(ev->cluster));
	if (ev->remote)
		json_object_set_new(j, "remote", json_true());
	/* compact, and no raw newline can break the SSE framing (JSON escapes them) */
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

void eventlog_on_event(void *arg, const struct event *ev)
{
	struct eventlog *l = arg;
	if (ev->kind == EV_RESYNC || ev->kind == EV_CLUSTER_CREATED)
		return; /* nothing a cluster's stream shows (it did not exist) */
	char *data = event_json(ev);
	if (!data) {
		log_warnx("event log: out of memory, a %s event is not shown",
		          event_kind_name(ev->kind));
		return;
	}
	pthread_mutex_lock(&l->mu);
	struct kept *k;
	if (l->n == l->cap) {
		k = &l->ring[l->head];
		l->head = (l->head + 1) % l->cap;
	} else {
		k = &l->ring[(l->head + l->n) % l->cap];
		l->n++;
	}
	free(k->text);
	k->id = ++l->last_id;
	k->kind = ev->kind;
	str_copy(k->cluster, sizeof(k->cluster), ev->cluster);
	str_copy(k->cluster_id, sizeof(k->cluster_id), ev->cluster_id);
	str_copy(k->token, sizeof(k->token), ev->token);
	int len = asprintf(&k->text, "id: %llx-%llu\nevent: %s\ndata: %s\n\n", l->start,
	                   (unsigned long long)k->id, event_kind_name(ev->kind), data);
	k->len = len > 0 ? (size_t)len : 0;
	if (len < 0)
		k->text = NULL;
	for (struct eventlog_watch *w = l->watchers; w; w = w->next)
		if (matches(&w->f, k->cluster, k->cluster_id, k->token))
			w->wake(w->arg);
	pthread_mutex_unlock(&l->mu);
	free(data);
}

char *eventlog_next(struct eventlog *l, const struct eventlog_filter *f, uint64_t after,
                    size_t *out_len, uint64_t *out_id, bool *out_gap, bool *out_deleted)
{
	char *text = NULL;
	pthread_mutex_lock(&l->mu);
	*out_id = after > l->last_id ? l->last_id : after;
	if (l->n) {
		uint64_t oldest = l->ring[l->head].id;
		if (after + 1 < oldest)
			*out_gap = true;
		/* the ring is in number order: skip to the first above after */
		size_t i = after + 1 > oldest ? (size_t)(after + 1 - oldest) : 0;
		for (; i < l->n; i++) {
			const struct kept *k = &l->ring[(l->head + i) % l->cap];
			*out_id = k->id;
			if (!k->text || !matches(f, k->cluster, k->cluster_id, k->token))
				continue;
			text = malloc(k->len + 1);
			if (text) {
				memcpy(text, k->text, k->len + 1);
				*out_len = k->len;
				*out_deleted = k->kind == EV_CLUSTER_DELETED;
			} else {
				*out_id = k->id - 1; /* try it again */
			}
			break;
		}
	}
	pthread_mutex_unlock(&l->mu);
	return text;
}

uint64_t eventlog_last_id(struct eventlog *l)
{
	pthread_mutex_lock(&l->mu);
	uint64_t id = l->last_id;
	pthread_mutex_unlock(&l->mu);
	return id;
}

bool eventlog_parse_id(struct eventlog *l, const char *id, uint64_t *out_after, bool *out_gap)
{
	char *end;
	errno = 0;
	unsigned long long start = strtoull(id, &end, 16);
	if (errno || end == id || *end != '-' || !end[1] || end[1] == '-' || end[1] == '+')
		return false;
	const char *num = end + 1;
	unsigned long long n = strtoull(num, &end, 10);
	if (errno || *end || end - num > 20)
		return false;
	if (start != l->start || n > eventlog_last_id(l)) {
		*out_gap = true; /* another kindling's, or one before a restart */
		*out_after = 0;
	} else {
		*out_after = n;
	}
	return true;
}

struct eventlog_watch *eventlog_watch(struct eventlog *l, const struct eventlog_filter *f,
                                      void (*wake)(void *arg), void *arg)
{
	struct eventlog_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->f = *f;
	w->wake = wake;
	w->arg = arg;
	pthread_mutex_lock(&l->mu);
	w->next = l->watchers;
	l->watchers = w;
	l->nwatchers++;
	pthread_mutex_unlock(&l->mu);
	return w;
}

void eventlog_unwatch(struct eventlog *l, struct eventlog_watch **wp)
{
	if (!wp || !*wp)
		return;
	pthread_mutex_lock(&l->mu);
	for (struct eventlog_watch **p = &l->watchers; *p; p = &(*p)->next)
		if (*p == *wp) {
			*p = (*wp)->next;
			l->nwatchers--;
			break;
		}
	pthread_mutex_unlock(&l->mu);
	free(*wp);
	*wp = NULL;
}

size_t eventlog_watchers(struct eventlog *l)
{
	pthread_mutex_lock(&l->mu);
	size_t n = l->nwatchers;
	pthread_mutex_unlock(&l->mu);
	return n;
}
