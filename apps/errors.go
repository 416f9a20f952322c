package apps

import (
	"context"
	"errors"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/upstream"
	"github.com/appmanage/appmanage/ops"
)

// upstreamErr turns a datasource error into a domain error that names the
// upstream: UPSTREAM_UNAVAILABLE when it could not be reached, else
// UPSTREAM_REJECTED.
func upstreamErr(name string, err error, what string) error {
	if err == nil {
		return nil
	}
	if _, ok := apperr.As(err); ok {
		return err
	}
	code := apperr.UpstreamRejected
	var ae *upstream.APIError
	if !errors.As(err, &ae) || upstream.Transient(ae.Status) || errors.Is(err, context.DeadlineExceeded) {
		code = apperr.UpstreamUnavailable
	}
	e := apperr.Wrap(code, err, "%s", what)
	e.Upstream = name
	return e
}

// transient reports whether retrying the same call later may succeed.
func transient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, upstream.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	return false
}

// retryIfTransient marks transient errors for the engine's retry.
func retryIfTransient(err error) error {
	if transient(err) {
		return ops.Retryable(err)
	}
	return err
}

func notFound(err error) bool { return errors.Is(err, upstream.ErrNotFound) }
