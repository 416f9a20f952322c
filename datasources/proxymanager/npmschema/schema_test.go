package npmschema_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/appmanage/appmanage/datasources/proxymanager/npmschema"
)

// validHost is a proxy host as NPM 2.15.1 documents it.
func validHost() map[string]any {
	return map[string]any{
		"id": 3, "created_on": "2025-10-30T01:12:05.000Z", "modified_on": "2025-10-30T01:12:05.000Z",
		"owner_user_id": 1, "domain_names": []any{"test.example.com"}, "forward_host": "127.0.0.1",
		"forward_port": 8080, "access_list_id": 0, "certificate_id": 0, "ssl_forced": false,
		"caching_enabled": false, "block_exploits": false, "advanced_config": "", "meta": map[string]any{},
		"allow_websocket_upgrade": false, "http2_support": false, "forward_scheme": "http", "enabled": true,
		"locations": []any{}, "hsts_enabled": false, "hsts_subdomains": false, "trust_forwarded_proto": false,
		"certificate": nil,
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoadHasOurRoutes(t *testing.T) {
	s := npmschema.ForTest(t)
	for _, r := range []string{
		"GET /", "POST /tokens", "GET /tokens", "GET /nginx/proxy-hosts", "POST /nginx/proxy-hosts",
		"GET /nginx/proxy-hosts/{hostID}", "PUT /nginx/proxy-hosts/{hostID}", "DELETE /nginx/proxy-hosts/{hostID}",
		"POST /nginx/proxy-hosts/{hostID}/enable", "POST /nginx/proxy-hosts/{hostID}/disable", "GET /nginx/certificates",
	} {
		if !slices.Contains(s.Routes(), r) {
			t.Errorf("route %s missing from the dereferenced spec", r)
		}
	}
}

// A drifted field name or type must fail: this is what keeps the fake honest.
func TestProxyHostObjectDrift(t *testing.T) {
	s := npmschema.ForTest(t)
	if err := s.ValidateComponent("proxy-host-object", mustJSON(t, validHost())); err != nil {
		t.Fatalf("valid host rejected: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(m map[string]any)
	}{
		{"renamed field", func(m map[string]any) { m["forward_hostname"] = m["forward_host"]; delete(m, "forward_host") }},
		{"port as string", func(m map[string]any) { m["forward_port"] = "8080" }},
		{"bool as int", func(m map[string]any) { m["enabled"] = 1 }},
		{"missing trust_forwarded_proto", func(m map[string]any) { delete(m, "trust_forwarded_proto") }},
		{"bad domain", func(m map[string]any) { m["domain_names"] = []any{"a b.example.com"} }},
		{"unknown scheme", func(m map[string]any) { m["forward_scheme"] = "ftp" }},
		{"meta not object", func(m map[string]any) { m["meta"] = "x" }},
		{"certificate wrong shape", func(m map[string]any) { m["certificate"] = map[string]any{"id": 1} }},
		{"location extra key", func(m map[string]any) {
			m["locations"] = []any{map[string]any{"path": "/", "forward_scheme": "http", "forward_host": "a", "forward_port": 1, "x": 1}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validHost()
			tt.mutate(m)
			if err := s.ValidateComponent("proxy-host-object", mustJSON(t, m)); err == nil {
				t.Fatal("drifted host accepted")
			}
		})
	}
}

func TestRequestSchemas(t *testing.T) {
	s := npmschema.ForTest(t)
	okErr := []byte(`{"error":{"code":400,"message":"x"}}`)
	tests := []struct {
		name, method, path, body string
		ok                       bool
	}{
		{"create minimal", "POST", "/api/nginx/proxy-hosts", `{"domain_names":["a.example.com"],"forward_scheme":"http","forward_host":"app","forward_port":80}`, true},
		{"create new certificate", "POST", "/api/nginx/proxy-hosts", `{"domain_names":["a.example.com"],"forward_scheme":"http","forward_host":"app","forward_port":80,"certificate_id":"new"}`, true},
		{"create missing host", "POST", "/api/nginx/proxy-hosts", `{"domain_names":["a.example.com"],"forward_scheme":"http","forward_port":80}`, false},
		{"create extra key", "POST", "/api/nginx/proxy-hosts", `{"domain_names":["a.example.com"],"forward_scheme":"http","forward_host":"app","forward_port":80,"name":"x"}`, false},
		{"create port too big", "POST", "/api/nginx/proxy-hosts", `{"domain_names":["a.example.com"],"forward_scheme":"http","forward_host":"app","forward_port":70000}`, false},
		{"create bad certificate", "POST", "/api/nginx/proxy-hosts", `{"domain_names":["a.example.com"],"forward_scheme":"http","forward_host":"app","forward_port":80,"certificate_id":"old"}`, false},
		{"update partial", "PUT", "/api/nginx/proxy-hosts/4", `{"forward_port":81}`, true},
		{"update empty", "PUT", "/api/nginx/proxy-hosts/4", `{}`, false},
		{"login", "POST", "/api/tokens", `{"identity":"a@b.c","secret":"x"}`, true},
		{"login with expiry", "POST", "/api/tokens", `{"identity":"a@b.c","secret":"x","expiry":"1d"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// An error answer keeps the response side valid.
			err := s.Check(tt.method, tt.path, []byte(tt.body), 400, okErr)
			if tt.ok && err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if !tt.ok && err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestResponseRules(t *testing.T) {
	s := npmschema.ForTest(t)
	if err := s.Check("DELETE", "/api/nginx/proxy-hosts/1", nil, 200, []byte(`true`)); err != nil {
		t.Errorf("delete true: %v", err)
	}
	if err := s.Check("DELETE", "/api/nginx/proxy-hosts/1", nil, 200, []byte(`{"ok":true}`)); err == nil {
		t.Error("delete with an object body accepted")
	}
	if err := s.Check("DELETE", "/api/nginx/proxy-hosts/1", nil, 204, nil); err == nil {
		t.Error("undocumented success status accepted")
	}
	if err := s.Check("GET", "/api/nginx/proxy-hosts/1", nil, 404, []byte(`{"message":"Not Found"}`)); err == nil {
		t.Error("error body in a foreign shape accepted")
	}
	if err := s.Check("POST", "/api/tokens", []byte(`{"identity":"a@b.c","secret":"x"}`), 200,
		[]byte(`{"token":"t","expires":"2026-01-01T00:00:00.000Z"}`)); err != nil {
		t.Errorf("token: %v", err)
	}
	if err := s.Check("GET", "/api/", nil, 200, []byte(`{"status":"OK","version":{"major":2,"minor":15}}`)); err == nil {
		t.Error("health without revision accepted")
	}
	err := s.Check("GET", "/api/nginx/nothing", nil, 200, nil)
	if !errors.Is(err, npmschema.ErrNoRoute) {
		t.Errorf("unknown route: %v", err)
	}
	if n := s.Checked()["DELETE /nginx/proxy-hosts/{hostID}"]; n != 3 {
		t.Errorf("checked count = %d, want 3", n)
	}
}

func TestMiddlewareReportsDrift(t *testing.T) {
	s := npmschema.ForTest(t)
	var (
		mu   sync.Mutex
		errs []error
	)
	report := func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := validHost()
		m["forward_port"] = "8080" // drift
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(m)
	})
	srv := httptest.NewServer(s.Middleware(report)(h))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/nginx/proxy-hosts/3")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// Transport sees the same drift from the client side.
	c := &http.Client{Transport: s.Transport(report, nil)}
	resp, err = c.Get(srv.URL + "/api/nginx/proxy-hosts/3")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(errs) != 3 { // middleware twice, transport once
		t.Fatalf("got %d reports, want 3: %v", len(errs), errs)
	}
	for _, e := range errs {
		if !strings.Contains(e.Error(), "forward_port") {
			t.Errorf("report does not name the field: %v", e)
		}
	}
}

// A failure names the JSON path of the value and the keyword that failed,
// one line per failing field.
func TestViolationNamesPathAndKeyword(t *testing.T) {
	s := npmschema.ForTest(t)
	m := validHost()
	m["forward_port"] = "8080"
	delete(m, "enabled")
	err := s.Check("GET", "/api/nginx/proxy-hosts/3", nil, 200, mustJSON(t, m))
	if err == nil {
		t.Fatal("drifted host accepted")
	}
	for _, want := range []string{"/forward_port: type:", "want integer", "/: required:", "'enabled'"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "mem:///") || strings.Contains(err.Error(), "\n") {
		t.Errorf("error carries the schema URL or spans lines: %q", err)
	}
}

// NPM 2.15.1 answers "locations": null for a host created without
// locations (a nullable column without a default): every proxy-host
// answer accepts it, a request still may not send it.
func TestLocationsNullAsNPMAnswers(t *testing.T) {
	s := npmschema.ForTest(t)
	m := validHost()
	m["locations"] = nil
	b := mustJSON(t, m)
	req := []byte(`{"domain_names":["test.example.com"],"forward_scheme":"http","forward_host":"127.0.0.1","forward_port":8080}`)
	for _, c := range []struct {
		method, path string
		req          []byte
		status       int
		body         []byte
	}{
		{"POST", "/api/nginx/proxy-hosts", req, 201, b},
		{"GET", "/api/nginx/proxy-hosts/3", nil, 200, b},
		{"PUT", "/api/nginx/proxy-hosts/3", []byte(`{"forward_port":81}`), 200, b},
		{"GET", "/api/nginx/proxy-hosts", nil, 200, []byte("[" + string(b) + "]")},
	} {
		if err := s.Check(c.method, c.path, c.req, c.status, c.body); err != nil {
			t.Errorf("%s %s with locations null: %v", c.method, c.path, err)
		}
	}
	m["locations"] = "none"
	if err := s.Check("GET", "/api/nginx/proxy-hosts/3", nil, 200, mustJSON(t, m)); err == nil {
		t.Error("locations as a string accepted")
	}
	bad := []byte(`{"domain_names":["a.example.com"],"forward_scheme":"http","forward_host":"app","forward_port":80,"locations":null}`)
	if err := s.Check("POST", "/api/nginx/proxy-hosts", bad, 400, []byte(`{"error":{"code":400,"message":"x"}}`)); err == nil {
		t.Error("request with locations null accepted")
	}
}

// Against the fakes an answer field the schema does not declare fails;
// against a real server (ReportAdditions) it is reported and the check
// passes, while a missing or retyped field fails in both.
func TestAdditionsStrictOrReported(t *testing.T) {
	added := validHost()
	added["anubis_rules"] = []any{}
	added["owner"] = map[string]any{"id": 1, "created_on": "x", "modified_on": "x", "is_disabled": false,
		"email": "a@b.c", "name": "n", "nickname": "n", "avatar": "", "roles": []any{}}
	added["meta"] = map[string]any{"nginx_online": true, "anything": 1} // meta is free-form
	body := mustJSON(t, added)

	strict := npmschema.ForTest(t)
	err := strict.Check("GET", "/api/nginx/proxy-hosts/3", nil, 200, body)
	if err == nil || !strings.Contains(err.Error(), "/anubis_rules: field not in the schema") {
		t.Fatalf("strict: %v", err)
	}
	if strings.Contains(err.Error(), "meta") {
		t.Errorf("free-form meta walked into: %v", err)
	}

	var reported []error
	lenient := npmschema.ForTest(t).ReportAdditions(func(err error) { reported = append(reported, err) })
	if err := lenient.Check("GET", "/api/nginx/proxy-hosts/3", nil, 200, body); err != nil {
		t.Fatalf("real-server mode failed on an addition: %v", err)
	}
	if len(reported) != 1 || !strings.Contains(reported[0].Error(), "/anubis_rules") {
		t.Fatalf("addition not reported: %v", reported)
	}
	// A field added inside an object the schema closes (additionalProperties
	// false: user-object) is an addition too, reported, not failed.
	reported = nil
	closed := validHost()
	closed["owner"] = map[string]any{"id": 1, "created_on": "x", "modified_on": "x", "is_disabled": false,
		"email": "a@b.c", "name": "n", "nickname": "n", "avatar": "", "roles": []any{}, "is_deleted": false}
	if err := lenient.Check("GET", "/api/nginx/proxy-hosts/3", nil, 200, mustJSON(t, closed)); err != nil {
		t.Fatalf("real-server mode failed on an addition in a closed object: %v", err)
	}
	if len(reported) != 1 || !strings.Contains(reported[0].Error(), "/owner/is_deleted") {
		t.Fatalf("addition in a closed object not reported: %v", reported)
	}
	if err := strict.Check("GET", "/api/nginx/proxy-hosts/3", nil, 200, mustJSON(t, closed)); err == nil ||
		!strings.Contains(err.Error(), "/owner") {
		t.Fatalf("strict: addition in a closed object: %v", err)
	}
	retyped := validHost()
	retyped["enabled"] = 1
	delete(retyped, "hsts_enabled")
	err = lenient.Check("GET", "/api/nginx/proxy-hosts/3", nil, 200, mustJSON(t, retyped))
	if err == nil || !strings.Contains(err.Error(), "/enabled: type:") || !strings.Contains(err.Error(), "hsts_enabled") {
		t.Fatalf("real-server mode: retyped or missing field: %v", err)
	}
}
