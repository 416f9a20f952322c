package apps

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/gitea"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/datasources/proxymanager"
	"github.com/appmanage/appmanage/ops"
)

// OrphanKind is what kind of resource an orphan is.
type OrphanKind string

// Orphan kinds (the GraphQL OrphanKind values).
const (
	OrphanRepository OrphanKind = "REPOSITORY"
	OrphanProxyHost  OrphanKind = "PROXY_HOST"
	OrphanVolume     OrphanKind = "VOLUME"
)

// OrphanKinds lists every kind.
var OrphanKinds = []OrphanKind{OrphanRepository, OrphanProxyHost, OrphanVolume}

// Orphan is a resource appmanage made for an app that is no longer there.
type Orphan struct {
	Kind OrphanKind
	// Name: the repository's name, the volume's name, or the proxy host's
	// domains joined with ", ".
	Name string
	// App is the app id the resource is named after (repository name,
	// proxy forward_host, volume compose project).
	App        string
	ProxyID    int // PROXY_HOST
	EndpointID int // VOLUME
	Reason     string
	// Removed and Error are set by a sweep.
	Removed bool
	Error   string
}

// appmanageRepoMark ends the description install gives a repository.
const appmanageRepoMark = "installed by appmanage"

// Orphans lists the resources that belong to no app and to no operation in
// flight, as far as appmanage can tell they are its own:
//   - REPOSITORY: a repository of the owner whose description says
//     appmanage installed it, or named after an app its journal knows,
//     with no stack, no installed app and no operation of that name;
//   - PROXY_HOST: an NPM proxy host forwarding to an app id the journal
//     knows (appmanage installed it once) that is no app now;
//   - VOLUME: a volume whose compose project is such an id (an uninstall
//     without purgeData keeps them) on an endpoint that is up.
//
// Resources appmanage never made (a host forwarding to some other
// container, another project's volumes) are never listed. It reads the
// repository list, the proxy-host list and one volume list per endpoint.
func (s *Service) Orphans(ctx context.Context) ([]Orphan, error) {
	v := s.NewView()
	list, err := v.Apps(ctx, ListQuery{})
	if err != nil {
		return nil, err
	}
	// An endpoint that is down is skipped (its volumes are not listed
	// either, below); one whose list failed is not.
	if problems := v.withoutDownEndpoints(list.Problems); len(problems) > 0 {
		return nil, fmt.Errorf("cannot tell orphans while the apps cannot all be read: %w", problems[0])
	}
	apps := map[string]bool{}
	for _, a := range list.Apps {
		apps[strings.ToLower(a.ID)] = true
	}
	active, err := s.activeApps(ctx)
	if err != nil {
		return nil, err
	}
	known, err := s.engine.LatestAmong(ctx, installedKinds)
	if err != nil {
		return nil, err
	}
	ours := map[string]bool{}
	for id := range known {
		ours[strings.ToLower(id)] = true
	}
	free := func(id string) bool {
		id = strings.ToLower(id)
		return ValidateAppID("id", id) == nil && !apps[id] && !active[id]
	}

	var repos []gitea.Repository
	var hosts []proxymanager.ProxyHost
	var vols []Orphan
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		repos, err = s.repos.ListRepos(gctx)
		return upstreamErr("gitea", err, "list repositories")
	})
	g.Go(func() (err error) {
		hosts, err = s.proxies.ListProxyHosts(gctx)
		return upstreamErr("npm", err, "list proxy hosts")
	})
	g.Go(func() (err error) {
		vols, err = s.orphanVolumes(gctx, func(p string) bool { return free(p) && ours[strings.ToLower(p)] })
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []Orphan
	for _, r := range repos {
		if !free(r.Name) || !(ours[strings.ToLower(r.Name)] || strings.HasSuffix(strings.TrimSpace(r.Description), appmanageRepoMark)) {
			continue
		}
		out = append(out, Orphan{Kind: OrphanRepository, Name: r.Name, App: strings.ToLower(r.Name),
			Reason: fmt.Sprintf("repository %s/%s belongs to no app: no stack, no install and no operation of that name", r.Owner, r.Name)})
	}
	for _, h := range hosts {
		if !free(h.ForwardHost) || !ours[strings.ToLower(h.ForwardHost)] {
			continue
		}
		out = append(out, Orphan{Kind: OrphanProxyHost, Name: strings.Join(h.DomainNames, ", "), App: strings.ToLower(h.ForwardHost), ProxyID: h.ID,
			Reason: fmt.Sprintf("proxy host %d forwards to %s, which appmanage installed once and is no app now", h.ID, h.ForwardHost)})
	}
	out = append(out, vols...)
	slices.SortFunc(out, func(a, b Orphan) int {
		if c := strings.Compare(string(a.Kind), string(b.Kind)); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// activeApps are the ids (lower case) of apps with an operation in flight.
func (s *Service) activeApps(ctx context.Context) (map[string]bool, error) {
	out := map[string]bool{}
	list, err := s.engine.List(ctx, ops.ListFilter{Statuses: []ops.Status{ops.StatusQueued, ops.StatusRunning, ops.StatusRollingBack}, Limit: 1000})
	if err != nil {
		return nil, err
	}
	for _, op := range list {
		out[strings.ToLower(op.AppID)] = true
	}
	return out, nil
}

func (s *Service) orphanVolumes(ctx context.Context, orphan func(project string) bool) ([]Orphan, error) {
	eps, err := s.stacks.ListEndpoints(ctx)
	if err != nil {
		return nil, upstreamErr("portainer", err, "list endpoints")
	}
	var mu sync.Mutex
	var out []Orphan
	g, gctx := errgroup.WithContext(ctx)
	for _, ep := range eps {
		if ep.Status == portainer.EndpointStatusDown || !ep.Kind().Docker() {
			continue // no Docker volumes to read (a Kubernetes endpoint has no Docker proxy)
		}
		g.Go(func() error {
			vs, err := s.stacks.ListVolumes(gctx, ep.ID, []string{projectLabel})
			if err != nil {
				return upstreamErr("portainer", err, fmt.Sprintf("list volumes of endpoint %d", ep.ID))
			}
			mu.Lock()
			defer mu.Unlock()
			for _, v := range vs {
				p := v.Labels[projectLabel]
				if p == "" || !orphan(p) {
					continue
				}
				out = append(out, Orphan{Kind: OrphanVolume, Name: v.Name, App: strings.ToLower(p), EndpointID: ep.ID,
					Reason: fmt.Sprintf("volume %s of compose project %s on endpoint %d: appmanage installed %s once, and it is no app now", v.Name, p, ep.ID, p)})
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// SweepOrphans removes the orphans of the given kinds (every kind when
// none is given), or with dryRun only lists them. It is synchronous: each
// removal is one idempotent call (an orphan already gone counts as
// removed), and the list is computed again at the time of the sweep, so
// nothing an app or an operation took since a listing is touched. A
// removal that fails is reported on its orphan (Error) and the sweep goes
// on with the others.
func (s *Service) SweepOrphans(ctx context.Context, kinds []OrphanKind, dryRun bool) ([]Orphan, error) {
	for i, k := range kinds {
		if !slices.Contains(OrphanKinds, k) {
			return nil, apperr.Invalid(fmt.Sprintf("kinds[%d]", i), "unknown orphan kind %q", clip(string(k)))
		}
	}
	all, err := s.Orphans(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Orphan, 0, len(all))
	for _, o := range all {
		if len(kinds) > 0 && !slices.Contains(kinds, o.Kind) {
			continue
		}
		if !dryRun {
			var err error
			switch o.Kind {
			case OrphanRepository:
				err = upstreamErr("gitea", s.repos.DeleteRepo(ctx, o.Name), "delete repository "+o.Name)
			case OrphanProxyHost:
				err = upstreamErr("npm", s.proxies.DeleteProxyHost(ctx, o.ProxyID), fmt.Sprintf("delete proxy host %d", o.ProxyID))
			case OrphanVolume:
				err = upstreamErr("portainer", s.stacks.DeleteVolume(ctx, o.EndpointID, o.Name), "delete volume "+o.Name)
			}
			if err != nil && !notFound(err) {
				o.Error = err.Error()
				s.log.WarnContext(ctx, "sweep orphan", "kind", o.Kind, "name", o.Name, "error", err)
			} else {
				o.Removed = true
				s.log.InfoContext(ctx, "swept orphan", "kind", o.Kind, "name", o.Name, "app", o.App)
			}
		}
		out = append(out, o)
	}
	if !dryRun {
		s.lists.invalidate()
	}
	return out, nil
}
