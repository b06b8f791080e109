/* test.h - a minimal unit-test harness: one PASS/FAIL line per test, and an
 * end line ("# end FILE: N passed, N failed, 0 skipped") that tests/run.sh
 * requires: a program that stops before it (a crash, a hang killed at its
 * time limit) fails. A program's limit is tests/run.sh's default (600 s)
 * unless a comment in its first 40 lines says "timeout: N". */
#ifndef KINDLING_TEST_H
#define KINDLING_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failed_checks;
static int test_passed, test_failed, test_skipped;

/* Records a failed check with its location; the test goes on. */
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			test_failed_checks++;                                                      \
			fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                                  \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *a_ = (a), *b_ = (b);                                                   \
		if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                           \
			test_failed_checks++;                                                      \
			fprintf(stderr, "  %s:%d: %s == \"%s\", want \"%s\"\n", __FILE__,          \
			        __LINE__, #a, a_ ? a_ : "(null)", b_ ? b_ : "(null)");             \
		}                                                                                  \
	} while (0)

#define CHECK_INT(a, b)                                                                            \
	do {                                                                                       \
		long long a_ = (long long)(a), b_ = (long long)(b);                                \
		if (a_ != b_) {                                                                    \
			test_failed_checks++;                                                      \
			fprintf(stderr, "  %s:%d: %s == %lld, want %lld\n", __FILE__, __LINE__,    \
			        #a, a_, b_);                                                       \
		}                                                                                  \
	} while (0)

/* Runs one test function and prints "PASS name" or "FAIL name". */
#define RUN(fn)                                                                                    \
	do {                                                                                       \
		test_failed_checks = 0;                                                            \
		fn();                                                                              \
		if (test_failed_checks) {                                                          \
			test_failed++;                                                             \
			printf("FAIL %s: %s\n", __FILE__, #fn);                                    \
		} else {                                                                           \
			test_passed++;                                                             \
			printf("PASS %s: %s\n", __FILE__, #fn);                                    \
		}                                                                                  \
		fflush(stdout);                                                                    \
	} while (0)

/* Prints "SKIP file: name: reason" for a test that cannot run here (the
 * reason says why); tests/run.sh counts it as skipped. */
#define SKIP(name, reason)                                                                         \
	do {                                                                                       \
		test_skipped++;                                                                    \
		printf("SKIP %s: %s: %s\n", __FILE__, (name), (reason));                           \
		fflush(stdout);                                                                    \
	} while (0)

/* Prints the end line; returns the exit status of a test program: 0 when
 * every test passed. */
static inline int test_exit(const char *file)
{
	printf("# end %s: %d passed, %d failed, %d skipped\n", file, test_passed, test_failed,
	       test_skipped);
	fflush(stdout);
	return test_failed ? 1 : 0;
}
#define TEST_EXIT() test_exit(__FILE__)

#endif
