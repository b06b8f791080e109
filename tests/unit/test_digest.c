/* test_digest.c - SHA-512 and base64 against known vectors. */
#include "../../server/digest.h"
#include "test.h"

static void sha512_known_vectors(void)
{
	char hex[DIGEST_SHA512_HEX];
	digest_sha512_hex("", 0, hex);
	CHECK_STR(hex, "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
	               "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e");
	digest_sha512_hex("abc", 3, hex);
	CHECK_STR(hex, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
	               "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
}

static void base64_known_vectors(void)
{
	static const struct {
		const char *in, *out;
	} v[] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foobar", "Zm9vYmFy"}};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t n;
		char *s = digest_base64(v[i].in, strlen(v[i].in), &n);
		CHECK_STR(s, v[i].out);
		CHECK_INT(n, strlen(v[i].out));
		free(s);
	}
}

int main(void)
{
	RUN(sha512_known_vectors);
	RUN(base64_known_vectors);
	return TEST_EXIT();
}
