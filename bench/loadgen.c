/* loadgen.c - the benchmark's own HTTP/1.1 load generator: one thread, epoll,
 * non-blocking sockets, keep-alive connections, Content-Length and chunked
 * replies. It drives what wrk cannot: a fixed number of distinct requests
 * (registrations, creates), the boot storm (every simulated node a state
 * machine: fetch config, register, read the directory, watch until its
 * cluster is complete), thousands of parked long polls, and the start-up
 * time of a server.
 *
 *   loadgen reqs  --target H:P --method M --path TPL [--body TPL] [--ctype CT]
 *                 [--header 'N: V'] [--tokens FILE] --count N [-c CONNS]
 *                 [--expect STATUS] [--save FILE]
 *       TPL: %T = line i % n of --tokens, %x = i as 16 hex digits (+ --id-base),
 *            %d = i in decimal, %% = %.
 *   loadgen storm --config H:P --disc H:P --nodes FILE [--timeout S]
 *   loadgen storm --targets H:P,H:P,... --nodes FILE [--acked FILE] [--timeout S]
 *       FILE: one cluster a line: CONFIG-PATH <TAB> AUTH-HEADER-VALUE|- <TAB>
 *             DISCOVERY-PATH <TAB> SIZE; SIZE nodes per cluster.
 *       --targets: replicas behind a balancer: node i starts on target
 *       i % n and, on a connection error or a 5xx, sends the same request to
 *       the next target (as a balancer takes a dead backend out); a
 *       registration retried that way and answered 412 (the key exists)
 *       was committed by the first attempt and counts as done (put_found).
 *       --acked FILE: one line per acknowledged (201) registration:
 *       EPOCH-MS <TAB> KEY <TAB> CREATED-INDEX <TAB> TARGET-NUMBER.
 *   loadgen xwatch --watch H:P --put H:P --tokens FILE [--park-ms MS] [--timeout S]
 *       FILE: discovery paths of empty directories, one a sample. For each,
 *       one at a time: a v2 watch (?wait=true&recursive=true) through
 *       --watch, MS later (default 50: it is parked) a registration through
 *       --put, and the time from the PUT's 201 to the watch's answer (the
 *       wake-up across replicas); a watch answered before the PUT's 201
 *       counts 0 ms (early=).
 *   loadgen watch --disc H:P --tokens FILE --per-token W [--pid PID]...
 *                 [--metrics PATH] [-c CONNS] [--timeout S] [--hold S]
 *       FILE: discovery paths of directories of size 2 holding 1 member;
 *       parks W watches on each, measures RSS and threads of each --pid, then
 *       registers the second member of every directory (over CONNS already
 *       open connections; default one per directory, all sent at once) and
 *       times until every watcher has its event.
 *   loadgen ready --target H:P --path P [--log FILE] [--timeout S] -- CMD ARG...
 *       starts CMD (stderr to --log), polls GET P every 1 ms until a 200,
 *       prints the pid and the time; CMD keeps running.
 *
 * Options for every command, before or after the command's own:
 *   --tls-ca FILE  speak HTTPS (GnuTLS) to every target, verifying the
 *                  server's certificate against the PEM CA(s) in FILE and the
 *                  target's IP address against its subjectAltName. Each
 *                  connection is a fresh client session: a full handshake,
 *                  never a resumed one (no session data is ever reused).
 *   --new-conn     one new connection per request: every request says
 *                  "Connection: close" and its connection is closed after the
 *                  reply (a booting node's clients). Without it, connections
 *                  are kept alive (reqs, storm) as before.
 * With --tls-ca, the storm's output adds tls_handshakes (completed) and
 * tls_failed; every command's output adds loadgen_cpu_ms under --tls-ca.
 *
 * Output: one line of key=value pairs on stdout; diagnostics on stderr. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNECTING 512 /* connects in flight at once (listen backlogs are finite) */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "loadgen: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		die("out of memory");
	return p;
}

static struct sockaddr_in parse_target(const char *s)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	const char *colon = strrchr(s, ':');
	if (!colon)
		die("target %s: want HOST:PORT", s);
	char host[64];
	snprintf(host, sizeof(host), "%.*s", (int)(colon - s), s);
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
		die("target %s: want an IPv4 address", s);
	a.sin_port = htons((uint16_t)atoi(colon + 1));
	return a;
}

/* ---- a growable string ---- */
struct str {
	char *p;
	size_t len, cap;
};

static void str_add(struct str *s, const char *p, size_t n)
{
	if (s->len + n + 1 > s->cap) {
		s->cap = (s->len + n + 1) * 2;
		s->p = xrealloc(s->p, s->cap);
	}
	memcpy(s->p + s->len, p, n);
	s->len += n;
	s->p[s->len] = '\0';
}

static void str_addf(struct str *s, const char *fmt, ...)
{
	char tmp[8192];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		die("request too long");
	str_add(s, tmp, (size_t)n);
}

/* ---- latency samples ---- */
struct samples {
	double *v;
	size_t n, cap;
};

static void sample(struct samples *s, double x)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->v = xrealloc(s->v, s->cap * sizeof(double));
	}
	s->v[s->n++] = x;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(struct samples *s, double p)
{
	if (!s->n)
		return 0;
	qsort(s->v, s->n, sizeof(double), cmp_double);
	size_t i = (size_t)(p / 100.0 * (double)(s->n - 1) + 0.5);
	return s->v[i < s->n ? i : s->n - 1];
}

/* ---- connections ---- */
struct resp {
	int status; /* -1: connection failed */
	const char *body;
	size_t len;
	long long etcd_index; /* X-Etcd-Index, -1 when absent */
};

struct conn;
typedef void (*resp_fn)(struct conn *c, struct resp *r);

/* C_HANDSHAKE: TCP is up, the TLS handshake is not done (--tls-ca). A
 * connection holds a connect slot until it is C_OPEN. */
enum cstate { C_CLOSED, C_CONNECTING, C_HANDSHAKE, C_OPEN };

struct conn {
	int fd;
	enum cstate state;
	const struct sockaddr_in *addr;
	struct str out;
	size_t outoff;
	bool busy; /* a request is outstanding */
	char *in;
	size_t inlen, incap;
	struct str dec; /* a chunked body, decoded */
	resp_fn fn;
	void *user;
	double t_sent;
	int attempts;
	bool queued; /* waiting for a connect slot */
	struct conn *next_q;
	gnutls_session_t tls;       /* NULL without --tls-ca, and while C_CLOSED */
	char host[INET_ADDRSTRLEN]; /* the name tls verifies: it must outlive the session */
};

static int ep = -1;
static int connecting;
static struct conn *connq_head, **connq_tail = &connq_head;
static unsigned long long n_reconnects, n_requests;

/* --tls-ca: the client credentials (trust = that CA), NULL for plain HTTP. */
static gnutls_certificate_credentials_t tls_cred;
static unsigned long long n_handshakes, n_tls_failed;
static char tls_version[32]; /* the protocol of the first handshake, e.g. TLS1.3 */
/* --new-conn: one connection per request, "Connection: close". */
static bool new_conn;

static void conn_fail(struct conn *c);

