package npmschema

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
)

// Middleware wraps a (fake) NPM server: each request and response is
// buffered and checked, and violations go to report. Traffic passes through
// unchanged; connections hijacked by fault injection are not checked.
func (s *Spec) Middleware(report func(error)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var reqBody []byte
			if r.Body != nil {
				b, err := io.ReadAll(r.Body)
				_ = r.Body.Close()
				r.Body = io.NopCloser(bytes.NewReader(b))
				if err != nil {
					next.ServeHTTP(w, r)
					return
				}
				reqBody = b
			}
			method, path := r.Method, r.URL.Path
			rec := &recorder{ResponseWriter: w}
			next.ServeHTTP(rec, r)
			if rec.hijacked || (rec.status == 0 && r.Context().Err() != nil) {
				// Dropped by fault injection, or the client gave up
				// before any answer: nothing was exchanged.
				return
			}
			if rec.status == 0 {
				rec.status = http.StatusOK
			}
			if err := s.Check(method, path, reqBody, rec.status, rec.body.Bytes()); err != nil {
				report(err)
			}
		})
	}
}

type recorder struct {
	http.ResponseWriter
	status   int
	body     bytes.Buffer
	hijacked bool
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body.Write(p)
	return r.ResponseWriter.Write(p)
}

// Hijack lets fault injection drop the connection through the wrapper.
func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("npmschema: response writer cannot hijack")
	}
	r.hijacked = true
	return hj.Hijack()
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Transport checks a client's traffic instead (for tests against a real
// NPM): wrap the client's transport; base nil means http.DefaultTransport.
func (s *Spec) Transport(report func(error), base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		var reqBody []byte
		if req.Body != nil && req.Body != http.NoBody {
			b, err := io.ReadAll(req.Body)
			_ = req.Body.Close()
			if err != nil {
				return nil, err
			}
			reqBody = b
			req = req.Clone(req.Context())
			req.Body = io.NopCloser(bytes.NewReader(b))
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		}
		resp, err := base.RoundTrip(req)
		if err != nil {
			return resp, err
		}
		body, rerr := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if rerr != nil {
			return nil, rerr
		}
		if cerr := s.Check(req.Method, req.URL.Path, reqBody, resp.StatusCode, body); cerr != nil {
			report(cerr)
		}
		return resp, nil
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
