package contract

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
)

// Exchange is one request and its answer, both bodies buffered.
type Exchange struct {
	Request     *http.Request // as it arrived, before the handler ran
	RequestBody []byte
	Status      int
	Header      http.Header
	Body        []byte
}

// CheckFunc checks one exchange against a spec; ignore, when not nil, skips
// requests the spec does not cover.
type CheckFunc func(Exchange) error

// WrapHandler buffers each request and response of a (fake) server, runs
// check and hands any violation to report. Traffic passes through
// unchanged. Requests skipped by ignore and connections hijacked by the
// handler (fault injection dropping them) are not checked.
func WrapHandler(ignore func(*http.Request) bool, check CheckFunc, report func(error)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if ignore != nil && ignore(r) {
				next.ServeHTTP(w, r)
				return
			}
			var reqBody []byte
			if r.Body != nil {
				b, err := io.ReadAll(r.Body)
				_ = r.Body.Close()
				r.Body = io.NopCloser(bytes.NewReader(b))
				if err != nil {
					// The client went away mid-request; nothing to check.
					next.ServeHTTP(w, r)
					return
				}
				reqBody = b
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
			x := Exchange{Request: orig, RequestBody: reqBody, Status: rec.status, Header: w.Header().Clone(), Body: rec.body.Bytes()}
			if err := check(x); err != nil {
				report(err)
			}
		})
	}
}

// WrapTransport checks a client's traffic instead of a server's: wrap a
// client's transport with it to check a real server's answers (and our
// requests). base nil means http.DefaultTransport.
func WrapTransport(ignore func(*http.Request) bool, check CheckFunc, report func(error), base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		if ignore != nil && ignore(req) {
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
		x := Exchange{Request: req, RequestBody: reqBody, Status: resp.StatusCode, Header: resp.Header, Body: body}
		if cerr := check(x); cerr != nil {
			report(cerr)
		}
		return resp, nil
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

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
