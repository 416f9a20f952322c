package apps

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/gitea"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/datasources/proxymanager"
	"github.com/appmanage/appmanage/datasources/upstream"
	"github.com/appmanage/appmanage/store"
)

// Upstream names, as errors, settings and the API spell them.
const (
	UpstreamGitea     = "gitea"
	UpstreamPortainer = "portainer"
	UpstreamNPM       = "npm"
)

// GiteaConnection is how appmanage reaches Gitea: a token, or a user and
// password (the user is then also the clone user).
type GiteaConnection struct {
	URL, CloneURL, Token, User, Password, Owner string
}

// PortainerConnection is how appmanage reaches Portainer: an API key, or a
// user and password (JWT login).
type PortainerConnection struct {
	URL, APIKey, User, Password string
}

// NPMConnection is how appmanage reaches Nginx Proxy Manager.
type NPMConnection struct {
	URL, Email, Password string
}

// Connections are the three upstream connections.
type Connections struct {
	Gitea     GiteaConnection
	Portainer PortainerConnection
	NPM       NPMConnection
}

// ClientOptions are what clients built from run-time settings share with
// the ones built at start-up.
type ClientOptions struct {
	Log        *slog.Logger
	Observer   upstream.Observer
	HTTPClient *http.Client
	// Timeout bounds one upstream call (0: the clients' defaults);
	// RetryWait is the first retry backoff (0: the default).
	Timeout   time.Duration
	RetryWait time.Duration
	// TestTimeout bounds a whole live test of a connection (default 20s).
	TestTimeout time.Duration
	// OnSwap, when set, is told each time a client is replaced.
	OnSwap func(upstream string)
}

// upstreamSet is one generation of upstream clients and what goes with
// them. It is never changed once published; a change publishes a new one.
type upstreamSet struct {
	repos     Repos // signing
	stacks    Stacks
	proxies   Proxies
	git       GitCredentials
	cloneBase string
	// raw clients, for version probes and list-reuse metrics (nil when the
	// caller handed in other implementations).
	rawRepos   Repos
	rawStacks  Stacks
	rawProxies Proxies
}

func newUpstreamSet(repos Repos, stacks Stacks, proxies Proxies, git GitCredentials, cloneBase string) *upstreamSet {
	return &upstreamSet{repos: signingRepos{repos}, stacks: stacks, proxies: proxies, git: git, cloneBase: cloneBase,
		rawRepos: repos, rawStacks: stacks, rawProxies: proxies}
}

// connState is the run-time connection machinery (UseConnections).
type connState struct {
	enabled  bool
	defaults Connections // the flags
	opts     ClientOptions
}

// connectionSetting maps a setting key onto a connection field.
type connectionSetting struct {
	upstream string
	field    func(*Connections) *string
}

var connectionSettings = map[string]connectionSetting{
	"giteaUrl":          {UpstreamGitea, func(c *Connections) *string { return &c.Gitea.URL }},
	"giteaCloneUrl":     {UpstreamGitea, func(c *Connections) *string { return &c.Gitea.CloneURL }},
	"giteaToken":        {UpstreamGitea, func(c *Connections) *string { return &c.Gitea.Token }},
	"giteaUser":         {UpstreamGitea, func(c *Connections) *string { return &c.Gitea.User }},
	"giteaPassword":     {UpstreamGitea, func(c *Connections) *string { return &c.Gitea.Password }},
	"giteaOwner":        {UpstreamGitea, func(c *Connections) *string { return &c.Gitea.Owner }},
	"portainerUrl":      {UpstreamPortainer, func(c *Connections) *string { return &c.Portainer.URL }},
	"portainerApiKey":   {UpstreamPortainer, func(c *Connections) *string { return &c.Portainer.APIKey }},
	"portainerUser":     {UpstreamPortainer, func(c *Connections) *string { return &c.Portainer.User }},
	"portainerPassword": {UpstreamPortainer, func(c *Connections) *string { return &c.Portainer.Password }},
	"npmUrl":            {UpstreamNPM, func(c *Connections) *string { return &c.NPM.URL }},
	"npmEmail":          {UpstreamNPM, func(c *Connections) *string { return &c.NPM.Email }},
	"npmPassword":       {UpstreamNPM, func(c *Connections) *string { return &c.NPM.Password }},
}

