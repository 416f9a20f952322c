package contract

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func giteaValidator(t *testing.T, opts ...Option) *Validator {
	t.Helper()
	v, err := LoadSwagger2(Spec(t, "gitea-swagger.v1.json"), "/api/v1", opts...)
	if err != nil {
		t.Fatalf("LoadSwagger2: %v", err)
	}
	return v
}

func authed(method, target, body string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Header.Set("Authorization", "token abc")
	if method != http.MethodGet {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

var jsonHeader = http.Header{"Content-Type": {"application/json"}}

const goodRepo = `{"id":7,"name":"app","full_name":"admin/app","owner":{"id":1,"login":"admin"},
 "private":true,"empty":false,"default_branch":"main","clone_url":"http://g/admin/app.git",
 "html_url":"http://g/admin/app","created_at":"2026-01-02T03:04:05Z","topics":[],"permissions":{"admin":true,"pull":true,"push":true}}`

func TestCheck(t *testing.T) {
	v := giteaValidator(t)
	tests := []struct {
		name     string
		req      *http.Request
		reqBody  string
		status   int
		header   http.Header
		respBody string
		wantErr  string // substring; empty means valid
	}{
		{name: "valid repository", req: authed("GET", "/api/v1/repos/admin/app", ""), status: 200, header: jsonHeader, respBody: goodRepo},
		{name: "renamed field", req: authed("GET", "/api/v1/repos/admin/app", ""), status: 200, header: jsonHeader,
			respBody: strings.Replace(goodRepo, `"full_name"`, `"fullName"`, 1), wantErr: "$.fullName: field not in spec"},
		{name: "renamed nested field", req: authed("GET", "/api/v1/repos/admin/app", ""), status: 200, header: jsonHeader,
			respBody: strings.Replace(goodRepo, `"login"`, `"username"`, 1), wantErr: "$.owner.username: field not in spec"},
		{name: "wrong type", req: authed("GET", "/api/v1/repos/admin/app", ""), status: 200, header: jsonHeader,
			respBody: strings.Replace(goodRepo, `"id":7`, `"id":"7"`, 1), wantErr: "response body doesn't match schema"},
		{name: "wrong nested type", req: authed("GET", "/api/v1/repos/admin/app", ""), status: 200, header: jsonHeader,
			respBody: strings.Replace(goodRepo, `"push":true`, `"push":"yes"`, 1), wantErr: "response body doesn't match schema"},
		{name: "null is accepted", req: authed("GET", "/api/v1/repos/admin/app", ""), status: 200, header: jsonHeader,
			respBody: strings.Replace(goodRepo, `"topics":[]`, `"topics":null,"parent":null`, 1)},
		{name: "route not in spec", req: authed("GET", "/api/v1/nope/here", ""), status: 200, header: jsonHeader,
			respBody: `{}`, wantErr: "GET /api/v1/nope/here"},
		{name: "method not in spec", req: authed("PUT", "/api/v1/version", ""), status: 200, header: jsonHeader,
			respBody: `{}`, wantErr: "method PUT not allowed"},
		{name: "valid request body", req: authed("POST", "/api/v1/user/repos", `{"name":"app","private":true,"default_branch":"main"}`),
			reqBody: `{"name":"app","private":true,"default_branch":"main"}`, status: 201, header: jsonHeader, respBody: goodRepo},
		{name: "request body renamed field", req: authed("POST", "/api/v1/user/repos", ""),
			reqBody: `{"name":"app","defaultBranch":"main"}`, status: 201, header: jsonHeader, respBody: goodRepo,
			wantErr: "request body: $.defaultBranch: field not in spec"},
		{name: "request body wrong type", req: authed("POST", "/api/v1/user/repos", ""),
			reqBody: `{"name":"app","private":"yes"}`, status: 201, header: jsonHeader, respBody: goodRepo, wantErr: "request:"},
		{name: "request body missing required", req: authed("POST", "/api/v1/repos/a/b/contents", ""),
			reqBody: `{"message":"m"}`, status: 201, header: jsonHeader, respBody: `{}`, wantErr: "request:"},
		{name: "request body bad enum", req: authed("POST", "/api/v1/repos/a/b/contents", ""),
			reqBody: `{"files":[{"operation":"replace","path":"x"}]}`, status: 201, header: jsonHeader, respBody: `{}`, wantErr: "request:"},
		{name: "no credentials", req: httptest.NewRequest("GET", "/api/v1/repos/admin/app", nil), status: 200, header: jsonHeader,
			respBody: goodRepo, wantErr: "request:"},
		{name: "filepath with slashes", req: authed("GET", "/api/v1/repos/admin/app/contents/a/b/c.yml?ref=main", ""), status: 200, header: jsonHeader,
			respBody: `{"name":"c.yml","path":"a/b/c.yml","sha":"x","type":"file","size":3,"encoding":"base64","content":"YWJj","_links":{"self":"s","git":"g","html":"h"}}`},
		{name: "contents drift", req: authed("GET", "/api/v1/repos/admin/app/contents/a.yml", ""), status: 200, header: jsonHeader,
			respBody: `{"name":"a.yml","path":"a.yml","blob_sha":"x"}`, wantErr: "$.blob_sha"},
		{name: "batch contents wins over wildcard", req: authed("POST", "/api/v1/repos/a/b/contents", ""),
			reqBody: `{"files":[{"operation":"create","path":"x","content":"YQ=="}]}`, status: 201, header: jsonHeader,
			respBody: `{"files":[null,{"name":"x","path":"x"}],"commit":{"sha":"c","parents":[{"sha":"p"}]},"verification":null}`},
		{name: "raw file any content type", req: authed("GET", "/api/v1/repos/a/b/raw/docker-compose.yml?ref=main", ""), status: 200,
			header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, respBody: "services: {}\n"},
		{name: "undocumented error status tolerated", req: authed("GET", "/api/v1/repos/a/b", ""), status: 401, header: jsonHeader,
			respBody: `{"message":"token is required","url":"x"}`},
		{name: "wrong query parameter type", req: authed("GET", "/api/v1/repos/a/b/commits?limit=many", ""), status: 200, header: jsonHeader,
			respBody: `[]`, wantErr: "request:"},
		{name: "outside base path", req: authed("GET", "/admin/app.git/info/refs", ""), status: 200, header: jsonHeader,
			respBody: `{}`, wantErr: "outside base path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := v.Check(tt.req, []byte(tt.reqBody), tt.status, tt.header, []byte(tt.respBody))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want error containing %q, got nil", tt.wantErr)
			}
			t.Logf("got: %v", err)
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("want error containing %q, got %v", tt.wantErr, err)
			}
		})
	}
	if got := v.Checked()["GET /repos/{owner}/{repo}"]; got == 0 {
		t.Fatalf("Checked() did not count GET /repos/{owner}/{repo}: %v", v.CheckedRoutes())
	}
}

