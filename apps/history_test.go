package apps

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/auth"
	"github.com/appmanage/appmanage/datasources/faults"
	"github.com/appmanage/appmanage/datasources/gitea"
	giteafake "github.com/appmanage/appmanage/datasources/gitea/fake"
	"github.com/appmanage/appmanage/ops"
)

const ptrRedeploy = "PUT /api/stacks/{id}/git/redeploy"

// histCtx is a request context carrying an API key named "console".
func histCtx() context.Context {
	return auth.WithPrincipal(context.Background(), &auth.Principal{KeyID: "k1", KeyName: "console", Scope: auth.ScopeWrite})
}

// histInstall installs whoami as appID and changes GREETING twice: the
// repository then has 3 commits.
func histInstall(t *testing.T, e *testEnv, appID string, port string) {
	t.Helper()
	if op := e.install(InstallRequest{AppName: "whoami", AppID: appID, Settings: []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: port}}}); op.Status != ops.StatusSucceeded {
		t.Fatalf("install: %s %s", op.Status, op.Error)
	}
	for _, v := range []string{"one", "two"} {
		lcDone(t, e)(e.Svc.UpdateAppEnv(histCtx(), appID, []EnvSetting{{Name: "GREETING", Value: v}}))
	}
}

func histPage(t *testing.T, e *testEnv, appID string, first int, after string) *History {
	t.Helper()
	v := e.Svc.NewView()
	hs, errs := v.Histories(context.Background(), []HistoryKey{{AppRef: AppRef{ID: appID}, First: first, After: after}})
	if errs[0] != nil || hs[0] == nil {
		t.Fatalf("history of %s: %v %v", appID, hs[0], errs[0])
	}
	return hs[0]
}

func histStackFiles(t *testing.T, e *testEnv, appID string) map[string][]byte {
	t.Helper()
	st := lcStack(t, e, appID)
	if st.GitConfig == nil {
		t.Fatal("stack has no git config")
	}
	return e.Gitea.Files(e.Owner, appID, st.GitConfig.ConfigHash)
}

