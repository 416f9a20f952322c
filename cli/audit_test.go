package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAuditFilter(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name                  string
		key, mut, app, since  string
		wantNil, wantUsageErr bool
		want                  map[string]any
	}{
		{name: "no flags", wantNil: true},
		{name: "key only", key: "console", want: map[string]any{"key": "console", "mutation": nil, "appId": nil, "since": nil}},
		{name: "all", key: "k1", mut: "installApp", app: "blog", since: "24h",
			want: map[string]any{"key": "k1", "mutation": "installApp", "appId": "blog", "since": "2026-12-02T10:00:00Z"}},
		{name: "RFC 3339 since in another zone", since: "2026-12-03T11:30:00+01:00",
			want: map[string]any{"key": nil, "mutation": nil, "appId": nil, "since": "2026-12-03T10:30:00Z"}},
		{name: "bad since", since: "yesterday", wantUsageErr: true},
		{name: "negative duration", since: "-1h", wantUsageErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := auditFilter(tc.key, tc.mut, tc.app, tc.since, now)
			if tc.wantUsageErr {
				var ee *exitError
				if err == nil || !asExit(err, &ee) || ee.code != exitUsage {
					t.Fatalf("err = %v, want a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantNil {
				if f != nil {
					t.Fatalf("filter %+v, want none", f)
				}
				return
			}
			b, _ := json.Marshal(f)
			var got map[string]any
			_ = json.Unmarshal(b, &got)
			wb, _ := json.Marshal(tc.want)
			gb, _ := json.Marshal(got)
			if string(wb) != string(gb) {
				t.Fatalf("filter sent as %s, want %s", gb, wb)
			}
		})
	}
}

func asExit(err error, ee **exitError) bool {
	e, ok := err.(*exitError)
	*ee = e
	return ok
}

// auditServer answers AuditLog with one row and keeps the variables.
type auditServer struct {
	mu   sync.Mutex
	op   string
	vars map[string]any
}

func (s *auditServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		OperationName string         `json:"operationName"`
		Variables     map[string]any `json:"variables"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	s.mu.Lock()
	s.op, s.vars = req.OperationName, req.Variables
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"data":{"auditLog":{"totalCount":3,"pageInfo":{"hasNextPage":true,"endCursor":"c1"},"nodes":[
	{"id":"1","at":"2026-12-03T10:00:00Z","keyId":"k1","keyName":"console","clientAddress":"127.0.0.1","source":"api",
	 "mutation":"installApp","appId":"blog","arguments":{"input":{"appName":"wordpress"}},"operationId":"op-1","errorCode":null,"outcome":"op-1"}]}}}`))
}

func TestAuditPrintsTheLog(t *testing.T) {
	srv := &auditServer{}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		opts := testOptions(&out, &errb)
		opts.Getenv = func(k string) string {
			return map[string]string{"APPMANAGE_SERVER": hs.URL, "APPMANAGE_API_KEY": "k"}[k]
		}
		return Execute(context.Background(), args, opts), out.String(), errb.String()
	}

	code, out, errs := run("audit", "--mutation", "installApp", "--app", "blog")
	if code != 0 {
		t.Fatalf("audit: exit %d %s", code, errs)
	}
	for _, want := range []string{"AT", "KEY", "MUTATION", "OUTCOME", "console", "installApp", "op-1", "127.0.0.1", `{"input":{"appName":"wordpress"}}`} {
		if !strings.Contains(out, want) {
			t.Errorf("audit table lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errs, "appmanage audit --after c1") {
		t.Errorf("no next-page hint: %s", errs)
	}
	srv.mu.Lock()
	op, vars := srv.op, srv.vars
	srv.mu.Unlock()
	f, _ := vars["filter"].(map[string]any)
	if op != "AuditLog" || f["mutation"] != "installApp" || f["appId"] != "blog" || f["key"] != nil || vars["first"] != float64(50) {
		t.Errorf("%s variables = %v", op, vars)
	}

	code, out, errs = run("audit", "--since", "24h", "--output", "json")
	var rows []struct {
		Mutation    string          `json:"mutation"`
		OperationId string          `json:"operationId"`
		Arguments   json.RawMessage `json:"arguments"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 1 || rows[0].Mutation != "installApp" ||
		rows[0].OperationId != "op-1" || !strings.Contains(string(rows[0].Arguments), "wordpress") {
		t.Fatalf("audit --output json: exit %d %s %s", code, out, errs)
	}
	srv.mu.Lock()
	f, _ = srv.vars["filter"].(map[string]any)
	srv.mu.Unlock()
	if s, _ := f["since"].(string); !strings.HasSuffix(s, "Z") {
		t.Errorf("since sent as %v", f["since"])
	}

	if code, _, _ := run("audit", "--since", "soon"); code != exitUsage {
		t.Errorf("audit --since soon: exit %d, want %d", code, exitUsage)
	}
}
