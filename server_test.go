package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const adminKey = "test-admin-key-0123456789abcdef"

// testServer runs the real binary's code path (run "serve") in-process on a
// loopback port, in sandbox mode.
type testServer struct {
	URL     string
	DataDir string
	logs    *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startServer(t testing.TB, extraArgs ...string) *testServer {
	t.Helper()
	return startServerIn(t, context.Background(), extraArgs...)
}

// startServerIn is startServer with a base context (which may carry a
// sandboxHookKey hook).
func startServerIn(t testing.TB, base context.Context, extraArgs ...string) *testServer {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(base)
	addrc := make(chan net.Addr, 1)
	done := make(chan int, 1)
	logs := &syncBuffer{}
	env := map[string]string{"APPMANAGE_ADMIN_API_KEY": adminKey}
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dir, "--log-level", "debug"}, extraArgs...)
	go func() {
		done <- run(ctx, args, io.Discard, logs, func(k string) string { return env[k] }, func(a net.Addr) { addrc <- a })
	}()
	select {
	case a := <-addrc:
		t.Cleanup(func() {
			cancel()
			select {
			case code := <-done:
				if code != 0 {
					t.Errorf("serve exited %d; log:\n%s", code, logs.String())
				}
			case <-time.After(30 * time.Second):
				t.Error("serve did not stop within 30s of cancel")
			}
			// Logged at debug level, the whole run must not show the key.
			if strings.Contains(logs.String(), adminKey) {
				t.Errorf("the admin API key appears in the log:\n%s", logs.String())
			}
		})
		return &testServer{URL: "http://" + a.String(), DataDir: dir, logs: logs}
	case code := <-done:
		cancel()
		t.Fatalf("serve exited %d before listening; log:\n%s", code, logs.String())
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("serve did not listen within 60s; log:\n%s", logs.String())
	}
	return nil
}

type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func (r gqlResponse) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

func (s *testServer) gql(t testing.TB, key, query string, vars map[string]any) (int, gqlResponse) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /graphql: %v", err)
	}
	defer resp.Body.Close()
	var out gqlResponse
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return resp.StatusCode, out
}

func TestHealthzReadyzMetrics(t *testing.T) {
	s := startServer(t)
	// /metrics last: it shows the counters of the requests before it.
	for _, c := range []struct{ path, want string }{
		{"/healthz", "ok"},
		{"/readyz", `"sandbox":["gitea","portainer","npm"]`},
		{"/metrics", `appmanage_http_requests_total{method="GET",route="/healthz",status="200"} 1`},
	} {
		path, want := c.path, c.want
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s = %d %s; want 200 containing %s", path, resp.StatusCode, b, want)
		}
	}
	if !strings.Contains(s.logs.String(), "SANDBOX MODE") {
		t.Error("sandbox mode is not announced in the log")
	}
}

