/* h2.c - gRPC over HTTP/2 (h2c, or TLS with ALPN h2): listener, event loop, sessions, calls. */
#include "grpc.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../log.h"
#include "call.h"
#include "frame.h"

/*
 * Thread model: one loop thread owns every connection, call and nghttp2
 * session (nghttp2 is not thread-safe); nothing else touches them. Other
 * threads (discovery's writer, subscription callbacks under discovery's
 * lock) hand work over with grpc_post: a FIFO under qmu plus an eventfd.
 * Lock order: discovery's mu, then qmu; the loop never holds qmu while it
 * calls discovery.
 */

#define BUCKETS         4096
#define READ_CHUNK      16384
#define READS_PER_EVENT 8          /* then other connections get a turn */
#define OUT_MAX         (4u << 20) /* bytes queued on one call */
#define HEADERS_MAX     16384      /* bytes of one request's header fields */
#define PREFACE_MS      10000      /* to send the HTTP/2 preface and SETTINGS */
#define STALL_MS        30000      /* a peer that reads nothing of what is owed */
#define WINDOW          (1 << 20)  /* stream receive window */

struct conn {
	struct conn *next, *prev;
	struct grpc_server *g;
	int fd;
	nghttp2_session *s;
	gnutls_session_t tls;    /* NULL: h2c */
	struct tls_creds *creds; /* the certificate tls was started with */
	bool handshaken;         /* TLS: the handshake is done (ALPN h2) */
	struct call *calls;      /* open calls of this connection */
	size_t ncalls;
	int64_t born_ms, last_read_ms, stalled_ms;
	const uint8_t *wdata; /* what nghttp2_session_mem_send handed out, not yet written */
	size_t wlen;
	bool settings_seen;
	bool epollout;
	bool dead;
	bool reaping; /* on the server's reap list */
	struct conn *reap_next;
};

struct call {
	struct call *hnext;         /* serial hash chain */
	struct call *cnext, *cprev; /* the connection's calls */
	struct conn *conn;
	int32_t stream_id;
	uint64_t serial;
	const struct grpc_method *m;
	char path[128];
	bool path_long, is_post, is_grpc;
	size_t header_bytes;
	struct buf in;  /* a partial request message */
	struct buf out; /* framed responses not yet taken by nghttp2 */
	size_t out_off;
	int nmessages;
	bool responded; /* response headers submitted */
	bool finished;  /* status set: trailers follow what is queued */
	bool deferred;  /* the data provider waits for output */
	bool ignore_input;
	enum grpc_code code;
	char msg[256];
	void *data;
};

struct grpc_server {
	struct grpc_options o;
	struct discovery *d;
	int listen_fd, ep, efd;
	int port;
	pthread_t thread;
	bool started, stopped;
	struct conn *conns;
	struct conn *reap; /* dead connections, closed after the current batch of events */
	size_t nconns, ncalls;
	uint64_t next_serial;
	struct call *b[BUCKETS];
	nghttp2_session_callbacks *cbs;
	nghttp2_option *opt;
	pthread_mutex_t qmu; /* the fields below */
	struct grpc_post *qhead, **qtail;
	bool qclosed; /* the loop is gone: posts are released at once */
	bool stopping;
};

static char listen_marker, event_marker;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- calls ---- */

static struct call **slot(struct grpc_server *g, uint64_t serial)
{
	struct call **p = &g->b[serial % BUCKETS];
	while (*p && (*p)->serial != serial)
		p = &(*p)->hnext;
	return p;
}

static struct call *call_new(struct conn *cn, int32_t stream_id)
{
	struct grpc_server *g = cn->g;
	struct call *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->conn = cn;
	c->stream_id = stream_id;
	c->serial = ++g->next_serial;
	buf_init(&c->in, g->o.max_message + GRPC_FRAME_HEAD);
	buf_init(&c->out, OUT_MAX);
	c->hnext = g->b[c->serial % BUCKETS];
	g->b[c->serial % BUCKETS] = c;
	c->cnext = cn->calls;
	if (cn->calls)
		cn->calls->cprev = c;
	cn->calls = c;
	cn->ncalls++;
	g->ncalls++;
	return c;
}

