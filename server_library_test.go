package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// A configuration that cannot work is refused before anything is written:
// no database, no admin.key, not even the data folder.
func TestBadLibraryWritesNothing(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(tmp, "empty")
	if err := os.MkdirAll(filepath.Join(empty, "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	samples, err := filepath.Abs("../shared/library-samples")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing library dir", []string{"--library-dir", filepath.Join(tmp, "missing")}, "no such file"},
		{"library dir is a file", []string{"--library-dir", file}, "not a directory"},
		{"library dir without apps", []string{"--library-dir", empty}, "no app loads"},
		{"missing catalog file", []string{"--library-dir", samples, "--catalog-file", filepath.Join(tmp, "product_en.json")}, "catalog file"},
		{"bad registry mirrors", []string{"--registry-mirrors", "docker.io"}, "--registry-mirrors"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			var stderr syncBuffer
			args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", data}, tc.args...)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			code := run(ctx, args, io.Discard, &stderr, func(string) string { return "" }, func(net.Addr) {
				t.Error("the server started listening")
				cancel()
			})
			if code != 1 {
				t.Fatalf("exit %d, want 1; log:\n%s", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("log does not say %q:\n%s", tc.want, stderr.String())
			}
			if _, err := os.Stat(data); !errors.Is(err, fs.ErrNotExist) {
				entries, _ := os.ReadDir(data)
				t.Errorf("data dir was written: %v %v", err, entries)
			}
		})
	}
}

// A Websoft9-style library (apps/ + dist/) with a broken folder, started
// with --log-format json: every log line is JSON, nothing is logged twice,
// and the catalog carries the categories and logos of dist/.
func TestLibraryStartupLogsAndCatalog(t *testing.T) {
	samples, err := filepath.Abs("../shared/library-samples")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(samples); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("no %s: %v", samples, err)
		}
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := os.CopyFS(filepath.Join(root, "apps"), os.DirFS(samples)); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "dist", "catalog-fixture"), 0o755))
	must(os.Rename(filepath.Join(root, "apps", "catalog-sample.json"), filepath.Join(root, "dist", "catalog-fixture", "product_en.json")))
	must(os.Rename(filepath.Join(root, "apps", "catalog-tree-sample.json"), filepath.Join(root, "dist", "catalog-fixture", "catalog_en.json")))
	must(os.MkdirAll(filepath.Join(root, "apps", "broken"), 0o755))
	must(os.WriteFile(filepath.Join(root, "apps", "broken", "variables.json"), []byte("{"), 0o644))

	s := startServer(t, "--library-dir", filepath.Join(root, "apps"), "--log-format", "json")
	_, resp := s.gql(t, adminKey, `{ catalog { name logo categories versions defaultVersion } libraryProblems { dir reason } }`, nil)
	var out struct {
		Catalog []struct {
			Name, DefaultVersion string
			Logo                 *string
			Categories, Versions []string
		}
		LibraryProblems []struct{ Dir, Reason string }
	}
	if err := json.Unmarshal(resp.Data, &out); err != nil || len(resp.Errors) > 0 {
		t.Fatalf("%v %v", err, resp.Errors)
	}
	if len(out.Catalog) != 3 {
		t.Fatalf("catalog = %+v", out.Catalog)
	}
	for _, a := range out.Catalog {
		if a.Logo == nil || !strings.HasPrefix(*a.Logo, "https://") || len(a.Categories) == 0 {
			t.Errorf("%s: logo %v categories %v", a.Name, a.Logo, a.Categories)
		}
		if len(a.Versions) == 0 || a.Versions[0] != a.DefaultVersion {
			t.Errorf("%s: versions %v, default %q first", a.Name, a.Versions, a.DefaultVersion)
		}
	}
	if len(out.LibraryProblems) != 1 || out.LibraryProblems[0].Dir != "broken" {
		t.Errorf("libraryProblems = %+v", out.LibraryProblems)
	}

	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s.logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	broken := 0
	for sc.Scan() {
		line := sc.Text()
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("log line is not JSON: %q", line)
			continue
		}
		if m["dir"] == "broken" {
			broken++
		}
		// The same message about the same thing never appears twice.
		delete(m, "time")
		b, _ := json.Marshal(m)
		if slices.Contains(lines, string(b)) && m["msg"] != "http request" {
			t.Errorf("logged twice: %s", b)
		}
		lines = append(lines, string(b))
	}
	if broken != 1 {
		t.Errorf("the broken folder is logged %d times, want once:\n%s", broken, s.logs.String())
	}
}