static void ep_events(struct conn *c, uint32_t events, bool add)
{
	struct epoll_event ev = {.events = events, .data.ptr = c};
	if (epoll_ctl(ep, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
}

static void ep_set(struct conn *c, bool want_out, bool add)
{
	ep_events(c, EPOLLIN | (want_out ? EPOLLOUT : 0), add);
}

/* After GNUTLS_E_AGAIN: wait for exactly what GnuTLS is blocked on (the
 * record layer's last direction: 0 read, 1 write). Only read readiness
 * while it wants to write would spin on a level-triggered EPOLLIN. */
static void ep_tls_wait(struct conn *c)
{
	ep_events(c, gnutls_record_get_direction(c->tls) ? EPOLLOUT : EPOLLIN, false);
}

static void conn_close(struct conn *c)
{
	if (c->tls) {
		gnutls_deinit(c->tls);
		c->tls = NULL;
	}
	if (c->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	if (c->state == C_CONNECTING || c->state == C_HANDSHAKE)
		connecting--;
	c->fd = -1;
	c->state = C_CLOSED;
	c->inlen = 0;
}

static void start_connect(struct conn *c);

/* Starts queued connects while there are slots. */
static void pump_connects(void)
{
	while (connq_head && connecting < MAX_CONNECTING) {
		struct conn *c = connq_head;
		connq_head = c->next_q;
		if (!connq_head)
			connq_tail = &connq_head;
		c->queued = false;
		start_connect(c);
	}
}

static void start_connect(struct conn *c)
{
	if (connecting >= MAX_CONNECTING) {
		if (!c->queued) {
			c->queued = true;
			c->next_q = NULL;
			*connq_tail = c;
			connq_tail = &c->next_q;
		}
		return;
	}
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		fprintf(stderr, "loadgen: socket: %s\n", strerror(errno));
		conn_fail(c);
		return;
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->state = C_CONNECTING;
	connecting++;
	int rc = connect(c->fd, (const struct sockaddr *)c->addr, sizeof(*c->addr));
	if (rc < 0 && errno != EINPROGRESS) {
		conn_close(c);
		conn_fail(c);
		return;
	}
	ep_set(c, true, true);
}

/* Writes what is left of the request; under TLS a GNUTLS_E_AGAIN is retried
 * with the same pointer and length, as gnutls_record_send requires. */
static void conn_flush(struct conn *c)
{
	while (c->outoff < c->out.len) {
		ssize_t n;
		if (c->tls) {
			n = gnutls_record_send(c->tls, c->out.p + c->outoff,
			                       c->out.len - c->outoff);
			if (n == GNUTLS_E_INTERRUPTED)
				continue;
			if (n == GNUTLS_E_AGAIN) {
				ep_tls_wait(c);
				return;
			}
		} else {
			n = write(c->fd, c->out.p + c->outoff, c->out.len - c->outoff);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN) {
				ep_set(c, true, false);
				return;
			}
		}
		if (n <= 0) {
			conn_close(c);
			conn_fail(c);
			return;
		}
		c->outoff += (size_t)n;
	}
	ep_set(c, false, false);
}

/* Sends the request in c->out (already formatted); fn gets the response. */
static void conn_send(struct conn *c, resp_fn fn)
{
	c->fn = fn;
	c->busy = true;
	c->outoff = 0;
	c->inlen = 0;
	c->attempts = 0;
	c->t_sent = now_s();
	n_requests++;
	if (c->state == C_OPEN)
		conn_flush(c);
	else if (c->state == C_CLOSED)
		start_connect(c);
}

/* The connection broke: resend once on a fresh one if nothing came back
 * yet (the server may close an idle keep-alive connection), else report. */
static void conn_fail(struct conn *c)
{
	if (!c->busy)
		return;
	if (c->inlen == 0 && c->attempts < 2) {
		c->attempts++;
		n_reconnects++;
		c->outoff = 0;
		start_connect(c);
		return;
	}
	c->busy = false;
	struct resp r = {.status = -1, .etcd_index = -1};
	c->fn(c, &r);
}

static const char *find_header(const char *head, size_t hlen, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = head; p && p < head + hlen;) {
		const char *eol = memmem(p, (size_t)(head + hlen - p), "\r\n", 2);
		if (!eol)
			break;
		if ((size_t)(eol - p) > nl && !strncasecmp(p, name, nl) && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			return v;
		}
		p = eol + 2;
	}
	return NULL;
}

/* Tries to parse a whole response from c->in; returns its length or 0. With
 * eof, a body delimited by the close ends here. */
static size_t parse(struct conn *c, struct resp *r, bool eof, bool *close_after)
{
	char *he = memmem(c->in, c->inlen, "\r\n\r\n", 4);
	if (!he)
		return 0;
	size_t hlen = (size_t)(he - c->in) + 2, start = hlen + 2;
	if (c->inlen < 12 || strncmp(c->in, "HTTP/1.", 7) != 0)
		return (size_t)-1;
	r->status = atoi(c->in + 9);
	const char *v = find_header(c->in, hlen, "X-Etcd-Index");
	r->etcd_index = v ? atoll(v) : -1;
	v = find_header(c->in, hlen, "Connection");
	*close_after = v && !strncasecmp(v, "close", 5);
	bool no_body =
	        r->status == 204 || r->status == 304 || (r->status >= 100 && r->status < 200);
	if (no_body) {
		r->body = c->in + start;
		r->len = 0;
		return start;
	}
	v = find_header(c->in, hlen, "Transfer-Encoding");
	if (v && !strncasecmp(v, "chunked", 7)) {
		/* decode into c->dec; c->in stays as it is until the whole reply is in */
		size_t rd = start;
		c->dec.len = 0;
		str_add(&c->dec, "", 0);
		for (;;) {
			char *eol = memmem(c->in + rd, c->inlen - rd, "\r\n", 2);
			if (!eol)
				return 0;
			size_t n = strtoul(c->in + rd, NULL, 16);
			size_t data = (size_t)(eol - c->in) + 2;
			if (n == 0) {
				/* no trailers expected: the last chunk is "0\r\n\r\n" */
				if (c->inlen < data + 2)
					return 0;
				r->body = c->dec.p;
				r->len = c->dec.len;
				return data + 2;
			}
			if (c->inlen < data + n + 2)
				return 0;
			str_add(&c->dec, c->in + data, n);
			rd = data + n + 2;
		}
	}
	v = find_header(c->in, hlen, "Content-Length");
	if (v) {
		size_t n = strtoul(v, NULL, 10);
		if (c->inlen < start + n)
			return 0;
		r->body = c->in + start;
		r->len = n;
		return start + n;
	}
	if (!eof)
		return 0;
	*close_after = true;
	r->body = c->in + start;
	r->len = c->inlen - start;
	return c->inlen;
}

static void conn_readable(struct conn *c)
{
	bool eof = false;
	for (;;) {
		if (c->incap - c->inlen < 4096) {
			c->incap = c->incap ? c->incap * 2 : 16384;
			c->in = xrealloc(c->in, c->incap + 1);
		}
		ssize_t n;
		if (c->tls) {
			/* read until GNUTLS_E_AGAIN: nothing stays buffered inside
			 * GnuTLS that epoll would not report. A close without
			 * close_notify (GNUTLS_E_PREMATURE_TERMINATION), like any
			 * other error, ends the connection as an EOF does. */
			n = gnutls_record_recv(c->tls, c->in + c->inlen, c->incap - c->inlen);
			if (n == GNUTLS_E_INTERRUPTED)
				continue;
			if (n == GNUTLS_E_AGAIN)
				break;
		} else {
			n = read(c->fd, c->in + c->inlen, c->incap - c->inlen);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				break;
		}
		if (n <= 0) {
			eof = true;
			break;
		}
		c->inlen += (size_t)n;
	}
	if (!c->busy) { /* unsolicited data or a close while idle */
		if (eof)
			conn_close(c);
		else
			c->inlen = 0;
		return;
	}
	struct resp r = {0};
	bool close_after = false;
	size_t used = parse(c, &r, eof, &close_after);
	if (used == (size_t)-1) {
		conn_close(c);
		c->inlen = 1; /* not retriable */
		conn_fail(c);
		return;
	}
	if (used == 0) {
		if (eof) {
			conn_close(c);
			conn_fail(c);
		}
		return;
	}
	c->busy = false;
	if (close_after || eof || new_conn)
		conn_close(c);
	c->fn(c, &r);
	if (c->state == C_OPEN && !c->busy)
		c->inlen = 0;
}

/* The connection is usable (TCP up, and the handshake done under TLS): it
 * gives back its connect slot and sends what is waiting. */
static void conn_opened(struct conn *c)
{
	c->state = C_OPEN;
	connecting--;
	pump_connects();
	if (c->busy)
		conn_flush(c);
	else
		ep_set(c, false, false);
}

/* Advances the TLS handshake; on a fatal error the connection fails like a
 * broken TCP one (retried while nothing came back), except that a
 * certificate that does not verify is not retried. */
static void conn_handshake(struct conn *c)
{
	int rc = gnutls_handshake(c->tls);
	if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
		ep_tls_wait(c);
		return;
	}
	if (rc == GNUTLS_E_SUCCESS) {
		n_handshakes++;
		if (!tls_version[0])
			snprintf(tls_version, sizeof(tls_version), "%s",
			         gnutls_protocol_get_name(gnutls_protocol_get_version(c->tls)));
		conn_opened(c);
		return;
	}
	n_tls_failed++;
	bool verify = rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR;
	if (n_tls_failed <= 5) {
		gnutls_datum_t why = {0};
		if (verify)
			gnutls_certificate_verification_status_print(
			        gnutls_session_get_verify_cert_status(c->tls), GNUTLS_CRT_X509,
			        &why, 0);
		fprintf(stderr, "loadgen: TLS handshake: %s%s%s\n", gnutls_strerror(rc),
		        why.data ? ": " : "", why.data ? (const char *)why.data : "");
		gnutls_free(why.data);
	}
	conn_close(c);
	if (verify)
		c->inlen = 1; /* not retriable */
	conn_fail(c);
	pump_connects();
}