/* Runs the method's on_close and frees c; the stream is gone or going. */
static void call_free(struct call *c)
{
	struct conn *cn = c->conn;
	struct grpc_server *g = cn->g;
	if (c->m && c->m->on_close)
		c->m->on_close(c);
	struct call **p = slot(g, c->serial);
	if (*p == c)
		*p = c->hnext;
	if (c->cprev)
		c->cprev->cnext = c->cnext;
	else
		cn->calls = c->cnext;
	if (c->cnext)
		c->cnext->cprev = c->cprev;
	cn->ncalls--;
	g->ncalls--;
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}

void *call_data(struct call *c)
{
	return c->data;
}

void call_set_data(struct call *c, void *data)
{
	c->data = data;
}

struct discovery *call_discovery(const struct call *c)
{
	return c->conn->g->d;
}

struct grpc_server *call_server(const struct call *c)
{
	return c->conn->g;
}

const struct grpc_options *call_options(const struct call *c)
{
	return &c->conn->g->o;
}

uint64_t call_serial(const struct call *c)
{
	return c->serial;
}

bool call_finished(const struct call *c)
{
	return c->finished;
}

/* grpc-message is percent-encoded (gRPC over HTTP/2: bytes outside 0x20-0x7e and '%'). */
static void percent_encode(const char *in, char *out, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t j = 0;
	for (const unsigned char *p = (const unsigned char *)in; *p && j + 4 < n; p++) {
		if (*p >= 0x20 && *p <= 0x7e && *p != '%') {
			out[j++] = (char)*p;
		} else {
			out[j++] = '%';
			out[j++] = hex[*p >> 4];
			out[j++] = hex[*p & 15];
		}
	}
	out[j] = 0;
}

