package fake

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appmanage/appmanage/datasources/proxymanager/npmschema"
)

// raw drives the fake over HTTP, with every exchange checked against NPM's
// schema tree.
type raw struct {
	t     *testing.T
	s     *Server
	token string

	mu   sync.Mutex
	errs []error // contract violations not yet taken
}

func newRaw(t *testing.T, opts Options) *raw {
	t.Helper()
	spec := npmschema.ForTest(t)
	r := &raw{t: t}
	opts.Middleware = spec.Middleware(func(err error) { r.mu.Lock(); r.errs = append(r.errs, err); r.mu.Unlock() })
	r.s = New(opts)
	t.Cleanup(func() {
		r.s.Close()
		for _, e := range r.take() {
			t.Errorf("contract violation: %v", e)
		}
	})
	var tok struct{ Token string }
	if st := r.do("POST", "/api/tokens", `{"identity":"ADMIN@example.com","secret":"changeme"}`, &tok); st != 200 {
		t.Fatalf("login: %d", st)
	}
	r.token = tok.Token
	return r
}

// take returns and clears the contract violations seen so far.
func (r *raw) take() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	errs := r.errs
	r.errs = nil
	return errs
}

// do sends body (if any) and decodes the answer into out (a *string gets
// the error message). It returns the status.
func (r *raw) do(method, path, body string, out any) int {
	r.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, r.s.URL()+path, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if msg, ok := out.(*string); ok {
		var e struct{ Error struct{ Message string } }
		_ = json.Unmarshal(b, &e)
		*msg = e.Error.Message
	} else if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			r.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

const minimal = `{"domain_names":["a.example.com"],"forward_scheme":"http","forward_host":"app","forward_port":80}`

func TestSchemaMessages(t *testing.T) {
	r := newRaw(t, Options{})
	tests := []struct{ name, method, path, body, want string }{
		{"missing host", "POST", "/api/nginx/proxy-hosts", `{"domain_names":["a.example.com"],"forward_scheme":"http","forward_port":80}`,
			"data must have required property 'forward_host'"},
		{"extra key", "POST", "/api/nginx/proxy-hosts", `{"domain_names":["a.example.com"],"forward_scheme":"http","forward_host":"app","forward_port":80,"name":"x"}`,
			"data must NOT have additional properties"},
		{"bad domain", "POST", "/api/nginx/proxy-hosts", `{"domain_names":["a b"],"forward_scheme":"http","forward_host":"app","forward_port":80}`,
			`data/domain_names/0 must match pattern "^[^&| @!#%^();:/\\\\}{=+?<>,~` + "`" + `'\"]+$"`},
		{"port zero", "POST", "/api/nginx/proxy-hosts", `{"domain_names":["a.example.com"],"forward_scheme":"http","forward_host":"app","forward_port":0}`,
			"data/forward_port must be >= 1"},
		{"port too big", "POST", "/api/nginx/proxy-hosts", `{"domain_names":["a.example.com"],"forward_scheme":"http","forward_host":"app","forward_port":65536}`,
			"data/forward_port must be <= 65535"},
		{"port string", "POST", "/api/nginx/proxy-hosts", `{"domain_names":["a.example.com"],"forward_scheme":"http","forward_host":"app","forward_port":"80"}`,
			"data/forward_port must be integer"},
		{"scheme", "POST", "/api/nginx/proxy-hosts", `{"domain_names":["a.example.com"],"forward_scheme":"ftp","forward_host":"app","forward_port":80}`,
			"data/forward_scheme must be equal to one of the allowed values"},
		{"no domains", "POST", "/api/nginx/proxy-hosts", `{"domain_names":[],"forward_scheme":"http","forward_host":"app","forward_port":80}`,
			"data/domain_names must NOT have fewer than 1 items"},
		{"duplicate domains", "POST", "/api/nginx/proxy-hosts", `{"domain_names":["a.example.com","a.example.com"],"forward_scheme":"http","forward_host":"app","forward_port":80}`,
			"data/domain_names must NOT have duplicate items (items ## 0 and 1 are identical)"},
		{"certificate", "POST", "/api/nginx/proxy-hosts", `{"domain_names":["a.example.com"],"forward_scheme":"http","forward_host":"app","forward_port":80,"certificate_id":"old"}`,
			"data/certificate_id must match a schema in anyOf"},
		{"location extra key", "POST", "/api/nginx/proxy-hosts", `{"domain_names":["a.example.com"],"forward_scheme":"http","forward_host":"app","forward_port":80,"locations":[{"path":"/x","forward_scheme":"http","forward_host":"b","forward_port":1,"name":"n"}]}`,
			"data/locations/0 must NOT have additional properties"},
		{"empty host", "POST", "/api/nginx/proxy-hosts", `{"domain_names":["a.example.com"],"forward_scheme":"http","forward_host":"","forward_port":80}`,
			"data/forward_host must NOT have fewer than 1 characters"},
		{"login expiry", "POST", "/api/tokens", `{"identity":"admin@example.com","secret":"changeme","expiry":"1d"}`,
			"data must NOT have additional properties"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var msg string
			if st := r.do(tt.method, tt.path, tt.body, &msg); st != 400 || msg != tt.want {
				t.Fatalf("got %d %q, want 400 %q", st, msg, tt.want)
			}
			// The real schema must reject the request too, and nothing else.
			errs := r.take()
			if len(errs) != 1 || !strings.Contains(errs[0].Error(), "request:") || strings.Contains(errs[0].Error(), "response") {
				t.Fatalf("real schema disagrees: %v", errs)
			}
		})
	}
	if len(r.s.Hosts()) != 0 {
		t.Fatal("an invalid request created a host")
	}
	// A valid host, then an empty update.
	var h ProxyHost
	if st := r.do("POST", "/api/nginx/proxy-hosts", minimal, &h); st != 201 {
		t.Fatalf("create: %d", st)
	}
	var msg string
	if st := r.do("PUT", "/api/nginx/proxy-hosts/1", `{}`, &msg); st != 400 || msg != "data must NOT have fewer than 1 properties" {
		t.Fatalf("empty update: %d %q", st, msg)
	}
	if errs := r.take(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "minProperties") {
		t.Fatalf("real schema disagrees on the empty update: %v", errs)
	}
}

