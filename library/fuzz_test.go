package library

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	composedotenv "github.com/compose-spec/compose-go/v2/dotenv"
)

// A fuzzed folder is written as a small archive: lines "-- path --" start a
// file; what follows, up to the next such line, is its content.
func parseArchive(data []byte) fstest.MapFS {
	fsys := fstest.MapFS{}
	var name string
	var body []byte
	flush := func() {
		if name != "" && fs.ValidPath(name) && name != "." {
			fsys[name] = &fstest.MapFile{Data: body, Mode: 0o644}
		}
	}
	for line := range bytes.Lines(data) {
		t := bytes.TrimRight(line, "\n")
		if bytes.HasPrefix(t, []byte("-- ")) && bytes.HasSuffix(t, []byte(" --")) && len(t) >= 6 {
			flush()
			name, body = string(t[3:len(t)-3]), nil
			continue
		}
		body = append(body, line...)
	}
	flush()
	// A path cannot be both a file and a folder.
	for p := range fsys {
		for d := p; ; {
			i := strings.LastIndexByte(d, '/')
			if i < 0 {
				break
			}
			d = d[:i]
			delete(fsys, d)
		}
	}
	return fsys
}

func formatTree(files map[string][]byte) []byte {
	var b bytes.Buffer
	for _, p := range slices.Sorted(maps.Keys(files)) {
		b.WriteString("-- " + p + " --\n")
		b.Write(files[p])
		if n := len(files[p]); n > 0 && files[p][n-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// seedTrees are the embedded apps and the upstream samples, as archives.
func seedTrees(f *testing.F) [][]byte {
	var out [][]byte
	root := DefaultFS()
	entries, err := fs.ReadDir(root, ".")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		files := map[string][]byte{}
		if err := fs.WalkDir(root, e.Name(), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(root, p)
			files[p] = b
			return err
		}); err != nil {
			f.Fatal(err)
		}
		out = append(out, formatTree(files))
	}
	return out
}

// FuzzLoadFolder loads an arbitrary library: the root is always readable,
// so Load never fails; every app folder either loads whole (and is then
// usable: its install .env reads back in Compose, its files are what the
// folder commits) or is listed as a problem. Never both, never neither.
func FuzzLoadFolder(f *testing.F) {
	for _, t := range seedTrees(f) {
		f.Add(t)
	}
	f.Add([]byte("-- app1/.env --\nW9_VERSION=1\n-- app1/variables.json --\n{}\n-- app1/docker-compose.yml --\nservices: {a: {image: x}}\n-- app1/.gitignore --\n*.log\n!keep.log\n-- app1/x.log --\nno\n-- app1/keep.log --\nyes\n"))
	f.Add([]byte("-- app1/.env --\nW9_VERSION=1\nW9_HTTP_PORT=99999\n-- app1/variables.json --\n{\"name\":\" app1 \"}\n-- app1/docker-compose.yml --\nservices: {a: {image: x}}\n"))
	f.Add([]byte("-- Bad Name/.env --\n-- app1/.git/config --\n-- app1/src/.gitignore --\n/\n"))
	log := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, tree []byte) {
		if len(tree) > 256<<10 {
			return
		}
		fsys := parseArchive(tree)
		lib, err := Load(fsys, log, WithMaxAppBytes(128<<10))
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		folders := map[string]bool{}
		entries, _ := fs.ReadDir(fsys, ".")
		for _, e := range entries {
			if isAppFolder(fsys, e) {
				folders[e.Name()] = true
			}
		}
		failed := map[string]bool{}
		for _, p := range lib.Problems() {
			if !p.Loaded {
				failed[p.Dir] = true
			}
			if strings.HasPrefix(p.Reason, "loading failed:") {
				t.Fatalf("a parser panicked on folder %s: %s", p.Dir, p.Reason)
			}
		}
		for name := range folders {
			app, ok := lib.Get(name)
			if ok == failed[name] {
				t.Fatalf("folder %s: loaded=%v and listed as a problem=%v", name, ok, failed[name])
			}
			if !ok {
				continue
			}
			checkLoadedApp(t, fsys, app)
		}
		for _, a := range lib.List() {
			if !folders[a.Name] {
				t.Fatalf("app %s loaded from no folder", a.Name)
			}
		}
	})
}

