-- 0002_discovery_protocol.sql - which etcd discovery protocol a cluster's
-- members use: v2 (--discovery=<url>, etcd <= 3.5) or v3 (--discovery-token
-- and --discovery-endpoints over gRPC, etcd >= 3.6). Both read the same
-- directory (discovery_tokens / discovery_members); existing clusters stay v2.
-- (SQLite: db/sqlite/0004_discovery_protocol.sql.)

ALTER TABLE clusters ADD COLUMN discovery_protocol text NOT NULL DEFAULT 'v2'
	CHECK (discovery_protocol IN ('v2', 'v3'));
