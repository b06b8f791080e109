-- 0001_init.sql - clusters, discovery registrations, config fetches.
-- Times are Unix milliseconds (UTC). JSON columns hold compact JSON text.

CREATE TABLE clusters (
	id                TEXT PRIMARY KEY,              -- random UUID v4
	name              TEXT NOT NULL UNIQUE,          -- DNS label
	size              INTEGER NOT NULL CHECK (size BETWEEN 1 AND 99),
	profiles          TEXT NOT NULL,                 -- JSON array of profile names
	vars              TEXT NOT NULL,                 -- JSON object set by the operator
	secrets           TEXT NOT NULL,                 -- JSON object generated at creation
	ignition_version  TEXT NOT NULL,
	discovery_mode    TEXT NOT NULL CHECK (discovery_mode IN ('builtin', 'upstream')),
	discovery_url     TEXT NOT NULL,
	fetch_token       TEXT NOT NULL,
	prev_fetch_token  TEXT,                          -- still valid until prev_token_until
	prev_token_until  INTEGER,
	generation        INTEGER NOT NULL DEFAULT 1,
	fetch_count       INTEGER NOT NULL DEFAULT 0,
	last_fetch_at     INTEGER,
	created_at        INTEGER NOT NULL,
	updated_at        INTEGER NOT NULL
);
CREATE INDEX clusters_created ON clusters (created_at, name);

-- One etcd v2 discovery directory per token. cluster_id is NULL for tokens
-- allocated with GET /new; a cluster's token goes with the cluster.
CREATE TABLE discovery_tokens (
	token       TEXT PRIMARY KEY,                    -- 32 lowercase hex
	size        INTEGER NOT NULL,
	cluster_id  TEXT UNIQUE REFERENCES clusters (id) ON DELETE CASCADE,
	last_index  INTEGER NOT NULL DEFAULT 1,          -- etcd index of the latest change
	created_at  INTEGER NOT NULL
);

CREATE TABLE discovery_members (
	token          TEXT NOT NULL REFERENCES discovery_tokens (token) ON DELETE CASCADE,
	member_id      TEXT NOT NULL,                    -- lowercase hex, the etcd key basename
	value          TEXT NOT NULL,                    -- "name=peer-url,..."
	created_index  INTEGER NOT NULL,
	created_at     INTEGER NOT NULL,
	PRIMARY KEY (token, member_id)
) WITHOUT ROWID;
CREATE INDEX discovery_members_order ON discovery_members (token, created_index);

-- The recent config fetches of each cluster (bounded per cluster by kindling).
CREATE TABLE fetches (
	id          INTEGER PRIMARY KEY,
	cluster_id  TEXT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
	at          INTEGER NOT NULL,
	client      TEXT NOT NULL,                       -- remote address
	user_agent  TEXT NOT NULL,
	version     TEXT NOT NULL,                       -- spec version served
	status      INTEGER NOT NULL
);
CREATE INDEX fetches_cluster ON fetches (cluster_id, id);
