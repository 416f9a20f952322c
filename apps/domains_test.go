package apps

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/faults"
	giteafake "github.com/appmanage/appmanage/datasources/gitea/fake"
	portainerfake "github.com/appmanage/appmanage/datasources/portainer/fake"
	"github.com/appmanage/appmanage/datasources/proxymanager"
	npmfake "github.com/appmanage/appmanage/datasources/proxymanager/fake"
	"github.com/appmanage/appmanage/library"
	"github.com/appmanage/appmanage/library/dotenv"
	"github.com/appmanage/appmanage/ops"
)

const domRedeployRoute = "PUT /api/stacks/{id}/git/redeploy"

// domInstall installs an app and fails the test unless it succeeded.
func domInstall(t *testing.T, e *testEnv, req InstallRequest) {
	t.Helper()
	if op := e.install(req); op.Status != ops.StatusSucceeded {
		t.Fatalf("install %s: %s %s", req.AppID, op.Status, op.Error)
	}
}

// domRun waits for a submitted domain operation.
func domRun(t *testing.T, e *testEnv, op *ops.Operation, err error) *ops.Operation {
	t.Helper()
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return e.wait(op)
}

func domSucceeded(t *testing.T, e *testEnv, op *ops.Operation, err error) {
	t.Helper()
	if done := domRun(t, e, op, err); done.Status != ops.StatusSucceeded {
		t.Fatalf("%s: %s %s", done.Kind, done.Status, done.Error)
	}
}

// domHosts returns the app's proxy hosts in the fake, by id.
func domHosts(e *testEnv, appID string) []npmfake.ProxyHost {
	var out []npmfake.ProxyHost
	for _, h := range e.NPM.Hosts() {
		if h.ForwardHost == appID {
			out = append(out, h)
		}
	}
	return out
}

func domEnvValue(t *testing.T, e *testEnv, appID, key string) string {
	t.Helper()
	env, err := dotenv.Parse(e.Gitea.Files(e.Owner, appID, "main")[".env"])
	if err != nil {
		t.Fatal(err)
	}
	v, _ := env.Get(key)
	return v
}

// domSamples loads the library samples next to the work tree.
func domSamples(t *testing.T) *library.Library {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
	p := filepath.Join(dir, "..", "shared", "library-samples")
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("library samples missing at %s", p)
		}
		t.Skipf("library samples missing at %s", p)
	}
	lib, err := library.LoadDir(p, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return lib
}

