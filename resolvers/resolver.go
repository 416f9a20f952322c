// Package resolvers holds the thin GraphQL resolvers: each checks auth,
// validates and converts input, calls one domain method and maps the result.
// No upstream HTTP and no SQL happen here.
package resolvers

import (
	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/apps"
	"github.com/appmanage/appmanage/audit"
	"github.com/appmanage/appmanage/auth"
	"github.com/appmanage/appmanage/health"
	"github.com/appmanage/appmanage/library"
	"github.com/appmanage/appmanage/ops"
)

// Resolver carries the dependencies every resolver needs; it is built once
// at start-up.
type Resolver struct {
	Domain  *apps.Service
	Ops     *ops.Engine
	Library *library.Library
	Checker *health.Checker
	Auth    *auth.Service
	Audit   *audit.Log // nil: no audit log
	Version string
}

// notBuilt names a capability that a later issue builds.
func notBuilt(what string) error { return apperr.NotImplementedYet(what) }
