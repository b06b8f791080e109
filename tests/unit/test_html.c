/* test_html.c - the escaping function, the page builder, the Accept preference,
 * the Ignition version of a User-Agent, and the embedded static files. */
#include "../../server/html.h"
#include "test.h"

/* Escapes s into a fresh buffer and compares. */
static void check_escape(const char *s, size_t n, const char *want)
{
	struct buf b;
	buf_init(&b, 1024);
	CHECK_INT(html_escape(&b, s, n), K_OK);
	CHECK_STR(buf_str(&b), want);
	buf_free(&b);
}

static void escapes_the_five(void)
{
	check_escape("", 0, "");
	check_escape("plain text", 10, "plain text");
	check_escape("&<>\"'", 5, "&amp;&lt;&gt;&quot;&#39;");
	check_escape("<script>alert(1)</script>", 25, "&lt;script&gt;alert(1)&lt;/script&gt;");
	check_escape("</textarea><b x='1' y=\"2\">", 26,
	             "&lt;/textarea&gt;&lt;b x=&#39;1&#39; y=&quot;2&quot;&gt;");
	check_escape("a&amp;b", 7, "a&amp;amp;b");
	check_escape("é “ü” ☃", strlen("é “ü” ☃"), "é “ü” ☃"); /* UTF-8 passes */
	check_escape("a\0b", 3,
	             "a\xef\xbf\xbd"
	             "b");                   /* NUL: U+FFFD */
	check_escape("<<>>", 2, "&lt;&lt;"); /* only n bytes */
}

static void escape_is_all_or_nothing(void)
{
	struct buf b;
	buf_init(&b, 12);
	CHECK_INT(buf_addstr(&b, "ab"), K_OK);
	CHECK_INT(html_escape(&b, "<<<", 3), K_ETOOBIG); /* 2 + 12 > 12 */
	CHECK_STR(buf_str(&b), "ab");
	CHECK_INT(html_escape(&b, "<x", 2), K_OK); /* 2 + 5 */
	CHECK_STR(buf_str(&b), "ab&lt;x");
	buf_free(&b);
}

static void addf_escapes_every_string(void)
{
	const char *volatile null_string = NULL; /* hidden from -Wformat-overflow */
	struct html h;
	html_init(&h, 4096);
	html_addf(&h, "<a href=\"/c/%s\">%s</a> %d %u %ld %lld %zu %x %% %s|", "a\"b", "<i>", -3,
	          7u, 123456789L, -9000000000LL, (size_t)42, 255u, null_string);
	CHECK_INT(h.err, K_OK);
	CHECK_STR(buf_str(&h.buf),
	          "<a href=\"/c/a&quot;b\">&lt;i&gt;</a> -3 7 123456789 -9000000000 42 ff % |");
	html_text(&h, "'&");
	html_raw(&h, "<br>");
	CHECK_STR(buf_str(&h.buf) + h.buf.len - 14, "&#39;&amp;<br>");
	html_free(&h);
	html_free(NULL);
}

static void addf_errors_are_sticky(void)
{
	struct html h;
	html_init(&h, 16);
	html_addf(&h, "%s", "0123456789");
	CHECK_INT(h.err, K_OK);
	html_addf(&h, "%s", "<<<<");
	CHECK_INT(h.err, K_ETOOBIG);
	html_raw(&h, "x");
	CHECK_STR(buf_str(&h.buf), "0123456789");
	html_free(&h);

	html_init(&h, 64);
	/* A conversion the formatter does not know: K_EINVAL, nothing further. */
	html_addf(&h, "a%cb", 'x');
	CHECK_INT(h.err, K_EINVAL);
	html_free(&h);
}

static void query_percent_encodes_and_skips_empty(void)
{
	struct buf b;
	buf_init(&b, 256);
	const char *kv[] = {"q", "a b&c=d/é", "sort", NULL, "limit", "", "cursor", "10.x-y", NULL};
	CHECK_INT(html_query(&b, kv), K_OK);
	CHECK_STR(buf_str(&b), "?q=a%20b%26c%3Dd%2F%C3%A9&cursor=10.x-y");
	buf_reset(&b);
	const char *none[] = {"q", NULL, NULL};
	CHECK_INT(html_query(&b, none), K_OK);
	CHECK_STR(buf_str(&b), "");
	buf_free(&b);
}

