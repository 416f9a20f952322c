// Package library loads the app template library: one folder per app in
// Websoft9's docker-library format (.env, docker-compose.yml, variables.json,
// src/, README...), plus optional product-catalog JSON for display data. It
// also embeds a default library of our own templates.
//
// Loading never half-loads an app: a folder that is malformed in any way is
// left out and reported as a Problem, and the rest of the library loads.
package library

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	composedotenv "github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/go-git/go-git/v5/plumbing/format/gitignore"

	"github.com/appmanage/appmanage/library/dotenv"
)

// Problem is a folder (or catalog file) that could not be loaded, and why;
// or, with Loaded set, one that was loaded with a warning (a variables.json
// name that differs from its folder, for instance).
type Problem struct {
	Dir    string
	Reason string
	Loaded bool
}

// Library is an immutable set of apps; safe for concurrent use.
type Library struct {
	apps      map[string]*App
	list      []*App
	problems  []Problem
	catTitles map[string]string
}

const (
	composeFile   = "docker-compose.yml"
	envFile       = ".env"
	variablesFile = "variables.json"
	appCatalog    = "catalog.json"
	// DefaultMaxAppBytes bounds what an app folder may commit: an app folder
	// is committed to git as it is, and a folder larger than this is likely a
	// mistake (a stray archive or image) rather than a template.
	DefaultMaxAppBytes int64 = 64 << 20
)

// Option tunes a load.
type Option func(*options)

type options struct {
	maxAppBytes int64
	catalogFile string // OS path of a product_<locale>.json
}

// WithMaxAppBytes sets how many bytes of committed files an app folder may
// hold (DefaultMaxAppBytes when n <= 0).
func WithMaxAppBytes(n int64) Option {
	return func(o *options) {
		if n > 0 {
			o.maxAppBytes = n
		}
	}
}

// WithCatalogFile names the product catalog (product_<locale>.json) to use
// instead of looking for one under the library's dist/ folder. A
// catalog_<locale>.json beside it gives category titles. "" = look.
func WithCatalogFile(path string) Option {
	return func(o *options) { o.catalogFile = path }
}

