/* keys.h - etcd v3 discovery's key layout over kindling's discovery directories. */
#ifndef KINDLING_GRPC_KEYS_H
#define KINDLING_GRPC_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../store.h"

/*
 * /_etcd/registry/<token>/_config/size     the directory's size, revision 1
 * /_etcd/registry/<token>/members/<id>     a registration, revision = its index
 * A directory's revisions are its v2 indexes: each token is its own revision
 * space, and every v3 request addresses one token.
 */
#define KEYS_REGISTRY  "/_etcd/registry/"
#define KEYS_VALUE_MAX 1024 /* a registration's value, as for v2 */

/* What a key is. */
enum key_kind {
	KEY_OTHER,  /* nothing kindling serves (outside the registry, another shape) */
	KEY_SIZE,   /* the size key of *out_token */
	KEY_MEMBER, /* a registration key of *out_token, *out_id (1-16 lowercase hex, as for v2) */
};

/* Classifies key (len bytes, not NUL-terminated). out_token gets the token
 * whenever key starts with the registry and a 32-hex token ("" otherwise). */
enum key_kind keys_parse(const uint8_t *key, size_t len, char out_token[33], char out_id[33]);

/* True when key is in etcd's range [begin, end): end empty is begin alone,
 * end "\0" everything from begin on. */
bool keys_in_range(const uint8_t *key, size_t klen, const uint8_t *begin, size_t blen,
                   const uint8_t *end, size_t elen);

/* One key of a directory as v3 shows it. key and value point into kv_list's storage. */
struct v3_kv {
	const char *key;
	size_t klen;
	const char *value;
	size_t vlen;
	int64_t create_revision; /* = mod_revision; version is 1 */
};

/* The keys of a directory in key order (the size key, then members by id). */
struct kv_list {
	struct v3_kv *kvs;
	size_t n;
	char *text; /* keys and values */
};

/* Fills *out from dir, keeping only what lies in [begin, end) and was
 * created at or before rev (rev <= 0: all). true, or false without memory
 * (*out empty). Release with kv_list_clear. */
bool kv_list_build(const char *token, const struct store_dir *dir, const uint8_t *begin,
                   size_t blen, const uint8_t *end, size_t elen, int64_t rev, struct kv_list *out);

/* Releases and zeroes. Accepts NULL. */
void kv_list_clear(struct kv_list *l);

#endif
