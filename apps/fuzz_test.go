package apps

import (
	"bytes"
	"context"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	composedotenv "github.com/compose-spec/compose-go/v2/dotenv"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/library"
	"github.com/appmanage/appmanage/library/dotenv"
	"github.com/appmanage/appmanage/store"
)

// Fuzz targets of the apps package's input checks. `make fuzz` runs each;
// the seeds below and testdata/fuzz/<Target>/ run in `go test` as ordinary
// tests.

// wantInvalid fails unless err is a VALIDATION_FAILED naming field.
func wantInvalid(t *testing.T, err error, field string) {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Code != apperr.ValidationFailed || e.Field != field {
		t.Fatalf("want VALIDATION_FAILED on %s, got %#v", field, err)
	}
	// clip keeps at most 80 bytes of input, each shown as at most 4
	// characters by %q.
	if len(e.Message) > 600 || !utf8.ValidString(e.Message) {
		t.Fatalf("error message of %d bytes echoes too much input", len(e.Message))
	}
}

// nginxSafe: nothing in a normalised domain can end a server_name
// directive, start a variable or a comment, or change the line.
func nginxSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func FuzzNormalizeDomain(f *testing.F) {
	for _, s := range []string{
		"example.com", "Blog.Example.COM.", "bücher.de", "xn--bcher-kva.de", "a.b", "localhost",
		"*.example.com", "example.com:8080", "http://example.com", "exa mple.com", "example.com;",
		"1.2.3.4", "::1", "[::1]", "a..b", "-a.com", "a-.com", strings.Repeat("a", 64) + ".com",
		strings.Repeat("a.", 127) + "a", "ex\u200bample.com", "ex\u00adample.com", "ＥＸＡＭＰＬＥ.com",
		"xn--.com", "xn--a.com", "a.xn--zz", "\u0627\u0644\u0639\u0631\u0628\u064a\u0629.com", "a.123",
		"é.com", "ß.de", "a$b.com", "a\x00.com", "a.com\n", "\xff.com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		d, err := NormalizeDomain("domains[0]", raw)
		if err != nil {
			wantInvalid(t, err, "domains[0]")
			return
		}
		if !nginxSafe(d) {
			t.Fatalf("NormalizeDomain(%q) = %q: not a plain ASCII host name", raw, d)
		}
		if len(d) > 253 || strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") || strings.Contains(d, "..") {
			t.Fatalf("NormalizeDomain(%q) = %q: bad shape", raw, d)
		}
		labels := strings.Split(d, ".")
		if len(labels) < 2 {
			t.Fatalf("NormalizeDomain(%q) = %q: one label", raw, d)
		}
		for _, l := range labels {
			if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
				t.Fatalf("NormalizeDomain(%q) = %q: label %q", raw, d, l)
			}
		}
		if _, err := strconv.Atoi(labels[len(labels)-1]); err == nil || net.ParseIP(d) != nil {
			t.Fatalf("NormalizeDomain(%q) = %q: an IP address", raw, d)
		}
		// Normalising is idempotent, and the punycode form's Unicode
		// spelling normalises to the same name.
		again, err := NormalizeDomain("d", d)
		if err != nil || again != d {
			t.Fatalf("NormalizeDomain(%q) = %q, but that normalises to %q, %v", raw, d, again, err)
		}
		if u, err := idnaProfile.ToUnicode(d); err == nil {
			if back, err := NormalizeDomain("d", u); err != nil || back != d {
				t.Fatalf("%q -> %q -> unicode %q -> %q, %v", raw, d, u, back, err)
			}
		}
		// It is a URL host as it stands.
		if pu, err := url.Parse("https://" + d + "/"); err != nil || pu.Hostname() != d {
			t.Fatalf("https://%s/ does not parse to that host: %v", d, err)
		}
	})
}

