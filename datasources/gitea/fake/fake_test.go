package fake

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Expected ids computed with git itself (git write-tree, hash-object, commit)
// for the same files, author and date.
func TestGitObjectIDs(t *testing.T) {
	compose := []byte("services: {}\n")
	if got, want := blobSHA(compose), "ad189ddbec905274478cedb2ae508abbdb4caeb0"; got != want {
		t.Fatalf("blob sha = %s, want %s", got, want)
	}
	files := map[string]string{
		"docker-compose.yml": blobSHA(compose),
		".env":               blobSHA([]byte("A=1\n")),
		"sub/file.txt":       blobSHA([]byte("x")),
	}
	if got, want := treeSHA(files), "8de992885e92d0a6fe6069472a533a7880e12855"; got != want {
		t.Fatalf("tree sha = %s, want %s", got, want)
	}
	sig := signature{Name: "admin", Email: "admin@example.com", When: time.Unix(1700000000, 0)}
	c := newCommit(files, nil, sig, sig, "Initial commit")
	if want := "96defb32eb34c0ca2f3822f676b95062cc31e266"; c.SHA != want {
		t.Fatalf("commit sha = %s, want %s", c.SHA, want)
	}
	if got := treeSHA(map[string]string{}); got != "4b825dc642cb6eb9a060e54bf8d69288fbee4904" {
		t.Fatalf("empty tree sha = %s", got)
	}
}

func do(t *testing.T, method, url, auth string, body any) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestAPIErrors(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	tok := "token " + s.Token(AdminUser)
	api := s.APIURL()
	other := s.AddUser(User{Login: "bob"})

	// Seed one repo with a file.
	if r, b := do(t, "POST", api+"/user/repos", tok, map[string]any{"name": "app", "private": true}); r.StatusCode != 201 {
		t.Fatalf("create: %d %s", r.StatusCode, b)
	}
	enc := base64.StdEncoding.EncodeToString
	if r, b := do(t, "POST", api+"/repos/admin/app/contents", tok, map[string]any{"branch": "main", "files": []map[string]string{
		{"operation": "create", "path": "a.txt", "content": enc([]byte("a"))}}}); r.StatusCode != 201 {
		t.Fatalf("commit: %d %s", r.StatusCode, b)
	}

	tests := []struct {
		name       string
		method     string
		path       string
		auth       string
		body       any
		wantStatus int
		wantMsg    string
	}{
		{"no token", "POST", "/user/repos", "", map[string]any{"name": "x"}, 401, "token is required"},
		{"bad token", "GET", "/user", "token nope", nil, 401, "invalid username, password or token"},
		{"duplicate repo, other case", "POST", "/user/repos", tok, map[string]any{"name": "App"}, 409, "The repository with the same name already exists."},
		{"bad name chars", "POST", "/user/repos", tok, map[string]any{"name": "a b"}, 422, "[Name]: AlphaDashDot"},
		{"reserved suffix", "POST", "/user/repos", tok, map[string]any{"name": "x.git"}, 422, "name pattern is not allowed [pattern: *.git]"},
		{"reserved name", "POST", "/user/repos", tok, map[string]any{"name": "-"}, 422, "name is reserved [name: -]"},
		{"too long", "POST", "/user/repos", tok, map[string]any{"name": strings.Repeat("a", 101)}, 422, "[Name]: MaxSize"},
		{"file exists", "POST", "/repos/admin/app/contents/a.txt", tok, map[string]any{"content": enc([]byte("b"))}, 422, "repository file already exists [path: a.txt]"},
		{"sha mismatch", "PUT", "/repos/admin/app/contents/a.txt", tok, map[string]any{"content": enc([]byte("b")), "sha": "abc"}, 422,
			"sha does not match [given: abc, expected: " + blobSHA([]byte("a")) + "]"},
		{"put without sha on existing file", "PUT", "/repos/admin/app/contents/a.txt", tok, map[string]any{"content": enc([]byte("b"))}, 422, "repository file already exists [path: a.txt]"},
		{"batch is all or nothing", "POST", "/repos/admin/app/contents", tok, map[string]any{"files": []map[string]string{
			{"operation": "create", "path": "new.txt", "content": enc([]byte("n"))},
			{"operation": "create", "path": "a.txt", "content": enc([]byte("n"))}}}, 422, "repository file already exists [path: a.txt]"},
		{"delete missing file", "DELETE", "/repos/admin/app/contents/zzz", tok, map[string]any{"sha": "abc"}, 404, "repository file does not exist [path: zzz]"},
		{"missing branch", "POST", "/repos/admin/app/contents/b.txt", tok, map[string]any{"content": enc([]byte("b")), "branch": "dev"}, 404, "branch does not exist [name: dev]"},
		{"invalid base64", "POST", "/repos/admin/app/contents/b.txt", tok, map[string]any{"content": "%%%"}, 422, "illegal base64 data"},
		{"private repo hidden from others", "GET", "/repos/admin/app", "token " + other.Token, nil, 404, "not found"},
		{"private repo hidden from anonymous", "GET", "/repos/admin/app", "", nil, 404, "not found"},
		{"other user cannot write", "POST", "/orgs/nobody/repos", "token " + other.Token, map[string]any{"name": "x"}, 404, "not found"},
		{"basic auth with password", "GET", "/repos/admin/app", basic(AdminUser, AdminPassword), nil, 200, ""},
		{"basic auth with token as user", "GET", "/repos/admin/app", basic(s.Token(AdminUser), ""), nil, 200, ""},
		{"basic auth wrong password", "GET", "/repos/admin/app", basic(AdminUser, "wrong"), nil, 401, "invalid username, password or token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, b := do(t, tt.method, api+tt.path, tt.auth, tt.body)
			if r.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.StatusCode, tt.wantStatus, b)
			}
			if tt.wantMsg == "" {
				return
			}
			var e struct {
				Message string `json:"message"`
				URL     string `json:"url"`
			}
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("error body %q: %v", b, err)
			}
			if !strings.Contains(e.Message, tt.wantMsg) || e.URL != s.URL()+"/api/swagger" {
				t.Fatalf("body %s, want message containing %q and swagger url", b, tt.wantMsg)
			}
		})
	}
	if got := s.Files("admin", "app", ""); len(got) != 1 {
		t.Fatalf("failed batch left changes behind: %v", got)
	}
	if s.Commits("admin", "app") != 1 {
		t.Fatalf("commits = %d, want 1", s.Commits("admin", "app"))
	}
}

