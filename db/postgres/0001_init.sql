-- 0001_init.sql - the PostgreSQL schema: the data model of db/sqlite/0001-0003.
-- Times are Unix milliseconds (UTC). JSON columns hold compact JSON text
-- (text, not jsonb: the bytes kindling wrote are the bytes it reads back).
-- Applied by kindling at start, under pg_advisory_xact_lock, in one
-- transaction; schema_version (created by kindling) records it.

CREATE TABLE clusters (
	id                text PRIMARY KEY,              -- random UUID v4
	name              text NOT NULL UNIQUE,          -- DNS label
	size              integer NOT NULL CHECK (size BETWEEN 1 AND 99),
	profiles          text NOT NULL,                 -- JSON array of profile names
	vars              text NOT NULL,                 -- JSON object set by the operator
	secrets           text NOT NULL,                 -- JSON object generated at creation
	ignition_version  text NOT NULL,
	discovery_mode    text NOT NULL CHECK (discovery_mode IN ('builtin', 'upstream')),
	discovery_url     text NOT NULL,
	fetch_token       text NOT NULL,
	generation        bigint NOT NULL DEFAULT 1,
	fetch_count       bigint NOT NULL DEFAULT 0,
	last_fetch_at     bigint,
	created_at        bigint NOT NULL,
	updated_at        bigint NOT NULL
);
CREATE INDEX clusters_created ON clusters (created_at, name);

-- One etcd v2 discovery directory per token. cluster_id is NULL for tokens
-- allocated with GET /new; a cluster's token goes with the cluster.
CREATE TABLE discovery_tokens (
	token       text PRIMARY KEY,                    -- 32 lowercase hex
	size        integer NOT NULL,
	cluster_id  text UNIQUE REFERENCES clusters (id) ON DELETE CASCADE,
	last_index  bigint NOT NULL DEFAULT 1,           -- etcd index of the latest change
	created_at  bigint NOT NULL
);

CREATE TABLE discovery_members (
	token          text NOT NULL REFERENCES discovery_tokens (token) ON DELETE CASCADE,
	member_id      text NOT NULL,                    -- lowercase hex, the etcd key basename
	value          text NOT NULL,                    -- "name=peer-url,..."
	created_index  bigint NOT NULL,
	created_at     bigint NOT NULL,
	PRIMARY KEY (token, member_id)
);
CREATE INDEX discovery_members_order ON discovery_members (token, created_index);

-- The one discovery index of all replicas: a registration takes the next
-- value under this row's lock (SELECT ... FOR UPDATE) in its own
-- transaction, so index order is commit order and a reader never sees N+1
-- before N (a SEQUENCE is not ordered by commit).
CREATE TABLE discovery_index (
	n bigint NOT NULL
);
INSERT INTO discovery_index (n) VALUES (1);

-- The recent config fetches of each cluster (bounded per cluster by kindling).
CREATE TABLE fetches (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	cluster_id  text NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
	at          bigint NOT NULL,
	client      text NOT NULL,                       -- remote address
	user_agent  text NOT NULL,
	version     text NOT NULL,                       -- spec version served
	status      integer NOT NULL
);
CREATE INDEX fetches_cluster ON fetches (cluster_id, id);

-- Every rotated fetch token stays valid for its whole grace period.
CREATE TABLE fetch_tokens_prev (
	cluster_id   text NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
	token        text NOT NULL,
	valid_until  bigint NOT NULL,                    -- ms; kindling drops it afterwards
	PRIMARY KEY (cluster_id, token)
);

-- The number of clusters, kept by triggers; creates lock this row
-- (SELECT ... FOR UPDATE) to check --max-clusters, so N replicas never
-- exceed it.
CREATE TABLE cluster_count (
	n bigint NOT NULL
);
INSERT INTO cluster_count (n) VALUES (0);

CREATE FUNCTION kindling_count_clusters() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		UPDATE cluster_count SET n = n + 1;
	ELSE
		UPDATE cluster_count SET n = n - 1;
	END IF;
	RETURN NULL;
END;
$$;
CREATE TRIGGER clusters_counted AFTER INSERT OR DELETE ON clusters
	FOR EACH ROW EXECUTE FUNCTION kindling_count_clusters();
