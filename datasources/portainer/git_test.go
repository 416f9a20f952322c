package portainer_test

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/datasources/portainer/fake"
	"github.com/appmanage/appmanage/datasources/suite"
	"github.com/appmanage/appmanage/datasources/upstream"
)

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

func containerByName(t *testing.T, cs []portainer.Container, name string) portainer.Container {
	t.Helper()
	i := slices.IndexFunc(cs, func(c portainer.Container) bool { return c.Name() == name })
	if i < 0 {
		var names []string
		for _, c := range cs {
			names = append(names, c.Name())
		}
		t.Fatalf("no container %q among %v", name, names)
	}
	return cs[i]
}

func publicPorts(c portainer.Container) []int { return c.PublicPorts() }

// TestCreateFromRepository deploys a private Gitea repository (compose file
// plus .env) and checks what compose would have made of it.
func TestCreateFromRepository(t *testing.T) {
	suite.FakeOnly(t) // needs a Gitea the Portainer can reach; both fakes here
	src := newGitSource(t, "wp1", map[string]string{"docker-compose.yml": appCompose, ".env": appEnv("wp1", "9001")})
	cfg, tgt := suite.Portainer(t)
	f := tgt.Fake
	c := newClient(t, cfg)
	ctx := ctxT(t)

	st, err := c.CreateStackFromRepository(ctx, 1, src.request("wp1"))
	if err != nil {
		t.Fatalf("CreateStackFromRepository: %v", err)
	}
	head := src.gitea.Branch(giteaOwner, "wp1", "main")
	g := st.GitConfig
	if g == nil || g.URL != src.cloneURL || g.ReferenceName != "refs/heads/main" || g.ConfigFilePath != "docker-compose.yml" || g.ConfigHash != head {
		t.Fatalf("GitConfig = %+v, want hash %s", g, head)
	}
	if g.Authentication == nil || g.Authentication.Username != src.creds.Username || g.Authentication.Password != "" {
		t.Fatalf("Authentication = %+v, want username and a blank password", g.Authentication)
	}
	if st.Status != portainer.StackStatusActive || st.EntryPoint != "docker-compose.yml" || st.ProjectPath == "" {
		t.Fatalf("stack = %+v", st)
	}
	// Env sent as [] comes back as []; the repo's .env never shows in Env.
	if st.Env == nil || len(st.Env) != 0 {
		t.Fatalf("Env = %#v, want empty list", st.Env)
	}
	// The stored password is what we sent (the fake lets us look).
	if stored := f.Stacks()[0].GitConfig.Authentication; stored.Password != src.creds.Password {
		t.Fatalf("stored password not kept")
	}

	ctrs, err := c.ListContainers(ctx, 1, portainer.ContainerFilter{All: true, Labels: []string{"com.docker.compose.project=wp1"}})
	if err != nil || len(ctrs) != 2 {
		t.Fatalf("ListContainers = %+v, %v; want web and db", ctrs, err)
	}
	web := containerByName(t, ctrs, "wp1") // container_name from .env
	db := containerByName(t, ctrs, "wp1-db-1")
	for _, ct := range []portainer.Container{web, db} {
		if !hex64.MatchString(ct.ID) || ct.State != "running" || !strings.HasPrefix(ct.Status, "Up ") {
			t.Fatalf("container %s: id %q state %q status %q", ct.Name(), ct.ID, ct.State, ct.Status)
		}
		l := ct.Labels
		if l["com.docker.compose.project"] != "wp1" || l["com.docker.compose.container-number"] != "1" ||
			l["com.docker.compose.project.working_dir"] != st.ProjectPath || !hex64.MatchString(l["com.docker.compose.config-hash"]) {
			t.Fatalf("labels of %s = %v", ct.Name(), l)
		}
	}
	if web.Labels["com.docker.compose.service"] != "web" || web.Labels["com.docker.compose.http.port"] != "80" {
		t.Fatalf("web labels = %v", web.Labels)
	}
	if web.Image != "nginx:1.27" || db.Image != "mariadb:11" {
		t.Fatalf("images: web %q db %q", web.Image, db.Image)
	}
	if got := publicPorts(web); !slices.Equal(got, []int{9001}) {
		t.Fatalf("web published ports = %v (%+v), want [9001]", got, web.Ports)
	}
	insp, err := c.InspectContainer(ctx, 1, web.ID)
	if err != nil {
		t.Fatal(err)
	}
	env := insp.EnvMap()
	// env_file: .env (resolved from the clone) plus environment:, interpolated.
	if env["APP_ID"] != "wp1" || env["HTTP_PORT"] != "9001" || env["GREETING"] != "hello-wp1" || env["DB_PASSWORD"] != "s3cret" {
		t.Fatalf("web env = %v", env)
	}
	if insp.Config.Labels["com.docker.compose.service"] != "web" || insp.HostConfig.RestartPolicy.Name != "unless-stopped" {
		t.Fatalf("inspect config = %+v hostconfig = %+v", insp.Config, insp.HostConfig)
	}
	dbInsp, err := c.InspectContainer(ctx, 1, db.ID)
	if err != nil {
		t.Fatal(err)
	}
	if dbInsp.EnvMap()["MARIADB_PASSWORD"] != "s3cret" || dbInsp.EnvMap()["APP_ID"] != "" {
		t.Fatalf("db env = %v (no env_file there)", dbInsp.EnvMap())
	}
	vols, err := c.ListVolumes(ctx, 1, []string{"com.docker.compose.project=wp1"})
	if err != nil {
		t.Fatal(err)
	}
	var vnames []string
	for _, v := range vols {
		vnames = append(vnames, v.Name)
	}
	slices.Sort(vnames)
	if !slices.Equal(vnames, []string{"wp1_data", "wp1_db_data"}) {
		t.Fatalf("volumes = %v", vnames)
	}
}

