package gitea_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/appmanage/appmanage/datasources/gitea"
	"github.com/appmanage/appmanage/datasources/gitea/fake"
)

// ListRepos reads every page of an organisation's repositories (GET
// /orgs/{org}/repos, 50 a page) and of a user's (GET /user/repos, keeping
// only the owner's own).
func TestListReposOfAnOrganisationPages(t *testing.T) {
	srv := fake.New(fake.Options{Orgs: []fake.Org{{Name: "apps", Members: []string{fake.AdminUser}}}})
	defer srv.Close()
	ctx := ctxT(t)
	org := newClient(t, gitea.Config{BaseURL: srv.URL(), Token: srv.Token(fake.AdminUser), Owner: "apps"})
	user := newClient(t, gitea.Config{BaseURL: srv.URL(), Token: srv.Token(fake.AdminUser), Owner: fake.AdminUser})
	var want []string
	for i := range 61 {
		name := fmt.Sprintf("app%02d", i)
		if _, err := org.CreateRepo(ctx, name, gitea.CreateRepoOptions{Description: "x installed by appmanage"}); err != nil {
			t.Fatal(err)
		}
		want = append(want, name)
	}
	if _, err := user.CreateRepo(ctx, "mine", gitea.CreateRepoOptions{}); err != nil {
		t.Fatal(err)
	}
	repos, err := org.ListRepos(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range repos {
		got = append(got, r.Name)
		if r.Owner != "apps" || r.Description != "x installed by appmanage" || r.UpdatedAt.IsZero() {
			t.Errorf("repo %+v", r)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("org repos %v, want %v", got, want)
	}
	if n := srv.Faults.Calls(fake.RouteListOrgRepos); n != 2 {
		t.Errorf("%d page reads for 61 repositories, want 2", n)
	}
	mine, err := user.ListRepos(ctx)
	if err != nil || len(mine) != 1 || mine[0].Name != "mine" {
		t.Fatalf("user repos %+v %v", mine, err)
	}
}