func checkLoadedApp(t *testing.T, fsys fs.FS, app *App) {
	t.Helper()
	vs := app.Versions()
	if len(vs) == 0 {
		t.Fatalf("%s loaded without versions", app.Name)
	}
	for _, v := range vs {
		if !app.HasVersion(v) {
			t.Fatalf("%s: Versions lists %q but HasVersion says no", app.Name, v)
		}
	}
	if app.DefaultVersion != "" && vs[0] != app.DefaultVersion {
		t.Fatalf("%s: default version %q is not first in %q", app.Name, app.DefaultVersion, vs)
	}
	id := PlaceholderID(app.Name)
	if !regexp.MustCompile(`^[a-z][a-z0-9]{1,19}$`).MatchString(id) {
		t.Fatalf("PlaceholderID(%q) = %q is not an app id", app.Name, id)
	}
	env, err := app.InstallEnv(id)
	if err != nil {
		t.Fatalf("%s loaded but its install .env cannot be written: %v", app.Name, err)
	}
	m, err := composedotenv.ParseWithLookup(bytes.NewReader(env), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("%s: compose cannot read the install .env: %v\n%q", app.Name, err, env)
	}
	if m["W9_ID"] != id || m["W9_APP_NAME"] != app.Name || m["W9_VERSION"] != app.DefaultVersion {
		t.Fatalf("%s: install .env reads W9_ID=%q W9_APP_NAME=%q W9_VERSION=%q", app.Name, m["W9_ID"], m["W9_APP_NAME"], m["W9_VERSION"])
	}
	// Every file loaded is in the folder, byte for byte, and every
	// regular file outside .git and .gitignore'd paths was loaded.
	for p, b := range app.Files() {
		src, err := fs.ReadFile(fsys, app.Name+"/"+p)
		if err != nil || !bytes.Equal(src, b) {
			t.Fatalf("%s: file %s differs from the folder (%v)", app.Name, p, err)
		}
		if strings.HasPrefix(p, ".git/") || strings.Contains(p, "/.git/") {
			t.Fatalf("%s: committed %s", app.Name, p)
		}
	}
	for _, req := range []string{envFile, composeFile, variablesFile} {
		if _, ok := app.File(req); !ok {
			t.Fatalf("%s loaded without %s", app.Name, req)
		}
	}
	if app.HTTPPort < 0 || app.HTTPPort > 65535 || app.HTTPSPort < 0 || app.HTTPSPort > 65535 {
		t.Fatalf("%s: ports %d/%d", app.Name, app.HTTPPort, app.HTTPSPort)
	}
}

