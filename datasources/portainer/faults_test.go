package portainer_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/appmanage/appmanage/datasources/faults"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/datasources/portainer/fake"
	"github.com/appmanage/appmanage/datasources/suite"
	"github.com/appmanage/appmanage/datasources/upstream"
)

// fixture is a fake holding one git stack (id gitID) with running
// containers, one string stack that is stopped (id stoppedID), and a volume.
type fixture struct {
	fake      *fake.Server
	src       *gitSource
	gitID     int
	stoppedID int
	container string
	volume    string
}

func newFixture(t *testing.T, tune func(*fake.Options)) (*fixture, portainer.Config) {
	t.Helper()
	suite.FakeOnly(t)
	src := newGitSource(t, "fx", map[string]string{"docker-compose.yml": appCompose, ".env": appEnv("fx", "9001")})
	opts := []suite.PortainerOption{suite.WithPortainerFake(func(o *fake.Options) {
		o.Endpoints = []fake.Endpoint{{ID: 1, Name: "local"}, {ID: 2, Name: "remote"}}
		if tune != nil {
			tune(o)
		}
	})}
	cfg, tgt := suite.Portainer(t, opts...)
	f := tgt.Fake
	c := newClient(t, cfg)
	ctx := ctxT(t)
	st, err := c.CreateStackFromRepository(ctx, 1, src.request("fx"))
	if err != nil {
		t.Fatalf("fixture create: %v", err)
	}
	stopped, err := f.AddStack(1, "stopped", "services:\n  app:\n    image: busybox\n")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.StopStack(ctx, stopped.ID, 1); err != nil {
		t.Fatal(err)
	}
	f.AddVolume(1, "loose", nil)
	fx := &fixture{fake: f, src: src, gitID: st.ID, stoppedID: stopped.ID, volume: "loose"}
	for _, ct := range f.Containers(1) {
		if ct.Name == "fx" {
			fx.container = ct.ID
		}
	}
	f.Faults.ResetCalls()
	return fx, cfg
}

type methodCase struct {
	name  string
	route string // the fake's pattern
	call  func(ctx context.Context, c *portainer.Client, fx *fixture) error
}

