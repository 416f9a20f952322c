package apps

import (
	"testing"

	"github.com/appmanage/appmanage/apperr"
)

func TestValidateAppID(t *testing.T) {
	for _, ok := range []string{"myblog", "wp1", "ab", "a1234567890123456789"} {
		if err := ValidateAppID("appId", ok); err != nil {
			t.Errorf("%q rejected: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a", "1abc", "My", "my-blog", "my_blog", "a12345678901234567890", "wp;rm", "wp\n", "ab "} {
		err := ValidateAppID("appId", bad)
		if apperr.CodeOf(err) != apperr.ValidationFailed {
			t.Errorf("%q: err = %v, want VALIDATION_FAILED", bad, err)
		}
	}
}

func TestNormalizeDomainAccepts(t *testing.T) {
	tests := map[string]string{
		"example.com":          "example.com",
		"Blog.Example.COM":     "blog.example.com",
		"a-b.c-d.example.org.": "a-b.c-d.example.org",
		"bücher.example":       "xn--bcher-kva.example",
		"xn--bcher-kva.de":     "xn--bcher-kva.de",
		"münchen.de":           "xn--mnchen-3ya.de",
		"1password.example.io": "1password.example.io",
	}
	for in, want := range tests {
		got, err := NormalizeDomain("domains", in)
		if err != nil || got != want {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// Hostile and malformed domains: every one must be refused before any
// upstream sees it.
var hostileDomains = []string{
	"",
	"localhost",
	"example",
	"*.example.com",
	"http://example.com",
	"https://example.com/",
	"example.com:8080",
	"example.com/path",
	"user@example.com",
	"example.com;",
	"example.com; return 302 http://evil",
	"example.com}",
	"example.com { }",
	"example.com\nserver_name evil.com",
	"example.com\rx",
	"exa mple.com",
	"example.com\t",
	"example.com\x00",
	"$host.example.com",
	"ex'ample.com",
	"ex\"ample.com",
	"ex`ample.com",
	"-example.com",
	"example-.com",
	"exa_mple.com",
	"example..com",
	".example.com",
	"192.168.1.1",
	"[::1]",
	"example.com?x=1",
	"example.com#frag",
	"a.b|c.com",
	"a&b.com",
	"a<b>.com",
	"(a).com",
	"a,b.com",
	"a=b.com",
	"a+b.com",
	"a~b.com",
	"a!b.com",
	"a%b.com",
	"a^b.com",
	"a\\b.com",
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com",
	"ex\u200bample.com",
	"ex\u202eample.com",
}

func TestNormalizeDomainRejectsHostile(t *testing.T) {
	if len(hostileDomains) < 30 {
		t.Fatalf("only %d hostile domains", len(hostileDomains))
	}
	for _, d := range hostileDomains {
		got, err := NormalizeDomain("domains", d)
		if apperr.CodeOf(err) != apperr.ValidationFailed {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want VALIDATION_FAILED", d, got, err)
		}
	}
}

func TestNormalizeDomainsDedupes(t *testing.T) {
	got, err := NormalizeDomains("domains", []string{"A.example.com", "a.example.com", "b.example.com"})
	if err != nil || len(got) != 2 || got[0] != "a.example.com" || got[1] != "b.example.com" {
		t.Fatalf("got %v, %v", got, err)
	}
	_, err = NormalizeDomains("domains", []string{"ok.example.com", "bad domain"})
	if e, ok := apperr.As(err); !ok || e.Field != "domains[1]" {
		t.Fatalf("err = %v, want field domains[1]", err)
	}
}

func TestValidateEnvValue(t *testing.T) {
	for _, bad := range []string{"a\nb", "a\rb", "a\x00b"} {
		if apperr.CodeOf(ValidateEnvValue("settings", bad)) != apperr.ValidationFailed {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := ValidateEnvValue("settings", "p@ss w'rd $x"); err != nil {
		t.Errorf("plain value rejected: %v", err)
	}
}
