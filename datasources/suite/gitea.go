package suite

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/appmanage/appmanage/datasources/gitea"
	"github.com/appmanage/appmanage/datasources/gitea/fake"
	"github.com/appmanage/appmanage/datasources/upstream"
)

// Variables for a real Gitea.
const (
	EnvGiteaURL   = "APPMANAGE_TEST_GITEA_URL"   // root URL, e.g. http://gitea:3000
	EnvGiteaToken = "APPMANAGE_TEST_GITEA_TOKEN" // token with write:repository (+ write:organization for an org)
	EnvGiteaOwner = "APPMANAGE_TEST_GITEA_OWNER" // user or organisation owning test repositories
)

// GiteaTarget is what a Gitea suite runs against.
type GiteaTarget struct {
	Config gitea.Config
	// Fake is the in-process server, nil on a real-server run.
	Fake *fake.Server
	// Owner is the repositories' owner.
	Owner string
}

// GiteaOption tunes Gitea.
type GiteaOption func(*giteaSetup)

type giteaSetup struct {
	wrap      func(http.Handler) http.Handler
	transport func(http.RoundTripper) http.RoundTripper
	org       string
}

// WithGiteaServerWrap wraps the fake's handler (e.g. contract.Middleware).
// It has no effect on a real server; use WithGiteaTransport to observe
// traffic on both.
func WithGiteaServerWrap(wrap func(http.Handler) http.Handler) GiteaOption {
	return func(s *giteaSetup) { s.wrap = wrap }
}

// WithGiteaTransport wraps the client's transport on both targets (e.g.
// contract.Transport).
func WithGiteaTransport(wrap func(http.RoundTripper) http.RoundTripper) GiteaOption {
	return func(s *giteaSetup) { s.transport = wrap }
}

// WithGiteaOrg makes the fake's repositories belong to an organisation (the
// admin is a member). On a real server the owner comes from
// APPMANAGE_TEST_GITEA_OWNER.
func WithGiteaOrg(name string) GiteaOption {
	return func(s *giteaSetup) { s.org = name }
}

// Gitea returns a client configuration and its target: a fresh fake (closed
// at cleanup) by default, or the real server named by the APPMANAGE_TEST_GITEA_*
// variables on a real-server run.
func Gitea(t testing.TB, opts ...GiteaOption) (gitea.Config, *GiteaTarget) {
	t.Helper()
	var s giteaSetup
	for _, o := range opts {
		o(&s)
	}
	var tgt GiteaTarget
	if Real() {
		env := Env(t, EnvGiteaURL, EnvGiteaToken)
		tgt.Owner = envOr(EnvGiteaOwner, "")
		tgt.Config = gitea.Config{
			BaseURL: env[EnvGiteaURL], Token: env[EnvGiteaToken], Owner: tgt.Owner,
			Timeout: 30 * time.Second, RetryWait: 200 * time.Millisecond,
		}
	} else {
		f := fake.New(fake.Options{Wrap: s.wrap})
		t.Cleanup(f.Close)
		tgt.Fake = f
		tgt.Owner = fake.AdminUser
		if s.org != "" {
			f.AddOrg(s.org, fake.AdminUser)
			tgt.Owner = s.org
		}
		tgt.Config = gitea.Config{
			BaseURL: f.URL(), Token: f.Token(fake.AdminUser), Owner: tgt.Owner,
			Timeout: 5 * time.Second, RetryWait: 5 * time.Millisecond,
		}
	}
	if s.transport != nil {
		tgt.Config.HTTPClient = &http.Client{Transport: s.transport(http.DefaultTransport)}
	}
	return tgt.Config, &tgt
}

// RequireFake returns the fake, skipping the test on a real-server run.
func (g *GiteaTarget) RequireFake(t testing.TB) *fake.Server {
	t.Helper()
	FakeOnly(t)
	return g.Fake
}

// Cleanup deletes repository name at the end of the test (a missing one is
// fine), so real servers keep no test leftovers.
func (g *GiteaTarget) Cleanup(t testing.TB, c *gitea.Client, name string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.DeleteRepo(ctx, name); err != nil && !errors.Is(err, upstream.ErrNotFound) {
			t.Errorf("cleanup: delete gitea repo %s: %v", name, err)
		}
	})
}
