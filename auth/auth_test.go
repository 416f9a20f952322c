package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/store"
)

// lockedBuffer collects log output; handlers may write from several
// goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type testEnv struct {
	svc     *Service
	db      *store.DB
	logs    *lockedBuffer
	mu      sync.Mutex
	secrets []string
}

// secret registers a plaintext key that must never appear in the logs.
func (e *testEnv) secret(k string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secrets = append(e.secrets, k)
	return k
}

// newTestEnv opens a real SQLite database and a Service logging at debug
// level into a buffer; at the end of the test, no registered key may appear
// in that buffer.
func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "app.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{db: db, logs: &lockedBuffer{}}
	e.svc = NewService(db, slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() {
		db.Close()
		logs := e.logs.String()
		for _, s := range e.secrets {
			if strings.Contains(logs, s) {
				t.Errorf("log output contains a plaintext key:\n%s", logs)
			}
		}
	})
	return e
}

func (e *testEnv) create(t *testing.T, name string, scope Scope) (string, Key) {
	t.Helper()
	plain, k, err := e.svc.Create(context.Background(), name, scope)
	if err != nil {
		t.Fatalf("Create(%q, %s): %v", name, scope, err)
	}
	return e.secret(plain), k
}

func TestHashKey(t *testing.T) {
	a, b := "am_first-key-value", "am_second-key-value"
	ha := HashKey(a)
	if ha == a || strings.Contains(ha, a) {
		t.Fatal("hash contains the key")
	}
	if raw, err := hex.DecodeString(ha); err != nil || len(raw) != 32 {
		t.Fatalf("hash %q is not hex SHA-256", ha)
	}
	if HashKey(a) != ha {
		t.Fatal("same key hashed differently")
	}
	if HashKey(b) == ha {
		t.Fatal("different keys hashed the same")
	}
	// Known SHA-256 vector, so the stored form is stable across releases.
	if got := HashKey("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("HashKey(abc) = %s", got)
	}
}

func TestScopeAllows(t *testing.T) {
	scopes := []Scope{ScopeRead, ScopeWrite, ScopeAdmin, "root", ""}
	want := map[Scope][]bool{ // have -> allows read, write, admin, root, ""
		ScopeRead:  {true, false, false, false, false},
		ScopeWrite: {true, true, false, false, false},
		ScopeAdmin: {true, true, true, false, false},
		"root":     {false, false, false, false, false},
		"":         {false, false, false, false, false},
	}
	for _, have := range scopes {
		for i, need := range scopes {
			if got := have.Allows(need); got != want[have][i] {
				t.Errorf("Scope(%q).Allows(%q) = %v, want %v", have, need, got, want[have][i])
			}
		}
	}
}

func TestParseScope(t *testing.T) {
	tests := []struct {
		in   string
		want Scope
		ok   bool
	}{
		{"read", ScopeRead, true},
		{" WRITE ", ScopeWrite, true},
		{"Admin", ScopeAdmin, true},
		{"root", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := ParseScope(tt.in)
		if tt.ok && (err != nil || got != tt.want) {
			t.Errorf("ParseScope(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
		if !tt.ok && apperr.CodeOf(err) != apperr.ValidationFailed {
			t.Errorf("ParseScope(%q) err = %v, want VALIDATION_FAILED", tt.in, err)
		}
	}
}

func TestRequire(t *testing.T) {
	with := func(s Scope) context.Context {
		return WithPrincipal(context.Background(), &Principal{KeyID: "id", KeyName: "n", Scope: s})
	}
	tests := []struct {
		name     string
		ctx      context.Context
		need     Scope
		wantCode apperr.Code // "" means allowed
	}{
		{"no principal", context.Background(), ScopeRead, apperr.Unauthenticated},
		{"nil principal", WithPrincipal(context.Background(), nil), ScopeRead, apperr.Unauthenticated},
		{"read reads", with(ScopeRead), ScopeRead, ""},
		{"read cannot write", with(ScopeRead), ScopeWrite, apperr.Forbidden},
		{"write writes", with(ScopeWrite), ScopeWrite, ""},
		{"write is not admin", with(ScopeWrite), ScopeAdmin, apperr.Forbidden},
		{"admin writes", with(ScopeAdmin), ScopeWrite, ""},
		{"admin administers", with(ScopeAdmin), ScopeAdmin, ""},
		{"unknown scope", with("root"), ScopeRead, apperr.Forbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Require(tt.ctx, tt.need)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("Require = %v, want nil", err)
				}
				return
			}
			if apperr.CodeOf(err) != tt.wantCode {
				t.Fatalf("Require = %v, want code %s", err, tt.wantCode)
			}
			if tt.wantCode == apperr.Forbidden && !strings.Contains(err.Error(), string(tt.need)) {
				t.Fatalf("FORBIDDEN message %q does not name the needed scope %s", err, tt.need)
			}
		})
	}
}