/* TCP is up: starts a client session on it (--tls-ca). The certificate must
 * chain to the CA and name the target's address (an IP address: checked
 * against the subjectAltName's IP entries; no SNI, which RFC 6066 does not
 * allow for an IP literal). */
static void conn_tls_start(struct conn *c)
{
	inet_ntop(AF_INET, &c->addr->sin_addr, c->host, sizeof(c->host));
	if (gnutls_init(&c->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK) < 0)
		die("gnutls_init failed");
	if (gnutls_set_default_priority(c->tls) < 0 ||
	    gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, tls_cred) < 0)
		die("cannot set up a TLS session");
	gnutls_session_set_verify_cert(c->tls, c->host, 0);
	gnutls_transport_set_int(c->tls, c->fd);
	c->state = C_HANDSHAKE;
	conn_handshake(c);
}

static void conn_event(struct conn *c, uint32_t ev)
{
	if (c->state == C_CONNECTING) {
		int err = 0;
		socklen_t l = sizeof(err);
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err) {
			conn_close(c);
			conn_fail(c);
			pump_connects();
			return;
		}
		if (!(ev & (EPOLLOUT | EPOLLIN)))
			return;
		if (tls_cred)
			conn_tls_start(c);
		else
			conn_opened(c);
		return;
	}
	if (c->state == C_HANDSHAKE) {
		conn_handshake(c);
		return;
	}
	/* under TLS a blocked send may wait for read readiness */
	if ((ev & EPOLLOUT) || (c->tls && c->busy && c->outoff < c->out.len))
		conn_flush(c);
	if (c->state == C_OPEN && (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		conn_readable(c);
}

static bool stop_loop;

/* Runs the event loop until stop_loop or the deadline; calls tick every
 * ~10 ms when given. */
static void loop(double deadline, void (*tick)(void))
{
	struct epoll_event evs[512];
	while (!stop_loop && now_s() < deadline) {
		int n = epoll_wait(ep, evs, 512, 10);
		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++)
			conn_event(evs[i].data.ptr, evs[i].events);
		pump_connects();
		if (tick)
			tick();
	}
}

static struct conn *conn_new(const struct sockaddr_in *addr, void *user)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		die("out of memory");
	c->fd = -1;
	c->addr = addr;
	c->user = user;
	return c;
}

static void req_begin(struct conn *c, const char *method, const char *path)
{
	c->out.len = 0;
	str_addf(&c->out, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: kindling-bench\r\n",
	         method, path);
	if (new_conn)
		str_add(&c->out, "Connection: close\r\n", 19);
}

/* " tls=.. tls_handshakes=.. tls_failed=.. loadgen_cpu_ms=..", or nothing
 * when neither --tls-ca nor --new-conn was given (the output stays as it
 * was). */
static double self_cpu_ms(void);
static void print_conn_stats(void)
{
	if (tls_cred)
		printf(" tls=%s tls_handshakes=%llu tls_failed=%llu",
		       tls_version[0] ? tls_version : "-", n_handshakes, n_tls_failed);
	if (tls_cred || new_conn)
		printf(" loadgen_cpu_ms=%.0f", self_cpu_ms());
}

static void req_end(struct conn *c, const char *ctype, const char *body, size_t blen)
{
	if (body) {
		str_addf(&c->out, "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n", ctype, blen);
		str_add(&c->out, body, blen);
	} else {
		str_add(&c->out, "\r\n", 2);
	}
}

