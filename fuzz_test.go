package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Fuzz targets of the server's HTTP surface, against the real server code
// (run "serve", sandbox mode) on a loopback port. `make fuzz` runs each.

// fuzzServer is one server per fuzz run, shared by every input.
func fuzzServer(f *testing.F) *testServer {
	f.Helper()
	return startServer(f, "--log-level", "error")
}

// containsString reports whether any string in the JSON value v holds s.
func containsString(v any, s string) bool {
	switch x := v.(type) {
	case string:
		return strings.Contains(x, s)
	case []any:
		for _, e := range x {
			if containsString(e, s) {
				return true
			}
		}
	case map[string]any:
		for k, e := range x {
			if strings.Contains(k, s) || containsString(e, s) {
				return true
			}
		}
	}
	return false
}

// FuzzGraphQLHTTP posts any query with any variables (the variables are
// spliced into the body as they are, so malformed JSON is fuzzed too)
// through the whole HTTP stack with the admin key. No client input may
// yield a 5xx or INTERNAL (issue 17): every answer is JSON, every error
// carries an extensions.code that is not INTERNAL, and no answer shows the
// key.
func FuzzGraphQLHTTP(f *testing.F) {
	seeds := []struct{ q, v string }{
		{`{ apps(first: 50) { totalCount nodes { id name status version env { name value } proxies { id domains } containers { name state } ports { hostPort } repository { htmlUrl } } pageInfo { hasNextPage endCursor } } }`, `{}`},
		{`query($a: String) { apps(first: 2, after: $a) { nodes { id } } }`, `{"a": "not-a-cursor"}`},
		{`query($f: Int) { apps(first: $f) { totalCount } }`, `{"f": -1}`},
		{`query($f: Int) { apps(first: $f) { totalCount } }`, `{"f": 1e100}`},
		{`{ app(id: "Bad Id!") { id } }`, `null`},
		{`{ catalog(search: "\u0000", category: "%") { name versions } catalogCategories libraryProblems { dir reason } }`, `{}`},
		{`{ health { status upstreams { name up } } endpoints { id name } settings { key value } apiKeys { id name } }`, `{}`},
		{`{ operation(id: "../../etc") { id } operations(first: 100000) { id } }`, `{}`},
		{`mutation($i: InstallAppInput!) { installPlan(input: $i) { webPort { port } } }`, `{"i": {"appName": "whoami", "appId": "x", "domains": ["*.a"]}}`},
		{`mutation($i: InstallAppInput!) { installApp(input: $i) { id status } }`, `{"i": {"appName": "nope", "appId": "fuzz1"}}`},
		{`mutation($i: InstallAppInput!) { installApp(input: $i) { id } }`, `{"i": {"appName": "whoami", "appId": "fuzz2", "settings": [{"name": "W9_HTTP_PORT_SET", "value": "99999"}]}}`},
		{`mutation { updateAppEnv(id: "nope", changes: [{name: "A\nB", value: "x"}]) { id } }`, `{}`},
		{`mutation { updateAppFiles(id: "nope", files: [{path: "../x", content: "y"}]) { id } }`, `{}`},
		{`mutation { rollbackApp(id: "nope", commit: "zz") { id } }`, `{}`},
		{`mutation { addAppDomains(id: "nope", domains: ["a..b"]) { id } setDefaultDomain(id: "x", domain: "") { id } }`, `{}`},
		{`mutation { updateAppProxy(id: "x", proxyId: -5, domains: []) { id } }`, `{}`},
		{`mutation($s: [SettingInput!]!) { updateSettings(input: $s) { key value } }`, `{"s": [{"key": "publicHost", "value": "a b"}]}`},
		{`mutation { createApiKey(name: "", scope: "root") { key } revokeApiKey(id: "") { id } }`, `{}`},
		{`mutation { cancelOperation(id: "x") { id } uninstallApp(id: "", purgeData: true) { id } }`, `{}`},
		{`subscription { operationEvents(id: "x") { seq } }`, `{}`},
		{`{ __schema { types { name } } }`, `{}`},
		{`{ apps { nodes { id ...F } } } fragment F on App { name ...F }`, `{}`},
		{`query Q { health { status } } query Q { health { status } }`, `{}`},
		{`{ a: health { status } b: health { status } c: health { status } }`, `[1,2]`},
		{``, `{}`}, {`{`, `{`}, {`{ health { status } }`, `"x"`},
	}
	for _, s := range seeds {
		f.Add(s.q, s.v)
	}
	s := fuzzServer(f)
	client := &http.Client{Timeout: 30 * time.Second}
	f.Fuzz(func(t *testing.T, query, variables string) {
		q, _ := json.Marshal(query)
		body := `{"query":` + string(q) + `,"variables":` + variables + `}`
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/graphql", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-Key", adminKey)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("POST /graphql: %v", err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("read answer: %v", err)
		}
		if resp.StatusCode >= 500 {
			t.Fatalf("HTTP %d for %s\n%s", resp.StatusCode, body, raw)
		}
		var out struct {
			Errors []struct {
				Message    string         `json:"message"`
				Extensions map[string]any `json:"extensions"`
			} `json:"errors"`
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("HTTP %d answer is not JSON (%v): %q", resp.StatusCode, err, raw)
		}
		for _, e := range out.Errors {
			code, _ := e.Extensions["code"].(string)
			if code == "" || code == "INTERNAL" {
				t.Fatalf("error %q with code %q for %s\n%s", e.Message, code, body, raw)
			}
		}
		if bytes.Contains(raw, []byte(adminKey)) {
			t.Fatalf("the answer shows the API key: %s", raw)
		}
	})
}

