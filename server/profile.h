/* profile.h - profiles: folders under templates/ loaded and checked once at start-up. */
#ifndef KINDLING_PROFILE_H
#define KINDLING_PROFILE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "subst.h"

/* The loaded profiles; immutable after load, safe to share between threads. */
struct profile_set;

/*
 * Loads every profile folder found directly under each of dirs[0..ndirs-1]; a
 * profile in a later dir replaces one of the same name from an earlier dir.
 * Each template's ${var} references are checked against the profile's
 * declared variables and the built-ins, and each variable's rule (type,
 * pattern, enum, max_length, min, max) against itself: it must compile, and
 * its default, its enum values and a generated secret must satisfy it.
 * Returns K_OK and a new set in *out
 * (free with profile_set_free), or K_EINVAL with a message naming file and
 * line appended to errmsg (and *out untouched).
 */
enum kerr profile_set_load(const char *const *dirs, size_t ndirs, struct profile_set **out,
                           struct buf *errmsg);

/* Frees the set and NULLs *ps. Accepts NULL and *ps == NULL. */
void profile_set_free(struct profile_set **ps);

/* One loaded profile, owned by its set (or by whoever loaded it alone). */
struct profile;

/*
 * Snapshots: every file a profile was loaded from is kept, by its path in
 * the profile folder ("profile.json", "systemd/etcd-member.service",
 * "files/etc/x"), as a JSON object {path: text} (bytes that are not UTF-8
 * text: {path: {"base64": ...}}); its digest (PROFILE_DIGEST_LEN hex digits
 * of the SHA-512 of that object with sorted keys) names that content. A
 * generation of a cluster stores the digests of its profiles; the files go
 * into the store once per digest, and the profile is loaded back from them
 * with the same checks as from a folder.
 */
#define PROFILE_DIGEST_LEN 32

const char *profile_name(const struct profile *p);
const char *profile_digest(const struct profile *p);
const json_t *profile_files(const struct profile *p); /* borrowed */

/* Loads a profile from a snapshot's files (as profile_files gave them).
 * K_OK with a new profile in *out (free with profile_free), K_EINVAL with a
 * message in errmsg, K_ENOMEM. */
enum kerr profile_load_snapshot(const char *name, const json_t *files, struct profile **out,
                                struct buf *errmsg);

/* Frees a profile loaded alone and NULLs *p. Accepts NULL. */
void profile_free(struct profile **p);

/* A set made of profiles owned elsewhere (they must outlive it; the set's
 * free leaves them alone): what one generation renders with. */
enum kerr profile_set_compose(const struct profile *const *profiles, size_t n,
                              struct profile_set **out);

/* The set's profiles, by name: i < profile_set_count(ps). */
size_t profile_set_count(const struct profile_set *ps);
const struct profile *profile_set_at(const struct profile_set *ps, size_t i);

/* Returns a new reference: the body of GET /profiles (every variable with its
 * rule, and the built-ins with theirs). */
json_t *profile_set_describe(const struct profile_set *ps);

/* True when a profile of that name was loaded. */
bool profile_exists(const struct profile_set *ps, const char *name);

/*
 * Validates a cluster's choice: profiles (array of names) and vars (object of
 * the operator's string values). For every problem appends {"field",
 * "message"} to errors (field like "profiles[1]" or "vars.rabbitmq_image").
 * Returns K_OK, or K_EINVAL when it appended anything. Checks: profiles exist,
 * no duplicates, no path defined by two profiles, required vars present, no
 * unknown vars, built-ins not settable, every value satisfies the rule of
 * every chosen profile that declares it (the message names the rule, e.g.
 * "must be one line (no control characters); got a newline at byte 5"). vars
 * may be NULL (none). Also: no trailing backslash in a value a systemd
 * setting line uses as is, no two profiles setting one unit's enabled/mask
 * differently, and the expanded templates stay under PROFILE_RENDER_MAX.
 */
enum kerr profile_check(const struct profile_set *ps, const json_t *profiles, const json_t *vars,
                        json_t *errors);