// Acceptance 1: install + two updateAppEnv = 3 commits newest first, only
// the newest deployed; the diff between first and last shows the .env
// lines; reads are cached by head.
func TestHistoryAndDiff(t *testing.T) {
	e := newEnv(t)
	histInstall(t, e, "hist1", "9151")
	h := histPage(t, e, "hist1", 0, "")
	if len(h.Commits) != 3 || h.TotalCount != 3 || h.HasNextPage {
		t.Fatalf("history: %+v", h)
	}
	deployed := 0
	for i, c := range h.Commits {
		if c.Deployed {
			deployed++
			if i != 0 {
				t.Errorf("commit %d (%s) is marked deployed; want the newest", i, c.Message)
			}
		}
	}
	if deployed != 1 {
		t.Errorf("%d commits deployed, want exactly 1", deployed)
	}
	if !strings.HasPrefix(h.Commits[2].Message, "Install whoami") || !strings.Contains(h.Commits[0].Message, "GREETING") {
		t.Errorf("order: %q ... %q", h.Commits[0].Message, h.Commits[2].Message)
	}
	// Every commit names its operation; those the key "console" asked for
	// name it too (the install here ran without a key).
	for i, c := range h.Commits {
		if !strings.Contains(c.Message, "\n\nOperation: ") || i < 2 && (!strings.Contains(c.Message, "Operation: update-env ") || !strings.Contains(c.Message, "API key: console") || !strings.HasPrefix(c.Author, "console")) {
			t.Errorf("commit %d: message %q author %q", i, c.Message, c.Author)
		}
	}
	if st := lcStack(t, e, "hist1"); st.GitConfig.ConfigHash != h.Commits[0].SHA {
		t.Errorf("stack runs %s, newest is %s", st.GitConfig.ConfigHash, h.Commits[0].SHA)
	}
	if !slices.ContainsFunc(h.Commits[0].Files, func(f gitea.AffectedFile) bool { return f.Path == ".env" && f.Status == "modified" }) {
		t.Errorf("files of the newest commit: %+v", h.Commits[0].Files)
	}
	// Pages: one commit after the newest.
	p2 := histPage(t, e, "hist1", 1, h.Commits[0].SHA)
	if len(p2.Commits) != 1 || p2.Commits[0].SHA != h.Commits[1].SHA || !p2.HasNextPage {
		t.Errorf("page after the newest: %+v", p2)
	}

	first, last := h.Commits[2].SHA, h.Commits[0].SHA
	d, err := e.Svc.Diff(context.Background(), "hist1", first, last)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d, "diff --git a/.env b/.env\n--- a/.env\n+++ b/.env\n@@ ") || !strings.Contains(d, "\n+GREETING=two\n") {
		t.Errorf("diff first..last:\n%s", d)
	}
	if strings.Contains(d, "docker-compose.yml") || strings.Contains(d, "GREETING=one") {
		t.Errorf("diff names what did not change between the two:\n%s", d)
	}
	back, err := e.Svc.Diff(context.Background(), "hist1", last, first)
	if err != nil || !strings.Contains(back, "\n-GREETING=two\n") {
		t.Errorf("diff last..first: %v\n%s", err, back)
	}
	if _, err := e.Svc.Diff(context.Background(), "hist1", first, strings.Repeat("ab", 20)); apperr.CodeOf(err) != apperr.NotFound {
		t.Errorf("diff to an unknown commit: %v", err)
	}

	// Cached by head: another read makes no Gitea call; a new head one.
	calls := e.Gitea.Faults.Calls(giteafake.RouteCommits)
	histPage(t, e, "hist1", 0, "")
	if n := e.Gitea.Faults.Calls(giteafake.RouteCommits) - calls; n != 0 {
		t.Errorf("a second read of an unchanged history made %d Gitea calls", n)
	}
	lcDone(t, e)(e.Svc.UpdateAppEnv(histCtx(), "hist1", []EnvSetting{{Name: "GREETING", Value: "three"}}))
	calls = e.Gitea.Faults.Calls(giteafake.RouteCommits)
	if h := histPage(t, e, "hist1", 0, ""); len(h.Commits) != 4 || !h.Commits[0].Deployed {
		t.Errorf("history after a fourth commit: %+v", h)
	}
	if n := e.Gitea.Faults.Calls(giteafake.RouteCommits) - calls; n != 1 {
		t.Errorf("reading a new head made %d Gitea calls, want 1", n)
	}
	// Batched: two apps in one call, one Gitea call each.
	histInstall(t, e, "hist2", "9152")
	calls = e.Gitea.Faults.Calls(giteafake.RouteCommits)
	hs, errs := e.Svc.NewView().Histories(context.Background(), []HistoryKey{{AppRef: AppRef{ID: "hist1"}}, {AppRef: AppRef{ID: "hist2"}}})
	if errs[0] != nil || errs[1] != nil || len(hs[0].Commits) != 4 || len(hs[1].Commits) != 3 {
		t.Fatalf("batch: %v %v", errs, hs)
	}
	if n := e.Gitea.Faults.Calls(giteafake.RouteCommits) - calls; n > 2 {
		t.Errorf("a batch of two apps made %d Gitea calls", n)
	}
}

