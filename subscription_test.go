package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// wsClient speaks graphql-transport-ws over a real websocket.
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
}

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func dialWS(t *testing.T, ctx context.Context, s *testServer) *wsClient {
	t.Helper()
	u := "ws" + strings.TrimPrefix(s.URL, "http") + "/graphql"
	conn, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	if resp.Header.Get("Sec-WebSocket-Protocol") != "graphql-transport-ws" {
		t.Fatalf("subprotocol = %q", resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	t.Cleanup(func() { _ = conn.CloseNow() })
	return &wsClient{t: t, conn: conn}
}

func (c *wsClient) send(ctx context.Context, m any) {
	c.t.Helper()
	if err := wsjson.Write(ctx, c.conn, m); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next returns the next message that is not a ping/pong.
func (c *wsClient) next(ctx context.Context) (wsMessage, error) {
	for {
		var m wsMessage
		if err := wsjson.Read(ctx, c.conn, &m); err != nil {
			return m, err
		}
		if m.Type == "ping" {
			_ = wsjson.Write(ctx, c.conn, map[string]string{"type": "pong"})
			continue
		}
		if m.Type == "pong" {
			continue
		}
		return m, nil
	}
}

func TestWebsocketNeedsAValidKeyInInit(t *testing.T) {
	s := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	for _, payload := range []map[string]any{{}, {"apiKey": "am_wrong"}} {
		c := dialWS(t, ctx, s)
		c.send(ctx, map[string]any{"type": "connection_init", "payload": payload})
		m, err := c.next(ctx)
		for err == nil && m.Type == "connection_error" {
			m, err = c.next(ctx)
		}
		if err == nil {
			t.Fatalf("init with %v: got %s %s, want the connection closed", payload, m.Type, m.Payload)
		}
		// Closed by the server with 4403 Forbidden (not 1000, which
		// graphql-ws clients retry forever), not ended by our own timeout.
		if websocket.CloseStatus(err) != 4403 {
			t.Fatalf("init with %v: %v, want a 4403 close frame from the server", payload, err)
		}
	}
	// The refusals are logged, without the key.
	if logs := s.logs.String(); strings.Count(logs, "websocket connection_init refused") != 2 || strings.Contains(logs, "am_wrong") {
		t.Fatalf("want two logged refusals without the key; log:\n%s", logs)
	}

	c := dialWS(t, ctx, s)
	c.send(ctx, map[string]any{"type": "connection_init", "payload": map[string]any{"apiKey": adminKey}})
	m, err := c.next(ctx)
	if err != nil || m.Type != "connection_ack" {
		t.Fatalf("init with a valid key: %v %+v, want connection_ack", err, m)
	}
}

type subEvent struct {
	Seq      int
	Status   string
	Progress int
	Terminal bool
	Step     *string
}

func installOp(t *testing.T, s *testServer, appID string) string {
	t.Helper()
	_, resp := s.gql(t, adminKey, `mutation($id: ID!) { installApp(input: {appName: "whoami", appId: $id}) { id status } }`,
		map[string]any{"id": appID})
	if len(resp.Errors) > 0 {
		t.Fatalf("installApp: %+v", resp.Errors)
	}
	var out struct{ InstallApp struct{ ID, Status string } }
	_ = json.Unmarshal(resp.Data, &out)
	return out.InstallApp.ID
}

func waitTerminal(t *testing.T, s *testServer, opID string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		_, resp := s.gql(t, adminKey, `query($id: ID!) { operation(id: $id) { status } }`, map[string]any{"id": opID})
		var out struct{ Operation struct{ Status string } }
		_ = json.Unmarshal(resp.Data, &out)
		switch out.Operation.Status {
		case "SUCCEEDED", "FAILED", "ROLLED_BACK", "CANCELLED":
			return out.Operation.Status
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("operation %s did not finish", opID)
	return ""
}

// A subscriber that joins late gets every event from seq 1, in order,
// exactly once, and the stream completes after the terminal event.
func TestOperationEventsOverWebsocketLateJoin(t *testing.T) {
	s := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opID := installOp(t, s, "whosub")
	// Join after at least 3 events exist (here: after the whole install).
	if st := waitTerminal(t, s, opID); st != "SUCCEEDED" {
		t.Fatalf("install ended %s", st)
	}

	c := dialWS(t, ctx, s)
	c.send(ctx, map[string]any{"type": "connection_init", "payload": map[string]any{"apiKey": adminKey}})
	if m, err := c.next(ctx); err != nil || m.Type != "connection_ack" {
		t.Fatalf("ack: %v %+v", err, m)
	}
	c.send(ctx, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query":     `subscription($id: ID!) { operationEvents(id: $id) { seq status progress terminal step } }`,
		"variables": map[string]any{"id": opID},
	}})
	var got []subEvent
	for {
		m, err := c.next(ctx)
		if err != nil {
			t.Fatalf("read after %d events: %v", len(got), err)
		}
		if m.Type == "complete" {
			break
		}
		if m.Type != "next" {
			t.Fatalf("unexpected %s %s", m.Type, m.Payload)
		}
		var p struct {
			Data struct{ OperationEvents subEvent }
		}
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Data.OperationEvents)
	}
	if len(got) < 3 {
		t.Fatalf("only %d events", len(got))
	}
	for i, e := range got {
		if e.Seq != i+1 {
			t.Fatalf("event %d has seq %d: want 1..N in order, exactly once", i, e.Seq)
		}
	}
	last := got[len(got)-1]
	if !last.Terminal || last.Status != "SUCCEEDED" || last.Progress != 100 {
		t.Fatalf("last event %+v", last)
	}
}

// The same stream over SSE, resuming after a given seq.
func TestOperationEventsOverSSE(t *testing.T) {
	s := startServer(t)
	opID := installOp(t, s, "whosse")
	waitTerminal(t, s, opID)
	body, _ := json.Marshal(map[string]any{
		"query":     `subscription($id: ID!) { operationEvents(id: $id, afterSeq: 2) { seq terminal } }`,
		"variables": map[string]any{"id": opID},
	})
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("X-API-Key", adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	var seqs []int
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		var p struct {
			Data struct{ OperationEvents struct{ Seq int } }
		}
		if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &p); err != nil || p.Data.OperationEvents.Seq == 0 {
			continue
		}
		seqs = append(seqs, p.Data.OperationEvents.Seq)
	}
	if len(seqs) == 0 || seqs[0] != 3 {
		t.Fatalf("SSE seqs = %v, want them to start at 3", seqs)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("SSE seqs = %v: gap or duplicate", seqs)
		}
	}
}

