// Package httpapi builds the HTTP surface: /graphql (POST, GET, websocket
// graphql-transport-ws, SSE), /graphiql, /healthz, /readyz and /metrics.
package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/vektah/gqlparser/v2/ast"
)

// Authenticator is what the HTTP layer needs from auth.
type Authenticator interface {
	// Middleware rejects requests without a valid key (401) and puts the
	// caller into the request context; websocket upgrades pass through.
	Middleware(next http.Handler) http.Handler
	// WebsocketInit authenticates the connection_init payload.
	WebsocketInit(ctx context.Context, payload map[string]any) (context.Context, error)
}

// ReadyCheck reports whether a dependency is usable.
type ReadyCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// Options wires the server.
type Options struct {
	Schema   graphql.ExecutableSchema
	Auth     Authenticator
	GraphiQL http.Handler
	// Console serves the web console at / and every GET path no other
	// route takes (its client-side routes); nil: / redirects to /graphiql.
	Console http.Handler
	// AroundOperations runs around every GraphQL operation, whatever its
	// transport (e.g. to attach per-operation dataloaders).
	AroundOperations graphql.OperationMiddleware
	// RootFieldAuth checks the caller's rights on every root field
	// (queries, mutations, subscriptions) before it resolves.
	RootFieldAuth graphql.RootFieldMiddleware
	// AuditMutations runs around every root field before RootFieldAuth,
	// so it sees refused calls too (the audit log).
	AuditMutations graphql.RootFieldMiddleware
	// RefusedMutations is told the mutation fields of requests the key
	// check refused (401).
	RefusedMutations RefusedMutations
	Ready            []ReadyCheck
	Sandbox          []string
	AllowedOrigins   []string
	Registry         *prometheus.Registry
	Log              *slog.Logger
	// GiteaWebhook serves POST /hooks/gitea (nil: no such route).
	GiteaWebhook GiteaWebhook

	ComplexityLimit int // default 2000
	DepthLimit      int // default 12
	TokenLimit      int // tokens in a document; default 10000
	// BodyLimit caps a request body, a GET query string and a websocket
	// message (--max-body); default 1 MiB.
	BodyLimit int64
	// A client address may fail websocket connection_init InitFailureBurst
	// times, then once per InitFailureEvery; defaults 5 and 12s.
	InitFailureBurst int
	InitFailureEvery time.Duration
	// BodyReadTimeout is how long a client may take to send a request
	// body; default 30s.
	BodyReadTimeout time.Duration
}

