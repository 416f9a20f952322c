// Package migrations holds the SQLite schema as numbered goose SQL files,
// embedded into the binary and applied at start.
package migrations

import "embed"

// FS holds every *.sql migration.
//
//go:embed *.sql
var FS embed.FS
