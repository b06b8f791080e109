/* test_httpcheck.c - Host names, origins, Sec-Fetch-Site, form types, transfer codings. */
#include "../../server/httpcheck.h"
#include "test.h"

static bool host(const char *s, struct http_authority *a)
{
	return http_authority_parse(s, strlen(s), a);
}

static void parses_hosts(void)
{
	struct http_authority a;
	CHECK(host("127.0.0.1:8080", &a));
	CHECK_STR(a.host, "127.0.0.1");
	CHECK_INT(a.port, 8080);
	CHECK(a.ip);
	CHECK(host("[::1]:9", &a));
	CHECK_STR(a.host, "::1");
	CHECK_INT(a.port, 9);
	CHECK(a.ip);
	CHECK(host("Kindling.Example.:80", &a));
	CHECK_STR(a.host, "kindling.example"); /* lowercase, final dot dropped */
	CHECK(!a.ip);
	CHECK(host("localhost", &a));
	CHECK_INT(a.port, -1);
	CHECK(host("localhost:", &a)); /* an empty port: RFC 3986 */
	CHECK_INT(a.port, -1);
	/* a name that only looks like an address is a name */
	CHECK(host("127.1", &a));
	CHECK(!a.ip);
	CHECK(host("1.2.3.4.example", &a));
	CHECK(!a.ip);
}

static void refuses_bad_hosts(void)
{
	struct http_authority a;
	const char *bad[] = {"",
	                     ":80",
	                     "a b",
	                     "user@host",
	                     "host:x",
	                     "host:65536",
	                     "host:1234567",
	                     "[::1",
	                     "[zz]:1",
	                     "[]",
	                     "a/b",
	                     "a\\b",
	                     "..",
	                     ".example",
	                     "a..b",
	                     "host:80:80",
	                     "[::1]x",
	                     "\xc3\xa9.example"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (host(bad[i], &a)) {
			fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
			CHECK(!"a bad Host was accepted");
		}
	}
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK(!host(longname, &a));
}

static void allows_ip_literals_and_known_names(void)
{
	const char *names[] = {"localhost", "kindling.example"};
	struct http_authority a;
	CHECK(host("10.0.0.5:1", &a) && http_host_allowed(&a, names, 2));
	CHECK(host("[fe80::1]", &a) && http_host_allowed(&a, names, 2));
	CHECK(host("LOCALHOST:8080", &a) && http_host_allowed(&a, names, 2));
	CHECK(host("kindling.example:9999", &a) && http_host_allowed(&a, names, 2));
	CHECK(host("evil.example", &a) && !http_host_allowed(&a, names, 2));
	CHECK(host("kindling.example.evil", &a) && !http_host_allowed(&a, names, 2));
	CHECK(host("sub.localhost", &a) && !http_host_allowed(&a, names, 2));
	CHECK(host("evil.example", &a) && !http_host_allowed(&a, NULL, 0));
	const char *any[] = {"*"};
	CHECK(host("evil.example", &a) && http_host_allowed(&a, any, 1));
}

static void compares_origins(void)
{
	struct http_origin a, b;
	CHECK(http_origin_parse("http://127.0.0.1:8080", &a));
	CHECK(http_origin_parse("http://127.0.0.1:8080/clusters/x?y#z", &b));
	CHECK(http_origin_equal(&a, &b));
	CHECK(http_origin_parse("http://127.0.0.1:8081", &b));
	CHECK(!http_origin_equal(&a, &b)); /* another port: same site, not same origin */
	CHECK(http_origin_parse("https://127.0.0.1:8080", &b));
	CHECK(!http_origin_equal(&a, &b));
	CHECK(http_origin_parse("https://k.example", &a));
	CHECK(http_origin_parse("HTTPS://K.Example:443/", &b));
	CHECK(http_origin_equal(&a, &b)); /* default port, case */
	CHECK_INT(a.a.port, 443);
	CHECK(http_origin_parse("http://k.example", &a));
	CHECK_INT(a.a.port, 80);
	CHECK(!http_origin_parse("null", &a));
	CHECK(!http_origin_parse("file:///etc/passwd", &a));
	CHECK(!http_origin_parse("http://user@k.example", &a));
	CHECK(!http_origin_parse("http://", &a));
	CHECK(!http_origin_parse(NULL, &a));
}

static void judges_fetch_site_and_form_types(void)
{
	CHECK(http_fetch_site_ok(NULL));
	CHECK(http_fetch_site_ok("same-origin"));
	CHECK(http_fetch_site_ok("none"));
	CHECK(!http_fetch_site_ok("same-site"));
	CHECK(!http_fetch_site_ok("cross-site"));
	CHECK(!http_fetch_site_ok(""));
	CHECK(http_simple_content_type("application/x-www-form-urlencoded"));
	CHECK(http_simple_content_type("multipart/form-data; boundary=x"));
	CHECK(http_simple_content_type("Text/Plain;charset=UTF-8"));
	CHECK(http_simple_content_type(" text/plain"));
	CHECK(!http_simple_content_type("application/json"));
	CHECK(!http_simple_content_type("text/plainx"));
	CHECK(!http_simple_content_type("application/merge-patch+json"));
	CHECK(!http_simple_content_type(NULL));
}

static enum http_te te(const char *a, const char *b)
{
	const char *v[2] = {a, b};
	return http_transfer_coding(v, b ? 2 : a ? 1 : 0);
}

static void judges_transfer_codings(void)
{
	CHECK_INT(te(NULL, NULL), HTTP_TE_NONE);
	CHECK_INT(te("chunked", NULL), HTTP_TE_CHUNKED);
	CHECK_INT(te("Chunked", NULL), HTTP_TE_CHUNKED);
	CHECK_INT(te("xyz", NULL), HTTP_TE_UNKNOWN);
	CHECK_INT(te("gzip, chunked", NULL), HTTP_TE_UNKNOWN);
	CHECK_INT(te("chunked, gzip", NULL), HTTP_TE_UNKNOWN);
	CHECK_INT(te("chunked", "gzip"), HTTP_TE_UNKNOWN);
	CHECK_INT(te("identity", NULL), HTTP_TE_UNKNOWN);
	CHECK_INT(te("chunked, chunked", NULL), HTTP_TE_BAD);
	CHECK_INT(te("chunked", "chunked"), HTTP_TE_BAD);
	CHECK_INT(te("chunked ", NULL), HTTP_TE_BAD); /* libmicrohttpd would not decode it */
	CHECK_INT(te("chunked,", NULL), HTTP_TE_BAD);
	CHECK_INT(te("chunked;x=1", NULL), HTTP_TE_BAD);
	CHECK_INT(te("", NULL), HTTP_TE_BAD);
	CHECK_INT(te(",", NULL), HTTP_TE_BAD);
	CHECK_INT(te("chu nked", NULL), HTTP_TE_UNKNOWN);
	CHECK_INT(te("\"chunked\"", NULL), HTTP_TE_BAD);
}

int main(void)
{
	RUN(parses_hosts);
	RUN(refuses_bad_hosts);
	RUN(allows_ip_literals_and_known_names);
	RUN(compares_origins);
	RUN(judges_fetch_site_and_form_types);
	RUN(judges_transfer_codings);
	return TEST_EXIT();
}