func TestIntrospectionNeedsKeyAndHasTheContractNames(t *testing.T) {
	s := startServer(t)
	const q = `{ __schema {
		queryType { fields { name args { name } } }
		mutationType { fields { name args { name } } }
		subscriptionType { fields { name args { name } } }
		types { name fields { name } inputFields { name } enumValues { name } } } }`
	status, _ := s.gql(t, "", q, nil)
	if status != http.StatusUnauthorized {
		t.Fatalf("introspection without a key: HTTP %d, want 401", status)
	}
	status, resp := s.gql(t, adminKey, q, nil)
	if status != 200 || len(resp.Errors) > 0 {
		t.Fatalf("introspection with a key: HTTP %d, errors %v", status, resp.Errors)
	}
	var schema struct {
		Schema struct {
			QueryType, MutationType, SubscriptionType struct {
				Fields []struct {
					Name string
					Args []struct{ Name string }
				}
			}
			Types []struct {
				Name        string
				Fields      []struct{ Name string }
				InputFields []struct{ Name string }
				EnumValues  []struct{ Name string }
			}
		} `json:"__schema"`
	}
	if err := json.Unmarshal(resp.Data, &schema); err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	addFields := func(prefix string, fields []struct {
		Name string
		Args []struct{ Name string }
	}) {
		for _, f := range fields {
			have[prefix+"."+f.Name] = true
			for _, a := range f.Args {
				have[prefix+"."+f.Name+"("+a.Name+")"] = true
			}
		}
	}
	addFields("Query", schema.Schema.QueryType.Fields)
	addFields("Mutation", schema.Schema.MutationType.Fields)
	addFields("Subscription", schema.Schema.SubscriptionType.Fields)
	for _, ty := range schema.Schema.Types {
		have[ty.Name] = true
		for _, f := range ty.Fields {
			have[ty.Name+"."+f.Name] = true
		}
		for _, f := range ty.InputFields {
			have[ty.Name+"."+f.Name] = true
		}
		for _, v := range ty.EnumValues {
			have[ty.Name+"."+v.Name] = true
		}
	}
	// Every name DESIGN.md §7 lists.
	want := []string{
		"Query.apps(first)", "Query.apps(after)", "Query.apps(filter)", "Query.app(id)", "Query.catalog(search)",
		"Query.catalog(category)", "Query.operation(id)", "Query.health",
		"AppConnection.nodes", "AppConnection.edges", "AppConnection.pageInfo", "AppConnection.totalCount",
		"Mutation.installApp(input)", "InstallAppInput.appName", "InstallAppInput.appId", "InstallAppInput.domains",
		"InstallAppInput.defaultDomain", "InstallAppInput.version", "InstallAppInput.settings", "InstallAppInput.endpointId",
		"InstallAppInput.idempotencyKey", "EnvVarInput",
		"Mutation.uninstallApp(id)", "Mutation.uninstallApp(purgeData)", "Mutation.startApp(id)", "Mutation.stopApp(id)",
		"Mutation.restartApp(id)", "Mutation.redeployApp(id)", "Mutation.redeployApp(pullImages)", "Mutation.cancelOperation(id)",
		"Subscription.operationEvents(id)", "Subscription.operationEvents(afterSeq)",
		"Operation.id", "Operation.kind", "Operation.appId", "Operation.status", "Operation.progress", "Operation.steps",
		"Operation.error", "Operation.createdAt", "Operation.finishedAt", "OperationStep.name", "OperationStep.status", "OperationStep.error",
		"OperationStatus.QUEUED", "OperationStatus.RUNNING", "OperationStatus.SUCCEEDED", "OperationStatus.FAILED",
		"OperationStatus.ROLLING_BACK", "OperationStatus.ROLLED_BACK", "OperationStatus.CANCELLED",
		"OperationEvent.seq", "OperationEvent.operationId", "OperationEvent.at", "OperationEvent.step", "OperationEvent.status",
		"OperationEvent.progress", "OperationEvent.message",
		"App.id", "App.appName", "App.status", "App.endpointId", "App.version", "App.domains", "App.defaultDomain", "App.env",
		"App.variables", "App.repository", "App.proxies", "App.containers", "App.stack", "App.official", "App.createdAt",
		"EnvVar.name", "EnvVar.value", "Repository.url", "Repository.cloneUrl", "Repository.htmlUrl",
		"Proxy.id", "Proxy.domains", "Proxy.forwardPort", "Proxy.enabled",
		"AppStatus.INSTALLING", "AppStatus.ACTIVE", "AppStatus.INACTIVE", "AppStatus.ERROR", "AppStatus.UNINSTALLING", "AppStatus.UNKNOWN",
		"CatalogApp", "Health",
	}
	for _, w := range want {
		if !have[w] {
			t.Errorf("schema lacks %s", w)
		}
	}
}

func TestReadKeyCannotInstall(t *testing.T) {
	s := startServer(t)
	_, resp := s.gql(t, adminKey, `mutation { createApiKey(name: "viewer", scope: "read") { key apiKey { scope } } }`, nil)
	if len(resp.Errors) > 0 {
		t.Fatalf("createApiKey: %v", resp.Errors)
	}
	var created struct {
		CreateAPIKey struct{ Key string } `json:"createApiKey"`
	}
	_ = json.Unmarshal(resp.Data, &created)
	readKey := created.CreateAPIKey.Key
	if readKey == "" {
		t.Fatal("no key returned")
	}
	status, resp := s.gql(t, readKey, `mutation { installApp(input: {appName: "whoami", appId: "who"}) { id } }`, nil)
	if status != 200 || resp.code() != "FORBIDDEN" {
		t.Fatalf("read key installApp: HTTP %d, %+v; want FORBIDDEN", status, resp.Errors)
	}
	if _, resp := s.gql(t, readKey, `{ health { status } }`, nil); len(resp.Errors) > 0 {
		t.Fatalf("read key cannot query: %v", resp.Errors)
	}
	if _, resp := s.gql(t, "am_not-a-real-key", `{ health { status } }`, nil); resp.code() != "UNAUTHENTICATED" {
		t.Fatalf("bad key: %+v, want UNAUTHENTICATED", resp.Errors)
	}
}

func TestHealthInSandbox(t *testing.T) {
	s := startServer(t, "--sandbox")
	_, resp := s.gql(t, adminKey, `{ health { status sandbox upstreams { name sandbox up version latencyMs } } }`, nil)
	if len(resp.Errors) > 0 {
		t.Fatal(resp.Errors)
	}
	var h struct {
		Health struct {
			Status    string
			Sandbox   bool
			Upstreams []struct {
				Name    string
				Sandbox bool
				Up      bool
				Version string
			}
		}
	}
	_ = json.Unmarshal(resp.Data, &h)
	if h.Health.Status != "OK" || !h.Health.Sandbox || len(h.Health.Upstreams) != 3 {
		t.Fatalf("health = %+v", h.Health)
	}
	for _, u := range h.Health.Upstreams {
		if !u.Sandbox || !u.Up || u.Version == "" {
			t.Errorf("upstream %+v: want sandbox, up, with a version", u)
		}
	}
}

