package apps

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/gitea"
	"github.com/appmanage/appmanage/datasources/portainer"
	portainerfake "github.com/appmanage/appmanage/datasources/portainer/fake"
	"github.com/appmanage/appmanage/library"
	"github.com/appmanage/appmanage/library/dotenv"
	"github.com/appmanage/appmanage/ops"
)

// The upgrade tests use a synthetic library app with two versions, whose
// image tag is the version.
const (
	upApp    = "twover"
	upOld    = "v1.10.3"
	upNew    = "v1.11.0"
	upImage  = "traefik/whoami:"
	upDomain = "tw.example.com"
)

func upgradeLibrary(t testing.TB, restart string) *library.Library {
	t.Helper()
	restartLine := ""
	if restart != "" {
		restartLine = "    restart: " + restart + "\n"
	}
	fsys := fstest.MapFS{
		upApp + "/.env": {Data: []byte("W9_REPO=traefik/whoami\nW9_DIST=community\nW9_VERSION=" + upOld +
			"\nW9_HTTP_PORT_SET=9471\nW9_TIMEZONE=UTC\nW9_LOG_LEVEL=info\nW9_ID=twover\nW9_HTTP_PORT=80\nW9_URL=localhost:9471\nW9_NETWORK=websoft9\n")},
		upApp + "/docker-compose.yml": {Data: []byte(`services:
  whoami:
    image: $W9_REPO:$W9_VERSION
    container_name: $W9_ID
` + restartLine + `    env_file: .env
    command: --name $W9_ID
    ports:
      - $W9_HTTP_PORT_SET:80
    volumes:
      - data:/data
    labels:
      com.docker.compose.http.port: "80"
volumes:
  data:
networks:
  default:
    name: $W9_NETWORK
    external: true
`)},
		upApp + "/variables.json": {Data: []byte(`{"name":"twover","trademark":"Two versions","edition":[{"dist":"community","version":["` + upNew + `","` + upOld + `","latest"]}]}`)},
	}
	lib, err := library.Load(fsys, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if p := lib.Problems(); len(p) != 0 {
		t.Fatalf("library problems: %+v", p)
	}
	return lib
}

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
		ok   bool
	}{
		{"1.10", "1.9", 1, true},
		{"v1.11.0", "v1.10.3", 1, true},
		{"1.2", "1.2.0", -1, true},
		{"1.2", "1.2-rc1", 1, true},
		{"6.9", "6.9", 0, true},
		{"1.26-ee", "1.25", 1, true},
		{"latest", "1.0", 0, false},
		{"1.0", "", 0, false},
	} {
		got, ok := compareVersions(c.a, c.b)
		if got != c.want || ok != c.ok {
			t.Errorf("compareVersions(%q, %q) = %d, %v; want %d, %v", c.a, c.b, got, ok, c.want, c.ok)
		}
	}
}

func TestUpdatesListsNewerVersionsNewestFirst(t *testing.T) {
	e := newEnv(t, withLibrary(upgradeLibrary(t, "")))
	vars := map[string]any{"edition": []any{map[string]any{"dist": "community", "version": []any{"v1.12.1", upNew, upOld, "v1.9.0", "latest"}}}}
	if got := e.Svc.Updates(upApp, upOld, vars); !slices.Equal(got, []string{"v1.12.1", upNew}) {
		t.Errorf("updates from the repository and the library: %q", got)
	}
	if got := e.Svc.Updates(upApp, upOld, nil); !slices.Equal(got, []string{upNew}) {
		t.Errorf("updates from the library alone: %q", got)
	}
	if got := e.Svc.Updates(upApp, upNew, nil); len(got) != 0 {
		t.Errorf("the newest version has updates %q", got)
	}
	if got := e.Svc.Updates("nosuchapp", "1.0", map[string]any{"edition": []any{map[string]any{"version": 1.5}}}); !slices.Equal(got, []string{"1.5"}) {
		t.Errorf("a number version in variables.json: %q", got)
	}
}

