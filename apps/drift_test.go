package apps

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/faults"
	"github.com/appmanage/appmanage/datasources/gitea"
	"github.com/appmanage/appmanage/datasources/proxymanager"
	npmfake "github.com/appmanage/appmanage/datasources/proxymanager/fake"
	"github.com/appmanage/appmanage/ops"
)

// driftApp installs a whoami app with two domains and returns its id.
func driftApp(t *testing.T, e *testEnv, id string, port string) {
	t.Helper()
	op := e.install(InstallRequest{AppName: "whoami", AppID: id, Domains: []string{id + ".example.com", "www." + id + ".example.com"},
		Settings: []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: port}}})
	if op.Status != ops.StatusSucceeded {
		t.Fatalf("install %s: %s %s", id, op.Status, op.Error)
	}
}

// appState is what "the app answers as before" compares.
type appState struct {
	Status  AppStatus
	Domains []string
	Default string
	Proxies []string // "domains -> scheme://host:port enabled"
	Running bool
}

func readState(t *testing.T, e *testEnv, id string) (appState, []DriftIssue) {
	t.Helper()
	ctx := context.Background()
	e.Svc.InvalidateLists()
	v := e.Svc.NewView()
	a, problems, err := v.App(ctx, id, false)
	if err != nil || a == nil {
		t.Fatalf("app %s: %+v %v %v", id, a, problems, err)
	}
	refs := []AppRef{a.AppRef}
	drift, derrs := v.Drift(ctx, refs)
	if derrs[0] != nil {
		t.Fatalf("drift of %s: %v", id, derrs[0])
	}
	st := appState{Status: a.Status}
	ds, errs := v.Domains(ctx, refs)
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
	st.Domains = slices.Sorted(slices.Values(ds[0]))
	def, _ := v.DefaultDomains(ctx, refs)
	st.Default = def[0]
	hosts, _ := v.Proxies(ctx, refs)
	for _, h := range hosts[0] {
		names := slices.Sorted(slices.Values(h.Domains))
		st.Proxies = append(st.Proxies, strings.Join(names, ",")+" -> "+h.ForwardScheme+"://"+h.ForwardHost+":"+strconv.Itoa(h.ForwardPort)+" "+onOff(h.Enabled))
	}
	cs, _ := v.Containers(ctx, refs)
	for _, c := range cs[0] {
		if c.Name == id && c.State == "running" {
			st.Running = true
		}
	}
	return st, drift[0]
}

func kinds(issues []DriftIssue) []DriftKind {
	var out []DriftKind
	for _, is := range issues {
		if !slices.Contains(out, is.Kind) {
			out = append(out, is.Kind)
		}
	}
	return out
}

func (e *testEnv) mainContainer(id string) string {
	for _, c := range e.Portainer.Containers(1) {
		if strings.EqualFold(c.Name, id) || strings.EqualFold(strings.TrimPrefix(c.Name, "/"), id) {
			return c.ID
		}
	}
	e.t.Fatalf("no container %s", id)
	return ""
}

func (e *testEnv) appProxy(id string) proxymanager.ProxyHost {
	for _, h := range e.NPM.Hosts() {
		if h.ForwardHost == id {
			hs, err := e.Proxies.GetProxyHost(context.Background(), h.ID)
			if err != nil {
				e.t.Fatal(err)
			}
			return *hs
		}
	}
	e.t.Fatalf("no proxy host of %s", id)
	return proxymanager.ProxyHost{}
}

