/* profile.c - loading profile folders (templates/NAME/) and checking a cluster's choice. */
#include "profile.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "rand.h"
#include "subst.h"

#define SECRET_LEN           PROFILE_SECRET_LEN
#define SECRET_TRIES         64   /* random secrets tried until one satisfies its rule */
#define DIR_ENTRIES_MAX      1024 /* entries of one directory inside a profile */
#define FILES_DEPTH_MAX      32   /* directory levels under files/ */
#define NODE_PATH_MAX        4096 /* bytes of a path on the node */
#define PROFILES_PER_CLUSTER 64
#define BUILTIN_VALUE_MAX    2048 /* assumed size of a built-in value in size estimates */
#define MSG_MAX              4096 /* bytes of one message */

static const char *const builtins[] = {
        "cluster_name",    "cluster_id",          "size",       "discovery_url",
        "discovery_token", "discovery_endpoints", "public_url",
};

static const char *const unit_suffixes[] = {
        ".service", ".socket", ".timer", ".mount", ".path",      ".target",
        ".device",  ".swap",   ".slice", ".scope", ".automount",
};

struct rule;

struct var {
	char *name;
	char *description;
	char *dflt; /* NULL: no default */
	bool required;
	bool secret; /* "generate": "secret" */
	struct rule *rule;
	/* the first systemd file and line that writes it into a setting as is
	 * (where a trailing backslash would continue the line), or NULL */
	char *in_setting;
	unsigned in_setting_line;
};

struct item {
	struct profile_item pub; /* points into the fields below */
	char *unit;
	char *dropin;
	char *path;
	char *source;
	char *tpl;
	char *user;
	char *group;
};

struct unitcfg {
	struct profile_unit pub;
	char *name;
};

struct profile {
	char *name;
	char *dir; /* DIR/NAME as given, for messages */
	char *description;
	struct var *vars;
	size_t nvars;
	struct item *items;
	size_t nitems;
	struct unitcfg *units;
	size_t nunits;
	json_t *files; /* every file read, by path: the profile's snapshot */
	char digest[PROFILE_DIGEST_LEN + 1];
};

struct profile_set {
	struct profile **p; /* sorted by name */
	size_t n;
	bool borrowed; /* the profiles belong to someone else (profile_set_compose) */
};

/* Appends "file[:line]: message" to errmsg and returns K_EINVAL. */
static enum kerr fail(struct buf *errmsg, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static enum kerr fail(struct buf *errmsg, const char *fmt, ...)
{
	va_list ap;

	if (errmsg) {
		if (errmsg->len)
			buf_addstr(errmsg, "; ");
		va_start(ap, fmt);
		buf_vaddf(errmsg, fmt, ap);
		va_end(ap);
	}
	return K_EINVAL;
}

/* A malloc'd "a/b", or NULL. */
static char *join(const char *a, const char *b)
{
	struct buf b2;

	buf_init(&b2, NODE_PATH_MAX * 2);
	if (buf_addf(&b2, "%s/%s", a, b) != K_OK) {
		buf_free(&b2);
		return NULL;
	}
	return buf_steal(&b2, NULL);
}

bool profile_builtin(const char *name)
{
	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
		if (strcmp(name, builtins[i]) == 0)
			return true;
	return false;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* systemd's unit name rules: [A-Za-z0-9:_.\\@-], a known suffix, a non-empty stem. */
static bool unit_name_valid(const char *s)
{
	size_t n = strlen(s);
	bool suffix_ok = false;

	if (n == 0 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr(":_.\\@-", c)))
			return false;
	}
	for (size_t i = 0; i < sizeof(unit_suffixes) / sizeof(unit_suffixes[0]); i++) {
		size_t m = strlen(unit_suffixes[i]);
		if (n > m && ends_with(s, unit_suffixes[i]) && s[0] != '.')
			suffix_ok = true;
	}
	return suffix_ok;
}

/* [a-z0-9]([a-z0-9-]{0,61}[a-z0-9])? */
static bool profile_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* A user or group: a decimal id up to 2^31-1 or a name [A-Za-z_][A-Za-z0-9_.-]{0,31}. */
static bool owner_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 32)
		return false;
	if (s[0] >= '0' && s[0] <= '9') {
		long long v = 0;
		for (size_t i = 0; i < n; i++) {
			if (s[i] < '0' || s[i] > '9' || i >= 10)
				return false;
			v = v * 10 + (s[i] - '0');
		}
		return v <= 2147483647LL;
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		          (i > 0 && ((c >= '0' && c <= '9') || c == '.' || c == '-'));
		if (!ok)
			return false;
	}
	return true;
}

/* True when s[0..n) is UTF-8 without NUL (what a unit's JSON string must be). */
static bool utf8_text(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		unsigned c = p[i];
		size_t k;
		unsigned cp;
		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + k >= n)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

/* Appends at most 64 printable ASCII bytes of s, '?' for the rest. */
static void add_excerpt(struct buf *b, const char *s)
{
	size_t n = strlen(s), m = n > 64 ? 64 : n;

	for (size_t i = 0; i < m; i++) {
		unsigned char c = (unsigned char)s[i];
		char o = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
		buf_add(b, &o, 1);
	}
	if (m < n)
		buf_addstr(b, "...");
}

/* ---- variable rules ---- */

/*
 * What a variable may hold. Every value is checked against its type (line
 * when none is declared), its max_length (the type's default when none is
 * declared), and, when declared, min/max (integer), enum and pattern. A value
 * must satisfy all of them.
 */
enum vtype {
	VT_LINE,
	VT_TEXT,
	VT_WORD,
	VT_HOSTNAME,
	VT_HOST_PORT,
	VT_URL,
	VT_IMAGE,
	VT_SECRET,
	VT_INTEGER,
};

struct rule {
	enum vtype type;
	size_t max_length;
	char *pattern; /* as declared, or NULL */
	regex_t re;    /* ^(pattern)$ when pattern is set */
	char **enums;  /* nenums strings, or NULL */
	size_t nenums;
	bool has_min, has_max;
	long long min, max;
};

#define PATTERN_MAX 1024 /* bytes of a declared pattern */
#define ENUM_MAX    256  /* values of a declared enum */
#define SECRET_SET  "A-Z a-z 0-9 . _ ~ + / = -"

/* True when s[0..n) is of the type; else false, and (when why is not NULL and
 * one byte is to blame) "; got <that byte> at byte <i>" appended to why. */
typedef bool (*type_check_fn)(const char *s, size_t n, struct buf *why);

static bool check_line(const char *s, size_t n, struct buf *why);
static bool check_text(const char *s, size_t n, struct buf *why);
static bool check_word(const char *s, size_t n, struct buf *why);
static bool check_hostname(const char *s, size_t n, struct buf *why);
static bool check_host_port(const char *s, size_t n, struct buf *why);
static bool check_url(const char *s, size_t n, struct buf *why);
static bool check_image(const char *s, size_t n, struct buf *why);
static bool check_secret(const char *s, size_t n, struct buf *why);
static bool check_integer(const char *s, size_t n, struct buf *why);

/* The types: name, default max_length, what it allows (for messages and GET /profiles). */
static const struct vtype_info {
	const char *name;
	size_t max_length;
	const char *rule;
	type_check_fn check;
} vtypes[] = {
        [VT_LINE] = {"line", 4096, "one line (no control characters)", check_line},
        [VT_TEXT] = {"text", PROFILE_VALUE_MAX, "text (no control characters but newline and tab)",
                     check_text},
        [VT_WORD] = {"word", 4096, "one word (no spaces or control characters)", check_word},
        [VT_HOSTNAME] = {"hostname", 253,
                         "a host name (dot-separated labels of A-Z a-z 0-9 _ -, each 1-63 "
                         "characters, not beginning or ending with -)",
                         check_hostname},
        [VT_HOST_PORT] = {"host_port", 300,
                          "host:port (a host name, an IPv4 address or an [IPv6] address, "
                          "then a port 1-65535)",
                          check_host_port},
        [VT_URL] = {"url", 2048,
                    "an http:// or https:// URL (a host name or [IPv6] address, an optional "
                    ":port, then only A-Z a-z 0-9 - . _ ~ ! & ( ) * + , ; = : @ / ? # and %XX)",
                    check_url},
        [VT_IMAGE] = {"image", 512,
                      "an OCI image reference ([registry[:port]/]path[:tag][@sha256:64 hex "
                      "digits]; path components of a-z 0-9 joined by . _ __ or -)",
                      check_image},
        [VT_SECRET] = {"secret", 1024, "a secret of one or more of " SECRET_SET, check_secret},
        [VT_INTEGER] = {"integer", 20, "a whole number", check_integer},
};

#define NVTYPES (sizeof(vtypes) / sizeof(vtypes[0]))

/* Appends how byte c looks, for "got ... at byte i". */
static void add_byte_name(struct buf *b, const char *s, size_t n, size_t i)
{
	unsigned char c = (unsigned char)s[i];
	static const struct {
		unsigned char c;
		const char *name;
	} names[] = {
	        {'\n', "a newline"},      {'\r', "a carriage return"},
	        {'\t', "a tab"},          {'\0', "a NUL byte"},
	        {' ', "a space"},         {'"', "a double quote"},
	        {'\'', "a single quote"}, {'\\', "a backslash"},
	        {'`', "a backquote"},     {0x7f, "a DEL character"},
	};

	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		if (names[k].c == c) {
			buf_addstr(b, names[k].name);
			return;
		}
	}
	if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
	    (unsigned char)s[i + 1] <= 0x9f)
		buf_addstr(b, "a C1 control character");
	else if (c < 0x20)
		buf_addf(b, "a control character (0x%02x)", c);
	else if (c >= 0x80)
		buf_addstr(b, "a non-ASCII character");
	else
		buf_addf(b, "'%c'", c);
}

/* false, with "; got <byte i> at byte i" appended to why. */
static bool bad_byte(const char *s, size_t n, size_t i, struct buf *why)
{
	if (why) {
		buf_addstr(why, "; got ");
		add_byte_name(why, s, n, i);
		buf_addf(why, " at byte %zu", i);
	}
	return false;
}

/* No control characters (C0, DEL, C1); nl_tab allows newline and tab, no_space forbids ' '. */
static bool check_chars(const char *s, size_t n, bool nl_tab, bool no_space, struct buf *why)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool bad = (c < 0x20 && !(nl_tab && (c == '\n' || c == '\t'))) || c == 0x7f ||
		           (no_space && c == ' ') ||
		           (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
		            (unsigned char)s[i + 1] <= 0x9f);
		if (bad)
			return bad_byte(s, n, i, why);
	}
	return true;
}

static bool check_line(const char *s, size_t n, struct buf *why)
{
	return check_chars(s, n, false, false, why);
}

static bool check_text(const char *s, size_t n, struct buf *why)
{
	return check_chars(s, n, true, false, why);
}

static bool check_word(const char *s, size_t n, struct buf *why)
{
	return check_chars(s, n, false, true, why);
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* The first byte of s[0..n) not in [A-Za-z0-9] nor in extra, or n. */
static size_t first_outside(const char *s, size_t n, const char *extra)
{
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && (s[i] == '\0' || !strchr(extra, s[i])))
			return i;
	return n;
}

