/* log.c - one-line diagnostics on stderr.
 *
 * Lines are written whole with one write(2). Informational lines (the
 * per-request log) may be gathered for up to FLUSH_MS by a writer thread, so
 * a busy server makes one write for many lines; warnings are written at once,
 * after what is gathered, so the order of lines never changes. Without the
 * writer thread (before log_start_writer, in tools and tests) every line is
 * written at once.
 */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_LEN 2048
#define GATHER_MAX   (1024 * 1024) /* bytes gathered before a request thread must write */
#define FLUSH_MS     2

static struct {
	pthread_mutex_t mu;  /* the buffers and flags */
	pthread_mutex_t wmu; /* held while writing, after mu: lines leave in order */
	pthread_cond_t wake;
	char *buf; /* GATHER_MAX bytes, buf[0..len) gathered; NULL: no writer */
	char *spare;
	size_t len;
	bool idle; /* the writer waits for a line */
	bool stopping;
	pthread_t thread;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER,
       .wmu = PTHREAD_MUTEX_INITIALIZER,
       .wake = PTHREAD_COND_INITIALIZER};

static void write_all(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(STDERR_FILENO, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* nowhere to report it */
		p += w;
		n -= (size_t)w;
	}
}

/* Writes what is gathered, after what the writer is writing; mu held. */
static void flush_locked(void)
{
	pthread_mutex_lock(&g.wmu);
	write_all(g.buf, g.len);
	pthread_mutex_unlock(&g.wmu);
	g.len = 0;
}

static void *writer(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&g.mu);
	for (;;) {
		while (g.len == 0 && !g.stopping) {
			g.idle = true;
			pthread_cond_wait(&g.wake, &g.mu);
		}
		g.idle = false;
		if (g.stopping)
			break;
		pthread_mutex_unlock(&g.mu);
		struct timespec gather = {0, FLUSH_MS * 1000000L};
		nanosleep(&gather, NULL);
		pthread_mutex_lock(&g.mu);
		char *full = g.buf;
		size_t n = g.len;
		g.buf = g.spare;
		g.spare = full;
		g.len = 0;
		pthread_mutex_lock(&g.wmu);
		pthread_mutex_unlock(&g.mu);
		write_all(full, n);
		pthread_mutex_unlock(&g.wmu);
		pthread_mutex_lock(&g.mu);
	}
	flush_locked();
	pthread_mutex_unlock(&g.mu);
	return NULL;
}

bool log_start_writer(void)
{
	char *a = malloc(GATHER_MAX), *b = malloc(GATHER_MAX);
	pthread_mutex_lock(&g.mu);
	bool ok = a && b && !g.buf;
	if (ok) {
		g.buf = a;
		g.spare = b;
		g.stopping = false;
		ok = pthread_create(&g.thread, NULL, writer, NULL) == 0;
		if (!ok)
			g.buf = g.spare = NULL;
	}
	pthread_mutex_unlock(&g.mu);
	if (!ok) {
		free(a);
		free(b);
	}
	return ok;
}

void log_stop_writer(void)
{
	pthread_mutex_lock(&g.mu);
	if (!g.buf) {
		pthread_mutex_unlock(&g.mu);
		return;
	}
	g.stopping = true;
	pthread_cond_signal(&g.wake);
	pthread_mutex_unlock(&g.mu);
	pthread_join(g.thread, NULL);
	pthread_mutex_lock(&g.mu);
	flush_locked();
	free(g.buf);
	free(g.spare);
	g.buf = g.spare = NULL;
	pthread_mutex_unlock(&g.mu);
}

/* Writes "<time> <level> " into line (at least 40 bytes); returns its length.
 * The date and time to the second are formatted once a second per thread. */
static size_t prefix(char *line, const char *level)
{
	static _Thread_local time_t cached_sec = -1;
	static _Thread_local char cached[24];
	static _Thread_local size_t cached_len;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != cached_sec) {
		struct tm tm;
		gmtime_r(&ts.tv_sec, &tm);
		cached_len = strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
		cached_sec = ts.tv_sec;
	}
	size_t n = cached_len;
	memcpy(line, cached, n);
	long ms = ts.tv_nsec / 1000000;
	line[n++] = '.';
	line[n++] = (char)('0' + ms / 100);
	line[n++] = (char)('0' + ms / 10 % 10);
	line[n++] = (char)('0' + ms % 10);
	line[n++] = 'Z';
	line[n++] = ' ';
	while (*level)
		line[n++] = *level++;
	line[n++] = ' ';
	return n;
}

/* Sends one finished line (with its newline); urgent lines are written at once. */
static void emit(const char *line, size_t n, bool urgent)
{
	pthread_mutex_lock(&g.mu);
	if (!g.buf) {
		pthread_mutex_unlock(&g.mu);
		write_all(line, n);
		return;
	}
	if (g.len + n > GATHER_MAX)
		flush_locked();
	memcpy(g.buf + g.len, line, n);
	g.len += n;
	if (urgent)
		flush_locked();
	else if (g.idle && g.len == n)
		pthread_cond_signal(&g.wake);
	pthread_mutex_unlock(&g.mu);
}

static void vlog(const char *level, bool urgent, const char *fmt, va_list ap, int errnum)
{
	char line[LINE_MAX_LEN];
	size_t n = prefix(line, level);
	int m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (m > 0)
		n = n + (size_t)m < sizeof(line) ? n + (size_t)m : sizeof(line) - 1;
	if (errnum && n < sizeof(line) - 1) {
		m = snprintf(line + n, sizeof(line) - n, ": %s", strerror(errnum));
		if (m > 0)
			n = n + (size_t)m < sizeof(line) ? n + (size_t)m : sizeof(line) - 1;
	}
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	emit(line, n, urgent);
}

void log_text(const char *text, size_t len)
{
	char line[LINE_MAX_LEN];
	size_t n = prefix(line, "info");
	if (len > sizeof(line) - 1 - n)
		len = sizeof(line) - 1 - n;
	memcpy(line + n, text, len);
	n += len;
	line[n++] = '\n';
	emit(line, n, false);
}

void log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("info", false, fmt, ap, 0);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;
	va_start(ap, fmt);
	vlog("warn", true, fmt, ap, errnum);
	va_end(ap);
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("warn", true, fmt, ap, 0);
	va_end(ap);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("fatal", true, fmt, ap, 0);
	va_end(ap);
	exit(1);
}
