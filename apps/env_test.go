package apps

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/appmanage/appmanage/datasources/gitea"
	giteafake "github.com/appmanage/appmanage/datasources/gitea/fake"
	"github.com/appmanage/appmanage/datasources/portainer"
	portainerfake "github.com/appmanage/appmanage/datasources/portainer/fake"
	"github.com/appmanage/appmanage/datasources/proxymanager"
	npmfake "github.com/appmanage/appmanage/datasources/proxymanager/fake"
	"github.com/appmanage/appmanage/datasources/upstream"
	"github.com/appmanage/appmanage/library"
	"github.com/appmanage/appmanage/ops"
	"github.com/appmanage/appmanage/sandbox"
	"github.com/appmanage/appmanage/store"
)

// testEnv is the domain wired to the three stateful fakes, on a real SQLite
// file, as the sandbox wires it.
type testEnv struct {
	t         testing.TB
	Gitea     *giteafake.Server
	Portainer *portainerfake.Server
	NPM       *npmfake.Server
	DBPath    string
	DB        *store.DB
	Engine    *ops.Engine
	Svc       *Service
	Lib       *library.Library
	Repos     *gitea.Client
	Stacks    *portainer.Client
	Proxies   *proxymanager.Client
	Owner     string
	// Log and OpsOptions are what newEnv started the engine with, for
	// tests that bring up another engine on the same file.
	Log        *slog.Logger
	OpsOptions ops.Options
	registries *Registries
}

type envOptions struct {
	clientTimeout time.Duration
	opsOptions    ops.Options
	library       *library.Library
	observer      upstream.Observer
	quiet         bool
	deferStart    bool
	registries    *Registries
	portainerOpts func(*portainerfake.Options)
	giteaWrap     func(http.Handler) http.Handler
}

type envOption func(*envOptions)

func withClientTimeout(d time.Duration) envOption {
	return func(o *envOptions) { o.clientTimeout = d }
}

func withLibrary(l *library.Library) envOption { return func(o *envOptions) { o.library = l } }

// withRegistries turns the image checks on with r (off by default, so the
// other tests make no registry call).
func withRegistries(r *Registries) envOption { return func(o *envOptions) { o.registries = r } }

// withPortainer tunes the fake Portainer's options.
func withPortainer(f func(*portainerfake.Options)) envOption {
	return func(o *envOptions) { o.portainerOpts = f }
}

// withQuietLog discards the logs even with -v (for tests that run hundreds
// of installs).
func withQuietLog() envOption { return func(o *envOptions) { o.quiet = true } }

// withObserver sees every upstream attempt of the three clients.
func withObserver(f upstream.Observer) envOption { return func(o *envOptions) { o.observer = f } }

// withGiteaWrap wraps the Gitea fake's handler (e.g. to record requests).
func withGiteaWrap(f func(http.Handler) http.Handler) envOption {
	return func(o *envOptions) { o.giteaWrap = f }
}

// withOps tunes the engine's options.
func withOps(f func(*ops.Options)) envOption { return func(o *envOptions) { f(&o.opsOptions) } }

// withDeferredStart leaves the engine stopped: submitted operations wait
// in the queue until the test calls e.run (e.g. after arming a fault that
// must miss the synchronous preflight).
func withDeferredStart() envOption { return func(o *envOptions) { o.deferStart = true } }

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func fastOpsOptions() ops.Options {
	return ops.Options{
		Workers:      4,
		StepTimeout:  10 * time.Second,
		Deadline:     60 * time.Second,
		UndoAttempts: 6,
		StepGrace:    2 * time.Second,
		Backoff:      func(int) time.Duration { return 20 * time.Millisecond },
	}
}

