-- The control plane, SQLite flavour: desired state, commands, the audit trail,
-- archived (unregistered) collectors, scheduled bulk operations and the server's
-- signing keys. Times are unix milliseconds (INTEGER, NULL when unset); JSON is
-- text. Keep the columns and their meaning identical to ../postgres/00003_control.sql:
-- the store's queries are shared by both.

-- +goose Up

-- What the operators want of a collector, as opposed to what its scrapes show.
-- A row exists once someone steered the collector through corral; run_state is
-- 'paused', 'running' or '' (no wish: the agent's own state stands).
CREATE TABLE desired_state (
    collector         TEXT    NOT NULL PRIMARY KEY,
    run_state         TEXT    NOT NULL DEFAULT '',
    reason            TEXT    NOT NULL DEFAULT '',
    resume_expected   INTEGER,
    config            TEXT    NOT NULL DEFAULT '{}',
    config_generation INTEGER NOT NULL DEFAULT 0,
    tags              TEXT    NOT NULL DEFAULT '[]',
    grp               TEXT    NOT NULL DEFAULT '',
    updated_by        TEXT    NOT NULL DEFAULT '',
    updated_at        INTEGER NOT NULL
) STRICT;

-- One row per command to an agent: pending -> sent -> acknowledged ->
-- confirmed | failed | expired.
CREATE TABLE commands (
    id              TEXT    NOT NULL PRIMARY KEY,
    collector       TEXT    NOT NULL,
    command         TEXT    NOT NULL,
    args            TEXT    NOT NULL DEFAULT '{}',
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    expires_at      INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    acked_at        INTEGER,
    finished_at     INTEGER,
    updated_at      INTEGER NOT NULL,
    result          TEXT    NOT NULL DEFAULT '',
    error           TEXT    NOT NULL DEFAULT '',
    progress        REAL    NOT NULL DEFAULT 0,
    baseline        TEXT    NOT NULL DEFAULT '{}',
    actor_kind      TEXT    NOT NULL,
    actor           TEXT    NOT NULL,
    actor_id        TEXT    NOT NULL DEFAULT '',
    reason          TEXT    NOT NULL DEFAULT '',
    bulk_id         TEXT    NOT NULL DEFAULT '',
    org             TEXT    NOT NULL DEFAULT '',
    team            TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX commands_collector ON commands (collector, created_at);
CREATE INDEX commands_state ON commands (state);
CREATE INDEX commands_bulk ON commands (bulk_id) WHERE bulk_id <> '';

-- Every action by anyone. Rows are only ever appended, and finished once.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    finished_at INTEGER,
    actor_kind  TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    actor_id    TEXT    NOT NULL DEFAULT '',
    remote      TEXT    NOT NULL DEFAULT '',
    action      TEXT    NOT NULL,
    collector   TEXT    NOT NULL DEFAULT '',
    org         TEXT    NOT NULL DEFAULT '',
    team        TEXT    NOT NULL DEFAULT '',
    reason      TEXT    NOT NULL DEFAULT '',
    params      TEXT    NOT NULL DEFAULT '{}',
    result      TEXT    NOT NULL DEFAULT '',
    error       TEXT    NOT NULL DEFAULT '',
    command_id  TEXT    NOT NULL DEFAULT '',
    bulk_id     TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX audit_log_at ON audit_log (at, id);
CREATE INDEX audit_log_collector ON audit_log (collector, at, id);
CREATE INDEX audit_log_command ON audit_log (command_id) WHERE command_id <> '';

-- Unregistered collectors. One without reregistered_at is still unregistered:
-- discovery ignores it even while a file_sd file or the static config lists it.
CREATE TABLE archived_collectors (
    id               TEXT    NOT NULL PRIMARY KEY,
    collector        TEXT    NOT NULL,
    provider         TEXT    NOT NULL DEFAULT '',
    source           TEXT    NOT NULL DEFAULT '',
    url              TEXT    NOT NULL DEFAULT '',
    labels           TEXT    NOT NULL DEFAULT '{}',
    org              TEXT    NOT NULL DEFAULT '',
    team             TEXT    NOT NULL DEFAULT '',
    reason           TEXT    NOT NULL DEFAULT '',
    archived_by      TEXT    NOT NULL DEFAULT '',
    archived_at      INTEGER NOT NULL,
    metrics_archived INTEGER NOT NULL DEFAULT 0,
    retain_until     INTEGER,
    purged_at        INTEGER,
    delete_audit     INTEGER NOT NULL DEFAULT 0,
    records          INTEGER NOT NULL DEFAULT 0,
    reregistered_at  INTEGER,
    reregistered_by  TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE UNIQUE INDEX archived_collectors_active ON archived_collectors (collector) WHERE reregistered_at IS NULL;
CREATE INDEX archived_collectors_retain ON archived_collectors (retain_until) WHERE purged_at IS NULL;

-- Bulk operations, run now or at schedule_at; scheduled ones outlive a restart.
CREATE TABLE bulk_operations (
    id          TEXT    NOT NULL PRIMARY KEY,
    action      TEXT    NOT NULL,
    request     TEXT    NOT NULL DEFAULT '{}',
    state       TEXT    NOT NULL,
    schedule_at INTEGER,
    created_at  INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    updated_at  INTEGER NOT NULL,
    actor_kind  TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    actor_id    TEXT    NOT NULL DEFAULT '',
    result      TEXT    NOT NULL DEFAULT '',
    error       TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX bulk_operations_state ON bulk_operations (state, schedule_at);

-- The server's Ed25519 keys that sign control requests: one active, at most one
-- next (being rolled out), any number retired.
CREATE TABLE server_keys (
    kid          TEXT    NOT NULL PRIMARY KEY,
    private_key  TEXT    NOT NULL,
    public_key   TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    activated_at INTEGER,
    retired_at   INTEGER
) STRICT;
CREATE UNIQUE INDEX server_keys_one_per_state ON server_keys (state) WHERE state IN ('active', 'next');

-- The scrape token of a registered collector: corral presents it to the agent's
-- /metrics and /logs, so it is kept (token_sha256 stays its fingerprint).
ALTER TABLE registered_collectors ADD COLUMN scrape_token TEXT NOT NULL DEFAULT '';
-- A scrape token being rolled out by rotate-credentials: it replaces scrape_token
-- once the agent acknowledged it.
ALTER TABLE registered_collectors ADD COLUMN next_token TEXT NOT NULL DEFAULT '';
-- History rows are status changes ('status') or what the reconciler did ('reconcile').
ALTER TABLE status_changes ADD COLUMN kind TEXT NOT NULL DEFAULT 'status';

-- +goose Down
ALTER TABLE status_changes DROP COLUMN kind;
ALTER TABLE registered_collectors DROP COLUMN next_token;
ALTER TABLE registered_collectors DROP COLUMN scrape_token;
DROP TABLE server_keys;
DROP TABLE bulk_operations;
DROP TABLE archived_collectors;
DROP TABLE audit_log;
DROP TABLE commands;
DROP TABLE desired_state;
