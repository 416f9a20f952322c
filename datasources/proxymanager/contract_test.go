package proxymanager_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appmanage/appmanage/datasources/proxymanager"
	"github.com/appmanage/appmanage/datasources/proxymanager/fake"
	"github.com/appmanage/appmanage/datasources/proxymanager/npmschema"
)

// TestContractEveryRoute drives every client method once through the
// validating middleware: each request body we send and each answer the fake
// gives must match NPM's own schema tree, and every route we use must have
// been checked.
func TestContractEveryRoute(t *testing.T) {
	e := newEnv(t)
	c := e.c
	if e.fake != nil {
		e.fake.AddCertificate("c", e.dom("app"))
	}
	if _, err := c.Version(ctx(t)); err != nil {
		t.Fatal(err)
	}
	h, err := c.CreateProxyHost(ctx(t), proxymanager.ProxyHostRequest{
		DomainNames: []string{e.dom("app"), e.dom("www")}, ForwardScheme: "https", ForwardHost: resolvable, ForwardPort: 443,
		BlockExploits: true, CachingEnabled: true, AllowWebsocketUpgrade: true, AdvancedConfig: "client_max_body_size 0;",
		Meta:      map[string]any{"appmanage": "x"},
		Locations: []proxymanager.Location{{Path: "/api", ForwardScheme: "http", ForwardHost: resolvable, ForwardPort: 9000, ForwardPath: "/v1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.tgt.Cleanup(t, c, h.ID)
	steps := []func() error{
		func() error { _, err := c.CheckOnline(ctx(t), h.ID); return err },
		func() error { _, err := c.ListProxyHosts(ctx(t)); return err },
		func() error {
			_, err := c.UpdateProxyHost(ctx(t), h.ID, proxymanager.ProxyHostUpdate{
				DomainNames: []string{e.dom("app")}, ForwardPort: ptr(8443), Locations: ptr([]proxymanager.Location{}),
				HSTSEnabled: ptr(false), AccessListID: ptr(0), CertificateID: ptr(0),
			})
			return err
		},
		func() error { return c.DisableProxyHost(ctx(t), h.ID) },
		func() error { return c.DisableProxyHost(ctx(t), h.ID) }, // 400 "already disabled" checked too
		func() error { return c.EnableProxyHost(ctx(t), h.ID) },
		func() error { _, err := c.ListCertificates(ctx(t)); return err },
		func() error { _, err := c.ListRedirectionHosts(ctx(t)); return err },
		func() error { _, err := c.ListDeadHosts(ctx(t)); return err },
		func() error { return c.DeleteProxyHost(ctx(t), h.ID) },
	}
	for i, s := range steps {
		if err := s(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if e.fake != nil {
		// Exercise the refresh route as well.
		e.clk.Advance(23*time.Hour + 30*time.Minute)
		if _, err := c.ListProxyHosts(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	checked := e.spec.Checked()
	want := []string{
		"GET /", "POST /tokens", "GET /nginx/proxy-hosts", "POST /nginx/proxy-hosts",
		"GET /nginx/proxy-hosts/{hostID}", "PUT /nginx/proxy-hosts/{hostID}", "DELETE /nginx/proxy-hosts/{hostID}",
		"POST /nginx/proxy-hosts/{hostID}/enable", "POST /nginx/proxy-hosts/{hostID}/disable", "GET /nginx/certificates",
	}
	if e.fake != nil {
		want = append(want, "GET /tokens")
	}
	for _, r := range want {
		if checked[r] == 0 {
			t.Errorf("route %s never checked (checked: %v)", r, checked)
		}
	}
}

// renameInAnswers rewrites a key in every JSON answer: a fake that drifted.
func renameInAnswers(from, to string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(bytes.ReplaceAll(rec.Body.Bytes(), []byte(`"`+from+`"`), []byte(`"`+to+`"`)))
		})
	}
}

// TestContractCatchesDrift proves the validating middleware fails a fake
// whose answers drift from NPM's schema (a renamed field).
func TestContractCatchesDrift(t *testing.T) {
	spec := npmschema.ForTest(t)
	var (
		mu   sync.Mutex
		errs []string
	)
	report := func(err error) { mu.Lock(); errs = append(errs, err.Error()); mu.Unlock() }
	f := fake.New(fake.Options{Middleware: func(h http.Handler) http.Handler {
		return spec.Middleware(report)(renameInAnswers("forward_host", "forward_hostname")(h))
	}})
	defer f.Close()
	c, err := proxymanager.New(proxymanager.Config{URL: f.URL(), Email: f.Email(), Password: f.Password()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateProxyHost(ctx(t), proxymanager.ProxyHostRequest{
		DomainNames: []string{"a.example.com"}, ForwardScheme: "http", ForwardHost: "app", ForwardPort: 80,
	}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) != 1 || !strings.Contains(errs[0], "POST /nginx/proxy-hosts") || !strings.Contains(errs[0], "forward_host") {
		t.Fatalf("drift not reported: %v", errs)
	}
}

// TestRequestBodies pins the JSON our request types produce and holds it to
// NPM's request schemas.
func TestRequestBodies(t *testing.T) {
	spec := npmschema.ForTest(t)
	okErr := []byte(`{"error":{"code":400,"message":"x"}}`)
	keys := func(b []byte) []string {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	create := proxymanager.ProxyHostRequest{DomainNames: []string{"a.example.com"}, ForwardScheme: "http", ForwardHost: "app", ForwardPort: 80}
	b, _ := json.Marshal(create)
	if slices.Contains(keys(b), "trust_forwarded_proto") || slices.Contains(keys(b), "enabled") ||
		slices.Contains(keys(b), "meta") || slices.Contains(keys(b), "locations") {
		t.Errorf("create sends optional keys it was not given: %s", b)
	}
	if err := spec.Check("POST", "/api/nginx/proxy-hosts", b, 400, okErr); err != nil {
		t.Errorf("minimal create: %v", err)
	}
	create.TrustForwardedProto = ptr(true)
	create.CertificateID = proxymanager.CertificateNew
	create.Meta = map[string]any{"dns_challenge": false}
	b, _ = json.Marshal(create)
	if !bytes.Contains(b, []byte(`"certificate_id":"new"`)) || !bytes.Contains(b, []byte(`"trust_forwarded_proto":true`)) {
		t.Errorf("create body: %s", b)
	}
	if err := spec.Check("POST", "/api/nginx/proxy-hosts", b, 400, okErr); err != nil {
		t.Errorf("full create: %v", err)
	}

	tests := []struct {
		u    proxymanager.ProxyHostUpdate
		want string
	}{
		{proxymanager.ProxyHostUpdate{ForwardPort: ptr(81)}, `{"forward_port":81}`},
		{proxymanager.ProxyHostUpdate{SSLForced: ptr(false)}, `{"ssl_forced":false}`},
		{proxymanager.ProxyHostUpdate{Locations: ptr([]proxymanager.Location(nil))}, `{"locations":[]}`},
		{proxymanager.ProxyHostUpdate{CertificateID: ptr(proxymanager.CertificateNew)}, `{"certificate_id":"new"}`},
		{proxymanager.ProxyHostUpdate{DomainNames: []string{"b.example.com"}, AdvancedConfig: ptr("")}, `{"domain_names":["b.example.com"],"advanced_config":""}`},
	}
	for _, tt := range tests {
		b, _ := json.Marshal(tt.u)
		if string(b) != tt.want {
			t.Errorf("update body %s, want %s", b, tt.want)
		}
		if err := spec.Check("PUT", "/api/nginx/proxy-hosts/1", b, 400, okErr); err != nil {
			t.Errorf("update %s: %v", b, err)
		}
	}
	if !(proxymanager.ProxyHostUpdate{}).Empty() {
		t.Error("zero update not Empty")
	}
}

// TestLenientDecoding reads a host as NPM before v2.12 sent it (0/1 booleans)
// and with ajv-coerced strings.
func TestLenientDecoding(t *testing.T) {
	old := `{"id":"7","created_on":"2023-01-01 10:00:00","modified_on":"2023-01-01 10:00:00","domain_names":["a.example.com"],
		"forward_scheme":"http","forward_host":"app","forward_port":"8080","certificate_id":3,"ssl_forced":1,
		"http2_support":0,"block_exploits":1,"caching_enabled":"0","allow_websocket_upgrade":true,"hsts_enabled":"true",
		"hsts_subdomains":null,"enabled":1,"access_list_id":0,"advanced_config":null,"meta":{"nginx_online":1,"nginx_err":null},
		"locations":[{"id":2,"path":"/x","forward_scheme":"http","forward_host":"b","forward_port":"81"}],
		"certificate":{"id":"3","provider":"letsencrypt","nice_name":"a","domain_names":["a.example.com"],"meta":{"certificate_key":"secret"}}}`
	var h proxymanager.ProxyHost
	if err := json.Unmarshal([]byte(old), &h); err != nil {
		t.Fatal(err)
	}
	if h.ID != 7 || h.ForwardPort != 8080 || !h.SSLForced || h.HTTP2Support || !h.BlockExploits || h.CachingEnabled ||
		!h.AllowWebsocketUpgrade || !h.HSTSEnabled || h.HSTSSubdomains || !h.Enabled || h.AdvancedConfig != "" {
		t.Errorf("decoded %+v", h)
	}
	if h.Meta.NginxOnline == nil || !*h.Meta.NginxOnline || h.Meta.NginxErr != nil {
		t.Errorf("meta %+v", h.Meta)
	}
	if len(h.Locations) != 1 || *h.Locations[0].ID != 2 || h.Locations[0].ForwardPort != 81 {
		t.Errorf("locations %+v", h.Locations)
	}
	if h.Certificate == nil || h.Certificate.ID != 3 {
		t.Errorf("certificate %+v", h.Certificate)
	}
	if b, _ := json.Marshal(h); bytes.Contains(b, []byte("secret")) {
		t.Error("certificate meta (private key) kept")
	}
	if err := json.Unmarshal([]byte(`{"enabled":"maybe"}`), &h); err == nil {
		t.Error("nonsense boolean accepted")
	}
}
