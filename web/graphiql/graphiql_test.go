package graphiql

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"html"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

// requireAssets skips when the vendor files were never fetched, except on CI
// where `make web-assets` runs first and their absence is a failure.
func requireAssets(t *testing.T) {
	t.Helper()
	err := CheckAssets()
	if err == nil {
		return
	}
	pins, perr := pinnedChecksums()
	if perr != nil {
		t.Fatal(perr)
	}
	absent := true
	for name := range pins {
		if _, serr := fs.Stat(embeddedVendor(), name); serr == nil {
			absent = false
		}
	}
	if absent && os.Getenv("CI") == "" {
		t.Skipf("GraphiQL vendor assets not fetched (run `make web-assets`): %v", err)
	}
	t.Fatalf("GraphiQL vendor assets: %v", err)
}

func TestPinnedChecksumsNameTheExpectedFiles(t *testing.T) {
	pins, err := pinnedChecksums()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"graphiql.min.js", "graphiql.min.css", "react.production.min.js", "react-dom.production.min.js"}
	if len(pins) != len(want) {
		t.Fatalf("checksums.sha256 has %d entries, want %d", len(pins), len(want))
	}
	script, err := os.ReadFile("fetch-assets.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range want {
		if _, ok := pins[name]; !ok {
			t.Errorf("checksums.sha256 lacks %s", name)
		}
		if !strings.Contains(string(script), "\t\""+name+" ") {
			t.Errorf("fetch-assets.sh does not fetch %s", name)
		}
	}
}

// The SRI strings gqlgen's playground pins for the same releases: a second,
// independent source for the two GraphiQL files.
func TestPinsAgreeWithUpstreamSRI(t *testing.T) {
	pins, err := pinnedChecksums()
	if err != nil {
		t.Fatal(err)
	}
	sri := map[string]string{
		"graphiql.min.js":  "sha256-hnImuor1znlJkD/FOTL3jayfS/xsyNoP04abi8bFJWs=",
		"graphiql.min.css": "sha256-MEh+B2NdMSpj9kexQNN3QKc8UzMrCXW/Sx/phcpuyIU=",
	}
	for name, want := range sri {
		raw, err := hex.DecodeString(pins[name])
		if err != nil {
			t.Fatal(err)
		}
		if got := "sha256-" + base64.StdEncoding.EncodeToString(raw); got != want {
			t.Errorf("%s: pinned %s, upstream SRI %s", name, got, want)
		}
	}
}

func TestEmbeddedAssetsMatchPinnedChecksums(t *testing.T) {
	pins, err := pinnedChecksums()
	if err != nil {
		t.Fatal(err)
	}
	vendor := embeddedVendor()
	var absent []string
	for name, want := range pins {
		body, err := fs.ReadFile(vendor, name)
		if errors.Is(err, fs.ErrNotExist) {
			absent = append(absent, name)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(body)
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("embedded %s: SHA-256 %s, pinned %s", name, got, want)
		}
	}
	switch {
	case len(absent) == len(pins) && os.Getenv("CI") == "":
		t.Skip("GraphiQL vendor assets not fetched (run `make web-assets`)")
	case len(absent) > 0:
		t.Errorf("vendor assets not embedded: %v (run `make web-assets`)", absent)
	}
}

func TestMissingAssetsAnswer503(t *testing.T) {
	pins, err := pinnedChecksums()
	if err != nil {
		t.Fatal(err)
	}
	tampered := fstest.MapFS{}
	for name := range pins {
		tampered[name] = &fstest.MapFile{Data: []byte("not the pinned file")}
	}
	tests := []struct {
		name     string
		vendor   fs.FS
		wantText string
	}{
		{"absent", fstest.MapFS{"README.md": {Data: []byte("placeholder")}}, "not embedded: graphiql.min.css, graphiql.min.js"},
		{"tampered", tampered, "SHA-256 differs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := loadAssets(tt.vendor).err; !errors.Is(err, ErrAssetsMissing) {
				t.Fatalf("loadAssets error = %v, want ErrAssetsMissing", err)
			}
			srv := httptest.NewServer(newHandler(Options{}, tt.vendor))
			defer srv.Close()
			for _, path := range []string{"/graphiql", "/graphiql/assets/graphiql.min.js"} {
				status, _, body := get(t, srv.URL+path, nil)
				if status != http.StatusServiceUnavailable {
					t.Errorf("GET %s: status %d, want 503", path, status)
				}
				if !strings.Contains(body, "make web-assets") || !strings.Contains(body, tt.wantText) {
					t.Errorf("GET %s: body %q lacks %q and the make target", path, body, tt.wantText)
				}
			}
		})
	}
}

