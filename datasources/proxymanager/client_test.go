package proxymanager_test

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/appmanage/appmanage/datasources/proxymanager"
	"github.com/appmanage/appmanage/datasources/proxymanager/fake"
	"github.com/appmanage/appmanage/datasources/upstream"
)

func ptr[T any](v T) *T { return &v }

func TestNewValidatesConfig(t *testing.T) {
	for _, cfg := range []proxymanager.Config{
		{Email: "a@b.c", Password: "x"},
		{URL: "http://npm:81", Password: "x"},
		{URL: "http://npm:81", Email: "a@b.c"},
	} {
		if _, err := proxymanager.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

func TestVersionAndHealth(t *testing.T) {
	e := newEnv(t)
	v, err := e.c.Version(ctx(t))
	if err != nil || !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(v) {
		t.Fatalf("Version = %q, %v", v, err)
	}
	if e.fake != nil && v != "2.15.1" {
		t.Errorf("fake version %s", v)
	}
	if st, err := e.c.Health(ctx(t)); err != nil || st != "OK" {
		t.Fatalf("Health = %q, %v", st, err)
	}
}

func TestProxyHostLifecycle(t *testing.T) {
	e := newEnv(t)
	c := e.c
	app, www := e.dom("app"), e.dom("www")
	h, err := c.CreateProxyHost(ctx(t), proxymanager.ProxyHostRequest{
		DomainNames: []string{www, app}, ForwardScheme: "http", ForwardHost: resolvable, ForwardPort: 8080,
		BlockExploits: true, AllowWebsocketUpgrade: true,
		Locations: []proxymanager.Location{{Path: "/api", ForwardScheme: "http", ForwardHost: resolvable, ForwardPort: 9000}},
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	e.tgt.Cleanup(t, c, h.ID)
	if h.ID < 1 || !h.Enabled || !h.BlockExploits || !h.AllowWebsocketUpgrade || h.ForwardHost != resolvable || h.ForwardPort != 8080 {
		t.Errorf("created host: %+v", h)
	}
	if !slices.Equal(h.DomainNames, []string{app, www}) {
		t.Errorf("domains not stored sorted: %v", h.DomainNames)
	}
	if h.Meta.NginxOnline != nil {
		t.Errorf("create answer carries nginx_online (NPM builds it before nginx -t)")
	}
	if len(h.Locations) != 1 || h.Locations[0].ForwardHost != resolvable || h.Locations[0].ForwardPort != 9000 {
		t.Errorf("locations: %+v", h.Locations)
	}

	got, err := c.CheckOnline(ctx(t), h.ID)
	if err != nil {
		t.Fatalf("CheckOnline: %v", err)
	}
	if got.Meta.NginxOnline == nil || !*got.Meta.NginxOnline {
		t.Errorf("not online: %+v", got.Meta)
	}
	if got.ID != h.ID || got.CreatedOn != h.CreatedOn || !slices.Equal(got.DomainNames, h.DomainNames) {
		t.Errorf("GET differs from create: %+v vs %+v", got, h)
	}

	list, err := c.ListProxyHosts(ctx(t))
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if !slices.ContainsFunc(list, func(x proxymanager.ProxyHost) bool { return x.ID == h.ID }) {
		t.Fatalf("list lacks host %d", h.ID)
	}

	up, err := c.UpdateProxyHost(ctx(t), h.ID, proxymanager.ProxyHostUpdate{ForwardPort: ptr(8081)})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if up.ForwardPort != 8081 || !up.BlockExploits || up.ForwardHost != resolvable || !slices.Equal(up.DomainNames, h.DomainNames) || !up.Enabled {
		t.Errorf("partial update touched other fields: %+v", up)
	}
	if _, err := c.UpdateProxyHost(ctx(t), h.ID, proxymanager.ProxyHostUpdate{}); err == nil {
		t.Error("empty update accepted")
	}

	for _, step := range []struct {
		name string
		do   func() error
		want bool
	}{
		{"disable", func() error { return c.DisableProxyHost(ctx(t), h.ID) }, false},
		{"disable again", func() error { return c.DisableProxyHost(ctx(t), h.ID) }, false},
		{"enable", func() error { return c.EnableProxyHost(ctx(t), h.ID) }, true},
		{"enable again", func() error { return c.EnableProxyHost(ctx(t), h.ID) }, true},
	} {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		g, err := c.GetProxyHost(ctx(t), h.ID)
		if err != nil || g.Enabled != step.want {
			t.Fatalf("after %s: enabled=%v err=%v", step.name, g != nil && g.Enabled, err)
		}
	}

	if err := c.DeleteProxyHost(ctx(t), h.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := c.GetProxyHost(ctx(t), h.ID); !errors.Is(err, upstream.ErrNotFound) {
		t.Errorf("get after delete: %v", err)
	}
	for name, err := range map[string]error{
		"delete": c.DeleteProxyHost(ctx(t), h.ID),
		"enable": c.EnableProxyHost(ctx(t), h.ID),
		"update": func() error {
			_, err := c.UpdateProxyHost(ctx(t), h.ID, proxymanager.ProxyHostUpdate{ForwardPort: ptr(1)})
			return err
		}(),
	} {
		if !errors.Is(err, upstream.ErrNotFound) {
			t.Errorf("%s of a deleted host: %v", name, err)
		}
	}
	if e.fake != nil && len(e.fake.Hosts()) != 0 {
		t.Errorf("fake still holds %d hosts", len(e.fake.Hosts()))
	}
}

func TestNginxRejectsConfig(t *testing.T) {
	e := newEnv(t)
	h, err := e.c.CreateProxyHost(ctx(t), proxymanager.ProxyHostRequest{
		DomainNames: []string{e.dom("bad")}, ForwardScheme: "http", ForwardHost: resolvable, ForwardPort: 80,
		AdvancedConfig: "location /x {\n  proxy_pass http://app;\n",
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	e.tgt.Cleanup(t, e.c, h.ID)
	got, err := e.c.CheckOnline(ctx(t), h.ID)
	var ne *proxymanager.NginxError
	if !errors.As(err, &ne) || ne.HostID != h.ID || ne.Err == "" {
		t.Fatalf("CheckOnline = %v, want *NginxError for host %d", err, h.ID)
	}
	if got == nil || got.Meta.NginxOnline == nil || *got.Meta.NginxOnline {
		t.Fatalf("host not returned with nginx_online false: %+v", got)
	}
	if e.fake != nil && !strings.Contains(ne.Err, "unexpected end of file") {
		t.Errorf("nginx_err %q", ne.Err)
	}
	// Fixing the config through PUT brings it online, and the PUT answer says so.
	up, err := e.c.UpdateProxyHost(ctx(t), h.ID, proxymanager.ProxyHostUpdate{AdvancedConfig: ptr("")})
	if err != nil || up.Meta.NginxOnline == nil || !*up.Meta.NginxOnline {
		t.Fatalf("fixed update: %v %+v", err, up)
	}
	// A PUT that breaks it returns the host and an *NginxError.
	up, err = e.c.UpdateProxyHost(ctx(t), h.ID, proxymanager.ProxyHostUpdate{AdvancedConfig: ptr("server { listen 1; }")})
	if !errors.As(err, &ne) || up == nil || up.ID != h.ID {
		t.Fatalf("breaking update: %v %+v", err, up)
	}

	f := e.requireFake()
	f.FailNginx("host not found in upstream \"app\"")
	h2 := e.create(e.dom("other"))
	if _, err := e.c.CheckOnline(ctx(t), h2.ID); !errors.As(err, &ne) || !strings.Contains(ne.Err, "host not found") {
		t.Fatalf("FailNginx: %v", err)
	}
}

func TestCertificates(t *testing.T) {
	e := newEnv(t)
	f := e.requireFake()
	id := f.AddCertificate("app cert", e.dom("app"))
	certs, err := e.c.ListCertificates(ctx(t))
	if err != nil || len(certs) != 1 || certs[0].ID != id || certs[0].NiceName != "app cert" || certs[0].DomainNames[0] != e.dom("app") {
		t.Fatalf("ListCertificates = %+v, %v", certs, err)
	}
	h, err := e.c.CreateProxyHost(ctx(t), proxymanager.ProxyHostRequest{
		DomainNames: []string{e.dom("app")}, ForwardScheme: "http", ForwardHost: "app", ForwardPort: 80,
		CertificateID: id, SSLForced: true, HTTP2Support: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !h.SSLForced || !h.HTTP2Support || h.CertificateID != id {
		t.Errorf("SSL flags dropped despite a certificate: %+v", h)
	}
	list, err := e.c.ListProxyHosts(ctx(t))
	if err != nil || len(list) != 1 || list[0].Certificate == nil || list[0].Certificate.ID != id {
		t.Fatalf("certificate not expanded in list: %+v %v", list, err)
	}
	// Without a certificate NPM drops the SSL flags.
	h2, err := e.c.CreateProxyHost(ctx(t), proxymanager.ProxyHostRequest{
		DomainNames: []string{e.dom("plain")}, ForwardScheme: "http", ForwardHost: "app", ForwardPort: 80,
		SSLForced: true, HSTSEnabled: true,
	})
	if err != nil || h2.SSLForced || h2.HSTSEnabled {
		t.Fatalf("normalisation: %+v %v", h2, err)
	}
	// A Let's Encrypt request ("new") is granted at once by the fake.
	h3, err := e.c.CreateProxyHost(ctx(t), proxymanager.ProxyHostRequest{
		DomainNames: []string{e.dom("le")}, ForwardScheme: "http", ForwardHost: "app", ForwardPort: 80,
		CertificateID: proxymanager.CertificateNew, SSLForced: true,
	})
	if err != nil || h3.CertificateID <= id || !h3.SSLForced {
		t.Fatalf("certificate new: %+v %v", h3, err)
	}
}

func TestDuplicateDomains(t *testing.T) {
	e := newEnv(t)
	c := e.c
	app := "App." + e.base
	a := e.create(app)
	if err := c.DisableProxyHost(ctx(t), a.ID); err != nil {
		t.Fatal(err)
	}
	inUse := func(err error, want string) {
		t.Helper()
		d, ok := proxymanager.DomainInUse(err)
		if !ok || d != want {
			t.Fatalf("want %q in use, got %v", want, err)
		}
	}
	// A disabled host still holds its domains, compared case-insensitively.
	_, err := c.CreateProxyHost(ctx(t), proxymanager.ProxyHostRequest{
		DomainNames: []string{e.dom("other"), "APP." + e.base}, ForwardScheme: "http", ForwardHost: "b", ForwardPort: 80,
	})
	inUse(err, "APP."+e.base)
	// Updating a host with its own domains is fine.
	if _, err := c.UpdateProxyHost(ctx(t), a.ID, proxymanager.ProxyHostUpdate{DomainNames: []string{app, e.dom("www")}}); err != nil {
		t.Fatalf("update with own domains: %v", err)
	}
	b := e.create(e.dom("b"))
	_, err = c.UpdateProxyHost(ctx(t), b.ID, proxymanager.ProxyHostUpdate{DomainNames: []string{e.dom("b"), e.dom("www")}})
	inUse(err, e.dom("www"))
	// Deleting frees the domains.
	if err := c.DeleteProxyHost(ctx(t), a.ID); err != nil {
		t.Fatal(err)
	}
	n := e.create(e.dom("app"))
	if n.ID <= b.ID {
		t.Errorf("id %d reused (b is %d)", n.ID, b.ID)
	}

	f := e.requireFake()
	f.AddRedirectionHost(e.dom("r"))
	f.AddDeadHost(e.dom("d"))
	for _, d := range []string{e.dom("r"), strings.ToUpper(e.dom("d"))} {
		_, err := c.CreateProxyHost(ctx(t), proxymanager.ProxyHostRequest{
			DomainNames: []string{d}, ForwardScheme: "http", ForwardHost: "b", ForwardPort: 80,
		})
		inUse(err, d)
	}
	// The client lists them, so a caller can check before it writes.
	redirections, err := c.ListRedirectionHosts(ctx(t))
	if err != nil || len(redirections) != 1 || redirections[0].DomainNames[0] != e.dom("r") || redirections[0].Kind != "redirection host" {
		t.Fatalf("redirection hosts: %+v %v", redirections, err)
	}
	dead, err := c.ListDeadHosts(ctx(t))
	if err != nil || len(dead) != 1 || dead[0].DomainNames[0] != e.dom("d") || dead[0].Kind != "404 host" {
		t.Fatalf("404 hosts: %+v %v", dead, err)
	}
	f.DeleteRedirectionHost(1)
	e.create(e.dom("r"))
	if _, ok := proxymanager.DomainInUse(errors.New("x is already in use")); ok {
		t.Error("DomainInUse matched a non-API error")
	}
}

func TestConcurrentCallsLogInOnce(t *testing.T) {
	e := newEnv(t)
	f := e.requireFake()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			if _, err := e.c.ListProxyHosts(ctx(t)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := f.CallCount(fake.RouteLogin); n != 1 {
		t.Errorf("%d logins, want 1", n)
	}
}

// nginx refuses a host whose custom location forwards to a name that does
// not resolve when it loads the config (issue 19: "host not found in
// upstream \"myapi\"" from a real NPM, for a location); the fake does the
// same through its resolver. The host is kept, with nginx_online false, and
// CheckOnline says so. The host's own forward host is resolved per request,
// so a stopped container there does not fail the config.
func TestUnresolvableForwardHost(t *testing.T) {
	running := map[string]bool{"web": true}
	e := newEnv(t, withFake(func(o *fake.Options) { o.Resolve = func(h string) bool { return running[h] } }))
	e.requireFake()
	h, err := e.c.CreateProxyHost(ctx(t), proxymanager.ProxyHostRequest{DomainNames: []string{e.dom("b")}, ForwardScheme: "http", ForwardHost: "web", ForwardPort: 80,
		Locations: []proxymanager.Location{{Path: "/api", ForwardScheme: "http", ForwardHost: "myapi", ForwardPort: 9000}}})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	_, err = e.c.CheckOnline(ctx(t), h.ID)
	var ne *proxymanager.NginxError
	if !errors.As(err, &ne) || !strings.Contains(ne.Err, `[emerg] host not found in upstream "myapi"`) {
		t.Fatalf("CheckOnline = %v, want nginx's host not found for myapi", err)
	}
	h, err = e.c.CreateProxyHost(ctx(t), proxymanager.ProxyHostRequest{DomainNames: []string{e.dom("c")}, ForwardScheme: "http", ForwardHost: "stopped", ForwardPort: 80})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.CheckOnline(ctx(t), h.ID); err != nil {
		t.Fatalf("a host forwarding to a stopped container: %v; nginx resolves it per request", err)
	}
}
