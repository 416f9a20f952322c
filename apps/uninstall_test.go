package apps

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/faults"
	npmfake "github.com/appmanage/appmanage/datasources/proxymanager/fake"
	"github.com/appmanage/appmanage/ops"
)

func (e *testEnv) uninstall(appID string, purge bool) *ops.Operation {
	e.t.Helper()
	op, err := e.Svc.Uninstall(context.Background(), appID, purge, "")
	if err != nil {
		e.t.Fatalf("uninstall %s: %v", appID, err)
	}
	return e.wait(op)
}

func (e *testEnv) volumesOf(appID string) []string {
	var out []string
	for _, v := range e.Portainer.Volumes(1) {
		if strings.EqualFold(v.Labels[projectLabel], appID) {
			out = append(out, v.Name)
		}
	}
	slices.Sort(out)
	return out
}

func TestUninstallWithDomainRemovesEverything(t *testing.T) {
	e := newEnv(t)
	op := e.install(InstallRequest{AppName: "whoami", AppID: "gone1", Domains: []string{"gone.example.com"}})
	if op.Status != ops.StatusSucceeded || !e.complete("gone1", true) {
		t.Fatalf("install: %s %s; %v", op.Status, op.Error, e.leftovers("gone1"))
	}
	// Another app must survive the uninstall untouched.
	if op := e.install(InstallRequest{AppName: "whoami", AppID: "stay1", Domains: []string{"stay.example.com"},
		Settings: []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: "9107"}}}); op.Status != ops.StatusSucceeded {
		t.Fatalf("second install: %s %s", op.Status, op.Error)
	}
	u := e.uninstall("gone1", false)
	if u.Status != ops.StatusSucceeded || u.Progress != 100 {
		t.Fatalf("uninstall: %s %d%% %s", u.Status, u.Progress, u.Error)
	}
	if l := e.leftovers("gone1"); len(l) != 0 {
		t.Fatalf("uninstall left %v", l)
	}
	if !e.complete("stay1", true) {
		t.Fatalf("uninstalling gone1 damaged stay1: %v", e.leftovers("stay1"))
	}
	for _, s := range u.Steps {
		if s.Status != ops.StepSucceeded {
			t.Errorf("step %s ended %s", s.Name, s.Status)
		}
	}
	// Gone means gone: a second uninstall has nothing to find.
	if _, err := e.Svc.Uninstall(context.Background(), "gone1", false, ""); apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("second uninstall: %v, want NOT_FOUND", err)
	}
}

func TestUninstallPurgeData(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{"keep1", "purge1"} {
		port := map[string]string{"keep1": "9201", "purge1": "9202"}[id]
		op := e.install(InstallRequest{AppName: "wordpress", AppID: id, Settings: []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: port}}})
		if op.Status != ops.StatusSucceeded {
			t.Fatalf("install %s: %s %s", id, op.Status, op.Error)
		}
		if len(e.volumesOf(id)) == 0 {
			t.Fatalf("wordpress %s got no volumes; the test needs some", id)
		}
	}
	keptVolumes := e.volumesOf("keep1")

	if u := e.uninstall("keep1", false); u.Status != ops.StatusSucceeded {
		t.Fatalf("uninstall keep1: %s %s", u.Status, u.Error)
	}
	want := asLeftovers("volume", keptVolumes)
	if l := e.leftovers("keep1"); !slices.Equal(l, want) {
		t.Fatalf("without purgeData: fakes hold %v, want only the volumes %v", l, want)
	}

	if u := e.uninstall("purge1", true); u.Status != ops.StatusSucceeded {
		t.Fatalf("uninstall purge1: %s %s", u.Status, u.Error)
	}
	if l := e.leftovers("purge1"); len(l) != 0 {
		t.Fatalf("with purgeData: fakes still hold %v", l)
	}
	if got := e.volumesOf("keep1"); !slices.Equal(got, keptVolumes) {
		t.Fatalf("purging purge1 touched keep1's volumes: %v, want %v", got, keptVolumes)
	}
}

