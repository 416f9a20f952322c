package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/appmanage/appmanage/cli/gql"
)

// A graphql-transport-ws server that pings before every event, then ends
// one subscription with complete and another with an error message.
func TestWSClientAnswersPingsAndPassesErrors(t *testing.T) {
	pongs := make(chan struct{}, 10)
	initKey := make(chan string, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"graphql-transport-ws"}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		var m wsMsg
		if wsjson.Read(ctx, c, &m) != nil || m.Type != "connection_init" {
			return
		}
		var p map[string]string
		_ = json.Unmarshal(m.Payload, &p)
		initKey <- p["apiKey"]
		_ = wsjson.Write(ctx, c, wsMsg{Type: "ping"})
		_ = wsjson.Write(ctx, c, wsMsg{Type: "connection_ack"})
		for {
			if err := wsjson.Read(ctx, c, &m); err != nil {
				return
			}
			switch m.Type {
			case "pong":
				pongs <- struct{}{}
			case "subscribe":
				var req struct {
					Variables struct{ ID string } `json:"variables"`
				}
				_ = json.Unmarshal(m.Payload, &req)
				if req.Variables.ID == "bad" {
					_ = wsjson.Write(ctx, c, wsMsg{ID: m.ID, Type: "error", Payload: json.RawMessage(`[{"message":"no operation bad","extensions":{"code":"NOT_FOUND"}}]`)})
					continue
				}
				for seq := 1; seq <= 2; seq++ {
					_ = wsjson.Write(ctx, c, wsMsg{Type: "ping"})
					ev, _ := json.Marshal(map[string]any{"data": map[string]any{"operationEvents": map[string]any{
						"seq": seq, "operationId": req.Variables.ID, "at": time.Now().UTC(), "status": "RUNNING",
						"progress": seq * 50, "terminal": seq == 2}}})
					_ = wsjson.Write(ctx, c, wsMsg{ID: m.ID, Type: "next", Payload: ev})
				}
				_ = wsjson.Write(ctx, c, wsMsg{ID: m.ID, Type: "complete"})
			}
		}
	}))
	defer hs.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws := newWSClient(ctx, hs.URL+"/graphql", "am_key")
	if _, err := ws.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if k := <-initKey; k != "am_key" {
		t.Fatalf("connection_init payload carried %q, want the key", k)
	}
	ch, _, err := gql.OperationEvents(ctx, ws, "op1", nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for r := range ch {
		if len(r.Errors) > 0 {
			t.Fatalf("errors: %v", r.Errors)
		}
		got = append(got, r.Data.OperationEvents.Progress)
	}
	if len(got) != 2 || got[1] != 100 {
		t.Fatalf("events %v, want 50 then 100 and the channel closed on complete", got)
	}
	for i := 0; i < 3; i++ { // one ping before the ack, two before events
		select {
		case <-pongs:
		case <-ctx.Done():
			t.Fatalf("only %d pongs", i)
		}
	}

	ch, _, err = gql.OperationEvents(ctx, ws, "bad", nil)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := <-ch
	if !ok || len(r.Errors) != 1 || gqlCode(r.Errors[0]) != "NOT_FOUND" {
		t.Fatalf("error message: %+v %v", r, ok)
	}
	if _, ok := <-ch; ok {
		t.Fatal("channel not closed after the error message")
	}
}
