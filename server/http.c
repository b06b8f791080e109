/* http.c - libmicrohttpd glue: route matching, request context, replies, metrics, logging.
 *
 * Threads: libmicrohttpd's workers (--threads, one epoll loop each) run every
 * callback of a connection on that connection's worker. Handlers hand parked
 * requests to other threads (creates, discovery, the upstream), which call
 * only req_resume. parked_mu guards the parking state of every request (the
 * parked / forced lists and the flags next to them) and the list of open
 * streams; it is taken after no other lock, and nothing but a stream's wake
 * (its own mutex, then libmicrohttpd's) is called while it is held. token_mu
 * guards the admin token (replaced on SIGHUP), held for one comparison, after
 * no other lock. TLS: tls.c, which has its own lock (the credentials a new
 * connection gets, swapped on SIGHUP), reached from on_connection.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "form.h"
#include "httpcheck.h"
#include "log.h"
#include "tls.h"

#define MAX_PARAMS   4
#define MAX_HEADERS  12
#define PATH_MAX_LEN 2048
#define MAX_TE       8 /* Transfer-Encoding fields looked at */
#define MAX_HOSTS    40

/* The one mapping from errors to HTTP statuses, with problem type slugs. */
static const struct {
	int status;
	const char *slug;
} kerr_http[K_ERR_COUNT] = {
        [K_OK] = {200, "ok"},
        [K_ENOMEM] = {503, "out-of-memory"},
        [K_EBADREQ] = {400, "bad-request"},
        [K_EINVAL] = {422, "invalid-input"},
        [K_ENOTFOUND] = {404, "not-found"},
        [K_EEXIST] = {409, "already-exists"},
        [K_ETOOBIG] = {413, "too-large"},
        [K_EMEDIA] = {415, "unsupported-media-type"},
        [K_ENOTACCEPT] = {406, "not-acceptable"},
        [K_EAUTH] = {401, "unauthorized"},
        [K_EFORBIDDEN] = {403, "forbidden"},
        [K_EMETHOD] = {405, "method-not-allowed"},
        [K_ELIMIT] = {409, "limit-reached"},
        [K_EUPSTREAM] = {502, "upstream-failed"},
        [K_EUNAVAIL] = {503, "unavailable"},
        [K_EIO] = {500, "storage-failure"},
};

int http_status(enum kerr e)
{
	return (unsigned)e < K_ERR_COUNT ? kerr_http[e].status : 500;
}

/* Problems of the HTTP layer itself, beside the kerr mapping: statuses no
 * lower module has a reason to return. */
enum http_problem {
	HP_BAD_FRAMING,   /* Content-Length / Transfer-Encoding that cannot frame a body */
	HP_BAD_HOST,      /* no Host in HTTP/1.1, two of them, or not a host[:port] */
	HP_CROSS_SITE,    /* a state change a browser sent from another site */
	HP_MISDIRECTED,   /* a Host kindling is not known by (DNS rebinding) */
	HP_HEADERS_LARGE, /* over --header-max */
	HP_TE_UNKNOWN,    /* a transfer coding other than chunked */
	HP_STOPPING,      /* parked when the server stopped */
	HP_COUNT
};

static const struct {
	int status;
	const char *slug;
} http_problems[HP_COUNT] = {
        [HP_BAD_FRAMING] = {400, "bad-framing"},
        [HP_BAD_HOST] = {400, "bad-host"},
        [HP_CROSS_SITE] = {403, "cross-site-request"},
        [HP_MISDIRECTED] = {421, "misdirected-request"},
        [HP_HEADERS_LARGE] = {431, "headers-too-large"},
        [HP_TE_UNKNOWN] = {501, "transfer-coding-not-implemented"},
        [HP_STOPPING] = {503, "shutting-down"},
};

/* Statuses counted separately in /metrics; anything else counts as "other". */
static const int counted_status[] = {200, 201, 204, 304, 400, 401, 403, 404, 405, 406, 409,
                                     412, 413, 414, 415, 421, 422, 431, 500, 501, 502, 503};
#define NSTATUS (sizeof(counted_status) / sizeof(counted_status[0]) + 1)
/* Latency histogram bounds, seconds. */
static const double latency_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                    0.05,   0.1,   0.25,   0.5,   1,    2.5};
#define NBUCKETS (sizeof(latency_le) / sizeof(latency_le[0]) + 1)

struct route_stats {
	atomic_ullong by_status[NSTATUS];
};

struct http_server {
	struct MHD_Daemon *d; /* NULL until http_serve */
	int listen_fd;        /* bound by http_bind, listening from http_serve */
	int port;
	bool loopback;
	char listen_host[HTTP_HOST_MAX + 1]; /* the --listen host when it is a name */
	const char *hosts[MAX_HOSTS];        /* names Host may carry (http_host_allowed) */
	size_t nhosts;
	struct http_origin public_origin; /* of o.public_url, when has_public_origin */
	bool has_public_origin;
	atomic_bool stopping;        /* http_stop began: replies say Connection: close */
	struct req *parked;          /* suspended requests, under parked_mu */
	bool closing;                /* under parked_mu: the drain is over, nothing parks */
	atomic_int resuming;         /* req_resume calls between the lock and MHD */
	atomic_int forced_open;      /* requests answered 503 by http_stop, not yet ended */
	struct http_stream *streams; /* open streams, under parked_mu */
	atomic_int nstreams;
	const struct route *routes;
	size_t nroutes;
	struct route_stats *stats; /* per route, plus one for unmatched */
	atomic_ullong buckets[NBUCKETS];
	atomic_ullong latency_us_sum;
	atomic_int inflight;
	atomic_size_t body_bytes; /* held by all requests, bounded by o.bodies_max */
	void *app;
	struct http_options o;
	struct tls *tls;          /* NULL: plain HTTP */
	pthread_mutex_t token_mu; /* guards admin_token */
	char *admin_token;        /* NULL: operator routes are open */
};

/* A reply header, name and value in one allocation. */
struct hdr {
	struct hdr *next;
	const char *value; /* points into name's storage, after the name */
	char name[];
};

/* A request's context. Every parked long poll holds one (10 000 parked
 * watches in bench figure 5), so it is kept small: the peer's address is
 * formatted when asked for, a body buffer exists once a body arrives, the
 * path parameters take what the path needs. */
struct req {
	struct http_server *h;
	struct MHD_Connection *mc;
	const struct route *route;      /* NULL: no route matched */
	const struct route *path_route; /* a route whose pattern matched (any method) */
	const char *method;
	const char *path;           /* MHD's decoded path */
	const char *secret_pattern; /* a secret route the path matched: shown instead of it */
	struct buf *body;           /* NULL until a body arrives */
	struct hdr *hdrs;           /* reply headers, in the order added */
	int64_t start_ns;           /* CLOCK_MONOTONIC */
	size_t resp_len;
	struct req *pnext, *pprev; /* in h->parked, or in the forced list, under parked_mu */
	handler_fn on_resume;
	void *data;
	void (*free_data)(void *);
	int status;       /* 0 until replied */
	uint16_t nhdrs;   /* at most MAX_HEADERS */
	uint16_t pathcap; /* at most PATH_MAX_LEN */
	uint8_t nparams;  /* path parameters in pathbuf, in the pattern's order */
	bool started;     /* on_access saw it: method, path, route are set */
	bool suspended;
	bool too_big;     /* the body overflowed: drain it, then answer 413 */
	bool over_budget; /* all bodies together overflowed: drain, then 503 */
	/* parking, under parked_mu */
	bool parked;       /* suspended; its handler has not called req_resume yet */
	bool forced;       /* resumed by http_stop and answered 503; the handler holds it */
	bool handler_done; /* forced, and the handler has called req_resume since */
	bool ended;        /* forced, and libmicrohttpd is done with it */
	char pathbuf[];    /* pathcap bytes: the path parameters, NUL-terminated */
};

