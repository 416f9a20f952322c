// Package store opens the SQLite database: one writer connection (so writes
// are serialised in-process and transactions start with BEGIN IMMEDIATE) and
// a read-only pool, WAL, foreign keys and a busy timeout; it applies the
// embedded migrations and refuses a database whose schema is newer than this
// binary knows.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"

	"github.com/jmoiron/sqlx"
	_ "github.com/mattn/go-sqlite3" // registers the sqlite3 driver
	"github.com/pressly/goose/v3"

	"github.com/appmanage/appmanage/migrations"
)

// ErrSchemaTooNew means the database was migrated by a newer appmanage.
var ErrSchemaTooNew = errors.New("database schema is newer than this binary")

// DB is the application database.
type DB struct {
	W    *sqlx.DB // exactly one connection; every write goes here
	R    *sqlx.DB // read-only pool
	Path string

	sealer *sealer // secret settings' key (SecretKeyFile beside the database)
}

// Open opens (creating if needed) the database at path and migrates it.
func Open(ctx context.Context, path string, log *slog.Logger) (*DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create database folder: %w", err)
	}
	common := "_foreign_keys=on&_busy_timeout=10000&_journal_mode=WAL&_synchronous=NORMAL"
	w, err := sqlx.Open("sqlite3", "file:"+url.PathEscape(path)+"?"+common+"&_txlock=immediate&mode=rwc")
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := migrate(ctx, w.DB, log); err != nil {
		w.Close()
		return nil, err
	}
	sl, created, err := loadSealer(filepath.Dir(path))
	if err != nil {
		w.Close()
		return nil, err
	}
	db := &DB{W: w, Path: path, sealer: sl}
	if created {
		var sealed int
		if err := w.GetContext(ctx, &sealed, `SELECT count(*) FROM settings WHERE value LIKE 'enc:v1:%'`); err != nil || sealed > 0 {
			w.Close()
			_ = os.Remove(filepath.Join(filepath.Dir(path), SecretKeyFile)) // the new key is of no use
			return nil, errors.Join(fmt.Errorf("%w: %s was missing, but the database holds %d sealed settings: restore the file (a new key cannot read them)",
				ErrSecretKey, filepath.Join(filepath.Dir(path), SecretKeyFile), sealed), err)
		}
	}
	if n, err := db.sealPlainSecrets(ctx); err != nil {
		w.Close()
		return nil, err
	} else if n > 0 {
		log.InfoContext(ctx, "sealed secret settings stored in plain text by an older version", "count", n)
	}
	r, err := sqlx.Open("sqlite3", "file:"+url.PathEscape(path)+"?"+common+"&mode=ro")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open database reader: %w", err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	db.R = r
	return db, nil
}

// Close closes both pools.
func (db *DB) Close() error {
	return errors.Join(db.R.Close(), db.W.Close())
}

// Tx runs fn in a write transaction (BEGIN IMMEDIATE), committing when fn
// returns nil.
func (db *DB) Tx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := db.W.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func newProvider(db *sql.DB) (*goose.Provider, error) {
	return goose.NewProvider(goose.DialectSQLite3, db, migrations.FS)
}

// migrate applies pending migrations, after checking that the database is
// not ahead of the binary.
func migrate(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	p, err := newProvider(db)
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	known := int64(0)
	for _, s := range p.ListSources() {
		known = max(known, s.Version)
	}
	if current > known {
		return fmt.Errorf("%w: database is at version %d, this binary knows up to %d", ErrSchemaTooNew, current, known)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	for _, r := range results {
		log.InfoContext(ctx, "applied migration", "version", r.Source.Version, "file", filepath.Base(r.Source.Path), "duration", r.Duration)
	}
	return nil
}

// SchemaVersion returns the applied schema version.
func (db *DB) SchemaVersion(ctx context.Context) (int64, error) {
	p, err := newProvider(db.W.DB)
	if err != nil {
		return 0, fmt.Errorf("load migrations: %w", err)
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}