// FuzzVariablesJSON puts any variables.json into a good app folder: a file
// that is a JSON object of the expected shape loads and its versions and
// names come from it; any other is refused naming variables.json.
func FuzzVariablesJSON(f *testing.F) {
	for _, s := range []string{
		`{"name":"app1","trademark":"App One","edition":[{"dist":"community","version":["1.0","latest"]},{"dist":"ee","version":"2"}]}`,
		`{"name":" app1 ","edition":[{"dist":"c","version":[1.5, 2, "x"]}],"requirements":{"cpu":2,"memory":"4","disk":null}}`,
		`{"name":"other","edition":[{"version":null}]}`, `[]`, `null`, `{"edition":{}}`, `{"requirements":{"cpu":[1]}}`,
		`{"edition":[{"version":[null, ""]}]}`, `{"name":1}`, `{"trademark":"   "}`, "\xef\xbb\xbf{}", `{"edition":[{"version":1e400}]}`,
	} {
		f.Add([]byte(s))
	}
	files := func(v []byte) fstest.MapFS {
		return fstest.MapFS{
			"app1/.env":               {Data: []byte("W9_VERSION=0.9\nW9_ID=app1\n")},
			"app1/docker-compose.yml": {Data: []byte("services:\n  app1:\n    image: nginx:${W9_VERSION}\n    container_name: ${W9_ID}\n")},
			"app1/variables.json":     {Data: v},
		}
	}
	log := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, data []byte) {
		lib, err := Load(files(data), log)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		var v variables
		jerr := json.Unmarshal(data, &v)
		app, ok := lib.Get("app1")
		if jerr != nil {
			if ok {
				t.Fatalf("loaded with a variables.json encoding/json refuses (%v)", jerr)
			}
			if ps := lib.Problems(); len(ps) != 1 || !strings.Contains(ps[0].Reason, "variables.json") {
				t.Fatalf("refused without naming variables.json: %+v", ps)
			}
			return
		}
		if !ok {
			t.Fatalf("a readable variables.json was refused: %+v", lib.Problems())
		}
		want := []string{"0.9"}
		for _, e := range v.Edition {
			for _, ver := range e.Version {
				if ver != "" && !slices.Contains(want, ver) {
					want = append(want, ver)
				}
			}
		}
		if got := app.Versions(); !slices.Equal(got, want) {
			t.Fatalf("versions %q, want %q", got, want)
		}
		if strings.TrimSpace(v.Trademark) != "" && app.Trademark != strings.TrimSpace(v.Trademark) || app.Trademark == "" {
			t.Fatalf("trademark %q from %q", app.Trademark, v.Trademark)
		}
		warned := slices.ContainsFunc(lib.Problems(), func(p Problem) bool { return p.Loaded })
		if warned != (v.Name != "app1") {
			t.Fatalf("name %q: warning=%v", v.Name, warned)
		}
	})
}

// FuzzCatalogJSON reads any product catalog, app catalog.json and category
// tree: each is read or refused with an error; what is read names only
// categories with keys, each once, and an app's catalog.json answers only
// for its own key.
func FuzzCatalogJSON(f *testing.F) {
	for _, s := range []string{
		`[{"key":"app1","trademark":"A","summary":"s","logo":{"imageurl":"https://x/l.png"},"catalogCollection":{"items":[{"key":"cms","title":"CMS","catalogCollection":{"items":[{"key":"web","title":"Web"}]}},{"key":"cms"}]}}]`,
		`{"key":"app1","logo":"https://x/l.png"}`, `{"key":"other"}`, `[{"key":"other"}]`, `{"logo":5,"catalogCollection":{"items":null}}`,
		`[{"key":"web","title":"Web","linkedFrom":{"catalogCollection":{"items":[{"key":"cms","title":"CMS"}]}}}]`,
		`[null]`, `{}`, `[]`, `{"catalogCollection":{"items":[{"key":"","title":"x"}]}}`, `"x"`, ` [ `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if ps, err := parseProducts(data); err == nil {
			for i := range ps {
				checkCategories(t, &ps[i])
				_ = ps[i].logoURL()
			}
		}
		if p, err := parseAppCatalog("app1", data); err == nil {
			if p == nil || p.Key != "" && p.Key != "app1" {
				t.Fatalf("parseAppCatalog(app1) answered %+v", p)
			}
			checkCategories(t, p)
		} else if !strings.Contains(err.Error(), "catalog.json") {
			t.Fatalf("catalog.json error does not name the file: %v", err)
		}
		if titles, err := parseTree(data); err == nil {
			for k, v := range titles {
				if k == "" || v == "" {
					t.Fatalf("category tree gave %q: %q", k, v)
				}
			}
		}
	})
}

func checkCategories(t *testing.T, p *product) {
	t.Helper()
	keys, titles := p.categories()
	if len(keys) != len(titles) {
		t.Fatalf("categories %q with titles %v", keys, titles)
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if k == "" || seen[k] {
			t.Fatalf("categories %q", keys)
		}
		seen[k] = true
		if _, ok := titles[k]; !ok {
			t.Fatalf("category %q without a title entry", k)
		}
	}
}
