/* generations.c - a cluster's generations: history, rendering, diffs. */
#include "generations.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "render.h"
#include "snapshots.h"
#include "view.h"

#define DIFF_CONTEXT   3
#define DIFF_CELLS_MAX (4 * 1024 * 1024) /* lines(a) x lines(b) compared at most */

struct list_ctx {
	json_t *arr;
	int64_t current;
	json_t *nodes; /* {generation: count} from the fetch log */
};

static void one_generation(const struct store_generation *g, void *arg)
{
	struct list_ctx *lc = arg;
	char key[24];
	snprintf(key, sizeof(key), "%lld", (long long)g->generation);
	json_t *nodes = json_object_get(lc->nodes, key);
	json_array_append_new(lc->arr, json_pack("{s:I, s:I, s:O, s:I, s:I, s:b}", "generation",
	                                         (json_int_t)g->generation, "created_at",
	                                         (json_int_t)g->created_at, "change", g->change,
	                                         "fetches", (json_int_t)g->fetches, "nodes",
	                                         nodes ? json_integer_value(nodes) : 0, "current",
	                                         g->generation == lc->current));
}

/* The fetch log's clients by their newest fetch: each counted once, on
 * the generation that fetch was served. */
struct nodes_ctx {
	json_t *seen;  /* client -> true */
	json_t *count; /* generation -> n */
};

static void one_fetch(const struct store_fetch *f, void *arg)
{
	struct nodes_ctx *nc = arg;
	if (f->status != 200 || !f->generation || json_object_get(nc->seen, f->client))
		return;
	json_object_set_new(nc->seen, f->client, json_true());
	char key[24];
	snprintf(key, sizeof(key), "%lld", (long long)f->generation);
	json_t *n = json_object_get(nc->count, key);
	json_object_set_new(nc->count, key, json_integer(n ? json_integer_value(n) + 1 : 1));
}

json_t *generations_list_json(const struct app *a, const struct cluster *c, enum kerr *err)
{
	struct nodes_ctx nc = {json_object(), json_object()};
	struct list_ctx lc = {json_array(), c->generation, nc.count};
	*err = store_fetches_list(a->store, c->id, a->cfg->fetch_log_size, one_fetch, &nc);
	if (*err == K_OK)
		*err = store_generations_list(a->store, c->id, one_generation, &lc);
	json_t *j = NULL;
	if (*err == K_OK)
		j = json_pack("{s:s, s:I, s:i, s:O, s:o}", "cluster", c->name, "current",
		              (json_int_t)c->generation, "keep", a->cfg->keep_generations,
		              "nodes_by_generation", nc.count, "generations", lc.arr);
	else
		json_decref(lc.arr);
	json_decref(nc.seen);
	json_decref(nc.count);
	if (!j && *err == K_OK)
		*err = K_ENOMEM;
	return j;
}

json_t *generations_masked(const json_t *values, const json_t *secrets)
{
	json_t *copy = json_deep_copy(values);
	const char *key;
	json_t *v;
	json_object_foreach (copy, key, v) {
		if (json_object_get(secrets, key))
			json_object_set_new(copy, key, json_string(GENERATIONS_MASKED));
	}
	return copy;
}

