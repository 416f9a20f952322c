package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/mattn/go-sqlite3"

	"github.com/appmanage/appmanage/apperr"
)

// Sentinels for API-key lookups; the returned errors also carry an apperr
// code (NOT_FOUND, CONFLICT) so resolvers can pass them through.
var (
	ErrAPIKeyNotFound = errors.New("api key not found")
	ErrAPIKeyExists   = errors.New("api key already exists")
)

// APIKey is a stored API key. Hash is the hex SHA-256 of the plaintext key;
// the plaintext is never stored. Prefix identifies a key to people.
type APIKey struct {
	ID         string     `db:"id"`
	Name       string     `db:"name"`
	Prefix     string     `db:"prefix"`
	Hash       string     `db:"hash"`
	Scope      string     `db:"scope"`
	CreatedAt  time.Time  `db:"created_at"`
	LastUsedAt *time.Time `db:"last_used_at"`
	RevokedAt  *time.Time `db:"revoked_at"`
}

// Revoked reports whether the key has been revoked.
func (k APIKey) Revoked() bool { return k.RevokedAt != nil }

const apiKeyColumns = `id, name, prefix, hash, scope, created_at, last_used_at, revoked_at`

// InsertAPIKey stores a new key. An empty ID gets a UUID and a zero
// CreatedAt the current time; the stored key is returned. A key whose hash
// is already stored is a CONFLICT wrapping ErrAPIKeyExists.
func (db *DB) InsertAPIKey(ctx context.Context, k APIKey) (APIKey, error) {
	if k.ID == "" {
		k.ID = uuid.NewString()
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = time.Now().UTC()
	}
	if err := insertAPIKey(ctx, db.W, k); err != nil {
		return APIKey{}, err
	}
	return k, nil
}

func insertAPIKey(ctx context.Context, ex sqlx.ExtContext, k APIKey) error {
	_, err := sqlx.NamedExecContext(ctx, ex, `INSERT INTO api_keys (`+apiKeyColumns+`)
		VALUES (:id, :name, :prefix, :hash, :scope, :created_at, :last_used_at, :revoked_at)`, k)
	if apiKeyHashTaken(err) {
		return apperr.Wrap(apperr.Conflict, ErrAPIKeyExists, "API key")
	}
	if err != nil {
		return fmt.Errorf("insert api key: %w", err)
	}
	return nil
}

// APIKeyByHash returns the key with that hash, revoked or not (the caller
// decides what a revoked key means). A missing key is NOT_FOUND wrapping
// ErrAPIKeyNotFound; the hash is not repeated in the error.
func (db *DB) APIKeyByHash(ctx context.Context, hash string) (APIKey, error) {
	var k APIKey
	err := db.R.GetContext(ctx, &k, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = ?`, hash)
	if errors.Is(err, sql.ErrNoRows) {
		return APIKey{}, apperr.Wrap(apperr.NotFound, ErrAPIKeyNotFound, "API key")
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("get api key by hash: %w", err)
	}
	return k, nil
}

// ListAPIKeys returns every key, revoked ones included, oldest first.
func (db *DB) ListAPIKeys(ctx context.Context) ([]APIKey, error) {
	keys := []APIKey{}
	if err := db.R.SelectContext(ctx, &keys, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY created_at, id`); err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return keys, nil
}

// CountAPIKeys counts every stored key, revoked ones included: it answers
// "has this installation ever had a key", which is what bootstrap asks.
func (db *DB) CountAPIKeys(ctx context.Context) (int, error) {
	var n int
	if err := db.R.GetContext(ctx, &n, `SELECT COUNT(*) FROM api_keys`); err != nil {
		return 0, fmt.Errorf("count api keys: %w", err)
	}
	return n, nil
}

