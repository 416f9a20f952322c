package apps

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/proxymanager"
	"github.com/appmanage/appmanage/ops"
)

// KindRepair is repairApp's operation kind.
const KindRepair = "repair"

// RepairInput is journalled with a repair.
type RepairInput struct {
	AppID      string `json:"appId"`
	EndpointID int    `json:"endpointId"`
	Actor      string `json:"actor,omitempty"`
}

// repairWorkflow fixes an app's drift in a safe order: the stack (recreated
// from the repository when it is missing or not linked to it), then the
// containers (a redeploy of a stack behind its branch or whose main
// container does not run), then the proxies (created, corrected,
// re-saved), then a check that no drift is left. Every step re-reads the
// state it fixes, so running it again (a retry, a resumed operation) does
// only what is still needed. Nothing is undone: a repair that cannot fix
// something fails naming it, and leaves what it fixed fixed.
func (s *Service) repairWorkflow() ops.Workflow {
	return ops.Workflow{Kind: KindRepair, KeepDone: true, Steps: []ops.Step{
		{Name: "stack", Weight: 4, Timeout: s.cfg.DeployTimeout, Retries: 2, Do: s.stepRepairStack},
		{Name: "containers", Weight: 3, Timeout: s.cfg.DeployTimeout, Retries: 2, Do: s.stepRepairContainers},
		{Name: "proxies", Weight: 2, Timeout: s.cfg.StepTimeout, Retries: 2, Do: s.stepRepairProxies},
		{Name: "verify", Weight: 1, Timeout: s.cfg.StepTimeout, Retries: 2, Do: s.stepRepairVerify},
	}}
}

// RepairApp starts an operation that brings the app back to what its
// repository says (see repairWorkflow). NOT_FOUND for an app appmanage
// neither deploys from its repository nor installed; CONFLICT while
// another operation holds it.
func (s *Service) RepairApp(ctx context.Context, appID string) (*ops.Operation, error) {
	if err := ValidateAppID("id", appID); err != nil {
		return nil, err
	}
	if err := s.refuseActive(ctx, appID); err != nil {
		return nil, err
	}
	if err := s.refuseKube(ctx, appID, "repair"); err != nil {
		return nil, err
	}
	a, issues, err := s.driftOf(ctx, appID)
	if err != nil {
		return nil, err
	}
	if a == nil || !s.manages(ctx, appID) {
		return nil, apperr.New(apperr.NotFound, "no app %q that appmanage installed or deploys from its repository", appID)
	}
	for _, is := range issues {
		if !is.Repairable {
			return nil, apperr.Precondition("id", "app %s cannot be repaired automatically: %s: %s", appID, is.Kind, is.Message)
		}
	}
	return s.engine.Submit(ctx, ops.SubmitRequest{Kind: KindRepair, AppID: appID,
		Input: RepairInput{AppID: appID, EndpointID: a.EndpointID, Actor: actor(ctx)}})
}

// manages reports whether appmanage may rebuild the app from its
// repository: it installed it (and nobody uninstalled it), or its stack is
// deployed from a repository of appmanage's Gitea. A stack made by hand is
// never touched.
func (s *Service) manages(ctx context.Context, appID string) bool {
	if s.isInstalled(ctx, appID) {
		return true
	}
	st, err := s.locateStack(ctx, appID)
	return err == nil && s.ownRepo(st)
}

func (s *Service) isInstalled(ctx context.Context, appID string) bool {
	m, err := s.installedApps(ctx)
	return err == nil && m[strings.ToLower(appID)] != nil
}

func repairInput(r *ops.Run) (RepairInput, error) {
	var in RepairInput
	if err := r.Input(&in); err != nil {
		return in, fmt.Errorf("decode repair input: %w", err)
	}
	return in, nil
}

