/* render.c - profiles + a cluster -> Ignition JSON (spec 3.x and 2.x), and pointer configs. */
#include "render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "subst.h"

/*
 * THE table of supported spec versions, highest first: everything else
 * (render_versions, negotiation, what is refused for which target, GET
 * /profiles, --help, the README's table) derives from it. A new version is
 * one row here, its goldens (UPDATE_GOLDEN=1 build/asan/tests/test_render)
 * and, for one Debian's Ignition does not know, its facts in
 * tests/unit/check_3x_spec.sh.
 */
#define F_HDR  RENDER_HTTP_HEADERS
#define F_TLS  RENDER_TLS
#define F_256  RENDER_SHA256
#define F_CEX  RENDER_LUKS_CEX
#define F_MODE RENDER_SPECIAL_MODE
#define SPECS(X)                                                                                   \
	X("3.6.0", 3, 6, F_HDR | F_TLS | F_256 | F_CEX | F_MODE, "2.26.0",                         \
	  "Fedora CoreOS (Ignition 2.26 and later)")                                               \
	X("3.5.0", 3, 5, F_HDR | F_TLS | F_256 | F_CEX, "2.20.0",                                  \
	  "Flatcar; Fedora CoreOS with Ignition 2.20-2.25")                                        \
	X("3.4.0", 3, 4, F_HDR | F_TLS | F_256, "2.15.0",                                          \
	  "Ignition 2.15-2.19 (Ignition 2.14 knows it as 3.4.0-experimental)")                     \
	X("3.3.0", 3, 3, F_HDR | F_TLS | F_256, "2.11.0", "Ignition 2.11-2.14 (Debian's 2.14)")    \
	X("3.2.0", 3, 2, F_HDR | F_TLS | F_256, "2.7.0", "Ignition 2.7-2.10")                      \
	X("3.1.0", 3, 1, F_HDR | F_TLS | F_256, "2.3.0", "Ignition 2.3-2.6")                       \
	X("3.0.0", 3, 0, F_TLS, "2.0.0", "Ignition 2.0-2.2")                                       \
	X("2.3.0", 2, 3, F_TLS, "0.29.0",                                                          \
	  "Container Linux, old Flatcar (Ignition 0.29 and later)")                                \
	X("2.2.0", 2, 2, F_TLS, "0.22.0", "Container Linux (Ignition 0.22-0.28)")                  \
	X("2.1.0", 2, 1, 0, "0.17.0", "Container Linux (Ignition 0.17-0.21)")

#define SPEC_ROW(v, maj, min, feat, ign, who)  {v, maj, min, feat, ign, who},
#define SPEC_NAME(v, maj, min, feat, ign, who) v,

const struct render_spec render_specs[] = {SPECS(SPEC_ROW)};
const size_t render_nspecs = sizeof(render_specs) / sizeof(render_specs[0]);
const char *const render_versions[] = {SPECS(SPEC_NAME) NULL};

/* The features, for people: GET /profiles and the messages of render_check. */
static const struct feature {
	unsigned bit;
	const char *name;
	const char *description;
} features[] = {
        {RENDER_HTTP_HEADERS, "http_headers",
         "the pointer's fetch token in ignition.config.replace.httpHeaders (older: ?token=)"},
        {RENDER_TLS, "tls_certificate_authorities",
         "the pointer carries kindling's CA in ignition.security.tls"},
        {RENDER_SHA256, "sha256_hash", "verification.hash may be sha256- (sha512- always)"},
        {RENDER_LUKS_CEX, "luks_cex",
         "storage.luks[].cex (IBM Crypto Express keys); profiles put no LUKS devices on a "
         "node, so nothing kindling renders depends on it"},
        {RENDER_SPECIAL_MODE, "special_mode_bits",
         "setuid/setgid/sticky bits of a file's mode are honoured; older specs do not support them "
         "(Ignition warns), so kindling refuses such a file for them"},
};

