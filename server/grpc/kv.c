/* kv.c - /etcdserverpb.KV/Range and /etcdserverpb.KV/Put over discovery directories. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "etcd.pb-c.h"
#include "keys.h"

/* A directory's revision when a request names no directory: etcd's never is 0. */
#define NO_DIR_REVISION 1

/* ---- Range ---- */

struct range_ctx {
	const Etcdserverpb__RangeRequest *rq;
	const char *token;
	struct kv_list list;
	int64_t revision; /* the directory's, now */
	bool future;      /* rq->revision is past it */
	bool nomem;
};

static void range_read(void *arg, const struct store_dir *dir)
{
	struct range_ctx *x = arg;
	x->revision = dir->last_index;
	if (x->rq->revision > dir->last_index) {
		x->future = true;
		return;
	}
	if (!kv_list_build(x->token, dir, x->rq->key.data, x->rq->key.len, x->rq->range_end.data,
	                   x->rq->range_end.len, x->rq->revision, &x->list))
		x->nomem = true;
}

static int cmp_create(const void *a, const void *b)
{
	const struct v3_kv *x = a, *y = b;
	return (x->create_revision > y->create_revision) -
	       (x->create_revision < y->create_revision);
}

/* Orders the list as asked: by key (as built) or by creation, ascending or not. */
static void sort_list(struct kv_list *l, const Etcdserverpb__RangeRequest *rq)
{
	if (l->n > 1 && (rq->sort_target == ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__CREATE ||
	                 rq->sort_target == ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__MOD))
		qsort(l->kvs, l->n, sizeof(*l->kvs), cmp_create);
	if (rq->sort_order == ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__DESCEND) {
		for (size_t i = 0, j = l->n; i + 1 < j; i++, j--) {
			struct v3_kv t = l->kvs[i];
			l->kvs[i] = l->kvs[j - 1];
			l->kvs[j - 1] = t;
		}
	}
}

static void range_message(struct call *c, const uint8_t *msg, size_t len)
{
	Etcdserverpb__RangeRequest *rq = etcdserverpb__range_request__unpack(NULL, len, msg);
	if (!rq) {
		call_finish(c, GRPC_INTERNAL, "grpc: error unmarshalling request");
		return;
	}
	if (!rq->key.len) {
		call_finish(c, GRPC_INVALID_ARGUMENT, "etcdserver: key is not provided");
		goto out;
	}
	char token[33], id[33];
	keys_parse(rq->key.data, rq->key.len, token, id);
	struct range_ctx x = {.rq = rq, .token = token, .revision = NO_DIR_REVISION};
	enum kerr e = token[0] ? discovery_read(call_discovery(c), token, range_read, &x) : K_OK;
	if (e == K_ENOTFOUND) /* like any key nobody wrote: an empty answer */
		e = K_OK;
	if (e != K_OK || x.nomem) {
		call_finish(c, GRPC_UNAVAILABLE,
		            "kindling: discovery is busy or storage failed; retry");
		goto done;
	}
	if (x.future || (!token[0] && rq->revision > NO_DIR_REVISION)) {
		call_finish(c, GRPC_OUT_OF_RANGE,
		            "etcdserver: mvcc: required revision is a future revision");
		goto done;
	}
	sort_list(&x.list, rq);
	Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
	h.cluster_id = GRPC_CLUSTER_ID;
	h.member_id = GRPC_MEMBER_ID;
	h.revision = x.revision;
	h.raft_term = 2;
	Etcdserverpb__RangeResponse rs = ETCDSERVERPB__RANGE_RESPONSE__INIT;
	rs.header = &h;
	rs.count = (int64_t)x.list.n;
	size_t n = x.list.n;
	if (rq->limit > 0 && (size_t)rq->limit < n) {
		n = (size_t)rq->limit;
		rs.more = 1;
	}
	if (rq->count_only)
		n = 0;
	Etcdserverpb__KeyValue *kvs = n ? calloc(n, sizeof(*kvs)) : NULL;
	Etcdserverpb__KeyValue **ptrs =
	        n ? calloc(n, sizeof(*ptrs)) : NULL; // NOLINT(bugprone-sizeof-expression)
	if (n && (!kvs || !ptrs)) {
		free(kvs);
		free(ptrs);
		call_finish(c, GRPC_UNAVAILABLE, "kindling: out of memory; retry");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		const struct v3_kv *kv = &x.list.kvs[i];
		etcdserverpb__key_value__init(&kvs[i]);
		kvs[i].key.data = (uint8_t *)kv->key;
		kvs[i].key.len = kv->klen;
		kvs[i].create_revision = kvs[i].mod_revision = kv->create_revision;
		kvs[i].version = 1;
		if (!rq->keys_only) {
			kvs[i].value.data = (uint8_t *)kv->value;
			kvs[i].value.len = kv->vlen;
		}
		ptrs[i] = &kvs[i];
	}
	rs.n_kvs = n;
	rs.kvs = ptrs;
	call_send(c, &rs.base);
	call_finish(c, GRPC_OK, NULL);
	free(kvs);
	free(ptrs);
done:
	kv_list_clear(&x.list);
out:
	etcdserverpb__range_request__free_unpacked(rq, NULL);
}