/* The parking state of every request (see the comment at the top). */
static pthread_mutex_t parked_mu = PTHREAD_MUTEX_INITIALIZER;
/* Requests http_stop answered whose handlers have not given them back: kept
 * reachable, freed by the handler's req_resume. */
static struct req *forced_list;

static void plink(struct req **head, struct req *r)
{
	r->pprev = NULL;
	r->pnext = *head;
	if (*head)
		(*head)->pprev = r;
	*head = r;
}

static void punlink(struct req **head, struct req *r)
{
	if (r->pprev)
		r->pprev->pnext = r->pnext;
	else
		*head = r->pnext;
	if (r->pnext)
		r->pnext->pprev = r->pprev;
	r->pnext = r->pprev = NULL;
}

static int64_t now_ns(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

/* Seconds since start_ns (now_ns). */
static double elapsed_s(int64_t start_ns)
{
	return (double)(now_ns() - start_ns) / 1e9;
}

/* Matches path against pattern, copying the parameters' values to pathbuf. */
static bool match(const char *pat, const char *path, struct req *r)
{
	size_t used = 0;
	r->nparams = 0;
	while (*pat) {
		if (*pat != '{') {
			if (*pat++ != *path++)
				return false;
			continue;
		}
		const char *close = strchr(pat, '}');
		if (!close || r->nparams == MAX_PARAMS)
			return false;
		bool rest = close[-1] == '*';
		size_t n = rest ? strlen(path) : strcspn(path, "/");
		if ((!rest && n == 0) || used + n + 1 > r->pathcap)
			return false;
		r->nparams++;
		memcpy(r->pathbuf + used, path, n);
		r->pathbuf[used + n] = '\0';
		used += n + 1;
		path += n;
		pat = close + 1;
	}
	return *path == '\0';
}

static bool method_is(const struct route *rt, const char *method)
{
	return !strcmp(rt->method, method) ||
	       (!strcmp(method, "HEAD") && !strcmp(rt->method, "GET"));
}

/* Finds the route; on a path match with another method, fills allow. */
static const struct route *find_route(struct req *r, struct buf *allow)
{
	for (size_t i = 0; i < r->h->nroutes; i++) {
		const struct route *rt = &r->h->routes[i];
		if (!match(rt->pattern, r->path, r))
			continue;
		if ((rt->flags & ROUTE_SECRET_PATH) && !r->secret_pattern)
			r->secret_pattern = rt->pattern;
		if (method_is(rt, r->method))
			return rt;
		if (!r->path_route)
			r->path_route = rt;
		if (!strstr(buf_str(allow), rt->method)) {
			buf_addf(allow, "%s%s", allow->len ? ", " : "", rt->method);
			if (!strcmp(rt->method, "GET"))
				buf_addstr(allow, ", HEAD");
		}
	}
	r->nparams = 0;
	return NULL;
}

void *req_app(const struct req *r)
{
	return r->h->app;
}

struct http_server *req_server(const struct req *r)
{
	return r->h;
}

const char *req_method(const struct req *r)
{
	return r->method;
}

const char *req_path(const struct req *r)
{
	return r->path;
}

bool req_is_head(const struct req *r)
{
	return !strcmp(r->method, "HEAD");
}

const char *req_param(const struct req *r, const char *name)
{
	size_t n = strlen(name);
	const char *pat = r->route ? r->route->pattern : "", *value = r->pathbuf;
	for (int i = 0; i < r->nparams && (pat = strchr(pat, '{')); i++) {
		const char *close = strchr(pat, '}');
		size_t len = (size_t)(close - pat - 1) - (close[-1] == '*');
		if (len == n && !strncmp(pat + 1, name, n))
			return value;
		value += strlen(value) + 1;
		pat = close + 1;
	}
	return "";
}

const char *req_query(const struct req *r, const char *key)
{
	return MHD_lookup_connection_value(r->mc, MHD_GET_ARGUMENT_KIND, key);
}

const char *req_header(const struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->mc, MHD_HEADER_KIND, name);
}

const char *req_body(const struct req *r, size_t *out_len)
{
	static struct buf none; /* no body: "" */
	const struct buf *b = r->body ? r->body : &none;
	*out_len = b->len;
	return buf_str(b);
}

/* Formatted when asked for, not kept per request: valid until the next
 * call on the same thread (every caller copies it at once). */
const char *req_client(struct req *r)
{
	static _Thread_local char client[48]; /* INET6_ADDRSTRLEN */
	const union MHD_ConnectionInfo *ci =
	        MHD_get_connection_info(r->mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	snprintf(client, sizeof(client), "-");
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;
		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET,
			          &((const struct sockaddr_in *)(const void *)sa)->sin_addr, client,
			          sizeof(client));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6,
			          &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			          client, sizeof(client));
	}
	return client;
}

enum kerr reply_header(struct req *r, const char *name, const char *value)
{
	if (r->nhdrs == MAX_HEADERS)
		return K_ETOOBIG;
	size_t nl = strlen(name) + 1, vl = strlen(value) + 1;
	struct hdr *hd = malloc(sizeof(*hd) + nl + vl);
	if (!hd)
		return K_ENOMEM;
	memcpy(hd->name, name, nl);
	memcpy(hd->name + nl, value, vl);
	hd->value = hd->name + nl;
	hd->next = NULL;
	struct hdr **tail = &r->hdrs;
	while (*tail)
		tail = &(*tail)->next;
	*tail = hd;
	r->nhdrs++;
	return K_OK;
}

/* Queues resp with the collected headers; the one place replies leave. */
static void queue(struct req *r, int status, const char *content_type, struct MHD_Response *resp,
                  size_t len)
{
	if (!resp) {
		log_warnx("cannot create a response for %s %s", r->method, r->path);
		return;
	}
	if (content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	for (const struct hdr *hd = r->hdrs; hd; hd = hd->next)
		MHD_add_response_header(resp, hd->name, hd->value);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (atomic_load(&r->h->stopping)) /* keep-alive clients reconnect, to a replica */
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	if (MHD_queue_response(r->mc, (unsigned)status, resp) != MHD_YES)
		log_warnx("cannot queue a %d response for %s %s", status, r->method, r->path);
	MHD_destroy_response(resp);
	r->status = status;
	r->resp_len = len;
}

struct http_shared {
	struct MHD_Response *resp;
	size_t len;
};

struct http_shared *http_shared_new(const char *content_type, char *body, size_t len,
                                    const char *const *extra)
{
	struct http_shared *s = malloc(sizeof(*s));
	if (!s) {
		free(body);
		return NULL;
	}
	s->len = len;
	s->resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!s->resp) {
		free(body);
		free(s);
		return NULL;
	}
	MHD_add_response_header(s->resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	MHD_add_response_header(s->resp, "X-Content-Type-Options", "nosniff");
	for (size_t i = 0; extra && extra[i] && extra[i + 1]; i += 2)
		MHD_add_response_header(s->resp, extra[i], extra[i + 1]);
	return s;
}

void http_shared_free(struct http_shared **sp)
{
	if (!sp || !*sp)
		return;
	MHD_destroy_response((*sp)->resp);
	free(*sp);
	*sp = NULL;
}

void reply_shared(struct req *r, int status, struct http_shared *s)
{
	if (MHD_queue_response(r->mc, (unsigned)status, s->resp) != MHD_YES)
		log_warnx("cannot queue a %d response for %s %s", status, r->method, r->path);
	r->status = status;
	r->resp_len = s->len;
}

void reply_bytes(struct req *r, int status, const char *content_type, char *body, size_t len)
{
	queue(r, status, content_type,
	      MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE), len);
}

