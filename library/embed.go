package library

import (
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
)

// The default library: templates written for this project. `all:` keeps
// dotfiles such as .env, which plain go:embed patterns skip.
//
//go:embed all:default
var defaultFS embed.FS

// DefaultFS returns the embedded default library as a file system.
func DefaultFS() fs.FS {
	sub, err := fs.Sub(defaultFS, "default")
	if err != nil {
		panic(fmt.Sprintf("library: embedded default library: %v", err)) // cannot happen: the directory is embedded
	}
	return sub
}

// Default loads the embedded default library.
func Default(log *slog.Logger) (*Library, error) {
	return Load(DefaultFS(), log)
}