// Acceptance 2: rollback to the first commit is one new commit that makes
// the material equal to it, redeployed; with the redeploy faulted, the
// operation reverts with another commit and ends ROLLED_BACK as it was.
func TestRollback(t *testing.T) {
	e := newEnv(t)
	histInstall(t, e, "back1", "9153")
	h := histPage(t, e, "back1", 0, "")
	first := h.Commits[2].SHA
	want := e.Gitea.Files(e.Owner, "back1", first)
	if slices.Contains(lcMain(t, e, "back1").Env, "GREETING=two") == false {
		t.Fatalf("before: container env %v", lcMain(t, e, "back1").Env)
	}

	op := lcDone(t, e)(e.Svc.RollbackApp(histCtx(), "back1", first, ""))
	if n := e.Gitea.Commits(e.Owner, "back1"); n != 4 {
		t.Errorf("repository has %d commits after the rollback, want 4", n)
	}
	if got := e.Gitea.Files(e.Owner, "back1", "main"); !maps.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("material after rollback differs from the first commit:\n%q\nwant\n%q", got[".env"], want[".env"])
	}
	if got := histStackFiles(t, e, "back1"); !maps.EqualFunc(got, want, bytes.Equal) {
		t.Error("the stack does not run the restored material")
	}
	if env := lcMain(t, e, "back1").Env; slices.ContainsFunc(env, func(s string) bool { return strings.HasPrefix(s, "GREETING=") }) {
		t.Errorf("the redeployed container still has GREETING: %v", env)
	}
	h = histPage(t, e, "back1", 0, "")
	msg := h.Commits[0].Message
	if !strings.Contains(msg, "Operation: rollback "+op.ID) || !strings.Contains(msg, "API key: console") || !strings.HasPrefix(h.Commits[0].Author, "console") {
		t.Errorf("rollback commit message %q author %q: want the operation and the key", msg, h.Commits[0].Author)
	}
	if !h.Commits[0].Deployed {
		t.Error("the rollback commit is not the deployed one")
	}

	// Faulted: roll back to the second commit, the redeploy fails once.
	second := h.Commits[2].SHA // 4 commits now: [restore, two, one, install]
	before := e.Gitea.Files(e.Owner, "back1", "main")
	beforeEnv := slices.Clone(lcMain(t, e, "back1").Env)
	e.Portainer.Faults.Fail(ptrRedeploy, faults.Fault{Status: 500, Body: `{"message":"Unable to redeploy","details":"injected"}`})
	op, err := e.Svc.RollbackApp(histCtx(), "back1", second, "")
	if err != nil {
		t.Fatal(err)
	}
	done := e.wait(op)
	if done.Status != ops.StatusRolledBack {
		t.Fatalf("faulted rollback: %s %s", done.Status, done.Error)
	}
	if n := e.Gitea.Commits(e.Owner, "back1"); n != 6 {
		t.Errorf("repository has %d commits, want 6 (the rollback and its revert)", n)
	}
	if got := e.Gitea.Files(e.Owner, "back1", "main"); !maps.EqualFunc(got, before, bytes.Equal) {
		t.Errorf("material after the undone rollback differs from before:\n%q\nwant\n%q", got[".env"], before[".env"])
	}
	if got := histStackFiles(t, e, "back1"); !maps.EqualFunc(got, before, bytes.Equal) {
		t.Error("the stack does not run the earlier material")
	}
	if env := lcMain(t, e, "back1").Env; !slices.Equal(sorted(env), sorted(beforeEnv)) {
		t.Errorf("container env after the undone rollback:\n%v\nwant\n%v", env, beforeEnv)
	}
	h = histPage(t, e, "back1", 0, "")
	if !strings.HasPrefix(h.Commits[0].Message, "Revert commit") || !strings.Contains(h.Commits[0].Message, "API key: console") {
		t.Errorf("revert commit message: %q", h.Commits[0].Message)
	}

	// Refused before anything is written.
	for _, c := range []struct {
		commit string
		code   apperr.Code
	}{
		{"abc", apperr.ValidationFailed},
		{strings.Repeat("ab", 20), apperr.ValidationFailed},
		{e.Gitea.Branch(e.Owner, "back1", "main"), apperr.PreconditionFailed},
	} {
		calls := e.Gitea.Faults.Calls(giteafake.RouteChangeFiles)
		if _, err := e.Svc.RollbackApp(histCtx(), "back1", c.commit, ""); apperr.CodeOf(err) != c.code {
			t.Errorf("rollback to %q: %v, want %s", c.commit, err, c.code)
		}
		if e.Gitea.Faults.Calls(giteafake.RouteChangeFiles) != calls {
			t.Errorf("rollback to %q wrote to Gitea", c.commit)
		}
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// Acceptance 3: bad compose, a path with "..", a 10 MiB file: each
// VALIDATION_FAILED with no Gitea write; a valid change is one commit and
// one redeploy.
func TestUpdateAppFiles(t *testing.T) {
	e := newEnv(t)
	if op := e.install(InstallRequest{AppName: "whoami", AppID: "files1", Settings: []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: "9154"}}}); op.Status != ops.StatusSucceeded {
		t.Fatal(op.Error)
	}
	compose := e.Gitea.Files(e.Owner, "files1", "main")["docker-compose.yml"]
	for _, c := range []struct {
		name  string
		edits []FileEdit
		field string
		text  string
	}{
		{"compose the loader rejects", []FileEdit{{Path: "docker-compose.yml", Content: append(bytes.Clone(compose), "servics:\n  x: {}\n"...)}}, "files[0]", "docker-compose.yml"},
		{"compose with a bad interpolation", []FileEdit{{Path: "docker-compose.yml", Content: []byte("services:\n  a:\n    image: ${W9_REPO:?W9_REPO must be set}x${NOPE:?nope is required}\n")}}, "files[0]", "docker-compose.yml"},
		{"dot-dot", []FileEdit{{Path: "../escape.txt", Content: []byte("x")}}, "files[0].path", ".."},
		{"dot-dot inside", []FileEdit{{Path: "src/../../x", Content: []byte("x")}}, "files[0].path", ".."},
		{"absolute", []FileEdit{{Path: "/etc/passwd", Content: []byte("x")}}, "files[0].path", "absolute"},
		{"git", []FileEdit{{Path: ".git/config", Content: []byte("x")}}, "files[0].path", ".git"},
		{"10 MiB", []FileEdit{{Path: "src/big.bin", Content: bytes.Repeat([]byte("a"), 10<<20)}}, "files[0].content", "bytes"},
		{"delete compose", []FileEdit{{Path: "docker-compose.yml", Delete: true}}, "files[0]", "cannot run"},
		{"twice", []FileEdit{{Path: "a", Content: []byte("1")}, {Path: "a", Content: []byte("2")}}, "files[1].path", "twice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			writes, commits := e.Gitea.Faults.Calls(giteafake.RouteChangeFiles), e.Gitea.Commits(e.Owner, "files1")
			_, err := e.Svc.UpdateAppFiles(histCtx(), "files1", c.edits, "", "")
			ae, ok := apperr.As(err)
			if !ok || ae.Code != apperr.ValidationFailed || ae.Field != c.field || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("got %v (%+v), want VALIDATION_FAILED on %s naming %q", err, ae, c.field, c.text)
			}
			if e.Gitea.Faults.Calls(giteafake.RouteChangeFiles) != writes || e.Gitea.Commits(e.Owner, "files1") != commits {
				t.Error("a refused change wrote to Gitea")
			}
		})
	}

	commits, redeploys := e.Gitea.Commits(e.Owner, "files1"), e.Portainer.Faults.Calls(ptrRedeploy)
	newCompose := strings.Replace(string(compose), `com.docker.compose.http.port: "80"`, "com.docker.compose.http.port: \"80\"\n      edited.by: appmanage", 1)
	if newCompose == string(compose) {
		t.Fatal("test compose edit did not apply")
	}
	op := lcDone(t, e)(e.Svc.UpdateAppFiles(histCtx(), "files1", []FileEdit{
		{Path: "docker-compose.yml", Content: []byte(newCompose)},
		{Path: "src/notes.txt", Content: []byte("hello\n")},
	}, "Label the container", ""))
	if n := e.Gitea.Commits(e.Owner, "files1"); n != commits+1 {
		t.Errorf("%d commits written, want 1", n-commits)
	}
	if n := e.Portainer.Faults.Calls(ptrRedeploy) - redeploys; n != 1 {
		t.Errorf("%d redeploys, want 1", n)
	}
	files := e.Gitea.Files(e.Owner, "files1", "main")
	if string(files["docker-compose.yml"]) != newCompose || string(files["src/notes.txt"]) != "hello\n" {
		t.Errorf("material after the change: %q", files["src/notes.txt"])
	}
	if lcMain(t, e, "files1").Labels["edited.by"] != "appmanage" {
		t.Errorf("the redeployed container lacks the new label: %v", lcMain(t, e, "files1").Labels)
	}
	h := histPage(t, e, "files1", 1, "")
	if m := h.Commits[0].Message; !strings.HasPrefix(m, "Label the container") || !strings.Contains(m, "Operation: update-files "+op.ID) || !strings.Contains(m, "API key: console") {
		t.Errorf("commit message %q", m)
	}
	// A change whose redeploy fails is reverted by another commit.
	before := e.Gitea.Files(e.Owner, "files1", "main")
	commits = e.Gitea.Commits(e.Owner, "files1")
	e.Portainer.Faults.Fail(ptrRedeploy, faults.Fault{Status: 500, Body: `{"message":"Unable to redeploy","details":"injected"}`})
	op, err := e.Svc.UpdateAppFiles(histCtx(), "files1", []FileEdit{{Path: "src/notes.txt", Content: []byte("changed\n")}}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if done := e.wait(op); done.Status != ops.StatusRolledBack {
		t.Fatalf("faulted change: %s %s", done.Status, done.Error)
	}
	if got := e.Gitea.Files(e.Owner, "files1", "main"); !maps.EqualFunc(got, before, bytes.Equal) || e.Gitea.Commits(e.Owner, "files1") != commits+2 {
		t.Errorf("after the reverted change: notes %q, %d commits (want the old material, 2 more commits)", got["src/notes.txt"], e.Gitea.Commits(e.Owner, "files1")-commits)
	}
	// Deleting a file is a change too.
	lcDone(t, e)(e.Svc.UpdateAppFiles(histCtx(), "files1", []FileEdit{{Path: "src/notes.txt", Delete: true}}, "", ""))
	if _, ok := e.Gitea.Files(e.Owner, "files1", "main")["src/notes.txt"]; ok {
		t.Error("src/notes.txt was not deleted")
	}
}