#define NSPECS            (sizeof(render_specs) / sizeof(render_specs[0]))
#define NFEATURES         (sizeof(features) / sizeof(features[0]))
#define FALLBACK_VERSION  "3.3.0" /* when dflt is not a known version */
#define ACCEPT_RANGES_MAX 64      /* media ranges of an Accept header looked at */
#define IGNITION_TYPE     "application/vnd.coreos.ignition+json"
#define MODE_SPECIAL      07000 /* setuid, setgid, sticky */

static const struct render_spec *spec_find(const char *v)
{
	for (size_t i = 0; v && i < NSPECS; i++)
		if (strcmp(render_specs[i].version, v) == 0)
			return &render_specs[i];
	return NULL;
}

bool render_version_known(const char *v)
{
	return spec_find(v) != NULL;
}

const struct render_spec *render_spec_find(const char *v)
{
	return spec_find(v);
}

void render_versions_list(struct buf *b)
{
	for (size_t i = 0; i < NSPECS; i++)
		buf_addf(b, "%s%s", i ? ", " : "", render_specs[i].version);
}

/* Appends the versions with every bit of need to b ("3.6.0" or "3.6.0, 3.5.0"). */
static void versions_with(unsigned need, struct buf *b)
{
	bool first = true;
	for (size_t i = 0; i < NSPECS; i++) {
		if ((render_specs[i].features & need) != need)
			continue;
		buf_addf(b, "%s%s", first ? "" : ", ", render_specs[i].version);
		first = false;
	}
}

/* The lowest supported version with every bit of need, or NULL. */
static const struct render_spec *lowest_with(unsigned need)
{
	const struct render_spec *best = NULL;
	for (size_t i = 0; i < NSPECS; i++)
		if ((render_specs[i].features & need) == need)
			best = &render_specs[i]; /* highest first: the last match is the lowest */
	return best;
}

/* A new array of the names of the features in bits. */
static json_t *feature_names(unsigned bits)
{
	json_t *names = json_array();
	for (size_t k = 0; names && k < NFEATURES; k++)
		if (bits & features[k].bit)
			json_array_append_new(names, json_string(features[k].name));
	return names;
}

json_t *render_describe(const char *dflt)
{
	json_t *vers = json_array(), *feats = json_array();
	json_t *root =
	        json_pack("{s:s?,s:o,s:o}", "default", dflt, "versions", vers, "features", feats);
	if (!root)
		return NULL;
	for (size_t i = 0; i < NSPECS; i++)
		json_array_append_new(vers, json_pack("{s:s,s:s,s:s,s:o}", "version",
		                                      render_specs[i].version, "stable_since",
		                                      render_specs[i].ignition, "asked_by",
		                                      render_specs[i].asked_by, "features",
		                                      feature_names(render_specs[i].features)));
	for (size_t k = 0; k < NFEATURES; k++) {
		const struct render_spec *low = lowest_with(features[k].bit);
		json_array_append_new(feats, json_pack("{s:s,s:s?,s:s}", "name", features[k].name,
		                                       "since", low ? low->version : NULL,
		                                       "description", features[k].description));
	}
	return root;
}

/* ---- what a profile needs ---- */

/* The features one template needs beyond what every spec has. */
static unsigned item_needs(const struct profile_item *it)
{
	if (it->kind == PROFILE_FILE && (it->mode & MODE_SPECIAL))
		return RENDER_SPECIAL_MODE;
	return 0;
}