const struct grpc_method grpc_method_range = {
        .path = "/etcdserverpb.KV/Range",
        .on_message = range_message,
};

/* ---- Put ---- */

/* A registration on its way through discovery's writer, then back to the loop. */
struct put_job {
	struct grpc_post post;
	struct grpc_server *g;
	struct discovery *d;
	char token[33], id[33];
	char *value;
	size_t vlen;
	bool prev_kv;
	struct disc_reply reply;
};

static void put_release(struct grpc_post *p)
{
	struct put_job *j = (struct put_job *)p;
	disc_reply_clear(&j->reply);
	free(j->value);
	free(j);
}

/* The member as it is stored, for a put of a key that exists. */
struct existing {
	const char *id;
	char *value;
	int64_t created, revision;
};

static void find_existing(void *arg, const struct store_dir *dir)
{
	struct existing *e = arg;
	e->revision = dir->last_index;
	for (size_t i = 0; i < dir->n; i++) {
		if (!strcmp(dir->members[i].id, e->id)) {
			e->value = strdup(dir->members[i].value);
			e->created = dir->members[i].created_index;
		}
	}
}

static void put_answer(struct call *c, struct grpc_post *p)
{
	struct put_job *j = (struct put_job *)p;
	if (!c)
		return; /* the call ended meanwhile; the registration stands (or not) as committed
		         */
	Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
	h.cluster_id = GRPC_CLUSTER_ID;
	h.member_id = GRPC_MEMBER_ID;
	h.raft_term = 2;
	Etcdserverpb__PutResponse rs = ETCDSERVERPB__PUT_RESPONSE__INIT;
	rs.header = &h;
	Etcdserverpb__KeyValue prev = ETCDSERVERPB__KEY_VALUE__INIT;
	char key[sizeof(KEYS_REGISTRY) + 32 + 9 + 33];
	switch (j->reply.status) {
	case DISC_CREATED:
		h.revision = j->reply.index;
		call_send(c, &rs.base);
		call_finish(c, GRPC_OK, NULL);
		return;
	case DISC_EXISTS: {
		/* a retried registration (the answer to the first was lost) succeeds again;
		 * registrations are write-once, so another value is refused */
		struct existing e = {.id = j->id};
		if (discovery_read(j->d, j->token, find_existing, &e) != K_OK || !e.value) {
			free(e.value);
			call_finish(c, GRPC_UNAVAILABLE, "kindling: discovery is busy; retry");
			return;
		}
		bool same = strlen(e.value) == j->vlen && !memcmp(e.value, j->value, j->vlen);
		if (!same) {
			free(e.value);
			call_finish(c, GRPC_FAILED_PRECONDITION,
			            "kindling: this member is registered with another value; "
			            "discovery registrations are written once");
			return;
		}
		h.revision = e.revision;
		if (j->prev_kv) {
			int kl = snprintf(key, sizeof(key), KEYS_REGISTRY "%s/members/%s", j->token,
			                  j->id);
			prev.key.data = (uint8_t *)key;
			prev.key.len = kl > 0 ? (size_t)kl : 0;
			prev.create_revision = prev.mod_revision = e.created;
			prev.version = 1;
			prev.value.data = (uint8_t *)e.value;
			prev.value.len = strlen(e.value);
			rs.prev_kv = &prev;
		}
		call_send(c, &rs.base);
		call_finish(c, GRPC_OK, NULL);
		free(e.value);
		return;
	}
	case DISC_NOT_FOUND:
		call_finish(c, GRPC_NOT_FOUND, "kindling: no such discovery token");
		return;
	case DISC_FULL:
		call_finish(c, GRPC_RESOURCE_EXHAUSTED,
		            "kindling: too many registrations under this discovery token");
		return;
	default:
		call_finish(c, GRPC_UNAVAILABLE,
		            "kindling: discovery is busy or storage failed; retry");
		return;
	}
}

