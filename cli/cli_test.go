package cli

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Khan/genqlient/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/appmanage/appmanage/cli/gql"
)

func TestNormalizeServer(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"127.0.0.1:8080", "http://127.0.0.1:8080/graphql"},
		{"http://h:1/", "http://h:1/graphql"},
		{"https://apps.example.com/graphql", "https://apps.example.com/graphql"},
		{"https://example.com/appmanage/", "https://example.com/appmanage/graphql"},
		{"ftp://x", ""},
		{"", ""},
	} {
		got, err := normalizeServer(c.in)
		if c.want == "" {
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != exitUsage {
				t.Errorf("normalizeServer(%q) = %q, %v; want a usage error", c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("normalizeServer(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func gqlErr(code, msg string, ext map[string]any) gqlerror.List {
	if ext == nil {
		ext = map[string]any{}
	}
	if code != "" {
		ext["code"] = code
	}
	return gqlerror.List{&gqlerror.Error{Message: msg, Extensions: ext}}
}

func TestClassifyExitStatus(t *testing.T) {
	refused := &url.Error{Op: "Post", URL: "http://127.0.0.1:1/graphql", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}
	for _, c := range []struct {
		name string
		err  error
		code int
		msg  string
	}{
		{"preflight", gqlErr("PRECONDITION_FAILED", "domains: domain a.example is already used", map[string]any{"field": "domains"}), 1, "installApp refused (PRECONDITION_FAILED): domains: domain a.example is already used"},
		{"validation with field", gqlErr("VALIDATION_FAILED", "bad id", map[string]any{"field": "appId"}), 1, "(field appId)"},
		{"upstream", gqlErr("UPSTREAM_UNAVAILABLE", "portainer down", map[string]any{"upstream": "portainer"}), 1, "(upstream portainer)"},
		{"not implemented", gqlErr("NOT_IMPLEMENTED", "not implemented yet: upgradeApp", nil), 2, "the server does not offer installApp yet"},
		{"older server", &graphql.HTTPError{StatusCode: 422, Response: graphql.Response{Errors: gqlErr("GRAPHQL_VALIDATION_FAILED", "Cannot query field", nil)}}, 2, "is it older than this CLI?"},
		{"unauthenticated", &graphql.HTTPError{StatusCode: 401, Response: graphql.Response{Errors: gqlErr("UNAUTHENTICATED", "invalid API key", nil)}}, 1, "UNAUTHENTICATED"},
		{"not appmanage", &graphql.HTTPError{StatusCode: 404, Response: graphql.Response{Errors: gqlErr("", "404 page not found", nil)}}, 1, "is --server the appmanage server?"},
		{"connection refused", refused, 3, "server unreachable"},
		{"usage passes through", usageErrorf("bad"), 2, "bad"},
	} {
		err := classify(c.err, "installApp")
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != c.code || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: classify = %v (%T); want exit %d containing %q", c.name, err, err, c.code, c.msg)
		}
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	if got, err := parseSince("24h", now); err != nil || !got.Equal(now.Add(-24*time.Hour)) {
		t.Errorf("24h: %v %v", got, err)
	}
	if got, err := parseSince("2026-12-01T00:00:00Z", now); err != nil || got.Day() != 1 {
		t.Errorf("RFC 3339: %v %v", got, err)
	}
	if _, err := parseSince("yesterday", now); err == nil {
		t.Error("yesterday: no error")
	}
}

func TestConfigFileIsPrivate(t *testing.T) {
	dir := t.TempDir()
	getenv := func(k string) string { return map[string]string{"XDG_CONFIG_HOME": dir}[k] }
	cfg, path, err := loadConfig(getenv)
	if err != nil || len(cfg.Contexts) != 0 {
		t.Fatalf("load of a missing file: %v %+v", err, cfg)
	}
	cfg.Contexts["a"] = &savedContext{Server: "http://x", APIKey: "am_secret"}
	cfg.Current = "a"
	if err := cfg.save(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	di, _ := os.Stat(filepath.Dir(path))
	if di.Mode().Perm() != 0o700 {
		t.Errorf("config folder mode %v, want 0700", di.Mode().Perm())
	}
	back, _, err := loadConfig(getenv)
	if err != nil || back.Current != "a" || back.Contexts["a"].APIKey != "am_secret" {
		t.Fatalf("reload: %+v %v", back, err)
	}
}

func TestLineViewPrintsChangesOnly(t *testing.T) {
	var b bytes.Buffer
	v := &lineView{w: &b}
	v.update(0, "", "QUEUED", "operation queued")
	v.update(9, "prepare", "SUCCEEDED", "")
	v.update(9, "prepare", "SUCCEEDED", "")
	v.update(100, "proxy", "SUCCEEDED", "step succeeded")
	want := "[  0%] QUEUED operation queued\n[  9%] prepare: SUCCEEDED\n[100%] proxy: SUCCEEDED step succeeded\n"
	if b.String() != want {
		t.Fatalf("lines:\n%q\nwant\n%q", b.String(), want)
	}
}

func TestBarViewDrawsTheStepAndReaches100(t *testing.T) {
	var b bytes.Buffer
	v := newBarView(&b, "install blog")
	v.update(36, "stack", "RUNNING", "")
	v.update(81, "proxy", "RUNNING", "")
	v.done()
	out := b.String()
	for _, want := range []string{"stack running", "proxy running", "100%"} {
		if !strings.Contains(out, want) {
			t.Errorf("bar output lacks %q:\n%q", want, out)
		}
	}
}

func TestReportOutcomePrintsTheFailingStep(t *testing.T) {
	var out, errb bytes.Buffer
	e := &env{stdout: &out, stderr: &errb}
	msg := "portainer: stack deploy refused: image not found"
	opErr := "step stack failed; rolled back"
	op := &gql.OperationFields{Id: "op1", Kind: "install", AppId: "blog", Status: gql.OperationStatusRolledBack, Error: &opErr,
		Steps: []gql.OperationFieldsStepsOperationStep{
			{Name: "repository", Status: gql.StepStatusUndone},
			{Name: "stack", Status: gql.StepStatusFailed, Error: &msg},
		}}
	err := e.reportOutcome(op)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitFailed || !strings.Contains(err.Error(), "ROLLED_BACK") || !strings.Contains(err.Error(), opErr) {
		t.Fatalf("reportOutcome = %v", err)
	}
	if !strings.Contains(errb.String(), "step stack FAILED: "+msg) || strings.Contains(errb.String(), "repository") {
		t.Fatalf("stderr = %q", errb.String())
	}
	out.Reset()
	op.Status = gql.OperationStatusSucceeded
	if err := e.reportOutcome(op); err != nil || !strings.Contains(out.String(), "operation op1 SUCCEEDED: install blog") {
		t.Fatalf("succeeded: %v %q", err, out.String())
	}
}

// SIGINT while following reaches the follower instead of ending the
// process.
func TestOSInterruptsTurnsSIGINTIntoAMessage(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := osInterrupts(ctx)
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no interrupt message within 5s of SIGINT")
	}
}
