/* fuzz_cluster.c - libFuzzer target: the cluster validator (POST /clusters, PATCH vars).
 *
 * The input is a request body. It goes through exactly what
 * service_create does before touching the store: json_loadb with
 * JSON_REJECT_DUPLICATES (api_body_object), check_create, check_profiles
 * (profile_check) against the shipped profiles plus two fuzz-only ones
 * (tests/fuzz/cluster/templates: a required variable, a variable used in a
 * unit, a masked unit, clashes with rabbitmq). check_create and
 * check_profiles are static in server/service.c, so this file includes
 * that file (and the Makefile leaves service.o out of this target);
 * once they are exposed (see tests/fuzz/README.md) the include becomes a link.
 *
 * Checks, beyond ASan/UBSan:
 *  - every error is {"field": string, "message": string}; profile_check's
 *    result agrees with whether it added errors;
 *  - name and size errors appear exactly when the DESIGN rules say so;
 *  - the problem+json detail api_body_object / reply_invalid would send is
 *    valid UTF-8 (otherwise http.c's json_pack fails and the client gets a
 *    503 "Service Unavailable" instead of the 400/422);
 *  - an accepted cluster can be built: secrets generate, its own spec
 *    version renders (K_OK, valid JSON), its pointer config and its JSON
 *    form (view_cluster_json) build; the body's vars applied as a PATCH
 *    (merge_vars + check_profiles) and, when accepted, render too.
 *
 * KINDLING_FUZZ_SKIP_KNOWN=1 skips the UTF-8 detail check (a known bug,
 * tests/fuzz/README.md) so a long run can explore past it.
 */
#include "fuzz_util.h"
#include "../../server/service.c"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "profile.h"
#include "render.h"
#include "store.h"
#include "view.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct profile_set *fz_profiles;
static struct config fz_cfg;
static struct app fz_app;
static bool skip_known;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *root = getenv("KINDLING_FUZZ_ROOT");
	static char d1[1024], d2[1024];
	snprintf(d1, sizeof(d1), "%s/templates", root ? root : ".");
	snprintf(d2, sizeof(d2), "%s/tests/fuzz/cluster/templates", root ? root : ".");
	const char *dirs[] = {d1, d2};
	struct buf err;
	buf_init(&err, 4096);
	if (profile_set_load(dirs, 2, &fz_profiles, &err) != K_OK) {
		fprintf(stderr,
		        "fuzz_cluster: cannot load profiles (run from the repository root "
		        "or set KINDLING_FUZZ_ROOT): %s\n",
		        buf_str(&err));
		exit(1);
	}
	buf_free(&err);
	fz_cfg.ignition_version = (char *)"3.3.0";
	fz_cfg.discovery_upstream = NULL;
	fz_cfg.http_total_s = 600;
	fz_cfg.max_clusters = 1000;
	fz_app.cfg = &fz_cfg;
	fz_app.profiles = fz_profiles;
	/* an empty database of its own: the cluster's JSON reads its nodes
	 * (reports, fetches) from the store, and finds none */
	static char dbdir[] = "/tmp/fuzz_cluster.XXXXXX", db[64];
	if (!mkdtemp(dbdir)) {
		perror("fuzz_cluster: mkdtemp");
		exit(1);
	}
	snprintf(db, sizeof(db), "%s/kindling.db", dbdir);
	buf_init(&err, 4096);
	if (store_open(db, 1, &fz_app.store, &err) != K_OK) {
		fprintf(stderr, "fuzz_cluster: cannot open %s: %s\n", db, buf_str(&err));
		exit(1);
	}
	if (snapshots_new(fz_app.store, fz_profiles, &fz_app.snapshots) != K_OK) {
		fprintf(stderr, "fuzz_cluster: cannot store the profiles\n");
		exit(1);
	}
	buf_free(&err);
	snprintf(fz_app.public_url, sizeof(fz_app.public_url), "http://127.0.0.1:8080");
	const char *s = getenv("KINDLING_FUZZ_SKIP_KNOWN");
	skip_known = s && *s && strcmp(s, "0") != 0;
	return 0;
}

/* What http.c's problem() does with a detail: it must survive json_pack. */
static void check_detail(const char *raw)
{
	if (skip_known)
		return;
	char detail[1024]; /* problem() copies and repairs it the same way */
	snprintf(detail, sizeof(detail), "%s", raw);
	buf_utf8_repair(detail);
	json_t *j = json_pack("{s:s}", "detail", detail);
	if (!j || !utf8_valid(detail)) {
		fprintf(stderr,
		        "problem detail is not valid UTF-8 (the client would get 503): %s\n",
		        detail);
		abort();
	}
	json_decref(j);
}

static void check_errors(json_t *errors)
{
	size_t i;
	json_t *e;
	json_array_foreach (errors, i, e) {
		if (!json_is_object(e) || json_object_size(e) != 2 ||
		    !json_is_string(json_object_get(e, "field")) ||
		    !json_is_string(json_object_get(e, "message")) ||
		    !json_string_length(json_object_get(e, "message")))
			abort();
	}
	/* reply_invalid's detail, exactly as http.c builds it */
	size_t n = json_array_size(errors);
	if (!n)
		return;
	char detail[256];
	json_t *first = json_array_get(errors, 0);
	snprintf(detail, sizeof(detail), "%zu invalid field%s: %s: %s", n, n == 1 ? "" : "s",
	         json_string_value(json_object_get(first, "field")),
	         json_string_value(json_object_get(first, "message")));
	check_detail(detail);
}

