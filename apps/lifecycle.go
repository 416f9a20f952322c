package apps

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/datasources/upstream"
	"github.com/appmanage/appmanage/ops"
)

// Lifecycle operation kinds.
const (
	KindStart     = "start"
	KindStop      = "stop"
	KindRestart   = "restart"
	KindRedeploy  = "redeploy"
	KindUpdateGit = "update-git"
	KindUpdateEnv = "update-env"
)

// LifecycleInput is journalled with a lifecycle operation. The stack is
// named by id and by name: a step re-reads it (its state may have changed
// since the preflight) and falls back to the name if the id is gone.
type LifecycleInput struct {
	AppID      string       `json:"appId"`
	EndpointID int          `json:"endpointId"`
	StackID    int          `json:"stackId"`
	PullImages bool         `json:"pullImages,omitempty"`
	Git        *GitChange   `json:"git,omitempty"`
	Env        []EnvSetting `json:"env,omitempty"`
	Actor      string       `json:"actor,omitempty"` // the API key's name, named in commits
	// Material is the form of an app on a Kubernetes endpoint ("" =
	// compose; kubernetes.go).
	Material string `json:"material,omitempty"`
}

// GitChange edits the stack's git link. Nil fields keep what the stack has.
type GitChange struct {
	// ReferenceName is a branch or tag ("refs/heads/main"; a bare name means
	// a branch).
	ReferenceName *string `json:"referenceName,omitempty"`
	// AutoUpdateInterval is Portainer's polling interval (a Go duration);
	// "" turns auto-update off.
	AutoUpdateInterval *string `json:"autoUpdateInterval,omitempty"`
	// Authenticate re-sends the credentials appmanage holds (true); false or
	// nil keep the stored ones.
	Authenticate bool `json:"authenticate,omitempty"`
}

func (s *Service) lifecycleWorkflows() []ops.Workflow {
	start := ops.Step{Name: "start", Weight: 3, Timeout: s.cfg.DeployTimeout, Retries: 2, Do: s.stepStart}
	stop := ops.Step{Name: "stop", Weight: 2, Timeout: s.cfg.DeployTimeout, Retries: 2, Do: s.stepStop}
	redeploy := ops.Step{Name: "redeploy", Weight: 3, Timeout: s.cfg.DeployTimeout, Retries: 2, Do: s.stepRedeploy}
	// Once the container runs again, proxies nginx refused meanwhile are
	// tested again (see stepReloadProxies).
	proxies := ops.Step{Name: "proxies", Weight: 1, Timeout: s.cfg.StepTimeout, Do: s.stepReloadProxies}
	return []ops.Workflow{
		{Kind: KindStart, Steps: []ops.Step{start, proxies}},
		{Kind: KindStop, Steps: []ops.Step{stop}},
		{Kind: KindRestart, Steps: []ops.Step{stop, start, proxies}},
		{Kind: KindRedeploy, Steps: []ops.Step{redeploy, proxies}},
		{Kind: KindUpdateGit, Steps: []ops.Step{{Name: "git", Weight: 1, Timeout: s.cfg.DeployTimeout, Retries: 2, Do: s.stepUpdateGit}}},
		{Kind: KindUpdateEnv, Steps: []ops.Step{
			{Name: "commit", Weight: 1, Timeout: s.cfg.StepTimeout, Retries: 2, Do: s.stepCommitEnv},
			redeploy, proxies,
		}},
	}
}

// StartApp starts a stopped app (Portainer stack start).
func (s *Service) StartApp(ctx context.Context, id, idempotencyKey string) (*ops.Operation, error) {
	if op, done, err := s.kubeLifecycle(ctx, KindStart, id, idempotencyKey, LifecycleInput{}); done {
		return op, err
	}
	return s.submitLifecycle(ctx, KindStart, id, idempotencyKey, LifecycleInput{}, func(st *portainer.Stack) error {
		if st.Active() {
			return apperr.Precondition("id", "app %s is already running", id)
		}
		return nil
	})
}

// StopApp stops a running app (Portainer stack stop: its containers are
// removed, its volumes kept).
func (s *Service) StopApp(ctx context.Context, id, idempotencyKey string) (*ops.Operation, error) {
	if op, done, err := s.kubeLifecycle(ctx, KindStop, id, idempotencyKey, LifecycleInput{}); done {
		return op, err
	}
	return s.submitLifecycle(ctx, KindStop, id, idempotencyKey, LifecycleInput{}, func(st *portainer.Stack) error {
		if !st.Active() {
			return apperr.Precondition("id", "app %s is already stopped", id)
		}
		return nil
	})
}

