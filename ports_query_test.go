package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

type portsPlan struct {
	AppID         string
	EndpointID    int
	URL           string
	Settings      []struct{ Name, Value string }
	Ports         []portsPort
	WebPort       *int
	WebScheme     *string
	WebPortSource *string
}

type portsPort struct {
	HostPort      int
	ContainerPort int
	Protocol      string
	Service       string
	Setting       *string
	Source        string
	Default       *int
	DefaultHolder *string
}

const planQuery = `query($in: InstallAppInput!) { installPlan(input: $in) {
	appId endpointId url settings { name value } webPort webScheme webPortSource
	ports { hostPort containerPort protocol service setting source default defaultHolder } } }`

func planOf(t *testing.T, s *testServer, in map[string]any) (portsPlan, gqlResponse) {
	t.Helper()
	_, resp := s.gql(t, adminKey, planQuery, map[string]any{"in": in})
	var out struct{ InstallPlan portsPlan }
	if len(resp.Errors) == 0 {
		if err := json.Unmarshal(resp.Data, &out); err != nil {
			t.Fatal(err)
		}
	}
	return out.InstallPlan, resp
}

// installPlan proposes the ports an install would use, writing nothing;
// installApp then uses them, App.ports says which and how they were chosen,
// and a second install of the same app, given no port setting, is proposed
// and gets the next free port.
func TestInstallPlanAndAppPorts(t *testing.T) {
	s := startServer(t)
	plan, resp := planOf(t, s, map[string]any{"appName": "whoami", "appId": "who1", "domains": []string{"who1.example.com"}})
	if len(resp.Errors) > 0 {
		t.Fatalf("installPlan: %+v", resp.Errors)
	}
	if len(plan.Ports) != 1 || plan.Ports[0].HostPort != 9006 || plan.Ports[0].Source != "DEFAULT" ||
		plan.Ports[0].Setting == nil || *plan.Ports[0].Setting != "W9_HTTP_PORT_SET" || plan.Ports[0].ContainerPort != 80 {
		t.Fatalf("plan ports = %+v, want 9006 DEFAULT of W9_HTTP_PORT_SET -> 80", plan.Ports)
	}
	if plan.WebPort == nil || *plan.WebPort != 80 || plan.WebScheme == nil || *plan.WebScheme != "http" {
		t.Errorf("plan web port = %v %v, want http 80 (whoami's label)", plan.WebPort, plan.WebScheme)
	}
	// The plan wrote nothing: the same app id can be installed.
	op := installOp(t, s, "who1")
	if st := waitTerminal(t, s, op); st != "SUCCEEDED" {
		t.Fatalf("install who1: %s", st)
	}

	plan, resp = planOf(t, s, map[string]any{"appName": "whoami", "appId": "who2"})
	if len(resp.Errors) > 0 {
		t.Fatalf("installPlan who2: %+v", resp.Errors)
	}
	p := plan.Ports
	if len(p) != 1 || p[0].HostPort != 9007 || p[0].Source != "NEXT_FREE" || p[0].Default == nil || *p[0].Default != 9006 ||
		p[0].DefaultHolder == nil || *p[0].DefaultHolder != "container who1" {
		t.Fatalf("plan of who2 = %+v, want 9007 NEXT_FREE passing over 9006 held by container who1", p)
	}
	if plan.URL != "localhost:9007" && plan.URL[len(plan.URL)-5:] != ":9007" {
		t.Errorf("plan url = %q, want host:9007", plan.URL)
	}
	op = installOp(t, s, "who2")
	if st := waitTerminal(t, s, op); st != "SUCCEEDED" {
		t.Fatalf("install who2: %s", st)
	}

	_, resp = s.gql(t, adminKey, `{ a: app(id: "who1") { ports { hostPort setting source } }
		b: app(id: "who2") { ports { hostPort setting source default } env { name value } } }`, nil)
	if len(resp.Errors) > 0 {
		t.Fatalf("app ports: %+v", resp.Errors)
	}
	var apps struct {
		A struct{ Ports []portsPort }
		B struct {
			Ports []portsPort
			Env   []struct{ Name, Value string }
		}
	}
	if err := json.Unmarshal(resp.Data, &apps); err != nil {
		t.Fatal(err)
	}
	if len(apps.A.Ports) != 1 || apps.A.Ports[0].HostPort != 9006 || apps.A.Ports[0].Source != "DEFAULT" {
		t.Errorf("who1 ports = %+v", apps.A.Ports)
	}
	if len(apps.B.Ports) != 1 || apps.B.Ports[0].HostPort != 9007 || apps.B.Ports[0].Source != "NEXT_FREE" {
		t.Errorf("who2 ports = %+v", apps.B.Ports)
	}
	env := map[string]string{}
	for _, e := range apps.B.Env {
		env[e.Name] = e.Value
	}
	if env["W9_HTTP_PORT_SET"] != "9007" {
		t.Errorf("who2 env W9_HTTP_PORT_SET = %q, want 9007", env["W9_HTTP_PORT_SET"])
	}

	// A port the user asks for that is taken: the plan refuses as the install would.
	_, resp = planOf(t, s, map[string]any{"appName": "whoami", "appId": "who3",
		"settings": []map[string]any{{"name": "W9_HTTP_PORT_SET", "value": "9006"}}})
	if resp.code() != "PRECONDITION_FAILED" {
		t.Fatalf("plan with a taken port: %+v, want PRECONDITION_FAILED", resp.Errors)
	}
}

