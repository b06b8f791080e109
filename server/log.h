/* log.h - one-line diagnostics on stderr. */
#ifndef KINDLING_LOG_H
#define KINDLING_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdnoreturn.h>

/* Starts the thread that gathers informational lines for a few milliseconds
 * and writes them together (warnings are always written at once). False
 * when it cannot start: lines are then written one by one, as before it. */
bool log_start_writer(void);
/* Writes what is gathered and stops the thread. */
void log_stop_writer(void);

/* Informational line. */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Informational line of len bytes of ready text (no format). */
void log_text(const char *text, size_t len);
/* Warning with ": strerror(errno)" appended. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Informational line of len bytes of ready text (no format). */
void log_text(const char *text, size_t len);
/* Warning without errno. */
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints like log_warnx and exits 1. */
noreturn void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