func newEnv(t testing.TB, opts ...envOption) *testEnv {
	t.Helper()
	o := envOptions{clientTimeout: 2 * time.Second, opsOptions: fastOpsOptions()}
	for _, f := range opts {
		f(&o)
	}
	log := testLogger(t)
	if o.quiet {
		log = slog.New(slog.DiscardHandler)
	}
	e := &testEnv{t: t}
	e.Gitea = giteafake.New(giteafake.Options{Wrap: o.giteaWrap})
	popts := portainerfake.Options{APIKeys: []string{"ptr_test"}}
	if o.portainerOpts != nil {
		o.portainerOpts(&popts)
	}
	e.Portainer = portainerfake.New(popts)
	// nginx resolves names through Docker's DNS: only a running container
	// of the fake Portainer resolves.
	e.NPM = npmfake.New(npmfake.Options{Resolve: sandbox.RunningContainers(e.Portainer)})
	t.Cleanup(func() { e.Gitea.Close(); e.Portainer.Close(); e.NPM.Close() })

	var err error
	e.Repos, err = gitea.New(gitea.Config{BaseURL: e.Gitea.URL(), Token: e.Gitea.Token(giteafake.AdminUser),
		Owner: giteafake.AdminUser, Timeout: o.clientTimeout, RetryWait: 10 * time.Millisecond, Logger: log, Observer: o.observer})
	if err != nil {
		t.Fatal(err)
	}
	e.Owner = giteafake.AdminUser
	e.Stacks, err = portainer.New(portainer.Config{URL: e.Portainer.URL(), APIKey: "ptr_test", Timeout: o.clientTimeout,
		DeployTimeout: o.clientTimeout, RetryWait: 10 * time.Millisecond, Logger: log, Observer: o.observer})
	if err != nil {
		t.Fatal(err)
	}
	e.Proxies, err = proxymanager.New(proxymanager.Config{URL: e.NPM.URL(), Email: e.NPM.Email(), Password: e.NPM.Password(),
		Timeout: o.clientTimeout, RetryWait: 10 * time.Millisecond, Logger: log, Observer: o.observer})
	if err != nil {
		t.Fatal(err)
	}
	e.Lib = o.library
	if e.Lib == nil {
		e.Lib, err = library.Default(log)
		if err != nil {
			t.Fatal(err)
		}
	}
	e.DBPath = filepath.Join(t.TempDir(), "appmanage.db")
	e.Log, e.OpsOptions, e.registries = log, o.opsOptions, o.registries
	if o.deferStart {
		e.open(o.opsOptions, log)
	} else {
		e.start(o.opsOptions, log)
	}
	return e
}

// start opens the database and starts an engine and a service on it; after
// Abandon it is how a "restarted process" comes up on the same file.
func (e *testEnv) start(oo ops.Options, log *slog.Logger) {
	e.open(oo, log)
	e.run()
}

// run starts the engine that open built.
func (e *testEnv) run() {
	e.t.Helper()
	if err := e.Engine.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// open opens the database, and builds an engine (not started) and a
// service on it.
func (e *testEnv) open(oo ops.Options, log *slog.Logger) {
	t := e.t
	db, err := store.Open(context.Background(), e.DBPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.DB = db
	oo.Logger = log
	e.Engine = ops.New(db, oo)
	e.Svc = New(e.Repos, e.Stacks, e.Proxies, e.Lib, e.Engine, Config{
		Git:         GitCredentials{Username: giteafake.AdminUser, Password: e.Gitea.Token(giteafake.AdminUser)},
		StepTimeout: 5 * time.Second, DeployTimeout: 5 * time.Second, ContainerWait: 5 * time.Second,
		PublicHost: "203.0.113.7", Registries: e.registries,
	}, log)
	eng, d := e.Engine, db
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = eng.Shutdown(ctx)
		_ = d.Close()
	})
}

// wait returns the operation once it is terminal.
func (e *testEnv) wait(op *ops.Operation) *ops.Operation {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done, err := e.Engine.Wait(ctx, op.ID)
	if err != nil {
		e.t.Fatalf("wait for %s: %v", op.ID, err)
	}
	return done
}

func (e *testEnv) install(req InstallRequest) *ops.Operation {
	e.t.Helper()
	op, err := e.Svc.Install(context.Background(), req)
	if err != nil {
		e.t.Fatalf("install %s: %v", req.AppID, err)
	}
	return e.wait(op)
}

// leftovers lists everything the three fakes hold for appID.
func (e *testEnv) leftovers(appID string) []string {
	var out []string
	for _, r := range e.Gitea.RepoNames() {
		if strings.EqualFold(r, e.Owner+"/"+appID) {
			out = append(out, "gitea repo "+r)
		}
	}
	for _, s := range e.Portainer.Stacks() {
		if strings.EqualFold(s.Name, appID) {
			out = append(out, "portainer stack "+s.Name)
		}
	}
	for _, c := range e.Portainer.Containers(1) {
		if strings.EqualFold(c.Labels[projectLabel], appID) {
			out = append(out, "container "+c.Name)
		}
	}
	for _, v := range e.Portainer.Volumes(1) {
		if strings.EqualFold(v.Labels[projectLabel], appID) {
			out = append(out, "volume "+v.Name)
		}
	}
	for _, h := range e.NPM.Hosts() {
		if strings.EqualFold(h.ForwardHost, appID) {
			out = append(out, "npm host "+strings.Join(h.DomainNames, ","))
		}
	}
	slices.Sort(out)
	return out
}

// asLeftovers names resources as leftovers does ("volume x").
func asLeftovers(kind string, names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, kind+" "+n)
	}
	return out
}

// complete reports whether all of an installed app's resources exist.
func (e *testEnv) complete(appID string, withProxy bool) bool {
	l := e.leftovers(appID)
	has := func(prefix string) bool {
		return slices.ContainsFunc(l, func(s string) bool { return strings.HasPrefix(s, prefix) })
	}
	ok := has("gitea repo") && has("portainer stack") && has("container")
	if withProxy {
		ok = ok && has("npm host")
	}
	return ok
}
