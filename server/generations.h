/* generations.h - what an operator is shown of a cluster's generations
 * (issue 15): the history, one generation's inputs and rendered config, and
 * the diff of two, file by file and unit by unit. Knows nothing of HTTP;
 * the JSON routes and the pages both build on it. */
#ifndef KINDLING_GENERATIONS_H
#define KINDLING_GENERATIONS_H

#include <jansson.h>
#include <stdbool.h>

#include "app.h"

/* What a secret's value is replaced by unless revealed (it satisfies the
 * secret rules, so the config still renders). */
#define GENERATIONS_MASKED "hiddenUntilRevealed"

/* A copy of values (new reference) with the value of every key that
 * secret_names (an object used as a set) holds replaced by GENERATIONS_MASKED. */
json_t *generations_masked(const json_t *values, const json_t *secret_names);

/* {"cluster", "current", "keep", "generations": [{generation, created_at,
 * change, fetches, nodes, current}]} newest first (new reference), or NULL
 * with *err. nodes: distinct clients of the fetch log whose newest fetch
 * was served that generation. */
json_t *generations_list_json(const struct app *a, const struct cluster *c, enum kerr *err);

/* Which side of a diff or which config: a kept generation, or "profiles":
 * the current generation with the template folders' profiles (what adopting
 * them would serve). */
#define GENERATIONS_PENDING (-1)

/*
 * Renders generation gen of c (or GENERATIONS_PENDING) for spec version
 * (NULL: that generation's default), secrets masked unless reveal: *out
 * malloc'd compact JSON. Fills *out_inputs (new reference, secrets masked
 * likewise) when not NULL, and *out_row with the generation's stored row
 * when not NULL (store_generation_clear it; all zero for
 * GENERATIONS_PENDING). K_OK, K_ENOTFOUND (not kept), K_ENOTACCEPT,
 * K_EINVAL, store errors.
 */
enum kerr generations_render(const struct app *a, const struct cluster *c, int64_t gen,
                             const char *version, bool reveal, char **out, size_t *out_len,
                             json_t **out_inputs, struct store_generation *out_row);

/*
 * The diff of two rendered configs (compact Ignition JSON text): new
 * reference {"items": [{item, kind, status: "added"|"removed"|"changed",
 * lines: [{op: " "|"-"|"+", old, new, text}]}]} with 3 lines of context
 * around each change; items the same in both are left out. NULL on ENOMEM
 * or text that is no config.
 */
json_t *generations_diff(const char *from, size_t from_len, const char *to, size_t to_len);

/* The diff of generations from and to (either may be GENERATIONS_PENDING)
 * of c, rendered at each one's default version: generations_diff's object
 * with cluster, from, to, vars (the names that differ) and same (the bytes
 * are equal). *out a new reference; *bad the generation that failed. K_OK,
 * generations_render's errors. */
enum kerr generations_compare(const struct app *a, const struct cluster *c, int64_t from,
                              int64_t to, bool reveal, json_t **out, int64_t *bad);

#endif
