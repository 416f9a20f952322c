package apps

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/ops"
)

// UninstallInput is journalled with an uninstall operation.
type UninstallInput struct {
	AppID      string `json:"appId"`
	EndpointID int    `json:"endpointId"`
	PurgeData  bool   `json:"purgeData"`
	// StackID is the stack the request found (0: none, or an older
	// journal); the stack step deletes it without looking it up again.
	StackID int `json:"stackId,omitempty"`
	// Kubernetes marks an app on a Kubernetes endpoint: the stack step
	// removes its stack, Helm release and namespace (kubernetes.go).
	Kubernetes bool `json:"kubernetes,omitempty"`
}

// Uninstall removes the app's repository, then its proxies, then its stack
// (the spec's order), rolling forward until all are gone. It works for apps
// another tool installed (a stack without a repository) and for the record
// of a failed install, whose leftovers it cleans.
func (s *Service) Uninstall(ctx context.Context, appID string, purgeData bool, idempotencyKey string) (*ops.Operation, error) {
	if op, done, err := s.replay(ctx, idempotencyKey, KindUninstall, appID); done {
		return op, err
	}
	if err := ValidateAppID("id", appID); err != nil {
		return nil, err
	}
	if err := s.refuseActive(ctx, appID); err != nil {
		return nil, err
	}
	in := UninstallInput{AppID: appID, PurgeData: purgeData}
	found := false
	stacks, err := s.stacks.ListStacks(ctx, 0)
	if err != nil {
		return nil, upstreamErr("portainer", err, "list stacks")
	}
	for _, st := range stacks {
		if strings.EqualFold(st.Name, appID) {
			in.EndpointID, in.StackID, found = st.EndpointID, st.ID, true
			in.Kubernetes = st.Type == portainer.StackTypeKubernetes
			break
		}
	}
	if !found {
		// No stack: a failed install, or leftovers of one.
		last, err := s.engine.LatestByApp(ctx, []string{appID})
		if err != nil {
			return nil, err
		}
		if op := last[appID]; op != nil && isInstallKind(op.Kind) {
			var ii InstallInput
			if err := json.Unmarshal(op.Input, &ii); err == nil {
				in.EndpointID, in.Kubernetes = ii.EndpointID, ii.Material != ""
			}
			found = true
		}
	}
	if !found {
		// An app appmanage installed whose stack (and maybe repository)
		// was deleted behind its back: listed with drift STACK_MISSING.
		if installed, err := s.installedApps(ctx); err != nil {
			return nil, err
		} else if op := installed[strings.ToLower(appID)]; op != nil {
			var ii InstallInput
			if err := json.Unmarshal(op.Input, &ii); err == nil {
				in.EndpointID, in.Kubernetes = ii.EndpointID, ii.Material != ""
			}
			found = true
		}
	}
	if !found {
		if _, err := s.repos.GetRepo(ctx, appID); err == nil {
			found = true
		} else if !notFound(err) {
			return nil, upstreamErr("gitea", err, "look up repository")
		}
	}
	if !found {
		return nil, apperr.New(apperr.NotFound, "no app %q", appID)
	}
	if in.EndpointID == 0 {
		// With no endpoint up there is no stack to remove either; an
		// upstream failure, though, is the caller's to retry.
		ep, err := s.pickEndpoint(ctx, 0)
		switch {
		case err == nil:
			in.EndpointID = ep.ID
		case apperr.CodeOf(err) != apperr.PreconditionFailed:
			return nil, err
		}
	}
	return s.engine.Submit(ctx, ops.SubmitRequest{Kind: KindUninstall, AppID: appID, Input: in, IdempotencyKey: idempotencyKey})
}

func (s *Service) uninstallWorkflow() ops.Workflow {
	return ops.Workflow{
		Kind:        KindUninstall,
		RollForward: true,
		Steps: []ops.Step{
			{Name: "webhook", Weight: 1, Timeout: s.cfg.StepTimeout, Do: s.stepDeleteWebhook},
			{Name: "repository", Weight: 1, Timeout: s.cfg.StepTimeout, Do: s.stepDeleteRepository},
			{Name: "proxies", Weight: 1, Timeout: s.cfg.StepTimeout, Do: s.stepDeleteProxies},
			{Name: "stack", Weight: 3, Timeout: s.cfg.DeployTimeout, Do: s.stepDeleteStack},
		},
	}
}

func (s *Service) stepDeleteRepository(ctx context.Context, r *ops.Run) error {
	if err := s.repos.DeleteRepo(ctx, r.AppID()); err != nil {
		if notFound(err) {
			r.Logf("no repository %s", r.AppID())
			return nil
		}
		return upstreamErr("gitea", err, "delete repository")
	}
	r.Logf("deleted repository %s", r.AppID())
	return nil
}

func (s *Service) stepDeleteProxies(ctx context.Context, r *ops.Run) error {
	return s.removeProxies(ctx, r, r.AppID())
}

func (s *Service) stepDeleteStack(ctx context.Context, r *ops.Run) error {
	var in UninstallInput
	if err := r.Input(&in); err != nil {
		return err
	}
	if done, err := s.kubeDeleteStep(ctx, r, in); done {
		return err
	}
	return s.removeStackByID(ctx, r, in.EndpointID, in.AppID, in.StackID, in.PurgeData, nil)
}
