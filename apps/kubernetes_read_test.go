package apps

import (
	"context"
	"testing"

	"github.com/appmanage/appmanage/ops"
)

// The read side of Kubernetes apps: no drift for a healthy app (its
// Deployments are not Docker containers named after the app), the .env
// from the repository, no Docker inspect on a Kubernetes endpoint.
func TestKubernetesAppReadSide(t *testing.T) {
	e := kubeEnv(t)
	for _, app := range []string{"whoami", "podinfo"} {
		id := "r" + app[:3]
		if op := e.install(InstallRequest{AppName: app, AppID: id, EndpointID: kubeEP}); op.Status != ops.StatusSucceeded {
			t.Fatalf("install %s: %s", id, op.Error)
		}
		// As a GraphQL request does: the fields resolve on the view that
		// listed the app.
		v := e.Svc.NewView()
		l, err := v.Apps(context.Background(), ListQuery{ID: id})
		if err != nil || len(l.Apps) != 1 {
			t.Fatalf("list %s: %+v %v", id, l, err)
		}
		a := l.Apps[0]
		d, errs := v.Drift(context.Background(), []AppRef{a.AppRef})
		if errs[0] != nil || len(d[0]) != 0 {
			t.Errorf("%s drift %+v %v", id, d, errs)
		}
		env, errs := v.Env(context.Background(), []AppRef{a.AppRef})
		if errs[0] != nil {
			t.Errorf("%s env: %v", id, errs[0])
		}
		if got, _ := env[0].Get("W9_ID"); got != id {
			t.Errorf("%s W9_ID = %q", id, got)
		}
		if got, _ := env[0].Get("W9_APP_NAME"); got != app {
			t.Errorf("%s W9_APP_NAME = %q", id, got)
		}
		repos, errs := v.Repositories(context.Background(), []AppRef{a.AppRef})
		if errs[0] != nil || repos[0] == nil || repos[0].URL == "" {
			t.Errorf("%s repository = %+v %v", id, repos[0], errs[0])
		}
	}
	if n := e.Portainer.Faults.Calls("GET /api/endpoints/{id}/docker/containers/{cid}/json"); n != 0 {
		t.Errorf("%d Docker inspects on the Kubernetes endpoint", n)
	}
	// Scaled to 0 by a stop is not drift.
	e.lifecycle(KindStop, "rwho")
	a := e.listed("rwho")
	if d, errs := e.Svc.NewView().Drift(context.Background(), []AppRef{a.AppRef}); errs[0] != nil || len(d[0]) != 0 {
		t.Errorf("stopped drift %+v %v", d, errs)
	}
}
