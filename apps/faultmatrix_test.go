package apps

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/faults"
	giteafake "github.com/appmanage/appmanage/datasources/gitea/fake"
	npmfake "github.com/appmanage/appmanage/datasources/proxymanager/fake"
	"github.com/appmanage/appmanage/ops"
)

// The fault matrix (issue 4): every upstream call install and uninstall
// make, failed in every way an upstream fails, must leave the app complete
// or gone, never half there.

// Phases of the matrix: the synchronous checks of a request, and the
// workflow the engine runs afterwards.
const (
	phaseInstallPreflight   = "install-preflight"
	phaseInstallRun         = "install-run"
	phaseUninstallPreflight = "uninstall-preflight"
	phaseUninstallRun       = "uninstall-run"
)

var matrixPhases = []string{phaseInstallPreflight, phaseInstallRun, phaseUninstallPreflight, phaseUninstallRun}

// routeSpec is one upstream route a phase calls.
type routeSpec struct {
	fake  string // gitea | portainer | npm
	route string // the pattern the fake registered
	// status4xx is the client error that fits the route; never a 404 on a
	// delete, which the workflows rightly read as "already gone".
	status4xx int
	// write marks calls that change upstream state: they are also failed
	// after the work was done (the answer is lost).
	write bool
}

func (r routeSpec) String() string { return r.fake + " " + r.route }

// Portainer's fake has no route constants: these are its patterns.
const (
	ptrEndpoints     = "GET /api/endpoints"
	ptrStacks        = "GET /api/stacks"
	ptrCreateRepo    = "POST /api/stacks/create/standalone/repository"
	ptrDeleteStack   = "DELETE /api/stacks/{id}"
	ptrContainers    = "GET /api/endpoints/{id}/docker/containers/json"
	ptrVolumes       = "GET /api/endpoints/{id}/docker/volumes"
	ptrDeleteVolume  = "DELETE /api/endpoints/{id}/docker/volumes/{name}"
	matrixAppID      = "who1"
	matrixDomain     = "who.example.com"
	matrixVolumeName = "who1_data"
)

// expectedRoutes is every call of a clean install (whoami with a domain)
// and uninstall (with purgeData, of an app holding a volume), by phase.
// TestFaultMatrix first checks a clean run calls exactly these, so a new
// upstream call fails the test until it is added here (and so faulted).
// Gitea's git routes are Portainer cloning the repository: faults there
// fail the stack deployment the way an unreachable Gitea would.
var expectedRoutes = map[string][]routeSpec{
	phaseInstallPreflight: {
		{"gitea", giteafake.RouteGetRepo, 404, false},
		{"portainer", ptrEndpoints, 400, false},
		{"portainer", ptrStacks, 400, false},
		{"portainer", ptrContainers, 400, false},
		{"npm", npmfake.RouteLogin, 400, true},
		{"npm", npmfake.RouteList, 400, false},
		{"npm", npmfake.RouteRedirections, 400, false},
		{"npm", npmfake.RouteDeadHosts, 400, false},
	},
	phaseInstallRun: {
		{"gitea", giteafake.RouteOrg, 403, false},
		{"gitea", giteafake.RouteCreateUserRepo, 422, true},
		{"gitea", giteafake.RouteChangeFiles, 422, true},
		{"gitea", giteafake.RouteRaw, 403, false},
		{"gitea", giteafake.RouteInfoRefs, 403, false},
		{"gitea", giteafake.RouteWebRawCommit, 404, false},
		{"portainer", ptrCreateRepo, 409, true},
		{"portainer", ptrContainers, 400, false},
		{"portainer", ptrVolumes, 400, false},
		{"npm", npmfake.RouteCreate, 400, true},
		{"npm", npmfake.RouteGet, 404, false},
	},
	phaseUninstallPreflight: {
		{"portainer", ptrStacks, 400, false},
	},
	phaseUninstallRun: {
		{"gitea", giteafake.RouteDeleteRepo, 409, true},
		{"portainer", ptrDeleteStack, 409, true},
		{"portainer", ptrVolumes, 400, false},
		{"portainer", ptrDeleteVolume, 409, true},
		{"npm", npmfake.RouteList, 400, false},
		{"npm", npmfake.RouteDelete, 409, true},
	},
}