func TestCheckNoRouteIsTyped(t *testing.T) {
	v := giteaValidator(t)
	err := v.Check(authed("GET", "/api/v1/nope", ""), nil, 200, jsonHeader, []byte(`{}`))
	if !errors.Is(err, ErrNoRoute) {
		t.Fatalf("want ErrNoRoute, got %v", err)
	}
}

func TestStrictStatus(t *testing.T) {
	v := giteaValidator(t, StrictStatus())
	err := v.Check(authed("GET", "/api/v1/repos/a/b", ""), nil, 418, jsonHeader, []byte(`{}`))
	if err == nil || !strings.Contains(err.Error(), "status is not supported") {
		t.Fatalf("want undocumented status error, got %v", err)
	}
}

func TestMiddleware(t *testing.T) {
	v := giteaValidator(t, Ignore(`\.git/`))
	body := strings.Replace(goodRepo, `"empty"`, `"is_empty"`, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/info/refs") {
			_, _ = io.WriteString(w, "ignored")
			return
		}
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, body)
	})
	var (
		mu   sync.Mutex
		errs []error
	)
	srv := httptest.NewServer(Middleware(v, func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() })(h))
	defer srv.Close()

	for _, p := range []string{"/api/v1/repos/admin/app", "/admin/app.git/info/refs"} {
		req, _ := http.NewRequest("GET", srv.URL+p, nil)
		req.Header.Set("Authorization", "token x")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if p == "/api/v1/repos/admin/app" && string(got) != body {
			t.Fatalf("middleware changed the body: %q", got)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "$.is_empty: field not in spec") {
		t.Fatalf("want one violation naming $.is_empty, got %v", errs)
	}
}