// validAppIDByHand is the app id rule without the regular expression.
func validAppIDByHand(id string) bool {
	if len(id) < 2 || len(id) > 20 || id[0] < 'a' || id[0] > 'z' {
		return false
	}
	for i := 1; i < len(id); i++ {
		if c := id[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func FuzzValidateAppID(f *testing.F) {
	for _, s := range []string{"myblog", "a", "ab", "a1", "1a", "Ab", "my-blog", "my_blog", "abcdefghijklmnopqrst",
		"abcdefghijklmnopqrstu", "myblog\n", "myblog ", "ａｂ", "", "a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := ValidateAppID("appId", id)
		if want := validAppIDByHand(id); want != (err == nil) {
			t.Fatalf("ValidateAppID(%q) = %v, want valid=%v", id, err, want)
		}
		if err != nil {
			wantInvalid(t, err, "appId")
			return
		}
		// A valid id is usable verbatim as a container, stack, repository,
		// database user and DNS label.
		if !labelPattern.MatchString(id) || url.PathEscape(id) != id || PlaceholderSafe(id) != id {
			t.Fatalf("valid id %q is not a plain label", id)
		}
	})
}

// PlaceholderSafe returns id with everything but [a-z0-9] removed.
func PlaceholderSafe(id string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, id)
}

const fuzzTemplateEnv = "# template\nW9_ID=placeholder\nW9_VERSION='1.0'\nW9_HTTP_PORT_SET=9001\nDB=${W9_ID}-db # comment\nLAST=x"

// FuzzEnvSetting: a setting (install settings, updateAppEnv) that passes the
// checks can be written into an app's .env and Compose reads back exactly
// that value, under that key, with no other key added or changed.
func FuzzEnvSetting(f *testing.F) {
	for _, s := range [][2]string{
		{"W9_HTTP_PORT_SET", "9002"}, {"TZ", "Europe/Berlin"}, {"PW", `a'b"c$d\`}, {"X", "v\nINJECTED=1"},
		{"X", "v\rINJECTED=1"}, {"X", "a #b"}, {"X", "${W9_ID}"}, {"X", "$$"}, {"X", " lead"}, {"X", "trail "},
		{"X", "\u2028INJ=1"}, {"X", "\x85INJ=1"}, {"X", "'"}, {"X", `\`}, {"X", "\x00"}, {"1X", "v"}, {"W9_ID", "other"},
		{"X", "\xff"}, {"X", "export Y=1"},
	} {
		f.Add(s[0], s[1])
	}
	base, err := dotenv.Parse([]byte(fuzzTemplateEnv))
	if err != nil {
		f.Fatal(err)
	}
	read := func(t testing.TB, b []byte) map[string]string {
		m, err := composedotenv.ParseWithLookup(bytes.NewReader(b), func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatalf("compose cannot read the .env we wrote: %v\n%q", err, b)
		}
		return m
	}
	before := read(f, []byte(fuzzTemplateEnv))
	f.Fuzz(func(t *testing.T, name, value string) {
		if !envName.MatchString(name) || protectedEnv[name] {
			return // refused by name before any value check
		}
		if err := ValidateEnvValue("changes[0]", value); err != nil {
			wantInvalid(t, err, "changes[0]")
			return
		}
		env := base.Clone()
		if err := env.Set(name, value); err != nil {
			t.Fatalf("a value ValidateEnvValue accepts cannot be written: %v", err)
		}
		out := env.Bytes()
		after := read(t, out)
		if after[name] != value {
			t.Fatalf("compose reads %s=%q, want %q\n%q", name, after[name], value, out)
		}
		for k := range after {
			if _, ok := before[k]; !ok && k != name {
				t.Fatalf("value %q injected key %s\n%q", value, k, out)
			}
		}
		for k, v := range before {
			if k == name {
				continue
			}
			if strings.Contains(fuzzTemplateEnv, "${"+name+"}") && k == "DB" {
				continue // DB refers to the key set
			}
			if after[k] != v {
				t.Fatalf("%s changed from %q to %q\n%q", k, v, after[k], out)
			}
		}
	})
}

// FuzzRuntimeSettings: what updateSettings accepts for publicHost makes a
// W9_URL whose host is exactly that value; defaultEndpointId is a number.
func FuzzRuntimeSettings(f *testing.F) {
	for _, s := range [][2]string{
		{"publicHost", "apps.example.com"}, {"publicHost", "localhost"}, {"publicHost", "10.0.0.1"}, {"publicHost", "::1"},
		{"publicHost", "fe80::1%eth0"}, {"publicHost", "a/b"}, {"publicHost", "host:80"}, {"publicHost", " x "},
		{"publicHost", "Bücher.de"}, {"publicHost", "::ffff:1.2.3.4"}, {"defaultEndpointId", "0"}, {"defaultEndpointId", "-1"},
		{"defaultEndpointId", "+1"}, {"defaultEndpointId", "99999999999999999999"}, {"other", "x"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		svc := &Service{settings: memSettings{}}
		_, err := svc.UpdateSettings(context.Background(), []EnvSetting{{Name: key, Value: value}})
		if err != nil {
			wantInvalid(t, err, "input[0]")
			return
		}
		v := strings.TrimSpace(value)
		if !utf8.ValidString(v) || strings.ContainsAny(v, "\r\n\x00") {
			t.Fatalf("accepted %q", value)
		}
		switch key {
		case "publicHost":
			if v == "" {
				return
			}
			u, err := url.Parse("http://" + net.JoinHostPort(v, "8080") + "/")
			if err != nil || u.Hostname() != v || u.Port() != "8080" {
				t.Fatalf("publicHost %q makes W9_URL %q (host %q): %v", value, "http://"+net.JoinHostPort(v, "8080"), u.Hostname(), err)
			}
		case "defaultEndpointId":
			if n, err := strconv.Atoi(v); err != nil || n < 0 {
				t.Fatalf("defaultEndpointId %q accepted", value)
			}
		default:
			t.Fatalf("unknown setting %q accepted", key)
		}
	})
}

// FuzzComposeLoad: the compose checks of updateAppFiles and the port
// planner either load a compose file and .env or refuse them with
// VALIDATION_FAILED; they never panic, and every port they plan is a port.
func FuzzComposeLoad(f *testing.F) {
	f.Add([]byte("services:\n  web:\n    image: nginx:${V}\n    ports:\n      - \"${P}:80\"\n"), []byte("V=1\nP=8080\n"))
	f.Add([]byte("services:\n  web:\n    image: nginx\n    ports:\n      - \"9000-9002:80-82/udp\"\n      - target: 80\n        published: \"81\"\n        host_ip: 127.0.0.1\n"), []byte(""))
	f.Add([]byte("services:\n  web:\n    image: nginx\n    ports: [\"0:80\"]\n"), []byte(""))
	f.Add([]byte("services:\n  web:\n    image: nginx\n    env_file: [.env2]\n"), []byte("A='x"))
	f.Add([]byte("x-a: &a\n  image: nginx\nservices:\n  web: *a\n  db:\n    <<: *a\n"), []byte("A=1"))
	f.Add([]byte("services: {}\n"), []byte(""))
	f.Add([]byte("services:\n  web:\n    image: ${X:?required}\n"), []byte(""))
	f.Add([]byte(":\n\t-"), []byte("\x00"))
	f.Fuzz(func(t *testing.T, compose, env []byte) {
		if len(compose) > 64<<10 || len(env) > 16<<10 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := loadCompose(ctx, "fuzzapp", compose, env); err != nil {
			return
		}
		p, err := composeProject(ctx, fuzzLibApp(t), "fuzzapp", map[string][]byte{".env": env, "docker-compose.yml": compose})
		if err != nil {
			t.Fatalf("loadCompose accepts what composeProject refuses: %v", err)
		}
		ports, err := publishedPorts(p)
		if err != nil {
			wantInvalid(t, err, "settings")
			return
		}
		for _, pp := range ports {
			if pp.HostPort < 1 || pp.HostPort > 65535 || pp.Protocol == "" {
				t.Fatalf("planned port %+v", pp)
			}
		}
	})
}

// memSettings is a settings store that keeps nothing: FuzzRuntimeSettings
// checks what UpdateSettings lets through, not the store.
type memSettings struct{}

func (memSettings) GetSetting(context.Context, string) (store.Setting, error) {
	return store.Setting{}, store.ErrSettingNotFound
}
func (memSettings) SetSetting(context.Context, string, string, bool) error { return nil }
func (memSettings) ListSettings(context.Context) ([]store.Setting, error)  { return nil, nil }

func fuzzLibApp(testing.TB) *library.App { return &library.App{Name: "fuzzapp"} }
