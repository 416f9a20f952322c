// Package upstream holds what the three datasource clients share: the typed
// APIError and its sentinels, and a resty-based caller that applies per-call
// timeouts, retries only idempotent calls, decodes upstream error bodies and
// logs without secrets.
package upstream

import (
	"errors"
	"fmt"
)

// Sentinels matched by *APIError through errors.Is, so callers branch on
// meaning rather than on status codes.
var (
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("conflict")
	ErrUnauthorized = errors.New("unauthorized")
	ErrUnavailable  = errors.New("upstream unavailable")
)

// APIError is a failed upstream call. Status is 0 when no HTTP response was
// received (connection refused or dropped, timeout); Err then holds the cause.
type APIError struct {
	Upstream string // gitea | portainer | npm
	Method   string
	Path     string
	Status   int
	Message  string // the upstream's own message, never a request body
	Err      error
}

func (e *APIError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("%s: %s %s: %v", e.Upstream, e.Method, e.Path, e.Err)
	}
	if e.Message == "" {
		return fmt.Sprintf("%s: %s %s: HTTP %d", e.Upstream, e.Method, e.Path, e.Status)
	}
	return fmt.Sprintf("%s: %s %s: HTTP %d: %s", e.Upstream, e.Method, e.Path, e.Status, e.Message)
}

func (e *APIError) Unwrap() error { return e.Err }

// Is maps status codes onto the sentinels.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == 404
	case ErrConflict:
		return e.Status == 409
	case ErrUnauthorized:
		return e.Status == 401 || e.Status == 403
	case ErrUnavailable:
		return Transient(e.Status)
	}
	return false
}

// Transient reports whether a status means "try again later": no response at
// all, 429, or a gateway error.
func Transient(status int) bool {
	switch status {
	case 0, 429, 502, 503, 504:
		return true
	}
	return false
}

// StatusOf returns the HTTP status of an *APIError in err's chain, or -1.
func StatusOf(err error) int {
	var e *APIError
	if errors.As(err, &e) {
		return e.Status
	}
	return -1
}