func TestUpgradedEnvKeepsUserValuesAndAddsTemplateKeys(t *testing.T) {
	lib := upgradeLibrary(t, "")
	app, _ := lib.Get(upApp)
	env, err := dotenv.Parse([]byte("# mine\nW9_VERSION=" + upOld + "\nW9_DIST=community\nW9_TIMEZONE='Europe/Berlin'\nW9_HTTP_PORT_SET=9999\nW9_ID=tw1\n"))
	if err != nil {
		t.Fatal(err)
	}
	added, err := upgradedEnv(env, &UpgradeTarget{Version: upNew, Dist: "community"}, app)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"W9_REPO", "W9_LOG_LEVEL", "W9_HTTP_PORT", "W9_URL", "W9_NETWORK"}
	if !slices.Equal(added, want) {
		t.Errorf("added %q, want %q", added, want)
	}
	for k, v := range map[string]string{"W9_VERSION": upNew, "W9_TIMEZONE": "Europe/Berlin", "W9_HTTP_PORT_SET": "9999", "W9_ID": "tw1", "W9_LOG_LEVEL": "info"} {
		if got, _ := env.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	// A password key the template adds gets a fresh password, as an
	// install writes it.
	tmpl, err := dotenv.Parse([]byte("W9_VERSION=1\nW9_POWER_PASSWORD=changeme\n"))
	if err != nil {
		t.Fatal(err)
	}
	pwApp := &library.App{Name: "pw", Env: tmpl}
	added, err = upgradedEnv(env, &UpgradeTarget{Version: upNew}, pwApp)
	if err != nil || !slices.Equal(added, []string{"W9_POWER_PASSWORD"}) {
		t.Fatalf("added %q, %v", added, err)
	}
	if pw, _ := env.Get("W9_POWER_PASSWORD"); pw == "changeme" || len(pw) != 20 {
		t.Errorf("the new password key got %q", pw)
	}
	if !strings.HasPrefix(string(env.Bytes()), "# mine\n") {
		t.Errorf("the comment was lost:\n%s", env.Bytes())
	}
}

// upInstall installs the two-version app as tw1 (with a domain when
// domain is set) and changes its repository's .env as a user would: a
// value of theirs, and a template key an older template did not have.
func upInstall(t *testing.T, e *testEnv, appID, domain string) {
	t.Helper()
	req := InstallRequest{AppName: upApp, AppID: appID}
	if domain != "" {
		req.Domains = []string{domain}
	}
	if op := e.install(req); op.Status != ops.StatusSucceeded {
		t.Fatalf("install: %s %s", op.Status, op.Error)
	}
	f, err := e.Repos.GetFile(t.Context(), appID, ".env", "main")
	if err != nil {
		t.Fatal(err)
	}
	env, err := dotenv.Parse(f.Content)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Set("W9_TIMEZONE", "Europe/Berlin"); err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(env.Bytes()), "W9_LOG_LEVEL=info\n", "", 1)
	if _, err := e.Repos.CommitFiles(t.Context(), appID, gitea.Commit{Branch: "main", Message: "user edit", Files: []gitea.FileChange{
		{Operation: gitea.OpUpdate, Path: ".env", Content: []byte(text), SHA: f.SHA},
	}}); err != nil {
		t.Fatal(err)
	}
}

