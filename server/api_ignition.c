/* api_ignition.c - the node fetch path (/ignition) and its in-memory cache,
 * pointer configs (/userdata), and fetch-token rotation. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "digest.h"
#include "fetchlog.h"
#include "fields.h"
#include "render.h"
#include "view.h"

#define IGNITION_TYPE "application/vnd.coreos.ignition+json"
#define BUCKETS       4096
#define CACHE_MAX     4096 /* clusters kept; past it a whole bucket is dropped */
#define VERSIONS_MAX  16

/* One version of a cluster's config, rendered once. */
struct rendered {
	struct http_shared *resp; /* NULL until first asked for */
	char etag[64];
	char hash[DIGEST_SHA512_HEX];
};

struct entry {
	struct entry *next;
	uint64_t stamp; /* store_feed_stamp before the row was read */
	struct cluster c;
	struct rendered v[VERSIONS_MAX];
};

/*
 * Entries are looked up under the read lock (the hot path: token check and
 * queueing a shared reply), and inserted, rendered and dropped under the
 * write lock. Every change to a cluster drops its entry and bumps epoch, so
 * a load that raced with a change is served once but never cached.
 *
 * Served from memory only while provably current: the store's change feed
 * (other replicas' changes, PostgreSQL) is up, and has stayed up since the
 * entry was read (store_feed_stamp unchanged). Otherwise the row is read
 * again, and when the database cannot be read the answer is 503. A token
 * the cached row refuses is checked once more against the database (a
 * rotation through another replica may be on its way).
 */
struct confcache {
	pthread_rwlock_t lock;
	struct entry *b[BUCKETS];
	size_t n;
	atomic_ullong epoch;
};

static size_t hash_name(const char *s)
{
	return str_hash(s) % BUCKETS;
}

static void entry_free(struct entry *e)
{
	for (size_t i = 0; i < VERSIONS_MAX; i++)
		http_shared_free(&e->v[i].resp);
	cluster_clear(&e->c);
	free(e);
}

enum kerr confcache_new(struct confcache **out)
{
	struct confcache *cc = calloc(1, sizeof(*cc));
	if (!cc)
		return K_ENOMEM;
	pthread_rwlock_init(&cc->lock, NULL);
	*out = cc;
	return K_OK;
}

void confcache_free(struct confcache **ccp)
{
	if (!ccp || !*ccp)
		return;
	struct confcache *cc = *ccp;
	for (size_t i = 0; i < BUCKETS; i++) {
		while (cc->b[i]) {
			struct entry *e = cc->b[i];
			cc->b[i] = e->next;
			entry_free(e);
		}
	}
	pthread_rwlock_destroy(&cc->lock);
	free(cc);
	*ccp = NULL;
}

static struct entry *find(struct confcache *cc, const char *name)
{
	for (struct entry *e = cc->b[hash_name(name)]; e; e = e->next)
		if (!strcmp(e->c.name, name))
			return e;
	return NULL;
}

/* Drops a bucket's entries; write lock held. */
static void drop_bucket(struct confcache *cc, size_t b)
{
	while (cc->b[b]) {
		struct entry *e = cc->b[b];
		cc->b[b] = e->next;
		entry_free(e);
		cc->n--;
	}
}

/* Removes name's entry from the table and frees it; write lock held. */
static void remove_entry(struct confcache *cc, const char *name)
{
	for (struct entry **p = &cc->b[hash_name(name)]; *p; p = &(*p)->next) {
		if (!strcmp((*p)->c.name, name)) {
			struct entry *e = *p;
			*p = e->next;
			entry_free(e);
			cc->n--;
			return;
		}
	}
}

void confcache_on_event(void *arg, const struct event *ev)
{
	struct confcache *cc = arg;
	if (ev->kind == EV_MEMBER_REGISTERED || ev->kind == EV_DIRECTORY_DELETED ||
	    ev->kind == EV_CONFIG_FETCHED || ev->kind == EV_NODE_REPORTED ||
	    ev->kind == EV_MEMBER_REPLACED)
		return; /* configs hold neither registrations, fetches, reports nor member states */
	pthread_rwlock_wrlock(&cc->lock);
	atomic_fetch_add(&cc->epoch, 1);
	if (ev->kind == EV_RESYNC) {
		for (size_t b = 0; b < BUCKETS; b++)
			drop_bucket(cc, b);
		pthread_rwlock_unlock(&cc->lock);
		return;
	}
	if (ev->cluster && ev->cluster[0])
		remove_entry(cc, ev->cluster);
	pthread_rwlock_unlock(&cc->lock);
}

/* Index of a version in render_versions, or -1. */
static int version_index(const char *v)
{
	for (int i = 0; i < VERSIONS_MAX && render_versions[i]; i++)
		if (!strcmp(render_versions[i], v))
			return i;
	return -1;
}