// domCreateForeign creates a host straight in NPM, as another tool would.
func domCreateForeign(t *testing.T, e *testEnv, forwardHost string, domains ...string) *proxymanager.ProxyHost {
	t.Helper()
	h, err := e.Proxies.CreateProxyHost(context.Background(), proxymanager.ProxyHostRequest{
		DomainNames: domains, ForwardScheme: "http", ForwardHost: forwardHost, ForwardPort: 80,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestAddDomainsCreatesProxyWhenAppHasNone(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	domInstall(t, e, InstallRequest{AppName: "whoami", AppID: "who1"})
	commits := e.Gitea.Commits(e.Owner, "who1")

	op, err := e.Svc.AddAppDomains(ctx, "who1", []string{"Who.Example.com", "who.example.com"})
	domSucceeded(t, e, op, err)

	hs := domHosts(e, "who1")
	if len(hs) != 1 {
		t.Fatalf("hosts = %+v, want one", hs)
	}
	h := hs[0]
	if !slices.Equal(h.DomainNames, []string{"who.example.com"}) || h.ForwardScheme != "http" || h.ForwardPort != 80 || !h.Enabled {
		t.Errorf("host = %+v, want who.example.com -> http://who1:80, enabled", h)
	}
	if got := domEnvValue(t, e, "who1", "W9_URL"); got != "who.example.com" {
		t.Errorf("W9_URL = %q, want the new default domain", got)
	}
	if n := e.Gitea.Commits(e.Owner, "who1") - commits; n != 1 {
		t.Errorf("%d commits, want 1", n)
	}
	// whoami has no W9_URL_REPLACE: the record changes, the app is left running.
	if n := e.Portainer.Faults.Calls(domRedeployRoute); n != 0 {
		t.Errorf("%d redeploys of an app without W9_URL_REPLACE", n)
	}
	if n := e.NPM.CallCount(npmfake.RouteCreate); n != 1 {
		t.Errorf("%d creates, want 1", n)
	}
}

func TestAddDomainsExtendsTheAppsProxy(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	domInstall(t, e, InstallRequest{AppName: "whoami", AppID: "who1", Domains: []string{"a.example.com"}})
	before := domHosts(e, "who1")
	commits := e.Gitea.Commits(e.Owner, "who1")
	creates := e.NPM.CallCount(npmfake.RouteCreate)

	op, err := e.Svc.AddAppDomains(ctx, "who1", []string{"c.example.com", "b.example.com"})
	domSucceeded(t, e, op, err)

	after := domHosts(e, "who1")
	if len(after) != 1 || after[0].ID != before[0].ID {
		t.Fatalf("hosts = %+v, want the same single host %d", after, before[0].ID)
	}
	if want := []string{"a.example.com", "b.example.com", "c.example.com"}; !slices.Equal(after[0].DomainNames, want) {
		t.Errorf("domains = %v, want %v", after[0].DomainNames, want)
	}
	if e.NPM.CallCount(npmfake.RouteCreate) != creates {
		t.Error("a second proxy was created")
	}
	if got := domEnvValue(t, e, "who1", "W9_URL"); got != "a.example.com" {
		t.Errorf("W9_URL = %q, want the default domain to stay a.example.com", got)
	}
	// W9_URL did not change; the record of the domains did (desired.go).
	if n := e.Gitea.Commits(e.Owner, "who1") - commits; n != 1 {
		t.Errorf("%d commits, want 1 (the record of the domains)", n)
	}
	if rec := string(e.Gitea.Files(e.Owner, "who1", "main")[desiredFile]); !strings.Contains(rec, `"c.example.com"`) || !strings.Contains(rec, `"a.example.com"`) {
		t.Errorf("%s = %s", desiredFile, rec)
	}
}

func TestUpdateProxyReplacesDomains(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	domInstall(t, e, InstallRequest{AppName: "whoami", AppID: "who1", Domains: []string{"a.example.com", "b.example.com"}})
	id := domHosts(e, "who1")[0].ID

	op, err := e.Svc.UpdateAppProxy(ctx, "who1", id, []string{"z.example.com", "c.example.com"})
	domSucceeded(t, e, op, err)

	hs := domHosts(e, "who1")
	if len(hs) != 1 || hs[0].ID != id || !slices.Equal(hs[0].DomainNames, []string{"c.example.com", "z.example.com"}) {
		t.Fatalf("hosts = %+v, want host %d with c, z", hs, id)
	}
	// The old default is gone: the first domain given takes its place.
	if got := domEnvValue(t, e, "who1", "W9_URL"); got != "z.example.com" {
		t.Errorf("W9_URL = %q, want z.example.com", got)
	}
	// The freed domains can be used again.
	domInstall(t, e, InstallRequest{AppName: "whoami", AppID: "who2", Domains: []string{"a.example.com"},
		Settings: []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: "9107"}}})
}

func TestDeleteProxyAndAllProxies(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	domInstall(t, e, InstallRequest{AppName: "whoami", AppID: "who1", Domains: []string{"a.example.com"}})
	second := domCreateForeign(t, e, "who1", "b.example.com")
	third := domCreateForeign(t, e, "who1", "c.example.com")

	// Deleting the host with the default domain moves W9_URL to a domain
	// the app keeps.
	first := domHosts(e, "who1")[0].ID
	op, err := e.Svc.DeleteAppProxy(ctx, "who1", first)
	domSucceeded(t, e, op, err)
	if ids := domHostIDs(domHosts(e, "who1")); !slices.Equal(ids, []int{second.ID, third.ID}) {
		t.Fatalf("hosts left = %v, want %d, %d", ids, second.ID, third.ID)
	}
	if got := domEnvValue(t, e, "who1", "W9_URL"); got != "b.example.com" {
		t.Errorf("W9_URL = %q, want b.example.com", got)
	}

	op, err = e.Svc.DeleteAppProxies(ctx, "who1")
	domSucceeded(t, e, op, err)
	if hs := domHosts(e, "who1"); len(hs) != 0 {
		t.Fatalf("hosts left = %+v", hs)
	}
	if got := domEnvValue(t, e, "who1", "W9_URL"); got != "203.0.113.7:9006" {
		t.Errorf("W9_URL = %q, want host:port 203.0.113.7:9006", got)
	}
	_, err = e.Svc.DeleteAppProxies(ctx, "who1")
	if apperr.CodeOf(err) != apperr.PreconditionFailed {
		t.Errorf("deleting the proxies of an app without any: %v, want PRECONDITION_FAILED", err)
	}
}

func domHostIDs(hs []npmfake.ProxyHost) []int {
	var ids []int
	for _, h := range hs {
		ids = append(ids, h.ID)
	}
	return ids
}

func TestEnableDisableUseTheDedicatedRoutes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	domInstall(t, e, InstallRequest{AppName: "whoami", AppID: "who1", Domains: []string{"a.example.com"}})
	domCreateForeign(t, e, "who1", "b.example.com")
	puts := e.NPM.CallCount(npmfake.RouteUpdate)

	op, err := e.Svc.DisableAppProxies(ctx, "who1")
	domSucceeded(t, e, op, err)
	for _, h := range domHosts(e, "who1") {
		if h.Enabled {
			t.Errorf("host %d still enabled", h.ID)
		}
	}
	if n := e.NPM.CallCount(npmfake.RouteDisable); n != 2 {
		t.Errorf("%d calls of the disable route, want 2", n)
	}

	op, err = e.Svc.EnableAppProxies(ctx, "who1")
	domSucceeded(t, e, op, err)
	for _, h := range domHosts(e, "who1") {
		if !h.Enabled || h.Meta["nginx_online"] != true {
			t.Errorf("host %d: enabled %v, meta %v", h.ID, h.Enabled, h.Meta)
		}
	}
	if n := e.NPM.CallCount(npmfake.RouteEnable); n != 2 {
		t.Errorf("%d calls of the enable route, want 2", n)
	}
	if e.NPM.CallCount(npmfake.RouteUpdate) != puts {
		t.Error("enable/disable went through PUT (NPM #4656)")
	}

	// Enabling a host nginx rejects fails and leaves it disabled.
	op, err = e.Svc.DisableAppProxies(ctx, "who1")
	domSucceeded(t, e, op, err)
	e.NPM.FailNginx(`unknown directive "bogus"`)
	op, err = e.Svc.EnableAppProxies(ctx, "who1")
	done := domRun(t, e, op, err)
	e.NPM.FailNginx("")
	if done.Status != ops.StatusRolledBack || !strings.Contains(done.Error, `unknown directive \"bogus\"`) && !strings.Contains(done.Error, `unknown directive "bogus"`) {
		t.Fatalf("enable with nginx failing: %s %q", done.Status, done.Error)
	}
	for _, h := range domHosts(e, "who1") {
		if h.Enabled {
			t.Errorf("host %d left enabled after the rollback", h.ID)
		}
	}
}

