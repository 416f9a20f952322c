package apps

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/datasources/proxymanager"
	"github.com/appmanage/appmanage/library/dotenv"
	"github.com/appmanage/appmanage/ops"
)

// Operation kinds of the publishing (CP) stage.
const (
	KindDomainsAdd     = "domains-add"
	KindProxyUpdate    = "proxy-update"
	KindProxyDelete    = "proxy-delete"
	KindProxiesDelete  = "proxies-delete"
	KindProxiesEnable  = "proxies-enable"
	KindProxiesDisable = "proxies-disable"
	KindDefaultDomain  = "default-domain"
)

// DomainsInput is journalled with every domain or proxy operation.
type DomainsInput struct {
	AppID      string `json:"appId"`
	EndpointID int    `json:"endpointId"`
	// ProxyID is the host an update or a single delete is about.
	ProxyID int `json:"proxyId,omitempty"`
	// Domains are the domains to add (add), the proxy's full new list
	// (update) or the one new default domain (default-domain).
	Domains []string `json:"domains,omitempty"`
	// URLReplace: the app bakes W9_URL in at deploy time, so a change of
	// it needs a redeploy (the .env's W9_URL_REPLACE).
	URLReplace bool `json:"urlReplace"`
}

// ProxySources says where the forward port and the extra nginx
// configuration of an app's proxy come from, as a new proxy of the app
// would resolve them now.
type ProxySources struct {
	Scheme     string
	Port       int
	PortSource string // "label com.docker.compose.http.port", ".env W9_HTTPS_PORT", ...
	Conf       string
	ConfSource string // "src/nginx_proxy.conf", "src/nginx-proxy.conf" or "none"
}

// PortSourceOf names the source of an existing host's forward target: the
// resolved source when the host matches it, else the host itself (someone
// changed it in NPM, or the app's port changed since).
func (p *ProxySources) PortSourceOf(scheme string, port int) string {
	if scheme == p.Scheme && port == p.Port {
		return p.PortSource
	}
	return fmt.Sprintf("proxy host (resolution now gives %s %s:%d)", p.PortSource, p.Scheme, p.Port)
}

// ConfSourceOf names the source of an existing host's advanced_config.
func (p *ProxySources) ConfSourceOf(conf string) string {
	switch {
	case strings.TrimSpace(conf) == strings.TrimSpace(p.Conf) && p.ConfSource != "none":
		return p.ConfSource
	case strings.TrimSpace(conf) == "":
		return "none"
	}
	return "proxy host"
}

// ProxySources resolves, as a new proxy of the app would, its forward port
// and extra configuration and where each comes from.
func (s *Service) ProxySources(ctx context.Context, appID string) (*ProxySources, error) {
	if err := ValidateAppID("id", appID); err != nil {
		return nil, err
	}
	st, err := s.locateStack(ctx, appID)
	if err != nil {
		return nil, err
	}
	t, err := s.proxyTarget(ctx, st.EndpointID, appID, nil)
	if err != nil {
		return nil, err
	}
	return sourcesOf(t), nil
}

func sourcesOf(t proxyTarget) *ProxySources {
	return &ProxySources{Scheme: t.Scheme, Port: t.Port, PortSource: t.PortSource, Conf: t.Conf, ConfSource: t.ConfSource}
}

// --- requests: synchronous preflight, then one operation --------------------

// domainApp is what every domain preflight learns about the app.
type domainApp struct {
	in    DomainsInput
	hosts []proxymanager.ProxyHost // every NPM proxy host, disabled ones included
	own   []proxymanager.ProxyHost // the app's, by id
}

// AddAppDomains adds domains to the app's proxy (the one with the lowest id
// when it has several), or creates a proxy when it has none.
func (s *Service) AddAppDomains(ctx context.Context, appID string, domains []string) (*ops.Operation, error) {
	ds, err := requireDomains(domains)
	if err != nil {
		return nil, err
	}
	a, err := s.domainPreflight(ctx, appID)
	if err != nil {
		return nil, err
	}
	if err := domainConflicts(a.hosts, ds, appID, 0); err != nil {
		return nil, err
	}
	if err := s.otherHostConflicts(ctx, ds); err != nil {
		return nil, err
	}
	a.in.Domains = ds
	return s.submitDomains(ctx, KindDomainsAdd, a.in, ds)
}

// UpdateAppProxy replaces the domains of one proxy of the app.
func (s *Service) UpdateAppProxy(ctx context.Context, appID string, proxyID int, domains []string) (*ops.Operation, error) {
	ds, err := requireDomains(domains)
	if err != nil {
		return nil, err
	}
	if err := validProxyID(proxyID); err != nil {
		return nil, err
	}
	a, err := s.domainPreflight(ctx, appID)
	if err != nil {
		return nil, err
	}
	h, err := ownProxy(a, proxyID)
	if err != nil {
		return nil, err
	}
	if err := domainConflicts(a.hosts, ds, appID, proxyID); err != nil {
		return nil, err
	}
	if err := s.otherHostConflicts(ctx, ds); err != nil {
		return nil, err
	}
	a.in.ProxyID, a.in.Domains = proxyID, ds
	// The old domains too: an undo puts them back.
	return s.submitDomains(ctx, KindProxyUpdate, a.in, append(slices.Clone(ds), h.DomainNames...))
}

