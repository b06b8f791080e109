/* test_log.c - gathered log lines: none lost, none torn, order kept. */
#include "../../server/log.h"
#include "test.h"

#include <pthread.h>
#include <unistd.h>

#define PER_THREAD 20000

static char *slurp(FILE *f, size_t *len)
{
	fflush(f);
	long n = ftell(f);
	char *s = malloc((size_t)n + 1);
	rewind(f);
	*len = fread(s, 1, (size_t)n, f);
	s[*len] = '\0';
	return s;
}

static void *spam(void *arg)
{
	const char *who = arg;
	for (int i = 0; i < PER_THREAD; i++) {
		if (i == PER_THREAD / 2)
			log_warnx("%s warn %d", who, i);
		else
			log_info("%s line %d", who, i);
	}
	return NULL;
}

/* Runs two threads of lines through the writer; checks every line is whole
 * and each thread's lines (info and warn mixed) come in the order logged. */
static void lines_whole_and_in_order(void)
{
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO);
	dup2(fileno(f), STDERR_FILENO);
	CHECK(log_start_writer());
	CHECK(!log_start_writer()); /* only one */
	pthread_t a, b;
	pthread_create(&a, NULL, spam, "A");
	pthread_create(&b, NULL, spam, "B");
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	log_info("last");
	log_stop_writer();
	log_info("after stop, written at once");
	dup2(saved, STDERR_FILENO);
	close(saved);

	size_t len;
	char *s = slurp(f, &len);
	int next[2] = {0, 0}, lines = 0, bad = 0;
	for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
		lines++;
		char who, kind[8];
		int i;
		/* 2026-11-22T05:19:13.220Z info A line 7 */
		if (strlen(line) < 25 || line[23] != 'Z' ||
		    sscanf(line + 25, "%*s %c %7s %d", &who, kind, &i) != 3) {
			if (!strstr(line, " info last") && !strstr(line, " info after stop"))
				bad++;
			continue;
		}
		int t = who == 'B';
		if (i != next[t] || (i == PER_THREAD / 2) != !strcmp(kind, "warn"))
			bad++;
		next[t] = i + 1;
	}
	CHECK_INT(bad, 0);
	CHECK_INT(next[0], PER_THREAD);
	CHECK_INT(next[1], PER_THREAD);
	CHECK_INT(lines, 2 * PER_THREAD + 2);
	free(s);
	fclose(f);
}

int main(void)
{
	RUN(lines_whole_and_in_order);
	return TEST_EXIT();
}
