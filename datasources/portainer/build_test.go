package portainer_test

import (
	"strings"
	"testing"

	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/datasources/suite"
	"github.com/appmanage/appmanage/datasources/upstream"
)

const buildCompose = `services:
  web:
    build:
      context: app
      dockerfile: Dockerfile
    ports: ["9300:8080"]
`

// TestBuildFromRepository: a service with build: is built from the clone
// (its Dockerfile at context/dockerfile, its FROM image pulled), the image
// <project>-<service> lands in the endpoint's store and the container runs
// it; a missing Dockerfile, an unpullable FROM image and a failing step
// fail the deploy with the build's output, leaving nothing; a redeploy
// with PullImage builds again.
func TestBuildFromRepository(t *testing.T) {
	suite.FakeOnly(t)
	cfg, tgt := suite.Portainer(t)
	f := tgt.Fake
	c := newClient(t, cfg)
	ctx := ctxT(t)

	src := newGitSource(t, "bld", map[string]string{"docker-compose.yml": buildCompose,
		"app/Dockerfile": "FROM node:20-alpine AS deps\nRUN npm ci\nFROM deps\nCOPY . .\nCMD [\"node\", \"server.js\"]\n"})
	st, err := c.CreateStackFromRepository(ctx, 1, src.request("bld"))
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	if !f.HasImage(1, "bld-web") || !f.HasImage(1, "node:20-alpine") || f.Builds("bld") != 1 {
		t.Fatalf("images after the build: %v, builds %d", f.Images(1), f.Builds("bld"))
	}
	cs, err := c.ListContainers(ctx, 1, portainer.ContainerFilter{All: true, Labels: []string{"com.docker.compose.project=bld"}})
	if err != nil || len(cs) != 1 || cs[0].Image != "bld-web" || cs[0].State != "running" {
		t.Fatalf("containers: %+v %v", cs, err)
	}
	// The same commit again: the image is reused; with PullImage it is
	// built again.
	if _, err := c.RedeployStackGit(ctx, st.ID, 1, portainer.GitRedeployRequest{RepositoryReferenceName: "refs/heads/main",
		RepositoryAuthentication: true, RepositoryUsername: src.creds.Username, RepositoryPassword: src.creds.Password}); err != nil {
		t.Fatal(err)
	}
	if f.Builds("bld") != 1 {
		t.Fatalf("a redeploy without PullImage rebuilt: %d builds", f.Builds("bld"))
	}
	if _, err := c.RedeployStackGit(ctx, st.ID, 1, portainer.GitRedeployRequest{RepositoryReferenceName: "refs/heads/main", PullImage: true,
		RepositoryAuthentication: true, RepositoryUsername: src.creds.Username, RepositoryPassword: src.creds.Password}); err != nil {
		t.Fatal(err)
	}
	if f.Builds("bld") != 2 {
		t.Fatalf("a redeploy with PullImage did not rebuild: %d builds", f.Builds("bld"))
	}

	f.FailPull("registry.invalid/base:1")
	for _, tc := range []struct {
		name, dockerfile, want string
		fail                   string
	}{
		{"no Dockerfile", "", "failed to solve: failed to read dockerfile: open Dockerfile: no such file or directory", ""},
		{"unpullable FROM", "FROM registry.invalid/base:1\n", "failed to solve: registry.invalid/base:1: failed to resolve source metadata for registry.invalid/base:1: pull access denied", ""},
		{"failing step", "FROM alpine:3.20\nRUN make all\n", `failed to solve: process "/bin/sh -c make all" did not complete successfully: exit code: 1`, "make: *** No rule to make target 'all'. Stop."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "bf" + strings.ReplaceAll(tc.name[:4], " ", "")
			files := map[string]string{"docker-compose.yml": buildCompose}
			if tc.dockerfile != "" {
				files["app/Dockerfile"] = tc.dockerfile
			}
			s := newGitSource(t, name, files)
			if tc.fail != "" {
				f.FailBuild(name, tc.fail)
			}
			_, err := c.CreateStackFromRepository(ctx, 1, s.request(name))
			if upstream.StatusOf(err) != 500 || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("deploy: %v\nwant 500 with %q", err, tc.want)
			}
			if tc.fail != "" && !strings.Contains(err.Error(), tc.fail) {
				t.Fatalf("the build output is not in the error: %v", err)
			}
			t.Log(err)
			if _, err := c.FindStackByName(ctx, 1, name); err == nil {
				t.Fatal("a failed build left a stack")
			}
			if f.HasImage(1, name+"-web") {
				t.Fatal("a failed build left an image")
			}
		})
	}
}