/* Renders version vi of e's config into a shared reply; write lock held. */
static enum kerr render_into(const struct app *a, struct entry *e, int vi)
{
	const struct cluster *c = &e->c;
	struct render_cluster rc = view_render_input(a, c);
	char *body = NULL;
	size_t len = 0;
	struct profile_set *ps = NULL;
	enum kerr err = view_profile_set(a, c, &ps);
	if (err == K_OK)
		err = render_config(ps, &rc, render_versions[vi], &body, &len);
	profile_set_free(&ps);
	if (err != K_OK)
		return err;
	struct rendered *rd = &e->v[vi];
	digest_sha512_hex(body, len, rd->hash);
	char hash16[17];
	memcpy(hash16, rd->hash, 16);
	hash16[16] = '\0';
	/* the bytes' own: a rollback to a generation serves its ETag again */
	snprintf(rd->etag, sizeof(rd->etag), "\"%s-%s\"", render_versions[vi], hash16);
	/* which generation it is: for the operator and the fetch record (a
	 * rollback serves an older generation's bytes and ETag again) */
	char gen[24];
	snprintf(gen, sizeof(gen), "%lld", (long long)c->generation);
	const char *const extra[] = {
	        "ETag", rd->etag, "Cache-Control", "no-store", "X-Kindling-Generation", gen, NULL};
	rd->resp = http_shared_new(IGNITION_TYPE, body, len, extra);
	return rd->resp ? K_OK : K_ENOMEM;
}

/*
 * Finds name's entry, loading it from the store on a miss, when the cached
 * one is not provably current, or when reload says so, and rendering
 * version vi (when vi >= 0) if missing. On K_OK the cache lock is held
 * (release with unlock()) and *out is valid until then; *out_temp tells the
 * entry is not in the table and must be freed after unlock. K_ENOTFOUND,
 * K_EIO, K_EUNAVAIL, K_EINVAL (render failed), K_ENOMEM.
 */
static enum kerr acquire(const struct app *a, const char *name, int vi, bool reload,
                         struct entry **out, bool *out_temp)
{
	struct confcache *cc = a->cache;
	*out_temp = false;
	uint64_t stamp = store_feed_stamp(a->store);
	pthread_rwlock_rdlock(&cc->lock);
	struct entry *e = find(cc, name);
	bool current = e && !reload && stamp && e->stamp == stamp;
	if (current && (vi < 0 || e->v[vi].resp)) {
		*out = e;
		return K_OK;
	}
	pthread_rwlock_unlock(&cc->lock);

	struct cluster c = {0};
	unsigned long long epoch = atomic_load(&cc->epoch);
	if (!current) {
		enum kerr err = store_cluster_get(a->store, name, &c);
		if (err == K_ENOTFOUND && e) {
			pthread_rwlock_wrlock(&cc->lock);
			remove_entry(cc, name);
			pthread_rwlock_unlock(&cc->lock);
		}
		if (err != K_OK)
			return err;
	}
	pthread_rwlock_wrlock(&cc->lock);
	e = find(cc, name);
	if (current && !(e && e->stamp == stamp)) { /* dropped while unlocked: load again */
		pthread_rwlock_unlock(&cc->lock);
		return acquire(a, name, vi, reload, out, out_temp);
	}
	if (!current) {
		struct entry *ne = calloc(1, sizeof(*ne));
		if (!ne) {
			pthread_rwlock_unlock(&cc->lock);
			cluster_clear(&c);
			return K_ENOMEM;
		}
		ne->c = c;
		ne->stamp = stamp;
		/* no change published since the read began, and the feed up all
		 * along: the copy is current, and replaces an older one */
		if (atomic_load(&cc->epoch) == epoch && stamp &&
		    store_feed_stamp(a->store) == stamp) {
			if (e)
				remove_entry(cc, name);
			size_t b = hash_name(name);
			if (cc->n >= CACHE_MAX)
				drop_bucket(cc, b);
			ne->next = cc->b[b];
			cc->b[b] = ne;
			cc->n++;
		} else {
			*out_temp = true;
		}
		e = ne;
	}
	if (vi >= 0 && !e->v[vi].resp) {
		enum kerr err = render_into(a, e, vi);
		if (err != K_OK) {
			pthread_rwlock_unlock(&cc->lock);
			if (*out_temp)
				entry_free(e);
			return err;
		}
	}
	*out = e;
	return K_OK;
}

static void unlock(const struct app *a, struct entry *e, bool temp)
{
	pthread_rwlock_unlock(&a->cache->lock);
	if (temp)
		entry_free(e);
}

