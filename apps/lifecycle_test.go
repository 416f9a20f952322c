package apps

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/portainer"
	portainerfake "github.com/appmanage/appmanage/datasources/portainer/fake"
	"github.com/appmanage/appmanage/datasources/upstream"
	"github.com/appmanage/appmanage/ops"
)

// lcStack is the fake's stack of appID.
func lcStack(t *testing.T, e *testEnv, appID string) portainerfake.Stack {
	t.Helper()
	for _, st := range e.Portainer.Stacks() {
		if st.Name == appID {
			return st
		}
	}
	t.Fatalf("no stack %s", appID)
	return portainerfake.Stack{}
}

// lcContainers are the fake's containers of appID's project.
func lcContainers(e *testEnv, appID string) []portainerfake.Container {
	var out []portainerfake.Container
	for _, c := range e.Portainer.Containers(1) {
		if c.Labels[projectLabel] == appID {
			out = append(out, c)
		}
	}
	return out
}

func lcMain(t *testing.T, e *testEnv, appID string) portainerfake.Container {
	t.Helper()
	for _, c := range lcContainers(e, appID) {
		if c.Name == appID {
			return c
		}
	}
	t.Fatalf("no container %s", appID)
	return portainerfake.Container{}
}

// lcDone waits for the operation a mutation returned, which must succeed:
// lcDone(t, e)(e.Svc.StopApp(...)).
func lcDone(t *testing.T, e *testEnv) func(*ops.Operation, error) *ops.Operation {
	return func(op *ops.Operation, err error) *ops.Operation {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		done := e.wait(op)
		if done.Status != ops.StatusSucceeded {
			t.Fatalf("%s: %s %s", done.Kind, done.Status, done.Error)
		}
		return done
	}
}

func lcCode(t *testing.T, what string, err error, want apperr.Code) {
	t.Helper()
	if got := apperr.CodeOf(err); got != want {
		t.Errorf("%s: %v (%s), want %s", what, err, got, want)
	}
}

func TestLifecycleStartStopRestartRedeploy(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if op := e.install(InstallRequest{AppName: "whoami", AppID: "life", Settings: []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: "9140"}}}); op.Status != ops.StatusSucceeded {
		t.Fatal(op.Error)
	}
	first := lcMain(t, e, "life")

	_, err := e.Svc.StartApp(ctx, "life", "")
	lcCode(t, "start an active app", err, apperr.PreconditionFailed)

	lcDone(t, e)(e.Svc.StopApp(ctx, "life", ""))
	if st := lcStack(t, e, "life"); st.Status != 2 {
		t.Errorf("stack status %d after stop", st.Status)
	}
	if cs := lcContainers(e, "life"); len(cs) != 0 {
		t.Errorf("containers after stop: %d", len(cs))
	}
	_, err = e.Svc.StopApp(ctx, "life", "")
	lcCode(t, "stop a stopped app", err, apperr.PreconditionFailed)

	lcDone(t, e)(e.Svc.StartApp(ctx, "life", ""))
	started := lcMain(t, e, "life")
	if st := lcStack(t, e, "life"); st.Status != 1 || started.State != "running" || started.ID == first.ID {
		t.Errorf("after start: stack %d, container %s %s (before %s)", st.Status, started.ID, started.State, first.ID)
	}

	done := lcDone(t, e)(e.Svc.RestartApp(ctx, "life", ""))
	if names := stepNames(done); !slices.Equal(names, []string{"stop", "start", "proxies"}) {
		t.Errorf("restart steps %v", names)
	}
	restarted := lcMain(t, e, "life")
	if restarted.ID == started.ID || restarted.State != "running" {
		t.Errorf("restart did not recreate the container: %s %s", restarted.ID, restarted.State)
	}
	// Restart of a stopped app: the stop step finds it stopped and is done.
	lcDone(t, e)(e.Svc.StopApp(ctx, "life", ""))
	lcDone(t, e)(e.Svc.RestartApp(ctx, "life", ""))
	if c := lcMain(t, e, "life"); c.State != "running" {
		t.Errorf("restart of a stopped app: %s", c.State)
	}

	before := lcMain(t, e, "life")
	auth := lcStack(t, e, "life").GitConfig.Authentication
	lcDone(t, e)(e.Svc.RedeployApp(ctx, "life", true, ""))
	after := lcMain(t, e, "life")
	st := lcStack(t, e, "life")
	if after.ID == before.ID || after.State != "running" {
		t.Errorf("redeploy did not recreate the container")
	}
	if st.GitConfig.ReferenceName != "refs/heads/main" || st.GitConfig.ConfigHash == "" || st.GitConfig.Authentication == nil ||
		auth == nil || st.GitConfig.Authentication.Password != auth.Password {
		t.Errorf("redeploy changed the git settings: %+v", st.GitConfig)
	}

	// The idempotency key returns the same operation.
	op1, err := e.Svc.RedeployApp(ctx, "life", false, "key-1")
	if err != nil {
		t.Fatal(err)
	}
	e.wait(op1)
	op2, err := e.Svc.RedeployApp(ctx, "life", false, "key-1")
	if err != nil || op2.ID != op1.ID {
		t.Errorf("replay: %v %v", op2, err)
	}
}