func TestCreateFromRepositoryEnvOverridesDotEnv(t *testing.T) {
	suite.FakeOnly(t)
	src := newGitSource(t, "app2", map[string]string{"docker-compose.yml": appCompose, ".env": appEnv("app2", "9001")})
	cfg, _ := suite.Portainer(t)
	c := newClient(t, cfg)
	ctx := ctxT(t)
	st, err := c.CreateStackFromRepository(ctx, 1, src.request("app2", portainer.EnvVar{Name: "HTTP_PORT", Value: "9002"}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.Env, []portainer.EnvVar{{Name: "HTTP_PORT", Value: "9002"}}) {
		t.Fatalf("Env = %+v", st.Env)
	}
	ctrs, err := c.ListContainers(ctx, 1, portainer.ContainerFilter{Labels: []string{"com.docker.compose.project=app2", "com.docker.compose.service=web"}})
	if err != nil || len(ctrs) != 1 {
		t.Fatalf("ListContainers = %+v, %v", ctrs, err)
	}
	// stack.env = .env then Env: the later line wins for interpolation...
	if got := publicPorts(ctrs[0]); !slices.Equal(got, []int{9002}) {
		t.Fatalf("published = %v, want [9002]", got)
	}
	// ...but env_file: .env still reads the repository's file.
	insp, err := c.InspectContainer(ctx, 1, ctrs[0].ID)
	if err != nil || insp.EnvMap()["HTTP_PORT"] != "9001" {
		t.Fatalf("env_file HTTP_PORT = %q, %v; want the .env value 9001", insp.EnvMap()["HTTP_PORT"], err)
	}
}

func TestCreateFromRepositoryRefusesTakenPort(t *testing.T) {
	suite.FakeOnly(t)
	src1 := newGitSource(t, "first", map[string]string{"docker-compose.yml": appCompose, ".env": appEnv("first", "9001")})
	cfg, tgt := suite.Portainer(t)
	f := tgt.Fake
	c := newClient(t, cfg)
	ctx := ctxT(t)
	if _, err := c.CreateStackFromRepository(ctx, 1, src1.request("first")); err != nil {
		t.Fatal(err)
	}
	// Second repository in another Gitea fake, same host port.
	src2 := newGitSource(t, "second", map[string]string{"docker-compose.yml": appCompose, ".env": appEnv("second", "9001")})
	_, err := c.CreateStackFromRepository(ctx, 1, src2.request("second"))
	if upstream.StatusOf(err) != 500 || !strings.Contains(err.Error(), "Bind for 0.0.0.0:9001 failed: port is already allocated") {
		t.Fatalf("second create error = %v, want 500 port is already allocated", err)
	}
	if len(f.Stacks()) != 1 {
		t.Fatalf("stacks = %+v, want no record for the failed create", f.Stacks())
	}
	if _, err := c.FindStackByName(ctx, 1, "second"); !errors.Is(err, portainer.ErrNotFound) {
		t.Fatalf("FindStackByName(second) error = %v", err)
	}
	for _, ct := range f.Containers(1) {
		if ct.Project() == "second" {
			t.Fatalf("container %s of the refused project left behind", ct.Name)
		}
	}
	// A free port works, with the same name (no record blocks it).
	src2.commit(t, map[string]string{".env": appEnv("second", "9003")})
	if _, err := c.CreateStackFromRepository(ctx, 1, src2.request("second")); err != nil {
		t.Fatalf("retry on a free port: %v", err)
	}
}

func TestCreateFromRepositoryCloneErrors(t *testing.T) {
	suite.FakeOnly(t)
	src := newGitSource(t, "priv", map[string]string{"docker-compose.yml": appCompose, ".env": appEnv("priv", "9001")})
	cfg, tgt := suite.Portainer(t)
	c := newClient(t, cfg)
	ctx := ctxT(t)
	for _, tc := range []struct {
		name string
		edit func(*portainer.CreateRepositoryStackRequest)
		want string
	}{
		{"anonymous on private", func(r *portainer.CreateRepositoryStackRequest) {
			r.RepositoryAuthentication, r.RepositoryUsername, r.RepositoryPassword = false, "", ""
		}, "unable to clone git repository: authentication required"},
		{"bad password", func(r *portainer.CreateRepositoryStackRequest) { r.RepositoryPassword = "wrong" }, "Invalid git credential"},
		{"missing repo", func(r *portainer.CreateRepositoryStackRequest) {
			r.RepositoryURL = strings.Replace(r.RepositoryURL, "/priv.git", "/nope.git", 1)
		}, "unable to clone git repository: repository not found"},
		{"missing ref", func(r *portainer.CreateRepositoryStackRequest) { r.RepositoryReferenceName = "refs/heads/nope" }, "unable to clone git repository: reference not found"},
		{"missing compose file", func(r *portainer.CreateRepositoryStackRequest) { r.ComposeFile = "compose/other.yml" }, "no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := src.request("priv")
			tc.edit(&req)
			_, err := c.CreateStackFromRepository(ctx, 1, req)
			if upstream.StatusOf(err) != 500 || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want 500 containing %q", err, tc.want)
			}
			if len(tgt.Fake.Stacks()) != 0 {
				t.Fatalf("a stack was saved after a failed create")
			}
		})
	}
	// Payload validation (400) happens before any clone.
	for _, tc := range []struct {
		name string
		edit func(*portainer.CreateRepositoryStackRequest)
		want string
	}{
		{"no name", func(r *portainer.CreateRepositoryStackRequest) { r.Name = " " }, "Invalid stack name"},
		{"bad URL", func(r *portainer.CreateRepositoryStackRequest) { r.RepositoryURL = "not a url" }, "Invalid repository URL"},
		{"auth without password", func(r *portainer.CreateRepositoryStackRequest) { r.RepositoryPassword = "" }, "Password must be specified"},
		{"auto update empty", func(r *portainer.CreateRepositoryStackRequest) { r.AutoUpdate = &portainer.AutoUpdate{} }, "Webhook or Interval must be provided"},
		{"bad interval", func(r *portainer.CreateRepositoryStackRequest) {
			r.AutoUpdate = &portainer.AutoUpdate{Interval: "often"}
		}, "Invalid Interval format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := src.request("priv")
			tc.edit(&req)
			_, err := c.CreateStackFromRepository(ctx, 1, req)
			if upstream.StatusOf(err) != 400 || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want 400 containing %q", err, tc.want)
			}
		})
	}
	if _, err := c.CreateStackFromRepository(ctx, 99, src.request("priv")); !errors.Is(err, portainer.ErrNotFound) {
		t.Fatalf("unknown endpoint error = %v, want 404", err)
	}
}

