// Package apps is the domain: installing, uninstalling and running apps as
// durable operations over Gitea (the app's material), Portainer (its stack)
// and NPM (its proxies). It declares the few upstream methods it needs as
// interfaces, so tests and the sandbox can hand in clients of fakes.
package apps

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/appmanage/appmanage/datasources/gitea"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/datasources/proxymanager"
	"github.com/appmanage/appmanage/library"
	"github.com/appmanage/appmanage/ops"
)

// Repos is what apps needs from Gitea.
type Repos interface {
	Owner() string
	CreateRepo(ctx context.Context, name string, opts gitea.CreateRepoOptions) (*gitea.Repository, error)
	GetRepo(ctx context.Context, name string) (*gitea.Repository, error)
	DeleteRepo(ctx context.Context, name string) error
	ListRepos(ctx context.Context) ([]gitea.Repository, error)
	CommitFiles(ctx context.Context, name string, commit gitea.Commit) (*gitea.CommitResult, error)
	GetRawFile(ctx context.Context, name, path, ref string) ([]byte, error)
	GetFile(ctx context.Context, name, path, ref string) (*gitea.File, error)
	ListHistory(ctx context.Context, name, ref string, page, limit int) (*gitea.HistoryPage, error)
	Compare(ctx context.Context, name, base, head string) ([]gitea.HistoryCommit, error)
	CreateHook(ctx context.Context, name string, opts gitea.HookOptions) (*gitea.Hook, error)
	ListHooks(ctx context.Context, name string) ([]gitea.Hook, error)
	DeleteHook(ctx context.Context, name string, id int64) error
	MigrateRepo(ctx context.Context, name string, opts gitea.MigrateOptions) (*gitea.Repository, error)
}

// Stacks is what apps needs from Portainer.
type Stacks interface {
	ListEndpoints(ctx context.Context) ([]portainer.Endpoint, error)
	GetEndpoint(ctx context.Context, id int) (*portainer.Endpoint, error)
	CreateStackFromRepository(ctx context.Context, endpointID int, req portainer.CreateRepositoryStackRequest) (*portainer.Stack, error)
	ListStacks(ctx context.Context, endpointID int) ([]portainer.Stack, error)
	GetStack(ctx context.Context, id int) (*portainer.Stack, error)
	FindStackByName(ctx context.Context, endpointID int, name string) (*portainer.Stack, error)
	DeleteStack(ctx context.Context, id, endpointID int) error
	StartStack(ctx context.Context, id, endpointID int) (*portainer.Stack, error)
	StopStack(ctx context.Context, id, endpointID int) (*portainer.Stack, error)
	RedeployStackGit(ctx context.Context, id, endpointID int, req portainer.GitRedeployRequest) (*portainer.Stack, error)
	UpdateStackGit(ctx context.Context, id, endpointID int, req portainer.GitUpdateRequest) (*portainer.Stack, error)
	ListContainers(ctx context.Context, endpointID int, f portainer.ContainerFilter) ([]portainer.Container, error)
	InspectContainer(ctx context.Context, endpointID int, id string) (*portainer.ContainerJSON, error)
	ListVolumes(ctx context.Context, endpointID int, labels []string) ([]portainer.Volume, error)
	DeleteVolume(ctx context.Context, endpointID int, name string) error
	InspectImage(ctx context.Context, endpointID int, ref string) (*portainer.Image, error)
	PullImage(ctx context.Context, endpointID int, ref string, auth *portainer.RegistryAuth, progress func(portainer.PullProgress)) error
	KubeStacks // Kubernetes environments (kubernetes.go)
}

// Proxies is what apps needs from NPM.
type Proxies interface {
	ListProxyHosts(ctx context.Context) ([]proxymanager.ProxyHost, error)
	GetProxyHost(ctx context.Context, id int) (*proxymanager.ProxyHost, error)
	CreateProxyHost(ctx context.Context, req proxymanager.ProxyHostRequest) (*proxymanager.ProxyHost, error)
	UpdateProxyHost(ctx context.Context, id int, req proxymanager.ProxyHostUpdate) (*proxymanager.ProxyHost, error)
	DeleteProxyHost(ctx context.Context, id int) error
	EnableProxyHost(ctx context.Context, id int) error
	DisableProxyHost(ctx context.Context, id int) error
	CheckOnline(ctx context.Context, id int) (*proxymanager.ProxyHost, error)
	ListRedirectionHosts(ctx context.Context) ([]proxymanager.OtherHost, error)
	ListDeadHosts(ctx context.Context) ([]proxymanager.OtherHost, error)
}

// Catalog is the app library.
type Catalog interface {
	Get(name string) (*library.App, bool)
}

