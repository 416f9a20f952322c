package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/appmanage/appmanage/apperr"
)

// principalEcho answers 200 with the scope of the request's principal, or
// "anonymous".
var principalEcho = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if p, ok := FromContext(r.Context()); ok {
		w.Write([]byte(p.KeyName + ":" + string(p.Scope)))
		return
	}
	w.Write([]byte("anonymous"))
})

func decodeErrorCode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var body struct {
		Errors []struct {
			Message    string `json:"message"`
			Extensions struct {
				Code string `json:"code"`
			} `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not JSON: %v", rec.Body.String(), err)
	}
	if len(body.Errors) != 1 || body.Errors[0].Message == "" {
		t.Fatalf("body %q: want one error with a message", rec.Body.String())
	}
	return body.Errors[0].Extensions.Code
}

func TestMiddleware(t *testing.T) {
	e := newTestEnv(t)
	admin, _ := e.create(t, "ops", ScopeAdmin)
	reader, _ := e.create(t, "viewer", ScopeRead)
	gone, goneKey := e.create(t, "old", ScopeWrite)
	if _, err := e.svc.Revoke(context.Background(), goneKey.ID); err != nil {
		t.Fatal(err)
	}
	bogus := e.secret("am_" + "bogusbogusbogusbogusbogusbogusbogusbogus123")
	h := e.svc.Middleware(principalEcho)

	upgrade := map[string]string{"Connection": "keep-alive, Upgrade", "Upgrade": "websocket"}
	tests := []struct {
		name     string
		method   string
		headers  map[string]string
		wantCode int
		wantBody string // for 200
	}{
		{"no key", "POST", nil, 401, ""},
		{"bad key", "POST", map[string]string{"X-API-Key": bogus}, 401, ""},
		{"revoked key", "POST", map[string]string{"X-API-Key": gone}, 401, ""},
		{"basic auth is not a key", "POST", map[string]string{"Authorization": "Basic " + admin}, 401, ""},
		{"X-API-Key", "POST", map[string]string{"X-API-Key": admin}, 200, "ops:admin"},
		{"Bearer", "GET", map[string]string{"Authorization": "Bearer " + reader}, 200, "viewer:read"},
		{"bearer lower case", "POST", map[string]string{"Authorization": "bearer " + admin}, 200, "ops:admin"},
		{"X-API-Key wins over Bearer", "POST", map[string]string{"X-API-Key": reader, "Authorization": "Bearer " + admin}, 200, "viewer:read"},
		{"websocket upgrade without key passes", "GET", upgrade, 200, "anonymous"},
		{"websocket upgrade with bad key", "GET", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "X-API-Key": bogus}, 401, ""},
		{"websocket upgrade with key", "GET", map[string]string{"Connection": "Upgrade", "Upgrade": "WebSocket", "Authorization": "Bearer " + reader}, 200, "viewer:read"},
		{"upgrade to something else", "GET", map[string]string{"Connection": "Upgrade", "Upgrade": "h2c"}, 401, ""},
		{"CORS preflight", "OPTIONS", nil, 200, "anonymous"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "/graphql", nil)
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantCode {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantCode, rec.Body)
			}
			if tt.wantCode == 200 {
				if rec.Body.String() != tt.wantBody {
					t.Fatalf("downstream saw %q, want %q", rec.Body, tt.wantBody)
				}
				return
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != "Bearer" {
				t.Errorf("WWW-Authenticate = %q", got)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if code := decodeErrorCode(t, rec); code != string(apperr.Unauthenticated) {
				t.Errorf("extensions.code = %q", code)
			}
		})
	}
}

func TestMiddlewareDatabaseFailureIsNot401(t *testing.T) {
	e := newTestEnv(t)
	admin, _ := e.create(t, "ops", ScopeAdmin)
	e.db.Close()
	req := httptest.NewRequest("POST", "/graphql", nil)
	req.Header.Set("X-API-Key", admin)
	rec := httptest.NewRecorder()
	e.svc.Middleware(principalEcho).ServeHTTP(rec, req)
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", rec.Code)
	}
	if code := decodeErrorCode(t, rec); code != string(apperr.Internal) {
		t.Fatalf("extensions.code = %q, want INTERNAL", code)
	}
	if !strings.Contains(e.logs.String(), "database is closed") {
		t.Fatalf("the database error is not in the log:\n%s", e.logs.String())
	}
}

func TestKeyFromRequest(t *testing.T) {
	tests := []struct {
		headers map[string]string
		want    string
	}{
		{nil, ""},
		{map[string]string{"X-API-Key": " k1 "}, "k1"},
		{map[string]string{"Authorization": "Bearer k2"}, "k2"},
		{map[string]string{"Authorization": "BEARER   k3"}, "k3"},
		{map[string]string{"Authorization": "Bearer"}, ""},
		{map[string]string{"Authorization": "Token k4"}, ""},
		{map[string]string{"X-API-Key": "k5", "Authorization": "Bearer k6"}, "k5"},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("GET", "/", nil)
		for k, v := range tt.headers {
			req.Header.Set(k, v)
		}
		if got := KeyFromRequest(req); got != tt.want {
			t.Errorf("KeyFromRequest(%v) = %q, want %q", tt.headers, got, tt.want)
		}
	}
}

func TestWebsocketInit(t *testing.T) {
	e := newTestEnv(t)
	writer, _ := e.create(t, "ci", ScopeWrite)
	bogus := e.secret("am_nopenopenopenopenopenopenopenopenopenope12")
	headerCtx := WithPrincipal(context.Background(), &Principal{KeyID: "hdr", KeyName: "from headers", Scope: ScopeRead})

	tests := []struct {
		name     string
		ctx      context.Context
		payload  map[string]any
		wantName string // "" means an UNAUTHENTICATED error
	}{
		{"apiKey", context.Background(), map[string]any{"apiKey": writer}, "ci"},
		{"X-API-Key", context.Background(), map[string]any{"X-API-Key": writer}, "ci"},
		{"x-api-key lower case", context.Background(), map[string]any{"x-api-key": writer}, "ci"},
		{"Authorization Bearer", context.Background(), map[string]any{"Authorization": "Bearer " + writer}, "ci"},
		{"nested headers", context.Background(), map[string]any{"headers": map[string]any{"Authorization": "Bearer " + writer}}, "ci"},
		{"invalid key", context.Background(), map[string]any{"apiKey": bogus}, ""},
		{"missing key", context.Background(), map[string]any{}, ""},
		{"nil payload", context.Background(), nil, ""},
		{"non-string key", context.Background(), map[string]any{"apiKey": 42}, ""},
		{"principal from upgrade headers kept", headerCtx, nil, "from headers"},
		{"payload key overrides headers", headerCtx, map[string]any{"apiKey": writer}, "ci"},
		{"invalid payload key is not rescued by headers", headerCtx, map[string]any{"apiKey": bogus}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, err := e.svc.WebsocketInit(tt.ctx, tt.payload)
			if tt.wantName == "" {
				if apperr.CodeOf(err) != apperr.Unauthenticated {
					t.Fatalf("err = %v, want UNAUTHENTICATED", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p, ok := FromContext(ctx)
			if !ok || p.KeyName != tt.wantName {
				t.Fatalf("principal = %+v, want key %q", p, tt.wantName)
			}
		})
	}
}