/* Appends {field, message} for each template of p that sp cannot express. */
static bool check_profile(const struct render_spec *sp, const char *pname, const struct profile *p,
                          const char *field, json_t *errors)
{
	bool ok = true;
	for (size_t i = 0; i < profile_item_count(p); i++) {
		const struct profile_item *it = profile_item_at(p, i);
		unsigned missing = item_needs(it) & ~sp->features;
		if (!missing)
			continue;
		ok = false;
		if (!errors)
			continue;
		const struct render_spec *low = lowest_with(missing);
		struct buf m;
		buf_init(&m, 1024);
		/* today the only such need is RENDER_SPECIAL_MODE */
		buf_addf(&m,
		         "profile %s: file %s has mode 0%o with setuid/setgid/sticky bits, which "
		         "spec %s cannot express (not supported before spec %s: Ignition warns and "
		         "may drop them); the "
		         "versions that can: ",
		         pname, it->path, (unsigned)it->mode, sp->version,
		         low ? low->version : "?");
		versions_with(missing, &m);
		json_array_append_new(
		        errors, json_pack("{s:s,s:s}", "field", field, "message", buf_str(&m)));
		buf_free(&m);
	}
	return ok;
}

enum kerr render_check(const struct profile_set *ps, const json_t *profiles, const char *version,
                       const char *field, json_t *errors)
{
	const struct render_spec *sp = spec_find(version);
	bool ok = true;
	size_t i;
	json_t *pv;

	if (!sp || !json_is_array(profiles))
		return K_EINVAL;
	json_array_foreach (profiles, i, pv) {
		const struct profile *p = profile_get(ps, json_string_value(pv));
		if (!p)
			return K_EINVAL;
		ok = check_profile(sp, json_string_value(pv), p, field, errors) && ok;
	}
	return ok ? K_OK : K_ENOTACCEPT;
}

json_t *render_profile_needs(const struct profile_set *ps, const char *name)
{
	const struct profile *p = profile_get(ps, name);
	unsigned need = 0;

	if (!p)
		return NULL;
	for (size_t i = 0; i < profile_item_count(p); i++)
		need |= item_needs(profile_item_at(p, i));
	json_t *vers = json_array();
	for (size_t i = 0; vers && i < NSPECS; i++)
		if ((render_specs[i].features & need) == need)
			json_array_append_new(vers, json_string(render_specs[i].version));
	return json_pack("{s:o,s:o}", "needs", feature_names(need), "versions", vers);
}

/* ---- negotiation ---- */

/* A client's version: major.minor.patch with an optional "-pre" suffix. */
struct cver {
	long major, minor, patch;
	bool pre;
};

/* Parses s[0..n) as N[.N[.N]][-anything]; false when it is not one. */
static bool cver_parse(const char *s, size_t n, struct cver *out)
{
	long parts[3] = {0, 0, 0};
	size_t i = 0;
	int k = 0;

	out->pre = false;
	for (;;) {
		size_t digits = 0;
		long v = 0;
		while (i < n && s[i] >= '0' && s[i] <= '9') {
			if (digits < 9)
				v = v * 10 + (s[i] - '0');
			digits++;
			i++;
		}
		if (digits == 0 || digits > 9)
			return false;
		parts[k++] = v;
		if (i < n && s[i] == '.' && k < 3) {
			i++;
			continue;
		}
		break;
	}
	if (i < n) {
		if (s[i] != '-')
			return false;
		out->pre = true;
	}
	out->major = parts[0];
	out->minor = parts[1];
	out->patch = parts[2];
	return true;
}

