/* api_common.c - helpers every handler file uses: bodies, field errors, times. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

static void call_free(void *p)
{
	struct api_call *call = p;
	service_reply_clear(&call->rep);
	free(call);
}

struct api_call *api_call_start(struct req *r, handler_fn on_done)
{
	struct api_call *call = calloc(1, sizeof(*call));
	if (!call) {
		reply_error(r, K_ENOMEM, "out of memory");
		return NULL;
	}
	call->r = r;
	req_set_data(r, call, call_free);
	req_suspend(r, on_done);
	return call;
}

void api_call_done(void *arg)
{
	struct api_call *call = arg;
	req_resume(call->r);
}

void api_reply_service_error(struct req *r, const struct service_reply *rep)
{
	if (rep->err == K_EINVAL && rep->errors) {
		reply_invalid(r, json_incref(rep->errors));
		return;
	}
	if (rep->why[0]) {
		reply_error(r, rep->err, "%s", rep->why);
		return;
	}
	api_reply_store_error(r, rep->err, rep->name);
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
		            "the database is busy (locked by another writer) or unreachable, or "
		            "kindling is stopping; nothing was changed, retry");
		break;
	default: {
		char why[512];
		store_last_fault(a->store, why, sizeof(why));
		reply_error(r, e, "the database failed: %s; nothing was changed",
		            why[0] ? why : kerr_str(e));
	}
	}
}

const char *api_fetch_token(struct req *r)
{
	const char *auth = req_header(r, "Authorization");
	if (auth && !strncasecmp(auth, "Bearer ", 7))
		return auth + 7;
	return req_query(r, "token");
}

enum kerr api_fetch_token_check(const struct cluster *c, const char *token)
{
	if (!token)
		return K_EAUTH;
	if (str_equal_secret(token, c->fetch_token))
		return K_OK;
	int64_t now = store_now_ms();
	bool ok = false;
	for (int i = 0; i < c->nprev; i++) /* all of them: the time taken tells nothing */
		ok |= now < c->prev[i].until && str_equal_secret(token, c->prev[i].token);
	return ok ? K_OK : K_EFORBIDDEN;
}
