package gitea_test

import (
	"slices"
	"testing"

	"github.com/appmanage/appmanage/datasources/gitea"
	"github.com/appmanage/appmanage/datasources/suite"
	"github.com/appmanage/appmanage/datasources/upstream"
)

// TestContractHistory drives the history, compare and webhook methods
// through the Gitea v1.26 swagger validator (requests and the fake's answers
// both), and checks what they return.
func TestContractHistory(t *testing.T) {
	v, opts, finish := giteaContract(t)
	cfg, tgt := suite.Gitea(t, opts...)
	ctx := ctxT(t)
	c := newClient(t, cfg)
	name := suite.Prefix(t)
	tgt.Cleanup(t, c, name)

	if _, err := c.CreateRepo(ctx, name, gitea.CreateRepoOptions{}); err != nil {
		t.Fatal(err)
	}
	repos, err := c.ListRepos(ctx)
	if err != nil || !slices.ContainsFunc(repos, func(r gitea.Repository) bool { return r.Name == name && r.Owner != "" && r.CloneURL != "" }) {
		t.Fatalf("ListRepos does not list %s: %+v %v", name, repos, err)
	}
	page, err := c.ListHistory(ctx, name, "main", 1, 10)
	if err != nil || len(page.Commits) != 0 {
		t.Fatalf("ListHistory of an empty repository: %+v %v", page, err)
	}
	first, err := c.CommitFiles(ctx, name, gitea.Commit{Branch: "main", Message: "one", Files: []gitea.FileChange{
		{Operation: gitea.OpCreate, Path: ".env", Content: []byte("A=1\n")},
		{Operation: gitea.OpCreate, Path: "docker-compose.yml", Content: []byte("services: {}\n")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.CommitFiles(ctx, name, gitea.Commit{Branch: "main", Message: "two", Files: []gitea.FileChange{
		{Operation: gitea.OpUpdate, Path: ".env", Content: []byte("A=2\n"), SHA: first.Files[".env"]},
		{Operation: gitea.OpDelete, Path: "docker-compose.yml", SHA: first.Files["docker-compose.yml"]},
		{Operation: gitea.OpCreate, Path: "src/x", Content: []byte("x\n")},
	}})
	if err != nil {
		t.Fatal(err)
	}

	page, err = c.ListHistory(ctx, name, "main", 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Commits) != 1 || page.Commits[0].SHA != second.SHA || page.Total != 2 || !page.HasMore {
		t.Fatalf("page 1 of 1: %+v", page)
	}
	got := page.Commits[0]
	if len(got.Parents) != 1 || got.Parents[0] != first.SHA || got.Message != "two\n" && got.Message != "two" {
		t.Fatalf("commit: %+v", got)
	}
	files := map[string]string{}
	for _, f := range got.Files {
		files[f.Path] = f.Status
	}
	if files[".env"] != "modified" || files["docker-compose.yml"] != "removed" || files["src/x"] != "added" || len(files) != 3 {
		t.Fatalf("files of the second commit: %v", files)
	}
	page, err = c.ListHistory(ctx, name, "main", 2, 1)
	if err != nil || len(page.Commits) != 1 || page.Commits[0].SHA != first.SHA || page.HasMore {
		t.Fatalf("page 2: %+v %v", page, err)
	}

	cmp, err := c.Compare(ctx, name, first.SHA, second.SHA)
	if err != nil || len(cmp) != 1 || cmp[0].SHA != second.SHA || len(cmp[0].Files) != 3 {
		t.Fatalf("Compare first...second: %+v %v", cmp, err)
	}
	cmp, err = c.Compare(ctx, name, second.SHA, first.SHA)
	if err != nil || len(cmp) != 0 {
		t.Fatalf("Compare second...first: %+v %v", cmp, err)
	}
	_, err = c.Compare(ctx, name, first.SHA, "0123456789abcdef0123456789abcdef01234567")
	if upstream.StatusOf(err) != 404 {
		t.Fatalf("Compare with an unknown head: want 404, got %v", err)
	}

	h, err := c.CreateHook(ctx, name, gitea.HookOptions{URL: "http://appmanage.invalid/hooks/gitea", Secret: "s3cret", BranchFilter: "main"})
	if err != nil {
		t.Fatal(err)
	}
	if h.ID == 0 || h.URL != "http://appmanage.invalid/hooks/gitea" || !h.Active || !slices.Contains(h.Events, "push") {
		t.Fatalf("hook: %+v", h)
	}
	hooks, err := c.ListHooks(ctx, name)
	if err != nil || len(hooks) != 1 || hooks[0].ID != h.ID {
		t.Fatalf("ListHooks: %+v %v", hooks, err)
	}
	if tgt.Fake != nil {
		if got := tgt.Fake.Hooks(cfg.Owner, name); len(got) != 1 || got[0].Secret != "s3cret" {
			t.Fatalf("fake hooks: %+v", got)
		}
	}
	if err := c.DeleteHook(ctx, name, h.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteHook(ctx, name, h.ID); upstream.StatusOf(err) != 404 {
		t.Fatalf("DeleteHook again: want 404, got %v", err)
	}
	if err := c.DeleteRepo(ctx, name); err != nil {
		t.Fatal(err)
	}

	finish()
	checked := v.CheckedRoutes()
	t.Logf("routes checked against the swagger: %q", checked)
	if !slices.Contains(checked, "GET /user/repos") && !slices.Contains(checked, "GET /orgs/{org}/repos") {
		t.Errorf("ListRepos' route was not checked against the swagger")
	}
	for _, r := range []string{
		"GET /repos/{owner}/{repo}/commits", "GET /repos/{owner}/{repo}/compare/{basehead}",
		"POST /repos/{owner}/{repo}/hooks", "GET /repos/{owner}/{repo}/hooks", "DELETE /repos/{owner}/{repo}/hooks/{id}",
	} {
		if !slices.Contains(checked, r) {
			t.Errorf("route %s was not checked", r)
		}
	}
}