// RestartApp stops, then starts the app (Portainer has no restart); a
// stopped app is just started.
func (s *Service) RestartApp(ctx context.Context, id, idempotencyKey string) (*ops.Operation, error) {
	if op, done, err := s.kubeLifecycle(ctx, KindRestart, id, idempotencyKey, LifecycleInput{}); done {
		return op, err
	}
	return s.submitLifecycle(ctx, KindRestart, id, idempotencyKey, LifecycleInput{}, nil)
}

// RedeployApp pulls the repository again and recreates the containers,
// with the stack's full current git settings and our credentials.
func (s *Service) RedeployApp(ctx context.Context, id string, pullImages bool, idempotencyKey string) (*ops.Operation, error) {
	// An app built from source rebuilds its image from the newest commit.
	pullImages = pullImages || s.FromSource(ctx, id)
	if op, done, err := s.kubeLifecycle(ctx, KindRedeploy, id, idempotencyKey, LifecycleInput{PullImages: pullImages}); done {
		return op, err
	}
	return s.submitLifecycle(ctx, KindRedeploy, id, idempotencyKey, LifecycleInput{PullImages: pullImages}, requireGit(id))
}

var refPattern = regexp.MustCompile(`^[A-Za-z0-9._/-]{1,200}$`)

// UpdateAppGit changes the stack's git link (POST /stacks/{id}/git) and
// keeps every setting it does not name. It does not redeploy.
func (s *Service) UpdateAppGit(ctx context.Context, id string, change GitChange) (*ops.Operation, error) {
	if change.ReferenceName != nil {
		ref := strings.TrimSpace(*change.ReferenceName)
		if !refPattern.MatchString(ref) || strings.Contains(ref, "..") || strings.HasSuffix(ref, "/") {
			return nil, apperr.Invalid("input.referenceName", "%q is not a branch or tag reference", clip(ref))
		}
		if !strings.HasPrefix(ref, "refs/") {
			ref = "refs/heads/" + ref
		}
		change.ReferenceName = &ref
	}
	if change.AutoUpdateInterval != nil && *change.AutoUpdateInterval != "" {
		d, err := time.ParseDuration(*change.AutoUpdateInterval)
		if err != nil || d < time.Minute {
			return nil, apperr.Invalid("input.autoUpdateInterval", "want a Go duration of at least 1m, such as 5m")
		}
	}
	if change.ReferenceName == nil && change.AutoUpdateInterval == nil && !change.Authenticate {
		return nil, apperr.Invalid("input", "nothing to change")
	}
	return s.submitLifecycle(ctx, KindUpdateGit, id, "", LifecycleInput{Git: &change}, requireGit(id))
}

// protectedEnv are .env keys that name the app; changing them would break
// the link between repository, stack, container and proxy.
var protectedEnv = map[string]bool{"W9_ID": true, "W9_APP_NAME": true}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// UpdateAppEnv commits the changes to the .env of the app's repository (one
// commit, the record of the change), then redeploys the app.
func (s *Service) UpdateAppEnv(ctx context.Context, id string, changes []EnvSetting) (*ops.Operation, error) {
	if len(changes) == 0 {
		return nil, apperr.Invalid("changes", "nothing to change")
	}
	seen := map[string]bool{}
	for i, c := range changes {
		field := fmt.Sprintf("changes[%d]", i)
		switch {
		case !envName.MatchString(c.Name):
			return nil, apperr.Invalid(field, "%q is not a variable name", clip(c.Name))
		case protectedEnv[c.Name]:
			return nil, apperr.Invalid(field, "%s names the app and cannot be changed", c.Name)
		case seen[c.Name]:
			return nil, apperr.Invalid(field, "%s is given twice", c.Name)
		}
		seen[c.Name] = true
		if err := ValidateEnvValue(field, c.Value); err != nil {
			return nil, err
		}
	}
	return s.submitLifecycle(ctx, KindUpdateEnv, id, "", LifecycleInput{Env: changes}, func(st *portainer.Stack) error {
		if err := requireGit(id)(st); err != nil {
			return err
		}
		if !s.ownRepo(st) {
			return apperr.Precondition("id", "app %s is not deployed from a repository of appmanage's Gitea", id)
		}
		return nil
	})
}

func requireGit(id string) func(*portainer.Stack) error {
	return func(st *portainer.Stack) error {
		if st.GitConfig == nil {
			return apperr.Precondition("id", "app %s is not deployed from a git repository", id)
		}
		return nil
	}
}

