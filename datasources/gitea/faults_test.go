package gitea_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/appmanage/appmanage/datasources/faults"
	"github.com/appmanage/appmanage/datasources/gitea"
	"github.com/appmanage/appmanage/datasources/gitea/fake"
	"github.com/appmanage/appmanage/datasources/suite"
	"github.com/appmanage/appmanage/datasources/upstream"
)

// method is one client method, the fake route it ends on, and whether the
// client may retry it.
type method struct {
	name       string
	route      string
	idempotent bool
	call       func(ctx context.Context, c *gitea.Client) error
}

// seeded is a fake with repository "app" holding one file, so every method
// has something to act on.
func seeded(t *testing.T) (gitea.Config, *fake.Server, string) {
	t.Helper()
	cfg, tgt := suite.Gitea(t)
	f := tgt.RequireFake(t)
	c := newClient(t, cfg)
	ctx := ctxT(t)
	if _, err := c.CreateRepo(ctx, "app", gitea.CreateRepoOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := c.CommitFiles(ctx, "app", gitea.Commit{Files: []gitea.FileChange{
		{Operation: gitea.OpCreate, Path: "docker-compose.yml", Content: []byte("services: {}\n")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	f.Faults.ResetCalls()
	return cfg, f, res.Files["docker-compose.yml"]
}

func methods(sha string) []method {
	return []method{
		{"Version", fake.RouteVersion, true, func(ctx context.Context, c *gitea.Client) error {
			_, err := c.Version(ctx)
			return err
		}},
		{"GetRepo", fake.RouteGetRepo, true, func(ctx context.Context, c *gitea.Client) error {
			_, err := c.GetRepo(ctx, "app")
			return err
		}},
		{"GetFile", fake.RouteGetContents, true, func(ctx context.Context, c *gitea.Client) error {
			_, err := c.GetFile(ctx, "app", "docker-compose.yml", "main")
			return err
		}},
		{"GetRawFile", fake.RouteRaw, true, func(ctx context.Context, c *gitea.Client) error {
			_, err := c.GetRawFile(ctx, "app", "docker-compose.yml", "main")
			return err
		}},
		{"ListCommits", fake.RouteCommits, true, func(ctx context.Context, c *gitea.Client) error {
			_, err := c.ListCommits(ctx, "app", gitea.ListCommitsOptions{})
			return err
		}},
		{"DeleteRepo", fake.RouteDeleteRepo, true, func(ctx context.Context, c *gitea.Client) error {
			return c.DeleteRepo(ctx, "app")
		}},
		{"CreateRepo", fake.RouteCreateUserRepo, false, func(ctx context.Context, c *gitea.Client) error {
			_, err := c.CreateRepo(ctx, "other", gitea.CreateRepoOptions{})
			return err
		}},
		{"CommitFiles", fake.RouteChangeFiles, false, func(ctx context.Context, c *gitea.Client) error {
			_, err := c.CommitFiles(ctx, "app", gitea.Commit{Files: []gitea.FileChange{
				{Operation: gitea.OpCreate, Path: "b.txt", Content: []byte("b")},
			}})
			return err
		}},
		{"CreateFile", fake.RouteCreateFile, false, func(ctx context.Context, c *gitea.Client) error {
			_, err := c.CreateFile(ctx, "app", "c.txt", []byte("c"), gitea.FileOptions{})
			return err
		}},
		{"UpdateFile", fake.RouteUpdateFile, false, func(ctx context.Context, c *gitea.Client) error {
			_, err := c.UpdateFile(ctx, "app", "docker-compose.yml", []byte("services: {x: {}}\n"), sha, gitea.FileOptions{})
			return err
		}},
		{"DeleteFile", fake.RouteDeleteFile, false, func(ctx context.Context, c *gitea.Client) error {
			_, err := c.DeleteFile(ctx, "app", "docker-compose.yml", sha, gitea.FileOptions{})
			return err
		}},
	}
}

// TestFaults injects every failure kind into every method, with retries off,
// and checks the error the caller can branch on.
func TestFaults(t *testing.T) {
	suite.FakeOnly(t)
	faultsTable := []struct {
		name  string
		fault faults.Fault
		check func(t *testing.T, err error)
	}{
		{"500", faults.Fault{Status: 500, Body: `{"message":"boom","url":"x"}`}, func(t *testing.T, err error) {
			var ae *upstream.APIError
			if !errors.As(err, &ae) || ae.Status != 500 || ae.Message != "boom" || ae.Upstream != "gitea" {
				t.Fatalf("want APIError 500 boom, got %#v", err)
			}
			if errors.Is(err, upstream.ErrUnavailable) || errors.Is(err, upstream.ErrNotFound) {
				t.Fatalf("500 must not look transient or missing: %v", err)
			}
		}},
		{"503", faults.Fault{Status: 503, Body: `{"message":"maintenance"}`}, func(t *testing.T, err error) {
			if !errors.Is(err, upstream.ErrUnavailable) || upstream.StatusOf(err) != 503 {
				t.Fatalf("want ErrUnavailable 503, got %v", err)
			}
		}},
		{"403", faults.Fault{Status: 403, Body: `{"message":"token does not have at least one of required scope(s)"}`}, func(t *testing.T, err error) {
			if !errors.Is(err, upstream.ErrUnauthorized) || errors.Is(err, upstream.ErrUnavailable) {
				t.Fatalf("want ErrUnauthorized, got %v", err)
			}
		}},
		{"404", faults.Fault{Status: 404, Body: `{"message":"not found","errors":["gone"],"url":"x"}`}, func(t *testing.T, err error) {
			var ae *upstream.APIError
			if !errors.Is(err, upstream.ErrNotFound) || !errors.As(err, &ae) || ae.Message != "not found: gone" {
				t.Fatalf("want ErrNotFound with message, got %v", err)
			}
		}},
		{"422", faults.Fault{Status: 422, Body: `{"message":"[Name]: AlphaDashDot"}`}, func(t *testing.T, err error) {
			if upstream.StatusOf(err) != 422 || errors.Is(err, upstream.ErrConflict) {
				t.Fatalf("want 422, got %v", err)
			}
		}},
		{"timeout", faults.Fault{Delay: 3 * time.Second}, func(t *testing.T, err error) {
			if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, upstream.ErrUnavailable) || upstream.StatusOf(err) != 0 {
				t.Fatalf("want timeout (DeadlineExceeded, ErrUnavailable, status 0), got %v", err)
			}
		}},
		{"dropped connection", faults.Fault{Drop: true}, func(t *testing.T, err error) {
			if !errors.Is(err, upstream.ErrUnavailable) || upstream.StatusOf(err) != 0 {
				t.Fatalf("want ErrUnavailable with status 0, got %v", err)
			}
		}},
	}
	for _, ft := range faultsTable {
		t.Run(ft.name, func(t *testing.T) {
			t.Parallel()
			cfg, f, sha := seeded(t)
			cfg.MaxRetries = -1
			cfg.Timeout = 200 * time.Millisecond
			c := newClient(t, cfg)
			for _, m := range methods(sha) {
				t.Run(m.name, func(t *testing.T) {
					f.Faults.Fail(m.route, ft.fault)
					start := time.Now()
					err := m.call(context.Background(), c)
					if err == nil {
						t.Fatalf("%s succeeded despite the fault", m.name)
					}
					ft.check(t, err)
					if d := time.Since(start); d > 2*time.Second {
						t.Fatalf("%s took %s; the per-call timeout did not apply", m.name, d)
					}
				})
			}
		})
	}
}

// TestCallerContext shows every method honours ctx: a cancelled one fails
// fast without reaching the server.
func TestCallerContext(t *testing.T) {
	suite.FakeOnly(t)
	cfg, f, sha := seeded(t)
	c := newClient(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, m := range methods(sha) {
		if err := m.call(ctx, c); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled ctx: want context.Canceled, got %v", m.name, err)
		}
	}
	if calls := f.Faults.AllCalls(); len(calls) != 0 {
		t.Fatalf("cancelled calls reached the server: %v", calls)
	}
}

// TestRetries proves non-idempotent calls are sent exactly once whatever
// happens, while idempotent ones are retried on 503 and dropped connections.
func TestRetries(t *testing.T) {
	suite.FakeOnly(t)
	for _, fault := range []struct {
		name string
		f    faults.Fault
	}{
		{"503", faults.Fault{Status: 503, Body: `{"message":"busy"}`}},
		{"dropped connection", faults.Fault{Drop: true}},
		{"answer lost after the work", faults.Fault{Drop: true, Phase: faults.After}},
	} {
		t.Run(fault.name, func(t *testing.T) {
			for _, m := range methods("") {
				t.Run(m.name, func(t *testing.T) {
					cfg, f, sha := seeded(t)
					m := methods(sha)[indexOf(m.name)]
					c := newClient(t, cfg)
					f.Faults.Fail(m.route, fault.f)
					err := m.call(ctxT(t), c)
					calls := f.Faults.Calls(m.route)
					if m.idempotent && m.name == "DeleteRepo" && fault.f.Phase == faults.After {
						// The first DELETE worked; the retry finds nothing,
						// which callers of DeleteRepo treat as done.
						if !errors.Is(err, upstream.ErrNotFound) || calls != 2 {
							t.Fatalf("DeleteRepo retry after a lost answer: want ErrNotFound after 2 calls, got %v after %d", err, calls)
						}
						return
					}
					if m.idempotent {
						if err != nil || calls != 2 {
							t.Fatalf("idempotent %s: want success after one retry (2 calls), got %v after %d calls", m.name, err, calls)
						}
						return
					}
					if !errors.Is(err, upstream.ErrUnavailable) {
						t.Fatalf("%s: want ErrUnavailable, got %v", m.name, err)
					}
					if calls != 1 {
						t.Fatalf("non-idempotent %s was sent %d times, want exactly 1", m.name, calls)
					}
				})
			}
		})
	}
}

func indexOf(name string) int {
	for i, m := range methods("") {
		if m.name == name {
			return i
		}
	}
	panic("unknown method " + name)
}

// TestLostCreateAnswer: the repository was created but the answer was lost;
// the caller sees a transient error, and GetRepo finds the repository, which
// is how a workflow resumes without a second POST.
func TestLostCreateAnswer(t *testing.T) {
	suite.FakeOnly(t)
	cfg, f, _ := seeded(t)
	c := newClient(t, cfg)
	f.Faults.Fail(fake.RouteCreateUserRepo, faults.Fault{Drop: true, Phase: faults.After})
	ctx := ctxT(t)
	if _, err := c.CreateRepo(ctx, "lost", gitea.CreateRepoOptions{}); !errors.Is(err, upstream.ErrUnavailable) {
		t.Fatalf("want ErrUnavailable, got %v", err)
	}
	if _, err := c.GetRepo(ctx, "lost"); err != nil {
		t.Fatalf("the repository should exist: %v", err)
	}
	if n := f.Faults.Calls(fake.RouteCreateUserRepo); n != 1 {
		t.Fatalf("create sent %d times", n)
	}
}