func TestWebsocketRefusesForeignOrigins(t *testing.T) {
	s := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(s.URL, "http") + "/graphql"
	_, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{
		Subprotocols: []string{"graphql-transport-ws"},
		HTTPHeader:   http.Header{"Origin": {"https://evil.example"}},
	})
	if err == nil {
		t.Fatal("a cross-origin websocket was accepted")
	}
	if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin dial: %v (response %v), want 403", err, resp)
	}
	// The server's own origin is fine.
	conn, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{
		Subprotocols: []string{"graphql-transport-ws"},
		HTTPHeader:   http.Header{"Origin": {s.URL}},
	})
	if err != nil {
		t.Fatalf("same-origin dial: %v", err)
	}
	_ = conn.CloseNow()
}

// wsQuery runs one query over an open graphql-transport-ws connection.
func (c *wsClient) query(ctx context.Context, id, query string, out any) {
	c.t.Helper()
	c.send(ctx, map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": query}})
	m, err := c.next(ctx)
	if err != nil || m.Type != "next" {
		c.t.Fatalf("query %s: %v %s %s", id, err, m.Type, m.Payload)
	}
	var p struct {
		Data   json.RawMessage
		Errors []any
	}
	if err := json.Unmarshal(m.Payload, &p); err != nil || len(p.Errors) > 0 {
		c.t.Fatalf("query %s: %v %s", id, err, m.Payload)
	}
	if err := json.Unmarshal(p.Data, out); err != nil {
		c.t.Fatal(err)
	}
	if m, err := c.next(ctx); err != nil || m.Type != "complete" {
		c.t.Fatalf("query %s did not complete: %v %+v", id, err, m)
	}
}

// Queries over one websocket connection each get their own loaders: the
// fields of one query share one view of the upstreams, and a later query
// on the same connection sees what changed meanwhile.
func TestAppsQueriesOverOneWebsocketSeeChanges(t *testing.T) {
	s := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	aqInstall(t, s, []string{"wsone", "wstwo"}, func(i int) int { return 19100 + i }, false)

	c := dialWS(t, ctx, s)
	c.send(ctx, map[string]any{"type": "connection_init", "payload": map[string]any{"apiKey": adminKey}})
	if m, err := c.next(ctx); err != nil || m.Type != "connection_ack" {
		t.Fatalf("ack: %v %+v", err, m)
	}
	const q = `{ apps { nodes { id status env { name } containers { state } } } }`
	type result struct {
		Apps struct {
			Nodes []struct {
				ID         string
				Status     string
				Env        []struct{ Name string }
				Containers []struct{ State string }
			}
		}
	}
	statuses := func(r result) map[string]string {
		out := map[string]string{}
		for _, n := range r.Apps.Nodes {
			out[n.ID] = n.Status
			if len(n.Env) == 0 {
				t.Errorf("%s: no env over websocket", n.ID)
			}
		}
		return out
	}
	var first result
	c.query(ctx, "1", q, &first)
	if got := statuses(first); got["wsone"] != "ACTIVE" || got["wstwo"] != "ACTIVE" {
		t.Fatalf("first query: %v", got)
	}

	_, resp := s.gql(t, adminKey, `mutation { stopApp(id: "wsone") { id } }`, nil)
	var stop struct{ StopApp struct{ ID string } }
	if err := json.Unmarshal(resp.Data, &stop); err != nil || len(resp.Errors) > 0 {
		t.Fatalf("stopApp: %+v", resp.Errors)
	}
	if st := waitTerminal(t, s, stop.StopApp.ID); st != "SUCCEEDED" {
		t.Fatalf("stop: %s", st)
	}
	var second result
	c.query(ctx, "2", q, &second)
	if got := statuses(second); got["wsone"] != "INACTIVE" || got["wstwo"] != "ACTIVE" {
		t.Fatalf("second query on the same connection: %v, want wsone INACTIVE", got)
	}
}
