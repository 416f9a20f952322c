package apps

import (
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/appmanage/appmanage/apperr"
	portainerfake "github.com/appmanage/appmanage/datasources/portainer/fake"
)

// A poll starts the container lists of the endpoints the last poll saw
// beside the endpoint list (see allContainers). That is only a head start:
// an endpoint that comes up is listed in that same poll, one that goes down
// is one problem naming it (and its stack-less project is no longer seen),
// and a steady poll lists each endpoint's containers once, as before.
func TestAppsEndpointSetChanges(t *testing.T) {
	e := newEnv(t, withPortainer(func(o *portainerfake.Options) {
		o.Endpoints = []portainerfake.Endpoint{{ID: 1, Name: "local"}, {ID: 2, Name: "edge"}}
	}))
	ctx := context.Background()
	for _, c := range []struct {
		ep      int
		project string
	}{{1, "one"}, {2, "two"}} {
		if _, err := e.Portainer.AddContainers(c.ep, c.project, portainerfake.Container{Name: c.project, Image: "redis:7"}); err != nil {
			t.Fatal(err)
		}
	}
	const containers = "GET /api/endpoints/{id}/docker/containers/json"
	down := 0 // the endpoint the poll must report as down
	poll := func(step string) map[string]AppStatus {
		t.Helper()
		e.Svc.InvalidateLists()
		l, err := e.Svc.NewView().Apps(ctx, ListQuery{})
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		switch {
		case down == 0 && len(l.Problems) > 0:
			t.Fatalf("%s: problems %v", step, l.Problems)
		case down != 0:
			ae, ok := apperr.As(l.Problems[0])
			if len(l.Problems) != 1 || !ok || ae.EndpointID != down || ae.Code != apperr.UpstreamUnavailable {
				t.Fatalf("%s: problems %v, want one UPSTREAM_UNAVAILABLE naming endpoint %d", step, l.Problems, down)
			}
		}
		got := map[string]AppStatus{}
		for _, a := range l.Apps {
			got[a.ID] = a.Status
		}
		return got
	}
	want := func(step string, got map[string]AppStatus, exp map[string]AppStatus) {
		t.Helper()
		if !maps.Equal(got, exp) {
			t.Errorf("%s: apps %v, want %v", step, got, exp)
		}
	}

	e.Portainer.SetEndpointStatus(2, 2) // down
	down = 2
	want("edge down", poll("edge down"), map[string]AppStatus{"one": AppActive})
	if got := e.Svc.lists.knownEndpoints(); !slices.Equal(got, []int{1}) {
		t.Fatalf("known endpoints %v, want [1]", got)
	}

	// The edge comes up: the poll knows only endpoint 1 beforehand, and
	// still lists the edge's app (its container list is the second wave).
	e.Portainer.SetEndpointStatus(2, 1)
	down = 0
	want("edge up", poll("edge up"), map[string]AppStatus{"one": AppActive, "two": AppActive})
	if got := e.Svc.lists.knownEndpoints(); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("known endpoints %v, want [1 2]", got)
	}

	// A steady poll: one container list per endpoint, no more.
	e.Portainer.Faults.ResetCalls()
	want("steady", poll("steady"), map[string]AppStatus{"one": AppActive, "two": AppActive})
	if n := e.Portainer.Faults.Calls(containers); n != 2 {
		t.Errorf("steady poll listed containers %d times, want 2 (one per endpoint)", n)
	}
	if n := e.Portainer.Faults.Calls("GET /api/endpoints"); n != 1 {
		t.Errorf("steady poll listed endpoints %d times, want 1", n)
	}

	// The edge goes down: the list started for it early fails, and is
	// dropped: one problem (the endpoint is down), and its stack-less app
	// is no longer listed.
	e.Portainer.SetEndpointStatus(2, 2)
	down = 2
	want("edge down again", poll("edge down again"), map[string]AppStatus{"one": AppActive})
	if got := e.Svc.lists.knownEndpoints(); !slices.Equal(got, []int{1}) {
		t.Fatalf("known endpoints %v, want [1]", got)
	}

	// A container started behind our back on a known endpoint shows in the
	// next poll: the head start reads fresh lists, not the last poll's.
	if _, err := e.Portainer.AddContainers(1, "three", portainerfake.Container{Name: "three", Image: "redis:7"}); err != nil {
		t.Fatal(err)
	}
	want("new project", poll("new project"), map[string]AppStatus{"one": AppActive, "three": AppActive})
}
