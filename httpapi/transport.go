package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/appmanage/appmanage/apperr"
)

// The HTTP transports of /graphql. gqlgen's own POST, GET and SSE
// transports answer a body over the limit, malformed JSON or a JSON array
// with errors that carry no extensions.code (which our presenter would
// have to call INTERNAL), and echo request bodies into messages and the
// process log. These answer every request mistake with its HTTP status and
// a code (BAD_REQUEST, REQUEST_TOO_LARGE, BATCHING_NOT_SUPPORTED), log it
// once at debug level without the body, and then run the operation through
// gqlgen's executor like gqlgen's transports do.

func init() {
	// gqlgen's websocket transport answers "protocol" errors with an
	// `error` message (instead of a `next` with errors); request mistakes
	// are of that kind.
	errcode.RegisterErrorType(string(apperr.BadRequest), errcode.KindProtocol)
}

// requestError is a mistake in the request itself, answered before any
// operation runs.
type requestError struct {
	status int
	code   apperr.Code
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) *requestError {
	return &requestError{status: http.StatusBadRequest, code: apperr.BadRequest, msg: fmt.Sprintf(format, args...)}
}

func (e *requestError) gqlError() *gqlerror.Error {
	return &gqlerror.Error{Message: e.msg, Extensions: map[string]any{"code": string(e.code)}}
}

// transports holds what the HTTP transports share.
type transports struct {
	limit int64 // bytes of a body, a GET query string or a websocket message
	log   *slog.Logger
}

// reject answers a request mistake and logs it at debug level.
func (t *transports) reject(w http.ResponseWriter, r *http.Request, kind string, e *requestError) {
	t.log.DebugContext(r.Context(), "bad graphql request", "transport", kind, "status", e.status,
		"code", e.code, "reason", e.msg)
	if e.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", "GET, POST, OPTIONS")
	}
	writeResponse(w, e.status, &graphql.Response{Errors: gqlerror.List{e.gqlError()}})
}

// operationFailed answers errors of CreateOperationContext (parse,
// validation, unknown operation, persisted query miss, limits), presented
// like every other error; logged at debug level with their codes only:
// messages about variables may quote their values.
func (t *transports) operationFailed(w http.ResponseWriter, r *http.Request, kind string, exec graphql.GraphExecutor,
	rc *graphql.OperationContext, errs gqlerror.List,
) {
	ctx := r.Context()
	if rc != nil {
		ctx = graphql.WithOperationContext(ctx, rc)
	}
	resp := exec.DispatchError(ctx, errs)
	status := statusFor(resp.Errors)
	t.log.DebugContext(r.Context(), "graphql request refused", "transport", kind, "status", status, "codes", codesOf(resp.Errors))
	writeResponse(w, status, resp)
}

func codesOf(errs gqlerror.List) []string {
	var out []string
	for _, e := range errs {
		c, _ := e.Extensions["code"].(string)
		out = append(out, c)
	}
	return out
}

// statusFor is the HTTP status of a response that failed before execution.
func statusFor(errs gqlerror.List) int {
	status := http.StatusOK
	for _, e := range errs {
		c, _ := e.Extensions["code"].(string)
		switch c {
		case string(apperr.RequestTooLarge):
			return http.StatusRequestEntityTooLarge
		case string(apperr.BadRequest), string(apperr.BatchingNotSupported):
			return http.StatusBadRequest
		case errcode.ParseFailed, errcode.ValidationFailed:
			// As gqlgen's transports answer a document that does not
			// parse or validate.
			status = http.StatusUnprocessableEntity
		}
	}
	return status
}

func writeResponse(w http.ResponseWriter, status int, resp *graphql.Response) {
	b, err := json.Marshal(resp)
	if err != nil {
		// Data is raw JSON the executor produced and errors are plain
		// structs: this cannot fail for a response we built.
		b = []byte(`{"errors":[{"message":"internal error: response not encodable","extensions":{"code":"INTERNAL"}}]}`)
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// readBody reads the whole body, within the limit MaxBytesHandler set.
func (t *transports) readBody(r *http.Request) ([]byte, *requestError) {
	if r.Body == nil {
		return nil, badRequest("empty request body: send a JSON object such as {\"query\": \"{ health { status } }\"}")
	}
	b, err := io.ReadAll(r.Body)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, &requestError{status: http.StatusRequestEntityTooLarge, code: apperr.RequestTooLarge,
			msg: fmt.Sprintf("request body is larger than the limit of %d bytes (--max-body)", tooLarge.Limit)}
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, &requestError{status: http.StatusRequestTimeout, code: apperr.BadRequest,
			msg: "the request body did not arrive in time"}
	case err != nil:
		return nil, badRequest("could not read the request body: %v", err)
	}
	return b, nil
}

// wireParams is the JSON request of the GraphQL-over-HTTP spec.
type wireParams struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
	Extensions    map[string]any `json:"extensions"`
}