/* Dot-separated labels of [A-Za-z0-9_-], 1-63 each, no '-' at either end; 1-253 in all. */
static bool hostname_ok(const char *s, size_t n)
{
	size_t start = 0;

	if (n == 0 || n > 253 || first_outside(s, n, "_-.") < n)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '.')
			continue;
		size_t len = i - start;
		if (len == 0 || len > 63 || s[start] == '-' || s[i - 1] == '-')
			return false;
		start = i + 1;
	}
	return true;
}

static bool check_hostname(const char *s, size_t n, struct buf *why)
{
	size_t i = first_outside(s, n, "_-.");
	if (i < n)
		return bad_byte(s, n, i, why);
	return hostname_ok(s, n);
}

/* 1-65535 in decimal without leading zeros. */
static bool port_ok(const char *s, size_t n)
{
	long v = 0;

	if (n == 0 || n > 5 || s[0] == '0')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	return v <= 65535;
}

/* "[IPv6]" as inet_pton reads it. */
static bool bracketed_v6_ok(const char *s, size_t n)
{
	char a[INET6_ADDRSTRLEN + 1];
	unsigned char bin[16];

	if (n < 4 || n - 2 > INET6_ADDRSTRLEN || s[0] != '[' || s[n - 1] != ']')
		return false;
	memcpy(a, s + 1, n - 2);
	a[n - 2] = '\0';
	return inet_pton(AF_INET6, a, bin) == 1;
}

/* host or [v6], then optional (or, with need_port, required) :port. */
static bool authority_ok(const char *s, size_t n, bool need_port)
{
	size_t host_len;

	if (n && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close)
			return false;
		host_len = (size_t)(close - s) + 1;
		if (!bracketed_v6_ok(s, host_len))
			return false;
	} else {
		const char *colon = memchr(s, ':', n);
		host_len = colon ? (size_t)(colon - s) : n;
		if (!hostname_ok(s, host_len))
			return false;
	}
	if (host_len == n)
		return !need_port;
	return s[host_len] == ':' && port_ok(s + host_len + 1, n - host_len - 1);
}