void reply_static(struct req *r, int status, const char *content_type, const char *body, size_t len)
{
	queue(r, status, content_type,
	      MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_PERSISTENT),
	      len);
}

/* A streamed reply (reply_stream). mu guards parked and pending; it is taken
 * before libmicrohttpd's own locks, never the other way. */
struct http_stream {
	struct http_server *h;
	struct MHD_Connection *mc;
	stream_fill_fn fill;
	void (*done)(void *arg);
	void *arg;
	pthread_mutex_t mu;
	bool parked;                       /* suspended in stream_read, waiting for a wake */
	bool pending;                      /* woken while fill ran: run it again before parking */
	atomic_bool ending;                /* http_stop: end the reply at the next read */
	struct http_stream *snext, *sprev; /* h->streams, under parked_mu */
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct http_stream *s = cls;
	(void)pos;
	for (;;) {
		if (atomic_load(&s->ending))
			return MHD_CONTENT_READER_END_OF_STREAM;
		pthread_mutex_lock(&s->mu);
		s->pending = false;
		pthread_mutex_unlock(&s->mu);
		long n = s->fill(s->arg, buf, max);
		if (n < 0)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (n > 0)
			return (ssize_t)n;
		pthread_mutex_lock(&s->mu);
		bool again = s->pending || atomic_load(&s->ending);
		if (!again) {
			/* nothing to send: park without a thread; 0 with the
			 * connection suspended is libmicrohttpd's "not yet" */
			s->parked = true;
			MHD_suspend_connection(s->mc);
		}
		pthread_mutex_unlock(&s->mu);
		if (!again)
			return 0;
	}
}

static void stream_free(void *cls)
{
	struct http_stream *s = cls;
	pthread_mutex_lock(&parked_mu);
	if (s->sprev)
		s->sprev->snext = s->snext;
	else
		s->h->streams = s->snext;
	if (s->snext)
		s->snext->sprev = s->sprev;
	pthread_mutex_unlock(&parked_mu);
	s->done(s->arg);
	atomic_fetch_sub(&s->h->nstreams, 1);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

struct http_stream *reply_stream(struct req *r, int status, const char *content_type,
                                 stream_fill_fn fill, void (*done)(void *arg), void *arg)
{
	struct http_stream *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->h = r->h;
	s->mc = r->mc;
	s->fill = fill;
	s->done = done;
	s->arg = arg;
	pthread_mutex_init(&s->mu, NULL);
	struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096,
	                                                              stream_read, s, stream_free);
	if (!resp) {
		pthread_mutex_destroy(&s->mu);
		free(s);
		return NULL;
	}
	atomic_fetch_add(&s->h->nstreams, 1);
	pthread_mutex_lock(&parked_mu);
	s->snext = s->h->streams;
	if (s->snext)
		s->snext->sprev = s;
	s->h->streams = s;
	if (s->h->closing)
		atomic_store(&s->ending, true); /* stopping: it ends at once */
	pthread_mutex_unlock(&parked_mu);
	queue(r, status, content_type, resp, 0);
	return s;
}

void http_stream_wake(struct http_stream *s)
{
	pthread_mutex_lock(&s->mu);
	if (s->parked) {
		s->parked = false;
		MHD_resume_connection(s->mc);
	} else {
		s->pending = true;
	}
	pthread_mutex_unlock(&s->mu);
}

int http_streams_open(const struct http_server *h)
{
	return atomic_load(&h->nstreams);
}

/* http_stop: every open stream ends (its reply closes), and a new one ends
 * at once. */
static void end_streams(struct http_server *h)
{
	pthread_mutex_lock(&parked_mu);
	h->closing = true;
	for (struct http_stream *s = h->streams; s; s = s->snext) {
		atomic_store(&s->ending, true);
		http_stream_wake(s);
	}
	pthread_mutex_unlock(&parked_mu);
}

/* Serializes j (stolen) for a reply; falls back to a fixed text on ENOMEM. */
static void reply_json_typed(struct req *r, int status, const char *type, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	if (!s) {
		static const char oom[] = "{\"title\": \"Service Unavailable\", \"status\": 503}\n";
		reply_static(r, 503, "application/problem+json", oom, sizeof(oom) - 1);
		return;
	}
	size_t n = strlen(s);
	char *t = realloc(s, n + 2);
	if (t) {
		t[n++] = '\n';
		t[n] = '\0';
		s = t;
	}
	reply_bytes(r, status, type, s, n);
}

void reply_json(struct req *r, int status, json_t *body)
{
	reply_json_typed(r, status, "application/json", body);
}

static bool has_reply_header(const struct req *r, const char *name)
{
	for (const struct hdr *hd = r->hdrs; hd; hd = hd->next)
		if (!strcasecmp(hd->name, name))
			return true;
	return false;
}

/* The problem+json object (a new reference, or NULL on ENOMEM); the detail
 * is cut to 1 KiB and made valid UTF-8. */
static json_t *problem_json(int status, const char *slug, const char *detail)
{
	char text[1024];
	str_copy(text, sizeof(text), detail ? detail : "");
	buf_utf8_repair(text);
	const char *title = MHD_get_reason_phrase_for((unsigned)status);
	char type[96];
	snprintf(type, sizeof(type), "urn:kindling:problem:%s", slug ? slug : "error");
	return json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title", title, "status", status,
	                 "detail", detail ? text : title);
}

char *http_problem_body(int status, const char *slug, const char *detail, size_t *out_len)
{
	json_t *j = problem_json(status, slug, detail);
	char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	size_t n = s ? strlen(s) : 0;
	char *t = s ? realloc(s, n + 2) : NULL;
	if (!t) {
		free(s);
		return NULL;
	}
	t[n++] = '\n';
	t[n] = '\0';
	*out_len = n;
	return t;
}

/* Sends problem+json with status and slug, and errors (stolen) when non-NULL. */
static void problem_status(struct req *r, int status, const char *slug, const char *detail,
                           json_t *errors)
{
	json_t *j = problem_json(status, slug, detail);
	if (j && errors)
		json_object_set_new(j, "errors", errors);
	else
		json_decref(errors);
	if (status == 503 && !has_reply_header(r, "Retry-After"))
		reply_header(r, "Retry-After", "1"); /* every 503 means: retry */
	reply_json_typed(r, status, "application/problem+json", j);
}

/* Sends problem+json for e, with errors (stolen) when non-NULL. */
static void problem(struct req *r, enum kerr e, const char *detail, json_t *errors)
{
	problem_status(r, http_status(e), (unsigned)e < K_ERR_COUNT ? kerr_http[e].slug : "error",
	               detail, errors);
}

