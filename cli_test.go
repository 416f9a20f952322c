package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appmanage/appmanage/cli"
)

var (
	cliBinOnce sync.Once
	cliBin     string
	cliBinErr  error
)

// buildCLI builds the real binary once per test run.
func buildCLI(t testing.TB) string {
	t.Helper()
	cliBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "appmanage-cli-")
		if err != nil {
			cliBinErr = err
			return
		}
		cliBin = filepath.Join(dir, "appmanage")
		out, err := exec.Command("go", "build", "-o", cliBin, ".").CombinedOutput()
		if err != nil {
			cliBinErr = errors.New(string(out))
		}
	})
	if cliBinErr != nil {
		t.Fatalf("go build: %v", cliBinErr)
	}
	return cliBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	stopBenchServer()
	if cliBin != "" {
		os.RemoveAll(filepath.Dir(cliBin))
	}
	os.Exit(code)
}

type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs the built binary with only the environment given (and a
// config folder of its own, so no saved login of the machine is read).
func runCLI(t *testing.T, env []string, stdin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, buildCLI(t), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return cliResult{code: code, stdout: out.String(), stderr: errb.String()}
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// Acceptance 4: the built binary against a sandbox server.
func TestCLIBinaryAgainstSandboxServer(t *testing.T) {
	s := startServer(t)
	env := []string{"APPMANAGE_SERVER=" + s.URL, "APPMANAGE_API_KEY=" + adminKey}

	// An install follows its operation to 100% and exits 0.
	r := runCLI(t, env, "", "app", "install", "wordpress", "--id", "cliblog", "--domain", "cliblog.example.com")
	m := regexp.MustCompile(`operation (\S+) SUCCEEDED: install cliblog`).FindStringSubmatch(r.stdout)
	if r.code != 0 || !strings.Contains(r.stdout, "[100%]") || m == nil {
		t.Fatalf("app install: %s", r)
	}
	installOp := m[1]
	// Progress only grows, through the install's steps.
	last := -1
	steps := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\[\s*(\d+)%\] (?:(\w+): )?`).FindAllStringSubmatch(r.stdout, -1) {
		p, _ := strconv.Atoi(m[1])
		if p < last {
			t.Fatalf("progress went back from %d to %d:\n%s", last, p, r.stdout)
		}
		last = p
		steps[m[2]] = true
	}
	for _, st := range []string{"prepare", "repository", "stack", "proxy"} {
		if !steps[st] {
			t.Errorf("no progress line for step %s:\n%s", st, r.stdout)
		}
	}
	if strings.Contains(r.stdout+r.stderr, adminKey) {
		t.Error("the CLI printed the API key")
	}

	// app list --output json parses and lists cliblog as ACTIVE.
	r = runCLI(t, env, "", "app", "list", "--output", "json")
	if r.code != 0 {
		t.Fatalf("app list: %s", r)
	}
	var apps []struct{ ID, Status, AppName string }
	if err := json.Unmarshal([]byte(r.stdout), &apps); err != nil {
		t.Fatalf("app list --output json does not parse: %v\n%s", err, r.stdout)
	}
	found := false
	for _, a := range apps {
		if a.ID == "cliblog" {
			found = true
			if a.Status != "ACTIVE" || a.AppName != "wordpress" {
				t.Errorf("cliblog listed as %+v, want ACTIVE wordpress", a)
			}
		}
	}
	if !found {
		t.Fatalf("cliblog not listed: %s", r.stdout)
	}
	// The table says the same.
	r = runCLI(t, env, "", "app", "list")
	if r.code != 0 || !regexp.MustCompile(`(?m)^cliblog\s+wordpress\s+\S+\s+ACTIVE\s+cliblog\.example\.com`).MatchString(r.stdout) {
		t.Fatalf("app list (table): %s", r)
	}

	// An install preflight refuses exits 1 with the reason, and starts nothing.
	r = runCLI(t, env, "", "app", "install", "wordpress", "--id", "clitwo", "--domain", "cliblog.example.com")
	if r.code != 1 || !strings.Contains(r.stderr, "PRECONDITION_FAILED") || !strings.Contains(r.stderr, "cliblog.example.com is already used") {
		t.Fatalf("install on a used domain: %s", r)
	}
	if strings.Contains(r.stdout, "operation ") {
		t.Errorf("a refused install printed an operation: %s", r.stdout)
	}
	r = runCLI(t, env, "", "app", "install", "nosuchapp", "--id", "clithree")
	if r.code != 1 || !strings.Contains(r.stderr, `VALIDATION_FAILED`) || !strings.Contains(r.stderr, `no app "nosuchapp"`) {
		t.Fatalf("install of an unknown app: %s", r)
	}

	// --dry-run answers installPlan: the default port 9001 is cliblog's, so the next one.
	r = runCLI(t, env, "", "app", "install", "wordpress", "--id", "clidry", "--dry-run", "--output", "json")
	var plan struct {
		AppID string `json:"appId"`
		Ports []struct {
			HostPort int
			Source   string
			Default  *int
		}
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &plan) != nil || plan.AppID != "clidry" || len(plan.Ports) == 0 ||
		plan.Ports[0].Source != "NEXT_FREE" || plan.Ports[0].Default == nil || *plan.Ports[0].Default != 9001 || plan.Ports[0].HostPort <= 9001 {
		t.Fatalf("install --dry-run: %s", r)
	}
	if r = runCLI(t, env, "", "app", "get", "clidry"); r.code != 1 || !strings.Contains(r.stderr, "no app clidry") {
		t.Fatalf("a dry run installed something: %s", r)
	}

	// --detach prints the operation id at once; op watch follows it to its end.
	r = runCLI(t, env, "", "app", "stop", "cliblog", "--detach")
	opID := strings.TrimSpace(r.stdout)
	if r.code != 0 || !regexp.MustCompile(`^[0-9a-f-]{36}$`).MatchString(opID) {
		t.Fatalf("app stop --detach: %s", r)
	}
	r = runCLI(t, env, "", "op", "watch", opID)
	if r.code != 0 || !strings.Contains(r.stdout, "[100%]") || !strings.Contains(r.stdout, "operation "+opID+" SUCCEEDED: stop cliblog") {
		t.Fatalf("op watch %s: %s", opID, r)
	}
	r = runCLI(t, env, "", "op", "get", opID, "--output", "json")
	var op struct {
		ID, Kind, Status string
		Progress         int
		Steps            []struct{ Name, Status string }
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &op) != nil || op.ID != opID || op.Status != "SUCCEEDED" || op.Progress != 100 || len(op.Steps) == 0 {
		t.Fatalf("op get --output json: %s", r)
	}
	r = runCLI(t, env, "", "app", "get", "cliblog", "--output", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"status": "INACTIVE"`) {
		t.Fatalf("app get after stop: %s", r)
	}

	// Domains: add one, list it, remove it again.
	r = runCLI(t, env, "", "app", "domains", "add", "cliblog", "www.cliblog.example.com")
	if r.code != 0 {
		t.Fatalf("domains add: %s", r)
	}
	r = runCLI(t, env, "", "app", "domains", "list", "cliblog", "--output", "json")
	if r.code != 0 || !strings.Contains(r.stdout, "www.cliblog.example.com") {
		t.Fatalf("domains list: %s", r)
	}
	r = runCLI(t, env, "", "app", "domains", "remove", "cliblog", "www.cliblog.example.com")
	if r.code != 0 {
		t.Fatalf("domains remove: %s", r)
	}
	r = runCLI(t, env, "", "app", "domains", "list", "cliblog", "--output", "json")
	if r.code != 0 || strings.Contains(r.stdout, "www.cliblog.example.com") || !strings.Contains(r.stdout, `"cliblog.example.com"`) {
		t.Fatalf("domains list after remove: %s", r)
	}

	// Catalog search.
	r = runCLI(t, env, "", "catalog", "wordpress", "--output", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"name": "wordpress"`) {
		t.Fatalf("catalog wordpress: %s", r)
	}

	// The audit log has the CLI's own install: the key that made it and its operation.
	r = runCLI(t, env, "", "audit", "--mutation", "installApp", "--app", "cliblog", "--key", "APPMANAGE_ADMIN_API_KEY", "--since", "1h", "--output", "json")
	var rows []struct {
		KeyName, KeyID, Mutation, AppID, Outcome, Source string
		OperationID                                      *string
		Arguments                                        map[string]any
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rows) != nil || len(rows) != 1 {
		t.Fatalf("audit --output json: %s", r)
	}
	if a := rows[0]; a.KeyName != "APPMANAGE_ADMIN_API_KEY" || a.KeyID == "" || a.Mutation != "installApp" || a.AppID != "cliblog" ||
		a.Source != "api" || a.OperationID == nil || *a.OperationID != installOp || a.Outcome != installOp || a.Arguments["input"] == nil {
		t.Fatalf("audit row of the install: %+v (operation %s)", a, installOp)
	}
	// The refused install on a used domain is there with its code; the table says so too.
	r = runCLI(t, env, "", "audit", "--app", "clitwo")
	if r.code != 0 || !regexp.MustCompile(`(?m)^AT\s+KEY\s+CLIENT`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)APPMANAGE_ADMIN_API_KEY\s+127\.0\.0\.1\s+api\s+installApp\s+clitwo\s+PRECONDITION_FAILED`).MatchString(r.stdout) {
		t.Fatalf("audit --app clitwo: %s", r)
	}
	if r = runCLI(t, env, "", "audit", "--app", "nosuchapp", "--output", "json"); r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("audit of an app nobody touched: %s", r)
	}
	if r = runCLI(t, env, "", "audit", "--since", "whenever"); r.code != 2 {
		t.Fatalf("audit --since whenever: %s", r)
	}

	// Bad usage: 2.
	for _, args := range [][]string{{"app", "install", "wordpress"}, {"app", "list", "--output", "yaml"}, {"app", "nosuch"}, {"op", "get"}} {
		if r := runCLI(t, env, "", args...); r.code != 2 {
			t.Errorf("%v: %s; want exit 2", args, r)
		}
	}
	// A wrong key: refused, 1, without echoing the key.
	r = runCLI(t, []string{"APPMANAGE_SERVER=" + s.URL, "APPMANAGE_API_KEY=am_wrongwrongwrong"}, "", "app", "list")
	if r.code != 1 || !strings.Contains(r.stderr, "UNAUTHENTICATED") || strings.Contains(r.stderr, "am_wrongwrongwrong") {
		t.Fatalf("wrong key: %s", r)
	}
}

