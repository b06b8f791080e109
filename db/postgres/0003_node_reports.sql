-- 0003_node_reports.sql - the newest boot report of each node (the report
-- profile POSTs it to /clusters/NAME/reports with the fetch token), keyed by
-- the node's host name within its cluster; kindling keeps a bounded number
-- per cluster (the oldest go first). body is the validated report as compact
-- JSON text; failed counts its failed units (for /metrics and the list page).
-- (SQLite: db/sqlite/0005_node_reports.sql.)

CREATE TABLE node_reports (
	cluster_id  text NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
	node        text NOT NULL,                       -- host name
	boot_id     text NOT NULL,
	at          bigint NOT NULL,                     -- received, ms
	failed      integer NOT NULL,                    -- failed units in the report
	body        text NOT NULL,                       -- the report, compact JSON
	PRIMARY KEY (cluster_id, node)
);
CREATE INDEX node_reports_at ON node_reports (cluster_id, at);
