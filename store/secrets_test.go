package store_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/appmanage/appmanage/store"
)

// dbFileBytes reads the database file with its WAL and shared memory.
func dbFileBytes(t *testing.T, path string) []byte {
	t.Helper()
	var all []byte
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		b, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

func TestSecretSettingsAreSealedOnDisk(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	db, err := store.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	secret := "s3cret-token-0123456789abcdef"
	if err := db.SetSetting(ctx, "giteaToken", secret, true); err != nil {
		t.Fatal(err)
	}
	// A later caller passing secret=false still seals it (secrecy is sticky).
	second := "second-secret-value-98765"
	if err := db.SetSetting(ctx, "giteaToken", second, false); err != nil {
		t.Fatal(err)
	}
	if err := db.SetSetting(ctx, "plain", "visible-value", false); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetSetting(ctx, "giteaToken")
	if err != nil || got.Value != second || !got.Secret {
		t.Fatalf("GetSetting = %+v, %v", got, err)
	}
	raw := dbFileBytes(t, path) // WAL included: nothing is checkpointed yet
	if !bytes.Contains(raw, []byte("visible-value")) {
		t.Fatal("the plain setting is not in the files: the test reads the wrong bytes")
	}
	for _, s := range []string{secret, second} {
		if bytes.Contains(raw, []byte(s)) {
			t.Fatalf("secret %q readable in the database files", s)
		}
	}
	st, err := os.Stat(filepath.Join(dir, store.SecretKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", st, err)
	}
	// A plain-text secret row, as a version before sealing wrote it, is
	// sealed at the next open.
	legacy := "legacy-webhook-secret-abcdef"
	if _, err := db.W.ExecContext(ctx, `INSERT INTO settings (key, value, secret, updated_at) VALUES ('webhook:x', ?, 1, CURRENT_TIMESTAMP)`, legacy); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = store.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := db.GetSetting(ctx, "webhook:x"); err != nil || got.Value != legacy {
		t.Fatalf("legacy secret = %+v, %v", got, err)
	}
	if got, err := db.GetSetting(ctx, "giteaToken"); err != nil || got.Value != second {
		t.Fatalf("after reopen = %+v, %v", got, err)
	}
	db.Close()
	if raw := dbFileBytes(t, path); bytes.Contains(raw, []byte(legacy)) {
		t.Fatal("legacy secret still readable after sealing")
	}
	// Without its key file the database is refused, not read with a new key.
	if err := os.Remove(filepath.Join(dir, store.SecretKeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(ctx, path, nil); !errors.Is(err, store.ErrSecretKey) {
		t.Fatalf("open without key file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, store.SecretKeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a useless new key file was left: %v", err)
	}
}