func TestCLIServerUnreachableExits3(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, args := range [][]string{{"app", "list"}, {"app", "install", "wordpress", "--id", "x1"}, {"op", "watch", "x"}} {
		r := runCLI(t, []string{"APPMANAGE_SERVER=http://" + addr, "APPMANAGE_API_KEY=k"}, "", args...)
		if r.code != 3 || !strings.Contains(r.stderr, "server unreachable") {
			t.Errorf("%v against a closed port: %s; want exit 3", args, r)
		}
	}
}

// login saves the server and key (mode 0600); later commands use them.
func TestCLILoginSavesAContext(t *testing.T) {
	s := startServer(t)
	cfgDir := t.TempDir()
	env := []string{"XDG_CONFIG_HOME=" + cfgDir}
	r := runCLI(t, env, "wrong-key\n", "login", "--server", s.URL, "--api-key-stdin")
	if r.code != 1 || !strings.Contains(r.stderr, "UNAUTHENTICATED") {
		t.Fatalf("login with a wrong key: %s", r)
	}
	if _, err := os.Stat(filepath.Join(cfgDir, "appmanage", "config.json")); err == nil {
		t.Fatal("a refused login saved a context")
	}
	r = runCLI(t, env, adminKey+"\n", "login", "--server", s.URL, "--api-key-stdin", "--name", "sandbox")
	if r.code != 0 {
		t.Fatalf("login: %s", r)
	}
	path := filepath.Join(cfgDir, "appmanage", "config.json")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	r = runCLI(t, env, "", "app", "list", "--output", "json")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("app list with the saved context: %s", r)
	}
	r = runCLI(t, env, "", "--context", "other", "app", "list")
	if r.code != 2 || !strings.Contains(r.stderr, `no saved context "other"`) {
		t.Fatalf("unknown context: %s", r)
	}
	r = runCLI(t, env, "", "logout")
	if r.code != 0 {
		t.Fatalf("logout: %s", r)
	}
	r = runCLI(t, env, "", "app", "list")
	if r.code != 2 || !strings.Contains(r.stderr, "no server") {
		t.Fatalf("app list after logout: %s", r)
	}
}