func methodCases() []methodCase {
	return []methodCase{
		{"SystemStatus", "GET /api/system/status", func(ctx context.Context, c *portainer.Client, fx *fixture) error {
			_, err := c.SystemStatus(ctx)
			return err
		}},
		{"ListEndpoints", "GET /api/endpoints", func(ctx context.Context, c *portainer.Client, fx *fixture) error {
			_, err := c.ListEndpoints(ctx)
			return err
		}},
		{"GetEndpoint", "GET /api/endpoints/{id}", func(ctx context.Context, c *portainer.Client, fx *fixture) error {
			_, err := c.GetEndpoint(ctx, 1)
			return err
		}},
		{"CreateStackFromRepository", "POST /api/stacks/create/standalone/repository", func(ctx context.Context, c *portainer.Client, fx *fixture) error {
			req := fx.src.request("other")
			req.Env = []portainer.EnvVar{{Name: "HTTP_PORT", Value: "9011"}, {Name: "APP_ID", Value: "other"}}
			_, err := c.CreateStackFromRepository(ctx, 1, req)
			return err
		}},
		{"CreateStackFromString", "POST /api/stacks/create/standalone/string", func(ctx context.Context, c *portainer.Client, fx *fixture) error {
			_, err := c.CreateStackFromString(ctx, 1, portainer.CreateStringStackRequest{Name: "str", StackFileContent: "services:\n  a:\n    image: busybox\n"})
			return err
		}},
		{"ListStacks", "GET /api/stacks", func(ctx context.Context, c *portainer.Client, fx *fixture) error {
			_, err := c.ListStacks(ctx, 1)
			return err
		}},
		{"GetStack", "GET /api/stacks/{id}", func(ctx context.Context, c *portainer.Client, fx *fixture) error {
			_, err := c.GetStack(ctx, fx.gitID)
			return err
		}},
		{"FindStackByName", "GET /api/stacks", func(ctx context.Context, c *portainer.Client, fx *fixture) error {
			_, err := c.FindStackByName(ctx, 1, "fx")
			return err
		}},
		{"UpdateStackGit", "POST /api/stacks/{id}/git", func(ctx context.Context, c *portainer.Client, fx *fixture) error {
			st := fx.fake.Stacks()[0]
			req := portainer.GitUpdateRequest{RepositoryReferenceName: st.GitConfig.ReferenceName, RepositoryAuthentication: true, RepositoryUsername: fx.src.creds.Username}
			_, err := c.UpdateStackGit(ctx, fx.gitID, 1, req)
			return err
		}},
		{"RedeployStackGit", "PUT /api/stacks/{id}/git/redeploy", func(ctx context.Context, c *portainer.Client, fx *fixture) error {
			_, err := c.RedeployStackGit(ctx, fx.gitID, 1, portainer.GitRedeployRequest{RepositoryReferenceName: "refs/heads/main", RepositoryAuthentication: true, RepositoryUsername: fx.src.creds.Username})
			return err
		}},
		{"StartStack", "POST /api/stacks/{id}/start", func(ctx context.Context, c *portainer.Client, fx *fixture) error {
			_, err := c.StartStack(ctx, fx.stoppedID, 1)
			return err
		}},
		{"StopStack", "POST /api/stacks/{id}/stop", func(ctx context.Context, c *portainer.Client, fx *fixture) error {
			_, err := c.StopStack(ctx, fx.gitID, 1)
			return err
		}},
		{"DeleteStack", "DELETE /api/stacks/{id}", func(ctx context.Context, c *portainer.Client, fx *fixture) error {
			return c.DeleteStack(ctx, fx.stoppedID, 1)
		}},
		{"MigrateStack", "POST /api/stacks/{id}/migrate", func(ctx context.Context, c *portainer.Client, fx *fixture) error {
			_, err := c.MigrateStack(ctx, fx.stoppedID, 1, portainer.MigrateRequest{EndpointID: 2})
			return err
		}},
		{"ListContainers", "GET /api/endpoints/{id}/docker/containers/json", func(ctx context.Context, c *portainer.Client, fx *fixture) error {
			_, err := c.ListContainers(ctx, 1, portainer.ContainerFilter{All: true})
			return err
		}},
		{"InspectContainer", "GET /api/endpoints/{id}/docker/containers/{cid}/json", func(ctx context.Context, c *portainer.Client, fx *fixture) error {
			_, err := c.InspectContainer(ctx, 1, fx.container)
			return err
		}},
		{"ListVolumes", "GET /api/endpoints/{id}/docker/volumes", func(ctx context.Context, c *portainer.Client, fx *fixture) error {
			_, err := c.ListVolumes(ctx, 1, nil)
			return err
		}},
		{"DeleteVolume", "DELETE /api/endpoints/{id}/docker/volumes/{name}", func(ctx context.Context, c *portainer.Client, fx *fixture) error {
			return c.DeleteVolume(ctx, 1, fx.volume)
		}},
		{"InspectImage", "GET /api/endpoints/{id}/docker/images/{rest...}", func(ctx context.Context, c *portainer.Client, fx *fixture) error {
			_, err := c.InspectImage(ctx, 1, "nginx:1.27") // the fixture's stack runs it
			return err
		}},
		{"PullImage", "POST /api/endpoints/{id}/docker/images/create", func(ctx context.Context, c *portainer.Client, fx *fixture) error {
			return c.PullImage(ctx, 1, "busybox:1.36", nil, nil)
		}},
	}
}

// TestEveryMethodSucceeds makes sure the fixture is valid for each call, so
// the failure cases below fail because of the fault alone.
func TestEveryMethodSucceeds(t *testing.T) {
	for _, mc := range methodCases() {
		t.Run(mc.name, func(t *testing.T) {
			t.Parallel()
			fx, cfg := newFixture(t, nil)
			c := newClient(t, cfg)
			if err := mc.call(ctxT(t), c, fx); err != nil {
				t.Fatalf("%s: %v", mc.name, err)
			}
			if n := fx.fake.Faults.Calls(mc.route); n != 1 {
				t.Fatalf("%s: route %s called %d times, want 1", mc.name, mc.route, n)
			}
		})
	}
}