/* The highest supported version with c's major that is not above c, or NULL. */
static const struct render_spec *best_for(const struct cver *c)
{
	for (size_t i = 0; i < NSPECS; i++) {
		const struct render_spec *s = &render_specs[i];
		long sv[3] = {s->major, s->minor, 0}, cv[3] = {c->major, c->minor, c->patch};
		int cmp = 0;
		if (s->major != c->major)
			continue;
		for (int k = 0; k < 3 && cmp == 0; k++)
			cmp = sv[k] < cv[k] ? -1 : sv[k] > cv[k];
		if (cmp < 0 || (cmp == 0 && !c->pre))
			return s;
	}
	return NULL;
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* s[0..n) without surrounding spaces and tabs. */
static void trim(const char **s, size_t *n)
{
	while (*n && is_ows(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && is_ows((*s)[*n - 1]))
		(*n)--;
}

static bool token_eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* An RFC 9110 weight in thousandths (0..1000), or -1 when malformed. */
static int parse_q(const char *s, size_t n)
{
	int q = 0, scale = 1000;

	if (n == 0 || (s[0] != '0' && s[0] != '1'))
		return -1;
	q = (s[0] - '0') * 1000;
	if (n == 1)
		return q;
	if (s[1] != '.' || n > 5)
		return -1;
	for (size_t i = 2; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		scale /= 10;
		q += (s[i] - '0') * scale;
	}
	return q > 1000 ? -1 : q;
}

/* What one Accept header says about Ignition configs. */
struct accept_result {
	const struct render_spec *best; /* best supported Ignition version listed */
	int best_q;
	bool ignition_listed; /* some Ignition media range with a version was listed */
	bool default_ok;      /* a wildcard, versionless or JSON range allows the default */
};

/* Looks at one media range s[0..n). */
static void accept_range(const char *s, size_t n, struct accept_result *r)
{
	const char *type = s, *ver = NULL;
	size_t type_len = n, ver_len = 0;
	int q = 1000, nparams = 0;
	const char *semi = memchr(s, ';', n);
	bool is_ign, is_wild;

	if (semi)
		type_len = (size_t)(semi - s);
	trim(&type, &type_len);
	while (semi && nparams++ < 16) {
		const char *p = semi + 1, *eq, *next;
		size_t plen = n - (size_t)(p - s), name_len, val_len;
		next = memchr(p, ';', plen);
		if (next)
			plen = (size_t)(next - p);
		semi = next;
		eq = memchr(p, '=', plen);
		if (!eq)
			continue;
		const char *name = p, *val = eq + 1;
		name_len = (size_t)(eq - p);
		val_len = plen - name_len - 1;
		trim(&name, &name_len);
		trim(&val, &val_len);
		if (val_len >= 2 && val[0] == '"' && val[val_len - 1] == '"') {
			val++;
			val_len -= 2;
		}
		if (token_eq(name, name_len, "q")) {
			q = parse_q(val, val_len);
			if (q < 0)
				return; /* a malformed weight: ignore the range */
		} else if (token_eq(name, name_len, "version")) {
			ver = val;
			ver_len = val_len;
		}
	}
	if (q == 0)
		return;
	is_ign = token_eq(type, type_len, IGNITION_TYPE);
	is_wild = token_eq(type, type_len, "*/*") || token_eq(type, type_len, "application/*") ||
	          token_eq(type, type_len, "application/json");
	if (is_wild || (is_ign && !ver)) {
		r->default_ok = true;
		return;
	}
	if (!is_ign)
		return;
	r->ignition_listed = true;
	struct cver c;
	const struct render_spec *s2;
	if (!cver_parse(ver, ver_len, &c))
		return;
	s2 = best_for(&c);
	if (!s2)
		return;
	if (!r->best || q > r->best_q || (q == r->best_q && s2 < r->best)) {
		r->best = s2; /* render_specs[] is highest first: a lower address is a higher
		                 version */
		r->best_q = q;
	}
}

/* True when ?version= is spelled in full, N.N.N or N.N.N-word ("3.3" is not:
 * an operator's typo is refused rather than guessed at). */
static bool query_form(const char *q)
{
	int dots = 0;
	const char *p = q;
	for (; (*p >= '0' && *p <= '9') || *p == '.'; p++)
		dots += *p == '.';
	if (dots != 2 || p == q || p[-1] == '.')
		return false;
	if (!*p)
		return true;
	if (*p++ != '-' || !*p)
		return false;
	for (; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || *p == '.'))
			return false;
	return true;
}

enum kerr render_negotiate(const char *query, const char *accept, const char *dflt,
                           const char **out_version)
{
	const struct render_spec *d = spec_find(dflt);
	struct accept_result r = {0};
	const char *s = accept;
	int ranges = 0;

	if (!d)
		d = spec_find(FALLBACK_VERSION);
	if (query) {
		const struct render_spec *q = spec_find(query);
		struct cver c;
		if (!q && query_form(query) && cver_parse(query, strlen(query), &c))
			q = best_for(&c); /* 3.7.0 -> 3.6.0, as in Accept */
		if (!q)
			return K_ENOTACCEPT;
		*out_version = q->version;
		return K_OK;
	}
	if (!accept) {
		*out_version = d->version;
		return K_OK;
	}
	while (*s && ranges < ACCEPT_RANGES_MAX) {
		const char *comma = strchr(s, ',');
		size_t n = comma ? (size_t)(comma - s) : strlen(s);
		const char *t = s;
		size_t tn = n;
		trim(&t, &tn);
		if (tn) {
			accept_range(t, tn, &r);
			ranges++;
		}
		if (!comma)
			break;
		s = comma + 1;
	}
	if (r.best) {
		*out_version = r.best->version;
		return K_OK;
	}
	if (r.ignition_listed && !r.default_ok)
		return K_ENOTACCEPT;
	*out_version = d->version;
	return K_OK;
}

/* ---- data URLs ---- */

/* Appends "data:," and s[0..n) percent-encoded (RFC 2397; RFC 3986 unreserved kept). */
static enum kerr add_data_url(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	enum kerr e = buf_addstr(b, "data:,");

	for (size_t i = 0; i < n && e == K_OK; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			e = buf_add(b, &s[i], 1);
		} else {
			char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
			e = buf_add(b, esc, 3);
		}
	}
	return e;
}

