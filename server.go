// Command appmanage is a GraphQL API server that installs and runs
// self-hosted applications: it writes an app's compose material into a Gitea
// repository, deploys it as a Portainer stack and publishes its domains
// through Nginx Proxy Manager, as one transaction.
//
// This file turns a Config into a running server; cli.go holds the
// subcommands.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/appmanage/appmanage/apps"
	"github.com/appmanage/appmanage/audit"
	"github.com/appmanage/appmanage/auth"
	"github.com/appmanage/appmanage/config"
	"github.com/appmanage/appmanage/datasources/gitea"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/datasources/proxymanager"
	"github.com/appmanage/appmanage/datasources/upstream"
	"github.com/appmanage/appmanage/graph"
	"github.com/appmanage/appmanage/health"
	"github.com/appmanage/appmanage/httpapi"
	"github.com/appmanage/appmanage/library"
	"github.com/appmanage/appmanage/ops"
	"github.com/appmanage/appmanage/resolvers"
	"github.com/appmanage/appmanage/sandbox"
	"github.com/appmanage/appmanage/store"
	"github.com/appmanage/appmanage/web/console"
	"github.com/appmanage/appmanage/web/graphiql"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// server is a wired appmanage instance.
type server struct {
	cfg     *config.Config
	log     *slog.Logger
	db      *store.DB
	engine  *ops.Engine
	sandbox *sandbox.Env
	handler http.Handler
	auth    *auth.Service
	audit   *audit.Log
	// stopReconciler ends the drift reconciler and waits for it.
	stopReconciler func()
}

