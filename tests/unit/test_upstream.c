/* test_upstream.c - upstream_new against the real discovery.etcd.io server
 * (Debian etcd-discovery) in front of a real etcd with the v2 API, plus a
 * scripted HTTP server in a thread for the answers a real one rarely gives. */
#include "../../server/buf.h"
#include "../../server/upstream.h"
#include "test.h"

/* Upper time bounds get this much slack: CI machines are shared and busy.
 * Lower bounds and request counts carry the precise checks. */
#define LOAD_SLACK_MS 3000

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------- */

static char tmpdir[] = "/tmp/kindling-test_upstream.XXXXXX";
static pid_t etcd_pid = -1, disc_pid = -1;
static int etcd_port, disc_port;
static char disc_host[64]; /* the --host the discovery server hands out */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* A loopback port below 32768 (above is the ephemeral range) that nothing
 * listens on now and that this program has not handed out before. */
static int free_port(void)
{
	static int given[64], ngiven;
	static unsigned seed;
	if (!seed)
		seed = (unsigned)getpid() ^ (unsigned)now_ms();
	for (int attempt = 0; attempt < 500; attempt++) {
		int p = 20000 + (int)(rand_r(&seed) % 12000);
		int dup = 0;
		for (int i = 0; i < ngiven; i++)
			dup |= given[i] == p;
		if (dup)
			continue;
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			return -1;
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p)};
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		int ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		close(fd);
		if (ok) {
			if (ngiven < 64)
				given[ngiven++] = p;
			return p;
		}
	}
	return -1;
}

/* A socket bound and listening on 127.0.0.1:port that is never accepted from. */
static int listen_on(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 16) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Starts argv[0] with stdout and stderr to logpath; the child dies with us. */
static pid_t spawn(char *const argv[], const char *logpath)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	execvp(argv[0], argv);
	fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* SIGTERM, up to 5 s to exit, then SIGKILL; reaps the child. */
static void stop_pid(pid_t *pid)
{
	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(*pid, NULL, WNOHANG) == *pid) {
			*pid = -1;
			return;
		}
		sleep_ms(50);
	}
	kill(*pid, SIGKILL);
	waitpid(*pid, NULL, 0);
	*pid = -1;
}

/* A one-shot HTTP/1.0 GET on 127.0.0.1 with a 2 s limit, no libcurl: the
 * harness must not share code with what it tests. Returns the status (-1 on
 * a transport error) and the body in out. */
static int raw_get(int port, const char *path, struct buf *out)
{
	buf_reset(out);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct timeval tv = {.tv_sec = 2};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	char req[512];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		close(fd);
		return -1;
	}
	struct buf all;
	buf_init(&all, 1 << 16);
	char chunk[2048];
	ssize_t r;
	while ((r = recv(fd, chunk, sizeof(chunk), 0)) > 0)
		if (buf_add(&all, chunk, (size_t)r) != K_OK)
			break;
	close(fd);
	int status = -1;
	const char *s = buf_str(&all);
	const char *body = strstr(s, "\r\n\r\n");
	if (!strncmp(s, "HTTP/1.", 7) && strlen(s) > 12 && body) {
		status = (int)strtol(s + 9, NULL, 10);
		buf_addstr(out, body + 4);
	}
	buf_free(&all);
	return status;
}

/* Polls GET path until it answers 200 with a body containing want. */
static int wait_ready(int port, const char *path, const char *want, int timeout_ms)
{
	struct buf b;
	buf_init(&b, 1 << 16);
	int64_t end = now_ms() + timeout_ms;
	int ok = 0;
	while (!ok && now_ms() < end) {
		ok = raw_get(port, path, &b) == 200 && strstr(buf_str(&b), want);
		if (!ok)
			sleep_ms(100);
	}
	buf_free(&b);
	return ok;
}

static void dump_log(const char *name)
{
	char path[256], line[512];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	fprintf(stderr, "  ---- %s\n", path);
	while (fgets(line, sizeof(line), f))
		fprintf(stderr, "  %s", line);
	fclose(f);
}

