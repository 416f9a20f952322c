package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"golang.org/x/time/rate"

	"github.com/appmanage/appmanage/apperr"
)

// Close codes of graphql-transport-ws (github.com/enisdenjo/graphql-ws,
// PROTOCOL.md).
const (
	closeBadRequest          = 4400 // a message the protocol does not allow
	closeUnauthorized        = 4401 // subscribe before connection_ack
	closeForbidden           = 4403 // connection_init refused
	closeTooManyInitRequests = 4429 // a second connection_init
	closeInternalError       = 4500
)

const subprotocolTransportWS = "graphql-transport-ws"

// wsImplementation accepts websocket connections with coder/websocket and
// checks every graphql-transport-ws message before gqlgen's transport reads
// it: gqlgen closes a malformed frame with 1000 (or not at all) and
// answers a bad subscribe payload with an error that has no code.
type wsImplementation struct {
	inner transport.WebsocketImplementation
	log   *slog.Logger
}

func (i wsImplementation) Accept(w http.ResponseWriter, r *http.Request, o transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	hw := &handshakeWriter{ResponseWriter: w}
	c, err := i.inner.Accept(hw, r, o)
	if err != nil {
		// coder/websocket answered a bad handshake (wrong origin, missing
		// key, ...) in plain text; the client gets that as a GraphQL error
		// with a code instead. gqlgen would log a failed Accept to the
		// process-wide logger and write a second answer: it gets a closed
		// connection instead, on which it stops at once.
		hw.refuse(r, i.log)
		return refusedConn{}, nil
	}
	if c.Subprotocol() != subprotocolTransportWS {
		return c, nil
	}
	return &checkedConn{WebsocketConn: c, ctx: r.Context(), log: i.log}, nil
}

// handshakeWriter passes a successful handshake (101, then the hijack)
// through and holds back the answer to a refused one.
type handshakeWriter struct {
	http.ResponseWriter
	upgraded bool
	status   int
	body     []byte
}

func (h *handshakeWriter) WriteHeader(code int) {
	if code == http.StatusSwitchingProtocols {
		h.upgraded = true
		h.ResponseWriter.WriteHeader(code)
		return
	}
	if h.status == 0 {
		h.status = code
	}
}

func (h *handshakeWriter) Write(b []byte) (int, error) {
	if h.upgraded {
		return h.ResponseWriter.Write(b)
	}
	if len(h.body) < 512 {
		h.body = append(h.body, b[:min(len(b), 512-len(h.body))]...)
	}
	return len(b), nil
}

func (h *handshakeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(h.ResponseWriter).Hijack()
}

func (h *handshakeWriter) refuse(r *http.Request, log *slog.Logger) {
	if h.upgraded {
		return // the hijack failed after the 101: nothing more to send
	}
	e := badRequest("websocket handshake refused: %s", strings.TrimSpace(string(h.body)))
	switch h.status {
	case 0:
	case http.StatusForbidden:
		e.status, e.code = h.status, apperr.Forbidden
		e.msg += " (see --allowed-origins)"
	default:
		e.status = h.status
	}
	if e.status >= 500 {
		log.ErrorContext(r.Context(), "websocket handshake failed", "status", e.status, "error", e.msg)
		e.code = apperr.Internal
	} else {
		log.DebugContext(r.Context(), "bad graphql request", "transport", "websocket", "status", e.status, "code", e.code, "reason", e.msg)
	}
	h.Header().Del("X-Content-Type-Options")
	writeResponse(h.ResponseWriter, e.status, &graphql.Response{Errors: gqlerror.List{e.gqlError()}})
}

// refusedConn is the connection of a refused handshake: closed from the
// start.
type refusedConn struct{}

func (refusedConn) Close() error                        { return nil }
func (refusedConn) NextReader() (int, io.Reader, error) { return 0, nil, transport.ErrWebsocketClosed }
func (refusedConn) WriteJSON(any) error                 { return nil }
func (refusedConn) WriteClose(int, string) error        { return nil }
func (refusedConn) Subprotocol() string                 { return "" }

