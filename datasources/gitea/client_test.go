package gitea_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appmanage/appmanage/datasources/gitea"
	"github.com/appmanage/appmanage/datasources/gitea/fake"
	"github.com/appmanage/appmanage/datasources/suite"
	"github.com/appmanage/appmanage/datasources/upstream"
)

// gitBlob is git's blob id, what Gitea reports as a file's sha.
func gitBlob(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func newClient(t *testing.T, cfg gitea.Config) *gitea.Client {
	t.Helper()
	c, err := gitea.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  gitea.Config
	}{
		{"no url", gitea.Config{Token: "t"}},
		{"not http", gitea.Config{BaseURL: "ftp://x", Token: "t"}},
		{"no credentials", gitea.Config{BaseURL: "http://gitea:3000"}},
		{"user without password", gitea.Config{BaseURL: "http://gitea:3000", Username: "u"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := gitea.New(tt.cfg); err == nil {
				t.Fatal("want error")
			}
		})
	}
	// A bad URL's error must not repeat a password it carries.
	for _, u := range []string{"htp://admin:s3cr3t-pw@gitea:3000", "http://admin:s3cr3t-pw@gitea:3000/%zz"} {
		if _, err := gitea.New(gitea.Config{BaseURL: u, Token: "t"}); err == nil || strings.Contains(err.Error(), "s3cr3t-pw") {
			t.Fatalf("New(%q) error = %v; want an error without the password", "<url with password>", err)
		}
	}
	c, err := gitea.New(gitea.Config{BaseURL: "http://gitea:3000/api/v1/", Token: "t", Owner: "apps"})
	if err != nil {
		t.Fatalf("New with /api/v1 suffix: %v", err)
	}
	// (The client is not printed: it holds the Authorization value.)
	if c.BaseURL() != "http://gitea:3000" || c.Owner() != "apps" {
		t.Fatalf("New with /api/v1 suffix: base %q owner %q", c.BaseURL(), c.Owner())
	}
}

func TestRepoLifecycle(t *testing.T) {
	cfg, tgt := suite.Gitea(t)
	c := newClient(t, cfg)
	ctx := ctxT(t)
	name := suite.Prefix(t)
	tgt.Cleanup(t, c, name)

	r, err := c.CreateRepo(ctx, name, gitea.CreateRepoOptions{Description: "test"})
	if err != nil {
		t.Fatalf("CreateRepo: %v", err)
	}
	owner := c.Owner()
	if owner == "" || !strings.EqualFold(r.Owner, owner) || r.Name != name || r.FullName != r.Owner+"/"+name {
		t.Fatalf("identity: %+v (owner %q)", r, owner)
	}
	if !r.Private || !r.Empty || r.DefaultBranch != "main" || r.ID == 0 {
		t.Fatalf("defaults: %+v", r)
	}
	if !strings.HasSuffix(r.CloneURL, "/"+r.FullName+".git") || !strings.HasSuffix(r.HTMLURL, "/"+r.FullName) {
		t.Fatalf("urls: %s %s", r.CloneURL, r.HTMLURL)
	}
	if tgt.Fake != nil && !strings.HasPrefix(r.CloneURL, tgt.Fake.URL()+"/") {
		t.Fatalf("clone url %s not built from the server URL %s", r.CloneURL, tgt.Fake.URL())
	}
	if r.CreatedAt.IsZero() || r.UpdatedAt.IsZero() {
		t.Fatalf("dates: %+v", r)
	}

	got, err := c.GetRepo(ctx, name)
	if err != nil || got.ID != r.ID || got.CloneURL != r.CloneURL {
		t.Fatalf("GetRepo: %+v %v", got, err)
	}
	// Lookups are case-insensitive; creation conflicts are too.
	if _, err := c.CreateRepo(ctx, strings.ToUpper(name), gitea.CreateRepoOptions{}); !errors.Is(err, upstream.ErrConflict) {
		t.Fatalf("duplicate CreateRepo: want ErrConflict, got %v", err)
	}
	if _, err := c.CreateRepo(ctx, name+" bad", gitea.CreateRepoOptions{}); upstream.StatusOf(err) != 422 {
		t.Fatalf("bad name: want 422, got %v", err)
	}
	if _, err := c.GetRepo(ctx, name+"-missing"); !errors.Is(err, upstream.ErrNotFound) {
		t.Fatalf("GetRepo missing: want ErrNotFound, got %v", err)
	}
	if err := c.DeleteRepo(ctx, name); err != nil {
		t.Fatalf("DeleteRepo: %v", err)
	}
	if _, err := c.GetRepo(ctx, name); !errors.Is(err, upstream.ErrNotFound) {
		t.Fatalf("GetRepo after delete: want ErrNotFound, got %v", err)
	}
	if err := c.DeleteRepo(ctx, name); !errors.Is(err, upstream.ErrNotFound) {
		t.Fatalf("second DeleteRepo: want ErrNotFound, got %v", err)
	}
	var ae *upstream.APIError
	if err := c.DeleteRepo(ctx, name); !errors.As(err, &ae) || ae.Upstream != "gitea" || ae.Status != 404 {
		t.Fatalf("APIError fields: %#v", ae)
	}
}

