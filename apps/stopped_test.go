package apps

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/faults"
	giteafake "github.com/appmanage/appmanage/datasources/gitea/fake"
	npmfake "github.com/appmanage/appmanage/datasources/proxymanager/fake"
	"github.com/appmanage/appmanage/ops"
)

// stoppedApp installs whoami as appID with one domain and stops it: its
// container is gone, so nginx cannot resolve its forward host.
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

// The fake's nginx refuses a proxy whose forward host names no running
// container, as the real one does.
func TestProxyForStoppedContainerRejectedLikeNginx(t *testing.T) {
	e := newEnv(t)
	stoppedApp(t, e, "gone1", "gone1.example.com")
	h := domCreateForeign(t, e, "gone1", "other.example.com")
	got, err := e.Proxies.CheckOnline(context.Background(), h.ID)
	if err == nil || got == nil || !strings.Contains(err.Error(), `host not found in upstream "gone1"`) {
		t.Fatalf("CheckOnline of a host for a stopped app = %v", err)
	}
}

// Each domain operation on a stopped app has the outcome README "Domains of
// a stopped app" documents: the writes nginx would refuse (add to or update
// an enabled proxy, enable) are refused with PRECONDITION_FAILED before
// anything is written; disable, add to or update a disabled proxy, default
// domain and delete need no resolution and succeed.
func TestDomainOperationsOnStoppedApp(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	host := stoppedApp(t, e, "stop1", "stop1.example.com")
	writes := func() map[string]int {
		out := map[string]int{}
		for _, r := range []string{npmfake.RouteCreate, npmfake.RouteUpdate, npmfake.RouteDelete, npmfake.RouteEnable, npmfake.RouteDisable} {
			out[r] = e.NPM.CallCount(r)
		}
		return out
	}
	refused := []struct {
		name string
		call func() (*ops.Operation, error)
	}{
		{"add domains", func() (*ops.Operation, error) { return e.Svc.AddAppDomains(ctx, "stop1", []string{"new.example.com"}) }},
		{"update proxy", func() (*ops.Operation, error) {
			return e.Svc.UpdateAppProxy(ctx, "stop1", host.ID, []string{"changed.example.com"})
		}},
		{"enable proxies", func() (*ops.Operation, error) { return e.Svc.EnableAppProxies(ctx, "stop1") }},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			before := writes()
			op, err := c.call()
			if apperr.CodeOf(err) != apperr.PreconditionFailed || op != nil {
				t.Fatalf("%s on a stopped app: op %v, err %v; want PRECONDITION_FAILED", c.name, op, err)
			}
			if !strings.Contains(err.Error(), "start the app first") || !strings.Contains(err.Error(), "does not resolve") {
				t.Errorf("error does not say why: %v", err)
			}
			if after := writes(); !maps.Equal(before, after) {
				t.Errorf("NPM written: %v -> %v", before, after)
			}
		})
	}
	allowed := []struct {
		name  string
		call  func() (*ops.Operation, error)
		check func(t *testing.T)
	}{
		{"disable proxies", func() (*ops.Operation, error) { return e.Svc.DisableAppProxies(ctx, "stop1") }, func(t *testing.T) {
			if hs := domHosts(e, "stop1"); len(hs) != 1 || hs[0].Enabled {
				t.Errorf("hosts %+v, want one disabled", hs)
			}
		}},
		// A disabled host's config is not loaded when it is written.
		{"update disabled proxy", func() (*ops.Operation, error) {
			return e.Svc.UpdateAppProxy(ctx, "stop1", host.ID, []string{"stop1.example.com", "b.example.com"})
		}, func(t *testing.T) {
			if hs := domHosts(e, "stop1"); len(hs) != 1 || hs[0].Enabled || !sameDomains(hs[0].DomainNames, []string{"stop1.example.com", "b.example.com"}) {
				t.Errorf("hosts %+v, want one disabled with both domains", hs)
			}
		}},
		{"add domains to disabled proxy", func() (*ops.Operation, error) {
			return e.Svc.AddAppDomains(ctx, "stop1", []string{"c.example.com"})
		}, func(t *testing.T) {
			if hs := domHosts(e, "stop1"); len(hs) != 1 || hs[0].Enabled || len(hs[0].DomainNames) != 3 {
				t.Errorf("hosts %+v, want one disabled with three domains", hs)
			}
		}},
		{"default domain", func() (*ops.Operation, error) { return e.Svc.SetDefaultDomain(ctx, "stop1", "stop1.example.com") }, func(t *testing.T) {
			if got := domEnvValue(t, e, "stop1", "W9_URL"); got != "stop1.example.com" {
				t.Errorf("W9_URL = %q", got)
			}
		}},
		{"delete proxy", func() (*ops.Operation, error) { return e.Svc.DeleteAppProxy(ctx, "stop1", host.ID) }, func(t *testing.T) {
			if hs := domHosts(e, "stop1"); len(hs) != 0 {
				t.Errorf("hosts %+v left", hs)
			}
		}},
	}
	for _, c := range allowed {
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
}

// The undo of a domain operation on a stopped app puts the host back field
// for field; nginx refuses it while the container is gone, and the next
// start tests it again, so it serves once the app runs.
func TestUndoOnStoppedAppHealedByStart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	host := stoppedApp(t, e, "stop2", "stop2.example.com")
	// Deleting the only proxy moves W9_URL to host:port; that commit fails,
	// so the operation undoes the delete.
	e.Gitea.Faults.Fail(giteafake.RouteChangeFiles, faults.Fault{Status: 500, Body: `{"message":"boom"}`, Times: 10})
	op, err := e.Svc.DeleteAppProxy(ctx, "stop2", host.ID)
	if err != nil {
		t.Fatal(err)
	}
	if done := e.wait(op); done.Status != ops.StatusRolledBack {
		t.Fatalf("delete with a failing commit: %s %s", done.Status, done.Error)
	}
	e.Gitea.Faults.Clear()
	hs := domHosts(e, "stop2")
	if len(hs) != 1 || !hs[0].Enabled || !sameDomains(hs[0].DomainNames, host.DomainNames) || hs[0].ForwardPort != host.ForwardPort {
		t.Fatalf("after undo: %+v, want the host back as it was (%+v)", hs, host)
	}
	if hs[0].Meta["nginx_online"] != false {
		t.Fatalf("recreated host for a stopped app: meta %v, want nginx_online false", hs[0].Meta)
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
	op, err = e.Svc.StartApp(ctx, "stop2", "")
	domSucceeded(t, e, op, err)
	hs = domHosts(e, "stop2")
	if len(hs) != 1 || hs[0].Meta["nginx_online"] != true {
		t.Fatalf("after start: %+v, want the host online", hs)
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
