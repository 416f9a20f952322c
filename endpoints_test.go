package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/appmanage/appmanage/sandbox"
)

// startSandbox starts the server on its sandbox and returns the sandbox's
// fakes too (to mark an endpoint down, or look at an endpoint's containers).
func startSandbox(t *testing.T, extraArgs ...string) (*testServer, *sandbox.Env) {
	t.Helper()
	var sb *sandbox.Env
	ctx := context.WithValue(context.Background(), sandboxHookKey{}, func(e *sandbox.Env) { sb = e })
	s := startServerIn(t, ctx, extraArgs...)
	if sb == nil || sb.Portainer == nil {
		t.Fatal("the sandbox hook was not called")
	}
	return s, sb
}

// installOn installs appName as appID on an endpoint and returns the GraphQL
// response (the operation's id in InstallApp.ID when it was accepted).
func installOn(t *testing.T, s *testServer, appName, appID string, endpoint int, extra map[string]any) (string, gqlResponse) {
	t.Helper()
	in := map[string]any{"appName": appName, "appId": appID, "endpointId": endpoint}
	for k, v := range extra {
		in[k] = v
	}
	_, resp := s.gql(t, adminKey, `mutation($in: InstallAppInput!) { installApp(input: $in) { id } }`, map[string]any{"in": in})
	var out struct{ InstallApp struct{ ID string } }
	if len(resp.Errors) == 0 {
		_ = json.Unmarshal(resp.Data, &out)
	}
	return out.InstallApp.ID, resp
}

func mustInstallOn(t *testing.T, s *testServer, appName, appID string, endpoint int, extra map[string]any) {
	t.Helper()
	op, resp := installOn(t, s, appName, appID, endpoint, extra)
	if len(resp.Errors) > 0 {
		t.Fatalf("install %s on endpoint %d: %+v", appID, endpoint, resp.Errors)
	}
	if st := waitTerminal(t, s, op); st != "SUCCEEDED" {
		_, r := s.gql(t, adminKey, `query($id: ID!) { operation(id: $id) { error } }`, map[string]any{"id": op})
		t.Fatalf("install %s on endpoint %d: %s %s", appID, endpoint, st, r.Data)
	}
}

