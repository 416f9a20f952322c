package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/appmanage/appmanage/store"
)

type histCommit struct {
	Sha, Message string
	Deployed     bool
}

func histQuery(t *testing.T, s *testServer, id string) []histCommit {
	t.Helper()
	_, resp := s.gql(t, adminKey, `query($id: ID!) { app(id: $id) { history { nodes { sha message deployed } totalCount } } }`, map[string]any{"id": id})
	if len(resp.Errors) > 0 {
		t.Fatalf("history: %+v", resp.Errors)
	}
	var out struct {
		App struct {
			History struct {
				Nodes      []histCommit
				TotalCount int
			}
		}
	}
	_ = json.Unmarshal(resp.Data, &out)
	return out.App.History.Nodes
}

func histMutate(t *testing.T, s *testServer, query string, vars map[string]any) (string, gqlResponse) {
	t.Helper()
	_, resp := s.gql(t, adminKey, query, vars)
	var out map[string]struct{ ID string }
	_ = json.Unmarshal(resp.Data, &out)
	for _, v := range out {
		return v.ID, resp
	}
	return "", resp
}

// Acceptance 1-3 over GraphQL, and the /hooks/gitea route (acceptance 4) over
// HTTP, on the sandbox.
func TestHistoryRollbackFilesAndWebhookOverGraphQL(t *testing.T) {
	s := startServer(t, "--webhook-url", "http://127.0.0.1:9/hooks/gitea")
	aqInstall(t, s, []string{"histapp"}, func(int) int { return 9181 }, false)
	for _, v := range []string{"one", "two"} {
		op, resp := histMutate(t, s, `mutation($id: ID!, $v: String!) { updateAppEnv(id: $id, changes: [{name: "GREETING", value: $v}]) { id } }`,
			map[string]any{"id": "histapp", "v": v})
		if op == "" {
			t.Fatalf("updateAppEnv: %+v", resp.Errors)
		}
		if st := waitTerminal(t, s, op); st != "SUCCEEDED" {
			t.Fatalf("updateAppEnv: %s", st)
		}
	}
	h := histQuery(t, s, "histapp")
	if len(h) != 3 || !h[0].Deployed || h[1].Deployed || h[2].Deployed || !strings.HasPrefix(h[2].Message, "Install ") {
		t.Fatalf("history: %+v", h)
	}
	_, resp := s.gql(t, adminKey, `query($id: ID!, $f: String!, $t: String!) { app(id: $id) { diff(from: $f, to: $t) } }`,
		map[string]any{"id": "histapp", "f": h[2].Sha, "t": h[0].Sha})
	var d struct{ App struct{ Diff string } }
	_ = json.Unmarshal(resp.Data, &d)
	if len(resp.Errors) > 0 || !strings.Contains(d.App.Diff, "+GREETING=two") || !strings.Contains(d.App.Diff, "--- a/.env") {
		t.Fatalf("diff: %+v\n%s", resp.Errors, d.App.Diff)
	}

	op, resp := histMutate(t, s, `mutation($id: ID!, $c: String!) { rollbackApp(id: $id, commit: $c) { id } }`,
		map[string]any{"id": "histapp", "c": h[2].Sha})
	if op == "" {
		t.Fatalf("rollbackApp: %+v", resp.Errors)
	}
	if st := waitTerminal(t, s, op); st != "SUCCEEDED" {
		t.Fatalf("rollbackApp: %s", st)
	}
	h = histQuery(t, s, "histapp")
	if len(h) != 4 || !h[0].Deployed || !strings.Contains(h[0].Message, "API key: ") {
		t.Fatalf("history after rollback: %+v", h)
	}

	// updateAppFiles: refused before anything is written.
	for _, c := range []struct {
		name  string
		files []map[string]any
		want  string
	}{
		{"compose", []map[string]any{{"path": "docker-compose.yml", "content": "servics: {}\n"}}, "docker-compose.yml"},
		{"dot-dot", []map[string]any{{"path": "../x", "content": "x"}}, ".."},
	} {
		_, resp := histMutate(t, s, `mutation($id: ID!, $f: [FileChangeInput!]!) { updateAppFiles(id: $id, files: $f) { id } }`,
			map[string]any{"id": "histapp", "f": c.files})
		if resp.code() != "VALIDATION_FAILED" || !strings.Contains(resp.Errors[0].Message, c.want) {
			t.Errorf("%s: %+v", c.name, resp.Errors)
		}
	}
	if n := len(histQuery(t, s, "histapp")); n != 4 {
		t.Errorf("refused changes wrote commits: %d", n)
	}
	op, resp = histMutate(t, s, `mutation($id: ID!, $f: [FileChangeInput!]!) { updateAppFiles(id: $id, files: $f, message: "notes") { id } }`,
		map[string]any{"id": "histapp", "f": []map[string]any{{"path": "src/notes.txt", "content": "hi\n"}}})
	if op == "" {
		t.Fatalf("updateAppFiles: %+v", resp.Errors)
	}
	if st := waitTerminal(t, s, op); st != "SUCCEEDED" {
		t.Fatalf("updateAppFiles: %s", st)
	}
	if h := histQuery(t, s, "histapp"); len(h) != 5 || !strings.HasPrefix(h[0].Message, "notes") || !h[0].Deployed {
		t.Errorf("history after updateAppFiles: %+v", h)
	}

	// /hooks/gitea: the secret the install stored signs a delivery.
	db, err := store.Open(context.Background(), filepath.Join(s.DataDir, "appmanage.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	setting, err := db.GetSetting(context.Background(), "webhook:histapp")
	if err != nil {
		t.Fatal(err)
	}
	var rec struct{ Secret string }
	if err := json.Unmarshal([]byte(setting.Value), &rec); err != nil || rec.Secret == "" {
		t.Fatalf("webhook record: %v", err)
	}
	if strings.Contains(s.logs.String(), rec.Secret) {
		t.Error("the webhook secret appears in the log")
	}
	payload := func(repo string) []byte {
		b, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "before": h[0].Sha, "after": strings.Repeat("0", 40),
			"repository": map[string]any{"name": repo, "full_name": "admin/" + repo}})
		return b
	}
	post := func(body []byte, sig string) (int, map[string]string) {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/hooks/gitea", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Gitea-Event", "push")
		if sig != "" {
			req.Header.Set("X-Gitea-Signature", sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]string
		_ = json.Unmarshal(raw, &out)
		return resp.StatusCode, out
	}
	mac := func(secret string, b []byte) string {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(b)
		return hex.EncodeToString(m.Sum(nil))
	}
	body := payload("histapp")
	for _, c := range []struct {
		name   string
		body   []byte
		sig    string
		status int
	}{
		{"unsigned", body, "", 401},
		{"wrongly signed", body, mac("nope", body), 401},
		{"replayed for another repository", payload("otherapp"), mac(rec.Secret, body), 404},
	} {
		if status, out := post(c.body, c.sig); status != c.status || out["operationId"] != "" {
			t.Errorf("%s: %d %v, want %d and no operation", c.name, status, out, c.status)
		}
	}
	status, out := post(body, mac(rec.Secret, body))
	if status != http.StatusAccepted || out["operationId"] == "" {
		t.Fatalf("signed push: %d %v", status, out)
	}
	if st := waitTerminal(t, s, out["operationId"]); st != "SUCCEEDED" {
		t.Fatalf("redeploy from the webhook: %s", st)
	}
	_, resp = s.gql(t, adminKey, `query($id: ID!) { operation(id: $id) { kind appId } }`, map[string]any{"id": out["operationId"]})
	if !strings.Contains(string(resp.Data), `"kind":"redeploy"`) || !strings.Contains(string(resp.Data), `"appId":"histapp"`) {
		t.Errorf("webhook operation: %s", resp.Data)
	}
	// The audit log has the deliveries with their source: the redeploy
	// started, and the refusals with their codes.
	_, resp = s.gql(t, adminKey, `{ auditLog(filter: {mutation: "redeployApp"}) { nodes { source appId keyName operationId outcome } } }`, nil)
	var audit struct {
		AuditLog struct {
			Nodes []struct {
				Source, Outcome      string
				AppID, KeyName, OpID *string
			}
		}
	}
	_ = json.Unmarshal(resp.Data, &audit)
	if n := audit.AuditLog.Nodes; len(n) != 4 || n[0].Source != "webhook:gitea" || n[0].Outcome != out["operationId"] ||
		n[0].AppID == nil || *n[0].AppID != "histapp" || n[0].KeyName != nil || n[1].Outcome != "NOT_FOUND" || n[3].Outcome != "UNAUTHENTICATED" {
		t.Errorf("webhook audit rows: %s %+v", resp.Data, resp.Errors)
	}
}
