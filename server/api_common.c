/* api_common.c - helpers every handler file uses: bodies, field errors, times. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api.h"
#include "fields.h"
#include "generations.h"
#include "html.h"
#include "view.h"
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

/* ---- what the page files share ---- */

const char api_page_csp[] = "default-src 'none'; style-src 'self'; script-src 'self'; "
                            "img-src 'self'; connect-src 'self'; form-action 'self'; "
                            "base-uri 'none'; frame-ancestors 'none'";

/* Sends a finished page (taking its memory), or a plain 500 when building it
 * failed. */
void api_page_send(struct req *r, int status, struct html *h)
{
	static const char failed[] = "<!doctype html><html lang=\"en\"><title>Error</title>"
	                             "<p>kindling could not build this page; see the server "
	                             "log.</p></html>\n";
	reply_header(r, "Content-Security-Policy", api_page_csp);
	reply_header(r, "Referrer-Policy", "same-origin");
	reply_header(r, "Cache-Control", "no-store");
	if (h->err != K_OK) {
		html_free(h);
		reply_static(r, h->err == K_ENOMEM ? 503 : 500, "text/html; charset=utf-8", failed,
		             sizeof(failed) - 1);
		return;
	}
	size_t len;
	char *body = buf_steal(&h->buf, &len);
	if (!body) {
		reply_static(r, 503, "text/html; charset=utf-8", failed, sizeof(failed) - 1);
		return;
	}
	reply_bytes(r, status, "text/html; charset=utf-8", body, len);
}

/* An error page: title and message are escaped; back is a trusted path. */
void api_page_error(struct req *r, int status, const char *title, const char *message,
                    const char *back)
{
	struct html h;
	html_init(&h, (64 * 1024));
	html_page_begin(&h, title);
	html_addf(&h,
	          "<section class=\"card\"><h1>%s</h1><p>%s</p>"
	          "<p><a href=\"%s\">Back</a></p></section>\n",
	          title, message, back);
	html_page_end(&h);
	api_page_send(r, status, &h);
}

/* Formats an RFC 3339 time ("2026-11-22T02:30:20.309Z") for people:
 * "2026-11-22 02:30:20 UTC". */
static void human_time(const char *rfc3339, char out[40])
{
	size_t n = strlen(rfc3339);
	if (n < 19) {
		snprintf(out, 40, "%s", rfc3339);
		return;
	}
	snprintf(out, 40, "%.10s %.8s UTC", rfc3339, rfc3339 + 11);
}

/* Appends <time> for an RFC 3339 string. */
void api_page_time_str(struct html *h, const char *rfc3339)
{
	char human[40];
	human_time(rfc3339, human);
	html_addf(h, "<time datetime=\"%s\">%s</time>", rfc3339, human);
}

/* Appends <time> for ms since the epoch. */
void api_page_time(struct html *h, int64_t ms)
{
	char t[32];
	view_time(ms, t);
	api_page_time_str(h, t);
}

/* A generation number, or "profiles" (pending) where allow_pending. */
bool api_parse_generation(const char *s, bool allow_pending, int64_t *out)
{
	if (allow_pending && s && !strcmp(s, "profiles")) {
		*out = GENERATIONS_PENDING;
		return true;
	}
	if (!s || !*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 18)
		return false;
	*out = strtoll(s, NULL, 10);
	return *out >= 1;
}

bool api_diff_args(struct req *r, const struct cluster *c, int64_t *from, int64_t *to)
{
	json_t *errors = json_array();
	const char *f = req_query(r, "from"), *t = req_query(r, "to");
	*to = c->generation;
	*from = c->generation > 1 ? c->generation - 1 : 1;
	if (t && !api_parse_generation(t, true, to))
		field_error(errors, "to",
		            "must be a generation number, or \"profiles\" (what "
		            "adopting the template folders' profiles would serve)");
	if (f && !api_parse_generation(f, true, from))
		field_error(errors, "from", "must be a generation number, or \"profiles\"");
	if (json_array_size(errors)) {
		reply_invalid(r, errors);
		return false;
	}
	json_decref(errors);
	return true;
}