func TestUninstallStackCreatedOutsideAppmanage(t *testing.T) {
	e := newEnv(t)
	compose := "services:\n  web:\n    image: nginx:1.27\n    ports:\n      - \"9301:80\"\n    volumes:\n      - data:/usr/share/nginx/html\nvolumes:\n  data:\n"
	if _, err := e.Portainer.AddStack(1, "foreign1", compose); err != nil {
		t.Fatal(err)
	}
	if l := e.leftovers("foreign1"); len(l) == 0 {
		t.Fatal("the foreign stack left no trace in the fake")
	}
	u := e.uninstall("foreign1", true)
	if u.Status != ops.StatusSucceeded {
		t.Fatalf("uninstall: %s %s", u.Status, u.Error)
	}
	if l := e.leftovers("foreign1"); len(l) != 0 {
		t.Fatalf("uninstall left %v", l)
	}
}

// A failed install leaves a record; uninstalling it cleans whatever the
// install could not.
func TestUninstallAfterFailedInstall(t *testing.T) {
	tests := []struct {
		name   string
		arm    func(e *testEnv)
		status ops.Status
	}{
		{
			name: "stack deploy fails, rollback completes",
			arm: func(e *testEnv) {
				e.Portainer.Faults.Fail(ptrCreateRepo, faults.Fault{Status: 500, Body: `{"message":"injected","details":"Injected"}`})
			},
			status: ops.StatusRolledBack,
		},
		{
			name: "proxy fails and the rollback cannot delete the repository",
			arm: func(e *testEnv) {
				e.NPM.Faults.Fail(npmfake.RouteCreate, faults.Fault{Status: 400, Body: `{"error":{"code":400,"message":"injected"}}`})
				// More failures than undo attempts: the repository stays.
				e.Gitea.Faults.Fail("DELETE /api/v1/repos/{owner}/{repo}", faults.Fault{Status: 500, Body: `{"message":"injected"}`, Times: 6})
			},
			status: ops.StatusFailed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tt.arm(e)
			op := e.install(InstallRequest{AppName: "whoami", AppID: "fail1", Domains: []string{"fail.example.com"}})
			if op.Status != tt.status {
				t.Fatalf("install ended %s (%s), want %s", op.Status, op.Error, tt.status)
			}
			before := e.leftovers("fail1")
			e.clearFaults()
			u := e.uninstall("fail1", true)
			if u.Status != ops.StatusSucceeded {
				t.Fatalf("uninstall of the failed install: %s %s", u.Status, u.Error)
			}
			if l := e.leftovers("fail1"); len(l) != 0 {
				t.Fatalf("uninstall left %v (before it: %v)", l, before)
			}
			// The id is free again.
			if op := e.install(InstallRequest{AppName: "whoami", AppID: "fail1"}); op.Status != ops.StatusSucceeded {
				t.Fatalf("reinstall: %s %s", op.Status, op.Error)
			}
		})
	}
}

func TestUninstallIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if op := e.install(InstallRequest{AppName: "whoami", AppID: "idem1"}); op.Status != ops.StatusSucceeded {
		t.Fatalf("install: %s %s", op.Status, op.Error)
	}
	first, err := e.Svc.Uninstall(ctx, "idem1", false, "req-42")
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.Svc.Uninstall(ctx, "idem1", false, "req-42")
	if err != nil || again.ID != first.ID {
		t.Fatalf("repeated request: %v, %v; want operation %s", again, err, first.ID)
	}
	if done := e.wait(first); done.Status != ops.StatusSucceeded {
		t.Fatalf("uninstall: %s %s", done.Status, done.Error)
	}
	// Still the same operation once it is over (the app is gone by now).
	late, err := e.Svc.Uninstall(ctx, "idem1", false, "req-42")
	if err != nil || late.ID != first.ID || late.Status != ops.StatusSucceeded {
		t.Fatalf("request repeated after completion: %+v, %v", late, err)
	}
	// The key belongs to that request: reused for another app it is refused.
	if _, err := e.Svc.Uninstall(ctx, "other1", false, "req-42"); apperr.CodeOf(err) != apperr.Conflict {
		t.Fatalf("key reused for another app: %v, want CONFLICT", err)
	}
	all, _ := e.Engine.List(ctx, ops.ListFilter{AppID: "idem1", Kind: KindUninstall})
	if len(all) != 1 {
		t.Fatalf("%d uninstall operations, want 1", len(all))
	}
}

