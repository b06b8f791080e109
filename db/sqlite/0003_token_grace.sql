-- 0003_token_grace.sql - every rotated fetch token stays valid for its whole
-- grace period: one row per token still in its grace, not one column.

CREATE TABLE fetch_tokens_prev (
	cluster_id   TEXT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
	token        TEXT NOT NULL,
	valid_until  INTEGER NOT NULL,                   -- ms; kindling drops it afterwards
	PRIMARY KEY (cluster_id, token)
) WITHOUT ROWID;

INSERT INTO fetch_tokens_prev (cluster_id, token, valid_until)
	SELECT id, prev_fetch_token, prev_token_until FROM clusters
	WHERE prev_fetch_token IS NOT NULL AND prev_fetch_token <> '' AND prev_token_until IS NOT NULL;

ALTER TABLE clusters DROP COLUMN prev_fetch_token;
ALTER TABLE clusters DROP COLUMN prev_token_until;
