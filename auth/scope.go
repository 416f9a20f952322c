// Package auth authenticates API clients by API key and carries the caller
// (a Principal) through the request context. Keys are stored only as hashes
// (see HashKey); scopes are ordered read < write < admin.
package auth

import (
	"context"
	"strings"

	"github.com/appmanage/appmanage/apperr"
)

// Scope is what a key may do. Each scope includes the ones below it.
type Scope string

const (
	ScopeRead  Scope = "read"
	ScopeWrite Scope = "write"
	ScopeAdmin Scope = "admin"
)

func (s Scope) rank() int {
	switch s {
	case ScopeRead:
		return 1
	case ScopeWrite:
		return 2
	case ScopeAdmin:
		return 3
	}
	return 0
}

// Valid reports whether s is one of the known scopes.
func (s Scope) Valid() bool { return s.rank() > 0 }

// Allows reports whether a key with scope s may do something that needs
// need. Unknown scopes allow nothing and are allowed by nothing.
func (s Scope) Allows(need Scope) bool {
	return s.Valid() && need.Valid() && s.rank() >= need.rank()
}

// ParseScope reads a scope name, ignoring case and surrounding space.
func ParseScope(s string) (Scope, error) {
	sc := Scope(strings.ToLower(strings.TrimSpace(s)))
	if !sc.Valid() {
		return "", apperr.Invalid("scope", "unknown scope %q: want read, write or admin", s)
	}
	return sc, nil
}

// Principal is the authenticated caller.
type Principal struct {
	KeyID   string
	KeyName string
	Scope   Scope
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal in ctx, if any.
func FromContext(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}

// Require checks that ctx carries a principal whose scope covers need:
// UNAUTHENTICATED when there is none, FORBIDDEN when its scope is too low.
// Every resolver calls it, since websocket requests reach the GraphQL
// handler before they are authenticated.
func Require(ctx context.Context, need Scope) error {
	p, ok := FromContext(ctx)
	if !ok {
		return apperr.New(apperr.Unauthenticated, "authentication required: send an API key")
	}
	if !p.Scope.Allows(need) {
		return apperr.New(apperr.Forbidden, "this needs an API key with the %s scope; this key has %s", need, p.Scope)
	}
	return nil
}