// decodeParams decodes one JSON request (a POST or SSE body, a websocket
// subscribe payload) and says precisely what is wrong with a bad one.
func decodeParams(body []byte) (*graphql.RawParams, *requestError) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	switch {
	case len(trimmed) == 0:
		return nil, badRequest("empty request: send a JSON object such as {\"query\": \"{ health { status } }\"}")
	case trimmed[0] == '[':
		return nil, &requestError{status: http.StatusBadRequest, code: apperr.BatchingNotSupported,
			msg: "batched requests (a JSON array) are not supported: send one operation per request"}
	}
	var p wireParams
	if err := decodeJSON(body, &p); err != nil {
		return nil, err
	}
	if strings.TrimSpace(p.Query) == "" && p.Extensions["persistedQuery"] == nil {
		return nil, badRequest(`missing query: the request needs a "query" string (or an automatic persisted query hash in "extensions")`)
	}
	return &graphql.RawParams{Query: p.Query, OperationName: p.OperationName, Variables: p.Variables, Extensions: p.Extensions}, nil
}

// decodeJSON decodes exactly one JSON value into v (numbers kept as
// json.Number, as gqlgen does), naming the position of a syntax error and
// the field of a type error.
func decodeJSON(data []byte, v any) *requestError {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	err := dec.Decode(v)
	if err == nil {
		var extra json.RawMessage
		if dec.Decode(&extra) != io.EOF {
			line, col := position(data, dec.InputOffset())
			return badRequest("malformed JSON at line %d, column %d: unexpected data after the JSON value", line, col)
		}
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := position(data, syn.Offset)
		return badRequest("malformed JSON at line %d, column %d: %s", line, col, syn.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		line, col := position(data, int64(len(data)))
		return badRequest("malformed JSON at line %d, column %d: unexpected end of input", line, col)
	case errors.As(err, &typ):
		line, col := position(data, typ.Offset)
		if typ.Field == "" {
			return badRequest("malformed request at line %d, column %d: want a JSON object such as {\"query\": \"...\"}, not a JSON %s", line, col, typ.Value)
		}
		return badRequest("malformed request at line %d, column %d: %q must be %s, not a JSON %s", line, col, typ.Field, jsonKind(typ.Type), typ.Value)
	default:
		return badRequest("malformed JSON: %v", err)
	}
}

// position turns the count of bytes read when a decoder stopped into the
// 1-based line and column of the last byte read.
func position(data []byte, read int64) (line, col int) {
	i := int(min(max(read-1, 0), int64(len(data))))
	before := data[:i]
	line = 1 + bytes.Count(before, []byte("\n"))
	col = i - bytes.LastIndexByte(before, '\n')
	return line, col
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Bool:
		return "a boolean"
	default:
		return "a " + t.Kind().String()
	}
}

// postTransport serves POST application/json.
type postTransport struct{ *transports }

func (postTransport) Supports(r *http.Request) bool {
	return r.Method == http.MethodPost && r.Header.Get("Upgrade") == "" && isJSON(r)
}