/* Replies 406 naming the supported versions. */
static void reply_not_acceptable(struct req *r)
{
	struct buf list;
	buf_init(&list, 256);
	render_versions_list(&list);
	reply_error(r, K_ENOTACCEPT,
	            "no supported Ignition spec version matches ?version= or the Accept header; "
	            "supported: %s",
	            buf_str(&list));
	buf_free(&list);
}

/* Replies e (406 at /ignition, 422 at /userdata) with what the cluster's
 * profiles hold that spec version cannot express, file by file. */
static void reply_inexpressible(struct req *r, enum kerr e, const struct cluster *c,
                                const char *version)
{
	const struct app *a = req_app(r);
	json_t *errors = json_array();
	struct profile_set *ps = NULL;
	if (view_profile_set(a, c, &ps) == K_OK)
		render_check(ps, c->profiles, version, "version", errors);
	profile_set_free(&ps);
	if (!json_array_size(errors)) { /* the profiles changed meanwhile */
		json_decref(errors);
		reply_error(r, e, "spec %s cannot express the config of cluster \"%s\"", version,
		            c->name);
		return;
	}
	reply_error_fields(r, e, errors);
}

/* True when an If-None-Match value lists etag (RFC 9110: a comma-separated
 * list of entity tags, weak "W/" ones compared weakly, or "*"). */
