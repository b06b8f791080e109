-- 0004_member_states.sql - what the nodes reported about their cluster's
-- etcd members: a replacement (a machine that joined a formed cluster in
-- place of a dead member, /opt/kindling/etcd-join) and the member it
-- removed. A registered member with no row here is a founding member (one of
-- the first `size` registrations) or was added without a report. Rows go
-- with their cluster. (SQLite: db/sqlite/0006_member_states.sql.)

CREATE TABLE cluster_members (
	cluster_id   text NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
	member_id    text NOT NULL,                      -- lowercase hex, as registered in discovery
	replaces     text,                               -- the member this one replaced
	replaced_at  bigint,                             -- ms, when that was reported
	removed_by   text,                               -- the member that replaced this one
	removed_at   bigint,                             -- ms
	PRIMARY KEY (cluster_id, member_id)
);