// Engine is the operation engine.
type Engine interface {
	Register(w ops.Workflow)
	Submit(ctx context.Context, req ops.SubmitRequest) (*ops.Operation, error)
	Get(ctx context.Context, id string) (*ops.Operation, error)
	List(ctx context.Context, f ops.ListFilter) ([]ops.Operation, error)
	LatestByApp(ctx context.Context, appIDs []string) (map[string]*ops.Operation, error)
	LatestAmong(ctx context.Context, kinds []string) (map[string]*ops.Operation, error)
	Cancel(ctx context.Context, id string) (*ops.Operation, error)
	ByIdempotencyKey(ctx context.Context, key string) (*ops.Operation, error)
}

// GitCredentials are what Portainer clones app repositories with.
type GitCredentials struct {
	Username string
	Password string // a token works
}

// Config holds the settings the domain needs.
type Config struct {
	// CloneBaseURL replaces scheme and host of Gitea's clone URLs when
	// Portainer reaches Gitea under another name ("" = use them as they are).
	CloneBaseURL string
	Git          GitCredentials
	// DefaultEndpoint is the Portainer endpoint used when an install names
	// none; 0 means the first one that is up.
	DefaultEndpoint int
	// PublicHost is used for W9_URL (host:port) when an app has no domain.
	PublicHost string
	// StepTimeout bounds one attempt of a quick upstream step; deploy steps
	// get DeployTimeout.
	StepTimeout   time.Duration
	DeployTimeout time.Duration
	// ContainerWait is how long install waits for the main container to run.
	ContainerWait time.Duration
	// WebhookURL is where Gitea posts push webhooks (appmanage's /hooks/gitea
	// as Gitea reaches it); "" creates no webhooks.
	WebhookURL string
	// Registries checks that images can be pulled (App.images, install
	// preflight), through the --registry-mirrors; nil leaves reachability
	// unchecked and installs unrefused for images (tests of other things).
	Registries *Registries
}

// Service is the apps domain.
type Service struct {
	// repos, stacks and proxies forward to the current upstream client set
	// (up), or to the one a running step captured (see live.go).
	repos   liveRepos
	stacks  liveStacks
	proxies liveProxies
	up      atomic.Pointer[upstreamSet]
	pinned  *lru.Cache[string, *upstreamSet] // operation id -> the set it started on
	connMu  sync.Mutex                       // serialises connection changes
	conn    connState

	catalog Catalog
	engine  Engine
	cfg     Config
	log     *slog.Logger

	settings SettingsStore // nil: run-time settings are off
	probe    HTTPProbe     // nil: the upgrade's health gate makes no HTTP check
	images   Images        // nil: Portainer's image routes are not available

	lists   *listCache   // short-TTL upstream lists for the read side
	derived derivedCache // indexes built from those lists
	details *detailCache // per-app data that only changes with its key

	claims claims // names an install is checking and submitting

	history *historyCache               // branch heads and the history read from them
	diffs   *lru.Cache[diffKey, string] // diffs between two commits (immutable)

	drift driftState // the reconciler's last pass

	srcResolver atomic.Pointer[SourceResolver] // nil: net.DefaultResolver (installFromSource)
}

// New builds the service and registers its workflows with the engine.
func New(repos Repos, stacks Stacks, proxies Proxies, catalog Catalog, engine Engine, cfg Config, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.StepTimeout <= 0 {
		cfg.StepTimeout = 2 * time.Minute
	}
	if cfg.DeployTimeout <= 0 {
		cfg.DeployTimeout = 15 * time.Minute
	}
	if cfg.ContainerWait <= 0 {
		cfg.ContainerWait = 2 * time.Minute
	}
	s := &Service{catalog: catalog, engine: engine, cfg: cfg, log: log,
		lists: newListCache(DefaultListTTL), details: newDetailCache(), history: newHistoryCache()}
	s.repos, s.stacks, s.proxies = liveRepos{s}, liveStacks{s}, liveProxies{s}
	s.up.Store(newUpstreamSet(repos, stacks, proxies, cfg.Git, cfg.CloneBaseURL))
	s.diffs, _ = lru.New[diffKey, string](256)
	// Far more than can be in flight (workers x queue); an evicted entry
	// belongs to a finished operation.
	s.pinned, _ = lru.New[string, *upstreamSet](4096)
	// Through the live client set, like every other Portainer call.
	s.images = portainerImages{s.stacks}
	workflows := append(append([]ops.Workflow{s.installWorkflow(), s.uninstallWorkflow(), s.repairWorkflow()}, s.lifecycleWorkflows()...), s.domainWorkflows()...)
	workflows = append(append(workflows, s.materialWorkflows()...), s.upgradeWorkflow(), s.sourceWorkflow())
	for _, w := range workflows {
		engine.Register(s.invalidating(w))
	}
	return s
}

// Operation kinds.
const (
	KindInstall   = "install"
	KindUninstall = "uninstall"
)

// Endpoints lists the Portainer environments apps can be deployed to.
func (s *Service) Endpoints(ctx context.Context) ([]portainer.Endpoint, error) {
	eps, err := s.stacks.ListEndpoints(ctx)
	if err != nil {
		return nil, upstreamErr("portainer", err, "list endpoints")
	}
	return eps, nil
}