// newServer loads the library, starts the sandbox fakes when asked, builds
// the clients, then opens the database, builds the domain and the HTTP
// handler, and resumes operations a previous process left unfinished.
func newServer(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *server, err error) {
	s := &server{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			s.close(context.Background())
		}
	}()

	// Everything that can be checked without writing comes first (the
	// library, the clients' configuration): a bad one must not leave a
	// database and an admin key behind.
	library.RouteComposeLogs(log)
	lib, err := loadLibrary(cfg, log)
	if err != nil {
		return nil, err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	observe := upstreamMetrics(reg)

	if len(cfg.Sandbox) > 0 {
		s.sandbox, err = sandbox.Start(cfg.Sandbox, log)
		if err != nil {
			return nil, fmt.Errorf("start sandbox: %w", err)
		}
		s.sandbox.Apply(cfg)
		s.sandbox.SetLatency(cfg.SandboxLatency)
		if hook, ok := ctx.Value(sandboxHookKey{}).(func(*sandbox.Env)); ok {
			hook(s.sandbox)
		}
		log.Warn("SANDBOX MODE: in-process fakes stand in for these upstreams; nothing real is deployed",
			"fakes", strings.Join(cfg.Sandbox, ","))
	}

	gc, err := gitea.New(gitea.Config{BaseURL: cfg.Gitea.URL, Token: cfg.Gitea.Token, Username: cfg.Gitea.User,
		Password: cfg.Gitea.Password, Owner: cfg.Gitea.Owner, Logger: log, Observer: observe})
	if err != nil {
		return nil, fmt.Errorf("gitea client: %w", err)
	}
	pc, err := portainer.New(portainer.Config{URL: cfg.Portainer.URL, APIKey: cfg.Portainer.APIKey,
		Username: cfg.Portainer.User, Password: cfg.Portainer.Password, Logger: log, Observer: observe})
	if err != nil {
		return nil, fmt.Errorf("portainer client: %w", err)
	}
	nc, err := proxymanager.New(proxymanager.Config{URL: cfg.NPM.URL, Email: cfg.NPM.Email,
		Password: cfg.NPM.Password, Logger: log, Observer: observe})
	if err != nil {
		return nil, fmt.Errorf("npm client: %w", err)
	}

	regCfg := apps.RegistriesConfig{Mirrors: cfg.RegistryMirrors, Timeout: cfg.RegistryTimeout}
	if s.sandbox != nil && s.sandbox.Registry != nil {
		regCfg.Transport = s.sandbox.Registry.Transport()
	}
	registries, err := apps.NewRegistries(regCfg)
	if err != nil {
		return nil, fmt.Errorf("--registry-mirrors: %w", err)
	}

	// Only now is the data dir written.
	s.db, err = store.Open(ctx, cfg.DBPath(), log)
	if err != nil {
		return nil, err
	}
	s.auth = auth.NewService(s.db, log)
	if cfg.AdminAPIKey != "" {
		if err := s.auth.SeedAdmin(ctx, cfg.AdminAPIKey); err != nil {
			return nil, fmt.Errorf("seed APPMANAGE_ADMIN_API_KEY: %w", err)
		}
	}
	if path, created, err := s.auth.Bootstrap(ctx, cfg.DataDir); err != nil {
		return nil, fmt.Errorf("bootstrap admin key: %w", err)
	} else if created {
		log.Warn("no API key existed: generated an admin key; read it from the file and keep it safe", "file", path)
	}

	s.engine = ops.New(s.db, ops.Options{Workers: cfg.Workers, Logger: log})
	gitUser := cfg.Gitea.User
	if gitUser == "" {
		gitUser = cfg.Gitea.Owner
	}
	gitPassword := cfg.Gitea.Token
	if gitPassword == "" {
		gitPassword = cfg.Gitea.Password
	}
	// The domain sees the engine through the audit log's wrapper, which
	// notes the operation each audited call starts.
	appsSvc := apps.New(gc, pc, nc, lib, audit.Engine{Engine: s.engine}, apps.Config{
		CloneBaseURL:    cfg.Gitea.CloneURL,
		Git:             apps.GitCredentials{Username: gitUser, Password: gitPassword},
		DefaultEndpoint: cfg.Portainer.DefaultEndpoint,
		PublicHost:      cfg.PublicHost,
		WebhookURL:      cfg.WebhookURL,
		Registries:      registries,
	}, log)
	if s.sandbox != nil && s.sandbox.Registry != nil {
		s.sandbox.Registry.Allow(appsSvc.LibraryImageRefs(ctx, lib.List()))
	}
	appsSvc.UseSettings(s.db)
	// Connection settings stored at run time override the flags; their
	// clients are built like these.
	if err := appsSvc.UseConnections(ctx, apps.Connections{
		Gitea: apps.GiteaConnection{URL: cfg.Gitea.URL, CloneURL: cfg.Gitea.CloneURL, Token: cfg.Gitea.Token,
			User: cfg.Gitea.User, Password: cfg.Gitea.Password, Owner: cfg.Gitea.Owner},
		Portainer: apps.PortainerConnection{URL: cfg.Portainer.URL, APIKey: cfg.Portainer.APIKey,
			User: cfg.Portainer.User, Password: cfg.Portainer.Password},
		NPM: apps.NPMConnection{URL: cfg.NPM.URL, Email: cfg.NPM.Email, Password: cfg.NPM.Password},
	}, apps.ClientOptions{Log: log, Observer: observe}); err != nil {
		return nil, err
	}
	registerListReuse(reg, map[string]func() upstream.MemoHits{
		"portainer": func() upstream.MemoHits { return appsSvc.MemoHits(apps.UpstreamPortainer) },
		"npm":       func() upstream.MemoHits { return appsSvc.MemoHits(apps.UpstreamNPM) },
	})
	s.audit = audit.New(s.db, audit.Options{Log: log, ClientAddr: httpapi.ClientAddr,
		Retention: func(ctx context.Context) time.Duration { return appsSvc.AuditRetention(ctx) }})
	// The upgrade's health gate requests the app's domain through NPM: its
	// nginx (port 80 of NPM's host), or in sandbox the fakes' model of it.
	switch {
	case s.sandbox != nil && s.sandbox.NPM != nil && s.sandbox.Portainer != nil:
		appsSvc.UseProbe(s.sandbox.Probe)
	case s.sandbox == nil || s.sandbox.NPM == nil:
		if base, err := apps.NPMProxyBase(cfg.NPM.URL); err == nil {
			appsSvc.UseProbe(apps.NPMProbe(base, nil))
		} else {
			log.Warn("the upgrade health gate makes no HTTP check", "err", err)
		}
	}
	if err := s.engine.Start(ctx); err != nil {
		return nil, fmt.Errorf("start operation engine: %w", err)
	}
	registerDriftMetrics(reg, appsSvc)
	rctx, cancelReconciler := context.WithCancel(context.WithoutCancel(ctx))
	reconciled := make(chan struct{})
	go func() { defer close(reconciled); appsSvc.RunReconciler(rctx) }()
	s.stopReconciler = func() { cancelReconciler(); <-reconciled }

	pingDB := func(ctx context.Context) error { return s.db.R.PingContext(ctx) }
	checker := health.New(pingDB, 2*time.Second,
		// The probes ask the current clients (connection settings may
		// replace them at run time).
		health.Upstream{Name: config.Gitea, URL: cfg.Gitea.URL, Sandbox: cfg.Sandboxed(config.Gitea), Probe: func(ctx context.Context) (string, error) {
			return appsSvc.UpstreamVersion(ctx, apps.UpstreamGitea)
		}},
		health.Upstream{Name: config.Portainer, URL: cfg.Portainer.URL, Sandbox: cfg.Sandboxed(config.Portainer), Probe: func(ctx context.Context) (string, error) {
			return appsSvc.UpstreamVersion(ctx, apps.UpstreamPortainer)
		}},
		health.Upstream{Name: config.NPM, URL: cfg.NPM.URL, Sandbox: cfg.Sandboxed(config.NPM), Probe: func(ctx context.Context) (string, error) {
			return appsSvc.UpstreamVersion(ctx, apps.UpstreamNPM)
		}},
	)

	res := &resolvers.Resolver{Domain: appsSvc, Ops: s.engine, Library: lib, Checker: checker, Auth: s.auth, Audit: s.audit, Version: version}
	schema := graph.NewExecutableSchema(graph.Config{Resolvers: res})
	s.handler = httpapi.New(httpapi.Options{
		Schema:           schema,
		Auth:             s.auth,
		RootFieldAuth:    resolvers.AuthorizeRootField,
		AuditMutations:   s.audit.Mutations(apps.SettingSecrecy),
		RefusedMutations: s.audit.Unauthenticated,
		AroundOperations: resolvers.WithLoaders(res),
		Console:          console.Handler(),
		GraphiQL:         graphiql.Handler(graphiql.Options{Endpoint: "/graphql", BasePath: "/graphiql", Title: "appmanage"}),
		Sandbox:          cfg.Sandbox,
		AllowedOrigins:   cfg.AllowedOrigins,
		BodyLimit:        cfg.MaxBody,
		Registry:         reg,
		Log:              log,
		GiteaWebhook:     giteaPush(appsSvc, s.audit),
		Ready: []httpapi.ReadyCheck{
			{Name: "database", Check: pingDB},
			{Name: "upstreams", Check: func(ctx context.Context) error {
				rep := checker.Report(ctx)
				var errs []error
				for _, u := range rep.Upstreams {
					if !u.Up {
						errs = append(errs, fmt.Errorf("%s: %s", u.Name, u.Error))
					}
				}
				return errors.Join(errs...)
			}},
		},
	})
	return s, nil
}

