/* http_errors.c - libmicrohttpd's own error replies (bad framing, a head over its
 * memory) sent as problem+json, like every other error.
 *
 * libmicrohttpd 0.9.75 answers some requests before any callback runs: a
 * malformed request line or header line (400), a bad Content-Length (400,
 * 413), a bad chunk (400, 413), a head that does not fit its memory (431,
 * 414), an HTTP version it does not speak (505). It has no hook for those
 * replies: it makes them with MHD_create_response_from_buffer from a fixed
 * HTML text and queues them with MHD_queue_response, both called through
 * the library's PLT. This file defines both functions, so the dynamic
 * linker binds the library's calls to them (symbol interposition): a
 * response made from one of those HTML texts is remembered (per thread: the
 * two calls follow each other on one worker), and when it is queued a
 * problem+json response with the same status is queued instead. Every
 * other call goes straight to libmicrohttpd. A libmicrohttpd built to bind
 * its own calls directly would send its HTML bodies again, with the same
 * statuses; tests/e2e/test_http_hardening.sh notices.
 *
 * For a bad Content-Length libmicrohttpd 0.9.75 builds the reply's head
 * twice (it sets the state back after parse_connection_headers queued the
 * error): two status lines. Those replies are written to the socket here,
 * whole, and libmicrohttpd is told the queueing failed, so it closes the
 * connection without writing anything. Over TLS the socket cannot be
 * written past libmicrohttpd: the connection is closed without an answer.
 */
#include <dlfcn.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "http.h"

typedef struct MHD_Response *(*create_fn)(size_t, void *, enum MHD_ResponseMemoryMode);
typedef enum MHD_Result (*queue_fn)(struct MHD_Connection *, unsigned int, struct MHD_Response *);

static create_fn real_create;
static queue_fn real_queue;
static pthread_once_t resolved = PTHREAD_ONCE_INIT;

/* The last response this thread made from one of libmicrohttpd's texts. */
static _Thread_local struct MHD_Response *mhd_resp;
static _Thread_local const char *mhd_text;

static void resolve(void)
{
	/* POSIX allows converting dlsym's result to a function pointer */
	*(void **)(void *)&real_create = dlsym(RTLD_NEXT, "MHD_create_response_from_buffer");
	*(void **)(void *)&real_queue = dlsym(RTLD_NEXT, "MHD_queue_response");
	if (!real_create || !real_queue)
		abort(); /* libmicrohttpd is linked: cannot happen */
}

/* libmicrohttpd's texts by a phrase of each, with what the client gets instead. */
static const struct {
	const char *phrase;
	const char *slug;
	const char *detail;
	bool twice; /* libmicrohttpd would send this reply's head twice */
} texts[] = {
        {"header was too big", "headers-too-large",
         "the request line and headers are too large (see --header-max)", false},
        {"chunk size used", "too-large", "a chunk of the body is too large", false},
        {"chunked encoding was syntactically incorrect", "bad-framing",
         "the chunked body is malformed (RFC 9112 7.1)", false},
        {"too large value for", "too-large", "Content-Length is larger than kindling takes", true},
        {"wrong value for", "bad-framing", "Content-Length is not a number (RFC 9110 8.6)", true},
        {"Host:", "bad-host", "an HTTP/1.1 request needs a Host header", true},
        {"syntactically incorrect", "bad-request",
         "the request line or a header line is malformed (RFC 9112)", false},
        {"HTTP version", "http-version-not-supported", "kindling speaks HTTP/1.0 and HTTP/1.1",
         false},
};

/* Writes a whole problem+json reply to the connection's socket, past
 * libmicrohttpd; false over TLS or when the socket takes less than all. */
static bool write_direct(struct MHD_Connection *c, unsigned int status, const char *body,
                         size_t len)
{
	const union MHD_ConnectionInfo *fd =
	        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!fd || MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION))
		return false;
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
	char head[512];
	int hl = snprintf(head, sizeof(head),
	                  "HTTP/1.1 %u %s\r\nDate: %s\r\nConnection: close\r\n"
	                  "Content-Type: application/problem+json\r\n"
	                  "X-Content-Type-Options: nosniff\r\nContent-Length: %zu\r\n\r\n",
	                  status, MHD_get_reason_phrase_for(status), date, len);
	if (hl < 0 || (size_t)hl >= sizeof(head))
		return false;
	struct iovec iov[2] = {{head, (size_t)hl}, {(void *)(uintptr_t)body, len}};
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
	return sendmsg(fd->connect_fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT) ==
	       (ssize_t)hl + (ssize_t)len;
}

struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer,
                                                     enum MHD_ResponseMemoryMode mode)
{
	pthread_once(&resolved, resolve);
	struct MHD_Response *resp = real_create(size, buffer, mode);
	/* libmicrohttpd's texts are static and start so; kindling's pages do not */
	if (resp && mode == MHD_RESPMEM_PERSISTENT && size > 6 && !memcmp(buffer, "<html>", 6)) {
		mhd_resp = resp;
		mhd_text = buffer;
	}
	return resp;
}

enum MHD_Result MHD_queue_response(struct MHD_Connection *c, unsigned int status,
                                   struct MHD_Response *resp)
{
	pthread_once(&resolved, resolve);
	if (!resp || resp != mhd_resp)
		return real_queue(c, status, resp);
	const char *text = mhd_text;
	mhd_resp = NULL;
	mhd_text = NULL;
	const char *slug = status >= 500 ? "internal-error" : "bad-request";
	const char *detail = "libmicrohttpd refused the request";
	bool twice = false;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (strstr(text, texts[i].phrase)) {
			slug = texts[i].slug;
			detail = texts[i].detail;
			twice = texts[i].twice;
			break;
		}
	if (status == MHD_HTTP_URI_TOO_LONG)
		detail = "the request target is too long (see --header-max)";
	size_t len = 0;
	char *body = http_problem_body((int)status, slug, detail, &len);
	if (twice) {
		if (body && write_direct(c, status, body, len))
			http_note_direct_reply((int)status);
		free(body);
		return MHD_NO; /* libmicrohttpd closes the connection */
	}
	struct MHD_Response *mine = body ? real_create(len, body, MHD_RESPMEM_MUST_FREE) : NULL;
	if (!mine) {
		free(body);
		return real_queue(c, status, resp); /* out of memory: its HTML, then */
	}
	MHD_add_response_header(mine, MHD_HTTP_HEADER_CONTENT_TYPE, "application/problem+json");
	MHD_add_response_header(mine, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(mine, MHD_HTTP_HEADER_CONNECTION, "close");
	enum MHD_Result ok = real_queue(c, status, mine);
	MHD_destroy_response(mine); /* the connection holds its own reference */
	return ok;
}
