package gitea_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/appmanage/appmanage/datasources/faults"
	"github.com/appmanage/appmanage/datasources/gitea"
	giteafake "github.com/appmanage/appmanage/datasources/gitea/fake"
	"github.com/appmanage/appmanage/datasources/suite"
	"github.com/appmanage/appmanage/datasources/upstream"
)

// TestContractMigrate drives MigrateRepo through the swagger validator
// (POST /repos/migrate, MigrateRepoOptions -> Repository, and its 409/422
// answers) against the fake, whose remotes are registered by URL.
func TestContractMigrate(t *testing.T) {
	v, opts, finish := giteaContract(t)
	cfg, tgt := suite.Gitea(t, opts...)
	f := tgt.RequireFake(t)
	ctx := ctxT(t)
	c := newClient(t, cfg)
	const remote = "https://git.example.com/acme/web.git"
	f.AddRemote(remote, giteafake.Remote{DefaultBranch: "trunk", Username: "bot", Password: "s3cr3t-token",
		Files: map[string][]byte{"Dockerfile": []byte("FROM nginx:alpine\n"), "index.html": []byte("<h1>hi</h1>\n")}})

	// Without the remote's credentials: git's error, and no repository left.
	_, err := c.MigrateRepo(ctx, "web", gitea.MigrateOptions{CloneAddr: remote})
	if upstream.StatusOf(err) != 422 || !strings.Contains(err.Error(), "Authentication failed") {
		t.Fatalf("migrate without credentials: want 422 Authentication failed, got %v", err)
	}
	if _, err := c.GetRepo(ctx, "web"); !errors.Is(err, upstream.ErrNotFound) {
		t.Fatalf("a failed migration left a repository: %v", err)
	}
	_, err = c.MigrateRepo(ctx, "web", gitea.MigrateOptions{CloneAddr: remote, AuthUsername: "bot", AuthPassword: "wrong"})
	if upstream.StatusOf(err) != 422 || !strings.Contains(err.Error(), "Authentication failed for 'https://git.example.com/acme/web.git/'") {
		t.Fatalf("migrate with wrong credentials: %v", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("the error shows the password: %v", err)
	}

	repo, err := c.MigrateRepo(ctx, "web", gitea.MigrateOptions{CloneAddr: remote, AuthUsername: "bot", AuthPassword: "s3cr3t-token", Description: "imported"})
	if err != nil {
		t.Fatal(err)
	}
	if repo.Name != "web" || repo.Empty || !repo.Private || repo.DefaultBranch != "trunk" || repo.CloneURL == "" {
		t.Fatalf("migrated repository: %+v", repo)
	}
	b, err := c.GetRawFile(ctx, "web", "Dockerfile", "trunk")
	if err != nil || string(b) != "FROM nginx:alpine\n" {
		t.Fatalf("Dockerfile of the import: %q %v", b, err)
	}
	if !f.MigrationUsedCredentials(cfg.Owner+"/web", "bot", "s3cr3t-token") || f.MigrationUsedCredentials(cfg.Owner+"/web", "bot", "other") {
		t.Fatal("the fake did not record the credentials the migration was sent")
	}
	if shown := fmt.Sprintf("%+v", f.Migrations()); strings.Contains(shown, "s3cr3t-token") {
		t.Fatalf("Migrations() shows the token: %s", shown)
	}
	ms := f.Migrations()
	if last := ms[len(ms)-1]; last.Mirror || last.Service != "git" || !last.Authenticated || last.Status != 201 {
		t.Fatalf("the request was not a plain (non-mirror) git import: %+v", last)
	}

	// The name is taken now.
	_, err = c.MigrateRepo(ctx, "web", gitea.MigrateOptions{CloneAddr: remote, AuthUsername: "bot", AuthPassword: "s3cr3t-token"})
	if !errors.Is(err, upstream.ErrConflict) {
		t.Fatalf("migrate onto an existing name: want 409, got %v", err)
	}
	// A URL the fake does not serve fails as git does; a local host is
	// refused by Gitea's ALLOW_LOCALNETWORKS = false.
	_, err = c.MigrateRepo(ctx, "other", gitea.MigrateOptions{CloneAddr: "https://git.example.com/acme/nope.git"})
	if upstream.StatusOf(err) != 422 || !strings.Contains(err.Error(), "Migration failed: Clone: exit status 128 - fatal: repository 'https://git.example.com/acme/nope.git/' not found.") {
		t.Fatalf("migrate from an unknown URL: %v", err)
	}
	_, err = c.MigrateRepo(ctx, "other", gitea.MigrateOptions{CloneAddr: "http://127.0.0.1:3000/x/y.git"})
	if upstream.StatusOf(err) != 422 || !strings.Contains(err.Error(), "You can not import from disallowed hosts.") {
		t.Fatalf("migrate from loopback: %v", err)
	}
	_, err = c.MigrateRepo(ctx, "Bad..Name", gitea.MigrateOptions{CloneAddr: remote})
	if upstream.StatusOf(err) != 422 || !strings.Contains(err.Error(), "[RepoName]: AlphaDashDot") {
		t.Fatalf("migrate into a bad name: %v", err)
	}

	// Faults: a 500 is not retried (a migration is not idempotent).
	before := f.Faults.Calls(giteafake.RouteMigrate)
	f.Faults.Fail(giteafake.RouteMigrate, faults.Fault{Status: 500, Body: `{"message":"injected","url":""}`, Times: 3})
	_, err = c.MigrateRepo(ctx, "other", gitea.MigrateOptions{CloneAddr: remote})
	if upstream.StatusOf(err) != 500 || f.Faults.Calls(giteafake.RouteMigrate) != before+1 {
		t.Fatalf("a faulted migration: %v after %d calls", err, f.Faults.Calls(giteafake.RouteMigrate)-before)
	}
	f.Faults.Clear()

	finish()
	if !slices.Contains(v.CheckedRoutes(), "POST /repos/migrate") {
		t.Errorf("POST /repos/migrate was not checked against the swagger: %q", v.CheckedRoutes())
	}
}