const (
	matrixClientTimeout = time.Second
	matrixDelay         = 3 * matrixClientTimeout / 2 // past the client's timeout
)

// matrixFault is one way a call fails.
type matrixFault struct {
	name      string
	writeOnly bool
	make      func(r routeSpec) faults.Fault
}

var matrixFaults = []matrixFault{
	{name: "500", make: func(r routeSpec) faults.Fault {
		return faults.Fault{Status: 500, Body: errorBody(r.fake, 500, "injected internal error")}
	}},
	{name: "4xx", make: func(r routeSpec) faults.Fault {
		return faults.Fault{Status: r.status4xx, Body: errorBody(r.fake, r.status4xx, "injected client error")}
	}},
	{name: "timeout", make: func(routeSpec) faults.Fault { return faults.Fault{Delay: matrixDelay} }},
	{name: "drop", make: func(routeSpec) faults.Fault { return faults.Fault{Drop: true} }},
	// The work is done, then the answer is lost: dropped, or too late.
	{name: "after-drop", writeOnly: true, make: func(routeSpec) faults.Fault {
		return faults.Fault{Drop: true, Phase: faults.After}
	}},
	{name: "after-timeout", writeOnly: true, make: func(routeSpec) faults.Fault {
		return faults.Fault{Delay: matrixDelay, Phase: faults.After}
	}},
}

// matrixTimes: the next call only, and every retry the workflow makes.
var matrixTimes = []int{1, 10}

// errorBody is an error in the upstream's own shape.
func errorBody(fake string, status int, msg string) string {
	switch fake {
	case "npm":
		return fmt.Sprintf(`{"error":{"code":%d,"message":%q}}`, status, msg)
	case "portainer":
		return fmt.Sprintf(`{"message":%q,"details":%q}`, msg, http.StatusText(status))
	}
	return fmt.Sprintf(`{"message":%q,"url":"https://example.invalid/api/swagger"}`, msg)
}

func (e *testEnv) injector(fake string) *faults.Injector {
	switch fake {
	case "gitea":
		return e.Gitea.Faults
	case "portainer":
		return e.Portainer.Faults
	case "npm":
		return e.NPM.Faults
	}
	panic("unknown fake " + fake)
}

func (e *testEnv) resetCalls() {
	for _, f := range []string{"gitea", "portainer", "npm"} {
		e.injector(f).ResetCalls()
	}
}

func (e *testEnv) clearFaults() {
	for _, f := range []string{"gitea", "portainer", "npm"} {
		e.injector(f).Clear()
	}
}

// calledRoutes lists "fake route" for every route called since the last
// resetCalls.
func (e *testEnv) calledRoutes() []string {
	var out []string
	for _, f := range []string{"gitea", "portainer", "npm"} {
		for _, r := range e.injector(f).Routes() {
			out = append(out, f+" "+r)
		}
	}
	sort.Strings(out)
	return out
}

// writeCalls counts the state-changing calls since the last resetCalls
// (logging in to NPM changes nothing).
func (e *testEnv) writeCalls() int {
	n := 0
	for _, f := range []string{"gitea", "portainer", "npm"} {
		for r, c := range e.injector(f).AllCalls() {
			if !strings.HasPrefix(r, "GET ") && r != npmfake.RouteLogin {
				n += c
			}
		}
	}
	return n
}

// restartDeferred stops the engine gracefully and brings up a new one on
// the same database, left stopped until e.run: the next request's
// synchronous checks then run before any fault is armed for its workflow.
func (e *testEnv) restartDeferred() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Engine.Shutdown(ctx); err != nil {
		e.t.Fatalf("shutdown: %v", err)
	}
	e.open(e.OpsOptions, e.Log)
}

func matrixEnv(t testing.TB) *testEnv {
	return newEnv(t, withClientTimeout(matrixClientTimeout), withDeferredStart(), withQuietLog(),
		withOps(func(o *ops.Options) {
			// The faults outlast the forward retries, not the compensation:
			// "once the fault clears" the rollback must finish.
			o.UndoAttempts = 15
			o.Workers = 2
		}))
}

var matrixInstall = InstallRequest{AppName: "whoami", AppID: matrixAppID, Domains: []string{matrixDomain}}

