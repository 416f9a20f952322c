package proxymanager_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/appmanage/appmanage/datasources/faults"
	"github.com/appmanage/appmanage/datasources/proxymanager"
	"github.com/appmanage/appmanage/datasources/proxymanager/fake"
	"github.com/appmanage/appmanage/datasources/upstream"
)

// Calls against host 1, which each test creates first.
func listCall(e *env) error { _, err := e.c.ListProxyHosts(ctx(e.t)); return err }
func getCall(e *env) error  { _, err := e.c.GetProxyHost(ctx(e.t), 1); return err }
func certsCall(e *env) error {
	_, err := e.c.ListCertificates(ctx(e.t))
	return err
}
func createCall(e *env) error {
	_, err := e.c.CreateProxyHost(ctx(e.t), proxymanager.ProxyHostRequest{
		DomainNames: []string{e.dom("new")}, ForwardScheme: "http", ForwardHost: "app", ForwardPort: 80,
	})
	return err
}
func updateCall(e *env) error {
	_, err := e.c.UpdateProxyHost(ctx(e.t), 1, proxymanager.ProxyHostUpdate{ForwardPort: ptr(81)})
	return err
}

type method struct {
	name       string
	route      string
	idempotent bool // retried by the client on gateway errors, drops, timeouts
	public     bool // no token involved
	setup      func(e *env)
	call       func(e *env) error
}

func methods() []method {
	return []method{
		{name: "ListProxyHosts", route: fake.RouteList, idempotent: true, call: listCall},
		{name: "GetProxyHost", route: fake.RouteGet, idempotent: true, call: getCall},
		{name: "CreateProxyHost", route: fake.RouteCreate, call: createCall},
		{name: "UpdateProxyHost", route: fake.RouteUpdate, idempotent: true, call: updateCall},
		{name: "DeleteProxyHost", route: fake.RouteDelete, idempotent: true,
			call: func(e *env) error { return e.c.DeleteProxyHost(ctx(e.t), 1) }},
		{name: "EnableProxyHost", route: fake.RouteEnable, idempotent: true,
			setup: func(e *env) {
				if err := e.c.DisableProxyHost(ctx(e.t), 1); err != nil {
					e.t.Fatal(err)
				}
			},
			call: func(e *env) error { return e.c.EnableProxyHost(ctx(e.t), 1) }},
		{name: "DisableProxyHost", route: fake.RouteDisable, idempotent: true,
			call: func(e *env) error { return e.c.DisableProxyHost(ctx(e.t), 1) }},
		{name: "CheckOnline", route: fake.RouteGet, idempotent: true,
			call: func(e *env) error { _, err := e.c.CheckOnline(ctx(e.t), 1); return err }},
		{name: "ListCertificates", route: fake.RouteCertificates, idempotent: true, call: certsCall},
		{name: "ListRedirectionHosts", route: fake.RouteRedirections, idempotent: true,
			call: func(e *env) error { _, err := e.c.ListRedirectionHosts(ctx(e.t)); return err }},
		{name: "ListDeadHosts", route: fake.RouteDeadHosts, idempotent: true,
			call: func(e *env) error { _, err := e.c.ListDeadHosts(ctx(e.t)); return err }},
		{name: "Version", route: fake.RouteHealth, idempotent: true, public: true,
			call: func(e *env) error { _, err := e.c.Version(ctx(e.t)); return err }},
		{name: "Health", route: fake.RouteHealth, idempotent: true, public: true,
			call: func(e *env) error { _, err := e.c.Health(ctx(e.t)); return err }},
	}
}