/* A new JSON string holding the data URL of s[0..n), or NULL. */
static json_t *data_url(const char *s, size_t n)
{
	struct buf b;
	json_t *j = NULL;

	buf_init(&b, 3 * (size_t)PROFILE_RENDER_MAX + 16);
	if (add_data_url(&b, s, n) == K_OK)
		j = json_stringn(buf_str(&b), b.len);
	buf_free(&b);
	return j;
}

/* ---- configs ---- */

struct lookup_ctx {
	const struct profile *p;
	const struct render_cluster *c;
	char size[24];
};

static const char *lookup(void *ctx, const char *name)
{
	struct lookup_ctx *lc = ctx;
	const char *v = NULL;

	if (strcmp(name, "cluster_name") == 0)
		v = lc->c->name;
	else if (strcmp(name, "cluster_id") == 0)
		v = lc->c->id;
	else if (strcmp(name, "size") == 0)
		v = lc->size;
	else if (strcmp(name, "discovery_url") == 0)
		v = lc->c->discovery_url;
	else if (strcmp(name, "discovery_token") == 0)
		v = lc->c->discovery_token;
	else if (strcmp(name, "discovery_endpoints") == 0)
		v = lc->c->discovery_endpoints;
	else if (strcmp(name, "public_url") == 0)
		v = lc->c->public_url;
	else if (profile_var_value(lc->p, name, lc->c->vars, lc->c->secrets, &v) != K_OK)
		return NULL; /* also a stored value that fails its rule */
	if (!v)
		return "";
	if (profile_builtin(name) && !profile_builtin_valid(name, v))
		return NULL; /* kindling's own value, e.g. an upstream's discovery URL */
	return v;
}

/* A unit as it is emitted: merged over every chosen profile. */
struct runit {
	const char *name;
	char *contents; /* NULL: none */
	size_t contents_len;
	int enabled; /* -1: leave as is */
	bool mask;
	json_t *dropins; /* array, owned */
};

struct rfile {
	const struct profile_item *it;
	char *data;
	size_t len;
};

struct rstate {
	const struct render_spec *spec;
	struct runit *units;
	size_t nunits;
	struct rfile *files;
	size_t nfiles;
	size_t total; /* expanded bytes so far */
};

static struct runit *unit_get(struct rstate *st, const char *name)
{
	for (size_t i = 0; i < st->nunits; i++)
		if (strcmp(st->units[i].name, name) == 0)
			return &st->units[i];
	struct runit *u = &st->units[st->nunits++];
	memset(u, 0, sizeof(*u));
	u->name = name;
	u->enabled = -1;
	return u;
}