func TestProxySourcesAndSamples(t *testing.T) {
	e := newEnv(t, withLibrary(domSamples(t)))
	ctx := context.Background()
	// sameFromView checks that a listing's batched, per-commit cached
	// answer (what App.proxies' portSource and confSource show) is the live
	// one.
	sameFromView := func(t *testing.T, id string, live *ProxySources) {
		t.Helper()
		e.Svc.InvalidateLists()
		got, errs := e.Svc.NewView().ProxySources(ctx, []AppRef{{ID: id}})
		if errs[0] != nil || !reflect.DeepEqual(got[0], live) {
			t.Errorf("view sources of %s = %+v %v, want %+v", id, got[0], errs[0], live)
		}
	}

	t.Run("duplicati conf", func(t *testing.T) {
		domInstall(t, e, InstallRequest{AppName: "duplicati", AppID: "dup1", Settings: []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: "9201"}}})
		op, err := e.Svc.AddAppDomains(ctx, "dup1", []string{"backup.example.com"})
		domSucceeded(t, e, op, err)
		hs := domHosts(e, "dup1")
		if len(hs) != 1 {
			t.Fatalf("hosts = %+v", hs)
		}
		app, _ := e.Lib.Get("duplicati")
		want := string(app.Files()["src/nginx-proxy.conf"])
		if want == "" || hs[0].AdvancedConfig != want {
			t.Errorf("advanced_config = %q, want src/nginx-proxy.conf %q", hs[0].AdvancedConfig, want)
		}
		if hs[0].ForwardScheme != "http" || hs[0].ForwardPort != 8200 {
			t.Errorf("forward = %s:%d, want http:8200", hs[0].ForwardScheme, hs[0].ForwardPort)
		}
		src, err := e.Svc.ProxySources(ctx, "dup1")
		if err != nil {
			t.Fatal(err)
		}
		if src.ConfSource != "src/nginx-proxy.conf" || src.PortSource != ".env W9_HTTP_PORT" || src.Port != 8200 {
			t.Errorf("sources = %+v", src)
		}
		sameFromView(t, "dup1", src)
		if got := src.ConfSourceOf(hs[0].AdvancedConfig); got != "src/nginx-proxy.conf" {
			t.Errorf("conf source of the host = %q", got)
		}
		if got := src.PortSourceOf(hs[0].ForwardScheme, hs[0].ForwardPort); got != ".env W9_HTTP_PORT" {
			t.Errorf("port source of the host = %q", got)
		}
		// A host changed by hand in NPM is its own source.
		if got := src.PortSourceOf("http", 1234); !strings.HasPrefix(got, "proxy host") {
			t.Errorf("port source of a changed host = %q", got)
		}
		if got := src.ConfSourceOf("client_max_body_size 1g;"); got != "proxy host" {
			t.Errorf("conf source of a changed host = %q", got)
		}
	})
	t.Run("kasmweb https", func(t *testing.T) {
		domInstall(t, e, InstallRequest{AppName: "kasmweb", AppID: "kasm1", Settings: []EnvSetting{{Name: "W9_HTTPS_PORT_SET", Value: "9202"}}})
		op, err := e.Svc.AddAppDomains(ctx, "kasm1", []string{"desk.example.com"})
		domSucceeded(t, e, op, err)
		hs := domHosts(e, "kasm1")
		if len(hs) != 1 || hs[0].ForwardScheme != "https" || hs[0].ForwardPort != 6901 || hs[0].AdvancedConfig != "" {
			t.Fatalf("hosts = %+v, want https://kasm1:6901 without extra conf", hs)
		}
		src, err := e.Svc.ProxySources(ctx, "kasm1")
		if err != nil {
			t.Fatal(err)
		}
		if src.Scheme != "https" || src.PortSource != ".env W9_HTTPS_PORT" || src.ConfSource != "none" {
			t.Errorf("sources = %+v", src)
		}
		sameFromView(t, "kasm1", src)
		// Removing the last domain falls back to the HTTPS host port.
		op, err = e.Svc.DeleteAppProxies(ctx, "kasm1")
		domSucceeded(t, e, op, err)
		if got := domEnvValue(t, e, "kasm1", "W9_URL"); got != "203.0.113.7:9202" {
			t.Errorf("W9_URL = %q, want 203.0.113.7:9202", got)
		}
	})
	t.Run("label wins", func(t *testing.T) {
		// A container label names the port (and scheme) before the .env does.
		if _, err := e.Portainer.AddContainers(1, "dup1", portainerfake.Container{Name: "dup1-sidecar",
			Labels: map[string]string{httpsPortLabel: "8443"}}); err != nil {
			t.Fatal(err)
		}
		src, err := e.Svc.ProxySources(ctx, "dup1")
		if err != nil {
			t.Fatal(err)
		}
		if src.Scheme != "https" || src.Port != 8443 || src.PortSource != "label "+httpsPortLabel {
			t.Errorf("sources = %+v, want https 8443 from the label", src)
		}
		sameFromView(t, "dup1", src)
	})
	t.Run("read once per commit", func(t *testing.T) {
		before := e.Gitea.Faults.AllCalls()
		got, errs := e.Svc.NewView().ProxySources(ctx, []AppRef{{ID: "dup1"}, {ID: "kasm1"}})
		if errs[0] != nil || errs[1] != nil || got[0].ConfSource != "src/nginx-proxy.conf" || got[1].Scheme != "https" {
			t.Fatalf("sources = %+v %v", got, errs)
		}
		if after := e.Gitea.Faults.AllCalls(); !maps.Equal(before, after) {
			t.Errorf("a second listing read Gitea again: before %v, after %v", before, after)
		}
		if _, errs := e.Svc.NewView().ProxySources(ctx, []AppRef{{ID: "nosuch"}}); apperr.CodeOf(errs[0]) != apperr.NotFound {
			t.Errorf("unknown app: %v", errs[0])
		}
	})
}

