package upstream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestAPIErrorSentinels(t *testing.T) {
	tests := []struct {
		status int
		want   []error
		not    []error
	}{
		{404, []error{ErrNotFound}, []error{ErrConflict, ErrUnavailable}},
		{409, []error{ErrConflict}, []error{ErrNotFound}},
		{401, []error{ErrUnauthorized}, []error{ErrUnavailable}},
		{403, []error{ErrUnauthorized}, nil},
		{0, []error{ErrUnavailable}, []error{ErrNotFound}},
		{429, []error{ErrUnavailable}, nil},
		{502, []error{ErrUnavailable}, nil},
		{503, []error{ErrUnavailable}, nil},
		{504, []error{ErrUnavailable}, nil},
		{500, nil, []error{ErrUnavailable, ErrNotFound}},
	}
	for _, tt := range tests {
		var err error = &APIError{Upstream: "x", Method: "GET", Path: "/p", Status: tt.status}
		for _, w := range tt.want {
			if !errors.Is(err, w) {
				t.Errorf("%d: not %v", tt.status, w)
			}
		}
		for _, n := range tt.not {
			if errors.Is(err, n) {
				t.Errorf("%d: wrongly %v", tt.status, n)
			}
		}
	}
}

func newCaller(t *testing.T, h http.HandlerFunc) *Caller {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return NewCaller(Config{Upstream: "test", BaseURL: srv.URL, Timeout: 200 * time.Millisecond,
		RetryWait: time.Millisecond, RetryMax: 5 * time.Millisecond,
		ErrorMessage: func(b []byte) string { return string(b) }})
}

func TestRetriesOnlyIdempotentCallsOnTransientErrors(t *testing.T) {
	var n atomic.Int32
	c := newCaller(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) < 3 {
			w.WriteHeader(503)
			return
		}
		_, _ = w.Write([]byte(`{"v":1}`))
	})
	var out struct{ V int }
	if _, err := c.Do(context.Background(), Call{Method: "GET", Path: "/x", Result: &out}); err != nil || out.V != 1 || n.Load() != 3 {
		t.Fatalf("GET after two 503s: %v, v=%d, calls=%d", err, out.V, n.Load())
	}
	n.Store(0)
	_, err := c.Do(context.Background(), Call{Method: "POST", Path: "/x"})
	if !errors.Is(err, ErrUnavailable) || n.Load() != 1 {
		t.Fatalf("POST after a 503: %v, calls=%d; want one call", err, n.Load())
	}
	n.Store(-100) // keep failing
	_, err = c.Do(context.Background(), Call{Method: "PUT", Path: "/x", NoRetry: true})
	if n.Load() != -99 || err == nil {
		t.Fatalf("NoRetry PUT: %v, calls=%d", err, n.Load()+100)
	}
}

func TestNoRetryOn500AndErrorMessage(t *testing.T) {
	var n atomic.Int32
	c := newCaller(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(500)
		_, _ = w.Write([]byte("boom"))
	})
	_, err := c.Do(context.Background(), Call{Method: "GET", Path: "/x"})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 500 || ae.Message != "boom" || n.Load() != 1 {
		t.Fatalf("err = %v, calls = %d", err, n.Load())
	}
}

func TestTimeoutIsUnavailable(t *testing.T) {
	c := newCaller(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	c.cfg.MaxRetries = 0
	start := time.Now()
	_, err := c.Do(context.Background(), Call{Method: "POST", Path: "/x"})
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("err = %v after %s", err, time.Since(start))
	}
}

func TestParseBaseURLHidesPassword(t *testing.T) {
	if u, err := ParseBaseURL(" https://gitea:3000/ "); err != nil || u.Host != "gitea:3000" {
		t.Fatalf("valid URL: %v %v", u, err)
	}
	for _, raw := range []string{"", "gitea:3000", "ftp://u:s3cr3t-pw@x", "http://u:s3cr3t-pw@x/%zz", "http://u:s3cr3t-pw@"} {
		_, err := ParseBaseURL(raw)
		if err == nil || strings.Contains(err.Error(), "s3cr3t-pw") {
			t.Errorf("ParseBaseURL(<%d chars>) = %v; want an error without the password", len(raw), err)
		}
	}
}

