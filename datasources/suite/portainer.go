package suite

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/datasources/portainer/fake"
	"github.com/appmanage/appmanage/datasources/upstream"
)

// Variables for a real Portainer.
const (
	EnvPortainerURL      = "APPMANAGE_TEST_PORTAINER_URL"      // root URL, e.g. https://portainer:9443 (without /api)
	EnvPortainerAPIKey   = "APPMANAGE_TEST_PORTAINER_API_KEY"  // an admin's API key (ptr_...)
	EnvPortainerEndpoint = "APPMANAGE_TEST_PORTAINER_ENDPOINT" // environment id for test stacks (default 1)
	// An admin's user name and password, for the tests of JWT login
	// (optional: those tests skip without them).
	EnvPortainerUser     = "APPMANAGE_TEST_PORTAINER_USER"
	EnvPortainerPassword = "APPMANAGE_TEST_PORTAINER_PASSWORD"
	// EnvImage is the image the tests that deploy run: one with sh and
	// sleep the endpoint can pull or already has (busybox:1.36 on the
	// fakes). Those tests skip on a real run without it.
	EnvImage = "APPMANAGE_TEST_IMAGE"
)

// FakeImage is the image deploying tests use on the fakes.
const FakeImage = "busybox:1.36"

// PortainerTarget is what a Portainer suite runs against.
type PortainerTarget struct {
	Config portainer.Config
	// Fake is the in-process server, nil on a real-server run.
	Fake *fake.Server
	// EndpointID is the environment test stacks go to.
	EndpointID int

	fakeUser, fakePassword string
}

// PortainerOption tunes Portainer.
type PortainerOption func(*portainerSetup)

type portainerSetup struct {
	fake      fake.Options
	transport func(http.RoundTripper) http.RoundTripper
}

// WithPortainerServerWrap wraps the fake's handler (e.g. contract.Middleware).
// It has no effect on a real server; use WithPortainerTransport there.
func WithPortainerServerWrap(wrap func(http.Handler) http.Handler) PortainerOption {
	return func(s *portainerSetup) { s.fake.Wrap = wrap }
}

// WithPortainerTransport wraps the client's transport on both targets.
func WithPortainerTransport(wrap func(http.RoundTripper) http.RoundTripper) PortainerOption {
	return func(s *portainerSetup) { s.transport = wrap }
}

// WithPortainerFake tunes the fake's options (endpoints, credentials, the
// HTTP client it clones with); it has no effect on a real server.
func WithPortainerFake(tune func(*fake.Options)) PortainerOption {
	return func(s *portainerSetup) { tune(&s.fake) }
}

// Portainer returns a client configuration and its target: a fresh fake
// (closed at cleanup) by default, or the real server named by
// APPMANAGE_TEST_PORTAINER_* on a real-server run.
func Portainer(t testing.TB, opts ...PortainerOption) (portainer.Config, *PortainerTarget) {
	t.Helper()
	var s portainerSetup
	for _, o := range opts {
		o(&s)
	}
	var tgt PortainerTarget
	if Real() {
		env := Env(t, EnvPortainerURL, EnvPortainerAPIKey)
		ep, err := strconv.Atoi(envOr(EnvPortainerEndpoint, "1"))
		if err != nil || ep <= 0 {
			t.Fatalf("%s must be a positive environment id, got %q", EnvPortainerEndpoint, envOr(EnvPortainerEndpoint, ""))
		}
		tgt.EndpointID = ep
		tgt.Config = portainer.Config{
			URL: env[EnvPortainerURL], APIKey: env[EnvPortainerAPIKey],
			Timeout: 30 * time.Second, DeployTimeout: 10 * time.Minute, RetryWait: 200 * time.Millisecond,
		}
	} else {
		f := fake.New(s.fake)
		t.Cleanup(f.Close)
		tgt.Fake = f
		tgt.EndpointID = 1
		if len(s.fake.Endpoints) > 0 {
			tgt.EndpointID = s.fake.Endpoints[0].ID
		}
		key := fake.DefaultAPIKey
		if len(s.fake.APIKeys) > 0 {
			key = s.fake.APIKeys[0]
		}
		tgt.fakeUser, tgt.fakePassword = fake.DefaultAdminUser, fake.DefaultAdminPassword
		if s.fake.AdminUser != "" {
			tgt.fakeUser = s.fake.AdminUser
		}
		if s.fake.AdminPassword != "" {
			tgt.fakePassword = s.fake.AdminPassword
		}
		tgt.Config = portainer.Config{
			URL: f.URL(), APIKey: key,
			Timeout: 5 * time.Second, DeployTimeout: 30 * time.Second, RetryWait: 5 * time.Millisecond,
		}
	}
	if s.transport != nil {
		tgt.Config.HTTPClient = &http.Client{Transport: s.transport(http.DefaultTransport)}
	}
	return tgt.Config, &tgt
}

// JWT returns cfg switched to a user name and password (JWT login) instead
// of the API key: the fake's admin, or on a real run the admin named by
// APPMANAGE_TEST_PORTAINER_USER and APPMANAGE_TEST_PORTAINER_PASSWORD,
// skipping the test, naming them, when either is unset.
func (p *PortainerTarget) JWT(t testing.TB, cfg portainer.Config) portainer.Config {
	t.Helper()
	cfg.APIKey = ""
	if p.Fake == nil {
		env := Env(t, EnvPortainerUser, EnvPortainerPassword)
		cfg.Username, cfg.Password = env[EnvPortainerUser], env[EnvPortainerPassword]
		return cfg
	}
	cfg.Username, cfg.Password = p.fakeUser, p.fakePassword
	return cfg
}

// Image returns the image a deploying test runs (it must have sh and
// sleep): FakeImage on the fake, APPMANAGE_TEST_IMAGE on a real run, where
// the test skips, naming the variable, when it is unset.
func (p *PortainerTarget) Image(t testing.TB) string {
	t.Helper()
	if p.Fake != nil {
		return FakeImage
	}
	return Env(t, EnvImage)[EnvImage]
}

// RequireFake returns the fake, skipping the test on a real-server run.
func (p *PortainerTarget) RequireFake(t testing.TB) *fake.Server {
	t.Helper()
	FakeOnly(t)
	return p.Fake
}

// Cleanup deletes the stack named name on the target's environment at the
// end of the test (a missing one is fine), so real servers keep no test
// leftovers. Volumes labelled with the project are removed too.
func (p *PortainerTarget) Cleanup(t testing.TB, c *portainer.Client, name string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		st, err := c.FindStackByName(ctx, p.EndpointID, name)
		switch {
		case errors.Is(err, upstream.ErrNotFound):
		case err != nil:
			t.Errorf("cleanup: find portainer stack %s: %v", name, err)
			return
		default:
			if err := c.DeleteStack(ctx, st.ID, st.EndpointID); err != nil && !errors.Is(err, upstream.ErrNotFound) {
				t.Errorf("cleanup: delete portainer stack %s: %v", name, err)
				return
			}
		}
		vols, err := c.ListVolumes(ctx, p.EndpointID, []string{"com.docker.compose.project=" + portainer.NormalizeStackName(name)})
		if err != nil {
			t.Errorf("cleanup: list volumes of %s: %v", name, err)
			return
		}
		for _, v := range vols {
			if err := c.DeleteVolume(ctx, p.EndpointID, v.Name); err != nil && !errors.Is(err, upstream.ErrNotFound) {
				t.Errorf("cleanup: delete volume %s: %v", v.Name, err)
			}
		}
	})
}
