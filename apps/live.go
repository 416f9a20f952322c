package apps

import (
	"context"

	"github.com/appmanage/appmanage/datasources/gitea"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/datasources/proxymanager"
)

// The upstream clients can be replaced at run time (a changed connection
// setting, see connections.go). Service keeps the current set in an atomic
// pointer. An operation captures the set current when its first step runs
// in this process and every later step (and undo) of it gets that set in
// ctx (see invalidating), so an operation in flight finishes on the
// clients it started with, while reads and new operations use the new
// ones. (After a restart an operation resumes on the clients of the new
// process: the old ones are gone.) liveRepos, liveStacks and liveProxies
// are the Service's Repos, Stacks and Proxies: each call goes to the set
// in its ctx, else to the current one.

type upstreamsKey struct{}

// withUpstreams pins into ctx the client set of the operation opID: the
// one it captured at its first step, else the current one (captured now).
func (s *Service) withUpstreams(ctx context.Context, opID string) context.Context {
	if _, ok := ctx.Value(upstreamsKey{}).(*upstreamSet); ok {
		return ctx
	}
	set, ok := s.pinned.Get(opID)
	if !ok {
		set = s.up.Load()
		// Two steps of one operation never run at once, so no other
		// goroutine races this first capture.
		s.pinned.Add(opID, set)
	}
	return context.WithValue(ctx, upstreamsKey{}, set)
}

// ups returns the client set pinned in ctx, else the current one.
func (s *Service) ups(ctx context.Context) *upstreamSet {
	if u, ok := ctx.Value(upstreamsKey{}).(*upstreamSet); ok {
		return u
	}
	return s.up.Load()
}

type liveRepos struct{ s *Service }

// Owner is the current set's owner (it takes no ctx).
func (l liveRepos) Owner() string { return l.s.up.Load().repos.Owner() }

// BaseURL forwards the current Gitea client's root URL, when it tells it.
func (l liveRepos) BaseURL() string {
	if b, ok := l.s.up.Load().repos.(interface{ BaseURL() string }); ok {
		return b.BaseURL()
	}
	return ""
}

func (l liveRepos) CreateRepo(ctx context.Context, name string, opts gitea.CreateRepoOptions) (*gitea.Repository, error) {
	return l.s.ups(ctx).repos.CreateRepo(ctx, name, opts)
}
func (l liveRepos) GetRepo(ctx context.Context, name string) (*gitea.Repository, error) {
	return l.s.ups(ctx).repos.GetRepo(ctx, name)
}
func (l liveRepos) DeleteRepo(ctx context.Context, name string) error {
	return l.s.ups(ctx).repos.DeleteRepo(ctx, name)
}
func (l liveRepos) CommitFiles(ctx context.Context, name string, commit gitea.Commit) (*gitea.CommitResult, error) {
	return l.s.ups(ctx).repos.CommitFiles(ctx, name, commit)
}
func (l liveRepos) GetRawFile(ctx context.Context, name, path, ref string) ([]byte, error) {
	return l.s.ups(ctx).repos.GetRawFile(ctx, name, path, ref)
}
func (l liveRepos) GetFile(ctx context.Context, name, path, ref string) (*gitea.File, error) {
	return l.s.ups(ctx).repos.GetFile(ctx, name, path, ref)
}
func (l liveRepos) ListHistory(ctx context.Context, name, ref string, page, limit int) (*gitea.HistoryPage, error) {
	return l.s.ups(ctx).repos.ListHistory(ctx, name, ref, page, limit)
}
func (l liveRepos) Compare(ctx context.Context, name, base, head string) ([]gitea.HistoryCommit, error) {
	return l.s.ups(ctx).repos.Compare(ctx, name, base, head)
}
func (l liveRepos) CreateHook(ctx context.Context, name string, opts gitea.HookOptions) (*gitea.Hook, error) {
	return l.s.ups(ctx).repos.CreateHook(ctx, name, opts)
}
func (l liveRepos) ListHooks(ctx context.Context, name string) ([]gitea.Hook, error) {
	return l.s.ups(ctx).repos.ListHooks(ctx, name)
}
func (l liveRepos) DeleteHook(ctx context.Context, name string, id int64) error {
	return l.s.ups(ctx).repos.DeleteHook(ctx, name, id)
}