// DeleteAppProxy deletes one proxy of the app.
func (s *Service) DeleteAppProxy(ctx context.Context, appID string, proxyID int) (*ops.Operation, error) {
	if err := validProxyID(proxyID); err != nil {
		return nil, err
	}
	a, err := s.domainPreflight(ctx, appID)
	if err != nil {
		return nil, err
	}
	h, err := ownProxy(a, proxyID)
	if err != nil {
		return nil, err
	}
	a.in.ProxyID = proxyID
	return s.submitDomains(ctx, KindProxyDelete, a.in, h.DomainNames)
}

// DeleteAppProxies deletes every proxy of the app.
func (s *Service) DeleteAppProxies(ctx context.Context, appID string) (*ops.Operation, error) {
	a, err := s.domainPreflight(ctx, appID)
	if err != nil {
		return nil, err
	}
	if len(a.own) == 0 {
		return nil, apperr.Precondition("id", "app %s has no proxy", appID)
	}
	return s.submitDomains(ctx, KindProxiesDelete, a.in, allDomains(a.own))
}

// EnableAppProxies enables every proxy of the app through NPM's enable
// route (which regenerates the nginx config).
func (s *Service) EnableAppProxies(ctx context.Context, appID string) (*ops.Operation, error) {
	return s.toggleProxies(ctx, appID, KindProxiesEnable)
}

// DisableAppProxies disables every proxy of the app through NPM's disable
// route (a PUT of enabled:false would leave the old config serving).
func (s *Service) DisableAppProxies(ctx context.Context, appID string) (*ops.Operation, error) {
	return s.toggleProxies(ctx, appID, KindProxiesDisable)
}

func (s *Service) toggleProxies(ctx context.Context, appID, kind string) (*ops.Operation, error) {
	a, err := s.domainPreflight(ctx, appID)
	if err != nil {
		return nil, err
	}
	if len(a.own) == 0 {
		return nil, apperr.Precondition("id", "app %s has no proxy", appID)
	}
	return s.submitDomains(ctx, kind, a.in, nil)
}

// SetDefaultDomain makes domain, which must be a domain of one of the app's
// proxies, the app's default: W9_URL in its repository's .env, which is
// where the default domain of a web app is recorded.
func (s *Service) SetDefaultDomain(ctx context.Context, appID, domain string) (*ops.Operation, error) {
	d, err := NormalizeDomain("domain", domain)
	if err != nil {
		return nil, err
	}
	a, err := s.domainPreflight(ctx, appID)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(allDomains(a.own), d) {
		return nil, apperr.Precondition("domain", "%s is not a domain of any proxy of app %s", d, appID)
	}
	a.in.Domains = []string{d}
	return s.submitDomains(ctx, KindDefaultDomain, a.in, nil)
}

func validProxyID(id int) error {
	if id < 1 {
		return apperr.Invalid("proxyId", "%d is not a proxy host id", id)
	}
	return nil
}

// requireDomains validates a non-empty list; no upstream is asked.
func requireDomains(raw []string) ([]string, error) {
	if len(raw) == 0 {
		return nil, apperr.Invalid("domains", "give at least one domain (to remove a proxy, delete it)")
	}
	return NormalizeDomains("domains", raw)
}

// domainPreflight checks that the app exists, is a web app and has no
// operation in flight, and reads every NPM proxy host.
func (s *Service) domainPreflight(ctx context.Context, appID string) (*domainApp, error) {
	if err := ValidateAppID("id", appID); err != nil {
		return nil, err
	}
	if err := s.refuseActive(ctx, appID); err != nil {
		return nil, err
	}
	if err := s.refuseKube(ctx, appID, "domains"); err != nil {
		return nil, err
	}
	st, err := s.locateStack(ctx, appID)
	if err != nil {
		return nil, err
	}
	env, err := s.appEnv(ctx, appID)
	if err != nil {
		return nil, err
	}
	if !env.Has("W9_URL") {
		return nil, apperr.Precondition("id", "app %s serves no web interface (its .env has no W9_URL), so it cannot have domains", appID)
	}
	hosts, err := s.proxies.ListProxyHosts(ctx)
	if err != nil {
		return nil, upstreamErr("npm", err, "list proxy hosts")
	}
	a := &domainApp{
		in:    DomainsInput{AppID: appID, EndpointID: st.EndpointID, URLReplace: urlReplace(env)},
		hosts: hosts,
	}
	for _, h := range hosts {
		if strings.EqualFold(h.ForwardHost, appID) {
			a.own = append(a.own, h)
		}
	}
	slices.SortFunc(a.own, func(x, y proxymanager.ProxyHost) int { return cmp.Compare(x.ID, y.ID) })
	return a, nil
}

// appEnv reads the .env of the app's repository.
func (s *Service) appEnv(ctx context.Context, appID string) (*dotenv.File, error) {
	b, err := s.repos.GetRawFile(ctx, appID, ".env", "main")
	if notFound(err) {
		return nil, apperr.Precondition("id", "the repository of %s has no .env", appID)
	}
	if err != nil {
		return nil, upstreamErr("gitea", err, "read .env")
	}
	env, err := dotenv.Parse(b)
	if err != nil {
		return nil, apperr.Precondition("id", "the repository's .env cannot be read: %v", err)
	}
	return env, nil
}

// urlReplace applies apphub's rule (the key's presence) while honouring an
// explicit false, as the library loader does.
func urlReplace(env *dotenv.File) bool {
	v, ok := env.Get("W9_URL_REPLACE")
	if !ok {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "false", "0", "no", "off":
		return false
	}
	return true
}