// sign is Gitea's X-Gitea-Signature.
func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func redeployOps(t *testing.T, e *testEnv, appID string) int {
	t.Helper()
	list, err := e.Engine.List(context.Background(), ops.ListFilter{AppID: appID, Kind: KindRedeploy})
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

// Acceptance 4: the install creates a push webhook with its own secret; a
// signed push starts one redeploy; unsigned, wrongly signed and
// replayed-for-another-repo deliveries start none; uninstall removes it.
func TestGiteaPushWebhook(t *testing.T) {
	e := newEnv(t)
	e.Svc.cfg.WebhookURL = "http://appmanage.test/hooks/gitea"
	e.Svc.UseSettings(e.DB)
	for i, id := range []string{"hook1", "hook2"} {
		if op := e.install(InstallRequest{AppName: "whoami", AppID: id, Settings: []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: []string{"9161", "9162"}[i]}}}); op.Status != ops.StatusSucceeded {
			t.Fatal(op.Error)
		}
	}
	hooks := e.Gitea.Hooks(e.Owner, "hook1")
	if len(hooks) != 1 || hooks[0].URL != e.Svc.cfg.WebhookURL || len(hooks[0].Secret) != 64 || !slices.Contains(hooks[0].Events, "push") || !hooks[0].Active {
		t.Fatalf("hooks of hook1: %+v", hooks)
	}
	secret := hooks[0].Secret
	if other := e.Gitea.Hooks(e.Owner, "hook2"); len(other) != 1 || other[0].Secret == secret {
		t.Fatalf("hook2 must have its own secret: %+v", other)
	}
	settings, _ := e.Svc.Settings(context.Background())
	for _, s := range settings {
		if s.Value != nil && strings.Contains(*s.Value, secret) {
			t.Fatal("the webhook secret is listed with the settings")
		}
	}

	// A user edits the material in Gitea.
	before := e.Gitea.Branch(e.Owner, "hook1", "main")
	f, err := e.Repos.GetFile(context.Background(), "hook1", ".env", "main")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Repos.CommitFiles(context.Background(), "hook1", gitea.Commit{Branch: "main", Message: "edit in Gitea", Files: []gitea.FileChange{
		{Operation: gitea.OpUpdate, Path: ".env", SHA: f.SHA, Content: append(f.Content, "GREETING=from-gitea\n"...)},
	}}); err != nil {
		t.Fatal(err)
	}
	body := e.Gitea.PushPayload(e.Owner, "hook1", "main", before)
	good := sign(secret, body)

	var forOther map[string]any
	_ = json.Unmarshal(body, &forOther)
	forOther["repository"].(map[string]any)["name"] = "hook2"
	forOther["repository"].(map[string]any)["full_name"] = e.Owner + "/hook2"
	other, _ := json.Marshal(forOther)
	forOther["repository"].(map[string]any)["name"] = "nosuch"
	forOther["repository"].(map[string]any)["full_name"] = e.Owner + "/nosuch"
	unknown, _ := json.Marshal(forOther)

	ctx := context.Background()
	for _, c := range []struct {
		name      string
		body      []byte
		signature string
		code      apperr.Code
	}{
		{"unsigned", body, "", apperr.Unauthenticated},
		{"wrongly signed", body, sign("not-the-secret", body), apperr.Unauthenticated},
		{"signed for another body", body, sign(secret, append(bytes.Clone(body), ' ')), apperr.Unauthenticated},
		{"replayed for another app", other, good, apperr.Unauthenticated},
		{"replayed for an unknown repository", unknown, good, apperr.NotFound},
	} {
		if _, err := e.Svc.GiteaPush(ctx, "push", c.signature, c.body); apperr.CodeOf(err) != c.code {
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
	}
	if n := redeployOps(t, e, "hook1") + redeployOps(t, e, "hook2"); n != 0 {
		t.Fatalf("refused deliveries started %d redeploys", n)
	}

	res, err := e.Svc.GiteaPush(ctx, "push", good, body)
	if err != nil || res.Operation == nil {
		t.Fatalf("signed push: %+v %v", res, err)
	}
	if done := e.wait(res.Operation); done.Status != ops.StatusSucceeded || done.Kind != KindRedeploy || done.AppID != "hook1" {
		t.Fatalf("redeploy: %+v", done)
	}
	if !slices.Contains(lcMain(t, e, "hook1").Env, "GREETING=from-gitea") {
		t.Error("the redeploy did not deploy the pushed commit")
	}
	// Delivered again (Gitea's "redeliver"): the commit runs, nothing starts.
	again, err := e.Svc.GiteaPush(ctx, "push", good, body)
	if err != nil || again.Operation != nil {
		t.Errorf("the same push again: %+v %v", again, err)
	}
	if n := redeployOps(t, e, "hook1"); n != 1 {
		t.Errorf("%d redeploys of hook1, want 1", n)
	}

	// A push of a commit appmanage wrote itself starts nothing: its own
	// operation deploys it.
	lcDone(t, e)(e.Svc.UpdateAppFiles(histCtx(), "hook1", []FileEdit{{Path: "src/x.txt", Content: []byte("x")}}, "", ""))
	ours := e.Gitea.PushPayload(e.Owner, "hook1", "main", before)
	if res, err := e.Svc.GiteaPush(ctx, "push", sign(secret, ours), ours); err != nil || res.Operation != nil {
		t.Errorf("push of our own commit: %+v %v", res, err)
	}
	// A push to another branch starts nothing either.
	var other2 map[string]any
	_ = json.Unmarshal(body, &other2)
	other2["ref"], other2["after"] = "refs/heads/feature", strings.Repeat("1", 40)
	feature, _ := json.Marshal(other2)
	if res, err := e.Svc.GiteaPush(ctx, "push", sign(secret, feature), feature); err != nil || res.Operation != nil {
		t.Errorf("push to another branch: %+v %v", res, err)
	}
	if n := redeployOps(t, e, "hook1"); n != 1 {
		t.Errorf("%d redeploys of hook1, want 1", n)
	}

	// Uninstall removes the webhook and its secret.
	deletes := e.Gitea.Faults.Calls(giteafake.RouteDeleteHook)
	lcDone(t, e)(e.Svc.Uninstall(ctx, "hook1", false, ""))
	if n := e.Gitea.Faults.Calls(giteafake.RouteDeleteHook) - deletes; n != 1 {
		t.Errorf("uninstall made %d webhook deletes, want 1", n)
	}
	if rec, err := e.Svc.webhookRecord(ctx, "hook1"); err != nil || rec != nil {
		t.Errorf("the secret outlived the uninstall: %+v %v", rec, err)
	}
	if _, err := e.Svc.GiteaPush(ctx, "push", good, body); apperr.CodeOf(err) != apperr.NotFound {
		t.Errorf("a push for an uninstalled app: %v", err)
	}
}

