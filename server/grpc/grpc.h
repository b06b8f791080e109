/* grpc.h - the etcd v3 gRPC front end of discovery: an HTTP/2 listener (h2c or TLS). */
#ifndef KINDLING_GRPC_H
#define KINDLING_GRPC_H

#include <stddef.h>

#include "../buf.h"
#include "../discovery.h"
#include "../err.h"
#include "../tls.h"

/* One listener, one event-loop thread holding every connection. */
struct grpc_server;

struct grpc_options {
	const char *listen; /* host:port, "[v6]:port"; port 0 picks one */
	int idle_timeout_s; /* a connection with no call and no bytes read for this long ends */
	int max_conns;      /* open connections; more are closed at accept */
	int max_streams;    /* SETTINGS_MAX_CONCURRENT_STREAMS per connection */
	int max_calls;      /* calls open at once, all connections; more are refused */
	size_t max_message; /* largest request message, bytes (past it: RESOURCE_EXHAUSTED) */
	int max_watches;    /* watches on one Watch stream */
	struct tls *tls;    /* borrowed, outlives grpc_stop: TLS with ALPN h2; NULL: h2c */
};

/* Binds the listener (not yet serving). K_OK with *out; K_EINVAL / K_EIO with
 * a message in errmsg. The discovery outlives the server (see grpc_free). */
enum kerr grpc_bind(const struct grpc_options *o, struct discovery *d, struct grpc_server **out,
                    struct buf *errmsg);

/* The bound port. */
int grpc_port(const struct grpc_server *g);

/* Starts the event-loop thread. K_OK or K_EIO with a message. */
enum kerr grpc_serve(struct grpc_server *g, struct buf *errmsg);

/* Sends GOAWAY to every connection, closes them, ends their watches and
 * joins the thread. Registrations in flight still commit; their answers are
 * dropped. Accepts NULL; a second call does nothing. */
void grpc_stop(struct grpc_server *g);

/* Stops (if not yet) and frees; NULLs *g. Call after discovery_stop, which
 * may still hand registration outcomes to the server. Accepts NULL. */
void grpc_free(struct grpc_server **g);

#endif