// loadLibrary loads the configured library. The loader logs each problem
// (and compose-go's warnings) once; this only sums up. A library folder in
// which no app loads is a configuration mistake (often the repository root
// or a parent folder instead of the folder of app folders).
func loadLibrary(cfg *config.Config, log *slog.Logger) (*library.Library, error) {
	opts := []library.Option{library.WithMaxAppBytes(cfg.LibraryMaxAppSize), library.WithCatalogFile(cfg.CatalogFile)}
	var lib *library.Library
	var err error
	if cfg.LibraryDir != "" {
		lib, err = library.LoadDir(cfg.LibraryDir, log, opts...)
	} else {
		lib, err = library.Load(library.DefaultFS(), log, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("load library: %w", err)
	}
	src := cfg.LibraryDir
	if src == "" {
		src = "embedded"
	}
	skipped := 0
	for _, p := range lib.Problems() {
		if !p.Loaded {
			skipped++
		}
	}
	if cfg.LibraryDir != "" && len(lib.List()) == 0 {
		return nil, fmt.Errorf("load library: no app loads from --library-dir %s (%d folders skipped): give the folder that holds the app folders", cfg.LibraryDir, skipped)
	}
	log.Info("library loaded", "source", src, "apps", len(lib.List()), "skipped", skipped, "problems", len(lib.Problems()))
	return lib, nil
}

// upstreamMetrics counts upstream calls per route and status.
func upstreamMetrics(reg *prometheus.Registry) upstream.Observer {
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "appmanage_upstream_calls_total", Help: "Upstream HTTP calls by upstream, method, route and status (0 = no response).",
	}, []string{"upstream", "method", "route", "status"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "appmanage_upstream_call_duration_seconds", Help: "Upstream HTTP call latency.", Buckets: prometheus.DefBuckets,
	}, []string{"upstream", "method", "route"})
	reg.MustRegister(calls, latency)
	return func(c upstream.CallInfo) {
		calls.WithLabelValues(c.Upstream, c.Method, c.Route, fmt.Sprint(c.Status)).Inc()
		latency.WithLabelValues(c.Upstream, c.Method, c.Route).Observe(c.Duration.Seconds())
	}
}

