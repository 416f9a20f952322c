package portainer_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/datasources/suite"
	"github.com/appmanage/appmanage/datasources/upstream"
)

// TestDeployErrors: Portainer 2.19-2.23 answer a failed compose up with
// 500 {"message": "failed to deploy a stack: <stderr>", "details": the same,
// capitalized}, where stderr is compose's progress lines with the daemon's
// error last. The client says it once, the daemon's line first.
func TestDeployErrors(t *testing.T) {
	cfg, tgt := suite.Portainer(t)
	f := tgt.RequireFake(t)
	c := newClient(t, cfg)
	ctx := ctxT(t)
	if _, err := f.AddStack(1, "holder", "services:\n  web:\n    image: nginx:1.27\n    ports: [\"8080:80\"]\n"); err != nil {
		t.Fatal(err)
	}
	f.FailPull("registry.invalid/nosuch:1")
	f.LackExecutable("busybox:1.36", "sleep")
	const prefix = "HTTP 500: failed to deploy a stack: Error response from daemon: "
	for _, tc := range []struct {
		name, compose, daemon, output string
	}{
		{"port taken", "services:\n  app:\n    image: nginx:1.27\n    ports: [\"8080:80\"]\n",
			`driver failed programming external connectivity on endpoint taker-app-1 \([0-9a-f]{64}\): Bind for 0\.0\.0\.0:8080 failed: port is already allocated`,
			"Container taker-app-1 Creating; Container taker-app-1 Created; Container taker-app-1 Starting"},
		{"failed pull", "services:\n  app:\n    image: registry.invalid/nosuch:1\n",
			`pull access denied for registry\.invalid/nosuch, repository does not exist or may require 'docker login': denied: requested access to the resource is denied`,
			"app Pulling; app Error"},
		{"missing executable", "services:\n  app:\n    image: busybox:1.36\n    command: [\"sleep\", \"infinity\"]\n",
			`failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "sleep": executable file not found in \$PATH: unknown`,
			"Container taker-app-1 Creating; Container taker-app-1 Created; Container taker-app-1 Starting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateStackFromString(ctx, 1, portainer.CreateStringStackRequest{Name: "taker", StackFileContent: tc.compose})
			if upstream.StatusOf(err) != 500 {
				t.Fatalf("create: %v, want 500", err)
			}
			msg := err.Error()
			t.Log(msg)
			want := regexp.MustCompile(regexp.QuoteMeta(prefix) + tc.daemon + regexp.QuoteMeta(" (compose output: "+tc.output+")") + "$")
			if !want.MatchString(msg) {
				t.Fatalf("error\n %s\nwant\n %s", msg, want)
			}
			if n := strings.Count(strings.ToLower(msg), "deploy a stack"); n != 1 {
				t.Errorf("%q says \"deploy a stack\" %d times", msg, n)
			}
			daemon := regexp.MustCompile(tc.daemon)
			if n := len(daemon.FindAllString(msg, -1)); n != 1 {
				t.Errorf("%q has the daemon's message %d times", msg, n)
			}
			if _, err := c.FindStackByName(ctx, 1, "taker"); !errors.Is(err, portainer.ErrNotFound) {
				t.Errorf("a failed create kept a stack: %v", err)
			}
		})
	}

	// Start of a stopped stack whose port was taken meanwhile: "Unable to
	// start stack" with the compose failure as details.
	st, err := c.CreateStackFromString(ctx, 1, portainer.CreateStringStackRequest{Name: "later", StackFileContent: "services:\n  app:\n    image: nginx:1.27\n    ports: [\"8081:80\"]\n"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.StopStack(ctx, st.ID, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := f.AddStack(1, "squatter", "services:\n  web:\n    image: nginx:1.27\n    ports: [\"8081:80\"]\n"); err != nil {
		t.Fatal(err)
	}
	_, err = c.StartStack(ctx, st.ID, 1)
	want := regexp.MustCompile(`HTTP 500: Unable to start stack: Failed to deploy a stack: Error response from daemon: driver failed programming external connectivity on endpoint later-app-1 \([0-9a-f]{64}\): Bind for 0\.0\.0\.0:8081 failed: port is already allocated \(compose output: Container later-app-1 Creating; Container later-app-1 Created; Container later-app-1 Starting\)$`)
	if err == nil || !want.MatchString(err.Error()) {
		t.Fatalf("start: %v\nwant %s", err, want)
	}
}

// TestDeployErrorLongOutput: a long compose output keeps its last lines.
func TestDeployErrorLongOutput(t *testing.T) {
	cfg, tgt := suite.Portainer(t)
	f := tgt.RequireFake(t)
	c := newClient(t, cfg)
	var b strings.Builder
	b.WriteString("services:\n")
	for _, s := range []string{"a", "b", "c", "d", "e"} {
		b.WriteString("  " + s + ":\n    image: nginx:1.27\n")
	}
	b.WriteString("  z:\n    image: nginx:1.27\n    ports: [\"8090:80\"]\n")
	if _, err := f.AddStack(1, "busy", "services:\n  web:\n    image: nginx:1.27\n    ports: [\"8090:80\"]\n"); err != nil {
		t.Fatal(err)
	}
	_, err := c.CreateStackFromString(ctxT(t), 1, portainer.CreateStringStackRequest{Name: "many", StackFileContent: b.String()})
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	// 5 services × 4 lines + 3 for z = 23 lines before the daemon's: the
	// first 11 are summarized.
	if !strings.Contains(msg, "port is already allocated (compose output: (11 earlier lines); ") || !strings.HasSuffix(msg, "Container many-z-1 Starting)") {
		t.Fatalf("error %q", msg)
	}
}
