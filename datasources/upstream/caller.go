package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-resty/resty/v2"
)

// CallInfo describes one finished upstream attempt, for metrics.
type CallInfo struct {
	Upstream string
	Method   string
	Route    string // path template, e.g. /stacks/{id}
	Status   int    // 0 when no response arrived
	Duration time.Duration
}

// Observer receives every finished attempt (metrics, call counters).
type Observer func(CallInfo)

// Config configures a Caller.
type Config struct {
	Upstream   string // name used in errors, logs and metrics
	BaseURL    string // e.g. http://gitea:3000/api/v1
	HTTPClient *http.Client
	Logger     *slog.Logger
	Timeout    time.Duration // default per-call timeout
	MaxRetries int           // retries of idempotent calls; 0 means the default (3)
	RetryWait  time.Duration // first backoff step; 0 means 200ms
	RetryMax   time.Duration // backoff cap; 0 means 3s
	Observer   Observer
	// ErrorMessage extracts the upstream's message from an error body.
	ErrorMessage func(body []byte) string
}

// Caller performs upstream calls for one client.
type Caller struct {
	cfg  Config
	rest *resty.Client
	log  *slog.Logger
}

// NewCaller builds a Caller. resty's own retries stay off: resty would retry
// POST too; we decide retries here, per call.
func NewCaller(cfg Config) *Caller {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	// Never a cookie jar: Portainer answers cookie-authenticated writes with a
	// CSRF 403 (contracts §2.1).
	hc := *cfg.HTTPClient
	hc.Jar = nil
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 3
	}
	if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	}
	if cfg.RetryWait <= 0 {
		cfg.RetryWait = 200 * time.Millisecond
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 3 * time.Second
	}
	r := resty.NewWithClient(&hc).
		SetBaseURL(strings.TrimRight(cfg.BaseURL, "/")).
		SetRetryCount(0).
		SetHeader("Accept", "application/json").
		SetHeader("User-Agent", "appmanage")
	return &Caller{cfg: cfg, rest: r, log: cfg.Logger.With("upstream", cfg.Upstream)}
}

// ParseBaseURL parses an upstream's configured root URL, which must be
// http(s) with a host. Its errors never repeat a password the URL carries:
// url.Parse's own error quotes the whole URL, userinfo included, so it is
// reported by kind only.
func ParseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, errors.New("invalid URL: not parsable")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid URL %q: want http(s)://host[:port]", u.Redacted())
	}
	return u, nil
}

// Call is one request.
type Call struct {
	Method string
	// Route is the path template used for logs and metrics ("/stacks/{id}");
	// Path is the concrete path ("/stacks/12"), relative to BaseURL.
	Route  string
	Path   string
	Query  url.Values
	Header http.Header
	Body   any // JSON-encoded unless it is []byte or io.Reader
	Result any // JSON-decoded on 2xx when non-nil
	// Memo, when set, reuses what the same request's previous, byte-equal
	// answer decoded to (polled lists); see DecodeMemo. The Response then
	// has no Body.
	Memo    *DecodeMemo
	Timeout time.Duration // per attempt; 0 means the Caller's default
	// Idempotent overrides the method's default (GET, HEAD, PUT, DELETE,
	// OPTIONS are idempotent; POST and PATCH are not). Non-idempotent calls
	// are never retried, whatever the failure.
	Idempotent *bool
	// NoRetry disables retries even for idempotent calls.
	NoRetry bool
	// Stream, when set, reads a 2xx answer's body as it arrives (Docker's
	// JSON-lines progress) instead of the body being read whole; Result
	// and Memo are then ignored. A failure to read the body counts as a
	// connection failure (status 0, retried when the call is idempotent);
	// an error Stream returns for what it read is returned unchanged and
	// never retried. The per-attempt timeout covers the whole stream.
	Stream func(body io.Reader) error
}

