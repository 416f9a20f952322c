package apps

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/proxymanager"
	npmfake "github.com/appmanage/appmanage/datasources/proxymanager/fake"
	"github.com/appmanage/appmanage/library/dotenv"
	"github.com/appmanage/appmanage/ops"
)

func TestInstallWordPressWithDomain(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	op, err := e.Svc.Install(ctx, InstallRequest{AppName: "wordpress", AppID: "myblog", Domains: []string{"Blog.Example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if op.Status.Terminal() {
		t.Fatalf("install returned a finished operation (%s); it must return at once", op.Status)
	}
	// Follow the event stream to the end, as a subscriber would.
	events, err := e.Engine.Subscribe(ctx, op.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	lastSeq, lastProgress := 0, 0
	var last ops.Event
	for ev := range events {
		if ev.Seq != lastSeq+1 {
			t.Fatalf("event seq %d after %d", ev.Seq, lastSeq)
		}
		if ev.Progress < lastProgress {
			t.Fatalf("progress went down: %d -> %d", lastProgress, ev.Progress)
		}
		lastSeq, lastProgress, last = ev.Seq, ev.Progress, ev
	}
	if !last.Terminal || last.Status != string(ops.StatusSucceeded) || last.Progress != 100 {
		done, _ := e.Engine.Get(ctx, op.ID)
		t.Fatalf("last event %+v; operation %+v", last, done)
	}

	files := e.Gitea.Files(e.Owner, "myblog", "main")
	if files == nil {
		t.Fatalf("no repository; gitea has %v", e.Gitea.RepoNames())
	}
	if e.Gitea.Commits(e.Owner, "myblog") != 1 {
		t.Errorf("repository has %d commits, want 1", e.Gitea.Commits(e.Owner, "myblog"))
	}
	env, err := dotenv.Parse(files[".env"])
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"W9_ID": "myblog", "W9_APP_NAME": "wordpress", "W9_URL": "blog.example.com"}
	lib, _ := e.Lib.Get("wordpress")
	want["W9_VERSION"] = lib.DefaultVersion
	for k, v := range want {
		if got, _ := env.Get(k); got != v {
			t.Errorf(".env %s = %q, want %q", k, got, v)
		}
	}
	pw, _ := env.Get("W9_POWER_PASSWORD")
	libPW, _ := lib.Env.Get("W9_POWER_PASSWORD")
	if len(pw) < 16 || pw == libPW {
		t.Errorf("W9_POWER_PASSWORD = %q: want a fresh password of 16+ characters", pw)
	}
	if _, ok := files["docker-compose.yml"]; !ok {
		t.Error("repository lacks docker-compose.yml")
	}

	stacks := e.Portainer.Stacks()
	if len(stacks) != 1 || stacks[0].Name != "myblog" || stacks[0].Status != 1 {
		t.Fatalf("portainer stacks = %+v, want one active stack myblog", stacks)
	}
	running := 0
	for _, c := range e.Portainer.Containers(1) {
		if c.Labels[projectLabel] == "myblog" && c.State == "running" {
			running++
		}
	}
	if running == 0 {
		t.Fatal("no running container of project myblog")
	}

	hosts := e.NPM.Hosts()
	if len(hosts) != 1 {
		t.Fatalf("npm hosts = %+v, want one", hosts)
	}
	h := hosts[0]
	if strings.Join(h.DomainNames, ",") != "blog.example.com" || h.ForwardHost != "myblog" || h.ForwardPort != lib.HTTPPort || h.ForwardScheme != "http" {
		t.Errorf("proxy host = %+v, want blog.example.com -> http://myblog:%d", h, lib.HTTPPort)
	}
}

func TestInstallWithoutDomainUsesHostPort(t *testing.T) {
	e := newEnv(t)
	op := e.install(InstallRequest{AppName: "whoami", AppID: "who1", Settings: []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: "9100"}}})
	if op.Status != ops.StatusSucceeded {
		t.Fatalf("install: %s %s", op.Status, op.Error)
	}
	env, _ := dotenv.Parse(e.Gitea.Files(e.Owner, "who1", "main")[".env"])
	if got, _ := env.Get("W9_URL"); got != "203.0.113.7:9100" {
		t.Errorf("W9_URL = %q, want host:port 203.0.113.7:9100", got)
	}
	if len(e.NPM.Hosts()) != 0 {
		t.Errorf("an app without domains got proxy hosts: %+v", e.NPM.Hosts())
	}
	published := false
	for _, c := range e.Portainer.Containers(1) {
		for _, p := range c.Ports {
			if p.HostPort == 9100 {
				published = true
			}
		}
	}
	if !published {
		t.Error("the W9_HTTP_PORT_SET setting did not reach the published port")
	}
}