func buildOptions(opts []Option) options {
	o := options{maxAppBytes: DefaultMaxAppBytes}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Compose project names; the folder name becomes the project name of the
// template and the app name users install by.
var appNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// LoadDir loads the library in the directory at dir: the folder holding
// the app folders (in Websoft9's docker-library, its apps/ folder; given
// the repository root, LoadDir uses apps/ when the root holds no app).
//
// The product catalog comes from WithCatalogFile, else from the first of
// <dir>/dist and <dir>/../dist that holds a product_<locale>.json (Websoft9
// publishes it under the repository's dist/ folder, beside apps/), else from
// catalog.json or product_*.json at the root. It fails when dir or an
// explicit catalog file cannot be read.
func LoadDir(dir string, log *slog.Logger, opts ...Option) (*Library, error) {
	o := buildOptions(opts)
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("library: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("library: %s is not a directory", dir)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	root := dir
	if !hasAppFolders(os.DirFS(dir)) && hasAppFolders(os.DirFS(filepath.Join(dir, "apps"))) {
		root = filepath.Join(dir, "apps")
		log.Info("library: using the apps folder of the given directory", "dir", root)
	}
	var cat *catalogSource
	if o.catalogFile != "" {
		cat, err = fileCatalog(o.catalogFile)
		if err != nil {
			return nil, fmt.Errorf("library: %w", err)
		}
	} else {
		for _, d := range []string{filepath.Join(root, "dist"), filepath.Join(filepath.Dir(root), "dist")} {
			if cat = findDistCatalog(os.DirFS(d), d); cat != nil {
				break
			}
		}
	}
	return load(os.DirFS(root), log, o, cat)
}

// Load loads every top-level folder of fsys that holds a variables.json or a
// docker-compose.yml as an app. Catalog data comes from WithCatalogFile,
// else from a product_<locale>.json under dist/ in fsys, else from
// catalog.json or product_*.json at the root; per app, <app>/catalog.json
// overrides it. It fails only when the root (or an explicit catalog file)
// cannot be read; bad folders become Problems.
func Load(fsys fs.FS, log *slog.Logger, opts ...Option) (*Library, error) {
	o := buildOptions(opts)
	var cat *catalogSource
	if o.catalogFile != "" {
		var err error
		if cat, err = fileCatalog(o.catalogFile); err != nil {
			return nil, fmt.Errorf("library: %w", err)
		}
	} else if sub, err := fs.Sub(fsys, "dist"); err == nil {
		cat = findDistCatalog(sub, "dist")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return load(fsys, log, o, cat)
}

// isAppFolder reports whether the top-level entry e of fsys is an app folder.
func isAppFolder(fsys fs.FS, e fs.DirEntry) bool {
	name := e.Name()
	if !e.IsDir() || strings.HasPrefix(name, ".") {
		return false
	}
	return exists(fsys, path.Join(name, variablesFile)) || exists(fsys, path.Join(name, composeFile))
}

func hasAppFolders(fsys fs.FS) bool {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return false
	}
	return slices.ContainsFunc(entries, func(e fs.DirEntry) bool { return isAppFolder(fsys, e) })
}

func load(fsys fs.FS, log *slog.Logger, o options, cat *catalogSource) (*Library, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("library: reading root: %w", err)
	}
	l := &Library{apps: map[string]*App{}, catTitles: map[string]string{}}

	catalog := l.loadRootCatalog(fsys, entries, log)
	if cat != nil {
		log.Info("library: product catalog", "file", cat.file, "products", len(cat.products), "categories_file", cat.treeFile)
		// An explicit catalog file wins over root files, root files over
		// the one found under dist/; each fills what the other lacks.
		for k, p := range catalog {
			if _, ok := cat.products[k]; !ok || !cat.explicit {
				cat.products[k] = p
			}
		}
		catalog = cat.products
		for _, p := range cat.problems {
			l.problem(log, p.Dir, errors.New(p.Reason))
		}
	}

	for _, e := range entries {
		if !isAppFolder(fsys, e) {
			continue
		}
		name := e.Name()
		app, warns, err := loadApp(fsys, name, catalog, o)
		if err != nil {
			l.problem(log, name, err)
			continue
		}
		for _, w := range warns.problems {
			l.problems = append(l.problems, Problem{Dir: name, Reason: w, Loaded: true})
			log.Warn("library: app folder loaded with a warning", "dir", name, "warning", w)
		}
		for _, w := range warns.compose {
			log.Warn("library: compose warning", "dir", name, "warning", w)
		}
		l.apps[name] = app
		l.list = append(l.list, app)
	}
	slices.SortFunc(l.list, func(a, b *App) int { return cmp.Compare(a.Name, b.Name) })
	for _, a := range l.list {
		for k, t := range a.catTitles {
			if _, seen := l.catTitles[k]; !seen && t != "" {
				l.catTitles[k] = t
			}
		}
	}
	if cat != nil {
		// The category tree of the catalog's locale names categories too.
		maps.Copy(l.catTitles, cat.titles)
	}
	log.Debug("library parsed", "apps", len(l.list), "problems", len(l.problems))
	return l, nil
}

// problem records a folder or file left out; it is logged here, once.
func (l *Library) problem(log *slog.Logger, dir string, err error) {
	l.problems = append(l.problems, Problem{Dir: dir, Reason: err.Error()})
	log.Warn("library: left out", "dir", dir, "reason", err.Error())
}

// loadRootCatalog reads catalog.json and product_*.json at the root, in that
// order of precedence (product_en.json before other locales).
func (l *Library) loadRootCatalog(fsys fs.FS, entries []fs.DirEntry, log *slog.Logger) map[string]*product {
	var names []string
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() && (n == appCatalog || strings.HasPrefix(n, "product_") && strings.HasSuffix(n, ".json")) {
			names = append(names, n)
		}
	}
	rank := func(n string) int {
		switch n {
		case appCatalog:
			return 0
		case "product_en.json":
			return 1
		}
		return 2
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a, b)) })

	out := map[string]*product{}
	for _, n := range names {
		data, err := fs.ReadFile(fsys, n)
		if err != nil {
			l.problem(log, n, err)
			continue
		}
		ps, err := parseProducts(data)
		if err != nil {
			l.problem(log, n, err)
			continue
		}
		for i := range ps {
			if k := ps[i].Key; k != "" && out[k] == nil {
				out[k] = &ps[i]
			}
		}
	}
	return out
}

