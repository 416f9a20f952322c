package library

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

var sampleApps = []string{"duplicati", "kasmweb", "wordpress"}

// samplesDir finds /work/shared/library-samples: the folder "../shared/library-samples"
// next to the module root.
func samplesDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
	p := filepath.Join(dir, "..", "shared", "library-samples")
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("library samples not found at %s", p)
		}
		t.Fatalf("library samples missing in CI: %v", err)
	}
	return p
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// copySamples copies the sample apps into a fresh directory, optionally with
// extra root files.
func copySamples(t *testing.T, extra map[string]string) string {
	src := samplesDir(t)
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	for to, from := range extra {
		b, err := os.ReadFile(filepath.Join(src, from))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, to), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func TestLoadSamples(t *testing.T) {
	lib, err := LoadDir(samplesDir(t), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if p := lib.Problems(); len(p) != 0 {
		t.Fatalf("problems: %+v", p)
	}
	var names []string
	for _, a := range lib.List() {
		names = append(names, a.Name)
	}
	if !slices.Equal(names, sampleApps) {
		t.Fatalf("apps = %v", names)
	}

	wp, _ := lib.Get("wordpress")
	if wp.Trademark != "WordPress" || !wp.Release || wp.ForkURL != "https://github.com/docker-library/wordpress" {
		t.Errorf("wordpress variables: %+v", wp)
	}
	if len(wp.Editions) != 1 || wp.Editions[0].Dist != "community" || !slices.Equal(wp.Editions[0].Versions, []string{"6.9", "latest"}) {
		t.Errorf("editions = %+v", wp.Editions)
	}
	if wp.Requirements != (Requirements{CPU: "1", Memory: "1", Disk: "1", URL: "https://www.wordpress.org/docs/user_guide/en/install-requirements.html"}) {
		t.Errorf("requirements = %+v", wp.Requirements)
	}
	if wp.DefaultVersion != "6.9" || !wp.HasVersion("6.9") || !wp.HasVersion("latest") || wp.HasVersion("6.4") {
		t.Errorf("versions: default %q", wp.DefaultVersion)
	}
	if wp.HTTPPort != 80 || wp.HTTPSPort != 0 || !wp.Web || !wp.URLReplace {
		t.Errorf("wordpress env: http %d https %d web %v replace %v", wp.HTTPPort, wp.HTTPSPort, wp.Web, wp.URLReplace)
	}
	if want := []Setting{{Key: "W9_HTTP_PORT_SET", Default: "9001", Port: true}}; !slices.Equal(wp.Settings, want) {
		t.Errorf("settings = %+v", wp.Settings)
	}
	if wp.ProxyConf != "" || wp.ProxyConfPath != "" {
		t.Errorf("wordpress has no proxy conf, got %q", wp.ProxyConfPath)
	}
	if wp.Summary == "" || len(wp.Categories) != 0 {
		t.Errorf("without catalog: summary %q (want README fallback), categories %v", wp.Summary, wp.Categories)
	}
	files := wp.Files()
	for _, p := range []string{".env", "docker-compose.yml", "variables.json", "README.md", "Notes.md", "CHANGELOG.md", "src/php_exra.ini", "src/README.md"} {
		if _, ok := files[p]; !ok {
			t.Errorf("Files() lacks %s (has %v)", p, slices.Sorted(maps.Keys(files)))
		}
	}
	if pw, _ := wp.Env.Expand("WORDPRESS_DB_PASSWORD"); pw != "NYvg!hilh9Haouf2" {
		t.Errorf("Env.Expand = %q", pw)
	}

	dup, _ := lib.Get("duplicati")
	if dup.HTTPPort != 8200 || !dup.Web || dup.URLReplace || dup.DefaultVersion != "2.1.0" {
		t.Errorf("duplicati: %+v", dup)
	}
	if !strings.Contains(dup.ProxyConf, "proxy_pass") || dup.ProxyConfPath != "src/nginx-proxy.conf" {
		t.Errorf("duplicati proxy conf %q at %q", dup.ProxyConf, dup.ProxyConfPath)
	}

	kasm, _ := lib.Get("kasmweb")
	if kasm.HTTPSPort != 6901 || kasm.HTTPPort != 0 || !kasm.Web {
		t.Errorf("kasmweb: https %d http %d web %v", kasm.HTTPSPort, kasm.HTTPPort, kasm.Web)
	}
	if want := []Setting{{Key: "W9_HTTPS_PORT_SET", Default: "9001", Port: true}}; !slices.Equal(kasm.Settings, want) {
		t.Errorf("kasmweb settings = %+v", kasm.Settings)
	}
	if b, ok := kasm.File("src/filelist"); !ok || len(b) != 0 {
		t.Errorf("empty src/filelist should be kept: %v %q", ok, b)
	}
}

func TestLoadSamplesWithCatalog(t *testing.T) {
	for _, name := range []string{"catalog.json", "product_en.json"} {
		t.Run(name, func(t *testing.T) {
			dir := copySamples(t, map[string]string{name: "catalog-sample.json"})
			lib, err := LoadDir(dir, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			if p := lib.Problems(); len(p) != 0 {
				t.Fatalf("problems: %+v", p)
			}
			wp, _ := lib.Get("wordpress")
			if wp.Summary != "全球 42% 的网页基于 WordPress 构建" || !strings.HasPrefix(wp.Overview, "WordPress 是") ||
				!strings.Contains(wp.Description, "按你的方式设计") {
				t.Errorf("text: %q / %q", wp.Summary, wp.Overview)
			}
			if wp.Logo != "https://libs.websoft9.com/Websoft9/logo/product/wordpress-websoft9.png" || wp.WebsiteURL != "https://wordpress.com/" {
				t.Errorf("logo %q website %q", wp.Logo, wp.WebsiteURL)
			}
			want := []string{"website", "low-code", "ecommerce", "marketing", "cms", "itdeveloper", "create", "business-operation"}
			if !slices.Equal(wp.Categories, want) {
				t.Errorf("categories = %v", wp.Categories)
			}
			if lib.CategoryTitle("website") != "企业建站" || lib.CategoryTitle("cms") != "网站" {
				t.Errorf("titles: %q %q", lib.CategoryTitle("website"), lib.CategoryTitle("cms"))
			}
			for _, a := range lib.List() {
				if a.Summary == "" || a.Logo == "" || len(a.Categories) == 0 {
					t.Errorf("%s lacks catalog data: %+v", a.Name, a)
				}
			}
			if got := names(lib.Search("", "CMS")); !slices.Contains(got, "wordpress") {
				t.Errorf("category search = %v", got)
			}
			if got := names(lib.Search("", "网站")); !slices.Contains(got, "wordpress") {
				t.Errorf("category search by title = %v", got)
			}
			if got := names(lib.Search("42%", "")); !slices.Equal(got, []string{"wordpress"}) {
				t.Errorf("summary search = %v", got)
			}
		})
	}
}

func names(apps []*App) []string {
	var out []string
	for _, a := range apps {
		out = append(out, a.Name)
	}
	return out
}

// A small valid app, as files of a MapFS.
func goodApp(name string) fstest.MapFS {
	return fstest.MapFS{
		name + "/.env": {Data: []byte("W9_ID=" + name + "\nW9_VERSION=1.0\nW9_HTTP_PORT=8080\nW9_HTTP_PORT_SET=9100\nW9_URL=localhost:9100\nW9_NETWORK=websoft9\n")},
		name + "/docker-compose.yml": {Data: []byte(`services:
  app:
    image: example/app:$W9_VERSION
    container_name: $W9_ID
    env_file: .env
    ports:
      - $W9_HTTP_PORT_SET:8080
networks:
  default:
    name: $W9_NETWORK
    external: true
`)},
		name + "/variables.json": {Data: []byte(`{"name":"` + name + `","trademark":"Good","release":true,"edition":[{"dist":"community","version":["1.0",2]}],"requirements":{"cpu":1,"memory":"2","disk":"3","url":""}}`)},
		name + "/README.md":      {Data: []byte("# Good\n\nA **good** app, see [docs](https://example.com).\n")},
	}
}

func TestMalformedFolders(t *testing.T) {
	tests := []struct {
		name   string
		dir    string
		mutate func(fstest.MapFS, string)
		reason string
	}{
		{"bad variables.json", "bad", func(m fstest.MapFS, d string) { m[d+"/variables.json"].Data = []byte(`{"name": "bad",`) }, "variables.json"},
		{"wrong type in variables.json", "bad", func(m fstest.MapFS, d string) {
			m[d+"/variables.json"].Data = []byte(`{"name":"bad","release":"yes","edition":[{"dist":"community","version":["1"]}]}`)
		}, "variables.json"},
		{"no versions", "bad", func(m fstest.MapFS, d string) {
			m[d+"/variables.json"].Data = []byte(`{"name":"bad","edition":[]}`)
			m[d+"/.env"].Data = []byte("W9_ID=bad\nW9_HTTP_PORT=8080\n")
		}, "no versions"},
		{"missing variables.json", "bad", func(m fstest.MapFS, d string) { delete(m, d+"/variables.json") }, "missing variables.json"},
		{"missing compose", "bad", func(m fstest.MapFS, d string) { delete(m, d+"/docker-compose.yml") }, "missing docker-compose.yml"},
		{"unparsable compose", "bad", func(m fstest.MapFS, d string) { m[d+"/docker-compose.yml"].Data = []byte("services: [\n  - {{") }, "docker-compose.yml"},
		{"compose against schema", "bad", func(m fstest.MapFS, d string) {
			m[d+"/docker-compose.yml"].Data = []byte("services:\n  app:\n    image: x\n    restart: sometimes-maybe\n    bogus_key: 1\n")
		}, "docker-compose.yml"},
		{"compose without services", "bad", func(m fstest.MapFS, d string) { m[d+"/docker-compose.yml"].Data = []byte("volumes:\n  data:\n") }, "docker-compose.yml"},
		{"env_file not in folder", "bad", func(m fstest.MapFS, d string) {
			m[d+"/docker-compose.yml"].Data = []byte("services:\n  app:\n    image: x\n    env_file: other.env\n")
		}, "other.env"},
		{"missing .env", "bad", func(m fstest.MapFS, d string) { delete(m, d+"/.env") }, "missing .env"},
		{"bad .env", "bad", func(m fstest.MapFS, d string) { m[d+"/.env"].Data = []byte("W9_ID='unterminated\n") }, ".env"},
		{"bad port", "bad", func(m fstest.MapFS, d string) { m[d+"/.env"].Data = []byte("W9_ID=bad\nW9_HTTP_PORT=eighty\n") }, "not a port number"},
		{"bad app catalog", "bad", func(m fstest.MapFS, d string) { m[d+"/catalog.json"] = &fstest.MapFile{Data: []byte("{")} }, "catalog.json"},
		{"invalid folder name", "Bad Name", func(m fstest.MapFS, d string) {}, "not a valid app name"},
		{"symlink", "bad", func(m fstest.MapFS, d string) {
			m[d+"/src/link"] = &fstest.MapFile{Data: []byte("/etc/passwd"), Mode: fs.ModeSymlink}
		}, "not a regular file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := goodApp("good")
			maps.Copy(fsys, renameApp(goodApp("bad"), "bad", tc.dir))
			tc.mutate(fsys, tc.dir)
			lib, err := Load(fsys, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			probs := lib.Problems()
			if len(probs) != 1 || probs[0].Dir != tc.dir || !strings.Contains(probs[0].Reason, tc.reason) {
				t.Fatalf("problems = %+v, want one for %q mentioning %q", probs, tc.dir, tc.reason)
			}
			if _, ok := lib.Get(tc.dir); ok {
				t.Error("malformed app was loaded")
			}
			if got := names(lib.List()); !slices.Equal(got, []string{"good"}) {
				t.Errorf("apps = %v", got)
			}
		})
	}
}

func renameApp(m fstest.MapFS, from, to string) fstest.MapFS {
	out := fstest.MapFS{}
	for p, f := range m {
		out[to+strings.TrimPrefix(p, from)] = f
	}
	return out
}

func TestLoadSkipsNonApps(t *testing.T) {
	fsys := goodApp("good")
	fsys[".git/config"] = &fstest.MapFile{Data: []byte("x")}
	fsys["docs/README.md"] = &fstest.MapFile{Data: []byte("x")}
	fsys["README.md"] = &fstest.MapFile{Data: []byte("x")}
	fsys["product_zh.json"] = &fstest.MapFile{Data: []byte("not json")}
	lib, err := Load(fsys, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(lib.List()); !slices.Equal(got, []string{"good"}) {
		t.Errorf("apps = %v", got)
	}
	if p := lib.Problems(); len(p) != 1 || p[0].Dir != "product_zh.json" {
		t.Errorf("a bad root catalog is a problem, not a failure: %+v", p)
	}
	a, _ := lib.Get("good")
	if a.Summary != "A good app, see docs." {
		t.Errorf("README summary = %q", a.Summary)
	}
	if a.Requirements.CPU != "1" || !slices.Equal(a.Versions(), []string{"1.0", "2"}) {
		t.Errorf("numbers in variables.json: %+v %v", a.Requirements, a.Versions())
	}
	if _, err := Load(fstest.MapFS{}, nil); err != nil {
		t.Errorf("empty library: %v", err)
	}
	if _, err := LoadDir(filepath.Join(t.TempDir(), "missing"), nil); err == nil {
		t.Error("LoadDir of a missing directory must fail")
	}
}

var defaultApps = []string{"gitea", "nextcloud", "nginx", "podinfo", "uptimekuma", "whoami", "wordpress"}

func TestDefaultLibrary(t *testing.T) {
	lib, err := Default(testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if p := lib.Problems(); len(p) != 0 {
		t.Fatalf("problems: %+v", p)
	}
	got := names(lib.List())
	if len(got) < 6 {
		t.Fatalf("only %d apps: %v", len(got), got)
	}
	for _, n := range defaultApps {
		if !slices.Contains(got, n) {
			t.Errorf("default library lacks %s", n)
		}
	}
	hostPorts := map[string]string{} // default host port -> app
	for _, app := range lib.List() {
		t.Run(app.Name, func(t *testing.T) {
			for _, k := range []string{"W9_ID", "W9_VERSION", "W9_URL", "W9_REPO", "W9_DIST", "W9_NETWORK", "W9_HTTP_PORT", "W9_HTTP_PORT_SET"} {
				if !app.Env.Has(k) {
					t.Errorf(".env lacks %s", k)
				}
			}
			if id, _ := app.Env.Get("W9_ID"); id != app.Name {
				t.Errorf("W9_ID = %q", id)
			}
			if !app.HasVersion(app.DefaultVersion) {
				t.Errorf("default version %q not in variables.json %v", app.DefaultVersion, app.Versions())
			}
			if app.Summary == "" || app.Logo == "" || app.WebsiteURL == "" || len(app.Categories) == 0 || app.Trademark == "" {
				t.Errorf("catalog data missing: %+v", app)
			}
			if app.HTTPPort == 0 || !app.Web {
				t.Errorf("every default app is a web app with W9_HTTP_PORT")
			}
			for _, s := range app.Settings {
				if !s.Port {
					continue
				}
				if other, dup := hostPorts[s.Default]; dup {
					t.Errorf("default host port %s of %s is also used by %s", s.Default, s.Key, other)
				}
				hostPorts[s.Default] = app.Name + "." + s.Key
			}
			checkComposeProject(t, app)
		})
	}
}

// checkComposeProject loads the app the way `docker compose` does in a git
// clone: files on disk, project name = app name, the folder's .env and no
// process environment; then checks our template conventions.
func checkComposeProject(t *testing.T, app *App) {
	dir := filepath.Join(t.TempDir(), app.Name)
	err := app.Walk(func(p string, data []byte) error {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		return os.WriteFile(full, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "docker-compose.yml")},
		cli.WithWorkingDirectory(dir), cli.WithName(app.Name), cli.WithEnvFiles(), cli.WithDotEnv)
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose-go: %v", err)
	}
	env := map[string]string{}
	for _, k := range app.Env.Keys() {
		env[k], _ = app.Env.Expand(k)
	}
	var main *types.ServiceConfig
	for name, svc := range project.Services {
		switch {
		case svc.ContainerName == app.Name:
			main = &svc
		case !strings.HasPrefix(svc.ContainerName, app.Name+"-"):
			t.Errorf("service %s: container_name %q is neither $W9_ID nor $W9_ID-<role>", name, svc.ContainerName)
		}
		for _, v := range svc.Volumes {
			if v.Type != types.VolumeTypeVolume {
				t.Errorf("service %s: %s mount %s (named volumes only)", name, v.Type, v.Source)
			}
		}
		for _, p := range svc.Ports {
			if !slices.ContainsFunc(app.Settings, func(s Setting) bool { return s.Port && s.Default == p.Published }) {
				t.Errorf("service %s publishes %s, which is not a *_SET default", name, p.Published)
			}
		}
		if _, ok := svc.Networks["default"]; !ok && len(svc.Networks) > 0 {
			t.Errorf("service %s leaves the default network", name)
		}
	}
	if main == nil {
		t.Fatal("no service with container_name $W9_ID")
	}
	if main.Image != env["W9_REPO"]+":"+env["W9_VERSION"] {
		t.Errorf("main image %q is not $W9_REPO:$W9_VERSION", main.Image)
	}
	if main.Environment["W9_ID"] == nil || *main.Environment["W9_ID"] != app.Name {
		t.Error("main service must get .env through env_file (the app reads its settings from the container)")
	}
	if l := main.Labels["com.docker.compose.http.port"]; l != strconv.Itoa(app.HTTPPort) {
		t.Errorf("http port label %q, W9_HTTP_PORT %d", l, app.HTTPPort)
	}
	if !slices.ContainsFunc(main.Ports, func(p types.ServicePortConfig) bool { return int(p.Target) == app.HTTPPort }) {
		t.Errorf("main service does not publish W9_HTTP_PORT %d", app.HTTPPort)
	}
	net := project.Networks["default"]
	if net.Name != "websoft9" || !bool(net.External) {
		t.Errorf("default network = %+v, want external websoft9", net)
	}
}

func TestSearch(t *testing.T) {
	lib, err := Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		search, category string
		want             []string
	}{
		{"", "", names(lib.List())},
		{"WORD", "", []string{"wordpress"}},
		{"kuma", "", []string{"uptimekuma"}},
		{"Uptime Kuma", "", []string{"uptimekuma"}},
		{"file sync", "", []string{"nextcloud"}}, // summary
		{"", "devops", []string{"gitea", "podinfo", "uptimekuma", "whoami"}},
		{"", "DevOps", []string{"gitea", "podinfo", "uptimekuma", "whoami"}},
		{"", "Website", []string{"nginx", "wordpress"}}, // parent category, key or title
		{"", "cms", []string{"wordpress"}},
		{"gitea", "website", nil},
		{"no-such-app", "", nil},
		{"", "no-such-category", nil},
	}
	for _, tc := range tests {
		if got := names(lib.Search(tc.search, tc.category)); !slices.Equal(got, tc.want) {
			t.Errorf("Search(%q, %q) = %v, want %v", tc.search, tc.category, got, tc.want)
		}
	}
	cats := lib.Categories()
	if !slices.IsSorted(cats) || !slices.Contains(cats, "website") || !slices.Contains(cats, "devops") {
		t.Errorf("Categories() = %v", cats)
	}
	if lib.CategoryTitle("devops") != "DevOps" {
		t.Errorf("title = %q", lib.CategoryTitle("devops"))
	}
}

// Apps are shared: callers' edits to copies must not reach the library.
func TestAppCopiesAreIndependent(t *testing.T) {
	lib, err := Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	wp, _ := lib.Get("wordpress")
	orig, _ := wp.File(".env")

	env := wp.Env.Clone()
	if err := env.Set("W9_ID", "blog"); err != nil {
		t.Fatal(err)
	}
	files := wp.Files()
	files[".env"][0] = 'X'
	files["new.txt"] = []byte("x")
	_ = wp.Walk(func(p string, data []byte) error {
		if len(data) > 0 {
			data[0] = 'Y'
		}
		return nil
	})

	again, _ := lib.Get("wordpress")
	if id, _ := again.Env.Get("W9_ID"); id != "wordpress" {
		t.Errorf("Env shared: W9_ID = %q", id)
	}
	if now, _ := again.File(".env"); !bytes.Equal(now, orig) {
		t.Error("file contents shared")
	}
	if _, ok := again.File("new.txt"); ok {
		t.Error("file map shared")
	}
	var paths []string
	_ = again.Walk(func(p string, _ []byte) error { paths = append(paths, p); return nil })
	if !slices.IsSorted(paths) || !slices.Contains(paths, ".env") {
		t.Errorf("Walk paths = %v", paths)
	}
}

func TestVersionsOf(t *testing.T) {
	got, err := VersionsOf([]byte(`{"edition":[{"dist":"community","version":["6.9", 6.8, "latest"]},{"dist":"ee","version":"latest"},{"dist":"x","version":7}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"6.9", "6.8", "latest", "7"}; !slices.Equal(got, want) {
		t.Errorf("VersionsOf = %q, want %q", got, want)
	}
	if _, err := VersionsOf([]byte(`{"edition":[{"version":{}}]}`)); err == nil {
		t.Error("a version object was accepted")
	}
}