var (
	refPattern = regexp.MustCompile(`(?:src|href)="([^"]+)" integrity="([^"]+)"`)
	urlPattern = regexp.MustCompile(`(?i)\b(?:https?|wss?):(?://|\\/\\/)([^/"'\s<>\\]+)`)
)

func TestPageIsSelfContainedWithStrictCSP(t *testing.T) {
	requireAssets(t)
	srv := httptest.NewServer(Handler(Options{Title: "Test <IDE>"}))
	defer srv.Close()

	status, hdr, page := get(t, srv.URL+"/graphiql", nil)
	if status != http.StatusOK {
		t.Fatalf("GET /graphiql: status %d: %s", status, page)
	}
	if ct := hdr.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := hdr.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("page Cache-Control %q, want no-cache", cc)
	}
	csp := hdr.Get("Content-Security-Policy")
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, directive := range []string{
		"default-src 'self'", "script-src 'self';", "object-src 'none'", "img-src 'self' data:;",
		"connect-src 'self' ws://" + host + " wss://" + host + ";", "frame-ancestors 'none'",
	} {
		if !strings.Contains(csp+";", directive) {
			t.Errorf("CSP %q lacks %q", csp, directive)
		}
	}
	// Only styles may be inline (see contentSecurityPolicy); nothing else
	// may be unsafe or a wildcard.
	if strings.Count(csp, "unsafe-") != 1 || !strings.Contains(csp, "style-src 'self' 'unsafe-inline';") || strings.Contains(csp, "*") {
		t.Errorf("CSP %q is not strict", csp)
	}

	// No URL to any other host, and no inline script for the CSP to block.
	for _, m := range urlPattern.FindAllStringSubmatch(page, -1) {
		if m[1] != host {
			t.Errorf("page references another host: %s", m[0])
		}
	}
	if strings.Contains(page, "<script>") || regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]+</script>`).MatchString(page) {
		t.Error("page has an inline script")
	}
	if !strings.Contains(page, "<title>Test &lt;IDE&gt;</title>") {
		t.Error("title not rendered (escaped)")
	}
	if !strings.Contains(page, `data-endpoint="/graphql"`) {
		t.Error("endpoint not passed to the boot script")
	}

	refs := refPattern.FindAllStringSubmatch(page, -1)
	wantRefs := []string{"graphiql.min.css", "page.css", "react.production.min.js", "react-dom.production.min.js", "graphiql.min.js", "boot.js"}
	if len(refs) != len(wantRefs) {
		t.Fatalf("page references %d assets, want %d: %v", len(refs), len(wantRefs), refs)
	}
	for i, ref := range refs {
		u, sri := html.UnescapeString(ref[1]), html.UnescapeString(ref[2])
		if !strings.HasPrefix(u, "/graphiql/assets/"+wantRefs[i]+"?v=") {
			t.Errorf("asset %d is %s, want %s with a version", i, u, wantRefs[i])
			continue
		}
		status, hdr, body := get(t, srv.URL+u, nil)
		if status != http.StatusOK {
			t.Errorf("GET %s: status %d", u, status)
			continue
		}
		wantCT := "text/javascript; charset=utf-8"
		if strings.HasSuffix(wantRefs[i], ".css") {
			wantCT = "text/css; charset=utf-8"
		}
		if ct := hdr.Get("Content-Type"); ct != wantCT {
			t.Errorf("GET %s: Content-Type %q, want %q", u, ct, wantCT)
		}
		if cc := hdr.Get("Cache-Control"); cc != immutableCache {
			t.Errorf("GET %s: Cache-Control %q, want %q", u, cc, immutableCache)
		}
		if hdr.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", u)
		}
		sum := sha256.Sum256([]byte(body))
		if got := "sha256-" + base64.StdEncoding.EncodeToString(sum[:]); got != sri {
			t.Errorf("GET %s: body hash %s, page integrity %s", u, got, sri)
		}

		// Conditional requests revalidate cheaply.
		status, _, _ = get(t, srv.URL+u, http.Header{"If-None-Match": {hdr.Get("ETag")}})
		if status != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match: status %d, want 304", u, status)
		}
	}
}

func TestAssetRoutes(t *testing.T) {
	requireAssets(t)
	srv := httptest.NewServer(Handler(Options{BasePath: "/tools/gql/", Endpoint: "/api/graphql"}))
	defer srv.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	tests := []struct {
		name, path   string
		wantStatus   int
		wantCache    string
		wantLocation string
	}{
		{"page at the base path", "/tools/gql", http.StatusOK, "no-cache", ""},
		{"trailing slash redirects", "/tools/gql/", http.StatusMovedPermanently, "", "/tools/gql"},
		{"asset without version revalidates", "/tools/gql/assets/boot.js", http.StatusOK, "no-cache", ""},
		{"asset with a stale version revalidates", "/tools/gql/assets/graphiql.min.js?v=0000", http.StatusOK, "no-cache", ""},
		{"placeholder README is not served", "/tools/gql/assets/README.md", http.StatusNotFound, "", ""},
		{"unknown asset", "/tools/gql/assets/nope.js", http.StatusNotFound, "", ""},
		{"no directory listing", "/tools/gql/assets/", http.StatusNotFound, "", ""},
		{"default base path is not served", "/graphiql", http.StatusNotFound, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := noRedirect.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantCache != "" && resp.Header.Get("Cache-Control") != tt.wantCache {
				t.Errorf("Cache-Control %q, want %q", resp.Header.Get("Cache-Control"), tt.wantCache)
			}
			if tt.wantLocation != "" && resp.Header.Get("Location") != tt.wantLocation {
				t.Errorf("Location %q, want %q", resp.Header.Get("Location"), tt.wantLocation)
			}
			if tt.path == "/tools/gql" {
				if !strings.Contains(string(body), `data-endpoint="/api/graphql"`) ||
					!strings.Contains(string(body), `src="/tools/gql/assets/boot.js?v=`) {
					t.Errorf("page does not use the configured paths:\n%s", body)
				}
			}
		})
	}

	// POST is not a way to the page.
	resp, err := http.Post(srv.URL+"/tools/gql", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", resp.StatusCode)
	}
}