func TestAuth(t *testing.T) {
	for _, status := range []int{404, 403} {
		r := newRaw(t, Options{MissingTokenStatus: status})
		tok := r.token
		r.token = ""
		var msg string
		if st := r.do("GET", "/api/nginx/proxy-hosts", "", &msg); st != status {
			t.Fatalf("no token: %d %q, want %d", st, msg, status)
		}
		if status == 404 && msg != "Not Found - /nginx/proxy-hosts" {
			t.Errorf("no token message %q", msg)
		}
		r.token = "garbage"
		if st := r.do("GET", "/api/nginx/proxy-hosts", "", &msg); st != 500 || msg != "Internal Error" {
			t.Errorf("bad token: %d %q", st, msg)
		}
		r.token = tok
		if st := r.do("GET", "/api/nginx/proxy-hosts", "", nil); st != 200 {
			t.Errorf("with token: %d", st)
		}
		r.token = ""
		if st := r.do("POST", "/api/tokens", `{"identity":"admin@example.com","secret":"wrong"}`, &msg); st != 400 || msg != "Invalid email or password" {
			t.Errorf("bad password: %d %q", st, msg)
		}
	}
}

func TestTokenExpiryAndRefresh(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r := newRaw(t, Options{Now: func() time.Time { return t0 }})
	var tok struct{ Token, Expires string }
	r.s.Advance(23 * time.Hour)
	if st := r.do("GET", "/api/tokens", "", &tok); st != 200 {
		t.Fatalf("refresh: %d", st)
	}
	if tok.Expires != "2026-03-03T11:00:00.000Z" {
		t.Errorf("refreshed expiry %s", tok.Expires)
	}
	r.s.Advance(time.Hour)
	var msg string
	if st := r.do("GET", "/api/nginx/proxy-hosts", "", &msg); st != 400 || msg != "Token has expired" {
		t.Fatalf("old token after 24h: %d %q", st, msg)
	}
	r.token = tok.Token
	if st := r.do("GET", "/api/nginx/proxy-hosts", "", nil); st != 200 {
		t.Fatalf("refreshed token: %d", st)
	}
	if st := r.do("GET", "/api/tokens?expiry=1h", "", &tok); st != 200 || tok.Expires != "2026-03-02T13:00:00.000Z" {
		t.Fatalf("refresh with expiry: %d %s", st, tok.Expires)
	}
}