type liveStacks struct{ s *Service }

func (l liveStacks) ListEndpoints(ctx context.Context) ([]portainer.Endpoint, error) {
	return l.s.ups(ctx).stacks.ListEndpoints(ctx)
}
func (l liveStacks) GetEndpoint(ctx context.Context, id int) (*portainer.Endpoint, error) {
	return l.s.ups(ctx).stacks.GetEndpoint(ctx, id)
}
func (l liveStacks) CreateStackFromRepository(ctx context.Context, endpointID int, req portainer.CreateRepositoryStackRequest) (*portainer.Stack, error) {
	return l.s.ups(ctx).stacks.CreateStackFromRepository(ctx, endpointID, req)
}
func (l liveStacks) ListStacks(ctx context.Context, endpointID int) ([]portainer.Stack, error) {
	return l.s.ups(ctx).stacks.ListStacks(ctx, endpointID)
}
func (l liveStacks) GetStack(ctx context.Context, id int) (*portainer.Stack, error) {
	return l.s.ups(ctx).stacks.GetStack(ctx, id)
}
func (l liveStacks) FindStackByName(ctx context.Context, endpointID int, name string) (*portainer.Stack, error) {
	return l.s.ups(ctx).stacks.FindStackByName(ctx, endpointID, name)
}
func (l liveStacks) DeleteStack(ctx context.Context, id, endpointID int) error {
	return l.s.ups(ctx).stacks.DeleteStack(ctx, id, endpointID)
}
func (l liveStacks) StartStack(ctx context.Context, id, endpointID int) (*portainer.Stack, error) {
	return l.s.ups(ctx).stacks.StartStack(ctx, id, endpointID)
}
func (l liveStacks) StopStack(ctx context.Context, id, endpointID int) (*portainer.Stack, error) {
	return l.s.ups(ctx).stacks.StopStack(ctx, id, endpointID)
}
func (l liveStacks) RedeployStackGit(ctx context.Context, id, endpointID int, req portainer.GitRedeployRequest) (*portainer.Stack, error) {
	return l.s.ups(ctx).stacks.RedeployStackGit(ctx, id, endpointID, req)
}
func (l liveStacks) UpdateStackGit(ctx context.Context, id, endpointID int, req portainer.GitUpdateRequest) (*portainer.Stack, error) {
	return l.s.ups(ctx).stacks.UpdateStackGit(ctx, id, endpointID, req)
}
func (l liveStacks) ListContainers(ctx context.Context, endpointID int, f portainer.ContainerFilter) ([]portainer.Container, error) {
	return l.s.ups(ctx).stacks.ListContainers(ctx, endpointID, f)
}
func (l liveStacks) InspectContainer(ctx context.Context, endpointID int, id string) (*portainer.ContainerJSON, error) {
	return l.s.ups(ctx).stacks.InspectContainer(ctx, endpointID, id)
}
func (l liveStacks) ListVolumes(ctx context.Context, endpointID int, labels []string) ([]portainer.Volume, error) {
	return l.s.ups(ctx).stacks.ListVolumes(ctx, endpointID, labels)
}
func (l liveStacks) DeleteVolume(ctx context.Context, endpointID int, name string) error {
	return l.s.ups(ctx).stacks.DeleteVolume(ctx, endpointID, name)
}

type liveProxies struct{ s *Service }