func TestURLReplaceKeepsW9URLOnTheDefaultDomain(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	domInstall(t, e, InstallRequest{AppName: "wordpress", AppID: "myblog"})
	if got := domEnvValue(t, e, "myblog", "W9_URL"); got != "203.0.113.7:9001" {
		t.Fatalf("installed W9_URL = %q", got)
	}
	type step struct {
		name    string
		run     func() (*ops.Operation, error)
		wantURL string
		changes bool // W9_URL changes: one commit and one redeploy
	}
	proxyID := func() int {
		hs := domHosts(e, "myblog")
		if len(hs) == 0 {
			t.Fatal("no proxy")
		}
		return hs[0].ID
	}
	steps := []step{
		{"add first", func() (*ops.Operation, error) {
			return e.Svc.AddAppDomains(ctx, "myblog", []string{"blog.example.com"})
		}, "blog.example.com", true},
		{"add second", func() (*ops.Operation, error) {
			return e.Svc.AddAppDomains(ctx, "myblog", []string{"www.example.com"})
		}, "blog.example.com", false},
		{"set default", func() (*ops.Operation, error) {
			return e.Svc.SetDefaultDomain(ctx, "myblog", "WWW.example.com")
		}, "www.example.com", true},
		{"replace keeping default", func() (*ops.Operation, error) {
			return e.Svc.UpdateAppProxy(ctx, "myblog", proxyID(), []string{"www.example.com", "news.example.com"})
		}, "www.example.com", false},
		{"replace dropping default", func() (*ops.Operation, error) {
			return e.Svc.UpdateAppProxy(ctx, "myblog", proxyID(), []string{"new.example.com"})
		}, "new.example.com", true},
		{"remove last", func() (*ops.Operation, error) {
			return e.Svc.DeleteAppProxy(ctx, "myblog", proxyID())
		}, "203.0.113.7:9001", true},
	}
	for _, s := range steps {
		commits := e.Gitea.Commits(e.Owner, "myblog")
		redeploys := e.Portainer.Faults.Calls(domRedeployRoute)
		op, err := s.run()
		done := domRun(t, e, op, err)
		if done.Status != ops.StatusSucceeded {
			t.Fatalf("%s: %s %s", s.name, done.Status, done.Error)
		}
		if got := domEnvValue(t, e, "myblog", "W9_URL"); got != s.wantURL {
			t.Errorf("%s: W9_URL = %q, want %q", s.name, got, s.wantURL)
		}
		want := 0
		if s.changes {
			want = 1
		}
		// Every step changes W9_URL or the domains, which the repository
		// records (desired.go): one commit each, a redeploy only for W9_URL.
		if n := e.Gitea.Commits(e.Owner, "myblog") - commits; n != 1 {
			t.Errorf("%s: %d commits, want 1", s.name, n)
		}
		if n := e.Portainer.Faults.Calls(domRedeployRoute) - redeploys; n != want {
			t.Errorf("%s: %d redeploys, want %d", s.name, n, want)
		}
		if s.changes {
			// The redeployed containers read the new W9_URL.
			found := false
			for _, c := range e.Portainer.Containers(1) {
				if c.Labels[projectLabel] == "myblog" && slices.Contains(c.Env, "W9_URL="+s.wantURL) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: no container of myblog runs with W9_URL=%s", s.name, s.wantURL)
			}
		}
	}
	// The .env keeps its other lines: W9_URL was rewritten by key.
	if got := domEnvValue(t, e, "myblog", "W9_URL_REPLACE"); got != "true" {
		t.Errorf("W9_URL_REPLACE = %q", got)
	}
}

