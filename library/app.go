package library

import (
	"maps"
	"slices"

	"github.com/appmanage/appmanage/library/dotenv"
)

// Edition is one distribution of an app (variables.json "edition").
type Edition struct {
	Dist     string
	Versions []string
}

// Requirements are the minimal resources variables.json recommends, as
// written there (cores, GB, GB) plus a link to the vendor's page.
type Requirements struct {
	CPU, Memory, Disk, URL string
}

// Setting is a user-settable .env variable (W9_*_SET) shown in the install
// form. Port settings are host ports the app will publish.
type Setting struct {
	Key     string
	Default string
	Port    bool
}

// App is one template folder of the library. Apps are shared by every
// caller of a Library and must be treated as read-only: edit a copy of the
// .env (Env.Clone) and of the files (Files returns copies).
type App struct {
	Name        string // folder name (variables.json "name" should match it; the folder wins)
	Trademark   string // display name
	Release     bool
	ForkURL     string
	VersionFrom string
	Editions    []Edition

	Requirements Requirements

	// From catalog JSON when present (else Summary from the README).
	Summary, Overview, Description, Logo, WebsiteURL string
	Categories                                       []string

	DefaultVersion string // W9_VERSION; always one of Versions()
	HTTPPort       int    // W9_HTTP_PORT: container port, 0 when absent
	HTTPSPort      int    // W9_HTTPS_PORT: container port, 0 when absent
	Web            bool   // .env defines W9_URL
	URLReplace     bool   // .env defines W9_URL_REPLACE (not set to false): the app stores its URL
	Settings       []Setting

	// Extra nginx config for the proxy host (NPM advanced_config), from
	// src/nginx_proxy.conf, else src/nginx-proxy.conf; "" when neither exists.
	ProxyConf     string
	ProxyConfPath string

	// Manifests are the Kubernetes manifest files (kubernetes/*.yaml), in
	// path order; Helm is the Helm chart, nil when none (material.go).
	Manifests []string
	Helm      *HelmMaterial

	// Env is the parsed .env. Shared: call Env.Clone() before editing.
	Env *dotenv.File

	files     map[string][]byte // slash-separated paths relative to the app folder
	catTitles map[string]string // category key -> title, from the catalog
}

// HasVersion reports whether v is one of Versions: the default version
// (.env W9_VERSION) or a version listed in any edition.
func (a *App) HasVersion(v string) bool {
	if v == "" {
		return false
	}
	return v == a.DefaultVersion || slices.ContainsFunc(a.Editions, func(e Edition) bool { return slices.Contains(e.Versions, v) })
}

// Versions returns the versions an install may ask for: the default version
// first (the .env's W9_VERSION, which Websoft9's own installer uses even
// when variables.json does not list it), then every version the editions
// list, in order, each once (editions often share "latest").
func (a *App) Versions() []string {
	var out []string
	if a.DefaultVersion != "" {
		out = append(out, a.DefaultVersion)
	}
	for _, e := range a.Editions {
		for _, v := range e.Versions {
			if v != "" && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	return out
}

// EditionOf returns the dist of the first edition listing v, or "" when no
// edition lists it (a default version only the .env names).
func (a *App) EditionOf(v string) string {
	for _, e := range a.Editions {
		if slices.Contains(e.Versions, v) {
			return e.Dist
		}
	}
	return ""
}

// Files returns a copy of every file of the app folder (dotfiles such as
// .env included), keyed by slash-separated path relative to the folder.
func (a *App) Files() map[string][]byte {
	out := make(map[string][]byte, len(a.files))
	for p, b := range a.files {
		out[p] = slices.Clone(b)
	}
	return out
}

// File returns a copy of one file of the app folder.
func (a *App) File(path string) ([]byte, bool) {
	b, ok := a.files[path]
	return slices.Clone(b), ok
}

// Walk calls fn for every file of the app folder in path order, stopping at
// the first error. data is a copy the callee may keep.
func (a *App) Walk(fn func(path string, data []byte) error) error {
	for _, p := range slices.Sorted(maps.Keys(a.files)) {
		if err := fn(p, slices.Clone(a.files[p])); err != nil {
			return err
		}
	}
	return nil
}
