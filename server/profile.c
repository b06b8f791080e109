/* profile.c - loading profile folders (templates/NAME/) and checking a cluster's choice. */
#include "profile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rand.h"
#include "subst.h"

#define SECRET_LEN           32   /* characters of a generated secret */
#define DIR_ENTRIES_MAX      1024 /* entries of one directory inside a profile */
#define FILES_DEPTH_MAX      32   /* directory levels under files/ */
#define NODE_PATH_MAX        4096 /* bytes of a path on the node */
#define PROFILES_PER_CLUSTER 64
#define BUILTIN_VALUE_MAX    2048 /* assumed size of a built-in value in size estimates */
#define MSG_MAX              4096 /* bytes of one message */

static const char *const builtins[] = {
        "cluster_name", "cluster_id", "size", "discovery_url", "public_url",
};

static const char *const unit_suffixes[] = {
        ".service", ".socket", ".timer", ".mount", ".path",      ".target",
        ".device",  ".swap",   ".slice", ".scope", ".automount",
};

struct var {
	char *name;
	char *description;
	char *dflt; /* NULL: no default */
	bool required;
	bool secret;   /* "generate": "secret" */
	char *in_unit; /* the first unit whose contents or drop-in use it, or NULL */
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
};

struct profile_set {
	struct profile **p; /* sorted by name */
	size_t n;
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

/* Why a variable value is unacceptable anywhere, or NULL when it is fine. */
static const char *value_problem(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	if (n > PROFILE_VALUE_MAX)
		return "is longer than 65536 bytes";
	for (size_t i = 0; i < n; i++) {
		if ((p[i] < 0x20 && p[i] != '\n' && p[i] != '\t') || p[i] == 0x7f ||
		    (p[i] == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f))
			return "contains a control character (only tab and newline are allowed)";
	}
	return NULL;
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

static void profile_free(struct profile **pp)
{
	struct profile *p;

	if (!pp || !*pp)
		return;
	p = *pp;
	for (size_t i = 0; i < p->nvars; i++) {
		free(p->vars[i].name);
		free(p->vars[i].description);
		free(p->vars[i].dflt);
		free(p->vars[i].in_unit);
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
	free(p->dir);
	free(p->name);
	free(p);
	*pp = NULL;
}

void profile_set_free(struct profile_set **ps)
{
	if (!ps || !*ps)
		return;
	for (size_t i = 0; i < (*ps)->n; i++)
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

/* Lists dfd's entries but . and .., sorted. shown names dfd in messages. */
static enum kerr list_dir(int dfd, const char *shown, char ***out, size_t *out_n,
                          struct buf *errmsg)
{
	enum kerr e = K_OK;
	char **names = NULL;
	size_t n = 0;
	DIR *d = NULL;
	struct dirent *de;
	int fd = dup(dfd);

	if (fd < 0 || !(d = fdopendir(fd))) {
		e = fail(errmsg, "%s: %s", shown, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	rewinddir(d);
	names = calloc(DIR_ENTRIES_MAX, sizeof(*names));
	if (!names) {
		e = K_ENOMEM;
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
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
	qsort(names, n, sizeof(*names), cmp_str);
	*out = names;
	*out_n = n;
	names = NULL;
out:
	if (names)
		names_free(names, n);
	if (d)
		closedir(d);
	return e;
}

/* The type (S_IFREG or S_IFDIR) of dfd/name; symlinks and others are errors. */
static enum kerr entry_type(int dfd, const char *name, const char *shown, mode_t *out,
                            struct buf *errmsg)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(errmsg, "%s: %s", shown, strerror(errno));
	if (S_ISLNK(st.st_mode))
		return fail(errmsg, "%s: symbolic links are not allowed in a profile", shown);
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return fail(errmsg, "%s: not a regular file or directory", shown);
	*out = st.st_mode & S_IFMT;
	return K_OK;
}

/* Opens the subdirectory dfd/name without following symlinks. */
static enum kerr open_subdir(int dfd, const char *name, const char *shown, int *out,
                             struct buf *errmsg)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return fail(errmsg, "%s: %s", shown, strerror(errno));
	*out = fd;
	return K_OK;
}

/* Reads the regular file dfd/name (at most PROFILE_TPL_MAX bytes), NUL-terminated. */
static enum kerr read_at(int dfd, const char *name, const char *shown, char **out, size_t *out_len,
                         struct buf *errmsg)
{
	enum kerr e = K_OK;
	struct stat st;
	char *data = NULL;
	size_t len = 0, cap;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

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
static enum kerr read_unit_text(int dfd, const char *name, const char *shown, char **out,
                                size_t *out_len, struct buf *errmsg)
{
	enum kerr e = read_at(dfd, name, shown, out, out_len, errmsg);

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
static enum kerr load_dropins(struct profile *p, int dfd, const char *unit, const char *shown,
                              struct buf *errmsg)
{
	enum kerr e;
	char **names = NULL, *sub = NULL, *tpl = NULL;
	size_t n = 0, len = 0;
	mode_t type = 0;

	e = list_dir(dfd, shown, &names, &n, errmsg);
	if (e != K_OK)
		goto out;
	for (size_t i = 0; i < n; i++) {
		free(sub);
		sub = join(shown, names[i]);
		if (!sub) {
			e = K_ENOMEM;
			goto out;
		}
		e = entry_type(dfd, names[i], sub, &type, errmsg);
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
		e = read_unit_text(dfd, names[i], sub, &tpl, &len, errmsg);
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
static enum kerr load_systemd(struct profile *p, int dfd, const char *shown, struct buf *errmsg)
{
	enum kerr e;
	char **names = NULL, *sub = NULL, *tpl = NULL, *unit = NULL;
	size_t n = 0, len = 0;
	mode_t type = 0;
	int fd = -1;

	e = list_dir(dfd, shown, &names, &n, errmsg);
	if (e != K_OK)
		goto out;
	for (size_t i = 0; i < n; i++) {
		free(sub);
		sub = join(shown, names[i]);
		if (!sub) {
			e = K_ENOMEM;
			goto out;
		}
		e = entry_type(dfd, names[i], sub, &type, errmsg);
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
			e = read_unit_text(dfd, names[i], sub, &tpl, &len, errmsg);
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
		e = open_subdir(dfd, names[i], sub, &fd, errmsg);
		if (e != K_OK)
			goto out;
		e = load_dropins(p, fd, unit, sub, errmsg);
		close(fd);
		fd = -1;
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
static enum kerr load_files(struct profile *p, int dfd, const char *shown, const char *nodepath,
                            int depth, struct buf *errmsg)
{
	enum kerr e;
	char **names = NULL, *sub = NULL, *np = NULL, *tpl = NULL;
	size_t n = 0, len = 0;
	mode_t type = 0;
	int fd = -1;

	if (depth > FILES_DEPTH_MAX)
		return fail(errmsg, "%s: nested deeper than %d directories", shown,
		            FILES_DEPTH_MAX);
	e = list_dir(dfd, shown, &names, &n, errmsg);
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
		e = entry_type(dfd, names[i], sub, &type, errmsg);
		if (e != K_OK)
			goto out;
		if (type == S_IFDIR) {
			e = open_subdir(dfd, names[i], sub, &fd, errmsg);
			if (e != K_OK)
				goto out;
			e = load_files(p, fd, sub, np, depth + 1, errmsg);
			close(fd);
			fd = -1;
			if (e != K_OK)
				goto out;
			continue;
		}
		e = read_at(dfd, names[i], sub, &tpl, &len, errmsg);
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

static enum kerr parse_variables(struct profile *p, json_t *vars, const char *shown,
                                 struct buf *errmsg)
{
	static const char *const keys[] = {"description", "default", "required", "generate", NULL};
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
		if (!var->name)
			return K_ENOMEM;
		x = json_object_get(v, "description");
		if (x && !json_is_string(x))
			return fail(errmsg, "%s: variables.%s.description must be a string", shown,
			            name);
		var->description = strdup(x ? json_string_value(x) : "");
		if (!var->description)
			return K_ENOMEM;
		x = json_object_get(v, "default");
		if (x) {
			const char *why;
			if (!json_is_string(x))
				return fail(errmsg, "%s: variables.%s.default must be a string",
				            shown, name);
			why = value_problem(json_string_value(x), json_string_length(x));
			if (why)
				return fail(errmsg, "%s: variables.%s.default %s", shown, name,
				            why);
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
	static const char *const keys[] = {"mode", "owner", "group", NULL};
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

static enum kerr check_ref(void *ctx, const char *name, unsigned line)
{
	struct refcheck *rc = ctx;
	struct var *v;

	if (profile_builtin(name))
		return K_OK;
	v = find_var(rc->p, name);
	if (!v)
		return fail(rc->errmsg,
		            "%s:%u: unknown variable ${%s} (declare it under \"variables\" in "
		            "profile.json, or write $${%s} for a literal ${%s})",
		            rc->it->source, line, name, name, name);
	if (rc->it->pub.kind != PROFILE_FILE && !v->in_unit) {
		v->in_unit = strdup(rc->it->unit);
		if (!v->in_unit)
			return K_ENOMEM;
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

static enum kerr load_profile(const char *dir, const char *name, struct profile **out,
                              struct buf *errmsg)
{
	enum kerr e = K_OK;
	struct profile *p = NULL;
	char **names = NULL, *sub = NULL, *json = NULL;
	size_t n = 0, json_len = 0;
	json_t *root = NULL;
	json_error_t jerr;
	mode_t type = 0;
	int dfd = -1, fd = -1;

	p = calloc(1, sizeof(*p));
	if (!p || !(p->name = strdup(name)) || !(p->dir = join(dir, name))) {
		e = K_ENOMEM;
		goto out;
	}
	dfd = open(p->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		e = fail(errmsg, "%s: %s", p->dir, strerror(errno));
		goto out;
	}
	e = list_dir(dfd, p->dir, &names, &n, errmsg);
	if (e != K_OK)
		goto out;
	for (size_t i = 0; i < n; i++) {
		free(sub);
		sub = join(p->dir, names[i]);
		if (!sub) {
			e = K_ENOMEM;
			goto out;
		}
		e = entry_type(dfd, names[i], sub, &type, errmsg);
		if (e != K_OK)
			goto out;
		if (strcmp(names[i], "profile.json") == 0 && type == S_IFREG) {
			e = read_at(dfd, names[i], sub, &json, &json_len, errmsg);
		} else if ((strcmp(names[i], "systemd") == 0 || strcmp(names[i], "files") == 0) &&
		           type == S_IFDIR) {
			e = open_subdir(dfd, names[i], sub, &fd, errmsg);
			if (e != K_OK)
				goto out;
			if (names[i][0] == 's')
				e = load_systemd(p, fd, sub, errmsg);
			else
				e = load_files(p, fd, sub, "", 0, errmsg);
			close(fd);
			fd = -1;
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
	root = json_loadb(json, json_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		e = fail(errmsg, "%s:%d: %s", sub, jerr.line, jerr.text);
		goto out;
	}
	e = parse_manifest(p, root, sub, errmsg);
	if (e != K_OK)
		goto out;
	for (size_t i = 0; i < p->nitems; i++) {
		struct refcheck rc = {.p = p, .it = &p->items[i], .errmsg = errmsg};
		e = subst_scan(p->items[i].tpl, p->items[i].pub.tpl_len, p->items[i].source,
		               check_ref, &rc, errmsg);
		if (e != K_OK)
			goto out;
	}
	e = finish(p, root);
	if (e != K_OK)
		goto out;
	*out = p;
	p = NULL;
out:
	json_decref(root);
	free(json);
	free(sub);
	names_free(names, n);
	if (dfd >= 0)
		close(dfd);
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

	if (dfd < 0) {
		e = fail(errmsg, "%s: %s", dir, strerror(errno));
		goto out;
	}
	e = list_dir(dfd, dir, &names, &n, errmsg);
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

/* ---- access ---- */

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
	if (json_is_string(x)) {
		*out = json_string_value(x);
		return K_OK;
	}
	if (v->dflt) {
		*out = v->dflt;
		return K_OK;
	}
	x = json_object_get(secrets, name);
	if (json_is_string(x)) {
		*out = json_string_value(x);
		return K_OK;
	}
	if (v->required || v->secret)
		return K_EINVAL;
	*out = "";
	return K_OK;
}

json_t *profile_set_describe(const struct profile_set *ps)
{
	json_t *arr = json_array(), *root = json_pack("{s:o}", "profiles", arr);

	if (!root)
		return NULL;
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
			json_array_append_new(vars,
			                      json_pack("{s:s,s:s,s:s?,s:b,s:s?}", "name", v->name,
			                                "description", v->description, "default",
			                                v->dflt, "required", v->required,
			                                "generate", v->secret ? "secret" : NULL));
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

/* The size of tpl after expansion, estimated from the values the cluster would use. */
struct estimate {
	const struct profile *p;
	const json_t *vars;
	size_t total;
};

static enum kerr estimate_ref(void *ctx, const char *name, unsigned line)
{
	struct estimate *es = ctx;
	const struct var *v = find_var(es->p, name);
	const json_t *x = json_object_get(es->vars, name);
	size_t n = SECRET_LEN;

	(void)line;
	if (profile_builtin(name))
		n = BUILTIN_VALUE_MAX;
	else if (json_is_string(x))
		n = json_string_length(x);
	else if (v && v->dflt)
		n = strlen(v->dflt);
	es->total += n;
	return es->total > PROFILE_RENDER_MAX ? K_ETOOBIG : K_OK;
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
			const char *why, *s;
			size_t n;
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
				s = json_string_value(val);
				n = json_string_length(val);
				why = value_problem(s, n);
				if (why) {
					add_error(errors, buf_str(&f), "%s", why);
					buf_free(&f);
					continue;
				}
				for (size_t i = 0; i < nchosen; i++) {
					const struct var *v = find_var(chosen[i], key);
					if (!v || !v->in_unit)
						continue;
					if (memchr(s, '\n', n)) {
						add_error(
						        errors, buf_str(&f),
						        "contains a newline but is used in systemd "
						        "unit %s (profile \"%s\")",
						        v->in_unit, chosen[i]->name);
						break;
					}
					if (n && s[n - 1] == '\\') {
						add_error(errors, buf_str(&f),
						          "ends with a backslash but is used in "
						          "systemd unit %s (profile \"%s\")",
						          v->in_unit, chosen[i]->name);
						break;
					}
				}
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
		for (size_t i = 0; i < nchosen && e == K_OK; i++) {
			es.p = chosen[i];
			for (size_t j = 0; j < chosen[i]->nitems && e == K_OK; j++) {
				const struct item *it = &chosen[i]->items[j];
				es.total += it->pub.tpl_len;
				e = subst_scan(it->tpl, it->pub.tpl_len, it->source, estimate_ref,
				               &es, NULL);
			}
		}
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
			e = rand_alnum(secret, SECRET_LEN);
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
