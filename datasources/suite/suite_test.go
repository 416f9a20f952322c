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

// skipOf runs f in a subtest on a real run and returns whether it skipped.
func skipOf(t *testing.T, f func(t *testing.T)) bool {
	t.Helper()
	t.Setenv(EnvReal, "1")
	var skipped bool
	t.Run("inner", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		f(t)
	})
	return skipped
}

// TestRealSkipsName: on a real run each target skips, naming exactly the
// variables it lacks, and runs once they are set.
func TestRealSkipsName(t *testing.T) {
	for _, tc := range []struct {
		name string
		vars []string
	}{
		{"gitea", []string{EnvGiteaURL, EnvGiteaToken}},
		{"portainer", []string{EnvPortainerURL, EnvPortainerAPIKey}},
		{"npm", []string{EnvNPMURL, EnvNPMEmail, EnvNPMPassword}},
		{"jwt", []string{EnvPortainerUser, EnvPortainerPassword}},
		{"image", []string{EnvImage}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range tc.vars {
				t.Setenv(v, "")
			}
			_, msg := lookupEnv("TestX", tc.vars...)
			if want := "real-server run: set " + strings.Join(tc.vars, ", ") + " to run TestX against a real server"; msg != want {
				t.Fatalf("message %q, want %q", msg, want)
			}
			t.Setenv(tc.vars[0], "x")
			if _, msg := lookupEnv("TestX", tc.vars...); len(tc.vars) > 1 && (strings.Contains(msg, tc.vars[0]) || !strings.Contains(msg, tc.vars[1])) {
				t.Fatalf("with %s set: %q", tc.vars[0], msg)
			}
			for _, v := range tc.vars {
				t.Setenv(v, "x")
			}
			if _, msg := lookupEnv("TestX", tc.vars...); msg != "" {
				t.Fatalf("all set: %q", msg)
			}
		})
	}

	// The constructors and helpers skip through Env.
	t.Setenv(EnvPortainerURL, "http://portainer.invalid:9000")
	t.Setenv(EnvPortainerAPIKey, "ptr_x")
	t.Setenv(EnvPortainerUser, "")
	t.Setenv(EnvPortainerPassword, "")
	t.Setenv(EnvImage, "")
	t.Setenv(EnvNPMURL, "")
	if !skipOf(t, func(t *testing.T) { NPM(t) }) {
		t.Error("NPM(t) without its variables did not skip")
	}
	if !skipOf(t, func(t *testing.T) { _, p := Portainer(t); p.JWT(t, p.Config) }) {
		t.Error("JWT without user and password did not skip")
	}
	if !skipOf(t, func(t *testing.T) { _, p := Portainer(t); p.Image(t) }) {
		t.Error("Image without APPMANAGE_TEST_IMAGE did not skip")
	}
	t.Setenv(EnvPortainerUser, "admin")
	t.Setenv(EnvPortainerPassword, "pw")
	t.Setenv(EnvImage, "alpine:3.20")
	var cfgUser, image string
	if skipOf(t, func(t *testing.T) {
		_, p := Portainer(t)
		cfg := p.JWT(t, p.Config)
		cfgUser, image = cfg.Username+"/"+cfg.Password+"/"+cfg.APIKey, p.Image(t)
	}) || cfgUser != "admin/pw/" || image != "alpine:3.20" {
		t.Errorf("with the variables: user %q image %q", cfgUser, image)
	}
}

func TestFakeDefaults(t *testing.T) {
	if Real() {
		t.Skip("fake-target check")
	}
	_, p := Portainer(t)
	cfg := p.JWT(t, p.Config)
	if cfg.APIKey != "" || cfg.Username == "" || cfg.Password == "" || p.Image(t) != FakeImage {
		t.Fatalf("fake JWT config %q/%q key %q, image %q", cfg.Username, cfg.Password, cfg.APIKey, p.Image(t))
	}
}
