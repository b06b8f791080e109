/* tables.c - every table of the data model, for kindling migrate (store_copy). */
#include <stddef.h>

#include "backend.h"

/*
 * The tables of db/sqlite/0001-0007 and db/postgres/0001-0005, parents
 * before children (the foreign keys). A migration that adds a table or a
 * column must add it here too: the SQLite export refuses a source with a
 * table or column this list does not name, and the PostgreSQL import a
 * target with a table it does not fill, so a forgotten one stops the copy
 * with its name rather than losing data.
 *
 * Not listed, because the target makes them itself: schema_version
 * (PostgreSQL; SQLite's PRAGMA user_version) and discovery_index
 * (PostgreSQL only: set past the highest index copied).
 */
static const char *const clusters_cols[] = {"id",
                                            "name",
                                            "size",
                                            "profiles",
                                            "vars",
                                            "secrets",
                                            "ignition_version",
                                            "discovery_mode",
                                            "discovery_url",
                                            "fetch_token",
                                            "generation",
                                            "fetch_count",
                                            "last_fetch_at",
                                            "created_at",
                                            "updated_at",
                                            "discovery_protocol",
                                            "profile_versions",
                                            NULL};
static const char *const tokens_cols[] = {"token",      "size",       "cluster_id",
                                          "last_index", "created_at", NULL};
static const char *const members_cols[] = {"token",         "member_id",  "value",
                                           "created_index", "created_at", NULL};
static const char *const prev_cols[] = {"cluster_id", "token", "valid_until", NULL};
static const char *const fetches_cols[] = {
        "id", "cluster_id", "at", "client", "user_agent", "version", "status", "generation", NULL};
static const char *const pversions_cols[] = {"digest", "name", "files", "created_at", NULL};
static const char *const generations_cols[] = {"cluster_id", "generation", "created_at", "change",
                                               "inputs",     "fetches",    NULL};
static const char *const reports_cols[] = {"cluster_id", "node", "boot_id", "at",
                                           "failed",     "body", NULL};
static const char *const states_cols[] = {"cluster_id", "member_id",  "replaces", "replaced_at",
                                          "removed_by", "removed_at", NULL};
static const char *const count_cols[] = {"n", NULL};

const struct store_table store_tables[] = {
        {"clusters", clusters_cols, false, true},
        {"discovery_tokens", tokens_cols, false, true},
        {"discovery_members", members_cols, false, true},
        {"fetch_tokens_prev", prev_cols, false, true},
        {"fetches", fetches_cols, false, true},
        {"node_reports", reports_cols, false, true},
        {"cluster_members", states_cols, false, true},
        {"profile_versions", pversions_cols, false, true},
        {"cluster_generations", generations_cols, false, true},
        {"cluster_count", count_cols, true, false}, /* the clusters trigger counts */
};
const int store_ntables = sizeof(store_tables) / sizeof(store_tables[0]);
