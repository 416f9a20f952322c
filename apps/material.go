package apps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/auth"
	"github.com/appmanage/appmanage/datasources/gitea"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/ops"
)

// Operations that change the app's material: each writes one commit on the
// branch the stack deploys (history is never rewritten), then redeploys. If
// the redeploy fails, the commit is undone by another commit that makes the
// material equal to what it was, and what ran before is deployed again.
const (
	KindUpdateFiles = "update-files"
	KindRollback    = "rollback"
)

// MaterialInput is journalled with an update-files or rollback operation.
// The embedded LifecycleInput names the stack, so the lifecycle's redeploy
// step runs on it unchanged.
type MaterialInput struct {
	LifecycleInput
	Branch  string `json:"branch"`
	Message string `json:"message,omitempty"` // the user's summary (update-files)
	// Edits are the files update-files writes or deletes.
	Edits []FileEdit `json:"edits,omitempty"`
	// Target is the commit rollback restores.
	Target string `json:"target,omitempty"`
	// Upgrade is the version change an upgrade commits.
	Upgrade *UpgradeTarget `json:"upgrade,omitempty"`
}

// FileEdit is one change of UpdateAppFiles: new content for Path, or its
// deletion.
type FileEdit struct {
	Path    string `json:"path"`
	Content []byte `json:"content,omitempty"`
	Delete  bool   `json:"delete,omitempty"`
}

// Journal keys of the material operations.
const (
	stateHeadBefore     = "headBefore"     // the branch head when the operation began
	stateCommit         = "commit"         // the commit the operation wrote
	stateRevert         = "revert"         // the commit that undid it
	stateRedeployTried  = "redeployTried"  // the redeploy step reached Portainer
	stateDeployedBefore = "deployedBefore" // the stack's ConfigHash when the operation began
)

func (s *Service) materialWorkflows() []ops.Workflow {
	commit := ops.Step{Name: "commit", Weight: 1, Timeout: s.cfg.StepTimeout, Retries: 2,
		Do: s.stepMaterialCommit, Undo: s.undoMaterialCommit}
	redeploy := ops.Step{Name: "redeploy", Weight: 3, Timeout: s.cfg.DeployTimeout, Retries: 2,
		Do: func(ctx context.Context, r *ops.Run) error {
			if err := r.Set(stateRedeployTried, true); err != nil {
				return err
			}
			return s.stepRedeploy(ctx, r)
		}}
	return []ops.Workflow{
		{Kind: KindUpdateFiles, Steps: []ops.Step{commit, redeploy}},
		{Kind: KindRollback, Steps: []ops.Step{commit, redeploy}},
	}
}

// actor is the name of the API key behind ctx ("" without one).
func actor(ctx context.Context) string {
	if p, ok := auth.FromContext(ctx); ok {
		return p.KeyName
	}
	return ""
}

// submitMaterial is the synchronous part shared by UpdateAppFiles and
// RollbackApp: the lifecycle preflight (idempotent replay, no operation in
// flight, a stack deployed from our Gitea), then check (which reads the
// material and may refuse), then submit.
func (s *Service) submitMaterial(ctx context.Context, kind, id, key string, in MaterialInput, check func(ctx context.Context, repo, branch string, st *portainer.Stack) error) (*ops.Operation, error) {
	return s.submitMaterialReserving(ctx, kind, id, key, in, func(ctx context.Context, repo, branch string, st *portainer.Stack) ([]string, error) {
		return nil, check(ctx, repo, branch, st)
	})
}