func isJSON(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

func (t postTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	start := graphql.Now()
	body, rerr := t.readBody(r)
	if rerr == nil {
		var params *graphql.RawParams
		if params, rerr = decodeParams(body); rerr == nil {
			t.execute(w, r, "POST", exec, params, start)
			return
		}
	}
	t.reject(w, r, "POST", rerr)
}

func (t *transports) execute(w http.ResponseWriter, r *http.Request, kind string, exec graphql.GraphExecutor,
	params *graphql.RawParams, start time.Time,
) {
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	rc, errs := exec.CreateOperationContext(r.Context(), params)
	if errs != nil {
		t.operationFailed(w, r, kind, exec, rc, errs)
		return
	}
	if kind == "GET" && rc.Operation.Operation != ast.Query {
		t.reject(w, r, kind, &requestError{status: http.StatusMethodNotAllowed, code: apperr.BadRequest,
			msg: fmt.Sprintf("GET serves queries only: send this %s with POST", rc.Operation.Operation)})
		return
	}
	responses, ctx := exec.DispatchOperation(r.Context(), rc)
	writeResponse(w, http.StatusOK, responses(ctx))
}

// getTransport serves GET ?query=...&variables=...; the query string
// counts against the body limit.
type getTransport struct{ *transports }

func (getTransport) Supports(r *http.Request) bool {
	return r.Method == http.MethodGet && r.Header.Get("Upgrade") == ""
}

func (t getTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	start := graphql.Now()
	params, rerr := t.params(r)
	if rerr != nil {
		t.reject(w, r, "GET", rerr)
		return
	}
	t.execute(w, r, "GET", exec, params, start)
}

func (t getTransport) params(r *http.Request) (*graphql.RawParams, *requestError) {
	if n := int64(len(r.URL.RawQuery)); n > t.limit {
		return nil, &requestError{status: http.StatusRequestEntityTooLarge, code: apperr.RequestTooLarge,
			msg: fmt.Sprintf("query string of %d bytes is larger than the limit of %d bytes (--max-body): send large requests with POST", n, t.limit)}
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("malformed query string: %v", err)
	}
	p := &graphql.RawParams{Query: q.Get("query"), OperationName: q.Get("operationName")}
	if v := q.Get("variables"); v != "" {
		if rerr := decodeJSON([]byte(v), &p.Variables); rerr != nil {
			rerr.msg = "variables: " + rerr.msg
			return nil, rerr
		}
	}
	if v := q.Get("extensions"); v != "" {
		if rerr := decodeJSON([]byte(v), &p.Extensions); rerr != nil {
			rerr.msg = "extensions: " + rerr.msg
			return nil, rerr
		}
	}
	if strings.TrimSpace(p.Query) == "" && p.Extensions["persistedQuery"] == nil {
		return nil, badRequest("missing query: GET /graphql needs ?query=... (or an automatic persisted query hash in extensions)")
	}
	return p, nil
}

// sseTransport serves POST application/json with Accept: text/event-stream
// (graphql-sse, distinct connections mode). Request mistakes are answered
// as JSON with their status before any event is sent.
type sseTransport struct{ *transports }

func (sseTransport) Supports(r *http.Request) bool {
	return r.Method == http.MethodPost && r.Header.Get("Upgrade") == "" && isJSON(r) &&
		strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

func (t sseTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	start := graphql.Now()
	body, rerr := t.readBody(r)
	var params *graphql.RawParams
	if rerr == nil {
		params, rerr = decodeParams(body)
	}
	if rerr != nil {
		t.reject(w, r, "SSE", rerr)
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	ctx := r.Context()
	rc, errs := exec.CreateOperationContext(ctx, params)
	var responses graphql.ResponseHandler
	if errs != nil {
		if statusFor(errs) >= 400 {
			t.operationFailed(w, r, "SSE", exec, rc, errs)
			return
		}
		// Errors that a POST answers with 200 (limits, a persisted query
		// miss) arrive as the stream's only event.
		ctx = graphql.WithOperationContext(ctx, rc)
		responses = graphql.OneShot(exec.DispatchError(ctx, errs))
	} else {
		responses, ctx = exec.DispatchOperation(ctx, rc)
	}

	flush := http.NewResponseController(w).Flush
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, ":\n\n")
	_ = flush()
	for {
		resp := responses(ctx)
		if resp == nil {
			break
		}
		b, err := json.Marshal(resp)
		if err != nil {
			t.log.ErrorContext(ctx, "encode SSE event", "error", err)
			return
		}
		if _, err := fmt.Fprintf(w, "event: next\ndata: %s\n\n", b); err != nil {
			return // the client went away
		}
		_ = flush()
	}
	_, _ = io.WriteString(w, "event: complete\n\n")
	_ = flush()
}

// unsupportedTransport answers every request no other transport took: a
// wrong method or content type.
type unsupportedTransport struct{ *transports }

func (unsupportedTransport) Supports(*http.Request) bool { return true }

func (t unsupportedTransport) Do(w http.ResponseWriter, r *http.Request, _ graphql.GraphExecutor) {
	var e *requestError
	switch {
	case r.Method != http.MethodPost && r.Method != http.MethodGet:
		e = &requestError{status: http.StatusMethodNotAllowed, code: apperr.BadRequest,
			msg: fmt.Sprintf("method %s is not supported on /graphql: use POST (or GET for queries)", r.Method)}
	case r.Header.Get("Content-Type") == "":
		e = badRequest("missing Content-Type: send the request as application/json")
	default:
		e = badRequest("unsupported Content-Type %q: send the request as application/json", r.Header.Get("Content-Type"))
	}
	t.reject(w, r, r.Method, e)
}

// clientAddrKey carries the client's address (the TCP peer, without port)
// to the websocket init check.
type clientAddrKey struct{}

func withClientAddr(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := r.RemoteAddr
		if i := strings.LastIndexByte(addr, ':'); i > 0 {
			addr = strings.Trim(addr[:i], "[]")
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientAddrKey{}, addr)))
	})
}

func clientAddr(ctx context.Context) string {
	a, _ := ctx.Value(clientAddrKey{}).(string)
	return a
}