/* Sends one of the HTTP layer's own problems; detail is printf-formatted. */
__attribute__((format(printf, 3, 4))) static void
reply_http_problem(struct req *r, enum http_problem p, const char *fmt, ...)
{
	char detail[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	problem_status(r, http_problems[p].status, http_problems[p].slug, detail, NULL);
}

void reply_error(struct req *r, enum kerr e, const char *fmt, ...)
{
	char detail[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	problem(r, e, detail, NULL);
}

void reply_error_fields(struct req *r, enum kerr e, json_t *errors)
{
	size_t n = json_array_size(errors);
	char detail[1024];
	json_t *first = json_array_get(errors, 0);
	if (e == K_EINVAL)
		snprintf(detail, sizeof(detail), "%zu invalid field%s: %s: %s", n,
		         n == 1 ? "" : "s", json_string_value(json_object_get(first, "field")),
		         json_string_value(json_object_get(first, "message")));
	else /* 406: the field is fine, what it asks for cannot be served */
		snprintf(detail, sizeof(detail), "%s: %s",
		         json_string_value(json_object_get(first, "field")),
		         json_string_value(json_object_get(first, "message")));
	problem(r, e, detail, errors);
}

void reply_invalid(struct req *r, json_t *errors)
{
	reply_error_fields(r, K_EINVAL, errors);
}

/* Answers a request that http_stop resumed, or that parks too late, instead of its handler. */
static void reply_stopping(struct req *r)
{
	reply_header(r, "Retry-After", "5");
	reply_http_problem(r, HP_STOPPING,
	                   "kindling is shutting down and this request was still waiting; "
	                   "retry");
}

void req_suspend(struct req *r, handler_fn on_resume)
{
	r->on_resume = on_resume;
	pthread_mutex_lock(&parked_mu);
	bool closing = r->h->closing;
	if (closing) {
		/* too late to park: answered now, the handler's req_resume frees it */
		r->forced = true;
		atomic_fetch_add(&r->h->forced_open, 1);
		plink(&forced_list, r);
	} else {
		r->parked = true;
		plink(&r->h->parked, r);
	}
	pthread_mutex_unlock(&parked_mu);
	if (closing) {
		reply_stopping(r);
		return;
	}
	r->suspended = true;
	MHD_suspend_connection(r->mc);
}

void req_set_data(struct req *r, void *data, void (*free_fn)(void *))
{
	r->data = data;
	r->free_data = free_fn;
}

void *req_data(const struct req *r)
{
	return r->data;
}

static void req_free(struct req *r)
{
	if (r->free_data)
		r->free_data(r->data);
	free(r);
}

void req_resume(struct req *r)
{
	pthread_mutex_lock(&parked_mu);
	if (r->forced) {
		/* http_stop answered it: the handler gives it back */
		r->handler_done = true;
		bool last = r->ended;
		if (last)
			punlink(&forced_list, r);
		pthread_mutex_unlock(&parked_mu);
		if (last)
			req_free(r);
		return;
	}
	struct http_server *h = r->h;
	r->parked = false;
	punlink(&h->parked, r);
	atomic_fetch_add(&h->resuming, 1);
	pthread_mutex_unlock(&parked_mu);
	MHD_resume_connection(r->mc);
	atomic_fetch_sub(&h->resuming, 1);
}

/* Checks the admin token: Bearer, or Basic with the token as password. */
static bool token_equal(struct http_server *h, const char *given)
{
	pthread_mutex_lock(&h->token_mu);
	bool ok = str_equal_secret(given, h->admin_token);
	pthread_mutex_unlock(&h->token_mu);
	return ok;
}

static bool operator_ok(struct req *r)
{
	if (!r->h->admin_token) /* set once at bind; only ever replaced by another token */
		return true;
	const char *auth = req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!auth)
		return false;
	if (!strncasecmp(auth, "Bearer ", 7))
		return token_equal(r->h, auth + 7);
	char *pass = NULL;
	char *user = MHD_basic_auth_get_username_password(r->mc, &pass);
	bool ok = pass && token_equal(r->h, pass);
	MHD_free(user);
	MHD_free(pass);
	return ok;
}

/* True when the Content-Type names JSON (application/json or +json). */
static bool is_json_type(const char *ct)
{
	if (!ct)
		return false;
	size_t n = strcspn(ct, "; \t");
	return (n == 16 && !strncasecmp(ct, "application/json", 16)) ||
	       (n > 17 && !strncasecmp(ct, "application/", 12) &&
	        !strncasecmp(ct + n - 5, "+json", 5));
}

static size_t body_limit(const struct req *r)
{
	return r->route && r->route->body_max ? r->route->body_max : r->h->o.body_max;
}

/* True when the request names a host kindling is known by; otherwise
 * replies 400 (no Host in HTTP/1.1, two, or not host[:port]) or 421. */
static bool host_ok(struct req *r, const char *version)
{
	const char *host = req_header(r, MHD_HTTP_HEADER_HOST);
	if (!host) {
		if (version && !strcmp(version, MHD_HTTP_VERSION_1_0))
			return true; /* HTTP/1.0 may leave it out; browsers never do */
		reply_http_problem(r, HP_BAD_HOST, "an HTTP/1.1 request needs a Host header");
		return false;
	}
	struct http_authority a;
	if (!http_authority_parse(host, strlen(host), &a)) {
		reply_http_problem(r, HP_BAD_HOST, "Host \"%.200s\" is not host[:port]", host);
		return false;
	}
	if (http_host_allowed(&a, r->h->hosts, r->h->nhosts))
		return true;
	reply_http_problem(r, HP_MISDIRECTED,
	                   "kindling is not known as \"%.200s\": IP addresses, localhost and the "
	                   "host of --public-url are; add other names with --allow-host %.200s",
	                   a.host, a.host);
	return false;
}

/* True when o is one of kindling's own origins: the scheme it serves with
 * the Host the request names, or the origin of --public-url. */
static bool own_origin(const struct req *r, const struct http_origin *o)
{
	const struct http_server *h = r->h;
	if (h->has_public_origin && http_origin_equal(o, &h->public_origin))
		return true;
	const char *host = req_header(r, MHD_HTTP_HEADER_HOST);
	struct http_origin self = {.https = h->tls != NULL};
	if (!host || !http_authority_parse(host, strlen(host), &self.a))
		return false;
	if (self.a.port < 0)
		self.a.port = self.https ? 443 : 80;
	return http_origin_equal(o, &self);
}

/*
 * The one cross-site check, for ROUTE_STATE_CHANGE routes. A browser marks
 * what it sends: Sec-Fetch-Site (Chromium, Firefox, Safari), Origin (every
 * POST, PATCH, DELETE), Referer (unless a policy drops it). curl and scripts
 * send none of them and pass. Refused, 403: Sec-Fetch-Site other than
 * same-origin / none; an Origin (or, without one, a Referer) that is not
 * kindling's; a body type a form on any site can send (form, multipart,
 * text/plain) on an API write that does not take JSON only (those answer
 * 415 to it), or on a ROUTE_FORM route without a marker that proves
 * kindling's own page sent it. No preflight-free request a page
 * on another site can make gets through, with or without credentials.
 */
static bool cross_site_ok(struct req *r)
{
	const char *site = req_header(r, "Sec-Fetch-Site");
	if (!http_fetch_site_ok(site)) {
		reply_http_problem(r, HP_CROSS_SITE,
		                   "refused: the browser says a page on another site sent this "
		                   "request (Sec-Fetch-Site: %.40s); use kindling's own pages, or "
		                   "curl",
		                   site);
		return false;
	}
	bool proven = site && !strcasecmp(site, "same-origin");
	const char *origin = req_header(r, "Origin");
	const char *name = origin ? "Origin" : "Referer";
	const char *from = origin ? origin : req_header(r, "Referer");
	if (from) {
		struct http_origin o;
		if (!http_origin_parse(from, &o) || !own_origin(r, &o)) {
			char shown[208];
			str_copy(shown, sizeof(shown), from);
			if (!origin) /* a Referer's path and query may hold anything */
				shown[strcspn(shown, "?#")] = '\0';
			reply_http_problem(
			        r, HP_CROSS_SITE,
			        "refused: %s %s is not kindling's own origin (its Host or "
			        "--public-url), so a page on another site sent this request",
			        name, shown);
			return false;
		}
		proven = true;
	}
	const char *ct = req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
	/* a ROUTE_JSON_BODY route refuses such a body anyway (415, below) */
	if (!http_simple_content_type(ct) || (r->route->flags & ROUTE_JSON_BODY))
		return true;
	if (!(r->route->flags & ROUTE_FORM)) {
		reply_http_problem(
		        r, HP_CROSS_SITE,
		        "refused: Content-Type %.100s is what a form on any web page can "
		        "send; send application/json, or no body",
		        ct);
		return false;
	}
	if (!proven) {
		reply_http_problem(r, HP_CROSS_SITE,
		                   "refused: this form post carries no Origin, Referer or "
		                   "Sec-Fetch-Site: same-origin, so it cannot be told from one a "
		                   "page on another site sent; use the form on kindling's page");
		return false;
	}
	return true;
}

/* What a reply may show of the path: a secret route's pattern instead of a
 * path that holds its secret. */
static const char *shown_path(const struct req *r);

static void dispatch(struct req *r, const char *allow, const char *version)
{
	if (!host_ok(r, version))
		return;
	if (!r->route) {
		if (allow[0]) {
			reply_header(r, "Allow", allow);
			reply_error(r, K_EMETHOD, "%s is not allowed on %s; allowed: %s", r->method,
			            shown_path(r), allow);
		} else {
			reply_error(r, K_ENOTFOUND, "no resource at %s", shown_path(r));
		}
		return;
	}
	if ((r->route->flags & ROUTE_STATE_CHANGE) && !cross_site_ok(r))
		return;
	if (r->route->auth == AUTH_OPERATOR && !operator_ok(r)) {
		reply_header(r, "WWW-Authenticate", "Bearer realm=\"kindling\"");
		if (r->route->flags & ROUTE_BROWSER)
			reply_header(r, "WWW-Authenticate",
			             "Basic realm=\"kindling\", charset=\"UTF-8\"");
		reply_error(r, K_EAUTH,
		            "this route needs the admin token: "
		            "Authorization: Bearer <token>");
		return;
	}
	if ((r->route->flags & ROUTE_JSON_BODY) &&
	    !is_json_type(req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE))) {
		const char *ct = req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
		reply_error(r, K_EMEDIA, "the body must be application/json, not %s",
		            ct ? ct : "(no Content-Type)");
		return;
	}
	r->route->fn(r);
	if (!r->status && !r->suspended)
		reply_error(r, K_EIO, "the handler sent no reply");
}