// Ctrl-C while following asks; "d" detaches (exit 0, the operation goes
// on), "c" cancels it (or, when it has already ended, says so).
func TestCLIInterruptAsksToCancelOrDetach(t *testing.T) {
	s := startServer(t)
	getenv := func(k string) string {
		return map[string]string{"APPMANAGE_SERVER": s.URL, "APPMANAGE_API_KEY": adminKey}[k]
	}
	interrupted := func(context.Context) <-chan struct{} {
		ch := make(chan struct{}, 1)
		ch <- struct{}{}
		return ch
	}
	var out, errb bytes.Buffer
	code := cli.Execute(context.Background(), []string{"app", "install", "whoami", "--id", "ctrlc"}, cli.Options{
		Stdin: strings.NewReader("d\n"), Stdout: &out, Stderr: &errb, Getenv: getenv, Interrupts: interrupted,
	})
	if code != 0 || !strings.Contains(errb.String(), "[c]ancel/[d]etach") || !strings.Contains(errb.String(), "detached: operation ") {
		t.Fatalf("detach: exit %d\nstdout %s\nstderr %s", code, out.String(), errb.String())
	}
	id := regexp.MustCompile(`detached: operation (\S+)`).FindStringSubmatch(errb.String())[1]
	// The operation went on without us.
	r := runCLI(t, []string{"APPMANAGE_SERVER=" + s.URL, "APPMANAGE_API_KEY=" + adminKey}, "", "op", "watch", id)
	if r.code != 0 || !strings.Contains(r.stdout, "SUCCEEDED") {
		t.Fatalf("op watch after detach: %s", r)
	}

	out.Reset()
	errb.Reset()
	code = cli.Execute(context.Background(), []string{"app", "install", "whoami", "--id", "ctrlcb"}, cli.Options{
		Stdin: strings.NewReader("c\n"), Stdout: &out, Stderr: &errb, Getenv: getenv, Interrupts: interrupted,
	})
	// Cancelled in time: the install is undone (exit 1); too late: the
	// server refuses the cancel of a finished operation (exit 1 too).
	if code != 1 || !(strings.Contains(errb.String(), "cancelling operation") || strings.Contains(errb.String(), "cancelOperation refused")) {
		t.Fatalf("cancel: exit %d\nstdout %s\nstderr %s", code, out.String(), errb.String())
	}
	t.Logf("cancel: %s", errb.String())
}

