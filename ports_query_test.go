package main

import (
	"encoding/json"
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