// TestFaultsEveryMethod runs each client method against each kind of
// failure: errors surface typed, idempotent calls recover from transient
// ones, the create never repeats, and an expired token costs one re-login.
func TestFaultsEveryMethod(t *testing.T) {
	const timeout = 250 * time.Millisecond
	kinds := []struct {
		name  string
		fault faults.Fault
		// transient failures are retried for idempotent calls
		transient bool
		check     func(t *testing.T, err error)
	}{
		{"500", faults.Fault{Status: 500, Body: npmErr(500, "Internal Error")}, false, func(t *testing.T, err error) {
			var ae *upstream.APIError
			if !errors.As(err, &ae) || ae.Status != 500 || ae.Message != "Internal Error" {
				t.Fatalf("err = %v", err)
			}
		}},
		{"422", faults.Fault{Status: 422, Body: npmErr(422, "Unprocessable")}, false, func(t *testing.T, err error) {
			var ae *upstream.APIError
			if !errors.As(err, &ae) || ae.Status != 422 || ae.Message != "Unprocessable" {
				t.Fatalf("err = %v", err)
			}
		}},
		{"503", faults.Fault{Status: 503, Body: npmErr(503, "Service Unavailable")}, true, func(t *testing.T, err error) {
			if !errors.Is(err, upstream.ErrUnavailable) {
				t.Fatalf("err = %v", err)
			}
		}},
		{"timeout", faults.Fault{Delay: 4 * timeout}, true, func(t *testing.T, err error) {
			if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, upstream.ErrUnavailable) {
				t.Fatalf("err = %v", err)
			}
		}},
		{"drop", faults.Fault{Drop: true}, true, func(t *testing.T, err error) {
			if upstream.StatusOf(err) != 0 || !errors.Is(err, upstream.ErrUnavailable) {
				t.Fatalf("err = %v", err)
			}
		}},
	}
	for _, m := range methods() {
		for _, k := range kinds {
			t.Run(m.name+"/"+k.name, func(t *testing.T) {
				e := newEnv(t)
				f := e.requireFake()
				e.create(e.dom("app"))
				if m.setup != nil {
					m.setup(e)
				}
				// The faulted call runs on a client with a short timeout,
				// logged in beforehand (list is retried if the race
				// detector slows it past the timeout).
				cfg := e.cfg
				cfg.Timeout = timeout
				e.c = e.client(cfg)
				if err := listCall(e); err != nil {
					t.Fatal(err)
				}
				hosts := len(f.Hosts())
				f.Faults.ResetCalls()
				f.Faults.Fail(m.route, k.fault)
				err := m.call(e)
				calls := f.CallCount(m.route)
				if k.transient && m.idempotent {
					if err != nil || calls != 2 {
						t.Fatalf("err=%v calls=%d; want success on the retry", err, calls)
					}
					return
				}
				k.check(t, err)
				if calls != 1 {
					t.Fatalf("%d calls, want 1 (no retry)", calls)
				}
				if m.route == fake.RouteCreate && len(f.Hosts()) != hosts {
					t.Fatalf("a failed create left a host")
				}
			})
		}
		if m.public {
			continue
		}
		t.Run(m.name+"/expired token", func(t *testing.T) {
			e := newEnv(t)
			f := e.requireFake()
			e.create(e.dom("app"))
			if m.setup != nil {
				m.setup(e)
			}
			f.Faults.ResetCalls()
			f.SetNow(e.clk.Now().Add(25 * time.Hour))
			if err := m.call(e); err != nil {
				t.Fatalf("err = %v", err)
			}
			if l, n := f.CallCount(fake.RouteLogin), f.CallCount(m.route); l != 1 || n != 2 {
				t.Fatalf("logins %d, calls %d; want 1 re-login and 2 calls", l, n)
			}
		})
	}
}

// TestCreateNeverRetriedBlindly: a create whose answer is lost may have
// happened, so the client must not send it again.
func TestCreateNeverRetriedBlindly(t *testing.T) {
	tests := []struct {
		name    string
		fault   faults.Fault
		created bool // the fake did the work before failing
	}{
		{"503", faults.Fault{Status: 503, Body: npmErr(503, "Service Unavailable")}, false},
		{"502 after the work", faults.Fault{Status: 502, Body: npmErr(502, "Bad Gateway"), Phase: faults.After}, true},
		{"drop", faults.Fault{Drop: true}, false},
		{"drop after the work", faults.Fault{Drop: true, Phase: faults.After}, true},
		{"timeout after the work", faults.Fault{Delay: time.Second, Phase: faults.After}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, withConfig(func(c *proxymanager.Config) { c.Timeout = 200 * time.Millisecond }))
			f := e.requireFake()
			f.Faults.Fail(fake.RouteCreate, tt.fault)
			err := createCall(e)
			if !errors.Is(err, upstream.ErrUnavailable) {
				t.Fatalf("err = %v, want unavailable", err)
			}
			if n := f.CallCount(fake.RouteCreate); n != 1 {
				t.Fatalf("create sent %d times", n)
			}
			// After a client timeout the fake may still be doing the work.
			deadline := time.Now().Add(2 * time.Second)
			for tt.created && len(f.Hosts()) == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if got := len(f.Hosts()) == 1; got != tt.created {
				t.Fatalf("host exists = %v, want %v", got, tt.created)
			}
		})
	}
}

func TestListRetriedOnGatewayErrors(t *testing.T) {
	e := newEnv(t)
	f := e.requireFake()
	e.create(e.dom("app"))
	f.Faults.ResetCalls()
	f.Faults.Fail(fake.RouteList, faults.Fault{Status: 503, Body: npmErr(503, "Service Unavailable"), Times: 2})
	list, err := e.c.ListProxyHosts(ctx(t))
	if err != nil || len(list) != 1 {
		t.Fatalf("list = %v, %v", list, err)
	}
	if n := f.CallCount(fake.RouteList); n != 3 {
		t.Fatalf("%d list calls, want 3", n)
	}
	// Retries stop at the cap and return the last failure.
	f.Faults.ResetCalls()
	f.Faults.Fail(fake.RouteList, faults.Fault{Status: 504, Body: npmErr(504, "Gateway Timeout"), Times: 10})
	if _, err := e.c.ListProxyHosts(ctx(t)); upstream.StatusOf(err) != 504 {
		t.Fatalf("err = %v", err)
	}
	if n := f.CallCount(fake.RouteList); n != 4 {
		t.Fatalf("%d list calls, want 4 (1 + 3 retries)", n)
	}
}
