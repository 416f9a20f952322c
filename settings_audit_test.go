package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	giteafake "github.com/appmanage/appmanage/datasources/gitea/fake"
)

// session records every response body of a test's GraphQL calls, so the
// test can look for secrets in all of them.
type session struct {
	s      *testServer
	mu     sync.Mutex
	bodies []string
}

func (ss *session) do(t *testing.T, key, query string, vars map[string]any) gqlResponse {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, ss.s.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /graphql: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	ss.mu.Lock()
	ss.bodies = append(ss.bodies, string(raw))
	ss.mu.Unlock()
	var out gqlResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return out
}

func (ss *session) createKey(t *testing.T, name, scope string) string {
	t.Helper()
	resp := ss.do(t, adminKey, `mutation($n: String!, $s: String!) { createApiKey(name: $n, scope: $s) { key } }`, map[string]any{"n": name, "s": scope})
	var out struct {
		CreateAPIKey struct{ Key string } `json:"createApiKey"`
	}
	_ = json.Unmarshal(resp.Data, &out)
	if out.CreateAPIKey.Key == "" {
		t.Fatalf("createApiKey %s: %+v", name, resp.Errors)
	}
	return out.CreateAPIKey.Key
}

func (ss *session) install(t *testing.T, key, appID string) (string, gqlResponse) {
	t.Helper()
	resp := ss.do(t, key, `mutation($in: InstallAppInput!) { installApp(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"appName": "whoami", "appId": appID}})
	var out struct{ InstallApp struct{ ID string } }
	_ = json.Unmarshal(resp.Data, &out)
	return out.InstallApp.ID, resp
}

func (ss *session) installOK(t *testing.T, key, appID string) string {
	t.Helper()
	id, resp := ss.install(t, key, appID)
	if id == "" {
		t.Fatalf("installApp %s: %+v", appID, resp.Errors)
	}
	if st := waitTerminal(t, ss.s, id); st != "SUCCEEDED" {
		t.Fatalf("install %s ended %s", appID, st)
	}
	return id
}

// startWithOwnGitea runs the server with a Gitea fake the test holds (to
// add and revoke tokens) and the sandbox's Portainer and NPM.
func startWithOwnGitea(t *testing.T) (*testServer, *giteafake.Server) {
	t.Helper()
	g := giteafake.New(giteafake.Options{})
	t.Cleanup(g.Close)
	s := startServer(t, "--sandbox=portainer,npm", "--gitea-url", g.URL(), "--gitea-token", g.Token(giteafake.AdminUser),
		"--gitea-owner", giteafake.AdminUser)
	return s, g
}

// Acceptance 1 and 2 of issue 12: a wrong Gitea token is refused and the
// old one keeps working; a right one applies without a restart and the
// next install uses it; no response, log line or database byte shows a
// secret.
func TestGiteaTokenSettingOverGraphQL(t *testing.T) {
	s, g := startWithOwnGitea(t)
	ss := &session{s: s}
	oldToken := g.Token(giteafake.AdminUser)
	wrong := "feedfacefeedfacefeedfacefeedfacefeedface"

	resp := ss.do(t, adminKey, `mutation($v: String!) { updateSettings(input: [{key: "giteaToken", value: $v}]) { key } }`, map[string]any{"v": wrong})
	if resp.code() != "UPSTREAM_REJECTED" || resp.Errors[0].Extensions["upstream"] != "gitea" {
		t.Fatalf("wrong token: %+v", resp.Errors)
	}
	resp = ss.do(t, adminKey, `mutation($v: String!) { testUpstream(name: "gitea", input: [{key: "giteaToken", value: $v}]) { ok code message } }`, map[string]any{"v": wrong})
	if !strings.Contains(string(resp.Data), `"ok":false`) || !strings.Contains(string(resp.Data), "UPSTREAM_REJECTED") {
		t.Fatalf("testUpstream wrong token: %s %+v", resp.Data, resp.Errors)
	}
	ss.installOK(t, adminKey, "oldtok")

	newToken := g.AddToken(giteafake.AdminUser)
	resp = ss.do(t, adminKey, `mutation($v: String!) { testUpstream(name: "gitea", input: [{key: "giteaToken", value: $v}]) { ok version checks } }`, map[string]any{"v": newToken})
	if !strings.Contains(string(resp.Data), `"ok":true`) {
		t.Fatalf("testUpstream right token: %s %+v", resp.Data, resp.Errors)
	}
	resp = ss.do(t, adminKey, `mutation($v: String!) { updateSettings(input: [{key: "giteaToken", value: $v}]) { key value secret updatedAt } }`, map[string]any{"v": newToken})
	if len(resp.Errors) > 0 || !strings.Contains(string(resp.Data), `{"key":"giteaToken","value":null,"secret":true,"updatedAt":"`) {
		t.Fatalf("right token: %s %+v", resp.Data, resp.Errors)
	}
	// Only the new token works from now on: the next install proves it is
	// the one in use.
	g.RevokeToken(oldToken)
	ss.installOK(t, adminKey, "newtok")
	resp = ss.do(t, adminKey, `{ settings { key value secret } auditLog { nodes { mutation arguments outcome } } health { upstreams { name up } } }`, nil)
	if len(resp.Errors) > 0 || !strings.Contains(string(resp.Data), `{"name":"gitea","up":true}`) {
		t.Fatalf("settings, audit, health: %s %+v", resp.Data, resp.Errors)
	}

	secrets := []string{oldToken, wrong, newToken}
	logs := s.logs.String()
	for _, sec := range secrets {
		if strings.Contains(logs, sec) {
			t.Errorf("a secret (%.6s…) is in the log", sec)
		}
		for _, b := range ss.bodies {
			if strings.Contains(b, sec) {
				t.Errorf("a secret (%.6s…) is in a response: %s", sec, b)
			}
		}
	}
	// Acceptance 2: the database files (WAL and shared memory included)
	// do not hold the stored token in plain text.
	var raw []byte
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(filepath.Join(s.DataDir, "appmanage.db") + suffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		raw = append(raw, b...)
	}
	if len(raw) == 0 || !bytes.Contains(raw, []byte("giteaToken")) {
		t.Fatalf("read %d bytes without the setting's key: wrong file?", len(raw))
	}
	if bytes.Contains(raw, []byte(newToken)) {
		t.Error("the stored Gitea token is readable in the database files")
	}
	if st, err := os.Stat(filepath.Join(s.DataDir, "settings.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("settings.key: %v %v", st, err)
	}
}

// Acceptance 3 of issue 12.
func TestAuditLogRows(t *testing.T) {
	s, g := startWithOwnGitea(t)
	ss := &session{s: s}
	deployer := ss.createKey(t, "deployer", "write")
	viewer := ss.createKey(t, "viewer", "read")
	time.Sleep(5 * time.Millisecond) // the key rows are older than since
	since := time.Now().UTC().Format(time.RFC3339Nano)
	time.Sleep(5 * time.Millisecond)

	opID := ss.installOK(t, deployer, "audited")
	if _, resp := ss.install(t, deployer, "Not_Valid"); resp.code() != "VALIDATION_FAILED" {
		t.Fatalf("invalid install: %+v", resp.Errors)
	}
	if _, resp := ss.install(t, viewer, "byviewer"); resp.code() != "FORBIDDEN" {
		t.Fatalf("read key install: %+v", resp.Errors)
	}
	secret := g.AddToken(giteafake.AdminUser)
	resp := ss.do(t, adminKey, `mutation($v: String!) { updateSettings(input: [{key: "publicHost", value: "apps.example.net"}, {key: "giteaToken", value: $v}]) { key } }`,
		map[string]any{"v": secret})
	if len(resp.Errors) > 0 {
		t.Fatalf("settings change: %+v", resp.Errors)
	}

	resp = ss.do(t, adminKey, `query($since: Time) { auditLog(filter: {since: $since}) { totalCount
		nodes { at keyName keyId clientAddress source mutation appId arguments operationId errorCode outcome } } }`, map[string]any{"since": since})
	if len(resp.Errors) > 0 {
		t.Fatalf("auditLog: %+v", resp.Errors)
	}
	var out struct {
		AuditLog struct {
			TotalCount int
			Nodes      []struct {
				KeyName, KeyID, ClientAddress, Source, Mutation, Outcome string
				AppID, OperationID, ErrorCode                            *string
				Arguments                                                map[string]any
			}
		}
	}
	if err := json.Unmarshal(resp.Data, &out); err != nil {
		t.Fatal(err)
	}
	rows := out.AuditLog.Nodes
	if out.AuditLog.TotalCount != 4 || len(rows) != 4 {
		t.Fatalf("want 4 rows since %s, got %d: %s", since, out.AuditLog.TotalCount, resp.Data)
	}
	// Newest first.
	want := []struct{ key, mutation, outcome, app string }{
		{"APPMANAGE_ADMIN_API_KEY", "updateSettings", "OK", ""},
		{"viewer", "installApp", "FORBIDDEN", "byviewer"},
		{"deployer", "installApp", "VALIDATION_FAILED", "Not_Valid"},
		{"deployer", "installApp", opID, "audited"},
	}
	for i, w := range want {
		r := rows[i]
		if r.KeyName != w.key || r.KeyID == "" || r.Mutation != w.mutation || r.Outcome != w.outcome ||
			r.Source != "api" || r.ClientAddress != "127.0.0.1" || (w.app != "" && (r.AppID == nil || *r.AppID != w.app)) {
			t.Errorf("row %d = %+v, want %+v", i, r, w)
		}
	}
	if rows[3].OperationID == nil || *rows[3].OperationID != opID || rows[3].ErrorCode != nil {
		t.Errorf("install row: %+v", rows[3])
	}
	args, _ := json.Marshal(rows[0].Arguments)
	if strings.Contains(string(args), secret) || !strings.Contains(string(args), `"[redacted]"`) || !strings.Contains(string(args), "apps.example.net") {
		t.Errorf("settings row arguments: %s", args)
	}
	for _, b := range ss.bodies {
		if strings.Contains(b, secret) {
			t.Errorf("the secret is in a response: %s", b)
		}
	}
	if strings.Contains(s.logs.String(), secret) {
		t.Error("the secret is in the log")
	}
	// A mutation refused for want of a key is a row too (no key, no
	// arguments kept).
	if resp := ss.do(t, "", `mutation { stopApp(id: "audited") { id } }`, nil); resp.code() != "UNAUTHENTICATED" {
		t.Fatalf("no key: %+v", resp.Errors)
	}
	resp = ss.do(t, adminKey, `{ auditLog(first: 1) { totalCount nodes { keyName mutation errorCode clientAddress } pageInfo { hasNextPage } } }`, nil)
	if !strings.Contains(string(resp.Data), `"nodes":[{"keyName":null,"mutation":"stopApp","errorCode":"UNAUTHENTICATED","clientAddress":"127.0.0.1"}],"pageInfo":{"hasNextPage":true}`) {
		t.Errorf("unauthenticated row: %s %+v", resp.Data, resp.Errors)
	}
	// Only admin keys read the audit log.
	if resp := ss.do(t, deployer, `{ auditLog { totalCount } }`, nil); resp.code() != "FORBIDDEN" {
		t.Errorf("write key reading the audit log: %+v", resp.Errors)
	}
}
