package auth

import (
	"time"

	"github.com/appmanage/appmanage/store"
)

// Key is an API key as auth hands it out: never its plaintext, nor its
// hash (DESIGN.md §1: the database's shape stays below the domain).
type Key struct {
	ID         string
	Name       string
	Prefix     string // the display prefix, without "am_"
	Scope      Scope
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// Revoked reports whether the key has been revoked.
func (k Key) Revoked() bool { return k.RevokedAt != nil }

func keyOf(k store.APIKey) Key {
	return Key{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Scope: Scope(k.Scope), CreatedAt: k.CreatedAt,
		LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt}
}