static char **read_lines(const char *path, size_t *n)
{
	FILE *f = fopen(path, "r");
	if (!f)
		die("%s: %s", path, strerror(errno));
	char **v = NULL;
	size_t cap = 0;
	*n = 0;
	char *line = NULL;
	size_t lcap = 0;
	ssize_t len;
	while ((len = getline(&line, &lcap, f)) >= 0) {
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (!len)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 256;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[(*n)++] = xstrdup(line);
	}
	free(line);
	fclose(f);
	return v;
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* ======== reqs: N distinct requests over C keep-alive connections ======== */
static struct {
	struct sockaddr_in addr;
	const char *method, *path, *body, *ctype, *header, *save;
	char **tokens;
	size_t ntokens;
	long count, next, done, ok, errors;
	unsigned long long id_base;
	int expect;
	struct samples lat;
	FILE *savef;
	struct str tmp;
} R;

static void expand(struct str *s, const char *tpl, long i)
{
	s->len = 0;
	str_add(s, "", 0);
	for (const char *p = tpl; *p; p++) {
		if (*p != '%' || !p[1]) {
			str_add(s, p, 1);
			continue;
		}
		p++;
		if (*p == 'T') {
			if (!R.ntokens)
				die("%%T needs --tokens");
			const char *t = R.tokens[(size_t)i % R.ntokens];
			str_add(s, t, strlen(t));
		} else if (*p == 'x') {
			str_addf(s, "%016llx", R.id_base + (unsigned long long)i);
		} else if (*p == 'd') {
			str_addf(s, "%ld", i);
		} else {
			str_add(s, p, 1);
		}
	}
}

static void reqs_next(struct conn *c);

static void reqs_done(struct conn *c, struct resp *r)
{
	R.done++;
	if (r->status == R.expect) {
		R.ok++;
		sample(&R.lat, now_s() - c->t_sent);
		if (R.savef) {
			fwrite(r->body, 1, r->len, R.savef);
			fputc('\n', R.savef);
		}
	} else {
		if (R.errors < 5)
			fprintf(stderr, "loadgen: %s %s: status %d: %.200s\n", R.method, R.path,
			        r->status, r->status > 0 ? r->body : "");
		R.errors++;
	}
	if (R.done == R.count)
		stop_loop = true;
	reqs_next(c);
}

static void reqs_next(struct conn *c)
{
	if (R.next >= R.count)
		return;
	long i = R.next++;
	expand(&R.tmp, R.path, i);
	req_begin(c, R.method, R.tmp.p);
	if (R.header)
		str_addf(&c->out, "%s\r\n", R.header);
	if (R.body) {
		expand(&R.tmp, R.body, i);
		req_end(c, R.ctype, R.tmp.p, R.tmp.len);
	} else {
		req_end(c, NULL, NULL, 0);
	}
	conn_send(c, reqs_done);
}

static int cmd_reqs(int argc, char **argv)
{
	int conns = 16;
	double timeout = 120;
	R.method = "GET";
	R.ctype = "application/x-www-form-urlencoded";
	R.expect = 200;
	R.count = 1;
	const char *target = NULL, *tokens = NULL;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			die("%s needs a value", a);
		i++;
		if (!strcmp(a, "--target"))
			target = v;
		else if (!strcmp(a, "--method"))
			R.method = v;
		else if (!strcmp(a, "--path"))
			R.path = v;
		else if (!strcmp(a, "--body"))
			R.body = v;
		else if (!strcmp(a, "--ctype"))
			R.ctype = v;
		else if (!strcmp(a, "--header"))
			R.header = v;
		else if (!strcmp(a, "--tokens"))
			tokens = v;
		else if (!strcmp(a, "--count"))
			R.count = atol(v);
		else if (!strcmp(a, "-c"))
			conns = atoi(v);
		else if (!strcmp(a, "--expect"))
			R.expect = atoi(v);
		else if (!strcmp(a, "--save"))
			R.save = v;
		else if (!strcmp(a, "--id-base"))
			R.id_base = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--timeout"))
			timeout = atof(v);
		else
			die("reqs: unknown flag %s", a);
	}
	if (!target || !R.path)
		die("reqs: --target and --path are required");
	R.addr = parse_target(target);
	if (tokens)
		R.tokens = read_lines(tokens, &R.ntokens);
	if (R.save && !(R.savef = fopen(R.save, "w")))
		die("%s: %s", R.save, strerror(errno));
	if (conns > R.count)
		conns = (int)R.count;
	if (R.count <= 0)
		die("reqs: --count must be at least 1");
	double t0 = now_s();
	for (int i = 0; i < conns; i++)
		reqs_next(conn_new(&R.addr, NULL));
	loop(t0 + timeout, NULL);
	double secs = now_s() - t0;
	if (R.savef)
		fclose(R.savef);
	long missing = R.count - R.done;
	printf("count=%ld ok=%ld errors=%ld secs=%.4f rps=%.1f p50_ms=%.3f p90_ms=%.3f "
	       "p99_ms=%.3f max_ms=%.3f reconnects=%llu",
	       R.count, R.ok, R.errors + missing, secs, (double)R.ok / secs, pct(&R.lat, 50) * 1e3,
	       pct(&R.lat, 90) * 1e3, pct(&R.lat, 99) * 1e3, pct(&R.lat, 100) * 1e3, n_reconnects);
	print_conn_stats();
	printf("\n");
	return R.errors + missing ? 1 : 0;
}

/* ======== storm: 1 000 simulated nodes booting at once ======== */
struct cluster {
	char *cfg_path, *auth, *disc_path;
	int size;
};

enum nstep { N_FETCH, N_PUT, N_DIR, N_WATCH, N_DONE, N_FAILED };

struct node {
	struct cluster *cl;
	int idx; /* node number, unique in the run */
	enum nstep step;
	struct conn *cfg, *disc; /* the same connection when both are one server */
	int members;
	long long index;
	double t_done;
	int retries;
	int target, failovers; /* --targets: the one in use, moves so far */
	bool put_lost;         /* a registration went out and its answer did not come back */
};

/* --targets: the replicas; --acked: the acknowledged registrations. */
static struct sockaddr_in *st_targets;
static size_t st_ntargets;
static FILE *st_acked;
static unsigned long long st_failovers, st_put_found;

static struct {
	struct node *nodes;
	size_t n, done, failed;
	unsigned long long retries, errors;
	double t0;
} S;

static void node_step(struct node *nd);

static void node_error(struct node *nd, const char *what, struct resp *r)
{
	S.errors++;
	if (S.errors <= 5)
		fprintf(stderr, "loadgen: node %d: %s: status %d: %.200s\n", nd->idx, what,
		        r->status, r->status > 0 && r->body ? r->body : "");
	nd->step = N_FAILED;
	S.failed++;
	if (S.done + S.failed == S.n)
		stop_loop = true;
}

/* Counts members in a directory listing: each member node has a "value". */
static int count_members(const char *body, size_t len)
{
	int n = 0;
	for (const char *p = body; p && p < body + len; p++) {
		p = memmem(p, (size_t)(body + len - p), "\"value\":", 8);
		if (!p)
			break;
		n++;
	}
	return n;
}

static long long json_int_after(const char *body, size_t len, const char *key)
{
	const char *p = memmem(body, len, key, strlen(key));
	return p ? atoll(p + strlen(key)) : -1;
}

/* --targets: the node's replica did not answer, or answered 5xx: the same
 * step again through the next one (a balancer's failover). */
static bool node_failover(struct node *nd, struct resp *r)
{
	if (!st_ntargets || (r->status > 0 && r->status < 500))
		return false;
	if (nd->step == N_PUT)
		nd->put_lost = true; /* maybe committed: a 412 later means it was */
	st_failovers++;
	if (++nd->failovers > 100) {
		node_error(nd, "every target kept failing", r);
		return true;
	}
	conn_close(nd->cfg);
	nd->target = (nd->target + 1) % (int)st_ntargets;
	nd->cfg->addr = &st_targets[nd->target];
	node_step(nd);
	return true;
}