func TestNormalisationAndDefaults(t *testing.T) {
	r := newRaw(t, Options{})
	var h ProxyHost
	body := `{"domain_names":["b.example.com","a.example.com"],"forward_scheme":"http","forward_host":"app","forward_port":80,"ssl_forced":true,"http2_support":true,"hsts_enabled":true,"hsts_subdomains":true}`
	if st := r.do("POST", "/api/nginx/proxy-hosts", body, &h); st != 201 {
		t.Fatalf("create: %d", st)
	}
	if h.SSLForced || h.HTTP2Support || h.HSTSEnabled || h.HSTSSubdomains {
		t.Errorf("SSL flags without a certificate kept: %+v", h)
	}
	if h.DomainNames[0] != "a.example.com" || h.AdvancedConfig != "" || h.Meta == nil || len(h.Meta) != 0 || !h.Enabled {
		t.Errorf("defaults: %+v", h)
	}
	cert := r.s.AddCertificate("c", "a.example.com")
	if st := r.do("PUT", "/api/nginx/proxy-hosts/1", `{"certificate_id":`+itoa(cert)+`,"ssl_forced":true,"hsts_subdomains":true}`, &h); st != 200 {
		t.Fatalf("update: %d", st)
	}
	if !h.SSLForced || h.HSTSSubdomains || h.CertificateID != cert {
		t.Errorf("with certificate, without HSTS: %+v", h)
	}
	if on, _ := h.Meta["nginx_online"].(bool); !on {
		t.Errorf("PUT answer carries no nginx_online: %v", h.Meta)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestNginxOnline(t *testing.T) {
	r := newRaw(t, Options{})
	create := func(adv string) ProxyHost {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"domain_names": []string{"h" + itoa(len(r.s.Hosts())) + ".example.com"},
			"forward_scheme": "http", "forward_host": "app", "forward_port": 80, "advanced_config": adv})
		var h ProxyHost
		if st := r.do("POST", "/api/nginx/proxy-hosts", string(b), &h); st != 201 {
			t.Fatalf("create: %d", st)
		}
		if _, ok := h.Meta["nginx_online"]; ok {
			t.Errorf("create answer carries nginx_online")
		}
		r.do("GET", "/api/nginx/proxy-hosts/"+itoa(h.ID), "", &h)
		return h
	}
	tests := []struct {
		adv    string
		online bool
		err    string
	}{
		{"", true, ""},
		{"location /x { proxy_pass http://a; }\n# } stray brace in a comment", true, ""},
		{"location /x { proxy_pass http://a;", false, `unexpected end of file, expecting "}"`},
		{"}", false, `unexpected "}"`},
		{"server { listen 81; }", false, `"server" directive is not allowed here`},
		// Quoted strings are one token each, as nginx reads them.
		{`add_header X-A "}"; add_header X-B '{ # not a comment';`, true, ""},
		{`add_header X-A "a\"}";`, true, ""},
		{`add_header X-A "server {";`, true, ""},
		{`add_header X-A "open;`, false, "unexpected end of file"},
	}
	for _, tt := range tests {
		h := create(tt.adv)
		on, _ := h.Meta["nginx_online"].(bool)
		errText, _ := h.Meta["nginx_err"].(string)
		if on != tt.online || !strings.Contains(errText, tt.err) {
			t.Errorf("%q: online=%v err=%q", tt.adv, on, errText)
		}
	}
	r.s.FailNginx("host not found in upstream")
	if h := create(""); h.Meta["nginx_online"] != false || !strings.Contains(h.Meta["nginx_err"].(string), "host not found") {
		t.Errorf("FailNginx: %v", h.Meta)
	}
	r.s.FailNginx("")
	var h ProxyHost
	r.do("POST", "/api/nginx/proxy-hosts", `{"domain_names":["cert.example.com"],"forward_scheme":"http","forward_host":"app","forward_port":80,"certificate_id":99}`, &h)
	r.do("GET", "/api/nginx/proxy-hosts/"+itoa(h.ID), "", &h)
	if h.Meta["nginx_online"] != false {
		t.Errorf("missing certificate accepted: %v", h.Meta)
	}
}

