package apps

import (
	"context"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/appmanage/appmanage/apperr"
)

// hostileSourceURLs are gitUrl values installFromSource must refuse, with
// the test resolver (a name it does not know does not resolve).
var hostileSourceURLs = []string{
	"file:///etc/passwd",
	"ssh://git:hunter2@git.example.com/acme/hello.git",
	"git@git.example.com:acme/hello.git",
	"https://user:pass@git.example.com/acme/hello.git",
	"https://token@git.example.com/acme/hello.git",
	"http://127.0.0.1/acme/hello.git",
	"http://127.1/acme/hello.git",
	"http://localhost/acme/hello.git",
	"http://gitea.localhost/acme/hello.git",
	"http://[::1]/acme/hello.git",
	"http://[::ffff:127.0.0.1]/acme/hello.git",
	"http://[::ffff:7f00:1]/acme/hello.git",
	"http://169.254.169.254/latest/meta-data",
	"http://[fe80::1]/x/y.git",
	"http://10.0.0.5/acme/hello.git",
	"http://172.16.3.4/acme/hello.git",
	"http://172.31.255.255/acme/hello.git",
	"http://192.168.1.10/acme/hello.git",
	"http://100.64.0.1/acme/hello.git",
	"http://[fd00::1]/acme/hello.git",
	"http://0.0.0.0/acme/hello.git",
	"http://[::]/acme/hello.git",
	"http://2130706433/acme/hello.git",
	"http://0177.0.0.1/acme/hello.git",
	"http://0x7f.0.0.1/acme/hello.git",
	"http://0x7f000001/acme/hello.git",
	"http://[64:ff9b::a00:1]/acme/hello.git",
	"http://[2002:c0a8:101::1]/acme/hello.git",
	"https://git.example.com/acme/hello.git\nHost: evil",
	"https://git.example.com/acme/hello.git\r\n",
	"https://git.example.com/acme/hel lo.git",
	"https://git.example.com/acme/\x00hello.git",
	"https://git.example.com/" + strings.Repeat("a", MaxSourceURLLength),
	"",
	"https:///acme/hello.git",
	"https://git.example.com",
	"https://git.example.com/",
	"javascript:alert(1)",
	"data:text/plain,hello",
	"ftp://git.example.com/acme/hello.git",
	"HTTPS://git.example.com/acme/hello.git",
	"https://git.example.com/acme/hello.git?ref=main",
	"https://git.example.com/acme/hello.git#main",
	"https://git.example.com/acme/../../hello.git",
	"https://git.example.com:99999/acme/hello.git",
	"https://git.example.com%2f@evil/acme/hello.git",
	"https://[fe80::1%25eth0]/x/y.git",
	"https://internal.example.com/acme/hello.git",
	"https://rebind.example.com/acme/hello.git",
	"https://nowhere.example.com/acme/hello.git",
	"https:\\\\git.example.com\\acme\\hello.git",
	"https://git.example.com\u200b/acme/hello.git",
}

func TestCheckSourceURLRefusesHostileValues(t *testing.T) {
	for _, raw := range hostileSourceURLs {
		_, err := CheckSourceURL(context.Background(), "gitUrl", raw, testResolver, false)
		ae, ok := apperr.As(err)
		if !ok || ae.Code != apperr.ValidationFailed || ae.Field != "gitUrl" {
			t.Errorf("%q: got %v, want VALIDATION_FAILED on gitUrl", raw, err)
		}
	}
}

func TestCheckSourceURLAccepts(t *testing.T) {
	for raw, clean := range map[string]string{
		"https://git.example.com/acme/hello.git":     "https://git.example.com/acme/hello.git",
		"http://GIT.example.com:8080/acme/hello":     "http://git.example.com:8080/acme/hello",
		"git://git.example.com/acme/hello.git":       "git://git.example.com/acme/hello.git",
		"https://93.184.216.34/acme/hello.git":       "https://93.184.216.34/acme/hello.git",
		"https://[2606:2800:220:1::]/acme/hello.git": "https://[2606:2800:220:1::]/acme/hello.git",
	} {
		su, err := CheckSourceURL(context.Background(), "gitUrl", raw, testResolver, false)
		if err != nil || su.Clean != clean {
			t.Errorf("%q: %+v %v, want %q", raw, su, err, clean)
		}
	}
	// Private addresses pass when the setting allows them; the syntax
	// checks still hold.
	for _, raw := range []string{"http://127.0.0.1:3000/acme/hello.git", "http://localhost/acme/hello.git", "https://internal.example.com/acme/hello.git"} {
		if _, err := CheckSourceURL(context.Background(), "gitUrl", raw, testResolver, true); err != nil {
			t.Errorf("%q with private URLs allowed: %v", raw, err)
		}
	}
	for _, raw := range []string{"http://2130706433/x/y", "https://u:p@10.0.0.1/x/y", "file:///x"} {
		if _, err := CheckSourceURL(context.Background(), "gitUrl", raw, testResolver, true); err == nil {
			t.Errorf("%q accepted with private URLs allowed", raw)
		}
	}
}

// FuzzSourceURL: the check never panics, and what it accepts is a plain
// http(s)/git URL with a host, a path, no credentials, no control
// characters, whose check gives the same answer again (stable).
func FuzzSourceURL(f *testing.F) {
	for _, raw := range hostileSourceURLs {
		f.Add(raw)
	}
	for _, raw := range []string{"https://git.example.com/acme/hello.git", "git://h.example.org:9418/a/b", "http://[2606:2800:220:1::]/a/b", "https://bücher.example/a/b", "http://8.8.8.8/a"} {
		f.Add(raw)
	}
	public := mapResolver{"git.example.com": {netip.MustParseAddr("93.184.216.34")}}
	f.Fuzz(func(t *testing.T, raw string) {
		su, err := ParseSourceURL("gitUrl", raw)
		if err != nil {
			if ae, ok := apperr.As(err); !ok || ae.Code != apperr.ValidationFailed || ae.Field != "gitUrl" {
				t.Fatalf("%q: %v is not VALIDATION_FAILED on gitUrl", raw, err)
			}
			return
		}
		u, perr := url.Parse(su.Clean)
		if perr != nil || u.User != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") == "" {
			t.Fatalf("%q accepted as %q: %+v %v", raw, su.Clean, u, perr)
		}
		if u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "git" {
			t.Fatalf("%q accepted with scheme %q", raw, u.Scheme)
		}
		if len(raw) > MaxSourceURLLength || strings.ContainsFunc(su.Clean, func(r rune) bool { return r <= 0x20 || r == 0x7f }) {
			t.Fatalf("%q accepted as %q", raw, su.Clean)
		}
		again, err := ParseSourceURL("gitUrl", su.Clean)
		if err != nil || again.Clean != su.Clean {
			t.Fatalf("%q -> %q is not stable: %+v %v", raw, su.Clean, again, err)
		}
		if a, err := netip.ParseAddr(su.Host); err == nil && forbiddenAddr(a) != "" {
			if _, err := CheckSourceURL(context.Background(), "gitUrl", raw, public, false); err == nil {
				t.Fatalf("%q: a forbidden address passed the check", raw)
			}
		}
	})
}
