/* call.h - one gRPC call (an HTTP/2 stream) as the method files see it; inside server/grpc/ only.
 */
#ifndef KINDLING_GRPC_CALL_H
#define KINDLING_GRPC_CALL_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../discovery.h"
#include "grpc.h"

struct grpc_server;
struct call;

/* gRPC status codes (grpc/doc/statuscodes.md). */
enum grpc_code {
	GRPC_OK = 0,
	GRPC_CANCELLED = 1,
	GRPC_UNKNOWN = 2,
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_NOT_FOUND = 5,
	GRPC_PERMISSION_DENIED = 7,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_FAILED_PRECONDITION = 9,
	GRPC_OUT_OF_RANGE = 11,
	GRPC_UNIMPLEMENTED = 12,
	GRPC_INTERNAL = 13,
	GRPC_UNAVAILABLE = 14,
};

/* A method: the :path it answers and what it does with each request message
 * (unary methods get exactly one; the transport refuses a second) and when
 * the client half-closes. on_close runs once when the stream is gone, for
 * whatever reason: it releases call_data. All run on the loop thread. */
struct grpc_method {
	const char *path;
	bool client_streaming;
	void (*on_message)(struct call *c, const uint8_t *msg, size_t len);
	void (*on_half_close)(struct call *c);
	void (*on_close)(struct call *c);
};

/* kv.c, watch.c */
extern const struct grpc_method grpc_method_range, grpc_method_put, grpc_method_watch;

/* Frames m (length-prefixed) after what the call already sends. Over the
 * call's output bound, the call ends RESOURCE_EXHAUSTED instead. After
 * call_finish it does nothing. */
void call_send(struct call *c, const ProtobufCMessage *m);

/* Ends the call with a status (msg may be NULL; it is percent-encoded into
 * grpc-message): after the messages already queued, in trailers. A second
 * call does nothing. */
void call_finish(struct call *c, enum grpc_code code, const char *msg);
bool call_finished(const struct call *c);

/* The method's state for this call (NULL at first). */
void *call_data(struct call *c);
void call_set_data(struct call *c, void *data);

/* What the call belongs to. */
struct discovery *call_discovery(const struct call *c);
struct grpc_server *call_server(const struct call *c);
const struct grpc_options *call_options(const struct call *c);
/* A number no other call of this server has: how work from other threads
 * finds the call again (see grpc_post). */
uint64_t call_serial(const struct call *c);

/*
 * Work handed to the loop thread from any thread: run(c, p) is called on the
 * loop with the call whose serial is p->serial, or with c NULL when that call
 * has ended meanwhile (or the server stopped: then on the caller's or
 * grpc_free's thread); then p->release(p). Posts run in the order posted.
 */
struct grpc_post {
	struct grpc_post *next;
	uint64_t serial;
	void (*run)(struct call *c, struct grpc_post *p);
	void (*release)(struct grpc_post *p);
};
void grpc_post(struct grpc_server *g, struct grpc_post *p);

/* etcd's response header for revision rev (cluster and member ids are kindling's constants). */
#define GRPC_CLUSTER_ID 0x6b696e646c696e67ULL /* "kindling" */
#define GRPC_MEMBER_ID  0x6b696e646c65ULL     /* "kindle" */

#endif