// A failing install undoes its webhook with the rest.
func TestWebhookUndoneWithInstall(t *testing.T) {
	e := newEnv(t)
	e.Svc.cfg.WebhookURL = "http://appmanage.test/hooks/gitea"
	e.Svc.UseSettings(e.DB)
	e.Portainer.Faults.Fail("POST /api/stacks/create/standalone/repository", faults.Fault{Status: 400, Body: `{"message":"Invalid request","details":"injected"}`})
	op := e.install(InstallRequest{AppName: "whoami", AppID: "hook3", Settings: []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: "9163"}}})
	if op.Status != ops.StatusRolledBack {
		t.Fatalf("install: %s %s", op.Status, op.Error)
	}
	if l := e.leftovers("hook3"); len(l) != 0 {
		t.Errorf("leftovers: %v", l)
	}
	if rec, err := e.Svc.webhookRecord(context.Background(), "hook3"); err != nil || rec != nil {
		t.Errorf("the secret outlived the rolled-back install: %+v %v", rec, err)
	}
}

// A crash inside a rollback's calls (its commit landed but the answer was
// lost; its redeploy in flight): the new process resumes the operation
// from its journal and ends it with exactly one commit, deployed.
func TestCrashDuringRollback(t *testing.T) {
	for _, p := range []crashPoint{
		{name: "commit landed, answer lost", fake: "gitea", route: giteafake.RouteChangeFiles, phase: faults.After},
		{name: "redeploy in flight", fake: "portainer", route: ptrRedeploy},
	} {
		t.Run(p.name, func(t *testing.T) {
			e := newEnv(t, withClientTimeout(crashHold))
			histInstall(t, e, "crash1", "9171")
			first := histPage(t, e, "crash1", 0, "").Commits[2].SHA
			want := e.Gitea.Files(e.Owner, "crash1", first)
			inj := e.injector(p.fake)
			before := inj.Calls(p.route)
			inj.Fail(p.route, faults.Fault{Delay: crashHold, Phase: p.phase})
			op, err := e.Svc.RollbackApp(histCtx(), "crash1", first, "")
			if err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(15 * time.Second); inj.Calls(p.route) == before; time.Sleep(2 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the run never called %s", p.route)
				}
			}
			e.Engine.Abandon()
			e.clearFaults()
			e.start(e.OpsOptions, e.Log)
			done := e.wait(op)
			e.checkResumed(p, done)
			if done.Status != ops.StatusSucceeded {
				t.Fatalf("rollback after the crash: %s %s", done.Status, done.Error)
			}
			if n := e.Gitea.Commits(e.Owner, "crash1"); n != 4 {
				t.Errorf("%d commits, want 4", n)
			}
			if got := histStackFiles(t, e, "crash1"); !maps.EqualFunc(got, want, bytes.Equal) {
				t.Error("the stack does not run the restored material")
			}
		})
	}
}