#define NV(n, v)                                                                                   \
	{                                                                                          \
		(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE     \
	}

static ssize_t read_out(nghttp2_session *s, int32_t stream_id, uint8_t *dst, size_t len,
                        uint32_t *flags, nghttp2_data_source *src, void *user)
{
	(void)user;
	struct call *c = src->ptr;
	size_t avail = c->out.len - c->out_off;
	if (avail) {
		size_t n = avail < len ? avail : len;
		memcpy(dst, c->out.data + c->out_off, n);
		c->out_off += n;
		if (c->out_off == c->out.len) {
			buf_reset(&c->out);
			c->out_off = 0;
		}
		return (ssize_t)n;
	}
	if (!c->finished) {
		c->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	char status[16], msg[sizeof(c->msg) * 3 + 1];
	snprintf(status, sizeof(status), "%d", (int)c->code);
	percent_encode(c->msg, msg, sizeof(msg));
	nghttp2_nv nva[] = {NV("grpc-status", status), NV("grpc-message", msg)};
	*flags |= NGHTTP2_DATA_FLAG_EOF;
	if (nghttp2_submit_trailer(s, stream_id, nva, msg[0] ? 2 : 1) == 0)
		*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
	return 0;
}

/* Submits the response headers, or lets the data provider go on. */
static void kick(struct call *c)
{
	nghttp2_session *s = c->conn->s;
	if (c->responded) {
		if (c->deferred) {
			c->deferred = false;
			nghttp2_session_resume_data(s, c->stream_id);
		}
		return;
	}
	c->responded = true;
	if (c->finished && c->out.len == 0) { /* trailers-only */
		char status[16], msg[sizeof(c->msg) * 3 + 1];
		snprintf(status, sizeof(status), "%d", (int)c->code);
		percent_encode(c->msg, msg, sizeof(msg));
		nghttp2_nv nva[] = {NV(":status", "200"), NV("content-type", "application/grpc"),
		                    NV("grpc-status", status), NV("grpc-message", msg)};
		nghttp2_submit_response(s, c->stream_id, nva, msg[0] ? 4 : 3, NULL);
		return;
	}
	nghttp2_nv nva[] = {NV(":status", "200"), NV("content-type", "application/grpc")};
	nghttp2_data_provider prd = {.source.ptr = c, .read_callback = read_out};
	nghttp2_submit_response(s, c->stream_id, nva, 2, &prd);
}

void call_finish(struct call *c, enum grpc_code code, const char *msg)
{
	if (c->finished)
		return;
	c->finished = true;
	c->ignore_input = true;
	c->code = code;
	str_copy(c->msg, sizeof(c->msg), msg);
	kick(c);
}

void call_send(struct call *c, const ProtobufCMessage *m)
{
	if (c->finished)
		return;
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *tmp = n <= OUT_MAX ? malloc(GRPC_FRAME_HEAD + n) : NULL;
	enum kerr e = K_ETOOBIG;
	if (tmp) {
		frame_head(tmp, (uint32_t)n);
		protobuf_c_message_pack(m, tmp + GRPC_FRAME_HEAD);
		e = buf_add(&c->out, tmp, GRPC_FRAME_HEAD + n);
	}
	free(tmp);
	if (e != K_OK) {
		call_finish(c, GRPC_RESOURCE_EXHAUSTED,
		            "kindling: responses not read by the client are over their bound");
		return;
	}
	kick(c);
}

/* ---- nghttp2 callbacks ---- */

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
	struct conn *cn = user;
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct call *c = NULL;
	if (cn->g->ncalls < (size_t)cn->g->o.max_calls)
		c = call_new(cn, f->hd.stream_id);
	if (!c) {
		nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id,
		                          NGHTTP2_REFUSED_STREAM);
		return 0;
	}
	nghttp2_session_set_stream_user_data(s, f->hd.stream_id, c);
	return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
	(void)flags;
	(void)user;
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct call *c = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	if (!c)
		return 0;
	c->header_bytes += namelen + valuelen + 32;
	if (c->header_bytes > HEADERS_MAX)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* the stream is reset */
	if (namelen == 5 && !memcmp(name, ":path", 5)) {
		c->path_long = valuelen >= sizeof(c->path);
		if (!c->path_long) {
			memcpy(c->path, value, valuelen);
			c->path[valuelen] = 0;
		}
	} else if (namelen == 7 && !memcmp(name, ":method", 7)) {
		c->is_post = valuelen == 4 && !memcmp(value, "POST", 4);
	} else if (namelen == 12 && !memcmp(name, "content-type", 12)) {
		/* application/grpc, application/grpc+proto, application/grpc;... */
		c->is_grpc = valuelen >= 16 && !memcmp(value, "application/grpc", 16) &&
		             (valuelen == 16 || value[16] == '+' || value[16] == ';');
	}
	return 0;
}

static const struct grpc_method *const methods[] = {
        &grpc_method_range,
        &grpc_method_put,
        &grpc_method_watch,
};

/* The request's headers are complete: find the method or answer the error. */
static void start_call(struct call *c)
{
	if (!c->is_post || !c->is_grpc) {
		/* not gRPC: plain HTTP/2 error answers (415 as the gRPC spec says) */
		nghttp2_nv nva[] = {NV(":status", c->is_post ? "415" : "405"),
		                    NV("content-type", "text/plain")};
		c->responded = c->finished = c->ignore_input = true;
		nghttp2_submit_response(c->conn->s, c->stream_id, nva, 2, NULL);
		return;
	}
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (!c->path_long && !strcmp(c->path, methods[i]->path)) {
			c->m = methods[i];
			return;
		}
	}
	char msg[200];
	snprintf(msg, sizeof(msg), "unknown method %s", c->path_long ? "(too long)" : c->path);
	call_finish(c, GRPC_UNIMPLEMENTED, msg);
}

static void end_of_input(struct call *c)
{
	if (c->ignore_input || !c->m)
		return;
	c->ignore_input = true;
	if (c->in.len) {
		call_finish(c, GRPC_INTERNAL, "grpc: truncated message at end of stream");
		return;
	}
	if (!c->m->client_streaming && c->nmessages == 0) {
		call_finish(c, GRPC_INTERNAL, "grpc: no request message for a unary call");
		return;
	}
	if (c->m->on_half_close)
		c->m->on_half_close(c);
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
	struct conn *cn = user;
	if (f->hd.type == NGHTTP2_SETTINGS)
		cn->settings_seen = true;
	if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
		return 0;
	struct call *c = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	if (!c)
		return 0;
	if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST)
		start_call(c);
	if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
		end_of_input(c);
	return 0;
}