func TestEveryMethodFaults(t *testing.T) {
	type faultCase struct {
		name  string
		fault faults.Fault
		check func(t *testing.T, err error)
	}
	fcs := []faultCase{
		{"500", faults.Fault{Status: 500, Body: `{"message":"Unable to do it","details":"Something broke"}`}, func(t *testing.T, err error) {
			if upstream.StatusOf(err) != 500 || !strings.Contains(err.Error(), "Unable to do it: Something broke") {
				t.Fatalf("error = %v, want 500 with message: details", err)
			}
		}},
		{"404", faults.Fault{Status: 404, Body: `{"message":"Unable to find a stack","details":"Object not found inside the database"}`}, func(t *testing.T, err error) {
			if !errors.Is(err, portainer.ErrNotFound) {
				t.Fatalf("error = %v, want ErrNotFound", err)
			}
		}},
		{"409", faults.Fault{Status: 409, Body: `{"message":"conflict"}`}, func(t *testing.T, err error) {
			if !errors.Is(err, portainer.ErrConflict) || !strings.Contains(err.Error(), "conflict") {
				t.Fatalf("error = %v, want ErrConflict", err)
			}
		}},
		// The delay outlasts the 150ms client timeout. It is kept short because
		// the server cannot notice a client that left while a request body is
		// still unread, so the handler sleeps it out.
		{"timeout", faults.Fault{Delay: time.Second, Times: 10}, func(t *testing.T, err error) {
			if upstream.StatusOf(err) != 0 || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, portainer.ErrUnavailable) {
				t.Fatalf("error = %v, want a timeout", err)
			}
		}},
		{"drop", faults.Fault{Drop: true, Times: 10}, func(t *testing.T, err error) {
			if upstream.StatusOf(err) != 0 || !errors.Is(err, portainer.ErrUnavailable) {
				t.Fatalf("error = %v, want a connection error", err)
			}
		}},
	}
	for _, mc := range methodCases() {
		for _, fc := range fcs {
			t.Run(mc.name+"/"+fc.name, func(t *testing.T) {
				t.Parallel()
				fx, cfg := newFixture(t, nil)
				cfg.Timeout, cfg.DeployTimeout = 150*time.Millisecond, 150*time.Millisecond
				c := newClient(t, cfg)
				fx.fake.Faults.Fail(mc.route, fc.fault)
				start := time.Now()
				err := mc.call(ctxT(t), c, fx)
				if err == nil {
					t.Fatalf("%s succeeded despite %s", mc.name, fc.name)
				}
				fc.check(t, err)
				if time.Since(start) > 4*time.Second {
					t.Fatalf("took %s: the per-call timeout was not applied", time.Since(start))
				}
			})
		}
	}
}

// TestJWTReloginOnce: a rejected JWT (expired) costs one login and one
// repeat of the call, for every method.
func TestJWTReloginOnce(t *testing.T) {
	for _, mc := range methodCases() {
		t.Run(mc.name, func(t *testing.T) {
			t.Parallel()
			fx, cfg := newFixture(t, nil)
			cfg.APIKey, cfg.Username, cfg.Password = "", fake.DefaultAdminUser, fake.DefaultAdminPassword
			c := newClient(t, cfg)
			ctx := ctxT(t)
			if _, err := c.ListEndpoints(ctx); err != nil { // logs in
				t.Fatal(err)
			}
			fx.fake.ExpireTokens()
			fx.fake.Faults.ResetCalls()
			if err := mc.call(ctx, c, fx); err != nil {
				// The public status route never rejects a token; any other
				// route answers 401 first, then succeeds after re-login.
				t.Fatalf("%s after token expiry: %v", mc.name, err)
			}
			wantLogins, wantCalls := 1, 2
			if mc.route == "GET /api/system/status" {
				wantLogins, wantCalls = 0, 1
			}
			if n := fx.fake.Faults.Calls("POST /api/auth"); n != wantLogins {
				t.Fatalf("logins = %d, want %d", n, wantLogins)
			}
			if n := fx.fake.Faults.Calls(mc.route); n != wantCalls {
				t.Fatalf("route calls = %d, want %d", n, wantCalls)
			}
		})
	}
}

