package apps

import (
	"context"
	"strings"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/gitea"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/library/dotenv"
)

// locateStack finds the app's Portainer stack on any endpoint; apperr
// NOT_FOUND when there is none. Every operation on an installed app starts
// here, since Portainer holds the truth about what is deployed.
func (s *Service) locateStack(ctx context.Context, appID string) (*portainer.Stack, error) {
	stacks, err := s.stacks.ListStacks(ctx, 0)
	if err != nil {
		return nil, upstreamErr("portainer", err, "list stacks")
	}
	for _, st := range stacks {
		if strings.EqualFold(st.Name, appID) {
			return &st, nil // a copy: the list is shared
		}
	}
	return nil, apperr.New(apperr.NotFound, "no app %q", appID)
}

// envFile reads and parses the .env of the app's repository; sha is the
// blob a commit of a change must name.
func (s *Service) envFile(ctx context.Context, appID string) (env *dotenv.File, sha string, err error) {
	f, err := s.repos.GetFile(ctx, appID, ".env", "main")
	if notFound(err) {
		return nil, "", apperr.Precondition("id", "the repository of %s has no .env", appID)
	}
	if err != nil {
		return nil, "", upstreamErr("gitea", err, "read .env")
	}
	env, err = dotenv.Parse(f.Content)
	if err != nil {
		return nil, "", apperr.Precondition("id", "the repository's .env cannot be read: %v", err)
	}
	return env, f.SHA, nil
}

// commitEnv applies changes to the .env of the app's repository as one
// commit (the commit is the record of the change). It returns false, and
// commits nothing, when every value is already as asked.
func (s *Service) commitEnv(ctx context.Context, appID string, changes []EnvSetting, message string) (bool, error) {
	env, sha, err := s.envFile(ctx, appID)
	if err != nil {
		return false, err
	}
	return s.commitEnvAt(ctx, appID, env, sha, changes, message)
}

// commitEnvAt is commitEnv on a .env already read (env, at blob sha); it
// edits env.
func (s *Service) commitEnvAt(ctx context.Context, appID string, env *dotenv.File, sha string, changes []EnvSetting, message string) (bool, error) {
	changed := false
	for _, c := range changes {
		if old, ok := env.Get(c.Name); ok && old == c.Value {
			continue
		}
		if err := env.Set(c.Name, c.Value); err != nil {
			return false, apperr.Invalid("changes", "%s: %v", c.Name, err)
		}
		changed = true
	}
	if !changed {
		return false, nil
	}
	_, err := s.repos.CommitFiles(ctx, appID, gitea.Commit{Branch: "main", Message: message, Files: []gitea.FileChange{
		{Operation: gitea.OpUpdate, Path: ".env", Content: env.Bytes(), SHA: sha},
	}})
	if err != nil {
		return false, upstreamErr("gitea", err, "commit .env")
	}
	return true, nil
}

// redeployStack pulls the repository again and recreates the containers,
// resending the stack's full current git state (ref, Env, prune) and the
// clone credentials: Portainer clears whatever a redeploy omits.
func (s *Service) redeployStack(ctx context.Context, st *portainer.Stack, pullImages bool) (*portainer.Stack, error) {
	if st.GitConfig == nil {
		return nil, apperr.Precondition("id", "stack %s is not deployed from a git repository", st.Name)
	}
	out, err := s.stacks.RedeployStackGit(ctx, st.ID, st.EndpointID, portainer.GitRedeployFromStack(st, s.gitCreds(ctx), pullImages))
	if err != nil {
		return nil, upstreamErr("portainer", err, "redeploy stack")
	}
	return out, nil
}