func stepNames(op *ops.Operation) []string {
	var out []string
	for _, s := range op.Steps {
		out = append(out, s.Name)
	}
	return out
}

func TestLifecycleUpdateEnvCommitsOnceAndRedeploys(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if op := e.install(InstallRequest{AppName: "whoami", AppID: "envy", Settings: []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: "9141"}}}); op.Status != ops.StatusSucceeded {
		t.Fatal(op.Error)
	}
	commits := e.Gitea.Commits(e.Owner, "envy")
	lcDone(t, e)(e.Svc.UpdateAppEnv(ctx, "envy", []EnvSetting{{Name: "GREETING", Value: "hello world"}}))
	if n := e.Gitea.Commits(e.Owner, "envy"); n != commits+1 {
		t.Errorf("commits %d -> %d, want exactly one more", commits, n)
	}
	if !slices.Contains(lcMain(t, e, "envy").Env, "GREETING=hello world") {
		t.Errorf("the redeployed container lacks the new value: %v", lcMain(t, e, "envy").Env)
	}
	if env := string(e.Gitea.Files(e.Owner, "envy", "main")[".env"]); !strings.Contains(env, "GREETING") || !strings.Contains(env, "W9_ID=envy") {
		t.Errorf(".env after the change:\n%s", env)
	}
	// The read side shows it too (our own mutation invalidated the lists).
	v := e.Svc.NewView()
	a, _, err := v.App(ctx, "envy", false)
	if err != nil || a == nil {
		t.Fatal(a, err)
	}
	envs, errs := v.Env(ctx, []AppRef{a.AppRef})
	if got, _ := envs[0].Get("GREETING"); errs[0] != nil || got != "hello world" {
		t.Errorf("env GREETING = %q %v", got, errs[0])
	}
	// The same values again: nothing to commit, still one redeploy.
	lcDone(t, e)(e.Svc.UpdateAppEnv(ctx, "envy", []EnvSetting{{Name: "GREETING", Value: "hello world"}}))
	if n := e.Gitea.Commits(e.Owner, "envy"); n != commits+1 {
		t.Errorf("an unchanged .env was committed again: %d commits", n)
	}

	for _, c := range []struct {
		name    string
		changes []EnvSetting
		field   string
	}{
		{"no changes", nil, "changes"},
		{"identity", []EnvSetting{{Name: "W9_ID", Value: "other"}}, "changes[0]"},
		{"bad name", []EnvSetting{{Name: "A B", Value: "x"}}, "changes[0]"},
		{"newline", []EnvSetting{{Name: "A", Value: "x\nW9_ID=y"}}, "changes[0]"},
		{"twice", []EnvSetting{{Name: "A", Value: "1"}, {Name: "A", Value: "2"}}, "changes[1]"},
	} {
		_, err := e.Svc.UpdateAppEnv(ctx, "envy", c.changes)
		lcCode(t, c.name, err, apperr.ValidationFailed)
		if ae, ok := apperr.As(err); ok && ae.Field != c.field {
			t.Errorf("%s: field %q, want %q", c.name, ae.Field, c.field)
		}
	}
}