func TestFilesAndHistory(t *testing.T) {
	cfg, tgt := suite.Gitea(t)
	c := newClient(t, cfg)
	ctx := ctxT(t)
	name := suite.Prefix(t)
	tgt.Cleanup(t, c, name)
	if _, err := c.CreateRepo(ctx, name, gitea.CreateRepoOptions{}); err != nil {
		t.Fatalf("CreateRepo: %v", err)
	}

	// An empty repository: no history, no files.
	if list, err := c.ListCommits(ctx, name, gitea.ListCommitsOptions{}); err != nil || len(list) != 0 {
		t.Fatalf("ListCommits on empty repo: %v %v", list, err)
	}
	if _, err := c.GetRawFile(ctx, name, "docker-compose.yml", ""); !errors.Is(err, upstream.ErrNotFound) {
		t.Fatalf("raw on empty repo: want ErrNotFound, got %v", err)
	}

	compose := []byte("services:\n  web:\n    image: nginx\n")
	env := []byte("A=1\n")
	nested := []byte("hello world\n")
	first, err := c.CommitFiles(ctx, name, gitea.Commit{Branch: "main", Message: "install app", Files: []gitea.FileChange{
		{Operation: gitea.OpCreate, Path: "docker-compose.yml", Content: compose},
		{Operation: gitea.OpCreate, Path: ".env", Content: env},
		{Operation: gitea.OpCreate, Path: "src/config/app.conf", Content: nested},
	}})
	if err != nil {
		t.Fatalf("CommitFiles: %v", err)
	}
	if len(first.SHA) != 40 || first.Created.IsZero() || !strings.HasPrefix(first.Message, "install app") {
		t.Fatalf("commit result: %+v", first)
	}
	if first.Files["docker-compose.yml"] != gitBlob(compose) || first.Files[".env"] != gitBlob(env) || first.Files["src/config/app.conf"] != gitBlob(nested) {
		t.Fatalf("blob shas: %v", first.Files)
	}
	if r, err := c.GetRepo(ctx, name); err != nil || r.Empty || r.DefaultBranch != "main" {
		t.Fatalf("repo after first commit: %+v %v", r, err)
	}
	if tgt.Fake != nil {
		if n := tgt.Fake.Commits(c.Owner(), name); n != 1 {
			t.Fatalf("CommitFiles made %d commits, want 1", n)
		}
	}

	raw, err := c.GetRawFile(ctx, name, "src/config/app.conf", "main")
	if err != nil || string(raw) != string(nested) {
		t.Fatalf("GetRawFile nested: %q %v", raw, err)
	}
	f, err := c.GetFile(ctx, name, "docker-compose.yml", "")
	if err != nil || string(f.Content) != string(compose) || f.SHA != gitBlob(compose) || f.Path != "docker-compose.yml" {
		t.Fatalf("GetFile: %+v %v", f, err)
	}
	if _, err := c.GetFile(ctx, name, "src", ""); !errors.Is(err, gitea.ErrNotFile) {
		t.Fatalf("GetFile on a directory: want ErrNotFile, got %v", err)
	}
	if _, err := c.GetFile(ctx, name, "nope.txt", ""); !errors.Is(err, upstream.ErrNotFound) {
		t.Fatalf("GetFile missing: want ErrNotFound, got %v", err)
	}

	// Second commit: update, delete and create at once.
	compose2 := []byte("services:\n  web:\n    image: nginx:1.27\n")
	second, err := c.CommitFiles(ctx, name, gitea.Commit{Message: "upgrade", Files: []gitea.FileChange{
		{Operation: gitea.OpUpdate, Path: "docker-compose.yml", Content: compose2, SHA: f.SHA},
		{Operation: gitea.OpDelete, Path: ".env", SHA: gitBlob(env)},
		{Operation: gitea.OpCreate, Path: "README.md", Content: []byte("# app\n")},
	}})
	if err != nil {
		t.Fatalf("second CommitFiles: %v", err)
	}
	if _, ok := second.Files[".env"]; ok || second.Files["docker-compose.yml"] != gitBlob(compose2) || second.SHA == first.SHA {
		t.Fatalf("second commit result: %+v", second)
	}
	if _, err := c.GetRawFile(ctx, name, ".env", ""); !errors.Is(err, upstream.ErrNotFound) {
		t.Fatalf("deleted file: want ErrNotFound, got %v", err)
	}
	// History is kept: the first commit still has the old files.
	if old, err := c.GetRawFile(ctx, name, ".env", first.SHA); err != nil || string(old) != string(env) {
		t.Fatalf("raw at first commit: %q %v", old, err)
	}
	// A stale sha is rejected, and nothing is committed.
	_, err = c.CommitFiles(ctx, name, gitea.Commit{Files: []gitea.FileChange{
		{Operation: gitea.OpUpdate, Path: "docker-compose.yml", Content: []byte("x"), SHA: f.SHA},
	}})
	var ae *upstream.APIError
	if !errors.As(err, &ae) || ae.Status != 422 || !strings.Contains(ae.Message, "sha does not match") {
		t.Fatalf("stale sha: want 422 sha does not match, got %v", err)
	}
	_, err = c.CommitFiles(ctx, name, gitea.Commit{Files: []gitea.FileChange{
		{Operation: gitea.OpCreate, Path: "README.md", Content: []byte("x")},
	}})
	if !errors.As(err, &ae) || ae.Status != 422 || !strings.Contains(ae.Message, "already exists") {
		t.Fatalf("create existing: want 422 already exists, got %v", err)
	}

	// Single-file writes.
	cr, err := c.CreateFile(ctx, name, "notes/a.txt", []byte("a\n"), gitea.FileOptions{Message: "add a"})
	if err != nil || cr.Files["notes/a.txt"] != gitBlob([]byte("a\n")) || len(cr.SHA) != 40 {
		t.Fatalf("CreateFile: %+v %v", cr, err)
	}
	if _, err := c.CreateFile(ctx, name, "notes/a.txt", []byte("again"), gitea.FileOptions{}); upstream.StatusOf(err) != 422 {
		t.Fatalf("CreateFile existing: want 422, got %v", err)
	}
	ur, err := c.UpdateFile(ctx, name, "notes/a.txt", []byte("b\n"), gitBlob([]byte("a\n")), gitea.FileOptions{Message: "edit a"})
	if err != nil || ur.Files["notes/a.txt"] != gitBlob([]byte("b\n")) {
		t.Fatalf("UpdateFile: %+v %v", ur, err)
	}
	if _, err := c.UpdateFile(ctx, name, "notes/a.txt", []byte("c"), gitBlob([]byte("a\n")), gitea.FileOptions{}); upstream.StatusOf(err) != 422 {
		t.Fatalf("UpdateFile stale: want 422, got %v", err)
	}
	dr, err := c.DeleteFile(ctx, name, "notes/a.txt", gitBlob([]byte("b\n")), gitea.FileOptions{Message: "drop a"})
	if err != nil || len(dr.SHA) != 40 || len(dr.Files) != 0 {
		t.Fatalf("DeleteFile: %+v %v", dr, err)
	}
	if _, err := c.DeleteFile(ctx, name, "notes/a.txt", gitBlob([]byte("b\n")), gitea.FileOptions{}); !errors.Is(err, upstream.ErrNotFound) {
		t.Fatalf("DeleteFile missing: want ErrNotFound, got %v", err)
	}

	// History, newest first, with paging and a path filter.
	all, err := c.ListCommits(ctx, name, gitea.ListCommitsOptions{})
	if err != nil {
		t.Fatalf("ListCommits: %v", err)
	}
	wantMsgs := []string{"drop a", "edit a", "add a", "upgrade", "install app"}
	var gotMsgs []string
	for _, ci := range all {
		gotMsgs = append(gotMsgs, strings.TrimSpace(ci.Message))
		if len(ci.SHA) != 40 || ci.Created.IsZero() || ci.Author == "" {
			t.Fatalf("commit info: %+v", ci)
		}
	}
	if !slices.Equal(gotMsgs, wantMsgs) {
		t.Fatalf("history %q, want %q", gotMsgs, wantMsgs)
	}
	if all[0].SHA != dr.SHA || all[4].SHA != first.SHA {
		t.Fatalf("history shas do not match the writes")
	}
	page2, err := c.ListCommits(ctx, name, gitea.ListCommitsOptions{Page: 2, Limit: 2})
	if err != nil || len(page2) != 2 || page2[0].SHA != all[2].SHA {
		t.Fatalf("page 2: %+v %v", page2, err)
	}
	byPath, err := c.ListCommits(ctx, name, gitea.ListCommitsOptions{Path: "docker-compose.yml"})
	if err != nil || len(byPath) != 2 || byPath[0].SHA != second.SHA || byPath[1].SHA != first.SHA {
		t.Fatalf("path filter: %+v %v", byPath, err)
	}
	fromFirst, err := c.ListCommits(ctx, name, gitea.ListCommitsOptions{SHA: first.SHA})
	if err != nil || len(fromFirst) != 1 {
		t.Fatalf("from first commit: %+v %v", fromFirst, err)
	}

	if v, err := c.Version(ctx); err != nil || v == "" {
		t.Fatalf("Version: %q %v", v, err)
	}
}