/* --acked: the registration's key and index, with the time of its 201. */
static void ack_line(struct node *nd, struct resp *r)
{
	const char *k = r->body ? memmem(r->body, r->len, "\"key\":\"", 7) : NULL;
	const char *e = k ? memchr(k + 7, '"', (size_t)(r->body + r->len - (k + 7))) : NULL;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(st_acked, "%lld\t%.*s\t%lld\t%d\n",
	        (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, e ? (int)(e - (k + 7)) : 1,
	        e ? k + 7 : "-", json_int_after(r->body, r->len, "\"createdIndex\":"), nd->target);
	fflush(st_acked);
}

static void node_resp(struct conn *c, struct resp *r)
{
	struct node *nd = c->user;
	if (nd->step < N_DONE && node_failover(nd, r))
		return;
	switch (nd->step) {
	case N_FETCH:
		if (r->status != 200 || r->len == 0) {
			node_error(nd, "config fetch", r);
			return;
		}
		nd->step = N_PUT;
		break;
	case N_PUT:
		if (r->status == 412 && nd->put_lost) {
			st_put_found++;
			nd->step = N_DIR;
			break;
		}
		if (r->status != 201) {
			node_error(nd, "registration", r);
			return;
		}
		if (st_acked)
			ack_line(nd, r);
		nd->step = N_DIR;
		break;
	case N_DIR:
		if (r->status != 200 || r->etcd_index < 0) {
			node_error(nd, "directory read", r);
			return;
		}
		nd->members = count_members(r->body, r->len);
		nd->index = r->etcd_index;
		nd->step = N_WATCH;
		break;
	case N_WATCH:
		if (r->status == 200 && r->len == 0) /* long-poll timeout: ask again */
			break;
		if (r->status == 200) {
			long long mi = json_int_after(r->body, r->len, "\"modifiedIndex\":");
			if (mi < 0) {
				node_error(nd, "watch event without modifiedIndex", r);
				return;
			}
			nd->index = mi;
			nd->members++;
			break;
		}
		if (r->status == 400 || r->status == 401 || r->status == 503) {
			/* etcd: event index cleared (401, errorCode 401) or busy:
			 * read the directory again, as etcd members do */
			nd->retries++;
			S.retries++;
			if (nd->retries > 50) {
				node_error(nd, "watch kept failing", r);
				return;
			}
			nd->step = N_DIR;
			break;
		}
		{
			node_error(nd, "watch", r);
			return;
		}
	default:
		return;
	}
	node_step(nd);
}

static void node_step(struct node *nd)
{
	struct cluster *cl = nd->cl;
	char path[1024];
	switch (nd->step) {
	case N_FETCH:
		req_begin(nd->cfg, "GET", cl->cfg_path);
		str_addf(&nd->cfg->out,
		         "Accept: application/vnd.coreos.ignition+json;version=3.3.0, "
		         "*/*;q=0.1\r\n");
		if (strcmp(cl->auth, "-") != 0)
			str_addf(&nd->cfg->out, "Authorization: %s\r\n", cl->auth);
		req_end(nd->cfg, NULL, NULL, 0);
		conn_send(nd->cfg, node_resp);
		return;
	case N_PUT: {
		char body[128];
		snprintf(path, sizeof(path), "%s/%016x?prevExist=false", cl->disc_path,
		         (unsigned)nd->idx + 0x1000);
		int bl = snprintf(body, sizeof(body),
		                  "value=n%d%%3Dhttp%%3A%%2F%%2F10.%d.%d.%d%%3A2380", nd->idx,
		                  (nd->idx >> 16) & 255, (nd->idx >> 8) & 255, nd->idx & 255);
		req_begin(nd->disc, "PUT", path);
		req_end(nd->disc, "application/x-www-form-urlencoded", body, (size_t)bl);
		conn_send(nd->disc, node_resp);
		return;
	}
	case N_DIR:
		snprintf(path, sizeof(path), "%s?quorum=false&recursive=false&sorted=false",
		         cl->disc_path);
		req_begin(nd->disc, "GET", path);
		req_end(nd->disc, NULL, NULL, 0);
		conn_send(nd->disc, node_resp);
		return;
	case N_WATCH:
		if (nd->members >= cl->size) {
			nd->step = N_DONE;
			nd->t_done = now_s();
			S.done++;
			if (S.done + S.failed == S.n)
				stop_loop = true;
			return;
		}
		snprintf(path, sizeof(path), "%s?recursive=true&wait=true&waitIndex=%lld",
		         cl->disc_path, nd->index + 1);
		req_begin(nd->disc, "GET", path);
		req_end(nd->disc, NULL, NULL, 0);
		conn_send(nd->disc, node_resp);
		return;
	default:
		return;
	}
}

static int cmd_storm(int argc, char **argv)
{
	const char *cfg = NULL, *disc = NULL, *nodes = NULL, *targets = NULL, *acked = NULL;
	double timeout = 60;
	for (int i = 0; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--config"))
			cfg = argv[i + 1];
		else if (!strcmp(argv[i], "--targets"))
			targets = argv[i + 1];
		else if (!strcmp(argv[i], "--acked"))
			acked = argv[i + 1];
		else if (!strcmp(argv[i], "--disc"))
			disc = argv[i + 1];
		else if (!strcmp(argv[i], "--nodes"))
			nodes = argv[i + 1];
		else if (!strcmp(argv[i], "--timeout"))
			timeout = atof(argv[i + 1]);
		else
			die("storm: unknown flag %s", argv[i]);
	}
	if (!nodes || (!targets && (!cfg || !disc)))
		die("storm: --nodes and --targets (or --config and --disc) are required");
	static struct sockaddr_in cfg_addr, disc_addr;
	bool same = true;
	if (targets) {
		char *list = xstrdup(targets), *save = NULL;
		for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			st_targets = xrealloc(st_targets, (st_ntargets + 1) * sizeof(*st_targets));
			st_targets[st_ntargets++] = parse_target(t);
		}
		free(list);
		if (!st_ntargets)
			die("storm: --targets names no target");
	} else {
		cfg_addr = parse_target(cfg);
		disc_addr = parse_target(disc);
		same = !strcmp(cfg, disc);
	}
	if (acked && !(st_acked = fopen(acked, "w")))
		die("%s: %s", acked, strerror(errno));
	size_t nl;
	char **lines = read_lines(nodes, &nl);
	struct cluster *cls = xmalloc(nl * sizeof(*cls));
	size_t total = 0;
	for (size_t i = 0; i < nl; i++) {
		char *f[4];
		char *save = NULL, *s = lines[i];
		for (int k = 0; k < 4; k++, s = NULL)
			if (!(f[k] = strtok_r(s, "\t", &save)))
				die("%s line %zu: want 4 tab-separated fields", nodes, i + 1);
		cls[i] = (struct cluster){f[0], f[1], f[2], atoi(f[3])};
		if (cls[i].size < 1)
			die("%s line %zu: bad size", nodes, i + 1);
		total += (size_t)cls[i].size;
	}
	S.nodes = calloc(total, sizeof(*S.nodes));
	if (!S.nodes)
		die("out of memory");
	S.n = total;
	size_t k = 0;
	for (size_t i = 0; i < nl; i++) {
		for (int j = 0; j < cls[i].size; j++, k++) {
			struct node *nd = &S.nodes[k];
			nd->cl = &cls[i];
			nd->idx = (int)k;
			if (st_ntargets) {
				nd->target = (int)(k % st_ntargets);
				nd->cfg = conn_new(&st_targets[nd->target], nd);
			} else {
				nd->cfg = conn_new(&cfg_addr, nd);
			}
			nd->disc = same ? nd->cfg : conn_new(&disc_addr, nd);
		}
	}
	S.t0 = now_s();
	for (size_t i = 0; i < S.n; i++)
		node_step(&S.nodes[i]);
	loop(S.t0 + timeout, NULL);
	struct samples t = {0};
	for (size_t i = 0; i < S.n; i++)
		if (S.nodes[i].step == N_DONE)
			sample(&t, S.nodes[i].t_done - S.t0);
	size_t unfinished = S.n - S.done - S.failed;
	for (size_t i = 0, shown = 0; i < S.n && shown < 5; i++) {
		struct node *nd = &S.nodes[i];
		if (nd->step == N_DONE || nd->step == N_FAILED)
			continue;
		shown++;
		fprintf(stderr, "loadgen: node %d unfinished: %s step %d, %d of %d members, index %lld, target %d\n",
		        nd->idx, nd->cl->disc_path, (int)nd->step, nd->members, nd->cl->size, nd->index,
		        nd->target);
	}
	double secs = S.done ? pct(&t, 100) : now_s() - S.t0;
	printf("nodes=%zu done=%zu errors=%zu secs=%.4f p50_ms=%.1f p99_ms=%.1f requests=%llu "
	       "retries=%llu reconnects=%llu",
	       S.n, S.done, S.failed + unfinished, secs, pct(&t, 50) * 1e3, pct(&t, 99) * 1e3,
	       n_requests, S.retries, n_reconnects);
	if (st_ntargets)
		printf(" targets=%zu failovers=%llu put_found=%llu", st_ntargets, st_failovers,
		       st_put_found);
	print_conn_stats();
	printf("\n");
	if (st_acked)
		fclose(st_acked);
	return S.done == S.n ? 0 : 1;
}

