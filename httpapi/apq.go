package httpapi

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/appmanage/appmanage/apperr"
)

// persistedQueries is gqlgen's automatic persisted queries (Apollo's APQ:
// a request may carry only the sha256 of a query the server saw before)
// over a bounded cache, counted in /metrics. A miss answers
// PERSISTED_QUERY_NOT_FOUND with the message PersistedQueryNotFound, on
// which Apollo's PersistedQueryLink sends the full query; the other APQ
// errors (bad hash, version) get BAD_REQUEST instead of no code.
type persistedQueries struct {
	apq      extension.AutomaticPersistedQuery
	requests *prometheus.CounterVec
}

var _ interface {
	graphql.OperationParameterMutator
	graphql.HandlerExtension
} = persistedQueries{}

// boundedQueries stores at most entries queries of at most maxQuery bytes
// each; a longer query is served but not remembered, so its hash-only
// request misses and the client sends it again in full.
type boundedQueries struct {
	*lru.LRU[string]
	maxQuery int
}

func (b boundedQueries) Add(ctx context.Context, hash, query string) {
	if len(query) <= b.maxQuery {
		b.LRU.Add(ctx, hash, query)
	}
}

func newPersistedQueries(reg prometheus.Registerer, entries, maxQuery int) persistedQueries {
	p := persistedQueries{
		apq: extension.AutomaticPersistedQuery{Cache: boundedQueries{LRU: lru.New[string](entries), maxQuery: maxQuery}},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "appmanage_graphql_persisted_queries_total",
			Help: "Requests with an automatic persisted query hash: hit (served by hash), miss (PERSISTED_QUERY_NOT_FOUND), registered (the full query sent with its hash), error.",
		}, []string{"result"}),
	}
	reg.MustRegister(p.requests)
	return p
}

func (persistedQueries) ExtensionName() string { return "AutomaticPersistedQuery" }

func (p persistedQueries) Validate(s graphql.ExecutableSchema) error { return p.apq.Validate(s) }

func (p persistedQueries) MutateOperationParameters(ctx context.Context, raw *graphql.RawParams) *gqlerror.Error {
	if raw.Extensions["persistedQuery"] == nil {
		return nil
	}
	sentQuery := raw.Query != ""
	err := p.apq.MutateOperationParameters(ctx, raw)
	switch {
	case err == nil && sentQuery:
		p.requests.WithLabelValues("registered").Inc()
	case err == nil:
		p.requests.WithLabelValues("hit").Inc()
	case err.Extensions["code"] == string(apperr.PersistedQueryNotFound):
		p.requests.WithLabelValues("miss").Inc()
	default:
		p.requests.WithLabelValues("error").Inc()
		if err.Extensions == nil {
			err.Extensions = map[string]any{}
		}
		if err.Extensions["code"] == nil {
			err.Extensions["code"] = string(apperr.BadRequest)
		}
	}
	return err
}
