/* api_events.c - GET /clusters/{name}/events: a cluster's events as
 * Server-Sent Events, live, held without a thread per stream.
 *
 * A stream is woken (http_stream_wake) by the event log when an event of its
 * cluster arrives, and every keep-alive period; its fill then writes the next
 * kept event, or a keep-alive comment when one is due (which also finds
 * clients that went away), or parks. A stream is touched by its
 * connection's worker (fill, done) and by the log's wake under the log's
 * lock: done removes the watcher first, so no wake follows it.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "eventlog.h"
#include "view.h"

struct sse {
	struct eventlog *log;
	struct eventlog_watch *watch;
	struct http_stream *stream;
	struct eventlog_filter f;
	uint64_t after; /* the last event number looked at */
	char *out;      /* what is being written: out[off..len) */
	size_t len, off;
	bool end; /* after out: the stream ends (the cluster was deleted) */
	time_t last_write;
	int keepalive_s;
};

static atomic_int open_streams;

static void sse_wake(void *arg)
{
	struct sse *e = arg;
	http_stream_wake(e->stream);
}

/* Takes text (malloc'd) as what to write next. */
static void sse_set(struct sse *e, char *text, size_t len)
{
	free(e->out);
	e->out = text;
	e->len = len;
	e->off = 0;
}

static char *dup_text(const char *s, size_t *out_len)
{
	*out_len = strlen(s);
	return strdup(s);
}

static long sse_fill(void *arg, char *buf, size_t max)
{
	struct sse *e = arg;
	if (e->off == e->len) {
		if (e->end)
			return -1;
		size_t len = 0;
		bool gap = false, deleted = false;
		uint64_t id = e->after;
		char *text = eventlog_next(e->log, &e->f, e->after, &len, &id, &gap, &deleted);
		e->after = id;
		if (text) {
			sse_set(e, text, len);
			e->end = deleted;
		} else if (time(NULL) - e->last_write >= e->keepalive_s) {
			text = dup_text(": keep-alive\n\n", &len);
			if (text)
				sse_set(e, text, len);
		}
		if (e->off == e->len)
			return 0; /* nothing now: parked until a wake */
	}
	size_t n = e->len - e->off < max ? e->len - e->off : max;
	memcpy(buf, e->out + e->off, n);
	e->off += n;
	e->last_write = time(NULL);
	return (long)n;
}

static void sse_done(void *arg)
{
	struct sse *e = arg;
	eventlog_unwatch(e->log, &e->watch);
	free(e->out);
	free(e);
	atomic_fetch_sub(&open_streams, 1);
}

void api_cluster_events(struct req *r)
{
	const struct app *a = req_app(r);
	const char *name = req_param(r, "name");
	uint64_t after = eventlog_last_id(a->eventlog);
	bool gap = false;
	const char *last = req_header(r, "Last-Event-ID");
	if (last && !eventlog_parse_id(a->eventlog, last, &after, &gap)) {
		reply_error(r, K_EBADREQ,
		            "Last-Event-ID \"%.40s\" is not an id of this stream's events "
		            "(START-N, as sent in each event's id: line)",
		            last);
		return;
	}
	struct cluster c;
	enum kerr err = view_cluster_get(a, name, &c);
	if (err != K_OK) {
		api_reply_store_error(r, err, name);
		return;
	}
	if (atomic_fetch_add(&open_streams, 1) >= a->cfg->max_event_streams) {
		atomic_fetch_sub(&open_streams, 1);
		cluster_clear(&c);
		reply_header(r, "Retry-After", "5");
		reply_error(r, K_EUNAVAIL,
		            "kindling holds its maximum of %d event streams "
		            "(--max-event-streams); retry",
		            a->cfg->max_event_streams);
		return;
	}
	struct sse *e = calloc(1, sizeof(*e));
	char *hello = NULL;
	int n = asprintf(&hello, "retry: 2000\n: events of cluster %s\n\n%s", c.name,
	                 gap ? "event: gap\ndata: {\"kind\":\"gap\",\"detail\":\"events since "
	                       "the Last-Event-ID are no longer kept (kindling restarted, or "
	                       "the history is bounded): re-read the cluster\"}\n\n"
	                     : "");
	if (!e || n < 0) {
		free(e);
		atomic_fetch_sub(&open_streams, 1);
		cluster_clear(&c);
		reply_error(r, K_ENOMEM, "out of memory");
		return;
	}
	e->log = a->eventlog;
	e->after = after;
	e->keepalive_s = a->cfg->event_keepalive_s;
	e->last_write = time(NULL);
	str_copy(e->f.cluster, sizeof(e->f.cluster), c.name);
	str_copy(e->f.cluster_id, sizeof(e->f.cluster_id), c.id);
	str_copy(e->f.token, sizeof(e->f.token), c.discovery_token);
	cluster_clear(&c);
	sse_set(e, hello, (size_t)n);
	reply_header(r, "Cache-Control", "no-store");
	reply_header(r, "X-Accel-Buffering", "no"); /* a proxy in front must not hold events */
	e->stream = reply_stream(r, 200, "text/event-stream; charset=utf-8", sse_fill, sse_done, e);
	if (!e->stream) {
		sse_done(e);
		reply_error(r, K_ENOMEM, "out of memory");
		return;
	}
	/* on this worker, before any fill of the stream runs */
	e->watch = eventlog_watch(a->eventlog, &e->f, sse_wake, e);
	if (!e->watch)
		e->end = true; /* cannot be woken: says hello and ends */
}
