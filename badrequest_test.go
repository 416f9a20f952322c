package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The marker is in every bad request below; the log must never show it
// (client mistakes are logged without their bodies).
const badMarker = "BODYMARKER"

const testMaxBody = 256 << 10

// Every request a client gets wrong is answered with its HTTP status (or
// websocket answer) and code, never INTERNAL, on every transport; and none
// of them puts anything into the error log.
func TestBadRequestsGetClearAnswers(t *testing.T) {
	s := startServer(t, "--max-body", "256KiB")

	huge := strings.Repeat("x", 5<<20) + badMarker // a 5 MB variable
	overLimit := `{"query": "{ health { status } }` + strings.Repeat(" ", testMaxBody) + `"}`
	query := `query Health { health { status } } # ` + badMarker
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }

	type httpCase struct {
		name        string
		method      string
		contentType string
		body        string
		query       url.Values
		status      int
		code        string
		inMessage   string
	}
	post := []httpCase{
		{"body over the limit", "POST", "application/json", overLimit, nil, 413, "REQUEST_TOO_LARGE", "262144 bytes"},
		{"malformed JSON", "POST", "application/json", `{"query": "{ health { status } }", "x": ` + badMarker + `}`, nil, 400, "BAD_REQUEST", "line 1, column 41"},
		{"JSON array", "POST", "application/json", `[` + js(map[string]any{"query": query}) + `,` + js(map[string]any{"query": query}) + `]`, nil, 400, "BATCHING_NOT_SUPPORTED", "one operation per request"},
		{"missing query", "POST", "application/json", js(map[string]any{"variables": map[string]any{"x": badMarker}}), nil, 400, "BAD_REQUEST", "missing query"},
		{"wrong content type", "POST", "text/plain", js(map[string]any{"query": query}), nil, 400, "BAD_REQUEST", `"text/plain"`},
		{"no content type", "POST", "", js(map[string]any{"query": query}), nil, 400, "BAD_REQUEST", "missing Content-Type"},
		{"huge variable", "POST", "application/json", js(map[string]any{"query": query, "variables": map[string]any{"id": huge}}), nil, 413, "REQUEST_TOO_LARGE", "--max-body"},
		{"unknown operation name", "POST", "application/json", js(map[string]any{"query": query, "operationName": "Nope"}), nil, 400, "BAD_REQUEST", `unknown operation name "Nope"`},
		{"variables not an object", "POST", "application/json", `{"query": "{ health { status } }", "variables": "` + badMarker + `"}`, nil, 400, "BAD_REQUEST", `"variables" must be an object`},
		{"document of too many tokens", "POST", "application/json", js(map[string]any{"query": "{ " + strings.Repeat("health { status } ", 3000) + "} # " + badMarker}), nil, 422, "GRAPHQL_PARSE_FAILED", "exceeded token limit of 10000"},
		{"wrong method", "PUT", "application/json", js(map[string]any{"query": query}), nil, 405, "BAD_REQUEST", "method PUT"},
	}
	get := []httpCase{
		{"query string over the limit", "GET", "", "", url.Values{"query": {`{ health { status } }` + strings.Repeat(" ", testMaxBody) + badMarker}}, 413, "REQUEST_TOO_LARGE", "262144 bytes"},
		{"malformed JSON variables", "GET", "", "", url.Values{"query": {query}, "variables": {`{"id": ` + badMarker + `}`}}, 400, "BAD_REQUEST", "variables: malformed JSON at line 1, column 8"},
		{"JSON array variables", "GET", "", "", url.Values{"query": {query}, "variables": {`[{"id": "` + badMarker + `"}]`}}, 400, "BAD_REQUEST", "want a JSON object"},
		{"missing query", "GET", "", "", url.Values{"variables": {`{"x": "` + badMarker + `"}`}}, 400, "BAD_REQUEST", "missing query"},
		{"huge variable", "GET", "", "", url.Values{"query": {query}, "variables": {js(map[string]any{"id": huge[:testMaxBody+1]})}}, 413, "REQUEST_TOO_LARGE", "send large requests with POST"},
		{"unknown operation name", "GET", "", "", url.Values{"query": {query}, "operationName": {"Nope"}}, 400, "BAD_REQUEST", `unknown operation name "Nope"`},
		{"no operation name for two", "GET", "", "", url.Values{"query": {`query A { health { status } } query B { health { status } } # ` + badMarker}}, 400, "BAD_REQUEST", "name the one to run in operationName"},
		{"mutation", "GET", "", "", url.Values{"query": {`mutation { cancelOperation(id: "x") { id } } # ` + badMarker}}, 405, "BAD_REQUEST", "send this mutation with POST"},
	}

	run := func(t *testing.T, tc httpCase, accept string) {
		u := s.URL + "/graphql"
		if tc.query != nil {
			u += "?" + tc.query.Encode()
		}
		req, _ := http.NewRequest(tc.method, u, strings.NewReader(tc.body))
		if tc.body == "" {
			req.Body = nil
		}
		if tc.contentType != "" {
			req.Header.Set("Content-Type", tc.contentType)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		req.Header.Set("X-API-Key", adminKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.method, err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out gqlResponse
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("HTTP %d %q: not a GraphQL JSON answer: %v", resp.StatusCode, raw, err)
		}
		if resp.StatusCode != tc.status || out.code() != tc.code || !strings.Contains(out.Errors[0].Message, tc.inMessage) {
			t.Fatalf("HTTP %d %s, want %d %s with %q in the message", resp.StatusCode, raw, tc.status, tc.code, tc.inMessage)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type %q, want application/json", ct)
		}
		if strings.Contains(string(raw), badMarker) {
			t.Errorf("the answer quotes the request body: %s", raw)
		}
	}
	for _, tc := range post {
		t.Run("POST/"+tc.name, func(t *testing.T) { run(t, tc, "") })
	}
	for _, tc := range get {
		t.Run("GET/"+tc.name, func(t *testing.T) { run(t, tc, "") })
	}
	for _, tc := range post {
		// Over SSE the same mistakes get the same JSON answer, before any
		// event is sent.
		t.Run("SSE/"+tc.name, func(t *testing.T) { run(t, tc, "text/event-stream") })
	}

	type wsCase struct {
		name  string
		frame func(c *wsClient, ctx context.Context)
		close websocket.StatusCode // a close with this code, or
		code  string               // an error message for id "1" with this code
	}
	subscribe := func(payload any) func(c *wsClient, ctx context.Context) {
		return func(c *wsClient, ctx context.Context) {
			c.send(ctx, map[string]any{"id": "1", "type": "subscribe", "payload": payload})
		}
	}
	raw := func(mt websocket.MessageType, s string) func(c *wsClient, ctx context.Context) {
		return func(c *wsClient, ctx context.Context) {
			if err := c.conn.Write(ctx, mt, []byte(s)); err != nil {
				c.t.Fatal(err)
			}
		}
	}
	ws := []wsCase{
		{"message over the limit", subscribe(map[string]any{"query": query + strings.Repeat(" ", testMaxBody)}), websocket.StatusMessageTooBig, ""},
		{"malformed JSON frame", raw(websocket.MessageText, `{"id": "1", "type": "subscribe", `+badMarker), 4400, ""},
		{"JSON array payload", subscribe([]any{map[string]any{"query": query}, map[string]any{"query": query}}), 0, "BATCHING_NOT_SUPPORTED"},
		{"missing query", subscribe(map[string]any{"variables": map[string]any{"x": badMarker}}), 0, "BAD_REQUEST"},
		{"binary frame", raw(websocket.MessageBinary, js(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": query}})), 4400, ""},
		{"huge variable", subscribe(map[string]any{"query": query, "variables": map[string]any{"id": huge}}), websocket.StatusMessageTooBig, ""},
		{"unknown operation name", subscribe(map[string]any{"query": query, "operationName": "Nope"}), 0, "BAD_REQUEST"},
		{"unknown message type", raw(websocket.MessageText, `{"type": "`+badMarker+`"}`), 4400, ""},
		{"subscribe without id", raw(websocket.MessageText, js(map[string]any{"type": "subscribe", "payload": map[string]any{"query": query}})), 4400, ""},
	}
	for _, tc := range ws {
		t.Run("websocket/"+tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c := dialWS(t, ctx, s)
			c.conn.SetReadLimit(16 << 20)
			c.send(ctx, map[string]any{"type": "connection_init", "payload": map[string]any{"apiKey": adminKey}})
			if m, err := c.next(ctx); err != nil || m.Type != "connection_ack" || bytes.Contains(m.Payload, []byte(adminKey)) {
				t.Fatalf("ack: %v %+v, want connection_ack without the key", err, m)
			}
			tc.frame(c, ctx)
			m, err := c.next(ctx)
			if tc.close != 0 {
				if got := websocket.CloseStatus(err); got != tc.close {
					t.Fatalf("got %+v %v (close %d), want close %d", m, err, got, tc.close)
				}
				return
			}
			if err != nil || m.Type != "error" || m.ID != "1" {
				t.Fatalf("got %+v %v, want an error message for id 1", m, err)
			}
			var errs []struct {
				Message    string
				Extensions map[string]any
			}
			if err := json.Unmarshal(m.Payload, &errs); err != nil || len(errs) == 0 || errs[0].Extensions["code"] != tc.code {
				t.Fatalf("error payload %s, want code %s", m.Payload, tc.code)
			}
			if bytes.Contains(m.Payload, []byte(badMarker)) {
				t.Errorf("the answer quotes the request: %s", m.Payload)
			}
			// The connection survives a bad subscribe: the next one works.
			// (gqlgen follows its own error messages with a complete.)
			c.send(ctx, map[string]any{"id": "2", "type": "subscribe", "payload": map[string]any{"query": "{ health { status } }"}})
			m, err = c.next(ctx)
			if err == nil && m.Type == "complete" && m.ID == "1" {
				m, err = c.next(ctx)
			}
			if err != nil || m.Type != "next" || m.ID != "2" {
				t.Fatalf("after a bad subscribe: %+v %v, want next for id 2", m, err)
			}
		})
	}

	logs := s.logs.String()
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "level=ERROR") {
			t.Errorf("error log: %s", line)
		}
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, badMarker) {
			t.Errorf("the log quotes a request body: %.300s", line)
		}
	}
	if n := strings.Count(logs, `msg="bad graphql request"`) + strings.Count(logs, `msg="graphql request refused"`); n < len(post)*2+len(get) {
		t.Errorf("%d client mistakes logged at debug level, want one per request (%d)", n, len(post)*2+len(get))
	}
}
