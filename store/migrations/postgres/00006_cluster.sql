-- Cluster membership, postgres flavour: one lease row per live corral replica
-- (package cluster). A replica renews its row every lease_interval; a row
-- whose expires_at is past is a dead replica. Times are unix milliseconds of
-- the database's clock, so replicas' clocks need not agree. Keep the columns
-- identical to ../sqlite/00006_cluster.sql (SQLite never runs a cluster; the
-- table is there so that both schemas keep one version sequence).

-- +goose Up
CREATE TABLE cluster_members (
    replica    TEXT   NOT NULL PRIMARY KEY,
    address    TEXT   NOT NULL DEFAULT '',
    started_at BIGINT NOT NULL,
    renewed_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX cluster_members_expires_at ON cluster_members (expires_at);

-- +goose Down
DROP TABLE cluster_members;