func TestJWTRejectedTwiceGivesUp(t *testing.T) {
	fx, cfg := newFixture(t, nil)
	cfg.APIKey, cfg.Username, cfg.Password = "", fake.DefaultAdminUser, fake.DefaultAdminPassword
	c := newClient(t, cfg)
	fx.fake.Faults.Fail("GET /api/stacks/{id}", faults.Fault{Status: 401, Body: `{"message":"Invalid JWT token","details":"Unauthorized"}`, Times: 5})
	_, err := c.GetStack(ctxT(t), fx.gitID)
	if !errors.Is(err, portainer.ErrUnauthorized) || upstream.StatusOf(err) != 401 {
		t.Fatalf("error = %v, want 401", err)
	}
	if n := fx.fake.Faults.Calls("POST /api/auth"); n != 2 {
		t.Fatalf("logins = %d, want 2 (initial + one re-login)", n)
	}
	if n := fx.fake.Faults.Calls("GET /api/stacks/{id}"); n != 2 {
		t.Fatalf("calls = %d, want 2", n)
	}
}

func TestLoginErrors(t *testing.T) {
	cfg, tgt := suite.Portainer(t)
	f := tgt.RequireFake(t)
	cfg.APIKey, cfg.Username, cfg.Password = "", fake.DefaultAdminUser, "wrong-password"
	c := newClient(t, cfg)
	_, err := c.ListStacks(ctxT(t), 0)
	if upstream.StatusOf(err) != 422 || !strings.Contains(err.Error(), "Invalid credentials") {
		t.Fatalf("error = %v, want 422 Invalid credentials", err)
	}
	if n := f.Faults.Calls("GET /api/stacks"); n != 0 {
		t.Fatalf("stacks called %d times without a token", n)
	}
	// An unknown API key is a 401.
	cfg.APIKey = "ptr_unknown"
	c = newClient(t, cfg)
	if _, err := c.ListStacks(ctxT(t), 0); !errors.Is(err, portainer.ErrUnauthorized) || !strings.Contains(err.Error(), "Invalid JWT token") {
		t.Fatalf("unknown key error = %v", err)
	}
}

// TestAuthHeaders: never both X-API-Key and Authorization, never a cookie,
// even though the login sets one (a jar would make writes fail CSRF).
func TestAuthHeaders(t *testing.T) {
	for _, mode := range []string{"apikey", "jwt"} {
		t.Run(mode, func(t *testing.T) {
			// On a real server the headers are seen by the transport.
			var log headerLog
			cfg, tgt := suite.Portainer(t, suite.WithPortainerServerWrap(log.wrap),
				suite.WithPortainerTransport(func(rt http.RoundTripper) http.RoundTripper {
					if suite.Real() {
						return log.transport(rt)
					}
					return rt
				}))
			if mode == "jwt" {
				cfg = tgt.JWT(t, cfg)
			}
			image := tgt.Image(t)
			jar := newJar(t) // the client must drop it
			if cfg.HTTPClient != nil {
				cfg.HTTPClient.Jar = jar
			} else {
				cfg.HTTPClient = &http.Client{Jar: jar}
			}
			c := newClient(t, cfg)
			ctx := ctxT(t)
			name := suite.Prefix(t)
			tgt.Cleanup(t, c, name)
			st, err := c.CreateStackFromString(ctx, tgt.EndpointID, portainer.CreateStringStackRequest{Name: name,
				StackFileContent: "services:\n  a:\n    image: " + image + "\n    command: [\"sleep\", \"infinity\"]\n"})
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if _, err := c.StopStack(ctx, st.ID, tgt.EndpointID); err != nil {
				t.Fatalf("stop: %v", err)
			}
			if err := c.DeleteStack(ctx, st.ID, tgt.EndpointID); err != nil {
				t.Fatalf("delete: %v", err)
			}
			if len(log.all()) == 0 {
				t.Fatal("no request was seen")
			}
			for _, h := range log.all() {
				if h.Get("Cookie") != "" {
					t.Fatalf("request sent a cookie")
				}
				if h.Get("X-Api-Key") != "" && h.Get("Authorization") != "" {
					t.Fatalf("request sent both X-API-Key and Authorization")
				}
				if mode == "apikey" && h.Get("X-Api-Key") == "" {
					t.Fatalf("request without API key")
				}
			}
		})
	}
}