/* Takes the whole messages out of c->in. */
static void take_messages(struct call *c)
{
	size_t off = 0;
	while (!c->ignore_input) {
		const uint8_t *msg;
		size_t len, used;
		enum frame_result r = frame_next((const uint8_t *)c->in.data + off, c->in.len - off,
		                                 c->conn->g->o.max_message, &msg, &len, &used);
		if (r == FRAME_MORE)
			break;
		if (r != FRAME_MESSAGE) {
			char why[160];
			if (r == FRAME_TOO_BIG)
				snprintf(why, sizeof(why),
				         "grpc: received message larger than max (%zu bytes)",
				         c->conn->g->o.max_message);
			call_finish(c,
			            r == FRAME_TOO_BIG      ? GRPC_RESOURCE_EXHAUSTED
			            : r == FRAME_COMPRESSED ? GRPC_UNIMPLEMENTED
			                                    : GRPC_INTERNAL,
			            r == FRAME_TOO_BIG ? why
			            : r == FRAME_COMPRESSED
			                    ? "grpc: compressed messages are not supported"
			                    : "grpc: bad message flag");
			break;
		}
		off += used;
		c->nmessages++;
		if (!c->m->client_streaming && c->nmessages > 1) {
			call_finish(c, GRPC_INTERNAL,
			            "grpc: more than one request message for a unary call");
			break;
		}
		c->m->on_message(c, msg, len);
	}
	if (c->ignore_input) {
		buf_reset(&c->in);
		return;
	}
	if (off) {
		memmove(c->in.data, c->in.data + off, c->in.len - off);
		c->in.len -= off;
		c->in.data[c->in.len] = 0;
	}
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
                         size_t len, void *user)
{
	(void)flags;
	(void)user;
	struct call *c = nghttp2_session_get_stream_user_data(s, stream_id);
	if (!c || c->ignore_input || !c->m)
		return 0;
	while (len && !c->ignore_input) {
		/* never more than one message plus its prefix is held */
		size_t room = c->in.max - c->in.len;
		size_t n = len < room ? len : room;
		if (n == 0) { /* a message over the bound whose prefix said otherwise: cannot be */
			call_finish(c, GRPC_RESOURCE_EXHAUSTED, "grpc: message over the bound");
			break;
		}
		if (buf_add(&c->in, data, n) != K_OK) {
			call_finish(c, GRPC_RESOURCE_EXHAUSTED, "kindling: out of memory");
			break;
		}
		data += n;
		len -= n;
		take_messages(c);
	}
	return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t stream_id, uint32_t code, void *user)
{
	(void)code;
	(void)user;
	struct call *c = nghttp2_session_get_stream_user_data(s, stream_id);
	if (c) {
		nghttp2_session_set_stream_user_data(s, stream_id, NULL);
		call_free(c);
	}
	return 0;
}

/* ---- connections ---- */

static void conn_close(struct conn *cn)
{
	struct grpc_server *g = cn->g;
	for (struct call *c = cn->calls, *next; c; c = next) {
		next = c->cnext;
		nghttp2_session_set_stream_user_data(cn->s, c->stream_id, NULL);
		call_free(c);
	}
	nghttp2_session_del(cn->s);
	if (cn->tls) {
		gnutls_deinit(cn->tls);
		tls_session_done(cn->creds);
	}
	epoll_ctl(g->ep, EPOLL_CTL_DEL, cn->fd, NULL);
	close(cn->fd);
	if (cn->prev)
		cn->prev->next = cn->next;
	else
		g->conns = cn->next;
	if (cn->next)
		cn->next->prev = cn->prev;
	g->nconns--;
	free(cn);
}

/* Closes cn after the current batch of events (a later event of the batch
 * may name it) when it is dead. */
static void reap_later(struct conn *cn)
{
	if (!cn->dead || cn->reaping)
		return;
	cn->reaping = true;
	cn->reap_next = cn->g->reap;
	cn->g->reap = cn;
}

