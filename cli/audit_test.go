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

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// A schema with the audit log the issue describes, as a newer server
// would have it: the audit command builds its request from introspection.
const auditSchema = `
scalar Time
type Query {
  auditLog(first: Int, after: String, filter: AuditLogFilter): AuditLogConnection!
  health: String
}
input AuditLogFilter { key: String, mutation: String, appId: ID, since: Time }
type AuditLogConnection { nodes: [AuditLogEntry!]!, totalCount: Int! }
type AuditLogEntry {
  at: Time!
  key: AuditKey
  clientAddress: String
  mutation: String!
  arguments(redacted: Boolean!): String
  outcome: String!
}
type AuditKey { id: ID!, name: String! }
`

// introspectionServer answers the CLI's introspection queries from a
// schema, validates every other request against it, and answers auditLog
// with rows.
type introspectionServer struct {
	schema *ast.Schema
	mu     sync.Mutex
	last   struct {
		query string
		vars  map[string]any
	}
}

func (s *introspectionServer) typeRef(t *ast.Type) any {
	if t.NonNull {
		c := *t
		c.NonNull = false
		return map[string]any{"kind": "NON_NULL", "name": nil, "ofType": s.typeRef(&c)}
	}
	if t.Elem != nil {
		return map[string]any{"kind": "LIST", "name": nil, "ofType": s.typeRef(t.Elem)}
	}
	return map[string]any{"kind": string(s.schema.Types[t.NamedType].Kind), "name": t.NamedType, "ofType": nil}
}

func (s *introspectionServer) fields(def *ast.Definition) []any {
	var out []any
	for _, f := range def.Fields {
		if strings.HasPrefix(f.Name, "__") {
			continue
		}
		args := []any{}
		for _, a := range f.Arguments {
			args = append(args, map[string]any{"name": a.Name, "type": s.typeRef(a.Type)})
		}
		out = append(out, map[string]any{"name": f.Name, "args": args, "type": s.typeRef(f.Type)})
	}
	return out
}

func (s *introspectionServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Query         string         `json:"query"`
		OperationName string         `json:"operationName"`
		Variables     map[string]any `json:"variables"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	var data any
	switch req.OperationName {
	case "ServerInfo":
		data = map[string]any{"__schema": map[string]any{
			"queryType":    map[string]any{"fields": s.fields(s.schema.Query)},
			"mutationType": nil,
		}}
	case "TypeInfo":
		def := s.schema.Types[req.Variables["name"].(string)]
		data = map[string]any{"__type": map[string]any{"name": def.Name, "kind": string(def.Kind), "fields": s.fields(def)}}
	default:
		s.mu.Lock()
		s.last.query, s.last.vars = req.Query, req.Variables
		s.mu.Unlock()
		if _, errs := gqlparser.LoadQueryWithRules(s.schema, req.Query, nil); errs != nil {
			w.WriteHeader(http.StatusUnprocessableEntity)
			_ = json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{
				"message": errs.Error(), "extensions": map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"}}}})
			return
		}
		data = map[string]any{"auditLog": map[string]any{"totalCount": 1, "nodes": []any{map[string]any{
			"at": "2026-12-03T10:00:00Z", "key": map[string]any{"id": "k1", "name": "console"},
			"clientAddress": "127.0.0.1", "mutation": "installApp", "outcome": "op-1",
		}}}}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
}

func TestAuditBuildsItsRequestFromTheServersSchema(t *testing.T) {
	schema, err := gqlparser.LoadSchema(&ast.Source{Name: "audit.graphqls", Input: auditSchema})
	if err != nil {
		t.Fatal(err)
	}
	srv := &introspectionServer{schema: schema}
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
	for _, want := range []string{"AT", "KEY.NAME", "MUTATION", "OUTCOME", "console", "installApp", "op-1", "127.0.0.1"} {
		if !strings.Contains(out, want) {
			t.Errorf("audit table lacks %q:\n%s", want, out)
		}
	}
	// A field with a required argument is left out; the filter carries what was asked.
	srv.mu.Lock()
	q, vars := srv.last.query, srv.last.vars
	srv.mu.Unlock()
	if strings.Contains(q, "arguments") {
		t.Errorf("query selects a field that needs an argument: %s", q)
	}
	f, _ := vars["filter"].(map[string]any)
	if f["mutation"] != "installApp" || f["appId"] != "blog" || len(f) != 2 || vars["first"] != float64(50) {
		t.Errorf("variables = %v", vars)
	}

	code, out, errs = run("audit", "--since", "24h", "--output", "json")
	var rows []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 1 || rows[0]["mutation"] != "installApp" {
		t.Fatalf("audit --output json: exit %d %s %s", code, out, errs)
	}
	srv.mu.Lock()
	f, _ = srv.last.vars["filter"].(map[string]any)
	srv.mu.Unlock()
	if s, _ := f["since"].(string); !strings.HasSuffix(s, "Z") {
		t.Errorf("since sent as %v", f["since"])
	}
}
