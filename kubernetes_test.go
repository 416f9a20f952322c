package main

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/appmanage/appmanage/datasources/contract"
	portainerfake "github.com/appmanage/appmanage/datasources/portainer/fake"
)

// startWithKubernetes runs the server with the sandbox's Gitea and NPM and
// a Portainer fake the test holds, with a Docker endpoint (1) and a
// Kubernetes one (3), every exchange checked against Portainer's Swagger.
func startWithKubernetes(t *testing.T) (*testServer, *portainerfake.Server, func() []error) {
	t.Helper()
	v, err := contract.LoadSwagger2(contract.Spec(t, "portainer-swagger.yaml"), "/api",
		contract.Ignore(`^/api/endpoints/[0-9]+/docker/`), contract.Ignore(`^/api/endpoints/[0-9]+/kubernetes/apis?/`))
	if err != nil {
		t.Fatal(err)
	}
	var bad []error
	var mu sync.Mutex
	report := func(err error) { mu.Lock(); defer mu.Unlock(); bad = append(bad, err) }
	p := portainerfake.New(portainerfake.Options{APIKeys: []string{"ptr_k8stest"},
		Endpoints: []portainerfake.Endpoint{
			{ID: 1, Name: "local", Type: 1, URL: "unix:///var/run/docker.sock"},
			{ID: 3, Name: "k8s", Type: 5, URL: "https://kubernetes.default.svc"},
		},
		Wrap: contract.Middleware(v, report)})
	t.Cleanup(p.Close)
	s := startServer(t, "--sandbox=gitea,npm", "--portainer-url", p.URL(), "--portainer-api-key", "ptr_k8stest")
	return s, p, func() []error { mu.Lock(); defer mu.Unlock(); return slices.Clone(bad) }
}

// Acceptance 2 of issue 13 over GraphQL: whoami (compose + Kubernetes
// manifests) installs on the Kubernetes endpoint through
// /stacks/create/kubernetes/repository and podinfo (compose + Helm) through
// the Helm route; both list ACTIVE on endpoint 3; uninstall leaves no
// stack, release, namespace or repository; a compose-only app (nginx) on the
// Kubernetes endpoint is refused in preflight.
func TestKubernetesAppsOverGraphQL(t *testing.T) {
	s, p, violations := startWithKubernetes(t)
	ss := &session{s: s}

	resp := ss.do(t, adminKey, `{ catalog { name materialKinds } }`, nil)
	for _, want := range []string{`{"name":"whoami","materialKinds":["COMPOSE","KUBERNETES"]}`, `{"name":"podinfo","materialKinds":["COMPOSE","HELM"]}`, `{"name":"nginx","materialKinds":["COMPOSE"]}`} {
		if !strings.Contains(string(resp.Data), want) {
			t.Errorf("catalog lacks %s: %s %+v", want, resp.Data, resp.Errors)
		}
	}

	install := `mutation($in: InstallAppInput!) { installApp(input: $in) { id } }`
	resp = ss.do(t, adminKey, install, map[string]any{"in": map[string]any{"appName": "nginx", "appId": "knginx", "endpointId": 3}})
	if resp.code() != "PRECONDITION_FAILED" || !strings.Contains(resp.Errors[0].Message, "only compose material") {
		t.Fatalf("compose-only app on Kubernetes: %s %+v", resp.Data, resp.Errors)
	}
	if n := p.Faults.Calls("POST /api/kubernetes/{id}/namespaces"); n != 0 {
		t.Errorf("the refused install created a namespace")
	}

	for _, app := range []struct{ name, id, route string }{
		{"whoami", "gkwho", "POST /api/stacks/create/kubernetes/repository"},
		{"podinfo", "gkpod", "POST /api/endpoints/{id}/kubernetes/helm"},
	} {
		before := p.Faults.Calls(app.route)
		resp = ss.do(t, adminKey, install, map[string]any{"in": map[string]any{"appName": app.name, "appId": app.id, "endpointId": 3}})
		var out struct{ InstallApp struct{ ID string } }
		_ = json.Unmarshal(resp.Data, &out)
		if out.InstallApp.ID == "" {
			t.Fatalf("install %s: %+v", app.id, resp.Errors)
		}
		if st := waitTerminal(t, s, out.InstallApp.ID); st != "SUCCEEDED" {
			t.Fatalf("install %s ended %s", app.id, st)
		}
		if p.Faults.Calls(app.route) != before+1 {
			t.Errorf("%s did not go through %s", app.id, app.route)
		}
	}
	resp = ss.do(t, adminKey, `{ apps { nodes { id status endpointId } } }`, nil)
	for _, want := range []string{`{"id":"gkpod","status":"ACTIVE","endpointId":3}`, `{"id":"gkwho","status":"ACTIVE","endpointId":3}`} {
		if !strings.Contains(string(resp.Data), want) {
			t.Errorf("apps lacks %s: %s %+v", want, resp.Data, resp.Errors)
		}
	}
	if len(resp.Errors) > 0 {
		t.Errorf("apps errors: %+v", resp.Errors)
	}

	for _, id := range []string{"gkwho", "gkpod"} {
		resp = ss.do(t, adminKey, `mutation($id: ID!) { uninstallApp(id: $id) { id } }`, map[string]any{"id": id})
		var out struct{ UninstallApp struct{ ID string } }
		_ = json.Unmarshal(resp.Data, &out)
		if out.UninstallApp.ID == "" {
			t.Fatalf("uninstall %s: %+v", id, resp.Errors)
		}
		if st := waitTerminal(t, s, out.UninstallApp.ID); st != "SUCCEEDED" {
			t.Fatalf("uninstall %s ended %s", id, st)
		}
	}
	if st := p.Stacks(); len(st) != 0 {
		t.Errorf("stacks left: %+v", st)
	}
	if r := p.HelmReleases(3); len(r) != 0 {
		t.Errorf("releases left: %v", r)
	}
	if ns := p.KubeNamespaces(3); len(ns) != 0 {
		t.Errorf("namespaces left: %v", ns)
	}
	if d := p.KubeDeployments(3); len(d) != 0 {
		t.Errorf("deployments left: %+v", d)
	}
	resp = ss.do(t, adminKey, `{ apps { nodes { id } } }`, nil)
	if strings.Contains(string(resp.Data), "gk") {
		t.Errorf("still listed: %s", resp.Data)
	}
	for _, id := range []string{"gkwho", "gkpod"} {
		resp = ss.do(t, adminKey, `query($id: ID!) { app(id: $id) { id } }`, map[string]any{"id": id})
		if !strings.Contains(string(resp.Data), `"app":null`) {
			t.Errorf("app %s: %s", id, resp.Data)
		}
	}
	for _, err := range violations() {
		t.Errorf("contract violation: %v", err)
	}
}