func TestCatalogEmbeddedAndExternal(t *testing.T) {
	s := startServer(t)
	_, resp := s.gql(t, adminKey, `{ catalog { name trademark versions categories defaultVersion } }`, nil)
	var c struct {
		Catalog []struct {
			Name, Trademark, DefaultVersion string
			Versions, Categories            []string
		}
	}
	if err := json.Unmarshal(resp.Data, &c); err != nil || len(resp.Errors) > 0 {
		t.Fatalf("%v %v", err, resp.Errors)
	}
	names := map[string]bool{}
	for _, a := range c.Catalog {
		names[a.Name] = true
		if a.Trademark == "" || len(a.Versions) == 0 || a.DefaultVersion == "" {
			t.Errorf("catalog app %+v lacks trademark, versions or default version", a)
		}
	}
	if len(c.Catalog) < 6 || !names["wordpress"] {
		t.Fatalf("embedded catalog = %v, want >= 6 apps including wordpress", names)
	}
	_, resp = s.gql(t, adminKey, `{ catalog(search: "press") { name } }`, nil)
	if !strings.Contains(string(resp.Data), "wordpress") {
		t.Errorf("search press: %s", resp.Data)
	}

	samples, err := filepath.Abs("../shared/library-samples")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(samples); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("no %s: %v", samples, err)
		}
		t.Fatalf("no %s: %v", samples, err)
	}
	ext := startServer(t, "--library-dir", samples)
	_, resp = ext.gql(t, adminKey, `{ catalog { name } }`, nil)
	got := map[string]bool{}
	var c2 struct{ Catalog []struct{ Name string } }
	_ = json.Unmarshal(resp.Data, &c2)
	for _, a := range c2.Catalog {
		got[a.Name] = true
	}
	if len(got) != 3 || !got["wordpress"] || !got["duplicati"] || !got["kasmweb"] {
		t.Fatalf("external catalog = %v, want wordpress, duplicati, kasmweb", got)
	}
}

func TestRequestLimits(t *testing.T) {
	s := startServer(t)
	// Over the 1 MiB body limit.
	big := `{"query":"{ health { status } }","variables":{"pad":"` + strings.Repeat("x", 2<<20) + `"}}`
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/graphql", strings.NewReader(big))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == 200 && !strings.Contains(string(b), "errors") {
		t.Fatalf("a 2 MiB body was accepted: %d %s", resp.StatusCode, b)
	}
	// A realistic nested query passes the depth limit.
	q := "{ apps { nodes { lastOperation { steps { name } } } edges { node { containers { ports { type } } } } } }"
	_, gr := s.gql(t, adminKey, q, nil)
	if gr.code() == "DEPTH_LIMIT_EXCEEDED" {
		t.Fatalf("a 5-level query was refused: %+v", gr.Errors)
	}
	// Too complex: a list field asked for 800 times through aliases.
	var sb strings.Builder
	sb.WriteString("{")
	for i := range 800 {
		fmt.Fprintf(&sb, " a%d: catalog { name versions }", i)
	}
	sb.WriteString(" }")
	_, gr = s.gql(t, adminKey, sb.String(), nil)
	if gr.code() != "COMPLEXITY_LIMIT_EXCEEDED" {
		t.Fatalf("800 aliased catalog lists: %+v, want COMPLEXITY_LIMIT_EXCEEDED", gr.Errors)
	}
}

func TestSettingsAreAdminOnlyAndValidated(t *testing.T) {
	s := startServer(t)
	_, resp := s.gql(t, adminKey, `mutation { updateSettings(input: [{key: "publicHost", value: "apps.example.net"}]) { key value } }`, nil)
	if len(resp.Errors) > 0 || !strings.Contains(string(resp.Data), "apps.example.net") {
		t.Fatalf("updateSettings: %s %+v", resp.Data, resp.Errors)
	}
	for _, bad := range []string{`{key: "nope", value: "x"}`, `{key: "defaultEndpointId", value: "-1"}`, `{key: "publicHost", value: "a b"}`} {
		_, resp = s.gql(t, adminKey, `mutation { updateSettings(input: [`+bad+`]) { key } }`, nil)
		if resp.code() != "VALIDATION_FAILED" {
			t.Errorf("%s: %+v, want VALIDATION_FAILED", bad, resp.Errors)
		}
	}
	_, resp = s.gql(t, adminKey, `mutation { createApiKey(name: "ops", scope: "write") { key } }`, nil)
	var created struct {
		CreateAPIKey struct{ Key string } `json:"createApiKey"`
	}
	_ = json.Unmarshal(resp.Data, &created)
	_, resp = s.gql(t, created.CreateAPIKey.Key, `{ settings { key } }`, nil)
	if resp.code() != "FORBIDDEN" {
		t.Fatalf("write key reading settings: %+v, want FORBIDDEN", resp.Errors)
	}
}
