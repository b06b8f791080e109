/* test_http.c - http.c with the real libmicrohttpd: a request still parked when
 * the server stops gets 503 from http.c itself (whatever its handler does),
 * the handler may give it back later, and the route table rule holds. */
#include "../../server/http.h"
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

static atomic_int parked, freed;
static struct req *_Atomic held_req;

static void h_never(struct req *r)
{
	reply_static(r, 500, "text/plain", "resumed\n", 8); /* must not run */
}

static void free_data(void *p)
{
	free(p);
	atomic_fetch_add(&freed, 1);
}

/* Parks and never resumes: a handler whose work never ends. */
static void h_park(struct req *r)
{
	req_set_data(r, malloc(16), free_data);
	atomic_store(&held_req, r);
	req_suspend(r, h_never);
	atomic_fetch_add(&parked, 1);
}

static const struct route routes[] = {
        {"GET", "/park", h_park, AUTH_NONE, 0, 0},
};

static int port;

/* GETs /park and returns the whole answer (malloc'd). */
static void *client(void *arg)
{
	(void)arg;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	char *buf = calloc(1, 4096);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return buf;
	const char req[] = "GET /park HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	if (write(fd, req, sizeof(req) - 1) < 0)
		return buf;
	size_t len = 0;
	ssize_t n;
	while (len < 4095 && (n = read(fd, buf + len, 4095 - len)) > 0)
		len += (size_t)n;
	close(fd);
	return buf;
}

static void parked_request_gets_503_on_stop(void)
{
	struct http_options o = {.listen = "127.0.0.1:0",
	                         .public_url = "",
	                         .threads = 1,
	                         .conn_timeout_s = 10,
	                         .max_conns = 16,
	                         .body_max = 1024,
	                         .header_max = 4096,
	                         .bodies_max = 1 << 20};
	struct http_server *h = NULL;
	struct buf err;
	buf_init(&err, 1024);
	CHECK_INT(http_bind(&o, routes, 1, NULL, &h, &err), K_OK);
	if (!h)
		return;
	port = http_port(h);
	CHECK_INT(http_serve(h, &err), K_OK);
	pthread_t t;
	pthread_create(&t, NULL, client, NULL);
	for (int i = 0; i < 500 && !atomic_load(&parked); i++)
		usleep(10 * 1000);
	CHECK_INT(atomic_load(&parked), 1);
	http_stop(&h, 0); /* libmicrohttpd aborted here with a parked request */
	CHECK(h == NULL);
	char *answer = NULL;
	pthread_join(t, (void **)&answer);
	CHECK(answer && !strncmp(answer, "HTTP/1.1 503 ", 13));
	CHECK(answer && strstr(answer, "Retry-After: 5\r\n"));
	CHECK(answer && strstr(answer, "application/problem+json"));
	CHECK(answer && strstr(answer, "\"type\": \"urn:kindling:problem:shutting-down\""));
	CHECK(answer && !strstr(answer, "resumed"));
	free(answer);
	/* the handler still holds it, and gives it back: its data is freed then */
	CHECK_INT(http_requests_held(), 1);
	CHECK_INT(atomic_load(&freed), 0);
	req_resume(atomic_load(&held_req));
	CHECK_INT(http_requests_held(), 0);
	CHECK_INT(atomic_load(&freed), 1);
	buf_free(&err);
}

static void refuses_an_operator_write_without_state_change(void)
{
	static const struct route bad[] = {
	        {"POST", "/x", h_park, AUTH_OPERATOR, 0, 0},
	};
	struct http_options o = {.listen = "127.0.0.1:0", .header_max = 4096};
	struct http_server *h = NULL;
	struct buf err;
	buf_init(&err, 1024);
	CHECK_INT(http_bind(&o, bad, 1, NULL, &h, &err), K_EINVAL);
	CHECK(h == NULL);
	CHECK(strstr(buf_str(&err), "ROUTE_STATE_CHANGE") != NULL);
	buf_free(&err);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	RUN(parked_request_gets_503_on_stop);
	RUN(refuses_an_operator_write_without_state_change);
	return TEST_EXIT();
}
