package suite

import (
	"regexp"
	"strings"
	"testing"
)

func TestPrefix(t *testing.T) {
	valid := regexp.MustCompile(`^amt-[a-z0-9]+(-[a-z0-9]+)*$`)
	seen := map[string]bool{}
	for range 50 {
		p := Prefix(t)
		if !valid.MatchString(p) || len(p) > 36 || !strings.HasPrefix(p, "amt-testprefix-") {
			t.Fatalf("bad prefix %q", p)
		}
		if seen[p] {
			t.Fatalf("prefix %q repeated", p)
		}
		seen[p] = true
	}
	t.Run("Weird/Name With Spaces_and.Dots and a very long tail indeed", func(t *testing.T) {
		if p := Prefix(t); !valid.MatchString(p) || len(p) > 36 {
			t.Fatalf("bad prefix %q", p)
		}
	})
}

func TestRealSwitch(t *testing.T) {
	t.Setenv(EnvReal, "")
	if Real() != (realTag || *realFlag) {
		t.Fatalf("Real() = %v without the env variable", Real())
	}
	t.Setenv(EnvReal, "1")
	if !Real() {
		t.Fatal("Real() = false with APPMANAGE_TEST_REAL=1")
	}
}

func TestGiteaFakeByDefault(t *testing.T) {
	if Real() {
		t.Skip("fake-target check")
	}
	cfg, tgt := Gitea(t, WithGiteaOrg("apps"))
	if tgt.Fake == nil || cfg.BaseURL != tgt.Fake.URL() || cfg.Token == "" || cfg.Owner != "apps" || tgt.Owner != "apps" {
		t.Fatalf("fake target: %+v %+v", cfg, tgt)
	}
}

func TestGiteaRealNeedsEnv(t *testing.T) {
	t.Setenv(EnvReal, "1")
	t.Setenv(EnvGiteaURL, "")
	var skipped bool
	t.Run("inner", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		Gitea(t)
	})
	if !skipped {
		t.Fatal("Gitea(t) on a real run without env variables should skip")
	}
}
