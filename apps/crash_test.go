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

// The crash test (issue 4): the process dies at every step boundary, and
// inside steps with a call in flight, of install and uninstall; a new
// process on the same database must bring every operation to an end with
// the app complete or gone.

// crashPoint pauses a run on a call: the Delay holds the call until the
// engine is abandoned (the client then goes away). With Phase After the
// upstream does the work all the same: the crash lost the answer.
type crashPoint struct {
	name  string
	fake  string // "" = crash while the operation is still queued
	route string
	phase faults.Phase
	// rollback first makes the install fail at its proxy step, so the
	// crash hits the compensation.
	rollback bool
}

const crashHold = 30 * time.Second

func TestCrashDuringInstall(t *testing.T) {
	points := []crashPoint{
		{name: "queued, before prepare"},
		{name: "prepare done, creating the repository", fake: "gitea", route: giteafake.RouteCreateUserRepo},
		{name: "repository created, answer lost", fake: "gitea", route: giteafake.RouteCreateUserRepo, phase: faults.After},
		{name: "material committed, answer lost", fake: "gitea", route: giteafake.RouteChangeFiles, phase: faults.After},
		{name: "repository done, deploying the stack", fake: "portainer", route: ptrCreateRepo},
		{name: "committing, listing the volumes", fake: "portainer", route: ptrVolumes},
		{name: "stack deployed, answer lost", fake: "portainer", route: ptrCreateRepo, phase: faults.After},
		{name: "stack deployed, waiting for its container", fake: "portainer", route: ptrContainers},
		{name: "stack done, creating the proxy", fake: "npm", route: npmfake.RouteCreate},
		{name: "proxy created, answer lost", fake: "npm", route: npmfake.RouteCreate, phase: faults.After},
		{name: "proxy created, checking nginx", fake: "npm", route: npmfake.RouteGet},
		{name: "rolling back, deleting the stack", fake: "portainer", route: ptrDeleteStack, rollback: true},
		{name: "rolling back, stack deleted, answer lost", fake: "portainer", route: ptrDeleteStack, phase: faults.After, rollback: true},
		{name: "rolling back, deleting the repository", fake: "gitea", route: giteafake.RouteDeleteRepo, rollback: true},
	}
	for _, p := range points {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			e := crashEnv(t)
			op, err := e.Svc.Install(context.Background(), matrixInstall)
			if err != nil {
				t.Fatal(err)
			}
			if p.rollback {
				e.NPM.Faults.Fail(npmfake.RouteCreate, faults.Fault{Status: 400, Body: `{"error":{"code":400,"message":"injected"}}`})
			}
			e.crashAt(p)
			op = e.wait(op)
			e.checkResumed(p, op)
			switch {
			case op.Status == ops.StatusSucceeded && !p.rollback:
				if !e.complete(matrixAppID, true) {
					t.Fatalf("install succeeded after the crash, but the fakes hold %v", e.leftovers(matrixAppID))
				}
			case op.Status == ops.StatusRolledBack:
				if l := e.leftovers(matrixAppID); len(l) != 0 {
					t.Fatalf("install rolled back after the crash (%s), but left %v", op.Error, l)
				}
			default:
				t.Fatalf("install ended %s (%s) after the crash; fakes hold %v", op.Status, op.Error, e.leftovers(matrixAppID))
			}
		})
	}
}

func TestCrashDuringUninstall(t *testing.T) {
	points := []crashPoint{
		{name: "queued, before repository"},
		{name: "deleting the repository", fake: "gitea", route: giteafake.RouteDeleteRepo},
		{name: "repository deleted, answer lost", fake: "gitea", route: giteafake.RouteDeleteRepo, phase: faults.After},
		{name: "repository done, proxies looking up", fake: "npm", route: npmfake.RouteList},
		{name: "proxy deleted, answer lost", fake: "npm", route: npmfake.RouteDelete, phase: faults.After},
		{name: "proxies done, deleting the stack", fake: "portainer", route: ptrDeleteStack},
		{name: "stack deleted, answer lost", fake: "portainer", route: ptrDeleteStack, phase: faults.After},
		{name: "stack deleted, volume deleted, answer lost", fake: "portainer", route: ptrDeleteVolume, phase: faults.After},
	}
	for _, p := range points {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			e := crashEnv(t)
			installClean(e)
			e.restartDeferred()
			op, err := e.Svc.Uninstall(context.Background(), matrixAppID, true, "")
			if err != nil {
				t.Fatal(err)
			}
			e.crashAt(p)
			op = e.wait(op)
			e.checkResumed(p, op)
			if op.Status != ops.StatusSucceeded {
				t.Fatalf("uninstall ended %s (%s) after the crash", op.Status, op.Error)
			}
			if l := e.leftovers(matrixAppID); len(l) != 0 {
				t.Fatalf("uninstall succeeded after the crash, but the fakes hold %v", l)
			}
		})
	}
}

func crashEnv(t *testing.T) *testEnv {
	// The client waits longer than the test ever holds a call: only the
	// crash ends it.
	return newEnv(t, withDeferredStart(), withClientTimeout(crashHold))
}

// crashAt runs the stopped engine until it is inside p's call, abandons it
// as kill -9 would, and starts a new engine on the same database.
func (e *testEnv) crashAt(p crashPoint) {
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
	e.start(e.OpsOptions, e.Log)
}

// checkResumed: a run caught inside a call was resumed from its journal by
// the new engine, not started afresh.
func (e *testEnv) checkResumed(p crashPoint, op *ops.Operation) {
	e.t.Helper()
	evs, err := e.Engine.Events(context.Background(), op.ID, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	resumed := false
	for _, ev := range evs {
		resumed = resumed || ev.Message == "resumed after restart"
	}
	if resumed != (p.fake != "") {
		e.t.Fatalf("resumed after restart: %v, want %v", resumed, p.fake != "")
	}
}