/* ======== xwatch: a watch on one replica, a registration through another ======== */
static struct {
	struct sockaddr_in waddr, paddr;
	char **paths;
	size_t n, i;
	struct conn *w, *p;
	int phase; /* 1: the watch is out, 2: the PUT too, 0: between samples */
	double park, t_watch, t_ack, t_woke;
	bool acked, woke, bad;
	long errors, early;
	struct samples lat;
} X;

static void xw_start(void);

static void xw_end(void)
{
	if (!X.bad && X.acked && X.woke) {
		double d = X.t_woke - X.t_ack;
		if (d < 0) {
			X.early++;
			d = 0;
		}
		sample(&X.lat, d);
	}
	X.phase = 0;
	X.i++;
	if (X.i >= X.n)
		stop_loop = true;
	else
		xw_start();
}

static void xw_error(const char *what, struct resp *r)
{
	if (X.errors++ < 5)
		fprintf(stderr, "loadgen: xwatch %s: %s: status %d: %.200s\n", X.paths[X.i], what,
		        r->status, r->status > 0 && r->body ? r->body : "");
	X.bad = true;
}

/* A sample ends when both answers are in (the watch alone when it answered
 * before the registration went out). */
static void xw_watch_done(struct conn *c, struct resp *r)
{
	(void)c;
	X.t_woke = now_s();
	X.woke = true;
	if (X.phase != 2)
		xw_error("the watch answered before the registration", r);
	else if (r->status != 200 || r->len == 0)
		xw_error("watch", r);
	if (X.phase != 2 || X.acked)
		xw_end();
}

static void xw_put_done(struct conn *c, struct resp *r)
{
	(void)c;
	X.t_ack = now_s();
	X.acked = true;
	if (r->status != 201)
		xw_error("registration", r);
	if (X.woke)
		xw_end();
}

static void xw_start(void)
{
	char path[1024];
	X.acked = X.woke = X.bad = false;
	snprintf(path, sizeof(path), "%s?wait=true&recursive=true", X.paths[X.i]);
	req_begin(X.w, "GET", path);
	req_end(X.w, NULL, NULL, 0);
	conn_send(X.w, xw_watch_done);
	X.t_watch = now_s();
	X.phase = 1;
}

static void xw_tick(void)
{
	if (X.phase != 1 || now_s() < X.t_watch + X.park)
		return;
	char path[1024];
	snprintf(path, sizeof(path), "%s/%016zx?prevExist=false", X.paths[X.i], X.i + 1);
	static const char body[] = "value=x%3Dhttp%3A%2F%2F10.0.0.1%3A2380";
	req_begin(X.p, "PUT", path);
	req_end(X.p, "application/x-www-form-urlencoded", body, sizeof(body) - 1);
	X.phase = 2;
	conn_send(X.p, xw_put_done);
}

static int cmd_xwatch(int argc, char **argv)
{
	const char *w = NULL, *p = NULL, *tokens = NULL;
	double timeout = 120;
	X.park = 0.05;
	for (int i = 0; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--watch"))
			w = argv[i + 1];
		else if (!strcmp(argv[i], "--put"))
			p = argv[i + 1];
		else if (!strcmp(argv[i], "--tokens"))
			tokens = argv[i + 1];
		else if (!strcmp(argv[i], "--park-ms"))
			X.park = atof(argv[i + 1]) / 1e3;
		else if (!strcmp(argv[i], "--timeout"))
			timeout = atof(argv[i + 1]);
		else
			die("xwatch: unknown flag %s", argv[i]);
	}
	if (!w || !p || !tokens)
		die("xwatch: --watch, --put and --tokens are required");
	X.waddr = parse_target(w);
	X.paddr = parse_target(p);
	X.paths = read_lines(tokens, &X.n);
	if (!X.n)
		die("xwatch: %s is empty", tokens);
	X.w = conn_new(&X.waddr, NULL);
	X.p = conn_new(&X.paddr, NULL);
	double t0 = now_s();
	xw_start();
	loop(t0 + timeout, xw_tick);
	printf("samples=%zu done=%zu errors=%ld early=%ld secs=%.4f p50_ms=%.2f p90_ms=%.2f "
	       "p99_ms=%.2f max_ms=%.2f\n",
	       X.n, X.lat.n, X.errors + (long)(X.n - X.i), X.early, now_s() - t0,
	       pct(&X.lat, 50) * 1e3, pct(&X.lat, 90) * 1e3, pct(&X.lat, 99) * 1e3,
	       pct(&X.lat, 100) * 1e3);
	return X.errors || X.i < X.n ? 1 : 0;
}

/* ======== watch: 10 000 parked long polls, then release them all ======== */
struct wdir {
	char *path;
	long long index;
	double t_put;  /* when its completing registration was sent */
	double t_last; /* when its last watcher was released */
	int pending;   /* watchers not yet released */
};

struct watcher {
	struct wdir *d;
	struct conn *c;
	bool parked, released;
};

static struct {
	struct sockaddr_in addr;
	struct wdir *dirs;
	size_t ndirs, next_dir, dirs_read;
	struct watcher *w;
	size_t nw, sent, released, errors, rewatches;
	size_t puts_next, puts_done, put_errors;
	double t_put0, t_release_end, t_puts_end;
	bool releasing;
	struct conn *metrics;
	const char *metrics_path;
	long long inflight;
	bool metrics_busy;
} W;

static void wdir_next(struct conn *c);
static void watch_done(struct conn *c, struct resp *r);

static void wdir_done(struct conn *c, struct resp *r)
{
	struct wdir *d = c->user;
	if (r->status != 200 || r->etcd_index < 0) {
		if (W.errors < 5)
			fprintf(stderr, "loadgen: directory %s: status %d\n", d->path, r->status);
		W.errors++;
	} else {
		d->index = r->etcd_index;
	}
	if (++W.dirs_read == W.ndirs)
		stop_loop = true;
	wdir_next(c);
}

