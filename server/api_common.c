/* api_common.c - helpers every handler file uses: bodies, field errors, times. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "discovery.h"

json_t *api_body_object(struct req *r)
{
	size_t len;
	const char *body = req_body(r, &len);
	if (len == 0) {
		reply_error(r, K_EBADREQ, "the body is empty; send a JSON object");
		return NULL;
	}
	json_error_t err;
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
	if (!j) {
		reply_error(r, K_EBADREQ, "invalid JSON at byte %d (line %d, column %d): %s",
		            err.position, err.line, err.column, err.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		reply_error(r, K_EBADREQ, "the body must be a JSON object");
		json_decref(j);
		return NULL;
	}
	return j;
}

void api_field_error(json_t *errors, const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_array_append_new(errors, json_pack("{s:s, s:s}", "field", field, "message", msg));
}

void api_time(int64_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

bool api_valid_name(const char *s, size_t n)
{
	if (n < 1 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

struct render_cluster api_render_input(const struct app *a, const struct cluster *c)
{
	return (struct render_cluster){
	        .name = c->name,
	        .id = c->id,
	        .size = c->size,
	        .discovery_url = c->discovery_url,
	        .discovery_token = c->discovery_token,
	        .discovery_endpoints = a->grpc_endpoint,
	        .public_url = a->public_url,
	        .profiles = c->profiles,
	        .vars = c->vars,
	        .secrets = c->secrets,
	};
}

void api_on_change(void *arg, const struct write_change *ch)
{
	const struct app *a = arg;
	api_invalidate(a, ch->name);
	if (ch->kind == WRITE_DELETE && ch->discovery_token[0])
		discovery_forget(a->discovery, ch->discovery_token);
}

static void write_free(void *p)
{
	struct api_write *w = p;
	cluster_clear(&w->job.out);
	cluster_clear(&w->c);
	json_decref(w->patch);
	json_decref(w->errors);
	explicit_bzero(w->token, sizeof(w->token));
	free(w);
}

struct api_write *api_write_new(struct req *r, enum write_kind kind, const char *name,
                                handler_fn on_done)
{
	struct api_write *w = calloc(1, sizeof(*w));
	if (!w) {
		reply_error(r, K_ENOMEM, "out of memory");
		return NULL;
	}
	w->r = r;
	w->on_done = on_done;
	w->job.kind = kind;
	str_copy(w->name, sizeof(w->name), name);
	w->job.name = w->name;
	req_set_data(r, w, write_free);
	return w;
}

/* The writer's report, on its thread: wake the request. */
static void write_done(struct write_job *job)
{
	struct api_write *w = (struct api_write *)(void *)job;
	req_resume(w->r);
}

void api_write_submit(struct api_write *w)
{
	const struct app *a = req_app(w->r);
	w->job.done = write_done;
	req_suspend(w->r, w->on_done);
	writer_submit(a->writer, &w->job);
}

void api_reply_store_error(struct req *r, enum kerr e, const char *name)
{
	const struct app *a = req_app(r);
	switch (e) {
	case K_ENOTFOUND:
		reply_error(r, e, "there is no cluster named \"%s\"", name);
		break;
	case K_EEXIST:
		reply_error(r, e, "a cluster named \"%s\" exists already", name);
		break;
	case K_ELIMIT:
		reply_error(r, e, "kindling holds its maximum of %d clusters (--max-clusters)",
		            a->cfg->max_clusters);
		break;
	case K_EUNAVAIL:
		reply_error(r, e,
		            "the database is busy (locked by another writer) or kindling is "
		            "stopping; nothing was changed, retry");
		break;
	default: {
		char why[512];
		store_last_fault(a->store, why, sizeof(why));
		reply_error(r, e, "the database failed: %s; nothing was changed",
		            why[0] ? why : kerr_str(e));
	}
	}
}
