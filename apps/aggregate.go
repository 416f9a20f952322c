package apps

import (
	"cmp"
	"context"
	"encoding/json"
	"hash/fnv"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/errgroup"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/datasources/proxymanager"
	"github.com/appmanage/appmanage/library/dotenv"
	"github.com/appmanage/appmanage/ops"
)

// AppStatus is where an app stands (the GraphQL AppStatus values).
type AppStatus string

const (
	AppInstalling   AppStatus = "INSTALLING"
	AppActive       AppStatus = "ACTIVE"
	AppInactive     AppStatus = "INACTIVE"
	AppError        AppStatus = "ERROR"
	AppUninstalling AppStatus = "UNINSTALLING"
	AppUnknown      AppStatus = "UNKNOWN"
)

// AppRef names one app of a listing: its id and the endpoint it lives on
// (0 for an install that never reached Portainer).
type AppRef struct {
	ID         string
	EndpointID int
}

// AppSummary is what every listing returns eagerly; everything else about
// an app is read lazily, in batches, through a View.
type AppSummary struct {
	AppRef
	Status    AppStatus
	Official  bool // a Portainer stack (or our own install record); false for a bare compose project
	CreatedAt *time.Time
	// StackID is 0 when the app has no stack (an in-flight or failed
	// install, or an unmanaged compose project).
	StackID int
	// OperationID is the operation that explains a stack-less entry, or the
	// active install/uninstall.
	OperationID string
}

// ListQuery selects apps.
type ListQuery struct {
	Statuses   []AppStatus
	EndpointID int    // 0 = every endpoint
	AppName    string // W9_APP_NAME, case-insensitive
	ID         string // one app
	// IDsOnly says the caller reads nothing but ids (and the stack's own
	// fields): the container lists are then skipped, so statuses are the
	// stacks' own (ACTIVE/INACTIVE) and compose projects without a stack are
	// not discovered. It costs one stack list.
	IDsOnly bool
}

// AppList is a listing. Problems are upstreams that could not be read; the
// apps they concern carry status UNKNOWN rather than failing the listing.
type AppList struct {
	Apps     []AppSummary
	Problems []error
}

// EnvVar is one merged environment entry of an app.
type EnvVar struct {
	Name  string
	Value string
}

// AppEnv is an app's environment: its stack's Env merged with its main
// container's Config.Env (the container wins: it is what runs).
type AppEnv struct {
	Vars []EnvVar // sorted by name
}

// Get returns the value of name.
func (e AppEnv) Get(name string) (string, bool) {
	i, ok := slices.BinarySearchFunc(e.Vars, name, func(v EnvVar, n string) int { return strings.Compare(v.Name, n) })
	if !ok {
		return "", false
	}
	return e.Vars[i].Value, true
}

// RepoLinks are an app repository's URLs.
type RepoLinks struct {
	URL           string // Gitea API URL
	CloneURL      string
	HTMLURL       string // for users who modify the app's material
	DefaultBranch string
}

// detailCache keeps per-app data whose key says when it changes: a
// container's Config.Env never changes for its id, and a file never changes
// at a commit sha.
type detailCache struct {
	envs   *lru.Cache[string, []string]
	files  *lru.Cache[fileKey, fileEntry]
	merged *lru.Cache[envKey, AppEnv] // the merge itself, so a poll of many apps costs no CPU either
}

// envKey says everything a merged environment depends on: the stack's Env
// (by content: an update within the same second keeps UpdateDate) and the
// container or .env it merges.
type envKey struct {
	stack    int
	stackEnv uint64 // FNV-1a of the stack's Env
	source   string // "c:<container id>" or "f:<sha>"
}