// TestSecretsStayOutOfLogsAndErrors: neither the Authorization header nor
// a request body reaches a log line or an error, whether the call fails
// with an HTTP status, a timeout or a dropped connection.
func TestSecretsStayOutOfLogsAndErrors(t *testing.T) {
	const secret = "s3cr3t-token-value"
	var logs bytes.Buffer
	var mode atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch mode.Load() {
		case 0:
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"message":"bad request"}`))
		case 1:
			_, _ = io.Copy(io.Discard, r.Body) // else the server cannot see the client leave
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
		default:
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			_ = conn.Close()
		}
	}))
	t.Cleanup(srv.Close)
	c := NewCaller(Config{Upstream: "test", BaseURL: srv.URL, Timeout: 100 * time.Millisecond,
		MaxRetries: -1, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		ErrorMessage: func(b []byte) string { return string(b) }})
	for m := range int32(3) {
		mode.Store(m)
		_, err := c.Do(context.Background(), Call{
			Method: http.MethodPost, Route: "/login", Path: "/login",
			Header: http.Header{"Authorization": {"Bearer " + secret}},
			Body:   map[string]string{"password": secret},
		})
		if err == nil {
			t.Fatalf("mode %d: want an error", m)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("mode %d: error carries the secret: %v", m, err)
		}
	}
	if logs.Len() == 0 {
		t.Fatal("nothing was logged; the check below would prove nothing")
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("logs carry the secret:\n%s", logs.String())
	}
}

// TestStream: a 2xx body reaches Stream as it arrives; an error Stream
// makes of the data is returned unchanged and not retried; a body that
// breaks off is a connection failure, retried when idempotent; a non-2xx
// answer is an APIError and Stream never runs.
func TestStream(t *testing.T) {
	var n atomic.Int32
	c := newCaller(t, func(w http.ResponseWriter, r *http.Request) {
		call := n.Add(1)
		switch r.URL.Path {
		case "/ok":
			_, _ = io.WriteString(w, "a\nb\n")
		case "/cut":
			if call == 1 {
				w.Header().Set("Content-Length", "100")
				_, _ = io.WriteString(w, "partial")
				return // shorter than announced: the client's read fails
			}
			_, _ = io.WriteString(w, "whole\n")
		case "/bad":
			w.WriteHeader(404)
			_, _ = io.WriteString(w, "nope")
		}
	})
	ctx := context.Background()
	var got string
	read := func(r io.Reader) error {
		b, err := io.ReadAll(r)
		got = string(b)
		return err
	}
	if _, err := c.Do(ctx, Call{Method: http.MethodPost, Path: "/ok", Stream: read}); err != nil || got != "a\nb\n" {
		t.Fatalf("ok: %q, %v", got, err)
	}
	sentinel := errors.New("daemon said no")
	n.Store(0)
	_, err := c.Do(ctx, Call{Method: http.MethodPost, Path: "/ok", Idempotent: Bool(true), Stream: func(io.Reader) error { return sentinel }})
	if !errors.Is(err, sentinel) || n.Load() != 1 {
		t.Fatalf("stream error: %v after %d calls, want the sentinel once", err, n.Load())
	}
	n.Store(0)
	if _, err := c.Do(ctx, Call{Method: http.MethodPost, Path: "/cut", Idempotent: Bool(true), Stream: read}); err != nil || got != "whole\n" || n.Load() != 2 {
		t.Fatalf("cut: %q, %v after %d calls, want a retried success", got, err, n.Load())
	}
	n.Store(0)
	_, err = c.Do(ctx, Call{Method: http.MethodPost, Path: "/cut", Stream: read})
	if StatusOf(err) != 0 || !errors.Is(err, ErrUnavailable) || n.Load() != 1 {
		t.Fatalf("cut, not idempotent: %v after %d calls", err, n.Load())
	}
	ran := false
	_, err = c.Do(ctx, Call{Method: http.MethodPost, Path: "/bad", Stream: func(io.Reader) error { ran = true; return nil }})
	if StatusOf(err) != 404 || ran {
		t.Fatalf("404: %v, stream ran %v", err, ran)
	}
}
