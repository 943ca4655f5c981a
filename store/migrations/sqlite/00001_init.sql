-- The first schema of the corral store, SQLite flavour. Times are unix
-- milliseconds (INTEGER, NULL when unknown); labels and thresholds are JSON text.
-- Keep the columns and their meaning identical to ../postgres/00001_init.sql: the
-- store's queries are shared by both.

-- +goose Up
CREATE TABLE collectors (
    id           TEXT    NOT NULL PRIMARY KEY,
    job          TEXT    NOT NULL DEFAULT '',
    instance     TEXT    NOT NULL DEFAULT '',
    url          TEXT    NOT NULL DEFAULT '',
    labels       TEXT    NOT NULL DEFAULT '{}',
    provider     TEXT    NOT NULL DEFAULT '',
    source       TEXT    NOT NULL DEFAULT '',
    status       TEXT    NOT NULL DEFAULT '',
    reason       TEXT    NOT NULL DEFAULT '',
    status_since INTEGER,
    last_seen    INTEGER,
    last_item    INTEGER,
    first_seen   INTEGER,
    updated_at   INTEGER NOT NULL
) STRICT;

CREATE TABLE status_changes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    collector   TEXT    NOT NULL,
    from_status TEXT    NOT NULL DEFAULT '',
    to_status   TEXT    NOT NULL DEFAULT '',
    reason      TEXT    NOT NULL DEFAULT '',
    at          INTEGER NOT NULL,
    dedup_key   TEXT    UNIQUE
) STRICT;
CREATE INDEX status_changes_collector_at ON status_changes (collector, at, id);
CREATE INDEX status_changes_at ON status_changes (at, id);

CREATE TABLE buckets (
    collector      TEXT    NOT NULL,
    bucket_window  TEXT    NOT NULL,
    start_at       INTEGER NOT NULL,
    expected_items REAL    NOT NULL,
    actual_items   REAL    NOT NULL,
    active_seconds REAL    NOT NULL,
    scrapes_ok     INTEGER NOT NULL,
    scrapes_total  INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (collector, bucket_window, start_at)
) STRICT;

CREATE TABLE registered_collectors (
    id           TEXT    NOT NULL PRIMARY KEY,
    name         TEXT    NOT NULL,
    url          TEXT    NOT NULL,
    labels       TEXT    NOT NULL DEFAULT '{}',
    org          TEXT    NOT NULL DEFAULT '',
    team         TEXT    NOT NULL DEFAULT '',
    thresholds   TEXT    NOT NULL DEFAULT '{}',
    token_sha256 TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    archived_at  INTEGER
) STRICT;

-- +goose Down
DROP TABLE registered_collectors;
DROP TABLE buckets;
DROP TABLE status_changes;
DROP TABLE collectors;