// registerListReuse exports how many polled list answers (and elements of
// changed ones) the clients reused without decoding them again.
func registerListReuse(reg *prometheus.Registry, hits map[string]func() upstream.MemoHits) {
	for name, h := range hits {
		reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "appmanage_upstream_list_answers_reused_total", ConstLabels: prometheus.Labels{"upstream": name},
				Help: "Upstream list answers byte-equal to the previous one, reused without decoding.",
			}, func() float64 { return float64(h().Answers) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "appmanage_upstream_list_elements_reused_total", ConstLabels: prometheus.Labels{"upstream": name},
				Help: "Elements of changed upstream list answers byte-equal to an element of the previous one, reused without decoding.",
			}, func() float64 { return float64(h().Elements) }),
		)
	}
}

// registerDriftMetrics exports the reconciler's last pass:
// appmanage_drift_issues{kind} and appmanage_drift_apps.
func registerDriftMetrics(reg *prometheus.Registry, svc *apps.Service) {
	for _, k := range apps.DriftKinds {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "appmanage_drift_issues", ConstLabels: prometheus.Labels{"kind": string(k)},
			Help: "Drift issues of this kind the reconciler found in its last pass over every app.",
		}, func() float64 { return float64(svc.DriftReport().Issues[k]) }))
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "appmanage_drift_apps", Help: "Apps with at least one drift issue in the reconciler's last pass.",
	}, func() float64 { return float64(svc.DriftReport().Drifting) }))
}

// serve runs the HTTP server until ctx ends, then shuts everything down.
func (s *server) serve(ctx context.Context, ready func(net.Addr)) error {
	go s.audit.Run(ctx, time.Hour) // retention
	err := httpapi.ListenAndServe(ctx, s.cfg.Listen, s.handler, s.cfg.ShutdownGrace, s.log, func(a net.Addr) {
		s.log.Info("appmanage listening", "addr", a.String(), "graphql", "http://"+a.String()+"/graphql",
			"graphiql", "http://"+a.String()+"/graphiql", "sandbox", len(s.cfg.Sandbox) > 0)
		if ready != nil {
			ready(a)
		}
	})
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	defer cancel()
	s.close(sctx)
	return err
}

func (s *server) close(ctx context.Context) {
	if s.stopReconciler != nil {
		s.stopReconciler()
		s.stopReconciler = nil
	}
	if s.engine != nil {
		if err := s.engine.Shutdown(ctx); err != nil {
			s.log.Warn("operation engine shutdown", "error", err)
		}
	}
	if s.sandbox != nil {
		s.sandbox.Close()
	}
	if s.db != nil {
		if err := s.db.Close(); err != nil {
			s.log.Warn("close database", "error", err)
		}
	}
}

// giteaPush adapts the domain's push handler to the /hooks/gitea route;
// each delivery that starts an operation, or is refused, is audited with
// the webhook as its source.
func giteaPush(svc *apps.Service, log *audit.Log) httpapi.GiteaWebhook {
	return func(ctx context.Context, event, signature string, body []byte) (string, string, error) {
		res, err := svc.GiteaPush(ctx, event, signature, body)
		if err != nil {
			log.Webhook(ctx, audit.SourceGiteaWebhook, "redeployApp", "", "", err)
			return "", "", err
		}
		if res.Operation != nil {
			log.Webhook(ctx, audit.SourceGiteaWebhook, "redeployApp", res.Operation.AppID, res.Operation.ID, nil)
			return res.Operation.ID, res.Message, nil
		}
		return "", res.Message, nil
	}
}

// sandboxHookKey carries, in the context given to run, a function that
// receives the sandbox's fakes once they are started: tests reach the fake
// Portainer through it (to mark an endpoint down, say).
type sandboxHookKey struct{}