enum kerr generations_render(const struct app *a, const struct cluster *c, int64_t gen,
                             const char *version, bool reveal, char **out, size_t *out_len,
                             json_t **out_inputs, struct store_generation *out_row)
{
	struct store_generation g = {0};
	enum kerr e = K_OK;
	json_t *inputs;
	if (gen == GENERATIONS_PENDING) { /* the current inputs, the folders' profiles */
		inputs = store_generation_inputs(c);
		if (inputs)
			json_object_set_new(inputs, "profile_versions", json_null());
	} else {
		e = store_generation_get(a->store, c->id, gen, &g);
		inputs = e == K_OK ? json_incref(g.inputs) : NULL;
	}
	if (out_row && e == K_OK)
		*out_row = g; /* its references go with it */
	else
		store_generation_clear(&g);
	if (e != K_OK)
		return e;
	if (!inputs)
		return K_ENOMEM;
	json_t *profiles = json_object_get(inputs, "profiles");
	json_t *versions = json_object_get(inputs, "profile_versions");
	json_t *secrets = json_object_get(inputs, "secrets");
	json_t *vars = reveal ? json_incref(json_object_get(inputs, "vars"))
	                      : generations_masked(json_object_get(inputs, "vars"), secrets);
	json_t *shown = reveal ? json_incref(secrets) : generations_masked(secrets, secrets);
	const char *dflt = json_string_value(json_object_get(inputs, "ignition_version"));
	struct profile_set *ps = NULL;
	struct buf why;
	buf_init(&why, 256);
	struct render_cluster rc = view_render_input(a, c);
	rc.profiles = profiles;
	rc.vars = vars;
	rc.secrets = shown;
	e = vars && shown && dflt ? K_OK : K_EIO;
	if (e == K_OK)
		e = snapshots_set(a->snapshots, profiles, json_is_array(versions) ? versions : NULL,
		                  &ps, &why);
	if (e == K_OK)
		e = render_config(ps, &rc, version ? version : dflt, out, out_len);
	if (e == K_OK && out_inputs) {
		json_object_set(inputs, "vars", vars);
		json_object_set(inputs, "secrets", shown);
		*out_inputs = json_incref(inputs);
	}
	profile_set_free(&ps);
	buf_free(&why);
	json_decref(vars);
	json_decref(shown);
	json_decref(inputs);
	return e;
}

/* ---- diffs ---- */

static int hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	                              : -1;
}