func TestBadInputIsRefusedBeforeAnyUpstreamCall(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		req   InstallRequest
		code  apperr.Code
		field string
	}{
		{"bad id", InstallRequest{AppName: "whoami", AppID: "Bad-Id"}, apperr.ValidationFailed, "appId"},
		{"short id", InstallRequest{AppName: "whoami", AppID: "a"}, apperr.ValidationFailed, "appId"},
		{"unknown app", InstallRequest{AppName: "nosuchapp", AppID: "abc"}, apperr.ValidationFailed, "appName"},
		{"unknown version", InstallRequest{AppName: "whoami", AppID: "abc", Version: "0.0.0-nope"}, apperr.ValidationFailed, "version"},
		{"bad domain", InstallRequest{AppName: "whoami", AppID: "abc", Domains: []string{"evil.com; return 403"}}, apperr.ValidationFailed, "domains[0]"},
		{"default not in domains", InstallRequest{AppName: "whoami", AppID: "abc", Domains: []string{"a.example.com"}, DefaultDomain: "b.example.com"}, apperr.ValidationFailed, "defaultDomain"},
		{"newline in setting", InstallRequest{AppName: "whoami", AppID: "abc", Settings: []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: "9100\nW9_ID=x"}}}, apperr.ValidationFailed, "settings[0]"},
		{"NUL in setting", InstallRequest{AppName: "whoami", AppID: "abc", Settings: []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: "91\x0000"}}}, apperr.ValidationFailed, "settings[0]"},
		{"unknown setting", InstallRequest{AppName: "whoami", AppID: "abc", Settings: []EnvSetting{{Name: "W9_ID", Value: "x"}}}, apperr.ValidationFailed, "settings[0]"},
		{"port not a number", InstallRequest{AppName: "whoami", AppID: "abc", Settings: []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: "http"}}}, apperr.ValidationFailed, "settings"},
		{"port out of range", InstallRequest{AppName: "whoami", AppID: "abc", Settings: []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: "70000"}}}, apperr.ValidationFailed, "settings"},
	}
	before := totalCalls(e)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Svc.Install(ctx, tt.req)
			ae, ok := apperr.As(err)
			if !ok || ae.Code != tt.code || ae.Field != tt.field {
				t.Fatalf("err = %v, want %s on field %s", err, tt.code, tt.field)
			}
		})
	}
	if after := totalCalls(e); after != before {
		t.Fatalf("bad input reached the upstreams: %d calls", after-before)
	}
	// An unknown endpoint is refused by preflight, naming the field, and
	// nothing is written.
	_, err := e.Svc.Install(ctx, InstallRequest{AppName: "whoami", AppID: "abc", EndpointID: 42})
	if ae, ok := apperr.As(err); !ok || ae.Code != apperr.PreconditionFailed || ae.Field != "endpointId" {
		t.Fatalf("unknown endpoint: %v", err)
	}
	if l := e.leftovers("abc"); len(l) != 0 {
		t.Fatalf("leftovers after refused installs: %v", l)
	}
}

// Preflight refuses a domain any NPM host already carries, a proxy,
// redirection or 404 host, naming it, before anything is written (users of
// other tools find this out when the proxy step fails).
func TestInstallRefusesDomainsOfEveryKindOfNPMHost(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	proxy, err := e.Proxies.CreateProxyHost(ctx, proxymanager.ProxyHostRequest{DomainNames: []string{"p.example.com"},
		ForwardScheme: "http", ForwardHost: "someone", ForwardPort: 80})
	if err != nil {
		t.Fatal(err)
	}
	redir := e.NPM.AddRedirectionHost("r.example.com")
	dead := e.NPM.AddDeadHost("d.example.com")
	tests := []struct{ domain, mention string }{
		{"P.example.com", "domain p.example.com is already used by NPM proxy host " + strconv.Itoa(proxy.ID)},
		{"r.example.com", "domain r.example.com is already used by NPM redirection host " + strconv.Itoa(redir)},
		{"d.example.com", "domain d.example.com is already used by NPM 404 host " + strconv.Itoa(dead)},
	}
	for _, tt := range tests {
		_, err := e.Svc.Install(ctx, InstallRequest{AppName: "whoami", AppID: "taken", Domains: []string{"free.example.com", tt.domain}})
		ae, ok := apperr.As(err)
		if !ok || ae.Code != apperr.PreconditionFailed || ae.Field != "domains" || !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("%s: %v, want PRECONDITION_FAILED on domains: %s", tt.domain, err, tt.mention)
		}
	}
	if l := e.leftovers("taken"); len(l) != 0 {
		t.Fatalf("leftovers after refused installs: %v", l)
	}
	// Without domains the other hosts are not even read.
	e.NPM.Faults.ResetCalls()
	if op := e.install(InstallRequest{AppName: "whoami", AppID: "nodomain"}); op.Status != ops.StatusSucceeded {
		t.Fatalf("install without domains: %s %s", op.Status, op.Error)
	}
	if n := e.NPM.CallCount(npmfake.RouteRedirections) + e.NPM.CallCount(npmfake.RouteDeadHosts); n != 0 {
		t.Errorf("an install without domains listed redirection or 404 hosts (%d calls)", n)
	}
}

func totalCalls(e *testEnv) int {
	n := 0
	for _, m := range []map[string]int{e.Gitea.Faults.AllCalls(), e.Portainer.Faults.AllCalls(), e.NPM.Faults.AllCalls()} {
		for _, c := range m {
			n += c
		}
	}
	return n
}

// An nginx refusal of the new proxy host is an answer, not an outage: the
// install rolls back at once (no retries) with nginx's message, and leaves
// nothing behind.
func TestInstallRollsBackWhenNginxRejectsTheProxy(t *testing.T) {
	e := newEnv(t)
	e.NPM.FailNginx(`unknown directive "bogus"`)
	done := e.install(InstallRequest{AppName: "whoami", AppID: "rejected", Domains: []string{"rejected.example.com"}})
	if done.Status != ops.StatusRolledBack {
		t.Fatalf("install with nginx rejecting the host: %s %q", done.Status, done.Error)
	}
	if !strings.Contains(done.Error, "nginx did not accept proxy host") || !strings.Contains(done.Error, "bogus") {
		t.Errorf("error %q does not say that nginx refused the host and why", done.Error)
	}
	if l := e.leftovers("rejected"); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
}
