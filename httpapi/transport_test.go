package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/appmanage/appmanage/apperr"
)

func TestDecodeParams(t *testing.T) {
	tests := []struct {
		name, body string
		code       apperr.Code
		inMessage  string
	}{
		{"ok", `{"query": "{ a }", "variables": {"n": 1}, "operationName": null}`, "", ""},
		{"persisted query without query", `{"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "ab"}}}`, "", ""},
		{"empty", "  \n", apperr.BadRequest, "empty request"},
		{"array", " [{\"query\": \"{ a }\"}]", apperr.BatchingNotSupported, "one operation per request"},
		{"syntax error on line 2", "{\"query\": \"{ a }\",\n  \"x\": }", apperr.BadRequest, "line 2, column 8"},
		{"cut short", `{"query": "{ a }"`, apperr.BadRequest, "unexpected end of input"},
		{"trailing data", `{"query": "{ a }"} {"query": "{ b }"}`, apperr.BadRequest, "unexpected data after the JSON value"},
		{"not an object", `"{ a }"`, apperr.BadRequest, "not a JSON string"},
		{"query not a string", `{"query": 42}`, apperr.BadRequest, `"query" must be a string, not a JSON number`},
		{"variables an array", `{"query": "{ a }", "variables": [1]}`, apperr.BadRequest, `"variables" must be an object, not a JSON array`},
		{"no query", `{"variables": {}}`, apperr.BadRequest, "missing query"},
		{"blank query", `{"query": "  "}`, apperr.BadRequest, "missing query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := decodeParams([]byte(tt.body))
			if tt.code == "" {
				if err != nil || p == nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil || err.code != tt.code || err.status != http.StatusBadRequest || !strings.Contains(err.msg, tt.inMessage) {
				t.Fatalf("err = %+v, want %s with %q", err, tt.code, tt.inMessage)
			}
		})
	}
	p, err := decodeParams([]byte(`{"query": "{ a }", "variables": {"n": 12345678901234567890}}`))
	if err != nil || p.Variables["n"] != json.Number("12345678901234567890") {
		t.Fatalf("numbers are not kept exact: %v %v", p, err)
	}
}

func TestStatusFor(t *testing.T) {
	for codes, want := range map[string]int{
		"REQUEST_TOO_LARGE":                        413,
		"BAD_REQUEST":                              400,
		"BATCHING_NOT_SUPPORTED":                   400,
		"GRAPHQL_PARSE_FAILED":                     422,
		"GRAPHQL_VALIDATION_FAILED BAD_REQUEST":    400,
		"PERSISTED_QUERY_NOT_FOUND":                200,
		"COMPLEXITY_LIMIT_EXCEEDED":                200,
		"GRAPHQL_VALIDATION_FAILED DEPTH_EXCEEDED": 422,
	} {
		var list gqlerror.List
		for _, c := range strings.Fields(codes) {
			list = append(list, &gqlerror.Error{Message: c, Extensions: map[string]any{"code": c}})
		}
		if got := statusFor(list); got != want {
			t.Errorf("statusFor(%s) = %d, want %d", codes, got, want)
		}
	}
}