// UseConnections turns on run-time upstream settings: defaults are the
// connections the flags gave (the clients New got were built from them),
// opts what new clients are built with. Connection settings stored by an
// earlier run are applied now, without a live test (the upstream may be
// down at start; the clients report that on use).
func (s *Service) UseConnections(ctx context.Context, defaults Connections, opts ClientOptions) error {
	if opts.Log == nil {
		opts.Log = s.log
	}
	if opts.TestTimeout <= 0 {
		opts.TestTimeout = 20 * time.Second
	}
	s.connMu.Lock()
	defer s.connMu.Unlock()
	s.conn = connState{enabled: true, defaults: defaults, opts: opts}
	eff, stored, err := s.effectiveConnections(ctx)
	if err != nil {
		return err
	}
	if len(stored) == 0 {
		return nil
	}
	next := *s.up.Load()
	for _, name := range stored {
		if err := s.dialInto(&next, name, eff); err != nil {
			return fmt.Errorf("stored %s connection settings: %w", name, err)
		}
	}
	s.publish(&next, stored...)
	return nil
}

// effectiveConnections overlays the stored connection settings on the
// defaults, and names the upstreams that have any stored.
func (s *Service) effectiveConnections(ctx context.Context) (Connections, []string, error) {
	c := s.conn.defaults
	if s.settings == nil {
		return c, nil, nil
	}
	touched := map[string]bool{}
	for key, cs := range connectionSettings {
		st, err := s.settings.GetSetting(ctx, key)
		if errors.Is(err, store.ErrSettingNotFound) {
			continue
		}
		if err != nil {
			return c, nil, err
		}
		if st.Value == "" { // "" = no override: the flag applies
			continue
		}
		*cs.field(&c) = st.Value
		touched[cs.upstream] = true
	}
	var names []string
	for _, n := range []string{UpstreamGitea, UpstreamPortainer, UpstreamNPM} {
		if touched[n] {
			names = append(names, n)
		}
	}
	return c, names, nil
}

// gitCredentialsOf are the credentials Portainer clones with: the Gitea
// user (else the owner) and the token (else the password).
func gitCredentialsOf(g GiteaConnection) GitCredentials {
	user := g.User
	if user == "" {
		user = g.Owner
	}
	pass := g.Token
	if pass == "" {
		pass = g.Password
	}
	return GitCredentials{Username: user, Password: pass}
}

// dialInto builds the named upstream's client from c into set. It makes no
// request. Errors name what is wrong with the settings, never a secret.
func (s *Service) dialInto(set *upstreamSet, name string, c Connections) error {
	o := s.conn.opts
	switch name {
	case UpstreamGitea:
		g := c.Gitea
		gc, err := gitea.New(gitea.Config{BaseURL: g.URL, Token: g.Token, Username: g.User, Password: g.Password,
			Owner: g.Owner, HTTPClient: o.HTTPClient, Logger: o.Log, Timeout: o.Timeout, RetryWait: o.RetryWait, Observer: o.Observer})
		if err != nil {
			return apperr.Invalid("input", "gitea: %v", err)
		}
		set.rawRepos, set.repos = gc, signingRepos{gc}
		set.git, set.cloneBase = gitCredentialsOf(g), g.CloneURL
	case UpstreamPortainer:
		p := c.Portainer
		pc, err := portainer.New(portainer.Config{URL: p.URL, APIKey: p.APIKey, Username: p.User, Password: p.Password,
			HTTPClient: o.HTTPClient, Logger: o.Log, Timeout: o.Timeout, RetryWait: o.RetryWait, Observer: o.Observer})
		if err != nil {
			return apperr.Invalid("input", "portainer: %v", err)
		}
		set.rawStacks, set.stacks = pc, pc
	case UpstreamNPM:
		n := c.NPM
		nc, err := proxymanager.New(proxymanager.Config{URL: n.URL, Email: n.Email, Password: n.Password,
			HTTPClient: o.HTTPClient, Logger: o.Log, Timeout: o.Timeout, RetryWait: o.RetryWait, Observer: o.Observer})
		if err != nil {
			return apperr.Invalid("input", "npm: %v", err)
		}
		set.rawProxies, set.proxies = nc, nc
	default:
		return apperr.Invalid("name", "unknown upstream %q: want gitea, portainer or npm", clip(name))
	}
	return nil
}

