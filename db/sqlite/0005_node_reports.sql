-- 0005_node_reports.sql - the newest boot report of each node (the report
-- profile POSTs it to /clusters/NAME/reports with the fetch token), keyed by
-- the node's host name within its cluster; kindling keeps a bounded number
-- per cluster (the oldest go first). body is the validated report as compact
-- JSON; failed counts its failed units (for /metrics and the list page).
-- (PostgreSQL: db/postgres/0003_node_reports.sql.)

CREATE TABLE node_reports (
	cluster_id  TEXT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
	node        TEXT NOT NULL,                       -- host name
	boot_id     TEXT NOT NULL,
	at          INTEGER NOT NULL,                    -- received, ms
	failed      INTEGER NOT NULL,                    -- failed units in the report
	body        TEXT NOT NULL,                       -- the report, compact JSON
	PRIMARY KEY (cluster_id, node)
) WITHOUT ROWID;
CREATE INDEX node_reports_at ON node_reports (cluster_id, at);