/* The text of a "data:," URL (percent-decoded; base64 ones are shown as is). */
static char *data_text(const char *url)
{
	if (strncmp(url, "data:,", 6) != 0)
		return strdup(url);
	const char *s = url + 6;
	char *out = malloc(strlen(s) + 1), *o = out;
	if (!out)
		return NULL;
	for (; *s; s++) {
		int h, l;
		if (*s == '%' && (h = hexval(s[1])) >= 0 && (l = hexval(s[2])) >= 0) {
			*o++ = (char)(h * 16 + l);
			s += 2;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
	return out;
}

/* What a config puts on a node, item by item: {"unit X": text, "drop-in
 * X/Y": text, "file P": text}, settings as header lines. */
static json_t *config_items(const char *text, size_t len)
{
	json_t *root = json_loadb(text, len, 0, NULL);
	json_t *items = root ? json_object() : NULL;
	size_t i, j;
	json_t *u, *d, *f;
	char key[4200];
	json_array_foreach (json_object_get(json_object_get(root, "systemd"), "units"), i, u) {
		const char *name = json_string_value(json_object_get(u, "name"));
		const char *contents = json_string_value(json_object_get(u, "contents"));
		if (!name)
			continue;
		json_t *en = json_object_get(u, "enabled");
		char *s = NULL;
		if (asprintf(&s, "# enabled: %s, mask: %s\n%s",
		             en ? (json_is_true(en) ? "true" : "false") : "(unset)",
		             json_is_true(json_object_get(u, "mask")) ? "true" : "false",
		             contents ? contents : "") < 0)
			s = NULL;
		snprintf(key, sizeof(key), "unit %s", name);
		json_object_set_new(items, key, json_string(s ? s : ""));
		free(s);
		json_array_foreach (json_object_get(u, "dropins"), j, d) {
			const char *dn = json_string_value(json_object_get(d, "name"));
			const char *dc = json_string_value(json_object_get(d, "contents"));
			snprintf(key, sizeof(key), "drop-in %s/%s", name, dn ? dn : "");
			json_object_set_new(items, key, json_string(dc ? dc : ""));
		}
	}
	json_array_foreach (json_object_get(json_object_get(root, "storage"), "files"), i, f) {
		const char *path = json_string_value(json_object_get(f, "path"));
		const char *src = json_string_value(
		        json_object_get(json_object_get(f, "contents"), "source"));
		if (!path)
			continue;
		char *data = data_text(src ? src : "");
		char *s = NULL;
		if (data &&
		    asprintf(&s, "# mode: %04llo\n%s",
		             (unsigned long long)json_integer_value(json_object_get(f, "mode")),
		             data) < 0)
			s = NULL;
		free(data);
		snprintf(key, sizeof(key), "file %s", path);
		json_object_set_new(items, key, s ? json_string(s) : json_string(""));
		free(s);
	}
	json_decref(root);
	return items;
}

/* Splits text into lines (pointers into a copy; *out_buf owns it). */
static char **split_lines(const char *text, size_t *n, char **out_buf)
{
	char *buf = strdup(text);
	size_t cap = 16, k = 0;
	char **lines = buf ? malloc(cap * sizeof(*lines)) : NULL;
	if (!lines) {
		free(buf);
		return NULL;
	}
	for (char *p = buf; *p;) {
		if (k == cap) {
			char **grown = realloc(lines, (cap *= 2) * sizeof(*lines));
			if (!grown) {
				free(lines);
				free(buf);
				return NULL;
			}
			lines = grown;
		}
		lines[k++] = p;
		char *nl = strchr(p, '\n');
		if (!nl)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	*n = k;
	*out_buf = buf;
	return lines;
}

static void add_line(json_t *out, const char *op, size_t old_no, size_t new_no, const char *text)
{
	json_array_append_new(out,
	                      json_pack("{s:s, s:I, s:I, s:s}", "op", op, "old", (json_int_t)old_no,
	                                "new", (json_int_t)new_no, "text", text));
}

/* The lines of a diff of a and b with DIFF_CONTEXT lines around changes
 * (longest common subsequence; past DIFF_CELLS_MAX every line differs). */
static json_t *diff_lines(const char *a, const char *b)
{
	size_t na = 0, nb = 0;
	char *ba = NULL, *bb = NULL;
	char **la = split_lines(a, &na, &ba), **lb = split_lines(b, &nb, &bb);
	json_t *out = json_array();
	unsigned *lcs = NULL;
	bool fits = (na + 1) * (nb + 1) <= DIFF_CELLS_MAX;
	if (la && lb && fits)
		lcs = calloc((na + 1) * (nb + 1), sizeof(*lcs));
	if (la && lb && (lcs || !fits)) {
		if (lcs)
			for (size_t i = na; i-- > 0;)
				for (size_t j = nb; j-- > 0;)
					lcs[i * (nb + 1) + j] =
					        !strcmp(la[i], lb[j])
					                ? lcs[(i + 1) * (nb + 1) + j + 1] + 1
					        : lcs[(i + 1) * (nb + 1) + j] >
					                        lcs[i * (nb + 1) + j + 1]
					                ? lcs[(i + 1) * (nb + 1) + j]
					                : lcs[i * (nb + 1) + j + 1];
		/* the whole script, then keep the changes and their context */
		json_t *all = json_array();
		size_t i = 0, j = 0;
		while (i < na || j < nb) {
			if (lcs && i < na && j < nb && !strcmp(la[i], lb[j])) {
				add_line(all, " ", i + 1, j + 1, la[i]);
				i++, j++;
			} else if (i < na &&
			           (j == nb || !lcs ||
			            lcs[(i + 1) * (nb + 1) + j] >= lcs[i * (nb + 1) + j + 1])) {
				add_line(all, "-", i + 1, 0, la[i]);
				i++;
			} else {
				add_line(all, "+", 0, j + 1, lb[j]);
				j++;
			}
		}
		size_t n = json_array_size(all);
		for (size_t k = 0; k < n; k++) {
			bool near = false;
			for (size_t d = k >= DIFF_CONTEXT ? k - DIFF_CONTEXT : 0;
			     d <= k + DIFF_CONTEXT && d < n && !near; d++)
				near = strcmp(json_string_value(json_object_get(
				                      json_array_get(all, d), "op")),
				              " ") != 0;
			if (near)
				json_array_append(out, json_array_get(all, k));
		}
		json_decref(all);
	}
	free(lcs);
	free(la);
	free(lb);
	free(ba);
	free(bb);
	return out;
}

json_t *generations_diff(const char *from, size_t from_len, const char *to, size_t to_len)
{
	json_t *a = config_items(from, from_len), *b = config_items(to, to_len);
	json_t *items = a && b ? json_array() : NULL;
	json_t *keys = json_object();
	const char *k;
	json_t *v;
	json_object_foreach (a, k, v) {
		json_object_set_new(keys, k, json_true());
	}
	json_object_foreach (b, k, v) {
		json_object_set_new(keys, k, json_true());
	}
	/* jansson keeps insertion order: sort the names for a stable diff */
	size_t n = json_object_size(keys), i = 0;
	const char **names = calloc(n + 1, sizeof(*names));
	json_object_foreach (keys, k, v) {
		if (names)
			names[i++] = k;
	}
	for (size_t x = 1; names && x < n; x++)
		for (size_t y = x; y > 0 && strcmp(names[y - 1], names[y]) > 0; y--) {
			const char *t = names[y];
			names[y] = names[y - 1];
			names[y - 1] = t;
		}
	for (i = 0; items && names && i < n; i++) {
		const char *sa = json_string_value(json_object_get(a, names[i]));
		const char *sb = json_string_value(json_object_get(b, names[i]));
		if (sa && sb && !strcmp(sa, sb))
			continue;
		const char *sp = strchr(names[i], ' ');
		json_array_append_new(items,
		                      json_pack("{s:s, s:s#, s:s, s:o}", "item", names[i], "kind",
		                                names[i], (int)(sp ? sp - names[i] : 0), "status",
		                                !sa   ? "added"
		                                : !sb ? "removed"
		                                      : "changed",
		                                "lines", diff_lines(sa ? sa : "", sb ? sb : "")));
	}
	json_t *j = items ? json_pack("{s:o}", "items", items) : NULL;
	free(names);
	json_decref(keys);
	json_decref(a);
	json_decref(b);
	return j;
}

enum kerr generations_compare(const struct app *a, const struct cluster *c, int64_t from,
                              int64_t to, bool reveal, json_t **out, int64_t *bad)
{
	char *fa = NULL, *fb = NULL;
	size_t la = 0, lb = 0;
	json_t *ia = NULL, *ib = NULL;
	*bad = from;
	enum kerr e = generations_render(a, c, from, NULL, reveal, &fa, &la, &ia, NULL);
	if (e == K_OK) {
		*bad = to;
		e = generations_render(a, c, to, NULL, reveal, &fb, &lb, &ib, NULL);
	}
	json_t *d = e == K_OK ? generations_diff(fa, la, fb, lb) : NULL;
	if (e == K_OK && !d)
		e = K_ENOMEM;
	if (d) {
		json_t *vars = json_array();
		json_t *va = json_object_get(ia, "vars"), *vb = json_object_get(ib, "vars");
		const char *k;
		json_t *v;
		json_object_foreach (va, k, v) {
			if (!json_equal(v, json_object_get(vb, k)))
				json_array_append_new(vars, json_string(k));
		}
		json_object_foreach (vb, k, v) {
			if (!json_object_get(va, k))
				json_array_append_new(vars, json_string(k));
		}
		json_object_set_new(d, "cluster", json_string(c->name));
		json_object_set_new(d, "from",
		                    from == GENERATIONS_PENDING ? json_string("profiles")
		                                                : json_integer(from));
		json_object_set_new(d, "to",
		                    to == GENERATIONS_PENDING ? json_string("profiles")
		                                              : json_integer(to));
		json_object_set_new(d, "vars", vars);
		json_object_set_new(d, "same", json_boolean(la == lb && !memcmp(fa, fb, la)));
		*out = d;
	}
	free(fa);
	free(fb);
	json_decref(ia);
	json_decref(ib);
	return e;
}