/* The framing headers of a request, gathered in one pass. */
struct framing {
	int ncl;                /* Content-Length fields */
	size_t nte;             /* Transfer-Encoding fields */
	const char *te[MAX_TE]; /* the first MAX_TE of their values */
	int nhost;              /* Host fields */
};

static enum MHD_Result scan_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
	(void)kind;
	struct framing *f = cls;
	if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
		f->ncl++;
	} else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
		if (f->nte < MAX_TE)
			f->te[f->nte] = value;
		f->nte++;
	} else if (!strcasecmp(key, MHD_HTTP_HEADER_HOST)) {
		f->nhost++;
	}
	return MHD_YES;
}

/*
 * The checks of the first callback, when the request line and headers are
 * in and the body is not: the size of the head (--header-max, exactly: the
 * request line, the header lines with their line ends and the empty line),
 * then the body's framing (RFC 9112 6). Replies (and libmicrohttpd then
 * closes the connection, as RFC 9112 6.3 wants for bad framing) or returns.
 */
static void first_checks(struct req *r, const char *version)
{
	const union MHD_ConnectionInfo *ci =
	        MHD_get_connection_info(r->mc, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	if (ci && ci->header_size > r->h->o.header_max) {
		reply_http_problem(r, HP_HEADERS_LARGE,
		                   "the request line and headers are %zu bytes, over --header-max "
		                   "%zu",
		                   ci->header_size, r->h->o.header_max);
		return;
	}
	struct framing f = {0};
	MHD_get_connection_values(r->mc, MHD_HEADER_KIND, scan_framing, &f);
	if (f.nhost > 1) {
		reply_http_problem(r, HP_BAD_HOST, "more than one Host header");
		return;
	}
	if (f.nte) {
		const char *te = f.te[0];
		switch (f.nte > MAX_TE ? HTTP_TE_BAD : http_transfer_coding(f.te, f.nte)) {
		case HTTP_TE_UNKNOWN:
			reply_http_problem(r, HP_TE_UNKNOWN,
			                   "Transfer-Encoding \"%.100s\": kindling decodes only "
			                   "chunked; send chunked or a Content-Length",
			                   te);
			return;
		case HTTP_TE_BAD:
			reply_http_problem(r, HP_BAD_FRAMING,
			                   "Transfer-Encoding \"%.100s\"%s: send exactly one "
			                   "\"Transfer-Encoding: chunked\"",
			                   te, f.nte > 1 ? " (and more fields)" : "");
			return;
		default:
			break;
		}
		if (version && !strcmp(version, MHD_HTTP_VERSION_1_0)) {
			reply_http_problem(
			        r, HP_BAD_FRAMING,
			        "Transfer-Encoding in an HTTP/1.0 request (RFC 9112 6.1)");
			return;
		}
		if (f.ncl) {
			reply_http_problem(r, HP_BAD_FRAMING,
			                   "both Transfer-Encoding and Content-Length: the body's "
			                   "length is ambiguous (request smuggling, RFC 9112 6.3); "
			                   "send one of them");
			return;
		}
	}
	if (f.ncl > 1) {
		reply_error(r, K_EBADREQ, "more than one Content-Length header");
		return;
	}
	const char *cl = req_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && strtoull(cl, NULL, 10) > body_limit(r))
		reply_error(r, K_ETOOBIG, "the body is over the limit of %zu bytes", body_limit(r));
}

/* Allocates a request's context; uri is the raw target, whose path (up to
 * '?') is kept for the log of a request that never reaches a route. */
static struct req *req_alloc(struct http_server *h, struct MHD_Connection *mc, const char *uri)
{
	/* the parameters are pieces of the path, each with its NUL */
	size_t n = strcspn(uri, "?");
	size_t pathcap = n + MAX_PARAMS + 1;
	if (pathcap > PATH_MAX_LEN)
		pathcap = PATH_MAX_LEN;
	struct req *r = calloc(1, sizeof(*r) + pathcap);
	if (!r)
		return NULL;
	r->pathcap = (uint16_t)pathcap;
	r->start_ns = now_ns();
	r->h = h;
	r->mc = mc;
	if (n >= pathcap)
		n = pathcap - 1;
	memcpy(r->pathbuf, uri, n);
	r->pathbuf[n] = '\0';
	return r;
}

/* libmicrohttpd's first word of a request (the request line is in): the
 * context exists from here on, so the completed-callback logs even a
 * request libmicrohttpd refuses itself (431, a bad chunk). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *mc)
{
	return req_alloc(cls, mc, uri);
}

/* Fills in what the first access callback knows: method, decoded path, route. */
static void req_begin(struct req *r, const char *url, const char *method)
{
	r->started = true;
	r->method = method;
	r->path = url;
	atomic_fetch_add(&r->h->inflight, 1);
	struct buf allow;
	buf_init(&allow, 128);
	r->route = find_route(r, &allow);
	buf_free(&allow);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *mc, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **ctx)
{
	struct http_server *h = cls;
	struct req *r = *ctx;
	if (!r || !r->started) {
		if (!r) {
			r = req_alloc(h, mc, url);
			if (!r)
				return MHD_NO;
			*ctx = r;
		}
		req_begin(r, url, method);
		first_checks(r, version);
		return MHD_YES;
	}
	if (r->suspended) {
		r->suspended = false;
		if (r->forced) {
			reply_stopping(r);
			return MHD_YES;
		}
		handler_fn fn = r->on_resume;
		r->on_resume = NULL;
		fn(r);
		if (!r->status && !r->suspended)
			reply_error(r, K_EIO, "the long poll ended with no reply");
		return MHD_YES;
	}
	if (r->status) { /* replied early: drop the rest of the body */
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		/* Past the limit the rest is read and dropped: queueing a reply in
		 * the middle of a chunked upload stalls libmicrohttpd 0.9.75. */
		size_t n = *upload_size;
		*upload_size = 0;
		if (r->too_big || r->over_budget)
			return MHD_YES;
		if (!r->body) {
			r->body = malloc(sizeof(*r->body));
			if (!r->body) { /* answered 503, as when bodies are short of room */
				r->over_budget = true;
				return MHD_YES;
			}
			buf_init(r->body, body_limit(r));
		}
		if (atomic_fetch_add(&h->body_bytes, n) + n > h->o.bodies_max) {
			atomic_fetch_sub(&h->body_bytes, n + r->body->len);
			r->over_budget = true;
			buf_free(r->body);
		} else if (buf_add(r->body, upload, n) != K_OK) {
			atomic_fetch_sub(&h->body_bytes, n + r->body->len);
			r->too_big = true;
			buf_free(r->body);
		}
		return MHD_YES;
	}
	if (r->over_budget) {
		reply_error(r, K_EUNAVAIL,
		            "too many request bodies in flight (--bodies-max); retry");
		return MHD_YES;
	}
	if (r->too_big) {
		reply_error(r, K_ETOOBIG, "the body is over the limit of %zu bytes", body_limit(r));
		return MHD_YES;
	}
	struct buf allow;
	buf_init(&allow, 128);
	if (!r->route)
		find_route(r, &allow);
	dispatch(r, buf_str(&allow), version);
	buf_free(&allow);
	return MHD_YES;
}

