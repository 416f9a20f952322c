package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/store"
)

func openAPIKeyTestDB(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "app.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestAPIKeyInsertGetListCount(t *testing.T) {
	ctx := context.Background()
	db := openAPIKeyTestDB(t)

	if n, err := db.CountAPIKeys(ctx); err != nil || n != 0 {
		t.Fatalf("count on empty db = %d, %v", n, err)
	}
	created := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	a, err := db.InsertAPIKey(ctx, store.APIKey{Name: "ci", Prefix: "abcdefgh", Hash: "h1", Scope: "read", CreatedAt: created})
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == "" {
		t.Fatal("InsertAPIKey did not assign an id")
	}
	b, err := db.InsertAPIKey(ctx, store.APIKey{Name: "ops", Prefix: "zzzzzzzz", Hash: "h2", Scope: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(b.CreatedAt) > time.Minute {
		t.Fatalf("InsertAPIKey set CreatedAt = %v, want now", b.CreatedAt)
	}

	got, err := db.APIKeyByHash(ctx, "h1")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != a.ID || got.Name != "ci" || got.Prefix != "abcdefgh" || got.Scope != "read" ||
		!got.CreatedAt.Equal(created) || got.LastUsedAt != nil || got.RevokedAt != nil {
		t.Fatalf("APIKeyByHash = %+v, want %+v", got, a)
	}

	_, err = db.APIKeyByHash(ctx, "nope")
	if !errors.Is(err, store.ErrAPIKeyNotFound) || apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("missing hash: err = %v (code %s)", err, apperr.CodeOf(err))
	}

	_, err = db.InsertAPIKey(ctx, store.APIKey{Name: "dup", Prefix: "x", Hash: "h1", Scope: "read"})
	if !errors.Is(err, store.ErrAPIKeyExists) || apperr.CodeOf(err) != apperr.Conflict {
		t.Fatalf("duplicate hash: err = %v", err)
	}
	if _, err := db.InsertAPIKey(ctx, store.APIKey{Name: "bad", Prefix: "x", Hash: "h3", Scope: "root"}); err == nil {
		t.Fatal("scope outside read/write/admin was accepted")
	}

	list, err := db.ListAPIKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Oldest first: a was created in 2026-01, b now.
	if len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		t.Fatalf("ListAPIKeys = %+v", list)
	}
	if n, err := db.CountAPIKeys(ctx); err != nil || n != 2 {
		t.Fatalf("count = %d, %v", n, err)
	}
}