// errMessageRefused ends gqlgen's read loop after checkedConn closed the
// socket.
var errMessageRefused = errors.New("websocket message refused")

// checkedConn filters the messages a client sends. NextReader is only
// ever called from one goroutine at a time (gqlgen's read loop).
type checkedConn struct {
	transport.WebsocketConn
	ctx      context.Context
	log      *slog.Logger
	initSeen bool
}

func (c *checkedConn) SetReadLimit(n int64) {
	if l, ok := c.WebsocketConn.(transport.WebsocketReadLimiter); ok {
		l.SetReadLimit(n)
	}
}

func (c *checkedConn) SetReadDeadline(t time.Time) error {
	if d, ok := c.WebsocketConn.(transport.WebsocketReadDeadliner); ok {
		return d.SetReadDeadline(t)
	}
	return nil
}

// wsEnvelope is a graphql-transport-ws message as the client sends it.
type wsEnvelope struct {
	Type    *string         `json:"type"`
	ID      *string         `json:"id"`
	Payload json.RawMessage `json:"payload"`
}

func (c *checkedConn) NextReader() (int, io.Reader, error) {
	for {
		mt, r, err := c.WebsocketConn.NextReader()
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusMessageTooBig {
				// coder/websocket has closed with 1009 already.
				c.log.DebugContext(c.ctx, "websocket message over the limit (--max-body): closed with 1009")
			}
			return mt, r, err
		}
		data, err := io.ReadAll(r)
		if err != nil {
			return mt, nil, err
		}
		if reason := c.check(mt, data); reason != "" {
			return mt, nil, reason.close(c)
		}
		if !c.initSeen && c.answerEarlyPing(data) {
			continue
		}
		if reason := c.checkSubscribe(data); reason != nil {
			continue // answered with an error message for that id
		}
		return mt, bytes.NewReader(data), nil
	}
}

// answerEarlyPing handles a ping or pong before connection_init, which
// graphql-transport-ws allows at any time but gqlgen's init phase refuses
// (closing with 1002): a ping is answered with a pong, a pong dropped.
func (c *checkedConn) answerEarlyPing(data []byte) bool {
	var env wsEnvelope
	_ = json.Unmarshal(data, &env) // check has decoded it once already
	switch *env.Type {
	case "ping":
		_ = c.WriteJSON(map[string]string{"type": "pong"})
		return true
	case "pong":
		return true
	}
	return false
}

// closeReason is why a message ends the connection ("" = it does not).
type closeReason string

func (r closeReason) close(c *checkedConn) error {
	code := closeBadRequest
	switch r {
	case reasonUnauthorized:
		code = closeUnauthorized
	case reasonTooManyInits:
		code = closeTooManyInitRequests
	}
	msg := closeText(string(r))
	c.log.DebugContext(c.ctx, "websocket message refused: closing", "code", code, "reason", msg)
	_ = c.WriteClose(code, msg)
	return errMessageRefused
}

const (
	reasonUnauthorized  closeReason = "Unauthorized"
	reasonTooManyInits  closeReason = "Too many initialisation requests"
	reasonNotJSONObject closeReason = "Invalid message received: want a JSON object with a string \"type\""
)

// check returns why a message breaks the protocol, or "".
func (c *checkedConn) check(mt int, data []byte) closeReason {
	if websocket.MessageType(mt) != websocket.MessageText {
		return "Invalid message received: binary frame"
	}
	var env wsEnvelope
	if json.Unmarshal(data, &env) != nil || env.Type == nil {
		return reasonNotJSONObject
	}
	switch *env.Type {
	case "connection_init":
		if c.initSeen {
			return reasonTooManyInits
		}
		c.initSeen = true
		if p := bytes.TrimSpace(env.Payload); len(p) > 0 && !bytes.Equal(p, []byte("null")) && p[0] != '{' {
			return "Invalid message received: connection_init payload must be an object"
		}
	case "ping", "pong":
	case "subscribe", "complete":
		if !c.initSeen {
			return reasonUnauthorized
		}
		if env.ID == nil || *env.ID == "" {
			return closeReason("Invalid message received: " + *env.Type + " needs an id")
		}
	default:
		return "Invalid message received: unknown type" // not echoed: it is the client's text
	}
	return ""
}