// stepRepairStack makes sure a stack deployed from the app's repository
// exists: a missing one is created from the repository, one that is not
// linked to it is deleted (its volumes are kept) and created again.
func (s *Service) stepRepairStack(ctx context.Context, r *ops.Run) error {
	in, err := repairInput(r)
	if err != nil {
		return err
	}
	st, err := s.stacks.FindStackByName(ctx, in.EndpointID, in.AppID)
	switch {
	case err == nil && s.ownRepo(st):
		r.Logf("stack %s (id %d) is deployed from the app's repository", st.Name, st.ID)
		return nil
	case err == nil:
		if !s.isInstalled(ctx, in.AppID) {
			return apperr.Precondition("id", "STACK_NOT_GIT: stack %s was not installed by appmanage; it is left as it is", st.Name)
		}
		if err := s.stacks.DeleteStack(ctx, st.ID, st.EndpointID); err != nil && !notFound(err) {
			return retryIfTransient(upstreamErr("portainer", err, "delete the stack that is not linked to the repository"))
		}
		r.Logf("deleted stack %s (id %d), which was not deployed from the app's repository (volumes kept)", st.Name, st.ID)
	case !notFound(err):
		return retryIfTransient(upstreamErr("portainer", err, "look up stack"))
	}
	repo, err := s.repos.GetRepo(ctx, in.AppID)
	if notFound(err) {
		return apperr.Precondition("id", "STACK_MISSING: the repository %s/%s is gone, so there is nothing to rebuild the stack from", s.repos.Owner(), in.AppID)
	}
	if err != nil {
		return retryIfTransient(upstreamErr("gitea", err, "read repository"))
	}
	st, err = s.stacks.CreateStackFromRepository(ctx, in.EndpointID, s.repositoryStack(ctx, in.AppID, repo))
	if err != nil {
		if found, ferr := s.stacks.FindStackByName(ctx, in.EndpointID, in.AppID); ferr == nil {
			st, err = found, nil
			r.Logf("stack %s was created although the call failed; using it", in.AppID)
		}
	}
	if err != nil {
		return retryIfTransient(upstreamErr("portainer", err, "create stack"))
	}
	r.Logf("deployed stack %s (id %d) from %s", st.Name, st.ID, repo.HTMLURL)
	return s.waitRunning(ctx, r, in.EndpointID, in.AppID)
}

// stepRepairContainers redeploys an active stack that is behind its branch
// or whose main container does not run, and waits for it. A stopped stack
// is left stopped: stopping is the user's choice, not drift.
func (s *Service) stepRepairContainers(ctx context.Context, r *ops.Run) error {
	in, err := repairInput(r)
	if err != nil {
		return err
	}
	s.history.forget(in.AppID)
	_, issues, err := s.driftOf(ctx, in.AppID)
	if err != nil {
		return retryIfTransient(err)
	}
	need := slices.ContainsFunc(issues, func(is DriftIssue) bool {
		return is.Kind == DriftStackBehind || is.Kind == DriftContainersDown
	})
	if !need {
		r.Logf("the stack runs its branch's head and its main container runs")
		return nil
	}
	st, err := s.stacks.FindStackByName(ctx, in.EndpointID, in.AppID)
	if err != nil {
		return retryIfTransient(upstreamErr("portainer", err, "look up stack"))
	}
	out, err := s.redeployStack(ctx, st, false)
	if err != nil {
		return retryIfTransient(err)
	}
	hash := ""
	if out.GitConfig != nil {
		hash = out.GitConfig.ConfigHash
	}
	r.Logf("redeployed stack %s at %s", st.Name, shortID(hash))
	return s.waitRunning(ctx, r, st.EndpointID, st.Name)
}

// stepRepairProxies publishes every desired domain, points every proxy
// host of the app at the target its labels / .env say, and re-saves the
// hosts nginx does not serve (which makes NPM write and test their
// configuration again).
func (s *Service) stepRepairProxies(ctx context.Context, r *ops.Run) error {
	in, err := repairInput(r)
	if err != nil {
		return err
	}
	_, issues, err := s.driftOf(ctx, in.AppID)
	if err != nil {
		return retryIfTransient(err)
	}
	var touched []int
	for _, is := range issues {
		switch is.Kind {
		case DriftProxyMissing:
			id, err := s.publishDomains(ctx, r, in, is.Domains)
			if err != nil {
				return err
			}
			touched = append(touched, id)
		case DriftProxyTargetWrong, DriftProxyOffline:
			if slices.Contains(touched, is.ProxyID) {
				continue
			}
			if err := s.correctProxy(ctx, r, in, is.ProxyID); err != nil {
				return err
			}
			touched = append(touched, is.ProxyID)
		}
	}
	if len(touched) == 0 {
		r.Logf("the app's proxies are as its repository says")
	}
	for _, id := range touched {
		if err := s.checkOnline(ctx, r, id); err != nil {
			return err
		}
	}
	return nil
}

