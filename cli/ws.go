package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"

	"github.com/Khan/genqlient/graphql"
	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// wsClient is a graphql.WebSocketClient speaking graphql-transport-ws over
// github.com/coder/websocket, so the generated subscription helpers run on
// it. Unlike genqlient's own websocket client it answers the server's
// keep-alive pings and passes `error` messages on as GraphQL errors. The
// API key goes in the connection_init payload.
type wsClient struct {
	endpoint string // ws(s)://host/graphql
	apiKey   string
	ctx      context.Context
	cancel   context.CancelFunc

	conn   *websocket.Conn
	errc   chan error
	mu     sync.Mutex
	subs   map[string]*wsSub
	nextID int
	closed bool
}

type wsSub struct {
	ch      any // chan XWsResponse, closed on complete
	forward graphql.ForwardDataFunction
}

type wsMsg struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func newWSClient(ctx context.Context, httpEndpoint, apiKey string) *wsClient {
	ep := httpEndpoint
	switch {
	case strings.HasPrefix(ep, "https://"):
		ep = "wss://" + strings.TrimPrefix(ep, "https://")
	case strings.HasPrefix(ep, "http://"):
		ep = "ws://" + strings.TrimPrefix(ep, "http://")
	}
	cctx, cancel := context.WithCancel(ctx)
	return &wsClient{endpoint: ep, apiKey: apiKey, ctx: cctx, cancel: cancel, subs: map[string]*wsSub{}, errc: make(chan error, 1)}
}

// Start dials, sends connection_init with the key and waits for the ack.
func (w *wsClient) Start(ctx context.Context) (chan error, error) {
	hdr := http.Header{}
	hdr.Set("User-Agent", "appmanage-cli")
	c, _, err := websocket.Dial(ctx, w.endpoint, &websocket.DialOptions{
		Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: hdr,
	})
	if err != nil {
		return nil, fmt.Errorf("websocket %s: %w", w.endpoint, err)
	}
	c.SetReadLimit(4 << 20)
	w.conn = c
	payload, _ := json.Marshal(map[string]string{"apiKey": w.apiKey})
	if err := wsjson.Write(ctx, c, wsMsg{Type: "connection_init", Payload: payload}); err != nil {
		_ = c.CloseNow()
		return nil, fmt.Errorf("websocket connection_init: %w", err)
	}
	for {
		var m wsMsg
		if err := wsjson.Read(ctx, c, &m); err != nil {
			_ = c.CloseNow()
			if websocket.CloseStatus(err) == 4403 {
				return nil, failedf("the server refused the API key (websocket closed 4403 Forbidden)")
			}
			return nil, fmt.Errorf("websocket waiting for connection_ack: %w", err)
		}
		if m.Type == "ping" {
			_ = wsjson.Write(ctx, c, wsMsg{Type: "pong"})
			continue
		}
		if m.Type == "connection_ack" {
			break
		}
	}
	go w.read()
	return w.errc, nil
}

func (w *wsClient) read() {
	for {
		var m wsMsg
		if err := wsjson.Read(w.ctx, w.conn, &m); err != nil {
			w.fail(err)
			return
		}
		switch m.Type {
		case "ping":
			if err := wsjson.Write(w.ctx, w.conn, wsMsg{Type: "pong"}); err != nil {
				w.fail(err)
				return
			}
		case "next":
			if s := w.sub(m.ID); s != nil {
				if err := s.forward(s.ch, m.Payload); err != nil {
					w.fail(err)
					return
				}
			}
		case "error":
			if s := w.sub(m.ID); s != nil {
				body, _ := json.Marshal(map[string]json.RawMessage{"errors": m.Payload})
				if err := s.forward(s.ch, body); err != nil {
					w.fail(err)
					return
				}
				w.finish(m.ID)
			}
		case "complete":
			w.finish(m.ID)
		}
	}
}

func (w *wsClient) sub(id string) *wsSub {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.subs[id]
}

// finish closes a subscription's channel: the consumer sees the end.
func (w *wsClient) finish(id string) {
	w.mu.Lock()
	s := w.subs[id]
	delete(w.subs, id)
	w.mu.Unlock()
	if s != nil {
		reflect.ValueOf(s.ch).Close()
	}
}

// fail reports a connection error once and ends every subscription.
func (w *wsClient) fail(err error) {
	w.mu.Lock()
	closed := w.closed
	subs := w.subs
	w.subs = map[string]*wsSub{}
	w.mu.Unlock()
	if !closed {
		select {
		case w.errc <- err:
		default:
		}
	}
	for _, s := range subs {
		reflect.ValueOf(s.ch).Close()
	}
}

func (w *wsClient) Subscribe(req *graphql.Request, ch any, forward graphql.ForwardDataFunction) (string, error) {
	if w.conn == nil {
		return "", errors.New("websocket not started")
	}
	w.mu.Lock()
	w.nextID++
	id := fmt.Sprint(w.nextID)
	w.subs[id] = &wsSub{ch: ch, forward: forward}
	w.mu.Unlock()
	payload, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	if err := wsjson.Write(w.ctx, w.conn, wsMsg{ID: id, Type: "subscribe", Payload: payload}); err != nil {
		w.mu.Lock()
		delete(w.subs, id)
		w.mu.Unlock()
		return "", fmt.Errorf("websocket subscribe: %w", err)
	}
	return id, nil
}

func (w *wsClient) Unsubscribe(id string) error {
	if w.conn == nil {
		return nil
	}
	return wsjson.Write(w.ctx, w.conn, wsMsg{ID: id, Type: "complete"})
}

// Close ends the connection; a reader blocked on a channel send is released
// by the consumer draining the channel until it closes.
func (w *wsClient) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	w.cancel()
	if w.conn != nil {
		return w.conn.CloseNow()
	}
	return nil
}