func TestDuplicateDomainsAndSoftDelete(t *testing.T) {
	r := newRaw(t, Options{})
	var h ProxyHost
	var msg string
	r.do("POST", "/api/nginx/proxy-hosts", `{"domain_names":["App.Example.com"],"forward_scheme":"http","forward_host":"app","forward_port":80}`, &h)
	if st := r.do("POST", "/api/nginx/proxy-hosts/1/disable", "", nil); st != 200 {
		t.Fatalf("disable: %d", st)
	}
	if st := r.do("POST", "/api/nginx/proxy-hosts/1/disable", "", &msg); st != 400 || msg != "Host is already disabled" {
		t.Fatalf("disable twice: %d %q", st, msg)
	}
	if st := r.do("POST", "/api/nginx/proxy-hosts", `{"domain_names":["x.example.com","app.example.com"],"forward_scheme":"http","forward_host":"b","forward_port":80}`, &msg); st != 400 || msg != "app.example.com is already in use" {
		t.Fatalf("duplicate of a disabled host: %d %q", st, msg)
	}
	r.s.AddRedirectionHost("r.example.com")
	r.s.AddDeadHost("d.example.com")
	for _, d := range []string{"R.example.com", "d.example.com"} {
		if st := r.do("POST", "/api/nginx/proxy-hosts", `{"domain_names":["`+d+`"],"forward_scheme":"http","forward_host":"b","forward_port":80}`, &msg); st != 400 || msg != d+" is already in use" {
			t.Errorf("%s: %d %q", d, st, msg)
		}
	}
	// Its own domains do not block an update of the host itself.
	if st := r.do("PUT", "/api/nginx/proxy-hosts/1", `{"domain_names":["app.example.com","www.example.com"]}`, &h); st != 200 {
		t.Fatalf("update self: %d", st)
	}
	if st := r.do("DELETE", "/api/nginx/proxy-hosts/1", "", nil); st != 200 {
		t.Fatal("delete")
	}
	if st := r.do("GET", "/api/nginx/proxy-hosts/1", "", &msg); st != 404 || msg != "Not Found - 1" {
		t.Fatalf("get deleted: %d %q", st, msg)
	}
	if st := r.do("POST", "/api/nginx/proxy-hosts", `{"domain_names":["app.example.com"],"forward_scheme":"http","forward_host":"b","forward_port":80}`, &h); st != 201 || h.ID != 2 {
		t.Fatalf("recreate after delete: %d id %d", st, h.ID)
	}
	var list []ProxyHost
	r.do("GET", "/api/nginx/proxy-hosts?query=APP", "", &list)
	if len(list) != 1 || list[0].ID != 2 {
		t.Fatalf("query: %+v", list)
	}
}

