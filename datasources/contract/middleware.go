package contract

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
)

// Middleware wraps a fake's handler: it buffers each request and response,
// runs Check and hands any violation to report. Traffic passes through
// unchanged. Requests matched by an Ignore option and connections hijacked by
// the handler (fault injection dropping them) are not checked.
func Middleware(v *Validator, report func(err error)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if v.Ignored(r) {
				next.ServeHTTP(w, r)
				return
			}
			var reqBody []byte
			if r.Body != nil {
				b, err := io.ReadAll(r.Body)
				_ = r.Body.Close()
				if err != nil {
					// The client went away mid-request; nothing to check.
					r.Body = io.NopCloser(bytes.NewReader(b))
					next.ServeHTTP(w, r)
					return
				}
				reqBody = b
				r.Body = io.NopCloser(bytes.NewReader(b))
			}
			orig := r.Clone(r.Context())
			rec := &recorder{ResponseWriter: w}
			next.ServeHTTP(rec, r)
			if rec.hijacked || (rec.status == 0 && r.Context().Err() != nil) {
				// Dropped by fault injection, or the client gave up before
				// any answer: there is no exchange to check.
				return
			}
			if rec.status == 0 {
				rec.status = http.StatusOK
			}
			if err := v.Check(orig, reqBody, rec.status, w.Header().Clone(), rec.body.Bytes()); err != nil {
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

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack lets fault injection drop the connection through the wrapper.
func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("contract: response writer cannot hijack")
	}
	r.hijacked = true
	return hj.Hijack()
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Transport validates the traffic of a client instead of a server: wrap a
// client's HTTPClient.Transport with it to check a real server's answers (and
// our requests) against the spec. base nil means http.DefaultTransport.
func Transport(v *Validator, report func(err error), base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		if v.Ignored(req) {
			return base.RoundTrip(req)
		}
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
		if cerr := v.Check(req, reqBody, resp.StatusCode, resp.Header, body); cerr != nil {
			report(cerr)
		}
		return resp, nil
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
