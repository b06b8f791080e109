/* render.c - profiles + a cluster -> Ignition JSON (spec 3.x and 2.x), and pointer configs. */
#include "render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "subst.h"

const char *const render_versions[] = {
        "3.4.0", "3.3.0", "3.2.0", "3.1.0", "3.0.0", "2.3.0", "2.2.0", "2.1.0", NULL,
};

/* What each spec version allows, as far as kindling's output goes. */
struct spec {
	const char *version;
	int major, minor;
	bool http_headers; /* ignition.config.replace.httpHeaders */
	bool security;     /* ignition.security.tls */
	bool sha256;       /* verification.hash may be sha256- */
};

static const struct spec specs[] = {
        {"3.4.0", 3, 4, true, true, true},   {"3.3.0", 3, 3, true, true, true},
        {"3.2.0", 3, 2, true, true, true},   {"3.1.0", 3, 1, true, true, true},
        {"3.0.0", 3, 0, false, true, false}, {"2.3.0", 2, 3, false, true, false},
        {"2.2.0", 2, 2, false, true, false}, {"2.1.0", 2, 1, false, false, false},
};

#define NSPECS            (sizeof(specs) / sizeof(specs[0]))
#define FALLBACK_VERSION  "3.3.0" /* when dflt is not a known version */
#define ACCEPT_RANGES_MAX 64      /* media ranges of an Accept header looked at */
#define IGNITION_TYPE     "application/vnd.coreos.ignition+json"

static const struct spec *spec_find(const char *v)
{
	for (size_t i = 0; v && i < NSPECS; i++)
		if (strcmp(specs[i].version, v) == 0)
			return &specs[i];
	return NULL;
}

bool render_version_known(const char *v)
{
	return spec_find(v) != NULL;
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
static const struct spec *best_for(const struct cver *c)
{
	for (size_t i = 0; i < NSPECS; i++) {
		const struct spec *s = &specs[i];
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
	const struct spec *best; /* best supported Ignition version listed */
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
	const struct spec *s2;
	if (!cver_parse(ver, ver_len, &c))
		return;
	s2 = best_for(&c);
	if (!s2)
		return;
	if (!r->best || q > r->best_q || (q == r->best_q && s2 < r->best)) {
		r->best = s2; /* specs[] is highest first: a lower address is a higher version */
		r->best_q = q;
	}
}

enum kerr render_negotiate(const char *query, const char *accept, const char *dflt,
                           const char **out_version)
{
	const struct spec *d = spec_find(dflt);
	struct accept_result r = {0};
	const char *s = accept;
	int ranges = 0;

	if (!d)
		d = spec_find(FALLBACK_VERSION);
	if (query) {
		const struct spec *q = spec_find(query);
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
	const struct spec *spec;
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

static json_t *file_json(const struct spec *sp, const struct rfile *f)
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
static json_t *ignition_root(const struct spec *sp)
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

static bool hash_valid(const struct spec *sp, const char *h)
{
	if (strncmp(h, "sha512-", 7) == 0)
		return hex_run(h + 7, 128);
	if (sp->sha256 && strncmp(h, "sha256-", 7) == 0)
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
	const struct spec *sp = spec_find(p->version);
	enum kerr e = K_OK;
	json_t *root = NULL, *ign, *replace;
	struct buf url;
	char *text;

	buf_init(&url, 16384);
	if (!sp || !p->source_url ||
	    (strncmp(p->source_url, "http://", 7) != 0 &&
	     strncmp(p->source_url, "https://", 8) != 0) ||
	    !printable(p->source_url) || (p->token && (!*p->token || !printable(p->token))) ||
	    (p->hash && !hash_valid(sp, p->hash)) || (p->ca_pem && !sp->security) ||
	    p->http_total_s < 0) {
		e = K_EINVAL;
		goto out;
	}
	e = buf_addstr(&url, p->source_url);
	if (e == K_OK && p->token && !sp->http_headers) {
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
	if (p->token && sp->http_headers) {
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
