-- Identity and access, PostgreSQL flavour: organisations, teams, users, their role
-- bindings, browser sessions and personal API tokens. Times are unix milliseconds
-- (BIGINT, NULL when unset). Secrets are never stored: a session row is keyed by
-- the hex SHA-256 of the cookie secret, a token row keeps the hex SHA-256 of the
-- token. Keep the columns and their meaning identical to
-- ../sqlite/00002_identity.sql: the store's queries are shared by both.

-- +goose Up
CREATE TABLE orgs (
    id         TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL DEFAULT '',
    created_at BIGINT  NOT NULL
);

CREATE TABLE teams (
    org        TEXT    NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    id         TEXT    NOT NULL,
    name       TEXT    NOT NULL DEFAULT '',
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (org, id)
);

CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    disabled_at   BIGINT
);

-- org and team are '' when the role has none: super_admin has neither, org_admin
-- an org only, team_lead and viewer an org and optionally a team. The store checks
-- that the org and team exist when it adds a binding.
CREATE TABLE role_bindings (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT NOT NULL,
    org     TEXT NOT NULL DEFAULT '',
    team    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (user_id, role, org, team),
    CHECK (
        (role = 'super_admin' AND org = '' AND team = '') OR
        (role = 'org_admin' AND org <> '' AND team = '') OR
        (role IN ('team_lead', 'viewer') AND org <> '')
    )
);
CREATE INDEX role_bindings_org_team ON role_bindings (org, team);

CREATE TABLE sessions (
    id           TEXT    NOT NULL PRIMARY KEY,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    last_seen_at BIGINT
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE api_tokens (
    id            TEXT    NOT NULL PRIMARY KEY,
    user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    secret_sha256 TEXT    NOT NULL UNIQUE,
    created_at    BIGINT  NOT NULL,
    expires_at    BIGINT,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id, created_at);

-- +goose Down
DROP TABLE api_tokens;
DROP TABLE sessions;
DROP TABLE role_bindings;
DROP TABLE users;
DROP TABLE teams;
DROP TABLE orgs;
