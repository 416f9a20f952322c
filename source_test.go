package main

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"

	giteafake "github.com/appmanage/appmanage/datasources/gitea/fake"
	portainerfake "github.com/appmanage/appmanage/datasources/portainer/fake"
	npmfake "github.com/appmanage/appmanage/datasources/proxymanager/fake"
)

// The source the GraphQL tests import: an IP-literal host, so the gitUrl
// check resolves nothing (no test reaches a DNS server), served by the
// Gitea fake's migrate.
const (
	gqSourceURL   = "https://93.184.216.34/acme/hello.git"
	gqSourceToken = "glpat-GQL-SOURCE-TOKEN-0815"
)

type sourceFakes struct {
	g *giteafake.Server
	p *portainerfake.Server
	n *npmfake.Server
}

// calls counts every call the three fakes answered, by fake and route.
func (f sourceFakes) calls() map[string]int {
	out := map[string]int{}
	for name, inj := range map[string]interface{ AllCalls() map[string]int }{"gitea": f.g.Faults, "portainer": f.p.Faults, "npm": f.n.Faults} {
		for r, n := range inj.AllCalls() {
			out[name+" "+r] = n
		}
	}
	return out
}

func sourceServer(t *testing.T) (*testServer, sourceFakes) {
	t.Helper()
	f := sourceFakes{g: giteafake.New(giteafake.Options{}), p: portainerfake.New(portainerfake.Options{APIKeys: []string{"ptr_src"}}), n: npmfake.New(npmfake.Options{})}
	t.Cleanup(func() { f.g.Close(); f.p.Close(); f.n.Close() })
	f.g.AddRemote(gqSourceURL, giteafake.Remote{Username: "ci", Password: gqSourceToken, Files: map[string][]byte{
		"Dockerfile": []byte("FROM node:20-alpine\nCOPY . .\nCMD [\"node\", \"server.js\"]\n"), "server.js": []byte("// hello\n")}})
	s := startServer(t, "--gitea-url", f.g.URL(), "--gitea-token", f.g.Token(giteafake.AdminUser), "--gitea-owner", giteafake.AdminUser,
		"--portainer-url", f.p.URL(), "--portainer-api-key", "ptr_src", "--npm-url", f.n.URL(), "--npm-email", f.n.Email(), "--npm-password", f.n.Password())
	return s, f
}

const installFromSourceMutation = `mutation($in: InstallFromSourceInput!) { installFromSource(input: $in) { id kind appId status } }`

// TestInstallFromSourceRefusesHostileURLs: every hostile gitUrl is refused
// with VALIDATION_FAILED on gitUrl, and no upstream is called at all.
func TestInstallFromSourceRefusesHostileURLs(t *testing.T) {
	s, f := sourceServer(t)
	hostile := []string{
		"file:///etc/passwd",
		"ssh://git:hunter2@github.com/acme/hello.git",
		"git@github.com:acme/hello.git",
		"https://user:pass@93.184.216.34/acme/hello.git",
		"http://127.0.0.1/acme/hello.git",
		"http://localhost/acme/hello.git",
		"http://[::1]/acme/hello.git",
		"http://[::ffff:127.0.0.1]/acme/hello.git",
		"http://169.254.169.254/latest/meta-data",
		"http://[fe80::1]/acme/hello.git",
		"http://10.0.0.5/acme/hello.git",
		"http://172.16.3.4/acme/hello.git",
		"http://192.168.1.10/acme/hello.git",
		"http://100.64.0.1/acme/hello.git",
		"http://[fd12::1]/acme/hello.git",
		"http://0.0.0.0/acme/hello.git",
		"http://2130706433/acme/hello.git",
		"http://0177.0.0.1/acme/hello.git",
		"http://0x7f.1/acme/hello.git",
		"https://93.184.216.34/acme/hello.git\nX-Injected: 1",
		"https://93.184.216.34/acme/hello.git\r\n",
		"https://93.184.216.34/" + strings.Repeat("a", 3000),
		"",
		"https:///acme/hello.git",
		"javascript:alert(document.cookie)",
		"ftp://93.184.216.34/acme/hello.git",
		"https://93.184.216.34/acme/hello.git?upload-pack=touch+/tmp/x",
	}
	time.Sleep(500 * time.Millisecond) // start-up's own upstream calls are done
	before := f.calls()
	for _, raw := range hostile {
		_, resp := s.gql(t, adminKey, installFromSourceMutation, map[string]any{"in": map[string]any{
			"appId": "hostile", "gitUrl": raw, "port": 3000, "auth": map[string]any{"username": "ci", "token": gqSourceToken}}})
		if resp.code() != "VALIDATION_FAILED" || resp.Errors[0].Extensions["field"] != "gitUrl" {
			t.Errorf("%q: %+v, want VALIDATION_FAILED on gitUrl", raw, resp.Errors)
		}
		if len(resp.Errors) > 0 && strings.Contains(resp.Errors[0].Message, gqSourceToken) {
			t.Errorf("%q: the error shows the token", raw)
		}
	}
	if after := f.calls(); !maps.Equal(before, after) {
		t.Fatalf("hostile gitUrls reached an upstream: before %v, after %v", before, after)
	}
	if len(hostile) < 15 {
		t.Fatalf("only %d hostile values", len(hostile))
	}
}

