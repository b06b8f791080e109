/* test_render.c - Ignition rendering: goldens, ignition-validate on every 3.x output, negotiation.
 */
#include "../../server/render.h"
#include "test.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Set UPDATE_GOLDEN=1 to rewrite tests/golden/ from the current output. */

static char srcdir[4096] = ".";
static struct profile_set *ps;

static const char *ca_pem = "-----BEGIN CERTIFICATE-----\n"
                            "MIIBjjCCATOgAwIBAgIUFyJUPDvHX5/YjS2VG9Tb2Ab5cB0wCgYIKoZIzj0EAwIw\n"
                            "GzEZMBcGA1UEAwwQa2luZGxpbmcgdGVzdCBDQTAgFw0yNjExMjIwMjMyNTBaGA8y\n"
                            "MTI2MTAyOTAyMzI1MFowGzEZMBcGA1UEAwwQa2luZGxpbmcgdGVzdCBDQTBZMBMG\n"
                            "ByqGSM49AgEGCCqGSM49AwEHA0IABNgbT2GBjLCfbDEbNCoM956E/O2J1oQlJFpK\n"
                            "hQjEERRFTDT0cQgITdD2Neo2wKZl9N5nThTO6k59heZAjGa6hcOjUzBRMB0GA1Ud\n"
                            "DgQWBBSGNduJ08vohMIEnSl09vjQOFy/+TAfBgNVHSMEGDAWgBSGNduJ08vohMIE\n"
                            "nSl09vjQOFy/+TAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQD3\n"
                            "KW5MO/H3vdfPUUcH8uyjfqusITAuv+C3VUl0oXLzHwIhAMTF2Ya2nKV+QmyhoqKm\n"
                            "yfXcypeYo7BSfQZXcLQe9H1G\n"
                            "-----END CERTIFICATE-----\n";

static const char *hash512 =
        "sha512-cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0f"
        "f8318d2877eec2f63b931bd47417a81a538327af927da3e";

/* The etcd drop-in: the old Terraform module's, with the join step (issue 16):
 * the bootstrap flags come from the file /opt/kindling/etcd-join writes. */
static const char *etcd_dropin =
        "[Unit]\n"
        "Requires=coreos-metadata.service\n"
        "After=coreos-metadata.service\n"
        "\n"
        "[Service]\n"
        "EnvironmentFile=/run/metadata/coreos\n"
        "# Written by the ExecStartPre below: KINDLING_ETCD_BOOTSTRAP is\n"
        "# --discovery=<the cluster's URL> (a founding member, or a reboot with its\n"
        "# data), or --initial-cluster=... --initial-cluster-state=existing (a\n"
        "# replacement that etcd-join added to the formed cluster).\n"
        "EnvironmentFile=-/run/kindling/etcd-bootstrap.env\n"
        "ExecStartPre=/opt/kindling/etcd-join /etc/kindling/etcd-join.env "
        "/run/kindling/etcd-bootstrap.env\n"
        "ExecStart=\n"
        "ExecStart=/usr/lib/coreos/etcd-wrapper $ETCD_OPTS \\\n"
        "  --listen-peer-urls=\"http://${COREOS_EC2_IPV4_LOCAL}:2380\" \\\n"
        "  --listen-client-urls=\"http://0.0.0.0:2379\" \\\n"
        "  --initial-advertise-peer-urls=\"http://${COREOS_EC2_IPV4_LOCAL}:2380\" \\\n"
        "  --advertise-client-urls=\"http://${COREOS_EC2_IPV4_LOCAL}:2379\" \\\n"
        "  $KINDLING_ETCD_BOOTSTRAP\n";

/* The join step's inputs as the goldens' cluster renders them. */
static const char *etcd_join_env =
        "# Written by kindling (profile etcd) for cluster demo: the inputs\n"
        "# of /opt/kindling/etcd-join (etcd-member.service's ExecStartPre).\n"
        "KINDLING_DISCOVERY_URL=https://kindling.example.com/discovery/"
        "5f0c2e3a9b7d4e61a8c3f2b1d0e9a7c6\n"
        "KINDLING_CLUSTER_SIZE=3\n"
        "KINDLING_REPLACE_AFTER=120\n"
        "KINDLING_JOIN_RETRY=10\n";

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

/* Compares got with tests/golden/name, or rewrites it under UPDATE_GOLDEN=1. */
static void golden(const char *name, const char *got, size_t len)
{
	char path[4300];
	char *want = NULL;
	long n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/golden/%s", srcdir, name);
	if (getenv("UPDATE_GOLDEN")) {
		f = fopen(path, "w");
		CHECK(f != NULL);
		if (f) {
			fwrite(got, 1, len, f);
			fclose(f);
		}
		return;
	}
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "  missing golden %s (run with UPDATE_GOLDEN=1)\n", path);
		CHECK(0);
		return;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	want = malloc((size_t)n + 1);
	if (fread(want, 1, (size_t)n, f) != (size_t)n)
		n = -1;
	fclose(f);
	if (n != (long)len || memcmp(want, got, len) != 0) {
		size_t i = 0;
		while (n >= 0 && i < len && i < (size_t)n && want[i] == got[i])
			i++;
		fprintf(stderr,
		        "  %s differs from the output at byte %zu (%ld vs %zu bytes); "
		        "UPDATE_GOLDEN=1 rewrites it\n  got: %.200s\n",
		        name, i, n, len, got + (i > 40 ? i - 40 : 0));
		CHECK(0);
	}
	free(want);
}

/*
 * Runs the real ignition-validate on json; true when it exits 0 and prints
 * nothing at all. A 3.4.0 config is checked as "3.4.0-experimental", the only
 * name Ignition 2.14 knows for it; 3.5.0 and 3.6.0 by
 * tests/unit/check_3x_spec.sh, with the same rule.
 */
static bool validate_q(const char *json, size_t len, const char *what, bool quiet)
{
	const char *env = getenv("IGNITION_VALIDATE");
	const char *bin = env ? env : "/usr/bin/ignition-validate";
	char path[] = "/tmp/kindling-ign-XXXXXX", cmd[4400], out[4096], spec[4300];
	const char *v34 = "\"version\":\"3.4.0\"", *p;
	size_t got = 0;
	int fd, status;
	FILE *pipe;

	/* 3.5.0 and 3.6.0: no Debian Ignition knows them; the project's own
	 * validator, written from the specs, checks them instead */
	p = strstr(json, "\"version\":\"3.");
	if (p && (size_t)(p - json) < 40 && (p[13] == '5' || p[13] == '6')) {
		snprintf(spec, sizeof(spec), "sh %s/tests/unit/check_3x_spec.sh", srcdir);
		bin = spec;
	} else if (access(bin, X_OK) != 0) {
		fprintf(stderr, "  %s is not installed (Debian package ignition)\n", bin);
		return false;
	}
	fd = mkstemp(path);
	if (fd < 0)
		return false;
	p = strstr(json, v34);
	if (p && (size_t)(p - json) < 40) {
		size_t head = (size_t)(p - json) + strlen(v34) - 1;
		if (write(fd, json, head) < 0 || write(fd, "-experimental", 13) < 0 ||
		    write(fd, json + head, len - head) < 0)
			return false;
	} else if (write(fd, json, len) != (ssize_t)len) {
		return false;
	}
	close(fd);
	snprintf(cmd, sizeof(cmd), "%s %s 2>&1", bin, path);
	pipe = popen(cmd, "r");
	if (!pipe)
		return false;
	for (size_t r; (r = fread(out + got, 1, sizeof(out) - 1 - got, pipe)) > 0;)
		got += r;
	out[got] = '\0';
	status = pclose(pipe);
	unlink(path);
	if (status != 0 || got != 0) {
		if (!quiet)
			fprintf(stderr, "  ignition-validate %s: status %d, output: %s\n", what,
			        status, out);
		return false;
	}
	return true;
}