static int start_etcd(void)
{
	char client[64], peer[64], cluster[80], data[128], log[128];
	int peer_port = free_port();
	etcd_port = free_port();
	if (etcd_port < 0 || peer_port < 0)
		return 0;
	snprintf(client, sizeof(client), "http://127.0.0.1:%d", etcd_port);
	snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", peer_port);
	snprintf(cluster, sizeof(cluster), "backend=%s", peer);
	snprintf(data, sizeof(data), "%s/etcd", tmpdir);
	snprintf(log, sizeof(log), "%s/etcd.log", tmpdir);
	char *argv[] = {"etcd",
	                "--name",
	                "backend",
	                "--data-dir",
	                data,
	                "--enable-v2=true",
	                "--listen-client-urls",
	                client,
	                "--advertise-client-urls",
	                client,
	                "--listen-peer-urls",
	                peer,
	                "--initial-advertise-peer-urls",
	                peer,
	                "--initial-cluster",
	                cluster,
	                NULL};
	etcd_pid = spawn(argv, log);
	if (etcd_pid < 0 || !wait_ready(etcd_port, "/health", "true", 20000)) {
		fprintf(stderr, "  etcd did not become healthy on port %d\n", etcd_port);
		dump_log("etcd.log");
		return 0;
	}
	return 1;
}

static int start_discovery(void)
{
	char etcd[64], addr[64], log[128];
	disc_port = free_port();
	if (disc_port < 0)
		return 0;
	snprintf(etcd, sizeof(etcd), "http://127.0.0.1:%d", etcd_port);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", disc_port);
	snprintf(disc_host, sizeof(disc_host), "http://127.0.0.1:%d", disc_port);
	snprintf(log, sizeof(log), "%s/discovery.log", tmpdir);
	char *argv[] = {"discovery.etcd.io", "--etcd", etcd, "--host",
	                disc_host,           "--addr", addr, NULL};
	disc_pid = spawn(argv, log);
	if (disc_pid < 0 || !wait_ready(disc_port, "/health", "OK", 20000)) {
		fprintf(stderr, "  discovery.etcd.io did not become healthy on port %d\n",
		        disc_port);
		dump_log("discovery.log");
		return 0;
	}
	return 1;
}

