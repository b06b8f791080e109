/* api_discovery.c - /discovery/{token}: the etcd v2 discovery subset, and GET /new. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "form.h"
#include "discovery.h"
#include "rand.h"

#define VALUE_MAX 1024

/* The etcd wire protocol's statuses for discovery outcomes. */
static const int disc_http[] = {
        [DISC_OK] = 200,     [DISC_CREATED] = 201, [DISC_EMPTY] = 200, [DISC_NOT_FOUND] = 404,
        [DISC_EXISTS] = 412, [DISC_FULL] = 403,    [DISC_BUSY] = 503,
};

/* The discovery module's answer is kept as the request's data (a struct
 * disc_reply) from its callback to on_resume. A watch's is made only when
 * the answer comes, so a parked watch holds none (10 000 parked watches are
 * 10 000 requests; see bench/README.md); a registration's is made before it
 * is queued, so that a registration that committed is never answered "out
 * of memory". */
static void pending_free(void *p)
{
	disc_reply_clear(p);
	free(p);
}

/* Sends a discovery reply the way etcd does. Takes the body. */
static void send_reply(struct req *r, struct disc_reply *rep)
{
	char index[32];
	snprintf(index, sizeof(index), "%" PRId64, rep->index);
	if (rep->status == DISC_BUSY) {
		disc_reply_clear(rep);
		reply_error(r, K_EUNAVAIL, "discovery is busy or storage failed; retry");
		return;
	}
	reply_header(r, "X-Etcd-Index", index);
	if (rep->status != DISC_EMPTY && !rep->body) {
		reply_error(r, K_EUNAVAIL, "discovery could not build its answer; retry");
		return;
	}
	if (rep->status == DISC_EMPTY) {
		reply_static(r, 200, NULL, "", 0);
		return;
	}
	reply_bytes(r, disc_http[rep->status], "application/json", rep->body, rep->len);
	rep->body = NULL;
}

static void on_resume(struct req *r)
{
	struct disc_reply *held = req_data(r);
	if (!held) {
		reply_error(r, K_EUNAVAIL, "out of memory; retry");
		return;
	}
	send_reply(r, held);
}

/* Called by the discovery module, on any thread, exactly once; arg is the
 * parked request. Without memory for a watch's answer, on_resume replies 503. */
static void on_done(void *arg, struct disc_reply *rep)
{
	struct req *r = arg;
	struct disc_reply *held = req_data(r); /* a registration's, made before */
	if (!held) {
		held = malloc(sizeof(*held));
		if (held)
			req_set_data(r, held, pending_free);
	}
	if (held)
		*held = *rep;
	else
		disc_reply_clear(rep);
	req_resume(r);
}

/* Parks the request until the discovery module answers (on_done); with
 * hold, makes the answer's holder first. Returns false after replying 503. */
static bool park(struct req *r, bool hold)
{
	if (hold) {
		struct disc_reply *held = calloc(1, sizeof(*held));
		if (!held) {
			reply_error(r, K_EUNAVAIL, "out of memory; retry");
			return false;
		}
		req_set_data(r, held, pending_free);
	}
	req_suspend(r, on_resume);
	return true;
}

static bool is_hex(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);
	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* Checks the token; replies etcd's 404 for one that cannot exist. */
static bool token_ok(struct req *r, const char *token)
{
	if (is_hex(token, 32, 32))
		return true;
	struct disc_reply rep = {0}; /* the token is not echoed: it is client input of any shape */
	json_t *j = json_pack("{s:i, s:s, s:s, s:i}", "errorCode", 100, "message", "Key not found",
	                      "cause", "/_etcd/registry", "index", 0);
	rep.status = DISC_NOT_FOUND;
	rep.body = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	rep.len = rep.body ? strlen(rep.body) : 0;
	json_decref(j);
	send_reply(r, &rep);
	return false;
}

/* GET /discovery/{token}[/{key*}]: a read, or a watch with wait=true. */
static void get_or_watch(struct req *r, const char *key)
{
	const struct app *a = req_app(r);
	const char *token = req_param(r, "token");
	if (!token_ok(r, token))
		return;
	const char *wait = req_query(r, "wait");
	if (!wait || strcmp(wait, "true") != 0) {
		struct disc_reply rep;
		discovery_get(a->discovery, token, key, &rep);
		send_reply(r, &rep);
		return;
	}
	const char *wi = req_query(r, "waitIndex");
	int64_t wait_index = 0;
	if (wi && *wi) {
		char *end;
		errno = 0;
		long long v = strtoll(wi, &end, 10);
		if (errno || *end || v < 0) {
			reply_error(r, K_EBADREQ,
			            "waitIndex \"%.32s\" is not a whole number from 0", wi);
			return;
		}
		wait_index = v;
	}
	const char *rec = req_query(r, "recursive");
	bool recursive = rec && !strcmp(rec, "true");
	if (key && recursive) {
		reply_error(r, K_EBADREQ, "recursive watches are supported on the directory only");
		return;
	}
	park(r, false);
	discovery_watch(a->discovery, token, key, wait_index, on_done, r);
}

void api_discovery_dir(struct req *r)
{
	get_or_watch(r, NULL);
}

void api_discovery_key(struct req *r)
{
	const char *key = req_param(r, "key");
	if (strcmp(key, "_config/size") != 0 && !is_hex(key, 1, 32)) {
		reply_error(r, K_ENOTFOUND,
		            "no discovery key \"%.64s\": keys are _config/size and "
		            "lowercase hex member ids",
		            key);
		return;
	}
	get_or_watch(r, key);
}

