package apps

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/gitea"
	giteafake "github.com/appmanage/appmanage/datasources/gitea/fake"
	"github.com/appmanage/appmanage/ops"
)

// mapResolver resolves the hosts it knows; every other name does not
// exist. No test reaches a real DNS server.
type mapResolver map[string][]netip.Addr

func (m mapResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := m[strings.ToLower(host)]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

var testResolver = mapResolver{
	"git.example.com":      {netip.MustParseAddr("93.184.216.34")},
	"internal.example.com": {netip.MustParseAddr("10.1.2.3")},
	"rebind.example.com":   {netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("127.0.0.1")},
	"metadata.example.com": {netip.MustParseAddr("169.254.169.254")},
	"v6local.example.com":  {netip.MustParseAddr("::ffff:192.168.1.1")},
}

const (
	srcURL      = "https://git.example.com/acme/hello.git"
	srcUser     = "deploy-bot"
	srcToken    = "ghp_SOURCE-TOKEN-never-shown-4711"
	srcApp      = "src1"
	srcDomain   = "hello.example.com"
	helloDocker = "FROM node:20-alpine\nWORKDIR /app\nCOPY . .\nCMD [\"node\", \"server.js\"]\n"
)

// sourceEnv is newEnv with the source's remote registered in the Gitea
// fake, the test resolver and the settings store.
func sourceEnv(t testing.TB, files map[string][]byte, opts ...envOption) *testEnv {
	e := newEnv(t, opts...)
	e.Gitea.AddRemote(srcURL, giteafake.Remote{Files: files, Username: srcUser, Password: srcToken})
	e.prepSource()
	return e
}

func (e *testEnv) prepSource() {
	e.Svc.UseSourceResolver(testResolver)
	e.Svc.UseSettings(e.DB)
}

func helloFiles() map[string][]byte {
	return map[string][]byte{"Dockerfile": []byte(helloDocker), "server.js": []byte("require('http').createServer().listen(3000)\n")}
}

var srcRequest = SourceRequest{AppID: srcApp, GitURL: srcURL, Port: 3000, Domains: []string{srcDomain},
	Env: []EnvSetting{{Name: "GREETING", Value: "hi $USER"}}, Auth: &SourceAuth{Username: srcUser, Token: srcToken}}

func (e *testEnv) installSource(req SourceRequest) *ops.Operation {
	e.t.Helper()
	op, err := e.Svc.InstallFromSource(context.Background(), req)
	if err != nil {
		e.t.Fatalf("installFromSource: %v", err)
	}
	return e.wait(op)
}

func TestInstallFromSourceBuildsTheDockerfile(t *testing.T) {
	e := sourceEnv(t, helloFiles())
	op := e.installSource(srcRequest)
	if op.Status != ops.StatusSucceeded || op.Kind != KindInstallSource {
		t.Fatalf("%s %s: %s", op.Kind, op.Status, op.Error)
	}
	if !e.complete(srcApp, true) {
		t.Fatalf("fakes hold %v", e.leftovers(srcApp))
	}
	// The import: a plain copy, cloned with the credentials given.
	ms := e.Gitea.Migrations()
	if len(ms) != 1 || ms[0].Mirror || ms[0].CloneAddr != srcURL || !e.Gitea.MigrationUsedCredentials(e.Owner+"/"+srcApp, srcUser, srcToken) {
		t.Fatalf("migrations: %+v", ms)
	}
	// One commit added: the compose material that builds the repository.
	files := e.Gitea.Files(e.Owner, srcApp, "main")
	compose := string(files["docker-compose.yml"])
	for _, want := range []string{"build:", "context: .", "dockerfile: Dockerfile", "container_name: src1", "3000:3000", "GREETING: hi $$USER"} {
		if !strings.Contains(compose, want) {
			t.Fatalf("generated compose lacks %q:\n%s", want, compose)
		}
	}
	if n := e.Gitea.Commits(e.Owner, srcApp); n != 2 {
		t.Fatalf("%d commits, want the import's and one of compose material", n)
	}
	// The endpoint built the image; the container runs it.
	if !e.Portainer.HasImage(1, "src1-src1") || e.Portainer.Builds(srcApp) != 1 {
		t.Fatalf("images %v, builds %d", e.Portainer.Images(1), e.Portainer.Builds(srcApp))
	}
	sts := e.Portainer.Stacks()
	if len(sts) != 1 || sts[0].GitConfig == nil || sts[0].GitConfig.ConfigFilePath != "docker-compose.yml" || sts[0].GitConfig.ReferenceName != "refs/heads/main" {
		t.Fatalf("stack: %+v", sts)
	}
	var running bool
	for _, c := range e.Portainer.Containers(1) {
		running = running || c.Name == srcApp && c.Image == "src1-src1" && c.State == "running"
	}
	if !running {
		t.Fatalf("no running container of the built image: %+v", e.Portainer.Containers(1))
	}
	hosts := e.NPM.Hosts()
	if len(hosts) != 1 || hosts[0].ForwardHost != srcApp || hosts[0].ForwardPort != 3000 {
		t.Fatalf("proxy hosts: %+v", hosts)
	}
	// The token is nowhere: not in the journal, the events, or the
	// database file (sealed while kept, and gone after the import).
	evs, err := e.Engine.Events(context.Background(), op.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	steps := map[string]bool{}
	for i, ev := range evs {
		if strings.Contains(ev.Message, srcToken) {
			t.Fatalf("an event shows the token: %s", ev.Message)
		}
		if i > 0 && ev.Seq != evs[i-1].Seq+1 {
			t.Fatalf("event seq %d follows %d", ev.Seq, evs[i-1].Seq)
		}
		steps[ev.Step] = true
	}
	if len(evs) == 0 || !evs[len(evs)-1].Terminal || evs[len(evs)-1].Progress != 100 {
		t.Fatalf("the events do not end with a terminal one at 100%%: %+v", evs[len(evs)-1])
	}
	for _, st := range []string{"import", "material", "webhook", "stack", "proxy"} {
		if !steps[st] {
			t.Fatalf("no event of step %s", st)
		}
	}
	if bytes.Contains(op.Input, []byte(srcToken)) || strings.Contains(op.Error, srcToken) {
		t.Fatal("the operation's input shows the token")
	}
	for _, suffix := range []string{"", "-wal"} {
		if b, err := os.ReadFile(e.DBPath + suffix); err == nil && bytes.Contains(b, []byte(srcToken)) {
			t.Fatalf("the database file%s holds the token in plain text", suffix)
		}
	}
	if a, err := e.Svc.sourceAuth(context.Background(), srcApp); err != nil || a != nil {
		t.Fatalf("the credentials outlived the import: %v %v", a != nil, err)
	}

	// A push to the imported repository, then redeployApp: rebuilt from
	// the newest commit.
	head, err := e.Repos.CommitFiles(context.Background(), srcApp, gitea.Commit{Branch: "main", Message: "new page",
		Files: []gitea.FileChange{{Operation: gitea.OpCreate, Path: "page.html", Content: []byte("<p>new</p>\n")}}})
	if err != nil {
		t.Fatal(err)
	}
	rop, err := e.Svc.RedeployApp(context.Background(), srcApp, false, "")
	if err != nil {
		t.Fatal(err)
	}
	if rop = e.wait(rop); rop.Status != ops.StatusSucceeded {
		t.Fatalf("redeploy: %s %s", rop.Status, rop.Error)
	}
	if e.Portainer.Builds(srcApp) != 2 {
		t.Fatalf("redeploy did not rebuild: %d builds", e.Portainer.Builds(srcApp))
	}
	if st := e.Portainer.Stacks()[0]; st.GitConfig.ConfigHash != head.SHA {
		t.Fatalf("redeployed at %s, want the newest commit %s", st.GitConfig.ConfigHash, head.SHA)
	}

	// Uninstall leaves nothing, and the app is one built from source no more.
	uop, err := e.Svc.Uninstall(context.Background(), srcApp, true, "")
	if err != nil {
		t.Fatal(err)
	}
	if uop = e.wait(uop); uop.Status != ops.StatusSucceeded || len(e.leftovers(srcApp)) != 0 || e.Svc.FromSource(context.Background(), srcApp) {
		t.Fatalf("uninstall: %s %s, left %v", uop.Status, uop.Error, e.leftovers(srcApp))
	}
}

func TestInstallFromSourceOwnCompose(t *testing.T) {
	e := sourceEnv(t, map[string][]byte{
		"compose.yaml": []byte("services:\n  web:\n    image: nginx:1.27\n    container_name: src1\n"),
		"README.md":    []byte("# hello\n"),
	})
	req := srcRequest
	req.Domains, req.Env = nil, nil
	op := e.installSource(req)
	if op.Status != ops.StatusSucceeded {
		t.Fatalf("%s: %s", op.Status, op.Error)
	}
	if n := e.Gitea.Commits(e.Owner, srcApp); n != 1 {
		t.Fatalf("%d commits: the repository's own compose must be deployed as is", n)
	}
	if _, ok := e.Gitea.Files(e.Owner, srcApp, "main")["docker-compose.yml"]; ok {
		t.Fatal("compose material was added to a repository that has its own")
	}
	if st := e.Portainer.Stacks(); len(st) != 1 || st[0].GitConfig.ConfigFilePath != "compose.yaml" {
		t.Fatalf("stack: %+v", st)
	}
	if e.Portainer.Builds(srcApp) != 0 {
		t.Fatal("an image was built for a compose file without build:")
	}
}

func TestInstallFromSourceWithoutMaterial(t *testing.T) {
	e := sourceEnv(t, map[string][]byte{"README.md": []byte("# nothing to run\n")})
	op := e.installSource(srcRequest)
	if op.Status != ops.StatusRolledBack || !strings.Contains(op.Error, "neither a compose file") {
		t.Fatalf("%s: %s; want ROLLED_BACK with the precondition", op.Status, op.Error)
	}
	if l := e.leftovers(srcApp); len(l) != 0 {
		t.Fatalf("left %v", l)
	}
	if a, _ := e.Svc.sourceAuth(context.Background(), srcApp); a != nil || e.Svc.FromSource(context.Background(), srcApp) {
		t.Fatal("the source's records outlived the rollback")
	}
}

func TestInstallFromSourceBuildFailureCarriesOutput(t *testing.T) {
	e := sourceEnv(t, map[string][]byte{"Dockerfile": []byte("FROM alpine:3.20\nRUN make\n")})
	e.Portainer.FailBuild(srcApp, "make: *** No targets specified and no makefile found. Stop.")
	req := srcRequest
	req.Domains = nil
	op := e.installSource(req)
	if op.Status != ops.StatusRolledBack {
		t.Fatalf("%s: %s", op.Status, op.Error)
	}
	var stackErr string
	for _, st := range op.Steps {
		if st.Name == "stack" {
			stackErr = st.Error
		}
	}
	for _, want := range []string{"No targets specified and no makefile found", `failed to solve: process "/bin/sh -c make" did not complete successfully`} {
		if !strings.Contains(stackErr, want) {
			t.Fatalf("the stack step's error lacks the build output %q: %s", want, stackErr)
		}
	}
	if l := e.leftovers(srcApp); len(l) != 0 {
		t.Fatalf("left %v", l)
	}
}

func TestInstallFromSourceValidation(t *testing.T) {
	e := sourceEnv(t, helloFiles())
	cases := []struct {
		name  string
		edit  func(*SourceRequest)
		field string
	}{
		{"dockerfile leaves the repository", func(r *SourceRequest) { r.Dockerfile = "../Dockerfile" }, "dockerfile"},
		{"absolute dockerfile", func(r *SourceRequest) { r.Dockerfile = "/etc/passwd" }, "dockerfile"},
		{"context leaves the repository", func(r *SourceRequest) { r.ContextPath = "app/../../x" }, "contextPath"},
		{"absolute context", func(r *SourceRequest) { r.ContextPath = "/srv" }, "contextPath"},
		{"port out of range", func(r *SourceRequest) { r.Port = 70000 }, "port"},
		{"domains without a port", func(r *SourceRequest) { r.Port = 0 }, "port"},
		{"bad env key", func(r *SourceRequest) { r.Env = []EnvSetting{{Name: "1BAD", Value: "x"}} }, "env[0]"},
		{"env value with newline", func(r *SourceRequest) { r.Env = []EnvSetting{{Name: "A", Value: "x\ny"}} }, "env[0]"},
		{"bad branch", func(r *SourceRequest) { r.Ref = "main..evil" }, "ref"},
		{"bad app id", func(r *SourceRequest) { r.AppID = "Src" }, "appId"},
		{"private host by name", func(r *SourceRequest) { r.GitURL = "https://internal.example.com/x/y.git" }, "gitUrl"},
		{"host resolving to loopback among others", func(r *SourceRequest) { r.GitURL = "https://rebind.example.com/x/y.git" }, "gitUrl"},
		{"host resolving to the metadata address", func(r *SourceRequest) { r.GitURL = "http://metadata.example.com/x/y" }, "gitUrl"},
		{"host resolving to a mapped private address", func(r *SourceRequest) { r.GitURL = "http://v6local.example.com/x/y" }, "gitUrl"},
		{"host that does not resolve", func(r *SourceRequest) { r.GitURL = "https://nowhere.example.com/x/y.git" }, "gitUrl"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.resetCalls()
			req := srcRequest
			c.edit(&req)
			_, err := e.Svc.InstallFromSource(context.Background(), req)
			ae, ok := apperr.As(err)
			if !ok || ae.Code != apperr.ValidationFailed || ae.Field != c.field {
				t.Fatalf("got %v, want VALIDATION_FAILED on %s", err, c.field)
			}
			if calls := e.calledRoutes(); len(calls) != 0 {
				t.Fatalf("a refused request called %v", calls)
			}
		})
	}
	// The setting lets a private host through.
	if err := e.Svc.settings.SetSetting(context.Background(), "allowPrivateSourceUrls", "true", false); err != nil {
		t.Fatal(err)
	}
	if _, err := CheckSourceURL(context.Background(), "gitUrl", "https://internal.example.com/x/y.git", testResolver, e.Svc.allowPrivateSources(context.Background())); err != nil {
		t.Fatalf("allowPrivateSourceUrls=true still refuses a private host: %v", err)
	}
}

// A from-source app gets the push webhook on the branch it deploys (here
// the source's default branch, trunk); a push there rebuilds it.
func TestInstallFromSourcePushRebuilds(t *testing.T) {
	e := newEnv(t)
	e.Gitea.AddRemote(srcURL, giteafake.Remote{DefaultBranch: "trunk", Files: helloFiles()})
	e.prepSource()
	e.Svc.cfg.WebhookURL = "http://appmanage.test/hooks/gitea"
	req := srcRequest
	req.Auth, req.Domains = nil, nil
	if op := e.installSource(req); op.Status != ops.StatusSucceeded {
		t.Fatalf("%s: %s", op.Status, op.Error)
	}
	hooks := e.Gitea.Hooks(e.Owner, srcApp)
	if len(hooks) != 1 || hooks[0].BranchFilter != "trunk" {
		t.Fatalf("hooks: %+v", hooks)
	}
	if st := e.Portainer.Stacks()[0]; st.GitConfig.ReferenceName != "refs/heads/trunk" {
		t.Fatalf("the stack deploys %s, want the source's default branch", st.GitConfig.ReferenceName)
	}
	before := e.Gitea.Branch(e.Owner, srcApp, "trunk")
	if _, err := e.Repos.CommitFiles(context.Background(), srcApp, gitea.Commit{Branch: "trunk", Message: "fix",
		Files: []gitea.FileChange{{Operation: gitea.OpCreate, Path: "fix.txt", Content: []byte("x\n")}}}); err != nil {
		t.Fatal(err)
	}
	body := e.Gitea.PushPayload(e.Owner, srcApp, "trunk", before)
	res, err := e.Svc.GiteaPush(context.Background(), "push", sign(hooks[0].Secret, body), body)
	if err != nil || res.Operation == nil {
		t.Fatalf("push: %+v %v", res, err)
	}
	if done := e.wait(res.Operation); done.Status != ops.StatusSucceeded || done.Kind != KindRedeploy {
		t.Fatalf("redeploy: %s %s", done.Status, done.Error)
	}
	if n := e.Portainer.Builds(srcApp); n != 2 {
		t.Fatalf("the push did not rebuild: %d builds", n)
	}
}

// The listing shows a from-source app as any other: INSTALLING while its
// operation runs, ERROR once it rolled back, with its endpoint; its ports
// are those the install chose.
func TestInstallFromSourceInTheListing(t *testing.T) {
	e := newEnv(t, withDeferredStart())
	e.Gitea.AddRemote(srcURL, giteafake.Remote{Files: map[string][]byte{"README.md": []byte("no material\n")}})
	e.prepSource()
	req := srcRequest
	req.Auth, req.Domains = nil, nil
	op, err := e.Svc.InstallFromSource(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	status := func() AppStatus {
		t.Helper()
		l, err := e.Svc.NewView().Apps(context.Background(), ListQuery{})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range l.Apps {
			if a.ID == srcApp {
				if a.EndpointID != 1 {
					t.Fatalf("endpoint %d", a.EndpointID)
				}
				return a.Status
			}
		}
		return ""
	}
	if s := status(); s != AppInstalling {
		t.Fatalf("queued from-source install listed as %q", s)
	}
	e.run()
	if op = e.wait(op); op.Status != ops.StatusRolledBack {
		t.Fatalf("%s %s", op.Status, op.Error)
	}
	if s := status(); s != AppError {
		t.Fatalf("rolled-back from-source install listed as %q", s)
	}
}

// A Kubernetes endpoint builds nothing: installFromSource there is refused
// before the import, with nothing written.
func TestInstallFromSourceRefusesKubernetesEndpoint(t *testing.T) {
	e := kubeEnv(t)
	e.Gitea.AddRemote(srcURL, giteafake.Remote{Files: helloFiles(), Username: srcUser, Password: srcToken})
	e.prepSource()
	req := srcRequest
	req.Domains, req.EndpointID = nil, kubeEP
	_, err := e.Svc.InstallFromSource(context.Background(), req)
	ae, ok := apperr.As(err)
	if !ok || ae.Code != apperr.PreconditionFailed || ae.Field != "endpointId" || !strings.Contains(ae.Message, "KUBERNETES") {
		t.Fatalf("installFromSource on Kubernetes: %v", err)
	}
	if n := e.Gitea.Faults.Calls("POST /api/v1/repos/migrate"); n != 0 {
		t.Errorf("the refused install called migrate %d times", n)
	}
	if l := e.kubeLeftovers(srcApp); len(l) != 0 {
		t.Errorf("left %v", l)
	}
}