/*
 * For a valid choice: *out = new object with a fresh random value for every
 * "generate": "secret" variable of the chosen profiles that vars does not set
 * (PROFILE_SECRET_LEN characters of [A-Za-z0-9] that satisfy the variable's
 * rule in every chosen profile that declares it). Returns K_OK, K_ENOMEM,
 * K_EIO, or K_EINVAL when no value satisfying the rules came up.
 */
enum kerr profile_generate_secrets(const struct profile_set *ps, const json_t *profiles,
                                   const json_t *vars, json_t **out);

/* Limits on profiles and on a cluster's variables. */
#define PROFILE_TPL_MAX    (256 * 1024) /* bytes of one template or profile.json */
#define PROFILE_ITEMS_MAX  256          /* units + drop-ins + files of one profile */
#define PROFILE_VARS_MAX   64           /* variables declared by a profile / set by a cluster */
#define PROFILE_VALUE_MAX  (64 * 1024)  /* bytes of one variable value (max_length at most) */
#define PROFILE_SECRET_LEN 32           /* characters of a generated secret */
#define PROFILE_RENDER_MAX (4 * 1024 * 1024) /* expanded template bytes of one cluster's config */

/* True when name is a built-in variable (cluster_name, cluster_id, size,
 * discovery_url, public_url): always set from the cluster, never declared. */
bool profile_builtin(const char *name);

/* True when value is what built-in name may hold (cluster_name a hostname,
 * cluster_id a word, size an integer 1-99, discovery_url and public_url
 * URLs); also true for "" (a value kindling has not set). */
bool profile_builtin_valid(const char *name, const char *value);

/* What a profile puts on a node. */
enum profile_item_kind { PROFILE_UNIT, PROFILE_DROPIN, PROFILE_FILE };

/* One template of a profile; every pointer is borrowed from the set. */
struct profile_item {
	enum profile_item_kind kind;
	const char *unit;   /* UNIT, DROPIN: the unit's name */
	const char *dropin; /* DROPIN: the drop-in's file name ("20-x.conf") */
	const char *path;   /* FILE: the absolute path on the node */
	const char *source; /* the template file as loaded, for messages */
	const char *tpl;    /* the template's bytes (NUL-terminated, may hold NULs) */
	size_t tpl_len;
	enum subst_context context; /* UNIT, DROPIN: systemd; FILE: "context", default raw */
	int mode;                   /* FILE: permission bits, default 0644 */
	const char *user;           /* FILE: owner, a name or a decimal id; NULL = root */
	const char *group;          /* FILE: group, likewise */
};

/* How a profile wants a unit it touches (has contents or drop-ins for) set up. */
struct profile_unit {
	const char *name;
	int enabled; /* 1 or 0 as profile.json says, or -1 when it does not */
	bool mask;
	bool has_contents; /* the profile holds the unit file itself */
};

/* The loaded profile of that name (borrowed), or NULL. */
const struct profile *profile_get(const struct profile_set *ps, const char *name);

/* The profile's templates, sorted: units and drop-ins by unit name then
 * drop-in name, files by path. i < profile_item_count(p). */
size_t profile_item_count(const struct profile *p);
const struct profile_item *profile_item_at(const struct profile *p, size_t i);

/* The units the profile touches, sorted by name. i < profile_unit_count(p). */
size_t profile_unit_count(const struct profile *p);
const struct profile_unit *profile_unit_at(const struct profile *p, size_t i);

/*
 * The value of p's declared variable name for a cluster: vars[name], else the
 * declared default, else secrets[name], else "" for an optional variable.
 * Returns K_OK with a borrowed string in *out, or K_EINVAL when name is not
 * declared, is required or generated and has no value, or its value does not
 * satisfy the variable's rule (one stored before the rule existed: it is not
 * rendered; PATCH the cluster).
 */
enum kerr profile_var_value(const struct profile *p, const char *name, const json_t *vars,
                            const json_t *secrets, const char **out);

#endif
