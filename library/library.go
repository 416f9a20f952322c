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
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	composedotenv "github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/appmanage/appmanage/library/dotenv"
)

// Problem is a folder (or catalog file) that could not be loaded, and why.
type Problem struct {
	Dir    string
	Reason string
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
	// An app folder is committed to git as it is; anything this large is a
	// mistake (a stray archive or image), not a template.
	maxAppBytes = 16 << 20
)

// Compose project names; the folder name becomes the project name of the
// template and the app name users install by.
var appNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// LoadDir loads the library in the directory at dir.
func LoadDir(dir string, log *slog.Logger) (*Library, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("library: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("library: %s is not a directory", dir)
	}
	return Load(os.DirFS(dir), log)
}

// Load loads every top-level folder of fsys that holds a variables.json or a
// docker-compose.yml as an app. Catalog data comes from catalog.json or
// product_*.json at the root, overridden per app by <app>/catalog.json. It
// fails only when the root cannot be read; bad folders become Problems.
func Load(fsys fs.FS, log *slog.Logger) (*Library, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("library: reading root: %w", err)
	}
	l := &Library{apps: map[string]*App{}, catTitles: map[string]string{}}

	catalog := l.loadRootCatalog(fsys, entries, log)

	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		if !exists(fsys, path.Join(name, variablesFile)) && !exists(fsys, path.Join(name, composeFile)) {
			continue
		}
		app, err := loadApp(fsys, name, catalog[name])
		if err != nil {
			l.problem(log, name, err)
			continue
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
	log.Debug("library parsed", "apps", len(l.list), "problems", len(l.problems))
	return l, nil
}

func (l *Library) problem(log *slog.Logger, dir string, err error) {
	l.problems = append(l.problems, Problem{Dir: dir, Reason: err.Error()})
	log.Warn("library: skipping malformed entry", "dir", dir, "reason", err.Error())
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

// readFolder returns every regular file under dir, keyed by path relative
// to dir. Symlinks are refused: they could point outside the library.
func readFolder(fsys fs.FS, dir string) (map[string][]byte, error) {
	files := map[string][]byte{}
	total := 0
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel := strings.TrimPrefix(p, dir+"/")
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file", rel)
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		if total += len(data); total > maxAppBytes {
			return fmt.Errorf("folder is larger than %d MiB", maxAppBytes>>20)
		}
		files[rel] = data
		return nil
	})
	return files, err
}

func loadApp(fsys fs.FS, name string, catalog *product) (app *App, err error) {
	// A parser panic on a hostile or broken folder must cost that folder, not
	// the process.
	defer func() {
		if r := recover(); r != nil {
			app, err = nil, fmt.Errorf("loading failed: %v", r)
		}
	}()
	if !appNameRe.MatchString(name) {
		return nil, fmt.Errorf("folder name %q is not a valid app name (%s)", name, appNameRe)
	}
	files, err := readFolder(fsys, name)
	if err != nil {
		return nil, err
	}
	for _, req := range []string{variablesFile, composeFile, envFile} {
		if _, ok := files[req]; !ok {
			return nil, fmt.Errorf("missing %s", req)
		}
	}

	var v variables
	if err := json.Unmarshal(files[variablesFile], &v); err != nil {
		return nil, fmt.Errorf("%s: %w", variablesFile, err)
	}
	if v.Name != name {
		return nil, fmt.Errorf("%s: name %q does not match folder %q", variablesFile, v.Name, name)
	}
	app = &App{
		Name:        name,
		Trademark:   cmp.Or(v.Trademark, name),
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
	if len(app.Versions()) == 0 {
		return nil, fmt.Errorf("%s lists no versions", variablesFile)
	}

	env, err := dotenv.Parse(files[envFile])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envFile, err)
	}
	app.Env = env
	if err := app.readEnv(); err != nil {
		return nil, fmt.Errorf("%s: %w", envFile, err)
	}
	if err := checkCompose(name, files); err != nil {
		return nil, fmt.Errorf("%s: %w", composeFile, err)
	}

	for _, p := range []string{"src/nginx_proxy.conf", "src/nginx-proxy.conf"} {
		if b, ok := files[p]; ok {
			app.ProxyConf, app.ProxyConfPath = string(b), p
			break
		}
	}

	if b, ok := files[appCatalog]; ok {
		p, err := parseAppCatalog(name, b)
		if err != nil {
			return nil, err
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
	return app, nil
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

// checkCompose loads the compose file with compose-go the way Compose would
// in a stack: project name = app name, variables from the folder's .env and
// nothing from our own process environment. Paths are not resolved and
// env_file/label_file are not read from disk (the folder may be embedded);
// instead required env_files must exist in the folder.
func checkCompose(name string, files map[string][]byte) error {
	envMap, err := composedotenv.ParseWithLookup(bytes.NewReader(files[envFile]), func(string) (string, bool) { return "", false })
	if err != nil {
		return fmt.Errorf("compose cannot read .env: %w", err)
	}
	project, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  "/nonexistent/library/" + name,
		ConfigFiles: []types.ConfigFile{{Filename: name + "/" + composeFile, Content: files[composeFile]}},
		Environment: envMap,
	}, func(o *loader.Options) {
		o.SetProjectName(name, true)
		o.ResolvePaths = false
		o.SkipResolveEnvironment = true
		o.SkipResolveLabels = true
		// Unset variables are common in templates (they default to ""); don't
		// let compose-go log each one on the global logger.
		o.Interpolate.Substitute = func(s string, m template.Mapping) (string, error) {
			return template.SubstituteWithOptions(s, m, template.WithoutLogging)
		}
	})
	if err != nil {
		return err
	}
	if len(project.Services) == 0 {
		return errors.New("no services")
	}
	for _, svc := range project.Services {
		for _, ef := range svc.EnvFiles {
			p := path.Clean(strings.TrimPrefix(ef.Path, "./"))
			if _, ok := files[p]; !ok && bool(ef.Required) {
				return fmt.Errorf("service %s: env_file %s is not in the app folder", svc.Name, ef.Path)
			}
		}
	}
	return nil
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