func TestLifecycleUpdateGit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if op := e.install(InstallRequest{AppName: "whoami", AppID: "gitty", Settings: []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: "9142"}}}); op.Status != ops.StatusSucceeded {
		t.Fatal(op.Error)
	}
	ref, every := "main", "5m"
	lcDone(t, e)(e.Svc.UpdateAppGit(ctx, "gitty", GitChange{ReferenceName: &ref, AutoUpdateInterval: &every, Authenticate: true}))
	st := lcStack(t, e, "gitty")
	if st.GitConfig.ReferenceName != "refs/heads/main" || st.AutoUpdate == nil || st.AutoUpdate.Interval != "5m" ||
		st.GitConfig.Authentication == nil || st.GitConfig.Authentication.Password == "" {
		t.Errorf("after update: %+v %+v", st.GitConfig, st.AutoUpdate)
	}
	off := ""
	lcDone(t, e)(e.Svc.UpdateAppGit(ctx, "gitty", GitChange{AutoUpdateInterval: &off}))
	st = lcStack(t, e, "gitty")
	if st.AutoUpdate != nil || st.GitConfig.ReferenceName != "refs/heads/main" || st.GitConfig.Authentication == nil {
		t.Errorf("turning auto-update off changed more: %+v %+v", st.GitConfig, st.AutoUpdate)
	}
	bad := "1x"
	_, err := e.Svc.UpdateAppGit(ctx, "gitty", GitChange{AutoUpdateInterval: &bad})
	lcCode(t, "bad interval", err, apperr.ValidationFailed)
	badRef := "refs/heads/../x"
	_, err = e.Svc.UpdateAppGit(ctx, "gitty", GitChange{ReferenceName: &badRef})
	lcCode(t, "bad ref", err, apperr.ValidationFailed)
}

func TestLifecycleErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"start":    func() error { _, err := e.Svc.StartApp(ctx, "ghost", ""); return err },
		"stop":     func() error { _, err := e.Svc.StopApp(ctx, "ghost", ""); return err },
		"restart":  func() error { _, err := e.Svc.RestartApp(ctx, "ghost", ""); return err },
		"redeploy": func() error { _, err := e.Svc.RedeployApp(ctx, "ghost", false, ""); return err },
		"updateEnv": func() error {
			_, err := e.Svc.UpdateAppEnv(ctx, "ghost", []EnvSetting{{Name: "A", Value: "1"}})
			return err
		},
		"updateGit": func() error {
			v := "main"
			_, err := e.Svc.UpdateAppGit(ctx, "ghost", GitChange{ReferenceName: &v})
			return err
		},
	} {
		lcCode(t, name+" of an unknown app", call(), apperr.NotFound)
	}
	// A stack made by hand from a string has no git link: no redeploy.
	if _, err := e.Portainer.AddStack(1, "handmade", manualCompose); err != nil {
		t.Fatal(err)
	}
	_, err := e.Svc.RedeployApp(ctx, "handmade", false, "")
	lcCode(t, "redeploy without git", err, apperr.PreconditionFailed)
	_, err = e.Svc.UpdateAppEnv(ctx, "handmade", []EnvSetting{{Name: "A", Value: "1"}})
	lcCode(t, "env of a stack without git", err, apperr.PreconditionFailed)
	// But it can be stopped and started.
	lcDone(t, e)(e.Svc.StopApp(ctx, "handmade", ""))
	lcDone(t, e)(e.Svc.StartApp(ctx, "handmade", ""))
	_, err = e.Svc.StartApp(ctx, "Not An Id!", "")
	lcCode(t, "bad id", err, apperr.NotFound)
}

// TestLifecycleStartRefusedByPortainer: a stopped app whose project still
// has a container (left behind, or made by hand) passes the preflight, and
// Portainer refuses the start with 409 "already running" (it checks the
// name before the status): the step fails with that reason, not as an
// upstream fault.
func TestLifecycleStartRefusedByPortainer(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.Portainer.AddStack(1, "handmade", manualCompose); err != nil {
		t.Fatal(err)
	}
	lcDone(t, e)(e.Svc.StopApp(ctx, "handmade", ""))
	if _, err := e.Portainer.AddContainers(1, "handmade", portainerfake.Container{
		Name: "handmade-web-1", State: "exited", Labels: map[string]string{"com.docker.compose.service": "web"},
	}); err != nil {
		t.Fatal(err)
	}
	op, err := e.Svc.StartApp(ctx, "handmade", "")
	if err != nil {
		t.Fatal(err)
	}
	done := e.wait(op)
	want := "start: id: app handmade is already running: containers of project handmade exist on endpoint 1"
	if done.Status != ops.StatusRolledBack || !strings.HasPrefix(done.Error, want) ||
		!strings.Contains(done.Error, "HTTP 409: A stack with the name 'handmade' is already running") {
		t.Fatalf("start: %s %q, want ROLLED_BACK (nothing to undo) with %q and Portainer's 409", done.Status, done.Error, want)
	}
	if n := strings.Count(done.Error, "is already running"); n != 2 {
		t.Errorf("error %q: want our sentence and Portainer's once each", done.Error)
	}
}

