package apps

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/appmanage/appmanage/datasources/gitea"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/datasources/proxymanager"
	npmfake "github.com/appmanage/appmanage/datasources/proxymanager/fake"
	"github.com/appmanage/appmanage/datasources/suite"
	"github.com/appmanage/appmanage/datasources/upstream"
	"github.com/appmanage/appmanage/library"
	"github.com/appmanage/appmanage/ops"
	"github.com/appmanage/appmanage/sandbox"
	"github.com/appmanage/appmanage/store"
)

// Variables of the workflow round trip on real servers (the upstreams'
// own come from datasources/suite).
const (
	EnvTestLibraryDir = "APPMANAGE_TEST_LIBRARY_DIR" // a library folder (our format)
	EnvTestApp        = "APPMANAGE_TEST_APP"         // the app of that library to install
	// EnvTestCloneBaseURL is Gitea's address as Portainer reaches it, when
	// that differs from APPMANAGE_TEST_GITEA_URL (optional).
	EnvTestCloneBaseURL = "APPMANAGE_TEST_CLONE_BASE_URL"
	// EnvTestGitUser is the user Portainer clones as (default: the owner).
	EnvTestGitUser = "APPMANAGE_TEST_GIT_USER"
)

// TestRoundTrip installs an app with a domain and uninstalls it, then
// checks that nothing it created is left in Gitea, Portainer or NPM. By
// default it runs against the fakes with the embedded library and whoami;
// with real servers selected (datasources/suite) against them, with the
// library and app named by APPMANAGE_TEST_LIBRARY_DIR and APPMANAGE_TEST_APP.
func TestRoundTrip(t *testing.T) {
	appName := "whoami"
	var lib *library.Library
	var err error
	if suite.Real() {
		env := suite.Env(t, EnvTestLibraryDir, EnvTestApp)
		appName = env[EnvTestApp]
		if lib, err = library.LoadDir(env[EnvTestLibraryDir], nil); err != nil {
			t.Fatalf("%s: %v", EnvTestLibraryDir, err)
		}
	} else if lib, err = library.Default(nil); err != nil {
		t.Fatal(err)
	}
	app, ok := lib.Get(appName)
	if !ok {
		t.Fatalf("the library has no app %q", appName)
	}
	if !app.Web {
		t.Skipf("%s serves no web interface, so the round trip cannot give it a domain; pick another %s", appName, EnvTestApp)
	}

	gcfg, gt := suite.Gitea(t)
	pcfg, pt := suite.Portainer(t)
	var nopts []suite.NPMOption
	if pt.Fake != nil {
		// The fake nginx resolves forward hosts to the fake Portainer's
		// running containers and reloads with a real NPM's delay.
		nopts = append(nopts, suite.WithNPMFake(func(o *npmfake.Options) {
			o.Resolve = sandbox.RunningContainers(pt.Fake)
			o.ReloadDelay = sandbox.ReloadDelay
		}))
	}
	ncfg, nt := suite.NPM(t, nopts...)
	repos, err := gitea.New(gcfg)
	if err != nil {
		t.Fatal(err)
	}
	stacks, err := portainer.New(pcfg)
	if err != nil {
		t.Fatal(err)
	}
	proxies, err := proxymanager.New(ncfg)
	if err != nil {
		t.Fatal(err)
	}
	appID := "amt" + randomHex(t, 4) // app ids have no dashes: not suite.Prefix
	domain := nt.Domain(t)
	// Safety nets in case the test fails half way; the test itself checks
	// that uninstall leaves nothing.
	gt.Cleanup(t, repos, appID)
	pt.Cleanup(t, stacks, appID)
	t.Cleanup(func() { deleteProxiesOf(t, proxies, appID) })

	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "appmanage.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	log := testLogger(t)
	engine := ops.New(db, ops.Options{Workers: 2, Logger: log, Deadline: 20 * time.Minute,
		Backoff: func(int) time.Duration { return 200 * time.Millisecond }})
	cfg := Config{
		DefaultEndpoint: pt.EndpointID,
		CloneBaseURL:    os.Getenv(EnvTestCloneBaseURL),
		Git:             GitCredentials{Username: cmpOr(os.Getenv(EnvTestGitUser), gt.Owner, repos.Owner()), Password: gcfg.Token},
		PublicHost:      "203.0.113.7",
		StepTimeout:     2 * time.Minute, DeployTimeout: 10 * time.Minute, ContainerWait: 5 * time.Minute,
	}
	if !suite.Real() {
		cfg.StepTimeout, cfg.DeployTimeout, cfg.ContainerWait = 10*time.Second, 30*time.Second, 10*time.Second
	}
	svc := New(repos, stacks, proxies, lib, engine, cfg, log)
	if err := engine.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = engine.Shutdown(ctx)
	})

	// Random high host ports, so a real host's other services are not in
	// the way.
	var settings []EnvSetting
	for _, st := range app.Settings {
		if st.Port {
			settings = append(settings, EnvSetting{Name: st.Key, Value: strconv.Itoa(randomPort(t))})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	t0 := time.Now()
	op, err := svc.Install(ctx, InstallRequest{AppName: appName, AppID: appID, Domains: []string{domain}, Settings: settings})
	if err != nil {
		t.Fatalf("install: %v", err)
	}
	if op, err = engine.Wait(ctx, op.ID); err != nil || op.Status != ops.StatusSucceeded {
		t.Fatalf("install: %v %s %s", err, op.Status, op.Error)
	}
	t.Logf("installed %s as %s with domain %s", appName, appID, domain)
	reportTiming(t, opTimings(op, t0))

	// Everything is there.
	if _, err := repos.GetRepo(ctx, appID); err != nil {
		t.Errorf("after install: repository %s: %v", appID, err)
	}
	st, err := stacks.FindStackByName(ctx, pt.EndpointID, appID)
	if err != nil {
		t.Errorf("after install: stack %s: %v", appID, err)
	} else if cs, err := stacks.ListContainers(ctx, st.EndpointID, portainer.ContainerFilter{All: true,
		Labels: []string{projectLabel + "=" + portainer.NormalizeStackName(appID)}}); err != nil || len(cs) == 0 {
		t.Errorf("after install: containers of %s: %d, %v", appID, len(cs), err)
	}
	if hosts := proxiesOf(t, proxies, appID, domain); len(hosts) != 1 {
		t.Errorf("after install: %d proxy hosts for %s, want 1", len(hosts), domain)
	}
	// nginx serves a change 50-150 ms after NPM answered it: poll.
	servedEventually(t, nt.Fake, domain, true)

	t0 = time.Now()
	u, err := svc.Uninstall(ctx, appID, true, "")
	if err != nil {
		t.Fatalf("uninstall: %v", err)
	}
	if u, err = engine.Wait(ctx, u.ID); err != nil || u.Status != ops.StatusSucceeded {
		t.Fatalf("uninstall: %v %s %s", err, u.Status, u.Error)
	}
	reportTiming(t, opTimings(u, t0))

	// Nothing is left.
	if _, err := repos.GetRepo(ctx, appID); !errors.Is(err, upstream.ErrNotFound) {
		t.Errorf("after uninstall: repository %s: %v, want not found", appID, err)
	}
	if _, err := stacks.FindStackByName(ctx, pt.EndpointID, appID); !errors.Is(err, upstream.ErrNotFound) {
		t.Errorf("after uninstall: stack %s: %v, want not found", appID, err)
	}
	project := []string{projectLabel + "=" + portainer.NormalizeStackName(appID)}
	if cs, err := stacks.ListContainers(ctx, pt.EndpointID, portainer.ContainerFilter{All: true, Labels: project}); err != nil || len(cs) != 0 {
		t.Errorf("after uninstall: %d containers of %s left (%v)", len(cs), appID, err)
	}
	if vs, err := stacks.ListVolumes(ctx, pt.EndpointID, project); err != nil || len(vs) != 0 {
		t.Errorf("after uninstall: %d volumes of %s left (%v)", len(vs), appID, err)
	}
	if hosts := proxiesOf(t, proxies, appID, domain); len(hosts) != 0 {
		t.Errorf("after uninstall: %d proxy hosts for %s left", len(hosts), domain)
	}
	servedEventually(t, nt.Fake, domain, false)
}

// servedEventually polls until nginx serves domain (want) or no longer
// does: a deleted or changed host keeps serving while nginx reloads, so
// one look right after NPM's answer proves nothing. On a real server the
// NPM API's view is all the test has (a deleted host falls through to
// NPM's default site, which answers 200 too), so it checks nothing more.
func servedEventually(t *testing.T, f *npmfake.Server, domain string, want bool) {
	t.Helper()
	if f == nil {
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := f.Serving(domain); ok == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx serving %s = %v after 10s, want %v", domain, !want, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// EnvTestTimings names a file TestRoundTrip appends its timings to, so
// scripts/test-real.sh can print them without -v.
const EnvTestTimings = "APPMANAGE_TEST_TIMINGS"

// reportTiming logs an operation's timings and appends them to
// $APPMANAGE_TEST_TIMINGS when set.
func reportTiming(t *testing.T, line string) {
	t.Helper()
	t.Log(line)
	path := os.Getenv(EnvTestTimings)
	if path == "" {
		return
	}
	where := "fakes"
	if suite.Real() {
		where = "real servers"
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Errorf("%s: %v", EnvTestTimings, err)
		return
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "%s (%s): %s\n", t.Name(), where, line); err != nil {
		t.Errorf("%s: %v", EnvTestTimings, err)
	}
}

// proxiesOf lists the proxy hosts forwarding to appID or serving domain.
func proxiesOf(t *testing.T, c *proxymanager.Client, appID, domain string) []proxymanager.ProxyHost {
	t.Helper()
	hosts, err := c.ListProxyHosts(context.Background())
	if err != nil {
		t.Fatalf("list proxy hosts: %v", err)
	}
	var out []proxymanager.ProxyHost
	for _, h := range hosts {
		mine := strings.EqualFold(h.ForwardHost, appID)
		for _, d := range h.DomainNames {
			mine = mine || strings.EqualFold(d, domain)
		}
		if mine {
			out = append(out, h)
		}
	}
	return out
}

func deleteProxiesOf(t *testing.T, c *proxymanager.Client, appID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hosts, err := c.ListProxyHosts(ctx)
	if err != nil {
		t.Errorf("cleanup: list proxy hosts: %v", err)
		return
	}
	for _, h := range hosts {
		if strings.EqualFold(h.ForwardHost, appID) {
			if err := c.DeleteProxyHost(ctx, h.ID); err != nil && !errors.Is(err, upstream.ErrNotFound) {
				t.Errorf("cleanup: delete proxy host %d: %v", h.ID, err)
			}
		}
	}
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func randomPort(t *testing.T) int {
	n, err := rand.Int(rand.Reader, big.NewInt(20000))
	if err != nil {
		t.Fatal(err)
	}
	return 30000 + int(n.Int64())
}

func cmpOr(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