// writeLibrary writes synthetic Websoft9-format app folders (variables.json,
// .env, docker-compose.yml) for --library-dir.
func writeLibrary(t *testing.T, apps map[string][2]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, a := range apps {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		files := map[string]string{
			"variables.json": fmt.Sprintf(`{"name": %q, "release": true, "edition": [{"dist": "community", "version": ["1.0"]}]}`, name),
			".env":           "W9_REPO=traefik/whoami\nW9_VERSION='1.0'\nW9_ID='" + name + "'\nW9_NETWORK=websoft9\n" + a[0],
			"docker-compose.yml": "services:\n  " + name + ":\n    image: $W9_REPO:$W9_VERSION\n    container_name: $W9_ID\n    ports:\n" + a[1] +
				"networks:\n  default:\n    name: $W9_NETWORK\n    external: true\n",
		}
		for f, body := range files {
			if err := os.WriteFile(filepath.Join(d, f), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// Acceptance (issue 16, line 2) through the API of a sandbox server: five
// installApp mutations sent at once for apps that all default to host port
// 9001, with no port setting, all succeed on distinct ports, which
// App.ports and the containers report; an app whose compose file writes a
// port another app holds is refused with PRECONDITION_FAILED naming it,
// and no app of that id appears.
func TestSandboxInstallsShareNoPort(t *testing.T) {
	lib := map[string][2]string{}
	for _, n := range []string{"alpha", "bravo", "charlie"} {
		lib[n] = [2]string{"W9_HTTP_PORT=80\nW9_HTTP_PORT_SET='9001'\nW9_URL='internet_ip'\n", "      - $W9_HTTP_PORT_SET:80\n"}
	}
	lib["literal"] = [2]string{"W9_HTTP_PORT=80\nW9_HTTP_PORT_SET='9100'\nW9_URL=''\n", "      - $W9_HTTP_PORT_SET:80\n      - \"9001:8080\"\n"}
	s := startServer(t, "--library-dir", writeLibrary(t, lib))

	ids := []string{"a1", "b1", "c1", "a2", "b2"}
	names := []string{"alpha", "bravo", "charlie", "alpha", "bravo"}
	opIDs := make([]string, len(ids))
	errs := make([]string, len(ids))
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			_, resp := s.gql(t, adminKey, `mutation($in: InstallAppInput!) { installApp(input: $in) { id } }`,
				map[string]any{"in": map[string]any{"appName": names[i], "appId": ids[i]}})
			if len(resp.Errors) > 0 {
				errs[i] = resp.Errors[0].Message
				return
			}
			var out struct{ InstallApp struct{ ID string } }
			_ = json.Unmarshal(resp.Data, &out)
			opIDs[i] = out.InstallApp.ID
		})
	}
	wg.Wait()
	for i, e := range errs {
		if e != "" {
			t.Fatalf("installApp %s refused: %s", ids[i], e)
		}
	}
	for i, op := range opIDs {
		if st := waitTerminal(t, s, op); st != "SUCCEEDED" {
			t.Fatalf("install %s: %s", ids[i], st)
		}
	}
	_, resp := s.gql(t, adminKey, `{ apps { nodes { id ports { hostPort source } containers { ports { publicPort } } } } }`, nil)
	if len(resp.Errors) > 0 {
		t.Fatalf("apps: %+v", resp.Errors)
	}
	var list struct {
		Apps struct {
			Nodes []struct {
				ID         string
				Ports      []portsPort
				Containers []struct{ Ports []struct{ PublicPort int } }
			}
		}
	}
	if err := json.Unmarshal(resp.Data, &list); err != nil {
		t.Fatal(err)
	}
	seen := map[int]string{}
	for _, a := range list.Apps.Nodes {
		if len(a.Ports) != 1 || len(a.Containers) != 1 || len(a.Containers[0].Ports) == 0 || a.Containers[0].Ports[0].PublicPort != a.Ports[0].HostPort {
			t.Fatalf("app %s: ports %+v, containers %+v", a.ID, a.Ports, a.Containers)
		}
		p := a.Ports[0].HostPort
		if other, dup := seen[p]; dup {
			t.Fatalf("apps %s and %s both publish %d", other, a.ID, p)
		}
		seen[p] = a.ID
	}
	if len(seen) != 5 || seen[9001] == "" {
		t.Fatalf("ports = %v, want 5 distinct from 9001", seen)
	}

	_, resp = s.gql(t, adminKey, `mutation { installApp(input: {appName: "literal", appId: "lit"}) { id } }`, nil)
	if resp.code() != "PRECONDITION_FAILED" || !strings.Contains(resp.Errors[0].Message, "host port 9001/tcp (written in docker-compose.yml") {
		t.Fatalf("literal 9001: %+v, want PRECONDITION_FAILED naming host port 9001", resp.Errors)
	}
	_, resp = s.gql(t, adminKey, `{ app(id: "lit") { id } }`, nil)
	if string(resp.Data) != `{"app":null}` {
		t.Fatalf("the refused install left an app: %s", resp.Data)
	}
}