// publish makes next the current client set. Steps running keep the set
// they captured; caches filled from the old clients are dropped.
func (s *Service) publish(next *upstreamSet, changed ...string) {
	s.up.Store(next)
	s.lists.invalidate()
	for _, n := range changed {
		s.log.Info("upstream client replaced; operations in flight finish on the old one", "upstream", n)
		if s.conn.opts.OnSwap != nil {
			s.conn.opts.OnSwap(n)
		}
	}
}

// UpstreamTest is the result of a live test of one connection.
type UpstreamTest struct {
	Upstream string
	Version  string
	// Checks says what was verified, for the operator.
	Checks []string
}

// liveTest checks the named upstream's client in set: it authenticates,
// reads the version and checks, as far as each API allows without
// creating anything, that the credentials may create what appmanage
// creates there. Its errors are UPSTREAM_REJECTED or UPSTREAM_UNAVAILABLE
// naming the upstream.
func (s *Service) liveTest(ctx context.Context, set *upstreamSet, name string) (*UpstreamTest, error) {
	ctx, cancel := context.WithTimeout(ctx, s.conn.opts.TestTimeout)
	defer cancel()
	res := &UpstreamTest{Upstream: name}
	switch name {
	case UpstreamGitea:
		gc, ok := set.rawRepos.(*gitea.Client)
		if !ok {
			return nil, apperr.NotImplementedYet("a live test of this Gitea client")
		}
		v, err := gc.Version(ctx)
		if err != nil {
			return nil, upstreamErr(name, err, "gitea: read the version")
		}
		res.Version = v
		res.Checks = append(res.Checks, "version "+v)
		me, err := gc.CurrentUser(ctx)
		switch {
		case err == nil:
			res.Checks = append(res.Checks, "authenticated as "+me.Login)
		case upstream.StatusOf(err) == http.StatusForbidden && gc.Owner() != "":
			// A scoped token without read:user: the create check below
			// still proves the token.
			res.Checks = append(res.Checks, "the token may not read its user (no read:user scope); owner "+gc.Owner()+" is configured")
		case upstream.StatusOf(err) == http.StatusForbidden:
			return nil, rejected(name, err, "gitea: the token may not read its user (read:user scope) and no owner is configured")
		default:
			return nil, upstreamErr(name, err, "gitea: authenticate (GET /user): the token or user and password are not accepted")
		}
		if err := gc.CheckCreateRepo(ctx); err != nil {
			if errors.Is(err, gitea.ErrCannotCreateRepos) {
				return nil, rejected(name, err, "gitea: the credentials may not create repositories")
			}
			return nil, upstreamErr(name, err, "gitea: check that repositories can be created")
		}
		res.Checks = append(res.Checks, "may create repositories (a create request without a name got past the token, scope and owner checks to name validation)")
	case UpstreamPortainer:
		pc, ok := set.rawStacks.(*portainer.Client)
		if !ok {
			return nil, apperr.NotImplementedYet("a live test of this Portainer client")
		}
		st, err := pc.SystemStatus(ctx)
		if err != nil {
			return nil, upstreamErr(name, err, "portainer: authenticate and read the version (GET /system/status)")
		}
		res.Version = st.Version
		res.Checks = append(res.Checks, "version "+st.Version)
		eps, err := pc.ListEndpoints(ctx)
		if err != nil {
			return nil, upstreamErr(name, err, "portainer: list endpoints")
		}
		if len(eps) == 0 {
			return nil, rejected(name, nil, "portainer: these credentials see no endpoint, so they cannot deploy stacks")
		}
		res.Checks = append(res.Checks, fmt.Sprintf("sees %d endpoint(s) to deploy stacks to", len(eps)))
	case UpstreamNPM:
		nc, ok := set.rawProxies.(*proxymanager.Client)
		if !ok {
			return nil, apperr.NotImplementedYet("a live test of this NPM client")
		}
		v, err := nc.Version(ctx)
		if err != nil {
			return nil, upstreamErr(name, err, "npm: read the version")
		}
		res.Version = v
		res.Checks = append(res.Checks, "version "+v)
		if _, err := nc.ListProxyHosts(ctx); err != nil {
			return nil, upstreamErr(name, err, "npm: log in and list proxy hosts")
		}
		res.Checks = append(res.Checks, "logged in; may list proxy hosts")
	default:
		return nil, apperr.Invalid("name", "unknown upstream %q: want gitea, portainer or npm", clip(name))
	}
	return res, nil
}