static void reap(struct grpc_server *g)
{
	while (g->reap) {
		struct conn *cn = g->reap;
		g->reap = cn->reap_next;
		conn_close(cn);
	}
}

static void want_out(struct conn *cn, bool on)
{
	if (cn->epollout == on)
		return;
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = cn};
	epoll_ctl(cn->g->ep, EPOLL_CTL_MOD, cn->fd, &ev);
	cn->epollout = on;
}

/* The transport: plain send/recv, or GnuTLS records. -1 with errno EAGAIN
 * when the socket is not ready (TLS: for the direction GnuTLS waits on),
 * -1 with another errno or 0 (recv: the peer closed) otherwise. */
static ssize_t conn_send(struct conn *cn, const uint8_t *p, size_t n)
{
	if (!cn->tls)
		return send(cn->fd, p, n, MSG_NOSIGNAL);
	ssize_t w = gnutls_record_send(cn->tls, p, n);
	if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED) {
		errno = w == GNUTLS_E_AGAIN ? EAGAIN : EINTR;
		return -1;
	}
	if (w < 0) {
		errno = EPROTO;
		return -1;
	}
	return w;
}

static ssize_t conn_recv(struct conn *cn, uint8_t *p, size_t n)
{
	if (!cn->tls)
		return recv(cn->fd, p, n, 0);
	ssize_t r = gnutls_record_recv(cn->tls, p, n);
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
		errno = r == GNUTLS_E_AGAIN ? EAGAIN : EINTR;
		return -1;
	}
	if (r < 0) {
		errno = EPROTO;
		return -1;
	}
	return r;
}

/* Writes what nghttp2 has to send until the socket is full. Marks the
 * connection dead on an error or when neither side has anything left. */
static void flush(struct conn *cn)
{
	if (cn->tls && !cn->handshaken)
		return; /* the handshake drives the socket until it is done */
	while (!cn->dead) {
		if (!cn->wlen) {
			ssize_t n = nghttp2_session_mem_send(cn->s, &cn->wdata);
			if (n < 0) {
				cn->dead = true;
				break;
			}
			cn->wlen = (size_t)n;
			if (!n)
				break;
		}
		ssize_t w = conn_send(cn, cn->wdata, cn->wlen);
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!cn->stalled_ms)
				cn->stalled_ms = now_ms();
			want_out(cn, true);
			return;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			cn->dead = true;
			break;
		}
		cn->stalled_ms = 0;
		cn->wdata += w;
		cn->wlen -= (size_t)w;
	}
	if (!cn->dead)
		want_out(cn, false);
	if (!nghttp2_session_want_read(cn->s) && !nghttp2_session_want_write(cn->s) && !cn->wlen)
		cn->dead = true;
}

/* An HTTP/1 client on the gRPC port gets one plain answer before the close. */
static void answer_http1(struct conn *cn, const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n && i < 10 && p[i] >= 'A' && p[i] <= 'Z')
		i++;
	if (i == 0 || i >= n || p[i] != ' ')
		return;
	static const char body[] = "this port speaks etcd v3 gRPC over HTTP/2 (h2c) only\n";
	char msg[256];
	int len = snprintf(msg, sizeof(msg),
	                   "HTTP/1.1 505 HTTP Version Not Supported\r\nContent-Type: text/plain\r\n"
	                   "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	                   sizeof(body) - 1, body);
	if (len > 0 && conn_send(cn, (const uint8_t *)msg, (size_t)len) < 0)
		cn->dead = true;
}

/* TLS: advances the handshake; true once it is done with ALPN h2 (then
 * HTTP/2 may flow). Marks the connection dead when it fails. */
static bool handshake(struct conn *cn)
{
	if (cn->handshaken)
		return true;
	int rc = gnutls_handshake(cn->tls);
	if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
		want_out(cn, gnutls_record_get_direction(cn->tls) == 1);
		return false;
	}
	gnutls_datum_t proto = {0};
	if (rc < 0 || gnutls_alpn_get_selected_protocol(cn->tls, &proto) < 0 || proto.size != 2 ||
	    memcmp(proto.data, "h2", 2) != 0) {
		cn->dead = true;
		return false;
	}
	cn->handshaken = true;
	want_out(cn, false);
	return true;
}