// domainConflicts refuses a domain any NPM proxy host already carries,
// disabled hosts and the app's own other hosts included; exceptID is the
// host being updated.
func domainConflicts(hosts []proxymanager.ProxyHost, domains []string, appID string, exceptID int) error {
	for _, d := range domains {
		for _, h := range hosts {
			if h.ID == exceptID || !carriesDomain(h.DomainNames, d) {
				continue
			}
			state := ""
			if !h.Enabled {
				state = " (disabled)"
			}
			if strings.EqualFold(h.ForwardHost, appID) {
				return apperr.Precondition("domains", "domain %s is already used by proxy host %d%s of this app", d, h.ID, state)
			}
			return apperr.Precondition("domains", "domain %s is already used by NPM proxy host %d%s", d, h.ID, state)
		}
	}
	return nil
}

// otherHostConflicts refuses a domain an NPM redirection or 404 host
// carries. NPM refuses such a domain for a proxy host too, but only when
// the proxy is written, after the operation has begun; this says so first.
func (s *Service) otherHostConflicts(ctx context.Context, domains []string) error {
	var lists [2][]proxymanager.OtherHost
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { lists[0], err = s.proxies.ListRedirectionHosts(gctx); return err })
	g.Go(func() (err error) { lists[1], err = s.proxies.ListDeadHosts(gctx); return err })
	if err := g.Wait(); err != nil {
		return upstreamErr("npm", err, "list redirection and 404 hosts")
	}
	for _, d := range domains {
		for _, hosts := range lists {
			for _, h := range hosts {
				if carriesDomain(h.DomainNames, d) {
					return apperr.Precondition("domains", "domain %s is already used by NPM %s %d", d, h.Kind, h.ID)
				}
			}
		}
	}
	return nil
}

// carriesDomain reports whether an NPM host's domains include d (NPM
// compares them case-insensitively).
func carriesDomain(names []string, d string) bool {
	return slices.ContainsFunc(names, func(x string) bool { return strings.EqualFold(x, d) })
}

func ownProxy(a *domainApp, id int) (*proxymanager.ProxyHost, error) {
	for i := range a.own {
		if a.own[i].ID == id {
			return &a.own[i], nil
		}
	}
	return nil, apperr.New(apperr.NotFound, "app %s has no proxy %d", a.in.AppID, id)
}

