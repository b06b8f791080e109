/* test_buf.c - the bounded buffer. */
#include "../../server/buf.h"
#include "../../server/rand.h"
#include "test.h"

#include <ctype.h>

static void adds_and_terminates(void)
{
	struct buf b;
	buf_init(&b, 100);
	CHECK_STR(buf_str(&b), "");
	CHECK_INT(buf_addstr(&b, "abc"), K_OK);
	CHECK_INT(buf_addf(&b, "-%d-", 42), K_OK);
	CHECK_STR(buf_str(&b), "abc-42-");
	CHECK_INT(b.len, 7);
	buf_free(&b);
	buf_free(NULL);
}

static void refuses_past_max_and_keeps_contents(void)
{
	struct buf b;
	buf_init(&b, 8);
	CHECK_INT(buf_addstr(&b, "12345678"), K_OK);
	CHECK_INT(buf_addstr(&b, "9"), K_ETOOBIG);
	CHECK_INT(buf_addf(&b, "%s", "x"), K_ETOOBIG);
	CHECK_STR(buf_str(&b), "12345678");
	size_t n;
	char *s = buf_steal(&b, &n);
	CHECK_STR(s, "12345678");
	CHECK_INT(n, 8);
	CHECK_STR(buf_str(&b), "");
	free(s);
}

static void random_shapes(void)
{
	char hex[33], uuid[37], an[41];
	CHECK_INT(rand_hex(hex, 16), K_OK);
	CHECK_INT(strlen(hex), 32);
	for (int i = 0; i < 32; i++)
		CHECK(isxdigit((unsigned char)hex[i]) && !isupper((unsigned char)hex[i]));
	CHECK_INT(rand_uuid(uuid), K_OK);
	CHECK_INT(strlen(uuid), 36);
	CHECK(uuid[14] == '4' && uuid[8] == '-' && uuid[23] == '-');
	CHECK_INT(rand_alnum(an, 40), K_OK);
	CHECK_INT(strlen(an), 40);
	for (int i = 0; i < 40; i++)
		CHECK(isalnum((unsigned char)an[i]));
	char hex2[33];
	rand_hex(hex2, 16);
	CHECK(strcmp(hex, hex2) != 0);
}

int main(void)
{
	RUN(adds_and_terminates);
	RUN(refuses_past_max_and_keeps_contents);
	RUN(random_shapes);
	return TEST_EXIT();
}
