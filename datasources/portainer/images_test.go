package portainer_test

import (
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/appmanage/appmanage/datasources/faults"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/datasources/portainer/fake"
	"github.com/appmanage/appmanage/datasources/suite"
	"github.com/appmanage/appmanage/datasources/upstream"
)

// progressLog collects a pull's progress lines.
type progressLog struct {
	mu    sync.Mutex
	lines []portainer.PullProgress
}

func (p *progressLog) add(l portainer.PullProgress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, l)
}

func (p *progressLog) all() []portainer.PullProgress {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]portainer.PullProgress(nil), p.lines...)
}

// checkGrowing asserts that every layer's Downloading lines grow to their
// total, and returns the layers seen.
func checkGrowing(t *testing.T, lines []portainer.PullProgress) map[string]int64 {
	t.Helper()
	last := map[string]int64{}
	totals := map[string]int64{}
	for _, l := range lines {
		if l.Status != "Downloading" {
			continue
		}
		if l.ID == "" || l.Total <= 0 || l.Current <= 0 || l.Current > l.Total {
			t.Fatalf("bad progress line %+v", l)
		}
		if l.Current <= last[l.ID] {
			t.Fatalf("layer %s: current %d after %d: not growing", l.ID, l.Current, last[l.ID])
		}
		last[l.ID], totals[l.ID] = l.Current, l.Total
	}
	return totals
}

