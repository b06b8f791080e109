-- 0006_member_states.sql - what the nodes reported about their cluster's
-- etcd members: a replacement (a machine that joined a formed cluster in
-- place of a dead member, /opt/kindling/etcd-join) and the member it
-- removed. A registered member with no row here is a founding member (one of
-- the first `size` registrations) or was added without a report. Rows go
-- with their cluster.

CREATE TABLE cluster_members (
	cluster_id   TEXT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
	member_id    TEXT NOT NULL,                      -- lowercase hex, as registered in discovery
	replaces     TEXT,                               -- the member this one replaced
	replaced_at  INTEGER,                            -- ms, when that was reported
	removed_by   TEXT,                               -- the member that replaced this one
	removed_at   INTEGER,                            -- ms
	PRIMARY KEY (cluster_id, member_id)
) WITHOUT ROWID;