static void wdir_next(struct conn *c)
{
	if (W.next_dir >= W.ndirs)
		return;
	struct wdir *d = &W.dirs[W.next_dir++];
	c->user = d;
	char path[1024];
	snprintf(path, sizeof(path), "%s?quorum=false&recursive=false&sorted=false", d->path);
	req_begin(c, "GET", path);
	req_end(c, NULL, NULL, 0);
	conn_send(c, wdir_done);
}

static void watch_send(struct watcher *w)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s?recursive=true&wait=true&waitIndex=%lld", w->d->path,
	         w->d->index + 1);
	req_begin(w->c, "GET", path);
	req_end(w->c, NULL, NULL, 0);
	conn_send(w->c, watch_done);
}

static void watch_done(struct conn *c, struct resp *r)
{
	struct watcher *w = c->user;
	double t = now_s();
	if (r->status == 200 && r->len == 0) {
		/* the server's long-poll timeout: a member asks again */
		W.rewatches++;
		watch_send(w);
		return;
	}
	if (!W.releasing || r->status != 200) {
		W.errors++;
		if (W.errors <= 5)
			fprintf(stderr, "loadgen: watcher on %s ended early: status %d: %.200s\n",
			        w->d->path, r->status, r->status > 0 && r->body ? r->body : "");
	}
	w->released = true;
	W.released++;
	w->d->t_last = t;
	w->d->pending--;
	W.t_release_end = t;
	if (W.released == W.nw && W.puts_done == W.ndirs)
		stop_loop = true;
	conn_close(c);
}

static void put_next(struct conn *c);

static void put_done(struct conn *c, struct resp *r)
{
	if (r->status != 201) {
		W.put_errors++;
		if (W.put_errors <= 5)
			fprintf(stderr, "loadgen: completing registration: status %d: %.200s\n",
			        r->status, r->status > 0 && r->body ? r->body : "");
	}
	if (++W.puts_done == W.ndirs) {
		W.t_puts_end = now_s();
		if (W.released == W.nw)
			stop_loop = true;
	}
	put_next(c);
}

static void put_next(struct conn *c)
{
	if (W.puts_next >= W.ndirs)
		return;
	size_t i = W.puts_next++;
	struct wdir *d = &W.dirs[i];
	char path[1024], body[128];
	snprintf(path, sizeof(path), "%s/%016zx?prevExist=false", d->path, i + 0x40000000);
	int bl = snprintf(body, sizeof(body), "value=w%zu%%3Dhttp%%3A%%2F%%2F10.1.0.1%%3A2380", i);
	req_begin(c, "PUT", path);
	req_end(c, "application/x-www-form-urlencoded", body, (size_t)bl);
	d->t_put = now_s();
	conn_send(c, put_done);
}

static void metrics_done(struct conn *c, struct resp *r)
{
	(void)c;
	W.metrics_busy = false;
	if (r->status != 200)
		return;
	long long v = json_int_after(r->body, r->len, "\nkindling_http_requests_in_flight ");
	if (v >= 0)
		W.inflight = v - 1; /* less the metrics request itself */
}

static void metrics_tick(void)
{
	if (!W.metrics_path || W.metrics_busy)
		return;
	W.metrics_busy = true;
	req_begin(W.metrics, "GET", W.metrics_path);
	req_end(W.metrics, NULL, NULL, 0);
	conn_send(W.metrics, metrics_done);
}

static double park_deadline;
static void park_tick(void)
{
	static double last;
	double t = now_s();
	if (t - last >= 0.1) {
		last = t;
		metrics_tick();
	}
	size_t written = 0;
	for (size_t i = 0; i < W.nw; i++)
		if (W.w[i].c->state == C_OPEN && W.w[i].c->outoff == W.w[i].c->out.len)
			written++;
	W.sent = written;
	if (written == W.nw && (!W.metrics_path || W.inflight >= (long long)W.nw)) {
		if (!park_deadline)
			park_deadline = t + (W.metrics_path ? 0.2 : 1.0); /* let them settle */
		if (t >= park_deadline)
			stop_loop = true;
	}
}

static void proc_status(pid_t pid, long *rss_kb, long *hwm_kb, long *threads)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	*rss_kb = *hwm_kb = *threads = -1;
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "VmRSS:", 6))
			*rss_kb = atol(line + 6);
		else if (!strncmp(line, "VmHWM:", 6))
			*hwm_kb = atol(line + 6);
		else if (!strncmp(line, "Threads:", 8))
			*threads = atol(line + 8);
	}
	fclose(f);
}