// TestHostListIsByteStableAndFollowsChanges: the same hosts give the same
// bytes, and an update, a disable or a new certificate shows in the next
// list although entries are served from earlier encodings.
func TestHostListIsByteStableAndFollowsChanges(t *testing.T) {
	r := newRaw(t, Options{})
	list := func() string {
		t.Helper()
		var out json.RawMessage
		if st := r.do("GET", "/api/nginx/proxy-hosts?expand=certificate", "", &out); st != 200 {
			t.Fatalf("list: %d", st)
		}
		return string(out)
	}
	r.do("POST", "/api/nginx/proxy-hosts", minimal, nil)
	first := list()
	if again := list(); again != first {
		t.Fatalf("same hosts, different bytes:\n%s\n%s", first, again)
	}
	if st := r.do("PUT", "/api/nginx/proxy-hosts/1", `{"forward_port":8080}`, nil); st != 200 {
		t.Fatalf("update: %d", st)
	}
	if l := list(); !strings.Contains(l, `"forward_port":8080`) {
		t.Fatalf("update not listed: %s", l)
	}
	if st := r.do("POST", "/api/nginx/proxy-hosts/1/disable", "", nil); st != 200 {
		t.Fatalf("disable: %d", st)
	}
	if l := list(); !strings.Contains(l, `"enabled":false`) {
		t.Fatalf("disable not listed: %s", l)
	}
	cert := r.s.AddCertificate("a", "a.example.com")
	if st := r.do("PUT", "/api/nginx/proxy-hosts/1", `{"certificate_id":`+itoa(cert)+`}`, nil); st != 200 {
		t.Fatalf("set certificate: %d", st)
	}
	if l := list(); !strings.Contains(l, `"nice_name":"a"`) {
		t.Fatalf("expanded certificate missing: %s", l)
	}
}

// TestRedirectionAndDeadHostLists: the lists NPM serves for the hosts
// appmanage never writes, in the spec's shape (the contract middleware
// checks every answer), without deleted ones.
func TestRedirectionAndDeadHostLists(t *testing.T) {
	r := newRaw(t, Options{})
	r.s.AddRedirectionHost("r1.example.com", "r2.example.com")
	gone := r.s.AddRedirectionHost("gone.example.com")
	r.s.DeleteRedirectionHost(gone)
	r.s.AddDeadHost("d.example.com")
	type host struct {
		ID              int      `json:"id"`
		DomainNames     []string `json:"domain_names"`
		ForwardHTTPCode *int     `json:"forward_http_code"`
	}
	var redirections, dead []host
	if st := r.do("GET", "/api/nginx/redirection-hosts", "", &redirections); st != 200 {
		t.Fatalf("redirection hosts: %d", st)
	}
	if st := r.do("GET", "/api/nginx/dead-hosts", "", &dead); st != 200 {
		t.Fatalf("dead hosts: %d", st)
	}
	if len(redirections) != 1 || redirections[0].ID != 1 || len(redirections[0].DomainNames) != 2 || redirections[0].ForwardHTTPCode == nil {
		t.Errorf("redirection hosts = %+v, want host 1 with two domains (the deleted one left out)", redirections)
	}
	if len(dead) != 1 || dead[0].DomainNames[0] != "d.example.com" || dead[0].ForwardHTTPCode != nil {
		t.Errorf("dead hosts = %+v", dead)
	}
	r.token = ""
	if st := r.do("GET", "/api/nginx/dead-hosts", "", nil); st == 200 {
		t.Error("dead hosts listed without a token")
	}
}