// TestGitStackLifecycle covers stop/start/redeploy and the /git replace
// semantics on one stack.
func TestGitStackLifecycle(t *testing.T) {
	suite.FakeOnly(t)
	src := newGitSource(t, "life", map[string]string{"docker-compose.yml": appCompose, ".env": appEnv("life", "9001")})
	cfg, tgt := suite.Portainer(t)
	f := tgt.Fake
	c := newClient(t, cfg)
	ctx := ctxT(t)
	st, err := c.CreateStackFromRepository(ctx, 1, src.request("life", portainer.EnvVar{Name: "DB_PASSWORD", Value: "fromenv"}))
	if err != nil {
		t.Fatal(err)
	}
	label := []string{"com.docker.compose.project=life"}
	list := func() []portainer.Container {
		t.Helper()
		cs, err := c.ListContainers(ctx, 1, portainer.ContainerFilter{All: true, Labels: label})
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	before := list()
	webBefore := containerByName(t, before, "life")

	// Stop: compose down, volumes kept.
	if st, err = c.StopStack(ctx, st.ID, 1); err != nil || st.Status != portainer.StackStatusInactive {
		t.Fatalf("StopStack = %+v, %v", st, err)
	}
	if n := len(list()); n != 0 {
		t.Fatalf("%d containers after stop", n)
	}
	if len(f.Volumes(1)) != 2 {
		t.Fatalf("volumes after stop = %+v", f.Volumes(1))
	}
	// Start: recreated from the last clone, same config hash, new ids.
	if st, err = c.StartStack(ctx, st.ID, 1); err != nil || !st.Active() {
		t.Fatalf("StartStack = %+v, %v", st, err)
	}
	webStarted := containerByName(t, list(), "life")
	if webStarted.ID == webBefore.ID || webStarted.Labels["com.docker.compose.config-hash"] != webBefore.Labels["com.docker.compose.config-hash"] {
		t.Fatalf("start: id %s→%s hash %s→%s", webBefore.ID, webStarted.ID,
			webBefore.Labels["com.docker.compose.config-hash"], webStarted.Labels["com.docker.compose.config-hash"])
	}

	// /git with a request that leaves fields out clears them.
	cleared, err := c.UpdateStackGit(ctx, st.ID, 1, portainer.GitUpdateRequest{})
	if err != nil {
		t.Fatalf("UpdateStackGit(empty): %v", err)
	}
	if cleared.GitConfig.ReferenceName != "" || len(cleared.Env) != 0 || cleared.GitConfig.Authentication != nil {
		t.Fatalf("empty /git should clear ref, Env and auth: %+v / %+v", cleared.GitConfig, cleared.Env)
	}
	if f.Stacks()[0].GitConfig.Authentication != nil {
		t.Fatalf("RepositoryAuthentication:false must delete stored credentials")
	}
	// Anonymous redeploy of a private repository fails: only payload creds count.
	if _, err := c.RedeployStackGit(ctx, st.ID, 1, portainer.GitRedeployFromStack(cleared, nil, false)); upstream.StatusOf(err) != 500 ||
		!strings.Contains(err.Error(), "Unable to clone git repository directory") {
		t.Fatalf("anonymous redeploy error = %v, want 500 clone failure", err)
	}

	// Restore everything, with fresh credentials.
	full := *cleared
	full.GitConfig.ReferenceName = "refs/heads/main"
	full.Env = []portainer.EnvVar{{Name: "DB_PASSWORD", Value: "fromenv"}}
	full.AutoUpdate = &portainer.AutoUpdate{Interval: "5m"}
	restored, err := c.UpdateStackGit(ctx, st.ID, 1, portainer.GitUpdateFromStack(&full, &src.creds))
	if err != nil {
		t.Fatalf("UpdateStackGit(full): %v", err)
	}
	if restored.GitConfig.ReferenceName != "refs/heads/main" || restored.AutoUpdate == nil || restored.AutoUpdate.Interval != "5m" ||
		restored.GitConfig.Authentication == nil || restored.GitConfig.Authentication.Password != "" {
		t.Fatalf("restored = %+v / %+v / %+v", restored.GitConfig, restored.AutoUpdate, restored.GitConfig.Authentication)
	}
	// A round trip built from the stack (no creds: empty password) keeps
	// the stored password and everything else.
	again, err := c.UpdateStackGit(ctx, st.ID, 1, portainer.GitUpdateFromStack(restored, nil))
	if err != nil {
		t.Fatalf("UpdateStackGit(round trip): %v", err)
	}
	stored := f.Stacks()[0]
	if stored.GitConfig.Authentication == nil || stored.GitConfig.Authentication.Password != src.creds.Password ||
		again.GitConfig.ReferenceName != "refs/heads/main" || !slices.Equal(again.Env, full.Env) || again.AutoUpdate == nil {
		t.Fatalf("round trip lost state: %+v %+v", again, stored.GitConfig.Authentication)
	}
	// Wrong credentials are checked against the remote.
	if _, err := c.UpdateStackGit(ctx, st.ID, 1, portainer.GitUpdateFromStack(again, &portainer.GitCredentials{Username: "admin", Password: "bad"})); upstream.StatusOf(err) != 500 ||
		!strings.Contains(err.Error(), "Unable to fetch git repository") {
		t.Fatalf("bad creds /git error = %v", err)
	}

	// New commit, then redeploy with the stored password (empty in payload).
	newSHA := src.commit(t, map[string]string{".env": strings.Replace(appEnv("life", "9001"), "NGINX_VERSION=1.27", "NGINX_VERSION=1.28", 1)})
	red, err := c.RedeployStackGit(ctx, st.ID, 1, portainer.GitRedeployFromStack(again, nil, true))
	if err != nil {
		t.Fatalf("RedeployStackGit: %v", err)
	}
	if red.GitConfig.ConfigHash != newSHA || red.GitConfig.ReferenceName != "refs/heads/main" || !slices.Equal(red.Env, full.Env) || red.UpdateDate == 0 {
		t.Fatalf("redeployed = %+v (hash want %s)", red.GitConfig, newSHA)
	}
	after := list()
	webAfter := containerByName(t, after, "life")
	if webAfter.Image != "nginx:1.28" || webAfter.ID == webStarted.ID ||
		webAfter.Labels["com.docker.compose.config-hash"] == webStarted.Labels["com.docker.compose.config-hash"] {
		t.Fatalf("redeploy did not recreate web: %+v", webAfter)
	}
	// Force recreate: even the unchanged db container is new.
	dbStarted := containerByName(t, before, "life-db-1")
	dbAfter := containerByName(t, after, "life-db-1")
	if dbAfter.ID == dbStarted.ID {
		t.Fatalf("db container kept its id across a redeploy")
	}
	insp, err := c.InspectContainer(ctx, 1, dbAfter.ID)
	if err != nil || insp.EnvMap()["MARIADB_PASSWORD"] != "fromenv" {
		t.Fatalf("db env after redeploy = %v, %v; Env pair must win over .env", insp.EnvMap(), err)
	}

	// A redeploy that omits Env and ref clears them (why the helper exists).
	bare, err := c.RedeployStackGit(ctx, st.ID, 1, portainer.GitRedeployRequest{RepositoryAuthentication: true, RepositoryUsername: src.creds.Username})
	if err != nil {
		t.Fatalf("bare redeploy: %v", err)
	}
	if bare.GitConfig.ReferenceName != "" || len(bare.Env) != 0 {
		t.Fatalf("bare redeploy kept ref/env: %+v %+v", bare.GitConfig, bare.Env)
	}
	if err := c.DeleteStack(ctx, st.ID, 1); err != nil {
		t.Fatal(err)
	}
	if len(list()) != 0 || len(f.Volumes(1)) != 2 {
		t.Fatalf("after delete: containers %d volumes %+v", len(list()), f.Volumes(1))
	}
}

// TestAdoptsForeignContainers: containers of a compose project without a
// stack do not block creating the stack; compose takes them over.
func TestAdoptsForeignContainers(t *testing.T) {
	suite.FakeOnly(t)
	cfg, tgt := suite.Portainer(t)
	f := tgt.Fake
	c := newClient(t, cfg)
	ctx := ctxT(t)
	ids, err := f.AddContainers(1, "adopt", fake.Container{Name: "adopt-app-1", Labels: map[string]string{"com.docker.compose.service": "app"}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.CreateStackFromString(ctx, 1, portainer.CreateStringStackRequest{Name: "adopt", StackFileContent: "services:\n  app:\n    image: busybox\n"})
	if err != nil {
		t.Fatalf("create over foreign containers: %v", err)
	}
	cs, err := c.ListContainers(ctx, 1, portainer.ContainerFilter{All: true, Labels: []string{"com.docker.compose.project=adopt"}})
	if err != nil || len(cs) != 1 || cs[0].ID == ids[0] {
		t.Fatalf("containers = %+v, %v; want the foreign one replaced", cs, err)
	}
	_ = st
}

const giteaOwner = "admin"