/* CPU time (user + system) of a process so far, ms. */
static double proc_cpu_ms(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char buf[1024];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	/* after the comm: state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime */
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_ms(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static int cmd_watch(int argc, char **argv)
{
	const char *disc = NULL, *tokens = NULL;
	int per = 5, conns = 0;
	double timeout = 60, hold = 0;
	pid_t pids[8];
	int npids = 0;
	for (int i = 0; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];
		if (!strcmp(a, "--disc"))
			disc = v;
		else if (!strcmp(a, "--tokens"))
			tokens = v;
		else if (!strcmp(a, "--per-token"))
			per = atoi(v);
		else if (!strcmp(a, "--pid") && npids < 8)
			pids[npids++] = atoi(v);
		else if (!strcmp(a, "--metrics"))
			W.metrics_path = v;
		else if (!strcmp(a, "--hold"))
			hold = atof(v);
		else if (!strcmp(a, "-c"))
			conns = atoi(v);
		else if (!strcmp(a, "--timeout"))
			timeout = atof(v);
		else
			die("watch: unknown flag %s", a);
	}
	if (!disc || !tokens)
		die("watch: --disc and --tokens are required");
	W.addr = parse_target(disc);
	size_t n;
	char **lines = read_lines(tokens, &n);
	W.ndirs = n;
	W.dirs = calloc(n, sizeof(*W.dirs));
	if (!W.dirs)
		die("out of memory");
	for (size_t i = 0; i < n; i++)
		W.dirs[i].path = lines[i];
	/* 1. the index of every directory, over 64 connections closed after */
	int readers = n < 64 ? (int)n : 64;
	struct conn **rd = xmalloc((size_t)readers * sizeof(*rd));
	for (int i = 0; i < readers; i++)
		rd[i] = conn_new(&W.addr, NULL);
	W.metrics = conn_new(&W.addr, NULL);
	double t = now_s();
	for (int i = 0; i < readers; i++)
		wdir_next(rd[i]);
	loop(t + timeout, NULL);
	stop_loop = false;
	for (int i = 0; i < readers; i++)
		conn_close(rd[i]);
	if (W.dirs_read != W.ndirs || W.errors)
		die("could not read the directories (%zu of %zu)", W.dirs_read, W.ndirs);

	/* 2. park the watchers */
	W.nw = n * (size_t)per;
	W.w = calloc(W.nw, sizeof(*W.w));
	if (!W.w)
		die("out of memory");
	double t_park0 = now_s();
	for (size_t i = 0; i < W.nw; i++) {
		struct watcher *w = &W.w[i];
		w->d = &W.dirs[i % n];
		w->d->pending++;
		w->c = conn_new(&W.addr, w);
		watch_send(w);
	}
	loop(t_park0 + timeout, park_tick);
	stop_loop = false;
	double park_secs = now_s() - t_park0;
	if (W.sent != W.nw || W.released)
		fprintf(stderr, "loadgen: only %zu of %zu watches parked (%zu ended early)\n",
		        W.sent, W.nw, W.released);
	printf("watchers=%zu parked=%zu park_secs=%.3f inflight=%lld", W.nw, W.sent - W.released,
	       park_secs, W.inflight);
	for (int i = 0; i < npids; i++) {
		long rss, hwm, thr;
		proc_status(pids[i], &rss, &hwm, &thr);
		printf(" rss_kb_%d=%ld hwm_kb_%d=%ld threads_%d=%ld", i, rss, i, hwm, i, thr);
	}

	if (hold > 0) { /* keep them parked a while, for a look from outside */
		fflush(stdout);
		loop(now_s() + hold, NULL);
		stop_loop = false;
	}

	/* 3. open the connections of the completing registrations (one per
	 * directory unless -c says fewer), then send them all at once and time
	 * until every watcher has its event */
	if (conns <= 0 || (size_t)conns > n)
		conns = (int)n;
	struct conn **pool = xmalloc((size_t)conns * sizeof(*pool));
	for (int i = 0; i < conns; i++) {
		pool[i] = conn_new(&W.addr, NULL);
		start_connect(pool[i]);
	}
	double t_conn = now_s();
	while (now_s() < t_conn + timeout) {
		int open = 0;
		for (int i = 0; i < conns; i++)
			open += pool[i]->state == C_OPEN;
		if (open == conns)
			break;
		loop(now_s() + 0.01, NULL);
	}
	stop_loop = false;
	double cpu0[8], self0 = self_cpu_ms();
	for (int i = 0; i < npids; i++)
		cpu0[i] = proc_cpu_ms(pids[i]);
	W.releasing = true;
	W.t_put0 = now_s();
	for (int i = 0; i < conns; i++)
		put_next(pool[i]);
	loop(W.t_put0 + timeout, NULL);
	double max_dir = 0;
	for (size_t i = 0; i < n; i++)
		if (!W.dirs[i].pending && W.dirs[i].t_last - W.dirs[i].t_put > max_dir)
			max_dir = W.dirs[i].t_last - W.dirs[i].t_put;
	for (int i = 0; i < npids; i++)
		printf(" release_cpu_ms_%d=%.0f", i, proc_cpu_ms(pids[i]) - cpu0[i]);
	printf(" release_cpu_ms_loadgen=%.0f", self_cpu_ms() - self0);
	size_t unreleased = W.nw - W.released;
	printf(" released=%zu errors=%zu release_secs=%.4f puts_secs=%.4f max_dir_ms=%.1f "
	       "put_errors=%zu rewatches=%zu\n",
	       W.released, W.errors + unreleased, W.released ? W.t_release_end - W.t_put0 : -1,
	       W.t_puts_end ? W.t_puts_end - W.t_put0 : -1, max_dir * 1e3, W.put_errors,
	       W.rewatches);
	return W.errors + unreleased + W.put_errors ? 1 : 0;
}

/* ======== ready: start a server, time the first answered request ======== */
static void ready_done(struct conn *c, struct resp *r)
{
	*(int *)c->user = r->status;
	stop_loop = true;
}

static int cmd_ready(int argc, char **argv)
{
	const char *target = NULL, *path = "/", *log = "/dev/null";
	double timeout = 30;
	int i = 0;
	for (; i < argc; i += 2) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (i + 1 >= argc)
			die("%s needs a value", argv[i]);
		if (!strcmp(argv[i], "--target"))
			target = argv[i + 1];
		else if (!strcmp(argv[i], "--path"))
			path = argv[i + 1];
		else if (!strcmp(argv[i], "--log"))
			log = argv[i + 1];
		else if (!strcmp(argv[i], "--timeout"))
			timeout = atof(argv[i + 1]);
		else
			die("ready: unknown flag %s", argv[i]);
	}
	if (!target || i >= argc)
		die("ready: --target and -- CMD are required");
	static struct sockaddr_in addr;
	addr = parse_target(target);
	double t0 = now_s();
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 2);
			close(fd);
		}
		int nul = open("/dev/null", O_RDWR);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			close(nul);
		}
		/* No setsid(): the server stays in the benchmark's session, like
		 * nginx and etcd, so the scheduler's autogroups (one per session)
		 * treat them alike; a session of its own made kindling's threads
		 * stall together when the group had used its share (p99 x3). */
		execvp(argv[i], argv + i);
		_exit(127);
	}
	int status = 0;
	while (status != 200 && now_s() < t0 + timeout) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid)
			die("%s exited before answering", argv[i]);
		struct conn *c = conn_new(&addr, &status);
		status = 0;
		req_begin(c, "GET", path);
		req_end(c, NULL, NULL, 0);
		c->attempts = 99; /* no retries: a refused connect means not yet */
		c->busy = true;
		c->fn = ready_done;
		c->t_sent = now_s();
		start_connect(c);
		stop_loop = false;
		loop(now_s() + 1, NULL);
		conn_close(c);
		free(c->in);
		free(c->out.p);
		free(c);
		if (status != 200) {
			struct timespec ms = {0, 1000000};
			nanosleep(&ms, NULL);
		}
	}
	double secs = now_s() - t0;
	printf("pid=%d status=%d secs=%.4f\n", (int)pid, status, secs);
	return status == 200 ? 0 : 1;
}

/* Takes the options common to every command (--tls-ca FILE, --new-conn) out
 * of argv, up to a "--" (ready's command line is not ours); returns the new
 * argc. */
static int common_options(int argc, char **argv)
{
	const char *ca = NULL;
	int out = 0, i = 0;
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--new-conn")) {
			new_conn = true;
		} else if (!strcmp(argv[i], "--tls-ca")) {
			if (i + 1 >= argc)
				die("--tls-ca needs a file");
			ca = argv[++i];
		} else {
			argv[out++] = argv[i];
		}
	}
	for (; i < argc; i++)
		argv[out++] = argv[i];
	argv[out] = NULL;
	if (ca) {
		if (gnutls_certificate_allocate_credentials(&tls_cred) < 0)
			die("gnutls_certificate_allocate_credentials failed");
		int n = gnutls_certificate_set_x509_trust_file(tls_cred, ca, GNUTLS_X509_FMT_PEM);
		if (n <= 0)
			die("--tls-ca %s: no CA certificate (%s)", ca,
			    n < 0 ? gnutls_strerror(n) : "empty");
	}
	return out;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	setvbuf(stdout, NULL, _IOLBF, 0);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1: %s", strerror(errno));
	argc = common_options(argc, argv);
	if (argc < 2)
		die("usage: loadgen reqs|storm|watch|xwatch|ready ... (see the top of loadgen.c)");
	if (!strcmp(argv[1], "reqs"))
		return cmd_reqs(argc - 2, argv + 2);
	if (!strcmp(argv[1], "storm"))
		return cmd_storm(argc - 2, argv + 2);
	if (!strcmp(argv[1], "watch"))
		return cmd_watch(argc - 2, argv + 2);
	if (!strcmp(argv[1], "xwatch"))
		return cmd_xwatch(argc - 2, argv + 2);
	if (!strcmp(argv[1], "ready"))
		return cmd_ready(argc - 2, argv + 2);
	die("unknown mode %s", argv[1]);
}
