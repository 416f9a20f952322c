package apps

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/appmanage/appmanage/datasources/gitea"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/datasources/proxymanager"
	"github.com/appmanage/appmanage/library/dotenv"
	"github.com/appmanage/appmanage/ops"
)

// DriftKind names how an app differs from what its repository says.
type DriftKind string

// Drift kinds (the GraphQL DriftKind values).
const (
	// DriftStackMissing: appmanage installed the app (its journal says so,
	// and no uninstall followed), but Portainer has no stack of that name.
	DriftStackMissing DriftKind = "STACK_MISSING"
	// DriftStackNotGit: the stack is not deployed from the app's repository
	// (no git link, or a link to another repository).
	DriftStackNotGit DriftKind = "STACK_NOT_GIT"
	// DriftStackBehind: the stack runs a commit that is not the head of its
	// branch, and a commit since changed a file of the material (a commit
	// that only changes desiredFile is no reason to redeploy).
	DriftStackBehind DriftKind = "STACK_BEHIND"
	// DriftContainersDown: the stack is active but its main container does
	// not run.
	DriftContainersDown DriftKind = "CONTAINERS_DOWN"
	// DriftProxyMissing: a desired domain is carried by no NPM proxy host.
	DriftProxyMissing DriftKind = "PROXY_MISSING"
	// DriftProxyTargetWrong: a proxy host of the app forwards to another
	// scheme or port than its labels / .env say, or a host carrying one of
	// its desired domains forwards to another host.
	DriftProxyTargetWrong DriftKind = "PROXY_TARGET_WRONG"
	// DriftProxyOffline: an enabled proxy host of the app has
	// meta.nginx_online false (nginx did not load its configuration).
	DriftProxyOffline DriftKind = "PROXY_OFFLINE"
)

// DriftKinds lists every kind, in the order repairApp fixes them.
var DriftKinds = []DriftKind{DriftStackMissing, DriftStackNotGit, DriftStackBehind, DriftContainersDown,
	DriftProxyMissing, DriftProxyTargetWrong, DriftProxyOffline}

// DriftIssue is one way an app differs from its desired state.
type DriftIssue struct {
	Kind    DriftKind
	Message string
	// Repairable: repairApp can fix it from the repository alone.
	Repairable bool
	// ProxyID is the proxy host concerned (0 when none).
	ProxyID int
	// Domains are the domains concerned (PROXY_MISSING, PROXY_TARGET_WRONG).
	Domains []string
}

// installedKinds are the operations that make an app exist or stop existing.
var installedKinds = []string{KindInstall, KindInstallSource, KindUninstall}

// installedApps returns, by lower-cased app id, the install of every app
// whose newest install or uninstall is a succeeded install: the apps
// appmanage installed and nobody uninstalled through it. One SQLite read.
func (s *Service) installedApps(ctx context.Context) (map[string]*ops.Operation, error) {
	latest, err := s.engine.LatestAmong(ctx, installedKinds)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*ops.Operation, len(latest))
	for id, op := range latest {
		if isInstallKind(op.Kind) && op.Status == ops.StatusSucceeded {
			out[strings.ToLower(id)] = op
		}
	}
	return out, nil
}

// getInstalled is installedApps through the list cache (a poll of many
// apps reads the journal once per list TTL; it only matters for apps whose
// stack is gone, which a stale answer shows at most one TTL late).
func (v *View) getInstalled(ctx context.Context) (map[string]*ops.Operation, error) {
	return v.installed.get(ctx, func(ctx context.Context) (map[string]*ops.Operation, error) {
		return cached(ctx, v.s.lists, "installed", v.s.installedApps)
	})
}

// Drift returns each app's drift issues, computed from the lists the view
// already reads (stacks, one container list per endpoint, NPM's proxy-host
// list) and, per app, from its repository at the branch head: the head is
// read once per new head and kept until an operation on the app, a push
// webhook or the reconciler's pass says it moved (so a steady poll asks
// Gitea nothing), and each file once per commit. An app with an operation
// in flight, an unmanaged compose project and a failed install have none.
func (v *View) Drift(ctx context.Context, refs []AppRef) ([][]DriftIssue, []error) {
	recs, rerr := v.recordsOf(ctx, refs)
	if rerr != nil {
		return fill(refs, rerr, func(int) ([]DriftIssue, error) { return nil, nil })
	}
	latest, lerrs := v.LastOperations(ctx, refs)
	out := make([][]DriftIssue, len(refs))
	errs := make([]error, len(refs))
	var g errgroup.Group
	g.SetLimit(fetchLimit)
	for i, rec := range recs {
		if lerrs[i] != nil {
			errs[i] = lerrs[i]
			continue
		}
		if op := latest[i]; op != nil && op.Status.Active() {
			continue
		}
		g.Go(func() error {
			out[i], errs[i] = v.drift(ctx, rec)
			return nil
		})
	}
	_ = g.Wait()
	return out, errs
}