func rejected(name string, err error, msg string) error {
	var e *apperr.Error
	if err != nil {
		e = apperr.Wrap(apperr.UpstreamRejected, err, "%s", msg)
	} else {
		e = apperr.New(apperr.UpstreamRejected, "%s", msg)
	}
	e.Upstream = name
	return e
}

// candidate builds, without publishing it, the client set that changes
// would give, and names the upstreams whose connection they touch.
func (s *Service) candidate(ctx context.Context, changes []EnvSetting) (*upstreamSet, []string, error) {
	eff, _, err := s.effectiveConnections(ctx)
	if err != nil {
		return nil, nil, err
	}
	touched := map[string]bool{}
	for _, c := range changes {
		cs, ok := connectionSettings[c.Name]
		if !ok {
			continue
		}
		v := strings.TrimSpace(c.Value)
		if v == "" { // back to the flag
			v = *cs.field(&s.conn.defaults)
		}
		*cs.field(&eff) = v
		touched[cs.upstream] = true
	}
	var names []string
	for _, n := range []string{UpstreamGitea, UpstreamPortainer, UpstreamNPM} {
		if touched[n] {
			names = append(names, n)
		}
	}
	next := *s.up.Load()
	for _, n := range names {
		if err := s.dialInto(&next, n, eff); err != nil {
			return nil, nil, err
		}
	}
	return &next, names, nil
}

// TestUpstream runs the live test updateSettings runs for the connection
// of name with changes applied, without saving or applying anything.
// changes may be empty: the current connection is tested.
func (s *Service) TestUpstream(ctx context.Context, name string, changes []EnvSetting) (*UpstreamTest, error) {
	if !s.conn.enabled {
		return nil, apperr.NotImplementedYet("upstream connection settings (the server did not wire them)")
	}
	if err := s.validateChanges(changes); err != nil {
		return nil, err
	}
	for i, c := range changes {
		if cs, ok := connectionSettings[c.Name]; !ok || cs.upstream != name {
			return nil, apperr.Invalid(fmt.Sprintf("input[%d]", i), "%s is not a setting of the %s connection", clip(c.Name), clip(name))
		}
	}
	s.connMu.Lock()
	next, _, err := s.candidate(ctx, changes)
	s.connMu.Unlock()
	if err != nil {
		return nil, err
	}
	return s.liveTest(ctx, next, name)
}

// UpstreamVersion asks the current client of name for the server's
// version (the health check's probe).
func (s *Service) UpstreamVersion(ctx context.Context, name string) (string, error) {
	set := s.up.Load()
	switch name {
	case UpstreamGitea:
		if v, ok := set.rawRepos.(interface {
			Version(context.Context) (string, error)
		}); ok {
			return v.Version(ctx)
		}
	case UpstreamPortainer:
		if v, ok := set.rawStacks.(interface {
			SystemStatus(context.Context) (*portainer.SystemStatus, error)
		}); ok {
			st, err := v.SystemStatus(ctx)
			if err != nil {
				return "", err
			}
			return st.Version, nil
		}
	case UpstreamNPM:
		if v, ok := set.rawProxies.(interface {
			Version(context.Context) (string, error)
		}); ok {
			return v.Version(ctx)
		}
	}
	return "", fmt.Errorf("%s: this client reports no version", name)
}

// MemoHits returns the list-reuse counters of the current client of name
// (zero when it keeps none).
func (s *Service) MemoHits(name string) upstream.MemoHits {
	set := s.up.Load()
	var c any
	switch name {
	case UpstreamPortainer:
		c = set.rawStacks
	case UpstreamNPM:
		c = set.rawProxies
	}
	if m, ok := c.(interface{ MemoHits() upstream.MemoHits }); ok {
		return m.MemoHits()
	}
	return upstream.MemoHits{}
}