func TestHandlerRejectsBadPaths(t *testing.T) {
	for _, opts := range []Options{
		{BasePath: "graphiql"},
		{BasePath: "/graph iql"},
		{BasePath: "/{x}"},
		{Endpoint: "https://other.example/graphql"},
		{Endpoint: "//other.example/graphql"},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Handler(%+v) did not panic", opts)
				}
			}()
			Handler(opts)
		}()
	}
}

func TestCSPIgnoresUnsafeHost(t *testing.T) {
	tests := []struct {
		host, wantConnect string
	}{
		{"127.0.0.1:8080", "connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080;"},
		{"[::1]:80", "connect-src 'self' ws://[::1]:80 wss://[::1]:80;"},
		{"apps.example.com", "connect-src 'self' ws://apps.example.com wss://apps.example.com;"},
		{"evil; script-src *", "connect-src 'self';"},
		{"a b", "connect-src 'self';"},
	}
	for _, tt := range tests {
		if csp := contentSecurityPolicy(tt.host) + ";"; !strings.Contains(csp, tt.wantConnect) {
			t.Errorf("host %q: CSP %q lacks %q", tt.host, csp, tt.wantConnect)
		}
	}
}

func get(t *testing.T, url string, hdr http.Header) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	maps.Copy(req.Header, hdr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(body)
}
