package apps

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/appmanage/appmanage/datasources/faults"
	"github.com/appmanage/appmanage/datasources/gitea"
	giteafake "github.com/appmanage/appmanage/datasources/gitea/fake"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/datasources/proxymanager"
	npmfake "github.com/appmanage/appmanage/datasources/proxymanager/fake"
	"github.com/appmanage/appmanage/datasources/upstream"
	"github.com/appmanage/appmanage/ops"
)

// realLatency gives every fake route the latency the same call had on the
// real servers of issue 19 (Gitea 1.25, Portainer CE 2.23 on Docker 20.10,
// NPM 2.15.1 on a small VM; contracts §7): the slow writes as measured,
// every other call 30 ms.
func realLatency(e *testEnv) {
	always := func(in *faults.Injector, route string, d time.Duration) {
		in.Fail(route, faults.Fault{Delay: d, Times: 1 << 30})
	}
	for _, in := range []*faults.Injector{e.Gitea.Faults, e.Portainer.Faults, e.NPM.Faults} {
		always(in, "*", 30*time.Millisecond)
	}
	always(e.Gitea.Faults, giteafake.RouteCreateUserRepo, 40*time.Millisecond)
	always(e.Gitea.Faults, giteafake.RouteChangeFiles, 730*time.Millisecond)
	always(e.Gitea.Faults, giteafake.RouteDeleteRepo, 60*time.Millisecond)
	always(e.Portainer.Faults, "POST /api/stacks/create/standalone/repository", 470*time.Millisecond)
	always(e.Portainer.Faults, "DELETE /api/stacks/{id}", 170*time.Millisecond)
	always(e.NPM.Faults, npmfake.RouteLogin, 600*time.Millisecond) // bcrypt
	always(e.NPM.Faults, npmfake.RouteCreate, 300*time.Millisecond)
	always(e.NPM.Faults, npmfake.RouteDelete, 60*time.Millisecond)
}

// containerStartDelay is how long after the stack create a real
// container runs (contracts §7).
const containerStartDelay = 170 * time.Millisecond

// bareInstall makes the calls an install cannot do without, by hand: create
// the repository, commit the material, create the stack, create the proxy.
func bareInstall(ctx context.Context, e *testEnv, in InstallInput) error {
	app, _ := e.Lib.Get(in.AppName)
	files, err := render(app, in)
	if err != nil {
		return err
	}
	repo, err := e.Repos.CreateRepo(ctx, in.AppID, gitea.CreateRepoOptions{})
	if err != nil {
		return err
	}
	commit := gitea.Commit{Branch: "main", Message: "bare"}
	for _, p := range sortedKeys(files) {
		commit.Files = append(commit.Files, gitea.FileChange{Operation: "create", Path: p, Content: files[p]})
	}
	if _, err := e.Repos.CommitFiles(ctx, in.AppID, commit); err != nil {
		return err
	}
	if _, err := e.Stacks.CreateStackFromRepository(ctx, in.EndpointID, portainer.CreateRepositoryStackRequest{
		Name: in.AppID, RepositoryURL: repo.CloneURL, RepositoryReferenceName: "refs/heads/main", ComposeFile: "docker-compose.yml",
		RepositoryAuthentication: true, RepositoryUsername: giteafake.AdminUser, RepositoryPassword: e.Gitea.Token(giteafake.AdminUser),
	}); err != nil {
		return err
	}
	_, err = e.Proxies.CreateProxyHost(ctx, proxymanager.ProxyHostRequest{DomainNames: in.Domains, ForwardScheme: "http",
		ForwardHost: in.AppID, ForwardPort: 80, BlockExploits: true, AllowWebsocketUpgrade: true})
	return err
}

// bareUninstall deletes what bareInstall made: repository, proxy, stack.
func bareUninstall(ctx context.Context, e *testEnv, appID string, endpoint int) error {
	if err := e.Repos.DeleteRepo(ctx, appID); err != nil {
		return err
	}
	for _, h := range e.NPM.Hosts() {
		if h.ForwardHost == appID {
			if err := e.Proxies.DeleteProxyHost(ctx, h.ID); err != nil {
				return err
			}
		}
	}
	st, err := e.Stacks.FindStackByName(ctx, endpoint, appID)
	if err != nil {
		return err
	}
	return e.Stacks.DeleteStack(ctx, st.ID, endpoint)
}

// opTimings renders an operation's wall time and each step's.
func opTimings(op *ops.Operation, from time.Time) string {
	var b strings.Builder
	end := time.Now()
	if op.FinishedAt != nil {
		end = *op.FinishedAt
	}
	fmt.Fprintf(&b, "%s %s in %s", op.Kind, op.Status, end.Sub(from).Round(time.Millisecond))
	if op.StartedAt != nil {
		fmt.Fprintf(&b, " (before its first step: %s", op.StartedAt.Sub(from).Round(time.Millisecond))
		b.WriteString(")")
	}
	b.WriteString(":")
	for _, s := range op.Steps {
		if s.StartedAt == nil || s.FinishedAt == nil {
			fmt.Fprintf(&b, " %s %s;", s.Name, s.Status)
			continue
		}
		fmt.Fprintf(&b, " %s %s", s.Name, s.FinishedAt.Sub(*s.StartedAt).Round(time.Millisecond))
		if s.Attempts > 1 {
			fmt.Fprintf(&b, " (%d attempts)", s.Attempts)
		}
		b.WriteString(";")
	}
	return strings.TrimSuffix(b.String(), ";")
}