/* discovery's answer, on its writer thread (or at once on the loop's). */
static void put_done(void *arg, struct disc_reply *reply)
{
	struct put_job *j = arg;
	j->reply = *reply;
	grpc_post(j->g, &j->post);
}

/* What v2 accepts too: printable ASCII without spaces, 1-1024 bytes. */
static bool value_ok(const uint8_t *v, size_t n)
{
	if (n == 0 || n > KEYS_VALUE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (v[i] <= 0x20 || v[i] >= 0x7f)
			return false;
	return true;
}

static void put_message(struct call *c, const uint8_t *msg, size_t len)
{
	Etcdserverpb__PutRequest *rq = etcdserverpb__put_request__unpack(NULL, len, msg);
	if (!rq) {
		call_finish(c, GRPC_INTERNAL, "grpc: error unmarshalling request");
		return;
	}
	char token[33], id[33];
	enum key_kind k =
	        rq->key.len ? keys_parse(rq->key.data, rq->key.len, token, id) : KEY_OTHER;
	if (!rq->key.len) {
		call_finish(c, GRPC_INVALID_ARGUMENT, "etcdserver: key is not provided");
	} else if (k != KEY_MEMBER) {
		/* the size key is the operator's (set at cluster creation); nothing else is
		 * kindling's */
		call_finish(c, GRPC_PERMISSION_DENIED,
		            k == KEY_SIZE
		                    ? "etcdserver: permission denied (the size key is read-only)"
		                    : "etcdserver: permission denied (only "
		                      "/_etcd/registry/<token>/members/<id> may be written)");
	} else if (rq->lease != 0) {
		call_finish(c, GRPC_NOT_FOUND, "etcdserver: requested lease not found");
	} else if (rq->ignore_value || rq->ignore_lease) {
		call_finish(c, GRPC_INVALID_ARGUMENT, "etcdserver: key not found");
	} else if (!value_ok(rq->value.data, rq->value.len)) {
		call_finish(c, GRPC_INVALID_ARGUMENT,
		            "kindling: a registration value is name=peer-url,... in 1-1024 "
		            "printable ASCII bytes, as for v2");
	} else {
		struct put_job *j = calloc(1, sizeof(*j));
		if (j)
			j->value = malloc(rq->value.len + 1);
		if (!j || !j->value) {
			free(j);
			call_finish(c, GRPC_UNAVAILABLE, "kindling: out of memory; retry");
			goto out;
		}
		memcpy(j->value, rq->value.data, rq->value.len);
		j->value[rq->value.len] = 0;
		j->vlen = rq->value.len;
		j->post.serial = call_serial(c);
		j->post.run = put_answer;
		j->post.release = put_release;
		j->g = call_server(c);
		j->d = call_discovery(c);
		j->prev_kv = rq->prev_kv;
		str_copy(j->token, sizeof(j->token), token);
		str_copy(j->id, sizeof(j->id), id);
		discovery_put(j->d, j->token, j->id, j->value, put_done, j);
	}
out:
	etcdserverpb__put_request__free_unpacked(rq, NULL);
}

const struct grpc_method grpc_method_put = {
        .path = "/etcdserverpb.KV/Put",
        .on_message = put_message,
};