static bool has_error(json_t *errors, const char *field)
{
	size_t i;
	json_t *e;
	json_array_foreach (errors, i, e)
		if (!strcmp(json_string_value(json_object_get(e, "field")), field))
			return true;
	return false;
}

/* The DESIGN's rule, written independently of valid_name. */
static bool name_rule(json_t *v)
{
	if (!json_is_string(v))
		return false;
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (n < 1 || n > 63 || strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool alnum = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9');
		if (!alnum && !(s[i] == '-' && i > 0 && i < n - 1))
			return false;
	}
	return true;
}

/* How many versions kindling renders (render_versions ends with NULL). */
static size_t n_versions(void)
{
	size_t n = 0;
	while (render_versions[n])
		n++;
	return n;
}

static void check_render(struct cluster *c, const char *version)
{
	struct render_cluster rc = {
	        .name = c->name,
	        .id = c->id,
	        .size = c->size,
	        .discovery_url = c->discovery_url,
	        .public_url = fz_app.public_url,
	        .profiles = c->profiles,
	        .vars = c->vars,
	        .secrets = c->secrets,
	};
	char *out = NULL;
	size_t len = 0;
	enum kerr e = render_config(fz_profiles, &rc, version, &out, &len);
	if (e != K_OK) {
		fprintf(stderr, "an accepted cluster does not render %s: %s\n", version,
		        kerr_str(e));
		abort();
	}
	json_error_t jerr;
	json_t *j = json_loadb(out, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j || !json_is_object(j) || memchr(out, '\0', len)) {
		fprintf(stderr, "rendered config is not a JSON object: %s\n", jerr.text);
		abort();
	}
	json_decref(j);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 256 * 1024)
		return 0;
	/* api_body_object */
	json_error_t jerr;
	json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
	if (!body) {
		char detail[1024];
		snprintf(detail, sizeof(detail), "invalid JSON at byte %d (line %d, column %d): %s",
		         jerr.position, jerr.line, jerr.column, jerr.text);
		check_detail(detail);
		return 0;
	}
	if (!json_is_object(body)) {
		json_decref(body);
		return 0;
	}

	/* service_create up to the store */
	struct cluster c = {0};
	json_t *errors = json_array();
	check_create(&fz_app, body, &c, errors);
	json_t *profiles = json_object_get(body, "profiles");
	json_t *vars = json_object_get(body, "vars");
	c.profiles = profiles ? json_incref(profiles) : json_pack("[s]", "etcd");
	c.vars = vars ? json_incref(vars) : json_object();
	size_t before = json_array_size(errors);
	if (json_is_array(c.profiles) && json_is_object(c.vars)) {
		enum kerr pe = profile_check(fz_profiles, c.profiles, c.vars, errors);
		if ((pe == K_OK) != (json_array_size(errors) == before))
			abort(); /* result and errors disagree */
	} else {
		check_profiles(&fz_app, fz_profiles, c.profiles, c.vars, errors);
	}
	check_errors(errors);

	json_t *name = json_object_get(body, "name");
	if (name_rule(name) == has_error(errors, "name"))
		abort();
	json_t *sz = json_object_get(body, "size");
	bool size_ok =
	        json_is_integer(sz) && json_integer_value(sz) >= 1 && json_integer_value(sz) <= 99;
	if (size_ok == has_error(errors, "size"))
		abort();

	if (json_array_size(errors) == 0) {
		if (!render_version_known(c.ignition_version) || c.size < 1 || c.size > 99 ||
		    strcmp(c.name, json_string_value(name)) != 0 ||
		    strcmp(c.discovery_mode, "builtin") != 0)
			abort();
		if (profile_generate_secrets(fz_profiles, c.profiles, c.vars, &c.secrets) != K_OK)
			abort();
		snprintf(c.id, sizeof(c.id), "0b8e6f0e-3f1a-4c8e-9a51-2d6f3c1b9e70");
		snprintf(c.fetch_token, sizeof(c.fetch_token), "%064d", 7);
		snprintf(c.discovery_token, sizeof(c.discovery_token), "%032d", 0);
		c.discovery_url = strdup("http://127.0.0.1:8080/discovery/"
		                         "00000000000000000000000000000000");
		c.discovery_token[0] = '\0'; /* keep members_json off the store */
		c.generation = 1;
		c.created_at = c.updated_at = 1700000000000;
		check_render(&c, c.ignition_version);
		json_t *cj = view_cluster_json(&fz_app, &c, true);
		if (!cj || json_is_null(json_object_get(cj, "pointer")))
			abort(); /* a stored cluster would have no JSON form */
		char *dump = json_dumps(cj, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (!dump)
			abort();
		free(dump);
		json_decref(cj);

		/* PATCH with the same vars as a merge patch onto the stored ones */
		if (json_is_object(vars)) {
			json_t *merged = merge_vars(c.vars, vars);
			json_t *perr = json_array();
			if (!merged)
				abort();
			check_profiles(&fz_app, fz_profiles, c.profiles, merged, perr);
			check_errors(perr);
			if (json_array_size(perr) == 0) {
				json_decref(c.vars);
				c.vars = json_incref(merged);
				c.generation++;
				check_render(&c, render_versions[size % n_versions()]);
			}
			json_decref(perr);
			json_decref(merged);
		}
	}
	cluster_clear(&c);
	json_decref(errors);
	json_decref(body);
	return 0;
}
