-- +goose Up
-- Durable operations (DESIGN.md §4): the journal the ops engine resumes from
-- after a crash. Timestamps are UTC.
CREATE TABLE operations (
    id               TEXT PRIMARY KEY,                 -- UUIDv7, sortable by creation time
    kind             TEXT NOT NULL,
    app_id           TEXT,                             -- NULL for operations not tied to an app
    status           TEXT NOT NULL CHECK (status IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'ROLLING_BACK', 'ROLLED_BACK', 'CANCELLED')),
    progress         INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    error            TEXT NOT NULL DEFAULT '',
    idempotency_key  TEXT UNIQUE,                      -- NULL when the caller gave none
    input            TEXT NOT NULL DEFAULT 'null',     -- JSON
    state            TEXT NOT NULL DEFAULT '{}',       -- JSON object: external ids journalled by steps
    cancel_requested INTEGER NOT NULL DEFAULT 0,       -- survives a restart, so a resumed run still rolls back
    created_at       TIMESTAMP NOT NULL,
    started_at       TIMESTAMP,
    finished_at      TIMESTAMP,
    deadline_at      TIMESTAMP
);

-- One active operation per app: a second install/uninstall of the same app
-- fails on this index even if two requests race.
CREATE UNIQUE INDEX operations_one_active_per_app ON operations(app_id)
    WHERE status IN ('QUEUED', 'RUNNING', 'ROLLING_BACK');
CREATE INDEX operations_app_created ON operations(app_id, created_at);
CREATE INDEX operations_created ON operations(created_at);
CREATE INDEX operations_status ON operations(status);

CREATE TABLE operation_steps (
    operation_id TEXT NOT NULL REFERENCES operations(id) ON DELETE CASCADE,
    idx          INTEGER NOT NULL,
    name         TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'UNDOING', 'UNDONE', 'UNDO_FAILED', 'SKIPPED')),
    error        TEXT NOT NULL DEFAULT '',
    attempts     INTEGER NOT NULL DEFAULT 0,
    started_at   TIMESTAMP,
    finished_at  TIMESTAMP,
    PRIMARY KEY (operation_id, idx)
);

CREATE TABLE operation_events (
    operation_id TEXT NOT NULL REFERENCES operations(id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    at           TIMESTAMP NOT NULL,
    step         TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL,
    progress     INTEGER NOT NULL,
    message      TEXT NOT NULL DEFAULT '',
    terminal     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (operation_id, seq)
);

-- Resources (host ports, domains) claimed by active operations; rows are
-- deleted when their operation reaches a terminal state.
CREATE TABLE operation_reservations (
    resource     TEXT PRIMARY KEY,
    operation_id TEXT NOT NULL REFERENCES operations(id) ON DELETE CASCADE
);
CREATE INDEX operation_reservations_op ON operation_reservations(operation_id);

-- +goose Down
DROP TABLE operation_reservations;
DROP TABLE operation_events;
DROP TABLE operation_steps;
DROP TABLE operations;
