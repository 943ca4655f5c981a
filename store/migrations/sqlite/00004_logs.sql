-- Agent logs pulled by the server, SQLite flavour. Times are unix milliseconds.
-- A record is identified by (collector, stream, cursor): the agent's stream id
-- changes when its process restarts and its cursor grows within a stream, so a
-- record pulled twice is stored once. level_num is slog's number of the level
-- (DEBUG -4, INFO 0, WARN 4, ERROR 8) for "this level and above"; search is the
-- message and the attributes, lower-cased, for the case-insensitive text search;
-- attrs is a JSON object. log_cursors keeps where the pull of each collector
-- goes on from. Keep the columns and their meaning identical to
-- ../postgres/00004_logs.sql: the store's queries are shared by both.
-- (00003 is another change's.)

-- +goose Up
CREATE TABLE collector_logs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    collector   TEXT    NOT NULL,
    stream      TEXT    NOT NULL,
    cursor      INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    level       TEXT    NOT NULL DEFAULT '',
    level_num   INTEGER NOT NULL DEFAULT 0,
    message     TEXT    NOT NULL DEFAULT '',
    attrs       TEXT    NOT NULL DEFAULT '{}',
    search      TEXT    NOT NULL DEFAULT '',
    received_at INTEGER NOT NULL,
    UNIQUE (collector, stream, cursor)
) STRICT;
CREATE INDEX collector_logs_collector_at ON collector_logs (collector, at, id);
CREATE INDEX collector_logs_received_at ON collector_logs (received_at);

CREATE TABLE log_cursors (
    collector  TEXT    NOT NULL PRIMARY KEY,
    stream     TEXT    NOT NULL,
    cursor     INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE log_cursors;
DROP TABLE collector_logs;