func (l liveProxies) ListProxyHosts(ctx context.Context) ([]proxymanager.ProxyHost, error) {
	return l.s.ups(ctx).proxies.ListProxyHosts(ctx)
}
func (l liveProxies) GetProxyHost(ctx context.Context, id int) (*proxymanager.ProxyHost, error) {
	return l.s.ups(ctx).proxies.GetProxyHost(ctx, id)
}
func (l liveProxies) CreateProxyHost(ctx context.Context, req proxymanager.ProxyHostRequest) (*proxymanager.ProxyHost, error) {
	return l.s.ups(ctx).proxies.CreateProxyHost(ctx, req)
}
func (l liveProxies) UpdateProxyHost(ctx context.Context, id int, req proxymanager.ProxyHostUpdate) (*proxymanager.ProxyHost, error) {
	return l.s.ups(ctx).proxies.UpdateProxyHost(ctx, id, req)
}
func (l liveProxies) DeleteProxyHost(ctx context.Context, id int) error {
	return l.s.ups(ctx).proxies.DeleteProxyHost(ctx, id)
}
func (l liveProxies) EnableProxyHost(ctx context.Context, id int) error {
	return l.s.ups(ctx).proxies.EnableProxyHost(ctx, id)
}
func (l liveProxies) DisableProxyHost(ctx context.Context, id int) error {
	return l.s.ups(ctx).proxies.DisableProxyHost(ctx, id)
}
func (l liveProxies) CheckOnline(ctx context.Context, id int) (*proxymanager.ProxyHost, error) {
	return l.s.ups(ctx).proxies.CheckOnline(ctx, id)
}
func (l liveProxies) ListRedirectionHosts(ctx context.Context) ([]proxymanager.OtherHost, error) {
	return l.s.ups(ctx).proxies.ListRedirectionHosts(ctx)
}
func (l liveProxies) ListDeadHosts(ctx context.Context) ([]proxymanager.OtherHost, error) {
	return l.s.ups(ctx).proxies.ListDeadHosts(ctx)
}
func (l liveStacks) InspectImage(ctx context.Context, endpointID int, ref string) (*portainer.Image, error) {
	return l.s.ups(ctx).stacks.InspectImage(ctx, endpointID, ref)
}
func (l liveStacks) PullImage(ctx context.Context, endpointID int, ref string, auth *portainer.RegistryAuth, progress func(portainer.PullProgress)) error {
	return l.s.ups(ctx).stacks.PullImage(ctx, endpointID, ref, auth, progress)
}
func (l liveRepos) ListRepos(ctx context.Context) ([]gitea.Repository, error) {
	return l.s.ups(ctx).repos.ListRepos(ctx)
}

// Kubernetes environments (kubernetes.go).

func (l liveStacks) CreateKubernetesStackFromRepository(ctx context.Context, endpointID int, req portainer.KubernetesRepositoryStackRequest) (*portainer.Stack, error) {
	return l.s.ups(ctx).stacks.CreateKubernetesStackFromRepository(ctx, endpointID, req)
}
func (l liveStacks) CreateNamespace(ctx context.Context, endpointID int, name string, annotations map[string]string) error {
	return l.s.ups(ctx).stacks.CreateNamespace(ctx, endpointID, name, annotations)
}
func (l liveStacks) DeleteNamespace(ctx context.Context, endpointID int, name string) error {
	return l.s.ups(ctx).stacks.DeleteNamespace(ctx, endpointID, name)
}
func (l liveStacks) InstallHelmChart(ctx context.Context, endpointID int, req portainer.HelmInstallRequest) (*portainer.HelmRelease, error) {
	return l.s.ups(ctx).stacks.InstallHelmChart(ctx, endpointID, req)
}
func (l liveStacks) ListHelmReleases(ctx context.Context, endpointID int, namespace string) ([]portainer.HelmReleaseElement, error) {
	return l.s.ups(ctx).stacks.ListHelmReleases(ctx, endpointID, namespace)
}
func (l liveStacks) DeleteHelmRelease(ctx context.Context, endpointID int, name, namespace string) error {
	return l.s.ups(ctx).stacks.DeleteHelmRelease(ctx, endpointID, name, namespace)
}
func (l liveStacks) ListDeployments(ctx context.Context, endpointID int, namespace string) ([]portainer.Deployment, error) {
	return l.s.ups(ctx).stacks.ListDeployments(ctx, endpointID, namespace)
}
func (l liveStacks) ScaleDeployment(ctx context.Context, endpointID int, namespace, name string, replicas int, annotations map[string]*string) error {
	return l.s.ups(ctx).stacks.ScaleDeployment(ctx, endpointID, namespace, name, replicas, annotations)

}

// Apps built from source (source.go).

func (l liveRepos) MigrateRepo(ctx context.Context, name string, opts gitea.MigrateOptions) (*gitea.Repository, error) {
	return l.s.ups(ctx).repos.MigrateRepo(ctx, name, opts)
}
