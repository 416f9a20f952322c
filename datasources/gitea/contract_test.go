package gitea_test

import (
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/appmanage/appmanage/datasources/contract"
	"github.com/appmanage/appmanage/datasources/gitea"
	giteafake "github.com/appmanage/appmanage/datasources/gitea/fake"
	"github.com/appmanage/appmanage/datasources/suite"
	"github.com/appmanage/appmanage/datasources/upstream"
)

// needed are the answer fields the client reads: required in both modes,
// so a rename to any other name fails.
var needed = []contract.Option{
	contract.Need("ServerVersion", "version"),
	contract.Need("User", "login"),
	contract.Need("Repository", "name", "full_name", "owner", "clone_url", "html_url", "default_branch", "empty"),
	contract.Need("Commit", "sha", "commit"),
	contract.Need("ContentsResponse", "path", "sha"),
	contract.Need("FileCommitResponse", "sha"),
}

// giteaContract is the swagger validator of a contract test and the suite
// options that put it in front of the fake (strict) or, on a real server,
// of the client's transport (fields the spec lacks are tolerated and
// listed, see TestContract). finish reports those fields and fails the
// test on every violation seen.
func giteaContract(t *testing.T) (v *contract.Validator, opts []suite.GiteaOption, finish func()) {
	t.Helper()
	copts := append([]contract.Option{
		// git smart HTTP and the web raw routes are not part of the REST API.
		contract.Ignore(`\.git/info/refs$`, `^/[^/]+/[^/]+/raw/(commit|branch)/`),
	}, needed...)
	if suite.Real() {
		copts = append(copts, contract.ToleratedExtraFields())
	}
	var err error
	v, err = contract.LoadSwagger2(contract.Spec(t, "gitea-swagger.v1.json"), "/api/v1", copts...)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu         sync.Mutex
		violations []error
	)
	report := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		violations = append(violations, err)
	}
	opts = []suite.GiteaOption{suite.WithGiteaServerWrap(contract.Middleware(v, report))}
	if suite.Real() {
		opts = append(opts, suite.WithGiteaTransport(func(rt http.RoundTripper) http.RoundTripper {
			return contract.Transport(v, report, rt)
		}))
	}
	finish = func() {
		t.Helper()
		suite.ReportExtraFields(t, "gitea", v.ExtraFields())
		mu.Lock()
		defer mu.Unlock()
		for _, e := range violations {
			t.Errorf("contract violation: %v", e)
		}
	}
	return v, opts, finish
}

