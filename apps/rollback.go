package apps

import (
	"context"
	"strings"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/ops"
)

// RollbackApp makes the app's material equal to an earlier commit of its
// branch by writing one new commit (history is never rewritten), then
// redeploys. If the redeploy fails, another commit restores the material
// as it was and the earlier state is deployed again: the operation ends
// ROLLED_BACK with the app as it was.
func (s *Service) RollbackApp(ctx context.Context, id, commit, idempotencyKey string) (*ops.Operation, error) {
	if op, done, err := s.replay(ctx, idempotencyKey, KindRollback, id); done {
		return op, err
	}
	commit = strings.ToLower(strings.TrimSpace(commit))
	if !fullSHA(commit) {
		return nil, apperr.Invalid("commit", "want a full commit id (40 or 64 hex digits), as history lists them")
	}
	in := MaterialInput{Target: commit}
	return s.submitMaterial(ctx, KindRollback, id, idempotencyKey, in, func(ctx context.Context, repo, branch string, _ *portainer.Stack) error {
		head, err := s.branchHead(ctx, repo, branch)
		if err != nil {
			return err
		}
		// The commit must be part of the branch's history: nothing in it
		// that the head lacks.
		ahead, err := s.repos.Compare(ctx, repo, head, commit)
		if notFound(err) {
			return apperr.Invalid("commit", "the repository of %s has no commit %s", id, commit)
		}
		if err != nil {
			return upstreamErr("gitea", err, "look up commit "+shortID(commit))
		}
		if len(ahead) > 0 {
			return apperr.Invalid("commit", "commit %s is not in the history of branch %s", commit, branch)
		}
		paths, err := s.changedPaths(ctx, repo, head, commit)
		if err != nil {
			return err
		}
		if len(paths) == 0 {
			return apperr.Precondition("commit", "the material of %s already equals commit %s", id, shortID(commit))
		}
		return nil
	})
}
