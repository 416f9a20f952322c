// Package suite lets one datasource test suite run against two targets: the
// in-process fakes (default) or real servers. Real servers are selected with
// `go test -tags realservers`, the -appmanage.real flag, or
// APPMANAGE_TEST_REAL=1; their addresses and credentials come from
// APPMANAGE_TEST_<UPSTREAM>_* variables, and a test skips with a clear message
// when they are missing. Against real servers tests only create resources
// named with Prefix(t) and delete them in t.Cleanup.
//
// Each upstream has its own file with a constructor (gitea.go: Gitea(t));
// portainer.go and npm.go follow the same pattern.
package suite

import (
	"crypto/rand"
	"encoding/hex"
	"flag"
	"os"
	"strings"
	"testing"
)

// EnvReal selects real servers when set to 1 or true.
const EnvReal = "APPMANAGE_TEST_REAL"

var realFlag = flag.Bool("appmanage.real", false, "run datasource suites against real servers configured by APPMANAGE_TEST_* variables")

// Real reports whether this run targets real servers.
func Real() bool {
	if realTag || *realFlag {
		return true
	}
	switch strings.ToLower(os.Getenv(EnvReal)) {
	case "1", "true", "yes":
		return true
	}
	return false
}

// Env returns the named variables for a real-server run, skipping the test
// with a message naming the missing ones when any is unset.
func Env(t testing.TB, names ...string) map[string]string {
	t.Helper()
	out := make(map[string]string, len(names))
	var missing []string
	for _, n := range names {
		v := os.Getenv(n)
		if v == "" {
			missing = append(missing, n)
		}
		out[n] = v
	}
	if len(missing) > 0 {
		t.Skipf("real-server run: set %s to run %s against a real server", strings.Join(missing, ", "), t.Name())
	}
	return out
}

// FakeOnly skips the test on a real-server run (fault injection, inspection
// of server state).
func FakeOnly(t testing.TB) {
	t.Helper()
	if Real() {
		t.Skipf("%s needs the in-process fake (fault injection or state inspection); skipped against real servers", t.Name())
	}
}

// Prefix returns a name prefix unique to this test run: "amt-", a slug of
// the test name, and random hex. It is lowercase [a-z0-9-] and at most 36
// characters, valid as a Gitea repository, Portainer stack and DNS label.
func Prefix(t testing.TB) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(t.Name()) {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		switch {
		case ok:
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 22 {
			break
		}
	}
	slug := strings.Trim(b.String(), "-")
	rnd := make([]byte, 4)
	_, _ = rand.Read(rnd)
	if slug == "" {
		return "amt-" + hex.EncodeToString(rnd)
	}
	return "amt-" + slug + "-" + hex.EncodeToString(rnd)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