func TestTransport(t *testing.T) {
	v := giteaValidator(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"version":1}`)
	}))
	defer srv.Close()
	var got []error
	c := &http.Client{Transport: Transport(v, func(err error) { got = append(got, err) }, nil)}
	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/version", nil)
	req.Header.Set("Authorization", "token x")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(b) != `{"version":1}` {
		t.Fatalf("transport changed the body: %q", b)
	}
	if len(got) != 1 {
		t.Fatalf("want one violation (version is a string), got %v", got)
	}
}

func TestPortainerSpecLoads(t *testing.T) {
	v, err := LoadSwagger2(Spec(t, "portainer-swagger.yaml"), "/api")
	if err != nil {
		t.Fatalf("LoadSwagger2: %v", err)
	}
	r := httptest.NewRequest("GET", "/api/stacks/12", nil)
	r.Header.Set("X-API-Key", "ptr_x")
	if _, _, err := v.find(r); err != nil {
		t.Fatalf("GET /api/stacks/12 not routed: %v", err)
	}
}

func TestMiddlewareSkipsAbandonedRequests(t *testing.T) {
	v := giteaValidator(t)
	var reported []error
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // like a fault delay cut short by the client
	})
	srv := httptest.NewServer(Middleware(v, func(err error) { reported = append(reported, err) })(h))
	defer srv.Close()
	c := &http.Client{Timeout: 50 * time.Millisecond}
	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/version", nil)
	req.Header.Set("Authorization", "token x")
	if _, err := c.Do(req); err == nil {
		t.Fatal("want client timeout")
	}
	srv.Close() // waits for the handler
	if len(reported) != 0 {
		t.Fatalf("abandoned request reported as a violation: %v", reported)
	}
}

// TestToleratedExtraFields is the real-server mode: fields the spec lacks
// are listed, not failed; renamed, retyped and missing required ones fail.
// The default (fakes) stays strict on the same answers.
func TestToleratedExtraFields(t *testing.T) {
	real := giteaValidator(t, ToleratedExtraFields(), Need("User", "login"), Need("Repository", "full_name", "clone_url"))
	strict := giteaValidator(t, Need("User", "login"))
	// Gitea 1.25 sends username beside login in every user object.
	withUsername := strings.Replace(goodRepo, `"login":"admin"`, `"login":"admin","username":"admin"`, 1)
	commits := `[{"sha":"a","url":"u","author":{"id":1,"login":"x","username":"x"},"committer":{"id":1,"login":"x","username":"x"},"commit":{"message":"m"}},
	             {"sha":"b","url":"u","author":{"id":1,"login":"x","username":"x"},"committer":null,"commit":{"message":"m"}}]`
	tests := []struct {
		name      string
		req       *http.Request
		reqBody   string
		status    int
		body      string
		realErr   string // "" = passes in tolerated mode
		strictErr string // "" = passes strict
	}{
		{name: "extra field", req: authed("GET", "/api/v1/repos/admin/app", ""), status: 200, body: withUsername,
			strictErr: "$.owner.username: field not in spec"},
		{name: "extra field in a list", req: authed("GET", "/api/v1/repos/a/b/commits", ""), status: 200, body: commits,
			strictErr: "$[0].author.username: field not in spec"},
		{name: "renamed by convention", req: authed("GET", "/api/v1/repos/admin/app", ""), status: 200,
			body: strings.Replace(goodRepo, `"full_name"`, `"fullName"`, 1), realErr: `$.fullName: field not in spec (renamed from "full_name"?)`, strictErr: "renamed from"},
		{name: "renamed to another word", req: authed("GET", "/api/v1/repos/admin/app", ""), status: 200,
			body: strings.Replace(goodRepo, `"login"`, `"username"`, 1), realErr: `property "login" is missing`, strictErr: `property "login" is missing`},
		{name: "retyped", req: authed("GET", "/api/v1/repos/admin/app", ""), status: 200,
			body: strings.Replace(withUsername, `"private":true`, `"private":"yes"`, 1), realErr: "response body doesn't match schema", strictErr: "response body doesn't match schema"},
		{name: "required missing", req: authed("GET", "/api/v1/repos/admin/app", ""), status: 200,
			body: strings.Replace(withUsername, `"clone_url":"http://g/admin/app.git",`, ``, 1), realErr: `property "clone_url" is missing`, strictErr: "$.owner.username: field not in spec"},
		{name: "our request stays strict", req: authed("POST", "/api/v1/user/repos", ""), reqBody: `{"name":"app","defaultBranch":"main"}`, status: 201, body: withUsername,
			realErr: "request body: $.defaultBranch: field not in spec", strictErr: "request body: $.defaultBranch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, m := range []struct {
				mode string
				v    *Validator
				want string
			}{{"real", real, tt.realErr}, {"strict", strict, tt.strictErr}} {
				err := m.v.Check(tt.req, []byte(tt.reqBody), tt.status, jsonHeader, []byte(tt.body))
				switch {
				case m.want == "" && err != nil:
					t.Errorf("%s: want pass, got %v", m.mode, err)
				case m.want != "" && (err == nil || !strings.Contains(err.Error(), m.want)):
					t.Errorf("%s: want error containing %q, got %v", m.mode, m.want, err)
				}
			}
		})
	}
	want := []string{
		"GET /repos/{owner}/{repo}/commits: $[].author.username",
		"GET /repos/{owner}/{repo}/commits: $[].committer.username",
		"GET /repos/{owner}/{repo}: $.owner.username",
		"POST /user/repos: $.owner.username",
	}
	if got := real.ExtraFields(); !slices.Equal(got, want) {
		t.Errorf("ExtraFields() = %q, want %q", got, want)
	}
	if got := strict.ExtraFields(); len(got) != 0 {
		t.Errorf("strict ExtraFields() = %q, want none", got)
	}
}

func TestNeedUnknown(t *testing.T) {
	for _, o := range []Option{Need("NoSuchDefinition", "x"), Need("User", "no_such_property")} {
		if _, err := LoadSwagger2(Spec(t, "gitea-swagger.v1.json"), "/api/v1", o); err == nil {
			t.Error("Need with an unknown name: want a load error")
		}
	}
}
