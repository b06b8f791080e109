/* snapshots.h - the profile versions generations are made of: the profiles
 * of the template folders (loaded at start) and those loaded back from the
 * store by digest, kept in memory for the life of the process (content
 * addressed, so a handful). What a node is served is rendered from its
 * cluster's generation, never from the folders as they are now (issue 15). */
#ifndef KINDLING_SNAPSHOTS_H
#define KINDLING_SNAPSHOTS_H

#include <jansson.h>

#include "buf.h"
#include "err.h"
#include "profile.h"
#include "store.h"

struct snapshots;

/* disk: the profiles of the template folders (borrowed; outlives it),
 * whose files are put in the store now (those not there yet). K_OK,
 * K_ENOMEM, store errors. */
enum kerr snapshots_new(struct store *s, const struct profile_set *disk, struct snapshots **out);
void snapshots_free(struct snapshots **sn);

/*
 * The set a generation renders with: profiles (names) at versions (their
 * digests, parallel; NULL for a row made before generations: the folders'
 * profiles). *out is a new set over profiles owned by sn (free it with
 * profile_set_free). K_OK; K_EINVAL (a version is in no folder and not in
 * the store: why says which); store errors.
 */
enum kerr snapshots_set(struct snapshots *sn, const json_t *profiles, const json_t *versions,
                        struct profile_set **out, struct buf *why);

/* The digests of the folders' profiles of those names (a new array in
 * *out; all in the store since snapshots_new). K_OK; K_EINVAL when a name
 * is in no folder; K_ENOMEM. */
enum kerr snapshots_current(struct snapshots *sn, const json_t *profiles, json_t **out);

/*
 * How the folders' profiles differ from versions (a new array of {profile,
 * from, to, message}; to is null for a profile no folder holds any more);
 * generation names the cluster's current one in the messages. NULL on
 * ENOMEM. An empty array: nothing to adopt.
 */
json_t *snapshots_changes(struct snapshots *sn, const json_t *profiles, const json_t *versions,
                          int64_t generation);

#endif