// RevokeAPIKey revokes the key whose ID or prefix is idOrPrefix and returns
// it. An ID match wins over prefix matches; a prefix that matches several
// keys is a CONFLICT, no match is NOT_FOUND wrapping ErrAPIKeyNotFound.
// Revoking a revoked key keeps its first revocation time.
func (db *DB) RevokeAPIKey(ctx context.Context, idOrPrefix string) (APIKey, error) {
	var out APIKey
	err := db.Tx(ctx, func(tx *sqlx.Tx) error {
		var matches []APIKey
		if err := tx.SelectContext(ctx, &matches, `SELECT `+apiKeyColumns+` FROM api_keys
			WHERE id = ? OR prefix = ? ORDER BY id = ? DESC`, idOrPrefix, idOrPrefix, idOrPrefix); err != nil {
			return fmt.Errorf("find api key: %w", err)
		}
		switch {
		case len(matches) == 0 || idOrPrefix == "":
			// The input is not echoed: someone may paste a whole key here.
			return apperr.Wrap(apperr.NotFound, ErrAPIKeyNotFound, "no API key has that id or prefix")
		case len(matches) > 1 && matches[0].ID != idOrPrefix:
			return apperr.New(apperr.Conflict, "%d API keys share that prefix; revoke by id", len(matches))
		}
		out = matches[0]
		if out.RevokedAt != nil {
			return nil
		}
		now := time.Now().UTC()
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ?`, now, out.ID); err != nil {
			return fmt.Errorf("revoke api key: %w", err)
		}
		out.RevokedAt = &now
		return nil
	})
	if err != nil {
		return APIKey{}, err
	}
	return out, nil
}

// TouchAPIKey records that the key was used at at. Callers throttle it.
func (db *DB) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	if _, err := db.W.ExecContext(ctx, `UPDATE api_keys SET last_used_at = ? WHERE id = ?`, at.UTC(), id); err != nil {
		return fmt.Errorf("touch api key: %w", err)
	}
	return nil
}

// SeedResult says what SeedAPIKey changed.
type SeedResult struct {
	Created  bool // no key had this hash; it was inserted
	Restored bool // a key with this hash existed revoked, or with another scope or name; it was reinstated
	Retired  int  // other active keys with the same name that were revoked
}

// SeedAPIKey makes sure a key with k.Hash exists, is not revoked and has
// k.Scope and k.Name, and revokes every other active key with k.Name: a seeded key is
// owned by its source (an environment variable), so changing the source
// rotates the key. It runs in one transaction and is idempotent.
func (db *DB) SeedAPIKey(ctx context.Context, k APIKey) (APIKey, SeedResult, error) {
	var res SeedResult
	name := k.Name
	err := db.Tx(ctx, func(tx *sqlx.Tx) error {
		var cur APIKey
		err := tx.GetContext(ctx, &cur, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = ?`, k.Hash)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if k.ID == "" {
				k.ID = uuid.NewString()
			}
			if k.CreatedAt.IsZero() {
				k.CreatedAt = time.Now().UTC()
			}
			if err := insertAPIKey(ctx, tx, k); err != nil {
				return err
			}
			res.Created = true
		case err != nil:
			return fmt.Errorf("get api key by hash: %w", err)
		default:
			if cur.RevokedAt != nil || cur.Scope != k.Scope || cur.Name != name {
				if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET name = ?, scope = ?, revoked_at = NULL WHERE id = ?`,
					name, k.Scope, cur.ID); err != nil {
					return fmt.Errorf("restore api key: %w", err)
				}
				cur.Name, cur.Scope, cur.RevokedAt = name, k.Scope, nil
				res.Restored = true
			}
			k = cur
		}
		r, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE name = ? AND id <> ? AND revoked_at IS NULL`,
			time.Now().UTC(), name, k.ID)
		if err != nil {
			return fmt.Errorf("retire old api keys: %w", err)
		}
		n, err := r.RowsAffected()
		if err != nil {
			return fmt.Errorf("retire old api keys: %w", err)
		}
		res.Retired = int(n)
		return nil
	})
	if err != nil {
		return APIKey{}, SeedResult{}, err
	}
	return k, res, nil
}

func apiKeyHashTaken(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey)
}
