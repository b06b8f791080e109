/* fuzz_grpc.c - libFuzzer target: gRPC message framing and the etcd v3
 * request decoding of server/grpc/ (frame.c, keys.c, protobuf-c's unpack of
 * the messages generated from server/grpc/etcd.proto).
 *
 * The input: byte 0 picks the method (Range, Put, Watch, by value % 3) and
 * the bound of one message (64 << (byte 0 >> 2) bytes); the rest is the body
 * of the request stream, split by frame_next as h2.c splits it. Each message
 * is unpacked as the method's request; its keys go through keys_parse,
 * keys_in_range and kv_list_build on a small directory.
 *
 * Checks, beyond ASan/UBSan:
 *  - frame_next consumes exactly prefix + length, never more than it has,
 *    never a message over the bound;
 *  - keys_parse gives a 32-hex token or "", a 1-16 hex id only for a member
 *    key, and a key it calls a member or size key re-prints to itself;
 *  - an exact range holds its key and nothing else; kv_list_build lists keys
 *    in ascending order, each inside the range;
 *  - a decoded request without unknown fields packs and decodes again to the
 *    same packed size.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd.pb-c.h"
#include "grpc/frame.h"
#include "grpc/keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_grpc: %s\n", what);
		abort();
	}
}

static int hex(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);
	if (n < min || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static void keys(const ProtobufCBinaryData *key, const ProtobufCBinaryData *end)
{
	char token[33], id[33], again[128];
	enum key_kind k = keys_parse(key->data, key->len, token, id);
	check(!token[0] || hex(token, 32, 32), "token not 32 hex");
	check((k == KEY_MEMBER) == (id[0] != 0), "id without a member key");
	if (k == KEY_MEMBER) {
		check(hex(id, 1, 16), "member id not 1-16 hex");
		int n = snprintf(again, sizeof(again), KEYS_REGISTRY "%s/members/%s", token, id);
		check((size_t)n == key->len && !memcmp(again, key->data, key->len),
		      "member key does not re-print");
	} else if (k == KEY_SIZE) {
		int n = snprintf(again, sizeof(again), KEYS_REGISTRY "%s/_config/size", token);
		check((size_t)n == key->len && !memcmp(again, key->data, key->len),
		      "size key does not re-print");
	}
	check(keys_in_range(key->data, key->len, key->data, key->len, NULL, 0),
	      "an exact range misses its key");
	/* a directory of the token the key names (or a fixed one) */
	const char *t = token[0] ? token : "0123456789abcdef0123456789abcdef";
	struct store_member ms[3] = {{"a1", "n1=http://a:1", 2, 0},
	                             {"0", "n0=http://b:1", 3, 0},
	                             {"ffffffffffffffff", "nf=http://c:1", 4, 0}};
	if (id[0])
		memcpy(ms[1].id, id, sizeof(id));
	struct store_dir dir = {.size = 3, .last_index = 4, .members = ms, .n = 3};
	struct kv_list l;
	if (!kv_list_build(t, &dir, key->data, key->len, end->data, end->len, 0, &l))
		return;
	for (size_t i = 0; i < l.n; i++) {
		check(keys_in_range((const uint8_t *)l.kvs[i].key, l.kvs[i].klen, key->data,
		                    key->len, end->data, end->len),
		      "listed key outside the range");
		if (i) {
			size_t a = l.kvs[i - 1].klen, b = l.kvs[i].klen;
			int c = memcmp(l.kvs[i - 1].key, l.kvs[i].key, a < b ? a : b);
			check(c < 0 || (c == 0 && a < b) || (c == 0 && a == b), "keys out of order");
		}
	}
	kv_list_clear(&l);
}

static void roundtrip(const ProtobufCMessage *m, const ProtobufCMessageDescriptor *d)
{
	/* protobuf-c keeps unknown fields as it read them (an overlong tag varint
	 * included) and may repack them differently: kindling never repacks a
	 * request, so only messages of known fields are compared */
	if (m->n_unknown_fields)
		return;
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *p = malloc(n ? n : 1);
	if (!p)
		return;
	protobuf_c_message_pack(m, p);
	ProtobufCMessage *m2 = protobuf_c_message_unpack(d, NULL, n, p);
	check(m2 != NULL, "a packed request does not unpack");
	check(protobuf_c_message_get_packed_size(m2) == n, "repacked size differs");
	protobuf_c_message_free_unpacked(m2, NULL);
	free(p);
}

static void one(int method, const uint8_t *msg, size_t len)
{
	if (method == 0) {
		Etcdserverpb__RangeRequest *rq = etcdserverpb__range_request__unpack(NULL, len, msg);
		if (!rq)
			return;
		keys(&rq->key, &rq->range_end);
		roundtrip(&rq->base, &etcdserverpb__range_request__descriptor);
		etcdserverpb__range_request__free_unpacked(rq, NULL);
	} else if (method == 1) {
		Etcdserverpb__PutRequest *rq = etcdserverpb__put_request__unpack(NULL, len, msg);
		if (!rq)
			return;
		ProtobufCBinaryData none = {0, NULL};
		keys(&rq->key, &none);
		roundtrip(&rq->base, &etcdserverpb__put_request__descriptor);
		etcdserverpb__put_request__free_unpacked(rq, NULL);
	} else {
		Etcdserverpb__WatchRequest *rq = etcdserverpb__watch_request__unpack(NULL, len, msg);
		if (!rq)
			return;
		if (rq->request_union_case ==
		    ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST)
			keys(&rq->create_request->key, &rq->create_request->range_end);
		const ProtobufCMessage *inner =
		        rq->request_union_case ==
		                        ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST
		                ? &rq->create_request->base
		        : rq->request_union_case ==
		                        ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CANCEL_REQUEST
		                ? &rq->cancel_request->base
		        : rq->request_union_case ==
		                        ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_PROGRESS_REQUEST
		                ? &rq->progress_request->base
		                : NULL;
		if (!inner || !inner->n_unknown_fields)
			roundtrip(&rq->base, &etcdserverpb__watch_request__descriptor);
		etcdserverpb__watch_request__free_unpacked(rq, NULL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int method = data[0] % 3;
	size_t max = (size_t)64 << (data[0] >> 2 & 7);
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	while (n) {
		const uint8_t *msg = NULL;
		size_t len = 0, used = 0;
		enum frame_result r = frame_next(p, n, max, &msg, &len, &used);
		if (r != FRAME_MESSAGE)
			break;
		check(used == GRPC_FRAME_HEAD + len && used <= n && len <= max && msg == p + 5,
		      "frame_next bounds");
		one(method, msg, len);
		p += used;
		n -= used;
	}
	return 0;
}