/* Expands one template into a malloc'd string. */
static enum kerr expand(struct rstate *st, struct lookup_ctx *lc, const struct profile_item *it,
                        char **out, size_t *out_len)
{
	struct buf b;
	enum kerr e;

	buf_init(&b, PROFILE_RENDER_MAX - st->total);
	e = subst_expand(it->tpl, it->tpl_len, it->source, it->context, lookup, lc, &b, NULL);
	if (e != K_OK) {
		buf_free(&b);
		return e;
	}
	st->total += b.len;
	*out = buf_steal(&b, out_len);
	return *out ? K_OK : K_ENOMEM;
}

static enum kerr collect(struct rstate *st, const struct profile *p, const struct render_cluster *c)
{
	struct lookup_ctx lc = {.p = p, .c = c};
	enum kerr e = K_OK;
	char *data = NULL;
	size_t len;

	snprintf(lc.size, sizeof(lc.size), "%d", c->size);
	for (size_t i = 0; i < profile_item_count(p); i++) {
		const struct profile_item *it = profile_item_at(p, i);
		e = expand(st, &lc, it, &data, &len);
		if (e != K_OK)
			goto out;
		if (it->kind == PROFILE_FILE) {
			st->files[st->nfiles++] =
			        (struct rfile){.it = it, .data = data, .len = len};
			data = NULL;
			continue;
		}
		struct runit *u = unit_get(st, it->unit);
		if (it->kind == PROFILE_UNIT) {
			free(u->contents);
			u->contents = data;
			u->contents_len = len;
			data = NULL;
			continue;
		}
		if (!u->dropins && !(u->dropins = json_array())) {
			e = K_ENOMEM;
			goto out;
		}
		json_t *contents = json_stringn(data, len);
		free(data); /* a drop-in's text lives on in the JSON string */
		data = NULL;
		if (!contents) {
			e = K_EINVAL;
			goto out;
		}
		json_array_append_new(u->dropins, json_pack("{s:s,s:o}", "name", it->dropin,
		                                            "contents", contents));
	}
	for (size_t i = 0; i < profile_unit_count(p); i++) {
		const struct profile_unit *pu = profile_unit_at(p, i);
		struct runit *u = unit_get(st, pu->name);
		if (pu->mask)
			u->mask = true;
		if (pu->enabled >= 0)
			u->enabled = pu->enabled;
	}
out:
	free(data);
	return e;
}

static int cmp_runit(const void *a, const void *b)
{
	return strcmp(((const struct runit *)a)->name, ((const struct runit *)b)->name);
}

static int cmp_rfile(const void *a, const void *b)
{
	return strcmp(((const struct rfile *)a)->it->path, ((const struct rfile *)b)->it->path);
}

/* {"id": n} for a decimal id, else {"name": s}. */
static json_t *owner_json(const char *s)
{
	if (s[0] >= '0' && s[0] <= '9')
		return json_pack("{s:I}", "id", (json_int_t)strtoll(s, NULL, 10));
	return json_pack("{s:s}", "name", s);
}

static json_t *file_json(const struct render_spec *sp, const struct rfile *f)
{
	json_t *o = json_object(), *src = data_url(f->data, f->len);

	if (!o || !src) {
		json_decref(o);
		json_decref(src);
		return NULL;
	}
	if (sp->major == 2)
		json_object_set_new(o, "filesystem", json_string("root"));
	json_object_set_new(o, "path", json_string(f->it->path));
	if (sp->major == 3)
		json_object_set_new(o, "overwrite", json_true());
	json_object_set_new(o, "mode", json_integer(f->it->mode));
	if (f->it->user)
		json_object_set_new(o, "user", owner_json(f->it->user));
	if (f->it->group)
		json_object_set_new(o, "group", owner_json(f->it->group));
	json_object_set_new(o, "contents", json_pack("{s:o}", "source", src));
	return o;
}

