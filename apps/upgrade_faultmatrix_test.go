package apps

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/appmanage/appmanage/apperr"
	giteafake "github.com/appmanage/appmanage/datasources/gitea/fake"
	npmfake "github.com/appmanage/appmanage/datasources/proxymanager/fake"
	"github.com/appmanage/appmanage/ops"
)

// The upgrade's fault matrix (issue 11): every upstream call of an
// upgrade, failed in every way an upstream fails, must end the operation
// terminal with the app running its old version (material as before) or
// its new one, never neither.

const (
	phaseUpgradePreflight = "upgrade-preflight"
	phaseUpgradeRun       = "upgrade-run"
	upMatrixApp           = "tw1"
)

var upgradePhases = []string{phaseUpgradePreflight, phaseUpgradeRun}

// Portainer routes of the upgrade the install matrix does not list.
const (
	ptrStack        = "GET /api/stacks/{id}"
	ptrInspect      = "GET /api/endpoints/{id}/docker/containers/{cid}/json"
	ptrInspectImage = "GET /api/endpoints/{id}/docker/images/{rest...}"
	ptrPullImage    = "POST /api/endpoints/{id}/docker/images/create"
)

// expectedUpgradeRoutes is every call of a clean upgrade of an app with a
// domain, by phase; a new call fails the matrix until it is listed here.
var expectedUpgradeRoutes = map[string][]routeSpec{
	phaseUpgradePreflight: {
		{"gitea", giteafake.RouteRaw, 403, false},
		{"portainer", ptrStacks, 400, false},
	},
	phaseUpgradeRun: {
		{"gitea", giteafake.RouteCommits, 403, false},
		{"gitea", giteafake.RouteGetContents, 403, false},
		{"gitea", giteafake.RouteRaw, 403, false},
		{"gitea", giteafake.RouteChangeFiles, 422, true},
		{"gitea", giteafake.RouteInfoRefs, 403, false},
		{"gitea", giteafake.RouteWebRawCommit, 404, false},
		{"npm", npmfake.RouteList, 400, false},
		{"portainer", ptrContainers, 400, false},
		{"portainer", ptrInspect, 400, false},
		{"portainer", ptrInspectImage, 400, false},
		{"portainer", ptrStack, 403, false},
		{"portainer", ptrPullImage, 400, true},
		{"portainer", ptrRedeploy, 400, true},
	},
}

func upMatrixEnv(t testing.TB) *testEnv {
	return newEnv(t, withLibrary(upgradeLibrary(t, "")), withClientTimeout(matrixClientTimeout), withDeferredStart(), withQuietLog(),
		withOps(func(o *ops.Options) {
			o.UndoAttempts = 15
			o.Workers = 2
		}))
}

// upAlwaysUp is NPM's proxy answering 200 for every domain.
func upAlwaysUp(context.Context, string) (int, error) { return http.StatusOK, nil }

// upMatrixInstall installs the app with a domain and no fault, and leaves
// the engine stopped with the call counts reset.
func upMatrixInstall(e *testEnv) {
	e.t.Helper()
	op, err := e.Svc.Install(context.Background(), InstallRequest{AppName: upApp, AppID: upMatrixApp, Domains: []string{upDomain}})
	if err != nil {
		e.t.Fatalf("clean install: %v", err)
	}
	e.run()
	if op = e.wait(op); op.Status != ops.StatusSucceeded {
		e.t.Fatalf("clean install: %s %s", op.Status, op.Error)
	}
	e.restartDeferred()
	e.Svc.UseProbe(upAlwaysUp)
	e.resetCalls()
}

var upMatrixRequest = UpgradeRequest{AppID: upMatrixApp, Version: upNew, HealthTimeout: 20 * time.Second}

func discoverUpgradeRoutes(t testing.TB) map[string][]string {
	e := upMatrixEnv(t)
	upMatrixInstall(e)
	got := map[string][]string{}
	op, err := e.Svc.UpgradeApp(context.Background(), upMatrixRequest)
	if err != nil {
		t.Fatalf("clean upgrade: %v", err)
	}
	got[phaseUpgradePreflight] = e.calledRoutes()
	e.resetCalls()
	e.run()
	if op = e.wait(op); op.Status != ops.StatusSucceeded {
		t.Fatalf("clean upgrade: %s %s", op.Status, op.Error)
	}
	got[phaseUpgradeRun] = e.calledRoutes()
	return got
}

func TestUpgradeFaultMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("the upgrade fault matrix takes a while; skipped with -short")
	}
	start := time.Now()
	requireMatrixRoutes(t, upgradePhases, discoverUpgradeRoutes(t), expectedUpgradeRoutes)
	var cases []matrixCase
	for _, phase := range upgradePhases {
		for _, r := range expectedUpgradeRoutes[phase] {
			for _, mf := range matrixFaults {
				if mf.writeOnly && !r.write {
					continue
				}
				for _, n := range matrixTimes {
					f := mf.make(r)
					f.Times = n
					cases = append(cases, matrixCase{name: fmt.Sprintf("%s/%s_%s/%s_x%d", phase, r.fake, r.route, mf.name, n), phase: phase, route: r, fault: f})
				}
			}
		}
	}
	t.Logf("upgrade fault matrix: %d cases", len(cases))
	results := runPool(t, 12, cases, runUpgradeMatrixCase)
	tally := map[string]int{}
	for _, c := range cases {
		res := results[c.name]
		tally[res.outcome]++
		t.Run(c.name, func(t *testing.T) { res.report(t) })
	}
	t.Logf("outcomes: %v", tally)
	t.Logf("upgrade fault matrix ran in %s", time.Since(start).Round(time.Millisecond))
}

func runUpgradeMatrixCase(t testing.TB, c matrixCase) string {
	e := upMatrixEnv(t)
	upMatrixInstall(e)
	ctx := context.Background()
	before := upSnapshot(e, upMatrixApp)
	inj := e.injector(c.route.fake)
	arm := func() int {
		inj.Fail(c.route.route, c.fault)
		return inj.Calls(c.route.route)
	}
	hit := func(n int) {
		t.Helper()
		if inj.Calls(c.route.route) == n {
			t.Fatalf("the fault on %s was never hit in %s", c.route, c.phase)
		}
	}
	n := 0
	if c.phase == phaseUpgradePreflight {
		n = arm()
	}
	op, err := e.Svc.UpgradeApp(ctx, upMatrixRequest)
	if err != nil {
		if c.phase != phaseUpgradePreflight {
			t.Fatalf("upgrade refused without a fault in its checks: %v", err)
		}
		hit(n)
		ae, ok := apperr.As(err)
		if !ok || ae.Code == apperr.Internal {
			t.Fatalf("refused with %v: want a typed domain error", err)
		}
		if w := e.writeCalls(); w != 0 {
			t.Errorf("a refused upgrade made %d upstream writes: %v", w, e.calledRoutes())
		}
		checkUpgradeOutcome(t, e, ops.StatusRolledBack, before)
		return "refused"
	}
	if c.phase == phaseUpgradeRun {
		n = arm()
	}
	e.run()
	op = e.wait(op)
	hit(n)
	checkUpgradeOutcome(t, e, op.Status, before)
	if op.Status == ops.StatusRolledBack && op.Error == "" {
		t.Errorf("rolled back without a reason")
	}
	return string(op.Status)
}

// checkUpgradeOutcome: SUCCEEDED runs the new version, ROLLED_BACK the old
// one with the material as it was; nothing else is an outcome.
func checkUpgradeOutcome(t testing.TB, e *testEnv, status ops.Status, before upState) {
	t.Helper()
	e.clearFaults()
	after := upSnapshot(e, upMatrixApp)
	imgs, running := upImages(e, upMatrixApp)
	version := upEnvValue(t, after.files, "W9_VERSION")
	switch status {
	case ops.StatusSucceeded:
		if !running || !slices.Equal(imgs, []string{upImage + upNew}) || version != upNew {
			t.Fatalf("upgrade succeeded but the app runs %q (running %v), .env says %s", imgs, running, version)
		}
	case ops.StatusRolledBack:
		if !running || !slices.Equal(imgs, []string{upImage + upOld}) {
			t.Fatalf("upgrade rolled back but the app runs %q (running %v)", imgs, running)
		}
		for p, b := range before.files {
			if string(after.files[p]) != string(b) {
				t.Fatalf("upgrade rolled back but %s differs from before", p)
			}
		}
		if len(after.files) != len(before.files) {
			t.Fatalf("upgrade rolled back but the repository holds %d files, was %d", len(after.files), len(before.files))
		}
	default:
		t.Fatalf("upgrade ended %s; want SUCCEEDED or ROLLED_BACK; the app runs %q (running %v), .env says %s", status, imgs, running, version)
	}
	if !slices.Equal(after.volumes, before.volumes) {
		t.Fatalf("volumes changed: %q -> %q", before.volumes, after.volumes)
	}
}