func TestLifecycleRefusalCodes(t *testing.T) {
	st := &portainer.Stack{ID: 3, Name: "app", EndpointID: 1}
	apiErr := func(status int, msg string) error {
		return &upstream.APIError{Upstream: "portainer", Method: "POST", Path: "/stacks/3/x", Status: status, Message: msg}
	}
	for _, tc := range []struct {
		name string
		got  error
		want apperr.Code // "" means not a refusal
	}{
		{"start 409", startRefused(st, apiErr(409, "A stack with the name 'app' is already running")), apperr.PreconditionFailed},
		{"start 409 (2.3x)", startRefused(st, apiErr(409, "Unable to start stack: Stack is already active")), apperr.PreconditionFailed},
		{"start 400 active", startRefused(st, apiErr(400, "Stack is already active")), apperr.PreconditionFailed},
		{"start 400 other", startRefused(st, apiErr(400, "Invalid query parameter: endpointId")), ""},
		{"start 500", startRefused(st, apiErr(500, "Unable to start stack")), ""},
		{"stop 400 inactive", stopRefused(st, apiErr(400, "Stack is already inactive")), apperr.PreconditionFailed},
		{"stop 409 (2.3x)", stopRefused(st, apiErr(409, "Stack deployment is in progress")), apperr.PreconditionFailed},
		{"stop 404", stopRefused(st, apiErr(404, "Unable to find a stack")), ""},
	} {
		switch {
		case tc.want == "" && tc.got != nil:
			t.Errorf("%s: %v, want no refusal", tc.name, tc.got)
		case tc.want != "" && apperr.CodeOf(tc.got) != tc.want:
			t.Errorf("%s: %v, want %s", tc.name, tc.got, tc.want)
		case tc.want != "":
			if ae, _ := apperr.As(tc.got); ae.Field != "id" || ae.Upstream != "portainer" {
				t.Errorf("%s: field %q upstream %q", tc.name, ae.Field, ae.Upstream)
			}
		}
	}
}

// TestLifecycleDeployErrorSaidOnce: a redeploy that compose cannot do (the
// new port is taken) fails its step with Portainer's compose output said
// once, the daemon's line first.
func TestLifecycleDeployErrorSaidOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if op := e.install(InstallRequest{AppName: "whoami", AppID: "porty", Settings: []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: "9143"}}}); op.Status != ops.StatusSucceeded {
		t.Fatal(op.Error)
	}
	if _, err := e.Portainer.AddStack(1, "squat", "services:\n  web:\n    image: nginx:1.27\n    ports: [\"9144:80\"]\n"); err != nil {
		t.Fatal(err)
	}
	op, err := e.Svc.UpdateAppEnv(ctx, "porty", []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: "9144"}})
	if err != nil {
		t.Fatal(err)
	}
	done := e.wait(op)
	msg := done.Error
	t.Log(msg)
	if done.Status == ops.StatusSucceeded || !strings.Contains(msg, "HTTP 500: failed to deploy a stack: Error response from daemon: driver failed programming external connectivity on endpoint porty") ||
		!strings.Contains(msg, "Bind for 0.0.0.0:9144 failed: port is already allocated (compose output: Container porty Creating; Container porty Created; Container porty Starting)") {
		t.Fatalf("update-env: %s %q", done.Status, msg)
	}
	for _, s := range []string{"port is already allocated", "deploy a stack"} {
		if n := strings.Count(strings.ToLower(msg), s); n != 1 {
			t.Errorf("%q appears %d times in %q", s, n, msg)
		}
	}
}
