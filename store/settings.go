package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/appmanage/appmanage/apperr"
)

// ErrSettingNotFound means no setting has that key; the returned error is
// also NOT_FOUND.
var ErrSettingNotFound = errors.New("setting not found")

// Setting is a run-time setting. From ListSettings, a secret setting has an
// empty Value and HasValue tells whether one is stored: secrets are
// write-only outside GetSetting.
type Setting struct {
	Key       string    `db:"key"`
	Value     string    `db:"value"`
	Secret    bool      `db:"secret"`
	HasValue  bool      `db:"has_value"`
	UpdatedAt time.Time `db:"updated_at"`
}

// GetSetting returns one setting with its value, secret or not: it is for
// the code that uses the setting, never for listing to clients.
func (db *DB) GetSetting(ctx context.Context, key string) (Setting, error) {
	var s Setting
	err := db.R.GetContext(ctx, &s, `SELECT key, value, secret, value <> '' AS has_value, updated_at
		FROM settings WHERE key = ?`, key)
	if errors.Is(err, sql.ErrNoRows) {
		return Setting{}, apperr.Wrap(apperr.NotFound, ErrSettingNotFound, "setting %q", key)
	}
	if err != nil {
		return Setting{}, fmt.Errorf("get setting %q: %w", key, err)
	}
	if s.Secret {
		if s.Value, err = db.sealer.open(key, s.Value); err != nil {
			return Setting{}, err
		}
	}
	return s, nil
}

// SetSetting creates or replaces a setting. Secrecy is sticky: once a key
// has been stored as secret it stays secret even if a later caller passes
// secret=false, so a caller's mistake cannot publish a secret through
// ListSettings. Secret values are stored sealed (see secrets.go).
func (db *DB) SetSetting(ctx context.Context, key, value string, secret bool) error {
	if strings.TrimSpace(key) == "" {
		return apperr.Invalid("key", "must not be empty")
	}
	return db.Tx(ctx, func(tx *sqlx.Tx) error {
		if !secret {
			var was bool
			err := tx.GetContext(ctx, &was, `SELECT secret FROM settings WHERE key = ?`, key)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("set setting %q: %w", key, err)
			}
			secret = was
		}
		stored := value
		if secret {
			var err error
			if stored, err = db.sealer.seal(key, value); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, secret, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, secret = MAX(secret, excluded.secret),
				updated_at = excluded.updated_at`, key, stored, secret, time.Now().UTC())
		if err != nil {
			// The value is not in the error: it may be a secret.
			return fmt.Errorf("set setting %q: %w", key, err)
		}
		return nil
	})
}

// ListSettings returns every setting ordered by key. Secret values are not
// even read from the database: Value is empty and HasValue says whether one
// is set.
func (db *DB) ListSettings(ctx context.Context) ([]Setting, error) {
	out := []Setting{}
	err := db.R.SelectContext(ctx, &out, `SELECT key, CASE WHEN secret THEN '' ELSE value END AS value,
		secret, value <> '' AS has_value, updated_at FROM settings ORDER BY key`)
	if err != nil {
		return nil, fmt.Errorf("list settings: %w", err)
	}
	return out, nil
}