// BenchmarkInstallVsBareCalls runs install (request to SUCCEEDED) and
// uninstall of whoami with a domain against the fakes with realLatency and
// a container that runs containerStartDelay after its stack was created,
// and the same writes made by hand (bareInstall, bareUninstall, which do
// not wait for the container, as the hand-driven figures of issue 19 did
// not), reporting both and their ratio. The goal (issue 19): each within 1.2x of the bare
// calls. Clients are warm on both sides (the NPM token is cached), so no
// login is in either figure. Run it with -benchtime=3x or so: every
// iteration takes seconds.
func BenchmarkInstallVsBareCalls(b *testing.B) {
	var e *testEnv
	// A real stack's container runs 0.16-0.18 s after the create returned
	// (contracts §7); the fake's runs at once, so hold it at "created".
	startLater := func(ci upstream.CallInfo) {
		if e == nil || ci.Upstream != "portainer" || ci.Method != "POST" || !strings.HasPrefix(ci.Route, "/stacks/create/") || ci.Status != 200 {
			return
		}
		for _, c := range e.Portainer.Containers(1) {
			if c.State == "running" && time.Since(c.StartedAt) < time.Second {
				e.Portainer.SetContainerState(1, c.ID, "created", 0)
				time.AfterFunc(containerStartDelay, func() { e.Portainer.SetContainerState(1, c.ID, "running", 0) })
			}
		}
	}
	e = newEnv(b, withQuietLog(), withClientTimeout(10*time.Second), withObserver(startLater))
	ctx := context.Background()
	// Warm the clients (NPM login, Portainer endpoint) outside the timing.
	if _, err := e.Proxies.ListProxyHosts(ctx); err != nil {
		b.Fatal(err)
	}
	realLatency(e)
	var inst, uninst, bareInst, bareUninst time.Duration
	steps := map[string]time.Duration{}
	n := 0
	for b.Loop() {
		n++
		id := fmt.Sprintf("speed%d", n)
		req := InstallRequest{AppName: "whoami", AppID: id, Domains: []string{id + ".example.com"}}
		t0 := time.Now()
		op, err := e.Svc.Install(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if op, err = e.Engine.Wait(ctx, op.ID); err != nil || op.Status != ops.StatusSucceeded {
			b.Fatalf("install: %v %+v", err, op)
		}
		inst += time.Since(t0)
		for _, s := range op.Steps {
			steps["install "+s.Name] += s.FinishedAt.Sub(*s.StartedAt)
		}
		if n == 1 {
			b.Logf("%s", opTimings(op, t0))
		}
		t0 = time.Now()
		u, err := e.Svc.Uninstall(ctx, id, true, "")
		if err != nil {
			b.Fatal(err)
		}
		if u, err = e.Engine.Wait(ctx, u.ID); err != nil || u.Status != ops.StatusSucceeded {
			b.Fatalf("uninstall: %v %+v", err, u)
		}
		uninst += time.Since(t0)
		for _, s := range u.Steps {
			steps["uninstall "+s.Name] += s.FinishedAt.Sub(*s.StartedAt)
		}
		if n == 1 {
			b.Logf("%s", opTimings(u, t0))
		}

		bid := fmt.Sprintf("bare%d", n)
		in, _, err := e.Svc.validateInstall(InstallRequest{AppName: "whoami", AppID: bid, Domains: []string{bid + ".example.com"}})
		if err != nil {
			b.Fatal(err)
		}
		in.EndpointID = 1
		t0 = time.Now()
		if err := bareInstall(ctx, e, in); err != nil {
			b.Fatal(err)
		}
		bareInst += time.Since(t0)
		t0 = time.Now()
		if err := bareUninstall(ctx, e, bid, 1); err != nil {
			b.Fatal(err)
		}
		bareUninst += time.Since(t0)
	}
	b.StopTimer()
	f := float64(n)
	ms := func(d time.Duration) float64 { return float64(d.Milliseconds()) / f }
	b.ReportMetric(ms(inst), "install-ms")
	b.ReportMetric(ms(bareInst), "bare-install-ms")
	b.ReportMetric(float64(inst)/float64(bareInst), "install-x")
	b.ReportMetric(ms(uninst), "uninstall-ms")
	b.ReportMetric(ms(bareUninst), "bare-uninstall-ms")
	b.ReportMetric(float64(uninst)/float64(bareUninst), "uninstall-x")
	names := make([]string, 0, len(steps))
	for k := range steps {
		names = append(names, k)
	}
	sort.Strings(names)
	var sb strings.Builder
	for _, k := range names {
		fmt.Fprintf(&sb, " %s %.0fms;", k, ms(steps[k]))
	}
	b.Logf("mean step times:%s", strings.TrimSuffix(sb.String(), ";"))
}