func exists(fsys fs.FS, p string) bool {
	_, err := fs.Stat(fsys, p)
	return err == nil
}

// variables mirrors variables.json. Upstream files are hand-written, so
// versions and requirements may be numbers as well as strings.
type variables struct {
	Name        string `json:"name"`
	Trademark   string `json:"trademark"`
	Release     bool   `json:"release"`
	ForkURL     string `json:"fork_url"`
	VersionFrom string `json:"version_from"`
	Edition     []struct {
		Dist    string      `json:"dist"`
		Version flexStrings `json:"version"`
	} `json:"edition"`
	Requirements struct {
		CPU    flexString `json:"cpu"`
		Memory flexString `json:"memory"`
		Disk   flexString `json:"disk"`
		URL    string     `json:"url"`
	} `json:"requirements"`
}

type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a string or a number, got %s", b)
	}
	*f = flexString(n.String())
	return nil
}

type flexStrings []string

func (f *flexStrings) UnmarshalJSON(b []byte) error {
	var one flexString
	if err := json.Unmarshal(b, &one); err == nil {
		if one != "" {
			*f = flexStrings{string(one)}
		}
		return nil
	}
	var many []flexString
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("want a list of versions, got %s", b)
	}
	for _, v := range many {
		*f = append(*f, string(v))
	}
	return nil
}

// readFolder returns the files of dir that an install commits, keyed by
// path relative to dir: every regular file except what git would not
// commit (a .git folder, and what the folder's .gitignore files exclude:
// Websoft9's installer commits a copy of the folder with `git add -A`).
// Symlinks are refused: they could point outside the library. The files
// committed may hold at most max bytes in all.
func readFolder(fsys fs.FS, dir string, max int64) (map[string][]byte, error) {
	files := map[string][]byte{}
	var total int64
	var patterns []gitignore.Pattern
	var matcher gitignore.Matcher
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, dir), "/")
		var parts []string
		if rel != "" {
			parts = strings.Split(rel, "/")
		}
		if d.IsDir() {
			if d.Name() == ".git" && rel != "" {
				return fs.SkipDir
			}
			if matcher != nil && rel != "" && matcher.Match(parts, true) {
				return fs.SkipDir
			}
			// A folder's .gitignore applies below it; WalkDir visits a
			// folder before its entries, so read it now.
			if b, err := fs.ReadFile(fsys, path.Join(p, ".gitignore")); err == nil {
				for line := range strings.SplitSeq(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n") {
					if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
						patterns = append(patterns, gitignore.ParsePattern(line, parts))
					}
				}
				matcher = gitignore.NewMatcher(patterns)
			}
			return nil
		}
		if d.Name() == ".git" || matcher != nil && matcher.Match(parts, false) {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file", rel)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if total += info.Size(); total > max {
			return fmt.Errorf("folder commits more than %s (the limit; see --library-max-app-size)", sizeText(max))
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		// The file may have grown since Info.
		total += int64(len(data)) - info.Size()
		if total > max {
			return fmt.Errorf("folder commits more than %s (the limit; see --library-max-app-size)", sizeText(max))
		}
		files[rel] = data
		return nil
	})
	return files, err
}