static void on_readable(struct conn *cn)
{
	uint8_t b[READ_CHUNK];
	if (cn->tls && !handshake(cn))
		return;
	/* TLS: a record already decrypted is not seen by epoll: read it too */
	for (int i = 0; !cn->dead && (i < READS_PER_EVENT ||
	                              (cn->tls && gnutls_record_check_pending(cn->tls) > 0));
	     i++) {
		ssize_t n = conn_recv(cn, b, sizeof(b));
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			cn->dead = true;
			break;
		}
		cn->last_read_ms = now_ms();
		ssize_t used = nghttp2_session_mem_recv(cn->s, b, (size_t)n);
		if (used == NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
			answer_http1(cn, b, (size_t)n);
			cn->dead = true;
			break;
		}
		if (used < 0) { /* nghttp2 queued a GOAWAY where it could: send it, then close */
			flush(cn);
			cn->dead = true;
			break;
		}
		flush(cn);
	}
}

/* A server TLS session on cn's socket: the HTTPS listener's current
 * certificate, ALPN h2 only (gRPC clients offer it). 0, or -1 (nothing
 * left allocated). */
static int tls_start(struct grpc_server *g, struct conn *cn)
{
	static const gnutls_datum_t h2 = {(unsigned char *)"h2", 2};
	if (gnutls_init(&cn->tls, GNUTLS_SERVER | GNUTLS_NONBLOCK) < 0) {
		cn->tls = NULL;
		return -1;
	}
	if (gnutls_set_default_priority(cn->tls) < 0 ||
	    !(cn->creds = tls_session_start(g->o.tls, cn->tls)) ||
	    gnutls_alpn_set_protocols(cn->tls, &h2, 1, GNUTLS_ALPN_MANDATORY) < 0) {
		tls_session_done(cn->creds);
		gnutls_deinit(cn->tls);
		cn->tls = NULL;
		cn->creds = NULL;
		return -1;
	}
	gnutls_transport_set_int(cn->tls, cn->fd);
	return 0;
}

static void accept_all(struct grpc_server *g)
{
	for (int i = 0; i < 64; i++) {
		int fd = accept4(g->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (g->nconns >= (size_t)g->o.max_conns) {
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct conn *cn = calloc(1, sizeof(*cn));
		if (!cn || nghttp2_session_server_new2(&cn->s, g->cbs, cn, g->opt) != 0) {
			free(cn);
			close(fd);
			continue;
		}
		cn->g = g;
		cn->fd = fd;
		cn->born_ms = cn->last_read_ms = now_ms();
		if (g->o.tls && tls_start(g, cn) != 0) {
			nghttp2_session_del(cn->s);
			free(cn);
			close(fd);
			continue;
		}
		nghttp2_settings_entry iv[] = {
		        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, (uint32_t)g->o.max_streams},
		        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, WINDOW},
		        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, HEADERS_MAX},
		};
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = cn};
		if (nghttp2_submit_settings(cn->s, NGHTTP2_FLAG_NONE, iv, 3) != 0 ||
		    epoll_ctl(g->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
			nghttp2_session_del(cn->s);
			if (cn->tls) {
				gnutls_deinit(cn->tls);
				tls_session_done(cn->creds);
			}
			free(cn);
			close(fd);
			continue;
		}
		cn->next = g->conns;
		if (g->conns)
			g->conns->prev = cn;
		g->conns = cn;
		g->nconns++;
		/* our SETTINGS wait for the client's first bytes: an HTTP/1 client
		 * then reads a plain HTTP/1 answer, not HTTP/2 frames */
	}
}