func TestCommitToEmptyRepoOnOtherBranch(t *testing.T) {
	cfg, tgt := suite.Gitea(t)
	c := newClient(t, cfg)
	ctx := ctxT(t)
	name := suite.Prefix(t)
	tgt.Cleanup(t, c, name)
	if _, err := c.CreateRepo(ctx, name, gitea.CreateRepoOptions{DefaultBranch: "stable", AutoInit: true}); err != nil {
		t.Fatalf("CreateRepo: %v", err)
	}
	r, err := c.GetRepo(ctx, name)
	if err != nil || r.Empty || r.DefaultBranch != "stable" {
		t.Fatalf("auto-init repo: %+v %v", r, err)
	}
	if _, err := c.CommitFiles(ctx, name, gitea.Commit{Branch: "missing", Files: []gitea.FileChange{
		{Operation: gitea.OpCreate, Path: "x", Content: []byte("x")},
	}}); !errors.Is(err, upstream.ErrNotFound) {
		t.Fatalf("commit to a missing branch: want ErrNotFound, got %v", err)
	}
}

func TestOwnerIsOrganisation(t *testing.T) {
	suite.FakeOnly(t) // needs an organisation the test may create repositories in
	cfg, tgt := suite.Gitea(t, suite.WithGiteaOrg("apps"))
	c := newClient(t, cfg)
	ctx := ctxT(t)
	for _, n := range []string{"one", "two"} {
		r, err := c.CreateRepo(ctx, n, gitea.CreateRepoOptions{})
		if err != nil || r.Owner != "apps" || r.FullName != "apps/"+n {
			t.Fatalf("CreateRepo in org: %+v %v", r, err)
		}
	}
	in := tgt.Fake.Faults
	if in.Calls(fake.RouteOrg) != 1 || in.Calls(fake.RouteCreateOrgRepo) != 2 || in.Calls(fake.RouteCreateUserRepo) != 0 {
		t.Fatalf("calls: %v", in.AllCalls())
	}
	if got := tgt.Fake.RepoNames(); !slices.Equal(got, []string{"apps/one", "apps/two"}) {
		t.Fatalf("repos: %v", got)
	}
	// A user who is not a member cannot create there.
	bob := tgt.Fake.AddUser(fake.User{Login: "bob"})
	cfg.Token = bob.Token
	if _, err := newClient(t, cfg).CreateRepo(ctx, "three", gitea.CreateRepoOptions{}); !errors.Is(err, upstream.ErrUnauthorized) {
		t.Fatalf("non-member: want ErrUnauthorized (403), got %v", err)
	}
}

