-- People, postgres flavour: a user's display name and email, which the user
-- administration routes change, and the audit trail's target, who or what an
-- action changed when it is not a collector (a user, an org, a team, a role
-- binding). Keep the columns and their meaning identical to
-- ../sqlite/00005_people.sql: the store's queries are shared by both.

-- +goose Up
ALTER TABLE users ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN email TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN target TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_log_target ON audit_log (target, at, id) WHERE target <> '';

-- +goose Down
DROP INDEX audit_log_target;
ALTER TABLE audit_log DROP COLUMN target;
ALTER TABLE users DROP COLUMN email;
ALTER TABLE users DROP COLUMN display_name;