// drift computes one app's issues.
func (v *View) drift(ctx context.Context, rec *appRecord) ([]DriftIssue, error) {
	if rec.missing {
		return []DriftIssue{{Kind: DriftStackMissing, Repairable: true,
			Message: fmt.Sprintf("appmanage installed %s, but Portainer has no stack of that name: repair deploys it again from its repository", rec.ID)}}, nil
	}
	st := rec.stack
	if st == nil {
		return nil, nil
	}
	if !v.s.ownRepo(st) {
		installed, err := v.getInstalled(ctx)
		if err != nil {
			return nil, err
		}
		if installed[strings.ToLower(rec.ID)] == nil {
			return nil, nil // not ours: a stack made by hand
		}
		msg := fmt.Sprintf("stack %s (id %d) is not deployed from a git repository", st.Name, st.ID)
		if st.GitConfig != nil {
			msg = fmt.Sprintf("stack %s (id %d) is deployed from %s, not from the app's repository", st.Name, st.ID, st.GitConfig.URL)
		}
		return []DriftIssue{{Kind: DriftStackNotGit, Repairable: true, Message: msg + ": repair deploys it again from the app's repository"}}, nil
	}
	dr, err := v.s.desiredAt(ctx, st)
	if err != nil {
		return nil, err
	}
	var issues []DriftIssue
	x, err := v.getContainers(ctx, st.EndpointID)
	if err != nil {
		return nil, err
	}
	cs := x.project(st.Name)
	if st.Active() && st.Type == portainer.StackTypeKubernetes {
		issues = append(issues, kubeDrift(st, cs, dr.behind)...)
	} else if st.Active() {
		if dr.behind != "" {
			issues = append(issues, DriftIssue{Kind: DriftStackBehind, Repairable: true, Message: dr.behind})
		}
		if main := namedContainer(cs, st.Name); main == nil {
			issues = append(issues, DriftIssue{Kind: DriftContainersDown, Repairable: true,
				Message: fmt.Sprintf("stack %s is active but has no container %s", st.Name, st.Name)})
		} else if main.State != "running" {
			issues = append(issues, DriftIssue{Kind: DriftContainersDown, Repairable: true,
				Message: fmt.Sprintf("container %s is %s (%s)", st.Name, main.State, main.Status)})
		}
	}
	if dr.env == nil || !dr.env.Has("W9_URL") {
		return issues, nil // no web interface: no proxies
	}
	px, err := v.getProxies(ctx)
	if err != nil {
		return nil, err
	}
	own := px.byHost[strings.ToLower(st.Name)]
	var missing []string
	for _, d := range dr.domains {
		h := px.byDomain[d]
		switch {
		case h == nil:
			missing = append(missing, d)
		case !strings.EqualFold(h.ForwardHost, st.Name):
			other := strings.ToLower(h.ForwardHost)
			fix := "repair points it at " + st.Name
			repairable := true
			if v.isApp(ctx, other) {
				fix, repairable = "it belongs to app "+other+": change it by hand", false
			}
			issues = append(issues, DriftIssue{Kind: DriftProxyTargetWrong, Repairable: repairable, ProxyID: h.ID, Domains: []string{d},
				Message: fmt.Sprintf("domain %s is served by proxy host %d, which forwards to %s, not %s; %s", d, h.ID, h.ForwardHost, st.Name, fix)})
		}
	}
	if len(missing) > 0 {
		issues = append(issues, DriftIssue{Kind: DriftProxyMissing, Repairable: true, Domains: missing,
			Message: fmt.Sprintf("no NPM proxy host serves %s (recorded in %s)", strings.Join(missing, ", "), dr.domainSource)})
	}
	// The target is judged against running containers' labels: without
	// containers (a stopped app) the .env alone may not say the port.
	t, terr := resolveTarget(ctx, cs, st.Name, nil, dr.read)
	for _, h := range own {
		if terr == nil && len(cs) > 0 && (h.ForwardScheme != t.Scheme || h.ForwardPort != t.Port) {
			issues = append(issues, DriftIssue{Kind: DriftProxyTargetWrong, Repairable: true, ProxyID: h.ID, Domains: h.DomainNames,
				Message: fmt.Sprintf("proxy host %d forwards to %s://%s:%d; the app's %s says %s://%s:%d", h.ID, h.ForwardScheme,
					h.ForwardHost, h.ForwardPort, t.PortSource, t.Scheme, st.Name, t.Port)})
		}
		if h.Enabled && h.Meta.NginxOnline != nil && !*h.Meta.NginxOnline {
			reason := ""
			if h.Meta.NginxErr != nil {
				reason = ": " + clip(*h.Meta.NginxErr)
			}
			issues = append(issues, DriftIssue{Kind: DriftProxyOffline, Repairable: true, ProxyID: h.ID, Domains: h.DomainNames,
				Message: fmt.Sprintf("nginx does not serve proxy host %d (%s)%s", h.ID, strings.Join(h.DomainNames, ", "), reason)})
		}
	}
	return issues, nil
}

