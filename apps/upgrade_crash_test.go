package apps

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/appmanage/appmanage/datasources/faults"
	giteafake "github.com/appmanage/appmanage/datasources/gitea/fake"
	"github.com/appmanage/appmanage/ops"
)

// The process dies inside every step of an upgrade, and inside its
// compensation; a new process on the same database resumes the operation
// from its journal to an end with the app on its old version (material
// as before) or its new one.
func TestCrashDuringUpgrade(t *testing.T) {
	points := []crashPoint{
		{name: "queued, before preflight"},
		{name: "preflight, listing containers", fake: "portainer", route: ptrContainers},
		{name: "preflight, inspecting the image", fake: "portainer", route: ptrInspectImage},
		{name: "image pulled, answer lost", fake: "portainer", route: ptrPullImage, phase: faults.After},
		{name: "version committed, answer lost", fake: "gitea", route: giteafake.RouteChangeFiles, phase: faults.After},
		{name: "redeployed, answer lost", fake: "portainer", route: ptrRedeploy, phase: faults.After},
		{name: "health gate, inspecting the container", fake: "portainer", route: ptrInspect},
		// The gate fails (the domain answers 502), then the crash hits the
		// compensation.
		{name: "rolling back, revert committed, answer lost", fake: "gitea", route: giteafake.RouteChangeFiles, phase: faults.After, rollback: true},
		{name: "rolling back, old version redeployed, answer lost", fake: "portainer", route: ptrRedeploy, phase: faults.After, rollback: true},
	}
	for _, p := range points {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, withLibrary(upgradeLibrary(t, "")), withDeferredStart(), withClientTimeout(crashHold))
			op, err := e.Svc.Install(context.Background(), InstallRequest{AppName: upApp, AppID: upMatrixApp, Domains: []string{upDomain}})
			if err != nil {
				t.Fatal(err)
			}
			e.run()
			if op = e.wait(op); op.Status != ops.StatusSucceeded {
				t.Fatalf("install: %s %s", op.Status, op.Error)
			}
			e.restartDeferred()
			status := http.StatusOK
			if p.rollback {
				status = http.StatusBadGateway
			}
			e.Svc.UseProbe(func(context.Context, string) (int, error) { return status, nil })
			before := upSnapshot(e, upMatrixApp)
			op, err = e.Svc.UpgradeApp(context.Background(), UpgradeRequest{AppID: upMatrixApp, Version: upNew, HealthTimeout: MinHealthTimeout})
			if err != nil {
				t.Fatal(err)
			}
			e.crashUpgradeAt(p, op.ID)
			op = e.wait(op)
			e.checkResumed(p, op)
			switch {
			case p.rollback && op.Status != ops.StatusRolledBack:
				t.Fatalf("upgrade whose gate failed ended %s (%s) after the crash", op.Status, op.Error)
			case op.Status == ops.StatusRolledBack && len(e.Gitea.Files(e.Owner, upMatrixApp, "main")) != len(before.files):
				t.Fatalf("rolled back, but the repository's files changed")
			}
			checkUpgradeOutcome(t, e, op.Status, before)
			if p.rollback {
				if imgs, _ := upImages(e, upMatrixApp); !slices.Equal(imgs, []string{upImage + upOld}) {
					t.Fatalf("after the rollback the app runs %q", imgs)
				}
			}
		})
	}
}

// crashUpgradeAt is crashAt for an upgrade: a rollback point is armed
// only once the health gate runs (its probe fails for MinHealthTimeout),
// so the fault meets the compensation's call, not the forward one.
func (e *testEnv) crashUpgradeAt(p crashPoint, opID string) {
	e.t.Helper()
	if !p.rollback {
		e.crashAt(p)
		return
	}
	e.run()
	deadline := time.Now().Add(15 * time.Second)
	for {
		op, err := e.Engine.Get(context.Background(), opID)
		if err != nil {
			e.t.Fatal(err)
		}
		if i := slices.IndexFunc(op.Steps, func(s ops.StepRecord) bool { return s.Name == "health" }); i >= 0 && op.Steps[i].Status == ops.StepRunning {
			break
		}
		if time.Now().After(deadline) || op.Status.Terminal() {
			e.t.Fatalf("the health gate never ran: %s %s", op.Status, op.Error)
		}
		time.Sleep(5 * time.Millisecond)
	}
	inj := e.injector(p.fake)
	before := inj.Calls(p.route)
	inj.Fail(p.route, faults.Fault{Delay: crashHold, Phase: p.phase})
	for inj.Calls(p.route) == before {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			e.t.Fatalf("the rollback never called %s %s", p.fake, p.route)
		}
		time.Sleep(2 * time.Millisecond)
	}
	e.Engine.Abandon()
	e.clearFaults()
	e.start(e.OpsOptions, e.Log)
}