static bool validate(const char *json, size_t len, const char *what)
{
	return validate_q(json, len, what, false);
}

/* The harness itself: a warning with exit status 0 is a failure too. */
static void validator_fails_on_any_output(void)
{
	const char *warn = "{\"ignition\":{\"version\":\"3.3.0\"},\"systemd\":{\"units\":"
	                   "[{\"name\":\"a.service\",\"enable\":true}]}}";
	const char *bad = "{\"ignition\":{\"version\":\"2.1.0\"}}";
	const char *good = "{\"ignition\":{\"version\":\"3.4.0\"}}";
	CHECK(!validate_q(warn, strlen(warn), "warning", true));
	CHECK(!validate_q(bad, strlen(bad), "2.1.0", true));
	CHECK(validate(good, strlen(good), "3.4.0 as experimental"));
	/* 3.5.0 and 3.6.0 go to the spec validator, which refuses as strictly */
	const char *suid35 = "{\"ignition\":{\"version\":\"3.5.0\"},\"storage\":{\"files\":"
	                     "[{\"path\":\"/x\",\"mode\":2541}]}}";
	const char *suid36 = "{\"ignition\":{\"version\":\"3.6.0\"},\"storage\":{\"files\":"
	                     "[{\"path\":\"/x\",\"mode\":2541}]}}";
	const char *enable36 = "{\"ignition\":{\"version\":\"3.6.0\"},\"systemd\":{\"units\":"
	                       "[{\"name\":\"a.service\",\"enable\":true}]}}";
	CHECK(!validate_q(suid35, strlen(suid35), "3.5.0 setuid", true));
	CHECK(validate(suid36, strlen(suid36), "3.6.0 setuid"));
	CHECK(!validate_q(enable36, strlen(enable36), "3.6.0 enable", true));
}

/* The fixed cluster of the goldens. */
static enum kerr render(const char *profiles, const char *vars, const char *version, char **out,
                        size_t *out_len)
{
	json_t *p = json_loads(profiles, 0, NULL);
	json_t *v = json_loads(vars ? vars : "{}", 0, NULL);
	json_t *s = json_pack("{s:s,s:s}", "rabbitmq_admin_password",
	                      "Adm1nPassw0rdAdm1nPassw0rdAdm1nP", "rabbitmq_erlang_cookie",
	                      "C00kieC00kieC00kieC00kieC00kie42");
	struct render_cluster c = {
	        .name = "demo",
	        .id = "6f1c2a7e-0b4d-4c1e-9a43-3f5e8d2b7c10",
	        .size = 3,
	        .discovery_url = "https://kindling.example.com/discovery/"
	                         "5f0c2e3a9b7d4e61a8c3f2b1d0e9a7c6",
	        .discovery_token = "5f0c2e3a9b7d4e61a8c3f2b1d0e9a7c6",
	        .discovery_endpoints = "http://kindling.example.com:8081",
	        .public_url = "https://kindling.example.com",
	        .profiles = p,
	        .vars = v,
	        .secrets = s,
	};
	enum kerr e = render_config(ps, &c, version, out, out_len);
	json_decref(p);
	json_decref(v);
	json_decref(s);
	return e;
}

static const struct combo {
	const char *file; /* golden name stem */
	const char *profiles;
	const char *vars;
} combos[] = {
        {"etcd", "[\"etcd\"]", NULL},
        {"rabbitmq", "[\"rabbitmq\"]", NULL},
        {"etcd-v3", "[\"etcd-v3\"]", NULL},
        {"etcd+rabbitmq", "[\"rabbitmq\", \"etcd\"]",
         "{\"rabbitmq_image\": \"quay.io/example/rabbitmq:3.10-management\"}"},
        {"etcd+rabbitmq+report", "[\"etcd\", \"rabbitmq\", \"report\"]", NULL},
};

static void versions_table(void)
{
	static const char *want[] = {"3.6.0", "3.5.0", "3.4.0", "3.3.0", "3.2.0",
	                             "3.1.0", "3.0.0", "2.3.0", "2.2.0", "2.1.0"};
	size_t n = 0;
	while (render_versions[n])
		n++;
	CHECK_INT(n, 10);
	CHECK_INT(render_nspecs, 10);
	for (size_t i = 0; i < n && i < 10; i++) {
		CHECK_STR(render_versions[i], want[i]);
		CHECK_STR(render_specs[i].version, want[i]);
		CHECK(render_version_known(want[i]));
		CHECK(render_spec_find(want[i]) == &render_specs[i]);
	}
	/* what each adds, from the one table */
	CHECK(render_spec_find("3.6.0")->features & RENDER_SPECIAL_MODE);
	CHECK(!(render_spec_find("3.5.0")->features & RENDER_SPECIAL_MODE));
	CHECK(render_spec_find("3.5.0")->features & RENDER_LUKS_CEX);
	CHECK(!(render_spec_find("3.4.0")->features & RENDER_LUKS_CEX));
	CHECK(!(render_spec_find("3.0.0")->features & RENDER_HTTP_HEADERS));
	CHECK(render_spec_find("3.1.0")->features & RENDER_HTTP_HEADERS);
	struct buf b;
	buf_init(&b, 256);
	render_versions_list(&b);
	CHECK_STR(buf_str(&b),
	          "3.6.0, 3.5.0, 3.4.0, 3.3.0, 3.2.0, 3.1.0, 3.0.0, 2.3.0, 2.2.0, 2.1.0");
	buf_free(&b);
	json_t *d = render_describe("3.3.0");
	CHECK_STR(json_string_value(json_object_get(d, "default")), "3.3.0");
	json_t *vs = json_object_get(d, "versions");
	CHECK_INT(json_array_size(vs), 10);
	CHECK_STR(json_string_value(json_object_get(json_array_get(vs, 0), "version")), "3.6.0");
	CHECK_STR(json_string_value(json_object_get(json_array_get(vs, 0), "stable_since")),
	          "2.26.0");
	json_t *f0 = json_object_get(json_array_get(vs, 0), "features");
	CHECK_STR(json_string_value(json_array_get(f0, json_array_size(f0) - 1)),
	          "special_mode_bits");
	size_t i;
	json_t *f;
	int found = 0;
	json_array_foreach (json_object_get(d, "features"), i, f) {
		const char *name = json_string_value(json_object_get(f, "name"));
		const char *since = json_string_value(json_object_get(f, "since"));
		found += !strcmp(name, "special_mode_bits") && !strcmp(since, "3.6.0");
		found += !strcmp(name, "luks_cex") && !strcmp(since, "3.5.0");
		found += !strcmp(name, "http_headers") && !strcmp(since, "3.1.0");
	}
	CHECK_INT(found, 3);
	json_decref(d);
	CHECK(!render_version_known("3.4.0-experimental"));
	CHECK(!render_version_known("2.0.0"));
	CHECK(!render_version_known(""));
	CHECK(!render_version_known(NULL));
}