// Acceptance 4: for each drift kind, the fakes are changed directly (as a
// user of Portainer, Gitea or NPM would), drift names the kind, repairApp
// fixes it, drift is empty and the app answers as before, domains included.
func TestDriftKindsAreSeenAndRepaired(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		kind   DriftKind
		break_ func(t *testing.T, e *testEnv, id string)
	}{
		{DriftStackMissing, func(t *testing.T, e *testEnv, id string) {
			st, err := e.Stacks.FindStackByName(ctx, 1, id)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Stacks.DeleteStack(ctx, st.ID, 1); err != nil {
				t.Fatal(err)
			}
		}},
		{DriftStackNotGit, func(t *testing.T, e *testEnv, id string) {
			st, err := e.Stacks.FindStackByName(ctx, 1, id)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Stacks.DeleteStack(ctx, st.ID, 1); err != nil {
				t.Fatal(err)
			}
			compose := "services:\n  web:\n    image: traefik/whoami:v1.10.3\n    container_name: " + id + "\n    labels:\n      com.docker.compose.http.port: \"80\"\n"
			if _, err := e.Portainer.AddStack(1, id, compose); err != nil {
				t.Fatal(err)
			}
		}},
		{DriftStackBehind, func(t *testing.T, e *testEnv, id string) {
			f, err := e.Repos.GetFile(ctx, id, ".env", "main")
			if err != nil {
				t.Fatal(err)
			}
			content := append(append([]byte{}, f.Content...), []byte("# edited in Gitea\n")...)
			if _, err := e.Repos.CommitFiles(ctx, id, gitea.Commit{Branch: "main", Message: "edit by hand",
				Files: []gitea.FileChange{{Operation: gitea.OpUpdate, Path: ".env", Content: content, SHA: f.SHA}}}); err != nil {
				t.Fatal(err)
			}
			// Nobody told appmanage: the reconciler's pass sees the
			// repository's updated_at move.
			if _, err := e.Svc.Reconcile(ctx); err != nil {
				t.Fatal(err)
			}
		}},
		{DriftContainersDown, func(t *testing.T, e *testEnv, id string) {
			if !e.Portainer.SetContainerState(1, e.mainContainer(id), "exited", 137) {
				t.Fatal("container state not set")
			}
		}},
		{DriftProxyMissing, func(t *testing.T, e *testEnv, id string) {
			if err := e.Proxies.DeleteProxyHost(ctx, e.appProxy(id).ID); err != nil {
				t.Fatal(err)
			}
		}},
		{DriftProxyTargetWrong, func(t *testing.T, e *testEnv, id string) {
			if _, err := e.Proxies.UpdateProxyHost(ctx, e.appProxy(id).ID, proxymanager.ProxyHostUpdate{ForwardPort: new(8081)}); err != nil {
				t.Fatal(err)
			}
		}},
		{DriftProxyOffline, func(t *testing.T, e *testEnv, id string) {
			e.NPM.FailNginx("unknown directive \"bogus\"")
			_, _ = e.Proxies.UpdateProxyHost(ctx, e.appProxy(id).ID, proxymanager.ProxyHostUpdate{HTTP2Support: new(true)})
			e.NPM.FailNginx("")
		}},
	}
	for i, c := range cases {
		t.Run(string(c.kind), func(t *testing.T) {
			e := newEnv(t)
			id := "drift" + string(rune('a'+i))
			driftApp(t, e, id, "92"+strconv.Itoa(10+i))
			before, issues := readState(t, e, id)
			if len(issues) != 0 {
				t.Fatalf("fresh install has drift: %+v", issues)
			}
			if !before.Running || len(before.Domains) != 2 || len(before.Proxies) != 1 {
				t.Fatalf("fresh install: %+v", before)
			}

			c.break_(t, e, id)
			_, issues = readState(t, e, id)
			if !slices.Contains(kinds(issues), c.kind) {
				t.Fatalf("after breaking: drift %+v, want %s", issues, c.kind)
			}
			for _, is := range issues {
				if !is.Repairable || is.Message == "" {
					t.Errorf("issue %+v: want repairable with a message", is)
				}
			}
			t.Logf("drift: %+v", issues)

			op, err := e.Svc.RepairApp(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if op.Kind != KindRepair {
				t.Fatalf("kind %s", op.Kind)
			}
			done := e.wait(op)
			if done.Status != ops.StatusSucceeded {
				t.Fatalf("repair: %s %s %+v", done.Status, done.Error, done.Steps)
			}
			after, issues := readState(t, e, id)
			if len(issues) != 0 {
				t.Fatalf("after repair: drift %+v", issues)
			}
			if after.Status != before.Status || !slices.Equal(after.Domains, before.Domains) || after.Default != before.Default ||
				after.Running != before.Running || !slices.Equal(after.Proxies, before.Proxies) {
				t.Errorf("after repair the app differs:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
}

// A second repair of a repaired app finds nothing to do and succeeds; the
// domains recorded in the repository survive a deleted proxy.
func TestRepairIsIdempotentAndDomainsComeFromTheRepository(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	driftApp(t, e, "rep", "9301")
	rec := e.Gitea.Files(e.Owner, "rep", "main")[desiredFile]
	if !strings.Contains(string(rec), "www.rep.example.com") {
		t.Fatalf("%s: %s", desiredFile, rec)
	}
	// Adding a domain records it too.
	op, err := e.Svc.AddAppDomains(ctx, "rep", []string{"more.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if d := e.wait(op); d.Status != ops.StatusSucceeded {
		t.Fatalf("add domains: %s %s", d.Status, d.Error)
	}
	if rec := e.Gitea.Files(e.Owner, "rep", "main")[desiredFile]; !strings.Contains(string(rec), "more.example.com") {
		t.Fatalf("%s after addAppDomains: %s", desiredFile, rec)
	}
	before, issues := readState(t, e, "rep")
	if len(issues) != 0 {
		t.Fatalf("drift after addAppDomains: %+v", issues)
	}
	if err := e.Proxies.DeleteProxyHost(ctx, e.appProxy("rep").ID); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		op, err := e.Svc.RepairApp(ctx, "rep")
		if err != nil {
			t.Fatal(err)
		}
		if d := e.wait(op); d.Status != ops.StatusSucceeded {
			t.Fatalf("repair: %s %s", d.Status, d.Error)
		}
	}
	after, issues := readState(t, e, "rep")
	if len(issues) != 0 || !slices.Equal(after.Domains, before.Domains) || len(e.NPM.Hosts()) != 1 {
		t.Fatalf("after repairs: %+v drift %+v hosts %+v (before %+v)", after, issues, e.NPM.Hosts(), before)
	}
}

// A repair that cannot fix the drift fails naming it: the repository is
// gone, so a missing stack cannot be rebuilt.
func TestRepairFailsNamingWhatItCouldNotFix(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	driftApp(t, e, "gone", "9302")
	st, _ := e.Stacks.FindStackByName(ctx, 1, "gone")
	if err := e.Stacks.DeleteStack(ctx, st.ID, 1); err != nil {
		t.Fatal(err)
	}
	if err := e.Repos.DeleteRepo(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	op, err := e.Svc.RepairApp(ctx, "gone")
	if err != nil {
		t.Fatal(err)
	}
	d := e.wait(op)
	if d.Status != ops.StatusFailed || !strings.Contains(d.Error, "STACK_MISSING") {
		t.Fatalf("repair: %s %q", d.Status, d.Error)
	}
	// Such an app can still be uninstalled, and then is gone.
	if _, err := e.Stacks.FindStackByName(ctx, 1, "gone"); !notFound(err) {
		t.Fatalf("the failed repair left a stack: %v", err)
	}
	op, err = e.Svc.Uninstall(ctx, "gone", true, "")
	if err != nil {
		t.Fatal(err)
	}
	if d := e.wait(op); d.Status != ops.StatusSucceeded {
		t.Fatalf("uninstall: %s %s", d.Status, d.Error)
	}
	e.Svc.InvalidateLists()
	if a, _, err := e.Svc.NewView().App(ctx, "gone", false); err != nil || a != nil {
		t.Fatalf("after uninstall the app is still listed: %+v %v", a, err)
	}
	if l := e.leftovers("gone"); len(l) != 0 {
		t.Errorf("leftovers: %v", l)
	}
}

// The reconciler counts drift by kind and repairs only with autoRepair on.
func TestReconcileCountsAndRepairsOnlyWhenAsked(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.Svc.UseSettings(e.DB)
	driftApp(t, e, "reca", "9501")
	driftApp(t, e, "recb", "9502")
	if rep, err := e.Svc.Reconcile(ctx); err != nil || rep.Apps != 2 || rep.Drifting != 0 {
		t.Fatalf("clean pass: %+v %v", rep, err)
	}
	if !e.Portainer.SetContainerState(1, e.mainContainer("recb"), "exited", 1) {
		t.Fatal("state not set")
	}
	if err := e.Proxies.DeleteProxyHost(ctx, e.appProxy("reca").ID); err != nil {
		t.Fatal(err)
	}
	rep, err := e.Svc.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Drifting != 2 || rep.Issues[DriftContainersDown] != 1 || rep.Issues[DriftProxyMissing] != 1 || len(rep.Repairs) != 0 || rep.AutoRepair {
		t.Fatalf("pass with autoRepair off: %+v", rep)
	}
	if _, issues := readState(t, e, "recb"); !slices.Contains(kinds(issues), DriftContainersDown) {
		t.Fatalf("without autoRepair the app was changed: %+v", issues)
	}
	if got := e.Svc.DriftReport(); got.Issues[DriftContainersDown] != 1 || got.At.IsZero() || len(got.Issues) != len(DriftKinds) {
		t.Fatalf("DriftReport %+v", got)
	}

	if _, err := e.Svc.UpdateSettings(ctx, []EnvSetting{{Name: "autoRepair", Value: "true"}, {Name: "reconcileInterval", Value: "1m"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Svc.UpdateSettings(ctx, []EnvSetting{{Name: "reconcileInterval", Value: "1s"}}); err == nil {
		t.Error("an interval below 10s was accepted")
	}
	if d := e.Svc.ReconcileInterval(ctx); d.String() != "1m0s" {
		t.Errorf("interval %s", d)
	}
	rep, err = e.Svc.Reconcile(ctx)
	if err != nil || !rep.AutoRepair || len(rep.Repairs) != 2 {
		t.Fatalf("pass with autoRepair on: %+v %v", rep, err)
	}
	for _, id := range rep.Repairs {
		op, err := e.Engine.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if d := e.wait(op); d.Status != ops.StatusSucceeded || d.Kind != KindRepair {
			t.Fatalf("auto repair %s: %s %s", d.Kind, d.Status, d.Error)
		}
	}
	if rep, err := e.Svc.Reconcile(ctx); err != nil || rep.Drifting != 0 || len(rep.Repairs) != 0 {
		t.Fatalf("pass after the repairs: %+v %v", rep, err)
	}

	// RunReconciler ends when its context does.
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); e.Svc.RunReconciler(rctx) }()
	cancel()
	<-done
}

// Repair under upstream faults on the calls that create things: a refused
// call is retried, a lost answer is found by name; either way the repair
// ends with one stack and one proxy host, and no drift.
func TestRepairUnderFaults(t *testing.T) {
	ctx := context.Background()
	const stackCreate = "POST /api/stacks/create/standalone/repository"
	cases := []struct {
		name  string
		route func() string
		fault faults.Fault
	}{
		{"stack create 502", func() string { return stackCreate }, faults.Fault{Status: 502, Body: `{"message":"bad gateway"}`}},
		{"stack create answer lost", func() string { return stackCreate }, faults.Fault{Status: 502, Body: `{"message":"bad gateway"}`, Phase: faults.After}},
		{"stack create dropped", func() string { return stackCreate }, faults.Fault{Drop: true}},
		{"proxy create 503", func() string { return npmfake.RouteCreate }, faults.Fault{Status: 503, Body: `{"error":{"code":503,"message":"busy"}}`}},
		{"proxy create answer lost", func() string { return npmfake.RouteCreate }, faults.Fault{Status: 502, Body: `{"error":{"code":502,"message":"lost"}}`, Phase: faults.After}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			id := "flt" + strconv.Itoa(i)
			driftApp(t, e, id, strconv.Itoa(9700+i))
			st, _ := e.Stacks.FindStackByName(ctx, 1, id)
			if err := e.Stacks.DeleteStack(ctx, st.ID, 1); err != nil {
				t.Fatal(err)
			}
			if err := e.Proxies.DeleteProxyHost(ctx, e.appProxy(id).ID); err != nil {
				t.Fatal(err)
			}
			// Armed before the request: its preflight creates nothing.
			calls := func() int { return e.Portainer.Faults.Calls(c.route()) + e.NPM.Faults.Calls(c.route()) }
			before := calls()
			if strings.HasPrefix(c.route(), "POST /api/stacks") {
				e.Portainer.Faults.Fail(c.route(), c.fault)
			} else {
				e.NPM.Faults.Fail(c.route(), c.fault)
			}
			op, err := e.Svc.RepairApp(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if d := e.wait(op); d.Status != ops.StatusSucceeded {
				t.Fatalf("repair: %s %s", d.Status, d.Error)
			}
			if _, issues := readState(t, e, id); len(issues) != 0 {
				t.Fatalf("drift after repair: %+v", issues)
			}
			var stacks, hosts int
			for _, s := range e.Portainer.Stacks() {
				if s.Name == id {
					stacks++
				}
			}
			for _, h := range e.NPM.Hosts() {
				if h.ForwardHost == id {
					hosts++
				}
			}
			if stacks != 1 || hosts != 1 {
				t.Fatalf("%d stacks, %d proxy hosts after the repair, want 1 and 1", stacks, hosts)
			}
			if calls()-before < 1 {
				t.Fatalf("the faulted route %s was not called", c.route())
			}
		})
	}
}

// autoRepair does not start a repair again after one failed.
func TestAutoRepairDoesNotRepeatAFailedRepair(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.Svc.UseSettings(e.DB)
	driftApp(t, e, "again", "9801")
	st, _ := e.Stacks.FindStackByName(ctx, 1, "again")
	if err := e.Stacks.DeleteStack(ctx, st.ID, 1); err != nil {
		t.Fatal(err)
	}
	if err := e.Repos.DeleteRepo(ctx, "again"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Svc.UpdateSettings(ctx, []EnvSetting{{Name: "autoRepair", Value: "true"}}); err != nil {
		t.Fatal(err)
	}
	rep, _ := e.Svc.Reconcile(ctx)
	if len(rep.Repairs) != 1 {
		t.Fatalf("first pass: %+v", rep)
	}
	op, _ := e.Engine.Get(ctx, rep.Repairs[0])
	if d := e.wait(op); d.Status == ops.StatusSucceeded {
		t.Fatalf("repair without a repository succeeded")
	}
	rep, _ = e.Svc.Reconcile(ctx)
	if len(rep.Repairs) != 0 || rep.Issues[DriftStackMissing] != 1 {
		t.Fatalf("second pass: %+v", rep)
	}
}

// A stack made by hand (not installed by appmanage, not deployed from its
// Gitea) is no app repairApp touches.
func TestRepairRefusesAStackMadeByHand(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if _, err := e.Portainer.AddStack(1, "byhand", "services:\n  web:\n    image: nginx:1\n    container_name: byhand\n"); err != nil {
		t.Fatal(err)
	}
	e.Svc.InvalidateLists()
	if _, issues := readState(t, e, "byhand"); len(issues) != 0 {
		t.Fatalf("drift of a stack made by hand: %+v", issues)
	}
	if _, err := e.Svc.RepairApp(ctx, "byhand"); !notFoundCode(err) {
		t.Fatalf("repair of a stack made by hand: %v", err)
	}
	if len(e.Portainer.Stacks()) != 1 {
		t.Fatal("the stack was touched")
	}
}

func notFoundCode(err error) bool { return apperr.CodeOf(err) == apperr.NotFound }

// A proxy nginx keeps refusing cannot be repaired: the repair fails naming
// the host.
func TestRepairOfAProxyNginxStillRefuses(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	driftApp(t, e, "ngx", "9901")
	h := e.appProxy("ngx")
	e.NPM.FailNginx("unknown directive \"bogus\"")
	_, _ = e.Proxies.UpdateProxyHost(ctx, h.ID, proxymanager.ProxyHostUpdate{HTTP2Support: new(true)})
	if _, issues := readState(t, e, "ngx"); !slices.Contains(kinds(issues), DriftProxyOffline) {
		t.Fatalf("drift %+v", issues)
	}
	op, err := e.Svc.RepairApp(ctx, "ngx")
	if err != nil {
		t.Fatal(err)
	}
	d := e.wait(op)
	if d.Status != ops.StatusFailed || !strings.Contains(d.Error, "proxy host "+strconv.Itoa(h.ID)) {
		t.Fatalf("repair: %s %q", d.Status, d.Error)
	}
}
