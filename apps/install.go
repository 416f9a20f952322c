package apps

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/gitea"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/datasources/proxymanager"
	"github.com/appmanage/appmanage/library"
	"github.com/appmanage/appmanage/ops"
)

// InstallRequest is an install as the API receives it, not yet validated.
type InstallRequest struct {
	AppName        string
	AppID          string
	Domains        []string
	DefaultDomain  string
	Version        string
	Settings       []EnvSetting
	EndpointID     int // 0 = the default endpoint
	IdempotencyKey string
	// WebPort chooses the container port NPM forwards the domains to, for
	// a web app whose material names none (0 = decide or refuse).
	WebPort int
	// AllowUnreachableImages installs even when an image is neither on
	// the endpoint nor in a registry that answers.
	AllowUnreachableImages bool
}

const projectLabel = "com.docker.compose.project"

// Install validates the request and checks every precondition synchronously
// (DESIGN.md §5.1), then submits the install operation and returns it at
// once. Nothing is written anywhere before the checks pass.
func (s *Service) Install(ctx context.Context, req InstallRequest) (*ops.Operation, error) {
	if op, done, err := s.replay(ctx, req.IdempotencyKey, KindInstall, req.AppID); done {
		return op, err
	}
	in, app, err := s.validateInstall(req)
	if err != nil {
		return nil, err
	}
	ep, err := s.pickEndpoint(ctx, req.EndpointID)
	if err != nil {
		return nil, err
	}
	in.EndpointID, in.Actor = ep.ID, actor(ctx)
	// kubeInstall refuses material without a form for the endpoint's type
	// (materialFor), and takes over the install on a Kubernetes endpoint.
	if op, done, err := s.kubeInstall(ctx, req.IdempotencyKey, in, app, ep); done {
		return op, err
	}
	if in.Images, err = s.installImages(ctx, app, in, req.AllowUnreachableImages); err != nil {
		return nil, err
	}
	host := s.publicHost(ctx)
	// Ports this install chose itself that turned out taken by the time
	// they were checked under the claims (a rival chose them at the same
	// moment): choose again without them, a bounded number of times.
	avoid := map[int]bool{}
	for attempt := 1; ; attempt++ {
		plan := in
		plan.Settings = slices.Clone(in.Settings)
		if _, err := s.planPorts(ctx, app, &plan, avoid); err != nil {
			return nil, err
		}
		if plan.URL == "" {
			plan.URL = s.fallbackURL(ep, host, plan)
		}
		op, repick, err := s.submitInstall(ctx, req.IdempotencyKey, plan)
		if repick != 0 && attempt < maxPortPicks {
			avoid[repick] = true
			continue
		}
		return op, err
	}
}

// maxPortPicks bounds how often one install chooses its host ports again
// because concurrent installs took the ones it chose.
const maxPortPicks = 8

// submitInstall checks the planned install under the claims of its names
// and submits it. repick is a host port the install chose itself that is
// now taken (the error says by what): the caller may plan again without it.
func (s *Service) submitInstall(ctx context.Context, key string, in InstallInput) (op *ops.Operation, repick int, err error) {
	res := portKeys(in)
	for _, d := range in.Domains {
		res = append(res, "domain:"+d)
	}
	// The checks and the submit are one critical section per claimed name:
	// the steps reuse whatever they find under the app's name (preflight
	// proved it free), so a request whose checks passed before a rival
	// install of the same id or port ran to its end must not be submitted
	// after it (it would adopt the rival's app, and delete it on rollback).
	unlock, err := s.claims.lock(ctx, append([]string{"app:" + in.AppID}, res...))
	if err != nil {
		return nil, 0, err
	}
	defer unlock()
	if err := s.refuseActive(ctx, in.AppID); err != nil {
		return nil, 0, err
	}
	if err := s.preflight(ctx, in); err != nil {
		if rp, ok := errors.AsType[*repickError](err); ok {
			return nil, rp.port, rp.err
		}
		return nil, 0, err
	}
	op, err = s.engine.Submit(ctx, ops.SubmitRequest{
		Kind: KindInstall, AppID: in.AppID, Input: in,
		IdempotencyKey: key, Reservations: res,
	})
	if re, ok := errors.AsType[*ops.ReservationError](err); ok {
		p, _ := pickedKey(in, re.Resource)
		return nil, p, installReservationErr(in, re)
	}
	return op, 0, err
}

// installReservationErr is reservationErr naming the install's port as the
// plan knows it (its setting, or that the compose file writes it).
func installReservationErr(in InstallInput, re *ops.ReservationError) error {
	for _, p := range in.Ports {
		if p.reservation(in.EndpointID) == re.Resource {
			holder := fmt.Sprintf("the %s of app %s (operation %s)", re.Kind, re.AppID, re.OperationID)
			return apperr.Precondition(p.field(), "%s on endpoint %d is being claimed by %s", p.describe(), in.EndpointID, holder)
		}
	}
	return reservationErr(re)
}

// repickError: preflight found only ports the install chose itself taken.
type repickError struct {
	port int
	err  error
}

func (e *repickError) Error() string { return e.err.Error() }
func (e *repickError) Unwrap() error { return e.err }

