package graphiql

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/appmanage/appmanage/web/graphiql/browsertest"
)

// minimalIntrospection describes `type Query { hello: String }` and
// `type Subscription { tick: Int }`, enough for GraphiQL to build a schema
// and validate the queries below.
const minimalIntrospection = `{"data":{"__schema":{
 "queryType":{"name":"Query"},"mutationType":null,"subscriptionType":{"name":"Subscription"},
 "types":[
  {"kind":"OBJECT","name":"Query","description":null,
   "fields":[{"name":"hello","description":null,"args":[],
     "type":{"kind":"SCALAR","name":"String","ofType":null},
     "isDeprecated":false,"deprecationReason":null}],
   "inputFields":null,"interfaces":[],"enumValues":null,"possibleTypes":null},
  {"kind":"OBJECT","name":"Subscription","description":null,
   "fields":[{"name":"tick","description":null,"args":[],
     "type":{"kind":"SCALAR","name":"Int","ofType":null},
     "isDeprecated":false,"deprecationReason":null}],
   "inputFields":null,"interfaces":[],"enumValues":null,"possibleTypes":null},
  {"kind":"SCALAR","name":"String","description":null,"fields":null,
   "inputFields":null,"interfaces":null,"enumValues":null,"possibleTypes":null},
  {"kind":"SCALAR","name":"Int","description":null,"fields":null,
   "inputFields":null,"interfaces":null,"enumValues":null,"possibleTypes":null}],
 "directives":[]}}}`

// fakeGraphQL is a hand-written stand-in for /graphql: it enforces the API
// key like the real server (X-API-Key over HTTP, connection_init payload
// apiKey over graphql-transport-ws) and answers introspection,
// `{ __typename }` and `subscription { tick }`.
type fakeGraphQL struct {
	key string

	mu           sync.Mutex
	keyed        map[string]int // "introspection" | query text → requests with the right key
	rejected     int
	initPayloads []map[string]any // connection_init payloads received
}

func (f *fakeGraphQL) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keyed = map[string]int{}
	f.rejected = 0
	f.initPayloads = nil
}

func (f *fakeGraphQL) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		f.serveWebsocket(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	var req struct {
		Query         string `json:"query"`
		OperationName string `json:"operationName"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"errors":[{"message":"bad JSON body"}]}`))
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("X-API-Key") != f.key {
		f.rejected++
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"errors":[{"message":"missing or invalid API key","extensions":{"code":"UNAUTHENTICATED"}}]}`))
		return
	}
	switch {
	case req.OperationName == "IntrospectionQuery":
		f.keyed["introspection"]++
		_, _ = w.Write([]byte(minimalIntrospection))
	case strings.Join(strings.Fields(req.Query), "") == "{__typename}":
		f.keyed[req.Query]++
		_, _ = w.Write([]byte(`{"data":{"__typename":"Query"}}`))
	default:
		_, _ = w.Write([]byte(`{"errors":[{"message":"this test server only knows { __typename }"}]}`))
	}
}

// serveWebsocket speaks just enough graphql-transport-ws for one
// subscription that sends two events and completes.
func (f *fakeGraphQL) serveWebsocket(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := r.Context()

	var init struct {
		Type    string         `json:"type"`
		Payload map[string]any `json:"payload"`
	}
	if err := wsjson.Read(ctx, c, &init); err != nil || init.Type != "connection_init" {
		_ = c.Close(4400, "expected connection_init")
		return
	}
	f.mu.Lock()
	f.initPayloads = append(f.initPayloads, init.Payload)
	ok := init.Payload["apiKey"] == f.key
	if !ok {
		f.rejected++
	}
	f.mu.Unlock()
	if !ok {
		_ = c.Close(4403, "Forbidden")
		return
	}
	if err := wsjson.Write(ctx, c, map[string]string{"type": "connection_ack"}); err != nil {
		return
	}
	for {
		var msg struct {
			ID      string `json:"id"`
			Type    string `json:"type"`
			Payload struct {
				Query string `json:"query"`
			} `json:"payload"`
		}
		if err := wsjson.Read(ctx, c, &msg); err != nil {
			return // the client closes once its last subscription completes
		}
		switch msg.Type {
		case "ping":
			_ = wsjson.Write(ctx, c, map[string]string{"type": "pong"})
		case "subscribe":
			f.mu.Lock()
			f.keyed[msg.Payload.Query]++
			f.mu.Unlock()
			for i := 1; i <= 2; i++ {
				next := map[string]any{"id": msg.ID, "type": "next", "payload": map[string]any{"data": map[string]any{"tick": i}}}
				if err := wsjson.Write(ctx, c, next); err != nil {
					return
				}
			}
			if err := wsjson.Write(ctx, c, map[string]string{"id": msg.ID, "type": "complete"}); err != nil {
				return
			}
		}
	}
}

func TestGraphiQLRunsQueryInChromium(t *testing.T) {
	requireAssets(t)
	browsertest.Chromium(t) // skip early (or fail on CI) without a browser

	const key = "test-key-5f2c"
	gql := &fakeGraphQL{key: key}
	mux := http.NewServeMux()
	h := Handler(Options{})
	mux.Handle("/graphiql", h)
	mux.Handle("/graphiql/", h)
	mux.Handle("/graphql", gql)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tests := []struct {
		name   string
		key    string
		query  string
		want   map[string]any
		keyed  bool // the fake must have seen the query with the right key
		reject bool // the fake must have rejected a request
		wsInit bool // the fake must have seen connection_init {"apiKey": key}
	}{
		{
			name:  "query with the right key",
			key:   key,
			query: "{ __typename }",
			want:  map[string]any{"data": map[string]any{"__typename": "Query"}},
			keyed: true,
		},
		{
			name:  "query with a wrong key",
			key:   "not-the-key",
			query: "{ __typename }",
			want: map[string]any{"errors": []any{map[string]any{
				"message":    "missing or invalid API key",
				"extensions": map[string]any{"code": "UNAUTHENTICATED"},
			}}},
			reject: true,
		},
		{
			name:   "subscription over websocket",
			key:    key,
			query:  "subscription { tick }",
			want:   map[string]any{"data": map[string]any{"tick": float64(2)}},
			keyed:  true,
			wsInit: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gql.reset()
			text := browsertest.RunQuery(t, srv.URL+"/graphiql", tt.key, tt.query)
			var got map[string]any
			if err := json.Unmarshal([]byte(text), &got); err != nil {
				t.Fatalf("result pane is not JSON: %v\n%s", err, text)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("result = %s, want %v", text, tt.want)
			}

			gql.mu.Lock()
			defer gql.mu.Unlock()
			switch {
			case tt.keyed && (gql.keyed[tt.query] != 1 || gql.keyed["introspection"] == 0):
				t.Errorf("keyed requests seen by /graphql = %v, want %q once and an introspection", gql.keyed, tt.query)
			case !tt.keyed && len(gql.keyed) != 0:
				t.Errorf("keyed requests seen by /graphql = %v, want none", gql.keyed)
			}
			// The first page load has no key yet, so some rejections are
			// expected either way; with a wrong key nothing may get through.
			if tt.reject && gql.rejected == 0 {
				t.Errorf("no request was rejected")
			}
			wantInit := []map[string]any(nil)
			if tt.wsInit {
				wantInit = []map[string]any{{"apiKey": key}}
			}
			if !reflect.DeepEqual(gql.initPayloads, wantInit) {
				t.Errorf("connection_init payloads = %v, want %v", gql.initPayloads, wantInit)
			}
		})
	}
}