// submitLifecycle is the synchronous preflight shared by the lifecycle
// mutations: idempotent replay, a valid id, no operation in flight, a stack
// (NOT_FOUND without one), the transition allowed (check), then submit.
func (s *Service) submitLifecycle(ctx context.Context, kind, id, key string, in LifecycleInput, check func(*portainer.Stack) error) (*ops.Operation, error) {
	if op, done, err := s.replay(ctx, key, kind, id); done {
		return op, err
	}
	if err := ValidateAppID("id", id); err != nil {
		// Not one of our ids; it may still be a stack made by hand.
		if strings.TrimSpace(id) == "" || len(id) > 100 {
			return nil, err
		}
	}
	if err := s.refuseActive(ctx, id); err != nil {
		return nil, err
	}
	if err := s.refuseKube(ctx, id, kind); err != nil {
		return nil, err
	}
	st, err := s.locateStack(ctx, id)
	if err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(st); err != nil {
			return nil, err
		}
	}
	in.AppID, in.EndpointID, in.StackID, in.Actor = st.Name, st.EndpointID, st.ID, actor(ctx)
	return s.engine.Submit(ctx, ops.SubmitRequest{Kind: kind, AppID: id, Input: in, IdempotencyKey: key})
}

func (s *Service) lifecycleInput(r *ops.Run) (LifecycleInput, error) {
	var in LifecycleInput
	if err := r.Input(&in); err != nil {
		return in, err
	}
	return in, nil
}

// currentStack reads the operation's input and re-reads the stack it is
// about (by id, else by name: a stack recreated since has a new id).
func (s *Service) currentStack(ctx context.Context, r *ops.Run) (LifecycleInput, *portainer.Stack, error) {
	in, err := s.lifecycleInput(r)
	if err != nil {
		return in, nil, err
	}
	st, err := s.stacks.GetStack(ctx, in.StackID)
	if err == nil && strings.EqualFold(st.Name, in.AppID) {
		return in, st, nil
	}
	if err != nil && !notFound(err) {
		return in, nil, retryIfTransient(upstreamErr("portainer", err, "read stack"))
	}
	st, err = s.stacks.FindStackByName(ctx, in.EndpointID, in.AppID)
	if notFound(err) {
		return in, nil, apperr.New(apperr.NotFound, "app %s has no stack any more", in.AppID)
	}
	if err != nil {
		return in, nil, retryIfTransient(upstreamErr("portainer", err, "look up stack"))
	}
	return in, st, nil
}

// stepStart starts the stack unless it already runs (a resumed or retried
// step finds its own effect), then waits for the main container.
func (s *Service) stepStart(ctx context.Context, r *ops.Run) error {
	if done, err := s.kubeLifecycleStep(ctx, r, "start"); done {
		return err
	}
	_, st, err := s.currentStack(ctx, r)
	if err != nil {
		return err
	}
	if st.Active() {
		r.Logf("stack %s is active", st.Name)
	} else {
		if _, err := s.stacks.StartStack(ctx, st.ID, st.EndpointID); err != nil {
			// The start may have happened although the answer was lost.
			if again, gerr := s.stacks.GetStack(ctx, st.ID); gerr != nil || !again.Active() {
				if perr := startRefused(st, err); perr != nil {
					return perr
				}
				return retryIfTransient(upstreamErr("portainer", err, "start stack"))
			}
		}
		r.Logf("started stack %s (id %d)", st.Name, st.ID)
	}
	return s.waitRunning(ctx, r, st.EndpointID, st.Name)
}

// stepStop stops the stack unless it is already stopped.
func (s *Service) stepStop(ctx context.Context, r *ops.Run) error {
	if done, err := s.kubeLifecycleStep(ctx, r, "stop"); done {
		return err
	}
	_, st, err := s.currentStack(ctx, r)
	if err != nil {
		return err
	}
	if !st.Active() {
		r.Logf("stack %s is stopped", st.Name)
		return nil
	}
	if _, err := s.stacks.StopStack(ctx, st.ID, st.EndpointID); err != nil {
		if again, gerr := s.stacks.GetStack(ctx, st.ID); gerr != nil || again.Active() {
			if perr := stopRefused(st, err); perr != nil {
				return perr
			}
			return retryIfTransient(upstreamErr("portainer", err, "stop stack"))
		}
	}
	r.Logf("stopped stack %s (id %d)", st.Name, st.ID)
	return nil
}

// startRefused maps Portainer's refusals of a stack start to
// PRECONDITION_FAILED (nil for any other error). Portainer checks the name
// before the status (stack_start.go, 2.19-2.23): containers labelled with
// the project, running or not, or another stack of that name, answer 409
// "A stack with the name '<n>' is already running"; a stack its database
// holds as active answers 400 "Stack is already active" (2.3x: 409 for
// both, and for a deploy in progress).
func startRefused(st *portainer.Stack, err error) error {
	switch upstream.StatusOf(err) {
	case 409:
		return refused(err,
			"app %s is already running: containers of project %s exist on endpoint %d (remove them first)", st.Name, st.Name, st.EndpointID)
	case 400:
		if strings.Contains(err.Error(), "already active") {
			return refused(err, "app %s is already running", st.Name)
		}
	}
	return nil
}

