package library

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"

	"github.com/sirupsen/logrus"
)

// writeFS writes a MapFS under dir on disk.
func writeFS(t *testing.T, dir string, m fstest.MapFS) {
	t.Helper()
	for p, f := range m {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Websoft9's installer keys apps by folder: a variables.json name with
// spaces around it, or another name, no longer hides the app.
func TestNameKeyedByFolder(t *testing.T) {
	tests := []struct{ name, varName, warning string }{
		{"trailing space", "spaced ", `name "spaced " has surrounding spaces; loaded as "spaced"`},
		{"differs from folder", "Other-Name", `name "Other-Name" differs from the folder; loaded as "spaced"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := goodApp("good")
			for p, f := range renameApp(goodApp("spaced"), "spaced", "spaced") {
				fsys[p] = f
			}
			fsys["spaced/variables.json"].Data = []byte(`{"name":"` + tc.varName + `","trademark":"Spaced","edition":[{"dist":"community","version":["1.0"]}]}`)
			lib, err := Load(fsys, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			a, ok := lib.Get("spaced")
			if !ok {
				t.Fatalf("app not loaded under its folder; apps %v, problems %+v", names(lib.List()), lib.Problems())
			}
			if a.Name != "spaced" || a.Trademark != "Spaced" {
				t.Errorf("name %q trademark %q", a.Name, a.Trademark)
			}
			if _, ok := lib.Get(strings.TrimSpace(tc.varName)); ok && strings.TrimSpace(tc.varName) != "spaced" {
				t.Error("the app is also reachable by its variables.json name")
			}
			probs := lib.Problems()
			if len(probs) != 1 || probs[0].Dir != "spaced" || !probs[0].Loaded || !strings.Contains(probs[0].Reason, tc.warning) {
				t.Fatalf("problems = %+v, want one loaded-with-warning for spaced mentioning %q", probs, tc.warning)
			}
			if got := names(lib.List()); !slices.Equal(got, []string{"good", "spaced"}) {
				t.Errorf("apps = %v", got)
			}
		})
	}

	t.Run("catalog entry under the variables.json name", func(t *testing.T) {
		fsys := goodApp("folder")
		fsys["folder/variables.json"].Data = []byte(`{"name":"vname","edition":[{"dist":"community","version":["1.0"]}]}`)
		fsys["product_en.json"] = &fstest.MapFile{Data: []byte(`[{"key":"vname","logo":"https://example.com/v.png"}]`)}
		lib, err := Load(fsys, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		a, ok := lib.Get("folder")
		if !ok {
			t.Fatalf("not loaded: %+v", lib.Problems())
		}
		if a.Logo != "https://example.com/v.png" {
			t.Errorf("logo %q", a.Logo)
		}
	})
}

// A template that leaves W9_ID empty (the install fills it in) and
// requires it in the compose file is valid.
func TestComposeValidatedWithInstallValues(t *testing.T) {
	fsys := goodApp("needsid")
	fsys["needsid/.env"].Data = []byte("W9_ID=\nW9_VERSION=1.0\nW9_HTTP_PORT=8080\nW9_HTTP_PORT_SET=\nW9_URL=\nW9_POWER_PASSWORD=\nW9_NETWORK=websoft9\n")
	fsys["needsid/docker-compose.yml"].Data = []byte(`services:
  app:
    image: example/app:${W9_VERSION:?}
    container_name: ${W9_ID:?the install sets W9_ID}
    environment:
      URL: http://${W9_URL:?}
      PASSWORD: ${W9_POWER_PASSWORD:?}
      APP: ${W9_APP_NAME:?}
    ports:
      - ${W9_HTTP_PORT_SET:?}:8080
  db:
    image: example/db
    container_name: ${W9_ID}-db
networks:
  default:
    name: $W9_NETWORK
    external: true
`)
	lib, err := Load(fsys, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if p := lib.Problems(); len(p) != 0 {
		t.Fatalf("problems: %+v", p)
	}
	a, ok := lib.Get("needsid")
	if !ok {
		t.Fatal("not loaded")
	}
	// The case is real: with the template's .env as it is, compose refuses it.
	raw, _ := a.File(".env")
	if _, _, err := a.ComposeProject(context.Background(), "needsid", raw); err == nil || !strings.Contains(err.Error(), "W9_ID") {
		t.Fatalf("the raw template should fail on W9_ID, got %v", err)
	}
	env, err := a.InstallEnv(PlaceholderID(a.Name))
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := a.ComposeProject(context.Background(), "blog", env)
	if err != nil {
		t.Fatal(err)
	}
	svc := p.Services["app"]
	if svc.ContainerName != "needsid" || p.Services["db"].ContainerName != "needsid-db" || svc.Image != "example/app:1.0" {
		t.Errorf("container %q image %q", svc.ContainerName, svc.Image)
	}
	if len(svc.Ports) != 1 || svc.Ports[0].Published == "" || svc.Ports[0].Published == "0" {
		t.Errorf("empty port setting not filled: %+v", svc.Ports)
	}
	// The shared template is untouched.
	if id, _ := a.Env.Get("W9_ID"); id != "" {
		t.Errorf("InstallEnv edited the app's Env: W9_ID=%q", id)
	}
}

func TestPlaceholderID(t *testing.T) {
	for in, want := range map[string]string{
		"wordpress":                 "wordpress",
		"uptime-kuma":               "uptimekuma",
		"3cx":                       "cx",
		"a":                         "appa",
		"x_1":                       "x1",
		"averyveryverylongappname1": "averyveryverylongapp",
		"9":                         "app",
	} {
		if got := PlaceholderID(in); got != want {
			t.Errorf("PlaceholderID(%q) = %q, want %q", in, got, want)
		}
	}
}

// sparse makes a file of n bytes without writing them.
func sparse(t *testing.T, p string, n int64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(n); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// The size limit is a setting (64 MiB by default, was a fixed 16 MiB) and
// counts only what an install commits.
func TestFolderSizeLimit(t *testing.T) {
	dir := t.TempDir()
	writeFS(t, dir, goodApp("big"))
	sparse(t, filepath.Join(dir, "big", "src", "seed.db"), 20<<20) // over the old limit
	// Never committed: git's own folder and what .gitignore excludes.
	sparse(t, filepath.Join(dir, "big", ".git", "objects", "pack.pack"), 200<<20)
	sparse(t, filepath.Join(dir, "big", "cache", "blob.bin"), 200<<20)
	sparse(t, filepath.Join(dir, "big", "src", "dump.tar"), 200<<20)
	sparse(t, filepath.Join(dir, "big", "src", "keep.tar"), 1)
	writeFS(t, dir, fstest.MapFS{
		"big/.gitignore":     {Data: []byte("# build output\ncache/\n*.tar\n")},
		"big/src/.gitignore": {Data: []byte("!keep.tar\n")},
	})

	lib, err := LoadDir(dir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	a, ok := lib.Get("big")
	if !ok {
		t.Fatalf("a 20 MiB folder must load under the default limit: %+v", lib.Problems())
	}
	files := a.Files()
	for _, p := range []string{"src/seed.db", ".gitignore", "src/.gitignore", "src/keep.tar"} {
		if _, ok := files[p]; !ok {
			t.Errorf("committed file %s missing", p)
		}
	}
	for _, p := range []string{".git/objects/pack.pack", "cache/blob.bin", "src/dump.tar"} {
		if _, ok := files[p]; ok {
			t.Errorf("%s is not committed by an install and must not be loaded", p)
		}
	}

	lib, err = LoadDir(dir, testLogger(t), WithMaxAppBytes(16<<20))
	if err != nil {
		t.Fatal(err)
	}
	probs := lib.Problems()
	if len(probs) != 1 || probs[0].Dir != "big" || !strings.Contains(probs[0].Reason, "more than 16 MiB") {
		t.Fatalf("with a 16 MiB limit: %+v", probs)
	}
}

// samplesFile reads a file of ../shared/library-samples.
func samplesFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(samplesDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Websoft9's layout: the app folders in apps/, the catalog a few folders
// down under dist/ beside it.
func websoft9Layout(t *testing.T) string {
	root := t.TempDir()
	if err := os.CopyFS(filepath.Join(root, "apps"), os.DirFS(samplesDir(t))); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"catalog-sample.json", "catalog-tree-sample.json"} {
		if err := os.Remove(filepath.Join(root, "apps", f)); err != nil {
			t.Fatal(err)
		}
	}
	writeFS(t, root, fstest.MapFS{
		"dist/catalog-fixture/product_en.json":                    {Data: samplesFile(t, "catalog-sample.json")},
		"dist/catalog-fixture/catalog_en.json":                    {Data: samplesFile(t, "catalog-tree-sample.json")},
		"dist/catalog-fixture/product_zh.json":                    {Data: []byte(`[{"key":"wordpress","summary":"other locale"}]`)},
		"dist/publish-check/appstore/dev/catalog/product_en.json": {Data: []byte(`[{"key":"wordpress","summary":"deeper, not used"}]`)},
		"dist/publish-check/legacy/media.zip":                     {Data: []byte("PK")},
	})
	return root
}

func TestCatalogFromDist(t *testing.T) {
	root := websoft9Layout(t)
	for name, dir := range map[string]string{"apps folder": filepath.Join(root, "apps"), "repository root": root} {
		t.Run(name, func(t *testing.T) {
			lib, err := LoadDir(dir, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			if p := lib.Problems(); len(p) != 0 {
				t.Fatalf("problems: %+v", p)
			}
			if got := names(lib.List()); !slices.Equal(got, sampleApps) {
				t.Fatalf("apps = %v", got)
			}
			for _, a := range lib.List() {
				if a.Logo == "" || !strings.HasPrefix(a.Logo, "https://libs.websoft9.com/") || len(a.Categories) == 0 {
					t.Errorf("%s: logo %q categories %v", a.Name, a.Logo, a.Categories)
				}
			}
			wp, _ := lib.Get("wordpress")
			if wp.Summary != "全球 42% 的网页基于 WordPress 构建" {
				t.Errorf("summary %q: product_en.json at the shallowest level should win", wp.Summary)
			}
			if !slices.Contains(wp.Categories, "cms") || !slices.Contains(wp.Categories, "website") {
				t.Errorf("categories = %v", wp.Categories)
			}
			// Titles of the category tree (catalog_en.json), also for
			// categories no app uses.
			if lib.CategoryTitle("database") != "数据库" || lib.CategoryTitle("graphdb") != "图数据库" || lib.CategoryTitle("cms") != "网站" {
				t.Errorf("titles: %q %q %q", lib.CategoryTitle("database"), lib.CategoryTitle("graphdb"), lib.CategoryTitle("cms"))
			}
			if got := names(lib.Search("", "网站")); !slices.Contains(got, "wordpress") {
				t.Errorf("search by category title = %v", got)
			}
		})
	}

	t.Run("dist inside the library folder", func(t *testing.T) {
		fsys := goodApp("good")
		fsys["dist/product_en.json"] = &fstest.MapFile{Data: []byte(`[{"key":"good","logo":{"imageurl":"https://example.com/good.png"},"catalogCollection":{"items":[{"key":"devops","title":"DevOps"}]}}]`)}
		lib, err := Load(fsys, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		a, _ := lib.Get("good")
		if a.Logo != "https://example.com/good.png" || !slices.Equal(a.Categories, []string{"devops"}) {
			t.Errorf("logo %q categories %v", a.Logo, a.Categories)
		}
	})

	t.Run("catalog file flag", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "product_fr.json")
		if err := os.WriteFile(other, []byte(`[{"key":"duplicati","logo":"https://example.com/d.png","catalogCollection":{"items":[{"key":"backup","title":"Sauvegarde"}]}}]`), 0o644); err != nil {
			t.Fatal(err)
		}
		lib, err := LoadDir(filepath.Join(root, "apps"), testLogger(t), WithCatalogFile(other))
		if err != nil {
			t.Fatal(err)
		}
		d, _ := lib.Get("duplicati")
		wp, _ := lib.Get("wordpress")
		if d.Logo != "https://example.com/d.png" || lib.CategoryTitle("backup") != "Sauvegarde" {
			t.Errorf("explicit catalog not used: logo %q title %q", d.Logo, lib.CategoryTitle("backup"))
		}
		if wp.Logo != "" {
			t.Errorf("the explicit catalog replaces the one under dist/: wordpress logo %q", wp.Logo)
		}
		if _, err := LoadDir(filepath.Join(root, "apps"), nil, WithCatalogFile(filepath.Join(root, "missing.json"))); err == nil {
			t.Error("a missing explicit catalog file must fail the load")
		}
	})
}

func TestVersions(t *testing.T) {
	fsys := goodApp("onlyenv")
	fsys["onlyenv/.env"].Data = []byte("W9_ID=onlyenv\nW9_VERSION=1.0\nW9_HTTP_PORT=8080\nW9_HTTP_PORT_SET=9100\nW9_URL=x\nW9_NETWORK=websoft9\n")
	fsys["onlyenv/variables.json"].Data = []byte(`{"name":"onlyenv","edition":[{"dist":"community","version":["1.1","latest"]}]}`)
	for p, f := range renameApp(goodApp("shared"), "shared", "shared") {
		fsys[p] = f
	}
	fsys["shared/.env"].Data = []byte("W9_ID=shared\nW9_VERSION=2.0\nW9_HTTP_PORT=8080\nW9_HTTP_PORT_SET=9100\nW9_URL=x\nW9_NETWORK=websoft9\n")
	fsys["shared/variables.json"].Data = []byte(`{"name":"shared","edition":[{"dist":"community","version":["latest","2.0"]},{"dist":"enterprise","version":["2.0-ee","latest"]}]}`)

	lib, err := Load(fsys, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if p := lib.Problems(); len(p) != 0 {
		t.Fatalf("problems: %+v", p)
	}
	tests := []struct {
		app      string
		versions []string
		dist     map[string]string
	}{
		// The .env default is a version (first) though variables.json lacks it.
		{"onlyenv", []string{"1.0", "1.1", "latest"}, map[string]string{"1.0": "", "1.1": "community", "latest": "community"}},
		// A version two editions share is listed once.
		{"shared", []string{"2.0", "latest", "2.0-ee"}, map[string]string{"2.0": "community", "latest": "community", "2.0-ee": "enterprise"}},
	}
	for _, tc := range tests {
		a, ok := lib.Get(tc.app)
		if !ok {
			t.Fatalf("%s not loaded", tc.app)
		}
		if got := a.Versions(); !slices.Equal(got, tc.versions) {
			t.Errorf("%s Versions() = %v, want %v", tc.app, got, tc.versions)
		}
		for v, d := range tc.dist {
			if !a.HasVersion(v) || a.EditionOf(v) != d {
				t.Errorf("%s %s: HasVersion %v EditionOf %q, want %q", tc.app, v, a.HasVersion(v), a.EditionOf(v), d)
			}
		}
		if a.HasVersion("9.9") || a.HasVersion("") {
			t.Errorf("%s accepts unlisted versions", tc.app)
		}
	}
}

var logAppSeq atomic.Int64

// jsonLines parses every line of b as a JSON object.
func jsonLines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// compose-go's warnings, and library problems, reach the injected slog
// logger once each, in its format; logrus prints nothing itself.
func TestComposeWarningsThroughSlog(t *testing.T) {
	// compose-go warns about `version` once per file name and process, so
	// each run uses a new app name.
	name := fmt.Sprintf("logwarn%d", logAppSeq.Add(1))
	fsys := goodApp(name)
	fsys[name+"/.env"].Data = append(fsys[name+"/.env"].Data, []byte("W9_PRIV=yes\n")...)
	fsys[name+"/docker-compose.yml"].Data = []byte(`version: "3.8"
services:
  app:
    image: example/app:$W9_VERSION
    container_name: $W9_ID
    privileged: ${W9_PRIV}
`)
	for p, f := range renameApp(goodApp("broken"), "broken", "broken") {
		fsys[p] = f
	}
	fsys["broken/variables.json"].Data = []byte("{")

	// Anything logrus would print itself shows up here.
	var direct bytes.Buffer
	installBridge()
	bridge.orig = &direct
	t.Cleanup(func() { bridge.orig = os.Stderr })

	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	lib, err := Load(fsys, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := lib.Get(name); !ok {
		t.Fatalf("app with compose warnings not loaded: %+v", lib.Problems())
	}
	lines := jsonLines(t, buf.Bytes())
	count := func(pred func(m map[string]any) bool) int {
		n := 0
		for _, m := range lines {
			if pred(m) {
				n++
			}
		}
		return n
	}
	for _, want := range []string{"the attribute `version` is obsolete", `"yes" for boolean is not supported`} {
		n := count(func(m map[string]any) bool {
			w, _ := m["warning"].(string)
			return m["level"] == "WARN" && m["dir"] == name && strings.Contains(w, want)
		})
		if n != 1 {
			t.Errorf("warning %q logged %d times, want once; log:\n%s", want, n, buf.String())
		}
	}
	if n := count(func(m map[string]any) bool { return m["dir"] == "broken" }); n != 1 {
		t.Errorf("the skipped folder is logged %d times, want once; log:\n%s", n, buf.String())
	}
	if direct.Len() != 0 || logrus.StandardLogger().Out != io.Discard {
		t.Errorf("logrus printed on its own: %q", direct.String())
	}

	// Outside a load, compose-go's logrus entries go to the routed logger.
	var routed bytes.Buffer
	RouteComposeLogs(slog.New(slog.NewJSONHandler(&routed, nil)))
	t.Cleanup(func() { RouteComposeLogs(nil) })
	logrus.Warnf("outside %s", "a load")
	got := jsonLines(t, routed.Bytes())
	if len(got) != 1 || got[0]["msg"] != "outside a load" || got[0]["level"] != "WARN" || got[0]["source"] != "compose-go" {
		t.Errorf("routed = %s", routed.String())
	}
	if direct.Len() != 0 {
		t.Errorf("logrus printed on its own: %q", direct.String())
	}
}