func TestCreateAuthenticateRevoke(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)

	plain, k := e.create(t, "  deploy bot ", ScopeWrite)
	rest, ok := strings.CutPrefix(plain, "am_")
	if !ok {
		t.Fatalf("key %q lacks the am_ prefix", plain)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(rest); err != nil || len(raw) != 32 {
		t.Fatalf("key body is not 32 base64url bytes: %v (%d)", err, len(raw))
	}
	if k.Prefix != rest[:8] || k.Name != "deploy bot" || k.Scope != "write" || k.ID == "" {
		t.Fatalf("created key = %+v", k)
	}
	stored, err := e.db.APIKeyByHash(ctx, HashKey(plain))
	if err != nil || stored.ID != k.ID {
		t.Fatalf("stored key: %+v, %v", stored, err)
	}
	if stored.Hash != HashKey(plain) || stored.Hash == plain {
		t.Fatalf("stored hash %q is not the hash of the key", stored.Hash)
	}
	for _, field := range []string{stored.ID, stored.Name, stored.Prefix, stored.Hash, stored.Scope} {
		if strings.Contains(field, plain) {
			t.Fatal("the plaintext key was stored")
		}
	}

	other, _ := e.create(t, "reader", ScopeRead)
	if other == plain {
		t.Fatal("two created keys are equal")
	}

	p, err := e.svc.Authenticate(ctx, plain)
	if err != nil {
		t.Fatal(err)
	}
	if *p != (Principal{KeyID: k.ID, KeyName: "deploy bot", Scope: ScopeWrite}) {
		t.Fatalf("principal = %+v", p)
	}

	for _, bad := range []string{"", "   ", e.secret("am_" + strings.Repeat("A", 43)), plain + "x", strings.Repeat("k", 10000)} {
		_, err := e.svc.Authenticate(ctx, bad)
		if apperr.CodeOf(err) != apperr.Unauthenticated {
			t.Errorf("Authenticate(bad) = %v, want UNAUTHENTICATED", err)
		}
		if b := strings.TrimSpace(bad); b != "" && strings.Contains(err.Error(), b) {
			t.Errorf("error repeats the key: %v", err)
		}
	}

	revoked, err := e.svc.Revoke(ctx, "am_"+k.Prefix)
	if err != nil || revoked.ID != k.ID || revoked.RevokedAt == nil {
		t.Fatalf("Revoke by prefix: %+v, %v", revoked, err)
	}
	if _, err := e.svc.Authenticate(ctx, plain); apperr.CodeOf(err) != apperr.Unauthenticated {
		t.Fatalf("revoked key authenticated: %v", err)
	}
	if _, err := e.svc.Authenticate(ctx, other); err != nil {
		t.Fatalf("unrelated key stopped working: %v", err)
	}
	if _, err := e.svc.Revoke(ctx, "no-such-key"); !errors.Is(err, store.ErrAPIKeyNotFound) {
		t.Fatalf("Revoke(unknown) = %v, want not found", err)
	}

	list, err := e.svc.List(ctx)
	if err != nil || len(list) != 2 || list[0].RevokedAt == nil || list[1].RevokedAt != nil {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if !strings.Contains(e.logs.String(), "created API key") || !strings.Contains(e.logs.String(), "revoked API key") {
		t.Fatalf("create/revoke not logged:\n%s", e.logs.String())
	}
}

func TestCreateValidates(t *testing.T) {
	e := newTestEnv(t)
	tests := []struct {
		name, keyName string
		scope         Scope
		field         string
	}{
		{"empty name", " ", ScopeRead, "name"},
		{"long name", strings.Repeat("n", 101), ScopeRead, "name"},
		{"reserved name", "appmanage_admin_api_key", ScopeAdmin, "name"},
		{"bad scope", "x", "root", "scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := e.svc.Create(context.Background(), tt.keyName, tt.scope)
			ae, ok := apperr.As(err)
			if !ok || ae.Code != apperr.ValidationFailed || ae.Field != tt.field {
				t.Fatalf("err = %v, want VALIDATION_FAILED on %s", err, tt.field)
			}
		})
	}
	if n, _ := e.db.CountAPIKeys(context.Background()); n != 0 {
		t.Fatalf("%d keys stored by invalid creates", n)
	}
}

func TestTouchIsThrottled(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	now := time.Date(2026, 5, 6, 7, 0, 0, 0, time.UTC)
	e.svc.now = func() time.Time { return now }
	plain, _ := e.create(t, "hot", ScopeRead)

	lastUsed := func() time.Time {
		t.Helper()
		k, err := e.db.APIKeyByHash(ctx, HashKey(plain))
		if err != nil || k.LastUsedAt == nil {
			t.Fatalf("last_used_at not set: %+v, %v", k, err)
		}
		return *k.LastUsedAt
	}
	first := now
	if _, err := e.svc.Authenticate(ctx, plain); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(); !got.Equal(first) {
		t.Fatalf("last_used_at = %v, want %v", got, first)
	}
	now = now.Add(59 * time.Second)
	if _, err := e.svc.Authenticate(ctx, plain); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(); !got.Equal(first) {
		t.Fatalf("last_used_at written again within a minute: %v", got)
	}
	now = now.Add(2 * time.Second)
	if _, err := e.svc.Authenticate(ctx, plain); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(); !got.Equal(now) {
		t.Fatalf("last_used_at = %v, want %v after the throttle window", got, now)
	}
}