// app upgrade against the sandbox (a library app with two versions): the
// pull's progress per layer from OperationEvent.pull in line mode, the
// operation followed to SUCCEEDED, the app on the new version; a version
// not listed and a bad --health-timeout are refused.
func TestCLIUpgradeAgainstSandbox(t *testing.T) {
	s := startServer(t, "--library-dir", upgradeLibraryDir(t))
	env := []string{"APPMANAGE_SERVER=" + s.URL, "APPMANAGE_API_KEY=" + adminKey}
	if r := runCLI(t, env, "", "app", "install", "twover", "--id", "cliup", "--domain", "cliup.example.com"); r.code != 0 {
		t.Fatalf("install: %s", r)
	}
	r := runCLI(t, env, "", "app", "upgrade", "cliup", "--version", "v9")
	if r.code != 1 || !strings.Contains(r.stderr, "VALIDATION_FAILED") || !strings.Contains(r.stderr, "listed: v1.11.0, v1.10.3, latest") {
		t.Fatalf("upgrade to an unlisted version: %s", r)
	}
	for _, args := range [][]string{
		{"app", "upgrade", "cliup"},
		{"app", "upgrade", "cliup", "--version", "v1.11.0", "--health-timeout", "1500ms"},
		{"app", "upgrade", "cliup", "v1.11.0", "--version", "latest"},
	} {
		if r := runCLI(t, env, "", args...); r.code != 2 {
			t.Errorf("%v: %s; want exit 2", args, r)
		}
	}

	r = runCLI(t, env, "", "app", "upgrade", "cliup", "--version", "v1.11.0", "--health-timeout", "60s")
	if r.code != 0 || !regexp.MustCompile(`operation \S+ SUCCEEDED: upgrade cliup`).MatchString(r.stdout) || strings.Contains(r.stdout+r.stderr, "does not offer") {
		t.Fatalf("app upgrade: %s", r)
	}
	// The pull's lines come from OperationEvent.pull: bytes of each layer, growing.
	pullRe := regexp.MustCompile(`(?m)^\[\s*\d+%\] pull: RUNNING pull traefik/whoami:v1\.11\.0 layer (\S+): Downloading (\d+(?:\.\d)?) (B|KiB|MiB)/\S+ \S+ \((\d+)%\)$`)
	lines := pullRe.FindAllStringSubmatch(r.stdout, -1)
	if len(lines) < 2 {
		t.Fatalf("no per-layer pull progress lines:\n%s", r.stdout)
	}
	seen := map[string]int{}
	grew := false
	for _, m := range lines {
		pct, _ := strconv.Atoi(m[4])
		if prev, ok := seen[m[1]]; ok {
			if pct < prev {
				t.Errorf("layer %s went back from %d%% to %d%%", m[1], prev, pct)
			}
			grew = grew || pct > prev
		}
		seen[m[1]] = pct
	}
	if !grew {
		t.Errorf("no layer's progress grew:\n%s", r.stdout)
	}
	for _, st := range []string{"preflight", "pull", "commit", "redeploy", "health"} {
		if !regexp.MustCompile(`(?m)^\[\s*\d+%\] ` + st + `: `).MatchString(r.stdout) {
			t.Errorf("no line for step %s:\n%s", st, r.stdout)
		}
	}
	r = runCLI(t, env, "", "app", "get", "cliup", "--output", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"version": "v1.11.0"`) {
		t.Fatalf("app get after the upgrade: %s", r)
	}
}