func TestCancelRunningInstall(t *testing.T) {
	e := newEnv(t, withClientTimeout(20*time.Second))
	// The deploy hangs until the client gives up, so the install is caught
	// in its stack step.
	e.Portainer.Faults.Fail(ptrCreateRepo, faults.Fault{Delay: 30 * time.Second})
	ctx := context.Background()
	op, err := e.Svc.Install(ctx, InstallRequest{AppName: "whoami", AppID: "cancel1", Domains: []string{"cancel.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for e.Portainer.Faults.Calls(ptrCreateRepo) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the install never reached its stack step")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(e.leftovers("cancel1")) == 0 {
		t.Fatal("the repository step left nothing to undo; the test would prove nothing")
	}
	if _, err := e.Engine.Cancel(ctx, op.ID); err != nil {
		t.Fatal(err)
	}
	done := e.wait(op)
	if done.Status != ops.StatusCancelled {
		t.Fatalf("cancelled install ended %s (%s)", done.Status, done.Error)
	}
	if l := e.leftovers("cancel1"); len(l) != 0 {
		t.Fatalf("cancelled install left %v", l)
	}
}

func TestUninstallBadInput(t *testing.T) {
	e := newEnv(t)
	if op := e.install(InstallRequest{AppName: "whoami", AppID: "there1"}); op.Status != ops.StatusSucceeded {
		t.Fatalf("install: %s %s", op.Status, op.Error)
	}
	e.resetCalls()
	tests := []struct {
		name  string
		id    string
		code  apperr.Code
		field string
	}{
		{"upper case", "There1", apperr.ValidationFailed, "id"},
		{"too short", "a", apperr.ValidationFailed, "id"},
		{"path", "../there1", apperr.ValidationFailed, "id"},
		{"empty", "", apperr.ValidationFailed, "id"},
		{"unknown app", "nosuch1", apperr.NotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Svc.Uninstall(context.Background(), tt.id, true, "")
			ae, ok := apperr.As(err)
			if !ok || ae.Code != tt.code || ae.Field != tt.field {
				t.Fatalf("err = %v, want %s on field %q", err, tt.code, tt.field)
			}
		})
	}
	if n := e.writeCalls(); n != 0 {
		t.Fatalf("refused uninstalls made %d upstream writes: %v", n, e.calledRoutes())
	}
	recorded, err := e.Engine.List(context.Background(), ops.ListFilter{Kind: KindUninstall})
	if err != nil || len(recorded) != 0 {
		t.Fatalf("refused uninstalls recorded operations: %v %v", recorded, err)
	}
	if !e.complete("there1", false) {
		t.Fatalf("refused uninstalls touched another app: %v", e.leftovers("there1"))
	}
}

// Data kept by an uninstall without purgeData is what a later install of
// the same id reuses; if that install fails, its rollback must remove only
// what it created, not the kept data.
func TestFailedReinstallKeepsEarlierData(t *testing.T) {
	e := newEnv(t)
	req := InstallRequest{AppName: "wordpress", AppID: "blog1", Domains: []string{"blog1.example.com"}}
	if op := e.install(req); op.Status != ops.StatusSucceeded {
		t.Fatalf("install: %s %s", op.Status, op.Error)
	}
	kept := e.volumesOf("blog1")
	if len(kept) == 0 {
		t.Fatal("wordpress got no volumes; the test needs some")
	}
	if u := e.uninstall("blog1", false); u.Status != ops.StatusSucceeded {
		t.Fatalf("uninstall: %s %s", u.Status, u.Error)
	}
	// The reinstall fails at its last step and rolls back.
	e.NPM.Faults.Fail(npmfake.RouteCreate, faults.Fault{Status: 400, Body: `{"error":{"code":400,"message":"injected"}}`})
	if op := e.install(req); op.Status != ops.StatusRolledBack {
		t.Fatalf("reinstall: %s %s, want ROLLED_BACK", op.Status, op.Error)
	}
	want := asLeftovers("volume", kept)
	if l := e.leftovers("blog1"); !slices.Equal(l, want) {
		t.Fatalf("after the failed reinstall the fakes hold %v, want exactly the kept volumes %v", l, want)
	}
}