// Response is a successful call's raw answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Bool returns a pointer to b, for Call.Idempotent.
func Bool(b bool) *bool { return &b }

func idempotent(call Call) bool {
	if call.Idempotent != nil {
		return *call.Idempotent
	}
	switch call.Method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

// Do performs the call, retrying an idempotent one on connection errors, 429
// and 502-504 with capped, jittered exponential backoff that honours ctx. Any
// other failure is returned as an *APIError.
func (c *Caller) Do(ctx context.Context, call Call) (*Response, error) {
	if call.Route == "" {
		call.Route = call.Path
	}
	retries := c.cfg.MaxRetries
	if call.NoRetry || !idempotent(call) {
		retries = 0
	}
	var lastErr error
	for attempt := 0; ; attempt++ {
		resp, err := c.once(ctx, call)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		var ae *APIError
		if attempt >= retries || !errors.As(err, &ae) || !Transient(ae.Status) || ctx.Err() != nil {
			return nil, lastErr
		}
		wait := c.backoff(attempt)
		c.log.DebugContext(ctx, "retrying upstream call", "method", call.Method, "route", call.Route, "attempt", attempt+1, "wait", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, lastErr
		case <-t.C:
		}
	}
}

func (c *Caller) backoff(attempt int) time.Duration {
	d := c.cfg.RetryWait << attempt
	if d > c.cfg.RetryMax || d <= 0 {
		d = c.cfg.RetryMax
	}
	// Jitter between 0.5x and 1.5x, so concurrent retries spread out.
	return time.Duration(float64(d) * (0.5 + rand.Float64()))
}

func (c *Caller) once(ctx context.Context, call Call) (*Response, error) {
	timeout := call.Timeout
	if timeout <= 0 {
		timeout = c.cfg.Timeout
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	req := c.rest.R().SetContext(actx).SetDoNotParseResponse(true)
	if call.Query != nil {
		req.SetQueryParamsFromValues(call.Query)
	}
	for k, vs := range call.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if call.Body != nil {
		switch b := call.Body.(type) {
		case []byte, io.Reader, string:
			req.SetBody(b)
		default:
			req.SetHeader("Content-Type", "application/json").SetBody(b)
		}
	}
	start := time.Now()
	// failed reports an attempt that got no (complete) answer: status 0.
	failed := func(err error) (*Response, error) {
		dur := time.Since(start)
		c.observe(call, 0, dur)
		if ctx.Err() == nil && actx.Err() != nil {
			err = fmt.Errorf("timed out after %s: %w", timeout, context.DeadlineExceeded)
		}
		c.log.WarnContext(ctx, "upstream call failed", "method", call.Method, "route", call.Route, "latency", dur, "error", err)
		return nil, &APIError{Upstream: c.cfg.Upstream, Method: call.Method, Path: call.Path, Err: err}
	}
	resp, err := req.Execute(call.Method, call.Path)
	if err != nil {
		return failed(err)
	}
	raw := resp.RawBody()
	defer raw.Close()
	if call.Stream != nil && resp.StatusCode() >= 200 && resp.StatusCode() <= 299 {
		return c.stream(ctx, actx, call, resp, raw, start, timeout)
	}
	buf := new([]byte)
	if call.Memo != nil {
		// A polled list: read into a reused buffer, which a memo hit then
		// leaves as the only copy made.
		buf = getBuffer()
		defer putBuffer(buf)
	}
	body, err := readInto(buf, raw, resp.RawResponse.ContentLength)
	if err != nil {
		return failed(err)
	}
	status := resp.StatusCode()
	dur := time.Since(start)
	c.observe(call, status, dur)
	c.log.DebugContext(ctx, "upstream call", "method", call.Method, "route", call.Route, "status", status, "latency", dur)
	if status < 200 || status > 299 {
		msg := ""
		if c.cfg.ErrorMessage != nil {
			msg = c.cfg.ErrorMessage(body)
		}
		if msg == "" {
			msg = http.StatusText(status)
		}
		return nil, &APIError{Upstream: c.cfg.Upstream, Method: call.Method, Path: call.Path, Status: status, Message: msg}
	}
	if call.Result != nil && len(body) > 0 {
		decode := decodeJSON
		if call.Memo != nil {
			key := call.Path + "?" + call.Query.Encode()
			decode = func(body []byte, v any) error { return decodeMemoized(call.Memo, key, body, v) }
		}
		if err := decode(body, call.Result); err != nil {
			return nil, &APIError{Upstream: c.cfg.Upstream, Method: call.Method, Path: call.Path, Status: status,
				Message: "undecodable response", Err: err}
		}
	}
	if call.Memo != nil {
		body = nil // the reused buffer: never handed out
	}
	return &Response{Status: status, Header: resp.Header(), Body: body}, nil
}

// stream hands a 2xx body to call.Stream, telling read failures (a
// connection failure, retried like one) from what Stream made of the data.
func (c *Caller) stream(ctx, actx context.Context, call Call, resp *resty.Response, raw io.Reader, start time.Time, timeout time.Duration) (*Response, error) {
	status := resp.StatusCode()
	r := &readErrRecorder{r: raw}
	err := call.Stream(r)
	dur := time.Since(start)
	if r.err != nil {
		c.observe(call, 0, dur)
		rerr := r.err
		if ctx.Err() == nil && actx.Err() != nil {
			rerr = fmt.Errorf("timed out after %s: %w", timeout, context.DeadlineExceeded)
		}
		c.log.WarnContext(ctx, "upstream stream broke", "method", call.Method, "route", call.Route, "latency", dur, "error", rerr)
		return nil, &APIError{Upstream: c.cfg.Upstream, Method: call.Method, Path: call.Path, Err: rerr}
	}
	c.observe(call, status, dur)
	c.log.DebugContext(ctx, "upstream call", "method", call.Method, "route", call.Route, "status", status, "latency", dur, "streamed", true)
	if err != nil {
		return nil, err
	}
	return &Response{Status: status, Header: resp.Header()}, nil
}

// readErrRecorder keeps the first read error other than io.EOF.
type readErrRecorder struct {
	r   io.Reader
	err error
}

func (x *readErrRecorder) Read(p []byte) (int, error) {
	if x.err != nil {
		return 0, x.err
	}
	n, err := x.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		x.err = err
	}
	return n, err
}

func (c *Caller) observe(call Call, status int, d time.Duration) {
	if c.cfg.Observer != nil {
		c.cfg.Observer(CallInfo{Upstream: c.cfg.Upstream, Method: call.Method, Route: call.Route, Status: status, Duration: d})
	}
}

// maxBody bounds an upstream answer.
const maxBody = 64 << 20

// buffers holds answer buffers of the polled lists: each poll reads
// megabytes that, when unchanged, are dropped at once.
var buffers sync.Pool

func getBuffer() *[]byte {
	if b, ok := buffers.Get().(*[]byte); ok {
		return b
	}
	return new([]byte)
}

func putBuffer(b *[]byte) { buffers.Put(b) }

// readInto reads an answer whole into *buf, growing it when needed: in one
// allocation when its length is announced (the polled lists run to
// megabytes). net/http's body reader ends at the announced length and
// reports a shorter body as an error.
func readInto(buf *[]byte, r io.Reader, length int64) ([]byte, error) {
	b := (*buf)[:0]
	if length > 0 && length <= maxBody {
		if int64(cap(b)) < length {
			b = make([]byte, length)
		}
		b = b[:length]
		n, err := io.ReadFull(r, b)
		*buf = b
		return b[:n], err
	}
	w := bytes.NewBuffer(b)
	_, err := w.ReadFrom(io.LimitReader(r, maxBody))
	*buf = w.Bytes()
	return *buf, err
}
