-- 0007_generations.sql - config generations (issue 15): what a node is
-- served is a generation's inputs, stored when the cluster is created or
-- changed, never what the template folders say later.
--  - profile_versions: the files of one profile as they were, once per
--    content digest (shared by every generation that uses them);
--  - cluster_generations: each generation's inputs (profile names and
--    digests, vars, secrets, spec default) and what changed; the newest
--    --keep-generations of a cluster are kept, and go with the cluster;
--  - clusters.profile_versions: the current generation's digests (NULL for a
--    row made before generations: kindling snapshots it at start);
--  - fetches.generation: the generation each fetch was served.

ALTER TABLE clusters ADD COLUMN profile_versions TEXT;   -- JSON array, parallel to profiles
-- the rows made before generations, which kindling snapshots at start: found
-- without a scan
CREATE INDEX clusters_unsnapshotted ON clusters (name) WHERE profile_versions IS NULL;

CREATE TABLE profile_versions (
	digest      TEXT PRIMARY KEY,                     -- 32 hex digits (profile.h)
	name        TEXT NOT NULL,                        -- the profile's name
	files       TEXT NOT NULL,                        -- JSON object {path: text | {"base64"}}
	created_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE cluster_generations (
	cluster_id  TEXT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
	generation  INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	change      TEXT NOT NULL,                        -- JSON: {"kind", ...} what made it
	inputs      TEXT NOT NULL,                        -- JSON: profiles, profile_versions, vars, secrets, ignition_version
	fetches     INTEGER NOT NULL DEFAULT 0,           -- 200s served of it
	PRIMARY KEY (cluster_id, generation)
) WITHOUT ROWID;

ALTER TABLE fetches ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