// New returns the router.
func New(o Options) http.Handler {
	if o.ComplexityLimit == 0 {
		o.ComplexityLimit = 2000
	}
	if o.TokenLimit == 0 {
		o.TokenLimit = 10000
	}
	if o.DepthLimit == 0 {
		o.DepthLimit = 12
	}
	if o.BodyLimit == 0 {
		o.BodyLimit = 1 << 20
	}
	if o.InitFailureBurst == 0 {
		o.InitFailureBurst = 5
	}
	if o.InitFailureEvery == 0 {
		o.InitFailureEvery = 12 * time.Second
	}
	if o.BodyReadTimeout == 0 {
		o.BodyReadTimeout = 30 * time.Second
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	m := newHTTPMetrics(o.Registry)

	r := chi.NewRouter()
	r.Use(middleware.RequestID, recoverer(o.Log), m.middleware, requestLog(o.Log), bodyDeadline(o.BodyReadTimeout))

	gql := newGraphQL(o)
	var gh http.Handler = http.MaxBytesHandler(gql, o.BodyLimit)
	gh = o.Auth.Middleware(gh)
	if o.RefusedMutations != nil {
		gh = auditRefusals(o.RefusedMutations, o.BodyLimit, gh)
	}
	r.Handle("/graphql", withClientAddr(gh))

	if o.GraphiQL != nil {
		r.Handle("/graphiql", o.GraphiQL)
		r.Handle("/graphiql/*", o.GraphiQL)
	}
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	r.Get("/readyz", readyHandler(o.Ready, o.Sandbox))
	if o.GiteaWebhook != nil {
		r.Method(http.MethodPost, "/hooks/gitea", withClientAddr(giteaWebhookHandler(o.GiteaWebhook, o.Log)))
	}
	r.Handle("/metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{Registry: o.Registry}))
	if o.Console != nil {
		c := middleware.Compress(5, "text/html", "text/css", "application/javascript", "text/javascript", "image/svg+xml")(o.Console)
		r.Get("/", c.ServeHTTP)
		r.Get("/*", c.ServeHTTP)
		r.Head("/*", c.ServeHTTP)
	} else {
		r.Get("/", func(w http.ResponseWriter, req *http.Request) {
			http.Redirect(w, req, "/graphiql", http.StatusFound)
		})
	}
	return r
}

func newGraphQL(o Options) *handler.Server {
	srv := handler.New(o.Schema)
	t := &transports{limit: o.BodyLimit, log: o.Log}
	guard := newInitGuard(o.Auth, o.Log, o.InitFailureEvery, o.InitFailureBurst, 10000)
	// SSE first, then websocket, then the plain HTTP transports: gqlgen picks
	// the first transport that supports a request; the last one answers
	// every request no other took (wrong method or content type).
	srv.AddTransport(sseTransport{t})
	srv.AddTransport(transport.Websocket{
		Implementation: wsImplementation{log: o.Log, inner: transport.CoderWebsocketImplementation{AcceptOptions: websocket.AcceptOptions{
			// Same-origin is always allowed; extra patterns come from config.
			OriginPatterns: o.AllowedOrigins,
		}}},
		KeepAlivePingInterval: 10 * time.Second,
		InitTimeout:           10 * time.Second,
		InitFunc:              guard.init,
		PayloadReadLimit:      &o.BodyLimit,
	})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(getTransport{t})
	srv.AddTransport(postTransport{t})
	srv.AddTransport(unsupportedTransport{t})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	// Validation is quadratic in repeated fields (a 700 KB document of
	// 40000 "health { status }" took 7 minutes of CPU, 2500 of them take
	// under a second): cap the document's tokens. GraphiQL's introspection
	// query has about 200.
	srv.SetParserTokenLimit(o.TokenLimit)
	// Every /graphql caller is authenticated before it gets here, so
	// introspection is only ever served to key holders.
	srv.Use(extension.Introspection{})
	srv.Use(newPersistedQueries(o.Registry, 1000, 16<<10))
	srv.Use(extension.FixedComplexityLimit(o.ComplexityLimit))
	srv.Use(depthLimit{Max: o.DepthLimit})
	if o.AuditMutations != nil {
		srv.AroundRootFields(o.AuditMutations) // outside the scope check
	}
	if o.RootFieldAuth != nil {
		srv.AroundRootFields(o.RootFieldAuth)
	}
	if o.AroundOperations != nil {
		srv.AroundOperations(o.AroundOperations)
	}
	srv.SetErrorPresenter(presentError(o.Log))
	srv.SetRecoverFunc(recoverPanic(o.Log))
	return srv
}

type readyReport struct {
	Ready   bool              `json:"ready"`
	Sandbox []string          `json:"sandbox"`
	Checks  map[string]string `json:"checks"`
}

func readyHandler(checks []ReadyCheck, sandbox []string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		rep := readyReport{Ready: true, Sandbox: sandbox, Checks: map[string]string{}}
		if rep.Sandbox == nil {
			rep.Sandbox = []string{}
		}
		for _, c := range checks {
			if err := c.Check(ctx); err != nil {
				rep.Ready = false
				rep.Checks[c.Name] = err.Error()
			} else {
				rep.Checks[c.Name] = "ok"
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if !rep.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(rep)
	}
}

func recoverer(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if p := recover(); p != nil {
					if p == http.ErrAbortHandler {
						panic(p)
					}
					log.ErrorContext(r.Context(), "panic serving request", "path", r.URL.Path, "panic", p)
					http.Error(w, "internal error", http.StatusInternalServerError)
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

func requestLog(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			next.ServeHTTP(ww, r)
			// Never the query string or headers: keys and secrets live there.
			log.DebugContext(r.Context(), "http request", "method", r.Method, "path", r.URL.Path,
				"status", ww.Status(), "bytes", ww.BytesWritten(), "latency", time.Since(start),
				"request_id", middleware.GetReqID(r.Context()))
		})
	}
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newHTTPMetrics(reg *prometheus.Registry) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "appmanage_http_requests_total", Help: "HTTP requests by route and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "appmanage_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

func (m *httpMetrics) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		route := "other"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		m.requests.WithLabelValues(route, r.Method, strconv.Itoa(ww.Status())).Inc()
		m.latency.WithLabelValues(route, r.Method).Observe(time.Since(start).Seconds())
	})
}

// ListenAndServe serves h on addr until ctx ends, then shuts down
// gracefully within grace. ready, when non-nil, receives the bound address.
func ListenAndServe(ctx context.Context, addr string, h http.Handler, grace time.Duration, log *slog.Logger, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		// No WriteTimeout: subscriptions (websocket, SSE) stay open by design.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down HTTP server", "grace", grace)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err = srv.Shutdown(sctx)
	if err != nil {
		_ = srv.Close()
	}
	if serr := <-errc; serr != nil && serr != http.ErrServerClosed {
		return serr
	}
	return err
}