// installClean installs the matrix app with no fault and checks it.
func installClean(e *testEnv) {
	e.t.Helper()
	op, err := e.Svc.Install(context.Background(), matrixInstall)
	if err != nil {
		e.t.Fatalf("clean install: %v", err)
	}
	e.run()
	if op = e.wait(op); op.Status != ops.StatusSucceeded || !e.complete(matrixAppID, true) {
		e.t.Fatalf("clean install: %s %s; fakes hold %v", op.Status, op.Error, e.leftovers(matrixAppID))
	}
	// A volume of the project, so uninstall's purge has something to delete.
	e.Portainer.AddVolume(1, matrixVolumeName, map[string]string{projectLabel: matrixAppID})
}

// discoverRoutes runs a clean install and uninstall, recording the routes
// of each phase.
func discoverRoutes(t testing.TB) map[string][]string {
	e := matrixEnv(t)
	got := map[string][]string{}
	ctx := context.Background()
	op, err := e.Svc.Install(ctx, matrixInstall)
	if err != nil {
		t.Fatalf("clean install: %v", err)
	}
	got[phaseInstallPreflight] = e.calledRoutes()
	e.resetCalls()
	e.run()
	if op = e.wait(op); op.Status != ops.StatusSucceeded {
		t.Fatalf("clean install: %s %s", op.Status, op.Error)
	}
	got[phaseInstallRun] = e.calledRoutes()
	e.Portainer.AddVolume(1, matrixVolumeName, map[string]string{projectLabel: matrixAppID})
	e.restartDeferred()
	e.resetCalls()
	op, err = e.Svc.Uninstall(ctx, matrixAppID, true, "")
	if err != nil {
		t.Fatalf("clean uninstall: %v", err)
	}
	got[phaseUninstallPreflight] = e.calledRoutes()
	e.resetCalls()
	e.run()
	if op = e.wait(op); op.Status != ops.StatusSucceeded {
		t.Fatalf("clean uninstall: %s %s", op.Status, op.Error)
	}
	got[phaseUninstallRun] = e.calledRoutes()
	if l := e.leftovers(matrixAppID); len(l) != 0 {
		t.Fatalf("clean uninstall left %v", l)
	}
	return got
}

type matrixCase struct {
	name  string
	phase string
	route routeSpec
	fault faults.Fault
}

func buildMatrix() ([]matrixCase, int, int) {
	var cases []matrixCase
	routes, writes := 0, 0
	for _, phase := range matrixPhases {
		for _, r := range expectedRoutes[phase] {
			routes++
			if r.write {
				writes++
			}
			for _, mf := range matrixFaults {
				if mf.writeOnly && !r.write {
					continue
				}
				for _, n := range matrixTimes {
					f := mf.make(r)
					f.Times = n
					cases = append(cases, matrixCase{
						name:  fmt.Sprintf("%s/%s_%s/%s_x%d", phase, r.fake, r.route, mf.name, n),
						phase: phase, route: r, fault: f,
					})
				}
			}
		}
	}
	return cases, routes, writes
}

// requireMatrixRoutes fails the test unless, for every phase, the calls
// seen in a clean run (got) are exactly the routes the matrix faults.
func requireMatrixRoutes(t *testing.T, phases []string, got map[string][]string, expected map[string][]routeSpec) {
	t.Helper()
	for _, phase := range phases {
		var want []string
		for _, r := range expected[phase] {
			want = append(want, r.String())
		}
		sort.Strings(want)
		if !slices.Equal(got[phase], want) {
			t.Fatalf("%s calls changed: the matrix must list every upstream call.\n got: %q\nwant: %q", phase, got[phase], want)
		}
	}
}

func TestFaultMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault matrix takes a minute; skipped with -short")
	}
	start := time.Now()
	requireMatrixRoutes(t, matrixPhases, discoverRoutes(t), expectedRoutes)

	cases, routes, writes := buildMatrix()
	lost := 0
	for _, f := range matrixFaults {
		if f.writeOnly {
			lost++
		}
	}
	msg := fmt.Sprintf("fault matrix: %d routes x %d faults (+%d answer-lost faults on %d write routes) x %d repeat counts = %d cases",
		routes, len(matrixFaults)-lost, lost, writes, len(matrixTimes), len(cases))
	t.Log(msg)
	fmt.Println(msg)

	results := runPool(t, 12, cases, runMatrixCase)
	tally := map[string]int{}
	for _, c := range cases {
		res := results[c.name]
		tally[res.outcome]++
		t.Run(c.name, func(t *testing.T) { res.report(t) })
	}
	t.Logf("outcomes: %v", tally)
	t.Logf("fault matrix ran in %s", time.Since(start).Round(time.Millisecond))
}