// stopRefused is startRefused for a stop: 400 "Stack is already inactive",
// or a 409 (2.3x: "Stack deployment is in progress").
func stopRefused(st *portainer.Stack, err error) error {
	switch upstream.StatusOf(err) {
	case 409:
		return refused(err, "app %s cannot be stopped now", st.Name)
	case 400:
		if strings.Contains(err.Error(), "already inactive") {
			return refused(err, "app %s is already stopped", st.Name)
		}
	}
	return nil
}

// refused is a PRECONDITION_FAILED on the app id that keeps Portainer's
// answer as its cause.
func refused(err error, format string, args ...any) error {
	e := apperr.Wrap(apperr.PreconditionFailed, err, format, args...)
	e.Field, e.Upstream = "id", "portainer"
	return e
}

// gitCreds are the credentials re-sent to Portainer: ours when we hold
// some, else nil (Portainer then reuses the stored password).
func (s *Service) gitCreds(ctx context.Context) *portainer.GitCredentials {
	git := s.ups(ctx).git
	if git.Password == "" {
		return nil
	}
	return &portainer.GitCredentials{Username: git.Username, Password: git.Password}
}

// stepRedeploy pulls the repository and recreates the containers, sending
// the stack's full git state (ref, Env, prune) and credentials, since
// Portainer clears whatever a redeploy omits. Running it twice is harmless.
func (s *Service) stepRedeploy(ctx context.Context, r *ops.Run) error {
	if done, err := s.kubeLifecycleStep(ctx, r, "redeploy"); done {
		return err
	}
	in, st, err := s.currentStack(ctx, r)
	if err != nil {
		return err
	}
	out, err := s.redeployStack(ctx, st, in.PullImages)
	if err != nil {
		return retryIfTransient(err)
	}
	hash := ""
	if out.GitConfig != nil {
		hash = out.GitConfig.ConfigHash
	}
	r.Logf("redeployed stack %s from %s at %s", st.Name, st.GitConfig.ReferenceName, shortID(hash))
	return s.waitRunning(ctx, r, st.EndpointID, st.Name)
}

// stepUpdateGit sends the stack's current git settings with the change
// applied (POST /stacks/{id}/git replaces every field). Sending the same
// change twice is harmless.
func (s *Service) stepUpdateGit(ctx context.Context, r *ops.Run) error {
	in, st, err := s.currentStack(ctx, r)
	if err != nil {
		return err
	}
	if st.GitConfig == nil || in.Git == nil {
		return apperr.Precondition("id", "stack %s is not deployed from a git repository", st.Name)
	}
	var creds *portainer.GitCredentials
	if in.Git.Authenticate {
		creds = s.gitCreds(ctx)
	}
	req := portainer.GitUpdateFromStack(st, creds)
	if in.Git.ReferenceName != nil {
		req.RepositoryReferenceName = *in.Git.ReferenceName
	}
	if iv := in.Git.AutoUpdateInterval; iv != nil {
		if *iv == "" {
			req.AutoUpdate = nil
		} else {
			au := portainer.AutoUpdate{}
			if req.AutoUpdate != nil {
				au = *req.AutoUpdate
			}
			au.Interval = *iv
			req.AutoUpdate = &au
		}
	}
	out, err := s.stacks.UpdateStackGit(ctx, st.ID, st.EndpointID, req)
	if err != nil {
		return retryIfTransient(upstreamErr("portainer", err, "update the stack's git settings"))
	}
	interval := "off"
	if out.AutoUpdate != nil && out.AutoUpdate.Interval != "" {
		interval = out.AutoUpdate.Interval
	}
	ref := req.RepositoryReferenceName
	if out.GitConfig != nil {
		ref = out.GitConfig.ReferenceName
	}
	r.Logf("git settings of stack %s: reference %s, auto-update %s; they apply from the next redeploy", st.Name, ref, interval)
	return nil
}

// stepCommitEnv commits the .env change; run again (resumed, retried) it
// finds the values in place and commits nothing.
func (s *Service) stepCommitEnv(ctx context.Context, r *ops.Run) error {
	in, err := s.lifecycleInput(r)
	if err != nil {
		return err
	}
	names := make([]string, len(in.Env))
	for i, c := range in.Env {
		names[i] = c.Name
	}
	changed, err := s.commitEnv(ctx, in.AppID, in.Env, "Update "+strings.Join(names, ", ")+" in .env")
	if err != nil {
		return retryIfTransient(err)
	}
	if changed {
		r.Logf("committed the change of %s to the .env of %s", strings.Join(names, ", "), in.AppID)
	} else {
		r.Logf(".env of %s already has these values", in.AppID)
	}
	return nil
}
