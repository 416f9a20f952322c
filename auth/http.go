package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/appmanage/appmanage/apperr"
)

// KeyFromRequest returns the key a request carries: the X-API-Key header,
// else an Authorization: Bearer token; "" when there is none.
func KeyFromRequest(r *http.Request) string {
	if k := strings.TrimSpace(r.Header.Get("X-API-Key")); k != "" {
		return k
	}
	return bearerToken(r.Header.Get("Authorization"))
}

func bearerToken(v string) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

func isWebsocketUpgrade(r *http.Request) bool {
	return httpguts.HeaderValuesContainsToken(r.Header["Connection"], "upgrade") &&
		strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// Middleware authenticates requests to the GraphQL endpoint and puts the
// Principal in the request context.
//
// Two kinds of request pass without a key: websocket upgrades (browsers
// cannot set headers on them; the key arrives in connection_init, see
// WebsocketInit) and CORS preflights (OPTIONS, which never carry
// credentials and execute nothing). Resolvers therefore still call Require.
// A key that is sent is always checked, upgrades included.
func (s *Service) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := KeyFromRequest(r)
		if key == "" && (isWebsocketUpgrade(r) || r.Method == http.MethodOptions) {
			next.ServeHTTP(w, r)
			return
		}
		p, err := s.Authenticate(r.Context(), key)
		if err != nil {
			s.reject(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

// reject answers like a GraphQL server would, so clients see the same
// extensions.code over HTTP as in a GraphQL response.
func (s *Service) reject(w http.ResponseWriter, r *http.Request, err error) {
	code := apperr.CodeOf(err)
	status, msg := http.StatusUnauthorized, err.Error()
	if code != apperr.Unauthenticated {
		// Authenticate only fails otherwise when the database does; the
		// cause is logged, not shown.
		// cause, because an INTERNAL apperr.Error keeps its cause out of
		// Error().
		s.log.ErrorContext(r.Context(), "authenticate request", "err", err, "cause", errors.Unwrap(err))
		status, msg, code = http.StatusInternalServerError, "internal error", apperr.Internal
	} else {
		w.Header().Set("WWW-Authenticate", "Bearer")
		s.log.DebugContext(r.Context(), "rejected request", "method", r.Method, "path", r.URL.Path, "reason", msg)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string][]gqlError{
		"errors": {{Message: msg, Extensions: map[string]any{"code": code}}},
	})
}

// WebsocketInit authenticates a websocket connection from its
// connection_init payload: {"apiKey": KEY}, or for GraphiQL-style clients
// "X-API-Key": KEY or "Authorization": "Bearer KEY", at the top level or
// under "headers". With no key in the payload, a principal already set from
// the upgrade request's headers is kept. It returns ctx with the principal.
func (s *Service) WebsocketInit(ctx context.Context, payload map[string]any) (context.Context, error) {
	key := keyFromPayload(payload)
	if key == "" {
		if _, ok := FromContext(ctx); ok {
			return ctx, nil
		}
		return ctx, apperr.New(apperr.Unauthenticated, `missing API key: send {"apiKey": "KEY"} in connection_init`)
	}
	p, err := s.Authenticate(ctx, key)
	if err != nil {
		return ctx, err
	}
	return WithPrincipal(ctx, p), nil
}

func keyFromPayload(payload map[string]any) string {
	if k := payloadString(payload, "apiKey"); k != "" {
		return k
	}
	if k := payloadString(payload, "X-API-Key"); k != "" {
		return k
	}
	if k := bearerToken(payloadString(payload, "Authorization")); k != "" {
		return k
	}
	for name, v := range payload {
		if h, ok := v.(map[string]any); ok && strings.EqualFold(name, "headers") {
			if k := keyFromPayload(h); k != "" {
				return k
			}
		}
	}
	return ""
}

// payloadString finds a string value by case-insensitive name: clients
// differ in how they spell header-like keys.
func payloadString(payload map[string]any, name string) string {
	if v, ok := payload[name].(string); ok {
		return strings.TrimSpace(v)
	}
	for k, v := range payload {
		if s, ok := v.(string); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(s)
		}
	}
	return ""
}