func TestCloseTextFitsAFrame(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	got := closeText(long)
	if len(got) > 123 || !utf8.ValidString(got) || !strings.HasPrefix(long, got) {
		t.Fatalf("closeText = %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
	if closeText("Forbidden") != "Forbidden" {
		t.Fatal("short reason changed")
	}
}

// keyAuth accepts one key and fails the others as unauthenticated.
type keyAuth struct{ key string }

func (keyAuth) Middleware(next http.Handler) http.Handler { return next }
func (a keyAuth) WebsocketInit(ctx context.Context, p map[string]any) (context.Context, error) {
	if p["apiKey"] != a.key {
		return ctx, apperr.New(apperr.Unauthenticated, "invalid API key")
	}
	return ctx, nil
}

// A wrong key closes the socket with 4403 and a logged refusal; after the
// burst of failures an address is refused even with the right key, until
// the limiter refills.
func TestWebsocketInitRefusalsAreRateLimited(t *testing.T) {
	var logs strings.Builder
	sw := &syncWriter{w: &logs}
	log := slog.New(slog.NewTextHandler(sw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	const every = 300 * time.Millisecond
	srv := httptest.NewServer(New(Options{Auth: keyAuth{key: "good"}, Log: log, InitFailureBurst: 2, InitFailureEvery: every}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	try := func(key string) (websocket.StatusCode, string) {
		t.Helper()
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql",
			&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		if err := wsjson.Write(ctx, c, map[string]any{"type": "connection_init", "payload": map[string]any{"apiKey": key}}); err != nil {
			t.Fatal(err)
		}
		var m struct{ Type string }
		err = wsjson.Read(ctx, c, &m)
		if err == nil {
			return 0, m.Type
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("read: %v", err)
		}
		return ce.Code, ce.Reason
	}

	if code, got := try("good"); code != 0 || got != "connection_ack" {
		t.Fatalf("good key: %d %q", code, got)
	}
	for range 2 {
		if code, reason := try("am_bad_key"); code != 4403 || !strings.Contains(reason, "invalid API key") {
			t.Fatalf("bad key: %d %q, want 4403 invalid API key", code, reason)
		}
	}
	if code, reason := try("good"); code != 4403 || !strings.Contains(reason, "too many failed attempts") {
		t.Fatalf("good key after the burst: %d %q, want 4403 too many failed attempts", code, reason)
	}
	time.Sleep(every + 100*time.Millisecond)
	if code, got := try("good"); code != 0 || got != "connection_ack" {
		t.Fatalf("good key after the limiter refilled: %d %q", code, got)
	}
	sw.mu.Lock()
	out := logs.String()
	sw.mu.Unlock()
	if strings.Count(out, `msg="websocket connection_init refused"`) != 2 || strings.Contains(out, "am_bad_key") {
		t.Fatalf("want 2 logged refusals without the key:\n%s", out)
	}
}

func TestInitGuardMemoryIsBounded(t *testing.T) {
	g := newInitGuard(keyAuth{}, slog.New(slog.DiscardHandler), time.Second, 1, 100)
	for i := range 1000 {
		g.limiter(strings.Repeat("a", i%7) + string(rune('A'+i%26)) + strings.Repeat("b", i/26))
	}
	if n := g.limiters.Len(); n != 100 {
		t.Fatalf("%d addresses kept, want the bound 100", n)
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// The protocol's order: subscribe before connection_ack closes 4401, a
// second connection_init 4429.
func TestWebsocketProtocolOrder(t *testing.T) {
	srv := httptest.NewServer(New(Options{Auth: keyAuth{key: "good"}, Log: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, tt := range []struct {
		name   string
		frames []map[string]any
		want   websocket.StatusCode
	}{
		{"subscribe first", []map[string]any{{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "{ a }"}}}, 4401},
		{"init twice", []map[string]any{
			{"type": "connection_init", "payload": map[string]any{"apiKey": "good"}},
			{"type": "connection_init", "payload": map[string]any{"apiKey": "good"}},
		}, 4429},
		{"init payload not an object", []map[string]any{{"type": "connection_init", "payload": "good"}}, 4400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql",
				&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			for _, f := range tt.frames {
				if err := wsjson.Write(ctx, c, f); err != nil {
					t.Fatal(err)
				}
			}
			for {
				var m struct{ Type string }
				err := wsjson.Read(ctx, c, &m)
				if err == nil {
					continue // connection_ack of a first init
				}
				if got := websocket.CloseStatus(err); got != tt.want {
					t.Fatalf("closed with %d (%v), want %d", got, err, tt.want)
				}
				return
			}
		})
	}
}

// A body that stops arriving is answered 408 BAD_REQUEST, not INTERNAL.
func TestStalledBodyIsAClientMistake(t *testing.T) {
	srv := httptest.NewServer(New(Options{Auth: keyAuth{}, Log: slog.New(slog.DiscardHandler), BodyReadTimeout: 200 * time.Millisecond}))
	t.Cleanup(srv.Close)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"query\":")
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), `"code":"BAD_REQUEST"`) {
		t.Fatalf("HTTP %d %s, want 408 BAD_REQUEST", resp.StatusCode, b)
	}
}

// A refused websocket handshake is answered as JSON with a code, like
// every other request mistake.
func TestWebsocketHandshakeRefusals(t *testing.T) {
	srv := httptest.NewServer(New(Options{Auth: keyAuth{key: "good"}, Log: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	ws := func(h http.Header) {
		h.Set("Connection", "Upgrade")
		h.Set("Upgrade", "websocket")
		h.Set("Sec-WebSocket-Version", "13")
		h.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		h.Set("Sec-WebSocket-Protocol", "graphql-transport-ws")
	}
	for _, tt := range []struct {
		name   string
		header func(http.Header)
		status int
		code   string
	}{
		{"foreign origin", func(h http.Header) { ws(h); h.Set("Origin", "http://evil.example") }, 403, "FORBIDDEN"},
		{"no key", func(h http.Header) { ws(h); h.Del("Sec-WebSocket-Key") }, 400, "BAD_REQUEST"},
		{"wrong version", func(h http.Header) { ws(h); h.Set("Sec-WebSocket-Version", "8") }, 400, "BAD_REQUEST"},
		{"not websocket", func(h http.Header) { h.Set("Connection", "Upgrade"); h.Set("Upgrade", "h2c") }, 426, "BAD_REQUEST"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/graphql", nil)
			tt.header(req.Header)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var out struct {
				Errors []struct {
					Message    string
					Extensions map[string]any
				}
			}
			if json.Unmarshal(b, &out) != nil || len(out.Errors) != 1 || resp.StatusCode != tt.status || out.Errors[0].Extensions["code"] != tt.code {
				t.Fatalf("HTTP %d %s, want %d %s", resp.StatusCode, b, tt.status, tt.code)
			}
		})
	}
}