// CreateHook's answer lost: a transient failure is retried and adopts the
// hook that was made (one hook, install succeeds); a refusal rolls the
// install back with nothing left.
func TestWebhookCreateAnswerLost(t *testing.T) {
	for _, c := range []struct {
		status int
		want   ops.Status
	}{{502, ops.StatusSucceeded}, {500, ops.StatusRolledBack}} {
		e := newEnv(t)
		e.Svc.cfg.WebhookURL = "http://appmanage.test/hooks/gitea"
		e.Svc.UseSettings(e.DB)
		e.Gitea.Faults.Fail(giteafake.RouteCreateHook, faults.Fault{Status: c.status, Phase: faults.After, Body: `{"message":"injected"}`})
		op := e.install(InstallRequest{AppName: "whoami", AppID: "hook4", Settings: []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: "9164"}}})
		if op.Status != c.want {
			t.Fatalf("%d: install %s %s, want %s", c.status, op.Status, op.Error, c.want)
		}
		if c.want == ops.StatusSucceeded {
			hooks := e.Gitea.Hooks(e.Owner, "hook4")
			rec, _ := e.Svc.webhookRecord(context.Background(), "hook4")
			if len(hooks) != 1 || rec == nil || rec.HookID != hooks[0].ID || rec.Secret != hooks[0].Secret {
				t.Errorf("%d: hooks %+v, record %+v", c.status, hooks, rec)
			}
			continue
		}
		if l := e.leftovers("hook4"); len(l) != 0 {
			t.Errorf("%d: leftovers %v", c.status, l)
		}
		if rec, _ := e.Svc.webhookRecord(context.Background(), "hook4"); rec != nil {
			t.Errorf("%d: the secret outlived the rollback", c.status)
		}
	}
}