static bool etag_listed(const char *inm, const char *etag)
{
	size_t n = strlen(etag);
	const char *p = inm;
	while (*p) {
		p += strspn(p, " \t,");
		if (*p == '*')
			return true;
		if (!strncmp(p, "W/", 2))
			p += 2;
		size_t len = strcspn(p, ",");
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == n && !strncmp(p, etag, n))
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

/* Serves a rendered version (token already checked; lock held). Returns the status. */
static int serve(struct req *r, const struct rendered *rd)
{
	const char *inm = req_header(r, "If-None-Match");
	if (inm && etag_listed(inm, rd->etag)) {
		reply_header(r, "ETag", rd->etag);
		reply_static(r, 304, NULL, "", 0);
		return 304;
	}
	reply_shared(r, 200, rd->resp);
	return 200;
}

void api_cluster_ignition(struct req *r)
{
	const struct app *a = req_app(r);
	const char *name = req_param(r, "name");
	const char *token = api_fetch_token(r);
	struct entry *e;
	bool temp;
	char id[37] = "", version[24] = "";
	int64_t generation = 0;
	int status = 0;
	enum kerr err = acquire(a, name, -1, false, &e, &temp);
	if (err == K_OK && api_fetch_token_check(&e->c, token) == K_EFORBIDDEN) {
		/* a new token, rotated through another replica a moment ago? */
		unlock(a, e, temp);
		err = acquire(a, name, -1, true, &e, &temp);
	}
	if (err == K_ENOTFOUND) {
		reply_error(r, err, "there is no cluster named \"%s\"", name);
		return;
	}
	if (err != K_OK) {
		reply_error(r, K_EUNAVAIL, "cannot read the cluster: %s; try again", kerr_str(err));
		return;
	}
	str_copy(id, sizeof(id), e->c.id);
	generation = e->c.generation;
	const char *chosen = NULL;
	err = api_fetch_token_check(&e->c, token);
	if (err == K_OK)
		err = render_negotiate(req_query(r, "version"), req_header(r, "Accept"),
		                       e->c.ignition_version, &chosen);
	int vi = err == K_OK ? version_index(chosen) : -1;
	if (err == K_OK && vi < 0)
		err = K_ENOTACCEPT;
	if (err == K_OK && e->v[vi].resp) {
		str_copy(version, sizeof(version), chosen);
		status = serve(r, &e->v[vi]);
		unlock(a, e, temp);
		goto out;
	}
	unlock(a, e, temp);
	if (err == K_EAUTH) {
		reply_header(r, "WWW-Authenticate", "Bearer realm=\"kindling\"");
		reply_error(r, err,
		            "the config needs the cluster's fetch token: "
		            "Authorization: Bearer <token> (it is in the pointer config)");
	} else if (err == K_EFORBIDDEN) {
		reply_error(r, err, "the fetch token is not valid for cluster \"%s\"", name);
	} else if (err == K_ENOTACCEPT) {
		reply_not_acceptable(r);
	}
	if (err != K_OK)
		goto out;
	/* First fetch of this version: render it under the write lock. */
	err = acquire(a, name, vi, false, &e, &temp);
	if (err == K_OK) {
		err = api_fetch_token_check(&e->c, token); /* it may have rotated meanwhile */
		if (err == K_OK) {
			str_copy(version, sizeof(version), chosen);
			generation = e->c.generation;
			status = serve(r, &e->v[vi]);
		} else {
			reply_error(r, err, "the fetch token is not valid for cluster \"%s\"",
			            name);
		}
		unlock(a, e, temp);
	} else if (err == K_ENOTFOUND) {
		reply_error(r, err, "there is no cluster named \"%s\"", name);
	} else if (err == K_ENOTACCEPT && acquire(a, name, -1, false, &e, &temp) == K_OK) {
		/* the profiles hold what this spec cannot express: 406, naming it */
		reply_inexpressible(r, K_ENOTACCEPT, &e->c, chosen);
		unlock(a, e, temp);
	} else {
		reply_error(r, err == K_EINVAL ? K_EIO : K_EUNAVAIL,
		            "cannot render the config: %s; try again", kerr_str(err));
	}
out:
	/* Only served fetches are recorded: a refused one (wrong token, say)
	 * is anybody's, and must not push the nodes that booted out of the
	 * record. /metrics and the request log count the refused ones. */
	if (id[0] && a->fetchlog && err == K_OK && (status == 200 || status == 304))
		fetchlog_add(a->fetchlog, id, req_client(r), req_header(r, "User-Agent"), version,
		             status, generation);
}

void api_cluster_userdata(struct req *r)
{
	const struct app *a = req_app(r);
	const char *name = req_param(r, "name");
	const char *qv = req_query(r, "version");
	const char *hash = req_query(r, "hash");
	const char *format = req_query(r, "format");
	bool want_hash = hash && (!strcmp(hash, "1") || !strcmp(hash, "true"));
	json_t *errors = json_array();
	const char *resolved = NULL; /* ?version= by negotiation's rule: 3.7.0 -> 3.6.0 */
	if (qv && render_negotiate(qv, NULL, NULL, &resolved) != K_OK) {
		struct buf list;
		buf_init(&list, 256);
		render_versions_list(&list);
		field_error(errors, "version",
		            "is not a supported Ignition spec version (nor a newer one of a "
		            "supported major); supported: %s",
		            buf_str(&list));
		buf_free(&list);
	}
	qv = resolved;
	if (hash && !want_hash && strcmp(hash, "0") != 0 && strcmp(hash, "false") != 0)
		field_error(errors, "hash", "must be 1 or 0");
	if (format && strcmp(format, "json") != 0 && strcmp(format, "base64") != 0)
		field_error(errors, "format", "must be json or base64");
	if (json_array_size(errors)) {
		reply_invalid(r, errors);
		return;
	}
	json_decref(errors);
	struct entry *e;
	bool temp;
	enum kerr err = acquire(a, name, -1, false, &e, &temp);
	if (err == K_OK && want_hash) {
		int vi = version_index(qv ? qv : e->c.ignition_version);
		unlock(a, e, temp);
		err = acquire(a, name, vi, false, &e, &temp);
	}
	if (err == K_ENOTACCEPT && acquire(a, name, -1, false, &e, &temp) == K_OK) {
		/* ?hash=1 pins a version that cannot express the profiles */
		reply_inexpressible(r, K_EINVAL, &e->c, qv ? qv : e->c.ignition_version);
		unlock(a, e, temp);
		return;
	}
	if (err != K_OK) {
		if (err == K_ENOTFOUND)
			reply_error(r, err, "there is no cluster named \"%s\"", name);
		else
			reply_error(r, err, "cannot build the pointer config: %s", kerr_str(err));
		return;
	}
	const char *version = qv ? qv : e->c.ignition_version;
	char *body = NULL;
	size_t len = 0;
	err = view_pointer_config(a, &e->c, version,
	                          want_hash ? e->v[version_index(version)].hash : NULL, &body,
	                          &len);
	unlock(a, e, temp);
	if (err != K_OK) {
		reply_error(r, err, "cannot build the pointer config: %s", kerr_str(err));
		return;
	}
	if (format && !strcmp(format, "base64")) {
		size_t n;
		char *b64 = digest_base64(body, len, &n);
		free(body);
		if (!b64) {
			reply_error(r, K_ENOMEM, "out of memory");
			return;
		}
		reply_bytes(r, 200, "text/plain; charset=utf-8", b64, n);
		return;
	}
	reply_header(r, "Cache-Control", "no-store");
	reply_bytes(r, 200, IGNITION_TYPE, body, len);
}

static void token_done(struct req *r)
{
	struct api_call *call = req_data(r);
	if (call->rep.err != K_OK) {
		api_reply_service_error(r, &call->rep);
		return;
	}
	char t[32];
	view_time(call->rep.grace_until, t);
	json_t *j = view_cluster_json(req_app(r), &call->rep.c, true);
	json_object_set_new(j, "previous_token_valid_until", json_string(t));
	reply_json(r, 200, j);
}

void api_cluster_token(struct req *r)
{
	struct api_call *call = api_call_start(r, token_done);
	if (call)
		service_rotate(req_app(r), req_param(r, "name"), &call->rep, api_call_done, call);
}