func stackEnvHash(env []portainer.EnvVar) uint64 {
	h := fnv.New64a()
	for _, e := range env {
		h.Write([]byte(e.Name))
		h.Write([]byte{0})
		h.Write([]byte(e.Value))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

type fileKey struct{ app, sha, path string }

type fileEntry struct {
	data    []byte
	missing bool
	json    map[string]any // decoded variables.json, shared read-only
}

func newDetailCache() *detailCache {
	envs, _ := lru.New[string, []string](8192)
	files, _ := lru.New[fileKey, fileEntry](8192)
	merged, _ := lru.New[envKey, AppEnv](8192)
	return &detailCache{envs: envs, files: files, merged: merged}
}

// fetchLimit bounds the per-app upstream calls one batch runs at once (on a
// cold cache only).
const fetchLimit = 16

// View is one request's read of the apps: each upstream list is read at
// most once per View (and reused across Views within the list TTL), so the
// number of upstream calls of a query does not grow with the number of apps.
// Lazy fields are read with the batch methods (one call per field for all
// apps of the request). A View is safe for concurrent use.
type View struct {
	s *Service

	stacks     memo[[]portainer.Stack]
	endpoints  memo[[]portainer.Endpoint]
	proxies    memo[*proxyIndex]
	mu         sync.Mutex
	containers map[int]*memo[*containerIndex]
	records    map[AppRef]*appRecord
	installed  memo[map[string]*ops.Operation] // see installedApps
	unread     map[int]bool                    // endpoints whose containers the listing reported unreadable: true when down
	summaries  memo[[]EndpointSummary]         // see EndpointsWithApps
}

// containerIndex is one endpoint's container list, by compose project.
type containerIndex struct {
	projects  []projectContainers
	byProject map[string]int // lower-cased project -> index in projects
}

// projectContainers are the containers of one compose project.
type projectContainers struct {
	name       string // as its label says
	containers []portainer.Container
}

// newContainerIndex groups a container list by compose project. Every
// group is a window of one array: a thousand apps cost two allocations,
// not a thousand.
func newContainerIndex(cs []portainer.Container) *containerIndex {
	x := &containerIndex{byProject: make(map[string]int, len(cs))}
	group := make([]int, len(cs)) // each container's project, -1 for none
	counts := make([]int, 0, len(cs))
	for i := range cs {
		group[i] = -1
		name := cs[i].Labels[projectLabel]
		if name == "" {
			continue
		}
		k := strings.ToLower(name)
		g, ok := x.byProject[k]
		if !ok {
			g = len(x.projects)
			x.byProject[k] = g
			x.projects = append(x.projects, projectContainers{name: name})
			counts = append(counts, 0)
		}
		group[i] = g
		counts[g]++
	}
	all := make([]portainer.Container, 0, len(cs))
	for g, n := range counts {
		x.projects[g].containers = all[len(all) : len(all) : len(all)+n]
		all = all[:len(all)+n]
	}
	for i, g := range group {
		if g >= 0 {
			x.projects[g].containers = append(x.projects[g].containers, cs[i])
		}
	}
	return x
}

func (x *containerIndex) project(name string) []portainer.Container {
	if x == nil {
		return nil // an endpoint whose containers are not known (knownContainers)
	}
	if g, ok := x.byProject[strings.ToLower(name)]; ok {
		return x.projects[g].containers
	}
	return nil
}

// stackIndex is the stack list by lower-cased name: positions in the list,
// one per endpoint that has a stack of that name. A lookup of many apps
// that the listing did not record (App.proxies' sources ask by name only)
// would otherwise scan the whole list once per app.
type stackIndex map[string][]int

func newStackIndex(stacks []portainer.Stack) stackIndex {
	x := make(stackIndex, len(stacks))
	for i := range stacks {
		k := strings.ToLower(stacks[i].Name)
		x[k] = append(x[k], i)
	}
	return x
}

// proxyIndex is NPM's proxy-host list by forward host, each by id.
type proxyIndex struct {
	byHost   map[string][]proxymanager.ProxyHost // lower-cased forward_host
	byDomain map[string]*proxymanager.ProxyHost  // lower-cased domain -> the host carrying it
}

func newProxyIndex(hs []proxymanager.ProxyHost) *proxyIndex {
	x := &proxyIndex{byHost: map[string][]proxymanager.ProxyHost{}}
	for _, h := range hs {
		k := strings.ToLower(h.ForwardHost)
		x.byHost[k] = append(x.byHost[k], h)
	}
	for _, l := range x.byHost {
		slices.SortFunc(l, func(a, b proxymanager.ProxyHost) int { return a.ID - b.ID })
	}
	x.byDomain = proxyByDomain(hs)
	return x
}

// appRecord is what a View knows of one listed app.
type appRecord struct {
	AppSummary
	stack   *portainer.Stack
	op      *ops.Operation // latest operation when it explains the entry
	install *InstallInput  // input of that install, for stack-less entries
	// missing: appmanage installed the app, nobody uninstalled it, and
	// Portainer has no stack of it (STACK_MISSING).
	missing bool
}

type memo[T any] struct {
	once sync.Once
	v    T
	err  error
}

func (m *memo[T]) get(ctx context.Context, fetch func(context.Context) (T, error)) (T, error) {
	m.once.Do(func() { m.v, m.err = fetch(ctx) })
	return m.v, m.err
}

// NewView starts a read of the apps (one per GraphQL request).
func (s *Service) NewView() *View {
	return &View{s: s, containers: map[int]*memo[*containerIndex]{}, records: map[AppRef]*appRecord{}}
}

func (v *View) getStacks(ctx context.Context) ([]portainer.Stack, error) {
	st, err := v.stacks.get(ctx, v.s.cachedStacks)
	if err != nil {
		return nil, upstreamErr("portainer", err, "list stacks")
	}
	return st, nil
}

func (v *View) getProxies(ctx context.Context) (*proxyIndex, error) {
	x, err := v.proxies.get(ctx, func(ctx context.Context) (*proxyIndex, error) {
		hs, err := v.s.cachedProxyHosts(ctx)
		if err != nil {
			return nil, err
		}
		return derive(&v.s.derived, "proxies", hs, newProxyIndex), nil
	})
	if err != nil {
		return nil, upstreamErr("npm", err, "list proxy hosts")
	}
	return x, nil
}

func (v *View) getContainers(ctx context.Context, endpointID int) (*containerIndex, error) {
	v.mu.Lock()
	m, ok := v.containers[endpointID]
	if !ok {
		m = &memo[*containerIndex]{}
		v.containers[endpointID] = m
	}
	v.mu.Unlock()
	cs, err := m.get(ctx, func(ctx context.Context) (*containerIndex, error) {
		cs, err := v.s.cachedContainers(ctx, endpointID)
		if err != nil {
			return nil, err
		}
		return derive(&v.s.derived, "containers:"+strconv.Itoa(endpointID), cs, newContainerIndex), nil
	})
	if err != nil {
		return nil, upstreamErr("portainer", err, "list containers of endpoint "+strconv.Itoa(endpointID))
	}
	return cs, nil
}

// PrefetchProxies starts reading NPM's proxy host list in the background, so
// that a query which reads proxies or domains has it alongside the stack and
// container lists rather than after them. Later reads of the view join it.
func (v *View) PrefetchProxies(ctx context.Context) {
	go func() { _, _ = v.getProxies(ctx) }()
}

// Apps lists the apps: every Portainer stack, the installs in flight or
// failed (from the operation journal), and compose projects that have
// containers but no stack. The order is stable: by id, then endpoint.
func (v *View) Apps(ctx context.Context, q ListQuery) (*AppList, error) {
	// The stack list, the journal and the container lists (one per
	// endpoint) are read in parallel.
	out := &AppList{}
	var containers map[int]*containerIndex
	var stacks []portainer.Stack
	var pending, installed map[string]*ops.Operation
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { stacks, err = v.getStacks(gctx); return err })
	g.Go(func() (err error) { pending, err = v.s.pendingOps(gctx); return err })
	g.Go(func() (err error) { installed, err = v.getInstalled(gctx); return err })
	if !q.IDsOnly {
		g.Go(func() error { containers, out.Problems = v.allContainers(gctx, q.EndpointID); return nil })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	recs := map[AppRef]*appRecord{}
	byID := map[string]bool{}
	for i := range stacks {
		st := &stacks[i]
		if q.EndpointID != 0 && st.EndpointID != q.EndpointID {
			continue
		}
		rec := &appRecord{stack: st, AppSummary: AppSummary{
			AppRef: AppRef{ID: st.Name, EndpointID: st.EndpointID}, Official: true, StackID: st.ID,
			CreatedAt: unixTime(st.CreationDate),
		}}
		if st.Status == portainer.StackStatusInactive {
			rec.Status = AppInactive
		} else if q.IDsOnly {
			rec.Status = AppActive
		} else if cs, ok := containers[st.EndpointID]; ok {
			rec.Status = appRunStatus(cs.project(st.Name), st.Name, AppError)
		} else {
			rec.Status = AppUnknown
		}
		if op := pending[strings.ToLower(st.Name)]; op != nil && op.Status.Active() {
			rec.op = op
			rec.OperationID = op.ID
			switch op.Kind {
			case KindInstall, KindInstallSource:
				rec.Status = AppInstalling
			case KindUninstall:
				rec.Status = AppUninstalling
			}
		}
		recs[rec.AppRef] = rec
		byID[strings.ToLower(st.Name)] = true
	}
	for id, op := range pending {
		if byID[id] {
			continue
		}
		rec := &appRecord{op: op, AppSummary: AppSummary{AppRef: AppRef{ID: op.AppID}, Official: true, OperationID: op.ID}}
		created := op.CreatedAt
		rec.CreatedAt = &created
		switch {
		case isInstallKind(op.Kind) && op.Status.Active():
			rec.Status = AppInstalling
		case op.Kind == KindUninstall && op.Status.Active():
			rec.Status = AppUninstalling
		default:
			rec.Status = AppError
		}
		var in InstallInput
		if isInstallKind(op.Kind) && json.Unmarshal(op.Input, &in) == nil {
			rec.install = &in
			rec.EndpointID = in.EndpointID
		} else {
			var un UninstallInput
			if json.Unmarshal(op.Input, &un) == nil {
				rec.EndpointID = un.EndpointID
			}
		}
		if q.EndpointID != 0 && rec.EndpointID != q.EndpointID {
			continue
		}
		recs[rec.AppRef] = rec
		byID[id] = true
	}
	// Apps appmanage installed whose stack is gone (deleted behind its
	// back): listed with status ERROR, so drift can say STACK_MISSING.
	stackNames := derive(&v.s.derived, "stacks", stacks, newStackIndex)
	for id, op := range installed {
		if byID[id] || len(stackNames[id]) > 0 {
			continue // listed, or its stack is on an endpoint the query leaves out
		}
		var in InstallInput
		_ = json.Unmarshal(op.Input, &in)
		if in.Material == MaterialHelm && !q.IDsOnly {
			continue // a Helm release has no stack: listed by its namespace's deployments below
		}
		if q.EndpointID != 0 && in.EndpointID != q.EndpointID {
			continue
		}
		created := op.CreatedAt
		rec := &appRecord{missing: true, AppSummary: AppSummary{AppRef: AppRef{ID: op.AppID, EndpointID: in.EndpointID},
			Status: AppError, Official: true, CreatedAt: &created}}
		if in.Material == MaterialHelm { // ids only: as a stack's own status would say
			rec.missing, rec.Status = false, AppActive
		}
		recs[rec.AppRef] = rec
		byID[id] = true
	}
	// Compose projects with containers but no stack: unmanaged apps.
	for ep, x := range containers {
		for _, pc := range x.projects {
			project, pcs := pc.name, pc.containers
			if byID[strings.ToLower(project)] {
				continue
			}
			rec := &appRecord{AppSummary: AppSummary{AppRef: AppRef{ID: project, EndpointID: ep},
				Status: appRunStatus(pcs, project, AppInactive), Official: installed[strings.ToLower(project)] != nil}}
			if op := installed[strings.ToLower(project)]; op != nil {
				rec.install, rec.op = kubeInstallOf(op) // a Helm app: its install tells its name and repository
			}
			for _, c := range pcs {
				if t := unixTime(c.Created); t != nil && (rec.CreatedAt == nil || t.Before(*rec.CreatedAt)) {
					rec.CreatedAt = t
				}
			}
			recs[rec.AppRef] = rec
		}
	}

	v.mu.Lock()
	for ref, rec := range recs {
		v.records[ref] = rec
	}
	v.mu.Unlock()

	list := make([]*appRecord, 0, len(recs))
	for _, rec := range recs {
		if q.ID != "" && !strings.EqualFold(rec.ID, q.ID) {
			continue
		}
		if len(q.Statuses) > 0 && !slices.Contains(q.Statuses, rec.Status) {
			continue
		}
		list = append(list, rec)
	}
	if q.AppName != "" {
		refs := make([]AppRef, len(list))
		for i, rec := range list {
			refs[i] = rec.AppRef
		}
		envs, errs := v.Env(ctx, refs)
		kept := list[:0]
		for i, rec := range list {
			if errs[i] != nil {
				out.Problems = append(out.Problems, errs[i])
				continue
			}
			if name, _ := envs[i].Get("W9_APP_NAME"); strings.EqualFold(name, q.AppName) {
				kept = append(kept, rec)
			}
		}
		list = kept
	}
	slices.SortFunc(list, func(a, b *appRecord) int {
		return cmp.Or(strings.Compare(a.ID, b.ID), a.EndpointID-b.EndpointID)
	})
	out.Apps = make([]AppSummary, len(list))
	for i, rec := range list {
		out.Apps[i] = rec.AppSummary
	}
	return out, nil
}

// App returns one app, or nil when there is none by that id.
func (v *View) App(ctx context.Context, id string, idsOnly bool) (*AppSummary, []error, error) {
	l, err := v.Apps(ctx, ListQuery{ID: id, IDsOnly: idsOnly})
	if err != nil {
		return nil, nil, err
	}
	if len(l.Apps) == 0 {
		return nil, l.Problems, nil
	}
	return &l.Apps[0], l.Problems, nil
}

// allContainers lists the containers of one endpoint, or of every Docker
// endpoint (Kubernetes ones have no Docker proxy), in parallel. An endpoint
// that is down or cannot be read is one problem naming it, not a failure:
// its apps get status UNKNOWN.
//
// For every endpoint, the container lists of the endpoints that were up at
// the last poll start at once, beside the endpoint list: a poll costs one
// upstream round trip, not two. Only an endpoint the last poll did not know
// waits for the endpoint list (a second wave, in that same poll); a list
// started for an endpoint that is now gone is dropped.
func (v *View) allContainers(ctx context.Context, only int) (map[int]*containerIndex, []error) {
	return v.listedEndpoints(ctx, only) // endpoints.go
}

// pendingOps returns, by lower-cased app id, the latest operation of every
// app whose latest operation is an install or uninstall that is active or
// did not succeed: those explain entries the stacks alone do not show. Two
// SQLite reads, however many apps.
func (s *Service) pendingOps(ctx context.Context) (map[string]*ops.Operation, error) {
	failed := []ops.Status{ops.StatusFailed, ops.StatusRolledBack, ops.StatusCancelled}
	active := []ops.Status{ops.StatusQueued, ops.StatusRunning, ops.StatusRollingBack}
	var ids []string
	seen := map[string]bool{}
	for _, f := range []ops.ListFilter{
		{Kind: KindInstall, Statuses: append(slices.Clone(active), failed...), Limit: 1000},
		{Kind: KindInstallSource, Statuses: append(slices.Clone(active), failed...), Limit: 1000},
		{Kind: KindUninstall, Statuses: append(slices.Clone(active), ops.StatusFailed), Limit: 1000},
	} {
		list, err := s.engine.List(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, op := range list {
			if op.AppID != "" && !seen[op.AppID] {
				seen[op.AppID] = true
				ids = append(ids, op.AppID)
			}
		}
	}
	out := map[string]*ops.Operation{}
	if len(ids) == 0 {
		return out, nil
	}
	latest, err := s.engine.LatestByApp(ctx, ids)
	if err != nil {
		return nil, err
	}
	for id, op := range latest {
		if op == nil || (!isInstallKind(op.Kind) && op.Kind != KindUninstall) || op.Status == ops.StatusSucceeded {
			continue
		}
		if op.Kind == KindUninstall && op.Status != ops.StatusFailed && !op.Status.Active() {
			continue // a cancelled uninstall leaves the app as it is
		}
		out[strings.ToLower(id)] = op
	}
	return out, nil
}

// runStatus maps an app's containers to ACTIVE when its main container (or,
// without one, any container) runs; else whenDown.
func runStatus(cs []portainer.Container, appID string, whenDown AppStatus) AppStatus {
	if main := namedContainer(cs, appID); main != nil {
		if main.State == "running" {
			return AppActive
		}
		return whenDown
	}
	for _, c := range cs {
		if c.State == "running" {
			return AppActive
		}
	}
	return whenDown
}

func namedContainer(cs []portainer.Container, appID string) *portainer.Container {
	for i := range cs {
		for _, n := range cs[i].Names {
			if strings.EqualFold(strings.TrimPrefix(n, "/"), appID) {
				return &cs[i]
			}
		}
	}
	return nil
}

func unixTime(sec int64) *time.Time {
	if sec <= 0 {
		return nil
	}
	t := time.Unix(sec, 0).UTC()
	return &t
}

// record returns what the View knows of ref, reading the stack list for an
// app that no listing of this View returned (e.g. resolved by id).
func (v *View) record(ctx context.Context, ref AppRef) (*appRecord, error) {
	v.mu.Lock()
	rec, ok := v.records[ref]
	v.mu.Unlock()
	if ok {
		return rec, nil
	}
	stacks, err := v.getStacks(ctx)
	if err != nil {
		return nil, err
	}
	rec = &appRecord{AppSummary: AppSummary{AppRef: ref}}
	for _, i := range derive(&v.s.derived, "stacks", stacks, newStackIndex)[strings.ToLower(ref.ID)] {
		if ref.EndpointID == 0 || stacks[i].EndpointID == ref.EndpointID {
			rec.stack = &stacks[i]
			rec.StackID = stacks[i].ID
			rec.Official = true
			break
		}
	}
	v.mu.Lock()
	v.records[ref] = rec
	v.mu.Unlock()
	return rec, nil
}

func (v *View) recordsOf(ctx context.Context, refs []AppRef) ([]*appRecord, error) {
	out := make([]*appRecord, len(refs))
	for i, ref := range refs {
		rec, err := v.record(ctx, ref)
		if err != nil {
			return nil, err
		}
		out[i] = rec
	}
	return out, nil
}

// fill runs one function per ref and returns its values and errors in ref
// order; a shared failure (a list that could not be read) fails every ref.
func fill[T any](refs []AppRef, shared error, fn func(i int) (T, error)) ([]T, []error) {
	vals := make([]T, len(refs))
	errs := make([]error, len(refs))
	for i := range refs {
		if shared != nil {
			errs[i] = shared
			continue
		}
		vals[i], errs[i] = fn(i)
	}
	return vals, errs
}

// rawStacks returns each app's Portainer stack (nil when it has none).
func (v *View) rawStacks(ctx context.Context, refs []AppRef) ([]*portainer.Stack, []error) {
	recs, err := v.recordsOf(ctx, refs)
	return fill(refs, err, func(i int) (*portainer.Stack, error) { return recs[i].stack, nil })
}

// rawContainers returns each app's containers: those of its compose project
// on its endpoint, from one container list per endpoint.
func (v *View) rawContainers(ctx context.Context, refs []AppRef) ([][]portainer.Container, []error) {
	return fill(refs, nil, func(i int) ([]portainer.Container, error) {
		if refs[i].EndpointID == 0 {
			return nil, nil
		}
		x, err := v.knownContainers(ctx, refs[i].EndpointID)
		if err != nil {
			return nil, err
		}
		return x.project(refs[i].ID), nil
	})
}

// rawProxies returns each app's NPM proxy hosts (forward_host == app id), by
// id, from one proxy-host list.
func (v *View) rawProxies(ctx context.Context, refs []AppRef) ([][]proxymanager.ProxyHost, []error) {
	x, err := v.getProxies(ctx)
	return fill(refs, err, func(i int) ([]proxymanager.ProxyHost, error) {
		return x.byHost[strings.ToLower(refs[i].ID)], nil
	})
}

// Domains returns each app's domains: those of its proxy hosts, lower-cased,
// each once; for an install in flight, the domains it asked for.
func (v *View) Domains(ctx context.Context, refs []AppRef) ([][]string, []error) {
	recs, rerr := v.recordsOf(ctx, refs)
	if rerr != nil {
		return fill(refs, rerr, func(int) ([]string, error) { return nil, nil })
	}
	need := false
	for _, r := range recs {
		need = need || r.install == nil
	}
	var hosts [][]proxymanager.ProxyHost
	var herrs []error
	if need {
		hosts, herrs = v.rawProxies(ctx, refs)
	}
	return fill(refs, nil, func(i int) ([]string, error) {
		if recs[i].install != nil {
			return slices.Clone(recs[i].install.Domains), nil
		}
		if herrs[i] != nil {
			return nil, herrs[i]
		}
		var out []string
		for _, h := range hosts[i] {
			for _, d := range h.DomainNames {
				if d = strings.ToLower(d); !slices.Contains(out, d) {
					out = append(out, d)
				}
			}
		}
		return out, nil
	})
}

// DefaultDomains returns each app's default domain: the host of W9_URL when
// it is one of the app's domains, else its first domain ("" without any).
func (v *View) DefaultDomains(ctx context.Context, refs []AppRef) ([]string, []error) {
	domains, derrs := v.Domains(ctx, refs)
	envs, eerrs := v.Env(ctx, refs)
	return fill(refs, nil, func(i int) (string, error) {
		if derrs[i] != nil {
			return "", derrs[i]
		}
		if len(domains[i]) == 0 {
			return "", nil
		}
		if eerrs[i] == nil {
			if u, ok := envs[i].Get("W9_URL"); ok {
				if h := urlHost(u); slices.Contains(domains[i], h) {
					return h, nil
				}
			}
		}
		return domains[i][0], nil
	})
}

// urlHost returns the lower-cased host of a W9_URL value, which may be a
// bare host, host:port or a URL.
func urlHost(raw string) string {
	raw = strings.TrimSpace(raw)
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// Env returns each app's environment: the stack's Env merged with the main
// container's Config.Env (inspected once per container id, ever). A stopped
// app has no container: its .env at the deployed commit stands in (read
// once per commit). An install in flight shows what it was asked for.
func (v *View) Env(ctx context.Context, refs []AppRef) ([]AppEnv, []error) {
	recs, rerr := v.recordsOf(ctx, refs)
	if rerr != nil {
		return fill(refs, rerr, func(int) (AppEnv, error) { return AppEnv{}, nil })
	}
	type job struct {
		container string // inspect this container
		endpoint  int
		envFile   *fileKey // or read this .env
		key       *envKey  // the merge's cache key
	}
	jobs := make([]job, len(refs))
	errs := make([]error, len(refs))
	out := make([]AppEnv, len(refs))
	done := make([]bool, len(refs))
	for i, rec := range recs {
		if refs[i].EndpointID == 0 {
			continue // never deployed: nothing runs
		}
		x, err := v.knownContainers(ctx, refs[i].EndpointID)
		if err != nil {
			errs[i] = err
			continue
		}
		if main := namedContainer(x.project(refs[i].ID), refs[i].ID); main != nil && main.Labels[kubeNamespaceLabel] == "" {
			jobs[i] = job{container: main.ID, endpoint: refs[i].EndpointID}
		} else if st := rec.stack; st != nil && st.GitConfig != nil && st.GitConfig.ConfigHash != "" && v.s.ownRepo(st) {
			jobs[i].envFile = &fileKey{app: rec.ID, sha: st.GitConfig.ConfigHash, path: ".env"}
		}
		if st := rec.stack; st != nil && (jobs[i].container != "" || jobs[i].envFile != nil) {
			k := envKey{stack: st.ID, stackEnv: stackEnvHash(st.Env), source: "c:" + jobs[i].container}
			if jobs[i].envFile != nil {
				k.source = "f:" + jobs[i].envFile.sha
			}
			jobs[i].key = &k
			if env, ok := v.s.details.merged.Get(k); ok {
				out[i], done[i] = env, true
			}
		}
	}
	containerEnv := make([][]string, len(refs))
	fileEnv := make([]map[string]string, len(refs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fetchLimit)
	for i, j := range jobs {
		switch {
		case errs[i] != nil || done[i]:
		case j.container != "":
			if env, ok := v.s.details.envs.Get(j.container); ok {
				containerEnv[i] = env
				continue
			}
			g.Go(func() error {
				cj, err := v.s.stacks.InspectContainer(gctx, j.endpoint, j.container)
				if err != nil {
					errs[i] = upstreamErr("portainer", err, "inspect container "+shortID(j.container))
					return nil
				}
				var env []string
				if cj.Config != nil {
					env = cj.Config.Env
				}
				v.s.details.envs.Add(j.container, env)
				containerEnv[i] = env
				return nil
			})
		case j.envFile != nil:
			g.Go(func() error {
				e, err := v.s.repoFile(gctx, *j.envFile)
				if err != nil {
					errs[i] = err
					return nil
				}
				if !e.missing {
					if f, err := dotenv.Parse(e.data); err == nil {
						fileEnv[i] = f.Map()
					}
				}
				return nil
			})
		}
	}
	_ = g.Wait()
	for i, rec := range recs {
		if errs[i] != nil || done[i] {
			continue
		}
		m := map[string]string{}
		if rec.install != nil && rec.stack == nil {
			in := rec.install
			m["W9_ID"], m["W9_APP_NAME"], m["W9_VERSION"], m["W9_URL"] = in.AppID, in.AppName, in.Version, in.URL
			if in.Dist != "" {
				m["W9_DIST"] = in.Dist
			}
			for _, st := range in.Settings {
				m[st.Name] = st.Value
			}
		}
		if rec.stack != nil {
			for _, e := range rec.stack.Env {
				m[e.Name] = e.Value
			}
		}
		for k, val := range fileEnv[i] {
			m[k] = val
		}
		for _, kv := range containerEnv[i] {
			k, val, _ := strings.Cut(kv, "=")
			m[k] = val
		}
		vars := make([]EnvVar, 0, len(m))
		for k, val := range m {
			vars = append(vars, EnvVar{Name: k, Value: val})
		}
		slices.SortFunc(vars, func(a, b EnvVar) int { return strings.Compare(a.Name, b.Name) })
		out[i] = AppEnv{Vars: vars}
		if jobs[i].key != nil {
			v.s.details.merged.Add(*jobs[i].key, out[i])
		}
	}
	return out, errs
}

func shortID(id string) string { return id[:min(12, len(id))] }

// Variables returns each app's variables.json at the commit its stack
// deployed (read once per commit); nil for an app that is not deployed from
// its repository or whose repository has no variables.json.
func (v *View) Variables(ctx context.Context, refs []AppRef) ([]map[string]any, []error) {
	recs, rerr := v.recordsOf(ctx, refs)
	if rerr != nil {
		return fill(refs, rerr, func(int) (map[string]any, error) { return nil, nil })
	}
	out := make([]map[string]any, len(refs))
	errs := make([]error, len(refs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fetchLimit)
	for i, rec := range recs {
		st := rec.stack
		if st == nil || st.GitConfig == nil || st.GitConfig.ConfigHash == "" || !v.s.ownRepo(st) {
			continue
		}
		key := fileKey{app: rec.ID, sha: st.GitConfig.ConfigHash, path: "variables.json"}
		if e, ok := v.s.details.files.Get(key); ok {
			out[i] = e.json
			continue
		}
		g.Go(func() error {
			e, err := v.s.repoFile(gctx, key)
			out[i], errs[i] = e.json, err
			return nil
		})
	}
	_ = g.Wait()
	return out, errs
}

// ProxySources says, for each app, where a new proxy's forward port and
// extra nginx configuration would come from (App.proxies' portSource and
// confSource): the labels in the view's container list, then the .env and
// nginx file of the commit the stack deploys, read once per commit. An app
// not deployed from its own repository is read live.
func (v *View) ProxySources(ctx context.Context, refs []AppRef) ([]*ProxySources, []error) {
	recs, rerr := v.recordsOf(ctx, refs)
	if rerr != nil {
		return fill(refs, rerr, func(int) (*ProxySources, error) { return nil, nil })
	}
	out := make([]*ProxySources, len(refs))
	errs := make([]error, len(refs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fetchLimit)
	for i, rec := range recs {
		g.Go(func() error {
			out[i], errs[i] = v.proxySources(gctx, rec)
			return nil
		})
	}
	_ = g.Wait()
	return out, errs
}

func (v *View) proxySources(ctx context.Context, rec *appRecord) (*ProxySources, error) {
	st := rec.stack
	if st == nil {
		return nil, apperr.New(apperr.NotFound, "no app %q", rec.ID)
	}
	if st.GitConfig == nil || st.GitConfig.ConfigHash == "" || !v.s.ownRepo(st) {
		return v.s.ProxySources(ctx, st.Name)
	}
	x, err := v.getContainers(ctx, st.EndpointID)
	if err != nil {
		return nil, err
	}
	sha := st.GitConfig.ConfigHash
	read := func(ctx context.Context, path string) ([]byte, bool, error) {
		e, err := v.s.repoFile(ctx, fileKey{app: st.Name, sha: sha, path: path})
		return e.data, !e.missing, err
	}
	t, err := resolveTarget(ctx, x.project(st.Name), st.Name, nil, read)
	if err != nil {
		return nil, err
	}
	return sourcesOf(t), nil
}

// repoFile reads a file of an app's repository at a commit, through the
// detail cache (a missing file is cached too).
func (s *Service) repoFile(ctx context.Context, key fileKey) (fileEntry, error) {
	if e, ok := s.details.files.Get(key); ok {
		return e, nil
	}
	data, err := s.repos.GetRawFile(ctx, key.app, key.path, key.sha)
	var e fileEntry
	switch {
	case notFound(err):
		e.missing = true
	case err != nil:
		return e, upstreamErr("gitea", err, "read "+key.path+" of "+key.app)
	default:
		e.data = data
		if strings.HasSuffix(key.path, ".json") {
			var m map[string]any
			if json.Unmarshal(data, &m) == nil {
				e.json = m
			}
		}
	}
	s.details.files.Add(key, e)
	return e, nil
}

// giteaBase is Gitea's root URL when the Repos implementation tells it.
func (s *Service) giteaBase() string {
	return strings.TrimRight(s.repos.BaseURL(), "/")
}

// repoOwnerName returns owner and name of the repository a stack deploys
// from when it is one of ours: a repository of our Gitea (reached through
// its own URL or the clone base URL) named like the app.
func (s *Service) repoOwnerName(st *portainer.Stack) (string, string, bool) {
	if st == nil || st.GitConfig == nil {
		return "", "", false
	}
	raw := strings.TrimSuffix(strings.TrimRight(st.GitConfig.URL, "/"), ".git")
	for _, base := range [2]string{s.giteaBase(), strings.TrimRight(s.up.Load().cloneBase, "/")} {
		// raw starts with base + "/", ignoring case (without allocating:
		// this runs for every app of every listing).
		if base == "" || len(raw) <= len(base) || raw[len(base)] != '/' || !strings.EqualFold(raw[:len(base)], base) {
			continue
		}
		owner, name, ok := strings.Cut(raw[len(base)+1:], "/")
		if !ok || strings.Contains(name, "/") || !strings.EqualFold(name, st.Name) {
			return "", "", false
		}
		if o := s.repos.Owner(); o != "" && !strings.EqualFold(o, owner) {
			return "", "", false
		}
		return owner, name, true
	}
	return "", "", false
}

func (s *Service) ownRepo(st *portainer.Stack) bool {
	_, _, ok := s.repoOwnerName(st)
	return ok
}

func (s *Service) repoLinks(owner, name string) *RepoLinks {
	base := s.giteaBase()
	if base == "" || owner == "" {
		return nil
	}
	full := url.PathEscape(owner) + "/" + url.PathEscape(name)
	return &RepoLinks{URL: base + "/api/v1/repos/" + full, CloneURL: base + "/" + full + ".git", HTMLURL: base + "/" + full, DefaultBranch: "main"}
}

// Repositories returns each app's Gitea repository links, derived from the
// stack's git URL without a Gitea call; nil for an app not deployed from a
// repository of ours. An install in flight links its repository once the
// repository step has run.
func (v *View) Repositories(ctx context.Context, refs []AppRef) ([]*RepoLinks, []error) {
	recs, err := v.recordsOf(ctx, refs)
	return fill(refs, err, func(i int) (*RepoLinks, error) {
		rec := recs[i]
		if owner, name, ok := v.s.repoOwnerName(rec.stack); ok {
			l := v.s.repoLinks(owner, name)
			if l != nil && rec.stack.GitConfig.ReferenceName != "" {
				l.DefaultBranch = strings.TrimPrefix(rec.stack.GitConfig.ReferenceName, "refs/heads/")
			}
			return l, nil
		}
		if rec.stack == nil && (rec.missing || rec.install != nil && rec.op != nil && repoStepDone(rec.op) || kubeRepo(rec)) {
			return v.s.repoLinks(v.s.repos.Owner(), rec.ID), nil
		}
		return nil, nil
	})
}

func repoStepDone(op *ops.Operation) bool {
	for _, st := range op.Steps {
		if st.Name == "repository" {
			return st.Status == ops.StepSucceeded || st.Status == ops.StepUndoFailed
		}
	}
	return false
}

// LastOperations returns each app's newest operation (nil without one), in
// one SQLite read.
func (v *View) LastOperations(ctx context.Context, refs []AppRef) ([]*ops.Operation, []error) {
	seen := make(map[string]bool, len(refs))
	ids := make([]string, 0, len(refs))
	for _, r := range refs {
		if !seen[r.ID] {
			seen[r.ID] = true
			ids = append(ids, r.ID)
		}
	}
	latest, err := v.s.engine.LatestByApp(ctx, ids)
	return fill(refs, err, func(i int) (*ops.Operation, error) { return latest[refs[i].ID], nil })
}