func TestOwnerDefaultsToTokenUser(t *testing.T) {
	cfg, tgt := suite.Gitea(t)
	cfg.Owner = ""
	c := newClient(t, cfg)
	if c.Owner() != "" {
		t.Fatalf("owner before any call: %q", c.Owner())
	}
	ctx := ctxT(t)
	name := suite.Prefix(t)
	tgt.Cleanup(t, c, name)
	r, err := c.CreateRepo(ctx, name, gitea.CreateRepoOptions{})
	if err != nil {
		t.Fatalf("CreateRepo: %v", err)
	}
	if c.Owner() == "" || r.Owner != c.Owner() {
		t.Fatalf("owner %q, repo owner %q", c.Owner(), r.Owner)
	}
	if tgt.Fake != nil && tgt.Fake.Faults.Calls(fake.RouteUser) != 1 {
		t.Fatalf("GET /user calls: %d", tgt.Fake.Faults.Calls(fake.RouteUser))
	}
}

func TestBasicAuth(t *testing.T) {
	suite.FakeOnly(t) // a real run has only a token
	cfg, _ := suite.Gitea(t)
	cfg.Token, cfg.Username, cfg.Password = "", fake.AdminUser, fake.AdminPassword
	c := newClient(t, cfg)
	ctx := ctxT(t)
	if _, err := c.CreateRepo(ctx, "basic", gitea.CreateRepoOptions{}); err != nil {
		t.Fatalf("CreateRepo with basic auth: %v", err)
	}
	cfg.Password = "wrong"
	if _, err := newClient(t, cfg).GetRepo(ctx, "basic"); !errors.Is(err, upstream.ErrUnauthorized) {
		t.Fatalf("wrong password: want ErrUnauthorized, got %v", err)
	}
	cfg.Username, cfg.Password, cfg.Token = "", "", "not-a-token"
	if _, err := newClient(t, cfg).GetRepo(ctx, "basic"); !errors.Is(err, upstream.ErrUnauthorized) {
		t.Fatalf("bad token: want ErrUnauthorized, got %v", err)
	}
}

func TestObserverSeesRouteTemplates(t *testing.T) {
	cfg, tgt := suite.Gitea(t)
	var (
		mu   sync.Mutex
		seen []string
	)
	cfg.Observer = func(ci upstream.CallInfo) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, fmt.Sprintf("%s %s %s %d", ci.Upstream, ci.Method, ci.Route, ci.Status))
	}
	c := newClient(t, cfg)
	ctx := ctxT(t)
	name := suite.Prefix(t)
	tgt.Cleanup(t, c, name)
	if _, err := c.GetRepo(ctx, name); !errors.Is(err, upstream.ErrNotFound) {
		t.Fatalf("GetRepo: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(seen, "gitea GET /repos/{owner}/{repo} 404") {
		t.Fatalf("observer saw %v", seen)
	}
}