func TestRevokeAPIKey(t *testing.T) {
	ctx := context.Background()
	db := openAPIKeyTestDB(t)
	a, _ := db.InsertAPIKey(ctx, store.APIKey{Name: "a", Prefix: "same1234", Hash: "ha", Scope: "read"})
	b, _ := db.InsertAPIKey(ctx, store.APIKey{Name: "b", Prefix: "same1234", Hash: "hb", Scope: "write"})
	c, _ := db.InsertAPIKey(ctx, store.APIKey{Name: "c", Prefix: "uniq5678", Hash: "hc", Scope: "admin"})

	tests := []struct {
		name     string
		arg      string
		wantID   string
		wantCode apperr.Code
	}{
		{"by prefix", "uniq5678", c.ID, ""},
		{"by id", a.ID, a.ID, ""},
		{"ambiguous prefix", "same1234", "", apperr.Conflict},
		{"no match", "nothing", "", apperr.NotFound},
		{"empty", "", "", apperr.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := db.RevokeAPIKey(ctx, tt.arg)
			if tt.wantCode != "" {
				if apperr.CodeOf(err) != tt.wantCode {
					t.Fatalf("err = %v, want code %s", err, tt.wantCode)
				}
				if tt.wantCode == apperr.NotFound && !errors.Is(err, store.ErrAPIKeyNotFound) {
					t.Fatalf("err = %v, want ErrAPIKeyNotFound", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.ID != tt.wantID || k.RevokedAt == nil {
				t.Fatalf("revoked %+v, want id %s with RevokedAt", k, tt.wantID)
			}
		})
	}

	// Revoking again keeps the first revocation time.
	first, _ := db.APIKeyByHash(ctx, "hc")
	again, err := db.RevokeAPIKey(ctx, c.ID)
	if err != nil || !again.RevokedAt.Equal(*first.RevokedAt) {
		t.Fatalf("second revoke: %+v, %v (first at %v)", again, err, first.RevokedAt)
	}
	// The untouched key stays active.
	if k, _ := db.APIKeyByHash(ctx, "hb"); k.RevokedAt != nil || k.ID != b.ID {
		t.Fatalf("unrelated key changed: %+v", k)
	}
}

func TestTouchAPIKey(t *testing.T) {
	ctx := context.Background()
	db := openAPIKeyTestDB(t)
	k, _ := db.InsertAPIKey(ctx, store.APIKey{Name: "a", Prefix: "p", Hash: "h", Scope: "read"})
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("x", 3600))
	if err := db.TouchAPIKey(ctx, k.ID, at); err != nil {
		t.Fatal(err)
	}
	got, _ := db.APIKeyByHash(ctx, "h")
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(at) {
		t.Fatalf("LastUsedAt = %v, want %v", got.LastUsedAt, at)
	}
}

func TestSeedAPIKey(t *testing.T) {
	ctx := context.Background()
	db := openAPIKeyTestDB(t)
	const name = "SEEDED"
	seed := store.APIKey{Name: name, Prefix: "s1", Hash: "seed1", Scope: "admin"}

	k1, res, err := db.SeedAPIKey(ctx, seed)
	if err != nil || !res.Created || res.Restored || res.Retired != 0 || k1.ID == "" {
		t.Fatalf("first seed: %+v %+v %v", k1, res, err)
	}
	k2, res, err := db.SeedAPIKey(ctx, seed)
	if err != nil || res != (store.SeedResult{}) || k2.ID != k1.ID {
		t.Fatalf("second seed is not a no-op: %+v %+v %v", k2, res, err)
	}

	// A revoked seed is reinstated.
	if _, err := db.RevokeAPIKey(ctx, k1.ID); err != nil {
		t.Fatal(err)
	}
	k3, res, err := db.SeedAPIKey(ctx, seed)
	if err != nil || !res.Restored || k3.ID != k1.ID || k3.RevokedAt != nil {
		t.Fatalf("reseed after revoke: %+v %+v %v", k3, res, err)
	}
	if got, _ := db.APIKeyByHash(ctx, "seed1"); got.RevokedAt != nil || got.Scope != "admin" {
		t.Fatalf("stored seed after restore: %+v", got)
	}

	// Another key with an unrelated name is left alone; a new seed value
	// under the same name rotates: the old seeded key is revoked.
	other, _ := db.InsertAPIKey(ctx, store.APIKey{Name: "other", Prefix: "o", Hash: "other", Scope: "read"})
	k4, res, err := db.SeedAPIKey(ctx, store.APIKey{Name: name, Prefix: "s2", Hash: "seed2", Scope: "admin"})
	if err != nil || !res.Created || res.Retired != 1 || k4.ID == k1.ID {
		t.Fatalf("rotation: %+v %+v %v", k4, res, err)
	}
	if old, _ := db.APIKeyByHash(ctx, "seed1"); old.RevokedAt == nil {
		t.Fatal("rotated-out seed key is still active")
	}
	if o, _ := db.APIKeyByHash(ctx, "other"); o.RevokedAt != nil || o.ID != other.ID {
		t.Fatalf("unrelated key was touched: %+v", o)
	}

	// Seeding a hash that belongs to an ordinary read key promotes and
	// renames it, and retires the previous seed.
	k5, res, err := db.SeedAPIKey(ctx, store.APIKey{Name: name, Prefix: "o", Hash: "other", Scope: "admin"})
	if err != nil || !res.Restored || res.Retired != 1 || k5.ID != other.ID || k5.Scope != "admin" || k5.Name != name {
		t.Fatalf("seed over existing key: %+v %+v %v", k5, res, err)
	}
}