// isApp reports whether id names an app of the listing (a stack, or an
// app appmanage installed).
func (v *View) isApp(ctx context.Context, id string) bool {
	stacks, err := v.getStacks(ctx)
	if err == nil && len(derive(&v.s.derived, "stacks", stacks, newStackIndex)[id]) > 0 {
		return true
	}
	installed, err := v.getInstalled(ctx)
	return err == nil && installed[id] != nil
}

// desiredState is what an app's repository says, read at its branch head
// (at the deployed commit while the head is not known).
type desiredState struct {
	sha          string
	read         repoReader
	env          *dotenv.File // nil: no .env
	domains      []string
	domainSource string
	behind       string // why the stack is STACK_BEHIND; "" when it is not
}

// desiredAt reads the desired state of a stack deployed from its own
// repository.
func (s *Service) desiredAt(ctx context.Context, st *portainer.Stack) (*desiredState, error) {
	_, repo, _ := s.repoOwnerName(st)
	g := st.GitConfig
	branch := strings.TrimPrefix(g.ReferenceName, "refs/heads/")
	if branch == "" {
		branch = "main"
	}
	d := &desiredState{sha: g.ConfigHash}
	head, log, err := s.knownHead(ctx, repo, branch)
	if err != nil {
		return nil, err
	}
	if head != "" {
		d.sha = head
		if g.ConfigHash != "" && !strings.EqualFold(head, g.ConfigHash) {
			d.behind = behindReason(st.Name, log, g.ConfigHash, head)
		}
	}
	if d.sha == "" {
		d.sha = "main"
	}
	d.read = func(ctx context.Context, path string) ([]byte, bool, error) {
		e, err := s.repoFile(ctx, fileKey{app: repo, sha: d.sha, path: path})
		return e.data, !e.missing, err
	}
	b, found, err := d.read(ctx, ".env")
	if err != nil {
		return nil, err
	}
	if found {
		if env, perr := dotenv.Parse(b); perr == nil {
			d.env = env
		}
	}
	d.domains, d.domainSource, err = desiredDomains(ctx, d.read, d.env)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// behindReason says why a stack at deployed is behind head, or "" when
// every commit since deployed only changed desiredFile.
func behindReason(name string, log *historyLog, deployed, head string) string {
	reason := fmt.Sprintf("stack %s runs commit %s; the head of its branch is %s", name, shortID(deployed), shortID(head))
	if log == nil {
		return reason
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	n := 0
	for _, c := range log.commits {
		if strings.EqualFold(c.SHA, deployed) {
			if n == 0 {
				return ""
			}
			return fmt.Sprintf("%s (%d commit(s) not deployed)", reason, n)
		}
		if slices.ContainsFunc(c.Files, func(f gitea.AffectedFile) bool { return f.Path != desiredFile }) || len(c.Files) == 0 {
			n++
		}
	}
	return reason // deployed is older than the cached pages, or not on the branch
}

// knownHead returns the head of an app's branch and its cached history:
// the head last seen, however old (operations on the app, the push
// webhook and the reconciler drop it when it may have moved), else one
// Gitea call that reads it. "" when the branch has no commit.
func (s *Service) knownHead(ctx context.Context, repo, branch string) (string, *historyLog, error) {
	if sha, ok := s.history.known(repo, branch); ok {
		if l, ok := s.history.logs.Get(repo + "\x00" + sha); ok {
			return sha, l, nil
		}
	}
	l, err := s.historyLog(ctx, repo, branch)
	if err != nil {
		return "", nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.commits) == 0 {
		return "", nil, nil
	}
	return l.commits[0].SHA, l, nil
}

// known returns the head last seen for an app's branch, whatever its age.
func (c *historyCache) known(appID, branch string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.heads[strings.ToLower(appID)+"\x00"+branch]
	return e.sha, ok
}

// AppDrift is one app's issues, for the reconciler and repairApp.
type AppDrift struct {
	AppRef
	Issues []DriftIssue
}

// driftOf computes the drift of one app (a fresh view: fresh lists).
func (s *Service) driftOf(ctx context.Context, appID string) (*AppSummary, []DriftIssue, error) {
	v := s.NewView()
	a, _, err := v.App(ctx, appID, false)
	if err != nil || a == nil {
		return a, nil, err
	}
	rec, err := v.record(ctx, a.AppRef)
	if err != nil {
		return a, nil, err
	}
	issues, err := v.drift(ctx, rec)
	return a, issues, err
}

// proxyByDomain indexes every host's domains (lower-cased) to the host
// with the lowest id carrying it.
func proxyByDomain(hs []proxymanager.ProxyHost) map[string]*proxymanager.ProxyHost {
	out := make(map[string]*proxymanager.ProxyHost, len(hs))
	for i := range hs {
		for _, d := range hs[i].DomainNames {
			d = strings.ToLower(d)
			if cur, ok := out[d]; !ok || hs[i].ID < cur.ID {
				out[d] = &hs[i]
			}
		}
	}
	return out
}
