package apps

import (
	"context"
	"fmt"
	"testing"
	"time"

	giteafake "github.com/appmanage/appmanage/datasources/gitea/fake"
	npmfake "github.com/appmanage/appmanage/datasources/proxymanager/fake"
	"github.com/appmanage/appmanage/ops"
)

// The fault matrix of installFromSource: every upstream call of its checks
// and of its workflow, failed in every way, leaves the app complete or
// gone (and the sealed credentials gone with it).

const (
	phaseSourcePreflight = "source-preflight"
	phaseSourceRun       = "source-run"
)

var sourcePhases = []string{phaseSourcePreflight, phaseSourceRun}

var sourceExpectedRoutes = map[string][]routeSpec{
	phaseSourcePreflight: {
		{"gitea", giteafake.RouteGetRepo, 404, false},
		{"portainer", ptrEndpoints, 400, false},
		{"portainer", ptrStacks, 400, false},
		{"portainer", ptrContainers, 400, false},
		{"npm", npmfake.RouteLogin, 400, true},
		{"npm", npmfake.RouteList, 400, false},
		{"npm", npmfake.RouteRedirections, 400, false},
		{"npm", npmfake.RouteDeadHosts, 400, false},
	},
	phaseSourceRun: {
		{"gitea", giteafake.RouteOrg, 403, false},
		{"gitea", giteafake.RouteMigrate, 422, true},
		{"gitea", giteafake.RouteRaw, 403, false},
		{"gitea", giteafake.RouteChangeFiles, 422, true},
		{"gitea", giteafake.RouteInfoRefs, 403, false},
		{"gitea", giteafake.RouteWebRawCommit, 404, false},
		{"portainer", ptrCreateRepo, 409, true},
		{"portainer", ptrContainers, 400, false},
		{"portainer", ptrVolumes, 400, false},
		{"npm", npmfake.RouteCreate, 400, true},
		{"npm", npmfake.RouteGet, 404, false},
	},
}

func sourceMatrixEnv(t testing.TB) *testEnv {
	e := matrixEnv(t)
	e.Gitea.AddRemote(srcURL, giteafake.Remote{Files: helloFiles(), Username: srcUser, Password: srcToken})
	e.prepSource()
	return e
}

var matrixSource = SourceRequest{AppID: matrixAppID, GitURL: srcURL, Port: 3000, Domains: []string{matrixDomain},
	Auth: &SourceAuth{Username: srcUser, Token: srcToken}}

func discoverSourceRoutes(t testing.TB) map[string][]string {
	e := sourceMatrixEnv(t)
	got := map[string][]string{}
	op, err := e.Svc.InstallFromSource(context.Background(), matrixSource)
	if err != nil {
		t.Fatalf("clean install from source: %v", err)
	}
	got[phaseSourcePreflight] = e.calledRoutes()
	e.resetCalls()
	e.run()
	if op = e.wait(op); op.Status != ops.StatusSucceeded {
		t.Fatalf("clean install from source: %s %s", op.Status, op.Error)
	}
	got[phaseSourceRun] = e.calledRoutes()
	return got
}

func TestSourceFaultMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault matrix takes a while; skipped with -short")
	}
	start := time.Now()
	requireMatrixRoutes(t, sourcePhases, discoverSourceRoutes(t), sourceExpectedRoutes)
	var cases []matrixCase
	for _, phase := range sourcePhases {
		for _, r := range sourceExpectedRoutes[phase] {
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
	t.Logf("source fault matrix: %d cases", len(cases))
	results := runPool(t, 12, cases, runSourceMatrixCase)
	tally := map[string]int{}
	for _, c := range cases {
		res := results[c.name]
		tally[res.outcome]++
		t.Run(c.name, func(t *testing.T) { res.report(t) })
	}
	t.Logf("outcomes: %v; ran in %s", tally, time.Since(start).Round(time.Millisecond))
}

func runSourceMatrixCase(t testing.TB, c matrixCase) string {
	e := sourceMatrixEnv(t)
	ctx := context.Background()
	inj := e.injector(c.route.fake)
	arm := func() int {
		inj.Fail(c.route.route, c.fault)
		return inj.Calls(c.route.route)
	}
	before := 0
	if c.phase == phaseSourcePreflight {
		before = arm()
	}
	op, err := e.Svc.InstallFromSource(ctx, matrixSource)
	if err != nil {
		if c.phase != phaseSourcePreflight {
			t.Fatalf("refused without a fault in its checks: %v", err)
		}
		if inj.Calls(c.route.route) == before {
			t.Fatalf("the fault on %s was never hit", c.route)
		}
		checkRefused(t, e, err)
		if a, _ := e.Svc.sourceAuth(ctx, matrixAppID); a != nil {
			t.Fatal("a refused request left the credentials stored")
		}
		return "refused"
	}
	if c.phase == phaseSourceRun {
		before = arm()
	}
	e.run()
	op = e.wait(op)
	if inj.Calls(c.route.route) == before {
		t.Fatalf("the fault on %s was never hit", c.route)
	}
	checkInstallOutcome(t, e, op)
	if a, _ := e.Svc.sourceAuth(ctx, matrixAppID); a != nil {
		t.Fatalf("the credentials outlived the operation (%s)", op.Status)
	}
	if op.Status == ops.StatusRolledBack && e.Svc.FromSource(ctx, matrixAppID) {
		t.Fatal("a rolled-back install left the app marked as built from source")
	}
	return string(op.Status)
}