// TestInstallFromSourceOverGraphQL: a private repository with a Dockerfile,
// imported with a token, ends SUCCEEDED with a stack whose compose builds
// it; the token is in no answer, event or audit row.
func TestInstallFromSourceOverGraphQL(t *testing.T) {
	s, f := sourceServer(t)
	_, resp := s.gql(t, adminKey, installFromSourceMutation, map[string]any{"in": map[string]any{
		"appId": "hello", "gitUrl": gqSourceURL, "port": 3000, "env": []map[string]any{{"name": "MODE", "value": "prod"}},
		"auth": map[string]any{"username": "ci", "token": gqSourceToken}}})
	if len(resp.Errors) > 0 {
		t.Fatalf("installFromSource: %+v", resp.Errors)
	}
	var out struct {
		InstallFromSource struct{ ID, Kind, AppID, Status string } `json:"installFromSource"`
	}
	_ = json.Unmarshal(resp.Data, &out)
	op := out.InstallFromSource
	if op.Kind != "installFromSource" || op.AppID != "hello" {
		t.Fatalf("operation: %+v", op)
	}
	var got struct {
		Operation struct {
			Status string
			Error  *string
			Steps  []struct{ Name, Status string }
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, resp := s.gql(t, adminKey, `query($id: ID!) { operation(id: $id) { status error steps { name status } } }`, map[string]any{"id": op.ID})
		_ = json.Unmarshal(resp.Data, &got)
		if st := got.Operation.Status; st != "QUEUED" && st != "RUNNING" && st != "ROLLING_BACK" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got.Operation.Status != "SUCCEEDED" {
		t.Fatalf("operation ended %s: %v", got.Operation.Status, got.Operation.Error)
	}
	var names []string
	for _, st := range got.Operation.Steps {
		names = append(names, st.Name)
	}
	if strings.Join(names, ",") != "import,material,webhook,stack,proxy" {
		t.Fatalf("steps: %v", names)
	}
	compose := string(f.g.Files(giteafake.AdminUser, "hello", "main")["docker-compose.yml"])
	if !strings.Contains(compose, "build:") || !strings.Contains(compose, "dockerfile: Dockerfile") {
		t.Fatalf("the stack's compose does not build the repository:\n%s", compose)
	}
	if sts := f.p.Stacks(); len(sts) != 1 || sts[0].Name != "hello" || sts[0].GitConfig == nil {
		t.Fatalf("stacks: %+v", sts)
	}
	if !f.p.HasImage(1, "hello-hello") {
		t.Fatalf("no built image: %v", f.p.Images(1))
	}
	_, resp = s.gql(t, adminKey, `query($id: ID!) { app(id: $id) { status } auditLog { nodes { mutation arguments } } }`, map[string]any{"id": "hello"})
	raw, _ := json.Marshal(resp)
	if strings.Contains(string(raw), gqSourceToken) {
		t.Fatalf("an answer shows the token: %s", raw)
	}
	if !strings.Contains(string(raw), "installFromSource") {
		t.Fatalf("the audit log has no installFromSource row: %s", raw)
	}
	if strings.Contains(s.logs.String(), gqSourceToken) {
		t.Fatal("the log shows the token")
	}
}