func sizeText(n int64) string {
	if n%(1<<20) == 0 {
		return strconv.FormatInt(n>>20, 10) + " MiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// loadWarnings are what a loaded app folder reported: problems that did not
// keep it out (listed by Problems) and compose-go's warnings (logged).
type loadWarnings struct {
	problems []string
	compose  []string
}

func loadApp(fsys fs.FS, name string, products map[string]*product, o options) (app *App, warns loadWarnings, err error) {
	// A parser panic on a hostile or broken folder must cost that folder, not
	// the process.
	defer func() {
		if r := recover(); r != nil {
			app, err = nil, fmt.Errorf("loading failed: %v", r)
		}
	}()
	if !appNameRe.MatchString(name) {
		return nil, warns, fmt.Errorf("folder name %q is not a valid app name (%s)", name, appNameRe)
	}
	files, err := readFolder(fsys, name, o.maxAppBytes)
	if err != nil {
		return nil, warns, err
	}
	for _, req := range []string{variablesFile, envFile} {
		if _, ok := files[req]; !ok {
			return nil, warns, fmt.Errorf("missing %s", req)
		}
	}

	var v variables
	if err := json.Unmarshal(files[variablesFile], &v); err != nil {
		return nil, warns, fmt.Errorf("%s: %w", variablesFile, err)
	}
	// Websoft9's installer keys apps by folder: so do we, and say when the
	// name in variables.json disagrees.
	switch trimmed := strings.TrimSpace(v.Name); {
	case trimmed == name && v.Name != name:
		warns.problems = append(warns.problems, fmt.Sprintf("%s: name %q has surrounding spaces; loaded as %q", variablesFile, v.Name, name))
	case trimmed != name:
		warns.problems = append(warns.problems, fmt.Sprintf("%s: name %q differs from the folder; loaded as %q (apps are keyed by folder)", variablesFile, v.Name, name))
	}
	app = &App{
		Name:        name,
		Trademark:   cmp.Or(strings.TrimSpace(v.Trademark), name),
		Release:     v.Release,
		ForkURL:     v.ForkURL,
		VersionFrom: v.VersionFrom,
		Requirements: Requirements{
			CPU: string(v.Requirements.CPU), Memory: string(v.Requirements.Memory),
			Disk: string(v.Requirements.Disk), URL: v.Requirements.URL,
		},
		files: files,
	}
	for _, e := range v.Edition {
		app.Editions = append(app.Editions, Edition{Dist: e.Dist, Versions: []string(e.Version)})
	}

	env, err := dotenv.Parse(files[envFile])
	if err != nil {
		return nil, warns, fmt.Errorf("%s: %w", envFile, err)
	}
	app.Env = env
	if err := app.readEnv(); err != nil {
		return nil, warns, fmt.Errorf("%s: %w", envFile, err)
	}
	if len(app.Versions()) == 0 {
		return nil, warns, fmt.Errorf("%s lists no versions and %s has no W9_VERSION", variablesFile, envFile)
	}
	if err := app.loadMaterial(); err != nil {
		return nil, warns, err
	}
	if len(app.MaterialKinds()) == 0 {
		return nil, warns, fmt.Errorf("missing %s (or Kubernetes manifests in %s/, or a Helm chart)", composeFile, KubernetesDir)
	}
	if app.HasCompose() {
		composeWarns, err := checkCompose(app)
		if err != nil {
			return nil, warns, fmt.Errorf("%s: %w", composeFile, err)
		}
		warns.compose = composeWarns
	}

	for _, p := range []string{"src/nginx_proxy.conf", "src/nginx-proxy.conf"} {
		if b, ok := files[p]; ok {
			app.ProxyConf, app.ProxyConfPath = string(b), p
			break
		}
	}

	// The catalog is keyed by folder too; a product under the
	// variables.json name will do when none has the folder's.
	catalog := products[name]
	if catalog == nil {
		catalog = products[strings.TrimSpace(v.Name)]
	}
	if b, ok := files[appCatalog]; ok {
		p, err := parseAppCatalog(name, b)
		if err != nil {
			return nil, warns, err
		}
		catalog = p
	}
	if catalog != nil {
		app.Summary, app.Overview, app.Description = catalog.Summary, catalog.Overview, catalog.Description
		app.Logo, app.WebsiteURL = catalog.logoURL(), catalog.WebsiteURL
		app.Categories, app.catTitles = catalog.categories()
		if v.Trademark == "" && catalog.Trademark != "" {
			app.Trademark = catalog.Trademark
		}
	}
	if app.Summary == "" {
		app.Summary = readmeSummary(files["README.md"])
	}
	return app, warns, nil
}

// readEnv fills the fields derived from .env.
func (a *App) readEnv() error {
	get := func(k string) (string, bool) {
		if !a.Env.Has(k) {
			return "", false
		}
		v, err := a.Env.Expand(k)
		if err != nil {
			v, _ = a.Env.Get(k)
		}
		return v, true
	}
	a.DefaultVersion, _ = get("W9_VERSION")
	for k, dst := range map[string]*int{"W9_HTTP_PORT": &a.HTTPPort, "W9_HTTPS_PORT": &a.HTTPSPort} {
		s, ok := get(k)
		if !ok || s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%s=%q is not a port number", k, s)
		}
		*dst = n
	}
	a.Web = a.Env.Has("W9_URL")
	if s, ok := get("W9_URL_REPLACE"); ok {
		// apphub only tests for the key; honour an explicit "false" anyway.
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "false", "0", "no", "off":
		default:
			a.URLReplace = true
		}
	}
	for _, k := range a.Env.Keys() {
		// apphub's rule for install-form settings: W9_ prefix, _SET suffix.
		if strings.HasPrefix(k, "W9_") && strings.HasSuffix(k, "_SET") {
			d, _ := get(k)
			a.Settings = append(a.Settings, Setting{Key: k, Default: d, Port: strings.Contains(k, "PORT")})
		}
	}
	return nil
}