// reservationErr says, in the request's terms, which port or domain an
// in-flight operation holds.
func reservationErr(re *ops.ReservationError) error {
	holder := fmt.Sprintf("the %s of app %s (operation %s)", re.Kind, re.AppID, re.OperationID)
	if d, ok := strings.CutPrefix(re.Resource, "domain:"); ok {
		return apperr.Precondition("domains", "domain %s is being claimed by %s", d, holder)
	}
	if rest, ok := strings.CutPrefix(re.Resource, "port:"); ok {
		if ep, port, ok := strings.Cut(rest, ":"); ok {
			return apperr.Precondition("settings", "host port %s on endpoint %s is being claimed by %s", port, ep, holder)
		}
	}
	return apperr.Precondition("", "%s is being claimed by %s", re.Resource, holder)
}

// claims serialises requests that claim the same names (app id, host
// ports, domains) within this process. The zero value is ready.
type claims struct {
	mu   sync.Mutex
	held map[string]*claim
}

type claim struct {
	ch   chan struct{} // holds a token while the name is locked
	refs int
}

// heldWithPrefix lists the keys starting with prefix that a request holds
// or waits for.
func (c *claims) heldWithPrefix(prefix string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for k := range c.held {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out
}

// lock takes every key (in sorted order, so two requests never deadlock),
// waiting while another request holds one, or until ctx ends.
func (c *claims) lock(ctx context.Context, keys []string) (func(), error) {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	var taken []string
	release := func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, k := range taken {
			cl := c.held[k]
			<-cl.ch
			if cl.refs--; cl.refs == 0 {
				delete(c.held, k)
			}
		}
	}
	for _, k := range keys {
		c.mu.Lock()
		if c.held == nil {
			c.held = map[string]*claim{}
		}
		cl := c.held[k]
		if cl == nil {
			cl = &claim{ch: make(chan struct{}, 1)}
			c.held[k] = cl
		}
		cl.refs++
		c.mu.Unlock()
		select {
		case cl.ch <- struct{}{}:
			taken = append(taken, k)
		case <-ctx.Done():
			c.mu.Lock()
			if cl.refs--; cl.refs == 0 {
				delete(c.held, k)
			}
			c.mu.Unlock()
			release()
			return nil, ctx.Err()
		}
	}
	return release, nil
}

// replay returns the operation an earlier request with the same idempotency
// key started (done=true), so a retried request neither runs twice nor fails
// the preflight its first attempt now trips.
func (s *Service) replay(ctx context.Context, key, kind, appID string) (*ops.Operation, bool, error) {
	if key == "" {
		return nil, false, nil
	}
	op, err := s.engine.ByIdempotencyKey(ctx, key)
	if apperr.CodeOf(err) == apperr.NotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, err
	}
	if op.Kind != kind || op.AppID != appID {
		return nil, true, apperr.New(apperr.Conflict, "idempotency key already used by operation %s (%s of app %s)", op.ID, op.Kind, op.AppID)
	}
	return op, true, nil
}

func portReservation(endpoint, port int) string {
	return "port:" + strconv.Itoa(endpoint) + ":" + strconv.Itoa(port)
}

// validateInstall checks the request's syntax and its fit with the library.
func (s *Service) validateInstall(req InstallRequest) (InstallInput, *library.App, error) {
	in := InstallInput{AppName: strings.TrimSpace(req.AppName), AppID: req.AppID}
	if err := ValidateAppID("appId", req.AppID); err != nil {
		return in, nil, err
	}
	app, ok := s.catalog.Get(in.AppName)
	if !ok {
		return in, nil, apperr.Invalid("appName", "no app %q in the library", clip(in.AppName))
	}
	in.Version = strings.TrimSpace(req.Version)
	if in.Version == "" {
		in.Version = app.DefaultVersion
	}
	if !app.HasVersion(in.Version) {
		return in, nil, apperr.Invalid("version", "%s has no version %q; listed: %s", app.Name, clip(in.Version), strings.Join(versions(app), ", "))
	}
	in.Dist = app.EditionOf(in.Version)
	domains, err := NormalizeDomains("domains", req.Domains)
	if err != nil {
		return in, nil, err
	}
	if len(domains) > 0 && !app.Web {
		return in, nil, apperr.Invalid("domains", "%s serves no web interface, so it cannot have domains", app.Name)
	}
	in.Domains = domains
	if req.DefaultDomain != "" {
		d, err := NormalizeDomain("defaultDomain", req.DefaultDomain)
		if err != nil {
			return in, nil, err
		}
		if !slices.Contains(domains, d) {
			return in, nil, apperr.Invalid("defaultDomain", "%q is not one of the domains", clip(req.DefaultDomain))
		}
		in.DefaultDomain = d
	} else if len(domains) > 0 {
		in.DefaultDomain = domains[0]
	}
	in.URL = in.DefaultDomain
	allowed := map[string]bool{}
	for _, st := range app.Settings {
		allowed[st.Key] = true
	}
	seen := map[string]bool{}
	for i, st := range req.Settings {
		field := "settings[" + strconv.Itoa(i) + "]"
		if !allowed[st.Name] {
			keys := make([]string, 0, len(app.Settings))
			for _, a := range app.Settings {
				keys = append(keys, a.Key)
			}
			return in, nil, apperr.Invalid(field, "%q is not a setting of %s; settings: %s", clip(st.Name), app.Name, strings.Join(keys, ", "))
		}
		if seen[st.Name] {
			return in, nil, apperr.Invalid(field, "%s is given twice", st.Name)
		}
		seen[st.Name] = true
		if err := ValidateEnvValue(field, st.Value); err != nil {
			return in, nil, err
		}
		in.Settings = append(in.Settings, EnvSetting{Name: st.Name, Value: st.Value})
	}
	if req.WebPort != 0 {
		if req.WebPort < 1 || req.WebPort > 65535 {
			return in, nil, apperr.Invalid("webPort", "%d is not a port number (1-65535)", req.WebPort)
		}
		if !app.Web {
			return in, nil, apperr.Invalid("webPort", "%s serves no web interface (its .env has no W9_URL), so it takes no webPort", app.Name)
		}
		in.WebPort = req.WebPort
	}
	ports, err := hostPorts(app, in.Settings)
	if err != nil {
		return in, nil, err
	}
	in.HostPorts = ports
	// Render once now so a template problem is reported before anything is
	// written; the step renders again with fresh passwords.
	if _, err := render(app, in); err != nil {
		return in, nil, err
	}
	return in, app, nil
}

