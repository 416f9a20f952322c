package store

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Secret settings are stored sealed with AES-256-GCM (crypto/cipher of the
// standard library): "enc:v1:" + base64(nonce || ciphertext), the setting's
// key as additional data so a sealed value cannot be moved to another key.
// The 32-byte key lives in the data dir, in SecretKeyFile (mode 0600),
// never in the database: a copy of the database file alone reveals no
// secret.

// SecretKeyFile is the name of the key file beside the database.
const SecretKeyFile = "settings.key"

const sealedPrefix = "enc:v1:"

// ErrSecretKey means the key file is missing, unreadable or of the wrong
// size while the database holds sealed values.
var ErrSecretKey = errors.New("settings key file")

type sealer struct{ aead cipher.AEAD }

// loadSealer reads the key file in dir, creating it (0600) when absent.
func loadSealer(dir string) (_ *sealer, created bool, _ error) {
	path := filepath.Join(dir, SecretKeyFile)
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		created = true
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, false, fmt.Errorf("%w: generate: %w", ErrSecretKey, err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, false, fmt.Errorf("%w: create %s: %w", ErrSecretKey, path, err)
		}
		_, werr := f.Write(key)
		if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
			_ = os.Remove(path)
			return nil, false, fmt.Errorf("%w: write %s: %w", ErrSecretKey, path, err)
		}
	} else if err != nil {
		return nil, false, fmt.Errorf("%w: read %s: %w", ErrSecretKey, path, err)
	}
	if len(key) != 32 {
		return nil, false, fmt.Errorf("%w: %s holds %d bytes, want 32", ErrSecretKey, path, len(key))
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, false, fmt.Errorf("%w: chmod %s: %w", ErrSecretKey, path, err)
		}
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrSecretKey, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrSecretKey, err)
	}
	return &sealer{aead: aead}, created, nil
}

// seal encrypts value for the setting key; "" stays "" (no value).
func (s *sealer) seal(key, value string) (string, error) {
	if value == "" {
		return "", nil
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal setting %q: %w", key, err)
	}
	out := s.aead.Seal(nonce, nonce, []byte(value), []byte(key))
	return sealedPrefix + base64.StdEncoding.EncodeToString(out), nil
}

// open decrypts a sealed value. A value without the prefix is returned as
// it is (a row written before sealing existed; Open seals those).
func (s *sealer) open(key, stored string) (string, error) {
	if !strings.HasPrefix(stored, sealedPrefix) {
		return stored, nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(stored, sealedPrefix))
	n := s.aead.NonceSize()
	if err != nil || len(raw) < n {
		return "", fmt.Errorf("open setting %q: malformed sealed value", key)
	}
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(key))
	if err != nil {
		return "", fmt.Errorf("open setting %q: %w (was %s replaced?)", key, err, SecretKeyFile)
	}
	return string(plain), nil
}

// sealPlainSecrets seals secret rows stored in plain text (by a version
// before sealing existed), with secure_delete on so the plain text does
// not stay behind in freed pages.
func (db *DB) sealPlainSecrets(ctx context.Context) (int, error) {
	var rows []struct {
		Key   string `db:"key"`
		Value string `db:"value"`
	}
	if err := db.W.SelectContext(ctx, &rows, `SELECT key, value FROM settings
		WHERE secret AND value <> '' AND value NOT LIKE 'enc:v1:%'`); err != nil {
		return 0, fmt.Errorf("read plain secrets: %w", err)
	}
	if len(rows) == 0 {
		return 0, nil
	}
	if _, err := db.W.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
		return 0, fmt.Errorf("secure_delete: %w", err)
	}
	for _, r := range rows {
		sealed, err := db.sealer.seal(r.Key, r.Value)
		if err != nil {
			return 0, err
		}
		if _, err := db.W.ExecContext(ctx, `UPDATE settings SET value = ? WHERE key = ?`, sealed, r.Key); err != nil {
			return 0, fmt.Errorf("seal setting %q: %w", r.Key, err)
		}
	}
	// Copy the WAL back into the database and truncate it, so the old
	// pages leave the WAL file too.
	if _, err := db.W.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return 0, fmt.Errorf("checkpoint: %w", err)
	}
	return len(rows), nil
}
