package apps

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/faults"
	"github.com/appmanage/appmanage/ops"
)

// slowUpstreams makes every upstream call take d, so concurrent requests
// overlap with each other's preflight and workflow.
func (e *testEnv) slowUpstreams(d time.Duration) {
	for _, f := range []string{"gitea", "portainer", "npm"} {
		e.injector(f).SetLatency(d)
	}
}

// installAll runs reqs concurrently, released together, and returns each
// one's operation or error, in order.
func installAll(e *testEnv, reqs []InstallRequest) ([]*ops.Operation, []error) {
	ops := make([]*ops.Operation, len(reqs))
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i, req := range reqs {
		wg.Go(func() {
			<-gate
			ops[i], errs[i] = e.Svc.Install(context.Background(), req)
		})
	}
	close(gate)
	wg.Wait()
	return ops, errs
}

func TestConcurrentInstallsOfOneAppID(t *testing.T) {
	e := newEnv(t)
	e.slowUpstreams(40 * time.Millisecond)
	reqs := make([]InstallRequest, 20)
	for i := range reqs {
		reqs[i] = InstallRequest{AppName: "whoami", AppID: "same1", Domains: []string{"same.example.com"}}
	}
	started, errs := installAll(e, reqs)

	var winner *ops.Operation
	for i, err := range errs {
		if err == nil {
			if winner != nil {
				t.Fatalf("two installs of one app id were accepted: %s and %s", winner.ID, started[i].ID)
			}
			winner = started[i]
			continue
		}
		// Either the engine's one-active-operation rule or preflight's
		// "app id is taken" (when the winner already created something).
		if apperr.CodeOf(err) != apperr.Conflict {
			t.Errorf("install %d: %v, want CONFLICT", i, err)
		}
	}
	if winner == nil {
		t.Fatal("no install was accepted")
	}
	e.slowUpstreams(0)
	if done := e.wait(winner); done.Status != ops.StatusSucceeded {
		t.Fatalf("the accepted install ended %s: %s", done.Status, done.Error)
	}
	all, err := e.Engine.List(context.Background(), ops.ListFilter{AppID: "same1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 {
		t.Fatalf("%d operations recorded for the app, want exactly 1", len(all))
	}
	assertOneApp(t, e, "same1")
}

func TestConcurrentInstallsOfOneHostPort(t *testing.T) {
	e := newEnv(t)
	e.slowUpstreams(40 * time.Millisecond)
	const port = 9321
	reqs := make([]InstallRequest, 20)
	for i := range reqs {
		reqs[i] = InstallRequest{AppName: "whoami", AppID: "port" + strconv.Itoa(i),
			Settings: []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: strconv.Itoa(port)}}}
	}
	started, errs := installAll(e, reqs)

	var winner *ops.Operation
	for i, err := range errs {
		if err == nil {
			if winner != nil {
				t.Fatalf("two installs publishing port %d were accepted: %s (%s) and %s (%s)", port, winner.ID, winner.AppID, started[i].ID, started[i].AppID)
			}
			winner = started[i]
			continue
		}
		ae, ok := apperr.As(err)
		if !ok || ae.Code != apperr.PreconditionFailed || !strings.Contains(ae.Error(), strconv.Itoa(port)) {
			t.Errorf("install %d: %v, want PRECONDITION_FAILED naming port %d", i, err, port)
		}
	}
	if winner == nil {
		t.Fatal("no install was accepted")
	}
	e.slowUpstreams(0)
	if done := e.wait(winner); done.Status != ops.StatusSucceeded {
		t.Fatalf("the accepted install ended %s: %s", done.Status, done.Error)
	}
	all, err := e.Engine.List(context.Background(), ops.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 {
		t.Fatalf("%d operations recorded, want exactly 1", len(all))
	}
	assertOneApp(t, e, winner.AppID)
}

