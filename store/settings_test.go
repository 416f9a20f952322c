package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/store"
)

func openSettingsTestDB(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "app.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestSettingsRoundTrip(t *testing.T) {
	ctx := context.Background()
	db := openSettingsTestDB(t)

	_, err := db.GetSetting(ctx, "missing")
	if !errors.Is(err, store.ErrSettingNotFound) || apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("missing setting: err = %v", err)
	}
	if err := db.SetSetting(ctx, "  ", "v", false); apperr.CodeOf(err) != apperr.ValidationFailed {
		t.Fatalf("blank key: err = %v", err)
	}

	if err := db.SetSetting(ctx, "site.name", "home", false); err != nil {
		t.Fatal(err)
	}
	if err := db.SetSetting(ctx, "npm.password", "hunter2", true); err != nil {
		t.Fatal(err)
	}
	if err := db.SetSetting(ctx, "empty.secret", "", true); err != nil {
		t.Fatal(err)
	}

	s, err := db.GetSetting(ctx, "npm.password")
	if err != nil || s.Value != "hunter2" || !s.Secret || !s.HasValue || s.UpdatedAt.IsZero() {
		t.Fatalf("GetSetting secret = %+v, %v", s, err)
	}

	// Replace a plain value.
	if err := db.SetSetting(ctx, "site.name", "lab", false); err != nil {
		t.Fatal(err)
	}
	if s, _ := db.GetSetting(ctx, "site.name"); s.Value != "lab" || s.Secret {
		t.Fatalf("after update: %+v", s)
	}

	list, err := db.ListSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		key, value       string
		secret, hasValue bool
	}{
		{"empty.secret", "", true, false},
		{"npm.password", "", true, true},
		{"site.name", "lab", false, true},
	}
	if len(list) != len(want) {
		t.Fatalf("ListSettings = %+v", list)
	}
	for i, w := range want {
		g := list[i]
		if g.Key != w.key || g.Value != w.value || g.Secret != w.secret || g.HasValue != w.hasValue {
			t.Errorf("ListSettings[%d] = %+v, want %+v", i, g, w)
		}
	}
}

func TestSettingSecretIsSticky(t *testing.T) {
	ctx := context.Background()
	db := openSettingsTestDB(t)
	if err := db.SetSetting(ctx, "token", "first", true); err != nil {
		t.Fatal(err)
	}
	// A caller that forgets the flag must not publish the new value.
	if err := db.SetSetting(ctx, "token", "second", false); err != nil {
		t.Fatal(err)
	}
	list, err := db.ListSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Value != "" || !list[0].Secret {
		t.Fatalf("secret leaked through ListSettings: %+v", list)
	}
	if s, _ := db.GetSetting(ctx, "token"); s.Value != "second" {
		t.Fatalf("value not replaced: %+v", s)
	}
}
