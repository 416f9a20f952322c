package proxymanager_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/appmanage/appmanage/datasources/proxymanager"
	"github.com/appmanage/appmanage/datasources/proxymanager/fake"
	"github.com/appmanage/appmanage/datasources/proxymanager/npmschema"
	"github.com/appmanage/appmanage/datasources/suite"
)

// clock is a settable clock shared by the client and the fake.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one test's NPM (fake, or real on a real-server run) and client.
// Every exchange is checked against NPM's schema tree; violations fail the
// test at cleanup.
type env struct {
	t    *testing.T
	cfg  proxymanager.Config
	tgt  *suite.NPMTarget
	fake *fake.Server // nil against a real server
	c    *proxymanager.Client
	spec *npmschema.Spec
	clk  *clock // nil against a real server
	base string // unique parent domain of this test's hosts

	mu   sync.Mutex
	errs []error
}

type envOpt func(*envSetup)

type envSetup struct {
	fake []func(*fake.Options)
	cfg  []func(*proxymanager.Config)
}

// resolvable is a forward host every nginx resolves when it loads a
// config: an IP literal. A name of no running container is refused ("host
// not found in upstream"), which on a real server would fail every test
// that expects a host online.
const resolvable = "127.0.0.1"

// withFake tunes the fake NPM's options (ignored against a real server).
func withFake(f func(*fake.Options)) envOpt {
	return func(s *envSetup) { s.fake = append(s.fake, f) }
}

func withConfig(f func(*proxymanager.Config)) envOpt {
	return func(s *envSetup) { s.cfg = append(s.cfg, f) }
}

func newEnv(t *testing.T, opts ...envOpt) *env {
	t.Helper()
	var s envSetup
	for _, o := range opts {
		o(&s)
	}
	e := &env{t: t, spec: npmschema.ForTest(t)}
	report := func(err error) { e.mu.Lock(); e.errs = append(e.errs, err); e.mu.Unlock() }
	var sopts []suite.NPMOption
	if suite.Real() {
		// A real NPM may answer with fields its schema lacks: those are
		// reported, not failed; a missing or retyped field still fails.
		e.spec.ReportAdditions(func(err error) { t.Logf("NPM answer carries fields beyond its schema: %v", err) })
		sopts = append(sopts, suite.WithNPMTransport(func(rt http.RoundTripper) http.RoundTripper { return e.spec.Transport(report, rt) }))
	} else {
		e.clk = &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
		sopts = append(sopts,
			suite.WithNPMServerWrap(e.spec.Middleware(report)),
			suite.WithNPMFake(func(o *fake.Options) {
				o.Now = e.clk.Now
				for _, f := range s.fake {
					f(o)
				}
			}))
	}
	e.cfg, e.tgt = suite.NPM(t, sopts...)
	e.fake = e.tgt.Fake
	e.base = e.tgt.Domain(t)
	if e.clk != nil {
		e.cfg.Now = e.clk.Now
		e.cfg.RetryWait = time.Millisecond
	}
	for _, f := range s.cfg {
		f(&e.cfg)
	}
	e.c = e.client(e.cfg)
	t.Cleanup(func() {
		for _, err := range e.take() {
			t.Errorf("NPM contract violation: %v", err)
		}
	})
	return e
}

func (e *env) client(cfg proxymanager.Config) *proxymanager.Client {
	e.t.Helper()
	c, err := proxymanager.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// take returns and clears the contract violations seen so far.
func (e *env) take() []error {
	e.mu.Lock()
	defer e.mu.Unlock()
	errs := e.errs
	e.errs = nil
	return errs
}

// dom returns label under this test's unique domain.
func (e *env) dom(label string) string { return label + "." + e.base }

// requireFake skips on a real-server run.
func (e *env) requireFake() *fake.Server {
	e.t.Helper()
	return e.tgt.RequireFake(e.t)
}

// create makes a host for domains (cleaned up on a real server).
func (e *env) create(domains ...string) *proxymanager.ProxyHost {
	e.t.Helper()
	h, err := e.c.CreateProxyHost(ctx(e.t), proxymanager.ProxyHostRequest{
		DomainNames: domains, ForwardScheme: "http", ForwardHost: resolvable, ForwardPort: 8080,
	})
	if err != nil {
		e.t.Fatalf("create %v: %v", domains, err)
	}
	e.tgt.Cleanup(e.t, e.c, h.ID)
	return h
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// npmErr is an error body in NPM's shape, for injected faults.
func npmErr(status int, msg string) string {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": status, "message": msg}})
	return string(b)
}
