-- 0002_cluster_count.sql - the number of clusters, kept by triggers, so that
-- start-up, /healthz and /metrics read one row instead of counting 100 000.

CREATE TABLE cluster_count (
	n INTEGER NOT NULL
);
INSERT INTO cluster_count (n) SELECT count(*) FROM clusters;

CREATE TRIGGER clusters_counted_insert AFTER INSERT ON clusters
BEGIN
	UPDATE cluster_count SET n = n + 1;
END;

CREATE TRIGGER clusters_counted_delete AFTER DELETE ON clusters
BEGIN
	UPDATE cluster_count SET n = n - 1;
END;