static void negotiates(void)
{
	static const char *ign = "application/vnd.coreos.ignition+json";
	static const struct {
		const char *query, *accept, *dflt;
		enum kerr e;
		const char *want;
	} cases[] = {
	        {NULL, NULL, "3.3.0", K_OK, "3.3.0"},
	        {NULL, "*/*", "3.1.0", K_OK, "3.1.0"},
	        {NULL, "", "2.3.0", K_OK, "2.3.0"},
	        {NULL, "application/vnd.coreos.ignition+json;version=3.3.0, */*;q=0.1", "3.0.0",
	         K_OK, "3.3.0"},
	        {NULL, "application/vnd.coreos.ignition+json;version=3.5.0, */*;q=0.1", "3.0.0",
	         K_OK, "3.5.0"},
	        {NULL, "application/vnd.coreos.ignition+json;version=3.6.0, */*;q=0.1", "3.3.0",
	         K_OK, "3.6.0"},
	        {NULL, "application/vnd.coreos.ignition+json;version=3.5.0", "3.6.0", K_OK,
	         "3.5.0"},
	        {NULL, "application/vnd.coreos.ignition+json;version=3.7.0, */*;q=0.1", "3.3.0",
	         K_OK, "3.6.0"},
	        {NULL, "application/vnd.coreos.ignition+json;version=3.7.0-experimental", "3.3.0",
	         K_OK, "3.6.0"},
	        {NULL, "application/vnd.coreos.ignition+json;version=3.6.0-experimental", "3.3.0",
	         K_OK, "3.5.0"},
	        {NULL, "application/vnd.coreos.ignition+json;version=3.4.0-experimental", "2.2.0",
	         K_OK, "3.3.0"},
	        {NULL,
	         "application/vnd.coreos.ignition+json; version=2.2.0, "
	         "application/vnd.coreos.ignition+json; version=1; q=0.5, */*; q=0.1",
	         "3.3.0", K_OK, "2.2.0"},
	        {NULL, "application/vnd.coreos.ignition+json; version=2.4.0", "3.3.0", K_OK,
	         "2.3.0"},
	        {NULL, "application/vnd.coreos.ignition+json;version=4.0.0", "3.3.0", K_ENOTACCEPT,
	         NULL},
	        {NULL, "application/vnd.coreos.ignition+json;version=2.0.0", "3.3.0", K_ENOTACCEPT,
	         NULL},
	        {NULL, "application/vnd.coreos.ignition+json;version=4.0.0, */*;q=0.1", "3.2.0",
	         K_OK, "3.2.0"},
	        {NULL, "application/vnd.coreos.ignition+json;version=3.3.0;q=0, */*", "3.0.0", K_OK,
	         "3.0.0"},
	        {NULL, "APPLICATION/VND.COREOS.IGNITION+JSON ; Version=\"3.2.0\"", "3.0.0", K_OK,
	         "3.2.0"},
	        {NULL, "application/vnd.coreos.ignition+json;version=3", "3.3.0", K_OK, "3.0.0"},
	        {NULL,
	         "application/vnd.coreos.ignition+json;version=3.1.0, "
	         "application/vnd.coreos.ignition+json;version=3.3.0",
	         "3.0.0", K_OK, "3.3.0"},
	        {NULL,
	         "application/vnd.coreos.ignition+json;version=3.3.0;q=0.2, "
	         "application/vnd.coreos.ignition+json;version=2.2.0;q=0.9",
	         "3.0.0", K_OK, "2.2.0"},
	        {NULL, "application/vnd.coreos.ignition+json;version=3.3.0;a=b;c;d=;;", "3.0.0",
	         K_OK, "3.3.0"},
	        {NULL, "application/vnd.coreos.ignition+json", "3.1.0", K_OK, "3.1.0"},
	        {NULL, "application/vnd.coreos.ignition+json;version=", "3.3.0", K_ENOTACCEPT,
	         NULL},
	        {NULL, "application/vnd.coreos.ignition+json;version=99999999999999999999.0.0",
	         "3.3.0", K_ENOTACCEPT, NULL},
	        {NULL, "application/vnd.coreos.ignition+json;version=3.x.0, */*", "3.1.0", K_OK,
	         "3.1.0"},
	        {NULL, "text/html,application/xhtml+xml", "3.3.0", K_OK, "3.3.0"},
	        {NULL, ";;;,,,=;version,=,;q=,*/;q=1.5", "3.2.0", K_OK, "3.2.0"},
	        {NULL, "*/*;q=abc", "3.2.0", K_OK, "3.2.0"},
	        {NULL, "\t application/vnd.coreos.ignition+json \t;\tversion=3.2.0\t", "3.0.0",
	         K_OK, "3.2.0"},
	        {NULL, NULL, "9.9.9", K_OK, "3.3.0"},
	        {NULL, NULL, NULL, K_OK, "3.3.0"},
	        {"2.1.0", "application/vnd.coreos.ignition+json;version=3.3.0", "3.3.0", K_OK,
	         "2.1.0"},
	        {"3.4.0", NULL, "3.3.0", K_OK, "3.4.0"},
	        {"3.5.0", NULL, "3.3.0", K_OK, "3.5.0"},
	        {"3.6.0", "application/vnd.coreos.ignition+json;version=3.3.0", "3.3.0", K_OK,
	         "3.6.0"},
	        /* ?version= resolves by Accept's rule: newest not above it, same major */
	        {"3.7.0", NULL, "3.3.0", K_OK, "3.6.0"},
	        {"3.9.0", "*/*", "3.3.0", K_OK, "3.6.0"},
	        {"2.4.0", NULL, "3.3.0", K_OK, "2.3.0"},
	        {"3.4.0-experimental", NULL, "3.3.0", K_OK, "3.3.0"},
	        {"4.0.0", NULL, "3.3.0", K_ENOTACCEPT, NULL},
	        {"2.0.0", NULL, "3.3.0", K_ENOTACCEPT, NULL},
	        {"9.9.9", NULL, "3.3.0", K_ENOTACCEPT, NULL},
	        {"3.x", NULL, "3.3.0", K_ENOTACCEPT, NULL},
	        {"3.3", NULL, "3.3.0", K_ENOTACCEPT, NULL},
	        {"3", NULL, "3.3.0", K_ENOTACCEPT, NULL},
	        {"3.7.0-", NULL, "3.3.0", K_ENOTACCEPT, NULL},
	        {"3.7.0 ", NULL, "3.3.0", K_ENOTACCEPT, NULL},
	        {"3..0", NULL, "3.3.0", K_ENOTACCEPT, NULL},
	        {"3.7.0-rc.1", NULL, "3.3.0", K_OK, "3.6.0"},
	        {"latest", NULL, "3.3.0", K_ENOTACCEPT, NULL},
	        {"", NULL, "3.3.0", K_ENOTACCEPT, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *v = "unset";
		enum kerr e = render_negotiate(cases[i].query, cases[i].accept, cases[i].dflt, &v);
		bool ok = e == cases[i].e && (!cases[i].want || strcmp(v, cases[i].want) == 0);
		if (!ok) {
			fprintf(stderr, "  case %zu (%s | %s): rc %d version %s, want %d %s\n", i,
			        cases[i].query ? cases[i].query : "-",
			        cases[i].accept ? cases[i].accept : "-", e, v, cases[i].e,
			        cases[i].want ? cases[i].want : "-");
			CHECK(0);
		}
	}

	/* Huge headers: bounded work, no crash. */
	size_t big = 1 << 20;
	char *h = malloc(big + 200);
	for (size_t i = 0; i < big; i++)
		h[i] = "a;=,\" "[i % 6];
	h[big] = '\0';
	const char *v = NULL;
	CHECK_INT(render_negotiate(NULL, h, "3.1.0", &v), K_OK);
	CHECK_STR(v, "3.1.0");
	memset(h, 'x', big);
	CHECK_INT(render_negotiate(NULL, h, "3.1.0", &v), K_OK);
	/* the first 64 ranges are looked at, later ones not */
	size_t n = 0;
	for (int i = 0; i < 100000 && n + 64 < big; i++)
		n += (size_t)snprintf(h + n, big - n, "text/plain;q=0.5, ");
	snprintf(h + n, big + 200 - n, "%s;version=3.3.0", ign);
	CHECK_INT(render_negotiate(NULL, h, "3.0.0", &v), K_OK);
	CHECK_STR(v, "3.0.0");
	snprintf(h, big, "%s;version=3.1.0, %s", ign, "text/plain, text/plain");
	CHECK_INT(render_negotiate(NULL, h, "3.0.0", &v), K_OK);
	CHECK_STR(v, "3.1.0");
	free(h);

	/* Noise: any byte soup. */
	unsigned x = 7;
	char s[300];
	for (int round = 0; round < 5000; round++) {
		size_t len = (size_t)(round % 299);
		for (size_t i = 0; i < len; i++) {
			static const char alpha[] =
			        "application/vnd.coreos.ignition+json;version=3.2"
			        ".0,q= \t\"*/-";
			x = x * 1103515245u + 12345u;
			s[i] = alpha[(x >> 16) % (sizeof(alpha) - 1)];
		}
		s[len] = '\0';
		enum kerr e = render_negotiate(NULL, s, "3.3.0", &v);
		CHECK(e == K_OK || e == K_ENOTACCEPT);
		if (e == K_OK)
			CHECK(render_version_known(v));
	}
}

static void renders_goldens_that_validate(void)
{
	static const char *golden_versions[] = {"3.6.0", "3.5.0", "3.4.0", "3.3.0",
	                                        "3.0.0", "2.3.0", "2.1.0"};
	char name[128];

	for (size_t c = 0; c < sizeof(combos) / sizeof(combos[0]); c++) {
		for (size_t i = 0; render_versions[i]; i++) {
			const char *ver = render_versions[i];
			char *out = NULL, *again = NULL;
			size_t len = 0, len2 = 0;
			CHECK_INT(render(combos[c].profiles, combos[c].vars, ver, &out, &len),
			          K_OK);
			if (!out)
				continue;
			CHECK_INT(len, strlen(out));
			CHECK_INT(render(combos[c].profiles, combos[c].vars, ver, &again, &len2),
			          K_OK);
			CHECK(again && len == len2 && memcmp(out, again, len) == 0);
			snprintf(name, sizeof(name), "%s %s", combos[c].file, ver);
			if (ver[0] == '3')
				CHECK(validate(out, len, name));
			for (size_t g = 0; g < 7; g++) {
				if (strcmp(golden_versions[g], ver) != 0)
					continue;
				snprintf(name, sizeof(name), "%s-%s.ign", combos[c].file, ver);
				golden(name, out, len);
			}
			/* no empty arrays or objects anywhere */
			CHECK(!strstr(out, "[]") && !strstr(out, "{}"));
			free(out);
			free(again);
		}
	}
}

/* Decodes a data URL's percent-encoding into a malloc'd string. */
static char *undata(const char *url)
{
	size_t n = strlen(url);
	char *s = malloc(n + 1), *o = s;
	if (strncmp(url, "data:,", 6) != 0) {
		free(s);
		return NULL;
	}
	for (const char *p = url + 6; *p; p++) {
		unsigned v;
		if (*p == '%' && sscanf(p + 1, "%2x", &v) == 1) {
			*o++ = (char)v;
			p += 2;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return s;
}

/* kindling's CA (--tls-ca) rides along as one more file, in 2.x and 3.x */
static void carries_the_ca(void)
{
	static const char *pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
	static const char *const versions[] = {"3.4.0", "3.0.0", "2.1.0"};
	json_t *p = json_pack("[s]", "etcd"), *v = json_object(), *sec = json_object();
	struct render_cluster c = {
	        .name = "demo",
	        .id = "6f1c2a7e-0b4d-4c1e-9a43-3f5e8d2b7c10",
	        .size = 3,
	        .discovery_url = "https://kindling.example.com/discovery/x",
	        .public_url = "https://kindling.example.com",
	        .profiles = p,
	        .vars = v,
	        .secrets = sec,
	        .ca_pem = pem,
	};
	for (size_t i = 0; i < 3; i++) {
		char *out = NULL;
		size_t len;
		CHECK_INT(render_config(ps, &c, versions[i], &out, &len), K_OK);
		json_t *j = json_loads(out ? out : "", 0, NULL);
		json_t *files = json_object_get(json_object_get(j, "storage"), "files");
		json_t *ca = NULL, *f;
		size_t k;
		int n = 0;
		json_array_foreach (files, k, f) {
			if (!strcmp(json_string_value(json_object_get(f, "path")),
			            RENDER_CA_PATH)) {
				ca = f;
				n++;
			}
		}
		CHECK_INT(n, 1);
		CHECK_INT(json_integer_value(json_object_get(ca, "mode")), 0644);
		char *data = undata(json_string_value(
		        json_object_get(json_object_get(ca, "contents"), "source")));
		CHECK_STR(data, pem);
		free(data);
		CHECK_INT(json_array_size(files), 3); /* the etcd profile's two, and the CA */
		json_decref(j);
		free(out);
	}
	/* without a CA, no such file */
	c.ca_pem = NULL;
	char *out = NULL;
	size_t len;
	CHECK_INT(render_config(ps, &c, "3.4.0", &out, &len), K_OK);
	CHECK(out && !strstr(out, RENDER_CA_PATH));
	free(out);
	json_decref(p);
	json_decref(v);
	json_decref(sec);
}

static void renders_the_right_content(void)
{
	char *out = NULL;
	size_t len;
	json_t *j, *units, *files, *u, *f;

	/* etcd: the drop-in exactly as the old Terraform module rendered it, enabled */
	CHECK_INT(render("[\"etcd\"]", NULL, "3.3.0", &out, &len), K_OK);
	j = json_loads(out ? out : "", 0, NULL);
	units = json_object_get(json_object_get(j, "systemd"), "units");
	CHECK_INT(json_array_size(units), 1);
	u = json_array_get(units, 0);
	CHECK_STR(json_string_value(json_object_get(u, "name")), "etcd-member.service");
	CHECK(json_is_true(json_object_get(u, "enabled")));
	CHECK(json_object_get(u, "contents") == NULL);
	json_t *d = json_array_get(json_object_get(u, "dropins"), 0);
	CHECK_STR(json_string_value(json_object_get(d, "name")), "20-clct-etcd-member.conf");
	CHECK_STR(json_string_value(json_object_get(d, "contents")), etcd_dropin);
	files = json_object_get(json_object_get(j, "storage"), "files");
	CHECK_INT(json_array_size(files), 2);
	f = json_array_get(files, 0);
	CHECK_STR(json_string_value(json_object_get(f, "path")), "/etc/kindling/etcd-join.env");
	CHECK_INT(json_integer_value(json_object_get(f, "mode")), 0600);
	char *envf = undata(
	        json_string_value(json_object_get(json_object_get(f, "contents"), "source")));
	CHECK_STR(envf, etcd_join_env);
	free(envf);
	f = json_array_get(files, 1);
	CHECK_STR(json_string_value(json_object_get(f, "path")), "/opt/kindling/etcd-join");
	CHECK_INT(json_integer_value(json_object_get(f, "mode")), 0755);
	char *script = undata(
	        json_string_value(json_object_get(json_object_get(f, "contents"), "source")));
	CHECK(script && strncmp(script, "#!/bin/sh\n", 10) == 0);
	CHECK(script && strstr(script, "for cluster demo.\n"));
	CHECK(script && strstr(script, "REPLACE_AFTER=${KINDLING_REPLACE_AFTER:-120}\n"));
	free(script);
	json_decref(j);
	free(out);

	/* rabbitmq in 3.x: files, modes, owners, variables, secrets */
	CHECK_INT(render("[\"etcd\", \"rabbitmq\"]",
	                 "{\"rabbitmq_admin_user\": \"ops\", \"rabbitmq_erlang_cookie\": \"mine\"}",
	                 "3.2.0", &out, &len),
	          K_OK);
	j = json_loads(out ? out : "", 0, NULL);
	units = json_object_get(json_object_get(j, "systemd"), "units");
	files = json_object_get(json_object_get(j, "storage"), "files");
	CHECK_INT(json_array_size(units), 2);
	CHECK_STR(json_string_value(json_object_get(json_array_get(units, 1), "name")),
	          "rabbitmq.service");
	const char *rc = json_string_value(json_object_get(json_array_get(units, 1), "contents"));
	CHECK(rc && strstr(rc, "RABBITMQ_NODENAME=rabbit@${COREOS_EC2_IPV4_LOCAL}"));
	CHECK(rc && strstr(rc, "  docker.io/library/rabbitmq:3.10-management\n"));
	CHECK(rc && strstr(rc, "until curl -fsS http://127.0.0.1:2379/health;"));
	CHECK(rc && strstr(rc, "\nRequires=docker.socket\nAfter=docker.socket\n"));
	/* sorted by path: the etcd profile's two files among them */
	CHECK_INT(json_array_size(files), 5);
	const char *paths[] = {"/etc/kindling/etcd-join.env", "/etc/rabbitmq/enabled_plugins",
	                       "/etc/rabbitmq/rabbitmq.conf", "/opt/kindling/etcd-join",
	                       "/var/lib/rabbitmq/.erlang.cookie"};
	for (size_t i = 0; i < 5; i++) {
		f = json_array_get(files, i);
		CHECK_STR(json_string_value(json_object_get(f, "path")), paths[i]);
		CHECK(json_is_true(json_object_get(f, "overwrite")));
		CHECK(json_object_get(f, "filesystem") == NULL);
	}
	f = json_array_get(files, 4);
	CHECK_INT(json_integer_value(json_object_get(f, "mode")), 0400);
	CHECK_INT(json_integer_value(json_object_get(json_object_get(f, "user"), "id")), 999);
	CHECK_INT(json_integer_value(json_object_get(json_object_get(f, "group"), "id")), 999);
	char *cookie = undata(
	        json_string_value(json_object_get(json_object_get(f, "contents"), "source")));
	CHECK_STR(cookie, "mine");
	free(cookie);
	f = json_array_get(files, 2);
	CHECK_INT(json_integer_value(json_object_get(f, "mode")), 0640);
	CHECK(json_object_get(f, "user") == NULL);
	char *conf = undata(
	        json_string_value(json_object_get(json_object_get(f, "contents"), "source")));
	CHECK(conf && strstr(conf, "\ncluster_formation.peer_discovery_backend = etcd\n"));
	CHECK(conf && strstr(conf, "\ncluster_formation.etcd.endpoints.1 = 127.0.0.1:2379\n"));
	CHECK(conf && strstr(conf, "\ncluster_formation.etcd.cluster_name = demo\n"));
	CHECK(conf && strstr(conf, "\ndefault_user = ops\n"));
	CHECK(conf && strstr(conf, "\ndefault_pass = Adm1nPassw0rdAdm1nPassw0rdAdm1nP\n"));
	CHECK(conf && strstr(conf, "\nloopback_users = none\n"));
	free(conf);
	char *plugins = undata(json_string_value(
	        json_object_get(json_object_get(json_array_get(files, 1), "contents"), "source")));
	CHECK_STR(plugins, "[rabbitmq_management,rabbitmq_peer_discovery_etcd].\n");
	free(plugins);
	json_decref(j);
	free(out);

	/* 2.x: filesystem root, no overwrite, "enabled" */
	CHECK_INT(render("[\"rabbitmq\"]", NULL, "2.2.0", &out, &len), K_OK);
	j = json_loads(out ? out : "", 0, NULL);
	CHECK_STR(json_string_value(json_object_get(json_object_get(j, "ignition"), "version")),
	          "2.2.0");
	f = json_array_get(json_object_get(json_object_get(j, "storage"), "files"), 0);
	CHECK_STR(json_string_value(json_object_get(f, "filesystem")), "root");
	CHECK(json_object_get(f, "overwrite") == NULL);
	u = json_array_get(json_object_get(json_object_get(j, "systemd"), "units"), 0);
	CHECK(json_is_true(json_object_get(u, "enabled")));
	CHECK(json_object_get(u, "enable") == NULL);
	json_decref(j);
	free(out);

	/* an empty choice is a bare config */
	CHECK_INT(render("[]", NULL, "3.3.0", &out, &len), K_OK);
	CHECK_STR(out, "{\"ignition\":{\"version\":\"3.3.0\"}}");
	if (out)
		CHECK(validate(out, len, "empty"));
	free(out);

	/* errors */
	out = NULL;
	CHECK_INT(render("[\"etcd\"]", NULL, "3.4.0-experimental", &out, &len), K_EINVAL);
	CHECK_INT(render("[\"etcd\"]", NULL, "1.0.0", &out, &len), K_EINVAL);
	CHECK_INT(render("[\"nope\"]", NULL, "3.3.0", &out, &len), K_EINVAL);
	CHECK(out == NULL);
}

static enum kerr pointer(const char *ver, const char *token, const char *hash, const char *ca,
                         int total, char **out, size_t *len)
{
	struct render_pointer p = {
	        .version = ver,
	        .source_url = "https://kindling.example.com/clusters/demo/ignition",
	        .token = token,
	        .hash = hash,
	        .ca_pem = ca,
	        .http_total_s = total,
	};
	return render_pointer(&p, out, len);
}

static void renders_pointers(void)
{
	const char *token = "k1_Tok-en.~+/=";
	char name[128];

	for (size_t i = 0; render_versions[i]; i++) {
		const char *ver = render_versions[i];
		for (int full = 0; full < 2; full++) {
			char *out = NULL;
			size_t len = 0;
			const char *ca = full && strcmp(ver, "2.1.0") != 0 ? ca_pem : NULL;
			CHECK_INT(pointer(ver, token, full ? hash512 : NULL, ca, 600, &out, &len),
			          K_OK);
			if (!out)
				continue;
			snprintf(name, sizeof(name), "pointer-%s%s.ign", ver, full ? "-full" : "");
			golden(name, out, len);
			if (ver[0] == '3')
				CHECK(validate(out, len, name));
			CHECK(len < 4096);
			free(out);
		}
	}

	char *out = NULL;
	size_t len;
	CHECK_INT(pointer("3.3.0", "abc", NULL, NULL, 0, &out, &len), K_OK);
	CHECK_STR(out, "{\"ignition\":{\"version\":\"3.3.0\",\"config\":{\"replace\":{\"source\":"
	               "\"https://kindling.example.com/clusters/demo/ignition\",\"httpHeaders\":"
	               "[{\"name\":\"Authorization\",\"value\":\"Bearer abc\"}]}}}}");
	free(out);
	CHECK_INT(pointer("3.0.0", token, NULL, NULL, 30, &out, &len), K_OK);
	CHECK_STR(out, "{\"ignition\":{\"version\":\"3.0.0\",\"config\":{\"replace\":{\"source\":"
	               "\"https://kindling.example.com/clusters/demo/ignition?token=k1_Tok-en.~%2B%"
	               "2F%3D\"}},\"timeouts\":{\"httpTotal\":30}}}");
	free(out);
	CHECK_INT(pointer("2.2.0", "abc", NULL, NULL, 30, &out, &len), K_OK);
	CHECK(out && strstr(out, "ignition?token=abc\"") && !strstr(out, "httpHeaders"));
	free(out);
	struct render_pointer q = {.version = "3.1.0",
	                           .source_url = "http://h/ignition?x=1",
	                           .token = "t",
	                           .http_total_s = 0};
	q.version = "2.3.0";
	CHECK_INT(render_pointer(&q, &out, &len), K_OK);
	CHECK(out && strstr(out, "\"http://h/ignition?x=1&token=t\""));
	free(out);

	out = NULL;
	CHECK_INT(pointer("2.1.0", "t", NULL, ca_pem, 1, &out, &len), K_EINVAL);
	CHECK_INT(pointer("3.0.0", "t", "sha256-abc", NULL, 1, &out, &len), K_EINVAL);
	CHECK_INT(pointer("3.3.0", "t", "sha512-XYZ", NULL, 1, &out, &len), K_EINVAL);
	CHECK_INT(
	        pointer("3.3.0", "t", "md5-d41d8cd98f00b204e9800998ecf8427e", NULL, 1, &out, &len),
	        K_EINVAL);
	CHECK_INT(pointer("3.3.0", "t\r\nX-Evil: 1", NULL, NULL, 1, &out, &len), K_EINVAL);
	CHECK_INT(pointer("3.3.0", "", NULL, NULL, 1, &out, &len), K_EINVAL);
	CHECK_INT(pointer("3.3.0", "t", NULL, NULL, -1, &out, &len), K_EINVAL);
	CHECK_INT(pointer("9.9.9", "t", NULL, NULL, 1, &out, &len), K_EINVAL);
	q.version = "3.3.0";
	q.source_url = "file:///etc/passwd";
	CHECK_INT(render_pointer(&q, &out, &len), K_EINVAL);
	CHECK(out == NULL);
	/* sha256 is fine from 3.1.0 on */
	CHECK_INT(pointer("3.1.0", NULL,
	                  "sha256-e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	                  NULL, 0, &out, &len),
	          K_OK);
	if (out)
		CHECK(validate(out, len, "pointer sha256"));
	free(out);
}

/* Values that pass their rules reach units escaped for where they land. */
static void escapes_values_in_units(void)
{
	char *out = NULL;
	size_t len = 0;
	json_t *j, *units;

	/* shipped: an [IPv6]:port endpoint is a shell glob unless quoted */
	CHECK_INT(render("[\"rabbitmq\"]", "{\"rabbitmq_etcd_endpoint\": \"[fd00::1]:2379\"}",
	                 "3.3.0", &out, &len),
	          K_OK);
	j = json_loads(out ? out : "", 0, NULL);
	units = json_object_get(json_object_get(j, "systemd"), "units");
	const char *rc = json_string_value(json_object_get(json_array_get(units, 0), "contents"));
	CHECK(rc && strstr(rc, "\nExecStartPre=/bin/sh -c 'until curl -fsS "
	                       "http://\\'[fd00::1]:2379\\'/health; do sleep 2; done'\n"));
	if (out)
		CHECK(validate(out, len, "rabbitmq with an IPv6 endpoint"));
	json_t *f = json_array_get(json_object_get(json_object_get(j, "storage"), "files"), 1);
	char *conf = undata(
	        json_string_value(json_object_get(json_object_get(f, "contents"), "source")));
	CHECK(conf && strstr(conf, "\ncluster_formation.etcd.endpoints.1 = [fd00::1]:2379\n"));
	free(conf);
	json_decref(j);
	free(out);

	/* a custom profile: one line value with every systemd-special byte */
	char root[] = "/tmp/kindling-render-XXXXXX", path[256];
	struct profile_set *cps = NULL;
	const char *dirs[] = {root};
	FILE *fp;
	CHECK(mkdtemp(root) != NULL);
	static const char *const files[][2] = {
	        {"c", NULL},
	        {"c/systemd", NULL},
	        {"c/files", NULL},
	        {"c/profile.json",
	         "{\"variables\": {\"v\": {\"default\": \"d\"}}, \"files\": {\"/etc/c.sh\": "
	         "{\"context\": \"sh\"}, \"/etc/c.json\": {\"context\": \"json\"}}}"},
	        {"c/systemd/c.service", "[Unit]\nDescription=c ${v}\n[Service]\n"
	                                "Environment=V=${v}\nExecStart=/bin/echo ${v} \"${v}\"\n"
	                                "ExecStartPost=/bin/sh -c 'echo ${v|sh}'\n"
	                                "[Install]\nWantedBy=multi-user.target\n"},
	        {"c/files/etc/c.conf", "v=${v}\n"},
	        {"c/files/etc/c.sh", "echo ${v} ${v|raw}\n"},
	        {"c/files/etc/c.json", "{\"v\": ${v}}\n"},
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", root, files[i][0]);
		if (!files[i][1]) {
			mkdir(path, 0755);
			continue;
		}
		if (strchr(files[i][0] + 2, '/') && strncmp(files[i][0], "c/files/etc", 11) == 0) {
			char d[256];
			snprintf(d, sizeof(d), "%s/c/files/etc", root);
			mkdir(d, 0755);
		}
		fp = fopen(path, "w");
		CHECK(fp != NULL);
		if (fp) {
			fputs(files[i][1], fp);
			fclose(fp);
		}
	}
	struct buf msg;
	buf_init(&msg, 4096);
	CHECK_INT(profile_set_load(dirs, 1, &cps, &msg), K_OK);
	if (msg.len)
		fprintf(stderr, "  %s\n", buf_str(&msg));
	buf_free(&msg);
	json_t *profiles = json_pack("[s]", "c");
	json_t *vars = json_pack("{s:s}", "v", "50% $HOME ${X} it's \"q\" a\\b %H;");
	struct render_cluster c = {
	        .name = "c", .id = "1", .size = 1, .profiles = profiles, .vars = vars};
	CHECK_INT(render_config(cps, &c, "3.3.0", &out, &len), K_OK);
	if (out)
		CHECK(validate(out, len, "custom profile with systemd-special bytes"));
	j = json_loads(out ? out : "", 0, NULL);
	const char *unit = json_string_value(json_object_get(
	        json_array_get(json_object_get(json_object_get(j, "systemd"), "units"), 0),
	        "contents"));
	CHECK_STR(unit,
	          "[Unit]\nDescription=c 50%% $HOME ${X} it's \"q\" a\\b %%H;\n[Service]\n"
	          "Environment=V=50%%\\x20$HOME\\x20${X}\\x20it\\'s\\x20\\\"q\\\"\\x20a\\x5cb"
	          "\\x20%%H\\x3b\n"
	          "ExecStart=/bin/echo 50%%\\x20$$HOME\\x20$${X}\\x20it\\'s\\x20\\\"q\\\"\\x20a"
	          "\\x5cb\\x20%%H\\x3b \"50%%\\x20$$HOME\\x20$${X}\\x20it\\'s\\x20\\\"q\\\"\\x20a"
	          "\\x5cb\\x20%%H\\x3b\"\n"
	          "ExecStartPost=/bin/sh -c 'echo \\'50%%\\x20$$HOME\\x20$${X}\\x20it\\'\\x5c\\'\\'"
	          "s\\x20\\\"q\\\"\\x20a\\x5cb\\x20%%H\\x3b\\''\n"
	          "[Install]\nWantedBy=multi-user.target\n");
	json_t *fs = json_object_get(json_object_get(j, "storage"), "files");
	static const char *const want_files[][2] = {
	        {"/etc/c.conf", "v=50% $HOME ${X} it's \"q\" a\\b %H;\n"},
	        {"/etc/c.json", "{\"v\": \"50% $HOME ${X} it's \\\"q\\\" a\\\\b %H;\"}\n"},
	        {"/etc/c.sh", "echo '50% $HOME ${X} it'\\''s \"q\" a\\b %H;' 50% $HOME ${X} it's "
	                      "\"q\" a\\b %H;\n"},
	};
	CHECK_INT(json_array_size(fs), 3);
	for (size_t i = 0; i < 3; i++) {
		json_t *fi = json_array_get(fs, i);
		char *data = undata(json_string_value(
		        json_object_get(json_object_get(fi, "contents"), "source")));
		CHECK_STR(json_string_value(json_object_get(fi, "path")), want_files[i][0]);
		CHECK_STR(data, want_files[i][1]);
		free(data);
	}
	json_decref(j);
	free(out);
	out = NULL;

	/* a stored value that fails its rule (stored before the rule existed) is not rendered */
	json_decref(vars);
	vars = json_pack("{s:s}", "v", "a\nExecStartPre=/bin/evil");
	c.vars = vars;
	CHECK_INT(render_config(cps, &c, "3.3.0", &out, &len), K_EINVAL);
	CHECK(out == NULL);
	CHECK_INT(render("[\"rabbitmq\"]", "{\"rabbitmq_image\": \"x y\"}", "3.3.0", &out, &len),
	          K_EINVAL);
	/* nor one of kindling's own that fails its rule (an upstream's discovery URL) */
	json_decref(profiles);
	profiles = json_pack("[s]", "etcd");
	c.profiles = profiles;
	c.discovery_url = "https://d.example/x'\"$(reboot)\"'";
	CHECK_INT(render_config(ps, &c, "3.3.0", &out, &len), K_EINVAL);
	c.discovery_url = "https://d.example/0123";
	CHECK_INT(render_config(ps, &c, "3.3.0", &out, &len), K_OK);
	free(out);

	json_decref(profiles);
	json_decref(vars);
	profile_set_free(&cps);
	static const char *const rm[] = {
	        "c/files/etc/c.conf", "c/files/etc/c.sh", "c/files/etc/c.json",
	        "c/files/etc",        "c/files",          "c/systemd/c.service",
	        "c/systemd",          "c/profile.json",   "c"};
	for (size_t i = 0; i < sizeof(rm) / sizeof(rm[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", root, rm[i]);
		remove(path);
	}
	rmdir(root);
}

/* A config whose expanded templates would pass PROFILE_RENDER_MAX is refused. */
static void refuses_huge_output(void)
{
	char root[] = "/tmp/kindling-render-XXXXXX", path[256], *big;
	struct profile_set *wide = NULL;
	const char *dirs[] = {root};
	FILE *f;

	CHECK(mkdtemp(root) != NULL);
	snprintf(path, sizeof(path), "%s/wide", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/wide/files", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/wide/profile.json", root);
	f = fopen(path, "w");
	fputs("{\"variables\": {\"v\": {\"max_length\": 65536}}}", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/wide/files/wide", root);
	f = fopen(path, "w");
	for (int i = 0; i < 70; i++)
		fputs("${v}\n", f);
	fclose(f);
	CHECK_INT(profile_set_load(dirs, 1, &wide, NULL), K_OK);

	big = malloc(PROFILE_VALUE_MAX + 1);
	memset(big, 'a', PROFILE_VALUE_MAX);
	big[PROFILE_VALUE_MAX] = '\0';
	json_t *profiles = json_pack("[s]", "wide"), *vars = json_pack("{s:s}", "v", big);
	struct render_cluster c = {
	        .name = "w", .id = "1", .size = 1, .profiles = profiles, .vars = vars};
	char *out = NULL;
	size_t len = 0;
	CHECK_INT(render_config(wide, &c, "3.3.0", &out, &len), K_ETOOBIG);
	CHECK(out == NULL);
	json_decref(vars);
	vars = json_pack("{s:s}", "v", "x");
	c.vars = vars;
	CHECK_INT(render_config(wide, &c, "3.3.0", &out, &len), K_OK);
	free(out);

	json_decref(profiles);
	json_decref(vars);
	free(big);
	profile_set_free(&wide);
	unlink(path);
	snprintf(path, sizeof(path), "%s/wide/profile.json", root);
	unlink(path);
	snprintf(path, sizeof(path), "%s/wide/files", root);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/wide", root);
	rmdir(path);
	rmdir(root);
}

/* A file mode with setuid/setgid/sticky bits: only 3.6.0 expresses it; every
 * lower target is refused (never rendered with the bits dropped). */
static void refuses_what_a_target_cannot_express(void)
{
	char root[] = "/tmp/kindling-render-XXXXXX", path[256];
	struct profile_set *sps = NULL;
	const char *dirs[] = {root};
	static const char *const mk[][2] = {
	        {"suid", NULL},
	        {"suid/files", NULL},
	        {"suid/files/usr", NULL},
	        {"suid/files/usr/bin", NULL},
	        {"suid/profile.json", "{\"files\": {\"/usr/bin/helper\": {\"mode\": \"4755\"}}}"},
	        {"suid/files/usr/bin/helper", "#!/bin/sh\necho hi\n"},
	};
	for (size_t i = 0; i < sizeof(mk) / sizeof(mk[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", root, mk[i][0]);
		if (i == 0)
			CHECK(mkdtemp(root) != NULL);
		snprintf(path, sizeof(path), "%s/%s", root, mk[i][0]);
		if (!mk[i][1]) {
			mkdir(path, 0755);
			continue;
		}
		FILE *fp = fopen(path, "w");
		CHECK(fp != NULL);
		if (fp) {
			fputs(mk[i][1], fp);
			fclose(fp);
		}
	}
	CHECK_INT(profile_set_load(dirs, 1, &sps, NULL), K_OK);
	json_t *profiles = json_pack("[s]", "suid");
	struct render_cluster c = {.name = "s", .id = "1", .size = 1, .profiles = profiles};
	char *out = NULL;
	size_t len = 0;

	/* 3.6.0: the bits are there, and the spec validator accepts them */
	CHECK_INT(render_config(sps, &c, "3.6.0", &out, &len), K_OK);
	json_t *j = json_loads(out ? out : "", 0, NULL);
	json_t *f = json_array_get(json_object_get(json_object_get(j, "storage"), "files"), 0);
	CHECK_INT(json_integer_value(json_object_get(f, "mode")), 04755);
	if (out)
		CHECK(validate(out, len, "3.6.0 with mode 04755"));
	json_decref(j);
	free(out);
	CHECK_INT(render_check(sps, profiles, "3.6.0", "version", NULL), K_OK);

	/* every lower target: refused, with the profile, file and reason */
	for (size_t i = 1; render_versions[i]; i++) {
		out = NULL;
		CHECK_INT(render_config(sps, &c, render_versions[i], &out, &len), K_ENOTACCEPT);
		CHECK(out == NULL);
	}
	json_t *errors = json_array();
	CHECK_INT(render_check(sps, profiles, "3.5.0", "ignition_version", errors), K_ENOTACCEPT);
	CHECK_INT(json_array_size(errors), 1);
	json_t *e0 = json_array_get(errors, 0);
	CHECK_STR(json_string_value(json_object_get(e0, "field")), "ignition_version");
	CHECK_STR(json_string_value(json_object_get(e0, "message")),
	          "profile suid: file /usr/bin/helper has mode 04755 with setuid/setgid/sticky "
	          "bits, which spec 3.5.0 cannot express (not supported before spec "
	          "3.6.0: Ignition warns and may drop them); the versions that can: 3.6.0");
	json_decref(errors);
	CHECK_INT(render_check(sps, profiles, "9.9.9", "version", NULL), K_EINVAL);

	/* what GET /profiles says of it, and of a shipped profile */
	json_t *needs = render_profile_needs(sps, "suid");
	CHECK_STR(json_string_value(json_array_get(json_object_get(needs, "needs"), 0)),
	          "special_mode_bits");
	CHECK_INT(json_array_size(json_object_get(needs, "versions")), 1);
	CHECK_STR(json_string_value(json_array_get(json_object_get(needs, "versions"), 0)),
	          "3.6.0");
	json_decref(needs);
	needs = render_profile_needs(ps, "rabbitmq");
	CHECK_INT(json_array_size(json_object_get(needs, "needs")), 0);
	CHECK_INT(json_array_size(json_object_get(needs, "versions")), 10);
	json_decref(needs);
	CHECK(render_profile_needs(ps, "nope") == NULL);

	json_decref(profiles);
	profile_set_free(&sps);
	for (size_t i = sizeof(mk) / sizeof(mk[0]); i-- > 0;) {
		snprintf(path, sizeof(path), "%s/%s", root, mk[i][0]);
		remove(path);
	}
	rmdir(root);
}

int main(int argc, char **argv)
{
	char dir[4200];
	const char *dirs[] = {dir};
	struct buf msg;

	(void)argc;
	find_srcdir(argv[0]);
	snprintf(dir, sizeof(dir), "%s/templates", srcdir);
	buf_init(&msg, 4096);
	if (profile_set_load(dirs, 1, &ps, &msg) != K_OK) {
		printf("FAIL %s: loading %s: %s\n", __FILE__, dir, buf_str(&msg));
		return 1;
	}
	buf_free(&msg);
	RUN(validator_fails_on_any_output);
	RUN(versions_table);
	RUN(negotiates);
	RUN(renders_goldens_that_validate);
	RUN(renders_the_right_content);
	RUN(carries_the_ca);
	RUN(renders_pointers);
	RUN(refuses_huge_output);
	RUN(escapes_values_in_units);
	RUN(refuses_what_a_target_cannot_express);
	profile_set_free(&ps);
	return TEST_EXIT();
}