// submitMaterialReserving is submitMaterial whose check also names the
// resources (host ports) the operation holds while it runs.
func (s *Service) submitMaterialReserving(ctx context.Context, kind, id, key string, in MaterialInput, check func(ctx context.Context, repo, branch string, st *portainer.Stack) ([]string, error)) (*ops.Operation, error) {
	if op, done, err := s.replay(ctx, key, kind, id); done {
		return op, err
	}
	if err := ValidateAppID("id", id); err != nil {
		return nil, err
	}
	if err := s.refuseActive(ctx, id); err != nil {
		return nil, err
	}
	st, err := s.locateStack(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := requireGit(id)(st); err != nil {
		return nil, err
	}
	_, repo, ok := s.repoOwnerName(st)
	if !ok {
		return nil, apperr.Precondition("id", "app %s is not deployed from a repository of appmanage's Gitea", id)
	}
	branch := strings.TrimPrefix(st.GitConfig.ReferenceName, "refs/heads/")
	if branch == "" || strings.HasPrefix(branch, "refs/") {
		return nil, apperr.Precondition("id", "app %s is deployed from %s, not from a branch", id, st.GitConfig.ReferenceName)
	}
	reserve, err := check(ctx, repo, branch, st)
	if err != nil {
		return nil, err
	}
	in.AppID, in.EndpointID, in.StackID, in.Branch = st.Name, st.EndpointID, st.ID, branch
	in.Actor = actor(ctx)
	op, err := s.engine.Submit(ctx, ops.SubmitRequest{Kind: kind, AppID: id, Input: in, IdempotencyKey: key, Reservations: reserve})
	if re, ok := errors.AsType[*ops.ReservationError](err); ok {
		return nil, reservationErr(re)
	}
	return op, err
}

// branchHead is the commit the branch points at ("" for an empty
// repository).
func (s *Service) branchHead(ctx context.Context, repo, branch string) (string, error) {
	page, err := s.repos.ListHistory(ctx, repo, branch, 1, 1)
	if err != nil {
		return "", upstreamErr("gitea", err, "read the head of "+repo+" "+branch)
	}
	if len(page.Commits) == 0 {
		return "", nil
	}
	return page.Commits[0].SHA, nil
}

// treeChanges are the file changes that make the material at from equal,
// byte for byte, to the material at to (each update and delete names the
// blob it replaces at from, so a concurrent push makes the commit fail
// instead of being overwritten).
func (s *Service) treeChanges(ctx context.Context, repo, from, to string) ([]gitea.FileChange, error) {
	paths, err := s.changedPaths(ctx, repo, from, to)
	if err != nil {
		return nil, err
	}
	var out []gitea.FileChange
	for _, p := range paths {
		want, err := s.repoFile(ctx, fileKey{app: repo, sha: to, path: p})
		if err != nil {
			return nil, err
		}
		cur, err := s.repos.GetFile(ctx, repo, p, from)
		switch {
		case notFound(err):
			if !want.missing {
				out = append(out, gitea.FileChange{Operation: gitea.OpCreate, Path: p, Content: want.data})
			}
		case err != nil:
			return nil, upstreamErr("gitea", err, "read "+p)
		case want.missing:
			out = append(out, gitea.FileChange{Operation: gitea.OpDelete, Path: p, SHA: cur.SHA})
		case !bytes.Equal(cur.Content, want.data):
			out = append(out, gitea.FileChange{Operation: gitea.OpUpdate, Path: p, Content: want.data, SHA: cur.SHA})
		}
	}
	return out, nil
}

// editChanges are the changes of UpdateAppFiles against the material at
// head (files already as asked are left out).
func (s *Service) editChanges(ctx context.Context, repo, head string, edits []FileEdit) ([]gitea.FileChange, error) {
	var out []gitea.FileChange
	for _, e := range edits {
		cur, err := s.repos.GetFile(ctx, repo, e.Path, head)
		exists := err == nil
		if err != nil && !notFound(err) {
			return nil, upstreamErr("gitea", err, "read "+e.Path)
		}
		switch {
		case e.Delete && exists:
			out = append(out, gitea.FileChange{Operation: gitea.OpDelete, Path: e.Path, SHA: cur.SHA})
		case e.Delete:
		case !exists:
			out = append(out, gitea.FileChange{Operation: gitea.OpCreate, Path: e.Path, Content: e.Content})
		case !bytes.Equal(cur.Content, e.Content):
			out = append(out, gitea.FileChange{Operation: gitea.OpUpdate, Path: e.Path, Content: e.Content, SHA: cur.SHA})
		}
	}
	return out, nil
}

// plan is what the operation still has to commit on top of head.
func (s *Service) plan(ctx context.Context, in MaterialInput, repo, head string) ([]gitea.FileChange, string, error) {
	if in.Upgrade != nil {
		return s.upgradeChanges(ctx, in, repo, head)
	}
	if in.Target != "" {
		changes, err := s.treeChanges(ctx, repo, head, in.Target)
		return changes, "Restore the material of commit " + shortID(in.Target), err
	}
	changes, err := s.editChanges(ctx, repo, head, in.Edits)
	summary := in.Message
	if summary == "" {
		paths := make([]string, len(in.Edits))
		for i, e := range in.Edits {
			paths[i] = e.Path
		}
		summary = "Update " + strings.Join(paths, ", ")
	}
	return changes, summary, err
}

func (s *Service) materialInput(r *ops.Run) (MaterialInput, string, error) {
	var in MaterialInput
	if err := r.Input(&in); err != nil {
		return in, "", err
	}
	return in, in.AppID, nil
}

// stepMaterialCommit writes the operation's one commit. Run again (retried,
// resumed) it finds its commit (or a head already equal to what it wants)
// and writes nothing.
func (s *Service) stepMaterialCommit(ctx context.Context, r *ops.Run) error {
	in, repo, err := s.materialInput(r)
	if err != nil {
		return err
	}
	var done string
	if ok, err := r.Get(stateCommit, &done); err != nil || ok {
		return err
	}
	head, err := s.branchHead(ctx, repo, in.Branch)
	if err != nil {
		return retryIfTransient(err)
	}
	var before string
	if ok, err := r.Get(stateHeadBefore, &before); err != nil {
		return err
	} else if !ok {
		before = head
		if err := r.Set(stateHeadBefore, before); err != nil {
			return err
		}
		if _, st, err := s.currentStack(ctx, r); err == nil && st.GitConfig != nil {
			if err := r.Set(stateDeployedBefore, st.GitConfig.ConfigHash); err != nil {
				return err
			}
		}
	}
	changes, summary, err := s.plan(ctx, in, repo, head)
	if err != nil {
		return retryIfTransient(err)
	}
	if len(changes) == 0 {
		if head != before {
			r.Logf("commit %s already holds the change", shortID(head))
			return r.Set(stateCommit, head)
		}
		r.Logf("the material already is as asked: nothing to commit")
		return nil
	}
	res, err := s.repos.CommitFiles(ctx, repo, gitea.Commit{Branch: in.Branch, Message: summary, Files: changes})
	if err != nil {
		// The commit may have landed although the answer was lost: a head
		// that moved and already holds the change is it.
		if again, herr := s.branchHead(ctx, repo, in.Branch); herr == nil && again != head {
			if left, _, perr := s.plan(ctx, in, repo, again); perr == nil && len(left) == 0 {
				r.Logf("the commit landed although the call failed: %s", shortID(again))
				return r.Set(stateCommit, again)
			}
		}
		return retryIfTransient(upstreamErr("gitea", err, "commit the change"))
	}
	r.Logf("committed %d file change(s) as %s on %s", len(changes), shortID(res.SHA), in.Branch)
	s.history.forget(repo)
	return r.Set(stateCommit, res.SHA)
}

// undoMaterialCommit makes the material equal to what it was before the
// operation with one more commit (never rewriting history), then, if the
// redeploy step got as far as Portainer, deploys that again.
func (s *Service) undoMaterialCommit(ctx context.Context, r *ops.Run) error {
	in, repo, err := s.materialInput(r)
	if err != nil {
		return err
	}
	var before string
	if ok, err := r.Get(stateHeadBefore, &before); err != nil || !ok || before == "" {
		return err
	}
	head, err := s.branchHead(ctx, repo, in.Branch)
	if err != nil {
		return err
	}
	if head != before {
		changes, err := s.treeChanges(ctx, repo, head, before)
		if err != nil {
			return err
		}
		if len(changes) > 0 {
			var ours string
			_, _ = r.Get(stateCommit, &ours)
			summary := fmt.Sprintf("Revert commit %s: restore the material of %s", shortID(ours), shortID(before))
			res, err := s.repos.CommitFiles(ctx, repo, gitea.Commit{Branch: in.Branch, Message: summary, Files: changes})
			if err != nil {
				return upstreamErr("gitea", err, "commit the revert")
			}
			s.history.forget(repo)
			r.Logf("reverted: commit %s restores the material of %s", shortID(res.SHA), shortID(before))
			if err := r.Set(stateRevert, res.SHA); err != nil {
				return err
			}
		}
	}
	var tried bool
	if _, err := r.Get(stateRedeployTried, &tried); err != nil || !tried {
		return err
	}
	_, st, err := s.currentStack(ctx, r)
	if err != nil {
		return err
	}
	out, err := s.redeployStack(ctx, st, false)
	if err != nil {
		return err
	}
	hash := ""
	if out.GitConfig != nil {
		hash = out.GitConfig.ConfigHash
	}
	r.Logf("redeployed stack %s with the material of %s (at %s)", st.Name, shortID(before), shortID(hash))
	return s.waitRunning(ctx, r, st.EndpointID, st.Name)
}