// runMatrixCase returns how the request ended: refused by its checks, or
// the operation's status.
func runMatrixCase(t testing.TB, c matrixCase) string {
	e := matrixEnv(t)
	ctx := context.Background()
	inj := e.injector(c.route.fake)
	pattern := c.route.route
	arm := func() int {
		inj.Fail(pattern, c.fault)
		return inj.Calls(pattern)
	}
	hit := func(before int) {
		t.Helper()
		if inj.Calls(pattern) == before {
			t.Fatalf("the fault on %s was never hit: the route is not called in %s", c.route, c.phase)
		}
	}

	switch c.phase {
	case phaseInstallPreflight, phaseInstallRun:
		before := 0
		if c.phase == phaseInstallPreflight {
			before = arm()
		}
		op, err := e.Svc.Install(ctx, matrixInstall)
		if err != nil {
			if c.phase != phaseInstallPreflight {
				t.Fatalf("install refused without a fault in its checks: %v", err)
			}
			hit(before)
			checkRefused(t, e, err)
			return "refused"
		}
		if c.phase == phaseInstallRun {
			before = arm()
		}
		e.run()
		op = e.wait(op)
		hit(before)
		checkInstallOutcome(t, e, op)
		return string(op.Status)

	default:
		installClean(e)
		e.restartDeferred()
		e.resetCalls()
		before := 0
		if c.phase == phaseUninstallPreflight {
			before = arm()
		}
		op, err := e.Svc.Uninstall(ctx, matrixAppID, true, "")
		if err != nil {
			if c.phase != phaseUninstallPreflight {
				t.Fatalf("uninstall refused without a fault in its checks: %v", err)
			}
			hit(before)
			checkRefused(t, e, err)
			if !e.complete(matrixAppID, true) {
				t.Fatalf("a refused uninstall changed the app: %v", e.leftovers(matrixAppID))
			}
			// Once the fault clears, the same request goes through.
			e.clearFaults()
			if op, err = e.Svc.Uninstall(ctx, matrixAppID, true, ""); err != nil {
				t.Fatalf("uninstall after the fault cleared: %v", err)
			}
		} else if c.phase == phaseUninstallRun {
			before = arm()
		}
		e.run()
		op = e.wait(op)
		hit(before)
		if op.Status != ops.StatusSucceeded {
			t.Fatalf("uninstall ended %s (%s); it rolls forward and must succeed once the fault clears", op.Status, op.Error)
		}
		if l := e.leftovers(matrixAppID); len(l) != 0 {
			t.Fatalf("uninstall succeeded but the fakes still hold %v", l)
		}
		return string(op.Status)
	}
}

// checkRefused: a request turned down by its checks names the problem with
// a domain code, records no operation and writes nothing upstream.
func checkRefused(t testing.TB, e *testEnv, err error) {
	t.Helper()
	ae, ok := apperr.As(err)
	if !ok || ae.Code == apperr.Internal {
		t.Fatalf("refused with %v: want a typed domain error", err)
	}
	if ae.Upstream == "" && ae.Code != apperr.Conflict && ae.Code != apperr.PreconditionFailed {
		t.Errorf("refused with %s %v: an upstream failure should name the upstream", ae.Code, err)
	}
	if n := e.writeCalls(); n != 0 {
		t.Errorf("a refused request made %d upstream writes: %v", n, e.calledRoutes())
	}
	active, lerr := e.Engine.List(context.Background(), ops.ListFilter{AppID: matrixAppID,
		Statuses: []ops.Status{ops.StatusQueued, ops.StatusRunning, ops.StatusRollingBack}})
	if lerr != nil {
		t.Fatal(lerr)
	}
	for _, op := range active {
		if op.Kind == KindInstall {
			t.Errorf("a refused install left operation %s %s", op.ID, op.Status)
		}
	}
}