// Placeholders for values an install sets that the library cannot know.
const (
	placeholderURL      = "app.example.com"
	placeholderPassword = "Placeholder-Pw-2026"
	placeholderPortBase = 49152
)

// PlaceholderID returns an app id an install of the app could have (an id
// is 2-20 lower-case letters and digits, starting with a letter), derived
// from the app name.
func PlaceholderID(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' && b.Len() > 0 {
			b.WriteRune(r)
		}
	}
	id := b.String()
	if len(id) > 20 {
		id = id[:20]
	}
	if len(id) < 2 {
		id = "app" + id
	}
	return id
}

// InstallEnv returns the app's .env as an install would write it for
// appID, with placeholders where the install decides at run time: the keys
// apps.render sets (W9_ID, W9_APP_NAME, W9_VERSION = the default version,
// W9_DIST of its edition, fresh W9_POWER_PASSWORD / W9_RCODE when the .env
// has them, W9_URL when it has it) and a port for every port setting the
// .env leaves empty. Keep it in step with apps/prepare.go.
func (a *App) InstallEnv(appID string) ([]byte, error) {
	env := a.Env.Clone()
	set := []struct{ k, v string }{{"W9_ID", appID}, {"W9_APP_NAME", a.Name}, {"W9_VERSION", a.DefaultVersion}}
	if d := a.EditionOf(a.DefaultVersion); d != "" {
		set = append(set, struct{ k, v string }{"W9_DIST", d})
	}
	for _, k := range []string{"W9_POWER_PASSWORD", "W9_RCODE"} {
		if env.Has(k) {
			set = append(set, struct{ k, v string }{k, placeholderPassword})
		}
	}
	if env.Has("W9_URL") {
		set = append(set, struct{ k, v string }{"W9_URL", placeholderURL})
	}
	for i, st := range a.Settings {
		if st.Port && strings.Trim(st.Default, `'" `) == "" {
			set = append(set, struct{ k, v string }{st.Key, strconv.Itoa(placeholderPortBase + i)})
		}
	}
	for _, kv := range set {
		if err := env.Set(kv.k, kv.v); err != nil {
			return nil, fmt.Errorf("set %s: %w", kv.k, err)
		}
	}
	return env.Bytes(), nil
}