static bool check_host_port(const char *s, size_t n, struct buf *why)
{
	size_t i = first_outside(s, n, "_-.:[]");
	if (i < n)
		return bad_byte(s, n, i, why);
	return authority_ok(s, n, true);
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool check_url(const char *s, size_t n, struct buf *why)
{
	size_t start, end;

	if (n > 7 && strncmp(s, "http://", 7) == 0)
		start = 7;
	else if (n > 8 && strncmp(s, "https://", 8) == 0)
		start = 8;
	else
		return false;
	end = start;
	while (end < n && s[end] != '/' && s[end] != '?' && s[end] != '#')
		end++;
	size_t i = first_outside(s + start, end - start, "_-.:[]");
	if (i < end - start)
		return bad_byte(s, n, start + i, why);
	if (!authority_ok(s + start, end - start, false))
		return false;
	for (i = end; i < n; i++) {
		if (s[i] == '%') {
			if (i + 2 >= n || !is_hex(s[i + 1]) || !is_hex(s[i + 2]))
				return bad_byte(s, n, i, why);
			i += 2;
			continue;
		}
		if (!is_alnum(s[i]) && (s[i] == '\0' || !strchr("-._~!&()*+,;=:@/?#", s[i])))
			return bad_byte(s, n, i, why);
	}
	return true;
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* */
static bool path_component_ok(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t run = 0;
		while (i < n && is_lower_alnum(s[i])) {
			i++;
			run++;
		}
		if (run == 0)
			return false;
		if (i == n)
			return true;
		if (s[i] == '.') {
			i++;
		} else if (s[i] == '_') {
			i += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
		} else if (s[i] == '-') {
			while (i < n && s[i] == '-')
				i++;
		} else {
			return false;
		}
		if (i == n)
			return false;
	}
	return false;
}

/* domain-component ('.' domain-component)* [':' port] */
static bool registry_ok(const char *s, size_t n)
{
	const char *colon = memchr(s, ':', n);
	size_t host = colon ? (size_t)(colon - s) : n, start = 0;

	if (colon && !port_ok(colon + 1, n - host - 1))
		return false;
	if (host == 0 || first_outside(s, host, "-.") < host)
		return false;
	for (size_t i = 0; i <= host; i++) {
		if (i < host && s[i] != '.')
			continue;
		if (i == start || s[start] == '-' || s[i - 1] == '-')
			return false;
		start = i + 1;
	}
	return true;
}

static bool check_image(const char *s, size_t n, struct buf *why)
{
	const char *at, *slash, *colon;
	size_t name_len, i = first_outside(s, n, "-._:/@");

	if (i < n)
		return bad_byte(s, n, i, why);
	at = memchr(s, '@', n);
	name_len = at ? (size_t)(at - s) : n;
	if (at) {
		size_t d = n - name_len - 1, hex = 0;
		const char *dg = at + 1;
		if (d == 7 + 64 && strncmp(dg, "sha256:", 7) == 0)
			hex = 64;
		else if (d == 7 + 128 && strncmp(dg, "sha512:", 7) == 0)
			hex = 128;
		if (!hex)
			return false;
		for (size_t k = 7; k < d; k++)
			if (!((dg[k] >= '0' && dg[k] <= '9') || (dg[k] >= 'a' && dg[k] <= 'f')))
				return false;
	}
	/* the tag: after the last ':' that follows the last '/' */
	slash = memrchr(s, '/', name_len);
	colon = memrchr(slash ? slash : s, ':', name_len - (size_t)(slash ? slash - s : 0));
	if (colon) {
		size_t t0 = (size_t)(colon - s) + 1, tn = name_len - t0;
		if (tn == 0 || tn > 128 || s[t0] == '.' || s[t0] == '-' ||
		    first_outside(s + t0, tn, "_.-") < tn)
			return false;
		name_len = (size_t)(colon - s);
	}
	if (name_len == 0 || name_len > 255)
		return false;
	/* the name: [registry/]component(/component)* */
	size_t start = 0;
	bool first = true;
	for (i = 0; i <= name_len; i++) {
		if (i < name_len && s[i] != '/')
			continue;
		const char *c = s + start;
		size_t cn = i - start;
		bool upper = false;
		for (size_t k = 0; k < cn; k++)
			upper = upper || (c[k] >= 'A' && c[k] <= 'Z');
		/* as docker reads it: a first component with '.' or ':', "localhost"
		 * or upper case names a registry */
		bool registry = first && i < name_len &&
		                (memchr(c, '.', cn) || memchr(c, ':', cn) || upper ||
		                 (cn == 9 && memcmp(c, "localhost", 9) == 0));
		if (registry ? !registry_ok(c, cn) : !path_component_ok(c, cn))
			return false;
		first = false;
		start = i + 1;
	}
	return true;
}

static bool check_secret(const char *s, size_t n, struct buf *why)
{
	for (size_t i = 0; i < n; i++) {
		if (!is_alnum(s[i]) && (s[i] == '\0' || !strchr("._~+/=-", s[i]))) {
			if (why) /* never quote a secret's characters */
				buf_addf(why, "; got a character outside that set at byte %zu", i);
			return false;
		}
	}
	return n > 0;
}

/* -?(0|[1-9][0-9]*) within long long; *out the value. */
static bool parse_integer(const char *s, size_t n, long long *out)
{
	size_t i = 0;
	bool neg = n && s[0] == '-';
	unsigned long long v = 0, limit = neg ? (unsigned long long)LLONG_MAX + 1 : LLONG_MAX;

	if (neg)
		i++;
	if (i == n || (s[i] == '0' && n - i > 1) || (neg && s[i] == '0'))
		return false;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (limit - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = neg ? (v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v)
	           : (long long)v;
	return true;
}

static bool check_integer(const char *s, size_t n, struct buf *why)
{
	long long v;
	(void)why;
	return parse_integer(s, n, &v);
}

/* Appends "one of "a", "b"" (the first 16 values). */
static void add_enum(struct buf *b, const struct rule *r)
{
	buf_addstr(b, "one of");
	for (size_t i = 0; i < r->nenums && i < 16; i++) {
		buf_addstr(b, i ? ", \"" : " \"");
		add_excerpt(b, r->enums[i]);
		buf_addstr(b, "\"");
	}
	if (r->nenums > 16)
		buf_addstr(b, ", ...");
}

/* Appends what r allows, e.g. "one line (no control characters), at most 255 bytes". */
static void rule_text(const struct rule *r, struct buf *b)
{
	buf_addstr(b, vtypes[r->type].rule);
	if (r->has_min || r->has_max)
		buf_addf(b, " from %lld to %lld", r->has_min ? r->min : LLONG_MIN,
		         r->has_max ? r->max : LLONG_MAX);
	if (r->type != VT_INTEGER)
		buf_addf(b, ", at most %zu bytes", r->max_length);
	if (r->nenums) {
		buf_addstr(b, ", ");
		add_enum(b, r);
	}
	if (r->pattern) {
		buf_addstr(b, ", matching the pattern \"");
		add_excerpt(b, r->pattern);
		buf_addstr(b, "\" (all of it)");
	}
}

/*
 * True when s[0..n) satisfies r. Otherwise false, with why (when not NULL)
 * holding the first rule it breaks, as "must be ..." (no secret characters
 * are quoted).
 */
static bool rule_ok(const struct rule *r, const char *s, size_t n, struct buf *why)
{
	const struct vtype_info *t = &vtypes[r->type];
	long long v = 0;
	bool in = false;

	if (n > r->max_length) {
		if (why)
			buf_addf(why, "must be at most %zu bytes; got %zu", r->max_length, n);
		return false;
	}
	if (why)
		buf_addf(why, "must be %s", t->rule);
	if (!t->check(s, n, why))
		return false;
	if (why)
		buf_reset(why);
	if (!utf8_text(s, n)) {
		if (why)
			buf_addstr(why, "must be UTF-8 text");
		return false;
	}
	if (r->type == VT_INTEGER && parse_integer(s, n, &v) &&
	    ((r->has_min && v < r->min) || (r->has_max && v > r->max))) {
		if (why)
			buf_addf(why, "must be a whole number from %lld to %lld",
			         r->has_min ? r->min : LLONG_MIN, r->has_max ? r->max : LLONG_MAX);
		return false;
	}
	for (size_t i = 0; i < r->nenums && !in; i++)
		in = strlen(r->enums[i]) == n && memcmp(r->enums[i], s, n) == 0;
	if (r->nenums && !in) {
		if (why) {
			buf_addstr(why, "must be ");
			add_enum(why, r);
		}
		return false;
	}
	if (r->pattern && (memchr(s, '\0', n) || regexec(&r->re, s, 0, NULL, 0) != 0)) {
		if (why) {
			buf_addstr(why, "must match the pattern \"");
			add_excerpt(why, r->pattern);
			buf_addstr(why, "\" (all of it)");
		}
		return false;
	}
	return true;
}

static void rule_free(struct rule *r)
{
	if (r->pattern)
		regfree(&r->re);
	free(r->pattern);
	for (size_t i = 0; i < r->nenums; i++)
		free(r->enums[i]);
	free(r->enums);
	memset(r, 0, sizeof(*r));
}

/* True when the ERE p has no ')' closing nothing: wrapping it in ^( )$ keeps its meaning. */
static bool parens_balanced(const char *p)
{
	int depth = 0;

	for (size_t i = 0; p[i]; i++) {
		if (p[i] == '\\' && p[i + 1]) {
			i++;
		} else if (p[i] == '[') {
			size_t j = i + 1;
			if (p[j] == '^')
				j++;
			if (p[j] == ']')
				j++;
			while (p[j] && p[j] != ']') {
				if (p[j] == '[' && p[j + 1] && strchr(":.=", p[j + 1])) {
					const char *close = strchr(p + j + 2, p[j + 1]);
					while (close && close[1] != ']')
						close = strchr(close + 1, p[j + 1]);
					if (!close)
						return false;
					j = (size_t)(close - p) + 2;
					continue;
				}
				j++;
			}
			if (!p[j])
				return false;
			i = j;
		} else if (p[i] == '(') {
			depth++;
		} else if (p[i] == ')') {
			if (--depth < 0)
				return false;
		}
	}
	return depth == 0;
}

/* The built-ins' rules: what kindling itself puts into them. */
static const struct builtin_rule {
	const char *name;
	const char *description;
	struct rule rule;
} builtin_rules[] = {
        {"cluster_name",
         "the cluster's name (a DNS label)",
         {.type = VT_HOSTNAME, .max_length = 63}},
        {"cluster_id", "the cluster's id (a UUID)", {.type = VT_WORD, .max_length = 64}},
        {"size",
         "the discovery size",
         {.type = VT_INTEGER,
          .max_length = 2,
          .has_min = true,
          .min = 1,
          .has_max = true,
          .max = 99}},
        {"discovery_url", "the cluster's etcd discovery URL", {.type = VT_URL, .max_length = 2048}},
        {"discovery_token",
         "the cluster's discovery token (etcd --discovery-token; \"\" with an upstream)",
         {.type = VT_WORD, .max_length = 32}},
        {"discovery_endpoints",
         "the etcd v3 discovery endpoints, comma-separated (etcd --discovery-endpoints): "
         "kindling's gRPC endpoint, or --discovery-etcd's URLs (\"\" without either)",
         {.type = VT_URL, .max_length = 2048}},
        {"public_url", "kindling's public URL", {.type = VT_URL, .max_length = 2048}},
};

bool profile_builtin_valid(const char *name, const char *value)
{
	if (!value || !*value)
		return true;
	/* discovery_endpoints is a list: each URL meets the rule */
	bool list = strcmp(name, "discovery_endpoints") == 0;
	for (size_t i = 0; i < sizeof(builtin_rules) / sizeof(builtin_rules[0]); i++) {
		if (strcmp(name, builtin_rules[i].name) != 0)
			continue;
		if (!list)
			return rule_ok(&builtin_rules[i].rule, value, strlen(value), NULL);
		for (const char *p = value;;) {
			size_t n = strcspn(p, ",");
			if (!n || !rule_ok(&builtin_rules[i].rule, p, n, NULL))
				return false;
			if (!p[n])
				return strlen(value) <= 2048;
			p += n + 1;
		}
	}
	return false;
}

void profile_free(struct profile **pp)
{
	struct profile *p;

	if (!pp || !*pp)
		return;
	p = *pp;
	for (size_t i = 0; i < p->nvars; i++) {
		free(p->vars[i].name);
		free(p->vars[i].description);
		free(p->vars[i].dflt);
		free(p->vars[i].in_setting);
		if (p->vars[i].rule)
			rule_free(p->vars[i].rule);
		free(p->vars[i].rule);
	}
	for (size_t i = 0; i < p->nitems; i++) {
		struct item *it = &p->items[i];
		free(it->unit);
		free(it->dropin);
		free(it->path);
		free(it->source);
		free(it->tpl);
		free(it->user);
		free(it->group);
	}
	for (size_t i = 0; i < p->nunits; i++)
		free(p->units[i].name);
	free(p->vars);
	free(p->items);
	free(p->units);
	free(p->description);
	json_decref(p->files);
	free(p->dir);
	free(p->name);
	free(p);
	*pp = NULL;
}

void profile_set_free(struct profile_set **ps)
{
	if (!ps || !*ps)
		return;
	for (size_t i = 0; i < (*ps)->n && !(*ps)->borrowed; i++)
		profile_free(&(*ps)->p[i]);
	free((*ps)->p);
	free(*ps);
	*ps = NULL;
}

/* ---- reading the folder ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/*
 * A directory of a profile being read: on disk (fd), or in a snapshot (the
 * profile's files by path, as a generation stored them). rel is the
 * directory's path inside the profile ("" or "systemd/", "files/etc/"...);
 * on disk every file read is recorded in *capture under its path, which
 * makes the profile's snapshot.
 */
struct src {
	int fd;              /* -1 for a snapshot */
	const json_t *files; /* snapshot: {path: text | {"base64": ...}} */
	json_t *capture;     /* disk: where the files read go */
	char *rel;
};

static void src_close(struct src *d)
{
	if (d->fd >= 0)
		close(d->fd);
	free(d->rel);
	d->fd = -1;
	d->rel = NULL;
}

/* The snapshot's entries directly under d (names, unsorted, unique). */
static enum kerr snapshot_list(const struct src *d, char **names, size_t *n, const char *shown,
                               struct buf *errmsg)
{
	size_t rl = strlen(d->rel);
	const char *key;
	json_t *v;
	json_object_foreach ((json_t *)d->files, key, v) {
		if (strncmp(key, d->rel, rl) != 0 || !key[rl])
			continue;
		size_t len = strcspn(key + rl, "/");
		bool seen = false;
		for (size_t i = 0; i < *n && !seen; i++)
			seen = strlen(names[i]) == len && !strncmp(names[i], key + rl, len);
		if (seen)
			continue;
		if (*n == DIR_ENTRIES_MAX)
			return fail(errmsg, "%s: more than %d entries", shown, DIR_ENTRIES_MAX);
		names[*n] = strndup(key + rl, len);
		if (!names[*n])
			return K_ENOMEM;
		(*n)++;
	}
	return K_OK;
}

/* Lists d's entries but . and .., sorted. shown names d in messages. */
static enum kerr list_dir(const struct src *d, const char *shown, char ***out, size_t *out_n,
                          struct buf *errmsg)
{
	enum kerr e = K_OK;
	char **names = NULL;
	size_t n = 0;
	DIR *dir = NULL;
	struct dirent *de;
	int fd = -1;

	names = calloc(DIR_ENTRIES_MAX, sizeof(*names));
	if (!names) {
		e = K_ENOMEM;
		goto out;
	}
	if (d->fd < 0) {
		e = snapshot_list(d, names, &n, shown, errmsg);
		if (e != K_OK)
			goto out;
		goto sort;
	}
	fd = dup(d->fd);
	if (fd < 0 || !(dir = fdopendir(fd))) {
		e = fail(errmsg, "%s: %s", shown, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == DIR_ENTRIES_MAX) {
			e = fail(errmsg, "%s: more than %d entries", shown, DIR_ENTRIES_MAX);
			goto out;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			e = K_ENOMEM;
			goto out;
		}
		n++;
	}
sort:
	qsort(names, n, sizeof(*names), cmp_str);
	*out = names;
	*out_n = n;
	names = NULL;
out:
	if (names)
		names_free(names, n);
	if (dir)
		closedir(dir);
	return e;
}

/* d's path for name inside the profile (malloc'd). */
static char *rel_path(const struct src *d, const char *name)
{
	char *s = NULL;
	return asprintf(&s, "%s%s", d->rel, name) < 0 ? NULL : s;
}

/* The type (S_IFREG or S_IFDIR) of d/name; symlinks and others are errors. */
static enum kerr entry_type(const struct src *d, const char *name, const char *shown, mode_t *out,
                            struct buf *errmsg)
{
	struct stat st;

	if (d->fd < 0) {
		char *rel = rel_path(d, name);
		if (!rel)
			return K_ENOMEM;
		*out = json_object_get(d->files, rel) ? S_IFREG : S_IFDIR;
		free(rel);
		return K_OK;
	}
	if (fstatat(d->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(errmsg, "%s: %s", shown, strerror(errno));
	if (S_ISLNK(st.st_mode))
		return fail(errmsg, "%s: symbolic links are not allowed in a profile", shown);
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return fail(errmsg, "%s: not a regular file or directory", shown);
	*out = st.st_mode & S_IFMT;
	return K_OK;
}

/* Opens the subdirectory d/name (on disk without following symlinks). */
static enum kerr open_subdir(const struct src *d, const char *name, const char *shown,
                             struct src *out, struct buf *errmsg)
{
	*out = (struct src){.fd = -1, .files = d->files, .capture = d->capture};
	if (asprintf(&out->rel, "%s%s/", d->rel, name) < 0) {
		out->rel = NULL;
		return K_ENOMEM;
	}
	if (d->fd < 0)
		return K_OK;
	out->fd = openat(d->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (out->fd < 0) {
		src_close(out);
		return fail(errmsg, "%s: %s", shown, strerror(errno));
	}
	return K_OK;
}

/* A file of a snapshot: text, or {"base64": ...} for bytes that are not. */
static enum kerr snapshot_read(const struct src *d, const char *name, const char *shown, char **out,
                               size_t *out_len, struct buf *errmsg)
{
	char *rel = rel_path(d, name);
	if (!rel)
		return K_ENOMEM;
	json_t *v = json_object_get(d->files, rel);
	free(rel);
	const char *b64 = json_string_value(json_object_get(v, "base64"));
	if (json_is_string(v)) {
		*out_len = json_string_length(v);
		*out = malloc(*out_len + 1);
		if (!*out)
			return K_ENOMEM;
		memcpy(*out, json_string_value(v), *out_len + 1);
		return K_OK;
	}
	if (!b64 || !(*out = digest_unbase64(b64, out_len)))
		return fail(errmsg, "%s: not a file of the snapshot", shown);
	return K_OK;
}

/* Records a file read from disk in the profile's snapshot. */
static enum kerr capture(const struct src *d, const char *name, const char *data, size_t len)
{
	char *rel = rel_path(d, name);
	json_t *v = NULL;
	if (!rel)
		return K_ENOMEM;
	if (utf8_text(data, len)) {
		v = json_stringn(data, len);
	} else {
		size_t n;
		char *b64 = digest_base64(data, len, &n);
		v = b64 ? json_pack("{s:s}", "base64", b64) : NULL;
		free(b64);
	}
	int rc = v ? json_object_set_new(d->capture, rel, v) : -1;
	free(rel);
	return rc == 0 ? K_OK : K_ENOMEM;
}

/* Reads the regular file d/name (at most PROFILE_TPL_MAX bytes), NUL-terminated. */
static enum kerr read_at(const struct src *d, const char *name, const char *shown, char **out,
                         size_t *out_len, struct buf *errmsg)
{
	enum kerr e = K_OK;
	struct stat st;
	char *data = NULL;
	size_t len = 0, cap;
	int fd = -1;

	if (d->fd < 0)
		return snapshot_read(d, name, shown, out, out_len, errmsg);
	fd = openat(d->fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		e = fail(errmsg, "%s: %s", shown, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		e = fail(errmsg, "%s: not a regular file", shown);
		goto out;
	}
	if (st.st_size > PROFILE_TPL_MAX) {
		e = fail(errmsg, "%s: larger than %d bytes", shown, PROFILE_TPL_MAX);
		goto out;
	}
	/* One byte more than the size said, to notice a file that grows meanwhile. */
	cap = (size_t)st.st_size + 1;
	data = malloc(cap + 1);
	if (!data) {
		e = K_ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, data + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = fail(errmsg, "%s: %s", shown, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len == cap) {
			e = fail(errmsg, "%s: changed while being read", shown);
			goto out;
		}
	}
	data[len] = '\0';
	e = capture(d, name, data, len);
	if (e != K_OK)
		goto out;
	*out = data;
	*out_len = len;
	data = NULL;
out:
	free(data);
	if (fd >= 0)
		close(fd);
	return e;
}

/* Appends an item to p; takes ownership of tpl. */
static enum kerr add_item(struct profile *p, enum profile_item_kind kind, const char *unit,
                          const char *dropin, const char *path, const char *source, char *tpl,
                          size_t tpl_len, struct buf *errmsg)
{
	struct item *items, *it;

	if (p->nitems == PROFILE_ITEMS_MAX) {
		free(tpl);
		return fail(errmsg, "%s: more than %d templates", p->dir, PROFILE_ITEMS_MAX);
	}
	items = realloc(p->items, (p->nitems + 1) * sizeof(*items));
	if (!items) {
		free(tpl);
		return K_ENOMEM;
	}
	p->items = items;
	it = &items[p->nitems];
	memset(it, 0, sizeof(*it));
	it->tpl = tpl;
	it->pub.kind = kind;
	it->pub.tpl_len = tpl_len;
	it->pub.mode = 0644;
	it->pub.context = kind == PROFILE_FILE ? SUBST_CTX_RAW : SUBST_CTX_SYSTEMD;
	it->unit = unit ? strdup(unit) : NULL;
	it->dropin = dropin ? strdup(dropin) : NULL;
	it->path = path ? strdup(path) : NULL;
	it->source = strdup(source);
	p->nitems++;
	if ((unit && !it->unit) || (dropin && !it->dropin) || (path && !it->path) || !it->source)
		return K_ENOMEM;
	return K_OK;
}

/* Reads a unit or drop-in template: it must be UTF-8 text without NUL. */
static enum kerr read_unit_text(const struct src *d, const char *name, const char *shown,
                                char **out, size_t *out_len, struct buf *errmsg)
{
	enum kerr e = read_at(d, name, shown, out, out_len, errmsg);

	if (e != K_OK)
		return e;
	if (!utf8_text(*out, *out_len)) {
		free(*out);
		*out = NULL;
		return fail(errmsg, "%s: a unit must be UTF-8 text without NUL bytes", shown);
	}
	return K_OK;
}

/* systemd/UNIT.d/: drop-ins only. */
static enum kerr load_dropins(struct profile *p, const struct src *d, const char *unit,
                              const char *shown, struct buf *errmsg)
{
	enum kerr e;
	char **names = NULL, *sub = NULL, *tpl = NULL;
	size_t n = 0, len = 0;
	mode_t type = 0;

	e = list_dir(d, shown, &names, &n, errmsg);
	if (e != K_OK)
		goto out;
	for (size_t i = 0; i < n; i++) {
		free(sub);
		sub = join(shown, names[i]);
		if (!sub) {
			e = K_ENOMEM;
			goto out;
		}
		e = entry_type(d, names[i], sub, &type, errmsg);
		if (e != K_OK)
			goto out;
		if (type != S_IFREG) {
			e = fail(errmsg, "%s: a drop-in directory holds only files", sub);
			goto out;
		}
		if (!ends_with(names[i], ".conf") || strlen(names[i]) == 5) {
			e = fail(errmsg, "%s: a drop-in's name must end in .conf", sub);
			goto out;
		}
		e = read_unit_text(d, names[i], sub, &tpl, &len, errmsg);
		if (e != K_OK)
			goto out;
		e = add_item(p, PROFILE_DROPIN, unit, names[i], NULL, sub, tpl, len, errmsg);
		tpl = NULL;
		if (e != K_OK)
			goto out;
	}
out:
	free(sub);
	names_free(names, n);
	return e;
}

/* systemd/: units and UNIT.d/ drop-in directories. */
static enum kerr load_systemd(struct profile *p, const struct src *d, const char *shown,
                              struct buf *errmsg)
{
	enum kerr e;
	char **names = NULL, *sub = NULL, *tpl = NULL, *unit = NULL;
	size_t n = 0, len = 0;
	mode_t type = 0;
	struct src sub_d = {.fd = -1};

	e = list_dir(d, shown, &names, &n, errmsg);
	if (e != K_OK)
		goto out;
	for (size_t i = 0; i < n; i++) {
		free(sub);
		sub = join(shown, names[i]);
		if (!sub) {
			e = K_ENOMEM;
			goto out;
		}
		e = entry_type(d, names[i], sub, &type, errmsg);
		if (e != K_OK)
			goto out;
		if (type == S_IFREG) {
			if (!unit_name_valid(names[i])) {
				e = fail(errmsg,
				         "%s: not a unit name (a unit needs one of the suffixes "
				         ".service .socket .timer .mount .path .target .device "
				         ".swap .slice .scope .automount)",
				         sub);
				goto out;
			}
			e = read_unit_text(d, names[i], sub, &tpl, &len, errmsg);
			if (e != K_OK)
				goto out;
			e = add_item(p, PROFILE_UNIT, names[i], NULL, NULL, sub, tpl, len, errmsg);
			tpl = NULL;
			if (e != K_OK)
				goto out;
			continue;
		}
		free(unit);
		unit = strdup(names[i]);
		if (!unit) {
			e = K_ENOMEM;
			goto out;
		}
		if (ends_with(unit, ".d"))
			unit[strlen(unit) - 2] = '\0';
		if (!ends_with(names[i], ".d") || !unit_name_valid(unit)) {
			e = fail(errmsg,
			         "%s: a directory under systemd/ must be a drop-in "
			         "directory named UNIT.d (e.g. etcd-member.service.d)",
			         sub);
			goto out;
		}
		e = open_subdir(d, names[i], sub, &sub_d, errmsg);
		if (e != K_OK)
			goto out;
		e = load_dropins(p, &sub_d, unit, sub, errmsg);
		src_close(&sub_d);
		if (e != K_OK)
			goto out;
	}
out:
	free(unit);
	free(sub);
	names_free(names, n);
	return e;
}

/* files/...: every regular file becomes a file at the same path on the node. */
static enum kerr load_files(struct profile *p, const struct src *d, const char *shown,
                            const char *nodepath, int depth, struct buf *errmsg)
{
	enum kerr e;
	char **names = NULL, *sub = NULL, *np = NULL, *tpl = NULL;
	size_t n = 0, len = 0;
	mode_t type = 0;
	struct src sub_d = {.fd = -1};

	if (depth > FILES_DEPTH_MAX)
		return fail(errmsg, "%s: nested deeper than %d directories", shown,
		            FILES_DEPTH_MAX);
	e = list_dir(d, shown, &names, &n, errmsg);
	if (e != K_OK)
		goto out;
	for (size_t i = 0; i < n; i++) {
		free(sub);
		free(np);
		sub = join(shown, names[i]);
		np = join(nodepath, names[i]);
		if (!sub || !np) {
			e = K_ENOMEM;
			goto out;
		}
		if (strlen(np) >= NODE_PATH_MAX) {
			e = fail(errmsg, "%s: path longer than %d bytes", sub, NODE_PATH_MAX);
			goto out;
		}
		e = entry_type(d, names[i], sub, &type, errmsg);
		if (e != K_OK)
			goto out;
		if (type == S_IFDIR) {
			e = open_subdir(d, names[i], sub, &sub_d, errmsg);
			if (e != K_OK)
				goto out;
			e = load_files(p, &sub_d, sub, np, depth + 1, errmsg);
			src_close(&sub_d);
			if (e != K_OK)
				goto out;
			continue;
		}
		e = read_at(d, names[i], sub, &tpl, &len, errmsg);
		if (e != K_OK)
			goto out;
		e = add_item(p, PROFILE_FILE, NULL, NULL, np, sub, tpl, len, errmsg);
		tpl = NULL;
		if (e != K_OK)
			goto out;
	}
out:
	free(np);
	free(sub);
	names_free(names, n);
	return e;
}

/* ---- profile.json ---- */

static struct var *find_var(const struct profile *p, const char *name)
{
	for (size_t i = 0; i < p->nvars; i++)
		if (strcmp(p->vars[i].name, name) == 0)
			return &p->vars[i];
	return NULL;
}

static struct item *find_file(const struct profile *p, const char *path)
{
	for (size_t i = 0; i < p->nitems; i++)
		if (p->items[i].pub.kind == PROFILE_FILE && strcmp(p->items[i].path, path) == 0)
			return &p->items[i];
	return NULL;
}

static bool touches_unit(const struct profile *p, const char *unit)
{
	for (size_t i = 0; i < p->nitems; i++)
		if (p->items[i].pub.kind != PROFILE_FILE && strcmp(p->items[i].unit, unit) == 0)
			return true;
	return false;
}

/* Fails unless every key of obj is one of allowed (NULL-terminated). */
static enum kerr only_keys(json_t *obj, const char *const *allowed, const char *shown,
                           const char *where, struct buf *errmsg)
{
	const char *key;
	json_t *v;

	json_object_foreach (obj, key, v) {
		bool ok = false;
		for (size_t i = 0; allowed[i]; i++)
			if (strcmp(key, allowed[i]) == 0)
				ok = true;
		if (!ok) {
			struct buf k;
			enum kerr e;
			buf_init(&k, 256);
			add_excerpt(&k, key);
			e = fail(errmsg, "%s: unknown key \"%s\" in %s", shown, buf_str(&k), where);
			buf_free(&k);
			return e;
		}
	}
	return K_OK;
}

/* A bounded integer from profile.json: K_OK with *out, or K_EINVAL. */
static enum kerr json_whole(json_t *x, long long lo, long long hi, long long *out)
{
	if (!json_is_integer(x) || json_integer_value(x) < lo || json_integer_value(x) > hi)
		return K_EINVAL;
	*out = (long long)json_integer_value(x);
	return K_OK;
}

/* variables.NAME's type, max_length, min, max, enum and pattern into r. */
static enum kerr parse_rule(json_t *v, const char *shown, const char *name, struct rule *r,
                            struct buf *errmsg)
{
	json_t *x = json_object_get(v, "type"), *item;
	long long ll = 0;
	size_t i;
	bool known = !x;
	int rc;

	for (size_t t = 0; json_is_string(x) && t < NVTYPES; t++) {
		if (strcmp(json_string_value(x), vtypes[t].name) == 0) {
			r->type = (enum vtype)t;
			known = true;
		}
	}
	if (!known) {
		struct buf k;
		enum kerr e;
		buf_init(&k, 256);
		add_excerpt(&k, json_is_string(x) ? json_string_value(x) : "(not a string)");
		e = fail(errmsg,
		         "%s: variables.%s.type: unknown type \"%s\" (types: line, text, word, "
		         "hostname, host_port, url, image, secret, integer)",
		         shown, name, buf_str(&k));
		buf_free(&k);
		return e;
	}
	r->max_length = vtypes[r->type].max_length;
	x = json_object_get(v, "max_length");
	if (x) {
		if (json_whole(x, 1, PROFILE_VALUE_MAX, &ll) != K_OK)
			return fail(errmsg,
			            "%s: variables.%s.max_length must be a whole number from 1 to "
			            "%d",
			            shown, name, PROFILE_VALUE_MAX);
		r->max_length = (size_t)ll;
	}
	for (int k = 0; k < 2; k++) {
		const char *key = k ? "max" : "min";
		x = json_object_get(v, key);
		if (!x)
			continue;
		if (r->type != VT_INTEGER)
			return fail(errmsg, "%s: variables.%s.%s needs \"type\": \"integer\"",
			            shown, name, key);
		if (json_whole(x, LLONG_MIN, LLONG_MAX, &ll) != K_OK)
			return fail(errmsg, "%s: variables.%s.%s must be a whole number", shown,
			            name, key);
		if (k) {
			r->has_max = true;
			r->max = ll;
		} else {
			r->has_min = true;
			r->min = ll;
		}
	}
	if (r->has_min && r->has_max && r->min > r->max)
		return fail(errmsg, "%s: variables.%s: min is above max", shown, name);
	x = json_object_get(v, "enum");
	if (x) {
		if (!json_is_array(x) || json_array_size(x) == 0 || json_array_size(x) > ENUM_MAX)
			return fail(errmsg,
			            "%s: variables.%s.enum must be a list of 1 to %d strings",
			            shown, name, ENUM_MAX);
		r->enums = calloc(json_array_size(x), sizeof(*r->enums));
		if (!r->enums)
			return K_ENOMEM;
		json_array_foreach (x, i, item) {
			if (!json_is_string(item))
				return fail(errmsg, "%s: variables.%s.enum[%zu] must be a string",
				            shown, name, i);
			r->enums[i] = strdup(json_string_value(item));
			if (!r->enums[i])
				return K_ENOMEM;
			r->nenums++;
		}
	}
	x = json_object_get(v, "pattern");
	if (x) {
		const char *pat = json_string_value(x);
		regex_t probe;
		struct buf wrapped, k;
		char why[256] = "";
		enum kerr e = K_OK;
		if (!json_is_string(x) || json_string_length(x) > PATTERN_MAX ||
		    strlen(pat) != json_string_length(x))
			return fail(errmsg,
			            "%s: variables.%s.pattern must be a string of at most %d bytes",
			            shown, name, PATTERN_MAX);
		rc = regcomp(&probe, pat, REG_EXTENDED | REG_NOSUB);
		if (rc == 0)
			regfree(&probe);
		else
			regerror(rc, &probe, why, sizeof(why));
		if (rc == 0 && !parens_balanced(pat)) {
			rc = REG_EPAREN;
			snprintf(why, sizeof(why), "unmatched ( or )");
		}
		buf_init(&wrapped, PATTERN_MAX + 16);
		if (rc == 0 && buf_addf(&wrapped, "^(%s)$", pat) == K_OK) {
			rc = regcomp(&r->re, buf_str(&wrapped), REG_EXTENDED | REG_NOSUB);
			if (rc != 0)
				regerror(rc, &r->re, why, sizeof(why));
		}
		buf_free(&wrapped);
		if (rc != 0) {
			buf_init(&k, 256);
			add_excerpt(&k, pat);
			e = fail(errmsg,
			         "%s: variables.%s.pattern: \"%s\" is not a POSIX extended regular "
			         "expression: %s",
			         shown, name, buf_str(&k), why);
			buf_free(&k);
			return e;
		}
		r->pattern = strdup(pat);
		if (!r->pattern) {
			regfree(&r->re);
			return K_ENOMEM;
		}
	}
	return K_OK;
}

/* Fails unless s satisfies var's rule: "NAME's WHAT "s" fails its own rule: why". */
static enum kerr self_check(const struct var *var, const char *what, const char *s, size_t n,
                            bool quote, const char *shown, struct buf *errmsg)
{
	struct buf why, k;
	enum kerr e = K_OK;

	buf_init(&why, MSG_MAX);
	buf_init(&k, 256);
	if (!rule_ok(var->rule, s, n, &why)) {
		if (quote) {
			buf_addstr(&k, " \"");
			add_excerpt(&k, s);
			buf_addstr(&k, "\"");
		}
		e = fail(errmsg, "%s: variables.%s: %s%s fails the variable's own rule: %s", shown,
		         var->name, what, buf_str(&k), buf_str(&why));
	}
	buf_free(&why);
	buf_free(&k);
	return e;
}

/* A random secret satisfying every rule of rules[0..n) in out (SECRET_LEN + 1 bytes).
 * K_OK, K_EIO, or K_EINVAL when SECRET_TRIES candidates did not. */
static enum kerr secret_for(const struct rule *const *rules, size_t n, char *out)
{
	for (int t = 0; t < SECRET_TRIES; t++) {
		bool ok = true;
		enum kerr e = rand_alnum(out, SECRET_LEN);
		if (e != K_OK)
			return e;
		for (size_t i = 0; i < n && ok; i++)
			ok = rule_ok(rules[i], out, SECRET_LEN, NULL);
		if (ok)
			return K_OK;
	}
	explicit_bzero(out, SECRET_LEN + 1);
	return K_EINVAL;
}

static enum kerr parse_variables(struct profile *p, json_t *vars, const char *shown,
                                 struct buf *errmsg)
{
	static const char *const keys[] = {"description", "default", "required", "generate",
	                                   "type",        "pattern", "enum",     "max_length",
	                                   "min",         "max",     NULL};
	const char *name;
	json_t *v, *x;
	enum kerr e;

	if (vars && !json_is_object(vars))
		return fail(errmsg, "%s: \"variables\" must be an object", shown);
	if (json_object_size(vars) > PROFILE_VARS_MAX)
		return fail(errmsg, "%s: more than %d variables", shown, PROFILE_VARS_MAX);
	p->vars = calloc(json_object_size(vars) + 1, sizeof(*p->vars));
	if (!p->vars)
		return K_ENOMEM;
	json_object_foreach (vars, name, v) {
		struct var *var;
		if (!subst_name_valid(name, strlen(name))) {
			struct buf k;
			buf_init(&k, 256);
			add_excerpt(&k, name);
			e = fail(errmsg,
			         "%s: variables: invalid name \"%s\" (names are "
			         "[a-z_][a-z0-9_]*, at most 64 characters)",
			         shown, buf_str(&k));
			buf_free(&k);
			return e;
		}
		if (profile_builtin(name))
			return fail(errmsg,
			            "%s: variables.%s: a built-in variable cannot be declared",
			            shown, name);
		if (!json_is_object(v))
			return fail(errmsg, "%s: variables.%s must be an object", shown, name);
		char where[96];
		snprintf(where, sizeof(where), "variables.%s", name);
		e = only_keys(v, keys, shown, where, errmsg);
		if (e != K_OK)
			return e;
		var = &p->vars[p->nvars++];
		var->name = strdup(name);
		var->rule = calloc(1, sizeof(*var->rule));
		if (!var->name || !var->rule)
			return K_ENOMEM;
		x = json_object_get(v, "description");
		if (x && !json_is_string(x))
			return fail(errmsg, "%s: variables.%s.description must be a string", shown,
			            name);
		var->description = strdup(x ? json_string_value(x) : "");
		if (!var->description)
			return K_ENOMEM;
		e = parse_rule(v, shown, name, var->rule, errmsg);
		if (e != K_OK)
			return e;
		for (size_t i = 0; i < var->rule->nenums; i++) {
			char what[32];
			snprintf(what, sizeof(what), "enum[%zu]", i);
			e = self_check(var, what, var->rule->enums[i], strlen(var->rule->enums[i]),
			               true, shown, errmsg);
			if (e != K_OK)
				return e;
		}
		x = json_object_get(v, "default");
		if (x) {
			if (!json_is_string(x))
				return fail(errmsg, "%s: variables.%s.default must be a string",
				            shown, name);
			e = self_check(var, "the default", json_string_value(x),
			               json_string_length(x), true, shown, errmsg);
			if (e != K_OK)
				return e;
			var->dflt = strdup(json_string_value(x));
			if (!var->dflt)
				return K_ENOMEM;
		}
		x = json_object_get(v, "required");
		if (x && !json_is_boolean(x))
			return fail(errmsg, "%s: variables.%s.required must be true or false",
			            shown, name);
		var->required = json_is_true(x);
		x = json_object_get(v, "generate");
		if (x && !(json_is_string(x) && strcmp(json_string_value(x), "secret") == 0))
			return fail(errmsg, "%s: variables.%s.generate must be \"secret\"", shown,
			            name);
		var->secret = x != NULL;
		if (var->secret && (var->dflt || var->required))
			return fail(errmsg,
			            "%s: variables.%s: a generated secret has no default and is "
			            "not required",
			            shown, name);
		if (var->required && var->dflt)
			return fail(errmsg, "%s: variables.%s: a required variable has no default",
			            shown, name);
		if (var->secret) {
			char sample[SECRET_LEN + 1];
			const struct rule *one = var->rule;
			e = secret_for(&one, 1, sample);
			explicit_bzero(sample, sizeof(sample));
			if (e == K_EINVAL) {
				struct buf why;
				buf_init(&why, MSG_MAX);
				rule_text(var->rule, &why);
				e = fail(errmsg,
				         "%s: variables.%s: a generated secret (%d random "
				         "characters "
				         "of A-Z a-z 0-9) does not satisfy the variable's own "
				         "rule: %s",
				         shown, name, SECRET_LEN, buf_str(&why));
				buf_free(&why);
			}
			if (e != K_OK)
				return e;
		}
	}
	return K_OK;
}

static enum kerr parse_units(struct profile *p, json_t *units, const char *shown,
                             struct buf *errmsg)
{
	static const char *const keys[] = {"enabled", "mask", NULL};
	const char *name;
	json_t *v, *x;
	enum kerr e;

	if (!json_is_object(units))
		return fail(errmsg, "%s: \"units\" must be an object", shown);
	json_object_foreach (units, name, v) {
		char where[320];
		if (!unit_name_valid(name))
			return fail(errmsg, "%s: units: \"%.256s\" is not a unit name", shown,
			            name);
		if (!touches_unit(p, name))
			return fail(errmsg,
			            "%s: units: \"%s\" is not in the profile (no systemd/%s nor "
			            "systemd/%s.d/)",
			            shown, name, name, name);
		if (!json_is_object(v))
			return fail(errmsg, "%s: units.%s must be an object", shown, name);
		snprintf(where, sizeof(where), "units.%s", name);
		e = only_keys(v, keys, shown, where, errmsg);
		if (e != K_OK)
			return e;
		x = json_object_get(v, "enabled");
		if (x && !json_is_boolean(x))
			return fail(errmsg, "%s: units.%s.enabled must be true or false", shown,
			            name);
		x = json_object_get(v, "mask");
		if (x && !json_is_boolean(x))
			return fail(errmsg, "%s: units.%s.mask must be true or false", shown, name);
		if (json_is_true(x) && json_is_true(json_object_get(v, "enabled")))
			return fail(errmsg, "%s: units.%s: a masked unit cannot be enabled", shown,
			            name);
	}
	return K_OK;
}

static enum kerr parse_files(struct profile *p, json_t *files, const char *shown,
                             struct buf *errmsg)
{
	static const char *const keys[] = {"mode", "owner", "group", "context", NULL};
	const char *path;
	json_t *v, *x;
	enum kerr e;

	if (!json_is_object(files))
		return fail(errmsg, "%s: \"files\" must be an object", shown);
	json_object_foreach (files, path, v) {
		struct item *it = find_file(p, path);
		char where[NODE_PATH_MAX + 16];
		if (!it)
			return fail(errmsg,
			            "%s: files: \"%.256s\" is not in the profile (no files%s)",
			            shown, path, path[0] == '/' ? path : "/...");
		if (!json_is_object(v))
			return fail(errmsg, "%s: files.%s must be an object", shown, path);
		snprintf(where, sizeof(where), "files.%s", path);
		e = only_keys(v, keys, shown, where, errmsg);
		if (e != K_OK)
			return e;
		x = json_object_get(v, "mode");
		if (x) {
			const char *m = json_is_string(x) ? json_string_value(x) : "";
			size_t n = strlen(m);
			bool ok = n >= 3 && n <= 4;
			int mode = 0;
			for (size_t i = 0; ok && i < n; i++) {
				ok = m[i] >= '0' && m[i] <= '7';
				mode = mode * 8 + (m[i] - '0');
			}
			if (!ok)
				return fail(errmsg,
				            "%s: files.%s.mode must be an octal string such as "
				            "\"0644\"",
				            shown, path);
			it->pub.mode = mode;
		}
		x = json_object_get(v, "context");
		if (x && !(json_is_string(x) &&
		           subst_context_parse(json_string_value(x), &it->pub.context)))
			return fail(errmsg,
			            "%s: files.%s.context must be \"raw\", \"systemd\", \"sh\" or "
			            "\"json\"",
			            shown, path);
		for (int k = 0; k < 2; k++) {
			const char *key = k ? "group" : "owner";
			char **dst = k ? &it->group : &it->user;
			x = json_object_get(v, key);
			if (!x)
				continue;
			if (!json_is_string(x) || !owner_valid(json_string_value(x)))
				return fail(errmsg,
				            "%s: files.%s.%s must be a name or a numeric id as a "
				            "string",
				            shown, path, key);
			*dst = strdup(json_string_value(x));
			if (!*dst)
				return K_ENOMEM;
		}
	}
	return K_OK;
}

static enum kerr parse_manifest(struct profile *p, json_t *root, const char *shown,
                                struct buf *errmsg)
{
	static const char *const keys[] = {"description", "variables", "units", "files", NULL};
	enum kerr e;
	json_t *x;

	if (!json_is_object(root))
		return fail(errmsg, "%s: must be a JSON object", shown);
	e = only_keys(root, keys, shown, "profile.json", errmsg);
	if (e != K_OK)
		return e;
	x = json_object_get(root, "description");
	if (x && !json_is_string(x))
		return fail(errmsg, "%s: \"description\" must be a string", shown);
	p->description = strdup(x ? json_string_value(x) : "");
	if (!p->description)
		return K_ENOMEM;
	e = parse_variables(p, json_object_get(root, "variables"), shown, errmsg);
	if (e != K_OK)
		return e;
	x = json_object_get(root, "units");
	if (x) {
		e = parse_units(p, x, shown, errmsg);
		if (e != K_OK)
			return e;
	}
	x = json_object_get(root, "files");
	if (x) {
		e = parse_files(p, x, shown, errmsg);
		if (e != K_OK)
			return e;
	}
	return K_OK;
}

/* ---- template references ---- */

struct refcheck {
	struct profile *p;
	const struct item *it;
	struct buf *errmsg;
};

static enum kerr check_ref(void *ctx, const struct subst_ref *ref)
{
	struct refcheck *rc = ctx;
	const struct item *it = rc->it; /* its pub half points nowhere yet */
	struct var *v;

	if (profile_builtin(ref->name))
		return K_OK;
	v = find_var(rc->p, ref->name);
	if (!v)
		return fail(rc->errmsg,
		            "%s:%u: unknown variable ${%s} (declare it under \"variables\" in "
		            "profile.json, or write $${%s} for a literal ${%s})",
		            it->source, ref->line, ref->name, ref->name, ref->name);
	if (it->pub.context != SUBST_CTX_SYSTEMD)
		return K_OK;
	if (v->rule->type == VT_TEXT)
		return fail(rc->errmsg,
		            "%s:%u: ${%s} is of type text (several lines) and cannot be used in a "
		            "systemd unit, whose settings are one line each",
		            it->source, ref->line, ref->name);
	bool as_is = ref->filter == SUBST_FILTER_RAW ||
	             (ref->filter == SUBST_FILTER_NONE && ref->where == SUBST_WHERE_SETTING);
	if (as_is && !v->in_setting) {
		v->in_setting = strdup(it->pub.kind == PROFILE_FILE ? it->path : it->unit);
		if (!v->in_setting)
			return K_ENOMEM;
		v->in_setting_line = ref->line;
	}
	return K_OK;
}

static int cmp_item(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	int fx = x->pub.kind == PROFILE_FILE, fy = y->pub.kind == PROFILE_FILE;
	int c;

	if (fx != fy)
		return fx - fy;
	if (fx)
		return strcmp(x->path, y->path);
	c = strcmp(x->unit, y->unit);
	if (c)
		return c;
	if (!x->dropin || !y->dropin)
		return (x->dropin != NULL) - (y->dropin != NULL);
	return strcmp(x->dropin, y->dropin);
}

static int cmp_var(const void *a, const void *b)
{
	return strcmp(((const struct var *)a)->name, ((const struct var *)b)->name);
}

/* Sorts items, points their public halves at their strings, and builds the unit list. */
static enum kerr finish(struct profile *p, json_t *root)
{
	json_t *units = json_object_get(root, "units");

	if (p->nitems)
		qsort(p->items, p->nitems, sizeof(*p->items), cmp_item);
	if (p->nvars)
		qsort(p->vars, p->nvars, sizeof(*p->vars), cmp_var);
	p->units = calloc(p->nitems + 1, sizeof(*p->units));
	if (!p->units)
		return K_ENOMEM;
	for (size_t i = 0; i < p->nitems; i++) {
		struct item *it = &p->items[i];
		it->pub.unit = it->unit;
		it->pub.dropin = it->dropin;
		it->pub.path = it->path;
		it->pub.source = it->source;
		it->pub.tpl = it->tpl;
		it->pub.user = it->user;
		it->pub.group = it->group;
		if (it->pub.kind == PROFILE_FILE || !it->unit)
			continue;
		struct unitcfg *u = p->nunits ? &p->units[p->nunits - 1] : NULL;
		if (!u || !u->name || strcmp(u->name, it->unit) != 0) {
			json_t *cfg = json_object_get(units, it->unit);
			json_t *en = json_object_get(cfg, "enabled");
			u = &p->units[p->nunits++];
			u->name = strdup(it->unit);
			if (!u->name)
				return K_ENOMEM;
			u->pub.name = u->name;
			u->pub.enabled = en ? json_is_true(en) : -1;
			u->pub.mask = json_is_true(json_object_get(cfg, "mask"));
		}
		if (it->pub.kind == PROFILE_UNIT)
			u->pub.has_contents = true;
	}
	return K_OK;
}

/* Reads p's folder (root: on disk or a snapshot; p->dir names it in
 * messages) and checks it. */
static enum kerr load_from(struct profile *p, const struct src *root, struct buf *errmsg)
{
	enum kerr e = K_OK;
	char **names = NULL, *sub = NULL, *json = NULL;
	size_t n = 0, json_len = 0;
	json_t *manifest = NULL;
	json_error_t jerr;
	mode_t type = 0;
	struct src sub_d = {.fd = -1};

	e = list_dir(root, p->dir, &names, &n, errmsg);
	if (e != K_OK)
		goto out;
	for (size_t i = 0; i < n; i++) {
		free(sub);
		sub = join(p->dir, names[i]);
		if (!sub) {
			e = K_ENOMEM;
			goto out;
		}
		e = entry_type(root, names[i], sub, &type, errmsg);
		if (e != K_OK)
			goto out;
		if (strcmp(names[i], "profile.json") == 0 && type == S_IFREG) {
			e = read_at(root, names[i], sub, &json, &json_len, errmsg);
		} else if ((strcmp(names[i], "systemd") == 0 || strcmp(names[i], "files") == 0) &&
		           type == S_IFDIR) {
			e = open_subdir(root, names[i], sub, &sub_d, errmsg);
			if (e != K_OK)
				goto out;
			if (names[i][0] == 's')
				e = load_systemd(p, &sub_d, sub, errmsg);
			else
				e = load_files(p, &sub_d, sub, "", 0, errmsg);
			src_close(&sub_d);
		} else {
			e = fail(errmsg,
			         "%s: unexpected %s (a profile holds only profile.json, systemd/ "
			         "and files/)",
			         sub, type == S_IFDIR ? "directory" : "file");
		}
		if (e != K_OK)
			goto out;
	}
	free(sub);
	sub = join(p->dir, "profile.json");
	if (!sub) {
		e = K_ENOMEM;
		goto out;
	}
	if (!json) {
		e = fail(errmsg, "%s: missing", sub);
		goto out;
	}
	manifest = json_loadb(json, json_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!manifest) {
		e = fail(errmsg, "%s:%d: %s", sub, jerr.line, jerr.text);
		goto out;
	}
	e = parse_manifest(p, manifest, sub, errmsg);
	if (e != K_OK)
		goto out;
	for (size_t i = 0; i < p->nitems; i++) {
		struct refcheck rc = {.p = p, .it = &p->items[i], .errmsg = errmsg};
		e = subst_scan(p->items[i].tpl, p->items[i].pub.tpl_len, p->items[i].source,
		               p->items[i].pub.context, check_ref, &rc, errmsg);
		if (e != K_OK)
			goto out;
	}
	e = finish(p, manifest);
out:
	json_decref(manifest);
	free(json);
	free(sub);
	names_free(names, n);
	return e;
}

/* The digest of a profile's files: the first 128 bits of the SHA-512 of
 * their canonical JSON (sorted paths). */
static enum kerr set_digest(struct profile *p)
{
	char *canon = json_dumps(p->files, JSON_COMPACT | JSON_SORT_KEYS);
	char hex[DIGEST_SHA512_HEX];
	if (!canon)
		return K_ENOMEM;
	digest_sha512_hex(canon, strlen(canon), hex);
	free(canon);
	memcpy(p->digest, hex, PROFILE_DIGEST_LEN);
	p->digest[PROFILE_DIGEST_LEN] = '\0';
	return K_OK;
}

static enum kerr load_profile(const char *dir, const char *name, struct profile **out,
                              struct buf *errmsg)
{
	enum kerr e = K_OK;
	struct profile *p = calloc(1, sizeof(*p));
	struct src root = {.fd = -1};

	if (!p || !(p->name = strdup(name)) || !(p->dir = join(dir, name)) ||
	    !(p->files = json_object()) || !(root.rel = strdup(""))) {
		e = K_ENOMEM;
		goto out;
	}
	root.capture = p->files;
	root.fd = open(p->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (root.fd < 0) {
		e = fail(errmsg, "%s: %s", p->dir, strerror(errno));
		goto out;
	}
	e = load_from(p, &root, errmsg);
	if (e == K_OK)
		e = set_digest(p);
	if (e != K_OK)
		goto out;
	*out = p;
	p = NULL;
out:
	src_close(&root);
	profile_free(&p);
	return e;
}

enum kerr profile_load_snapshot(const char *name, const json_t *files, struct profile **out,
                                struct buf *errmsg)
{
	enum kerr e = K_OK;
	struct profile *p = NULL;
	struct src root = {.fd = -1, .files = files};

	if (!json_is_object(files))
		return fail(errmsg, "the snapshot of profile %s holds no files", name);
	p = calloc(1, sizeof(*p));
	if (!p || !(p->name = strdup(name)) || !(p->files = json_deep_copy(files)) ||
	    !(root.rel = strdup(""))) {
		e = K_ENOMEM;
		goto out;
	}
	e = set_digest(p);
	if (e == K_OK && asprintf(&p->dir, "%s@%.8s", name, p->digest) < 0) {
		p->dir = NULL;
		e = K_ENOMEM;
	}
	if (e == K_OK)
		e = load_from(p, &root, errmsg);
	if (e != K_OK)
		goto out;
	*out = p;
	p = NULL;
out:
	src_close(&root);
	profile_free(&p);
	return e;
}

/* Puts p into ps, replacing a profile of the same name. */
static enum kerr set_put(struct profile_set *ps, struct profile *p)
{
	struct profile **arr;

	for (size_t i = 0; i < ps->n; i++) {
		if (strcmp(ps->p[i]->name, p->name) == 0) {
			profile_free(&ps->p[i]);
			ps->p[i] = p;
			return K_OK;
		}
	}
	arr = realloc(
	        ps->p,
	        (ps->n + 1) *
	                sizeof(*arr)); /* NOLINT(bugprone-sizeof-expression): array of pointers */
	if (!arr)
		return K_ENOMEM;
	ps->p = arr;
	ps->p[ps->n++] = p;
	return K_OK;
}

static int cmp_profile(const void *a, const void *b)
{
	return strcmp((*(struct profile *const *)a)->name, (*(struct profile *const *)b)->name);
}

static enum kerr load_dir(struct profile_set *ps, const char *dir, struct buf *errmsg)
{
	enum kerr e = K_OK;
	char **names = NULL, *sub = NULL;
	size_t n = 0;
	struct profile *p = NULL;
	struct stat st;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	const struct src top = {.fd = dfd};

	if (dfd < 0) {
		e = fail(errmsg, "%s: %s", dir, strerror(errno));
		goto out;
	}
	e = list_dir(&top, dir, &names, &n, errmsg);
	if (e != K_OK)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (names[i][0] == '.')
			continue;
		free(sub);
		sub = join(dir, names[i]);
		if (!sub) {
			e = K_ENOMEM;
			goto out;
		}
		if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			e = fail(errmsg, "%s: %s", sub, strerror(errno));
			goto out;
		}
		if (S_ISLNK(st.st_mode)) {
			e = fail(errmsg, "%s: symbolic links are not allowed for profiles", sub);
			goto out;
		}
		if (!S_ISDIR(st.st_mode))
			continue; /* README and the like */
		if (!profile_name_valid(names[i])) {
			e = fail(errmsg,
			         "%s: invalid profile name (must match "
			         "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)",
			         sub);
			goto out;
		}
		e = load_profile(dir, names[i], &p, errmsg);
		if (e != K_OK)
			goto out;
		e = set_put(ps, p);
		if (e != K_OK)
			goto out;
		p = NULL;
	}
out:
	profile_free(&p);
	free(sub);
	names_free(names, n);
	if (dfd >= 0)
		close(dfd);
	return e;
}

enum kerr profile_set_load(const char *const *dirs, size_t ndirs, struct profile_set **out,
                           struct buf *errmsg)
{
	enum kerr e = K_OK;
	struct profile_set *ps = calloc(1, sizeof(*ps));

	if (!ps) {
		e = K_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < ndirs; i++) {
		e = load_dir(ps, dirs[i], errmsg);
		if (e != K_OK)
			goto out;
	}
	if (ps->n) /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
		qsort(ps->p, ps->n, sizeof(*ps->p), cmp_profile);
	*out = ps;
	ps = NULL;
out:
	profile_set_free(&ps);
	return e;
}

enum kerr profile_set_compose(const struct profile *const *profiles, size_t n,
                              struct profile_set **out)
{
	struct profile_set *ps = calloc(1, sizeof(*ps));
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	if (!ps || !(ps->p = calloc(n + 1, sizeof(*ps->p)))) {
		free(ps);
		return K_ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		ps->p[i] = (struct profile *)profiles[i];
	ps->n = n;
	ps->borrowed = true;
	if (n) /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
		qsort(ps->p, n, sizeof(*ps->p), cmp_profile);
	*out = ps;
	return K_OK;
}

/* ---- access ---- */

const char *profile_name(const struct profile *p)
{
	return p->name;
}

const char *profile_digest(const struct profile *p)
{
	return p->digest;
}

const json_t *profile_files(const struct profile *p)
{
	return p->files;
}

size_t profile_set_count(const struct profile_set *ps)
{
	return ps ? ps->n : 0;
}

const struct profile *profile_set_at(const struct profile_set *ps, size_t i)
{
	return ps->p[i];
}

const struct profile *profile_get(const struct profile_set *ps, const char *name)
{
	if (!ps || !name)
		return NULL;
	for (size_t i = 0; i < ps->n; i++)
		if (strcmp(ps->p[i]->name, name) == 0)
			return ps->p[i];
	return NULL;
}

bool profile_exists(const struct profile_set *ps, const char *name)
{
	return profile_get(ps, name) != NULL;
}

size_t profile_item_count(const struct profile *p)
{
	return p->nitems;
}

const struct profile_item *profile_item_at(const struct profile *p, size_t i)
{
	return &p->items[i].pub;
}

size_t profile_unit_count(const struct profile *p)
{
	return p->nunits;
}

const struct profile_unit *profile_unit_at(const struct profile *p, size_t i)
{
	return &p->units[i].pub;
}

enum kerr profile_var_value(const struct profile *p, const char *name, const json_t *vars,
                            const json_t *secrets, const char **out)
{
	const struct var *v = find_var(p, name);
	const json_t *x;

	if (!v)
		return K_EINVAL;
	x = json_object_get(vars, name);
	if (!json_is_string(x) && !v->dflt)
		x = json_object_get(secrets, name);
	if (json_is_string(x)) {
		/* checked again: a value stored before its rule existed is not rendered */
		if (!rule_ok(v->rule, json_string_value(x), json_string_length(x), NULL))
			return K_EINVAL;
		*out = json_string_value(x);
		return K_OK;
	}
	if (v->dflt) {
		*out = v->dflt;
		return K_OK;
	}
	if (v->required || v->secret)
		return K_EINVAL;
	*out = "";
	return K_OK;
}

/* Adds r's keys (type, max_length, min, max, enum, pattern, rule) to o. */
static void rule_describe(const struct rule *r, json_t *o)
{
	struct buf text;

	json_object_set_new(o, "type", json_string(vtypes[r->type].name));
	json_object_set_new(o, "max_length", json_integer((json_int_t)r->max_length));
	if (r->has_min)
		json_object_set_new(o, "min", json_integer(r->min));
	if (r->has_max)
		json_object_set_new(o, "max", json_integer(r->max));
	if (r->nenums) {
		json_t *e = json_array();
		for (size_t i = 0; i < r->nenums; i++)
			json_array_append_new(e, json_string(r->enums[i]));
		json_object_set_new(o, "enum", e);
	}
	if (r->pattern)
		json_object_set_new(o, "pattern", json_string(r->pattern));
	buf_init(&text, MSG_MAX);
	rule_text(r, &text);
	json_object_set_new(o, "rule", json_string(buf_str(&text)));
	buf_free(&text);
}

json_t *profile_set_describe(const struct profile_set *ps)
{
	json_t *arr = json_array(), *bi = json_array();
	json_t *root = json_pack("{s:o,s:o}", "profiles", arr, "builtins", bi);

	if (!root)
		return NULL;
	for (size_t i = 0; i < sizeof(builtin_rules) / sizeof(builtin_rules[0]); i++) {
		json_t *o = json_pack("{s:s,s:s}", "name", builtin_rules[i].name, "description",
		                      builtin_rules[i].description);
		if (o)
			rule_describe(&builtin_rules[i].rule, o);
		json_array_append_new(bi, o);
	}
	for (size_t i = 0; ps && i < ps->n; i++) {
		const struct profile *p = ps->p[i];
		json_t *units = json_array(), *dropins = json_array(), *files = json_array();
		json_t *vars = json_array();
		for (size_t j = 0; j < p->nunits; j++)
			json_array_append_new(units, json_string(p->units[j].name));
		for (size_t j = 0; j < p->nitems; j++) {
			const struct item *it = &p->items[j];
			if (it->pub.kind == PROFILE_FILE) {
				json_array_append_new(files, json_string(it->path));
			} else if (it->pub.kind == PROFILE_DROPIN) {
				json_array_append_new(
				        dropins, json_sprintf("%s.d/%s", it->unit, it->dropin));
			}
		}
		for (size_t j = 0; j < p->nvars; j++) {
			const struct var *v = &p->vars[j];
			json_t *o =
			        json_pack("{s:s,s:s,s:s?,s:b,s:s?}", "name", v->name, "description",
			                  v->description, "default", v->dflt, "required",
			                  v->required, "generate", v->secret ? "secret" : NULL);
			if (o)
				rule_describe(v->rule, o);
			json_array_append_new(vars, o);
		}
		json_array_append_new(arr, json_pack("{s:s,s:s,s:o,s:o,s:o,s:o}", "name", p->name,
		                                     "description", p->description, "units", units,
		                                     "dropins", dropins, "files", files,
		                                     "variables", vars));
	}
	return root;
}

/* ---- a cluster's choice ---- */

static void add_error(json_t *errors, const char *field, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void add_error(json_t *errors, const char *field, const char *fmt, ...)
{
	struct buf m;
	va_list ap;

	buf_init(&m, MSG_MAX);
	va_start(ap, fmt);
	buf_vaddf(&m, fmt, ap);
	va_end(ap);
	json_array_append_new(errors,
	                      json_pack("{s:s,s:s}", "field", field, "message", buf_str(&m)));
	buf_free(&m);
}

/* The declaration of name in the first chosen profile that declares it, or NULL. */
static const struct var *chosen_var(const struct profile *const *chosen, size_t n, const char *name,
                                    const struct profile **out_p)
{
	for (size_t i = 0; i < n; i++) {
		const struct var *v = find_var(chosen[i], name);
		if (v) {
			if (out_p)
				*out_p = chosen[i];
			return v;
		}
	}
	return NULL;
}

/* Records p's items and unit settings, reporting what clashes with earlier profiles. */
static void check_clashes(const struct profile *p, const char *field, json_t *owners,
                          json_t *unitcfg, json_t *errors)
{
	struct buf key;

	buf_init(&key, NODE_PATH_MAX * 2);
	for (size_t j = 0; j < p->nitems; j++) {
		const struct item *it = &p->items[j];
		buf_reset(&key);
		if (it->pub.kind == PROFILE_FILE)
			buf_addf(&key, "file %s", it->path);
		else if (it->pub.kind == PROFILE_UNIT)
			buf_addf(&key, "systemd unit %s", it->unit);
		else
			buf_addf(&key, "drop-in %s.d/%s", it->unit, it->dropin);
		json_t *o = json_object_get(owners, buf_str(&key));
		if (o)
			add_error(errors, field, "%s is also defined by profile \"%s\"",
			          buf_str(&key), json_string_value(o));
		else
			json_object_set_new(owners, buf_str(&key), json_string(p->name));
	}
	for (size_t j = 0; j < p->nunits; j++) {
		const struct profile_unit *u = &p->units[j].pub;
		json_t *prev = json_object_get(unitcfg, u->name);
		if (u->enabled < 0 && !u->mask)
			continue;
		if (prev) {
			int pe = (int)json_integer_value(json_object_get(prev, "enabled"));
			bool pm = json_is_true(json_object_get(prev, "mask"));
			bool clash = (u->enabled >= 0 && pe >= 0 && u->enabled != pe) ||
			             (u->mask && pe == 1) || (pm && u->enabled == 1);
			if (clash)
				add_error(errors, field,
				          "unit %s is set up differently (enabled/mask) by profile "
				          "\"%s\"",
				          u->name,
				          json_string_value(json_object_get(prev, "profile")));
			continue;
		}
		json_object_set_new(unitcfg, u->name,
		                    json_pack("{s:i,s:b,s:s}", "enabled", u->enabled, "mask",
		                              u->mask, "profile", p->name));
	}
	buf_free(&key);
}

/* The size of tpl after expansion, estimated from the values the cluster would
 * use, escaped as they would be: an upper bound of what render_config makes. */
struct estimate {
	const struct profile *p;
	const json_t *vars;
	enum subst_context cx;
	struct buf scratch;
	size_t total;
};

static enum kerr estimate_ref(void *ctx, const struct subst_ref *ref)
{
	struct estimate *es = ctx;
	const struct var *v = find_var(es->p, ref->name);
	const json_t *x = json_object_get(es->vars, ref->name);
	const char *val = NULL;
	size_t n = SECRET_LEN + 2, len = 0; /* an unset secret: [A-Za-z0-9], quoted by json */

	if (profile_builtin(ref->name)) {
		n = 4 * BUILTIN_VALUE_MAX + 16; /* escaping at most quadruples a URL */
	} else if (json_is_string(x)) {
		val = json_string_value(x);
		len = json_string_length(x);
	} else if (v && v->dflt) {
		val = v->dflt;
		len = strlen(val);
	}
	if (val) {
		buf_reset(&es->scratch);
		enum kerr e = subst_escape(val, len, ref->filter, es->cx, ref->where, &es->scratch);
		if (e == K_ETOOBIG)
			return K_ETOOBIG;
		n = e == K_OK ? es->scratch.len : len;
	}
	es->total += n;
	return es->total > PROFILE_RENDER_MAX ? K_ETOOBIG : K_OK;
}

/* Checks one value against the rule of every chosen profile that declares key,
 * and against the trailing-backslash rule where a systemd setting holds it as is. */
static void check_value(const struct profile *const *chosen, size_t nchosen, const char *key,
                        const json_t *val, const char *field, json_t *errors)
{
	const char *s = json_string_value(val);
	size_t n = json_string_length(val);
	struct buf why;

	buf_init(&why, MSG_MAX);
	for (size_t i = 0; i < nchosen; i++) {
		const struct var *v = find_var(chosen[i], key);
		if (!v)
			continue;
		buf_reset(&why);
		if (!rule_ok(v->rule, s, n, &why)) {
			add_error(errors, field, "%s", buf_str(&why));
			break;
		}
		if (v->in_setting && n && s[n - 1] == '\\') {
			add_error(
			        errors, field,
			        "must not end in a backslash: systemd %s (profile \"%s\", line %u) "
			        "writes it into a setting as is, where a final backslash would "
			        "continue the line",
			        v->in_setting, chosen[i]->name, v->in_setting_line);
			break;
		}
	}
	buf_free(&why);
}

enum kerr profile_check(const struct profile_set *ps, const json_t *profiles, const json_t *vars,
                        json_t *errors)
{
	const struct profile *chosen[PROFILES_PER_CLUSTER];
	size_t nchosen = 0, nerr0 = json_array_size(errors);
	bool profiles_ok = true;
	json_t *owners = json_object(), *unitcfg = json_object();
	const char *key;
	json_t *val;
	char field[96];

	if (!owners || !unitcfg) {
		json_decref(owners);
		json_decref(unitcfg);
		return K_ENOMEM;
	}
	if (!json_is_array(profiles)) {
		add_error(errors, "profiles", "must be an array of profile names");
		profiles_ok = false;
	} else if (json_array_size(profiles) > PROFILES_PER_CLUSTER) {
		add_error(errors, "profiles", "at most %d profiles", PROFILES_PER_CLUSTER);
		profiles_ok = false;
	} else {
		size_t i;
		json_array_foreach (profiles, i, val) {
			const struct profile *p;
			bool dup = false;
			snprintf(field, sizeof(field), "profiles[%zu]", i);
			if (!json_is_string(val)) {
				add_error(errors, field, "must be a profile name (a string)");
				profiles_ok = false;
				continue;
			}
			p = profile_get(ps, json_string_value(val));
			if (!p) {
				struct buf ex;
				buf_init(&ex, 256);
				add_excerpt(&ex, json_string_value(val));
				add_error(errors, field, "unknown profile \"%s\"", buf_str(&ex));
				buf_free(&ex);
				profiles_ok = false;
				continue;
			}
			for (size_t j = 0; j < nchosen; j++)
				dup = dup || chosen[j] == p;
			if (dup) {
				add_error(errors, field, "profile \"%s\" is listed twice", p->name);
				continue;
			}
			check_clashes(p, field, owners, unitcfg, errors);
			chosen[nchosen++] = p;
		}
	}

	if (vars && !json_is_object(vars)) {
		add_error(errors, "vars", "must be an object of strings");
	} else if (json_object_size(vars) > PROFILE_VARS_MAX) {
		add_error(errors, "vars", "at most %d variables", PROFILE_VARS_MAX);
	} else {
		json_object_foreach ((json_t *)vars, key, val) {
			const struct profile *owner = NULL;
			const struct var *decl;
			struct buf f;
			buf_init(&f, 256);
			buf_addstr(&f, "vars.");
			add_excerpt(&f, key);
			decl = chosen_var(chosen, nchosen, key, &owner);
			if (!json_is_string(val)) {
				add_error(errors, buf_str(&f), "must be a string");
			} else if (profile_builtin(key)) {
				add_error(errors, buf_str(&f),
				          "is a built-in variable, set by kindling");
			} else if (!subst_name_valid(key, strlen(key))) {
				add_error(errors, buf_str(&f),
				          "is not a variable name ([a-z_][a-z0-9_]*, at most 64 "
				          "characters)");
			} else if (!decl) {
				if (profiles_ok)
					add_error(errors, buf_str(&f),
					          "is not declared by the chosen profiles");
			} else {
				check_value(chosen, nchosen, key, val, buf_str(&f), errors);
			}
			buf_free(&f);
		}
	}

	for (size_t i = 0; i < nchosen; i++) {
		for (size_t j = 0; j < chosen[i]->nvars; j++) {
			const struct var *v = &chosen[i]->vars[j];
			if (!v->required || json_is_string(json_object_get(vars, v->name)))
				continue;
			snprintf(field, sizeof(field), "vars.%s", v->name);
			add_error(errors, field, "is required by profile \"%s\"", chosen[i]->name);
		}
	}

	if (json_array_size(errors) == nerr0) {
		struct estimate es = {.vars = vars};
		enum kerr e = K_OK;
		buf_init(&es.scratch, PROFILE_RENDER_MAX + 1);
		for (size_t i = 0; i < nchosen && e == K_OK; i++) {
			es.p = chosen[i];
			for (size_t j = 0; j < chosen[i]->nitems && e == K_OK; j++) {
				const struct item *it = &chosen[i]->items[j];
				es.total += it->pub.tpl_len;
				es.cx = it->pub.context;
				e = subst_scan(it->tpl, it->pub.tpl_len, it->source,
				               it->pub.context, estimate_ref, &es, NULL);
			}
		}
		buf_free(&es.scratch);
		if (e != K_OK || es.total > PROFILE_RENDER_MAX)
			add_error(errors, "vars", "the rendered templates would exceed %d bytes",
			          PROFILE_RENDER_MAX);
	}

	json_decref(owners);
	json_decref(unitcfg);
	return json_array_size(errors) > nerr0 ? K_EINVAL : K_OK;
}

enum kerr profile_generate_secrets(const struct profile_set *ps, const json_t *profiles,
                                   const json_t *vars, json_t **out)
{
	enum kerr e = K_OK;
	json_t *res = json_object(), *val;
	char secret[SECRET_LEN + 1];
	size_t i;

	if (!res)
		return K_ENOMEM;
	json_array_foreach (profiles, i, val) {
		const struct profile *p = profile_get(ps, json_string_value(val));
		for (size_t j = 0; p && j < p->nvars; j++) {
			const struct var *v = &p->vars[j];
			if (!v->secret || json_is_string(json_object_get(vars, v->name)) ||
			    json_object_get(res, v->name))
				continue;
			/* the rules of every chosen profile that declares it */
			const struct rule *rules[PROFILES_PER_CLUSTER];
			size_t nrules = 0;
			size_t k;
			json_t *pv;
			json_array_foreach (profiles, k, pv) {
				const struct profile *q = profile_get(ps, json_string_value(pv));
				const struct var *w = q ? find_var(q, v->name) : NULL;
				if (w && nrules < PROFILES_PER_CLUSTER)
					rules[nrules++] = w->rule;
			}
			e = secret_for(rules, nrules, secret);
			if (e != K_OK)
				goto out;
			if (json_object_set_new(res, v->name, json_string(secret)) < 0) {
				e = K_ENOMEM;
				goto out;
			}
		}
	}
	*out = res;
	res = NULL;
out:
	explicit_bzero(secret, sizeof(secret));
	json_decref(res);
	return e;
}