static json_t *unit_json(struct runit *u)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "name", json_string(u->name));
	if (u->enabled >= 0)
		json_object_set_new(o, "enabled", json_boolean(u->enabled));
	else if (u->contents && !u->mask)
		json_object_set_new(o, "enabled", json_true());
	if (u->mask)
		json_object_set_new(o, "mask", json_true());
	if (u->contents) {
		json_t *c = json_stringn(u->contents, u->contents_len);
		if (!c) {
			json_decref(o);
			return NULL;
		}
		json_object_set_new(o, "contents", c);
	}
	if (u->dropins) {
		json_object_set(o, "dropins", u->dropins);
	}
	return o;
}

static void rstate_free(struct rstate *st)
{
	for (size_t i = 0; i < st->nunits; i++) {
		free(st->units[i].contents);
		json_decref(st->units[i].dropins);
	}
	for (size_t i = 0; i < st->nfiles; i++)
		free(st->files[i].data);
	free(st->units);
	free(st->files);
}

/* Adds the ignition object to root. */
static json_t *ignition_root(const struct render_spec *sp)
{
	return json_pack("{s:{s:s}}", "ignition", "version", sp->version);
}

/* kindling's CA as one more file, unless a profile writes that path itself. */
static enum kerr add_ca_file(struct rstate *st, const char *pem)
{
	static const struct profile_item ca_item = {
	        .kind = PROFILE_FILE,
	        .path = RENDER_CA_PATH,
	        .source = "--tls-ca",
	        .mode = 0644,
	};
	for (size_t i = 0; i < st->nfiles; i++)
		if (!strcmp(st->files[i].it->path, RENDER_CA_PATH))
			return K_OK;
	char *data = strdup(pem);
	if (!data)
		return K_ENOMEM;
	st->files[st->nfiles++] = (struct rfile){.it = &ca_item, .data = data, .len = strlen(pem)};
	return K_OK;
}

enum kerr render_config(const struct profile_set *ps, const struct render_cluster *c,
                        const char *version, char **out, size_t *out_len)
{
	enum kerr e = K_OK;
	struct rstate st = {.spec = spec_find(version)};
	json_t *root = NULL, *arr;
	size_t nitems = 0, i;
	json_t *pv;
	char *text;

	if (!st.spec || !json_is_array(c->profiles)) {
		e = K_EINVAL;
		goto out;
	}
	json_array_foreach (c->profiles, i, pv) {
		const struct profile *p = profile_get(ps, json_string_value(pv));
		if (!p) {
			e = K_EINVAL;
			goto out;
		}
		nitems += profile_item_count(p) + profile_unit_count(p);
	}
	e = render_check(ps, c->profiles, version, "version", NULL);
	if (e != K_OK)
		goto out; /* never a config with something the target cannot express left out */
	st.units = calloc(nitems + 1, sizeof(*st.units));
	st.files = calloc(nitems + 2, sizeof(*st.files)); /* + kindling's CA */
	root = ignition_root(st.spec);
	if (!st.units || !st.files || !root) {
		e = K_ENOMEM;
		goto out;
	}
	json_array_foreach (c->profiles, i, pv) {
		e = collect(&st, profile_get(ps, json_string_value(pv)), c);
		if (e != K_OK)
			goto out;
	}
	if (c->ca_pem) {
		e = add_ca_file(&st, c->ca_pem);
		if (e != K_OK)
			goto out;
	}
	qsort(st.units, st.nunits, sizeof(*st.units), cmp_runit);
	qsort(st.files, st.nfiles, sizeof(*st.files), cmp_rfile);
	if (st.nfiles) {
		arr = json_array();
		json_object_set_new(root, "storage", json_pack("{s:o}", "files", arr));
		for (i = 0; i < st.nfiles; i++) {
			json_t *f = file_json(st.spec, &st.files[i]);
			if (!f || json_array_append_new(arr, f) < 0) {
				e = K_ENOMEM;
				goto out;
			}
		}
	}
	if (st.nunits) {
		arr = json_array();
		json_object_set_new(root, "systemd", json_pack("{s:o}", "units", arr));
		for (i = 0; i < st.nunits; i++) {
			json_t *u = unit_json(&st.units[i]);
			if (!u || json_array_append_new(arr, u) < 0) {
				e = K_ENOMEM;
				goto out;
			}
		}
	}
	text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!text) {
		e = K_ENOMEM;
		goto out;
	}
	*out = text;
	*out_len = strlen(text);
