package httpapi

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/upstream"
)

func TestPresentErrorCodes(t *testing.T) {
	present := presentError(slog.New(slog.DiscardHandler))
	ctx := context.Background()
	tests := []struct {
		name      string
		err       error
		code      string
		extra     map[string]any
		notInText string
	}{
		{"validation", apperr.Invalid("appId", "bad"), "VALIDATION_FAILED", map[string]any{"field": "appId"}, ""},
		{"precondition", apperr.Precondition("settings", "port 9001 taken"), "PRECONDITION_FAILED", map[string]any{"field": "settings"}, ""},
		{"conflict", apperr.New(apperr.Conflict, "busy"), "CONFLICT", nil, ""},
		{"not found", apperr.New(apperr.NotFound, "no app"), "NOT_FOUND", nil, ""},
		{"forbidden", apperr.New(apperr.Forbidden, "needs write"), "FORBIDDEN", nil, ""},
		{"unauthenticated", apperr.New(apperr.Unauthenticated, "no key"), "UNAUTHENTICATED", nil, ""},
		{"not implemented", apperr.NotImplementedYet("upgradeApp"), "NOT_IMPLEMENTED", nil, ""},
		{"upstream wrapped", &apperr.Error{Code: apperr.UpstreamUnavailable, Upstream: "npm", Message: "list"}, "UPSTREAM_UNAVAILABLE", map[string]any{"upstream": "npm"}, ""},
		{"raw upstream 503", &upstream.APIError{Upstream: "gitea", Method: "GET", Path: "/x", Status: 503}, "UPSTREAM_UNAVAILABLE", map[string]any{"upstream": "gitea"}, ""},
		{"raw upstream 422", &upstream.APIError{Upstream: "portainer", Method: "POST", Path: "/x", Status: 422, Message: "nope"}, "UPSTREAM_REJECTED", map[string]any{"upstream": "portainer"}, ""},
		{"internal hides cause", errors.New("open /secret/path: password=hunter2"), "INTERNAL", nil, "hunter2"},
		{"internal apperr hides cause", apperr.Wrap(apperr.Internal, errors.New("token=abc"), "failed"), "INTERNAL", nil, "token=abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := present(ctx, tt.err)
			if g.Extensions["code"] != tt.code {
				t.Fatalf("code = %v, want %s (message %q)", g.Extensions["code"], tt.code, g.Message)
			}
			for k, v := range tt.extra {
				if g.Extensions[k] != v {
					t.Errorf("extensions[%s] = %v, want %v", k, g.Extensions[k], v)
				}
			}
			if tt.notInText != "" && strings.Contains(g.Message, tt.notInText) {
				t.Errorf("message %q leaks %q", g.Message, tt.notInText)
			}
			if tt.code == "INTERNAL" && g.Extensions["ref"] == nil {
				t.Error("internal error without a ref")
			}
		})
	}
}

// The cause of an INTERNAL error is hidden from the client but must reach
// the log, under the same ref, or nobody can debug it.
func TestInternalCauseIsLoggedWithRef(t *testing.T) {
	var logs bytes.Buffer
	present := presentError(slog.New(slog.NewTextHandler(&logs, nil)))
	g := present(context.Background(), apperr.Wrap(apperr.Internal, errors.New("disk I/O error"), "look up API key"))
	if strings.Contains(g.Message, "disk I/O error") {
		t.Fatalf("message %q leaks the cause", g.Message)
	}
	ref, _ := g.Extensions["ref"].(string)
	if ref == "" || !strings.Contains(logs.String(), ref) || !strings.Contains(logs.String(), "disk I/O error") {
		t.Fatalf("log lacks the ref %q or the cause:\n%s", ref, logs.String())
	}
}

func TestSelectionDepth(t *testing.T) {
	leaf := &ast.Field{Name: "id"}
	nest := func(inner ast.Selection) *ast.Field {
		return &ast.Field{Name: "x", SelectionSet: ast.SelectionSet{inner}}
	}
	var sel ast.Selection = leaf
	for range 5 {
		sel = nest(sel)
	}
	if d := selectionDepth(ast.SelectionSet{sel}, map[string]bool{}); d != 6 {
		t.Fatalf("depth = %d, want 6", d)
	}
	frag := &ast.FragmentDefinition{Name: "F", SelectionSet: ast.SelectionSet{nest(leaf)}}
	spread := &ast.FragmentSpread{Name: "F", Definition: frag}
	if d := selectionDepth(ast.SelectionSet{nest(spread)}, map[string]bool{}); d != 3 {
		t.Fatalf("depth through a fragment = %d, want 3", d)
	}
	intro := &ast.Field{Name: "__schema", SelectionSet: ast.SelectionSet{nest(nest(nest(leaf)))}}
	if d := selectionDepth(ast.SelectionSet{intro}, map[string]bool{}); d != 0 {
		t.Fatalf("introspection counted: %d", d)
	}
	lim := depthLimit{Max: 5}
	oc := &graphql.OperationContext{Operation: &ast.OperationDefinition{SelectionSet: ast.SelectionSet{sel}}}
	if err := lim.MutateOperationContext(context.Background(), oc); err == nil || err.Extensions["code"] != "DEPTH_LIMIT_EXCEEDED" {
		t.Fatalf("depth 6 under limit 5: %v", err)
	}
}

type passAuth struct{}

func (passAuth) Middleware(next http.Handler) http.Handler { return next }
func (passAuth) WebsocketInit(ctx context.Context, _ map[string]any) (context.Context, error) {
	return ctx, nil
}

func TestReadyzReportsFailuresAndSandbox(t *testing.T) {
	failing := errors.New("portainer: connection refused")
	h := New(Options{
		Schema: nil, Auth: passAuth{}, Log: slog.New(slog.DiscardHandler), BodyLimit: 1024,
		Sandbox: []string{"npm"},
		Ready:   []ReadyCheck{{Name: "upstreams", Check: func(context.Context) error { return failing }}},
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"sandbox":["npm"]`) ||
		!strings.Contains(rec.Body.String(), "connection refused") {
		t.Fatalf("/readyz = %d %s", rec.Code, rec.Body)
	}
}