static size_t status_slot(int status)
{
	for (size_t i = 0; i < NSTATUS - 1; i++)
		if (counted_status[i] == status)
			return i;
	return NSTATUS - 1;
}

/* What the log shows of a path no route matched: a path under a secret
 * route's literal prefix (e.g. "/discovery/") may still hold a secret, so
 * only the prefix is shown. */
static const char *unmatched_log_path(const struct http_server *h, const char *path)
{
	for (size_t i = 0; i < h->nroutes; i++) {
		const struct route *rt = &h->routes[i];
		size_t n = strcspn(rt->pattern, "{");
		if ((rt->flags & ROUTE_SECRET_PATH) && !strncmp(path, rt->pattern, n))
			return rt->pattern;
	}
	return path;
}

static const char *shown_path(const struct req *r)
{
	return r->secret_pattern ? r->secret_pattern : unmatched_log_path(r->h, r->path);
}

/* The request log line, built by hand: it is written for every request. */
struct line {
	char *p, *end;
};

static void put(struct line *l, const char *s, size_t n)
{
	if (n > (size_t)(l->end - l->p))
		n = (size_t)(l->end - l->p);
	memcpy(l->p, s, n);
	l->p += n;
}

static void put_str(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

static void put_uint(struct line *l, unsigned long long v)
{
	char t[24];
	size_t i = sizeof(t);
	do
		t[--i] = (char)('0' + v % 10);
	while (v /= 10);
	put(l, t + i, sizeof(t) - i);
}

/* "GET /path 200 702B 0.1ms 10.0.0.5": control bytes in the path, which
 * could forge log lines, are shown as %XX. */
static void log_request(struct req *r, const char *path, double secs, bool completed)
{
	char text[PATH_MAX_LEN * 3 + 256];
	struct line l = {text, text + sizeof(text)};
	put_str(&l, r->method ? r->method : "-");
	put(&l, " ", 1);
	for (const unsigned char *c = (const unsigned char *)path; *c && l.end - l.p > 256; c++) {
		if (*c < 0x20 || *c == 0x7f) {
			static const char hex[] = "0123456789ABCDEF";
			const char esc[3] = {'%', hex[*c >> 4], hex[*c & 15]};
			put(&l, esc, 3);
		} else {
			put(&l, (const char *)c, 1);
		}
	}
	put(&l, " ", 1);
	if (r->status)
		put_uint(&l, (unsigned)r->status);
	else
		put(&l, "-", 1);
	put(&l, " ", 1);
	put_uint(&l, r->resp_len);
	put(&l, "B ", 2);
	unsigned long long tenths = (unsigned long long)(secs * 10000 + 0.5);
	put_uint(&l, tenths / 10);
	const char frac[2] = {'.', (char)('0' + tenths % 10)};
	put(&l, frac, 2);
	put(&l, "ms ", 3);
	put_str(&l, req_client(r));
	if (!completed)
		put_str(&l, " (connection closed early)");
	log_text(text, (size_t)(l.p - text));
}

/* The status of a reply http_errors.c wrote itself (see http.h). */
static _Thread_local int direct_status;

void http_note_direct_reply(int status)
{
	direct_status = status;
}

/* Logs one line per request, counts it, frees the context. */
static void on_completed(void *cls, struct MHD_Connection *mc, void **ctx,
                         enum MHD_RequestTerminationCode toe)
{
	(void)mc;
	struct http_server *h = cls;
	struct req *r = *ctx;
	if (!r)
		return;
	*ctx = NULL;
	if (!r->status) { /* libmicrohttpd answered itself (http_errors.c) */
		const union MHD_ConnectionInfo *ci =
		        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_HTTP_STATUS);
		r->status = ci ? (int)ci->http_status : direct_status;
	}
	direct_status = 0;
	double s = elapsed_s(r->start_ns);
	size_t route_i = r->route ? (size_t)(r->route - h->routes) : h->nroutes;
	atomic_fetch_add(&h->stats[route_i].by_status[status_slot(r->status)], 1);
	size_t b = 0;
	while (b < NBUCKETS - 1 && s > latency_le[b])
		b++;
	atomic_fetch_add(&h->buckets[b], 1);
	atomic_fetch_add(&h->latency_us_sum, (unsigned long long)(s * 1e6));
	const char *path;
	if (r->started) {
		const struct route *lr = r->route ? r->route : r->path_route;
		path = r->secret_pattern ? r->secret_pattern
		       : lr              ? r->path
		                         : unmatched_log_path(h, r->path);
	} else {
		/* refused before routing: the raw path, up to any %XX (which could
		 * spell a secret path), under a secret prefix only the pattern */
		r->pathbuf[strcspn(r->pathbuf, "%")] = '\0';
		path = unmatched_log_path(h, r->pathbuf);
	}
	log_request(r, path, s, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
	while (r->hdrs) {
		struct hdr *hd = r->hdrs;
		r->hdrs = hd->next;
		free(hd);
	}
	if (r->body) {
		if (!r->too_big && !r->over_budget)
			atomic_fetch_sub(&h->body_bytes, r->body->len);
		buf_free(r->body);
		free(r->body);
		r->body = NULL;
	}
	if (r->started)
		atomic_fetch_sub(&h->inflight, 1);
	pthread_mutex_lock(&parked_mu);
	bool keep = r->forced && !r->handler_done;
	if (keep) {
		r->ended = true; /* the handler's req_resume frees it */
		r->mc = NULL;
	} else if (r->forced) {
		punlink(&forced_list, r);
	}
	if (r->forced)
		atomic_fetch_sub(&h->forced_open, 1);
	pthread_mutex_unlock(&parked_mu);
	if (!keep)
		req_free(r);
}

/* Decodes %XX in place but keeps %00 as text, so no NUL enters a path. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	char *w = s;
	for (const char *p = s; *p; p++) {
		int hi = *p == '%' ? form_hexval(p[1]) : -1;
		int lo = hi >= 0 ? form_hexval(p[2]) : -1;
		int v = lo >= 0 ? hi * 16 + lo : 0;
		if (v != 0) {
			*w++ = (char)v;
			p += 2;
		} else {
			*w++ = *p;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char line[512];
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	char *html = strstr(line, " ('<html>"); /* the client got problem+json instead */
	if (html)
		str_copy(html, sizeof(line) - (size_t)(html - line), ")");
	if (strstr(line, "failed to queue error response")) /* http_errors.c answered */
		return;
	log_warnx("http: %s", line);
}

