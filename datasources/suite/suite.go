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
	"fmt"
	"io"
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
	out, msg := lookupEnv(t.Name(), names...)
	if msg != "" {
		t.Skip(msg)
	}
	return out
}

// lookupEnv reads the variables; msg, when not empty, is the skip message
// naming the unset ones.
func lookupEnv(test string, names ...string) (vals map[string]string, msg string) {
	vals = make(map[string]string, len(names))
	var missing []string
	for _, n := range names {
		v := os.Getenv(n)
		if v == "" {
			missing = append(missing, n)
		}
		vals[n] = v
	}
	if len(missing) > 0 {
		msg = fmt.Sprintf("real-server run: set %s to run %s against a real server", strings.Join(missing, ", "), test)
	}
	return vals, msg
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

// EnvReport names a file a real-server run appends reports to (the answer
// fields the specs lack); scripts/test-real.sh sets it and prints the file.
const EnvReport = "APPMANAGE_TEST_REPORT"

// ReportExtraFields prints the answer fields of upstream that its spec
// lacks (contract.Validator.ExtraFields in tolerated mode), one a line, in
// the test log and, when APPMANAGE_TEST_REPORT names a file, there too.
func ReportExtraFields(t testing.TB, upstream string, fields []string) {
	t.Helper()
	if len(fields) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d answer field(s) the spec lacks (reported, not failed):\n", upstream, len(fields))
	for _, f := range fields {
		fmt.Fprintf(&b, "  %s\n", f)
	}
	t.Log(b.String())
	if path := os.Getenv(EnvReport); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			t.Errorf("report extra fields: %v", err)
			return
		}
		defer f.Close()
		if _, err := io.WriteString(f, t.Name()+": "+b.String()); err != nil {
			t.Errorf("report extra fields: %v", err)
		}
	}
}
