/* log.h - one-line diagnostics on stderr. */
#ifndef KINDLING_LOG_H
#define KINDLING_LOG_H

#include <stdnoreturn.h>

/* Informational line. */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Warning with ": strerror(errno)" appended. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Warning without errno. */
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints like log_warnx and exits 1. */
noreturn void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
