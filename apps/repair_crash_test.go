package apps

import (
	"context"
	"testing"

	"github.com/appmanage/appmanage/datasources/faults"
	npmfake "github.com/appmanage/appmanage/datasources/proxymanager/fake"
	"github.com/appmanage/appmanage/ops"
)

// The process dies inside a repair's calls (the stack being recreated, the
// proxy being created, answers lost); the operation resumed by a new
// process on the same database ends SUCCEEDED with one stack, one proxy
// host and no drift.
func TestCrashDuringRepair(t *testing.T) {
	points := []crashPoint{
		{name: "queued"},
		{name: "stack looking up", fake: "portainer", route: ptrStacks},
		{name: "stack created, answer lost", fake: "portainer", route: ptrCreateRepo, phase: faults.After},
		{name: "stack created, waiting for its container", fake: "portainer", route: ptrContainers},
		{name: "proxy created, answer lost", fake: "npm", route: npmfake.RouteCreate, phase: faults.After},
	}
	for _, p := range points {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := crashEnv(t)
			installClean(e)
			st, err := e.Stacks.FindStackByName(ctx, 1, matrixAppID)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Stacks.DeleteStack(ctx, st.ID, 1); err != nil {
				t.Fatal(err)
			}
			if err := e.Proxies.DeleteProxyHost(ctx, e.appProxy(matrixAppID).ID); err != nil {
				t.Fatal(err)
			}
			e.restartDeferred()
			op, err := e.Svc.RepairApp(ctx, matrixAppID)
			if err != nil {
				t.Fatal(err)
			}
			e.crashAt(p)
			op = e.wait(op)
			e.checkResumed(p, op)
			if op.Status != ops.StatusSucceeded {
				t.Fatalf("repair ended %s (%s) after the crash", op.Status, op.Error)
			}
			var stacks, hosts int
			for _, s := range e.Portainer.Stacks() {
				if s.Name == matrixAppID {
					stacks++
				}
			}
			for _, h := range e.NPM.Hosts() {
				if h.ForwardHost == matrixAppID {
					hosts++
				}
			}
			if stacks != 1 || hosts != 1 {
				t.Fatalf("%d stacks and %d proxy hosts after the resumed repair", stacks, hosts)
			}
			if _, issues := readState(t, e, matrixAppID); len(issues) != 0 {
				t.Fatalf("drift after the resumed repair: %+v", issues)
			}
		})
	}
}