func TestBothHeadersForbidden(t *testing.T) {
	cfg, tgt := suite.Portainer(t)
	tgt.RequireFake(t)
	req, _ := http.NewRequest(http.MethodGet, cfg.URL+"/api/stacks", nil)
	req.Header.Set("X-API-Key", fake.DefaultAPIKey)
	req.Header.Set("Authorization", "Bearer whatever")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("status = %d, want 403", resp.StatusCode)
	}
}

func TestGetRetriedOn503(t *testing.T) {
	fx, cfg := newFixture(t, nil)
	c := newClient(t, cfg)
	fx.fake.Faults.Fail("GET /api/stacks/{id}", faults.Fault{Status: 503, Body: `{"message":"busy"}`})
	st, err := c.GetStack(ctxT(t), fx.gitID)
	if err != nil || st.ID != fx.gitID {
		t.Fatalf("GetStack = %+v, %v; want success after one retry", st, err)
	}
	if n := fx.fake.Faults.Calls("GET /api/stacks/{id}"); n != 2 {
		t.Fatalf("calls = %d, want 2", n)
	}
	// A 500 is no reason to retry.
	fx.fake.Faults.ResetCalls()
	fx.fake.Faults.Fail("GET /api/stacks/{id}", faults.Fault{Status: 500, Body: `{"message":"x"}`})
	if _, err := c.GetStack(ctxT(t), fx.gitID); upstream.StatusOf(err) != 500 {
		t.Fatalf("error = %v, want 500", err)
	}
	if n := fx.fake.Faults.Calls("GET /api/stacks/{id}"); n != 1 {
		t.Fatalf("calls after 500 = %d, want 1", n)
	}
}

// TestCreateNeverRetriedBlindly: a create that may have happened is never
// repeated by the client.
func TestCreateNeverRetriedBlindly(t *testing.T) {
	const route = "POST /api/stacks/create/standalone/repository"
	for _, tc := range []struct {
		name  string
		fault faults.Fault
	}{
		{"503", faults.Fault{Status: 503, Body: `{"message":"busy"}`}},
		{"drop", faults.Fault{Drop: true}},
		{"drop after work", faults.Fault{Drop: true, Phase: faults.After}},
		{"timeout", faults.Fault{Delay: time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx, cfg := newFixture(t, nil)
			cfg.DeployTimeout = 200 * time.Millisecond
			c := newClient(t, cfg)
			fx.fake.Faults.Fail(route, tc.fault)
			req := fx.src.request("again")
			req.Env = []portainer.EnvVar{{Name: "HTTP_PORT", Value: "9021"}, {Name: "APP_ID", Value: "again"}}
			if _, err := c.CreateStackFromRepository(ctxT(t), 1, req); err == nil {
				t.Fatal("create succeeded despite the fault")
			}
			if n := fx.fake.Faults.Calls(route); n != 1 {
				t.Fatalf("create called %d times, want exactly 1", n)
			}
			if tc.fault.Phase == faults.After {
				// The work happened although the answer was lost: the stack
				// exists, which is what a caller must look up.
				if _, err := c.FindStackByName(ctxT(t), 1, "again"); err != nil {
					t.Fatalf("FindStackByName after a lost answer: %v", err)
				}
			}
		})
	}
}