// assertOneApp checks the fakes hold exactly one app, appID, complete.
func assertOneApp(t *testing.T, e *testEnv, appID string) {
	t.Helper()
	if !e.complete(appID, false) {
		t.Fatalf("app %s is incomplete: %v", appID, e.leftovers(appID))
	}
	if n := len(e.Gitea.RepoNames()); n != 1 {
		t.Errorf("gitea holds %d repositories, want 1: %v", n, e.Gitea.RepoNames())
	}
	if n := len(e.Portainer.Stacks()); n != 1 {
		t.Errorf("portainer holds %d stacks, want 1", n)
	}
	projects := map[string]bool{}
	for _, c := range e.Portainer.Containers(1) {
		projects[c.Labels[projectLabel]] = true
	}
	if len(projects) != 1 || !projects[appID] {
		t.Errorf("containers belong to projects %v, want only %s", projects, appID)
	}
	if n := len(e.NPM.Hosts()); n > 1 {
		t.Errorf("npm holds %d proxy hosts, want at most 1", n)
	}
}

// TestInstallCannotAdoptAnotherInstallsApp: an install whose checks passed
// before another install of the same id even started must not be accepted
// after that other install finished, or its steps, which reuse what they
// find under the app's name, would adopt the other app and, on rollback,
// delete it.
func TestInstallCannotAdoptAnotherInstallsApp(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// B's checks hang on NPM for a while; B will fail at its proxy step.
	e.NPM.Faults.Fail("GET /api/nginx/proxy-hosts", faultDelay(1500*time.Millisecond))
	e.NPM.Faults.Fail("POST /api/nginx/proxy-hosts", faultStatus(400, `{"error":{"code":400,"message":"injected"}}`, 5))

	type result struct {
		op  *ops.Operation
		err error
	}
	bDone := make(chan result, 1)
	go func() {
		op, err := e.Svc.Install(ctx, InstallRequest{AppName: "whoami", AppID: "twin1", Domains: []string{"twin.example.com"}})
		bDone <- result{op, err}
	}()
	// A starts once B's checks are under way, and has no domain (so its
	// install is quick and leaves nothing in NPM for B's check to see).
	deadline := time.Now().Add(5 * time.Second)
	for e.NPM.Faults.Calls("GET /api/nginx/proxy-hosts") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("B's checks never reached NPM")
		}
		time.Sleep(5 * time.Millisecond)
	}
	aOp, aErr := e.Svc.Install(ctx, InstallRequest{AppName: "whoami", AppID: "twin1"})
	if aErr == nil {
		aOp = e.wait(aOp)
	}
	b := <-bDone
	if b.err == nil {
		b.op = e.wait(b.op)
	}
	if aErr == nil && b.err == nil {
		t.Errorf("both installs of twin1 were accepted: A %s, B %s (%s)", aOp.Status, b.op.Status, b.op.Error)
	}
	if aErr != nil && b.err != nil {
		t.Errorf("neither install of twin1 was accepted: A %v, B %v", aErr, b.err)
	}
	for _, r := range []result{{aOp, aErr}, b} {
		if r.err != nil && apperr.CodeOf(r.err) != apperr.Conflict {
			t.Errorf("refused install: %v, want CONFLICT", r.err)
		}
	}
	succeeded := (aErr == nil && aOp.Status == ops.StatusSucceeded) || (b.err == nil && b.op.Status == ops.StatusSucceeded)
	if l := e.leftovers("twin1"); succeeded && !e.complete("twin1", false) {
		t.Fatalf("an install succeeded but its app is gone or partial: %v", l)
	} else if !succeeded && len(l) != 0 {
		t.Fatalf("no install succeeded, yet the fakes hold %v", l)
	}
}

func faultDelay(d time.Duration) faults.Fault { return faults.Fault{Delay: d} }

func faultStatus(status int, body string, times int) faults.Fault {
	return faults.Fault{Status: status, Body: body, Times: times}
}