// A custom location whose forward host names no running container fails
// nginx -t as the real nginx does: the host is stored, meta.nginx_online goes
// false with nginx's "host not found in upstream", and a write once the name
// resolves brings it online. The host's own forward host is resolved per
// request (NPM sets it through variables), so it never fails the test.
func TestUnresolvableForwardHostRejectedLikeNginx(t *testing.T) {
	var mu sync.Mutex
	running := map[string]bool{"web": true}
	r := newRaw(t, Options{Resolve: func(h string) bool { mu.Lock(); defer mu.Unlock(); return running[h] }})
	type host struct {
		ID        int
		Locations []any
		Meta      struct {
			NginxOnline *bool   `json:"nginx_online"`
			NginxErr    *string `json:"nginx_err"`
		}
	}
	var created host
	if st := r.do("POST", "/api/nginx/proxy-hosts", `{"domain_names":["a.example.com"],"forward_scheme":"http","forward_host":"web","forward_port":80,
		"locations":[{"path":"/api","forward_scheme":"http","forward_host":"myapi","forward_port":81},{"path":"/ip","forward_scheme":"http","forward_host":"10.0.0.2","forward_port":81}]}`, &created); st != 201 {
		t.Fatalf("create: %d", st)
	}
	if created.Meta.NginxOnline != nil {
		t.Errorf("create answer carries nginx_online: %+v", created.Meta)
	}
	var got host
	r.do("GET", "/api/nginx/proxy-hosts/1", "", &got)
	if got.Meta.NginxOnline == nil || *got.Meta.NginxOnline || got.Meta.NginxErr == nil ||
		!strings.Contains(*got.Meta.NginxErr, `[emerg] host not found in upstream "myapi"`) {
		t.Fatalf("unresolvable location: %+v", got.Meta)
	}
	if _, ok := r.s.Serving("a.example.com"); ok {
		t.Error("a rejected host is served")
	}
	// The host's own forward host: resolved per request, loaded at once.
	var plain host
	r.do("POST", "/api/nginx/proxy-hosts", `{"domain_names":["b.example.com"],"forward_scheme":"http","forward_host":"stopped","forward_port":80}`, &plain)
	r.do("GET", "/api/nginx/proxy-hosts/2", "", &got)
	if got.Meta.NginxOnline == nil || !*got.Meta.NginxOnline || plain.Locations != nil {
		t.Fatalf("host forwarding to a stopped container: %+v (locations %v); nginx resolves that name per request", got.Meta, plain.Locations)
	}
	// Once the container runs, a write tests the config again.
	mu.Lock()
	running["myapi"] = true
	mu.Unlock()
	r.do("PUT", "/api/nginx/proxy-hosts/1", `{"forward_port":81}`, &got)
	if got.Meta.NginxOnline == nil || !*got.Meta.NginxOnline {
		t.Fatalf("after the name resolves: %+v", got.Meta)
	}
	if _, ok := r.s.Serving("a.example.com"); !ok {
		t.Error("online host not served")
	}
}

// nginx keeps serving the previous config for ReloadDelay after NPM
// answered; Serving shows it, so a check has to poll.
func TestServingLagsByReloadDelay(t *testing.T) {
	const delay = 150 * time.Millisecond
	r := newRaw(t, Options{ReloadDelay: delay})
	var h struct{ ID int }
	r.do("POST", "/api/nginx/proxy-hosts", `{"domain_names":["a.example.com"],"forward_scheme":"http","forward_host":"web","forward_port":80}`, &h)
	start := time.Now()
	if _, ok := r.s.Serving("a.example.com"); ok && time.Since(start) < delay {
		t.Fatal("new host served before nginx reloaded")
	}
	waitServing := func(want bool) time.Duration {
		t.Helper()
		t0 := time.Now()
		for time.Since(t0) < 5*time.Second {
			if _, ok := r.s.Serving("a.example.com"); ok == want {
				return time.Since(t0)
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("serving never became %v", want)
		return 0
	}
	waitServing(true)
	var ok bool
	if st := r.do("DELETE", "/api/nginx/proxy-hosts/1", "", &ok); st != 200 {
		t.Fatalf("delete: %d", st)
	}
	deleted := time.Now()
	if _, served := r.s.Serving("a.example.com"); !served && time.Since(deleted) < delay {
		t.Error("deleted host stopped serving before nginx reloaded")
	}
	waitServing(false)
}