void api_discovery_put(struct req *r)
{
	const struct app *a = req_app(r);
	const char *token = req_param(r, "token");
	const char *id = req_param(r, "key");
	if (!token_ok(r, token))
		return;
	if (!is_hex(id, 1, 16)) {
		reply_error(r, K_EBADREQ,
		            "a member id is 1 to 16 lowercase hex digits, not \"%.64s\"", id);
		return;
	}
	const char *prev = req_query(r, "prevExist");
	if (!prev || strcmp(prev, "false") != 0) {
		reply_error(r, K_EBADREQ, "registrations must be PUT with ?prevExist=false");
		return;
	}
	size_t len;
	const char *body = req_body(r, &len);
	char value[VALUE_MAX + 1];
	bool ok = form_get(body, len, "value", value, sizeof(value)) && value[0];
	for (const char *v = value; ok && *v; v++)
		ok = *v > 0x20 && *v < 0x7f; /* printable ASCII, no spaces */
	if (!ok) {
		reply_error(r, K_EBADREQ,
		            "the body must be a form with value=<name>=<peer-url>,... "
		            "(printable, at most %d bytes)",
		            VALUE_MAX);
		return;
	}
	if (park(r, true))
		discovery_put(a->discovery, token, id, value, on_done, r);
}

/* Checks one member id field of a replacement report; adds to errors. */
static const char *member_field(json_t *body, const char *field, json_t *errors)
{
	const char *v = json_string_value(json_object_get(body, field));
	if (v && is_hex(v, 1, 16))
		return v;
	json_array_append_new(errors,
	                      json_pack("{s:s, s:s}", "field", field, "message",
	                                v ? "an etcd member id: 1 to 16 lowercase hex digits"
	                                  : "required: an etcd member id (lowercase hex)"));
	return NULL;
}

/*
 * POST /discovery/{token}/_kindling/replacements {"member", "replaces"}:
 * the join step of a node (/opt/kindling/etcd-join) reports that it, member,
 * replaced replaces. The discovery token is the credential and names the
 * cluster: both members must be registered in that directory.
 */
void api_discovery_replacement(struct req *r)
{
	const struct app *a = req_app(r);
	const char *token = req_param(r, "token");
	if (!is_hex(token, 32, 32)) {
		reply_error(r, K_ENOTFOUND, "no cluster has this discovery token");
		return;
	}
	json_t *body = api_body_object(r);
	if (!body)
		return;
	json_t *errors = json_array();
	const char *k;
	json_t *v;
	json_object_foreach (body, k, v) {
		if (strcmp(k, "member") != 0 && strcmp(k, "replaces") != 0)
			json_array_append_new(errors,
			                      json_pack("{s:s, s:s}", "field", k, "message",
			                                "unknown field: a report has member "
			                                "and replaces"));
	}
	const char *member = member_field(body, "member", errors);
	const char *replaces = member_field(body, "replaces", errors);
	if (member && replaces && !strcmp(member, replaces))
		json_array_append_new(errors,
		                      json_pack("{s:s, s:s}", "field", "replaces", "message",
		                                "a member cannot replace itself"));
	if (json_array_size(errors)) {
		reply_invalid(r, errors);
		json_decref(body);
		return;
	}
	json_decref(errors);
	struct store_replace rep = {
	        .token = token, .member = member, .replaces = replaces, .at = store_now_ms()};
	enum kerr e = discovery_replaced(a->discovery, &rep);
	if (e == K_ENOTFOUND && rep.why != REPL_NO_CLUSTER) {
		bool m = rep.why == REPL_NO_MEMBER;
		reply_invalid(
		        r, json_pack("[{s:s, s:s+}]", "field", m ? "member" : "replaces", "message",
		                     m ? member : replaces,
		                     " is not registered in this cluster's discovery directory"));
	} else if (e == K_ENOTFOUND) {
		reply_error(r, e, "no cluster has this discovery token");
	} else if (e == K_EEXIST) {
		reply_error(
		        r, e,
		        rep.why == REPL_MEMBER_REMOVED
		                ? "member %s was recorded as removed (replaced by %s): a removed "
		                  "member reports nothing"
		        : rep.why == REPL_MEMBER_REPLACED
		                ? "member %s was recorded as the replacement of %s already"
		                : "member %s was recorded as replaced by %s already",
		        rep.why == REPL_ALREADY_REPLACED ? replaces : member, rep.other);
	} else if (e != K_OK) {
		reply_error(r, e, "the report could not be recorded: %s; retry", kerr_str(e));
	} else {
		reply_json(r, 200,
		           json_pack("{s:s, s:s, s:s, s:s, s:b}", "cluster", rep.cluster, "member",
		                     member, "state", "replacement", "replaces", replaces,
		                     "recorded", rep.changed));
	}
	json_decref(body);
}

void api_discovery_new(struct req *r)
{
	const struct app *a = req_app(r);
	const char *s = req_query(r, "size");
	long size = 3;
	if (s) {
		char *end;
		errno = 0;
		size = strtol(s, &end, 10);
		if (errno || *end || !*s || size < 1 || size > 99) {
			reply_error(r, K_EBADREQ,
			            "size \"%.32s\" must be a whole number from 1 to 99", s);
			return;
		}
	}
	char token[33];
	enum kerr e = rand_hex(token, 16);
	if (e == K_OK)
		e = store_dir_create(a->store, token, (int)size);
	if (e != K_OK) {
		reply_error(r, e, "cannot allocate a discovery URL: %s", kerr_str(e));
		return;
	}
	char *url = NULL;
	if (asprintf(&url, "%s/discovery/%s", a->public_url, token) < 0) {
		reply_error(r, K_ENOMEM, "out of memory");
		return;
	}
	reply_bytes(r, 200, "text/plain; charset=utf-8", url, strlen(url));
}