out:
	json_decref(root);
	rstate_free(&st);
	return e;
}

/* ---- pointer configs ---- */

static bool hex_run(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool hash_valid(const struct render_spec *sp, const char *h)
{
	if (strncmp(h, "sha512-", 7) == 0)
		return hex_run(h + 7, 128);
	if ((sp->features & RENDER_SHA256) && strncmp(h, "sha256-", 7) == 0)
		return hex_run(h + 7, 64);
	return false;
}

/* True when s is printable ASCII: safe in a header value and a URL query. */
static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

enum kerr render_pointer(const struct render_pointer *p, char **out, size_t *out_len)
{
	static const char hex[] = "0123456789ABCDEF";
	const struct render_spec *sp = spec_find(p->version);
	enum kerr e = K_OK;
	json_t *root = NULL, *ign, *replace;
	struct buf url;
	char *text;

	buf_init(&url, 16384);
	if (!sp || !p->source_url ||
	    (strncmp(p->source_url, "http://", 7) != 0 &&
	     strncmp(p->source_url, "https://", 8) != 0) ||
	    !printable(p->source_url) || (p->token && (!*p->token || !printable(p->token))) ||
	    (p->hash && !hash_valid(sp, p->hash)) || (p->ca_pem && !(sp->features & RENDER_TLS)) ||
	    p->http_total_s < 0) {
		e = K_EINVAL;
		goto out;
	}
	e = buf_addstr(&url, p->source_url);
	if (e == K_OK && p->token && !(sp->features & RENDER_HTTP_HEADERS)) {
		e = buf_addstr(&url, strchr(p->source_url, '?') ? "&token=" : "?token=");
		for (const char *t = p->token; *t && e == K_OK; t++) {
			unsigned char ch = (unsigned char)*t;
			if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
			    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
			    ch == '~') {
				e = buf_add(&url, t, 1);
			} else {
				char esc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
				e = buf_add(&url, esc, 3);
			}
		}
	}
	if (e != K_OK)
		goto out;
	root = ignition_root(sp);
	if (!root) {
		e = K_ENOMEM;
		goto out;
	}
	ign = json_object_get(root, "ignition");
	replace = json_pack("{s:s}", "source", buf_str(&url));
	json_object_set_new(ign, "config", json_pack("{s:o}", "replace", replace));
	if (p->hash)
		json_object_set_new(replace, "verification", json_pack("{s:s}", "hash", p->hash));
	if (p->token && (sp->features & RENDER_HTTP_HEADERS)) {
		struct buf v;
		buf_init(&v, 4096);
		buf_addf(&v, "Bearer %s", p->token);
		json_object_set_new(
		        replace, "httpHeaders",
		        json_pack("[{s:s,s:s}]", "name", "Authorization", "value", buf_str(&v)));
		buf_free(&v);
	}
	if (p->http_total_s > 0)
		json_object_set_new(ign, "timeouts",
		                    json_pack("{s:i}", "httpTotal", p->http_total_s));
	if (p->ca_pem) {
		json_t *src = data_url(p->ca_pem, strlen(p->ca_pem));
		if (!src) {
			e = K_ENOMEM;
			goto out;
		}
		json_object_set_new(ign, "security",
		                    json_pack("{s:{s:[{s:o}]}}", "tls", "certificateAuthorities",
		                              "source", src));
	}
	text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!text) {
		e = K_ENOMEM;
		goto out;
	}
	*out = text;
	*out_len = strlen(text);
out:
	json_decref(root);
	buf_free(&url);
	return e;
}
