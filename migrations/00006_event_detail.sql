-- +goose Up
-- Structured detail of an operation event (JSON, '' for none): e.g. the
-- layer, bytes done and bytes total of an image pull, for a progress bar.
ALTER TABLE operation_events ADD COLUMN detail TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE operation_events DROP COLUMN detail;