/* Splits "host:port" / "[v6]:port" / ":port" and binds a socket (it listens
 * only from http_serve, so nothing connects before kindling decided to serve). */
static int bind_listen(const char *listen_addr, struct http_server *h, struct buf *errmsg)
{
	char host[256], port[16];
	const char *colon = strrchr(listen_addr, ':');
	if (!colon || !colon[1] || strlen(colon + 1) >= sizeof(port)) {
		buf_addf(errmsg, "--listen \"%s\": expected host:port", listen_addr);
		return -1;
	}
	size_t hl = (size_t)(colon - listen_addr);
	if (hl >= 2 && listen_addr[0] == '[' && listen_addr[hl - 1] == ']') {
		listen_addr++;
		hl -= 2;
	}
	if (hl >= sizeof(host)) {
		buf_addf(errmsg, "--listen: host too long");
		return -1;
	}
	memcpy(host, listen_addr, hl);
	host[hl] = '\0';
	str_copy(port, sizeof(port), colon + 1);
	struct http_authority a;
	if (hl && http_authority_parse(host, hl, &a) && !a.ip)
		str_copy(h->listen_host, sizeof(h->listen_host), a.host);
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE},
	                *ai = NULL;
	int rc = getaddrinfo(hl ? host : NULL, port, &hints, &ai);
	if (rc != 0) {
		buf_addf(errmsg, "--listen \"%s\": %s", listen_addr, gai_strerror(rc));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		buf_addf(errmsg, "cannot listen on %s: %s", listen_addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	if (ai->ai_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ai->ai_addr;
		h->loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	} else if (ai->ai_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ai->ai_addr;
		h->loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	freeaddrinfo(ai);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	h->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
	                                   : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	h->listen_fd = fd;
	return 0;
}

/* Checks the rule of route_flags: every operator route but GET and HEAD
 * changes state and must say so, so no write misses the cross-site check. */
static bool routes_ok(const struct route *routes, size_t n, struct buf *errmsg)
{
	for (size_t i = 0; i < n; i++) {
		const struct route *rt = &routes[i];
		bool read = !strcmp(rt->method, "GET") || !strcmp(rt->method, "HEAD");
		if ((rt->auth == AUTH_OPERATOR && !read && !(rt->flags & ROUTE_STATE_CHANGE)) ||
		    ((rt->flags & ROUTE_FORM) && !(rt->flags & ROUTE_STATE_CHANGE))) {
			buf_addf(errmsg, "route %s %s: an operator write needs ROUTE_STATE_CHANGE",
			         rt->method, rt->pattern);
			return false;
		}
	}
	return true;
}

enum kerr http_bind(const struct http_options *o, const struct route *routes, size_t nroutes,
                    void *app, struct http_server **out, struct buf *errmsg)
{
	if (!routes_ok(routes, nroutes, errmsg))
		return K_EINVAL;
	struct http_server *h = calloc(1, sizeof(*h));
	if (!h)
		return K_ENOMEM;
	h->stats = calloc(nroutes + 1, sizeof(*h->stats));
	if (!h->stats) {
		free(h);
		return K_ENOMEM;
	}
	h->routes = routes;
	h->nroutes = nroutes;
	h->app = app;
	h->o = *o;
	h->o.tls_cert_pem = h->o.tls_key_pem = NULL; /* not kept: tls.c has them */
	h->o.admin_token = NULL;                     /* h->admin_token */
	h->listen_fd = -1;
	pthread_mutex_init(&h->token_mu, NULL);
	enum kerr e = K_OK;
	if (o->admin_token && !(h->admin_token = strdup(o->admin_token))) {
		e = K_ENOMEM;
		goto fail;
	}
	if (o->tls_cert_pem) {
		struct buf why;
		buf_init(&why, 1024);
		e = tls_new(o->tls_cert_pem, o->tls_key_pem, &h->tls, &why);
		if (e != K_OK)
			buf_addf(errmsg, "--tls-cert/--tls-key: %s", buf_str(&why));
		buf_free(&why);
		if (e != K_OK)
			goto fail;
	}
	if (bind_listen(o->listen, h, errmsg) < 0) {
		e = K_EIO;
		goto fail;
	}
	*out = h;
	return K_OK;
fail:
	tls_free(&h->tls);
	free(h->admin_token);
	pthread_mutex_destroy(&h->token_mu);
	free(h->stats);
	free(h);
	return e;
}

/* The connection-started and -closed callback: a TLS connection gets the
 * current certificate and session tickets before its handshake, and gives
 * its reference to that certificate back after libmicrohttpd has
 * deinitialised its session (0.9.75 calls CLOSED after gnutls_deinit). */
static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
	struct http_server *h = cls;
	if (!h->tls)
		return;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_GNUTLS_SESSION);
		*socket_context = tls_session_start(h->tls, ci ? ci->tls_session : NULL);
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		tls_session_done(*socket_context);
		*socket_context = NULL;
	}
}

/* libmicrohttpd's own credentials, which on_connection replaces in every
 * session: they offer no certificate, so a session it did not set up fails
 * its handshake rather than being served some other certificate. */
static int no_certificate(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                          const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                          gnutls_pcert_st **pcert, unsigned int *pcert_length,
                          gnutls_privkey_t *privkey)
{
	(void)session, (void)req_ca_rdn, (void)nreqs, (void)pk_algos, (void)pk_algos_length;
	*pcert = NULL;
	*pcert_length = 0;
	*privkey = NULL;
	return -1;
}

enum kerr http_tls_reload(struct http_server *h, const char *cert_pem, const char *key_pem,
                          struct buf *errmsg)
{
	if (!h->tls) {
		buf_addstr(errmsg, "not serving TLS");
		return K_EINVAL;
	}
	return tls_reload(h->tls, cert_pem, key_pem, errmsg);
}

struct tls *http_tls(struct http_server *h)
{
	return h->tls;
}

void http_tls_describe(struct http_server *h, struct buf *out)
{
	if (h->tls)
		tls_describe(h->tls, out);
}

enum kerr http_set_admin_token(struct http_server *h, const char *token)
{
	if (!h->admin_token)
		return K_EINVAL; /* open operator routes stay open: the rule is checked at start */
	char *copy = strdup(token);
	if (!copy)
		return K_ENOMEM;
	pthread_mutex_lock(&h->token_mu);
	char *old = h->admin_token;
	h->admin_token = copy;
	pthread_mutex_unlock(&h->token_mu);
	explicit_bzero(old, strlen(old));
	free(old);
	return K_OK;
}

/* The names a Host may carry (IP literals pass anyway): localhost, the
 * --listen and --public-url hosts when they are names, and --allow-host. */
static void collect_hosts(struct http_server *h)
{
	h->nhosts = 0;
	h->hosts[h->nhosts++] = "localhost";
	if (h->listen_host[0])
		h->hosts[h->nhosts++] = h->listen_host;
	if (h->has_public_origin && !h->public_origin.a.ip)
		h->hosts[h->nhosts++] = h->public_origin.a.host;
	for (size_t i = 0; i < h->o.nallow_hosts && h->nhosts < MAX_HOSTS; i++)
		h->hosts[h->nhosts++] = h->o.allow_hosts[i];
}

