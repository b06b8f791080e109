/* snapshots.c - profile versions by digest: the folders' and the store's. */
#include "snapshots.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct snapshots {
	struct store *store;
	const struct profile_set *disk;
	pthread_mutex_t mu;
	struct profile **loaded; /* from the store, never freed before the end */
	size_t n;
};

enum kerr snapshots_new(struct store *s, const struct profile_set *disk, struct snapshots **out)
{
	size_t n = profile_set_count(disk);
	struct store_profile_version *pv = calloc(n + 1, sizeof(*pv));
	struct snapshots *sn = pv ? calloc(1, sizeof(*sn)) : NULL;
	if (!sn) {
		free(pv);
		return K_ENOMEM;
	}
	/* every folder profile is in the store from the start, so that a write
	 * naming one never has to store it inside its own transaction */
	for (size_t i = 0; i < n; i++) {
		const struct profile *p = profile_set_at(disk, i);
		pv[i] = (struct store_profile_version){profile_digest(p), profile_name(p),
		                                       profile_files(p)};
	}
	enum kerr e = n ? store_profile_versions_put(s, pv, n) : K_OK;
	free(pv);
	if (e != K_OK) {
		free(sn);
		return e;
	}
	sn->store = s;
	sn->disk = disk;
	pthread_mutex_init(&sn->mu, NULL);
	*out = sn;
	return K_OK;
}

void snapshots_free(struct snapshots **snp)
{
	if (!snp || !*snp)
		return;
	struct snapshots *sn = *snp;
	for (size_t i = 0; i < sn->n; i++)
		profile_free(&sn->loaded[i]);
	free(sn->loaded);
	pthread_mutex_destroy(&sn->mu);
	free(sn);
	*snp = NULL;
}

/* The folders' profile of that name, or NULL; *index its place. */
static const struct profile *disk_profile(const struct snapshots *sn, const char *name,
                                          size_t *index)
{
	for (size_t i = 0; i < profile_set_count(sn->disk); i++) {
		const struct profile *p = profile_set_at(sn->disk, i);
		if (!strcmp(profile_name(p), name)) {
			if (index)
				*index = i;
			return p;
		}
	}
	return NULL;
}

/* The profile of that name and digest: the folders', one loaded before, or
 * one loaded now from the store. */
static enum kerr find(struct snapshots *sn, const char *name, const char *digest,
                      const struct profile **out, struct buf *why)
{
	const struct profile *p = disk_profile(sn, name, NULL);
	if (p && (!digest || !strcmp(profile_digest(p), digest))) {
		*out = p;
		return K_OK;
	}
	if (!digest) {
		buf_addf(why, "profile %s is in no template folder", name);
		return K_EINVAL;
	}
	pthread_mutex_lock(&sn->mu);
	for (size_t i = 0; i < sn->n; i++) {
		if (!strcmp(profile_digest(sn->loaded[i]), digest)) {
			*out = sn->loaded[i];
			pthread_mutex_unlock(&sn->mu);
			return K_OK;
		}
	}
	pthread_mutex_unlock(&sn->mu);
	char stored_name[64];
	json_t *files = NULL;
	enum kerr e = store_profile_version_get(sn->store, digest, stored_name, &files);
	if (e == K_ENOTFOUND) {
		buf_addf(why, "version %s of profile %s is not in the database", digest, name);
		return K_EINVAL;
	}
	if (e != K_OK)
		return e;
	struct profile *np = NULL;
	e = profile_load_snapshot(name, files, &np, why);
	json_decref(files);
	if (e == K_OK && strcmp(profile_digest(np), digest) != 0) {
		buf_addf(why, "version %s of profile %s does not match its digest", digest, name);
		profile_free(&np);
		e = K_EINVAL;
	}
	if (e != K_OK)
		return e;
	pthread_mutex_lock(&sn->mu);
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	struct profile **grown = realloc(sn->loaded, (sn->n + 1) * sizeof(*grown));
	if (!grown) {
		pthread_mutex_unlock(&sn->mu);
		profile_free(&np);
		return K_ENOMEM;
	}
	sn->loaded = grown;
	sn->loaded[sn->n++] = np; /* a twin loaded meanwhile stays too: harmless */
	pthread_mutex_unlock(&sn->mu);
	*out = np;
	return K_OK;
}

enum kerr snapshots_set(struct snapshots *sn, const json_t *profiles, const json_t *versions,
                        struct profile_set **out, struct buf *why)
{
	size_t n = json_array_size(profiles);
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	const struct profile **list = calloc(n + 1, sizeof(*list));
	enum kerr e = list ? K_OK : K_ENOMEM;
	for (size_t i = 0; i < n && e == K_OK; i++) {
		const char *name = json_string_value(json_array_get(profiles, i));
		const char *digest =
		        versions ? json_string_value(json_array_get(versions, i)) : NULL;
		e = name ? find(sn, name, digest, &list[i], why) : K_EINVAL;
	}
	if (e == K_OK)
		e = profile_set_compose(list, n, out);
	free(list);
	return e;
}

enum kerr snapshots_current(struct snapshots *sn, const json_t *profiles, json_t **out)
{
	json_t *digests = json_array();
	size_t i;
	json_t *v;
	json_array_foreach (profiles, i, v) {
		const struct profile *p =
		        json_string_value(v) ? disk_profile(sn, json_string_value(v), NULL) : NULL;
		if (!p) {
			json_decref(digests);
			return K_EINVAL;
		}
		json_array_append_new(digests, json_string(profile_digest(p)));
	}
	if (!digests)
		return K_ENOMEM;
	*out = digests;
	return K_OK;
}

json_t *snapshots_changes(struct snapshots *sn, const json_t *profiles, const json_t *versions,
                          int64_t generation)
{
	json_t *changes = json_array();
	size_t i;
	json_t *v;
	json_array_foreach (profiles, i, v) {
		const char *name = json_string_value(v);
		const char *from = json_string_value(json_array_get(versions, i));
		const struct profile *p = name ? disk_profile(sn, name, NULL) : NULL;
		if (!name || !from || (p && !strcmp(profile_digest(p), from)))
			continue;
		char msg[256];
		json_t *c;
		if (p) {
			snprintf(msg, sizeof(msg), "profile %s changed since generation %lld", name,
			         (long long)generation);
			c = json_pack("{s:s, s:s, s:s, s:s}", "profile", name, "from", from, "to",
			              profile_digest(p), "message", msg);
		} else {
			snprintf(msg, sizeof(msg),
			         "profile %s is in no template folder any more (generation %lld "
			         "keeps serving the version it stored)",
			         name, (long long)generation);
			c = json_pack("{s:s, s:s, s:n, s:s}", "profile", name, "from", from, "to",
			              "message", msg);
		}
		json_array_append_new(changes, c);
	}
	return changes;
}