// TestContract drives every client method, including documented errors,
// through a validator of the Gitea v1.26 swagger. On the fake the validator
// wraps the server, so the fake's answers and our requests are both checked,
// strictly: a field the spec lacks fails. On a real server it wraps the
// client's transport, and a field the spec lacks in an answer is normal
// (Gitea 1.25 sends "username" in every user object): it is listed
// (suite.ReportExtraFields), not failed; missing needed or required fields,
// renamed and retyped ones fail.
func TestContract(t *testing.T) {
	v, opts, finish := giteaContract(t)
	var err error
	cfg, tgt := suite.Gitea(t, opts...)
	ctx := ctxT(t)
	c := newClient(t, cfg)
	name := suite.Prefix(t)
	tgt.Cleanup(t, c, name)

	// Each step is a real use of the client; errors are the documented ones.
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	want := func(what string, err error, status int) {
		t.Helper()
		if upstream.StatusOf(err) != status {
			t.Fatalf("%s: want HTTP %d, got %v", what, status, err)
		}
	}
	_, err = c.Version(ctx)
	must("Version", err)
	// The settings' live test (CurrentUser, CheckCreateRepo's empty name).
	_, err = c.CurrentUser(ctx)
	must("CurrentUser", err)
	must("CheckCreateRepo", c.CheckCreateRepo(ctx))
	_, err = c.CreateRepo(ctx, name, gitea.CreateRepoOptions{Description: "contract"})
	must("CreateRepo", err)
	_, err = c.CreateRepo(ctx, name, gitea.CreateRepoOptions{})
	want("CreateRepo duplicate", err, 409)
	_, err = c.CreateRepo(ctx, name+".git", gitea.CreateRepoOptions{})
	want("CreateRepo reserved", err, 422)
	_, err = c.GetRepo(ctx, name)
	must("GetRepo", err)
	_, err = c.GetRepo(ctx, name+"-missing")
	want("GetRepo missing", err, 404)
	list, err := c.ListCommits(ctx, name, gitea.ListCommitsOptions{})
	if err != nil || len(list) != 0 {
		t.Fatalf("ListCommits empty: %v %v", list, err)
	}
	_, err = c.GetRawFile(ctx, name, "docker-compose.yml", "")
	want("GetRawFile on empty repo", err, 404)

	res, err := c.CommitFiles(ctx, name, gitea.Commit{Branch: "main", Message: "install", Files: []gitea.FileChange{
		{Operation: gitea.OpCreate, Path: "docker-compose.yml", Content: []byte("services: {}\n")},
		{Operation: gitea.OpCreate, Path: "src/a/b.txt", Content: []byte("b")},
		{Operation: gitea.OpCreate, Path: ".env", Content: []byte("A=1\n")},
	}})
	must("CommitFiles", err)
	_, err = c.CommitFiles(ctx, name, gitea.Commit{Files: []gitea.FileChange{
		{Operation: gitea.OpUpdate, Path: ".env", Content: []byte("A=2\n"), SHA: res.Files["docker-compose.yml"]},
		{Operation: gitea.OpDelete, Path: "src/a/b.txt", SHA: res.Files["src/a/b.txt"]},
	}})
	want("CommitFiles stale sha", err, 422)
	_, err = c.CommitFiles(ctx, name, gitea.Commit{Files: []gitea.FileChange{
		{Operation: gitea.OpUpdate, Path: ".env", Content: []byte("A=2\n"), SHA: res.Files[".env"]},
		{Operation: gitea.OpDelete, Path: "src/a/b.txt", SHA: res.Files["src/a/b.txt"]},
	}})
	must("CommitFiles update+delete", err)
	f, err := c.GetFile(ctx, name, "docker-compose.yml", "main")
	must("GetFile", err)
	_, err = c.GetRawFile(ctx, name, "docker-compose.yml", res.SHA)
	must("GetRawFile", err)
	_, err = c.ListCommits(ctx, name, gitea.ListCommitsOptions{Path: ".env", Page: 1, Limit: 10})
	must("ListCommits", err)
	_, err = c.CreateFile(ctx, name, "notes/x.md", []byte("x"), gitea.FileOptions{Message: "x"})
	must("CreateFile", err)
	// (GetFile on a directory is left out: Gitea answers with an array there,
	// which its swagger does not document.)
	_, err = c.CreateFile(ctx, name, "notes/x.md", []byte("x"), gitea.FileOptions{})
	want("CreateFile existing", err, 422)
	_, err = c.UpdateFile(ctx, name, "docker-compose.yml", []byte("services: {a: {}}\n"), f.SHA, gitea.FileOptions{Branch: "main"})
	must("UpdateFile", err)
	_, err = c.UpdateFile(ctx, name, "docker-compose.yml", []byte("y"), f.SHA, gitea.FileOptions{})
	want("UpdateFile stale", err, 422)
	x, err := c.GetFile(ctx, name, "notes/x.md", "")
	must("GetFile x", err)
	_, err = c.DeleteFile(ctx, name, "notes/x.md", x.SHA, gitea.FileOptions{})
	must("DeleteFile", err)
	must("DeleteRepo", c.DeleteRepo(ctx, name))
	want("DeleteRepo again", c.DeleteRepo(ctx, name), 404)

	// Owner discovery: the token's user, and (on the fake) an organisation.
	noOwner := cfg
	noOwner.Owner = ""
	c2 := newClient(t, noOwner)
	name2 := name + "-u"
	tgt.Cleanup(t, c2, name2)
	_, err = c2.CreateRepo(ctx, name2, gitea.CreateRepoOptions{})
	must("CreateRepo for the token user", err)
	if tgt.Fake != nil {
		tgt.Fake.AddOrg("apps", "admin")
		orgCfg := cfg
		orgCfg.Owner = "apps"
		_, err = newClient(t, orgCfg).CreateRepo(ctx, "in-org", gitea.CreateRepoOptions{})
		must("CreateRepo in org", err)
		must("CheckCreateRepo in org", newClient(t, orgCfg).CheckCreateRepo(ctx))
		out := tgt.Fake.AddUser(giteafake.User{Login: "outsider"})
		outCfg := orgCfg
		outCfg.Token = out.Token
		if err := newClient(t, outCfg).CheckCreateRepo(ctx); !errors.Is(err, gitea.ErrCannotCreateRepos) || upstream.StatusOf(err) != 403 {
			t.Fatalf("CheckCreateRepo by a non-member: %v", err)
		}
	}

	finish()
	checked := v.CheckedRoutes()
	t.Logf("routes checked against the swagger: %q", checked)
	expect := []string{
		"GET /version", "GET /user", "POST /user/repos", "GET /repos/{owner}/{repo}", "DELETE /repos/{owner}/{repo}",
		"POST /repos/{owner}/{repo}/contents", "GET /repos/{owner}/{repo}/contents/{filepath}",
		"POST /repos/{owner}/{repo}/contents/{filepath}", "PUT /repos/{owner}/{repo}/contents/{filepath}",
		"DELETE /repos/{owner}/{repo}/contents/{filepath}", "GET /repos/{owner}/{repo}/raw/{filepath}",
		"GET /repos/{owner}/{repo}/commits",
	}
	if tgt.Fake != nil {
		expect = append(expect, "GET /orgs/{org}", "POST /orgs/{org}/repos")
	}
	for _, r := range expect {
		if !slices.Contains(checked, r) {
			t.Errorf("route %s was not checked", r)
		}
	}
}