/* Ends connections past their deadlines. */
static void sweep(struct grpc_server *g)
{
	int64_t now = now_ms();
	for (struct conn *cn = g->conns, *next; cn; cn = next) {
		next = cn->next;
		bool idle =
		        !cn->ncalls && now - cn->last_read_ms > (int64_t)g->o.idle_timeout_s * 1000;
		if ((!cn->settings_seen && now - cn->born_ms > PREFACE_MS) ||
		    (cn->stalled_ms && now - cn->stalled_ms > STALL_MS)) {
			cn->dead = true;
		} else if (idle) {
			nghttp2_session_terminate_session(cn->s, NGHTTP2_NO_ERROR);
			flush(cn);
			cn->dead = true;
		}
		reap_later(cn);
	}
}

/* Runs what other threads posted. */
static void run_posts(struct grpc_server *g)
{
	uint64_t v;
	if (read(g->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("grpc: eventfd");
	pthread_mutex_lock(&g->qmu);
	struct grpc_post *p = g->qhead;
	g->qhead = NULL;
	g->qtail = &g->qhead;
	pthread_mutex_unlock(&g->qmu);
	while (p) {
		struct grpc_post *next = p->next;
		struct call *c = *slot(g, p->serial);
		p->run(c, p);
		p->release(p);
		if (c && !c->conn->dead) {
			struct conn *cn = c->conn;
			flush(cn); /* may free c via on_stream_close */
			reap_later(cn);
		}
		p = next;
	}
}

void grpc_post(struct grpc_server *g, struct grpc_post *p)
{
	p->next = NULL;
	pthread_mutex_lock(&g->qmu);
	if (g->qclosed) {
		pthread_mutex_unlock(&g->qmu);
		p->run(NULL, p);
		p->release(p);
		return;
	}
	bool was_empty = !g->qhead;
	*g->qtail = p;
	g->qtail = &p->next;
	pthread_mutex_unlock(&g->qmu);
	if (was_empty) {
		uint64_t one = 1;
		if (write(g->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_warn("grpc: eventfd");
	}
}

static void *loop(void *arg)
{
	struct grpc_server *g = arg;
	struct epoll_event evs[128];
	int64_t last_sweep = now_ms();
	for (;;) {
		pthread_mutex_lock(&g->qmu);
		bool stop = g->stopping;
		pthread_mutex_unlock(&g->qmu);
		if (stop)
			break;
		int n = epoll_wait(g->ep, evs, 128, 1000);
		for (int i = 0; i < n; i++) {
			void *ptr = evs[i].data.ptr;
			if (ptr == &listen_marker) {
				accept_all(g);
			} else if (ptr == &event_marker) {
				run_posts(g);
			} else {
				struct conn *cn = ptr;
				if (!cn->dead && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
					on_readable(cn);
				if (!cn->dead && (evs[i].events & EPOLLOUT) &&
				    (!cn->tls || handshake(cn)))
					flush(cn);
				reap_later(cn);
			}
		}
		reap(g);
		if (now_ms() - last_sweep >= 1000) {
			sweep(g);
			reap(g);
			last_sweep = now_ms();
		}
	}
	/* stop: GOAWAY to each, a last flush, close (their watches end) */
	for (struct conn *cn = g->conns, *next; cn; cn = next) {
		next = cn->next;
		nghttp2_session_terminate_session(cn->s, NGHTTP2_NO_ERROR);
		flush(cn);
		conn_close(cn);
	}
	pthread_mutex_lock(&g->qmu);
	g->qclosed = true;
	pthread_mutex_unlock(&g->qmu);
	run_posts(g); /* what was posted before: every call is gone, so run(NULL) */
	return NULL;
}

/* ---- life cycle ---- */

static int bind_addr(const char *addr, struct buf *errmsg)
{
	char host[256], port[16];
	const char *colon = strrchr(addr, ':');
	if (!colon || !colon[1] || strlen(colon + 1) >= sizeof(port)) {
		buf_addf(errmsg, "--grpc-listen \"%s\": expected host:port", addr);
		return -1;
	}
	size_t hl = (size_t)(colon - addr);
	const char *h = addr;
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	if (hl >= sizeof(host)) {
		buf_addf(errmsg, "--grpc-listen: host too long");
		return -1;
	}
	memcpy(host, h, hl);
	host[hl] = 0;
	str_copy(port, sizeof(port), colon + 1);
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	int rc = getaddrinfo(hl ? host : NULL, port, &hints, &ai);
	if (rc != 0) {
		buf_addf(errmsg, "--grpc-listen \"%s\": %s", addr, gai_strerror(rc));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
		buf_addf(errmsg, "cannot listen on %s (gRPC): %s", addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

enum kerr grpc_bind(const struct grpc_options *o, struct discovery *d, struct grpc_server **out,
                    struct buf *errmsg)
{
	struct grpc_server *g = calloc(1, sizeof(*g));
	if (!g) {
		buf_addf(errmsg, "out of memory");
		return K_ENOMEM;
	}
	g->o = *o;
	g->d = d;
	g->ep = g->efd = -1;
	g->qtail = &g->qhead;
	pthread_mutex_init(&g->qmu, NULL);
	g->listen_fd = bind_addr(o->listen, errmsg);
	if (g->listen_fd < 0) {
		grpc_free(&g);
		return K_EIO;
	}
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} sa;
	memset(&sa, 0, sizeof(sa));
	socklen_t sl = sizeof(sa);
	if (getsockname(g->listen_fd, &sa.sa, &sl) == 0)
		g->port = ntohs(sa.sa.sa_family == AF_INET6 ? sa.in6.sin6_port : sa.in.sin_port);
	g->ep = epoll_create1(EPOLL_CLOEXEC);
	g->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct epoll_event le = {.events = EPOLLIN, .data.ptr = &listen_marker};
	struct epoll_event ee = {.events = EPOLLIN, .data.ptr = &event_marker};
	if (g->ep < 0 || g->efd < 0 || epoll_ctl(g->ep, EPOLL_CTL_ADD, g->listen_fd, &le) != 0 ||
	    epoll_ctl(g->ep, EPOLL_CTL_ADD, g->efd, &ee) != 0 ||
	    nghttp2_session_callbacks_new(&g->cbs) != 0 || nghttp2_option_new(&g->opt) != 0) {
		buf_addf(errmsg, "gRPC: cannot set up the event loop: %s", strerror(errno));
		grpc_free(&g);
		return K_EIO;
	}
	nghttp2_session_callbacks_set_on_begin_headers_callback(g->cbs, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(g->cbs, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(g->cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(g->cbs, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(g->cbs, on_stream_close);
	nghttp2_option_set_max_deflate_dynamic_table_size(g->opt, 4096);
	*out = g;
	return K_OK;
}

int grpc_port(const struct grpc_server *g)
{
	return g->port;
}

enum kerr grpc_serve(struct grpc_server *g, struct buf *errmsg)
{
	if (pthread_create(&g->thread, NULL, loop, g) != 0) {
		buf_addf(errmsg, "gRPC: cannot start the loop thread");
		return K_EIO;
	}
	g->started = true;
	return K_OK;
}

void grpc_stop(struct grpc_server *g)
{
	if (!g || g->stopped)
		return;
	g->stopped = true;
	if (!g->started) {
		pthread_mutex_lock(&g->qmu);
		g->qclosed = true;
		pthread_mutex_unlock(&g->qmu);
		return;
	}
	pthread_mutex_lock(&g->qmu);
	g->stopping = true;
	pthread_mutex_unlock(&g->qmu);
	uint64_t one = 1;
	if (write(g->efd, &one, sizeof(one)) < 0)
		log_warn("grpc: eventfd");
	pthread_join(g->thread, NULL);
}

void grpc_free(struct grpc_server **gp)
{
	if (!gp || !*gp)
		return;
	struct grpc_server *g = *gp;
	grpc_stop(g);
	while (g->qhead) { /* posted after the loop's last look, before qclosed */
		struct grpc_post *p = g->qhead;
		g->qhead = p->next;
		p->run(NULL, p);
		p->release(p);
	}
	if (g->listen_fd >= 0)
		close(g->listen_fd);
	if (g->ep >= 0)
		close(g->ep);
	if (g->efd >= 0)
		close(g->efd);
	nghttp2_session_callbacks_del(g->cbs);
	nghttp2_option_del(g->opt);
	pthread_mutex_destroy(&g->qmu);
	free(g);
	*gp = NULL;
}