enum kerr http_serve(struct http_server *h, struct buf *errmsg)
{
	const struct http_options *o = &h->o;
	h->has_public_origin = o->public_url && o->public_url[0] &&
	                       http_origin_parse(o->public_url, &h->public_origin);
	collect_hosts(h);
	if (listen(h->listen_fd, 4096) < 0) {
		buf_addf(errmsg, "cannot listen on %s: %s", o->listen, strerror(errno));
		return K_EIO;
	}
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC |
	                 MHD_USE_ERROR_LOG;
	if (h->tls)
		flags |= MHD_USE_TLS;
	/*
	 * The per-connection memory holds the request head, libmicrohttpd's
	 * record of each header field (about 56 bytes) and the read buffer.
	 * It is sized so that every head up to --header-max reaches
	 * first_checks, which then enforces --header-max exactly, unless it
	 * has hundreds of tiny fields; past the memory libmicrohttpd refuses
	 * with 431 itself (made problem+json by http_errors.c).
	 */
	size_t memory = 2 * o->header_max + 16 * 1024;
	/* The logger must come first; the TLS items come last, and without TLS
	 * the first of them is MHD_OPTION_END, which ends the array there. */
	struct MHD_OptionItem opts[] = {
	        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL},
	        {MHD_OPTION_LISTEN_SOCKET, h->listen_fd, NULL},
	        {MHD_OPTION_THREAD_POOL_SIZE, o->threads > 1 ? o->threads : 0, NULL},
	        {MHD_OPTION_CONNECTION_TIMEOUT, o->conn_timeout_s, NULL},
	        {MHD_OPTION_CONNECTION_LIMIT, o->max_conns, NULL},
	        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->max_conns_per_ip, NULL},
	        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)memory, NULL},
	        /* -1: refuse whitespace between a header name and its colon (RFC
	         * 9112 5.1: "Transfer-Encoding : chunked" smuggles a body) */
	        {MHD_OPTION_STRICT_FOR_CLIENT, -1, NULL},
	        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, h},
	        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, h},
	        {MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)unescape, NULL},
	        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, h},
	        {h->tls ? MHD_OPTION_HTTPS_CERT_CALLBACK : MHD_OPTION_END, 0,
	         (void *)(uintptr_t)no_certificate},
	        {o->tls_priorities ? MHD_OPTION_HTTPS_PRIORITIES : MHD_OPTION_END, 0,
	         (void *)(uintptr_t)o->tls_priorities},
	        {MHD_OPTION_END, 0, NULL},
	};
	h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_access, h, MHD_OPTION_ARRAY, opts,
	                        MHD_OPTION_END);
	if (!h->d) {
		buf_addf(errmsg, "cannot start the HTTP server on %s (see the lines above)",
		         o->listen);
		return K_EIO;
	}
	return K_OK;
}

int http_port(const struct http_server *h)
{
	return h->port;
}

bool http_is_loopback(const struct http_server *h)
{
	return h->loopback;
}

/* Takes every parked request off h->parked, marks it forced and resumes it,
 * so that on_access answers it 503. Returns how many. */
static int release_parked(struct http_server *h)
{
	int n = 0;
	for (;;) {
		struct MHD_Connection *batch[64];
		size_t got = 0;
		pthread_mutex_lock(&parked_mu);
		h->closing = true; /* from now on req_suspend answers at once */
		while (h->parked && got < sizeof(batch) / sizeof(batch[0])) {
			struct req *r = h->parked;
			punlink(&h->parked, r);
			r->parked = false;
			r->forced = true;
			atomic_fetch_add(&h->forced_open, 1);
			plink(&forced_list, r);
			batch[got++] = r->mc;
		}
		pthread_mutex_unlock(&parked_mu);
		/* outside the lock: once resumed, a request may end (and be freed) at once */
		for (size_t i = 0; i < got; i++)
			MHD_resume_connection(batch[i]);
		n += (int)got;
		if (got < sizeof(batch) / sizeof(batch[0]))
			return n;
	}
}

/* Waits up to max_s for *counter to reach 0; true when it did. */
static bool wait_zero(atomic_int *counter, double max_s)
{
	int64_t start = now_ns();
	while (atomic_load(counter) > 0 && elapsed_s(start) < max_s) {
		struct timespec ms = {0, 10 * 1000 * 1000};
		nanosleep(&ms, NULL);
	}
	return atomic_load(counter) <= 0;
}

void http_stop(struct http_server **hp, int drain_timeout_s)
{
	if (!hp || !*hp)
		return;
	struct http_server *h = *hp;
	if (h->d) {
		atomic_store(&h->stopping, true);
		MHD_quiesce_daemon(h->d);
		if (h->o.drain)
			h->o.drain(h->app);
		wait_zero(&h->inflight, drain_timeout_s);
		/* what parked requests wait on ends and answers them (the writer
		 * commits its queue, upstream calls are cut short) */
		if (h->o.stop_work) {
			h->o.stop_work(h->app);
			wait_zero(&h->inflight, 2);
		}
		end_streams(h);
		int n = release_parked(h);
		if (n)
			log_warnx("answering %d parked request%s 503 after --drain-timeout %ds", n,
			          n == 1 ? "" : "s", drain_timeout_s);
		/* their 503s go out, and the streams' last bytes (a client
		 * that does not read them is cut off) */
		wait_zero(&h->forced_open, 2);
		wait_zero(&h->nstreams, 2);
		/* a req_resume between its lock and libmicrohttpd: a few instructions */
		while (atomic_load(&h->resuming) > 0)
			sched_yield();
		if (atomic_load(&h->inflight) > 0)
			log_warnx("stopping with %d requests still in flight",
			          atomic_load(&h->inflight));
		MHD_stop_daemon(h->d);
	}
	if (h->listen_fd >= 0)
		close(h->listen_fd);
	tls_free(&h->tls); /* every session has ended */
	if (h->admin_token)
		explicit_bzero(h->admin_token, strlen(h->admin_token));
	free(h->admin_token);
	pthread_mutex_destroy(&h->token_mu);
	free(h->stats);
	free(h);
	*hp = NULL;
}

int http_requests_held(void)
{
	int held = 0;
	pthread_mutex_lock(&parked_mu);
	for (const struct req *r = forced_list; r; r = r->pnext)
		held += !r->handler_done;
	pthread_mutex_unlock(&parked_mu);
	return held;
}

void http_write_metrics(const struct http_server *h, struct buf *out)
{
	buf_addstr(out, "# HELP kindling_http_requests_total HTTP requests by route and status.\n"
	                "# TYPE kindling_http_requests_total counter\n");
	for (size_t i = 0; i <= h->nroutes; i++) {
		const char *route = i < h->nroutes ? h->routes[i].pattern : "unmatched";
		const char *method = i < h->nroutes ? h->routes[i].method : "";
		for (size_t s = 0; s < NSTATUS; s++) {
			unsigned long long n = atomic_load(&h->stats[i].by_status[s]);
			if (!n)
				continue;
			char code[16];
			if (s < NSTATUS - 1)
				snprintf(code, sizeof(code), "%d", counted_status[s]);
			else
				snprintf(code, sizeof(code), "other");
			buf_addf(out,
			         "kindling_http_requests_total{method=\"%s\",route=\"%s\",status="
			         "\"%s\"} "
			         "%llu\n",
			         method, route, code, n);
		}
	}
	buf_addstr(out, "# HELP kindling_http_request_duration_seconds Time to answer a request.\n"
	                "# TYPE kindling_http_request_duration_seconds histogram\n");
	unsigned long long cum = 0;
	for (size_t b = 0; b < NBUCKETS; b++) {
		cum += atomic_load(&h->buckets[b]);
		if (b < NBUCKETS - 1)
			buf_addf(out,
			         "kindling_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
			         latency_le[b], cum);
		else
			buf_addf(
			        out,
			        "kindling_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
			        cum);
	}
	buf_addf(out, "kindling_http_request_duration_seconds_sum %.6f\n",
	         (double)atomic_load(&h->latency_us_sum) / 1e6);
	buf_addf(out, "kindling_http_request_duration_seconds_count %llu\n", cum);
	buf_addf(out,
	         "# HELP kindling_http_requests_in_flight Requests being answered or held.\n"
	         "# TYPE kindling_http_requests_in_flight gauge\n"
	         "kindling_http_requests_in_flight %d\n",
	         atomic_load(&h->inflight));
}
