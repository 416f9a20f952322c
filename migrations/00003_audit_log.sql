-- +goose Up
-- The audit log (issue 12): one row per mutation, accepted or refused, and
-- per webhook-triggered operation. Arguments are stored with secrets
-- redacted. Rows older than the retention setting are deleted.
CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           TIMESTAMP NOT NULL,
    key_id       TEXT NOT NULL DEFAULT '',      -- '' when no key was given (refused) or for a webhook
    key_name     TEXT NOT NULL DEFAULT '',
    client_addr  TEXT NOT NULL DEFAULT '',
    source       TEXT NOT NULL DEFAULT 'api',   -- api | webhook:gitea
    mutation     TEXT NOT NULL,
    app_id       TEXT NOT NULL DEFAULT '',
    arguments    TEXT NOT NULL DEFAULT '{}',    -- JSON, secrets redacted
    operation_id TEXT NOT NULL DEFAULT '',
    error_code   TEXT NOT NULL DEFAULT ''       -- '' on success
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_key ON audit_log (key_id, id);
CREATE INDEX audit_log_mutation ON audit_log (mutation, id);
CREATE INDEX audit_log_app ON audit_log (app_id, id);

-- +goose Down
DROP TABLE audit_log;