// publishDomains adds domains to the app's proxy host with the lowest id,
// or creates the app's proxy when it has none (a host of the app found
// with the domains already is this step's own earlier attempt).
func (s *Service) publishDomains(ctx context.Context, r *ops.Run, in RepairInput, domains []string) (int, error) {
	own, err := s.appProxies(ctx, in.AppID)
	if err != nil {
		return 0, retryIfTransient(err)
	}
	slices.SortFunc(own, func(x, y proxymanager.ProxyHost) int { return x.ID - y.ID })
	if len(own) > 0 {
		h := own[0]
		want := slices.Clone(h.DomainNames)
		for _, d := range domains {
			if !carriesDomain(want, d) {
				want = append(want, d)
			}
		}
		if len(want) == len(h.DomainNames) {
			return h.ID, nil
		}
		if err := s.putDomains(ctx, r, h.ID, want); err != nil {
			return 0, err
		}
		r.Logf("proxy host %d serves %s again", h.ID, strings.Join(domains, ", "))
		return h.ID, nil
	}
	t, err := s.proxyTarget(ctx, in.EndpointID, in.AppID, nil)
	if err != nil {
		return 0, retryIfTransient(err)
	}
	h, err := s.proxies.CreateProxyHost(ctx, proxymanager.ProxyHostRequest{
		DomainNames: domains, ForwardScheme: t.Scheme, ForwardHost: in.AppID, ForwardPort: t.Port,
		BlockExploits: true, AllowWebsocketUpgrade: true, AdvancedConfig: t.Conf,
	})
	if err != nil {
		if found, ferr := s.findProxy(ctx, in.AppID); ferr == nil && found != nil {
			return found.ID, nil
		}
		return 0, retryIfTransient(domainErr(upstreamErr("npm", err, "create proxy host"), err))
	}
	r.Logf("created proxy host %d: %s -> %s://%s:%d (port from %s, extra conf from %s)", h.ID, strings.Join(domains, ", "),
		t.Scheme, in.AppID, t.Port, t.PortSource, t.ConfSource)
	return h.ID, nil
}

// correctProxy sets a host's forward scheme, host and port to the app's
// target; the PUT also makes NPM write and test its configuration again.
func (s *Service) correctProxy(ctx context.Context, r *ops.Run, in RepairInput, id int) error {
	t, err := s.proxyTarget(ctx, in.EndpointID, in.AppID, nil)
	if err != nil {
		return retryIfTransient(err)
	}
	_, err = s.proxies.UpdateProxyHost(ctx, id, proxymanager.ProxyHostUpdate{
		ForwardScheme: new(t.Scheme), ForwardHost: new(in.AppID), ForwardPort: new(t.Port),
	})
	var ne *proxymanager.NginxError
	if errors.As(err, &ne) {
		return nginxErr(ne)
	}
	if err != nil {
		return retryIfTransient(upstreamErr("npm", err, fmt.Sprintf("update proxy host %d", id)))
	}
	r.Logf("proxy host %d forwards to %s://%s:%d (port from %s)", id, t.Scheme, in.AppID, t.Port, t.PortSource)
	return nil
}

// stepRepairVerify computes the drift afresh: the repair succeeds only
// when none is left.
func (s *Service) stepRepairVerify(ctx context.Context, r *ops.Run) error {
	in, err := repairInput(r)
	if err != nil {
		return err
	}
	s.lists.invalidate()
	s.history.forget(in.AppID)
	_, issues, err := s.driftOf(ctx, in.AppID)
	if err != nil {
		return retryIfTransient(err)
	}
	if len(issues) == 0 {
		r.Logf("no drift left")
		return nil
	}
	msgs := make([]string, len(issues))
	for i, is := range issues {
		msgs[i] = string(is.Kind) + ": " + is.Message
	}
	return apperr.New(apperr.PreconditionFailed, "could not repair %s", strings.Join(msgs, "; "))
}
