package apps

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/faults"
	giteafake "github.com/appmanage/appmanage/datasources/gitea/fake"
	"github.com/appmanage/appmanage/ops"
)

// tokenLog records the Gitea token of every API request, by route.
type tokenLog struct {
	mu   sync.Mutex
	seen []string // "METHOD path token"
}

func (l *tokenLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "token ")
		l.mu.Lock()
		l.seen = append(l.seen, r.Method+" "+r.URL.Path+" "+tok)
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (l *tokenLog) tokensOf(method, pathSuffix string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, s := range l.seen {
		f := strings.Fields(s)
		if len(f) == 3 && f[0] == method && strings.HasSuffix(f[1], pathSuffix) {
			out = append(out, f[2])
		}
	}
	return out
}

func connectEnv(t *testing.T, opts ...envOption) *testEnv {
	t.Helper()
	e := newEnv(t, opts...)
	e.Svc.UseSettings(e.DB)
	err := e.Svc.UseConnections(context.Background(), Connections{
		Gitea:     GiteaConnection{URL: e.Gitea.URL(), Token: e.Gitea.Token(giteafake.AdminUser), Owner: e.Owner},
		Portainer: PortainerConnection{URL: e.Portainer.URL(), APIKey: "ptr_test"},
		NPM:       NPMConnection{URL: e.NPM.URL(), Email: e.NPM.Email(), Password: e.NPM.Password()},
	}, ClientOptions{Log: e.Log, Timeout: 2 * time.Second, RetryWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestGiteaTokenChange(t *testing.T) {
	e := connectEnv(t)
	ctx := context.Background()
	old := e.Gitea.Token(giteafake.AdminUser)

	// A wrong token is refused by the live test and nothing is saved.
	_, err := e.Svc.UpdateSettings(ctx, []EnvSetting{{Name: "giteaToken", Value: "0123456789abcdef0123456789abcdef01234567"}})
	ae, _ := apperr.As(err)
	if apperr.CodeOf(err) != apperr.UpstreamRejected || ae == nil || ae.Upstream != "gitea" {
		t.Fatalf("wrong token: %v", err)
	}
	if strings.Contains(err.Error(), "0123456789abcdef") {
		t.Fatalf("the error shows the token: %v", err)
	}
	if _, err := e.DB.GetSetting(ctx, "giteaToken"); err == nil {
		t.Fatal("a refused token was saved")
	}
	if op := e.install(InstallRequest{AppName: "whoami", AppID: "before"}); op.Status != ops.StatusSucceeded {
		t.Fatalf("install with the old token: %s %s", op.Status, op.Error)
	}

	// A right one is applied at once; with the old one revoked, the next
	// install works only if it uses the new one.
	fresh := e.Gitea.AddToken(giteafake.AdminUser)
	views, err := e.Svc.UpdateSettings(ctx, []EnvSetting{{Name: "giteaToken", Value: fresh}})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range views {
		if v.Key == "giteaToken" && (v.Value != nil || !v.Secret || v.UpdatedAt == nil) {
			t.Fatalf("secret setting view: %+v", v)
		}
	}
	e.Gitea.RevokeToken(old)
	if op := e.install(InstallRequest{AppName: "whoami", AppID: "after"}); op.Status != ops.StatusSucceeded {
		t.Fatalf("install with the new token: %s %s", op.Status, op.Error)
	}

	// Unreachable: UPSTREAM_UNAVAILABLE, nothing saved.
	_, err = e.Svc.UpdateSettings(ctx, []EnvSetting{{Name: "giteaUrl", Value: "http://127.0.0.1:1"}})
	if ae, _ := apperr.As(err); apperr.CodeOf(err) != apperr.UpstreamUnavailable || ae.Upstream != "gitea" {
		t.Fatalf("unreachable gitea: %v", err)
	}
	if _, err := e.DB.GetSetting(ctx, "giteaUrl"); err == nil {
		t.Fatal("a refused URL was saved")
	}

	// A restarted service applies the stored token without a test.
	e.Svc.up.Store(newUpstreamSet(e.Repos, e.Stacks, e.Proxies, GitCredentials{}, "")) // the flags' (revoked) token
	if err := e.Svc.UseConnections(ctx, e.Svc.conn.defaults, e.Svc.conn.opts); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Svc.repos.GetRepo(ctx, "after"); err != nil {
		t.Fatalf("stored token not applied at start: %v", err)
	}
}

func TestTestUpstream(t *testing.T) {
	e := connectEnv(t)
	ctx := context.Background()
	e.Gitea.AddOrg("team", "someone-else")
	outsider := e.Gitea.AddUser(giteafake.User{Login: "outsider"})
	tests := []struct {
		name    string
		up      string
		changes []EnvSetting
		code    apperr.Code
	}{
		{"current gitea", "gitea", nil, ""},
		{"wrong gitea token", "gitea", []EnvSetting{{Name: "giteaToken", Value: "nope"}}, apperr.UpstreamRejected},
		{"gitea org the user is not in", "gitea", []EnvSetting{{Name: "giteaOwner", Value: "team"}, {Name: "giteaToken", Value: outsider.Token}}, apperr.UpstreamRejected},
		{"gitea owner another user", "gitea", []EnvSetting{{Name: "giteaOwner", Value: "nobody"}}, apperr.UpstreamRejected},
		{"current portainer", "portainer", nil, ""},
		{"wrong portainer key", "portainer", []EnvSetting{{Name: "portainerApiKey", Value: "ptr_wrong"}}, apperr.UpstreamRejected},
		{"current npm", "npm", nil, ""},
		{"wrong npm password", "npm", []EnvSetting{{Name: "npmPassword", Value: "wrong-password"}}, apperr.UpstreamRejected},
		{"unreachable npm", "npm", []EnvSetting{{Name: "npmUrl", Value: "http://127.0.0.1:1"}}, apperr.UpstreamUnavailable},
		{"setting of another upstream", "npm", []EnvSetting{{Name: "giteaToken", Value: "x"}}, apperr.ValidationFailed},
		{"not a URL", "gitea", []EnvSetting{{Name: "giteaUrl", Value: "ftp://x"}}, apperr.ValidationFailed},
		{"credentials in the URL", "gitea", []EnvSetting{{Name: "giteaUrl", Value: "http://admin:pw@gitea:3000"}}, apperr.ValidationFailed},
		{"unknown upstream", "docker", nil, apperr.ValidationFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.Svc.TestUpstream(ctx, tc.up, tc.changes)
			if apperr.CodeOf(err) != tc.code && !(tc.code == "" && err == nil) {
				t.Fatalf("got %v, want %s", err, tc.code)
			}
			if tc.code == "" && (res == nil || res.Version == "" || len(res.Checks) < 2) {
				t.Fatalf("result %+v", res)
			}
			if ae, ok := apperr.As(err); ok && (tc.code == apperr.UpstreamRejected || tc.code == apperr.UpstreamUnavailable) && ae.Upstream != tc.up {
				t.Fatalf("upstream %q, want %q", ae.Upstream, tc.up)
			}
		})
	}
	if all, _ := e.DB.ListSettings(ctx); len(all) != 0 {
		t.Fatalf("testUpstream saved %d settings", len(all))
	}
}

// An install running when the token changes finishes on the client it
// started with: its commit, sent after the swap from the step that was
// running, and its later steps' calls carry the old token. The next
// install uses the new one. The app has a domain, so the stack step (a
// later step) reads the repository: its nginx configuration candidates.
// (It no longer asks Gitea for the repository itself: the repository
// step journals the clone URL.)
func TestInFlightOperationKeepsItsClient(t *testing.T) {
	var log tokenLog
	e := connectEnv(t, withGiteaWrap(log.wrap))
	ctx := context.Background()
	old := e.Gitea.Token(giteafake.AdminUser)
	e.Gitea.Faults.Fail(giteafake.RouteCreateUserRepo, faults.Fault{Delay: 600 * time.Millisecond})
	op, err := e.Svc.Install(ctx, InstallRequest{AppName: "whoami", AppID: "inflight", Domains: []string{"inflight.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for e.Gitea.Faults.Calls(giteafake.RouteCreateUserRepo) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the repository step never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	fresh := e.Gitea.AddToken(giteafake.AdminUser)
	if _, err := e.Svc.UpdateSettings(ctx, []EnvSetting{{Name: "giteaToken", Value: fresh}}); err != nil {
		t.Fatal(err)
	}
	if done := e.wait(op); done.Status != ops.StatusSucceeded {
		t.Fatalf("install: %s %s", done.Status, done.Error)
	}
	if got := log.tokensOf("POST", "/repos/admin/inflight/contents"); len(got) != 1 || got[0] != old {
		t.Fatalf("commit sent with %v, want the old token once", got)
	}
	// The stack step ran after the swap and read the repository's files.
	var reads []string
	for _, p := range proxyConfPaths {
		reads = append(reads, log.tokensOf("GET", "/repos/admin/inflight/raw/"+p)...)
	}
	if len(reads) < len(proxyConfPaths) {
		t.Fatalf("repository file reads after the swap: %v", reads)
	}
	for _, tok := range reads {
		if tok != old {
			t.Fatalf("a step of the install in flight used another token: %v", reads)
		}
	}
	e.Gitea.RevokeToken(old)
	if done := e.install(InstallRequest{AppName: "whoami", AppID: "nextone"}); done.Status != ops.StatusSucceeded {
		t.Fatalf("next install: %s %s", done.Status, done.Error)
	}
	if got := log.tokensOf("POST", "/repos/admin/nextone/contents"); len(got) != 1 || got[0] != fresh {
		t.Fatalf("next install's commit sent with %v, want the new token", got)
	}
}
