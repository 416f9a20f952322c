package console

import (
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"testing/fstest"
)

// requireBuilt skips without a build (go test without make), except in CI,
// where `make test` builds the console first.
func requireBuilt(t *testing.T) fs.FS {
	t.Helper()
	f := Files()
	if f == nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the console is not built (web/console/dist/app): run make web-console (CI is set, so this is an error)")
		}
		t.Skip("the console is not built: run make web-console (make test does)")
	}
	return f
}

// TestEmbeddedGzipSize checks the goal that the console adds at most 1 MiB
// gzip to the binary's embedded assets, and prints the figure.
func TestEmbeddedGzipSize(t *testing.T) {
	files := requireBuilt(t)
	var raw, gz int64
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		cw := &countWriter{}
		zw, _ := gzip.NewWriterLevel(cw, gzip.BestCompression)
		_, _ = zw.Write(b)
		_ = zw.Close()
		raw += int64(len(b))
		gz += cw.n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("embedded console: %d bytes, %d bytes gzip (%.1f KiB; limit 1024 KiB)", raw, gz, float64(gz)/1024)
	if gz > 1<<20 {
		t.Errorf("the console adds %d bytes gzip to the binary, more than 1 MiB", gz)
	}
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func TestHandler(t *testing.T) {
	files := fstest.MapFS{
		"index.html":         {Data: []byte("<!doctype html><title>console</title>")},
		"favicon.svg":        {Data: []byte("<svg/>")},
		"assets/index-1.js":  {Data: []byte("console.log(1)")},
		"assets/index-1.css": {Data: []byte("body{}")},
	}
	h := handlerFor(files)
	cases := []struct {
		name, method, path string
		code               int
		body, cache, csp   string
	}{
		{"root is the app", "GET", "/", 200, "<title>console</title>", "no-cache", "default-src 'self'"},
		{"a client route is the app", "GET", "/apps/wp1", 200, "<title>console</title>", "no-cache", "default-src 'self'"},
		{"a nested client route is the app", "GET", "/operations/42", 200, "<title>console</title>", "no-cache", ""},
		{"index.html itself", "GET", "/index.html", 200, "<title>console</title>", "no-cache", ""},
		{"a hashed asset is cached for good", "GET", "/assets/index-1.js", 200, "console.log(1)", "public, max-age=31536000, immutable", ""},
		{"another file is revalidated", "GET", "/favicon.svg", 200, "<svg/>", "no-cache", ""},
		{"a missing asset is a 404", "GET", "/assets/index-0.js", 404, "", "", ""},
		{"a missing file is a 404", "GET", "/robots.txt", 404, "", "", ""},
		{"HEAD works", "HEAD", "/apps", 200, "", "no-cache", ""},
		{"POST is refused", "POST", "/apps", 405, "", "", ""},
		{"dot-dot stays inside: the app, no host file", "GET", "/../../etc/passwd", 200, "<title>console</title>", "no-cache", ""},
		{"dot-dot to an asset", "GET", "/x/../assets/index-1.css", 200, "body{}", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
			if rec.Code != c.code {
				t.Fatalf("%s %s: %d, want %d", c.method, c.path, rec.Code, c.code)
			}
			if !strings.Contains(rec.Body.String(), c.body) {
				t.Errorf("body %q does not contain %q", rec.Body.String(), c.body)
			}
			if c.cache != "" && rec.Header().Get("Cache-Control") != c.cache {
				t.Errorf("Cache-Control %q, want %q", rec.Header().Get("Cache-Control"), c.cache)
			}
			if c.csp != "" && !strings.Contains(rec.Header().Get("Content-Security-Policy"), c.csp) {
				t.Errorf("CSP %q, want it to contain %q", rec.Header().Get("Content-Security-Policy"), c.csp)
			}
		})
	}
}

func TestHandlerNotBuilt(t *testing.T) {
	rec := httptest.NewRecorder()
	handlerFor(nil).ServeHTTP(rec, httptest.NewRequest("GET", "/apps", nil))
	body, _ := io.ReadAll(rec.Result().Body)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(string(body), "make build") {
		t.Fatalf("without a build: %d %q, want 503 saying to run make build", rec.Code, body)
	}
}

// TestBuiltIndex checks the built index.html loads only local files.
func TestBuiltIndex(t *testing.T) {
	files := requireBuilt(t)
	b, err := fs.ReadFile(files, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"http://", "https://", "//cdn", "fonts.googleapis"} {
		if strings.Contains(string(b), bad) {
			t.Errorf("index.html refers to %q:\n%s", bad, b)
		}
	}
}