func TestSetDefaultDomainRefusesForeignDomain(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	domInstall(t, e, InstallRequest{AppName: "whoami", AppID: "who1", Domains: []string{"a.example.com"}})
	domCreateForeign(t, e, "other", "b.example.com")
	_, err := e.Svc.SetDefaultDomain(ctx, "who1", "b.example.com")
	if ae, ok := apperr.As(err); !ok || ae.Code != apperr.PreconditionFailed || ae.Field != "domain" {
		t.Fatalf("err = %v, want PRECONDITION_FAILED on domain", err)
	}
}

func TestHostileDomainsAreRefusedBeforeAnyUpstreamCall(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	domInstall(t, e, InstallRequest{AppName: "whoami", AppID: "who1", Domains: []string{"a.example.com"}})
	id := domHosts(e, "who1")[0].ID
	hostile := slices.Clone(hostileDomains)
	hostile = append(hostile,
		"a.example.com\n}\nserver { listen 80",
		"a.example.com;include /etc/passwd",
		"a.example.com${IFS}",
		"a.example.com\\;",
		"xn--.example.com",
		"a.example.com:443",
		"HTTPS://A.EXAMPLE.COM",
		"a.example.com/",
	)
	if len(hostile) < 30 {
		t.Fatalf("only %d hostile domains", len(hostile))
	}
	before := totalCalls(e)
	npmBefore := e.NPM.Faults.AllCalls()
	calls := []struct {
		name string
		call func(d string) (*ops.Operation, error)
	}{
		{"add", func(d string) (*ops.Operation, error) {
			return e.Svc.AddAppDomains(ctx, "who1", []string{"ok.example.com", d})
		}},
		{"update", func(d string) (*ops.Operation, error) { return e.Svc.UpdateAppProxy(ctx, "who1", id, []string{d}) }},
		{"default", func(d string) (*ops.Operation, error) { return e.Svc.SetDefaultDomain(ctx, "who1", d) }},
	}
	for _, c := range calls {
		for _, d := range hostile {
			op, err := c.call(d)
			if apperr.CodeOf(err) != apperr.ValidationFailed || op != nil {
				t.Errorf("%s %q: %v, want VALIDATION_FAILED", c.name, d, err)
			}
		}
	}
	for _, c := range calls[:2] {
		if _, err := c.call(""); apperr.CodeOf(err) != apperr.ValidationFailed {
			t.Errorf("%s of an empty domain: %v", c.name, err)
		}
	}
	if _, err := e.Svc.AddAppDomains(ctx, "who1", nil); apperr.CodeOf(err) != apperr.ValidationFailed {
		t.Errorf("add of no domains: %v", err)
	}
	if _, err := e.Svc.UpdateAppProxy(ctx, "who1", 0, []string{"ok.example.com"}); apperr.CodeOf(err) != apperr.ValidationFailed {
		t.Errorf("update of proxy 0: %v", err)
	}
	if _, err := e.Svc.DeleteAppProxy(ctx, "who1", -1); apperr.CodeOf(err) != apperr.ValidationFailed {
		t.Errorf("delete of proxy -1: %v", err)
	}
	if _, err := e.Svc.SetDefaultDomain(ctx, "Who1", "ok.example.com"); apperr.CodeOf(err) != apperr.ValidationFailed {
		t.Errorf("bad app id: %v", err)
	}
	if after := totalCalls(e); after != before {
		t.Errorf("hostile domains reached the upstreams: %d calls (npm before %v, after %v)", after-before, npmBefore, e.NPM.Faults.AllCalls())
	}
}