func TestUpgradeRefusals(t *testing.T) {
	e := newEnv(t, withLibrary(upgradeLibrary(t, "")))
	upInstall(t, e, "tw1", "")
	ctx := t.Context()
	for _, c := range []struct {
		name string
		req  UpgradeRequest
		code apperr.Code
		msg  string
	}{
		{"unlisted version", UpgradeRequest{AppID: "tw1", Version: "9.9"}, apperr.ValidationFailed, `no version "9.9"; listed: ` + upNew + ", " + upOld + ", latest"},
		{"no version", UpgradeRequest{AppID: "tw1"}, apperr.ValidationFailed, "give the version"},
		{"the version it runs", UpgradeRequest{AppID: "tw1", Version: upOld}, apperr.PreconditionFailed, "already runs version " + upOld},
		{"gate too short", UpgradeRequest{AppID: "tw1", Version: upNew, HealthTimeout: time.Second}, apperr.ValidationFailed, "5 to 900 seconds"},
		{"no such app", UpgradeRequest{AppID: "nope1", Version: upNew}, apperr.NotFound, "nope1"},
	} {
		_, err := e.Svc.UpgradeApp(ctx, c.req)
		if apperr.CodeOf(err) != c.code || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v (want %s naming %q)", c.name, err, c.code, c.msg)
		}
	}
	ops, err := e.Engine.List(ctx, ops.ListFilter{AppID: "tw1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range ops {
		if op.Kind == KindUpgrade {
			t.Errorf("a refused upgrade left operation %s", op.ID)
		}
	}
}

