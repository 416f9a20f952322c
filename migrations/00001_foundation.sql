-- +goose Up
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,              -- first characters, shown to identify a key
    hash         TEXT NOT NULL UNIQUE,       -- hex SHA-256 of the full key
    scope        TEXT NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    created_at   TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at   TIMESTAMP
);

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    secret     INTEGER NOT NULL DEFAULT 0,
    updated_at TIMESTAMP NOT NULL
);

-- +goose Down
DROP TABLE settings;
DROP TABLE api_keys;