func TestSeedAdmin(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	envKey := e.secret("operator-chosen-admin-key-0123456789")

	for range 2 {
		if err := e.svc.SeedAdmin(ctx, envKey); err != nil {
			t.Fatal(err)
		}
	}
	keys, _ := e.svc.List(ctx)
	if len(keys) != 1 || keys[0].Name != SeedKeyName || keys[0].Scope != "admin" {
		t.Fatalf("after seeding twice: %+v", keys)
	}
	if strings.HasPrefix(envKey, keys[0].Prefix) {
		t.Fatalf("prefix %q of an operator key gives away its start", keys[0].Prefix)
	}
	p, err := e.svc.Authenticate(ctx, envKey)
	if err != nil || p.Scope != ScopeAdmin || p.KeyName != SeedKeyName {
		t.Fatalf("seeded key: %+v, %v", p, err)
	}

	// Revoked through the API, it comes back on the next start while the
	// variable is still set.
	if _, err := e.svc.Revoke(ctx, keys[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SeedAdmin(ctx, envKey); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, envKey); err != nil {
		t.Fatalf("reseeded key rejected: %v", err)
	}

	// A new value rotates: the old one stops working.
	rotated := e.secret("rotated-admin-key-abcdefghijklmnopqrstuvwxyz")
	if err := e.svc.SeedAdmin(ctx, rotated); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, envKey); apperr.CodeOf(err) != apperr.Unauthenticated {
		t.Fatalf("old seeded key still works after rotation: %v", err)
	}
	if _, err := e.svc.Authenticate(ctx, rotated); err != nil {
		t.Fatal(err)
	}

	if err := e.svc.SeedAdmin(ctx, "  "); apperr.CodeOf(err) != apperr.ValidationFailed {
		t.Fatalf("empty seed: %v", err)
	}
	short := e.secret("s3cret-short")
	if err := e.svc.SeedAdmin(ctx, short); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(e.logs.String(), "is short") {
		t.Fatal("no warning for a short admin key")
	}
}

func TestBootstrap(t *testing.T) {
	ctx := context.Background()

	t.Run("first start writes the key once", func(t *testing.T) {
		e := newTestEnv(t)
		dir := filepath.Join(t.TempDir(), "data")
		path, created, err := e.svc.Bootstrap(ctx, dir)
		if err != nil || !created || path != filepath.Join(dir, "admin.key") {
			t.Fatalf("Bootstrap = %q, %v, %v", path, created, err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("admin.key mode = %v, want 0600", fi.Mode().Perm())
		}
		raw, _ := os.ReadFile(path)
		key := e.secret(strings.TrimSuffix(string(raw), "\n"))
		p, err := e.svc.Authenticate(ctx, key)
		if err != nil || p.Scope != ScopeAdmin {
			t.Fatalf("bootstrapped key: %+v, %v", p, err)
		}

		path2, created2, err := e.svc.Bootstrap(ctx, dir)
		if err != nil || created2 || path2 != "" {
			t.Fatalf("second Bootstrap = %q, %v, %v", path2, created2, err)
		}
		if raw2, _ := os.ReadFile(path); !bytes.Equal(raw, raw2) {
			t.Fatal("admin.key rewritten")
		}
		if n, _ := e.db.CountAPIKeys(ctx); n != 1 {
			t.Fatalf("%d keys after two bootstraps", n)
		}
	})

	t.Run("any key means no bootstrap", func(t *testing.T) {
		e := newTestEnv(t)
		if err := e.svc.SeedAdmin(ctx, e.secret("seeded-admin-key-0123456789abcdef")); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		path, created, err := e.svc.Bootstrap(ctx, dir)
		if err != nil || created || path != "" {
			t.Fatalf("Bootstrap = %q, %v, %v", path, created, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "admin.key")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("admin.key written although a key exists: %v", err)
		}
	})

	t.Run("never overwrites a file", func(t *testing.T) {
		e := newTestEnv(t)
		dir := t.TempDir()
		path := filepath.Join(dir, "admin.key")
		if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, created, err := e.svc.Bootstrap(ctx, dir); err == nil || created {
			t.Fatalf("Bootstrap over an existing file: created=%v err=%v", created, err)
		}
		if raw, _ := os.ReadFile(path); string(raw) != "old\n" {
			t.Fatalf("existing admin.key changed to %q", raw)
		}
		if n, _ := e.db.CountAPIKeys(ctx); n != 0 {
			t.Fatalf("a key was stored although its file could not be written (%d keys)", n)
		}
	})
}
