package apps

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/appmanage/appmanage/datasources/faults"
	"github.com/appmanage/appmanage/datasources/proxymanager"
	npmfake "github.com/appmanage/appmanage/datasources/proxymanager/fake"
	"github.com/appmanage/appmanage/ops"
)

// stoppedApp installs whoami as appID with one domain and stops it: its
// container is gone, so no name of it resolves.
func stoppedApp(t *testing.T, e *testEnv, appID string, domains ...string) npmfake.ProxyHost {
	t.Helper()
	domInstall(t, e, InstallRequest{AppName: "whoami", AppID: appID, Domains: domains})
	hs := domHosts(e, appID)
	if len(hs) != 1 || hs[0].Meta["nginx_online"] != true {
		t.Fatalf("after install: hosts %+v, want one online", hs)
	}
	op, err := e.Svc.StopApp(context.Background(), appID, "")
	domSucceeded(t, e, op, err)
	for _, c := range e.Portainer.Containers(1) {
		if c.Labels[projectLabel] == appID && c.State == "running" {
			t.Fatalf("container %s still runs after stop", c.Name)
		}
	}
	return hs[0]
}

// The fake's nginx refuses a host whose custom location forwards to a
// stopped app's container, as the real one does (issue 19), and loads one
// whose own forward host is that container: nginx resolves that per
// request (NPM sets it through variables).
func TestProxyForStoppedContainerRejectedLikeNginx(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	stoppedApp(t, e, "gone1", "gone1.example.com")
	h, err := e.Proxies.CreateProxyHost(ctx, proxymanager.ProxyHostRequest{
		DomainNames: []string{"other.example.com"}, ForwardScheme: "http", ForwardHost: "127.0.0.1", ForwardPort: 80,
		Locations: []proxymanager.Location{{Path: "/app", ForwardScheme: "http", ForwardHost: "gone1", ForwardPort: 80}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Proxies.CheckOnline(ctx, h.ID); err == nil || !strings.Contains(err.Error(), `host not found in upstream "gone1"`) {
		t.Fatalf("CheckOnline of a location to a stopped app = %v", err)
	}
	direct := domCreateForeign(t, e, "gone1", "direct.example.com")
	if _, err := e.Proxies.CheckOnline(ctx, direct.ID); err != nil {
		t.Fatalf("a host forwarding to a stopped app's container: %v (nginx resolves it per request)", err)
	}
}

// Each domain operation on a stopped app has the outcome README "Domains of
// a stopped app" documents: it runs as on a running app, nginx loads the
// hosts (their forward host is resolved per request), and they serve once
// the app runs again.
func TestDomainOperationsOnStoppedApp(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	host := stoppedApp(t, e, "stop1", "stop1.example.com")
	online := func(t *testing.T, wantHosts int, wantEnabled bool) []npmfake.ProxyHost {
		t.Helper()
		hs := domHosts(e, "stop1")
		if len(hs) != wantHosts {
			t.Fatalf("hosts %+v, want %d", hs, wantHosts)
		}
		for _, h := range hs {
			if h.Enabled != wantEnabled || (wantEnabled && h.Meta["nginx_online"] != true) {
				t.Errorf("host %d: enabled %v, meta %v; want enabled %v and online", h.ID, h.Enabled, h.Meta, wantEnabled)
			}
		}
		return hs
	}
	cases := []struct {
		name  string
		call  func() (*ops.Operation, error)
		check func(t *testing.T)
	}{
		{"add domains", func() (*ops.Operation, error) { return e.Svc.AddAppDomains(ctx, "stop1", []string{"new.example.com"}) }, func(t *testing.T) {
			if hs := online(t, 1, true); !sameDomains(hs[0].DomainNames, []string{"stop1.example.com", "new.example.com"}) {
				t.Errorf("domains %v", hs[0].DomainNames)
			}
		}},
		{"update proxy", func() (*ops.Operation, error) {
			return e.Svc.UpdateAppProxy(ctx, "stop1", host.ID, []string{"stop1.example.com", "changed.example.com"})
		}, func(t *testing.T) {
			if hs := online(t, 1, true); !sameDomains(hs[0].DomainNames, []string{"stop1.example.com", "changed.example.com"}) {
				t.Errorf("domains %v", hs[0].DomainNames)
			}
		}},
		{"disable proxies", func() (*ops.Operation, error) { return e.Svc.DisableAppProxies(ctx, "stop1") }, func(t *testing.T) {
			online(t, 1, false)
		}},
		{"enable proxies", func() (*ops.Operation, error) { return e.Svc.EnableAppProxies(ctx, "stop1") }, func(t *testing.T) {
			online(t, 1, true)
		}},
		{"default domain", func() (*ops.Operation, error) { return e.Svc.SetDefaultDomain(ctx, "stop1", "changed.example.com") }, func(t *testing.T) {
			if got := domEnvValue(t, e, "stop1", "W9_URL"); got != "changed.example.com" {
				t.Errorf("W9_URL = %q", got)
			}
		}},
		{"delete proxy", func() (*ops.Operation, error) { return e.Svc.DeleteAppProxy(ctx, "stop1", host.ID) }, func(t *testing.T) {
			online(t, 0, true)
		}},
		{"add domains creating a proxy", func() (*ops.Operation, error) {
			return e.Svc.AddAppDomains(ctx, "stop1", []string{"again.example.com"})
		}, func(t *testing.T) {
			online(t, 1, true)
		}},
		{"delete proxies", func() (*ops.Operation, error) { return e.Svc.DeleteAppProxies(ctx, "stop1") }, func(t *testing.T) {
			online(t, 0, true)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op, err := c.call()
			if err != nil {
				t.Fatalf("%s on a stopped app refused: %v", c.name, err)
			}
			if done := e.wait(op); done.Status != ops.StatusSucceeded {
				t.Fatalf("%s: %s %s", c.name, done.Status, done.Error)
			}
			c.check(t)
		})
	}
	// Started again, the app is served on its domain (after nginx's reload).
	op, err := e.Svc.AddAppDomains(ctx, "stop1", []string{"served.example.com"})
	domSucceeded(t, e, op, err)
	op, err = e.Svc.StartApp(ctx, "stop1", "")
	domSucceeded(t, e, op, err)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := e.NPM.Serving("served.example.com"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("served.example.com not served after the start")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A host nginx refused (here: nginx -t failing while an update's undo put
// the host back) is tested again by the app's next start, so it serves once
// the cause is gone; the undo says nginx refused it.
func TestStartRetestsRefusedProxies(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	domInstall(t, e, InstallRequest{AppName: "whoami", AppID: "heal1", Domains: []string{"heal1.example.com"}})
	host := domHosts(e, "heal1")[0]
	e.NPM.FailNginx(`host not found in upstream "heal1"`)
	op, err := e.Svc.UpdateAppProxy(ctx, "heal1", host.ID, []string{"heal1.example.com", "more.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if done := e.wait(op); done.Status != ops.StatusRolledBack {
		t.Fatalf("update while nginx refuses: %s %s", done.Status, done.Error)
	}
	hs := domHosts(e, "heal1")
	if len(hs) != 1 || !sameDomains(hs[0].DomainNames, host.DomainNames) || hs[0].Meta["nginx_online"] != false {
		t.Fatalf("after undo: %+v, want the old domains back and nginx_online false", hs)
	}
	e.NPM.FailNginx("")
	op, err = e.Svc.RestartApp(ctx, "heal1", "")
	domSucceeded(t, e, op, err)
	if hs := domHosts(e, "heal1"); len(hs) != 1 || hs[0].Meta["nginx_online"] != true || !sameDomains(hs[0].DomainNames, host.DomainNames) {
		t.Fatalf("after restart: %+v, want the host online, unchanged", hs)
	}
}

// An undo that recreates an enabled host logs when nginx refuses it.
func TestUndoLogsNginxRefusingRecreatedHost(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	domInstall(t, e, InstallRequest{AppName: "whoami", AppID: "heal2", Domains: []string{"heal2.example.com"}})
	host := domHosts(e, "heal2")[0]
	// Deleting the only proxy moves W9_URL to host:port; that commit fails,
	// so the operation undoes the delete, while nginx refuses every config.
	e.Gitea.Faults.Fail("POST /api/v1/repos/{owner}/{repo}/contents", faults.Fault{Status: 500, Body: `{"message":"boom"}`, Times: 10})
	e.NPM.FailNginx("injected")
	op, err := e.Svc.DeleteAppProxy(ctx, "heal2", host.ID)
	if err != nil {
		t.Fatal(err)
	}
	if done := e.wait(op); done.Status != ops.StatusRolledBack {
		t.Fatalf("delete with a failing commit: %s %s", done.Status, done.Error)
	}
	e.Gitea.Faults.Clear()
	e.NPM.FailNginx("")
	hs := domHosts(e, "heal2")
	if len(hs) != 1 || !hs[0].Enabled || !sameDomains(hs[0].DomainNames, host.DomainNames) || hs[0].ForwardPort != host.ForwardPort {
		t.Fatalf("after undo: %+v, want the host back as it was (%+v)", hs, host)
	}
	evs, err := e.Engine.Events(ctx, op.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	noted := false
	for _, ev := range evs {
		noted = noted || strings.Contains(ev.Message, "nginx refuses proxy host")
	}
	if !noted {
		t.Errorf("the undo does not say nginx refuses the recreated host: %+v", evs)
	}
}

// The proxies step of a start is a repair: NPM not answering is logged,
// and the start, whose container runs, succeeds.
func TestStartSucceedsWhenNPMDoesNotAnswer(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	stoppedApp(t, e, "stop3", "stop3.example.com")
	e.NPM.Faults.Fail(npmfake.RouteList, faults.Fault{Status: 502, Body: "bad gateway", Times: 50})
	op, err := e.Svc.StartApp(ctx, "stop3", "")
	domSucceeded(t, e, op, err)
	e.NPM.Faults.Clear()
	evs, err := e.Engine.Events(ctx, op.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	logged := false
	for _, ev := range evs {
		logged = logged || (ev.Step == "proxies" && strings.Contains(ev.Message, "could not check the app's proxies"))
	}
	if !logged {
		t.Errorf("the skipped repair is not in the operation's events: %+v", evs)
	}
}
