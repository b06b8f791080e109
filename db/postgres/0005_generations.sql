-- 0005_generations.sql - config generations (issue 15); see
-- db/sqlite/0007_generations.sql for what each table holds.

ALTER TABLE clusters ADD COLUMN profile_versions text;   -- JSON array, parallel to profiles
-- the rows made before generations, which kindling snapshots at start: found
-- without a scan
CREATE INDEX clusters_unsnapshotted ON clusters (name) WHERE profile_versions IS NULL;

CREATE TABLE profile_versions (
	digest      text PRIMARY KEY,                     -- 32 hex digits (profile.h)
	name        text NOT NULL,
	files       text NOT NULL,                        -- JSON object {path: text | {"base64"}}
	created_at  bigint NOT NULL
);

CREATE TABLE cluster_generations (
	cluster_id  text NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
	generation  bigint NOT NULL,
	created_at  bigint NOT NULL,
	change      text NOT NULL,
	inputs      text NOT NULL,
	fetches     bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (cluster_id, generation)
);

ALTER TABLE fetches ADD COLUMN generation bigint NOT NULL DEFAULT 0;