// versions lists what an install of app may ask for: the default version
// first, each version once.
func versions(app *library.App) []string { return app.Versions() }

// refuseActive answers CONFLICT early when the app has an operation in
// flight (the unique index in ops is what guarantees it under races).
func (s *Service) refuseActive(ctx context.Context, appID string) error {
	active, err := s.engine.List(ctx, ops.ListFilter{AppID: appID, Statuses: []ops.Status{ops.StatusQueued, ops.StatusRunning, ops.StatusRollingBack}, Limit: 1})
	if err != nil {
		return err
	}
	if len(active) > 0 {
		return apperr.New(apperr.Conflict, "operation %s (%s) is already running for app %s", active[0].ID, active[0].Kind, appID)
	}
	return nil
}

// pickEndpoint returns the requested endpoint, or the default one, and
// checks that it is up.
func (s *Service) pickEndpoint(ctx context.Context, id int) (*portainer.Endpoint, error) {
	if id == 0 {
		id = s.cfg.DefaultEndpoint
		if v, err := strconv.Atoi(s.setting(ctx, "defaultEndpointId")); err == nil && v > 0 {
			id = v
		}
	}
	if id != 0 {
		ep, err := s.stacks.GetEndpoint(ctx, id)
		if notFound(err) {
			return nil, apperr.Precondition("endpointId", "Portainer has no endpoint %d", id)
		}
		if err != nil {
			return nil, upstreamErr("portainer", err, "read endpoint")
		}
		if ep.Status != 1 {
			return nil, apperr.Precondition("endpointId", "endpoint %d (%s) is down", ep.ID, ep.Name)
		}
		return ep, nil
	}
	eps, err := s.stacks.ListEndpoints(ctx)
	if err != nil {
		return nil, upstreamErr("portainer", err, "list endpoints")
	}
	for i := range eps {
		if eps[i].Status == 1 {
			return &eps[i], nil
		}
	}
	return nil, apperr.Precondition("endpointId", "Portainer has no endpoint that is up")
}

// publicHost is the host used in W9_URL without a domain: the run-time
// setting, else the start-up flag.
func (s *Service) publicHost(ctx context.Context) string {
	if h := s.setting(ctx, "publicHost"); h != "" {
		return h
	}
	return s.cfg.PublicHost
}

// fallbackURL is W9_URL for an app without a domain: host:port.
func (s *Service) fallbackURL(ep *portainer.Endpoint, host string, in InstallInput) string {
	if host == "" && ep.PublicURL != "" {
		host = ep.PublicURL
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
	}
	if host == "" {
		host = "localhost"
	}
	if len(in.HostPorts) == 0 {
		return host
	}
	return net.JoinHostPort(host, strconv.Itoa(in.HostPorts[0]))
}

