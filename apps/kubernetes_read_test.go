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
		a := e.listed(id)
		v := e.Svc.NewView()
		d, errs := v.Drift(context.Background(), []AppRef{a.AppRef})
		if errs[0] != nil || len(d[0]) != 0 {
			t.Errorf("%s drift %+v %v", id, d, errs)
		}
		env, errs := v.Env(context.Background(), []AppRef{a.AppRef})
		if errs[0] != nil {
			t.Errorf("%s env: %v", id, errs[0])
		}
		if app == "whoami" {
			if got, _ := env[0].Get("W9_ID"); got != id {
				t.Errorf("%s W9_ID = %q", id, got)
			}
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