// checkInstallOutcome: all or nothing.
func checkInstallOutcome(t testing.TB, e *testEnv, op *ops.Operation) {
	t.Helper()
	switch op.Status {
	case ops.StatusSucceeded:
		if !e.complete(matrixAppID, true) {
			t.Fatalf("install succeeded but the fakes hold only %v", e.leftovers(matrixAppID))
		}
	case ops.StatusRolledBack:
		if l := e.leftovers(matrixAppID); len(l) != 0 {
			t.Fatalf("install rolled back (%s) but left %v", op.Error, l)
		}
	default:
		t.Fatalf("install ended %s (%s); want SUCCEEDED or ROLLED_BACK; fakes hold %v", op.Status, op.Error, e.leftovers(matrixAppID))
	}
}

// --- running many cases at once --------------------------------------------

// caseResult is what one pooled case recorded.
type caseResult struct {
	outcome string
	logs    []string
	errs    []string
	panics  string
}

func (r *caseResult) report(t *testing.T) {
	t.Helper()
	for _, l := range r.logs {
		t.Log(l)
	}
	if r.panics != "" {
		t.Fatal(r.panics)
	}
	for _, e := range r.errs {
		t.Error(e)
	}
}

// caseT is the testing.TB of a case run on runPool's goroutines: -parallel
// caps t.Parallel at GOMAXPROCS, while these cases mostly wait on timeouts.
// Failures are recorded (Fatal ends the case's goroutine), and cleanups run
// when the case ends, so servers and databases are released as it goes.
type caseT struct {
	testing.TB
	name     string
	mu       sync.Mutex
	res      caseResult
	cleanups []func()
}

func (c *caseT) Name() string { return c.TB.Name() + "/" + c.name }
func (c *caseT) Helper()      {}
func (c *caseT) Log(args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res.logs = append(c.res.logs, fmt.Sprint(args...))
}
func (c *caseT) Logf(format string, args ...any) { c.Log(fmt.Sprintf(format, args...)) }
func (c *caseT) Error(args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res.errs = append(c.res.errs, fmt.Sprint(args...))
}
func (c *caseT) Errorf(format string, args ...any) { c.Error(fmt.Sprintf(format, args...)) }
func (c *caseT) Fail()                             { c.Error("failed") }
func (c *caseT) FailNow()                          { c.Fail(); runtime.Goexit() }
func (c *caseT) Fatal(args ...any)                 { c.Error(args...); runtime.Goexit() }
func (c *caseT) Fatalf(format string, args ...any) { c.Errorf(format, args...); runtime.Goexit() }
func (c *caseT) Skip(args ...any)                  { c.Fatal("skip is not supported in pooled cases") }
func (c *caseT) Skipf(string, ...any)              { c.Skip() }
func (c *caseT) SkipNow()                          { c.Skip() }
func (c *caseT) Failed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.res.errs) > 0
}
func (c *caseT) Cleanup(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cleanups = append(c.cleanups, f)
}

func (c *caseT) runCleanups() {
	for i := len(c.cleanups) - 1; i >= 0; i-- {
		c.cleanups[i]()
	}
}

// runPool runs fn for every case on n goroutines and returns what each
// recorded, by case name.
func runPool[C interface{ caseName() string }](t *testing.T, n int, cases []C, fn func(testing.TB, C) string) map[string]*caseResult {
	out := make(map[string]*caseResult, len(cases))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, n)
	for _, c := range cases {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			ct := &caseT{TB: t, name: c.caseName()}
			// Deferred, as Fatal ends the goroutine with runtime.Goexit.
			defer func() {
				mu.Lock()
				out[c.caseName()] = &ct.res
				mu.Unlock()
				<-sem
				wg.Done()
			}()
			defer ct.runCleanups()
			defer func() {
				if p := recover(); p != nil {
					ct.mu.Lock()
					ct.res.panics = fmt.Sprintf("panic: %v", p)
					ct.mu.Unlock()
				}
			}()
			outcome := fn(ct, c)
			ct.mu.Lock()
			ct.res.outcome = outcome
			ct.mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

func (c matrixCase) caseName() string { return c.name }
