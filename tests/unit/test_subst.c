/* test_subst.c - ${name} substitution and the $${X} escape. */
#include "../../server/subst.h"
#include "test.h"

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
	*e = subst_expand(s, strlen(s), "t.tpl", lookup, NULL, &out, &msg);
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
	CHECK_INT(subst_expand("${name}${name}", 14, "t", lookup, NULL, &out, NULL), K_ETOOBIG);
	buf_free(&out);

	/* NUL is an ordinary byte. */
	buf_init(&out, 100);
	CHECK_INT(subst_expand("a\0${name}", 9, "t", lookup, NULL, &out, NULL), K_OK);
	CHECK_INT(out.len, 6);
	CHECK(memcmp(out.data, "a\0demo", 6) == 0);
	buf_free(&out);
}

struct seen {
	char names[16][SUBST_NAME_MAX + 1];
	unsigned lines[16];
	int n;
};

static enum kerr record(void *ctx, const char *name, unsigned line)
{
	struct seen *s = ctx;
	if (s->n == 16)
		return K_ELIMIT;
	snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
	s->lines[s->n++] = line;
	return K_OK;
}

static enum kerr refuse_b(void *ctx, const char *name, unsigned line)
{
	(void)ctx;
	(void)line;
	return strcmp(name, "b") == 0 ? K_EEXIST : K_OK;
}

static void scan_lists_references(void)
{
	const char *t = "${a} $${not_me}\n$x ${b}\n\n${a}$";
	struct seen s = {.n = 0};
	struct buf msg;

	CHECK_INT(subst_scan(t, strlen(t), "t", record, &s, NULL), K_OK);
	CHECK_INT(s.n, 3);
	CHECK_STR(s.names[0], "a");
	CHECK_INT(s.lines[0], 1);
	CHECK_STR(s.names[1], "b");
	CHECK_INT(s.lines[1], 2);
	CHECK_STR(s.names[2], "a");
	CHECK_INT(s.lines[2], 4);

	/* The callback's error stops the scan and comes back. */
	CHECK_INT(subst_scan(t, strlen(t), "t", refuse_b, NULL, NULL), K_EEXIST);

	buf_init(&msg, 1024);
	CHECK_INT(subst_scan("ok\n${bad", 8, "f.conf", record, &s, &msg), K_EINVAL);
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
		enum kerr e = subst_expand(tpl, n, "noise", any, NULL, &out, NULL);
		CHECK(e == K_OK || e == K_EINVAL);
		buf_free(&out);
	}
}

int main(void)
{
	RUN(expands_the_rules);
	RUN(errors_name_file_and_line);
	RUN(names_and_limits);
	RUN(scan_lists_references);
	RUN(survives_noise);
	return TEST_EXIT();
}