// projectsOn lists the compose projects with containers on an endpoint.
func projectsOn(sb *sandbox.Env, endpoint int) []string {
	var out []string
	for _, c := range sb.Portainer.Containers(endpoint) {
		if p := c.Project(); p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

type endpointNode struct {
	ID       int
	Name     string
	Type     int
	Kind     string
	Status   string
	AppCount int
}

type listedApp struct {
	ID         string
	Status     string
	EndpointID *int
	Endpoint   *endpointNode
	AppName    *string
	Containers []struct {
		Name  string
		State string
		Ports []struct{ PublicPort *int }
	}
}

const listQuery = `{ apps { totalCount nodes { id status endpointId endpoint { id name type kind status appCount }
	appName containers { name state ports { publicPort } } } } }`

func listApps(t *testing.T, s *testServer) (map[string]listedApp, gqlResponse) {
	t.Helper()
	_, resp := s.gql(t, adminKey, listQuery, nil)
	var out struct {
		Apps struct {
			TotalCount int
			Nodes      []listedApp
		}
	}
	if err := json.Unmarshal(resp.Data, &out); err != nil {
		t.Fatalf("apps: %s %v", resp.Data, err)
	}
	m := map[string]listedApp{}
	for _, a := range out.Apps.Nodes {
		m[a.ID] = a
	}
	return m, resp
}

func endpointsOf(t *testing.T, s *testServer) map[int]endpointNode {
	t.Helper()
	_, resp := s.gql(t, adminKey, `{ endpoints { id name type kind status appCount } }`, nil)
	if len(resp.Errors) > 0 {
		t.Fatalf("endpoints: %+v", resp.Errors)
	}
	var out struct{ Endpoints []endpointNode }
	_ = json.Unmarshal(resp.Data, &out)
	m := map[int]endpointNode{}
	for _, e := range out.Endpoints {
		m[e.ID] = e
	}
	return m
}

// Issue 13, acceptance 1: a sandbox with three endpoints (local Docker, an
// agent, Kubernetes). Installs land on the chosen endpoint; apps lists all
// with their endpoint; the same host port is free on one endpoint and taken
// on another, and preflight says which; a compose app is refused on the
// Kubernetes endpoint; an app id is unique across endpoints; with the agent
// down, apps returns the local endpoint's apps complete, the agent's apps
// UNKNOWN, and one error naming the agent.
func TestSeveralEndpointsAcceptance(t *testing.T) {
	s, sb := startSandbox(t)

	eps := endpointsOf(t, s)
	want := map[int]endpointNode{
		1: {ID: 1, Name: "local", Type: 1, Kind: "DOCKER", Status: "UP"},
		2: {ID: 2, Name: "agent", Type: 2, Kind: "AGENT", Status: "UP"},
		3: {ID: 3, Name: "k8s", Type: 5, Kind: "KUBERNETES", Status: "UP"},
	}
	for id, w := range want {
		if eps[id] != w {
			t.Errorf("endpoint %d = %+v, want %+v", id, eps[id], w)
		}
	}

	// The same host port on both Docker endpoints: free on each at first.
	port := map[string]any{"settings": []map[string]string{{"name": "W9_HTTP_PORT_SET", "value": "9180"}}}
	mustInstallOn(t, s, "whoami", "epone", 1, port)
	mustInstallOn(t, s, "whoami", "eptwo", 2, port)
	if got := projectsOn(sb, 1); !slices.Equal(got, []string{"epone"}) {
		t.Errorf("endpoint 1 runs %v, want [epone]", got)
	}
	if got := projectsOn(sb, 3); len(got) != 0 {
		t.Errorf("endpoint 3 runs %v", got)
	}
	if got := projectsOn(sb, 2); !slices.Equal(got, []string{"eptwo"}) {
		t.Errorf("endpoint 2 runs %v, want [eptwo]", got)
	}
	for _, st := range sb.Portainer.Stacks() {
		if w := map[string]int{"epone": 1, "eptwo": 2}[st.Name]; st.EndpointID != w {
			t.Errorf("stack %s on endpoint %d, want %d", st.Name, st.EndpointID, w)
		}
	}
	// Now taken on each, by that endpoint's own container.
	for ep, holder := range map[int]string{1: "epone", 2: "eptwo"} {
		_, resp := installOn(t, s, "whoami", "epthree", ep, port)
		if resp.code() != "PRECONDITION_FAILED" || !strings.Contains(resp.Errors[0].Message, "container "+holder+" on endpoint "+itoa(ep)) {
			t.Errorf("port 9180 on endpoint %d: %+v, want PRECONDITION_FAILED naming %s on endpoint %d", ep, resp.Errors, holder, ep)
		}
	}
	// Without a setting, whoami's default 9006 is taken on endpoint 1 by
	// epdef, so a plan there takes the next free port, while on endpoint 2
	// the default is free.
	mustInstallOn(t, s, "whoami", "epdef", 1, nil)
	for ep, w := range map[int]struct {
		port   int
		source string
	}{1: {9007, "NEXT_FREE"}, 2: {9006, "DEFAULT"}} {
		plan, resp := planOf(t, s, map[string]any{"appName": "whoami", "appId": "epthree", "endpointId": ep})
		if len(resp.Errors) > 0 || plan.EndpointID != ep || len(plan.Ports) != 1 || plan.Ports[0].HostPort != w.port || plan.Ports[0].Source != w.source {
			t.Errorf("plan on endpoint %d: %+v %+v, want %d %s", ep, plan, resp.Errors, w.port, w.source)
		}
	}

	// Kubernetes: a compose-only app is refused in preflight.
	_, resp := installOn(t, s, "nginx", "epkube", 3, nil)
	if resp.code() != "PRECONDITION_FAILED" || resp.Errors[0].Extensions["field"] != "endpointId" ||
		!strings.Contains(resp.Errors[0].Message, "Kubernetes endpoint 3 (k8s)") ||
		!strings.Contains(resp.Errors[0].Message, "only compose material") {
		t.Errorf("compose app on Kubernetes: %+v", resp.Errors)
	}
	// An app id is unique across endpoints: CONFLICT, nothing written.
	stacks := len(sb.Portainer.Stacks())
	_, resp = installOn(t, s, "whoami", "epone", 2, nil)
	if resp.code() != "CONFLICT" || !strings.Contains(resp.Errors[0].Message, `"epone" is taken`) {
		t.Errorf("epone again on endpoint 2: %+v", resp.Errors)
	}
	if n := len(sb.Portainer.Stacks()); n != stacks || len(projectsOn(sb, 2)) != 1 || len(projectsOn(sb, 3)) != 0 {
		t.Errorf("refused installs wrote: %d stacks (want %d), endpoint 2 %v, endpoint 3 %v", n, stacks, projectsOn(sb, 2), projectsOn(sb, 3))
	}

	// apps lists every endpoint's apps with their endpoint.
	apps, resp := listApps(t, s)
	if len(resp.Errors) > 0 {
		t.Fatalf("apps: %+v", resp.Errors)
	}
	for id, ep := range map[string]int{"epone": 1, "eptwo": 2} {
		a := apps[id]
		if a.Status != "ACTIVE" || a.EndpointID == nil || *a.EndpointID != ep || a.Endpoint == nil || a.Endpoint.ID != ep ||
			a.Endpoint.Name != want[ep].Name || a.Endpoint.AppCount != map[int]int{1: 2, 2: 1}[ep] || a.AppName == nil || *a.AppName != "whoami" ||
			len(a.Containers) != 1 || a.Containers[0].State != "running" || len(a.Containers[0].Ports) == 0 ||
			a.Containers[0].Ports[0].PublicPort == nil || *a.Containers[0].Ports[0].PublicPort != 9180 {
			t.Errorf("%s = %+v, want ACTIVE on endpoint %d with its container publishing 9180", id, a, ep)
		}
	}
	eps = endpointsOf(t, s)
	if eps[1].AppCount != 2 || eps[2].AppCount != 1 || eps[3].AppCount != 0 {
		t.Errorf("app counts %+v", eps)
	}

	// The agent goes down (behind appmanage's back: the lists are cached
	// for up to 2s, so poll until the listing sees it).
	sb.Portainer.SetEndpointStatus(2, 2)
	deadline := time.Now().Add(15 * time.Second)
	for {
		apps, resp = listApps(t, s)
		if len(resp.Errors) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(resp.Errors) != 1 {
		t.Fatalf("agent down: errors %+v, want exactly one", resp.Errors)
	}
	e := resp.Errors[0]
	if e.Extensions["code"] != "UPSTREAM_UNAVAILABLE" || e.Extensions["endpointId"] != float64(2) ||
		e.Extensions["upstream"] != "portainer" || !strings.Contains(e.Message, "endpoint 2 (agent) is down") {
		t.Errorf("agent down: error %+v", e)
	}
	if a := apps["epone"]; a.Status != "ACTIVE" || a.AppName == nil || *a.AppName != "whoami" || len(a.Containers) != 1 ||
		a.Endpoint == nil || a.Endpoint.Status != "UP" {
		t.Errorf("agent down: epone = %+v, want complete and ACTIVE", a)
	}
	if a := apps["eptwo"]; a.Status != "UNKNOWN" || a.EndpointID == nil || *a.EndpointID != 2 || a.Endpoint == nil ||
		a.Endpoint.Status != "DOWN" || a.Endpoint.Kind != "AGENT" {
		t.Errorf("agent down: eptwo = %+v, want UNKNOWN on the DOWN agent", a)
	}
	if eps = endpointsOf(t, s); eps[2].Status != "DOWN" || eps[2].AppCount != 1 {
		t.Errorf("agent down: endpoint 2 = %+v", eps[2])
	}
	// Installs on it are refused, naming it.
	_, resp = installOn(t, s, "whoami", "epfour", 2, nil)
	if resp.code() != "PRECONDITION_FAILED" || !strings.Contains(resp.Errors[0].Message, "endpoint 2 (agent) is down") {
		t.Errorf("install on the down agent: %+v", resp.Errors)
	}

	// It comes back: everything is ACTIVE again, no error.
	sb.Portainer.SetEndpointStatus(2, 1)
	deadline = time.Now().Add(15 * time.Second)
	for {
		apps, resp = listApps(t, s)
		if len(resp.Errors) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(resp.Errors) > 0 || apps["eptwo"].Status != "ACTIVE" {
		t.Errorf("agent up again: %+v %+v", apps["eptwo"], resp.Errors)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// Lifecycle, domains, upgrade, repair and uninstall of an app on endpoint 2
// act there: its containers come and go on the agent, and the local
// endpoint's app is never touched.
func TestLifecycleOnSecondEndpoint(t *testing.T) {
	s, sb := startSandbox(t, "--library-dir", upgradeLibraryDir(t))
	mustInstallOn(t, s, "twover", "bystander", 1, nil)
	mustInstallOn(t, s, "twover", "remote", 2, map[string]any{"domains": []string{"remote.example.com"}})
	local := sb.Portainer.Containers(1)
	check := func(step string, wantRunning bool) {
		t.Helper()
		if got := sb.Portainer.Containers(1); len(got) != len(local) || got[0].ID != local[0].ID || got[0].State != "running" {
			t.Errorf("%s: endpoint 1 changed: %+v", step, got)
		}
		var running bool
		for _, c := range sb.Portainer.Containers(2) {
			running = running || (c.Project() == "remote" && c.State == "running")
		}
		if running != wantRunning {
			t.Errorf("%s: remote running on endpoint 2 = %v, want %v (%+v)", step, running, wantRunning, sb.Portainer.Containers(2))
		}
	}
	check("installed", true)
	run := func(step, mutation string) {
		t.Helper()
		_, resp := s.gql(t, adminKey, mutation, nil)
		if len(resp.Errors) > 0 {
			t.Fatalf("%s: %+v", step, resp.Errors)
		}
		var out map[string]struct{ ID string }
		_ = json.Unmarshal(resp.Data, &out)
		for _, op := range out {
			if st := waitTerminal(t, s, op.ID); st != "SUCCEEDED" {
				_, r := s.gql(t, adminKey, `query($id: ID!) { operation(id: $id) { error } }`, map[string]any{"id": op.ID})
				t.Fatalf("%s: %s %s", step, st, r.Data)
			}
		}
	}
	run("stop", `mutation { stopApp(id: "remote") { id } }`)
	check("stopped", false)
	for _, st := range sb.Portainer.Stacks() {
		if st.Name == "remote" && (st.Status != 2 || st.EndpointID != 2) {
			t.Errorf("stopped stack = %+v", st)
		}
	}
	run("start", `mutation { startApp(id: "remote") { id } }`)
	check("started", true)
	run("restart", `mutation { restartApp(id: "remote") { id } }`)
	check("restarted", true)
	run("redeploy", `mutation { redeployApp(id: "remote") { id } }`)
	check("redeployed", true)
	run("add domain", `mutation { addAppDomains(id: "remote", domains: ["remote2.example.com"]) { id } }`)
	_, resp := s.gql(t, adminKey, `{ app(id: "remote") { endpointId domains proxies { forwardPort } } }`, nil)
	if len(resp.Errors) > 0 || !strings.Contains(string(resp.Data), `"remote2.example.com"`) || !strings.Contains(string(resp.Data), `"endpointId":2`) {
		t.Errorf("domains of remote: %s %+v", resp.Data, resp.Errors)
	}
	run("upgrade", `mutation { upgradeApp(id: "remote", version: "v1.11.0", healthTimeout: 20) { id } }`)
	check("upgraded", true)
	var image string
	for _, c := range sb.Portainer.Containers(2) {
		if c.Name == "remote" {
			image = c.Image
		}
	}
	if image != "traefik/whoami:v1.11.0" {
		t.Errorf("remote's image on endpoint 2 = %q, want traefik/whoami:v1.11.0", image)
	}
	// Its container is removed behind appmanage's back: repair recreates it
	// on endpoint 2.
	for _, c := range sb.Portainer.Containers(2) {
		if c.Project() == "remote" {
			sb.Portainer.RemoveContainer(2, c.ID)
		}
	}
	check("container removed", false)
	waitDrift(t, s, "remote")
	run("repair", `mutation { repairApp(id: "remote") { id } }`)
	check("repaired", true)
	run("uninstall", `mutation { uninstallApp(id: "remote") { id } }`)
	check("uninstalled", false)
	if got := projectsOn(sb, 2); len(got) != 0 {
		t.Errorf("endpoint 2 after uninstall runs %v", got)
	}
	for _, st := range sb.Portainer.Stacks() {
		if st.Name == "remote" {
			t.Errorf("stack left after uninstall: %+v", st)
		}
	}
	for _, h := range sb.NPM.Hosts() {
		if h.ForwardHost == "remote" {
			t.Errorf("proxy host left after uninstall: %+v", h)
		}
	}
}

// waitDrift waits until the listing (cached for up to 2s) sees that an
// app's containers are gone.
func waitDrift(t *testing.T, s *testServer, id string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		_, resp := s.gql(t, adminKey, `query($id: ID!) { app(id: $id) { status } }`, map[string]any{"id": id})
		if strings.Contains(string(resp.Data), `"ERROR"`) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("app %s never showed its missing container", id)
}

// migrateApp (moving an app to another endpoint) is deferred by the seed:
// it is refused with NOT_IMPLEMENTED, and nothing changes.
func TestMigrateAppNotImplemented(t *testing.T) {
	s, sb := startSandbox(t)
	mustInstallOn(t, s, "whoami", "mig", 1, nil)
	_, resp := s.gql(t, adminKey, `mutation { migrateApp(id: "mig", endpointId: 2) { id } }`, nil)
	if resp.code() != "NOT_IMPLEMENTED" || !strings.Contains(resp.Errors[0].Message, "moving apps between endpoints") ||
		!strings.Contains(resp.Errors[0].Message, "not built") {
		t.Fatalf("migrateApp: %+v", resp.Errors)
	}
	if got := projectsOn(sb, 1); !slices.Equal(got, []string{"mig"}) || len(projectsOn(sb, 2)) != 0 {
		t.Errorf("after migrateApp: endpoint 1 %v, endpoint 2 %v", got, projectsOn(sb, 2))
	}
	// A read key may not even ask.
	_, resp = s.gql(t, "", `mutation { migrateApp(id: "mig", endpointId: 2) { id } }`, nil)
	if resp.code() != "UNAUTHENTICATED" {
		t.Errorf("migrateApp without a key: %+v", resp.Errors)
	}
}

// The sandbox's Kubernetes endpoint takes the library's Kubernetes and Helm
// material beside a Docker endpoint's compose app, and `apps` lists all
// three with their endpoint; uninstall leaves no namespace behind.
func TestSandboxKubernetesEndpoint(t *testing.T) {
	s, sb := startSandbox(t)
	mustInstallOn(t, s, "whoami", "sbdock", 1, nil)
	mustInstallOn(t, s, "whoami", "sbkube", 3, nil)
	mustInstallOn(t, s, "podinfo", "sbhelm", 3, nil)
	var apps map[string]listedApp
	deadline := time.Now().Add(10 * time.Second)
	for {
		var resp gqlResponse
		apps, resp = listApps(t, s)
		ok := len(resp.Errors) == 0
		for id, kind := range map[string]string{"sbdock": "DOCKER", "sbkube": "KUBERNETES", "sbhelm": "KUBERNETES"} {
			a := apps[id]
			ok = ok && a.Status == "ACTIVE" && a.Endpoint != nil && a.Endpoint.Kind == kind
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("apps across a Docker and a Kubernetes endpoint: %+v %+v", apps, resp.Errors)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, id := range []string{"sbkube", "sbhelm", "sbdock"} {
		_, resp := s.gql(t, adminKey, `mutation($id: ID!) { uninstallApp(id: $id) { id } }`, map[string]any{"id": id})
		var out struct{ UninstallApp struct{ ID string } }
		if err := json.Unmarshal(resp.Data, &out); err != nil || out.UninstallApp.ID == "" {
			t.Fatalf("uninstall %s: %s %+v", id, resp.Data, resp.Errors)
		}
		if st := waitTerminal(t, s, out.UninstallApp.ID); st != "SUCCEEDED" {
			t.Fatalf("uninstall %s ended %s", id, st)
		}
	}
	if st := sb.Portainer.Stacks(); len(st) != 0 {
		t.Errorf("stacks left: %+v", st)
	}
	if ns := sb.Portainer.KubeNamespaces(3); len(ns) != 0 {
		t.Errorf("namespaces left on endpoint 3: %v", ns)
	}
	if rel := sb.Portainer.HelmReleases(3); len(rel) != 0 {
		t.Errorf("Helm releases left on endpoint 3: %v", rel)
	}
}
