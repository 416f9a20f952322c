package proxymanager_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/appmanage/appmanage/datasources/faults"
	"github.com/appmanage/appmanage/datasources/proxymanager"
	"github.com/appmanage/appmanage/datasources/proxymanager/fake"
	"github.com/appmanage/appmanage/datasources/upstream"
)

func TestTokenCachedAndRefreshedBeforeExpiry(t *testing.T) {
	e := newEnv(t)
	f := e.requireFake()
	for range 3 {
		if _, err := e.c.ListProxyHosts(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.CallCount(fake.RouteLogin); n != 1 {
		t.Fatalf("%d logins for 3 calls", n)
	}
	// 22h59m in: more than an hour left, no refresh.
	e.clk.Advance(22*time.Hour + 59*time.Minute)
	if _, err := e.c.ListProxyHosts(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if n := f.CallCount(fake.RouteRefresh); n != 0 {
		t.Fatalf("refreshed with more than an hour left")
	}
	// 23h30m in: refreshed with GET /tokens, not a new login.
	e.clk.Advance(31 * time.Minute)
	if _, err := e.c.ListProxyHosts(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if r, l := f.CallCount(fake.RouteRefresh), f.CallCount(fake.RouteLogin); r != 1 || l != 1 {
		t.Fatalf("refreshes %d, logins %d; want 1, 1", r, l)
	}
	// The refreshed token is good for another day: past the first token's
	// expiry nothing is needed.
	e.clk.Advance(2 * time.Hour)
	if _, err := e.c.ListProxyHosts(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if r, l := f.CallCount(fake.RouteRefresh), f.CallCount(fake.RouteLogin); r != 1 || l != 1 {
		t.Fatalf("after refresh: refreshes %d, logins %d", r, l)
	}
}

func TestRefreshFailureFallsBackToLogin(t *testing.T) {
	e := newEnv(t)
	f := e.requireFake()
	if _, err := e.c.ListProxyHosts(ctx(t)); err != nil {
		t.Fatal(err)
	}
	f.Faults.Fail(fake.RouteRefresh, faults.Fault{Status: 500, Body: npmErr(500, "Internal Error")})
	e.clk.Advance(23*time.Hour + 30*time.Minute)
	if _, err := e.c.ListProxyHosts(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if l := f.CallCount(fake.RouteLogin); l != 2 {
		t.Fatalf("logins %d, want 2", l)
	}
}

func TestExpiredTokenReLogsIn(t *testing.T) {
	e := newEnv(t)
	f := e.requireFake()
	if _, err := e.c.ListProxyHosts(ctx(t)); err != nil {
		t.Fatal(err)
	}
	// The server's clock runs ahead: the client believes its token is fresh
	// and meets NPM's 400 "Token has expired".
	f.SetNow(e.clk.Now().Add(25 * time.Hour))
	if _, err := e.c.ListProxyHosts(ctx(t)); err != nil {
		t.Fatalf("list with an expired token: %v", err)
	}
	if l, n := f.CallCount(fake.RouteLogin), f.CallCount(fake.RouteList); l != 2 || n != 3 {
		t.Fatalf("logins %d (want 2), list calls %d (want 3)", l, n)
	}
}

func TestReLoginOnAuthErrors(t *testing.T) {
	tests := []struct {
		name    string
		route   string
		status  int
		msg     string
		call    func(e *env) error
		relogin bool
	}{
		{"401 on list", fake.RouteList, 401, "Unauthorized", listCall, true},
		{"403 on get", fake.RouteGet, 403, "Permission Denied", getCall, true},
		{"404 on list (NPM ≤2.15.1 permission bug)", fake.RouteList, 404, "Not Found - /nginx/proxy-hosts", listCall, true},
		{"404 on create", fake.RouteCreate, 404, "Not Found - /nginx/proxy-hosts", createCall, true},
		{"404 on certificates", fake.RouteCertificates, 404, "Not Found - /nginx/certificates", certsCall, true},
		{"404 naming the path on get", fake.RouteGet, 404, "Not Found - /nginx/proxy-hosts/1", getCall, true},
		{"expired on update", fake.RouteUpdate, 400, "Token has expired", updateCall, true},
		{"missing host on get", fake.RouteGet, 404, "Not Found - 1", getCall, false},
		{"schema error on create", fake.RouteCreate, 400, "data must NOT have additional properties", createCall, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			f := e.requireFake()
			e.create(e.dom("app"))
			f.Faults.ResetCalls()
			f.Faults.Fail(tt.route, faults.Fault{Status: tt.status, Body: npmErr(tt.status, tt.msg)})
			err := tt.call(e)
			logins := f.CallCount(fake.RouteLogin)
			if tt.relogin {
				if err != nil || logins != 1 || f.CallCount(tt.route) != 2 {
					t.Fatalf("err=%v logins=%d calls=%d; want success after one re-login", err, logins, f.CallCount(tt.route))
				}
				return
			}
			if upstream.StatusOf(err) != tt.status || logins != 0 || f.CallCount(tt.route) != 1 {
				t.Fatalf("err=%v logins=%d calls=%d; want the %d, no re-login", err, logins, f.CallCount(tt.route), tt.status)
			}
		})
	}
}

func TestReLoginOnlyOnce(t *testing.T) {
	e := newEnv(t)
	f := e.requireFake()
	f.Faults.Fail(fake.RouteList, faults.Fault{Status: 401, Body: npmErr(401, "Unauthorized"), Times: 5})
	_, err := e.c.ListProxyHosts(ctx(t))
	if !errors.Is(err, upstream.ErrUnauthorized) {
		t.Fatalf("err = %v", err)
	}
	if l, n := f.CallCount(fake.RouteLogin), f.CallCount(fake.RouteList); l != 2 || n != 2 {
		t.Fatalf("logins %d, list calls %d; want 2, 2", l, n)
	}
}

func TestBadCredentials(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg
	cfg.Password = "wrong-secret-value"
	c := e.client(cfg)
	_, err := c.ListProxyHosts(ctx(t))
	var le *proxymanager.LoginError
	if !errors.As(err, &le) || !errors.Is(err, upstream.ErrUnauthorized) {
		t.Fatalf("err = %v, want a LoginError matching ErrUnauthorized", err)
	}
	if strings.Contains(err.Error(), cfg.Password) {
		t.Fatal("password leaked into the error")
	}
}

func TestLoginRetriedOnGatewayError(t *testing.T) {
	e := newEnv(t)
	f := e.requireFake()
	f.Faults.Fail(fake.RouteLogin, faults.Fault{Status: 503, Body: npmErr(503, "Service Unavailable")})
	if _, err := e.c.ListProxyHosts(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if l := f.CallCount(fake.RouteLogin); l != 2 {
		t.Fatalf("logins %d, want 2", l)
	}
	// A login that fails for good surfaces as unavailable, not as bad credentials.
	e2 := newEnv(t)
	e2.fake.Faults.Fail(fake.RouteLogin, faults.Fault{Drop: true, Times: 10})
	_, err := e2.c.ListProxyHosts(ctx(t))
	var le *proxymanager.LoginError
	if err == nil || errors.As(err, &le) || !errors.Is(err, upstream.ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
}