func TestDomainConflicts(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	domInstall(t, e, InstallRequest{AppName: "whoami", AppID: "who1", Domains: []string{"a.example.com"}})
	own := domHosts(e, "who1")[0]
	sibling := domCreateForeign(t, e, "who1", "sib.example.com")
	disabled := domCreateForeign(t, e, "other", "off.example.com")
	if err := e.Proxies.DisableProxyHost(ctx, disabled.ID); err != nil {
		t.Fatal(err)
	}
	writes := func() int {
		n := 0
		for _, r := range []string{npmfake.RouteCreate, npmfake.RouteUpdate, npmfake.RouteDelete, npmfake.RouteEnable, npmfake.RouteDisable} {
			n += e.NPM.CallCount(r)
		}
		return n
	}
	before := writes()
	tests := []struct {
		name    string
		call    func() (*ops.Operation, error)
		code    apperr.Code
		mention []string
	}{
		{"disabled host of another app", func() (*ops.Operation, error) {
			return e.Svc.AddAppDomains(ctx, "who1", []string{"OFF.example.com"})
		}, apperr.PreconditionFailed, []string{"off.example.com", strconv.Itoa(disabled.ID), "disabled"}},
		{"own other host on add", func() (*ops.Operation, error) {
			return e.Svc.AddAppDomains(ctx, "who1", []string{"sib.example.com"})
		}, apperr.PreconditionFailed, []string{"sib.example.com", strconv.Itoa(sibling.ID)}},
		{"own other host on update", func() (*ops.Operation, error) {
			return e.Svc.UpdateAppProxy(ctx, "who1", own.ID, []string{"a.example.com", "sib.example.com"})
		}, apperr.PreconditionFailed, []string{"sib.example.com", strconv.Itoa(sibling.ID)}},
		{"domain already on the proxy", func() (*ops.Operation, error) {
			return e.Svc.AddAppDomains(ctx, "who1", []string{"a.example.com"})
		}, apperr.PreconditionFailed, []string{"a.example.com", strconv.Itoa(own.ID)}},
		{"unknown app", func() (*ops.Operation, error) {
			return e.Svc.AddAppDomains(ctx, "nosuch", []string{"n.example.com"})
		}, apperr.NotFound, nil},
		{"proxy of another app", func() (*ops.Operation, error) {
			return e.Svc.UpdateAppProxy(ctx, "who1", disabled.ID, []string{"n.example.com"})
		}, apperr.NotFound, []string{strconv.Itoa(disabled.ID)}},
		{"delete proxy of another app", func() (*ops.Operation, error) {
			return e.Svc.DeleteAppProxy(ctx, "who1", disabled.ID)
		}, apperr.NotFound, nil},
		{"bad app id", func() (*ops.Operation, error) {
			return e.Svc.EnableAppProxies(ctx, "Who-1")
		}, apperr.ValidationFailed, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, err := tt.call()
			if apperr.CodeOf(err) != tt.code || op != nil {
				t.Fatalf("err = %v, want %s", err, tt.code)
			}
			for _, m := range tt.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
	if n := writes() - before; n != 0 {
		t.Fatalf("%d NPM writes for refused requests", n)
	}

	// Redirection and 404 hosts are not proxy hosts, but NPM refuses their
	// domains too: preflight reads them and says so before anything runs.
	redir := e.NPM.AddRedirectionHost("redir.example.com")
	dead := e.NPM.AddDeadHost("dead.example.com")
	for _, c := range []struct {
		call    func() (*ops.Operation, error)
		mention string
	}{
		{func() (*ops.Operation, error) { return e.Svc.AddAppDomains(ctx, "who1", []string{"redir.example.com"}) },
			"domain redir.example.com is already used by NPM redirection host " + strconv.Itoa(redir)},
		{func() (*ops.Operation, error) { return e.Svc.AddAppDomains(ctx, "who1", []string{"DEAD.example.com"}) },
			"domain dead.example.com is already used by NPM 404 host " + strconv.Itoa(dead)},
		{func() (*ops.Operation, error) {
			return e.Svc.UpdateAppProxy(ctx, "who1", own.ID, []string{"a.example.com", "dead.example.com"})
		}, "404 host " + strconv.Itoa(dead)},
	} {
		op, err := c.call()
		if apperr.CodeOf(err) != apperr.PreconditionFailed || op != nil || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("got %v, want PRECONDITION_FAILED mentioning %q", err, c.mention)
		}
	}
	if n := writes() - before; n != 0 {
		t.Fatalf("%d NPM writes for domains of redirection or 404 hosts", n)
	}

	// Another client may take a domain between preflight and the write:
	// NPM's refusal rolls the operation back, which changes nothing, and
	// the operation says why.
	e.NPM.Faults.Fail(npmfake.RouteUpdate, faults.Fault{Status: 400,
		Body: `{"error":{"code":400,"message":"race.example.com is already in use"}}`})
	hostsBefore := e.NPM.Hosts()
	op, err := e.Svc.AddAppDomains(ctx, "who1", []string{"race.example.com"})
	done := domRun(t, e, op, err)
	if done.Status != ops.StatusRolledBack || !strings.Contains(done.Error, "race.example.com is already used") {
		t.Fatalf("add of a domain taken meanwhile: %s %q", done.Status, done.Error)
	}
	if !domSameHosts(hostsBefore, e.NPM.Hosts(), false) {
		t.Errorf("hosts changed:\nbefore %+v\nafter  %+v", hostsBefore, e.NPM.Hosts())
	}

	// One operation per app at a time. The first one's NPM write is held
	// back, so it is surely still running when the second is asked for.
	e.NPM.Faults.Fail(npmfake.RouteUpdate, faults.Fault{Delay: 2 * time.Second})
	first, err := e.Svc.AddAppDomains(ctx, "who1", []string{"q1.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Svc.AddAppDomains(ctx, "who1", []string{"q2.example.com"}); apperr.CodeOf(err) != apperr.Conflict {
		t.Errorf("second operation while one runs: %v, want CONFLICT", err)
	}
	e.wait(first)
}

// domSameHosts compares the fake's hosts, ignoring modified_on (a restore
// is a write) and, when ignoreMeta, nginx's verdict.
func domSameHosts(a, b []npmfake.ProxyHost, ignoreMeta bool) bool {
	norm := func(hs []npmfake.ProxyHost) []npmfake.ProxyHost {
		out := make([]npmfake.ProxyHost, len(hs))
		for i, h := range hs {
			h.ModifiedOn = ""
			if ignoreMeta {
				h.Meta = nil
			}
			out[i] = h
		}
		return out
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

func TestNPMFailureMidOperationRestoresTheProxy(t *testing.T) {
	errBody := `{"error":{"code":500,"message":"Internal Error"}}`
	tests := []struct {
		name       string
		op         string // add | update | delete | add-new
		inject     func(e *testEnv)
		ignoreMeta bool
		wantErr    string
	}{
		{"add: PUT applied, answer lost", "add", func(e *testEnv) {
			e.NPM.Faults.Fail(npmfake.RouteUpdate, faults.Fault{Status: 500, Body: errBody, Phase: faults.After})
		}, false, "update proxy host"},
		{"add: PUT refused", "add", func(e *testEnv) {
			e.NPM.Faults.Fail(npmfake.RouteUpdate, faults.Fault{Status: 500, Body: errBody})
		}, false, "update proxy host"},
		{"add: read-back fails", "add", func(e *testEnv) {
			e.NPM.Faults.Fail(npmfake.RouteGet, faults.Fault{Status: 500, Body: errBody})
		}, false, "read proxy host"},
		{"add: nginx rejects", "add", func(e *testEnv) { e.NPM.FailNginx(`invalid server name "x"`) }, true, `invalid server name`},
		{"update: PUT applied, answer lost", "update", func(e *testEnv) {
			e.NPM.Faults.Fail(npmfake.RouteUpdate, faults.Fault{Status: 500, Body: errBody, Phase: faults.After})
		}, false, "update proxy host"},
		{"update: read-back fails", "update", func(e *testEnv) {
			e.NPM.Faults.Fail(npmfake.RouteGet, faults.Fault{Status: 500, Body: errBody})
		}, false, "read proxy host"},
		{"update: nginx rejects", "update", func(e *testEnv) { e.NPM.FailNginx(`invalid server name "x"`) }, true, `invalid server name`},
		{"update: commit of W9_URL fails", "update", func(e *testEnv) {
			e.Gitea.Faults.Fail(giteafake.RouteChangeFiles, faults.Fault{Status: 500, Body: `{"message":"boom"}`, Phase: faults.After})
		}, false, "url"},
		{"add-new: nginx rejects", "add-new", func(e *testEnv) { e.NPM.FailNginx(`bad`) }, true, "bad"},
		{"delete: commit of W9_URL fails", "delete", func(e *testEnv) {
			e.Gitea.Faults.Fail(giteafake.RouteChangeFiles, faults.Fault{Status: 500, Body: `{"message":"boom"}`, Phase: faults.After})
		}, false, "url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			req := InstallRequest{AppName: "whoami", AppID: "who1", Domains: []string{"a.example.com", "b.example.com"}}
			if tt.op == "add-new" {
				req.Domains = nil
			}
			domInstall(t, e, req)
			foreign := domCreateForeign(t, e, "other", "x.example.com")
			before := e.NPM.Hosts()
			envBefore := e.Gitea.Files(e.Owner, "who1", "main")[".env"]
			var id int
			if hs := domHosts(e, "who1"); len(hs) > 0 {
				id = hs[0].ID
			}
			tt.inject(e)
			var op *ops.Operation
			var err error
			switch tt.op {
			case "add", "add-new":
				op, err = e.Svc.AddAppDomains(ctx, "who1", []string{"c.example.com"})
			case "update":
				op, err = e.Svc.UpdateAppProxy(ctx, "who1", id, []string{"c.example.com"})
			case "delete":
				op, err = e.Svc.DeleteAppProxy(ctx, "who1", id)
			}
			done := domRun(t, e, op, err)
			e.NPM.FailNginx("")
			e.NPM.Faults.Clear()
			e.Gitea.Faults.Clear()
			if done.Status != ops.StatusRolledBack {
				t.Fatalf("status %s (%s), want ROLLED_BACK", done.Status, done.Error)
			}
			if !strings.Contains(done.Error, tt.wantErr) {
				t.Errorf("error %q does not mention %q", done.Error, tt.wantErr)
			}
			after := e.NPM.Hosts()
			if tt.op == "delete" {
				// NPM never reuses an id: the host comes back as a copy.
				if len(after) != len(before) {
					t.Fatalf("hosts after = %+v, want %d", after, len(before))
				}
				copyOf := after[len(after)-1]
				orig := before[0]
				if copyOf.ID == orig.ID || !slices.Equal(copyOf.DomainNames, orig.DomainNames) || copyOf.ForwardHost != orig.ForwardHost ||
					copyOf.ForwardPort != orig.ForwardPort || copyOf.AdvancedConfig != orig.AdvancedConfig || copyOf.Enabled != orig.Enabled {
					t.Errorf("recreated host %+v, want a copy of %+v", copyOf, orig)
				}
			} else if !domSameHosts(before, after, tt.ignoreMeta) {
				t.Errorf("hosts changed:\nbefore %+v\nafter  %+v", before, after)
			}
			if got := e.Gitea.Files(e.Owner, "who1", "main")[".env"]; string(got) != string(envBefore) {
				t.Errorf(".env changed:\n%s", got)
			}
			// The foreign host was never touched, and the domains are free
			// for a new attempt.
			if !slices.ContainsFunc(after, func(h npmfake.ProxyHost) bool { return h.ID == foreign.ID }) {
				t.Error("foreign host gone")
			}
			if tt.op != "delete" {
				op, err := e.Svc.AddAppDomains(ctx, "who1", []string{"c.example.com"})
				domSucceeded(t, e, op, err)
			}
		})
	}
}

// A create whose answer is lost is found by the app's name, not repeated.
func TestAddDomainsAdoptsACreateWhoseAnswerWasLost(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	domInstall(t, e, InstallRequest{AppName: "whoami", AppID: "who1"})
	e.NPM.Faults.Fail(npmfake.RouteCreate, faults.Fault{Status: 500, Body: `{"error":{"code":500,"message":"Internal Error"}}`, Phase: faults.After})
	op, err := e.Svc.AddAppDomains(ctx, "who1", []string{"a.example.com"})
	domSucceeded(t, e, op, err)
	if hs := domHosts(e, "who1"); len(hs) != 1 || !slices.Equal(hs[0].DomainNames, []string{"a.example.com"}) {
		t.Fatalf("hosts = %+v, want exactly one with a.example.com", hs)
	}
	if n := e.NPM.CallCount(npmfake.RouteCreate); n != 1 {
		t.Errorf("%d creates, want 1", n)
	}
}