static int is_hex32(const char *s)
{
	if (strlen(s) != 32)
		return 0;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

/* Calls upstream_new; returns its result, the URL in *out_url (NULL when
 * none) and the time it took in *ms. */
static enum kerr call(const char *base, int timeout_ms, int retries, int size, char **out_url,
                      struct buf *err, int64_t *ms)
{
	struct upstream_options o = {
	        .base_url = base, .timeout_ms = timeout_ms, .retries = retries};
	*out_url = NULL;
	buf_reset(err);
	int64_t t0 = now_ms();
	enum kerr e = upstream_new(&o, size, out_url, err);
	*ms = now_ms() - t0;
	if (e != K_OK && *out_url) {
		fprintf(stderr, "  out_url set on failure\n");
		test_failed_checks++;
	}
	return e;
}

#define CHECK_HAS(hay, needle)                                                                     \
	do {                                                                                       \
		const char *h_ = (hay);                                                            \
		if (!strstr(h_, (needle))) {                                                       \
			test_failed_checks++;                                                      \
			fprintf(stderr, "  %s:%d: \"%s\" does not contain \"%s\"\n", __FILE__,     \
			        __LINE__, h_, (needle));                                           \
		}                                                                                  \
	} while (0)

#define CHECK_LACKS(hay, needle)                                                                   \
	do {                                                                                       \
		const char *h_ = (hay);                                                            \
		if (strstr(h_, (needle))) {                                                        \
			test_failed_checks++;                                                      \
			fprintf(stderr, "  %s:%d: \"%s\" contains \"%s\"\n", __FILE__, __LINE__,   \
			        h_, (needle));                                                     \
		}                                                                                  \
	} while (0)

/* ---- a scripted HTTP server in a thread ------------------------------------ */

/* One canned answer. raw, when set, is sent as is (close_only: nothing). */
struct canned {
	int status;
	const char *body;
	const char *extra_headers;
	int close_only;
};

static struct {
	int fd, port;
	pthread_t thread;
	pthread_mutex_t mu;
	const struct canned *script;
	int nscript;
	int requests;
	char last_target[256];
	volatile int stop;
} fake;

static void fake_answer(int c, const struct canned *k)
{
	if (k->close_only)
		return;
	struct buf out;
	buf_init(&out, 1 << 20);
	buf_addf(&out,
	         "HTTP/1.1 %d X\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
	         "Connection: close\r\n%s\r\n%s",
	         k->status, strlen(k->body), k->extra_headers ? k->extra_headers : "", k->body);
	size_t off = 0;
	while (off < out.len) {
		ssize_t w = send(c, out.data + off, out.len - off, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	buf_free(&out);
}

static void *fake_main(void *arg)
{
	(void)arg;
	while (!fake.stop) {
		struct pollfd p = {.fd = fake.fd, .events = POLLIN};
		if (poll(&p, 1, 50) <= 0)
			continue;
		int c = accept(fake.fd, NULL, NULL);
		if (c < 0)
			continue;
		struct timeval tv = {.tv_sec = 2};
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		char req[4096];
		size_t n = 0;
		while (n < sizeof(req) - 1) {
			ssize_t r = recv(c, req + n, sizeof(req) - 1 - n, 0);
			if (r <= 0)
				break;
			n += (size_t)r;
			req[n] = '\0';
			if (strstr(req, "\r\n\r\n"))
				break;
		}
		req[n] = '\0';
		pthread_mutex_lock(&fake.mu);
		int i = fake.requests < fake.nscript ? fake.requests : fake.nscript - 1;
		fake.requests++;
		const char *sp = strchr(req, ' ');
		const char *sp2 = sp ? strchr(sp + 1, ' ') : NULL;
		if (sp && sp2 && (size_t)(sp2 - sp - 1) < sizeof(fake.last_target))
			snprintf(fake.last_target, sizeof(fake.last_target), "%.*s",
			         (int)(sp2 - sp - 1), sp + 1);
		const struct canned *k = fake.nscript > 0 ? &fake.script[i] : NULL;
		pthread_mutex_unlock(&fake.mu);
		if (k)
			fake_answer(c, k);
		close(c);
	}
	return NULL;
}

/* Serves script (its last entry repeats) until fake_stop. */
static int fake_start(const struct canned *script, int nscript)
{
	fake.port = free_port();
	fake.fd = listen_on(fake.port);
	if (fake.fd < 0)
		return 0;
	pthread_mutex_init(&fake.mu, NULL);
	fake.script = script;
	fake.nscript = nscript;
	fake.requests = 0;
	fake.last_target[0] = '\0';
	fake.stop = 0;
	if (pthread_create(&fake.thread, NULL, fake_main, NULL) != 0) {
		close(fake.fd);
		return 0;
	}
	return 1;
}

static int fake_stop(void)
{
	fake.stop = 1;
	pthread_join(fake.thread, NULL);
	close(fake.fd);
	pthread_mutex_destroy(&fake.mu);
	return fake.requests;
}

static const char *fake_base(void)
{
	static char b[64];
	snprintf(b, sizeof(b), "http://127.0.0.1:%d", fake.port);
	return b;
}

/* Runs upstream_new against a fake server playing script; returns the number
 * of requests it got. */
static int against_fake(const struct canned *script, int nscript, const char *path, int timeout_ms,
                        int retries, enum kerr *e, char **url, struct buf *err, int64_t *ms)
{
	if (!fake_start(script, nscript)) {
		fprintf(stderr, "  cannot start the fake server\n");
		test_failed_checks++;
		*e = K_EIO;
		*url = NULL;
		*ms = 0;
		return -1;
	}
	char base[128];
	snprintf(base, sizeof(base), "%s%s", fake_base(), path);
	*e = call(base, timeout_ms, retries, 5, url, err, ms);
	return fake_stop();
}

/* ---- tests against the real discovery.etcd.io ------------------------------ */

static int real_up;

static void real_discovery_hands_out_a_url(void)
{
	CHECK(real_up);
	if (!real_up)
		return;
	char base[80], *url = NULL;
	struct buf err;
	int64_t ms;
	buf_init(&err, 1024);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", disc_port);
	enum kerr e = call(base, 5000, 2, 3, &url, &err, &ms);
	CHECK_INT(e, K_OK);
	CHECK_STR(buf_str(&err), "");
	if (url) {
		size_t hl = strlen(disc_host);
		CHECK(!strncmp(url, disc_host, hl) && url[hl] == '/' && is_hex32(url + hl + 1));
		if (strncmp(url, disc_host, hl) != 0 || url[hl] != '/')
			fprintf(stderr, "  url %s does not start with %s/\n", url, disc_host);
		/* the token really exists with size 3 */
		char path[128];
		struct buf b;
		buf_init(&b, 1 << 16);
		snprintf(path, sizeof(path), "%s/_config/size", url + hl);
		CHECK_INT(raw_get(disc_port, path, &b), 200);
		CHECK_HAS(buf_str(&b), "\"value\":\"3\"");
		buf_free(&b);
	}
	free(url);

	/* a trailing slash on the base URL changes nothing */
	snprintf(base, sizeof(base), "http://127.0.0.1:%d/", disc_port);
	e = call(base, 5000, 2, 7, &url, &err, &ms);
	CHECK_INT(e, K_OK);
	CHECK(url && !strncmp(url, disc_host, strlen(disc_host)));
	free(url);
	buf_free(&err);
}

struct par {
	char *url;
	enum kerr e;
};

static void *par_main(void *arg)
{
	struct par *p = arg;
	char base[80];
	struct buf err;
	buf_init(&err, 1024);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", disc_port);
	struct upstream_options o = {.base_url = base, .timeout_ms = 10000, .retries = 2};
	p->e = upstream_new(&o, 3, &p->url, &err);
	buf_free(&err);
	return NULL;
}

static void concurrent_calls_get_distinct_urls(void)
{
	CHECK(real_up);
	if (!real_up)
		return;
	enum { N = 6 };
	struct par ps[N];
	pthread_t th[N];
	memset(ps, 0, sizeof(ps));
	for (int i = 0; i < N; i++)
		CHECK_INT(pthread_create(&th[i], NULL, par_main, &ps[i]), 0);
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < N; i++) {
		CHECK_INT(ps[i].e, K_OK);
		CHECK(ps[i].url != NULL);
		for (int j = 0; j < i; j++)
			CHECK(ps[i].url && ps[j].url && strcmp(ps[i].url, ps[j].url) != 0);
	}
	for (int i = 0; i < N; i++)
		free(ps[i].url);
}

static void a_404_is_not_retried(void)
{
	CHECK(real_up);
	if (!real_up)
		return;
	/* etcd itself answers 404 "404 page not found" for /new */
	char base[80], *url = (char *)"untouched";
	struct buf err;
	int64_t ms;
	buf_init(&err, 1024);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", etcd_port);
	struct upstream_options o = {.base_url = base, .timeout_ms = 5000, .retries = 3};
	int64_t t0 = now_ms();
	enum kerr e = upstream_new(&o, 3, &url, &err);
	ms = now_ms() - t0;
	CHECK_INT(e, K_EUPSTREAM);
	CHECK_STR(url, "untouched");
	char want[128];
	snprintf(want, sizeof(want), "%s/new?size=3: HTTP 404", base);
	CHECK_HAS(buf_str(&err), want);
	CHECK_LACKS(buf_str(&err), "tries");
	CHECK(ms < 600 + LOAD_SLACK_MS); /* 3 retries would pause 100 + 200 + 400 ms */
	if (ms >= 600)
		fprintf(stderr, "  took %lld ms\n", (long long)ms);
	buf_free(&err);
}

static void a_backend_down_discovery_fails_at_once(void)
{
	CHECK(real_up);
	if (!real_up)
		return;
	/* without its etcd, discovery.etcd.io answers 400 "Unable to generate token" */
	stop_pid(&etcd_pid);
	char base[80], *url;
	struct buf err;
	int64_t ms;
	buf_init(&err, 1024);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", disc_port);
	enum kerr e = call(base, 5000, 3, 3, &url, &err, &ms);
	CHECK_INT(e, K_EUPSTREAM);
	CHECK_HAS(buf_str(&err), "HTTP 400: Unable to generate token");
	CHECK_LACKS(buf_str(&err), "tries");
	CHECK(ms < 600 + LOAD_SLACK_MS); /* 3 retries would pause 100 + 200 + 400 ms */
	if (ms >= 600)
		fprintf(stderr, "  took %lld ms\n", (long long)ms);
	free(url);
	buf_free(&err);
}

/* ---- transport failures ---------------------------------------------------- */

static void nothing_listening_is_connection_refused_quickly(void)
{
	int port = free_port();
	CHECK(port > 0);
	char base[64], *url;
	struct buf err;
	int64_t ms;
	buf_init(&err, 1024);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
	enum kerr e = call(base, 5000, 2, 3, &url, &err, &ms);
	CHECK_INT(e, K_EUPSTREAM);
	char want[128];
	snprintf(want, sizeof(want), "%s/new?size=3: connection refused after 3 tries", base);
	CHECK_STR(buf_str(&err), want);
	CHECK(ms >= 300 && ms < 1000 + LOAD_SLACK_MS); /* pauses of 100 + 200 ms */
	if (ms < 300 || ms >= 1000 + LOAD_SLACK_MS)
		fprintf(stderr, "  took %lld ms\n", (long long)ms);

	e = call(base, 5000, 0, 3, &url, &err, &ms);
	CHECK_INT(e, K_EUPSTREAM);
	snprintf(want, sizeof(want), "%s/new?size=3: connection refused", base);
	CHECK_STR(buf_str(&err), want);
	CHECK(ms < 250 + LOAD_SLACK_MS);

	/* credentials in the base URL stay out of the message */
	char cred[96];
	snprintf(cred, sizeof(cred), "http://kindling:s3cret@127.0.0.1:%d/", port);
	e = call(cred, 5000, 0, 3, &url, &err, &ms);
	CHECK_INT(e, K_EUPSTREAM);
	CHECK_STR(buf_str(&err), want);
	CHECK_LACKS(buf_str(&err), "s3cret");
	buf_free(&err);
}

static void a_silent_listener_times_out_in_budget(void)
{
	int port = free_port();
	int fd = listen_on(port);
	CHECK(fd >= 0);
	char base[64], *url;
	struct buf err;
	int64_t ms;
	buf_init(&err, 1024);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
	enum kerr e = call(base, 1000, 3, 3, &url, &err, &ms);
	CHECK_INT(e, K_EUPSTREAM);
	char want[128];
	snprintf(want, sizeof(want), "%s/new?size=3: timed out after 1000 ms", base);
	CHECK_STR(buf_str(&err), want);
	CHECK(ms >= 950 && ms <= 1500 + LOAD_SLACK_MS);
	if (ms < 950 || ms > 1500 + LOAD_SLACK_MS)
		fprintf(stderr, "  took %lld ms\n", (long long)ms);

	e = call(base, 300, 0, 3, &url, &err, &ms);
	CHECK_INT(e, K_EUPSTREAM);
	CHECK_HAS(buf_str(&err), "timed out after 300 ms");
	CHECK(ms >= 250 && ms <= 800 + LOAD_SLACK_MS);
	if (fd >= 0)
		close(fd);
	buf_free(&err);
}

static void bad_arguments(void)
{
	char *url = (char *)"untouched";
	struct buf err;
	buf_init(&err, 1024);
	struct upstream_options o = {
	        .base_url = "ftp://127.0.0.1:1", .timeout_ms = 1000, .retries = 1};
	CHECK_INT(upstream_new(&o, 3, &url, &err), K_EUPSTREAM);
	CHECK_HAS(buf_str(&err), "must be an http:// or https:// URL");
	buf_reset(&err);
	o.base_url = "http://127.0.0.1:1";
	CHECK_INT(upstream_new(&o, 0, &url, &err), K_EINVAL);
	CHECK(err.len > 0);
	buf_reset(&err);
	o.base_url = "";
	CHECK_INT(upstream_new(&o, 3, &url, &err), K_EUPSTREAM);
	CHECK_STR(url, "untouched");
	buf_free(&err);
}

/* ---- answers from the scripted server --------------------------------------- */

static void a_5xx_is_retried_then_reported(void)
{
	static const struct canned s[] = {{500, "backend\tbroken\nsecond line", NULL, 0}};
	enum kerr e;
	char *url;
	struct buf err;
	int64_t ms;
	buf_init(&err, 1024);
	int n = against_fake(s, 1, "", 5000, 2, &e, &url, &err, &ms);
	CHECK_INT(e, K_EUPSTREAM);
	CHECK_INT(n, 3);
	char want[160];
	snprintf(want, sizeof(want), "%s/new?size=5: HTTP 500 after 3 tries: backend?broken",
	         fake_base());
	CHECK_STR(buf_str(&err), want);
	CHECK(ms >= 300 && ms < 1500 + LOAD_SLACK_MS);
	buf_free(&err);
}

static void a_5xx_then_success(void)
{
	static const struct canned s[] = {{503, "busy", NULL, 0},
	                                  {200, "http://d.example/0123456789abcdef", NULL, 0}};
	enum kerr e;
	char *url;
	struct buf err;
	int64_t ms;
	buf_init(&err, 1024);
	int n = against_fake(s, 2, "", 5000, 1, &e, &url, &err, &ms);
	CHECK_INT(e, K_OK);
	CHECK_INT(n, 2);
	CHECK_STR(url, "http://d.example/0123456789abcdef");
	free(url);
	buf_free(&err);
}

static void retries_stop_at_the_budget(void)
{
	static const struct canned s[] = {{502, "", NULL, 0}};
	enum kerr e;
	char *url;
	struct buf err;
	int64_t ms;
	buf_init(&err, 1024);
	/* pauses 100, 200, 400 ... would outlast 500 ms after the third try */
	int n = against_fake(s, 1, "", 500, 10, &e, &url, &err, &ms);
	CHECK_INT(e, K_EUPSTREAM);
	CHECK(n >= 2 && n <= 3);
	CHECK(ms < 600 + LOAD_SLACK_MS);
	CHECK_HAS(buf_str(&err), "HTTP 502 after ");
	buf_free(&err);
}

static void a_closed_connection_is_retried(void)
{
	static const struct canned s[] = {{0, "", NULL, 1}};
	enum kerr e;
	char *url;
	struct buf err;
	int64_t ms;
	buf_init(&err, 1024);
	int n = against_fake(s, 1, "", 5000, 1, &e, &url, &err, &ms);
	CHECK_INT(e, K_EUPSTREAM);
	CHECK_INT(n, 2);
	CHECK_HAS(buf_str(&err), "closed the connection without an answer after 2 tries");
	buf_free(&err);
}

static void fails_at_once(const char *name, const struct canned *s, const char *want)
{
	enum kerr e;
	char *url = NULL;
	struct buf err;
	int64_t ms;
	buf_init(&err, 1024);
	int n = against_fake(s, 1, "", 5000, 3, &e, &url, &err, &ms);
	if (e != K_EUPSTREAM || n != 1 || !strstr(buf_str(&err), want) ||
	    strstr(buf_str(&err), "tries")) {
		fprintf(stderr, "  %s: e=%d requests=%d err=\"%s\", want \"%s\"\n", name, e, n,
		        buf_str(&err), want);
		test_failed_checks++;
	}
	free(url);
	buf_free(&err);
}

static void bad_answers_fail_without_retry(void)
{
	char big[6000], longurl[700];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "http://x/", 9);
	snprintf(longurl, sizeof(longurl), "http://d.example/%0600d", 0);
	const struct canned cases[][1] = {
	        {{404, "404 page not found\n", NULL, 0}},
	        {{400, "strconv.Atoi: parsing \"x\": invalid syntax\n", NULL, 0}},
	        {{301, "moved", "Location: http://127.0.0.1:1/new\r\n", 0}},
	        {{200, "not a url", NULL, 0}},
	        {{200, "", NULL, 0}},
	        {{200, "http://", NULL, 0}},
	        {{200, "http:///path", NULL, 0}},
	        {{200, "ftp://d.example/abc", NULL, 0}},
	        {{200, "http://a.example/1\nhttp://b.example/2", NULL, 0}},
	        {{200, "http://a.example/1 2", NULL, 0}},
	        {{200, "http://a.example/\x01", NULL, 0}},
	        {{200, "http://a.example/\xc3\xa9", NULL, 0}},
	        {{200, "<html>http://a.example/</html>", NULL, 0}},
	        {{200, longurl, NULL, 0}},
	        {{200, big, NULL, 0}},
	};
	const char *want[] = {
	        "HTTP 404: 404 page not found",
	        "HTTP 400: strconv.Atoi: parsing \"x\": invalid syntax",
	        "HTTP 301: redirects are not followed",
	        "the answer is not an http(s) URL",
	        "the answer is not an http(s) URL",
	        "the answer is not an http(s) URL",
	        "the answer is not an http(s) URL",
	        "the answer is not an http(s) URL",
	        "the answer is not an http(s) URL",
	        "the answer is not an http(s) URL",
	        "the answer is not an http(s) URL",
	        "the answer is not an http(s) URL",
	        "the answer is not an http(s) URL",
	        "the answer is a URL longer than 512 bytes",
	        "the answer is longer than 4096 bytes",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		char name[32];
		snprintf(name, sizeof(name), "case %zu", i);
		fails_at_once(name, cases[i], want[i]);
	}
}

static void good_answers_are_trimmed(void)
{
	static const struct canned s1[] = {{200, "  http://d.example:8087/abc \r\n", NULL, 0}};
	static const struct canned s2[] = {{201, "https://discovery.example/x/y\n", NULL, 0}};
	char exact[600];
	snprintf(exact, sizeof(exact), "http://d.example/%0495d", 0); /* 512 bytes */
	const struct canned s3[] = {{200, exact, NULL, 0}};
	enum kerr e;
	char *url;
	struct buf err;
	int64_t ms;
	buf_init(&err, 1024);
	against_fake(s1, 1, "", 5000, 0, &e, &url, &err, &ms);
	CHECK_INT(e, K_OK);
	CHECK_STR(url, "http://d.example:8087/abc");
	CHECK_STR(fake.last_target, "/new?size=5");
	free(url);
	against_fake(s2, 1, "/base/path//", 5000, 0, &e, &url, &err, &ms);
	CHECK_INT(e, K_OK);
	CHECK_STR(url, "https://discovery.example/x/y");
	CHECK_STR(fake.last_target, "/base/path/new?size=5");
	free(url);
	CHECK_INT(strlen(exact), 512);
	against_fake(s3, 1, "", 5000, 0, &e, &url, &err, &ms);
	CHECK_INT(e, K_OK);
	CHECK(url && strlen(url) == 512);
	free(url);
	buf_free(&err);
}

static void an_answer_never_appears_in_errmsg(void)
{
	static const struct canned s[] = {{200, "secret-token-abc", NULL, 0}};
	enum kerr e;
	char *url;
	struct buf err;
	int64_t ms;
	buf_init(&err, 1024);
	against_fake(s, 1, "", 5000, 0, &e, &url, &err, &ms);
	CHECK_INT(e, K_EUPSTREAM);
	CHECK_LACKS(buf_str(&err), "secret-token-abc");
	buf_free(&err);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	upstream_global_init();
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	real_up = start_etcd() && start_discovery();

	RUN(real_discovery_hands_out_a_url);
	RUN(concurrent_calls_get_distinct_urls);
	RUN(a_404_is_not_retried);
	RUN(nothing_listening_is_connection_refused_quickly);
	RUN(a_silent_listener_times_out_in_budget);
	RUN(bad_arguments);
	RUN(a_5xx_is_retried_then_reported);
	RUN(a_5xx_then_success);
	RUN(retries_stop_at_the_budget);
	RUN(a_closed_connection_is_retried);
	RUN(bad_answers_fail_without_retry);
	RUN(good_answers_are_trimmed);
	RUN(an_answer_never_appears_in_errmsg);
	RUN(a_backend_down_discovery_fails_at_once);

	stop_pid(&disc_pid);
	stop_pid(&etcd_pid);
	if (test_failed == 0) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", tmpdir);
	} else {
		fprintf(stderr, "# kept %s for inspection\n", tmpdir);
	}
	upstream_global_cleanup();
	return TEST_EXIT();
}
