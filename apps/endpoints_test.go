package apps

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/faults"
	"github.com/appmanage/appmanage/datasources/portainer"
	portainerfake "github.com/appmanage/appmanage/datasources/portainer/fake"
	"github.com/appmanage/appmanage/library"
)

const oneService = "services:\n  app:\n    image: redis:7\n    container_name: ${NAME}\n"

// threeEndpoints is an env with a local Docker host, an agent and a
// Kubernetes cluster, and one stack on each Docker host.
func threeEndpoints(t *testing.T) *testEnv {
	t.Helper()
	e := newEnv(t, withPortainer(func(o *portainerfake.Options) {
		o.Endpoints = []portainerfake.Endpoint{{ID: 1, Name: "local", Type: 1}, {ID: 2, Name: "agent", Type: 2, URL: "tcp://10.0.0.2:9001"},
			{ID: 3, Name: "k8s", Type: 5}}
	}))
	for _, s := range []struct {
		ep   int
		name string
	}{{1, "one"}, {2, "two"}, {2, "twob"}} {
		if _, err := e.Portainer.AddStack(s.ep, s.name, oneService, portainerfake.EnvVar{Name: "NAME", Value: s.name}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func statuses(l *AppList) map[AppRef]AppStatus {
	out := map[AppRef]AppStatus{}
	for _, a := range l.Apps {
		out[a.AppRef] = a.Status
	}
	return out
}

// The listing reads one container list per Docker endpoint and none of the
// Kubernetes one; the agent down makes its apps UNKNOWN with one problem
// naming it, the other endpoint's apps complete, and the lazy fields of the
// agent's apps no further error.
func TestAppsAcrossEndpoints(t *testing.T) {
	e := threeEndpoints(t)
	ctx := context.Background()
	const containers = "GET /api/endpoints/{id}/docker/containers/json"
	e.Portainer.Faults.ResetCalls()
	l, err := e.Svc.NewView().Apps(ctx, ListQuery{})
	if err != nil || len(l.Problems) > 0 {
		t.Fatalf("apps: %v %v", err, l.Problems)
	}
	want := map[AppRef]AppStatus{{"one", 1}: AppActive, {"two", 2}: AppActive, {"twob", 2}: AppActive}
	if got := statuses(l); !maps.Equal(got, want) {
		t.Fatalf("apps %v, want %v", got, want)
	}
	if n := e.Portainer.Faults.Calls(containers); n != 2 {
		t.Errorf("container lists = %d, want 2 (one per Docker endpoint, none for Kubernetes)", n)
	}

	// A list that fails (not a down endpoint) is one problem per endpoint,
	// each naming its own.
	e.Svc.InvalidateLists()
	e.Portainer.Faults.Fail(containers, faults.Fault{Status: 500, Body: `{"message":"boom"}`, Times: 2})
	l, err = e.Svc.NewView().Apps(ctx, ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, p := range l.Problems {
		if ae, ok := apperr.As(p); ok {
			ids = append(ids, ae.EndpointID)
		}
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []int{1, 2}) {
		t.Fatalf("failed lists: problems %v, want one naming endpoint 1 and one naming 2", l.Problems)
	}
	for _, a := range l.Apps {
		if a.Status != AppUnknown {
			t.Errorf("%v = %s, want UNKNOWN", a.AppRef, a.Status)
		}
	}
	// The filter reads one endpoint only.
	e.Portainer.Faults.Clear()
	e.Svc.InvalidateLists()
	e.Portainer.Faults.ResetCalls()
	l, err = e.Svc.NewView().Apps(ctx, ListQuery{EndpointID: 2})
	if err != nil || len(l.Problems) > 0 || len(l.Apps) != 2 {
		t.Fatalf("endpoint 2: %v %v %v", l, err, l.Problems)
	}
	if n := e.Portainer.Faults.Calls(containers); n != 1 {
		t.Errorf("filtered listing read %d container lists, want 1; %v", n, e.Portainer.Faults.AllCalls())
	}
	// Last (the down agent's list, started early from the last poll's
	// hint, retries its 502s in the background for a while).
	e.Portainer.SetEndpointStatus(2, 2)
	e.Svc.InvalidateLists()
	v := e.Svc.NewView()
	l, err = v.Apps(ctx, ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	want = map[AppRef]AppStatus{{"one", 1}: AppActive, {"two", 2}: AppUnknown, {"twob", 2}: AppUnknown}
	if got := statuses(l); !maps.Equal(got, want) {
		t.Fatalf("agent down: apps %v, want %v", got, want)
	}
	if len(l.Problems) != 1 {
		t.Fatalf("agent down: problems %v, want one", l.Problems)
	}
	ae, ok := apperr.As(l.Problems[0])
	if !ok || ae.Code != apperr.UpstreamUnavailable || ae.EndpointID != 2 || ae.Upstream != "portainer" ||
		ae.Message != "endpoint 2 (agent) is down: the status of its apps is UNKNOWN" {
		t.Fatalf("problem = %#v", l.Problems[0])
	}
	refs := []AppRef{{"one", 1}, {"two", 2}}
	cs, errs := v.Containers(ctx, refs)
	if errs[0] != nil || errs[1] != nil || len(cs[0]) != 1 || len(cs[1]) != 0 {
		t.Fatalf("containers %v errors %v: want one's container and none (no error) for two", cs, errs)
	}
	envs, errs := v.Env(ctx, refs)
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("env errors %v", errs)
	}
	if n, _ := envs[1].Get("NAME"); n != "two" {
		t.Errorf("two's env (from its stack) = %v", envs[1])
	}
	ep, err := v.EndpointOf(ctx, 2)
	if err != nil || ep == nil || ep.Name != "agent" || ep.Kind() != "AGENT" || ep.Apps != 2 {
		t.Fatalf("endpoint 2 = %+v %v", ep, err)
	}
	sum, err := v.EndpointsWithApps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[int]int{}
	for _, s := range sum {
		counts[s.ID] = s.Apps
	}
	if !maps.Equal(counts, map[int]int{1: 1, 2: 2, 3: 0}) {
		t.Errorf("app counts %v", counts)
	}

}

// Material goes where it has a form: compose-only material to Docker
// endpoints; every other kind is refused in preflight, naming the endpoint.
func TestMaterialForEndpointKind(t *testing.T) {
	lib, err := library.Default(testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	app, ok := lib.Get("nginx")
	if !ok || len(app.MaterialKinds()) != 1 {
		t.Fatalf("nginx: %v %v, want a compose-only library app", ok, app)
	}
	for _, c := range []struct {
		typ  int
		want string // "" accepted
	}{
		{1, ""}, {2, ""}, {4, ""},
		{3, "endpoint 7 (x) is of type AZURE, where appmanage deploys nothing"},
		{5, "app nginx has only compose material (COMPOSE), which Portainer cannot deploy on Kubernetes endpoint 7 (x)"},
		{6, "cannot deploy on Kubernetes endpoint 7"},
		{7, "cannot deploy on Kubernetes endpoint 7"},
		{9, "is of type UNKNOWN"},
	} {
		_, err := materialFor(app, &portainer.Endpoint{ID: 7, Name: "x", Type: c.typ})
		if c.want == "" {
			if err != nil {
				t.Errorf("type %d: %v", c.typ, err)
			}
			continue
		}
		ae, ok := apperr.As(err)
		if !ok || ae.Code != apperr.PreconditionFailed || ae.Field != "endpointId" || !strings.Contains(ae.Message, c.want) {
			t.Errorf("type %d: %v, want PRECONDITION_FAILED on endpointId saying %q", c.typ, err, c.want)
		}
	}
}