// checkSubscribe answers a subscribe whose payload is not one valid
// request with an error message for its id; nil when it is fine.
func (c *checkedConn) checkSubscribe(data []byte) *requestError {
	var env wsEnvelope
	_ = json.Unmarshal(data, &env) // check has decoded it once already
	if *env.Type != "subscribe" {
		return nil
	}
	if _, rerr := decodeParams(env.Payload); rerr != nil {
		c.log.DebugContext(c.ctx, "bad graphql request", "transport", "websocket", "code", rerr.code, "reason", rerr.msg)
		_ = c.WriteJSON(map[string]any{"id": *env.ID, "type": "error", "payload": []any{rerr.gqlError()}})
		return rerr
	}
	return nil
}

// initGuard limits failed connection_init attempts per client address: a
// burst, then one more per interval. Addresses are kept in a bounded LRU,
// so a flood of addresses costs bounded memory (and at worst forgets the
// oldest).
type initGuard struct {
	auth     Authenticator
	log      *slog.Logger
	every    time.Duration
	burst    int
	limiters *lru.Cache[string, *rate.Limiter]
}

func newInitGuard(a Authenticator, log *slog.Logger, every time.Duration, burst, addresses int) *initGuard {
	l, err := lru.New[string, *rate.Limiter](addresses)
	if err != nil {
		panic(err) // only for a size <= 0, which newInitGuard's callers never pass
	}
	return &initGuard{auth: a, log: log, every: every, burst: burst, limiters: l}
}

func (g *initGuard) limiter(addr string) *rate.Limiter {
	if l, ok := g.limiters.Get(addr); ok {
		return l
	}
	l := rate.NewLimiter(rate.Every(g.every), g.burst)
	if prev, ok, _ := g.limiters.PeekOrAdd(addr, l); ok {
		return prev
	}
	return l
}

// init authenticates a connection_init. A refusal closes the socket with
// 4403 Forbidden, which graphql-ws clients do not retry beyond their
// retryAttempts (1000, which gqlgen sends by default, they retry forever).
func (g *initGuard) init(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	addr := clientAddr(ctx)
	lim := g.limiter(addr)
	if lim.Tokens() < 1 {
		g.log.DebugContext(ctx, "websocket connection_init refused: too many failed attempts", "remote", addr)
		ctx = transport.WithWebsocketCloseCode(ctx, closeForbidden)
		ctx = transport.AppendCloseReason(ctx, "Forbidden: too many failed attempts from this address, retry later")
		return ctx, nil, apperr.New(apperr.Unauthenticated, "too many failed connection attempts")
	}
	actx, err := g.auth.WebsocketInit(ctx, p)
	if err == nil {
		// The ack carries no payload: echoing the init payload would send
		// the key back.
		return actx, nil, nil
	}
	if apperr.CodeOf(err) != apperr.Unauthenticated {
		ref := logInternal(ctx, g.log, err)
		ctx = transport.WithWebsocketCloseCode(ctx, closeInternalError)
		ctx = transport.AppendCloseReason(ctx, closeText("Internal server error (ref "+ref+")"))
		return ctx, nil, err
	}
	lim.Allow() // spend a token on the failure
	// The key is never logged; the reason names only what was wrong.
	g.log.WarnContext(ctx, "websocket connection_init refused", "remote", addr, "reason", err.Error())
	ctx = transport.WithWebsocketCloseCode(ctx, closeForbidden)
	ctx = transport.AppendCloseReason(ctx, closeText("Forbidden: "+err.Error()))
	return ctx, nil, err
}

// closeText cuts a close reason to what a close frame holds (123 bytes),
// on a rune boundary.
func closeText(s string) string {
	const limit = 123
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
