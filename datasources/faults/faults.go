// Package faults injects failures and latency into the fake upstream servers:
// fail the next N calls of a route with a status, delay them past a client's
// timeout, or drop the connection; add fixed latency per call; count calls per
// route. Every fake registers its routes through an Injector.
package faults

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"time"
)

// Phase says whether a fault strikes before the fake does the work, or after
// it (the work is done but the caller never sees the answer, as when a
// response is lost on the wire).
type Phase int

const (
	Before Phase = iota
	After
)

// Fault describes what happens to the next Times calls of a route.
type Fault struct {
	Status int           // answer with this status (and Body) instead of the real response
	Body   string        // raw body for Status; a JSON error in the upstream's shape is typical
	Delay  time.Duration // sleep this long first (cut short when the client goes away)
	Drop   bool          // close the connection without an answer
	Times  int           // how many calls it applies to; 0 means 1
	Phase  Phase
}

type rule struct {
	f    Fault
	left int
}

// Injector holds the rules and counters of one fake.
type Injector struct {
	mu      sync.Mutex
	rules   map[string][]*rule
	latency time.Duration
	calls   map[string]int
}

// New returns an empty Injector.
func New() *Injector {
	return &Injector{rules: map[string][]*rule{}, calls: map[string]int{}}
}

// Fail queues a fault for route, which is a ServeMux pattern exactly as the
// fake registered it ("POST /api/v1/user/repos"), or "*" for any route.
func (in *Injector) Fail(route string, f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules[route] = append(in.rules[route], &rule{f: f, left: f.Times})
}

// Clear removes every pending fault.
func (in *Injector) Clear() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules = map[string][]*rule{}
}

// SetLatency adds a fixed delay to every call.
func (in *Injector) SetLatency(d time.Duration) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.latency = d
}

// Calls returns how many calls route has received.
func (in *Injector) Calls(route string) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.calls[route]
}

// AllCalls returns a copy of the per-route counters.
func (in *Injector) AllCalls() map[string]int {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make(map[string]int, len(in.calls))
	for k, v := range in.calls {
		out[k] = v
	}
	return out
}

// Routes returns the routes called so far, sorted.
func (in *Injector) Routes() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([]string, 0, len(in.calls))
	for k := range in.calls {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ResetCalls zeroes the counters.
func (in *Injector) ResetCalls() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.calls = map[string]int{}
}

func (in *Injector) take(route string) (Fault, bool, time.Duration) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.calls[route]++
	for _, key := range []string{route, "*"} {
		rs := in.rules[key]
		for i, r := range rs {
			if r.left > 0 {
				r.left--
				if r.left == 0 {
					in.rules[key] = append(rs[:i:i], rs[i+1:]...)
				}
				return r.f, true, in.latency
			}
		}
	}
	return Fault{}, false, in.latency
}

// Handle registers h on mux under pattern, wrapped with fault injection.
func (in *Injector) Handle(mux *http.ServeMux, pattern string, h http.Handler) {
	mux.Handle(pattern, in.Wrap(pattern, h))
}

// Wrap wraps h with the faults queued for route.
func (in *Injector) Wrap(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body first: net/http notices a client that went away
		// (and cancels r.Context) only once the body has been consumed, so
		// a delay would otherwise outlast the client's timeout.
		if r.Body != nil {
			body, err := io.ReadAll(r.Body)
			_ = r.Body.Close()
			if err != nil {
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		f, ok, latency := in.take(route)
		if latency > 0 && !sleep(r, latency) {
			return
		}
		if !ok {
			h.ServeHTTP(w, r)
			return
		}
		if f.Delay > 0 && !sleep(r, f.Delay) && f.Phase == Before {
			// The client gave up while we waited: the call never happened.
			return
		}
		if f.Phase == After {
			// Do the work, then lose or replace the answer.
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r.WithContext(withoutCancel(r)))
		}
		switch {
		case f.Drop:
			drop(w)
		case f.Status != 0:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(f.Status)
			_, _ = w.Write([]byte(f.Body))
		case f.Phase == Before:
			h.ServeHTTP(w, r)
		default:
			// After-phase delay only: the work is done; answer late with
			// the real result (the client has probably timed out).
			drop(w)
		}
	})
}

func sleep(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.Context().Done():
		return false
	case <-t.C:
		return true
	}
}

func drop(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}