func allDomains(hosts []proxymanager.ProxyHost) []string {
	var out []string
	for _, h := range hosts {
		for _, d := range h.DomainNames {
			if d = strings.ToLower(d); !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	return out
}

func (s *Service) submitDomains(ctx context.Context, kind string, in DomainsInput, reserve []string) (*ops.Operation, error) {
	var res []string
	for _, d := range reserve {
		res = append(res, "domain:"+strings.ToLower(d))
	}
	return s.engine.Submit(ctx, ops.SubmitRequest{Kind: kind, AppID: in.AppID, Input: in, Reservations: res})
}

// --- workflows ---------------------------------------------------------------

func (s *Service) domainWorkflows() []ops.Workflow {
	proxyStep := func(do ops.Step) ops.Step {
		do.Weight, do.Timeout, do.Retries, do.UndoOnFailure, do.Undo = 2, s.cfg.StepTimeout, 2, true, s.undoProxies
		return do
	}
	nginx := ops.Step{Name: "nginx", Weight: 1, Timeout: s.cfg.StepTimeout, Retries: 2, Do: s.stepCheckProxies}
	url := ops.Step{Name: "url", Weight: 1, Timeout: s.cfg.StepTimeout, Retries: 2, UndoOnFailure: true, Do: s.stepURL, Undo: s.undoURL}
	redeploy := ops.Step{Name: "redeploy", Weight: 3, Timeout: s.cfg.DeployTimeout, Retries: 1, Do: s.stepRedeployURL}
	return []ops.Workflow{
		{Kind: KindDomainsAdd, Steps: []ops.Step{proxyStep(ops.Step{Name: "proxy", Do: s.stepAddDomains}), nginx, url, redeploy}},
		{Kind: KindProxyUpdate, Steps: []ops.Step{proxyStep(ops.Step{Name: "proxy", Do: s.stepUpdateProxy}), nginx, url, redeploy}},
		{Kind: KindProxyDelete, Steps: []ops.Step{proxyStep(ops.Step{Name: "proxy", Do: s.stepDeleteProxy}), url, redeploy}},
		{Kind: KindProxiesDelete, Steps: []ops.Step{proxyStep(ops.Step{Name: "proxies", Do: s.stepDeleteProxy}), url, redeploy}},
		{Kind: KindProxiesEnable, Steps: []ops.Step{proxyStep(ops.Step{Name: "proxies", Do: s.stepToggleProxies}), nginx}},
		{Kind: KindProxiesDisable, Steps: []ops.Step{proxyStep(ops.Step{Name: "proxies", Do: s.stepToggleProxies}), nginx}},
		{Kind: KindDefaultDomain, Steps: []ops.Step{url, redeploy}},
	}
}

// Durable state keys.
const (
	keyBefore    = "proxiesBefore"  // []hostSnapshot: the hosts as they were before the first write
	keyCreated   = "proxyCreated"   // int: id of the host this operation created
	keyRecreated = "proxyRecreated" // map[int]int: id before -> id of the copy an undo recreated
	keyExpect    = "proxyExpect"    // []hostExpect: what the writes should have left
	keyURL       = "url"            // urlChange
)

// hostSnapshot is a proxy host as it was before the operation wrote to it;
// Created marks the host the operation creates (there was none).
type hostSnapshot struct {
	Created bool                    `json:"created,omitempty"`
	Host    *proxymanager.ProxyHost `json:"host,omitempty"`
}

type hostExpect struct {
	ID      int  `json:"id"`
	Enabled bool `json:"enabled"`
}

func domainsInput(r *ops.Run) (DomainsInput, error) {
	var in DomainsInput
	if err := r.Input(&in); err != nil {
		return in, fmt.Errorf("decode domains input: %w", err)
	}
	return in, nil
}

// snapshot journals the app's hosts chosen by pick, once: a resumed or
// retried step keeps the state from before its first attempt.
func (s *Service) snapshot(ctx context.Context, r *ops.Run, pick func([]proxymanager.ProxyHost) ([]hostSnapshot, error)) ([]hostSnapshot, error) {
	var snap []hostSnapshot
	if ok, err := r.Get(keyBefore, &snap); err != nil || ok {
		return snap, err
	}
	own, err := s.appProxies(ctx, r.AppID())
	if err != nil {
		return nil, retryIfTransient(err)
	}
	slices.SortFunc(own, func(x, y proxymanager.ProxyHost) int { return cmp.Compare(x.ID, y.ID) })
	snap, err = pick(own)
	if err != nil {
		return nil, err
	}
	if err := r.Set(keyBefore, snap); err != nil {
		return nil, err
	}
	return snap, nil
}

func hostOf(h proxymanager.ProxyHost) hostSnapshot { return hostSnapshot{Host: &h} }

func (s *Service) stepAddDomains(ctx context.Context, r *ops.Run) error {
	in, err := domainsInput(r)
	if err != nil {
		return err
	}
	snap, err := s.snapshot(ctx, r, func(own []proxymanager.ProxyHost) ([]hostSnapshot, error) {
		if len(own) == 0 {
			return []hostSnapshot{{Created: true}}, nil
		}
		return []hostSnapshot{hostOf(own[0])}, nil
	})
	if err != nil {
		return err
	}
	if snap[0].Created {
		return s.createAppProxy(ctx, r, in)
	}
	base := snap[0].Host
	want := slices.Clone(base.DomainNames)
	for _, d := range in.Domains {
		if !slices.Contains(want, d) {
			want = append(want, d)
		}
	}
	if err := s.putDomains(ctx, r, base.ID, want); err != nil {
		return err
	}
	r.Logf("proxy host %d now serves %s", base.ID, strings.Join(want, ", "))
	return r.Set(keyExpect, []hostExpect{{ID: base.ID, Enabled: base.Enabled}})
}

// createAppProxy creates the app's first proxy. Preflight proved the app had
// none and the operation holds the app, so a proxy of the app found now is
// this operation's own (created by an attempt whose answer was lost).
func (s *Service) createAppProxy(ctx context.Context, r *ops.Run, in DomainsInput) error {
	h, err := s.findProxy(ctx, in.AppID)
	if err != nil {
		return retryIfTransient(err)
	}
	if h == nil {
		t, err := s.proxyTarget(ctx, in.EndpointID, in.AppID, nil)
		if err != nil {
			return retryIfTransient(err)
		}
		h, err = s.proxies.CreateProxyHost(ctx, proxymanager.ProxyHostRequest{
			DomainNames:           in.Domains,
			ForwardScheme:         t.Scheme,
			ForwardHost:           in.AppID,
			ForwardPort:           t.Port,
			BlockExploits:         true,
			AllowWebsocketUpgrade: true,
			AdvancedConfig:        t.Conf,
		})
		if err != nil {
			if found, ferr := s.findProxy(ctx, in.AppID); ferr == nil && found != nil {
				h, err = found, nil
				r.Logf("proxy host %d was created although the call failed; using it", h.ID)
			}
		}
		if err != nil {
			return retryIfTransient(domainErr(upstreamErr("npm", err, "create proxy host"), err))
		}
		r.Logf("created proxy host %d: %s -> %s://%s:%d (port from %s, extra conf from %s)", h.ID, strings.Join(in.Domains, ", "),
			t.Scheme, in.AppID, t.Port, t.PortSource, t.ConfSource)
	}
	if err := r.Set(keyCreated, h.ID); err != nil {
		return err
	}
	return r.Set(keyExpect, []hostExpect{{ID: h.ID, Enabled: true}})
}

func (s *Service) stepUpdateProxy(ctx context.Context, r *ops.Run) error {
	in, err := domainsInput(r)
	if err != nil {
		return err
	}
	snap, err := s.snapshot(ctx, r, func(own []proxymanager.ProxyHost) ([]hostSnapshot, error) {
		for _, h := range own {
			if h.ID == in.ProxyID {
				return []hostSnapshot{hostOf(h)}, nil
			}
		}
		return nil, apperr.New(apperr.NotFound, "app %s has no proxy %d any more", in.AppID, in.ProxyID)
	})
	if err != nil {
		return err
	}
	if err := s.putDomains(ctx, r, in.ProxyID, in.Domains); err != nil {
		return err
	}
	r.Logf("proxy host %d now serves %s (was %s)", in.ProxyID, strings.Join(in.Domains, ", "), strings.Join(snap[0].Host.DomainNames, ", "))
	return r.Set(keyExpect, []hostExpect{{ID: in.ProxyID, Enabled: snap[0].Host.Enabled}})
}

// putDomains sends the host's full new domain list (NPM's PUT is partial).
// An nginx refusal in the answer fails the step, whose undo restores the
// host.
func (s *Service) putDomains(ctx context.Context, r *ops.Run, id int, domains []string) error {
	_, err := s.proxies.UpdateProxyHost(ctx, id, proxymanager.ProxyHostUpdate{DomainNames: domains})
	var ne *proxymanager.NginxError
	if errors.As(err, &ne) {
		return nginxErr(ne)
	}
	if err != nil {
		return retryIfTransient(domainErr(upstreamErr("npm", err, fmt.Sprintf("update proxy host %d", id)), err))
	}
	return nil
}

// stepDeleteProxy deletes the input's proxy, or all of the app's when the
// input names none.
func (s *Service) stepDeleteProxy(ctx context.Context, r *ops.Run) error {
	in, err := domainsInput(r)
	if err != nil {
		return err
	}
	snap, err := s.snapshot(ctx, r, func(own []proxymanager.ProxyHost) ([]hostSnapshot, error) {
		var out []hostSnapshot
		for _, h := range own {
			if in.ProxyID == 0 || h.ID == in.ProxyID {
				out = append(out, hostOf(h))
			}
		}
		if len(out) == 0 && in.ProxyID != 0 {
			return nil, apperr.New(apperr.NotFound, "app %s has no proxy %d any more", in.AppID, in.ProxyID)
		}
		return out, nil
	})
	if err != nil {
		return err
	}
	for _, sn := range snap {
		if err := s.proxies.DeleteProxyHost(ctx, sn.Host.ID); err != nil && !notFound(err) {
			return retryIfTransient(upstreamErr("npm", err, fmt.Sprintf("delete proxy host %d", sn.Host.ID)))
		}
		r.Logf("deleted proxy host %d (%s)", sn.Host.ID, strings.Join(sn.Host.DomainNames, ", "))
	}
	return nil
}

// stepToggleProxies enables or disables (by the operation's kind) every
// proxy of the app through NPM's dedicated routes.
func (s *Service) stepToggleProxies(ctx context.Context, r *ops.Run) error {
	enable := r.Kind() == KindProxiesEnable
	snap, err := s.snapshot(ctx, r, func(own []proxymanager.ProxyHost) ([]hostSnapshot, error) {
		out := make([]hostSnapshot, 0, len(own))
		for _, h := range own {
			out = append(out, hostOf(h))
		}
		return out, nil
	})
	if err != nil {
		return err
	}
	expect := make([]hostExpect, 0, len(snap))
	for _, sn := range snap {
		h := sn.Host
		expect = append(expect, hostExpect{ID: h.ID, Enabled: enable})
		if h.Enabled == enable {
			r.Logf("proxy host %d is already %s", h.ID, onOff(enable))
			continue
		}
		toggle := s.proxies.DisableProxyHost
		if enable {
			toggle = s.proxies.EnableProxyHost
		}
		if err := toggle(ctx, h.ID); err != nil {
			return retryIfTransient(upstreamErr("npm", err, fmt.Sprintf("%s proxy host %d", strings.TrimSuffix(onOff(enable), "d"), h.ID)))
		}
		r.Logf("%s proxy host %d (%s)", onOff(enable), h.ID, strings.Join(h.DomainNames, ", "))
	}
	return r.Set(keyExpect, expect)
}

func onOff(enable bool) string {
	if enable {
		return "enabled"
	}
	return "disabled"
}

// stepCheckProxies reads every written host back: an enabled one must be
// online in nginx (NPM's answer to a write says nothing reliable about
// that), a disabled one must be disabled.
func (s *Service) stepCheckProxies(ctx context.Context, r *ops.Run) error {
	var expect []hostExpect
	if _, err := r.Get(keyExpect, &expect); err != nil {
		return err
	}
	for _, x := range expect {
		h, err := s.proxies.CheckOnline(ctx, x.ID)
		var ne *proxymanager.NginxError
		switch {
		case errors.As(err, &ne):
			if x.Enabled {
				return nginxErr(ne)
			}
			// A disabled host serves nothing; its last test result is moot.
		case err != nil:
			return retryIfTransient(upstreamErr("npm", err, fmt.Sprintf("read proxy host %d back", x.ID)))
		}
		if h.Enabled != x.Enabled {
			return apperr.New(apperr.UpstreamRejected, "proxy host %d is %s, want %s", x.ID, onOff(h.Enabled), onOff(x.Enabled))
		}
		if x.Enabled {
			r.Logf("nginx serves proxy host %d", x.ID)
		} else {
			r.Logf("proxy host %d is disabled", x.ID)
		}
	}
	return nil
}

// stepReloadProxies runs after a lifecycle step that leaves the app's
// container running (start, restart, redeploy): every enabled proxy of the
// app that nginx refused (meta.nginx_online false: a custom location
// naming a container that was not running, or any earlier refusal, such as
// one an undo could only log) is written again unchanged, so NPM
// regenerates its config and nginx tests it now. It is a repair, so
// it never fails the operation, whose container does run: a host nginx
// still refuses, or NPM not answering, is logged as an event of the
// operation, and the proxy's state shows on the app.
func (s *Service) stepReloadProxies(ctx context.Context, r *ops.Run) error {
	own, err := s.appProxies(ctx, r.AppID())
	if err != nil {
		r.Logf("could not check the app's proxies: %v", err)
		return nil
	}
	for _, h := range own {
		if !h.Enabled || h.Meta.NginxOnline == nil || *h.Meta.NginxOnline {
			continue
		}
		_, err := s.proxies.UpdateProxyHost(ctx, h.ID, proxymanager.ProxyHostUpdate{ForwardHost: new(h.ForwardHost)})
		var ne *proxymanager.NginxError
		switch {
		case errors.As(err, &ne):
			r.Logf("nginx still refuses proxy host %d: %s", h.ID, ne.Err)
		case err != nil:
			r.Logf("could not rewrite proxy host %d: %v", h.ID, upstreamErr("npm", err, fmt.Sprintf("rewrite proxy host %d", h.ID)))
		default:
			r.Logf("nginx serves proxy host %d again (%s)", h.ID, strings.Join(h.DomainNames, ", "))
		}
	}
	return nil
}

func nginxErr(ne *proxymanager.NginxError) error {
	e := apperr.Wrap(apperr.UpstreamRejected, ne, "nginx did not accept proxy host %d", ne.HostID)
	e.Upstream = "npm"
	return e
}

// domainErr turns NPM's duplicate-domain refusal into PRECONDITION_FAILED
// naming the domain: preflight checks every kind of host, but another
// client may take a domain between preflight and the write.
func domainErr(wrapped, raw error) error {
	if d, ok := proxymanager.DomainInUse(raw); ok {
		return apperr.Precondition("domains", "domain %s is already used by another NPM host (proxy, redirection or 404 host)", d)
	}
	return wrapped
}

// undoProxies puts every journalled host back as it was: a created host is
// deleted, a deleted one recreated (under a new id: NPM never reuses ids),
// a changed one PUT back field by field and re-enabled or re-disabled.
func (s *Service) undoProxies(ctx context.Context, r *ops.Run) error {
	var snap []hostSnapshot
	if ok, err := r.Get(keyBefore, &snap); err != nil || !ok {
		return err // no snapshot: nothing was written
	}
	for i := len(snap) - 1; i >= 0; i-- {
		if err := s.restoreHost(ctx, r, snap[i]); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) restoreHost(ctx context.Context, r *ops.Run, sn hostSnapshot) error {
	if sn.Created {
		var ids []int
		var id int
		if ok, err := r.Get(keyCreated, &id); err != nil {
			return err
		} else if ok {
			ids = []int{id}
		} else {
			// The create's answer may have been lost; the app had no proxy
			// before, so any it has now is this operation's.
			own, err := s.appProxies(ctx, r.AppID())
			if err != nil {
				return err
			}
			for _, h := range own {
				ids = append(ids, h.ID)
			}
		}
		for _, id := range ids {
			if err := s.proxies.DeleteProxyHost(ctx, id); err != nil && !notFound(err) {
				return upstreamErr("npm", err, fmt.Sprintf("delete proxy host %d", id))
			}
			r.Logf("deleted proxy host %d, which this operation created", id)
		}
		return nil
	}
	old := sn.Host
	cur, err := s.proxies.GetProxyHost(ctx, old.ID)
	if notFound(err) {
		return s.recreateHost(ctx, r, old)
	}
	if err != nil {
		return upstreamErr("npm", err, fmt.Sprintf("read proxy host %d", old.ID))
	}
	if upd := restoreUpdate(old, cur); !upd.Empty() {
		_, err := s.proxies.UpdateProxyHost(ctx, old.ID, upd)
		var ne *proxymanager.NginxError
		switch {
		case errors.As(err, &ne):
			// The fields are back; nginx's opinion of them is not ours to fix.
			r.Logf("proxy host %d is restored, but nginx still rejects it: %s", old.ID, ne.Err)
		case err != nil:
			return upstreamErr("npm", err, fmt.Sprintf("restore proxy host %d", old.ID))
		default:
			r.Logf("restored proxy host %d (%s)", old.ID, strings.Join(old.DomainNames, ", "))
		}
	}
	if cur.Enabled != old.Enabled {
		toggle := s.proxies.DisableProxyHost
		if old.Enabled {
			toggle = s.proxies.EnableProxyHost
		}
		if err := toggle(ctx, old.ID); err != nil {
			return upstreamErr("npm", err, fmt.Sprintf("re-%s proxy host %d", strings.TrimSuffix(onOff(old.Enabled), "d"), old.ID))
		}
		r.Logf("%s proxy host %d again", onOff(old.Enabled), old.ID)
		if old.Enabled {
			s.noteRefused(ctx, r, old.ID)
		}
	}
	return nil
}

// noteRefused logs when nginx refuses a host an undo put back enabled (nginx
// -t failing, e.g. a custom location naming a container that is not
// running). The host's fields are back as they were; the app's next start
// tests it again.
func (s *Service) noteRefused(ctx context.Context, r *ops.Run, id int) {
	var ne *proxymanager.NginxError
	if _, err := s.proxies.CheckOnline(ctx, id); errors.As(err, &ne) {
		r.Logf("nginx refuses proxy host %d for now: %s (the app's next start tests it again)", id, ne.Err)
	}
}

// recreateHost brings a deleted host back with every field the API takes.
func (s *Service) recreateHost(ctx context.Context, r *ops.Run, old *proxymanager.ProxyHost) error {
	recreated := map[int]int{}
	if _, err := r.Get(keyRecreated, &recreated); err != nil {
		return err
	}
	if id, ok := recreated[old.ID]; ok {
		// A failed read is no proof the copy is gone: recreating it then
		// would leave two hosts with the same domains.
		_, err := s.proxies.GetProxyHost(ctx, id)
		if err == nil {
			return nil
		}
		if !notFound(err) {
			return upstreamErr("npm", err, fmt.Sprintf("read recreated proxy host %d", id))
		}
	}
	req := proxymanager.ProxyHostRequest{
		DomainNames: old.DomainNames, ForwardScheme: old.ForwardScheme, ForwardHost: old.ForwardHost,
		ForwardPort: old.ForwardPort, CertificateID: old.CertificateID, SSLForced: old.SSLForced,
		HSTSEnabled: old.HSTSEnabled, HSTSSubdomains: old.HSTSSubdomains, HTTP2Support: old.HTTP2Support,
		BlockExploits: old.BlockExploits, CachingEnabled: old.CachingEnabled,
		AllowWebsocketUpgrade: old.AllowWebsocketUpgrade, AccessListID: old.AccessListID,
		AdvancedConfig: old.AdvancedConfig, Locations: old.Locations,
	}
	if old.TrustForwardedProto {
		req.TrustForwardedProto = new(true)
	}
	h, err := s.proxies.CreateProxyHost(ctx, req)
	if err != nil {
		return upstreamErr("npm", err, fmt.Sprintf("recreate proxy host %d", old.ID))
	}
	recreated[old.ID] = h.ID
	if err := r.Set(keyRecreated, recreated); err != nil {
		return err
	}
	if !old.Enabled {
		if err := s.proxies.DisableProxyHost(ctx, h.ID); err != nil {
			return upstreamErr("npm", err, fmt.Sprintf("disable recreated proxy host %d", h.ID))
		}
	}
	r.Logf("recreated deleted proxy host %d as %d (%s)", old.ID, h.ID, strings.Join(old.DomainNames, ", "))
	if old.Enabled {
		s.noteRefused(ctx, r, h.ID)
	}
	return nil
}

// restoreUpdate is the partial update that turns cur back into old.
func restoreUpdate(old, cur *proxymanager.ProxyHost) proxymanager.ProxyHostUpdate {
	var u proxymanager.ProxyHostUpdate
	if !sameDomains(old.DomainNames, cur.DomainNames) {
		u.DomainNames = old.DomainNames
	}
	set := func(differs bool, apply func()) {
		if differs {
			apply()
		}
	}
	set(old.ForwardScheme != cur.ForwardScheme, func() { u.ForwardScheme = new(old.ForwardScheme) })
	set(old.ForwardHost != cur.ForwardHost, func() { u.ForwardHost = new(old.ForwardHost) })
	set(old.ForwardPort != cur.ForwardPort, func() { u.ForwardPort = new(old.ForwardPort) })
	set(old.CertificateID != cur.CertificateID, func() { u.CertificateID = new(old.CertificateID) })
	set(old.SSLForced != cur.SSLForced, func() { u.SSLForced = new(old.SSLForced) })
	set(old.HSTSEnabled != cur.HSTSEnabled, func() { u.HSTSEnabled = new(old.HSTSEnabled) })
	set(old.HSTSSubdomains != cur.HSTSSubdomains, func() { u.HSTSSubdomains = new(old.HSTSSubdomains) })
	set(old.HTTP2Support != cur.HTTP2Support, func() { u.HTTP2Support = new(old.HTTP2Support) })
	set(old.BlockExploits != cur.BlockExploits, func() { u.BlockExploits = new(old.BlockExploits) })
	set(old.CachingEnabled != cur.CachingEnabled, func() { u.CachingEnabled = new(old.CachingEnabled) })
	set(old.AllowWebsocketUpgrade != cur.AllowWebsocketUpgrade, func() { u.AllowWebsocketUpgrade = new(old.AllowWebsocketUpgrade) })
	set(old.AccessListID != cur.AccessListID, func() { u.AccessListID = new(old.AccessListID) })
	set(old.AdvancedConfig != cur.AdvancedConfig, func() { u.AdvancedConfig = new(old.AdvancedConfig) })
	set(old.TrustForwardedProto != cur.TrustForwardedProto, func() { u.TrustForwardedProto = new(old.TrustForwardedProto) })
	set(!sameLocations(old.Locations, cur.Locations), func() {
		locs := slices.Clone(old.Locations)
		u.Locations = &locs
	})
	return u
}

func sameDomains(a, b []string) bool {
	norm := func(ds []string) []string {
		out := make([]string, len(ds))
		for i, d := range ds {
			out[i] = strings.ToLower(d)
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(norm(a), norm(b))
}

func sameLocations(a, b []proxymanager.Location) bool {
	return slices.EqualFunc(a, b, func(x, y proxymanager.Location) bool {
		return x.Path == y.Path && x.ForwardScheme == y.ForwardScheme && x.ForwardHost == y.ForwardHost &&
			x.ForwardPort == y.ForwardPort && x.ForwardPath == y.ForwardPath && x.AdvancedConfig == y.AdvancedConfig
	})
}

// --- W9_URL: the default domain ----------------------------------------------

// urlChange is the journalled W9_URL edit.
type urlChange struct {
	Old     string `json:"old"`
	New     string `json:"new"`
	Changed bool   `json:"changed"`
}

// stepURL keeps W9_URL in the repository's .env, the record of the app's
// default domain, pointing at a domain the app still has: it stays when it
// does; else it becomes the first domain the operation added, else the
// first remaining one, else host:port. default-domain sets it outright.
func (s *Service) stepURL(ctx context.Context, r *ops.Run) error {
	in, err := domainsInput(r)
	if err != nil {
		return err
	}
	var ch urlChange
	// The .env read to decide is the one the commit edits; a retried step
	// (the change journalled) reads it afresh.
	var env *dotenv.File
	var sha string
	if ok, err := r.Get(keyURL, &ch); err != nil {
		return err
	} else if !ok {
		if env, sha, err = s.envFile(ctx, in.AppID); err != nil {
			return retryIfTransient(err)
		}
		ch.Old, _ = env.Get("W9_URL")
		ch.New, err = s.nextURL(ctx, r, in, ch.Old, env)
		if err != nil {
			return retryIfTransient(err)
		}
		ch.Changed = ch.New != ch.Old
		// Journalled before the commit, so an undo knows what to put back.
		if err := r.Set(keyURL, ch); err != nil {
			return err
		}
	}
	if !ch.Changed {
		r.Logf("W9_URL stays %s", ch.Old)
	}
	// W9_URL and the record of the app's domains (desired.go), one commit.
	done, err := s.commitURLAndRecord(ctx, r, in.AppID, ch, env, sha)
	if err != nil {
		return retryIfTransient(err)
	}
	if done && ch.Changed {
		r.Logf("W9_URL: %s -> %s (one commit)", ch.Old, ch.New)
	}
	return nil
}

func (s *Service) nextURL(ctx context.Context, r *ops.Run, in DomainsInput, cur string, env *dotenv.File) (string, error) {
	own, err := s.appProxies(ctx, in.AppID)
	if err != nil {
		return "", err
	}
	slices.SortFunc(own, func(x, y proxymanager.ProxyHost) int { return cmp.Compare(x.ID, y.ID) })
	all := allDomains(own)
	if r.Kind() == KindDefaultDomain {
		if !slices.Contains(all, in.Domains[0]) {
			return "", apperr.Precondition("domain", "%s is no longer a domain of app %s", in.Domains[0], in.AppID)
		}
		return in.Domains[0], nil
	}
	if slices.Contains(all, strings.ToLower(cur)) {
		return cur, nil
	}
	for _, d := range in.Domains {
		if slices.Contains(all, d) {
			return d, nil
		}
	}
	if len(all) > 0 {
		return all[0], nil
	}
	return s.hostPortURL(ctx, in, env)
}

// hostPortURL is W9_URL without a domain: the public host and the host
// port the app publishes (W9_HTTP_PORT_SET, else W9_HTTPS_PORT_SET).
func (s *Service) hostPortURL(ctx context.Context, in DomainsInput, env *dotenv.File) (string, error) {
	ep, err := s.stacks.GetEndpoint(ctx, in.EndpointID)
	if notFound(err) {
		ep, err = &portainer.Endpoint{ID: in.EndpointID}, nil // only its public URL was wanted
	}
	if err != nil {
		return "", upstreamErr("portainer", err, "read endpoint")
	}
	var fin InstallInput
	for _, k := range []string{"W9_HTTP_PORT_SET", "W9_HTTPS_PORT_SET"} {
		if p, ok := envPort(env, k); ok {
			fin.HostPorts = []int{p}
			break
		}
	}
	return s.fallbackURL(ep, s.publicHost(ctx), fin), nil
}

func (s *Service) undoURL(ctx context.Context, r *ops.Run) error {
	if err := s.undoRecordDomains(ctx, r); err != nil {
		return err
	}
	var ch urlChange
	if ok, err := r.Get(keyURL, &ch); err != nil || !ok || !ch.Changed {
		return err
	}
	done, err := s.commitEnv(ctx, r.AppID(), []EnvSetting{{Name: "W9_URL", Value: ch.Old}}, fmt.Sprintf("Restore W9_URL of %s to %s", r.AppID(), ch.Old))
	if err != nil {
		return err
	}
	if done {
		r.Logf("W9_URL restored to %s", ch.Old)
	}
	return nil
}

// stepRedeployURL redeploys an app that bakes W9_URL in (W9_URL_REPLACE)
// after its W9_URL changed, so it answers under the new default domain.
func (s *Service) stepRedeployURL(ctx context.Context, r *ops.Run) error {
	in, err := domainsInput(r)
	if err != nil {
		return err
	}
	var ch urlChange
	if _, err := r.Get(keyURL, &ch); err != nil {
		return err
	}
	switch {
	case !ch.Changed:
		r.Logf("W9_URL did not change: no redeploy")
		return nil
	case !in.URLReplace:
		r.Logf("the app does not bake W9_URL in (no W9_URL_REPLACE): no redeploy")
		return nil
	}
	st, err := s.locateStack(ctx, in.AppID)
	if err != nil {
		return retryIfTransient(err)
	}
	if _, err := s.redeployStack(ctx, st, false); err != nil {
		return retryIfTransient(err)
	}
	r.Logf("redeployed stack %s (id %d) with W9_URL=%s", st.Name, st.ID, ch.New)
	return nil
}
