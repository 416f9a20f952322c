package proxymanager_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/appmanage/appmanage/datasources/proxymanager"
	"github.com/appmanage/appmanage/datasources/proxymanager/fake"
	"github.com/appmanage/appmanage/datasources/proxymanager/npmschema"
	"github.com/appmanage/appmanage/datasources/suite"
)

// FuzzAdvancedConfig sends any extra nginx configuration (an app's
// src/nginx_proxy.conf, which users may edit) as a proxy host's
// advanced_config, on create and on update, to the NPM fake through the
// contract-checked client: what is stored reads back byte for byte, and
// nginx -t's verdict (meta.nginx_online) is the same for the stored text
// as for the text sent (no encoding step changes what nginx sees).
func FuzzAdvancedConfig(f *testing.F) {
	for _, s := range []string{
		"", "client_max_body_size 0;\n", "location /x {\n  proxy_pass http://a;\n}\n", "}", "{", "server { }", "# server {\n",
		"add_header X-A \"}\";", "\r\n\t", "\u2028", "\x00", "\xff\xfe", `\u0000`, "'$host'", strings.Repeat("{", 50) + strings.Repeat("}", 50),
	} {
		f.Add(s)
	}
	suite.FakeOnly(f)
	spec := npmschema.ForTest(f)
	var mu sync.Mutex
	var violations []error
	cfg, _ := suite.NPM(f, suite.WithNPMServerWrap(spec.Middleware(func(err error) {
		mu.Lock()
		violations = append(violations, err)
		mu.Unlock()
	})))
	c, err := proxymanager.New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	n := 0
	f.Fuzz(func(t *testing.T, conf string) {
		if len(conf) > 64<<10 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		n++
		domain := fmt.Sprintf("fz%d.%s", n, "appmanage-test.invalid")
		h, err := c.CreateProxyHost(ctx, proxymanager.ProxyHostRequest{DomainNames: []string{domain},
			ForwardScheme: "http", ForwardHost: "127.0.0.1", ForwardPort: 80, AdvancedConfig: conf})
		if !utf8.ValidString(conf) {
			if !errors.Is(err, proxymanager.ErrConfNotText) {
				t.Fatalf("non-UTF-8 advanced_config %q sent: %v", conf, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("create with advanced_config %q: %v", conf, err)
		}
		defer func() { _ = c.DeleteProxyHost(context.Background(), h.ID) }()
		want := conf
		got, err := c.CheckOnline(ctx, h.ID)
		var ne *proxymanager.NginxError
		if errors.As(err, &ne) {
			if fake.CheckSnippet(want) == "" || got == nil {
				t.Fatalf("nginx rejected %q: %v", conf, err)
			}
		} else if err != nil {
			t.Fatal(err)
		}
		if got.AdvancedConfig != want {
			t.Fatalf("advanced_config %q reads back as %q", conf, got.AdvancedConfig)
		}
		online := got.Meta.NginxOnline != nil && *got.Meta.NginxOnline
		if online != (fake.CheckSnippet(want) == "") {
			t.Fatalf("nginx_online=%v for %q", online, want)
		}
		// An update to the same text, then back to none.
		if _, err := c.UpdateProxyHost(ctx, h.ID, proxymanager.ProxyHostUpdate{AdvancedConfig: &conf}); err != nil && !errors.As(err, &ne) {
			t.Fatalf("update: %v", err)
		}
		if got, err := c.GetProxyHost(ctx, h.ID); err != nil || got.AdvancedConfig != want {
			t.Fatalf("after update: %q, %v", got.AdvancedConfig, err)
		}
		empty := ""
		if _, err := c.UpdateProxyHost(ctx, h.ID, proxymanager.ProxyHostUpdate{AdvancedConfig: &empty}); err != nil {
			t.Fatalf("update to none: %v", err)
		}
		if got, err := c.CheckOnline(ctx, h.ID); err != nil || got.AdvancedConfig != "" || got.Meta.NginxOnline == nil || !*got.Meta.NginxOnline {
			t.Fatalf("after clearing: %+v, %v", got, err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(violations) > 0 {
			t.Fatalf("NPM contract violations with advanced_config %q: %v", conf, violations)
		}
	})
}
