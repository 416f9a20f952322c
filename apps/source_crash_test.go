package apps

import (
	"context"
	"testing"
	"time"

	"github.com/appmanage/appmanage/datasources/faults"
	giteafake "github.com/appmanage/appmanage/datasources/gitea/fake"
	npmfake "github.com/appmanage/appmanage/datasources/proxymanager/fake"
	"github.com/appmanage/appmanage/ops"
)

// The process dies at every step boundary of installFromSource and inside
// its calls; a new process on the same database brings the operation to
// an end with the app complete or gone, and the credentials gone.
func TestCrashDuringInstallFromSource(t *testing.T) {
	points := []crashPoint{
		{name: "queued, before import"},
		{name: "importing", fake: "gitea", route: giteafake.RouteMigrate},
		{name: "imported, answer lost", fake: "gitea", route: giteafake.RouteMigrate, phase: faults.After},
		{name: "inspecting the repository", fake: "gitea", route: giteafake.RouteRaw},
		{name: "committing the compose material", fake: "gitea", route: giteafake.RouteChangeFiles},
		{name: "compose material committed, answer lost", fake: "gitea", route: giteafake.RouteChangeFiles, phase: faults.After},
		{name: "listing the volumes before the deploy", fake: "portainer", route: ptrVolumes},
		{name: "building and deploying the stack", fake: "portainer", route: ptrCreateRepo},
		{name: "stack built, answer lost", fake: "portainer", route: ptrCreateRepo, phase: faults.After},
		{name: "waiting for the container", fake: "portainer", route: ptrContainers},
		{name: "creating the proxy", fake: "npm", route: npmfake.RouteCreate},
		{name: "proxy created, answer lost", fake: "npm", route: npmfake.RouteCreate, phase: faults.After},
		{name: "rolling back, deleting the stack", fake: "portainer", route: ptrDeleteStack, rollback: true},
		{name: "rolling back, deleting the repository", fake: "gitea", route: giteafake.RouteDeleteRepo, rollback: true},
	}
	for _, p := range points {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, withDeferredStart(), withClientTimeout(crashHold))
			e.Gitea.AddRemote(srcURL, giteafake.Remote{Files: helloFiles(), Username: srcUser, Password: srcToken})
			e.prepSource()
			op, err := e.Svc.InstallFromSource(context.Background(), matrixSource)
			if err != nil {
				t.Fatal(err)
			}
			if p.rollback {
				e.NPM.Faults.Fail(npmfake.RouteCreate, faults.Fault{Status: 400, Body: `{"error":{"code":400,"message":"injected"}}`})
			}
			e.crashSourceAt(p)
			op = e.wait(op)
			e.checkResumed(p, op)
			switch {
			case op.Status == ops.StatusSucceeded && !p.rollback:
				if !e.complete(matrixAppID, true) {
					t.Fatalf("succeeded after the crash, but the fakes hold %v", e.leftovers(matrixAppID))
				}
				if n := e.Gitea.Commits(e.Owner, matrixAppID); n != 2 {
					t.Fatalf("%d commits after the crash, want 2 (import + material)", n)
				}
			case op.Status == ops.StatusRolledBack:
				if l := e.leftovers(matrixAppID); len(l) != 0 {
					t.Fatalf("rolled back after the crash (%s), but left %v", op.Error, l)
				}
			default:
				t.Fatalf("ended %s (%s) after the crash; fakes hold %v", op.Status, op.Error, e.leftovers(matrixAppID))
			}
			if a, _ := e.Svc.sourceAuth(context.Background(), matrixAppID); a != nil {
				t.Fatal("the credentials outlived the operation")
			}
		})
	}
}

// crashSourceAt is crashAt for a source install: the new process gets the
// test resolver and the settings store as the first one had.
func (e *testEnv) crashSourceAt(p crashPoint) {
	e.t.Helper()
	if p.fake != "" {
		inj := e.injector(p.fake)
		before := inj.Calls(p.route)
		inj.Fail(p.route, faults.Fault{Delay: crashHold, Phase: p.phase})
		e.run()
		deadline := time.Now().Add(15 * time.Second)
		for inj.Calls(p.route) == before {
			if time.Now().After(deadline) {
				e.t.Fatalf("the run never called %s %s", p.fake, p.route)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	e.Engine.Abandon()
	e.clearFaults()
	e.open(e.OpsOptions, e.Log)
	e.prepSource()
	e.run()
}