// preflight checks, in parallel, that nothing in Gitea, Portainer or NPM
// already uses the app id, the domains or the host ports.
func (s *Service) preflight(ctx context.Context, in InstallInput) error {
	g, gctx := errgroup.WithContext(ctx)
	var mu sync.Mutex
	var problems []error
	var repicks []*repickError
	fail := func(err error) {
		mu.Lock()
		problems = append(problems, err)
		mu.Unlock()
	}
	g.Go(func() error {
		_, err := s.repos.GetRepo(gctx, in.AppID)
		switch {
		case err == nil:
			fail(apperr.New(apperr.Conflict, "app id %q is taken: Gitea already has a repository %s/%s", in.AppID, s.repos.Owner(), in.AppID))
		case !notFound(err):
			return upstreamErr("gitea", err, "look up repository")
		}
		return nil
	})
	g.Go(func() error {
		stacks, err := s.stacks.ListStacks(gctx, 0)
		if err != nil {
			return upstreamErr("portainer", err, "list stacks")
		}
		for _, st := range stacks {
			if strings.EqualFold(st.Name, in.AppID) {
				fail(apperr.New(apperr.Conflict, "app id %q is taken: Portainer already has a stack of that name on endpoint %d", in.AppID, st.EndpointID))
			}
		}
		return nil
	})
	g.Go(func() error {
		cs, err := s.stacks.ListContainers(gctx, in.EndpointID, portainer.ContainerFilter{All: true})
		if err != nil {
			return upstreamErr("portainer", err, "list containers")
		}
		for _, c := range cs {
			if strings.EqualFold(c.Labels[projectLabel], in.AppID) || slices.Contains(c.Names, "/"+in.AppID) {
				fail(apperr.New(apperr.Conflict, "app id %q is taken: endpoint %d already runs container %s of that project", in.AppID, in.EndpointID, strings.TrimPrefix(firstName(c), "/")))
				break
			}
		}
		for _, p := range in.Ports {
			owner := portHolder(cs, p)
			if owner == "" {
				continue
			}
			err := apperr.Precondition(p.field(), "%s is already published by container %s on endpoint %d", p.describe(), owner, in.EndpointID)
			if p.Source == PortDefault || p.Source == PortNextFree {
				mu.Lock()
				repicks = append(repicks, &repickError{port: p.HostPort, err: err})
				mu.Unlock()
				continue
			}
			fail(err)
		}
		for _, p := range in.HostPorts {
			if slices.ContainsFunc(in.Ports, func(pp PlannedPort) bool { return pp.HostPort == p }) {
				continue // checked above, with its protocol and address
			}
			if owner := portOwner(cs, p); owner != "" {
				fail(apperr.Precondition("settings", "host port %d is already published by container %s on endpoint %d", p, owner, in.EndpointID))
			}
		}
		return nil
	})
	if len(in.Domains) > 0 {
		g.Go(func() error {
			err := s.otherHostConflicts(gctx, in.Domains)
			if apperr.CodeOf(err) == apperr.PreconditionFailed {
				fail(err)
				return nil
			}
			return err
		})
	}
	g.Go(func() error {
		hosts, err := s.proxies.ListProxyHosts(gctx)
		if err != nil {
			return upstreamErr("npm", err, "list proxy hosts")
		}
		for _, h := range hosts {
			if strings.EqualFold(h.ForwardHost, in.AppID) {
				fail(apperr.New(apperr.Conflict, "app id %q is taken: NPM proxy host %d already forwards to it", in.AppID, h.ID))
			}
		}
		if err := domainConflicts(hosts, in.Domains, in.AppID, 0); err != nil {
			fail(err)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	if len(problems) == 0 {
		if len(repicks) > 0 {
			return repicks[0]
		}
		return nil
	}
	// Report the most useful problem: a taken id first, then ports/domains.
	slices.SortStableFunc(problems, func(a, b error) int {
		ca, cb := apperr.CodeOf(a) == apperr.Conflict, apperr.CodeOf(b) == apperr.Conflict
		switch {
		case ca && !cb:
			return -1
		case cb && !ca:
			return 1
		}
		return 0
	})
	return problems[0]
}

func firstName(c portainer.Container) string {
	if len(c.Names) > 0 {
		return c.Names[0]
	}
	return c.ID
}

func portOwner(cs []portainer.Container, port int) string {
	for _, c := range cs {
		for _, p := range c.Ports {
			if p.PublicPort == port {
				return strings.TrimPrefix(firstName(c), "/")
			}
		}
	}
	return ""
}

// --- the install workflow ---------------------------------------------------

func (s *Service) installWorkflow() ops.Workflow {
	return ops.Workflow{
		Kind: KindInstall,
		Steps: []ops.Step{
			{Name: "prepare", Weight: 1, Timeout: s.cfg.StepTimeout, Do: s.stepPrepare},
			{Name: "repository", Weight: 2, Timeout: s.cfg.StepTimeout, Retries: 3, UndoOnFailure: true, Do: s.stepRepository, Undo: s.undoRepository},
			{Name: "webhook", Weight: 1, Timeout: s.cfg.StepTimeout, Retries: 3, UndoOnFailure: true, Do: s.stepWebhook, Undo: s.undoWebhook},
			{Name: "stack", Weight: 5, Timeout: s.cfg.DeployTimeout, Retries: 2, UndoOnFailure: true, Do: s.stepStack, Undo: s.undoStack},
			{Name: "proxy", Weight: 2, Timeout: s.cfg.StepTimeout, Retries: 3, UndoOnFailure: true, Do: s.stepProxy, Undo: s.undoProxy},
		},
	}
}

func (s *Service) input(r *ops.Run) (InstallInput, *library.App, error) {
	var in InstallInput
	if err := r.Input(&in); err != nil {
		return in, nil, fmt.Errorf("decode install input: %w", err)
	}
	app, ok := s.catalog.Get(in.AppName)
	if !ok {
		return in, nil, apperr.Precondition("appName", "app %q is no longer in the library", in.AppName)
	}
	return in, app, nil
}

func (s *Service) stepPrepare(_ context.Context, r *ops.Run) error {
	in, app, err := s.input(r)
	if err != nil {
		return err
	}
	files, err := render(app, in)
	if err != nil {
		return err
	}
	r.Logf("prepared %d files of %s %s for %s", len(files), app.Name, in.Version, in.AppID)
	for _, p := range in.Ports {
		r.Logf("%s", portEvent(p))
	}
	if in.WebPort != 0 {
		r.Logf("web port %d written to .env as W9_HTTP_PORT: %s names none", in.WebPort, app.Name)
	}
	return nil
}

func (s *Service) stepRepository(ctx context.Context, r *ops.Run) error {
	in, app, err := s.input(r)
	if err != nil {
		return err
	}
	// Preflight proved the name free, so the first attempt creates at once
	// (a failed create is looked up below); a retried or resumed one first
	// looks for its own earlier effect.
	var repo *gitea.Repository
	err = errNotLookedUp
	if tried, terr := r.Get(keyRepoTried, new(bool)); terr != nil {
		return terr
	} else if tried || r.Resumed() {
		repo, err = s.repos.GetRepo(ctx, in.AppID)
	} else if err := r.Set(keyRepoTried, true); err != nil {
		return err
	}
	if notFound(err) || err == errNotLookedUp {
		repo, err = s.repos.CreateRepo(ctx, in.AppID, gitea.CreateRepoOptions{
			Description: fmt.Sprintf("%s %s installed by appmanage", app.Name, in.Version),
		})
		if err != nil {
			// A create is not idempotent: before retrying, see whether it
			// happened after all (the name is ours: preflight proved it free).
			if found, gerr := s.repos.GetRepo(ctx, in.AppID); gerr == nil {
				repo, err = found, nil
				r.Logf("repository %s was created although the call failed; using it", in.AppID)
			}
		}
		if err != nil {
			return retryIfTransient(upstreamErr("gitea", err, "create repository"))
		}
		r.Logf("created repository %s/%s", s.repos.Owner(), in.AppID)
	} else if err != nil {
		return retryIfTransient(upstreamErr("gitea", err, "look up repository"))
	}
	// The stack step clones from here; journalled, it need not ask again.
	if err := r.Set(keyRepoURLs, repoURLs{Clone: repo.CloneURL, HTML: repo.HTMLURL, Owner: repo.Owner, Name: repo.Name}); err != nil {
		return err
	}
	if !repo.Empty {
		r.Logf("repository already holds the app's material")
		return nil
	}
	files, err := render(app, in)
	if err != nil {
		return err
	}
	commit := gitea.Commit{Branch: "main", Message: fmt.Sprintf("Install %s %s as %s", app.Name, in.Version, in.AppID)}
	for _, p := range sortedKeys(files) {
		commit.Files = append(commit.Files, gitea.FileChange{Operation: "create", Path: p, Content: files[p]})
	}
	// While Gitea commits (the slowest call of the install), the stack
	// step's first read is made: the project's volumes before the deploy,
	// journalled once. A failure here is left for the stack step to retry.
	var wg sync.WaitGroup
	wg.Go(func() {
		if in.Material != "" {
			return // no Docker volumes on Kubernetes
		}
		if err := s.recordVolumesBefore(ctx, r, in.EndpointID, in.AppID); err != nil {
			r.Logf("volumes not listed yet (the stack step will): %v", err)
		}
	})
	defer wg.Wait()
	if _, err := s.repos.CommitFiles(ctx, in.AppID, commit); err != nil {
		if again, gerr := s.repos.GetRepo(ctx, in.AppID); gerr == nil && !again.Empty {
			r.Logf("the commit landed although the call failed")
			return nil
		}
		return retryIfTransient(upstreamErr("gitea", err, "commit the app's material"))
	}
	r.Logf("committed %d files in one commit", len(files))
	return nil
}

// Journal keys of the install's repository step.
const (
	keyRepoTried = "repoCreateTried" // bool: an attempt went straight to the create
	keyRepoURLs  = "repoURLs"        // repoURLs: what the stack step needs of the repository
	// keyStackTried marks that an attempt of the stack step went straight
	// to the create.
	keyStackTried = "stackCreateTried"
)

// errNotLookedUp marks a repository the first attempt did not look up.
var errNotLookedUp = errors.New("not looked up")

// repoURLs is the part of the app's repository the stack step needs.
type repoURLs struct {
	Clone string `json:"clone"`
	HTML  string `json:"html"`
	Owner string `json:"owner"`
	Name  string `json:"name"`
}

func (s *Service) undoRepository(ctx context.Context, r *ops.Run) error {
	return s.stepDeleteRepository(ctx, r)
}

// repositoryStack is the request that deploys the app's repository as its
// stack (install, and repair when the stack is gone), with the clone
// credentials of the client set in ctx.
func (s *Service) repositoryStack(ctx context.Context, appID string, repo *gitea.Repository) portainer.CreateRepositoryStackRequest {
	git := s.ups(ctx).git
	return portainer.CreateRepositoryStackRequest{
		Name:                     appID,
		RepositoryURL:            s.cloneURL(ctx, repo),
		RepositoryReferenceName:  "refs/heads/main",
		ComposeFile:              "docker-compose.yml",
		RepositoryAuthentication: git.Password != "",
		RepositoryUsername:       git.Username,
		RepositoryPassword:       git.Password,
	}
}

func (s *Service) cloneURL(ctx context.Context, repo *gitea.Repository) string {
	base := s.ups(ctx).cloneBase
	if base == "" {
		return repo.CloneURL
	}
	return strings.TrimRight(base, "/") + "/" + repo.Owner + "/" + repo.Name + ".git"
}

func (s *Service) stepStack(ctx context.Context, r *ops.Run) error {
	in, app, err := s.input(r)
	if err != nil {
		return err
	}
	if in.Material != "" {
		return s.kubeStepStack(ctx, r, in, app)
	}
	// Two independent reads: the volumes there before the deploy (usually
	// journalled by the repository step already), and whether the stack
	// exists. Preflight proved the name free, so the first attempt skips
	// the second and creates (a failed create is looked up below); a
	// retried or resumed one finds its own stack.
	tried, err := r.Get(keyStackTried, new(bool))
	if err != nil {
		return err
	}
	var st *portainer.Stack
	err = errNotLookedUp
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.recordVolumesBefore(gctx, r, in.EndpointID, in.AppID) })
	if tried || r.Resumed() {
		g.Go(func() error { st, err = s.stacks.FindStackByName(gctx, in.EndpointID, in.AppID); return nil })
	}
	if gerr := g.Wait(); gerr != nil {
		return gerr
	}
	if !tried && !r.Resumed() {
		if serr := r.Set(keyStackTried, true); serr != nil {
			return serr
		}
	}
	if notFound(err) || err == errNotLookedUp {
		var urls repoURLs
		if ok, jerr := r.Get(keyRepoURLs, &urls); jerr != nil {
			return jerr
		} else if !ok {
			// Journalled by an older version: ask Gitea.
			repo, gerr := s.repos.GetRepo(ctx, in.AppID)
			if gerr != nil {
				return retryIfTransient(upstreamErr("gitea", gerr, "read repository"))
			}
			urls = repoURLs{Clone: repo.CloneURL, HTML: repo.HTMLURL, Owner: repo.Owner, Name: repo.Name}
		}
		repo := &gitea.Repository{CloneURL: urls.Clone, HTMLURL: urls.HTML, Owner: urls.Owner, Name: urls.Name}
		r.Logf("deploying stack %s on endpoint %d from %s", in.AppID, in.EndpointID, repo.HTMLURL)
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
	} else if err != nil {
		return retryIfTransient(upstreamErr("portainer", err, "look up stack"))
	}
	if err := r.Set("stackId", st.ID); err != nil {
		return err
	}
	r.Logf("stack %s (id %d) deployed", st.Name, st.ID)
	// While the container starts (0.15-0.2 s on a real Docker), the proxy
	// step's repository reads are made and journalled; a failed read is
	// left for the proxy step to make and report.
	var conf map[string]*string
	var confErr error
	var wg sync.WaitGroup
	if len(in.Domains) > 0 && app.Web {
		wg.Go(func() { conf, confErr = s.prefetchProxyConf(ctx, in.AppID) })
	}
	cs, err := s.waitRunningList(ctx, r, in.EndpointID, in.AppID)
	wg.Wait()
	if err != nil {
		return err
	}
	if conf != nil && confErr == nil {
		if err := r.Set(keyProxyConf, conf); err != nil {
			return err
		}
	}
	// The proxy step reads the containers' port labels; journalled, it
	// need not list them again.
	return r.Set(keyContainers, labelsOnly(cs))
}

// keyProxyConf journals the app's extra nginx configuration files as the
// stack step read them: path -> content, nil when the file does not exist.
const keyProxyConf = "proxyConf"

// prefetchProxyConf reads every candidate extra nginx configuration file of
// the app's repository at once.
func (s *Service) prefetchProxyConf(ctx context.Context, appID string) (map[string]*string, error) {
	read := s.repoFileReader(appID)
	out := make(map[string]*string, len(proxyConfPaths))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for _, p := range proxyConfPaths {
		g.Go(func() error {
			b, found, err := read(gctx, p)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			if found {
				out[p] = new(string(b))
			} else {
				out[p] = nil
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// keyContainers journals the app's containers as the stack step saw them
// running (names, state, labels).
const keyContainers = "containers"

func labelsOnly(cs []portainer.Container) []portainer.Container {
	out := make([]portainer.Container, len(cs))
	for i, c := range cs {
		out[i] = portainer.Container{ID: c.ID, Names: c.Names, State: c.State, Labels: c.Labels}
	}
	return out
}

// waitRunning waits until the app's main container runs.
func (s *Service) waitRunning(ctx context.Context, r *ops.Run, endpoint int, appID string) error {
	_, err := s.waitRunningList(ctx, r, endpoint, appID)
	return err
}

// waitRunningList is waitRunning returning the app's containers as last
// listed.
func (s *Service) waitRunningList(ctx context.Context, r *ops.Run, endpoint int, appID string) ([]portainer.Container, error) {
	start := time.Now()
	deadline := start.Add(s.cfg.ContainerWait)
	// A container usually runs 0.15-0.2 s after the stack call returned
	// (contracts §7): a look (one container list) starts every 25 ms for
	// the first 2 s, or as soon as the previous one answered when that took
	// longer, then the pause between looks doubles.
	wait := 25 * time.Millisecond
	for {
		looked := time.Now()
		cs, err := s.stacks.ListContainers(ctx, endpoint, portainer.ContainerFilter{All: true, Labels: []string{projectLabel + "=" + appID}})
		if err != nil && !transient(err) {
			return nil, upstreamErr("portainer", err, "list the app's containers")
		}
		if err == nil {
			if main := mainContainer(cs, appID); main != nil && main.State == "running" {
				r.Logf("container %s is running", strings.TrimPrefix(firstName(*main), "/"))
				return cs, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, apperr.New(apperr.PreconditionFailed, "the app's main container did not start within %s", s.cfg.ContainerWait)
		}
		pause := wait
		if time.Since(start) < 2*time.Second {
			pause = max(0, wait-time.Since(looked))
		} else {
			wait = min(wait*2, 3*time.Second)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
	}
}

// mainContainer is the container named like the app, else the first one.
func mainContainer(cs []portainer.Container, appID string) *portainer.Container {
	for i := range cs {
		if slices.Contains(cs[i].Names, "/"+appID) {
			return &cs[i]
		}
	}
	if len(cs) > 0 {
		return &cs[0]
	}
	return nil
}

func (s *Service) undoStack(ctx context.Context, r *ops.Run) error {
	var in InstallInput
	if err := r.Input(&in); err != nil {
		return err
	}
	if in.Material != "" {
		return s.kubeUndoStack(ctx, r, in)
	}
	// Purge only the volumes this install created: those it found were
	// kept by an earlier uninstall (without purgeData) and hold user data.
	// Nothing recorded means the step never got as far as deploying.
	var before []string
	recorded, err := r.Get(stateVolumesBefore, &before)
	if err != nil {
		return err
	}
	return s.removeStackKeeping(ctx, r, in.EndpointID, r.AppID(), recorded, before)
}

// stateVolumesBefore is the journal key of the project's volumes that
// existed before the install deployed its stack.
const stateVolumesBefore = "volumesBefore"

// recordVolumesBefore journals, once per operation, the project's volumes
// that exist before the stack is first deployed.
func (s *Service) recordVolumesBefore(ctx context.Context, r *ops.Run, endpoint int, appID string) error {
	var before []string
	if done, err := r.Get(stateVolumesBefore, &before); done || err != nil {
		return err
	}
	vols, err := s.stacks.ListVolumes(ctx, endpoint, []string{projectLabel + "=" + appID})
	if err != nil {
		return retryIfTransient(upstreamErr("portainer", err, "list volumes"))
	}
	before = make([]string, 0, len(vols))
	for _, v := range vols {
		before = append(before, v.Name)
	}
	if len(before) > 0 {
		r.Logf("reusing volumes kept from an earlier install: %s", strings.Join(before, ", "))
	}
	return r.Set(stateVolumesBefore, before)
}

// removeStackKeeping deletes the app's stack (found by name) and, when
// purge is set, the compose project's volumes except those named in keep.
// Both treat "already gone" as done.
func (s *Service) removeStackKeeping(ctx context.Context, r *ops.Run, endpoint int, appID string, purge bool, keep []string) error {
	return s.removeStackByID(ctx, r, endpoint, appID, 0, purge, keep)
}

// removeStackByID is removeStackKeeping for a caller that already knows
// the stack's id (0: look it up by name). Portainer never reuses an id, so
// a 404 for it means that stack is gone; the name is then looked up, in
// case the stack was recreated by hand under a new id.
func (s *Service) removeStackByID(ctx context.Context, r *ops.Run, endpoint int, appID string, knownID int, purge bool, keep []string) error {
	// The project's volumes are listed while the stack is deleted: a stack
	// being deleted creates none, and they are deleted only after it.
	var (
		stackErr error
		vols     []portainer.Volume
		volsErr  error
	)
	var wg sync.WaitGroup
	wg.Go(func() { stackErr = s.deleteStack(ctx, r, endpoint, appID, knownID) })
	if purge {
		wg.Go(func() { vols, volsErr = s.stacks.ListVolumes(ctx, endpoint, []string{projectLabel + "=" + appID}) })
	}
	wg.Wait()
	if stackErr != nil {
		return stackErr
	}
	if !purge {
		return nil
	}
	if volsErr != nil {
		return upstreamErr("portainer", volsErr, "list volumes")
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, v := range vols {
		if slices.Contains(keep, v.Name) {
			r.Logf("kept volume %s, which this install did not create", v.Name)
			continue
		}
		g.Go(func() error {
			if err := s.stacks.DeleteVolume(gctx, endpoint, v.Name); err != nil && !notFound(err) {
				return upstreamErr("portainer", err, "delete volume "+v.Name)
			}
			r.Logf("deleted volume %s", v.Name)
			return nil
		})
	}
	return g.Wait()
}

// deleteStack deletes the app's stack (by knownID when set, else found by
// name); a stack already gone is done.
func (s *Service) deleteStack(ctx context.Context, r *ops.Run, endpoint int, appID string, knownID int) error {
	if knownID > 0 {
		err := s.stacks.DeleteStack(ctx, knownID, endpoint)
		if err == nil {
			r.Logf("deleted stack %s (id %d)", appID, knownID)
			return nil
		}
		if !notFound(err) {
			return upstreamErr("portainer", err, "delete stack")
		}
	}
	st, err := s.stacks.FindStackByName(ctx, endpoint, appID)
	switch {
	case err == nil:
		if err := s.stacks.DeleteStack(ctx, st.ID, endpoint); err != nil && !notFound(err) {
			return upstreamErr("portainer", err, "delete stack")
		}
		r.Logf("deleted stack %s (id %d)", appID, st.ID)
	case notFound(err):
		r.Logf("no stack %s on endpoint %d", appID, endpoint)
	default:
		return upstreamErr("portainer", err, "look up stack")
	}
	return nil
}

func (s *Service) stepProxy(ctx context.Context, r *ops.Run) error {
	in, app, err := s.input(r)
	if err != nil {
		return err
	}
	if len(in.Domains) == 0 || !app.Web {
		r.Logf("no domains: nothing to publish")
		return nil
	}
	// Preflight proved no host forwards to the app, so the first attempt
	// creates at once (a failed create is looked up below); a retried or
	// resumed one first looks for its own earlier host, along with the
	// target a new one would forward to.
	tried, err := r.Get(keyProxyTried, new(bool))
	if err != nil {
		return err
	}
	var (
		found          *proxymanager.ProxyHost
		target         proxyTarget
		findErr, tgErr error
	)
	var wg sync.WaitGroup
	if tried || r.Resumed() {
		wg.Go(func() { found, findErr = s.findProxy(ctx, in.AppID) })
	} else if err := r.Set(keyProxyTried, true); err != nil {
		return err
	}
	wg.Go(func() { target, tgErr = s.installTarget(ctx, r, in, app) })
	wg.Wait()
	if findErr != nil {
		return retryIfTransient(findErr)
	} else if found != nil {
		r.Logf("proxy host %d already exists", found.ID)
		return s.checkOnline(ctx, r, found.ID)
	}
	if tgErr != nil {
		return retryIfTransient(tgErr)
	}
	h, err := s.proxies.CreateProxyHost(ctx, proxymanager.ProxyHostRequest{
		DomainNames:           in.Domains,
		ForwardScheme:         target.Scheme,
		ForwardHost:           in.AppID,
		ForwardPort:           target.Port,
		BlockExploits:         true,
		AllowWebsocketUpgrade: true,
		AdvancedConfig:        target.Conf,
	})
	if err != nil {
		if found, ferr := s.findProxy(ctx, in.AppID); ferr == nil && found != nil {
			h, err = found, nil
			r.Logf("proxy host %d was created although the call failed; using it", h.ID)
		}
	}
	if err != nil {
		return retryIfTransient(upstreamErr("npm", err, "create proxy host"))
	}
	if err := r.Set("proxyId", h.ID); err != nil {
		return err
	}
	r.Logf("proxy host %d: %s -> %s://%s:%d (port from %s, extra conf from %s)", h.ID, strings.Join(in.Domains, ", "),
		target.Scheme, in.AppID, target.Port, target.PortSource, target.ConfSource)
	return s.checkOnline(ctx, r, h.ID)
}

// keyProxyTried marks that an attempt of the proxy step went straight to
// the create.
const keyProxyTried = "proxyCreateTried"

// installTarget is proxyTarget from the containers the stack step saw
// running and the configuration files it read, when it journalled them
// (else they are read now).
func (s *Service) installTarget(ctx context.Context, r *ops.Run, in InstallInput, app *library.App) (proxyTarget, error) {
	var cs []portainer.Container
	if ok, err := r.Get(keyContainers, &cs); err != nil {
		return proxyTarget{}, err
	} else if !ok {
		return s.proxyTarget(ctx, in.EndpointID, in.AppID, app)
	}
	read := s.repoFileReader(in.AppID)
	var conf map[string]*string
	if ok, err := r.Get(keyProxyConf, &conf); err != nil {
		return proxyTarget{}, err
	} else if ok {
		fetch := read
		read = func(ctx context.Context, path string) ([]byte, bool, error) {
			if c, ok := conf[path]; ok {
				if c == nil {
					return nil, false, nil
				}
				return []byte(*c), true, nil
			}
			return fetch(ctx, path)
		}
	}
	return resolveTarget(ctx, cs, in.AppID, app, read)
}

func (s *Service) checkOnline(ctx context.Context, r *ops.Run, id int) error {
	if _, err := s.proxies.CheckOnline(ctx, id); err != nil {
		// nginx refusing the config is an answer, not an outage: the same
		// UPSTREAM_REJECTED as the domain operations give.
		if ne, ok := errors.AsType[*proxymanager.NginxError](err); ok {
			return nginxErr(ne)
		}
		return retryIfTransient(upstreamErr("npm", err, fmt.Sprintf("read proxy host %d back", id)))
	}
	r.Logf("nginx serves proxy host %d", id)
	return nil
}

// findProxy returns the app's proxy host (forward_host == app id), if any.
func (s *Service) findProxy(ctx context.Context, appID string) (*proxymanager.ProxyHost, error) {
	hosts, err := s.appProxies(ctx, appID)
	if err != nil || len(hosts) == 0 {
		return nil, err
	}
	return &hosts[0], nil
}

func (s *Service) appProxies(ctx context.Context, appID string) ([]proxymanager.ProxyHost, error) {
	hosts, err := s.proxies.ListProxyHosts(ctx)
	if err != nil {
		return nil, upstreamErr("npm", err, "list proxy hosts")
	}
	var out []proxymanager.ProxyHost
	for _, h := range hosts {
		if strings.EqualFold(h.ForwardHost, appID) {
			out = append(out, h)
		}
	}
	return out, nil
}

func (s *Service) undoProxy(ctx context.Context, r *ops.Run) error {
	return s.removeProxies(ctx, r, r.AppID())
}

// removeProxies deletes every proxy host forwarding to the app.
func (s *Service) removeProxies(ctx context.Context, r *ops.Run, appID string) error {
	hosts, err := s.appProxies(ctx, appID)
	if err != nil {
		return err
	}
	// The hosts are independent: delete them at once.
	g, gctx := errgroup.WithContext(ctx)
	for _, h := range hosts {
		g.Go(func() error {
			if err := s.proxies.DeleteProxyHost(gctx, h.ID); err != nil && !notFound(err) {
				return upstreamErr("npm", err, fmt.Sprintf("delete proxy host %d", h.ID))
			}
			r.Logf("deleted proxy host %d (%s)", h.ID, strings.Join(h.DomainNames, ", "))
			return nil
		})
	}
	return g.Wait()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