func TestEmptyRepoReads(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	tok := "token " + s.Token(AdminUser)
	api := s.APIURL()
	do(t, "POST", api+"/user/repos", tok, map[string]any{"name": "empty"})
	for _, p := range []string{"/repos/admin/empty/raw/a.txt", "/repos/admin/empty/contents/a.txt"} {
		if r, b := do(t, "GET", api+p, tok, nil); r.StatusCode != 404 {
			t.Fatalf("%s: %d %s", p, r.StatusCode, b)
		}
	}
	if r, b := do(t, "GET", api+"/repos/admin/empty/commits", tok, nil); r.StatusCode != 409 || !strings.Contains(string(b), "Git Repository is empty.") {
		t.Fatalf("commits on empty repo: %d %s", r.StatusCode, b)
	}
}

// The clone protocol the fake Portainer relies on (see the contract in the
// package docs): ref discovery and raw fetch by commit.
func TestSmartHTTP(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	tok := s.Token(AdminUser)
	api := s.APIURL()
	do(t, "POST", api+"/user/repos", "token "+tok, map[string]any{"name": "app", "private": true})
	r, b := do(t, "POST", api+"/repos/admin/app/contents", "token "+tok, map[string]any{"branch": "main", "files": []map[string]string{
		{"operation": "create", "path": "docker-compose.yml", "content": base64.StdEncoding.EncodeToString([]byte("services: {}\n"))}}})
	if r.StatusCode != 201 {
		t.Fatalf("commit: %d %s", r.StatusCode, b)
	}
	head := s.Branch("admin", "app", "main")

	refs := s.URL() + "/admin/app.git/info/refs?service=git-upload-pack"
	r, _ = do(t, "GET", refs, "", nil)
	if r.StatusCode != 401 || r.Header.Get("WWW-Authenticate") != `Basic realm="Gitea"` {
		t.Fatalf("anonymous info/refs on private repo: %d %v", r.StatusCode, r.Header)
	}
	r, b = do(t, "GET", refs, basic(AdminUser, tok), nil)
	if r.StatusCode != 200 || r.Header.Get("Content-Type") != "application/x-git-upload-pack-advertisement" {
		t.Fatalf("info/refs: %d %v %s", r.StatusCode, r.Header, b)
	}
	lines := parsePkt(t, string(b))
	if lines[0] != "# service=git-upload-pack\n" || lines[1] != "" {
		t.Fatalf("service header: %q", lines[:2])
	}
	if !strings.HasPrefix(lines[2], head+" HEAD\x00") || !strings.Contains(lines[2], "symref=HEAD:refs/heads/main") {
		t.Fatalf("HEAD line: %q", lines[2])
	}
	if lines[3] != head+" refs/heads/main\n" || lines[4] != "" {
		t.Fatalf("refs: %q", lines[3:])
	}
	if r, _ := do(t, "GET", s.URL()+"/admin/nope.git/info/refs?service=git-upload-pack", basic(AdminUser, tok), nil); r.StatusCode != 404 {
		t.Fatalf("missing repo: %d", r.StatusCode)
	}

	raw := s.URL() + "/admin/app/raw/commit/" + head + "/docker-compose.yml"
	if r, b = do(t, "GET", raw, basic(AdminUser, AdminPassword), nil); r.StatusCode != 200 || string(b) != "services: {}\n" {
		t.Fatalf("raw by commit: %d %q", r.StatusCode, b)
	}
	if r, _ = do(t, "GET", s.URL()+"/admin/app/raw/commit/"+head+"/missing.yml", basic(AdminUser, tok), nil); r.StatusCode != 404 {
		t.Fatalf("raw missing file: %d", r.StatusCode)
	}
	if r, _ = do(t, "GET", raw, "", nil); r.StatusCode != 404 {
		t.Fatalf("raw anonymous on private repo: %d", r.StatusCode)
	}
}

func parsePkt(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	for len(s) > 0 {
		if len(s) < 4 {
			t.Fatalf("short pkt-line: %q", s)
		}
		var n int
		for _, c := range s[:4] {
			n <<= 4
			switch {
			case c >= '0' && c <= '9':
				n += int(c - '0')
			case c >= 'a' && c <= 'f':
				n += int(c-'a') + 10
			default:
				t.Fatalf("bad pkt length %q", s[:4])
			}
		}
		if n == 0 {
			out = append(out, "")
			s = s[4:]
			continue
		}
		out = append(out, s[4:n])
		s = s[n:]
	}
	return out
}