// FuzzWebsocketInit sends any first message on a graphql-transport-ws
// socket. The server answers connection_ack only to a connection_init that
// carries the key, and otherwise closes the socket with a 44xx code naming
// the client's mistake (never 1011 or 4500, a fault of ours), promptly.
// Each input connects from its own loopback address, so the per-address
// limit on failed inits does not hide the answer.
func FuzzWebsocketInit(f *testing.F) {
	for _, m := range []string{
		`{"type":"connection_init","payload":{"apiKey":"` + adminKey + `"}}`,
		`{"type":"connection_init","payload":{"headers":{"Authorization":"Bearer ` + adminKey + `"}}}`,
		`{"type":"connection_init","payload":{"X-API-Key":"` + adminKey + `"}}`,
		`{"type":"connection_init","payload":{"apiKey":"wrong"}}`,
		`{"type":"connection_init","payload":{"apiKey":5}}`,
		`{"type":"connection_init","payload":{"apiKey":null,"headers":"x"}}`,
		`{"type":"connection_init","payload":"str"}`,
		`{"type":"connection_init","payload":[1]}`,
		`{"type":"connection_init"}`,
		`{"type":"connection_init","payload":{"headers":{"authorization":["Bearer x"]}}}`,
		`{"type":"subscribe","id":"1","payload":{"query":"{ health { status } }"}}`,
		`{"type":"ping"}`, `{"type":"pong"}`, `{"type":"complete","id":"1"}`, `{"type":"x"}`, `{}`, `[]`, `null`, `"`, ``,
		`{"type":"connection_init","payload":{"apiKey":"` + strings.Repeat("k", 5000) + `"}}`,
	} {
		f.Add([]byte(m))
	}
	s := fuzzServer(f)
	u := "ws" + strings.TrimPrefix(s.URL, "http") + "/graphql"
	var n atomic.Uint32
	f.Fuzz(func(t *testing.T, msg []byte) {
		i := n.Add(1)
		local := net.IPv4(127, byte(1+i>>16%250), byte(i>>8), byte(i))
		dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: local}}
		hc := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		conn, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{"graphql-transport-ws"}})
		if err != nil {
			t.Fatalf("dial from %s: %v", local, err)
		}
		defer conn.CloseNow()
		if err := conn.Write(ctx, websocket.MessageText, msg); err != nil {
			t.Fatalf("write: %v", err)
		}
		var v map[string]any
		_ = json.Unmarshal(msg, &v)
		isInit := v["type"] == "connection_init"
		withKey := isInit && containsString(v["payload"], adminKey)
		if v["type"] == "pong" {
			// Nothing answers a pong; the init after it must still work.
			if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"connection_init","payload":{"apiKey":"`+adminKey+`"}}`)); err != nil {
				t.Fatalf("write: %v", err)
			}
			withKey = true
		}
		rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
		defer rcancel()
		for {
			_, data, err := conn.Read(rctx)
			if err != nil {
				var ce websocket.CloseError
				switch {
				case errors.As(err, &ce):
					code := int(ce.Code)
					if code == 1011 || code == 4500 || code < 4000 && code != 1009 {
						t.Fatalf("closed %d %q for %q", code, ce.Reason, msg)
					}
					if withKey && code == 4403 {
						// A key inside the payload that is not where the
						// server reads it is no key.
						if p, ok := v["payload"].(map[string]any); ok && (p["apiKey"] == adminKey || p["X-API-Key"] == adminKey) {
							t.Fatalf("refused the right key (%d %q): %q", code, ce.Reason, msg)
						}
					}
					return
				case errors.Is(err, context.DeadlineExceeded):
					t.Fatalf("no answer within 10s to %q", msg)
				default:
					t.Fatalf("read: %v (for %q)", err, msg)
				}
			}
			var m struct {
				Type string `json:"type"`
			}
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatalf("answer is not JSON: %q", data)
			}
			switch m.Type {
			case "pong":
				if v["type"] == "ping" {
					return // the answer to a ping before init
				}
				continue
			case "ping":
				continue
			case "connection_ack":
				if !withKey {
					t.Fatalf("acknowledged %q", msg)
				}
				if bytes.Contains(data, []byte(adminKey)) {
					t.Fatalf("the ack shows the key: %s", data)
				}
				return
			default:
				t.Fatalf("answer %s to %q", data, fmt.Sprint(string(msg)))
			}
		}
	})
}