// ComposeProject loads the app's compose file with compose-go the way
// Compose does in a stack: project name = appID, variables from envFile
// (the .env as an install writes it) and nothing from our own process
// environment. Paths are not resolved and env_file/label_file are not read
// from disk (the folder may be embedded); required env_files must exist in
// the folder. compose-go's warnings are returned, not logged.
func (a *App) ComposeProject(ctx context.Context, appID string, envFile []byte) (*types.Project, []string, error) {
	envMap, err := composedotenv.ParseWithLookup(bytes.NewReader(envFile), func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, nil, fmt.Errorf("compose cannot read .env: %w", err)
	}
	if err := CheckComposeYAML(a.files[composeFile]); err != nil {
		return nil, nil, err
	}
	var project *types.Project
	warns, err := captureCompose(func() error {
		var err error
		project, err = loader.LoadWithContext(ctx, types.ConfigDetails{
			WorkingDir:  "/nonexistent/library/" + a.Name,
			ConfigFiles: []types.ConfigFile{{Filename: a.Name + "/" + composeFile, Content: a.files[composeFile]}},
			Environment: envMap,
		}, func(o *loader.Options) {
			o.SetProjectName(appID, true)
			o.ResolvePaths = false
			o.SkipResolveEnvironment = true
			o.SkipResolveLabels = true
			// Unset variables are common in templates (they default to ""):
			// not worth a warning each.
			o.Interpolate.Substitute = func(s string, m template.Mapping) (string, error) {
				return template.SubstituteWithOptions(s, m, template.WithoutLogging)
			}
		})
		return err
	})
	if err != nil {
		return nil, warns, err
	}
	if len(project.Services) == 0 {
		return nil, warns, errors.New("no services")
	}
	for _, svc := range project.Services {
		for _, ef := range svc.EnvFiles {
			p := path.Clean(strings.TrimPrefix(ef.Path, "./"))
			if _, ok := a.files[p]; !ok && bool(ef.Required) {
				return nil, warns, fmt.Errorf("service %s: env_file %s is not in the app folder", svc.Name, ef.Path)
			}
		}
	}
	return project, warns, nil
}

// checkCompose validates the compose file with the values an install would
// set (a template may leave W9_ID empty: the install fills it in), and
// returns compose-go's warnings.
func checkCompose(a *App) ([]string, error) {
	id := PlaceholderID(a.Name)
	env, err := a.InstallEnv(id)
	if err != nil {
		return nil, err
	}
	_, warns, err := a.ComposeProject(context.Background(), id, env)
	return warns, err
}

// Get returns the app called name.
func (l *Library) Get(name string) (*App, bool) {
	a, ok := l.apps[name]
	return a, ok
}

// List returns all apps sorted by name.
func (l *Library) List() []*App { return slices.Clone(l.list) }

// Problems returns the folders and catalog files that could not be loaded.
func (l *Library) Problems() []Problem { return slices.Clone(l.problems) }

// Search returns the apps whose name, trademark or summary contains search
// (case-insensitive) and, when category is set, that belong to it (by key or
// title, case-insensitive). Empty arguments match everything.
func (l *Library) Search(search, category string) []*App {
	q := strings.ToLower(strings.TrimSpace(search))
	category = strings.TrimSpace(category)
	var out []*App
	for _, a := range l.list {
		if q != "" && !strings.Contains(strings.ToLower(a.Name), q) &&
			!strings.Contains(strings.ToLower(a.Trademark), q) &&
			!strings.Contains(strings.ToLower(a.Summary), q) {
			continue
		}
		if category != "" && !slices.ContainsFunc(a.Categories, func(c string) bool {
			return strings.EqualFold(c, category) || strings.EqualFold(l.catTitles[c], category)
		}) {
			continue
		}
		out = append(out, a)
	}
	return out
}

// Categories returns the category keys used by any app, sorted.
func (l *Library) Categories() []string {
	var out []string
	for _, a := range l.list {
		for _, c := range a.Categories {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	slices.Sort(out)
	return out
}

// CategoryTitle returns the display title of a category key from the catalog
// data, or "" when unknown.
func (l *Library) CategoryTitle(key string) string { return l.catTitles[key] }

// VersionsOf returns the versions a variables.json lists: every edition's,
// in order, each once. It reads the file as the loader does (versions may
// be strings or numbers, one or a list), so an app's repository copy is
// understood like the library's own.
func VersionsOf(variablesJSON []byte) ([]string, error) {
	var v variables
	if err := json.Unmarshal(variablesJSON, &v); err != nil {
		return nil, fmt.Errorf("variables.json: %w", err)
	}
	var out []string
	for _, e := range v.Edition {
		for _, ver := range e.Version {
			if ver = strings.TrimSpace(ver); ver != "" && !slices.Contains(out, ver) {
				out = append(out, ver)
			}
		}
	}
	return out, nil
}