static void accept_prefers_html_for_browsers_only(void)
{
	/* browsers */
	CHECK(html_accept_prefers("text/html,application/xhtml+xml,application/xml;q=0.9,"
	                          "image/avif,image/webp,image/apng,*/*;q=0.8,"
	                          "application/signed-exchange;v=b3;q=0.7"));
	CHECK(html_accept_prefers(
	        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"));
	CHECK(html_accept_prefers("text/html"));
	CHECK(html_accept_prefers("TEXT/HTML"));
	CHECK(html_accept_prefers(" text/html ; q=1 , application/json ; q=0.5"));
	CHECK(html_accept_prefers("text/*, application/json;q=0.2"));
	CHECK(html_accept_prefers("application/json;q=0.5, text/html"));
	CHECK(html_accept_prefers("text/html;level=1;q=0.9, */*;q=0.1"));
	/* API clients, Ignition, curl */
	CHECK(!html_accept_prefers(NULL));
	CHECK(!html_accept_prefers(""));
	CHECK(!html_accept_prefers("*/*"));
	CHECK(!html_accept_prefers("application/json"));
	CHECK(!html_accept_prefers("application/json, text/html"));       /* a tie: JSON */
	CHECK(!html_accept_prefers("text/html;q=0.9, application/json")); /* JSON wins */
	CHECK(!html_accept_prefers("text/html;q=0, */*"));                /* html refused */
	CHECK(!html_accept_prefers("application/*, text/html;q=0.5"));    /* application wins */
	CHECK(!html_accept_prefers(
	        "application/vnd.coreos.ignition+json;version=3.3.0, */*;q=0.1"));
	CHECK(!html_accept_prefers("application/vnd.coreos.ignition+json; version=2.2.0, "
	                           "application/vnd.coreos.ignition+json; version=1; q=0.5, "
	                           "*/*; q=0.1"));
	CHECK(!html_accept_prefers("text/plain"));
	/* the most specific range counts, not the best q */
	CHECK(!html_accept_prefers("text/html;q=0.1, */*;q=0.9"));
	/* malformed q values count for nothing */
	CHECK(!html_accept_prefers("text/html;q=2"));
	CHECK(!html_accept_prefers("text/html;q=0.1234"));
	CHECK(!html_accept_prefers("text/html;q=abc, application/json;q=0.1"));
	CHECK(html_accept_prefers("text/html;q=1.000, application/json;q=0.999"));
	CHECK(!html_accept_prefers("text/html;q=1.001"));
	/* junk does not crash and prefers JSON */
	CHECK(!html_accept_prefers(",,,;;;==="));
	CHECK(!html_accept_prefers(";q=1"));
	CHECK(!html_accept_prefers("text/htmlx"));
	CHECK(!html_accept_prefers("text/html\"q=1"));
}

static void accept_survives_every_short_input(void)
{
	/* All strings of up to 3 bytes from an alphabet of the parser's cases. */
	static const char alphabet[] = "t/*;q=0.1, \"\t";
	size_t na = sizeof(alphabet) - 1;
	char s[4];
	size_t calls = 0;
	for (size_t len = 0; len <= 3; len++) {
		size_t total = 1;
		for (size_t i = 0; i < len; i++)
			total *= na;
		for (size_t k = 0; k < total; k++) {
			size_t x = k;
			for (size_t i = 0; i < len; i++) {
				s[i] = alphabet[x % na];
				x /= na;
			}
			s[len] = '\0';
			(void)html_accept_prefers(s);
			calls++;
		}
	}
	CHECK(calls > 2000);
}

static void ignition_version_from_user_agent(void)
{
	char v[32];
	html_ignition_version("Ignition/Debian 2.14.0+ds1-1+b6", v, sizeof(v));
	CHECK_STR(v, "2.14.0");
	html_ignition_version("Ignition/v2.17.0", v, sizeof(v));
	CHECK_STR(v, "2.17.0");
	html_ignition_version("Ignition/0.28.0", v, sizeof(v));
	CHECK_STR(v, "0.28.0");
	html_ignition_version("Ignition/2.14.0.", v, sizeof(v));
	CHECK_STR(v, "2.14.0");
	html_ignition_version("Ignition/unknown", v, sizeof(v));
	CHECK_STR(v, "");
	html_ignition_version("Ignition/7", v, sizeof(v));
	CHECK_STR(v, "");
	html_ignition_version("curl/8.5.0", v, sizeof(v));
	CHECK_STR(v, "");
	html_ignition_version(NULL, v, sizeof(v));
	CHECK_STR(v, "");
	html_ignition_version("Ignition/123456.123456.123456", v, 8);
	CHECK_STR(v, ""); /* does not fit: nothing rather than a cut version */
}

static void static_files_are_embedded(void)
{
	const struct html_static *css = html_static_find("kindling.css");
	const struct html_static *js = html_static_find("kindling.js");
	CHECK(css && js && html_static_find("favicon.svg"));
	CHECK(!html_static_find("../kindling.css"));
	CHECK(!html_static_find(""));
	if (css) {
		CHECK_STR(css->type, "text/css; charset=utf-8");
		CHECK_INT(strlen(css->version), 16);
		CHECK(css->len > 100);
	}
	if (js)
		CHECK_STR(js->type, "text/javascript; charset=utf-8");
}

static void page_has_head_and_escaped_title(void)
{
	struct html h;
	html_init(&h, 1 << 16);
	html_page_begin(&h, "a<b");
	html_page_end(&h);
	CHECK_INT(h.err, K_OK);
	const char *s = buf_str(&h.buf);
	CHECK(!strncmp(s, "<!doctype html>", 15));
	CHECK(strstr(s, "<title>a&lt;b · kindling</title>") != NULL);
	CHECK(strstr(s, "href=\"/static/kindling.css?v=") != NULL);
	CHECK(strstr(s, "<script src=\"/static/kindling.js?v=") != NULL);
	CHECK(strstr(s, "</html>\n") != NULL);
	CHECK(strstr(s, "onclick") == NULL && strstr(s, "<script>") == NULL);
	html_free(&h);
}

int main(void)
{
	RUN(escapes_the_five);
	RUN(escape_is_all_or_nothing);
	RUN(addf_escapes_every_string);
	RUN(addf_errors_are_sticky);
	RUN(query_percent_encodes_and_skips_empty);
	RUN(accept_prefers_html_for_browsers_only);
	RUN(accept_survives_every_short_input);
	RUN(ignition_version_from_user_agent);
	RUN(static_files_are_embedded);
	RUN(page_has_head_and_escaped_title);
	return TEST_EXIT();
}