// probeServer is NPM's proxy as the health gate reaches it in tests: an
// HTTP server answering status for the domain (the Host header).
func probeServer(t *testing.T, status *atomic.Int32) HTTPProbe {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != upDomain {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(srv.Close)
	return NPMProbe(srv.URL, srv.Client())
}

func upWaitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// upState is what the upgrade must leave as it found it, or change only
// as asked.
type upState struct {
	commits int
	files   map[string][]byte
	volumes []string
}

func upSnapshot(e *testEnv, appID string) upState {
	st := upState{commits: e.Gitea.Commits(e.Owner, appID), files: e.Gitea.Files(e.Owner, appID, "main")}
	for _, v := range e.Portainer.Volumes(1) {
		st.volumes = append(st.volumes, v.Name+"@"+v.CreatedAt.String())
	}
	slices.Sort(st.volumes)
	return st
}

// upImages lists the images the app's containers run, and whether all
// of them run.
func upImages(e *testEnv, appID string) ([]string, bool) {
	var out []string
	running := true
	for _, c := range e.Portainer.Containers(1) {
		if strings.EqualFold(c.Labels[projectLabel], appID) {
			out = append(out, c.Image)
			running = running && c.State == "running"
		}
	}
	slices.Sort(out)
	return out, running && len(out) > 0
}

func upEnvValue(t testing.TB, files map[string][]byte, key string) string {
	t.Helper()
	env, err := dotenv.Parse(files[".env"])
	if err != nil {
		t.Fatal(err)
	}
	v, _ := env.Get(key)
	return v
}

func TestUpgradeSucceeds(t *testing.T) {
	e := newEnv(t, withLibrary(upgradeLibrary(t, "")))
	var status atomic.Int32
	status.Store(http.StatusOK)
	var probes atomic.Int32
	probe := probeServer(t, &status)
	e.Svc.UseProbe(func(ctx context.Context, domain string) (int, error) {
		probes.Add(1)
		return probe(ctx, domain)
	})
	upInstall(t, e, "tw1", upDomain)
	if imgs, ok := upImages(e, "tw1"); !ok || !slices.Equal(imgs, []string{upImage + upOld}) {
		t.Fatalf("before the upgrade the app runs %q (all running: %v)", imgs, ok)
	}
	if e.Portainer.HasImage(1, upImage+upNew) {
		t.Fatal("the new image is on the endpoint before the upgrade")
	}
	before := upSnapshot(e, "tw1")

	op, err := e.Svc.UpgradeApp(upWaitCtx(t), UpgradeRequest{AppID: "tw1", Version: upNew, HealthTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	op = e.wait(op)
	if op.Status != ops.StatusSucceeded {
		t.Fatalf("upgrade: %s %s", op.Status, op.Error)
	}
	after := upSnapshot(e, "tw1")
	if after.commits != before.commits+1 {
		t.Errorf("the upgrade wrote %d commits, want one", after.commits-before.commits)
	}
	for k, want := range map[string]string{"W9_VERSION": upNew, "W9_TIMEZONE": "Europe/Berlin", "W9_LOG_LEVEL": "info", "W9_ID": "tw1"} {
		if got := upEnvValue(t, after.files, k); got != want {
			t.Errorf("upgraded .env: %s = %q, want %q", k, got, want)
		}
	}
	for p, b := range before.files {
		if p != ".env" && string(after.files[p]) != string(b) {
			t.Errorf("the upgrade changed %s", p)
		}
	}
	if imgs, ok := upImages(e, "tw1"); !ok || !slices.Equal(imgs, []string{upImage + upNew}) {
		t.Errorf("after the upgrade the app runs %q (all running: %v)", imgs, ok)
	}
	if !slices.Equal(after.volumes, before.volumes) {
		t.Errorf("volumes changed: %q -> %q", before.volumes, after.volumes)
	}
	if probes.Load() == 0 {
		t.Error("the health gate never requested the domain")
	}

	// The pull's events: per layer, byte counts that grow, before the
	// commit (the old version still running).
	evs, err := e.Engine.Events(t.Context(), op.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	layers := map[string][]int64{}
	commitSeq, lastPull := 0, 0
	for _, ev := range evs {
		if ev.Step == "commit" && commitSeq == 0 {
			commitSeq = ev.Seq
		}
		p := EventPull(ev.Detail)
		if p == nil {
			continue
		}
		if ev.Step != "pull" || p.Image != upImage+upNew {
			t.Errorf("pull detail on event %d of step %q for %q", ev.Seq, ev.Step, p.Image)
		}
		lastPull = ev.Seq
		if p.Layer != "" && p.Total > 0 && p.Status == "Downloading" {
			layers[p.Layer] = append(layers[p.Layer], p.Current)
		}
	}
	if len(layers) == 0 {
		t.Fatalf("no pull progress with byte counts in the events")
	}
	growing := 0
	for l, cur := range layers {
		if !slices.IsSorted(cur) {
			t.Errorf("layer %s: byte counts %v do not grow", l, cur)
		}
		if len(cur) >= 2 && cur[len(cur)-1] > cur[0] {
			growing++
		}
	}
	if growing == 0 {
		t.Errorf("no layer reported growing byte counts: %v", layers)
	}
	if commitSeq == 0 || lastPull > commitSeq {
		t.Errorf("the pull (last event %d) did not finish before the commit (event %d)", lastPull, commitSeq)
	}
	t.Logf("pull progress: %d layers, counts %v", len(layers), layers)

	if u := e.Svc.Updates(upApp, upNew, nil); len(u) != 0 {
		t.Errorf("updates after the upgrade: %q", u)
	}
}

func TestUpgradeRollsBackWhenTheNewVersionExits(t *testing.T) {
	e := newEnv(t, withLibrary(upgradeLibrary(t, "")))
	upInstall(t, e, "tw1", "")
	e.Portainer.FailImage(upImage+upNew, 3)
	before := upSnapshot(e, "tw1")

	op, err := e.Svc.UpgradeApp(upWaitCtx(t), UpgradeRequest{AppID: "tw1", Version: upNew, HealthTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	op = e.wait(op)
	if op.Status != ops.StatusRolledBack {
		t.Fatalf("upgrade to a version that exits: %s %s", op.Status, op.Error)
	}
	if want := "health gate: container tw1 is exited (exit code 3)"; !strings.Contains(op.Error, want) {
		t.Errorf("error %q does not give the gate's reason %q", op.Error, want)
	}
	after := upSnapshot(e, "tw1")
	if after.commits != before.commits+2 {
		t.Errorf("%d commits, want the upgrade and its revert", after.commits-before.commits)
	}
	if len(after.files) != len(before.files) {
		t.Errorf("files %d -> %d", len(before.files), len(after.files))
	}
	for p, b := range before.files {
		if string(after.files[p]) != string(b) {
			t.Errorf("%s differs from before the upgrade:\n%s\nwas\n%s", p, after.files[p], b)
		}
	}
	if imgs, ok := upImages(e, "tw1"); !ok || !slices.Equal(imgs, []string{upImage + upOld}) {
		t.Errorf("after the rollback the app runs %q (all running: %v)", imgs, ok)
	}
	if !slices.Equal(after.volumes, before.volumes) {
		t.Errorf("volumes changed: %q -> %q", before.volumes, after.volumes)
	}
	st := upStackOf(t, e, "tw1")
	if st.GitConfig == nil || st.GitConfig.ConfigHash != e.Gitea.Branch(e.Owner, "tw1", "main") {
		t.Errorf("the stack does not run the revert commit")
	}
}

func TestUpgradeRollsBackWhenTheDomainAnswers5xx(t *testing.T) {
	e := newEnv(t, withLibrary(upgradeLibrary(t, "")))
	var status atomic.Int32
	status.Store(http.StatusOK)
	e.Svc.UseProbe(probeServer(t, &status))
	upInstall(t, e, "tw1", upDomain)
	before := upSnapshot(e, "tw1")
	status.Store(http.StatusBadGateway)

	op, err := e.Svc.UpgradeApp(upWaitCtx(t), UpgradeRequest{AppID: "tw1", Version: upNew, HealthTimeout: MinHealthTimeout})
	if err != nil {
		t.Fatal(err)
	}
	op = e.wait(op)
	if op.Status != ops.StatusRolledBack || !strings.Contains(op.Error, "HTTP request to "+upDomain+" through NPM answered 502") {
		t.Fatalf("upgrade whose domain answers 502: %s %s", op.Status, op.Error)
	}
	after := upSnapshot(e, "tw1")
	for p, b := range before.files {
		if string(after.files[p]) != string(b) {
			t.Errorf("%s differs from before the upgrade", p)
		}
	}
	if imgs, ok := upImages(e, "tw1"); !ok || !slices.Equal(imgs, []string{upImage + upOld}) {
		t.Errorf("after the rollback the app runs %q (all running: %v)", imgs, ok)
	}
}

func upStackOf(t *testing.T, e *testEnv, appID string) *portainer.Stack {
	t.Helper()
	st, err := e.Stacks.FindStackByName(t.Context(), 1, appID)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// A step before the commit fails: the operation ends ROLLED_BACK with the
// reason, nothing was committed and the old version runs on.
func TestUpgradeStopsBeforeTheCommit(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup func(t *testing.T, e *testEnv)
		want  string
	}{
		{"the new image cannot be pulled", func(t *testing.T, e *testEnv) {
			e.Portainer.FailPull(upImage + upNew)
		}, "pull image " + upImage + upNew},
		{"a new host port is taken", func(t *testing.T, e *testEnv) {
			// The material at the head publishes one more port than runs.
			f, err := e.Repos.GetFile(t.Context(), "tw1", "docker-compose.yml", "main")
			if err != nil {
				t.Fatal(err)
			}
			compose := strings.Replace(string(f.Content), "      - $W9_HTTP_PORT_SET:80\n", "      - $W9_HTTP_PORT_SET:80\n      - 9472:8080\n", 1)
			if _, err := e.Repos.CommitFiles(t.Context(), "tw1", gitea.Commit{Branch: "main", Message: "one more port", Files: []gitea.FileChange{
				{Operation: gitea.OpUpdate, Path: "docker-compose.yml", Content: []byte(compose), SHA: f.SHA},
			}}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.Portainer.AddContainers(1, "other", portainerfake.Container{Name: "other1", Image: "nginx:1.27", State: "running",
				Ports: []portainerfake.PortBinding{{HostPort: 9472, ContainerPort: 80, Protocol: "tcp"}}}); err != nil {
				t.Fatal(err)
			}
		}, "publishes host port 9472/tcp (written in docker-compose.yml, service whoami), which container other1 holds"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, withLibrary(upgradeLibrary(t, "")))
			upInstall(t, e, "tw1", "")
			c.setup(t, e)
			before := upSnapshot(e, "tw1")
			op, err := e.Svc.UpgradeApp(t.Context(), UpgradeRequest{AppID: "tw1", Version: upNew})
			if err != nil {
				t.Fatal(err)
			}
			op = e.wait(op)
			if op.Status != ops.StatusRolledBack || !strings.Contains(op.Error, c.want) {
				t.Fatalf("%s %q; want ROLLED_BACK naming %q", op.Status, op.Error, c.want)
			}
			if after := upSnapshot(e, "tw1"); after.commits != before.commits {
				t.Errorf("%d commits written", after.commits-before.commits)
			}
			if imgs, ok := upImages(e, "tw1"); !ok || !slices.Equal(imgs, []string{upImage + upOld}) {
				t.Errorf("the app runs %q (all running: %v)", imgs, ok)
			}
		})
	}
}

// A new version whose container crashes and is restarted by its restart
// policy, again and again: the gate sees the loop (Docker's RestartCount)
// and fails at once, long before its timeout.
func TestUpgradeRollsBackARestartLoop(t *testing.T) {
	e := newEnv(t, withLibrary(upgradeLibrary(t, "unless-stopped")))
	upInstall(t, e, "tw1", "")
	e.Portainer.FailImage(upImage+upNew, 2)
	start := time.Now()
	op, err := e.Svc.UpgradeApp(t.Context(), UpgradeRequest{AppID: "tw1", Version: upNew, HealthTimeout: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	op = e.wait(op)
	if op.Status != ops.StatusRolledBack || !strings.Contains(op.Error, "health gate: container tw1 restarts in a loop") ||
		!strings.Contains(op.Error, "state restarting, exit code 2") {
		t.Fatalf("upgrade to a version in a restart loop: %s %s", op.Status, op.Error)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("the gate waited %s for a restart loop", took)
	}
	if imgs, ok := upImages(e, "tw1"); !ok || !slices.Equal(imgs, []string{upImage + upOld}) {
		t.Errorf("after the rollback the app runs %q (all running: %v)", imgs, ok)
	}
}

// The host ports of the new version are held while the upgrade runs: an
// install asking for one of them is refused, naming the upgrade.
func TestUpgradeHoldsItsNewPorts(t *testing.T) {
	e := newEnv(t, withLibrary(upgradeLibrary(t, "")))
	upInstall(t, e, "tw1", "")
	f, err := e.Repos.GetFile(t.Context(), "tw1", "docker-compose.yml", "main")
	if err != nil {
		t.Fatal(err)
	}
	compose := strings.Replace(string(f.Content), "      - $W9_HTTP_PORT_SET:80\n", "      - $W9_HTTP_PORT_SET:80\n      - 9472:8080\n", 1)
	if _, err := e.Repos.CommitFiles(t.Context(), "tw1", gitea.Commit{Branch: "main", Message: "one more port", Files: []gitea.FileChange{
		{Operation: gitea.OpUpdate, Path: "docker-compose.yml", Content: []byte(compose), SHA: f.SHA},
	}}); err != nil {
		t.Fatal(err)
	}
	e.restartDeferred() // the upgrade stays queued
	up, err := e.Svc.UpgradeApp(t.Context(), UpgradeRequest{AppID: "tw1", Version: upNew})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Svc.Install(t.Context(), InstallRequest{AppName: upApp, AppID: "tw2", Settings: []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: "9472"}}})
	if apperr.CodeOf(err) != apperr.PreconditionFailed || !strings.Contains(err.Error(), "the upgrade of app tw1") {
		t.Fatalf("an install of the upgrade's new port: %v", err)
	}
	e.run()
	if up = e.wait(up); up.Status != ops.StatusSucceeded {
		t.Fatalf("upgrade: %s %s", up.Status, up.Error)
	}
}
