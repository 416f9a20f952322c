// Package health probes the upstreams and the database for the health query
// and /readyz. Probes run in parallel with a timeout, and a report is cached
// briefly so a console polling health does not hammer the upstreams.
package health

import (
	"context"
	"sync"
	"time"
)

// Upstream is one probed dependency.
type Upstream struct {
	Name    string // gitea | portainer | npm
	URL     string
	Sandbox bool
	// Probe returns the upstream's version, or why it is unusable.
	Probe func(ctx context.Context) (string, error)
}

// UpstreamStatus is one upstream's probe result.
type UpstreamStatus struct {
	Name    string
	URL     string
	Sandbox bool
	Up      bool
	Version string
	Latency time.Duration
	Error   string
}

// Report is the state of everything appmanage depends on.
type Report struct {
	Sandbox   bool
	Database  bool
	Upstreams []UpstreamStatus
	At        time.Time
}

// Healthy reports whether everything answered.
func (r Report) Healthy() bool {
	if !r.Database {
		return false
	}
	for _, u := range r.Upstreams {
		if !u.Up {
			return false
		}
	}
	return true
}

// Checker probes and caches.
type Checker struct {
	upstreams []Upstream
	pingDB    func(ctx context.Context) error
	ttl       time.Duration
	timeout   time.Duration

	mu     sync.Mutex
	last   Report
	hasRep bool
}

// New returns a Checker; ttl is how long a report is reused.
func New(pingDB func(ctx context.Context) error, ttl time.Duration, upstreams ...Upstream) *Checker {
	return &Checker{upstreams: upstreams, pingDB: pingDB, ttl: ttl, timeout: 5 * time.Second}
}

// Report returns a fresh or recently cached report.
func (c *Checker) Report(ctx context.Context) Report {
	c.mu.Lock()
	if c.hasRep && time.Since(c.last.At) < c.ttl {
		r := c.last
		c.mu.Unlock()
		return r
	}
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	rep := Report{Upstreams: make([]UpstreamStatus, len(c.upstreams)), At: time.Now()}
	var wg sync.WaitGroup
	for i, u := range c.upstreams {
		rep.Sandbox = rep.Sandbox || u.Sandbox
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := UpstreamStatus{Name: u.Name, URL: u.URL, Sandbox: u.Sandbox}
			start := time.Now()
			v, err := u.Probe(ctx)
			st.Latency = time.Since(start)
			if err != nil {
				st.Error = err.Error()
			} else {
				st.Up, st.Version = true, v
			}
			rep.Upstreams[i] = st
		}()
	}
	rep.Database = c.pingDB == nil || c.pingDB(ctx) == nil
	wg.Wait()

	c.mu.Lock()
	c.last, c.hasRep = rep, true
	c.mu.Unlock()
	return rep
}
