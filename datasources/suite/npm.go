package suite

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/appmanage/appmanage/datasources/proxymanager"
	"github.com/appmanage/appmanage/datasources/proxymanager/fake"
	"github.com/appmanage/appmanage/datasources/upstream"
)

// Variables for a real Nginx Proxy Manager.
const (
	EnvNPMURL      = "APPMANAGE_TEST_NPM_URL"      // admin root, e.g. http://npm:81 (without /api)
	EnvNPMEmail    = "APPMANAGE_TEST_NPM_EMAIL"    // an admin without 2FA
	EnvNPMPassword = "APPMANAGE_TEST_NPM_PASSWORD" //
	// EnvNPMDomain is the parent domain of test hosts (optional). The
	// default, under the reserved .invalid TLD, never resolves, so nothing
	// real is ever served.
	EnvNPMDomain = "APPMANAGE_TEST_NPM_DOMAIN"
)

// NPMTarget is what an NPM suite runs against.
type NPMTarget struct {
	Config proxymanager.Config
	// Fake is the in-process server, nil on a real-server run.
	Fake   *fake.Server
	domain string
}

// NPMOption tunes NPM.
type NPMOption func(*npmSetup)

type npmSetup struct {
	fake      fake.Options
	transport func(http.RoundTripper) http.RoundTripper
}

// WithNPMServerWrap wraps the fake's handler (e.g. npmschema's Middleware).
// It has no effect on a real server; use WithNPMTransport there.
func WithNPMServerWrap(wrap func(http.Handler) http.Handler) NPMOption {
	return func(s *npmSetup) { s.fake.Middleware = wrap }
}

// WithNPMTransport wraps the client's transport on both targets.
func WithNPMTransport(wrap func(http.RoundTripper) http.RoundTripper) NPMOption {
	return func(s *npmSetup) { s.transport = wrap }
}

// WithNPMFake tunes the fake's options (clock, token lifetime, ...); it has
// no effect on a real server.
func WithNPMFake(tune func(*fake.Options)) NPMOption {
	return func(s *npmSetup) { tune(&s.fake) }
}

// NPM returns a client configuration and its target: a fresh fake (closed at
// cleanup) by default, or the real server named by APPMANAGE_TEST_NPM_* on a
// real-server run.
func NPM(t testing.TB, opts ...NPMOption) (proxymanager.Config, *NPMTarget) {
	t.Helper()
	var s npmSetup
	for _, o := range opts {
		o(&s)
	}
	var tgt NPMTarget
	if Real() {
		env := Env(t, EnvNPMURL, EnvNPMEmail, EnvNPMPassword)
		tgt.domain = envOr(EnvNPMDomain, "appmanage-test.invalid")
		tgt.Config = proxymanager.Config{
			URL: env[EnvNPMURL], Email: env[EnvNPMEmail], Password: env[EnvNPMPassword],
			Timeout: 30 * time.Second, RetryWait: 200 * time.Millisecond,
		}
	} else {
		f := fake.New(s.fake)
		t.Cleanup(f.Close)
		tgt.Fake = f
		tgt.domain = "appmanage-test.invalid"
		tgt.Config = proxymanager.Config{
			URL: f.URL(), Email: f.Email(), Password: f.Password(),
			Timeout: 5 * time.Second, RetryWait: 5 * time.Millisecond,
		}
	}
	if s.transport != nil {
		tgt.Config.HTTPClient = &http.Client{Transport: s.transport(http.DefaultTransport)}
	}
	return tgt.Config, &tgt
}

// RequireFake returns the fake, skipping the test on a real-server run.
func (n *NPMTarget) RequireFake(t testing.TB) *fake.Server {
	t.Helper()
	FakeOnly(t)
	return n.Fake
}

// Domain returns a domain unique to this test run, e.g.
// "amt-testlifecycle-1a2b3c4d.appmanage-test.invalid".
func (n *NPMTarget) Domain(t testing.TB) string {
	return Prefix(t) + "." + n.domain
}

// Cleanup deletes proxy host id at the end of the test (a missing one is
// fine), so real servers keep no test leftovers.
func (n *NPMTarget) Cleanup(t testing.TB, c *proxymanager.Client, id int) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.DeleteProxyHost(ctx, id); err != nil && !errors.Is(err, upstream.ErrNotFound) {
			t.Errorf("cleanup: delete npm proxy host %d: %v", id, err)
		}
	})
}