func TestInspectImage(t *testing.T) {
	cfg, tgt := suite.Portainer(t)
	f := tgt.RequireFake(t)
	c := newClient(t, cfg)
	ctx := ctxT(t)

	if _, err := c.InspectImage(ctx, 1, "hello:1"); !errors.Is(err, portainer.ErrNotFound) {
		t.Fatalf("absent image: %v, want ErrNotFound", err)
	}
	if err := f.AddImage(1, "hello:1"); err != nil {
		t.Fatal(err)
	}
	img, err := c.InspectImage(ctx, 1, "hello:1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(img.ID, "sha256:") || len(img.RepoTags) != 1 || img.RepoTags[0] != "hello:1" || img.Size <= 0 || len(img.RootFS.Layers) < 2 {
		t.Fatalf("image = %+v", img)
	}
	// Docker's other spellings of the same image: fully qualified, by id,
	// by id prefix, by digest.
	for _, ref := range []string{"docker.io/library/hello:1", img.ID, strings.TrimPrefix(img.ID, "sha256:")[:12],
		"hello@" + strings.SplitN(img.RepoDigests[0], "@", 2)[1]} {
		got, err := c.InspectImage(ctx, 1, ref)
		if err != nil || got.ID != img.ID {
			t.Errorf("inspect %q = %+v, %v", ref, got, err)
		}
	}
	// Another endpoint has its own store; an image without a tag is :latest.
	if _, err := c.InspectImage(ctx, 2, "hello:1"); err == nil {
		t.Errorf("endpoint 2 has no images, but inspect found one")
	}
	if _, err := c.InspectImage(ctx, 1, "hello"); !errors.Is(err, portainer.ErrNotFound) {
		t.Errorf("hello (latest): %v, want ErrNotFound", err)
	}
	// A registry with a port and a path with slashes.
	const private = "127.0.0.1:5000/team/tool:2.1"
	if err := f.AddImage(1, private); err != nil {
		t.Fatal(err)
	}
	if got, err := c.InspectImage(ctx, 1, private); err != nil || got.RepoTags[0] != private {
		t.Fatalf("inspect %s = %+v, %v", private, got, err)
	}
	// A deployed container's image is on its host, as Docker has it.
	if _, err := c.CreateStackFromString(ctx, 1, portainer.CreateStringStackRequest{Name: "imgs",
		StackFileContent: "services:\n  a:\n    image: busybox:1.36\n"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.InspectImage(ctx, 1, "busybox:1.36"); err != nil {
		t.Fatalf("image of a deployed container: %v", err)
	}
	if f.RemoveImage(1, "hello:1"); f.HasImage(1, "hello:1") {
		t.Fatal("RemoveImage left the image")
	}
}

func TestPullImage(t *testing.T) {
	cfg, tgt := suite.Portainer(t)
	f := tgt.RequireFake(t)
	c := newClient(t, cfg)
	ctx := ctxT(t)

	var p progressLog
	if err := c.PullImage(ctx, 1, "nginx:1.27", nil, p.add); err != nil {
		t.Fatal(err)
	}
	lines := p.all()
	totals := checkGrowing(t, lines)
	if len(totals) < 2 {
		t.Fatalf("layers downloading: %v (lines %+v)", totals, lines)
	}
	if first := lines[0]; first.Status != "Pulling from library/nginx" || first.ID != "1.27" {
		t.Errorf("first line = %+v", first)
	}
	if last := lines[len(lines)-1]; last.Status != "Status: Downloaded newer image for nginx:1.27" {
		t.Errorf("last line = %+v", last)
	}
	img, err := c.InspectImage(ctx, 1, "nginx:1.27")
	if err != nil {
		t.Fatalf("pulled image not present: %v", err)
	}
	var sum int64
	for _, n := range totals {
		sum += n
	}
	if sum != img.Size {
		t.Errorf("layer totals %d != image size %d", sum, img.Size)
	}
	// Pulling again downloads nothing.
	var again progressLog
	if err := c.PullImage(ctx, 1, "docker.io/library/nginx:1.27", nil, again.add); err != nil {
		t.Fatal(err)
	}
	if l := again.all(); len(checkGrowing(t, l)) != 0 || l[len(l)-1].Status != "Status: Image is up to date for nginx:1.27" {
		t.Errorf("second pull = %+v", l)
	}
	// No tag means latest (the client never sends an empty tag, which
	// would pull every tag), and a nil progress is fine.
	if err := c.PullImage(ctx, 1, "busybox", nil, nil); err != nil || !f.HasImage(1, "busybox:latest") {
		t.Fatalf("pull busybox: %v", err)
	}
	// Credentials go in X-Registry-Auth.
	auth := &portainer.RegistryAuth{Username: "puller", Password: "s3cret", ServerAddress: "127.0.0.1:5000"}
	if err := c.PullImage(ctx, 1, "127.0.0.1:5000/team/tool:2", auth, nil); err != nil {
		t.Fatal(err)
	}
	if user, ok := f.PullAuth("127.0.0.1:5000/team/tool:2"); !ok || user != "puller" {
		t.Errorf("pull auth = %q, %v", user, ok)
	}
}

func TestPullImageFailures(t *testing.T) {
	cfg, tgt := suite.Portainer(t, suite.WithPortainerFake(func(o *fake.Options) {
		o.Endpoints = []fake.Endpoint{{ID: 1, Name: "local"}, {ID: 2, Name: "down"}}
	}))
	f := tgt.RequireFake(t)
	cfg.RetryWait = time.Millisecond
	c := newClient(t, cfg)
	ctx := ctxT(t)
	const route = "POST /api/endpoints/{id}/docker/images/create"

	t.Run("refused before streaming", func(t *testing.T) {
		f.FailPull("missing:2")
		f.Faults.ResetCalls()
		err := c.PullImage(ctx, 1, "missing:2", nil, nil)
		if !errors.Is(err, portainer.ErrNotFound) || !strings.Contains(err.Error(), "pull access denied for missing") {
			t.Fatalf("error = %v, want 404 pull access denied", err)
		}
		if n := f.Faults.Calls(route); n != 1 {
			t.Fatalf("a refused pull was sent %d times", n)
		}
		if f.HasImage(1, "missing:2") {
			t.Fatal("refused pull left an image")
		}
	})
	t.Run("error inside the stream", func(t *testing.T) {
		const msg = "read tcp 172.17.0.1:41234->104.16.0.1:443: read: connection reset by peer"
		f.BreakPull("broken:1", msg)
		f.Faults.ResetCalls()
		var p progressLog
		err := c.PullImage(ctx, 1, "broken:1", nil, p.add)
		var pe *portainer.PullError
		if !errors.As(err, &pe) || pe.Message != msg || pe.Ref != "broken:1" {
			t.Fatalf("error = %v, want a PullError with the daemon's message", err)
		}
		if len(checkGrowing(t, p.all())) == 0 {
			t.Fatal("no progress before the error")
		}
		if n := f.Faults.Calls(route); n != 1 {
			t.Fatalf("a pull the daemon failed was retried: %d calls", n)
		}
		if f.HasImage(1, "broken:1") {
			t.Fatal("broken pull left an image")
		}
	})
	t.Run("connection cut mid-stream is retried", func(t *testing.T) {
		f.CutPull("flaky:1", 1)
		f.Faults.ResetCalls()
		var p progressLog
		if err := c.PullImage(ctx, 1, "flaky:1", nil, p.add); err != nil {
			t.Fatalf("pull after a cut: %v", err)
		}
		if n := f.Faults.Calls(route); n != 2 {
			t.Fatalf("calls = %d, want 2 (cut, retried)", n)
		}
		if !f.HasImage(1, "flaky:1") {
			t.Fatal("image missing after the retried pull")
		}
	})
	t.Run("connection cut every time", func(t *testing.T) {
		f.CutPull("dead:1", 100)
		f.Faults.ResetCalls()
		err := c.PullImage(ctx, 1, "dead:1", nil, nil)
		if upstream.StatusOf(err) != 0 || !errors.Is(err, portainer.ErrUnavailable) {
			t.Fatalf("error = %v, want a connection error", err)
		}
		if n := f.Faults.Calls(route); n != 4 {
			t.Fatalf("calls = %d, want 4 (1 + 3 retries)", n)
		}
	})
	t.Run("environment down", func(t *testing.T) {
		f.SetEndpointStatus(2, 2)
		err := c.PullImage(ctx, 2, "nginx:1", nil, nil)
		if upstream.StatusOf(err) != 502 {
			t.Fatalf("error = %v, want 502", err)
		}
	})
	t.Run("bad reference", func(t *testing.T) {
		if err := c.PullImage(ctx, 1, "Nginx:1", nil, nil); upstream.StatusOf(err) != 400 {
			t.Fatalf("error = %v, want 400 invalid reference", err)
		}
	})
	t.Run("deploy timeout bounds the stream", func(t *testing.T) {
		slow, stgt := suite.Portainer(t, suite.WithPortainerFake(func(o *fake.Options) { o.PullStep = 50 * time.Millisecond }))
		stgt.RequireFake(t)
		slow.DeployTimeout, slow.MaxRetries = 300*time.Millisecond, -1
		sc := newClient(t, slow)
		start := time.Now()
		err := sc.PullImage(ctx, 1, "nginx:1", nil, nil)
		if !errors.Is(err, portainer.ErrUnavailable) || time.Since(start) > 3*time.Second {
			t.Fatalf("error = %v after %s, want a timeout", err, time.Since(start))
		}
	})
}

// TestPullableByRegistry: with Options.Pullable asking an in-memory
// registry, a pull (and a deploy) succeeds for what the registry has.
func TestPullableByRegistry(t *testing.T) {
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")
	img, err := random.Image(256, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host + "/library/hello:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	cfg, tgt := suite.Portainer(t, suite.WithPortainerFake(func(o *fake.Options) { o.Pullable = fake.RegistryPullable() }))
	f := tgt.RequireFake(t)
	c := newClient(t, cfg)
	ctx := ctxT(t)
	if err := c.PullImage(ctx, 1, host+"/library/hello:1", nil, nil); err != nil {
		t.Fatalf("pull of what the registry has: %v", err)
	}
	err = c.PullImage(ctx, 1, host+"/library/missing:2", nil, nil)
	if !errors.Is(err, portainer.ErrNotFound) || !strings.Contains(err.Error(), "manifest unknown") {
		t.Fatalf("pull of what it lacks: %v", err)
	}
	// A compose up pulls what the endpoint lacks, by the same rule.
	_, err = c.CreateStackFromString(ctx, 1, portainer.CreateStringStackRequest{Name: "regmiss",
		StackFileContent: "services:\n  a:\n    image: " + host + "/library/missing:2\n"})
	if err == nil || !strings.Contains(err.Error(), "manifest unknown") {
		t.Fatalf("deploy of a missing image: %v", err)
	}
	if _, err := c.CreateStackFromString(ctx, 1, portainer.CreateStringStackRequest{Name: "regok",
		StackFileContent: "services:\n  a:\n    image: " + host + "/library/hello:1\n"}); err != nil {
		t.Fatalf("deploy of a present image: %v", err)
	}
	// An unreachable registry is a 500, not a 404.
	u, _ := url.Parse(reg.URL)
	reg.Close()
	f.RemoveImage(1, u.Host+"/library/hello:1")
	if err := c.PullImage(ctx, 1, host+"/library/hello:1", nil, nil); upstream.StatusOf(err) != 500 {
		t.Fatalf("pull from a closed registry: %v, want 500", err)
	}
}

// TestFailImage: a container of a FailImage image exits right after
// compose up started it; the deploy itself succeeds.
func TestFailImage(t *testing.T) {
	cfg, tgt := suite.Portainer(t)
	f := tgt.RequireFake(t)
	c := newClient(t, cfg)
	f.FailImage("app:2", 3)
	st, err := c.CreateStackFromString(ctxT(t), 1, portainer.CreateStringStackRequest{Name: "crash",
		StackFileContent: "services:\n  app:\n    image: app:2\n  db:\n    image: mariadb:11\n"})
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	list, err := c.ListContainers(ctxT(t), 1, portainer.ContainerFilter{All: true, Labels: []string{"com.docker.compose.project=" + st.Name}})
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, ct := range list {
		states[ct.Name()] = ct.State
		if ct.Name() == "crash-app-1" {
			in, err := c.InspectContainer(ctxT(t), 1, ct.ID)
			if err != nil || in.State.ExitCode != 3 || in.State.Running {
				t.Fatalf("inspect = %+v, %v; want exit code 3", in.State, err)
			}
		}
	}
	if states["crash-app-1"] != "exited" || states["crash-db-1"] != "running" {
		t.Fatalf("states = %v", states)
	}
	// Faults on the image routes are injected like any other.
	f.Faults.Fail("GET /api/endpoints/{id}/docker/images/{rest...}", faults.Fault{Status: 500, Body: `{"message":"boom"}`})
	if _, err := c.InspectImage(ctxT(t), 1, "app:2"); upstream.StatusOf(err) != 500 {
		t.Fatalf("inspect with a fault: %v", err)
	}
}
