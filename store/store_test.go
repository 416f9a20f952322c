package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

func TestOpenEmptyAndExisting(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	db, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatalf("open empty: %v", err)
	}
	v1, err := db.SchemaVersion(ctx)
	if err != nil || v1 < 1 {
		t.Fatalf("version after first open = %d, %v", v1, err)
	}
	if _, err := db.W.ExecContext(ctx, `INSERT INTO settings(key, value, updated_at) VALUES ('k', 'v', CURRENT_TIMESTAMP)`); err != nil {
		t.Fatalf("insert: %v", err)
	}
	var mode string
	if err := db.R.GetContext(ctx, &mode, `PRAGMA journal_mode`); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v", mode, err)
	}
	var fk int
	if err := db.W.GetContext(ctx, &fk, `PRAGMA foreign_keys`); err != nil || fk != 1 {
		t.Fatalf("foreign_keys = %d, %v", fk, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(ctx, path, nil)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	v2, _ := db.SchemaVersion(ctx)
	if v2 != v1 {
		t.Fatalf("version changed on reopen: %d -> %d", v1, v2)
	}
	var val string
	if err := db.R.GetContext(ctx, &val, `SELECT value FROM settings WHERE key='k'`); err != nil || val != "v" {
		t.Fatalf("data lost on reopen: %q, %v", val, err)
	}
	if _, err := db.R.ExecContext(ctx, `INSERT INTO settings(key, value, updated_at) VALUES ('x', 'y', CURRENT_TIMESTAMP)`); err == nil {
		t.Fatal("reader pool accepted a write")
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	db, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.W.ExecContext(ctx, `INSERT INTO goose_db_version(version_id, is_applied) VALUES (99999, 1)`); err != nil {
		t.Fatalf("fake a newer version: %v", err)
	}
	db.Close()
	_, err = Open(ctx, path, nil)
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("open newer schema: err = %v, want ErrSchemaTooNew", err)
	}
}
